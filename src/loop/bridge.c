/* SPDX-License-Identifier: MIT */
/*
 * run_in_executor: blocking or CPU-bound work goes to another executor (a
 * pool), and its outcome comes back to the loop (asyncio's
 * loop.run_in_executor and futures.wrap_future).
 *
 * The work runs as an ordinary task on the other executor (the inner
 * future). The caller gets an outer future that only the loop's thread
 * completes: the inner future's done-callback runs where the work ends
 * and sends itself to the loop's thread through the loop's inbox, on a
 * spare handle reserved when the bridge was made (inbox.c), so that
 * running out of memory later cannot divert it. So the outer future's
 * callbacks and the coroutines awaiting it are woken by the loop, never by
 * a pool thread. Cancelling the outer future cancels the inner one.
 *
 * If the loop is destroyed first, the send fails and the thread that ran
 * the work completes the outer future itself, so it still reaches a final
 * state. The outer record holds the anchor, which outlives the loop.
 */
#include <stdlib.h>

#include "core/alloc.h"
#include "loop_impl.h"

struct bridge {
	spool_future fut; /* first: the outer future */
	struct spool__anchor *anchor;
	/* inner_done's send home uses a spare handle reserved at creation
	 * (inbox.c); sent once it did, after which the reservation is spent
	 * and only the loop's thread reads the flag. */
	bool sent;
	struct spool__cb on_inner, on_outer; /* never fail (future_impl.h) */
};

static void bridge_fini(spool_future *f)
{
	struct bridge *b = (struct bridge *)f;
	spool__anchor_release(b->anchor);
	b->anchor = NULL;
}

static const struct spool__future_ops bridge_ops = {.fini = bridge_fini};

/* On inner: completes the outer future, on the loop's thread if it can.
 * Owns one reference to the outer future, which travels with a send. It
 * runs where inner completes, and once more on the loop's thread when it
 * sent itself there. */
static void inner_done(spool_future *inner, void *arg)
{
	struct bridge *b = arg;
	if (!b->sent && !spool__on_loop(b->anchor)) {
		b->sent = true;
		if (spool__anchor_send(b->anchor, inner_done, inner, b) == 0)
			return;
		b->sent = false; /* the loop is gone: complete it here */
	}
	if (!b->sent)
		spool__anchor_unreserve(b->anchor);
	int err = spool_future_error(inner);
	spool__future_complete(&b->fut, err,
			       err == 0 ? spool_future_value(inner) : NULL);
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
	struct bridge *b = spool__malloc(sizeof *b);
	if (!b)
		return NULL;
	if (spool__anchor_reserve(loop->anchor) != 0) {
		free(b);
		return NULL;
	}
	spool_future *inner = spool_submit(ex, fn, arg);
	if (!inner) {
		spool__anchor_unreserve(loop->anchor);
		free(b);
		return NULL;
	}
	spool__future_init(&b->fut, &bridge_ops);
	spool__anchor_hold(loop->anchor);
	b->anchor = loop->anchor;
	b->sent = false;
	/* Both callbacks on own nodes: from here on nothing can fail. */
	spool__future_add_callback_node(&b->fut, &b->on_outer, outer_done,
					inner);
	spool_future_retain(&b->fut); /* for inner_done */
	spool__future_add_callback_node(inner, &b->on_inner, inner_done, b);
	return &b->fut;
}
