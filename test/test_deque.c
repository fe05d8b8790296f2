/* SPDX-License-Identifier: MIT */
/* Suite "deque": the pool's two queues tested directly through their
 * internal headers (src/pool/deque.h and src/pool/inject.h are static
 * inline, so this file compiles exactly the code the pool runs).
 *
 * Item counts (ITEMS below): each concurrent test moves 1,000,000 items in
 * the normal build. The sanitizer builds move fewer, because the 1M runs
 * took too long on the 2-core development machine: ThreadSanitizer
 * (every atomic access goes through its runtime) 66 s of CPU for the two
 * deque races, so 250,000 items; AddressSanitizer 93 s of wall time for
 * the two, so 500,000 items. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "pool/deque.h"
#include "pool/inject.h"
#include "support.h"

#if defined(__SANITIZE_THREAD__)
#define ITEMS 250000
#elif defined(__SANITIZE_ADDRESS__)
#define ITEMS 500000
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ITEMS 250000
#elif __has_feature(address_sanitizer)
#define ITEMS 500000
#endif
#endif
#ifndef ITEMS
#define ITEMS 1000000
#endif
#define THIEVES 3

static void *item(long i)
{
	return (void *)(uintptr_t)(i + 1);
}

static long index_of(void *x)
{
	return (long)(uintptr_t)x - 1;
}

/* ---- deque, one thread --------------------------------------------------- */

START_TEST(deque_pop_is_lifo_and_steal_is_fifo)
{
	struct spool__deque q;
	ck_assert_int_eq(spool__deque_init(&q, 4), 0);
	for (long i = 0; i < 10; i++)
		ck_assert_int_eq(spool__deque_push(&q, item(i)), 0);
	ck_assert_int_eq(spool__deque_size(&q), 10);
	void *x;
	ck_assert_int_eq(spool__deque_steal(&q, &x), SPOOL__STEAL_ITEM);
	ck_assert_int_eq(index_of(x), 0);
	ck_assert_int_eq(spool__deque_steal(&q, &x), SPOOL__STEAL_ITEM);
	ck_assert_int_eq(index_of(x), 1);
	ck_assert_int_eq(index_of(spool__deque_pop(&q)), 9);
	ck_assert_int_eq(index_of(spool__deque_pop(&q)), 8);
	ck_assert_int_eq(spool__deque_size(&q), 6);
	spool__deque_fini(&q);
}
END_TEST

START_TEST(deque_empty_pop_is_null_and_steal_reports_empty)
{
	struct spool__deque q;
	ck_assert_int_eq(spool__deque_init(&q, 0), 0);
	void *x = NULL;
	ck_assert_ptr_null(spool__deque_pop(&q));
	ck_assert_int_eq(spool__deque_steal(&q, &x), SPOOL__STEAL_EMPTY);
	ck_assert_int_eq(spool__deque_push(&q, item(5)), 0);
	ck_assert_int_eq(index_of(spool__deque_pop(&q)), 5);
	ck_assert_ptr_null(spool__deque_pop(&q));
	ck_assert_int_eq(spool__deque_steal(&q, &x), SPOOL__STEAL_EMPTY);
	ck_assert_int_eq(spool__deque_size(&q), 0);
	spool__deque_fini(&q);
}
END_TEST

START_TEST(deque_growth_keeps_every_item_in_place)
{
	struct spool__deque q;
	ck_assert_int_eq(spool__deque_init(&q, 0), 0); /* capacity 1 */
	void *x;
	/* Steal some first so that the live range wraps when it grows. */
	for (long i = 0; i < 3; i++) {
		ck_assert_int_eq(spool__deque_push(&q, item(i)), 0);
		ck_assert_int_eq(spool__deque_steal(&q, &x), SPOOL__STEAL_ITEM);
		ck_assert_int_eq(index_of(x), i);
	}
	for (long i = 3; i < 10000; i++)
		ck_assert_int_eq(spool__deque_push(&q, item(i)), 0);
	ck_assert_int_eq(spool__deque_size(&q), 9997);
	for (long i = 3; i < 5000; i++) {
		ck_assert_int_eq(spool__deque_steal(&q, &x), SPOOL__STEAL_ITEM);
		ck_assert_int_eq(index_of(x), i);
	}
	for (long i = 9999; i >= 5000; i--)
		ck_assert_int_eq(index_of(spool__deque_pop(&q)), i);
	ck_assert_ptr_null(spool__deque_pop(&q));
	spool__deque_fini(&q);
}
END_TEST

START_TEST(deque_pop_at_takes_back_only_the_newest_item_not_stolen)
{
	struct spool__deque q;
	ck_assert_int_eq(spool__deque_init(&q, 2), 0);
	int64_t i0 = spool__deque_push_at(&q, item(0));
	int64_t i1 = spool__deque_push_at(&q, item(1));
	ck_assert_int_eq(i1, i0 + 1);
	/* i0 is not the newest: refused, nothing changes */
	ck_assert(!spool__deque_pop_at(&q, i0));
	ck_assert_int_eq(spool__deque_size(&q), 2);
	ck_assert(spool__deque_pop_at(&q, i1));
	ck_assert_int_eq(spool__deque_size(&q), 1);
	/* the last item, stolen: refused, and the deque is empty and sound */
	void *x;
	ck_assert_int_eq(spool__deque_steal(&q, &x), SPOOL__STEAL_ITEM);
	ck_assert_int_eq(index_of(x), 0);
	ck_assert(!spool__deque_pop_at(&q, i0));
	ck_assert_int_eq(spool__deque_size(&q), 0);
	ck_assert_ptr_null(spool__deque_pop(&q));
	/* the last item, not stolen: taken (through the CAS on top) */
	int64_t i2 = spool__deque_push_at(&q, item(2));
	ck_assert(spool__deque_pop_at(&q, i2));
	ck_assert_int_eq(spool__deque_size(&q), 0);
	/* growth keeps the index */
	int64_t first = spool__deque_push_at(&q, item(3));
	for (long k = 4; k < 100; k++)
		spool__deque_push_at(&q, item(k));
	int64_t last = spool__deque_push_at(&q, item(100));
	ck_assert_int_eq(last, first + 97);
	ck_assert(spool__deque_pop_at(&q, last));
	ck_assert_int_eq(index_of(spool__deque_pop(&q)), 99);
	spool__deque_fini(&q);
}
END_TEST

/* ---- deque, owner against thieves ---------------------------------------- */

struct race {
	struct spool__deque q;
	atomic_uchar *taken; /* per item: how often it was taken */
	atomic_int owner_done;
	atomic_long stolen, lost;
	long burst; /* the owner pushes up to this many before popping */
};

static void take(struct race *r, void *x)
{
	long i = index_of(x);
	ck_assert_int_ge(i, 0);
	ck_assert_int_lt(i, ITEMS);
	atomic_fetch_add_explicit(&r->taken[i], 1, memory_order_relaxed);
}

static void *thief(void *arg)
{
	struct race *r = arg;
	long stolen = 0, lost = 0;
	unsigned empty = 0;
	for (;;) {
		void *x;
		enum spool__steal_result s = spool__deque_steal(&r->q, &x);
		if (s == SPOOL__STEAL_ITEM) {
			take(r, x);
			stolen++;
			empty = 0;
		} else if (s == SPOOL__STEAL_LOST) {
			lost++;
		} else if (atomic_load(&r->owner_done)) {
			break; /* empty, and the owner pushes no more */
		} else if (++empty % 64 == 0) {
			sched_yield(); /* more thieves than cores: let the
					  owner push */
		}
	}
	atomic_fetch_add(&r->stolen, stolen);
	atomic_fetch_add(&r->lost, lost);
	return NULL;
}

static void owner_vs_thieves(unsigned log2_cap, long burst)
{
	struct race r = {.burst = burst};
	ck_assert_int_eq(spool__deque_init(&r.q, log2_cap), 0);
	r.taken = calloc(ITEMS, sizeof *r.taken);
	pthread_t th[THIEVES];
	for (int i = 0; i < THIEVES; i++)
		pthread_create(&th[i], NULL, thief, &r);
	unsigned seed = 7;
	long next = 0, popped = 0;
	while (next < ITEMS) {
		/* Push a random burst, then pop a random part of it: the
		 * owner keeps meeting the thieves at the last item. */
		long n = 1 + rand_r(&seed) % burst;
		for (long k = 0; k < n && next < ITEMS; k++)
			ck_assert_int_eq(spool__deque_push(&r.q, item(next++)),
					 0);
		long m = rand_r(&seed) % (n + 1);
		for (long k = 0; k < m; k++) {
			void *x = spool__deque_pop(&r.q);
			if (!x)
				break;
			take(&r, x);
			popped++;
		}
	}
	for (void *x; (x = spool__deque_pop(&r.q));) {
		take(&r, x);
		popped++;
	}
	atomic_store(&r.owner_done, 1);
	for (int i = 0; i < THIEVES; i++)
		pthread_join(th[i], NULL);
	ck_assert_int_eq(popped + atomic_load(&r.stolen), ITEMS);
	for (long i = 0; i < ITEMS; i++)
		ck_assert_msg(atomic_load(&r.taken[i]) == 1,
			      "item %ld taken %d times", i,
			      (int)atomic_load(&r.taken[i]));
	ck_assert_int_eq(spool__deque_size(&r.q), 0);
	/* Both ends did real work (a test that never races proves little). */
	ck_assert_int_gt(popped, 0);
	ck_assert_int_gt(atomic_load(&r.stolen), 0);
	free(r.taken);
	spool__deque_fini(&r.q);
}

/* The pattern of spool_join: push an item, maybe push and take back a
 * few nested ones, then take it back with pop_at unless a thief took it. */
static long join_like(struct race *r, long next, int depth, unsigned *seed)
{
	if (next >= ITEMS)
		return next;
	long mine = next++;
	int64_t at = spool__deque_push_at(&r->q, item(mine));
	ck_assert_int_ge(at, 0);
	if (depth < 4 && rand_r(seed) % 2)
		next = join_like(r, next, depth + 1, seed);
	if (spool__deque_pop_at(&r->q, at))
		take(r, item(mine));
	return next;
}

START_TEST(deque_push_at_and_pop_at_against_3_thieves_take_once)
{
	struct race r = {.burst = 1};
	ck_assert_int_eq(spool__deque_init(&r.q, 2), 0);
	r.taken = calloc(ITEMS, sizeof *r.taken);
	pthread_t th[THIEVES];
	for (int i = 0; i < THIEVES; i++)
		pthread_create(&th[i], NULL, thief, &r);
	unsigned seed = 11;
	for (long next = 0; next < ITEMS;)
		next = join_like(&r, next, 0, &seed);
	atomic_store(&r.owner_done, 1);
	for (int i = 0; i < THIEVES; i++)
		pthread_join(th[i], NULL);
	for (long i = 0; i < ITEMS; i++)
		ck_assert_msg(atomic_load(&r.taken[i]) == 1,
			      "item %ld taken %d times", i,
			      (int)atomic_load(&r.taken[i]));
	ck_assert_int_eq(spool__deque_size(&r.q), 0);
	ck_assert_int_gt(atomic_load(&r.stolen), 0);
	free(r.taken);
	spool__deque_fini(&r.q);
}
END_TEST

START_TEST(deque_owner_against_3_thieves_takes_every_item_exactly_once)
{
	owner_vs_thieves(10, 64);
}
END_TEST

START_TEST(deque_growth_from_capacity_1_under_thieves_loses_nothing)
{
	/* Bursts of up to 4096 from a one-slot buffer: it grows twelve
	 * times while thieves read the old buffers. */
	owner_vs_thieves(0, 4096);
}
END_TEST

/* ---- injection queue ----------------------------------------------------- */

struct msg {
	struct spool__inject_node node;
	int producer;
	long seq;
};

static struct msg *msg_of(struct spool__inject_node *n)
{
	return (struct msg *)n; /* node is the first member */
}

START_TEST(inject_pop_is_fifo)
{
	struct spool__inject q;
	spool__inject_init(&q);
	struct msg m[5];
	struct spool__inject_node *n;
	ck_assert_int_eq(spool__inject_pop(&q, &n), SPOOL__INJECT_EMPTY);
	ck_assert(!spool__inject_maybe_nonempty(&q));
	for (int i = 0; i < 5; i++) {
		m[i].seq = i;
		spool__inject_push(&q, &m[i].node);
	}
	ck_assert(spool__inject_maybe_nonempty(&q));
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(spool__inject_pop(&q, &n), SPOOL__INJECT_ITEM);
		ck_assert_int_eq(msg_of(n)->seq, i);
	}
	ck_assert_int_eq(spool__inject_pop(&q, &n), SPOOL__INJECT_EMPTY);
	ck_assert(!spool__inject_maybe_nonempty(&q));
	/* Reusable after draining. */
	spool__inject_push(&q, &m[2].node);
	ck_assert_int_eq(spool__inject_pop(&q, &n), SPOOL__INJECT_ITEM);
	ck_assert_ptr_eq(n, &m[2].node);
	ck_assert(!spool__inject_maybe_nonempty(&q));
}
END_TEST

START_TEST(inject_half_done_push_is_retry_not_empty_and_seen_by_recheck)
{
	/* A producer stopped between its exchange and its link: pop cannot
	 * take the item yet and says so with RETRY (the "spurious empty"
	 * of a pop), while the recheck the parking protocol uses before a
	 * worker sleeps still reports work. */
	struct spool__inject q;
	spool__inject_init(&q);
	struct msg a = {.seq = 1}, b = {.seq = 2};
	struct spool__inject_node *n;

	struct spool__inject_node *prev = spool__inject_swap_tail(&q, &a.node);
	ck_assert_int_eq(spool__inject_pop(&q, &n), SPOOL__INJECT_RETRY);
	ck_assert(spool__inject_maybe_nonempty(&q));
	spool__inject_link(prev, &a.node);
	ck_assert_int_eq(spool__inject_pop(&q, &n), SPOOL__INJECT_ITEM);
	ck_assert_ptr_eq(n, &a.node);

	/* The same behind a linked item: the last one cannot be handed out
	 * while a later push is half done. */
	spool__inject_push(&q, &a.node);
	prev = spool__inject_swap_tail(&q, &b.node);
	ck_assert_int_eq(spool__inject_pop(&q, &n), SPOOL__INJECT_RETRY);
	ck_assert(spool__inject_maybe_nonempty(&q));
	spool__inject_link(prev, &b.node);
	ck_assert_int_eq(spool__inject_pop(&q, &n), SPOOL__INJECT_ITEM);
	ck_assert_ptr_eq(n, &a.node);
	ck_assert_int_eq(spool__inject_pop(&q, &n), SPOOL__INJECT_ITEM);
	ck_assert_ptr_eq(n, &b.node);
	ck_assert_int_eq(spool__inject_pop(&q, &n), SPOOL__INJECT_EMPTY);
}
END_TEST

START_TEST(inject_taken_lock_is_retry_not_empty)
{
	struct spool__inject q;
	spool__inject_init(&q);
	struct msg a = {.seq = 1};
	struct spool__inject_node *n;
	spool__inject_push(&q, &a.node);
	ck_assert(spool__inject_trylock(&q));
	ck_assert_int_eq(spool__inject_pop(&q, &n), SPOOL__INJECT_RETRY);
	ck_assert(spool__inject_maybe_nonempty(&q));
	spool__inject_unlock(&q);
	ck_assert_int_eq(spool__inject_pop(&q, &n), SPOOL__INJECT_ITEM);
}
END_TEST

enum { PRODUCERS = 3, CONSUMERS = 2 };

struct mpmc {
	struct spool__inject q;
	struct msg *msgs; /* ITEMS, split between the producers */
	atomic_uchar *taken;
	long last[PRODUCERS]; /* under the consumer lock */
	atomic_long consumed;
	atomic_int order_ok;
};

struct producer_arg {
	struct mpmc *m;
	int id;
};

static void *producer(void *arg)
{
	struct producer_arg *pa = arg;
	for (long i = pa->id; i < ITEMS; i += PRODUCERS)
		spool__inject_push(&pa->m->q, &pa->m->msgs[i].node);
	return NULL;
}

static void *consumer(void *arg)
{
	struct mpmc *m = arg;
	while (atomic_load(&m->consumed) < ITEMS) {
		if (!spool__inject_trylock(&m->q)) {
			sched_yield();
			continue;
		}
		struct spool__inject_node *n;
		while (spool__inject_pop_locked(&m->q, &n) ==
		       SPOOL__INJECT_ITEM) {
			struct msg *x = msg_of(n);
			/* Each producer's items come out in its push order. */
			if (x->seq <= m->last[x->producer])
				atomic_store(&m->order_ok, 0);
			m->last[x->producer] = x->seq;
			atomic_fetch_add_explicit(&m->taken[x->seq], 1,
						  memory_order_relaxed);
			atomic_fetch_add(&m->consumed, 1);
		}
		spool__inject_unlock(&m->q);
		sched_yield(); /* empty or half-done push: let producers run */
	}
	return NULL;
}

START_TEST(inject_3_producers_2_consumers_deliver_every_item_once_in_order)
{
	struct mpmc m;
	spool__inject_init(&m.q);
	m.msgs = malloc(ITEMS * sizeof *m.msgs);
	m.taken = calloc(ITEMS, sizeof *m.taken);
	for (long i = 0; i < ITEMS; i++) {
		m.msgs[i].producer = (int)(i % PRODUCERS);
		m.msgs[i].seq = i;
	}
	for (int i = 0; i < PRODUCERS; i++)
		m.last[i] = -1;
	atomic_init(&m.consumed, 0);
	atomic_init(&m.order_ok, 1);
	pthread_t p[PRODUCERS], c[CONSUMERS];
	struct producer_arg pa[PRODUCERS];
	for (int i = 0; i < CONSUMERS; i++)
		pthread_create(&c[i], NULL, consumer, &m);
	for (int i = 0; i < PRODUCERS; i++) {
		pa[i] = (struct producer_arg){&m, i};
		pthread_create(&p[i], NULL, producer, &pa[i]);
	}
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(p[i], NULL);
	for (int i = 0; i < CONSUMERS; i++)
		pthread_join(c[i], NULL);
	ck_assert(atomic_load(&m.order_ok));
	for (long i = 0; i < ITEMS; i++)
		ck_assert_int_eq(atomic_load(&m.taken[i]), 1);
	ck_assert(!spool__inject_maybe_nonempty(&m.q));
	free(m.msgs);
	free(m.taken);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("deque");
	TCase *tc = tcase_create("deque");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, deque_pop_is_lifo_and_steal_is_fifo);
	tcase_add_test(tc, deque_empty_pop_is_null_and_steal_reports_empty);
	tcase_add_test(tc, deque_growth_keeps_every_item_in_place);
	tcase_add_test(tc,
		       deque_pop_at_takes_back_only_the_newest_item_not_stolen);
	suite_add_tcase(s, tc);
	tc = tcase_create("deque_race");
	tcase_set_timeout(tc, 120);
	tcase_add_test(
		tc,
		deque_owner_against_3_thieves_takes_every_item_exactly_once);
	tcase_add_test(tc,
		       deque_push_at_and_pop_at_against_3_thieves_take_once);
	suite_add_tcase(s, tc);
	tc = tcase_create("deque_race_growth");
	tcase_set_timeout(tc, 120);
	tcase_add_test(
		tc, deque_growth_from_capacity_1_under_thieves_loses_nothing);
	suite_add_tcase(s, tc);
	tc = tcase_create("inject");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, inject_pop_is_fifo);
	tcase_add_test(
		tc,
		inject_half_done_push_is_retry_not_empty_and_seen_by_recheck);
	tcase_add_test(tc, inject_taken_lock_is_retry_not_empty);
	tcase_add_test(
		tc,
		inject_3_producers_2_consumers_deliver_every_item_once_in_order);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
