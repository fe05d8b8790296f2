/* SPDX-License-Identifier: MIT */
/*
 * Suite "trace_user_slices": spool_trace_begin() and spool_trace_end():
 * where the slices appear, how they nest with runs and waits, unbalanced
 * calls, and a slice across a coroutine's suspension.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "trace_support.h"

/* ---- public API: user slices -------------------------------------------- */

/* The user slice named name on tid, the k-th (from 0), checked to be one. */
static const struct tev *user_slice(const struct trace *t, const char *name,
				    long tid, size_t k)
{
	const struct tev *s = nth(t, 'X', name, tid, k);
	ck_assert_msg(s != NULL, "no user slice %s #%zu", name, k);
	ck_assert_str_eq(s->cat, "user");
	return s;
}

static void *slices_elsewhere(void *arg)
{
	(void)arg;
	spool_trace_thread_name("other");
	spool_trace_begin("elsewhere");
	spool_trace_end();
	return NULL;
}

START_TEST(a_user_slice_appears_with_its_name_on_the_calling_threads_track)
{
	ck_assert_int_eq(spool_trace_thread_name("main"), 0);
	ck_assert_int_eq(spool_trace_start(tmp("user.json")), 0);
	spool_trace_begin("phase \"one\"");
	spool_trace_begin("inner");
	spool_test_sleep_ns(SPOOL_NS_PER_MS);
	spool_trace_end();
	spool_trace_end();
	spool_trace_begin(NULL);
	spool_trace_end();
	pthread_t th;
	pthread_create(&th, NULL, slices_elsewhere, NULL);
	pthread_join(th, NULL);
	ck_assert_int_eq(spool_trace_stop(), 0);
	spool_trace_stats st;
	ck_assert_int_eq(spool_trace_stats_get(&st), 0);
	ck_assert_uint_eq(st.events, 8); /* four begins, four ends */

	struct trace t;
	load(&t, tmp("user.json"));
	long me = track(&t, "main"), other = track(&t, "other");
	ck_assert_int_eq(me, my_tid());
	ck_assert_int_ne(other, me);
	const struct tev *outer = user_slice(&t, "phase \"one\"", me, 0);
	const struct tev *inner = user_slice(&t, "inner", me, 0);
	ck_assert(contains(outer, inner) && outer->ts < inner->ts);
	ck_assert_int_ge(inner->dur, SPOOL_NS_PER_MS);
	ck_assert_ptr_null(jget(outer->args, "truncated"));
	user_slice(&t, "slice", me, 0); /* NULL name */
	user_slice(&t, "elsewhere", other, 0);
	ck_assert_int_eq(count(&t, 'X', "elsewhere", me), 0);
	ck_assert_int_eq(count(&t, 'X', NULL, -1), 4);
	assert_slices_nest(&t);
	ck_assert_int_eq((int)meta_n(&t, "unmatched_ends"), 0);
	unload(&t);
}
END_TEST

static int task_with_a_user_slice(void *arg, void **result)
{
	(void)arg;
	*result = NULL;
	spool_trace_begin("inside the task");
	spool_trace_end();
	return 0;
}

START_TEST(user_slices_nest_inside_a_task_run_and_around_a_wait)
{
	spool_future *p = spool_promise_new();
	ck_assert_int_eq(spool_trace_start(tmp("nest.json")), 0);
	spool_future *f = spool_submit_labeled(
		spool_executor_inline(), task_with_a_user_slice, NULL, "host");
	spool_trace_begin("around the wait");
	ck_assert_int_eq(spool_future_wait(p, SPOOL_NS_PER_MS),
			 SPOOL_ETIMEDOUT);
	spool_trace_end();
	ck_assert_int_eq(spool_trace_stop(), 0);

	struct trace t;
	load(&t, tmp("nest.json"));
	long me = my_tid();
	const struct tev *run = run_of(&t, spool_future_id(f), 0);
	ck_assert_ptr_nonnull(run);
	ck_assert_str_eq(run->name, "host");
	const struct tev *in = user_slice(&t, "inside the task", me, 0);
	ck_assert(contains(run, in) && run->ts < in->ts);
	const struct tev *around = user_slice(&t, "around the wait", me, 0);
	const struct tev *w = nth(&t, 'X', "wait", me, 0);
	ck_assert_ptr_nonnull(w);
	ck_assert(contains(around, w) && around->ts < w->ts);
	ck_assert_int_eq((int)arg_n(w, "rc"), SPOOL_ETIMEDOUT);
	ck_assert(!contains(around, run));
	assert_slices_nest(&t);
	ck_assert_int_eq((int)meta_n(&t, "unmatched_ends"), 0);
	unload(&t);
	spool_future_release(f);
	spool_future_release(p);
}
END_TEST

START_TEST(user_slices_while_tracing_is_off_record_nothing)
{
	spool_trace_begin("off");
	spool_trace_end();
	ck_assert_int_eq(spool_trace_start(tmp("off-user.json")), 0);
	ck_assert_int_eq(spool_trace_stop(), 0);
	spool_trace_stats st;
	ck_assert_int_eq(spool_trace_stats_get(&st), 0);
	ck_assert_uint_eq(st.events, 0);
	ck_assert_uint_eq(st.threads, 0);
	/* Begun while off: not recorded, so its end finds nothing open. */
	spool_trace_begin("before the session");
	ck_assert_int_eq(spool_trace_start(tmp("late.json")), 0);
	spool_trace_end();
	ck_assert_int_eq(spool_trace_stop(), 0);
	spool_trace_end();
	ck_assert_int_eq(spool_trace_stats_get(&st), 0);
	ck_assert_uint_eq(st.events, 1);
	struct trace t;
	load(&t, tmp("late.json"));
	ck_assert_int_eq(count(&t, 'X', NULL, -1), 0);
	ck_assert_int_eq((int)meta_n(&t, "unmatched_ends"), 1);
	unload(&t);
}
END_TEST

static int task_crossing_its_run(void *arg, void **result)
{
	(void)arg;
	*result = NULL;
	spool_trace_end(); /* the slice open outside this run: ignored */
	spool_trace_begin("left open");
	return 5;
}

START_TEST(unbalanced_user_ends_are_ignored_and_counted_never_cutting_a_run)
{
	ck_assert_int_eq(spool_trace_start(tmp("unbalanced.json")), 0);
	spool_trace_end(); /* nothing open */
	spool_trace_begin("outer");
	spool_future *f = spool_submit(spool_executor_inline(),
				       task_crossing_its_run, NULL);
	spool_trace_end(); /* closes "outer" */
	spool_trace_begin("still open at stop");
	ck_assert_int_eq(spool_trace_stop(), 0);

	struct trace t;
	load(&t, tmp("unbalanced.json"));
	long me = my_tid();
	ck_assert_int_eq((int)meta_n(&t, "unmatched_ends"), 2);
	const struct tev *run = run_of(&t, spool_future_id(f), 0);
	ck_assert_ptr_nonnull(run);
	ck_assert_int_eq((int)arg_n(run, "rc"), 5);
	ck_assert_ptr_null(jget(run->args, "truncated"));
	const struct tev *outer = user_slice(&t, "outer", me, 0);
	ck_assert(contains(outer, run));
	ck_assert_ptr_null(jget(outer->args, "truncated"));
	const struct tev *left = user_slice(&t, "left open", me, 0);
	ck_assert(contains(run, left) && jgetb(left->args, "truncated"));
	const struct tev *last = user_slice(&t, "still open at stop", me, 0);
	ck_assert(jgetb(last->args, "unfinished"));
	ck_assert_int_eq(count(&t, 'X', NULL, me), 5); /* and the submit */
	assert_slices_nest(&t);
	unload(&t);
	spool_future_release(f);
}
END_TEST

static int sleeper_in_a_user_slice(void *arg, void **result)
{
	(void)result;
	spool_trace_begin("in the coroutine");
	int rc = spool_sleep((int64_t)(intptr_t)arg);
	spool_trace_end();
	return rc;
}

START_TEST(a_user_slice_in_a_coroutine_is_split_at_its_suspension)
{
	spool_loop *l;
	ck_assert_int_eq(spool_loop_create(&l, NULL), 0);
	ck_assert_int_eq(spool_trace_start(tmp("coro-user.json")), 0);
	/* The first sleeps longer: the second's end comes while the first
	 * still has its slice open, so pairing must follow the coroutine. */
	spool_future *f[2];
	for (int i = 0; i < 2; i++)
		f[i] = spool_submit(
			spool_loop_executor(l), sleeper_in_a_user_slice,
			(void *)(intptr_t)((2 - i) * SPOOL_NS_PER_MS));
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(spool_loop_run_until_complete(l, f[i]), 0);
	ck_assert_int_eq(spool_trace_stop(), 0);
	spool_loop_destroy(l);

	struct trace t;
	load(&t, tmp("coro-user.json"));
	long loop = track(&t, "loop");
	ck_assert_int_eq(count(&t, 'X', "in the coroutine", loop), 4);
	for (int i = 0; i < 2; i++) {
		uint64_t id = spool_future_id(f[i]);
		for (int seg = 0; seg < 2; seg++) {
			const struct tev *r = run_of(&t, id, seg);
			ck_assert_ptr_nonnull(r);
			size_t inside = 0;
			for (size_t k = 0; k < t.n; k++) {
				const struct tev *e = &t.ev[k];
				if (e->ph != 'X' ||
				    strcmp(e->name, "in the coroutine") != 0 ||
				    !contains(r, e))
					continue;
				inside++;
				ck_assert_int_eq(jgetb(e->args, "suspended"),
						 seg == 0);
				ck_assert_ptr_null(jget(e->args, "truncated"));
			}
			ck_assert_int_eq(inside, 1);
		}
		spool_future_release(f[i]);
	}
	assert_slices_nest(&t);
	ck_assert_int_eq((int)meta_n(&t, "unmatched_ends"), 0);
	unload(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("trace_user_slices");
	TCase *tc = spool_test_case("user slices", 60);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(
		tc,
		a_user_slice_appears_with_its_name_on_the_calling_threads_track);
	tcase_add_test(tc,
		       user_slices_nest_inside_a_task_run_and_around_a_wait);
	tcase_add_test(tc, user_slices_while_tracing_is_off_record_nothing);
	tcase_add_test(
		tc,
		unbalanced_user_ends_are_ignored_and_counted_never_cutting_a_run);
	tcase_add_test(tc,
		       a_user_slice_in_a_coroutine_is_split_at_its_suspension);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
