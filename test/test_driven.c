/* SPDX-License-Identifier: MIT */
/*
 * Suite "driven": promises whose plain-thread waiters drive them
 * (spool_promise_new_driven). A plain thread's wait calls the driver's
 * poll until the promise is final, the deadline passes or poll gives up,
 * then leave once; it then sleeps as for any promise and is woken by a
 * completion from another thread. A pool worker's and a coroutine's waits
 * never poll. release runs once, at the last reference. Many threads
 * polling one promise while others complete it lose no wake-up and leave
 * once each.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "core/future_impl.h"
#include "support.h"

#define BOUND (20 * SPOOL_NS_PER_S)

/* A driver whose poll completes the promise in arg after `after` polls
 * (0: never), or gives up after `give_up` polls (0: never). */
struct drv {
	spool_future *f;
	atomic_long polls, leaves, releases;
	long after, give_up;
	_Atomic(pthread_t *) poller; /* the thread of the last poll */
};

static _Thread_local pthread_t me;

static bool drv_poll(void *arg)
{
	struct drv *d = arg;
	long n = atomic_fetch_add(&d->polls, 1) + 1;
	me = pthread_self();
	atomic_store(&d->poller, &me);
	if (d->after && n == d->after)
		ck_assert_int_eq(spool_promise_set_result(d->f, d), 0);
	return !(d->give_up && n >= d->give_up);
}

static void drv_leave(void *arg)
{
	struct drv *d = arg;
	atomic_fetch_add(&d->leaves, 1);
}

static void drv_release(void *arg)
{
	struct drv *d = arg;
	atomic_fetch_add(&d->releases, 1);
}

static const spool_promise_driver driver = {drv_poll, drv_leave, drv_release};

static struct drv *drv_new(long after, long give_up)
{
	struct drv *d = calloc(1, sizeof *d);
	d->after = after;
	d->give_up = give_up;
	d->f = spool_promise_new_driven(&driver, d);
	ck_assert_ptr_nonnull(d->f);
	return d;
}

START_TEST(a_plain_wait_polls_until_its_poll_completes_the_promise)
{
	struct drv *d = drv_new(1000, 0);
	void *v = NULL;
	ck_assert_int_eq(spool_future_result(d->f, BOUND, &v), 0);
	ck_assert_ptr_eq(v, d);
	ck_assert_int_eq(atomic_load(&d->polls), 1000);
	ck_assert_int_eq(atomic_load(&d->leaves), 1);
	ck_assert(pthread_equal(*atomic_load(&d->poller), pthread_self()));
	/* Final now: a second wait returns at once, without a poll. */
	ck_assert_int_eq(spool_future_wait(d->f, SPOOL_FOREVER), 0);
	ck_assert_int_eq(atomic_load(&d->polls), 1000);
	ck_assert_int_eq(atomic_load(&d->releases), 0);
	spool_future_release(d->f);
	ck_assert_int_eq(atomic_load(&d->releases), 1);
	free(d);
}
END_TEST

/* Completes d->f once the waiter has polled until poll said stop and left
 * (or, were it to poll on past the give-up, at its sixth poll), so that the
 * completion finds it past its polls however the threads are scheduled. */
static void *complete_later(void *arg)
{
	struct drv *d = arg;
	int64_t end = spool_test_now_ns() + BOUND;
	while (atomic_load(&d->leaves) == 0 && atomic_load(&d->polls) <= 5 &&
	       spool_test_now_ns() < end)
		spool_test_sleep_ns(SPOOL_NS_PER_MS / 10);
	ck_assert_int_eq(spool_promise_set_error(d->f, 42), 0);
	return NULL;
}

START_TEST(a_wait_whose_poll_gives_up_sleeps_until_another_thread_completes)
{
	struct drv *d = drv_new(0, 5);
	pthread_t t;
	pthread_create(&t, NULL, complete_later, d);
	ck_assert_int_eq(spool_future_wait(d->f, BOUND), 0);
	ck_assert_int_eq(spool_future_error(d->f), 42);
	/* It polled until poll said stop, then slept: no more polls. */
	ck_assert_int_eq(atomic_load(&d->polls), 5);
	ck_assert_int_eq(atomic_load(&d->leaves), 1);
	pthread_join(t, NULL);
	spool_future_release(d->f);
	ck_assert_int_eq(atomic_load(&d->releases), 1);
	free(d);
}
END_TEST

START_TEST(a_wait_that_polls_in_vain_times_out_and_leaves_once)
{
	struct drv *d = drv_new(0, 0);
	int64_t t0 = spool_test_now_ns();
	ck_assert_int_eq(spool_future_wait(d->f, 30 * SPOOL_NS_PER_MS),
			 SPOOL_ETIMEDOUT);
	ck_assert_int_ge(spool_test_now_ns() - t0, 30 * SPOOL_NS_PER_MS);
	ck_assert_int_gt(atomic_load(&d->polls), 0);
	ck_assert_int_eq(atomic_load(&d->leaves), 1);
	ck_assert_int_eq(spool_future_state(d->f), SPOOL_PENDING);
	/* Still a promise: start, cancel requests, completion. */
	ck_assert_int_eq(spool_promise_start(d->f), 0);
	ck_assert_int_eq(spool_future_cancel(d->f), SPOOL_EBUSY);
	ck_assert(spool_future_cancel_requested(d->f));
	ck_assert_int_eq(spool_promise_set_error(d->f, SPOOL_ECANCELLED), 0);
	ck_assert_int_eq(spool_future_state(d->f), SPOOL_CANCELLED);
	ck_assert_int_eq(spool_promise_set_result(d->f, NULL), SPOOL_ESTATE);
	spool_future_release(d->f);
	ck_assert_int_eq(atomic_load(&d->releases), 1);
	free(d);
}
END_TEST

START_TEST(a_pending_driven_promise_cancels_and_callbacks_run)
{
	struct drv *d = drv_new(0, 0);
	spool_future *g = spool_gather(&d->f, 1, 0);
	ck_assert_int_eq(spool_future_cancel(d->f), 0);
	/* The gather's wait is not a driven one: it never polls. */
	ck_assert_int_eq(spool_future_wait(g, BOUND), 0);
	ck_assert_int_eq(spool_future_state(g), SPOOL_CANCELLED);
	ck_assert_int_eq(atomic_load(&d->polls), 0);
	spool_future_release(g);
	spool_future_release(d->f);
	ck_assert_int_eq(atomic_load(&d->releases), 1);
	free(d);
}
END_TEST

static int wait_in_task(void *arg, void **result)
{
	struct drv *d = arg;
	*result = NULL;
	return spool_future_wait(d->f, BOUND);
}

struct loop_side {
	struct drv *d;
	int rc;
};

/* The loop lives on a thread of its own: a coroutine waits there while
 * the test thread completes the promise. */
static void *run_loop(void *arg)
{
	struct loop_side *ls = arg;
	spool_loop *loop;
	ck_assert_int_eq(spool_loop_create(&loop, NULL), 0);
	spool_future *c = spool_submit(spool_loop_executor(loop), wait_in_task,
				       ls->d);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, c), 0);
	ls->rc = spool_future_error(c);
	spool_future_release(c);
	spool_loop_destroy(loop);
	return NULL;
}

START_TEST(pool_workers_and_coroutines_wait_without_polling)
{
	struct drv *d = drv_new(0, 0);
	spool_pool *p;
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = 2;
	ck_assert_int_eq(spool_pool_create(&p, &o), 0);
	spool_future *t = spool_submit(spool_pool_executor(p), wait_in_task, d);
	struct loop_side ls = {d, -1};
	pthread_t lt;
	pthread_create(&lt, NULL, run_loop, &ls);
	/* Both waits begin meanwhile (if not, they find the promise final:
	 * no poll either way). */
	spool_test_sleep_ns(50 * SPOOL_NS_PER_MS);
	ck_assert_int_eq(spool_promise_set_result(d->f, NULL), 0);
	pthread_join(lt, NULL);
	ck_assert_int_eq(spool_future_wait(t, BOUND), 0);
	ck_assert_int_eq(spool_future_error(t), 0);
	ck_assert_int_eq(ls.rc, 0);
	ck_assert_int_eq(atomic_load(&d->polls), 0);
	ck_assert_int_eq(atomic_load(&d->leaves), 0);
	spool_future_release(t);
	spool_pool_destroy(p);
	spool_future_release(d->f);
	ck_assert_int_eq(atomic_load(&d->releases), 1);
	free(d);
}
END_TEST

/* ---- combinators over driven promises ------------------------------------ */

/* One driver for several promises: every `every`-th poll completes the
 * next one, as an MPI engine's pass completes whichever request is done. */
struct shared_drv {
	spool_future *fs[4];
	int n, next;
	long polls, every, leaves;
};

static bool shared_poll(void *arg)
{
	struct shared_drv *d = arg;
	if (++d->polls % d->every == 0 && d->next < d->n) {
		int i = d->next++;
		ck_assert_int_eq(spool_promise_set_result(
					 d->fs[i], (void *)(intptr_t)(i + 1)),
				 0);
	}
	return true;
}

static void shared_leave(void *arg)
{
	((struct shared_drv *)arg)->leaves++;
}

static const spool_promise_driver shared_driver = {shared_poll, shared_leave,
						   NULL};

static void shared_make(struct shared_drv *d, int n)
{
	*d = (struct shared_drv){.n = n, .every = 100};
	for (int i = 0; i < n; i++)
		d->fs[i] = spool_promise_new_driven(&shared_driver, d);
}

static void shared_free(struct shared_drv *d)
{
	for (int i = 0; i < d->n; i++)
		spool_future_release(d->fs[i]);
}

START_TEST(plain_waits_on_combinators_over_driven_promises_drive_them)
{
	struct shared_drv d;
	/* gather: polls until all three are done */
	shared_make(&d, 3);
	spool_future *g = spool_gather(d.fs, 3, 0);
	ck_assert_int_eq(spool_future_wait(g, BOUND), 0);
	ck_assert_int_eq(spool_future_state(g), SPOOL_DONE);
	ck_assert_int_eq(d.next, 3);
	ck_assert_int_eq(d.polls, 300);
	ck_assert_int_eq(d.leaves, 1);
	spool_future_release(g);
	shared_free(&d);
	/* spool_wait, FIRST_COMPLETED: polls until the first */
	shared_make(&d, 3);
	bool done[3];
	size_t nd = 0, np = 0;
	ck_assert_int_eq(spool_wait(d.fs, 3, SPOOL_FIRST_COMPLETED, BOUND, done,
				    &nd, &np),
			 0);
	ck_assert_uint_eq(nd, 1);
	ck_assert(done[0] && !done[1] && !done[2]);
	ck_assert_int_eq(d.polls, 100);
	ck_assert_int_eq(d.leaves, 1);
	ck_assert_int_eq(spool_promise_set_result(d.fs[1], NULL), 0);
	ck_assert_int_eq(spool_promise_set_result(d.fs[2], NULL), 0);
	shared_free(&d);
	/* as_completed: each next() drives until one more is done */
	shared_make(&d, 3);
	spool_as_completed *it;
	ck_assert_int_eq(spool_as_completed_create(&it, d.fs, 3, BOUND), 0);
	spool_future *f;
	size_t idx;
	for (int k = 0; k < 3; k++) {
		ck_assert_int_eq(spool_as_completed_next(it, &f, &idx), 0);
		ck_assert_uint_eq(idx, (size_t)k);
		ck_assert_int_eq(d.polls, 100 * (k + 1));
	}
	ck_assert_int_eq(d.leaves, 3);
	spool_as_completed_destroy(it);
	shared_free(&d);
}
END_TEST

struct later {
	spool_future **fs;
	int n;
	spool_future *g; /* the future the test thread waits on */
	struct drv *d;   /* the driven input's driver */
};

/* Once the test thread is in its wait on g, either polling the driven
 * input or asleep on g's futex, completes fs[n-1] (the driven one), then
 * the others: a completion before the wait began would leave it nothing to
 * poll, and its poll count would say nothing. */
static void *complete_later_all(void *arg)
{
	struct later *l = arg;
	int64_t end = spool_test_now_ns() + BOUND;
	while (atomic_load(&l->d->polls) == 0 &&
	       !(atomic_load(&l->g->state) & SPOOL__WAITERS) &&
	       spool_test_now_ns() < end)
		spool_test_sleep_ns(SPOOL_NS_PER_MS / 10);
	for (int i = l->n - 1; i >= 0; i--)
		ck_assert_int_eq(spool_promise_set_result(l->fs[i], NULL), 0);
	return NULL;
}

/* A combinator looks for a driven input among its first
 * SPOOL__DRIVEN_LOOKS pending inputs only (a wait on a gather of 100,000
 * pool tasks must not scan them all): behind as many pending plain
 * promises, the driven one is not found and the wait sleeps until another
 * thread completes everything; in front of them, it is found and polled. */
START_TEST(combinators_look_for_a_driven_input_among_the_first_pending_ones)
{
	enum { PLAIN = SPOOL__DRIVEN_LOOKS };
	for (int front = 0; front < 2; front++) {
		spool_future *fs[PLAIN];
		struct drv *d = drv_new(0, 0);
		for (int i = 0; i < PLAIN; i++)
			fs[i] = spool_promise_new();
		/* The gather's inputs: the driven one first or last. The
		 * completer's order: the driven one first. */
		spool_future *order[PLAIN + 1];
		for (int i = 0; i < PLAIN; i++)
			order[i] = fs[i];
		order[PLAIN] = d->f;
		spool_future *in[PLAIN + 1];
		for (int i = 0; i < PLAIN + 1; i++)
			in[i] = front ? (i == 0 ? d->f : fs[i - 1])
				      : (i == PLAIN ? d->f : fs[i]);
		spool_future *g = spool_gather(in, PLAIN + 1,
					       SPOOL_RETURN_ERRORS);
		struct later l = {order, PLAIN + 1, g, d};
		pthread_t t;
		pthread_create(&t, NULL, complete_later_all, &l);
		ck_assert_int_eq(spool_future_wait(g, BOUND), 0);
		pthread_join(t, NULL);
		ck_assert_int_eq(spool_future_state(g), SPOOL_DONE);
		if (front)
			ck_assert_int_gt(atomic_load(&d->polls), 0);
		else
			ck_assert_int_eq(atomic_load(&d->polls), 0);
		spool_future_release(g);
		for (int i = 0; i < PLAIN; i++)
			spool_future_release(fs[i]);
		spool_future_release(d->f);
		free(d);
	}
}
END_TEST

/* ---- races -------------------------------------------------------------- */

enum { WAITERS = 6, ROUNDS = 300 };

/* A shared driver: poll counts, gives up after a few polls on odd
 * rounds (so those waiters sleep), and never completes; a completer
 * thread does, at a random moment. */
struct race {
	spool_future *f;
	atomic_long polls, leaves, waits_polled;
	atomic_int round;
};

static _Thread_local bool polled_this_wait;

static bool race_poll(void *arg)
{
	struct race *r = arg;
	long n = atomic_fetch_add(&r->polls, 1);
	polled_this_wait = true;
	return (atomic_load(&r->round) & 1) == 0 || n % 8 != 7;
}

static void race_leave(void *arg)
{
	struct race *r = arg;
	atomic_fetch_add(&r->leaves, 1);
}

static const spool_promise_driver race_driver = {race_poll, race_leave, NULL};

struct race_waiter {
	struct race *r;
	pthread_barrier_t *start, *end;
	int fails;
};

static void *race_wait(void *arg)
{
	struct race_waiter *w = arg;
	for (int i = 0; i < ROUNDS; i++) {
		pthread_barrier_wait(w->start);
		polled_this_wait = false;
		if (spool_future_wait(w->r->f, BOUND) != 0 ||
		    !spool_future_done(w->r->f))
			w->fails++;
		if (polled_this_wait)
			atomic_fetch_add(&w->r->waits_polled, 1);
		pthread_barrier_wait(w->end);
	}
	return NULL;
}

START_TEST(many_pollers_and_a_completer_lose_no_wakeup_and_leave_once_each)
{
	struct race r = {0};
	pthread_barrier_t start, end;
	pthread_barrier_init(&start, NULL, WAITERS + 1);
	pthread_barrier_init(&end, NULL, WAITERS + 1);
	struct race_waiter w[WAITERS];
	pthread_t t[WAITERS];
	r.f = spool_promise_new_driven(&race_driver, &r);
	for (int i = 0; i < WAITERS; i++) {
		w[i] = (struct race_waiter){&r, &start, &end, 0};
		pthread_create(&t[i], NULL, race_wait, &w[i]);
	}
	unsigned seed = 12345;
	for (int i = 0; i < ROUNDS; i++) {
		atomic_store(&r.round, i);
		pthread_barrier_wait(&start);
		for (volatile int k = rand_r(&seed) % 2000; k > 0; k--)
			;
		ck_assert_int_eq(spool_promise_set_result(r.f, NULL), 0);
		pthread_barrier_wait(&end);
		spool_future_release(r.f);
		r.f = spool_promise_new_driven(&race_driver, &r);
	}
	for (int i = 0; i < WAITERS; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(w[i].fails, 0);
	}
	spool_future_release(r.f);
	ck_assert_int_eq(atomic_load(&r.leaves), atomic_load(&r.waits_polled));
	pthread_barrier_destroy(&start);
	pthread_barrier_destroy(&end);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("driven");
	TCase *tc = spool_test_case("driven", 120);
	tcase_add_test(tc,
		       a_plain_wait_polls_until_its_poll_completes_the_promise);
	tcase_add_test(
		tc,
		a_wait_whose_poll_gives_up_sleeps_until_another_thread_completes);
	tcase_add_test(tc, a_wait_that_polls_in_vain_times_out_and_leaves_once);
	tcase_add_test(tc, a_pending_driven_promise_cancels_and_callbacks_run);
	tcase_add_test(tc, pool_workers_and_coroutines_wait_without_polling);
	tcase_add_test(
		tc, plain_waits_on_combinators_over_driven_promises_drive_them);
	tcase_add_test(
		tc,
		combinators_look_for_a_driven_input_among_the_first_pending_ones);
	tcase_add_test(
		tc,
		many_pollers_and_a_completer_lose_no_wakeup_and_leave_once_each);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
