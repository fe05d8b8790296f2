/* SPDX-License-Identifier: MIT */
/*
 * Lab P6, the starter: a CPU-bound workload and threads that ignore the
 * GIL.
 *
 * lab_work() is a placeholder workload you may keep or replace with your
 * own; lab_run_threads() runs it on threads but never takes the GIL, so
 * with the lock its threads compute at the same time, which CPython never
 * lets them do (README.md).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "lab.h"

uint64_t lab_work(uint64_t seed, long units)
{
	/* TODO (optional): your own CPU-bound work. This one mixes a 64-bit
	 * state 256 times per unit (about a microsecond). */
	uint64_t h = seed * 0x9e3779b97f4a7c15u + 1;
	for (long u = 0; u < units; u++) {
		for (int i = 0; i < 256; i++) {
			h ^= h >> 33;
			h *= 0xff51afd7ed558ccdu;
			h += (uint64_t)i;
		}
		lab_gil_checkpoint(); /* between units */
	}
	return h;
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
	/* TODO: when j->gil is not NULL, hold it while computing: take it
	 * before lab_work() and release it after. */
	j->sum = lab_work(j->seed, j->units);
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
