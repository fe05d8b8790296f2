/* SPDX-License-Identifier: MIT */
/*
 * Measuring: clocks, CPU time, peak resident memory, medians, and the
 * timeline recorder that the SVG timeline is drawn from.
 *
 * Peak RSS per run: the kernel keeps one high-water mark per process
 * (VmHWM, also getrusage's ru_maxrss), which only grows. Writing "5" to
 * /proc/self/clear_refs resets it (Linux 4.0+), so each measured run
 * starts from the memory in use then; where that is refused the figure is
 * the process's high-water mark so far, and the output says so.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "compare.h"

int64_t cmp_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t rusage_ns(int who)
{
	struct rusage ru;
	getrusage(who, &ru);
	return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
	       ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

/* CPU time of processes that are not our children (mpi ranks). */
static _Atomic int64_t foreign_cpu_ns;

void cmp_cpu_add_ns(int64_t ns)
{
	atomic_fetch_add(&foreign_cpu_ns, ns);
}

/* The children's share counts once they are waited for: the procs backend
 * waits for its workers inside the measured run, so their CPU time falls
 * into it, as the threads' does for the other backends; the mpi backend's
 * ranks report theirs when they end, also inside the run. */
int64_t cmp_cpu_ns(void)
{
	return rusage_ns(RUSAGE_SELF) + rusage_ns(RUSAGE_CHILDREN) +
	       atomic_load(&foreign_cpu_ns);
}

long cmp_peak_rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "VmHWM:", 6) == 0) {
			kib = strtol(line + 6, NULL, 10);
			break;
		}
	}
	if (f)
		fclose(f);
	if (kib < 0) {
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		kib = ru.ru_maxrss;
	}
	return kib;
}

bool cmp_peak_rss_reset(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");
	if (!f)
		return false;
	bool ok = fputs("5", f) >= 0;
	ok = (fclose(f) == 0) && ok;
	return ok;
}

double cmp_loadavg(void)
{
	double l = -1;
	FILE *f = fopen("/proc/loadavg", "r");
	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = -1;
		fclose(f);
	}
	return l;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double cmp_median(double *v, int n)
{
	if (n <= 0)
		return 0;
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

void cmp_sort_ns(int64_t *v, int n)
{
	if (n > 1)
		qsort(v, (size_t)n, sizeof(*v), cmp_i64);
}

double cmp_percentile_ms(const int64_t *sorted, int n, double p)
{
	int k = (int)(p / 100.0 * n + 0.999999) - 1;
	if (k < 0)
		k = 0;
	if (k >= n)
		k = n - 1;
	return (double)sorted[k] / 1e6;
}

/* ---- timeline ------------------------------------------------------------
 * A fixed array of spans claimed with one atomic increment, so recording
 * takes no lock; threads get small ids in order of first appearance. The
 * array is read only after the recorded run has been joined (the pool
 * destroyed, the loop stopped), which orders every write before the read. */

#define SPANS_MAX 65536
#define THREADS_MAX 256

static struct cmp_span spans[SPANS_MAX];
static atomic_int n_spans;
static atomic_bool recording;
static atomic_int n_threads;
static atomic_uint generation;
static char thread_names[THREADS_MAX][16];
static int64_t origin;

static _Thread_local int tl_thread = -1;
static _Thread_local unsigned tl_generation;

void cmp_timeline_start(void)
{
	atomic_store(&n_spans, 0);
	atomic_store(&n_threads, 0);
	atomic_fetch_add(&generation, 1);
	origin = cmp_now_ns();
	atomic_store(&recording, true);
}

void cmp_timeline_stop(void)
{
	atomic_store(&recording, false);
}

bool cmp_timeline_on(void)
{
	/* Relaxed: a recorder that misses the very first span of a run only
	 * loses that span. */
	return atomic_load_explicit(&recording, memory_order_relaxed);
}

static int thread_id(void)
{
	unsigned gen = atomic_load(&generation);
	if (tl_thread < 0 || tl_generation != gen) {
		int id = atomic_fetch_add(&n_threads, 1);
		if (id >= THREADS_MAX)
			return -1;
		char name[16] = "";
		if (gettid() == getpid())
			snprintf(name, sizeof(name), "main");
		else
			pthread_getname_np(pthread_self(), name, sizeof(name));
		memcpy(thread_names[id], name, sizeof(name));
		tl_thread = id;
		tl_generation = gen;
	}
	return tl_thread;
}

void cmp_timeline_record(int kind, int task, int64_t begin_ns, int64_t end_ns)
{
	if (!cmp_timeline_on())
		return;
	int t = thread_id();
	/* Relaxed: only claims a slot; the spans are read after the
	 * recorded run was joined, which orders these writes first. */
	int i = atomic_fetch_add_explicit(&n_spans, 1, memory_order_relaxed);
	if (t < 0 || i >= SPANS_MAX)
		return;
	spans[i] = (struct cmp_span){t, kind, task, begin_ns, end_ns};
}

const struct cmp_span *cmp_timeline_spans(int *n, int64_t *origin_ns)
{
	int k = atomic_load(&n_spans);
	*n = k < SPANS_MAX ? k : SPANS_MAX;
	*origin_ns = origin;
	return spans;
}

int cmp_timeline_threads(void)
{
	int k = atomic_load(&n_threads);
	return k < THREADS_MAX ? k : THREADS_MAX;
}

const char *cmp_timeline_thread_name(int thread)
{
	return thread >= 0 && thread < THREADS_MAX ? thread_names[thread] : "";
}
