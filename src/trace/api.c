/* SPDX-License-Identifier: MIT */
/* The public trace calls (spool/trace.h), forwarding to session.c. */
#include "spool/trace.h"

#include "session.h"
#include "trace.h"

int spool_trace_start_opts(const char *path, const spool_trace_options *opts)
{
	return spool__trace_session_start(path, opts);
}

int spool_trace_start(const char *path)
{
	return spool__trace_session_start(path, NULL);
}

int spool_trace_stop(void)
{
	return spool__trace_session_stop();
}

bool spool_trace_enabled(void)
{
	return spool__trace_session_on();
}

int spool_trace_stats_get(spool_trace_stats *out)
{
	return spool__trace_session_stats(out);
}

int spool_trace_thread_name(const char *name)
{
	if (!name || !*name)
		return SPOOL_EINVAL;
	spool__trace_set_name(name, 2000);
	return 0;
}

/* User slices. Each records with a clock read of its own, then marks the
 * stamp stale: the caller's code runs next, so no later event may reuse
 * this read (trace.h, "reusing a clock read"). */
void spool_trace_begin(const char *name)
{
	if (spool__trace_on()) {
		spool__trace_record(SPOOL__TR_USER_BEGIN, 0,
				    (uint64_t)(uintptr_t)name);
		spool__trace_stale();
	}
}

void spool_trace_end(void)
{
	if (spool__trace_on()) {
		spool__trace_record(SPOOL__TR_USER_END, 0, 0);
		spool__trace_stale();
	}
}
