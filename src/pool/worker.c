/* SPDX-License-Identifier: MIT */
/*
 * Workers: the loop each pool thread runs, where it looks for work, how it
 * runs a task, and how it helps while a task waits.
 *
 * Where work comes from, in order: the worker's own deque (newest first:
 * its data is hot, and fork-join trees unfold depth-first), the injection
 * queue (outside submissions, taken in batches that go into the worker's
 * deque where the others can steal them), then one steal attempt on each
 * other worker, starting at a random one. Every INJECT_EVERY tasks the
 * injection queue goes first, so that a worker busy with a long fork-join
 * computation does not starve outside submissions.
 *
 * Helping while waiting (the pool's half of the waiting seam, core/wait.h):
 * spool_future_wait() on a worker calls pool_wait(), which runs other tasks
 * (found as above) until the awaited future is final, so a
 * task that waits for its children never blocks the worker they need, even
 * in a pool of one. When there is nothing to run it spins briefly, then
 * blocks on the future itself with a short timeout that grows to HELP_BLOCK
 * _MAX_NS, and looks for work again each time the timeout passes: the CPU
 * is not burnt, and work that arrives meanwhile waits at most that long for
 * this worker (other workers are woken for it as usual). The deadline is
 * checked between tasks; a task run while helping is not interrupted, so a
 * wait can return later than its deadline by up to one task's run time.
 * The waiting task's cancel request is looked at once the wait has nothing
 * to run, and passed on to the future it waits for when the task made
 * that future (pass_cancel).
 *
 * Jobs (job.h) share the deques with tasks: an entry with its low bit set
 * is a job, which run_item hands to its exec function instead of starting
 * a future. A worker also takes jobs from the pool's job queue (outside
 * joins, scopes and loops) where it takes injected tasks.
 *
 * The deadlock check (core/wait.h). A wait that reaches the blocking stage
 * (nothing left to help with) and whose future may be stuck asks the
 * worker whether that future is a task running beneath the wait: a task
 * of the chain of waits on this worker's stack, which completes only
 * after the wait returns. The worker keeps no chain for it. Each task
 * record holds the worker that started it (run_task stores it, one store
 * into a line the start has just written), and a task whose record names
 * this worker and that is not final is running on this thread, and so is
 * beneath the wait that asks (pool_holds). So the waits themselves cost
 * nothing for the check; it runs only at the blocking stage, and then
 * again now and then (SPOOL__STUCK_RECHECK_*). A wait without a deadline
 * that finds its future stuck, a task of the chain itself or a
 * combinator or group that needs one, returns SPOOL_EDEADLK instead of
 * helping and blocking for ever.
 */
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include <ck_backoff.h>

#include "core/debug.h"
#include "core/futex.h"
#include "core/slab.h"
#include "core/wait.h"
#include "job.h"
#include "pool_impl.h"
#include "trace/trace.h"

SPOOL__TLS struct spool__worker *spool__self;

enum {
	INJECT_EVERY = 61,      /* tasks between injection-first looks */
	INJECT_BATCH = 16,      /* tasks moved from injection to the deque */
	SEARCH_ROUNDS = 9,      /* steal rounds before parking */
	SEARCH_YIELD_AFTER = 8, /* the last round yields the CPU (search) */
	BACKOFF_START = 64, /* ck_backoff_eb iterations in the first round */
	HELP_SPIN_ROUNDS = 8,
	WATCH_LOOKS = 64, /* looks for queued work before parking */
	WATCH_SPINS = 32, /* pause instructions between two looks */
};

#define HELP_BLOCK_MIN_NS INT64_C(20000)   /* 20 us */
#define HELP_BLOCK_MAX_NS INT64_C(1000000) /* 1 ms */

static inline struct spool__pool_task *
task_of_node(struct spool__inject_node *n)
{
	return (struct spool__pool_task *)((char *)n -
					   offsetof(struct spool__pool_task,
						    link));
}

static inline uint32_t next_rand(uint32_t *s)
{
	/* xorshift32 (Marsaglia 2003): victim selection only. */
	uint32_t x = *s;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

/* The oldest job handed in from outside the pool, one at a time (they are
 * rare, and each is a whole computation). */
static void *take_job(struct spool__worker *w)
{
	struct spool_pool *p = w->pool;
	if (!spool__inject_maybe_nonempty(&p->jobs) ||
	    !spool__inject_trylock(&p->jobs))
		return NULL;
	struct spool__inject_node *n;
	void *x = NULL;
	if (spool__inject_pop_locked(&p->jobs, &n) == SPOOL__INJECT_ITEM)
		x = spool__job_item(spool__job_of_node(n));
	spool__inject_unlock(&p->jobs);
	if (x)
		spool__trace_stale(); /* as for injected tasks, below */
	return x;
}

/* Takes the oldest injected task, and moves up to INJECT_BATCH - 1 more
 * into w's deque; else the oldest job from outside. */
static void *take_injected(struct spool__worker *w)
{
	struct spool_pool *p = w->pool;
	if (!spool__inject_maybe_nonempty(&p->inj) ||
	    !spool__inject_trylock(&p->inj))
		return take_job(w);
	struct spool__inject_node *n;
	struct spool__pool_task *first = NULL;
	int moved = 0;
	while (moved < INJECT_BATCH - 1 &&
	       spool__inject_pop_locked(&p->inj, &n) == SPOOL__INJECT_ITEM) {
		struct spool__pool_task *t = task_of_node(n);
		if (!first) {
			first = t;
		} else if (spool__deque_push(&w->dq, t) == 0) {
			moved++;
		} else {
			/* No memory to grow the deque: back to the queue,
			 * behind newer tasks, rather than lost. */
			spool__inject_push(&p->inj, n);
			break;
		}
	}
	spool__inject_unlock(&p->inj);
	if (moved)
		spool__idle_notify(p);
	/* The tasks moved into the deque were submitted by other threads,
	 * maybe after this thread's latest clock read: the next run must
	 * read the clock (src/trace/trace.h, "reusing a clock read"). */
	if (first)
		spool__trace_stale();
	return first ? (void *)first : take_job(w);
}

/* One steal attempt on each other worker. */
static void *steal_round(struct spool__worker *w)
{
	struct spool_pool *p = w->pool;
	int n = p->nworkers;
	if (n == 1)
		return NULL;
	unsigned start = next_rand(&w->rng) % (unsigned)n;
	for (int i = 0; i < n; i++) {
		struct spool__worker *v =
			&p->workers[(start + (unsigned)i) % (unsigned)n];
		if (v == w)
			continue;
		void *x;
		if (spool__deque_steal(&v->dq, &x) == SPOOL__STEAL_ITEM) {
			spool__stat_inc(&w->st.steals);
			spool__trace_steal(spool__item_is_job(x) ? NULL : x,
					   v->index);
			return x;
		}
		spool__stat_inc(&w->st.failed_steals);
	}
	return NULL;
}

/* Work from the injection queue, the job queue or another worker's
 * deque. */
static void *find_elsewhere(struct spool__worker *w)
{
	void *t = take_injected(w);
	return t ? t : steal_round(w);
}

/* A task or a job (job.h). Inlined into both loops: it is on every task's
 * path. */
static inline __attribute__((always_inline)) void *
find_task(struct spool__worker *w, bool *local)
{
	void *t;
	*local = false;
	if (--w->tick == 0) {
		w->tick = INJECT_EVERY;
		if ((t = take_injected(w)))
			return t;
	}
	if ((t = spool__deque_pop(&w->dq))) {
		*local = true;
		return t;
	}
	return find_elsewhere(w);
}

/* Runs t on w: start, call, complete and drop the pool's reference. A task
 * cancelled while queued is only dropped. local: t was popped from w's own
 * deque, so its run may reuse the latest trace stamp. Inlined into both
 * loops. */
static inline __attribute__((always_inline)) void
run_task(struct spool__worker *w, struct spool__pool_task *t, bool local)
{
	if (spool__future_start(&t->fut) == 0) {
		/* Relaxed: read only by this thread (pool_holds), or by
		 * another one as a value that can never equal its own
		 * worker. */
		atomic_store_explicit(&t->runner, w, memory_order_relaxed);
		spool_future *outer = spool__current_swap(&t->fut);
		void *value = NULL;
		spool__trace_run_begin_local(&t->fut, local);
		int rc = t->fn(t->arg, &value);
		spool__trace_run_end(&t->fut, rc);
		spool__current_swap(outer);
		/* Counted before completing, so that whoever sees the future
		 * final also sees the count. */
		spool__stat_inc(&w->st.tasks_run);
		/* The pool's reference goes in the same step. */
		spool__future_complete_owned_release(&t->fut, rc, value);
	} else {
		/* Cancelled while queued: it never runs. */
		spool_future_release(&t->fut);
	}
}

/* Runs x, a task or a job (job.h), on w. */
static inline __attribute__((always_inline)) void
run_item(struct spool__worker *w, void *x, bool local)
{
	if (spool__item_is_job(x)) {
		struct spool__job *j = spool__item_job(x);
		j->exec(j, false);
	} else {
		run_task(w, x, local);
	}
}

void spool__worker_run_item(struct spool__worker *w, void *x)
{
	run_item(w, x, true);
}

/* The searching phase: bounded steal rounds with backoff, the last one
 * after a sched_yield(), which lets a thread that waits for this core run
 * first (the one that will make the next task, when there are more
 * threads than cores). One yield, not several: under Linux's EEVDF
 * scheduler a yield forfeits the rest of the thread's slice, so beside
 * busy processes each one costs this worker a slice of theirs before it
 * runs again. spool-bench-mpi's farm, whose worker rank's pool thread
 * searches each time its runner ends, took 0.4-1.0 s beside two busy
 * processes with four yielding rounds and 0.13-0.26 s with one; on an
 * idle machine, 1M submissions from outside (spool-bench-pool's submit)
 * took 159 ms with one, 152 ms with four and 190 ms with none. */
static void *search(struct spool__worker *w)
{
	struct spool_pool *p = w->pool;
	if (!w->searching && !spool__idle_try_search(w))
		return NULL;
	unsigned c = BACKOFF_START;
	for (int round = 0; round < SEARCH_ROUNDS; round++) {
		void *t = find_elsewhere(w);
		if (t)
			return t;
		/* Relaxed: only a hint to stop searching early; the decision
		 * to leave re-reads it with acquire. */
		if (atomic_load_explicit(&p->draining, memory_order_relaxed))
			break;
		if (round < SEARCH_YIELD_AFTER)
			ck_backoff_eb(&c);
		else
			sched_yield();
	}
	return NULL;
}

/*
 * Before parking, an idle worker watches the queues for a while (some 2,000
 * pause instructions, tens of microseconds), reading only queue sizes. The
 * reason is the park's heavy fence (park.c P2, a membarrier that
 * interrupts every CPU running a thread of the process, the submitter's
 * included). When one outside thread submits at about the rate the workers
 * drain, a worker that may not search (half the workers already do) used
 * to park at once, and the heavy fence's few microseconds always let the
 * next task arrive: over 4,000 park attempts per million submissions,
 * about 100 of which slept. With the watch, about 20 parks remain, with
 * as many heavy fences, and the round time fell from 0.19-0.25 s to
 * 0.12-0.15 s (`perf stat -e syscalls:sys_enter_membarrier` on 1M
 * submissions to a 2-worker pool). The protocol is unchanged: the watch
 * is only a delay before it, and a watcher that sees work goes back to
 * find_task like any running worker.
 */
static bool watch(struct spool__worker *w)
{
	struct spool_pool *p = w->pool;
	spool__slab_prefault();
	for (int look = 0; look < WATCH_LOOKS; look++) {
		for (int i = 0; i < WATCH_SPINS; i++)
			spool__cpu_relax();
		if (spool__pool_may_have_work(p) ||
		    atomic_load_explicit(&p->draining, memory_order_relaxed))
			return true;
	}
	return false;
}

/* A cancel of the waiting task follows its await (spool/future.h,
 * "Cancellation follows the await"): once the task has the request, f is
 * cancelled if the task owns it, and the wait goes on until f is final, as
 * every pool wait does (the task's children may use its stack). Looked at
 * once the wait has found nothing to run (help_idle): before each block,
 * which lasts at most HELP_BLOCK_MAX_NS, and after each task it finds
 * later. Not before (help): a look there, even one every 64 tasks, cost
 * the common fork-join wait (one child run, then done) some 7
 * instructions (callgrind, fib(20) on one worker), so a wait that keeps
 * finding work passes the cancel on when that work runs out. Returns
 * true once it has looked and found the request (f may be cancelled
 * again harmlessly, but need not be). The task is the current future here,
 * as run_item restores it after each task it runs. Out of line: rare. */
static __attribute__((noinline, cold)) bool pass_cancel(spool_future *f)
{
	if (!spool_cancel_requested())
		return false;
	spool__await_cancel(spool_current_future(), f);
	return true;
}

/* The whole of help() once it found nothing to run: the same loop with
 * its spinning, blocking and deadlock-check state, out of line so that
 * the common wait (its child is on the deque) sets none of it up. */
static __attribute__((noinline)) int
help_idle(struct spool__worker *w, spool_future *f, int64_t deadline)
{
	bool passed = false;
	int idle = 0;
	int64_t block_ns = HELP_BLOCK_MIN_NS;
	int64_t look_at = 0, look_every = 0; /* the deadlock check's */
	int64_t debug_first = 0; /* debug mode's hopeless-wait check */
	unsigned c = BACKOFF_START;
	for (;;) {
		/* Acquire: when final, the outcome is visible to the caller. */
		if (spool__future_is_final(f))
			return 0;
		/* find_task, so that the injection queue gets its turn even
		 * while a fork-join computation runs inside this wait. */
		bool local;
		void *t = find_task(w, &local);
		if (t) {
			run_item(w, t, local);
			if (!passed)
				passed = pass_cancel(f);
			idle = 0;
			block_ns = HELP_BLOCK_MIN_NS;
			c = BACKOFF_START;
		} else if (idle < HELP_SPIN_ROUNDS) {
			idle++;
			spool__trace_stale(); /* time passes unrecorded */
			ck_backoff_eb(&c);
		} else {
			if (!passed)
				passed = pass_cancel(f);
			int64_t now = spool__now_ns();
			if (now >= deadline)
				return SPOOL_ETIMEDOUT;
			if (deadline == INT64_MAX && now >= look_at) {
				if (spool__future_stuck(f))
					return SPOOL_EDEADLK;
				look_every =
					!look_every
						? SPOOL__STUCK_RECHECK_MIN_NS
					: look_every < SPOOL__STUCK_RECHECK_MAX_NS
						? 2 * look_every
						: look_every;
				look_at = now + look_every;
			}
			if (__builtin_expect(spool__debug_on(), 0))
				spool__debug_worker_wait(f, now, &debug_first);
			int64_t until = deadline - now > block_ns
						? now + block_ns
						: deadline;
			if (spool__future_block(f, until) == 0)
				return 0;
			if (block_ns < HELP_BLOCK_MAX_NS)
				block_ns *= 2;
			continue;
		}
		if (deadline != INT64_MAX && spool__now_ns() >= deadline)
			return spool__future_is_final(f) ? 0 : SPOOL_ETIMEDOUT;
	}
}

/* Helps until f is final, the deadline passes or f is found stuck. */
static int help(struct spool__worker *w, spool_future *f, int64_t deadline)
{
	for (;;) {
		/* Acquire: when final, the outcome is visible to the caller. */
		if (spool__future_is_final(f))
			return 0;
		/* find_task, so that the injection queue gets its turn even
		 * while a fork-join computation runs inside this wait. */
		bool local;
		void *t = find_task(w, &local);
		if (!t)
			return help_idle(w, f, deadline);
		run_item(w, t, local);
		if (deadline != INT64_MAX && spool__now_ns() >= deadline)
			return spool__future_is_final(f) ? 0 : SPOOL_ETIMEDOUT;
	}
}

/* Helps until l is open (job.h): a join's wait for its stolen half, a
 * scope's for its spawns, a job handed to another pool. The same phases as
 * help(): run what there is, spin briefly, then block on the latch in
 * short slices, looking for work between them. */
static __attribute__((noinline)) void wait_latch_idle(struct spool__worker *w,
						      struct spool__latch *l)
{
	int idle = 0;
	int64_t block_ns = HELP_BLOCK_MIN_NS;
	unsigned c = BACKOFF_START;
	for (;;) {
		if (spool__latch_open(l))
			return;
		bool local;
		void *t = find_task(w, &local);
		if (t) {
			run_item(w, t, local);
			idle = 0;
			block_ns = HELP_BLOCK_MIN_NS;
			c = BACKOFF_START;
		} else if (idle < HELP_SPIN_ROUNDS) {
			idle++;
			spool__trace_stale(); /* time passes unrecorded */
			ck_backoff_eb(&c);
		} else {
			spool__trace_stale();
			if (spool__latch_block(l, spool__now_ns() + block_ns) ==
			    0)
				return;
			if (block_ns < HELP_BLOCK_MAX_NS)
				block_ns *= 2;
		}
	}
}

void spool__worker_wait_latch(struct spool__worker *w, struct spool__latch *l)
{
	for (;;) {
		if (spool__latch_open(l))
			return;
		bool local;
		void *t = find_task(w, &local);
		if (!t) {
			wait_latch_idle(w, l);
			return;
		}
		run_item(w, t, local);
	}
}

static int pool_wait(void *ctx, spool_future *f, int64_t deadline)
{
	return help(ctx, f, deadline);
}

/* Called with f not final and referenced by the caller, who is blocked in
 * a wait on w's thread. A pool task started by w that is not final is
 * running on this thread, beneath that wait (a task runs to its end on the
 * worker that started it). While f is queued, the word holds a queue link
 * or a free-list link from an earlier life of the record, never a
 * worker's address; and w itself wrote any value that equals w, in this
 * life of the record, since it started f. */
static bool pool_holds(void *ctx, const spool_future *f)
{
	if (!spool__is_pool_task(f))
		return false;
	const struct spool__pool_task *t = (const struct spool__pool_task *)f;
	/* Relaxed: see above; a value written by another thread is never
	 * ctx. */
	return atomic_load_explicit(&t->runner, memory_order_relaxed) == ctx;
}

static const struct spool__wait_ops pool_wait_ops = {
	.wait = pool_wait,
	.post = NULL,
	.holds = pool_holds,
};

static void set_name(struct spool__worker *w)
{
	char name[16], suffix[12];
	int sl = snprintf(suffix, sizeof suffix, "-%d", w->index);
	int room = (int)sizeof name - 1 - sl;
	snprintf(name, sizeof name, "%.*s%s", room > 0 ? room : 0,
		 w->pool->name, suffix);
	pthread_setname_np(pthread_self(), name);
}

/* How long an idle worker of a draining pool sleeps between looks for
 * work that a still-running task may spawn. */
enum { DRAIN_POLL_NS = 100000 };

/* Called with the worker's own deque empty (find_task popped it dry) and
 * nothing found elsewhere, while the pool drains. Returns true when the
 * worker may leave, false when there is work to look for again.
 *
 * Leaving when the queues look empty is not enough: a task still running
 * on another worker may spawn a child onto its own deque and then wait
 * for it without helping (a plain spin or condition variable), and its
 * child needs a worker that has not left. So workers leave together: a
 * worker with no work counts itself idle under drain_mu and polls; the
 * one that brings the count to nlive, with no work in any queue, declares
 * the pool drained. Why nothing is stranded: at that moment no worker
 * runs a task (each counted itself idle, and an idle worker runs nothing
 * until it uncounts itself), outside submissions ended with the gate, so
 * no push can happen any more; and each worker counted itself only after
 * popping its own deque dry and finding every queue empty, while any
 * task pushed later by a still-running worker either stays on that
 * worker's deque, which it pops dry before counting itself, or is stolen
 * by a worker that uncounted itself to run it. Shutdown is rare and
 * short, so a poll under a mutex costs nothing that matters. */
static bool drain_leave(struct spool__worker *w)
{
	struct spool_pool *p = w->pool;
	bool leave = false;
	pthread_mutex_lock(&p->drain_mu);
	if (p->drained) {
		leave = true;
	} else if (!spool__pool_may_have_work(p)) {
		p->drain_idle++;
		for (;;) {
			if (p->drained) {
				leave = true;
				break;
			}
			if (spool__pool_may_have_work(p)) {
				p->drain_idle--;
				break;
			}
			if (p->drain_idle == p->nlive) {
				p->drained = true;
				leave = true;
				break;
			}
			pthread_mutex_unlock(&p->drain_mu);
			struct timespec ts = {0, DRAIN_POLL_NS};
			nanosleep(&ts, NULL);
			pthread_mutex_lock(&p->drain_mu);
		}
	}
	pthread_mutex_unlock(&p->drain_mu);
	return leave;
}

void *spool__worker_main(void *arg)
{
	struct spool__worker *w = arg;
	struct spool_pool *p = w->pool;
	spool__self = w;
	set_name(w);
	spool__trace_thread_name("worker", w->index);
	struct spool__wait_context outer = spool__wait_context_set(
		(struct spool__wait_context){&pool_wait_ops, w});
	spool_executor *outer_exec = spool__current_executor_swap(&p->exec);
	w->tick = INJECT_EVERY;
	for (;;) {
		bool local;
		void *t = find_task(w, &local);
		if (!t)
			t = search(w);
		if (t) {
			if (w->searching)
				spool__idle_found_work(w);
			run_item(w, t, local);
			continue;
		}
		/* Acquire: pairs with shutdown's store, made after the gate
		 * drained, so drain_leave sees every accepted push. */
		if (atomic_load_explicit(&p->draining, memory_order_acquire) &&
		    drain_leave(w))
			break;
		if (!watch(w))
			spool__idle_park(w);
	}
	spool__idle_leave(w);
	spool__current_executor_swap(outer_exec);
	spool__wait_context_set(outer);
	spool__self = NULL;
	return NULL;
}
