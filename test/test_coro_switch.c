/* SPDX-License-Identifier: MIT */
/* Suite "coro_switch": handing the CPU from one coroutine straight to the
 * next. A coroutine that yields or suspends switches directly into the next
 * coroutine of the loop's current batch instead of going back through the
 * scheduler; these tests pin down that doing so changes nothing a program
 * can see: every coroutine keeps its locals and its current future, the
 * ready queue's order and the iteration rule hold, callbacks between
 * coroutines run in their place, and what a resumed await returns is what
 * the scheduler would have given it. */
#include <stdint.h>
#include <string.h>

#include "support.h"

/* Runs the loop until every one of the n futures is done, then checks that
 * each succeeded and releases it. */
static void run_all(spool_loop *loop, spool_future **f, int n)
{
	for (int i = 0; i < n; i++) {
		ck_assert_int_eq(spool_loop_run_until_complete(loop, f[i]), 0);
		ck_assert_int_eq(spool_future_state(f[i]), SPOOL_DONE);
		spool_future_release(f[i]);
	}
}

/* ---- locals ----------------------------------------------------------- */

enum { LOCALS_TASKS = 64, LOCALS_YIELDS = 200, LOCALS_WORDS = 16 };

struct local_check {
	spool_loop *loop;
	int id;
	int bad; /* yields after which something had changed */
	int yields;
};

static int locals_task(void *arg, void **result)
{
	struct local_check *c = arg;
	spool_future *self = spool_current_future();
	uint64_t words[LOCALS_WORDS];
	double acc = c->id * 0.5;
	uint64_t mix = (uint64_t)c->id * 0x9e3779b97f4a7c15u;
	for (int w = 0; w < LOCALS_WORDS; w++)
		words[w] = mix + (uint64_t)w;
	for (int i = 0; i < LOCALS_YIELDS; i++) {
		ck_assert_int_eq(spool_sleep(0), 0);
		c->yields++;
		acc += 1.0;
		mix = mix * 6364136223846793005u + 1442695040888963407u;
		int ok = spool_current_future() == self &&
			 spool_loop_current() == c->loop &&
			 acc == c->id * 0.5 + (i + 1);
		for (int w = 0; w < LOCALS_WORDS; w++) {
			ok = ok &&
			     words[w] == (uint64_t)c->id * 0x9e3779b97f4a7c15u +
						 (uint64_t)w + (uint64_t)i;
			words[w]++; /* changes across every switch */
		}
		if (!ok)
			c->bad++;
	}
	*result = (void *)(uintptr_t)mix;
	return 0;
}

START_TEST(many_coroutines_yielding_to_each_other_keep_their_locals)
{
	spool_loop *loop = spool_test_loop_new();
	struct local_check c[LOCALS_TASKS];
	spool_future *f[LOCALS_TASKS];
	for (int i = 0; i < LOCALS_TASKS; i++) {
		c[i] = (struct local_check){loop, i, 0, 0};
		f[i] = spool_test_loop_submit(loop, locals_task, &c[i]);
	}
	for (int i = 0; i < LOCALS_TASKS; i++) {
		ck_assert_int_eq(spool_loop_run_until_complete(loop, f[i]), 0);
		/* Each task's own result: the end of its own sequence. */
		uint64_t mix = (uint64_t)i * 0x9e3779b97f4a7c15u;
		for (int k = 0; k < LOCALS_YIELDS; k++)
			mix = mix * 6364136223846793005u + 1442695040888963407u;
		ck_assert_ptr_eq(spool_future_value(f[i]),
				 (void *)(uintptr_t)mix);
		spool_future_release(f[i]);
	}
	for (int i = 0; i < LOCALS_TASKS; i++) {
		ck_assert_int_eq(c[i].yields, LOCALS_YIELDS);
		ck_assert_int_eq(c[i].bad, 0);
	}
	spool_loop_destroy(loop);
}
END_TEST

/* ---- order ------------------------------------------------------------ */

enum { LOG_MAX = 4096 };

struct order_log {
	spool_loop *loop;
	char log[LOG_MAX];
	int n;
	int rounds;
	int ticks_left;
};

static void log_char(struct order_log *o, char ch)
{
	ck_assert_int_lt(o->n, LOG_MAX);
	o->log[o->n++] = ch;
}

struct order_task {
	struct order_log *o;
	char name;
};

static int order_task(void *arg, void **result)
{
	struct order_task *t = arg;
	(void)result;
	for (int r = 0; r < t->o->rounds; r++) {
		log_char(t->o, t->name);
		ck_assert_int_eq(spool_sleep(0), 0);
	}
	return 0;
}

START_TEST(yields_resume_in_ready_queue_order_with_direct_switches)
{
	enum { TASKS = 10, ROUNDS = 40 };
	spool_loop *loop = spool_test_loop_new();
	struct order_log o = {.loop = loop, .rounds = ROUNDS};
	struct order_task t[TASKS];
	spool_future *f[TASKS];
	for (int i = 0; i < TASKS; i++) {
		t[i] = (struct order_task){&o, (char)('a' + i)};
		f[i] = spool_test_loop_submit(loop, order_task, &t[i]);
	}
	run_all(loop, f, TASKS);
	ck_assert_int_eq(o.n, TASKS * ROUNDS);
	for (int k = 0; k < o.n; k++)
		ck_assert_int_eq(o.log[k], 'a' + k % TASKS);
	spool_loop_destroy(loop);
}
END_TEST

/* A callback that logs its name (arg points at a struct order_task). */
static void log_cb(spool_loop *loop, void *arg)
{
	struct order_task *t = arg;
	(void)loop;
	log_char(t->o, t->name);
}

struct sched_task {
	struct order_task self;
	int at_round; /* schedules `cb` after logging in this round */
	struct order_task *cb;
};

static int sched_task(void *arg, void **result)
{
	struct sched_task *t = arg;
	(void)result;
	for (int r = 0; r < t->self.o->rounds; r++) {
		log_char(t->self.o, t->self.name);
		if (r == t->at_round)
			ck_assert_int_eq(spool_loop_call_soon(t->self.o->loop,
							      log_cb, t->cb,
							      NULL),
					 0);
		ck_assert_int_eq(spool_sleep(0), 0);
	}
	return 0;
}

START_TEST(a_callback_between_two_coroutines_still_runs_in_order)
{
	spool_loop *loop = spool_test_loop_new();
	struct order_log o = {.loop = loop, .rounds = 4};
	struct order_task x = {&o, 'X'}, y = {&o, 'Y'};
	/* b schedules X in its second turn, c schedules Y in its third:
	 * each runs in the next iteration, where it was queued, between
	 * the coroutines queued before and after it. */
	struct sched_task t[3] = {
		{{&o, 'a'}, -1, NULL},
		{{&o, 'b'}, 1, &x},
		{{&o, 'c'}, 2, &y},
	};
	spool_future *f[3];
	for (int i = 0; i < 3; i++)
		f[i] = spool_test_loop_submit(loop, sched_task, &t[i]);
	run_all(loop, f, 3);
	o.log[o.n] = '\0';
	ck_assert_str_eq(o.log, "abc"
				"abc"
				"aXbc"
				"abYc");
	spool_loop_destroy(loop);
}
END_TEST

/* Reschedules itself until ticks_left reaches zero. */
static void tick_cb(spool_loop *loop, void *arg)
{
	struct order_log *o = arg;
	log_char(o, '.');
	if (--o->ticks_left > 0)
		ck_assert_int_eq(spool_loop_call_soon(loop, tick_cb, o, NULL),
				 0);
}

START_TEST(each_iteration_resumes_each_yielding_coroutine_once)
{
	enum { TASKS = 3, ROUNDS = 50 };
	spool_loop *loop = spool_test_loop_new();
	struct order_log o = {
		.loop = loop, .rounds = ROUNDS, .ticks_left = ROUNDS};
	/* The tick is queued first: one tick per iteration, then each
	 * coroutine once, in the order they were queued. */
	ck_assert_int_eq(spool_loop_call_soon(loop, tick_cb, &o, NULL), 0);
	struct order_task t[TASKS];
	spool_future *f[TASKS];
	for (int i = 0; i < TASKS; i++) {
		t[i] = (struct order_task){&o, (char)('a' + i)};
		f[i] = spool_test_loop_submit(loop, order_task, &t[i]);
	}
	run_all(loop, f, TASKS);
	ck_assert_int_eq(o.n, (TASKS + 1) * ROUNDS);
	for (int k = 0; k < o.n; k++)
		ck_assert_int_eq(o.log[k], ".abc"[k % (TASKS + 1)]);
	spool_loop_destroy(loop);
}
END_TEST

/* ---- what a resumed await returns ------------------------------------- */

struct victim {
	spool_future *self;
	int yields_ok;
	int rc; /* what the yield that ended the loop returned */
};

static int victim_task(void *arg, void **result)
{
	struct victim *v = arg;
	(void)result;
	for (int i = 0; i < 100; i++) {
		int rc = spool_sleep(0);
		if (rc != 0) {
			v->rc = rc;
			return rc;
		}
		v->yields_ok++;
	}
	return 0;
}

static int canceller_task(void *arg, void **result)
{
	struct victim *v = arg;
	(void)result;
	ck_assert_int_eq(spool_sleep(0), 0);
	ck_assert_int_eq(spool_sleep(0), 0);
	/* The victim is queued right behind this coroutine, already woken
	 * from its second yield: the cancel replaces what it returns. */
	ck_assert_int_eq(spool_future_cancel(v->self), 0);
	ck_assert_int_eq(spool_sleep(0), 0);
	return 0;
}

START_TEST(a_ready_coroutine_cancelled_before_its_turn_resumes_with_ecancelled)
{
	spool_loop *loop = spool_test_loop_new();
	struct victim v = {0};
	spool_future *c = spool_test_loop_submit(loop, canceller_task, &v);
	spool_future *f = spool_test_loop_submit(loop, victim_task, &v);
	v.self = f;
	ck_assert_int_eq(spool_loop_run_until_complete(loop, c), 0);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, f),
			 SPOOL_ECANCELLED);
	ck_assert_int_eq(spool_future_state(f), SPOOL_CANCELLED);
	/* Its first yield returned 0, its second the cancel. */
	ck_assert_int_eq(v.yields_ok, 1);
	ck_assert_int_eq(v.rc, SPOOL_ECANCELLED);
	spool_future_release(c);
	spool_future_release(f);
	spool_loop_destroy(loop);
}
END_TEST

enum { AWAIT_TASKS = 8, AWAIT_ROUNDS = 30 };

struct await_ring {
	spool_future *p[AWAIT_ROUNDS][AWAIT_TASKS];
	int slot[AWAIT_ROUNDS][AWAIT_TASKS];
	int round; /* the next round the completer completes */
	struct order_log o;
};

struct await_task {
	struct await_ring *ring;
	int id;
	int bad;
};

static int await_task(void *arg, void **result)
{
	struct await_task *t = arg;
	spool_future *self = spool_current_future();
	int local = t->id * 1000;
	(void)result;
	for (int r = 0; r < AWAIT_ROUNDS; r++) {
		void *value = NULL;
		ck_assert_int_eq(spool_future_result(t->ring->p[r][t->id],
						     SPOOL_FOREVER, &value),
				 0);
		if (value != &t->ring->slot[r][t->id] ||
		    spool_current_future() != self || local != t->id * 1000 + r)
			t->bad++;
		local++;
		log_char(&t->ring->o, (char)('a' + t->id));
	}
	return 0;
}

/* Completes every task's promise of one round, in task order, so that the
 * next iteration's batch resumes them all one after another. */
static void complete_round(spool_loop *loop, void *arg)
{
	struct await_ring *ring = arg;
	int r = ring->round++;
	for (int i = 0; i < AWAIT_TASKS; i++)
		ck_assert_int_eq(spool_promise_set_result(ring->p[r][i],
							  &ring->slot[r][i]),
				 0);
	if (ring->round < AWAIT_ROUNDS)
		ck_assert_int_eq(spool_loop_call_later(loop, SPOOL_NS_PER_MS,
						       complete_round, ring,
						       NULL),
				 0);
}

START_TEST(coroutines_woken_together_resume_in_turn_with_their_results)
{
	spool_loop *loop = spool_test_loop_new();
	static struct await_ring ring;
	memset(&ring, 0, sizeof ring);
	ring.o.loop = loop;
	for (int r = 0; r < AWAIT_ROUNDS; r++)
		for (int i = 0; i < AWAIT_TASKS; i++) {
			ring.p[r][i] = spool_promise_new();
			ck_assert_ptr_nonnull(ring.p[r][i]);
		}
	struct await_task t[AWAIT_TASKS];
	spool_future *f[AWAIT_TASKS];
	for (int i = 0; i < AWAIT_TASKS; i++) {
		t[i] = (struct await_task){&ring, i, 0};
		f[i] = spool_test_loop_submit(loop, await_task, &t[i]);
	}
	ck_assert_int_eq(spool_loop_call_later(loop, SPOOL_NS_PER_MS,
					       complete_round, &ring, NULL),
			 0);
	run_all(loop, f, AWAIT_TASKS);
	ck_assert_int_eq(ring.o.n, AWAIT_TASKS * AWAIT_ROUNDS);
	for (int k = 0; k < ring.o.n; k++)
		ck_assert_int_eq(ring.o.log[k], 'a' + k % AWAIT_TASKS);
	for (int i = 0; i < AWAIT_TASKS; i++)
		ck_assert_int_eq(t[i].bad, 0);
	for (int r = 0; r < AWAIT_ROUNDS; r++)
		for (int i = 0; i < AWAIT_TASKS; i++)
			spool_future_release(ring.p[r][i]);
	spool_loop_destroy(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("coro_switch");
	TCase *tc = spool_test_case("direct", 30);
	tcase_add_test(
		tc, many_coroutines_yielding_to_each_other_keep_their_locals);
	tcase_add_test(tc,
		       yields_resume_in_ready_queue_order_with_direct_switches);
	tcase_add_test(tc,
		       a_callback_between_two_coroutines_still_runs_in_order);
	tcase_add_test(tc, each_iteration_resumes_each_yielding_coroutine_once);
	tcase_add_test(
		tc,
		a_ready_coroutine_cancelled_before_its_turn_resumes_with_ecancelled);
	tcase_add_test(
		tc,
		coroutines_woken_together_resume_in_turn_with_their_results);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
