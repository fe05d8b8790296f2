/* SPDX-License-Identifier: MIT */
/*
 * Tutorial 6: fork-join without futures (docs/tutorial/6-fork-join.md).
 *
 * Part A computes fib(20) with spool_join on pools of one and two workers:
 * each call runs fib(n-1) and fib(n-2) as the two halves of a join, whose
 * results come back through structs on the caller's stack. No future is
 * made, so the pool's task counter stays at 0. Part B is a scope: one
 * spawn per element of an array, each writing its own slot of an array on
 * the caller's stack; then a scope in which one spawn fails and the
 * others, seeing the cancel request, stop early. Part C is spool_for: a
 * parallel sum and a parallel map over an array. Every result is checked.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <spool.h>

static int failed;

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "tutorial_6: %s is wrong\n", what);
		failed = 1;
	}
}

/* ---- part A: spool_join ------------------------------------------------- */

static spool_pool *pool; /* the pool every part runs on */

struct fib {
	int64_t n, r;
};

static int fib(void *arg)
{
	struct fib *f = arg;
	if (f->n < 2) {
		f->r = f->n;
		return 0;
	}
	/* Both halves borrow this frame: spool_join returns only after
	 * both have run. */
	struct fib a = {f->n - 1, 0}, b = {f->n - 2, 0};
	int err = spool_join(pool, fib, &a, fib, &b);
	f->r = a.r + b.r;
	return err;
}

static void part_a(int workers)
{
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = workers;
	if (spool_pool_create(&pool, &o) != 0)
		exit(1);
	struct fib f = {20, 0};
	/* From the main thread, outside the pool: the join is handed to
	 * the pool and main blocks until it is done. */
	int err = fib(&f);
	spool_pool_stats st;
	spool_pool_stats_get(pool, &st);
	printf("fib(20) by spool_join on %d worker(s): %lld (%llu tasks "
	       "run)\n",
	       workers, (long long)f.r, (unsigned long long)st.tasks_run);
	check(err == 0 && f.r == 6765 && st.tasks_run == 0, "part A");
	spool_pool_destroy(pool);
}

/* ---- part B: a scope ------------------------------------------------------
 */

struct square {
	int x, result;
};

static int square(void *arg)
{
	struct square *s = arg;
	s->result = s->x * s->x;
	return 0;
}

static atomic_int stopped_early;

/* Spins until the scope's cancel request arrives (a stand-in for a long
 * computation that polls it). */
static int patient(void *arg)
{
	(void)arg;
	while (!spool_cancel_requested())
		;
	atomic_fetch_add(&stopped_early, 1);
	return SPOOL_ECANCELLED;
}

static int fails(void *arg)
{
	(void)arg;
	return 42; /* a task's own error code */
}

static void part_b(void)
{
	struct square sq[10];
	spool_scope scope;
	spool_scope_begin(&scope, pool);
	for (int i = 0; i < 10; i++) {
		sq[i].x = i;
		spool_scope_spawn(&scope, square, &sq[i]);
	}
	int err = spool_scope_wait(&scope);
	int sum = 0;
	for (int i = 0; i < 10; i++)
		sum += sq[i].result;
	printf("scope, 10 spawns: sum of squares %d, wait returns %d\n", sum,
	       err);
	check(err == 0 && sum == 285, "the scope's sum");

	/* The failing spawn first: spawned from main, outside the pool, the
	 * spawns queue up in order, and a patient one taken first would
	 * hold its worker until a cancel request comes. */
	spool_scope_begin(&scope, pool);
	spool_scope_spawn(&scope, fails, NULL);
	for (int i = 0; i < 3; i++)
		spool_scope_spawn(&scope, patient, NULL);
	err = spool_scope_wait(&scope);
	printf("scope, one spawn fails: wait returns %d, %d others saw the "
	       "cancel request\n",
	       err, atomic_load(&stopped_early));
	check(err == 42 && atomic_load(&stopped_early) == 3,
	      "the failing scope");
}

/* ---- part C: spool_for ----------------------------------------------------
 */

enum { N = 1000000 };

struct arrays {
	int64_t *a, *b;
	atomic_llong sum;
};

static int sum_body(void *arg, int64_t lo, int64_t hi)
{
	struct arrays *v = arg;
	int64_t s = 0;
	for (int64_t i = lo; i < hi; i++)
		s += v->a[i];
	atomic_fetch_add(&v->sum, s); /* one add per piece, not per index */
	return 0;
}

static int map_body(void *arg, int64_t lo, int64_t hi)
{
	struct arrays *v = arg;
	for (int64_t i = lo; i < hi; i++)
		v->b[i] = v->a[i] * v->a[i] % 1000003;
	return 0;
}

static void part_c(void)
{
	struct arrays v = {.a = malloc(N * sizeof(int64_t)),
			   .b = malloc(N * sizeof(int64_t))};
	if (!v.a || !v.b)
		exit(1);
	atomic_init(&v.sum, 0);
	for (int64_t i = 0; i < N; i++)
		v.a[i] = i;
	int err = spool_for(pool, 0, N, 0, sum_body, &v);
	printf("spool_for sum of 0..%d: %lld\n", N - 1,
	       (long long)atomic_load(&v.sum));
	check(err == 0 && atomic_load(&v.sum) == (int64_t)N * (N - 1) / 2,
	      "the parallel sum");
	err = spool_for(pool, 0, N, 0, map_body, &v);
	int64_t x = N - 1;
	printf("spool_for map: b[%d] = %lld\n", N - 1, (long long)v.b[N - 1]);
	check(err == 0 && v.b[N - 1] == x * x % 1000003, "the parallel map");
	free(v.a);
	free(v.b);
}

int main(void)
{
	part_a(1);
	part_a(2);
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = 2;
	if (spool_pool_create(&pool, &o) != 0)
		return 1;
	part_b();
	part_c();
	spool_pool_destroy(pool);
	return failed;
}
