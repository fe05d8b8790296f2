/* SPDX-License-Identifier: MIT */
/*
 * Lab P1, a solution: start everything, then join it back with one gather.
 *
 * Every fetch is submitted before the first wait, so all of them sleep at
 * the same time and the whole takes as long as the slowest one. The gather
 * keeps the bodies in input order whatever order the fetches finish in.
 * When one fetch fails the gather fails at once, but the others are still
 * running: they are cancelled and waited for, so that nothing this call
 * started outlives it.
 */
#include <stdint.h>
#include <stdlib.h>

#include "lab.h"

/* Cancels fs[0..n-1], waits until every one is final, releases them. */
static void cancel_and_release(spool_future **fs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		spool_future_cancel(fs[i]);
	spool_wait(fs, n, SPOOL_ALL_COMPLETED, SPOOL_FOREVER, NULL, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		spool_future_release(fs[i]);
}

int lab_fetch_all(spool_executor *ex, const int *ids, size_t n,
		  const char **bodies)
{
	if (n == 0)
		return 0;
	spool_future **fs = calloc(n, sizeof(*fs));
	if (!fs)
		return SPOOL_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		fs[i] = spool_submit(ex, lab_fetch, (void *)(intptr_t)ids[i]);
		if (!fs[i]) {
			cancel_and_release(fs, i);
			free(fs);
			return SPOOL_ENOMEM;
		}
	}
	spool_future *all = spool_gather(fs, n, 0);
	int err = all ? spool_future_result(all, SPOOL_FOREVER, NULL)
		      : SPOOL_ENOMEM;
	if (err == 0) {
		for (size_t i = 0; i < n; i++) {
			void *body = NULL;
			spool_gather_result(all, i, &body);
			bodies[i] = body;
		}
	}
	spool_future_release(all);
	/* After a success every fetch is final already and this only
	 * releases; after a failure it stops and waits for the rest. */
	cancel_and_release(fs, n);
	free(fs);
	return err;
}
