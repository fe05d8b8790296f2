/* SPDX-License-Identifier: MIT */
/* Suite "loop_threads": the loop with other threads: tasks submitted from
 * other threads (run_coroutine_threadsafe), loop futures awaited by other
 * threads, pool threads completing futures that coroutines await, and
 * run_in_executor to a pool. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "support.h"

#define MS SPOOL_NS_PER_MS

static spool_pool *new_pool(int workers)
{
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = workers;
	spool_pool *p = NULL;
	ck_assert_int_eq(spool_pool_create(&p, &o), 0);
	return p;
}

static void stop_cb(spool_loop *loop, void *arg)
{
	(void)arg;
	spool_loop_stop(loop);
}

/* ---- submitting from other threads ------------------------------------ */

enum { SUB_THREADS = 4, SUB_TASKS = 250 };

struct sub_state {
	spool_loop *loop;
	pthread_t loop_thread;
	atomic_int wrong_thread;
	atomic_int finished_threads;
};

struct sub_arg {
	struct sub_state *s;
	intptr_t n;
};

static int square_task(void *arg, void **result)
{
	struct sub_arg *a = arg;
	if (!pthread_equal(pthread_self(), a->s->loop_thread))
		atomic_fetch_add(&a->s->wrong_thread, 1);
	if (spool_sleep(0) != 0) /* a real coroutine: it can suspend */
		return 1;
	*result = (void *)(a->n * a->n);
	return 0;
}

static void *submitter(void *arg)
{
	struct sub_state *s = arg;
	static _Thread_local struct sub_arg args[SUB_TASKS];
	spool_future *f[SUB_TASKS];
	for (int i = 0; i < SUB_TASKS; i++) {
		args[i] = (struct sub_arg){s, i};
		f[i] = spool_submit(spool_loop_executor(s->loop), square_task,
				    &args[i]);
		ck_assert_ptr_nonnull(f[i]);
	}
	/* This thread is not the loop's: waiting blocks on the futex until
	 * the loop completes the task. */
	for (int i = 0; i < SUB_TASKS; i++) {
		void *v = NULL;
		ck_assert_int_eq(spool_future_result(f[i], SPOOL_FOREVER, &v),
				 0);
		ck_assert_int_eq((intptr_t)v, (intptr_t)i * i);
		spool_future_release(f[i]);
	}
	if (atomic_fetch_add(&s->finished_threads, 1) + 1 == SUB_THREADS)
		spool_loop_call_soon_threadsafe(s->loop, stop_cb, NULL);
	return NULL;
}

START_TEST(tasks_submitted_from_other_threads_run_on_the_loop_thread)
{
	static struct sub_state s;
	s.loop = spool_test_loop_new();
	s.loop_thread = pthread_self();
	atomic_store(&s.wrong_thread, 0);
	atomic_store(&s.finished_threads, 0);
	pthread_t th[SUB_THREADS];
	for (int t = 0; t < SUB_THREADS; t++)
		ck_assert_int_eq(pthread_create(&th[t], NULL, submitter, &s),
				 0);
	ck_assert_int_eq(spool_loop_run(s.loop), 0);
	for (int t = 0; t < SUB_THREADS; t++)
		pthread_join(th[t], NULL);
	ck_assert_int_eq(atomic_load(&s.wrong_thread), 0);
	spool_loop_destroy(s.loop);
}
END_TEST

/* ---- pool threads completing futures ---------------------------------- */

static int complete_promise_task(void *arg, void **result)
{
	(void)result;
	spool_sleep(1 * MS); /* a pool worker: this blocks the worker */
	return spool_promise_set_result(arg, arg);
}

struct pool_waiter {
	spool_future *f;
	void *value;
	int rc;
	pthread_t thread;
};

static int pool_waiter_task(void *arg, void **result)
{
	struct pool_waiter *w = arg;
	w->rc = spool_future_result(w->f, SPOOL_FOREVER, &w->value);
	w->thread = pthread_self();
	*result = w->value;
	return w->rc;
}

START_TEST(futures_completed_by_pool_threads_resume_coroutines_on_the_loop)
{
	enum { N = 64 };
	spool_pool *pool = new_pool(2);
	spool_loop *loop = spool_test_loop_new();
	static struct pool_waiter w[N];
	spool_future *p[N], *task[N], *job[N];
	for (int i = 0; i < N; i++) {
		p[i] = spool_promise_new();
		w[i] = (struct pool_waiter){.f = p[i]};
		task[i] = spool_submit(spool_loop_executor(loop),
				       pool_waiter_task, &w[i]);
	}
	for (int i = 0; i < N; i++)
		job[i] = spool_submit(spool_pool_executor(pool),
				      complete_promise_task, p[i]);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(spool_loop_run_until_complete(loop, task[i]),
				 0);
		ck_assert_ptr_eq(w[i].value, p[i]);
		ck_assert(pthread_equal(w[i].thread, pthread_self()));
	}
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(spool_future_wait(job[i], SPOOL_FOREVER), 0);
		spool_future_release(job[i]);
		spool_future_release(task[i]);
		spool_future_release(p[i]);
	}
	spool_loop_destroy(loop);
	spool_pool_destroy(pool);
}
END_TEST

/* ---- run_in_executor -------------------------------------------------- */

struct blocking {
	intptr_t n;
	pthread_t thread;
};

static int blocking_task(void *arg, void **result)
{
	struct blocking *b = arg;
	b->thread = pthread_self();
	spool_sleep(2 * MS); /* time.sleep on a worker */
	if (b->n < 0)
		return 5;
	*result = (void *)(b->n + 1);
	return 0;
}

struct via_pool {
	spool_loop *loop;
	spool_executor *pool;
	struct blocking b;
	void *value;
	int rc;
	pthread_t resumed_on;
};

static int via_pool_task(void *arg, void **result)
{
	struct via_pool *v = arg;
	spool_future *f = spool_loop_run_in_executor(v->loop, v->pool,
						     blocking_task, &v->b);
	ck_assert_ptr_nonnull(f);
	v->rc = spool_future_result(f, SPOOL_FOREVER, &v->value);
	v->resumed_on = pthread_self();
	spool_future_release(f);
	*result = v->value;
	return v->rc;
}

START_TEST(run_in_executor_runs_on_the_pool_and_resumes_on_the_loop)
{
	spool_pool *pool = new_pool(2);
	spool_loop *loop = spool_test_loop_new();
	struct via_pool v = {
		.loop = loop, .pool = spool_pool_executor(pool), .b = {41, 0}};
	spool_future *f = spool_submit(spool_loop_executor(loop), via_pool_task,
				       &v);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, f), 0);
	ck_assert_int_eq((intptr_t)v.value, 42);
	ck_assert(!pthread_equal(v.b.thread, pthread_self()));
	ck_assert(pthread_equal(v.resumed_on, pthread_self()));
	spool_future_release(f);
	/* A failing function fails the loop's future with its code. */
	v = (struct via_pool){
		.loop = loop, .pool = spool_pool_executor(pool), .b = {-1, 0}};
	f = spool_submit(spool_loop_executor(loop), via_pool_task, &v);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, f), 5);
	ck_assert_int_eq(v.rc, 5);
	spool_future_release(f);
	spool_loop_destroy(loop);
	spool_pool_destroy(pool);
}
END_TEST

struct cb_thread {
	pthread_t thread;
	int calls;
};

static void record_thread_cb(spool_future *f, void *arg)
{
	struct cb_thread *c = arg;
	(void)f;
	c->thread = pthread_self();
	c->calls++;
}

START_TEST(run_in_executor_callbacks_added_anywhere_run_on_the_loop_thread)
{
	/* The callback is added from this thread before the loop runs (not
	 * the loop's context): the future is still completed by the loop's
	 * thread, so the callback runs there, not on the worker. */
	spool_pool *pool = new_pool(1);
	spool_loop *loop = spool_test_loop_new();
	struct blocking b = {1, 0};
	spool_future *f = spool_loop_run_in_executor(
		loop, spool_pool_executor(pool), blocking_task, &b);
	struct cb_thread c = {0, 0};
	ck_assert_int_eq(spool_future_add_callback(f, record_thread_cb, &c), 0);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, f), 0);
	ck_assert_int_eq((intptr_t)spool_future_value(f), 2);
	ck_assert_int_eq(c.calls, 1);
	ck_assert(pthread_equal(c.thread, pthread_self()));
	ck_assert(!pthread_equal(b.thread, pthread_self()));
	spool_future_release(f);
	spool_loop_destroy(loop);
	spool_pool_destroy(pool);
}
END_TEST

static int block_on_promise(void *arg, void **result)
{
	(void)result;
	return spool_future_wait(arg, SPOOL_FOREVER);
}

static int must_not_run(void *arg, void **result)
{
	(void)result;
	*(atomic_bool *)arg = true;
	return 0;
}

/* Occupies a pool worker without helping: a spool wait in a worker would
 * run other pool tasks meanwhile. */
struct gate {
	atomic_int started, open;
};

static int hold_worker(void *arg, void **result)
{
	struct gate *g = arg;
	(void)result;
	atomic_store(&g->started, 1);
	while (!atomic_load(&g->open))
		spool_test_sleep_ns(100 * 1000);
	return 0;
}

START_TEST(cancelling_a_run_in_executor_future_cancels_the_pool_task)
{
	/* One worker, held; the work queued behind it is cancelled through
	 * the loop's future and never runs. */
	spool_pool *pool = new_pool(1);
	spool_loop *loop = spool_test_loop_new();
	static struct gate g;
	atomic_store(&g.started, 0);
	atomic_store(&g.open, 0);
	spool_future *busy = spool_submit(spool_pool_executor(pool),
					  hold_worker, &g);
	while (!atomic_load(&g.started))
		spool_test_sleep_ns(100 * 1000);
	atomic_bool ran = false;
	spool_future *f = spool_loop_run_in_executor(
		loop, spool_pool_executor(pool), must_not_run, &ran);
	ck_assert_int_eq(spool_future_cancel(f), 0);
	ck_assert_int_eq(spool_future_state(f), SPOOL_CANCELLED);
	atomic_store(&g.open, 1);
	ck_assert_int_eq(spool_future_wait(busy, SPOOL_FOREVER), 0);
	spool_pool_shutdown(pool, SPOOL_SHUTDOWN_WAIT);
	ck_assert(!atomic_load(&ran));
	ck_assert_int_eq(
		spool_loop_call_later(loop, 1 * MS, stop_cb, NULL, NULL), 0);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	spool_future_release(f);
	spool_future_release(busy);
	spool_loop_destroy(loop);
	spool_pool_destroy(pool);
}
END_TEST

START_TEST(run_in_executor_outlives_a_destroyed_loop)
{
	/* The loop is destroyed while the work runs: the worker completes
	 * the future itself. */
	spool_pool *pool = new_pool(1);
	spool_loop *loop = spool_test_loop_new();
	spool_future *gate = spool_promise_new();
	spool_future *f = spool_loop_run_in_executor(
		loop, spool_pool_executor(pool), block_on_promise, gate);
	spool_loop_destroy(loop);
	spool_promise_set_result(gate, NULL);
	ck_assert_int_eq(spool_future_wait(f, SPOOL_FOREVER), 0);
	ck_assert_int_eq(spool_future_state(f), SPOOL_DONE);
	spool_future_release(f);
	spool_future_release(gate);
	spool_pool_destroy(pool);
	/* Bad arguments: a failed future. */
	f = spool_loop_run_in_executor(NULL, NULL, block_on_promise, NULL);
	ck_assert_int_eq(spool_future_error(f), SPOOL_EINVAL);
	spool_future_release(f);
}
END_TEST

/* ---- a promise completed after its loop is gone ----------------------- */

static int await_forever(void *arg, void **result)
{
	(void)result;
	return spool_future_wait(arg, SPOOL_FOREVER);
}

static void *complete_in_thread(void *arg)
{
	spool_promise_set_result(arg, NULL);
	return NULL;
}

START_TEST(a_future_awaited_by_a_destroyed_loop_completes_safely_later)
{
	/* The await registered a callback (holding the loop's anchor) on p;
	 * the loop is destroyed; p completes on another thread afterwards:
	 * the callback finds the loop gone and only lets go. */
	spool_loop *loop = spool_test_loop_new();
	spool_future *p = spool_promise_new();
	spool_future *f = spool_submit(spool_loop_executor(loop), await_forever,
				       p);
	ck_assert_int_eq(
		spool_loop_call_later(loop, 1 * MS, stop_cb, NULL, NULL), 0);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	spool_loop_destroy(loop);
	ck_assert_int_eq(spool_future_state(f), SPOOL_CANCELLED);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, complete_in_thread, p), 0);
	pthread_join(th, NULL);
	spool_future_release(f);
	spool_future_release(p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("loop_threads");
	TCase *tc = spool_test_case("submit", 60);
	tcase_add_test(
		tc, tasks_submitted_from_other_threads_run_on_the_loop_thread);
	suite_add_tcase(s, tc);

	tc = spool_test_case("pool", 60);
	tcase_add_test(
		tc,
		futures_completed_by_pool_threads_resume_coroutines_on_the_loop);
	tcase_add_test(
		tc, run_in_executor_runs_on_the_pool_and_resumes_on_the_loop);
	tcase_add_test(
		tc,
		run_in_executor_callbacks_added_anywhere_run_on_the_loop_thread);
	tcase_add_test(
		tc, cancelling_a_run_in_executor_future_cancels_the_pool_task);
	tcase_add_test(tc, run_in_executor_outlives_a_destroyed_loop);
	suite_add_tcase(s, tc);

	tc = spool_test_case("lifetime", 30);
	tcase_add_test(
		tc,
		a_future_awaited_by_a_destroyed_loop_completes_safely_later);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
