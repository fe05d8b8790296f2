/* SPDX-License-Identifier: MIT */
/*
 * Suite "fail": failures with detail (spool/fail.h). A task fails with a
 * code and a message (and a payload); the detail is read on its future,
 * travels unchanged (shared: the same message pointer, the same payload)
 * through every combinator, on the pool and on the loop, and the payload's
 * destructor runs exactly once whatever happens to the failure: read or
 * not, propagated or not, dropped by a success, or by an allocation that
 * fails on the way.
 */
#include <stdatomic.h>
#include <string.h>

#include "core/detail.h"
#include "oom_sweep.h"
#include "spool/fail.h"
#include "support.h"

#define MS SPOOL_NS_PER_MS

/* ---- the payload: counts its destructor ------------------------------- */

static atomic_int freed, created;

struct payload {
	int magic;
};

static void payload_free(void *p)
{
	struct payload *pl = p;
	ck_assert_int_eq(pl->magic, 0x5ca1ab1e);
	pl->magic = 0;
	free(pl);
	atomic_fetch_add(&freed, 1);
}

static struct payload *payload_new(void)
{
	struct payload *p = malloc(sizeof *p);
	ck_assert_ptr_nonnull(p);
	p->magic = 0x5ca1ab1e;
	atomic_fetch_add(&created, 1);
	return p;
}

/* ---- tasks ------------------------------------------------------------ */

/* Fails with 98 and a message naming arg (a string). */
static int fails_named(void *arg, void **result)
{
	(void)result;
	return spool_fail(98, "TaskError: %s", (const char *)arg);
}

/* Fails with 98, a message and a counted payload. */
static int fails_with_payload(void *arg, void **result)
{
	(void)result;
	return spool_fail_with(98, payload_new(), payload_free, "TaskError: %s",
			       (const char *)arg);
}

/* Records a detail with a payload, then succeeds. */
static int records_then_succeeds(void *arg, void **result)
{
	spool_fail_with(98, payload_new(), payload_free, "never seen");
	*result = arg;
	return 0;
}

/* Records a detail for 98, then fails with 99. */
static int records_then_fails_otherwise(void *arg, void **result)
{
	(void)arg, (void)result;
	spool_fail_with(98, payload_new(), payload_free, "for 98");
	return 99;
}

/* Records twice: the second replaces the first. */
static int records_twice(void *arg, void **result)
{
	(void)arg, (void)result;
	spool_fail_with(98, payload_new(), payload_free, "first");
	return spool_fail_with(98, payload_new(), payload_free, "second");
}

static int succeeds(void *arg, void **result)
{
	*result = arg;
	return 0;
}

/* fails_with_payload when arg names it, else succeeds. */
static int fails_if_named(void *arg, void **result)
{
	return arg ? fails_with_payload(arg, result) : succeeds(arg, result);
}

/* On the loop: suspends (other coroutines run and fail meanwhile), then
 * fails with the detail recorded before the suspension. */
static int records_sleeps_then_fails(void *arg, void **result)
{
	(void)result;
	spool_fail_with(98, payload_new(), payload_free, "TaskError: %s",
			(const char *)arg);
	spool_sleep(1 * MS);
	return 98;
}

/* ---- helpers ---------------------------------------------------------- */

/* f is FAILED with 98 and message want. */
static void expect_detail(spool_future *f, const char *want)
{
	ck_assert_int_eq(spool_future_state(f), SPOOL_FAILED);
	ck_assert_int_eq(spool_future_error(f), 98);
	const char *m = spool_future_error_message(f);
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(m, want);
}

/* Runs f to its end on loop. */
static void settle_on(spool_loop *loop, spool_future *f)
{
	spool_loop_run_until_complete(loop, f);
	ck_assert(spool_future_done(f));
}

/* ---- the task's own future -------------------------------------------- */

START_TEST(a_pool_task_failing_with_spool_fail_carries_its_message)
{
	spool_pool *p = spool_test_pool_new(2);
	spool_future *f = spool_submit(spool_pool_executor(p), fails_named,
				       "alpha");
	spool_future_wait(f, SPOOL_FOREVER);
	expect_detail(f, "TaskError: alpha");
	ck_assert_ptr_null(spool_future_error_payload(f));
	void *v = &v;
	ck_assert_int_eq(spool_future_result(f, 0, &v), 98);
	ck_assert_ptr_null(v);
	spool_future_release(f);
	spool_pool_destroy(p);
}
END_TEST

START_TEST(a_coroutine_failing_with_spool_fail_carries_its_message)
{
	spool_loop *loop = spool_test_loop_new();
	spool_future *f = spool_test_loop_submit(loop, fails_named, "beta");
	settle_on(loop, f);
	expect_detail(f, "TaskError: beta");
	spool_future_release(f);
	spool_loop_destroy(loop);
}
END_TEST

START_TEST(an_inline_task_failing_with_spool_fail_carries_its_message)
{
	spool_future *f = spool_submit(spool_executor_inline(), fails_named,
				       "gamma");
	expect_detail(f, "TaskError: gamma");
	spool_future_release(f);
}
END_TEST

START_TEST(the_payload_is_freed_once_when_the_failure_is_never_read)
{
	atomic_store(&freed, 0);
	spool_pool *p = spool_test_pool_new(2);
	enum { N = 64 };
	spool_future *f[N];
	for (int i = 0; i < N; i++)
		f[i] = spool_submit(spool_pool_executor(p), fails_with_payload,
				    "x");
	for (int i = 0; i < N; i++)
		spool_future_wait(f[i], SPOOL_FOREVER);
	ck_assert_int_eq(atomic_load(&freed), 0);
	for (int i = 0; i < N; i++)
		spool_future_release(f[i]);
	/* A worker may still hold its reference for an instant after the
	 * completion: the last holder frees, whoever it is. */
	spool_pool_destroy(p);
	ck_assert_int_eq(atomic_load(&freed), N);
}
END_TEST

START_TEST(the_payload_is_read_on_the_future_that_failed)
{
	atomic_store(&freed, 0);
	spool_future *f = spool_submit(spool_executor_inline(),
				       fails_with_payload, "p");
	struct payload *pl = spool_future_error_payload(f);
	ck_assert_ptr_nonnull(pl);
	ck_assert_int_eq(pl->magic, 0x5ca1ab1e);
	spool_future_release(f);
	ck_assert_int_eq(atomic_load(&freed), 1);
}
END_TEST

START_TEST(a_detail_recorded_before_a_success_is_dropped_once)
{
	atomic_store(&freed, 0);
	spool_pool *p = spool_test_pool_new(2);
	spool_future *f = spool_submit(spool_pool_executor(p),
				       records_then_succeeds, &freed);
	spool_future_wait(f, SPOOL_FOREVER);
	ck_assert_int_eq(spool_future_state(f), SPOOL_DONE);
	ck_assert_ptr_eq(spool_future_value(f), &freed);
	ck_assert_ptr_null(spool_future_error_message(f));
	ck_assert_int_eq(atomic_load(&freed), 1); /* at the completion */
	spool_future_release(f);
	spool_pool_destroy(p);
	ck_assert_int_eq(atomic_load(&freed), 1);
}
END_TEST

START_TEST(a_detail_recorded_for_another_code_is_dropped_once)
{
	atomic_store(&freed, 0);
	spool_future *f = spool_submit(spool_executor_inline(),
				       records_then_fails_otherwise, NULL);
	ck_assert_int_eq(spool_future_error(f), 99);
	ck_assert_ptr_null(spool_future_error_message(f));
	ck_assert_ptr_null(spool_future_error_payload(f));
	ck_assert_int_eq(atomic_load(&freed), 1);
	spool_future_release(f);
	ck_assert_int_eq(atomic_load(&freed), 1);
}
END_TEST

START_TEST(a_later_spool_fail_replaces_the_earlier)
{
	atomic_store(&freed, 0);
	spool_future *f = spool_submit(spool_executor_inline(), records_twice,
				       NULL);
	expect_detail(f, "second");
	ck_assert_int_eq(atomic_load(&freed), 1);
	spool_future_release(f);
	ck_assert_int_eq(atomic_load(&freed), 2);
}
END_TEST

START_TEST(spool_fail_outside_a_task_returns_the_code_and_frees_the_payload)
{
	atomic_store(&freed, 0);
	ck_assert_int_eq(spool_fail(98, "nowhere %d", 1), 98);
	ck_assert_int_eq(spool_fail(SPOOL_EINVAL, NULL), SPOOL_EINVAL);
	ck_assert_int_eq(
		spool_fail_with(7, payload_new(), payload_free, "nowhere"), 7);
	ck_assert_int_eq(atomic_load(&freed), 1);
	ck_assert_int_eq(spool_fail_with(7, NULL, NULL, NULL), 7);
}
END_TEST

static int cancels_with_detail(void *arg, void **result)
{
	(void)arg, (void)result;
	return spool_fail_with(SPOOL_ECANCELLED, payload_new(), payload_free,
			       "a cancel carries none");
}

START_TEST(a_cancel_carries_no_detail)
{
	atomic_store(&freed, 0);
	spool_future *f = spool_submit(spool_executor_inline(),
				       cancels_with_detail, NULL);
	ck_assert_int_eq(spool_future_state(f), SPOOL_CANCELLED);
	ck_assert_ptr_null(spool_future_error_message(f));
	ck_assert_int_eq(atomic_load(&freed), 1);
	spool_future_release(f);
}
END_TEST

START_TEST(a_coroutine_keeps_its_detail_across_a_suspension)
{
	atomic_store(&freed, 0);
	spool_loop *loop = spool_test_loop_new();
	static const char *names[] = {"c0", "c1", "c2", "c3"};
	spool_future *f[4];
	for (int i = 0; i < 4; i++)
		f[i] = spool_test_loop_submit(loop, records_sleeps_then_fails,
					      (void *)names[i]);
	spool_future *g = spool_gather(f, 4, SPOOL_RETURN_ERRORS);
	settle_on(loop, g);
	char want[32];
	for (int i = 0; i < 4; i++) {
		snprintf(want, sizeof want, "TaskError: %s", names[i]);
		expect_detail(f[i], want);
	}
	spool_future_release(g);
	for (int i = 0; i < 4; i++)
		spool_future_release(f[i]);
	ck_assert_int_eq(atomic_load(&freed), 4);
	spool_loop_destroy(loop);
}
END_TEST

/* ---- promises ---------------------------------------------------------- */

START_TEST(set_error_detail_copies_the_message_and_owns_the_payload)
{
	atomic_store(&freed, 0);
	spool_future *f = spool_promise_new();
	char buf[16] = "KeyError: k";
	struct payload *pl = payload_new();
	ck_assert_int_eq(
		spool_promise_set_error_detail(f, 98, buf, pl, payload_free),
		0);
	buf[0] = 'X';
	expect_detail(f, "KeyError: k");
	ck_assert_ptr_eq(spool_future_error_payload(f), pl);
	spool_future_release(f);
	ck_assert_int_eq(atomic_load(&freed), 1);
}
END_TEST

START_TEST(set_error_detail_refused_leaves_the_payload_with_the_caller)
{
	atomic_store(&freed, 0);
	struct payload *pl = payload_new();
	spool_future *f = spool_promise_new();
	ck_assert_int_eq(
		spool_promise_set_error_detail(f, 0, "m", pl, payload_free),
		SPOOL_EINVAL);
	ck_assert_int_eq(spool_promise_set_error_detail(f, SPOOL_ECANCELLED,
							"m", pl, payload_free),
			 SPOOL_EINVAL);
	ck_assert_int_eq(spool_future_state(f), SPOOL_PENDING);
	ck_assert_int_eq(spool_promise_set_error(f, 5), 0);
	ck_assert_int_eq(
		spool_promise_set_error_detail(f, 98, "m", pl, payload_free),
		SPOOL_ESTATE);
	ck_assert_int_eq(spool_future_error(f), 5);
	ck_assert_ptr_null(spool_future_error_message(f));
	ck_assert_int_eq(atomic_load(&freed), 0);
	spool_future_release(f);
	payload_free(pl);
}
END_TEST

START_TEST(set_error_detail_without_a_message_has_only_the_payload)
{
	spool_future *f = spool_promise_new();
	int x;
	ck_assert_int_eq(spool_promise_set_error_detail(f, 3, NULL, &x, NULL),
			 0);
	ck_assert_ptr_null(spool_future_error_message(f));
	ck_assert_ptr_eq(spool_future_error_payload(f), &x);
	spool_future_release(f);
}
END_TEST

/* ---- through the combinators ------------------------------------------ */

/* A gather of ok, failing (with payload), ok on ex, run by loop if any.
 * The gather's message is the child's very string. */
static void gather_passes_it_on(spool_executor *ex, spool_loop *loop)
{
	atomic_store(&freed, 0);
	spool_future *f[3] = {
		spool_submit(ex, succeeds, NULL),
		spool_submit(ex, fails_with_payload, "in a gather"),
		spool_submit(ex, succeeds, NULL),
	};
	spool_future *g = spool_gather(f, 3, 0);
	spool_future *outer = spool_gather(&g, 1, 0);
	if (loop)
		settle_on(loop, outer);
	spool_future_wait(outer, SPOOL_FOREVER);
	spool_future_wait(f[1], SPOOL_FOREVER);
	expect_detail(g, "TaskError: in a gather");
	expect_detail(outer, "TaskError: in a gather");
	ck_assert_ptr_eq(spool_future_error_message(g),
			 spool_future_error_message(f[1]));
	ck_assert_ptr_eq(spool_future_error_message(outer),
			 spool_future_error_message(f[1]));
	ck_assert_ptr_nonnull(spool_future_error_payload(outer));
	ck_assert_ptr_eq(spool_future_error_payload(outer),
			 spool_future_error_payload(f[1]));
	/* The child goes first; the gathers still hold the detail. */
	for (int i = 0; i < 3; i++)
		spool_future_wait(f[i], SPOOL_FOREVER),
			spool_future_release(f[i]);
	ck_assert_int_eq(atomic_load(&freed), 0);
	ck_assert_str_eq(spool_future_error_message(outer),
			 "TaskError: in a gather");
	spool_future_release(outer);
	ck_assert_int_eq(atomic_load(&freed), 0);
	spool_future_release(g);
}

START_TEST(a_message_travels_through_nested_gathers_on_the_pool)
{
	spool_pool *p = spool_test_pool_new(2);
	gather_passes_it_on(spool_pool_executor(p), NULL);
	spool_pool_destroy(p);
	ck_assert_int_eq(atomic_load(&freed), 1);
}
END_TEST

START_TEST(a_message_travels_through_nested_gathers_on_the_loop)
{
	spool_loop *loop = spool_test_loop_new();
	gather_passes_it_on(spool_loop_executor(loop), loop);
	spool_loop_destroy(loop);
	ck_assert_int_eq(atomic_load(&freed), 1);
}
END_TEST

static void map_passes_it_on(spool_executor *ex, spool_loop *loop)
{
	atomic_store(&freed, 0);
	static const char *names[] = {NULL, "m1", NULL};
	void *args[3] = {NULL, (void *)names[1], NULL};
	spool_future *m = spool_map(ex, fails_if_named, args, 3, 0);
	if (loop)
		settle_on(loop, m);
	spool_future_wait(m, SPOOL_FOREVER);
	expect_detail(m, "TaskError: m1");
	ck_assert_ptr_nonnull(spool_future_error_payload(m));
	spool_future_release(m);
}

START_TEST(a_message_travels_through_map_on_the_pool)
{
	spool_pool *p = spool_test_pool_new(2);
	map_passes_it_on(spool_pool_executor(p), NULL);
	spool_pool_destroy(p);
	ck_assert_int_eq(atomic_load(&freed), 1);
}
END_TEST

START_TEST(a_message_travels_through_map_on_the_loop)
{
	spool_loop *loop = spool_test_loop_new();
	map_passes_it_on(spool_loop_executor(loop), loop);
	spool_loop_destroy(loop);
	ck_assert_int_eq(atomic_load(&freed), 1);
}
END_TEST

/* What a driver saw, for the test's thread to check (a check must not
 * fail on a worker or in a coroutine). */
struct seen {
	spool_executor *ex;
	int wait_rc, ac_rc, wait_for_rc, join_rc, failure_rc;
	char wait_msg[64], ac_msg[64], wait_for_msg[64], join_msg[64];
	char then_msg[64];
	bool join_payload;
	int then_rc;
};

static void copy_msg(char *dst, const char *m)
{
	snprintf(dst, 64, "%s", m ? m : "(none)");
}

static int then_fails(spool_future *src, void *arg, void **result)
{
	(void)arg, (void)result;
	return spool_fail(98, "then saw %s", spool_future_error_message(src));
}

/* Runs wait, as_completed, wait_for, a group and then on s->ex, each
 * with a failing task, and copies out the messages they hand back. */
static int drive(void *arg, void **result)
{
	(void)result;
	struct seen *s = arg;
	spool_executor *ex = s->ex;

	spool_future *f[2] = {spool_submit(ex, succeeds, NULL),
			      spool_submit(ex, fails_named, "waited")};
	bool done[2];
	size_t nd, np;
	s->wait_rc = spool_wait(f, 2, SPOOL_ALL_COMPLETED, SPOOL_FOREVER, done,
				&nd, &np);
	copy_msg(s->wait_msg, spool_future_error_message(f[1]));

	spool_as_completed *it;
	s->ac_rc = spool_as_completed_create(&it, f, 2, SPOOL_FOREVER);
	if (s->ac_rc == 0) {
		spool_future *c;
		while (spool_as_completed_next(it, &c, NULL) == 0)
			if (spool_future_error(c) != 0)
				copy_msg(s->ac_msg,
					 spool_future_error_message(c));
		spool_as_completed_destroy(it);
	}

	spool_future *then = spool_then(f[1], ex, then_fails, NULL);
	s->then_rc = spool_future_wait(then, SPOOL_FOREVER);
	copy_msg(s->then_msg, spool_future_error_message(then));
	spool_future_release(then);
	spool_future_release(f[0]);
	spool_future_release(f[1]);

	spool_future *h = spool_submit(ex, fails_named, "timed");
	void *v;
	s->wait_for_rc = spool_wait_for(h, 60 * SPOOL_NS_PER_S, &v);
	copy_msg(s->wait_for_msg, spool_future_error_message(h));
	spool_future_release(h);

	spool_group *g;
	if (spool_group_create(&g, ex, 0) == 0) {
		spool_group_spawn(g, succeeds, NULL, NULL);
		spool_group_spawn(g, fails_with_payload, "grouped", NULL);
		s->join_rc = spool_group_join(g, SPOOL_FOREVER);
		const char *m;
		void *pl;
		s->failure_rc = spool_group_failure_detail(g, 0, &m, &pl);
		copy_msg(s->join_msg, m);
		s->join_payload = pl != NULL;
		spool_group_destroy(g);
	}
	return 0;
}

static void expect_seen(const struct seen *s)
{
	ck_assert_int_eq(s->wait_rc, 0);
	ck_assert_str_eq(s->wait_msg, "TaskError: waited");
	ck_assert_int_eq(s->ac_rc, 0);
	ck_assert_str_eq(s->ac_msg, "TaskError: waited");
	ck_assert_int_eq(s->then_rc, 0);
	ck_assert_str_eq(s->then_msg, "then saw TaskError: waited");
	ck_assert_int_eq(s->wait_for_rc, 98);
	ck_assert_str_eq(s->wait_for_msg, "TaskError: timed");
	ck_assert_int_eq(s->join_rc, 98);
	ck_assert_int_eq(s->failure_rc, 98);
	ck_assert_str_eq(s->join_msg, "TaskError: grouped");
	ck_assert(s->join_payload);
}

START_TEST(
	messages_travel_through_wait_as_completed_wait_for_then_and_groups_on_the_pool)
{
	atomic_store(&freed, 0);
	spool_pool *p = spool_test_pool_new(2);
	struct seen s = {.ex = spool_pool_executor(p)};
	/* From a task (a wait there helps) and from this thread. */
	spool_future *d = spool_submit(s.ex, drive, &s);
	spool_future_wait(d, SPOOL_FOREVER);
	ck_assert_int_eq(spool_future_error(d), 0);
	spool_future_release(d);
	expect_seen(&s);
	memset(&s, 0, sizeof s);
	s.ex = spool_pool_executor(p);
	drive(&s, NULL);
	expect_seen(&s);
	spool_pool_destroy(p);
	ck_assert_int_eq(atomic_load(&freed), 2);
}
END_TEST

START_TEST(
	messages_travel_through_wait_as_completed_wait_for_then_and_groups_on_the_loop)
{
	atomic_store(&freed, 0);
	spool_loop *loop = spool_test_loop_new();
	struct seen s = {.ex = spool_loop_executor(loop)};
	spool_future *d = spool_test_loop_submit(loop, drive, &s);
	settle_on(loop, d);
	ck_assert_int_eq(spool_future_error(d), 0);
	spool_future_release(d);
	expect_seen(&s);
	spool_loop_destroy(loop);
	ck_assert_int_eq(atomic_load(&freed), 1);
}
END_TEST

START_TEST(a_group_lists_each_failure_with_its_own_message)
{
	atomic_store(&freed, 0);
	spool_group *g;
	ck_assert_int_eq(spool_group_create(&g, spool_executor_inline(), 0), 0);
	/* Inline: each runs at spawn; the first failure cancels the
	 * group, so spawn the failures through a second group. */
	ck_assert_int_eq(spool_group_spawn(g, fails_with_payload, "one", NULL),
			 0);
	ck_assert_int_eq(spool_group_join(g, SPOOL_FOREVER), 98);
	ck_assert_uint_eq(spool_group_failures(g), 1);
	const char *m = NULL;
	void *pl = NULL;
	ck_assert_int_eq(spool_group_failure_detail(g, 0, &m, &pl), 98);
	ck_assert_str_eq(m, "TaskError: one");
	ck_assert_ptr_nonnull(pl);
	ck_assert_int_eq(spool_group_failure_detail(g, 0, NULL, NULL), 98);
	m = "x";
	pl = &pl;
	ck_assert_int_eq(spool_group_failure_detail(g, 1, &m, &pl),
			 SPOOL_EINVAL);
	ck_assert_ptr_null(m);
	ck_assert_ptr_null(pl);
	ck_assert_int_eq(atomic_load(&freed), 0);
	spool_group_destroy(g);
	ck_assert_int_eq(atomic_load(&freed), 1);
}
END_TEST

START_TEST(a_message_travels_from_a_pool_to_the_loop_through_run_in_executor)
{
	atomic_store(&freed, 0);
	spool_pool *p = spool_test_pool_new(2);
	spool_loop *loop = spool_test_loop_new();
	spool_future *f = spool_loop_run_in_executor(
		loop, spool_pool_executor(p), fails_with_payload, "bridged");
	ck_assert_ptr_nonnull(f);
	settle_on(loop, f);
	expect_detail(f, "TaskError: bridged");
	ck_assert_ptr_nonnull(spool_future_error_payload(f));
	spool_future_release(f);
	spool_loop_destroy(loop);
	spool_pool_destroy(p);
	ck_assert_int_eq(atomic_load(&freed), 1);
}
END_TEST

/* ---- halves of a join -------------------------------------------------- */

enum { HALF_ROUNDS = 200 };

static int half_fails(void *arg)
{
	(void)arg;
	return spool_fail_with(98, payload_new(), payload_free, "half");
}

static int joins_failing_halves(void *arg, void **result)
{
	(void)result;
	spool_pool *p = arg;
	int rc = spool_join(p, half_fails, NULL, half_fails, NULL);
	return rc;
}

START_TEST(halves_of_a_join_recording_at_once_free_every_payload_once)
{
	atomic_store(&freed, 0);
	spool_pool *p = spool_test_pool_new(4);
	spool_future *f[HALF_ROUNDS];
	for (int i = 0; i < HALF_ROUNDS; i++)
		f[i] = spool_submit(spool_pool_executor(p),
				    joins_failing_halves, p);
	for (int i = 0; i < HALF_ROUNDS; i++) {
		spool_future_wait(f[i], SPOOL_FOREVER);
		if (spool_future_error(f[i]) == 98)
			ck_assert_str_eq(spool_future_error_message(f[i]),
					 "half");
		spool_future_release(f[i]);
	}
	spool_pool_destroy(p);
	ck_assert_int_eq(atomic_load(&freed), 2 * HALF_ROUNDS);
}
END_TEST

static int spawn_fails(void *arg)
{
	(void)arg;
	return spool_fail_with(98, payload_new(), payload_free, "spawned");
}

START_TEST(details_recorded_in_scope_spawns_are_freed_once)
{
	atomic_store(&freed, 0);
	spool_pool *p = spool_test_pool_new(4);
	for (int round = 0; round < 20; round++) {
		spool_scope sc;
		ck_assert_int_eq(spool_scope_begin(&sc, p), 0);
		for (int i = 0; i < 8; i++)
			ck_assert_int_eq(
				spool_scope_spawn(&sc, spawn_fails, NULL), 0);
		ck_assert_int_eq(spool_scope_wait(&sc), 98);
	}
	spool_pool_destroy(p);
	ck_assert_int_eq(atomic_load(&freed), 20 * 8);
}
END_TEST

/* ---- spool_fail_take: an adapter's functions inside one task ---------- */

/* What takes_back saw; checked on the test's thread. */
struct takes {
	char *first;     /* take(98) after a function failed with 98 */
	char *other;     /* take(99) after one recorded 98, failed 99 */
	char *after_ok;  /* take(0) after one recorded, then succeeded */
	char *nothing;   /* take(98) with nothing recorded */
	char *bare;      /* take(98) after spool_fail(98, NULL) */
	int freed_after; /* payloads freed by then */
};

/* Plays an adapter that runs several user functions inside its own task
 * and carries each failure elsewhere: after each function it takes back
 * what the function recorded. Then fails with 98 itself, without a
 * detail: what was taken must not come back. */
static int takes_back(void *arg, void **result)
{
	struct takes *t = arg;
	(void)result;
	int base = atomic_load(&freed);
	spool_fail_with(98, payload_new(), payload_free, "first %d", 1);
	t->first = spool_fail_take(98);
	spool_fail_with(98, payload_new(), payload_free, "for 98");
	t->other = spool_fail_take(99);
	spool_fail_with(98, payload_new(), payload_free, "then a success");
	t->after_ok = spool_fail_take(0);
	t->nothing = spool_fail_take(98);
	spool_fail(98, NULL);
	t->bare = spool_fail_take(98);
	t->freed_after = atomic_load(&freed) - base;
	return 98;
}

static void expect_taken(spool_future *f, struct takes *t)
{
	ck_assert_ptr_nonnull(t->first);
	ck_assert_str_eq(t->first, "first 1");
	ck_assert_ptr_null(t->other);
	ck_assert_ptr_null(t->after_ok);
	ck_assert_ptr_null(t->nothing);
	ck_assert_ptr_null(t->bare);
	/* Each take dropped its detail then and there. */
	ck_assert_int_eq(t->freed_after, 3);
	ck_assert_int_eq(spool_future_state(f), SPOOL_FAILED);
	ck_assert_int_eq(spool_future_error(f), 98);
	ck_assert_ptr_null(spool_future_error_message(f));
	ck_assert_ptr_null(spool_future_error_payload(f));
	free(t->first);
}

START_TEST(spool_fail_take_hands_back_the_message_on_every_executor)
{
	atomic_store(&freed, 0);
	struct takes t = {0};
	spool_pool *p = spool_test_pool_new(2);
	spool_future *f = spool_submit(spool_pool_executor(p), takes_back, &t);
	spool_future_wait(f, SPOOL_FOREVER);
	expect_taken(f, &t);
	spool_future_release(f);
	spool_pool_destroy(p);

	memset(&t, 0, sizeof t);
	spool_loop *loop = spool_test_loop_new();
	f = spool_test_loop_submit(loop, takes_back, &t);
	settle_on(loop, f);
	expect_taken(f, &t);
	spool_future_release(f);
	spool_loop_destroy(loop);

	memset(&t, 0, sizeof t);
	f = spool_submit(spool_executor_inline(), takes_back, &t);
	expect_taken(f, &t);
	spool_future_release(f);
	ck_assert_int_eq(atomic_load(&freed), 9);
}
END_TEST

/* Takes back a detail while the seam fails the copy of its message. */
static int takes_back_without_memory(void *arg, void **result)
{
	(void)result;
	spool_fail_with(98, payload_new(), payload_free, "lost");
	arm(1);
	char *m = spool_fail_take(98);
	*(bool *)arg = fired() && m == NULL && atomic_load(&freed) == 1;
	free(m);
	return 0;
}

START_TEST(spool_fail_take_without_memory_for_the_copy_is_null_and_drops)
{
	atomic_store(&freed, 0);
	bool ok = false;
	spool_future *f = spool_submit(spool_executor_inline(),
				       takes_back_without_memory, &ok);
	ck_assert_int_eq(spool_future_state(f), SPOOL_DONE);
	ck_assert(ok);
	spool_future_release(f);
	ck_assert_int_eq(atomic_load(&freed), 1);
}
END_TEST

START_TEST(spool_fail_take_outside_a_task_is_null)
{
	ck_assert_ptr_null(spool_fail_take(98));
	ck_assert_ptr_null(spool_fail_take(0));
}
END_TEST

/* Joins two halves that record at once on this task, then takes back
 * whichever detail was kept: the message is a half's, every payload is
 * freed once, and the task ends DONE. */
static int joins_then_takes(void *arg, void **result)
{
	spool_pool *p = arg;
	int rc = spool_join(p, half_fails, NULL, half_fails, NULL);
	char *m = spool_fail_take(rc);
	bool ok = rc == 98 && m && strcmp(m, "half") == 0;
	free(m);
	*result = ok ? p : NULL;
	return 0;
}

START_TEST(spool_fail_take_after_a_join_takes_what_its_halves_recorded)
{
	atomic_store(&freed, 0);
	spool_pool *p = spool_test_pool_new(4);
	spool_future *f[HALF_ROUNDS];
	for (int i = 0; i < HALF_ROUNDS; i++)
		f[i] = spool_submit(spool_pool_executor(p), joins_then_takes,
				    p);
	for (int i = 0; i < HALF_ROUNDS; i++) {
		spool_future_wait(f[i], SPOOL_FOREVER);
		ck_assert_int_eq(spool_future_state(f[i]), SPOOL_DONE);
		ck_assert_ptr_eq(spool_future_value(f[i]), p);
		spool_future_release(f[i]);
	}
	spool_pool_destroy(p);
	ck_assert_int_eq(atomic_load(&freed), 2 * HALF_ROUNDS);
}
END_TEST

/* ---- out of memory ----------------------------------------------------- */

/* One run of the sweep: a failing task with a payload under a gather and
 * a map, on the inline executor, with the k-th allocation failing. The
 * payload is freed exactly once, whatever allocation failed, and every
 * future is freed. */
static bool oom_run(long k)
{
	atomic_store(&freed, 0);
	atomic_store(&created, 0);
	arm(k);
	spool_future *f = spool_submit(spool_executor_inline(),
				       fails_with_payload, "oom");
	spool_future *g = f ? spool_gather(&f, 1, 0) : NULL;
	void *args[1] = {"oom-map"};
	spool_future *m = spool_map(spool_executor_inline(), fails_if_named,
				    args, 1, 0);
	spool_future *p = spool_promise_new();
	struct payload *pl = payload_new();
	int prc = p ? spool_promise_set_error_detail(p, 98, "promised", pl,
						     payload_free)
		    : SPOOL_EINVAL;
	bool fired_ = fired();
	if (prc != 0)
		payload_free(pl); /* refused: still ours */
	if (f) {
		ck_assert_int_eq(spool_future_error(f), 98);
		const char *msg = spool_future_error_message(f);
		if (msg)
			ck_assert_str_eq(msg, "TaskError: oom");
	}
	if (g && spool_future_error(g) == 98)
		ck_assert_ptr_eq(spool_future_error_message(g),
				 spool_future_error_message(f));
	if (m && spool_future_error(m) == 98) {
		const char *msg = spool_future_error_message(m);
		if (msg)
			ck_assert_str_eq(msg, "TaskError: oom-map");
	}
	if (p && prc == 0)
		ck_assert_str_eq(spool_future_error_message(p), "promised");
	if (p && prc == SPOOL_ENOMEM)
		ck_assert_int_eq(spool_future_state(p), SPOOL_PENDING);
	spool_future_release(g);
	spool_future_release(f);
	spool_future_release(m);
	spool_future_release(p);
	ck_assert_int_eq(atomic_load(&freed), atomic_load(&created));
	ck_assert_int_eq(spool_debug_live_futures(), 0);
	return fired_;
}

START_TEST(every_payload_is_freed_once_whatever_allocation_fails)
{
	sweep("detail", oom_run);
}
END_TEST

/* ---- misuse ------------------------------------------------------------ */

static int fail_with_zero(void *arg)
{
	(void)arg;
	return spool_fail(0, "no");
}

START_TEST(spool_fail_with_code_zero_is_misuse)
{
	spool_test_expect_misuse(fail_with_zero, NULL, "spool_fail", "code 0");
}
END_TEST

static Suite *fail_suite(void)
{
	Suite *s = suite_create("fail");
	TCase *tc = spool_test_case("task", 60);
	tcase_add_test(tc,
		       a_pool_task_failing_with_spool_fail_carries_its_message);
	tcase_add_test(tc,
		       a_coroutine_failing_with_spool_fail_carries_its_message);
	tcase_add_test(
		tc, an_inline_task_failing_with_spool_fail_carries_its_message);
	tcase_add_test(
		tc, the_payload_is_freed_once_when_the_failure_is_never_read);
	tcase_add_test(tc, the_payload_is_read_on_the_future_that_failed);
	tcase_add_test(tc, a_detail_recorded_before_a_success_is_dropped_once);
	tcase_add_test(tc, a_detail_recorded_for_another_code_is_dropped_once);
	tcase_add_test(tc, a_later_spool_fail_replaces_the_earlier);
	tcase_add_test(
		tc,
		spool_fail_outside_a_task_returns_the_code_and_frees_the_payload);
	tcase_add_test(tc, a_cancel_carries_no_detail);
	tcase_add_test(tc, a_coroutine_keeps_its_detail_across_a_suspension);
	tcase_add_test(tc, spool_fail_with_code_zero_is_misuse);
	suite_add_tcase(s, tc);

	tc = spool_test_case("take", 60);
	tcase_add_test(
		tc, spool_fail_take_hands_back_the_message_on_every_executor);
	tcase_add_test(tc, spool_fail_take_outside_a_task_is_null);
	tcase_add_test(
		tc,
		spool_fail_take_without_memory_for_the_copy_is_null_and_drops);
	tcase_add_test(
		tc,
		spool_fail_take_after_a_join_takes_what_its_halves_recorded);
	suite_add_tcase(s, tc);

	tc = spool_test_case("promise", 60);
	tcase_add_test(
		tc, set_error_detail_copies_the_message_and_owns_the_payload);
	tcase_add_test(
		tc,
		set_error_detail_refused_leaves_the_payload_with_the_caller);
	tcase_add_test(tc,
		       set_error_detail_without_a_message_has_only_the_payload);
	suite_add_tcase(s, tc);

	tc = spool_test_case("combinators", 60);
	tcase_add_test(tc,
		       a_message_travels_through_nested_gathers_on_the_pool);
	tcase_add_test(tc,
		       a_message_travels_through_nested_gathers_on_the_loop);
	tcase_add_test(tc, a_message_travels_through_map_on_the_pool);
	tcase_add_test(tc, a_message_travels_through_map_on_the_loop);
	tcase_add_test(
		tc,
		messages_travel_through_wait_as_completed_wait_for_then_and_groups_on_the_pool);
	tcase_add_test(
		tc,
		messages_travel_through_wait_as_completed_wait_for_then_and_groups_on_the_loop);
	tcase_add_test(tc, a_group_lists_each_failure_with_its_own_message);
	tcase_add_test(
		tc,
		a_message_travels_from_a_pool_to_the_loop_through_run_in_executor);
	suite_add_tcase(s, tc);

	tc = spool_test_case("race", 120);
	tcase_add_test(
		tc, halves_of_a_join_recording_at_once_free_every_payload_once);
	tcase_add_test(tc, details_recorded_in_scope_spawns_are_freed_once);
	suite_add_tcase(s, tc);

	tc = spool_test_case("oom", 60);
	tcase_add_test(tc,
		       every_payload_is_freed_once_whatever_allocation_fails);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return spool_test_run(fail_suite());
}
