/* SPDX-License-Identifier: MIT */
/* Shared by every suite: the leak-checking fixture, clocks, a runner, and
 * the machine figures timing lessons are checked against. */
#ifndef SPOOL_TEST_SUPPORT_H
#define SPOOL_TEST_SUPPORT_H

#include <check.h>
#include <spool.h>
#include <stdbool.h>
#include <stdint.h>

/* Checked fixture: asserts that the test left no future alive. */
void spool_test_setup(void);
void spool_test_teardown(void);

/* A TCase with the leak fixture and a timeout (seconds). */
TCase *spool_test_case(const char *name, double timeout_s);

/* Runs the suite and returns the process exit status: EXIT_FAILURE if a
 * test failed, else SPOOL_TEST_SKIPPED if one was skipped, else
 * EXIT_SUCCESS. */
int spool_test_run(Suite *s);

int64_t spool_test_now_ns(void);
void spool_test_sleep_ns(int64_t ns);

/* Number of online CPUs. */
int spool_test_cpus(void);

/* Whether thread tid of this process sleeps in a futex wait, read from
 * /proc/self/task/<tid>/syscall (the kernel shows a sleeping thread's
 * system call and its arguments; a running one shows "running"). If so,
 * and op, expected or timeout is not NULL, it gets the call's second,
 * third and fourth argument: the futex operation, the value the thread
 * expected the word to hold, and the timeout (0: none). False when the
 * file cannot be read. For tests that must know a waiter is waiting
 * before they complete what it waits for. */
bool spool_test_in_futex_wait(long tid, unsigned long *op,
			      unsigned long *expected, unsigned long *timeout);

/* ---- timing lessons on a shared machine --------------------------------
 * A timing lesson (label "lesson": a speedup, a timer's precision, "well
 * before the sum of the delays") holds on an idle machine. On a busy one,
 * the same measurement says more about the other programs than about
 * spool, so a lesson test first measures what the machine gives it now,
 * asserts the lesson against that figure, and skips, saying why, when the
 * figure is too poor to tell anything. Bounds for an idle machine stay as
 * they are: the figures only decide whether they can be checked. */

/* The CPUs the machine gives `threads` threads now: they spin for about
 * 50 ms, and the figure is their CPU time over the wall time (2.0 on two
 * idle cores; about 1.0 when two other programs keep both busy). Prints
 * it on stderr. */
double spool_test_cpus_given(int threads);

/* Fewer CPUs than this for two threads, and a speedup from running two
 * threads at once can be neither seen nor ruled out: the test skips. */
#define SPOOL_TEST_MIN_CPUS 1.5

/* How late the machine wakes a sleeping thread now: the median lateness,
 * in ns, of 21 nanosleeps of 200 us (tens of us on an idle machine; ms
 * when the CPUs are oversubscribed). Prints it on stderr. */
int64_t spool_test_wakeup_late_ns(void);

/* Whether the machine wakes threads promptly enough now for a lesson whose
 * sleep-based bounds leave margin_ns beyond the ideal: true when a sleeping
 * thread wakes less than margin_ns / 20 late. Otherwise it measures again,
 * 100 ms later, twice at most (a burst of other work passes), and then
 * skips the test (spool_test_skip) and returns false: the test returns. */
bool spool_test_prompt_for(int64_t margin_ns);

/* Records the running test as skipped and prints "skipped: <why>" on
 * stderr; the test then returns. spool_test_run() exits with
 * SPOOL_TEST_SKIPPED when tests were skipped and none failed, which ctest
 * shows as "Skipped" (the suites set SKIP_RETURN_CODE). */
void spool_test_skip(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
#define SPOOL_TEST_SKIPPED 77

/* A lesson measured in up to three attempts, each on a machine measured
 * right before and right after it:
 *
 *	struct spool_test_lesson l = {.name = "hash on the pool"};
 *	while (spool_test_lesson_next(&l)) {
 *		... measure the machine; if too poor: spool_test_lesson_busy()
 *		... measure the lesson, measure the machine again
 *		spool_test_lesson_result(&l, held, "speedup %.2fx ...", ...);
 *	}
 *	spool_test_lesson_end(&l);
 *
 * The first attempt that holds ends the loop and the test passes. A
 * failure counts only on a machine that gave enough before and after; two
 * of them fail the test, with every attempt's figures in the message. When
 * no attempt held and fewer than two failed, the machine was too busy to
 * tell: the test is skipped with the reasons. */
struct spool_test_lesson {
	const char *name;
	int attempts, held, failed, busy;
	char log[512]; /* one line per attempt */
};
bool spool_test_lesson_next(struct spool_test_lesson *l);
void spool_test_lesson_busy(struct spool_test_lesson *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void spool_test_lesson_result(struct spool_test_lesson *l, bool held,
			      const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void spool_test_lesson_end(struct spool_test_lesson *l);

/* A pool of that many workers (0: one per CPU); fails the test if it
 * cannot be made. */
spool_pool *spool_test_pool_new(int workers);

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
