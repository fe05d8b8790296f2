/* SPDX-License-Identifier: MIT */
/*
 * Task records: a task and its future are one allocation, recycled so that
 * a spawn from a worker in the steady state calls no malloc.
 *
 * Each worker keeps a free list that only it touches. A record whose last
 * reference is dropped
 *   - on a worker of the same pool goes onto that worker's free list (it
 *     changes home: the free lists only need to balance, not to keep each
 *     record with its first owner);
 *   - on any other thread is pushed onto its home worker's return stack, a
 *     Treiber stack that the home worker empties with one exchange when its
 *     free list runs dry. Pushes race only with pushes and with that
 *     exchange, never with a pop of a single node, so there is no ABA.
 * Records of tasks submitted from outside the pool have no home: they come
 * from the submitting thread's slab (slab.c: bump allocation out of a big
 * block, freed with its last record, from any thread, also after the pool
 * and the submitting thread are gone), because a thread outside the pool
 * has no free list that would outlive it.
 *
 * Futures may outlive the pool. Destroy joins the workers, then closes
 * every return stack by exchanging its head for a CLOSED mark and counts
 * the records it can see (free lists and return stacks); the records the
 * workers ever allocated minus those seen are still referenced by users.
 * Their count is added to p->orphans; a late release that finds its home's
 * stack CLOSED frees the record and subtracts one. The pool's memory (which
 * holds the homes) is freed by whichever of the two brings the count to
 * zero: the sum of +R and R times -1 is zero only once all R late releases
 * and the addition have happened, in whatever order they come.
 */
#include <stdlib.h>

#include "core/alloc.h"
#include "pool_impl.h"
#include "slab.h"

/* Bounds the records a worker keeps: beyond it, frees go to free(). */
enum { FREE_LIST_MAX = 4096 };

#define RETURNS_CLOSED ((struct spool__pool_task *)(uintptr_t)1)

static struct spool__pool_task *record_new(void)
{
	/* Cache-line aligned, so that two tasks run by two workers never
	 * share a line. */
	size_t size = (sizeof(struct spool__pool_task) + 63) & ~(size_t)63;
	return spool__aligned_alloc(64, size);
}

struct spool__pool_task *spool__task_alloc_outside(void)
{
	return spool__slab_alloc();
}

static void release_pool_memory(struct spool_pool *p, long n)
{
	/* acq_rel: the last one to bring the count to zero must see every
	 * other party done with p. */
	long old = atomic_fetch_add_explicit(&p->orphans, n,
					     memory_order_acq_rel);
	if (old + n == 0)
		free(p);
}

static void task_free(spool_future *f)
{
	struct spool__pool_task *t = (struct spool__pool_task *)f;
	struct spool__worker *home = t->home;
	if (!home) {
		spool__slab_free(t);
		return;
	}
	struct spool__worker *self = spool__self;
	if (self && self->pool == home->pool) {
		if (self->nfree < FREE_LIST_MAX) {
			t->next_free = self->free_list;
			self->free_list = t;
			self->nfree++;
		} else {
			free(t);
			self->nmalloc--;
		}
		return;
	}
	/* Relaxed first read: the CAS below validates it. */
	struct spool__pool_task *head = atomic_load_explicit(
		&home->returns, memory_order_relaxed);
	do {
		if (head == RETURNS_CLOSED) {
			/* The pool is gone: t is an orphan. */
			struct spool_pool *p = home->pool;
			free(t);
			release_pool_memory(p, -1);
			return;
		}
		t->next_free = head;
		/* Release: t's link (and everything done with t) is visible
		 * to the owner's acquiring exchange. */
	} while (!atomic_compare_exchange_weak_explicit(&home->returns, &head,
							t, memory_order_release,
							memory_order_relaxed));
}

void spool__task_record_free(struct spool__pool_task *t)
{
	task_free(&t->fut);
}

const struct spool__future_ops spool__task_ops = {
	.free = task_free,
	.cancel_running = NULL,
	.owned = true, /* only run_task() completes a pool task */
};

struct spool__pool_task *spool__task_refill(struct spool__worker *w)
{
	/* Acquire: pairs with the release CAS of each pusher. */
	struct spool__pool_task *r = atomic_exchange_explicit(
		&w->returns, NULL, memory_order_acquire);
	if (r) {
		struct spool__pool_task *t = r;
		r = r->next_free;
		while (r) {
			struct spool__pool_task *next = r->next_free;
			if (w->nfree < FREE_LIST_MAX) {
				r->next_free = w->free_list;
				w->free_list = r;
				w->nfree++;
			} else {
				free(r);
				w->nmalloc--;
			}
			r = next;
		}
		return t;
	}
	struct spool__pool_task *t = record_new();
	if (t)
		w->nmalloc++;
	return t;
}

void spool__task_heap_close(struct spool_pool *p)
{
	long allocated = 0, seen = 0;
	for (int i = 0; i < p->nworkers; i++) {
		struct spool__worker *w = &p->workers[i];
		allocated += w->nmalloc;
		while (w->free_list) {
			struct spool__pool_task *t = w->free_list;
			w->free_list = t->next_free;
			free(t);
			seen++;
		}
		w->nfree = 0;
		/* Acquire: as in refill. From here on, releasers see CLOSED. */
		struct spool__pool_task *r = atomic_exchange_explicit(
			&w->returns, RETURNS_CLOSED, memory_order_acquire);
		while (r) {
			struct spool__pool_task *next = r->next_free;
			free(r);
			seen++;
			r = next;
		}
	}
	release_pool_memory(p, allocated - seen);
}
