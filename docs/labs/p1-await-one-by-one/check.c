/* SPDX-License-Identifier: MIT */
/*
 * Lab P1 checker: runs lab_fetch_all() inside a loop coroutine against
 * lab_fetch(), which counts the fetches in flight, and checks:
 *   - the bodies come back in input order (duplicates included);
 *   - every fetch overlaps the others: the most in flight at once is n;
 *   - a failing fetch's error is returned and nothing is left running;
 *   - n = 0 works; no future is leaked.
 * Times are printed, never checked: the overlap count says the same thing
 * on any machine.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lab.h"
#include "lab_check.h"

#define MAX_ID 16

static struct lab_gauge fetching;
static char body_of[MAX_ID][32]; /* "body of page <id>" */

static int64_t delay_ms(int id)
{
	return 2 + id % 5; /* 2 to 6 ms */
}

int lab_fetch(void *arg, void **result)
{
	int id = (int)(intptr_t)arg;
	lab_gauge_enter(&fetching);
	int err = spool_sleep((id < 0 ? 1 : delay_ms(id)) * SPOOL_NS_PER_MS);
	lab_gauge_leave(&fetching);
	if (err)
		return err; /* SPOOL_ECANCELLED: the fetch ends CANCELLED */
	if (id < 0 || id >= MAX_ID)
		return LAB_NOT_FOUND;
	*result = body_of[id];
	return 0;
}

static void check_many(spool_executor *ex)
{
	static const int ids[] = {3, 1, 4, 1, 5, 9, 2, 6};
	const size_t n = sizeof(ids) / sizeof(ids[0]);
	const char *bodies[sizeof(ids) / sizeof(ids[0])] = {0};
	int64_t sum = 0, longest = 0;
	for (size_t i = 0; i < n; i++) {
		sum += delay_ms(ids[i]);
		if (delay_ms(ids[i]) > longest)
			longest = delay_ms(ids[i]);
	}
	lab_gauge_reset(&fetching);
	int64_t t0 = lab_now_ns();
	int err = lab_fetch_all(ex, ids, n, bodies);
	int64_t took = lab_now_ns() - t0;
	long most = atomic_load(&fetching.max);
	lab_note("fetched %zu pages in %.1f ms, at most %ld in flight (the "
		 "delays add up to %lld ms; the longest is %lld ms)",
		 n, took / 1e6, most, (long long)sum, (long long)longest);

	LAB_CHECK(err == 0,
		  "lab_fetch_all returned %d (%s) for pages that "
		  "all exist",
		  err, spool_err_name(err));
	for (size_t i = 0; i < n; i++)
		LAB_CHECK(bodies[i] == body_of[ids[i]],
			  "bodies[%zu] is \"%s\", expected \"%s\": results "
			  "go in input order",
			  i, bodies[i] ? bodies[i] : "(null)", body_of[ids[i]]);
	LAB_CHECK(atomic_load(&fetching.total) == (long)n,
		  "%ld fetches ran for %zu ids: fetch each id once per "
		  "occurrence",
		  atomic_load(&fetching.total), n);
	LAB_CHECK(most > 1,
		  "the fetches ran one at a time (at most %ld in flight of "
		  "%zu): start them all before waiting for any",
		  most, n);
	LAB_CHECK(most == (long)n,
		  "only %ld of %zu fetches were in flight at once: start "
		  "them all before waiting for any",
		  most, n);
	LAB_CHECK(atomic_load(&fetching.now) == 0,
		  "%ld fetch(es) still running after lab_fetch_all returned",
		  atomic_load(&fetching.now));
}

static void check_failure(spool_executor *ex)
{
	static const int ids[] = {2, -1, 7, 8, 4};
	const size_t n = sizeof(ids) / sizeof(ids[0]);
	const char *bodies[sizeof(ids) / sizeof(ids[0])] = {0};
	lab_gauge_reset(&fetching);
	int err = lab_fetch_all(ex, ids, n, bodies);
	LAB_CHECK(err == LAB_NOT_FOUND,
		  "lab_fetch_all returned %d (%s) when page -1 does not "
		  "exist: expected its fetch's error, %d",
		  err, spool_err_name(err), LAB_NOT_FOUND);
	LAB_CHECK(atomic_load(&fetching.now) == 0,
		  "%ld fetch(es) still running after lab_fetch_all returned "
		  "the error: cancel the others and wait until they are "
		  "final before returning",
		  atomic_load(&fetching.now));
}

static int main_coro(void *arg, void **result)
{
	spool_executor *ex = arg;
	check_many(ex);
	check_failure(ex);
	LAB_CHECK(lab_fetch_all(ex, NULL, 0, NULL) == 0,
		  "lab_fetch_all of no pages must return 0");
	(void)result;
	return 0;
}

int main(void)
{
	for (int i = 0; i < MAX_ID; i++)
		snprintf(body_of[i], sizeof(body_of[i]), "body of page %d", i);
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
	lab_pass("8 fetches overlapped, bodies in input order, a failure "
		 "returned with nothing left running");
	return 0;
}
