/* SPDX-License-Identifier: MIT */
/*
 * run_in_executor: blocking or CPU-bound work goes to another executor (a
 * pool), and its outcome comes back to the loop (asyncio's
 * loop.run_in_executor and futures.wrap_future).
 *
 * The work runs as an ordinary task on the other executor (the inner
 * future). The caller gets an outer future that only the loop's thread
 * completes: the inner future's done-callback runs on the loop's thread if
 * core already routes it there (registered from the loop), and otherwise
 * posts itself there through the loop's inbox. So the outer future's
 * callbacks and the coroutines awaiting it are woken by the loop, never by
 * a pool thread. Cancelling the outer future cancels the inner one.
 *
 * If the loop is destroyed first, the post fails and the thread that ran
 * the work completes the outer future itself, so it still reaches a final
 * state. The outer record holds the anchor, which outlives the loop.
 */
#include <stdlib.h>

#include "core/alloc.h"
#include "loop_impl.h"

struct bridge {
	spool_future fut; /* first: the outer future */
	struct spool__anchor *anchor;
};

static void bridge_free(spool_future *f)
{
	struct bridge *b = (struct bridge *)f;
	struct spool__anchor *a = b->anchor;
	free(b);
	spool__anchor_release(a);
}

static const struct spool__future_ops bridge_ops = {.free = bridge_free};

/* On inner: completes the outer future, on the loop's thread if it can.
 * Owns one reference to the outer future, which travels with a post. */
static void inner_done(spool_future *inner, void *arg)
{
	struct bridge *b = arg;
	if (!spool__on_loop(b->anchor) &&
	    spool__anchor_post(b->anchor, inner_done, inner, b) == 0)
		return;
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
	spool_future *inner = spool_submit(ex, fn, arg);
	if (!inner) {
		free(b);
		return NULL;
	}
	spool__future_init(&b->fut, &bridge_ops);
	spool__anchor_hold(loop->anchor);
	b->anchor = loop->anchor;
	if (spool_future_add_callback(&b->fut, outer_done, inner) != 0)
		spool_future_release(inner); /* no cancel propagation */
	spool_future_retain(&b->fut);        /* for inner_done */
	if (spool_future_add_callback(inner, inner_done, b) != 0) {
		spool__future_complete(&b->fut, SPOOL_ENOMEM, NULL);
		spool_future_release(&b->fut);
	}
	return &b->fut;
}
