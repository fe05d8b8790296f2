/* SPDX-License-Identifier: MIT */
/*
 * Suite "combinators_oom": the out-of-memory promises of the combinators
 * and task groups, proven by making each allocation fail in turn.
 *
 * Every sweep runs one scenario again and again with the allocation seam
 * (src/core/alloc.h) armed to fail its k-th allocation, k = 1, 2, 3, ...,
 * until a run ends with the armed failure never happening (the scenario
 * makes fewer than k allocations): that last run is the one without any
 * failure and must give the full, correct outcome. Every other run must
 * either give that same outcome or report SPOOL_ENOMEM the way the header
 * says, leave every input in the state the test put it in, and finish in
 * bounded time; the fixture then checks that no future is left alive, and
 * LeakSanitizer (AddressSanitizer builds) that no block is.
 *
 * The inputs are a mix: one future already DONE, pending promises, a
 * duplicate, and a promise that already carries a callback of the test's
 * own, so that a combinator's callback on it needs a node of its own (a
 * future's first callback uses a node inside the future and never
 * allocates).
 */
#include "comb_support.h"
#include "core/future_impl.h"
#include "oom_sweep.h"

static int V[8]; /* addresses used as values */

/* A bound for every wait: nothing here should take more than a fraction. */
#define BOUND (5 * SPOOL_NS_PER_S)

/* How long a completing thread waits before each completion: long enough
 * that the call under test has made its allocations and waits. */
#define LATER (2 * MS)

static void noop_cb(spool_future *f, void *arg)
{
	(void)f;
	(void)arg;
}

/* A pending promise with a callback already on it. */
static spool_future *crowded_promise(void)
{
	spool_future *p = spool_promise_new();
	ck_assert_int_eq(spool_future_add_callback(p, noop_cb, NULL), 0);
	return p;
}

static void assert_done_with(spool_future *f, void *v)
{
	ck_assert_int_eq(spool_future_state(f), SPOOL_DONE);
	ck_assert_ptr_eq(spool_future_value(f), v);
}

/* Ids are handed out in blocks per thread: a future made on a thread of
 * its own after a few hundred others has an id far from this thread's,
 * so that a combinator that sees each distinct input once must move its id
 * set from a bitmap to a hash set (src/combinators/dedup.h): one more
 * allocation to fail. */
static void *far_main(void *arg)
{
	for (int i = 0; i < 700; i++)
		spool_future_release(spool_promise_new());
	spool_future *f = spool_promise_new();
	spool_promise_set_result(f, &V[4]);
	*(spool_future **)arg = f;
	return NULL;
}

/* A DONE future (value &V[4]) whose id is far from this thread's. */
static spool_future *far_done_future(void)
{
	spool_future *f = NULL;
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, far_main, &f), 0);
	pthread_join(t, NULL);
	ck_assert_ptr_nonnull(f);
	return f;
}

/* ---- the seam itself -------------------------------------------------- */

START_TEST(seam_fails_exactly_the_nth_allocation_once)
{
	ck_assert_int_eq(spool_debug_alloc_fail_nth(0), 0);
	arm(3);
	spool_future *a = spool_promise_new(), *b = spool_promise_new();
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_null(spool_promise_new()); /* the third */
	spool_future *d = spool_promise_new();   /* disarmed since */
	ck_assert_ptr_nonnull(d);
	ck_assert(fired());
	arm(2);
	spool_future *e = spool_promise_new();
	ck_assert(!fired()); /* one of two used: never fired */
	spool_future_release(a);
	spool_future_release(b);
	spool_future_release(d);
	spool_future_release(e);
}
END_TEST

/* ---- gather ----------------------------------------------------------- */

/* One run of gather over {done a, crowded b, c, b again}; b and c end
 * later with values, or c with an error. */
static bool gather_run(long k, unsigned flags, bool c_fails)
{
	spool_future *a = spool_promise_new(), *b = crowded_promise(),
		     *c = spool_promise_new();
	spool_promise_set_result(a, &V[0]);
	spool_future *fs[4] = {a, b, c, b};
	arm(k);
	spool_future *g = spool_gather(fs, 4, flags);
	/* Nothing touched the pending inputs. */
	ck_assert_int_eq(spool_future_state(b), SPOOL_PENDING);
	ck_assert_int_eq(spool_future_state(c), SPOOL_PENDING);
	spool_promise_set_result(b, &V[1]);
	if (c_fails)
		spool_promise_set_error(c, SPOOL_ESYS);
	else
		spool_promise_set_result(c, &V[2]);
	bool f = fired();
	assert_done_with(a, &V[0]);
	assert_done_with(b, &V[1]);
	if (c_fails)
		ck_assert_int_eq(spool_future_error(c), SPOOL_ESYS);
	else
		assert_done_with(c, &V[2]);
	if (!g) { /* only when the gather itself could not be allocated */
		ck_assert(f);
		goto out;
	}
	ck_assert_int_eq(spool_future_wait(g, BOUND), 0);
	void *want[4] = {&V[0], &V[1], &V[2], &V[1]};
	int werr[4] = {0, 0, c_fails ? SPOOL_ESYS : 0, 0};
	if (!(flags & SPOOL_RETURN_ERRORS)) {
		int err = spool_future_error(g);
		if (err == SPOOL_ENOMEM) {
			ck_assert(f);
		} else if (c_fails) {
			ck_assert_int_eq(err, SPOOL_ESYS);
		} else {
			ck_assert_int_eq(err, 0);
			for (size_t i = 0; i < 4; i++) {
				void *v;
				ck_assert_int_eq(spool_gather_result(g, i, &v),
						 0);
				ck_assert_ptr_eq(v, want[i]);
			}
		}
	} else {
		ck_assert_int_eq(spool_future_state(g), SPOOL_DONE);
		size_t nomem = 0;
		for (size_t i = 0; i < 4; i++) {
			void *v;
			int rc = spool_gather_result(g, i, &v);
			if (rc == SPOOL_ENOMEM) {
				nomem++;
				continue;
			}
			ck_assert_int_eq(rc, werr[i]);
			ck_assert_ptr_eq(v, rc == 0 ? want[i] : NULL);
		}
		/* One failed callback node costs exactly one slot. */
		ck_assert_uint_eq(nomem, f ? 1 : 0);
	}
	spool_future_release(g);
out:
	spool_future_release(a);
	spool_future_release(b);
	spool_future_release(c);
	return f;
}

static long sweep_gather(unsigned flags, bool c_fails)
{
	long k = 1;
	while (gather_run(k, flags, c_fails))
		ck_assert_int_lt(++k, MAX_K);
	fprintf(stderr, "flags %u, c fails %d: ", flags, c_fails);
	return swept("gather", k);
}

START_TEST(gather_out_of_memory_is_null_or_enomem_and_touches_no_input)
{
	ck_assert_int_gt(sweep_gather(0, false), 1);
	ck_assert_int_gt(sweep_gather(0, true), 1);
}
END_TEST

START_TEST(gather_return_errors_out_of_memory_fails_only_the_slot)
{
	ck_assert_int_gt(sweep_gather(SPOOL_RETURN_ERRORS, false), 1);
	ck_assert_int_gt(sweep_gather(SPOOL_RETURN_ERRORS, true), 1);
}
END_TEST

/* Bad input with memory short: a NULL entry after final, pending and
 * repeated inputs gives a future FAILED with SPOOL_EINVAL, or NULL when
 * even that cannot be allocated; either way no input is touched. */
static bool gather_bad_input_run(long k)
{
	spool_future *a = spool_promise_new(), *b = crowded_promise();
	spool_promise_set_result(a, &V[0]);
	spool_future *fs[4] = {a, b, b, NULL};
	arm(k);
	spool_future *g = spool_gather(fs, 4, 0);
	bool f = fired();
	if (g) {
		ck_assert_int_eq(spool_future_error(g), SPOOL_EINVAL);
		spool_future_release(g);
	} else {
		ck_assert(f);
	}
	assert_done_with(a, &V[0]);
	ck_assert_int_eq(spool_future_state(b), SPOOL_PENDING);
	ck_assert_uint_eq(spool__future_refs(b), 1);
	spool_future_release(a);
	spool_future_release(b);
	return f;
}

START_TEST(gather_bad_input_out_of_memory_is_null_and_touches_no_input)
{
	ck_assert_int_gt(sweep("gather, bad input", gather_bad_input_run), 1);
}
END_TEST

/* ---- wait ------------------------------------------------------------- */

/* One run of spool_wait over {done a, crowded b, c, b again, done x with
 * a far id}, b and c completed by a thread a little later (c with an error
 * when c_fails). */
static bool wait_run(long k, spool_wait_when when, bool counts, bool c_fails)
{
	spool_future *a = spool_promise_new(), *b = crowded_promise(),
		     *c = spool_promise_new();
	spool_future *x = far_done_future();
	spool_promise_set_result(a, &V[0]);
	spool_future *fs[5] = {a, b, c, b, x};
	struct sequencer q = {0};
	sequence_add(&q, b, END_VALUE, 0, &V[1]);
	sequence_add(&q, c, c_fails ? END_ERROR : END_VALUE, SPOOL_ESYS, &V[2]);
	sequence_start(&q, LATER);
	bool done[5] = {false, false, false, false, false};
	size_t nd = 99, np = 99;
	arm(k);
	int64_t t0 = spool_test_now_ns();
	int rc = spool_wait(fs, 5, when, BOUND, done, counts ? &nd : NULL,
			    counts ? &np : NULL);
	ck_assert_int_lt(spool_test_now_ns() - t0, BOUND);
	sequence_join(&q);
	bool f = fired();
	assert_done_with(a, &V[0]);
	assert_done_with(b, &V[1]);
	if (c_fails)
		ck_assert_int_eq(spool_future_error(c), SPOOL_ESYS);
	else
		assert_done_with(c, &V[2]);
	if (rc == SPOOL_ENOMEM) {
		ck_assert(f);
		/* Either no counts (no memory for them) or whole ones:
		 * four distinct inputs. */
		if (counts && nd != 99)
			ck_assert_uint_eq(nd + np, 4);
	} else {
		ck_assert_int_eq(rc, 0);
		ck_assert(done[0] && done[4]);
		ck_assert_int_eq(done[1], done[3]);
		if (counts) {
			ck_assert_uint_eq(nd + np, 4);
			ck_assert_uint_eq(nd, (size_t)done[0] + done[1] +
						      done[2] + done[4]);
		}
		if (when == SPOOL_ALL_COMPLETED ||
		    (when == SPOOL_FIRST_EXCEPTION && !c_fails))
			ck_assert(done[1] && done[2]);
		if (when == SPOOL_FIRST_EXCEPTION && c_fails)
			ck_assert(done[2]);
	}
	assert_done_with(x, &V[4]);
	spool_future_release(a);
	spool_future_release(b);
	spool_future_release(c);
	spool_future_release(x);
	return f;
}

static long sweep_wait(spool_wait_when when, bool counts, bool c_fails)
{
	long k = 1;
	while (wait_run(k, when, counts, c_fails))
		ck_assert_int_lt(++k, MAX_K);
	fprintf(stderr, "when %d, counts %d, c fails %d: ", (int)when, counts,
		c_fails);
	return swept("wait", k);
}

START_TEST(wait_all_completed_out_of_memory_is_enomem_and_changes_no_input)
{
	ck_assert_int_gt(sweep_wait(SPOOL_ALL_COMPLETED, true, false), 1);
	ck_assert_int_gt(sweep_wait(SPOOL_ALL_COMPLETED, false, false), 1);
}
END_TEST

START_TEST(wait_first_exception_out_of_memory_is_enomem_and_changes_no_input)
{
	ck_assert_int_gt(sweep_wait(SPOOL_FIRST_EXCEPTION, true, true), 1);
	ck_assert_int_gt(sweep_wait(SPOOL_FIRST_EXCEPTION, true, false), 1);
}
END_TEST

/* The callbacks on f now. A snapshot, safe while nothing can complete f:
 * its nodes stay on its list until it completes. */
static int callbacks_on(spool_future *f)
{
	int n = 0;
	for (struct spool__lifo_node *c = spool__lifo_peek(&f->callbacks); c;
	     c = c->next)
		n++;
	return n;
}

/* Completes b with V[1] once a waiter has put its callback next to the
 * crowding one, or once the waiter has returned without doing so: b is
 * pending when the waiter looks, however late the waiting thread gets a
 * CPU (a completion after a fixed delay could come first under load). */
struct after_registration {
	pthread_t thread;
	spool_future *b;
	_Atomic bool waiter_returned;
};

static void *after_registration_main(void *arg)
{
	struct after_registration *r = arg;
	int64_t until = spool_test_now_ns() + BOUND;
	while (callbacks_on(r->b) < 2 && !atomic_load(&r->waiter_returned) &&
	       spool_test_now_ns() < until)
		spool_test_sleep_ns(INT64_C(50000)); /* 50 us */
	spool_promise_set_result(r->b, &V[1]);
	return NULL;
}

/* FIRST_COMPLETED holds at once with a done input: its slow path is swept
 * over pending inputs only, {crowded b, c, b again}. */
static bool wait_first_run(long k, bool counts)
{
	spool_future *b = crowded_promise(), *c = spool_promise_new();
	spool_future *fs[3] = {b, c, b};
	struct after_registration r = {.b = b};
	ck_assert_int_eq(
		pthread_create(&r.thread, NULL, after_registration_main, &r),
		0);
	bool done[3] = {false, false, false};
	size_t nd = 99, np = 99;
	arm(k);
	int rc = spool_wait(fs, 3, SPOOL_FIRST_COMPLETED, BOUND, done,
			    counts ? &nd : NULL, counts ? &np : NULL);
	atomic_store(&r.waiter_returned, true);
	pthread_join(r.thread, NULL);
	bool f = fired();
	assert_done_with(b, &V[1]);
	ck_assert_int_eq(spool_future_state(c), SPOOL_PENDING);
	if (rc == SPOOL_ENOMEM) {
		ck_assert(f);
		if (counts && nd != 99)
			ck_assert_uint_eq(nd + np, 2);
	} else {
		ck_assert_int_eq(rc, 0);
		ck_assert(done[0] && done[2] && !done[1]);
		if (counts) {
			ck_assert_uint_eq(nd, 1);
			ck_assert_uint_eq(np, 1);
		}
	}
	spool_promise_set_result(c, &V[2]); /* lets any callback on it go */
	spool_future_release(b);
	spool_future_release(c);
	return f;
}

START_TEST(wait_first_completed_out_of_memory_is_enomem_and_changes_no_input)
{
	for (int counts = 0; counts < 2; counts++) {
		long k = 1;
		while (wait_first_run(k, counts))
			ck_assert_int_lt(++k, MAX_K);
		ck_assert_int_gt(swept(counts ? "wait FIRST_COMPLETED counts"
					      : "wait FIRST_COMPLETED",
				       k),
				 1);
	}
}
END_TEST

/* ---- as_completed ----------------------------------------------------- */

/* One run over {done a, crowded b, c, b again, done x with a far id}:
 * create, then iterate while a thread completes b, then c. */
static bool as_completed_run(long k)
{
	spool_future *a = spool_promise_new(), *b = crowded_promise(),
		     *c = spool_promise_new();
	spool_future *x = far_done_future();
	spool_promise_set_result(a, &V[0]);
	spool_future *fs[5] = {a, b, c, b, x};
	arm(k);
	spool_as_completed *it = (void *)&V[7];
	int rc = spool_as_completed_create(&it, fs, 5, BOUND);
	ck_assert_int_eq(spool_future_state(b), SPOOL_PENDING);
	ck_assert_int_eq(spool_future_state(c), SPOOL_PENDING);
	struct sequencer q = {0};
	sequence_add(&q, b, END_VALUE, 0, &V[1]);
	sequence_add(&q, c, END_VALUE, 0, &V[2]);
	sequence_start(&q, LATER);
	if (rc != 0) {
		ck_assert_int_eq(rc, SPOOL_ENOMEM);
		ck_assert_ptr_null(it);
	} else {
		/* a and x first (final at create, in input order), then b
		 * and c as they end, each once; an SPOOL_ENOMEM from
		 * next() leaves the iterator usable, so the next call goes
		 * on. */
		size_t want[4] = {0, 4, 1, 2};
		size_t got = 0, nomem = 0;
		for (;;) {
			spool_future *y = NULL;
			size_t idx = 99;
			int r = spool_as_completed_next(it, &y, &idx);
			if (r == SPOOL_EOF)
				break;
			if (r == SPOOL_ENOMEM) {
				ck_assert_ptr_null(y);
				ck_assert_uint_lt(++nomem, 2);
				continue;
			}
			ck_assert_int_eq(r, 0);
			ck_assert_uint_lt(got, 4);
			ck_assert_uint_eq(idx, want[got]);
			ck_assert_ptr_eq(y, fs[want[got]]);
			got++;
		}
		ck_assert_uint_eq(got, 4);
		spool_as_completed_destroy(it);
	}
	sequence_join(&q);
	bool f = fired();
	if (rc != 0)
		ck_assert(f);
	assert_done_with(a, &V[0]);
	assert_done_with(b, &V[1]);
	assert_done_with(c, &V[2]);
	assert_done_with(x, &V[4]);
	spool_future_release(a);
	spool_future_release(b);
	spool_future_release(c);
	spool_future_release(x);
	return f;
}

START_TEST(as_completed_out_of_memory_is_enomem_and_changes_no_input)
{
	ck_assert_int_gt(sweep("as_completed", as_completed_run), 1);
}
END_TEST

/* ---- wait_for --------------------------------------------------------- */

/* One run: b (crowded) ends in time; c never does and is cancelled. */
static bool wait_for_run(long k)
{
	spool_future *b = crowded_promise(), *c = spool_promise_new();
	struct completer *cb = complete_later(b, LATER, END_VALUE, 0, &V[1]);
	arm(k);
	void *v = NULL;
	int rb = spool_wait_for(b, BOUND, &v);
	int rc = spool_wait_for(c, 2 * MS, NULL);
	completer_join(cb);
	bool f = fired();
	assert_done_with(b, &V[1]);
	if (rb == SPOOL_ENOMEM) {
		ck_assert(f);
	} else {
		ck_assert_int_eq(rb, 0);
		ck_assert_ptr_eq(v, &V[1]);
	}
	if (rc == SPOOL_ENOMEM) {
		ck_assert(f);
		ck_assert_int_eq(spool_future_state(c), SPOOL_PENDING);
	} else {
		ck_assert_int_eq(rc, SPOOL_ETIMEDOUT);
		/* The one change wait_for makes on a timeout, as promised. */
		ck_assert_int_eq(spool_future_state(c), SPOOL_CANCELLED);
	}
	spool_future_cancel(c);
	spool_future_release(b);
	spool_future_release(c);
	return f;
}

START_TEST(wait_for_out_of_memory_is_enomem_and_changes_no_input)
{
	sweep("wait_for", wait_for_run);
}
END_TEST

/* ---- map -------------------------------------------------------------- */

static _Atomic int map_ran;

static int map_task(void *arg, void **result)
{
	atomic_fetch_add(&map_ran, 1);
	*result = (char *)arg + 1;
	return 0;
}

/* A map over args[0..3] that succeeded: each result is its argument + 1. */
static void assert_mapped(spool_future *m, void *const args[4])
{
	for (size_t i = 0; i < 4; i++) {
		void *v;
		ck_assert_int_eq(spool_gather_result(m, i, &v), 0);
		ck_assert_ptr_eq(v, (char *)args[i] + 1);
	}
}

/* One run of map over 4 arguments, window 2, on the inline executor, so
 * that the tasks run in order inside the call. */
static bool map_run(long k)
{
	void *args[4] = {&V[0], &V[1], &V[2], &V[3]};
	atomic_store(&map_ran, 0);
	arm(k);
	spool_future *m = spool_map(spool_executor_inline(), map_task, args, 4,
				    2);
	bool f = fired();
	int ran = atomic_load(&map_ran);
	if (!m) { /* only when the map itself could not be allocated */
		ck_assert(f);
		ck_assert_int_eq(ran, 0);
		return f;
	}
	ck_assert_int_eq(spool_future_wait(m, BOUND), 0);
	int err = spool_future_error(m);
	if (err == SPOOL_ENOMEM) {
		/* A task that could not be submitted fails the map; the
		 * tasks after it never start. */
		ck_assert(f);
		ck_assert_int_eq(ran, k - 2);
	} else {
		ck_assert_int_eq(err, 0);
		ck_assert_int_eq(ran, 4);
		assert_mapped(m, args);
	}
	spool_future_release(m);
	return f;
}

START_TEST(map_out_of_memory_is_null_or_enomem_and_starts_nothing_more)
{
	ck_assert_int_gt(sweep("map", map_run), 1);
}
END_TEST

/* Holds the tasks of one run until the run opens it (map on threads, task
 * groups): a promise made and released by each run. */
static spool_future *gate;

static int gated_map_task(void *arg, void **result)
{
	spool_future_wait(gate, BOUND);
	return map_task(arg, result);
}

/* One run of map over 4 arguments, window 2, each task on a thread of its
 * own and held until the gate opens: the later tasks start from the
 * earlier ones' ends, on their threads. */
static bool map_threads_run(long k)
{
	void *args[4] = {&V[0], &V[1], &V[2], &V[3]};
	atomic_store(&map_ran, 0);
	gate = spool_promise_new();
	arm(k);
	spool_future *m = spool_map(thread_executor(), gated_map_task, args, 4,
				    2);
	spool_promise_set_result(gate, NULL);
	if (m) {
		ck_assert_int_eq(spool_future_wait(m, BOUND), 0);
	}
	thread_executor_drain();
	bool f = fired();
	int ran = atomic_load(&map_ran);
	if (!m) {
		ck_assert(f);
		ck_assert_int_eq(ran, 0);
	} else if (spool_future_error(m) == SPOOL_ENOMEM) {
		/* Tasks start one at a time in input order; the one that
		 * could not be submitted and those after it never ran (and
		 * those cancelled before they began did not either). */
		ck_assert(f);
		ck_assert_int_le(ran, k - 2);
	} else {
		ck_assert_int_eq(spool_future_error(m), 0);
		ck_assert_int_eq(ran, 4);
		assert_mapped(m, args);
	}
	spool_future_release(m);
	spool_future_release(gate);
	return f;
}

START_TEST(map_on_threads_out_of_memory_fails_the_map_and_starts_nothing_more)
{
	ck_assert_int_gt(sweep("map on threads", map_threads_run), 1);
}
END_TEST

/* ---- then ------------------------------------------------------------- */

static _Atomic int then_ran;

static int then_fn(spool_future *src, void *arg, void **result)
{
	atomic_fetch_add(&then_ran, 1);
	*result = spool_future_value(src);
	return 0;
}

/* A continuation's outcome: NULL or FAILED with SPOOL_ENOMEM, or DONE with
 * its source's value. Returns 1 when fn produced it. */
static int then_check(spool_future *t, void *want, bool f)
{
	if (!t) {
		ck_assert(f);
		return 0;
	}
	ck_assert_int_eq(spool_future_wait(t, BOUND), 0);
	if (spool_future_error(t) == SPOOL_ENOMEM) {
		ck_assert(f);
		spool_future_release(t);
		return 0;
	}
	assert_done_with(t, want);
	spool_future_release(t);
	return 1;
}

/* One run: a continuation of done a, two of crowded b (ended later from
 * this thread), on the inline executor. */
static bool then_run(long k)
{
	spool_future *a = spool_promise_new(), *b = crowded_promise();
	spool_promise_set_result(a, &V[0]);
	atomic_store(&then_ran, 0);
	arm(k);
	spool_future *ta = spool_then(a, spool_executor_inline(), then_fn,
				      NULL);
	spool_future *tb1 = spool_then(b, spool_executor_inline(), then_fn,
				       NULL);
	spool_future *tb2 = spool_then(b, spool_executor_inline(), then_fn,
				       NULL);
	ck_assert_int_eq(spool_future_state(b), SPOOL_PENDING);
	spool_promise_set_result(b, &V[1]);
	bool f = fired();
	assert_done_with(a, &V[0]);
	assert_done_with(b, &V[1]);
	int done = then_check(ta, &V[0], f) + then_check(tb1, &V[1], f) +
		   then_check(tb2, &V[1], f);
	/* fn ran exactly for the continuations that are DONE. */
	ck_assert_int_eq(atomic_load(&then_ran), done);
	ck_assert_int_eq(done, f ? 2 : 3);
	spool_future_release(a);
	spool_future_release(b);
	return f;
}

START_TEST(then_out_of_memory_is_null_or_enomem_and_runs_fn_not)
{
	ck_assert_int_gt(sweep("then", then_run), 1);
}
END_TEST

/* ---- task group ------------------------------------------------------- */

/* Waits (bounded) for the gate, then succeeds with arg. */
static int gated_task(void *arg, void **result)
{
	spool_future_wait(gate, BOUND);
	*result = arg;
	return 0;
}

/* One run: create, spawn three gated tasks on threads, open the gate, join;
 * a spawn refused for memory is retried once (the group stays usable). */
static bool group_run(long k, size_t limit)
{
	gate = spool_promise_new();
	spool_future *tasks[3] = {NULL, NULL, NULL};
	arm(k);
	spool_group *g = (void *)&V[7];
	int rc = spool_group_create(&g, thread_executor(), limit);
	if (rc != 0) {
		ck_assert_int_eq(rc, SPOOL_ENOMEM);
		ck_assert_ptr_null(g);
		ck_assert(fired());
		spool_future_release(gate);
		return true;
	}
	size_t refused = 0;
	for (int i = 0; i < 3; i++) {
		rc = spool_group_spawn(g, gated_task, &V[i], &tasks[i]);
		if (rc == SPOOL_ENOMEM) {
			ck_assert_ptr_null(tasks[i]);
			refused++;
			rc = spool_group_spawn(g, gated_task, &V[i], &tasks[i]);
		}
		/* A task that could not start failed with SPOOL_ENOMEM
		 * and cancelled the group: later spawns are refused. */
		if (rc == SPOOL_ECANCELLED) {
			ck_assert_uint_eq(spool_group_failures(g), 1);
			ck_assert_ptr_null(tasks[i]);
			continue;
		}
		ck_assert_int_eq(rc, 0);
		ck_assert_ptr_nonnull(tasks[i]);
	}
	spool_promise_set_result(gate, NULL);
	rc = spool_group_join(g, BOUND);
	if (rc == SPOOL_ENOMEM && spool_group_failures(g) == 0) {
		refused++; /* no memory for the join's own future */
		rc = spool_group_join(g, BOUND);
	}
	bool f = fired();
	ck_assert_uint_le(refused, 1);
	size_t failures = spool_group_failures(g);
	size_t failed = 0;
	for (int i = 0; i < 3; i++) {
		if (!tasks[i])
			continue;
		spool_state st = spool_future_state(tasks[i]);
		if (st == SPOOL_FAILED) {
			ck_assert_int_eq(spool_future_error(tasks[i]),
					 SPOOL_ENOMEM);
			failed++;
		} else if (st == SPOOL_CANCELLED) {
			/* Only a failure cancels the others (one that had
			 * not started yet never ran). */
			ck_assert_uint_gt(spool_group_failures(g), 0);
		} else {
			assert_done_with(tasks[i], &V[i]);
		}
		spool_future_release(tasks[i]);
	}
	ck_assert_uint_eq(failed, failures);
	if (failures) {
		ck_assert(f);
		ck_assert_int_eq(rc, SPOOL_ENOMEM);
		ck_assert_int_eq(spool_group_failure(g, 0, NULL), SPOOL_ENOMEM);
	} else {
		ck_assert_int_eq(rc, 0);
		ck_assert_uint_eq(refused, f ? 1 : 0);
	}
	spool_group_destroy(g);
	thread_executor_drain();
	spool_future_release(gate);
	return f;
}

static bool group_unlimited_run(long k)
{
	return group_run(k, 0);
}

static bool group_limit_1_run(long k)
{
	return group_run(k, 1);
}

START_TEST(group_out_of_memory_is_enomem_or_a_failure_and_loses_no_task)
{
	ck_assert_int_gt(sweep("group", group_unlimited_run), 1);
}
END_TEST

/* With one task running at a time, the queued ones start from the end of
 * the one before, on that task's thread. */
START_TEST(group_with_a_limit_out_of_memory_starting_a_queued_task_is_a_failure)
{
	ck_assert_int_gt(sweep("group, limit 1", group_limit_1_run), 1);
}
END_TEST

/* ---- inside a pool task and inside a loop coroutine ------------------- */

/* The same scenarios again, each run as a task: on a pool worker, where a
 * wait helps with the pool's work and a submission goes to the worker's
 * own deque, and in a loop coroutine, where a wait suspends the coroutine
 * and the loop's own allocations (timers, wake-ups) count too. The task is
 * submitted before the run arms the seam and checked after it disarmed,
 * so that the sweep covers exactly what happens inside. */

static bool (*inner_run)(long k);
static long inner_k;
static bool inner_fired;
static spool_executor *inner_ex; /* where the task runs */

static int inner_task(void *arg, void **result)
{
	(void)arg;
	(void)result;
	inner_fired = inner_run(inner_k);
	return 0;
}

static spool_pool *outer_pool;
static spool_loop *outer_loop;

static bool in_pool_run(long k)
{
	inner_k = k;
	spool_future *t = spool_submit(inner_ex, inner_task, NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(spool_future_wait(t, 4 * BOUND), 0);
	ck_assert_int_eq(spool_future_error(t), 0);
	spool_future_release(t);
	return inner_fired;
}

static bool in_loop_run(long k)
{
	inner_k = k;
	spool_future *t = spool_submit(inner_ex, inner_task, NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(spool_loop_run_until_complete(outer_loop, t), 0);
	spool_future_release(t);
	return inner_fired;
}

/* Sweeps run inside a task of a 2-worker pool, then of a loop. */
static void sweep_inside(const char *what, bool (*run)(long k))
{
	char name[80];
	inner_run = run;
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = 2;
	ck_assert_int_eq(spool_pool_create(&outer_pool, &o), 0);
	inner_ex = spool_pool_executor(outer_pool);
	snprintf(name, sizeof name, "%s in a pool task", what);
	ck_assert_int_gt(sweep(name, in_pool_run), 1);
	spool_pool_destroy(outer_pool);
	outer_loop = spool_test_loop_new();
	inner_ex = spool_loop_executor(outer_loop);
	snprintf(name, sizeof name, "%s in a loop coroutine", what);
	ck_assert_int_gt(sweep(name, in_loop_run), 1);
	spool_loop_destroy(outer_loop);
}

static bool gather_plain_run(long k)
{
	return gather_run(k, 0, false);
}

static bool gather_return_errors_run(long k)
{
	return gather_run(k, SPOOL_RETURN_ERRORS, true);
}

static bool wait_all_run(long k)
{
	return wait_run(k, SPOOL_ALL_COMPLETED, true, false);
}

static bool wait_first_exception_run(long k)
{
	return wait_run(k, SPOOL_FIRST_EXCEPTION, true, true);
}

/* map on the executor the task runs on: from a pool worker its tasks go
 * to the worker's deque, from a coroutine they are coroutines of the same
 * loop, started as earlier ones end. */
static bool map_here_run(long k)
{
	void *args[4] = {&V[0], &V[1], &V[2], &V[3]};
	atomic_store(&map_ran, 0);
	arm(k);
	spool_future *m = spool_map(inner_ex, map_task, args, 4, 2);
	int wrc = m ? spool_future_wait(m, BOUND) : 0;
	bool f = fired();
	if (wrc == SPOOL_ENOMEM) {
		/* A coroutine's wait with no memory to register it (as
		 * spool/future.h says); disarmed now, a second one can. */
		ck_assert(f);
		wrc = spool_future_wait(m, BOUND);
	}
	ck_assert_int_eq(wrc, 0);
	int ran = atomic_load(&map_ran);
	if (!m) {
		ck_assert(f);
		ck_assert_int_eq(ran, 0);
		return f;
	}
	if (spool_future_error(m) == SPOOL_ENOMEM) {
		ck_assert(f);
		ck_assert_int_lt(ran, 4);
	} else {
		ck_assert_int_eq(spool_future_error(m), 0);
		ck_assert_int_eq(ran, 4);
		assert_mapped(m, args);
	}
	spool_future_release(m);
	return f;
}

START_TEST(gather_inside_a_task_out_of_memory_is_null_or_enomem)
{
	sweep_inside("gather", gather_plain_run);
	sweep_inside("gather, return errors", gather_return_errors_run);
}
END_TEST

START_TEST(wait_inside_a_task_out_of_memory_is_enomem_and_changes_no_input)
{
	sweep_inside("wait ALL_COMPLETED", wait_all_run);
	sweep_inside("wait FIRST_EXCEPTION", wait_first_exception_run);
}
END_TEST

START_TEST(as_completed_inside_a_task_out_of_memory_is_enomem)
{
	sweep_inside("as_completed", as_completed_run);
}
END_TEST

START_TEST(group_inside_a_task_out_of_memory_is_enomem_or_a_failure)
{
	sweep_inside("group", group_unlimited_run);
	sweep_inside("group, limit 1", group_limit_1_run);
}
END_TEST

START_TEST(map_inside_a_task_out_of_memory_is_null_or_enomem)
{
	sweep_inside("map", map_here_run);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("combinators_oom");
	TCase *tc = spool_test_case("combinators_oom", 60);
	tcase_add_test(tc, seam_fails_exactly_the_nth_allocation_once);
	tcase_add_test(
		tc,
		gather_out_of_memory_is_null_or_enomem_and_touches_no_input);
	tcase_add_test(tc,
		       gather_return_errors_out_of_memory_fails_only_the_slot);
	tcase_add_test(
		tc,
		gather_bad_input_out_of_memory_is_null_and_touches_no_input);
	tcase_add_test(
		tc,
		wait_all_completed_out_of_memory_is_enomem_and_changes_no_input);
	tcase_add_test(
		tc,
		wait_first_exception_out_of_memory_is_enomem_and_changes_no_input);
	tcase_add_test(
		tc,
		wait_first_completed_out_of_memory_is_enomem_and_changes_no_input);
	tcase_add_test(
		tc, as_completed_out_of_memory_is_enomem_and_changes_no_input);
	tcase_add_test(tc,
		       wait_for_out_of_memory_is_enomem_and_changes_no_input);
	tcase_add_test(
		tc,
		map_out_of_memory_is_null_or_enomem_and_starts_nothing_more);
	tcase_add_test(tc,
		       then_out_of_memory_is_null_or_enomem_and_runs_fn_not);
	tcase_add_test(
		tc,
		map_on_threads_out_of_memory_fails_the_map_and_starts_nothing_more);
	tcase_add_test(
		tc,
		group_out_of_memory_is_enomem_or_a_failure_and_loses_no_task);
	tcase_add_test(
		tc,
		group_with_a_limit_out_of_memory_starting_a_queued_task_is_a_failure);
	tcase_add_test(tc,
		       gather_inside_a_task_out_of_memory_is_null_or_enomem);
	tcase_add_test(
		tc,
		wait_inside_a_task_out_of_memory_is_enomem_and_changes_no_input);
	tcase_add_test(tc, as_completed_inside_a_task_out_of_memory_is_enomem);
	tcase_add_test(
		tc, group_inside_a_task_out_of_memory_is_enomem_or_a_failure);
	tcase_add_test(tc, map_inside_a_task_out_of_memory_is_null_or_enomem);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
