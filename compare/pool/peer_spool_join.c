/* SPDX-License-Identifier: MIT */
/*
 * spool-join: the pool workloads with spool's fork-join calls that make no
 * future. fib is one spool_join per call (no cut-off, as every peer);
 * skynet and nqueens open a scope per node and spawn its children into it
 * with storage on the node's own stack (spool_scope_spawn_in), running
 * the last child in place (but at the root, which the driver's thread
 * opens: its spawns go to the pool, and the thread only waits); for_sum and
 * for_map are spool_for over the arrays, with grain 0 (spool_for's lazy
 * splitting decides). Results come back through the arguments, on the callers'
 * stacks. The root is a call from the driver's thread, which hands the work to
 * the pool and blocks (spool_join, spool_for and spool_scope_wait all do that
 * outside the pool). "submit" is not a fork-join workload: spool_submit is how
 * an outside thread starts independent tasks, so this peer does not run it.
 */
#include <spool.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peer.h"

/* One pool per process (the driver runs each peer in a child of its own). */
static spool_pool *pool;

/* ---- fib ----------------------------------------------------------------- */

struct fib {
	int64_t n, r;
};

static int fib_call(void *arg)
{
	struct fib *f = arg;
	if (f->n < 2) {
		f->r = f->n;
		return 0;
	}
	struct fib a = {f->n - 1, 0}, b = {f->n - 2, 0};
	int err = spool_join(pool, fib_call, &a, fib_call, &b);
	f->r = a.r + b.r;
	return err;
}

/* ---- skynet and nqueens: a scope per node -------------------------------- */

struct sky {
	struct pool_skynet s;
	int64_t r;
	bool root;
};

static int sky_call(void *arg)
{
	struct sky *n = arg;
	int last = n->root ? 10 : 9; /* children spawned */
	if (n->s.size == 1) {
		n->r = n->s.num;
		return 0;
	}
	struct sky kids[10];
	spool_scope_job jobs[10];
	spool_scope scope;
	int e9 = 0, err = spool_scope_begin(&scope, pool);
	if (err)
		return err;
	for (int i = 0; i < 10; i++) {
		kids[i].s = pool_skynet_child(n->s, i);
		kids[i].root = false;
	}
	for (int i = 0; i < last; i++)
		spool_scope_spawn_in(&scope, &jobs[i], sky_call, &kids[i]);
	if (last < 10)
		e9 = sky_call(&kids[9]);
	err = spool_scope_wait(&scope);
	n->r = 0;
	for (int i = 0; i < 10; i++)
		n->r += kids[i].r;
	return err ? err : e9;
}

struct queens {
	struct pool_nqueens s;
	int64_t r;
	bool root;
};

static int queens_call(void *arg)
{
	struct queens *q = arg;
	if (q->s.row == q->s.n) {
		q->r = 1;
		return 0;
	}
	uint32_t free = pool_nqueens_free(q->s);
	if (!free) {
		q->r = 0;
		return 0;
	}
	struct queens kids[POOL_NQUEENS_MAX];
	spool_scope_job jobs[POOL_NQUEENS_MAX];
	spool_scope scope;
	int k = 0, err = spool_scope_begin(&scope, pool);
	if (err)
		return err;
	while (free) {
		uint32_t bit = free & -free;
		free ^= bit;
		kids[k].s = pool_nqueens_place(q->s, bit);
		kids[k].root = false;
		if (free || q->root)
			spool_scope_spawn_in(&scope, &jobs[k], queens_call,
					     &kids[k]);
		k++;
	}
	int last = q->root ? 0 : queens_call(&kids[k - 1]);
	err = spool_scope_wait(&scope);
	q->r = 0;
	for (int i = 0; i < k; i++)
		q->r += kids[i].r;
	return err ? err : last;
}

/* ---- the loops -------------------------------------------------------------
 */

struct loop {
	struct pool_loop_arrays arr;
	_Atomic int64_t sum;
};

static int sum_body(void *arg, int64_t lo, int64_t hi)
{
	struct loop *l = arg;
	const int64_t *a = l->arr.a;
	int64_t s = 0;
	for (int64_t i = lo; i < hi; i++)
		s += a[i];
	/* Relaxed: spool_for's return orders every call before the read. */
	atomic_fetch_add_explicit(&l->sum, s, memory_order_relaxed);
	return 0;
}

static int map_body(void *arg, int64_t lo, int64_t hi)
{
	struct loop *l = arg;
	const int64_t *a = l->arr.a;
	int64_t *b = l->arr.b;
	for (int64_t i = lo; i < hi; i++)
		b[i] = pool_for_map_value(a[i]);
	return 0;
}

/* ---- the peer --------------------------------------------------------------
 */

static const char *join_cannot(enum pool_bench b)
{
	if (b == POOL_SUBMIT)
		return "submit starts independent tasks from outside the pool, "
		       "which is what spool_submit is for (impl spool); "
		       "spool-join has no fork-join to do there";
	return NULL;
}

static int join_start(int threads, enum pool_bench b, int64_t n, void **state,
		      char *err)
{
	spool_pool_options opts = SPOOL_POOL_OPTIONS_INIT;
	struct loop *l = calloc(1, sizeof(*l));
	int rc;

	if (!l)
		return snprintf(err, POOL_ERRLEN, "out of memory"), -1;
	if ((b == POOL_FOR_SUM || b == POOL_FOR_MAP) &&
	    pool_loop_arrays_new(&l->arr, b, n) != 0) {
		free(l);
		return snprintf(err, POOL_ERRLEN, "out of memory"), -1;
	}
	opts.workers = threads;
	opts.name = "bench";
	rc = spool_pool_create(&pool, &opts);
	if (rc) {
		pool_loop_arrays_free(&l->arr);
		free(l);
		return snprintf(err, POOL_ERRLEN, "spool_pool_create: %s",
				spool_strerror(rc)),
		       -1;
	}
	*state = l;
	return 0;
}

static int join_run(void *state, enum pool_bench b, int64_t n, int64_t *answer,
		    char *err)
{
	struct loop *l = state;
	int rc;

	switch (b) {
	case POOL_FIB: {
		struct fib f = {n, 0};
		rc = fib_call(&f);
		*answer = f.r;
		break;
	}
	case POOL_SKYNET: {
		struct sky s = {{0, n}, 0, true};
		rc = sky_call(&s);
		*answer = s.r;
		break;
	}
	case POOL_NQUEENS: {
		struct queens q = {pool_nqueens_root((int)n), 0, true};
		rc = queens_call(&q);
		*answer = q.r;
		break;
	}
	case POOL_FOR_SUM:
		/* Relaxed: no loop runs between runs. */
		atomic_store_explicit(&l->sum, 0, memory_order_relaxed);
		rc = spool_for(pool, 0, n, 0, sum_body, l);
		*answer = atomic_load_explicit(&l->sum, memory_order_relaxed);
		break;
	case POOL_FOR_MAP:
		rc = spool_for(pool, 0, n, 0, map_body, l);
		*answer = pool_loop_map_answer(l->arr.b, n);
		break;
	default:
		return snprintf(err, POOL_ERRLEN, "%s", join_cannot(b)), -1;
	}
	if (rc)
		return snprintf(err, POOL_ERRLEN, "the root failed: %s",
				spool_strerror(rc)),
		       -1;
	return 0;
}

static void join_stop(void *state)
{
	struct loop *l = state;

	spool_pool_destroy(pool);
	pool = NULL;
	pool_loop_arrays_free(&l->arr);
	free(l);
}

const struct pool_peer pool_peer_spool_join = {
	"spool-join", join_cannot, join_start, join_run, join_stop,
};
