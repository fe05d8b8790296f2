/* SPDX-License-Identifier: MIT */
/*
 * Suite "slab": the per-thread slabs of future records (src/core/slab.c)
 * keep at most CACHE_MAX freed blocks (16 MiB) for reuse, as the header of
 * spool_promise_new_driven() promises, the rest go back to free(), and a
 * thread's next block comes from that cache before the allocator.
 *
 * slab.c is compiled into this file, whose tests read its file-scope cache
 * (the library's own slab, in libspool, is another one, which nothing here
 * uses). A freed block that was neither cached nor given to free() would
 * be a leak, which the AddressSanitizer build's leak check reports at exit;
 * the ThreadSanitizer build checks the race test's frees.
 */
#include "core/slab.c"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

_Static_assert((size_t)CACHE_MAX *BLOCK_SIZE == (size_t)16 << 20,
	       "the header of spool_promise_new_driven() says 16 MiB");

static int cached_now(void)
{
	pthread_mutex_lock(&cache_mu);
	int n = ncached;
	pthread_mutex_unlock(&cache_mu);
	return n;
}

static bool is_cached(const struct block *b)
{
	bool found = false;
	pthread_mutex_lock(&cache_mu);
	for (const struct block *c = cache; c && !found; c = c->next_cached)
		found = c == b;
	pthread_mutex_unlock(&cache_mu);
	return found;
}

/* n slots allocated on a thread of their own, which then exits (retiring
 * its block and giving back the one it took ahead). Each slot gets its
 * index written at both ends, so slots that overlapped would show. */
struct burst {
	size_t n;
	void **slots;
	size_t failed;
};

static void *burst_main(void *arg)
{
	struct burst *b = arg;
	for (size_t i = 0; i < b->n; i++) {
		char *p = spool__slab_alloc();
		b->slots[i] = p;
		if (!p) {
			b->failed++;
			continue;
		}
		memcpy(p, &i, sizeof i);
		memcpy(p + SLOT - sizeof i, &i, sizeof i);
	}
	return NULL;
}

static void burst_run(struct burst *b, size_t n)
{
	b->n = n;
	b->slots = malloc(n * sizeof *b->slots);
	ck_assert_ptr_nonnull(b->slots);
	b->failed = 0;
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, burst_main, b), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_uint_eq(b->failed, 0);
	for (size_t i = 0; i < n; i++) {
		size_t head, tail;
		memcpy(&head, b->slots[i], sizeof head);
		memcpy(&tail, (char *)b->slots[i] + SLOT - sizeof tail,
		       sizeof tail);
		ck_assert_uint_eq(head, i);
		ck_assert_uint_eq(tail, i);
		ck_assert_uint_eq((uintptr_t)b->slots[i] % 16, 0);
	}
}

/* The distinct blocks of b's slots, in order of first use (slots are cut
 * from a block in order, so a block's slots are contiguous in b). */
static size_t burst_blocks(const struct burst *b, struct block **out,
			   size_t max)
{
	size_t k = 0;
	for (size_t i = 0; i < b->n; i++) {
		struct block *blk = block_of(b->slots[i]);
		if (k == 0 || out[k - 1] != blk) {
			ck_assert_uint_lt(k, max);
			out[k++] = blk;
		}
	}
	return k;
}

static void burst_free(struct burst *b)
{
	for (size_t i = 0; i < b->n; i++)
		spool__slab_free(b->slots[i]);
	free(b->slots);
	b->slots = NULL;
}

enum { BLOCKS = CACHE_MAX + 4 };

START_TEST(freed_blocks_beyond_the_cache_go_back_to_free)
{
	struct burst b;
	burst_run(&b, (size_t)BLOCKS * SLOTS_PER_BLOCK);
	struct block *used[BLOCKS + 1];
	ck_assert_uint_eq(burst_blocks(&b, used, BLOCKS + 1), BLOCKS);
	/* The thread is gone; its blocks wait for their slots. */
	for (int i = 0; i < BLOCKS; i++)
		ck_assert(!is_cached(used[i]));
	burst_free(&b);
	/* Twelve blocks freed (and the one taken ahead): the cache holds
	 * its bound, no more. */
	ck_assert_int_eq(cached_now(), CACHE_MAX);
}
END_TEST

START_TEST(a_new_block_comes_from_the_cache)
{
	struct burst warm;
	burst_run(&warm, (size_t)BLOCKS * SLOTS_PER_BLOCK);
	burst_free(&warm);
	ck_assert_int_eq(cached_now(), CACHE_MAX);
	/* Past two and a half blocks' worth: three blocks, and one more
	 * taken ahead past the third's halfway point, all four from the
	 * cache. */
	struct burst b;
	burst_run(&b, (size_t)SLOTS_PER_BLOCK * 2 + SLOTS_PER_BLOCK / 2 + 1);
	struct block *used[4];
	ck_assert_uint_eq(burst_blocks(&b, used, 4), 3);
	for (int i = 0; i < 3; i++)
		ck_assert(!is_cached(used[i]));
	/* The thread gave the block it took ahead back at its exit. */
	ck_assert_int_eq(cached_now(), CACHE_MAX - 3);
	burst_free(&b);
	ck_assert_int_eq(cached_now(), CACHE_MAX);
	for (int i = 0; i < 3; i++)
		ck_assert(is_cached(used[i]));
}
END_TEST

/* Threads allocate while others free their slots: each allocator passes
 * every slot to the next thread's freeing queue, so blocks are retired
 * by one thread and freed by another, in any order against the
 * retirement. At the end every block has come back once: the cache is
 * full and nothing leaked. */
enum { RACERS = 4, RACE_SLOTS = SLOTS_PER_BLOCK * 3 };

struct racer {
	void **slots; /* RACE_SLOTS, filled by this thread */
	_Atomic size_t filled;
	struct racer *next; /* whose slots this thread frees */
	atomic_bool failed; /* out of memory: its freer stops waiting */
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;
	size_t freed = 0;
	size_t filled = 0;
	while (filled < RACE_SLOTS || freed < RACE_SLOTS) {
		if (filled < RACE_SLOTS) {
			void *p = spool__slab_alloc();
			if (!p) {
				atomic_store(&r->failed, true);
				break;
			}
			r->slots[filled++] = p;
			/* release: the slot's pointer to its freer */
			atomic_store_explicit(&r->filled, filled,
					      memory_order_release);
		}
		size_t avail = atomic_load_explicit(&r->next->filled,
						    memory_order_acquire);
		while (freed < avail)
			spool__slab_free(r->next->slots[freed++]);
		if (filled == RACE_SLOTS && freed < RACE_SLOTS &&
		    atomic_load(&r->next->failed))
			break;
	}
	return NULL;
}

START_TEST(blocks_freed_by_other_threads_all_come_back)
{
	/* The cache starts full: then blocks leave it (to free()) only
	 * while it is full, so at least CACHE_MAX blocks stay in circulation
	 * and, all freed at the end of a round, fill it again. From an empty
	 * cache, a round whose racers took turns could recycle so well that
	 * fewer than CACHE_MAX blocks ever existed. */
	struct burst warm;
	burst_run(&warm, (size_t)BLOCKS * SLOTS_PER_BLOCK);
	burst_free(&warm);
	ck_assert_int_eq(cached_now(), CACHE_MAX);
	int64_t stop = spool_test_now_ns() + 10 * SPOOL_NS_PER_S;
	int rounds = 0;
	do {
		struct racer rs[RACERS];
		pthread_t th[RACERS];
		for (int i = 0; i < RACERS; i++) {
			rs[i].slots = malloc(RACE_SLOTS * sizeof(void *));
			ck_assert_ptr_nonnull(rs[i].slots);
			atomic_init(&rs[i].filled, 0);
			rs[i].next = &rs[(i + 1) % RACERS];
			atomic_init(&rs[i].failed, false);
		}
		for (int i = 0; i < RACERS; i++)
			ck_assert_int_eq(pthread_create(&th[i], NULL,
							racer_main, &rs[i]),
					 0);
		for (int i = 0; i < RACERS; i++)
			ck_assert_int_eq(pthread_join(th[i], NULL), 0);
		for (int i = 0; i < RACERS; i++) {
			ck_assert(!atomic_load(&rs[i].failed));
			free(rs[i].slots);
		}
		/* Every block came back: the cache is full again. */
		ck_assert_msg(cached_now() == CACHE_MAX,
			      "round %d: %d blocks cached, not %d", rounds,
			      cached_now(), CACHE_MAX);
		rounds++;
	} while (rounds < 20 && spool_test_now_ns() < stop);
	printf("slab race: %d rounds\n", rounds);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("slab");
	TCase *tc = spool_test_case("slab", 120);
	tcase_add_test(tc, freed_blocks_beyond_the_cache_go_back_to_free);
	tcase_add_test(tc, a_new_block_comes_from_the_cache);
	tcase_add_test(tc, blocks_freed_by_other_threads_all_come_back);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
