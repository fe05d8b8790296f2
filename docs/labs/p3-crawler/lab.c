/* SPDX-License-Identifier: MIT */
/*
 * Lab P3, the starter: a crawler that fetches one page at a time.
 *
 * It is correct (every reachable page once, broken pages skipped) and
 * never has more than one fetch in flight, whatever k says. Make it keep
 * up to k fetches in flight (README.md).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "lab.h"

long lab_crawl(spool_executor *ex, int start, int npages, size_t k)
{
	bool *seen = calloc((size_t)npages, sizeof(*seen));
	int *queue = malloc((size_t)npages * sizeof(*queue));
	if (!seen || !queue) {
		free(seen);
		free(queue);
		return SPOOL_ENOMEM;
	}
	size_t head = 0, tail = 0;
	long fetched = 0;
	seen[start] = true;
	queue[tail++] = start;

	/* TODO: this loop awaits each fetch before it starts the next. Keep
	 * an array of up to k futures in flight instead: top it up from the
	 * queue, then spool_wait(..., SPOOL_FIRST_COMPLETED, ...) with a
	 * bool per future; handle (and release) each one that is done,
	 * queue the new links, compact the array, and go round again until
	 * the queue is empty and nothing is in flight. */
	while (head < tail) {
		int id = queue[head++];
		spool_future *f = spool_submit(ex, lab_fetch_page,
					       (void *)(intptr_t)id);
		if (!f) {
			fetched = SPOOL_ENOMEM;
			break;
		}
		void *v = NULL;
		int err = spool_future_result(f, SPOOL_FOREVER, &v);
		spool_future_release(f);
		if (err)
			continue; /* a broken page: skip it */
		const struct lab_page *page = v;
		fetched++;
		for (size_t i = 0; i < page->nlinks; i++) {
			int to = page->links[i];
			if (!seen[to]) {
				seen[to] = true;
				queue[tail++] = to;
			}
		}
	}
	free(seen);
	free(queue);
	return fetched;
}
