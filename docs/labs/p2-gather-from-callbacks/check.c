/* SPDX-License-Identifier: MIT */
/*
 * Lab P2 checker: calls lab_gather() on promises it completes by hand, in
 * chosen orders, and on pool tasks that complete on two worker threads at
 * once, and checks:
 *   - the gather completes exactly when the deciding input does: not
 *     before the last input of a success, at once at the first failure
 *     (callbacks run inside the completing call, so "at once" needs no
 *     clock: it is read right after spool_promise_set_result returns);
 *   - the values come in input order (also with inputs already final and
 *     with the same input twice);
 *   - a failure or cancellation decides the outcome, later inputs do not;
 *   - no future is leaked (sanitizer builds also catch leaked memory).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "lab.h"
#include "lab_check.h"

#define N 4
static int vals[64];

static const char *state_name(spool_state s)
{
	static const char *const names[] = {"PENDING", "RUNNING", "DONE",
					    "FAILED", "CANCELLED"};
	return (unsigned)s < 5 ? names[s] : "?";
}

static void new_promises(spool_future **ps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		ps[i] = spool_promise_new();
		LAB_CHECK(ps[i], "out of memory");
	}
}

static void release_all(spool_future **ps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		spool_future_release(ps[i]);
}

static spool_future *gather(spool_future *const *fs, size_t n)
{
	spool_future *g = lab_gather(fs, n);
	LAB_CHECK(g, "lab_gather returned NULL (only for out of memory)");
	return g;
}

/* Checks that g is DONE with vals[want[i]] in slot i, then frees the
 * value array. */
static void check_values(spool_future *g, const int *want, size_t n,
			 const char *what)
{
	LAB_CHECK(spool_future_state(g) == SPOOL_DONE,
		  "%s: the gather is %s, expected DONE", what,
		  state_name(spool_future_state(g)));
	void **v = spool_future_value(g);
	LAB_CHECK(v,
		  "%s: a DONE gather's value is NULL, expected the array "
		  "of values",
		  what);
	for (size_t i = 0; i < n; i++)
		LAB_CHECK(v[i] == &vals[want[i]],
			  "%s: slot %zu holds the value of input %ld, "
			  "expected input %d's: values go in input order",
			  what, i, v[i] ? (long)((int *)v[i] - vals) : -1L,
			  want[i]);
	free(v);
}

static void promises_in_reverse_order(void)
{
	spool_future *ps[N];
	new_promises(ps, N);
	spool_future *g = gather(ps, N);
	for (int i = N - 1; i > 0; i--) {
		spool_promise_set_result(ps[i], &vals[i]);
		LAB_CHECK(!spool_future_done(g),
			  "the gather is %s after input %d completed, while "
			  "input 0 is still pending: it may only complete "
			  "once every input has",
			  state_name(spool_future_state(g)), i);
	}
	spool_promise_set_result(ps[0], &vals[0]);
	LAB_CHECK(spool_future_state(g) != SPOOL_PENDING,
		  "lab_gather's future is still PENDING after every input "
		  "completed: the callback that sees the last input must "
		  "complete the promise");
	static const int want[N] = {0, 1, 2, 3};
	check_values(g, want, N, "inputs completed 3, 2, 1, 0");
	spool_future_release(g);
	release_all(ps, N);
}

static void inputs_already_done(void)
{
	spool_future *ps[N];
	new_promises(ps, N);
	for (int i = 0; i < N; i++)
		spool_promise_set_result(ps[i], &vals[i]);
	spool_future *g = gather(ps, N);
	static const int want[N] = {0, 1, 2, 3};
	check_values(g, want, N,
		     "inputs all DONE before lab_gather (their callbacks run "
		     "inside spool_future_add_callback)");
	spool_future_release(g);

	/* The last input pending, the others final already: the count
	 * must not reach zero during the registration. */
	spool_promise_set_result(ps[0], &vals[0]);
	spool_future *late = spool_promise_new();
	spool_future *mix[3] = {ps[1], ps[2], late};
	g = gather(mix, 3);
	LAB_CHECK(!spool_future_done(g),
		  "the gather is %s while its last input is still pending "
		  "(the inputs before it were final: did their callbacks, "
		  "run during registration, count down to zero early?)",
		  state_name(spool_future_state(g)));
	spool_promise_set_result(late, &vals[9]);
	static const int want3[3] = {1, 2, 9};
	check_values(g, want3, 3, "two inputs final, the last one later");
	spool_future_release(g);
	spool_future_release(late);
	release_all(ps, N);
}

static void same_input_twice(void)
{
	spool_future *ps[2];
	new_promises(ps, 2);
	spool_future *fs[3] = {ps[0], ps[1], ps[0]};
	spool_future *g = gather(fs, 3);
	spool_promise_set_result(ps[1], &vals[1]);
	LAB_CHECK(!spool_future_done(g),
		  "the gather completed while input 0 (given twice) is "
		  "still pending");
	spool_promise_set_result(ps[0], &vals[0]);
	static const int want[3] = {0, 1, 0};
	check_values(g, want, 3, "the same input in slots 0 and 2");
	spool_future_release(g);
	release_all(ps, 2);
}

static void no_inputs(void)
{
	spool_future *g = gather(NULL, 0);
	LAB_CHECK(spool_future_state(g) == SPOOL_DONE &&
			  spool_future_value(g) == NULL,
		  "a gather of no inputs must be DONE at once with the "
		  "value NULL (it is %s)",
		  state_name(spool_future_state(g)));
	spool_future_release(g);
}

static void first_failure_decides(void)
{
	spool_future *ps[3];
	new_promises(ps, 3);
	spool_future *g = gather(ps, 3);
	spool_promise_set_error(ps[1], 42);
	LAB_CHECK(spool_future_state(g) == SPOOL_FAILED &&
			  spool_future_error(g) == 42,
		  "input 1 failed with 42 and the gather is %s (error %d): "
		  "it must fail at once with the first failure's error",
		  state_name(spool_future_state(g)), spool_future_error(g));
	spool_promise_set_result(ps[0], &vals[0]);
	spool_promise_set_error(ps[2], 43);
	LAB_CHECK(spool_future_state(g) == SPOOL_FAILED &&
			  spool_future_error(g) == 42,
		  "the gather changed after its first failure (now %s, "
		  "error %d)",
		  state_name(spool_future_state(g)), spool_future_error(g));
	spool_future_release(g);
	release_all(ps, 3);

	/* A cancelled input decides too: the gather ends CANCELLED. */
	new_promises(ps, 3);
	g = gather(ps, 3);
	spool_future_cancel(ps[2]);
	LAB_CHECK(spool_future_state(g) == SPOOL_CANCELLED,
		  "input 2 was cancelled and the gather is %s: expected "
		  "CANCELLED (set_error with SPOOL_ECANCELLED)",
		  state_name(spool_future_state(g)));
	spool_promise_set_result(ps[0], &vals[0]);
	spool_promise_set_result(ps[1], &vals[1]);
	spool_future_release(g);
	release_all(ps, 3);

	/* A failed input given before the call. */
	new_promises(ps, 3);
	spool_promise_set_error(ps[0], 7);
	g = gather(ps, 3);
	LAB_CHECK(spool_future_state(g) == SPOOL_FAILED &&
			  spool_future_error(g) == 7,
		  "input 0 had already failed with 7 and the gather is %s "
		  "(error %d)",
		  state_name(spool_future_state(g)), spool_future_error(g));
	spool_promise_set_result(ps[1], &vals[1]);
	spool_promise_set_result(ps[2], &vals[2]);
	spool_future_release(g);
	release_all(ps, 3);
}

/* ---- many inputs completed by two pool workers at once ----------------- */

#define TASKS 48
#define ROUNDS 100
#define FAILING 13 /* the task index that fails in odd rounds */

static int pool_task(void *arg, void **result)
{
	intptr_t a = (intptr_t)arg;
	int i = (int)(a & 0xff);
	/* A little work, so that completions of both workers interleave. */
	volatile unsigned x = 0;
	for (int k = 0; k < (i % 7) * 50; k++)
		x += (unsigned)k;
	if (a & 0x100)
		return 99;
	*result = &vals[i];
	return 0;
}

static void pool_rounds(void)
{
	spool_pool_options po = SPOOL_POOL_OPTIONS_INIT;
	po.workers = 2;
	spool_pool *pool;
	LAB_CHECK(spool_pool_create(&pool, &po) == 0, "no pool");
	spool_executor *ex = spool_pool_executor(pool);
	int want[TASKS];
	for (int i = 0; i < TASKS; i++)
		want[i] = i;
	for (int r = 0; r < ROUNDS; r++) {
		int fails = r % 2;
		spool_future *fs[TASKS];
		for (intptr_t i = 0; i < TASKS; i++)
			fs[i] = spool_submit(
				ex, pool_task,
				(void *)(i |
					 (fails && i == FAILING ? 0x100 : 0)));
		spool_future *g = gather(fs, TASKS);
		int err = spool_future_wait(g, 5 * SPOOL_NS_PER_S);
		LAB_CHECK(err == 0,
			  "round %d: the gather of %d pool tasks did not "
			  "complete within 5 s (%s)",
			  r, TASKS, spool_err_name(err));
		if (fails)
			LAB_CHECK(spool_future_error(g) == 99,
				  "round %d: task %d failed with 99 and the "
				  "gather is %s (error %d)",
				  r, FAILING, state_name(spool_future_state(g)),
				  spool_future_error(g));
		else
			check_values(g, want, TASKS,
				     "pool tasks completing on 2 workers");
		spool_future_release(g);
		spool_wait(fs, TASKS, SPOOL_ALL_COMPLETED, SPOOL_FOREVER, NULL,
			   NULL, NULL);
		release_all(fs, TASKS);
	}
	spool_pool_destroy(pool);
}

int main(void)
{
	long live0 = lab_live_futures();
	promises_in_reverse_order();
	inputs_already_done();
	same_input_twice();
	no_inputs();
	first_failure_decides();
	lab_check_no_leaked_futures(live0, "after the promise checks");
	pool_rounds();
	lab_check_no_leaked_futures(live0, "after the pool rounds");
	lab_pass("completes exactly when the deciding input does, values in "
		 "input order, first failure wins; %d gathers of %d pool "
		 "tasks",
		 ROUNDS, TASKS);
	return 0;
}
