/* SPDX-License-Identifier: MIT */
/*
 * map with a window: run fn over an array of arguments on an executor,
 * at most max_in_flight at a time, results in input order.
 *
 * Settling (settle.h). Each index is counted down exactly once: by its
 * task's done-callback, or, when the map stops early, by whoever skips it;
 * the creating call arms the count for n once its initial launches are
 * done. The first failing task decides FAILED, a cancel CANCELLING (both
 * then stop the map: stop below), and the last countdown ALL_DONE.
 *
 * Launching. `next` hands out indices with fetch_add; each completion
 * grants one launch credit and the creating call grants the window, so at
 * most max_in_flight tasks are ever started and unfinished. Credits are
 * spent by one thread at a time (`credits` counts those not yet spent; the
 * thread that raises it from zero spends until it falls back to zero), so a
 * task that completes inside spool_submit() (an inline executor, or a pool
 * task already done) does not recurse into another launch: its credit is
 * spent by the loop that is already running.
 *
 * Stopping. The thread that decides FAILED or CANCELLING swaps `next` to n
 * (indices from the old value up are skipped: it counts them down) and
 * cancels every task already launched. A launcher that took an index just
 * before that stores its task in the index's link and then reads
 * `outcome`; the stopper writes `outcome` and then reads the links. All
 * four are seq_cst, so either the launcher sees the stop and cancels its
 * own task, or the stopper sees the task and cancels it: no task escapes.
 *
 * The value array holds args[i] until task i is launched and its result
 * after, so the arguments cost no extra copy. Task futures are kept (one
 * reference each) until the map is freed, so a stopper never cancels freed
 * memory. The callbacks together hold one reference to the map, dropped at
 * the zero step.
 */
#include <stdlib.h>

#include "core/alloc.h"
#include "settle.h"

struct map;

struct link {
	struct map *m;
	_Atomic(spool_future *) task; /* a reference, dropped at free */
};

struct map {
	struct spool__settle s; /* must be first: the future */
	spool_executor *ex;
	spool_task_fn fn;
	_Atomic size_t next;
	_Atomic size_t credits;
	struct link *links; /* n */
};

static void map_fini(spool_future *f)
{
	struct map *m = (struct map *)f;
	for (size_t i = 0; i < m->s.res.n; i++)
		spool_future_release(atomic_load_explicit(
			&m->links[i].task,
			memory_order_relaxed)); /* last reference: no race */
}

static void map_stop(struct spool__settle *s, int outcome);
static bool map_stuck(spool_future *f);

const struct spool__settle_ops spool__map_ops = {
	.fut =
		{
			.fini = map_fini,
			.cancel_running = spool__settle_cancel_running,
			.stuck = map_stuck,
		},
	.stop = map_stop,
};

static void countdown(struct map *m, size_t k)
{
	spool__settle_countdown(&m->s, k);
}

static bool still_open(struct map *m)
{
	return spool__settle_seen(&m->s) == SPOOL__SETTLE_OPEN;
}

/* After deciding FAILED or CANCELLING: skip what is not launched, cancel
 * what is. */
static void map_stop(struct spool__settle *s, int outcome)
{
	struct map *m = (struct map *)s;
	(void)outcome;
	size_t n = m->s.res.n;
	size_t old = atomic_exchange(&m->next, n);
	size_t launched = old < n ? old : n;
	for (size_t i = 0; i < launched; i++) {
		spool_future *t = atomic_load(&m->links[i].task);
		if (t)
			spool__future_cancel_nested(t);
	}
	countdown(m, n - launched);
}

/* src: the task that failed, whose detail the map carries; NULL: none. */
static void fail(struct map *m, int err, spool_future *src)
{
	spool__settle_fail(&m->s, err, src);
}

static void pump(struct map *m, size_t k);

static void on_task(spool_future *t, void *arg)
{
	struct link *l = arg;
	struct map *m = l->m;
	int err = spool_future_error(t);
	if (err == 0)
		m->s.res.values[l - m->links] = spool_future_value(t);
	else
		fail(m, err, t);
	/* The replacement launch comes before this index's countdown, which
	 * may free the map. */
	if (still_open(m))
		pump(m, 1);
	countdown(m, 1);
}

static void launch_one(struct map *m)
{
	size_t i = atomic_fetch_add(&m->next, 1);
	if (i >= m->s.res.n)
		return;
	if (!still_open(m)) {
		countdown(m, 1); /* taken just before a stop: skip it */
		return;
	}
	spool_future *t = spool_submit(m->ex, m->fn, m->s.res.values[i]);
	if (!t) {
		fail(m, SPOOL_ENOMEM, NULL);
		countdown(m, 1);
		return;
	}
	atomic_store(&m->links[i].task, t);
	if (!still_open(m))
		spool_future_cancel(t);
	if (spool_future_add_callback(t, on_task, &m->links[i]) != 0) {
		/* Its outcome can never reach us. */
		fail(m, SPOOL_ENOMEM, NULL);
		countdown(m, 1);
	}
}

static void pump(struct map *m, size_t k)
{
	if (atomic_fetch_add(&m->credits, k) != 0)
		return; /* the thread spending credits will spend these */
	for (;;) {
		for (size_t j = 0; j < k; j++)
			launch_one(m);
		size_t left = atomic_fetch_sub(&m->credits, k) - k;
		if (left == 0)
			return;
		k = left;
	}
}

/* The deadlock check (core/wait.h). The map completes when every task has
 * succeeded or one has failed, and launches the rest as tasks complete. So
 * it is stuck when some launched task is stuck and nothing else can move:
 * every launched task not final is stuck, none that is final failed (its
 * callback may still be on its way), and, while indices remain to launch,
 * none is final at all (its callback may still launch the next). A launch
 * in progress (an index handed out, its task not stored yet) may complete
 * anything: not stuck. */
static bool map_stuck(spool_future *f)
{
	struct map *m = (struct map *)f;
	size_t n = m->s.res.n, launched = atomic_load(&m->next);
	bool more = launched < n, stuck = false;
	if (!more)
		launched = n;
	for (size_t i = 0; i < launched; i++) {
		spool_future *t = atomic_load(&m->links[i].task);
		if (!t)
			return false;
		if (spool__is_final(t)) {
			if (more || spool_future_error(t) != 0)
				return false;
		} else if (spool__future_stuck(t)) {
			stuck = true;
		} else {
			return false;
		}
	}
	return stuck;
}

spool_future *spool_map(spool_executor *ex, spool_task_fn fn, void *const *args,
			size_t n, size_t max_in_flight)
{
	if (!ex || !fn || (n > 0 && !args))
		return spool__future_failed(SPOOL_EINVAL);
	size_t per = sizeof(struct link) + sizeof(void *);
	if (n > (SIZE_MAX - sizeof(struct map)) / per)
		return NULL;
	struct map *m = spool__malloc(sizeof(struct map) + n * per);
	if (!m)
		return NULL;
	m->links = (struct link *)(m + 1);
	m->s.res.n = n;
	m->s.res.values = n ? (void **)(m->links + n) : NULL;
	m->s.res.errors = NULL;
	m->ex = ex;
	m->fn = fn;
	atomic_init(&m->next, 0);
	atomic_init(&m->credits, 0);
	for (size_t i = 0; i < n; i++) {
		m->links[i].m = m;
		atomic_init(&m->links[i].task, NULL);
		m->s.res.values[i] = args[i];
	}
	spool__settle_init(&m->s, &spool__map_ops, "map");
	pump(m, max_in_flight == 0 || max_in_flight > n ? n : max_in_flight);
	spool__settle_arm(&m->s, n); /* every index counts down once */
	return &m->s.res.fut;
}
