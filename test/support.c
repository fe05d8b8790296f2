/* SPDX-License-Identifier: MIT */
#include "support.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

void spool_test_setup(void)
{
	ck_assert_int_eq(spool_debug_live_futures(), 0);
}

void spool_test_teardown(void)
{
	long live = spool_debug_live_futures();
	ck_assert_msg(live == 0,
		      "%ld future(s) still alive at the end of the test "
		      "(-1 means the build lacks SPOOL_DEBUG_COUNTERS)",
		      live);
}

TCase *spool_test_case(const char *name, double timeout_s)
{
	TCase *tc = tcase_create(name);
	tcase_add_checked_fixture(tc, spool_test_setup, spool_test_teardown);
	tcase_set_timeout(tc, timeout_s);
	return tc;
}

int spool_test_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int64_t spool_test_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void spool_test_sleep_ns(int64_t ns)
{
	struct timespec ts = {ns / 1000000000, ns % 1000000000};
	while (nanosleep(&ts, &ts) != 0)
		;
}

int spool_test_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

spool_loop *spool_test_loop_new(void)
{
	spool_loop *loop = NULL;
	ck_assert_int_eq(spool_loop_create(&loop, NULL), 0);
	return loop;
}

spool_future *spool_test_loop_submit(spool_loop *loop, spool_task_fn fn,
				     void *arg)
{
	spool_future *f = spool_submit(spool_loop_executor(loop), fn, arg);
	ck_assert_ptr_nonnull(f);
	return f;
}
