/* SPDX-License-Identifier: MIT */
/*
 * Trace timelines as SVG: reads a Chrome trace-event JSON file (as written
 * by spool_trace_stop(), or any tool that writes the format) and draws one
 * row per thread track, a bar per slice (task runs coloured by label, waits
 * outlined, parks grey, loop turns as a pale band behind), marks for steals,
 * wake-ups, suspensions, timer firings and dropped events, a time axis and
 * a legend. Used by spool-trace-svg and by the comparison program's charts.
 *
 * Only "X" (complete) slices, "i"/"I" instants and the "thread_name" and
 * "thread_sort_index" metadata events are drawn; other events are read and
 * ignored. Rows are ordered by sort index, then name.
 */
#ifndef SPOOL_COMPARE_TRACE_SVG_H
#define SPOOL_COMPARE_TRACE_SVG_H

#include <stdbool.h>
#include <stdio.h>

struct trace_svg_options {
	int width;         /* picture width in px; 0: 1200 */
	int row_height;    /* px per track; 0: 24 */
	const char *title; /* NULL: "spool trace" */
	/* Time window in microseconds of the trace's clock; both 0: the
	 * whole trace. Slices are clipped to it. */
	double from_us, to_us;
	bool no_legend; /* true: omit the label legend */
};

#define TRACE_SVG_OPTIONS_INIT                                                 \
	{                                                                      \
		0, 0, NULL, 0, 0, false                                        \
	}

enum {
	TRACE_SVG_OK = 0,
	TRACE_SVG_EIO = -1,    /* the file cannot be read, or out failed */
	TRACE_SVG_EPARSE = -2, /* not JSON, or no traceEvents array */
	TRACE_SVG_ENOMEM = -3,
	TRACE_SVG_EINVAL = -4 /* NULL path or out, bad options */
};

/* Reads the trace at json_path and writes an SVG document to out.
 * opts NULL means the defaults. Returns TRACE_SVG_OK or a negative code
 * above; on error nothing, or a partial document, was written. A trace
 * with no events gives a picture that says so. Reentrant; blocks on I/O. */
int trace_svg_write(const char *json_path, FILE *out,
		    const struct trace_svg_options *opts);

/* A static message for a code of trace_svg_write(). */
const char *trace_svg_strerror(int err);

#endif /* SPOOL_COMPARE_TRACE_SVG_H */
