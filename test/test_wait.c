/* SPDX-License-Identifier: MIT */
/* Suite "wait": every promise of spool_wait() and spool_wait_for(). */
#include "comb_support.h"

static int V[64];

static spool_state state(spool_future *f)
{
	return spool_future_state(f);
}

/* ---- ALL_COMPLETED ---------------------------------------------------- */

START_TEST(wait_all_returns_once_every_input_is_final)
{
	spool_future *fs[3];
	promises(fs, 3);
	struct completer *c[3];
	c[0] = complete_later(fs[0], 5 * MS, END_VALUE, 0, &V[0]);
	c[1] = complete_later(fs[1], 25 * MS, END_ERROR, 4, NULL);
	c[2] = complete_later(fs[2], 15 * MS, END_CANCEL, 0, NULL);
	bool done[3] = {false};
	size_t nd = 99, np = 99;
	ck_assert_int_eq(spool_wait(fs, 3, SPOOL_ALL_COMPLETED, SPOOL_FOREVER,
				    done, &nd, &np),
			 0);
	for (int i = 0; i < 3; i++) {
		ck_assert(done[i]);
		ck_assert(spool_future_done(fs[i]));
	}
	ck_assert_uint_eq(nd, 3);
	ck_assert_uint_eq(np, 0);
	for (int i = 0; i < 3; i++)
		completer_join(c[i]);
	release_all(fs, 3);
}
END_TEST

START_TEST(wait_all_on_already_final_inputs_returns_without_waiting)
{
	spool_future *fs[2];
	promises(fs, 2);
	spool_promise_set_result(fs[0], NULL);
	spool_promise_set_error(fs[1], 3);
	bool done[2];
	size_t nd, np;
	ck_assert_int_eq(spool_wait(fs, 2, SPOOL_ALL_COMPLETED, SPOOL_FOREVER,
				    done, &nd, &np),
			 0);
	ck_assert(done[0] && done[1]);
	ck_assert_uint_eq(nd, 2);
	ck_assert_uint_eq(np, 0);
	release_all(fs, 2);
}
END_TEST

/* ---- FIRST_COMPLETED -------------------------------------------------- */

START_TEST(
	wait_first_completed_returns_after_the_first_and_reports_the_rest_pending)
{
	spool_future *fs[3];
	promises(fs, 3);
	struct completer *c = complete_later(fs[1], 10 * MS, END_VALUE, 0,
					     NULL);
	bool done[3];
	size_t nd, np;
	ck_assert_int_eq(spool_wait(fs, 3, SPOOL_FIRST_COMPLETED, SPOOL_FOREVER,
				    done, &nd, &np),
			 0);
	ck_assert(!done[0] && done[1] && !done[2]);
	ck_assert_uint_eq(nd, 1);
	ck_assert_uint_eq(np, 2);
	/* Nothing was cancelled. */
	ck_assert_int_eq(state(fs[0]), SPOOL_PENDING);
	ck_assert(!spool_future_cancel_requested(fs[2]));
	completer_join(c);
	/* With a finite timeout too, it returns at the completion, not at
	 * the deadline (10 s; a wait that slept it out would take that). */
	c = complete_later(fs[2], 5 * MS, END_VALUE, 0, NULL);
	spool_future *rest[2] = {fs[0], fs[2]};
	int64_t t0 = spool_test_now_ns();
	ck_assert_int_eq(spool_wait(rest, 2, SPOOL_FIRST_COMPLETED,
				    10 * SPOOL_NS_PER_S, done, &nd, &np),
			 0);
	ck_assert_int_lt(spool_test_now_ns() - t0, 5 * SPOOL_NS_PER_S);
	ck_assert(!done[0] && done[1]);
	completer_join(c);
	/* The callbacks left on the pending inputs run when they complete. */
	spool_promise_set_result(fs[0], NULL);
	release_all(fs, 3);
	spool_promise_set_result(fs[2], NULL); /* the waiter retained it */
}
END_TEST

START_TEST(wait_first_completed_counts_a_cancellation)
{
	spool_future *fs[2];
	promises(fs, 2);
	struct completer *c = complete_later(fs[0], 5 * MS, END_CANCEL, 0,
					     NULL);
	bool done[2];
	ck_assert_int_eq(spool_wait(fs, 2, SPOOL_FIRST_COMPLETED, SPOOL_FOREVER,
				    done, NULL, NULL),
			 0);
	ck_assert(done[0] && !done[1]);
	ck_assert_int_eq(state(fs[0]), SPOOL_CANCELLED);
	completer_join(c);
	spool_promise_set_result(fs[1], NULL);
	release_all(fs, 2);
}
END_TEST

START_TEST(wait_first_completed_with_one_input_already_final_returns_at_once)
{
	spool_future *fs[2];
	promises(fs, 2);
	spool_promise_set_result(fs[1], NULL);
	size_t nd, np;
	int64_t t0 = spool_test_now_ns();
	ck_assert_int_eq(spool_wait(fs, 2, SPOOL_FIRST_COMPLETED, SPOOL_FOREVER,
				    NULL, &nd, &np),
			 0);
	ck_assert_int_lt(spool_test_now_ns() - t0, 5 * SPOOL_NS_PER_S);
	ck_assert_uint_eq(nd, 1);
	ck_assert_uint_eq(np, 1);
	spool_promise_set_result(fs[0], NULL);
	release_all(fs, 2);
}
END_TEST

/* ---- FIRST_EXCEPTION -------------------------------------------------- */

START_TEST(wait_first_exception_returns_on_the_first_failure)
{
	spool_future *fs[3];
	promises(fs, 3);
	spool_promise_set_result(fs[0], NULL);
	struct completer *c = complete_later(fs[2], 10 * MS, END_ERROR, 8,
					     NULL);
	bool done[3];
	size_t nd, np;
	ck_assert_int_eq(spool_wait(fs, 3, SPOOL_FIRST_EXCEPTION, SPOOL_FOREVER,
				    done, &nd, &np),
			 0);
	ck_assert(done[0] && !done[1] && done[2]);
	ck_assert_int_eq(spool_future_error(fs[2]), 8);
	ck_assert_uint_eq(nd, 2);
	ck_assert_uint_eq(np, 1);
	completer_join(c);
	spool_promise_set_result(fs[1], NULL);
	release_all(fs, 3);
}
END_TEST

START_TEST(wait_first_exception_does_not_count_a_cancellation_and_acts_as_all)
{
	spool_future *fs[3];
	promises(fs, 3);
	struct completer *c[3];
	c[0] = complete_later(fs[0], 5 * MS, END_CANCEL, 0, NULL);
	c[1] = complete_later(fs[1], 10 * MS, END_VALUE, 0, NULL);
	c[2] = complete_later(fs[2], 30 * MS, END_VALUE, 0, NULL);
	bool done[3];
	ck_assert_int_eq(spool_wait(fs, 3, SPOOL_FIRST_EXCEPTION, SPOOL_FOREVER,
				    done, NULL, NULL),
			 0);
	/* It waited past the cancellation, for every input. */
	for (int i = 0; i < 3; i++)
		ck_assert(done[i]);
	for (int i = 0; i < 3; i++)
		completer_join(c[i]);
	release_all(fs, 3);
}
END_TEST

START_TEST(wait_first_exception_with_an_input_already_failed_returns_at_once)
{
	spool_future *fs[2];
	promises(fs, 2);
	spool_promise_set_error(fs[0], 1);
	bool done[2];
	ck_assert_int_eq(spool_wait(fs, 2, SPOOL_FIRST_EXCEPTION, SPOOL_FOREVER,
				    done, NULL, NULL),
			 0);
	ck_assert(done[0] && !done[1]);
	spool_promise_set_result(fs[1], NULL);
	release_all(fs, 2);
}
END_TEST

/* ---- timeouts, n = 0, duplicates -------------------------------------- */

START_TEST(wait_timeout_is_not_an_error_and_cancels_nothing)
{
	spool_future *fs[2];
	promises(fs, 2);
	spool_promise_start(fs[1]);
	bool done[2] = {true, true};
	size_t nd = 9, np = 9;
	int64_t t0 = spool_test_now_ns();
	ck_assert_int_eq(
		spool_wait(fs, 2, SPOOL_ALL_COMPLETED, 20 * MS, done, &nd, &np),
		0);
	int64_t took = spool_test_now_ns() - t0;
	ck_assert_int_ge(took, 20 * MS);
	ck_assert(!done[0] && !done[1]);
	ck_assert_uint_eq(nd, 0);
	ck_assert_uint_eq(np, 2);
	ck_assert_int_eq(state(fs[0]), SPOOL_PENDING);
	ck_assert_int_eq(state(fs[1]), SPOOL_RUNNING);
	ck_assert(!spool_future_cancel_requested(fs[0]));
	ck_assert(!spool_future_cancel_requested(fs[1]));
	/* The caller drops its inputs; the callbacks still pending keep
	 * them (and the waiter) alive until they complete. */
	spool_future *keep[2] = {spool_future_retain(fs[0]),
				 spool_future_retain(fs[1])};
	release_all(fs, 2);
	spool_promise_set_result(keep[0], NULL);
	spool_promise_set_result(keep[1], NULL);
	release_all(keep, 2);
}
END_TEST

START_TEST(wait_timeout_zero_only_polls)
{
	spool_future *fs[2];
	promises(fs, 2);
	spool_promise_set_result(fs[0], NULL);
	bool done[2];
	size_t nd, np;
	ck_assert_int_eq(
		spool_wait(fs, 2, SPOOL_ALL_COMPLETED, 0, done, &nd, &np), 0);
	ck_assert(done[0] && !done[1]);
	ck_assert_uint_eq(nd, 1);
	ck_assert_uint_eq(np, 1);
	ck_assert_int_eq(
		spool_wait(fs, 2, SPOOL_FIRST_COMPLETED, 0, done, &nd, &np), 0);
	ck_assert_uint_eq(nd, 1);
	spool_promise_set_result(fs[1], NULL);
	release_all(fs, 2);
}
END_TEST

START_TEST(wait_on_zero_inputs_returns_at_once)
{
	size_t nd = 9, np = 9;
	for (int when = 0; when < 3; when++) {
		ck_assert_int_eq(spool_wait(NULL, 0, (spool_wait_when)when,
					    SPOOL_FOREVER, NULL, &nd, &np),
				 0);
		ck_assert_uint_eq(nd, 0);
		ck_assert_uint_eq(np, 0);
	}
}
END_TEST

START_TEST(wait_duplicates_count_once)
{
	spool_future *a = spool_promise_new(), *b = spool_promise_new();
	spool_future *fs[5] = {a, b, a, a, b};
	bool done[5];
	size_t nd, np;
	ck_assert_int_eq(
		spool_wait(fs, 5, SPOOL_ALL_COMPLETED, 0, done, &nd, &np), 0);
	ck_assert_uint_eq(nd, 0);
	ck_assert_uint_eq(np, 2);
	struct completer *c = complete_later(a, 5 * MS, END_VALUE, 0, NULL);
	ck_assert_int_eq(spool_wait(fs, 5, SPOOL_FIRST_COMPLETED, SPOOL_FOREVER,
				    done, &nd, &np),
			 0);
	ck_assert(done[0] && !done[1] && done[2] && done[3] && !done[4]);
	ck_assert_uint_eq(nd, 1);
	ck_assert_uint_eq(np, 1);
	completer_join(c);
	c = complete_later(b, 5 * MS, END_VALUE, 0, NULL);
	ck_assert_int_eq(spool_wait(fs, 5, SPOOL_ALL_COMPLETED, SPOOL_FOREVER,
				    done, &nd, &np),
			 0);
	ck_assert_uint_eq(nd, 2);
	ck_assert_uint_eq(np, 0);
	completer_join(c);
	spool_future_release(a);
	spool_future_release(b);
}
END_TEST

/* Futures whose ids lie far apart take the hashing path of the counts. */
START_TEST(wait_duplicates_count_once_even_with_far_apart_ids)
{
	spool_future *a = spool_promise_new();
	for (int i = 0; i < 5000; i++)
		spool_future_release(spool_promise_new());
	spool_future *b = spool_promise_new();
	ck_assert_uint_gt(spool_future_id(b) - spool_future_id(a), 64 * 4);
	spool_future *fs[4] = {a, b, a, b};
	spool_promise_set_result(b, NULL);
	size_t nd, np;
	ck_assert_int_eq(
		spool_wait(fs, 4, SPOOL_ALL_COMPLETED, 0, NULL, &nd, &np), 0);
	ck_assert_uint_eq(nd, 1);
	ck_assert_uint_eq(np, 1);
	spool_promise_set_result(a, NULL);
	spool_future_release(a);
	spool_future_release(b);
}
END_TEST

/* The counts start with an id set around the first input's id; an id far
 * outside it, met midway, moves the set to hashing with the ids seen so far,
 * so duplicates on both sides of the switch still count once. */
START_TEST(wait_duplicates_count_once_when_a_far_id_comes_midway)
{
	spool_future *a = spool_promise_new(), *b = spool_promise_new();
	for (int i = 0; i < 50000; i++)
		spool_future_release(spool_promise_new());
	spool_future *far = spool_promise_new();
	ck_assert_uint_gt(spool_future_id(far) - spool_future_id(a), 128 * 8);
	spool_future *fs[8] = {a, b, a, b, far, a, far, b};
	spool_promise_set_result(b, NULL);
	bool done[8];
	size_t nd = 99, np = 99;
	ck_assert_int_eq(
		spool_wait(fs, 8, SPOOL_ALL_COMPLETED, 0, done, &nd, &np), 0);
	ck_assert(!done[0] && done[1] && !done[2] && done[3] && !done[4] &&
		  !done[5] && !done[6] && done[7]);
	ck_assert_uint_eq(nd, 1);
	ck_assert_uint_eq(np, 2);
	/* The far one first: the set sits around it, the near ones fall
	 * outside at once. */
	spool_future *gs[6] = {far, a, far, b, a, b};
	spool_promise_set_result(far, NULL);
	ck_assert_int_eq(
		spool_wait(gs, 6, SPOOL_FIRST_COMPLETED, 0, NULL, &nd, &np), 0);
	ck_assert_uint_eq(nd, 2);
	ck_assert_uint_eq(np, 1);
	/* And the report after a real wait takes the same path. */
	struct completer *c = complete_later(a, 5 * MS, END_VALUE, 0, NULL);
	ck_assert_int_eq(spool_wait(fs, 8, SPOOL_ALL_COMPLETED, SPOOL_FOREVER,
				    done, &nd, &np),
			 0);
	for (int i = 0; i < 8; i++)
		ck_assert(done[i]);
	ck_assert_uint_eq(nd, 3);
	ck_assert_uint_eq(np, 0);
	completer_join(c);
	spool_future_release(a);
	spool_future_release(b);
	spool_future_release(far);
}
END_TEST

/* ALL_COMPLETED stops its first look at the first input not final when a
 * wait follows; the report is still the whole one taken after the wait. */
START_TEST(wait_all_report_after_a_timeout_covers_inputs_past_the_first_pending)
{
	spool_future *p = spool_promise_new(), *a = spool_promise_new();
	spool_future *b = spool_promise_new();
	spool_promise_set_result(a, NULL);
	spool_promise_set_error(b, 3);
	spool_future *fs[5] = {a, p, a, b, p};
	bool done[5] = {false, true, false, false, true};
	size_t nd = 99, np = 99;
	ck_assert_int_eq(
		spool_wait(fs, 5, SPOOL_ALL_COMPLETED, 5 * MS, done, &nd, &np),
		0);
	ck_assert(done[0] && !done[1] && done[2] && done[3] && !done[4]);
	ck_assert_uint_eq(nd, 2);
	ck_assert_uint_eq(np, 1);
	spool_promise_set_result(p, NULL);
	spool_future_release(p);
	spool_future_release(a);
	spool_future_release(b);
}
END_TEST

START_TEST(wait_bad_input_is_einval_and_writes_nothing)
{
	spool_future *f = spool_promise_new();
	spool_future *fs[2] = {f, NULL};
	bool done[2] = {true, true};
	size_t nd = 9;
	ck_assert_int_eq(
		spool_wait(NULL, 1, SPOOL_ALL_COMPLETED, 0, done, &nd, NULL),
		SPOOL_EINVAL);
	ck_assert_int_eq(
		spool_wait(fs, 2, SPOOL_ALL_COMPLETED, 0, done, &nd, NULL),
		SPOOL_EINVAL);
	ck_assert_int_eq(
		spool_wait(fs, 1, (spool_wait_when)3, 0, done, &nd, NULL),
		SPOOL_EINVAL);
	ck_assert_int_eq(
		spool_wait(fs, 1, SPOOL_ALL_COMPLETED, -1, done, &nd, NULL),
		SPOOL_EINVAL);
	ck_assert(done[0] && done[1]);
	ck_assert_uint_eq(nd, 9);
	ck_assert_int_eq(state(f), SPOOL_PENDING);
	spool_future_release(f);
}
END_TEST

START_TEST(wait_on_tasks_of_the_thread_executor)
{
	int64_t d[3] = {30 * MS, 1 * MS, 15 * MS};
	spool_future *fs[3];
	for (int i = 0; i < 3; i++)
		fs[i] = spool_submit(thread_executor(), sleep_task, &d[i]);
	bool done[3];
	size_t nd;
	ck_assert_int_eq(spool_wait(fs, 3, SPOOL_FIRST_COMPLETED, SPOOL_FOREVER,
				    done, &nd, NULL),
			 0);
	ck_assert_uint_ge(nd, 1);
	ck_assert(done[0] || done[1] || done[2]);
	ck_assert_int_eq(spool_wait(fs, 3, SPOOL_ALL_COMPLETED, SPOOL_FOREVER,
				    done, NULL, NULL),
			 0);
	ck_assert(done[0] && done[1] && done[2]);
	release_all(fs, 3);
	thread_executor_drain();
}
END_TEST

/* ---- wait_for --------------------------------------------------------- */

START_TEST(wait_for_returns_the_outcome_when_in_time)
{
	spool_future *f = spool_promise_new();
	struct completer *c = complete_later(f, 5 * MS, END_VALUE, 0, &V[1]);
	void *v = NULL;
	ck_assert_int_eq(spool_wait_for(f, SPOOL_FOREVER, &v), 0);
	ck_assert_ptr_eq(v, &V[1]);
	completer_join(c);
	spool_future_release(f);

	/* With a finite timeout too, it returns when f completes, not at
	 * the deadline (10 s; a wait that slept it out would take that). */
	f = spool_promise_new();
	c = complete_later(f, 5 * MS, END_VALUE, 0, &V[2]);
	int64_t t0 = spool_test_now_ns();
	ck_assert_int_eq(spool_wait_for(f, 10 * SPOOL_NS_PER_S, &v), 0);
	ck_assert_ptr_eq(v, &V[2]);
	ck_assert_int_lt(spool_test_now_ns() - t0, 5 * SPOOL_NS_PER_S);
	completer_join(c);
	spool_future_release(f);

	f = spool_promise_new();
	spool_promise_set_error(f, 12);
	ck_assert_int_eq(spool_wait_for(f, 0, &v), 12);
	ck_assert_ptr_null(v);
	spool_future_release(f);

	f = spool_promise_new();
	spool_future_cancel(f);
	ck_assert_int_eq(spool_wait_for(f, 10 * MS, NULL), SPOOL_ECANCELLED);
	spool_future_release(f);
}
END_TEST

START_TEST(wait_for_timeout_cancels_a_pending_future_and_returns_etimedout)
{
	spool_future *f = spool_promise_new();
	int64_t t0 = spool_test_now_ns();
	void *v = &V[0];
	ck_assert_int_eq(spool_wait_for(f, 20 * MS, &v), SPOOL_ETIMEDOUT);
	ck_assert_int_ge(spool_test_now_ns() - t0, 20 * MS);
	ck_assert_ptr_null(v);
	ck_assert_int_eq(state(f), SPOOL_CANCELLED);
	spool_future_release(f);

	f = spool_promise_new();
	ck_assert_int_eq(spool_wait_for(f, 0, NULL), SPOOL_ETIMEDOUT);
	ck_assert_int_eq(state(f), SPOOL_CANCELLED);
	spool_future_release(f);
}
END_TEST

/* A running task that notices the request only later, then finishes. */
struct stubborn {
	spool_future *f;
	int64_t finished_at;
	bool saw_request;
	pthread_t th;
};

static void *stubborn_main(void *arg)
{
	struct stubborn *s = arg;
	while (!spool_future_cancel_requested(s->f))
		spool_test_sleep_ns(MS);
	s->saw_request = true;
	spool_test_sleep_ns(40 * MS); /* ignores it for a while */
	s->finished_at = spool_test_now_ns();
	spool_promise_set_result(s->f, &V[2]);
	return NULL;
}

START_TEST(wait_for_timeout_waits_for_a_running_task_to_settle)
{
	struct stubborn s = {.f = spool_promise_new()};
	spool_promise_start(s.f);
	pthread_create(&s.th, NULL, stubborn_main, &s);
	ck_assert_int_eq(spool_wait_for(s.f, 10 * MS, NULL), SPOOL_ETIMEDOUT);
	int64_t returned = spool_test_now_ns();
	/* It returned only after the task ended, and the task's own
	 * outcome stands. */
	ck_assert(spool_future_done(s.f));
	ck_assert_int_eq(state(s.f), SPOOL_DONE);
	pthread_join(s.th, NULL);
	ck_assert(s.saw_request);
	ck_assert_int_ge(returned, s.finished_at);
	spool_future_release(s.f);
}
END_TEST

START_TEST(wait_for_bad_input_is_einval)
{
	void *v = &V[0];
	ck_assert_int_eq(spool_wait_for(NULL, 0, &v), SPOOL_EINVAL);
	ck_assert_ptr_null(v);
	spool_future *f = spool_promise_new();
	ck_assert_int_eq(spool_wait_for(f, -5, NULL), SPOOL_EINVAL);
	ck_assert_int_eq(state(f), SPOOL_PENDING);
	spool_future_release(f);
}
END_TEST

START_TEST(wait_for_on_a_gather_cancels_its_children_on_timeout)
{
	spool_future *fs[2];
	promises(fs, 2);
	spool_future *g = spool_gather(fs, 2, 0);
	ck_assert_int_eq(spool_wait_for(g, 5 * MS, NULL), SPOOL_ETIMEDOUT);
	ck_assert_int_eq(state(g), SPOOL_CANCELLED);
	ck_assert_int_eq(state(fs[0]), SPOOL_CANCELLED);
	ck_assert_int_eq(state(fs[1]), SPOOL_CANCELLED);
	spool_future_release(g);
	release_all(fs, 2);
}
END_TEST

/* ---- on a pool -------------------------------------------------------- */

/* In a pool task with one worker: the waits below can only finish if the
 * waiting worker runs the children itself. Returns 0 or a line number. */
static int waits_on_children(void *arg, void **result)
{
	spool_executor *ex = arg;
	spool_future *fs[4];
	for (intptr_t i = 0; i < 4; i++)
		fs[i] = spool_submit(ex, plus_one, (void *)i);
	bool done[4];
	size_t nd;
	int line = 0;
	if (spool_wait(fs, 4, SPOOL_FIRST_COMPLETED, SPOOL_FOREVER, done, &nd,
		       NULL) != 0 ||
	    nd < 1)
		line = __LINE__;
	if (!line && (spool_wait(fs, 4, SPOOL_ALL_COMPLETED, SPOOL_FOREVER,
				 done, &nd, NULL) != 0 ||
		      nd != 4))
		line = __LINE__;
	void *v = NULL;
	if (!line &&
	    (spool_wait_for(fs[3], SPOOL_FOREVER, &v) != 0 || v != (void *)4))
		line = __LINE__;
	spool_future *never = spool_promise_new();
	if (!line && (spool_wait_for(never, 10 * MS, NULL) != SPOOL_ETIMEDOUT ||
		      spool_future_state(never) != SPOOL_CANCELLED))
		line = __LINE__;
	spool_future_release(never);
	release_all(fs, 4);
	return line ? 1000 + line : 0;
}

START_TEST(
	wait_and_wait_for_inside_a_pool_task_with_one_worker_help_instead_of_deadlocking)
{
	spool_pool *p = make_pool(1);
	spool_executor *ex = spool_pool_executor(p);
	spool_future *f = spool_submit(ex, waits_on_children, ex);
	ck_assert_int_eq(spool_future_result(f, SPOOL_FOREVER, NULL), 0);
	spool_future_release(f);
	spool_pool_destroy(p);
}
END_TEST

START_TEST(race_wait_over_pool_tasks_on_8_workers)
{
	enum { N = 2000 };
	spool_pool *p = make_pool(8);
	spool_future **fs = malloc(N * sizeof *fs);
	bool *done = malloc(N);
	for (int it = 0; it < 30; it++) {
		for (intptr_t i = 0; i < N; i++)
			fs[i] = spool_submit(spool_pool_executor(p), plus_one,
					     (void *)i);
		spool_wait_when when = (spool_wait_when)(it % 3);
		size_t nd, np;
		ck_assert_int_eq(
			spool_wait(fs, N, when, SPOOL_FOREVER, done, &nd, &np),
			0);
		ck_assert_uint_eq(nd + np, N);
		if (when != SPOOL_FIRST_COMPLETED)
			ck_assert_uint_eq(nd, N); /* nothing fails */
		else
			ck_assert_uint_ge(nd, 1);
		release_all(fs, N);
	}
	free(done);
	free(fs);
	spool_pool_destroy(p);
}
END_TEST

/* ---- on the loop ------------------------------------------------------ */

static int64_t long_nap = 10 * SPOOL_NS_PER_S;

/* Set by started_nap when it runs. */
static _Atomic bool nap_started;

/* coro_nap that first notes that it started. */
static int started_nap(void *arg, void **result)
{
	atomic_store(&nap_started, true);
	return coro_nap(arg, result);
}

/* In a coroutine: a promise completed from another thread ends the wait
 * (the callback is posted to the loop); wait_for on a sleeping coroutine
 * times out, cancels it and waits for it to settle. */
static int waits_in_a_coroutine(void *arg, void **result)
{
	int line = 0;
	spool_future *fs[2] = {spool_promise_new(), spool_promise_new()};
	struct completer *c = complete_later(fs[1], 5 * MS, END_VALUE, 0, NULL);
	bool done[2];
	size_t nd;
	if (spool_wait(fs, 2, SPOOL_FIRST_COMPLETED, SPOOL_FOREVER, done, &nd,
		       NULL) != 0 ||
	    nd != 1 || !done[1])
		line = __LINE__;
	atomic_store(&nap_started, false);
	spool_future *sleeper = spool_submit(loop_ex(), started_nap, &long_nap);
	if (!line && spool_wait_for(sleeper, 5 * MS, NULL) != SPOOL_ETIMEDOUT)
		line = __LINE__;
	/* wait_for suspended this coroutine, so the sleeper (ready before
	 * the timer can be due) started and was cancelled asleep. */
	if (!line && !atomic_load(&nap_started))
		line = __LINE__;
	if (!line && spool_future_state(sleeper) != SPOOL_CANCELLED)
		line = __LINE__;
	spool_future_release(sleeper);
	completer_join(c);
	spool_promise_set_result(fs[0], NULL);
	release_all(fs, 2);
	return line ? 1000 + line : 0;
}

struct waiter_child {
	spool_future *sleeper;
	int rc;
	spool_state sleeper_state;
};

/* wait_for without a timeout, in a coroutine that gets cancelled. */
static int waits_for_until_cancelled(void *arg, void **result)
{
	struct waiter_child *w = arg;
	w->rc = spool_wait_for(w->sleeper, SPOOL_FOREVER, NULL);
	w->sleeper_state = spool_future_state(w->sleeper);
	return w->rc;
}

static int cancels_a_wait_for(void *arg, void **result)
{
	struct waiter_child *w = arg;
	w->sleeper = spool_submit(loop_ex(), coro_nap, &long_nap);
	spool_future *child = spool_submit(loop_ex(), waits_for_until_cancelled,
					   w);
	spool_sleep(0); /* both start and suspend */
	spool_sleep(0);
	int rc = spool_future_cancel(child);
	if (rc == 0)
		rc = spool_future_wait(child, SPOOL_FOREVER);
	spool_future_release(child);
	spool_future_release(w->sleeper);
	return rc;
}

START_TEST(
	wait_for_in_a_cancelled_coroutine_cancels_its_future_and_waits_for_it)
{
	struct waiter_child w = {NULL, 99, SPOOL_PENDING};
	ck_assert_int_eq(run_coro(cancels_a_wait_for, &w), 0);
	ck_assert_int_eq(w.rc, SPOOL_ECANCELLED);
	ck_assert_int_eq(w.sleeper_state, SPOOL_CANCELLED);
}
END_TEST

START_TEST(wait_and_wait_for_inside_a_coroutine_suspend)
{
	ck_assert_int_eq(run_coro(waits_in_a_coroutine, NULL), 0);
}
END_TEST

struct on_loop_thread {
	spool_future *pending;
	int rc;
	size_t np;
};

static void waits_outside_a_coroutine(spool_loop *loop, void *arg)
{
	struct on_loop_thread *o = arg;
	o->rc = spool_wait(&o->pending, 1, SPOOL_ALL_COMPLETED, SPOOL_FOREVER,
			   NULL, NULL, &o->np);
	spool_loop_stop(loop);
}

START_TEST(wait_on_the_loop_thread_outside_a_coroutine_is_edeadlk_with_a_report)
{
	spool_loop *loop;
	ck_assert_int_eq(spool_loop_create(&loop, NULL), 0);
	struct on_loop_thread o = {spool_promise_new(), 99, 99};
	ck_assert_int_eq(
		spool_loop_call_soon(loop, waits_outside_a_coroutine, &o, NULL),
		0);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	ck_assert_int_eq(o.rc, SPOOL_EDEADLK);
	ck_assert_uint_eq(o.np, 1);
	spool_loop_destroy(loop);
	spool_promise_set_result(o.pending, NULL);
	spool_future_release(o.pending);
}
END_TEST

/* ---- races ------------------------------------------------------------ */

enum { RACE_N = 64, RACE_THREADS = 8, RACE_ITERS = 150 };

struct race {
	spool_future **fs;
	const int *how;
	int first;
	pthread_barrier_t *go;
};

static void *race_completer(void *arg)
{
	struct race *r = arg;
	pthread_barrier_wait(r->go);
	for (int i = r->first; i < RACE_N; i += RACE_THREADS) {
		if (r->how[i] == END_VALUE)
			spool_promise_set_result(r->fs[i], NULL);
		else if (r->how[i] == END_ERROR)
			spool_promise_set_error(r->fs[i], 1 + i);
		else
			spool_future_cancel(r->fs[i]);
	}
	return NULL;
}

START_TEST(race_wait_every_mode_with_inputs_completed_from_8_threads)
{
	uint64_t seed = 777;
	for (int it = 0; it < RACE_ITERS; it++) {
		spool_future *fs[RACE_N];
		int how[RACE_N];
		promises(fs, RACE_N);
		spool_wait_when when = (spool_wait_when)(it % 3);
		for (int i = 0; i < RACE_N; i++) {
			uint64_t r = rnd_next(&seed) % 8;
			how[i] = r == 0   ? END_ERROR
				 : r == 1 ? END_CANCEL
					  : END_VALUE;
		}
		pthread_barrier_t go;
		pthread_barrier_init(&go, NULL, RACE_THREADS + 1);
		pthread_t th[RACE_THREADS];
		struct race r[RACE_THREADS];
		for (int t = 0; t < RACE_THREADS; t++) {
			r[t] = (struct race){fs, how, t, &go};
			pthread_create(&th[t], NULL, race_completer, &r[t]);
		}
		pthread_barrier_wait(&go);
		bool done[RACE_N];
		size_t nd, np;
		ck_assert_int_eq(spool_wait(fs, RACE_N, when, SPOOL_FOREVER,
					    done, &nd, &np),
				 0);
		ck_assert_uint_eq(nd + np, RACE_N);
		/* The condition held when it returned. */
		bool failed = false;
		for (int i = 0; i < RACE_N; i++)
			failed |= done[i] && state(fs[i]) == SPOOL_FAILED;
		if (when == SPOOL_ALL_COMPLETED)
			ck_assert_uint_eq(nd, RACE_N);
		else if (when == SPOOL_FIRST_COMPLETED)
			ck_assert_uint_ge(nd, 1);
		else
			ck_assert(failed || nd == RACE_N);
		for (int i = 0; i < RACE_N; i++)
			if (done[i])
				ck_assert(spool_future_done(fs[i]));
		for (int t = 0; t < RACE_THREADS; t++)
			pthread_join(th[t], NULL);
		pthread_barrier_destroy(&go);
		release_all(fs, RACE_N);
	}
}
END_TEST

START_TEST(race_wait_for_against_completions_from_8_threads)
{
	for (int it = 0; it < RACE_ITERS; it++) {
		spool_future *fs[RACE_N];
		int how[RACE_N];
		promises(fs, RACE_N);
		for (int i = 0; i < RACE_N; i++)
			how[i] = END_VALUE;
		pthread_barrier_t go;
		pthread_barrier_init(&go, NULL, RACE_THREADS + 1);
		pthread_t th[RACE_THREADS];
		struct race r[RACE_THREADS];
		for (int t = 0; t < RACE_THREADS; t++) {
			r[t] = (struct race){fs, how, t, &go};
			pthread_create(&th[t], NULL, race_completer, &r[t]);
		}
		pthread_barrier_wait(&go);
		/* Tiny timeouts race with the completions: either outcome,
		 * but always final on return, and consistent. */
		for (int i = 0; i < RACE_N; i++) {
			int rc = spool_wait_for(fs[i], (i % 4) * 1000, NULL);
			ck_assert(spool_future_done(fs[i]));
			if (rc == 0)
				ck_assert_int_eq(state(fs[i]), SPOOL_DONE);
			else
				ck_assert_int_eq(rc, SPOOL_ETIMEDOUT);
		}
		for (int t = 0; t < RACE_THREADS; t++)
			pthread_join(th[t], NULL);
		pthread_barrier_destroy(&go);
		release_all(fs, RACE_N);
	}
}
END_TEST

static Suite *wait_suite(void)
{
	Suite *s = suite_create("wait");
	TCase *tc = spool_test_case("modes", 30);
	tcase_add_test(tc, wait_all_returns_once_every_input_is_final);
	tcase_add_test(
		tc, wait_all_on_already_final_inputs_returns_without_waiting);
	tcase_add_test(
		tc,
		wait_first_completed_returns_after_the_first_and_reports_the_rest_pending);
	tcase_add_test(tc, wait_first_completed_counts_a_cancellation);
	tcase_add_test(
		tc,
		wait_first_completed_with_one_input_already_final_returns_at_once);
	tcase_add_test(tc, wait_first_exception_returns_on_the_first_failure);
	tcase_add_test(
		tc,
		wait_first_exception_does_not_count_a_cancellation_and_acts_as_all);
	tcase_add_test(
		tc,
		wait_first_exception_with_an_input_already_failed_returns_at_once);
	suite_add_tcase(s, tc);

	tc = spool_test_case("edges", 30);
	tcase_add_test(tc, wait_timeout_is_not_an_error_and_cancels_nothing);
	tcase_add_test(tc, wait_timeout_zero_only_polls);
	tcase_add_test(tc, wait_on_zero_inputs_returns_at_once);
	tcase_add_test(tc, wait_duplicates_count_once);
	tcase_add_test(tc, wait_duplicates_count_once_even_with_far_apart_ids);
	tcase_add_test(tc,
		       wait_duplicates_count_once_when_a_far_id_comes_midway);
	tcase_add_test(
		tc,
		wait_all_report_after_a_timeout_covers_inputs_past_the_first_pending);
	tcase_add_test(tc, wait_bad_input_is_einval_and_writes_nothing);
	tcase_add_test(tc, wait_on_tasks_of_the_thread_executor);
	suite_add_tcase(s, tc);

	tc = spool_test_case("wait_for", 30);
	tcase_add_test(tc, wait_for_returns_the_outcome_when_in_time);
	tcase_add_test(
		tc,
		wait_for_timeout_cancels_a_pending_future_and_returns_etimedout);
	tcase_add_test(tc, wait_for_timeout_waits_for_a_running_task_to_settle);
	tcase_add_test(tc, wait_for_bad_input_is_einval);
	tcase_add_test(tc,
		       wait_for_on_a_gather_cancels_its_children_on_timeout);
	suite_add_tcase(s, tc);

	tc = spool_test_case("pool", 60);
	tcase_add_test(
		tc,
		wait_and_wait_for_inside_a_pool_task_with_one_worker_help_instead_of_deadlocking);
	suite_add_tcase(s, tc);

	tc = spool_test_case("loop", 60);
	tcase_add_test(tc, wait_and_wait_for_inside_a_coroutine_suspend);
	tcase_add_test(
		tc,
		wait_for_in_a_cancelled_coroutine_cancels_its_future_and_waits_for_it);
	tcase_add_test(
		tc,
		wait_on_the_loop_thread_outside_a_coroutine_is_edeadlk_with_a_report);
	suite_add_tcase(s, tc);

	tc = spool_test_case("race", 240);
	tcase_add_test(tc, race_wait_over_pool_tasks_on_8_workers);
	tcase_add_test(
		tc, race_wait_every_mode_with_inputs_completed_from_8_threads);
	tcase_add_test(tc, race_wait_for_against_completions_from_8_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return spool_test_run(wait_suite());
}
