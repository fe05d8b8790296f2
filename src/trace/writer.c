/* SPDX-License-Identifier: MIT */
/*
 * The Chrome trace-event JSON writer: turns each thread's raw records into
 * the file ui.perfetto.dev and chrome://tracing open.
 *
 * Format (the "JSON Object Format" of the Trace Event Format document):
 *
 *   {"displayTimeUnit":"ns","traceEvents":[ ...events... ],
 *    "metadata":{ ...session figures... }}
 *
 * with pid = the process, tid = the thread's kernel id, ts and dur in
 * microseconds with nanosecond decimals, from the session's start.
 * displayTimeUnit comes first because Perfetto reads it only there.
 *
 * Slices. Begin/end records become complete events ("X"), matched per
 * thread with a stack. Viewers drop slices that do not nest, so the
 * matcher guarantees nesting: an end closes the innermost open slice with
 * the same kind and id, closing any slice opened above it first (marked
 * "truncated"); an end with no open begin (the task started before the
 * session) is counted in metadata.unmatched_ends and skipped; a child's
 * begin is kept strictly after its parent's and a parent's end after its
 * children's, so ties at nanosecond resolution cannot reorder them; no two
 * slices of a track start at the same nanosecond (see "floor" below); slices
 * still open when the buffer ends are closed at the stop time ("unfinished")
 * or, if the buffer filled up, at its last event ("truncated").
 *
 * User slices (spool_trace_begin/end) go on the same stack. An end closes
 * the thread's innermost user slice only if it is the top of the stack,
 * i.e. opened inside the innermost slice of spool's that is still open;
 * otherwise it is counted as unmatched and skipped, so a program's
 * unbalanced ends can never cut a task's run short. A user slice left
 * open when the run or wait around it ends is closed with it (truncated),
 * as any slice above a matched end is.
 *
 * Coroutines. A loop coroutine's run is not one slice: between a
 * suspension and its resumption the loop runs other coroutines on the same
 * thread. So a suspend record closes the coroutine's current segment, and
 * everything opened inside it (its wait, an inline task it was running),
 * and saves the latter; the resume record opens a new segment (args
 * "segment" and "after": what it waited for) and reopens the saved slices
 * in order. Each coroutine thus keeps its own stack of slices, as it keeps
 * its own machine stack.
 *
 * Flows. A submission is a "submit" slice carrying bind_id = the future's
 * id and flow_out. To save a clock read per task it has only its start
 * time; it is drawn to the last event recorded inside it (the inline run,
 * a wake-up it sent), or with no length. The first segment of the task's
 * run carries the same bind_id and flow_in (flow events v2, as Chrome
 * itself writes them), so viewers draw an arrow from submit to run across
 * threads.
 *
 * Equal stamps. The clock advances in steps (about 10 ns for the cycle
 * counter of some virtual machines) and two reads can return the same
 * value, so a slice can begin and end on one stamp; a stamp can also be
 * reused (trace.h). A slice that follows such an empty slice on that stamp
 * would start together with it, and a viewer that sorts equal starts
 * longest first draws the empty one inside it. So each thread keeps a
 * floor: 1 ns after the latest begin drawn, and no earlier than the latest
 * end drawn. A slice opened by a record starts at the floor at the latest
 * (everything drawn before happened before it). A submission starts where
 * the floor was after the last record stamped no later than its stamp: the
 * records after that one are later than its start, hence inside it (as
 * above), and the ones up to it are not. That floor is kept in a short
 * history of (stamp, floor) pairs, only where the floor is past the
 * stamp: elsewhere the stamp itself is the later of the two.
 *
 * Output goes through a 64 KiB buffer with hand-rolled number formatting;
 * stdio's printf would dominate the cost of a large trace.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool/version.h"

#include "writer.h"

/* ---- output ----------------------------------------------------------- */

struct out {
	FILE *f;
	size_t len;
	bool err;
	char buf[1 << 16];
};

static void flush(struct out *o)
{
	if (o->len && fwrite(o->buf, 1, o->len, o->f) != o->len)
		o->err = true;
	o->len = 0;
}

static void put(struct out *o, const char *s, size_t n)
{
	if (o->len + n > sizeof o->buf) {
		flush(o);
		if (n > sizeof o->buf) {
			if (fwrite(s, 1, n, o->f) != n)
				o->err = true;
			return;
		}
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void put_u64(struct out *o, uint64_t v)
{
	char t[24];
	int i = sizeof t;
	do
		t[--i] = (char)('0' + v % 10);
	while (v /= 10);
	put(o, t + i, sizeof t - i);
}

static void put_i64(struct out *o, int64_t v)
{
	if (v < 0) {
		put(o, "-", 1);
		put_u64(o, -(uint64_t)v);
	} else {
		put_u64(o, (uint64_t)v);
	}
}

/* ns as microseconds with three decimals: 12345 -> "12.345". */
static void put_us(struct out *o, uint64_t ns)
{
	char t[4] = {'.', (char)('0' + ns / 100 % 10),
		     (char)('0' + ns / 10 % 10), (char)('0' + ns % 10)};
	put_u64(o, ns / 1000);
	put(o, t, 4);
}

static void put_hex(struct out *o, uint64_t v)
{
	char t[18];
	int i = sizeof t;
	do
		t[--i] = "0123456789abcdef"[v & 15];
	while (v >>= 4);
	t[--i] = 'x';
	t[--i] = '0';
	put(o, t + i, sizeof t - i);
}

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one
 * (overlong forms, surrogates and code points past U+10FFFF are not). */
static int utf8_len(const unsigned char *s)
{
	unsigned c = s[0];
	int n;
	unsigned lo = 0x80, hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (int i = 2; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* The characters of s as the inside of a JSON string: quotes, backslashes
 * and control characters escaped, invalid UTF-8 replaced by U+FFFD. */
static void put_jchars(struct out *o, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	while (*s) {
		unsigned c = *s;
		if (c == '"' || c == '\\') {
			char t[2] = {'\\', (char)c};
			put(o, t, 2);
			s++;
		} else if (c < 0x20) {
			char t[7] = {'\\',
				     'u',
				     '0',
				     '0',
				     "0123456789abcdef"[c >> 4],
				     "0123456789abcdef"[c & 15],
				     0};
			put(o, t, 6);
			s++;
		} else if (c < 0x80) {
			const unsigned char *run = s;
			while (*s >= 0x20 && *s < 0x80 && *s != '"' &&
			       *s != '\\')
				s++;
			put(o, (const char *)run, (size_t)(s - run));
		} else {
			int n = utf8_len(s);
			if (n) {
				put(o, (const char *)s, (size_t)n);
				s += n;
			} else {
				puts_(o, "\\ufffd");
				s++;
			}
		}
	}
}

static void put_jstr(struct out *o, const char *s)
{
	put(o, "\"", 1);
	put_jchars(o, s);
	put(o, "\"", 1);
}

/* ---- args objects ----------------------------------------------------- */

struct args {
	struct out *o;
	bool any;
};

static void arg_key(struct args *a, const char *k)
{
	puts_(a->o, a->any ? ",\"" : ",\"args\":{\"");
	puts_(a->o, k);
	puts_(a->o, "\":");
	a->any = true;
}

static void arg_u64(struct args *a, const char *k, uint64_t v)
{
	arg_key(a, k);
	put_u64(a->o, v);
}

static void arg_i64(struct args *a, const char *k, int64_t v)
{
	arg_key(a, k);
	put_i64(a->o, v);
}

static void arg_str(struct args *a, const char *k, const char *v)
{
	arg_key(a, k);
	put_jstr(a->o, v);
}

static void arg_true(struct args *a, const char *k)
{
	arg_key(a, k);
	puts_(a->o, "true");
}

static void args_end(struct args *a)
{
	if (a->any)
		puts_(a->o, "}");
}

/* ---- slices ----------------------------------------------------------- */

enum {
	F_ENDED = 1,      /* closed by its own end record: rc is valid */
	F_SUSPENDED = 2,  /* closed by its coroutine's suspension */
	F_TRUNCATED = 4,  /* its end is missing (mismatch or full buffer) */
	F_UNFINISHED = 8, /* still open when the session stopped */
	F_RESUMED = 16,   /* opened by a coroutine's resumption */
};

struct slice {
	uint64_t id;
	uint64_t arg;     /* RUN, WAIT, USER: label pointer; ITER: iteration */
	uint64_t b;       /* begin, ns */
	uint64_t min_end; /* end of its latest child */
	uint64_t target;  /* resumed: what the coroutine waited for */
	uint32_t kind;
	uint32_t flags;
	int32_t seg; /* coroutine segment number */
	int32_t rc;  /* end record's code; ITER: callbacks run */
	int32_t why; /* resumed: enum spool__trace_why */
	int32_t resume_rc;
};

/* A coroutine seen suspending: its segment count, what it waits for, and
 * the slices it had open above its run. */
struct coro {
	uint64_t id; /* 0: empty slot */
	uint64_t label;
	uint64_t target;
	int32_t segs;
	int32_t why;
	struct slice *saved;
	uint32_t nsaved, capsaved;
};

/* The thread's floor after its last record stamped `raw` (ticks). */
struct hist {
	uint64_t raw;
	uint64_t floor;
};

struct wctx {
	struct out *o;
	const struct spool__trace_clock *clk;
	int pid, tid;
	struct slice *stk;
	size_t n, cap;
	struct coro *map;
	size_t mapcap, mapn;
	uint64_t unmatched;
	uint64_t events; /* decoded from the current thread's slots */
	uint64_t early;
	uint64_t submit_b; /* start of the thread's latest submit slice */
	uint64_t floor;    /* earliest begin for the next slice: see the top */
	struct hist *hist; /* (stamp, floor) where the floor passed the stamp */
	size_t nhist, caphist;
	bool nomem;
};

static uint32_t ev_kind(const struct spool__trace_ev *e)
{
	return (uint32_t)(e->word >> 56);
}

static uint64_t ev_id(const struct spool__trace_ev *e)
{
	return e->word & SPOOL__TRACE_ID_MASK;
}

/* The result code, worker index or count of the kinds that carry one. */
static int32_t ev_code(const struct spool__trace_ev *e)
{
	return (int32_t)(int64_t)e->arg;
}

static const char *why_name(int why)
{
	static const char *const names[SPOOL__TRACE_WHY_COUNT] = {
		"future", "sleep", "readable", "writable", "yield"};
	return why >= 0 && why < SPOOL__TRACE_WHY_COUNT ? names[why] : "?";
}

static void head(struct wctx *w, const char *ph, uint64_t ts)
{
	struct out *o = w->o;
	puts_(o, ",\n{\"ph\":\"");
	puts_(o, ph);
	puts_(o, "\",\"pid\":");
	put_u64(o, (uint64_t)w->pid);
	puts_(o, ",\"tid\":");
	put_u64(o, (uint64_t)w->tid);
	puts_(o, ",\"ts\":");
	put_us(o, ts);
}

static const char *label_of(uint64_t p)
{
	return (const char *)(uintptr_t)p;
}

static void emit_slice(struct wctx *w, const struct slice *s, uint64_t end)
{
	struct out *o = w->o;
	head(w, "X", s->b);
	puts_(o, ",\"dur\":");
	put_us(o, end - s->b);
	puts_(o, ",\"name\":\"");
	const char *cat = "task";
	switch (s->kind) {
	case SPOOL__TR_RUN_BEGIN:
		put_jchars(o, s->arg ? label_of(s->arg) : "task");
		break;
	case SPOOL__TR_WAIT_BEGIN:
		puts_(o, "wait");
		if (s->arg) {
			puts_(o, ": ");
			put_jchars(o, label_of(s->arg));
		}
		cat = "wait";
		break;
	case SPOOL__TR_PARK_BEGIN:
		puts_(o, "park");
		cat = "pool";
		break;
	case SPOOL__TR_USER_BEGIN:
		put_jchars(o, s->arg ? label_of(s->arg) : "slice");
		cat = "user";
		break;
	default: /* SPOOL__TR_ITER_BEGIN */
		puts_(o, "loop iteration");
		cat = "loop";
		break;
	}
	puts_(o, "\",\"cat\":\"");
	puts_(o, cat);
	puts_(o, "\"");
	if (s->kind == SPOOL__TR_RUN_BEGIN && s->seg == 0 &&
	    !(s->flags & F_RESUMED)) {
		puts_(o, ",\"bind_id\":\"");
		put_hex(o, s->id);
		puts_(o, "\",\"flow_in\":true");
	}
	struct args a = {o, false};
	switch (s->kind) {
	case SPOOL__TR_RUN_BEGIN:
		arg_u64(&a, "id", s->id);
		if (s->flags & F_ENDED)
			arg_i64(&a, "rc", s->rc);
		if (s->seg > 0 || (s->flags & F_RESUMED))
			arg_i64(&a, "segment", s->seg);
		if (s->flags & F_RESUMED) {
			arg_str(&a, "after", why_name(s->why));
			arg_u64(&a, "target", s->target);
			arg_i64(&a, "wait_rc", s->resume_rc);
		}
		break;
	case SPOOL__TR_WAIT_BEGIN:
		arg_u64(&a, "on", s->id);
		if (s->flags & F_ENDED)
			arg_i64(&a, "rc", s->rc);
		break;
	case SPOOL__TR_ITER_BEGIN:
		arg_u64(&a, "n", s->arg);
		if (s->flags & F_ENDED)
			arg_i64(&a, "ran", s->rc);
		break;
	}
	if (s->flags & F_SUSPENDED)
		arg_true(&a, "suspended");
	if (s->flags & F_TRUNCATED)
		arg_true(&a, "truncated");
	if (s->flags & F_UNFINISHED)
		arg_true(&a, "unfinished");
	args_end(&a);
	puts_(o, "}");
}

static void emit_instant(struct wctx *w, const struct spool__trace_ev *e,
			 uint64_t ts)
{
	struct out *o = w->o;
	head(w, "i", ts);
	puts_(o, ",\"s\":\"t\"");
	struct args a = {o, false};
	switch (ev_kind(e)) {
	case SPOOL__TR_STEAL:
		puts_(o, ",\"name\":\"steal\",\"cat\":\"pool\"");
		arg_u64(&a, "id", ev_id(e));
		arg_i64(&a, "victim", ev_code(e));
		break;
	case SPOOL__TR_WAKE:
		puts_(o, ",\"name\":\"wake\",\"cat\":\"pool\"");
		arg_i64(&a, "worker", ev_code(e));
		break;
	case SPOOL__TR_TIMER:
		puts_(o, ",\"name\":\"timer\",\"cat\":\"loop\"");
		arg_u64(&a, "id", ev_id(e));
		arg_u64(&a, "late_ns", e->arg);
		break;
	default: /* SPOOL__TR_SUSPEND */
		puts_(o, ",\"name\":\"suspend\",\"cat\":\"loop\"");
		arg_u64(&a, "id", ev_id(e));
		arg_str(&a, "on", why_name((int)(e->arg >> 56)));
		arg_u64(&a, "target", e->arg & SPOOL__TRACE_ID_MASK);
		break;
	}
	args_end(&a);
	puts_(o, "}");
}

static void emit_submit(struct wctx *w, uint64_t id, uint64_t b, uint64_t end)
{
	struct out *o = w->o;
	head(w, "X", b);
	puts_(o, ",\"dur\":");
	put_us(o, end - b);
	puts_(o, ",\"name\":\"submit\",\"cat\":\"submit\",\"bind_id\":\"");
	put_hex(o, id);
	puts_(o, "\",\"flow_out\":true,\"args\":{\"id\":");
	put_u64(o, id);
	puts_(o, "}}");
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* Opens a slice at ts (kept strictly after its parent's begin). Returns
 * it, or NULL when out of memory (the slice is then not drawn and its end
 * will count as unmatched). */
static struct slice *push(struct wctx *w, uint32_t kind, uint64_t id,
			  uint64_t arg, uint64_t ts)
{
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 64;
		struct slice *s = realloc(w->stk, cap * sizeof *s);
		if (!s) {
			w->nomem = true;
			return NULL;
		}
		w->stk = s;
		w->cap = cap;
	}
	if (w->n)
		ts = max_u64(ts, w->stk[w->n - 1].b + 1);
	ts = max_u64(ts, w->floor);
	w->floor = ts + 1;
	struct slice *s = &w->stk[w->n++];
	memset(s, 0, sizeof *s);
	s->kind = kind;
	s->id = id;
	s->arg = arg;
	s->b = ts;
	s->min_end = ts;
	return s;
}

static void close_top(struct wctx *w, uint64_t end, uint32_t flags)
{
	struct slice *s = &w->stk[--w->n];
	end = max_u64(end, s->min_end);
	w->floor = max_u64(w->floor, end);
	s->flags |= flags;
	emit_slice(w, s, end);
	if (w->n)
		w->stk[w->n - 1].min_end = max_u64(w->stk[w->n - 1].min_end,
						   end);
}

/* Index + 1 of the innermost open slice (kind, id); 0 if none. */
static size_t find(struct wctx *w, uint32_t kind, uint64_t id)
{
	for (size_t k = w->n; k-- > 0;)
		if (w->stk[k].kind == kind && w->stk[k].id == id)
			return k + 1;
	return 0;
}

static void close_match(struct wctx *w, uint32_t kind, uint64_t id, uint64_t ts,
			int32_t rc)
{
	size_t k = find(w, kind, id);
	if (!k) {
		w->unmatched++;
		return;
	}
	while (w->n > k)
		close_top(w, ts, F_TRUNCATED);
	w->stk[k - 1].rc = rc;
	close_top(w, ts, F_ENDED);
}

/* ---- coroutines ------------------------------------------------------- */

static size_t hash(uint64_t id, size_t cap)
{
	return (size_t)((id * UINT64_C(0x9e3779b97f4a7c15)) >> 32) & (cap - 1);
}

/* The entry of coroutine id, created empty if new; NULL without memory. */
static struct coro *coro_get(struct wctx *w, uint64_t id)
{
	if (2 * (w->mapn + 1) > w->mapcap) {
		size_t cap = w->mapcap ? 2 * w->mapcap : 64;
		struct coro *m = calloc(cap, sizeof *m);
		if (!m) {
			w->nomem = true;
			return NULL;
		}
		for (size_t i = 0; i < w->mapcap; i++) {
			if (!w->map[i].id)
				continue;
			size_t j = hash(w->map[i].id, cap);
			while (m[j].id)
				j = (j + 1) & (cap - 1);
			m[j] = w->map[i];
		}
		free(w->map);
		w->map = m;
		w->mapcap = cap;
	}
	size_t j = hash(id, w->mapcap);
	while (w->map[j].id && w->map[j].id != id)
		j = (j + 1) & (w->mapcap - 1);
	if (!w->map[j].id) {
		w->map[j].id = id;
		w->mapn++;
	}
	return &w->map[j];
}

static void suspend(struct wctx *w, const struct spool__trace_ev *e,
		    uint64_t ts)
{
	struct coro *c = coro_get(w, ev_id(e));
	size_t k = find(w, SPOOL__TR_RUN_BEGIN, ev_id(e));
	if (c && k) {
		c->label = w->stk[k - 1].arg;
		size_t above = w->n - k;
		if (above > c->capsaved) {
			struct slice *s = realloc(c->saved, above * sizeof *s);
			if (s) {
				c->saved = s;
				c->capsaved = (uint32_t)above;
			} else {
				w->nomem = true;
				above = 0;
			}
		}
		if (above)
			memcpy(c->saved, &w->stk[k], above * sizeof *c->saved);
		c->nsaved = (uint32_t)above;
	}
	if (k)
		while (w->n >= k)
			close_top(w, ts, F_SUSPENDED);
	if (c) {
		c->segs++;
		c->why = (int32_t)(e->arg >> 56);
		c->target = e->arg & SPOOL__TRACE_ID_MASK;
	}
	emit_instant(w, e, ts);
}

static void resume(struct wctx *w, const struct spool__trace_ev *e, uint64_t ts)
{
	struct coro *c = coro_get(w, ev_id(e));
	struct slice *s = push(w, SPOOL__TR_RUN_BEGIN, ev_id(e),
			       c ? c->label : 0, ts);
	if (!s || !c)
		return;
	s->seg = c->segs ? c->segs : 1; /* its suspension preceded the trace */
	s->flags = F_RESUMED;
	s->why = c->why;
	s->target = c->target;
	s->resume_rc = ev_code(e);
	for (uint32_t i = 0; i < c->nsaved; i++) {
		const struct slice *old = &c->saved[i];
		struct slice *r = push(w, old->kind, old->id, old->arg, ts);
		if (!r)
			break;
		r->seg = old->seg;
		r->flags = old->flags & F_RESUMED;
		r->why = old->why;
		r->target = old->target;
		r->resume_rc = old->resume_rc;
	}
	c->nsaved = 0;
}

/* ---- the floor at a stamp ---------------------------------------------- */

/* Notes the floor after a record stamped raw (at ns), if it is past it. */
static void hist_note(struct wctx *w, uint64_t raw, uint64_t ns)
{
	if (w->floor <= ns)
		return;
	if (w->nhist && w->hist[w->nhist - 1].raw == raw) {
		w->hist[w->nhist - 1].floor = w->floor;
		return;
	}
	if (w->nhist == w->caphist) {
		size_t cap = w->caphist ? 2 * w->caphist : 64;
		struct hist *h = realloc(w->hist, cap * sizeof *h);
		if (!h) {
			w->nomem = true;
			return;
		}
		w->hist = h;
		w->caphist = cap;
	}
	w->hist[w->nhist++] = (struct hist){raw, w->floor};
}

/* The floor after the last record stamped no later than raw: where a
 * submission stamped raw may start. The records noted after that one lie
 * inside the submission; a later one on this thread is either after it
 * (and then stamped no earlier than the entry noted for it) or encloses it
 * (stamped earlier): neither needs them, so they are dropped. */
static uint64_t hist_floor(struct wctx *w, uint64_t raw)
{
	size_t k = w->nhist;
	while (k && w->hist[k - 1].raw > raw)
		k--;
	w->nhist = k;
	return k ? w->hist[k - 1].floor : 0;
}

/* ---- one thread ------------------------------------------------------- */

static void thread_meta(struct wctx *w, const struct spool__trace_buf *b)
{
	struct out *o = w->o;
	puts_(o, ",\n{\"ph\":\"M\",\"pid\":");
	put_u64(o, (uint64_t)w->pid);
	puts_(o, ",\"tid\":");
	put_u64(o, (uint64_t)w->tid);
	puts_(o, ",\"name\":\"thread_name\",\"args\":{\"name\":");
	put_jstr(o, b->name);
	puts_(o, "}},\n{\"ph\":\"M\",\"pid\":");
	put_u64(o, (uint64_t)w->pid);
	puts_(o, ",\"tid\":");
	put_u64(o, (uint64_t)w->tid);
	puts_(o, ",\"name\":\"thread_sort_index\",\"args\":{\"sort_index\":");
	put_i64(o, b->sort);
	puts_(o, "}}");
}

/* Reads the event stored at slot i of the n slots at v (trace.h) into e;
 * returns the slots it took. A marked event whose argument slot lies
 * beyond n (impossible: n is published after both) reads as argument 0. */
static size_t decode(const struct spool__trace_slot *v, size_t n, size_t i,
		     struct spool__trace_ev *e)
{
	e->ts = v[i].ts;
	e->word = v[i].word & ~SPOOL__TRACE_HAS_ARG;
	e->arg = 0;
	if (!(v[i].word & SPOOL__TRACE_HAS_ARG))
		return 1;
	if (i + 1 < n)
		e->arg = v[i + 1].ts;
	return 2;
}

static void write_thread(struct wctx *w, const struct spool__trace_buf *b,
			 size_t n, uint64_t dropped)
{
	const struct spool__trace_clock *clk = w->clk;
	uint64_t last = 0;
	w->tid = (int)b->tid;
	w->n = 0;
	w->submit_b = 0;
	w->floor = 0;
	w->nhist = 0;
	thread_meta(w, b);
	for (size_t i = 0; i < n;) {
		struct spool__trace_ev ev;
		i += decode(b->ev, n, i, &ev);
		const struct spool__trace_ev *e = &ev;
		w->events++;
		/* Stamped before the session started: a thread that saw the
		 * new generation only after reading the clock. Its event
		 * belongs to no session; an end it leaves open counts as
		 * unmatched. */
		if (e->ts < clk->t0_ticks) {
			w->early++;
			continue;
		}
		uint64_t ts = spool__trace_clock_ns(clk, e->ts);
		uint64_t at = ts; /* ts may move below */
		uint64_t prev = last;
		last = max_u64(last, ts);
		uint32_t kind = ev_kind(e);
		uint64_t id = ev_id(e);
		switch (kind) {
		case SPOOL__TR_SUBMIT: {
			/* Recorded when the submission returned, stamped when
			 * it began: the records before it that are later than
			 * its start happened inside it (an inline run, a
			 * wake-up it sent), and it ends with the last one.
			 * Its stamp is the thread's previous clock read
			 * (trace.h), often the enclosing run's begin: kept
			 * 1 ns after it, as push() does, so that the two do
			 * not start together. The real submission is later
			 * still (the read itself takes longer than 1 ns), so
			 * the run it points to stays after it.
			 * Submissions in a row with no clock read between
			 * share that stamp: each is kept 1 ns after the one
			 * before it, so a zero-length one and a longer one
			 * (which sent a wake-up) are drawn in order. A
			 * submission takes far longer than 1 ns, so no
			 * submit is drawn after its real start. */
			uint64_t end = max_u64(prev, ts);
			ts = max_u64(ts, w->submit_b + 1);
			/* After what was drawn before it began: see the top. */
			ts = max_u64(ts, hist_floor(w, e->ts));
			if (w->n) {
				struct slice *top = &w->stk[w->n - 1];
				ts = max_u64(ts, top->b + 1);
				top->min_end = max_u64(top->min_end,
						       max_u64(end, ts));
			}
			w->submit_b = ts;
			w->floor = max_u64(w->floor, max_u64(end, ts + 1));
			emit_submit(w, id, ts, max_u64(end, ts));
			break;
		}
		case SPOOL__TR_RUN_BEGIN:
		case SPOOL__TR_WAIT_BEGIN:
			push(w, kind, id, e->arg, ts);
			break;
		case SPOOL__TR_PARK_BEGIN:
		case SPOOL__TR_ITER_BEGIN:
			push(w, kind, 0, e->arg, ts);
			break;
		case SPOOL__TR_RUN_END:
		case SPOOL__TR_WAIT_END:
			close_match(w, kind - 1, id, ts, ev_code(e));
			break;
		case SPOOL__TR_PARK_END:
		case SPOOL__TR_ITER_END:
			close_match(w, kind - 1, 0, ts, ev_code(e));
			break;
		case SPOOL__TR_USER_BEGIN:
			push(w, kind, 0, e->arg, ts);
			break;
		case SPOOL__TR_USER_END:
			/* Only directly inside spool's innermost open slice:
			 * see the top of this file. */
			if (w->n &&
			    w->stk[w->n - 1].kind == SPOOL__TR_USER_BEGIN)
				close_top(w, ts, F_ENDED);
			else
				w->unmatched++;
			break;
		case SPOOL__TR_STEAL:
		case SPOOL__TR_WAKE:
		case SPOOL__TR_TIMER:
			emit_instant(w, e, ts);
			break;
		case SPOOL__TR_SUSPEND:
			suspend(w, e, ts);
			break;
		case SPOOL__TR_RESUME:
			resume(w, e, ts);
			break;
		default:
			break;
		}
		hist_note(w, e->ts, at);
	}
	uint64_t end = dropped ? last
			       : spool__trace_clock_ns(clk, clk->t1_ticks);
	while (w->n)
		close_top(w, end, dropped ? F_TRUNCATED : F_UNFINISHED);
	if (dropped) {
		head(w, "i", last);
		puts_(w->o, ",\"s\":\"t\",\"name\":\"events dropped\","
			    "\"cat\":\"trace\"");
		struct args a = {w->o, false};
		arg_u64(&a, "dropped", dropped);
		arg_u64(&a, "capacity", b->cap);
		args_end(&a);
		puts_(w->o, "}");
	}
	for (size_t i = 0; i < w->mapcap; i++)
		free(w->map[i].saved);
	free(w->map);
	w->map = NULL;
	w->mapcap = w->mapn = 0;
}

/* ---- the file --------------------------------------------------------- */

int spool__trace_write(FILE *f, struct spool__trace_buf *list,
		       const struct spool__trace_clock *clk,
		       spool_trace_stats *st)
{
	struct out *o = malloc(sizeof *o);
	if (!o)
		return SPOOL_ENOMEM;
	o->f = f;
	o->len = 0;
	o->err = false;
	struct wctx w = {.o = o, .clk = clk, .pid = (int)getpid()};

	puts_(o, "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n"
		 "{\"ph\":\"M\",\"pid\":");
	put_u64(o, (uint64_t)w.pid);
	puts_(o, ",\"tid\":");
	put_u64(o, (uint64_t)w.pid);
	puts_(o, ",\"name\":\"process_name\",\"args\":{\"name\":\"spool\"}}");

	uint64_t events = 0, dropped = 0;
	uint32_t threads = 0;
	for (struct spool__trace_buf *b = list; b; b = b->next) {
		/* Acquire: pairs with the owner's release store of n, so the
		 * n records below are complete (buffer.c, point 1). */
		size_t n = atomic_load_explicit(&b->n, memory_order_acquire);
		uint64_t d = atomic_load_explicit(&b->dropped,
						  memory_order_relaxed);
		b->stop_dropped = d;
		w.events = 0;
		write_thread(&w, b, n, d);
		events += w.events;
		dropped += d;
		threads++;
	}
	free(w.stk);
	free(w.hist);

	puts_(o, "\n],\n\"metadata\":{\"spool_version\":\"" SPOOL_VERSION_STRING
		 "\",\"clock\":\"");
	puts_(o, spool__trace_clock_name(clk));
	puts_(o, "\",\"duration_ns\":");
	put_u64(o, spool__trace_clock_ns(clk, clk->t1_ticks));
	puts_(o, ",\"threads\":");
	put_u64(o, threads);
	puts_(o, ",\"events\":");
	put_u64(o, events);
	puts_(o, ",\"dropped_events\":");
	put_u64(o, dropped + spool__trace_buffers_lost());
	puts_(o, ",\"unmatched_ends\":");
	put_u64(o, w.unmatched);
	puts_(o, ",\"early_events\":");
	put_u64(o, w.early);
	puts_(o, ",\"dropped_by_thread\":[");
	bool first = true;
	for (struct spool__trace_buf *b = list; b; b = b->next) {
		uint64_t d = b->stop_dropped;
		if (!d)
			continue;
		puts_(o, first ? "{\"tid\":" : ",{\"tid\":");
		first = false;
		put_u64(o, (uint64_t)b->tid);
		puts_(o, ",\"name\":");
		put_jstr(o, b->name);
		puts_(o, ",\"dropped\":");
		put_u64(o, d);
		puts_(o, "}");
	}
	puts_(o, "]}}\n");
	flush(o);
	bool err = o->err || fflush(f) != 0;
	free(o);

	st->events = events;
	st->dropped = dropped + spool__trace_buffers_lost();
	st->threads = threads;
	if (err)
		return SPOOL_ESYS;
	return w.nomem ? SPOOL_ENOMEM : 0;
}
