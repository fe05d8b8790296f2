/* SPDX-License-Identifier: MIT */
/* Suite "join": every promise spool/pool.h makes about spool_join(): both
 * halves run, possibly in parallel, the first error wins, a stolen half is
 * waited for by helping (never a deadlock, even on one worker), the
 * caller's cancel request is seen in both halves, calls from outside the
 * pool hand the join to it, and joins mix with futures on the same
 * deques. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "support.h"

#define TIMEOUT_NS (10 * SPOOL_NS_PER_S)

/* ---- fib through joins ----------------------------------------------------
 */

static spool_pool *fib_pool;

struct fib {
	int64_t n, r;
};

static int64_t fib_seq(int64_t n)
{
	return n < 2 ? n : fib_seq(n - 1) + fib_seq(n - 2);
}

static int fib_join(void *arg)
{
	struct fib *f = arg;
	if (f->n < 2) {
		f->r = f->n;
		return 0;
	}
	struct fib a = {f->n - 1, 0}, b = {f->n - 2, 0};
	int err = spool_join(fib_pool, fib_join, &a, fib_join, &b);
	f->r = a.r + b.r;
	return err;
}

static int fib_task(void *arg, void **result)
{
	struct fib *f = arg;
	int err = fib_join(f);
	*result = NULL;
	return err;
}

/* fib(n) through joins from a task on a pool of `workers`. */
static void check_fib(int workers, int64_t n)
{
	fib_pool = spool_test_pool_new(workers);
	struct fib f = {n, 0};
	spool_future *t = spool_submit(spool_pool_executor(fib_pool), fib_task,
				       &f);
	ck_assert_int_eq(spool_future_wait(t, TIMEOUT_NS), 0);
	ck_assert_int_eq(spool_future_error(t), 0);
	ck_assert_int_eq(f.r, fib_seq(n));
	spool_future_release(t);
	spool_pool_destroy(fib_pool);
}

START_TEST(deep_recursive_fib_by_join_is_right_on_1_2_and_4_workers)
{
	check_fib(1, 24);
	check_fib(2, 24);
	check_fib(4, 24);
}
END_TEST

/* ---- errors ----------------------------------------------------------------
 */

struct half {
	int rc;            /* what it returns */
	atomic_int ran;    /* times it ran */
	atomic_bool other; /* it ran on another thread than the caller */
	pthread_t caller;
};

static int half_fn(void *arg)
{
	struct half *h = arg;
	atomic_fetch_add(&h->ran, 1);
	if (!pthread_equal(pthread_self(), h->caller))
		atomic_store(&h->other, true);
	return h->rc;
}

struct join_case {
	spool_pool *pool;
	struct half a, b;
	int rc;
};

static int join_case_task(void *arg, void **result)
{
	struct join_case *c = arg;
	c->a.caller = c->b.caller = pthread_self();
	c->rc = spool_join(c->pool, half_fn, &c->a, half_fn, &c->b);
	*result = NULL;
	return 0;
}

/* Runs a join of two half_fn from a task of a 2-worker pool. */
static void run_case(struct join_case *c, int arc, int brc)
{
	c->pool = spool_test_pool_new(2);
	c->a.rc = arc;
	c->b.rc = brc;
	spool_future *t = spool_submit(spool_pool_executor(c->pool),
				       join_case_task, c);
	ck_assert_int_eq(spool_future_wait(t, TIMEOUT_NS), 0);
	spool_future_release(t);
	spool_pool_destroy(c->pool);
	ck_assert_int_eq(atomic_load(&c->a.ran), 1);
	ck_assert_int_eq(atomic_load(&c->b.ran), 1);
}

START_TEST(join_of_two_successes_returns_0_and_runs_each_once)
{
	struct join_case c = {0};
	run_case(&c, 0, 0);
	ck_assert_int_eq(c.rc, 0);
}
END_TEST

START_TEST(join_returns_a_error_when_both_fail)
{
	struct join_case c = {0};
	run_case(&c, 11, 22);
	ck_assert_int_eq(c.rc, 11);
}
END_TEST

START_TEST(join_returns_b_error_when_only_b_fails_and_a_still_ran)
{
	struct join_case c = {0};
	run_case(&c, 0, 22);
	ck_assert_int_eq(c.rc, 22);
}
END_TEST

START_TEST(join_runs_b_even_when_a_fails)
{
	struct join_case c = {0};
	run_case(&c, 33, 0);
	ck_assert_int_eq(c.rc, 33);
}
END_TEST

START_TEST(join_with_a_null_argument_is_einval_and_runs_nothing)
{
	spool_pool *p = spool_test_pool_new(1);
	struct half h = {0};
	h.caller = pthread_self();
	ck_assert_int_eq(spool_join(NULL, half_fn, &h, half_fn, &h),
			 SPOOL_EINVAL);
	ck_assert_int_eq(spool_join(p, NULL, &h, half_fn, &h), SPOOL_EINVAL);
	ck_assert_int_eq(spool_join(p, half_fn, &h, NULL, &h), SPOOL_EINVAL);
	ck_assert_int_eq(atomic_load(&h.ran), 0);
	spool_pool_destroy(p);
}
END_TEST

/* ---- a stolen half ---------------------------------------------------------
 */

/* a waits until b has started elsewhere: with a's thread busy, only
 * another worker can have taken b, so b was stolen, and the caller must
 * wait for the thief. Both halves record the cancel request they see. */
struct steal_case {
	spool_pool *pool;
	pthread_t caller;
	atomic_bool b_started, a_timed_out;
	atomic_bool b_other_thread;
	atomic_bool a_saw_cancel, b_saw_cancel;
	atomic_bool cancel_now; /* the main thread has cancelled the task */
	bool wait_for_cancel;
	int rc;
	int64_t b_value; /* written by b, read by the caller after the join */
};

static int steal_a(void *arg)
{
	struct steal_case *c = arg;
	int64_t end = spool_test_now_ns() + TIMEOUT_NS;
	while (!atomic_load(&c->b_started) && spool_test_now_ns() < end)
		sched_yield();
	if (!atomic_load(&c->b_started))
		atomic_store(&c->a_timed_out, true);
	while (c->wait_for_cancel && !atomic_load(&c->cancel_now) &&
	       spool_test_now_ns() < end)
		sched_yield();
	atomic_store(&c->a_saw_cancel, spool_cancel_requested());
	return 0;
}

static int steal_b(void *arg)
{
	struct steal_case *c = arg;
	atomic_store(&c->b_other_thread,
		     !pthread_equal(pthread_self(), c->caller));
	atomic_store(&c->b_started, true);
	if (c->wait_for_cancel) {
		int64_t end = spool_test_now_ns() + TIMEOUT_NS;
		while (!atomic_load(&c->cancel_now) &&
		       spool_test_now_ns() < end)
			sched_yield();
	}
	atomic_store(&c->b_saw_cancel, spool_cancel_requested());
	/* Let the caller's pop find b gone first, then finish late, so the
	 * caller has to wait (help) for the thief. */
	spool_test_sleep_ns(20 * SPOOL_NS_PER_MS);
	c->b_value = 42;
	return 0;
}

static int steal_task(void *arg, void **result)
{
	struct steal_case *c = arg;
	c->caller = pthread_self();
	c->rc = spool_join(c->pool, steal_a, c, steal_b, c);
	*result = NULL;
	return 0;
}

START_TEST(a_stolen_half_runs_elsewhere_and_the_caller_waits_for_it)
{
	struct steal_case c = {0};
	c.pool = spool_test_pool_new(2);
	spool_future *t = spool_submit(spool_pool_executor(c.pool), steal_task,
				       &c);
	ck_assert_int_eq(spool_future_wait(t, TIMEOUT_NS), 0);
	spool_future_release(t);
	spool_pool_destroy(c.pool);
	ck_assert(!atomic_load(&c.a_timed_out));
	ck_assert(atomic_load(&c.b_other_thread));
	ck_assert_int_eq(c.rc, 0);
	ck_assert_int_eq(c.b_value, 42);
}
END_TEST

START_TEST(both_halves_see_the_callers_cancel_request_even_when_stolen)
{
	struct steal_case c = {0};
	c.pool = spool_test_pool_new(2);
	c.wait_for_cancel = true;
	spool_future *t = spool_submit(spool_pool_executor(c.pool), steal_task,
				       &c);
	/* Wait until the task runs, then cancel it: a request only. */
	int64_t end = spool_test_now_ns() + TIMEOUT_NS;
	while (spool_future_state(t) == SPOOL_PENDING &&
	       spool_test_now_ns() < end)
		sched_yield();
	ck_assert_int_eq(spool_future_cancel(t), SPOOL_EBUSY);
	atomic_store(&c.cancel_now, true);
	ck_assert_int_eq(spool_future_wait(t, TIMEOUT_NS), 0);
	spool_future_release(t);
	spool_pool_destroy(c.pool);
	ck_assert(atomic_load(&c.b_other_thread));
	ck_assert(atomic_load(&c.a_saw_cancel));
	ck_assert(atomic_load(&c.b_saw_cancel));
}
END_TEST

/* No cancel requested: the halves must not see one (the record's current
 * task is the caller's, not some stale one). */
START_TEST(halves_see_no_cancel_request_when_there_is_none)
{
	struct steal_case c = {0};
	c.pool = spool_test_pool_new(2);
	spool_future *t = spool_submit(spool_pool_executor(c.pool), steal_task,
				       &c);
	ck_assert_int_eq(spool_future_wait(t, TIMEOUT_NS), 0);
	spool_future_release(t);
	spool_pool_destroy(c.pool);
	ck_assert(!atomic_load(&c.a_saw_cancel));
	ck_assert(!atomic_load(&c.b_saw_cancel));
}
END_TEST

/* ---- from outside the pool --------------------------------------------------
 */

struct where {
	pthread_t main;
	atomic_int on_main;
	atomic_int ran;
	atomic_bool had_task;
};

static int where_fn(void *arg)
{
	struct where *w = arg;
	atomic_fetch_add(&w->ran, 1);
	if (pthread_equal(pthread_self(), w->main))
		atomic_fetch_add(&w->on_main, 1);
	if (spool_current_future())
		atomic_store(&w->had_task, true);
	return 0;
}

START_TEST(join_from_outside_runs_both_halves_on_the_pools_workers)
{
	spool_pool *p = spool_test_pool_new(2);
	struct where w = {.main = pthread_self()};
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(spool_join(p, where_fn, &w, where_fn, &w), 0);
	ck_assert_int_eq(atomic_load(&w.ran), 200);
	ck_assert_int_eq(atomic_load(&w.on_main), 0);
	ck_assert(!atomic_load(&w.had_task));
	spool_pool_destroy(p);
}
END_TEST

START_TEST(deep_fib_by_join_from_outside_the_pool)
{
	fib_pool = spool_test_pool_new(2);
	struct fib f = {22, 0};
	ck_assert_int_eq(fib_join(&f), 0);
	ck_assert_int_eq(f.r, fib_seq(22));
	spool_pool_destroy(fib_pool);
}
END_TEST

START_TEST(join_from_outside_after_shutdown_is_eshutdown_and_runs_nothing)
{
	spool_pool *p = spool_test_pool_new(1);
	ck_assert_int_eq(spool_pool_shutdown(p, SPOOL_SHUTDOWN_WAIT), 0);
	struct where w = {.main = pthread_self()};
	ck_assert_int_eq(spool_join(p, where_fn, &w, where_fn, &w),
			 SPOOL_ESHUTDOWN);
	ck_assert_int_eq(atomic_load(&w.ran), 0);
	spool_pool_destroy(p);
}
END_TEST

/* A worker of pool A joins on pool B; b of that join waits for a future
 * of pool A, which only A's single worker can run: the worker must help
 * its own pool while it waits for B. */
struct cross {
	spool_pool *a, *b;
	int64_t got;
};

static int cross_leaf(void *arg, void **result)
{
	(void)arg;
	*result = (void *)(intptr_t)7;
	return 0;
}

static int cross_half_b(void *arg)
{
	struct cross *c = arg;
	spool_future *f = spool_submit(spool_pool_executor(c->a), cross_leaf,
				       NULL);
	void *v = NULL;
	int rc = spool_future_result(f, TIMEOUT_NS, &v);
	spool_future_release(f);
	c->got = (intptr_t)v;
	return rc;
}

static int cross_half_a(void *arg)
{
	(void)arg;
	return 0;
}

static int cross_task(void *arg, void **result)
{
	struct cross *c = arg;
	*result = NULL;
	return spool_join(c->b, cross_half_a, c, cross_half_b, c);
}

START_TEST(a_worker_joining_on_another_pool_helps_its_own_pool_meanwhile)
{
	struct cross c = {0};
	c.a = spool_test_pool_new(1);
	c.b = spool_test_pool_new(1);
	spool_future *t = spool_submit(spool_pool_executor(c.a), cross_task,
				       &c);
	ck_assert_int_eq(spool_future_wait(t, TIMEOUT_NS), 0);
	ck_assert_int_eq(spool_future_error(t), 0);
	ck_assert_int_eq(c.got, 7);
	spool_future_release(t);
	spool_pool_destroy(c.a);
	spool_pool_destroy(c.b);
}
END_TEST

/* ---- shutdown takes a queued half -----------------------------------------
 */

struct drain_case {
	spool_pool *pool;
	atomic_bool queued, shut;
	atomic_int b_ran;
	int rc;
};

static int drain_a(void *arg)
{
	struct drain_case *c = arg;
	atomic_store(&c->queued, true);
	int64_t end = spool_test_now_ns() + TIMEOUT_NS;
	while (!atomic_load(&c->shut) && spool_test_now_ns() < end)
		sched_yield();
	return 0;
}

static int drain_b(void *arg)
{
	struct drain_case *c = arg;
	atomic_fetch_add(&c->b_ran, 1);
	return 0;
}

static int drain_task(void *arg, void **result)
{
	struct drain_case *c = arg;
	c->rc = spool_join(c->pool, drain_a, c, drain_b, c);
	*result = NULL;
	return 0;
}

START_TEST(shutdown_cancel_pending_ends_a_queued_half_with_ecancelled)
{
	struct drain_case c = {0};
	c.pool = spool_test_pool_new(1);
	spool_future *t = spool_submit(spool_pool_executor(c.pool), drain_task,
				       &c);
	int64_t end = spool_test_now_ns() + TIMEOUT_NS;
	while (!atomic_load(&c.queued) && spool_test_now_ns() < end)
		sched_yield();
	ck_assert(atomic_load(&c.queued));
	ck_assert_int_eq(
		spool_pool_shutdown(c.pool, SPOOL_SHUTDOWN_CANCEL_PENDING), 0);
	atomic_store(&c.shut, true);
	ck_assert_int_eq(spool_future_wait(t, TIMEOUT_NS), 0);
	spool_future_release(t);
	spool_pool_destroy(c.pool);
	ck_assert_int_eq(c.rc, SPOOL_ECANCELLED);
	ck_assert_int_eq(atomic_load(&c.b_ran), 0);
}
END_TEST

/* ---- joins and futures together --------------------------------------------
 */

static spool_pool *mix_pool;

static int mix_task(void *arg, void **result);

/* Even levels join, odd levels submit two futures and wait for them:
 * join halves that submit and wait, and future tasks that join. */
static int mix_join(void *arg)
{
	struct fib *f = arg;
	if (f->n < 2) {
		f->r = f->n;
		return 0;
	}
	if (f->n % 2 == 0) {
		struct fib a = {f->n - 1, 0}, b = {f->n - 2, 0};
		int err = spool_join(mix_pool, mix_join, &a, mix_join, &b);
		f->r = a.r + b.r;
		return err;
	}
	struct fib a = {f->n - 1, 0}, b = {f->n - 2, 0};
	spool_executor *ex = spool_pool_executor(mix_pool);
	spool_future *fa = spool_submit(ex, mix_task, &a);
	spool_future *fb = spool_submit(ex, mix_task, &b);
	ck_assert_ptr_nonnull(fa);
	ck_assert_ptr_nonnull(fb);
	int eb = spool_future_wait(fb, SPOOL_FOREVER);
	int ea = spool_future_wait(fa, SPOOL_FOREVER);
	int err = ea ? ea : eb;
	if (!err)
		err = spool_future_error(fa) ? spool_future_error(fa)
					     : spool_future_error(fb);
	spool_future_release(fa);
	spool_future_release(fb);
	f->r = a.r + b.r;
	return err;
}

static int mix_task(void *arg, void **result)
{
	*result = NULL;
	return mix_join(arg);
}

START_TEST(joins_and_futures_mix_on_the_same_deques_on_1_and_2_workers)
{
	for (int workers = 1; workers <= 2; workers++) {
		mix_pool = spool_test_pool_new(workers);
		for (int round = 0; round < 5; round++) {
			struct fib f = {20, 0};
			spool_future *t = spool_submit(
				spool_pool_executor(mix_pool), mix_task, &f);
			ck_assert_int_eq(spool_future_wait(t, TIMEOUT_NS), 0);
			ck_assert_int_eq(spool_future_error(t), 0);
			ck_assert_int_eq(f.r, fib_seq(20));
			spool_future_release(t);
		}
		spool_pool_destroy(mix_pool);
	}
}
END_TEST

/* ---- stress
 * ------------------------------------------------------------------- */

enum { STRESS_THREADS = 4, STRESS_ROUNDS = 150 };

struct stress {
	spool_pool *pool;
	atomic_int bad;
	atomic_bool stop;
};

static int stress_leaf(void *arg)
{
	atomic_int *n = arg;
	atomic_fetch_add_explicit(n, 1, memory_order_relaxed);
	return 0;
}

struct tree {
	spool_pool *pool;
	int depth;
	atomic_int *count;
};

static int tree_join(void *arg)
{
	struct tree *t = arg;
	if (t->depth == 0)
		return stress_leaf(t->count);
	struct tree a = {t->pool, t->depth - 1, t->count};
	struct tree b = a;
	return spool_join(t->pool, tree_join, &a, tree_join, &b);
}

static void *stress_thread(void *arg)
{
	struct stress *s = arg;
	int64_t end = spool_test_now_ns() + 20 * SPOOL_NS_PER_S;
	for (int r = 0; r < STRESS_ROUNDS && !atomic_load(&s->stop); r++) {
		atomic_int count;
		atomic_init(&count, 0);
		struct tree t = {s->pool, 8, &count};
		int rc = tree_join(&t);
		if (rc != 0 || atomic_load(&count) != 256)
			atomic_fetch_add(&s->bad, 1);
		if (spool_test_now_ns() > end)
			break;
	}
	return NULL;
}

START_TEST(concurrent_joins_from_many_threads_all_complete_exactly)
{
	struct stress s = {0};
	s.pool = spool_test_pool_new(3);
	pthread_t th[STRESS_THREADS];
	for (int i = 0; i < STRESS_THREADS; i++)
		ck_assert_int_eq(
			pthread_create(&th[i], NULL, stress_thread, &s), 0);
	for (int i = 0; i < STRESS_THREADS; i++)
		pthread_join(th[i], NULL);
	spool_pool_destroy(s.pool);
	ck_assert_int_eq(atomic_load(&s.bad), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("join");
	TCase *tc = spool_test_case("join", 60);
	tcase_add_test(
		tc, deep_recursive_fib_by_join_is_right_on_1_2_and_4_workers);
	tcase_add_test(tc, join_of_two_successes_returns_0_and_runs_each_once);
	tcase_add_test(tc, join_returns_a_error_when_both_fail);
	tcase_add_test(tc,
		       join_returns_b_error_when_only_b_fails_and_a_still_ran);
	tcase_add_test(tc, join_runs_b_even_when_a_fails);
	tcase_add_test(tc,
		       join_with_a_null_argument_is_einval_and_runs_nothing);
	suite_add_tcase(s, tc);

	tc = spool_test_case("steal", 60);
	tcase_add_test(
		tc, a_stolen_half_runs_elsewhere_and_the_caller_waits_for_it);
	tcase_add_test(
		tc,
		both_halves_see_the_callers_cancel_request_even_when_stolen);
	tcase_add_test(tc, halves_see_no_cancel_request_when_there_is_none);
	suite_add_tcase(s, tc);

	tc = spool_test_case("outside", 60);
	tcase_add_test(tc,
		       join_from_outside_runs_both_halves_on_the_pools_workers);
	tcase_add_test(tc, deep_fib_by_join_from_outside_the_pool);
	tcase_add_test(
		tc,
		join_from_outside_after_shutdown_is_eshutdown_and_runs_nothing);
	tcase_add_test(
		tc,
		a_worker_joining_on_another_pool_helps_its_own_pool_meanwhile);
	tcase_add_test(
		tc, shutdown_cancel_pending_ends_a_queued_half_with_ecancelled);
	suite_add_tcase(s, tc);

	tc = spool_test_case("mix", 60);
	tcase_add_test(
		tc,
		joins_and_futures_mix_on_the_same_deques_on_1_and_2_workers);
	tcase_add_test(tc,
		       concurrent_joins_from_many_threads_all_complete_exactly);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
