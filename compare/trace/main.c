/* SPDX-License-Identifier: MIT */
/*
 * spool-trace-svg: draws a trace-event JSON file (SPOOL_TRACE=..., or
 * spool_trace_start()/spool_trace_stop()) as an SVG timeline.
 *
 *   spool-trace-svg TRACE.json [-o OUT.svg] [--width PX] [--row PX]
 *                   [--title TEXT] [--from US --to US] [--no-legend]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace_svg.h"

static int usage(FILE *f, int rc)
{
	fputs("usage: spool-trace-svg TRACE.json [-o OUT.svg] [--width PX] "
	      "[--row PX]\n"
	      "                       [--title TEXT] [--from US --to US] "
	      "[--no-legend]\n"
	      "Draws one row per thread, a bar per task run (coloured by "
	      "label), waits,\n"
	      "parks, loop turns, and marks for steals, wake-ups, "
	      "suspensions and timers.\n"
	      "Without -o the SVG goes to standard output.\n",
	      f);
	return rc;
}

static bool number(const char *s, double *v)
{
	char *end;
	*v = strtod(s, &end);
	return *s && !*end;
}

int main(int argc, char **argv)
{
	struct trace_svg_options o = TRACE_SVG_OPTIONS_INIT;
	const char *in = NULL, *outp = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has = i + 1 < argc;
		double v;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			return usage(stdout, 0);
		if (strcmp(a, "-o") == 0 && has) {
			outp = argv[++i];
		} else if (strcmp(a, "--width") == 0 && has &&
			   number(argv[i + 1], &v) && v > 0) {
			o.width = (int)v;
			i++;
		} else if (strcmp(a, "--row") == 0 && has &&
			   number(argv[i + 1], &v) && v > 0) {
			o.row_height = (int)v;
			i++;
		} else if (strcmp(a, "--title") == 0 && has) {
			o.title = argv[++i];
		} else if (strcmp(a, "--from") == 0 && has &&
			   number(argv[i + 1], &v)) {
			o.from_us = v;
			i++;
		} else if (strcmp(a, "--to") == 0 && has &&
			   number(argv[i + 1], &v)) {
			o.to_us = v;
			i++;
		} else if (strcmp(a, "--no-legend") == 0) {
			o.no_legend = true;
		} else if (a[0] != '-' && !in) {
			in = a;
		} else {
			fprintf(stderr, "spool-trace-svg: bad argument '%s'\n",
				a);
			return usage(stderr, 2);
		}
	}
	if (!in)
		return usage(stderr, 2);
	FILE *out = outp ? fopen(outp, "w") : stdout;
	if (!out) {
		perror(outp);
		return 1;
	}
	int rc = trace_svg_write(in, out, &o);
	if (outp && fclose(out) != 0 && rc == 0)
		rc = TRACE_SVG_EIO;
	if (rc) {
		fprintf(stderr, "spool-trace-svg: %s: %s\n", in,
			trace_svg_strerror(rc));
		return 1;
	}
	return 0;
}
