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
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

/* ---- the hand-off between two CPUs ----------------------------------- */

enum { HANDOFF_BATCHES = 5, HANDOFF_ROUNDS = 2000 };
#define HANDOFF_STOP UINT64_MAX

struct handoff {
	_Atomic uint64_t ball; /* odd: the pinger's throw; even: the answer */
	int cpu;               /* the answerer's */
	atomic_bool pinned;    /* the answerer runs on its CPU */
	atomic_bool failed;    /* it could not pin itself */
};

static bool pin_self(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

/* The answerer: waits for each odd value and answers with the next even
 * one, until HANDOFF_STOP. Acquire/release pairs: each side's store
 * publishes the value the other waits for (nothing else travels). */
static void *answer_main(void *arg)
{
	struct handoff *h = arg;

	if (!pin_self(h->cpu)) {
		atomic_store(&h->failed, true);
		return NULL;
	}
	atomic_store(&h->pinned, true);
	for (;;) {
		uint64_t v = atomic_load_explicit(&h->ball,
						  memory_order_acquire);
		if (v == HANDOFF_STOP)
			return NULL;
		if (v & 1)
			atomic_store_explicit(&h->ball, v + 1,
					      memory_order_release);
	}
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return a < b ? -1 : a > b;
}

double spool_bench_handoff_ns(int a, int b)
{
	cpu_set_t before;
	struct handoff h = {.cpu = b};
	pthread_t th;
	double ns[HANDOFF_BATCHES];
	int done = 0;

	if (a == b ||
	    pthread_getaffinity_np(pthread_self(), sizeof before, &before) ||
	    !CPU_ISSET(a, &before) || !CPU_ISSET(b, &before))
		return -1;
	atomic_init(&h.ball, 0);
	atomic_init(&h.pinned, false);
	atomic_init(&h.failed, false);
	if (!pin_self(a))
		return -1;
	if (pthread_create(&th, NULL, answer_main, &h) != 0) {
		pthread_setaffinity_np(pthread_self(), sizeof before, &before);
		return -1;
	}
	/* A deadline for the whole measurement: on a busy machine the
	 * answerer may not run for a long time, and the caller is a driver
	 * that must go on. */
	int64_t deadline = clock_ns(CLOCK_MONOTONIC) + 100 * 1000000;
	while (!atomic_load(&h.pinned) && !atomic_load(&h.failed) &&
	       clock_ns(CLOCK_MONOTONIC) < deadline)
		;
	uint64_t v = 0;
	bool late = !atomic_load(&h.pinned);
	for (; done < HANDOFF_BATCHES && !late; done++) {
		int64_t t0 = clock_ns(CLOCK_MONOTONIC);
		for (int r = 0; r < HANDOFF_ROUNDS && !late; r++) {
			atomic_store_explicit(&h.ball, ++v,
					      memory_order_release);
			for (unsigned spins = 1;
			     atomic_load_explicit(
				     &h.ball, memory_order_acquire) != v + 1;
			     spins++)
				if (spins % 4096 == 0 &&
				    clock_ns(CLOCK_MONOTONIC) > deadline) {
					late = true;
					break;
				}
			v++;
		}
		ns[done] = (double)(clock_ns(CLOCK_MONOTONIC) - t0) /
			   HANDOFF_ROUNDS;
	}
	atomic_store_explicit(&h.ball, HANDOFF_STOP, memory_order_release);
	pthread_join(th, NULL);
	pthread_setaffinity_np(pthread_self(), sizeof before, &before);
	if (late)
		return -1;
	qsort(ns, HANDOFF_BATCHES, sizeof ns[0], cmp_double);
	return ns[HANDOFF_BATCHES / 2];
}
