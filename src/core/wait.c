/* SPDX-License-Identifier: MIT */
/*
 * Waiting: the per-thread wait context (the seam, see wait.h), the default
 * blocking wait on the state word's futex, and the public wait calls.
 *
 * Blocking protocol. A waiter sets WAITERS in the state word with a CAS and
 * then sleeps in futex_wait(word, expected) where expected includes
 * WAITERS. The completer publishes the final phase with one
 * read-modify-write (future_impl.h, "Making f final"), which leaves WAITERS
 * set on the final word, where nobody sleeps any more, and, if the old word
 * had WAITERS, wakes all sleepers. The futex is the low
 * half of the 64-bit state word, which holds phase and flags; references
 * live in the high half and never change the futex value. No wake-up is
 * lost: the kernel compares the word with expected atomically with queueing
 * the waiter, so either the waiter queued before the completer's CAS (and
 * the completer, which sees WAITERS, wakes it) or the word already changed
 * and futex_wait returns EAGAIN at once. Other bits changing (CANCEL_REQ)
 * also cause EAGAIN; the loop re-reads and sleeps again.
 */
#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <inttypes.h>
#include <stdio.h>

#include "debug.h"
#include "futex.h"
#include "future_impl.h"
#include "nest.h"
#include "wait.h"
#include "trace/trace.h"

static SPOOL__TLS struct spool__wait_context wait_ctx;

/* Loops stranded on this thread (wait.h), and the byte whose address is
 * the thread's token. */
static SPOOL__TLS unsigned stranded;
static SPOOL__TLS char token_byte;
/* How deep spool__future_stuck() is in futures' stuck ops. */
static SPOOL__TLS unsigned stuck_depth;

struct spool__wait_context spool__wait_context_set(struct spool__wait_context c)
{
	struct spool__wait_context old = wait_ctx;
	wait_ctx = c;
	return old;
}

struct spool__wait_context spool__wait_context_get(void)
{
	return wait_ctx;
}

int64_t spool__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * SPOOL_NS_PER_S + ts.tv_nsec;
}

int64_t spool__deadline(int64_t timeout_ns)
{
	if (timeout_ns == SPOOL_FOREVER)
		return INT64_MAX; /* no clock read: the common wait */
	int64_t now = spool__now_ns();
	if (timeout_ns >= INT64_MAX - now)
		return INT64_MAX;
	return now + timeout_ns;
}

void spool__futex_wake_all(spool_future *f)
{
	spool__futex_wake(spool__futex_word(&f->state), INT_MAX);
}

/* A few hundred nanoseconds of polling catch completions that are about to
 * happen (a tiny task on another core) without a system call. */
enum { SPIN_ROUNDS = 128 };

/* The first half of spool__future_block: true when f became final. */
static inline bool spin(spool_future *f)
{
	for (int i = 0; i < SPIN_ROUNDS; i++) {
		if (spool__phase_final(atomic_load_explicit(
			    &f->state, memory_order_acquire)))
			return true;
		spool__cpu_relax();
	}
	return false;
}

/* The second half: sleeps on the futex until f is final (0) or the
 * deadline passes (SPOOL_ETIMEDOUT). */
static inline int sleep_until(spool_future *f, int64_t deadline)
{
	uint64_t w = atomic_load_explicit(&f->state, memory_order_acquire);
	for (;;) {
		if (spool__phase_final(w))
			return 0;
		if (!(w & SPOOL__WAITERS)) {
			/* Acquire so that a failed CAS that reads the final
			 * phase also sees the outcome it publishes. */
			if (!atomic_compare_exchange_weak_explicit(
				    &f->state, &w, w | SPOOL__WAITERS,
				    memory_order_acquire, memory_order_acquire))
				continue;
			w |= SPOOL__WAITERS;
		}
		struct timespec ts, *tsp = NULL;
		if (deadline != INT64_MAX) {
			if (spool__now_ns() >= deadline)
				return SPOOL_ETIMEDOUT;
			ts.tv_sec = deadline / SPOOL_NS_PER_S;
			ts.tv_nsec = deadline % SPOOL_NS_PER_S;
			tsp = &ts;
		}
		/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time,
		 * so spurious wake-ups do not stretch the deadline. */
		/* The kernel compares the low half only: reference changes
		 * in the high half do not wake or refuse us. */
		long r = spool__futex_wait(spool__futex_word(&f->state),
					   (uint32_t)w, tsp);
		if (r == -1 && errno == ETIMEDOUT)
			return spool__phase_final(atomic_load_explicit(
				       &f->state, memory_order_acquire))
				       ? 0
				       : SPOOL_ETIMEDOUT;
		w = atomic_load_explicit(&f->state, memory_order_acquire);
	}
}

int spool__future_block(spool_future *f, int64_t deadline)
{
	spool__trace_stale(); /* it may sleep: see src/trace/trace.h */
	if (spin(f))
		return 0;
	return sleep_until(f, deadline);
}

/* ---- the deadlock check (wait.h) -------------------------------------- */

uintptr_t spool__thread_token(void)
{
	return (uintptr_t)&token_byte;
}

void spool__stranded_add(int delta)
{
	if (delta > 0)
		stranded++;
	else if (stranded > 0)
		stranded--;
}

bool spool__future_stuck(spool_future *f)
{
	if (spool__phase_final(
		    atomic_load_explicit(&f->state, memory_order_acquire)))
		return false;
	if (spool__is_promise(f))
		return false; /* anybody may complete it */
	if (wait_ctx.ops && wait_ctx.ops->holds &&
	    wait_ctx.ops->holds(wait_ctx.ctx, f))
		return true;
	/* A combinator's op asks its inputs, which may be combinators too,
	 * nested as deep as the user made them (test_depth nests gathers
	 * 100,000 deep): below SPOOL__STUCK_DEPTH_MAX levels the answer is
	 * "not stuck", which is never wrong, and the stack stays flat. */
	if (!f->ops->stuck || stuck_depth >= SPOOL__STUCK_DEPTH_MAX)
		return false;
	stuck_depth++;
	bool stuck = f->ops->stuck(f);
	stuck_depth--;
	return stuck;
}

/* A plain thread's wait without a deadline, on a thread with a loop
 * stranded on it: spin as spool__future_block does, then look before
 * sleeping, and again now and then while asleep (wait.h). */
static int block_checked(spool_future *f)
{
	spool__trace_stale();
	if (spin(f))
		return 0;
	int64_t every = SPOOL__STUCK_RECHECK_MIN_NS;
	for (;;) {
		if (spool__future_stuck(f))
			return SPOOL_EDEADLK;
		if (sleep_until(f, spool__deadline(every)) == 0)
			return 0;
		if (every < SPOOL__STUCK_RECHECK_MAX_NS)
			every *= 2;
	}
}

/* Debug mode: how long a plain thread waits on a future whose completer
 * is idle (ops->debug_idle) before it reports: a thread about to start
 * the loop has had time to (spool/debug.h). */
#define DEBUG_IDLE_GRACE_NS (100 * SPOOL_NS_PER_MS)

static void report_hopeless_by(spool_future *f, int err, const char *who,
			       const char *why)
{
	char how[400];
	snprintf(how, sizeof how, "from %s that %s%s", who, why,
		 err == SPOOL_EDEADLK     ? " (returns SPOOL_EDEADLK)"
		 : err == SPOOL_ETIMEDOUT ? " (it can only time out)"
					  : "");
	spool__debug_hopeless(f, err, how);
}

static void report_hopeless(spool_future *f, int err, const char *why)
{
	report_hopeless_by(f, err, "a thread", why);
}

/* After the grace period: reports the wait of who on f if f is still not
 * final and its completer is still idle (ops->debug_idle, not NULL). */
static void report_if_idle(spool_future *f, const char *who)
{
	const char *why = f->ops->debug_idle(f);
	if (why && !spool__phase_final(atomic_load_explicit(
			   &f->state, memory_order_acquire)))
		report_hopeless_by(f, 0, who, why);
}

/* block_debug's answer when the wait is to go on as without debug mode. */
#define DEBUG_GO_ON 1

/* Debug mode, before block() waits: reports a wait that nothing can end
 * while this thread waits. Returns DEBUG_GO_ON, or the wait's answer when
 * it ended during the grace period (0, SPOOL_ETIMEDOUT). */
static __attribute__((noinline, cold)) int block_debug(spool_future *f,
						       int64_t deadline)
{
	if (spool__future_stuck(f)) {
		report_hopeless(f,
				deadline == INT64_MAX ? SPOOL_EDEADLK
						      : SPOOL_ETIMEDOUT,
				"left its loop stranded: the loop runs again "
				"only on this thread");
		return DEBUG_GO_ON;
	}
	if (!f->ops || !f->ops->debug_idle || !f->ops->debug_idle(f))
		return DEBUG_GO_ON;
	int64_t grace = spool__deadline(DEBUG_IDLE_GRACE_NS);
	if (spin(f))
		return 0;
	int rc = sleep_until(f, grace < deadline ? grace : deadline);
	if (rc == 0 || grace >= deadline)
		return rc;
	report_if_idle(f, "a thread");
	return DEBUG_GO_ON;
}

void spool__debug_worker_wait(spool_future *f, int64_t now, int64_t *first)
{
	if (*first < 0)
		return; /* looked already */
	if (!f->ops || !f->ops->debug_idle) {
		*first = -1; /* nothing to look at */
		return;
	}
	if (*first == 0) {
		*first = now;
		return;
	}
	if (now - *first < DEBUG_IDLE_GRACE_NS)
		return;
	report_if_idle(f, "a pool worker");
	*first = -1;
}

/* A plain thread's wait: the check only where it can find something. Out
 * of line, as spool__future_block is, so that spool_future_wait's path to
 * a context's wait (a worker's, the loop's) saves no more registers. */
static __attribute__((noinline)) int block(spool_future *f, int64_t deadline)
{
	if (__builtin_expect(spool__debug_on(), 0)) {
		int rc = block_debug(f, deadline);
		if (rc != DEBUG_GO_ON)
			return rc;
	}
	spool_future *d = f->ops ? spool__driven_find(f) : NULL;
	if (d)
		return spool__driven_wait(f, d, deadline);
	if (deadline != INT64_MAX || stranded == 0)
		return spool__future_block(f, deadline);
	return block_checked(f);
}

/* The waiting task was cancelled (a coroutine's await says so; a pool
 * worker's wait never does, its help loop passes the cancel on itself,
 * worker.c): the cancel follows the await to f when the task owns f
 * (spool__await_owner), and the wait then lasts until f has settled, as
 * asyncio's task waits for the future it cancelled, so that nothing the
 * task started still runs once it has seen the cancel. A second cancel of
 * the task ends that wait early, as does the loop closing. The context is
 * read from the thread-local again, as the loop reinstalled it when the
 * coroutine resumed. */
static __attribute__((noinline)) int cancelled(spool_future *f)
{
	if (!spool__await_cancel(spool_current_future(), f) ||
	    spool__future_is_final(f) || !wait_ctx.ops)
		return SPOOL_ECANCELLED;
	int rc = wait_ctx.ops->wait(wait_ctx.ctx, f, INT64_MAX);
	(void)rc; /* 0, a second cancel, or the loop closing: all end it */
	return SPOOL_ECANCELLED;
}

int spool_future_wait(spool_future *f, int64_t timeout_ns)
{
	if (!f || timeout_ns < 0)
		return SPOOL_EINVAL;
	if (spool__phase_final(
		    atomic_load_explicit(&f->state, memory_order_acquire)))
		return 0;
	if (timeout_ns == 0)
		return SPOOL_ETIMEDOUT;
	int64_t deadline = spool__deadline(timeout_ns);
	/* Work this thread queued to keep its stack flat (nest.h) may be
	 * what f waits for: do it before waiting. */
	spool__nest_flush();
	/* Traced: a "wait" slice; a pool worker's helping runs nest in it,
	 * a loop coroutine's suspension splits it (see src/trace/writer.c). */
	spool__trace_wait_begin(f);
	int rc = wait_ctx.ops ? wait_ctx.ops->wait(wait_ctx.ctx, f, deadline)
			      : block(f, deadline);
	if (rc == SPOOL_ECANCELLED)
		rc = cancelled(f);
	spool__trace_wait_end(f, rc);
	return rc;
}

int spool_future_result(spool_future *f, int64_t timeout_ns, void **value)
{
	if (value)
		*value = NULL;
	int rc = spool_future_wait(f, timeout_ns);
	if (rc != 0)
		return rc;
	rc = spool_future_error(f);
	if (rc == 0 && value)
		*value = spool_future_value(f);
	return rc;
}
