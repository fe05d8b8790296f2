/* SPDX-License-Identifier: MIT */
/*
 * trace_svg_write(): a Chrome trace-event file drawn as an SVG timeline.
 *
 * Three passes: read the events (json.c, no tree), lay them out (tracks in
 * sort order, nesting depth of every slice on its track), draw. Slices
 * narrower than half a pixel next to one of the same colour are merged into
 * one bar, so a trace of a million tiny tasks still gives a picture of a
 * reasonable size; each bar carries a <title> tooltip with its name and
 * duration.
 *
 * User slices (spool_trace_begin/end, "cat":"user") get colours of their
 * own, one per name, from a palette distinct from the task labels', with
 * a dark outline; a user slice whose name starts with "wait" is drawn
 * translucent with a dashed outline, as spool's own waits are, so that
 * "holds the lock" and "waits for the lock" read apart at a glance. Each
 * name has a legend entry after the task labels.
 */
#include "trace_svg.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* ---- model ------------------------------------------------------------ */

enum kind { K_TASK, K_WAIT, K_PARK, K_ITER, K_SUBMIT, K_USER, K_OTHER };
enum mark { M_STEAL, M_WAKE, M_SUSPEND, M_TIMER, M_DROPPED, M_OTHER };

struct slice {
	double ts, dur; /* us */
	int track;
	int depth;
	int label; /* index into labels (K_USER: users): the colour */
	enum kind kind;
	const char *name; /* interned */
};

struct instant {
	double ts;
	int track;
	enum mark mark;
};

struct track {
	long tid;
	char name[64];
	double sort;
	bool named;
};

/* Interned names in order of appearance; an index is a colour. */
struct names {
	const char **v;
	size_t n, cap;
};

struct model {
	struct slice *s;
	size_t ns, caps;
	struct instant *in;
	size_t ni, capi;
	struct track *t;
	size_t nt, capt;
	/* Interned names: open addressing over strings. */
	char **names;
	size_t nnames, capnames;
	/* Task labels and user slice names in order of appearance: their
	 * colours. */
	struct names labels, users;
	double t0, t1;
	double dropped;
	bool nomem;
};

static bool grow(void **v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return true;
	size_t c = *cap ? 2 * *cap : 64;
	void *p = realloc(*v, c * size);
	if (!p)
		return false;
	*v = p;
	*cap = c;
	return true;
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603u; /* FNV-1a */
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211u;
	return h;
}

static const char *intern(struct model *m, const char *s)
{
	if (2 * (m->nnames + 1) > m->capnames) {
		size_t cap = m->capnames ? 2 * m->capnames : 256;
		char **t = calloc(cap, sizeof *t);
		if (!t) {
			m->nomem = true;
			return NULL;
		}
		for (size_t i = 0; i < m->capnames; i++) {
			if (!m->names[i])
				continue;
			size_t j = hash_str(m->names[i]) & (cap - 1);
			while (t[j])
				j = (j + 1) & (cap - 1);
			t[j] = m->names[i];
		}
		free(m->names);
		m->names = t;
		m->capnames = cap;
	}
	size_t j = hash_str(s) & (m->capnames - 1);
	while (m->names[j] && strcmp(m->names[j], s) != 0)
		j = (j + 1) & (m->capnames - 1);
	if (!m->names[j]) {
		size_t n = strlen(s) + 1;
		m->names[j] = malloc(n);
		if (m->names[j])
			memcpy(m->names[j], s, n);
		if (!m->names[j]) {
			m->nomem = true;
			return NULL;
		}
		m->nnames++;
	}
	return m->names[j];
}

static int track_of(struct model *m, long tid)
{
	for (size_t i = 0; i < m->nt; i++)
		if (m->t[i].tid == tid)
			return (int)i;
	if (!grow((void **)&m->t, &m->capt, m->nt, sizeof *m->t)) {
		m->nomem = true;
		return -1;
	}
	struct track *t = &m->t[m->nt];
	memset(t, 0, sizeof *t);
	t->tid = tid;
	t->sort = 1e9;
	snprintf(t->name, sizeof t->name, "tid %ld", tid);
	return (int)m->nt++;
}

/* The colour index of an interned name in l; names are few, a scan will
 * do. */
static int label_of(struct model *m, struct names *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i] == name)
			return (int)i;
	if (!grow((void **)&l->v, &l->cap, l->n, sizeof *l->v)) {
		m->nomem = true;
		return 0;
	}
	l->v[l->n] = name;
	return (int)l->n++;
}

static void free_model(struct model *m)
{
	for (size_t i = 0; i < m->capnames; i++)
		free(m->names[i]);
	free(m->names);
	free(m->s);
	free(m->in);
	free(m->t);
	free(m->labels.v);
	free(m->users.v);
}

/* ---- reading ---------------------------------------------------------- */

struct raw {
	char ph[4], name[128], cat[32], arg_name[64], s[4];
	double tid, ts, dur, sort_index;
	bool has_ts, has_dur, has_sort;
};

static bool read_args(struct json_reader *r, struct raw *e)
{
	char key[32];
	if (json_peek(r) != '{')
		return json_skip(r);
	if (!json_object_begin(r))
		return false;
	while (json_object_next(r, key, sizeof key)) {
		bool ok;
		if (strcmp(key, "name") == 0 && json_peek(r) == '"') {
			ok = json_string(r, e->arg_name, sizeof e->arg_name);
		} else if (strcmp(key, "sort_index") == 0 &&
			   json_peek(r) != '"') {
			ok = json_number(r, &e->sort_index);
			e->has_sort = ok;
		} else {
			ok = json_skip(r);
		}
		if (!ok)
			return false;
	}
	return !r->failed;
}

static bool read_event(struct json_reader *r, struct raw *e)
{
	char key[32];
	memset(e, 0, sizeof *e);
	if (!json_object_begin(r))
		return false;
	while (json_object_next(r, key, sizeof key)) {
		bool ok;
		char c = json_peek(r);
		if (strcmp(key, "ph") == 0 && c == '"')
			ok = json_string(r, e->ph, sizeof e->ph);
		else if (strcmp(key, "name") == 0 && c == '"')
			ok = json_string(r, e->name, sizeof e->name);
		else if (strcmp(key, "cat") == 0 && c == '"')
			ok = json_string(r, e->cat, sizeof e->cat);
		else if (strcmp(key, "s") == 0 && c == '"')
			ok = json_string(r, e->s, sizeof e->s);
		else if (strcmp(key, "tid") == 0 && c != '"')
			ok = json_number(r, &e->tid);
		else if (strcmp(key, "ts") == 0 && c != '"')
			ok = e->has_ts = json_number(r, &e->ts);
		else if (strcmp(key, "dur") == 0 && c != '"')
			ok = e->has_dur = json_number(r, &e->dur);
		else if (strcmp(key, "args") == 0)
			ok = read_args(r, e);
		else
			ok = json_skip(r);
		if (!ok)
			return false;
	}
	return !r->failed;
}

static enum kind kind_of(const struct raw *e)
{
	if (strcmp(e->cat, "task") == 0)
		return K_TASK;
	if (strcmp(e->cat, "wait") == 0)
		return K_WAIT;
	if (strcmp(e->cat, "submit") == 0)
		return K_SUBMIT;
	if (strcmp(e->cat, "user") == 0)
		return K_USER;
	if (strcmp(e->name, "park") == 0)
		return K_PARK;
	if (strcmp(e->name, "loop iteration") == 0)
		return K_ITER;
	return K_OTHER;
}

static enum mark mark_of(const char *name)
{
	static const char *const names[] = {"steal", "wake", "suspend", "timer",
					    "events dropped"};
	for (int i = 0; i < M_OTHER; i++)
		if (strcmp(name, names[i]) == 0)
			return (enum mark)i;
	return M_OTHER;
}

static void add_event(struct model *m, const struct raw *e)
{
	int tr = track_of(m, (long)e->tid);
	if (tr < 0)
		return;
	if (e->ph[0] == 'M') {
		if (strcmp(e->name, "thread_name") == 0 && e->arg_name[0]) {
			snprintf(m->t[tr].name, sizeof m->t[tr].name, "%s",
				 e->arg_name);
			m->t[tr].named = true;
		} else if (strcmp(e->name, "thread_sort_index") == 0 &&
			   e->has_sort) {
			m->t[tr].sort = e->sort_index;
		}
		return;
	}
	if (!e->has_ts)
		return;
	if (e->ph[0] == 'X' && e->has_dur) {
		if (!grow((void **)&m->s, &m->caps, m->ns, sizeof *m->s)) {
			m->nomem = true;
			return;
		}
		struct slice *s = &m->s[m->ns++];
		s->ts = e->ts;
		s->dur = e->dur > 0 ? e->dur : 0;
		s->track = tr;
		s->depth = 0;
		s->kind = kind_of(e);
		s->name = intern(m, e->name);
		s->label = !s->name ? 0
			   : s->kind == K_TASK
				   ? label_of(m, &m->labels, s->name)
			   : s->kind == K_USER ? label_of(m, &m->users, s->name)
					       : 0;
		if (!s->name)
			m->ns--;
	} else if (e->ph[0] == 'i' || e->ph[0] == 'I') {
		if (!grow((void **)&m->in, &m->capi, m->ni, sizeof *m->in)) {
			m->nomem = true;
			return;
		}
		m->in[m->ni++] = (struct instant){e->ts, tr, mark_of(e->name)};
	}
}

static bool read_metadata(struct json_reader *r, struct model *m)
{
	char key[32];
	if (json_peek(r) != '{')
		return json_skip(r);
	if (!json_object_begin(r))
		return false;
	while (json_object_next(r, key, sizeof key)) {
		bool ok;
		if (strcmp(key, "dropped_events") == 0 && json_peek(r) != '"')
			ok = json_number(r, &m->dropped);
		else
			ok = json_skip(r);
		if (!ok)
			return false;
	}
	return !r->failed;
}

/* The document: either {"traceEvents": [...], ...} or a bare array. */
static int read_trace(const char *text, size_t len, struct model *m)
{
	struct json_reader r;
	json_init(&r, text, len);
	bool found = false;
	struct raw e;
	char key[32];
	if (json_peek(&r) == '[') {
		found = json_array_begin(&r);
		while (found && json_array_next(&r) && read_event(&r, &e))
			add_event(m, &e);
	} else if (json_object_begin(&r)) {
		while (json_object_next(&r, key, sizeof key)) {
			if (strcmp(key, "traceEvents") == 0) {
				found = json_array_begin(&r);
				while (found && json_array_next(&r) &&
				       read_event(&r, &e))
					add_event(m, &e);
			} else if (strcmp(key, "metadata") == 0) {
				read_metadata(&r, m);
			} else {
				json_skip(&r);
			}
		}
	}
	if (m->nomem)
		return TRACE_SVG_ENOMEM;
	return found && json_end(&r) ? TRACE_SVG_OK : TRACE_SVG_EPARSE;
}

/* ---- layout ----------------------------------------------------------- */

static int by_track_start(const void *a, const void *b)
{
	const struct slice *x = a, *y = b;
	if (x->track != y->track)
		return x->track - y->track;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->dur > y->dur ? -1 : x->dur < y->dur;
}

/* Drawing order: per track, loop turns first (a band behind), then runs
 * and waits by depth (a child is drawn over its parent), then submits; in
 * time order within each, so that neighbours of the same colour can merge. */
static int layer(const struct slice *s)
{
	return s->kind == K_ITER ? 0 : s->kind == K_SUBMIT ? 2 : 1;
}

static int by_draw_order(const void *a, const void *b)
{
	const struct slice *x = a, *y = b;
	if (x->track != y->track)
		return x->track - y->track;
	if (layer(x) != layer(y))
		return layer(x) - layer(y);
	if (x->depth != y->depth)
		return x->depth - y->depth;
	return x->ts < y->ts ? -1 : x->ts > y->ts;
}

/* Depth of each slice within its track: how many open slices contain it.
 * Submits are not counted as parents (they are drawn as ticks). */
static void layout(struct model *m)
{
	if (m->ns)
		qsort(m->s, m->ns, sizeof *m->s, by_track_start);
	double ends[64];
	int depth = 0, track = -1;
	for (size_t i = 0; i < m->ns; i++) {
		struct slice *s = &m->s[i];
		if (s->track != track) {
			track = s->track;
			depth = 0;
		}
		while (depth && ends[depth - 1] <= s->ts)
			depth--;
		s->depth = depth;
		if (s->kind != K_SUBMIT && depth < 64)
			ends[depth++] = s->ts + s->dur;
	}
	if (m->ns)
		qsort(m->s, m->ns, sizeof *m->s, by_draw_order);
}

static int by_row(const void *a, const void *b)
{
	const struct track *x = a, *y = b;
	if (x->sort != y->sort)
		return x->sort < y->sort ? -1 : 1;
	int c = strcmp(x->name, y->name);
	return c ? c : (x->tid > y->tid) - (x->tid < y->tid);
}

/* ---- drawing ---------------------------------------------------------- */

static const char *const palette[] = {
	"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
	"#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
enum { NPALETTE = sizeof palette / sizeof palette[0] };

/* User slices: darker, none of the task palette's hues repeated. */
static const char *const upalette[] = {"#1b9e77", "#d95f02", "#7570b3",
				       "#e7298a", "#66a61e", "#a6761d",
				       "#1f78b4", "#666666"};
enum { NUPALETTE = sizeof upalette / sizeof upalette[0] };

/* The outline that tells a bar's class apart (spool's waits, user slices,
 * user waits); none for the rest. */
static const char *outline(const char *cls)
{
	if (strcmp(cls, "wait") == 0)
		return " fill-opacity=\"0.35\" stroke=\"#555\" "
		       "stroke-width=\"0.6\" stroke-dasharray=\"2,1\"";
	if (strcmp(cls, "user") == 0)
		return " stroke=\"#222\" stroke-width=\"0.8\"";
	if (strcmp(cls, "user-wait") == 0)
		return " fill-opacity=\"0.35\" stroke=\"#222\" "
		       "stroke-width=\"0.8\" stroke-dasharray=\"3,2\"";
	return "";
}

static void xml_text(FILE *o, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", o);
			break;
		case '<':
			fputs("&lt;", o);
			break;
		case '>':
			fputs("&gt;", o);
			break;
		case '"':
			fputs("&quot;", o);
			break;
		default:
			if ((unsigned char)*s >= 0x20 || *s == '\t')
				fputc(*s, o);
		}
	}
}

/* A duration in us as a short human string. */
static void fmt_us(char *b, size_t n, double us)
{
	if (us >= 1e6)
		snprintf(b, n, "%.3g s", us / 1e6);
	else if (us >= 1e3)
		snprintf(b, n, "%.3g ms", us / 1e3);
	else if (us >= 1)
		snprintf(b, n, "%.3g us", us);
	else
		snprintf(b, n, "%.0f ns", us * 1e3);
}

/* A step of 1, 2 or 5 times a power of ten giving about `want` ticks. */
static double nice_step(double span, int want)
{
	double raw = span / want;
	double p = pow(10, floor(log10(raw)));
	double f = raw / p;
	return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

struct geo {
	double x0, x1; /* drawing area, px */
	double t0, t1; /* window, us */
	int row_h;
	int top;
	const int *row_of; /* track -> row */
};

static double xpos(const struct geo *g, double ts)
{
	return g->x0 + (ts - g->t0) / (g->t1 - g->t0) * (g->x1 - g->x0);
}

/* One bar: pending bars of the same colour that touch merge, so runs of
 * tiny slices become one bar with a count in its tooltip. */
struct pending {
	bool live;
	double x, w;
	int y, h;
	const char *fill, *cls;
	const char *name;
	double dur;
	size_t n;
};

static void flush_bar(FILE *o, struct pending *p)
{
	if (!p->live)
		return;
	char d[32];
	fmt_us(d, sizeof d, p->dur);
	fprintf(o,
		"<rect class=\"%s\" x=\"%.2f\" y=\"%d\" width=\"%.2f\" "
		"height=\"%d\" fill=\"%s\"",
		p->cls, p->x, p->y, p->w < 0.5 ? 0.5 : p->w, p->h, p->fill);
	fputs(outline(p->cls), o);
	fputs("><title>", o);
	xml_text(o, p->name);
	if (p->n > 1)
		fprintf(o, " (%zu slices, %s)", p->n, d);
	else
		fprintf(o, " (%s)", d);
	fputs("</title></rect>\n", o);
	p->live = false;
}

static void draw_slice(FILE *o, const struct geo *g, const struct slice *s,
		       struct pending *p)
{
	double a = s->ts < g->t0 ? g->t0 : s->ts;
	double b = s->ts + s->dur > g->t1 ? g->t1 : s->ts + s->dur;
	if (b < a || s->ts > g->t1 || s->ts + s->dur < g->t0)
		return;
	double x = xpos(g, a), w = xpos(g, b) - x;
	int row_y = g->top + g->row_of[s->track] * g->row_h;
	int y, h;
	const char *fill, *cls;
	switch (s->kind) {
	case K_ITER:
		y = row_y + 1;
		h = g->row_h - 2;
		fill = "#e8f0fb";
		cls = "turn";
		break;
	case K_PARK:
		y = row_y + g->row_h / 2 - 2;
		h = 4;
		fill = "#c8c8c8";
		cls = "park";
		break;
	case K_SUBMIT:
		y = row_y + g->row_h - 5;
		h = 4;
		fill = "#333333";
		cls = "submit";
		break;
	default: {
		int inset = 3 + 3 * (s->depth > 4 ? 4 : s->depth);
		y = row_y + inset;
		h = g->row_h - inset - 3;
		if (h < 3)
			h = 3;
		fill = s->kind == K_TASK   ? palette[s->label % NPALETTE]
		       : s->kind == K_USER ? upalette[s->label % NUPALETTE]
		       : s->kind == K_WAIT ? "#ffffff"
					   : "#999999";
		cls = s->kind == K_TASK ? "run"
		      : s->kind == K_USER
			      ? (strncmp(s->name, "wait", 4) == 0 ? "user-wait"
								  : "user")
		      : s->kind == K_WAIT ? "wait"
					  : "other";
	}
	}
	if (p->live && p->fill == fill && p->y == y && p->h == h && w < 0.5 &&
	    p->w < 2 && x - (p->x + p->w) < 0.5) {
		p->w = x + w - p->x;
		p->dur += s->dur;
		p->n++;
		return;
	}
	flush_bar(o, p);
	*p = (struct pending){true, x, w, y, h, fill, cls, s->name, s->dur, 1};
}

static void draw_mark(FILE *o, const struct geo *g, const struct instant *m)
{
	if (m->ts < g->t0 || m->ts > g->t1 || m->mark == M_OTHER)
		return;
	double x = xpos(g, m->ts);
	int y = g->top + g->row_of[m->track] * g->row_h;
	switch (m->mark) {
	case M_STEAL: /* a red triangle hanging from the row's top */
		fprintf(o,
			"<path class=\"steal\" d=\"M%.2f %d l-3 -5 h6 z\" "
			"fill=\"#d62728\"/>\n",
			x, y + 6);
		break;
	case M_WAKE: /* a green dot at the row's top */
		fprintf(o,
			"<circle class=\"wake\" cx=\"%.2f\" cy=\"%d\" r=\"2\" "
			"fill=\"#2ca02c\"/>\n",
			x, y + 3);
		break;
	case M_SUSPEND: /* a purple tick at the bottom */
		fprintf(o,
			"<path class=\"suspend\" d=\"M%.2f %d v-6\" "
			"stroke=\"#7b3294\" stroke-width=\"1.2\"/>\n",
			x, y + g->row_h);
		break;
	case M_TIMER: /* a blue diamond at the bottom */
		fprintf(o,
			"<path class=\"timer\" d=\"M%.2f %d l3 -3 l-3 -3 l-3 3 "
			"z\" fill=\"#1f77b4\"/>\n",
			x, y + g->row_h);
		break;
	default: /* M_DROPPED: a red bar across the row */
		fprintf(o,
			"<rect class=\"dropped\" x=\"%.2f\" y=\"%d\" "
			"width=\"2\" height=\"%d\" fill=\"#ff0000\"><title>"
			"events dropped from here on</title></rect>\n",
			x, y, g->row_h);
		break;
	}
}

/* Legend entries for names, six to a row from (x, y): a swatch in each
 * name's colour (user: styled as the user slice's bar) and the name. */
static void legend_names(FILE *o, const struct names *l, int x, int y,
			 bool user)
{
	for (size_t i = 0; i < l->n; i++) {
		int col = (int)(i % 6), row = (int)(i / 6);
		int lx = x + col * 160, ly = y + row * 16;
		const char *fill = user ? upalette[i % NUPALETTE]
					: palette[i % NPALETTE];
		const char *cls = !user ? ""
				  : strncmp(l->v[i], "wait", 4) == 0
					  ? "user-wait"
					  : "user";
		fprintf(o,
			"<rect class=\"legend%s\" x=\"%d\" y=\"%d\" "
			"width=\"12\" height=\"10\" fill=\"%s\"%s/>"
			"<text x=\"%d\" y=\"%d\">",
			user ? " user" : "", lx, ly - 9, fill, outline(cls),
			lx + 16, ly);
		xml_text(o, l->v[i]);
		fputs("</text>\n", o);
	}
}

static void draw(FILE *o, struct model *m, const struct trace_svg_options *op)
{
	int width = op->width > 0 ? op->width : 1200;
	int row_h = op->row_height > 0 ? op->row_height : 24;
	int label_w = 150, top = 44;
	struct geo g = {label_w, width - 20, m->t0, m->t1, row_h, top, NULL};
	if (op->from_us != 0 || op->to_us != 0) {
		g.t0 = op->from_us;
		g.t1 = op->to_us;
	}
	if (g.t1 <= g.t0)
		g.t1 = g.t0 + 1;

	/* Rows: tracks sorted; row_of maps a track index to its row. */
	struct track *sorted = malloc((m->nt ? m->nt : 1) * sizeof *sorted);
	int *row_of = malloc((m->nt ? m->nt : 1) * sizeof *row_of);
	if (!sorted || !row_of) {
		free(sorted);
		free(row_of);
		m->nomem = true;
		return;
	}
	if (m->nt) {
		memcpy(sorted, m->t, m->nt * sizeof *sorted);
		qsort(sorted, m->nt, sizeof *sorted, by_row);
	}
	for (size_t r = 0; r < m->nt; r++)
		for (size_t i = 0; i < m->nt; i++)
			if (m->t[i].tid == sorted[r].tid)
				row_of[i] = (int)r;
	g.row_of = row_of;

	int rows_h = (int)m->nt * row_h;
	int axis_y = top + rows_h + 4;
	int legend_rows = op->no_legend ? 0
					: 2 + (int)(m->labels.n + 5) / 6 +
						  (int)(m->users.n + 5) / 6;
	int height = axis_y + 30 + legend_rows * 16 + 10;

	fprintf(o,
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
		"height=\"%d\" viewBox=\"0 0 %d %d\" "
		"font-family=\"sans-serif\" font-size=\"11\">\n",
		width, height, width, height);
	fprintf(o, "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n",
		width, height);
	fputs("<text x=\"10\" y=\"20\" font-size=\"15\" font-weight=\"bold\">",
	      o);
	xml_text(o, op->title ? op->title : "spool trace");
	fputs("</text>\n", o);
	char span[32];
	fmt_us(span, sizeof span, g.t1 - g.t0);
	fprintf(o,
		"<text x=\"10\" y=\"36\" fill=\"#555\">%zu tracks, %zu "
		"slices, %s shown",
		m->nt, m->ns, span);
	if (m->dropped > 0)
		fprintf(o, "; %.0f events were dropped (full buffers)",
			m->dropped);
	fputs("</text>\n", o);
	if (m->nt == 0)
		fprintf(o,
			"<text x=\"%d\" y=\"%d\" fill=\"#555\">no events "
			"recorded</text>\n",
			label_w, top + 14);

	/* Row bands and names. */
	for (size_t r = 0; r < m->nt; r++) {
		int y = top + (int)r * row_h;
		fprintf(o,
			"<rect class=\"row\" x=\"%d\" y=\"%d\" width=\"%.0f\" "
			"height=\"%d\" fill=\"%s\"/>\n",
			label_w, y, g.x1 - g.x0, row_h,
			r % 2 ? "#f7f7f7" : "#fdfdfd");
		fprintf(o,
			"<text class=\"track\" x=\"%d\" y=\"%d\" "
			"text-anchor=\"end\">",
			label_w - 6, y + row_h / 2 + 4);
		xml_text(o, sorted[r].name);
		fputs("</text>\n", o);
	}

	/* Slices, in the order layout() left them (see by_draw_order). */
	struct pending p = {0};
	for (size_t i = 0; i < m->ns; i++)
		draw_slice(o, &g, &m->s[i], &p);
	flush_bar(o, &p);
	for (size_t i = 0; i < m->ni; i++)
		draw_mark(o, &g, &m->in[i]);

	/* Time axis, labelled relative to the window's start. */
	fprintf(o,
		"<path class=\"axis\" d=\"M%.0f %d H%.0f\" stroke=\"#333\"/>\n",
		g.x0, axis_y, g.x1);
	double step = nice_step(g.t1 - g.t0, 8);
	for (double t = 0; t <= g.t1 - g.t0 + step * 1e-9; t += step) {
		double x = xpos(&g, g.t0 + t);
		char lab[32];
		fmt_us(lab, sizeof lab, t);
		fprintf(o,
			"<path class=\"tick\" d=\"M%.2f %d v4\" "
			"stroke=\"#333\"/><text x=\"%.2f\" y=\"%d\" "
			"text-anchor=\"middle\">%s</text>\n",
			x, axis_y, x, axis_y + 15, t == 0 ? "0" : lab);
	}

	if (!op->no_legend) {
		int y = axis_y + 34;
		static const char *const marks =
			"<path d=\"M%d %d l-3 -5 h6 z\" fill=\"#d62728\"/>"
			"<text x=\"%d\" y=\"%d\">steal</text>"
			"<circle cx=\"%d\" cy=\"%d\" r=\"2\" fill=\"#2ca02c\"/>"
			"<text x=\"%d\" y=\"%d\">wake-up</text>"
			"<path d=\"M%d %d v-6\" stroke=\"#7b3294\"/>"
			"<text x=\"%d\" y=\"%d\">suspend</text>"
			"<path d=\"M%d %d l3 -3 l-3 -3 l-3 3 z\" "
			"fill=\"#1f77b4\"/><text x=\"%d\" y=\"%d\">timer</text>"
			"<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"4\" "
			"fill=\"#c8c8c8\"/><text x=\"%d\" y=\"%d\">park</text>"
			"<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"8\" "
			"fill=\"#fff\" stroke=\"#555\" "
			"stroke-dasharray=\"2,1\"/>"
			"<text x=\"%d\" y=\"%d\">wait</text>\n";
		int x = label_w;
		fprintf(o, marks, x + 4, y, x + 12, y, x + 84, y - 3, x + 92, y,
			x + 164, y, x + 172, y, x + 244, y, x + 252, y, x + 324,
			y - 4, x + 342, y, x + 404, y - 8, x + 422, y);
		y += 18;
		legend_names(o, &m->labels, label_w, y, false);
		y += (int)(m->labels.n + 5) / 6 * 16;
		legend_names(o, &m->users, label_w, y, true);
	}
	fputs("</svg>\n", o);
	free(sorted);
	free(row_of);
}

/* ---- entry point ------------------------------------------------------ */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		size_t k = fread(buf + n, 1, cap - n, f);
		n += k;
		if (n < cap) {
			if (ferror(f)) {
				free(buf);
				buf = NULL;
			}
			break;
		}
		char *nb = realloc(buf, cap * 2);
		if (!nb) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = nb;
		cap *= 2;
	}
	fclose(f);
	*len = n;
	return buf;
}

int trace_svg_write(const char *json_path, FILE *out,
		    const struct trace_svg_options *opts)
{
	struct trace_svg_options op = TRACE_SVG_OPTIONS_INIT;
	if (opts)
		op = *opts;
	if (!json_path || !out || op.width < 0 || op.row_height < 0 ||
	    op.from_us > op.to_us)
		return TRACE_SVG_EINVAL;
	size_t len;
	char *text = slurp(json_path, &len);
	if (!text)
		return TRACE_SVG_EIO;
	struct model m = {0};
	int rc = read_trace(text, len, &m);
	free(text);
	if (rc == TRACE_SVG_OK) {
		layout(&m);
		m.t0 = m.ns || m.ni ? INFINITY : 0;
		m.t1 = m.ns || m.ni ? -INFINITY : 1;
		for (size_t i = 0; i < m.ns; i++) {
			if (m.s[i].ts < m.t0)
				m.t0 = m.s[i].ts;
			if (m.s[i].ts + m.s[i].dur > m.t1)
				m.t1 = m.s[i].ts + m.s[i].dur;
		}
		for (size_t i = 0; i < m.ni; i++) {
			if (m.in[i].ts < m.t0)
				m.t0 = m.in[i].ts;
			if (m.in[i].ts > m.t1)
				m.t1 = m.in[i].ts;
		}
		draw(out, &m, &op);
		if (m.nomem)
			rc = TRACE_SVG_ENOMEM;
		else if (fflush(out) != 0 || ferror(out))
			rc = TRACE_SVG_EIO;
	}
	free_model(&m);
	return rc;
}

const char *trace_svg_strerror(int err)
{
	switch (err) {
	case TRACE_SVG_OK:
		return "success";
	case TRACE_SVG_EIO:
		return "cannot read the trace or write the picture";
	case TRACE_SVG_EPARSE:
		return "not a trace-event JSON file (no traceEvents array, or "
		       "invalid JSON)";
	case TRACE_SVG_ENOMEM:
		return "out of memory";
	case TRACE_SVG_EINVAL:
		return "invalid argument";
	default:
		return "unknown error";
	}
}
