/* SPDX-License-Identifier: MIT */
/* The trace suites' shared helpers: see trace_support.h. */
#include "trace_support.h"

#include <linux/futex.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/future_impl.h"
#include "json.h"

/* ck_assert_msg for checks made once per event: Check is called only when
 * cond fails (see trace_support.h). */
#define REQUIRE(cond, ...)                                                     \
	do {                                                                   \
		if (!(cond))                                                   \
			ck_abort_msg(__VA_ARGS__);                             \
	} while (0)

/* ---- reading a trace ---------------------------------------------------- */

/* Traces are read with the project's strict pull reader (json.h, built
 * from compare/trace/json.c): anything RFC 8259 rejects fails it. The
 * reader walks the top object and the traceEvents array; each event is
 * read as one small tree of struct jv, distilled into a struct tev (its
 * strings and args taken out) and dropped, so only the free-form objects
 * the tests query by key (an event's args, the metadata) stay trees. */

/* One trace file being read: the reader and what a failure names. */
struct jload {
	struct json_reader r;
	const char *path, *text;
};

/* Fails the test unless the text read so far is JSON. (Here and below a
 * check on every value tests first and calls Check only on failure: each
 * ck_assert that passes costs the forked test a write to its parent.) */
static void json_so_far(const struct jload *l)
{
	if (l->r.failed)
		ck_abort_msg("%s is not JSON at offset %ld", l->path,
			     (long)(l->r.p - l->text));
}

/* The next object key into key (of cap bytes), false after the last. */
static bool jkey(struct jload *l, char *key, size_t cap)
{
	bool more = json_object_next(&l->r, key, cap);
	json_so_far(l);
	if (more && strlen(key) >= cap - 1)
		ck_abort_msg("%s: key %s... too long", l->path, key);
	return more;
}

static void *grow(void *a, size_t n, size_t *cap, size_t size)
{
	if (n < *cap)
		return a;
	*cap = *cap ? 2 * *cap : 8;
	a = realloc(a, *cap * size);
	REQUIRE(a, "out of memory");
	return a;
}

/* Reads the next value, whatever it is, into v. */
static void jread(struct jload *l, struct jv *v)
{
	struct json_reader *r = &l->r;
	char key[256];
	size_t cap = 0, kcap = 0;
	memset(v, 0, sizeof *v);
	switch (json_peek(r)) {
	case '{':
		v->t = J_OBJ;
		json_object_begin(r);
		while (jkey(l, key, sizeof key)) {
			v->items = grow(v->items, v->n, &cap, sizeof *v->items);
			v->keys = grow(v->keys, v->n, &kcap, sizeof *v->keys);
			v->keys[v->n] = strdup(key);
			jread(l, &v->items[v->n++]);
		}
		break;
	case '[':
		v->t = J_ARR;
		json_array_begin(r);
		while (json_array_next(r)) {
			v->items = grow(v->items, v->n, &cap, sizeof *v->items);
			jread(l, &v->items[v->n++]);
		}
		break;
	case '"':
		v->t = J_STR;
		v->str = json_string_dup(r);
		break;
	case 't':
	case 'f':
		v->t = J_BOOL;
		v->b = json_peek(r) == 't';
		json_skip(r);
		break;
	case 'n':
		json_skip(r);
		break;
	default:
		v->t = J_NUM;
		json_number(r, &v->num);
	}
	json_so_far(l);
}

static void jfree(struct jv *v)
{
	for (size_t i = 0; i < v->n; i++) {
		jfree(&v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->str);
}

const struct jv *jget(const struct jv *o, const char *key)
{
	if (!o || o->t != J_OBJ)
		return NULL;
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->keys[i], key) == 0)
			return &o->items[i];
	return NULL;
}

const char *jgets(const struct jv *o, const char *key)
{
	const struct jv *v = jget(o, key);
	return v && v->t == J_STR ? v->str : NULL;
}

double jgetn(const struct jv *o, const char *key, double dflt)
{
	const struct jv *v = jget(o, key);
	return v && v->t == J_NUM ? v->num : dflt;
}

bool jgetb(const struct jv *o, const char *key)
{
	const struct jv *v = jget(o, key);
	return v && v->t == J_BOOL && v->b;
}

char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *s = malloc((size_t)n + 1);
	ck_assert_int_eq(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = 0;
	fclose(f);
	*len = (size_t)n;
	return s;
}

static int64_t us_to_ns(double us)
{
	return (int64_t)llround(us * 1000.0);
}

long trace_pid;

/* Takes v out of its tree (leaving a null there): the caller owns it. */
static struct jv *jtake(const struct jv *v)
{
	if (!v)
		return NULL;
	struct jv *own = malloc(sizeof *own);
	if (!own)
		ck_abort_msg("out of memory");
	*own = *v;
	memset((struct jv *)v, 0, sizeof *v);
	return own;
}

static void jdelete(struct jv *v)
{
	if (v)
		jfree(v);
	free(v);
}

/* The string at key in o, taken out of o, or NULL if it is not one. */
static char *jtakes(const struct jv *o, const char *key)
{
	struct jv *v = (struct jv *)jget(o, key);
	if (!v || v->t != J_STR)
		return NULL;
	char *s = v->str;
	memset(v, 0, sizeof *v);
	return s;
}

/* Reads the next event of traceEvents into e, checking its shape. */
static void read_event(struct jload *l, struct tev *e)
{
	struct jv o;
	jread(l, &o);
	const char *ph = jgets(&o, "ph");
	REQUIRE(ph, "%s: an event without ph", l->path);
	e->ph = ph[0];
	e->name = jtakes(&o, "name");
	REQUIRE(e->name, "%s: a %c event without a name", l->path, e->ph);
	e->cat = jtakes(&o, "cat");
	e->bind_id = jtakes(&o, "bind_id");
	long pid = (long)jgetn(&o, "pid", -1);
	long want = trace_pid ? trace_pid : (long)getpid();
	REQUIRE(pid == want, "%s: %s has pid %ld, not %ld", l->path, e->name,
		pid, want);
	e->tid = (long)jgetn(&o, "tid", -1);
	REQUIRE(e->tid >= 0, "%s: %s has tid %ld", l->path, e->name, e->tid);
	if (e->ph != 'M') {
		REQUIRE(jget(&o, "ts"), "%s: %s without ts", l->path, e->name);
		e->ts = us_to_ns(jgetn(&o, "ts", 0));
	}
	if (e->ph == 'X') {
		REQUIRE(jget(&o, "dur"), "%s: %s without dur", l->path,
			e->name);
		e->dur = us_to_ns(jgetn(&o, "dur", 0));
		REQUIRE(e->dur >= 0, "%s: %s has dur %lld", l->path, e->name,
			(long long)e->dur);
	}
	if (e->ph == 'i') {
		const char *scope = jgets(&o, "s");
		REQUIRE(scope && strcmp(scope, "t") == 0,
			"%s: instant %s has scope %s, not t", l->path, e->name,
			scope ? scope : "(none)");
	}
	e->flow_in = jgetb(&o, "flow_in");
	e->flow_out = jgetb(&o, "flow_out");
	e->args = jtake(jget(&o, "args"));
	jfree(&o);
}

/* Parses path (failing the test unless it is strict JSON with the trace
 * shape) into t: an object whose first key is displayTimeUnit, with an
 * array traceEvents and a metadata value (the first of each name). */
void load(struct trace *t, const char *path)
{
	struct jload l = {.path = path};
	size_t len, cap = 0;
	char *s = slurp(path, &len);
	char key[64];
	bool first = true, have_events = false;
	l.text = s;
	json_init(&l.r, s, len);
	memset(t, 0, sizeof *t);
	ck_assert_int_eq(json_peek(&l.r), '{');
	json_object_begin(&l.r);
	while (jkey(&l, key, sizeof key)) {
		if (first)
			ck_assert_str_eq(key, "displayTimeUnit");
		first = false;
		if (strcmp(key, "traceEvents") == 0 && !have_events) {
			have_events = true;
			ck_assert_int_eq(json_peek(&l.r), '[');
			json_array_begin(&l.r);
			while (json_array_next(&l.r)) {
				t->ev = grow(t->ev, t->n, &cap, sizeof *t->ev);
				memset(&t->ev[t->n], 0, sizeof t->ev[t->n]);
				read_event(&l, &t->ev[t->n++]);
			}
		} else if (strcmp(key, "metadata") == 0 && !t->meta) {
			t->meta = malloc(sizeof *t->meta);
			ck_assert_ptr_nonnull(t->meta);
			jread(&l, t->meta);
		} else {
			json_skip(&l.r);
		}
		json_so_far(&l);
	}
	ck_assert_msg(json_end(&l.r), "%s is not JSON at offset %ld", path,
		      (long)(l.r.p - s));
	free(s);
	ck_assert(!first);
	ck_assert(have_events);
	ck_assert_ptr_nonnull(t->meta);
}

void unload(struct trace *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->ev[i].name);
		free(t->ev[i].cat);
		free(t->ev[i].bind_id);
		jdelete(t->ev[i].args);
	}
	jdelete(t->meta);
	free(t->ev);
}

double meta_n(const struct trace *t, const char *key)
{
	const struct jv *v = jget(t->meta, key);
	ck_assert_msg(v && v->t == J_NUM, "metadata.%s missing", key);
	return v->num;
}

double arg_n(const struct tev *e, const char *key)
{
	const struct jv *v = jget(e->args, key);
	ck_assert_msg(v && v->t == J_NUM, "%s: args.%s missing", e->name, key);
	return v->num;
}

/* The tid of the track named name, or -1. */
long track(const struct trace *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->ev[i].ph == 'M' &&
		    strcmp(t->ev[i].name, "thread_name") == 0 &&
		    strcmp(jgets(t->ev[i].args, "name"), name) == 0)
			return t->ev[i].tid;
	return -1;
}

size_t count(const struct trace *t, char ph, const char *name, long tid)
{
	size_t c = 0;
	for (size_t i = 0; i < t->n; i++)
		if (t->ev[i].ph == ph &&
		    (!name || strcmp(t->ev[i].name, name) == 0) &&
		    (tid < 0 || t->ev[i].tid == tid))
			c++;
	return c;
}

/* The i-th (from 0) event with ph and name on tid, or NULL. */
const struct tev *nth(const struct trace *t, char ph, const char *name,
		      long tid, size_t k)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->ev[i].ph == ph && strcmp(t->ev[i].name, name) == 0 &&
		    (tid < 0 || t->ev[i].tid == tid) && k-- == 0)
			return &t->ev[i];
	return NULL;
}

const struct tev *run_of(const struct trace *t, uint64_t id, int segment)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct tev *e = &t->ev[i];
		if (e->ph == 'X' && e->cat && strcmp(e->cat, "task") == 0 &&
		    (uint64_t)jgetn(e->args, "id", 0) == id &&
		    (int)jgetn(e->args, "segment", 0) == segment)
			return e;
	}
	return NULL;
}

bool contains(const struct tev *outer, const struct tev *in)
{
	return outer->ts <= in->ts &&
	       in->ts + in->dur <= outer->ts + outer->dur;
}

static int by_start(const void *a, const void *b)
{
	const struct tev *x = *(const struct tev *const *)a;
	const struct tev *y = *(const struct tev *const *)b;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->dur > y->dur ? -1 : x->dur < y->dur;
}

/* Viewers drop slices that overlap without nesting: on every track, every
 * pair of slices must be disjoint or one inside the other, and no two may
 * start at the same instant (their order would be ambiguous). */
void assert_slices_nest(const struct trace *t)
{
	const struct tev **v = calloc(t->n + 1, sizeof *v);
	size_t n = 0;
	for (size_t i = 0; i < t->n; i++)
		if (t->ev[i].ph == 'X')
			v[n++] = &t->ev[i];
	qsort(v, n, sizeof *v, by_start);
	const struct tev **stk = calloc(n + 1, sizeof *stk);
	size_t depth = 0;
	for (size_t i = 0; i < n; i++) {
		if (i && v[i - 1]->tid != v[i]->tid)
			depth = 0;
		while (depth &&
		       stk[depth - 1]->ts + stk[depth - 1]->dur <= v[i]->ts)
			depth--;
		if (depth) {
			const struct tev *top = stk[depth - 1];
			REQUIRE(contains(top, v[i]),
				"slice %s [%lld,+%lld] overlaps %s "
				"[%lld,+%lld] "
				"on tid %ld",
				v[i]->name, (long long)v[i]->ts,
				(long long)v[i]->dur, top->name,
				(long long)top->ts, (long long)top->dur,
				v[i]->tid);
			REQUIRE(top->ts < v[i]->ts,
				"slices %s and %s start together at %lld on "
				"tid %ld",
				top->name, v[i]->name, (long long)v[i]->ts,
				v[i]->tid);
		}
		stk[depth++] = v[i];
	}
	free(stk);
	free(v);
}

static int by_bind_id(const void *a, const void *b)
{
	const struct tev *x = *(const struct tev *const *)a;
	const struct tev *y = *(const struct tev *const *)b;
	return strcmp(x->bind_id, y->bind_id);
}

/* Every run's first segment has a flow_in whose bind_id is the future's
 * id; if its submission is in the trace, the submit slice has the same
 * bind_id with flow_out and starts no later than the run. Returns the
 * number of runs with a matching submission. */
size_t assert_runs_follow_submits(const struct trace *t)
{
	const struct tev **subs = calloc(t->n + 1, sizeof *subs);
	size_t ns = 0, linked = 0;
	for (size_t i = 0; i < t->n; i++) {
		const struct tev *s = &t->ev[i];
		if (s->ph == 'X' && s->flow_out) {
			REQUIRE(strcmp(s->name, "submit") == 0,
				"slice %s has flow_out", s->name);
			REQUIRE(s->bind_id, "a submit without bind_id");
			subs[ns++] = s;
		}
	}
	qsort(subs, ns, sizeof *subs, by_bind_id);
	for (size_t i = 1; i < ns; i++)
		REQUIRE(strcmp(subs[i - 1]->bind_id, subs[i]->bind_id) != 0,
			"two submits bind %s", subs[i]->bind_id);
	for (size_t i = 0; i < t->n; i++) {
		const struct tev *r = &t->ev[i];
		if (r->ph != 'X' || !r->flow_in)
			continue;
		REQUIRE(r->cat && strcmp(r->cat, "task") == 0,
			"slice %s of category %s has flow_in", r->name,
			r->cat ? r->cat : "(none)");
		char want[32];
		snprintf(want, sizeof want, "0x%llx",
			 (unsigned long long)jgetn(r->args, "id", 0));
		REQUIRE(r->bind_id && strcmp(r->bind_id, want) == 0,
			"run %s of %s binds %s", r->name, want,
			r->bind_id ? r->bind_id : "(none)");
		const struct tev **s = bsearch(&r, subs, ns, sizeof *subs,
					       by_bind_id);
		if (s) {
			REQUIRE((*s)->ts <= r->ts,
				"run %s of %s starts %lld ns before its submit",
				r->name, want, (long long)((*s)->ts - r->ts));
			linked++;
		}
	}
	free(subs);
	return linked;
}

/* ---- helpers ------------------------------------------------------------ */

char tmpdir[64];

void tmp_setup(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/spool-trace-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

void tmp_teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

const char *tmp(const char *name)
{
	static _Thread_local char buf[4][128];
	static _Thread_local int k;
	char *p = buf[k++ % 4];
	snprintf(p, 128, "%s/%s", tmpdir, name);
	return p;
}

long my_tid(void)
{
	return (long)syscall(SYS_gettid);
}

int ok_task(void *arg, void **result)
{
	*result = arg;
	return 0;
}

void submit_inline(int n, const char *label)
{
	for (int i = 0; i < n; i++) {
		spool_future *f = spool_submit_labeled(spool_executor_inline(),
						       ok_task, NULL, label);
		ck_assert_ptr_nonnull(f);
		spool_future_release(f);
	}
}

/* Whether thread tid sleeps in core's futex wait on a future's state word
 * (core/wait.c, sleep_until: FUTEX_WAIT_BITSET_PRIVATE with an expected
 * word that has WAITERS and a phase not final). */
static bool asleep_on_a_future(long tid)
{
	unsigned long op, expected;
	return spool_test_in_futex_wait(tid, &op, &expected, NULL) &&
	       op == FUTEX_WAIT_BITSET_PRIVATE && (expected & SPOOL__WAITERS) &&
	       !spool__phase_final(expected);
}

static bool waiter_blocked(const struct later *l)
{
	if (l->blocked_on)
		return atomic_load_explicit(&l->blocked_on->state,
					    memory_order_acquire) &
		       SPOOL__WAITERS;
	return asleep_on_a_future(l->tid);
}

static void *later_main(void *arg)
{
	struct later *l = arg;
	int64_t until = spool_test_now_ns() + 10 * SPOOL_NS_PER_S;
	while (!waiter_blocked(l)) {
		if (spool_test_now_ns() >= until) {
			fprintf(stderr, "the waiter was not seen blocked in "
					"10 s: completing its promise now\n");
			break;
		}
		spool_test_sleep_ns(50000); /* 50 us */
	}
	spool_test_sleep_ns(20 * SPOOL_NS_PER_MS);
	spool_promise_set_result(l->promise, NULL);
	return NULL;
}

void later_start(struct later *l)
{
	ck_assert_int_eq(pthread_create(&l->thread, NULL, later_main, l), 0);
}

void later_join(struct later *l)
{
	ck_assert_int_eq(pthread_join(l->thread, NULL), 0);
}
