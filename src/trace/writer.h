/* SPDX-License-Identifier: MIT */
/* The Chrome trace-event JSON writer (see writer.c). */
#ifndef SPOOL_TRACE_WRITER_H
#define SPOOL_TRACE_WRITER_H

#include <stdio.h>

#include "spool/trace.h"

#include "buffer.h"
#include "clock.h"

/* Writes the events [0, n) of every buffer in the list (n loaded with
 * acquire) to f as one JSON document, and fills st's events, dropped and
 * threads. Returns 0, SPOOL_ESYS (a write failed) or SPOOL_ENOMEM (the
 * file is then still valid JSON, with the slices it could not track
 * missing). Called with the trace lock held. */
int spool__trace_write(FILE *f, struct spool__trace_buf *list,
		       const struct spool__trace_clock *clk,
		       spool_trace_stats *st);

#endif /* SPOOL_TRACE_WRITER_H */
