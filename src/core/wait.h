/* SPDX-License-Identifier: MIT */
/*
 * The waiting seam: how a wait behaves on the current thread.
 *
 * spool_future_wait() is one call for every context, but what "waiting"
 * means depends on who is waiting:
 *
 *   - a plain thread blocks (spool__future_block: spin briefly, then futex);
 *   - a pool worker helps: it runs other pool tasks until the future is done,
 *     so a task that waits for its own children cannot deadlock the pool;
 *   - a loop coroutine suspends and the loop runs on; the loop thread
 *     outside any coroutine must refuse (SPOOL_EDEADLK), since nothing would
 *     ever run the loop while it sleeps.
 *
 * The core knows none of these executors. Instead each thread has a wait
 * context, a (ops, ctx) pair in a thread-local, which an executor installs
 * while its thread runs (a worker at start, the loop on every coroutine
 * switch) and restores afterwards. spool_future_wait() checks the fast
 * paths (already final; timeout 0), turns the timeout into a deadline and
 * calls ops->wait; with no context installed it blocks.
 *
 * Every combinator waits by building one internal future that completes
 * when its condition holds and waiting on that, so this single entry point
 * makes all of them context-aware.
 *
 * The second half of the seam routes done-callbacks: a callback registered
 * on a thread whose context has ops->post is sent back there (the loop runs
 * it on its own thread) unless the completing thread already has the same
 * ctx.
 *
 * The deadlock check. Before a wait without a deadline blocks for good (a
 * plain thread after its spin, a pool worker once it has nothing left to
 * help with), it asks spool__future_stuck() whether f can still complete
 * while this thread is blocked, and returns SPOOL_EDEADLK when it cannot.
 * Only two things make a future stuck, both facts about the waiting thread
 * that cannot change while it waits:
 *   - its context holds f (ops->holds): f is a task running on this very
 *     thread, beneath the wait (a pool task waiting on itself, or on a
 *     task whose wait this worker is helping under), so f completes only
 *     after the wait returns;
 *   - f needs an executor stranded on this thread: a loop this thread left
 *     with coroutines suspended, which no other thread may run, so its
 *     tasks never run or resume while this thread blocks (the loop task's
 *     ops->stuck, see src/loop/deadlock.c).
 * Every other future answers through its own ops->stuck from the futures it
 * waits for: a combinator's internal future is stuck when the condition it
 * completes on can no longer hold (waiting for all: one watched future
 * stuck; for the first: every watched future stuck and none final). A
 * future without the op (a promise, a pool task) is never stuck by itself:
 * another thread may complete it. So a "stuck" answer is never wrong, and
 * it stays right for as long as the thread waits; "not stuck" may be
 * wrong only the safe way (when in doubt, and below
 * SPOOL__STUCK_DEPTH_MAX levels of nesting). A wait that is not stuck when
 * it looks may become so later (failing fast, the other inputs succeed and
 * leave only the stuck one), so the waits look again now and then
 * (SPOOL__STUCK_RECHECK_*). The check is not made on the paths that do
 * not block: a wait that finds f final, or polls, never looks; a plain
 * thread with no loop stranded on it never looks either (the only stuck
 * futures it could meet come from such a loop); and a wait with a
 * deadline keeps returning SPOOL_ETIMEDOUT (it does finish).
 */
#ifndef SPOOL_CORE_WAIT_H
#define SPOOL_CORE_WAIT_H

#include "future_impl.h"

struct spool__wait_ops {
	/* Waits until f is final or the absolute CLOCK_MONOTONIC deadline in
	 * ns passes (INT64_MAX: never). Called only after f was seen not
	 * final. Returns 0 (f final), SPOOL_ETIMEDOUT, SPOOL_EDEADLK or
	 * SPOOL_ECANCELLED (the waiter itself was cancelled). */
	int (*wait)(void *ctx, spool_future *f, int64_t deadline);
	/* Optional. Arranges for fn(f, arg) to run on ctx's thread soon;
	 * called from another thread, for a node that hold() reserved for.
	 * The callee retains f for as long as it needs it. Returns 0, or
	 * nonzero when it cannot because the loop is gone (never for want of
	 * memory: hold reserved it): the callback then runs in the completing
	 * thread. */
	int (*post)(void *ctx, spool_callback_fn fn, spool_future *f,
		    void *arg);
	/* Optional, with post. A callback node that records ctx holds it:
	 * hold(ctx, fn) when the node is added, drop(ctx, fn, arg, ran,
	 * posted) when the node is freed, so ctx outlives every callback
	 * that may still be posted to it (a loop destroyed before a foreign
	 * future completes). hold also reserves what post needs to send fn
	 * home, so that a callback registered on a loop never runs elsewhere
	 * for want of memory at its completion; it returns nonzero when it
	 * cannot (no memory), and the registration then fails with
	 * SPOOL_ENOMEM. ran is true once fn ran or was handed to post; false
	 * when the future was freed without completing and fn never runs, so
	 * the context can reclaim arg if it owns it. posted is true when post
	 * took fn (and spent the reservation); otherwise drop gives the
	 * reservation back. Any thread. */
	int (*hold)(void *ctx, spool_callback_fn fn);
	void (*drop)(void *ctx, spool_callback_fn fn, void *arg, bool ran,
		     bool posted);
	/* Optional. True when f is running on ctx's thread beneath the wait
	 * in progress there (the task whose function called that wait, or one
	 * further down the thread's stack), so that f cannot complete before
	 * that wait returns. Called on ctx's thread only, by
	 * spool__future_stuck(), for futures that are not promises. Never
	 * blocks. */
	bool (*holds)(void *ctx, const spool_future *f);
};

struct spool__wait_context {
	const struct spool__wait_ops *ops; /* NULL: block */
	void *ctx; /* identifies the owner (one pool worker, one loop) */
};

/* Installs c on the calling thread and returns the previous context, which
 * the caller restores when it leaves (contexts nest). */
struct spool__wait_context
spool__wait_context_set(struct spool__wait_context c);

/* The calling thread's context ({NULL, NULL} by default). */
struct spool__wait_context spool__wait_context_get(void);

/* True when f is not final and can never complete while the calling thread
 * blocks in a wait (see "The deadlock check" above): f is held by the
 * thread's context, or f's ops->stuck says so. A promise (a future with
 * no ops) is never held: anybody may complete it. Called only on the path
 * where a wait without a deadline is about to block; it may walk every
 * future a combinator watches. Never blocks. */
bool spool__future_stuck(spool_future *f);

/* Debug mode (spool/debug.h), a pool worker's wait on f, called each time
 * it is about to block for lack of anything to run, with the time now and
 * *first (0 at the wait's start: this call keeps the time of the first
 * block there, and -1 once there is nothing more to look at): once the
 * wait has blocked DEBUG_IDLE_GRACE_NS, reports it as hopeless if f's
 * completer is idle (ops->debug_idle: a loop task whose loop no thread
 * runs), as a plain thread's wait does; the wait goes on either way.
 * Never blocks. */
void spool__debug_worker_wait(spool_future *f, int64_t now, int64_t *first);

/* How many levels of futures' stuck ops spool__future_stuck() follows
 * (a gather of a gather of ...); deeper ones answer "not stuck". */
#define SPOOL__STUCK_DEPTH_MAX 64

/* How often a wait that found f not stuck looks again while it blocks:
 * after SPOOL__STUCK_RECHECK_MIN_NS, then twice as long each time, up to
 * SPOOL__STUCK_RECHECK_MAX_NS. */
#define SPOOL__STUCK_RECHECK_MIN_NS INT64_C(1000000)   /* 1 ms */
#define SPOOL__STUCK_RECHECK_MAX_NS INT64_C(100000000) /* 100 ms */

/* A word that identifies the calling thread: nonzero, and different from
 * that of every other thread alive. */
uintptr_t spool__thread_token(void);

/* Counts the loops stranded on the calling thread (delta +1 or -1): left by
 * it with coroutines suspended, so that only it may run them again. A
 * plain thread with none skips the deadlock check when it blocks. */
void spool__stranded_add(int delta);

/* CLOCK_MONOTONIC now, in ns. */
int64_t spool__now_ns(void);

/* now + timeout, saturating at INT64_MAX (SPOOL_FOREVER stays forever). */
int64_t spool__deadline(int64_t timeout_ns);

#endif /* SPOOL_CORE_WAIT_H */
