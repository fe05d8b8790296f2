/* SPDX-License-Identifier: MIT */
/*
 * run_in_executor: blocking or CPU-bound work goes to another executor (a
 * pool), and its outcome comes back to the loop (asyncio's
 * loop.run_in_executor and futures.wrap_future).
 *
 * The work runs as an ordinary task on the other executor (the inner
 * future). The caller gets an outer future that only the loop's thread
 * completes: the inner future's done-callback runs where the work ends
 * and sends itself to the loop's thread on a ticket (home.c): a send
 * reserved when the bridge was made, so that running out of memory later
 * cannot divert it. So the outer future's
 * callbacks and the coroutines awaiting it are woken by the loop, never by
 * a pool thread. Cancelling the outer future cancels the inner one.
 *
 * If the loop is destroyed first, the send fails and the thread that ran
 * the work completes the outer future itself, so it still reaches a final
 * state. The outer record holds the anchor, which outlives the loop.
 */
#include <stdlib.h>

#include "core/alloc.h"
#include "core/detail.h"
#include "loop_impl.h"

struct bridge {
	spool_future fut; /* first: the outer future */
	/* inner_done's send home, reserved at creation; its anchor is held
	 * by the bridge until fini. */
	struct spool__home_ticket home;
	struct spool__cb on_inner, on_outer; /* never fail (future_impl.h) */
};

static void bridge_fini(spool_future *f)
{
	struct bridge *b = (struct bridge *)f;
	spool__anchor_release(b->home.anchor);
	b->home.anchor = NULL;
}

static const struct spool__future_ops bridge_ops = {.fini = bridge_fini};

/* On inner: completes the outer future, on the loop's thread if it can.
 * Owns one reference to the outer future, which travels with a send. It
 * runs where inner completes, and once more on the loop's thread when it
 * sent itself there. */
static void inner_done(spool_future *inner, void *arg)
{
	struct bridge *b = arg;
	if (spool__home_forward(&b->home, inner_done, inner, b))
		return; /* it runs again on the loop's thread */
	int err = spool_future_error(inner);
	if (err == 0)
		spool__future_complete(&b->fut, 0, spool_future_value(inner));
	else /* with the work's detail, shared (core/detail.h) */
		spool__future_complete_as(&b->fut, err, inner);
	spool_future_release(&b->fut);
}

/* On outer: a cancellation travels to the work. Owns a reference to the
 * inner future. */
static void outer_done(spool_future *outer, void *arg)
{
	spool_future *inner = arg;
	if (spool_future_state(outer) == SPOOL_CANCELLED)
		spool_future_cancel(inner);
	spool_future_release(inner);
}

spool_future *spool_loop_run_in_executor(spool_loop *loop, spool_executor *ex,
					 spool_task_fn fn, void *arg)
{
	if (!loop || !ex || !fn)
		return spool__future_failed(SPOOL_EINVAL);
	/* Another thread enters the loop through its gate (loop.c) for as
	 * long as it reads the loop: refused once destroy has begun. */
	bool here = spool__loop_here() == loop;
	int rc = here ? 0
		      : spool__gate_enter(loop, "spool_loop_run_in_executor");
	if (rc != 0)
		return spool__future_failed(rc);
	struct spool__anchor *a = loop->anchor;
	struct bridge *b = spool__malloc(sizeof *b);
	if (b && spool__home_ticket_take(&b->home, a) != 0) {
		free(b);
		b = NULL;
	}
	if (b)
		spool__anchor_hold(a);
	if (!here)
		spool__gate_leave(loop);
	if (!b)
		return NULL;
	/* From here on only the anchor, which outlives the loop, is used:
	 * ex may run fn in place, for as long as fn likes, and destroy
	 * must not wait for that. */
	spool_future *inner = spool_submit(ex, fn, arg);
	if (!inner) {
		spool__home_ticket_return(&b->home);
		free(b);
		spool__anchor_release(a);
		return NULL;
	}
	spool__future_init(&b->fut, &bridge_ops);
	/* Both callbacks on own nodes: from here on nothing can fail. */
	spool__future_add_callback_node(&b->fut, &b->on_outer, outer_done,
					inner);
	spool_future_retain(&b->fut); /* for inner_done */
	spool__future_add_callback_node(inner, &b->on_inner, inner_done, b);
	return &b->fut;
}
