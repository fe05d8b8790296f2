/* SPDX-License-Identifier: MIT */
/*
 * Lab P6, a solution: a workload that checks in between units, and threads
 * that hold the GIL while they compute.
 *
 * The workload counts primes by trial division, one candidate per unit,
 * and folds each answer into the checksum: CPU-bound, no memory traffic
 * that two threads could contend on, and a unit short enough (a few
 * microseconds) for the lock to change hands promptly when asked. Each
 * thread takes the lock once, before it starts, and releases it when it
 * is done; lab_gil_checkpoint() inside the work is where it hands the lock
 * over when another thread has waited a switch interval. So with the lock
 * the threads take turns, and without it they run side by side.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "lab.h"

uint64_t lab_work(uint64_t seed, long units)
{
	uint64_t sum = seed;
	uint32_t n = 1000 + (uint32_t)(seed % 1000);
	for (long u = 0; u < units; u++, n++) {
		bool prime = n >= 2;
		for (uint32_t d = 2; prime && d * d <= n; d++)
			prime = n % d != 0;
		sum = sum * 31 + (prime ? n : 1);
		if (n >= 100000)
			n = 1000;     /* keep the units about the same size */
		lab_gil_checkpoint(); /* between units */
	}
	return sum;
}

struct job {
	lab_gil *gil;
	uint64_t seed;
	long units;
	uint64_t sum;
};

static void *thread_main(void *arg)
{
	struct job *j = arg;
	if (j->gil)
		lab_gil_acquire(j->gil);
	j->sum = lab_work(j->seed, j->units);
	if (j->gil)
		lab_gil_release(j->gil);
	return NULL;
}

int lab_run_threads(lab_gil *gil, int nthreads, long units, uint64_t *sums)
{
	pthread_t *t = calloc((size_t)nthreads, sizeof(*t));
	struct job *jobs = calloc((size_t)nthreads, sizeof(*jobs));
	if (!t || !jobs) {
		free(t);
		free(jobs);
		return ENOMEM;
	}
	int err = 0, started = 0;
	for (int i = 0; i < nthreads; i++) {
		jobs[i] = (struct job){gil, (uint64_t)i, units, 0};
		err = pthread_create(&t[i], NULL, thread_main, &jobs[i]);
		if (err)
			break;
		started++;
	}
	for (int i = 0; i < started; i++) {
		pthread_join(t[i], NULL);
		sums[i] = jobs[i].sum;
	}
	free(t);
	free(jobs);
	return err;
}
