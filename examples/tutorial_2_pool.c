/* SPDX-License-Identifier: MIT */
/*
 * Tutorial 2: the pool (docs/tutorial/2-pool.md).
 *
 * Part A submits eight independent tasks to a two-worker pool and waits for
 * each future. Part B is fork-join: fib(n) where every call submits fib(n-1)
 * as a child task, computes fib(n-2) itself and then waits for the child.
 * The wait inside a pool task helps: the worker runs queued tasks (often the
 * very child it waits for) instead of sleeping, so the recursion completes
 * even on a pool of ONE worker, where a blocking wait would deadlock at the
 * first level. Each result is checked against a sequential computation.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <spool.h>

/* ---- part A: independent tasks ---------------------------------------- */

static int square(void *arg, void **result)
{
	intptr_t x = (intptr_t)arg;
	*result = (void *)(x * x); /* small integers travel in the pointer */
	return 0;
}

static int part_a(spool_pool *pool)
{
	spool_executor *ex = spool_pool_executor(pool);
	spool_future *fs[8];
	for (intptr_t i = 0; i < 8; i++)
		fs[i] = spool_submit(ex, square, (void *)i);

	intptr_t sum = 0;
	for (int i = 0; i < 8; i++) {
		void *v;
		if (!fs[i] || spool_future_result(fs[i], SPOOL_FOREVER, &v))
			return -1;
		sum += (intptr_t)v;
		spool_future_release(fs[i]);
	}
	printf("sum of squares 0..7: %ld\n", (long)sum);
	return sum == 140 ? 0 : -1;
}

/* ---- part B: fork-join ------------------------------------------------ */

static spool_executor *fib_ex; /* the pool the recursion runs on */

static int fib_task(void *arg, void **result)
{
	intptr_t n = (intptr_t)arg;
	if (n < 2) {
		*result = (void *)n;
		return 0;
	}
	/* Fork: submitted from a worker, the child goes onto this worker's
	 * own deque, where an idle worker may steal it. */
	spool_future *child = spool_submit(fib_ex, fib_task, (void *)(n - 1));
	if (!child)
		return SPOOL_ENOMEM;
	void *mine;
	int err = fib_task((void *)(n - 2), &mine); /* the other half, here */
	/* Join: this wait runs other pool tasks until child is final. */
	void *theirs;
	int cerr = spool_future_result(child, SPOOL_FOREVER, &theirs);
	spool_future_release(child);
	if (err)
		return err;
	if (cerr)
		return cerr;
	*result = (void *)((intptr_t)mine + (intptr_t)theirs);
	return 0;
}

static intptr_t fib_seq(intptr_t n)
{
	return n < 2 ? n : fib_seq(n - 1) + fib_seq(n - 2);
}

static int part_b(int workers, intptr_t n)
{
	spool_pool_options opts = SPOOL_POOL_OPTIONS_INIT;
	opts.workers = workers;
	spool_pool *pool;
	if (spool_pool_create(&pool, &opts) != 0)
		return -1;
	fib_ex = spool_pool_executor(pool);

	void *v = NULL;
	spool_future *f = spool_submit(fib_ex, fib_task, (void *)n);
	int err = f ? spool_future_result(f, SPOOL_FOREVER, &v) : SPOOL_ENOMEM;
	spool_future_release(f);
	spool_pool_shutdown(pool, SPOOL_SHUTDOWN_WAIT);
	spool_pool_stats st;
	spool_pool_stats_get(pool, &st);
	spool_pool_destroy(pool);

	printf("fib(%ld) on %d worker(s): %ld (%llu tasks run)\n", (long)n,
	       workers, (long)(intptr_t)v, (unsigned long long)st.tasks_run);
	/* fib(n) makes exactly fib(n+1) - 1 child tasks, plus the root. */
	if (err || (intptr_t)v != fib_seq(n) ||
	    st.tasks_run != (uint64_t)fib_seq(n + 1))
		return -1;
	return 0;
}

int main(void)
{
	spool_pool_options opts = SPOOL_POOL_OPTIONS_INIT;
	opts.workers = 2;
	spool_pool *pool;
	if (spool_pool_create(&pool, &opts) != 0)
		return EXIT_FAILURE;
	int bad = part_a(pool);
	spool_pool_destroy(pool); /* waits for the work, joins the workers */

	bad |= part_b(1, 20); /* one worker: only helping makes this finish */
	bad |= part_b(2, 20);
	return bad ? EXIT_FAILURE : EXIT_SUCCESS;
}
