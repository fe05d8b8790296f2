/* SPDX-License-Identifier: MIT */
/*
 * spool: the pool workloads as a user writes them with the public API.
 * Every task is spool_submit() on the pool's executor; a parent waits for
 * its children with spool_future_result(), which on a pool worker runs
 * other tasks until the child is done (help-while-waiting), then releases
 * them. The root is submitted from the driver's thread, which blocks.
 * "submit" keeps all n futures, then waits for and releases each in order,
 * the way a caller joins work it started.
 */
#include <spool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peer.h"

/* The pool's executor: one pool per process (the driver runs each peer in
 * a child of its own), so tasks find it here instead of in their args. */
static spool_executor *ex;

static void *int_value(int64_t x)
{
	return (void *)(intptr_t)x;
}

/* Waits for fs[0..k-1] (newest first: a worker's own deque is LIFO), adds
 * their values into *sum and releases them. Returns the first error. */
static int join(spool_future **fs, int k, int64_t *sum)
{
	int err = 0;

	for (int i = k - 1; i >= 0; i--) {
		void *v;
		int e = spool_future_result(fs[i], SPOOL_FOREVER, &v);

		if (e && !err)
			err = e;
		*sum += (int64_t)(intptr_t)v;
		spool_future_release(fs[i]);
	}
	return err;
}

static int fib_task(void *arg, void **result)
{
	int64_t n = (int64_t)(intptr_t)arg, sum = 0;
	spool_future *fs[2];
	int err;

	if (n < 2) {
		*result = arg;
		return 0;
	}
	fs[0] = spool_submit(ex, fib_task, int_value(n - 1));
	fs[1] = spool_submit(ex, fib_task, int_value(n - 2));
	if (!fs[0] || !fs[1]) {
		spool_future_release(fs[0]);
		spool_future_release(fs[1]);
		return SPOOL_ENOMEM;
	}
	err = join(fs, 2, &sum);
	*result = int_value(sum);
	return err;
}

/* Children's arguments live in the parent's frame: the parent returns only
 * after every child is done. */
static int skynet_task(void *arg, void **result)
{
	const struct pool_skynet *s = arg;
	struct pool_skynet kids[10];
	spool_future *fs[10];
	int64_t sum = 0;
	int k, err;

	if (s->size == 1) {
		*result = int_value(s->num);
		return 0;
	}
	for (k = 0; k < 10; k++) {
		kids[k] = pool_skynet_child(*s, k);
		fs[k] = spool_submit(ex, skynet_task, &kids[k]);
		if (!fs[k])
			break;
	}
	err = join(fs, k, &sum);
	*result = int_value(sum);
	return k < 10 ? SPOOL_ENOMEM : err;
}

static int nqueens_task(void *arg, void **result)
{
	const struct pool_nqueens *s = arg;
	struct pool_nqueens kids[POOL_NQUEENS_MAX];
	spool_future *fs[POOL_NQUEENS_MAX];
	uint32_t free = pool_nqueens_free(*s);
	int64_t sum = 0;
	int k = 0, err;

	if (s->row == s->n) {
		*result = int_value(1);
		return 0;
	}
	while (free) {
		uint32_t bit = free & -free;

		free ^= bit;
		kids[k] = pool_nqueens_place(*s, bit);
		fs[k] = spool_submit(ex, nqueens_task, &kids[k]);
		if (!fs[k]) {
			join(fs, k, &sum);
			return SPOOL_ENOMEM;
		}
		k++;
	}
	err = join(fs, k, &sum);
	*result = int_value(sum);
	return err;
}

static atomic_long tiny_count;

static int tiny_task(void *arg, void **result)
{
	(void)arg, (void)result;
	/* Relaxed: the count is read after every future was waited for, and
	 * completing a future publishes what its task wrote. */
	atomic_fetch_add_explicit(&tiny_count, 1, memory_order_relaxed);
	return 0;
}

struct sp_state {
	spool_pool *pool;
	spool_future **futures; /* submit: one slot per task */
	int64_t cap;
};

static const char *spool_cannot(enum pool_bench b)
{
	(void)b;
	return NULL;
}

static int spool_start(int threads, enum pool_bench b, int64_t n, void **state,
		       char *err)
{
	spool_pool_options opts = SPOOL_POOL_OPTIONS_INIT;
	struct sp_state *st = calloc(1, sizeof(*st));
	int rc;

	if (!st)
		return snprintf(err, POOL_ERRLEN, "out of memory"), -1;
	if (b == POOL_SUBMIT) {
		/* Allocated and touched here, outside the timed run. */
		st->futures = calloc((size_t)n, sizeof(*st->futures));
		if (!st->futures) {
			free(st);
			return snprintf(err, POOL_ERRLEN, "out of memory"), -1;
		}
		memset(st->futures, 0, (size_t)n * sizeof(*st->futures));
		st->cap = n;
	}
	opts.workers = threads;
	opts.name = "bench";
	rc = spool_pool_create(&st->pool, &opts);
	if (rc) {
		free(st->futures);
		free(st);
		snprintf(err, POOL_ERRLEN, "spool_pool_create: %s",
			 spool_strerror(rc));
		return -1;
	}
	ex = spool_pool_executor(st->pool);
	*state = st;
	return 0;
}

/* Submits one task from this (outside) thread and waits for its value. */
static int run_root(spool_task_fn fn, void *arg, int64_t *answer, char *err)
{
	spool_future *f = spool_submit(ex, fn, arg);
	void *v;
	int rc;

	if (!f)
		return snprintf(err, POOL_ERRLEN, "spool_submit: no memory"),
		       -1;
	rc = spool_future_result(f, SPOOL_FOREVER, &v);
	spool_future_release(f);
	if (rc)
		return snprintf(err, POOL_ERRLEN, "the root task failed: %s",
				spool_strerror(rc)),
		       -1;
	*answer = (int64_t)(intptr_t)v;
	return 0;
}

static int run_submit(struct sp_state *st, int64_t n, int64_t *answer,
		      char *err)
{
	int64_t done = 0;

	if (n > st->cap)
		return snprintf(err, POOL_ERRLEN, "run(%lld) after start(%lld)",
				(long long)n, (long long)st->cap),
		       -1;
	/* Relaxed: no task runs between runs, and submit publishes it. */
	atomic_store_explicit(&tiny_count, 0, memory_order_relaxed);
	for (int64_t i = 0; i < n; i++) {
		st->futures[i] = spool_submit(ex, tiny_task, NULL);
		if (!st->futures[i]) {
			while (i-- > 0)
				spool_future_release(st->futures[i]);
			return snprintf(err, POOL_ERRLEN,
					"spool_submit: no memory"),
			       -1;
		}
	}
	for (int64_t i = 0; i < n; i++) {
		spool_future *f = st->futures[i];

		spool_future_wait(f, SPOOL_FOREVER);
		done += spool_future_error(f) == 0;
		spool_future_release(f);
	}
	if (atomic_load_explicit(&tiny_count, memory_order_relaxed) != done)
		return snprintf(err, POOL_ERRLEN,
				"%lld futures done but %ld tasks ran",
				(long long)done, atomic_load(&tiny_count)),
		       -1;
	*answer = done;
	return 0;
}

static int spool_run(void *state, enum pool_bench b, int64_t n, int64_t *answer,
		     char *err)
{
	struct sp_state *st = state;
	struct pool_skynet sk = {0, n};
	struct pool_nqueens nq = pool_nqueens_root((int)n);

	switch (b) {
	case POOL_FIB:
		return run_root(fib_task, int_value(n), answer, err);
	case POOL_SKYNET:
		return run_root(skynet_task, &sk, answer, err);
	case POOL_NQUEENS:
		return run_root(nqueens_task, &nq, answer, err);
	default:
		return run_submit(st, n, answer, err);
	}
}

static void spool_stop(void *state)
{
	struct sp_state *st = state;

	spool_pool_destroy(st->pool);
	free(st->futures);
	free(st);
	ex = NULL;
}

const struct pool_peer pool_peer_spool = {
	"spool", spool_cannot, spool_start, spool_run, spool_stop,
};
