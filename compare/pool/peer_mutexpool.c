/* SPDX-License-Identifier: MIT */
/*
 * The plain pool most C code writes by hand, as the peer "mutexpool": one
 * FIFO list under one mutex, one condition variable, a malloc per task,
 * `threads` workers that sleep on the condition when the list is empty.
 * It runs "submit" only: a worker cannot help while it waits, so a task
 * that blocks on its children holds its thread and fork-join deadlocks as
 * soon as every worker waits.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peer.h"

/* ---- the pool ------------------------------------------------------------ */

struct mp_task {
	struct mp_task *next;
	void (*fn)(void *arg);
	void *arg;
};

struct mutexpool {
	pthread_mutex_t mu;
	pthread_cond_t nonempty;
	struct mp_task *head, *tail; /* under mu */
	bool stopping;               /* under mu */
	int nthreads;
	pthread_t *threads;
};

static void *mp_worker(void *arg)
{
	struct mutexpool *p = arg;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct mp_task *t;

		while (!p->head && !p->stopping)
			pthread_cond_wait(&p->nonempty, &p->mu);
		if (!p->head)
			break; /* stopping, and drained */
		t = p->head;
		p->head = t->next;
		if (!p->head)
			p->tail = NULL;
		pthread_mutex_unlock(&p->mu);
		t->fn(t->arg);
		free(t);
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Returns 0 or an errno value. */
static int mp_submit(struct mutexpool *p, void (*fn)(void *), void *arg)
{
	struct mp_task *t = malloc(sizeof(*t));

	if (!t)
		return ENOMEM;
	t->next = NULL;
	t->fn = fn;
	t->arg = arg;
	pthread_mutex_lock(&p->mu);
	if (p->tail)
		p->tail->next = t;
	else
		p->head = t;
	p->tail = t;
	pthread_cond_signal(&p->nonempty);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

/* Runs what is queued, then joins the workers. */
static void mp_destroy(struct mutexpool *p)
{
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_broadcast(&p->nonempty);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->nonempty);
	pthread_mutex_destroy(&p->mu);
	free(p->threads);
	free(p);
}

/* NULL with *rc set on failure. */
static struct mutexpool *mp_create(int nthreads, int *rc)
{
	struct mutexpool *p = calloc(1, sizeof(*p));

	*rc = ENOMEM;
	if (!p)
		return NULL;
	p->threads = calloc((size_t)nthreads, sizeof(*p->threads));
	if (!p->threads) {
		free(p);
		return NULL;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->nonempty, NULL);
	for (; p->nthreads < nthreads; p->nthreads++) {
		*rc = pthread_create(&p->threads[p->nthreads], NULL, mp_worker,
				     p);
		if (*rc) {
			mp_destroy(p);
			return NULL;
		}
	}
	*rc = 0;
	return p;
}

/* ---- the peer ------------------------------------------------------------ */

struct mp_state {
	struct mutexpool *pool;
	atomic_llong count;
	long long target;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done; /* under mu */
};

/* The tiny task; the one that completes the count wakes the joiner.
 * target is read before the increment: once the joiner has seen the last
 * increment it may write the next run's target, and every read of it
 * happens before that (the acq_rel increments form one release sequence
 * that the last one, and so the joiner, acquires). */
static void mp_tiny(void *arg)
{
	struct mp_state *st = arg;
	long long target = st->target;

	if (atomic_fetch_add_explicit(&st->count, 1, memory_order_acq_rel) +
		    1 ==
	    target) {
		pthread_mutex_lock(&st->mu);
		st->done = true;
		pthread_cond_signal(&st->cv);
		pthread_mutex_unlock(&st->mu);
	}
}

static const char *mp_cannot(enum pool_bench b)
{
	if (b == POOL_SUBMIT)
		return NULL;
	return "a mutex+condvar pool cannot help while waiting: a task "
	       "blocked on its children holds its worker, so fork-join "
	       "deadlocks once every worker waits";
}

static int mp_start(int threads, enum pool_bench b, int64_t n, void **state,
		    char *err)
{
	struct mp_state *st = calloc(1, sizeof(*st));
	int rc;

	(void)b, (void)n;
	if (!st)
		return snprintf(err, POOL_ERRLEN, "out of memory"), -1;
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);
	st->pool = mp_create(threads, &rc);
	if (!st->pool) {
		snprintf(err, POOL_ERRLEN, "mutexpool: %s", strerror(rc));
		free(st);
		return -1;
	}
	*state = st;
	return 0;
}

static int mp_run(void *state, enum pool_bench b, int64_t n, int64_t *answer,
		  char *err)
{
	struct mp_state *st = state;

	if (b != POOL_SUBMIT)
		return snprintf(err, POOL_ERRLEN, "%s", mp_cannot(b)), -1;
	/* Relaxed: no task runs between runs, and mp_submit's mutex
	 * publishes it. */
	atomic_store_explicit(&st->count, 0, memory_order_relaxed);
	st->target = n;
	st->done = false;
	for (int64_t i = 0; i < n; i++) {
		int rc = mp_submit(st->pool, mp_tiny, st);

		if (rc)
			return snprintf(err, POOL_ERRLEN, "mutexpool: %s",
					strerror(rc)),
			       -1;
	}
	pthread_mutex_lock(&st->mu);
	while (!st->done)
		pthread_cond_wait(&st->cv, &st->mu);
	pthread_mutex_unlock(&st->mu);
	*answer = atomic_load_explicit(&st->count, memory_order_acquire);
	return 0;
}

static void mp_stop(void *state)
{
	struct mp_state *st = state;

	mp_destroy(st->pool);
	pthread_cond_destroy(&st->cv);
	pthread_mutex_destroy(&st->mu);
	free(st);
}

const struct pool_peer pool_peer_mutexpool = {
	"mutexpool", mp_cannot, mp_start, mp_run, mp_stop,
};
