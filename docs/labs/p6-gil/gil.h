/* SPDX-License-Identifier: MIT */
/*
 * A small model of CPython's global interpreter lock, for lab P6. Part of
 * the lab, not of your work: read it, do not change it.
 *
 * A thread "runs Python" while it holds the lock. CPU-bound code calls
 * lab_gil_checkpoint() between small units of work, where CPython's eval
 * loop checks its "eval breaker". A thread that wants the lock waits; if
 * the lock has not changed hands for one switch interval (CPython:
 * sys.setswitchinterval, 5 ms by default) it asks the holder to drop it,
 * and the holder does so at its next checkpoint and waits until another
 * thread has taken it (forced switching), then queues up again. So N
 * CPU-bound threads take turns: they never compute at the same time.
 * Blocking calls (I/O, sleep) are bracketed by lab_gil_blocking_begin()
 * and lab_gil_blocking_end(), as C extensions release the GIL with
 * Py_BEGIN_ALLOW_THREADS, and must take it back afterwards: behind a
 * CPU-bound holder that can take a whole switch interval (the convoy
 * effect).
 *
 * spool-compare runs a fuller model (compare/app/gil.c, with statistics
 * and timelines); this one is the same protocol in one page.
 *
 * Thread safety: every function may be called from any thread; a thread
 * holds at most one lock at a time and must not acquire it twice.
 */
#ifndef LAB_GIL_H
#define LAB_GIL_H

#include <stdbool.h>
#include <stdint.h>

typedef struct lab_gil lab_gil;

/* Makes an unlocked lock with the given switch interval (> 0). Returns 0
 * and sets *out, or -1. */
int lab_gil_create(lab_gil **out, int64_t switch_interval_ns);

/* Frees g, which must be unlocked with no thread waiting. NULL: no-op. */
void lab_gil_destroy(lab_gil *g);

/* Blocks until the calling thread holds g (asking the holder to drop it
 * after each switch interval without a switch). */
void lab_gil_acquire(lab_gil *g);

/* Releases g, held by the calling thread; if another thread asked for
 * it, waits until that thread has taken it. */
void lab_gil_release(lab_gil *g);

/* The eval breaker: call it between units of CPU-bound work. If a waiter
 * asked for the lock the calling thread holds, hands it over and queues
 * to take it back. Cheap when nobody asked. On a thread that holds no
 * lock it does nothing (and, while the checker expects a lock to be
 * held, counts the call as computing without it). */
void lab_gil_checkpoint(void);

/* Around a blocking call: releases the calling thread's lock, if any, and
 * takes it back. */
void lab_gil_blocking_begin(void);
void lab_gil_blocking_end(void);

/* Counters since creation. */
struct lab_gil_stats {
	uint64_t acquisitions;  /* times a thread took the lock */
	uint64_t switches;      /* ... a thread other than the last holder */
	uint64_t drop_requests; /* a waiter asked the holder to drop it */
};
void lab_gil_stats_get(lab_gil *g, struct lab_gil_stats *out);

/* For the checker: checkpoints reached by the calling thread; and, while
 * lab_gil_expect_held(true) is in force, checkpoints reached (by any
 * thread) without holding a lock. */
long lab_gil_checkpoints_here(void);
long lab_gil_unlocked_checkpoints(void);
void lab_gil_expect_held(bool on);

/* For the checker: the share of a CPU that threads got while they
 * computed. After lab_gil_share_begin(), every thread that reaches
 * checkpoints measures, every LAB_GIL_SHARE_EVERY checkpoints, its CPU
 * time over the time since its first checkpoint; lab_gil_share_min()
 * gives the smallest of the threads' latest figures (1.0 when none
 * measured). A thread that computes alone on a free CPU gets about 1,
 * whether or not other threads compute at the same time; below that, the
 * machine was busy with other work: it tells a busy machine from threads
 * that do not run at the same time. Up to LAB_GIL_SHARE_THREADS threads. */
/* For the checker: whether threads run at the same time, told without a
 * clock. After lab_gil_meet_begin(n), the first checkpoint each thread
 * without a lock reaches waits until n threads have reached one (at most
 * LAB_GIL_MEET_NS); lab_gil_meet_end() says whether they all met. Threads
 * that run one after another never do: the first gives up waiting. */
#define LAB_GIL_MEET_NS ((int64_t)10 * 1000 * 1000 * 1000)
void lab_gil_meet_begin(int n);
bool lab_gil_meet_end(void);

#define LAB_GIL_SHARE_EVERY 1024
#define LAB_GIL_SHARE_THREADS 16
void lab_gil_share_begin(void);
double lab_gil_share_min(void);

#endif /* LAB_GIL_H */
