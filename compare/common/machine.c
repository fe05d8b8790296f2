/* SPDX-License-Identifier: MIT */
/*
 * What the machine gives now (see machine.h): CPUs obtained by spinning
 * threads, and the load average. The spin is the same as the lesson tests'
 * (test/support.c): the threads start together once all exist, the first
 * to start sets one deadline for all, and the CPU time they got is divided by
 * the wall time from the first start to the last end.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "machine.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define MAX_SPINNERS 64

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct spinner {
	atomic_bool *go;
	_Atomic int64_t *deadline;
	int64_t start, end, cpu;
};

static void *spin_main(void *arg)
{
	struct spinner *sp = arg;
	int64_t none = 0, deadline, cpu0;

	/* seq_cst: a once-a-measurement start signal, cost irrelevant. */
	while (!atomic_load(sp->go))
		;
	cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	sp->start = clock_ns(CLOCK_MONOTONIC);
	/* seq_cst: a once-a-measurement handshake, cost irrelevant. The
	 * first spinner to get here sets the deadline; the others read it. */
	atomic_compare_exchange_strong(
		sp->deadline, &none,
		sp->start + (int64_t)SPOOL_BENCH_SPIN_MS * 1000000);
	deadline = atomic_load(sp->deadline);
	while (clock_ns(CLOCK_MONOTONIC) < deadline)
		;
	sp->end = clock_ns(CLOCK_MONOTONIC);
	sp->cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
	return NULL;
}

double spool_bench_loadavg(void)
{
	FILE *f = fopen("/proc/loadavg", "r");
	double l = -1;

	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = -1;
		fclose(f);
	}
	return l;
}

/* CPUs obtained by `threads` threads spinning together, or 0. */
static double spin(int threads, int *started_out)
{
	struct spinner sp[MAX_SPINNERS];
	pthread_t th[MAX_SPINNERS];
	atomic_bool go = false;
	_Atomic int64_t deadline = 0;
	int64_t first = INT64_MAX, last = 0, cpu = 0;
	int started = 0;

	for (; started < threads; started++) {
		sp[started] = (struct spinner){.go = &go,
					       .deadline = &deadline};
		if (pthread_create(&th[started], NULL, spin_main,
				   &sp[started]) != 0)
			break;
	}
	/* Fewer threads than asked (no resources): measure those. */
	*started_out = started;
	atomic_store(&go, true);
	for (int i = 0; i < started; i++) {
		pthread_join(th[i], NULL);
		if (sp[i].start < first)
			first = sp[i].start;
		if (sp[i].end > last)
			last = sp[i].end;
		cpu += sp[i].cpu;
	}
	return last > first ? (double)cpu / (double)(last - first) : 0;
}

void spool_bench_machine_measure(spool_bench_machine *m, int threads)
{
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	int one = 0;

	if (threads < 1)
		threads = 1;
	if (threads > MAX_SPINNERS)
		threads = MAX_SPINNERS;
	*m = (spool_bench_machine){.threads = threads,
				   .spin_ms = SPOOL_BENCH_SPIN_MS,
				   .online = online > 0 ? (int)online : 1,
				   .loadavg = spool_bench_loadavg()};
	m->cpus_one = spin(1, &one);
	m->cpus_given = spin(threads, &m->threads);
}

double spool_bench_machine_ideal(const spool_bench_machine *m, int workers)
{
	double c = m->cpus_given, one = m->cpus_one;

	if (workers < 1)
		workers = 1;
	if (c <= 0 || one <= 0)
		return workers < m->online ? workers : m->online;
	if (c >= 0.95 * m->threads)
		c = m->threads;
	if (one >= 0.95)
		one = 1;
	if (c > workers)
		c = workers;
	c /= one;
	/* Within [1, workers]: two noisy figures may read a little apart. */
	return c < 1 ? 1 : c > workers ? workers : c;
}

void spool_bench_machine_print(const spool_bench_machine *m, FILE *out,
			       const char *label)
{
	fprintf(out, "%s: ", label ? label : "machine now");
	if (m->cpus_given > 0)
		fprintf(out,
			"1 thread spinning %d ms got %.2f CPUs, %d threads got "
			"%.2f",
			m->spin_ms, m->cpus_one, m->threads, m->cpus_given);
	else
		fprintf(out, "CPUs obtained not measured");
	fprintf(out, " (%d online)", m->online);
	if (m->loadavg >= 0)
		fprintf(out, "; load average (1 min) %.2f", m->loadavg);
	fputc('\n', out);
}
