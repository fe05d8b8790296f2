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
 *     closable stack (core/lifo.h) that the home worker empties with one
 *     take when its free list runs dry.
 * Records of tasks submitted from outside the pool have no home: they come
 * from the submitting thread's slab (core/slab.c: bump allocation out of a big
 * block, freed with its last record, from any thread, also after the pool
 * and the submitting thread are gone), because a thread outside the pool
 * has no free list that would outlive it.
 *
 * Futures may outlive the pool. Destroy joins the workers, then closes
 * every return stack (taking what it holds) and counts the records it can
 * see (free lists and return stacks); the records the workers ever
 * allocated minus those seen are still referenced by users. Their count
 * is added to p->orphans; a late release whose push onto its home's stack
 * is refused (closed) frees the record and subtracts one. The pool's
 * memory (which holds the homes) is freed by whichever of the two brings
 * the count to zero: the sum of +R and R times -1 is zero only once all R
 * late releases and the addition have happened, in whatever order they
 * come.
 *
 * Big records (pool_impl.h: a tail for spool_submit_copy's argument) have
 * a free list of their own on each worker and share the return stack; a
 * record's ops says which size it is, also after its last release.
 */
#include <stdlib.h>

#include "core/alloc.h"
#include "core/slab.h"
#include "pool_impl.h"

/* Outside submissions cut records out of the slab: one slot a record, two
 * a big one. */
_Static_assert(SPOOL__TASK_SLOT == SPOOL__SLAB_SLOT, "a record is one slot");
_Static_assert(_Alignof(struct spool__pool_task) <= 16, "slots are 16-aligned");
_Static_assert(2 * SPOOL__SLAB_SLOT == SPOOL__TASK_BIG,
	       "a big record is two slots");

/* Bounds the records a worker keeps: beyond it, frees go to free(). */
enum { FREE_LIST_MAX = 4096 };

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

struct spool__pool_task *spool__task_alloc_outside_big(void)
{
	return spool__slab_alloc2();
}

static bool is_big(const struct spool__pool_task *t)
{
	return t->fut.ops == &spool__task_ops_big;
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

/* Puts t on w's free list of its size, or frees it when that is full.
 * The usual size first, with one compare for the other. */
static void keep(struct spool__worker *w, struct spool__pool_task *t)
{
	if (__builtin_expect(is_big(t), 0)) {
		if (w->nfree_big < FREE_LIST_MAX) {
			t->next_free = w->free_list_big;
			w->free_list_big = t;
			w->nfree_big++;
		} else {
			free(t);
			w->nmalloc--;
		}
	} else if (w->nfree < FREE_LIST_MAX) {
		t->next_free = w->free_list;
		w->free_list = t;
		w->nfree++;
	} else {
		free(t);
		w->nmalloc--;
	}
}

static void task_free(spool_future *f)
{
	struct spool__pool_task *t = (struct spool__pool_task *)f;
	struct spool__worker *home = t->home;
	if (!home) {
		if (__builtin_expect(is_big(t), 0))
			spool__slab_free2(t);
		else
			spool__slab_free(t);
		return;
	}
	struct spool__worker *self = spool__self;
	if (self && self->pool == home->pool) {
		keep(self, t);
		return;
	}
	/* The push releases everything done with t to the owner's take. */
	if (!spool__lifo_push(&home->returns, &t->ret)) {
		/* Closed: the pool is gone and t is an orphan. */
		struct spool_pool *p = home->pool;
		free(t);
		release_pool_memory(p, -1);
	}
}

/* The record whose return-stack node is n. */
static struct spool__pool_task *returned(struct spool__lifo_node *n)
{
	return spool__lifo_entry(n, struct spool__pool_task, ret);
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

const struct spool__future_ops spool__task_ops_big = {
	.free = task_free,
	.cancel_running = NULL,
	.owned = true,
};

/* Empties w's return stack onto its free lists (each record by its size:
 * its ops, untouched since its last life). */
static void take_returns(struct spool__worker *w)
{
	/* The take acquires what each pusher released (core/lifo.h). */
	struct spool__lifo_node *r = spool__lifo_take(&w->returns);
	while (r) {
		/* ret and next_free share a word: read on first. */
		struct spool__lifo_node *next = r->next;
		keep(w, returned(r));
		r = next;
	}
}

struct spool__pool_task *spool__task_refill(struct spool__worker *w)
{
	take_returns(w);
	struct spool__pool_task *t = w->free_list;
	if (t) {
		w->free_list = t->next_free;
		w->nfree--;
		return t;
	}
	t = record_new();
	if (t)
		w->nmalloc++;
	return t;
}

struct spool__pool_task *spool__task_refill_big(struct spool__worker *w)
{
	take_returns(w);
	struct spool__pool_task *t = w->free_list_big;
	if (t) {
		w->free_list_big = t->next_free;
		w->nfree_big--;
		return t;
	}
	/* aligned_alloc wants a multiple of the alignment (ASan checks):
	 * two 144-byte slots are 288 bytes. */
	t = spool__aligned_alloc(64, (SPOOL__TASK_BIG + 63) & ~(size_t)63);
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
		while (w->free_list_big) {
			struct spool__pool_task *t = w->free_list_big;
			w->free_list_big = t->next_free;
			free(t);
			seen++;
		}
		w->nfree_big = 0;
		/* From here on, releasers' pushes are refused. */
		struct spool__lifo_node *r = spool__lifo_close(&w->returns);
		while (r) {
			struct spool__lifo_node *next = r->next;
			free(returned(r));
			seen++;
			r = next;
		}
	}
	release_pool_memory(p, allocated - seen);
}
