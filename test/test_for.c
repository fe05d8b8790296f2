/* SPDX-License-Identifier: MIT */
/* Suite "for": every promise spool/pool.h makes about spool_for(): the
 * pieces cover [begin, end) exactly once for any range (empty, reversed,
 * negative, at the ends of int64_t), each call gets at least grain
 * indices unless the range is smaller, the first error is returned and
 * stops the loop, the caller's cancel request is seen in the body, calls
 * from outside the pool run on its workers, and the splitting is lazy. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

#define TIMEOUT_NS (10 * SPOOL_NS_PER_S)

/* ---- coverage -------------------------------------------------------------
 */

struct cover {
	int64_t begin, end, grain;
	atomic_int *hits;           /* index i - begin */
	atomic_int calls, bad_call; /* a call outside the range, empty, or
				       smaller than grain when it need not be */
};

static int cover_body(void *arg, int64_t lo, int64_t hi)
{
	struct cover *c = arg;
	atomic_fetch_add(&c->calls, 1);
	int64_t g = c->grain ? c->grain : 1;
	if (lo < c->begin || hi > c->end || lo >= hi ||
	    (hi - lo < g && c->end - c->begin >= g))
		atomic_fetch_add(&c->bad_call, 1);
	else
		for (int64_t i = lo; i < hi; i++)
			atomic_fetch_add_explicit(&c->hits[i - c->begin], 1,
						  memory_order_relaxed);
	return 0;
}

/* Runs one loop (from the calling thread) and checks the coverage. */
static void check_cover(spool_pool *p, int64_t begin, int64_t end,
			int64_t grain)
{
	int64_t n = end > begin ? end - begin : 0;
	struct cover c = {.begin = begin, .end = end, .grain = grain};
	c.hits = calloc((size_t)(n ? n : 1), sizeof *c.hits);
	ck_assert_ptr_nonnull(c.hits);
	ck_assert_int_eq(spool_for(p, begin, end, grain, cover_body, &c), 0);
	ck_assert_msg(atomic_load(&c.bad_call) == 0,
		      "[%lld, %lld) grain %lld: a call out of range or too "
		      "small",
		      (long long)begin, (long long)end, (long long)grain);
	for (int64_t i = 0; i < n; i++)
		ck_assert_msg(atomic_load(&c.hits[i]) == 1,
			      "[%lld, %lld) grain %lld: index %lld handled "
			      "%d times",
			      (long long)begin, (long long)end,
			      (long long)grain, (long long)(begin + i),
			      atomic_load(&c.hits[i]));
	if (n == 0)
		ck_assert_int_eq(atomic_load(&c.calls), 0);
	free(c.hits);
}

static const int64_t ranges[][2] = {
	{0, 0},        {5, 5},      {7, 3},    {-3, -7},  {0, 1},
	{0, 2},        {0, 3},      {0, 100},  {-50, 50}, {-1000, -999},
	{-1000, -1},   {1, 1000},   {0, 4096}, {0, 4097}, {13, 20013},
	{-7777, 3333}, {-20000, 0},
};
static const int64_t grains[] = {0, 1, 3, 64, 1 << 20};

static void cover_all(spool_pool *p)
{
	for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++)
		for (size_t g = 0; g < sizeof grains / sizeof grains[0]; g++)
			check_cover(p, ranges[r][0], ranges[r][1], grains[g]);
}

static int cover_task(void *arg, void **result)
{
	cover_all(arg);
	*result = NULL;
	return 0;
}

START_TEST(every_index_is_handled_exactly_once_for_many_ranges_and_grains)
{
	int workers[] = {1, 2, 4};
	for (int w = 0; w < 3; w++) {
		spool_pool *p = spool_test_pool_new(workers[w]);
		/* from a task of the pool, and from outside it */
		spool_future *t = spool_submit(spool_pool_executor(p),
					       cover_task, p);
		ck_assert_int_eq(spool_future_wait(t, 60 * SPOOL_NS_PER_S), 0);
		ck_assert_int_eq(spool_future_error(t), 0);
		spool_future_release(t);
		cover_all(p);
		spool_pool_destroy(p);
	}
}
END_TEST

/* ---- the ends of int64_t
 * ------------------------------------------------------- */

enum { MAX_PIECES = 4096 };

struct pieces {
	pthread_mutex_t mu;
	int n;
	int64_t lo[MAX_PIECES], hi[MAX_PIECES];
};

static int record(void *arg, int64_t lo, int64_t hi)
{
	struct pieces *p = arg;
	pthread_mutex_lock(&p->mu);
	if (p->n < MAX_PIECES) {
		p->lo[p->n] = lo;
		p->hi[p->n] = hi;
	}
	p->n++;
	pthread_mutex_unlock(&p->mu);
	return 0;
}

static int cmp_lo(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* The pieces of [begin, end) tile it: sorted by lo, each starts where the
 * previous one ended. */
static void check_tiles(spool_pool *pool, int64_t begin, int64_t end,
			int64_t grain)
{
	struct pieces *p = calloc(1, sizeof *p);
	ck_assert_ptr_nonnull(p);
	pthread_mutex_init(&p->mu, NULL);
	ck_assert_int_eq(spool_for(pool, begin, end, grain, record, p), 0);
	ck_assert_int_le(p->n, MAX_PIECES);
	ck_assert_int_ge(p->n, 1);
	int64_t(*pairs)[2] = malloc((size_t)p->n * sizeof *pairs);
	ck_assert_ptr_nonnull(pairs);
	for (int i = 0; i < p->n; i++) {
		pairs[i][0] = p->lo[i];
		pairs[i][1] = p->hi[i];
	}
	qsort(pairs, (size_t)p->n, sizeof *pairs, cmp_lo);
	ck_assert(pairs[0][0] == begin);
	for (int i = 0; i < p->n; i++) {
		ck_assert(pairs[i][0] < pairs[i][1]);
		if (i > 0)
			ck_assert(pairs[i][0] == pairs[i - 1][1]);
	}
	ck_assert(pairs[p->n - 1][1] == end);
	free(pairs);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

START_TEST(ranges_at_the_ends_of_int64_are_tiled_without_overflow)
{
	spool_pool *p = spool_test_pool_new(2);
	check_tiles(p, INT64_MIN, INT64_MIN + 1000, 1);
	check_tiles(p, INT64_MAX - 1000, INT64_MAX, 3);
	check_tiles(p, -1000, INT64_MAX, INT64_MAX / 8);
	check_tiles(p, INT64_MIN, INT64_MAX, INT64_MAX / 4);
	check_tiles(p, INT64_MIN, 1000, INT64_MAX / 4);
	spool_pool_destroy(p);
}
END_TEST

/* ---- errors
 * ------------------------------------------------------------------- */

struct fail {
	int64_t at; /* the index whose call fails */
	int code;
	atomic_llong handled; /* indices of calls that returned 0 */
};

static int fail_body(void *arg, int64_t lo, int64_t hi)
{
	struct fail *f = arg;
	if (lo <= f->at && f->at < hi)
		return f->code;
	atomic_fetch_add(&f->handled, hi - lo);
	return 0;
}

START_TEST(the_first_error_is_returned_and_stops_the_loop)
{
	for (int w = 1; w <= 2; w++) {
		spool_pool *p = spool_test_pool_new(w);
		struct fail f = {.at = 0, .code = 55};
		atomic_init(&f.handled, 0);
		ck_assert_int_eq(spool_for(p, 0, 1000000, 1000, fail_body, &f),
				 55);
		/* The loop stopped: most of the range was never handled. */
		ck_assert_int_lt(atomic_load(&f.handled), 1000000 - 1000);
		/* A failure at the end, too. */
		struct fail g = {.at = 999999, .code = 66};
		atomic_init(&g.handled, 0);
		ck_assert_int_eq(spool_for(p, 0, 1000000, 1000, fail_body, &g),
				 66);
		spool_pool_destroy(p);
	}
}
END_TEST

START_TEST(bad_arguments_are_einval_and_nothing_runs)
{
	spool_pool *p = spool_test_pool_new(1);
	struct cover c = {.end = 10};
	atomic_int hits[10];
	c.hits = hits;
	ck_assert_int_eq(spool_for(NULL, 0, 10, 0, cover_body, &c),
			 SPOOL_EINVAL);
	ck_assert_int_eq(spool_for(p, 0, 10, 0, NULL, &c), SPOOL_EINVAL);
	ck_assert_int_eq(spool_for(p, 0, 10, -1, cover_body, &c), SPOOL_EINVAL);
	ck_assert_int_eq(atomic_load(&c.calls), 0);
	spool_pool_destroy(p);
}
END_TEST

START_TEST(a_loop_from_outside_after_shutdown_is_eshutdown_and_never_runs)
{
	spool_pool *p = spool_test_pool_new(1);
	ck_assert_int_eq(spool_pool_shutdown(p, SPOOL_SHUTDOWN_WAIT), 0);
	struct cover c = {.end = 10};
	atomic_int hits[10];
	c.hits = hits;
	ck_assert_int_eq(spool_for(p, 0, 10, 0, cover_body, &c),
			 SPOOL_ESHUTDOWN);
	ck_assert_int_eq(atomic_load(&c.calls), 0);
	spool_pool_destroy(p);
}
END_TEST

/* ---- where the body runs, and what it sees
 * --------------------------------------- */

struct seen {
	pthread_t main;
	atomic_int on_main, with_cancel, calls;
	atomic_bool go; /* the main thread has cancelled the task */
	atomic_bool started;
};

static int seen_body(void *arg, int64_t lo, int64_t hi)
{
	struct seen *s = arg;
	(void)lo, (void)hi;
	atomic_fetch_add(&s->calls, 1);
	if (pthread_equal(pthread_self(), s->main))
		atomic_fetch_add(&s->on_main, 1);
	atomic_store(&s->started, true);
	int64_t end = spool_test_now_ns() + TIMEOUT_NS;
	while (!atomic_load(&s->go) && spool_test_now_ns() < end)
		sched_yield();
	if (spool_cancel_requested())
		atomic_fetch_add(&s->with_cancel, 1);
	return 0;
}

START_TEST(a_loop_from_outside_runs_its_body_on_the_workers)
{
	spool_pool *p = spool_test_pool_new(2);
	struct seen s = {.main = pthread_self()};
	atomic_store(&s.go, true);
	ck_assert_int_eq(spool_for(p, 0, 10000, 10, seen_body, &s), 0);
	ck_assert_int_gt(atomic_load(&s.calls), 0);
	ck_assert_int_eq(atomic_load(&s.on_main), 0);
	ck_assert_int_eq(atomic_load(&s.with_cancel), 0);
	spool_pool_destroy(p);
}
END_TEST

static spool_pool *seen_pool;

static int seen_task(void *arg, void **result)
{
	*result = NULL;
	return spool_for(seen_pool, 0, 64, 1, seen_body, arg);
}

START_TEST(the_body_sees_the_cancel_request_of_the_calling_task)
{
	seen_pool = spool_test_pool_new(2);
	struct seen s = {.main = pthread_self()};
	spool_future *t = spool_submit(spool_pool_executor(seen_pool),
				       seen_task, &s);
	int64_t end = spool_test_now_ns() + TIMEOUT_NS;
	while (!atomic_load(&s.started) && spool_test_now_ns() < end)
		sched_yield();
	ck_assert_int_eq(spool_future_cancel(t), SPOOL_EBUSY);
	atomic_store(&s.go, true);
	ck_assert_int_eq(spool_future_wait(t, TIMEOUT_NS), 0);
	spool_future_release(t);
	spool_pool_destroy(seen_pool);
	ck_assert_int_gt(atomic_load(&s.calls), 0);
	ck_assert_int_eq(atomic_load(&s.with_cancel), atomic_load(&s.calls));
}
END_TEST

/* ---- lazy splitting
 * -------------------------------------------------------------- */

static int count_body(void *arg, int64_t lo, int64_t hi)
{
	struct cover *c = arg;
	(void)lo, (void)hi;
	atomic_fetch_add_explicit(&c->calls, 1, memory_order_relaxed);
	return 0;
}

START_TEST(a_grain_of_one_does_not_mean_a_call_per_index)
{
	for (int w = 1; w <= 4; w *= 2) {
		spool_pool *p = spool_test_pool_new(w);
		struct cover c = {.end = 1000000, .grain = 1};
		ck_assert_int_eq(spool_for(p, 0, 1000000, 1, count_body, &c),
				 0);
		/* An eager split to grain would make 10^6 calls; a lazy one
		 * makes a few per worker and per steal. */
		ck_assert_int_lt(atomic_load(&c.calls), 10000);
		spool_pool_destroy(p);
	}
}
END_TEST

/* ---- stress
 * ------------------------------------------------------------------------ */

enum { STRESS_THREADS = 4, STRESS_ROUNDS = 100 };

struct stress {
	spool_pool *pool;
	atomic_int bad;
};

static int sum_body(void *arg, int64_t lo, int64_t hi)
{
	int64_t s = 0;
	for (int64_t i = lo; i < hi; i++)
		s += i;
	atomic_fetch_add_explicit((atomic_llong *)arg, s, memory_order_relaxed);
	return 0;
}

static void *stress_thread(void *arg)
{
	struct stress *st = arg;
	int64_t end = spool_test_now_ns() + 20 * SPOOL_NS_PER_S;
	for (int r = 0; r < STRESS_ROUNDS && spool_test_now_ns() < end; r++) {
		atomic_llong sum;
		atomic_init(&sum, 0);
		int64_t n = 1000 + 977 * r;
		if (spool_for(st->pool, 0, n, r % 5, sum_body, &sum) != 0 ||
		    atomic_load(&sum) != n * (n - 1) / 2)
			atomic_fetch_add(&st->bad, 1);
	}
	return NULL;
}

START_TEST(loops_from_many_threads_at_once_are_all_exact)
{
	struct stress st = {.pool = spool_test_pool_new(3)};
	atomic_init(&st.bad, 0);
	pthread_t th[STRESS_THREADS];
	for (int i = 0; i < STRESS_THREADS; i++)
		ck_assert_int_eq(
			pthread_create(&th[i], NULL, stress_thread, &st), 0);
	for (int i = 0; i < STRESS_THREADS; i++)
		pthread_join(th[i], NULL);
	spool_pool_destroy(st.pool);
	ck_assert_int_eq(atomic_load(&st.bad), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("for");
	TCase *tc = spool_test_case("cover", 120);
	tcase_add_test(
		tc,
		every_index_is_handled_exactly_once_for_many_ranges_and_grains);
	tcase_add_test(tc,
		       ranges_at_the_ends_of_int64_are_tiled_without_overflow);
	tcase_add_test(tc, a_grain_of_one_does_not_mean_a_call_per_index);
	suite_add_tcase(s, tc);

	tc = spool_test_case("errors", 60);
	tcase_add_test(tc, the_first_error_is_returned_and_stops_the_loop);
	tcase_add_test(tc, bad_arguments_are_einval_and_nothing_runs);
	tcase_add_test(
		tc,
		a_loop_from_outside_after_shutdown_is_eshutdown_and_never_runs);
	suite_add_tcase(s, tc);

	tc = spool_test_case("where", 60);
	tcase_add_test(tc, a_loop_from_outside_runs_its_body_on_the_workers);
	tcase_add_test(tc,
		       the_body_sees_the_cancel_request_of_the_calling_task);
	tcase_add_test(tc, loops_from_many_threads_at_once_are_all_exact);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
