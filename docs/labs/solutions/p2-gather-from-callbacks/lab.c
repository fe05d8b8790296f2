/* SPDX-License-Identifier: MIT */
/*
 * Lab P2, a solution: a gather made of a promise, one done-callback per
 * input and an atomic counter.
 *
 * The counter holds one count per callback still to run plus one for
 * lab_gather() itself while it registers them, so that inputs already
 * final (whose callbacks run inside spool_future_add_callback) cannot
 * finish the gather before the last input has been registered. The
 * callback that takes the count to zero owns the state: it completes the
 * promise with the values (unless a failure already completed it, in
 * which case nobody will read them and it frees them), drops the state's
 * reference to the promise and frees the state.
 *
 * Why the values are safe to read: each slot is written by one callback
 * before its fetch_sub (release); the last callback's fetch_sub (acquire)
 * sees every one of them, and spool_promise_set_result publishes them to
 * whoever sees the gather DONE.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "lab.h"

struct gather;

struct slot {
	struct gather *g;
	size_t i;
};

struct gather {
	spool_future *promise; /* the state's own reference */
	void **values;         /* n values; handed to the caller on DONE */
	atomic_size_t
		pending;     /* callbacks still to run, +1 while registering */
	struct slot slots[]; /* one per input: each callback's argument */
};

/* Drops one count; the last one completes the promise and frees the
 * state. */
static void count_down(struct gather *g)
{
	/* acq_rel: release this slot's write, and the last one acquires
	 * every other slot's (see the top). */
	if (atomic_fetch_sub_explicit(&g->pending, 1, memory_order_acq_rel) !=
	    1)
		return;
	/* Fails with SPOOL_ESTATE when an input's failure came first: the
	 * values are then nobody's but ours. */
	if (spool_promise_set_result(g->promise, g->values) != 0)
		free(g->values);
	spool_future_release(g->promise);
	free(g);
}

static void on_input_done(spool_future *f, void *arg)
{
	struct slot *s = arg;
	struct gather *g = s->g;
	if (spool_future_state(f) == SPOOL_DONE)
		g->values[s->i] = spool_future_value(f);
	else
		spool_promise_set_error(g->promise, spool_future_error(f));
	count_down(g);
}

spool_future *lab_gather(spool_future *const *fs, size_t n)
{
	spool_future *promise = spool_promise_new();
	if (!promise)
		return NULL;
	if (n == 0) {
		spool_promise_set_result(promise, NULL);
		return promise;
	}
	struct gather *g = malloc(sizeof(*g) + n * sizeof(g->slots[0]));
	void **values = calloc(n, sizeof(*values));
	if (!g || !values) {
		free(g);
		free(values);
		spool_future_release(promise);
		return NULL;
	}
	g->promise = spool_future_retain(promise);
	g->values = values;
	atomic_init(&g->pending, n + 1);
	for (size_t i = 0; i < n; i++) {
		g->slots[i] = (struct slot){.g = g, .i = i};
		if (spool_future_add_callback(fs[i], on_input_done,
					      &g->slots[i]) != 0) {
			/* No memory for this callback: fail the gather, and
			 * count down the callbacks that will never run. */
			spool_promise_set_error(promise, SPOOL_ENOMEM);
			for (size_t j = i; j < n; j++)
				count_down(g);
			/* g is still ours: our own count is still held. */
			break;
		}
	}
	count_down(g); /* registration is over */
	return promise;
}
