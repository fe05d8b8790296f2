/* SPDX-License-Identifier: MIT */
/*
 * The injection queue: how tasks submitted from outside the pool reach the
 * workers (never installed).
 *
 * An intrusive multi-producer queue after D. Vyukov's "Intrusive MPSC
 * node-based queue" (1024cores.net, 2010): a producer swaps itself in as
 * the tail with one atomic exchange and then links the previous tail to
 * itself, so a push is wait-free and allocates nothing (the link lives in
 * the task record). The single-consumer side is shared by the workers
 * through a try-lock: a worker that finds the lock taken moves on (another
 * worker is already taking work from here) instead of waiting.
 *
 * Why not Concurrency Kit's ck_fifo_mpmc or ck_ring: ck_ring is bounded (a
 * burst of a million outside submissions would need a second, unbounded
 * path), and ck_fifo_mpmc is not intrusive, so each push would need a node
 * from a type-stable allocator (its nodes are recycled under readers that
 * may still look at them), and its ck_pr atomics are invisible to
 * ThreadSanitizer, so the task data it carries would need extra C11
 * release/acquire pairs to be seen as synchronised. And it is slower:
 * test/pool_inject_bench.c times one producer against two consumers
 * through this queue, ck_fifo_mpmc and a mutex-protected list (run it to
 * compare them on your machine).
 *
 * Spurious emptiness. Between a producer's exchange and its link, the
 * consumer can see the queue's head with no successor although the tail
 * has moved: pop then reports SPOOL__INJECT_RETRY, an item exists that
 * cannot be taken yet. The same happens while another worker holds the
 * consumer lock. Neither is "empty": spool__inject_maybe_nonempty() looks
 * at the tail, which a producer moves in its very first step, and the
 * parking protocol (park.c) calls it, after its seq_cst fence, before a
 * worker is allowed to sleep. test_deque.c stops a producer between the
 * two steps and checks both answers.
 *
 * Memory orders: the exchange on tail is acq_rel: its release makes the
 * new node's NULL link happen before the next producer's store into that
 * link (which the NULL would otherwise overwrite), its acquire is that
 * next producer's half of the pair. The link store is release and the
 * consumer's load of a link is acquire, which carries the task data from
 * each producer to the consumer.
 */
#ifndef SPOOL_POOL_INJECT_H
#define SPOOL_POOL_INJECT_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* The link embedded in every queued item. */
struct spool__inject_node {
	_Atomic(struct spool__inject_node *) next;
};

struct spool__inject {
	/* Producers swap tail; the consumer walks head: separate lines. */
	alignas(64) _Atomic(struct spool__inject_node *) tail;
	alignas(64) _Atomic(struct spool__inject_node *) head; /* consumer */
	atomic_flag consumer;                                  /* try-lock */
	struct spool__inject_node stub;
};

enum spool__inject_result {
	SPOOL__INJECT_EMPTY = 0, /* nothing queued */
	SPOOL__INJECT_ITEM = 1,  /* *out holds the oldest item */
	SPOOL__INJECT_RETRY = 2, /* something is queued but cannot be taken
				    now: a push is half done, or another
				    consumer holds the lock */
};

/* Not thread-safe: before the queue is shared. */
static inline void spool__inject_init(struct spool__inject *q)
{
	atomic_init(&q->stub.next, NULL);
	atomic_init(&q->tail, &q->stub);
	atomic_init(&q->head, &q->stub);
	atomic_flag_clear(&q->consumer);
}

/* Producer step 1: becomes the tail; returns the previous tail, which the
 * producer must link to n with spool__inject_link(). Split from the push so
 * that a test can stop a producer between the steps. */
static inline struct spool__inject_node *
spool__inject_swap_tail(struct spool__inject *q, struct spool__inject_node *n)
{
	/* Relaxed: n is published by the exchange's release. */
	atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
	return atomic_exchange_explicit(&q->tail, n, memory_order_acq_rel);
}

/* Producer step 2. */
static inline void spool__inject_link(struct spool__inject_node *prev,
				      struct spool__inject_node *n)
{
	atomic_store_explicit(&prev->next, n, memory_order_release);
}

/* Any thread: queues n. Wait-free; never blocks. */
static inline void spool__inject_push(struct spool__inject *q,
				      struct spool__inject_node *n)
{
	spool__inject_link(spool__inject_swap_tail(q, n), n);
}

/* Consumer side, with the try-lock held. */
static inline enum spool__inject_result
spool__inject_pop_locked(struct spool__inject *q,
			 struct spool__inject_node **out)
{
	/* Relaxed head: only the lock holder writes it and the lock orders
	 * consecutive holders. */
	struct spool__inject_node *head = atomic_load_explicit(
		&q->head, memory_order_relaxed);
	struct spool__inject_node *next = atomic_load_explicit(
		&head->next, memory_order_acquire);
	if (head == &q->stub) {
		if (!next)
			return atomic_load_explicit(&q->tail,
						    memory_order_acquire) ==
					       &q->stub
				       ? SPOOL__INJECT_EMPTY
				       : SPOOL__INJECT_RETRY;
		atomic_store_explicit(&q->head, next, memory_order_relaxed);
		head = next;
		next = atomic_load_explicit(&head->next, memory_order_acquire);
	}
	if (next) {
		atomic_store_explicit(&q->head, next, memory_order_relaxed);
		*out = head;
		return SPOOL__INJECT_ITEM;
	}
	/* head is the last real node. If a producer has already swapped the
	 * tail past it, wait for its link instead of racing it. */
	if (atomic_load_explicit(&q->tail, memory_order_acquire) != head)
		return SPOOL__INJECT_RETRY;
	/* Put the stub behind head so that head can be handed out. */
	spool__inject_push(q, &q->stub);
	next = atomic_load_explicit(&head->next, memory_order_acquire);
	if (next) {
		atomic_store_explicit(&q->head, next, memory_order_relaxed);
		*out = head;
		return SPOOL__INJECT_ITEM;
	}
	return SPOOL__INJECT_RETRY;
}

/* Any thread: takes the lock or reports RETRY. */
static inline bool spool__inject_trylock(struct spool__inject *q)
{
	/* Acquire/release: the lock hands head and the taken nodes from one
	 * consumer to the next. */
	return !atomic_flag_test_and_set_explicit(&q->consumer,
						  memory_order_acquire);
}

static inline void spool__inject_unlock(struct spool__inject *q)
{
	atomic_flag_clear_explicit(&q->consumer, memory_order_release);
}

/* Any thread: takes the oldest item. Lock-free (a try-lock, never waits);
 * never blocks. */
static inline enum spool__inject_result
spool__inject_pop(struct spool__inject *q, struct spool__inject_node **out)
{
	if (!spool__inject_trylock(q))
		return SPOOL__INJECT_RETRY;
	enum spool__inject_result r = spool__inject_pop_locked(q, out);
	spool__inject_unlock(q);
	return r;
}

/* Any thread: false only if the queue was empty at some instant during the
 * call, counting every push whose exchange precedes the caller's fence (a
 * half-done push answers true, whatever pop would say). The caller
 * provides the fence; the loads are relaxed. */
static inline bool spool__inject_maybe_nonempty(struct spool__inject *q)
{
	struct spool__inject_node *t = atomic_load_explicit(
		&q->tail, memory_order_relaxed);
	struct spool__inject_node *h = atomic_load_explicit(
		&q->head, memory_order_relaxed);
	return t != &q->stub || h != &q->stub;
}

#endif /* SPOOL_POOL_INJECT_H */
