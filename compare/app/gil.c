/* SPDX-License-Identifier: MIT */
/*
 * The GIL model: CPython's "new GIL" (Python 3.2+, Antoine Pitrou), rebuilt
 * from the notes at the top of CPython's Python/ceval_gil.c.
 *
 * CPython's design, and how each piece appears here:
 *
 *   - The GIL is a boolean `locked` protected by a mutex, with a condition
 *     variable `cond` signalled when it is released. The mutex is held only
 *     for short critical sections, so it is mostly uncontended.
 *     Here: g->locked, g->mutex, g->cond.
 *
 *   - A thread that wants the GIL waits on `cond` for at most `interval`
 *     (sys.getswitchinterval(), 5 ms by default). If the wait timed out,
 *     the GIL is still locked and no switch happened meanwhile
 *     (`switch_number` unchanged), it sets `gil_drop_request`; then it waits
 *     again. Here: take_gil() and g->switch_number, g->drop_request.
 *
 *   - The holder checks `gil_drop_request` (folded into `eval_breaker`) at
 *     every turn of the eval loop; when set, it drops the GIL and at once
 *     tries to take it back. Here: cmp_gil_checkpoint(), which CPU-bound
 *     workload code calls between small units of work.
 *
 *   - FORCE_SWITCHING: a thread that drops the GIL while a drop was
 *     requested waits on `switch_cond` until `last_holder` is another
 *     thread, i.e. until a waiter has really taken it. Without this the
 *     dropping thread, still running on its CPU, would usually win the
 *     mutex again before the woken waiter is scheduled, and the request
 *     would achieve nothing. Here: drop_gil(), g->switch_mutex,
 *     g->switch_cond, g->last_holder.
 *
 *   - Blocking calls release the GIL (Py_BEGIN_ALLOW_THREADS calls
 *     drop_gil) and take it back afterwards (Py_END_ALLOW_THREADS calls
 *     take_gil), so other threads run while one sleeps or waits on a
 *     socket. Here: cmp_gil_blocking_begin() / cmp_gil_blocking_end().
 *
 * The convoy effect follows from these rules: a thread that does a little IO
 * at a time releases the GIL for each call, a CPU-bound thread takes it at
 * once, and the IO thread then waits up to a full interval for a drop it
 * must request, for every call it makes (see the "mixed" workload). This
 * is the convoy effect David Beazley measured on the new GIL ("Understanding
 * the Python GIL", PyCon 2010; CPython issue bpo-7946).
 *
 * Differences from CPython, on purpose:
 *   - CPython folds several conditions (signals, pending calls, async
 *     exceptions) into eval_breaker; the model has only the drop request.
 *   - CPython checks the breaker between bytecodes; the model only at the
 *     checkpoints the workload code calls, so a unit of work between two
 *     checkpoints plays the part of one long bytecode (a C call).
 *   - The FORCE_SWITCHING wait loops on `last_holder` instead of waiting
 *     once, so a spurious wake-up cannot end it early. It always ends: a
 *     drop request is only ever set by a thread inside take_gil(), which
 *     leaves that function only by taking the lock.
 *   - Holders are identified by a per-thread record, not a PyThreadState.
 *
 * Timeline: under spool's tracer (spool/trace.h) each thread's track shows a
 * "waits for the GIL" slice while take_gil() finds the lock held and waits
 * for it, and a "holds the GIL" slice from the take to the drop, so a trace
 * of threads running under the model shows them taking turns. Without a
 * trace session each of the three calls is a call, a load and a branch,
 * next to the mutex operations and clock reads take and drop already make;
 * the checkpoint, the hot path, calls none.
 *
 * Why no wake-up is lost: `locked` and `switch_number` change only under
 * `mutex`, and a waiter re-checks `locked` under `mutex` before every wait
 * on `cond`, which every release signals under `mutex`. `last_holder` is
 * written under both mutexes and read under `switch_mutex`, and a dropping
 * thread checks it under `switch_mutex` before waiting on `switch_cond`,
 * which every take signals under `switch_mutex`. `drop_request` is atomic
 * because the holder reads it at checkpoints without any lock; it is
 * written only under one of the mutexes.
 */
#include "gil.h"

#include "spool/trace.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct cmp_gil {
	pthread_mutex_t mutex; /* protects locked, switch_number */
	pthread_cond_t cond;   /* signalled when the lock is released */
	bool locked;
	uint64_t switch_number;
	/* Set by a waiter whose interval passed without a switch; read by
	 * the holder at checkpoints. All its accesses are relaxed: it orders
	 * nothing (the mutexes do), and a stale value only moves a drop to
	 * the next checkpoint or makes one forced wait find it has nothing
	 * to wait for. */
	atomic_int drop_request;

	pthread_mutex_t switch_mutex; /* protects last_holder */
	pthread_cond_t switch_cond;   /* signalled when a thread takes */
	const void *last_holder;

	int64_t interval_ns;
	cmp_gil_span_fn observer;
	void *observer_arg;

	/* Statistics only: relaxed, since nothing is ordered by them. */
	atomic_uint_fast64_t acquisitions, switches, drop_requests,
		forced_waits;
	atomic_int_fast64_t wait_ns;
};

/* Per-thread binding: which lock this thread uses, whether it holds it now,
 * and whether a blocking section released it. */
struct gil_thread {
	struct cmp_gil *gil;
	bool held;
	bool released_for_io;
	int64_t taken_at;
};

static _Thread_local struct gil_thread tl;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timespec to_timespec(int64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000),
			      (long)(ns % 1000000000)};
	return ts;
}

int cmp_gil_create(struct cmp_gil **out, int64_t switch_interval_ns)
{
	*out = NULL;
	if (switch_interval_ns <= 0)
		return -1;
	struct cmp_gil *g = calloc(1, sizeof(*g));
	if (!g)
		return -1;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&g->mutex, NULL);
	pthread_cond_init(&g->cond, &ca);
	pthread_mutex_init(&g->switch_mutex, NULL);
	pthread_cond_init(&g->switch_cond, &ca);
	pthread_condattr_destroy(&ca);
	g->interval_ns = switch_interval_ns;
	atomic_init(&g->drop_request, 0);
	*out = g;
	return 0;
}

void cmp_gil_destroy(struct cmp_gil *g)
{
	if (!g)
		return;
	pthread_mutex_destroy(&g->mutex);
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->switch_mutex);
	pthread_cond_destroy(&g->switch_cond);
	free(g);
}

void cmp_gil_set_observer(struct cmp_gil *g, cmp_gil_span_fn fn, void *arg)
{
	g->observer = fn;
	g->observer_arg = arg;
}

int64_t cmp_gil_interval(const struct cmp_gil *g)
{
	return g->interval_ns;
}

/* CPython's take_gil(). */
static void take_gil(struct cmp_gil *g)
{
	const void *self = &tl;
	int64_t t0 = now_ns();

	bool waited = false;
	pthread_mutex_lock(&g->mutex);
	while (g->locked) {
		if (!waited) {
			spool_trace_begin("waits for the GIL");
			waited = true;
		}
		uint64_t saved = g->switch_number;
		struct timespec until = to_timespec(now_ns() + g->interval_ns);
		int rc = pthread_cond_timedwait(&g->cond, &g->mutex, &until);
		/* Timed out, still locked, and nobody switched in the meantime:
		 * time to ask the holder to drop it. */
		if (rc == ETIMEDOUT && g->locked && g->switch_number == saved) {
			atomic_store_explicit(&g->drop_request, 1,
					      memory_order_relaxed);
			atomic_fetch_add_explicit(&g->drop_requests, 1,
						  memory_order_relaxed);
		}
	}
	pthread_mutex_lock(&g->switch_mutex);
	g->locked = true;
	/* A switch is a change of holder: a thread that takes the lock back
	 * after its own blocking call does not reset the waiters' clocks. */
	if (g->last_holder != self) {
		g->last_holder = self;
		g->switch_number++;
		atomic_fetch_add_explicit(&g->switches, 1,
					  memory_order_relaxed);
	}
	/* A thread dropping under a request may be waiting for this. */
	pthread_cond_signal(&g->switch_cond);
	pthread_mutex_unlock(&g->switch_mutex);
	/* Whatever was requested has now happened. */
	atomic_store_explicit(&g->drop_request, 0, memory_order_relaxed);
	pthread_mutex_unlock(&g->mutex);
	if (waited)
		spool_trace_end();
	spool_trace_begin("holds the GIL");

	int64_t t1 = now_ns();
	atomic_fetch_add_explicit(&g->acquisitions, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&g->wait_ns, t1 - t0, memory_order_relaxed);
	tl.held = true;
	tl.taken_at = t1;
}

/* CPython's drop_gil(), with FORCE_SWITCHING. */
static void drop_gil(struct cmp_gil *g)
{
	const void *self = &tl;
	int64_t t = now_ns();

	tl.held = false;
	spool_trace_end(); /* "holds the GIL", begun by take_gil() */
	if (g->observer)
		g->observer(g->observer_arg, tl.taken_at, t);
	pthread_mutex_lock(&g->mutex);
	g->locked = false;
	pthread_cond_signal(&g->cond);
	pthread_mutex_unlock(&g->mutex);

	if (atomic_load_explicit(&g->drop_request, memory_order_relaxed)) {
		pthread_mutex_lock(&g->switch_mutex);
		if (g->last_holder == self) {
			atomic_store_explicit(&g->drop_request, 0,
					      memory_order_relaxed);
			atomic_fetch_add_explicit(&g->forced_waits, 1,
						  memory_order_relaxed);
			/* Not switched yet: wait until a waiter has taken it,
			 * so that the request really hands the lock over. */
			while (g->last_holder == self)
				pthread_cond_wait(&g->switch_cond,
						  &g->switch_mutex);
		}
		pthread_mutex_unlock(&g->switch_mutex);
	}
}

/* A caller bug in the comparison program itself: say so and stop. */
static void misuse(const char *what)
{
	fprintf(stderr, "spool-compare: GIL model misuse: %s\n", what);
	abort();
}

void cmp_gil_acquire(struct cmp_gil *g)
{
	if (tl.gil)
		misuse("cmp_gil_acquire: this thread is already bound");
	tl.gil = g;
	tl.released_for_io = false;
	take_gil(g);
}

void cmp_gil_release(struct cmp_gil *g)
{
	if (tl.gil != g || !tl.held)
		misuse("cmp_gil_release: this thread does not hold it");
	drop_gil(g);
	tl.gil = NULL;
}

void cmp_gil_checkpoint(void)
{
	struct cmp_gil *g = tl.gil;
	/* Relaxed: a stale read only delays the drop to the next checkpoint;
	 * drop_gil() then synchronises through the mutexes. */
	if (g && tl.held &&
	    atomic_load_explicit(&g->drop_request, memory_order_relaxed)) {
		drop_gil(g);
		/* Other threads may run now. */
		take_gil(g);
	}
}

void cmp_gil_blocking_begin(void)
{
	tl.released_for_io = false;
	if (tl.gil && tl.held) {
		drop_gil(tl.gil);
		tl.released_for_io = true;
	}
}

void cmp_gil_blocking_end(void)
{
	if (tl.released_for_io) {
		tl.released_for_io = false;
		take_gil(tl.gil);
	}
}

bool cmp_gil_held(void)
{
	return tl.gil && tl.held;
}

void cmp_gil_stats_get(const struct cmp_gil *g, struct cmp_gil_stats *out)
{
	struct cmp_gil *m = (struct cmp_gil *)g;
	out->acquisitions = atomic_load_explicit(&m->acquisitions,
						 memory_order_relaxed);
	out->switches = atomic_load_explicit(&m->switches,
					     memory_order_relaxed);
	out->drop_requests = atomic_load_explicit(&m->drop_requests,
						  memory_order_relaxed);
	out->forced_waits = atomic_load_explicit(&m->forced_waits,
						 memory_order_relaxed);
	out->wait_ns = atomic_load_explicit(&m->wait_ns, memory_order_relaxed);
}
