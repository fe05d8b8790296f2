/* SPDX-License-Identifier: MIT */
#include "support.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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

/* ---- death tests -------------------------------------------------------- */

void spool_test_run_child(int (*fn)(void *), void *arg, unsigned limit_s,
			  struct spool_test_child *out)
{
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	fflush(NULL); /* nothing buffered is written twice */
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* The child: no ck_assert from here on (it would report to
		 * the runner as if it were the test). */
		signal(SIGABRT, SIG_DFL);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		alarm(0); /* the test's alarm, if any, is not the child's */
		dup2(p[1], STDERR_FILENO); /* dup2 clears O_CLOEXEC */
		_exit(fn(arg));
	}
	close(p[1]);
	int64_t deadline = spool_test_now_ns() + (int64_t)limit_s * 1000000000;
	out->timed_out = false;
	size_t len = 0;
	for (;;) {
		int64_t left = deadline - spool_test_now_ns();
		if (left <= 0 && !out->timed_out) {
			kill(pid, SIGKILL); /* the pipe then reaches EOF */
			out->timed_out = true;
		}
		struct pollfd pf = {.fd = p[0], .events = POLLIN};
		int r = poll(&pf, 1,
			     out->timed_out ? -1 : (int)(left / 1000000) + 1);
		if (r < 0 && errno != EINTR)
			ck_abort_msg("poll: %s", strerror(errno));
		if (r <= 0)
			continue;
		char buf[512];
		ssize_t n = read(p[0], buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		size_t take = (size_t)n;
		if (take > sizeof out->err - 1 - len)
			take = sizeof out->err - 1 - len; /* keep reading */
		memcpy(out->err + len, buf, take);
		len += take;
	}
	out->err[len] = 0;
	close(p[0]);
	/* EOF: the child has ended or closed stderr; it gets what is left of
	 * its time to end. */
	for (;;) {
		pid_t w = waitpid(pid, &out->status, WNOHANG);
		if (w == pid)
			break;
		ck_assert_msg(w == 0 || errno == EINTR, "waitpid: %s",
			      strerror(errno));
		if (spool_test_now_ns() >= deadline && !out->timed_out) {
			kill(pid, SIGKILL);
			out->timed_out = true;
		}
		spool_test_sleep_ns(100000);
	}
}

const char *spool_test_child_end(const struct spool_test_child *c, char *buf,
				 size_t size)
{
	if (c->timed_out)
		snprintf(buf, size, "did not end within its time limit");
	else if (WIFEXITED(c->status))
		snprintf(buf, size, "exited with %d", WEXITSTATUS(c->status));
	else if (WIFSIGNALED(c->status))
		snprintf(buf, size, "killed by signal %d (%s)",
			 WTERMSIG(c->status), strsignal(WTERMSIG(c->status)));
	else
		snprintf(buf, size, "ended with status %#x", c->status);
	return buf;
}

bool spool_test_child_misused(const struct spool_test_child *c, const char *api,
			      const char *rule_part)
{
	if (c->timed_out || !WIFSIGNALED(c->status) ||
	    WTERMSIG(c->status) != SIGABRT)
		return false;
	char head[160];
	snprintf(head, sizeof head, "spool: misuse of %s(): ", api);
	const char *line = strstr(c->err, head);
	if (!line)
		return false;
	const char *rule = line + strlen(head);
	const char *eol = strchr(rule, '\n');
	size_t rule_len = eol ? (size_t)(eol - rule) : strlen(rule);
	if (rule_len == 0)
		return false; /* the message names the rule broken */
	if (!rule_part)
		return true;
	const char *hit = strstr(rule, rule_part);
	return hit && hit + strlen(rule_part) <= rule + rule_len;
}

void spool_test_expect_misuse(int (*fn)(void *), void *arg, const char *api,
			      const char *rule_part)
{
	struct spool_test_child c;
	spool_test_run_child(fn, arg, 10, &c);
	char end[96];
	ck_assert_msg(spool_test_child_misused(&c, api, rule_part),
		      "expected SIGABRT with \"spool: misuse of %s(): %s\"; "
		      "the child %s, stderr:\n%.1500s",
		      api, rule_part ? rule_part : "<rule>",
		      spool_test_child_end(&c, end, sizeof end), c.err);
}
