/* SPDX-License-Identifier: MIT */
/*
 * Lab P2, the starter: the shape of a gather, without its state.
 *
 * It makes the promise and registers a callback on every input, but the
 * callback does nothing yet, so the promise is never completed (README.md).
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "lab.h"

/* TODO: the state every callback of one gather shares: the promise (a
 * reference of its own), the array of values, and an atomic count of the
 * callbacks still to run. Each callback also needs its slot number: give
 * each one an argument of its own (an array of n small structs pointing
 * back to the shared state). */

static void on_input_done(spool_future *f, void *arg)
{
	/* TODO: look at f's outcome. DONE: store its value in this slot.
	 * FAILED or CANCELLED: fail the promise with spool_future_error(f)
	 * (the first call wins; later ones return SPOOL_ESTATE and change
	 * nothing). Then count this callback down; the one that reaches
	 * zero completes the promise with the values if nothing failed (or
	 * frees them if something did), drops the state's reference to the
	 * promise and frees the state. Several inputs may complete at once
	 * on different threads: use an atomic counter. */
	(void)f;
	(void)arg;
}

spool_future *lab_gather(spool_future *const *fs, size_t n)
{
	spool_future *promise = spool_promise_new();
	if (!promise)
		return NULL;
	/* TODO: allocate the shared state. Beware: an input that is already
	 * final runs its callback inside spool_future_add_callback(), so the
	 * count must not reach zero while this loop is still registering
	 * (start it at n + 1 and count this function down at the end). */
	for (size_t i = 0; i < n; i++)
		spool_future_add_callback(fs[i], on_input_done, NULL);
	return promise;
}
