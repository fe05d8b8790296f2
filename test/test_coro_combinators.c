/* SPDX-License-Identifier: MIT */
/* Suite "coro_combinators": every combinator waits through the waiting
 * seam, so inside a loop coroutine it suspends the coroutine (the loop
 * keeps running other coroutines), a cancellation of the waiting coroutine
 * ends it with SPOOL_ECANCELLED, and on the loop's thread outside a
 * coroutine it refuses with SPOOL_EDEADLK. */
#include <stdatomic.h>
#include <stdint.h>

#include "support.h"

#define MS SPOOL_NS_PER_MS

static spool_future *submit(spool_executor *ex, spool_task_fn fn, void *arg)
{
	spool_future *f = spool_submit(ex, fn, arg);
	ck_assert_ptr_nonnull(f);
	return f;
}

static int sleep_then_value(void *arg, void **result)
{
	intptr_t ms = (intptr_t)arg;
	int rc = spool_sleep(ms * MS);
	*result = arg;
	return rc;
}

/* Completes the promises in the order given, one per loop iteration,
 * after ticking a few times: it can only run while the coroutine that
 * waits in a combinator is suspended. */
struct completer {
	spool_future **p;
	const int *order;
	int n;
	int ticks;
};

static int completer_task(void *arg, void **result)
{
	struct completer *c = arg;
	(void)result;
	for (int i = 0; i < 3; i++) {
		spool_sleep(0);
		c->ticks++;
	}
	for (int i = 0; i < c->n; i++) {
		spool_promise_set_result(c->p[c->order[i]],
					 (void *)(intptr_t)(10 + c->order[i]));
		spool_sleep(0);
	}
	return 0;
}

struct gather_job {
	spool_future **p;
	int ticks_seen;
	int *ticks;
	intptr_t sum;
};

static int gather_task(void *arg, void **result)
{
	struct gather_job *j = arg;
	spool_future *g = spool_gather(j->p, 4, 0);
	int rc = spool_future_wait(g, SPOOL_FOREVER);
	j->ticks_seen = *j->ticks;
	for (size_t i = 0; rc == 0 && i < 4; i++) {
		void *v;
		rc = spool_gather_result(g, i, &v);
		j->sum += (intptr_t)v;
	}
	spool_future_release(g);
	*result = NULL;
	return rc;
}

START_TEST(gather_in_a_coroutine_suspends_it_while_the_loop_runs_others)
{
	/* The inputs are completed by another coroutine on the same thread:
	 * the gather can only finish if waiting suspended the waiter. */
	spool_loop *loop = spool_test_loop_new();
	spool_future *p[4];
	for (int i = 0; i < 4; i++)
		p[i] = spool_promise_new();
	static const int order[] = {3, 1, 0, 2};
	struct completer c = {p, order, 4, 0};
	struct gather_job j = {p, 0, &c.ticks, 0};
	spool_future *f = submit(spool_loop_executor(loop), gather_task, &j);
	spool_future *t = submit(spool_loop_executor(loop), completer_task, &c);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, f), 0);
	ck_assert_int_eq(j.sum, 10 + 11 + 12 + 13);
	ck_assert_int_eq(j.ticks_seen, 3);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, t), 0);
	spool_future_release(t);
	spool_future_release(f);
	for (int i = 0; i < 4; i++)
		spool_future_release(p[i]);
	spool_loop_destroy(loop);
}
END_TEST

struct first_job {
	spool_executor *ex;
	spool_future *never;
	int rc;
	size_t ndone, npending;
	bool done[2];
};

static int wait_first_task(void *arg, void **result)
{
	struct first_job *j = arg;
	(void)result;
	spool_future *fs[2] = {submit(j->ex, sleep_then_value, (void *)1),
			       j->never};
	j->rc = spool_wait(fs, 2, SPOOL_FIRST_COMPLETED, SPOOL_FOREVER, j->done,
			   &j->ndone, &j->npending);
	spool_future_release(fs[0]);
	return j->rc;
}

START_TEST(wait_first_completed_in_a_coroutine_returns_when_one_is_done)
{
	spool_loop *loop = spool_test_loop_new();
	struct first_job j = {.ex = spool_loop_executor(loop),
			      .never = spool_promise_new()};
	spool_future *f = submit(spool_loop_executor(loop), wait_first_task,
				 &j);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, f), 0);
	ck_assert(j.done[0]);
	ck_assert(!j.done[1]);
	ck_assert_int_eq(j.ndone, 1);
	ck_assert_int_eq(j.npending, 1);
	spool_promise_set_result(j.never, NULL);
	spool_future_release(j.never);
	spool_future_release(f);
	spool_loop_destroy(loop);
}
END_TEST

struct as_completed_job {
	spool_future **p;
	size_t order[3];
	int rc_end;
};

static int as_completed_task(void *arg, void **result)
{
	struct as_completed_job *j = arg;
	(void)result;
	spool_as_completed *it;
	int rc = spool_as_completed_create(&it, j->p, 3, SPOOL_FOREVER);
	for (int k = 0; rc == 0 && k < 3; k++) {
		spool_future *f;
		rc = spool_as_completed_next(it, &f, &j->order[k]);
	}
	j->rc_end = spool_as_completed_next(it, &(spool_future *){NULL}, NULL);
	spool_as_completed_destroy(it);
	return rc;
}

START_TEST(as_completed_in_a_coroutine_yields_in_completion_order)
{
	spool_loop *loop = spool_test_loop_new();
	spool_future *p[3];
	for (int i = 0; i < 3; i++)
		p[i] = spool_promise_new();
	static const int order[] = {1, 2, 0};
	struct completer c = {p, order, 3, 0};
	struct as_completed_job j = {.p = p};
	spool_future *f = submit(spool_loop_executor(loop), as_completed_task,
				 &j);
	spool_future *t = submit(spool_loop_executor(loop), completer_task, &c);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, f), 0);
	ck_assert_int_eq(j.order[0], 1);
	ck_assert_int_eq(j.order[1], 2);
	ck_assert_int_eq(j.order[2], 0);
	ck_assert_int_eq(j.rc_end, SPOOL_EOF);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, t), 0);
	spool_future_release(t);
	spool_future_release(f);
	for (int i = 0; i < 3; i++)
		spool_future_release(p[i]);
	spool_loop_destroy(loop);
}
END_TEST

struct wait_for_job {
	spool_executor *ex;
	spool_future *slow;
	int rc;
};

/* Set by slow_starter when it runs: proves that the waiter suspended. */
static _Atomic bool slow_started;

/* Notes that it started, then sleeps arg ms as sleep_then_value does. */
static int slow_starter(void *arg, void **result)
{
	atomic_store(&slow_started, true);
	return sleep_then_value(arg, result);
}

static int wait_for_task(void *arg, void **result)
{
	struct wait_for_job *j = arg;
	(void)result;
	j->slow = submit(j->ex, slow_starter, (void *)(3600 * 1000));
	j->rc = spool_wait_for(j->slow, 2 * MS, NULL);
	return 0;
}

START_TEST(wait_for_in_a_coroutine_cancels_a_slow_coroutine_on_timeout)
{
	spool_loop *loop = spool_test_loop_new();
	struct wait_for_job j = {.ex = spool_loop_executor(loop)};
	atomic_store(&slow_started, false);
	spool_future *f = submit(spool_loop_executor(loop), wait_for_task, &j);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, f), 0);
	ck_assert_int_eq(j.rc, SPOOL_ETIMEDOUT);
	/* The waiter suspended, so the slow coroutine (ready before the
	 * waiter's timer can be due) started and was cancelled asleep, not
	 * before it began. */
	ck_assert(atomic_load(&slow_started));
	ck_assert_int_eq(spool_future_state(j.slow), SPOOL_CANCELLED);
	spool_future_release(j.slow);
	spool_future_release(f);
	spool_loop_destroy(loop);
}
END_TEST

static int gather_forever_task(void *arg, void **result)
{
	spool_future **p = arg;
	(void)result;
	spool_future *g = spool_gather(p, 1, 0);
	int rc = spool_future_wait(g, SPOOL_FOREVER);
	spool_future_release(g);
	return rc;
}

static void cancel_cb(spool_loop *loop, void *arg)
{
	(void)loop;
	ck_assert_int_eq(spool_future_cancel(arg), 0);
}

START_TEST(a_coroutine_waiting_in_a_combinator_can_be_cancelled)
{
	spool_loop *loop = spool_test_loop_new();
	spool_future *p = spool_promise_new();
	spool_future *f = submit(spool_loop_executor(loop), gather_forever_task,
				 &p);
	ck_assert_int_eq(
		spool_loop_call_later(loop, 1 * MS, cancel_cb, f, NULL), 0);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, f),
			 SPOOL_ECANCELLED);
	/* The coroutine made the gather, so the cancel followed its await
	 * there, and the gather cancelled its child (asyncio). */
	ck_assert_int_eq(spool_future_state(p), SPOOL_CANCELLED);
	ck_assert_int_eq(spool_promise_set_result(p, NULL), SPOOL_ESTATE);
	spool_future_release(p);
	spool_future_release(f);
	spool_loop_destroy(loop);
}
END_TEST

/* A then continuation and a group task, each running as a coroutine
 * suspended at an await: cancelling their own future is forwarded to the
 * loop task that runs them (src/combinators/proxy.c), which interrupts the
 * await. So the cancel answers 0 (cancel_cb checks it), not SPOOL_EBUSY,
 * and both end CANCELLED while what they awaited is still pending. */
static int await_forever_cont(spool_future *src, void *arg, void **result)
{
	(void)src, (void)result;
	return spool_future_wait(arg, SPOOL_FOREVER);
}

static int await_forever_task(void *arg, void **result)
{
	(void)result;
	return spool_future_wait(arg, SPOOL_FOREVER);
}

START_TEST(
	a_then_or_group_task_awaiting_in_a_coroutine_is_cancelled_through_its_future)
{
	spool_loop *loop = spool_test_loop_new();
	spool_executor *ex = spool_loop_executor(loop);
	spool_future *p = spool_promise_new();
	spool_future *src = spool_promise_new();
	ck_assert_int_eq(spool_promise_set_result(src, NULL), 0);
	spool_future *c = spool_then(src, ex, await_forever_cont, p);
	ck_assert_ptr_nonnull(c);
	spool_group *g;
	ck_assert_int_eq(spool_group_create(&g, ex, 0), 0);
	spool_future *t;
	ck_assert_int_eq(spool_group_spawn(g, await_forever_task, p, &t), 0);
	ck_assert_int_eq(
		spool_loop_call_later(loop, 1 * MS, cancel_cb, c, NULL), 0);
	ck_assert_int_eq(
		spool_loop_call_later(loop, 1 * MS, cancel_cb, t, NULL), 0);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, c),
			 SPOOL_ECANCELLED);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, t),
			 SPOOL_ECANCELLED);
	ck_assert_int_eq(spool_future_state(c), SPOOL_CANCELLED);
	ck_assert_int_eq(spool_future_state(t), SPOOL_CANCELLED);
	ck_assert_int_eq(spool_future_state(p), SPOOL_PENDING);
	/* Cancelled through its future: not a failure of the group. */
	ck_assert_int_eq(spool_group_join(g, SPOOL_FOREVER), 0);
	spool_group_destroy(g);
	spool_promise_set_result(p, NULL);
	spool_future_release(p);
	spool_future_release(src);
	spool_future_release(c);
	spool_future_release(t);
	spool_loop_destroy(loop);
}
END_TEST

struct deadlk {
	spool_future *p;
	int wait_rc, wait_for_rc;
};

static void combinator_deadlk_cb(spool_loop *loop, void *arg)
{
	struct deadlk *d = arg;
	d->wait_rc = spool_wait(&d->p, 1, SPOOL_ALL_COMPLETED, SPOOL_FOREVER,
				NULL, NULL, NULL);
	d->wait_for_rc = spool_wait_for(d->p, 10 * MS, NULL);
	spool_loop_stop(loop);
}

START_TEST(combinators_on_the_loop_thread_outside_a_coroutine_are_edeadlk)
{
	spool_loop *loop = spool_test_loop_new();
	struct deadlk d = {spool_promise_new(), 99, 99};
	ck_assert_int_eq(
		spool_loop_call_soon(loop, combinator_deadlk_cb, &d, NULL), 0);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	ck_assert_int_eq(d.wait_rc, SPOOL_EDEADLK);
	ck_assert_int_eq(d.wait_for_rc, SPOOL_EDEADLK);
	spool_promise_set_result(d.p, NULL);
	spool_future_release(d.p);
	spool_loop_destroy(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("coro_combinators");
	TCase *tc = spool_test_case("combinators", 30);
	tcase_add_test(
		tc,
		gather_in_a_coroutine_suspends_it_while_the_loop_runs_others);
	tcase_add_test(
		tc,
		wait_first_completed_in_a_coroutine_returns_when_one_is_done);
	tcase_add_test(tc,
		       as_completed_in_a_coroutine_yields_in_completion_order);
	tcase_add_test(
		tc,
		wait_for_in_a_coroutine_cancels_a_slow_coroutine_on_timeout);
	tcase_add_test(tc,
		       a_coroutine_waiting_in_a_combinator_can_be_cancelled);
	tcase_add_test(
		tc,
		a_then_or_group_task_awaiting_in_a_coroutine_is_cancelled_through_its_future);
	tcase_add_test(
		tc,
		combinators_on_the_loop_thread_outside_a_coroutine_are_edeadlk);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
