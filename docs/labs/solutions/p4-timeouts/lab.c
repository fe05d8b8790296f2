/* SPDX-License-Identifier: MIT */
/*
 * Lab P4, a solution: give up on time, then cancel and wait.
 *
 * spool_wait_for() is asyncio.wait_for: on timeout it cancels the task and
 * waits until the task is final, however long its cleanup takes, and only
 * then returns SPOOL_ETIMEDOUT. lab_collect_until() hands results back in
 * completion order with an as_completed iterator whose deadline covers
 * the whole iteration; when it ends (every task handed back, or the
 * deadline), every task is cancelled (a no-op on the final ones) and
 * waited for, so nothing outlives the call.
 */
#include <stdlib.h>

#include "lab.h"

int lab_call_with_timeout(spool_executor *ex, spool_task_fn fn, void *arg,
			  int64_t timeout_ns, void **value)
{
	spool_future *f = spool_submit(ex, fn, arg);
	if (!f)
		return SPOOL_ENOMEM;
	int err = spool_wait_for(f, timeout_ns, value);
	spool_future_release(f);
	return err;
}

/* Cancels fs[0..n-1], waits until all are final, releases them. */
static void cancel_wait_release(spool_future **fs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		spool_future_cancel(fs[i]);
	spool_wait(fs, n, SPOOL_ALL_COMPLETED, SPOOL_FOREVER, NULL, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		spool_future_release(fs[i]);
}

long lab_collect_until(spool_executor *ex, spool_task_fn fn, void *const *args,
		       size_t n, int64_t timeout_ns, void **values,
		       size_t *which)
{
	spool_future **fs = calloc(n ? n : 1, sizeof(*fs));
	if (!fs)
		return SPOOL_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		fs[i] = spool_submit(ex, fn, args[i]);
		if (!fs[i]) {
			cancel_wait_release(fs, i);
			free(fs);
			return SPOOL_ENOMEM;
		}
	}
	spool_as_completed *it;
	int err = spool_as_completed_create(&it, fs, n, timeout_ns);
	long got = 0;
	if (err == 0) {
		spool_future *f;
		size_t i;
		/* Ends with SPOOL_EOF (all handed back) or SPOOL_ETIMEDOUT
		 * (the deadline passed). */
		while ((err = spool_as_completed_next(it, &f, &i)) == 0) {
			if (spool_future_state(f) != SPOOL_DONE)
				continue; /* failed: skipped */
			values[got] = spool_future_value(f);
			which[got++] = i;
		}
		spool_as_completed_destroy(it);
		if (err == SPOOL_EOF || err == SPOOL_ETIMEDOUT)
			err = 0;
	}
	cancel_wait_release(fs, n);
	free(fs);
	return err ? err : got;
}
