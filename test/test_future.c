/* SPDX-License-Identifier: MIT */
/* Suite "future": every promise spool/future.h makes about futures. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "support.h"

static int V1, V2; /* addresses used as result values */

/* ---- states and transitions ------------------------------------------- */

START_TEST(promise_starts_pending_and_not_done)
{
	spool_future *f = spool_promise_new();
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(spool_future_state(f), SPOOL_PENDING);
	ck_assert(!spool_future_done(f));
	ck_assert_int_eq(spool_future_error(f), SPOOL_EAGAIN);
	ck_assert_ptr_null(spool_future_value(f));
	spool_future_release(f);
}
END_TEST

START_TEST(set_result_makes_done_with_value)
{
	spool_future *f = spool_promise_new();
	ck_assert_int_eq(spool_promise_set_result(f, &V1), 0);
	ck_assert_int_eq(spool_future_state(f), SPOOL_DONE);
	ck_assert(spool_future_done(f));
	ck_assert_int_eq(spool_future_error(f), 0);
	ck_assert_ptr_eq(spool_future_value(f), &V1);
	spool_future_release(f);
}
END_TEST

START_TEST(set_error_makes_failed_with_code)
{
	spool_future *f = spool_promise_new();
	ck_assert_int_eq(spool_promise_set_error(f, 42), 0);
	ck_assert_int_eq(spool_future_state(f), SPOOL_FAILED);
	ck_assert_int_eq(spool_future_error(f), 42);
	ck_assert_ptr_null(spool_future_value(f));
	spool_future_release(f);

	f = spool_promise_new();
	ck_assert_int_eq(spool_promise_set_error(f, SPOOL_ETIMEDOUT), 0);
	ck_assert_int_eq(spool_future_state(f), SPOOL_FAILED);
	ck_assert_int_eq(spool_future_error(f), SPOOL_ETIMEDOUT);
	spool_future_release(f);
}
END_TEST

START_TEST(set_error_cancelled_makes_cancelled)
{
	spool_future *f = spool_promise_new();
	ck_assert_int_eq(spool_promise_set_error(f, SPOOL_ECANCELLED), 0);
	ck_assert_int_eq(spool_future_state(f), SPOOL_CANCELLED);
	ck_assert_int_eq(spool_future_error(f), SPOOL_ECANCELLED);
	spool_future_release(f);
}
END_TEST

START_TEST(set_error_zero_is_einval_and_leaves_future_pending)
{
	spool_future *f = spool_promise_new();
	ck_assert_int_eq(spool_promise_set_error(f, 0), SPOOL_EINVAL);
	ck_assert_int_eq(spool_future_state(f), SPOOL_PENDING);
	ck_assert_int_eq(spool_promise_set_result(f, NULL), 0);
	ck_assert_int_eq(spool_future_state(f), SPOOL_DONE);
	spool_future_release(f);
}
END_TEST

START_TEST(second_completion_is_estate_and_keeps_first_outcome)
{
	spool_future *f = spool_promise_new();
	ck_assert_int_eq(spool_promise_set_result(f, &V1), 0);
	ck_assert_int_eq(spool_promise_set_result(f, &V2), SPOOL_ESTATE);
	ck_assert_int_eq(spool_promise_set_error(f, 7), SPOOL_ESTATE);
	ck_assert_int_eq(spool_future_state(f), SPOOL_DONE);
	ck_assert_ptr_eq(spool_future_value(f), &V1);
	spool_future_release(f);

	f = spool_promise_new();
	ck_assert_int_eq(spool_promise_set_error(f, 7), 0);
	ck_assert_int_eq(spool_promise_set_result(f, &V2), SPOOL_ESTATE);
	ck_assert_int_eq(spool_future_cancel(f), SPOOL_ESTATE);
	ck_assert_int_eq(spool_future_error(f), 7);
	spool_future_release(f);
}
END_TEST

START_TEST(start_moves_pending_to_running_once)
{
	spool_future *f = spool_promise_new();
	ck_assert_int_eq(spool_promise_start(f), 0);
	ck_assert_int_eq(spool_future_state(f), SPOOL_RUNNING);
	ck_assert(!spool_future_done(f));
	ck_assert_int_eq(spool_promise_start(f), SPOOL_ESTATE);
	ck_assert_int_eq(spool_promise_set_result(f, &V1), 0);
	ck_assert_int_eq(spool_future_state(f), SPOOL_DONE);
	ck_assert_int_eq(spool_promise_start(f), SPOOL_ESTATE);
	spool_future_release(f);
}
END_TEST

/* ---- cancel ----------------------------------------------------------- */

START_TEST(cancel_pending_cancels_and_start_then_refuses)
{
	spool_future *f = spool_promise_new();
	ck_assert_int_eq(spool_future_cancel(f), 0);
	ck_assert_int_eq(spool_future_state(f), SPOOL_CANCELLED);
	ck_assert(spool_future_cancel_requested(f));
	ck_assert_int_eq(spool_future_error(f), SPOOL_ECANCELLED);
	ck_assert_int_eq(spool_promise_start(f), SPOOL_ECANCELLED);
	ck_assert_int_eq(spool_promise_set_result(f, &V1), SPOOL_ESTATE);
	spool_future_release(f);
}
END_TEST

START_TEST(cancel_cancelled_is_noop_success)
{
	spool_future *f = spool_promise_new();
	ck_assert_int_eq(spool_future_cancel(f), 0);
	ck_assert_int_eq(spool_future_cancel(f), 0);
	ck_assert_int_eq(spool_future_state(f), SPOOL_CANCELLED);
	spool_future_release(f);
}
END_TEST

START_TEST(cancel_done_or_failed_is_estate_and_changes_nothing)
{
	spool_future *f = spool_promise_new();
	spool_promise_set_result(f, &V1);
	ck_assert_int_eq(spool_future_cancel(f), SPOOL_ESTATE);
	ck_assert_int_eq(spool_future_state(f), SPOOL_DONE);
	ck_assert(!spool_future_cancel_requested(f));
	spool_future_release(f);

	f = spool_promise_new();
	spool_promise_set_error(f, 3);
	ck_assert_int_eq(spool_future_cancel(f), SPOOL_ESTATE);
	ck_assert_int_eq(spool_future_state(f), SPOOL_FAILED);
	spool_future_release(f);
}
END_TEST

START_TEST(cancel_running_only_raises_the_request_flag)
{
	spool_future *f = spool_promise_new();
	spool_promise_start(f);
	ck_assert(!spool_future_cancel_requested(f));
	ck_assert_int_eq(spool_future_cancel(f), SPOOL_EBUSY);
	ck_assert_int_eq(spool_future_state(f), SPOOL_RUNNING);
	ck_assert(spool_future_cancel_requested(f));
	/* The work may still finish normally, as concurrent.futures. */
	ck_assert_int_eq(spool_promise_set_result(f, &V1), 0);
	ck_assert_int_eq(spool_future_state(f), SPOOL_DONE);
	ck_assert(spool_future_cancel_requested(f));
	spool_future_release(f);
}
END_TEST

static int polls_cancel(void *arg, void **result)
{
	spool_future *self = spool_current_future();
	ck_assert_ptr_nonnull(self);
	ck_assert(!spool_cancel_requested());
	ck_assert_int_eq(spool_future_cancel(self), SPOOL_EBUSY);
	ck_assert(spool_cancel_requested());
	*(int *)arg = 1;
	return SPOOL_ECANCELLED; /* acknowledge */
}

START_TEST(task_sees_cancel_request_and_acknowledges)
{
	int ran = 0;
	ck_assert(!spool_cancel_requested());
	spool_future *f = spool_submit(spool_executor_inline(), polls_cancel,
				       &ran);
	ck_assert_int_eq(ran, 1);
	ck_assert_int_eq(spool_future_state(f), SPOOL_CANCELLED);
	ck_assert_ptr_null(spool_current_future());
	spool_future_release(f);
}
END_TEST

/* ---- callbacks -------------------------------------------------------- */

struct log {
	int order[8];
	int n;
	pthread_t thread[8];
	spool_state seen[8];
};

static struct log cb_log;

static void logging_cb(spool_future *f, void *arg)
{
	int i = cb_log.n++;
	cb_log.order[i] = (int)(intptr_t)arg;
	cb_log.thread[i] = pthread_self();
	cb_log.seen[i] = spool_future_state(f);
}

START_TEST(callbacks_run_exactly_once_in_order_added)
{
	cb_log.n = 0;
	spool_future *f = spool_promise_new();
	for (intptr_t i = 0; i < 5; i++)
		ck_assert_int_eq(
			spool_future_add_callback(f, logging_cb, (void *)i), 0);
	ck_assert_int_eq(cb_log.n, 0);
	spool_promise_set_result(f, &V1);
	ck_assert_int_eq(cb_log.n, 5);
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(cb_log.order[i], i);
		ck_assert_int_eq(cb_log.seen[i], SPOOL_DONE);
	}
	spool_promise_set_result(f, &V2); /* refused: nothing runs again */
	spool_future_cancel(f);
	ck_assert_int_eq(cb_log.n, 5);
	spool_future_release(f);
}
END_TEST

START_TEST(callback_on_done_future_runs_at_once_in_caller)
{
	cb_log.n = 0;
	spool_future *f = spool_promise_new();
	spool_promise_set_error(f, 9);
	ck_assert_int_eq(spool_future_add_callback(f, logging_cb, (void *)7),
			 0);
	ck_assert_int_eq(cb_log.n, 1);
	ck_assert_int_eq(cb_log.order[0], 7);
	ck_assert(pthread_equal(cb_log.thread[0], pthread_self()));
	ck_assert_int_eq(cb_log.seen[0], SPOOL_FAILED);
	spool_future_release(f);
}
END_TEST

static void *complete_later(void *arg)
{
	spool_test_sleep_ns(20 * SPOOL_NS_PER_MS);
	ck_assert_int_eq(spool_promise_set_result(arg, &V2), 0);
	return NULL;
}

START_TEST(callback_runs_in_completing_thread)
{
	cb_log.n = 0;
	spool_future *f = spool_promise_new();
	spool_future_add_callback(f, logging_cb, (void *)1);
	pthread_t t;
	pthread_create(&t, NULL, complete_later, f);
	pthread_join(t, NULL);
	ck_assert_int_eq(cb_log.n, 1);
	ck_assert(pthread_equal(cb_log.thread[0], t));
	spool_future_release(f);
}
END_TEST

START_TEST(cancel_runs_callbacks_with_cancelled_state)
{
	cb_log.n = 0;
	spool_future *f = spool_promise_new();
	spool_future_add_callback(f, logging_cb, (void *)1);
	spool_future_cancel(f);
	ck_assert_int_eq(cb_log.n, 1);
	ck_assert_int_eq(cb_log.seen[0], SPOOL_CANCELLED);
	spool_future_release(f);
}
END_TEST

static void releasing_cb(spool_future *f, void *arg)
{
	(void)arg;
	spool_future_release(f); /* drops the reference retained for it */
}

START_TEST(callback_may_release_the_last_reference_it_owns)
{
	spool_future *f = spool_promise_new();
	spool_future_add_callback(f, releasing_cb, NULL);
	spool_future_retain(f);
	spool_future_release(f);
	/* The caller's reference now belongs to the callback. */
	spool_promise_set_result(f, NULL);
}
END_TEST

START_TEST(dropping_a_pending_future_frees_its_callbacks_unrun)
{
	cb_log.n = 0;
	spool_future *f = spool_promise_new();
	for (intptr_t i = 0; i < 3; i++)
		spool_future_add_callback(f, logging_cb, (void *)i);
	spool_future_release(f);
	ck_assert_int_eq(cb_log.n, 0);
}
END_TEST

/* ---- waiting ---------------------------------------------------------- */

START_TEST(wait_timeout_zero_only_polls)
{
	spool_future *f = spool_promise_new();
	int64_t t0 = spool_test_now_ns();
	ck_assert_int_eq(spool_future_wait(f, 0), SPOOL_ETIMEDOUT);
	ck_assert_int_lt(spool_test_now_ns() - t0, 100 * SPOOL_NS_PER_MS);
	ck_assert_int_eq(spool_future_state(f), SPOOL_PENDING);
	spool_promise_set_result(f, &V1);
	ck_assert_int_eq(spool_future_wait(f, 0), 0);
	spool_future_release(f);
}
END_TEST

START_TEST(wait_short_timeout_expires_and_leaves_future_alone)
{
	spool_future *f = spool_promise_new();
	int64_t t0 = spool_test_now_ns();
	ck_assert_int_eq(spool_future_wait(f, 30 * SPOOL_NS_PER_MS),
			 SPOOL_ETIMEDOUT);
	int64_t waited = spool_test_now_ns() - t0;
	ck_assert_int_ge(waited, 30 * SPOOL_NS_PER_MS);
	ck_assert_int_lt(waited, 5 * SPOOL_NS_PER_S);
	ck_assert_int_eq(spool_future_state(f), SPOOL_PENDING);
	ck_assert(!spool_future_cancel_requested(f));
	spool_future_release(f);
}
END_TEST

START_TEST(wait_forever_returns_when_another_thread_completes)
{
	spool_future *f = spool_promise_new();
	pthread_t t;
	/* t0 before the thread exists: its 20 ms sleep starts later, and the
	 * completion after it, so the wait lasts at least 20 ms from t0
	 * however late this thread or that one is scheduled. */
	int64_t t0 = spool_test_now_ns();
	pthread_create(&t, NULL, complete_later, f);
	ck_assert_int_eq(spool_future_wait(f, SPOOL_FOREVER), 0);
	ck_assert_int_ge(spool_test_now_ns() - t0, 20 * SPOOL_NS_PER_MS);
	ck_assert_int_eq(spool_future_state(f), SPOOL_DONE);
	ck_assert_ptr_eq(spool_future_value(f), &V2);
	pthread_join(t, NULL);
	spool_future_release(f);
}
END_TEST

START_TEST(wait_with_timeout_returns_early_on_completion)
{
	spool_future *f = spool_promise_new();
	pthread_t t;
	pthread_create(&t, NULL, complete_later, f);
	int64_t t0 = spool_test_now_ns();
	ck_assert_int_eq(spool_future_wait(f, 10 * SPOOL_NS_PER_S), 0);
	ck_assert_int_lt(spool_test_now_ns() - t0, 5 * SPOOL_NS_PER_S);
	pthread_join(t, NULL);
	spool_future_release(f);
}
END_TEST

START_TEST(result_gives_value_error_or_cancelled)
{
	void *v = &V2;
	spool_future *f = spool_promise_new();
	ck_assert_int_eq(spool_future_result(f, 0, &v), SPOOL_ETIMEDOUT);
	ck_assert_ptr_null(v);
	spool_promise_set_result(f, &V1);
	ck_assert_int_eq(spool_future_result(f, SPOOL_FOREVER, &v), 0);
	ck_assert_ptr_eq(v, &V1);
	ck_assert_int_eq(spool_future_result(f, 0, NULL), 0);
	spool_future_release(f);

	f = spool_promise_new();
	spool_promise_set_error(f, 11);
	ck_assert_int_eq(spool_future_result(f, SPOOL_FOREVER, &v), 11);
	ck_assert_ptr_null(v);
	spool_future_release(f);

	f = spool_promise_new();
	spool_future_cancel(f);
	ck_assert_int_eq(spool_future_result(f, SPOOL_FOREVER, &v),
			 SPOOL_ECANCELLED);
	spool_future_release(f);
}
END_TEST

/* ---- references, ids, bad input --------------------------------------- */

START_TEST(retain_keeps_future_alive_until_last_release)
{
	spool_future *f = spool_promise_new();
	ck_assert_ptr_eq(spool_future_retain(f), f);
	spool_future_release(f);
	ck_assert_int_eq(spool_debug_live_futures(), 1);
	ck_assert_int_eq(spool_promise_set_result(f, &V1), 0);
	spool_future_release(f);
	ck_assert_int_eq(spool_debug_live_futures(), 0);
	ck_assert_ptr_null(spool_future_retain(NULL));
	spool_future_release(NULL); /* harmless */
}
END_TEST

START_TEST(ids_are_unique_and_nonzero)
{
	spool_future *a = spool_promise_new(), *b = spool_promise_new();
	ck_assert_uint_ne(spool_future_id(a), 0);
	ck_assert_uint_ne(spool_future_id(a), spool_future_id(b));
	ck_assert_uint_eq(spool_future_id(NULL), 0);
	spool_future_release(a);
	spool_future_release(b);
}
END_TEST

START_TEST(null_and_nonsense_arguments_are_einval)
{
	spool_future *f = spool_promise_new();
	ck_assert_int_eq(spool_future_wait(NULL, 0), SPOOL_EINVAL);
	ck_assert_int_eq(spool_future_wait(f, -5), SPOOL_EINVAL);
	ck_assert_int_eq(spool_future_result(NULL, 0, NULL), SPOOL_EINVAL);
	ck_assert_int_eq(spool_future_cancel(NULL), SPOOL_EINVAL);
	ck_assert_int_eq(spool_future_add_callback(NULL, logging_cb, NULL),
			 SPOOL_EINVAL);
	ck_assert_int_eq(spool_future_add_callback(f, NULL, NULL),
			 SPOOL_EINVAL);
	ck_assert_int_eq(spool_promise_set_result(NULL, NULL), SPOOL_EINVAL);
	ck_assert_int_eq(spool_promise_set_error(NULL, 1), SPOOL_EINVAL);
	ck_assert_int_eq(spool_promise_start(NULL), SPOOL_EINVAL);
	ck_assert_int_eq(spool_future_error(NULL), SPOOL_EINVAL);
	ck_assert(!spool_future_done(NULL));
	ck_assert(!spool_future_cancel_requested(NULL));
	ck_assert_ptr_null(spool_future_value(NULL));
	ck_assert_int_eq(spool_run_task(NULL, polls_cancel, NULL),
			 SPOOL_EINVAL);
	ck_assert_int_eq(spool_future_state(f), SPOOL_PENDING);
	spool_future_release(f);
}
END_TEST

START_TEST(submit_with_bad_input_returns_failed_future)
{
	spool_future *f = spool_submit(NULL, polls_cancel, NULL);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(spool_future_state(f), SPOOL_FAILED);
	ck_assert_int_eq(spool_future_error(f), SPOOL_EINVAL);
	spool_future_release(f);
	f = spool_submit(spool_executor_inline(), NULL, NULL);
	ck_assert_int_eq(spool_future_error(f), SPOOL_EINVAL);
	spool_future_release(f);
}
END_TEST

/* In a child process: releases a promise twice (a caller bug). */
static int release_a_promise_twice(void *arg)
{
	(void)arg;
	spool_future *f = spool_promise_new();
	spool_future_release(f);
	spool_future_release(f); /* aborts */
	return 1;
}

START_TEST(double_release_aborts_with_message)
{
	spool_test_expect_misuse(release_a_promise_twice, NULL,
				 "spool_future_release",
				 "future released more times than it was "
				 "retained");
}
END_TEST

/* In a child process: asks the state of NULL (a caller bug). */
static int state_of_null(void *arg)
{
	(void)arg;
	spool_future_state(NULL);
	return 1;
}

START_TEST(state_of_null_aborts_with_message)
{
	spool_test_expect_misuse(state_of_null, NULL, "spool_future_state",
				 "NULL future");
}
END_TEST

/* ---- inline executor -------------------------------------------------- */

static int answer(void *arg, void **result)
{
	*result = arg;
	return arg ? 0 : 5;
}

START_TEST(inline_executor_runs_task_before_submit_returns)
{
	spool_future *f = spool_submit(spool_executor_inline(), answer, &V1);
	ck_assert_int_eq(spool_future_state(f), SPOOL_DONE);
	ck_assert_ptr_eq(spool_future_value(f), &V1);
	spool_future_release(f);
	f = spool_submit(spool_executor_inline(), answer, NULL);
	ck_assert_int_eq(spool_future_error(f), 5);
	spool_future_release(f);
}
END_TEST

START_TEST(run_task_refuses_a_future_that_is_not_pending)
{
	spool_future *f = spool_promise_new();
	spool_future_cancel(f);
	ck_assert_int_eq(spool_run_task(f, answer, &V1), SPOOL_ECANCELLED);
	spool_future_release(f);
	f = spool_promise_new();
	spool_promise_set_result(f, &V2);
	ck_assert_int_eq(spool_run_task(f, answer, &V1), SPOOL_ESTATE);
	ck_assert_ptr_eq(spool_future_value(f), &V2);
	spool_future_release(f);
}
END_TEST

/* ---- the race --------------------------------------------------------- */

/* 8 threads hammer the same few futures with every operation at once:
 * complete (result or error), cancel, add callbacks, wait. Afterwards each
 * future has exactly one outcome, which matches the one winner, and every
 * callback that was added ran exactly once. */
enum { RACE_THREADS = 8, RACE_FUTURES = 8, RACE_ROUNDS = 1500 };

struct race {
	pthread_barrier_t start, end;
	spool_future *f[RACE_FUTURES];
	atomic_int added[RACE_FUTURES], ran[RACE_FUTURES];
	atomic_int wins[RACE_FUTURES], cancels[RACE_FUTURES];
	_Atomic intptr_t winner[RACE_FUTURES];
	atomic_long ops;
};

static struct race R;

static void race_cb(spool_future *f, void *arg)
{
	int i = (int)(intptr_t)arg;
	ck_assert(spool_future_done(f));
	atomic_fetch_add(&R.ran[i], 1);
}

static void *racer(void *arg)
{
	intptr_t id = (intptr_t)arg;
	unsigned seed = (unsigned)id * 2654435761u;
	for (int round = 0; round < RACE_ROUNDS; round++) {
		pthread_barrier_wait(&R.start);
		long ops = 0;
		for (int k = 0; k < RACE_FUTURES; k++) {
			int i = (int)((k + id) % RACE_FUTURES);
			spool_future *f = R.f[i];
			switch (rand_r(&seed) % 4) {
			case 0:
				if (spool_future_add_callback(
					    f, race_cb, (void *)(intptr_t)i) ==
				    0)
					atomic_fetch_add(&R.added[i], 1);
				break;
			case 1:
				if (spool_promise_set_result(
					    f, (void *)(id + 1)) == 0) {
					atomic_fetch_add(&R.wins[i], 1);
					atomic_store(&R.winner[i], id + 1);
				}
				break;
			case 2:
				if (spool_promise_set_error(f, (int)id + 100) ==
				    0) {
					atomic_fetch_add(&R.wins[i], 1);
					atomic_store(&R.winner[i], -(id + 100));
				}
				break;
			default: {
				int rc = spool_future_cancel(f);
				ck_assert(rc == 0 || rc == SPOOL_ESTATE);
				if (rc == 0)
					atomic_fetch_add(&R.cancels[i], 1);
			}
			}
			ops++;
		}
		/* Everybody waits for every future; the last thread to get
		 * here makes sure each one completes. */
		for (int k = 0; k < RACE_FUTURES; k++) {
			int i = (int)((k * 3 + id) % RACE_FUTURES);
			if (id == RACE_THREADS - 1 &&
			    spool_future_cancel(R.f[i]) == 0)
				atomic_fetch_add(&R.cancels[i], 1);
			ck_assert_int_eq(
				spool_future_wait(R.f[i], SPOOL_FOREVER), 0);
			ops++;
		}
		atomic_fetch_add(&R.ops, ops);
		pthread_barrier_wait(&R.end);
	}
	return NULL;
}

/* Starts n threads running fn((void *)i) that meet the caller at the two
 * barriers each round (n + 1 parties); join_racers() ends them. */
static void start_racers(pthread_t *t, int n, void *(*fn)(void *),
			 pthread_barrier_t *start, pthread_barrier_t *end)
{
	pthread_barrier_init(start, NULL, (unsigned)n + 1);
	pthread_barrier_init(end, NULL, (unsigned)n + 1);
	for (intptr_t i = 0; i < n; i++)
		pthread_create(&t[i], NULL, fn, (void *)i);
}

static void join_racers(pthread_t *t, int n, pthread_barrier_t *start,
			pthread_barrier_t *end)
{
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(start);
	pthread_barrier_destroy(end);
}

START_TEST(race_complete_cancel_callback_wait_from_8_threads)
{
	atomic_store(&R.ops, 0);
	pthread_t t[RACE_THREADS];
	start_racers(t, RACE_THREADS, racer, &R.start, &R.end);
	for (int round = 0; round < RACE_ROUNDS; round++) {
		for (int i = 0; i < RACE_FUTURES; i++) {
			R.f[i] = spool_promise_new();
			atomic_store(&R.added[i], 0);
			atomic_store(&R.ran[i], 0);
			atomic_store(&R.wins[i], 0);
			atomic_store(&R.cancels[i], 0);
			atomic_store(&R.winner[i], 0);
		}
		pthread_barrier_wait(&R.start);
		pthread_barrier_wait(&R.end);
		for (int i = 0; i < RACE_FUTURES; i++) {
			spool_future *f = R.f[i];
			spool_state s = spool_future_state(f);
			int wins = atomic_load(&R.wins[i]);
			ck_assert_int_eq(atomic_load(&R.ran[i]),
					 atomic_load(&R.added[i]));
			if (s == SPOOL_CANCELLED) {
				ck_assert_int_eq(wins, 0);
				ck_assert_int_ge(atomic_load(&R.cancels[i]), 1);
			} else {
				ck_assert_int_eq(wins, 1);
				intptr_t w = atomic_load(&R.winner[i]);
				if (w > 0) {
					ck_assert_int_eq(s, SPOOL_DONE);
					ck_assert_ptr_eq(spool_future_value(f),
							 (void *)w);
				} else {
					ck_assert_int_eq(s, SPOOL_FAILED);
					ck_assert_int_eq(spool_future_error(f),
							 (int)-w);
				}
			}
			spool_future_release(f);
		}
	}
	join_racers(t, RACE_THREADS, &R.start, &R.end);
	ck_assert_int_ge(atomic_load(&R.ops), 100000);
}
END_TEST

/* 8 threads share each of a few futures, one reference each, and drop
 * them at once: one thread completes the future first, the others read it
 * if it is done, some retain and release an extra reference, then every
 * thread releases its own. Exactly one release frees each future (the
 * debug count of live futures returns to where it was; a second free, or a
 * read after the free, is what ASan and TSan report), whichever thread
 * comes last and whether it frees through the sole-holder path or the
 * decrement. */
enum { REL_THREADS = 8, REL_FUTURES = 16, REL_ROUNDS = 1500 };

static struct {
	pthread_barrier_t start, end;
	spool_future *f[REL_FUTURES];
	atomic_long reads;
} Rel;

static void *releaser(void *arg)
{
	intptr_t id = (intptr_t)arg;
	unsigned seed = (unsigned)id * 2246822519u + 1;
	long reads = 0;
	for (int round = 0; round < REL_ROUNDS; round++) {
		pthread_barrier_wait(&Rel.start);
		for (int k = 0; k < REL_FUTURES; k++) {
			int i = (int)((k + id) % REL_FUTURES);
			spool_future *f = Rel.f[i];
			if (i % REL_THREADS == id)
				ck_assert_int_eq(
					spool_promise_set_result(
						f, (void *)(intptr_t)(i + 1)),
					0);
			if (spool_future_done(f)) {
				ck_assert_ptr_eq(spool_future_value(f),
						 (void *)(intptr_t)(i + 1));
				reads++;
			}
			if (rand_r(&seed) % 2)
				spool_future_release(spool_future_retain(f));
			spool_future_release(f);
		}
		pthread_barrier_wait(&Rel.end);
	}
	atomic_fetch_add(&Rel.reads, reads);
	return NULL;
}

START_TEST(concurrent_releases_free_each_future_exactly_once)
{
	atomic_store(&Rel.reads, 0);
	pthread_t t[REL_THREADS];
	start_racers(t, REL_THREADS, releaser, &Rel.start, &Rel.end);
	long live = spool_debug_live_futures();
	for (int round = 0; round < REL_ROUNDS; round++) {
		for (int i = 0; i < REL_FUTURES; i++) {
			Rel.f[i] = spool_promise_new();
			ck_assert_ptr_nonnull(Rel.f[i]);
			for (int k = 1; k < REL_THREADS; k++)
				spool_future_retain(Rel.f[i]);
		}
		pthread_barrier_wait(&Rel.start);
		pthread_barrier_wait(&Rel.end);
		/* -1 in builds without the debug counter, on both sides. */
		ck_assert_int_eq(spool_debug_live_futures(), live);
	}
	join_racers(t, REL_THREADS, &Rel.start, &Rel.end);
	/* The completing thread reads its own future, at least. */
	ck_assert_int_ge(atomic_load(&Rel.reads),
			 (long)REL_ROUNDS * REL_FUTURES);
}
END_TEST

/* ---- errors and version ----------------------------------------------- */

START_TEST(every_error_code_has_a_name_and_message)
{
#define CHECK_CODE(name, value, msg)                                           \
	ck_assert_str_eq(spool_err_name(SPOOL_##name), "SPOOL_" #name);        \
	ck_assert_str_eq(spool_strerror(SPOOL_##name), msg);                   \
	ck_assert_int_lt(SPOOL_##name, 0);
	SPOOL_ERRNO_MAP(CHECK_CODE)
#undef CHECK_CODE
	ck_assert_str_eq(spool_err_name(0), "SPOOL_OK");
	ck_assert_str_eq(spool_strerror(0), "success");
	ck_assert_str_eq(spool_err_name(17), "TASK_ERROR");
	ck_assert_str_eq(spool_strerror(17), "task error");
	ck_assert_str_eq(spool_err_name(-9999), "SPOOL_EUNKNOWN");
	ck_assert_str_eq(spool_strerror(-9999), "unknown error");
}
END_TEST

START_TEST(version_matches_header)
{
	ck_assert_uint_eq(spool_version(), SPOOL_VERSION_HEX);
	ck_assert_str_eq(spool_version_string(), SPOOL_VERSION_STRING);
}
END_TEST

static Suite *future_suite(void)
{
	Suite *s = suite_create("future");
	TCase *tc = spool_test_case("states", 30);
	tcase_add_test(tc, promise_starts_pending_and_not_done);
	tcase_add_test(tc, set_result_makes_done_with_value);
	tcase_add_test(tc, set_error_makes_failed_with_code);
	tcase_add_test(tc, set_error_cancelled_makes_cancelled);
	tcase_add_test(tc, set_error_zero_is_einval_and_leaves_future_pending);
	tcase_add_test(tc, second_completion_is_estate_and_keeps_first_outcome);
	tcase_add_test(tc, start_moves_pending_to_running_once);
	suite_add_tcase(s, tc);

	tc = spool_test_case("cancel", 30);
	tcase_add_test(tc, cancel_pending_cancels_and_start_then_refuses);
	tcase_add_test(tc, cancel_cancelled_is_noop_success);
	tcase_add_test(tc, cancel_done_or_failed_is_estate_and_changes_nothing);
	tcase_add_test(tc, cancel_running_only_raises_the_request_flag);
	tcase_add_test(tc, task_sees_cancel_request_and_acknowledges);
	suite_add_tcase(s, tc);

	tc = spool_test_case("callbacks", 30);
	tcase_add_test(tc, callbacks_run_exactly_once_in_order_added);
	tcase_add_test(tc, callback_on_done_future_runs_at_once_in_caller);
	tcase_add_test(tc, callback_runs_in_completing_thread);
	tcase_add_test(tc, cancel_runs_callbacks_with_cancelled_state);
	tcase_add_test(tc, callback_may_release_the_last_reference_it_owns);
	tcase_add_test(tc, dropping_a_pending_future_frees_its_callbacks_unrun);
	suite_add_tcase(s, tc);

	tc = spool_test_case("wait", 30);
	tcase_add_test(tc, wait_timeout_zero_only_polls);
	tcase_add_test(tc, wait_short_timeout_expires_and_leaves_future_alone);
	tcase_add_test(tc, wait_forever_returns_when_another_thread_completes);
	tcase_add_test(tc, wait_with_timeout_returns_early_on_completion);
	tcase_add_test(tc, result_gives_value_error_or_cancelled);
	suite_add_tcase(s, tc);

	tc = spool_test_case("misc", 30);
	tcase_add_test(tc, retain_keeps_future_alive_until_last_release);
	tcase_add_test(tc, ids_are_unique_and_nonzero);
	tcase_add_test(tc, null_and_nonsense_arguments_are_einval);
	tcase_add_test(tc, submit_with_bad_input_returns_failed_future);
	tcase_add_test(tc, inline_executor_runs_task_before_submit_returns);
	tcase_add_test(tc, run_task_refuses_a_future_that_is_not_pending);
	tcase_add_test(tc, every_error_code_has_a_name_and_message);
	tcase_add_test(tc, version_matches_header);
	suite_add_tcase(s, tc);

	/* Death tests, each in a child process (spool_test_expect_misuse). */
	tc = tcase_create("misuse");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, double_release_aborts_with_message);
	tcase_add_test(tc, state_of_null_aborts_with_message);
	suite_add_tcase(s, tc);

	tc = spool_test_case("race", 240);
	tcase_add_test(tc, race_complete_cancel_callback_wait_from_8_threads);
	tcase_add_test(tc, concurrent_releases_free_each_future_exactly_once);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return spool_test_run(future_suite());
}
