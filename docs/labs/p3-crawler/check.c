/* SPDX-License-Identifier: MIT */
/*
 * Lab P3 checker: a site of NPAGES pages (links from a fixed
 * pseudo-random generator, with cycles, self-links, broken pages and pages
 * nothing links to) served by lab_fetch_page(), which counts fetches per
 * page and fetches in flight. It runs lab_crawl() inside a loop coroutine
 * and checks, against a breadth-first search of its own:
 *   - every reachable page is fetched exactly once, no other page is, and
 *     the count returned is the number of successful fetches;
 *   - never more than k fetches in flight, and k at some moment (page 0
 *     links to 8 pages, so k up to 8 can always be reached);
 *   - the window is refilled as soon as any fetch completes: in one run a
 *     "slow" page's fetch does not finish until every other page has been
 *     fetched. A crawler that waits for a whole batch stalls there; the
 *     checker notices that no fetch has started or ended for a second,
 *     lets the slow page finish, and reports it. This needs no clock for a
 *     correct crawler: the slow page is released by the last other fetch;
 *   - nothing is running when lab_crawl returns, and no future leaks.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lab.h"
#include "lab_check.h"

#define NPAGES 80
#define LINKED 70  /* pages 70..79 are linked only from broken pages */
#define MAXLINKS 9 /* page 0 links to 8; page 20 gets one more */

static struct lab_page pages[NPAGES];
static int links[NPAGES][MAXLINKS];
static bool broken[NPAGES];
static bool reachable[NPAGES];
static int nreachable, nok; /* reachable pages; those that succeed */
static int fetch_count[NPAGES];
static struct lab_gauge fetching;
static atomic_long progress; /* fetch starts and ends */

/* The slow-page run: gate_page's fetch waits for gate, which the last
 * other fetch completes (or the watchdog, after a second without
 * progress). gate_page has no links in that run. */
static int gate_page = -1;
static spool_future *gate;
static int others_left;
static bool gate_forced;
static int left_when_forced;

static void build_site(void)
{
	uint32_t x = 12345;
	for (int i = 0; i < NPAGES; i++) {
		int n = 0;
		if (i == 0) {
			for (int j = 1; j <= 8; j++)
				links[i][n++] = j;
		} else if (i < LINKED) {
			int deg = 1 + i % 4;
			for (int j = 0; j < deg; j++) {
				x = x * 1103515245u + 12345u;
				links[i][n++] = (int)((x >> 16) % LINKED);
			}
		}
		pages[i] = (struct lab_page){i, (size_t)n, links[i]};
	}
	/* Broken pages; page 75 (and 76, which only 75 links to) can be
	 * reached only through broken page 20. */
	broken[20] = broken[41] = true;
	links[20][pages[20].nlinks++] = 75;
	links[75][0] = 76;
	pages[75].nlinks = 1;
}

/* Breadth-first search from start: sets reachable[] and the counts. */
static void explore(int start)
{
	int queue[NPAGES], head = 0, tail = 0;
	memset(reachable, 0, sizeof(reachable));
	reachable[start] = true;
	queue[tail++] = start;
	nok = 0;
	while (head < tail) {
		int p = queue[head++];
		if (broken[p])
			continue;
		nok++;
		if (p == gate_page)
			continue;
		for (size_t l = 0; l < pages[p].nlinks; l++) {
			int to = pages[p].links[l];
			if (!reachable[to]) {
				reachable[to] = true;
				queue[tail++] = to;
			}
		}
	}
	nreachable = tail;
}

int lab_fetch_page(void *arg, void **result)
{
	int id = (int)(intptr_t)arg;
	LAB_CHECK(id >= 0 && id < NPAGES, "lab_fetch_page(%d): no such page",
		  id);
	fetch_count[id]++;
	lab_gauge_enter(&fetching);
	atomic_fetch_add(&progress, 1);
	int err;
	if (id == gate_page)
		err = spool_future_wait(gate, SPOOL_FOREVER);
	else
		err = spool_sleep((id % 3) * SPOOL_NS_PER_MS);
	lab_gauge_leave(&fetching);
	atomic_fetch_add(&progress, 1);
	if (gate_page >= 0 && id != gate_page && --others_left == 0)
		spool_promise_set_result(gate, NULL);
	if (err)
		return err;
	if (broken[id])
		return LAB_BROKEN;
	static const struct lab_page gate_view = {0, 0, NULL};
	*result = (void *)(id == gate_page ? &gate_view : &pages[id]);
	return 0;
}

/* Every 20 ms while the slow-page run lasts: after 50 ticks without a
 * fetch starting or ending, the crawler is stuck behind the slow page. */
static spool_handle *watchdog;
static long last_progress;
static int idle_ticks;

static void watch(spool_loop *loop, void *arg)
{
	long now = atomic_load(&progress);
	idle_ticks = now == last_progress ? idle_ticks + 1 : 0;
	last_progress = now;
	if (idle_ticks >= 50 && !spool_future_done(gate)) {
		gate_forced = true;
		left_when_forced = others_left;
		spool_promise_set_result(gate, NULL);
	}
	spool_handle_release(watchdog);
	spool_loop_call_later(loop, 20 * SPOOL_NS_PER_MS, watch, arg,
			      &watchdog);
}

static void crawl(spool_executor *ex, int start, size_t k, bool reach_k)
{
	explore(start);
	memset(fetch_count, 0, sizeof(fetch_count));
	lab_gauge_reset(&fetching);
	int64_t t0 = lab_now_ns();
	long got = lab_crawl(ex, start, NPAGES, k);
	long most = atomic_load(&fetching.max);
	lab_note("crawl from %d with k = %zu: %ld fetched in %.1f ms, at "
		 "most %ld in flight",
		 start, k, got, (lab_now_ns() - t0) / 1e6, most);

	LAB_CHECK(atomic_load(&fetching.now) == 0,
		  "%ld fetch(es) still running after lab_crawl returned",
		  atomic_load(&fetching.now));
	for (int p = 0; p < NPAGES; p++) {
		LAB_CHECK(fetch_count[p] <= 1,
			  "page %d was fetched %d times: fetch each page "
			  "once (mark a page seen when you queue it)",
			  p, fetch_count[p]);
		LAB_CHECK(!reachable[p] || fetch_count[p] == 1,
			  "page %d is reachable from page %d but was never "
			  "fetched",
			  p, start);
		LAB_CHECK(reachable[p] || fetch_count[p] == 0,
			  "page %d was fetched, but nothing fetched links to "
			  "it (only a broken page does)",
			  p);
	}
	LAB_CHECK(got == nok,
		  "lab_crawl returned %ld; %d fetches succeeded (%d pages "
		  "reached, some broken)",
		  got, nok, nreachable);
	LAB_CHECK(most <= (long)k,
		  "%ld fetches were in flight at once, more than k = %zu", most,
		  k);
	if (reach_k)
		LAB_CHECK(most == (long)k,
			  "at most %ld fetch in flight with k = %zu, although "
			  "page %d links to 8 pages at once: keep up to k "
			  "fetches running",
			  most, k, start);
}

static void crawl_past_slow_page(spool_loop *loop, spool_executor *ex)
{
	gate_page = 3; /* page 0 links to it */
	gate = spool_promise_new();
	gate_forced = false;
	explore(0);
	others_left = nreachable - 1;
	last_progress = -1;
	idle_ticks = 0;
	spool_loop_call_later(loop, 20 * SPOOL_NS_PER_MS, watch, NULL,
			      &watchdog);
	crawl(ex, 0, 3, true);
	spool_handle_cancel(watchdog);
	spool_handle_release(watchdog);
	LAB_CHECK(!gate_forced,
		  "the crawl stalled behind one slow page (no fetch started "
		  "or ended for a second while %d other pages were still to "
		  "be fetched): start the next page as soon as ANY fetch "
		  "completes (SPOOL_FIRST_COMPLETED), not when a whole batch "
		  "has",
		  left_when_forced);
	spool_future_release(gate);
	gate = NULL;
	gate_page = -1;
}

static int main_coro(void *arg, void **result)
{
	spool_loop *loop = arg;
	spool_executor *ex = spool_loop_executor(loop);
	crawl(ex, 0, 4, true);
	crawl(ex, 0, 1, true);
	crawl(ex, 0, 8, true);
	crawl(ex, 0, 1000, false);
	crawl(ex, 5, 2, false);
	crawl(ex, 79, 4, false); /* a page with no links */
	crawl_past_slow_page(loop, ex);
	(void)result;
	return 0;
}

int main(void)
{
	build_site();
	long live0 = lab_live_futures();
	spool_loop *loop;
	LAB_CHECK(spool_loop_create(&loop, NULL) == 0, "no loop");
	spool_future *m = spool_submit(spool_loop_executor(loop), main_coro,
				       loop);
	int err = spool_loop_run_until_complete(loop, m);
	LAB_CHECK(err == 0, "the checker's coroutine ended with %s",
		  spool_err_name(err));
	spool_future_release(m);
	spool_loop_destroy(loop);
	lab_check_no_leaked_futures(live0, "after the loop was destroyed");
	explore(0);
	lab_pass("each of the %d reachable pages fetched once, never more "
		 "than k in flight and k reached, the window refilled past a "
		 "slow page",
		 nreachable);
	return 0;
}
