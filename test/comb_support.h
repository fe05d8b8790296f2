/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the combinator suites: promises completed later by plain
 * threads, a thread-per-task executor (real concurrency without a pool),
 * an executor that refuses everything (a shut-down one), and a tiny
 * deterministic random generator for race tests. Header-only (static
 * functions), so each suite stays one self-contained executable.
 */
#ifndef SPOOL_TEST_COMB_SUPPORT_H
#define SPOOL_TEST_COMB_SUPPORT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "core/executor_impl.h"
#include "core/future_impl.h"
#include "support.h"

#define MS SPOOL_NS_PER_MS
#define SPOOL_TEST_UNUSED __attribute__((unused))

/* ---- completing a promise later from another thread ------------------- */

/* How a completer ends its promise. */
enum { END_VALUE, END_ERROR, END_CANCEL };

struct completer {
	pthread_t thread;
	spool_future *f; /* a reference owned by the completer */
	int64_t delay_ns;
	int how;
	int err;
	void *value;
};

static inline void *completer_main(void *arg)
{
	struct completer *c = arg;
	if (c->delay_ns > 0)
		spool_test_sleep_ns(c->delay_ns);
	switch (c->how) {
	case END_VALUE:
		spool_promise_set_result(c->f, c->value);
		break;
	case END_ERROR:
		spool_promise_set_error(c->f, c->err);
		break;
	default:
		spool_future_cancel(c->f);
		break;
	}
	spool_future_release(c->f);
	return NULL;
}

/* Starts a thread that, after delay_ns, completes f (retained until then)
 * as `how` says. Join it with completer_join(). */
static inline struct completer *
complete_later(spool_future *f, int64_t delay_ns, int how, int err, void *value)
{
	struct completer *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	c->f = spool_future_retain(f);
	c->delay_ns = delay_ns;
	c->how = how;
	c->err = err;
	c->value = value;
	ck_assert_int_eq(pthread_create(&c->thread, NULL, completer_main, c),
			 0);
	return c;
}

static inline void completer_join(struct completer *c)
{
	pthread_join(c->thread, NULL);
	free(c);
}

/* A thread that completes promises one after another, in a given order,
 * so that a test of completion order does not depend on timing. */
struct sequencer {
	pthread_t thread;
	spool_future *fs[16]; /* references owned by the sequencer */
	int how[16];
	int err[16];
	void *value[16];
	int n;
	int64_t pause_ns;
};

static inline void *sequencer_main(void *arg)
{
	struct sequencer *q = arg;
	for (int i = 0; i < q->n; i++) {
		spool_test_sleep_ns(q->pause_ns);
		if (q->how[i] == END_VALUE)
			spool_promise_set_result(q->fs[i], q->value[i]);
		else if (q->how[i] == END_ERROR)
			spool_promise_set_error(q->fs[i], q->err[i]);
		else
			spool_future_cancel(q->fs[i]);
		spool_future_release(q->fs[i]);
	}
	return NULL;
}

/* Adds "complete f as how" as the next step of q (before starting it). */
static inline void sequence_add(struct sequencer *q, spool_future *f, int how,
				int err, void *value)
{
	ck_assert_int_lt(q->n, 16);
	q->fs[q->n] = spool_future_retain(f);
	q->how[q->n] = how;
	q->err[q->n] = err;
	q->value[q->n] = value;
	q->n++;
}

static inline void sequence_start(struct sequencer *q, int64_t pause_ns)
{
	q->pause_ns = pause_ns;
	ck_assert_int_eq(pthread_create(&q->thread, NULL, sequencer_main, q),
			 0);
}

static inline void sequence_join(struct sequencer *q)
{
	pthread_join(q->thread, NULL);
}

/* n new promises in fs. */
static inline void promises(spool_future **fs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		fs[i] = spool_promise_new();
		ck_assert_ptr_nonnull(fs[i]);
	}
}

static inline void release_all(spool_future **fs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		spool_future_release(fs[i]);
}

/* ---- an executor with one new thread per task ------------------------- */

struct thread_task {
	spool_future *f;
	spool_task_fn fn;
	void *arg;
};

static pthread_mutex_t tex_lock SPOOL_TEST_UNUSED = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tex_cond SPOOL_TEST_UNUSED = PTHREAD_COND_INITIALIZER;
static int tex_live SPOOL_TEST_UNUSED;

static inline void *thread_task_main(void *arg)
{
	struct thread_task *t = arg;
	spool_run_task(t->f, t->fn, t->arg);
	spool_future_release(t->f);
	free(t);
	pthread_mutex_lock(&tex_lock);
	if (--tex_live == 0)
		pthread_cond_broadcast(&tex_cond);
	pthread_mutex_unlock(&tex_lock);
	return NULL;
}

static inline spool_future *thread_submit(spool_executor *ex, spool_task_fn fn,
					  void *arg, const char *label)
{
	(void)ex;
	(void)label;
	struct thread_task *t = malloc(sizeof *t);
	ck_assert_ptr_nonnull(t);
	spool_future *f = spool_promise_new();
	t->f = spool_future_retain(f);
	t->fn = fn;
	t->arg = arg;
	pthread_mutex_lock(&tex_lock);
	tex_live++;
	pthread_mutex_unlock(&tex_lock);
	pthread_t th;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	ck_assert_int_eq(pthread_create(&th, &at, thread_task_main, t), 0);
	pthread_attr_destroy(&at);
	return f;
}

static const struct spool__executor_ops thread_ops SPOOL_TEST_UNUSED = {
	.name = "thread-per-task",
	.submit = thread_submit,
};
static spool_executor thread_executor_obj SPOOL_TEST_UNUSED = {&thread_ops};

/* Runs each task on a new detached thread. */
static inline spool_executor *thread_executor(void)
{
	return &thread_executor_obj;
}

/* Waits until every thread the thread executor started has ended. */
static inline void thread_executor_drain(void)
{
	pthread_mutex_lock(&tex_lock);
	while (tex_live > 0)
		pthread_cond_wait(&tex_cond, &tex_lock);
	pthread_mutex_unlock(&tex_lock);
}

/* ---- an executor that refuses every task (as a shut-down one) --------- */

static inline spool_future *refusing_submit(spool_executor *ex,
					    spool_task_fn fn, void *arg,
					    const char *label)
{
	(void)ex;
	(void)fn;
	(void)arg;
	(void)label;
	spool_future *f = spool_promise_new();
	spool_promise_set_error(f, SPOOL_ESHUTDOWN);
	return f;
}

static const struct spool__executor_ops refusing_ops SPOOL_TEST_UNUSED = {
	.name = "refusing",
	.submit = refusing_submit,
};
static spool_executor refusing_executor_obj SPOOL_TEST_UNUSED = {&refusing_ops};

static inline spool_executor *refusing_executor(void)
{
	return &refusing_executor_obj;
}

/* ---- tasks ------------------------------------------------------------ */

/* Sleeps *(int64_t *)arg ns, then succeeds with arg as its value. */
static inline int sleep_task(void *arg, void **result)
{
	spool_test_sleep_ns(*(int64_t *)arg);
	*result = arg;
	return 0;
}

/* ---- pools ------------------------------------------------------------ */

/* A new pool with `workers` threads (0: one per CPU). */
static inline spool_pool *make_pool(int workers)
{
	spool_pool *p = NULL;
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = workers;
	ck_assert_int_eq(spool_pool_create(&p, &o), 0);
	return p;
}

/* Returns (intptr_t)arg + 1: a tiny task whose result is checkable. */
static inline int plus_one(void *arg, void **result)
{
	*result = (void *)((intptr_t)arg + 1);
	return 0;
}

/* ---- loops ------------------------------------------------------------ */

/* Runs fn(arg) as a coroutine on a new loop on this thread until it ends,
 * then destroys the loop; returns the coroutine's outcome. Inside fn,
 * spool_loop_current() is the loop. */
static inline int run_coro(spool_task_fn fn, void *arg)
{
	spool_loop *loop;
	ck_assert_int_eq(spool_loop_create(&loop, NULL), 0);
	spool_future *f = spool_submit(spool_loop_executor(loop), fn, arg);
	int rc = spool_loop_run_until_complete(loop, f);
	spool_future_release(f);
	spool_loop_destroy(loop);
	return rc;
}

/* The running loop's executor (inside a coroutine). */
static inline spool_executor *loop_ex(void)
{
	return spool_loop_executor(spool_loop_current());
}

/* Suspends *(int64_t *)arg ns in a coroutine; returns arg, or
 * SPOOL_ECANCELLED when cancelled while asleep. */
static inline int coro_nap(void *arg, void **result)
{
	int rc = spool_sleep(*(int64_t *)arg);
	if (rc != 0)
		return rc;
	*result = arg;
	return 0;
}

/* ---- a small deterministic generator (xorshift64*) -------------------- */

static inline uint64_t rnd_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(2685821657736338717);
}

#endif /* SPOOL_TEST_COMB_SUPPORT_H */
