/* SPDX-License-Identifier: MIT */
/*
 * Waiting for jobs, and running one in a pool from a thread outside it
 * (job.h has the design).
 *
 * A thread waits for a latch in one of two ways. A pool worker (of any
 * pool) helps: it runs its own pool's work until the latch opens
 * (worker.c, spool__worker_wait_latch), so a task that waits never idles
 * a worker that its own work may need. Any other thread spins briefly and
 * then sleeps on the latch's futex.
 *
 * spool__pool_run_outside() is how spool_join, spool_for and their kin
 * behave when called from a thread that is not one of the pool's workers:
 * the whole call is wrapped in a job on the caller's stack, handed in
 * through the pool's job queue, and the caller waits for it as above.
 * Inside the pool it then runs as it would in a task (its halves pushed on
 * the deque of the worker that took it), as rayon's in_worker_cold does.
 */
#include <errno.h>
#include <time.h>

#include "core/futex.h"
#include "core/wait.h"
#include "job.h"
#include "pool_impl.h"

int spool__latch_block(struct spool__latch *l, int64_t deadline)
{
	uint64_t v = atomic_load_explicit(&l->word, memory_order_acquire);
	for (;;) {
		if ((v >> 1) == 0)
			return 0;
		if (!(v & SPOOL__LATCH_WAITER)) {
			/* Acquire on failure too: a value that shows the latch
			 * open must show what the jobs wrote. */
			if (!atomic_compare_exchange_weak_explicit(
				    &l->word, &v, v | SPOOL__LATCH_WAITER,
				    memory_order_acquire, memory_order_acquire))
				continue;
			v |= SPOOL__LATCH_WAITER;
		}
		struct timespec ts, *tsp = NULL;
		if (deadline != INT64_MAX) {
			if (spool__now_ns() >= deadline)
				return SPOOL_ETIMEDOUT;
			ts.tv_sec = deadline / SPOOL_NS_PER_S;
			ts.tv_nsec = deadline % SPOOL_NS_PER_S;
			tsp = &ts;
		}
		/* The kernel compares the low half, which every count-down
		 * changes (job.h). */
		spool__futex_wait(spool__latch_futex(l), (uint32_t)v, tsp);
		v = atomic_load_explicit(&l->word, memory_order_acquire);
	}
}

/* A few hundred nanoseconds of polling catch a job that is about to end
 * without a system call, as spool__future_block does. */
enum { SPIN_ROUNDS = 128 };

void spool__latch_wait(struct spool__latch *l)
{
	struct spool__worker *w = spool__self;
	if (w) {
		spool__worker_wait_latch(w, l);
		return;
	}
	for (int i = 0; i < SPIN_ROUNDS; i++) {
		if (spool__latch_open(l))
			return;
		spool__cpu_relax();
	}
	spool__latch_block(l, INT64_MAX);
}

/* A call handed to a pool from outside it. */
struct outside_job {
	struct spool__job job; /* first */
	int (*fn)(void *arg);
	void *arg;
	spool_future *cur; /* the caller's task, for its cancel request */
	int err;
	struct spool__latch done;
};

static void outside_exec(struct spool__job *j, bool cancel)
{
	struct outside_job *o = (struct outside_job *)j;
	int err = SPOOL_ECANCELLED;
	if (!cancel) {
		spool_future *outer = spool__current_swap(o->cur);
		err = o->fn(o->arg);
		spool__current_swap(outer);
	}
	o->err = err;
	spool__latch_count_down(&o->done); /* o may be gone after this */
}

int spool__pool_run_outside(struct spool_pool *p, int (*fn)(void *arg),
			    void *arg)
{
	struct outside_job o = {
		.job = {.exec = outside_exec},
		.fn = fn,
		.arg = arg,
		.cur = spool_current_future(),
		.err = 0,
	};
	spool__latch_init(&o.done, 1);
	int rc = spool__pool_push_job(p, &o.job);
	if (rc != 0)
		return rc;
	spool__latch_wait(&o.done);
	return o.err;
}
