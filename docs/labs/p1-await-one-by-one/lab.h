/* SPDX-License-Identifier: MIT */
/*
 * Lab P1: from awaiting one by one to gather (README.md).
 *
 * The checker provides lab_fetch(), a loop task that "downloads" a page;
 * you write lab_fetch_all(), which fetches a list of pages. The checker
 * calls it from inside a loop coroutine and counts how many fetches are in
 * flight at once.
 */
#ifndef LAB_P1_H
#define LAB_P1_H

#include <stddef.h>

#include <spool.h>

/* The error a fetch of a page that does not exist ends with. */
#define LAB_NOT_FOUND 404

/* Provided by the checker. A task for the loop: fetches page
 * (int)(intptr_t)arg. It waits a few milliseconds (spool_sleep: in a
 * coroutine it suspends, so fetches on the loop can overlap), then sets
 * *result to the page's body, a string owned by the checker, and returns 0.
 * A negative id fails with LAB_NOT_FOUND. A cancelled fetch returns
 * SPOOL_ECANCELLED. */
int lab_fetch(void *arg, void **result);

/* YOURS. Fetches the n pages ids[0..n-1] on ex (the loop's executor), all
 * at the same time, and stores the body of page ids[i] in bodies[i] (input
 * order). Returns 0; or, when a fetch fails, that fetch's error (bodies is
 * then not to be read); or SPOOL_ENOMEM. Before it returns, every fetch it
 * started must be final: nothing may still be running. Called inside a
 * loop coroutine, so every wait in it suspends the coroutine. */
int lab_fetch_all(spool_executor *ex, const int *ids, size_t n,
		  const char **bodies);

#endif /* LAB_P1_H */
