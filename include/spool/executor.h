/* SPDX-License-Identifier: MIT */
/**
 * @file
 * @brief Executors: the one call that starts work anywhere.
 *
 * A pool (spool/pool.h), a loop (spool/loop.h) and the inline executor below
 * each hand out a spool_executor *; spool_submit() on it starts a task and
 * returns its future, so the same workload function runs on any of them.
 * The executor handle is owned by its pool or loop and lives as long as it.
 */
#ifndef SPOOL_EXECUTOR_H
#define SPOOL_EXECUTOR_H

#include "spool/common.h"
#include "spool/future.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Starts fn(arg) on ex and returns its future (a new reference).
 * Bad input never returns NULL: a NULL ex or fn gives a future already
 * FAILED with SPOOL_EINVAL, and a shut-down executor one FAILED with
 * SPOOL_ESHUTDOWN, so the caller's error handling is the same as for a
 * failing task. NULL is returned only when memory runs out.
 * Thread safety and blocking: as the executor's header says (a pool accepts
 * submissions from any thread; a loop from any thread too, as
 * asyncio.run_coroutine_threadsafe). */
SPOOL_API spool_future *spool_submit(spool_executor *ex, spool_task_fn fn,
				     void *arg);

/** As spool_submit(), with a label that traces show for this task. The label
 * must be a string that outlives the task (a literal, typically). */
SPOOL_API spool_future *spool_submit_labeled(spool_executor *ex,
					     spool_task_fn fn, void *arg,
					     const char *label);

/** The largest argument, in bytes, that spool_submit_copy() copies into the
 * task's own record on a pool, with no allocation beyond spool_submit()'s
 * (a loop copies any size into its record, which it allocates per task
 * anyway; the inline executor copies up to this size onto its stack).
 * Larger arguments, and every argument on other executors, cost one more
 * allocation, freed when the task's future is final. */
#define SPOOL_SUBMIT_COPY_INLINE 128

/** As spool_submit(), but fn receives a pointer to a copy of the size bytes
 * at arg, made before this call returns, so the caller's buffer (a local of
 * a function that returns at once) may change or go away. The copy is
 * aligned to max_align_t, private to the task, valid while fn runs, and
 * freed with the task (fn must not keep a pointer to it). size 0: fn
 * receives NULL and arg is not read. See SPOOL_SUBMIT_COPY_INLINE for when
 * copying allocates. Bad input: NULL ex or fn, or NULL arg with size > 0,
 * gives a future FAILED with SPOOL_EINVAL; a shut-down executor one FAILED
 * with SPOOL_ESHUTDOWN; NULL means out of memory (nothing runs). arg is
 * only read. Thread safety and blocking: as spool_submit(). */
SPOOL_API spool_future *spool_submit_copy(spool_executor *ex, spool_task_fn fn,
					  const void *arg, size_t size);

/** As spool_submit(), and the task owns arg: dtor(arg) is called exactly
 * once, whatever becomes of the task:
 *   - it ran: on the task's thread right after fn returns, before its
 *     future is final (whoever sees the future final sees dtor done);
 *   - it was cancelled before it started (spool_future_cancel(), a pool's
 *     SPOOL_SHUTDOWN_CANCEL_PENDING, a loop's destroy): on the thread that
 *     cancelled it, before spool_future_cancel() (or the shutdown or
 *     destroy) returns, after the future is final;
 *   - it was refused (NULL ex or fn: SPOOL_EINVAL; an executor shut down:
 *     SPOOL_ESHUTDOWN) or memory ran out (NULL is returned): before this
 *     call returns.
 * dtor NULL: as spool_submit(). dtor must not block on the task's future.
 * On a pool and a loop this costs no allocation beyond spool_submit()'s
 * (the bookkeeping lives in the task's record); elsewhere one more.
 * Thread safety and blocking: as spool_submit(). */
SPOOL_API spool_future *spool_submit_owned(spool_executor *ex, spool_task_fn fn,
					   void *arg, void (*dtor)(void *arg));

/** The executor running the calling thread's work (asyncio's
 * get_running_loop, for every kind of executor): on a pool's worker
 * thread, that pool (its tasks, and the joins, scope spawns and spool_for
 * bodies it runs); on the thread running a loop (spool_loop_run() and its
 * kin), that loop (in its coroutines and its callbacks); inside a task the
 * inline executor runs, the inline executor. The innermost wins: an
 * inline task submitted from a pool task sees the inline executor until it
 * returns. NULL on any other thread (main, a thread of your own, a loop's
 * thread when the loop is not running). Borrowed: it lives as long as its
 * pool or loop. Any thread; never blocks. */
SPOOL_API spool_executor *spool_current_executor(void);

/** An executor that runs each task at once in the submitting thread, before
 * spool_submit() returns. A process-wide static; never destroy it.
 * Useful for then() continuations that are cheap, and for tests. */
SPOOL_API spool_executor *spool_executor_inline(void);

/** Completes f with the outcome of fn(arg): runs fn on this thread now with
 * f as the current future. Executors and adapters use it; f must have been
 * made with spool_promise_new() (any other future, or NULL f or fn, is
 * SPOOL_EINVAL) and be PENDING (else SPOOL_ECANCELLED if it was
 * cancelled, SPOOL_ESTATE otherwise); fn does not run then.
 * Returns the task's result code. May block if fn does. */
SPOOL_API int spool_run_task(spool_future *f, spool_task_fn fn, void *arg);

#ifdef __cplusplus
}
#endif

#endif /* SPOOL_EXECUTOR_H */
