/* SPDX-License-Identifier: MIT */
/**
 * @file
 * @brief Futures and promises.
 *
 * A future is the eventual outcome of one piece of work. It moves through
 *
 *     PENDING -> RUNNING -> DONE | FAILED | CANCELLED
 *
 * (PENDING may also go straight to a final state) and completes exactly once.
 * A DONE future holds a value (void *, owned by whoever produced it); a
 * FAILED one holds an error: a positive code chosen by the task, or one of
 * spool's negative codes; a CANCELLED one holds SPOOL_ECANCELLED.
 *
 * Reference counting: every function that returns a future returns a new
 * reference, which the caller gives back with spool_future_release().
 * Releasing NULL does nothing. Releasing more often than retaining is a
 * caller bug and aborts with "spool: misuse of spool_future_release()", in
 * every build type, when the extra release finds the count at zero: each
 * thread keeps the memory of the last 16 futures it freed aside for that
 * (those of at most 4 KiB: a gather or map of a few hundred futures or
 * more is freed at once), and a pool task's record keeps its zero count
 * until the pool reuses it. An extra release while spool still holds a
 * reference of its own (a pending task's, a combinator's) cannot be told from a
 * legitimate one; and one that comes after the memory was reused is a use
 * after free, for the sanitizer builds to find. Retaining a freed future,
 * or one that already has 2^32 - 1 references, aborts likewise.
 *
 * Thread safety: every function in this header may be called from any thread
 * on the same future at the same time, unless its comment says otherwise.
 *
 * Waiting is context-aware and is the same call everywhere:
 *   - in a loop coroutine it suspends the coroutine (the loop keeps running);
 *   - in a pool worker it runs other pool tasks until the future is done
 *     (help-while-waiting), so nested fork-join never deadlocks the pool;
 *     never hold a lock across such a wait: the tasks it runs may want it;
 *   - in any other thread it blocks (futex), after a short bounded spin;
 *   - on the loop thread outside a coroutine it returns SPOOL_EDEADLK.
 *
 * A wait without a deadline (SPOOL_FOREVER) that can never finish returns
 * SPOOL_EDEADLK instead of blocking for ever. That is the case when f
 * needs, to complete, something only the waiting thread could do:
 *   - f is a task of a loop stranded on this thread: the thread left the
 *     loop (spool_loop_run() returned) while coroutines it started were
 *     suspended, so that no other thread may run the loop, and none of its
 *     tasks, suspended or not yet started, moves until this thread runs it
 *     again (spool/loop.h). A loop with no coroutine suspended is not
 *     stranded: another thread may run it, and the wait blocks;
 *   - in a pool worker, f is the task that is waiting
 *     (spool_current_future()) or one beneath it on the same worker (a
 *     task that was waiting when this worker started the waiting one, as
 *     help): it completes only after the wait returns;
 *   - f is a combinator's future (spool/combinators.h) or a task group's
 *     join (spool/group.h) that needs such a future: one that waits for
 *     all of its inputs (a gather with SPOOL_RETURN_ERRORS,
 *     SPOOL_ALL_COMPLETED, a map, a join) when any input not final can
 *     never complete; one that ends at the first input (FIRST_COMPLETED,
 *     as_completed) or the first failure (a gather or map failing fast,
 *     FIRST_EXCEPTION) when every input not final can never complete and
 *     no final input decides it.
 * The answer is exact: a wait that anything could still end (another
 * thread completing a promise, a pool task running elsewhere, a loop that
 * another thread may run, an input of FIRST_COMPLETED that can complete)
 * is never refused. The one way out it does not count is a cancel from
 * another thread of a stranded loop's task that has not started (which
 * would end it CANCELLED): waiting for that is not supported. spool_then()
 * futures are not looked through (a wait on one blocks), nor combinators
 * nested more than 64 deep (a gather of a gather of ...: the deeper ones
 * count as able to complete), nor cycles across threads (two threads
 * waiting on each other's work block).
 * The check is made when the wait is about to block (a plain thread after
 * its spin, a pool worker when it has nothing left to help with), and
 * again now and then while it blocks, at most 100 ms apart, so a wait
 * that becomes hopeless while it waits (the other children of a gather
 * that fails fast all succeed, leaving only one that never can complete)
 * returns SPOOL_EDEADLK then. A wait with a deadline is not refused: it
 * ends, with SPOOL_ETIMEDOUT.
 */
#ifndef SPOOL_FUTURE_H
#define SPOOL_FUTURE_H

#include "spool/common.h"
#include "spool/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The states of a future (see the top of this header). */
typedef enum spool_state {
	SPOOL_PENDING = 0,  /**< not started; cancel stops it for good */
	SPOOL_RUNNING = 1,  /**< started; cancel only raises a request flag */
	SPOOL_DONE = 2,     /**< final: has a value */
	SPOOL_FAILED = 3,   /**< final: has an error code */
	SPOOL_CANCELLED = 4 /**< final: error is SPOOL_ECANCELLED */
} spool_state;

/** Called once when a future completes, with the future (borrowed: retain it
 * to keep it) and the argument given at registration. */
typedef void (*spool_callback_fn)(spool_future *f, void *arg);

/* ---- reading ---------------------------------------------------------- */

/** The current state. A snapshot: unless it is final it may change at once.
 * f must not be NULL (SPOOL_PENDING is not a safe default for a bug, so a
 * NULL f aborts with a message). Never blocks. */
SPOOL_API spool_state spool_future_state(const spool_future *f);

/** True when f is DONE, FAILED or CANCELLED; false for NULL. Never blocks.
 * When it returns true, the value and error are visible to the caller. */
SPOOL_API bool spool_future_done(const spool_future *f);

/** The outcome of a final future without waiting: 0 for DONE, the error for
 * FAILED, SPOOL_ECANCELLED for CANCELLED, SPOOL_EAGAIN while not final,
 * SPOOL_EINVAL for NULL. Never blocks. */
SPOOL_API int spool_future_error(const spool_future *f);

/** The value of a DONE future; NULL in any other state or for NULL.
 * The value is borrowed: the future does not own it. Never blocks. */
SPOOL_API void *spool_future_value(const spool_future *f);

/** A process-unique id (starts at 1), for traces and messages; 0 for NULL. */
SPOOL_API uint64_t spool_future_id(const spool_future *f);

/* ---- references ------------------------------------------------------- */

/** Adds a reference and returns f (NULL stays NULL). Never blocks. */
SPOOL_API spool_future *spool_future_retain(spool_future *f);

/** Drops a reference; the last one frees the future. NULL is a no-op.
 * A pending future whose last reference is dropped still completes (the
 * executor holds its own reference while the work is queued or running). */
SPOOL_API void spool_future_release(spool_future *f);

/* ---- callbacks -------------------------------------------------------- */

/** Registers fn(f, arg) to run exactly once when f completes. Callbacks run
 * in the order they were added. If f is already final, fn runs at once in
 * the caller's thread before this returns. Otherwise it runs in the thread
 * that completes f, except that a callback registered from a loop's thread
 * runs on that loop, never elsewhere (what carries it home is reserved
 * here, so running out of memory at the completion cannot divert it). A
 * callback must not block for long; it may retain f, add callbacks,
 * complete other futures, submit work, or release a reference it owns,
 * even the last one: f stays valid until every callback has run.
 * Completions nest in constant stack depth: a callback that completes
 * another future runs that future's callbacks before its completing call
 * returns, except beyond 16 levels of such nesting on one thread, where
 * they are queued and run, in order, before the outermost completion
 * returns (or before that thread next waits), so that a chain of any
 * length (a then-chain, nested gathers) cannot overflow the stack.
 * Returns 0, SPOOL_EINVAL (NULL f or fn) or SPOOL_ENOMEM (nothing added). */
SPOOL_API int spool_future_add_callback(spool_future *f, spool_callback_fn fn,
					void *arg);

/* ---- cancellation ----------------------------------------------------- */

/** Asks f to stop.
 *   PENDING   -> CANCELLED at once; the work will never run. Returns 0.
 *   CANCELLED -> no change. Returns 0.
 *   RUNNING   -> raises the request flag the task can poll
 *                (spool_cancel_requested()); returns SPOOL_EBUSY, as
 *                concurrent.futures.Future.cancel returns False. A loop
 *                coroutine suspended at an await is the exception: its await
 *                returns SPOOL_ECANCELLED and this returns 0
 *                (asyncio.Task.cancel). Either way the cancel also reaches
 *                the future the task waits on, if the task owns it (see
 *                "Cancellation follows the await" below).
 *   DONE, FAILED -> no change; returns SPOOL_ESTATE. Also while another
 *                thread is completing f with a value or an error (f is
 *                then not final yet, for a few instructions).
 * A cancel that another thread's completion has made moot answers at once
 * from the outcome that completion publishes, without waiting for it.
 * Cancelling a combinator cancels what it waits on, in constant stack
 * depth however deeply combinators nest (see the callbacks above).
 * SPOOL_EINVAL for NULL. Never blocks. */
SPOOL_API int spool_future_cancel(spool_future *f);

/*
 * Cancellation follows the await. A task that is cancelled while it waits
 * on a future f (spool_future_wait(), spool_future_result() or a blocking
 * combinator) cancels f too when it owns f, and then waits until f has
 * settled:
 *   - a loop coroutine: its wait returns SPOOL_ECANCELLED, once f is
 *     final (a second cancel of the coroutine, or the loop closing, ends
 *     that wait early), as asyncio's task waits for the future its cancel
 *     reached;
 *   - a pool task: its wait (which helps the pool) notices the request
 *     once it has no task of its own to run: within a millisecond while
 *     it has none, and not while it keeps finding work (a wait in a busy
 *     pool passes the cancel on when that work runs out); it cancels an
 *     owned f and goes on waiting until f is final, as every pool wait
 *     does; it then returns 0 and f's outcome is, unless f ignored the
 *     request, SPOOL_ECANCELLED;
 *   - any other thread runs no task and is never cancelled.
 * Which f is cancelled: the task owns f when f was created by that task,
 * that is while it was the task running on the thread that created f
 * (spool_current_future() at the creation): a pool task it submitted, a
 * coroutine it spawned, a promise, gather, map, then or spool_shield()
 * it made. A future created by anyone else (another task, a plain thread,
 * the code that spawned the task) is shared: the cancel does not reach it,
 * whoever else waits on it. So a promise that several coroutines await, or
 * a future handed in by the caller, is never cancelled by one of its
 * waiters being cancelled; what a task started for itself is, even when
 * others wait on it too (they see it end CANCELLED: the task that started
 * the work decides for it, as a Trio scope decides for the work inside
 * it). A task group's task is the task of its spawned function (the
 * future spawn hands out), whichever executor runs it. What then
 * happens to f is f's own cancel: a gather cancels its children (whoever
 * made them), a task group's join cancels its group (every joiner owns
 * the join's wait), and spool_wait_for() in a coroutine cancels its
 * future whoever made it (as it says).
 * The waits of spool_wait() and spool_as_completed_next() cancel nothing
 * (as asyncio.wait and as_completed): their inputs are only watched.
 * To keep a future of one's own running through a cancel, wait on
 * spool_shield(f) (spool/combinators.h) instead: the shield is cancelled,
 * f is not. asyncio cancels whatever the task awaits, shared or not, and
 * needs shield for every shared future; Trio's cancel scopes are lexical,
 * cancelling only the work started inside them. spool takes the lexical
 * view with the creating task as the scope: a task answers for what it
 * started and for nothing else, and the rule needs no bookkeeping beyond
 * one word per future written at its creation.
 */

/** True if cancellation was requested on f (whatever its state now). */
SPOOL_API bool spool_future_cancel_requested(const spool_future *f);

/** True if the task running on this thread (pool worker or loop coroutine)
 * has been asked to cancel; false outside a task. Tasks poll it between
 * units of work and return SPOOL_ECANCELLED to acknowledge. In the halves
 * of spool_join() and the body of spool_for() (spool/pool.h) the task is
 * the caller's, wherever they run; in a scope's spawn it is the scope's,
 * which is asked to cancel at the scope's first failure and whenever the
 * task that began the scope is. Never blocks. */
SPOOL_API bool spool_cancel_requested(void);

/** The future of the task running on this thread, borrowed; NULL outside a
 * task. */
SPOOL_API spool_future *spool_current_future(void);

/* ---- waiting ---------------------------------------------------------- */

/** Waits until f is final or timeout_ns passes (see "Waiting" above for what
 * waiting means on this thread). Returns 0 when f is final, whatever its
 * outcome; SPOOL_ETIMEDOUT when the time passed first (f is untouched);
 * SPOOL_EDEADLK on the loop thread outside a coroutine while f is not
 * final, and, for SPOOL_FOREVER, anywhere when f can never complete while
 * this thread waits (see "Waiting" above; f is untouched);
 * SPOOL_ECANCELLED when the waiting coroutine itself was cancelled;
 * SPOOL_ENOMEM in a loop coroutine that had no memory to register the wait
 * (f is untouched; waiting again may succeed); SPOOL_EINVAL for NULL f or
 * a negative timeout. May block. */
SPOOL_API int spool_future_wait(spool_future *f, int64_t timeout_ns);

/** Waits as spool_future_wait(), then gives the outcome: 0 with *value set
 * for DONE; the task's error for FAILED; SPOOL_ECANCELLED for CANCELLED;
 * any error of the wait itself. value may be NULL; *value is set to NULL
 * unless the result is 0. May block. */
SPOOL_API int spool_future_result(spool_future *f, int64_t timeout_ns,
				  void **value);

/* ---- promises --------------------------------------------------------- */

/** A new PENDING future completed by hand: adapt any asynchronous API (a
 * socket, a libuv request, an MPI request) into a future. Returns a new
 * reference, or NULL when out of memory. */
SPOOL_API spool_future *spool_promise_new(void);

/* The three calls below are for promises (spool_promise_new). Every other
 * future (an executor's task, a gather's, a map's, a then's, a group
 * task's, a loop's run_in_executor bridge) is completed only by what made
 * it, as asyncio.Task refuses set_result: for it these calls return
 * SPOOL_EINVAL and change nothing. */

/** Marks a PENDING promise RUNNING, so that cancel only requests. Returns 0,
 * SPOOL_ECANCELLED if it was cancelled meanwhile, SPOOL_ESTATE if it already
 * runs or is final, SPOOL_EINVAL for NULL. Optional. */
SPOOL_API int spool_promise_start(spool_future *f);

/** Completes f with a value (DONE). Returns 0, or SPOOL_ESTATE if f was
 * already final or another thread is completing it (a set or a cancel
 * that came first: f is final moments later with that outcome; this call
 * changes nothing), or SPOOL_EINVAL for NULL. Runs the callbacks and
 * wakes the waiters before returning. */
SPOOL_API int spool_promise_set_result(spool_future *f, void *value);

/** Completes f with an error: a positive task code or a negative spool code
 * makes it FAILED; SPOOL_ECANCELLED makes it CANCELLED. err == 0 is
 * SPOOL_EINVAL (f is left as it was). Otherwise as set_result. */
SPOOL_API int spool_promise_set_error(spool_future *f, int err);

/** How a waiting thread drives a polled API itself (see
 * spool_promise_new_driven()). Only poll is required. */
typedef struct spool_promise_driver {
	/** One round of progress on whatever completes the promise (one
	 * MPI_Testsome over the pending requests, one look at a completion
	 * queue). It may complete promises, this one included. Returns true
	 * to be called again, false when the waiting thread should stop
	 * driving and sleep until another thread completes the promise (the
	 * API's own progress thread takes over). Must not block for long. */
	bool (*poll)(void *arg);
	/** The waiting thread has stopped calling poll: the promise became
	 * final, the wait timed out, or poll returned false. Called once per
	 * wait that called poll at least once, on the waiting thread. */
	void (*leave)(void *arg);
	/** The promise's last reference is gone (so arg may be let go of).
	 * Any thread. */
	void (*release)(void *arg);
} spool_promise_driver;

/** A promise (as spool_promise_new(): complete it with the calls above)
 * whose waiters may drive its completion themselves. A plain thread (not a
 * pool worker, not inside a loop) that blocks on it in spool_future_wait()
 * or spool_future_result() calls d->poll(arg) in a loop instead of
 * sleeping, until the promise is final (the wait returns 0), the timeout
 * passes (SPOOL_ETIMEDOUT), or poll returns false; then d->leave(arg), and
 * the wait goes on as for any promise (it sleeps). The point is latency: a
 * thread that polls its own completion is not woken by another thread (a
 * futex wake-up costs microseconds; an MPI message between processes of
 * one node takes about one). MPI's blocking calls wait the same way.
 * A plain thread's wait on a gather, a spool_wait() or an as_completed
 * iterator over such promises drives the same way, through the driver of
 * one of its pending inputs (found among the first 64 pending ones); it
 * keeps polling that driver until the combinator is final, since one
 * driver serves every promise of its kind. Other waits (a pool worker's,
 * a coroutine's) never call poll: they wait as for any promise. d (borrowed,
 * must stay valid while the promise lives) and arg belong to the caller;
 * d->release(arg) tells when the promise no longer needs them. Returns a new
 * reference, or NULL when out of memory or for a NULL d or d->poll.
 * Memory: made in bursts (spool-mpi makes one per remote task), these
 * records come from a block of 2 MiB per thread, not from malloc; a block
 * goes back when all of its records are released, so a promise kept for
 * good keeps its block (the pages its thread touched), and up to 16 MiB
 * of freed blocks are kept for reuse.
 * Thread-safe; never blocks. */
SPOOL_API spool_future *spool_promise_new_driven(const spool_promise_driver *d,
						 void *arg);

/* ---- debugging -------------------------------------------------------- */

/** The number of futures alive in the process (created and not yet freed),
 * counted in builds with SPOOL_DEBUG_COUNTERS (Debug and test builds); -1 in
 * other builds. Tests use it to prove that nothing leaks. */
SPOOL_API long spool_debug_live_futures(void);

#ifdef __cplusplus
}
#endif

#endif /* SPOOL_FUTURE_H */
