/* SPDX-License-Identifier: MIT */
/*
 * What the combinators share (never installed): input checks, the one way
 * they wait, the "registration bias" that lets a combinator count pending
 * callbacks without knowing beforehand how many it will register, and the
 * results future that gather and map hand back.
 *
 * Every combinator is built from done-callbacks and atomic counters only.
 * A blocking combinator builds one internal future that a callback
 * completes when the condition holds and waits on it with the public
 * spool_future_wait(), so the waiting seam (src/core/wait.h) decides what
 * waiting means on the calling thread: block, help the pool, or suspend the
 * coroutine. No combinator knows which executor it runs on.
 */
#ifndef SPOOL_COMBINATORS_INTERNAL_H
#define SPOOL_COMBINATORS_INTERNAL_H

#include <stdatomic.h>

#include "core/executor_impl.h"
#include "core/future_impl.h"
#include "core/nest.h"
#include "core/wait.h"
#include "spool/combinators.h"

/*
 * The registration bias. A combinator that registers callbacks on the
 * inputs still pending sets its counter to SPOOL__BIAS first, registers k
 * callbacks (each of which may run at once, on any thread, and subtract 1),
 * then subtracts SPOOL__BIAS - k. The counter cannot reach zero before that
 * last subtraction, because it is at least SPOOL__BIAS - k + (callbacks not
 * yet run) > 0 until then; after it, the counter is the number of callbacks
 * that have not run, and whoever brings it to zero (the last callback, or
 * the registering thread if all already ran) runs the "all done" step
 * exactly once. One atomic per pending input, none for inputs already done.
 */
#define SPOOL__BIAS ((size_t)1 << (sizeof(size_t) * 8 - 2))

/* How far ahead a pass over many inputs prefetches (gather, wait,
 * as_completed): such a pass is bound by memory, not by instructions, so
 * the misses must overlap. */
enum { SPOOL__AHEAD = 16 };

/* SPOOL_EINVAL unless fs is a valid array of n non-NULL futures. */
int spool__check_inputs(spool_future *const *fs, size_t n);

/* Waits for f through the seam until the absolute deadline (INT64_MAX:
 * never), recomputing the time left, so that a combinator that waits more
 * than once still honours the single deadline taken at its call. A
 * deadline already past polls. Returns spool_future_wait()'s codes. */
int spool__wait_until(spool_future *f, int64_t deadline);

/* spool_future_done() for the passes over many inputs, without the call:
 * acquire, as there, so that value and error may be read after it. */
static inline bool spool__is_final(const spool_future *f)
{
	return spool__future_is_final(f);
}

/* True when f owns its value (a gather's or map's results): a combinator
 * that hands that value on must keep f alive. */
bool spool__owns_value(const spool_future *f);

/*
 * The results future of gather and map: a future whose DONE value is the
 * array of n result values in input order (void **, NULL when n == 0),
 * with, for SPOOL_RETURN_ERRORS, each slot's error. The struct is the
 * future (the first member), so the future's reference count keeps the
 * arrays alive and ops->free frees them; spool_gather_size() and
 * spool_gather_result() recognise a results future by its ops. Both
 * settle the same way (settle.h).
 */
struct spool__results {
	spool_future fut; /* must be first */
	size_t n;
	void **values; /* n slots; published by the DONE completion */
	int *errors;   /* n slots, or NULL when every slot succeeded */
};

/* The results view of f, or NULL if f is not a gather or map future. */
const struct spool__results *spool__results_of(const spool_future *f);

#endif /* SPOOL_COMBINATORS_INTERNAL_H */
