/* SPDX-License-Identifier: MIT */
/*
 * Trace sessions: spool_trace_start() / spool_trace_stop(), the SPOOL_TRACE
 * environment variable, and the figures of the last session.
 *
 * A session is a generation number (spool__trace_gen, 0 = off), the output
 * file opened at start so that a bad path fails at once, and the clock's
 * calibration. Start and stop run under the trace lock; stop flips the
 * generation to 0 first, then writes what each registered buffer had
 * published (buffer.c explains why that needs no grace period).
 *
 * SPOOL_TRACE is read by a constructor function when the library is
 * loaded, before main: nothing else needs to be called for it to work, and
 * it covers every pool, loop and plain thread the program creates. The file
 * is written by an atexit handler unless the program stopped the session
 * itself.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spool/trace.h"

#include "buffer.h"
#include "clock.h"
#include "session.h"
#include "writer.h"

_Atomic uint64_t spool__trace_gen;

/* All below: under the trace lock. */
static uint64_t last_gen;
static FILE *session_file;
static struct spool__trace_clock session_clock;
static spool_trace_stats last_stats;

/* Largest buffer accepted: 2^28 events (8 GiB of address space). */
#define MAX_EVENTS ((size_t)1 << 28)

int spool__trace_session_start(const char *path,
			       const spool_trace_options *opts)
{
	spool_trace_options o = SPOOL_TRACE_OPTIONS_INIT;
	if (opts)
		o = *opts;
	if (!path || !*path || o.events_per_thread > MAX_EVENTS)
		return SPOOL_EINVAL;
	if (o.events_per_thread == 0)
		o.events_per_thread = SPOOL_TRACE_DEFAULT_EVENTS;
	spool__trace_lock();
	int rc = 0;
	if (atomic_load_explicit(&spool__trace_gen, memory_order_relaxed)) {
		rc = SPOOL_ESTATE;
		goto done;
	}
	session_file = fopen(path, "w");
	if (!session_file) {
		rc = errno == ENOMEM ? SPOOL_ENOMEM : SPOOL_ESYS;
		goto done;
	}
	spool__trace_buffers_open(o.events_per_thread);
	spool__trace_clock_start(&session_clock, o.monotonic_clock);
	/* seq_cst (start is rare): threads that see the new generation take
	 * the lock to register, which orders them after everything above. */
	atomic_store(&spool__trace_gen, ++last_gen);
done:
	spool__trace_unlock();
	return rc;
}

/* One line per thread that lost events, so the user knows the trace is
 * incomplete and how to enlarge the buffers. */
static void report_drops(void)
{
	for (struct spool__trace_buf *b = spool__trace_buffers(); b;
	     b = b->next) {
		uint64_t d = b->stop_dropped;
		if (d)
			fprintf(stderr,
				"spool: trace: thread \"%s\" (tid %d) dropped "
				"%llu event(s): its buffer of %zu events was "
				"full (raise SPOOL_TRACE_EVENTS or "
				"spool_trace_options.events_per_thread)\n",
				b->name, (int)b->tid, (unsigned long long)d,
				b->cap);
	}
	uint64_t lost = spool__trace_buffers_lost();
	if (lost)
		fprintf(stderr,
			"spool: trace: %llu event(s) lost: no memory for a "
			"buffer\n",
			(unsigned long long)lost);
}

int spool__trace_session_stop(void)
{
	spool__trace_lock();
	if (!atomic_load_explicit(&spool__trace_gen, memory_order_relaxed)) {
		spool__trace_unlock();
		return 0;
	}
	atomic_store(&spool__trace_gen, 0);
	spool__trace_clock_stop(&session_clock);
	spool_trace_stats st = {0};
	int rc = spool__trace_write(session_file, spool__trace_buffers(),
				    &session_clock, &st);
	if (fclose(session_file) != 0)
		rc = SPOOL_ESYS;
	session_file = NULL;
	report_drops();
	spool__trace_buffers_release();
	st.sessions = last_stats.sessions + 1;
	last_stats = st;
	spool__trace_unlock();
	return rc;
}

bool spool__trace_session_on(void)
{
	return atomic_load_explicit(&spool__trace_gen, memory_order_relaxed);
}

int spool__trace_session_stats(spool_trace_stats *st)
{
	if (!st)
		return SPOOL_EINVAL;
	spool__trace_lock();
	*st = last_stats;
	spool__trace_unlock();
	return 0;
}

/* ---- SPOOL_TRACE ------------------------------------------------------ */

static void stop_at_exit(void)
{
	spool__trace_session_stop();
}

void spool__trace_from_environment(void)
{
	const char *path = getenv("SPOOL_TRACE");
	if (!path || !*path)
		return;
	spool_trace_options o = SPOOL_TRACE_OPTIONS_INIT;
	const char *ev = getenv("SPOOL_TRACE_EVENTS");
	if (ev && *ev) {
		char *end;
		unsigned long long n = strtoull(ev, &end, 10);
		if (*end || n == 0 || n > MAX_EVENTS) {
			fprintf(stderr,
				"spool: SPOOL_TRACE_EVENTS=%s is not a number "
				"of events in 1..%zu; using %zu\n",
				ev, MAX_EVENTS, SPOOL_TRACE_DEFAULT_EVENTS);
			n = 0;
		}
		o.events_per_thread = (size_t)n;
	}
	int rc = spool__trace_session_start(path, &o);
	if (rc != 0) {
		fprintf(stderr, "spool: SPOOL_TRACE=%s: cannot trace: %s\n",
			path,
			rc == SPOOL_ESYS ? strerror(errno)
					 : spool_strerror(rc));
		return;
	}
	atexit(stop_at_exit);
}

#ifndef SPOOL_TRACE_NO_ENVIRONMENT
/* In session.c rather than api.c: this object is linked into every
 * program that uses spool (core's hooks reference spool__trace_gen), even
 * from a static archive, so the variable works without any trace call. */
__attribute__((constructor)) static void start_from_environment(void)
{
	spool__trace_from_environment();
}
#endif
