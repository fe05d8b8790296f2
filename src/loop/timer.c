/* SPDX-License-Identifier: MIT */
/*
 * Timers: a binary min-heap of handles ordered by (deadline, scheduling
 * sequence), so timers with equal deadlines run in the order they were
 * scheduled (J. W. J. Williams, "Algorithm 232: Heapsort", CACM 7(6), 1964;
 * asyncio keeps its TimerHandles in a heapq the same way).
 *
 * Cancellation is lazy, as in asyncio: a cancelled timer stays in the heap
 * and is dropped when it reaches the top. So that many cancelled timers
 * (every await with a timeout that ends early leaves one) do not pile up,
 * the heap is rebuilt without them, in O(n), when more than half of a heap
 * of more than 100 entries is cancelled (asyncio's
 * _MIN_SCHEDULED_TIMER_HANDLES and _MIN_CANCELLED_TIMER_HANDLES_FRACTION).
 *
 * Push and pop cost O(log n); all of it runs on the loop's thread.
 */
#include <stdlib.h>

#include "core/alloc.h"
#include "loop_impl.h"

enum { MIN_HEAP_FOR_REBUILD = 100 };

/* Heap entries carry their deadline, so that sifting compares within the
 * array instead of loading each handle (100,000 sleeping coroutines make
 * 100,000 handles scattered over malloc's heap: a cache miss per level was
 * most of a pop). Only equal deadlines, rare with nanosecond clocks, load
 * the handles for their sequence numbers. */
static bool before(const struct spool__timer_entry *a,
		   const struct spool__timer_entry *b)
{
	return a->when < b->when ||
	       (a->when == b->when && a->h->seq < b->h->seq);
}

static void sift_up(struct spool__timer_entry *v, size_t i)
{
	struct spool__timer_entry e = v[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!before(&e, &v[parent]))
			break;
		v[i] = v[parent];
		i = parent;
	}
	v[i] = e;
}

static void sift_down(struct spool__timer_entry *v, size_t n, size_t i)
{
	struct spool__timer_entry e = v[i];
	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= n)
			break;
		if (child + 1 < n && before(&v[child + 1], &v[child]))
			child++;
		if (!before(&v[child], &e))
			break;
		v[i] = v[child];
		i = child;
	}
	v[i] = e;
}

/* Removes the top: the hole it leaves goes down the smaller child all the
 * way to a leaf, and the last entry fills it from there, going up. The last
 * entry is among the latest deadlines, so it almost always stays near the
 * bottom: one comparison per level instead of two (Floyd's variant of the
 * sift, Knuth TAOCP vol. 3, 5.2.3 exercise 18). */
static void remove_top(struct spool__timer_entry *v, size_t n)
{
	size_t i = 0;
	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= n)
			break;
		if (child + 1 < n && before(&v[child + 1], &v[child]))
			child++;
		v[i] = v[child];
		i = child;
	}
	if (i != n) {
		v[i] = v[n];
		sift_up(v, i);
	}
}

int spool__timer_push(spool_loop *loop, struct spool_handle *h)
{
	struct spool__timer_heap *t = &loop->timers;
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 64;
		struct spool__timer_entry *v = spool__realloc(t->v,
							      cap * sizeof *v);
		if (!v)
			return SPOOL_ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	h->seq = loop->timer_seq++;
	h->in_heap = true;
	t->v[t->n] = (struct spool__timer_entry){h->when, h};
	t->n++;
	sift_up(t->v, t->n - 1);
	return 0;
}

static struct spool_handle *pop(spool_loop *loop)
{
	struct spool__timer_heap *t = &loop->timers;
	struct spool_handle *top = t->v[0].h;
	/* [0, n) less its top, with the last entry at index n. */
	t->n--;
	remove_top(t->v, t->n);
	top->in_heap = false;
	return top;
}

void spool__timer_cancelled(spool_loop *loop)
{
	loop->timers_cancelled++;
}

/* A cancelled handle leaves the heap: the loop drops its reference. */
static void drop_cancelled(spool_loop *loop, struct spool_handle *h)
{
	loop->timers_cancelled--;
	h->done = true;
	spool__handle_unref(h);
}

void spool__timers_cleanup(spool_loop *loop)
{
	struct spool__timer_heap *t = &loop->timers;
	if (t->n > MIN_HEAP_FOR_REBUILD && loop->timers_cancelled * 2 > t->n) {
		size_t k = 0;
		for (size_t i = 0; i < t->n; i++) {
			struct spool_handle *h = t->v[i].h;
			if (h->cancelled) {
				h->in_heap = false;
				drop_cancelled(loop, h);
			} else {
				t->v[k++] = t->v[i];
			}
		}
		t->n = k;
		/* Floyd's bottom-up heap construction, O(n). */
		for (size_t i = t->n / 2; i-- > 0;)
			sift_down(t->v, t->n, i);
	}
	while (t->n && t->v[0].h->cancelled)
		drop_cancelled(loop, pop(loop));
}

/* How late a timer due at `when` fires at `now` (>= 0), saturating: a
 * deadline may be anything down to INT64_MIN. */
static int64_t lateness(int64_t now, int64_t when)
{
	return when < now - INT64_MAX ? INT64_MAX : now - when;
}

void spool__timers_expire(spool_loop *loop, int64_t now)
{
	struct spool__timer_heap *t = &loop->timers;
	while (t->n && t->v[0].when <= now) {
		struct spool_handle *h = pop(loop);
		if (h->cancelled) {
			drop_cancelled(loop, h);
		} else if (h->ops == &spool__wake_ops) {
			/* Wake the coroutine now rather than via the ready
			 * queue: it resumes in this iteration. */
			struct spool__loop_task *task = h->arg;
			task->timer = NULL;
			h->done = true;
			spool__trace_timer(&task->fut, lateness(now, h->when));
			spool__task_wake(task, h->wake_rc);
			spool__handle_unref(h);
		} else {
			spool__trace_timer(NULL, lateness(now, h->when));
			spool__ready_push(loop, h);
		}
	}
}

void spool__timers_free(spool_loop *loop)
{
	struct spool__timer_heap *t = &loop->timers;
	while (t->n) {
		struct spool_handle *h = pop(loop);
		h->done = true;
		h->cancelled = true;
		spool__handle_unref(h);
	}
	loop->timers_cancelled = 0;
	free(t->v);
	t->v = NULL;
	t->cap = 0;
}

/* A wake timer never joins the ready queue: timers_expire wakes its task
 * at once. At destroy it is dropped like any timer. */
static void wake_run(spool_loop *loop, struct spool_handle *h)
{
	(void)loop;
	(void)h;
	spool__bug("loop ready queue", "a wake timer in the ready queue");
}

static void wake_finish(spool_loop *loop, struct spool_handle *h)
{
	(void)loop;
	h->cancelled = h->done = true;
	spool__handle_unref(h);
}

const struct spool__handle_ops spool__wake_ops = {
	.run = wake_run,
	.finish = wake_finish,
	.recycled = true,
};

struct spool_handle *spool__timer_wake(spool_loop *loop,
				       struct spool__loop_task *task,
				       int64_t when, int rc)
{
	struct spool_handle *h = spool__handle_new(loop, &spool__wake_ops);
	if (!h)
		return NULL;
	h->arg = task;
	h->wake_rc = rc;
	h->when = when;
	if (spool__timer_push(loop, h) != 0) {
		h->loop = NULL;
		spool__handle_unref(h);
		return NULL;
	}
	return h;
}

void spool__timer_disarm(spool_loop *loop, struct spool_handle *h)
{
	if (h->in_heap && !h->cancelled) {
		h->cancelled = true;
		spool__timer_cancelled(loop);
	}
}
