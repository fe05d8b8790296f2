/* SPDX-License-Identifier: MIT */
/* Suite "debug": debug mode (spool/debug.h) reports what it promises, with
 * the content it promises, through the sink, and reports nothing while it
 * is off.
 *
 *   - the switch: off by default, SPOOL_DEBUG read at the first check,
 *     spool_debug_set() overriding it; the slow threshold's setter;
 *   - SLOW: a loop callback and coroutine steps that hold the loop longer
 *     than a threshold the test sets (20 ms, against 200 ms of blocking,
 *     so that a busy machine can only make the reports more certain),
 *     each step reported on its own;
 *   - WRONG_THREAD: a loop's thread-only call refused from another
 *     thread, made on a loop other than the running one, made while the
 *     loop's coroutines are suspended on another thread;
 *   - UNRETRIEVED: failures released unread, and the reads that count;
 *   - HOPELESS_WAIT: a wait on the loop's thread outside a coroutine, on
 *     a loop stranded on the waiting thread, on a task of a loop nobody
 *     runs;
 *   - the default sink's line on stderr.
 *
 * Each test runs in its own process (Check's fork mode), so the mode and
 * the sink one sets do not reach the next. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"

#define MS SPOOL_NS_PER_MS

/* ---- capturing reports ------------------------------------------------ */

enum { CAP_MAX = 32 };

struct captured {
	spool_debug_kind kind;
	char message[512];
	char function[64];
	char label[64];
	bool has_label;
	uint64_t future_id;
	int error;
	int64_t duration_ns;
	void (*callback)(void);
};

static struct {
	pthread_mutex_t mu;
	int n;
	struct captured r[CAP_MAX];
} cap = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void capture(const spool_debug_report *r, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&cap.mu);
	if (cap.n < CAP_MAX) {
		struct captured *c = &cap.r[cap.n];
		c->kind = r->kind;
		snprintf(c->message, sizeof c->message, "%s", r->message);
		snprintf(c->function, sizeof c->function, "%s",
			 r->function ? r->function : "");
		c->has_label = r->label != NULL;
		snprintf(c->label, sizeof c->label, "%s",
			 r->label ? r->label : "");
		c->future_id = r->future_id;
		c->error = r->error;
		c->duration_ns = r->duration_ns;
		c->callback = r->callback;
	}
	cap.n++;
	pthread_mutex_unlock(&cap.mu);
}

/* Debug mode on, reports captured. The slow threshold is 10 s, so that
 * only the tests of it, which set 20 ms, can see a slow report however
 * busy the machine. */
static void capture_on(void)
{
	spool_debug_set_sink(capture, NULL);
	spool_debug_set(true);
	ck_assert_int_eq(spool_debug_set_slow_duration(10 * SPOOL_NS_PER_S), 0);
}

static int reports(void)
{
	pthread_mutex_lock(&cap.mu);
	int n = cap.n;
	pthread_mutex_unlock(&cap.mu);
	return n;
}

/* The number of captured reports of kind (about future id, unless 0). */
static int count(spool_debug_kind kind, uint64_t id)
{
	int k = 0;
	pthread_mutex_lock(&cap.mu);
	for (int i = 0; i < cap.n && i < CAP_MAX; i++)
		if (cap.r[i].kind == kind && (!id || cap.r[i].future_id == id))
			k++;
	pthread_mutex_unlock(&cap.mu);
	return k;
}

/* The nth (from 0) captured report of kind about id (any when 0); fails
 * the test if there is none. Call it once the reports are in. */
static const struct captured *find_nth(spool_debug_kind kind, uint64_t id,
				       int nth)
{
	for (int i = 0; i < cap.n && i < CAP_MAX; i++)
		if (cap.r[i].kind == kind &&
		    (!id || cap.r[i].future_id == id) && nth-- == 0)
			return &cap.r[i];
	ck_abort_msg("no such report of kind %d about future %llu (%d "
		     "reports)",
		     (int)kind, (unsigned long long)id, cap.n);
	return NULL;
}

static const struct captured *find(spool_debug_kind kind, uint64_t id)
{
	return find_nth(kind, id, 0);
}

/* The longest report of kind about id; fails the test if there is none. */
static const struct captured *find_longest(spool_debug_kind kind, uint64_t id)
{
	const struct captured *c = find(kind, id);
	for (int i = 0; i < cap.n && i < CAP_MAX; i++)
		if (cap.r[i].kind == kind && cap.r[i].future_id == id &&
		    cap.r[i].duration_ns > c->duration_ns)
			c = &cap.r[i];
	return c;
}

/* The SLOW report of callback fn. */
static const struct captured *find_callback(void (*fn)(void))
{
	for (int i = 0; i < cap.n && i < CAP_MAX; i++)
		if (cap.r[i].kind == SPOOL_DEBUG_SLOW &&
		    cap.r[i].callback == fn)
			return &cap.r[i];
	ck_abort_msg("no slow report of that callback (%d reports)", cap.n);
	return NULL;
}

static void expect_in(const char *message, const char *part)
{
	ck_assert_msg(strstr(message, part) != NULL,
		      "report \"%s\" lacks \"%s\"", message, part);
}

/* ---- helpers ---------------------------------------------------------- */

static void stop_cb(spool_loop *loop, void *arg)
{
	(void)arg;
	spool_loop_stop(loop);
}

static void slow_cb(spool_loop *loop, void *arg)
{
	(void)loop, (void)arg;
	spool_test_sleep_ns(200 * MS);
}

static int fail7(void *arg, void **result)
{
	(void)arg, (void)result;
	return 7;
}

/* ---- the switch ------------------------------------------------------- */

START_TEST(debug_mode_is_off_unless_turned_on)
{
	ck_assert(!spool_debug_enabled());
	spool_debug_set(true);
	ck_assert(spool_debug_enabled());
	spool_debug_set(false);
	ck_assert(!spool_debug_enabled());
}
END_TEST

START_TEST(spool_debug_in_the_environment_turns_it_on_at_the_first_check)
{
	/* This process has not checked yet (main() touches nothing). */
	setenv("SPOOL_DEBUG", "1", 1);
	ck_assert(spool_debug_enabled());
	/* Read once: changing it now changes nothing. */
	setenv("SPOOL_DEBUG", "0", 1);
	ck_assert(spool_debug_enabled());
	spool_debug_set(false);
	ck_assert(!spool_debug_enabled());
}
END_TEST

START_TEST(spool_debug_zero_leaves_it_off)
{
	setenv("SPOOL_DEBUG", "0", 1);
	ck_assert(!spool_debug_enabled());
}
END_TEST

START_TEST(the_slow_threshold_is_100_ms_and_settable)
{
	ck_assert_int_eq(spool_debug_slow_duration(), 100 * MS);
	ck_assert_int_eq(spool_debug_set_slow_duration(-1), SPOOL_EINVAL);
	ck_assert_int_eq(spool_debug_slow_duration(), 100 * MS);
	ck_assert_int_eq(spool_debug_set_slow_duration(7 * MS), 0);
	ck_assert_int_eq(spool_debug_slow_duration(), 7 * MS);
}
END_TEST

/* ---- slow callbacks and steps ----------------------------------------- */

START_TEST(a_slow_loop_callback_is_reported_with_its_address_and_time)
{
	capture_on();
	spool_debug_set_slow_duration(20 * MS);
	spool_loop *loop = spool_test_loop_new();
	int marker;
	ck_assert_int_eq(spool_loop_call_soon(loop, slow_cb, &marker, NULL), 0);
	ck_assert_int_eq(spool_loop_call_soon(loop, stop_cb, NULL, NULL), 0);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	spool_loop_destroy(loop);
	const struct captured *c = find_callback((void (*)(void))slow_cb);
	ck_assert_int_ge(c->duration_ns, 200 * MS);
	ck_assert_uint_eq(c->future_id, 0);
	expect_in(c->message, "slow callback");
	expect_in(c->message, "threshold 20.0 ms");
	char addr[64];
	snprintf(addr, sizeof addr, "(arg %p)", (void *)&marker);
	expect_in(c->message, addr);
}
END_TEST

/* Yields, blocks the loop's thread 200 ms, yields, returns. */
static int slow_second_step(void *arg, void **result)
{
	(void)arg, (void)result;
	spool_sleep(0);
	spool_test_sleep_ns(200 * MS);
	spool_sleep(0);
	return 0;
}

START_TEST(each_slow_coroutine_step_is_reported_alone_with_its_task)
{
	capture_on();
	spool_debug_set_slow_duration(20 * MS);
	spool_loop *loop = spool_test_loop_new();
	spool_executor *ex = spool_loop_executor(loop);
	/* Both block in the same iteration, one after the other, and yield:
	 * each must be charged its own step (a coroutine handing the CPU
	 * straight to the next would run the second's step inside the
	 * first's, and the second would go unreported). Their other steps
	 * may be reported too, on a machine that stalls them past the
	 * threshold: the 200 ms step of each is its longest report. */
	spool_future *a = spool_submit_labeled(ex, slow_second_step, NULL,
					       "first");
	spool_future *b = spool_submit_labeled(ex, slow_second_step, NULL,
					       "second");
	spool_future *both[] = {a, b};
	spool_future *g = spool_gather(both, 2, 0);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, g), 0);
	ck_assert_int_ge(count(SPOOL_DEBUG_SLOW, spool_future_id(a)), 1);
	ck_assert_int_ge(count(SPOOL_DEBUG_SLOW, spool_future_id(b)), 1);
	const struct captured *c = find_longest(SPOOL_DEBUG_SLOW,
						spool_future_id(a));
	ck_assert(c->callback == NULL);
	ck_assert(c->has_label);
	ck_assert_str_eq(c->label, "first");
	ck_assert_int_ge(c->duration_ns, 200 * MS);
	expect_in(c->message, "slow coroutine step: task");
	expect_in(c->message, "\"first\"");
	c = find_longest(SPOOL_DEBUG_SLOW, spool_future_id(b));
	ck_assert_str_eq(c->label, "second");
	ck_assert_int_ge(c->duration_ns, 200 * MS);
	spool_future_release(g);
	spool_future_release(a);
	spool_future_release(b);
	spool_loop_destroy(loop);
}
END_TEST

/* ---- calls from other threads ----------------------------------------- */

struct runner {
	spool_loop *loop;
	spool_future *running; /* set once the loop runs */
	pthread_t th;
};

static void mark_running(spool_loop *loop, void *arg)
{
	(void)loop;
	spool_promise_set_result(((struct runner *)arg)->running, NULL);
}

static void *run_loop(void *arg)
{
	struct runner *r = arg;
	spool_loop_run(r->loop);
	return NULL;
}

static void runner_start(struct runner *r)
{
	r->loop = spool_test_loop_new();
	r->running = spool_promise_new();
	ck_assert_int_eq(spool_loop_call_soon(r->loop, mark_running, r, NULL),
			 0);
	ck_assert_int_eq(pthread_create(&r->th, NULL, run_loop, r), 0);
	ck_assert_int_eq(spool_future_wait(r->running, SPOOL_FOREVER), 0);
}

static void runner_end(struct runner *r)
{
	ck_assert_int_eq(
		spool_loop_call_soon_threadsafe(r->loop, stop_cb, NULL), 0);
	pthread_join(r->th, NULL);
	spool_loop_destroy(r->loop);
	spool_future_release(r->running);
}

static void nothing_cb(spool_loop *loop, void *arg)
{
	(void)loop, (void)arg;
}

START_TEST(a_thread_only_call_refused_from_another_thread_is_reported)
{
	capture_on();
	struct runner r;
	runner_start(&r);
	ck_assert_int_eq(spool_loop_call_soon(r.loop, nothing_cb, NULL, NULL),
			 SPOOL_EINVAL);
	ck_assert_int_eq(
		spool_loop_call_later(r.loop, MS, nothing_cb, NULL, NULL),
		SPOOL_EINVAL);
	runner_end(&r);
	ck_assert_int_eq(count(SPOOL_DEBUG_WRONG_THREAD, 0), 2);
	const struct captured *c = find(SPOOL_DEBUG_WRONG_THREAD, 0);
	ck_assert_str_eq(c->function, "spool_loop_call_soon");
	ck_assert_int_eq(c->error, SPOOL_EINVAL);
	expect_in(c->message, "spool_loop_call_soon()");
	expect_in(c->message, "while the loop runs");
	ck_assert_str_eq(find_nth(SPOOL_DEBUG_WRONG_THREAD, 0, 1)->function,
			 "spool_loop_call_later");
}
END_TEST

struct two_loops {
	spool_loop *other;
	int rc;
};

static void schedule_on_other(spool_loop *loop, void *arg)
{
	struct two_loops *t = arg;
	t->rc = spool_loop_call_soon(t->other, nothing_cb, NULL, NULL);
	spool_loop_stop(loop);
}

START_TEST(a_call_on_a_loop_other_than_the_running_one_is_reported)
{
	capture_on();
	struct two_loops t = {.other = spool_test_loop_new(), .rc = -1};
	spool_loop *loop = spool_test_loop_new();
	ck_assert_int_eq(
		spool_loop_call_soon(loop, schedule_on_other, &t, NULL), 0);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	ck_assert_int_eq(t.rc, 0); /* legal: the other loop is not running */
	ck_assert_int_eq(count(SPOOL_DEBUG_WRONG_THREAD, 0), 1);
	const struct captured *c = find(SPOOL_DEBUG_WRONG_THREAD, 0);
	ck_assert_str_eq(c->function, "spool_loop_call_soon");
	ck_assert_int_eq(c->error, 0);
	expect_in(c->message, "other than the current one");
	/* The same call from the loop's own thread, outside any loop, is
	 * the ordinary way to set up a loop: not reported. */
	ck_assert_int_eq(spool_loop_call_soon(t.other, nothing_cb, NULL, NULL),
			 0);
	ck_assert_int_eq(reports(), 1);
	spool_loop_destroy(loop);
	spool_loop_destroy(t.other);
}
END_TEST

/* A loop stranded on a thread of its own: a coroutine suspended on it. */
struct strander {
	spool_loop *loop;
	spool_future *gate, *ready, *coro;
	spool_future *go_on; /* set by the main thread when done */
	pthread_t th;
};

static int await_gate(void *arg, void **result)
{
	struct strander *s = arg;
	(void)result;
	spool_promise_set_result(s->ready, NULL);
	return spool_future_wait(s->gate, SPOOL_FOREVER);
}

static void *strand_then_finish(void *arg)
{
	struct strander *s = arg;
	s->coro = spool_submit(spool_loop_executor(s->loop), await_gate, s);
	spool_loop_run_until_complete(s->loop, s->ready);
	/* Stranded here until the main thread says go on. */
	spool_future_wait(s->go_on, SPOOL_FOREVER);
	spool_promise_set_result(s->gate, NULL);
	spool_loop_run_until_complete(s->loop, s->coro);
	spool_loop_destroy(s->loop);
	return NULL;
}

START_TEST(a_call_while_the_loop_is_stranded_on_another_thread_is_reported)
{
	capture_on();
	struct strander s = {.gate = spool_promise_new(),
			     .ready = spool_promise_new(),
			     .go_on = spool_promise_new()};
	ck_assert_int_eq(spool_loop_create(&s.loop, NULL), 0);
	ck_assert_int_eq(pthread_create(&s.th, NULL, strand_then_finish, &s),
			 0);
	ck_assert_int_eq(spool_future_wait(s.ready, SPOOL_FOREVER), 0);
	/* ready is set inside the coroutine; the thread leaves the loop in
	 * the same iteration. Wait until it has. */
	while (spool_loop_is_running(s.loop))
		spool_test_sleep_ns(MS);
	spool_handle *h = NULL;
	ck_assert_int_eq(spool_loop_call_later(s.loop, SPOOL_FOREVER - 1,
					       nothing_cb, NULL, &h),
			 0);
	ck_assert_int_eq(count(SPOOL_DEBUG_WRONG_THREAD, 0), 1);
	const struct captured *c = find(SPOOL_DEBUG_WRONG_THREAD, 0);
	ck_assert_str_eq(c->function, "spool_loop_call_later");
	expect_in(c->message, "suspended on another thread");
	spool_handle_cancel(h);
	spool_handle_release(h);
	ck_assert_int_eq(count(SPOOL_DEBUG_WRONG_THREAD, 0), 3);
	spool_promise_set_result(s.go_on, NULL);
	pthread_join(s.th, NULL);
	spool_future_release(s.coro);
	spool_future_release(s.gate);
	spool_future_release(s.ready);
	spool_future_release(s.go_on);
}
END_TEST

/* ---- failures never retrieved ----------------------------------------- */

START_TEST(a_failure_released_unread_is_reported_with_id_label_and_code)
{
	capture_on();
	spool_future *p = spool_promise_new();
	uint64_t id = spool_future_id(p);
	ck_assert_int_eq(spool_promise_set_error(p, 7), 0);
	spool_future_release(p);
	ck_assert_int_eq(reports(), 1);
	const struct captured *c = find(SPOOL_DEBUG_UNRETRIEVED, id);
	ck_assert_int_eq(c->error, 7);
	ck_assert_str_eq(c->function, "spool_future_release");
	ck_assert(!c->has_label);
	char want[64];
	snprintf(want, sizeof want, "future %llu failed with TASK_ERROR (7)",
		 (unsigned long long)id);
	expect_in(c->message, want);
	expect_in(c->message, "never retrieved");

	/* A failure with a message: the report quotes it. */
	p = spool_promise_new();
	id = spool_future_id(p);
	ck_assert_int_eq(spool_promise_set_error_detail(p, 8, "KeyError: 'b'",
							NULL, NULL),
			 0);
	spool_future_release(p);
	c = find(SPOOL_DEBUG_UNRETRIEVED, id);
	ck_assert_int_eq(c->error, 8);
	expect_in(c->message, "(8): \"KeyError: 'b'\"");

	/* A labelled pool task nobody waits for: released before it ran,
	 * its failure is reported when the pool lets go of it. */
	spool_pool *pool = spool_test_pool_new(1);
	spool_future *t = spool_submit_labeled(spool_pool_executor(pool), fail7,
					       NULL, "doomed");
	id = spool_future_id(t);
	spool_future_release(t);
	spool_pool_destroy(pool);
	c = find(SPOOL_DEBUG_UNRETRIEVED, id);
	ck_assert_str_eq(c->label, "doomed");
	ck_assert_int_eq(c->error, 7);
	expect_in(c->message, "\"doomed\"");
}
END_TEST

START_TEST(a_failure_read_or_taken_over_by_a_combinator_is_not_reported)
{
	capture_on();
	/* Read directly. */
	spool_future *p = spool_promise_new();
	spool_promise_set_error(p, 7);
	ck_assert_int_eq(spool_future_error(p), 7);
	spool_future_release(p);
	p = spool_promise_new();
	spool_promise_set_error(p, 8);
	ck_assert_int_eq(spool_future_result(p, 0, NULL), 8);
	spool_future_release(p);
	/* A gather failing fast reads every child, the late failure too;
	 * its own failure is read here. */
	spool_future *c[3] = {spool_promise_new(), spool_promise_new(),
			      spool_promise_new()};
	spool_future *g = spool_gather(c, 3, 0);
	spool_promise_set_error(c[0], 5);
	spool_promise_set_error(c[1], 6);
	spool_promise_set_result(c[2], NULL);
	ck_assert_int_eq(spool_future_result(g, SPOOL_FOREVER, NULL), 5);
	spool_future_release(g);
	for (int i = 0; i < 3; i++)
		spool_future_release(c[i]);
	/* Collecting errors reads them too; the gather itself succeeds. */
	spool_future *d[2] = {spool_promise_new(), spool_promise_new()};
	g = spool_gather(d, 2, SPOOL_RETURN_ERRORS);
	spool_promise_set_error(d[0], 5);
	spool_promise_set_error(d[1], 6);
	spool_future_release(d[0]);
	spool_future_release(d[1]);
	ck_assert_int_eq(spool_future_wait(g, SPOOL_FOREVER), 0);
	spool_future_release(g);
	/* A cancelled future has no failure to read. */
	p = spool_promise_new();
	spool_future_cancel(p);
	spool_future_release(p);
	ck_assert_int_eq(reports(), 0);
}
END_TEST

START_TEST(a_wait_alone_does_not_read_the_failure)
{
	capture_on();
	spool_future *p = spool_promise_new();
	spool_promise_set_error(p, 9);
	ck_assert_int_eq(spool_future_wait(p, SPOOL_FOREVER), 0);
	uint64_t id = spool_future_id(p);
	spool_future_release(p);
	ck_assert_int_eq(find(SPOOL_DEBUG_UNRETRIEVED, id)->error, 9);
}
END_TEST

START_TEST(a_failure_from_before_debug_mode_was_on_is_not_followed)
{
	spool_debug_set_sink(capture, NULL);
	spool_debug_set(false);
	spool_future *p = spool_promise_new();
	spool_promise_set_error(p, 7);
	spool_debug_set(true);
	spool_future_release(p);
	ck_assert_int_eq(reports(), 0);
}
END_TEST

/* ---- hopeless waits --------------------------------------------------- */

struct on_loop {
	spool_future *p;
	int rc;
};

static void wait_in_callback(spool_loop *loop, void *arg)
{
	struct on_loop *o = arg;
	o->rc = spool_future_wait(o->p, SPOOL_FOREVER);
	spool_loop_stop(loop);
}

START_TEST(a_wait_on_the_loops_thread_outside_a_coroutine_is_reported)
{
	capture_on();
	spool_loop *loop = spool_test_loop_new();
	struct on_loop o = {.p = spool_promise_new(), .rc = 0};
	spool_loop_call_soon(loop, wait_in_callback, &o, NULL);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	ck_assert_int_eq(o.rc, SPOOL_EDEADLK); /* as without debug mode */
	const struct captured *c = find(SPOOL_DEBUG_HOPELESS_WAIT,
					spool_future_id(o.p));
	ck_assert_int_eq(c->error, SPOOL_EDEADLK);
	ck_assert_str_eq(c->function, "spool_future_wait");
	expect_in(c->message, "outside a coroutine");
	spool_future_release(o.p);
	spool_loop_destroy(loop);
}
END_TEST

static int await_promise(void *arg, void **result)
{
	(void)result;
	return spool_future_wait(arg, SPOOL_FOREVER);
}

START_TEST(a_wait_on_a_loop_stranded_on_the_waiting_thread_is_reported)
{
	capture_on();
	spool_loop *loop = spool_test_loop_new();
	spool_future *gate = spool_promise_new();
	spool_future *t = spool_submit_labeled(spool_loop_executor(loop),
					       await_promise, gate, "stuck");
	/* One iteration: the task starts and suspends; the loop stops. */
	spool_loop_stop(loop);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	ck_assert_int_eq(spool_future_wait(t, 30 * MS), SPOOL_ETIMEDOUT);
	ck_assert_int_eq(spool_future_wait(t, SPOOL_FOREVER), SPOOL_EDEADLK);
	ck_assert_int_eq(count(SPOOL_DEBUG_HOPELESS_WAIT, spool_future_id(t)),
			 2);
	uint64_t id = spool_future_id(t);
	ck_assert_int_eq(find_nth(SPOOL_DEBUG_HOPELESS_WAIT, id, 0)->error,
			 SPOOL_ETIMEDOUT);
	const struct captured *c = find_nth(SPOOL_DEBUG_HOPELESS_WAIT, id, 1);
	ck_assert_int_eq(c->error, SPOOL_EDEADLK);
	ck_assert_str_eq(c->label, "stuck");
	expect_in(c->message, "stranded");
	spool_promise_set_result(gate, NULL);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, t), 0);
	spool_future_release(t);
	spool_future_release(gate);
	spool_loop_destroy(loop);
}
END_TEST

static int quick(void *arg, void **result)
{
	(void)arg, (void)result;
	return 0;
}

START_TEST(a_wait_on_a_task_of_a_loop_nobody_runs_is_reported)
{
	capture_on();
	spool_loop *loop = spool_test_loop_new();
	spool_future *t = spool_submit(spool_loop_executor(loop), quick, NULL);
	/* The report comes 100 ms into the wait; the wait goes on. */
	ck_assert_int_eq(spool_future_wait(t, 300 * MS), SPOOL_ETIMEDOUT);
	const struct captured *c = find(SPOOL_DEBUG_HOPELESS_WAIT,
					spool_future_id(t));
	ck_assert_int_eq(c->error, 0);
	expect_in(c->message, "no thread runs the task's loop");
	ck_assert_int_eq(spool_loop_run_until_complete(loop, t), 0);
	spool_future_release(t);
	spool_loop_destroy(loop);
}
END_TEST

static int pool_task_waits_forever(void *arg, void **result)
{
	(void)result;
	return spool_future_wait(arg, SPOOL_FOREVER);
}

/* A loop task that sleeps 300 ms. */
static int naps(void *arg, void **result)
{
	(void)arg, (void)result;
	return spool_sleep(300 * MS);
}

START_TEST(a_pool_tasks_wait_on_a_task_of_a_loop_nobody_runs_is_reported)
{
	capture_on();
	spool_loop *loop = spool_test_loop_new();
	spool_future *t = spool_submit(spool_loop_executor(loop), quick, NULL);
	spool_pool *p = spool_test_pool_new(2);
	spool_future *w = spool_submit(spool_pool_executor(p),
				       pool_task_waits_forever, t);
	/* The worker finds nothing else to run: 100 ms into its blocking,
	 * the report (looked for here for up to 30 s, however busy the
	 * machine); its wait goes on, as without debug mode, until the loop
	 * runs the task. */
	int64_t until = spool_test_now_ns() + 30 * SPOOL_NS_PER_S;
	while (count(SPOOL_DEBUG_HOPELESS_WAIT, spool_future_id(t)) == 0 &&
	       spool_test_now_ns() < until)
		spool_test_sleep_ns(5 * MS);
	ck_assert(!spool_future_done(w));
	ck_assert_int_eq(spool_loop_run_until_complete(loop, t), 0);
	ck_assert_int_eq(spool_future_wait(w, SPOOL_FOREVER), 0);
	ck_assert_int_eq(spool_future_error(w), 0);
	const struct captured *c = find(SPOOL_DEBUG_HOPELESS_WAIT,
					spool_future_id(t));
	ck_assert_int_eq(c->error, 0);
	expect_in(c->message, "from a pool worker that");
	expect_in(c->message, "no thread runs the task's loop");
	ck_assert_int_eq(count(SPOOL_DEBUG_HOPELESS_WAIT, spool_future_id(t)),
			 1);
	/* A wait on a task of a loop that another thread runs is not
	 * reported, though it blocks longer than 100 ms (the task sleeps
	 * 300 ms). */
	struct runner r;
	runner_start(&r);
	spool_future *t2 = spool_submit(spool_loop_executor(r.loop), naps,
					NULL);
	spool_future *w2 = spool_submit(spool_pool_executor(p),
					pool_task_waits_forever, t2);
	ck_assert_int_eq(spool_future_wait(w2, SPOOL_FOREVER), 0);
	ck_assert_int_eq(spool_future_error(w2), 0);
	ck_assert_int_eq(count(SPOOL_DEBUG_HOPELESS_WAIT, spool_future_id(t2)),
			 0);
	runner_end(&r);
	spool_future_release(w2);
	spool_future_release(t2);
	spool_future_release(w);
	spool_future_release(t);
	spool_pool_destroy(p);
	spool_loop_destroy(loop);
}
END_TEST

/* ---- off, and the default sink ---------------------------------------- */

START_TEST(with_debug_mode_off_nothing_is_reported)
{
	spool_debug_set_sink(capture, NULL);
	spool_debug_set(false);
	ck_assert_int_eq(spool_debug_set_slow_duration(0), 0);
	/* Slow callback and steps. */
	spool_loop *loop = spool_test_loop_new();
	spool_future *a = spool_submit(spool_loop_executor(loop),
				       slow_second_step, NULL);
	spool_loop_call_soon(loop, slow_cb, NULL, NULL);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, a), 0);
	spool_future_release(a);
	/* Wrong thread: refused, and on another loop. */
	struct runner r;
	runner_start(&r);
	ck_assert_int_eq(spool_loop_call_soon(r.loop, nothing_cb, NULL, NULL),
			 SPOOL_EINVAL);
	runner_end(&r);
	struct two_loops t = {.other = spool_test_loop_new(), .rc = -1};
	spool_loop_call_soon(loop, schedule_on_other, &t, NULL);
	spool_loop_run(loop);
	spool_loop_destroy(t.other);
	/* A failure released unread. */
	spool_future *p = spool_promise_new();
	spool_promise_set_error(p, 7);
	spool_future_release(p);
	/* Hopeless waits: on the loop's thread, on a loop nobody runs. */
	struct on_loop o = {.p = spool_promise_new(), .rc = 0};
	spool_loop_call_soon(loop, wait_in_callback, &o, NULL);
	spool_loop_run(loop);
	ck_assert_int_eq(o.rc, SPOOL_EDEADLK);
	spool_future_release(o.p);
	spool_future *q = spool_submit(spool_loop_executor(loop), quick, NULL);
	ck_assert_int_eq(spool_future_wait(q, 150 * MS), SPOOL_ETIMEDOUT);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, q), 0);
	spool_future_release(q);
	spool_loop_destroy(loop);
	ck_assert_int_eq(reports(), 0);
}
END_TEST

START_TEST(the_default_sink_writes_one_prefixed_line_to_stderr)
{
	spool_debug_set(true);
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	fflush(stderr);
	int saved = dup(2);
	dup2(fds[1], 2);
	spool_future *p = spool_promise_new();
	uint64_t id = spool_future_id(p);
	spool_promise_set_error(p, 7);
	spool_future_release(p);
	/* A sink given and taken back: the default again. */
	spool_debug_set_sink(capture, NULL);
	spool_debug_set_sink(NULL, NULL);
	p = spool_promise_new();
	spool_promise_set_error(p, 8);
	spool_future_release(p);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fds[1]);
	char buf[2048] = {0};
	size_t got = 0;
	ssize_t k;
	while (got < sizeof buf - 1 &&
	       (k = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0)
		got += (size_t)k;
	close(fds[0]);
	char want[96];
	snprintf(want, sizeof want,
		 "spool debug: failure never retrieved: future %llu ",
		 (unsigned long long)id);
	ck_assert_msg(strncmp(buf, want, strlen(want)) == 0, "got \"%s\"", buf);
	char *nl = strchr(buf, '\n');
	ck_assert(nl != NULL);
	ck_assert_msg(strncmp(nl + 1, "spool debug: ", 13) == 0, "got \"%s\"",
		      buf);
	ck_assert_int_eq(reports(), 0);
}
END_TEST

static Suite *debug_suite(void)
{
	Suite *s = suite_create("debug");
	TCase *tc = spool_test_case("switch", 10);
	tcase_add_test(tc, debug_mode_is_off_unless_turned_on);
	tcase_add_test(
		tc,
		spool_debug_in_the_environment_turns_it_on_at_the_first_check);
	tcase_add_test(tc, spool_debug_zero_leaves_it_off);
	tcase_add_test(tc, the_slow_threshold_is_100_ms_and_settable);
	tcase_add_test(tc, the_default_sink_writes_one_prefixed_line_to_stderr);
	suite_add_tcase(s, tc);
	tc = spool_test_case("reports", 30);
	tcase_add_test(
		tc, a_slow_loop_callback_is_reported_with_its_address_and_time);
	tcase_add_test(
		tc, each_slow_coroutine_step_is_reported_alone_with_its_task);
	tcase_add_test(
		tc, a_thread_only_call_refused_from_another_thread_is_reported);
	tcase_add_test(tc,
		       a_call_on_a_loop_other_than_the_running_one_is_reported);
	tcase_add_test(
		tc,
		a_call_while_the_loop_is_stranded_on_another_thread_is_reported);
	tcase_add_test(
		tc,
		a_failure_released_unread_is_reported_with_id_label_and_code);
	tcase_add_test(
		tc,
		a_failure_read_or_taken_over_by_a_combinator_is_not_reported);
	tcase_add_test(tc, a_wait_alone_does_not_read_the_failure);
	tcase_add_test(tc,
		       a_failure_from_before_debug_mode_was_on_is_not_followed);
	tcase_add_test(
		tc, a_wait_on_the_loops_thread_outside_a_coroutine_is_reported);
	tcase_add_test(
		tc,
		a_wait_on_a_loop_stranded_on_the_waiting_thread_is_reported);
	tcase_add_test(tc, a_wait_on_a_task_of_a_loop_nobody_runs_is_reported);
	tcase_add_test(
		tc,
		a_pool_tasks_wait_on_a_task_of_a_loop_nobody_runs_is_reported);
	tcase_add_test(tc, with_debug_mode_off_nothing_is_reported);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* Each test decides the mode; an outer SPOOL_DEBUG must not. */
	unsetenv("SPOOL_DEBUG");
	return spool_test_run(debug_suite());
}
