/* SPDX-License-Identifier: MIT */
/* Suite "scope": every promise spool/pool.h makes about scopes: every
 * spawn runs exactly once before the wait returns, spawns may borrow the
 * caller's stack and spawn more, the first failure is reported and the
 * other spawns see a cancel request (as they see one of the task that
 * opened the scope), spawns in the steady state allocate nothing, and
 * scopes work from outside the pool. The caller bugs (spawning into a
 * closed scope, waiting from a spawn) are rows of test_misuse. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/alloc.h" /* spool_debug_alloc_fail_nth */
#include "support.h"

#define TIMEOUT_NS (10 * SPOOL_NS_PER_S)

/* Runs fn(arg) as a task of p and checks that it succeeded. */
static void in_task(spool_pool *p, spool_task_fn fn, void *arg)
{
	spool_future *t = spool_submit(spool_pool_executor(p), fn, arg);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(spool_future_wait(t, TIMEOUT_NS), 0);
	ck_assert_int_eq(spool_future_error(t), 0);
	spool_future_release(t);
}

/* ---- many spawns borrowing the stack
 * ----------------------------------------- */

enum { MANY = 5000 };

struct slot {
	atomic_int hits;
	pthread_t main;
	atomic_int on_main;
};

static int hit(void *arg)
{
	struct slot *s = arg;
	atomic_fetch_add_explicit(&s->hits, 1, memory_order_relaxed);
	return 0;
}

struct many {
	spool_pool *pool;
	bool lent; /* spool_scope_spawn_in */
	int rc;
	int bad; /* slots not hit exactly once */
};

/* Spawns MANY pieces that each increment their own slot in an array on
 * this function's stack, then waits. */
static void spawn_many(struct many *m)
{
	struct slot slots[MANY];
	static spool_scope_job jobs[MANY]; /* too big for a worker's stack */
	spool_scope s;
	for (int i = 0; i < MANY; i++)
		atomic_init(&slots[i].hits, 0);
	ck_assert_int_eq(spool_scope_begin(&s, m->pool), 0);
	for (int i = 0; i < MANY; i++) {
		int rc = m->lent ? spool_scope_spawn_in(&s, &jobs[i], hit,
							&slots[i])
				 : spool_scope_spawn(&s, hit, &slots[i]);
		ck_assert_int_eq(rc, 0);
	}
	m->rc = spool_scope_wait(&s);
	m->bad = 0;
	for (int i = 0; i < MANY; i++)
		m->bad += atomic_load(&slots[i].hits) != 1;
}

static int many_task(void *arg, void **result)
{
	spawn_many(arg);
	*result = NULL;
	return 0;
}

START_TEST(every_spawn_runs_once_before_the_wait_returns_on_1_2_4_workers)
{
	int workers[] = {1, 2, 4};
	for (int w = 0; w < 3; w++) {
		for (int lent = 0; lent < 2; lent++) {
			struct many m = {spool_test_pool_new(workers[w]),
					 lent != 0, -1, -1};
			in_task(m.pool, many_task, &m);
			ck_assert_int_eq(m.rc, 0);
			ck_assert_int_eq(m.bad, 0);
			spool_pool_destroy(m.pool);
		}
	}
}
END_TEST

START_TEST(a_scope_from_outside_the_pool_runs_its_spawns_on_workers)
{
	for (int lent = 0; lent < 2; lent++) {
		struct many m = {spool_test_pool_new(2), lent != 0, -1, -1};
		spawn_many(&m);
		ck_assert_int_eq(m.rc, 0);
		ck_assert_int_eq(m.bad, 0);
		spool_pool_destroy(m.pool);
	}
}
END_TEST

START_TEST(a_scope_with_no_spawn_returns_0_at_once)
{
	spool_pool *p = spool_test_pool_new(1);
	spool_scope s;
	ck_assert_int_eq(spool_scope_begin(&s, p), 0);
	ck_assert_int_eq(spool_scope_wait(&s), 0);
	/* and may be begun again */
	ck_assert_int_eq(spool_scope_begin(&s, p), 0);
	ck_assert_int_eq(spool_scope_wait(&s), 0);
	spool_pool_destroy(p);
}
END_TEST

/* ---- spawns that spawn
 * ------------------------------------------------------------ */

struct node {
	spool_scope *scope;
	int depth;
	atomic_int *leaves;
};

/* A binary tree of spawns into the same scope: the wait must cover the
 * spawns of spawns. The children's records live in the parent's own
 * frame only while it runs, so they are copied into heap nodes. */
static int tree(void *arg)
{
	struct node *n = arg;
	if (n->depth == 0) {
		atomic_fetch_add(n->leaves, 1);
		free(n);
		return 0;
	}
	for (int i = 0; i < 2; i++) {
		struct node *c = malloc(sizeof *c);
		ck_assert_ptr_nonnull(c);
		*c = (struct node){n->scope, n->depth - 1, n->leaves};
		ck_assert_int_eq(spool_scope_spawn(n->scope, tree, c), 0);
	}
	free(n);
	return 0;
}

struct tree_case {
	spool_pool *pool;
	atomic_int leaves;
	int rc;
};

static int tree_task(void *arg, void **result)
{
	struct tree_case *t = arg;
	spool_scope s;
	ck_assert_int_eq(spool_scope_begin(&s, t->pool), 0);
	struct node *root = malloc(sizeof *root);
	ck_assert_ptr_nonnull(root);
	*root = (struct node){&s, 12, &t->leaves};
	ck_assert_int_eq(spool_scope_spawn(&s, tree, root), 0);
	t->rc = spool_scope_wait(&s);
	*result = NULL;
	return 0;
}

START_TEST(spawns_made_by_spawns_are_waited_for_too)
{
	for (int w = 1; w <= 2; w++) {
		struct tree_case t = {.pool = spool_test_pool_new(w)};
		atomic_init(&t.leaves, 0);
		in_task(t.pool, tree_task, &t);
		ck_assert_int_eq(t.rc, 0);
		ck_assert_int_eq(atomic_load(&t.leaves), 1 << 12);
		spool_pool_destroy(t.pool);
	}
}
END_TEST

/* ---- failures and cancel requests
 * -------------------------------------------- */

enum { WATCHERS = 8 };

struct fail_case {
	spool_pool *pool;
	spool_scope *scope;
	atomic_int saw_cancel, ran;
	atomic_bool seen_before_failure; /* a watcher saw one too early */
	atomic_bool failed;
	int rc;
};

/* Spins until it sees a cancel request (10 s at most). */
static int watcher(void *arg)
{
	struct fail_case *c = arg;
	atomic_fetch_add(&c->ran, 1);
	if (spool_cancel_requested() && !atomic_load(&c->failed))
		atomic_store(&c->seen_before_failure, true);
	int64_t end = spool_test_now_ns() + TIMEOUT_NS;
	while (!spool_cancel_requested() && spool_test_now_ns() < end)
		sched_yield();
	if (spool_cancel_requested())
		atomic_fetch_add(&c->saw_cancel, 1);
	return SPOOL_ECANCELLED;
}

static int failer(void *arg)
{
	struct fail_case *c = arg;
	atomic_fetch_add(&c->ran, 1);
	atomic_store(&c->failed, true);
	return 77;
}

static int fail_task(void *arg, void **result)
{
	struct fail_case *c = arg;
	spool_scope s;
	ck_assert_int_eq(spool_scope_begin(&s, c->pool), 0);
	/* The failer last: the waiting worker pops it first (its deque is
	 * LIFO), so even one worker gets to it before a watcher spins. */
	for (int i = 0; i < WATCHERS; i++)
		ck_assert_int_eq(spool_scope_spawn(&s, watcher, c), 0);
	ck_assert_int_eq(spool_scope_spawn(&s, failer, c), 0);
	c->rc = spool_scope_wait(&s);
	/* The failure is the scope's, not the opener's. */
	ck_assert(!spool_cancel_requested());
	*result = NULL;
	return 0;
}

START_TEST(first_failure_is_reported_and_every_other_spawn_sees_a_cancel)
{
	for (int w = 1; w <= 4; w *= 2) {
		struct fail_case c = {.pool = spool_test_pool_new(w)};
		in_task(c.pool, fail_task, &c);
		ck_assert_int_eq(c.rc, 77);
		ck_assert_int_eq(atomic_load(&c.ran), WATCHERS + 1);
		ck_assert_int_eq(atomic_load(&c.saw_cancel), WATCHERS);
		ck_assert(!atomic_load(&c.seen_before_failure));
		spool_pool_destroy(c.pool);
	}
}
END_TEST

/* The opener's task is cancelled while its spawns run. */
struct opener_case {
	spool_pool *pool;
	atomic_bool started;
	atomic_int saw_cancel;
	int rc;
};

static int opener_spawn(void *arg)
{
	struct opener_case *c = arg;
	atomic_store(&c->started, true);
	int64_t end = spool_test_now_ns() + TIMEOUT_NS;
	while (!spool_cancel_requested() && spool_test_now_ns() < end)
		sched_yield();
	if (spool_cancel_requested())
		atomic_fetch_add(&c->saw_cancel, 1);
	return SPOOL_ECANCELLED;
}

static int opener_task(void *arg, void **result)
{
	struct opener_case *c = arg;
	spool_scope s;
	ck_assert_int_eq(spool_scope_begin(&s, c->pool), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(spool_scope_spawn(&s, opener_spawn, c), 0);
	c->rc = spool_scope_wait(&s);
	*result = NULL;
	return c->rc;
}

START_TEST(spawns_see_a_cancel_request_of_the_task_that_opened_the_scope)
{
	struct opener_case c = {.pool = spool_test_pool_new(2)};
	spool_future *t = spool_submit(spool_pool_executor(c.pool), opener_task,
				       &c);
	int64_t end = spool_test_now_ns() + TIMEOUT_NS;
	while (!atomic_load(&c.started) && spool_test_now_ns() < end)
		sched_yield();
	ck_assert(atomic_load(&c.started));
	ck_assert_int_eq(spool_future_cancel(t), SPOOL_EBUSY);
	ck_assert_int_eq(spool_future_wait(t, TIMEOUT_NS), 0);
	ck_assert_int_eq(spool_future_state(t), SPOOL_CANCELLED);
	spool_future_release(t);
	spool_pool_destroy(c.pool);
	ck_assert_int_eq(c.rc, SPOOL_ECANCELLED);
	ck_assert_int_eq(atomic_load(&c.saw_cancel), 3);
}
END_TEST

/* Without a failure or a cancel, no spawn sees a request (the spawns'
 * current task is the scope's, whose flag is clear). */
static int no_cancel_spawn(void *arg)
{
	atomic_int *seen = arg;
	if (spool_cancel_requested())
		atomic_fetch_add(seen, 1);
	return 0;
}

START_TEST(spawns_see_no_cancel_request_when_nothing_failed)
{
	spool_pool *p = spool_test_pool_new(2);
	atomic_int seen;
	atomic_init(&seen, 0);
	spool_scope s;
	ck_assert_int_eq(spool_scope_begin(&s, p), 0);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(spool_scope_spawn(&s, no_cancel_spawn, &seen),
				 0);
	ck_assert_int_eq(spool_scope_wait(&s), 0);
	ck_assert_int_eq(atomic_load(&seen), 0);
	spool_pool_destroy(p);
}
END_TEST

/* ---- no allocation in the steady state
 * ------------------------------------------- */

struct steady {
	spool_pool *pool;
	long allocs; /* through the allocation seam while spawning */
	int bad;
};

static int count_hit(void *arg)
{
	atomic_fetch_add_explicit((atomic_int *)arg, 1, memory_order_relaxed);
	return 0;
}

static void scope_round(struct steady *st, int n)
{
	atomic_int hits;
	atomic_init(&hits, 0);
	spool_scope s;
	ck_assert_int_eq(spool_scope_begin(&s, st->pool), 0);
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(spool_scope_spawn(&s, count_hit, &hits), 0);
	ck_assert_int_eq(spool_scope_wait(&s), 0);
	st->bad += atomic_load(&hits) != n;
}

static int steady_task(void *arg, void **result)
{
	struct steady *st = arg;
	scope_round(st, 200); /* warm: the free list fills */
	enum { ARMED = 1000000000L };
	spool_debug_alloc_fail_nth(ARMED);
	for (int r = 0; r < 100; r++)
		scope_round(st, 200);
	long left = spool_debug_alloc_fail_nth(0);
	st->allocs = ARMED - left;
	*result = NULL;
	return 0;
}

START_TEST(spawns_on_a_worker_allocate_nothing_in_the_steady_state)
{
	if (spool_debug_alloc_fail_nth(0) < 0) {
		spool_test_skip("this build has no allocation counter "
				"(SPOOL_DEBUG_COUNTERS)");
		return;
	}
	struct steady st = {spool_test_pool_new(1), -1, 0};
	in_task(st.pool, steady_task, &st);
	ck_assert_int_eq(st.bad, 0);
	ck_assert_int_eq(st.allocs, 0);
	spool_pool_destroy(st.pool);
}
END_TEST

/* ---- after shutdown
 * ------------------------------------------------------------ */

START_TEST(a_spawn_from_outside_after_shutdown_is_eshutdown_and_never_runs)
{
	spool_pool *p = spool_test_pool_new(1);
	atomic_int hits;
	atomic_init(&hits, 0);
	spool_scope s;
	spool_scope_job job;
	ck_assert_int_eq(spool_scope_begin(&s, p), 0);
	ck_assert_int_eq(spool_pool_shutdown(p, SPOOL_SHUTDOWN_WAIT), 0);
	ck_assert_int_eq(spool_scope_spawn(&s, count_hit, &hits),
			 SPOOL_ESHUTDOWN);
	ck_assert_int_eq(spool_scope_spawn_in(&s, &job, count_hit, &hits),
			 SPOOL_ESHUTDOWN);
	ck_assert_int_eq(spool_scope_wait(&s), 0);
	ck_assert_int_eq(atomic_load(&hits), 0);
	spool_pool_destroy(p);
}
END_TEST

/* ---- stress
 * ------------------------------------------------------------------------- */

enum { STRESS_THREADS = 4, STRESS_ROUNDS = 200 };

struct stress {
	spool_pool *pool;
	atomic_int bad;
};

static void *stress_thread(void *arg)
{
	struct stress *st = arg;
	int64_t end = spool_test_now_ns() + 20 * SPOOL_NS_PER_S;
	for (int r = 0; r < STRESS_ROUNDS && spool_test_now_ns() < end; r++) {
		atomic_int hits;
		atomic_init(&hits, 0);
		spool_scope_job jobs[16];
		spool_scope s;
		if (spool_scope_begin(&s, st->pool) != 0) {
			atomic_fetch_add(&st->bad, 1);
			continue;
		}
		for (int i = 0; i < 16; i++)
			if ((i % 2 ? spool_scope_spawn_in(&s, &jobs[i],
							  count_hit, &hits)
				   : spool_scope_spawn(&s, count_hit, &hits)) !=
			    0)
				atomic_fetch_add(&st->bad, 1);
		if (spool_scope_wait(&s) != 0 || atomic_load(&hits) != 16)
			atomic_fetch_add(&st->bad, 1);
	}
	return NULL;
}

START_TEST(scopes_from_many_threads_at_once_each_see_all_their_spawns)
{
	struct stress st = {.pool = spool_test_pool_new(2)};
	atomic_init(&st.bad, 0);
	pthread_t th[STRESS_THREADS];
	for (int i = 0; i < STRESS_THREADS; i++)
		ck_assert_int_eq(
			pthread_create(&th[i], NULL, stress_thread, &st), 0);
	for (int i = 0; i < STRESS_THREADS; i++)
		pthread_join(th[i], NULL);
	spool_pool_destroy(st.pool);
	ck_assert_int_eq(atomic_load(&st.bad), 0);
}
END_TEST

/* A spawn made after a failure still runs: from a plain thread, a spawn
 * fails; once the scope has recorded it (the scope's future, the spawns'
 * current task, has its cancel request raised by the failure), another
 * spawn runs and the wait reports the failure. */
static _Atomic(spool_future *) late_scope_fut;
static atomic_int late_count;

static int fails_and_shows_its_scope(void *arg)
{
	(void)arg;
	atomic_store(&late_scope_fut, spool_current_future());
	return 66;
}

static int counts_late(void *arg)
{
	(void)arg;
	atomic_fetch_add(&late_count, 1);
	return 0;
}

START_TEST(a_spawn_made_after_a_failure_still_runs)
{
	spool_pool *p = spool_test_pool_new(2);
	atomic_store(&late_scope_fut, NULL);
	atomic_store(&late_count, 0);
	spool_scope s;
	ck_assert_int_eq(spool_scope_begin(&s, p), 0);
	ck_assert_int_eq(spool_scope_spawn(&s, fails_and_shows_its_scope, NULL),
			 0);
	/* The failure is recorded after the spawn returns: wait (10 s at
	 * most) until it has raised the scope future's request flag. */
	int64_t end = spool_test_now_ns() + TIMEOUT_NS;
	spool_future *sf;
	while (!((sf = atomic_load(&late_scope_fut)) &&
		 spool_future_cancel_requested(sf)) &&
	       spool_test_now_ns() < end)
		sched_yield();
	ck_assert_ptr_nonnull(sf);
	ck_assert(spool_future_cancel_requested(sf));
	ck_assert_int_eq(spool_scope_spawn(&s, counts_late, NULL), 0);
	ck_assert_int_eq(spool_scope_wait(&s), 66);
	ck_assert_int_eq(atomic_load(&late_count), 1);
	spool_pool_destroy(p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("scope");
	TCase *tc = spool_test_case("spawn", 60);
	tcase_add_test(
		tc,
		every_spawn_runs_once_before_the_wait_returns_on_1_2_4_workers);
	tcase_add_test(
		tc, a_scope_from_outside_the_pool_runs_its_spawns_on_workers);
	tcase_add_test(tc, a_scope_with_no_spawn_returns_0_at_once);
	tcase_add_test(tc, spawns_made_by_spawns_are_waited_for_too);
	tcase_add_test(
		tc,
		a_spawn_from_outside_after_shutdown_is_eshutdown_and_never_runs);
	suite_add_tcase(s, tc);

	tc = spool_test_case("cancel", 60);
	tcase_add_test(
		tc,
		first_failure_is_reported_and_every_other_spawn_sees_a_cancel);
	tcase_add_test(
		tc,
		spawns_see_a_cancel_request_of_the_task_that_opened_the_scope);
	tcase_add_test(tc, spawns_see_no_cancel_request_when_nothing_failed);
	tcase_add_test(tc, a_spawn_made_after_a_failure_still_runs);
	suite_add_tcase(s, tc);

	tc = spool_test_case("steady", 60);
	tcase_add_test(tc,
		       spawns_on_a_worker_allocate_nothing_in_the_steady_state);
	tcase_add_test(
		tc, scopes_from_many_threads_at_once_each_see_all_their_spawns);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
