/* SPDX-License-Identifier: MIT */
/*
 * Suite "trace_threads": recording threads that come and go during a
 * session, and sessions stopped while threads record.
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>

#include "trace_support.h"

/* ---- public API: threads that come and go, and a racing stop ------------ */

static void *short_lived(void *arg)
{
	char name[32];
	snprintf(name, sizeof name, "short %d", (int)(intptr_t)arg);
	spool_trace_thread_name(name);
	submit_inline(5, "short");
	return NULL;
}

START_TEST(threads_that_exit_before_stop_keep_their_events)
{
	enum { T = 6 };
	ck_assert_int_eq(spool_trace_start(tmp("exit.json")), 0);
	for (int i = 0; i < T; i++) {
		pthread_t th;
		pthread_create(&th, NULL, short_lived, (void *)(intptr_t)i);
		pthread_join(th, NULL);
	}
	ck_assert_int_eq(spool_trace_stop(), 0);
	struct trace t;
	load(&t, tmp("exit.json"));
	for (int i = 0; i < T; i++) {
		char name[32];
		snprintf(name, sizeof name, "short %d", i);
		long tid = track(&t, name);
		ck_assert_int_ge(tid, 0);
		ck_assert_int_eq(count(&t, 'X', "short", tid), 5);
	}
	ck_assert_int_eq((int)meta_n(&t, "threads"), T);
	unload(&t);
}
END_TEST

static void *hammer_thread(void *arg)
{
	struct hammer *h = arg;
	spool_trace_thread_name("hammer");
	while (!atomic_load(&h->stop)) {
		spool_future *f = spool_submit_labeled(spool_executor_inline(),
						       ok_task, NULL, "h");
		spool_future_wait(f, SPOOL_FOREVER);
		spool_future_release(f);
		if (atomic_fetch_add(&h->tasks, 1) % 64 == 0)
			sched_yield(); /* 2 cores: let the stopper run */
	}
	return NULL;
}

static void *hammer_spawner(void *arg)
{
	struct hammer *h = arg;
	while (!atomic_load(&h->stop)) {
		pthread_t th;
		pthread_create(&th, NULL, short_lived, (void *)(intptr_t)99);
		pthread_join(th, NULL);
	}
	return NULL;
}

START_TEST(stop_while_threads_record_is_safe_and_every_file_is_valid)
{
	enum { T = 4, SESSIONS = 12 };
	struct hammer h = {false, 0};
	pthread_t th[T + 1];
	for (int i = 0; i < T; i++)
		pthread_create(&th[i], NULL, hammer_thread, &h);
	pthread_create(&th[T], NULL, hammer_spawner, &h);
	spool_trace_options o = SPOOL_TRACE_OPTIONS_INIT;
	o.events_per_thread = 4096; /* small, so some sessions overflow */
	for (int s = 0; s < SESSIONS; s++) {
		char name[32];
		snprintf(name, sizeof name, "race%d.json", s);
		ck_assert_int_eq(spool_trace_start_opts(tmp(name), &o), 0);
		long before = atomic_load(&h.tasks);
		while (atomic_load(&h.tasks) < before + 50)
			spool_test_sleep_ns(100000);
		ck_assert_int_eq(spool_trace_stop(), 0);
		spool_trace_stats st;
		spool_trace_stats_get(&st);
		ck_assert_int_eq(st.sessions, s + 1);
		ck_assert_int_gt(st.events, 0);
	}
	atomic_store(&h.stop, true);
	for (int i = 0; i <= T; i++)
		pthread_join(th[i], NULL);
	for (int s = 0; s < SESSIONS; s++) {
		char name[32];
		snprintf(name, sizeof name, "race%d.json", s);
		struct trace t;
		load(&t, tmp(name));
		ck_assert_int_gt(count(&t, 'X', "h", -1), 0);
		assert_slices_nest(&t);
		assert_runs_follow_submits(&t);
		unload(&t);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("trace_threads");
	TCase *tc = spool_test_case("threads", 120);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, threads_that_exit_before_stop_keep_their_events);
	tcase_add_test(
		tc, stop_while_threads_record_is_safe_and_every_file_is_valid);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
