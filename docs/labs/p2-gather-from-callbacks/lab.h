/* SPDX-License-Identifier: MIT */
/*
 * Lab P2: your own gather, from a promise and done-callbacks (README.md).
 *
 * spool_gather() is built from nothing but spool_future_add_callback() and
 * an atomic counter. Here you build one: lab_gather() may use
 * spool_promise_new(), spool_promise_set_result(),
 * spool_promise_set_error(), spool_future_add_callback() and the reading
 * calls (spool_future_state, _error, _value); not spool_gather, spool_wait
 * or any other combinator, and it must never wait.
 */
#ifndef LAB_P2_H
#define LAB_P2_H

#include <stddef.h>

#include <spool.h>

/* YOURS. Returns a new future (a promise you made; the caller releases
 * it) for the outcome of the n futures fs[0..n-1]:
 *   - DONE once every input is DONE. Its value is an array of n void *,
 *     allocated with malloc, holding the inputs' values in input order;
 *     the caller frees it with free() after reading it. For n = 0 it is
 *     DONE at once with the value NULL;
 *   - FAILED at once with the error of the first input that FAILS, or
 *     CANCELLED if the first to end without a value was cancelled
 *     (spool_promise_set_error(p, SPOOL_ECANCELLED) does that); the
 *     other inputs are left as they are, and what they do later changes
 *     nothing;
 *   - never before: it completes exactly when the deciding input does.
 * The inputs may be final already (their callbacks then run at once,
 * inside spool_future_add_callback), may complete on any threads, several
 * at the same time, and the same future may appear more than once (each
 * of its slots gets its value). The caller keeps a reference to every
 * input until the returned future is final. Whatever memory the callbacks
 * share must live until the last of them has run, and then be freed.
 * NULL when out of memory. Never blocks. */
spool_future *lab_gather(spool_future *const *fs, size_t n);

#endif /* LAB_P2_H */
