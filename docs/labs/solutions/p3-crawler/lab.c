/* SPDX-License-Identifier: MIT */
/*
 * Lab P3, a solution: a window of at most k fetches, refilled as soon as
 * any of them completes.
 *
 * The queue holds pages seen but not yet fetched (a page is marked seen
 * when it is queued, so no page is queued twice); the window holds the
 * futures in flight. Each round tops the window up from the queue, waits
 * with SPOOL_FIRST_COMPLETED (it returns as soon as one future is final,
 * and reports every one that is), handles and releases the finished ones,
 * and compacts the window. The crawl ends when the queue is empty and the
 * window too; after an error (no memory) nothing new is started and the
 * window is cancelled and drained, so nothing outlives the call.
 *
 * Each spool_wait() leaves a small callback node on every future still in
 * flight, freed when that future completes (spool/combinators.h): a future
 * that stays in the window for r rounds carries r of them, which is fine
 * for a window this size.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "lab.h"

long lab_crawl(spool_executor *ex, int start, int npages, size_t k)
{
	size_t cap = k < (size_t)npages ? k : (size_t)npages;
	if (cap == 0)
		cap = 1;
	bool *seen = calloc((size_t)npages, sizeof(*seen));
	int *queue = malloc((size_t)npages * sizeof(*queue));
	spool_future **window = malloc(cap * sizeof(*window));
	bool *done = malloc(cap * sizeof(*done));
	long result = 0;
	if (!seen || !queue || !window || !done) {
		result = SPOOL_ENOMEM;
		goto out;
	}
	size_t head = 0, tail = 0, inflight = 0;
	seen[start] = true;
	queue[tail++] = start;

	while (head < tail || inflight > 0) {
		while (result >= 0 && inflight < cap && head < tail) {
			int id = queue[head++];
			spool_future *f = spool_submit(ex, lab_fetch_page,
						       (void *)(intptr_t)id);
			if (!f) {
				result = SPOOL_ENOMEM;
				break;
			}
			window[inflight++] = f;
		}
		if (result < 0) {
			head = tail; /* start nothing more */
			for (size_t i = 0; i < inflight; i++)
				spool_future_cancel(window[i]);
		}
		if (inflight == 0)
			break;
		int err = spool_wait(window, inflight, SPOOL_FIRST_COMPLETED,
				     SPOOL_FOREVER, done, NULL, NULL);
		if (err) {
			/* No memory to wait with (or cancelled): give up,
			 * but drain the window first. */
			for (size_t i = 0; i < inflight; i++)
				spool_future_cancel(window[i]);
			spool_wait(window, inflight, SPOOL_ALL_COMPLETED,
				   SPOOL_FOREVER, NULL, NULL, NULL);
			for (size_t i = 0; i < inflight; i++)
				spool_future_release(window[i]);
			result = err;
			break;
		}
		size_t kept = 0;
		for (size_t i = 0; i < inflight; i++) {
			spool_future *f = window[i];
			if (!done[i]) {
				window[kept++] = f;
				continue;
			}
			const struct lab_page *page = spool_future_value(f);
			if (spool_future_state(f) == SPOOL_DONE && page) {
				if (result >= 0)
					result++;
				for (size_t l = 0; l < page->nlinks; l++) {
					int to = page->links[l];
					if (!seen[to]) {
						seen[to] = true;
						queue[tail++] = to;
					}
				}
			} /* else a broken (or cancelled) page: skip it */
			spool_future_release(f);
		}
		inflight = kept;
	}
out:
	free(seen);
	free(queue);
	free(window);
	free(done);
	return result;
}
