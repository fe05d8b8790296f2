/* SPDX-License-Identifier: MIT */
/*
 * Sweeping the allocation seam (src/core/alloc.h) for the out-of-memory
 * suites: one scenario is run again and again with the seam armed to fail
 * its k-th allocation, k = 1, 2, 3, ..., until a run ends with the armed
 * failure never happening (the scenario made fewer than k allocations).
 * Header-only (static functions), like comb_support.h.
 */
#ifndef SPOOL_TEST_OOM_SWEEP_H
#define SPOOL_TEST_OOM_SWEEP_H

#include <stdbool.h>
#include <stdio.h>

#include "core/alloc.h"
#include "support.h"

/* More runs than any sweep needs: reaching it means the sweep never saw
 * a run without a failure. */
#define MAX_K 64

/* Prints how many runs a sweep took (the allocations it covered, plus
 * the run without a failure), for the record. */
static inline long swept(const char *what, long k)
{
	fprintf(stderr, "sweep %s: %ld runs\n", what, k);
	return k;
}

/* Runs run(k) for k = 1, 2, ... until a run makes fewer than k
 * allocations (run returns whether the armed failure fired); returns how
 * many runs that took. */
static inline long sweep(const char *what, bool (*run)(long k))
{
	long k = 1;
	while (run(k))
		ck_assert_int_lt(++k, MAX_K);
	return swept(what, k);
}

/* Arms the seam to fail the k-th allocation from now; it must have been
 * disarmed. */
static inline void arm(long k)
{
	ck_assert_int_eq(spool_debug_alloc_fail_nth(k), 0);
}

/* Disarms the seam; true when the armed failure happened. */
static inline bool fired(void)
{
	long left = spool_debug_alloc_fail_nth(0);
	ck_assert_int_ge(left, 0);
	return left == 0;
}

#endif /* SPOOL_TEST_OOM_SWEEP_H */
