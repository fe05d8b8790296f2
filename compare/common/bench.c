/* SPDX-License-Identifier: MIT */
/*
 * The benchmark harness (see bench.h): command line, interleaved rounds,
 * medians, forked isolation with peak RSS, JSON lines, the table and
 * targets. Plain POSIX; single-threaded by design.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* wait4, strsignal */
#endif

#include "bench.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* An isolated run ends with _exit(), which skips ThreadSanitizer's exit-time
 * hook that turns a report into exit status 66; a race in a child would be
 * printed and then lost. So under TSan the first report ends the child at
 * once (with status 66), and the parent counts the run as failed. */
#if defined(__SANITIZE_THREAD__)
#define SPOOL_BENCH_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SPOOL_BENCH_TSAN 1
#endif
#endif
#ifdef SPOOL_BENCH_TSAN
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return "halt_on_error=1";
}
#endif

int64_t spool_bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int spool_bench_fail(char *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, SPOOL_BENCH_ERRLEN, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- command line ------------------------------------------------------ */

static void usage(FILE *to, const spool_bench_suite *s, const char *prog)
{
	fprintf(to,
		"usage: %s [--runs N] [--threads N] [--quick] [--only B,..]\n"
		"       [--impl I,..] [--timeout S] [--hogs N] [--help]\n"
		"  --runs N      interleaved rounds; the median of N is "
		"reported (default %d)\n"
		"  --threads N   worker threads (default 2)\n"
		"  --quick       small sizes: a smoke test, not a measurement\n"
		"  --only B,..   run only these benchmarks\n"
		"  --impl I,..   run only these implementations\n"
		"  --timeout S   limit per isolated run in seconds "
		"(default 300; 0: none)\n"
		"  --hogs N      N busy-looping processes beside every timed "
		"run\n"
		"                (0: none; rows then carry \"hogs\": N)\n"
		"  --help        this text\n",
		prog, s->default_runs > 0 ? s->default_runs : 5);
	if (s->summary)
		fprintf(to, "\n%s\n", s->summary);
	fprintf(to, "\nbenchmarks:");
	for (const char *const *b = s->benches; b && *b; b++)
		fprintf(to, " %s", *b);
	if (s->impls) {
		fprintf(to, "\nimplementations:");
		for (const char *const *i = s->impls; *i; i++)
			fprintf(to, " %s", *i);
	}
	fprintf(to, "\nOutput: one JSON object per line on stdout; a table "
		    "on stderr.\n");
}

static _Noreturn void bad_usage(const spool_bench_suite *s, const char *prog,
				const char *fmt, const char *what)
{
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, what);
	fprintf(stderr, "\n");
	usage(stderr, s, prog);
	exit(2);
}

/* A whole decimal int in [lo, hi], or -1 (callers use lo >= 0). */
static int parse_int(const char *v, int lo, int hi)
{
	char *end;
	long x;

	if (!v || !*v)
		return -1;
	errno = 0;
	x = strtol(v, &end, 10);
	if (errno || *end || x < lo || x > hi)
		return -1;
	return (int)x;
}

/* True if the comma-separated list names `name` exactly. */
static bool list_has(const char *list, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = list; *p;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);

		if (n == len && memcmp(p, name, n) == 0)
			return true;
		if (!comma)
			break;
		p = comma + 1;
	}
	return false;
}

static bool names_have(const char *const *names, const char *name, size_t len)
{
	for (const char *const *b = names; b && *b; b++)
		if (strlen(*b) == len && memcmp(*b, name, len) == 0)
			return true;
	return false;
}

/* Exits 2 unless every name of the comma-separated list is in names:
 * "--impl: unknown implementation 'x'; this suite has: a b c". */
static void check_names(const spool_bench_suite *s, const char *prog,
			const char *flag, const char *kind,
			const char *const *names, const char *list)
{
	for (const char *p = list;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);

		if (!names_have(names, p, n)) {
			fprintf(stderr,
				"%s: %s: unknown %s '%.*s'; this suite "
				"has:",
				prog, flag, kind, (int)n, p);
			for (const char *const *b = names; b && *b; b++)
				fprintf(stderr, " %s", *b);
			fprintf(stderr, "\n");
			usage(stderr, s, prog);
			exit(2);
		}
		if (!comma)
			break;
		p = comma + 1;
	}
}

/* The value of flag `name` at argv[*i]: "--name=v" or "--name v". NULL if
 * argv[*i] is not this flag; exits 2 if the value is missing. */
static const char *flag_value(const spool_bench_suite *s, int argc, char **argv,
			      int *i, const char *name)
{
	const char *a = argv[*i];
	size_t len = strlen(name);

	if (strncmp(a, name, len) != 0)
		return NULL;
	if (a[len] == '=')
		return a + len + 1;
	if (a[len] != '\0')
		return NULL;
	if (*i + 1 >= argc)
		bad_usage(s, argv[0], "%s needs a value", name);
	return argv[++*i];
}

int spool_bench_parse(spool_bench_opts *o, const spool_bench_suite *suite,
		      int argc, char **argv)
{
	const char *prog = argc > 0 ? argv[0] : "spool-bench";
	const char *v;

	*o = (spool_bench_opts){
		.runs = suite->default_runs > 0 ? suite->default_runs : 5,
		.threads = 2,
		.timeout_s = 300,
		.hogs = -1};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout, suite, prog);
			exit(0);
		} else if (strcmp(a, "--quick") == 0) {
			o->quick = true;
		} else if ((v = flag_value(suite, argc, argv, &i, "--runs"))) {
			o->runs = parse_int(v, 1, 1000000);
			if (o->runs < 0)
				bad_usage(suite, prog,
					  "--runs wants an integer >= 1, not "
					  "'%s'",
					  v);
		} else if ((v = flag_value(suite, argc, argv, &i,
					   "--threads"))) {
			o->threads = parse_int(v, 1, 4096);
			if (o->threads < 0)
				bad_usage(suite, prog,
					  "--threads wants an integer in "
					  "1..4096, not '%s'",
					  v);
		} else if ((v = flag_value(suite, argc, argv, &i,
					   "--timeout"))) {
			o->timeout_s = parse_int(v, 0, INT_MAX);
			if (o->timeout_s < 0)
				bad_usage(suite, prog,
					  "--timeout wants seconds >= 0, not "
					  "'%s'",
					  v);
		} else if ((v = flag_value(suite, argc, argv, &i, "--hogs"))) {
			o->hogs = parse_int(v, 0, 64);
			if (o->hogs < 0)
				bad_usage(suite, prog,
					  "--hogs wants an integer in 0..64, "
					  "not '%s'",
					  v);
		} else if ((v = flag_value(suite, argc, argv, &i, "--only"))) {
			check_names(suite, prog, "--only", "benchmark",
				    suite->benches, v);
			o->only = v;
		} else if ((v = flag_value(suite, argc, argv, &i, "--impl"))) {
			if (!*v)
				bad_usage(suite, prog, "%s", "--impl is empty");
			if (suite->impls)
				check_names(suite, prog, "--impl",
					    "implementation", suite->impls, v);
			o->impl = v;
		} else {
			bad_usage(suite, prog, "unknown argument '%s'", a);
		}
	}
	return 0;
}

bool spool_bench_selected(const spool_bench_opts *o, const char *bench,
			  const char *impl)
{
	if (o->only && !list_has(o->only, bench))
		return false;
	if (o->impl && !list_has(o->impl, impl))
		return false;
	return true;
}

/* ---- isolation ---------------------------------------------------------- */

/* What one run measured: wall-clock seconds, and CPU seconds (user + system,
 * every thread of the process; -1 when not measured). */
struct run_times {
	double wall, cpu;
};

typedef int (*run_fn)(void *ctx, struct run_times *t, char *err);

/* What the child writes to the pipe: one fixed-size record. */
struct child_report {
	int status;
	struct run_times t;
	char err[SPOOL_BENCH_ERRLEN];
};

static void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(3);
		p += w;
		len -= (size_t)w;
	}
}

static size_t read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t r = read(fd, p + got, len - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

/* spool_bench_in_child() for a function that reports run_times. */
static int in_child(run_fn fn, void *ctx, int timeout_s, struct run_times *t,
		    long *peak_rss_kib, char *err)
{
	struct child_report rep;
	struct rusage ru;
	int fds[2], st;
	pid_t pid;
	size_t got;

	if (pipe(fds) != 0)
		return spool_bench_fail(err, "pipe: %s", strerror(errno));
	fflush(NULL); /* or the child's exit could repeat buffered output */
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return spool_bench_fail(err, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		close(fds[0]);
		if (timeout_s > 0)
			alarm((unsigned)timeout_s);
		memset(&rep, 0, sizeof(rep));
		rep.status = fn(ctx, &rep.t, rep.err);
		write_all(fds[1], &rep, sizeof(rep));
		/* _exit: no atexit handlers or static destructors of a
		 * runtime whose threads may still be running. */
		_exit(0);
	}
	close(fds[1]);
	got = read_all(fds[0], &rep, sizeof(rep));
	close(fds[0]);
	while (wait4(pid, &st, 0, &ru) < 0) {
		if (errno != EINTR)
			return spool_bench_fail(err, "wait4: %s",
						strerror(errno));
	}
	if (WIFSIGNALED(st)) {
		if (WTERMSIG(st) == SIGALRM)
			return spool_bench_fail(err,
						"timed out after %d s "
						"(--timeout)",
						timeout_s);
		return spool_bench_fail(err, "the run died of signal %d (%s)",
					WTERMSIG(st), strsignal(WTERMSIG(st)));
	}
	if (got != sizeof(rep) || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return spool_bench_fail(err,
					"the run exited with status %d without "
					"reporting (see stderr above)",
					WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	if (rep.status != 0) {
		rep.err[SPOOL_BENCH_ERRLEN - 1] = '\0';
		memcpy(err, rep.err, SPOOL_BENCH_ERRLEN);
		return rep.status;
	}
	*t = rep.t;
	*peak_rss_kib = ru.ru_maxrss; /* kilobytes on Linux */
	return 0;
}

struct child_adapter {
	spool_bench_child_fn fn;
	void *ctx;
};

static int adapt(void *ctx, struct run_times *t, char *err)
{
	struct child_adapter *a = ctx;

	t->cpu = -1;
	return a->fn(a->ctx, &t->wall, err);
}

int spool_bench_in_child(spool_bench_child_fn fn, void *ctx, int timeout_s,
			 double *seconds, long *peak_rss_kib, char *err)
{
	struct child_adapter a = {fn, ctx};
	struct run_times t;
	int rc = in_child(adapt, &a, timeout_s, &t, peak_rss_kib, err);

	if (rc == 0)
		*seconds = t.wall;
	return rc;
}

/* ---- running ------------------------------------------------------------ */

/* CPU seconds used so far by every thread of this process, or -1. */
static double process_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return -1;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

/* ---- hogs -----------------------------------------------------------------
 */

enum { MAX_HOGS = 64 };

/* Forks n processes that spin until killed (and die with this process,
 * should it die first). Each child only spins: safe to fork from a
 * process with threads. Returns how many were started. */
static int hogs_start(pid_t *pids, int n)
{
	int started = 0;

	for (int i = 0; i < n && i < MAX_HOGS; i++) {
		pid_t pid = fork();

		if (pid < 0)
			break;
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			for (volatile unsigned long x = 0;; x++)
				;
		}
		pids[started++] = pid;
	}
	return started;
}

static void hogs_stop(const pid_t *pids, int n)
{
	for (int i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	for (int i = 0; i < n; i++)
		while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
			;
}

/* What one_run needs: the experiment and the hogs beside it. */
struct run_ctx {
	const spool_bench_exp *e;
	int hogs;
};

/* CPU seconds spent in other processes during the current timed run
 * (spool_bench_add_cpu); one run at a time, on this thread. */
static double added_cpu_s;

void spool_bench_add_cpu(double seconds)
{
	added_cpu_s += seconds;
}

/* setup, timed run, teardown: the body of one run, in whichever process. */
static int one_run(void *ctx, struct run_times *t, char *err)
{
	const struct run_ctx *rc_ = ctx;
	const spool_bench_exp *e = rc_->e;
	pid_t hogs[MAX_HOGS];
	void *state = NULL;
	double c0, c1;
	int64_t t0, t1;
	int rc, nhogs;

	if (e->setup && (rc = e->setup(e, &state, err)) != 0)
		return rc;
	nhogs = hogs_start(hogs, rc_->hogs);
	if (nhogs < rc_->hogs) {
		hogs_stop(hogs, nhogs);
		if (e->teardown)
			e->teardown(e, state);
		return spool_bench_fail(err, "fork for a hog: %s",
					strerror(errno));
	}
	added_cpu_s = 0; /* not what setup() added */
	c0 = process_cpu_s();
	t0 = spool_bench_now_ns();
	rc = e->run(e, state, err);
	t1 = spool_bench_now_ns();
	c1 = process_cpu_s();
	hogs_stop(hogs, nhogs);
	if (c0 >= 0 && c1 >= 0)
		c1 += added_cpu_s;
	if (e->teardown)
		e->teardown(e, state);
	t->wall = (double)(t1 - t0) * 1e-9;
	t->cpu = c0 >= 0 && c1 >= 0 ? c1 - c0 : -1;
	return rc;
}

/* What the machine gave around the last run (machine.h): printed before
 * the figures and beside them, since a busy machine makes every figure
 * slower and caps every parallel speedup at the CPUs it gives. */
static spool_bench_machine machine_at_start, machine_at_end;

const spool_bench_machine *spool_bench_machine_start(void)
{
	return &machine_at_start;
}

const spool_bench_machine *spool_bench_machine_end(void)
{
	return &machine_at_end;
}

double spool_bench_ideal_here(int workers)
{
	double a = spool_bench_machine_ideal(&machine_at_start, workers);
	double b = spool_bench_machine_ideal(&machine_at_end, workers);

	return a < b ? a : b;
}

static int spin_threads(const spool_bench_opts *o)
{
	return o->threads > 2 ? o->threads : 2;
}

/* The hogs beside e's runs: --hogs if given, else e's own. */
static int hogs_of(const spool_bench_opts *o, const spool_bench_exp *e)
{
	return o->hogs >= 0 ? o->hogs : e->hogs;
}

static bool runnable(const spool_bench_opts *o, const spool_bench_exp *e)
{
	return spool_bench_selected(o, e->bench, e->impl) && !e->skipped;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median_of(double *s, int n)
{
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* samples_ holds the wall times at [0, stride) and the CPU times at
 * [stride, 2 stride), runs_done of each. */
static void summarize(spool_bench_exp *e, int stride)
{
	int n = e->runs_done;
	double *s = e->samples_, *c = e->samples_ + stride;

	if (n == 0)
		return;
	e->median_s = median_of(s, n);
	e->min_s = s[0];
	e->max_s = s[n - 1];
	e->cpu_median_s = -1;
	for (int i = 0; i < n; i++)
		if (c[i] < 0)
			return;
	e->cpu_median_s = median_of(c, n);
}

int spool_bench_run(const spool_bench_opts *o, const spool_bench_suite *suite,
		    spool_bench_exp *exps, size_t nexps)
{
	char pre[64];
	int failed = 0;

	for (size_t i = 0; i < nexps; i++) {
		spool_bench_exp *e = &exps[i];

		e->runs_done = 0;
		e->failed = false;
		e->error[0] = '\0';
		e->peak_rss_kib = -1;
		e->median_s = e->min_s = e->max_s = 0;
		e->cpu_median_s = -1;
		free(e->samples_);
		e->samples_ = NULL;
		if (!runnable(o, e))
			continue;
		if (suite->impls &&
		    !names_have(suite->impls, e->impl, strlen(e->impl))) {
			spool_bench_fail(e->error,
					 "impl '%s' is not in the suite's "
					 "impls list (bench.h)",
					 e->impl);
			e->failed = true;
			failed++;
			continue;
		}
		/* wall times, then CPU times: runs + runs samples */
		e->samples_ = calloc((size_t)o->runs * 2, sizeof(double));
		if (!e->samples_) {
			spool_bench_fail(e->error, "out of memory");
			e->failed = true;
			failed++;
		}
	}
	snprintf(pre, sizeof(pre), "%s: machine now", suite->name);
	spool_bench_machine_measure(&machine_at_start, spin_threads(o));
	spool_bench_machine_print(&machine_at_start, stderr, pre);
	fprintf(stderr,
		"%s: ideal here: a CPU-bound job on %d thread%s can run at "
		"most %.2fx as fast as on one now\n",
		suite->name, o->threads, o->threads == 1 ? "" : "s",
		spool_bench_machine_ideal(&machine_at_start, o->threads));
	for (int r = 0; r < o->runs; r++) {
		for (size_t i = 0; i < nexps; i++) {
			spool_bench_exp *e = &exps[i];
			struct run_times t = {0, -1};
			long rss = -1;
			int rc;

			if (!runnable(o, e) || e->failed)
				continue;
			struct run_ctx ctx = {e, hogs_of(o, e)};
			if (e->isolate)
				rc = in_child(one_run, &ctx, o->timeout_s, &t,
					      &rss, e->error);
			else
				rc = one_run(&ctx, &t, e->error);
			if (rc != 0) {
				e->failed = true;
				failed++;
				fprintf(stderr,
					"%s: %s/%s (%d threads, n=%lld) "
					"FAILED: %s\n",
					suite->name, e->bench, e->impl,
					e->threads, (long long)e->n, e->error);
				continue;
			}
			e->samples_[e->runs_done] = t.wall;
			e->samples_[o->runs + e->runs_done] = t.cpu;
			e->runs_done++;
			if (rss > e->peak_rss_kib)
				e->peak_rss_kib = rss;
			fprintf(stderr,
				"%s: round %d/%d  %-8s %-12s %2d thr "
				"%10.6f s  (cpu %.6f s)%s\n",
				suite->name, r + 1, o->runs, e->bench, e->impl,
				e->threads, t.wall, t.cpu,
				ctx.hogs > 0 ? "  [hogs]" : "");
		}
	}
	spool_bench_machine_measure(&machine_at_end, spin_threads(o));
	/* The samples are only needed for the medians: free them here so a
	 * suite's experiment array owns no memory once the run is over. */
	for (size_t i = 0; i < nexps; i++) {
		summarize(&exps[i], o->runs);
		free(exps[i].samples_);
		exps[i].samples_ = NULL;
	}
	return failed;
}

const spool_bench_exp *spool_bench_find(const spool_bench_exp *exps,
					size_t nexps, const char *bench,
					const char *impl, int threads)
{
	for (size_t i = 0; i < nexps; i++) {
		const spool_bench_exp *e = &exps[i];

		if (e->runs_done > 0 && !e->failed &&
		    strcmp(e->bench, bench) == 0 &&
		    strcmp(e->impl, impl) == 0 &&
		    (threads < 1 || e->threads == threads))
			return e;
	}
	return NULL;
}

/* ---- output ------------------------------------------------------------- */

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void json_line(const spool_bench_opts *o, const spool_bench_suite *s,
		      const spool_bench_exp *e)
{
	printf("{\"suite\":");
	json_string(stdout, s->name);
	printf(",\"bench\":");
	json_string(stdout, e->bench);
	printf(",\"impl\":");
	json_string(stdout, e->impl);
	printf(",\"threads\":%d,\"n\":%lld", e->threads, (long long)e->n);
	if (hogs_of(o, e) > 0)
		printf(",\"hogs\":%d", hogs_of(o, e));
	if (e->skipped) {
		printf(",\"skipped\":");
		json_string(stdout, e->skipped);
	} else if (e->failed) {
		printf(",\"runs\":%d,\"error\":", e->runs_done);
		json_string(stdout, e->error);
	} else {
		printf(",\"runs\":%d,\"median_s\":%.9g,\"min_s\":%.9g,"
		       "\"max_s\":%.9g",
		       e->runs_done, e->median_s, e->min_s, e->max_s);
		if (e->cpu_median_s >= 0)
			printf(",\"cpu_s\":%.9g", e->cpu_median_s);
		if (e->peak_rss_kib >= 0)
			printf(",\"peak_rss_kib\":%ld", e->peak_rss_kib);
	}
	printf("}\n");
}

/* The reference experiment for e's bench: the suite's reference impl at the
 * chosen thread count, else at any. */
static const spool_bench_exp *reference_of(const spool_bench_opts *o,
					   const spool_bench_suite *s,
					   const spool_bench_exp *exps,
					   size_t nexps, const char *bench)
{
	const spool_bench_exp *r;

	if (!s->reference)
		return NULL;
	r = spool_bench_find(exps, nexps, bench, s->reference, o->threads);
	return r ? r : spool_bench_find(exps, nexps, bench, s->reference, 0);
}

static void table(const spool_bench_opts *o, const spool_bench_suite *s,
		  const spool_bench_exp *exps, size_t nexps)
{
	const char *ref_name = s->reference ? s->reference : "ref";
	const char *last = NULL;
	char col[32];

	snprintf(col, sizeof(col), "x %.7s", ref_name);
	fprintf(stderr,
		"\n%s: median and min of %d interleaved run%s, seconds; "
		"\"%s\" = time / the time of %s on %d threads (lower is "
		"faster)\n",
		s->name, o->runs, o->runs == 1 ? "" : "s", col, ref_name,
		o->threads);
	spool_bench_machine_print(&machine_at_start, stderr,
				  "machine at the start");
	spool_bench_machine_print(&machine_at_end, stderr,
				  "machine at the end  ");
	fprintf(stderr,
		"ideal here: a CPU-bound job on %d thread%s could run at most "
		"%.2fx as fast as on one;\ncpu_s = median CPU time of all the "
		"threads; cpu/wall = the CPUs a run kept busy,\nto read "
		"against the CPUs the spinning threads got\n",
		o->threads, o->threads == 1 ? "" : "s",
		spool_bench_ideal_here(o->threads));
	fprintf(stderr, "%-9s %-12s %4s %10s %11s %11s %10s %8s %9s  %s\n",
		"bench", "impl", "thr", "n", "median_s", "min_s", "cpu_s",
		"cpu/wall", col, "peak RSS");
	for (size_t i = 0; i < nexps; i++) {
		const spool_bench_exp *e = &exps[i], *ref;

		if (!spool_bench_selected(o, e->bench, e->impl))
			continue;
		if (last && strcmp(last, e->bench) != 0)
			fprintf(stderr, "\n");
		last = e->bench;
		fprintf(stderr, "%-9s %-12s %4d %10lld ", e->bench, e->impl,
			e->threads, (long long)e->n);
		if (e->skipped) {
			fprintf(stderr, "skipped: %s\n", e->skipped);
			continue;
		}
		if (e->failed) {
			fprintf(stderr, "FAILED: %s\n", e->error);
			continue;
		}
		fprintf(stderr, "%11.6f %11.6f ", e->median_s, e->min_s);
		if (e->cpu_median_s >= 0)
			fprintf(stderr, "%10.6f %8.2f ", e->cpu_median_s,
				e->median_s > 0 ? e->cpu_median_s / e->median_s
						: 0);
		else
			fprintf(stderr, "%10s %8s ", "-", "-");
		ref = reference_of(o, s, exps, nexps, e->bench);
		if (ref && ref->median_s > 0)
			fprintf(stderr, "%8.2fx", e->median_s / ref->median_s);
		else
			fprintf(stderr, "%9s", "-");
		if (e->peak_rss_kib >= 0)
			fprintf(stderr, "  %ld KiB", e->peak_rss_kib);
		if (hogs_of(o, e) > 0)
			fprintf(stderr, "  [%d hogs]", hogs_of(o, e));
		fprintf(stderr, "\n");
	}
}

void spool_bench_report(const spool_bench_opts *o,
			const spool_bench_suite *suite,
			const spool_bench_exp *exps, size_t nexps)
{
	for (size_t i = 0; i < nexps; i++)
		if (spool_bench_selected(o, exps[i].bench, exps[i].impl))
			json_line(o, suite, &exps[i]);
	fflush(stdout);
	table(o, suite, exps, nexps);
}

/* The two rows a target compares, found and named on the target's line
 * (which the caller finishes); false when --only leaves the target out.
 * Either row may be NULL: not measured. */
static bool target_rows(const spool_bench_opts *o, const spool_bench_exp *exps,
			size_t nexps, const spool_bench_target *t,
			const spool_bench_exp **a, const spool_bench_exp **b)
{
	char who[96];

	if (o->only && !list_has(o->only, t->bench))
		return false;
	*a = spool_bench_find(exps, nexps, t->bench, t->impl, t->threads);
	*b = spool_bench_find(exps, nexps, t->bench, t->ref_impl,
			      t->ref_threads);
	snprintf(who, sizeof(who), "%s(%d) vs %s(%d)", t->impl,
		 *a ? (*a)->threads : t->threads, t->ref_impl,
		 *b ? (*b)->threads : t->ref_threads);
	fprintf(stderr, "  %-8s %-28s ", t->bench, who);
	return true;
}

int spool_bench_check_targets(const spool_bench_opts *o,
			      const spool_bench_exp *exps, size_t nexps,
			      const spool_bench_target *targets,
			      size_t ntargets)
{
	int missed = 0;

	fprintf(stderr, "\ntargets (medians):\n");
	for (size_t i = 0; i < ntargets; i++) {
		const spool_bench_target *t = &targets[i];
		const spool_bench_exp *a, *b, *f;
		double ratio;
		bool met;

		if (!target_rows(o, exps, nexps, t, &a, &b))
			continue;
		if (!a || !b || a->median_s <= 0 || b->median_s <= 0) {
			fprintf(stderr, "not measured\n");
			continue;
		}
		ratio = a->median_s / b->median_s;
		met = ratio <= t->max_ratio;
		if (t->throughput)
			fprintf(stderr, "throughput %6.2fx  (need >= %.2fx)  ",
				1 / ratio, 1 / t->max_ratio);
		else
			fprintf(stderr, "time %6.3fx  (need <= %.2fx)  ", ratio,
				t->max_ratio);
		f = t->floor_impl
			    ? spool_bench_find(exps, nexps, t->bench,
					       t->floor_impl, t->floor_threads)
			    : NULL;
		if (!met && f && f->median_s > 0 &&
		    f->median_s / b->median_s > t->max_ratio) {
			/* Even the floor is slower than the bound: the
			 * target says nothing about impl on this run. */
			double best = f->median_s / b->median_s;

			if (t->throughput)
				fprintf(stderr,
					"not reachable on this machine now "
					"(floor allows at best %.2fx)\n",
					1 / best);
			else
				fprintf(stderr,
					"not reachable on this machine now "
					"(floor allows at best %.2fx)\n",
					best);
			continue;
		}
		if (!met && t->needs_cpus &&
		    1 / t->max_ratio > spool_bench_ideal_here(a->threads)) {
			/* The CPUs obtained do not allow the speedup. */
			fprintf(stderr,
				"not reachable on this machine now (ideal "
				"here %.2fx)\n",
				spool_bench_ideal_here(a->threads));
			continue;
		}
		fprintf(stderr, "%s\n", met ? "target met" : "missed");
		missed += !met;
	}
	return missed;
}

int spool_bench_check_rss_targets(const spool_bench_opts *o,
				  const spool_bench_exp *exps, size_t nexps,
				  const spool_bench_target *targets,
				  size_t ntargets)
{
	int missed = 0;

	fprintf(stderr, "\ntargets (peak RSS, the largest of the runs):\n");
	for (size_t i = 0; i < ntargets; i++) {
		const spool_bench_target *t = &targets[i];
		const spool_bench_exp *a, *b;
		double ratio;
		bool met;

		if (!target_rows(o, exps, nexps, t, &a, &b))
			continue;
		if (!a || !b || a->peak_rss_kib <= 0 || b->peak_rss_kib <= 0) {
			fprintf(stderr, "not measured\n");
			continue;
		}
		ratio = (double)a->peak_rss_kib / (double)b->peak_rss_kib;
		met = ratio <= t->max_ratio;
		fprintf(stderr,
			"peak RSS %6.3fx  (%ld vs %ld KiB; need <= %.2fx)  "
			"%s\n",
			ratio, a->peak_rss_kib, b->peak_rss_kib, t->max_ratio,
			met ? "target met" : "missed");
		missed += !met;
	}
	return missed;
}
