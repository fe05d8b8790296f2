/* SPDX-License-Identifier: MIT */
/*
 * Suite "trace": every promise spool/trace.h makes, and the hook API of
 * src/trace/trace.h as the pool and the loop use it.
 *
 * Two tracers live in this program. The public calls (spool_trace_*) and
 * core's hooks (submit, task run, wait) use the library's. The internal
 * hook tests need to call the hooks themselves, which the shared library
 * does not export, so this file compiles the module's internal translation
 * units (buffer.c, clock.c, session.c, writer.c) into itself and drives
 * that copy with spool__trace_session_start/stop: the same code, reached
 * directly. (Linked against the static archive the two are one tracer,
 * which every test below also tolerates: each test uses one API only.)
 *
 * Every trace is checked by reading it with the project's strict JSON
 * reader (compare/trace/json.h), then by properties of the events: tracks and
 * their names, slices that nest on every track, every run inside or after its
 * submission, counts that match what the test did.
 */
#define SPOOL_TRACE_NO_ENVIRONMENT
#include "core/misuse.c"
#include "trace/buffer.c"
#include "trace/clock.c"
#include "trace/session.c"
#include "trace/writer.c"

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/executor_impl.h"
#include "core/future_impl.h"
#include "json.h"
#include "support.h"

/* In a static build the copy above is the library's tracer: start it from
 * the environment as the library's own constructor would have. The probe:
 * the public call names the thread in the library's tracer; if the copy's
 * thread-local name changed, the two are one. In the shared build the
 * library's constructor did the work already. */
__attribute__((constructor)) static void copy_from_environment(void)
{
	spool_trace_thread_name("probe");
	bool same = strcmp(my_name, "probe") == 0;
	my_name[0] = 0;
	if (same)
		spool__trace_from_environment();
}

/* ---- reading a trace ---------------------------------------------------- */

/* Traces are read with the project's strict pull reader (json.h, built
 * from compare/trace/json.c): anything RFC 8259 rejects fails it. The
 * reader walks the top object and the traceEvents array; each event is
 * read as one small tree of struct jv, distilled into a struct tev (its
 * strings and args taken out) and dropped, so only the free-form objects
 * the tests query by key (an event's args, the metadata) stay trees. */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
	enum jtype t;
	bool b;
	double num;
	char *str;        /* J_STR: decoded, NUL-terminated */
	struct jv *items; /* J_ARR, J_OBJ: n values */
	char **keys;      /* J_OBJ: n keys */
	size_t n;
};

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
	ck_assert_ptr_nonnull(a);
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

static const struct jv *jget(const struct jv *o, const char *key)
{
	if (!o || o->t != J_OBJ)
		return NULL;
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->keys[i], key) == 0)
			return &o->items[i];
	return NULL;
}

static const char *jgets(const struct jv *o, const char *key)
{
	const struct jv *v = jget(o, key);
	return v && v->t == J_STR ? v->str : NULL;
}

static double jgetn(const struct jv *o, const char *key, double dflt)
{
	const struct jv *v = jget(o, key);
	return v && v->t == J_NUM ? v->num : dflt;
}

static bool jgetb(const struct jv *o, const char *key)
{
	const struct jv *v = jget(o, key);
	return v && v->t == J_BOOL && v->b;
}

struct tev {
	char ph;
	char *name, *cat, *bind_id;
	long tid;
	int64_t ts, dur; /* ns */
	bool flow_in, flow_out;
	struct jv *args;
};

struct trace {
	struct tev *ev;
	size_t n;
	struct jv *meta;
};

static char *slurp(const char *path, size_t *len)
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

/* The process whose trace is read: 0 for this one. */
static long trace_pid;

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
	ck_assert_ptr_nonnull(ph);
	e->ph = ph[0];
	e->name = jtakes(&o, "name");
	ck_assert_ptr_nonnull(e->name);
	e->cat = jtakes(&o, "cat");
	e->bind_id = jtakes(&o, "bind_id");
	ck_assert_int_eq((long)jgetn(&o, "pid", -1),
			 trace_pid ? trace_pid : (long)getpid());
	e->tid = (long)jgetn(&o, "tid", -1);
	ck_assert_int_ge(e->tid, 0);
	if (e->ph != 'M') {
		ck_assert_ptr_nonnull(jget(&o, "ts"));
		e->ts = us_to_ns(jgetn(&o, "ts", 0));
	}
	if (e->ph == 'X') {
		ck_assert_ptr_nonnull(jget(&o, "dur"));
		e->dur = us_to_ns(jgetn(&o, "dur", 0));
		ck_assert_int_ge(e->dur, 0);
	}
	if (e->ph == 'i')
		ck_assert_str_eq(jgets(&o, "s"), "t");
	e->flow_in = jgetb(&o, "flow_in");
	e->flow_out = jgetb(&o, "flow_out");
	e->args = jtake(jget(&o, "args"));
	jfree(&o);
}

/* Parses path (failing the test unless it is strict JSON with the trace
 * shape) into t: an object whose first key is displayTimeUnit, with an
 * array traceEvents and a metadata value (the first of each name). */
static void load(struct trace *t, const char *path)
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

static void unload(struct trace *t)
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

static double meta_n(const struct trace *t, const char *key)
{
	const struct jv *v = jget(t->meta, key);
	ck_assert_msg(v && v->t == J_NUM, "metadata.%s missing", key);
	return v->num;
}

static double arg_n(const struct tev *e, const char *key)
{
	const struct jv *v = jget(e->args, key);
	ck_assert_msg(v && v->t == J_NUM, "%s: args.%s missing", e->name, key);
	return v->num;
}

/* The tid of the track named name, or -1. */
static long track(const struct trace *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->ev[i].ph == 'M' &&
		    strcmp(t->ev[i].name, "thread_name") == 0 &&
		    strcmp(jgets(t->ev[i].args, "name"), name) == 0)
			return t->ev[i].tid;
	return -1;
}

static size_t count(const struct trace *t, char ph, const char *name, long tid)
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
static const struct tev *nth(const struct trace *t, char ph, const char *name,
			     long tid, size_t k)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->ev[i].ph == ph && strcmp(t->ev[i].name, name) == 0 &&
		    (tid < 0 || t->ev[i].tid == tid) && k-- == 0)
			return &t->ev[i];
	return NULL;
}

static const struct tev *run_of(const struct trace *t, uint64_t id, int segment)
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

static bool contains(const struct tev *outer, const struct tev *in)
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
static void assert_slices_nest(const struct trace *t)
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
			ck_assert_msg(contains(top, v[i]),
				      "slice %s [%lld,+%lld] overlaps %s "
				      "[%lld,+%lld] on tid %ld",
				      v[i]->name, (long long)v[i]->ts,
				      (long long)v[i]->dur, top->name,
				      (long long)top->ts, (long long)top->dur,
				      v[i]->tid);
			ck_assert_msg(top->ts < v[i]->ts,
				      "slices %s and %s start together",
				      top->name, v[i]->name);
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
static size_t assert_runs_follow_submits(const struct trace *t)
{
	const struct tev **subs = calloc(t->n + 1, sizeof *subs);
	size_t ns = 0, linked = 0;
	for (size_t i = 0; i < t->n; i++) {
		const struct tev *s = &t->ev[i];
		if (s->ph == 'X' && s->flow_out) {
			ck_assert_str_eq(s->name, "submit");
			ck_assert_ptr_nonnull(s->bind_id);
			subs[ns++] = s;
		}
	}
	qsort(subs, ns, sizeof *subs, by_bind_id);
	for (size_t i = 1; i < ns; i++)
		ck_assert_str_ne(subs[i - 1]->bind_id, subs[i]->bind_id);
	for (size_t i = 0; i < t->n; i++) {
		const struct tev *r = &t->ev[i];
		if (r->ph != 'X' || !r->flow_in)
			continue;
		ck_assert_str_eq(r->cat, "task");
		char want[32];
		snprintf(want, sizeof want, "0x%llx",
			 (unsigned long long)jgetn(r->args, "id", 0));
		ck_assert_str_eq(r->bind_id, want);
		const struct tev **s = bsearch(&r, subs, ns, sizeof *subs,
					       by_bind_id);
		if (s) {
			ck_assert_int_le((*s)->ts, r->ts);
			linked++;
		}
	}
	free(subs);
	return linked;
}

/* ---- helpers ------------------------------------------------------------ */

static char tmpdir[64];

static void tmp_setup(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/spool-trace-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void tmp_teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static const char *tmp(const char *name)
{
	static _Thread_local char buf[4][128];
	static _Thread_local int k;
	char *p = buf[k++ % 4];
	snprintf(p, 128, "%s/%s", tmpdir, name);
	return p;
}

static bool file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static long my_tid(void)
{
	return (long)syscall(SYS_gettid);
}

static int ok_task(void *arg, void **result)
{
	*result = arg;
	return 0;
}

static int failing_task(void *arg, void **result)
{
	(void)arg;
	(void)result;
	return 7;
}

static void submit_inline(int n, const char *label)
{
	for (int i = 0; i < n; i++) {
		spool_future *f = spool_submit_labeled(spool_executor_inline(),
						       ok_task, NULL, label);
		ck_assert_ptr_nonnull(f);
		spool_future_release(f);
	}
}

/* Runs fn with stderr sent to a file; returns what was printed. */
static char *capture_stderr(void (*fn)(void *), void *arg)
{
	const char *path = tmp("stderr.txt");
	fflush(stderr);
	int saved = dup(2);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	dup2(fd, 2);
	close(fd);
	fn(arg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	size_t len;
	return slurp(path, &len);
}

/* ---- public API: sessions ----------------------------------------------- */

START_TEST(stop_without_start_is_a_harmless_noop)
{
	ck_assert(!spool_trace_enabled());
	ck_assert_int_eq(spool_trace_stop(), 0);
	ck_assert_int_eq(spool_trace_stop(), 0);
	spool_trace_stats st;
	ck_assert_int_eq(spool_trace_stats_get(&st), 0);
	ck_assert_int_eq(st.sessions, 0);
	ck_assert_int_eq(st.events, 0);
	/* And a session still starts and stops normally afterwards. */
	ck_assert_int_eq(spool_trace_start(tmp("a.json")), 0);
	ck_assert_int_eq(spool_trace_stop(), 0);
	ck_assert_int_eq(spool_trace_stop(), 0);
	ck_assert_int_eq(spool_trace_stats_get(&st), 0);
	ck_assert_int_eq(st.sessions, 1);
}
END_TEST

START_TEST(bad_path_is_esys_and_bad_arguments_are_einval)
{
	ck_assert_int_eq(spool_trace_start(tmp("no/such/dir/t.json")),
			 SPOOL_ESYS);
	ck_assert(!spool_trace_enabled());
	ck_assert_int_eq(spool_trace_start(tmpdir), SPOOL_ESYS); /* a dir */
	ck_assert(!spool_trace_enabled());
	ck_assert_int_eq(spool_trace_start(NULL), SPOOL_EINVAL);
	ck_assert_int_eq(spool_trace_start(""), SPOOL_EINVAL);
	spool_trace_options o = SPOOL_TRACE_OPTIONS_INIT;
	o.events_per_thread = (size_t)1 << 40;
	ck_assert_int_eq(spool_trace_start_opts(tmp("b.json"), &o),
			 SPOOL_EINVAL);
	ck_assert(!file_exists(tmp("b.json")));
	ck_assert(!spool_trace_enabled());
	ck_assert_int_eq(spool_trace_stats_get(NULL), SPOOL_EINVAL);
	ck_assert_int_eq(spool_trace_thread_name(NULL), SPOOL_EINVAL);
	ck_assert_int_eq(spool_trace_thread_name(""), SPOOL_EINVAL);
	/* Nothing was recorded by the failed starts. */
	submit_inline(3, "x");
	ck_assert_int_eq(spool_trace_stop(), 0);
	spool_trace_stats st;
	spool_trace_stats_get(&st);
	ck_assert_int_eq(st.sessions, 0);
}
END_TEST

START_TEST(start_while_recording_is_estate_and_keeps_the_session)
{
	ck_assert_int_eq(spool_trace_start(tmp("first.json")), 0);
	ck_assert(spool_trace_enabled());
	ck_assert_int_eq(spool_trace_start(tmp("second.json")), SPOOL_ESTATE);
	ck_assert(!file_exists(tmp("second.json")));
	ck_assert(spool_trace_enabled());
	submit_inline(2, "kept");
	ck_assert_int_eq(spool_trace_stop(), 0);
	ck_assert(!spool_trace_enabled());
	struct trace t;
	load(&t, tmp("first.json"));
	ck_assert_int_eq(count(&t, 'X', "kept", -1), 2);
	unload(&t);
}
END_TEST

START_TEST(start_stop_start_again_records_each_session_in_its_own_file)
{
	submit_inline(1, "before");
	ck_assert_int_eq(spool_trace_start(tmp("s1.json")), 0);
	submit_inline(3, "one");
	ck_assert_int_eq(spool_trace_stop(), 0);
	submit_inline(1, "between");
	ck_assert_int_eq(spool_trace_start(tmp("s2.json")), 0);
	submit_inline(5, "two");
	ck_assert_int_eq(spool_trace_stop(), 0);
	submit_inline(1, "after");

	struct trace a, b;
	load(&a, tmp("s1.json"));
	load(&b, tmp("s2.json"));
	ck_assert_int_eq(count(&a, 'X', "one", -1), 3);
	ck_assert_int_eq(count(&a, 'X', "two", -1), 0);
	ck_assert_int_eq(count(&b, 'X', "two", -1), 5);
	ck_assert_int_eq(count(&b, 'X', "one", -1), 0);
	const char *outside[] = {"before", "between", "after"};
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(count(&a, 'X', outside[i], -1), 0);
		ck_assert_int_eq(count(&b, 'X', outside[i], -1), 0);
	}
	/* Each session's events: 1 submit + 2 run records per task. */
	ck_assert_int_eq((int)meta_n(&a, "events"), 3 * 3);
	ck_assert_int_eq((int)meta_n(&b, "events"), 5 * 3);
	spool_trace_stats st;
	spool_trace_stats_get(&st);
	ck_assert_int_eq(st.sessions, 2);
	ck_assert_int_eq(st.events, 15);
	ck_assert_int_eq(st.threads, 1);
	ck_assert_int_eq(st.dropped, 0);
	unload(&a);
	unload(&b);
}
END_TEST

START_TEST(stop_reports_esys_when_the_file_cannot_be_written)
{
	/* /dev/full opens, then every write fails with ENOSPC. */
	ck_assert_int_eq(spool_trace_start("/dev/full"), 0);
	submit_inline(3, "lost");
	ck_assert_int_eq(spool_trace_stop(), SPOOL_ESYS);
	ck_assert(!spool_trace_enabled()); /* the session is over anyway */
	ck_assert_int_eq(spool_trace_start(tmp("after.json")), 0);
	ck_assert_int_eq(spool_trace_stop(), 0);
}
END_TEST

START_TEST(thread_name_renames_the_track_mid_session_and_keeps_31_bytes)
{
	ck_assert_int_eq(spool_trace_start(tmp("rename.json")), 0);
	submit_inline(1, "x");
	ck_assert_int_eq(
		spool_trace_thread_name("a name much longer than thirty-one "
					"bytes"),
		0);
	ck_assert_int_eq(spool_trace_stop(), 0);
	struct trace t;
	load(&t, tmp("rename.json"));
	ck_assert_int_eq(track(&t, "a name much longer than thirty-"),
			 my_tid());
	ck_assert_int_eq(count(&t, 'M', "thread_name", my_tid()), 1);
	unload(&t);
}
END_TEST

START_TEST(enabled_reflects_start_and_stop)
{
	ck_assert(!spool_trace_enabled());
	ck_assert_int_eq(spool_trace_start(tmp("e.json")), 0);
	ck_assert(spool_trace_enabled());
	ck_assert_int_eq(spool_trace_stop(), 0);
	ck_assert(!spool_trace_enabled());
}
END_TEST

/* ---- public API: what a trace contains ---------------------------------- */

START_TEST(inline_runs_nest_in_their_submits_with_labels_results_and_flows)
{
	ck_assert_int_eq(spool_trace_thread_name("main thread"), 0);
	ck_assert_int_eq(spool_trace_start(tmp("inline.json")), 0);
	uint64_t ids[6];
	for (int i = 0; i < 6; i++) {
		spool_future *f = spool_submit_labeled(
			spool_executor_inline(), i % 2 ? failing_task : ok_task,
			NULL, i % 2 ? "bad" : "good");
		ids[i] = spool_future_id(f);
		spool_future_release(f);
	}
	spool_future *f = spool_submit(spool_executor_inline(), ok_task, NULL);
	uint64_t unlabeled = spool_future_id(f);
	spool_future_release(f);
	ck_assert_int_eq(spool_trace_stop(), 0);

	struct trace t;
	load(&t, tmp("inline.json"));
	long me = track(&t, "main thread");
	ck_assert_int_eq(me, my_tid());
	ck_assert_int_eq(count(&t, 'M', "process_name", -1), 1);
	ck_assert_int_eq(count(&t, 'X', "good", me), 3);
	ck_assert_int_eq(count(&t, 'X', "bad", me), 3);
	ck_assert_int_eq(count(&t, 'X', "submit", me), 7);
	for (int i = 0; i < 6; i++) {
		const struct tev *r = run_of(&t, ids[i], 0);
		ck_assert_ptr_nonnull(r);
		ck_assert_str_eq(r->name, i % 2 ? "bad" : "good");
		ck_assert_int_eq((int)arg_n(r, "rc"), i % 2 ? 7 : 0);
		ck_assert(r->flow_in);
	}
	const struct tev *u = run_of(&t, unlabeled, 0);
	ck_assert_ptr_nonnull(u);
	ck_assert_str_eq(u->name, "task");
	/* The inline executor runs the task inside spool_submit(). */
	for (size_t i = 0; i < t.n; i++) {
		const struct tev *s = &t.ev[i];
		if (s->ph != 'X' || strcmp(s->name, "submit") != 0)
			continue;
		const struct tev *r = run_of(&t, (uint64_t)arg_n(s, "id"), 0);
		ck_assert(contains(s, r) && s->ts < r->ts);
	}
	ck_assert_int_eq(assert_runs_follow_submits(&t), 7);
	assert_slices_nest(&t);
	ck_assert_int_eq((int)meta_n(&t, "threads"), 1);
	ck_assert_int_eq((int)meta_n(&t, "dropped_events"), 0);
	ck_assert_int_eq((int)meta_n(&t, "unmatched_ends"), 0);
	unload(&t);
}
END_TEST

/* A small executor of the test's own: submissions go to a queue served by
 * plain threads that run each task with spool_run_task(), so core's hooks
 * record the submit on one thread and the run on another, as a pool's
 * would. */
enum { QCAP = 4096, QWORKERS = 3 };
struct qexec {
	spool_executor ex;
	pthread_mutex_t m;
	pthread_cond_t c;
	struct {
		spool_future *f;
		spool_task_fn fn;
		void *arg;
	} q[QCAP];
	size_t head, tail;
	bool stop;
	pthread_t th[QWORKERS];
	int next_index;
};

static spool_future *q_submit(spool_executor *ex, spool_task_fn fn, void *arg,
			      const char *label)
{
	struct qexec *q = (struct qexec *)ex;
	spool_future *f = spool_promise_new();
	f->label = label;
	pthread_mutex_lock(&q->m);
	ck_assert_int_lt(q->tail - q->head, QCAP);
	q->q[q->tail % QCAP].f = spool_future_retain(f);
	q->q[q->tail % QCAP].fn = fn;
	q->q[q->tail % QCAP].arg = arg;
	q->tail++;
	pthread_cond_signal(&q->c);
	pthread_mutex_unlock(&q->m);
	return f;
}

static const struct spool__executor_ops q_ops = {"test-queue", q_submit};

static void *q_worker(void *arg)
{
	struct qexec *q = arg;
	pthread_mutex_lock(&q->m);
	char name[32];
	snprintf(name, sizeof name, "queue worker %d", q->next_index++);
	pthread_mutex_unlock(&q->m);
	spool_trace_thread_name(name);
	for (;;) {
		pthread_mutex_lock(&q->m);
		while (q->head == q->tail && !q->stop)
			pthread_cond_wait(&q->c, &q->m);
		if (q->head == q->tail) {
			pthread_mutex_unlock(&q->m);
			return NULL;
		}
		spool_future *f = q->q[q->head % QCAP].f;
		spool_task_fn fn = q->q[q->head % QCAP].fn;
		void *a = q->q[q->head % QCAP].arg;
		q->head++;
		pthread_mutex_unlock(&q->m);
		spool_run_task(f, fn, a);
		spool_future_release(f);
	}
}

static struct qexec *q_start(void)
{
	struct qexec *q = calloc(1, sizeof *q);
	q->ex.ops = &q_ops;
	pthread_mutex_init(&q->m, NULL);
	pthread_cond_init(&q->c, NULL);
	for (int i = 0; i < QWORKERS; i++)
		pthread_create(&q->th[i], NULL, q_worker, q);
	return q;
}

static void q_stop(struct qexec *q)
{
	pthread_mutex_lock(&q->m);
	q->stop = true;
	pthread_cond_broadcast(&q->c);
	pthread_mutex_unlock(&q->m);
	for (int i = 0; i < QWORKERS; i++)
		pthread_join(q->th[i], NULL);
	pthread_mutex_destroy(&q->m);
	pthread_cond_destroy(&q->c);
	free(q);
}

static int spin_task(void *arg, void **result)
{
	(void)arg;
	volatile int x = 0;
	for (int i = 0; i < 2000; i++)
		x += i;
	*result = NULL;
	return 0;
}

START_TEST(runs_on_other_threads_follow_their_submits_one_track_each)
{
	enum { N = 300 };
	struct qexec *q = q_start();
	spool_trace_thread_name("submitter");
	ck_assert_int_eq(spool_trace_start(tmp("queue.json")), 0);
	spool_future *fs[N];
	for (int i = 0; i < N; i++)
		fs[i] = spool_submit_labeled(&q->ex, spin_task, NULL, "spin");
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(spool_future_wait(fs[i], SPOOL_FOREVER), 0);
		ck_assert_int_eq(spool_future_error(fs[i]), 0);
	}
	ck_assert_int_eq(spool_trace_stop(), 0);
	q_stop(q);

	struct trace t;
	load(&t, tmp("queue.json"));
	long sub = track(&t, "submitter");
	ck_assert_int_eq(sub, my_tid());
	ck_assert_int_eq(count(&t, 'X', "submit", sub), N);
	ck_assert_int_eq(count(&t, 'X', "spin", sub), 0);
	size_t runs = 0;
	for (int i = 0; i < QWORKERS; i++) {
		char name[32];
		snprintf(name, sizeof name, "queue worker %d", i);
		long tid = track(&t, name);
		/* A worker that ran nothing recorded nothing: no track. */
		if (tid >= 0) {
			ck_assert_int_ne(tid, sub);
			runs += count(&t, 'X', "spin", tid);
		}
	}
	ck_assert_int_eq(runs, N);
	for (int i = 0; i < N; i++) {
		const struct tev *r = run_of(&t, spool_future_id(fs[i]), 0);
		ck_assert_ptr_nonnull(r);
		ck_assert_int_ne(r->tid, sub);
		ck_assert_int_eq((int)arg_n(r, "rc"), 0);
		spool_future_release(fs[i]);
	}
	ck_assert_int_eq(assert_runs_follow_submits(&t), N);
	assert_slices_nest(&t);
	unload(&t);
}
END_TEST

static void *complete_later(void *arg)
{
	spool_test_sleep_ns(20 * SPOOL_NS_PER_MS);
	spool_promise_set_result(arg, NULL);
	return NULL;
}

START_TEST(a_blocking_wait_is_a_wait_slice_named_after_the_awaited_label)
{
	spool_future *p = spool_promise_new();
	p->label = "gather"; /* as a combinator labels its internal future */
	spool_future *q = spool_promise_new();
	ck_assert_int_eq(spool_trace_start(tmp("wait.json")), 0);
	pthread_t th;
	pthread_create(&th, NULL, complete_later, p);
	ck_assert_int_eq(spool_future_wait(p, SPOOL_FOREVER), 0);
	ck_assert_int_eq(spool_future_wait(q, SPOOL_NS_PER_MS),
			 SPOOL_ETIMEDOUT);
	ck_assert_int_eq(spool_future_wait(p, SPOOL_FOREVER), 0); /* done */
	pthread_join(th, NULL);
	ck_assert_int_eq(spool_trace_stop(), 0);

	struct trace t;
	load(&t, tmp("wait.json"));
	long me = my_tid();
	ck_assert_int_eq(count(&t, 'X', "wait: gather", me), 1);
	ck_assert_int_eq(count(&t, 'X', "wait", me), 1);
	const struct tev *w = nth(&t, 'X', "wait: gather", me, 0);
	ck_assert_int_eq((uint64_t)arg_n(w, "on"), spool_future_id(p));
	ck_assert_int_eq((int)arg_n(w, "rc"), 0);
	ck_assert_int_ge(w->dur, 5 * SPOOL_NS_PER_MS);
	const struct tev *w2 = nth(&t, 'X', "wait", me, 0);
	ck_assert_int_eq((uint64_t)arg_n(w2, "on"), spool_future_id(q));
	ck_assert_int_eq((int)arg_n(w2, "rc"), SPOOL_ETIMEDOUT);
	assert_slices_nest(&t);
	unload(&t);
	spool_future_release(p);
	spool_future_release(q);
}
END_TEST

START_TEST(labels_with_quotes_controls_and_bad_utf8_stay_valid_json)
{
	static const char nasty[] = "q\"b\\s/\n\t\x01 caf\xc3\xa9 \xff\xc3";
	ck_assert_int_eq(spool_trace_thread_name("name \"quoted\"\n"), 0);
	ck_assert_int_eq(spool_trace_start(tmp("nasty.json")), 0);
	submit_inline(1, nasty);
	ck_assert_int_eq(spool_trace_stop(), 0);
	struct trace t;
	load(&t, tmp("nasty.json"));
	ck_assert_int_eq(track(&t, "name \"quoted\"\n"), my_tid());
	/* Valid characters survive; invalid bytes become U+FFFD. */
	ck_assert_int_eq(
		count(&t, 'X',
		      "q\"b\\s/\n\t\x01 caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd",
		      -1),
		1);
	unload(&t);
}
END_TEST

START_TEST(tracing_off_records_nothing)
{
	submit_inline(10, "off");
	ck_assert_int_eq(spool_trace_start(tmp("off.json")), 0);
	ck_assert_int_eq(spool_trace_stop(), 0);
	submit_inline(10, "off");
	struct trace t;
	load(&t, tmp("off.json"));
	ck_assert_int_eq(count(&t, 'X', NULL, -1), 0);
	ck_assert_int_eq((int)meta_n(&t, "events"), 0);
	ck_assert_int_eq((int)meta_n(&t, "threads"), 0);
	unload(&t);
}
END_TEST

START_TEST(monotonic_clock_option_gives_the_same_trace)
{
	spool_trace_options o = SPOOL_TRACE_OPTIONS_INIT;
	o.monotonic_clock = true;
	ck_assert_int_eq(spool_trace_start_opts(tmp("mono.json"), &o), 0);
	submit_inline(4, "mono");
	ck_assert_int_eq(spool_trace_stop(), 0);
	struct trace t;
	load(&t, tmp("mono.json"));
	ck_assert_str_eq(jgets(t.meta, "clock"), "monotonic");
	ck_assert_int_eq(count(&t, 'X', "mono", -1), 4);
	ck_assert_int_eq(assert_runs_follow_submits(&t), 4);
	assert_slices_nest(&t);
	unload(&t);
}
END_TEST

/* ---- public API: bounded buffers ---------------------------------------- */

static void overflow_session(void *arg)
{
	spool_trace_options o = SPOOL_TRACE_OPTIONS_INIT;
	/* 9 tasks of 3 records each, then the 10th run's begin. */
	o.events_per_thread = 28;
	ck_assert_int_eq(spool_trace_start_opts(tmp("full.json"), &o), 0);
	uint64_t *ids = arg;
	for (int i = 0; i < 25; i++) {
		spool_future *f = spool_submit_labeled(spool_executor_inline(),
						       ok_task, NULL, "fill");
		ids[i] = spool_future_id(f);
		spool_future_release(f);
	}
	ck_assert_int_eq(spool_trace_stop(), 0);
}

START_TEST(a_full_buffer_drops_the_newest_events_and_reports_how_many)
{
	ck_assert_int_eq(spool_trace_thread_name("filler"), 0);
	uint64_t ids[25];
	char *err = capture_stderr(overflow_session, ids);
	/* stderr names the thread and the count. */
	ck_assert_msg(strstr(err, "\"filler\"") && strstr(err, "dropped 47"),
		      "stderr was: %s", err);
	free(err);
	spool_trace_stats st;
	spool_trace_stats_get(&st);
	ck_assert_int_eq(st.events, 28);
	ck_assert_int_eq(st.dropped, 25 * 3 - 28);

	struct trace t;
	load(&t, tmp("full.json"));
	ck_assert_int_eq((int)meta_n(&t, "dropped_events"), 47);
	ck_assert_int_eq((int)meta_n(&t, "events"), 28);
	const struct jv *by = jget(t.meta, "dropped_by_thread");
	ck_assert(by && by->t == J_ARR && by->n == 1);
	ck_assert_str_eq(jgets(&by->items[0], "name"), "filler");
	ck_assert_int_eq((int)jgetn(&by->items[0], "dropped", 0), 47);
	/* The oldest nine tasks are there whole; the tenth's run lost its
	 * end, so it is closed at the last event and marked truncated; the
	 * newest fifteen are not there. */
	for (int i = 0; i < 25; i++) {
		const struct tev *r = run_of(&t, ids[i], 0);
		ck_assert_msg((r != NULL) == (i < 10), "task %d", i);
		if (r && i < 9)
			ck_assert_int_eq((int)arg_n(r, "rc"), 0);
		if (r && i == 9)
			ck_assert(jgetb(r->args, "truncated") &&
				  !jget(r->args, "rc"));
	}
	const struct tev *d = nth(&t, 'i', "events dropped", my_tid(), 0);
	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq((int)arg_n(d, "dropped"), 47);
	ck_assert_int_eq((int)arg_n(d, "capacity"), 28);
	assert_slices_nest(&t);
	unload(&t);
}
END_TEST

/* ---- public API: threads that come and go, and a racing stop ------------ */

static void *short_lived(void *arg)
{
	char name[32];
	snprintf(name, sizeof name, "short %d", (int)(intptr_t)arg);
	spool_trace_thread_name(name);
	submit_inline(5, "short");
	return NULL;
}

START_TEST(threads_that_exit_before_stop_keep_their_events)
{
	enum { T = 6 };
	ck_assert_int_eq(spool_trace_start(tmp("exit.json")), 0);
	for (int i = 0; i < T; i++) {
		pthread_t th;
		pthread_create(&th, NULL, short_lived, (void *)(intptr_t)i);
		pthread_join(th, NULL);
	}
	ck_assert_int_eq(spool_trace_stop(), 0);
	struct trace t;
	load(&t, tmp("exit.json"));
	for (int i = 0; i < T; i++) {
		char name[32];
		snprintf(name, sizeof name, "short %d", i);
		long tid = track(&t, name);
		ck_assert_int_ge(tid, 0);
		ck_assert_int_eq(count(&t, 'X', "short", tid), 5);
	}
	ck_assert_int_eq((int)meta_n(&t, "threads"), T);
	unload(&t);
}
END_TEST

struct hammer {
	atomic_bool stop;
	atomic_long tasks;
};

static void *hammer_thread(void *arg)
{
	struct hammer *h = arg;
	spool_trace_thread_name("hammer");
	while (!atomic_load(&h->stop)) {
		spool_future *f = spool_submit_labeled(spool_executor_inline(),
						       ok_task, NULL, "h");
		spool_future_wait(f, SPOOL_FOREVER);
		spool_future_release(f);
		if (atomic_fetch_add(&h->tasks, 1) % 64 == 0)
			sched_yield(); /* 2 cores: let the stopper run */
	}
	return NULL;
}

static void *hammer_spawner(void *arg)
{
	struct hammer *h = arg;
	while (!atomic_load(&h->stop)) {
		pthread_t th;
		pthread_create(&th, NULL, short_lived, (void *)(intptr_t)99);
		pthread_join(th, NULL);
	}
	return NULL;
}

START_TEST(stop_while_threads_record_is_safe_and_every_file_is_valid)
{
	enum { T = 4, SESSIONS = 12 };
	struct hammer h = {false, 0};
	pthread_t th[T + 1];
	for (int i = 0; i < T; i++)
		pthread_create(&th[i], NULL, hammer_thread, &h);
	pthread_create(&th[T], NULL, hammer_spawner, &h);
	spool_trace_options o = SPOOL_TRACE_OPTIONS_INIT;
	o.events_per_thread = 4096; /* small, so some sessions overflow */
	for (int s = 0; s < SESSIONS; s++) {
		char name[32];
		snprintf(name, sizeof name, "race%d.json", s);
		ck_assert_int_eq(spool_trace_start_opts(tmp(name), &o), 0);
		long before = atomic_load(&h.tasks);
		while (atomic_load(&h.tasks) < before + 50)
			spool_test_sleep_ns(100000);
		ck_assert_int_eq(spool_trace_stop(), 0);
		spool_trace_stats st;
		spool_trace_stats_get(&st);
		ck_assert_int_eq(st.sessions, s + 1);
		ck_assert_int_gt(st.events, 0);
	}
	atomic_store(&h.stop, true);
	for (int i = 0; i <= T; i++)
		pthread_join(th[i], NULL);
	for (int s = 0; s < SESSIONS; s++) {
		char name[32];
		snprintf(name, sizeof name, "race%d.json", s);
		struct trace t;
		load(&t, tmp(name));
		ck_assert_int_gt(count(&t, 'X', "h", -1), 0);
		assert_slices_nest(&t);
		assert_runs_follow_submits(&t);
		unload(&t);
	}
}
END_TEST

/* ---- SPOOL_TRACE -------------------------------------------------------- */

static int env_child(void)
{
	/* No ck_assert here: this runs outside the test runner. */
	spool_trace_thread_name("env child");
	for (int i = 0; i < 4; i++)
		spool_future_release(spool_submit_labeled(
			spool_executor_inline(), ok_task, NULL, "from env"));
	return 0; /* the trace is written at exit */
}

/* Runs this program again with SPOOL_TRACE=value; returns its stderr and
 * sets trace_pid to the child's pid. */
static char *run_env_child(const char *value, const char *events)
{
	char self[512];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	ck_assert_int_gt(n, 0);
	self[n] = 0;
	const char *errpath = tmp("child-stderr.txt");
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 2);
		setenv("SPOOL_TRACE", value, 1);
		if (events)
			setenv("SPOOL_TRACE_EVENTS", events, 1);
		execl(self, self, "--env-child", (char *)NULL);
		_exit(127);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	trace_pid = pid;
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	size_t len;
	return slurp(errpath, &len);
}

START_TEST(environment_variable_traces_the_program_into_the_file_at_exit)
{
	const char *path = tmp("env.json");
	free(run_env_child(path, NULL));
	struct trace t;
	load(&t, path);
	long tid = track(&t, "env child");
	ck_assert_int_ge(tid, 0);
	ck_assert_int_eq(count(&t, 'X', "from env", tid), 4);
	ck_assert_int_eq(assert_runs_follow_submits(&t), 4);
	unload(&t);
}
END_TEST

START_TEST(environment_buffer_size_bounds_each_thread)
{
	const char *path = tmp("env-small.json");
	char *err = run_env_child(path, "6"); /* 4 tasks of 3 records */
	ck_assert_msg(strstr(err, "\"env child\"") && strstr(err, "dropped 6"),
		      "stderr was: %s", err);
	free(err);
	struct trace t;
	load(&t, path);
	ck_assert_int_eq((int)meta_n(&t, "events"), 6);
	ck_assert_int_eq((int)meta_n(&t, "dropped_events"), 6);
	unload(&t);

	err = run_env_child(path, "lots");
	ck_assert_msg(strstr(err, "SPOOL_TRACE_EVENTS=lots"), "stderr: %s",
		      err);
	free(err);
	load(&t, path); /* traced anyway, with the default size */
	ck_assert_int_eq((int)meta_n(&t, "events"), 12);
	ck_assert_int_eq((int)meta_n(&t, "dropped_events"), 0);
	unload(&t);
}
END_TEST

START_TEST(environment_variable_with_a_bad_path_says_so_and_runs_untraced)
{
	char *err = run_env_child(tmp("missing/dir/env.json"), NULL);
	ck_assert_msg(strstr(err, "SPOOL_TRACE") && strstr(err, "cannot trace"),
		      "stderr was: %s", err);
	free(err);
	ck_assert(!file_exists(tmp("missing/dir/env.json")));
}
END_TEST

/* ---- the pool's hooks, through the public API --------------------------- */

struct fib {
	spool_executor *ex;
	int n;
	long value;
};

static int fib_task(void *arg, void **result)
{
	struct fib *a = arg;
	(void)result;
	if (a->n < 2) {
		a->value = a->n;
		return 0;
	}
	struct fib l = {a->ex, a->n - 1, 0}, r = {a->ex, a->n - 2, 0};
	spool_future *fl = spool_submit_labeled(a->ex, fib_task, &l, "fib");
	spool_future *fr = spool_submit_labeled(a->ex, fib_task, &r, "fib");
	int rc = spool_future_wait(fl, SPOOL_FOREVER);
	if (rc == 0)
		rc = spool_future_wait(fr, SPOOL_FOREVER);
	spool_future_release(fl);
	spool_future_release(fr);
	a->value = l.value + r.value;
	return rc;
}

START_TEST(pool_fork_join_on_2_workers_matches_the_pool_stats)
{
	enum { N = 13, TASKS = 753 }; /* fib(13) = 233; calls: 2 fib(14)-1 */
	ck_assert_int_eq(spool_trace_start(tmp("pool.json")), 0);
	spool_pool *p;
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = 2;
	ck_assert_int_eq(spool_pool_create(&p, &o), 0);
	struct fib root = {spool_pool_executor(p), N, 0};
	spool_future *f = spool_submit_labeled(root.ex, fib_task, &root, "fib");
	ck_assert_int_eq(spool_future_wait(f, SPOOL_FOREVER), 0);
	ck_assert_int_eq(spool_future_error(f), 0);
	ck_assert_int_eq(root.value, 233);
	spool_future_release(f);
	/* After a waiting shutdown the counters are exact and the workers
	 * park no more; they exit, so their buffers are written at stop. */
	ck_assert_int_eq(spool_pool_shutdown(p, SPOOL_SHUTDOWN_WAIT), 0);
	spool_pool_stats st;
	ck_assert_int_eq(spool_pool_stats_get(p, &st), 0);
	spool_pool_destroy(p);
	ck_assert_int_eq(spool_trace_stop(), 0);

	struct trace t;
	load(&t, tmp("pool.json"));
	/* A worker that never ran, stole or parked has no track. */
	long w[2] = {track(&t, "worker 0"), track(&t, "worker 1")};
	ck_assert(w[0] >= 0 || w[1] >= 0);
	size_t on_workers = 0, steals = 0;
	for (int i = 0; i < 2; i++) {
		if (w[i] < 0)
			continue;
		ck_assert_int_ne(w[i], my_tid());
		on_workers += count(&t, 'X', "fib", w[i]);
		steals += count(&t, 'i', "steal", w[i]);
	}
	ck_assert_int_eq(st.tasks_run, TASKS);
	ck_assert_int_eq(count(&t, 'X', "fib", -1), st.tasks_run);
	ck_assert_int_eq(on_workers, st.tasks_run);
	ck_assert_int_eq(count(&t, 'i', "steal", -1), st.steals);
	ck_assert_int_eq(steals, st.steals);
	ck_assert_int_eq(count(&t, 'X', "park", -1), st.parks);
	ck_assert_int_eq(count(&t, 'i', "wake", -1), st.wakeups);
	/* Each fork is a submit inside a run, and its run follows it. */
	ck_assert_int_eq(count(&t, 'X', "submit", -1), TASKS);
	ck_assert_int_eq(assert_runs_follow_submits(&t), TASKS);
	/* Joins that found the child unfinished are waits, in which the
	 * worker helps: every wait on a worker lies inside a fib run. */
	for (size_t i = 0; i < t.n; i++) {
		const struct tev *wt = &t.ev[i];
		if (wt->ph != 'X' || strcmp(wt->name, "wait") != 0 ||
		    wt->tid == my_tid())
			continue;
		bool inside = false;
		for (size_t j = 0; j < t.n && !inside; j++)
			inside = t.ev[j].ph == 'X' &&
				 strcmp(t.ev[j].name, "fib") == 0 &&
				 t.ev[j].tid == wt->tid &&
				 contains(&t.ev[j], wt) && t.ev[j].ts < wt->ts;
		ck_assert_msg(inside, "a worker's wait outside any task");
	}
	assert_slices_nest(&t);
	ck_assert_int_eq((int)meta_n(&t, "unmatched_ends"), 0);
	ck_assert_int_eq((int)meta_n(&t, "dropped_events"), 0);
	unload(&t);
}
END_TEST

/* Reused clock reads (src/trace/trace.h): a worker's run that follows
 * another, and a wait's end, may take the thread's previous stamp, but
 * never across time the worker spent on something else. */

struct pa {
	spool_executor *ex;
	spool_future *a, *b;
};

static void slow_callback(spool_future *f, void *arg)
{
	(void)f;
	(void)arg;
	spool_test_sleep_ns(20 * SPOOL_NS_PER_MS);
}

/* On the pool's only worker: queues b, then a (popped first), and gives a
 * a slow done-callback, which runs on the worker between a and b. */
static int parent_of_two(void *arg, void **result)
{
	struct pa *x = arg;
	(void)result;
	x->b = spool_submit_labeled(x->ex, ok_task, NULL, "b");
	x->a = spool_submit_labeled(x->ex, ok_task, NULL, "a");
	return spool_future_add_callback(x->a, slow_callback, NULL);
}

static int wait_on_promise(void *arg, void **result)
{
	(void)result;
	return spool_future_wait(arg, SPOOL_FOREVER);
}

START_TEST(reused_stamps_never_skip_callbacks_or_blocked_waits)
{
	ck_assert_int_eq(spool_trace_start(tmp("reuse.json")), 0);
	spool_pool *p;
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = 1;
	ck_assert_int_eq(spool_pool_create(&p, &o), 0);
	spool_executor *ex = spool_pool_executor(p);

	/* 1. a's callback sleeps 20 ms on the worker before b is popped. */
	struct pa x = {ex, NULL, NULL};
	spool_future *parent = spool_submit_labeled(ex, parent_of_two, &x,
						    "parent");
	ck_assert_int_eq(spool_future_wait(parent, SPOOL_FOREVER), 0);
	ck_assert_int_eq(spool_future_error(parent), 0);
	ck_assert_int_eq(spool_future_wait(x.b, SPOOL_FOREVER), 0);

	/* 2. A task's helping wait that ends 20 ms later, after the worker
	 * found nothing to help with and blocked. */
	spool_future *pr = spool_promise_new();
	pr->label = "promise";
	spool_future *w = spool_submit_labeled(ex, wait_on_promise, pr,
					       "waiter");
	pthread_t th;
	pthread_create(&th, NULL, complete_later, pr);
	ck_assert_int_eq(spool_future_wait(w, SPOOL_FOREVER), 0);
	ck_assert_int_eq(spool_future_error(w), 0);
	pthread_join(th, NULL);
	ck_assert_int_eq(spool_pool_shutdown(p, SPOOL_SHUTDOWN_WAIT), 0);
	spool_pool_destroy(p);
	ck_assert_int_eq(spool_trace_stop(), 0);

	struct trace t;
	load(&t, tmp("reuse.json"));
	long wk = track(&t, "worker 0");
	ck_assert_int_ge(wk, 0);
	const struct tev *ra = nth(&t, 'X', "a", wk, 0);
	const struct tev *rb = nth(&t, 'X', "b", wk, 0);
	ck_assert_ptr_nonnull(ra);
	ck_assert_ptr_nonnull(rb);
	ck_assert_int_ge(rb->ts - (ra->ts + ra->dur), 15 * SPOOL_NS_PER_MS);
	const struct tev *hw = nth(&t, 'X', "wait: promise", wk, 0);
	ck_assert_ptr_nonnull(hw);
	ck_assert_int_ge(hw->dur, 15 * SPOOL_NS_PER_MS);
	assert_slices_nest(&t);
	ck_assert_int_eq(assert_runs_follow_submits(&t), 4);
	unload(&t);
	spool_future_release(x.a);
	spool_future_release(x.b);
	spool_future_release(parent);
	spool_future_release(w);
	spool_future_release(pr);
}
END_TEST

/* A combinator's wait is named after the combinator (combinators.h). */
START_TEST(combinator_waits_are_named_after_the_combinator)
{
	static const char *const names[] = {
		"wait: gather", "wait: wait FIRST_COMPLETED",
		"wait: as_completed", "wait: task group"};
	enum { N = sizeof names / sizeof names[0] };
	spool_future *p[N];
	pthread_t th[N];
	for (int i = 0; i < N; i++)
		ck_assert_ptr_nonnull(p[i] = spool_promise_new());
	spool_pool *pool;
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = 1;
	ck_assert_int_eq(spool_pool_create(&pool, &o), 0);
	ck_assert_int_eq(spool_trace_start(tmp("comb.json")), 0);

	spool_future *g = spool_gather(&p[0], 1, 0);
	pthread_create(&th[0], NULL, complete_later, p[0]);
	ck_assert_int_eq(spool_future_wait(g, SPOOL_FOREVER), 0);

	pthread_create(&th[1], NULL, complete_later, p[1]);
	ck_assert_int_eq(spool_wait(&p[1], 1, SPOOL_FIRST_COMPLETED,
				    SPOOL_FOREVER, NULL, NULL, NULL),
			 0);

	spool_as_completed *it;
	ck_assert_int_eq(
		spool_as_completed_create(&it, &p[2], 1, SPOOL_FOREVER), 0);
	pthread_create(&th[2], NULL, complete_later, p[2]);
	spool_future *next;
	ck_assert_int_eq(spool_as_completed_next(it, &next, NULL), 0);
	ck_assert_ptr_eq(next, p[2]);
	spool_as_completed_destroy(it);

	spool_group *gr;
	ck_assert_int_eq(spool_group_create(&gr, spool_pool_executor(pool), 0),
			 0);
	ck_assert_int_eq(spool_group_spawn(gr, wait_on_promise, p[3], NULL), 0);
	pthread_create(&th[3], NULL, complete_later, p[3]);
	ck_assert_int_eq(spool_group_join(gr, SPOOL_FOREVER), 0);
	spool_group_destroy(gr);
	for (int i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	ck_assert_int_eq(spool_trace_stop(), 0);
	spool_pool_destroy(pool);

	struct trace t;
	load(&t, tmp("comb.json"));
	for (int i = 0; i < N; i++) {
		ck_assert_msg(count(&t, 'X', names[i], my_tid()) == 1,
			      "no slice %s", names[i]);
		ck_assert_int_ge(nth(&t, 'X', names[i], my_tid(), 0)->dur,
				 5 * SPOOL_NS_PER_MS);
	}
	assert_slices_nest(&t);
	unload(&t);
	spool_future_release(g);
	for (int i = 0; i < N; i++)
		spool_future_release(p[i]);
}
END_TEST

/* ---- the loop's hooks, through the public API --------------------------- */

static int sleeper(void *arg, void **result)
{
	(void)result;
	return spool_sleep((int64_t)(intptr_t)arg);
}

START_TEST(loop_with_3_sleeping_coroutines_shows_segments_timers_and_turns)
{
	static const int64_t ns[3] = {1 * SPOOL_NS_PER_MS, 2 * SPOOL_NS_PER_MS,
				      3 * SPOOL_NS_PER_MS};
	spool_loop *l;
	ck_assert_int_eq(spool_loop_create(&l, NULL), 0);
	ck_assert_int_eq(spool_trace_start(tmp("loop3.json")), 0);
	spool_future *f[3];
	for (int i = 0; i < 3; i++)
		f[i] = spool_submit_labeled(spool_loop_executor(l), sleeper,
					    (void *)(intptr_t)ns[i], "sleeper");
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(spool_loop_run_until_complete(l, f[i]), 0);
	ck_assert_int_eq(spool_trace_stop(), 0);
	spool_loop_destroy(l);

	struct trace t;
	load(&t, tmp("loop3.json"));
	long loop = track(&t, "loop");
	ck_assert_int_eq(loop, my_tid());
	ck_assert_int_eq(count(&t, 'X', "sleeper", loop), 6);
	ck_assert_int_eq(count(&t, 'i', "suspend", loop), 3);
	ck_assert_int_eq(count(&t, 'i', "timer", loop), 3);
	ck_assert_int_ge(count(&t, 'X', "loop iteration", loop), 2);
	for (int i = 0; i < 3; i++) {
		uint64_t id = spool_future_id(f[i]);
		/* Segment 0 runs until the sleep suspends it; segment 1
		 * after the timer, saying what it waited for. */
		const struct tev *a0 = run_of(&t, id, 0);
		const struct tev *a1 = run_of(&t, id, 1);
		ck_assert(a0 && a1);
		ck_assert(a0->flow_in && jgetb(a0->args, "suspended"));
		ck_assert_str_eq(jgets(a1->args, "after"), "sleep");
		ck_assert_int_eq((int64_t)arg_n(a1, "target"), ns[i]);
		ck_assert_int_eq((int)arg_n(a1, "wait_rc"), 0);
		ck_assert_int_eq((int)arg_n(a1, "rc"), 0);
		ck_assert_int_ge(a1->ts, a0->ts + ns[i] - 100000);
		size_t timers = 0, suspends = 0;
		for (size_t k = 0; k < t.n; k++) {
			const struct tev *e = &t.ev[k];
			if (e->ph != 'i' ||
			    (uint64_t)jgetn(e->args, "id", 0) != id)
				continue;
			if (strcmp(e->name, "timer") == 0) {
				timers++;
				ck_assert_int_le(e->ts, a1->ts);
			} else if (strcmp(e->name, "suspend") == 0) {
				suspends++;
				ck_assert_str_eq(jgets(e->args, "on"), "sleep");
				ck_assert_int_eq((int64_t)arg_n(e, "target"),
						 ns[i]);
			}
		}
		ck_assert_int_eq(timers, 1);
		ck_assert_int_eq(suspends, 1);
		/* Both segments run inside turns of the loop. */
		for (int s = 0; s < 2; s++) {
			const struct tev *seg = s ? a1 : a0;
			bool inside = false;
			for (size_t k = 0; k < t.n && !inside; k++)
				inside = t.ev[k].ph == 'X' &&
					 strcmp(t.ev[k].name,
						"loop iteration") == 0 &&
					 contains(&t.ev[k], seg);
			ck_assert_msg(inside, "segment outside a loop turn");
		}
		spool_future_release(f[i]);
	}
	ck_assert_int_eq(assert_runs_follow_submits(&t), 3);
	assert_slices_nest(&t);
	ck_assert_int_eq((int)meta_n(&t, "unmatched_ends"), 0);
	unload(&t);
}
END_TEST

/* ---- public API: user slices -------------------------------------------- */

/* The user slice named name on tid, the k-th (from 0), checked to be one. */
static const struct tev *user_slice(const struct trace *t, const char *name,
				    long tid, size_t k)
{
	const struct tev *s = nth(t, 'X', name, tid, k);
	ck_assert_msg(s != NULL, "no user slice %s #%zu", name, k);
	ck_assert_str_eq(s->cat, "user");
	return s;
}

static void *slices_elsewhere(void *arg)
{
	(void)arg;
	spool_trace_thread_name("other");
	spool_trace_begin("elsewhere");
	spool_trace_end();
	return NULL;
}

START_TEST(a_user_slice_appears_with_its_name_on_the_calling_threads_track)
{
	ck_assert_int_eq(spool_trace_thread_name("main"), 0);
	ck_assert_int_eq(spool_trace_start(tmp("user.json")), 0);
	spool_trace_begin("phase \"one\"");
	spool_trace_begin("inner");
	spool_test_sleep_ns(SPOOL_NS_PER_MS);
	spool_trace_end();
	spool_trace_end();
	spool_trace_begin(NULL);
	spool_trace_end();
	pthread_t th;
	pthread_create(&th, NULL, slices_elsewhere, NULL);
	pthread_join(th, NULL);
	ck_assert_int_eq(spool_trace_stop(), 0);
	spool_trace_stats st;
	ck_assert_int_eq(spool_trace_stats_get(&st), 0);
	ck_assert_uint_eq(st.events, 8); /* four begins, four ends */

	struct trace t;
	load(&t, tmp("user.json"));
	long me = track(&t, "main"), other = track(&t, "other");
	ck_assert_int_eq(me, my_tid());
	ck_assert_int_ne(other, me);
	const struct tev *outer = user_slice(&t, "phase \"one\"", me, 0);
	const struct tev *inner = user_slice(&t, "inner", me, 0);
	ck_assert(contains(outer, inner) && outer->ts < inner->ts);
	ck_assert_int_ge(inner->dur, SPOOL_NS_PER_MS);
	ck_assert_ptr_null(jget(outer->args, "truncated"));
	user_slice(&t, "slice", me, 0); /* NULL name */
	user_slice(&t, "elsewhere", other, 0);
	ck_assert_int_eq(count(&t, 'X', "elsewhere", me), 0);
	ck_assert_int_eq(count(&t, 'X', NULL, -1), 4);
	assert_slices_nest(&t);
	ck_assert_int_eq((int)meta_n(&t, "unmatched_ends"), 0);
	unload(&t);
}
END_TEST

static int task_with_a_user_slice(void *arg, void **result)
{
	(void)arg;
	*result = NULL;
	spool_trace_begin("inside the task");
	spool_trace_end();
	return 0;
}

START_TEST(user_slices_nest_inside_a_task_run_and_around_a_wait)
{
	spool_future *p = spool_promise_new();
	ck_assert_int_eq(spool_trace_start(tmp("nest.json")), 0);
	spool_future *f = spool_submit_labeled(
		spool_executor_inline(), task_with_a_user_slice, NULL, "host");
	spool_trace_begin("around the wait");
	ck_assert_int_eq(spool_future_wait(p, SPOOL_NS_PER_MS),
			 SPOOL_ETIMEDOUT);
	spool_trace_end();
	ck_assert_int_eq(spool_trace_stop(), 0);

	struct trace t;
	load(&t, tmp("nest.json"));
	long me = my_tid();
	const struct tev *run = run_of(&t, spool_future_id(f), 0);
	ck_assert_ptr_nonnull(run);
	ck_assert_str_eq(run->name, "host");
	const struct tev *in = user_slice(&t, "inside the task", me, 0);
	ck_assert(contains(run, in) && run->ts < in->ts);
	const struct tev *around = user_slice(&t, "around the wait", me, 0);
	const struct tev *w = nth(&t, 'X', "wait", me, 0);
	ck_assert_ptr_nonnull(w);
	ck_assert(contains(around, w) && around->ts < w->ts);
	ck_assert_int_eq((int)arg_n(w, "rc"), SPOOL_ETIMEDOUT);
	ck_assert(!contains(around, run));
	assert_slices_nest(&t);
	ck_assert_int_eq((int)meta_n(&t, "unmatched_ends"), 0);
	unload(&t);
	spool_future_release(f);
	spool_future_release(p);
}
END_TEST

START_TEST(user_slices_while_tracing_is_off_record_nothing)
{
	spool_trace_begin("off");
	spool_trace_end();
	ck_assert_int_eq(spool_trace_start(tmp("off-user.json")), 0);
	ck_assert_int_eq(spool_trace_stop(), 0);
	spool_trace_stats st;
	ck_assert_int_eq(spool_trace_stats_get(&st), 0);
	ck_assert_uint_eq(st.events, 0);
	ck_assert_uint_eq(st.threads, 0);
	/* Begun while off: not recorded, so its end finds nothing open. */
	spool_trace_begin("before the session");
	ck_assert_int_eq(spool_trace_start(tmp("late.json")), 0);
	spool_trace_end();
	ck_assert_int_eq(spool_trace_stop(), 0);
	spool_trace_end();
	ck_assert_int_eq(spool_trace_stats_get(&st), 0);
	ck_assert_uint_eq(st.events, 1);
	struct trace t;
	load(&t, tmp("late.json"));
	ck_assert_int_eq(count(&t, 'X', NULL, -1), 0);
	ck_assert_int_eq((int)meta_n(&t, "unmatched_ends"), 1);
	unload(&t);
}
END_TEST

static int task_crossing_its_run(void *arg, void **result)
{
	(void)arg;
	*result = NULL;
	spool_trace_end(); /* the slice open outside this run: ignored */
	spool_trace_begin("left open");
	return 5;
}

START_TEST(unbalanced_user_ends_are_ignored_and_counted_never_cutting_a_run)
{
	ck_assert_int_eq(spool_trace_start(tmp("unbalanced.json")), 0);
	spool_trace_end(); /* nothing open */
	spool_trace_begin("outer");
	spool_future *f = spool_submit(spool_executor_inline(),
				       task_crossing_its_run, NULL);
	spool_trace_end(); /* closes "outer" */
	spool_trace_begin("still open at stop");
	ck_assert_int_eq(spool_trace_stop(), 0);

	struct trace t;
	load(&t, tmp("unbalanced.json"));
	long me = my_tid();
	ck_assert_int_eq((int)meta_n(&t, "unmatched_ends"), 2);
	const struct tev *run = run_of(&t, spool_future_id(f), 0);
	ck_assert_ptr_nonnull(run);
	ck_assert_int_eq((int)arg_n(run, "rc"), 5);
	ck_assert_ptr_null(jget(run->args, "truncated"));
	const struct tev *outer = user_slice(&t, "outer", me, 0);
	ck_assert(contains(outer, run));
	ck_assert_ptr_null(jget(outer->args, "truncated"));
	const struct tev *left = user_slice(&t, "left open", me, 0);
	ck_assert(contains(run, left) && jgetb(left->args, "truncated"));
	const struct tev *last = user_slice(&t, "still open at stop", me, 0);
	ck_assert(jgetb(last->args, "unfinished"));
	ck_assert_int_eq(count(&t, 'X', NULL, me), 5); /* and the submit */
	assert_slices_nest(&t);
	unload(&t);
	spool_future_release(f);
}
END_TEST

static int sleeper_in_a_user_slice(void *arg, void **result)
{
	(void)result;
	spool_trace_begin("in the coroutine");
	int rc = spool_sleep((int64_t)(intptr_t)arg);
	spool_trace_end();
	return rc;
}

START_TEST(a_user_slice_in_a_coroutine_is_split_at_its_suspension)
{
	spool_loop *l;
	ck_assert_int_eq(spool_loop_create(&l, NULL), 0);
	ck_assert_int_eq(spool_trace_start(tmp("coro-user.json")), 0);
	/* The first sleeps longer: the second's end comes while the first
	 * still has its slice open, so pairing must follow the coroutine. */
	spool_future *f[2];
	for (int i = 0; i < 2; i++)
		f[i] = spool_submit(
			spool_loop_executor(l), sleeper_in_a_user_slice,
			(void *)(intptr_t)((2 - i) * SPOOL_NS_PER_MS));
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(spool_loop_run_until_complete(l, f[i]), 0);
	ck_assert_int_eq(spool_trace_stop(), 0);
	spool_loop_destroy(l);

	struct trace t;
	load(&t, tmp("coro-user.json"));
	long loop = track(&t, "loop");
	ck_assert_int_eq(count(&t, 'X', "in the coroutine", loop), 4);
	for (int i = 0; i < 2; i++) {
		uint64_t id = spool_future_id(f[i]);
		for (int seg = 0; seg < 2; seg++) {
			const struct tev *r = run_of(&t, id, seg);
			ck_assert_ptr_nonnull(r);
			size_t inside = 0;
			for (size_t k = 0; k < t.n; k++) {
				const struct tev *e = &t.ev[k];
				if (e->ph != 'X' ||
				    strcmp(e->name, "in the coroutine") != 0 ||
				    !contains(r, e))
					continue;
				inside++;
				ck_assert_int_eq(jgetb(e->args, "suspended"),
						 seg == 0);
				ck_assert_ptr_null(jget(e->args, "truncated"));
			}
			ck_assert_int_eq(inside, 1);
		}
		spool_future_release(f[i]);
	}
	assert_slices_nest(&t);
	ck_assert_int_eq((int)meta_n(&t, "unmatched_ends"), 0);
	unload(&t);
}
END_TEST

/* ---- the hook API (the module's own copy, see the top) ------------------ */

static void copy_start(const char *name, size_t cap)
{
	spool_trace_options o = SPOOL_TRACE_OPTIONS_INIT;
	o.events_per_thread = cap;
	ck_assert_int_eq(spool__trace_session_start(tmp(name), &o), 0);
}

struct pool_sim {
	int index;
	spool_future *tasks[4];
	int steals, parks, wakes;
};

/* What a pool worker records: it names itself, runs a task, inside it
 * waits for a child and helps by running a stolen task, parks, wakes a
 * peer. */
static void *pool_worker_sim(void *arg)
{
	struct pool_sim *w = arg;
	spool__trace_thread_name("worker", w->index);
	for (int round = 0; round < 3; round++) {
		spool__trace_run_begin(w->tasks[0]);
		spool__trace_wait_begin(w->tasks[1]);
		spool__trace_steal(w->tasks[2], (w->index + 1) % 3);
		w->steals++;
		spool__trace_run_begin(w->tasks[2]);
		spool__trace_run_end(w->tasks[2], 0);
		spool__trace_wait_end(w->tasks[1], 0);
		spool__trace_run_end(w->tasks[0], 0);
		spool__trace_park_begin();
		spool_test_sleep_ns(100000);
		spool__trace_park_end();
		w->parks++;
		spool__trace_wake(w->index);
		w->wakes++;
	}
	return NULL;
}

START_TEST(pool_hooks_give_worker_tracks_with_helping_steals_parks_and_wakes)
{
	copy_start("pool.json", 0);
	struct pool_sim w[3];
	pthread_t th[3];
	for (int i = 0; i < 3; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i].index = i;
		for (int k = 0; k < 4; k++)
			w[i].tasks[k] = spool_promise_new();
		w[i].tasks[0]->label = "parent";
		w[i].tasks[2]->label = "child";
		pthread_create(&th[i], NULL, pool_worker_sim, &w[i]);
	}
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	ck_assert_int_eq(spool__trace_session_stop(), 0);

	struct trace t;
	load(&t, tmp("pool.json"));
	for (int i = 0; i < 3; i++) {
		char name[16];
		snprintf(name, sizeof name, "worker %d", i);
		long tid = track(&t, name);
		ck_assert_int_ge(tid, 0);
		ck_assert_int_eq(count(&t, 'X', "parent", tid), 3);
		ck_assert_int_eq(count(&t, 'X', "child", tid), 3);
		ck_assert_int_eq(count(&t, 'i', "steal", tid), w[i].steals);
		ck_assert_int_eq(count(&t, 'X', "park", tid), w[i].parks);
		ck_assert_int_eq(count(&t, 'i', "wake", tid), w[i].wakes);
		/* Helping: the stolen child runs inside the parent's wait. */
		for (size_t k = 0; k < 3; k++) {
			const struct tev *p = nth(&t, 'X', "parent", tid, k);
			const struct tev *wt = nth(&t, 'X', "wait", tid, k);
			const struct tev *c = nth(&t, 'X', "child", tid, k);
			ck_assert(contains(p, wt) && contains(wt, c));
			const struct tev *s = nth(&t, 'i', "steal", tid, k);
			ck_assert_int_eq((int)arg_n(s, "victim"), (i + 1) % 3);
			ck_assert_int_eq((uint64_t)arg_n(s, "id"),
					 spool_future_id(w[i].tasks[2]));
		}
		for (int k = 0; k < 4; k++)
			spool_future_release(w[i].tasks[k]);
	}
	/* Workers sort before every other track. */
	for (size_t i = 0; i < t.n; i++)
		if (t.ev[i].ph == 'M' &&
		    strcmp(t.ev[i].name, "thread_sort_index") == 0)
			ck_assert_int_lt((int)arg_n(&t.ev[i], "sort_index"), 3);
	assert_slices_nest(&t);
	ck_assert_int_eq((int)meta_n(&t, "unmatched_ends"), 0);
	unload(&t);
}
END_TEST

START_TEST(loop_hooks_split_coroutine_runs_at_suspensions_and_say_why)
{
	spool_future *c1 = spool_promise_new(), *c2 = spool_promise_new();
	spool_future *dep = spool_promise_new();
	c1->label = "fetch";
	c2->label = "sleeper";
	dep->label = "dep";
	copy_start("loop.json", 0);
	spool__trace_thread_name("loop", -1);
	/* Iteration 1: c1 awaits dep; c2 sleeps 5 ms. */
	spool__trace_iter_begin(1);
	spool__trace_run_begin(c1);
	spool__trace_wait_begin(dep);
	spool__trace_suspend(c1, SPOOL__TRACE_ON_FUTURE, dep->id);
	spool__trace_run_begin(c2);
	spool__trace_suspend(c2, SPOOL__TRACE_ON_SLEEP, 5000000);
	spool__trace_iter_end(1, 2);
	/* Iteration 2: the timer fires, both resume and finish. */
	spool__trace_iter_begin(2);
	spool__trace_timer(c2, 1234);
	spool__trace_resume(c2, 0);
	spool__trace_run_end(c2, 0);
	spool__trace_resume(c1, 0);
	spool__trace_wait_end(dep, 0);
	spool__trace_run_end(c1, 0);
	spool__trace_iter_end(2, 3);
	ck_assert_int_eq(spool__trace_session_stop(), 0);

	struct trace t;
	load(&t, tmp("loop.json"));
	long loop = track(&t, "loop");
	ck_assert_int_eq(loop, my_tid());
	ck_assert_int_eq(count(&t, 'X', "loop iteration", loop), 2);
	const struct tev *it1 = nth(&t, 'X', "loop iteration", loop, 0);
	const struct tev *it2 = nth(&t, 'X', "loop iteration", loop, 1);
	ck_assert_int_eq((int)arg_n(it1, "n"), 1);
	ck_assert_int_eq((int)arg_n(it2, "ran"), 3);
	/* c1: segment 0 until it suspends, segment 1 after dep is done. */
	const struct tev *a0 = run_of(&t, c1->id, 0);
	const struct tev *a1 = run_of(&t, c1->id, 1);
	ck_assert(a0 && a1);
	ck_assert_str_eq(a0->name, "fetch");
	ck_assert_str_eq(a1->name, "fetch");
	ck_assert(a0->flow_in && !a1->flow_in);
	ck_assert(jgetb(a0->args, "suspended"));
	ck_assert_str_eq(jgets(a1->args, "after"), "future");
	ck_assert_int_eq((uint64_t)arg_n(a1, "target"), dep->id);
	ck_assert_int_eq((int)arg_n(a1, "rc"), 0);
	ck_assert(contains(it1, a0) && contains(it2, a1));
	/* Its wait is split with it: one piece in each segment. */
	ck_assert_int_eq(count(&t, 'X', "wait: dep", loop), 2);
	const struct tev *w0 = nth(&t, 'X', "wait: dep", loop, 0);
	const struct tev *w1 = nth(&t, 'X', "wait: dep", loop, 1);
	if (w0->ts > w1->ts) {
		const struct tev *x = w0;
		w0 = w1;
		w1 = x;
	}
	ck_assert(contains(a0, w0) && jgetb(w0->args, "suspended"));
	ck_assert(contains(a1, w1) && (int)arg_n(w1, "rc") == 0);
	/* c2 says it slept, and how long it asked for. */
	const struct tev *b1 = run_of(&t, c2->id, 1);
	ck_assert_ptr_nonnull(b1);
	ck_assert_str_eq(jgets(b1->args, "after"), "sleep");
	ck_assert_int_eq((int)arg_n(b1, "target"), 5000000);
	/* Instants: two suspensions with their reasons, one timer. */
	ck_assert_int_eq(count(&t, 'i', "suspend", loop), 2);
	const struct tev *s0 = nth(&t, 'i', "suspend", loop, 0);
	ck_assert_str_eq(jgets(s0->args, "on"), "future");
	ck_assert_int_eq((uint64_t)arg_n(s0, "target"), dep->id);
	const struct tev *tm = nth(&t, 'i', "timer", loop, 0);
	ck_assert_int_eq((uint64_t)arg_n(tm, "id"), c2->id);
	ck_assert_int_eq((int)arg_n(tm, "late_ns"), 1234);
	assert_slices_nest(&t);
	ck_assert_int_eq((int)meta_n(&t, "unmatched_ends"), 0);
	unload(&t);
	spool_future_release(c1);
	spool_future_release(c2);
	spool_future_release(dep);
}
END_TEST

START_TEST(mismatched_and_unfinished_slices_are_closed_so_they_still_nest)
{
	spool_future *a = spool_promise_new(), *b = spool_promise_new();
	spool_future *c = spool_promise_new();
	copy_start("mismatch.json", 0);
	spool__trace_run_end(c, 0); /* began before the session */
	spool__trace_run_begin(a);
	spool__trace_wait_begin(b); /* its end never comes */
	spool__trace_run_end(a, 3); /* closes the wait as truncated */
	spool__trace_run_begin(b);  /* still running at stop */
	ck_assert_int_eq(spool__trace_session_stop(), 0);
	struct trace t;
	load(&t, tmp("mismatch.json"));
	ck_assert_int_eq((int)meta_n(&t, "unmatched_ends"), 1);
	const struct tev *ra = run_of(&t, a->id, 0);
	ck_assert_int_eq((int)arg_n(ra, "rc"), 3);
	const struct tev *w = nth(&t, 'X', "wait", -1, 0);
	ck_assert(jgetb(w->args, "truncated") && contains(ra, w));
	const struct tev *rb = run_of(&t, b->id, 0);
	ck_assert(jgetb(rb->args, "unfinished"));
	ck_assert_ptr_null(jget(rb->args, "rc"));
	ck_assert_ptr_null(run_of(&t, c->id, 0));
	assert_slices_nest(&t);
	unload(&t);
	spool_future_release(a);
	spool_future_release(b);
	spool_future_release(c);
}
END_TEST

static void *hook_hammer(void *arg)
{
	struct hammer *h = arg;
	spool_future *f = spool_promise_new();
	spool__trace_thread_name("worker",
				 (int)(atomic_fetch_add(&h->tasks, 1)));
	while (!atomic_load(&h->stop)) {
		for (int i = 0; i < 100; i++) {
			spool__trace_run_begin(f);
			spool__trace_steal(f, 0);
			spool__trace_run_end(f, 0);
		}
		sched_yield(); /* 2 cores: let the stopper run */
	}
	spool_future_release(f);
	return NULL;
}

START_TEST(hook_recording_races_with_start_and_stop_safely)
{
	enum { T = 4, SESSIONS = 20 };
	struct hammer h = {false, 0};
	pthread_t th[T];
	for (int i = 0; i < T; i++)
		pthread_create(&th[i], NULL, hook_hammer, &h);
	for (int s = 0; s < SESSIONS; s++) {
		char name[32];
		snprintf(name, sizeof name, "hook%d.json", s);
		copy_start(name, 1000 + 500 * (size_t)(s % 3));
		spool_test_sleep_ns(1000000);
		ck_assert_int_eq(spool__trace_session_stop(), 0);
	}
	atomic_store(&h.stop, true);
	for (int i = 0; i < T; i++)
		pthread_join(th[i], NULL);
	for (int s = 0; s < SESSIONS; s++) {
		char name[32];
		snprintf(name, sizeof name, "hook%d.json", s);
		struct trace t;
		load(&t, tmp(name));
		assert_slices_nest(&t);
		unload(&t);
	}
}
END_TEST

/* Pages of [m, m + len) that are not resident. */
static size_t pages_not_resident(void *m, size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t np = (len + pg - 1) / pg;
	unsigned char *vec = malloc(np);
	ck_assert_ptr_nonnull(vec);
	ck_assert_int_eq(mincore(m, len, vec), 0);
	size_t out = 0;
	for (size_t i = 0; i < np; i++)
		out += !(vec[i] & 1);
	free(vec);
	return out;
}

struct named_sim {
	int index;
	pthread_barrier_t *named, *leave;
};

/* A worker-like thread: names its track, then stays alive until told. */
static void *named_thread(void *arg)
{
	struct named_sim *n = arg;
	spool__trace_thread_name("worker", n->index);
	pthread_barrier_wait(n->named);
	pthread_barrier_wait(n->leave);
	return NULL;
}

START_TEST(
	start_commits_a_buffer_for_each_expected_thread_and_stop_unmaps_the_rest)
{
	enum { THREADS = 3, CAP = 20000 };
	pthread_barrier_t named, leave;
	pthread_barrier_init(&named, NULL, THREADS + 1);
	pthread_barrier_init(&leave, NULL, THREADS + 1);
	struct named_sim sim[THREADS];
	pthread_t th[THREADS];
	spool__trace_lock();
	unsigned before = live_named;
	spool__trace_unlock();
	for (int i = 0; i < THREADS; i++) {
		sim[i] = (struct named_sim){i, &named, &leave};
		pthread_create(&th[i], NULL, named_thread, &sim[i]);
	}
	pthread_barrier_wait(&named);

	copy_start("prefault.json", CAP);
	const size_t len = CAP * sizeof(struct spool__trace_ev);
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	size_t cpus = online > 0 ? (size_t)online : 1;
	spool__trace_lock();
	ck_assert_uint_eq(live_named, before + THREADS);
	size_t want = (live_named > cpus ? live_named : cpus) + 1;
	if (want > MAX_SPARES)
		want = MAX_SPARES;
	ck_assert_uint_eq(nspares, want);
	/* The whole buffer is below the prefault limit: all of it is
	 * committed before any thread records. */
	for (size_t i = 0; i < nspares; i++)
		ck_assert_uint_eq(pages_not_resident(spares[i], len), 0);
	spool__trace_unlock();

	/* The first event of a thread takes a committed buffer. */
	spool__trace_park_begin();
	spool__trace_park_end();
	spool__trace_lock();
	ck_assert_uint_eq(nspares, want - 1);
	ck_assert_ptr_nonnull(my_buf);
	ck_assert_uint_eq(my_buf->cap, CAP);
	ck_assert_uint_eq(pages_not_resident(my_buf->ev, len), 0);
	spool__trace_unlock();

	pthread_barrier_wait(&leave);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	spool__trace_lock();
	ck_assert_uint_eq(live_named, before); /* they exited */
	spool__trace_unlock();
	ck_assert_int_eq(spool__trace_session_stop(), 0);
	spool__trace_lock();
	ck_assert_uint_eq(nspares, 0);
	spool__trace_unlock();

	struct trace t;
	load(&t, tmp("prefault.json"));
	ck_assert_int_eq(count(&t, 'X', "park", -1), 1);
	unload(&t);
	pthread_barrier_destroy(&named);
	pthread_barrier_destroy(&leave);
}
END_TEST

struct submit_sim {
	spool_future *f;
};

static void *run_elsewhere(void *arg)
{
	struct submit_sim *s = arg;
	spool__trace_run_begin(s->f);
	spool__trace_run_end(s->f, 0);
	return NULL;
}

/* An event takes one 16-byte slot, two when it carries an argument: a
 * buffer of cap events holds cap events whatever the mix, and each
 * argument comes back out with its own event. */
START_TEST(a_buffer_holds_exactly_its_capacity_with_or_without_arguments)
{
	enum { CAP = 16 };
	copy_start("slots.json", CAP);
	/* 10 steals with an argument (the victim, 1..10), 10 without (0). */
	for (int i = 0; i < 20; i++)
		spool__trace_record(SPOOL__TR_STEAL, (uint64_t)(100 + i),
				    spool__trace_code(i % 2 ? (i + 1) / 2 : 0));
	size_t n = atomic_load_explicit(&my_buf->n, memory_order_relaxed);
	ck_assert_uint_eq(n, CAP + CAP / 2); /* 8 with, 8 without */
	ck_assert_int_eq(spool__trace_session_stop(), 0);

	struct trace t;
	load(&t, tmp("slots.json"));
	ck_assert_int_eq((int)meta_n(&t, "events"), CAP);
	ck_assert_int_eq((int)meta_n(&t, "dropped_events"), 20 - CAP);
	ck_assert_int_eq(count(&t, 'i', "steal", my_tid()), CAP);
	for (int i = 0; i < CAP; i++) {
		const struct tev *e = nth(&t, 'i', "steal", my_tid(), i);
		ck_assert_int_eq((int)arg_n(e, "id"), 100 + i);
		ck_assert_int_eq((int)arg_n(e, "victim"),
				 i % 2 ? (i + 1) / 2 : 0);
	}
	unload(&t);

	/* Every event with an argument: still CAP of them. */
	copy_start("slots2.json", CAP);
	for (int i = 0; i < 20; i++)
		spool__trace_record(SPOOL__TR_STEAL, 1, spool__trace_code(-1));
	n = atomic_load_explicit(&my_buf->n, memory_order_relaxed);
	ck_assert_uint_eq(n, 2 * CAP);
	ck_assert_int_eq(spool__trace_session_stop(), 0);
	load(&t, tmp("slots2.json"));
	ck_assert_int_eq((int)meta_n(&t, "events"), CAP);
	ck_assert_int_eq((int)meta_n(&t, "dropped_events"), 20 - CAP);
	ck_assert_int_eq(count(&t, 'i', "steal", my_tid()), CAP);
	ck_assert_int_eq(
		(int)arg_n(nth(&t, 'i', "steal", my_tid(), CAP - 1), "victim"),
		-1);
	unload(&t);
}
END_TEST

START_TEST(a_submission_is_stamped_with_the_threads_previous_clock_read)
{
	copy_start("stamp.json", 0);
	/* No event yet on this thread: a fresh read, kept as the stamp
	 * until the thread reads the clock again. */
	uint64_t first = spool__trace_submit_begin();
	ck_assert_uint_ge(first, session_clock.t0_ticks);
	while (spool__trace_now() == first)
		;
	ck_assert_uint_eq(spool__trace_submit_begin(), first);

	spool_future *parent = spool_promise_new();
	spool_future *child = spool_promise_new();
	parent->label = "parent";
	child->label = "child";
	spool__trace_run_begin(parent);
	/* The run's record is two slots: its stamp, then its label. */
	size_t n = atomic_load_explicit(&my_buf->n, memory_order_relaxed);
	ck_assert(my_buf->ev[n - 2].word & SPOOL__TRACE_HAS_ARG);
	ck_assert_uint_eq(my_buf->ev[n - 1].ts, (uintptr_t)parent->label);
	uint64_t begun = my_buf->ev[n - 2].ts;
	/* Time passes in the task: the stamp stays at its last event. */
	while (spool__trace_now() - begun < 1000)
		;
	uint64_t t0 = spool__trace_submit_begin();
	ck_assert_uint_eq(t0, begun);
	spool__trace_submit_end(t0, child);
	/* The child runs on another thread, after the submission. */
	struct submit_sim sim = {child};
	pthread_t th;
	pthread_create(&th, NULL, run_elsewhere, &sim);
	pthread_join(th, NULL);
	spool__trace_run_end(parent, 0);
	ck_assert_int_eq(spool__trace_session_stop(), 0);

	struct trace t;
	load(&t, tmp("stamp.json"));
	const struct tev *p = run_of(&t, spool_future_id(parent), 0);
	const struct tev *c = run_of(&t, spool_future_id(child), 0);
	const struct tev *s = nth(&t, 'X', "submit", -1, 0);
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq((uint64_t)arg_n(s, "id"), spool_future_id(child));
	/* Drawn just inside the parent, at its start, before the child. */
	ck_assert(contains(p, s) && p->ts < s->ts && s->ts < c->ts);
	ck_assert_int_eq(assert_runs_follow_submits(&t), 1);
	assert_slices_nest(&t);
	unload(&t);
	spool_future_release(parent);
	spool_future_release(child);
}
END_TEST

static Suite *trace_suite(void)
{
	Suite *s = suite_create("trace");
	TCase *tc = spool_test_case("sessions", 60);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, stop_without_start_is_a_harmless_noop);
	tcase_add_test(tc, bad_path_is_esys_and_bad_arguments_are_einval);
	tcase_add_test(tc,
		       start_while_recording_is_estate_and_keeps_the_session);
	tcase_add_test(
		tc,
		start_stop_start_again_records_each_session_in_its_own_file);
	tcase_add_test(tc, enabled_reflects_start_and_stop);
	tcase_add_test(tc, stop_reports_esys_when_the_file_cannot_be_written);
	tcase_add_test(
		tc,
		thread_name_renames_the_track_mid_session_and_keeps_31_bytes);
	suite_add_tcase(s, tc);

	tc = spool_test_case("content", 60);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(
		tc,
		inline_runs_nest_in_their_submits_with_labels_results_and_flows);
	tcase_add_test(
		tc, runs_on_other_threads_follow_their_submits_one_track_each);
	tcase_add_test(
		tc,
		a_blocking_wait_is_a_wait_slice_named_after_the_awaited_label);
	tcase_add_test(
		tc, labels_with_quotes_controls_and_bad_utf8_stay_valid_json);
	tcase_add_test(tc, tracing_off_records_nothing);
	tcase_add_test(tc, monotonic_clock_option_gives_the_same_trace);
	tcase_add_test(
		tc, a_full_buffer_drops_the_newest_events_and_reports_how_many);
	suite_add_tcase(s, tc);

	tc = spool_test_case("threads", 120);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, threads_that_exit_before_stop_keep_their_events);
	tcase_add_test(
		tc, stop_while_threads_record_is_safe_and_every_file_is_valid);
	suite_add_tcase(s, tc);

	tc = spool_test_case("environment", 60);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(
		tc,
		environment_variable_traces_the_program_into_the_file_at_exit);
	tcase_add_test(
		tc,
		environment_variable_with_a_bad_path_says_so_and_runs_untraced);
	tcase_add_test(tc, environment_buffer_size_bounds_each_thread);
	suite_add_tcase(s, tc);

	tc = spool_test_case("executors", 120);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, pool_fork_join_on_2_workers_matches_the_pool_stats);
	tcase_add_test(tc, reused_stamps_never_skip_callbacks_or_blocked_waits);
	tcase_add_test(tc, combinator_waits_are_named_after_the_combinator);
	tcase_add_test(
		tc,
		loop_with_3_sleeping_coroutines_shows_segments_timers_and_turns);
	suite_add_tcase(s, tc);

	tc = spool_test_case("user slices", 60);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(
		tc,
		a_user_slice_appears_with_its_name_on_the_calling_threads_track);
	tcase_add_test(tc,
		       user_slices_nest_inside_a_task_run_and_around_a_wait);
	tcase_add_test(tc, user_slices_while_tracing_is_off_record_nothing);
	tcase_add_test(
		tc,
		unbalanced_user_ends_are_ignored_and_counted_never_cutting_a_run);
	tcase_add_test(tc,
		       a_user_slice_in_a_coroutine_is_split_at_its_suspension);
	suite_add_tcase(s, tc);

	tc = spool_test_case("hooks", 120);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(
		tc,
		pool_hooks_give_worker_tracks_with_helping_steals_parks_and_wakes);
	tcase_add_test(
		tc, loop_hooks_split_coroutine_runs_at_suspensions_and_say_why);
	tcase_add_test(
		tc,
		mismatched_and_unfinished_slices_are_closed_so_they_still_nest);
	tcase_add_test(tc, hook_recording_races_with_start_and_stop_safely);
	tcase_add_test(
		tc,
		start_commits_a_buffer_for_each_expected_thread_and_stop_unmaps_the_rest);
	tcase_add_test(
		tc,
		a_submission_is_stamped_with_the_threads_previous_clock_read);
	tcase_add_test(
		tc,
		a_buffer_holds_exactly_its_capacity_with_or_without_arguments);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--env-child") == 0)
		return env_child();
	return spool_test_run(trace_suite());
}
