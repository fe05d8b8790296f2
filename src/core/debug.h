/* SPDX-License-Identifier: MIT */
/*
 * Debug mode inside spool (spool/debug.h): the flag every check reads, and
 * the one place reports are made.
 *
 * The flag is a byte with three values: OFF, ON, and UNSET until the
 * environment has been read. A check reads it with a relaxed load and
 * goes on at once when it is OFF, so a check costs the hot paths one load
 * and one branch that is always predicted the same way. UNSET is not 0,
 * so the first check of the process takes the slow path, which reads
 * SPOOL_DEBUG once (pthread_once) and stores the answer.
 */
#ifndef SPOOL_CORE_DEBUG_H
#define SPOOL_CORE_DEBUG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "spool/debug.h"

enum { SPOOL__DEBUG_OFF = 0, SPOOL__DEBUG_ON = 1, SPOOL__DEBUG_UNSET = 2 };

extern _Atomic uint8_t spool__debug_flag;

/* Out of line: v is ON, or UNSET and the environment is read now. */
bool spool__debug_resolve(uint8_t v);

/* True while debug mode is on. Relaxed: the flag carries no data, and a
 * check on another thread that sees the old value for a moment is what
 * spool_debug_set() allows. Inline, the one test; the rest out of line. */
static inline bool spool__debug_on(void)
{
	uint8_t v = atomic_load_explicit(&spool__debug_flag,
					 memory_order_relaxed);
	return __builtin_expect(v != SPOOL__DEBUG_OFF, 0) &&
	       spool__debug_resolve(v);
}

/* The slow threshold, ns. */
int64_t spool__debug_slow_ns(void);

/* Makes report r (whose message this fills in from fmt) on the calling
 * thread: to the sink, or one line on stderr. The message is cut at 511
 * bytes. */
void spool__debug_report(spool_debug_report *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

struct spool_future;

/* A wait on f that nothing can end while its thread waits: reports
 * "hopeless wait: spool_future_wait() on future <id> "<label>" <how>",
 * with err (SPOOL_EDEADLK, SPOOL_ETIMEDOUT, or 0 when the wait goes on)
 * as the report's error. The blocking waits of core (wait.c) and the
 * loop's thread outside a coroutine (src/loop/debug.c) say how. */
void spool__debug_hopeless(const struct spool_future *f, int err,
			   const char *how);

/* f ended FAILED while debug mode was on and its last reference is gone
 * with its error unread (future.c): reports it, if debug mode is still
 * on. */
void spool__debug_unretrieved(const struct spool_future *f);

#endif /* SPOOL_CORE_DEBUG_H */
