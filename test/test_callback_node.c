/* SPDX-License-Identifier: MIT */
/*
 * Suite "callback_node": done-callbacks on a node the registrant owns
 * (spool__future_add_callback_node, src/core/future_impl.h), which never
 * allocates and so never fails, and the two combinators that depend on it:
 * then() and task groups on an executor whose futures already carry a
 * callback when it hands them out.
 *
 * Such an executor (a user's: any spool_executor with its own submit)
 * makes a combinator's callback on the returned future the second one, so
 * the node for it cannot be the one inside the future. The sweeps arm the
 * allocation seam (src/core/alloc.h) to fail the k-th allocation, k = 1,
 * 2, ..., until a run makes fewer than k allocations, and check after each
 * run that the continuation or the group ended (bounded waits) with the
 * outcome the headers promise and that no future is left alive. A future
 * released for the last time before it completes frees its callbacks
 * unrun, but never a node its registrant owns.
 */
#include <string.h>

#include "comb_support.h"
#include "oom_sweep.h"

static int V[4]; /* addresses used as values */

/* A bound for every wait: everything here ends within microseconds; a
 * wait that reaches it found a continuation or a task nobody completes. */
#define BOUND (2 * SPOOL_NS_PER_S)

static void noop_cb(spool_future *f, void *arg)
{
	(void)f;
	(void)arg;
}

/* ---- an executor whose futures already carry a callback --------------- */

/* Submitted tasks wait in a FIFO until crowd_drain(), which runs them on
 * the calling thread (or, when crowd_refuses, fails each one's future with
 * SPOOL_ESHUTDOWN without running it, as a shut-down executor would). The
 * queue's own memory bypasses the seam: only the library's allocations
 * count. */
struct job {
	struct job *next;
	spool_task_fn fn;
	void *arg;
	spool_future *f; /* a reference */
};

static struct job *jobs_head, **jobs_tail = &jobs_head;
static bool crowd_refuses;
static bool crowd_fresh; /* hand out futures without a callback */

static spool_future *crowded_submit(spool_executor *ex, spool_task_fn fn,
				    void *arg, const char *label)
{
	(void)ex;
	(void)label;
	spool_future *f = spool_promise_new();
	if (!f)
		return NULL;
	/* f's first callback: a combinator's is then its second. */
	if (!crowd_fresh)
		ck_assert_int_eq(spool_future_add_callback(f, noop_cb, NULL),
				 0);
	struct job *j = malloc(sizeof *j);
	ck_assert_ptr_nonnull(j);
	*j = (struct job){NULL, fn, arg, spool_future_retain(f)};
	*jobs_tail = j;
	jobs_tail = &j->next;
	return f;
}

static const struct spool__executor_ops crowded_ops = {
	.name = "crowded",
	.submit = crowded_submit,
};
static spool_executor crowded_executor = {&crowded_ops};

/* Runs (or refuses) every queued task, including those queued meanwhile. */
static void crowd_drain(void)
{
	while (jobs_head) {
		struct job *j = jobs_head;
		jobs_head = j->next;
		if (!jobs_head)
			jobs_tail = &jobs_head;
		if (crowd_refuses) {
			spool_promise_set_error(j->f, SPOOL_ESHUTDOWN);
		} else if (spool_promise_start(j->f) == 0) {
			void *value = NULL;
			int rc = j->fn(j->arg, &value);
			if (rc == 0)
				spool_promise_set_result(j->f, value);
			else
				spool_promise_set_error(j->f, rc);
		} /* else cancelled while queued: never runs */
		spool_future_release(j->f);
		free(j);
	}
}

/* ---- then() on the crowded executor ----------------------------------- */

static atomic_int then_ran;

/* Succeeds with its source's value. */
static int then_fn(spool_future *src, void *arg, void **result)
{
	(void)arg;
	atomic_fetch_add(&then_ran, 1);
	*result = spool_future_value(src);
	return 0;
}

/* One run of then() over a DONE source on the crowded executor. */
static bool then_run(long k, bool refuse)
{
	long live = spool_debug_live_futures();
	crowd_refuses = refuse;
	atomic_store(&then_ran, 0);
	spool_future *a = spool_promise_new();
	spool_promise_set_result(a, &V[0]);
	arm(k);
	spool_future *c = spool_then(a, &crowded_executor, then_fn, NULL);
	crowd_drain();
	bool f = fired();
	if (!c) { /* no memory for the continuation itself */
		ck_assert(f);
		ck_assert_int_eq(atomic_load(&then_ran), 0);
	} else {
		/* Everything ran on this thread, so c is final; a wait that
		 * times out means nobody will ever complete it. */
		ck_assert_int_eq(spool_future_wait(c, BOUND), 0);
		spool_state st = spool_future_state(c);
		ck_assert_int_eq(atomic_load(&then_ran),
				 st == SPOOL_DONE ? 1 : 0);
		if (st == SPOOL_DONE) {
			ck_assert(!refuse);
			ck_assert_ptr_eq(spool_future_value(c), &V[0]);
		} else {
			ck_assert_int_eq(st, SPOOL_FAILED);
			int err = spool_future_error(c);
			/* SPOOL_ENOMEM: no memory for the task. */
			ck_assert(err == SPOOL_ENOMEM ||
				  (refuse && err == SPOOL_ESHUTDOWN));
			ck_assert(f || err == SPOOL_ESHUTDOWN);
		}
		if (!f) /* the full outcome */
			ck_assert_int_eq(st,
					 refuse ? SPOOL_FAILED : SPOOL_DONE);
		spool_future_release(c);
	}
	spool_future_release(a);
	/* Every reference the run made is gone. */
	ck_assert_int_eq(spool_debug_live_futures(), live);
	return f;
}

static bool then_running_run(long k)
{
	return then_run(k, false);
}

static bool then_refused_run(long k)
{
	return then_run(k, true);
}

START_TEST(then_on_an_executor_whose_futures_have_a_callback_ends_with_fn)
{
	ck_assert_int_gt(sweep("then", then_running_run), 1);
}
END_TEST

START_TEST(then_on_such_an_executor_refusing_its_task_ends_with_the_error)
{
	ck_assert_int_gt(sweep("then refused", then_refused_run), 1);
}
END_TEST

/* ---- task groups on the crowded executor ------------------------------ */

static int value_task(void *arg, void **result)
{
	*result = arg;
	return 0;
}

/* One run of a group of three tasks on the crowded executor. */
static bool group_run(long k, bool refuse, size_t limit)
{
	long live = spool_debug_live_futures();
	crowd_refuses = refuse;
	spool_future *tasks[3] = {NULL, NULL, NULL};
	arm(k);
	spool_group *g = NULL;
	int rc = spool_group_create(&g, &crowded_executor, limit);
	if (rc != 0) {
		ck_assert_int_eq(rc, SPOOL_ENOMEM);
		ck_assert(fired());
		return true;
	}
	for (int i = 0; i < 3; i++) {
		rc = spool_group_spawn(g, value_task, &V[i], &tasks[i]);
		/* SPOOL_ENOMEM: no memory for the task; SPOOL_ECANCELLED: an
		 * earlier task failed (it could not be submitted). */
		ck_assert(rc == 0 || rc == SPOOL_ENOMEM ||
			  rc == SPOOL_ECANCELLED);
		ck_assert(rc != 0 || tasks[i]);
	}
	crowd_drain();
	/* Every task ended during the drain; a join that times out waits
	 * for a task nobody will complete. */
	rc = spool_group_join(g, BOUND);
	bool f = fired();
	ck_assert_int_ne(rc, SPOOL_ETIMEDOUT);
	size_t failures = spool_group_failures(g), failed = 0, done = 0;
	for (int i = 0; i < 3; i++) {
		if (!tasks[i])
			continue;
		spool_state st = spool_future_state(tasks[i]);
		if (st == SPOOL_DONE) {
			ck_assert(!refuse);
			ck_assert_ptr_eq(spool_future_value(tasks[i]), &V[i]);
			done++;
		} else if (st == SPOOL_FAILED) {
			int err = spool_future_error(tasks[i]);
			ck_assert(err == SPOOL_ENOMEM ||
				  (refuse && err == SPOOL_ESHUTDOWN));
			failed++;
		} else {
			/* Only a failure cancels the others. */
			ck_assert_int_eq(st, SPOOL_CANCELLED);
			ck_assert_uint_gt(failures, 0);
		}
		spool_future_release(tasks[i]);
	}
	/* The group reports each failed task, and the join its first. */
	ck_assert_uint_eq(failed, failures);
	if (failures)
		ck_assert_int_eq(rc, spool_group_failure(g, 0, NULL));
	else
		ck_assert_int_eq(rc, 0);
	if (!f) { /* the full outcome */
		ck_assert_uint_eq(done, refuse ? 0 : 3);
		ck_assert_uint_eq(failures, refuse ? 1 : 0);
	}
	spool_group_destroy(g);
	ck_assert_int_eq(spool_debug_live_futures(), live);
	return f;
}

static bool group_running_run(long k)
{
	return group_run(k, false, 0);
}

static bool group_running_limit_1_run(long k)
{
	return group_run(k, false, 1);
}

static bool group_refused_run(long k)
{
	return group_run(k, true, 0);
}

static bool group_refused_limit_1_run(long k)
{
	return group_run(k, true, 1);
}

START_TEST(group_on_an_executor_whose_futures_have_a_callback_reports_each)
{
	ck_assert_int_gt(sweep("group", group_running_run), 1);
	ck_assert_int_gt(sweep("group limit 1", group_running_limit_1_run), 1);
}
END_TEST

START_TEST(group_on_such_an_executor_refusing_its_tasks_joins_with_the_error)
{
	/* With a limit of 1 a task whose refusal went unnoticed would be
	 * the only one started: nothing else would ever end it. */
	ck_assert_int_gt(
		sweep("group refused limit 1", group_refused_limit_1_run), 1);
	ck_assert_int_gt(sweep("group refused", group_refused_run), 1);
}
END_TEST

/* ---- the node: no allocation, the same waiting context ---------------- */

/* Runs the sweep of `run` with fresh futures and with crowded ones. */
static void assert_same_allocations(const char *what, bool (*run)(long k))
{
	crowd_fresh = true;
	long fresh = sweep(what, run);
	crowd_fresh = false;
	long crowded = sweep(what, run);
	ck_assert_int_gt(fresh, 1);
	ck_assert_int_eq(crowded, fresh);
}

START_TEST(callback_node_never_allocates_so_a_crowded_future_costs_nothing)
{
	/* A future that already has a callback makes a further
	 * spool_future_add_callback allocate; then() and groups register
	 * theirs on a node of their own, so they make as many allocations
	 * (and so have as many to fail) as on a fresh future. */
	assert_same_allocations("then", then_running_run);
	assert_same_allocations("then refused", then_refused_run);
	assert_same_allocations("group", group_running_run);
	assert_same_allocations("group limit 1", group_running_limit_1_run);
	assert_same_allocations("group refused", group_refused_run);
}
END_TEST

struct on_loop {
	spool_future *src;
	pthread_t loop_thread, drainer;
	pthread_t completed_on, user_cb_on;
	atomic_int calls, user_calls;
};

/* A user's callback on c, registered from the loop's thread. */
static void record_user_cb(spool_future *f, void *arg)
{
	struct on_loop *o = arg;
	(void)f;
	o->user_cb_on = pthread_self();
	atomic_fetch_add(&o->user_calls, 1);
}

static void record_thread_cb(spool_future *f, void *arg)
{
	struct on_loop *o = arg;
	(void)f;
	o->completed_on = pthread_self();
	atomic_fetch_add(&o->calls, 1);
}

struct drain_args {
	spool_future *c;
	struct on_loop *o;
};

/* Watches c from a thread without a waiting context (so the callback runs
 * on whichever thread completes c), then refuses the queued task. */
static void *refuse_main(void *arg)
{
	struct drain_args *d = arg;
	ck_assert_int_eq(
		spool_future_add_callback(d->c, record_thread_cb, d->o), 0);
	crowd_drain();
	return NULL;
}

/* A coroutine on the loop: then() over a DONE source, so that on_src, and
 * with it the registration of on_task on the task's crowded future, runs
 * here; the coroutine adds a callback of its own to c; another thread
 * then refuses the task. */
static int then_on_loop(void *arg, void **result)
{
	struct on_loop *o = arg;
	(void)result;
	o->loop_thread = pthread_self();
	spool_future *c = spool_then(o->src, &crowded_executor, then_fn, NULL);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(spool_future_add_callback(c, record_user_cb, o), 0);
	struct drain_args d = {c, o};
	ck_assert_int_eq(pthread_create(&o->drainer, NULL, refuse_main, &d), 0);
	int rc = spool_future_wait(c, BOUND);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(spool_future_error(c), SPOOL_ESHUTDOWN);
	pthread_join(o->drainer, NULL);
	spool_future_release(c);
	return 0;
}

START_TEST(
	callback_node_runs_where_its_future_completes_and_user_callbacks_go_home)
{
	/* on_task, registered from the loop on a node, is never sent home
	 * (it must not fail, so it reserves nothing): it runs on the thread
	 * that refuses the task, and completes c there. A callback the user
	 * registered on c from the loop still runs on the loop's thread. */
	crowd_refuses = true;
	spool_loop *loop = spool_test_loop_new();
	struct on_loop o = {.src = spool_promise_new()};
	atomic_init(&o.calls, 0);
	atomic_init(&o.user_calls, 0);
	spool_promise_set_result(o.src, &V[0]);
	spool_future *t = spool_test_loop_submit(loop, then_on_loop, &o);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, t), 0);
	ck_assert_int_eq(spool_future_error(t), 0);
	spool_future_release(t);
	spool_future_release(o.src);
	spool_loop_destroy(loop); /* runs anything still posted */
	ck_assert_int_eq(atomic_load(&o.calls), 1);
	ck_assert(pthread_equal(o.completed_on, o.drainer));
	ck_assert_int_eq(atomic_load(&o.user_calls), 1);
	ck_assert(pthread_equal(o.user_cb_on, o.loop_thread));
}
END_TEST

/* ---- a caller's node on a future dropped unfinished ------------------ */

static void count_cb(spool_future *f, void *arg)
{
	(void)f;
	(*(int *)arg)++;
}

/* A promise released for the last time without completing, with three
 * callbacks: a first ordinary one, which takes the node inside the future
 * (so that the caller's node is really on the list, tagged as the
 * caller's), then an ordinary one on a node core allocates and one on a
 * node the test allocated, in the order node_first says. Core frees the
 * callbacks unrun, and its own nodes only: if it freed the caller's, the
 * test's free below is a double free, which AddressSanitizer reports (and
 * glibc's allocator aborts on). */
static void drop_unfinished_with_caller_node(bool node_first)
{
	long live = spool_debug_live_futures();
	int first_calls = 0, ordinary_calls = 0, node_calls = 0;
	struct spool__cb *node = malloc(sizeof *node);
	ck_assert_ptr_nonnull(node);
	spool_future *p = spool_promise_new();
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(spool_future_add_callback(p, count_cb, &first_calls),
			 0);
	if (node_first)
		spool_debug_add_callback_node(p, node, count_cb, &node_calls);
	ck_assert_int_eq(
		spool_future_add_callback(p, count_cb, &ordinary_calls), 0);
	if (!node_first)
		spool_debug_add_callback_node(p, node, count_cb, &node_calls);
	spool_future_release(p); /* the last reference */
	ck_assert_int_eq(spool_debug_live_futures(), live);
	ck_assert_int_eq(first_calls, 0);
	ck_assert_int_eq(ordinary_calls, 0);
	ck_assert_int_eq(node_calls, 0);
	/* The node is still the test's to write and to free. */
	memset(node, 0x5a, sizeof *node);
	free(node);
}

START_TEST(a_caller_owned_node_on_a_dropped_future_is_never_freed_by_core)
{
	drop_unfinished_with_caller_node(false);
	drop_unfinished_with_caller_node(true);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("callback_node");
	TCase *tc = spool_test_case("callback_node", 30);
	tcase_add_test(
		tc,
		then_on_an_executor_whose_futures_have_a_callback_ends_with_fn);
	tcase_add_test(
		tc,
		then_on_such_an_executor_refusing_its_task_ends_with_the_error);
	tcase_add_test(
		tc,
		group_on_an_executor_whose_futures_have_a_callback_reports_each);
	tcase_add_test(
		tc,
		group_on_such_an_executor_refusing_its_tasks_joins_with_the_error);
	tcase_add_test(
		tc,
		callback_node_never_allocates_so_a_crowded_future_costs_nothing);
	tcase_add_test(
		tc,
		callback_node_runs_where_its_future_completes_and_user_callbacks_go_home);
	tcase_add_test(
		tc,
		a_caller_owned_node_on_a_dropped_future_is_never_freed_by_core);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
