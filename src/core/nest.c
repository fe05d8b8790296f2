/* SPDX-License-Identifier: MIT */
/* The trampoline that bounds nesting through futures (see nest.h). */
#include "nest.h"

#include <stdint.h>
#include <stdlib.h>

#include "future_impl.h"

/* Levels run at once before work is queued. Each level of a then-chain
 * costs a few hundred bytes of stack (more under sanitizers), so 16 keep
 * a chain well inside the smallest coroutine stack (16 KiB). */
enum { NEST_MAX = 16 };

struct nest_queue {
	uintptr_t *items; /* a future with its kind in the low two bits */
	size_t head, n, cap;
};

static SPOOL__TLS unsigned depth;
static SPOOL__TLS struct nest_queue queue;

_Static_assert(_Alignof(spool_future) >= 4, "two low bits for the kind");

static bool push(spool_future *f, enum spool__nest_kind kind)
{
	struct nest_queue *q = &queue;
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 16;
		/* Plain realloc, not the failure-injecting seam: a failure
		 * here changes nothing the caller can see. */
		uintptr_t *items = realloc(q->items, cap * sizeof *items);
		if (!items)
			return false;
		q->items = items;
		q->cap = cap;
	}
	q->items[q->n++] = (uintptr_t)f | (uintptr_t)kind;
	return true;
}

bool spool__nest_enter(spool_future *f, enum spool__nest_kind kind)
{
	if (depth < NEST_MAX || !push(f, kind)) {
		depth++;
		return true;
	}
	return false;
}

/* Runs the queue at level one: each item may nest NEST_MAX - 1 deeper and
 * queue more, which this loop then runs too. */
static void drain(void)
{
	struct nest_queue *q = &queue;
	while (q->head < q->n) {
		uintptr_t it = q->items[q->head++];
		spool__nest_run((spool_future *)(it & ~(uintptr_t)3),
				(enum spool__nest_kind)(it & 3));
	}
	free(q->items);
	*q = (struct nest_queue){0};
}

void spool__nest_leave(void)
{
	if (depth == 1 && queue.head < queue.n)
		drain();
	depth--;
}

void spool__nest_flush(void)
{
	if (queue.head == queue.n)
		return;
	unsigned saved = depth;
	depth = 1;
	drain();
	depth = saved;
}

void spool__future_cancel_nested(spool_future *f)
{
	spool_future_retain(f);
	if (!spool__nest_enter(f, SPOOL__NEST_CANCEL))
		return; /* the queue took the reference */
	spool_future_cancel(f);
	spool__nest_leave();
	spool_future_release(f);
}
