/* SPDX-License-Identifier: MIT */
/*
 * A model of CPython's global interpreter lock, for spool-compare.
 *
 * The comparison runs the same C workload functions on pool threads with and
 * without this lock, so that a reader sees threads scale CPU-bound work in C
 * and stop scaling once each thread must hold one global lock to run, as in
 * CPython. The design follows CPython's Python/ceval_gil.c ("new GIL",
 * Antoine Pitrou, Python 3.2); gil.c explains it and where it differs.
 *
 * How workload code meets the model (a thread "runs Python" while it holds
 * the lock):
 *   - a thread binds itself with cmp_gil_acquire() and leaves with
 *     cmp_gil_release() (a pool task wrapper does both around the task);
 *   - CPU-bound code calls cmp_gil_checkpoint() between small units of work,
 *     where CPython's eval loop checks its eval breaker;
 *   - blocking calls (sleep, socket calls) are bracketed by
 *     cmp_gil_blocking_begin() / cmp_gil_blocking_end(), as C extensions do
 *     with Py_BEGIN_ALLOW_THREADS / Py_END_ALLOW_THREADS.
 * On a thread that holds no model lock the three hooks do nothing, so the
 * same workload code runs unchanged on every backend.
 *
 * Thread safety: every function may be called from any thread; a thread may
 * hold at most one model lock at a time and must not acquire it twice.
 */
#ifndef CMP_GIL_H
#define CMP_GIL_H

#include <stdbool.h>
#include <stdint.h>

struct cmp_gil;

/* Counters since creation (each read with relaxed atomics: a snapshot). */
struct cmp_gil_stats {
	uint64_t acquisitions;  /* times a thread took the lock */
	uint64_t switches;      /* acquisitions by a thread other than the
				   previous holder */
	uint64_t drop_requests; /* a waiter timed out and asked the holder to
				   drop (CPython's gil_drop_request) */
	uint64_t forced_waits;  /* a dropping holder waited for another
				   thread to take the lock (FORCE_SWITCHING) */
	int64_t wait_ns;        /* total time threads spent waiting to take */
};

/* Creates an unlocked model lock whose waiters ask for a drop after
 * switch_interval_ns (CPython: sys.setswitchinterval, default 5 ms).
 * Returns 0 and sets *out, or -1 (bad interval or no memory). */
int cmp_gil_create(struct cmp_gil **out, int64_t switch_interval_ns);

/* Frees g; it must be unlocked and have no waiters. NULL is a no-op. */
void cmp_gil_destroy(struct cmp_gil *g);

/* take_gil(): blocks until the calling thread holds g, asking the holder to
 * drop it each time a switch interval passes without any switch. The thread
 * is bound to g until cmp_gil_release(). */
void cmp_gil_acquire(struct cmp_gil *g);

/* drop_gil(): releases g, held by the calling thread; if a drop was
 * requested, waits until another thread has taken it. */
void cmp_gil_release(struct cmp_gil *g);

/* The eval breaker: if a drop was requested of the calling thread's lock,
 * drops it, lets another thread take it, and takes it back. Cheap (one
 * relaxed load) when nothing is requested; a no-op on an unbound thread. */
void cmp_gil_checkpoint(void);

/* Py_BEGIN_ALLOW_THREADS: releases the calling thread's lock, if it holds
 * one, around a blocking call. Must be paired with cmp_gil_blocking_end()
 * on the same thread. */
void cmp_gil_blocking_begin(void);

/* Py_END_ALLOW_THREADS: takes the lock released by the matching
 * cmp_gil_blocking_begin() back; a no-op if that released nothing. */
void cmp_gil_blocking_end(void);

/* True if the calling thread holds a model lock right now. */
bool cmp_gil_held(void);

/* The switch interval g was created with. */
int64_t cmp_gil_interval(const struct cmp_gil *g);

void cmp_gil_stats_get(const struct cmp_gil *g, struct cmp_gil_stats *out);

/* Optional observer of hold intervals, for timelines: called on the
 * releasing thread with the CLOCK_MONOTONIC times the lock was taken and
 * dropped. Set it before any thread uses g; NULL: none. */
typedef void (*cmp_gil_span_fn)(void *arg, int64_t begin_ns, int64_t end_ns);
void cmp_gil_set_observer(struct cmp_gil *g, cmp_gil_span_fn fn, void *arg);

#endif /* CMP_GIL_H */
