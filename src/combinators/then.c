/* SPDX-License-Identifier: MIT */
/*
 * then(): a continuation future completed by a function that runs on a
 * chosen executor once its source is final.
 *
 * The continuation c is a future of its own (the struct below), PENDING
 * until fn starts, so that cancelling it before then is a plain cancel and
 * fn never runs. A done-callback on the source submits a task to the
 * executor; that task moves c to RUNNING, runs fn with c as the current
 * future (spool_cancel_requested() in fn polls c) and completes c with fn's
 * outcome. A second callback, on the task's own future, covers the task
 * that never runs (refused by a shut-down executor, cancelled in its
 * queue): it completes c with the task's error; when fn did run, c is
 * already final and that completion is a harmless SPOOL_ESTATE.
 *
 * The source reference is taken out of `src` with an exchange by whoever
 * is last to need it (the task that ran fn, the callback of a task that
 * never ran, or the free of c), so it is released exactly once and as soon
 * as fn is done with it. Each callback holds a reference to c; the task
 * borrows the one on_src hands to on_task.
 */
#include <stdlib.h>

#include "core/alloc.h"
#include "internal.h"

struct then {
	spool_future fut; /* the continuation; must be first */
	_Atomic(spool_future *) src;
	_Atomic(spool_future *) task; /* for forwarding a cancel */
	spool_executor *ex;
	spool_then_fn fn;
	void *arg;
	/* on_task's node on the task's future: registering it cannot fail,
	 * so on_task always runs and always lets go of its reference. It
	 * outlives that registration: on_task holds c until it has run. */
	struct spool__cb task_node;
};

static void drop_src(struct then *th)
{
	spool_future_release(atomic_exchange(&th->src, NULL));
}

static void then_fini(spool_future *f)
{
	struct then *th = (struct then *)f;
	drop_src(th);
	spool_future_release(atomic_load(&th->task));
}

/* A running fn on a loop may be suspended at an await: cancelling its task
 * interrupts it. On a pool the request flag on c (already raised by
 * spool_future_cancel) is what fn sees. */
static int then_cancel_running(spool_future *f)
{
	struct then *th = (struct then *)f;
	spool_future *t = atomic_load(&th->task);
	return t && spool_future_cancel(t) == 0 ? 0 : SPOOL_EBUSY;
}

static const struct spool__future_ops then_ops = {
	.fini = then_fini,
	.cancel_running = then_cancel_running,
};

/* The task. It holds no reference to c of its own: on_src's reference,
 * passed on to on_task, lasts until the task's future is final, which is
 * after this returns. */
static int run_then(void *arg, void **result)
{
	struct then *th = arg;
	spool_future *c = &th->fut;
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

static void on_task(spool_future *t, void *arg)
{
	struct then *th = arg;
	int err = spool_future_error(t);
	if (err != 0)
		spool__future_complete(&th->fut, err, NULL);
	drop_src(th);
	spool_future_release(&th->fut);
}

static void on_src(spool_future *f, void *arg)
{
	struct then *th = arg;
	spool_future *c = &th->fut;
	if (spool_future_done(c)) { /* cancelled before its source ended */
		drop_src(th);
		spool_future_release(c);
		return;
	}
	spool_future *t = spool_submit(th->ex, run_then, th);
	if (!t) {
		spool__future_complete(c, SPOOL_ENOMEM, NULL);
		drop_src(th);
		spool_future_release(c);
		return;
	}
	atomic_store(&th->task, t);
	/* This callback's reference to c passes to on_task. The executor's
	 * future may already carry callbacks (a user executor), so on_task
	 * brings its own node rather than one that would be allocated. */
	spool__future_add_callback_node(t, &th->task_node, on_task, th);
}

spool_future *spool_then(spool_future *f, spool_executor *ex, spool_then_fn fn,
			 void *arg)
{
	if (!f || !ex || !fn)
		return spool__future_failed(SPOOL_EINVAL);
	struct then *th = spool__malloc(sizeof *th);
	if (!th)
		return NULL;
	spool__future_init(&th->fut, &then_ops);
	th->fut.label = "then"; /* names a wait on it in traces */
	atomic_init(&th->src, spool_future_retain(f));
	atomic_init(&th->task, NULL);
	th->ex = ex;
	th->fn = fn;
	th->arg = arg;
	spool_future_retain(&th->fut); /* for on_src */
	if (spool_future_add_callback(f, on_src, th) != 0) {
		spool__future_complete(&th->fut, SPOOL_ENOMEM, NULL);
		drop_src(th);
		spool_future_release(&th->fut);
	}
	return &th->fut;
}
