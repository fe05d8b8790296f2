/* SPDX-License-Identifier: MIT */
/* Suite "coro": loop tasks as stackful coroutines: running, sleeping,
 * awaiting futures, cancellation, SPOOL_EDEADLK, destroy with live tasks,
 * stacks (size, guard page, registers preserved across switches). */
#include <fenv.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "support.h"

#define MS SPOOL_NS_PER_MS

static spool_loop *new_loop(size_t stack_size)
{
	spool_loop_options o = SPOOL_LOOP_OPTIONS_INIT;
	o.stack_size = stack_size;
	spool_loop *loop = NULL;
	ck_assert_int_eq(spool_loop_create(&loop, &o), 0);
	return loop;
}

/* Runs fn(arg) as the only task and returns its outcome. */
static int run_one(spool_loop *loop, spool_task_fn fn, void *arg)
{
	spool_future *f = spool_test_loop_submit(loop, fn, arg);
	int rc = spool_loop_run_until_complete(loop, f);
	spool_future_release(f);
	return rc;
}

static int V; /* an address to return */

/* ---- running tasks ---------------------------------------------------- */

struct whoami {
	spool_future *current;
	spool_loop *loop;
	pthread_t thread;
};

static int whoami_task(void *arg, void **result)
{
	struct whoami *w = arg;
	w->current = spool_current_future();
	w->loop = spool_loop_current();
	w->thread = pthread_self();
	*result = &V;
	return 0;
}

START_TEST(a_submitted_task_runs_as_a_coroutine_on_the_loop_thread)
{
	spool_loop *loop = new_loop(0);
	struct whoami w = {0};
	spool_future *f = spool_test_loop_submit(loop, whoami_task, &w);
	ck_assert_int_eq(spool_future_state(f), SPOOL_PENDING);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, f), 0);
	ck_assert_int_eq(spool_future_state(f), SPOOL_DONE);
	ck_assert_ptr_eq(spool_future_value(f), &V);
	ck_assert_ptr_eq(w.current, f);
	ck_assert_ptr_eq(w.loop, loop);
	ck_assert(pthread_equal(w.thread, pthread_self()));
	ck_assert_ptr_null(spool_current_future());
	spool_future_release(f);
	spool_loop_destroy(loop);
}
END_TEST

static int fail_task(void *arg, void **result)
{
	(void)result;
	return *(int *)arg;
}

START_TEST(a_failing_task_fails_its_future_with_its_code)
{
	spool_loop *loop = new_loop(0);
	int code = 17;
	spool_future *f = spool_test_loop_submit(loop, fail_task, &code);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, f), 17);
	ck_assert_int_eq(spool_future_state(f), SPOOL_FAILED);
	ck_assert_int_eq(spool_future_error(f), 17);
	spool_future_release(f);
	spool_loop_destroy(loop);
}
END_TEST

START_TEST(submit_with_bad_arguments_gives_a_failed_future)
{
	spool_future *f = spool_submit(spool_loop_executor(NULL), whoami_task,
				       NULL);
	ck_assert_int_eq(spool_future_error(f), SPOOL_EINVAL);
	spool_future_release(f);
	spool_loop *loop = new_loop(0);
	f = spool_submit(spool_loop_executor(loop), NULL, NULL);
	ck_assert_int_eq(spool_future_error(f), SPOOL_EINVAL);
	spool_future_release(f);
	spool_loop_destroy(loop);
}
END_TEST

/* ---- sleeping --------------------------------------------------------- */

struct sleeper {
	int64_t ns;
	int64_t start, end;
	int rc;
};

static int sleep_task(void *arg, void **result)
{
	struct sleeper *s = arg;
	(void)result;
	s->start = spool_test_now_ns();
	s->rc = spool_sleep(s->ns);
	s->end = spool_test_now_ns();
	return s->rc;
}

START_TEST(one_thousand_coroutines_sleeping_50ms_sleep_concurrently)
{
	/* 1,000 x 50 ms one after the other would be 50 s; together they
	 * take about 50 ms. The bound is half the sequential time: a
	 * concurrency property with a wide margin, not a speed test. */
	enum { N = 1000 };
	spool_loop *loop = new_loop(0);
	static struct sleeper s[N];
	spool_future *f[N];
	int64_t t0 = spool_test_now_ns();
	for (int i = 0; i < N; i++) {
		s[i] = (struct sleeper){.ns = 50 * MS};
		f[i] = spool_test_loop_submit(loop, sleep_task, &s[i]);
	}
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(spool_loop_run_until_complete(loop, f[i]), 0);
	int64_t elapsed = spool_test_now_ns() - t0;
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(s[i].rc, 0);
		ck_assert_int_ge(s[i].end - s[i].start, 50 * MS);
		spool_future_release(f[i]);
	}
	ck_assert_int_lt(elapsed, N * 50 * MS / 2);
	spool_loop_destroy(loop);
}
END_TEST

static void *sleep_thread(void *arg)
{
	sleep_task(arg, NULL);
	return NULL;
}

static void sleep_cb(spool_loop *loop, void *arg)
{
	sleep_task(arg, NULL);
	spool_loop_stop(loop);
}

START_TEST(sleep_outside_a_coroutine_blocks_the_thread)
{
	/* A plain thread: time.sleep. */
	struct sleeper s = {.ns = 5 * MS};
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, sleep_thread, &s), 0);
	pthread_join(th, NULL);
	ck_assert_int_eq(s.rc, 0);
	ck_assert_int_ge(s.end - s.start, 5 * MS);
	/* The loop's thread in a callback: blocks the loop, as time.sleep
	 * in an asyncio callback does. */
	spool_loop *loop = new_loop(0);
	s = (struct sleeper){.ns = 5 * MS};
	ck_assert_int_eq(spool_loop_call_soon(loop, sleep_cb, &s, NULL), 0);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	ck_assert_int_eq(s.rc, 0);
	ck_assert_int_ge(s.end - s.start, 5 * MS);
	ck_assert_int_eq(spool_sleep(-1), SPOOL_EINVAL);
	spool_loop_destroy(loop);
}
END_TEST

struct pingpong {
	char log[16];
	int n;
};

struct yielder {
	struct pingpong *pp;
	char name;
};

static int yield_task(void *arg, void **result)
{
	struct yielder *y = arg;
	(void)result;
	for (int i = 0; i < 3; i++) {
		y->pp->log[y->pp->n++] = y->name;
		ck_assert_int_eq(spool_sleep(0), 0);
	}
	return 0;
}

START_TEST(sleep_zero_yields_to_the_other_ready_coroutines)
{
	spool_loop *loop = new_loop(0);
	struct pingpong pp = {.n = 0};
	struct yielder a = {&pp, 'a'}, b = {&pp, 'b'};
	spool_future *fa = spool_test_loop_submit(loop, yield_task, &a);
	spool_future *fb = spool_test_loop_submit(loop, yield_task, &b);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, fb), 0);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, fa), 0);
	ck_assert_int_eq(pp.n, 6);
	ck_assert_int_eq(memcmp(pp.log, "ababab", 6), 0);
	spool_future_release(fa);
	spool_future_release(fb);
	spool_loop_destroy(loop);
}
END_TEST

/* ---- awaiting futures ------------------------------------------------- */

struct awaiter {
	spool_future *f;
	int64_t timeout;
	int rc;
	void *value;
	pthread_t thread;
	bool cancel_seen;
};

static int await_task(void *arg, void **result)
{
	struct awaiter *a = arg;
	a->rc = spool_future_result(a->f, a->timeout, &a->value);
	a->thread = pthread_self();
	a->cancel_seen = spool_cancel_requested();
	*result = a->value;
	return a->rc;
}

struct completer {
	spool_future **f;
	int n;
	int64_t delay;
};

static void *complete_all(void *arg)
{
	struct completer *c = arg;
	for (int i = 0; i < c->n; i++) {
		if (c->delay)
			spool_test_sleep_ns(c->delay);
		ck_assert_int_eq(spool_promise_set_result(c->f[i], c->f[i]), 0);
	}
	return NULL;
}

START_TEST(futures_completed_by_other_threads_resume_their_coroutines)
{
	/* 4 plain threads complete 400 promises; the coroutine waiting on
	 * each resumes with its value, on the loop's thread. */
	enum { N = 400, T = 4 };
	spool_loop *loop = new_loop(0);
	static struct awaiter a[N];
	spool_future *p[N], *f[N];
	for (int i = 0; i < N; i++) {
		p[i] = spool_promise_new();
		a[i] = (struct awaiter){.f = p[i], .timeout = SPOOL_FOREVER};
		f[i] = spool_test_loop_submit(loop, await_task, &a[i]);
	}
	/* Interleave: thread t completes promises t, t+T, ... */
	static spool_future *mine[T][N / T];
	struct completer c[T];
	pthread_t th[T];
	for (int t = 0; t < T; t++) {
		for (int k = 0; k < N / T; k++)
			mine[t][k] = p[k * T + t];
		c[t] = (struct completer){mine[t], N / T, 0};
		ck_assert_int_eq(
			pthread_create(&th[t], NULL, complete_all, &c[t]), 0);
	}
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(spool_loop_run_until_complete(loop, f[i]), 0);
	for (int t = 0; t < T; t++)
		pthread_join(th[t], NULL);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(a[i].rc, 0);
		ck_assert_ptr_eq(a[i].value, p[i]);
		ck_assert_ptr_eq(spool_future_value(f[i]), p[i]);
		ck_assert(pthread_equal(a[i].thread, pthread_self()));
		spool_future_release(f[i]);
		spool_future_release(p[i]);
	}
	spool_loop_destroy(loop);
}
END_TEST

static int complete_task(void *arg, void **result)
{
	(void)result;
	return spool_promise_set_result(arg, &V);
}

START_TEST(a_coroutine_awaits_a_future_completed_by_another_coroutine)
{
	spool_loop *loop = new_loop(0);
	spool_future *p = spool_promise_new();
	struct awaiter a = {.f = p, .timeout = SPOOL_FOREVER};
	spool_future *fa = spool_test_loop_submit(loop, await_task, &a);
	spool_future *fc = spool_test_loop_submit(loop, complete_task, p);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, fa), 0);
	ck_assert_ptr_eq(a.value, &V);
	spool_future_release(fa);
	spool_future_release(fc);
	spool_future_release(p);
	spool_loop_destroy(loop);
}
END_TEST

START_TEST(an_await_that_times_out_returns_etimedout_and_leaves_the_future)
{
	spool_loop *loop = new_loop(0);
	spool_future *p = spool_promise_new();
	struct awaiter a = {.f = p, .timeout = 2 * MS};
	ck_assert_int_eq(run_one(loop, await_task, &a), SPOOL_ETIMEDOUT);
	ck_assert_int_eq(a.rc, SPOOL_ETIMEDOUT);
	ck_assert_int_eq(spool_future_state(p), SPOOL_PENDING);
	/* Poll only: no suspension. */
	a = (struct awaiter){.f = p, .timeout = 0};
	ck_assert_int_eq(run_one(loop, await_task, &a), SPOOL_ETIMEDOUT);
	/* Completing it later wakes nobody and frees everything. */
	ck_assert_int_eq(spool_promise_set_result(p, NULL), 0);
	spool_future_release(p);
	spool_loop_destroy(loop);
}
END_TEST

START_TEST(a_timed_out_await_on_a_future_dropped_uncompleted_leaks_nothing)
{
	/* The await's callback stays on p after the timeout; p is then
	 * freed without ever completing (abandoned). The leak fixture checks
	 * that the reference the callback held on the task was dropped. */
	spool_loop *loop = new_loop(0);
	spool_future *p = spool_promise_new();
	struct awaiter a = {.f = p, .timeout = 1 * MS};
	ck_assert_int_eq(run_one(loop, await_task, &a), SPOOL_ETIMEDOUT);
	spool_future_release(p);
	spool_loop_destroy(loop);
}
END_TEST

START_TEST(the_same_future_awaited_again_after_a_timeout_wakes_once_done)
{
	spool_loop *loop = new_loop(0);
	spool_future *p = spool_promise_new();
	struct awaiter a = {.f = p, .timeout = 1 * MS};
	ck_assert_int_eq(run_one(loop, await_task, &a), SPOOL_ETIMEDOUT);
	a = (struct awaiter){.f = p, .timeout = SPOOL_FOREVER};
	spool_future *f = spool_test_loop_submit(loop, await_task, &a);
	struct completer c = {&p, 1, 2 * MS};
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, complete_all, &c), 0);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, f), 0);
	pthread_join(th, NULL);
	ck_assert_ptr_eq(a.value, p);
	spool_future_release(f);
	spool_future_release(p);
	spool_loop_destroy(loop);
}
END_TEST

struct deadlk {
	spool_future *f;
	int wait_rc, poll_rc, result_rc;
};

static void deadlk_cb(spool_loop *loop, void *arg)
{
	struct deadlk *d = arg;
	d->wait_rc = spool_future_wait(d->f, SPOOL_FOREVER);
	d->result_rc = spool_future_result(d->f, 10 * MS, NULL);
	d->poll_rc = spool_future_wait(d->f, 0);
	spool_loop_stop(loop);
}

START_TEST(a_blocking_wait_on_the_loop_thread_outside_a_coroutine_is_edeadlk)
{
	spool_loop *loop = new_loop(0);
	struct deadlk d = {.f = spool_promise_new()};
	ck_assert_int_eq(spool_loop_call_soon(loop, deadlk_cb, &d, NULL), 0);
	ck_assert_int_eq(spool_loop_run(loop), 0); /* and does not hang */
	ck_assert_int_eq(d.wait_rc, SPOOL_EDEADLK);
	ck_assert_int_eq(d.result_rc, SPOOL_EDEADLK);
	ck_assert_int_eq(d.poll_rc, SPOOL_ETIMEDOUT);
	/* A final future is no wait at all. */
	spool_promise_set_result(d.f, NULL);
	ck_assert_int_eq(spool_loop_call_soon(loop, deadlk_cb, &d, NULL), 0);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	ck_assert_int_eq(d.wait_rc, 0);
	spool_future_release(d.f);
	spool_loop_destroy(loop);
}
END_TEST

/* ---- cancellation ----------------------------------------------------- */

struct canceller {
	spool_future *target;
	int rc;
};

static void cancel_cb(spool_loop *loop, void *arg)
{
	struct canceller *c = arg;
	(void)loop;
	c->rc = spool_future_cancel(c->target);
}

START_TEST(cancelling_a_coroutine_suspended_at_an_await_ends_it_ecancelled)
{
	spool_loop *loop = new_loop(0);
	spool_future *p = spool_promise_new();
	struct awaiter a = {.f = p, .timeout = SPOOL_FOREVER};
	spool_future *f = spool_test_loop_submit(loop, await_task, &a);
	struct canceller c = {f, 99};
	ck_assert_int_eq(
		spool_loop_call_later(loop, 2 * MS, cancel_cb, &c, NULL), 0);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, f),
			 SPOOL_ECANCELLED);
	ck_assert_int_eq(c.rc, 0); /* asyncio.Task.cancel() -> True */
	ck_assert_int_eq(a.rc, SPOOL_ECANCELLED);
	ck_assert(a.cancel_seen);
	ck_assert_int_eq(spool_future_state(f), SPOOL_CANCELLED);
	ck_assert_int_eq(spool_future_state(p), SPOOL_PENDING);
	spool_future_release(f);
	spool_future_release(p);
	spool_loop_destroy(loop);
}
END_TEST

START_TEST(cancelling_a_sleeping_coroutine_wakes_it_at_once)
{
	spool_loop *loop = new_loop(0);
	struct sleeper s = {.ns = 3600 * SPOOL_NS_PER_S}; /* an hour */
	spool_future *f = spool_test_loop_submit(loop, sleep_task, &s);
	struct canceller c = {f, 99};
	ck_assert_int_eq(
		spool_loop_call_later(loop, 1 * MS, cancel_cb, &c, NULL), 0);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, f),
			 SPOOL_ECANCELLED);
	ck_assert_int_eq(c.rc, 0);
	ck_assert_int_eq(s.rc, SPOOL_ECANCELLED);
	spool_future_release(f);
	spool_loop_destroy(loop);
}
END_TEST

struct remote_cancel {
	struct sleeper s;
	atomic_int started;
	spool_future *f;
};

static int flag_then_sleep_task(void *arg, void **result)
{
	struct remote_cancel *r = arg;
	atomic_store(&r->started, 1);
	return sleep_task(&r->s, result);
}

static void *cancel_from_thread(void *arg)
{
	struct remote_cancel *r = arg;
	/* Once the task runs, the loop can only process our request after
	 * the task has suspended in its sleep. */
	while (!atomic_load(&r->started))
		spool_test_sleep_ns(100 * 1000);
	ck_assert_int_eq(spool_future_cancel(r->f), 0);
	return NULL;
}

START_TEST(a_cancel_from_another_thread_is_delivered_by_the_loop)
{
	spool_loop *loop = new_loop(0);
	static struct remote_cancel r;
	r.s = (struct sleeper){.ns = 3600 * SPOOL_NS_PER_S, .rc = 99};
	atomic_store(&r.started, 0);
	r.f = spool_test_loop_submit(loop, flag_then_sleep_task, &r);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, cancel_from_thread, &r), 0);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, r.f),
			 SPOOL_ECANCELLED);
	pthread_join(th, NULL);
	ck_assert_int_eq(r.s.rc, SPOOL_ECANCELLED);
	spool_future_release(r.f);
	spool_loop_destroy(loop);
}
END_TEST

static int must_not_run(void *arg, void **result)
{
	(void)result;
	*(bool *)arg = true;
	return 0;
}

START_TEST(a_task_cancelled_before_it_starts_never_runs)
{
	spool_loop *loop = new_loop(0);
	bool ran = false;
	spool_future *f = spool_test_loop_submit(loop, must_not_run, &ran);
	ck_assert_int_eq(spool_future_cancel(f), 0);
	ck_assert_int_eq(spool_future_state(f), SPOOL_CANCELLED);
	struct sleeper s = {.ns = 1 * MS};
	ck_assert_int_eq(run_one(loop, sleep_task, &s), 0);
	ck_assert(!ran);
	spool_future_release(f);
	spool_loop_destroy(loop);
}
END_TEST

struct selfcancel {
	int cancel_rc, first, second, third;
};

static int selfcancel_task(void *arg, void **result)
{
	struct selfcancel *s = arg;
	(void)result;
	s->cancel_rc = spool_future_cancel(spool_current_future());
	s->first = spool_sleep(1 * MS);  /* the pending cancel ends it */
	s->second = spool_sleep(1 * MS); /* one cancel, one await */
	s->third = spool_sleep(0);
	return 0; /* ignoring the cancellation: the task ends DONE */
}

START_TEST(a_coroutine_cancelling_itself_ends_its_next_await_only)
{
	spool_loop *loop = new_loop(0);
	struct selfcancel s = {0};
	spool_future *f = spool_test_loop_submit(loop, selfcancel_task, &s);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, f), 0);
	ck_assert_int_eq(s.cancel_rc, 0);
	ck_assert_int_eq(s.first, SPOOL_ECANCELLED);
	ck_assert_int_eq(s.second, 0);
	ck_assert_int_eq(s.third, 0);
	ck_assert_int_eq(spool_future_state(f), SPOOL_DONE);
	ck_assert(spool_future_cancel_requested(f));
	spool_future_release(f);
	spool_loop_destroy(loop);
}
END_TEST

struct wake_cancel {
	spool_future *p, *f;
	int cancel_rc;
};

static void wake_and_cancel_cb(spool_loop *loop, void *arg)
{
	/* Completing p on the loop makes the awaiting coroutine ready to
	 * resume with 0; the cancel that follows before it resumes wins, as
	 * asyncio's Task.cancel() after the awaited future's result is set. */
	struct wake_cancel *w = arg;
	(void)loop;
	ck_assert_int_eq(spool_promise_set_result(w->p, &V), 0);
	w->cancel_rc = spool_future_cancel(w->f);
}

START_TEST(a_cancel_after_the_awaited_future_completed_still_wins)
{
	spool_loop *loop = new_loop(0);
	spool_future *p = spool_promise_new();
	struct awaiter a = {.f = p, .timeout = SPOOL_FOREVER};
	spool_future *f = spool_test_loop_submit(loop, await_task, &a);
	struct wake_cancel w = {p, f, 99};
	ck_assert_int_eq(spool_loop_call_later(loop, 1 * MS, wake_and_cancel_cb,
					       &w, NULL),
			 0);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, f),
			 SPOOL_ECANCELLED);
	ck_assert_int_eq(w.cancel_rc, 0);
	ck_assert_int_eq(a.rc, SPOOL_ECANCELLED);
	ck_assert_int_eq(spool_future_state(p), SPOOL_DONE);
	spool_future_release(f);
	spool_future_release(p);
	spool_loop_destroy(loop);
}
END_TEST

/* ---- destroy with live tasks ------------------------------------------ */

struct stubborn {
	int first, second;
	bool finished;
};

static int stubborn_task(void *arg, void **result)
{
	struct stubborn *s = arg;
	(void)result;
	s->first = spool_sleep(3600 * SPOOL_NS_PER_S);
	s->second = spool_sleep(3600 * SPOOL_NS_PER_S); /* tries again */
	s->finished = true;
	return s->second;
}

static int spawner_task(void *arg, void **result)
{
	(void)result;
	spool_future **out = arg;
	spool_sleep(3600 * SPOOL_NS_PER_S);
	/* Destroy has begun: new tasks are refused. */
	*out = spool_submit(spool_loop_executor(spool_loop_current()),
			    whoami_task, NULL);
	return SPOOL_ECANCELLED;
}

START_TEST(destroy_cancels_live_tasks_and_every_future_ends_final)
{
	spool_loop *loop = new_loop(0);
	spool_future *p = spool_promise_new();
	struct awaiter a = {.f = p, .timeout = SPOOL_FOREVER};
	struct stubborn st = {0};
	struct sleeper s = {.ns = 1 * MS};
	spool_future *late = NULL;
	bool ran = false;
	spool_future *fa = spool_test_loop_submit(loop, await_task, &a);
	spool_future *fs = spool_test_loop_submit(loop, stubborn_task, &st);
	spool_future *fp = spool_test_loop_submit(loop, spawner_task, &late);
	/* let them all suspend */
	ck_assert_int_eq(run_one(loop, sleep_task, &s), 0);
	spool_future *never = spool_test_loop_submit(loop, must_not_run,
						     &ran); /* unstarted */
	spool_loop_destroy(loop);
	ck_assert_int_eq(spool_future_state(fa), SPOOL_CANCELLED);
	ck_assert_int_eq(a.rc, SPOOL_ECANCELLED);
	ck_assert(st.finished);
	ck_assert_int_eq(st.first, SPOOL_ECANCELLED);
	ck_assert_int_eq(st.second, SPOOL_ECANCELLED);
	ck_assert_int_eq(spool_future_state(fs), SPOOL_CANCELLED);
	ck_assert_int_eq(spool_future_state(fp), SPOOL_CANCELLED);
	ck_assert_ptr_nonnull(late);
	ck_assert_int_eq(spool_future_error(late), SPOOL_ESHUTDOWN);
	ck_assert_int_eq(spool_future_state(never), SPOOL_CANCELLED);
	ck_assert(!ran);
	spool_future *list[] = {fa, fs, fp, late, never, p};
	for (size_t i = 0; i < sizeof list / sizeof *list; i++)
		spool_future_release(list[i]);
}
END_TEST

START_TEST(a_loop_tasks_future_cannot_be_completed_by_hand)
{
	/* Only the loop completes its task's future (asyncio.Task refuses
	 * set_result): the promise calls answer SPOOL_EINVAL and change
	 * nothing, so destroy still cancels the sleeping coroutine. */
	spool_loop *loop = new_loop(0);
	struct sleeper s = {.ns = 3600 * SPOOL_NS_PER_S, .rc = 99};
	spool_future *f = spool_test_loop_submit(loop, sleep_task, &s);
	struct sleeper pause = {.ns = 1 * MS};
	ck_assert_int_eq(run_one(loop, sleep_task, &pause), 0);
	ck_assert_int_eq(spool_promise_set_result(f, &V), SPOOL_EINVAL);
	ck_assert_int_eq(spool_promise_set_error(f, 7), SPOOL_EINVAL);
	ck_assert_int_eq(spool_promise_start(f), SPOOL_EINVAL);
	ck_assert_int_eq(spool_future_state(f), SPOOL_RUNNING);
	spool_loop_destroy(loop);
	ck_assert_int_eq(s.rc, SPOOL_ECANCELLED);
	ck_assert_int_eq(spool_future_state(f), SPOOL_CANCELLED);
	spool_future_release(f);
}
END_TEST

START_TEST(destroy_of_a_loop_that_never_ran_cancels_its_tasks)
{
	spool_loop *loop = new_loop(0);
	bool ran = false;
	spool_future *f = spool_test_loop_submit(loop, must_not_run, &ran);
	spool_loop_destroy(loop);
	ck_assert_int_eq(spool_future_state(f), SPOOL_CANCELLED);
	ck_assert(!ran);
	spool_future_release(f);
}
END_TEST

/* ---- stacks and registers --------------------------------------------- */

static int big_frame_task(void *arg, void **result)
{
	size_t n = *(size_t *)arg;
	volatile char *buf = __builtin_alloca(n);
	for (size_t i = 0; i < n; i += 512)
		buf[i] = (char)i;
	spool_sleep(0); /* switch with the big frame live */
	unsigned sum = 0;
	for (size_t i = 0; i < n; i += 512)
		sum += (unsigned char)buf[i] == (unsigned char)(char)i;
	*result = NULL;
	return sum == (n + 511) / 512 ? 0 : 1;
}

START_TEST(the_stack_size_option_gives_each_coroutine_that_much_stack)
{
	spool_loop *loop = new_loop(1024 * 1024);
	size_t n = 900 * 1024;
	ck_assert_int_eq(run_one(loop, big_frame_task, &n), 0);
	spool_loop_destroy(loop);
}
END_TEST

struct stack_page {
	uintptr_t page;
};

static int record_stack_page(void *arg, void **result)
{
	struct stack_page *p = arg;
	volatile char here = 0;
	long pagesz = sysconf(_SC_PAGESIZE);
	p->page = (uintptr_t)&here & ~(uintptr_t)(pagesz - 1);
	*result = NULL;
	return spool_sleep(0) + here; /* all alive at once */
}

/* How many of the recorded stack pages are still resident (mapped and in
 * memory). */
static int resident_pages(struct stack_page *p, int n)
{
	long pagesz = sysconf(_SC_PAGESIZE);
	int resident = 0;
	for (int i = 0; i < n; i++) {
		unsigned char v = 0;
		if (mincore((void *)p[i].page, (size_t)pagesz, &v) == 0 &&
		    (v & 1))
			resident++;
	}
	return resident;
}

static int finished_stacks_resident(size_t cache)
{
	enum { N = 130 };
	spool_loop_options o = SPOOL_LOOP_OPTIONS_INIT;
	o.stack_cache = cache;
	spool_loop *loop;
	ck_assert_int_eq(spool_loop_create(&loop, &o), 0);
	static struct stack_page pages[N];
	spool_future *f[N];
	for (int i = 0; i < N; i++)
		f[i] = spool_test_loop_submit(loop, record_stack_page,
					      &pages[i]);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(spool_loop_run_until_complete(loop, f[i]), 0);
		spool_future_release(f[i]);
	}
	int resident = resident_pages(pages, N);
	spool_loop_destroy(loop);
	return resident;
}

START_TEST(finished_stacks_beyond_the_stack_cache_give_their_memory_back)
{
	/* 130 coroutines alive at once, then all finished: with the default
	 * cache (1,024) their stacks stay committed for reuse; with a cache
	 * of one, all but at most one are emptied or unmapped. */
	ck_assert_int_eq(finished_stacks_resident(0), 130);
	ck_assert_int_le(finished_stacks_resident(1), 1);
}
END_TEST

static volatile int recurse_limit = 1 << 30;

static int recurse(int depth)
{
	volatile char pad[512];
	pad[0] = (char)depth;
	if (depth >= recurse_limit)
		return pad[0];
	return recurse(depth + 1) + pad[0];
}

static int overflow_task(void *arg, void **result)
{
	(void)arg;
	(void)result;
	return recurse(0);
}

START_TEST(a_coroutine_that_overflows_its_stack_dies_on_the_guard_page)
{
	/* A sanitizer's SIGSEGV handler would report the overflow and exit;
	 * the default action is what the guard page promises. */
	signal(SIGSEGV, SIG_DFL);
	spool_loop *loop = new_loop(32 * 1024);
	run_one(loop, overflow_task, NULL);
	/* not reached */
	spool_loop_destroy(loop);
}
END_TEST

struct fpu {
	int round_inside, round_back;
	double sum;
};

static int fpu_task(void *arg, void **result)
{
	struct fpu *s = arg;
	(void)result;
	fesetround(FE_UPWARD);
	volatile double x = 1.0;
	double acc = 0;
	for (int i = 0; i < 100; i++) {
		acc += x / 3.0;
		spool_sleep(0); /* values live across switches */
	}
	s->round_inside = fegetround();
	s->sum = acc;
	return 0;
}

static int fpu_watch_task(void *arg, void **result)
{
	struct fpu *s = arg;
	(void)result;
	for (int i = 0; i < 100; i++) {
		spool_sleep(0);
		s->round_back = fegetround();
		if (s->round_back != FE_TONEAREST)
			break;
	}
	return 0;
}

START_TEST(each_coroutine_keeps_its_own_registers_and_rounding_mode)
{
	spool_loop *loop = new_loop(0);
	struct fpu s = {0};
	spool_future *a = spool_test_loop_submit(loop, fpu_task, &s);
	spool_future *b = spool_test_loop_submit(loop, fpu_watch_task, &s);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, a), 0);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, b), 0);
	ck_assert_int_eq(s.round_inside, FE_UPWARD);
	ck_assert_int_eq(s.round_back, FE_TONEAREST);
	ck_assert_int_eq(fegetround(), FE_TONEAREST);
	/* Rounding up 100 times gives at least the exact sum. */
	ck_assert(s.sum >= 100.0 / 3.0);
	spool_future_release(a);
	spool_future_release(b);
	spool_loop_destroy(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("coro");
	TCase *tc = spool_test_case("tasks", 30);
	tcase_add_test(tc,
		       a_submitted_task_runs_as_a_coroutine_on_the_loop_thread);
	tcase_add_test(tc, a_failing_task_fails_its_future_with_its_code);
	tcase_add_test(tc, submit_with_bad_arguments_gives_a_failed_future);
	suite_add_tcase(s, tc);

	tc = spool_test_case("sleep", 60);
	tcase_add_test(
		tc, one_thousand_coroutines_sleeping_50ms_sleep_concurrently);
	tcase_add_test(tc, sleep_outside_a_coroutine_blocks_the_thread);
	tcase_add_test(tc, sleep_zero_yields_to_the_other_ready_coroutines);
	suite_add_tcase(s, tc);

	tc = spool_test_case("await", 30);
	tcase_add_test(
		tc, futures_completed_by_other_threads_resume_their_coroutines);
	tcase_add_test(
		tc, a_coroutine_awaits_a_future_completed_by_another_coroutine);
	tcase_add_test(
		tc,
		an_await_that_times_out_returns_etimedout_and_leaves_the_future);
	tcase_add_test(
		tc,
		a_timed_out_await_on_a_future_dropped_uncompleted_leaks_nothing);
	tcase_add_test(
		tc,
		the_same_future_awaited_again_after_a_timeout_wakes_once_done);
	tcase_add_test(
		tc,
		a_blocking_wait_on_the_loop_thread_outside_a_coroutine_is_edeadlk);
	suite_add_tcase(s, tc);

	tc = spool_test_case("cancel", 30);
	tcase_add_test(
		tc,
		cancelling_a_coroutine_suspended_at_an_await_ends_it_ecancelled);
	tcase_add_test(tc, cancelling_a_sleeping_coroutine_wakes_it_at_once);
	tcase_add_test(tc,
		       a_cancel_from_another_thread_is_delivered_by_the_loop);
	tcase_add_test(tc, a_task_cancelled_before_it_starts_never_runs);
	tcase_add_test(tc,
		       a_coroutine_cancelling_itself_ends_its_next_await_only);
	tcase_add_test(tc,
		       a_cancel_after_the_awaited_future_completed_still_wins);
	suite_add_tcase(s, tc);

	tc = spool_test_case("destroy", 30);
	tcase_add_test(tc,
		       destroy_cancels_live_tasks_and_every_future_ends_final);
	tcase_add_test(tc, destroy_of_a_loop_that_never_ran_cancels_its_tasks);
	tcase_add_test(tc, a_loop_tasks_future_cannot_be_completed_by_hand);
	suite_add_tcase(s, tc);

	tc = spool_test_case("stacks", 30);
	tcase_add_test(
		tc, the_stack_size_option_gives_each_coroutine_that_much_stack);
	tcase_add_test(
		tc,
		finished_stacks_beyond_the_stack_cache_give_their_memory_back);
	tcase_add_test_raise_signal(
		tc, a_coroutine_that_overflows_its_stack_dies_on_the_guard_page,
		SIGSEGV);
	tcase_add_test(
		tc, each_coroutine_keeps_its_own_registers_and_rounding_mode);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
