/* SPDX-License-Identifier: MIT */
/*
 * Done-callbacks: a lock-free list closed by the completing thread.
 *
 * The list is a Treiber stack (newest first) whose head the completer swaps
 * for the sentinel SPOOL__CB_CLOSED in one exchange. Every adder whose CAS
 * succeeded before that exchange is in the list the completer took, and the
 * completer runs that list oldest first, so each callback runs exactly once
 * and in the order its CAS succeeded. An adder that finds CLOSED runs its
 * callback at once: the exchange happens after the final phase is published
 * (see finish() in future.c), so such a callback sees a final future. Such
 * late callbacks may run concurrently with the completer's own batch, as
 * they would for any two threads adding callbacks to a done future.
 *
 * Most futures never get a callback, so the completer takes the list only
 * when the state word carries HAS_CB. An adder raises HAS_CB with a
 * read-modify-write on the state word before it pushes. The state word's
 * modification order decides: if the completer's final write comes after
 * the adder's, the completer sees HAS_CB and takes the list, so the push
 * either lands in the list it takes or finds CLOSED (the case above);
 * otherwise the adder's read-modify-write returns a final phase and the
 * adder runs its callback at once without pushing. Either way it runs
 * exactly once.
 */
#include <stdlib.h>

#include "alloc.h"
#include "future_impl.h"
#include "wait.h"

void spool__callback_free(spool_future *f, struct spool__cb *c, bool ran)
{
	if (c->post_ops && c->post_ops->drop)
		c->post_ops->drop(c->post_ctx, c->fn, c->arg, ran);
	if (c != &f->inline_cb)
		free(c);
}

static void cb_call(spool_future *f, struct spool__cb *c)
{
	if (c->post_ops) {
		struct spool__wait_context here = spool__wait_context_get();
		if (here.ctx != c->post_ctx &&
		    c->post_ops->post(c->post_ctx, c->fn, f, c->arg) == 0)
			return;
	}
	c->fn(f, c->arg);
}

int spool_future_add_callback(spool_future *f, spool_callback_fn fn, void *arg)
{
	if (!f || !fn)
		return SPOOL_EINVAL;
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
	struct spool__cb *c = first ? &f->inline_cb
				    : spool__malloc(sizeof(struct spool__cb));
	if (!c)
		return SPOOL_ENOMEM;
	struct spool__cb *head = atomic_load_explicit(&f->callbacks,
						      memory_order_acquire);
	c->fn = fn;
	c->arg = arg;
	struct spool__wait_context here = spool__wait_context_get();
	c->post_ops = here.ops && here.ops->post ? here.ops : NULL;
	c->post_ctx = here.ctx;
	if (c->post_ops && c->post_ops->hold)
		c->post_ops->hold(c->post_ctx);
	do {
		if (head == SPOOL__CB_CLOSED) {
			/* Closed while we prepared: f is final. Acquire on
			 * the load pairs with the completer's exchange. */
			fn(f, arg);
			spool__callback_free(f, c, true);
			return 0;
		}
		c->next = head;
		/* Release: the node's fields are visible to the completer
		 * that takes the list with its acq_rel exchange. */
	} while (!atomic_compare_exchange_weak_explicit(&f->callbacks, &head, c,
							memory_order_release,
							memory_order_acquire));
	return 0;
}

void spool__callbacks_run(spool_future *f)
{
	struct spool__cb *list = atomic_exchange_explicit(
		&f->callbacks, SPOOL__CB_CLOSED, memory_order_acq_rel);
	/* Reverse to oldest first. */
	struct spool__cb *ordered = NULL;
	while (list) {
		struct spool__cb *next = list->next;
		list->next = ordered;
		ordered = list;
		list = next;
	}
	while (ordered) {
		struct spool__cb *next = ordered->next;
		cb_call(f, ordered);
		spool__callback_free(f, ordered, true);
		ordered = next;
	}
}
