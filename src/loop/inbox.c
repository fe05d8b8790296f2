/* SPDX-License-Identifier: MIT */
/*
 * The anchor: the loop's inbox for other threads, its eventfd wake-up, and
 * the wait-context hooks through which core sends done-callbacks home.
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
 * hence the hold/drop hooks below and the reference count: the loop, every
 * task and every node that may post here each hold one, and the last
 * release closes the eventfd and frees the anchor. A push that succeeded
 * before close was drained at close, so the eventfd write that follows it
 * reaches a descriptor that is still open (the pusher holds a reference).
 *
 * Spare handles. A done-callback registered on the loop's thread and
 * completed on another is carried home in a handle. Allocating it at the
 * completion would leave no one to tell when memory runs out (the
 * callback would run on the completing thread, against
 * spool_future_add_callback()'s promise). So the registration reserves
 * one (core's hold hook, where SPOOL_ENOMEM can still be returned), and a
 * send takes a reserved spare, so it cannot fail for want of memory.
 * Counting, under spare_mu: nreserved is the number of registrations
 * (and run_in_executor bridges) that may still send; nspare, the handles
 * on the list, never falls below it. A reservation allocates a handle
 * only when nspare == nreserved; a send takes a handle and its
 * reservation at once; a registration that ends without sending (its
 * callback ran in place, or never ran) gives its reservation back and
 * leaves the handle on the list for the next one. So a loop that
 * registers and completes its callbacks itself reuses one spare, and the
 * list never holds more handles than reservations were ever outstanding
 * at once. The await's wake-up brings its own handle (task.c) and
 * reserves nothing.
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
	pthread_mutex_init(&a->spare_mu, NULL);
	a->spares = NULL;
	a->nspare = a->nreserved = 0;
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
		while (a->spares) {
			struct spool_handle *h = a->spares;
			a->spares = h->next;
			free(h);
		}
		pthread_mutex_destroy(&a->spare_mu);
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
		if (h->kind == SPOOL__H_STEP) {
			/* A task submitted from another thread. */
			spool__task_adopt(loop,
					  (struct spool__loop_task *)h->arg);
		} else {
			spool__ready_push(loop, h);
		}
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

/* ---- the wait-context hooks (core/wait.h) ----------------------------- */

/* Under spare_mu: h joins the spares. */
static void spare_put(struct spool__anchor *a, struct spool_handle *h)
{
	h->next = a->spares;
	a->spares = h;
	a->nspare++;
}

int spool__anchor_reserve(struct spool__anchor *a)
{
	int rc = 0;
	pthread_mutex_lock(&a->spare_mu);
	if (a->nspare == a->nreserved) {
		struct spool_handle *h = spool__malloc(sizeof *h);
		if (h)
			spare_put(a, h);
		else
			rc = SPOOL_ENOMEM;
	}
	if (rc == 0)
		a->nreserved++;
	pthread_mutex_unlock(&a->spare_mu);
	return rc;
}

void spool__anchor_unreserve(struct spool__anchor *a)
{
	pthread_mutex_lock(&a->spare_mu);
	a->nreserved--;
	pthread_mutex_unlock(&a->spare_mu);
}

int spool__anchor_send(struct spool__anchor *a, spool_callback_fn fn,
		       spool_future *f, void *arg)
{
	pthread_mutex_lock(&a->spare_mu);
	/* The caller's reservation guarantees one (nspare >= nreserved). */
	struct spool_handle *h = a->spares;
	a->spares = h->next;
	a->nspare--;
	a->nreserved--;
	pthread_mutex_unlock(&a->spare_mu);
	h->kind = SPOOL__H_POSTED;
	h->loop = NULL;
	h->cancelled = h->done = h->in_heap = false;
	h->refs = 1;
	h->fn.post_fn = fn;
	h->arg = arg;
	h->f = spool_future_retain(f);
	if (spool__inbox_push(a, h) != 0) {
		/* The loop is gone: the handle and the reservation go back,
		 * and the caller runs fn itself. */
		spool_future_release(f);
		pthread_mutex_lock(&a->spare_mu);
		spare_put(a, h);
		a->nreserved++;
		pthread_mutex_unlock(&a->spare_mu);
		return -1;
	}
	return 0;
}

int spool__anchor_post(void *ctx, spool_callback_fn fn, spool_future *f,
		       void *arg)
{
	struct spool__anchor *a = ctx;
	if (fn == spool__await_fired) {
		/* An await's wake-up brings its own handle (task.c). */
		struct spool_handle *h = arg;
		h->kind = SPOOL__H_AWAIT;
		h->f = spool_future_retain(f);
		if (spool__inbox_push(a, h) != 0) {
			spool_future_release(f);
			return -1; /* core runs fn in place, which puts h */
		}
		return 0;
	}
	return spool__anchor_send(a, fn, f, arg);
}

int spool__anchor_hold_ctx(void *ctx, spool_callback_fn fn)
{
	if (fn != spool__await_fired && spool__anchor_reserve(ctx) != 0)
		return SPOOL_ENOMEM;
	spool__anchor_hold(ctx);
	return 0;
}

void spool__anchor_drop_ctx(void *ctx, spool_callback_fn fn, void *arg,
			    bool ran, bool posted)
{
	if (fn != spool__await_fired && !posted)
		spool__anchor_unreserve(ctx);
	/* An await's callback owns its handle and a reference to its task
	 * (task.c); if the awaited future was freed without completing,
	 * nobody else will drop them. */
	if (!ran && fn == spool__await_fired) {
		struct spool_handle *h = arg;
		struct spool__loop_task *t = h->arg;
		/* The embedded one stays marked in use: this may be any
		 * thread, and an in-use mark only costs a later await an
		 * allocation. */
		if (h != &t->await_h)
			free(h);
		spool_future_release(&t->fut);
	}
	spool__anchor_release(ctx);
}
