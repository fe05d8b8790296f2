/* SPDX-License-Identifier: MIT */
/*
 * spool_wait_for(): wait with a timeout that cancels (asyncio.wait_for).
 *
 * There is one future to wait on, so the internal future the other
 * blocking combinators build would only mirror it: this waits on f itself
 * through the seam. One deadline is taken at the call; after it, the
 * cancel and then a wait without limit for f to settle, because a running
 * pool task only gets a request flag and may run to its end. Waiting for
 * the settle is what makes "on return f is final" true, so that the caller
 * may free whatever the task uses. A waiting coroutine that is itself
 * cancelled cancels f the same way, as asyncio.wait_for does.
 */
#include "internal.h"

int spool_wait_for(spool_future *f, int64_t timeout_ns, void **value)
{
	if (value)
		*value = NULL;
	if (!f || timeout_ns < 0)
		return SPOOL_EINVAL;
	int rc = spool_future_wait(f, timeout_ns);
	if (rc == 0)
		return spool_future_result(f, 0, value);
	if (rc != SPOOL_ETIMEDOUT && rc != SPOOL_ECANCELLED)
		return rc; /* SPOOL_EDEADLK: nothing was waited for */
	/* Timed out, or the waiting coroutine was cancelled: either way f
	 * goes too, and is waited for (asyncio's _cancel_and_wait). A second
	 * cancellation of the waiter ends that wait early. */
	spool_future_cancel(f);
	int settle = spool_future_wait(f, SPOOL_FOREVER);
	if (rc == SPOOL_ECANCELLED)
		return rc;
	return settle != 0 ? settle : SPOOL_ETIMEDOUT;
}
