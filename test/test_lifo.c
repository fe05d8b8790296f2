/* SPDX-License-Identifier: MIT */
/* Suite "lifo": the closable stack of src/core/lifo.h, tested directly
 * (the header is static inline, so this file compiles exactly the code that
 * the callback lists, the pool's return stacks and the loop's inbox run).
 *
 * The race: pushers push many nodes each while one thread takes and
 * another closes at a moment of its choosing, for many rounds. Every node
 * must come out exactly once (from a take or from the close) or be refused;
 * a refused push must come after the close, so each pusher, once refused,
 * is refused ever after. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/lifo.h"
#include "support.h"

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define ROUNDS 60
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define ROUNDS 60
#endif
#endif
#ifndef ROUNDS
#define ROUNDS 300
#endif
#define MIN_ROUNDS 20
#define STRESS_S 20
#define PUSHERS 4
#define PER_PUSHER 2000

struct item {
	struct spool__lifo_node node;
	int id;
	_Atomic int seen; /* times a take or the close returned it */
	bool refused;     /* its push returned false */
};

static struct item *item_of(struct spool__lifo_node *n)
{
	return spool__lifo_entry(n, struct item, node);
}

/* ---- one thread -------------------------------------------------------- */

START_TEST(take_returns_newest_first_and_reverse_gives_push_order)
{
	struct spool__lifo s;
	spool__lifo_init(&s);
	ck_assert_ptr_null(spool__lifo_take(&s));
	struct item it[5];
	for (int i = 0; i < 5; i++) {
		it[i].id = i;
		ck_assert(spool__lifo_push(&s, &it[i].node));
	}
	struct spool__lifo_node *n = spool__lifo_take(&s);
	for (int i = 4; i >= 0; i--, n = n->next)
		ck_assert_int_eq(item_of(n)->id, i);
	ck_assert_ptr_null(n);
	ck_assert_ptr_null(spool__lifo_take(&s)); /* emptied, still open */
	ck_assert(spool__lifo_push(&s, &it[0].node));
	ck_assert(spool__lifo_push(&s, &it[1].node));
	n = spool__lifo_reverse(spool__lifo_take(&s));
	ck_assert_int_eq(item_of(n)->id, 0);
	ck_assert_int_eq(item_of(n->next)->id, 1);
	ck_assert_ptr_null(n->next->next);
	ck_assert_ptr_null(spool__lifo_reverse(NULL));
}
END_TEST

START_TEST(close_takes_the_rest_and_every_later_push_is_refused)
{
	struct spool__lifo s;
	spool__lifo_init(&s);
	struct item a = {.id = 1}, b = {.id = 2}, c = {.id = 3};
	ck_assert(spool__lifo_push(&s, &a.node));
	ck_assert(spool__lifo_push(&s, &b.node));
	struct spool__lifo_node *n = spool__lifo_close(&s);
	ck_assert_ptr_eq(n, &b.node);
	ck_assert_ptr_eq(n->next, &a.node);
	ck_assert_ptr_null(a.node.next);
	c.node.next = &a.node; /* a refused push leaves the node alone */
	ck_assert(!spool__lifo_push(&s, &c.node));
	ck_assert_ptr_eq(c.node.next, &a.node);
	ck_assert_ptr_null(spool__lifo_take(&s));
	ck_assert_ptr_null(spool__lifo_peek(&s));
	ck_assert_ptr_null(spool__lifo_close(&s)); /* closing again: nothing */
	ck_assert(!spool__lifo_push(&s, &c.node)); /* and still closed */
}
END_TEST

START_TEST(peek_shows_the_nodes_without_taking_them)
{
	struct spool__lifo s;
	spool__lifo_init(&s);
	ck_assert_ptr_null(spool__lifo_peek(&s));
	struct item a = {.id = 1}, b = {.id = 2};
	ck_assert(spool__lifo_push(&s, &a.node));
	ck_assert(spool__lifo_push(&s, &b.node));
	ck_assert_ptr_eq(spool__lifo_peek(&s), &b.node);
	ck_assert_ptr_eq(spool__lifo_take(&s), &b.node);
	ck_assert_ptr_null(spool__lifo_peek(&s));
}
END_TEST

/* ---- the race ------------------------------------------------------------ */

struct race {
	struct spool__lifo s;
	struct item *items; /* PUSHERS * PER_PUSHER */
	_Atomic long pushed;
	_Atomic bool closed;
	long close_after; /* the closer waits for this many pushes */
	long taken;       /* by the taker */
	long at_close;    /* returned by the close */
};

struct pusher {
	struct race *r;
	int index;
};

static void count(struct spool__lifo_node *n, long *into)
{
	while (n) {
		struct spool__lifo_node *next = n->next;
		atomic_fetch_add(&item_of(n)->seen, 1);
		(*into)++;
		n = next;
	}
}

static void *pusher_main(void *arg)
{
	struct pusher *p = arg;
	struct race *r = p->r;
	bool refused_once = false;
	for (int i = 0; i < PER_PUSHER; i++) {
		struct item *it = &r->items[p->index * PER_PUSHER + i];
		bool ok = spool__lifo_push(&r->s, &it->node);
		it->refused = !ok;
		/* Closing is for good: after one refusal, every push is. */
		if (refused_once && ok)
			abort();
		refused_once |= !ok;
		atomic_fetch_add_explicit(&r->pushed, 1, memory_order_relaxed);
		if (i % 64 == 0)
			sched_yield();
	}
	return NULL;
}

static void *taker_main(void *arg)
{
	struct race *r = arg;
	for (;;) {
		bool was_closed = atomic_load(&r->closed);
		struct spool__lifo_node *got = spool__lifo_take(&r->s);
		count(got, &r->taken);
		if (was_closed)
			return NULL; /* that take came after the close */
		if (!got)
			sched_yield(); /* let the pushers in on a full machine
					*/
	}
}

static void *closer_main(void *arg)
{
	struct race *r = arg;
	while (atomic_load_explicit(&r->pushed, memory_order_relaxed) <
	       r->close_after)
		sched_yield();
	count(spool__lifo_close(&r->s), &r->at_close);
	atomic_store(&r->closed, true);
	return NULL;
}

START_TEST(pushes_racing_a_taker_and_a_closer_are_each_taken_once_or_refused)
{
	enum { N = PUSHERS * PER_PUSHER };
	struct item *items = calloc(N, sizeof *items);
	ck_assert_ptr_nonnull(items);
	long refused_total = 0, rounds_with_refusals = 0;
	unsigned seed = 12345;
	/* ROUNDS rounds, or as many as fit in STRESS_S seconds once
	 * MIN_ROUNDS have run: on a machine shared with other work seven
	 * threads per round can take far longer than they do alone, and the
	 * test must end well inside its time limit. */
	int64_t stop_at = spool_test_now_ns() + STRESS_S * SPOOL_NS_PER_S;
	int round;
	for (round = 0; round < ROUNDS; round++) {
		if (round >= MIN_ROUNDS && spool_test_now_ns() > stop_at)
			break;
		struct race r = {.items = items};
		spool__lifo_init(&r.s);
		for (int i = 0; i < N; i++) {
			items[i].id = i;
			atomic_init(&items[i].seen, 0);
			items[i].refused = false;
		}
		/* Close anywhere from the start to just after the end. */
		r.close_after = (long)(rand_r(&seed) % (N + N / 8));
		pthread_t th[PUSHERS + 2];
		struct pusher ps[PUSHERS];
		for (int i = 0; i < PUSHERS; i++) {
			ps[i] = (struct pusher){&r, i};
			ck_assert_int_eq(pthread_create(&th[i], NULL,
							pusher_main, &ps[i]),
					 0);
		}
		ck_assert_int_eq(
			pthread_create(&th[PUSHERS], NULL, taker_main, &r), 0);
		if (r.close_after < N) {
			ck_assert_int_eq(pthread_create(&th[PUSHERS + 1], NULL,
							closer_main, &r),
					 0);
		}
		for (int i = 0; i < PUSHERS; i++)
			pthread_join(th[i], NULL);
		if (r.close_after >= N) {
			/* Close after every push: the closer's turn here. */
			r.close_after = 0;
			closer_main(&r);
		} else {
			pthread_join(th[PUSHERS + 1], NULL);
		}
		pthread_join(th[PUSHERS], NULL);

		long refused = 0;
		for (int i = 0; i < N; i++) {
			int seen = atomic_load(&items[i].seen);
			if (items[i].refused) {
				ck_assert_msg(seen == 0,
					      "round %d: refused node %d was "
					      "returned %d times",
					      round, i, seen);
				refused++;
			} else {
				ck_assert_msg(seen == 1,
					      "round %d: node %d returned %d "
					      "times",
					      round, i, seen);
			}
		}
		ck_assert_int_eq(r.taken + r.at_close + refused, N);
		ck_assert(!spool__lifo_push(&r.s, &items[0].node));
		refused_total += refused;
		rounds_with_refusals += refused > 0;
	}
	printf("lifo race: %d rounds\n", round);
	/* The race was a race: some rounds closed while pushes went on. */
	ck_assert_int_gt(rounds_with_refusals, 0);
	ck_assert_int_gt(refused_total, 0);
	free(items);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lifo");
	TCase *tc = spool_test_case("lifo", 120);
	tcase_add_test(tc,
		       take_returns_newest_first_and_reverse_gives_push_order);
	tcase_add_test(tc,
		       close_takes_the_rest_and_every_later_push_is_refused);
	tcase_add_test(tc, peek_shows_the_nodes_without_taking_them);
	tcase_add_test(
		tc,
		pushes_racing_a_taker_and_a_closer_are_each_taken_once_or_refused);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
