/* SPDX-License-Identifier: MIT */
/* Suite "loop_lesson": the loop's timing properties, with wide margins.
 * They hold on any idle machine but not under sanitizers, so the suite
 * carries the "lesson" label that sanitizer builds skip; on a busy
 * machine each first measures how late the machine wakes threads now and
 * skips, saying so, when that leaves its bounds no room (support.h). */
/* ctest-labels: lesson */
#include <stdlib.h>

#include "support.h"

#define MS SPOOL_NS_PER_MS

static spool_loop *new_loop(unsigned flags)
{
	spool_loop_options o = SPOOL_LOOP_OPTIONS_INIT;
	o.flags = flags;
	spool_loop *loop = NULL;
	ck_assert_int_eq(spool_loop_create(&loop, &o), 0);
	return loop;
}

/* The workload the comparison uses: the same function on a thread and in
 * a coroutine. */
static int io_bound(void *arg, void **result)
{
	(void)result;
	return spool_sleep(*(int64_t *)arg);
}

START_TEST(ten_thousand_coroutines_sleeping_50ms_finish_well_before_sequential)
{
	/* One after the other: 10,000 x 50 ms = 500 s. Concurrently on one
	 * thread: about 50 ms plus the cost of 10,000 coroutines. The bound
	 * is a tenth of the sequential time. */
	enum { N = 10000 };
	int64_t ns = 50 * MS;
	if (!spool_test_prompt_for(N * ns / 10 - ns))
		return;
	spool_loop *loop = new_loop(0);
	spool_future **f = malloc(N * sizeof *f);
	ck_assert_ptr_nonnull(f);
	int64_t t0 = spool_test_now_ns();
	for (int i = 0; i < N; i++)
		f[i] = spool_submit(spool_loop_executor(loop), io_bound, &ns);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(spool_loop_run_until_complete(loop, f[i]), 0);
	int64_t elapsed = spool_test_now_ns() - t0;
	ck_assert_int_ge(elapsed, ns);
	ck_assert_int_lt(elapsed, N * ns / 10);
	for (int i = 0; i < N; i++)
		spool_future_release(f[i]);
	free(f);
	spool_loop_destroy(loop);
}
END_TEST

START_TEST(the_same_sleep_blocks_pool_workers_but_not_the_loop)
{
	/* 40 tasks sleeping 20 ms: on a 2-worker pool spool_sleep is
	 * time.sleep, so they need at least 20 x 20 ms = 400 ms (a bound no
	 * machine can beat); on the loop it is asyncio.sleep and they end
	 * together, in well under that. */
	enum { N = 40 };
	int64_t ns = 20 * MS;
	if (!spool_test_prompt_for(N / 2 * ns / 2 - ns))
		return;
	spool_pool_options po = SPOOL_POOL_OPTIONS_INIT;
	po.workers = 2;
	spool_pool *pool;
	ck_assert_int_eq(spool_pool_create(&pool, &po), 0);
	spool_loop *loop = new_loop(0);
	spool_future *f[N];

	int64_t t0 = spool_test_now_ns();
	for (int i = 0; i < N; i++)
		f[i] = spool_submit(spool_pool_executor(pool), io_bound, &ns);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(spool_future_result(f[i], SPOOL_FOREVER, NULL),
				 0);
		spool_future_release(f[i]);
	}
	int64_t on_pool = spool_test_now_ns() - t0;

	t0 = spool_test_now_ns();
	for (int i = 0; i < N; i++)
		f[i] = spool_submit(spool_loop_executor(loop), io_bound, &ns);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(spool_loop_run_until_complete(loop, f[i]), 0);
		spool_future_release(f[i]);
	}
	int64_t on_loop = spool_test_now_ns() - t0;

	ck_assert_int_ge(on_pool, N / 2 * ns);
	ck_assert_int_lt(on_loop, N / 2 * ns / 2);
	spool_loop_destroy(loop);
	spool_pool_destroy(pool);
}
END_TEST

struct lateness {
	int64_t when;
	int64_t late;
};

static void measure_cb(spool_loop *loop, void *arg)
{
	struct lateness *l = arg;
	l->late = spool_loop_time(loop) - l->when;
	spool_loop_stop(loop);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static int64_t median_lateness(unsigned flags)
{
	enum { RUNS = 21 };
	spool_loop *loop = new_loop(flags);
	int64_t late[RUNS];
	for (int i = 0; i < RUNS; i++) {
		struct lateness l = {0, 0};
		spool_handle *h;
		ck_assert_int_eq(spool_loop_call_later(loop, 200 * 1000,
						       measure_cb, &l, &h),
				 0);
		l.when = spool_handle_when(h);
		spool_handle_release(h);
		ck_assert_int_eq(spool_loop_run(loop), 0);
		ck_assert_int_ge(l.late, 0);
		late[i] = l.late;
	}
	spool_loop_destroy(loop);
	qsort(late, RUNS, sizeof *late, cmp_i64);
	return late[RUNS / 2];
}

START_TEST(timers_have_sub_millisecond_precision)
{
	/* A 200 us timer: epoll_wait's millisecond timeout would make it at
	 * least 800 us late; with epoll_pwait2 or a timerfd it is late by
	 * the scheduler's slack (50 us by default). Median of 21. No timer
	 * can be more punctual than the machine, so each attempt first and
	 * last measures how late a thread sleeping 200 us wakes; when that
	 * takes half the bound, the attempt tells nothing. */
	const int64_t bound = 1 * MS;
	struct spool_test_lesson l = {.name = "loop timers"};
	while (spool_test_lesson_next(&l)) {
		int64_t before = spool_test_wakeup_late_ns();
		if (before >= bound / 2) {
			spool_test_lesson_busy(
				&l,
				"threads wake %lld us late before "
				"measuring",
				(long long)(before / 1000));
			continue;
		}
		int64_t late = median_lateness(0);
		int64_t late_timerfd = median_lateness(SPOOL_LOOP_TIMERFD);
		int64_t after = spool_test_wakeup_late_ns();
		if (after >= bound / 2) {
			spool_test_lesson_busy(
				&l,
				"threads wake %lld us late after "
				"measuring",
				(long long)(after / 1000));
			continue;
		}
		spool_test_lesson_result(
			&l, late < bound && late_timerfd < bound,
			"%lld us late, %lld us with a timerfd (under %lld us)",
			(long long)(late / 1000),
			(long long)(late_timerfd / 1000),
			(long long)(bound / 1000));
	}
	spool_test_lesson_end(&l);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("loop_lesson");
	TCase *tc = spool_test_case("lesson", 120);
	tcase_add_test(
		tc,
		ten_thousand_coroutines_sleeping_50ms_finish_well_before_sequential);
	tcase_add_test(tc, the_same_sleep_blocks_pool_workers_but_not_the_loop);
	tcase_add_test(tc, timers_have_sub_millisecond_precision);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
