/* SPDX-License-Identifier: MIT */
/*
 * Lab P3: a crawler with a dynamic set of tasks (README.md).
 *
 * Each fetched page reveals more pages to fetch, so the set of tasks grows
 * while it runs: gather (which needs every task up front) does not fit.
 * You write lab_crawl(), which keeps at most k fetches in flight and starts
 * the next page as soon as any fetch completes (spool_wait with
 * SPOOL_FIRST_COMPLETED).
 */
#ifndef LAB_P3_H
#define LAB_P3_H

#include <stddef.h>

#include <spool.h>

/* The error a broken page's fetch ends with. */
#define LAB_BROKEN 500

/* A fetched page: the pages it links to (ids below the crawl's npages,
 * possibly repeated, possibly itself or pages already seen). Owned by the
 * checker; valid until lab_crawl() returns. */
struct lab_page {
	int id;
	size_t nlinks;
	const int *links;
};

/* Provided by the checker. A task for the loop: fetches page
 * (int)(intptr_t)arg, which takes a millisecond or two (it suspends the
 * coroutine), then sets *result to a const struct lab_page * and returns
 * 0. A broken page fails with LAB_BROKEN (its links are unknown). A
 * cancelled fetch returns SPOOL_ECANCELLED. */
int lab_fetch_page(void *arg, void **result);

/* YOURS. Crawls the site from page start: fetches start, then every page
 * it links to, and the pages those link to, and so on, each page EXACTLY
 * ONCE (broken pages included: a failed fetch is not retried, and the
 * pages only it links to stay unknown). At most k fetches may be in flight
 * at any moment, and whenever pages are waiting to be fetched, as many as
 * k should be: start a new fetch as soon as any running one completes,
 * not when a whole batch has. Page ids are below npages. Called inside a
 * loop coroutine; ex is the loop's executor. Returns how many fetches
 * succeeded, or a negative spool error (SPOOL_ENOMEM); in every case no
 * fetch it started may still be running when it returns. */
long lab_crawl(spool_executor *ex, int start, int npages, size_t k);

#endif /* LAB_P3_H */
