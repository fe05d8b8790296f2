/* SPDX-License-Identifier: MIT */
/*
 * Lab P1, the starter: a program that awaits one call after another.
 *
 * It is correct, and slow: each fetch is started only once the previous
 * one is done, so the fetches never overlap and the whole takes the sum of
 * their times. Make it concurrent (README.md).
 */
#include <stdint.h>

#include "lab.h"

int lab_fetch_all(spool_executor *ex, const int *ids, size_t n,
		  const char **bodies)
{
	/* TODO: start every fetch first (spool_submit for each id, keeping
	 * the futures in an array), then join them back with ONE call:
	 * spool_gather(), whose value holds the bodies in input order
	 * (spool_gather_result). If the gather fails, the other fetches
	 * are still running: cancel them and wait until all are final
	 * (spool_wait with SPOOL_ALL_COMPLETED) before returning the
	 * error. Release every future you made. */
	for (size_t i = 0; i < n; i++) {
		spool_future *f = spool_submit(ex, lab_fetch,
					       (void *)(intptr_t)ids[i]);
		if (!f)
			return SPOOL_ENOMEM;
		void *body = NULL;
		int err = spool_future_result(f, SPOOL_FOREVER, &body);
		spool_future_release(f);
		if (err)
			return err;
		bodies[i] = body;
	}
	return 0;
}
