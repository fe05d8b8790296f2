/* SPDX-License-Identifier: MIT */
/*
 * The idle set: how workers without work search, sleep and are woken,
 * without lost wake-ups and without a system call per task while the pool
 * is busy.
 *
 * A worker is RUNNING (not counted), SEARCHING (counted in the low half of
 * p->idle; it spins a bounded number of steal rounds with ck_backoff) or
 * PARKED (counted in the high half, listed in p->sleepers, asleep on its own
 * Concurrency Kit event count w->ec). At most half the workers search at a
 * time (at least one may), so idle workers do not swarm the deques. The
 * scheme is the one of Go's scheduler and of Tokio: a submitter wakes a
 * parked worker only when nobody is searching, because a searcher will find
 * the new task or hand the search on; and a searcher that finds work and
 * was the last one wakes a parked worker, so that parallelism ramps up one
 * worker at a time instead of stalling.
 *
 * Submitter (spool__idle_notify, after the task is pushed or injected):
 *   N1  seq_cst fence (light: a compiler barrier paired with P2's
 *       membarrier where the kernel has it, see fence.h)
 *   N2  s = load(idle)
 *   N3  if searching(s) == 0 and parked(s) > 0: lock, take a sleeper w,
 *       count it as searching (not parked), clear w->sleeping, unlock,
 *       ck_ec_inc(w->ec).
 * Worker going to sleep (spool__idle_park):
 *   P1  under the lock: one read-modify-write of idle moves w from
 *       searching (or running) to parked; w goes on the sleepers list
 *   P2  seq_cst fence (heavy: membarrier, a full barrier on every
 *       thread of the process, where the kernel has it)
 *   P3  look at every work source (listed below) and the drain flag; if
 *       anything may be there, take w off the list again and search
 *   P4  loop { e = ck_ec_value(w->ec); if !w->sleeping break;
 *              ck_ec_wait(w->ec, e) }
 *
 * No lost wake-up. The race to exclude: a worker finds nothing, the
 * submitter sees no sleeper, the worker sleeps, and the task waits with
 * every worker asleep. Take a task T pushed before N1 and a worker W that
 * reaches P4. Fences and read-modify-writes are seq_cst, so they all lie in
 * one total order S. With the asymmetric pair (fence.h), N1 is only a
 * compiler barrier, and P2's membarrier makes the submitter's thread run a
 * full barrier M at some point while P2 lasts. If M comes after T's push
 * in that thread, the push is visible before P2 returns, which is case
 * (a); if M comes before the push, it comes before N2 too, and N2 reads
 * P1's update or a later one, which is case (b). So read N1 below as M.
 *   (a) If N1 precedes W's P2 in S, then P3, which is after P2, sees T's
 *       push (C11 7.17.4: a store sequenced before fence X is seen by a
 *       load sequenced after fence Y when X precedes Y in S). W searches.
 *   (b) Otherwise P2 precedes N1. P1 is before P2, so N2 reads P1's update
 *       of idle or a later one (the same fence rule, on idle); that value
 *       counts W as parked, or a later value in which W has been woken. If
 *       N2 sees nobody searching, N3 wakes a sleeper (unless, looking again
 *       under the lock, it finds a searcher that started since, or that
 *       another waker took the last sleeper, whose woken worker searches:
 *       the case below). If N2 sees a
 *       searcher V, V's next update of idle (it finds work, or it parks)
 *       comes later in idle's modification order than the value N2 read,
 *       so by the same argument as for W, V's own P3 (if it parks) sees
 *       T, and if V finds other work and was the last searcher it runs N1-
 *       N3 itself, after T was pushed. Either way someone is woken or
 *       searching who will see T: a woken worker is counted as searching
 *       and starts at P3's search again.
 * The wake itself is not lost: W reads e before it reads w->sleeping, and
 * the waker clears w->sleeping before it increments the event count
 * (release store, then ck_ec_inc, which begins with a store fence and is a
 * locked instruction on x86; ck_ec_value is a load followed by an acquire
 * fence). So either W sees sleeping cleared and leaves, or its e predates
 * the increment and ck_ec_wait returns once it lands. An increment meant
 * for an earlier park (W left at P3 just as a waker claimed it) only makes
 * ck_ec_wait return early; W sees sleeping still set and waits again.
 *
 * Work sources: every place where a task can wait for a worker. P3 reads
 * each of them; one it missed could hold a task while every worker sleeps.
 *   work-source: inject  the injection queue: outside submissions
 *                        (spool__inject_maybe_nonempty)
 *   work-source: deque   each worker's deque: tasks spawned by tasks,
 *                        batches moved from the injection queue, and jobs
 *                        (job.h): halves of spool_join and scope spawns
 *                        made on a worker (spool__deque_size)
 *   work-source: jobs    the job queue: spool_join, scopes and spool_for
 *                        called outside the pool hand their work in here
 *                        (spool__inject_maybe_nonempty on p->jobs)
 * A new source goes into this list, into spool__pool_may_have_work() (a
 * marker comment and a `return true;` of its own) and into the model
 * test/model/park.pml (may_have_work); the ctest work_sources fails until
 * the three lists agree. The drain flag is no source (no task waits in
 * it), but a worker that sees it set must not sleep either.
 *
 * Checked by a tool: test/model/park.pml models this protocol step for
 * step in SPIN, on store buffers (x86-TSO), with every work source; `./run
 * model` searches every schedule of two workers and a submitter for a
 * lost wake-up, and shows that without P2, without P3, or without any one
 * source in P3, SPIN finds one (docs/design/pool.md).
 *
 * Spurious emptiness: P3 never trusts a failed pop. It asks
 * spool__inject_maybe_nonempty() (true whenever an item is queued, even
 * while its push is half done or another worker holds the consumer lock)
 * and the deques' sizes, so a queue that answers "empty" or "retry" to a
 * pop while holding a task does not let W sleep. Debian's Concurrency Kit
 * 0.7.1 ck_fifo_mpmc can report empty spuriously on dequeue; a protocol
 * built on pops would strand tasks there, this one does not. Tests:
 * test_pool.c parking_recheck_tolerates_a_pop_that_reports_empty_
 * spuriously (every pop of the worker fails while a task is queued),
 * test_deque.c inject_* (the queue's own answers), test_pool_stress.c
 * lost_wakeup_* (100,000 rounds at the moment workers go idle).
 *
 * Why not ck_bitmap for the idle set: waking needs to pick one sleeper and
 * claim it atomically, and ck_bitmap has no atomic test-and-reset; and the
 * argument above needs the idle state in the C11 seq_cst order, which
 * ck_pr's operations (and ThreadSanitizer's view of them) are not part of.
 * A mutex-protected list costs nothing measurable next to the futex wake
 * that always follows it. ck_ec is used for the sleeping itself: it only
 * makes a system call when the sleeper has flagged that it sleeps, and it
 * is invisible to ThreadSanitizer without harm, as nothing but the event
 * count itself is ordered through it.
 */
#include <limits.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/futex.h"
#include "pool_impl.h"
#include "trace/trace.h"

/* ---- ck_ec on Linux futexes ---------------------------------------------- */

static int ec_gettime(const struct ck_ec_ops *ops, struct timespec *out)
{
	(void)ops;
	return clock_gettime(CLOCK_MONOTONIC, out);
}

static void ec_wait32(const struct ck_ec_wait_state *state,
		      const uint32_t *addr, uint32_t expected,
		      const struct timespec *deadline)
{
	(void)state;
	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline, the
	 * clock ec_gettime reports. */
	spool__futex_wait(addr, expected, deadline);
}

static void ec_wake32(const struct ck_ec_ops *ops, const uint32_t *addr)
{
	(void)ops;
	spool__futex_wake(addr, INT_MAX);
}

static const struct ck_ec_ops ec_ops = {
	.gettime = ec_gettime,
	.wait32 = ec_wait32,
	.wake32 = ec_wake32,
};

/* Many threads may wake one worker. */
static const struct ck_ec_mode ec_mode = {
	.ops = &ec_ops,
	.single_producer = false,
};

/* ---- the idle set -------------------------------------------------------- */

void spool__idle_init(struct spool_pool *p)
{
	spool__fence_init(); /* before any worker starts, see fence.h */
	atomic_init(&p->idle, 0);
	atomic_init(&p->draining, false);
	atomic_init(&p->wakeups, 0);
	pthread_mutex_init(&p->sleep_mu, NULL);
	p->sleepers = NULL;
	for (int i = 0; i < p->nworkers; i++) {
		struct spool__worker *w = &p->workers[i];
		ck_ec32_init(&w->ec, 0);
		atomic_init(&w->sleeping, false);
		w->next_sleeper = NULL;
	}
}

void spool__idle_fini(struct spool_pool *p)
{
	pthread_mutex_destroy(&p->sleep_mu);
}

bool spool__pool_may_have_work(struct spool_pool *p)
{
	/* Each work source (listed at the top of this file) under its
	 * marker, with a return of its own. */
	/* work-source: inject */
	if (spool__inject_maybe_nonempty(&p->inj))
		return true;
	/* work-source: deque */
	for (int i = 0; i < p->nworkers; i++)
		if (spool__deque_size(&p->workers[i].dq) > 0)
			return true;
	/* work-source: jobs */
	if (spool__inject_maybe_nonempty(&p->jobs))
		return true;
	return false;
}

bool spool__idle_try_search(struct spool__worker *w)
{
	struct spool_pool *p = w->pool;
	/* Relaxed: the CAS validates it. */
	uint64_t s = atomic_load_explicit(&p->idle, memory_order_relaxed);
	do {
		uint32_t n = SPOOL__IDLE_NSEARCHING(s);
		if (n > 0 && 2 * (uint64_t)n >= (uint64_t)p->nworkers)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(
		&p->idle, &s, s + SPOOL__IDLE_SEARCHING, memory_order_seq_cst,
		memory_order_relaxed));
	w->searching = true;
	return true;
}

void spool__idle_found_work(struct spool__worker *w)
{
	struct spool_pool *p = w->pool;
	w->searching = false;
	uint64_t old = atomic_fetch_sub_explicit(
		&p->idle, SPOOL__IDLE_SEARCHING, memory_order_seq_cst);
	if (SPOOL__IDLE_NSEARCHING(old) == 1)
		spool__idle_notify(p);
}

void spool__idle_leave(struct spool__worker *w)
{
	if (w->searching) {
		w->searching = false;
		atomic_fetch_sub_explicit(&w->pool->idle, SPOOL__IDLE_SEARCHING,
					  memory_order_seq_cst);
	}
}

/* Takes w off the sleepers list; under sleep_mu; w must be on it. */
static void unlist(struct spool_pool *p, struct spool__worker *w)
{
	struct spool__worker **pp = &p->sleepers;
	while (*pp != w)
		pp = &(*pp)->next_sleeper;
	*pp = w->next_sleeper;
	w->next_sleeper = NULL;
}

/* Under sleep_mu: moves w from parked to searching and clears its flag. */
static void claim(struct spool_pool *p, struct spool__worker *w)
{
	unlist(p, w);
	atomic_fetch_add_explicit(&p->idle,
				  SPOOL__IDLE_SEARCHING - SPOOL__IDLE_PARKED,
				  memory_order_seq_cst);
	/* Release: see "The wake itself is not lost" above. */
	atomic_store_explicit(&w->sleeping, false, memory_order_release);
}

void spool__idle_park(struct spool__worker *w)
{
	struct spool_pool *p = w->pool;

	/* P1 */
	pthread_mutex_lock(&p->sleep_mu);
	uint64_t delta = SPOOL__IDLE_PARKED;
	if (w->searching)
		delta -= SPOOL__IDLE_SEARCHING;
	atomic_fetch_add_explicit(&p->idle, delta, memory_order_seq_cst);
	w->searching = false;
	/* Relaxed: written and read under sleep_mu, or read by w itself. */
	atomic_store_explicit(&w->sleeping, true, memory_order_relaxed);
	w->next_sleeper = p->sleepers;
	p->sleepers = w;
	pthread_mutex_unlock(&p->sleep_mu);

	/* P2 (the heavy half of the asymmetric pair, fence.h), P3 */
	spool__fence_heavy();
	if (spool__pool_may_have_work(p) ||
	    atomic_load_explicit(&p->draining, memory_order_relaxed)) {
		pthread_mutex_lock(&p->sleep_mu);
		/* Still listed: nobody claimed w, so w claims itself. */
		if (atomic_load_explicit(&w->sleeping, memory_order_relaxed))
			claim(p, w);
		pthread_mutex_unlock(&p->sleep_mu);
		w->searching = true;
		return;
	}

	/* P4 */
	spool__stat_inc(&w->st.parks);
	spool__trace_park_begin();
	for (;;) {
		uint32_t e = ck_ec32_value(&w->ec);
		if (!atomic_load_explicit(&w->sleeping, memory_order_acquire))
			break;
		ck_ec32_wait(&w->ec, &ec_mode, e, NULL);
	}
	spool__trace_park_end();
	/* The waker counted w as searching. */
	w->searching = true;
}

void spool__idle_wake_one(struct spool_pool *p)
{
	struct spool__worker *w = NULL;
	pthread_mutex_lock(&p->sleep_mu);
	/* Look again under the lock: a searcher may have started since the
	 * caller looked, or another waker took the last sleeper. Relaxed: the
	 * caller's fence orders this after its push. */
	uint64_t s = atomic_load_explicit(&p->idle, memory_order_relaxed);
	if (SPOOL__IDLE_NSEARCHING(s) == 0 && p->sleepers) {
		w = p->sleepers;
		claim(p, w);
	}
	pthread_mutex_unlock(&p->sleep_mu);
	if (w) {
		/* Relaxed: a statistic. Once per wake, next to a futex call. */
		atomic_fetch_add_explicit(&p->wakeups, 1, memory_order_relaxed);
		spool__trace_wake(w->index);
		ck_ec32_inc(&w->ec, &ec_mode);
	}
}

void spool__idle_wake_all(struct spool_pool *p)
{
	pthread_mutex_lock(&p->sleep_mu);
	while (p->sleepers)
		claim(p, p->sleepers);
	pthread_mutex_unlock(&p->sleep_mu);
	/* Every event count, not only the claimed workers': the list may
	 * change as soon as the lock is dropped, and an extra increment only
	 * makes a worker look at its flag once more. */
	for (int i = 0; i < p->nworkers; i++)
		ck_ec32_inc(&p->workers[i].ec, &ec_mode);
}
