/* SPDX-License-Identifier: MIT */
/*
 * Suite "pool_oom": the out-of-memory promises of the pool (spool/pool.h,
 * spool/executor.h), proven by making each allocation fail in turn
 * (test/oom_support.h): spool_pool_create() returns SPOOL_ENOMEM and
 * leaves nothing running; spool_submit() returns NULL, from outside the
 * pool and from a worker alike, and the work already accepted still runs;
 * a shutdown with pending work still brings every future to a final state
 * and destroy joins. Every wait is bounded; the fixture checks that no
 * future is left alive, and LeakSanitizer (AddressSanitizer builds) that
 * no block is.
 *
 * The allocations swept: the pool and its deques (create), the slab blocks
 * of outside submissions (one per some 16,000 records), a worker's task
 * records (a fresh pool has none cached, so every child of a fork-join
 * root is one) and the growth of a worker's deque (past 256 queued tasks:
 * a one-worker pool whose root queues 300 children grows it exactly once).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "oom_support.h"
#include "support.h"

/* A bound for every wait: nothing here should take more than a fraction. */
#define BOUND (10 * SPOOL_NS_PER_S)

/* Addresses used as arguments; a task's value is its argument + 1. */
static char V[32];

static int add_one(void *arg, void **result)
{
	*result = (char *)arg + 1;
	return 0;
}

/* f was submitted with argument arg: it ran and succeeded. */
static void assert_ran(spool_future *f, void *arg)
{
	ck_assert_int_eq(spool_future_wait(f, BOUND), 0);
	ck_assert_int_eq(spool_future_state(f), SPOOL_DONE);
	ck_assert_ptr_eq(spool_future_value(f), (char *)arg + 1);
}

static spool_pool *make_pool(int workers)
{
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = workers;
	o.name = "oom";
	spool_pool *p = NULL;
	ck_assert_int_eq(spool_pool_create(&p, &o), 0);
	return p;
}

/* ---- create ----------------------------------------------------------- */

static bool create_run(long k)
{
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = 3;
	spool_pool *p = (void *)&V[0];
	arm(k);
	int rc = spool_pool_create(&p, &o);
	bool f = fired();
	if (rc != 0) {
		ck_assert(f);
		ck_assert_int_eq(rc, SPOOL_ENOMEM);
		ck_assert_ptr_null(p);
		return f;
	}
	/* A pool that was made works. */
	spool_future *t = spool_submit(spool_pool_executor(p), add_one, &V[1]);
	ck_assert_ptr_nonnull(t);
	assert_ran(t, &V[1]);
	spool_future_release(t);
	spool_pool_destroy(p);
	return f;
}

START_TEST(create_out_of_memory_is_enomem_and_leaves_nothing_running)
{
	/* The pool, then one deque per worker. */
	ck_assert_int_ge(sweep_upto("create", create_run, 16), 5);
}
END_TEST

/* ---- submit from outside ---------------------------------------------- */

/* More than one slab block of records (some 16,000 each), so that the
 * sweep fails a submission in the middle of the run, not only the first. */
enum { NOUT = 20000 };

struct outside {
	spool_executor *ex;
	spool_future **f; /* NOUT of them */
};

/* A thread of its own, so that its first submission needs a slab block
 * whatever this thread submitted before. */
static void *outside_main(void *arg)
{
	struct outside *o = arg;
	for (size_t i = 0; i < NOUT; i++)
		o->f[i] = spool_submit(o->ex, add_one, &V[i % 32]);
	return NULL;
}

static bool outside_run(long k)
{
	spool_pool *p = make_pool(2);
	struct outside o = {spool_pool_executor(p),
			    calloc(NOUT, sizeof(spool_future *))};
	ck_assert_ptr_nonnull(o.f);
	pthread_t th;
	arm(k); /* published to the thread by its creation */
	ck_assert_int_eq(pthread_create(&th, NULL, outside_main, &o), 0);
	pthread_join(th, NULL);
	size_t nulls = 0;
	for (size_t i = 0; i < NOUT; i++) {
		if (!o.f[i]) {
			nulls++;
			continue;
		}
		assert_ran(o.f[i], &V[i % 32]);
		spool_future_release(o.f[i]);
	}
	spool_pool_destroy(p);
	bool f = fired();
	/* NULL only for no memory, and for exactly the submission whose
	 * allocation failed (a deque growth that fails on a worker puts
	 * the task back in the queue instead). */
	at_most_one_refused((long)nulls, f);
	free(o.f);
	return f;
}

START_TEST(submit_from_outside_out_of_memory_is_null_and_loses_no_accepted_task)
{
	/* The first block, the second block, then the run without a
	 * failure, at least (a worker's deque may grow too). */
	ck_assert_int_ge(sweep_upto("submit from outside", outside_run, 64), 3);
}
END_TEST

/* ---- submit from a worker: fork-join ---------------------------------- */

/* Past the 256 items a deque holds before it first grows. */
enum { NCHILD = 300 };

static char C[NCHILD]; /* the children's arguments */

struct forkjoin {
	spool_executor *ex;
	size_t nchild;
	spool_future *kid[NCHILD];
	int wait_rc[NCHILD];
};

/* Submits the children, then waits for each (helping, on a worker). */
static int root_task(void *arg, void **result)
{
	struct forkjoin *j = arg;
	for (size_t i = 0; i < j->nchild; i++)
		j->kid[i] = spool_submit(j->ex, add_one, &C[i]);
	for (size_t i = 0; i < j->nchild; i++)
		j->wait_rc[i] = j->kid[i] ? spool_future_wait(j->kid[i], BOUND)
					  : 0;
	*result = j;
	return 0;
}

/* Checks the children of a root that ran; returns how many submissions
 * returned NULL, and releases the others. */
static size_t check_children(struct forkjoin *j)
{
	size_t nulls = 0;
	for (size_t i = 0; i < j->nchild; i++) {
		if (!j->kid[i]) {
			nulls++;
			continue;
		}
		ck_assert_int_eq(j->wait_rc[i], 0);
		assert_ran(j->kid[i], &C[i]);
		spool_future_release(j->kid[i]);
	}
	return nulls;
}

static bool forkjoin_run(long k, int workers)
{
	spool_pool *p = make_pool(workers);
	struct forkjoin *j = calloc(1, sizeof *j);
	ck_assert_ptr_nonnull(j);
	j->ex = spool_pool_executor(p);
	j->nchild = NCHILD;
	arm(k);
	spool_future *root = spool_submit(j->ex, root_task, j);
	size_t nulls = 0;
	if (root) {
		ck_assert_int_eq(spool_future_wait(root, BOUND), 0);
		ck_assert_int_eq(spool_future_state(root), SPOOL_DONE);
		ck_assert_ptr_eq(spool_future_value(root), j);
		nulls = check_children(j);
		spool_future_release(root);
	}
	spool_pool_destroy(p);
	bool f = fired();
	if (!root)
		ck_assert(f);
	/* Exactly the child whose record or deque slot could not be had is
	 * refused; the ones before and after it run. */
	at_most_one_refused((long)nulls, f);
	free(j);
	return f;
}

static bool forkjoin_1_run(long k)
{
	return forkjoin_run(k, 1);
}

static bool forkjoin_2_run(long k)
{
	return forkjoin_run(k, 2);
}

START_TEST(
	submit_from_a_worker_out_of_memory_is_null_and_loses_no_accepted_task)
{
	/* One worker: every child is a fresh record, and the 257th queued
	 * one grows the deque: at least NCHILD + 1 allocations. */
	ck_assert_int_gt(
		sweep_upto("fork-join, 1 worker", forkjoin_1_run, NCHILD + 16),
		NCHILD + 1);
	/* Two: the other worker steals while the root submits. */
	ck_assert_int_gt(
		sweep_upto("fork-join, 2 workers", forkjoin_2_run, NCHILD + 16),
		1);
}
END_TEST

/* ---- shutdown with pending work --------------------------------------- */

enum { NROOT = 3, NSMALL = 40 };

static _Atomic bool gate_open;
static _Atomic int roots_started;

/* Sleeps until the gate opens (bounded), then forks NSMALL children and
 * joins. Sleeps, rather than waits on a future, so that its worker does
 * not help by starting the other roots: they stay queued. */
static int gated_root(void *arg, void **result)
{
	atomic_fetch_add(&roots_started, 1);
	int64_t t0 = spool_test_now_ns();
	while (!atomic_load(&gate_open) && spool_test_now_ns() - t0 < BOUND)
		spool_test_sleep_ns(SPOOL_NS_PER_MS / 10);
	return root_task(arg, result);
}

static bool shutdown_run(long k, unsigned flags)
{
	spool_pool *p = make_pool(1);
	spool_executor *ex = spool_pool_executor(p);
	struct forkjoin *j = calloc(NROOT, sizeof *j);
	ck_assert_ptr_nonnull(j);
	atomic_store(&gate_open, false);
	atomic_store(&roots_started, 0);
	spool_future *root[NROOT];
	for (int r = 0; r < NROOT; r++) {
		j[r].ex = ex;
		j[r].nchild = NSMALL;
		root[r] = spool_submit(ex, gated_root, &j[r]);
		ck_assert_ptr_nonnull(root[r]);
	}
	/* The one worker holds the first root: the others stay queued. */
	int64_t t0 = spool_test_now_ns();
	while (atomic_load(&roots_started) == 0) {
		ck_assert_int_lt(spool_test_now_ns() - t0, BOUND);
		spool_test_sleep_ns(SPOOL_NS_PER_MS / 10);
	}
	arm(k);
	ck_assert_int_eq(spool_pool_shutdown(p, flags), 0);
	/* Refused from outside after the shutdown, as promised; NULL only
	 * when not even the failed future could be had. */
	spool_future *late = spool_submit(ex, add_one, &V[0]);
	atomic_store(&gate_open, true);
	spool_pool_destroy(p); /* joins: every accepted task has ended */
	bool f = fired();
	if (late) {
		ck_assert_int_eq(spool_future_error(late), SPOOL_ESHUTDOWN);
		spool_future_release(late);
	} else {
		ck_assert(f);
	}
	size_t nulls = 0, ran = 0;
	for (int r = 0; r < NROOT; r++) {
		spool_state st = spool_future_state(root[r]);
		if (st == SPOOL_CANCELLED) {
			/* Only the flag cancels a queued root. */
			ck_assert(flags & SPOOL_SHUTDOWN_CANCEL_PENDING);
		} else {
			ck_assert_int_eq(st, SPOOL_DONE);
			ck_assert_ptr_eq(spool_future_value(root[r]), &j[r]);
			nulls += check_children(&j[r]);
			ran++;
		}
		spool_future_release(root[r]);
	}
	/* The running root always finishes, forking from a worker while
	 * the pool drains; the queued ones too, unless cancelled. */
	ck_assert_uint_eq(ran,
			  flags & SPOOL_SHUTDOWN_CANCEL_PENDING ? 1 : NROOT);
	at_most_one_refused((long)nulls, f);
	free(j);
	return f;
}

static bool shutdown_run_plain(long k)
{
	return shutdown_run(k, 0);
}

static bool shutdown_run_cancel(long k)
{
	return shutdown_run(k, SPOOL_SHUTDOWN_CANCEL_PENDING);
}

START_TEST(shutdown_out_of_memory_leaves_every_future_final_and_destroy_joins)
{
	/* The children of the three roots, one fresh record each. */
	ck_assert_int_gt(
		sweep_upto("shutdown", shutdown_run_plain, NROOT * NSMALL + 16),
		NROOT * NSMALL);
	/* The running root's children at least. */
	ck_assert_int_gt(sweep_upto("shutdown, cancel pending",
				    shutdown_run_cancel, NROOT * NSMALL + 16),
			 NSMALL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pool_oom");
	TCase *tc = spool_test_case("pool_oom", 120);
	tcase_add_test(
		tc, create_out_of_memory_is_enomem_and_leaves_nothing_running);
	tcase_add_test(
		tc,
		submit_from_outside_out_of_memory_is_null_and_loses_no_accepted_task);
	tcase_add_test(
		tc,
		submit_from_a_worker_out_of_memory_is_null_and_loses_no_accepted_task);
	tcase_add_test(
		tc,
		shutdown_out_of_memory_leaves_every_future_final_and_destroy_joins);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
