/* SPDX-License-Identifier: MIT */
/*
 * Done-callbacks: a closable stack (lifo.h) that the completing thread
 * closes.
 *
 * Adders push their nodes onto f->callbacks; the completer closes it, which
 * takes every node pushed before, and runs that list oldest first, so each
 * callback runs exactly once and in the order its push succeeded. An adder
 * whose push is refused (closed) runs its callback at once: the close
 * happens after the final phase is published (publish_final() in future.c),
 * and a refused push acquires the close, so such a callback sees a final
 * future. Such late callbacks may run concurrently with the completer's own
 * batch, as they would for any two threads adding callbacks to a done
 * future.
 *
 * Most futures never get a callback, so the completer takes the list only
 * when the state word carries HAS_CB. An adder raises HAS_CB with a
 * read-modify-write on the state word before it pushes. The state word's
 * modification order decides: if the completer's final write comes after
 * the adder's, the completer sees HAS_CB and takes the list, so the push
 * either lands in the list it takes or is refused (the case above);
 * otherwise the adder's read-modify-write returns a final phase and the
 * adder runs its callback at once without pushing. Either way it runs
 * exactly once.
 *
 * A node comes from one of three places: the one inside the future (taken
 * by the adder that raised HAS_CB), one allocated here, or one the
 * registrant owns (spool__future_add_callback_node), tagged in post_ops.
 * Only an allocated one is freed here. A registrant-owned node may be
 * freed by its own callback, so the completer copies a node's fields
 * before it calls or posts the callback and touches the node no more.
 */
#include <assert.h>
#include <stdlib.h>

#include "alloc.h"
#include "future_impl.h"
#include "wait.h"

/* A node whose fields are copied out, so that the callback may free the
 * node itself (a caller-owned node: see spool__future_add_callback_node)
 * before core is done with what it recorded. */
struct cb_copy {
	spool_callback_fn fn;
	void *arg;
	const struct spool__wait_ops *post_ops;
	void *post_ctx;
	bool ours; /* core allocated the node and frees it */
};

static struct cb_copy cb_copy(spool_future *f, const struct spool__cb *c)
{
	return (struct cb_copy){
		.fn = c->fn,
		.arg = c->arg,
		.post_ops = spool__cb_post_ops(c),
		.post_ctx = c->post_ctx,
		.ours = c != &f->inline_cb &&
			!((uintptr_t)c->post_ops & SPOOL__CB_CALLER_OWNED),
	};
}

/* Tells the recorded context the node is gone (whether fn ran, whether it
 * was posted), and frees the node if core allocated it. */
static void cb_drop(struct spool__cb *c, const struct cb_copy *k, bool ran,
		    bool posted)
{
	if (k->post_ops && k->post_ops->drop)
		k->post_ops->drop(k->post_ctx, k->fn, k->arg, ran, posted);
	if (k->ours)
		free(c);
}

void spool__callback_free(spool_future *f, struct spool__cb *c, bool ran)
{
	struct cb_copy k = cb_copy(f, c);
	cb_drop(c, &k, ran, false);
}

/* Calls or posts c's callback, then lets go of c. Nothing reads c after
 * the call or the post: fn may free a caller-owned node (a post may run fn
 * on the loop's thread before post returns here). */
static void cb_run(spool_future *f, struct spool__cb *c)
{
	struct cb_copy k = cb_copy(f, c);
	if (k.post_ops) {
		struct spool__wait_context here = spool__wait_context_get();
		if (here.ctx != k.post_ctx &&
		    k.post_ops->post(k.post_ctx, k.fn, f, k.arg) == 0) {
			cb_drop(c, &k, true, true);
			return;
		}
	}
	k.fn(f, k.arg);
	cb_drop(c, &k, true, false);
}

/* Runs the callback on node c, prepared for a list that was closed
 * meanwhile: at once, on this thread, as an adder that finds f final does.
 * Out of line, so that the rare case costs the common one no registers. */
static __attribute__((noinline, cold)) void run_late(spool_future *f,
						     struct spool__cb *c)
{
	struct cb_copy k = cb_copy(f, c);
	k.fn(f, k.arg);
	cb_drop(c, &k, true, false);
}

/* The body of the registrations; own is NULL for the public one, which
 * allocates a node when f's own is taken; via is NULL but for
 * spool__future_add_callback_via. Inlined into each, so that the public one
 * keeps its code. */
static inline __attribute__((always_inline)) int
add_callback(spool_future *f, struct spool__cb *own, spool_callback_fn fn,
	     void *arg, const struct spool__wait_context *via)
{
	/* Acquire, on the load and on the read-modify-write: a final phase
	 * read here comes with the outcome its completer published. */
	uint64_t w = atomic_load_explicit(&f->state, memory_order_acquire);
	bool first = false;
	if (!(w & SPOOL__HAS_CB) && !spool__phase_final(w)) {
		w = atomic_fetch_or_explicit(&f->state, SPOOL__HAS_CB,
					     memory_order_acquire);
		first = !(w & SPOOL__HAS_CB);
	}
	if (spool__phase_final(w)) {
		fn(f, arg);
		return 0;
	}
	/* The adder that raised HAS_CB takes the node inside the future;
	 * HAS_CB is never cleared while f lives, so that node is used at
	 * most once. Most futures get one callback at most. */
	uintptr_t tag = 0;
	struct spool__cb *c;
	if (first) {
		c = &f->inline_cb;
	} else if (own) {
		c = own;
		tag = SPOOL__CB_CALLER_OWNED;
	} else {
		c = spool__malloc(sizeof(struct spool__cb));
		if (!c)
			return SPOOL_ENOMEM;
	}
	/* A node registered from a loop is sent home at the completion, and
	 * what sending needs is reserved now, where a failure can still be
	 * reported (wait.h, hold). A registration through
	 * spool__future_add_callback_node is never sent home: it must not
	 * fail, and its callbacks are spool's own, which any thread may run. */
	struct spool__wait_context here = via ? *via
					      : spool__wait_context_get();
	const struct spool__wait_ops *ops = !own && here.ops && here.ops->post
						    ? here.ops
						    : NULL;
	if (ops && ops->hold && ops->hold(here.ctx, fn) != 0) {
		/* f's own node, if taken, stays unused: HAS_CB stays set.
		 * Any other node here was allocated above (a caller's node
		 * reserves nothing). */
		if (!first)
			free(c);
		return SPOOL_ENOMEM;
	}
	c->fn = fn;
	c->arg = arg;
	c->post_ops = (const struct spool__wait_ops *)((uintptr_t)ops | tag);
	c->post_ctx = here.ctx;
	/* The push releases the fields above to the completer's close; a
	 * refused push means the list was closed while we prepared, and f
	 * is final (lifo.h: a refused push acquires the close). */
	if (!spool__lifo_push(&f->callbacks, &c->link))
		run_late(f, c);
	return 0;
}

int spool_future_add_callback(spool_future *f, spool_callback_fn fn, void *arg)
{
	if (!f || !fn)
		return SPOOL_EINVAL;
	return add_callback(f, NULL, fn, arg, NULL);
}

int spool__future_add_callback_via(spool_future *f, spool_callback_fn fn,
				   void *arg,
				   const struct spool__wait_ops *via_ops,
				   void *via_ctx)
{
	struct spool__wait_context via = {via_ops, via_ctx};
	return add_callback(f, NULL, fn, arg, &via);
}

void spool__future_add_callback_node(spool_future *f, struct spool__cb *node,
				     spool_callback_fn fn, void *arg)
{
	assert(f && node && fn);
	(void)add_callback(f, node, fn, arg, NULL);
}

void spool_debug_add_callback_node(spool_future *f, struct spool__cb *node,
				   spool_callback_fn fn, void *arg)
{
	spool__future_add_callback_node(f, node, fn, arg);
}

_Static_assert(_Alignof(struct spool__wait_ops) > SPOOL__CB_CALLER_OWNED,
	       "bit 0 of a wait_ops pointer is free for the ownership tag");

void spool__callbacks_run(spool_future *f)
{
	/* Oldest first. */
	struct spool__lifo_node *n = spool__lifo_reverse(
		spool__lifo_close(&f->callbacks));
	/* A callback may drop the last reference to f (one it owns): with
	 * more callbacks to come, the completer holds f for them. A single
	 * callback needs no such hold: nothing here touches f after it. */
	bool hold = n && n->next;
	if (hold)
		spool_future_retain(f);
	while (n) {
		/* Read before the call: the callback may free its node. */
		struct spool__lifo_node *next = n->next;
		cb_run(f, spool__lifo_entry(n, struct spool__cb, link));
		n = next;
	}
	if (hold)
		spool_future_release(f);
}
