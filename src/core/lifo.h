/* SPDX-License-Identifier: MIT */
/*
 * A closable intrusive stack: any thread pushes, the consumer takes
 * everything at once, and closing it takes the rest and refuses every later
 * push. Three parts of spool hand things to one consumer this way: a
 * future's done-callbacks (core/callback.c: the completer closes the list),
 * a pool worker's returned task records (pool/task.c: the pool's destroy
 * closes them) and a loop's inbox (loop/inbox.c: the loop's destroy closes
 * it).
 *
 * The algorithm is R. K. Treiber's stack ("Systems Programming: Coping with
 * Parallelism", IBM RJ 5118, 1986) without its pop: a push links its node to
 * the head it read and swings the head to the node with a compare-and-swap;
 * a take swings the head to NULL, a close to the sentinel CLOSED, each
 * without reading any node first. Since no single node is ever popped,
 * there is no ABA problem: a take that swings the head from A to NULL takes
 * whatever list hangs from A at that instant, whoever pushed or took it
 * meanwhile (Linux's llist.h rests on the same observation). As in
 * llist.h, the list comes out newest first; spool__lifo_reverse() turns it.
 *
 * Exactly once. The head's modification order decides every race: a push
 * whose CAS comes before a take's (or the close's) is in the list that take
 * returns; a push that reads CLOSED is refused and learns it (false), and
 * its node stays the caller's; CLOSED, once stored, is never replaced (a
 * take never swings a closed head to NULL: its CAS expects the node it
 * read), so nothing is pushed after the close. Take and close may race each
 * other and any number of pushes; each node pushed is returned by exactly
 * one of them.
 *
 * Memory orders. Every read-modify-write here is seq_cst:
 *   - a push's success must be a release and a take's or close's success
 *     an acquire, so that the consumer sees the fields its producer wrote
 *     before the push (a callback's fn, a handle's kind);
 *   - a push that reads CLOSED must acquire the close, so that it sees
 *     what the closer did before closing (core publishes a future's final
 *     phase before it closes the callback list, and a refused adder runs
 *     its callback at once on the strength of it);
 *   - the loop's wake-up (inbox.c) is a Dekker pattern between a push and
 *     the producer's exchange on wake_pending on one side, and the loop's
 *     store to wake_pending and its take on the other: all four must be in
 *     the single total order of seq_cst operations.
 * On x86-64 a read-modify-write costs the same in every order (one locked
 * instruction) and a seq_cst load is a plain load; on AArch64 the
 * difference is an acquire flag on an instruction that is there anyway. So
 * one set of orders, the strongest any user needs, serves all three.
 *
 * The stack owns nothing: nodes are the caller's, before, during and
 * after; the stack never frees or allocates. Thread safety: push, take and
 * close from any thread, concurrently; none blocks, and a push or a take
 * retries only when another thread's push or close changed the head under
 * it (lock-free).
 */
#ifndef SPOOL_CORE_LIFO_H
#define SPOOL_CORE_LIFO_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Embedded in what is pushed; spool__lifo_entry() gets back to it. */
struct spool__lifo_node {
	struct spool__lifo_node *next;
};

struct spool__lifo {
	/* The newest node, NULL when empty, SPOOL__LIFO_CLOSED once closed. */
	_Atomic(struct spool__lifo_node *) head;
};

/* The one sentinel: an address no node can have (nodes hold a pointer, so
 * they are aligned to more than one byte). Private to this header: a
 * user learns "closed" from push's answer. */
#define SPOOL__LIFO_CLOSED ((struct spool__lifo_node *)(uintptr_t)1)

_Static_assert(_Alignof(struct spool__lifo_node) > 1,
	       "no node can sit at the CLOSED address");

/* The struct of type that holds node in its member. */
#define spool__lifo_entry(node, type, member)                                  \
	((type *)(void *)((char *)(node)-offsetof(type, member)))

/* An empty, open stack. Not atomic: s is not yet shared (whoever shares it
 * supplies the ordering). */
static inline void spool__lifo_init(struct spool__lifo *s)
{
	atomic_init(&s->head, NULL);
}

/* Pushes n (any thread). Returns true, or false when s is closed: n was
 * not pushed, is still the caller's, and the caller has seen everything
 * the closer did before closing. n must not be on any list. */
static inline bool spool__lifo_push(struct spool__lifo *s,
				    struct spool__lifo_node *n)
{
	/* Acquire, for a head of CLOSED (top of file); any other head is
	 * only a guess that the CAS checks. */
	struct spool__lifo_node *head = atomic_load_explicit(
		&s->head, memory_order_acquire);
	do {
		if (head == SPOOL__LIFO_CLOSED)
			return false;
		n->next = head;
	} while (!atomic_compare_exchange_weak(&s->head, &head, n));
	return true;
}

/* Takes every node pushed so far, newest first, linked by next; NULL when
 * s is empty or closed. Leaves s open. Any thread. */
static inline struct spool__lifo_node *spool__lifo_take(struct spool__lifo *s)
{
	/* seq_cst even when it finds nothing: the inbox's wake-up argument
	 * needs the read that says "empty" in the total order. */
	struct spool__lifo_node *head = atomic_load(&s->head);
	do {
		if (!head || head == SPOOL__LIFO_CLOSED)
			return NULL;
	} while (!atomic_compare_exchange_weak(&s->head, &head, NULL));
	return head;
}

/* Closes s and takes what it still holds, newest first; every later push
 * is refused. Closing a closed stack returns NULL. Any thread. */
static inline struct spool__lifo_node *spool__lifo_close(struct spool__lifo *s)
{
	struct spool__lifo_node *head = atomic_exchange(&s->head,
							SPOOL__LIFO_CLOSED);
	return head == SPOOL__LIFO_CLOSED ? NULL : head;
}

/* The nodes on s now, newest first, without taking them (NULL when empty
 * or closed): for a stack no other thread can reach any more (a future
 * being freed), and for tests. With pushes under way, a snapshot: it
 * misses later pushes, and the nodes it returns stay valid only while the
 * caller knows nobody takes them. Acquire: the nodes' fields as their
 * pushers wrote them. */
static inline struct spool__lifo_node *spool__lifo_peek(struct spool__lifo *s)
{
	struct spool__lifo_node *head = atomic_load_explicit(
		&s->head, memory_order_acquire);
	return head == SPOOL__LIFO_CLOSED ? NULL : head;
}

/* Reverses a taken list (newest first) into push order, oldest first. */
static inline struct spool__lifo_node *
spool__lifo_reverse(struct spool__lifo_node *n)
{
	struct spool__lifo_node *out = NULL;
	while (n) {
		struct spool__lifo_node *next = n->next;
		n->next = out;
		out = n;
		n = next;
	}
	return out;
}

#endif /* SPOOL_CORE_LIFO_H */
