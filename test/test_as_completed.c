/* SPDX-License-Identifier: MIT */
/* Suite "as_completed": every promise of the as_completed iterator. */
#include <string.h>

#include "comb_support.h"

static int V[64];

START_TEST(as_completed_hands_back_original_futures_in_completion_order)
{
	spool_future *fs[3];
	promises(fs, 3);
	spool_as_completed *it;
	ck_assert_int_eq(spool_as_completed_create(&it, fs, 3, SPOOL_FOREVER),
			 0);
	struct sequencer q = {.n = 0};
	sequence_add(&q, fs[1], END_ERROR, 6, NULL);
	sequence_add(&q, fs[2], END_VALUE, 0, &V[2]);
	sequence_add(&q, fs[0], END_VALUE, 0, &V[0]);
	sequence_start(&q, 2 * MS);
	size_t order[3] = {1, 2, 0};
	for (int k = 0; k < 3; k++) {
		spool_future *f = NULL;
		size_t idx = 99;
		ck_assert_int_eq(spool_as_completed_next(it, &f, &idx), 0);
		ck_assert_uint_eq(idx, order[k]);
		ck_assert_ptr_eq(f, fs[order[k]]);
		ck_assert(spool_future_done(f));
	}
	spool_future *f = fs[0]; /* must be reset */
	ck_assert_int_eq(spool_as_completed_next(it, &f, NULL), SPOOL_EOF);
	ck_assert_ptr_null(f);
	ck_assert_int_eq(spool_as_completed_next(it, &f, NULL), SPOOL_EOF);
	spool_as_completed_destroy(it);
	sequence_join(&q);
	release_all(fs, 3);
}
END_TEST

START_TEST(as_completed_hands_back_already_final_inputs_first_in_input_order)
{
	spool_future *fs[4];
	promises(fs, 4);
	spool_promise_set_result(fs[3], NULL);
	spool_future_cancel(fs[1]);
	spool_as_completed *it;
	ck_assert_int_eq(spool_as_completed_create(&it, fs, 4, SPOOL_FOREVER),
			 0);
	/* Completed after the call: they come after the early ones. */
	spool_promise_set_result(fs[2], NULL);
	spool_promise_set_result(fs[0], NULL);
	size_t want[4] = {1, 3, 2, 0};
	for (int k = 0; k < 4; k++) {
		spool_future *f;
		size_t idx;
		ck_assert_int_eq(spool_as_completed_next(it, &f, &idx), 0);
		ck_assert_uint_eq(idx, want[k]);
		ck_assert_ptr_eq(f, fs[want[k]]);
	}
	spool_future *f;
	ck_assert_int_eq(spool_as_completed_next(it, &f, NULL), SPOOL_EOF);
	spool_as_completed_destroy(it);
	release_all(fs, 4);
}
END_TEST

START_TEST(
	as_completed_deadline_gives_etimedout_from_then_on_and_cancels_nothing)
{
	spool_future *fs[3];
	promises(fs, 3);
	spool_promise_set_result(fs[2], NULL);
	int64_t t0 = spool_test_now_ns();
	spool_as_completed *it;
	ck_assert_int_eq(spool_as_completed_create(&it, fs, 3, 50 * MS), 0);
	spool_future *f;
	size_t idx;
	ck_assert_int_eq(spool_as_completed_next(it, &f, &idx), 0);
	ck_assert_uint_eq(idx, 2);
	spool_promise_set_result(fs[0], NULL);
	ck_assert_int_eq(spool_as_completed_next(it, &f, &idx), 0);
	ck_assert_uint_eq(idx, 0);
	ck_assert_int_eq(spool_as_completed_next(it, &f, &idx),
			 SPOOL_ETIMEDOUT);
	ck_assert_ptr_null(f);
	/* One deadline from creation, not per call. */
	ck_assert_int_ge(spool_test_now_ns() - t0, 50 * MS);
	ck_assert_int_eq(spool_future_state(fs[1]), SPOOL_PENDING);
	ck_assert(!spool_future_cancel_requested(fs[1]));
	/* Sticky, even once the last input completes. */
	spool_promise_set_result(fs[1], NULL);
	ck_assert_int_eq(spool_as_completed_next(it, &f, &idx),
			 SPOOL_ETIMEDOUT);
	spool_as_completed_destroy(it);
	release_all(fs, 3);
}
END_TEST

/* One deadline for the whole iteration: a first call made after it has
 * passed returns SPOOL_ETIMEDOUT without waiting, where a deadline taken
 * per call would wait the whole timeout again (20 ms). A busy machine can
 * stretch any call, so the check is that at least one of five tries
 * returns within 15 ms; a deadline per call misses it five times. */
START_TEST(as_completed_deadline_is_taken_once_at_create)
{
	int64_t best = INT64_MAX;
	for (int i = 0; i < 5 && best >= 15 * MS; i++) {
		spool_future *p = spool_promise_new();
		spool_as_completed *it;
		ck_assert_int_eq(spool_as_completed_create(&it, &p, 1, 20 * MS),
				 0);
		spool_test_sleep_ns(30 * MS); /* past the deadline */
		spool_future *f;
		int64_t t1 = spool_test_now_ns();
		ck_assert_int_eq(spool_as_completed_next(it, &f, NULL),
				 SPOOL_ETIMEDOUT);
		int64_t took = spool_test_now_ns() - t1;
		if (took < best)
			best = took;
		spool_as_completed_destroy(it);
		spool_promise_set_result(p, NULL);
		spool_future_release(p);
	}
	ck_assert_msg(best < 15 * MS,
		      "every call after the deadline waited %.1f ms or more",
		      (double)best / 1e6);
}
END_TEST

START_TEST(as_completed_timeout_zero_hands_back_final_inputs_then_times_out)
{
	spool_future *fs[3];
	promises(fs, 3);
	spool_promise_set_result(fs[0], NULL);
	spool_promise_set_error(fs[2], 4);
	spool_as_completed *it;
	ck_assert_int_eq(spool_as_completed_create(&it, fs, 3, 0), 0);
	spool_future *f;
	size_t idx;
	ck_assert_int_eq(spool_as_completed_next(it, &f, &idx), 0);
	ck_assert_uint_eq(idx, 0);
	ck_assert_int_eq(spool_as_completed_next(it, &f, &idx), 0);
	ck_assert_uint_eq(idx, 2);
	ck_assert_int_eq(spool_as_completed_next(it, &f, &idx),
			 SPOOL_ETIMEDOUT);
	spool_as_completed_destroy(it);
	spool_promise_set_result(fs[1], NULL);
	release_all(fs, 3);
}
END_TEST

START_TEST(as_completed_hands_back_duplicates_once_with_the_first_index)
{
	spool_future *a = spool_promise_new(), *b = spool_promise_new();
	spool_future *fs[5] = {b, a, b, a, a};
	spool_as_completed *it;
	ck_assert_int_eq(spool_as_completed_create(&it, fs, 5, SPOOL_FOREVER),
			 0);
	spool_promise_set_result(a, NULL);
	spool_promise_set_result(b, NULL);
	spool_future *f;
	size_t idx;
	ck_assert_int_eq(spool_as_completed_next(it, &f, &idx), 0);
	ck_assert_ptr_eq(f, a);
	ck_assert_uint_eq(idx, 1);
	ck_assert_int_eq(spool_as_completed_next(it, &f, &idx), 0);
	ck_assert_ptr_eq(f, b);
	ck_assert_uint_eq(idx, 0);
	ck_assert_int_eq(spool_as_completed_next(it, &f, &idx), SPOOL_EOF);
	spool_as_completed_destroy(it);
	spool_future_release(a);
	spool_future_release(b);
}
END_TEST

START_TEST(as_completed_mixes_final_and_pending_duplicates_in_the_right_order)
{
	spool_future *fs[4];
	promises(fs, 4);
	spool_future *far = spool_promise_new();
	for (int i = 0; i < 5000; i++) /* far apart ids: the set rehashes */
		spool_future_release(spool_promise_new());
	spool_future *last = spool_promise_new();
	spool_promise_set_result(fs[2], NULL);
	spool_promise_set_result(far, NULL);
	spool_future *in[9] = {fs[0], far, fs[1], fs[2], fs[0],
			       last,  far, fs[3], fs[2]};
	spool_as_completed *it;
	ck_assert_int_eq(spool_as_completed_create(&it, in, 9, SPOOL_FOREVER),
			 0);
	spool_promise_set_result(fs[3], NULL);
	spool_promise_set_result(last, NULL);
	spool_promise_set_result(fs[0], NULL);
	spool_promise_set_result(fs[1], NULL);
	/* Final at creation, in input order; then completion order. */
	size_t want[6] = {1, 3, 7, 5, 0, 2};
	for (int k = 0; k < 6; k++) {
		spool_future *f;
		size_t idx;
		ck_assert_int_eq(spool_as_completed_next(it, &f, &idx), 0);
		ck_assert_uint_eq(idx, want[k]);
		ck_assert_ptr_eq(f, in[want[k]]);
	}
	spool_future *f;
	ck_assert_int_eq(spool_as_completed_next(it, &f, NULL), SPOOL_EOF);
	spool_as_completed_destroy(it);
	release_all(fs, 4);
	spool_future_release(far);
	spool_future_release(last);
}
END_TEST

START_TEST(as_completed_on_zero_inputs_is_at_its_end)
{
	spool_as_completed *it;
	ck_assert_int_eq(spool_as_completed_create(&it, NULL, 0, 0), 0);
	spool_future *f;
	ck_assert_int_eq(spool_as_completed_next(it, &f, NULL), SPOOL_EOF);
	spool_as_completed_destroy(it);
	spool_as_completed_destroy(NULL);
}
END_TEST

START_TEST(as_completed_bad_input_is_einval)
{
	spool_future *f = spool_promise_new();
	spool_future *fs[2] = {f, NULL};
	spool_as_completed *it = (spool_as_completed *)&fs;
	ck_assert_int_eq(spool_as_completed_create(NULL, fs, 1, 0),
			 SPOOL_EINVAL);
	ck_assert_int_eq(spool_as_completed_create(&it, NULL, 1, 0),
			 SPOOL_EINVAL);
	ck_assert_int_eq(spool_as_completed_create(&it, fs, 2, 0),
			 SPOOL_EINVAL);
	ck_assert_int_eq(spool_as_completed_create(&it, fs, 1, -1),
			 SPOOL_EINVAL);
	spool_future *out = f;
	ck_assert_int_eq(spool_as_completed_next(NULL, &out, NULL),
			 SPOOL_EINVAL);
	ck_assert_ptr_null(out);
	ck_assert_int_eq(spool_as_completed_create(&it, fs, 1, 0), 0);
	ck_assert_int_eq(spool_as_completed_next(it, NULL, NULL), SPOOL_EINVAL);
	spool_as_completed_destroy(it);
	ck_assert_int_eq(spool_future_state(f), SPOOL_PENDING);
	spool_promise_set_result(f, NULL); /* lets the iterator go */
	spool_future_release(f);
}
END_TEST

static unsigned refs_of(spool_future *f)
{
	return spool__future_refs(f);
}

/* The entries are checked in the same pass that sorts the inputs: a NULL
 * met after final, pending and repeated inputs still leaves them all as
 * they were. */
START_TEST(as_completed_null_entry_midway_is_einval_and_touches_no_input)
{
	spool_future *a = spool_promise_new(), *b = spool_promise_new();
	spool_promise_set_result(a, NULL);
	spool_future *fs[5] = {a, b, a, b, NULL};
	spool_as_completed *it = NULL;
	ck_assert_int_eq(spool_as_completed_create(&it, fs, 5, SPOOL_FOREVER),
			 SPOOL_EINVAL);
	ck_assert_ptr_null(it);
	ck_assert_uint_eq(refs_of(a), 1);
	ck_assert_uint_eq(refs_of(b), 1);
	ck_assert_int_eq(spool_future_state(b), SPOOL_PENDING);
	ck_assert_int_eq(spool_as_completed_create(&it, fs, 4, SPOOL_FOREVER),
			 0);
	ck_assert_uint_eq(refs_of(b), 2); /* its callback's reference */
	spool_future *f;
	size_t idx;
	ck_assert_int_eq(spool_as_completed_next(it, &f, &idx), 0);
	ck_assert_ptr_eq(f, a);
	ck_assert_uint_eq(idx, 0);
	spool_promise_set_result(b, NULL);
	ck_assert_int_eq(spool_as_completed_next(it, &f, &idx), 0);
	ck_assert_ptr_eq(f, b);
	ck_assert_uint_eq(idx, 1);
	ck_assert_int_eq(spool_as_completed_next(it, &f, &idx), SPOOL_EOF);
	spool_as_completed_destroy(it);
	spool_future_release(a);
	spool_future_release(b);
}
END_TEST

START_TEST(
	as_completed_borrows_final_inputs_and_holds_pending_ones_until_they_end)
{
	spool_future *fs[2];
	promises(fs, 2);
	spool_promise_set_result(fs[0], &V[0]);
	unsigned before[2] = {refs_of(fs[0]), refs_of(fs[1])};
	spool_as_completed *it;
	ck_assert_int_eq(spool_as_completed_create(&it, fs, 2, SPOOL_FOREVER),
			 0);
	/* The final input is borrowed; the pending one is held while the
	 * iterator's callback is on it. */
	ck_assert_uint_eq(refs_of(fs[0]), before[0]);
	ck_assert_uint_eq(refs_of(fs[1]), before[1] + 1);
	spool_promise_set_result(fs[1], &V[1]);
	ck_assert_uint_eq(refs_of(fs[1]), before[1]);
	for (int k = 0; k < 2; k++) {
		spool_future *f;
		size_t idx;
		ck_assert_int_eq(spool_as_completed_next(it, &f, &idx), 0);
		ck_assert_ptr_eq(f, fs[k]);
		ck_assert_ptr_eq(spool_future_value(f), &V[idx]);
	}
	spool_as_completed_destroy(it);
	/* Unchanged by destroy: the iterator held nothing any more. */
	ck_assert_uint_eq(refs_of(fs[0]), before[0]);
	ck_assert_uint_eq(refs_of(fs[1]), before[1]);
	release_all(fs, 2);
}
END_TEST

START_TEST(as_completed_callback_after_destroy_touches_no_released_input)
{
	/* d is final and handed back; p ends only after destroy and after the
	 * caller has let d go (freed at once: the iterator borrowed it). The
	 * late callback must touch neither d nor anything d owned (the
	 * AddressSanitizer build would catch it), and p, which the caller
	 * also released while it was pending, must still end and be freed
	 * (the leak check of the fixture). */
	spool_future *d = spool_promise_new(), *p = spool_promise_new();
	spool_promise_set_result(d, &V[0]);
	spool_future *fs[3] = {d, p, d};
	/* The test completes p itself, at the end, through a reference of
	 * its own: a completer on a timer could end p before the timeout on
	 * a slow machine. */
	spool_future *keep = spool_future_retain(p);
	spool_as_completed *it;
	ck_assert_int_eq(spool_as_completed_create(&it, fs, 3, 5 * MS), 0);
	spool_future *f;
	size_t idx;
	ck_assert_int_eq(spool_as_completed_next(it, &f, &idx), 0);
	ck_assert_ptr_eq(f, d);
	ck_assert_uint_eq(idx, 0);
	ck_assert_int_eq(spool_as_completed_next(it, &f, &idx),
			 SPOOL_ETIMEDOUT);
	spool_as_completed_destroy(it);
	long live = spool_debug_live_futures();
	spool_future_release(d);
	spool_future_release(p);
	ck_assert_int_eq(spool_debug_live_futures(), live - 1); /* d freed */
	/* p ends: the iterator's callback runs now. */
	ck_assert_int_eq(spool_promise_set_result(keep, &V[1]), 0);
	spool_future_release(keep);
}
END_TEST

START_TEST(as_completed_destroyed_early_leaves_no_leak_when_inputs_end_later)
{
	spool_future *fs[3];
	promises(fs, 3);
	spool_as_completed *it;
	ck_assert_int_eq(spool_as_completed_create(&it, fs, 3, 5 * MS), 0);
	spool_future *f;
	ck_assert_int_eq(spool_as_completed_next(it, &f, NULL),
			 SPOOL_ETIMEDOUT);
	spool_as_completed_destroy(it);
	/* Its callbacks are still registered and must find valid memory. */
	for (int i = 0; i < 3; i++)
		spool_promise_set_result(fs[i], NULL);
	release_all(fs, 3);
}
END_TEST

START_TEST(as_completed_over_thread_executor_tasks)
{
	int64_t d[4] = {40 * MS, 10 * MS, 30 * MS, 20 * MS};
	spool_future *fs[4];
	for (int i = 0; i < 4; i++)
		fs[i] = spool_submit(thread_executor(), sleep_task, &d[i]);
	spool_as_completed *it;
	ck_assert_int_eq(spool_as_completed_create(&it, fs, 4, SPOOL_FOREVER),
			 0);
	int seen = 0;
	spool_future *f;
	size_t idx;
	while (spool_as_completed_next(it, &f, &idx) == 0) {
		ck_assert_ptr_eq(spool_future_value(f), &d[idx]);
		seen |= 1 << idx;
	}
	ck_assert_int_eq(seen, 15);
	spool_as_completed_destroy(it);
	release_all(fs, 4); /* borrowed by the iterator until here */
	thread_executor_drain();
}
END_TEST

/* ---- on a pool -------------------------------------------------------- */

/* In a pool task with one worker: next() must run the children itself. */
static int iterates_children(void *arg, void **result)
{
	spool_executor *ex = arg;
	spool_future *fs[6];
	for (intptr_t i = 0; i < 6; i++)
		fs[i] = spool_submit(ex, plus_one, (void *)i);
	spool_as_completed *it;
	if (spool_as_completed_create(&it, fs, 6, SPOOL_FOREVER) != 0)
		return 1;
	int seen = 0, rc;
	spool_future *f;
	size_t idx;
	while ((rc = spool_as_completed_next(it, &f, &idx)) == 0)
		if (spool_future_value(f) == (void *)(idx + 1))
			seen |= 1 << idx;
	spool_as_completed_destroy(it);
	release_all(fs, 6);
	return rc == SPOOL_EOF && seen == 63 ? 0 : 2;
}

START_TEST(
	as_completed_inside_a_pool_task_with_one_worker_helps_instead_of_deadlocking)
{
	spool_pool *p = make_pool(1);
	spool_executor *ex = spool_pool_executor(p);
	spool_future *f = spool_submit(ex, iterates_children, ex);
	ck_assert_int_eq(spool_future_result(f, SPOOL_FOREVER, NULL), 0);
	spool_future_release(f);
	spool_pool_destroy(p);
}
END_TEST

START_TEST(race_as_completed_over_pool_tasks_on_8_workers)
{
	enum { N = 2000 };
	spool_pool *p = make_pool(8);
	spool_future **fs = malloc(N * sizeof *fs);
	bool *seen = malloc(N);
	for (int it_no = 0; it_no < 20; it_no++) {
		for (intptr_t i = 0; i < N; i++)
			fs[i] = spool_submit(spool_pool_executor(p), plus_one,
					     (void *)i);
		spool_as_completed *it;
		ck_assert_int_eq(
			spool_as_completed_create(&it, fs, N, SPOOL_FOREVER),
			0);
		memset(seen, 0, N);
		size_t count = 0, idx;
		spool_future *f;
		while (spool_as_completed_next(it, &f, &idx) == 0) {
			ck_assert(!seen[idx]);
			ck_assert_ptr_eq(spool_future_value(f),
					 (void *)(idx + 1));
			seen[idx] = true;
			count++;
		}
		ck_assert_uint_eq(count, N);
		spool_as_completed_destroy(it);
		release_all(fs, N);
	}
	free(seen);
	free(fs);
	spool_pool_destroy(p);
}
END_TEST

/* ---- on the loop ------------------------------------------------------ */

/* A coroutine that waits for its gate promise (suspending), then ends
 * with the gate's value. */
static int gated_coro(void *arg, void **result)
{
	spool_future *gate = arg;
	int rc = spool_future_wait(gate, SPOOL_FOREVER);
	*result = spool_future_value(gate);
	return rc;
}

/* Iterates coroutine children from a coroutine: it opens one child's gate
 * at a time, and next() must suspend until that child has run. */
static int iterates_coroutines(void *arg, void **result)
{
	spool_future *gates[4], *fs[4];
	promises(gates, 4);
	for (int i = 0; i < 4; i++)
		fs[i] = spool_submit(loop_ex(), gated_coro, gates[i]);
	spool_as_completed *it;
	if (spool_as_completed_create(&it, fs, 4, SPOOL_FOREVER) != 0)
		return 1;
	size_t order[4] = {1, 3, 2, 0}, idx;
	spool_future *f;
	int rc = 0;
	for (int k = 0; rc == 0 && k < 4; k++) {
		spool_promise_set_result(gates[order[k]], &V[order[k]]);
		rc = spool_as_completed_next(it, &f, &idx);
		if (rc == 0 &&
		    (idx != order[k] || spool_future_value(f) != &V[idx]))
			rc = 100 + k;
	}
	if (rc == 0 && spool_as_completed_next(it, &f, &idx) != SPOOL_EOF)
		rc = 2;
	spool_as_completed_destroy(it);
	release_all(fs, 4);
	release_all(gates, 4);
	return rc;
}

struct iter_child {
	spool_future *p;
	int first, second, third;
	bool second_is_p;
};

/* Waits in next() until cancelled; then the iterator still works. */
static int iterates_until_cancelled(void *arg, void **result)
{
	struct iter_child *c = arg;
	spool_as_completed *it;
	if (spool_as_completed_create(&it, &c->p, 1, SPOOL_FOREVER) != 0)
		return 1;
	spool_future *f;
	c->first = spool_as_completed_next(it, &f, NULL);
	spool_promise_set_result(c->p, NULL);
	c->second = spool_as_completed_next(it, &f, NULL);
	c->second_is_p = f == c->p;
	c->third = spool_as_completed_next(it, &f, NULL);
	spool_as_completed_destroy(it);
	return 0;
}

static int cancels_an_iterating_coroutine(void *arg, void **result)
{
	struct iter_child *c = arg;
	spool_future *child = spool_submit(loop_ex(), iterates_until_cancelled,
					   c);
	spool_sleep(0); /* the child starts and suspends in next() */
	spool_sleep(0);
	int rc = spool_future_cancel(child);
	if (rc == 0)
		rc = spool_future_wait(child, SPOOL_FOREVER);
	spool_future_release(child);
	return rc;
}

START_TEST(
	as_completed_next_in_a_cancelled_coroutine_returns_ecancelled_and_stays_usable)
{
	struct iter_child c = {spool_promise_new(), 9, 9, 9, false};
	ck_assert_int_eq(run_coro(cancels_an_iterating_coroutine, &c), 0);
	ck_assert_int_eq(c.first, SPOOL_ECANCELLED);
	ck_assert_int_eq(c.second, 0);
	ck_assert(c.second_is_p);
	ck_assert_int_eq(c.third, SPOOL_EOF);
	spool_future_release(c.p);
}
END_TEST

struct outside {
	spool_as_completed *it;
	int rc;
};

static void next_outside_a_coroutine(spool_loop *loop, void *arg)
{
	struct outside *o = arg;
	spool_future *f;
	o->rc = spool_as_completed_next(o->it, &f, NULL);
	spool_loop_stop(loop);
}

START_TEST(as_completed_next_on_the_loop_thread_outside_a_coroutine_is_edeadlk)
{
	spool_future *p = spool_promise_new();
	struct outside o = {NULL, 99};
	ck_assert_int_eq(spool_as_completed_create(&o.it, &p, 1, SPOOL_FOREVER),
			 0);
	spool_loop *loop;
	ck_assert_int_eq(spool_loop_create(&loop, NULL), 0);
	ck_assert_int_eq(
		spool_loop_call_soon(loop, next_outside_a_coroutine, &o, NULL),
		0);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	spool_loop_destroy(loop);
	ck_assert_int_eq(o.rc, SPOOL_EDEADLK);
	/* Still usable from a plain thread. */
	spool_promise_set_result(p, NULL);
	spool_future *f;
	ck_assert_int_eq(spool_as_completed_next(o.it, &f, NULL), 0);
	ck_assert_ptr_eq(f, p);
	spool_as_completed_destroy(o.it);
	spool_future_release(p);
}
END_TEST

START_TEST(as_completed_inside_a_coroutine_suspends_in_completion_order)
{
	ck_assert_int_eq(run_coro(iterates_coroutines, NULL), 0);
}
END_TEST

/* ---- misuse ----------------------------------------------------------- */

static spool_as_completed *shared_it;

static void *second_consumer(void *arg)
{
	spool_future *f;
	spool_as_completed_next(shared_it, &f, NULL);
	return NULL;
}

/* In a child process: two consumers of one iterator over a promise that
 * nobody completes. Whichever arrives second while the other waits
 * aborts the child. */
static int next_from_two_threads(void *arg)
{
	(void)arg;
	spool_future *p = spool_promise_new();
	if (spool_as_completed_create(&shared_it, &p, 1, SPOOL_FOREVER) != 0)
		return 1;
	pthread_t th;
	pthread_create(&th, NULL, second_consumer, NULL);
	spool_test_sleep_ns(50 * MS); /* the other consumer is waiting */
	spool_future *f;
	spool_as_completed_next(shared_it, &f, NULL); /* aborts */
	return 2;
}

START_TEST(as_completed_next_from_two_threads_at_once_aborts_with_a_message)
{
	spool_test_expect_misuse(next_from_two_threads, NULL,
				 "spool_as_completed_next",
				 "called from two threads at once on one "
				 "iterator");
}
END_TEST

/* ---- races ------------------------------------------------------------ */

enum { RACE_N = 256, RACE_THREADS = 8, RACE_ITERS = 100 };

struct race {
	spool_future **fs;
	int first;
	pthread_barrier_t *go;
};

static void *race_completer(void *arg)
{
	struct race *r = arg;
	pthread_barrier_wait(r->go);
	for (int i = r->first; i < RACE_N; i += RACE_THREADS) {
		if (i % 5 == 0)
			spool_future_cancel(r->fs[i]);
		else
			spool_promise_set_result(r->fs[i], NULL);
	}
	return NULL;
}

START_TEST(
	race_as_completed_hands_back_each_input_once_while_8_threads_complete)
{
	for (int it_no = 0; it_no < RACE_ITERS; it_no++) {
		spool_future *fs[RACE_N];
		promises(fs, RACE_N);
		pthread_barrier_t go;
		pthread_barrier_init(&go, NULL, RACE_THREADS + 1);
		pthread_t th[RACE_THREADS];
		struct race r[RACE_THREADS];
		for (int t = 0; t < RACE_THREADS; t++) {
			r[t] = (struct race){fs, t, &go};
			pthread_create(&th[t], NULL, race_completer, &r[t]);
		}
		pthread_barrier_wait(&go);
		spool_as_completed *it;
		ck_assert_int_eq(spool_as_completed_create(&it, fs, RACE_N,
							   SPOOL_FOREVER),
				 0);
		bool seen[RACE_N] = {false};
		int count = 0, rc;
		spool_future *f;
		size_t idx;
		while ((rc = spool_as_completed_next(it, &f, &idx)) == 0) {
			ck_assert_uint_lt(idx, RACE_N);
			ck_assert(!seen[idx]);
			ck_assert_ptr_eq(f, fs[idx]);
			ck_assert(spool_future_done(f));
			seen[idx] = true;
			count++;
		}
		ck_assert_int_eq(rc, SPOOL_EOF);
		ck_assert_int_eq(count, RACE_N);
		spool_as_completed_destroy(it);
		for (int t = 0; t < RACE_THREADS; t++)
			pthread_join(th[t], NULL);
		pthread_barrier_destroy(&go);
		release_all(fs, RACE_N);
	}
}
END_TEST

START_TEST(race_as_completed_destroyed_mid_stream_by_8_threads)
{
	for (int it_no = 0; it_no < RACE_ITERS; it_no++) {
		spool_future *fs[RACE_N];
		promises(fs, RACE_N);
		spool_as_completed *it;
		ck_assert_int_eq(spool_as_completed_create(&it, fs, RACE_N,
							   SPOOL_FOREVER),
				 0);
		pthread_barrier_t go;
		pthread_barrier_init(&go, NULL, RACE_THREADS + 1);
		pthread_t th[RACE_THREADS];
		struct race r[RACE_THREADS];
		for (int t = 0; t < RACE_THREADS; t++) {
			r[t] = (struct race){fs, t, &go};
			pthread_create(&th[t], NULL, race_completer, &r[t]);
		}
		pthread_barrier_wait(&go);
		spool_future *f;
		for (int k = 0; k < it_no % 16; k++)
			ck_assert_int_eq(spool_as_completed_next(it, &f, NULL),
					 0);
		spool_as_completed_destroy(it); /* completions go on */
		for (int t = 0; t < RACE_THREADS; t++)
			pthread_join(th[t], NULL);
		pthread_barrier_destroy(&go);
		release_all(fs, RACE_N);
	}
}
END_TEST

static Suite *as_completed_suite(void)
{
	Suite *s = suite_create("as_completed");
	TCase *tc = spool_test_case("order", 30);
	tcase_add_test(
		tc,
		as_completed_hands_back_original_futures_in_completion_order);
	tcase_add_test(
		tc,
		as_completed_hands_back_already_final_inputs_first_in_input_order);
	tcase_add_test(
		tc,
		as_completed_hands_back_duplicates_once_with_the_first_index);
	tcase_add_test(
		tc,
		as_completed_mixes_final_and_pending_duplicates_in_the_right_order);
	tcase_add_test(tc, as_completed_on_zero_inputs_is_at_its_end);
	tcase_add_test(tc, as_completed_over_thread_executor_tasks);
	suite_add_tcase(s, tc);

	tc = spool_test_case("deadline", 30);
	tcase_add_test(
		tc,
		as_completed_deadline_gives_etimedout_from_then_on_and_cancels_nothing);
	tcase_add_test(tc, as_completed_deadline_is_taken_once_at_create);
	tcase_add_test(
		tc,
		as_completed_timeout_zero_hands_back_final_inputs_then_times_out);
	suite_add_tcase(s, tc);

	tc = spool_test_case("ownership", 30);
	tcase_add_test(tc, as_completed_bad_input_is_einval);
	tcase_add_test(
		tc,
		as_completed_null_entry_midway_is_einval_and_touches_no_input);
	tcase_add_test(
		tc,
		as_completed_borrows_final_inputs_and_holds_pending_ones_until_they_end);
	tcase_add_test(
		tc,
		as_completed_callback_after_destroy_touches_no_released_input);
	tcase_add_test(
		tc,
		as_completed_destroyed_early_leaves_no_leak_when_inputs_end_later);
	suite_add_tcase(s, tc);

	/* Death test, in a child process (spool_test_expect_misuse). */
	tc = tcase_create("misuse");
	tcase_set_timeout(tc, 30);
	tcase_add_test(
		tc,
		as_completed_next_from_two_threads_at_once_aborts_with_a_message);
	suite_add_tcase(s, tc);

	tc = spool_test_case("pool", 60);
	tcase_add_test(
		tc,
		as_completed_inside_a_pool_task_with_one_worker_helps_instead_of_deadlocking);
	suite_add_tcase(s, tc);

	tc = spool_test_case("loop", 60);
	tcase_add_test(
		tc,
		as_completed_inside_a_coroutine_suspends_in_completion_order);
	tcase_add_test(
		tc,
		as_completed_next_in_a_cancelled_coroutine_returns_ecancelled_and_stays_usable);
	tcase_add_test(
		tc,
		as_completed_next_on_the_loop_thread_outside_a_coroutine_is_edeadlk);
	suite_add_tcase(s, tc);

	tc = spool_test_case("race", 240);
	tcase_add_test(tc, race_as_completed_over_pool_tasks_on_8_workers);
	tcase_add_test(
		tc,
		race_as_completed_hands_back_each_input_once_while_8_threads_complete);
	tcase_add_test(tc, race_as_completed_destroyed_mid_stream_by_8_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return spool_test_run(as_completed_suite());
}
