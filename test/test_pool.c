/* SPDX-License-Identifier: MIT */
/* Suite "pool": every promise spool/pool.h makes about the work-stealing
 * pool. The races (lost wake-ups, shutdown against submitters, create and
 * destroy cycles) are in test_pool_stress.c. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/future_impl.h" /* the label field */
#include "pool/pool_impl.h"   /* the injection queue, for one test */
#include "support.h"

#define TIMEOUT (10 * SPOOL_NS_PER_S)

static spool_pool *make_pool(int workers, const char *name)
{
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = workers;
	o.name = name;
	spool_pool *p = NULL;
	ck_assert_int_eq(spool_pool_create(&p, &o), 0);
	ck_assert_ptr_nonnull(p);
	return p;
}

static int wait_ok(spool_future *f)
{
	return spool_future_wait(f, TIMEOUT);
}

/* Spins (yielding) until *flag is set or 10 s pass; returns the flag. */
static bool await_flag(atomic_int *flag)
{
	int64_t end = spool_test_now_ns() + TIMEOUT;
	while (!atomic_load(flag) && spool_test_now_ns() < end)
		sched_yield();
	return atomic_load(flag);
}

static int return_arg(void *arg, void **result)
{
	*result = arg;
	return 0;
}

static int fail_with_arg(void *arg, void **result)
{
	(void)result;
	return (int)(intptr_t)arg;
}

/* ---- options and creation ------------------------------------------------ */

START_TEST(negative_workers_is_einval)
{
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = -1;
	spool_pool *p = (spool_pool *)&o; /* must be overwritten */
	ck_assert_int_eq(spool_pool_create(&p, &o), SPOOL_EINVAL);
	ck_assert_ptr_null(p);
	o.workers = -100;
	ck_assert_int_eq(spool_pool_create(&p, &o), SPOOL_EINVAL);
	ck_assert_int_eq(spool_pool_create(NULL, NULL), SPOOL_EINVAL);
}
END_TEST

START_TEST(null_options_mean_online_cpus_and_name_spool)
{
	spool_pool *p = NULL;
	ck_assert_int_eq(spool_pool_create(&p, NULL), 0);
	ck_assert_int_eq(spool_pool_workers(p), spool_test_cpus());
	spool_pool_destroy(p);

	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	ck_assert_int_eq(spool_pool_create(&p, &o), 0);
	ck_assert_int_eq(spool_pool_workers(p), spool_test_cpus());
	spool_pool_destroy(p);
}
END_TEST

START_TEST(more_workers_than_cpus_is_allowed)
{
	spool_pool *p = make_pool(3 * spool_test_cpus() + 1, NULL);
	ck_assert_int_eq(spool_pool_workers(p), 3 * spool_test_cpus() + 1);
	spool_pool_destroy(p);
}
END_TEST

/* The process's virtual size in bytes, from /proc/self/statm. */
static unsigned long long vm_size(void)
{
	unsigned long long pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%llu", &pages), 1);
	fclose(f);
	return pages * (unsigned long long)sysconf(_SC_PAGESIZE);
}

static int threads_now(void)
{
	int n = 0;
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

START_TEST(create_fails_with_esys_and_leaves_nothing_running)
{
	/* Leave room for a few thread stacks only: the 64 workers cannot
	 * all start. This runs in the test's own process (Check forks). */
	spool_pool_destroy(make_pool(1, NULL)); /* sanitizer helper threads */
	int before = threads_now();
	struct rlimit old, lim;
	ck_assert_int_eq(getrlimit(RLIMIT_AS, &old), 0);
	lim = old;
	lim.rlim_cur = vm_size() + 48ull * 1024 * 1024;
	ck_assert_int_eq(setrlimit(RLIMIT_AS, &lim), 0);
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = 64;
	spool_pool *p = (spool_pool *)&o;
	int rc = spool_pool_create(&p, &o);
	ck_assert_int_eq(setrlimit(RLIMIT_AS, &old), 0);
	ck_assert_int_eq(rc, SPOOL_ESYS);
	ck_assert_ptr_null(p);
	/* The workers that did start were joined. */
	int64_t end = spool_test_now_ns() + TIMEOUT;
	while (threads_now() != before && spool_test_now_ns() < end)
		spool_test_sleep_ns(SPOOL_NS_PER_MS);
	ck_assert_int_eq(threads_now(), before);
}
END_TEST

START_TEST(null_pool_arguments_are_einval)
{
	spool_pool_stats st;
	ck_assert_int_eq(spool_pool_workers(NULL), SPOOL_EINVAL);
	ck_assert_ptr_null(spool_pool_executor(NULL));
	ck_assert_int_eq(spool_pool_shutdown(NULL, 0), SPOOL_EINVAL);
	ck_assert_int_eq(spool_pool_stats_get(NULL, &st), SPOOL_EINVAL);
	spool_pool *p = make_pool(1, NULL);
	ck_assert_int_eq(spool_pool_stats_get(p, NULL), SPOOL_EINVAL);
	ck_assert_int_eq(spool_pool_shutdown(p, 4), SPOOL_EINVAL);
	/* The bad call changed nothing: the pool still takes work. */
	spool_future *f = spool_submit(spool_pool_executor(p), return_arg, p);
	ck_assert_int_eq(wait_ok(f), 0);
	ck_assert_ptr_eq(spool_future_value(f), p);
	spool_future_release(f);
	spool_pool_destroy(p);
}
END_TEST

START_TEST(destroy_null_is_a_noop)
{
	spool_pool_destroy(NULL);
}
END_TEST

/* ---- thread names -------------------------------------------------------- */

struct name_probe {
	atomic_int arrived;
	int expected;
	char names[8][16];
};

/* Holds its worker until all expected probes run, so each runs on its own
 * worker, and records the worker's name. */
static int name_task(void *arg, void **result)
{
	struct name_probe *np = arg;
	int i = atomic_fetch_add(&np->arrived, 1);
	pthread_getname_np(pthread_self(), np->names[i], 16);
	int64_t end = spool_test_now_ns() + TIMEOUT;
	while (atomic_load(&np->arrived) < np->expected &&
	       spool_test_now_ns() < end)
		sched_yield();
	*result = NULL;
	return atomic_load(&np->arrived) >= np->expected ? 0 : 1;
}

static void check_names(const char *name, int n, const char *prefix)
{
	spool_pool *p = make_pool(n, name);
	struct name_probe np = {.expected = n};
	spool_future *f[8];
	for (int i = 0; i < n; i++)
		f[i] = spool_submit(spool_pool_executor(p), name_task, &np);
	for (int i = 0; i < n; i++) {
		ck_assert_int_eq(wait_ok(f[i]), 0);
		ck_assert_int_eq(spool_future_error(f[i]), 0);
		spool_future_release(f[i]);
	}
	bool seen[8] = {false};
	for (int i = 0; i < n; i++) {
		ck_assert_uint_le(strlen(np.names[i]), 15);
		size_t pl = strlen(prefix);
		ck_assert_msg(strncmp(np.names[i], prefix, pl) == 0 &&
				      np.names[i][pl] == '-',
			      "thread name '%s' lacks prefix '%s-'",
			      np.names[i], prefix);
		int idx = atoi(np.names[i] + pl + 1);
		ck_assert_int_ge(idx, 0);
		ck_assert_int_lt(idx, n);
		ck_assert(!seen[idx]);
		seen[idx] = true;
	}
	spool_pool_destroy(p);
}

START_TEST(workers_are_named_prefix_dash_index)
{
	check_names("tpool", 3, "tpool");
}
END_TEST

START_TEST(null_name_names_workers_spool)
{
	check_names(NULL, 2, "spool");
}
END_TEST

START_TEST(long_name_is_truncated_keeping_the_index)
{
	check_names("averyveryverylongname", 2, "averyveryvery");
}
END_TEST

/* ---- submission and results ---------------------------------------------- */

START_TEST(outside_submit_runs_task_and_gives_value)
{
	spool_pool *p = make_pool(2, NULL);
	int x;
	spool_future *f = spool_submit(spool_pool_executor(p), return_arg, &x);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(wait_ok(f), 0);
	ck_assert_int_eq(spool_future_state(f), SPOOL_DONE);
	ck_assert_ptr_eq(spool_future_value(f), &x);
	spool_future_release(f);

	f = spool_submit(spool_pool_executor(p), fail_with_arg, (void *)42);
	ck_assert_int_eq(spool_future_result(f, TIMEOUT, NULL), 42);
	ck_assert_int_eq(spool_future_state(f), SPOOL_FAILED);
	spool_future_release(f);
	spool_pool_destroy(p);
}
END_TEST

START_TEST(submit_null_fn_gives_failed_einval_future)
{
	spool_pool *p = make_pool(1, NULL);
	spool_future *f = spool_submit(spool_pool_executor(p), NULL, NULL);
	ck_assert_int_eq(spool_future_state(f), SPOOL_FAILED);
	ck_assert_int_eq(spool_future_error(f), SPOOL_EINVAL);
	spool_future_release(f);
	spool_pool_destroy(p);
}
END_TEST

static int current_is_self(void *arg, void **result)
{
	(void)arg;
	*result = spool_current_future();
	return 0;
}

START_TEST(current_future_is_set_while_the_task_runs)
{
	spool_pool *p = make_pool(2, NULL);
	spool_future *f = spool_submit(spool_pool_executor(p), current_is_self,
				       NULL);
	ck_assert_int_eq(wait_ok(f), 0);
	ck_assert_ptr_eq(spool_future_value(f), f);
	spool_future_release(f);
	ck_assert_ptr_null(spool_current_future());
	spool_pool_destroy(p);
}
END_TEST

static const char *seen_label;

static int read_label(void *arg, void **result)
{
	(void)arg;
	*result = NULL;
	seen_label = spool_current_future()->label;
	return 0;
}

START_TEST(labeled_submit_keeps_the_label)
{
	spool_pool *p = make_pool(1, NULL);
	spool_future *f = spool_submit_labeled(spool_pool_executor(p),
					       read_label, NULL, "my-label");
	ck_assert_int_eq(wait_ok(f), 0);
	ck_assert_str_eq(seen_label, "my-label");
	spool_future_release(f);
	spool_pool_destroy(p);
}
END_TEST

/* ---- fork-join ----------------------------------------------------------- */

static spool_executor *fib_ex;

static int fib_task(void *arg, void **result)
{
	intptr_t n = (intptr_t)arg;
	if (n < 2) {
		*result = (void *)n;
		return 0;
	}
	spool_future *a = spool_submit(fib_ex, fib_task, (void *)(n - 1));
	spool_future *b = spool_submit(fib_ex, fib_task, (void *)(n - 2));
	void *va, *vb;
	int ra = spool_future_result(a, SPOOL_FOREVER, &va);
	int rb = spool_future_result(b, SPOOL_FOREVER, &vb);
	spool_future_release(a);
	spool_future_release(b);
	if (ra || rb)
		return ra ? ra : rb;
	*result = (void *)((intptr_t)va + (intptr_t)vb);
	return 0;
}

static void check_fib(int workers)
{
	spool_pool *p = make_pool(workers, NULL);
	fib_ex = spool_pool_executor(p);
	spool_future *f = spool_submit(fib_ex, fib_task, (void *)20);
	void *v;
	ck_assert_int_eq(spool_future_result(f, 60 * SPOOL_NS_PER_S, &v), 0);
	ck_assert_int_eq((intptr_t)v, 6765);
	spool_future_release(f);
	spool_pool_stats st;
	ck_assert_int_eq(spool_pool_shutdown(p, SPOOL_SHUTDOWN_WAIT), 0);
	ck_assert_int_eq(spool_pool_stats_get(p, &st), 0);
	/* One task per call: fib(20) makes 2 * fib(21) - 1 calls. */
	ck_assert_uint_eq(st.tasks_run, 2 * 10946 - 1);
	spool_pool_destroy(p);
}

START_TEST(fib20_one_task_per_call_on_1_worker)
{
	check_fib(1);
}
END_TEST

START_TEST(fib20_one_task_per_call_on_2_workers)
{
	check_fib(2);
}
END_TEST

START_TEST(fib20_one_task_per_call_on_8_workers)
{
	check_fib(8);
}
END_TEST

struct tree {
	int n;
	int *first_child, *next_sibling;
	long *value;
	spool_executor *ex;
};

static struct tree tree;

static int tree_sum_task(void *arg, void **result)
{
	int node = (int)(intptr_t)arg;
	long sum = tree.value[node];
	spool_future *kids[64];
	int nk = 0;
	for (int c = tree.first_child[node]; c >= 0; c = tree.next_sibling[c]) {
		if (nk == 64) { /* sum the overflow inline */
			void *v;
			spool_future *f = spool_submit(tree.ex, tree_sum_task,
						       (void *)(intptr_t)c);
			if (spool_future_result(f, SPOOL_FOREVER, &v))
				return 1;
			sum += (long)(intptr_t)v;
			spool_future_release(f);
			continue;
		}
		kids[nk++] = spool_submit(tree.ex, tree_sum_task,
					  (void *)(intptr_t)c);
	}
	int rc = 0;
	for (int i = 0; i < nk; i++) {
		void *v;
		if (spool_future_result(kids[i], SPOOL_FOREVER, &v))
			rc = 1;
		else
			sum += (long)(intptr_t)v;
		spool_future_release(kids[i]);
	}
	*result = (void *)(intptr_t)sum;
	return rc;
}

START_TEST(recursive_sum_over_a_random_tree)
{
	enum { N = 20000 };
	tree.n = N;
	tree.first_child = malloc(N * sizeof(int));
	tree.next_sibling = malloc(N * sizeof(int));
	tree.value = malloc(N * sizeof(long));
	unsigned seed = 12345;
	long expect = 0;
	for (int i = 0; i < N; i++) {
		tree.first_child[i] = tree.next_sibling[i] = -1;
		tree.value[i] = (long)(rand_r(&seed) % 1000) - 300;
		expect += tree.value[i];
		if (i > 0) { /* a random recursive tree */
			int parent = rand_r(&seed) % i;
			tree.next_sibling[i] = tree.first_child[parent];
			tree.first_child[parent] = i;
		}
	}
	for (int workers = 1; workers <= 4; workers *= 2) {
		spool_pool *p = make_pool(workers, NULL);
		tree.ex = spool_pool_executor(p);
		spool_future *f = spool_submit(tree.ex, tree_sum_task, 0);
		void *v;
		ck_assert_int_eq(
			spool_future_result(f, 60 * SPOOL_NS_PER_S, &v), 0);
		ck_assert_int_eq((long)(intptr_t)v, expect);
		spool_future_release(f);
		spool_pool_destroy(p);
	}
	free(tree.first_child);
	free(tree.next_sibling);
	free(tree.value);
}
END_TEST

/* ---- help while waiting -------------------------------------------------- */

static int chain_task(void *arg, void **result)
{
	/* Each level submits the next and waits for it: 200 nested waits on
	 * one worker, each of which must run the child itself. */
	intptr_t depth = (intptr_t)arg;
	if (depth == 0) {
		*result = (void *)(intptr_t)1;
		return 0;
	}
	spool_future *f = spool_submit(fib_ex, chain_task, (void *)(depth - 1));
	void *v;
	int rc = spool_future_result(f, SPOOL_FOREVER, &v);
	spool_future_release(f);
	*result = (void *)((intptr_t)v + 1);
	return rc;
}

START_TEST(help_while_waiting_one_worker_runs_nested_children)
{
	spool_pool *p = make_pool(1, NULL);
	fib_ex = spool_pool_executor(p);
	spool_future *f = spool_submit(fib_ex, chain_task, (void *)200);
	void *v;
	ck_assert_int_eq(spool_future_result(f, 60 * SPOOL_NS_PER_S, &v), 0);
	ck_assert_int_eq((intptr_t)v, 201);
	spool_future_release(f);
	spool_pool_destroy(p);
}
END_TEST

struct outer_arg {
	spool_executor *ex;
	spool_future *inner; /* submitted from outside, queued behind us */
};

static int wait_for_outside_task(void *arg, void **result)
{
	/* With one worker, the only way inner can run is that this wait
	 * takes it from the injection queue. */
	struct outer_arg *oa = arg;
	*result = NULL;
	return spool_future_wait(oa->inner, SPOOL_FOREVER);
}

static int gate_task(void *arg, void **result)
{
	*result = NULL;
	return await_flag(arg) ? 0 : 1;
}

START_TEST(help_while_waiting_runs_queued_outside_work)
{
	spool_pool *p = make_pool(1, NULL);
	atomic_int go = 0;
	struct outer_arg oa = {.ex = spool_pool_executor(p)};
	/* The blocker holds the only worker while outer, then inner, are
	 * queued; outer then waits for inner, which only outer's own wait
	 * can run. */
	spool_future *blocker = spool_submit(oa.ex, gate_task, &go);
	spool_future *outer = spool_submit(oa.ex, wait_for_outside_task, &oa);
	oa.inner = spool_submit(oa.ex, return_arg, &oa);
	atomic_store(&go, 1); /* publishes oa.inner to outer */
	ck_assert_int_eq(wait_ok(outer), 0);
	ck_assert_int_eq(spool_future_error(outer), 0);
	ck_assert_int_eq(spool_future_state(oa.inner), SPOOL_DONE);
	ck_assert_int_eq(wait_ok(blocker), 0);
	spool_future_release(blocker);
	spool_future_release(outer);
	spool_future_release(oa.inner);
	spool_pool_destroy(p);
}
END_TEST

struct busy_root {
	spool_executor *ex;
	atomic_int started, flag;
};

static int set_flag_task(void *arg, void **result)
{
	atomic_store((atomic_int *)arg, 1);
	*result = NULL;
	return 0;
}

static int spawn_until_flag(void *arg, void **result)
{
	/* An endless fork-join loop on the only worker: its own deque is
	 * never empty when it looks, so only the periodic look at the
	 * injection queue can run the task that ends it. */
	struct busy_root *b = arg;
	atomic_store(&b->started, 1);
	int64_t end = spool_test_now_ns() + TIMEOUT;
	*result = NULL;
	while (!atomic_load(&b->flag)) {
		if (spool_test_now_ns() > end)
			return 1;
		spool_future *c = spool_submit(b->ex, return_arg, NULL);
		spool_future_wait(c, SPOOL_FOREVER);
		spool_future_release(c);
	}
	return 0;
}

START_TEST(outside_work_runs_during_a_long_fork_join_on_one_worker)
{
	spool_pool *p = make_pool(1, NULL);
	struct busy_root b = {.ex = spool_pool_executor(p)};
	spool_future *root = spool_submit(b.ex, spawn_until_flag, &b);
	ck_assert(await_flag(&b.started));
	spool_future *x = spool_submit(b.ex, set_flag_task, &b.flag);
	ck_assert_int_eq(wait_ok(root), 0);
	ck_assert_int_eq(spool_future_error(root), 0);
	ck_assert_int_eq(wait_ok(x), 0);
	spool_future_release(x);
	spool_future_release(root);
	spool_pool_destroy(p);
}
END_TEST

struct timed_wait {
	spool_future *never;
	int64_t waited_ns;
	int rc;
};

static int timed_wait_task(void *arg, void **result)
{
	struct timed_wait *tw = arg;
	int64_t t0 = spool_test_now_ns();
	tw->rc = spool_future_wait(tw->never, 50 * SPOOL_NS_PER_MS);
	tw->waited_ns = spool_test_now_ns() - t0;
	*result = NULL;
	return 0;
}

START_TEST(wait_with_timeout_inside_a_task_returns_etimedout)
{
	for (int workers = 1; workers <= 2; workers++) {
		spool_pool *p = make_pool(workers, NULL);
		struct timed_wait tw = {.never = spool_promise_new()};
		spool_future *f = spool_submit(spool_pool_executor(p),
					       timed_wait_task, &tw);
		ck_assert_int_eq(wait_ok(f), 0);
		ck_assert_int_eq(tw.rc, SPOOL_ETIMEDOUT);
		/* The deadline is honoured: not before it. */
		ck_assert_int_ge(tw.waited_ns, 50 * SPOOL_NS_PER_MS);
		ck_assert_int_eq(spool_future_state(tw.never), SPOOL_PENDING);
		spool_future_release(f);
		spool_promise_set_result(tw.never, NULL);
		spool_future_release(tw.never);
		spool_pool_destroy(p);
	}
}
END_TEST

struct busy_wait {
	spool_executor *ex;
	spool_future *never;
	spool_future *kids[100];
	atomic_int ran;
	int ran_at_return, rc;
};

static int sleep_1ms_task(void *arg, void **result)
{
	spool_test_sleep_ns(SPOOL_NS_PER_MS);
	atomic_fetch_add((atomic_int *)arg, 1);
	*result = NULL;
	return 0;
}

static int wait_with_work_queued(void *arg, void **result)
{
	/* 100 ms of queued work on the only worker, and a 20 ms wait on a
	 * future that never completes: the wait runs some of the work, then
	 * returns at its deadline, long before the work is done. */
	struct busy_wait *b = arg;
	for (int i = 0; i < 100; i++)
		b->kids[i] = spool_submit(b->ex, sleep_1ms_task, &b->ran);
	b->rc = spool_future_wait(b->never, 20 * SPOOL_NS_PER_MS);
	b->ran_at_return = atomic_load(&b->ran);
	*result = NULL;
	return 0;
}

START_TEST(wait_with_timeout_inside_a_task_returns_while_work_remains)
{
	spool_pool *p = make_pool(1, NULL);
	struct busy_wait b = {.ex = spool_pool_executor(p),
			      .never = spool_promise_new()};
	spool_future *f = spool_submit(b.ex, wait_with_work_queued, &b);
	ck_assert_int_eq(wait_ok(f), 0);
	ck_assert_int_eq(b.rc, SPOOL_ETIMEDOUT);
	ck_assert_int_gt(b.ran_at_return, 0);   /* it helped */
	ck_assert_int_lt(b.ran_at_return, 100); /* and stopped in time */
	for (int i = 0; i < 100; i++) {
		ck_assert_int_eq(wait_ok(b.kids[i]), 0);
		spool_future_release(b.kids[i]);
	}
	ck_assert_int_eq(atomic_load(&b.ran), 100);
	spool_future_release(f);
	spool_promise_set_result(b.never, NULL);
	spool_future_release(b.never);
	spool_pool_destroy(p);
}
END_TEST

static int complete_promise_later(void *arg, void **result)
{
	spool_test_sleep_ns(20 * SPOOL_NS_PER_MS);
	spool_promise_set_result(arg, arg);
	*result = NULL;
	return 0;
}

static int wait_promise_task(void *arg, void **result)
{
	/* Nothing to help with: the wait must block, then see the promise
	 * completed by another thread. */
	void *v;
	int rc = spool_future_result(arg, TIMEOUT, &v);
	*result = v;
	return rc;
}

static void *complete_in_thread(void *arg)
{
	complete_promise_later(arg, &(void *){NULL});
	return NULL;
}

START_TEST(wait_inside_a_task_sees_a_completion_from_another_thread)
{
	spool_pool *p = make_pool(1, NULL);
	spool_future *pr = spool_promise_new();
	spool_future *f = spool_submit(spool_pool_executor(p),
				       wait_promise_task, pr);
	pthread_t th;
	pthread_create(&th, NULL, complete_in_thread, pr);
	ck_assert_int_eq(wait_ok(f), 0);
	ck_assert_int_eq(spool_future_error(f), 0);
	ck_assert_ptr_eq(spool_future_value(f), pr);
	pthread_join(th, NULL);
	spool_future_release(f);
	spool_future_release(pr);
	spool_pool_destroy(p);
}
END_TEST

static spool_pool *other_pool;
static spool_future *other_promise;

static int wait_other_pool(void *arg, void **result)
{
	(void)arg;
	spool_future *f = spool_submit(spool_pool_executor(other_pool),
				       complete_promise_later, other_promise);
	int rc = wait_ok(f);
	spool_future_release(f);
	*result = NULL;
	return rc                                                ? rc
	       : spool_future_state(other_promise) == SPOOL_DONE ? 0
								 : 1;
}

START_TEST(a_worker_waits_for_a_future_of_another_pool)
{
	spool_pool *p = make_pool(1, NULL);
	other_pool = make_pool(1, NULL);
	other_promise = spool_promise_new();
	spool_future *f = spool_submit(spool_pool_executor(p), wait_other_pool,
				       NULL);
	ck_assert_int_eq(wait_ok(f), 0);
	ck_assert_int_eq(spool_future_error(f), 0);
	spool_future_release(f);
	spool_pool_destroy(p);
	spool_pool_destroy(other_pool);
	spool_future_release(other_promise);
}
END_TEST

/* ---- recycling ----------------------------------------------------------- */

static int noop_task(void *arg, void **result)
{
	(void)arg;
	*result = NULL;
	return 0;
}

static int spawn_many_task(void *arg, void **result)
{
	/* Spawns and joins children one at a time; in the steady state each
	 * child's record is the one the previous child gave back. */
	spool_executor *ex = arg;
	spool_future *seen[4] = {NULL};
	int distinct = 0;
	for (int i = 0; i < 10000; i++) {
		spool_future *f = spool_submit(ex, noop_task, NULL);
		if (wait_ok(f) != 0)
			return 1;
		bool known = false;
		for (int k = 0; k < distinct; k++)
			known |= seen[k] == f;
		if (!known && distinct < 4)
			seen[distinct++] = f;
		else if (!known)
			distinct = 5;
		spool_future_release(f);
	}
	*result = (void *)(intptr_t)distinct;
	return 0;
}

START_TEST(worker_spawn_reuses_task_records_in_the_steady_state)
{
	spool_pool *p = make_pool(1, NULL);
	spool_future *f = spool_submit(spool_pool_executor(p), spawn_many_task,
				       spool_pool_executor(p));
	void *v;
	ck_assert_int_eq(spool_future_result(f, TIMEOUT, &v), 0);
	/* 10,000 spawns used at most 4 distinct records (no malloc each). */
	ck_assert_int_le((intptr_t)v, 4);
	spool_future_release(f);
	spool_pool_destroy(p);
}
END_TEST

static int spawn_and_return_child(void *arg, void **result)
{
	spool_future *child = spool_submit(arg, return_arg, (void *)7);
	*result = child; /* ownership passes to whoever reads the value */
	return 0;
}

START_TEST(futures_outlive_the_pool)
{
	spool_pool *p = make_pool(2, NULL);
	spool_executor *ex = spool_pool_executor(p);
	spool_future *outside = spool_submit(ex, return_arg, (void *)5);
	spool_future *parent = spool_submit(ex, spawn_and_return_child, ex);
	ck_assert_int_eq(wait_ok(parent), 0);
	spool_future *child = spool_future_value(parent);
	ck_assert_ptr_nonnull(child);
	spool_pool_destroy(p);
	/* All final, all still readable. */
	ck_assert_int_eq(spool_future_state(outside), SPOOL_DONE);
	ck_assert_int_eq(spool_future_state(child), SPOOL_DONE);
	ck_assert_ptr_eq(spool_future_value(child), (void *)7);
	ck_assert_ptr_eq(spool_future_value(outside), (void *)5);
	spool_future_release(child);
	spool_future_release(parent);
	spool_future_release(outside);
}
END_TEST

/* ---- cancellation and shutdown ------------------------------------------- */

static int count_task(void *arg, void **result)
{
	atomic_fetch_add((atomic_int *)arg, 1);
	*result = NULL;
	return 0;
}

START_TEST(cancel_of_a_queued_task_means_it_never_runs)
{
	spool_pool *p = make_pool(1, NULL);
	atomic_int go = 0, ran = 0;
	spool_executor *ex = spool_pool_executor(p);
	spool_future *blocker = spool_submit(ex, gate_task, &go);
	spool_future *f = spool_submit(ex, count_task, &ran);
	ck_assert_int_eq(spool_future_cancel(f), 0);
	ck_assert_int_eq(spool_future_state(f), SPOOL_CANCELLED);
	atomic_store(&go, 1);
	ck_assert_int_eq(wait_ok(blocker), 0);
	ck_assert_int_eq(spool_pool_shutdown(p, SPOOL_SHUTDOWN_WAIT), 0);
	ck_assert_int_eq(atomic_load(&ran), 0);
	spool_pool_stats st;
	spool_pool_stats_get(p, &st);
	ck_assert_uint_eq(st.tasks_run, 1); /* the blocker only */
	spool_future_release(blocker);
	spool_future_release(f);
	spool_pool_destroy(p);
}
END_TEST

static int until_cancelled(void *arg, void **result)
{
	atomic_store((atomic_int *)arg, 1);
	int64_t end = spool_test_now_ns() + TIMEOUT;
	*result = NULL;
	while (!spool_cancel_requested())
		if (spool_test_now_ns() > end)
			return 1;
	return SPOOL_ECANCELLED;
}

START_TEST(cancel_request_is_seen_by_the_running_task)
{
	spool_pool *p = make_pool(2, NULL);
	atomic_int started = 0;
	spool_future *f = spool_submit(spool_pool_executor(p), until_cancelled,
				       &started);
	ck_assert(await_flag(&started));
	ck_assert_int_eq(spool_future_cancel(f), SPOOL_EBUSY);
	ck_assert_int_eq(wait_ok(f), 0);
	ck_assert_int_eq(spool_future_state(f), SPOOL_CANCELLED);
	spool_future_release(f);
	spool_pool_destroy(p);
}
END_TEST

/* Runs until *gate is set, then returns arg. */
static int until_gate(void *arg, void **result)
{
	atomic_int *gate = arg;
	atomic_store(&gate[1], 1);
	int64_t end = spool_test_now_ns() + TIMEOUT;
	while (!atomic_load(&gate[0]))
		if (spool_test_now_ns() > end)
			return 1;
	*result = arg;
	return 0;
}

START_TEST(promise_calls_refuse_a_pool_future_and_change_nothing)
{
	spool_pool *p = make_pool(1, NULL);
	atomic_int gate[2] = {0, 0}; /* [0] open, [1] started */
	spool_future *f = spool_submit(spool_pool_executor(p), until_gate,
				       gate);
	ck_assert(await_flag(&gate[1]));
	/* RUNNING: only the pool completes it, as asyncio.Task refuses
	 * set_result. */
	ck_assert_int_eq(spool_promise_set_result(f, NULL), SPOOL_EINVAL);
	ck_assert_int_eq(spool_promise_set_error(f, 7), SPOOL_EINVAL);
	ck_assert_int_eq(spool_promise_start(f), SPOOL_EINVAL);
	ck_assert_int_eq(spool_future_state(f), SPOOL_RUNNING);
	atomic_store(&gate[0], 1);
	ck_assert_int_eq(wait_ok(f), 0);
	ck_assert_int_eq(spool_future_state(f), SPOOL_DONE);
	ck_assert_ptr_eq(spool_future_value(f), gate);
	/* Final: still refused, the outcome stays. */
	ck_assert_int_eq(spool_promise_set_error(f, 7), SPOOL_EINVAL);
	ck_assert_ptr_eq(spool_future_value(f), gate);
	spool_future_release(f);
	spool_pool_destroy(p);
}
END_TEST

START_TEST(submit_after_shutdown_fails_with_eshutdown)
{
	spool_pool *p = make_pool(2, NULL);
	ck_assert_int_eq(spool_pool_shutdown(p, 0), 0);
	atomic_int ran = 0;
	spool_future *f = spool_submit(spool_pool_executor(p), count_task,
				       &ran);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(spool_future_state(f), SPOOL_FAILED);
	ck_assert_int_eq(spool_future_error(f), SPOOL_ESHUTDOWN);
	spool_future_release(f);
	spool_pool_destroy(p);
	ck_assert_int_eq(atomic_load(&ran), 0);
}
END_TEST

START_TEST(shutdown_without_cancel_still_runs_queued_work)
{
	spool_pool *p = make_pool(1, NULL);
	atomic_int go = 0, ran = 0;
	spool_executor *ex = spool_pool_executor(p);
	spool_future *blocker = spool_submit(ex, gate_task, &go);
	spool_future *f[100];
	for (int i = 0; i < 100; i++)
		f[i] = spool_submit(ex, count_task, &ran);
	ck_assert_int_eq(spool_pool_shutdown(p, 0), 0); /* does not wait */
	atomic_store(&go, 1);
	ck_assert_int_eq(spool_pool_shutdown(p, SPOOL_SHUTDOWN_WAIT), 0);
	ck_assert_int_eq(atomic_load(&ran), 100);
	for (int i = 0; i < 100; i++) {
		ck_assert_int_eq(spool_future_state(f[i]), SPOOL_DONE);
		spool_future_release(f[i]);
	}
	spool_future_release(blocker);
	spool_pool_destroy(p);
}
END_TEST

struct spawner {
	spool_executor *ex;
	atomic_int *go, *ran;
	spool_future *kids[50];
	atomic_int spawned;
};

static int spawn_then_block(void *arg, void **result)
{
	/* The children go onto this worker's own deque; then it blocks, so
	 * they stay queued there. */
	struct spawner *s = arg;
	for (int i = 0; i < 50; i++)
		s->kids[i] = spool_submit(s->ex, count_task, s->ran);
	atomic_store(&s->spawned, 1);
	*result = NULL;
	return await_flag(s->go) ? 0 : 1;
}

START_TEST(shutdown_cancel_pending_cancels_every_queued_future)
{
	spool_pool *p = make_pool(1, NULL);
	atomic_int go = 0, ran = 0;
	spool_executor *ex = spool_pool_executor(p);
	struct spawner s = {.ex = ex, .go = &go, .ran = &ran};
	spool_future *blocker = spool_submit(ex, spawn_then_block, &s);
	ck_assert(await_flag(&s.spawned));
	spool_future *f[100];
	for (int i = 0; i < 100; i++)
		f[i] = spool_submit(ex, count_task, &ran);
	ck_assert_int_eq(spool_pool_shutdown(p, SPOOL_SHUTDOWN_CANCEL_PENDING),
			 0);
	/* Cancelled by the time shutdown returns: injected and deque. */
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(spool_future_state(f[i]), SPOOL_CANCELLED);
	for (int i = 0; i < 50; i++)
		ck_assert_int_eq(spool_future_state(s.kids[i]),
				 SPOOL_CANCELLED);
	/* The running task was not stopped. */
	ck_assert_int_ne(spool_future_state(blocker), SPOOL_CANCELLED);
	atomic_store(&go, 1);
	ck_assert_int_eq(spool_pool_shutdown(p, SPOOL_SHUTDOWN_WAIT), 0);
	ck_assert_int_eq(spool_future_state(blocker), SPOOL_DONE);
	ck_assert_int_eq(atomic_load(&ran), 0);
	for (int i = 0; i < 100; i++)
		spool_future_release(f[i]);
	for (int i = 0; i < 50; i++)
		spool_future_release(s.kids[i]);
	spool_future_release(blocker);
	spool_pool_destroy(p);
}
END_TEST

START_TEST(later_shutdown_call_can_still_cancel_pending)
{
	spool_pool *p = make_pool(1, NULL);
	atomic_int gate[2] = {0, 0}, ran = 0; /* [0] open, [1] started */
	spool_executor *ex = spool_pool_executor(p);
	spool_future *blocker = spool_submit(ex, until_gate, gate);
	/* The blocker holds the only worker before f is queued: a worker
	 * that is taking f out of the queue as shutdown cancels has started
	 * it, and shutdown rightly leaves it alone. */
	ck_assert(await_flag(&gate[1]));
	spool_future *f = spool_submit(ex, count_task, &ran);
	ck_assert_int_eq(spool_pool_shutdown(p, 0), 0);
	ck_assert_int_eq(spool_future_state(f), SPOOL_PENDING);
	ck_assert_int_eq(spool_pool_shutdown(p, SPOOL_SHUTDOWN_CANCEL_PENDING),
			 0);
	ck_assert_int_eq(spool_future_state(f), SPOOL_CANCELLED);
	atomic_store(&gate[0], 1);
	spool_pool_destroy(p);
	ck_assert_int_eq(atomic_load(&ran), 0);
	spool_future_release(f);
	spool_future_release(blocker);
}
END_TEST

static int shutdown_wait_self(void *arg, void **result)
{
	*result = NULL;
	return spool_pool_shutdown(arg, SPOOL_SHUTDOWN_WAIT);
}

START_TEST(shutdown_wait_from_a_worker_is_edeadlk_but_shuts_down)
{
	spool_pool *p = make_pool(2, NULL);
	spool_future *f = spool_submit(spool_pool_executor(p),
				       shutdown_wait_self, p);
	ck_assert_int_eq(spool_future_result(f, TIMEOUT, NULL), SPOOL_EDEADLK);
	spool_future_release(f);
	f = spool_submit(spool_pool_executor(p), noop_task, NULL);
	ck_assert_int_eq(spool_future_error(f), SPOOL_ESHUTDOWN);
	spool_future_release(f);
	spool_pool_destroy(p);
}
END_TEST

static int destroy_self(void *arg, void **result)
{
	*result = NULL;
	spool_pool_destroy(arg);
	return 0;
}

START_TEST(destroy_from_a_worker_aborts)
{
	spool_pool *p = make_pool(1, NULL);
	spool_future *f = spool_submit(spool_pool_executor(p), destroy_self, p);
	spool_future_wait(f, TIMEOUT);
}
END_TEST

static int spawn_after_shutdown(void *arg, void **result)
{
	/* Shut the pool down from inside, then fork-join: the children are
	 * accepted because this task is running. */
	spool_pool_shutdown(arg, 0);
	fib_ex = spool_pool_executor(arg);
	return fib_task((void *)15, result);
}

START_TEST(running_tasks_can_still_spawn_while_the_pool_drains)
{
	spool_pool *p = make_pool(2, NULL);
	spool_future *f = spool_submit(spool_pool_executor(p),
				       spawn_after_shutdown, p);
	void *v;
	ck_assert_int_eq(spool_future_result(f, TIMEOUT, &v), 0);
	ck_assert_int_eq((intptr_t)v, 610);
	spool_future_release(f);
	spool_pool_destroy(p);
}
END_TEST

/* ---- statistics ---------------------------------------------------------- */

START_TEST(stats_tasks_run_equals_tasks_submitted)
{
	spool_pool *p = make_pool(2, NULL);
	spool_executor *ex = spool_pool_executor(p);
	atomic_int ran = 0;
	enum { N = 5000 };
	static spool_future *f[N];
	for (int i = 0; i < N; i++)
		f[i] = spool_submit(ex, count_task, &ran);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(wait_ok(f[i]), 0);
		spool_future_release(f[i]);
	}
	spool_pool_stats st;
	/* Exact once every future was seen final, even before shutdown. */
	ck_assert_int_eq(spool_pool_stats_get(p, &st), 0);
	ck_assert_uint_eq(st.tasks_run, N);
	fib_ex = ex;
	f[0] = spool_submit(ex, fib_task, (void *)15);
	ck_assert_int_eq(wait_ok(f[0]), 0);
	spool_future_release(f[0]);
	ck_assert_int_eq(spool_pool_shutdown(p, SPOOL_SHUTDOWN_WAIT), 0);
	ck_assert_int_eq(spool_pool_stats_get(p, &st), 0);
	ck_assert_uint_eq(st.tasks_run, N + 2 * 987 - 1);
	ck_assert_int_eq(atomic_load(&ran), N);
	spool_pool_destroy(p);
}
END_TEST

START_TEST(stats_count_parks_and_wakeups_of_an_idle_pool)
{
	spool_pool *p = make_pool(2, NULL);
	spool_pool_stats st;
	/* Idle workers search briefly, then park. */
	int64_t end = spool_test_now_ns() + TIMEOUT;
	do {
		spool_pool_stats_get(p, &st);
		sched_yield();
	} while (st.parks < 2 && spool_test_now_ns() < end);
	ck_assert_uint_ge(st.parks, 2);
	ck_assert_uint_eq(st.wakeups, 0);
	/* With every worker parked and none searching, a submission must
	 * wake one. */
	spool_future *f = spool_submit(spool_pool_executor(p), noop_task, NULL);
	ck_assert_int_eq(wait_ok(f), 0);
	spool_future_release(f);
	spool_pool_stats_get(p, &st);
	ck_assert_uint_ge(st.wakeups, 1);
	ck_assert_uint_eq(st.tasks_run, 1);
	spool_pool_destroy(p);
}
END_TEST

START_TEST(spawning_on_a_busy_pool_wakes_nobody)
{
	/* One worker, busy with fib(20)'s 21,891 tasks: every spawn checks
	 * for a sleeper, and there is none to wake while the only worker
	 * runs, so no wake-up (no system call) is sent but the one for the
	 * root submission. */
	spool_pool *p = make_pool(1, NULL);
	spool_pool_stats before, after;
	int64_t end = spool_test_now_ns() + TIMEOUT;
	do { /* let the worker park, so the root's wake is counted */
		spool_pool_stats_get(p, &before);
		sched_yield();
	} while (before.parks == 0 && spool_test_now_ns() < end);
	fib_ex = spool_pool_executor(p);
	spool_future *f = spool_submit(fib_ex, fib_task, (void *)20);
	ck_assert_int_eq(wait_ok(f), 0);
	spool_future_release(f);
	spool_pool_stats_get(p, &after);
	ck_assert_uint_eq(after.tasks_run - before.tasks_run, 2 * 10946 - 1);
	ck_assert_uint_le(after.wakeups - before.wakeups, 1);
	spool_pool_destroy(p);
}
END_TEST

static int use_pool_inside(void *arg, void **result)
{
	/* Every call but destroy is allowed from the pool's own worker. */
	spool_pool *p = arg;
	spool_pool_stats st;
	*result = NULL;
	if (spool_pool_workers(p) != 2 || spool_pool_stats_get(p, &st) != 0 ||
	    st.tasks_run != 0 || spool_pool_executor(p) == NULL)
		return 1;
	return spool_pool_shutdown(p, SPOOL_SHUTDOWN_CANCEL_PENDING);
}

START_TEST(pool_calls_work_from_inside_a_task)
{
	spool_pool *p = make_pool(2, NULL);
	spool_future *f = spool_submit(spool_pool_executor(p), use_pool_inside,
				       p);
	ck_assert_int_eq(spool_future_result(f, TIMEOUT, NULL), 0);
	spool_future_release(f);
	spool_pool_destroy(p);
}
END_TEST

/* Waits until p's workers have slept at least `parks` times in total. */
static spool_pool_stats await_parks(spool_pool *p, uint64_t parks)
{
	spool_pool_stats st;
	int64_t end = spool_test_now_ns() + TIMEOUT;
	do {
		spool_pool_stats_get(p, &st);
		sched_yield();
	} while (st.parks < parks && spool_test_now_ns() < end);
	ck_assert_uint_ge(st.parks, parks);
	return st;
}

START_TEST(parking_recheck_tolerates_a_pop_that_reports_empty_spuriously)
{
	/* Hold the injection queue's consumer side, so that every pop the
	 * worker tries answers "nothing for you" although a task is queued:
	 * the same answer a spuriously empty dequeue gives (Concurrency Kit
	 * 0.7.1's ck_fifo_mpmc, or this queue mid-push). A protocol that
	 * trusted its pops would put the worker back to sleep with the task
	 * stranded; the recheck before sleeping must keep it awake. */
	spool_pool *p = make_pool(1, NULL);
	spool_pool_stats before = await_parks(p, 1);
	ck_assert(spool__inject_trylock(&p->inj));
	atomic_int ran = 0;
	spool_future *f = spool_submit(spool_pool_executor(p), count_task,
				       &ran);
	spool_test_sleep_ns(50 * SPOOL_NS_PER_MS);
	spool_pool_stats during;
	spool_pool_stats_get(p, &during);
	/* Woken by the submission, and never asleep again since. */
	ck_assert_uint_eq(during.wakeups, before.wakeups + 1);
	ck_assert_uint_eq(during.parks, before.parks);
	ck_assert_int_eq(spool_future_state(f), SPOOL_PENDING);
	spool__inject_unlock(&p->inj);
	ck_assert_int_eq(wait_ok(f), 0);
	ck_assert_int_eq(atomic_load(&ran), 1);
	spool_future_release(f);
	spool_pool_destroy(p);
}
END_TEST

enum { SPREAD = 8 };

struct spread {
	spool_executor *ex;
	atomic_int ran;
};

static int spread_child(void *arg, void **result)
{
	(void)result;
	atomic_fetch_add(&((struct spread *)arg)->ran, 1);
	return 0;
}

/* Queues SPREAD children on its own worker's deque, then spins until they
 * ran without waiting on them: its worker never helps, so only the other
 * worker can run them, and only by stealing each. */
static int spread_root(void *arg, void **result)
{
	struct spread *s = arg;
	(void)result;
	spool_future *c[SPREAD];
	for (int i = 0; i < SPREAD; i++)
		c[i] = spool_submit(s->ex, spread_child, s);
	int64_t end = spool_test_now_ns() + TIMEOUT;
	while (atomic_load(&s->ran) < SPREAD && spool_test_now_ns() < end)
		sched_yield();
	for (int i = 0; i < SPREAD; i++)
		spool_future_release(c[i]);
	return atomic_load(&s->ran) == SPREAD ? 0 : SPOOL_ETIMEDOUT;
}

START_TEST(stats_count_steals_when_work_spreads)
{
	spool_pool *p = make_pool(2, NULL);
	struct spread s = {spool_pool_executor(p), 0};
	spool_future *f = spool_submit(s.ex, spread_root, &s);
	ck_assert_int_eq(wait_ok(f), 0);
	ck_assert_int_eq(spool_future_error(f), 0);
	spool_future_release(f);
	/* Each child was stolen once; the root came from the injection
	 * queue, which is not a steal. A worker that finds nothing fails at
	 * least one steal before it parks. */
	spool_pool_stats st;
	int64_t end = spool_test_now_ns() + TIMEOUT;
	do {
		spool_pool_stats_get(p, &st);
		sched_yield();
	} while (st.failed_steals == 0 && spool_test_now_ns() < end);
	ck_assert_uint_eq(st.steals, SPREAD);
	ck_assert_uint_gt(st.failed_steals, 0);
	spool_pool_destroy(p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pool");
	TCase *tc = spool_test_case("create", 30);
	tcase_add_test(tc, negative_workers_is_einval);
	tcase_add_test(tc, null_options_mean_online_cpus_and_name_spool);
	tcase_add_test(tc, more_workers_than_cpus_is_allowed);
	tcase_add_test(tc, create_fails_with_esys_and_leaves_nothing_running);
	tcase_add_test(tc, null_pool_arguments_are_einval);
	tcase_add_test(tc, destroy_null_is_a_noop);
	tcase_add_test(tc, workers_are_named_prefix_dash_index);
	tcase_add_test(tc, null_name_names_workers_spool);
	tcase_add_test(tc, long_name_is_truncated_keeping_the_index);
	suite_add_tcase(s, tc);

	tc = spool_test_case("submit", 60);
	tcase_add_test(tc, outside_submit_runs_task_and_gives_value);
	tcase_add_test(tc, submit_null_fn_gives_failed_einval_future);
	tcase_add_test(tc, current_future_is_set_while_the_task_runs);
	tcase_add_test(tc, labeled_submit_keeps_the_label);
	tcase_add_test(tc, fib20_one_task_per_call_on_1_worker);
	tcase_add_test(tc, fib20_one_task_per_call_on_2_workers);
	tcase_add_test(tc, fib20_one_task_per_call_on_8_workers);
	tcase_add_test(tc, recursive_sum_over_a_random_tree);
	tcase_add_test(tc,
		       worker_spawn_reuses_task_records_in_the_steady_state);
	tcase_add_test(tc, futures_outlive_the_pool);
	suite_add_tcase(s, tc);

	tc = spool_test_case("wait", 60);
	tcase_add_test(tc, help_while_waiting_one_worker_runs_nested_children);
	tcase_add_test(tc, help_while_waiting_runs_queued_outside_work);
	tcase_add_test(tc,
		       outside_work_runs_during_a_long_fork_join_on_one_worker);
	tcase_add_test(tc, wait_with_timeout_inside_a_task_returns_etimedout);
	tcase_add_test(
		tc, wait_with_timeout_inside_a_task_returns_while_work_remains);
	tcase_add_test(
		tc, wait_inside_a_task_sees_a_completion_from_another_thread);
	tcase_add_test(tc, a_worker_waits_for_a_future_of_another_pool);
	suite_add_tcase(s, tc);

	tc = spool_test_case("shutdown", 60);
	tcase_add_test(tc, cancel_of_a_queued_task_means_it_never_runs);
	tcase_add_test(tc, cancel_request_is_seen_by_the_running_task);
	tcase_add_test(tc,
		       promise_calls_refuse_a_pool_future_and_change_nothing);
	tcase_add_test(tc, submit_after_shutdown_fails_with_eshutdown);
	tcase_add_test(tc, shutdown_without_cancel_still_runs_queued_work);
	tcase_add_test(tc, shutdown_cancel_pending_cancels_every_queued_future);
	tcase_add_test(tc, later_shutdown_call_can_still_cancel_pending);
	tcase_add_test(tc,
		       shutdown_wait_from_a_worker_is_edeadlk_but_shuts_down);
	tcase_add_test_raise_signal(tc, destroy_from_a_worker_aborts, SIGABRT);
	tcase_add_test(tc, running_tasks_can_still_spawn_while_the_pool_drains);
	suite_add_tcase(s, tc);

	tc = spool_test_case("stats", 60);
	tcase_add_test(tc, stats_tasks_run_equals_tasks_submitted);
	tcase_add_test(tc, stats_count_parks_and_wakeups_of_an_idle_pool);
	tcase_add_test(tc, stats_count_steals_when_work_spreads);
	tcase_add_test(tc, spawning_on_a_busy_pool_wakes_nobody);
	tcase_add_test(tc, pool_calls_work_from_inside_a_task);
	suite_add_tcase(s, tc);

	tc = spool_test_case("park", 60);
	tcase_add_test(
		tc,
		parking_recheck_tolerates_a_pop_that_reports_empty_spuriously);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
