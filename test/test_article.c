/* SPDX-License-Identifier: MIT */
/* ctest-labels: lesson */
/*
 * Suite "article": the scenarios of "Use these methods to make your Python
 * concurrent tasks perform better" (asyncio.gather, as_completed, wait),
 * timed. Three tasks take 300, 100 and 200 ms (the article's 3, 1 and 2
 * seconds, scaled); a fourth fails after 150 ms. Each scenario runs on a
 * pool with enough workers (the tasks block their worker, as time.sleep)
 * and on the event loop (the tasks are coroutines that suspend, as
 * asyncio.sleep); the combinator code is the same for both.
 *
 * The assertions are orders and coarse bounds with wide margins ("well
 * before the sum of the delays", "before the slow task ends": at least
 * MARGIN each, since the machine may be loaded), never speeds. Each test
 * first measures how late the machine wakes sleeping threads now and skips,
 * saying so, when that leaves the margin no room (support.h). Sanitizer
 * builds skip this suite (label lesson): their slowdown is not what these
 * bounds are about.
 */
#include "comb_support.h"

#define SLOW (300 * MS)
#define FAST (100 * MS)
#define MID (200 * MS)
#define FAIL_AT (150 * MS)
#define SUM (SLOW + FAST + MID)
/* The least room any upper bound below leaves beyond the ideal. */
#define MARGIN (100 * MS)

static int64_t delays[3] = {SLOW, FAST, MID};
static int64_t fail_at = FAIL_AT;

/* Sleeps *arg ns (suspends on a loop, blocks a pool worker), then returns
 * arg as its value. */
static int nap(void *arg, void **result)
{
	int rc = spool_sleep(*(int64_t *)arg);
	if (rc != 0)
		return rc;
	*result = arg;
	return 0;
}

static int nap_then_fail(void *arg, void **result)
{
	int rc = spool_sleep(*(int64_t *)arg);
	return rc != 0 ? rc : 42;
}

static int64_t now(void)
{
	return spool_test_now_ns();
}

static void start_three(spool_executor *ex, spool_future **fs)
{
	for (int i = 0; i < 3; i++)
		fs[i] = spool_submit(ex, nap, &delays[i]);
}

/* ---- the scenarios, on any executor ------------------------------------ */

/* gather returns after the longest task, with results in input order. */
static void gather_scenario(spool_executor *ex)
{
	int64_t t0 = now();
	spool_future *fs[3];
	start_three(ex, fs);
	spool_future *g = spool_gather(fs, 3, 0);
	ck_assert_int_eq(spool_future_wait(g, SPOOL_FOREVER), 0);
	int64_t took = now() - t0;
	ck_assert_int_ge(took, SLOW);
	ck_assert_int_lt(took, SUM - FAST); /* well before the sum */
	for (size_t i = 0; i < 3; i++) {
		void *v;
		ck_assert_int_eq(spool_gather_result(g, i, &v), 0);
		ck_assert_ptr_eq(v, &delays[i]);
	}
	spool_future_release(g);
	release_all(fs, 3);
}

/* as_completed hands them back in the order of their delays, each soon
 * after its own delay. */
static void as_completed_scenario(spool_executor *ex)
{
	int64_t t0 = now();
	spool_future *fs[3];
	start_three(ex, fs);
	spool_as_completed *it;
	ck_assert_int_eq(spool_as_completed_create(&it, fs, 3, SPOOL_FOREVER),
			 0);
	size_t want[3] = {1, 2, 0}; /* 100, 200, 300 ms */
	for (int k = 0; k < 3; k++) {
		spool_future *f;
		size_t idx;
		ck_assert_int_eq(spool_as_completed_next(it, &f, &idx), 0);
		int64_t at = now() - t0;
		ck_assert_uint_eq(idx, want[k]);
		ck_assert_int_ge(at, delays[idx]);
		if (k == 0) /* handled long before the slow one ends */
			ck_assert_int_lt(at, SLOW);
	}
	spool_future *f;
	ck_assert_int_eq(spool_as_completed_next(it, &f, NULL), SPOOL_EOF);
	spool_as_completed_destroy(it);
	release_all(fs, 3);
}

/* wait(FIRST_COMPLETED) returns after the shortest, the rest pending. */
static void wait_first_scenario(spool_executor *ex)
{
	int64_t t0 = now();
	spool_future *fs[3];
	start_three(ex, fs);
	bool done[3];
	size_t nd, np;
	ck_assert_int_eq(spool_wait(fs, 3, SPOOL_FIRST_COMPLETED, SPOOL_FOREVER,
				    done, &nd, &np),
			 0);
	int64_t took = now() - t0;
	ck_assert_int_ge(took, FAST);
	ck_assert_int_lt(took, SLOW);
	ck_assert(!done[0] && done[1]); /* the fast one, not the slow one */
	ck_assert_uint_ge(nd, 1);
	ck_assert_uint_le(np, 2);
	ck_assert_uint_ge(np, 1);
	/* The dynamic-set pattern: wait again on what is pending. */
	spool_future *rest[2] = {fs[0], fs[2]};
	ck_assert_int_eq(spool_wait(rest, 2, SPOOL_ALL_COMPLETED, SPOOL_FOREVER,
				    done, &nd, &np),
			 0);
	ck_assert_int_ge(now() - t0, SLOW);
	ck_assert_uint_eq(np, 0);
	release_all(fs, 3);
}

/* "Await directly": each call awaited before the next starts adds up to
 * the sum of the delays: concurrency turned back into sequence. */
static void one_after_another_scenario(spool_executor *ex)
{
	int64_t t0 = now();
	for (int i = 0; i < 3; i++) {
		spool_future *f = spool_submit(ex, nap, &delays[i]);
		ck_assert_int_eq(spool_future_wait(f, SPOOL_FOREVER), 0);
		spool_future_release(f);
	}
	int64_t took = now() - t0;
	ck_assert_int_ge(took, SUM);
	ck_assert_int_lt(took, SUM + SLOW);
}

/* Start all, then wait in submission order: the total is right (the
 * longest), but the fast task is handled only after the slow one it was
 * submitted behind, long after it finished. as_completed handles it on
 * time (see above). */
static void submission_order_scenario(spool_executor *ex)
{
	int64_t t0 = now();
	spool_future *fs[3];
	start_three(ex, fs);
	int64_t handled[3];
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(spool_future_wait(fs[i], SPOOL_FOREVER), 0);
		handled[i] = now() - t0;
	}
	/* The fast one (100 ms) is handled at 300 ms, behind the slow one. */
	ck_assert_int_ge(handled[1], SLOW);
	ck_assert_int_lt(handled[2], SUM - FAST); /* the total is not the sum */
	release_all(fs, 3);
}

/* With a failing task: gather fails as soon as it fails, SPOOL_RETURN_ERRORS
 * collects everything, wait(FIRST_EXCEPTION) returns at the failure. */
static void failure_scenario(spool_executor *ex)
{
	int64_t t0 = now();
	spool_future *fs[4];
	start_three(ex, fs);
	fs[3] = spool_submit(ex, nap_then_fail, &fail_at);
	spool_future *g = spool_gather(fs, 4, 0);
	ck_assert_int_eq(spool_future_result(g, SPOOL_FOREVER, NULL), 42);
	int64_t took = now() - t0;
	ck_assert_int_ge(took, FAIL_AT);
	ck_assert_int_lt(took, SLOW); /* did not wait for the slow one */
	/* The others keep running. */
	ck_assert(!spool_future_done(fs[0]));
	spool_future_release(g);

	bool done[4];
	ck_assert_int_eq(spool_wait(fs, 4, SPOOL_FIRST_EXCEPTION, SPOOL_FOREVER,
				    done, NULL, NULL),
			 0);
	ck_assert(done[3] && !done[0]);

	g = spool_gather(fs, 4, SPOOL_RETURN_ERRORS);
	ck_assert_int_eq(spool_future_wait(g, SPOOL_FOREVER), 0);
	ck_assert_int_ge(now() - t0, SLOW);
	ck_assert_int_lt(now() - t0, SUM);
	ck_assert_int_eq(spool_future_state(g), SPOOL_DONE);
	void *v;
	ck_assert_int_eq(spool_gather_result(g, 3, &v), 42);
	ck_assert_int_eq(spool_gather_result(g, 1, &v), 0);
	ck_assert_ptr_eq(v, &delays[1]);
	spool_future_release(g);
	release_all(fs, 4);
}

/* A task group: the failure cancels the sleeping siblings at once (on the
 * loop their sleep returns SPOOL_ECANCELLED; on the pool the flag is seen
 * only when their sleep ends), and join reports it. */
static void group_scenario(spool_executor *ex, bool interrupts_sleep)
{
	int64_t t0 = now();
	spool_group *grp;
	ck_assert_int_eq(spool_group_create(&grp, ex, 0), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(spool_group_spawn(grp, nap, &delays[i], NULL),
				 0);
	ck_assert_int_eq(spool_group_spawn(grp, nap_then_fail, &fail_at, NULL),
			 0);
	ck_assert_int_eq(spool_group_join(grp, SPOOL_FOREVER), 42);
	int64_t took = now() - t0;
	ck_assert_uint_eq(spool_group_failures(grp), 1);
	if (interrupts_sleep)
		ck_assert_int_lt(took, SLOW);
	else
		ck_assert_int_ge(took, SLOW);
	spool_group_destroy(grp);
}

/* ---- on a pool --------------------------------------------------------- */

static spool_pool *pool;

static void pool_setup(void)
{
	spool_test_setup();
	pool = make_pool(6);
}

static void pool_teardown(void)
{
	spool_pool_destroy(pool);
	spool_test_teardown();
}

#define POOL_TEST(name, call)                                                  \
	START_TEST(name)                                                       \
	{                                                                      \
		if (spool_test_prompt_for(MARGIN))                             \
			call;                                                  \
	}                                                                      \
	END_TEST

POOL_TEST(pool_gather_returns_after_the_longest_in_input_order,
	  gather_scenario(spool_pool_executor(pool)))
POOL_TEST(pool_as_completed_yields_in_delay_order,
	  as_completed_scenario(spool_pool_executor(pool)))
POOL_TEST(pool_wait_first_completed_returns_after_the_shortest,
	  wait_first_scenario(spool_pool_executor(pool)))
POOL_TEST(pool_awaiting_one_after_another_takes_the_sum,
	  one_after_another_scenario(spool_pool_executor(pool)))
POOL_TEST(pool_waiting_in_submission_order_handles_fast_ones_late,
	  submission_order_scenario(spool_pool_executor(pool)))
POOL_TEST(pool_a_failure_fails_gather_at_once_and_return_errors_collects,
	  failure_scenario(spool_pool_executor(pool)))
POOL_TEST(pool_group_failure_is_reported_after_running_siblings_end,
	  group_scenario(spool_pool_executor(pool), false))

/* ---- on the loop: the same scenarios from inside a coroutine ----------- */

struct on_loop {
	spool_loop *loop;
	void (*scenario)(spool_executor *);
	void (*group)(spool_executor *, bool);
};

static int scenario_coro(void *arg, void **result)
{
	struct on_loop *o = arg;
	spool_executor *ex = spool_loop_executor(o->loop);
	if (o->scenario)
		o->scenario(ex);
	else
		o->group(ex, true);
	return 0;
}

static void run_on_loop(void (*scenario)(spool_executor *),
			void (*group)(spool_executor *, bool))
{
	struct on_loop o = {NULL, scenario, group};
	ck_assert_int_eq(spool_loop_create(&o.loop, NULL), 0);
	spool_future *f = spool_submit(spool_loop_executor(o.loop),
				       scenario_coro, &o);
	ck_assert_int_eq(spool_loop_run_until_complete(o.loop, f), 0);
	spool_future_release(f);
	spool_loop_destroy(o.loop);
}

#define LOOP_TEST(name, scenario, group)                                       \
	START_TEST(name)                                                       \
	{                                                                      \
		if (spool_test_prompt_for(MARGIN))                             \
			run_on_loop(scenario, group);                          \
	}                                                                      \
	END_TEST

LOOP_TEST(loop_gather_returns_after_the_longest_in_input_order, gather_scenario,
	  NULL)
LOOP_TEST(loop_as_completed_yields_in_delay_order, as_completed_scenario, NULL)
LOOP_TEST(loop_wait_first_completed_returns_after_the_shortest,
	  wait_first_scenario, NULL)
LOOP_TEST(loop_awaiting_one_after_another_takes_the_sum,
	  one_after_another_scenario, NULL)
LOOP_TEST(loop_waiting_in_submission_order_handles_fast_ones_late,
	  submission_order_scenario, NULL)
LOOP_TEST(loop_a_failure_fails_gather_at_once_and_return_errors_collects,
	  failure_scenario, NULL)
LOOP_TEST(loop_group_failure_cancels_sleeping_siblings_at_once, NULL,
	  group_scenario)

static Suite *article_suite(void)
{
	Suite *s = suite_create("article");
	TCase *tc = tcase_create("pool");
	tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc,
		       pool_gather_returns_after_the_longest_in_input_order);
	tcase_add_test(tc, pool_as_completed_yields_in_delay_order);
	tcase_add_test(tc,
		       pool_wait_first_completed_returns_after_the_shortest);
	tcase_add_test(tc, pool_awaiting_one_after_another_takes_the_sum);
	tcase_add_test(tc,
		       pool_waiting_in_submission_order_handles_fast_ones_late);
	tcase_add_test(
		tc,
		pool_a_failure_fails_gather_at_once_and_return_errors_collects);
	tcase_add_test(
		tc, pool_group_failure_is_reported_after_running_siblings_end);
	suite_add_tcase(s, tc);

	tc = spool_test_case("loop", 30);
	tcase_add_test(tc,
		       loop_gather_returns_after_the_longest_in_input_order);
	tcase_add_test(tc, loop_as_completed_yields_in_delay_order);
	tcase_add_test(tc,
		       loop_wait_first_completed_returns_after_the_shortest);
	tcase_add_test(tc, loop_awaiting_one_after_another_takes_the_sum);
	tcase_add_test(tc,
		       loop_waiting_in_submission_order_handles_fast_ones_late);
	tcase_add_test(
		tc,
		loop_a_failure_fails_gather_at_once_and_return_errors_collects);
	tcase_add_test(tc,
		       loop_group_failure_cancels_sleeping_siblings_at_once);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return spool_test_run(article_suite());
}
