/* SPDX-License-Identifier: MIT */
/*
 * Sending a callback home: how something that ends on another thread is
 * carried to the loop's thread (home.c, where each protocol is argued).
 *
 * Three things are sent home, each in a handle pushed on the anchor's
 * inbox (inbox.c, the transport):
 *   - a done-callback registered on the loop's thread (core's wait-context
 *     hooks, spool__home_post/_hold/_drop), on a spare handle reserved at
 *     the registration;
 *   - an await's wake-up (spool__home_await), on the handle the await
 *     brings (the task's own slot, or one allocated at the await);
 *   - run_in_executor's completion (a ticket, bridge.c), on a spare
 *     reserved when the bridge is made.
 * Whatever can fail (memory) fails at the registration, where the caller
 * is told; a send itself never allocates, so it fails only when the loop
 * is gone, and then the callback runs on the completing thread.
 *
 * Callers: inbox.c (the anchor's life: init, fini), task.c (the hooks in
 * the loop's wait ops, the await), bridge.c (the ticket). Nothing else
 * touches the reserve, the await slot or a ticket's fields.
 */
#ifndef SPOOL_LOOP_HOME_H
#define SPOOL_LOOP_HOME_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "handle.h"
#include "spool/future.h"

struct spool__anchor;
struct spool__loop_task;

/* The reserve: spare handles for sends that must not fail, embedded in the
 * anchor. Its invariant (nspare >= nreserved) is kept in home.c alone. */
struct spool__home {
	pthread_mutex_t mu;
	struct spool_handle *spares; /* under mu */
	size_t nspare;               /* handles on spares, under mu */
	size_t nreserved;            /* sends promised, under mu */
};

/* The anchor's life (inbox.c): an empty reserve; and, when the last
 * reference to the anchor is gone, its spares freed. */
void spool__home_init(struct spool__home *r);
void spool__home_fini(struct spool__home *r);

/* Core's wait-context hooks for done-callbacks registered on the loop's
 * thread (core/wait.h: post, hold, drop); ctx is the anchor. Any thread. */
int spool__home_post(void *ctx, spool_callback_fn fn, spool_future *f,
		     void *arg);
int spool__home_hold(void *ctx, spool_callback_fn fn);
void spool__home_drop(void *ctx, spool_callback_fn fn, void *arg, bool ran,
		      bool posted);

/* The handle an await's wake-up travels in, embedded in the task (used by
 * one await at a time; a second await while an earlier callback still
 * holds it allocates one). */
struct spool__await_slot {
	struct spool_handle h;
	/* The slot's handle belongs to an await's callback. Plain: written
	 * on the loop's thread, or on another thread only once the loop's
	 * inbox is closed, which happens after the loop's last read (home.c,
	 * "The await"). */
	bool busy;
};

/* Inside coroutine t on the loop's thread: registers on f (not final
 * when called) the callback that wakes t when f completes, wherever it
 * completes (spool__task_await_done runs on the loop's thread, or on the
 * completing thread once the loop is gone). 0, SPOOL_ENOMEM, or what
 * spool_future_add_callback returns; on failure nothing is registered. */
int spool__home_await(struct spool__loop_task *t, spool_future *f);

/* A ticket: one send home reserved in advance, for a callback that runs
 * where its future completes and sends itself home (run_in_executor). */
struct spool__home_ticket {
	struct spool__anchor *anchor;
	/* The callback is on its way home (home.c, "Tickets"). */
	bool sent;
};

/* Reserves the send: 0 or SPOOL_ENOMEM. The anchor must be held by the
 * caller for as long as the ticket lives. Any thread. */
int spool__home_ticket_take(struct spool__home_ticket *k,
			    struct spool__anchor *a);
/* Gives an unused ticket back. Any thread. */
void spool__home_ticket_return(struct spool__home_ticket *k);
/* First thing in the ticket's callback fn(f, arg): true when it has just
 * sent itself home (return at once: it runs again on the loop's thread);
 * false when it is to do its work here and now (on the loop's thread, or
 * anywhere once the loop is gone). The ticket is spent either way; it
 * answers false exactly once. */
bool spool__home_forward(struct spool__home_ticket *k, spool_callback_fn fn,
			 spool_future *f, void *arg);

#endif /* SPOOL_LOOP_HOME_H */
