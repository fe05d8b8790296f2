/* SPDX-License-Identifier: MIT */
/* Shared by every suite: the leak-checking fixture, clocks and a runner. */
#ifndef SPOOL_TEST_SUPPORT_H
#define SPOOL_TEST_SUPPORT_H

#include <check.h>
#include <spool.h>
#include <stdint.h>

/* Checked fixture: asserts that the test left no future alive. */
void spool_test_setup(void);
void spool_test_teardown(void);

/* A TCase with the leak fixture and a timeout (seconds). */
TCase *spool_test_case(const char *name, double timeout_s);

/* Runs the suite and returns the process exit status. */
int spool_test_run(Suite *s);

int64_t spool_test_now_ns(void);
void spool_test_sleep_ns(int64_t ns);

/* Number of online CPUs. */
int spool_test_cpus(void);

/* A loop with default options; fails the test if it cannot be made. */
spool_loop *spool_test_loop_new(void);

/* spool_submit() on loop's executor; fails the test on NULL. */
spool_future *spool_test_loop_submit(spool_loop *loop, spool_task_fn fn,
				     void *arg);

#endif
