/* SPDX-License-Identifier: MIT */
/*
 * Lab P4 checker: tasks of five kinds, each counting itself in flight
 * while it runs:
 *   FAST      yields to the loop a given number of times, then succeeds
 *             (so on the loop they complete in the order of their yield
 *             counts, whatever the clock does);
 *   FAIL      yields, then fails with 7;
 *   HANG      sleeps for ever: it ends only by being cancelled;
 *   STUBBORN  sleeps for ever; when cancelled it first cleans up for
 *             2 ms (a second sleep, which the cancel does not cut short),
 *             then acknowledges;
 *   POLL      on a pool thread: checks spool_cancel_requested() every
 *             millisecond, for up to 10 s.
 * It checks that after each call nothing is in flight (the tasks given up
 * on were cancelled AND waited for), the outcomes and values, and for
 * lab_collect_until the completion order and that every task that
 * succeeded before the deadline was collected. The deadline is compared
 * with the time each task recorded when it completed, so no bound on the
 * machine's speed is assumed.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lab.h"
#include "lab_check.h"

enum kind { FAST, FAIL, HANG, STUBBORN, POLL };
static const char *const kind_name[] = {"FAST", "FAIL", "HANG", "STUBBORN",
					"POLL"};

struct job {
	enum kind kind;
	int yields;
	int value;
	int64_t completed_at; /* FAST: when it succeeded; 0 before */
	int seq;              /* FAST: its place in completion order */
};

static struct lab_gauge running;
static atomic_int completions;

static int job_task(void *arg, void **result)
{
	struct job *j = arg;
	lab_gauge_enter(&running);
	int err = 0;
	switch (j->kind) {
	case FAST:
	case FAIL:
		for (int i = 0; i < j->yields && !err; i++)
			err = spool_sleep(0);
		break;
	case HANG:
		err = spool_sleep(SPOOL_FOREVER);
		break;
	case STUBBORN:
		err = spool_sleep(SPOOL_FOREVER);
		if (err == SPOOL_ECANCELLED)
			spool_sleep(2 * SPOOL_NS_PER_MS); /* cleaning up */
		break;
	case POLL:
		for (int i = 0; i < 10000 && !spool_cancel_requested(); i++)
			spool_sleep(SPOOL_NS_PER_MS); /* blocks the thread */
		if (spool_cancel_requested())
			err = SPOOL_ECANCELLED;
		break;
	}
	if (!err && j->kind == FAIL)
		err = 7;
	if (!err) {
		j->completed_at = lab_now_ns();
		j->seq = atomic_fetch_add(&completions, 1);
		*result = &j->value;
	}
	lab_gauge_leave(&running);
	return err;
}

static void check_nothing_running(const char *fn, const char *what)
{
	long now = atomic_load(&running.now);
	LAB_CHECK(now == 0,
		  "%ld task(s) still running after %s returned (%s): a "
		  "timeout only stops the wait; cancel the task and wait "
		  "until it is final",
		  now, fn, what);
}

static void call(spool_executor *ex, struct job *j, int64_t timeout_ms,
		 int want)
{
	void *v = NULL;
	int err = lab_call_with_timeout(ex, job_task, j,
					timeout_ms * SPOOL_NS_PER_MS, &v);
	char what[96];
	snprintf(what, sizeof(what), "a %s task, timeout %lld ms",
		 kind_name[j->kind], (long long)timeout_ms);
	if (err == SPOOL_ETIMEDOUT)
		LAB_CHECK(atomic_load(&running.now) == 0,
			  "the task was still running after "
			  "lab_call_with_timeout returned SPOOL_ETIMEDOUT "
			  "(%s): cancel it and wait until it is final "
			  "(spool_wait_for does both)",
			  what);
	check_nothing_running("lab_call_with_timeout", what);
	LAB_CHECK(err == want,
		  "lab_call_with_timeout returned %s for %s, "
		  "expected %s",
		  spool_err_name(err), what, spool_err_name(want));
	if (want == 0)
		LAB_CHECK(v == &j->value,
			  "lab_call_with_timeout: *value is "
			  "not the task's value (%s)",
			  what);
}

static void check_call_with_timeout(spool_executor *loop_ex,
				    spool_executor *pool_ex)
{
	struct job fast = {FAST, 3, 11, 0, 0};
	call(loop_ex, &fast, 1000, 0);
	struct job hang = {HANG, 0, 0, 0, 0};
	call(loop_ex, &hang, 20, SPOOL_ETIMEDOUT);
	struct job stubborn = {STUBBORN, 0, 0, 0, 0};
	call(loop_ex, &stubborn, 10, SPOOL_ETIMEDOUT);
	struct job fail = {FAIL, 2, 0, 0, 0};
	call(loop_ex, &fail, 1000, 7);
	struct job poll = {POLL, 0, 0, 0, 0};
	call(pool_ex, &poll, 20, SPOOL_ETIMEDOUT);
}

#define NJOBS 10

static void check_collect_until(spool_executor *ex)
{
	struct job jobs[NJOBS] = {
		{FAST, 5, 100, 0, 0},     {FAST, 1, 101, 0, 0},
		{HANG, 0, 102, 0, 0},     {FAST, 2, 103, 0, 0},
		{FAIL, 2, 104, 0, 0},     {FAST, 6, 105, 0, 0},
		{STUBBORN, 0, 106, 0, 0}, {FAST, 3, 107, 0, 0},
		{HANG, 0, 108, 0, 0},     {FAST, 4, 109, 0, 0},
	};
	void *args[NJOBS], *values[NJOBS];
	size_t which[NJOBS];
	for (int i = 0; i < NJOBS; i++)
		args[i] = &jobs[i];
	const int64_t timeout = 100 * SPOOL_NS_PER_MS;
	atomic_store(&completions, 0);
	int64_t t0 = lab_now_ns();
	long got = lab_collect_until(ex, job_task, args, NJOBS, timeout, values,
				     which);
	int64_t took = lab_now_ns() - t0;
	lab_note("lab_collect_until: %ld collected, returned after %.1f ms "
		 "(timeout 100 ms)",
		 got, took / 1e6);
	check_nothing_running("lab_collect_until",
			      "2 HANG and 1 STUBBORN task, timeout 100 ms");
	LAB_CHECK(got >= 0 && got <= NJOBS,
		  "lab_collect_until returned %ld (%s)", got,
		  spool_err_name((int)got));
	int prev = -1;
	bool collected[NJOBS] = {false};
	for (long k = 0; k < got; k++) {
		size_t i = which[k];
		LAB_CHECK(i < NJOBS, "which[%ld] = %zu is not an index", k, i);
		LAB_CHECK(jobs[i].kind == FAST && jobs[i].completed_at,
			  "collected task %zu, a %s task that did not "
			  "succeed",
			  i, kind_name[jobs[i].kind]);
		LAB_CHECK(!collected[i], "task %zu collected twice", i);
		collected[i] = true;
		LAB_CHECK(values[k] == &jobs[i].value,
			  "values[%ld] is not task %zu's value", k, i);
		LAB_CHECK(jobs[i].seq > prev,
			  "task %zu collected at place %ld, after a task that "
			  "completed later: collect in completion order "
			  "(spool_as_completed)",
			  i, k);
		prev = jobs[i].seq;
	}
	for (int i = 0; i < NJOBS; i++)
		LAB_CHECK(collected[i] || jobs[i].kind != FAST ||
				  !jobs[i].completed_at ||
				  jobs[i].completed_at >= t0 + timeout,
			  "task %d succeeded %.1f ms after the call, before "
			  "the 100 ms deadline, and was not collected",
			  i, (jobs[i].completed_at - t0) / 1e6);
}

static int main_coro(void *arg, void **result)
{
	spool_executor *loop_ex = arg;
	spool_pool_options po = SPOOL_POOL_OPTIONS_INIT;
	po.workers = 1;
	spool_pool *pool;
	LAB_CHECK(spool_pool_create(&pool, &po) == 0, "no pool");
	check_call_with_timeout(loop_ex, spool_pool_executor(pool));
	check_collect_until(loop_ex);
	void *v;
	size_t w;
	LAB_CHECK(lab_collect_until(loop_ex, job_task, NULL, 0, SPOOL_NS_PER_MS,
				    &v, &w) == 0,
		  "lab_collect_until of no tasks must return 0");
	spool_pool_destroy(pool);
	(void)result;
	return 0;
}

int main(void)
{
	long live0 = lab_live_futures();
	spool_loop *loop;
	LAB_CHECK(spool_loop_create(&loop, NULL) == 0, "no loop");
	spool_executor *ex = spool_loop_executor(loop);
	spool_future *m = spool_submit(ex, main_coro, ex);
	int err = spool_loop_run_until_complete(loop, m);
	LAB_CHECK(err == 0, "the checker's coroutine ended with %s",
		  spool_err_name(err));
	spool_future_release(m);
	spool_loop_destroy(loop);
	lab_check_no_leaked_futures(live0, "after the loop was destroyed");
	lab_pass("timeouts cancelled and waited for (loop and pool), results "
		 "collected in completion order until the deadline, nothing "
		 "left running");
	return 0;
}
