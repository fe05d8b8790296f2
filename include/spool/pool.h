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
 * Fork-join without futures (the second half of this header): a future
 * per piece of work costs an allocation, reference counting and a
 * completion that others may observe. When the caller only needs to know
 * that the pieces ran, spool_join() (two functions, possibly in parallel),
 * scopes (any number of spawns, waited for together) and spool_for() (a
 * parallel loop) do it without any: their bookkeeping lives on the
 * caller's stack, and a piece that nobody steals costs a deque push and
 * pop. They share the workers and deques with futures, so both kinds mix
 * freely in one computation.
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

/* ---- fork-join without futures ----------------------------------------- */

/** A piece of work for spool_join() and scopes: returns 0 on success or an
 * error code (positive for its own errors, SPOOL_ECANCELLED to
 * acknowledge a cancel request). It has no result slot, unlike a task
 * (spool_task_fn): results go through arg, typically into the caller's
 * stack, which the piece may borrow since the call that runs it returns
 * only after it has finished. */
typedef int (*spool_work_fn)(void *arg);

/** Runs a(aarg) and b(barg), possibly in parallel, and returns once both
 * have finished: 0 if both returned 0, else a's error if a failed, else
 * b's. Both always run, each exactly once (one failing does not stop the
 * other), with one exception: a half still queued when
 * spool_pool_shutdown(pool, SPOOL_SHUTDOWN_CANCEL_PENDING) looks never runs
 * and counts as SPOOL_ECANCELLED.
 *
 * No allocation, no future: b's record lives in spool_join's own frame.
 * aarg and barg are passed as given and are borrowed: they (and anything
 * on the caller's stack the halves use) only need to live until
 * spool_join returns.
 *
 * On a worker of pool (inside a task, a join half, a scope spawn or a
 * spool_for body running on pool): b goes onto this worker's deque, where
 * idle workers may steal it, and a runs at once on this thread. When a
 * returns, b is popped back and run here unless it was stolen: the common
 * case, a push and a pop, some nanoseconds. If a thief took it, this
 * thread helps (runs other pool work, as a waiting task does) until the
 * thief has finished b, so nested joins never deadlock, even on one
 * worker; the help runs on this thread's stack, as for a waiting task
 * (see the top of this header: NEVER HOLD A LOCK ACROSS IT).
 *
 * On any other thread (a plain thread, a loop's thread, a worker of
 * another pool): the join is handed to pool through a queue and the caller
 * blocks until both halves have run on pool's workers, where a then runs
 * first as above (a worker of another pool runs its own pool's work while
 * it waits; a loop coroutine blocks its loop). After spool_pool_shutdown()
 * this returns SPOOL_ESHUTDOWN at once and neither half runs.
 *
 * Cancellation: inside both halves, wherever they run, spool_current_
 * future() is the caller's current task (NULL outside any), so
 * spool_cancel_requested() answers for the task that called spool_join.
 *
 * Returns SPOOL_EINVAL, running nothing, for a NULL pool, a or b.
 * Thread-safe. Blocks until both halves have finished. */
SPOOL_API int spool_join(spool_pool *pool, spool_work_fn a, void *aarg,
			 spool_work_fn b, void *barg);

/** A scope (rayon::scope, oneTBB's task_group): spawn any number of pieces
 * of work that may borrow the caller's stack, then wait for all of them.
 * The caller owns the storage (typically a local variable) and must not
 * touch its contents; it is in use from spool_scope_begin() until
 * spool_scope_wait() returns, and may then be begun again. Every scope
 * that was begun must be waited for before its storage, or anything its
 * spawns borrow, goes away. */
typedef struct spool_scope {
	/** @cond */
	/* Private: aligned for pointers and 64-bit words. */
	union {
		void *p_;
		uint64_t u_;
		unsigned char bytes_[192];
	} opaque_;
	/** @endcond */
} spool_scope;

/** Storage the caller lends to one spawn (spool_scope_spawn_in()), so that
 * the spawn takes no record from the pool. */
typedef struct spool_scope_job {
	/** @cond */
	/* Private: aligned for pointers and 64-bit words. */
	union {
		void *p_;
		uint64_t u_;
		unsigned char bytes_[64];
	} opaque_;
	/** @endcond */
} spool_scope_job;

/** Opens scope s on pool. s is the caller's (see spool_scope); pool must
 * outlive the scope. Spawns run with the scope's own future as
 * spool_current_future() (borrowed, valid while the scope is open; not to
 * be waited for or released): spool_cancel_requested() in a spawn is true
 * once a spawn of the scope has failed, or when the task that began the
 * scope (the caller's spool_current_future()) was asked to cancel.
 * Returns 0, or SPOOL_EINVAL for a NULL s or pool. Beginning a scope that
 * is open (begun and not yet waited for) is a caller bug and aborts with
 * a message. Never blocks. Thread-safe for different scopes. */
SPOOL_API int spool_scope_begin(spool_scope *s, spool_pool *pool);

/** Spawns fn(arg) in scope s: it runs once on one of the pool's workers,
 * possibly before this returns, and spool_scope_wait(s) returns only after
 * it has finished. arg is borrowed until then. Spawns never fail each
 * other: one that fails does not stop the rest (they see
 * spool_cancel_requested() and may return early), and a spawn made after a
 * failure still runs.
 *
 * Who may spawn: the thread that began s, until it calls
 * spool_scope_wait(s), and any spawn of s, at any depth (so that the
 * count of running spawns cannot reach zero under a spawn). From a worker
 * of the scope's pool the spawn goes onto that worker's deque with a
 * record from the worker's free list: no allocation in the steady state.
 * From any other thread it goes through the pool's job queue with a
 * record from that thread's slab of task records.
 *
 * Returns 0; SPOOL_EINVAL (NULL s or fn); SPOOL_ENOMEM (no record);
 * SPOOL_ESHUTDOWN (from a thread outside the pool after
 * spool_pool_shutdown()). fn has not run and will not when the result is
 * not 0, and the scope is unaffected. Spawning into a scope that is not
 * open is a caller bug and aborts with a message. Never blocks. */
SPOOL_API int spool_scope_spawn(spool_scope *s, spool_work_fn fn, void *arg);

/** spool_scope_spawn() with job as the spawn's record: job is the caller's
 * (uninitialised storage), lent until spool_scope_wait(s) returns; it may
 * be used again after that, and one spool_scope_job serves one spawn at a
 * time. Never allocates. Same results, same rules, except no
 * SPOOL_ENOMEM; SPOOL_EINVAL also for a NULL job. Never blocks. */
SPOOL_API int spool_scope_spawn_in(spool_scope *s, spool_scope_job *job,
				   spool_work_fn fn, void *arg);

/** Waits until every spawn of s, including the spawns of spawns, has
 * finished, and closes s. Returns 0, or the first failure of a spawn (the
 * first to be recorded, in time; a spawn that a shutdown with
 * SPOOL_SHUTDOWN_CANCEL_PENDING took from a queue counts as
 * SPOOL_ECANCELLED); SPOOL_EINVAL for a NULL s. A worker of the scope's
 * pool (or of another pool) runs pool work while it waits, as spool_join
 * does; any other thread blocks. Call it from the thread that began s;
 * calling it from inside one of s's own spawns (which would wait for
 * itself) or on a scope that is not open is a caller bug and aborts with
 * a message. Blocks. */
SPOOL_API int spool_scope_wait(spool_scope *s);

/** The body of spool_for(): handles the indices [lo, hi) (lo < hi) and
 * returns 0, or an error code that ends the loop early. arg is
 * spool_for()'s. */
typedef int (*spool_for_fn)(void *arg, int64_t lo, int64_t hi);

/** A parallel loop: calls fn(arg, lo, hi) on disjoint pieces [lo, hi) that
 * together cover [begin, end) exactly once, and returns once every call
 * has returned. Nothing happens for begin >= end (an empty range, or a
 * reversed one). Any int64_t range works, negative or spanning
 * INT64_MIN..INT64_MAX.
 *
 * How it divides the range: by recursive halving with spool_join(), and
 * lazily, as rayon's adaptive splitter and oneTBB's auto_partitioner do:
 * first into about as many pieces as pool has workers, then a piece
 * splits again only when it was stolen (its thief splits it for the
 * others) or when, between two calls of fn, a worker is idle while this
 * worker has nothing queued for it. So an idle pool gets work within one
 * call of fn, and a busy one pays for few splits. grain is the smallest
 * piece worth splitting: a piece of fewer than 2 * grain indices is never
 * split, and fn is called on at least grain indices at a time (unless the
 * whole range is smaller). grain 0 means 1: let the splitting decide.
 *
 * Errors: fn's first nonzero result (the first recorded, in time) is
 * returned; pieces not yet started are then skipped and calls already
 * running finish, so after an error some indices may not have been
 * handled. fn may poll spool_cancel_requested(), which answers for the
 * caller's task, and return SPOOL_ECANCELLED to stop the loop. Called
 * from a thread outside pool, the loop runs in pool's workers while the
 * caller blocks (see spool_join); SPOOL_ESHUTDOWN after shutdown.
 *
 * Returns 0, fn's first error, SPOOL_ESHUTDOWN, or SPOOL_EINVAL (NULL pool
 * or fn, negative grain; nothing runs). arg is passed as given and
 * borrowed until this returns. Thread-safe. Blocks until the loop is
 * done. */
SPOOL_API int spool_for(spool_pool *pool, int64_t begin, int64_t end,
			int64_t grain, spool_for_fn fn, void *arg);

#ifdef __cplusplus
}
#endif

#endif /* SPOOL_POOL_H */
