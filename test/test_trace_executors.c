/* SPDX-License-Identifier: MIT */
/*
 * Suite "trace_executors": the pool's, the combinators' and the loop's
 * hooks as a traced program sees them through spool/trace.h: fork-join on
 * a pool against its statistics, reused clock reads, combinator waits, and
 * coroutine segments, timers and loop turns.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "core/future_impl.h"
#include "trace_support.h"

/* ---- the pool's hooks, through the public API --------------------------- */

struct fib {
	spool_executor *ex;
	int n;
	long value;
};

static int fib_task(void *arg, void **result)
{
	struct fib *a = arg;
	(void)result;
	if (a->n < 2) {
		a->value = a->n;
		return 0;
	}
	struct fib l = {a->ex, a->n - 1, 0}, r = {a->ex, a->n - 2, 0};
	spool_future *fl = spool_submit_labeled(a->ex, fib_task, &l, "fib");
	spool_future *fr = spool_submit_labeled(a->ex, fib_task, &r, "fib");
	int rc = spool_future_wait(fl, SPOOL_FOREVER);
	if (rc == 0)
		rc = spool_future_wait(fr, SPOOL_FOREVER);
	spool_future_release(fl);
	spool_future_release(fr);
	a->value = l.value + r.value;
	return rc;
}

START_TEST(pool_fork_join_on_2_workers_matches_the_pool_stats)
{
	enum { N = 13, TASKS = 753 }; /* fib(13) = 233; calls: 2 fib(14)-1 */
	ck_assert_int_eq(spool_trace_start(tmp("pool.json")), 0);
	spool_pool *p;
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = 2;
	ck_assert_int_eq(spool_pool_create(&p, &o), 0);
	struct fib root = {spool_pool_executor(p), N, 0};
	spool_future *f = spool_submit_labeled(root.ex, fib_task, &root, "fib");
	ck_assert_int_eq(spool_future_wait(f, SPOOL_FOREVER), 0);
	ck_assert_int_eq(spool_future_error(f), 0);
	ck_assert_int_eq(root.value, 233);
	spool_future_release(f);
	/* After a waiting shutdown the counters are exact and the workers
	 * park no more; they exit, so their buffers are written at stop. */
	ck_assert_int_eq(spool_pool_shutdown(p, SPOOL_SHUTDOWN_WAIT), 0);
	spool_pool_stats st;
	ck_assert_int_eq(spool_pool_stats_get(p, &st), 0);
	spool_pool_destroy(p);
	ck_assert_int_eq(spool_trace_stop(), 0);

	struct trace t;
	load(&t, tmp("pool.json"));
	/* A worker that never ran, stole or parked has no track. */
	long w[2] = {track(&t, "worker 0"), track(&t, "worker 1")};
	ck_assert(w[0] >= 0 || w[1] >= 0);
	size_t on_workers = 0, steals = 0;
	for (int i = 0; i < 2; i++) {
		if (w[i] < 0)
			continue;
		ck_assert_int_ne(w[i], my_tid());
		on_workers += count(&t, 'X', "fib", w[i]);
		steals += count(&t, 'i', "steal", w[i]);
	}
	ck_assert_int_eq(st.tasks_run, TASKS);
	ck_assert_int_eq(count(&t, 'X', "fib", -1), st.tasks_run);
	ck_assert_int_eq(on_workers, st.tasks_run);
	ck_assert_int_eq(count(&t, 'i', "steal", -1), st.steals);
	ck_assert_int_eq(steals, st.steals);
	ck_assert_int_eq(count(&t, 'X', "park", -1), st.parks);
	ck_assert_int_eq(count(&t, 'i', "wake", -1), st.wakeups);
	/* Each fork is a submit inside a run, and its run follows it. */
	ck_assert_int_eq(count(&t, 'X', "submit", -1), TASKS);
	ck_assert_int_eq(assert_runs_follow_submits(&t), TASKS);
	/* Joins that found the child unfinished are waits, in which the
	 * worker helps: every wait on a worker lies inside a fib run. */
	for (size_t i = 0; i < t.n; i++) {
		const struct tev *wt = &t.ev[i];
		if (wt->ph != 'X' || strcmp(wt->name, "wait") != 0 ||
		    wt->tid == my_tid())
			continue;
		bool inside = false;
		for (size_t j = 0; j < t.n && !inside; j++)
			inside = t.ev[j].ph == 'X' &&
				 strcmp(t.ev[j].name, "fib") == 0 &&
				 t.ev[j].tid == wt->tid &&
				 contains(&t.ev[j], wt) && t.ev[j].ts < wt->ts;
		ck_assert_msg(inside, "a worker's wait outside any task");
	}
	assert_slices_nest(&t);
	ck_assert_int_eq((int)meta_n(&t, "unmatched_ends"), 0);
	ck_assert_int_eq((int)meta_n(&t, "dropped_events"), 0);
	unload(&t);
}
END_TEST

/* Reused clock reads (src/trace/trace.h): a worker's run that follows
 * another, and a wait's end, may take the thread's previous stamp, but
 * never across time the worker spent on something else. */

struct pa {
	spool_executor *ex;
	spool_future *a, *b;
};

static void slow_callback(spool_future *f, void *arg)
{
	(void)f;
	(void)arg;
	spool_test_sleep_ns(20 * SPOOL_NS_PER_MS);
}

/* On the pool's only worker: queues b, then a (popped first), and gives a
 * a slow done-callback, which runs on the worker between a and b. */
static int parent_of_two(void *arg, void **result)
{
	struct pa *x = arg;
	(void)result;
	x->b = spool_submit_labeled(x->ex, ok_task, NULL, "b");
	x->a = spool_submit_labeled(x->ex, ok_task, NULL, "a");
	return spool_future_add_callback(x->a, slow_callback, NULL);
}

static int wait_on_promise(void *arg, void **result)
{
	(void)result;
	return spool_future_wait(arg, SPOOL_FOREVER);
}

START_TEST(reused_stamps_never_skip_callbacks_or_blocked_waits)
{
	ck_assert_int_eq(spool_trace_start(tmp("reuse.json")), 0);
	spool_pool *p;
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = 1;
	ck_assert_int_eq(spool_pool_create(&p, &o), 0);
	spool_executor *ex = spool_pool_executor(p);

	/* 1. a's callback sleeps 20 ms on the worker before b is popped. */
	struct pa x = {ex, NULL, NULL};
	spool_future *parent = spool_submit_labeled(ex, parent_of_two, &x,
						    "parent");
	ck_assert_int_eq(spool_future_wait(parent, SPOOL_FOREVER), 0);
	ck_assert_int_eq(spool_future_error(parent), 0);
	ck_assert_int_eq(spool_future_wait(x.b, SPOOL_FOREVER), 0);

	/* 2. A task's helping wait that ends 20 ms after the worker found
	 * nothing to help with and blocked (pr's WAITERS flag says so). */
	spool_future *pr = spool_promise_new();
	pr->label = "promise";
	struct later c = {.promise = pr, .blocked_on = pr};
	later_start(&c);
	spool_future *w = spool_submit_labeled(ex, wait_on_promise, pr,
					       "waiter");
	ck_assert_int_eq(spool_future_wait(w, SPOOL_FOREVER), 0);
	ck_assert_int_eq(spool_future_error(w), 0);
	later_join(&c);
	ck_assert_int_eq(spool_pool_shutdown(p, SPOOL_SHUTDOWN_WAIT), 0);
	spool_pool_destroy(p);
	ck_assert_int_eq(spool_trace_stop(), 0);

	struct trace t;
	load(&t, tmp("reuse.json"));
	long wk = track(&t, "worker 0");
	ck_assert_int_ge(wk, 0);
	const struct tev *ra = nth(&t, 'X', "a", wk, 0);
	const struct tev *rb = nth(&t, 'X', "b", wk, 0);
	ck_assert_ptr_nonnull(ra);
	ck_assert_ptr_nonnull(rb);
	ck_assert_int_ge(rb->ts - (ra->ts + ra->dur), 15 * SPOOL_NS_PER_MS);
	const struct tev *hw = nth(&t, 'X', "wait: promise", wk, 0);
	ck_assert_ptr_nonnull(hw);
	ck_assert_int_ge(hw->dur, 15 * SPOOL_NS_PER_MS);
	assert_slices_nest(&t);
	ck_assert_int_eq(assert_runs_follow_submits(&t), 4);
	unload(&t);
	spool_future_release(x.a);
	spool_future_release(x.b);
	spool_future_release(parent);
	spool_future_release(w);
	spool_future_release(pr);
}
END_TEST

/* A combinator's wait is named after the combinator (combinators.h). Each
 * input completes 20 ms after this thread blocks in the combinator's wait
 * (for the gather, on g; the others wait on futures of their own). */
START_TEST(combinator_waits_are_named_after_the_combinator)
{
	static const char *const names[] = {
		"wait: gather", "wait: wait FIRST_COMPLETED",
		"wait: as_completed", "wait: task group"};
	enum { N = sizeof names / sizeof names[0] };
	spool_future *p[N];
	struct later c[N];
	for (int i = 0; i < N; i++) {
		ck_assert_ptr_nonnull(p[i] = spool_promise_new());
		c[i] = (struct later){.promise = p[i], .tid = my_tid()};
	}
	spool_pool *pool;
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = 1;
	ck_assert_int_eq(spool_pool_create(&pool, &o), 0);
	ck_assert_int_eq(spool_trace_start(tmp("comb.json")), 0);

	spool_future *g = spool_gather(&p[0], 1, 0);
	c[0].blocked_on = g;
	later_start(&c[0]);
	ck_assert_int_eq(spool_future_wait(g, SPOOL_FOREVER), 0);

	later_start(&c[1]);
	ck_assert_int_eq(spool_wait(&p[1], 1, SPOOL_FIRST_COMPLETED,
				    SPOOL_FOREVER, NULL, NULL, NULL),
			 0);

	spool_as_completed *it;
	ck_assert_int_eq(
		spool_as_completed_create(&it, &p[2], 1, SPOOL_FOREVER), 0);
	later_start(&c[2]);
	spool_future *next;
	ck_assert_int_eq(spool_as_completed_next(it, &next, NULL), 0);
	ck_assert_ptr_eq(next, p[2]);
	spool_as_completed_destroy(it);

	spool_group *gr;
	ck_assert_int_eq(spool_group_create(&gr, spool_pool_executor(pool), 0),
			 0);
	ck_assert_int_eq(spool_group_spawn(gr, wait_on_promise, p[3], NULL), 0);
	later_start(&c[3]);
	ck_assert_int_eq(spool_group_join(gr, SPOOL_FOREVER), 0);
	spool_group_destroy(gr);
	for (int i = 0; i < N; i++)
		later_join(&c[i]);
	ck_assert_int_eq(spool_trace_stop(), 0);
	spool_pool_destroy(pool);

	struct trace t;
	load(&t, tmp("comb.json"));
	for (int i = 0; i < N; i++) {
		ck_assert_msg(count(&t, 'X', names[i], my_tid()) == 1,
			      "no slice %s", names[i]);
		ck_assert_int_ge(nth(&t, 'X', names[i], my_tid(), 0)->dur,
				 5 * SPOOL_NS_PER_MS);
	}
	assert_slices_nest(&t);
	unload(&t);
	spool_future_release(g);
	for (int i = 0; i < N; i++)
		spool_future_release(p[i]);
}
END_TEST

/* ---- the loop's hooks, through the public API --------------------------- */

static int sleeper(void *arg, void **result)
{
	(void)result;
	return spool_sleep((int64_t)(intptr_t)arg);
}

START_TEST(loop_with_3_sleeping_coroutines_shows_segments_timers_and_turns)
{
	static const int64_t ns[3] = {1 * SPOOL_NS_PER_MS, 2 * SPOOL_NS_PER_MS,
				      3 * SPOOL_NS_PER_MS};
	spool_loop *l;
	ck_assert_int_eq(spool_loop_create(&l, NULL), 0);
	ck_assert_int_eq(spool_trace_start(tmp("loop3.json")), 0);
	spool_future *f[3];
	for (int i = 0; i < 3; i++)
		f[i] = spool_submit_labeled(spool_loop_executor(l), sleeper,
					    (void *)(intptr_t)ns[i], "sleeper");
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(spool_loop_run_until_complete(l, f[i]), 0);
	ck_assert_int_eq(spool_trace_stop(), 0);
	spool_loop_destroy(l);

	struct trace t;
	load(&t, tmp("loop3.json"));
	long loop = track(&t, "loop");
	ck_assert_int_eq(loop, my_tid());
	ck_assert_int_eq(count(&t, 'X', "sleeper", loop), 6);
	ck_assert_int_eq(count(&t, 'i', "suspend", loop), 3);
	ck_assert_int_eq(count(&t, 'i', "timer", loop), 3);
	ck_assert_int_ge(count(&t, 'X', "loop iteration", loop), 2);
	for (int i = 0; i < 3; i++) {
		uint64_t id = spool_future_id(f[i]);
		/* Segment 0 runs until the sleep suspends it; segment 1
		 * after the timer, saying what it waited for. */
		const struct tev *a0 = run_of(&t, id, 0);
		const struct tev *a1 = run_of(&t, id, 1);
		ck_assert(a0 && a1);
		ck_assert(a0->flow_in && jgetb(a0->args, "suspended"));
		ck_assert_str_eq(jgets(a1->args, "after"), "sleep");
		ck_assert_int_eq((int64_t)arg_n(a1, "target"), ns[i]);
		ck_assert_int_eq((int)arg_n(a1, "wait_rc"), 0);
		ck_assert_int_eq((int)arg_n(a1, "rc"), 0);
		ck_assert_int_ge(a1->ts, a0->ts + ns[i] - 100000);
		size_t timers = 0, suspends = 0;
		for (size_t k = 0; k < t.n; k++) {
			const struct tev *e = &t.ev[k];
			if (e->ph != 'i' ||
			    (uint64_t)jgetn(e->args, "id", 0) != id)
				continue;
			if (strcmp(e->name, "timer") == 0) {
				timers++;
				ck_assert_int_le(e->ts, a1->ts);
			} else if (strcmp(e->name, "suspend") == 0) {
				suspends++;
				ck_assert_str_eq(jgets(e->args, "on"), "sleep");
				ck_assert_int_eq((int64_t)arg_n(e, "target"),
						 ns[i]);
			}
		}
		ck_assert_int_eq(timers, 1);
		ck_assert_int_eq(suspends, 1);
		/* Both segments run inside turns of the loop. */
		for (int s = 0; s < 2; s++) {
			const struct tev *seg = s ? a1 : a0;
			bool inside = false;
			for (size_t k = 0; k < t.n && !inside; k++)
				inside = t.ev[k].ph == 'X' &&
					 strcmp(t.ev[k].name,
						"loop iteration") == 0 &&
					 contains(&t.ev[k], seg);
			ck_assert_msg(inside, "segment outside a loop turn");
		}
		spool_future_release(f[i]);
	}
	ck_assert_int_eq(assert_runs_follow_submits(&t), 3);
	assert_slices_nest(&t);
	ck_assert_int_eq((int)meta_n(&t, "unmatched_ends"), 0);
	unload(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("trace_executors");
	TCase *tc = spool_test_case("executors", 120);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, pool_fork_join_on_2_workers_matches_the_pool_stats);
	tcase_add_test(tc, reused_stamps_never_skip_callbacks_or_blocked_waits);
	tcase_add_test(tc, combinator_waits_are_named_after_the_combinator);
	tcase_add_test(
		tc,
		loop_with_3_sleeping_coroutines_shows_segments_timers_and_turns);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
