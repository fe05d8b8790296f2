/* SPDX-License-Identifier: MIT */
/*
 * --svg DIR: two charts, plain SVG written by hand (no dependency).
 *
 *   speedup.svg   one group of bars per workload, one bar per backend: the
 *                 speedup against the sequential run (mixed: p99 latency,
 *                 on its own scale, since speedup means nothing there);
 *   timeline.svg  the recorded scenario (--timeline, default mixed:gil):
 *                 one row per thread, a bar per task run, and under the
 *                 GIL backends a thin bar for each interval in which that
 *                 thread held the model's lock (convoy: each timed round
 *                 trip is a bar on the client's row, beside one CPU-bound
 *                 thread).
 *
 * When the tracing module's SVG writer is built (compare/trace), the
 * scenario is also traced with spool's tracer and drawn by it as
 * trace.svg; see main.c.
 */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "compare.h"

static const char *const colors[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2",
				     "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
				     "#9c755f", "#bab0ac"};
#define N_COLORS (sizeof(colors) / sizeof(*colors))

static FILE *open_in(const char *dir, const char *name, FILE *err)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		fprintf(err, "spool-compare: cannot write %s: %s\n", path,
			strerror(errno));
	return f;
}

static void text(FILE *f, double x, double y, const char *anchor, int size,
		 const char *s)
{
	fprintf(f,
		"<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" "
		"font-size=\"%d\">",
		x, y, anchor, size);
	for (; *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else
			fputc(*s, f);
	}
	fputs("</text>\n", f);
}

static const struct cmp_result *find(const struct cmp_report *rep, int w, int b)
{
	for (int i = 0; i < rep->n_part2; i++)
		if (rep->part2[i].workload == w && rep->part2[i].backend == b &&
		    rep->part2[i].ok)
			return &rep->part2[i];
	return NULL;
}

/* One panel of grouped bars on a log2 scale: groups[g] names group g and
 * value(rep, g, b) gives backend b's bar (<= 0: none). Bars rise from the
 * panel's floor; a dashed line marks `mark` (1x for speedups). */
struct panel {
	double x, y, w, h;
	const char *title, *unit;
	int n_groups;
	const char *groups[CMP_W_COUNT];
	int keys[CMP_W_COUNT];
	double (*value)(const struct cmp_report *, int key, int b);
	double mark;
};

static void draw_panel(const struct cmp_report *rep, const struct panel *p,
		       FILE *f)
{
	double lo = 1e300, hi = 0;
	for (int g = 0; g < p->n_groups; g++)
		for (int b = 0; b < CMP_B_COUNT; b++) {
			double v = p->value(rep, p->keys[g], b);
			if (v > 0) {
				lo = v < lo ? v : lo;
				hi = v > hi ? v : hi;
			}
		}
	if (hi <= 0)
		lo = hi = 1;
	/* Whole powers of two around the data (and the mark). */
	if (p->mark > 0) {
		lo = p->mark < lo ? p->mark : lo;
		hi = p->mark > hi ? p->mark : hi;
	}
	int e_lo = (int)floor(log2(lo)) - (lo == hi ? 1 : 0);
	int e_hi = (int)ceil(log2(hi));
	if (e_hi <= e_lo)
		e_hi = e_lo + 1;
	int per = 0;
	for (int b = 0; b < CMP_B_COUNT; b++)
		per += !!(rep->cfg->backends & (1u << b));
	double gw = p->w / (p->n_groups ? p->n_groups : 1);
	double bw = gw * 0.8 / (per ? per : 1);
#define Y(v) (p->y + p->h - p->h * (log2(v) - e_lo) / (e_hi - e_lo))

	text(f, p->x + p->w / 2, p->y - 12, "middle", 15, p->title);
	for (int e = e_lo; e <= e_hi; e++) {
		double v = ldexp(1.0, e), y = Y(v);
		char lab[24];
		snprintf(lab, sizeof(lab), v < 1 ? "%.2g%s" : "%.0f%s", v,
			 p->unit);
		fprintf(f,
			"<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
			"y2=\"%.1f\" stroke=\"#ddd\"/>\n",
			p->x, y, p->x + p->w, y);
		text(f, p->x - 6, y + 4, "end", 11, lab);
	}
	if (p->mark > 0)
		fprintf(f,
			"<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
			"y2=\"%.1f\" stroke=\"#333\" "
			"stroke-dasharray=\"4 3\"/>\n",
			p->x, Y(p->mark), p->x + p->w, Y(p->mark));
	for (int g = 0; g < p->n_groups; g++) {
		double gx = p->x + g * gw + gw * 0.1;
		int k = 0;
		for (int b = 0; b < CMP_B_COUNT; b++) {
			if (!(rep->cfg->backends & (1u << b)))
				continue;
			double v = p->value(rep, p->keys[g], b);
			if (v > 0) {
				double top = Y(v), base = p->y + p->h;
				fprintf(f,
					"<rect x=\"%.1f\" y=\"%.1f\" "
					"width=\"%.1f\" height=\"%.1f\" "
					"fill=\"%s\"><title>%s %s: %.3g%s"
					"</title></rect>\n",
					gx + k * bw, top, bw * 0.9,
					base - top > 0.5 ? base - top : 0.5,
					colors[b % N_COLORS], p->groups[g],
					cmp_backend_name(b), v, p->unit);
			}
			k++;
		}
		text(f, gx + gw * 0.4, p->y + p->h + 18, "middle", 13,
		     p->groups[g]);
	}
#undef Y
}

static double speedup_of(const struct cmp_report *rep, int w, int b)
{
	const struct cmp_result *r = find(rep, w, b);
	return r ? r->speedup : 0;
}

static double latency_of(const struct cmp_report *rep, int which, int b)
{
	const struct cmp_result *r = find(rep, CMP_W_MIXED, b);
	return !r ? 0 : which ? r->p99_ms : r->p50_ms;
}

static int write_speedup(const struct cmp_report *rep, FILE *f)
{
	const int W = 900, H = 760, left = 70, right = 170;
	struct panel sp = {.x = left,
			   .y = 60,
			   .w = W - left - right,
			   .h = 280,
			   .unit = "x",
			   .value = speedup_of,
			   .mark = 1,
			   .title = "Speedup against sequential, log scale "
				    "(higher is better)"};
	for (int w = 0; w < CMP_W_COUNT; w++)
		if (rep->cfg->workloads & (1u << w) && w != CMP_W_MIXED &&
		    w != CMP_W_CONVOY) {
			sp.groups[sp.n_groups] = cmp_workload_name(w);
			sp.keys[sp.n_groups++] = w;
		}
	struct panel lat = {
		.x = left,
		.y = 440,
		.w = W - left - right,
		.h = 260,
		.unit = " ms",
		.value = latency_of,
		.n_groups = 2,
		.groups = {"p50", "p99"},
		.keys = {0, 1},
		.title = "mixed: request latency while CPU jobs run, "
			 "log scale (lower is better)"};

	fprintf(f,
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
		"height=\"%d\" font-family=\"sans-serif\">\n"
		"<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
		W, H);
	if (sp.n_groups)
		draw_panel(rep, &sp, f);
	if (rep->cfg->workloads & (1u << CMP_W_MIXED))
		draw_panel(rep, &lat, f);
	int k = 0;
	for (int b = 0; b < CMP_B_COUNT; b++) {
		if (!(rep->cfg->backends & (1u << b)))
			continue;
		double y = 70 + k * 20;
		fprintf(f,
			"<rect x=\"%d\" y=\"%.1f\" width=\"12\" height=\"12\" "
			"fill=\"%s\"/>\n",
			W - right + 14, y, colors[b % N_COLORS]);
		text(f, W - right + 32, y + 11, "start", 12,
		     cmp_backend_name(b));
		k++;
	}
	fputs("</svg>\n", f);
	return ferror(f) ? -1 : 0;
}

static int write_timeline(const struct cmp_report *rep, FILE *f)
{
	int n;
	int64_t origin;
	const struct cmp_span *s = cmp_timeline_spans(&n, &origin);
	int threads = cmp_timeline_threads();
	int64_t end = origin + 1;
	for (int i = 0; i < n; i++)
		if (s[i].end_ns > end)
			end = s[i].end_ns;
	const int W = 1000, left = 110, right = 20, top = 50, row = 34;
	int H = top + row * (threads ? threads : 1) + 50;
	double span = (double)(end - origin);
	double pw = W - left - right;
	char title[160];
	snprintf(title, sizeof(title),
		 "%s on %s: which task ran when, on which thread",
		 cmp_workload_name(rep->cfg->timeline_workload),
		 cmp_backend_name(rep->cfg->timeline_backend));

	fprintf(f,
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
		"height=\"%d\" font-family=\"sans-serif\">\n"
		"<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
		W, H);
	text(f, W / 2.0, 22, "middle", 15, title);
	text(f, W / 2.0, 38, "middle", 11,
	     "bars: task runs (colour = task); thin dark bars: GIL held");
	if (n == 0)
		text(f, W / 2.0, top + 20, "middle", 13,
		     "(nothing recorded: was the scenario selected?)");
	for (int t = 0; t < threads; t++) {
		double y = top + t * row;
		char name[24];
		snprintf(name, sizeof(name), "%s",
			 cmp_timeline_thread_name(t)[0]
				 ? cmp_timeline_thread_name(t)
				 : "thread");
		text(f, left - 8, y + 18, "end", 11, name);
		fprintf(f,
			"<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
			"stroke=\"#eee\"/>\n",
			left, y + row - 2, W - right, y + row - 2);
	}
	for (int i = 0; i < n; i++) {
		double x = left + pw * (double)(s[i].begin_ns - origin) / span;
		double w = pw * (double)(s[i].end_ns - s[i].begin_ns) / span;
		if (w < 0.5)
			w = 0.5;
		double y = top + s[i].thread * row;
		if (s[i].kind == CMP_SPAN_TASK)
			fprintf(f,
				"<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" "
				"height=\"18\" fill=\"%s\" opacity=\"0.85\">"
				"<title>task %d: %.2f..%.2f "
				"ms</title></rect>\n",
				x, y + 4, w,
				colors[(size_t)s[i].task % N_COLORS], s[i].task,
				(double)(s[i].begin_ns - origin) / 1e6,
				(double)(s[i].end_ns - origin) / 1e6);
		else
			fprintf(f,
				"<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" "
				"height=\"5\" fill=\"#222\"/>\n",
				x, y + 24, w);
	}
	/* Time axis. */
	double yb = top + row * (threads ? threads : 1) + 10;
	for (int k = 0; k <= 10; k++) {
		double x = left + pw * k / 10;
		char lab[24];
		snprintf(lab, sizeof(lab), "%.0f ms", span / 1e6 * k / 10);
		fprintf(f,
			"<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
			"stroke=\"#999\"/>\n",
			x, yb, x, yb + 5);
		text(f, x, yb + 18, "middle", 10, lab);
	}
	fputs("</svg>\n", f);
	return ferror(f) ? -1 : 0;
}

int cmp_svg_write(const struct cmp_report *rep, const char *dir, FILE *err)
{
	if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
		fprintf(err, "spool-compare: cannot create %s: %s\n", dir,
			strerror(errno));
		return -1;
	}
	int rc = 0;
	FILE *f = open_in(dir, "speedup.svg", err);
	if (!f)
		return -1;
	rc |= write_speedup(rep, f);
	rc |= fclose(f);
	f = open_in(dir, "timeline.svg", err);
	if (!f)
		return -1;
	rc |= write_timeline(rep, f);
	rc |= fclose(f);
	if (rc)
		fprintf(err, "spool-compare: writing the charts in %s failed\n",
			dir);
	return rc ? -1 : 0;
}
