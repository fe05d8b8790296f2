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

/* ---- death tests --------------------------------------------------------
 *
 * What a child process did: how it ended (a waitpid() status), whether it
 * was killed for overrunning its time limit, and what it wrote to stderr
 * (cut to fit, always NUL-terminated). */
struct spool_test_child {
	int status;
	bool timed_out;
	char err[4096];
};

/* Runs fn(arg) in a forked child whose stderr goes to a pipe that this
 * process reads, and fills *out. The child exits with _exit(fn's return
 * value) if fn returns (no atexit handlers, no leak check); if it has not
 * ended after limit_s seconds this process kills it (SIGKILL, which no
 * runtime can delay), so a call that hangs ends the child instead of the
 * suite. Fork it from a thread that runs no other threads of its own
 * (sanitizers and locks held by other threads do not survive a fork); the
 * child may start threads. */
void spool_test_run_child(int (*fn)(void *), void *arg, unsigned limit_s,
			  struct spool_test_child *out);

/* Describes how the child ended ("exited with 0", "killed by SIGSEGV",
 * "did not end within its time limit") into buf; returns buf. */
const char *spool_test_child_end(const struct spool_test_child *c, char *buf,
				 size_t size);

/* Asserts that fn(arg), run as spool_test_run_child() runs it, is a caller
 * bug that spool reports: the child dies of SIGABRT after printing
 * "spool: misuse of <api>(): <rule>" (src/core/misuse.h). rule_part, when
 * not NULL, must occur in the rule; NULL accepts any rule. Fails the test
 * with the child's stderr otherwise. */
void spool_test_expect_misuse(int (*fn)(void *), void *arg, const char *api,
			      const char *rule_part);

/* True if the child ended as spool_test_expect_misuse() requires. */
bool spool_test_child_misused(const struct spool_test_child *c, const char *api,
			      const char *rule_part);

#endif
