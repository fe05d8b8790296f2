/* SPDX-License-Identifier: MIT */
/* Suite "deadlock": waits that can never finish on the waiting thread return
 * SPOOL_EDEADLK instead of hanging, and waits that could still finish are
 * never refused.
 *
 *   - On a loop's thread after spool_loop_run() returned with a coroutine
 *     suspended (the loop is stranded there: only that thread may run it),
 *     a wait without a deadline on one of its tasks, or on any combinator
 *     that needs one, is SPOOL_EDEADLK; a wait that another future could
 *     still end waits for it.
 *   - A pool task that waits on its own future, on a task running beneath
 *     it on its worker, or joins its own group, gets SPOOL_EDEADLK.
 *
 * The waits that used to hang run on a helper thread joined with a bound
 * (or, in a pool task, are waited for with a timeout), so that a
 * regression fails the test instead of hanging the suite. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "support.h"

#define MS SPOOL_NS_PER_MS
#define BOUND_S 20 /* a helper thread that takes longer hung */

/* Runs fn(arg) on a new thread with a stack of `stack` bytes (0: the
 * default) and fails if it does not end in time. */
static void run_bounded_stack(void *(*fn)(void *), void *arg, size_t stack)
{
	pthread_t th;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	if (stack)
		pthread_attr_setstacksize(&attr, stack);
	ck_assert_int_eq(pthread_create(&th, &attr, fn, arg), 0);
	pthread_attr_destroy(&attr);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += BOUND_S;
	int rc = pthread_timedjoin_np(th, NULL, &ts);
	ck_assert_msg(rc == 0, "a wait that can never finish hung instead of "
			       "returning SPOOL_EDEADLK");
}

static void run_bounded(void *(*fn)(void *), void *arg)
{
	run_bounded_stack(fn, arg, 0);
}

/* ---- a stranded loop -------------------------------------------------- */

/* A loop whose thread left it with one coroutine suspended at an await. */
struct stranded {
	spool_loop *loop;
	spool_future *gate;  /* the promise the coroutine awaits */
	spool_future *ready; /* set by the coroutine just before it awaits */
	spool_future *coro;  /* its task */
};

static int await_gate(void *arg, void **result)
{
	struct stranded *s = arg;
	(void)result;
	spool_promise_set_result(s->ready, NULL);
	return spool_future_wait(s->gate, SPOOL_FOREVER);
}

/* On the calling thread: makes the loop and leaves it stranded. */
static int strand(struct stranded *s)
{
	if (spool_loop_create(&s->loop, NULL) != 0)
		return -100;
	s->gate = spool_promise_new();
	s->ready = spool_promise_new();
	s->coro = spool_submit(spool_loop_executor(s->loop), await_gate, s);
	return spool_loop_run_until_complete(s->loop, s->ready);
}

/* On the same thread: lets the coroutine finish and frees everything. */
static void unstrand(struct stranded *s)
{
	spool_promise_set_result(s->gate, NULL);
	spool_loop_run_until_complete(s->loop, s->coro);
	spool_future_release(s->coro);
	spool_future_release(s->gate);
	spool_future_release(s->ready);
	spool_loop_destroy(s->loop);
}

static int nothing(void *arg, void **result)
{
	(void)arg, (void)result;
	return 0;
}

/* Sleeps ms milliseconds, then returns its code: a pool task. */
struct later {
	int64_t ms;
	int rc;
};

static int sleep_then_return(void *arg, void **result)
{
	struct later *l = arg;
	(void)result;
	spool_test_sleep_ns(l->ms * MS);
	return l->rc;
}

/* Completes a promise from another thread after a delay. */
struct setter {
	spool_future *p;
	int64_t ms;
	int err; /* 0: a result */
	pthread_t th;
};

static void *set_later(void *arg)
{
	struct setter *s = arg;
	spool_test_sleep_ns(s->ms * MS);
	if (s->err)
		spool_promise_set_error(s->p, s->err);
	else
		spool_promise_set_result(s->p, NULL);
	return NULL;
}

static void setter_start(struct setter *s)
{
	pthread_create(&s->th, NULL, set_later, s);
}

/* ---- loop: the task itself -------------------------------------------- */

struct own {
	int strand_rc;
	int wait_rc, result_rc, timed_rc, poll_rc;
	int never_rc; /* a task submitted after the loop returned */
	int after_rc; /* the same once the loop is no longer stranded */
	int unstuck;  /* the stranded coroutine after a later run */
	int other_rc; /* a promise completed elsewhere, on the same thread */
};

static void *own_thread(void *arg)
{
	struct own *o = arg;
	struct stranded s = {0};
	o->strand_rc = strand(&s);
	o->wait_rc = spool_future_wait(s.coro, SPOOL_FOREVER);
	o->result_rc = spool_future_result(s.coro, SPOOL_FOREVER, NULL);
	o->timed_rc = spool_future_wait(s.coro, 2 * MS);
	o->poll_rc = spool_future_wait(s.coro, 0);
	/* A wait another thread can end is not refused on this thread. */
	struct setter st = {spool_promise_new(), 20, 0, 0};
	setter_start(&st);
	o->other_rc = spool_future_wait(st.p, SPOOL_FOREVER);
	pthread_join(st.th, NULL);
	spool_future_release(st.p);
	/* A task that never ran. */
	spool_future *b = spool_submit(spool_loop_executor(s.loop), nothing,
				       NULL);
	o->never_rc = spool_future_wait(b, SPOOL_FOREVER);
	spool_promise_set_result(s.gate, NULL);
	o->unstuck = spool_loop_run_until_complete(s.loop, s.coro);
	spool_future_release(b);
	unstrand(&s);
	return NULL;
}

START_TEST(a_wait_on_a_suspended_coroutine_after_its_loop_returned_is_edeadlk)
{
	struct own o = {0};
	run_bounded(own_thread, &o);
	ck_assert_int_eq(o.strand_rc, 0);
	ck_assert_int_eq(o.wait_rc, SPOOL_EDEADLK);
	ck_assert_int_eq(o.result_rc, SPOOL_EDEADLK);
	/* With a deadline the wait does finish: it times out. */
	ck_assert_int_eq(o.timed_rc, SPOOL_ETIMEDOUT);
	ck_assert_int_eq(o.poll_rc, SPOOL_ETIMEDOUT);
	ck_assert_int_eq(o.other_rc, 0);
	ck_assert_int_eq(o.never_rc, SPOOL_EDEADLK);
	ck_assert_int_eq(o.unstuck, 0);
}
END_TEST

/* ---- loop: a loop another thread may run is not refused --------------- */

struct handover {
	spool_loop *loop;
	spool_future *task;
	pthread_t th;
	int strand_rc, stranded_rc, run_rc, wait_rc;
};

static void *run_loop_later(void *arg)
{
	struct handover *h = arg;
	spool_test_sleep_ns(20 * MS);
	h->run_rc = spool_loop_run_until_complete(h->loop, h->task);
	return NULL;
}

static void *handover_thread(void *arg)
{
	struct handover *h = arg;
	struct stranded s = {0};
	h->strand_rc = strand(&s);
	spool_future *t = spool_submit(spool_loop_executor(s.loop), nothing,
				       NULL);
	h->stranded_rc = spool_future_wait(t, SPOOL_FOREVER);
	/* The coroutine finishes: no coroutine is suspended any more, so any
	 * thread may run the loop next, and the same wait is not refused. */
	spool_promise_set_result(s.gate, NULL);
	spool_loop_run_until_complete(s.loop, s.coro);
	h->loop = s.loop;
	h->task = t;
	pthread_create(&h->th, NULL, run_loop_later, h);
	h->wait_rc = spool_future_wait(t, SPOOL_FOREVER);
	pthread_join(h->th, NULL);
	spool_future_release(t);
	unstrand(&s);
	return NULL;
}

START_TEST(a_task_that_never_ran_is_edeadlk_only_while_its_loop_is_stranded)
{
	struct handover h = {0};
	run_bounded(handover_thread, &h);
	ck_assert_int_eq(h.strand_rc, 0);
	ck_assert_int_eq(h.stranded_rc, SPOOL_EDEADLK);
	ck_assert_int_eq(h.wait_rc, 0);
	ck_assert_int_eq(h.run_rc, 0);
}
END_TEST

/* ---- loop: combinators ------------------------------------------------ */

struct comb {
	int strand_rc;
	int gather_rc, gather_all_rc, gather_failing_rc, gather_late_rc;
	int gather_failing_err;
	int wait_all_rc, wait_first_rc, wait_first_pool_rc, wait_first_idx;
	int wait_exc_fail_rc, wait_exc_ok_rc;
	spool_pool *pool;
};

static void *comb_thread(void *arg)
{
	struct comb *c = arg;
	struct stranded s = {0};
	c->strand_rc = strand(&s);
	spool_executor *pool = spool_pool_executor(c->pool);

	/* gather, failing fast: the stuck task alone, ... */
	spool_future *g = spool_gather(&s.coro, 1, 0);
	c->gather_rc = spool_future_wait(g, SPOOL_FOREVER);
	spool_future_release(g);
	/* ... beside one that fails later: the failure ends it, ... */
	struct setter st = {spool_promise_new(), 20, 7, 0};
	spool_future *in[2] = {s.coro, st.p};
	g = spool_gather(in, 2, 0);
	setter_start(&st);
	c->gather_failing_rc = spool_future_wait(g, SPOOL_FOREVER);
	c->gather_failing_err = spool_future_error(g);
	pthread_join(st.th, NULL);
	spool_future_release(g);
	spool_future_release(st.p);
	/* ... beside one that succeeds later: then nothing can end it. */
	st = (struct setter){spool_promise_new(), 20, 0, 0};
	in[1] = st.p;
	g = spool_gather(in, 2, 0);
	setter_start(&st);
	c->gather_late_rc = spool_future_wait(g, SPOOL_FOREVER);
	pthread_join(st.th, NULL);
	spool_future_release(g);
	spool_future_release(st.p);
	/* Returning errors, it needs every child. */
	spool_future *done = spool_promise_new();
	spool_promise_set_result(done, NULL);
	in[1] = done;
	g = spool_gather(in, 2, SPOOL_RETURN_ERRORS);
	c->gather_all_rc = spool_future_wait(g, SPOOL_FOREVER);
	spool_future_release(g);

	/* spool_wait */
	c->wait_all_rc = spool_wait(in, 2, SPOOL_ALL_COMPLETED, SPOOL_FOREVER,
				    NULL, NULL, NULL);
	c->wait_first_rc = spool_wait(&s.coro, 1, SPOOL_FIRST_COMPLETED,
				      SPOOL_FOREVER, NULL, NULL, NULL);
	/* FIRST_COMPLETED beside a pool task: the pool task satisfies it. */
	struct later l = {20, 0};
	in[1] = spool_submit(pool, sleep_then_return, &l);
	bool d[2] = {false, false};
	c->wait_first_pool_rc = spool_wait(in, 2, SPOOL_FIRST_COMPLETED,
					   SPOOL_FOREVER, d, NULL, NULL);
	c->wait_first_idx = d[1] && !d[0];
	spool_future_release(in[1]);
	/* FIRST_EXCEPTION: a pool task that fails ends it; one that succeeds
	 * leaves only the stuck task. */
	l = (struct later){20, 5};
	in[1] = spool_submit(pool, sleep_then_return, &l);
	c->wait_exc_fail_rc = spool_wait(in, 2, SPOOL_FIRST_EXCEPTION,
					 SPOOL_FOREVER, NULL, NULL, NULL);
	spool_future_release(in[1]);
	struct later l2 = {20, 0};
	in[1] = spool_submit(pool, sleep_then_return, &l2);
	c->wait_exc_ok_rc = spool_wait(in, 2, SPOOL_FIRST_EXCEPTION,
				       SPOOL_FOREVER, NULL, NULL, NULL);
	spool_future_wait(in[1], SPOOL_FOREVER);
	spool_future_release(in[1]);

	spool_future_release(done);
	unstrand(&s);
	return NULL;
}

START_TEST(
	gather_and_wait_on_a_stranded_loop_task_are_edeadlk_when_nothing_else_can_end_them)
{
	struct comb c = {0};
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = 2;
	ck_assert_int_eq(spool_pool_create(&c.pool, &o), 0);
	run_bounded(comb_thread, &c);
	spool_pool_destroy(c.pool);
	ck_assert_int_eq(c.strand_rc, 0);
	ck_assert_int_eq(c.gather_rc, SPOOL_EDEADLK);
	ck_assert_int_eq(c.gather_failing_rc, 0);
	ck_assert_int_eq(c.gather_failing_err, 7);
	ck_assert_int_eq(c.gather_late_rc, SPOOL_EDEADLK);
	ck_assert_int_eq(c.gather_all_rc, SPOOL_EDEADLK);
	ck_assert_int_eq(c.wait_all_rc, SPOOL_EDEADLK);
	ck_assert_int_eq(c.wait_first_rc, SPOOL_EDEADLK);
	ck_assert_int_eq(c.wait_first_pool_rc, 0);
	ck_assert_int_eq(c.wait_first_idx, 1);
	ck_assert_int_eq(c.wait_exc_fail_rc, 0);
	ck_assert_int_eq(c.wait_exc_ok_rc, SPOOL_EDEADLK);
}
END_TEST

/* Many rounds in which the other input completes on another thread just
 * as the wait looks: it must never be taken for stuck, whether its
 * completion is seen or only its callback is still on its way. */
enum { RACE_ROUNDS = 300 };

struct race {
	spool_pool *pool;
	int strand_rc;
	int refused; /* waits that wrongly returned SPOOL_EDEADLK */
	int other;   /* waits that returned anything else but 0 */
	int alone_rc;
};

static int fail_at_once(void *arg, void **result)
{
	(void)arg, (void)result;
	return 9;
}

static void count(struct race *r, int rc)
{
	if (rc == SPOOL_EDEADLK)
		r->refused++;
	else if (rc != 0)
		r->other++;
}

static void *race_thread(void *arg)
{
	struct race *r = arg;
	struct stranded s = {0};
	r->strand_rc = strand(&s);
	spool_executor *pool = spool_pool_executor(r->pool);
	for (int i = 0; i < RACE_ROUNDS; i++) {
		spool_future *in[2] = {s.coro,
				       spool_submit(pool, nothing, NULL)};
		count(r, spool_wait(in, 2, SPOOL_FIRST_COMPLETED, SPOOL_FOREVER,
				    NULL, NULL, NULL));
		spool_future_release(in[1]);

		in[1] = spool_submit(pool, fail_at_once, NULL);
		spool_future *g = spool_gather(in, 2, 0);
		count(r, spool_future_wait(g, SPOOL_FOREVER));
		spool_future_release(g);
		spool_future_release(in[1]);

		in[1] = spool_submit(pool, nothing, NULL);
		spool_as_completed *it = NULL;
		spool_as_completed_create(&it, in, 2, SPOOL_FOREVER);
		spool_future *f = NULL;
		count(r, spool_as_completed_next(it, &f, NULL));
		spool_as_completed_destroy(it);
		spool_future_release(in[1]);
	}
	r->alone_rc = spool_wait(&s.coro, 1, SPOOL_FIRST_COMPLETED,
				 SPOOL_FOREVER, NULL, NULL, NULL);
	unstrand(&s);
	return NULL;
}

START_TEST(a_wait_for_the_first_is_never_refused_while_another_input_completes)
{
	struct race r = {0};
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = 2;
	ck_assert_int_eq(spool_pool_create(&r.pool, &o), 0);
	run_bounded(race_thread, &r);
	spool_pool_destroy(r.pool);
	ck_assert_int_eq(r.strand_rc, 0);
	ck_assert_int_eq(r.refused, 0);
	ck_assert_int_eq(r.other, 0);
	ck_assert_int_eq(r.alone_rc, SPOOL_EDEADLK);
}
END_TEST

/* Gathers nested deeper than the check follows, over a promise another
 * thread completes: the check must neither refuse the wait nor run out of
 * stack on the way down, on a thread with a stack of 1 MiB (one that
 * followed every level would need several). */
enum { DEEP = 100000 };

struct deep {
	int strand_rc, wait_rc;
	bool built;
};

static void *deep_thread(void *arg)
{
	struct deep *d = arg;
	struct stranded s = {0};
	d->strand_rc = strand(&s);
	struct setter st = {spool_promise_new(), 50, 0, 0};
	spool_future *g = spool_future_retain(st.p);
	d->built = true;
	for (int i = 0; i < DEEP && d->built; i++) {
		spool_future *up = spool_gather(&g, 1, 0);
		spool_future_release(g);
		g = up;
		d->built = g != NULL;
	}
	if (d->built) {
		setter_start(&st);
		d->wait_rc = spool_future_wait(g, SPOOL_FOREVER);
		pthread_join(st.th, NULL);
	}
	spool_future_release(g);
	spool_future_release(st.p);
	unstrand(&s);
	return NULL;
}

START_TEST(
	a_wait_on_gathers_nested_deeper_than_the_check_follows_is_not_refused)
{
	struct deep d = {0};
	run_bounded_stack(deep_thread, &d, (size_t)1 << 20);
	ck_assert_int_eq(d.strand_rc, 0);
	ck_assert(d.built);
	ck_assert_int_eq(d.wait_rc, 0);
}
END_TEST

struct iter {
	int strand_rc, first_rc, second_rc, third_rc, eof_rc;
	size_t first_idx, second_idx;
	int wait_for_rc, wait_for_timed_rc, wait_for_new_rc;
	bool wait_for_final;
	spool_pool *pool;
};

static void *iter_thread(void *arg)
{
	struct iter *c = arg;
	struct stranded s = {0};
	c->strand_rc = strand(&s);

	/* as_completed: what is final comes first, a pool task still comes
	 * when it completes, and then only the stuck task is left. */
	spool_future *done = spool_promise_new();
	spool_promise_set_result(done, NULL);
	struct later l = {20, 0};
	spool_future *t = spool_submit(spool_pool_executor(c->pool),
				       sleep_then_return, &l);
	spool_future *in[3] = {s.coro, done, t};
	spool_as_completed *it = NULL;
	spool_as_completed_create(&it, in, 3, SPOOL_FOREVER);
	spool_future *f;
	c->first_rc = spool_as_completed_next(it, &f, &c->first_idx);
	c->second_rc = spool_as_completed_next(it, &f, &c->second_idx);
	c->third_rc = spool_as_completed_next(it, &f, NULL);

	/* wait_for without a deadline; with one, the settle after the cancel
	 * can never finish either (the cancel waits in the inbox). */
	c->wait_for_rc = spool_wait_for(s.coro, SPOOL_FOREVER, NULL);
	c->wait_for_timed_rc = spool_wait_for(s.coro, 2 * MS, NULL);
	c->wait_for_final = spool_future_done(s.coro);
	/* A task that never ran is cancelled for good at once. */
	spool_future *b = spool_submit(spool_loop_executor(s.loop), nothing,
				       NULL);
	c->wait_for_new_rc = spool_wait_for(b, 2 * MS, NULL);

	unstrand(&s);
	/* Every input final now: the iteration ends. */
	c->eof_rc = spool_as_completed_next(it, &f, NULL);
	if (c->eof_rc == 0)
		c->eof_rc = spool_as_completed_next(it, &f, NULL);
	spool_as_completed_destroy(it);
	spool_future_release(b);
	spool_future_release(t);
	spool_future_release(done);
	return NULL;
}

START_TEST(as_completed_and_wait_for_on_a_stranded_loop_task_are_edeadlk)
{
	struct iter c = {0};
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = 2;
	ck_assert_int_eq(spool_pool_create(&c.pool, &o), 0);
	run_bounded(iter_thread, &c);
	spool_pool_destroy(c.pool);
	ck_assert_int_eq(c.strand_rc, 0);
	ck_assert_int_eq(c.first_rc, 0);
	ck_assert_uint_eq(c.first_idx, 1);
	ck_assert_int_eq(c.second_rc, 0);
	ck_assert_uint_eq(c.second_idx, 2);
	ck_assert_int_eq(c.third_rc, SPOOL_EDEADLK);
	ck_assert_int_eq(c.eof_rc, SPOOL_EOF);
	ck_assert_int_eq(c.wait_for_rc, SPOOL_EDEADLK);
	ck_assert_int_eq(c.wait_for_timed_rc, SPOOL_EDEADLK);
	ck_assert(!c.wait_for_final);
	ck_assert_int_eq(c.wait_for_new_rc, SPOOL_ETIMEDOUT);
}
END_TEST

struct gm {
	int strand_rc, join_rc, join_after_rc, map_rc, map_after_rc;
	size_t map_n;
};

static void *group_map_thread(void *arg)
{
	struct gm *c = arg;
	struct stranded s = {0};
	c->strand_rc = strand(&s);
	spool_executor *ex = spool_loop_executor(s.loop);

	spool_group *g = NULL;
	spool_group_create(&g, ex, 0);
	spool_future *t1 = NULL, *t2 = NULL;
	spool_group_spawn(g, nothing, NULL, &t1);
	spool_group_spawn(g, nothing, NULL, &t2);
	c->join_rc = spool_group_join(g, SPOOL_FOREVER);
	spool_loop_run_until_complete(s.loop, t1);
	spool_loop_run_until_complete(s.loop, t2);
	c->join_after_rc = spool_group_join(g, SPOOL_FOREVER);
	spool_group_destroy(g);
	spool_future_release(t1);
	spool_future_release(t2);

	void *args[3] = {NULL, NULL, NULL};
	spool_future *m = spool_map(ex, nothing, args, 3, 2);
	c->map_rc = spool_future_wait(m, SPOOL_FOREVER);
	spool_loop_run_until_complete(s.loop, m);
	c->map_after_rc = spool_future_error(m);
	c->map_n = spool_gather_size(m);
	spool_future_release(m);

	unstrand(&s);
	return NULL;
}

START_TEST(group_join_and_map_on_a_stranded_loop_are_edeadlk)
{
	struct gm c = {0};
	run_bounded(group_map_thread, &c);
	ck_assert_int_eq(c.strand_rc, 0);
	ck_assert_int_eq(c.join_rc, SPOOL_EDEADLK);
	ck_assert_int_eq(c.join_after_rc, 0);
	ck_assert_int_eq(c.map_rc, SPOOL_EDEADLK);
	ck_assert_int_eq(c.map_after_rc, 0);
	ck_assert_uint_eq(c.map_n, 3);
}
END_TEST

/* ---- pool ------------------------------------------------------------- */

struct selfwait {
	int forever_rc, timed_rc, first_rc, all_rc;
	spool_future *p; /* a promise the test completes */
};

static int wait_on_itself(void *arg, void **result)
{
	struct selfwait *s = arg;
	(void)result;
	spool_future *me = spool_current_future();
	s->forever_rc = spool_future_wait(me, SPOOL_FOREVER);
	s->timed_rc = spool_future_wait(me, 2 * MS);
	/* Itself or another: the other may come first; both it may not. */
	spool_future *in[2] = {me, s->p};
	s->first_rc = spool_wait(in, 2, SPOOL_FIRST_COMPLETED, SPOOL_FOREVER,
				 NULL, NULL, NULL);
	s->all_rc = spool_wait(in, 2, SPOOL_ALL_COMPLETED, SPOOL_FOREVER, NULL,
			       NULL, NULL);
	return 0;
}

START_TEST(a_pool_task_waiting_on_its_own_future_is_edeadlk)
{
	spool_pool *pool = spool_test_pool_new(2);
	struct selfwait s = {0, 0, 0, 0, spool_promise_new()};
	struct setter st = {s.p, 20, 0, 0};
	setter_start(&st);
	spool_future *f = spool_submit(spool_pool_executor(pool),
				       wait_on_itself, &s);
	ck_assert_int_eq(spool_future_wait(f, BOUND_S * SPOOL_NS_PER_S), 0);
	pthread_join(st.th, NULL);
	ck_assert_int_eq(spool_future_error(f), 0);
	ck_assert_int_eq(s.forever_rc, SPOOL_EDEADLK);
	ck_assert_int_eq(s.timed_rc, SPOOL_ETIMEDOUT);
	ck_assert_int_eq(s.first_rc, 0);
	ck_assert_int_eq(s.all_rc, SPOOL_EDEADLK);
	spool_future_release(f);
	spool_future_release(s.p);
	spool_pool_destroy(pool);
}
END_TEST

/* On a pool of one, the parent waits for its child, so the worker runs the
 * child inside the parent's wait: the child waiting on its parent waits on
 * a task beneath it on its own thread. */
struct nested {
	spool_executor *ex;
	spool_future *parent;
	int child_rc, parent_rc;
};

static int child_waits_on_parent(void *arg, void **result)
{
	struct nested *n = arg;
	(void)result;
	n->child_rc = spool_future_wait(n->parent, SPOOL_FOREVER);
	return 0;
}

static int parent_waits_on_child(void *arg, void **result)
{
	struct nested *n = arg;
	(void)result;
	n->parent = spool_current_future();
	spool_future *c = spool_submit(n->ex, child_waits_on_parent, n);
	n->parent_rc = spool_future_wait(c, SPOOL_FOREVER);
	spool_future_release(c);
	return 0;
}

/* wait_for on a task beneath the caller on its worker: the cancel can
 * only raise A's flag (A runs, waiting), and the settling wait after it
 * would wait for A, which resumes only after the caller returns. */
struct beneath {
	spool_future *gate, *a;
	atomic_int a_waiting;
	int c_rc;
};

static int beneath_a(void *arg, void **result)
{
	struct beneath *b = arg;
	*result = NULL;
	atomic_store(&b->a_waiting, 1);
	return spool_future_wait(b->gate, 20 * SPOOL_NS_PER_S);
}

static int beneath_c(void *arg, void **result)
{
	struct beneath *b = arg;
	void *v;
	*result = NULL;
	b->c_rc = spool_wait_for(b->a, SPOOL_NS_PER_S / 1000, &v);
	return 0;
}

START_TEST(wait_for_on_a_task_beneath_it_on_its_worker_is_edeadlk)
{
	spool_pool *pool = spool_test_pool_new(1);
	spool_executor *ex = spool_pool_executor(pool);
	struct beneath b = {.gate = spool_promise_new(), .c_rc = 99};
	atomic_init(&b.a_waiting, 0);
	b.a = spool_submit(ex, beneath_a, &b);
	while (!atomic_load(&b.a_waiting))
		sched_yield();
	/* A waits, so the one worker helps: it runs C on top of A. */
	spool_future *c = spool_submit(ex, beneath_c, &b);
	ck_assert_int_eq(spool_future_wait(c, SPOOL_FOREVER), 0);
	ck_assert_int_eq(b.c_rc, SPOOL_EDEADLK);
	spool_promise_set_result(b.gate, NULL);
	ck_assert_int_eq(spool_future_wait(b.a, SPOOL_FOREVER), 0);
	spool_future_release(c);
	spool_future_release(b.a);
	spool_future_release(b.gate);
	spool_pool_destroy(pool);
}
END_TEST

START_TEST(a_pool_task_waiting_on_a_task_beneath_it_on_its_worker_is_edeadlk)
{
	spool_pool *pool = spool_test_pool_new(1);
	struct nested n = {spool_pool_executor(pool), NULL, 0, 0};
	spool_future *f = spool_submit(n.ex, parent_waits_on_child, &n);
	ck_assert_int_eq(spool_future_wait(f, BOUND_S * SPOOL_NS_PER_S), 0);
	ck_assert_int_eq(n.child_rc, SPOOL_EDEADLK);
	ck_assert_int_eq(n.parent_rc, 0);
	spool_future_release(f);
	spool_pool_destroy(pool);
}
END_TEST

struct joiner {
	spool_group *g;
	int join_rc;
};

static int join_own_group(void *arg, void **result)
{
	struct joiner *j = arg;
	(void)result;
	j->join_rc = spool_group_join(j->g, SPOOL_FOREVER);
	return 0;
}

START_TEST(a_pool_task_joining_its_own_group_is_edeadlk)
{
	spool_pool *pool = spool_test_pool_new(2);
	struct joiner j = {0};
	ck_assert_int_eq(spool_group_create(&j.g, spool_pool_executor(pool), 0),
			 0);
	struct later l = {20, 0};
	ck_assert_int_eq(spool_group_spawn(j.g, sleep_then_return, &l, NULL),
			 0);
	ck_assert_int_eq(spool_group_spawn(j.g, join_own_group, &j, NULL), 0);
	ck_assert_int_eq(spool_group_join(j.g, BOUND_S * SPOOL_NS_PER_S), 0);
	ck_assert_int_eq(j.join_rc, SPOOL_EDEADLK);
	spool_group_destroy(j.g);
	spool_pool_destroy(pool);
}
END_TEST

static Suite *deadlock_suite(void)
{
	Suite *s = suite_create("deadlock");
	TCase *tc = spool_test_case("loop", 3 * BOUND_S);
	tcase_add_test(
		tc,
		a_wait_on_a_suspended_coroutine_after_its_loop_returned_is_edeadlk);
	tcase_add_test(
		tc,
		a_task_that_never_ran_is_edeadlk_only_while_its_loop_is_stranded);
	tcase_add_test(
		tc,
		gather_and_wait_on_a_stranded_loop_task_are_edeadlk_when_nothing_else_can_end_them);
	tcase_add_test(
		tc,
		as_completed_and_wait_for_on_a_stranded_loop_task_are_edeadlk);
	tcase_add_test(tc, group_join_and_map_on_a_stranded_loop_are_edeadlk);
	tcase_add_test(
		tc,
		a_wait_for_the_first_is_never_refused_while_another_input_completes);
	tcase_add_test(
		tc,
		a_wait_on_gathers_nested_deeper_than_the_check_follows_is_not_refused);
	suite_add_tcase(s, tc);
	tc = spool_test_case("pool", 3 * BOUND_S);
	tcase_add_test(tc, a_pool_task_waiting_on_its_own_future_is_edeadlk);
	tcase_add_test(
		tc,
		a_pool_task_waiting_on_a_task_beneath_it_on_its_worker_is_edeadlk);
	tcase_add_test(tc, a_pool_task_joining_its_own_group_is_edeadlk);
	tcase_add_test(tc,
		       wait_for_on_a_task_beneath_it_on_its_worker_is_edeadlk);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return spool_test_run(deadlock_suite());
}
