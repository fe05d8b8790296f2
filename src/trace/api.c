/* SPDX-License-Identifier: MIT */
/* The public trace calls (spool/trace.h), forwarding to session.c. */
#include "spool/trace.h"

#include "session.h"

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
