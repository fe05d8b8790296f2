/* SPDX-License-Identifier: MIT */
/* Suite "map_then": every promise of spool_map() and spool_then(). */
#include "comb_support.h"

static int V[64];
static _Atomic int in_flight, in_flight_max, started;

static void reset_counters(void)
{
	atomic_store(&in_flight, 0);
	atomic_store(&in_flight_max, 0);
	atomic_store(&started, 0);
}

/* arg points to an int k: sleeps k ms, returns &V[k] (fails with 100 + k
 * when k >= 50). Counts how many run at once. */
static int window_task(void *arg, void **result)
{
	int k = *(int *)arg;
	atomic_fetch_add(&started, 1);
	int now = atomic_fetch_add(&in_flight, 1) + 1;
	int max = atomic_load(&in_flight_max);
	while (now > max &&
	       !atomic_compare_exchange_weak(&in_flight_max, &max, now))
		;
	spool_test_sleep_ns((k % 50) * MS);
	atomic_fetch_sub(&in_flight, 1);
	if (k >= 50)
		return 100 + k;
	*result = &V[k];
	return 0;
}

/* Counts like window_task, but holds its slot until the promise arg is
 * complete (bounded: 30 s); returns arg. */
static int gated_window_task(void *arg, void **result)
{
	atomic_fetch_add(&started, 1);
	int now = atomic_fetch_add(&in_flight, 1) + 1;
	int max = atomic_load(&in_flight_max);
	while (now > max &&
	       !atomic_compare_exchange_weak(&in_flight_max, &max, now))
		;
	spool_future_wait(arg, 30 * SPOOL_NS_PER_S);
	atomic_fetch_sub(&in_flight, 1);
	*result = arg;
	return 0;
}

/* ---- map -------------------------------------------------------------- */

START_TEST(map_gives_results_in_input_order)
{
	reset_counters();
	int ks[6] = {6, 1, 4, 2, 5, 3};
	void *args[6];
	for (int i = 0; i < 6; i++)
		args[i] = &ks[i];
	spool_future *m = spool_map(thread_executor(), window_task, args, 6, 0);
	ck_assert_int_eq(spool_future_wait(m, SPOOL_FOREVER), 0);
	ck_assert_int_eq(spool_future_state(m), SPOOL_DONE);
	ck_assert_uint_eq(spool_gather_size(m), 6);
	for (size_t i = 0; i < 6; i++) {
		void *v;
		ck_assert_int_eq(spool_gather_result(m, i, &v), 0);
		ck_assert_ptr_eq(v, &V[ks[i]]);
	}
	spool_future_release(m);
	thread_executor_drain();
}
END_TEST

START_TEST(map_runs_at_most_max_in_flight_at_once)
{
	reset_counters();
	/* thread_executor() runs each task on its own thread: nothing but
	 * max_in_flight keeps the 16 from running at once. */
	spool_future *gate = spool_promise_new();
	void *args[16];
	for (int i = 0; i < 16; i++)
		args[i] = gate;
	spool_future *m = spool_map(thread_executor(), gated_window_task, args,
				    16, 3);
	/* The tasks hold their slots on the gate: exactly 3 run, and (given
	 * a moment) no more start. */
	for (int i = 0; i < 5000 && atomic_load(&in_flight) < 3; i++)
		spool_test_sleep_ns(MS);
	for (int i = 0; i < 20; i++)
		spool_test_sleep_ns(MS);
	ck_assert_int_eq(atomic_load(&in_flight), 3);
	ck_assert_int_eq(atomic_load(&in_flight_max), 3);
	ck_assert_int_eq(atomic_load(&started), 3);
	spool_promise_set_result(gate, NULL);
	ck_assert_int_eq(spool_future_wait(m, SPOOL_FOREVER), 0);
	ck_assert_int_eq(spool_future_state(m), SPOOL_DONE);
	ck_assert_int_eq(atomic_load(&started), 16);
	ck_assert_int_eq(atomic_load(&in_flight_max), 3);
	spool_future_release(m);
	spool_future_release(gate);
	thread_executor_drain();
}
END_TEST

/* Task kinds for the failure test: index 0 runs until cancelled, index 1
 * fails, the others would succeed at once. Records which indices ran. */
static _Atomic int ran_index[8];
/* Index 0: whether it saw the cancel request, and whether it has ended;
 * it ends only once gate0 is complete. */
static _Atomic int saw_request0, finished0;
static spool_future *gate0;

static int kind_task(void *arg, void **result)
{
	intptr_t i = (intptr_t)arg;
	atomic_store(&ran_index[i], 1);
	if (i == 1) {
		/* Fails once index 0 runs (else 0 might be cancelled before
		 * it starts, and the test would show nothing of a running
		 * task). */
		for (int k = 0; k < 5000 && !atomic_load(&ran_index[0]); k++)
			spool_test_sleep_ns(MS);
		return 151;
	}
	if (i == 0) {
		for (int k = 0; k < 5000 && !spool_cancel_requested(); k++)
			spool_test_sleep_ns(MS);
		atomic_store(&saw_request0, spool_cancel_requested());
		spool_future_wait(gate0, 30 * SPOOL_NS_PER_S);
		atomic_store(&finished0, 1);
		return spool_cancel_requested() ? SPOOL_ECANCELLED : 0;
	}
	return 0;
}

static _Atomic int start_pos;
static int start_order[8];

static int records_start(void *arg, void **result)
{
	start_order[atomic_fetch_add(&start_pos, 1)] = (int)(intptr_t)arg;
	*result = arg;
	return 0;
}

START_TEST(map_starts_tasks_in_input_order)
{
	atomic_store(&start_pos, 0);
	void *args[8];
	for (intptr_t i = 0; i < 8; i++)
		args[i] = (void *)i;
	spool_future *m = spool_map(thread_executor(), records_start, args, 8,
				    1);
	ck_assert_int_eq(spool_future_wait(m, SPOOL_FOREVER), 0);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(start_order[i], i);
	spool_future_release(m);
	thread_executor_drain();
}
END_TEST

START_TEST(map_failure_fails_it_at_once_and_cancels_the_rest)
{
	void *args[8];
	for (intptr_t i = 0; i < 8; i++) {
		atomic_store(&ran_index[i], 0);
		args[i] = (void *)i;
	}
	/* Window 2: index 1 fails while index 0 runs; the failure stops
	 * every later launch and asks index 0 to stop. */
	atomic_store(&saw_request0, 0);
	atomic_store(&finished0, 0);
	gate0 = spool_promise_new();
	spool_future *m = spool_map(thread_executor(), kind_task, args, 8, 2);
	ck_assert_int_eq(spool_future_result(m, SPOOL_FOREVER, NULL), 151);
	/* FAILED at once: index 0 cannot have ended, its gate is shut. */
	ck_assert_int_eq(atomic_load(&finished0), 0);
	ck_assert_int_eq(spool_future_state(m), SPOOL_FAILED);
	ck_assert_int_eq(spool_gather_result(m, 0, NULL), 151);
	spool_future_release(m);
	spool_promise_set_result(gate0, NULL);
	thread_executor_drain();
	spool_future_release(gate0);
	ck_assert_int_eq(atomic_load(&ran_index[1]), 1);
	/* The running one was asked to stop. */
	ck_assert_int_eq(atomic_load(&saw_request0), 1);
	for (int i = 2; i < 8; i++)
		ck_assert_int_eq(atomic_load(&ran_index[i]), 0);
}
END_TEST

/* Polls the cancel flag; returns ECANCELLED when asked (bounded), after
 * 20 ms of cleaning up, and counts how many have ended (settled) and how
 * many of those saw the request (acked). */
static _Atomic int settled, acked;

static int until_cancelled(void *arg, void **result)
{
	atomic_fetch_add(&started, 1);
	for (int i = 0; i < 5000 && !spool_cancel_requested(); i++)
		spool_test_sleep_ns(MS);
	int rc = spool_cancel_requested() ? SPOOL_ECANCELLED : 0;
	spool_test_sleep_ns(20 * MS);
	atomic_fetch_add(&acked, rc == SPOOL_ECANCELLED);
	atomic_fetch_add(&settled, 1);
	return rc;
}

START_TEST(map_cancel_ends_cancelled_once_running_tasks_settle)
{
	reset_counters();
	void *args[5] = {NULL};
	spool_future *m = spool_map(thread_executor(), until_cancelled, args, 5,
				    2);
	atomic_store(&settled, 0);
	atomic_store(&acked, 0);
	for (int i = 0; i < 5000 && atomic_load(&started) < 2; i++)
		spool_test_sleep_ns(MS);
	ck_assert_int_eq(spool_future_cancel(m), 0);
	ck_assert_int_eq(spool_future_wait(m, SPOOL_FOREVER), 0);
	ck_assert_int_eq(spool_future_state(m), SPOOL_CANCELLED);
	/* CANCELLED only once both running tasks had ended, having seen the
	 * request. */
	ck_assert_int_eq(atomic_load(&settled), 2);
	ck_assert_int_eq(atomic_load(&acked), 2);
	ck_assert_int_eq(atomic_load(&started), 2);
	spool_future_release(m);
	thread_executor_drain();
	ck_assert_int_eq(atomic_load(&started), 2);
}
END_TEST

START_TEST(map_timeout_through_wait_for_cancels_the_rest)
{
	reset_counters();
	void *args[6] = {NULL};
	atomic_store(&settled, 0);
	spool_future *m = spool_map(thread_executor(), until_cancelled, args, 6,
				    3);
	ck_assert_int_eq(spool_wait_for(m, 20 * MS, NULL), SPOOL_ETIMEDOUT);
	/* wait_for waited for the running ones to settle. */
	ck_assert_int_eq(spool_future_state(m), SPOOL_CANCELLED);
	ck_assert_int_eq(atomic_load(&settled), atomic_load(&started));
	ck_assert_int_le(atomic_load(&started), 3);
	spool_future_release(m);
	thread_executor_drain();
	ck_assert_int_le(atomic_load(&started), 3);
}
END_TEST

START_TEST(map_of_zero_is_done_at_once)
{
	spool_future *m = spool_map(thread_executor(), window_task, NULL, 0, 4);
	ck_assert_int_eq(spool_future_state(m), SPOOL_DONE);
	ck_assert_uint_eq(spool_gather_size(m), 0);
	spool_future_release(m);
}
END_TEST

static int identity(void *arg, void **result)
{
	*result = arg;
	return 0;
}

START_TEST(map_on_the_inline_executor_does_not_recurse_with_large_n)
{
	enum { N = 50000 }; /* recursing would need far more stack */
	void **args = malloc(N * sizeof *args);
	for (intptr_t i = 0; i < N; i++)
		args[i] = (void *)(i + 1);
	spool_future *m = spool_map(spool_executor_inline(), identity, args, N,
				    1);
	free(args); /* read during the call only */
	ck_assert_int_eq(spool_future_state(m), SPOOL_DONE);
	void **vals = spool_future_value(m);
	for (intptr_t i = 0; i < N; i++)
		ck_assert_ptr_eq(vals[i], (void *)(i + 1));
	spool_future_release(m);
}
END_TEST

START_TEST(map_bad_input_gives_a_future_failed_with_einval)
{
	void *args[1] = {NULL};
	spool_future *m = spool_map(NULL, identity, args, 1, 0);
	ck_assert_int_eq(spool_future_error(m), SPOOL_EINVAL);
	spool_future_release(m);
	m = spool_map(spool_executor_inline(), NULL, args, 1, 0);
	ck_assert_int_eq(spool_future_error(m), SPOOL_EINVAL);
	spool_future_release(m);
	m = spool_map(spool_executor_inline(), identity, NULL, 1, 0);
	ck_assert_int_eq(spool_future_error(m), SPOOL_EINVAL);
	spool_future_release(m);
}
END_TEST

START_TEST(map_executor_refusal_fails_it)
{
	void *args[3] = {NULL};
	spool_future *m = spool_map(refusing_executor(), identity, args, 3, 1);
	ck_assert_int_eq(spool_future_error(m), SPOOL_ESHUTDOWN);
	spool_future_release(m);
}
END_TEST

/* ---- then ------------------------------------------------------------- */

static pthread_t then_thread;
static spool_future *then_seen_src;

/* Records what it saw; returns &V[outcome of src] or fails with 70. */
static int cont(spool_future *src, void *arg, void **result)
{
	then_thread = pthread_self();
	then_seen_src = src;
	ck_assert(spool_future_done(src));
	if (spool_future_error(src) != 0)
		return 70;
	*result = arg;
	return 0;
}

START_TEST(then_runs_fn_on_its_executor_once_the_source_is_done)
{
	spool_future *src = spool_promise_new();
	then_seen_src = NULL;
	spool_future *c = spool_then(src, thread_executor(), cont, &V[3]);
	ck_assert_int_eq(spool_future_state(c), SPOOL_PENDING);
	ck_assert_ptr_null(then_seen_src);
	spool_promise_set_result(src, &V[1]);
	void *v;
	ck_assert_int_eq(spool_future_result(c, SPOOL_FOREVER, &v), 0);
	ck_assert_ptr_eq(v, &V[3]);
	ck_assert_ptr_eq(then_seen_src, src);
	ck_assert(!pthread_equal(then_thread, pthread_self()));
	spool_future_release(c);
	spool_future_release(src);
	thread_executor_drain();
}
END_TEST

START_TEST(then_receives_a_failed_source_and_decides)
{
	spool_future *src = spool_promise_new();
	spool_promise_set_error(src, 9);
	spool_future *c = spool_then(src, spool_executor_inline(), cont, &V[0]);
	/* Source already final, inline executor: done before return. */
	ck_assert_int_eq(spool_future_state(c), SPOOL_FAILED);
	ck_assert_int_eq(spool_future_error(c), 70);
	ck_assert_ptr_eq(then_seen_src, src);
	spool_future_release(c);
	spool_future_release(src);
}
END_TEST

static _Atomic int then_runs;

static int counting_cont(spool_future *src, void *arg, void **result)
{
	atomic_fetch_add(&then_runs, 1);
	return 0;
}

START_TEST(then_cancelled_before_it_starts_never_runs_fn)
{
	atomic_store(&then_runs, 0);
	spool_future *src = spool_promise_new();
	spool_future *c = spool_then(src, spool_executor_inline(),
				     counting_cont, NULL);
	ck_assert_int_eq(spool_future_cancel(c), 0);
	ck_assert_int_eq(spool_future_state(c), SPOOL_CANCELLED);
	spool_promise_set_result(src, NULL);
	ck_assert_int_eq(atomic_load(&then_runs), 0);
	spool_future_release(c);
	spool_future_release(src);
}
END_TEST

static _Atomic int cont_running;

static int cancellable_cont(spool_future *src, void *arg, void **result)
{
	atomic_store(&cont_running, 1);
	for (int i = 0; i < 5000 && !spool_cancel_requested(); i++)
		spool_test_sleep_ns(MS);
	return spool_cancel_requested() ? SPOOL_ECANCELLED : 0;
}

START_TEST(then_cancel_while_fn_runs_is_seen_by_fn)
{
	atomic_store(&cont_running, 0);
	spool_future *src = spool_promise_new();
	spool_future *c = spool_then(src, thread_executor(), cancellable_cont,
				     NULL);
	spool_promise_set_result(src, NULL);
	for (int i = 0; i < 5000 && !atomic_load(&cont_running); i++)
		spool_test_sleep_ns(MS);
	ck_assert_int_eq(spool_future_state(c), SPOOL_RUNNING);
	ck_assert_int_eq(spool_future_cancel(c), SPOOL_EBUSY);
	ck_assert_int_eq(spool_future_wait(c, SPOOL_FOREVER), 0);
	ck_assert_int_eq(spool_future_state(c), SPOOL_CANCELLED);
	spool_future_release(c);
	spool_future_release(src);
	thread_executor_drain();
}
END_TEST

START_TEST(then_fails_with_the_error_of_an_executor_that_refuses)
{
	atomic_store(&then_runs, 0);
	spool_future *src = spool_promise_new();
	spool_future *c = spool_then(src, refusing_executor(), counting_cont,
				     NULL);
	spool_promise_set_result(src, NULL);
	ck_assert_int_eq(spool_future_error(c), SPOOL_ESHUTDOWN);
	ck_assert_int_eq(atomic_load(&then_runs), 0);
	spool_future_release(c);
	spool_future_release(src);
}
END_TEST

START_TEST(then_keeps_its_source_so_the_caller_may_release_it)
{
	spool_future *src = spool_promise_new();
	struct completer *k = complete_later(src, 5 * MS, END_VALUE, 0, NULL);
	spool_future *c = spool_then(src, thread_executor(), cont, &V[2]);
	spool_future_release(src);
	void *v;
	ck_assert_int_eq(spool_future_result(c, SPOOL_FOREVER, &v), 0);
	ck_assert_ptr_eq(v, &V[2]);
	completer_join(k);
	spool_future_release(c);
	thread_executor_drain();
}
END_TEST

static int add_one(spool_future *src, void *arg, void **result)
{
	*result = (void *)((intptr_t)spool_future_value(src) + 1);
	return 0;
}

START_TEST(then_chains)
{
	spool_future *src = spool_promise_new();
	spool_future *f = spool_future_retain(src);
	for (int i = 0; i < 50; i++) {
		spool_executor *ex = i % 2 ? thread_executor()
					   : spool_executor_inline();
		spool_future *next = spool_then(f, ex, add_one, NULL);
		spool_future_release(f);
		f = next;
	}
	spool_promise_set_result(src, (void *)(intptr_t)1);
	void *v;
	ck_assert_int_eq(spool_future_result(f, SPOOL_FOREVER, &v), 0);
	ck_assert_ptr_eq(v, (void *)(intptr_t)51);
	spool_future_release(f);
	spool_future_release(src);
	thread_executor_drain();
}
END_TEST

START_TEST(then_bad_input_gives_a_future_failed_with_einval)
{
	spool_future *src = spool_promise_new();
	spool_future *c = spool_then(NULL, spool_executor_inline(), cont, NULL);
	ck_assert_int_eq(spool_future_error(c), SPOOL_EINVAL);
	spool_future_release(c);
	c = spool_then(src, NULL, cont, NULL);
	ck_assert_int_eq(spool_future_error(c), SPOOL_EINVAL);
	spool_future_release(c);
	c = spool_then(src, spool_executor_inline(), NULL, NULL);
	ck_assert_int_eq(spool_future_error(c), SPOOL_EINVAL);
	spool_future_release(c);
	ck_assert_int_eq(spool_future_state(src), SPOOL_PENDING);
	spool_future_release(src);
}
END_TEST

/* ---- on a pool -------------------------------------------------------- */

/* In a pool task with one worker: waiting for the map must run it. */
static int maps_inside(void *arg, void **result)
{
	spool_executor *ex = arg;
	void *args[20];
	for (intptr_t i = 0; i < 20; i++)
		args[i] = (void *)i;
	spool_future *m = spool_map(ex, plus_one, args, 20, 3);
	int rc = spool_future_wait(m, SPOOL_FOREVER);
	void **vals = spool_future_value(m);
	for (intptr_t i = 0; rc == 0 && i < 20; i++)
		if (vals[i] != (void *)(i + 1))
			rc = 1;
	spool_future_release(m);
	return rc;
}

START_TEST(map_inside_a_pool_task_with_one_worker_helps_instead_of_deadlocking)
{
	spool_pool *p = make_pool(1);
	spool_executor *ex = spool_pool_executor(p);
	spool_future *f = spool_submit(ex, maps_inside, ex);
	ck_assert_int_eq(spool_future_result(f, SPOOL_FOREVER, NULL), 0);
	spool_future_release(f);
	spool_pool_destroy(p);
}
END_TEST

START_TEST(then_on_a_pool_runs_on_a_worker)
{
	spool_pool *p = make_pool(2);
	spool_future *src = spool_promise_new();
	spool_future *c = spool_then(src, spool_pool_executor(p), add_one,
				     NULL);
	spool_promise_set_result(src, (void *)(intptr_t)41);
	void *v;
	ck_assert_int_eq(spool_future_result(c, SPOOL_FOREVER, &v), 0);
	ck_assert_ptr_eq(v, (void *)(intptr_t)42);
	spool_future_release(c);
	spool_future_release(src);
	spool_pool_destroy(p);
}
END_TEST

START_TEST(race_map_over_a_pool_with_8_workers)
{
	enum { N = 3000 };
	spool_pool *p = make_pool(8);
	void **args = malloc(N * sizeof *args);
	for (intptr_t i = 0; i < N; i++)
		args[i] = (void *)i;
	for (int it = 0; it < 20; it++) {
		spool_future *m = spool_map(spool_pool_executor(p), plus_one,
					    args, N, (size_t)(it % 4) * 8);
		ck_assert_int_eq(spool_future_wait(m, SPOOL_FOREVER), 0);
		void **vals = spool_future_value(m);
		for (intptr_t i = 0; i < N; i++)
			ck_assert_ptr_eq(vals[i], (void *)(i + 1));
		spool_future_release(m);
	}
	free(args);
	spool_pool_destroy(p);
}
END_TEST

/* ---- on the loop ------------------------------------------------------ */

static int64_t short_nap = 1 * MS;

/* map over coroutines with a window, then a continuation on the loop, all
 * awaited from a coroutine. */
static int maps_coroutines(void *arg, void **result)
{
	void *args[10];
	for (int i = 0; i < 10; i++)
		args[i] = &short_nap;
	spool_future *m = spool_map(loop_ex(), coro_nap, args, 10, 3);
	int rc = spool_future_wait(m, SPOOL_FOREVER);
	if (rc == 0 && spool_future_state(m) != SPOOL_DONE)
		rc = 1;
	spool_future *c = spool_then(m, loop_ex(), cont, &V[5]);
	void *v = NULL;
	if (rc == 0 &&
	    (spool_future_result(c, SPOOL_FOREVER, &v) != 0 || v != &V[5]))
		rc = 2;
	spool_future_release(c);
	spool_future_release(m);
	return rc;
}

START_TEST(map_and_then_on_the_loop_from_a_coroutine)
{
	ck_assert_int_eq(run_coro(maps_coroutines, NULL), 0);
}
END_TEST

/* ---- races ------------------------------------------------------------ */

enum { RACE_THREADS = 8, RACE_ITERS = 200 };

struct then_race {
	spool_future *src;
	spool_future *c;
	pthread_barrier_t *go;
	int role;
};

static void *then_racer(void *arg)
{
	struct then_race *r = arg;
	pthread_barrier_wait(r->go);
	if (r->role == 0)
		spool_promise_set_result(r->src, (void *)(intptr_t)7);
	else if (r->role == 1)
		spool_future_cancel(r->c);
	else
		spool_future_wait(r->c, SPOOL_FOREVER);
	return NULL;
}

START_TEST(race_then_completion_cancel_and_waits_from_8_threads)
{
	for (int it = 0; it < RACE_ITERS; it++) {
		spool_future *src = spool_promise_new();
		spool_executor *ex = it % 2 ? spool_executor_inline()
					    : thread_executor();
		spool_future *c = spool_then(src, ex, add_one, NULL);
		pthread_barrier_t go;
		pthread_barrier_init(&go, NULL, RACE_THREADS);
		pthread_t th[RACE_THREADS];
		struct then_race r[RACE_THREADS];
		for (int t = 0; t < RACE_THREADS; t++) {
			r[t] = (struct then_race){src, c, &go, t < 2 ? t : 2};
			pthread_create(&th[t], NULL, then_racer, &r[t]);
		}
		for (int t = 0; t < RACE_THREADS; t++)
			pthread_join(th[t], NULL);
		pthread_barrier_destroy(&go);
		ck_assert(spool_future_done(c));
		spool_state s = spool_future_state(c);
		ck_assert(s == SPOOL_CANCELLED || s == SPOOL_DONE);
		if (s == SPOOL_DONE)
			ck_assert_ptr_eq(spool_future_value(c),
					 (void *)(intptr_t)8);
		spool_future_release(c);
		spool_future_release(src);
	}
	thread_executor_drain();
}
END_TEST

static void *map_racer(void *arg)
{
	pthread_barrier_wait(arg);
	void *args[32];
	for (intptr_t i = 0; i < 32; i++)
		args[i] = (void *)(i + 1);
	for (int k = 0; k < 20; k++) {
		spool_future *m = spool_map(spool_executor_inline(), identity,
					    args, 32, (size_t)(k % 4));
		if (k % 3 == 0)
			spool_future_cancel(m);
		ck_assert(spool_future_done(m));
		if (spool_future_state(m) == SPOOL_DONE)
			for (intptr_t i = 0; i < 32; i++)
				ck_assert_ptr_eq(
					((void **)spool_future_value(m))[i],
					(void *)(i + 1));
		spool_future_release(m);
	}
	return NULL;
}

START_TEST(race_map_from_8_threads)
{
	pthread_barrier_t go;
	pthread_barrier_init(&go, NULL, RACE_THREADS);
	pthread_t th[RACE_THREADS];
	for (int t = 0; t < RACE_THREADS; t++)
		pthread_create(&th[t], NULL, map_racer, &go);
	for (int t = 0; t < RACE_THREADS; t++)
		pthread_join(th[t], NULL);
	pthread_barrier_destroy(&go);
}
END_TEST

/* Tasks on threads that complete while a canceller stops the map. */
static int tiny_task(void *arg, void **result)
{
	*result = arg;
	return (intptr_t)arg == 9999 ? 5 : 0;
}

START_TEST(race_map_stop_against_completing_tasks_on_threads)
{
	for (int it = 0; it < 40; it++) {
		void *args[24];
		for (intptr_t i = 0; i < 24; i++)
			args[i] = (void *)(it % 4 == 0 && i == 12 ? 9999 : i);
		spool_future *m = spool_map(thread_executor(), tiny_task, args,
					    24, 8);
		if (it % 2)
			spool_future_cancel(m);
		ck_assert_int_eq(spool_future_wait(m, SPOOL_FOREVER), 0);
		spool_state s = spool_future_state(m);
		if (s == SPOOL_DONE)
			for (intptr_t i = 0; i < 24; i++)
				ck_assert_ptr_eq(
					((void **)spool_future_value(m))[i],
					args[i]);
		else if (s == SPOOL_FAILED)
			ck_assert_int_eq(spool_future_error(m), 5);
		else
			ck_assert_int_eq(s, SPOOL_CANCELLED);
		spool_future_release(m);
	}
	thread_executor_drain();
}
END_TEST

static Suite *map_then_suite(void)
{
	Suite *s = suite_create("map_then");
	TCase *tc = spool_test_case("map", 30);
	tcase_add_test(tc, map_gives_results_in_input_order);
	tcase_add_test(tc, map_runs_at_most_max_in_flight_at_once);
	tcase_add_test(tc, map_starts_tasks_in_input_order);
	tcase_add_test(tc, map_failure_fails_it_at_once_and_cancels_the_rest);
	tcase_add_test(tc, map_cancel_ends_cancelled_once_running_tasks_settle);
	tcase_add_test(tc, map_timeout_through_wait_for_cancels_the_rest);
	tcase_add_test(tc, map_of_zero_is_done_at_once);
	tcase_add_test(
		tc, map_on_the_inline_executor_does_not_recurse_with_large_n);
	tcase_add_test(tc, map_bad_input_gives_a_future_failed_with_einval);
	tcase_add_test(tc, map_executor_refusal_fails_it);
	suite_add_tcase(s, tc);

	tc = spool_test_case("then", 30);
	tcase_add_test(tc,
		       then_runs_fn_on_its_executor_once_the_source_is_done);
	tcase_add_test(tc, then_receives_a_failed_source_and_decides);
	tcase_add_test(tc, then_cancelled_before_it_starts_never_runs_fn);
	tcase_add_test(tc, then_cancel_while_fn_runs_is_seen_by_fn);
	tcase_add_test(tc,
		       then_fails_with_the_error_of_an_executor_that_refuses);
	tcase_add_test(tc, then_keeps_its_source_so_the_caller_may_release_it);
	tcase_add_test(tc, then_chains);
	tcase_add_test(tc, then_bad_input_gives_a_future_failed_with_einval);
	suite_add_tcase(s, tc);

	tc = spool_test_case("pool", 60);
	tcase_add_test(
		tc,
		map_inside_a_pool_task_with_one_worker_helps_instead_of_deadlocking);
	tcase_add_test(tc, then_on_a_pool_runs_on_a_worker);
	suite_add_tcase(s, tc);

	tc = spool_test_case("loop", 60);
	tcase_add_test(tc, map_and_then_on_the_loop_from_a_coroutine);
	suite_add_tcase(s, tc);

	tc = spool_test_case("race", 240);
	tcase_add_test(tc, race_map_over_a_pool_with_8_workers);
	tcase_add_test(tc,
		       race_then_completion_cancel_and_waits_from_8_threads);
	tcase_add_test(tc, race_map_from_8_threads);
	tcase_add_test(tc, race_map_stop_against_completing_tasks_on_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return spool_test_run(map_then_suite());
}
