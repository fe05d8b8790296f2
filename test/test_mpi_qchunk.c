/* SPDX-License-Identifier: MIT */
/*
 * Suite "mpi_qchunk": the cache of the executor's queue chunks
 * (src/mpi/qchunk.h) keeps at most SPOOL__QCHUNK_CACHE_MAX emptied chunks
 * (16 MiB) for the next burst, hands the one given back last out first,
 * never keeps an oversized chunk, and never hands one chunk to two
 * threads. Nothing here needs MPI: the cache is plain memory, so this is a
 * plain suite among the core's, run in every build (ThreadSanitizer's
 * too, where the mpi suites are not) whether or not MPI is installed.
 *
 * qchunk.c is compiled into this file, whose tests read its file-scope
 * cache (libspool-mpi's own copy is another one, which nothing here
 * uses). A chunk that was neither cached nor given to free() would be a
 * leak, which the AddressSanitizer build's leak check reports at exit;
 * the ThreadSanitizer build checks the race test.
 */
#include "mpi/qchunk.c"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "support.h"

_Static_assert((size_t)SPOOL__QCHUNK_CACHE_MAX *QCHUNK_BYTES == (size_t)16
									<< 20,
	       "qchunk.h says 16 MiB");

static unsigned cached_now(void)
{
	pthread_mutex_lock(&cache_mu);
	unsigned n = ncached;
	pthread_mutex_unlock(&cache_mu);
	return n;
}

static bool is_cached(const struct qchunk *c)
{
	bool found = false;
	pthread_mutex_lock(&cache_mu);
	for (const struct qchunk *k = cache; k && !found; k = k->next)
		found = k == c;
	pthread_mutex_unlock(&cache_mu);
	return found;
}

/* Empties the cache (its chunks to free()), whatever an earlier test in
 * this process left there. */
static void drain(void)
{
	pthread_mutex_lock(&cache_mu);
	struct qchunk *c = cache;
	cache = NULL;
	ncached = 0;
	pthread_mutex_unlock(&cache_mu);
	while (c) {
		struct qchunk *next = c->next;
		free(c);
		c = next;
	}
}

/* A chunk from spool__qchunk_get(), its whole room written (so that the
 * AddressSanitizer build checks that the room is there). */
static struct qchunk *get_filled(size_t rsize, int byte)
{
	struct qchunk *c = spool__qchunk_get(rsize);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_ge(c->cap, rsize);
	ck_assert_uint_eq((uintptr_t)c % _Alignof(max_align_t), 0);
	memset((unsigned char *)c + QCHUNK_OFF, byte, c->cap);
	return c;
}

START_TEST(emptied_chunks_are_taken_again_last_in_first_out)
{
	drain();
	enum { N = 5 };
	struct qchunk *c[N];
	for (int i = 0; i < N; i++) {
		c[i] = get_filled(100, i);
		ck_assert_uint_eq(c[i]->cap, QCHUNK_BYTES);
	}
	/* Given back as the queue gives them back: a list in queue order. */
	for (int i = 0; i < N - 1; i++)
		c[i]->next = c[i + 1];
	c[N - 1]->next = NULL;
	spool__qchunk_put(c[0]);
	ck_assert_uint_eq(cached_now(), N);
	/* The last one pushed, c[N - 1], comes out first. */
	for (int i = N - 1; i >= 0; i--) {
		struct qchunk *g = get_filled(QCHUNK_BYTES, 0x5a);
		ck_assert_ptr_eq(g, c[i]);
		ck_assert_uint_eq(g->cap, QCHUNK_BYTES);
		c[i] = g;
	}
	ck_assert_uint_eq(cached_now(), 0);
	for (int i = 0; i < N; i++) {
		c[i]->next = NULL;
		spool__qchunk_put(c[i]);
	}
	ck_assert_uint_eq(cached_now(), N);
	drain();
}
END_TEST

START_TEST(the_cache_keeps_its_bound_and_frees_the_rest)
{
	drain();
	enum { EXTRA = 10, N = SPOOL__QCHUNK_CACHE_MAX + EXTRA };
	static struct qchunk *c[N];
	struct qchunk *list = NULL;
	for (int i = 0; i < N; i++) {
		c[i] = get_filled(1, 1);
		c[i]->next = list;
		list = c[i];
	}
	spool__qchunk_put(list);
	/* The first SPOOL__QCHUNK_CACHE_MAX of the list stay, the rest went
	 * to free() (the leak check would see them otherwise). */
	ck_assert_uint_eq(cached_now(), SPOOL__QCHUNK_CACHE_MAX);
	for (int i = N - 1; i >= EXTRA; i--)
		ck_assert(is_cached(c[i]));
	/* The next SPOOL__QCHUNK_CACHE_MAX chunks all come from the cache. */
	for (int i = 0; i < SPOOL__QCHUNK_CACHE_MAX; i++) {
		struct qchunk *g = spool__qchunk_get(QCHUNK_BYTES);
		bool ours = false;
		for (int j = EXTRA; j < N && !ours; j++)
			ours = g == c[j];
		ck_assert(ours);
		free(g);
	}
	ck_assert_uint_eq(cached_now(), 0);
	/* And then from malloc. */
	struct qchunk *fresh = get_filled(QCHUNK_BYTES, 2);
	ck_assert_uint_eq(fresh->cap, QCHUNK_BYTES);
	fresh->next = NULL;
	spool__qchunk_put(fresh);
	ck_assert_uint_eq(cached_now(), 1);
	drain();
}
END_TEST

START_TEST(oversized_chunks_are_never_cached)
{
	drain();
	struct qchunk *small = get_filled(8, 3);
	small->next = NULL;
	spool__qchunk_put(small);
	ck_assert_uint_eq(cached_now(), 1);
	/* A record larger than a chunk's room gets a chunk of its own size,
	 * not the cached one... */
	struct qchunk *big = get_filled(QCHUNK_BYTES + 1, 4);
	ck_assert_ptr_ne(big, small);
	ck_assert_uint_eq(big->cap, QCHUNK_BYTES + 1);
	ck_assert_uint_eq(cached_now(), 1);
	/* ...and goes back to free(), not into the cache. */
	big->next = NULL;
	spool__qchunk_put(big);
	ck_assert_uint_eq(cached_now(), 1);
	ck_assert(is_cached(small));
	ck_assert(!is_cached(big));
	drain();
}
END_TEST

/* Threads take chunks, stamp them with their own mark, check the mark
 * after others had time to take chunks too, and give them back, some one
 * by one and some as a list: a chunk handed to two threads at once would
 * show another thread's mark. */
enum { RACERS = 4, HELD = 6 };

struct racer {
	unsigned id;
	int64_t stop;
	unsigned rounds;
	atomic_bool bad;
};

static void stamp(struct qchunk *c, uint64_t mark)
{
	unsigned char *room = (unsigned char *)c + QCHUNK_OFF;
	memcpy(room, &mark, sizeof mark);
	memcpy(room + c->cap - sizeof mark, &mark, sizeof mark);
}

static bool stamped(const struct qchunk *c, uint64_t mark)
{
	const unsigned char *room = (const unsigned char *)c + QCHUNK_OFF;
	uint64_t head, tail;
	memcpy(&head, room, sizeof head);
	memcpy(&tail, room + c->cap - sizeof tail, sizeof tail);
	return head == mark && tail == mark;
}

static void *racer_main(void *arg)
{
	struct racer *r = arg;
	while (r->rounds < 20000 && spool_test_now_ns() < r->stop) {
		struct qchunk *held[HELD];
		uint64_t mark = (uint64_t)r->id << 32 | r->rounds;
		for (int i = 0; i < HELD; i++) {
			held[i] = spool__qchunk_get(QCHUNK_BYTES);
			if (!held[i]) {
				atomic_store(&r->bad, true);
				return NULL;
			}
			stamp(held[i], mark);
		}
		sched_yield();
		for (int i = 0; i < HELD; i++)
			if (!stamped(held[i], mark))
				atomic_store(&r->bad, true);
		if (r->rounds % 2) {
			for (int i = 0; i < HELD; i++) {
				held[i]->next = NULL;
				spool__qchunk_put(held[i]);
			}
		} else {
			for (int i = 0; i < HELD - 1; i++)
				held[i]->next = held[i + 1];
			held[HELD - 1]->next = NULL;
			spool__qchunk_put(held[0]);
		}
		r->rounds++;
	}
	return NULL;
}

START_TEST(chunks_passed_between_threads_are_never_handed_out_twice)
{
	drain();
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
	/* Every chunk came back, and no more were made than were ever held
	 * at once. */
	ck_assert_uint_le(cached_now(), RACERS * HELD);
	ck_assert_uint_ge(cached_now(), HELD);
	printf("qchunk race: %u rounds\n", total);
	drain();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mpi_qchunk");
	TCase *tc = spool_test_case("qchunk", 60);
	tcase_add_test(tc, emptied_chunks_are_taken_again_last_in_first_out);
	tcase_add_test(tc, the_cache_keeps_its_bound_and_frees_the_rest);
	tcase_add_test(tc, oversized_chunks_are_never_cached);
	tcase_add_test(
		tc, chunks_passed_between_threads_are_never_handed_out_twice);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
