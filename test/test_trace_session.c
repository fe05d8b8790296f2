/* SPDX-License-Identifier: MIT */
/*
 * Suite "trace_session": the life of a trace session through spool/trace.h:
 * start, stop and their errors, the statistics, track names, and a
 * session started by SPOOL_TRACE (this program run again with it set).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "trace_support.h"

static bool file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* ---- public API: sessions ----------------------------------------------- */

START_TEST(stop_without_start_is_a_harmless_noop)
{
	ck_assert(!spool_trace_enabled());
	ck_assert_int_eq(spool_trace_stop(), 0);
	ck_assert_int_eq(spool_trace_stop(), 0);
	spool_trace_stats st;
	ck_assert_int_eq(spool_trace_stats_get(&st), 0);
	ck_assert_int_eq(st.sessions, 0);
	ck_assert_int_eq(st.events, 0);
	/* And a session still starts and stops normally afterwards. */
	ck_assert_int_eq(spool_trace_start(tmp("a.json")), 0);
	ck_assert_int_eq(spool_trace_stop(), 0);
	ck_assert_int_eq(spool_trace_stop(), 0);
	ck_assert_int_eq(spool_trace_stats_get(&st), 0);
	ck_assert_int_eq(st.sessions, 1);
}
END_TEST

START_TEST(bad_path_is_esys_and_bad_arguments_are_einval)
{
	ck_assert_int_eq(spool_trace_start(tmp("no/such/dir/t.json")),
			 SPOOL_ESYS);
	ck_assert(!spool_trace_enabled());
	ck_assert_int_eq(spool_trace_start(tmpdir), SPOOL_ESYS); /* a dir */
	ck_assert(!spool_trace_enabled());
	ck_assert_int_eq(spool_trace_start(NULL), SPOOL_EINVAL);
	ck_assert_int_eq(spool_trace_start(""), SPOOL_EINVAL);
	spool_trace_options o = SPOOL_TRACE_OPTIONS_INIT;
	o.events_per_thread = (size_t)1 << 40;
	ck_assert_int_eq(spool_trace_start_opts(tmp("b.json"), &o),
			 SPOOL_EINVAL);
	ck_assert(!file_exists(tmp("b.json")));
	ck_assert(!spool_trace_enabled());
	ck_assert_int_eq(spool_trace_stats_get(NULL), SPOOL_EINVAL);
	ck_assert_int_eq(spool_trace_thread_name(NULL), SPOOL_EINVAL);
	ck_assert_int_eq(spool_trace_thread_name(""), SPOOL_EINVAL);
	/* Nothing was recorded by the failed starts. */
	submit_inline(3, "x");
	ck_assert_int_eq(spool_trace_stop(), 0);
	spool_trace_stats st;
	spool_trace_stats_get(&st);
	ck_assert_int_eq(st.sessions, 0);
}
END_TEST

START_TEST(start_while_recording_is_estate_and_keeps_the_session)
{
	ck_assert_int_eq(spool_trace_start(tmp("first.json")), 0);
	ck_assert(spool_trace_enabled());
	ck_assert_int_eq(spool_trace_start(tmp("second.json")), SPOOL_ESTATE);
	ck_assert(!file_exists(tmp("second.json")));
	ck_assert(spool_trace_enabled());
	submit_inline(2, "kept");
	ck_assert_int_eq(spool_trace_stop(), 0);
	ck_assert(!spool_trace_enabled());
	struct trace t;
	load(&t, tmp("first.json"));
	ck_assert_int_eq(count(&t, 'X', "kept", -1), 2);
	unload(&t);
}
END_TEST

START_TEST(start_stop_start_again_records_each_session_in_its_own_file)
{
	submit_inline(1, "before");
	ck_assert_int_eq(spool_trace_start(tmp("s1.json")), 0);
	submit_inline(3, "one");
	ck_assert_int_eq(spool_trace_stop(), 0);
	submit_inline(1, "between");
	ck_assert_int_eq(spool_trace_start(tmp("s2.json")), 0);
	submit_inline(5, "two");
	ck_assert_int_eq(spool_trace_stop(), 0);
	submit_inline(1, "after");

	struct trace a, b;
	load(&a, tmp("s1.json"));
	load(&b, tmp("s2.json"));
	ck_assert_int_eq(count(&a, 'X', "one", -1), 3);
	ck_assert_int_eq(count(&a, 'X', "two", -1), 0);
	ck_assert_int_eq(count(&b, 'X', "two", -1), 5);
	ck_assert_int_eq(count(&b, 'X', "one", -1), 0);
	const char *outside[] = {"before", "between", "after"};
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(count(&a, 'X', outside[i], -1), 0);
		ck_assert_int_eq(count(&b, 'X', outside[i], -1), 0);
	}
	/* Each session's events: 1 submit + 2 run records per task. */
	ck_assert_int_eq((int)meta_n(&a, "events"), 3 * 3);
	ck_assert_int_eq((int)meta_n(&b, "events"), 5 * 3);
	spool_trace_stats st;
	spool_trace_stats_get(&st);
	ck_assert_int_eq(st.sessions, 2);
	ck_assert_int_eq(st.events, 15);
	ck_assert_int_eq(st.threads, 1);
	ck_assert_int_eq(st.dropped, 0);
	unload(&a);
	unload(&b);
}
END_TEST

START_TEST(stop_reports_esys_when_the_file_cannot_be_written)
{
	/* /dev/full opens, then every write fails with ENOSPC. */
	ck_assert_int_eq(spool_trace_start("/dev/full"), 0);
	submit_inline(3, "lost");
	ck_assert_int_eq(spool_trace_stop(), SPOOL_ESYS);
	ck_assert(!spool_trace_enabled()); /* the session is over anyway */
	ck_assert_int_eq(spool_trace_start(tmp("after.json")), 0);
	ck_assert_int_eq(spool_trace_stop(), 0);
}
END_TEST

START_TEST(thread_name_renames_the_track_mid_session_and_keeps_31_bytes)
{
	ck_assert_int_eq(spool_trace_start(tmp("rename.json")), 0);
	submit_inline(1, "x");
	ck_assert_int_eq(
		spool_trace_thread_name("a name much longer than thirty-one "
					"bytes"),
		0);
	ck_assert_int_eq(spool_trace_stop(), 0);
	struct trace t;
	load(&t, tmp("rename.json"));
	ck_assert_int_eq(track(&t, "a name much longer than thirty-"),
			 my_tid());
	ck_assert_int_eq(count(&t, 'M', "thread_name", my_tid()), 1);
	unload(&t);
}
END_TEST

START_TEST(enabled_reflects_start_and_stop)
{
	ck_assert(!spool_trace_enabled());
	ck_assert_int_eq(spool_trace_start(tmp("e.json")), 0);
	ck_assert(spool_trace_enabled());
	ck_assert_int_eq(spool_trace_stop(), 0);
	ck_assert(!spool_trace_enabled());
}
END_TEST

/* ---- SPOOL_TRACE -------------------------------------------------------- */

static int env_child(void)
{
	/* No ck_assert here: this runs outside the test runner. */
	spool_trace_thread_name("env child");
	for (int i = 0; i < 4; i++)
		spool_future_release(spool_submit_labeled(
			spool_executor_inline(), ok_task, NULL, "from env"));
	return 0; /* the trace is written at exit */
}

/* Runs this program again with SPOOL_TRACE=value; returns its stderr and
 * sets trace_pid to the child's pid. */
static char *run_env_child(const char *value, const char *events)
{
	char self[512];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	ck_assert_int_gt(n, 0);
	self[n] = 0;
	const char *errpath = tmp("child-stderr.txt");
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 2);
		setenv("SPOOL_TRACE", value, 1);
		if (events)
			setenv("SPOOL_TRACE_EVENTS", events, 1);
		execl(self, self, "--env-child", (char *)NULL);
		_exit(127);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	trace_pid = pid;
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	size_t len;
	return slurp(errpath, &len);
}

START_TEST(environment_variable_traces_the_program_into_the_file_at_exit)
{
	const char *path = tmp("env.json");
	free(run_env_child(path, NULL));
	struct trace t;
	load(&t, path);
	long tid = track(&t, "env child");
	ck_assert_int_ge(tid, 0);
	ck_assert_int_eq(count(&t, 'X', "from env", tid), 4);
	ck_assert_int_eq(assert_runs_follow_submits(&t), 4);
	unload(&t);
}
END_TEST

START_TEST(environment_buffer_size_bounds_each_thread)
{
	const char *path = tmp("env-small.json");
	char *err = run_env_child(path, "6"); /* 4 tasks of 3 records */
	ck_assert_msg(strstr(err, "\"env child\"") && strstr(err, "dropped 6"),
		      "stderr was: %s", err);
	free(err);
	struct trace t;
	load(&t, path);
	ck_assert_int_eq((int)meta_n(&t, "events"), 6);
	ck_assert_int_eq((int)meta_n(&t, "dropped_events"), 6);
	unload(&t);

	err = run_env_child(path, "lots");
	ck_assert_msg(strstr(err, "SPOOL_TRACE_EVENTS=lots"), "stderr: %s",
		      err);
	free(err);
	load(&t, path); /* traced anyway, with the default size */
	ck_assert_int_eq((int)meta_n(&t, "events"), 12);
	ck_assert_int_eq((int)meta_n(&t, "dropped_events"), 0);
	unload(&t);
}
END_TEST

START_TEST(environment_variable_with_a_bad_path_says_so_and_runs_untraced)
{
	char *err = run_env_child(tmp("missing/dir/env.json"), NULL);
	ck_assert_msg(strstr(err, "SPOOL_TRACE") && strstr(err, "cannot trace"),
		      "stderr was: %s", err);
	free(err);
	ck_assert(!file_exists(tmp("missing/dir/env.json")));
}
END_TEST

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--env-child") == 0)
		return env_child();
	Suite *s = suite_create("trace_session");
	TCase *tc = spool_test_case("sessions", 60);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, stop_without_start_is_a_harmless_noop);
	tcase_add_test(tc, bad_path_is_esys_and_bad_arguments_are_einval);
	tcase_add_test(tc,
		       start_while_recording_is_estate_and_keeps_the_session);
	tcase_add_test(
		tc,
		start_stop_start_again_records_each_session_in_its_own_file);
	tcase_add_test(tc, enabled_reflects_start_and_stop);
	tcase_add_test(tc, stop_reports_esys_when_the_file_cannot_be_written);
	tcase_add_test(
		tc,
		thread_name_renames_the_track_mid_session_and_keeps_31_bytes);
	suite_add_tcase(s, tc);

	tc = spool_test_case("environment", 60);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(
		tc,
		environment_variable_traces_the_program_into_the_file_at_exit);
	tcase_add_test(
		tc,
		environment_variable_with_a_bad_path_says_so_and_runs_untraced);
	tcase_add_test(tc, environment_buffer_size_bounds_each_thread);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
