/* SPDX-License-Identifier: MIT */
/* Suite "group": every promise of spool/group.h. */
#include "comb_support.h"

/* A task that records how many group tasks run at once. */
static _Atomic int running_now, running_max, ran_count;

static void reset_counters(void)
{
	atomic_store(&running_now, 0);
	atomic_store(&running_max, 0);
	atomic_store(&ran_count, 0);
}

static int counted_sleep(void *arg, void **result)
{
	int now = atomic_fetch_add(&running_now, 1) + 1;
	int max = atomic_load(&running_max);
	while (now > max &&
	       !atomic_compare_exchange_weak(&running_max, &max, now))
		;
	spool_test_sleep_ns(*(int64_t *)arg);
	atomic_fetch_add(&ran_count, 1);
	atomic_fetch_sub(&running_now, 1);
	*result = arg;
	return 0;
}

/* Counts like counted_sleep, but holds its slot until the promise arg is
 * complete (bounded: 30 s). */
static int counted_gated(void *arg, void **result)
{
	int now = atomic_fetch_add(&running_now, 1) + 1;
	int max = atomic_load(&running_max);
	while (now > max &&
	       !atomic_compare_exchange_weak(&running_max, &max, now))
		;
	spool_future_wait(arg, 30 * SPOOL_NS_PER_S);
	atomic_fetch_add(&ran_count, 1);
	atomic_fetch_sub(&running_now, 1);
	*result = arg;
	return 0;
}

/* Fails with *(int *)arg. */
static int failing(void *arg, void **result)
{
	atomic_fetch_add(&ran_count, 1);
	return *(int *)arg;
}

/* Waits (bounded) until ran_count reaches n: a task is really running. */
static void await_ran(int n)
{
	for (int i = 0; i < 5000 && atomic_load(&ran_count) < n; i++)
		spool_test_sleep_ns(MS);
	ck_assert_int_ge(atomic_load(&ran_count), n);
}

/* Runs until asked to cancel (bounded: 5 s), then acknowledges. */
static int until_cancelled(void *arg, void **result)
{
	atomic_fetch_add(&ran_count, 1);
	for (int i = 0; i < 5000 && !spool_cancel_requested(); i++)
		spool_test_sleep_ns(MS);
	return spool_cancel_requested() ? SPOOL_ECANCELLED : 0;
}

START_TEST(group_join_waits_for_every_task)
{
	reset_counters();
	spool_group *g;
	ck_assert_int_eq(spool_group_create(&g, thread_executor(), 0), 0);
	int64_t d[4] = {5 * MS, 20 * MS, 1 * MS, 10 * MS};
	spool_future *t[4];
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(
			spool_group_spawn(g, counted_sleep, &d[i], &t[i]), 0);
	ck_assert_int_eq(spool_group_join(g, SPOOL_FOREVER), 0);
	ck_assert_int_eq(atomic_load(&ran_count), 4);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(spool_future_state(t[i]), SPOOL_DONE);
		ck_assert_ptr_eq(spool_future_value(t[i]), &d[i]);
	}
	ck_assert_uint_eq(spool_group_failures(g), 0);
	release_all(t, 4);
	spool_group_destroy(g);
	thread_executor_drain();
}
END_TEST

START_TEST(group_on_the_inline_executor_runs_tasks_at_spawn)
{
	reset_counters();
	spool_group *g;
	ck_assert_int_eq(spool_group_create(&g, spool_executor_inline(), 0), 0);
	int64_t zero = 0;
	ck_assert_int_eq(spool_group_spawn(g, counted_sleep, &zero, NULL), 0);
	ck_assert_int_eq(atomic_load(&ran_count), 1);
	ck_assert_int_eq(spool_group_join(g, 0), 0);
	spool_group_destroy(g);
}
END_TEST

/* A task that waits for a gate, then fails with its code. */
struct gated {
	spool_future *gate;
	int err;
};

static _Atomic int gated_started;

static int gated_fail(void *arg, void **result)
{
	struct gated *gd = arg;
	atomic_fetch_add(&gated_started, 1);
	spool_future_wait(gd->gate, SPOOL_FOREVER);
	return gd->err;
}

START_TEST(group_first_failure_cancels_the_others_and_refuses_spawns)
{
	reset_counters();
	spool_group *g;
	/* Limit 2: one task runs until cancelled, one fails when the gate
	 * opens, three wait in the group's queue. */
	ck_assert_int_eq(spool_group_create(&g, thread_executor(), 2), 0);
	spool_future *gate = spool_promise_new();
	struct gated bad_arg = {gate, 17};
	int64_t d = 0;
	spool_future *runner, *bad, *queued[3];
	ck_assert_int_eq(spool_group_spawn(g, until_cancelled, NULL, &runner),
			 0);
	ck_assert_int_eq(spool_group_spawn(g, gated_fail, &bad_arg, &bad), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(
			spool_group_spawn(g, counted_sleep, &d, &queued[i]), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(spool_future_state(queued[i]), SPOOL_PENDING);
	await_ran(1); /* the runner is running */
	spool_promise_set_result(gate, NULL);
	ck_assert_int_eq(spool_group_join(g, SPOOL_FOREVER), 17);
	ck_assert_int_eq(spool_future_error(bad), 17);
	/* The running one got the request and acknowledged it. */
	ck_assert_int_eq(spool_future_state(runner), SPOOL_CANCELLED);
	/* The queued ones never ran. */
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(spool_future_state(queued[i]),
				 SPOOL_CANCELLED);
	ck_assert_int_eq(atomic_load(&ran_count), 1);
	spool_future *late = gate; /* must be reset */
	ck_assert_int_eq(spool_group_spawn(g, counted_sleep, &d, &late),
			 SPOOL_ECANCELLED);
	ck_assert_ptr_null(late);
	ck_assert_uint_eq(spool_group_failures(g), 1);
	size_t idx = 99;
	ck_assert_int_eq(spool_group_failure(g, 0, &idx), 17);
	ck_assert_uint_eq(idx, 1);
	spool_future_release(runner);
	spool_future_release(bad);
	release_all(queued, 3);
	spool_future_release(gate);
	spool_group_destroy(g);
	thread_executor_drain();
}
END_TEST

START_TEST(group_join_reports_every_failure_not_only_the_first)
{
	atomic_store(&gated_started, 0);
	spool_group *g;
	ck_assert_int_eq(spool_group_create(&g, thread_executor(), 0), 0);
	spool_future *gate = spool_promise_new();
	struct gated a = {gate, 5}, b = {gate, 6}, c = {gate, 7};
	int64_t d = 1 * MS;
	ck_assert_int_eq(spool_group_spawn(g, counted_sleep, &d, NULL), 0);
	ck_assert_int_eq(spool_group_spawn(g, gated_fail, &a, NULL), 0);
	ck_assert_int_eq(spool_group_spawn(g, gated_fail, &b, NULL), 0);
	ck_assert_int_eq(spool_group_spawn(g, gated_fail, &c, NULL), 0);
	/* All three are running when the gate opens: they all fail (the
	 * cancel after the first one only raises flags they ignore). */
	for (int i = 0; i < 5000 && atomic_load(&gated_started) < 3; i++)
		spool_test_sleep_ns(MS);
	ck_assert_int_eq(atomic_load(&gated_started), 3);
	spool_promise_set_result(gate, NULL);
	int first = spool_group_join(g, SPOOL_FOREVER);
	ck_assert_uint_eq(spool_group_failures(g), 3);
	int seen = 0;
	for (size_t i = 0; i < 3; i++) {
		size_t idx;
		int e = spool_group_failure(g, i, &idx);
		ck_assert_int_eq(e, (int)idx + 4);
		seen |= 1 << e;
		if (i == 0)
			ck_assert_int_eq(first, e);
	}
	ck_assert_int_eq(seen, (1 << 5) | (1 << 6) | (1 << 7));
	ck_assert_int_eq(spool_group_failure(g, 3, NULL), SPOOL_EINVAL);
	spool_future_release(gate);
	spool_group_destroy(g);
	thread_executor_drain();
}
END_TEST

START_TEST(group_spawn_numbers_count_refused_spawns_out)
{
	reset_counters();
	spool_group *g;
	ck_assert_int_eq(spool_group_create(&g, spool_executor_inline(), 0), 0);
	/* Refused (no function): it gets no spawn number. */
	ck_assert_int_eq(spool_group_spawn(g, NULL, NULL, NULL), SPOOL_EINVAL);
	int code = 9;
	ck_assert_int_eq(spool_group_spawn(g, failing, &code, NULL), 0);
	ck_assert_int_eq(spool_group_join(g, SPOOL_FOREVER), 9);
	ck_assert_uint_eq(spool_group_failures(g), 1);
	size_t idx = 99;
	ck_assert_int_eq(spool_group_failure(g, 0, &idx), 9);
	ck_assert_uint_eq(idx, 0); /* the group's first spawn */
	spool_group_destroy(g);
}
END_TEST

START_TEST(
	group_limit_caps_the_tasks_running_at_once_and_starts_queued_ones_in_order)
{
	reset_counters();
	spool_group *g;
	/* thread_executor() runs each task on its own thread: nothing but
	 * the limit keeps the 12 from running at once. */
	ck_assert_int_eq(spool_group_create(&g, thread_executor(), 3), 0);
	spool_future *gate = spool_promise_new();
	spool_future *t[12];
	for (int i = 0; i < 12; i++)
		ck_assert_int_eq(
			spool_group_spawn(g, counted_gated, gate, &t[i]), 0);
	/* The tasks hold their slots on the gate: exactly the limit run,
	 * and (given a moment) no more start. */
	for (int i = 0; i < 5000 && atomic_load(&running_now) < 3; i++)
		spool_test_sleep_ns(MS);
	for (int i = 0; i < 20; i++)
		spool_test_sleep_ns(MS);
	ck_assert_int_eq(atomic_load(&running_now), 3);
	ck_assert_int_eq(atomic_load(&running_max), 3);
	ck_assert_int_eq(atomic_load(&ran_count), 0);
	spool_promise_set_result(gate, NULL);
	ck_assert_int_eq(spool_group_join(g, SPOOL_FOREVER), 0);
	ck_assert_int_eq(atomic_load(&ran_count), 12);
	ck_assert_int_eq(atomic_load(&running_max), 3);
	release_all(t, 12);
	spool_future_release(gate);
	spool_group_destroy(g);
	thread_executor_drain();
}
END_TEST

static spool_future *order_gate;
static _Atomic int order_next;
static int order_seen[8];

static int record_order(void *arg, void **result)
{
	int me = atomic_fetch_add(&order_next, 1);
	order_seen[me] = (int)(intptr_t)arg;
	return 0;
}

START_TEST(group_queued_spawns_start_in_spawn_order)
{
	atomic_store(&order_next, 0);
	spool_group *g;
	ck_assert_int_eq(spool_group_create(&g, thread_executor(), 1), 0);
	order_gate = spool_promise_new();
	struct gated hold = {order_gate, 0};
	/* The first task holds the only slot; the rest queue. */
	ck_assert_int_eq(spool_group_spawn(g, gated_fail, &hold, NULL), 0);
	for (intptr_t i = 0; i < 8; i++)
		ck_assert_int_eq(
			spool_group_spawn(g, record_order, (void *)i, NULL), 0);
	ck_assert_int_eq(atomic_load(&order_next), 0);
	spool_promise_set_result(order_gate, NULL);
	ck_assert_int_eq(spool_group_join(g, SPOOL_FOREVER), 0);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(order_seen[i], i);
	spool_future_release(order_gate);
	spool_group_destroy(g);
	thread_executor_drain();
}
END_TEST

START_TEST(group_cancel_stops_pending_flags_running_and_join_returns_ecancelled)
{
	reset_counters();
	spool_group *g;
	ck_assert_int_eq(spool_group_create(&g, thread_executor(), 1), 0);
	spool_future *runner, *queued;
	int64_t d = 0;
	ck_assert_int_eq(spool_group_spawn(g, until_cancelled, NULL, &runner),
			 0);
	ck_assert_int_eq(spool_group_spawn(g, counted_sleep, &d, &queued), 0);
	await_ran(1);
	ck_assert_int_eq(spool_group_cancel(g), 0);
	ck_assert_int_eq(spool_group_cancel(g), 0);
	ck_assert_int_eq(spool_future_state(queued), SPOOL_CANCELLED);
	ck_assert_int_eq(spool_group_spawn(g, counted_sleep, &d, NULL),
			 SPOOL_ECANCELLED);
	ck_assert_int_eq(spool_group_join(g, SPOOL_FOREVER), SPOOL_ECANCELLED);
	ck_assert_int_eq(spool_future_state(runner), SPOOL_CANCELLED);
	/* The queued one never ran; a cancellation is not a failure. */
	ck_assert_int_eq(atomic_load(&ran_count), 1);
	ck_assert_uint_eq(spool_group_failures(g), 0);
	spool_future_release(runner);
	spool_future_release(queued);
	spool_group_destroy(g);
	thread_executor_drain();
}
END_TEST

START_TEST(group_task_cancelled_through_its_future_is_not_a_failure)
{
	spool_group *g;
	ck_assert_int_eq(spool_group_create(&g, thread_executor(), 0), 0);
	spool_future *a, *b;
	int64_t d = 10 * MS;
	ck_assert_int_eq(spool_group_spawn(g, until_cancelled, NULL, &a), 0);
	ck_assert_int_eq(spool_group_spawn(g, counted_sleep, &d, &b), 0);
	spool_future_cancel(a);
	ck_assert_int_eq(spool_group_join(g, SPOOL_FOREVER), 0);
	ck_assert_int_eq(spool_future_state(a), SPOOL_CANCELLED);
	ck_assert_int_eq(spool_future_state(b), SPOOL_DONE);
	/* The group was not cancelled: it still accepts spawns. */
	ck_assert_int_eq(spool_group_spawn(g, counted_sleep, &d, NULL), 0);
	ck_assert_int_eq(spool_group_join(g, SPOOL_FOREVER), 0);
	spool_future_release(a);
	spool_future_release(b);
	spool_group_destroy(g);
	thread_executor_drain();
}
END_TEST

START_TEST(group_join_timeout_returns_etimedout_and_cancels_nothing)
{
	spool_group *g;
	ck_assert_int_eq(spool_group_create(&g, thread_executor(), 0), 0);
	spool_future *gate = spool_promise_new();
	struct gated hold = {gate, 0};
	spool_future *t;
	ck_assert_int_eq(spool_group_spawn(g, gated_fail, &hold, &t), 0);
	int64_t t0 = spool_test_now_ns();
	ck_assert_int_eq(spool_group_join(g, 20 * MS), SPOOL_ETIMEDOUT);
	ck_assert_int_ge(spool_test_now_ns() - t0, 20 * MS);
	ck_assert_int_eq(spool_group_join(g, 0), SPOOL_ETIMEDOUT);
	ck_assert(!spool_future_cancel_requested(t));
	spool_promise_set_result(gate, NULL);
	ck_assert_int_eq(spool_group_join(g, SPOOL_FOREVER), 0);
	ck_assert_int_eq(spool_future_state(t), SPOOL_DONE);
	spool_future_release(t);
	spool_future_release(gate);
	spool_group_destroy(g);
	thread_executor_drain();
}
END_TEST

START_TEST(group_destroy_with_unfinished_tasks_cancels_them_and_frees_later)
{
	reset_counters();
	spool_group *g;
	ck_assert_int_eq(spool_group_create(&g, thread_executor(), 1), 0);
	spool_future *runner, *queued;
	int64_t d = 0;
	ck_assert_int_eq(spool_group_spawn(g, until_cancelled, NULL, &runner),
			 0);
	ck_assert_int_eq(spool_group_spawn(g, counted_sleep, &d, &queued), 0);
	await_ran(1);
	spool_group_destroy(g); /* never blocks */
	ck_assert_int_eq(spool_future_state(queued), SPOOL_CANCELLED);
	ck_assert_int_eq(spool_future_wait(runner, SPOOL_FOREVER), 0);
	ck_assert_int_eq(spool_future_state(runner), SPOOL_CANCELLED);
	spool_future_release(runner);
	spool_future_release(queued);
	thread_executor_drain();
}
END_TEST

static spool_group *nest_group;

static int64_t child_sleep = 1 * MS;

static int spawns_children(void *arg, void **result)
{
	for (int i = 0; i < 3; i++)
		if (spool_group_spawn(nest_group, counted_sleep, &child_sleep,
				      NULL))
			return 99;
	return 0;
}

START_TEST(group_task_may_spawn_into_its_own_group_and_join_waits_for_those)
{
	reset_counters();
	ck_assert_int_eq(spool_group_create(&nest_group, thread_executor(), 0),
			 0);
	ck_assert_int_eq(
		spool_group_spawn(nest_group, spawns_children, NULL, NULL), 0);
	ck_assert_int_eq(spool_group_join(nest_group, SPOOL_FOREVER), 0);
	ck_assert_int_eq(atomic_load(&ran_count), 3);
	spool_group_destroy(nest_group);
	thread_executor_drain();
}
END_TEST

START_TEST(group_executor_refusal_is_a_failure)
{
	spool_group *g;
	ck_assert_int_eq(spool_group_create(&g, refusing_executor(), 0), 0);
	int64_t d = 0;
	spool_future *t;
	ck_assert_int_eq(spool_group_spawn(g, counted_sleep, &d, &t), 0);
	ck_assert_int_eq(spool_future_error(t), SPOOL_ESHUTDOWN);
	ck_assert_int_eq(spool_group_join(g, SPOOL_FOREVER), SPOOL_ESHUTDOWN);
	ck_assert_uint_eq(spool_group_failures(g), 1);
	spool_future_release(t);
	spool_group_destroy(g);
}
END_TEST

START_TEST(group_bad_input_is_einval)
{
	spool_group *g = NULL;
	ck_assert_int_eq(spool_group_create(NULL, thread_executor(), 0),
			 SPOOL_EINVAL);
	ck_assert_int_eq(spool_group_create(&g, NULL, 0), SPOOL_EINVAL);
	ck_assert_ptr_null(g);
	ck_assert_int_eq(spool_group_create(&g, spool_executor_inline(), 0), 0);
	spool_future *t = (spool_future *)&g; /* must be reset */
	ck_assert_int_eq(spool_group_spawn(g, NULL, NULL, &t), SPOOL_EINVAL);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(spool_group_spawn(NULL, failing, NULL, NULL),
			 SPOOL_EINVAL);
	ck_assert_int_eq(spool_group_join(NULL, 0), SPOOL_EINVAL);
	ck_assert_int_eq(spool_group_join(g, -1), SPOOL_EINVAL);
	ck_assert_int_eq(spool_group_cancel(NULL), SPOOL_EINVAL);
	ck_assert_uint_eq(spool_group_failures(NULL), 0);
	ck_assert_int_eq(spool_group_failure(NULL, 0, NULL), SPOOL_EINVAL);
	ck_assert_int_eq(spool_group_join(g, 0), 0); /* empty: done */
	spool_group_destroy(g);
	spool_group_destroy(NULL);
}
END_TEST

/* ---- on a pool -------------------------------------------------------- */

/* In a pool task with one worker: join must run the group's tasks itself. */
static int joins_a_group(void *arg, void **result)
{
	spool_executor *ex = arg;
	spool_group *g;
	if (spool_group_create(&g, ex, 2) != 0)
		return 1;
	for (intptr_t i = 0; i < 10; i++)
		if (spool_group_spawn(g, plus_one, (void *)i, NULL) != 0)
			return 2;
	int rc = spool_group_join(g, SPOOL_FOREVER);
	spool_group_destroy(g);
	return rc;
}

START_TEST(
	group_join_inside_a_pool_task_with_one_worker_helps_instead_of_deadlocking)
{
	spool_pool *p = make_pool(1);
	spool_executor *ex = spool_pool_executor(p);
	spool_future *f = spool_submit(ex, joins_a_group, ex);
	ck_assert_int_eq(spool_future_result(f, SPOOL_FOREVER, NULL), 0);
	spool_future_release(f);
	spool_pool_destroy(p);
}
END_TEST

START_TEST(group_on_a_pool_with_a_limit_and_a_failure)
{
	reset_counters();
	spool_pool *p = make_pool(4);
	spool_group *g;
	ck_assert_int_eq(spool_group_create(&g, spool_pool_executor(p), 2), 0);
	int64_t d = 2 * MS;
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(spool_group_spawn(g, counted_sleep, &d, NULL),
				 0);
	int err = 33;
	ck_assert_int_eq(spool_group_spawn(g, failing, &err, NULL), 0);
	ck_assert_int_eq(spool_group_join(g, SPOOL_FOREVER), 33);
	ck_assert_int_le(atomic_load(&running_max), 2);
	ck_assert_int_eq(atomic_load(&ran_count), 9); /* FIFO: all before */
	spool_group_destroy(g);
	spool_pool_destroy(p);
}
END_TEST

/* ---- on the loop ------------------------------------------------------ */

static int64_t long_nap = 10 * SPOOL_NS_PER_S;

/* A group of coroutines: the failure cancels the siblings suspended in
 * their sleep at once (their await returns SPOOL_ECANCELLED), so join
 * returns long before the sleeps would end. */
static int group_of_coroutines(void *arg, void **result)
{
	spool_group *g;
	if (spool_group_create(&g, loop_ex(), 0) != 0)
		return 1;
	spool_future *sleepers[3];
	for (int i = 0; i < 3; i++)
		if (spool_group_spawn(g, coro_nap, &long_nap, &sleepers[i]))
			return 2;
	spool_sleep(0); /* the sleepers start and suspend */
	int err = 8;
	if (spool_group_spawn(g, failing, &err, NULL) != 0)
		return 3;
	int64_t t0 = spool_test_now_ns();
	int rc = spool_group_join(g, SPOOL_FOREVER);
	int line = 0;
	if (rc != 8)
		line = __LINE__;
	if (!line && spool_test_now_ns() - t0 > 5 * SPOOL_NS_PER_S)
		line = __LINE__;
	for (int i = 0; !line && i < 3; i++)
		if (spool_future_state(sleepers[i]) != SPOOL_CANCELLED)
			line = __LINE__;
	if (!line && spool_group_failures(g) != 1)
		line = __LINE__;
	release_all(sleepers, 3);
	spool_group_destroy(g);
	return line ? 1000 + line : 0;
}

struct joiner {
	spool_future *tasks[3];
	int rc;
	spool_state states[3];
};

/* Joins a group of sleepers in a coroutine that gets cancelled. */
static int joins_until_cancelled(void *arg, void **result)
{
	struct joiner *j = arg;
	spool_group *g;
	if (spool_group_create(&g, loop_ex(), 0) != 0)
		return 1;
	for (int i = 0; i < 3; i++)
		if (spool_group_spawn(g, coro_nap, &long_nap, &j->tasks[i]))
			return 2;
	j->rc = spool_group_join(g, SPOOL_FOREVER);
	for (int i = 0; i < 3; i++)
		j->states[i] = spool_future_state(j->tasks[i]);
	release_all(j->tasks, 3);
	spool_group_destroy(g);
	return 0;
}

static int cancels_a_joiner(void *arg, void **result)
{
	spool_future *child = spool_submit(loop_ex(), joins_until_cancelled,
					   arg);
	spool_sleep(0); /* the joiner and its tasks start and suspend */
	spool_sleep(0);
	spool_sleep(0);
	int rc = spool_future_cancel(child);
	if (rc == 0)
		rc = spool_future_wait(child, SPOOL_FOREVER);
	spool_future_release(child);
	return rc;
}

START_TEST(
	group_join_in_a_cancelled_coroutine_cancels_the_group_and_waits_for_it)
{
	struct joiner j = {{NULL}, 99, {SPOOL_PENDING}};
	ck_assert_int_eq(run_coro(cancels_a_joiner, &j), 0);
	ck_assert_int_eq(j.rc, SPOOL_ECANCELLED);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(j.states[i], SPOOL_CANCELLED);
}
END_TEST

struct multi_join {
	spool_group *g;
	int rc;
	pthread_t th;
};

static void *joiner_main(void *arg)
{
	struct multi_join *m = arg;
	m->rc = spool_group_join(m->g, SPOOL_FOREVER);
	return NULL;
}

START_TEST(group_several_threads_may_join_at_once)
{
	spool_group *g;
	ck_assert_int_eq(spool_group_create(&g, thread_executor(), 0), 0);
	spool_future *gate = spool_promise_new();
	struct gated hold = {gate, 0};
	ck_assert_int_eq(spool_group_spawn(g, gated_fail, &hold, NULL), 0);
	struct multi_join m[4];
	for (int i = 0; i < 4; i++) {
		m[i] = (struct multi_join){g, 99, 0};
		pthread_create(&m[i].th, NULL, joiner_main, &m[i]);
	}
	spool_test_sleep_ns(5 * MS);
	spool_promise_set_result(gate, NULL);
	for (int i = 0; i < 4; i++) {
		pthread_join(m[i].th, NULL);
		ck_assert_int_eq(m[i].rc, 0);
	}
	spool_future_release(gate);
	spool_group_destroy(g);
	thread_executor_drain();
}
END_TEST

START_TEST(group_of_coroutines_failure_interrupts_suspended_siblings)
{
	reset_counters();
	ck_assert_int_eq(run_coro(group_of_coroutines, NULL), 0);
}
END_TEST

/* ---- races ------------------------------------------------------------ */

enum { RACE_THREADS = 8, RACE_SPAWNS = 40, RACE_ITERS = 40 };

struct spawner {
	spool_group *g;
	int id;
	pthread_barrier_t *go;
	int accepted, refused;
};

static int maybe_fail(void *arg, void **result)
{
	intptr_t v = (intptr_t)arg;
	return v % 97 == 13 ? 1000 + (int)v : 0;
}

static void *spawner_main(void *arg)
{
	struct spawner *s = arg;
	pthread_barrier_wait(s->go);
	for (int i = 0; i < RACE_SPAWNS; i++) {
		intptr_t v = s->id * RACE_SPAWNS + i;
		int rc = spool_group_spawn(s->g, maybe_fail, (void *)v, NULL);
		if (rc == 0)
			s->accepted++;
		else if (rc == SPOOL_ECANCELLED)
			s->refused++;
		else
			ck_abort_msg("spawn returned %d", rc);
	}
	return NULL;
}

START_TEST(race_group_spawn_from_8_threads_with_failures_and_a_limit)
{
	for (int it = 0; it < RACE_ITERS; it++) {
		spool_group *g;
		size_t limit = it % 3 == 0 ? 0 : (size_t)(it % 5 + 1);
		ck_assert_int_eq(
			spool_group_create(&g, spool_executor_inline(), limit),
			0);
		pthread_barrier_t go;
		pthread_barrier_init(&go, NULL, RACE_THREADS);
		pthread_t th[RACE_THREADS];
		struct spawner s[RACE_THREADS];
		for (int t = 0; t < RACE_THREADS; t++) {
			s[t] = (struct spawner){g, t + it, &go, 0, 0};
			pthread_create(&th[t], NULL, spawner_main, &s[t]);
		}
		int accepted = 0;
		for (int t = 0; t < RACE_THREADS; t++) {
			pthread_join(th[t], NULL);
			accepted += s[t].accepted;
		}
		pthread_barrier_destroy(&go);
		int rc = spool_group_join(g, SPOOL_FOREVER);
		size_t nf = spool_group_failures(g);
		if (nf == 0) {
			ck_assert_int_eq(rc, 0);
			ck_assert_int_eq(accepted, RACE_THREADS * RACE_SPAWNS);
		} else {
			ck_assert_int_eq(rc, spool_group_failure(g, 0, NULL));
			for (size_t i = 0; i < nf; i++) {
				size_t idx;
				int e = spool_group_failure(g, i, &idx);
				ck_assert_int_gt(e, 1000);
				ck_assert_uint_lt(idx, (size_t)accepted);
			}
		}
		spool_group_destroy(g);
	}
}
END_TEST

START_TEST(race_group_spawn_on_a_pool_with_8_workers)
{
	spool_pool *p = make_pool(8);
	for (int it = 0; it < RACE_ITERS; it++) {
		spool_group *g;
		size_t limit = it % 3 == 0 ? 0 : (size_t)(it % 5 + 1);
		ck_assert_int_eq(
			spool_group_create(&g, spool_pool_executor(p), limit),
			0);
		pthread_barrier_t go;
		pthread_barrier_init(&go, NULL, RACE_THREADS);
		pthread_t th[RACE_THREADS];
		struct spawner s[RACE_THREADS];
		for (int t = 0; t < RACE_THREADS; t++) {
			s[t] = (struct spawner){g, t + it, &go, 0, 0};
			pthread_create(&th[t], NULL, spawner_main, &s[t]);
		}
		for (int t = 0; t < RACE_THREADS; t++)
			pthread_join(th[t], NULL);
		pthread_barrier_destroy(&go);
		int rc = spool_group_join(g, SPOOL_FOREVER);
		size_t nf = spool_group_failures(g);
		ck_assert_int_eq(rc, nf ? spool_group_failure(g, 0, NULL) : 0);
		spool_group_destroy(g);
	}
	spool_pool_destroy(p);
}
END_TEST

static Suite *group_suite(void)
{
	Suite *s = suite_create("group");
	TCase *tc = spool_test_case("join", 30);
	tcase_add_test(tc, group_join_waits_for_every_task);
	tcase_add_test(tc, group_on_the_inline_executor_runs_tasks_at_spawn);
	tcase_add_test(tc, group_several_threads_may_join_at_once);
	tcase_add_test(
		tc, group_join_timeout_returns_etimedout_and_cancels_nothing);
	tcase_add_test(
		tc,
		group_task_may_spawn_into_its_own_group_and_join_waits_for_those);
	suite_add_tcase(s, tc);

	tc = spool_test_case("failure", 30);
	tcase_add_test(
		tc, group_first_failure_cancels_the_others_and_refuses_spawns);
	tcase_add_test(tc, group_join_reports_every_failure_not_only_the_first);
	tcase_add_test(tc, group_spawn_numbers_count_refused_spawns_out);
	tcase_add_test(
		tc, group_task_cancelled_through_its_future_is_not_a_failure);
	tcase_add_test(tc, group_executor_refusal_is_a_failure);
	suite_add_tcase(s, tc);

	tc = spool_test_case("limit", 30);
	tcase_add_test(
		tc,
		group_limit_caps_the_tasks_running_at_once_and_starts_queued_ones_in_order);
	tcase_add_test(tc, group_queued_spawns_start_in_spawn_order);
	suite_add_tcase(s, tc);

	tc = spool_test_case("cancel", 30);
	tcase_add_test(
		tc,
		group_cancel_stops_pending_flags_running_and_join_returns_ecancelled);
	tcase_add_test(
		tc,
		group_destroy_with_unfinished_tasks_cancels_them_and_frees_later);
	tcase_add_test(tc, group_bad_input_is_einval);
	suite_add_tcase(s, tc);

	tc = spool_test_case("pool", 60);
	tcase_add_test(
		tc,
		group_join_inside_a_pool_task_with_one_worker_helps_instead_of_deadlocking);
	tcase_add_test(tc, group_on_a_pool_with_a_limit_and_a_failure);
	suite_add_tcase(s, tc);

	tc = spool_test_case("loop", 60);
	tcase_add_test(
		tc, group_of_coroutines_failure_interrupts_suspended_siblings);
	tcase_add_test(
		tc,
		group_join_in_a_cancelled_coroutine_cancels_the_group_and_waits_for_it);
	suite_add_tcase(s, tc);

	tc = spool_test_case("race", 240);
	tcase_add_test(tc, race_group_spawn_on_a_pool_with_8_workers);
	tcase_add_test(
		tc, race_group_spawn_from_8_threads_with_failures_and_a_limit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return spool_test_run(group_suite());
}
