/* SPDX-License-Identifier: MIT */
/* Suite "gather": every promise spool_gather() and its accessors make. */
#include "comb_support.h"

static int V[64]; /* addresses used as result values */

static spool_state state(spool_future *f)
{
	return spool_future_state(f);
}

/* ---- results ---------------------------------------------------------- */

START_TEST(gather_of_done_inputs_gives_values_in_input_order)
{
	spool_future *fs[3];
	promises(fs, 3);
	for (int i = 0; i < 3; i++)
		spool_promise_set_result(fs[i], &V[i]);
	spool_future *g = spool_gather(fs, 3, 0);
	ck_assert_int_eq(state(g), SPOOL_DONE);
	ck_assert_uint_eq(spool_gather_size(g), 3);
	for (size_t i = 0; i < 3; i++) {
		void *v = NULL;
		ck_assert_int_eq(spool_gather_result(g, i, &v), 0);
		ck_assert_ptr_eq(v, &V[i]);
	}
	/* The value is the same array, readable without the accessor. */
	void **arr = spool_future_value(g);
	ck_assert_ptr_eq(arr[0], &V[0]);
	ck_assert_ptr_eq(arr[2], &V[2]);
	spool_future_release(g);
	release_all(fs, 3);
}
END_TEST

START_TEST(
	gather_waits_for_all_and_keeps_input_order_whatever_the_order_of_completion)
{
	spool_future *fs[4];
	promises(fs, 4);
	spool_future *g = spool_gather(fs, 4, 0);
	ck_assert_int_eq(state(g), SPOOL_RUNNING);
	struct completer *c[4];
	/* Completed in reverse order: 3 first. */
	for (int i = 0; i < 4; i++)
		c[i] = complete_later(fs[i], (4 - i) * 5 * MS, END_VALUE, 0,
				      &V[i]);
	ck_assert_int_eq(spool_future_wait(g, SPOOL_FOREVER), 0);
	for (int i = 0; i < 4; i++)
		ck_assert(spool_future_done(fs[i]));
	for (size_t i = 0; i < 4; i++) {
		void *v;
		ck_assert_int_eq(spool_gather_result(g, i, &v), 0);
		ck_assert_ptr_eq(v, &V[i]);
	}
	for (int i = 0; i < 4; i++)
		completer_join(c[i]);
	spool_future_release(g);
	release_all(fs, 4);
}
END_TEST

START_TEST(gather_of_mixed_done_and_pending_inputs)
{
	spool_future *fs[4];
	promises(fs, 4);
	spool_promise_set_result(fs[1], &V[1]);
	spool_promise_set_result(fs[3], &V[3]);
	spool_future *g = spool_gather(fs, 4, 0);
	ck_assert(!spool_future_done(g));
	ck_assert_int_eq(spool_gather_result(g, 1, NULL), SPOOL_EAGAIN);
	spool_promise_set_result(fs[2], &V[2]);
	ck_assert(!spool_future_done(g));
	spool_promise_set_result(fs[0], &V[0]);
	ck_assert_int_eq(state(g), SPOOL_DONE);
	for (size_t i = 0; i < 4; i++) {
		void *v;
		ck_assert_int_eq(spool_gather_result(g, i, &v), 0);
		ck_assert_ptr_eq(v, &V[i]);
	}
	spool_future_release(g);
	release_all(fs, 4);
}
END_TEST

START_TEST(gather_of_zero_inputs_completes_at_once_with_no_results)
{
	spool_future *g = spool_gather(NULL, 0, 0);
	ck_assert_int_eq(state(g), SPOOL_DONE);
	ck_assert_uint_eq(spool_gather_size(g), 0);
	ck_assert_ptr_null(spool_future_value(g));
	ck_assert_int_eq(spool_gather_result(g, 0, NULL), SPOOL_EINVAL);
	spool_future_release(g);
	g = spool_gather(NULL, 0, SPOOL_RETURN_ERRORS);
	ck_assert_int_eq(state(g), SPOOL_DONE);
	ck_assert_ptr_null(spool_future_value(g));
	spool_future_release(g);
}
END_TEST

START_TEST(gather_duplicates_fill_every_slot)
{
	spool_future *a = spool_promise_new(), *b = spool_promise_new();
	spool_future *fs[4] = {a, b, a, a};
	spool_future *g = spool_gather(fs, 4, 0);
	spool_promise_set_result(a, &V[0]);
	ck_assert(!spool_future_done(g));
	spool_promise_set_result(b, &V[1]);
	ck_assert_int_eq(state(g), SPOOL_DONE);
	void *v;
	for (size_t i = 0; i < 4; i++) {
		ck_assert_int_eq(spool_gather_result(g, i, &v), 0);
		ck_assert_ptr_eq(v, i == 1 ? &V[1] : &V[0]);
	}
	spool_future_release(g);
	spool_future_release(a);
	spool_future_release(b);
}
END_TEST

/* ---- failures --------------------------------------------------------- */

START_TEST(gather_first_failure_fails_it_at_once_and_others_keep_running)
{
	spool_future *fs[3];
	promises(fs, 3);
	spool_future *g = spool_gather(fs, 3, 0);
	spool_promise_set_error(fs[1], 42);
	ck_assert_int_eq(state(g), SPOOL_FAILED);
	ck_assert_int_eq(spool_future_error(g), 42);
	/* The others were not touched. */
	ck_assert_int_eq(state(fs[0]), SPOOL_PENDING);
	ck_assert(!spool_future_cancel_requested(fs[0]));
	ck_assert_int_eq(state(fs[2]), SPOOL_PENDING);
	/* A later failure does not replace the first. */
	spool_promise_set_error(fs[2], 43);
	ck_assert_int_eq(spool_future_error(g), 42);
	ck_assert_int_eq(spool_gather_result(g, 0, NULL), 42);
	/* The caller may drop the gather while a child still runs. */
	spool_future_release(g);
	ck_assert_int_eq(spool_promise_set_result(fs[0], &V[0]), 0);
	release_all(fs, 3);
}
END_TEST

START_TEST(gather_with_an_already_failed_input_fails_at_creation)
{
	spool_future *fs[3];
	promises(fs, 3);
	spool_promise_set_error(fs[2], 7);
	spool_future *g = spool_gather(fs, 3, 0);
	ck_assert_int_eq(state(g), SPOOL_FAILED);
	ck_assert_int_eq(spool_future_error(g), 7);
	spool_promise_set_result(fs[0], NULL);
	spool_promise_set_result(fs[1], NULL);
	spool_future_release(g);
	release_all(fs, 3);
}
END_TEST

START_TEST(gather_cancelled_child_ends_default_gather_cancelled)
{
	spool_future *fs[2];
	promises(fs, 2);
	spool_future *g = spool_gather(fs, 2, 0);
	ck_assert_int_eq(spool_future_cancel(fs[0]), 0);
	ck_assert_int_eq(state(g), SPOOL_CANCELLED);
	ck_assert_int_eq(spool_future_error(g), SPOOL_ECANCELLED);
	ck_assert_int_eq(state(fs[1]), SPOOL_PENDING);
	spool_promise_set_result(fs[1], NULL);
	spool_future_release(g);
	release_all(fs, 2);
}
END_TEST

START_TEST(gather_return_errors_collects_each_value_or_error_and_succeeds)
{
	spool_future *fs[4];
	promises(fs, 4);
	spool_future *g = spool_gather(fs, 4, SPOOL_RETURN_ERRORS);
	spool_promise_set_error(fs[0], 5);
	ck_assert(!spool_future_done(g)); /* no failing fast */
	spool_promise_set_result(fs[1], &V[1]);
	spool_future_cancel(fs[2]);
	spool_promise_set_error(fs[3], SPOOL_ETIMEDOUT);
	ck_assert_int_eq(state(g), SPOOL_DONE);
	void *v = &V[9];
	ck_assert_int_eq(spool_gather_result(g, 0, &v), 5);
	ck_assert_ptr_null(v);
	ck_assert_int_eq(spool_gather_result(g, 1, &v), 0);
	ck_assert_ptr_eq(v, &V[1]);
	ck_assert_int_eq(spool_gather_result(g, 2, &v), SPOOL_ECANCELLED);
	ck_assert_int_eq(spool_gather_result(g, 3, &v), SPOOL_ETIMEDOUT);
	void **arr = spool_future_value(g);
	ck_assert_ptr_null(arr[0]);
	ck_assert_ptr_eq(arr[1], &V[1]);
	spool_future_release(g);
	release_all(fs, 4);
}
END_TEST

/* ---- cancel ----------------------------------------------------------- */

START_TEST(gather_cancel_cancels_every_child_and_ends_cancelled)
{
	spool_future *fs[3];
	promises(fs, 3);
	spool_promise_set_result(fs[1], &V[1]);
	spool_future *g = spool_gather(fs, 3, 0);
	ck_assert_int_eq(spool_future_cancel(g), 0);
	ck_assert_int_eq(state(fs[0]), SPOOL_CANCELLED);
	ck_assert_int_eq(state(fs[1]), SPOOL_DONE);
	ck_assert_int_eq(state(fs[2]), SPOOL_CANCELLED);
	ck_assert_int_eq(state(g), SPOOL_CANCELLED);
	ck_assert_int_eq(spool_gather_result(g, 1, NULL), SPOOL_ECANCELLED);
	/* Cancelling a cancelled gather is a no-op success. */
	ck_assert_int_eq(spool_future_cancel(g), 0);
	spool_future_release(g);
	release_all(fs, 3);
}
END_TEST

START_TEST(gather_cancel_with_return_errors_still_ends_cancelled)
{
	spool_future *fs[2];
	promises(fs, 2);
	spool_future *g = spool_gather(fs, 2, SPOOL_RETURN_ERRORS);
	ck_assert_int_eq(spool_future_cancel(g), 0);
	ck_assert_int_eq(state(g), SPOOL_CANCELLED);
	ck_assert_int_eq(state(fs[0]), SPOOL_CANCELLED);
	spool_future_release(g);
	release_all(fs, 2);
}
END_TEST

START_TEST(gather_cancel_ends_at_the_first_child_cancelled_as_asyncio)
{
	/* asyncio.gather without return_exceptions: the first child's
	 * CancelledError ends the gather, running children or not. */
	spool_future *fs[2];
	promises(fs, 2);
	spool_promise_start(fs[0]); /* a running task: cancel only asks */
	spool_future *g = spool_gather(fs, 2, 0);
	ck_assert_int_eq(spool_future_cancel(g), 0);
	ck_assert(spool_future_cancel_requested(fs[0]));
	ck_assert_int_eq(state(fs[0]), SPOOL_RUNNING);
	ck_assert_int_eq(state(fs[1]), SPOOL_CANCELLED);
	ck_assert_int_eq(state(g), SPOOL_CANCELLED);
	spool_promise_set_result(fs[0], &V[0]);
	spool_future_release(g);
	release_all(fs, 2);
}
END_TEST

START_TEST(gather_cancel_with_a_running_child_waits_for_it_to_end_first)
{
	/* The first child to end after the cancel ends the gather, even
	 * when that is long after the cancel. */
	spool_future *fs[2];
	promises(fs, 2);
	spool_promise_start(fs[0]);
	spool_promise_start(fs[1]);
	spool_future *g = spool_gather(fs, 2, 0);
	ck_assert_int_eq(spool_future_cancel(g), 0);
	ck_assert_int_eq(state(g), SPOOL_RUNNING);
	spool_promise_set_error(fs[1], SPOOL_ECANCELLED); /* acknowledges */
	ck_assert_int_eq(state(g), SPOOL_CANCELLED);
	ck_assert_int_eq(state(fs[0]), SPOOL_RUNNING);
	spool_promise_set_result(fs[0], &V[0]);
	spool_future_release(g);
	release_all(fs, 2);
}
END_TEST

START_TEST(gather_with_return_errors_cancelled_ends_only_once_children_settle)
{
	spool_future *fs[2];
	promises(fs, 2);
	spool_promise_start(fs[0]); /* a running task: cancel only asks */
	spool_future *g = spool_gather(fs, 2, SPOOL_RETURN_ERRORS);
	ck_assert_int_eq(spool_future_cancel(g), 0);
	ck_assert(spool_future_cancel_requested(fs[0]));
	ck_assert_int_eq(state(fs[0]), SPOOL_RUNNING);
	ck_assert_int_eq(state(fs[1]), SPOOL_CANCELLED);
	ck_assert_int_eq(state(g), SPOOL_RUNNING);
	/* Waiting on the gather now means waiting for the settle. */
	struct completer *c = complete_later(fs[0], 20 * MS, END_VALUE, 0,
					     &V[0]);
	ck_assert_int_eq(spool_future_wait(g, SPOOL_FOREVER), 0);
	ck_assert_int_eq(state(fs[0]), SPOOL_DONE);
	ck_assert_int_eq(state(g), SPOOL_CANCELLED);
	completer_join(c);
	spool_future_release(g);
	release_all(fs, 2);
}
END_TEST

START_TEST(gather_cancel_after_it_finished_is_estate_and_cancels_nothing)
{
	spool_future *fs[2];
	promises(fs, 2);
	spool_future *g = spool_gather(fs, 2, 0);
	spool_promise_set_error(fs[0], 3);
	ck_assert_int_eq(spool_future_cancel(g), SPOOL_ESTATE);
	ck_assert_int_eq(state(fs[1]), SPOOL_PENDING);
	ck_assert(!spool_future_cancel_requested(fs[1]));
	spool_promise_set_result(fs[1], NULL);
	spool_future_release(g);

	spool_future *d = spool_gather(fs, 0, 0);
	ck_assert_int_eq(spool_future_cancel(d), SPOOL_ESTATE);
	ck_assert_int_eq(state(d), SPOOL_DONE);
	spool_future_release(d);
	release_all(fs, 2);
}
END_TEST

/* ---- nesting and ownership -------------------------------------------- */

START_TEST(gather_keeps_a_finished_inner_gather_alive_for_its_value)
{
	spool_future *a[2];
	promises(a, 2);
	spool_promise_set_result(a[0], &V[0]);
	spool_promise_set_result(a[1], &V[1]);
	spool_future *inner = spool_gather(a, 2, 0);
	spool_future *outer = spool_gather(&inner, 1, 0);
	ck_assert_int_eq(spool_future_state(outer), SPOOL_DONE);
	spool_future_release(inner); /* the outer keeps it */
	void *v;
	ck_assert_int_eq(spool_gather_result(outer, 0, &v), 0);
	ck_assert_ptr_eq(((void **)v)[1], &V[1]);
	spool_future_release(outer);
	release_all(a, 2);
}
END_TEST

START_TEST(gathers_nest_and_the_inner_results_stay_valid)
{
	spool_future *a[2], *b[2];
	promises(a, 2);
	promises(b, 2);
	spool_future *inner[2] = {spool_gather(a, 2, 0), spool_gather(b, 2, 0)};
	spool_future *outer = spool_gather(inner, 2, 0);
	/* The caller drops its inner handles; the outer keeps them. */
	release_all(inner, 2);
	spool_promise_set_result(a[0], &V[0]);
	spool_promise_set_result(b[1], &V[3]);
	spool_promise_set_result(a[1], &V[1]);
	ck_assert(!spool_future_done(outer));
	spool_promise_set_result(b[0], &V[2]);
	ck_assert_int_eq(state(outer), SPOOL_DONE);
	void *v;
	ck_assert_int_eq(spool_gather_result(outer, 1, &v), 0);
	void **second = v;
	ck_assert_ptr_eq(second[0], &V[2]);
	ck_assert_ptr_eq(second[1], &V[3]);
	ck_assert_int_eq(spool_gather_result(outer, 0, &v), 0);
	ck_assert_ptr_eq(((void **)v)[1], &V[1]);
	spool_future_release(outer);
	release_all(a, 2);
	release_all(b, 2);
}
END_TEST

START_TEST(nested_gather_failure_propagates_to_the_outer)
{
	spool_future *a[2];
	promises(a, 2);
	spool_future *c = spool_promise_new();
	spool_future *inner = spool_gather(a, 2, 0);
	spool_future *fs[2] = {inner, c};
	spool_future *outer = spool_gather(fs, 2, 0);
	spool_promise_set_error(a[1], 9);
	ck_assert_int_eq(spool_future_error(inner), 9);
	ck_assert_int_eq(spool_future_error(outer), 9);
	/* A gather of an inner gather that FAILED fails too, at once. */
	spool_future *fs2[1] = {inner};
	spool_future *o2 = spool_gather(fs2, 1, 0);
	ck_assert_int_eq(state(o2), SPOOL_FAILED);
	spool_future_release(o2);
	spool_promise_set_result(a[0], NULL);
	spool_promise_set_result(c, NULL);
	spool_future_release(outer);
	spool_future_release(inner);
	spool_future_release(c);
	release_all(a, 2);
}
END_TEST

START_TEST(cancelling_an_outer_gather_cancels_through_the_inner)
{
	spool_future *a[2];
	promises(a, 2);
	spool_future *inner = spool_gather(a, 2, 0);
	spool_future *outer = spool_gather(&inner, 1, 0);
	ck_assert_int_eq(spool_future_cancel(outer), 0);
	ck_assert_int_eq(state(a[0]), SPOOL_CANCELLED);
	ck_assert_int_eq(state(a[1]), SPOOL_CANCELLED);
	ck_assert_int_eq(state(inner), SPOOL_CANCELLED);
	ck_assert_int_eq(state(outer), SPOOL_CANCELLED);
	spool_future_release(outer);
	spool_future_release(inner);
	release_all(a, 2);
}
END_TEST

START_TEST(gather_retains_inputs_so_the_caller_may_release_them_at_once)
{
	spool_future *fs[3];
	promises(fs, 3);
	struct completer *c[3];
	for (int i = 0; i < 3; i++)
		c[i] = complete_later(fs[i], (i + 1) * 5 * MS, END_VALUE, 0,
				      &V[i]);
	spool_future *g = spool_gather(fs, 3, 0);
	release_all(fs, 3); /* only the completers and the gather hold them */
	void *v;
	ck_assert_int_eq(spool_future_result(g, SPOOL_FOREVER, &v), 0);
	ck_assert_int_eq(spool_gather_result(g, 2, &v), 0);
	ck_assert_ptr_eq(v, &V[2]);
	for (int i = 0; i < 3; i++)
		completer_join(c[i]);
	spool_future_release(g);
}
END_TEST

START_TEST(gather_of_inline_executor_tasks)
{
	int64_t zero = 0;
	spool_future *fs[3];
	for (int i = 0; i < 3; i++)
		fs[i] = spool_submit(spool_executor_inline(), sleep_task,
				     &zero);
	spool_future *g = spool_gather(fs, 3, 0);
	ck_assert_int_eq(state(g), SPOOL_DONE);
	void *v;
	ck_assert_int_eq(spool_gather_result(g, 2, &v), 0);
	ck_assert_ptr_eq(v, &zero);
	spool_future_release(g);
	release_all(fs, 3);
}
END_TEST

static int sleep_then_fail(void *arg, void **result)
{
	spool_test_sleep_ns(*(int64_t *)arg);
	return 77;
}

START_TEST(gather_of_tasks_on_threads)
{
	int64_t d[3] = {20 * MS, 5 * MS, 10 * MS};
	spool_future *fs[3];
	for (int i = 0; i < 3; i++)
		fs[i] = spool_submit(thread_executor(), sleep_task, &d[i]);
	spool_future *g = spool_gather(fs, 3, 0);
	ck_assert_int_eq(spool_future_wait(g, SPOOL_FOREVER), 0);
	for (size_t i = 0; i < 3; i++) {
		void *v;
		ck_assert_int_eq(spool_gather_result(g, i, &v), 0);
		ck_assert_ptr_eq(v, &d[i]);
	}
	spool_future_release(g);
	release_all(fs, 3);

	fs[0] = spool_submit(thread_executor(), sleep_task, &d[0]);
	fs[1] = spool_submit(thread_executor(), sleep_then_fail, &d[1]);
	g = spool_gather(fs, 2, 0);
	ck_assert_int_eq(spool_future_result(g, SPOOL_FOREVER, NULL), 77);
	spool_future_release(g);
	release_all(fs, 2);
	thread_executor_drain();
}
END_TEST

/* ---- bad input and accessors ------------------------------------------ */

START_TEST(gather_bad_input_gives_a_future_failed_with_einval)
{
	spool_future *f = spool_promise_new();
	spool_future *fs[2] = {f, NULL};
	spool_future *g = spool_gather(NULL, 2, 0);
	ck_assert_int_eq(state(g), SPOOL_FAILED);
	ck_assert_int_eq(spool_future_error(g), SPOOL_EINVAL);
	spool_future_release(g);
	g = spool_gather(fs, 2, 0);
	ck_assert_int_eq(spool_future_error(g), SPOOL_EINVAL);
	spool_future_release(g);
	g = spool_gather(fs, 1, 0x10);
	ck_assert_int_eq(spool_future_error(g), SPOOL_EINVAL);
	spool_future_release(g);
	/* The good input was not touched. */
	ck_assert_int_eq(state(f), SPOOL_PENDING);
	ck_assert(!spool_future_cancel_requested(f));
	spool_future_release(f);
}
END_TEST

/* The entries are checked as the gather reads them, and the rest at once
 * before it first touches an input: a NULL after final, failed, pending or
 * value-owning inputs still gives EINVAL with every input as it was. */
START_TEST(gather_null_entry_midway_gives_einval_and_touches_no_input)
{
	spool_future *a = spool_promise_new(), *b = spool_promise_new();
	spool_future *p = spool_promise_new();
	spool_promise_set_result(a, NULL);
	spool_promise_set_error(b, 7);
	spool_future *inner = spool_gather(&a, 1, 0); /* owns its value */
	ck_assert_int_eq(state(inner), SPOOL_DONE);
	spool_future *cases[][5] = {
		{a, b, a, p, NULL}, /* read only, then a failure, then NULL */
		{a, p, a, b, NULL}, /* a pending input before the NULL */
		{a, inner, b, a, NULL}, /* an input that owns its value */
		{NULL, a, p, inner, b},
	};
	for (int k = 0; k < 4; k++) {
		for (unsigned flags = 0; flags <= SPOOL_RETURN_ERRORS;
		     flags++) {
			spool_future *g = spool_gather(cases[k], 5, flags);
			ck_assert_int_eq(state(g), SPOOL_FAILED);
			ck_assert_int_eq(spool_future_error(g), SPOOL_EINVAL);
			ck_assert_uint_eq(spool_gather_size(g), 0);
			spool_future_release(g);
			ck_assert_uint_eq(spool__future_refs(a), 1);
			ck_assert_uint_eq(spool__future_refs(b), 1);
			ck_assert_uint_eq(spool__future_refs(p), 1);
			ck_assert_uint_eq(spool__future_refs(inner), 1);
			ck_assert_int_eq(state(p), SPOOL_PENDING);
		}
	}
	/* Without the NULL, the same inputs gather as usual. */
	spool_future *g = spool_gather(cases[1], 4, SPOOL_RETURN_ERRORS);
	ck_assert_uint_eq(spool__future_refs(p), 2); /* its callback's */
	spool_promise_set_result(p, &a);
	ck_assert_int_eq(state(g), SPOOL_DONE);
	void *v;
	ck_assert_int_eq(spool_gather_result(g, 1, &v), 0);
	ck_assert_ptr_eq(v, &a);
	ck_assert_int_eq(spool_gather_result(g, 3, &v), 7);
	spool_future_release(g);
	spool_future_release(inner);
	spool_future_release(a);
	spool_future_release(b);
	spool_future_release(p);
}
END_TEST

START_TEST(gather_accessors_refuse_other_futures_and_bad_slots)
{
	spool_future *f = spool_promise_new();
	spool_promise_set_result(f, &V[0]);
	ck_assert_uint_eq(spool_gather_size(f), 0);
	ck_assert_uint_eq(spool_gather_size(NULL), 0);
	void *v = &V[1];
	ck_assert_int_eq(spool_gather_result(f, 0, &v), SPOOL_EINVAL);
	ck_assert_ptr_null(v);
	ck_assert_int_eq(spool_gather_result(NULL, 0, NULL), SPOOL_EINVAL);
	spool_future *g = spool_gather(&f, 1, 0);
	ck_assert_int_eq(spool_gather_result(g, 1, NULL), SPOOL_EINVAL);
	ck_assert_int_eq(spool_gather_result(g, 0, NULL), 0);
	spool_future_release(g);
	spool_future_release(f);
}
END_TEST

/* ---- on a pool -------------------------------------------------------- */

START_TEST(gather_of_pool_tasks_gives_results_in_input_order)
{
	spool_pool *p = make_pool(2);
	int64_t d[4] = {20 * MS, 1 * MS, 10 * MS, 0};
	spool_future *fs[4];
	for (int i = 0; i < 4; i++)
		fs[i] = spool_submit(spool_pool_executor(p), sleep_task, &d[i]);
	spool_future *g = spool_gather(fs, 4, 0);
	release_all(fs, 4);
	ck_assert_int_eq(spool_future_wait(g, SPOOL_FOREVER), 0);
	for (size_t i = 0; i < 4; i++) {
		void *v;
		ck_assert_int_eq(spool_gather_result(g, i, &v), 0);
		ck_assert_ptr_eq(v, &d[i]);
	}
	spool_future_release(g);
	spool_pool_destroy(p);
}
END_TEST

/* Fork-join on the pool: a task that gathers `width` children, each of
 * which does the same one level down, and returns the number of leaves. */
struct tree {
	spool_executor *ex;
	int depth, width;
};

static int tree_task(void *arg, void **result)
{
	struct tree *t = arg;
	if (t->depth == 0) {
		*result = (void *)(intptr_t)1;
		return 0;
	}
	struct tree child = {t->ex, t->depth - 1, t->width};
	spool_future *fs[8];
	for (int i = 0; i < t->width; i++)
		fs[i] = spool_submit(t->ex, tree_task, &child);
	spool_future *g = spool_gather(fs, (size_t)t->width, 0);
	release_all(fs, (size_t)t->width);
	/* In a worker this helps: it runs the children itself if need be. */
	int rc = spool_future_wait(g, SPOOL_FOREVER);
	intptr_t sum = 0;
	for (int i = 0; rc == 0 && i < t->width; i++) {
		void *v;
		rc = spool_gather_result(g, (size_t)i, &v);
		sum += (intptr_t)v;
	}
	spool_future_release(g);
	*result = (void *)sum;
	return rc;
}

START_TEST(gather_inside_a_pool_task_with_one_worker_does_not_deadlock)
{
	spool_pool *p = make_pool(1);
	struct tree root = {spool_pool_executor(p), 3, 6};
	spool_future *f = spool_submit(root.ex, tree_task, &root);
	void *v;
	ck_assert_int_eq(spool_future_result(f, SPOOL_FOREVER, &v), 0);
	ck_assert_int_eq((intptr_t)v, 6 * 6 * 6);
	spool_future_release(f);
	spool_pool_destroy(p);
}
END_TEST

static _Atomic int gate_open, ran_children;

/* Occupies its worker until gate_open (bounded: 5 s), without a spool wait
 * (which would help, i.e. run the queued tasks). */
static int hold_worker(void *arg, void **result)
{
	for (int i = 0; i < 5000 && !atomic_load(&gate_open); i++)
		spool_test_sleep_ns(MS);
	return 0;
}

static int count_child(void *arg, void **result)
{
	atomic_fetch_add(&ran_children, 1);
	return 0;
}

START_TEST(gather_cancel_stops_queued_pool_tasks_for_good)
{
	atomic_store(&gate_open, 0);
	atomic_store(&ran_children, 0);
	spool_pool *p = make_pool(1);
	spool_executor *ex = spool_pool_executor(p);
	spool_future *holder = spool_submit(ex, hold_worker, NULL);
	for (int i = 0; i < 5000 && spool_future_state(holder) == SPOOL_PENDING;
	     i++)
		spool_test_sleep_ns(MS);
	ck_assert_int_eq(spool_future_state(holder), SPOOL_RUNNING);
	spool_future *fs[5];
	for (int i = 0; i < 5; i++)
		fs[i] = spool_submit(ex, count_child, NULL);
	spool_future *g = spool_gather(fs, 5, 0);
	ck_assert_int_eq(spool_future_cancel(g), 0);
	ck_assert_int_eq(spool_future_state(g), SPOOL_CANCELLED);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(spool_future_state(fs[i]), SPOOL_CANCELLED);
	atomic_store(&gate_open, 1);
	ck_assert_int_eq(spool_future_wait(holder, SPOOL_FOREVER), 0);
	spool_pool_destroy(p);
	ck_assert_int_eq(atomic_load(&ran_children), 0);
	spool_future_release(g);
	release_all(fs, 5);
	spool_future_release(holder);
}
END_TEST

START_TEST(race_gather_of_pool_tasks_on_8_workers)
{
	enum { N = 2000 };
	spool_pool *p = make_pool(8);
	spool_future **fs = malloc(N * sizeof *fs);
	for (int it = 0; it < 20; it++) {
		for (intptr_t i = 0; i < N; i++)
			fs[i] = spool_submit(spool_pool_executor(p), plus_one,
					     (void *)i);
		/* Created while the workers complete the tasks. */
		spool_future *g = spool_gather(fs, N, 0);
		release_all(fs, N);
		ck_assert_int_eq(spool_future_wait(g, SPOOL_FOREVER), 0);
		void **vals = spool_future_value(g);
		for (intptr_t i = 0; i < N; i++)
			ck_assert_ptr_eq(vals[i], (void *)(i + 1));
		spool_future_release(g);
	}
	free(fs);
	spool_pool_destroy(p);
}
END_TEST

/* ---- on the loop ------------------------------------------------------ */

static int64_t naps[3] = {3 * MS, 1 * MS, 2 * MS};
static int64_t long_nap = 10 * SPOOL_NS_PER_S;

/* Gathers three coroutine children from a coroutine: only possible if
 * the wait suspends (the children run on the same thread). */
static int gathers_coroutines(void *arg, void **result)
{
	spool_future *fs[3];
	for (int i = 0; i < 3; i++)
		fs[i] = spool_submit(loop_ex(), coro_nap, &naps[i]);
	spool_future *g = spool_gather(fs, 3, 0);
	release_all(fs, 3);
	int rc = spool_future_wait(g, SPOOL_FOREVER);
	for (size_t i = 0; rc == 0 && i < 3; i++) {
		void *v;
		rc = spool_gather_result(g, i, &v);
		if (rc == 0 && v != &naps[i])
			rc = 1;
	}
	spool_future_release(g);
	return rc;
}

START_TEST(gather_inside_a_coroutine_suspends_while_its_coroutine_children_run)
{
	ck_assert_int_eq(run_coro(gathers_coroutines, NULL), 0);
}
END_TEST

/* Cancels a gather of suspended coroutines: each await returns
 * SPOOL_ECANCELLED, so the gather settles CANCELLED at once. */
static int cancels_gather_of_sleepers(void *arg, void **result)
{
	spool_future *fs[3];
	for (int i = 0; i < 3; i++)
		fs[i] = spool_submit(loop_ex(), coro_nap, &long_nap);
	spool_sleep(0); /* let them start and suspend */
	spool_sleep(0);
	spool_future *g = spool_gather(fs, 3, 0);
	int line = 0;
	if (spool_future_cancel(g) != 0)
		line = __LINE__;
	if (!line && spool_future_wait(g, 5 * SPOOL_NS_PER_S) != 0)
		line = __LINE__;
	if (!line && spool_future_state(g) != SPOOL_CANCELLED)
		line = __LINE__;
	for (int i = 0; !line && i < 3; i++)
		if (spool_future_state(fs[i]) != SPOOL_CANCELLED)
			line = __LINE__;
	spool_future_release(g);
	release_all(fs, 3);
	return line ? 1000 + line : 0;
}

START_TEST(gather_cancel_interrupts_suspended_coroutine_children)
{
	ck_assert_int_eq(run_coro(cancels_gather_of_sleepers, NULL), 0);
}
END_TEST

/* ---- races ------------------------------------------------------------ */

enum { RACE_N = 64, RACE_THREADS = 8, RACE_ITERS = 150 };

struct race {
	spool_future **fs;
	const int *how; /* END_VALUE, END_ERROR, END_CANCEL per input */
	int first, stride;
	pthread_barrier_t *go;
};

static void *race_completer(void *arg)
{
	struct race *r = arg;
	pthread_barrier_wait(r->go);
	for (int i = r->first; i < RACE_N; i += r->stride) {
		if (r->how[i] == END_VALUE)
			spool_promise_set_result(r->fs[i], &V[i]);
		else if (r->how[i] == END_ERROR)
			spool_promise_set_error(r->fs[i], 100 + i);
		else
			spool_future_cancel(r->fs[i]);
	}
	return NULL;
}

START_TEST(race_gather_with_children_completed_from_8_threads)
{
	uint64_t seed = 0x9e3779b97f4a7c15u;
	for (int it = 0; it < RACE_ITERS; it++) {
		spool_future *fs[RACE_N];
		int how[RACE_N];
		promises(fs, RACE_N);
		bool clean = rnd_next(&seed) % 2;
		unsigned flags = rnd_next(&seed) % 2 ? SPOOL_RETURN_ERRORS : 0;
		for (int i = 0; i < RACE_N; i++) {
			uint64_t r = rnd_next(&seed) % 16;
			how[i] = clean || r > 1 ? END_VALUE
				 : r == 0       ? END_ERROR
						: END_CANCEL;
		}
		pthread_barrier_t go;
		pthread_barrier_init(&go, NULL, RACE_THREADS + 1);
		pthread_t th[RACE_THREADS];
		struct race r[RACE_THREADS];
		for (int t = 0; t < RACE_THREADS; t++) {
			r[t] = (struct race){fs, how, t, RACE_THREADS, &go};
			pthread_create(&th[t], NULL, race_completer, &r[t]);
		}
		pthread_barrier_wait(&go);
		/* Created while the children complete. */
		spool_future *g = spool_gather(fs, RACE_N, flags);
		ck_assert_int_eq(spool_future_wait(g, SPOOL_FOREVER), 0);
		for (int t = 0; t < RACE_THREADS; t++)
			pthread_join(th[t], NULL);
		pthread_barrier_destroy(&go);

		bool any_bad = false;
		for (int i = 0; i < RACE_N; i++)
			any_bad |= how[i] != END_VALUE;
		if (flags || !any_bad) {
			ck_assert_int_eq(state(g), SPOOL_DONE);
			for (int i = 0; i < RACE_N; i++) {
				void *v;
				int e = spool_gather_result(g, i, &v);
				int want = how[i] == END_VALUE ? 0
					   : how[i] == END_ERROR
						   ? 100 + i
						   : SPOOL_ECANCELLED;
				ck_assert_int_eq(e, want);
				if (!e)
					ck_assert_ptr_eq(v, &V[i]);
			}
		} else {
			/* The gather's error is one of the children's. */
			int e = spool_future_error(g);
			bool found = false;
			for (int i = 0; i < RACE_N; i++)
				found |= spool_future_error(fs[i]) == e;
			ck_assert(e != 0 && found);
		}
		spool_future_release(g);
		release_all(fs, RACE_N);
	}
}
END_TEST

struct cancel_race {
	spool_future *g;
	pthread_barrier_t *go;
	int rc;
};

static void *race_canceller(void *arg)
{
	struct cancel_race *c = arg;
	pthread_barrier_wait(c->go);
	c->rc = spool_future_cancel(c->g);
	return NULL;
}

START_TEST(race_gather_cancel_against_completions_from_8_threads)
{
	uint64_t seed = 12345;
	for (int it = 0; it < RACE_ITERS; it++) {
		spool_future *fs[RACE_N];
		int how[RACE_N];
		promises(fs, RACE_N);
		unsigned flags = rnd_next(&seed) % 2 ? SPOOL_RETURN_ERRORS : 0;
		for (int i = 0; i < RACE_N; i++)
			how[i] = rnd_next(&seed) % 32 == 0 ? END_ERROR
							   : END_VALUE;
		spool_future *g = spool_gather(fs, RACE_N, flags);
		pthread_barrier_t go;
		pthread_barrier_init(&go, NULL, RACE_THREADS + 1);
		pthread_t th[RACE_THREADS + 1];
		struct race r[RACE_THREADS];
		for (int t = 0; t < RACE_THREADS; t++) {
			r[t] = (struct race){fs, how, t, RACE_THREADS, &go};
			pthread_create(&th[t], NULL, race_completer, &r[t]);
		}
		struct cancel_race c = {g, &go, 99};
		pthread_create(&th[RACE_THREADS], NULL, race_canceller, &c);
		for (int t = 0; t <= RACE_THREADS; t++)
			pthread_join(th[t], NULL);
		pthread_barrier_destroy(&go);
		/* Every child is final now, so the gather is too, and cancel's
		 * answer agrees with how it ended. */
		ck_assert(spool_future_done(g));
		if (c.rc == 0)
			ck_assert_int_eq(state(g), SPOOL_CANCELLED);
		else
			ck_assert_int_eq(c.rc, SPOOL_ESTATE);
		if (state(g) == SPOOL_DONE)
			for (int i = 0; i < RACE_N; i++)
				ck_assert_int_eq(
					spool_gather_result(g, i, NULL),
					how[i] == END_VALUE ? 0 : 100 + i);
		spool_future_release(g);
		release_all(fs, RACE_N);
	}
}
END_TEST

static Suite *gather_suite(void)
{
	Suite *s = suite_create("gather");
	TCase *tc = spool_test_case("results", 30);
	tcase_add_test(tc, gather_of_done_inputs_gives_values_in_input_order);
	tcase_add_test(
		tc,
		gather_waits_for_all_and_keeps_input_order_whatever_the_order_of_completion);
	tcase_add_test(tc, gather_of_mixed_done_and_pending_inputs);
	tcase_add_test(tc,
		       gather_of_zero_inputs_completes_at_once_with_no_results);
	tcase_add_test(tc, gather_duplicates_fill_every_slot);
	suite_add_tcase(s, tc);

	tc = spool_test_case("failures", 30);
	tcase_add_test(
		tc,
		gather_first_failure_fails_it_at_once_and_others_keep_running);
	tcase_add_test(tc,
		       gather_with_an_already_failed_input_fails_at_creation);
	tcase_add_test(tc,
		       gather_cancelled_child_ends_default_gather_cancelled);
	tcase_add_test(
		tc,
		gather_return_errors_collects_each_value_or_error_and_succeeds);
	suite_add_tcase(s, tc);

	tc = spool_test_case("cancel", 30);
	tcase_add_test(tc,
		       gather_cancel_cancels_every_child_and_ends_cancelled);
	tcase_add_test(tc,
		       gather_cancel_with_return_errors_still_ends_cancelled);
	tcase_add_test(
		tc, gather_cancel_ends_at_the_first_child_cancelled_as_asyncio);
	tcase_add_test(
		tc,
		gather_cancel_with_a_running_child_waits_for_it_to_end_first);
	tcase_add_test(
		tc,
		gather_with_return_errors_cancelled_ends_only_once_children_settle);
	tcase_add_test(
		tc,
		gather_cancel_after_it_finished_is_estate_and_cancels_nothing);
	suite_add_tcase(s, tc);

	tc = spool_test_case("nesting", 30);
	tcase_add_test(tc, gathers_nest_and_the_inner_results_stay_valid);
	tcase_add_test(
		tc, gather_keeps_a_finished_inner_gather_alive_for_its_value);
	tcase_add_test(tc, nested_gather_failure_propagates_to_the_outer);
	tcase_add_test(tc,
		       cancelling_an_outer_gather_cancels_through_the_inner);
	tcase_add_test(
		tc,
		gather_retains_inputs_so_the_caller_may_release_them_at_once);
	tcase_add_test(tc, gather_of_inline_executor_tasks);
	tcase_add_test(tc, gather_of_tasks_on_threads);
	suite_add_tcase(s, tc);

	tc = spool_test_case("input", 30);
	tcase_add_test(tc, gather_bad_input_gives_a_future_failed_with_einval);
	tcase_add_test(
		tc, gather_null_entry_midway_gives_einval_and_touches_no_input);
	tcase_add_test(tc, gather_accessors_refuse_other_futures_and_bad_slots);
	suite_add_tcase(s, tc);

	tc = spool_test_case("pool", 60);
	tcase_add_test(tc, gather_of_pool_tasks_gives_results_in_input_order);
	tcase_add_test(
		tc,
		gather_inside_a_pool_task_with_one_worker_does_not_deadlock);
	tcase_add_test(tc, gather_cancel_stops_queued_pool_tasks_for_good);
	suite_add_tcase(s, tc);

	tc = spool_test_case("loop", 60);
	tcase_add_test(
		tc,
		gather_inside_a_coroutine_suspends_while_its_coroutine_children_run);
	tcase_add_test(tc,
		       gather_cancel_interrupts_suspended_coroutine_children);
	suite_add_tcase(s, tc);

	tc = spool_test_case("race", 240);
	tcase_add_test(tc, race_gather_of_pool_tasks_on_8_workers);
	tcase_add_test(tc, race_gather_with_children_completed_from_8_threads);
	tcase_add_test(tc,
		       race_gather_cancel_against_completions_from_8_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return spool_test_run(gather_suite());
}
