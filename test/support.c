/* SPDX-License-Identifier: MIT */
#include "support.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Tests skipped (spool_test_skip), counted across the processes Check
 * forks for its tests: anonymous shared memory, mapped before they fork. */
static atomic_int *skipped;

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
	void *m = mmap(NULL, sizeof *skipped, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m != MAP_FAILED) {
		skipped = m;
		atomic_init(skipped, 0);
	}
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (failed != 0)
		return EXIT_FAILURE;
	int n = skipped ? atomic_load(skipped) : 0;
	if (n > 0) {
		fprintf(stderr, "%d test(s) skipped, each saying why above\n",
			n);
		return SPOOL_TEST_SKIPPED;
	}
	return EXIT_SUCCESS;
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

bool spool_test_in_futex_wait(long tid, unsigned long *op,
			      unsigned long *expected, unsigned long *timeout)
{
	char path[64], line[256] = "";
	snprintf(path, sizeof path, "/proc/self/task/%ld/syscall", tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	bool got = fgets(line, sizeof line, f) != NULL;
	fclose(f);
	long nr;
	unsigned long addr, a[3];
	if (!got ||
	    sscanf(line, "%ld %lx %lx %lx %lx", &nr, &addr, &a[0], &a[1],
		   &a[2]) != 5 ||
	    nr != SYS_futex)
		return false;
	if (op)
		*op = a[0];
	if (expected)
		*expected = a[1];
	if (timeout)
		*timeout = a[2];
	return true;
}

/* ---- what the machine gives now ----------------------------------------- */

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#define SPIN_NS (50 * SPOOL_NS_PER_MS)
#define MAX_SPINNERS 64

struct spinner {
	pthread_barrier_t *go;
	_Atomic int64_t *deadline;
	int64_t start, end, cpu;
};

/* Spins until SPIN_NS after the first spinner left the barrier; records
 * when it started and ended and the CPU time it got meanwhile. A thread
 * the machine does not run at once starts late and gets less CPU: exactly
 * what the figure is for. */
static void *spin_main(void *arg)
{
	struct spinner *sp = arg;
	pthread_barrier_wait(sp->go);
	int64_t cpu0 = thread_cpu_ns();
	sp->start = spool_test_now_ns();
	int64_t none = 0;
	atomic_compare_exchange_strong(sp->deadline, &none,
				       sp->start + SPIN_NS);
	int64_t deadline = atomic_load(sp->deadline);
	while (spool_test_now_ns() < deadline)
		;
	sp->end = spool_test_now_ns();
	sp->cpu = thread_cpu_ns() - cpu0;
	return NULL;
}

double spool_test_cpus_given(int threads)
{
	if (threads < 1)
		threads = 1;
	if (threads > MAX_SPINNERS)
		threads = MAX_SPINNERS;
	pthread_barrier_t go;
	ck_assert_int_eq(pthread_barrier_init(&go, NULL, (unsigned)threads), 0);
	_Atomic int64_t deadline = 0;
	struct spinner sp[MAX_SPINNERS];
	pthread_t th[MAX_SPINNERS];
	for (int i = 0; i < threads; i++) {
		sp[i] = (struct spinner){.go = &go, .deadline = &deadline};
		ck_assert_int_eq(
			pthread_create(&th[i], NULL, spin_main, &sp[i]), 0);
	}
	int64_t first = INT64_MAX, last = 0, cpu = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		if (sp[i].start < first)
			first = sp[i].start;
		if (sp[i].end > last)
			last = sp[i].end;
		cpu += sp[i].cpu;
	}
	pthread_barrier_destroy(&go);
	double cpus = last > first ? (double)cpu / (double)(last - first) : 0;
	fprintf(stderr,
		"machine now: %d threads spinning %d ms got %.2f CPUs "
		"(%d online)\n",
		threads, (int)(SPIN_NS / SPOOL_NS_PER_MS), cpus,
		spool_test_cpus());
	return cpus;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

int64_t spool_test_wakeup_late_ns(void)
{
	enum { RUNS = 21 };
	const int64_t ns = 200 * 1000;
	int64_t late[RUNS];
	for (int i = 0; i < RUNS; i++) {
		int64_t t0 = spool_test_now_ns();
		spool_test_sleep_ns(ns);
		late[i] = spool_test_now_ns() - t0 - ns;
	}
	qsort(late, RUNS, sizeof *late, cmp_i64);
	int64_t median = late[RUNS / 2];
	fprintf(stderr,
		"machine now: a thread sleeping 200 us wakes %lld us late "
		"(median of %d)\n",
		(long long)(median / 1000), RUNS);
	return median;
}

bool spool_test_prompt_for(int64_t margin_ns)
{
	int64_t limit = margin_ns / 20, late = 0;
	for (int attempt = 0; attempt < 3; attempt++) {
		if (attempt > 0)
			spool_test_sleep_ns(100 * SPOOL_NS_PER_MS);
		late = spool_test_wakeup_late_ns();
		if (late < limit)
			return true;
	}
	spool_test_skip("the machine wakes sleeping threads %.2f ms late (3 "
			"measurements), and this lesson's bounds leave %.0f ms "
			"for lateness; other programs are using the CPUs",
			(double)late / 1e6, (double)margin_ns / 1e6);
	return false;
}

void spool_test_skip(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char why[768];
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	fprintf(stderr, "skipped: %s\n", why);
	if (skipped)
		atomic_fetch_add(skipped, 1);
}

/* ---- a lesson in attempts ----------------------------------------------- */

static void lesson_log(struct spool_test_lesson *l, const char *kind,
		       const char *fmt, va_list ap)
{
	char what[256];
	vsnprintf(what, sizeof what, fmt, ap);
	fprintf(stderr, "%s, attempt %d: %s: %s\n", l->name, l->attempts, kind,
		what);
	size_t used = strlen(l->log);
	if (used < sizeof l->log - 1)
		snprintf(l->log + used, sizeof l->log - used, "%s%d: %s: %s",
			 used ? "; " : "", l->attempts, kind, what);
}

bool spool_test_lesson_next(struct spool_test_lesson *l)
{
	if (l->held > 0 || l->attempts == 3)
		return false;
	/* After an attempt on a busy machine, a pause lets a burst of other
	 * work pass. */
	if (l->attempts > 0 && l->busy > 0)
		spool_test_sleep_ns(100 * SPOOL_NS_PER_MS);
	l->attempts++;
	return true;
}

void spool_test_lesson_busy(struct spool_test_lesson *l, const char *fmt, ...)
{
	l->busy++;
	va_list ap;
	va_start(ap, fmt);
	lesson_log(l, "machine too busy", fmt, ap);
	va_end(ap);
}

void spool_test_lesson_result(struct spool_test_lesson *l, bool held,
			      const char *fmt, ...)
{
	if (held)
		l->held++;
	else
		l->failed++;
	va_list ap;
	va_start(ap, fmt);
	lesson_log(l, held ? "holds" : "does not hold", fmt, ap);
	va_end(ap);
}

void spool_test_lesson_end(struct spool_test_lesson *l)
{
	if (l->held > 0)
		return;
	ck_assert_msg(l->failed < 2,
		      "%s does not hold on a machine that gave "
		      "enough: %s",
		      l->name, l->log);
	spool_test_skip("%s: the machine was too busy to tell in %d of %d "
			"attempts%s (figures above)",
			l->name, l->busy, l->attempts,
			l->failed ? "; one attempt that did not hold is not "
				    "enough to fail"
				  : "");
}

spool_pool *spool_test_pool_new(int workers)
{
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = workers;
	spool_pool *p = NULL;
	ck_assert_int_eq(spool_pool_create(&p, &o), 0);
	return p;
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
