/* SPDX-License-Identifier: MIT */
/*
 * Suite "depth": completion, cancellation and release run in constant
 * stack depth however long the chain of futures (src/core/nest.h): a
 * then-chain of a million links on the inline executor, gathers nested a
 * hundred thousand deep, completed, cancelled and released; and the
 * queue that bounds the depth never holds back what a wait waits for.
 */
#include <stdint.h>
#include <stdlib.h>

#include "support.h"

enum { CHAIN = 1000000, NESTED = 100000 };

static int V;

static int next_link(spool_future *src, void *arg, void **result)
{
	(void)arg;
	int err = spool_future_error(src);
	if (err != 0)
		return err; /* a failure or a cancel travels down the chain */
	*result = (char *)spool_future_value(src) + 1;
	return 0;
}

/* A chain of n thens on the inline executor from root; returns the last
 * link (the caller's only reference: the chain keeps the others). */
static spool_future *then_chain(spool_future *root, size_t n)
{
	spool_future *f = spool_future_retain(root);
	for (size_t i = 0; i < n; i++) {
		spool_future *next = spool_then(f, spool_executor_inline(),
						next_link, NULL);
		ck_assert_ptr_nonnull(next);
		spool_future_release(f);
		f = next;
	}
	return f;
}

START_TEST(a_million_link_then_chain_completes_in_constant_stack)
{
	spool_future *root = spool_promise_new();
	spool_future *last = then_chain(root, CHAIN);
	ck_assert_int_eq(spool_promise_set_result(root, (char *)&V), 0);
	/* Every link ran before set_result returned. */
	ck_assert_int_eq(spool_future_state(last), SPOOL_DONE);
	ck_assert_ptr_eq(spool_future_value(last), (char *)&V + CHAIN);
	spool_future_release(last);
	spool_future_release(root);
}
END_TEST

START_TEST(a_million_link_then_chain_cancels_in_constant_stack)
{
	spool_future *root = spool_promise_new();
	spool_future *last = then_chain(root, CHAIN);
	ck_assert_int_eq(spool_future_cancel(root), 0);
	ck_assert_int_eq(spool_future_state(last), SPOOL_CANCELLED);
	spool_future_release(last);
	spool_future_release(root);
}
END_TEST

/* gather(gather(...gather(leaf)...)), n deep; returns the outermost. */
static spool_future *nested_gathers(spool_future *leaf, size_t n)
{
	spool_future *f = spool_future_retain(leaf);
	for (size_t i = 0; i < n; i++) {
		spool_future *g = spool_gather(&f, 1, 0);
		ck_assert_ptr_nonnull(g);
		spool_future_release(f);
		f = g;
	}
	return f;
}

START_TEST(gathers_nested_100000_deep_complete_in_constant_stack)
{
	spool_future *leaf = spool_promise_new();
	spool_future *top = nested_gathers(leaf, NESTED);
	ck_assert_int_eq(spool_promise_set_result(leaf, &V), 0);
	ck_assert_int_eq(spool_future_state(top), SPOOL_DONE);
	ck_assert_uint_eq(spool_gather_size(top), 1);
	spool_future_release(top);
	spool_future_release(leaf);
}
END_TEST

START_TEST(gathers_nested_100000_deep_cancel_in_constant_stack)
{
	/* Cancelling the outermost cancels each inner one down to the
	 * leaf, whose cancellation completes them all on the way back. */
	spool_future *leaf = spool_promise_new();
	spool_future *top = nested_gathers(leaf, NESTED);
	ck_assert_int_eq(spool_future_cancel(top), 0);
	ck_assert_int_eq(spool_future_state(leaf), SPOOL_CANCELLED);
	ck_assert_int_eq(spool_future_state(top), SPOOL_CANCELLED);
	spool_future_release(top);
	spool_future_release(leaf);
}
END_TEST

START_TEST(gathers_nested_100000_deep_are_freed_in_constant_stack)
{
	/* Each gather holds its child for as long as it lives (its value
	 * is the child's): releasing the outermost frees the whole nest,
	 * each gather the last holder of the one inside it. */
	spool_future *leaf = spool_promise_new();
	spool_future *top = nested_gathers(leaf, NESTED);
	spool_promise_set_result(leaf, &V);
	spool_future_release(leaf);
	long before = spool_debug_live_futures();
	spool_future_release(top);
	ck_assert_int_eq(before - spool_debug_live_futures(), NESTED + 1);
}
END_TEST

/* ---- the queue holds back nothing a wait needs ------------------------ */

enum { RELAY = 40 }; /* more levels than run at once before queueing */

struct relay {
	spool_future *p[RELAY], *q[RELAY], *r[RELAY];
	int waited[RELAY];
};

static struct relay rl;

static void complete_r(spool_future *q, void *arg)
{
	(void)q;
	spool_promise_set_result(rl.r[(intptr_t)arg], &V);
}

/* The callback on p[i], one level deeper than the one on p[i - 1]:
 * completes q[i], whose callback completes r[i], and waits for r[i];
 * then completes p[i + 1]. At the level where the nesting bound is
 * reached, q[i]'s callback is queued, and must run before the wait. */
static void relay_on(spool_future *f, void *arg)
{
	(void)f;
	intptr_t i = (intptr_t)arg;
	spool_promise_set_result(rl.q[i], NULL);
	rl.waited[i] = spool_future_wait(rl.r[i], SPOOL_FOREVER);
	if (i + 1 < RELAY)
		spool_promise_set_result(rl.p[i + 1], NULL);
}

START_TEST(a_wait_deep_in_nested_callbacks_sees_what_they_queued)
{
	for (intptr_t i = 0; i < RELAY; i++) {
		rl.p[i] = spool_promise_new();
		rl.q[i] = spool_promise_new();
		rl.r[i] = spool_promise_new();
		rl.waited[i] = 99;
		ck_assert_int_eq(spool_future_add_callback(rl.q[i], complete_r,
							   (void *)i),
				 0);
		ck_assert_int_eq(
			spool_future_add_callback(rl.p[i], relay_on, (void *)i),
			0);
	}
	spool_promise_set_result(rl.p[0], NULL);
	for (int i = 0; i < RELAY; i++) {
		ck_assert_int_eq(rl.waited[i], 0);
		spool_future_release(rl.p[i]);
		spool_future_release(rl.q[i]);
		spool_future_release(rl.r[i]);
	}
}
END_TEST

/* Shallow nesting keeps the order the headers promise: a callback that
 * completes another future sees that future's callbacks run before
 * set_result returns to it. */
static int order[8], norder;

static void note(spool_future *f, void *arg)
{
	(void)f;
	order[norder++] = (int)(intptr_t)arg;
}

static void complete_then_note(spool_future *f, void *arg)
{
	(void)f;
	spool_promise_set_result(arg, NULL);
	order[norder++] = 2;
}

START_TEST(shallow_callbacks_run_before_the_completing_call_returns)
{
	norder = 0;
	spool_future *a = spool_promise_new(), *b = spool_promise_new();
	ck_assert_int_eq(spool_future_add_callback(b, note, (void *)1), 0);
	ck_assert_int_eq(spool_future_add_callback(a, complete_then_note, b),
			 0);
	spool_promise_set_result(a, NULL);
	ck_assert_int_eq(norder, 2);
	ck_assert_int_eq(order[0], 1);
	ck_assert_int_eq(order[1], 2);
	spool_future_release(a);
	spool_future_release(b);
}
END_TEST

static Suite *depth_suite(void)
{
	Suite *s = suite_create("depth");
	TCase *tc = spool_test_case("chains", 240);
	tcase_add_test(tc,
		       a_million_link_then_chain_completes_in_constant_stack);
	tcase_add_test(tc, a_million_link_then_chain_cancels_in_constant_stack);
	tcase_add_test(tc,
		       gathers_nested_100000_deep_complete_in_constant_stack);
	tcase_add_test(tc, gathers_nested_100000_deep_cancel_in_constant_stack);
	tcase_add_test(tc,
		       gathers_nested_100000_deep_are_freed_in_constant_stack);
	suite_add_tcase(s, tc);
	tc = spool_test_case("queue", 30);
	tcase_add_test(tc,
		       a_wait_deep_in_nested_callbacks_sees_what_they_queued);
	tcase_add_test(
		tc, shallow_callbacks_run_before_the_completing_call_returns);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return spool_test_run(depth_suite());
}
