/* SPDX-License-Identifier: MIT */
/*
 * Lab P6: the GIL model and the convoy effect on your own workload
 * (README.md).
 *
 * You write a CPU-bound function and a function that runs it on several
 * threads, with or without the model GIL of gil.h. The checker measures
 * what threads give it on this machine, with and without the lock.
 */
#ifndef LAB_P6_H
#define LAB_P6_H

#include <stdint.h>

#include "gil.h"

/* YOURS. A CPU-bound computation of your choosing (a hash, a sieve, a
 * simulation...): performs `units` units of work starting from seed and
 * returns a checksum that depends on all of them, the same every time for
 * the same (seed, units). A unit is a few microseconds of work at most,
 * and between units the function calls lab_gil_checkpoint(), as a Python
 * thread reaches its eval breaker. It must not block, allocate per unit,
 * or share memory between calls (threads run it at the same time). */
uint64_t lab_work(uint64_t seed, long units);

/* YOURS. Runs lab_work(i, units) for i in 0..nthreads-1 on nthreads
 * threads AT THE SAME TIME and stores each result in sums[i]. With gil
 * not NULL, each thread holds gil while it computes (lab_gil_acquire()
 * before, lab_gil_release() after), as every Python thread must hold the
 * GIL to run Python code. Returns 0 when every thread has finished, or an
 * error (a positive errno). Blocks. */
int lab_run_threads(lab_gil *gil, int nthreads, long units, uint64_t *sums);

#endif /* LAB_P6_H */
