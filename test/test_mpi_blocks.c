/* SPDX-License-Identifier: MIT */
/*
 * Suite "mpi_blocks": the caches of equal-sized blocks behind spool-mpi's
 * memory at the root (src/mpi/blocks.h: the executor's queue chunks and
 * result blocks) keep at most their bound of given-back blocks, hand the
 * one given back last out first, and never hand one block to two threads.
 * Under AddressSanitizer, a block used after it was given back is reported
 * as a use after free, cache or not.
 *
 * blocks.c is compiled into this file, and each test makes caches of its
 * own (libspool-mpi's are others, which nothing here uses); the choice of
 * a size class (spool__mpi_blocks_pick) is checked size by size. The
 * cache needs no MPI, so this is a plain suite among the core's, run in
 * every build (ThreadSanitizer's too, where the mpi suites are not), MPI
 * installed or not. A block that was neither cached nor given to free()
 * would be a leak, which the AddressSanitizer build's leak check reports
 * at exit.
 */
#include "mpi/blocks.c"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "support.h"

enum { SIZE = 1024 };

static unsigned held(struct spool__mpi_blocks *c)
{
	pthread_mutex_lock(&c->mu);
	unsigned n = c->n;
	pthread_mutex_unlock(&c->mu);
	return n;
}

/* Gives every block c holds to free(). */
static void drain(struct spool__mpi_blocks *c)
{
	while (held(c) > 0)
		free(spool__mpi_blocks_get(c));
}

/* A block from c, all of it written (the AddressSanitizer build checks
 * that it is all there and not poisoned) and aligned for any type. */
static unsigned char *get_filled(struct spool__mpi_blocks *c, int byte)
{
	unsigned char *b = spool__mpi_blocks_get(c);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq((uintptr_t)b % _Alignof(max_align_t), 0);
	memset(b, byte, c->size);
	return b;
}

START_TEST(blocks_given_back_are_taken_again_last_in_first_out)
{
	static struct spool__mpi_blocks c = SPOOL__MPI_BLOCKS_INIT(SIZE, 8);
	enum { N = 5 };
	unsigned char *b[N];
	for (int i = 0; i < N; i++)
		b[i] = get_filled(&c, i);
	for (int i = 0; i < N; i++)
		spool__mpi_blocks_put(&c, b[i]);
	ck_assert_uint_eq(held(&c), N);
	for (int i = N - 1; i >= 0; i--) {
		unsigned char *g = get_filled(&c, 0x5a);
		ck_assert_ptr_eq(g, b[i]);
	}
	ck_assert_uint_eq(held(&c), 0);
	for (int i = 0; i < N; i++)
		free(b[i]);
}
END_TEST

START_TEST(a_cache_keeps_its_bound_and_frees_the_rest)
{
	enum { MAX = 4, N = 10 };
	static struct spool__mpi_blocks c = SPOOL__MPI_BLOCKS_INIT(SIZE, MAX);
	unsigned char *b[N];
	for (int i = 0; i < N; i++)
		b[i] = get_filled(&c, 1);
	for (int i = 0; i < N; i++)
		spool__mpi_blocks_put(&c, b[i]);
	/* The first MAX given back stay; the others went to free() (the
	 * leak check would see them otherwise). */
	ck_assert_uint_eq(held(&c), MAX);
	for (int i = MAX - 1; i >= 0; i--)
		ck_assert_ptr_eq(get_filled(&c, 2), b[i]);
	ck_assert_uint_eq(held(&c), 0);
	/* Empty: the next block comes from malloc, and the cache still
	 * counts nothing. */
	unsigned char *fresh = get_filled(&c, 3);
	ck_assert_uint_eq(held(&c), 0);
	spool__mpi_blocks_put(&c, fresh);
	ck_assert_uint_eq(held(&c), 1);
	for (int i = 0; i < MAX; i++)
		free(b[i]);
	drain(&c);
}
END_TEST

/* Threads take blocks, stamp them with a mark of their own, check the mark
 * after the others had time to take blocks too, and give them back: a
 * block handed to two threads at once would show another thread's mark. */
enum { RACERS = 4, HELD = 6, ROUNDS = 20000 };

static struct spool__mpi_blocks race_cache = SPOOL__MPI_BLOCKS_INIT(
	SIZE, RACERS *HELD);

struct racer {
	unsigned id;
	int64_t stop;
	unsigned rounds;
	atomic_bool bad;
};

static void stamp(unsigned char *b, uint64_t mark)
{
	memcpy(b, &mark, sizeof mark);
	memcpy(b + SIZE - sizeof mark, &mark, sizeof mark);
}

static bool stamped(const unsigned char *b, uint64_t mark)
{
	uint64_t head, tail;
	memcpy(&head, b, sizeof head);
	memcpy(&tail, b + SIZE - sizeof tail, sizeof tail);
	return head == mark && tail == mark;
}

static void *racer_main(void *arg)
{
	struct racer *r = arg;
	while (r->rounds < ROUNDS && spool_test_now_ns() < r->stop) {
		unsigned char *b[HELD];
		uint64_t mark = (uint64_t)r->id << 32 | r->rounds;
		for (int i = 0; i < HELD; i++) {
			b[i] = spool__mpi_blocks_get(&race_cache);
			if (!b[i]) {
				atomic_store(&r->bad, true);
				return NULL;
			}
			stamp(b[i], mark);
		}
		sched_yield();
		for (int i = 0; i < HELD; i++) {
			if (!stamped(b[i], mark))
				atomic_store(&r->bad, true);
			spool__mpi_blocks_put(&race_cache, b[i]);
		}
		r->rounds++;
	}
	return NULL;
}

START_TEST(blocks_passed_between_threads_are_never_handed_out_twice)
{
	struct racer rs[RACERS];
	pthread_t th[RACERS];
	int64_t stop = spool_test_now_ns() + 5 * SPOOL_NS_PER_S;
	for (unsigned i = 0; i < RACERS; i++) {
		rs[i].id = i + 1;
		rs[i].stop = stop;
		rs[i].rounds = 0;
		atomic_init(&rs[i].bad, false);
		ck_assert_int_eq(
			pthread_create(&th[i], NULL, racer_main, &rs[i]), 0);
	}
	unsigned total = 0;
	for (unsigned i = 0; i < RACERS; i++) {
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
		ck_assert(!atomic_load(&rs[i].bad));
		ck_assert_uint_gt(rs[i].rounds, 0);
		total += rs[i].rounds;
	}
	/* Every block came back, and the bound (all the racers' blocks at
	 * once) kept every one: no more were made than were held at once. */
	ck_assert_uint_ge(held(&race_cache), HELD);
	ck_assert_uint_le(held(&race_cache), RACERS * HELD);
	printf("blocks race: %u rounds\n", total);
	drain(&race_cache);
}
END_TEST

/* The size classes of the root's result blocks: a message takes the
 * smallest block it fits if it fills more than half of it, so that no
 * block holds more than twice the bytes asked, and the rest gets memory
 * of its own size. Checked for every size up to past the largest class. */
START_TEST(a_size_takes_a_block_only_if_it_fills_more_than_half)
{
	static struct spool__mpi_blocks classes[] = {
		SPOOL__MPI_BLOCKS_INIT(512, 4),
		SPOOL__MPI_BLOCKS_INIT(1024, 4),
	};
	ck_assert_ptr_null(spool__mpi_blocks_pick(classes, 2, 1));
	ck_assert_ptr_null(spool__mpi_blocks_pick(classes, 2, 256));
	ck_assert_ptr_eq(spool__mpi_blocks_pick(classes, 2, 257), &classes[0]);
	ck_assert_ptr_eq(spool__mpi_blocks_pick(classes, 2, 512), &classes[0]);
	ck_assert_ptr_eq(spool__mpi_blocks_pick(classes, 2, 513), &classes[1]);
	ck_assert_ptr_eq(spool__mpi_blocks_pick(classes, 2, 1024), &classes[1]);
	ck_assert_ptr_null(spool__mpi_blocks_pick(classes, 2, 1025));
	unsigned picked = 0;
	for (size_t bytes = 1; bytes <= 4096; bytes++) {
		struct spool__mpi_blocks *c = spool__mpi_blocks_pick(classes, 2,
								     bytes);
		if (!c)
			continue;
		picked++;
		ck_assert_uint_ge(c->size, bytes);
		ck_assert_uint_lt(c->size, 2 * bytes);
	}
	/* 257-512 and 513-1024: every size either class can serve. */
	ck_assert_uint_eq(picked, 256 + 512);
	ck_assert_ptr_null(spool__mpi_blocks_pick(classes, 0, 300));
}
END_TEST

#if defined(BLOCKS_ASAN)
/* Under AddressSanitizer only: a block given back is poisoned (but for
 * its link word), so a read of it is a use after free. */
START_TEST(a_block_given_back_is_poisoned)
{
	static struct spool__mpi_blocks c = SPOOL__MPI_BLOCKS_INIT(SIZE, 2);
	unsigned char *b = get_filled(&c, 7);
	spool__mpi_blocks_put(&c, b);
	ck_assert(__asan_address_is_poisoned(b + sizeof(void *)));
	ck_assert(__asan_address_is_poisoned(b + SIZE - 1));
	ck_assert(!__asan_address_is_poisoned(b));
	unsigned char *again = get_filled(&c, 8);
	ck_assert_ptr_eq(again, b);
	ck_assert(!__asan_address_is_poisoned(b + SIZE - 1));
	free(again);
}
END_TEST
#endif

int main(void)
{
	Suite *s = suite_create("mpi_blocks");
	TCase *tc = spool_test_case("blocks", 60);
	tcase_add_test(tc, blocks_given_back_are_taken_again_last_in_first_out);
	tcase_add_test(tc, a_cache_keeps_its_bound_and_frees_the_rest);
	tcase_add_test(
		tc, blocks_passed_between_threads_are_never_handed_out_twice);
	tcase_add_test(tc,
		       a_size_takes_a_block_only_if_it_fills_more_than_half);
#if defined(BLOCKS_ASAN)
	tcase_add_test(tc, a_block_given_back_is_poisoned);
#endif
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
