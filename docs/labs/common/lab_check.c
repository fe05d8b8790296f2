/* SPDX-License-Identifier: MIT */
/*
 * The checkers' shared support (lab_check.h): verdict lines, the in-flight
 * gauge, the clock, the leak check and the measure of the CPUs the machine
 * gives. Uses only the public spool API and POSIX.
 */
#include "lab_check.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <spool.h>

static void verdict(const char *word, const char *fmt, va_list ap)
{
	fflush(stderr);
	printf("lab check %s: ", word);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
}

void lab_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verdict("failed", fmt, ap);
	va_end(ap);
	_exit(1);
}

void lab_skip(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verdict("skipped", fmt, ap);
	va_end(ap);
	_exit(77);
}

void lab_pass(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verdict("passed", fmt, ap);
	va_end(ap);
}

void lab_note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int64_t lab_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * SPOOL_NS_PER_S + ts.tv_nsec;
}

void lab_gauge_reset(struct lab_gauge *g)
{
	atomic_store(&g->now, 0);
	atomic_store(&g->max, 0);
	atomic_store(&g->total, 0);
}

void lab_gauge_enter(struct lab_gauge *g)
{
	long now = atomic_fetch_add(&g->now, 1) + 1;
	long max = atomic_load(&g->max);
	while (now > max && !atomic_compare_exchange_weak(&g->max, &max, now))
		;
	atomic_fetch_add(&g->total, 1);
}

void lab_gauge_leave(struct lab_gauge *g)
{
	atomic_fetch_sub(&g->now, 1);
}

long lab_live_futures(void)
{
	return spool_debug_live_futures();
}

void lab_check_no_leaked_futures(long baseline, const char *when)
{
	long now = lab_live_futures();
	if (baseline < 0 || now < 0)
		return; /* this build does not count futures */
	LAB_CHECK(now == baseline,
		  "%ld future(s) still alive %s: release every future you "
		  "made (each spool_submit, spool_gather, spool_promise_new "
		  "returns a reference you own)",
		  now - baseline, when);
}

/* ---- what the machine gives now ----------------------------------------
 * Each spinner spins until 50 ms after the first one started and records
 * its own CPU time. A spinner the machine does not run at once starts late
 * and gets less CPU than wall time: exactly what the figure is for. */

#define SPIN_NS (50 * SPOOL_NS_PER_MS)
#define MAX_SPINNERS 16

struct spinner {
	pthread_barrier_t *go;
	_Atomic int64_t *deadline;
	int64_t start, end, cpu;
};

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * SPOOL_NS_PER_S + ts.tv_nsec;
}

static void *spin_main(void *arg)
{
	struct spinner *sp = arg;
	pthread_barrier_wait(sp->go);
	int64_t cpu0 = thread_cpu_ns();
	sp->start = lab_now_ns();
	int64_t none = 0;
	atomic_compare_exchange_strong(sp->deadline, &none,
				       sp->start + SPIN_NS);
	int64_t deadline = atomic_load(sp->deadline);
	while (lab_now_ns() < deadline)
		;
	sp->end = lab_now_ns();
	sp->cpu = thread_cpu_ns() - cpu0;
	return NULL;
}

double lab_cpus_given(int threads)
{
	if (threads < 1)
		threads = 1;
	if (threads > MAX_SPINNERS)
		threads = MAX_SPINNERS;
	pthread_barrier_t go;
	if (pthread_barrier_init(&go, NULL, (unsigned)threads) != 0)
		lab_fail("pthread_barrier_init failed");
	_Atomic int64_t deadline = 0;
	struct spinner sp[MAX_SPINNERS];
	pthread_t th[MAX_SPINNERS];
	for (int i = 0; i < threads; i++) {
		sp[i] = (struct spinner){.go = &go, .deadline = &deadline};
		if (pthread_create(&th[i], NULL, spin_main, &sp[i]) != 0)
			lab_fail("pthread_create failed");
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
	lab_note("machine now: %d threads spinning 50 ms got %.2f CPUs "
		 "(%ld online)",
		 threads, cpus, sysconf(_SC_NPROCESSORS_ONLN));
	return cpus;
}
