/* SPDX-License-Identifier: MIT */
/*
 * Tutorial 4: joining work back (docs/tutorial/4-join.md).
 *
 * Four IO-bound jobs (coroutines sleeping 40, 10, 30 and 5 ms; job 3 is the
 * fastest) run on the loop inside one "main" coroutine, joined back in each
 * of the ways asyncio offers: awaiting one by one, starting all and waiting
 * in submission order, gather (plain, with SPOOL_RETURN_ERRORS, nested),
 * as_completed, wait (FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED with
 * a timeout), wait_for, a task group, map and then. Every line it prints is
 * checked (orders, values, error codes); times are not. What follows from
 * the delays is checked only when the delays alone decide it: an order when
 * the timers were armed within 5 ms of each other (the gap between jobs 3
 * and 1), a job's cancellation when it was still asleep at the failure.
 * When a busy machine or a sanitizer stretched that, the program says on
 * stderr what it did not check and why.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <spool.h>

#define NJOBS 4
#define FAIL 0x100    /* arg bit: this job fails */
#define JOB_ERROR 103 /* the failing job's task error */
static const int64_t delay_ms[NJOBS] = {40, 10, 30, 5};
static intptr_t value_of[NJOBS] = {0, 10, 20, 30}; /* job i's value */
#define SMALLEST_GAP_MS 5      /* between two delays: job 3's and job 1's */
static double armed_at[NJOBS]; /* when job i last armed its timer */
static double failed_at;       /* when a failing job last failed */

static spool_executor *ex; /* the loop's executor */
static int failures;

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "FAILED: %s\n", what);
		failures++;
	}
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* An IO-bound job: sleeps its delay, then returns its value or fails. */
static int job(void *arg, void **result)
{
	intptr_t a = (intptr_t)arg, i = a & 0xff;
	armed_at[i] = now_ms(); /* its timer is due delay_ms[i] after this */
	int err = spool_sleep(delay_ms[i] * SPOOL_NS_PER_MS);
	if (err)
		return err; /* SPOOL_ECANCELLED: the task ends CANCELLED */
	if (a & FAIL) {
		failed_at = now_ms();
		return JOB_ERROR;
	}
	*result = &value_of[i];
	return 0;
}

/* Starts the four jobs, then lets them run first (asyncio.sleep(0)): each
 * arms its timer and suspends before this coroutine runs again. Returns
 * how long that took: job i's timer is due delay_ms[i] after a moment
 * within it. */
static double start_all(spool_future **fs, intptr_t fail_bits)
{
	double t0 = now_ms();
	for (intptr_t i = 0; i < NJOBS; i++)
		fs[i] = spool_submit(
			ex, job,
			(void *)(i | ((fail_bits >> i & 1) ? FAIL : 0)));
	(void)spool_sleep(0);
	return now_ms() - t0;
}

/* The jobs finish in the order of their delays only if their timers were
 * armed within the smallest gap between two delays; a busy machine, or a
 * sanitizer's slow coroutine start, can stretch that, and then a job that
 * started late may rightly finish after a slower one. */
static bool delays_decide_order(const char *what, double armed_over_ms)
{
	if (armed_over_ms < SMALLEST_GAP_MS)
		return true;
	fprintf(stderr,
		"%s: the timers were armed over %.1f ms (%d ms or more), so "
		"the order is not checked\n",
		what, armed_over_ms, SMALLEST_GAP_MS);
	return false;
}

/* Was job i surely still asleep at moment t (when the failing job failed,
 * or when a wait returned)? Its timer was due after t. Otherwise a loop
 * that woke late may have found several timers due at once and let job i
 * finish too, before anything could react. */
static bool asleep_at(double t, const char *moment, const char *what, int i)
{
	double due = armed_at[i] + delay_ms[i];
	if (due > t)
		return true;
	fprintf(stderr,
		"%s: job %d's timer was due %.1f ms before %s: it may rightly "
		"have finished, not checked\n",
		what, i, t - due, moment);
	return false;
}

static bool asleep_at_failure(const char *what, int i)
{
	return asleep_at(failed_at, "job 3 failed", what, i);
}

static void settle_and_release(spool_future **fs, size_t n)
{
	spool_wait(fs, n, SPOOL_ALL_COMPLETED, SPOOL_FOREVER, NULL, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		spool_future_release(fs[i]);
}

static void print_order(const char *what, const int *order, int n)
{
	printf("%-28s order", what);
	for (int i = 0; i < n; i++)
		printf(" %d", order[i]);
	printf("\n");
}

static int value_index(void *v)
{
	return (int)(*(intptr_t *)v / 10);
}

static int main_coro(void *arg, void **result)
{
	(void)arg;
	(void)result;
	spool_future *fs[NJOBS];
	int order[NJOBS];
	void *v;
	static const int input_order[NJOBS] = {0, 1, 2, 3};
	static const int by_delay[NJOBS] = {3, 1, 2, 0};

	/* 1. Await one by one: start one, await it, start the next. The
	 * jobs never overlap: sequential, 40+10+30+5 = 85 ms. */
	for (intptr_t i = 0; i < NJOBS; i++) {
		spool_future *f = spool_submit(ex, job, (void *)i);
		check(spool_future_result(f, SPOOL_FOREVER, &v) == 0, "1by1");
		order[i] = value_index(v);
		spool_future_release(f);
	}
	print_order("await one by one:", order, NJOBS);
	check(!memcmp(order, input_order, sizeof(order)), "1by1 order");

	/* 2. Start all, then await in submission order: they overlap (40
	 * ms), but job 3, done at 5 ms, is handled only after job 0. */
	start_all(fs, 0);
	for (int i = 0; i < NJOBS; i++) {
		check(spool_future_result(fs[i], SPOOL_FOREVER, &v) == 0, "in");
		order[i] = value_index(v);
	}
	settle_and_release(fs, NJOBS);
	print_order("start all, await in order:", order, NJOBS);
	check(!memcmp(order, input_order, sizeof(order)), "in-order order");

	/* 3. gather: one wait, values in input order. */
	start_all(fs, 0);
	spool_future *g = spool_gather(fs, NJOBS, 0);
	check(spool_future_wait(g, SPOOL_FOREVER) == 0, "gather wait");
	for (size_t i = 0; i < NJOBS; i++) {
		check(spool_gather_result(g, i, &v) == 0, "gather slot");
		order[i] = value_index(v);
	}
	spool_future_release(g);
	settle_and_release(fs, NJOBS);
	print_order("gather:", order, NJOBS);
	check(!memcmp(order, input_order, sizeof(order)), "gather order");

	/* 4. gather when job 3 fails: FAILED at once with its error, while
	 * the others keep running; with SPOOL_RETURN_ERRORS every slot holds
	 * a value or an error. */
	start_all(fs, 1 << 3);
	g = spool_gather(fs, NJOBS, 0);
	int gerr = spool_future_result(g, SPOOL_FOREVER, NULL);
	int still_running = !spool_future_done(fs[0]);
	bool job0_asleep = asleep_at_failure("gather", 0);
	spool_future_release(g);
	g = spool_gather(fs, NJOBS, SPOOL_RETURN_ERRORS);
	check(spool_future_result(g, SPOOL_FOREVER, NULL) == 0,
	      "RETURN_ERRORS");
	int slot_err[NJOBS];
	for (size_t i = 0; i < NJOBS; i++)
		slot_err[i] = spool_gather_result(g, i, NULL);
	printf("gather, job 3 fails:         err %d, job 0 still running: %s\n",
	       gerr, still_running ? "yes" : "no");
	printf("gather, RETURN_ERRORS:       slot errors %d %d %d %d\n",
	       slot_err[0], slot_err[1], slot_err[2], slot_err[3]);
	check(gerr == JOB_ERROR && (still_running || !job0_asleep),
	      "gather fails early");
	check(!slot_err[0] && !slot_err[1] && !slot_err[2] &&
		      slot_err[3] == JOB_ERROR,
	      "slot errors");

	/* 5. Gathers nest: a gather is a future. Two groups of two, the
	 * second collecting its own error. */
	spool_future *inner[2] = {spool_gather(fs, 2, 0),
				  spool_gather(fs + 2, 2, SPOOL_RETURN_ERRORS)};
	spool_future *outer = spool_gather(inner, 2, 0);
	check(spool_future_result(outer, SPOOL_FOREVER, NULL) == 0, "nested");
	int e2 = spool_gather_result(inner[1], 1, NULL);
	printf("nested gather:               inner 2, slot 1: err %d\n", e2);
	check(e2 == JOB_ERROR, "nested gather slot error");
	spool_future_release(outer);
	spool_future_release(inner[0]);
	spool_future_release(inner[1]);
	spool_future_release(g);
	settle_and_release(fs, NJOBS);

	/* 6. as_completed: each result handled the moment it arrives. */
	bool check_order = delays_decide_order("as_completed",
					       start_all(fs, 0));
	spool_as_completed *it;
	check(spool_as_completed_create(&it, fs, NJOBS, SPOOL_FOREVER) == 0,
	      "as_completed create");
	spool_future *f;
	size_t idx;
	int k = 0;
	while (spool_as_completed_next(it, &f, &idx) == 0 && k < NJOBS)
		order[k++] = (int)idx;
	spool_as_completed_destroy(it);
	settle_and_release(fs, NJOBS);
	print_order("as_completed:", order, k);
	check(k == NJOBS &&
		      (!check_order || !memcmp(order, by_delay, sizeof(order))),
	      "as_completed order");

	/* 7. wait: FIRST_COMPLETED returns once one is final (here beside a
	 * promise nobody completes, which a wait for all would wait on
	 * forever); FIRST_EXCEPTION once one FAILED; ALL_COMPLETED with a
	 * timeout reports what is still pending and cancels nothing. */
	check_order = delays_decide_order("wait FIRST_COMPLETED",
					  start_all(fs, 1 << 2));
	bool done[NJOBS + 1];
	size_t nd, np;
	spool_future *w[NJOBS + 1];
	memcpy(w, fs, sizeof(fs));
	w[NJOBS] = spool_promise_new();
	check(spool_wait(w, NJOBS + 1, SPOOL_FIRST_COMPLETED, SPOOL_FOREVER,
			 done, &nd, &np) == 0 &&
		      nd >= 1 && np >= 1 && nd + np == NJOBS + 1 &&
		      !done[NJOBS] && (!check_order || done[3]),
	      "FIRST_COMPLETED");
	/* Nor did it wait for a second job: job 0 is still asleep whenever
	 * the wait came back before its timer was due. */
	if (asleep_at(now_ms(), "the wait returned", "wait FIRST_COMPLETED", 0))
		check(!done[0], "FIRST_COMPLETED returned at the first");
	spool_future_cancel(w[NJOBS]);
	spool_future_release(w[NJOBS]);
	printf("wait FIRST_COMPLETED:        job 3 done: %s\n",
	       done[3] ? "yes" : "no");
	check(spool_wait(fs, NJOBS, SPOOL_FIRST_EXCEPTION, SPOOL_FOREVER, done,
			 &nd, &np) == 0 &&
		      done[2] && spool_future_error(fs[2]) == JOB_ERROR,
	      "FIRST_EXCEPTION");
	printf("wait FIRST_EXCEPTION:        job 2 failed: %s\n",
	       done[2] ? "yes" : "no");
	settle_and_release(fs, NJOBS);
	start_all(fs, 0);
	spool_future *all[NJOBS + 1];
	memcpy(all, fs, sizeof(fs));
	all[NJOBS] = spool_promise_new();
	int werr = spool_wait(all, NJOBS + 1, SPOOL_ALL_COMPLETED,
			      60 * SPOOL_NS_PER_MS, done, &nd, &np);
	printf("wait ALL_COMPLETED, 60 ms:   returns %d, promise pending: %s, "
	       "cancelled: %s\n",
	       werr, done[NJOBS] ? "no" : "yes",
	       spool_future_cancel_requested(all[NJOBS]) ? "yes" : "no");
	check(werr == 0 && np >= 1 && nd + np == NJOBS + 1 && !done[NJOBS] &&
		      !spool_future_cancel_requested(all[NJOBS]),
	      "wait timeout");
	spool_future_cancel(all[NJOBS]);
	settle_and_release(all, NJOBS + 1);

	/* 8. wait_for: a timeout cancels the job and waits until it is. */
	f = spool_submit(ex, job, (void *)0);
	int wf = spool_wait_for(f, 5 * SPOOL_NS_PER_MS, NULL);
	printf("wait_for 5 ms on job 0:      %s, job %s\n", spool_err_name(wf),
	       spool_future_state(f) == SPOOL_CANCELLED ? "CANCELLED" : "?");
	check(wf == SPOOL_ETIMEDOUT && spool_future_state(f) == SPOOL_CANCELLED,
	      "wait_for");
	spool_future_release(f);

	/* 9. A task group: job 3 fails at 5 ms and cancels the others. As
	 * asyncio's TaskGroup, it does so in the loop's next iteration, so
	 * that jobs woken in the same one as job 3 finish as they would:
	 * every job still asleep when job 3 failed must end CANCELLED. */
	spool_group *grp;
	check(spool_group_create(&grp, ex, 0) == 0, "group create");
	spool_future *t[NJOBS];
	for (intptr_t i = 0; i < NJOBS; i++)
		spool_group_spawn(grp, job, (void *)(i | (i == 3 ? FAIL : 0)),
				  &t[i]);
	int jerr = spool_group_join(grp, SPOOL_FOREVER);
	int ncancelled = 0;
	bool asleep_ones_cancelled = true;
	for (int i = 0; i < NJOBS; i++) {
		bool c = spool_future_state(t[i]) == SPOOL_CANCELLED;
		ncancelled += c;
		if (i != 3 && asleep_at_failure("task group", i) && !c)
			asleep_ones_cancelled = false;
		spool_future_release(t[i]);
	}
	printf("task group, job 3 fails:     join %d, %zu failure, %d "
	       "cancelled\n",
	       jerr, spool_group_failures(grp), ncancelled);
	check(jerr == JOB_ERROR && spool_group_failures(grp) == 1 &&
		      asleep_ones_cancelled,
	      "group");
	spool_group_destroy(grp);
	return 0;
}

/* map and then run on a pool: results in input order, two at a time. */
static int square(void *arg, void **result)
{
	intptr_t x = (intptr_t)arg;
	*result = (void *)(x * x);
	return 0;
}

static int plus_one(spool_future *src, void *arg, void **result)
{
	(void)arg;
	*result = (void *)((intptr_t)spool_future_value(src) + 1);
	return spool_future_error(src);
}

static void map_and_then(void)
{
	spool_pool *pool;
	if (spool_pool_create(&pool, NULL) != 0) {
		check(0, "pool create");
		return;
	}
	void *args[5] = {(void *)1, (void *)2, (void *)3, (void *)4, (void *)5};
	spool_future *m = spool_map(spool_pool_executor(pool), square, args, 5,
				    2);
	check(spool_future_wait(m, SPOOL_FOREVER) == 0, "map");
	printf("map square, 2 in flight:     ");
	intptr_t sum = 0;
	for (size_t i = 0; i < spool_gather_size(m); i++) {
		void *v = NULL;
		check(spool_gather_result(m, i, &v) == 0, "map slot");
		printf("%ld ", (long)(intptr_t)v);
		sum += (intptr_t)v;
	}
	printf("\n");
	check(sum == 55, "map values");
	spool_future_release(m);

	spool_future *sq = spool_submit(spool_pool_executor(pool), square,
					(void *)6);
	spool_future *next = spool_then(sq, spool_executor_inline(), plus_one,
					NULL);
	void *v = NULL;
	check(spool_future_result(next, SPOOL_FOREVER, &v) == 0, "then");
	printf("then: square(6) + 1 =        %ld\n", (long)(intptr_t)v);
	check((intptr_t)v == 37, "then value");
	spool_future_release(next);
	spool_future_release(sq);
	spool_pool_destroy(pool);
}

int main(void)
{
	spool_loop *loop;
	if (spool_loop_create(&loop, NULL) != 0)
		return EXIT_FAILURE;
	ex = spool_loop_executor(loop);
	spool_future *m = spool_submit(ex, main_coro, NULL);
	int err = m ? spool_loop_run_until_complete(loop, m) : SPOOL_ENOMEM;
	check(err == 0, "main coroutine");
	spool_future_release(m);
	spool_loop_destroy(loop);
	map_and_then();
	return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
