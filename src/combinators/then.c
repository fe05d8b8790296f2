/* SPDX-License-Identifier: MIT */
/*
 * then(): a continuation future completed by a function that runs on a
 * chosen executor once its source is final.
 *
 * The continuation c is a proxy future (proxy.h): PENDING until fn starts,
 * so that cancelling it before then is a plain cancel and fn never runs.
 * A done-callback on the source starts the proxy: its wrapper task
 * (run_then) moves c to RUNNING, runs fn with c as the current future
 * (spool_cancel_requested() in fn polls c) and completes c with fn's
 * outcome. The proxy's callback on the wrapper's future covers the wrapper
 * that never runs (refused by a shut-down executor, cancelled in its
 * queue), and a cancel of a running c is forwarded to the wrapper.
 *
 * The source reference is taken out of `src` with an exchange by whoever
 * is last to need it (the task that ran fn, the end of a wrapper that never
 * ran, or the free of c), so it is released exactly once and as soon as fn
 * is done with it. on_src's reference to c is the one the start lends to
 * the proxy.
 */
#include <stdlib.h>

#include "core/alloc.h"
#include "proxy.h"

struct then {
	struct spool__proxy p; /* the continuation; must be first */
	_Atomic(spool_future *) src;
	spool_executor *ex;
	spool_then_fn fn;
	void *arg;
};

static void drop_src(struct spool__proxy *p)
{
	struct then *th = (struct then *)p;
	spool_future_release(atomic_exchange(&th->src, NULL));
}

static int run_then(void *arg, void **result);

/* No stuck op: the source may be released under a reader. */
static const struct spool__proxy_ops then_ops = {
	.fut =
		{
			.fini = spool__proxy_fini,
			.cancel_running = spool__proxy_cancel_running,
		},
	.run = run_then,
	.fini = drop_src,
	.ended = drop_src,
};

/* The wrapper task. It holds no reference to c of its own: on_src's
 * reference, lent to the proxy's callback on this task's future, lasts
 * until that future is final, which is after this returns. */
static int run_then(void *arg, void **result)
{
	struct then *th = arg;
	spool_future *c = &th->p.fut;
	spool_future *src = atomic_exchange(&th->src, NULL);
	int rc = spool__future_start(c);
	if (rc == 0) {
		spool_future *outer = spool__current_swap(c);
		void *value = NULL;
		rc = th->fn(src, th->arg, &value);
		spool__current_swap(outer);
		spool__future_complete(c, rc, value);
		*result = value;
	} else {
		rc = SPOOL_ECANCELLED; /* c was cancelled before fn started */
	}
	spool_future_release(src);
	return rc;
}

static void on_src(spool_future *f, void *arg)
{
	(void)f;
	struct then *th = arg;
	spool_future *c = &th->p.fut;
	if (spool_future_done(c)) { /* cancelled before its source ended */
		drop_src(&th->p);
		spool_future_release(c);
		return;
	}
	/* This callback's reference to c is the start's loan. */
	spool__proxy_start(&th->p, th->ex);
}

spool_future *spool_then(spool_future *f, spool_executor *ex, spool_then_fn fn,
			 void *arg)
{
	if (!f || !ex || !fn)
		return spool__future_failed(SPOOL_EINVAL);
	struct then *th = spool__malloc(sizeof *th);
	if (!th)
		return NULL;
	spool__proxy_init(&th->p, &then_ops, "then"); /* names waits on it */
	spool_future *c = &th->p.fut;
	atomic_init(&th->src, spool_future_retain(f));
	th->ex = ex;
	th->fn = fn;
	th->arg = arg;
	spool_future_retain(c); /* for on_src */
	if (spool_future_add_callback(f, on_src, th) != 0) {
		spool__future_complete(c, SPOOL_ENOMEM, NULL);
		drop_src(&th->p);
		spool_future_release(c);
	}
	return c;
}
