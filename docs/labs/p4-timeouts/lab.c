/* SPDX-License-Identifier: MIT */
/*
 * Lab P4, the starter: timeouts that only stop waiting.
 *
 * Both functions give up on time, and both leave the tasks they gave up on
 * running in the background: nobody cancels them or waits for them
 * (README.md).
 */
#include <stdlib.h>

#include "lab.h"

int lab_call_with_timeout(spool_executor *ex, spool_task_fn fn, void *arg,
			  int64_t timeout_ns, void **value)
{
	spool_future *f = spool_submit(ex, fn, arg);
	if (!f)
		return SPOOL_ENOMEM;
	/* TODO: a timed-out spool_future_result() leaves f running. Cancel
	 * it and wait until it is final, or use the call that does both
	 * (asyncio.wait_for). */
	int err = spool_future_result(f, timeout_ns, value);
	spool_future_release(f);
	return err;
}

long lab_collect_until(spool_executor *ex, spool_task_fn fn, void *const *args,
		       size_t n, int64_t timeout_ns, void **values,
		       size_t *which)
{
	spool_future **fs = calloc(n ? n : 1, sizeof(*fs));
	if (!fs)
		return SPOOL_ENOMEM;
	for (size_t i = 0; i < n; i++)
		fs[i] = spool_submit(ex, fn, args[i]);
	/* (A NULL future, out of memory, is not handled here.) */
	spool_as_completed *it;
	long got = 0;
	if (spool_as_completed_create(&it, fs, n, timeout_ns) == 0) {
		spool_future *f;
		size_t i;
		while (spool_as_completed_next(it, &f, &i) == 0) {
			if (spool_future_state(f) != SPOOL_DONE)
				continue;
			values[got] = spool_future_value(f);
			which[got++] = i;
		}
		spool_as_completed_destroy(it);
	}
	/* TODO: the tasks not yet final are still running: cancel every
	 * one and wait until all are final (spool_wait with
	 * SPOOL_ALL_COMPLETED) before releasing them. */
	for (size_t i = 0; i < n; i++)
		spool_future_release(fs[i]);
	free(fs);
	return got;
}
