/* SPDX-License-Identifier: MIT */
/*
 * GLib's GThreadPool: what much C code uses for background work. It runs
 * "submit" only: an exclusive pool of `threads` threads, one
 * g_thread_pool_push() per task, and a join by a counter that the last task
 * signals (GThreadPool hands back no per-task result).
 */
#include <glib.h>
#include <stdio.h>

#include "peer.h"

struct gtp_state {
	GThreadPool *pool;
	gint64 target;
	gint64 count; /* g_atomic_* only */
	GMutex mu;
	GCond cv;
	gboolean done;
};

/* The tiny task; the one that completes the count wakes the joiner.
 * target is read before the increment, so every read happens before the
 * joiner writes the next run's target (as in peer_mutexpool.c). */
static void gtp_task(gpointer data, gpointer user)
{
	struct gtp_state *st = user;
	gint64 target = st->target;

	(void)data;
	if (__atomic_add_fetch(&st->count, 1, __ATOMIC_ACQ_REL) == target) {
		g_mutex_lock(&st->mu);
		st->done = TRUE;
		g_cond_signal(&st->cv);
		g_mutex_unlock(&st->mu);
	}
}

static const char *gtp_cannot(enum pool_bench b)
{
	if (b == POOL_SUBMIT)
		return NULL;
	return "GThreadPool cannot fork-join: a task blocked on its children "
	       "holds its thread, so once every thread waits the pool "
	       "deadlocks";
}

static int gtp_start(int threads, enum pool_bench b, int64_t n, void **state,
		     char *err)
{
	struct gtp_state *st = g_new0(struct gtp_state, 1);
	GError *e = NULL;

	(void)b, (void)n;
	g_mutex_init(&st->mu);
	g_cond_init(&st->cv);
	/* exclusive: the threads start now and serve only this pool. */
	st->pool = g_thread_pool_new(gtp_task, st, threads, TRUE, &e);
	if (!st->pool) {
		snprintf(err, POOL_ERRLEN, "g_thread_pool_new: %s",
			 e ? e->message : "failed");
		g_clear_error(&e);
		g_free(st);
		return -1;
	}
	*state = st;
	return 0;
}

static int gtp_run(void *state, enum pool_bench b, int64_t n, int64_t *answer,
		   char *err)
{
	struct gtp_state *st = state;

	if (b != POOL_SUBMIT)
		return snprintf(err, POOL_ERRLEN, "%s", gtp_cannot(b)), -1;
	/* Relaxed: no task runs between runs, and pushing publishes it. */
	__atomic_store_n(&st->count, 0, __ATOMIC_RELAXED);
	st->target = n;
	st->done = FALSE;
	for (int64_t i = 0; i < n; i++) {
		/* push wants non-NULL data; the task ignores it. */
		if (!g_thread_pool_push(st->pool, st, NULL))
			return snprintf(err, POOL_ERRLEN,
					"g_thread_pool_push failed"),
			       -1;
	}
	g_mutex_lock(&st->mu);
	while (!st->done)
		g_cond_wait(&st->cv, &st->mu);
	g_mutex_unlock(&st->mu);
	*answer = __atomic_load_n(&st->count, __ATOMIC_ACQUIRE);
	return 0;
}

static void gtp_stop(void *state)
{
	struct gtp_state *st = state;

	g_thread_pool_free(st->pool, FALSE, TRUE);
	g_mutex_clear(&st->mu);
	g_cond_clear(&st->cv);
	g_free(st);
}

const struct pool_peer pool_peer_gthreadpool = {
	"gthreadpool", gtp_cannot, gtp_start, gtp_run, gtp_stop,
};
