/* SPDX-License-Identifier: MIT */
/*
 * Sending a callback home (home.h): the reserve of spare handles, the
 * handles that carry a callback to the loop's thread, core's hooks for
 * callbacks registered on the loop, the await's wake-up, and tickets.
 *
 * The transport is the anchor's inbox (inbox.c): a push there is seq_cst
 * and releases everything written to the handle before it to the loop's
 * take, which acquires it (core/lifo.h); the push also wakes the loop, and
 * inbox.c argues why no wake-up is lost. Every protocol below only has to
 * say who owns a handle and its fields at each moment.
 *
 * The reserve. A done-callback registered on the loop's thread and
 * completed on another is carried home in a handle. Allocating it at the
 * completion would leave no one to tell when memory runs out (the callback
 * would run on the completing thread, against spool_future_add_callback()'s
 * promise). So a registration reserves one (core's hold hook, where
 * SPOOL_ENOMEM can still be returned), and a send takes a reserved spare,
 * so it cannot fail for want of memory.
 *
 *   Invariant, under the reserve's mutex: nreserved counts the
 *   registrations and tickets that may still send; nspare, the handles on
 *   the list, is never below it (nspare >= nreserved).
 *
 * Every change keeps it: a reservation allocates a handle when nspare ==
 * nreserved, before it counts itself; a send takes a handle and its
 * reservation at once (both fall by one); a failed send puts both back; a
 * registration that ends without sending (its callback ran in place, or
 * never ran) gives its reservation back and leaves the handle on the list
 * for the next one. So a loop that registers and completes its callbacks
 * itself reuses one spare, and the list never holds more handles than
 * reservations were ever outstanding at once. Only this file reads or
 * writes the reserve; everything else reserves through a hook or a ticket.
 *
 * The await. An await's callback (await_fired) carries a handle taken when
 * the await begins, where running out of memory is the await's
 * SPOOL_ENOMEM: the task's slot, or a new one while an earlier await's
 * callback still holds the slot (a wait that timed out leaves its callback
 * on the future). When the future completes on another thread, await_post
 * sends that very handle home instead of allocating one; allocated at the
 * completion, it could fail with nobody to report to, the callback would
 * run in place on the completing thread, which cannot resume a coroutine,
 * and the wake-up would be lost (test_loop_oom). The await registers its
 * callback with hooks of its own (await_node_ops), so nothing here has to
 * recognise it by its function.
 *
 * The slot's busy flag is plain. The loop's thread sets it at an await and
 * clears it when the callback runs there (in place, or sent home). Another
 * thread writes it only in await_fired run in place after await_post
 * failed, that is after the inbox was closed: the close is the last thing
 * the loop does with tasks (every task has finished, so no await reads the
 * flag again), and the refused push acquires the close. A callback dropped
 * unrun (await_drop, any thread, loop perhaps alive) leaves the slot busy:
 * that costs a later await an allocation, never a race.
 *
 * Tickets (run_in_executor). The callback runs where its future completes,
 * sends itself home and runs again there. sent is written by the
 * completing thread before the push and read by the loop's thread after
 * its take, which the push/take pair orders; after a successful send only
 * the loop's thread touches it, and after a refused one only the thread
 * whose send was refused.
 */
#include <stdlib.h>

#include "core/alloc.h"
#include "loop_impl.h"

/* ---- the reserve ------------------------------------------------------ */

void spool__home_init(struct spool__home *r)
{
	pthread_mutex_init(&r->mu, NULL);
	r->spares = NULL;
	r->nspare = r->nreserved = 0;
}

void spool__home_fini(struct spool__home *r)
{
	while (r->spares) {
		struct spool_handle *h = r->spares;
		r->spares = h->next;
		free(h);
	}
	pthread_mutex_destroy(&r->mu);
}

/* Under mu: h joins the spares. */
static void spare_put(struct spool__home *r, struct spool_handle *h)
{
	h->next = r->spares;
	r->spares = h;
	r->nspare++;
}

/* 0, or SPOOL_ENOMEM (nothing reserved). Any thread. */
static int reserve(struct spool__anchor *a)
{
	struct spool__home *r = &a->home;
	int rc = 0;
	pthread_mutex_lock(&r->mu);
	if (r->nspare == r->nreserved) {
		struct spool_handle *h = spool__malloc(sizeof *h);
		if (h)
			spare_put(r, h);
		else
			rc = SPOOL_ENOMEM;
	}
	if (rc == 0)
		r->nreserved++;
	pthread_mutex_unlock(&r->mu);
	return rc;
}

static void unreserve(struct spool__anchor *a)
{
	struct spool__home *r = &a->home;
	pthread_mutex_lock(&r->mu);
	r->nreserved--;
	pthread_mutex_unlock(&r->mu);
}

/* ---- a callback sent home on a spare ---------------------------------- */

static void posted_run(spool_loop *loop, struct spool_handle *h)
{
	(void)loop;
	spool_future *f = h->f;
	h->fn.post_fn(f, h->arg);
	spool_future_release(f);
	free(h); /* a spare spent by its send */
}

static const struct spool__handle_ops posted_ops = {
	.run = posted_run,
	.finish = posted_run, /* it runs exactly once, even at destroy */
	.user = SPOOL__USER_POSTED,
};

/* Sends fn(f, arg) home on a reserved spare: 0; or -1 when the loop is
 * gone, and then the reservation is still the caller's. Any thread. */
static int send(struct spool__anchor *a, spool_callback_fn fn, spool_future *f,
		void *arg)
{
	struct spool__home *r = &a->home;
	pthread_mutex_lock(&r->mu);
	/* The caller's reservation guarantees one (nspare >= nreserved). */
	struct spool_handle *h = r->spares;
	r->spares = h->next;
	r->nspare--;
	r->nreserved--;
	pthread_mutex_unlock(&r->mu);
	h->ops = &posted_ops;
	h->loop = NULL;
	h->cancelled = h->done = h->in_heap = false;
	h->refs = 1;
	h->fn.post_fn = fn;
	h->arg = arg;
	h->f = spool_future_retain(f);
	if (spool__inbox_push(a, h) != 0) {
		/* The loop is gone: the handle and the reservation go back. */
		spool_future_release(f);
		pthread_mutex_lock(&r->mu);
		spare_put(r, h);
		r->nreserved++;
		pthread_mutex_unlock(&r->mu);
		return -1;
	}
	return 0;
}

/* ---- core's hooks for callbacks registered on the loop ---------------- */

int spool__home_post(void *ctx, spool_callback_fn fn, spool_future *f,
		     void *arg)
{
	return send(ctx, fn, f, arg); /* on refusal core runs fn in place */
}

int spool__home_hold(void *ctx, spool_callback_fn fn)
{
	(void)fn;
	if (reserve(ctx) != 0)
		return SPOOL_ENOMEM;
	spool__anchor_hold(ctx);
	return 0;
}

void spool__home_drop(void *ctx, spool_callback_fn fn, void *arg, bool ran,
		      bool posted)
{
	(void)fn;
	(void)arg;
	(void)ran;
	if (!posted)
		unreserve(ctx); /* ran in place, or never ran */
	spool__anchor_release(ctx);
}

/* ---- the await -------------------------------------------------------- */

/* Loop thread. */
static struct spool_handle *await_take(struct spool__loop_task *t)
{
	struct spool_handle *h = &t->await.h;
	if (t->await.busy) {
		if (!(h = spool__malloc(sizeof *h)))
			return NULL;
	} else {
		t->await.busy = true;
	}
	h->arg = t;
	return h;
}

/* Loop thread, or any thread once the inbox is closed (see the top). */
static void await_put(struct spool__loop_task *t, struct spool_handle *h)
{
	if (h == &t->await.h)
		t->await.busy = false;
	else
		free(h);
}

/* The callback, run in place: on the loop's thread, or on the completing
 * thread once the loop is gone (its inbox refused the post). */
static void await_fired(spool_future *f, void *arg)
{
	struct spool_handle *h = arg;
	struct spool__loop_task *t = h->arg;
	await_put(t, h);
	spool__task_await_done(t, f);
}

/* The same, sent home (f retained by await_post). */
static void await_run(spool_loop *loop, struct spool_handle *h)
{
	(void)loop;
	struct spool__loop_task *t = h->arg;
	spool_future *f = h->f;
	await_put(t, h); /* before t may go */
	spool__task_await_done(t, f);
	spool_future_release(f);
}

static const struct spool__handle_ops await_ops = {
	.run = await_run,
	.finish = await_run, /* it lets go of the task even at destroy */
};

/* core's post: the callback's own handle goes home. It belongs to the
 * callback until the loop's take (the push releases its fields). */
static int await_post(void *ctx, spool_callback_fn fn, spool_future *f,
		      void *arg)
{
	(void)fn;
	struct spool_handle *h = arg;
	h->ops = &await_ops;
	h->f = spool_future_retain(f);
	if (spool__inbox_push(ctx, h) != 0) {
		spool_future_release(f);
		return -1; /* core runs await_fired in place, which puts h */
	}
	return 0;
}

/* core's hold: the await brought its handle; only the anchor is held. */
static int await_hold(void *ctx, spool_callback_fn fn)
{
	(void)fn;
	spool__anchor_hold(ctx);
	return 0;
}

/* core's drop. The callback owns its handle and a reference to its task;
 * if the awaited future was freed without completing (ran false), nobody
 * else will let go of them. */
static void await_drop(void *ctx, spool_callback_fn fn, void *arg, bool ran,
		       bool posted)
{
	(void)fn;
	(void)posted;
	if (!ran) {
		struct spool_handle *h = arg;
		struct spool__loop_task *t = h->arg;
		/* Any thread: the slot stays busy (see the top). */
		if (h != &t->await.h)
			free(h);
		spool_future_release(&t->fut);
	}
	spool__anchor_release(ctx);
}

/* Recorded on the await's callback node instead of the loop's wait ops;
 * core calls only post, hold and drop of a node's ops. */
static const struct spool__wait_ops await_node_ops = {
	.post = await_post,
	.hold = await_hold,
	.drop = await_drop,
};

int spool__home_await(struct spool__loop_task *t, spool_future *f)
{
	struct spool_handle *h = await_take(t);
	if (!h)
		return SPOOL_ENOMEM;
	spool_future_retain(&t->fut); /* the callback's */
	int rc = spool__future_add_callback_via(f, await_fired, h,
						&await_node_ops, t->anchor);
	if (rc != 0) {
		spool_future_release(&t->fut);
		await_put(t, h);
	}
	return rc;
}

/* ---- tickets ---------------------------------------------------------- */

int spool__home_ticket_take(struct spool__home_ticket *k,
			    struct spool__anchor *a)
{
	k->anchor = a;
	k->sent = false;
	return reserve(a);
}

void spool__home_ticket_return(struct spool__home_ticket *k)
{
	unreserve(k->anchor);
}

bool spool__home_forward(struct spool__home_ticket *k, spool_callback_fn fn,
			 spool_future *f, void *arg)
{
	if (k->sent)
		return false; /* home now; the send spent the reservation */
	if (!spool__on_loop(k->anchor)) {
		k->sent = true; /* before the push: the loop reads it */
		if (send(k->anchor, fn, f, arg) == 0)
			return true;
		k->sent = false; /* the loop is gone: the work is done here */
	}
	unreserve(k->anchor);
	return false;
}
