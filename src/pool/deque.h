/* SPDX-License-Identifier: MIT */
/*
 * The per-worker work-stealing deque (never installed).
 *
 * A Chase-Lev deque: D. Chase and Y. Lev, "Dynamic Circular Work-Stealing
 * Deque", SPAA 2005, in the C11 formulation and with the memory orders
 * proven correct by N. M. Le, A. Pop, A. Cohen and F. Zappa Nardelli,
 * "Correct and Efficient Work-Stealing for Weak Memory Models", PPoPP 2013
 * (their Fig. 1). One owner thread pushes and pops at the bottom (LIFO: the
 * newest task, whose data is still in cache); any number of thieves steal
 * at the top (FIFO: the oldest task, typically the biggest piece of a
 * divide-and-conquer tree).
 *
 * Indices are signed 64-bit and only grow: top counts steals and successful
 * last-item pops, bottom counts pushes minus pops. bottom - top is the size;
 * it is briefly -1 while the owner pops from an empty deque, which is why
 * the indices are signed (as in both papers). At one push per nanosecond
 * they overflow after 292 years.
 *
 * Memory orders, each from Le et al. unless said otherwise:
 *   push:  the load of top is acquire, pairing with the thieves' CAS on top,
 *          so a slot a thief read before advancing top is not overwritten
 *          under it; the slot store is relaxed (slots are atomics only so
 *          that a racing thief's read is not a data race); bottom is
 *          published with a RELEASE STORE where the paper has a release
 *          fence followed by a relaxed store: it is the same instruction
 *          on x86-64 and one stlr on AArch64, and ThreadSanitizer, which does
 *          not model fences, then sees that the slot and everything the
 *          owner wrote into the task happen before a thief's acquire load of
 *          bottom.
 *   pop:   bottom is decremented with a store, then a SEQ_CST FENCE, then
 *          top is read. The fence is the heart of the algorithm: with the
 *          thief's seq_cst fence between its loads of top and bottom it
 *          forms a Dekker pattern, so the owner and a thief cannot both
 *          miss each other's claim on the last item; if they meet on it,
 *          the seq_cst CAS on top picks one winner. The restoring stores of
 *          bottom are release (relaxed in the paper) for the same
 *          ThreadSanitizer reason as push: C11 counts a thread's later plain
 *          stores into a release sequence, C++20 and TSan do not. (A
 *          seq_cst exchange on bottom in place of the store and the fence
 *          is as correct in C11, and one instruction on x86, but measured
 *          slower there: fib(32) by joins on one worker took 10% longer.)
 *   steal: top is loaded with acquire, then a SEQ_CST FENCE (the other half
 *          of the Dekker pattern), then bottom with acquire (pairs with the
 *          owner's release store in push, making the slot and the task
 *          visible). The buffer pointer is loaded with acquire (the paper's
 *          consume, which compilers implement as acquire) so that a buffer
 *          installed by growth is seen fully copied. The CAS on top is
 *          seq_cst as in the paper; on failure the thief has lost a race
 *          (to the owner or another thief) and reports it instead of
 *          retrying, so that the caller can move on to another victim.
 *
 * Growth is done by the owner only, inside push, when the buffer is full:
 * it copies the live range [top, bottom) into a buffer twice as big and
 * publishes it with a release store. A thief that loaded the old buffer
 * pointer may still read a slot from it, and that read is correct (the
 * slot holds the same item in both buffers until the owner overwrites it,
 * which needs top to have moved past it, which makes that thief's CAS
 * fail). So the old buffer must stay readable as long as any thief might
 * hold its pointer. We keep retired buffers on an owner-private list and
 * free them when the deque is destroyed (after every thief is gone),
 * rather than with Concurrency Kit's epochs: an epoch section would add two
 * stores and a fence to every steal, while the retired buffers of a
 * doubling deque together are smaller than the live one, so keeping them
 * at most doubles the deque's memory, and only for deques that grew.
 *
 * Why static inline in this header: push and pop are on the spawn path of
 * every task and must inline into the pool's code, and test_deque.c
 * includes this header to test exactly the code the pool runs, without
 * exporting internal symbols from a library built with hidden visibility.
 */
#ifndef SPOOL_POOL_DEQUE_H
#define SPOOL_POOL_DEQUE_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "fence.h"
#include "spool/error.h"

struct spool__deque_buf {
	int64_t mask;                  /* capacity - 1; capacity is 2^k */
	struct spool__deque_buf *prev; /* retired-list link (owner only) */
	_Atomic(void *) slot[];
};

struct spool__deque {
	/* top is written by thieves (CAS) and bottom by the owner: separate
	 * cache lines, so that pushes do not invalidate the thieves' line. */
	alignas(64) _Atomic int64_t top;
	alignas(64) _Atomic int64_t bottom;
	_Atomic(struct spool__deque_buf *) buf;
	struct spool__deque_buf *retired; /* owner only */
};

/* What a steal found. */
enum spool__steal_result {
	SPOOL__STEAL_EMPTY = 0, /* nothing to take */
	SPOOL__STEAL_LOST = 1,  /* something was there, another taker won */
	SPOOL__STEAL_ITEM = 2,  /* *item holds the stolen item */
};

static inline struct spool__deque_buf *spool__deque_buf_new(int64_t cap)
{
	struct spool__deque_buf *b = spool__malloc(
		sizeof *b + (size_t)cap * sizeof(_Atomic(void *)));
	if (b) {
		b->mask = cap - 1;
		b->prev = NULL;
	}
	return b;
}

/* Makes an empty deque with room for 2^log2_cap items before it first
 * grows. Not thread-safe (the deque is not shared yet). Returns 0 or
 * SPOOL_ENOMEM. */
static inline int spool__deque_init(struct spool__deque *q, unsigned log2_cap)
{
	struct spool__deque_buf *b = spool__deque_buf_new((int64_t)1
							  << log2_cap);
	if (!b)
		return SPOOL_ENOMEM;
	atomic_init(&q->top, 0);
	atomic_init(&q->bottom, 0);
	atomic_init(&q->buf, b);
	q->retired = NULL;
	return 0;
}

/* Frees the deque's buffers, including the retired ones. Items still in it
 * are forgotten. Only once no thread can touch q any more. */
static inline void spool__deque_fini(struct spool__deque *q)
{
	free(atomic_load_explicit(&q->buf, memory_order_relaxed));
	while (q->retired) {
		struct spool__deque_buf *b = q->retired;
		q->retired = b->prev;
		free(b);
	}
}

/* Owner only, cold: replaces the full buffer a by one twice as big holding
 * the same items at the same indices. Returns the new buffer or NULL. */
__attribute__((noinline, cold, unused)) static struct spool__deque_buf *
spool__deque_grow(struct spool__deque *q, struct spool__deque_buf *a, int64_t t,
		  int64_t b)
{
	struct spool__deque_buf *n = spool__deque_buf_new(2 * (a->mask + 1));
	if (!n)
		return NULL;
	for (int64_t i = t; i < b; i++) {
		/* Relaxed: the items are ours (pushed by this thread) and the
		 * new buffer is published by the release store below. */
		void *x = atomic_load_explicit(&a->slot[i & a->mask],
					       memory_order_relaxed);
		atomic_store_explicit(&n->slot[i & n->mask], x,
				      memory_order_relaxed);
	}
	/* Release: a thief that acquires the new pointer sees the copies. */
	atomic_store_explicit(&q->buf, n, memory_order_release);
	a->prev = q->retired;
	q->retired = a;
	return n;
}

/* Owner only: pushes x (not NULL) at the bottom. Returns 0, or SPOOL_ENOMEM
 * when the deque was full and could not grow (x is then not pushed).
 * Lock-free; never blocks. */
static inline int spool__deque_push(struct spool__deque *q, void *x)
{
	/* Relaxed: only this thread writes bottom. */
	int64_t b = atomic_load_explicit(&q->bottom, memory_order_relaxed);
	int64_t t = atomic_load_explicit(&q->top, memory_order_acquire);
	/* Relaxed: only this thread writes buf. */
	struct spool__deque_buf *a = atomic_load_explicit(&q->buf,
							  memory_order_relaxed);
	if (__builtin_expect(b - t > a->mask, 0)) {
		a = spool__deque_grow(q, a, t, b);
		if (!a)
			return SPOOL_ENOMEM;
	}
	atomic_store_explicit(&a->slot[b & a->mask], x, memory_order_relaxed);
	atomic_store_explicit(&q->bottom, b + 1, memory_order_release);
	return 0;
}

/* Owner only: takes the newest item, or NULL when the deque is empty.
 * Lock-free; never blocks. */
static inline void *spool__deque_pop(struct spool__deque *q)
{
	int64_t b = atomic_load_explicit(&q->bottom, memory_order_relaxed) - 1;
	struct spool__deque_buf *a = atomic_load_explicit(&q->buf,
							  memory_order_relaxed);
	atomic_store_explicit(&q->bottom, b, memory_order_release);
	spool__fence_seq_cst();
	int64_t t = atomic_load_explicit(&q->top, memory_order_relaxed);
	if (t > b) {
		/* Empty: undo the decrement. */
		atomic_store_explicit(&q->bottom, b + 1, memory_order_release);
		return NULL;
	}
	void *x = atomic_load_explicit(&a->slot[b & a->mask],
				       memory_order_relaxed);
	if (t == b) {
		/* The last item: race the thieves for it on top. */
		if (!atomic_compare_exchange_strong_explicit(
			    &q->top, &t, t + 1, memory_order_seq_cst,
			    memory_order_relaxed))
			x = NULL;
		atomic_store_explicit(&q->bottom, b + 1, memory_order_release);
	}
	return x;
}

/* Owner only: spool__deque_push() that returns the index the item went to
 * (for spool__deque_pop_at), or -1 when the deque was full and could not
 * grow (x is then not pushed). */
static inline int64_t spool__deque_push_at(struct spool__deque *q, void *x)
{
	/* Orders and reasons as in spool__deque_push. */
	int64_t b = atomic_load_explicit(&q->bottom, memory_order_relaxed);
	int64_t t = atomic_load_explicit(&q->top, memory_order_acquire);
	struct spool__deque_buf *a = atomic_load_explicit(&q->buf,
							  memory_order_relaxed);
	if (__builtin_expect(b - t > a->mask, 0)) {
		a = spool__deque_grow(q, a, t, b);
		if (!a)
			return -1;
	}
	atomic_store_explicit(&a->slot[b & a->mask], x, memory_order_relaxed);
	atomic_store_explicit(&q->bottom, b + 1, memory_order_release);
	return b;
}

/* Owner only: takes back the item this thread pushed at index i, if it is
 * still the newest item and no thief has taken it; returns whether it did.
 * spool__deque_pop() for a caller that knows what it pushed: the same
 * steps (a store of bottom, the fence, a load of top, a CAS on top for
 * the last item), without reading the slot. When i is not the newest
 * (bottom is not i + 1: items were pushed above it and left, or it was
 * popped already) the deque is left alone; when a thief took it, bottom
 * is restored as pop restores it. Lock-free; never blocks. */
static inline bool spool__deque_pop_at(struct spool__deque *q, int64_t i)
{
	/* Relaxed: only this thread writes bottom. */
	if (atomic_load_explicit(&q->bottom, memory_order_relaxed) != i + 1)
		return false;
	atomic_store_explicit(&q->bottom, i, memory_order_release);
	spool__fence_seq_cst();
	int64_t t = atomic_load_explicit(&q->top, memory_order_relaxed);
	if (__builtin_expect(t < i, 1))
		return true; /* not the last: no thief can reach it now */
	bool taken = t == i && atomic_compare_exchange_strong_explicit(
				       &q->top, &t, t + 1, memory_order_seq_cst,
				       memory_order_relaxed);
	atomic_store_explicit(&q->bottom, i + 1, memory_order_release);
	return taken;
}

/* Any thread: tries once to take the oldest item. Returns
 * SPOOL__STEAL_ITEM with *item set, SPOOL__STEAL_EMPTY, or SPOOL__STEAL_LOST
 * when another thread took the item first (the deque may still hold more).
 * Lock-free; never blocks. */
static inline enum spool__steal_result
spool__deque_steal(struct spool__deque *q, void **item)
{
	int64_t t = atomic_load_explicit(&q->top, memory_order_acquire);
	spool__fence_seq_cst();
	int64_t b = atomic_load_explicit(&q->bottom, memory_order_acquire);
	if (t >= b)
		return SPOOL__STEAL_EMPTY;
	struct spool__deque_buf *a = atomic_load_explicit(&q->buf,
							  memory_order_acquire);
	void *x = atomic_load_explicit(&a->slot[t & a->mask],
				       memory_order_relaxed);
	if (!atomic_compare_exchange_strong_explicit(&q->top, &t, t + 1,
						     memory_order_seq_cst,
						     memory_order_relaxed))
		return SPOOL__STEAL_LOST;
	*item = x;
	return SPOOL__STEAL_ITEM;
}

/* Any thread: bottom - top at some recent instant, clamped at 0. A hint
 * for idle checks; exact only when the deque is quiescent. Relaxed loads:
 * callers that need ordering put their own fence before the call. */
static inline int64_t spool__deque_size(struct spool__deque *q)
{
	int64_t t = atomic_load_explicit(&q->top, memory_order_relaxed);
	int64_t b = atomic_load_explicit(&q->bottom, memory_order_relaxed);
	return b > t ? b - t : 0;
}

#endif /* SPOOL_POOL_DEQUE_H */
