/* SPDX-License-Identifier: MIT */
/* The trampoline that bounds nesting through futures (see nest.h). */
#include "nest.h"

#include <stdint.h>
#include <stdlib.h>

struct nest_queue {
	uintptr_t *items; /* a future with its kind in the low two bits */
	size_t head, n, cap;
};

SPOOL__TLS unsigned spool__nest_depth;
SPOOL__TLS bool spool__nest_queued;
static SPOOL__TLS struct nest_queue queue;

_Static_assert(_Alignof(spool_future) >= 4, "two low bits for the kind");

bool spool__nest_queue(spool_future *f, enum spool__nest_kind kind)
{
	struct nest_queue *q = &queue;
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 16;
		/* Plain realloc, not the failure-injecting seam: a failure
		 * here changes nothing the caller can see (the work runs at
		 * once instead). */
		uintptr_t *items = realloc(q->items, cap * sizeof *items);
		if (!items)
			return false;
		q->items = items;
		q->cap = cap;
	}
	if (kind != SPOOL__NEST_DESTROY)
		spool_future_retain(f);
	q->items[q->n++] = (uintptr_t)f | (uintptr_t)kind;
	spool__nest_queued = true;
	return true;
}

/* Runs the queue at level one: each item may nest SPOOL__NEST_MAX - 1
 * deeper and queue more, which this loop then runs too. */
void spool__nest_drain(void)
{
	struct nest_queue *q = &queue;
	while (q->head < q->n) {
		uintptr_t it = q->items[q->head++];
		spool__nest_run((spool_future *)(it & ~(uintptr_t)3),
				(enum spool__nest_kind)(it & 3));
	}
	free(q->items);
	*q = (struct nest_queue){0};
	spool__nest_queued = false;
}

void spool__nest_flush_queued(void)
{
	unsigned saved = spool__nest_depth;
	spool__nest_depth = 1;
	spool__nest_drain();
	spool__nest_depth = saved;
}

void spool__future_cancel_nested(spool_future *f)
{
	if (!spool__nest_enter(f, SPOOL__NEST_CANCEL))
		return; /* queued, with a reference of its own */
	spool_future_cancel(f);
	spool__nest_leave();
}
