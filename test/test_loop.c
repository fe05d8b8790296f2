/* SPDX-License-Identifier: MIT */
/* Suite "loop": the promises spool/loop.h makes about the loop itself:
 * creating, running, stopping, destroying, callbacks, timers, handles and
 * the thread-safe inbox. Coroutines are in test_coro*.c. */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"

#define MS SPOOL_NS_PER_MS

/* A log of small integers written by callbacks. */
struct log {
	int v[256];
	int n;
};

struct entry {
	struct log *log;
	int id;
	bool stop; /* stop the loop after logging */
};

static void log_cb(spool_loop *loop, void *arg)
{
	struct entry *e = arg;
	ck_assert_int_lt(e->log->n, 256);
	e->log->v[e->log->n++] = e->id;
	if (e->stop)
		spool_loop_stop(loop);
}

static void stop_cb(spool_loop *loop, void *arg)
{
	(void)arg;
	spool_loop_stop(loop);
}

static spool_loop *new_loop(unsigned flags)
{
	spool_loop_options o = SPOOL_LOOP_OPTIONS_INIT;
	o.flags = flags;
	spool_loop *loop = NULL;
	ck_assert_int_eq(spool_loop_create(&loop, &o), 0);
	ck_assert_ptr_nonnull(loop);
	return loop;
}

/* ---- creating --------------------------------------------------------- */

START_TEST(create_rejects_bad_arguments)
{
	spool_loop *loop = (spool_loop *)&loop;
	ck_assert_int_eq(spool_loop_create(NULL, NULL), SPOOL_EINVAL);
	spool_loop_options o = SPOOL_LOOP_OPTIONS_INIT;
	o.stack_size = 4096; /* below the 16 KiB minimum */
	ck_assert_int_eq(spool_loop_create(&loop, &o), SPOOL_EINVAL);
	ck_assert_ptr_null(loop);
	o.stack_size = (size_t)2 << 30;
	ck_assert_int_eq(spool_loop_create(&loop, &o), SPOOL_EINVAL);
	o.stack_size = 0;
	o.flags = 0x80;
	ck_assert_int_eq(spool_loop_create(&loop, &o), SPOOL_EINVAL);
	ck_assert_int_eq(spool_loop_create(&loop, NULL), 0);
	spool_loop_destroy(loop);
}
END_TEST

START_TEST(destroy_null_is_a_noop)
{
	spool_loop_destroy(NULL);
	spool_loop_stop(NULL);
	spool_handle_release(NULL);
	ck_assert(!spool_loop_is_running(NULL));
	ck_assert_ptr_null(spool_loop_executor(NULL));
	ck_assert_int_eq(spool_loop_run(NULL), SPOOL_EINVAL);
	ck_assert_int_eq(spool_handle_cancel(NULL), SPOOL_EINVAL);
}
END_TEST

/* ---- ordering --------------------------------------------------------- */

START_TEST(call_soon_runs_first_in_first_out)
{
	spool_loop *loop = new_loop(0);
	struct log log = {.n = 0};
	struct entry e[20];
	for (int i = 0; i < 20; i++) {
		e[i] = (struct entry){&log, i, i == 19};
		ck_assert_int_eq(
			spool_loop_call_soon(loop, log_cb, &e[i], NULL), 0);
	}
	ck_assert_int_eq(spool_loop_run(loop), 0);
	ck_assert_int_eq(log.n, 20);
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(log.v[i], i);
	spool_loop_destroy(loop);
}
END_TEST

/* From the loop's thread, a task submitted to the loop's executor is
 * queued like call_soon, in order with the callbacks around it: a callback
 * that queues A, submits T and queues B sees them run A, T, B (a task
 * sent through the thread-safe inbox would start after B). */
struct in_order {
	struct log log;
	struct entry a, b;
	spool_future *t;
};

static int logs_2(void *arg, void **result)
{
	struct in_order *o = arg;
	(void)result;
	ck_assert_int_lt(o->log.n, 256);
	o->log.v[o->log.n++] = 2;
	return 0;
}

static void queues_a_task_b(spool_loop *loop, void *arg)
{
	struct in_order *o = arg;
	ck_assert_int_eq(spool_loop_call_soon(loop, log_cb, &o->a, NULL), 0);
	o->t = spool_submit(spool_loop_executor(loop), logs_2, o);
	ck_assert_ptr_nonnull(o->t);
	ck_assert_int_eq(spool_loop_call_soon(loop, log_cb, &o->b, NULL), 0);
}

START_TEST(a_task_submitted_on_the_loop_runs_in_order_with_call_soon)
{
	spool_loop *loop = new_loop(0);
	struct in_order o = {.log = {.n = 0}};
	o.a = (struct entry){&o.log, 1, false};
	o.b = (struct entry){&o.log, 3, true};
	ck_assert_int_eq(spool_loop_call_soon(loop, queues_a_task_b, &o, NULL),
			 0);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, o.t), 0);
	ck_assert_int_eq(o.log.n, 3);
	ck_assert_int_eq(o.log.v[0], 1);
	ck_assert_int_eq(o.log.v[1], 2);
	ck_assert_int_eq(o.log.v[2], 3);
	spool_future_release(o.t);
	spool_loop_destroy(loop);
}
END_TEST

static void timers_by_deadline_then_scheduling_order(unsigned flags)
{
	spool_loop *loop = new_loop(flags);
	struct log log = {.n = 0};
	int64_t t0 = spool_loop_time(loop) + 5 * MS;
	/* deadlines (ms after t0) in scheduling order; ties keep order */
	static const int at[] = {6, 2, 4, 2, 0, 2, 4, 0};
	static const int expect[] = {4, 7, 1, 3, 5, 2, 6, 0};
	struct entry e[8];
	for (int i = 0; i < 8; i++) {
		e[i] = (struct entry){&log, i, false};
		ck_assert_int_eq(spool_loop_call_at(loop, t0 + at[i] * MS,
						    log_cb, &e[i], NULL),
				 0);
	}
	ck_assert_int_eq(
		spool_loop_call_at(loop, t0 + 7 * MS, stop_cb, NULL, NULL), 0);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	ck_assert_int_eq(log.n, 8);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(log.v[i], expect[i]);
	spool_loop_destroy(loop);
}

START_TEST(timers_run_by_deadline_then_in_scheduling_order)
{
	timers_by_deadline_then_scheduling_order(0);
}
END_TEST

START_TEST(timers_run_by_deadline_then_in_scheduling_order_with_timerfd)
{
	timers_by_deadline_then_scheduling_order(SPOOL_LOOP_TIMERFD);
}
END_TEST

struct early {
	int64_t when;
	int64_t seen;
	int *left;
};

static void early_cb(spool_loop *loop, void *arg)
{
	struct early *e = arg;
	e->seen = spool_loop_time(loop);
	if (--*e->left == 0)
		spool_loop_stop(loop);
}

static void timers_never_fire_early(unsigned flags)
{
	spool_loop *loop = new_loop(flags);
	enum { N = 60 };
	struct early e[N];
	int left = N;
	unsigned seed = 12345;
	int64_t now = spool_loop_time(loop);
	for (int i = 0; i < N; i++) {
		/* 0 to 3 ms, at microsecond granularity */
		int64_t delay = (int64_t)(rand_r(&seed) % 3000) * 1000;
		e[i] = (struct early){0, 0, &left};
		spool_handle *h;
		ck_assert_int_eq(
			spool_loop_call_later(loop, delay, early_cb, &e[i], &h),
			0);
		e[i].when = spool_handle_when(h);
		ck_assert_int_ge(e[i].when, now + delay);
		spool_handle_release(h);
	}
	ck_assert_int_eq(spool_loop_run(loop), 0);
	for (int i = 0; i < N; i++)
		ck_assert_int_ge(e[i].seen, e[i].when);
	spool_loop_destroy(loop);
}

/* Many timers all due at once, with many ties and some cancelled, in an
 * order that makes the heap move entries up and down: they run exactly by
 * (deadline, scheduling order), the cancelled ones never. */
struct order_log {
	int n;
	int v[4000];
};

struct order_entry {
	struct order_log *log;
	int id;
};

static void order_cb(spool_loop *loop, void *arg)
{
	struct order_entry *e = arg;
	(void)loop;
	e->log->v[e->log->n++] = e->id;
}

static int order_at(int i)
{
	return (i * 7919) % 97; /* scrambled, each value about 41 times */
}

START_TEST(thousands_of_due_timers_run_in_deadline_then_scheduling_order)
{
	enum { N = 4000 };
	spool_loop *loop = new_loop(0);
	static struct order_log log;
	static struct order_entry e[N];
	static spool_handle *h[N];
	log.n = 0;
	/* All in the past, so that one iteration pops them all. */
	int64_t t0 = spool_loop_time(loop) - 1000 * MS;
	for (int i = 0; i < N; i++) {
		e[i] = (struct order_entry){&log, i};
		ck_assert_int_eq(spool_loop_call_at(loop, t0 + order_at(i),
						    order_cb, &e[i], &h[i]),
				 0);
	}
	for (int i = 0; i < N; i += 3)
		ck_assert_int_eq(spool_handle_cancel(h[i]), 0);
	ck_assert_int_eq(spool_loop_call_at(loop, t0 + 97, stop_cb, NULL, NULL),
			 0);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	int k = 0;
	for (int at = 0; at < 97; at++)
		for (int i = 0; i < N; i++)
			if (i % 3 != 0 && order_at(i) == at) {
				ck_assert_int_lt(k, log.n);
				ck_assert_int_eq(log.v[k], i);
				k++;
			}
	ck_assert_int_eq(log.n, k);
	for (int i = 0; i < N; i++)
		spool_handle_release(h[i]);
	spool_loop_destroy(loop);
}
END_TEST

START_TEST(timers_never_fire_before_their_deadline)
{
	timers_never_fire_early(0);
}
END_TEST

START_TEST(timers_never_fire_before_their_deadline_with_timerfd)
{
	timers_never_fire_early(SPOOL_LOOP_TIMERFD);
}
END_TEST

struct chain {
	struct log *log;
	int id;
};

static void adds_b_and_stops(spool_loop *loop, void *arg)
{
	static struct entry b;
	struct log *log = arg;
	log->v[log->n++] = 1; /* A */
	b = (struct entry){log, 3, true};
	ck_assert_int_eq(spool_loop_call_soon(loop, log_cb, &b, NULL), 0);
	spool_loop_stop(loop);
}

START_TEST(callbacks_added_during_an_iteration_run_in_the_next)
{
	/* A adds B and stops the loop; C was queued before A ran. The
	 * iteration that runs A and C ends and run() returns before B,
	 * which the next run() runs first. */
	spool_loop *loop = new_loop(0);
	struct log log = {.n = 0};
	struct entry c = {&log, 2, false};
	ck_assert_int_eq(
		spool_loop_call_soon(loop, adds_b_and_stops, &log, NULL), 0);
	ck_assert_int_eq(spool_loop_call_soon(loop, log_cb, &c, NULL), 0);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	ck_assert_int_eq(log.n, 2);
	ck_assert_int_eq(log.v[0], 1);
	ck_assert_int_eq(log.v[1], 2);
	ck_assert_int_eq(spool_loop_run(loop), 0); /* B stops it */
	ck_assert_int_eq(log.n, 3);
	ck_assert_int_eq(log.v[2], 3);
	spool_loop_destroy(loop);
}
END_TEST

struct spinner {
	int runs;
	bool timer_fired;
};

static void spin_timer(spool_loop *loop, void *arg);

static void spin_cb(spool_loop *loop, void *arg)
{
	struct spinner *s = arg;
	/* The timer is set from the first run, inside the loop, so that
	 * however late the loop starts, the spinner has rescheduled itself
	 * before the timer can be due. */
	if (s->runs++ == 0)
		ck_assert_int_eq(spool_loop_call_later(loop, 2 * MS, spin_timer,
						       s, NULL),
				 0);
	if (!s->timer_fired)
		ck_assert_int_eq(spool_loop_call_soon(loop, spin_cb, s, NULL),
				 0);
}

static void spin_timer(spool_loop *loop, void *arg)
{
	struct spinner *s = arg;
	s->timer_fired = true;
	spool_loop_stop(loop);
}

START_TEST(a_callback_that_reschedules_itself_does_not_starve_timers)
{
	spool_loop *loop = new_loop(0);
	struct spinner s = {0, false};
	ck_assert_int_eq(spool_loop_call_soon(loop, spin_cb, &s, NULL), 0);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	ck_assert(s.timer_fired);
	ck_assert_int_gt(s.runs, 1);
	spool_loop_destroy(loop);
}
END_TEST

START_TEST(stop_before_run_runs_one_iteration)
{
	spool_loop *loop = new_loop(0);
	struct log log = {.n = 0};
	struct entry a = {&log, 7, false};
	spool_loop_stop(loop);
	ck_assert_int_eq(spool_loop_call_soon(loop, log_cb, &a, NULL), 0);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	ck_assert_int_eq(log.n, 1);
	ck_assert(!spool_loop_is_running(loop));
	spool_loop_destroy(loop);
}
END_TEST

/* ---- handles ---------------------------------------------------------- */

START_TEST(cancelled_handles_never_run)
{
	spool_loop *loop = new_loop(0);
	struct log log = {.n = 0};
	struct entry a = {&log, 1, false}, b = {&log, 2, false};
	spool_handle *ha, *hb;
	ck_assert_int_eq(spool_loop_call_soon(loop, log_cb, &a, &ha), 0);
	ck_assert_int_eq(spool_loop_call_later(loop, 1 * MS, log_cb, &b, &hb),
			 0);
	ck_assert_int_eq(spool_handle_when(ha), 0);
	ck_assert_int_gt(spool_handle_when(hb), 0);
	ck_assert(!spool_handle_cancelled(ha));
	ck_assert_int_eq(spool_handle_cancel(ha), 0);
	ck_assert_int_eq(spool_handle_cancel(hb), 0);
	ck_assert_int_eq(spool_handle_cancel(hb), 0); /* twice is fine */
	ck_assert(spool_handle_cancelled(ha));
	ck_assert(spool_handle_cancelled(hb));
	ck_assert_int_eq(
		spool_loop_call_later(loop, 3 * MS, stop_cb, NULL, NULL), 0);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	ck_assert_int_eq(log.n, 0);
	spool_handle_release(ha);
	spool_handle_release(hb);
	spool_loop_destroy(loop);
}
END_TEST

START_TEST(cancel_after_the_callback_ran_is_estate)
{
	spool_loop *loop = new_loop(0);
	struct log log = {.n = 0};
	struct entry a = {&log, 1, true};
	spool_handle *h;
	ck_assert_int_eq(spool_loop_call_soon(loop, log_cb, &a, &h), 0);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	ck_assert_int_eq(log.n, 1);
	ck_assert_int_eq(spool_handle_cancel(h), SPOOL_ESTATE);
	ck_assert(!spool_handle_cancelled(h));
	spool_handle_release(h);
	spool_loop_destroy(loop);
}
END_TEST

/* A callback that cancels its own handle while it runs: too late, the
 * header says (SPOOL_ESTATE "if it already ran or is running"), and the
 * handle does not report cancelled. Both kinds of handle. */
struct self_cancel {
	spool_handle *h;
	int rc;
	bool cancelled;
	int runs;
};

static void self_cancel_cb(spool_loop *loop, void *arg)
{
	struct self_cancel *c = arg;
	(void)loop;
	c->runs++;
	c->rc = spool_handle_cancel(c->h);
	c->cancelled = spool_handle_cancelled(c->h);
}

START_TEST(cancel_from_inside_the_running_callback_is_estate)
{
	spool_loop *loop = new_loop(0);
	struct self_cancel soon = {.rc = 99}, later = {.rc = 99};
	ck_assert_int_eq(
		spool_loop_call_soon(loop, self_cancel_cb, &soon, &soon.h), 0);
	ck_assert_int_eq(spool_loop_call_later(loop, 0, self_cancel_cb, &later,
					       &later.h),
			 0);
	ck_assert_int_eq(
		spool_loop_call_later(loop, 1 * MS, stop_cb, NULL, NULL), 0);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	ck_assert_int_eq(soon.runs, 1);
	ck_assert_int_eq(soon.rc, SPOOL_ESTATE);
	ck_assert(!soon.cancelled);
	ck_assert_int_eq(later.runs, 1);
	ck_assert_int_eq(later.rc, SPOOL_ESTATE);
	ck_assert(!later.cancelled);
	/* And afterwards, still too late. */
	ck_assert_int_eq(spool_handle_cancel(soon.h), SPOOL_ESTATE);
	ck_assert_int_eq(spool_handle_cancel(later.h), SPOOL_ESTATE);
	ck_assert(!spool_handle_cancelled(later.h));
	spool_handle_release(soon.h);
	spool_handle_release(later.h);
	spool_loop_destroy(loop);
}
END_TEST

struct purge {
	int ran;
	spool_handle *h[1000];
};

static void count_cb(spool_loop *loop, void *arg)
{
	(void)loop;
	(*(int *)arg)++;
}

START_TEST(many_cancelled_timers_never_run_and_the_rest_do)
{
	/* Over half of a large heap cancelled: the heap is rebuilt without
	 * them (asyncio's purge), and the live timers still fire in order. */
	spool_loop *loop = new_loop(0);
	static struct purge p;
	p.ran = 0;
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(
			spool_loop_call_later(loop, (int64_t)(i % 7) * MS,
					      count_cb, &p.ran, &p.h[i]),
			0);
	int kept = 0;
	for (int i = 0; i < 1000; i++) {
		if (i % 10 == 0)
			kept++;
		else
			ck_assert_int_eq(spool_handle_cancel(p.h[i]), 0);
	}
	ck_assert_int_eq(
		spool_loop_call_later(loop, 8 * MS, stop_cb, NULL, NULL), 0);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	ck_assert_int_eq(p.ran, kept);
	for (int i = 0; i < 1000; i++)
		spool_handle_release(p.h[i]);
	spool_loop_destroy(loop);
}
END_TEST

START_TEST(bad_schedule_arguments_are_einval)
{
	spool_loop *loop = new_loop(0);
	spool_handle *h = (spool_handle *)&h;
	ck_assert_int_eq(spool_loop_call_soon(NULL, stop_cb, NULL, &h),
			 SPOOL_EINVAL);
	ck_assert_ptr_null(h);
	ck_assert_int_eq(spool_loop_call_soon(loop, NULL, NULL, NULL),
			 SPOOL_EINVAL);
	ck_assert_int_eq(spool_loop_call_later(loop, -1, stop_cb, NULL, &h),
			 SPOOL_EINVAL);
	ck_assert_ptr_null(h);
	ck_assert_int_eq(spool_loop_call_soon_threadsafe(loop, NULL, NULL),
			 SPOOL_EINVAL);
	ck_assert_int_eq(spool_loop_call_soon_threadsafe(NULL, stop_cb, NULL),
			 SPOOL_EINVAL);
	spool_loop_destroy(loop);
}
END_TEST

START_TEST(destroy_discards_pending_callbacks_and_handles_stay_valid)
{
	spool_loop *loop = new_loop(0);
	struct log log = {.n = 0};
	struct entry a = {&log, 1, false}, b = {&log, 2, false};
	spool_handle *ha, *hb;
	ck_assert_int_eq(spool_loop_call_soon(loop, log_cb, &a, &ha), 0);
	ck_assert_int_eq(spool_loop_call_later(loop, 0, log_cb, &b, &hb), 0);
	spool_loop_destroy(loop);
	ck_assert_int_eq(log.n, 0);
	ck_assert(spool_handle_cancelled(ha));
	ck_assert(spool_handle_cancelled(hb));
	ck_assert_int_eq(spool_handle_cancel(ha), 0);
	spool_handle_release(ha);
	spool_handle_release(hb);
}
END_TEST

/* ---- running ---------------------------------------------------------- */

struct reentry {
	spool_loop *other;
	spool_future *f;
	int run_rc, ruc_rc, other_rc;
	spool_loop *current;
	bool running;
};

static void reenter_cb(spool_loop *loop, void *arg)
{
	struct reentry *r = arg;
	r->run_rc = spool_loop_run(loop);
	r->ruc_rc = spool_loop_run_until_complete(loop, r->f);
	r->other_rc = spool_loop_run(r->other);
	r->current = spool_loop_current();
	r->running = spool_loop_is_running(loop);
	spool_loop_stop(loop);
}

START_TEST(run_is_not_reentrant_and_current_is_the_running_loop)
{
	spool_loop *loop = new_loop(0);
	struct reentry r = {.other = new_loop(0), .f = spool_promise_new()};
	ck_assert_ptr_null(spool_loop_current());
	ck_assert_int_eq(spool_loop_call_soon(loop, reenter_cb, &r, NULL), 0);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	ck_assert_int_eq(r.run_rc, SPOOL_ESTATE);
	ck_assert_int_eq(r.ruc_rc, SPOOL_ESTATE);
	ck_assert_int_eq(r.other_rc, SPOOL_ESTATE);
	ck_assert_ptr_eq(r.current, loop);
	ck_assert(r.running);
	ck_assert(!spool_loop_is_running(loop));
	ck_assert_ptr_null(spool_loop_current());
	spool_promise_set_result(r.f, NULL);
	spool_future_release(r.f);
	spool_loop_destroy(r.other);
	spool_loop_destroy(loop);
}
END_TEST

static void *complete_later(void *arg)
{
	spool_test_sleep_ns(5 * MS);
	spool_promise_set_result(arg, arg);
	return NULL;
}

START_TEST(run_until_complete_returns_once_a_foreign_future_completes)
{
	spool_loop *loop = new_loop(0);
	spool_future *f = spool_promise_new();
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, complete_later, f), 0);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, f), 0);
	ck_assert(spool_future_done(f));
	ck_assert_ptr_eq(spool_future_value(f), f);
	pthread_join(th, NULL);
	/* Already final: returns its outcome at once. */
	ck_assert_int_eq(spool_loop_run_until_complete(loop, f), 0);
	spool_future_release(f);
	f = spool_promise_new();
	spool_promise_set_error(f, 42);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, f), 42);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, NULL),
			 SPOOL_EINVAL);
	ck_assert_int_eq(spool_loop_run_until_complete(NULL, f), SPOOL_EINVAL);
	spool_future_release(f);
	spool_loop_destroy(loop);
}
END_TEST

START_TEST(run_until_complete_stopped_first_is_eagain)
{
	spool_loop *loop = new_loop(0);
	spool_future *f = spool_promise_new();
	ck_assert_int_eq(
		spool_loop_call_later(loop, 1 * MS, stop_cb, NULL, NULL), 0);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, f), SPOOL_EAGAIN);
	ck_assert_int_eq(spool_future_state(f), SPOOL_PENDING);
	/* Completed after the loop is gone: the leftover callback on f
	 * must not touch the destroyed loop. */
	spool_loop_destroy(loop);
	spool_promise_set_result(f, NULL);
	spool_future_release(f);
}
END_TEST

START_TEST(run_until_complete_of_a_final_future_does_not_run_the_loop)
{
	/* "Returns at once, without running the loop, if f is already
	 * final": a callback already queued stays queued. */
	spool_loop *loop = new_loop(0);
	struct log log = {.n = 0};
	struct entry a = {&log, 1, false};
	ck_assert_int_eq(spool_loop_call_soon(loop, log_cb, &a, NULL), 0);
	spool_future *f = spool_promise_new();
	ck_assert_int_eq(spool_promise_set_result(f, NULL), 0);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, f), 0);
	ck_assert_int_eq(log.n, 0);
	spool_future_release(f);
	f = spool_promise_new();
	ck_assert_int_eq(spool_promise_set_error(f, 42), 0);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, f), 42);
	ck_assert_int_eq(log.n, 0);
	spool_future_release(f);
	/* The queued callback runs in the next real run. */
	struct entry b = {&log, 2, true};
	ck_assert_int_eq(spool_loop_call_soon(loop, log_cb, &b, NULL), 0);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	ck_assert_int_eq(log.n, 2);
	ck_assert_int_eq(log.v[0], 1);
	ck_assert_int_eq(log.v[1], 2);
	spool_loop_destroy(loop);
}
END_TEST

/* The first run_until_complete(old) was stopped (EAGAIN), so its wait
 * for old is abandoned; old completing later, during
 * run_until_complete(cur), must not end that run: only cur does. */
struct stale {
	spool_future *old, *cur;
	int step;
};

static void stale_cb(spool_loop *loop, void *arg)
{
	struct stale *s = arg;
	switch (s->step++) {
	case 0: /* the abandoned future completes first */
		ck_assert_int_eq(spool_promise_set_result(s->old, NULL), 0);
		break;
	case 1:
	case 2: /* a few iterations later, the one waited for */
		break;
	default:
		ck_assert_int_eq(spool_promise_set_result(s->cur, s), 0);
		return;
	}
	ck_assert_int_eq(spool_loop_call_soon(loop, stale_cb, s, NULL), 0);
}

START_TEST(run_until_complete_ends_only_for_its_own_future)
{
	spool_loop *loop = new_loop(0);
	struct stale s = {spool_promise_new(), spool_promise_new(), 0};
	ck_assert_int_eq(spool_loop_call_soon(loop, stop_cb, NULL, NULL), 0);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, s.old),
			 SPOOL_EAGAIN);
	ck_assert_int_eq(spool_future_state(s.old), SPOOL_PENDING);
	ck_assert_int_eq(spool_loop_call_soon(loop, stale_cb, &s, NULL), 0);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, s.cur), 0);
	ck_assert_int_eq(s.step, 4);
	ck_assert_ptr_eq(spool_future_value(s.cur), &s);
	ck_assert_int_eq(spool_future_state(s.old), SPOOL_DONE);
	spool_loop_destroy(loop);
	spool_promise_set_result(s.cur, NULL); /* if a broken run left it */
	spool_future_release(s.old);
	spool_future_release(s.cur);
}
END_TEST

/* ---- the thread-safe inbox -------------------------------------------- */

enum { TS_THREADS = 8, TS_CALLS = 5000 };

struct ts_state {
	spool_loop *loop;
	int count[TS_THREADS][TS_CALLS];
	int last[TS_THREADS];
	bool in_order;
	int total;
	pthread_t loop_thread;
	bool on_loop_thread;
	atomic_int go;
};

struct ts_call {
	struct ts_state *s;
	int thread, seq;
};

static struct ts_call ts_calls[TS_THREADS][TS_CALLS];

static void ts_cb(spool_loop *loop, void *arg)
{
	struct ts_call *c = arg;
	struct ts_state *s = c->s;
	s->count[c->thread][c->seq]++;
	if (c->seq <= s->last[c->thread])
		s->in_order = false;
	s->last[c->thread] = c->seq;
	if (!pthread_equal(pthread_self(), s->loop_thread))
		s->on_loop_thread = false;
	if (++s->total == TS_THREADS * TS_CALLS)
		spool_loop_stop(loop);
}

static void *ts_producer(void *arg)
{
	struct ts_call *calls = arg;
	struct ts_state *s = calls[0].s;
	while (!atomic_load(&s->go))
		;
	for (int i = 0; i < TS_CALLS; i++)
		ck_assert_int_eq(spool_loop_call_soon_threadsafe(s->loop, ts_cb,
								 &calls[i]),
				 0);
	return NULL;
}

START_TEST(call_soon_threadsafe_from_8_threads_runs_each_call_exactly_once)
{
	static struct ts_state s;
	s = (struct ts_state){.loop = new_loop(0),
			      .in_order = true,
			      .on_loop_thread = true,
			      .loop_thread = pthread_self()};
	for (int t = 0; t < TS_THREADS; t++)
		s.last[t] = -1;
	pthread_t th[TS_THREADS];
	for (int t = 0; t < TS_THREADS; t++) {
		for (int i = 0; i < TS_CALLS; i++)
			ts_calls[t][i] = (struct ts_call){&s, t, i};
		ck_assert_int_eq(
			pthread_create(&th[t], NULL, ts_producer, ts_calls[t]),
			0);
	}
	atomic_store(&s.go, 1);
	ck_assert_int_eq(spool_loop_run(s.loop), 0);
	for (int t = 0; t < TS_THREADS; t++)
		pthread_join(th[t], NULL);
	ck_assert_int_eq(s.total, TS_THREADS * TS_CALLS);
	for (int t = 0; t < TS_THREADS; t++)
		for (int i = 0; i < TS_CALLS; i++)
			ck_assert_int_eq(s.count[t][i], 1);
	ck_assert_msg(s.in_order, "one thread's calls ran out of order");
	ck_assert(s.on_loop_thread);
	spool_loop_destroy(s.loop);
}
END_TEST

static void *stop_from_afar(void *arg)
{
	spool_test_sleep_ns(10 * MS);
	ck_assert_int_eq(spool_loop_call_soon_threadsafe(arg, stop_cb, NULL),
			 0);
	return NULL;
}

static void call_soon_threadsafe_wakes_an_idle_loop(unsigned flags)
{
	/* Nothing to do and no timer: the loop sleeps in epoll without a
	 * timeout until the eventfd wakes it. */
	spool_loop *loop = new_loop(flags);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, stop_from_afar, loop), 0);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	pthread_join(th, NULL);
	spool_loop_destroy(loop);
}

START_TEST(call_soon_threadsafe_wakes_a_loop_blocked_in_epoll)
{
	call_soon_threadsafe_wakes_an_idle_loop(0);
	call_soon_threadsafe_wakes_an_idle_loop(SPOOL_LOOP_TIMERFD);
}
END_TEST

START_TEST(call_soon_threadsafe_before_run_is_kept_for_the_run)
{
	spool_loop *loop = new_loop(0);
	pthread_t th;
	/* From another thread, before the loop ever runs. */
	ck_assert_int_eq(pthread_create(&th, NULL, stop_from_afar, loop), 0);
	pthread_join(th, NULL);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	spool_loop_destroy(loop);
}
END_TEST

/* The count of the process's only eventfd (the loop's), read from
 * /proc/self/fdinfo; -1 if there is none. */
static long eventfd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	ck_assert_ptr_nonnull(d);
	long count = -1;
	struct dirent *e;
	while ((e = readdir(d))) {
		char path[300], target[64];
		snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(path, target, sizeof target - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, "anon_inode:[eventfd]") != 0)
			continue;
		snprintf(path, sizeof path, "/proc/self/fdinfo/%s", e->d_name);
		FILE *f = fopen(path, "r");
		ck_assert_ptr_nonnull(f);
		char line[128];
		while (fgets(line, sizeof line, f))
			if (sscanf(line, "eventfd-count: %lx", &count) == 1)
				break;
		fclose(f);
	}
	closedir(d);
	return count;
}

struct burst {
	spool_loop *loop;
	int ran;
};

static void burst_cb(spool_loop *loop, void *arg)
{
	struct burst *b = arg;
	if (++b->ran == 1000)
		spool_loop_stop(loop);
}

static void *burst_thread(void *arg)
{
	struct burst *b = arg;
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(
			spool_loop_call_soon_threadsafe(b->loop, burst_cb, b),
			0);
	return NULL;
}

START_TEST(call_soon_threadsafe_wake_ups_are_coalesced)
{
	/* 1,000 calls while the loop does not drain: one eventfd write. */
	struct burst b = {new_loop(0), 0};
	ck_assert_int_eq(eventfd_count(), 0);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, burst_thread, &b), 0);
	pthread_join(th, NULL);
	ck_assert_int_eq(eventfd_count(), 1);
	ck_assert_int_eq(spool_loop_run(b.loop), 0);
	ck_assert_int_eq(b.ran, 1000);
	ck_assert_int_eq(eventfd_count(), 0); /* consumed by the drain */
	spool_loop_destroy(b.loop);
}
END_TEST

/* ---- resources -------------------------------------------------------- */

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	ck_assert_ptr_nonnull(d);
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static int one_task(void *arg, void **result)
{
	(void)arg;
	*result = NULL;
	return spool_sleep(0);
}

START_TEST(no_descriptor_leaks_after_1000_create_destroy_cycles)
{
	int before = count_fds();
	for (int i = 0; i < 1000; i++) {
		spool_loop *loop = new_loop(i % 2 ? SPOOL_LOOP_TIMERFD : 0);
		if (i % 10 == 0) {
			/* with coroutines, stacks, timers */
			spool_future *f = spool_submit(
				spool_loop_executor(loop), one_task, NULL);
			int ran = 0;
			ck_assert_int_eq(spool_loop_call_later(
						 loop, 0, count_cb, &ran, NULL),
					 0);
			ck_assert_int_eq(spool_loop_run_until_complete(loop, f),
					 0);
			spool_future_release(f);
		}
		spool_loop_destroy(loop);
	}
	ck_assert_int_eq(count_fds(), before);
}
END_TEST

/* A done-callback runs exactly once, even when the loop is destroyed
 * while it is on its way: added on the loop's thread (in a callback of the
 * running loop), it is to run on the loop; its future completed by another
 * thread while the loop does not run, it waits in the loop's inbox, and
 * destroy runs it. */
static atomic_int done_cb_runs;

static void count_done_cb(spool_future *f, void *arg)
{
	(void)f;
	(void)arg;
	atomic_fetch_add(&done_cb_runs, 1);
}

static void adds_done_cb_and_stops(spool_loop *loop, void *arg)
{
	ck_assert_int_eq(spool_future_add_callback(arg, count_done_cb, NULL),
			 0);
	spool_loop_stop(loop);
}

static void *completes(void *arg)
{
	spool_promise_set_result(arg, NULL);
	return NULL;
}

START_TEST(destroy_runs_a_done_callback_on_its_way_to_the_loop)
{
	atomic_store(&done_cb_runs, 0);
	spool_loop *loop = spool_test_loop_new();
	spool_future *p = spool_promise_new();
	ck_assert_int_eq(
		spool_loop_call_soon(loop, adds_done_cb_and_stops, p, NULL), 0);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, completes, p), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(spool_future_state(p), SPOOL_DONE);
	/* on its way: the loop, not the completing thread, runs it */
	ck_assert_int_eq(atomic_load(&done_cb_runs), 0);
	spool_loop_destroy(loop);
	ck_assert_int_eq(atomic_load(&done_cb_runs), 1);
	spool_future_release(p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("loop");
	TCase *tc = spool_test_case("create", 30);
	tcase_add_test(tc, create_rejects_bad_arguments);
	tcase_add_test(tc, destroy_null_is_a_noop);
	suite_add_tcase(s, tc);

	tc = spool_test_case("ordering", 30);
	tcase_add_test(tc, call_soon_runs_first_in_first_out);
	tcase_add_test(
		tc, a_task_submitted_on_the_loop_runs_in_order_with_call_soon);
	tcase_add_test(tc, timers_run_by_deadline_then_in_scheduling_order);
	tcase_add_test(
		tc,
		timers_run_by_deadline_then_in_scheduling_order_with_timerfd);
	tcase_add_test(
		tc,
		thousands_of_due_timers_run_in_deadline_then_scheduling_order);
	tcase_add_test(tc, timers_never_fire_before_their_deadline);
	tcase_add_test(tc,
		       timers_never_fire_before_their_deadline_with_timerfd);
	tcase_add_test(tc, callbacks_added_during_an_iteration_run_in_the_next);
	tcase_add_test(
		tc, a_callback_that_reschedules_itself_does_not_starve_timers);
	tcase_add_test(tc, stop_before_run_runs_one_iteration);
	suite_add_tcase(s, tc);

	tc = spool_test_case("handles", 30);
	tcase_add_test(tc, cancelled_handles_never_run);
	tcase_add_test(tc, cancel_after_the_callback_ran_is_estate);
	tcase_add_test(tc, cancel_from_inside_the_running_callback_is_estate);
	tcase_add_test(tc, many_cancelled_timers_never_run_and_the_rest_do);
	tcase_add_test(tc, bad_schedule_arguments_are_einval);
	tcase_add_test(
		tc, destroy_discards_pending_callbacks_and_handles_stay_valid);
	suite_add_tcase(s, tc);

	tc = spool_test_case("running", 30);
	tcase_add_test(tc,
		       run_is_not_reentrant_and_current_is_the_running_loop);
	tcase_add_test(
		tc, run_until_complete_returns_once_a_foreign_future_completes);
	tcase_add_test(tc, run_until_complete_stopped_first_is_eagain);
	tcase_add_test(
		tc, run_until_complete_of_a_final_future_does_not_run_the_loop);
	tcase_add_test(tc, run_until_complete_ends_only_for_its_own_future);
	suite_add_tcase(s, tc);

	tc = spool_test_case("threadsafe", 60);
	tcase_add_test(
		tc,
		call_soon_threadsafe_from_8_threads_runs_each_call_exactly_once);
	tcase_add_test(tc, call_soon_threadsafe_wakes_a_loop_blocked_in_epoll);
	tcase_add_test(tc, call_soon_threadsafe_before_run_is_kept_for_the_run);
	tcase_add_test(tc, call_soon_threadsafe_wake_ups_are_coalesced);
	tcase_add_test(tc, destroy_runs_a_done_callback_on_its_way_to_the_loop);
	suite_add_tcase(s, tc);

	tc = spool_test_case("resources", 120);
	tcase_add_test(tc,
		       no_descriptor_leaks_after_1000_create_destroy_cycles);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
