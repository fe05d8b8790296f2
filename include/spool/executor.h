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
