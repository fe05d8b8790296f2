/* SPDX-License-Identifier: MIT */
/*
 * Suite "future_misuse": the promises spool/future.h makes about a caller
 * who gets things wrong, or pushes the references and callbacks to their
 * edges: a done-callback that drops the last reference, a double release
 * of every kind of future, a reference count at its limit, promise calls
 * on futures that are not promises, and a cancel that races a completion.
 * Aborts are checked in a child process, message included
 * (spool_test_expect_misuse).
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/executor_impl.h"
#include "core/future_impl.h"
#include "support.h"

static int V;

/* ---- a callback that drops the last reference ------------------------- */

struct alive_log {
	spool_future *f;
	int ran;
	bool alive_for_next; /* the second callback found f whole */
};

static void drop_the_last(spool_future *f, void *arg)
{
	struct alive_log *log = arg;
	log->ran++;
	spool_future_release(f); /* the reference the caller gave away */
}

static void check_alive(spool_future *f, void *arg)
{
	struct alive_log *log = arg;
	log->ran++;
	/* f is still a future: references held and its outcome readable. */
	log->alive_for_next = spool__future_refs(f) > 0 &&
			      spool_future_state(f) == SPOOL_DONE &&
			      spool_future_value(f) == &V;
}

START_TEST(a_callback_that_drops_the_last_reference_leaves_f_whole_for_the_next)
{
	struct alive_log log = {0};
	spool_future *f = spool_promise_new();
	ck_assert_int_eq(spool_future_add_callback(f, drop_the_last, &log), 0);
	ck_assert_int_eq(spool_future_add_callback(f, check_alive, &log), 0);
	ck_assert_int_eq(spool_future_add_callback(f, check_alive, &log), 0);
	/* The caller's only reference now belongs to the first callback;
	 * the completer must keep f alive for the two after it. */
	ck_assert_int_eq(spool_promise_set_result(f, &V), 0);
	ck_assert_int_eq(log.ran, 3);
	ck_assert(log.alive_for_next);
}
END_TEST

/* ---- double release --------------------------------------------------- */

static int release_twice(void *arg)
{
	spool_future *f = arg;
	spool_future_release(f);
	spool_future_release(f);
	return 0;
}

static int value_task(void *arg, void **result)
{
	*result = arg;
	return 0;
}

static int then_fn(spool_future *src, void *arg, void **result)
{
	(void)src;
	*result = arg;
	return 0;
}

#define RELEASED_TWICE "future released more times than it was retained"

START_TEST(double_release_of_a_promise_aborts_with_message)
{
	spool_future *pending = spool_promise_new();
	spool_test_expect_misuse(release_twice, pending, "spool_future_release",
				 RELEASED_TWICE);
	spool_future_release(pending);
	spool_future *done = spool_promise_new();
	spool_promise_set_result(done, &V);
	spool_test_expect_misuse(release_twice, done, "spool_future_release",
				 RELEASED_TWICE);
	spool_future_release(done);
}
END_TEST

/* Futures with an owner of their own kind: a gather, a map, a then, a
 * failed future from bad input. Each is final, so the caller's reference
 * is its only one (a pending one also has its producer's, and releasing
 * that by mistake cannot be told from releasing one's own). */
START_TEST(double_release_of_a_combinator_future_aborts_with_message)
{
	spool_future *p = spool_promise_new();
	spool_future *g = spool_gather(&p, 1, 0);
	spool_future *args[] = {(spool_future *)&V};
	spool_future *m = spool_map(spool_executor_inline(), value_task,
				    (void *const *)args, 1, 0);
	spool_future *t = spool_then(p, spool_executor_inline(), then_fn, &V);
	spool_future *bad = spool_gather(NULL, 1, 0);
	spool_promise_set_result(p, &V);
	spool_future *list[] = {g, m, t, bad};
	for (size_t i = 0; i < sizeof list / sizeof *list; i++) {
		ck_assert(spool_future_done(list[i]));
		spool_test_expect_misuse(release_twice, list[i],
					 "spool_future_release",
					 RELEASED_TWICE);
		spool_future_release(list[i]);
	}
	spool_future_release(p);
}
END_TEST

START_TEST(double_release_of_a_pool_or_loop_task_aborts_with_message)
{
	spool_pool *pool = spool_test_pool_new(1);
	spool_future *pt = spool_submit(spool_pool_executor(pool), value_task,
					&V);
	ck_assert_int_eq(spool_future_wait(pt, SPOOL_FOREVER), 0);
	/* The worker drops its reference just after the completion. */
	while (spool__future_refs(pt) > 1)
		spool_test_sleep_ns(100000);
	spool_test_expect_misuse(release_twice, pt, "spool_future_release",
				 RELEASED_TWICE);
	spool_future_release(pt);
	spool_pool_destroy(pool);

	spool_loop *loop = spool_test_loop_new();
	spool_future *lt = spool_test_loop_submit(loop, value_task, &V);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, lt), 0);
	spool_test_expect_misuse(release_twice, lt, "spool_future_release",
				 RELEASED_TWICE);
	spool_future_release(lt);
	spool_loop_destroy(loop);
}
END_TEST

/* ---- the reference count's limit -------------------------------------- */

static int retain_past_the_limit(void *arg)
{
	spool_future *f = arg;
	/* As if 2^32 - 2 retains had been made: the count's top. */
	atomic_store(&f->state,
		     atomic_load(&f->state) | (UINT64_C(0xffffffff) << 32));
	spool_future_retain(f);
	return 0;
}

START_TEST(a_retain_past_the_count_limit_aborts_instead_of_wrapping)
{
	spool_future *f = spool_promise_new();
	spool_test_expect_misuse(retain_past_the_limit, f,
				 "spool_future_retain",
				 "more than 2^32 - 1 references");
	spool_future_release(f);
}
END_TEST

/* ---- promise calls on futures that are not promises ------------------- */

/* Each promise call on f answers SPOOL_EINVAL and changes nothing. */
static void assert_not_a_promise(spool_future *f)
{
	spool_state before = spool_future_state(f);
	int err = spool_future_error(f);
	void *value = spool_future_value(f);
	ck_assert_int_eq(spool_promise_set_result(f, &V), SPOOL_EINVAL);
	ck_assert_int_eq(spool_promise_set_error(f, 7), SPOOL_EINVAL);
	ck_assert_int_eq(spool_promise_set_error(f, SPOOL_ECANCELLED),
			 SPOOL_EINVAL);
	ck_assert_int_eq(spool_promise_start(f), SPOOL_EINVAL);
	ck_assert_int_eq(spool_run_task(f, value_task, &V), SPOOL_EINVAL);
	ck_assert_int_eq(spool_future_state(f), before);
	ck_assert_int_eq(spool_future_error(f), err);
	ck_assert_ptr_eq(spool_future_value(f), value);
}

/* Until a pool worker has started f (which then waits for the gate). */
static void until_running(spool_future *f)
{
	while (spool_future_state(f) == SPOOL_PENDING)
		spool_test_sleep_ns(100000);
}

static int wait_for_gate(void *arg, void **result)
{
	*result = NULL;
	return spool_future_wait(arg, SPOOL_FOREVER);
}

START_TEST(promise_calls_refuse_every_future_that_is_not_a_promise)
{
	spool_future *gate = spool_promise_new();
	spool_future *g = spool_gather(&gate, 1, 0);
	assert_not_a_promise(g);
	spool_future *t = spool_then(gate, spool_executor_inline(), then_fn,
				     &V);
	assert_not_a_promise(t);

	spool_pool *pool = spool_test_pool_new(2);
	spool_executor *ex = spool_pool_executor(pool);
	spool_future *args[] = {gate};
	spool_future *m = spool_map(ex, wait_for_gate, (void *const *)args, 1,
				    0);
	assert_not_a_promise(m);
	spool_future *pt = spool_submit(ex, wait_for_gate, gate);
	until_running(pt);
	assert_not_a_promise(pt);
	spool_group *grp = NULL;
	ck_assert_int_eq(spool_group_create(&grp, ex, 0), 0);
	spool_future *gt = NULL;
	ck_assert_int_eq(spool_group_spawn(grp, wait_for_gate, gate, &gt), 0);
	until_running(gt);
	assert_not_a_promise(gt);
	/* The group still waits for its task, which still waits. */
	ck_assert_int_eq(spool_group_join(grp, 0), SPOOL_ETIMEDOUT);

	spool_promise_set_result(gate, &V);
	ck_assert_int_eq(spool_group_join(grp, SPOOL_FOREVER), 0);
	ck_assert_int_eq(spool_future_wait(g, SPOOL_FOREVER), 0);
	ck_assert_int_eq(spool_future_wait(m, SPOOL_FOREVER), 0);
	ck_assert_int_eq(spool_future_wait(pt, SPOOL_FOREVER), 0);
	ck_assert_int_eq(spool_future_wait(t, SPOOL_FOREVER), 0);
	ck_assert_ptr_eq(spool_future_value(t), &V);
	assert_not_a_promise(g); /* final ones too */
	spool_group_destroy(grp);
	spool_pool_destroy(pool);

	spool_loop *loop = spool_test_loop_new();
	spool_future *lt = spool_test_loop_submit(loop, value_task, &V);
	assert_not_a_promise(lt);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, lt), 0);
	spool_loop_destroy(loop);

	spool_future *list[] = {gate, g, t, m, pt, gt, lt};
	for (size_t i = 0; i < sizeof list / sizeof *list; i++)
		spool_future_release(list[i]);
}
END_TEST

/* ---- cancel never blocks ---------------------------------------------- */

/* A future whose completer has claimed it and not yet published: the
 * word as claim() leaves it, with target the phase it will publish. */
static void make_completing(spool_future *f, uint32_t target)
{
	uint64_t w = atomic_load(&f->state);
	w = (w & ~(uint64_t)SPOOL__PH_MASK) | SPOOL__PH_COMPLETING |
	    (uint64_t)target << SPOOL__TARGET_SHIFT;
	atomic_store(&f->state, w);
}

static void make_final(spool_future *f, uint32_t phase)
{
	uint64_t w = atomic_load(&f->state);
	w = (w & ~(uint64_t)(SPOOL__PH_MASK | SPOOL__TARGET_MASK)) | phase;
	atomic_store(&f->state, w);
}

START_TEST(cancel_of_a_future_being_completed_answers_without_waiting)
{
	/* The completer is stopped between its claim and its publication
	 * (preempted, or a caller of cancel on its own thread): cancel
	 * answers from the phase it will publish. Waiting for it here
	 * would hang this test. */
	spool_future *f = spool_promise_new();
	make_completing(f, SPOOL__PH_DONE);
	ck_assert_int_eq(spool_future_cancel(f), SPOOL_ESTATE);
	make_final(f, SPOOL__PH_DONE);
	spool_future_release(f);

	f = spool_promise_new();
	make_completing(f, SPOOL__PH_FAILED);
	ck_assert_int_eq(spool_future_cancel(f), SPOOL_ESTATE);
	make_final(f, SPOOL__PH_FAILED);
	spool_future_release(f);

	f = spool_promise_new();
	make_completing(f, SPOOL__PH_CANCELLED);
	ck_assert_int_eq(spool_future_cancel(f), 0);
	make_final(f, SPOOL__PH_CANCELLED);
	spool_future_release(f);
}
END_TEST

/* Pairs of threads race, round after round: one cancels a gather (or a
 * map) while the other completes its children (one of them with an error,
 * every third round). A cancel that answers 0 means it ends CANCELLED,
 * SPOOL_ESTATE that it ends DONE or FAILED, whichever thread decided. Both
 * settle through src/combinators/settle.c. */
enum { RACE_PAIRS = 4, RACE_ROUNDS = 500, RACE_CHILDREN = 3 };

struct race {
	spool_future *g[RACE_ROUNDS];
	spool_future *kids[RACE_ROUNDS][RACE_CHILDREN];
	int answer[RACE_ROUNDS];
	_Atomic int ready[2]; /* rounds each side has reached */
};

/* Both sides of a pair start round i together. */
static void meet(struct race *r, int side, int i)
{
	atomic_store(&r->ready[side], i + 1);
	while (atomic_load(&r->ready[!side]) < i + 1)
		;
}

static void *race_cancel(void *arg)
{
	struct race *r = arg;
	for (int i = 0; i < RACE_ROUNDS; i++) {
		meet(r, 0, i);
		r->answer[i] = spool_future_cancel(r->g[i]);
	}
	return NULL;
}

static void *race_complete(void *arg)
{
	struct race *r = arg;
	for (int i = 0; i < RACE_ROUNDS; i++) {
		meet(r, 1, i);
		for (int k = 0; k < RACE_CHILDREN; k++) {
			if (k == 1 && i % 3 == 0)
				spool_promise_set_error(r->kids[i][k], 9);
			else
				spool_promise_set_result(r->kids[i][k], &V);
		}
	}
	return NULL;
}

/* An executor whose tasks are promises that the test completes: a map's
 * tasks stay pending until the completing side of the race ends them. */
struct deferred {
	spool_executor ex; /* must be first */
	spool_future **made;
	int n;
};

static spool_future *deferred_submit(spool_executor *ex, spool_task_fn fn,
				     void *arg, const char *label)
{
	(void)fn, (void)arg, (void)label;
	struct deferred *d = (struct deferred *)ex;
	spool_future *p = spool_promise_new();
	ck_assert_ptr_nonnull(p);
	d->made[d->n++] = p; /* the test's reference */
	return spool_future_retain(p);
}

static const struct spool__executor_ops deferred_ops = {
	.name = "deferred",
	.submit = deferred_submit,
};

static int unused_task(void *arg, void **result)
{
	(void)arg, (void)result;
	return 0;
}

/* Round i's combinator over kids[i], which it makes. */
static spool_future *make_gather(struct race *r, int i)
{
	for (int k = 0; k < RACE_CHILDREN; k++)
		r->kids[i][k] = spool_promise_new();
	return spool_gather(r->kids[i], RACE_CHILDREN, 0);
}

static spool_future *make_map(struct race *r, int i)
{
	struct deferred d = {{&deferred_ops}, r->kids[i], 0};
	void *args[RACE_CHILDREN] = {0};
	spool_future *m = spool_map(&d.ex, unused_task, args, RACE_CHILDREN, 0);
	ck_assert_int_eq(d.n, RACE_CHILDREN);
	return m;
}

static void race_cancel_against_completion(const char *what,
					   spool_future *(*make)(struct race *r,
								 int i))
{
	static struct race rs[RACE_PAIRS];
	pthread_t tc[RACE_PAIRS], tk[RACE_PAIRS];
	for (int p = 0; p < RACE_PAIRS; p++) {
		struct race *r = &rs[p];
		for (int i = 0; i < RACE_ROUNDS; i++)
			r->g[i] = make(r, i);
		atomic_init(&r->ready[0], 0);
		atomic_init(&r->ready[1], 0);
		pthread_create(&tc[p], NULL, race_cancel, r);
		pthread_create(&tk[p], NULL, race_complete, r);
	}
	int outcomes[3] = {0}; /* cancelled, done, failed */
	for (int p = 0; p < RACE_PAIRS; p++) {
		struct race *r = &rs[p];
		pthread_join(tc[p], NULL);
		pthread_join(tk[p], NULL);
		for (int i = 0; i < RACE_ROUNDS; i++) {
			ck_assert_int_eq(
				spool_future_wait(r->g[i], SPOOL_FOREVER), 0);
			spool_state st = spool_future_state(r->g[i]);
			if (r->answer[i] == 0)
				ck_assert_int_eq(st, SPOOL_CANCELLED);
			else
				ck_assert(r->answer[i] == SPOOL_ESTATE &&
					  (st == SPOOL_DONE ||
					   st == SPOOL_FAILED));
			outcomes[st == SPOOL_CANCELLED ? 0
				 : st == SPOOL_DONE    ? 1
						       : 2]++;
			spool_future_release(r->g[i]);
			for (int k = 0; k < RACE_CHILDREN; k++)
				spool_future_release(r->kids[i][k]);
		}
	}
	printf("%s cancel race: %d cancelled, %d done, %d failed\n", what,
	       outcomes[0], outcomes[1], outcomes[2]);
}

START_TEST(cancel_racing_a_gathers_completion_answers_what_it_ends_as)
{
	race_cancel_against_completion("gather", make_gather);
}
END_TEST

START_TEST(cancel_racing_a_maps_completion_answers_what_it_ends_as)
{
	race_cancel_against_completion("map", make_map);
}
END_TEST

static Suite *future_misuse_suite(void)
{
	Suite *s = suite_create("future_misuse");
	TCase *tc = spool_test_case("references", 30);
	tcase_add_test(
		tc,
		a_callback_that_drops_the_last_reference_leaves_f_whole_for_the_next);
	tcase_add_test(tc, double_release_of_a_promise_aborts_with_message);
	tcase_add_test(
		tc, double_release_of_a_combinator_future_aborts_with_message);
	tcase_add_test(
		tc, double_release_of_a_pool_or_loop_task_aborts_with_message);
	tcase_add_test(
		tc, a_retain_past_the_count_limit_aborts_instead_of_wrapping);
	suite_add_tcase(s, tc);

	tc = spool_test_case("promises", 30);
	tcase_add_test(tc,
		       promise_calls_refuse_every_future_that_is_not_a_promise);
	suite_add_tcase(s, tc);

	tc = spool_test_case("cancel", 60);
	tcase_add_test(
		tc, cancel_of_a_future_being_completed_answers_without_waiting);
	tcase_add_test(
		tc, cancel_racing_a_gathers_completion_answers_what_it_ends_as);
	tcase_add_test(tc,
		       cancel_racing_a_maps_completion_answers_what_it_ends_as);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return spool_test_run(future_misuse_suite());
}
