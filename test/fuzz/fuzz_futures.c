/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the input is a program of operations on a small table
 * of future handles, run against a fresh 2-worker pool and a fresh loop
 * that the fuzzer's own thread runs in bounded steps. After every
 * operation the invariants of spool/future.h and spool/combinators.h are
 * checked; after teardown every callback must have run exactly once and
 * spool_debug_live_futures() must be back where it started.
 *
 * Input format. Byte 0 chooses the loop's flags (bit 0 SPOOL_LOOP_TIMERFD,
 * bit 1 SPOOL_LOOP_SHARED_STACK). Then each operation is one opcode byte
 * (taken modulo OP_COUNT) followed by the argument bytes that operation
 * reads; a missing byte reads as 0. At most MAX_OPS operations run, and
 * every wait in them is bounded (timeouts of 0, 50 us or 500 us; loop
 * steps are single iterations), so one input runs in milliseconds.
 *
 * Handles. The table has MAX_HANDLES slots; an operation that names a slot
 * that is empty uses the next full one, and skips if there is none. A new
 * handle takes the first empty slot, or replaces the slot its byte names
 * (the old handle is kept, "retired", until teardown). Every handle has a
 * track record that outlives it: the states seen, what its producer
 * promised (a promise's winning completion, a task's return), and for a
 * gather its children (held by the track so that slots can be compared
 * with them).
 *
 * What is deliberately not done, because the API makes it the caller's
 * problem and it would only report the harness's own bug:
 *   - dropping the last reference to a pending promise (nobody could
 *     complete it, so whatever waits on it leaks by design);
 *   - waits without a bound on the fuzzer's thread: spool_wait_for() here
 *     only targets futures that settle by themselves once cancelled
 *     (settleable() below);
 *   - a pool task's spool_wait_for() on a pool task that waits itself: a
 *     waiting worker runs other tasks on top of the waiting one, so if the
 *     task it runs waits without a bound (wait_for's settle) for the task
 *     underneath, the worker waits for itself for ever. Pool tasks
 *     spool_wait_for() only tasks that never wait (B_VALUE, B_FAIL,
 *     B_POLL);
 *   - calls into the loop from other threads once it is being destroyed.
 *
 * A failed check prints what it saw and aborts, which libFuzzer reports as
 * a crash and saves as crash-<sha1>.
 */
#define _GNU_SOURCE /* clock_gettime with -std=c11 */
#include <spool.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
	MAX_OPS = 64,
	MAX_HANDLES = 12,
	MAX_TRACKS = 192,
	MAX_SPECS = 192,
	MAX_CBS = 96,
	MAX_KIDS = 4,
	POOL_WORKERS = 2
};

#define US INT64_C(1000)

/* ---- failing --------------------------------------------------------- */

static int op_index = -1;
static bool tracing; /* FUZZ_FUTURES_TRACE set: print each operation */
static const char *op_name = "setup";

static __attribute__((noreturn, format(printf, 1, 2))) void
fuzz_fail(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr,
		"fuzz_futures: invariant broken at op %d (%s): ", op_index,
		op_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond))                                                   \
			fuzz_fail(__VA_ARGS__);                                \
	} while (0)

/* ---- reading the input ----------------------------------------------- */

static const uint8_t *in_data;
static size_t in_size, in_pos;

static uint8_t u8(void)
{
	return in_pos < in_size ? in_data[in_pos++] : 0;
}

static bool more(void)
{
	return in_pos < in_size;
}

/* 0, 50 us or 500 us. */
static int64_t small_timeout(uint8_t b)
{
	static const int64_t t[4] = {0, 50 * US, 500 * US, 0};
	return t[b % 4];
}

/* ---- records ----------------------------------------------------------- */

enum kind {
	K_PROMISE,
	K_POOL,   /* pool task, also a group task on the pool */
	K_LOOP,   /* loop task, also a group task on the loop */
	K_BRIDGE, /* spool_loop_run_in_executor on the pool */
	K_GATHER,
	K_MAP,
	K_THEN
};

static const char *const kind_names[] = {
	"promise", "pool task", "loop task", "bridge", "gather", "map", "then"};

/* What a task, map element or continuation does. */
enum behaviour {
	B_VALUE,     /* return 0 with spec->value */
	B_FAIL,      /* return spec->code (positive) */
	B_POLL,      /* poll for a cancel request a little while */
	B_WAIT,      /* wait for target with spec->timeout, then return value */
	B_COMPLETE,  /* complete the promise target */
	B_GATHER,    /* gather the targets, wait with a timeout, drop it */
	B_WAIT_FOR,  /* spool_wait_for(target, timeout) */
	B_CHILD,     /* pool: submit a child and join it; loop: sleep */
	B_BEHAVIOURS /* count */
};

struct track;

/* The arguments and the record of one task (pool, loop, bridge, group),
 * or of a then() continuation. Owned by the harness, freed at teardown,
 * so a task that never runs leaks nothing. */
struct spec {
	int beh;
	bool on_loop;
	void *value;
	int code;
	int64_t timeout;
	int ntargets;
	spool_future *targets[3]; /* references, dropped at teardown */
	struct track *target_track[3];
	_Atomic int ran;
	_Atomic int finished;
	_Atomic int ret;
	/* then(): what the continuation saw of its source */
	_Atomic int src_final;
};

struct track {
	enum kind kind;
	spool_future *f; /* valid while refs > 0 */
	uint64_t id;     /* f's id: a changed id means f was freed under us */
	int refs;        /* the harness's references to f */
	int slot;        /* index in the table, -1 when retired */
	spool_state last;
	int final_err;
	void *final_value;
	/* promises */
	bool started;
	bool cancel_ok;   /* a gather's cancel returned 0: it ends CANCELLED */
	_Atomic int wins; /* set_result/set_error calls that returned 0 */
	_Atomic int win_err;
	void *_Atomic win_value;
	/* tasks, bridges, thens */
	struct spec *spec;
	/* a map's executor or a then's: 0 inline, 1 pool, 2 loop */
	int ex;
	/* gathers and maps */
	size_t n;
	unsigned flags;
	spool_future *kids[MAX_KIDS]; /* gather children: references */
	struct track *kid_tracks[MAX_KIDS];
	uintptr_t args[MAX_KIDS]; /* map arguments */
};

struct cbrec {
	spool_future *f;
	_Atomic int runs;
	_Atomic int bad; /* ran on a future that was not f or not final */
};

static struct track tracks[MAX_TRACKS];
static int ntracks;
static struct track *table[MAX_HANDLES];
static struct spec *specs[MAX_SPECS];
static int nspecs;
static struct cbrec cbs[MAX_CBS];
static int ncbs;

static spool_pool *pool;
static spool_loop *loop;
static long baseline;

/* ---- invariants -------------------------------------------------------- */

static bool is_final(spool_state s)
{
	return s == SPOOL_DONE || s == SPOOL_FAILED || s == SPOOL_CANCELLED;
}

static void check_spec_outcome(const struct track *t, spool_state s, int err,
			       void *value)
{
	const struct spec *sp = t->spec;
	int ran = atomic_load(&sp->ran);
	int finished = atomic_load(&sp->finished);
	int ret = atomic_load(&sp->ret);
	CHECK(ran <= 1, "%s %p ran %d times", kind_names[t->kind], (void *)t->f,
	      ran);
	/* A bridge's outer future is a plain future: cancelling it ends it
	 * at once and only forwards the request to the work. */
	bool bridge_cancelled = t->kind == K_BRIDGE && s == SPOOL_CANCELLED;
	CHECK(!ran || finished || bridge_cancelled,
	      "%s %p is final (%d) but its function has not returned",
	      kind_names[t->kind], (void *)t->f, (int)s);
	switch (s) {
	case SPOOL_DONE:
		CHECK(ran == 1 && ret == 0, "%s %p DONE but ran=%d ret=%d",
		      kind_names[t->kind], (void *)t->f, ran, ret);
		CHECK(value == sp->value, "%s %p DONE with %p, returned %p",
		      kind_names[t->kind], (void *)t->f, value, sp->value);
		if (t->kind == K_THEN)
			CHECK(atomic_load(&sp->src_final),
			      "then %p ran before its source was final",
			      (void *)t->f);
		break;
	case SPOOL_FAILED:
		if (err > 0)
			CHECK(ran == 1 && ret == err,
			      "%s %p FAILED %d but ran=%d ret=%d",
			      kind_names[t->kind], (void *)t->f, err, ran, ret);
		else
			CHECK(ran == 0 && (err == SPOOL_ESHUTDOWN ||
					   err == SPOOL_ENOMEM),
			      "%s %p FAILED %d (%s), ran=%d",
			      kind_names[t->kind], (void *)t->f, err,
			      spool_err_name(err), ran);
		break;
	case SPOOL_CANCELLED:
		CHECK(ran == 0 || ret == SPOOL_ECANCELLED || bridge_cancelled,
		      "%s %p CANCELLED but its function returned %d",
		      kind_names[t->kind], (void *)t->f, ret);
		break;
	default:
		break;
	}
}

static void check_gather_outcome(const struct track *t, spool_state s, int err)
{
	spool_future *g = t->f;
	bool all_final = true, some_ended = false, err_seen = false;
	for (size_t i = 0; i < t->n; i++) {
		spool_future *c = t->kids[i];
		int ce = spool_future_error(c);
		if (!spool_future_done(c))
			all_final = false;
		else if (ce != 0)
			some_ended = true; /* cancelled, or failed */
		if (spool_future_done(c) && ce == err)
			err_seen = true;
	}
	bool collect = t->flags & SPOOL_RETURN_ERRORS;
	switch (s) {
	case SPOOL_DONE: {
		CHECK(spool_gather_size(g) == t->n,
		      "gather %p has %zu slots, made with %zu", (void *)g,
		      spool_gather_size(g), t->n);
		void **vals = spool_future_value(g);
		CHECK(t->n > 0 || vals == NULL, "empty gather has a value");
		for (size_t i = 0; i < t->n; i++) {
			spool_future *c = t->kids[i];
			void *v = (void *)1;
			int rc = spool_gather_result(g, i, &v);
			CHECK(spool_future_done(c),
			      "gather %p DONE with child %zu not final",
			      (void *)g, i);
			int ce = spool_future_error(c);
			if (!collect)
				CHECK(ce == 0,
				      "gather %p DONE but child %zu ended %d",
				      (void *)g, i, ce);
			CHECK(rc == ce, "gather %p slot %zu says %d, child %d",
			      (void *)g, i, rc, ce);
			void *want = ce == 0 ? spool_future_value(c) : NULL;
			CHECK(v == want,
			      "gather %p slot %zu value %p, child's %p",
			      (void *)g, i, v, want);
			CHECK(vals[i] == want,
			      "gather %p array[%zu] %p, child's %p", (void *)g,
			      i, vals[i], want);
		}
		break;
	}
	case SPOOL_FAILED:
		CHECK(!collect, "gather %p (RETURN_ERRORS) FAILED %d",
		      (void *)g, err);
		CHECK(err_seen || err == SPOOL_ENOMEM,
		      "gather %p FAILED %d, which no child has", (void *)g,
		      err);
		break;
	case SPOOL_CANCELLED:
		/* Without RETURN_ERRORS a cancelled gather ends at the
		 * first child that ends other than DONE (combinators.h). */
		CHECK(all_final || (!collect && some_ended),
		      "gather %p CANCELLED while children still run and none "
		      "ended cancelled or failed",
		      (void *)g);
		break;
	default:
		CHECK(spool_gather_result(g, 0, NULL) == SPOOL_EAGAIN ||
			      t->n == 0,
		      "pending gather %p gives a slot result", (void *)g);
		break;
	}
}

/* Map element i: arg = tag << 4 | behaviour. */
static int map_beh(uintptr_t a)
{
	return (int)(a & 3);
}

static int map_code(uintptr_t a)
{
	return (int)((a >> 4) % 97) + 1;
}

static void check_map_outcome(const struct track *t, spool_state s, int err)
{
	spool_future *m = t->f;
	switch (s) {
	case SPOOL_DONE:
		CHECK(spool_gather_size(m) == t->n,
		      "map %p has %zu slots of %zu", (void *)m,
		      spool_gather_size(m), t->n);
		for (size_t i = 0; i < t->n; i++) {
			void *v = NULL;
			int rc = spool_gather_result(m, i, &v);
			CHECK(rc == 0 && v == (void *)t->args[i],
			      "map %p slot %zu: %d %p, want 0 %p", (void *)m, i,
			      rc, v, (void *)t->args[i]);
			CHECK(map_beh(t->args[i]) != 1,
			      "map %p DONE though element %zu fails", (void *)m,
			      i);
		}
		break;
	case SPOOL_FAILED: {
		bool known = err == SPOOL_ENOMEM || err == SPOOL_ESHUTDOWN;
		for (size_t i = 0; i < t->n; i++)
			if (map_beh(t->args[i]) == 1 &&
			    map_code(t->args[i]) == err)
				known = true;
		CHECK(known, "map %p FAILED %d, which no element returns",
		      (void *)m, err);
		break;
	}
	default:
		break;
	}
}

/* The checks on one live track: a legal state, consistent readers, no
 * going back, a final state that never changes. */
static void check_track(struct track *t)
{
	if (t->refs == 0)
		return;
	spool_future *f = t->f;
	CHECK(spool_future_id(f) == t->id,
	      "%s %p has id %llu, was %llu: freed and reused while the "
	      "harness holds %d reference(s)",
	      kind_names[t->kind], (void *)f,
	      (unsigned long long)spool_future_id(f), (unsigned long long)t->id,
	      t->refs);
	/* A future may move on between the reads: read the state before
	 * and after the others, and only compare a snapshot it did not move
	 * out of. */
	spool_state s;
	bool done;
	int err;
	void *value;
	for (int tries = 0;; tries++) {
		s = spool_future_state(f);
		CHECK(s >= SPOOL_PENDING && s <= SPOOL_CANCELLED,
		      "%s %p in state %d", kind_names[t->kind], (void *)f,
		      (int)s);
		done = spool_future_done(f);
		err = spool_future_error(f);
		value = spool_future_value(f);
		spool_state s2 = spool_future_state(f);
		CHECK(!is_final(s) || s2 == s, "%s %p went from final %d to %d",
		      kind_names[t->kind], (void *)f, (int)s, (int)s2);
		if (s2 == s)
			break;
		CHECK(tries < 1000, "%s %p: state never holds still",
		      kind_names[t->kind], (void *)f);
	}
	if (is_final(t->last)) {
		CHECK(s == t->last && err == t->final_err &&
			      value == t->final_value,
		      "%s %p changed after it was final: state %d -> %d, "
		      "error %d -> %d, value %p -> %p",
		      kind_names[t->kind], (void *)f, (int)t->last, (int)s,
		      t->final_err, err, t->final_value, value);
		return;
	}
	CHECK(!(t->last == SPOOL_RUNNING && s == SPOOL_PENDING),
	      "%s %p went from RUNNING back to PENDING", kind_names[t->kind],
	      (void *)f);
	if (!is_final(s)) {
		CHECK(!done && err == SPOOL_EAGAIN && value == NULL,
		      "%s %p not final (%d) but done=%d error=%d value=%p",
		      kind_names[t->kind], (void *)f, (int)s, done, err, value);
		t->last = s;
		return;
	}
	CHECK(done, "%s %p final (%d) but not done", kind_names[t->kind],
	      (void *)f, (int)s);
	switch (s) {
	case SPOOL_DONE:
		CHECK(err == 0, "%s %p DONE with error %d", kind_names[t->kind],
		      (void *)f, err);
		break;
	case SPOOL_FAILED:
		CHECK(err != 0 && err != SPOOL_ECANCELLED && value == NULL,
		      "%s %p FAILED with error %d value %p",
		      kind_names[t->kind], (void *)f, err, value);
		break;
	default:
		CHECK(err == SPOOL_ECANCELLED && value == NULL,
		      "%s %p CANCELLED with error %d value %p",
		      kind_names[t->kind], (void *)f, err, value);
		break;
	}
	t->last = s;
	t->final_err = err;
	t->final_value = value;
	switch (t->kind) {
	case K_PROMISE:
		if (atomic_load(&t->wins)) {
			int we = atomic_load(&t->win_err);
			spool_state ws = we == 0 ? SPOOL_DONE
					 : we == SPOOL_ECANCELLED
						 ? SPOOL_CANCELLED
						 : SPOOL_FAILED;
			CHECK(s == ws && err == we &&
				      (we != 0 ||
				       value == atomic_load(&t->win_value)),
			      "promise %p won by (%d, %p) ended (%d, %d, %p)",
			      (void *)f, we, atomic_load(&t->win_value), (int)s,
			      err, value);
		}
		break;
	case K_POOL:
	case K_LOOP:
	case K_BRIDGE:
	case K_THEN:
		check_spec_outcome(t, s, err, value);
		break;
	case K_GATHER:
		CHECK(!t->cancel_ok || s == SPOOL_CANCELLED,
		      "gather %p: cancel gave 0, but it ended %d", (void *)f,
		      (int)s);
		check_gather_outcome(t, s, err);
		break;
	case K_MAP:
		check_map_outcome(t, s, err);
		break;
	}
}

static void check_all(void)
{
	for (int i = 0; i < ntracks; i++)
		check_track(&tracks[i]);
	for (int i = 0; i < ntracks; i++) {
		int w = atomic_load(&tracks[i].wins);
		CHECK(w <= 1, "promise %p completed by %d calls",
		      (void *)tracks[i].f, w);
	}
	for (int i = 0; i < ncbs; i++) {
		CHECK(atomic_load(&cbs[i].runs) <= 1,
		      "callback %d on %p ran %d times", i, (void *)cbs[i].f,
		      atomic_load(&cbs[i].runs));
		CHECK(!atomic_load(&cbs[i].bad),
		      "callback %d ran on a future that was not its own or "
		      "not final",
		      i);
	}
}

/* ---- the table --------------------------------------------------------- */

static struct track *pick(uint8_t b)
{
	for (int k = 0; k < MAX_HANDLES; k++) {
		struct track *t = table[(b + k) % MAX_HANDLES];
		if (t)
			return t;
	}
	return NULL;
}

/* A new track for f (a new reference, owned by the track), in the first
 * empty slot or else in slot b, whose handle is retired. NULL f (out of
 * memory, which the fuzzer does not provoke) is a failure. */
static struct track *add(spool_future *f, enum kind kind, uint8_t b)
{
	CHECK(f != NULL, "a %s came back NULL", kind_names[kind]);
	if (ntracks == MAX_TRACKS) {
		/* Out of records: keep the future alive until teardown
		 * without tracking it. Cannot happen within MAX_OPS. */
		fuzz_fail("out of track records");
	}
	struct track *t = &tracks[ntracks++];
	memset(t, 0, sizeof *t);
	t->kind = kind;
	t->f = f;
	t->id = spool_future_id(f);
	t->refs = 1;
	t->last = SPOOL_PENDING;
	int slot = -1;
	for (int i = 0; i < MAX_HANDLES && slot < 0; i++)
		if (!table[i])
			slot = i;
	if (slot < 0) {
		slot = b % MAX_HANDLES;
		table[slot]->slot = -1;
	}
	table[slot] = t;
	t->slot = slot;
	if (tracing)
		fprintf(stderr, "  new %s %p in slot %d\n", kind_names[kind],
			(void *)f, slot);
	return t; /* checked once the caller has filled it in */
}

/* Drops one of the harness's references; the last one empties the slot.
 * A pending promise keeps its last reference (see the top). */
static void drop(struct track *t)
{
	if (t->refs == 1 && t->kind == K_PROMISE && !spool_future_done(t->f))
		return;
	if (t->refs == 1) {
		check_track(t);
		if (t->slot >= 0)
			table[t->slot] = NULL;
		t->slot = -1;
	}
	t->refs--;
	spool_future_release(t->f);
}

/* ---- task bodies ------------------------------------------------------- */

static struct spec *spec_new(void)
{
	CHECK(nspecs < MAX_SPECS, "out of specs");
	struct spec *sp = calloc(1, sizeof *sp);
	CHECK(sp != NULL, "calloc");
	specs[nspecs++] = sp;
	return sp;
}

/* Fills sp from the input: behaviour, value, code, timeout, targets. */
static void spec_read(struct spec *sp, bool on_loop)
{
	sp->on_loop = on_loop;
	sp->beh = u8() % B_BEHAVIOURS;
	uint8_t v = u8();
	sp->value = v ? (void *)(uintptr_t)(0x10000 + v * 16) : NULL;
	sp->code = v % 97 + 1;
	sp->timeout = small_timeout(u8());
	int want = sp->beh == B_GATHER ? 1 + u8() % 3
		   : sp->beh == B_WAIT || sp->beh == B_COMPLETE ||
				   sp->beh == B_WAIT_FOR
			   ? 1
			   : 0;
	for (int i = 0; i < want; i++) {
		struct track *t = pick(u8());
		if (!t)
			break;
		if (sp->beh == B_COMPLETE && t->kind != K_PROMISE)
			break;
		/* A pool task's wait_for waits without a bound once it has
		 * cancelled its target, so the target must end by itself:
		 * a pool task that never waits. One that waits may be the
		 * task this one was run on top of while it helped, and
		 * could then never end (see the top). */
		if (sp->beh == B_WAIT_FOR && !on_loop &&
		    (t->kind != K_POOL || t->spec->beh > B_POLL))
			break;
		sp->targets[sp->ntargets] = spool_future_retain(t->f);
		sp->target_track[sp->ntargets] = t;
		sp->ntargets++;
	}
	if (sp->ntargets < want)
		sp->beh = B_VALUE; /* nothing suitable to point at */
}

static void spin_us(int us)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	do {
		clock_gettime(CLOCK_MONOTONIC, &b);
	} while ((b.tv_sec - a.tv_sec) * 1000000 +
			 (b.tv_nsec - a.tv_nsec) / 1000 <
		 us);
}

static int child_task(void *arg, void **result)
{
	*result = arg;
	return 0;
}

/* Completes promise target 0; a win is recorded on its track. */
static void complete_target(struct spec *sp)
{
	struct track *t = sp->target_track[0];
	int rc;
	int err = 0;
	if (sp->code % 3 == 0) {
		rc = spool_promise_set_result(sp->targets[0], sp->value);
	} else {
		err = sp->code % 3 == 1 ? sp->code : SPOOL_ECANCELLED;
		rc = spool_promise_set_error(sp->targets[0], err);
	}
	if (rc == 0) {
		atomic_store(&t->win_err, err);
		atomic_store(&t->win_value, sp->value);
		atomic_fetch_add(&t->wins, 1);
	} else if (rc != SPOOL_ESTATE) {
		fuzz_fail("completing promise %p from a task gave %d",
			  (void *)sp->targets[0], rc);
	}
}

static int spec_body(struct spec *sp)
{
	switch (sp->beh) {
	case B_VALUE:
		return 0;
	case B_FAIL:
		return sp->code;
	case B_POLL:
		for (int i = 0; i < 8; i++) {
			if (spool_cancel_requested())
				return SPOOL_ECANCELLED;
			if (sp->on_loop) {
				if (spool_sleep(0) == SPOOL_ECANCELLED)
					return SPOOL_ECANCELLED;
			} else {
				spin_us(10);
			}
		}
		return 0;
	case B_WAIT: {
		int rc = spool_future_wait(sp->targets[0], sp->timeout);
		CHECK(rc == 0 || rc == SPOOL_ETIMEDOUT ||
			      rc == SPOOL_ECANCELLED,
		      "wait in a task gave %d", rc);
		if (rc == 0)
			CHECK(spool_future_done(sp->targets[0]),
			      "wait returned 0 on a future that is not final");
		return rc == SPOOL_ECANCELLED ? SPOOL_ECANCELLED : 0;
	}
	case B_COMPLETE:
		complete_target(sp);
		return 0;
	case B_GATHER: {
		spool_future *g = spool_gather(sp->targets,
					       (size_t)sp->ntargets,
					       (unsigned)sp->code & 1);
		CHECK(g != NULL, "gather in a task gave NULL");
		int rc = spool_future_wait(g, sp->timeout);
		spool_future_release(g);
		return rc == SPOOL_ECANCELLED ? SPOOL_ECANCELLED : 0;
	}
	case B_WAIT_FOR: {
		int rc = spool_wait_for(sp->targets[0], sp->timeout, NULL);
		if (rc == SPOOL_ETIMEDOUT)
			CHECK(spool_future_done(sp->targets[0]),
			      "wait_for timed out and left its future pending");
		return rc == SPOOL_ECANCELLED ? SPOOL_ECANCELLED : 0;
	}
	case B_CHILD:
		if (sp->on_loop) {
			int rc = spool_sleep(sp->timeout / 4);
			return rc == SPOOL_ECANCELLED ? SPOOL_ECANCELLED : 0;
		} else {
			spool_future *c = spool_submit(
				spool_pool_executor(pool), child_task,
				sp->value);
			CHECK(c != NULL, "child submit gave NULL");
			void *v = NULL;
			int rc = spool_future_result(c, SPOOL_FOREVER, &v);
			CHECK(rc == 0 && v == sp->value,
			      "child task: %d %p, want 0 %p", rc, v, sp->value);
			spool_future_release(c);
			return 0;
		}
	}
	return 0;
}

static int task_fn(void *arg, void **result)
{
	struct spec *sp = arg;
	atomic_fetch_add(&sp->ran, 1);
	int rc = spec_body(sp);
	if (rc == 0)
		*result = sp->value;
	atomic_store(&sp->ret, rc);
	atomic_store(&sp->finished, 1);
	return rc;
}

static int then_fn(spool_future *src, void *arg, void **result)
{
	struct spec *sp = arg;
	atomic_store(&sp->src_final, spool_future_done(src));
	return task_fn(sp, result);
}

static int map_fn(void *arg, void **result)
{
	uintptr_t a = (uintptr_t)arg;
	switch (map_beh(a)) {
	case 1:
		return map_code(a);
	case 2:
		for (int i = 0; i < 4; i++) {
			if (spool_cancel_requested())
				return SPOOL_ECANCELLED;
			if (spool_loop_current())
				spool_sleep(0);
			else
				spin_us(5);
		}
		break;
	default:
		break;
	}
	*result = arg;
	return 0;
}

static void callback_fn(spool_future *f, void *arg)
{
	struct cbrec *r = arg;
	if (f != r->f || !spool_future_done(f))
		atomic_store(&r->bad, 1);
	atomic_fetch_add(&r->runs, 1);
}

/* ---- waiting on the fuzzer's thread ------------------------------------ */

/* True if f ends by itself once cancelled, without the loop running and
 * without the harness completing a promise (spool_wait_for waits for
 * that without a bound). */
static bool settleable(const struct track *t, int depth)
{
	if (spool_future_done(t->f))
		return true;
	if (depth > 8)
		return false;
	switch (t->kind) {
	case K_PROMISE:
		return !t->started;
	case K_POOL:
		return true;
	case K_MAP:
	case K_THEN:
		return t->ex != 2;
	case K_GATHER:
		for (size_t i = 0; i < t->n; i++)
			if (!settleable(t->kid_tracks[i], depth + 1))
				return false;
		return true;
	default:
		return false;
	}
}

static spool_executor *executor(int which)
{
	switch (which % 3) {
	case 0:
		return spool_executor_inline();
	case 1:
		return spool_pool_executor(pool);
	default:
		return spool_loop_executor(loop);
	}
}

/* One loop iteration on this thread (stop first: run returns after it). */
static void loop_step(void)
{
	spool_loop_stop(loop);
	int rc = spool_loop_run(loop);
	CHECK(rc == 0, "spool_loop_run gave %d", rc);
}

static void stop_cb(spool_loop *l, void *arg)
{
	(void)arg;
	spool_loop_stop(l);
}

/* Reads up to MAX_KIDS handles into fs; returns how many. */
static size_t read_inputs(spool_future **fs, struct track **ts)
{
	size_t n = u8() % (MAX_KIDS + 1);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		struct track *t = pick(u8());
		if (!t)
			break;
		fs[k] = t->f;
		ts[k] = t;
		k++;
	}
	return k;
}

static bool before(spool_future *const *fs, size_t k, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (fs[j] == fs[i])
			return true;
	(void)k;
	return false;
}

static size_t distinct(spool_future *const *fs, size_t k)
{
	size_t d = 0;
	for (size_t i = 0; i < k; i++)
		d += !before(fs, k, i);
	return d;
}

/* ---- operations -------------------------------------------------------- */

enum op {
	OP_PROMISE,
	OP_START,
	OP_SET_RESULT,
	OP_SET_ERROR,
	OP_CANCEL,
	OP_CALLBACK,
	OP_RETAIN,
	OP_RELEASE,
	OP_POOL_TASK,
	OP_LOOP_TASK,
	OP_BRIDGE,
	OP_GATHER,
	OP_WAIT_ONE,
	OP_WAIT_MANY,
	OP_AS_COMPLETED,
	OP_WAIT_FOR,
	OP_GROUP,
	OP_MAP,
	OP_THEN,
	OP_STEP,
	OP_RUN_UNTIL,
	OP_RUN_TASK,
	OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
	"promise",   "start",   "set_result", "set_error", "cancel",
	"callback",  "retain",  "release",    "pool_task", "loop_task",
	"bridge",    "gather",  "wait",       "wait_many", "as_completed",
	"wait_for",  "group",   "map",        "then",      "step",
	"run_until", "run_task"};

static void op_set(struct track *t, bool result)
{
	void *value = (void *)(uintptr_t)(0x20000 + u8() * 16);
	int err = 0;
	if (!result) {
		static const int errs[5] = {7, SPOOL_ECANCELLED,
					    SPOOL_ETIMEDOUT, 0, 42};
		err = errs[u8() % 5];
	}
	bool was_final = spool_future_done(t->f);
	int rc = result ? spool_promise_set_result(t->f, value)
			: spool_promise_set_error(t->f, err);
	if (t->kind != K_PROMISE) {
		CHECK(rc == SPOOL_EINVAL,
		      "set_%s on a %s gave %d, not SPOOL_EINVAL",
		      result ? "result" : "error", kind_names[t->kind], rc);
		return;
	}
	if (!result && err == 0) {
		CHECK(rc == SPOOL_EINVAL, "set_error(0) gave %d", rc);
		return;
	}
	if (rc == 0) {
		CHECK(!was_final, "set on final promise %p gave 0",
		      (void *)t->f);
		atomic_store(&t->win_err, err);
		atomic_store(&t->win_value, value);
		atomic_fetch_add(&t->wins, 1);
	} else {
		CHECK(rc == SPOOL_ESTATE, "set on promise gave %d", rc);
		/* Final, or being completed by another thread (a task that
		 * completes this promise, a cancel): final moments later
		 * (future.h). */
		CHECK(spool_future_done(t->f) ||
			      (spool_future_wait(t->f, 10 * SPOOL_NS_PER_S) ==
				       0 &&
			       spool_future_done(t->f)),
		      "set on promise %p gave SPOOL_ESTATE but it did not "
		      "become final",
		      (void *)t->f);
	}
}

static void op_cancel(struct track *t)
{
	spool_state before_s = spool_future_state(t->f);
	int rc = spool_future_cancel(t->f);
	CHECK(rc == 0 || rc == SPOOL_EBUSY || rc == SPOOL_ESTATE,
	      "cancel gave %d", rc);
	CHECK(spool_future_cancel_requested(t->f) || rc == SPOOL_ESTATE ||
		      before_s == SPOOL_CANCELLED,
	      "cancel of %s %p gave %d but no request is recorded",
	      kind_names[t->kind], (void *)t->f, rc);
	/* SPOOL_ESTATE: final, or being completed by another thread with a
	 * value or an error (future.h): then it is final moments later, and
	 * not CANCELLED. */
	if (rc == SPOOL_ESTATE && !spool_future_done(t->f)) {
		CHECK(spool_future_wait(t->f, 10 * SPOOL_NS_PER_S) == 0 &&
			      spool_future_done(t->f),
		      "cancel gave SPOOL_ESTATE on a future that did not "
		      "become final");
		CHECK(spool_future_state(t->f) != SPOOL_CANCELLED,
		      "cancel gave SPOOL_ESTATE on a future then cancelled");
	}
	if (t->kind == K_PROMISE) {
		if (before_s == SPOOL_PENDING)
			CHECK(rc == 0 || rc == SPOOL_ESTATE,
			      "cancel of a pending promise gave %d", rc);
		if (rc == 0)
			CHECK(spool_future_state(t->f) == SPOOL_CANCELLED,
			      "cancel of promise gave 0 but state is %d",
			      (int)spool_future_state(t->f));
		if (before_s == SPOOL_DONE || before_s == SPOOL_FAILED)
			CHECK(rc == SPOOL_ESTATE,
			      "cancel of a final promise gave %d", rc);
	}
	if (t->kind == K_GATHER && rc == 0)
		t->cancel_ok = true;
}

static void op_callback(struct track *t)
{
	if (ncbs == MAX_CBS)
		return;
	struct cbrec *r = &cbs[ncbs++];
	r->f = t->f;
	atomic_store(&r->runs, 0);
	atomic_store(&r->bad, 0);
	bool was_final = spool_future_done(t->f);
	int rc = spool_future_add_callback(t->f, callback_fn, r);
	CHECK(rc == 0, "add_callback gave %d", rc);
	if (was_final)
		CHECK(atomic_load(&r->runs) == 1,
		      "callback on a final future did not run at once");
}

static void op_task(enum kind kind, uint8_t slot)
{
	struct spec *sp = spec_new();
	spec_read(sp, kind == K_LOOP);
	spool_future *f;
	if (kind == K_POOL)
		f = spool_submit(spool_pool_executor(pool), task_fn, sp);
	else if (kind == K_LOOP)
		f = spool_submit(spool_loop_executor(loop), task_fn, sp);
	else
		f = spool_loop_run_in_executor(loop, spool_pool_executor(pool),
					       task_fn, sp);
	struct track *t = add(f, kind, slot);
	t->spec = sp;
	check_track(t);
}

static void op_gather(uint8_t slot)
{
	spool_future *fs[MAX_KIDS];
	struct track *ts[MAX_KIDS];
	unsigned flags = u8() & 1;
	size_t k = read_inputs(fs, ts);
	spool_future *g = spool_gather(fs, k, flags);
	struct track *t = add(g, K_GATHER, slot);
	t->n = k;
	t->flags = flags;
	for (size_t i = 0; i < k; i++) {
		t->kids[i] = spool_future_retain(fs[i]);
		t->kid_tracks[i] = ts[i];
	}
	check_track(t);
}

static void op_wait_one(struct track *t)
{
	int64_t timeout = small_timeout(u8());
	bool was_final = spool_future_done(t->f);
	void *v = (void *)1;
	int rc = spool_future_result(t->f, timeout, &v);
	/* A future may also have FAILED with SPOOL_ETIMEDOUT itself. */
	if (was_final)
		CHECK(rc == spool_future_error(t->f),
		      "result on a final future gave %d, error() %d", rc,
		      spool_future_error(t->f));
	if (rc == SPOOL_ETIMEDOUT) {
		CHECK(v == NULL, "timed-out result set a value");
		return;
	}
	CHECK(spool_future_done(t->f), "result gave %d on a future not final",
	      rc);
	CHECK(rc == spool_future_error(t->f),
	      "result gave %d, error() gives %d", rc, spool_future_error(t->f));
	CHECK(v == (rc == 0 ? spool_future_value(t->f) : NULL),
	      "result's value %p, value() %p", v, spool_future_value(t->f));
}

static void op_wait_many(void)
{
	spool_future *fs[MAX_KIDS];
	struct track *ts[MAX_KIDS];
	spool_wait_when when = (spool_wait_when)(u8() % 3);
	int64_t timeout = small_timeout(u8());
	size_t k = read_inputs(fs, ts);
	size_t prefinal = 0;
	for (size_t i = 0; i < k; i++)
		prefinal += !before(fs, k, i) && spool_future_done(fs[i]);
	bool done[MAX_KIDS];
	size_t nd = 99, np = 99;
	int rc = spool_wait(fs, k, when, timeout, done, &nd, &np);
	CHECK(rc == 0, "spool_wait gave %d", rc);
	size_t d = distinct(fs, k);
	CHECK(nd + np == d, "spool_wait: %zu done + %zu pending of %zu", nd, np,
	      d);
	CHECK(nd >= prefinal, "spool_wait: %zu done, %zu were final before", nd,
	      prefinal);
	size_t seen = 0;
	for (size_t i = 0; i < k; i++) {
		if (done[i])
			CHECK(spool_future_done(fs[i]),
			      "spool_wait: done[%zu] but not final", i);
		seen += done[i] && !before(fs, k, i);
	}
	CHECK(seen == nd, "spool_wait: done[] has %zu, ndone %zu", seen, nd);
	if (when == SPOOL_ALL_COMPLETED && np == 0)
		for (size_t i = 0; i < k; i++)
			CHECK(done[i], "all done but done[%zu] false", i);
}

static void op_as_completed(void)
{
	spool_future *fs[MAX_KIDS];
	struct track *ts[MAX_KIDS];
	int64_t timeout = small_timeout(u8());
	size_t k = read_inputs(fs, ts);
	bool pre[MAX_KIDS];
	for (size_t i = 0; i < k; i++)
		pre[i] = spool_future_done(fs[i]);
	spool_as_completed *it = NULL;
	int rc = spool_as_completed_create(&it, fs, k, timeout);
	CHECK(rc == 0 && it, "as_completed_create gave %d", rc);
	bool post[MAX_KIDS];
	for (size_t i = 0; i < k; i++)
		post[i] = spool_future_done(fs[i]);
	bool given[MAX_KIDS] = {false};
	size_t ngiven = 0, last_pre = 0;
	bool pending_given = false;
	for (size_t round = 0; round <= k + 1; round++) {
		spool_future *f = (spool_future *)1;
		size_t idx = 99;
		rc = spool_as_completed_next(it, &f, &idx);
		if (rc == SPOOL_EOF || rc == SPOOL_ETIMEDOUT) {
			CHECK(f == NULL, "next gave %d and a future", rc);
			if (rc == SPOOL_EOF)
				CHECK(ngiven == distinct(fs, k),
				      "as_completed: EOF after %zu of %zu",
				      ngiven, distinct(fs, k));
			else
				CHECK(spool_as_completed_next(it, &f, NULL) ==
					      SPOOL_ETIMEDOUT,
				      "next after a timeout did not time out");
			break;
		}
		CHECK(rc == 0, "as_completed_next gave %d", rc);
		CHECK(idx < k && fs[idx] == f && !before(fs, k, idx),
		      "as_completed gave %p at index %zu", (void *)f, idx);
		CHECK(!given[idx], "as_completed gave input %zu twice", idx);
		CHECK(spool_future_done(f),
		      "as_completed gave a pending future");
		given[idx] = true;
		ngiven++;
		/* Those final before create come first, in input order, and
		 * before any that was still pending after create. */
		if (pre[idx]) {
			CHECK(!pending_given,
			      "input %zu, final before create, came after one "
			      "that was pending",
			      idx);
			CHECK(idx >= last_pre,
			      "inputs final before create out of order");
			last_pre = idx;
		} else if (!post[idx]) {
			pending_given = true;
		}
		CHECK(round < k, "as_completed gave more than its inputs");
	}
	spool_as_completed_destroy(it);
}

static void op_wait_for(struct track *t)
{
	int64_t timeout = small_timeout(u8());
	if (!settleable(t, 0)) {
		/* Only a bounded wait here: see the top. */
		int rc = spool_future_wait(t->f, timeout);
		CHECK(rc == 0 || rc == SPOOL_ETIMEDOUT, "wait gave %d", rc);
		return;
	}
	void *v = (void *)1;
	int rc = spool_wait_for(t->f, timeout, &v);
	CHECK(spool_future_done(t->f), "wait_for gave %d, future not final",
	      rc);
	if (rc == SPOOL_ETIMEDOUT && spool_future_error(t->f) != rc) {
		CHECK(v == NULL, "timed-out wait_for set a value");
		return;
	}
	CHECK(rc == spool_future_error(t->f), "wait_for gave %d, error %d", rc,
	      spool_future_error(t->f));
	CHECK(v == (rc == 0 ? spool_future_value(t->f) : NULL),
	      "wait_for's value %p, value() %p", v, spool_future_value(t->f));
}

static void op_group(uint8_t slot)
{
	bool on_loop = u8() & 1;
	size_t max_running = u8() % 3;
	size_t n = u8() % (MAX_KIDS + 1);
	uint8_t how = u8();
	spool_group *g = NULL;
	spool_executor *ex = on_loop ? spool_loop_executor(loop)
				     : spool_pool_executor(pool);
	int rc = spool_group_create(&g, ex, max_running);
	CHECK(rc == 0, "group_create gave %d", rc);
	size_t spawned = 0;
	for (size_t i = 0; i < n; i++) {
		struct spec *sp = spec_new();
		spec_read(sp, on_loop);
		spool_future *task = NULL;
		rc = spool_group_spawn(g, task_fn, sp, &task);
		if (rc == SPOOL_ECANCELLED) {
			CHECK(task == NULL, "refused spawn gave a task");
			continue;
		}
		CHECK(rc == 0, "group_spawn gave %d", rc);
		struct track *t = add(task, on_loop ? K_LOOP : K_POOL, slot);
		t->spec = sp;
		check_track(t);
		spawned++;
	}
	if (how & 1)
		CHECK(spool_group_cancel(g) == 0, "group_cancel failed");
	rc = spool_group_join(g, small_timeout(how >> 1));
	size_t nf = spool_group_failures(g);
	if (rc == 0)
		CHECK(nf == 0, "join gave 0 with %zu failures", nf);
	else if (rc > 0)
		CHECK(nf > 0 && spool_group_failure(g, 0, NULL) == rc,
		      "join gave %d, first failure %d of %zu", rc,
		      nf ? spool_group_failure(g, 0, NULL) : 0, nf);
	else
		CHECK(rc == SPOOL_ETIMEDOUT || rc == SPOOL_ECANCELLED ||
			      rc == SPOOL_ESHUTDOWN,
		      "join gave %d", rc);
	for (size_t i = 0; i < nf; i++) {
		size_t idx = 99;
		int e = spool_group_failure(g, i, &idx);
		CHECK(e != 0 && e != SPOOL_ECANCELLED && idx < n,
		      "failure %zu: %d at %zu", i, e, idx);
	}
	spool_group_destroy(g);
}

static void op_map(uint8_t slot)
{
	int which = u8() % 3;
	size_t n = u8() % (MAX_KIDS + 1);
	size_t window = u8() % 3;
	uintptr_t args[MAX_KIDS];
	for (size_t i = 0; i < n; i++) {
		uintptr_t tag = u8();
		args[i] = tag << 4 | (u8() % 3);
	}
	spool_future *m = spool_map(executor(which), map_fn, (void **)args, n,
				    window);
	struct track *t = add(m, K_MAP, slot);
	t->ex = which;
	t->n = n;
	memcpy(t->args, args, sizeof args);
	check_track(t);
}

static void op_then(struct track *src, uint8_t slot)
{
	int which = u8() % 3;
	struct spec *sp = spec_new();
	/* A continuation does only the simple things: it may run inline
	 * inside another thread's completion. */
	sp->beh = u8() % 3; /* B_VALUE, B_FAIL, B_POLL */
	uint8_t v = u8();
	sp->value = v ? (void *)(uintptr_t)(0x30000 + v * 16) : NULL;
	sp->code = v % 97 + 1;
	sp->on_loop = which == 2;
	spool_future *c = spool_then(src->f, executor(which), then_fn, sp);
	struct track *t = add(c, K_THEN, slot);
	t->spec = sp;
	t->ex = which;
	check_track(t);
}

static void op_run_until(struct track *t)
{
	int rc = spool_loop_call_later(loop, 200 * US, stop_cb, NULL, NULL);
	CHECK(rc == 0, "call_later gave %d", rc);
	bool was_final = spool_future_done(t->f);
	rc = spool_loop_run_until_complete(loop, t->f);
	if (rc == SPOOL_EAGAIN) {
		CHECK(!was_final, "run_until_complete on a final future: "
				  "SPOOL_EAGAIN");
		return;
	}
	CHECK(spool_future_done(t->f),
	      "run_until_complete gave %d, future not final", rc);
	CHECK(rc == spool_future_error(t->f),
	      "run_until_complete gave %d, error %d", rc,
	      spool_future_error(t->f));
}

/* run_task's outcomes differ from every other completer's, so the final
 * state tells whether it won. */
static int run_task_code(uintptr_t a)
{
	return (a & 1) ? 1000 + (int)(a >> 1) : 0;
}

static void *run_task_value(uintptr_t a)
{
	return (a & 1) ? NULL : (void *)(uintptr_t)(0x40000 + a * 16);
}

static int run_task_fn(void *arg, void **result)
{
	uintptr_t a = (uintptr_t)arg;
	CHECK(spool_current_future() != NULL, "run_task: no current future");
	*result = run_task_value(a);
	return run_task_code(a);
}

static void op_run_task(struct track *t)
{
	uintptr_t a = u8();
	if (t->kind != K_PROMISE) {
		/* Only promises may be run (spool/executor.h). */
		int rc = spool_run_task(t->f, run_task_fn, (void *)a);
		CHECK(rc == SPOOL_EINVAL,
		      "run_task on a %s gave %d, not SPOOL_EINVAL",
		      kind_names[t->kind], rc);
		return;
	}
	bool was_pending = spool_future_state(t->f) == SPOOL_PENDING;
	int rc = spool_run_task(t->f, run_task_fn, (void *)a);
	if (rc == SPOOL_ESTATE || rc == SPOOL_ECANCELLED) {
		CHECK(!was_pending || spool_future_state(t->f) != SPOOL_PENDING,
		      "run_task on a pending promise gave %d", rc);
		return;
	}
	int want = run_task_code(a);
	CHECK(rc == want, "run_task gave %d, the task returned %d", rc, want);
	CHECK(spool_future_done(t->f), "run_task returned, promise not final");
	/* Another completer (a pool task) may have won the race. */
	if (spool_future_error(t->f) == want &&
	    spool_future_value(t->f) == (want ? NULL : run_task_value(a))) {
		atomic_store(&t->win_err, want);
		atomic_store(&t->win_value, run_task_value(a));
		atomic_fetch_add(&t->wins, 1);
	}
}

static void run_op(uint8_t code)
{
	enum op op = (enum op)(code % OP_COUNT);
	op_name = op_names[op];
	uint8_t b = u8();
	if (tracing)
		fprintf(stderr, "op %d: %s %u\n", op_index, op_name, b);
	struct track *t;
	switch (op) {
	case OP_PROMISE:
		add(spool_promise_new(), K_PROMISE, b);
		break;
	case OP_START:
		if ((t = pick(b)) != NULL) {
			int rc = spool_promise_start(t->f);
			if (t->kind != K_PROMISE) {
				CHECK(rc == SPOOL_EINVAL,
				      "start on a %s gave %d, not SPOOL_EINVAL",
				      kind_names[t->kind], rc);
				break;
			}
			CHECK(rc == 0 || rc == SPOOL_ESTATE ||
				      rc == SPOOL_ECANCELLED,
			      "start gave %d", rc);
			if (rc == 0)
				t->started = true;
			if (rc == SPOOL_ECANCELLED)
				CHECK(spool_future_state(t->f) ==
					      SPOOL_CANCELLED,
				      "start gave SPOOL_ECANCELLED, state %d",
				      (int)spool_future_state(t->f));
		}
		break;
	case OP_SET_RESULT:
	case OP_SET_ERROR:
		if ((t = pick(b)) != NULL)
			op_set(t, op == OP_SET_RESULT);
		break;
	case OP_CANCEL:
		if ((t = pick(b)) != NULL)
			op_cancel(t);
		break;
	case OP_CALLBACK:
		if ((t = pick(b)) != NULL)
			op_callback(t);
		break;
	case OP_RETAIN:
		if ((t = pick(b)) != NULL) {
			CHECK(spool_future_retain(t->f) == t->f, "retain");
			t->refs++;
		}
		break;
	case OP_RELEASE:
		if ((t = pick(b)) != NULL)
			drop(t);
		break;
	case OP_POOL_TASK:
		op_task(K_POOL, b);
		break;
	case OP_LOOP_TASK:
		op_task(K_LOOP, b);
		break;
	case OP_BRIDGE:
		op_task(K_BRIDGE, b);
		break;
	case OP_GATHER:
		op_gather(b);
		break;
	case OP_WAIT_ONE:
		if ((t = pick(b)) != NULL)
			op_wait_one(t);
		break;
	case OP_WAIT_MANY:
		op_wait_many();
		break;
	case OP_AS_COMPLETED:
		op_as_completed();
		break;
	case OP_WAIT_FOR:
		if ((t = pick(b)) != NULL)
			op_wait_for(t);
		break;
	case OP_GROUP:
		op_group(b);
		break;
	case OP_MAP:
		op_map(b);
		break;
	case OP_THEN:
		if ((t = pick(b)) != NULL)
			op_then(t, u8());
		break;
	case OP_STEP:
		for (int i = 0; i <= b % 4; i++)
			loop_step();
		break;
	case OP_RUN_UNTIL:
		if ((t = pick(b)) != NULL)
			op_run_until(t);
		break;
	case OP_RUN_TASK:
		if ((t = pick(b)) != NULL)
			op_run_task(t);
		break;
	case OP_COUNT:
		break;
	}
}

/* ---- setup and teardown ------------------------------------------------ */

static bool quiet(void)
{
	for (int i = 0; i < ntracks; i++)
		if (tracks[i].refs > 0 && !spool_future_done(tracks[i].f))
			return false;
	for (int i = 0; i < nspecs; i++)
		if (atomic_load(&specs[i]->ran) &&
		    !atomic_load(&specs[i]->finished))
			return false;
	return true;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Steps the loop until everything the harness holds is final, for at
 * most limit_ns. */
static void settle(int64_t limit_ns)
{
	int64_t end = now_ns() + limit_ns;
	while (!quiet() && now_ns() < end) {
		loop_step();
		check_all();
	}
}

static void setup(uint8_t flags)
{
	ntracks = 0;
	nspecs = 0;
	ncbs = 0;
	memset(table, 0, sizeof table);
	spool_pool_options po = SPOOL_POOL_OPTIONS_INIT;
	po.workers = POOL_WORKERS;
	po.name = "fuzz";
	CHECK(spool_pool_create(&pool, &po) == 0, "pool_create");
	spool_loop_options lo = SPOOL_LOOP_OPTIONS_INIT;
	lo.flags = flags & (SPOOL_LOOP_TIMERFD | SPOOL_LOOP_SHARED_STACK);
	CHECK(spool_loop_create(&loop, &lo) == 0, "loop_create");
}

static void teardown(void)
{
	op_index = -1;
	op_name = "teardown";
	/* 1. Every promise the harness made is completed (the ones that a
	 *    task already completed answer SPOOL_ESTATE). */
	for (int i = 0; i < ntracks; i++) {
		struct track *t = &tracks[i];
		if (t->kind != K_PROMISE || t->refs == 0)
			continue;
		int rc = spool_promise_set_result(t->f, NULL);
		if (rc == 0) {
			atomic_store(&t->win_err, 0);
			atomic_store(&t->win_value, NULL);
			atomic_fetch_add(&t->wins, 1);
		} else {
			CHECK(rc == SPOOL_ESTATE, "final set_result gave %d",
			      rc);
		}
	}
	check_all();
	/* 2. The loop runs what it can; the pool finishes its work (pool
	 *    tasks only wait with timeouts); then the loop runs what the
	 *    pool's completions sent it. */
	settle(2 * SPOOL_NS_PER_S);
	int rc = spool_pool_shutdown(pool, SPOOL_SHUTDOWN_WAIT);
	CHECK(rc == 0, "pool_shutdown gave %d", rc);
	settle(2 * SPOOL_NS_PER_S);
	/* 3. Destroying the loop cancels and finishes what is left. */
	spool_loop_destroy(loop);
	loop = NULL;
	spool_pool_destroy(pool);
	pool = NULL;
	check_all();
	/* 4. Everything is final, so every callback has run, once. */
	for (int i = 0; i < ntracks; i++)
		if (tracks[i].refs > 0)
			CHECK(spool_future_done(tracks[i].f),
			      "%s %p still pending after teardown",
			      kind_names[tracks[i].kind], (void *)tracks[i].f);
	for (int i = 0; i < nspecs; i++)
		CHECK(!atomic_load(&specs[i]->ran) ||
			      atomic_load(&specs[i]->finished),
		      "a task still runs after teardown");
	for (int i = 0; i < ncbs; i++)
		CHECK(atomic_load(&cbs[i].runs) == 1,
		      "callback %d on %p ran %d times", i, (void *)cbs[i].f,
		      atomic_load(&cbs[i].runs));
	/* 5. Every reference goes back; nothing may stay alive. */
	for (int i = 0; i < ntracks; i++) {
		struct track *t = &tracks[i];
		for (size_t k = 0; k < t->n && t->kind == K_GATHER; k++)
			spool_future_release(t->kids[k]);
		while (t->refs > 0) {
			t->refs--;
			spool_future_release(t->f);
		}
	}
	for (int i = 0; i < nspecs; i++) {
		for (int k = 0; k < specs[i]->ntargets; k++)
			spool_future_release(specs[i]->targets[k]);
		free(specs[i]);
	}
	long live = spool_debug_live_futures();
	CHECK(live == baseline,
	      "%ld futures alive after teardown, %ld before the input", live,
	      baseline);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	baseline = spool_debug_live_futures();
	tracing = getenv("FUZZ_FUTURES_TRACE") != NULL;
	if (baseline < 0) {
		fprintf(stderr, "fuzz_futures: this build does not count live "
				"futures (SPOOL_DEBUG_COUNTERS is off)\n");
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	in_data = data;
	in_size = size;
	in_pos = 0;
	op_index = -1;
	op_name = "setup";
	setup(u8());
	for (op_index = 0; op_index < MAX_OPS && more(); op_index++) {
		run_op(u8());
		check_all();
	}
	teardown();
	return 0;
}
