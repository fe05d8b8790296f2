/* SPDX-License-Identifier: MIT */
/*
 * Suite "loop_oom": the out-of-memory promises of the event loop
 * (spool/loop.h, spool/executor.h), proven by making each allocation fail
 * in turn (test/oom_support.h): spool_loop_create() returns SPOOL_ENOMEM
 * and leaves nothing behind; spool_submit() on the loop's executor returns
 * NULL, from the loop's thread, from a coroutine and from another thread;
 * the scheduling calls return SPOOL_ENOMEM and then never run their
 * callback; a coroutine's sleep or wait for a descriptor fails with
 * SPOOL_ENOMEM instead of hanging; spool_loop_run_in_executor() returns
 * NULL without submitting anything, or a future that ends with the
 * function's outcome (or cancelled, when cancelled while it runs); a
 * cancel from another thread needs no memory and is always delivered; every
 * future reaches a final state and destroy finishes. Every wait is
 * bounded; the fixture checks that no future is left alive, and
 * LeakSanitizer (AddressSanitizer builds) that no block is.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "oom_support.h"
#include "support.h"

#define MS SPOOL_NS_PER_MS
/* A bound for every wait: nothing here should take more than a fraction. */
#define BOUND (10 * SPOOL_NS_PER_S)

static char V[32]; /* addresses used as arguments */

/* Runs the loop until f is final. A SPOOL_ENOMEM from the run itself (only
 * for an armed failure) leaves f as it was: the run is repeated. */
static void run_until_final(spool_loop *loop, spool_future *f, bool *nomem)
{
	for (int i = 0; i < 3; i++) {
		int rc = spool_loop_run_until_complete(loop, f);
		if (spool_future_state(f) != SPOOL_PENDING)
			return;
		ck_assert_int_eq(rc, SPOOL_ENOMEM);
		*nomem = true;
	}
	ck_abort_msg("the run left the future pending");
}

/* A loop task's outcome: DONE with arg + 1, or (only when an allocation
 * failed) FAILED with SPOOL_ENOMEM. Returns 1 when it failed. */
static int check_task(spool_future *t, void *arg, bool f)
{
	if (spool_future_state(t) == SPOOL_FAILED) {
		ck_assert(f);
		ck_assert_int_eq(spool_future_error(t), SPOOL_ENOMEM);
		return 1;
	}
	ck_assert_int_eq(spool_future_state(t), SPOOL_DONE);
	ck_assert_ptr_eq(spool_future_value(t), (char *)arg + 1);
	return 0;
}

/* ---- create ----------------------------------------------------------- */

static int add_one(void *arg, void **result)
{
	*result = (char *)arg + 1;
	return 0;
}

static bool create_run(long k)
{
	spool_loop *loop = (void *)&V[0];
	arm(k);
	int rc = spool_loop_create(&loop, NULL);
	bool f = fired();
	if (rc != 0) {
		ck_assert(f);
		ck_assert_int_eq(rc, SPOOL_ENOMEM);
		ck_assert_ptr_null(loop);
		return f;
	}
	/* A loop that was made works. */
	spool_future *t = spool_submit(spool_loop_executor(loop), add_one,
				       &V[1]);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, t), 0);
	check_task(t, &V[1], false);
	spool_future_release(t);
	spool_loop_destroy(loop);
	return f;
}

START_TEST(create_out_of_memory_is_enomem_and_leaves_nothing_behind)
{
	ck_assert_int_gt(sweep_upto("loop create", create_run, 32), 1);
}
END_TEST

/* ---- tasks: spawn, sleep, spawn from a coroutine ---------------------- */

/* Sleeps 1 ms (a timer), then succeeds with arg + 1. */
static int sleeper(void *arg, void **result)
{
	int rc = spool_sleep(MS);
	if (rc != 0)
		return rc;
	*result = (char *)arg + 1;
	return 0;
}

/* Spawns a sleeper child, yields, and waits for it (suspending): succeeds
 * with arg + 1 when the child did. */
static int parent(void *arg, void **result)
{
	spool_future *c = spool_submit(
		spool_loop_executor(spool_loop_current()), sleeper, arg);
	if (!c)
		return SPOOL_ENOMEM;
	int rc = spool_sleep(0);
	if (rc == 0)
		rc = spool_future_wait(c, BOUND);
	if (rc == 0)
		rc = spool_future_error(c);
	if (rc == 0)
		*result = spool_future_value(c);
	spool_future_release(c);
	return rc;
}

enum { NTASK = 4 };

static bool tasks_run(long k)
{
	spool_loop *loop = spool_test_loop_new();
	spool_executor *ex = spool_loop_executor(loop);
	spool_future *t[NTASK];
	arm(k);
	for (int i = 0; i < NTASK; i++)
		t[i] = spool_submit(ex, i % 2 ? parent : sleeper, &V[i]);
	bool nomem = false;
	for (int i = 0; i < NTASK; i++)
		if (t[i])
			run_until_final(loop, t[i], &nomem);
	spool_loop_destroy(loop);
	bool f = fired();
	if (nomem)
		ck_assert(f);
	int failures = 0;
	for (int i = 0; i < NTASK; i++) {
		if (!t[i]) {
			failures++;
			continue;
		}
		failures += check_task(t[i], &V[i], f);
		spool_future_release(t[i]);
	}
	/* One failed allocation costs one task at most. */
	at_most_one_refused(failures, f);
	return f;
}

START_TEST(tasks_out_of_memory_are_null_or_fail_with_enomem_and_end)
{
	ck_assert_int_gt(sweep_upto("loop tasks", tasks_run, 64), NTASK);
}
END_TEST

/* ---- submission from another thread ----------------------------------- */

struct foreign {
	spool_loop *loop;
	spool_future *t[NTASK];
	int rc; /* of call_soon_threadsafe */
};

static _Atomic int foreign_calls;

static void count_cb(spool_loop *loop, void *arg)
{
	(void)loop;
	(void)arg;
	atomic_fetch_add(&foreign_calls, 1);
}

static void *foreign_main(void *arg)
{
	struct foreign *o = arg;
	for (int i = 0; i < NTASK; i++)
		o->t[i] = spool_submit(spool_loop_executor(o->loop), sleeper,
				       &V[i]);
	o->rc = spool_loop_call_soon_threadsafe(o->loop, count_cb, NULL);
	return NULL;
}

static bool foreign_run(long k)
{
	struct foreign o = {spool_test_loop_new(), {NULL}, -1};
	atomic_store(&foreign_calls, 0);
	pthread_t th;
	arm(k); /* published to the thread by its creation */
	ck_assert_int_eq(pthread_create(&th, NULL, foreign_main, &o), 0);
	pthread_join(th, NULL);
	bool nomem = false;
	for (int i = 0; i < NTASK; i++)
		if (o.t[i])
			run_until_final(o.loop, o.t[i], &nomem);
	/* One more iteration for the callback. */
	spool_future *last = spool_submit(spool_loop_executor(o.loop), add_one,
					  &V[0]);
	if (last) {
		run_until_final(o.loop, last, &nomem);
		spool_future_release(last);
	}
	spool_loop_destroy(o.loop);
	bool f = fired();
	if (nomem || !last)
		ck_assert(f);
	int failures = 0;
	for (int i = 0; i < NTASK; i++) {
		if (!o.t[i]) {
			failures++;
			continue;
		}
		failures += check_task(o.t[i], &V[i], f);
		spool_future_release(o.t[i]);
	}
	if (o.rc == 0) {
		ck_assert_int_eq(atomic_load(&foreign_calls), 1);
	} else {
		ck_assert_int_eq(o.rc, SPOOL_ENOMEM);
		ck_assert_int_eq(atomic_load(&foreign_calls), 0);
		failures++;
	}
	at_most_one_refused(failures, f);
	return f;
}

START_TEST(submit_from_another_thread_out_of_memory_is_null_or_enomem)
{
	ck_assert_int_gt(
		sweep_upto("loop, from another thread", foreign_run, 64),
		NTASK);
}
END_TEST

/* ---- callbacks and timers --------------------------------------------- */

enum { NCB = 4 };

static int cb_runs[NCB];

static void mark_cb(spool_loop *loop, void *arg)
{
	(void)loop;
	cb_runs[(char *)arg - V]++;
}

static void stop_cb(spool_loop *loop, void *arg)
{
	(void)arg;
	spool_loop_stop(loop);
}

static bool callbacks_run(long k)
{
	spool_loop *loop = spool_test_loop_new();
	for (int i = 0; i < NCB; i++)
		cb_runs[i] = 0;
	spool_handle *h[NCB] = {NULL};
	int rc[NCB];
	arm(k);
	rc[0] = spool_loop_call_soon(loop, mark_cb, &V[0], &h[0]);
	rc[1] = spool_loop_call_later(loop, MS, mark_cb, &V[1], &h[1]);
	rc[2] = spool_loop_call_at(loop, spool_loop_time(loop) + 2 * MS,
				   mark_cb, &V[2], &h[2]);
	rc[3] = spool_loop_call_later(loop, 3 * MS, mark_cb, &V[3], NULL);
	int rs = spool_loop_call_later(loop, 5 * MS, stop_cb, NULL, NULL);
	bool f;
	if (rs != 0) {
		ck_assert_int_eq(rs, SPOOL_ENOMEM);
		f = fired();
		ck_assert(f);
		ck_assert_int_eq(spool_loop_call_later(loop, 5 * MS, stop_cb,
						       NULL, NULL),
				 0);
	}
	ck_assert_int_eq(spool_loop_run(loop), 0);
	spool_loop_destroy(loop);
	f = fired() || rs != 0;
	int refused = rs != 0;
	for (int i = 0; i < NCB; i++) {
		if (rc[i] == 0) {
			ck_assert_int_eq(cb_runs[i], 1);
			if (i < 3) {
				ck_assert_ptr_nonnull(h[i]);
				ck_assert(!spool_handle_cancelled(h[i]));
			}
		} else {
			ck_assert_int_eq(rc[i], SPOOL_ENOMEM);
			ck_assert_int_eq(cb_runs[i], 0);
			refused++;
		}
		spool_handle_release(h[i]);
	}
	at_most_one_refused(refused, f);
	return f;
}

START_TEST(callbacks_out_of_memory_are_enomem_and_never_run)
{
	ck_assert_int_gt(sweep_upto("loop callbacks", callbacks_run, 64), NCB);
}
END_TEST

/* ---- waiting for a descriptor ----------------------------------------- */

struct reader {
	int fd;
	int rc;
};

/* Waits (bounded) for the pipe to be readable; fails with what the wait
 * returned. */
static int reader_task(void *arg, void **result)
{
	struct reader *r = arg;
	r->rc = spool_wait_readable(r->fd, BOUND);
	*result = r;
	return r->rc;
}

struct writer {
	int fd;
	int64_t delay_ns;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	spool_test_sleep_ns(w->delay_ns);
	ck_assert_int_eq(write(w->fd, "x", 1), 1);
	return NULL;
}

enum { NREAD = 2 };

static bool io_run(long k)
{
	spool_loop *loop = spool_test_loop_new();
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	struct reader r[NREAD];
	spool_future *t[NREAD];
	arm(k);
	for (int i = 0; i < NREAD; i++) {
		r[i] = (struct reader){fds[0], -1};
		t[i] = spool_submit(spool_loop_executor(loop), reader_task,
				    &r[i]);
	}
	struct writer w = {fds[1], 2 * MS};
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, writer_main, &w), 0);
	bool nomem = false;
	for (int i = 0; i < NREAD; i++)
		if (t[i])
			run_until_final(loop, t[i], &nomem);
	pthread_join(th, NULL);
	spool_loop_destroy(loop);
	bool f = fired();
	if (nomem)
		ck_assert(f);
	int failures = 0;
	for (int i = 0; i < NREAD; i++) {
		if (!t[i]) {
			failures++;
			continue;
		}
		if (spool_future_state(t[i]) == SPOOL_DONE) {
			ck_assert_int_eq(r[i].rc, 0);
		} else {
			/* The wait had no memory, or the task never ran
			 * (no memory to start its coroutine). */
			ck_assert_int_eq(spool_future_error(t[i]),
					 SPOOL_ENOMEM);
			ck_assert(r[i].rc == SPOOL_ENOMEM || r[i].rc == -1);
			failures++;
		}
		spool_future_release(t[i]);
	}
	at_most_one_refused(failures, f);
	close(fds[0]);
	close(fds[1]);
	return f;
}

START_TEST(wait_readable_out_of_memory_is_enomem_and_never_hangs)
{
	ck_assert_int_gt(sweep_upto("loop io", io_run, 64), NREAD);
}
END_TEST

/* ---- a wake-up from another thread ------------------------------------ */

/* Far shorter than BOUND, far longer than a wake-up takes. */
#define WAKE_TIMEOUT (2 * SPOOL_NS_PER_S)

struct awaiter {
	spool_future *p;
	int rc;
	int64_t waited_ns;
};

/* Waits for a promise another thread completes. */
static int awaiter_task(void *arg, void **result)
{
	struct awaiter *a = arg;
	int64_t t0 = spool_test_now_ns();
	a->rc = spool_future_wait(a->p, WAKE_TIMEOUT);
	a->waited_ns = spool_test_now_ns() - t0;
	*result = a;
	return 0;
}

static void *complete_main(void *arg)
{
	spool_test_sleep_ns(2 * MS);
	spool_promise_set_result(arg, &V[0]);
	return NULL;
}

/* Runs task(arg) as a coroutine on a new loop, with the k-th allocation
 * armed to fail, while another thread completes p after 2 ms; the
 * completion happens before destroy, which runs whatever the completing
 * thread sent home that the loop has not run yet. Returns whether the
 * armed failure happened; *t is the coroutine's future (the caller's). */
static bool run_completed_elsewhere(long k, spool_task_fn task, void *arg,
				    spool_future *p, spool_future **t)
{
	spool_loop *loop = spool_test_loop_new();
	*t = spool_submit(spool_loop_executor(loop), task, arg);
	ck_assert_ptr_nonnull(*t);
	pthread_t th;
	arm(k);
	ck_assert_int_eq(pthread_create(&th, NULL, complete_main, p), 0);
	bool nomem = false;
	run_until_final(loop, *t, &nomem);
	pthread_join(th, NULL);
	spool_loop_destroy(loop);
	bool f = fired();
	if (nomem)
		ck_assert(f);
	return f;
}

static bool wake_run(long k)
{
	struct awaiter a = {spool_promise_new(), -1, 0};
	spool_future *t;
	bool f = run_completed_elsewhere(k, awaiter_task, &a, a.p, &t);
	if (spool_future_state(t) == SPOOL_FAILED) {
		/* No memory to start the coroutine: it never ran. */
		ck_assert(f);
		ck_assert_int_eq(spool_future_error(t), SPOOL_ENOMEM);
		ck_assert_int_eq(a.rc, -1);
	} else if (a.rc == SPOOL_ENOMEM) {
		/* No memory to register the wait; f untouched. */
		ck_assert(f);
	} else {
		ck_assert_int_eq(a.rc, 0);
		/* Woken by the completion, not by its own timeout: the
		 * wake-up from the completing thread was not lost. */
		ck_assert_int_lt(a.waited_ns, WAKE_TIMEOUT / 2);
	}
	ck_assert_int_eq(spool_future_state(a.p), SPOOL_DONE);
	spool_future_release(a.p);
	spool_future_release(t);
	return f;
}

START_TEST(a_coroutine_woken_from_another_thread_out_of_memory_still_wakes)
{
	ck_assert_int_gt(sweep_upto("loop wake-up", wake_run, 64), 1);
}
END_TEST

/* A coroutine adds a done-callback to a promise that another thread
 * completes, then waits for it. */
struct homing {
	spool_future *p;
	int add_rc;
	pthread_t loop_thread, ran_on;
	atomic_int calls;
};

static void homing_cb(spool_future *f, void *arg)
{
	struct homing *h = arg;
	(void)f;
	h->ran_on = pthread_self();
	atomic_fetch_add(&h->calls, 1);
}

static int homing_task(void *arg, void **result)
{
	struct homing *h = arg;
	h->loop_thread = pthread_self();
	h->add_rc = spool_future_add_callback(h->p, homing_cb, h);
	spool_future_wait(h->p, WAKE_TIMEOUT); /* may fail: no matter */
	*result = h;
	return 0;
}

static bool homing_run(long k)
{
	struct homing h = {.p = spool_promise_new(), .add_rc = -1};
	atomic_init(&h.calls, 0);
	spool_future *t;
	bool f = run_completed_elsewhere(k, homing_task, &h, h.p, &t);
	if (spool_future_state(t) == SPOOL_FAILED) {
		ck_assert(f);
		ck_assert_int_eq(spool_future_error(t), SPOOL_ENOMEM);
		ck_assert_int_eq(h.add_rc, -1); /* never ran */
		ck_assert_int_eq(atomic_load(&h.calls), 0);
	} else if (h.add_rc == SPOOL_ENOMEM) {
		/* Refused at once: nothing added, nothing runs. */
		ck_assert(f);
		ck_assert_int_eq(atomic_load(&h.calls), 0);
	} else {
		/* Added: it ran exactly once, and on the loop's thread, even
		 * if the failed allocation came at the completion. */
		ck_assert_int_eq(h.add_rc, 0);
		ck_assert_int_eq(atomic_load(&h.calls), 1);
		ck_assert(pthread_equal(h.ran_on, h.loop_thread));
	}
	spool_future_release(h.p);
	spool_future_release(t);
	return f;
}

START_TEST(a_callback_added_on_the_loop_runs_there_or_is_refused)
{
	ck_assert_int_gt(sweep_upto("callback homing", homing_run, 64), 1);
}
END_TEST

/* ---- run_in_executor ------------------------------------------------- */

/* Calls of the function run on the pool (reset by each run). */
static atomic_int pool_calls;

/* On the pool: counts its call, then succeeds with arg + 1. */
static int counted_add_one(void *arg, void **result)
{
	atomic_fetch_add(&pool_calls, 1);
	return add_one(arg, result);
}

/* On the pool: counts its call, tells it started, then polls (bounded)
 * for the cancellation request the loop's future passes on; succeeds with
 * arg + 1 whether or not it came, which the run records. */
static atomic_int bridged_started, bridged_saw_cancel;

static int held_add_one(void *arg, void **result)
{
	atomic_fetch_add(&pool_calls, 1);
	atomic_store(&bridged_started, 1);
	int64_t t0 = spool_test_now_ns();
	while (!spool_cancel_requested() && spool_test_now_ns() - t0 < BOUND)
		spool_test_sleep_ns(100 * 1000);
	atomic_store(&bridged_saw_cancel, spool_cancel_requested());
	return add_one(arg, result);
}

struct bridged {
	long k; /* the allocation armed to fail */
	spool_loop *loop;
	spool_executor *pool;
	spool_task_fn fn;
	bool cancel;     /* cancel the future once fn runs */
	spool_future *t; /* the coroutine, or NULL */
	spool_future *f; /* run_in_executor's future (the run's), or NULL */
	int cancel_rc;   /* of spool_future_cancel(f) */
	int wait_rc;     /* of the coroutine's wait for f */
	bool nomem;      /* a run of the loop had no memory */
};

/* A coroutine: hands fn to the pool through the loop, cancels the future
 * once fn runs if asked to, and waits for the future. Blocking the loop's
 * thread while fn starts is harmless: fn runs on the pool. */
static int bridging_task(void *arg, void **result)
{
	struct bridged *b = arg;
	b->f = spool_loop_run_in_executor(b->loop, b->pool, b->fn, &V[1]);
	if (b->f && b->cancel) {
		int64_t t0 = spool_test_now_ns();
		while (!atomic_load(&bridged_started))
			ck_assert_int_lt(spool_test_now_ns() - t0, BOUND);
		b->cancel_rc = spool_future_cancel(b->f);
	}
	if (b->f)
		b->wait_rc = spool_future_wait(b->f, BOUND);
	*result = (char *)arg + 1;
	return 0;
}

/* The loop's side of a run, on a thread of its own: a new thread has no
 * block of task records yet (src/core/slab.c), so its first submission to
 * the pool allocates, and the sweep reaches the submission's failure. */
static void *bridge_loop_main(void *arg)
{
	struct bridged *b = arg;
	b->loop = spool_test_loop_new();
	arm(b->k);
	b->t = spool_submit(spool_loop_executor(b->loop), bridging_task, b);
	if (b->t)
		run_until_final(b->loop, b->t, &b->nomem);
	/* Final already unless the coroutine's wait had no memory: then
	 * the loop completes it here. */
	if (b->f)
		run_until_final(b->loop, b->f, &b->nomem);
	spool_loop_destroy(b->loop);
	return NULL;
}

/* One run: a coroutine on a new loop hands fn to a new 2-worker pool,
 * with the k-th allocation armed to fail; both are destroyed before the
 * checks, so whatever was submitted has run by then. */
static bool bridge_run(long k, spool_task_fn fn, bool cancel)
{
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = 2;
	spool_pool *pool = NULL;
	ck_assert_int_eq(spool_pool_create(&pool, &o), 0);
	struct bridged b = {.k = k,
			    .pool = spool_pool_executor(pool),
			    .fn = fn,
			    .cancel = cancel,
			    .cancel_rc = -1,
			    .wait_rc = -1};
	atomic_store(&pool_calls, 0);
	atomic_store(&bridged_started, 0);
	atomic_store(&bridged_saw_cancel, 0);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, bridge_loop_main, &b), 0);
	pthread_join(th, NULL);
	spool_pool_destroy(pool);
	bool f = fired();
	int calls = atomic_load(&pool_calls);
	int saw_cancel = atomic_load(&bridged_saw_cancel);
	if (b.nomem || !b.t)
		ck_assert(f);
	if (b.t) {
		/* The coroutine never ran (no memory to start it), or ran
		 * to its end. */
		if (check_task(b.t, &b, f))
			ck_assert_int_eq(b.wait_rc, -1);
		spool_future_release(b.t);
	}
	if (!b.f) {
		/* NULL only when out of memory, and nothing was submitted:
		 * the function never ran. */
		ck_assert(f);
		ck_assert_int_eq(calls, 0);
		return f;
	}
	/* The function ran exactly once, and no allocation failure changes
	 * the future's outcome. */
	ck_assert_int_eq(calls, 1);
	ck_assert(b.wait_rc == 0 || (f && b.wait_rc == SPOOL_ENOMEM));
	if (cancel) {
		/* Cancelled while fn ran: the future at once, and fn saw the
		 * request it could poll, then ran to its end. */
		ck_assert_int_eq(b.cancel_rc, 0);
		ck_assert_int_eq(spool_future_state(b.f), SPOOL_CANCELLED);
		ck_assert_int_eq(saw_cancel, 1);
	} else {
		ck_assert_int_eq(spool_future_state(b.f), SPOOL_DONE);
		ck_assert_ptr_eq(spool_future_value(b.f), &V[2]);
	}
	spool_future_release(b.f);
	return f;
}

static bool executor_run(long k)
{
	return bridge_run(k, counted_add_one, false);
}

static bool executor_cancel_run(long k)
{
	return bridge_run(k, held_add_one, true);
}

START_TEST(run_in_executor_out_of_memory_is_null_unsubmitted_or_the_result)
{
	ck_assert_int_gt(sweep_upto("run_in_executor", executor_run, 64), 1);
}
END_TEST

START_TEST(run_in_executor_cancelled_while_running_asks_the_task_to_stop)
{
	ck_assert_int_gt(sweep_upto("run_in_executor cancelled",
				    executor_cancel_run, 64),
			 1);
}
END_TEST

/* ---- a cancel from another thread ------------------------------------ */

/* Sleeps (bounded) until cancelled; records what the sleep returned. */
static int cancellable_task(void *arg, void **result)
{
	int *rc = arg;
	*rc = spool_sleep(BOUND);
	*result = NULL;
	return *rc;
}

struct remote_cancel {
	spool_future *t;
	long k;
	int rc;
	bool fired;
};

static void *remote_cancel_main(void *arg)
{
	struct remote_cancel *r = arg;
	arm(r->k);
	r->rc = spool_future_cancel(r->t);
	r->fired = fired();
	return NULL;
}

/* A coroutine suspended in a sleep is cancelled from another thread, with
 * the k-th allocation armed to fail there (the loop is not running, so
 * only the cancel can allocate). */
static bool remote_cancel_run(long k)
{
	spool_loop *loop = spool_test_loop_new();
	int slept = 1;
	spool_future *t = spool_test_loop_submit(loop, cancellable_task,
						 &slept);
	spool_future *s = spool_test_loop_submit(loop, sleeper, &V[0]);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, s), 0);
	spool_future_release(s);
	ck_assert_int_eq(slept, 1); /* suspended in its sleep */
	struct remote_cancel r = {t, k, -1, false};
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, remote_cancel_main, &r), 0);
	pthread_join(th, NULL);
	/* Accepted whatever the allocator says, and delivered. */
	ck_assert_int_eq(r.rc, 0);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, t),
			 SPOOL_ECANCELLED);
	ck_assert_int_eq(slept, SPOOL_ECANCELLED);
	spool_future_release(t);
	spool_loop_destroy(loop);
	return r.fired;
}

START_TEST(a_cancel_from_another_thread_needs_no_memory_and_is_delivered)
{
	sweep_upto("cancel from another thread", remote_cancel_run, 8);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("loop_oom");
	TCase *tc = spool_test_case("loop_oom", 120);
	tcase_add_test(
		tc, create_out_of_memory_is_enomem_and_leaves_nothing_behind);
	tcase_add_test(
		tc, tasks_out_of_memory_are_null_or_fail_with_enomem_and_end);
	tcase_add_test(
		tc, submit_from_another_thread_out_of_memory_is_null_or_enomem);
	tcase_add_test(tc, callbacks_out_of_memory_are_enomem_and_never_run);
	tcase_add_test(tc,
		       wait_readable_out_of_memory_is_enomem_and_never_hangs);
	tcase_add_test(
		tc,
		a_coroutine_woken_from_another_thread_out_of_memory_still_wakes);
	tcase_add_test(tc,
		       a_callback_added_on_the_loop_runs_there_or_is_refused);
	tcase_add_test(
		tc,
		run_in_executor_out_of_memory_is_null_unsubmitted_or_the_result);
	tcase_add_test(
		tc,
		run_in_executor_cancelled_while_running_asks_the_task_to_stop);
	tcase_add_test(
		tc,
		a_cancel_from_another_thread_needs_no_memory_and_is_delivered);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
