/* SPDX-License-Identifier: MIT */
/*
 * The allocation seam of the library: spool__malloc, spool__calloc,
 * spool__realloc and spool__aligned_alloc, the libc calls with an optional
 * injected failure, so that tests can prove the SPOOL_ENOMEM paths the
 * public headers promise. The core, the combinators, the pool (the pool
 * itself, its deques, task records, the slab blocks of outside
 * submissions) and the loop (the loop, task records, shared-stack save
 * buffers, stack slab headers, timers, IO registrations, handles, the
 * inbox) all allocate through it.
 *
 * In builds without SPOOL_DEBUG_COUNTERS (Release benchmark builds) each is
 * exactly the libc call. With SPOOL_DEBUG_COUNTERS (dev and test builds)
 * each first consults one process-wide countdown, spool__alloc_fail_after:
 *   - 0 (the initial value): disarmed; the call goes to libc;
 *   - n > 0: armed; every allocation through this seam, on any thread,
 *     decrements it, and the one that brings it to 0 returns NULL without
 *     calling libc (errno ENOMEM). The countdown then stays 0, disarmed, so
 *     one arming makes exactly one allocation fail: the n-th after arming.
 * A realloc that fails leaves its block untouched, as libc's does.
 * Outside this seam, never counting and never failing here: the trace
 * buffers and the trace writer (src/trace: tracing is a diagnostic that
 * must not change the failures of the work it watches, and a sweep over
 * traced work would mostly exercise the tracer), the mmap of coroutine
 * stacks (the stack slab's header, allocated just before it, takes its
 * failure path), the thread stacks libc allocates in pthread_create, and
 * libc's own allocations.
 * The slab of small records (src/core/slab.c) counts taking a block, even
 * one from its cache, as one allocation, so that the failure of an
 * outside submission does not depend on what earlier tests left cached.
 */
#ifndef SPOOL_CORE_ALLOC_H
#define SPOOL_CORE_ALLOC_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#include "spool/common.h"

/* Arms the countdown so that the n-th allocation through the seam from now
 * on fails (n <= 0 disarms). Returns the countdown as it was before: after
 * a run, spool_debug_alloc_fail_nth(0) > 0 means the armed failure never
 * happened (fewer than n allocations), 0 that it did (or that the hook was
 * disarmed). Returns -1, and arms nothing, in builds without
 * SPOOL_DEBUG_COUNTERS. For tests only, and declared in no public header;
 * it is exported from the shared library (the tests link to it), and the
 * library exports nothing but spool_[a-z]* names (the install_symbols
 * test), hence a spool_debug_ name like spool_debug_live_futures()'s
 * rather than an internal spool__ one. Thread-safe. */
SPOOL_API long spool_debug_alloc_fail_nth(long n);

#ifdef SPOOL_DEBUG_COUNTERS
#include <stdatomic.h>

extern _Atomic long spool__alloc_fail_after;

/* True when this allocation is the armed one. A compare-and-swap loop so
 * that the countdown never goes below 0 and exactly one caller sees the
 * step from 1 to 0. Relaxed: the countdown orders nothing else; a test
 * arms it before it starts the run on the same thread, or publishes the
 * arming with the thread start. */
static inline bool spool__alloc_should_fail(void)
{
	long c = atomic_load_explicit(&spool__alloc_fail_after,
				      memory_order_relaxed);
	while (c > 0) {
		if (atomic_compare_exchange_weak_explicit(
			    &spool__alloc_fail_after, &c, c - 1,
			    memory_order_relaxed, memory_order_relaxed)) {
			if (c == 1) {
				errno = ENOMEM;
				return true;
			}
			return false;
		}
	}
	return false;
}
#else
static inline bool spool__alloc_should_fail(void)
{
	return false;
}
#endif

static inline void *spool__malloc(size_t size)
{
	return spool__alloc_should_fail() ? NULL : malloc(size);
}

static inline void *spool__calloc(size_t n, size_t size)
{
	return spool__alloc_should_fail() ? NULL : calloc(n, size);
}

static inline void *spool__realloc(void *p, size_t size)
{
	return spool__alloc_should_fail() ? NULL : realloc(p, size);
}

static inline void *spool__aligned_alloc(size_t align, size_t size)
{
	return spool__alloc_should_fail() ? NULL : aligned_alloc(align, size);
}

#endif /* SPOOL_CORE_ALLOC_H */
