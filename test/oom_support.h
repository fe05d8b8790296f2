/* SPDX-License-Identifier: MIT */
/*
 * What the pool and loop out-of-memory suites add to oom_sweep.h: sweeps
 * longer than MAX_K runs (a fork-join root makes hundreds of allocations)
 * and the rule every run checks about what a failed allocation may cost.
 * Header-only (static functions).
 */
#ifndef SPOOL_TEST_OOM_SUPPORT_H
#define SPOOL_TEST_OOM_SUPPORT_H

#include "oom_sweep.h"

/* As sweep(), with room for up to max_k runs. */
static inline long sweep_upto(const char *what, bool (*run)(long k), long max_k)
{
	long k = 1;
	while (run(k))
		ck_assert_int_lt(++k, max_k);
	return swept(what, k);
}

/* n things were refused or failed for want of memory in a run: one
 * failed allocation costs one at most, and none unless it happened. */
static inline void at_most_one_refused(long n, bool fired_in_run)
{
	ck_assert_int_le(n, 1);
	if (n)
		ck_assert(fired_in_run);
}

#endif
