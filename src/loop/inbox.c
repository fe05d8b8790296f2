/* SPDX-License-Identifier: MIT */
/*
 * The anchor: the loop's inbox for other threads, its eventfd wake-up, and
 * its reference count.
 *
 * Inbox. A closable stack (core/lifo.h) that any thread pushes to and only
 * the loop empties, taking everything at once. The loop reverses what it
 * took, so items run in the order their push succeeded. The loop's destroy
 * closes it, after which pushes fail: nothing can be added after the last
 * drain.
 *
 * Wake-ups are coalesced as uv_async_send does: a producer writes the
 * eventfd only if it flips wake_pending from 0 to 1, and the loop clears
 * wake_pending before it empties the inbox. No wake-up is lost: the four
 * accesses (producer: push, then exchange wake_pending; loop: store 0, then
 * take the inbox) are seq_cst (lifo.h: a push and a take are), so in their
 * single total order either the loop's take comes after the push (it
 * takes the item) or the
 * producer's exchange on wake_pending comes after the loop's store of 0 and
 * reads 0 or a 1 stored by a later producer; whichever producer read the 0
 * writes the eventfd after the loop last read it, so epoll reports it.
 *
 * Lifetime. The anchor is the ctx of the loop's wait context, so callback
 * nodes of futures record it (core/wait.h); such a node may outlive the loop,
 * hence core's hold/drop hooks (home.c) and the reference count: the loop,
 * every task and every node that may post here each hold one, and the last
 * release closes the eventfd and frees the anchor. A push that succeeded
 * before close was drained at close, so the eventfd write that follows it
 * reaches a descriptor that is still open (the pusher holds a reference).
 *
 * What travels through the inbox: tasks submitted from other threads,
 * call_soon_threadsafe's callbacks, cancels from other threads (task.c),
 * and callbacks sent home (home.c, which owns the spare handles that make
 * sending home never fail for want of memory). Each handle's table says
 * what the loop does with it on arrival (handle.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/alloc.h"
#include "loop_impl.h"

int spool__anchor_new(struct spool__anchor **out, spool_loop *loop)
{
	struct spool__anchor *a = spool__malloc(sizeof *a);
	if (!a)
		return SPOOL_ENOMEM;
	a->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->efd < 0) {
		free(a);
		return SPOOL_ESYS;
	}
	atomic_init(&a->refs, 1);
	spool__lifo_init(&a->inbox);
	atomic_init(&a->wake_pending, 0);
	atomic_init(&a->stranded_on, 0);
	a->loop = loop;
	spool__home_init(&a->home);
	*out = a;
	return 0;
}

void spool__anchor_hold(struct spool__anchor *a)
{
	/* Relaxed: made from a reference the caller already has. */
	atomic_fetch_add_explicit(&a->refs, 1, memory_order_relaxed);
}

void spool__anchor_release(struct spool__anchor *a)
{
	/* acq_rel as any reference count, so every use happens before the
	 * free; on the decrement rather than in a separate acquire fence,
	 * which ThreadSanitizer does not model. */
	if (atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel) == 1) {
		close(a->efd);
		spool__home_fini(&a->home);
		free(a);
	}
}

static void wake(struct spool__anchor *a)
{
	if (atomic_exchange(&a->wake_pending, 1) == 0) {
		uint64_t one = 1;
		/* EAGAIN only if the counter is near 2^64: still readable. */
		while (write(a->efd, &one, sizeof one) < 0 && errno == EINTR)
			;
	}
}

int spool__inbox_push(struct spool__anchor *a, struct spool_handle *h)
{
	/* seq_cst: see the wake-up argument above; it also releases h's
	 * fields to the loop's take. */
	if (!spool__lifo_push(&a->inbox, &h->inbox))
		return -1;
	wake(a);
	return 0;
}

static struct spool_handle *handle_of(struct spool__lifo_node *n)
{
	return spool__lifo_entry(n, struct spool_handle, inbox);
}

/* Moves what the loop took from the inbox, oldest first, to the ready
 * queue, or adopts the tasks submitted from other threads. */
static void adopt(spool_loop *loop, struct spool__lifo_node *n)
{
	while (n) {
		/* inbox and next share a word: read on before the handle
		 * joins the ready queue. */
		struct spool__lifo_node *next = n->next;
		struct spool_handle *h = handle_of(n);
		if (h->ops->arrive)
			h->ops->arrive(loop,
				       h); /* a task submitted elsewhere */
		else
			spool__ready_push(loop, h);
		n = next;
	}
}

void spool__inbox_drain(spool_loop *loop)
{
	struct spool__anchor *a = loop->anchor;
	uint64_t n;
	while (read(a->efd, &n, sizeof n) < 0 && errno == EINTR)
		;
	atomic_store(&a->wake_pending, 0);
	adopt(loop, spool__lifo_reverse(spool__lifo_take(&a->inbox)));
}

struct spool_handle *spool__inbox_close(struct spool__anchor *a)
{
	/* Oldest first, relinked through next for the caller. */
	struct spool__lifo_node *n = spool__lifo_reverse(
		spool__lifo_close(&a->inbox));
	struct spool_handle *first = NULL, **tail = &first;
	while (n) {
		struct spool__lifo_node *next = n->next;
		struct spool_handle *h = handle_of(n);
		h->next = NULL;
		*tail = h;
		tail = &h->next;
		n = next;
	}
	return first;
}
