/* SPDX-License-Identifier: MIT */
/*
 * Trace sessions (session.c): what the public calls in api.c forward to.
 * Internal so that the module's tests can compile these translation units
 * into the test program and drive them together with the hooks.
 */
#ifndef SPOOL_TRACE_SESSION_H
#define SPOOL_TRACE_SESSION_H

#include "spool/trace.h"

/* spool_trace_start_opts(), spool_trace_stop(), spool_trace_enabled(),
 * spool_trace_stats_get(): same contracts. */
int spool__trace_session_start(const char *path,
			       const spool_trace_options *opts);
int spool__trace_session_stop(void);
bool spool__trace_session_on(void);
int spool__trace_session_stats(spool_trace_stats *st);

/* Starts a session if SPOOL_TRACE names a file (SPOOL_TRACE_EVENTS: the
 * buffer size) and arranges for it to be written at exit; reports a bad
 * value on stderr. Run once by a constructor when the library is loaded
 * (unless built with SPOOL_TRACE_NO_ENVIRONMENT, as the module's test
 * does for its private copy). */
void spool__trace_from_environment(void);

/* spool_trace_thread_name() without the argument check: names the
 * calling thread's track; sort orders tracks (buffer.c). */
void spool__trace_set_name(const char *name, int sort);

#endif /* SPOOL_TRACE_SESSION_H */
