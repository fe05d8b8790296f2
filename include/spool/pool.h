/* SPDX-License-Identifier: MIT */
/**
 * @file
 * @brief The work-stealing thread pool.
 *
 * A pool owns N worker threads. Each worker has its own Chase-Lev deque:
 * a task submitted from inside a pool task goes onto the submitting
 * worker's deque (fork-join: the owner pops newest-first, idle workers steal
 * oldest-first); a task submitted from any other thread goes through a
 * shared injection queue. Idle workers spin briefly looking for work, then
 * park on an event count; a submitter wakes a parked worker only when no
 * worker is already searching, so spawning on a busy pool costs no syscall.
 *
 * Work is started with spool_submit(spool_pool_executor(p), fn, arg) (see
 * spool/executor.h); it returns a future (a new reference).
 *
 * Waiting inside a pool task helps: spool_future_wait() (and everything
 * built on it) called from a worker runs other pool tasks (its own deque
 * first, then the injection queue, then stealing) until the awaited future
 * is final or the timeout passes, so nested fork-join never deadlocks, even
 * with one worker. When there is nothing to run it blocks on the future in
 * short slices (at most 1 ms), looking for new work between them. A task
 * run while helping is not interrupted, so such a wait may return later
 * than its timeout by up to one task's running time.
 * Consequence: NEVER HOLD A LOCK ACROSS A WAIT INSIDE A POOL TASK. The tasks
 * run while helping may try to take the same lock and deadlock the worker
 * against itself (or, for a non-recursive mutex, on the same thread).
 * The tasks run while helping run on the waiting task's stack: a chain of
 * tasks each waiting for the next nests that deep, within the worker's
 * stack (the default thread stack size).
 *
 * Cancellation: spool_future_cancel() on a queued task makes it CANCELLED
 * and it never runs; on a running task it raises the flag the task polls
 * with spool_cancel_requested().
 *
 * Thread safety: every function may be called from any thread, including
 * pool workers, except where stated (spool_pool_destroy()).
 */
#ifndef SPOOL_POOL_H
#define SPOOL_POOL_H

#include "spool/common.h"
#include "spool/error.h"
#include "spool/executor.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An opaque pool handle. */
typedef struct spool_pool spool_pool;

/** Creation options. Always start from SPOOL_POOL_OPTIONS_INIT so that fields
 * added later get their defaults. */
typedef struct spool_pool_options {
	/** Number of worker threads. 0: the number of online CPUs
	 * (sysconf(_SC_NPROCESSORS_ONLN), at least 1). Negative: SPOOL_EINVAL.
	 * More workers than CPUs is allowed. */
	int workers;
	/** Thread-name prefix: worker i is named "<name>-<i>". Linux allows 15
	 * characters, so a long prefix is cut to keep the "-<i>" whole.
	 * NULL: "spool". The string is copied; the caller keeps ownership. */
	const char *name;
} spool_pool_options;

/** The defaults of spool_pool_options: initialize every options struct
 * with it. */
#define SPOOL_POOL_OPTIONS_INIT                                                \
	{                                                                      \
		0, NULL                                                        \
	}

/** Creates a pool and starts its workers. opts NULL means the defaults.
 * On success *out gets the pool (owned by the caller, who frees it with
 * spool_pool_destroy()) and 0 is returned. Otherwise *out is set to NULL
 * and the result is SPOOL_EINVAL (NULL out, negative workers),
 * SPOOL_ENOMEM or SPOOL_ESYS (a thread could not be started); nothing is
 * left running. Blocks only while the threads start. Thread-safe. */
SPOOL_API int spool_pool_create(spool_pool **out,
				const spool_pool_options *opts);

/** The executor through which work is submitted to p: pass it to
 * spool_submit(). Borrowed: it lives exactly as long as p and must not be
 * destroyed. Submission through it is thread-safe from any thread and
 * never blocks. From a worker of p (a task submitting children) it goes
 * onto that worker's own deque and allocates nothing in the steady state;
 * from any other thread it goes through a shared queue and allocates the
 * task. After spool_pool_shutdown(), submissions from threads other than
 * p's workers return a future already FAILED with SPOOL_ESHUTDOWN;
 * submissions from p's workers are still accepted (see
 * spool_pool_shutdown()). Returns NULL for a NULL p. */
SPOOL_API spool_executor *spool_pool_executor(spool_pool *p);

/** The number of worker threads of p (>= 1); SPOOL_EINVAL for NULL.
 * Never blocks. */
SPOOL_API int spool_pool_workers(const spool_pool *p);

/** Flags for spool_pool_shutdown(), as
 * concurrent.futures.Executor.shutdown(wait, cancel_futures). */
enum {
	/** Block until every task that is running or still queued (and not
	 * cancelled) has finished. Without it, shutdown returns at once and
	 * the workers finish the remaining work in the background. */
	SPOOL_SHUTDOWN_WAIT = 1u,
	/** Cancel every task still queued: its future ends CANCELLED, before
	 * shutdown returns, and the task never runs. Running tasks are not
	 * stopped; they see spool_cancel_requested() only if someone cancels
	 * them. */
	SPOOL_SHUTDOWN_CANCEL_PENDING = 2u
};

/** Stops p from accepting work: every later spool_submit() on its executor
 * from a thread that is not one of p's workers returns a future FAILED
 * with SPOOL_ESHUTDOWN. Work already accepted still runs (unless
 * SPOOL_SHUTDOWN_CANCEL_PENDING), and so do the tasks that running tasks
 * submit while p drains, so that fork-join computations in flight can
 * finish (concurrent.futures would refuse those too, failing the parent).
 * Every future reaches a final state; none is lost. The workers exit once
 * no work is left. May be called several times and from several threads;
 * the flags of each call apply to that call (a later call may still cancel
 * what is pending, or wait). SPOOL_SHUTDOWN_CANCEL_PENDING cancels what is
 * queued when it looks, as concurrent.futures does: a task a worker has
 * already taken runs.
 * Returns 0, SPOOL_EINVAL (NULL p or unknown flags) or SPOOL_EDEADLK
 * (SPOOL_SHUTDOWN_WAIT from one of p's own workers, which would wait for
 * itself: the shutdown is still started, only the wait is refused).
 * Blocks only with SPOOL_SHUTDOWN_WAIT. Thread-safe. */
SPOOL_API int spool_pool_shutdown(spool_pool *p, unsigned flags);

/** Shuts p down with SPOOL_SHUTDOWN_WAIT if that was not yet done, joins the
 * worker threads and frees the pool. NULL is a harmless no-op.
 * Futures obtained from p stay valid after destroy until their last
 * spool_future_release(); they are all final by then. p and its executor
 * must not be used afterwards. Calling it from one of p's own workers is a
 * caller bug and aborts with a message; calling it twice, or concurrently
 * with any other call on p, is undefined. Blocks until the work is done. */
SPOOL_API void spool_pool_destroy(spool_pool *p);

/** Counters since creation, summed over the workers when read. Each is a
 * monotonic count; a read while the pool runs is a consistent-enough
 * snapshot (each counter exact at some instant, not all at the same one);
 * after spool_pool_shutdown(p, SPOOL_SHUTDOWN_WAIT) they are exact. */
typedef struct spool_pool_stats {
	uint64_t tasks_run;     /**< tasks whose function was called */
	uint64_t steals;        /**< tasks taken from another worker's deque */
	uint64_t failed_steals; /**< steal attempts that found nothing or lost
				   a race */
	uint64_t parks;         /**< times a worker went to sleep */
	uint64_t wakeups;       /**< wake-ups sent to sleeping workers */
} spool_pool_stats;

/** Fills *out with p's counters. Returns 0 or SPOOL_EINVAL (NULL p or out).
 * Thread-safe; never blocks. */
SPOOL_API int spool_pool_stats_get(spool_pool *p, spool_pool_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* SPOOL_POOL_H */
