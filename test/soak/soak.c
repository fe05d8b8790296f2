/* SPDX-License-Identifier: MIT */
/*
 * The soak: a pool and a loop run together for a long time under random
 * cancellations, timeouts, failures and releases from several threads,
 * then everything is torn down and checked.
 *
 * Three client threads share a table of SLOTS futures (each slot under its
 * own mutex, never held across a wait) and pick random operations: make a
 * promise, submit a pool task or a loop task, gather, map, then, a task
 * group, cancel, complete, wait or wait_for with a small timeout,
 * as_completed, add a callback, release. A pool of two workers runs the
 * pool tasks; a loop runs on a thread of its own. Every task ends by
 * itself (its waits have timeouts), so nothing can hang.
 *
 * Checks, at the end (any failure makes the exit status 1):
 *   - every future left in the table is final once its promise is
 *     completed (bounded wait);
 *   - every callback registered ran exactly once;
 *   - spool_debug_live_futures() is back to zero after the pool and the
 *     loop are destroyed;
 *   - RSS is flat: the peak resident size of the last minute is within 5%
 *     of the peak of the minute before half-way (windows of a quarter of
 *     the run for runs shorter than two minutes; the first minutes are
 *     warm-up, see below), sampled once a second from /proc/self/statm.
 * And during the run: a wait that returns 0 saw its future final, and a
 * final future's outcome reads consistently.
 *
 * Duration: argv[1] or SPOOL_SOAK_SECONDS, in seconds (default 60).
 * Prints the operations by kind, the duration, the live futures and RSS
 * sampled each second, then "soak: PASS" or "soak: FAIL (...)".
 */
/* ctest-labels: soak */
#define _GNU_SOURCE
#include <pthread.h>
#include <spool.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
	SLOTS = 64,
	CLIENTS = 3,
	POOL_WORKERS = 2,
	MAX_INPUTS = 4,
	MAX_SAMPLES = 24 * 3600
};

#define US INT64_C(1000)
#define MS SPOOL_NS_PER_MS

/* ---- failures ---------------------------------------------------------- */

static _Atomic int failures;

static __attribute__((format(printf, 1, 2))) void soak_fail(const char *fmt,
							    ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "soak: FAILED CHECK: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	atomic_fetch_add(&failures, 1);
}

/* ---- clock, random ----------------------------------------------------- */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * SPOOL_NS_PER_S + ts.tv_nsec;
}

static void sleep_ns(int64_t ns)
{
	struct timespec ts = {ns / SPOOL_NS_PER_S, ns % SPOOL_NS_PER_S};
	while (nanosleep(&ts, &ts) != 0)
		;
}

static uint64_t next_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static int64_t small_timeout(uint64_t *rng)
{
	static const int64_t t[4] = {0, 50 * US, 200 * US, 1 * MS};
	return t[next_rand(rng) % 4];
}

/* ---- operation counts -------------------------------------------------- */

enum op {
	OP_PROMISE,
	OP_POOL_TASK,
	OP_LOOP_TASK,
	OP_GATHER,
	OP_MAP,
	OP_THEN,
	OP_GROUP,
	OP_CANCEL,
	OP_COMPLETE,
	OP_WAIT,
	OP_WAIT_FOR,
	OP_WAIT_MANY,
	OP_AS_COMPLETED,
	OP_CALLBACK,
	OP_RELEASE,
	OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
	"promise",  "pool_task", "loop_task",    "gather",   "map",
	"then",     "group",     "cancel",       "complete", "wait",
	"wait_for", "wait_many", "as_completed", "callback", "release"};

static _Atomic uint64_t op_counts[OP_COUNT];
static _Atomic uint64_t timeouts_seen, cancels_seen, failures_seen;
static _Atomic uint64_t callbacks_added, callbacks_ran;

/* Backpressure: tasks, maps, continuations and group tasks started and
 * not yet final. Past MAX_IN_FLIGHT a client waits instead of starting
 * more, so that the queues stay short however slow the build (a TSan
 * build runs tasks ten times slower than the clients make them) and RSS
 * measures spool, not a backlog. */
enum { MAX_IN_FLIGHT = 128 };
static _Atomic long in_flight;
static _Atomic uint64_t throttled;

static void finished_cb(spool_future *f, void *arg)
{
	(void)f;
	(void)arg;
	atomic_fetch_sub_explicit(&in_flight, 1, memory_order_relaxed);
}

/* Counts f in flight until it is final. */
static void count_in_flight(spool_future *f)
{
	if (!f)
		return;
	atomic_fetch_add_explicit(&in_flight, 1, memory_order_relaxed);
	if (spool_future_add_callback(f, finished_cb, NULL) != 0) {
		soak_fail("add_callback failed");
		atomic_fetch_sub(&in_flight, 1);
	}
}

/* ---- the executors and the table --------------------------------------- */

static spool_pool *pool;
static spool_loop *loop;

/* What a slot holds. A gather keeps its children as long as it lives,
 * so gathers over gathers would keep ever longer chains of old futures
 * alive and the live set (and RSS) would grow by construction: gathers
 * take only promises and tasks as inputs. */
enum kind { K_NONE, K_PROMISE, K_TASK, K_COMBINED };

struct slot {
	pthread_mutex_t lock;
	spool_future *f; /* a reference, or NULL */
	enum kind kind;
};

static struct slot table[SLOTS];

/* A new reference to the future in slot i (NULL if empty), and its kind. */
static spool_future *slot_get(int i, enum kind *kind)
{
	struct slot *s = &table[i];
	pthread_mutex_lock(&s->lock);
	spool_future *f = spool_future_retain(s->f);
	if (kind)
		*kind = s->kind;
	pthread_mutex_unlock(&s->lock);
	return f;
}

/* Completes f if it is a promise, so that whatever waits on it can end:
 * nobody may drop the last reference to a pending promise. */
static void settle_promise(spool_future *f, enum kind kind, uint64_t r)
{
	if (kind != K_PROMISE)
		return;
	switch (r % 3) {
	case 0:
		spool_promise_set_result(f, (void *)(uintptr_t)(r | 1));
		break;
	case 1:
		spool_promise_set_error(f, (int)(r % 50) + 1);
		break;
	default:
		spool_future_cancel(f);
		break;
	}
}

/* Puts f (a reference the slot takes over) into slot i; the old future
 * is completed if it is a promise and released. */
static void slot_put(int i, spool_future *f, enum kind kind, uint64_t r)
{
	struct slot *s = &table[i];
	pthread_mutex_lock(&s->lock);
	spool_future *old = s->f;
	enum kind old_kind = s->kind;
	s->f = f;
	s->kind = f ? kind : K_NONE;
	pthread_mutex_unlock(&s->lock);
	if (old) {
		settle_promise(old, old_kind, r);
		spool_future_release(old);
	}
}

/* ---- task bodies ------------------------------------------------------- */

enum behaviour { B_VALUE, B_FAIL, B_POLL, B_WAIT, B_GATHER, B_SLEEP, B_N };

/* A task's arguments: references to the futures it waits on. Freed by a
 * done-callback on the task's future, so that a task cancelled before it
 * ran frees them too. */
struct spec {
	int beh;
	int64_t timeout;
	int n;
	spool_future *in[2];
	uintptr_t value;
};

static void spec_free_cb(spool_future *f, void *arg)
{
	(void)f;
	struct spec *sp = arg;
	for (int i = 0; i < sp->n; i++)
		spool_future_release(sp->in[i]);
	free(sp);
}

static void check_final_outcome(spool_future *f)
{
	spool_state st = spool_future_state(f);
	int err = spool_future_error(f);
	if (st == SPOOL_DONE && err != 0)
		soak_fail("DONE future %p has error %d", (void *)f, err);
	if (st == SPOOL_FAILED &&
	    (err == 0 || err == SPOOL_ECANCELLED || spool_future_value(f)))
		soak_fail("FAILED future %p: error %d value %p", (void *)f, err,
			  spool_future_value(f));
	if (st == SPOOL_CANCELLED && err != SPOOL_ECANCELLED)
		soak_fail("CANCELLED future %p has error %d", (void *)f, err);
}

/* Waits for f with a timeout and checks what the wait says. */
static int checked_wait(spool_future *f, int64_t timeout)
{
	int rc = spool_future_wait(f, timeout);
	if (rc == 0) {
		if (!spool_future_done(f))
			soak_fail("wait gave 0 on a pending future %p",
				  (void *)f);
		check_final_outcome(f);
	} else if (rc == SPOOL_ETIMEDOUT) {
		atomic_fetch_add_explicit(&timeouts_seen, 1,
					  memory_order_relaxed);
	} else if (rc != SPOOL_ECANCELLED) {
		soak_fail("wait gave %d (%s)", rc, spool_err_name(rc));
	}
	return rc;
}

static int spin_poll(int64_t ns, bool on_loop)
{
	int64_t end = now_ns() + ns;
	while (now_ns() < end) {
		if (spool_cancel_requested())
			return SPOOL_ECANCELLED;
		if (on_loop && spool_sleep(0) == SPOOL_ECANCELLED)
			return SPOOL_ECANCELLED;
	}
	return 0;
}

static int task_body(struct spec *sp, bool on_loop, void **result)
{
	int rc = 0;
	switch (sp->beh) {
	case B_VALUE:
		break;
	case B_FAIL:
		return (int)(sp->value % 40) + 1;
	case B_POLL:
		rc = spin_poll(sp->timeout, on_loop);
		break;
	case B_WAIT:
		rc = checked_wait(sp->in[0], sp->timeout);
		break;
	case B_GATHER: {
		spool_future *g = spool_gather(sp->in, (size_t)sp->n,
					       sp->value & 1);
		if (!g)
			return SPOOL_ENOMEM;
		rc = checked_wait(g, sp->timeout);
		spool_future_release(g);
		break;
	}
	case B_SLEEP:
		rc = spool_sleep(sp->timeout);
		break;
	}
	if (rc == SPOOL_ECANCELLED)
		return rc;
	*result = (void *)sp->value;
	return 0;
}

static int pool_task(void *arg, void **result)
{
	return task_body(arg, false, result);
}

static int loop_task(void *arg, void **result)
{
	return task_body(arg, true, result);
}

static int leaf_task(void *arg, void **result)
{
	uintptr_t a = (uintptr_t)arg;
	if (a % 7 == 0)
		return (int)(a % 40) + 1;
	if (a % 5 == 0 && spin_poll(20 * US, spool_loop_current() != NULL))
		return SPOOL_ECANCELLED;
	*result = arg;
	return 0;
}

static int then_fn(spool_future *src, void *arg, void **result)
{
	if (!spool_future_done(src))
		soak_fail("then ran before its source %p was final",
			  (void *)src);
	*result = arg;
	return ((uintptr_t)arg % 6 == 0) ? 3 : 0;
}

static void count_cb(spool_future *f, void *arg)
{
	(void)arg;
	if (!spool_future_done(f))
		soak_fail("callback ran on a pending future %p", (void *)f);
	atomic_fetch_add_explicit(&callbacks_ran, 1, memory_order_relaxed);
}

/* ---- client operations ------------------------------------------------- */

static spool_future *submit_spec(bool on_loop, uint64_t *rng)
{
	struct spec *sp = calloc(1, sizeof *sp);
	if (!sp)
		return NULL;
	sp->beh = (int)(next_rand(rng) % B_N);
	sp->timeout = small_timeout(rng);
	sp->value = (uintptr_t)(next_rand(rng) | 1);
	if (sp->beh == B_WAIT || sp->beh == B_GATHER) {
		int want = sp->beh == B_WAIT ? 1 : 2;
		for (int k = 0; k < want; k++) {
			spool_future *f = slot_get(
				(int)(next_rand(rng) % SLOTS), NULL);
			if (f)
				sp->in[sp->n++] = f;
		}
		if (sp->n == 0)
			sp->beh = B_VALUE;
	}
	spool_executor *ex = on_loop ? spool_loop_executor(loop)
				     : spool_pool_executor(pool);
	spool_future *t = spool_submit(ex, on_loop ? loop_task : pool_task, sp);
	if (!t || spool_future_add_callback(t, spec_free_cb, sp) != 0) {
		soak_fail("submit or add_callback failed");
		spec_free_cb(NULL, sp);
		return t;
	}
	count_in_flight(t);
	return t;
}

/* Reads up to MAX_INPUTS futures from random slots; with plain_only, only
 * promises and tasks (see enum kind). */
static size_t pick_inputs(spool_future **fs, bool plain_only, uint64_t *rng)
{
	size_t want = 1 + next_rand(rng) % MAX_INPUTS, n = 0;
	for (size_t k = 0; k < want; k++) {
		enum kind kind;
		spool_future *f = slot_get((int)(next_rand(rng) % SLOTS),
					   &kind);
		if (f && plain_only && kind == K_COMBINED)
			spool_future_release(f);
		else if (f)
			fs[n++] = f;
	}
	return n;
}

static void release_all(spool_future **fs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		spool_future_release(fs[i]);
}

static void client_op(uint64_t *rng)
{
	enum op op = (enum op)(next_rand(rng) % OP_COUNT);
	if ((op == OP_POOL_TASK || op == OP_LOOP_TASK || op == OP_MAP ||
	     op == OP_THEN || op == OP_GROUP) &&
	    atomic_load_explicit(&in_flight, memory_order_relaxed) >=
		    MAX_IN_FLIGHT) {
		atomic_fetch_add_explicit(&throttled, 1, memory_order_relaxed);
		op = OP_WAIT;
	}
	int i = (int)(next_rand(rng) % SLOTS);
	uint64_t r = next_rand(rng);
	spool_future *fs[MAX_INPUTS];
	size_t n;
	enum kind kind;
	spool_future *f;
	switch (op) {
	case OP_PROMISE:
		f = spool_promise_new();
		if (!f) {
			soak_fail("promise_new gave NULL");
			return;
		}
		slot_put(i, f, K_PROMISE, r);
		break;
	case OP_POOL_TASK:
	case OP_LOOP_TASK:
		f = submit_spec(op == OP_LOOP_TASK, rng);
		if (f)
			slot_put(i, f, K_TASK, r);
		break;
	case OP_GATHER:
		n = pick_inputs(fs, true, rng);
		f = spool_gather(fs, n, r & 1);
		release_all(fs, n);
		if (f)
			slot_put(i, f, K_COMBINED, r);
		break;
	case OP_MAP: {
		void *args[MAX_INPUTS];
		n = 1 + r % MAX_INPUTS;
		for (size_t k = 0; k < n; k++)
			args[k] = (void *)(uintptr_t)(next_rand(rng) | 1);
		spool_executor *ex = (r >> 8) & 1 ? spool_loop_executor(loop)
						  : spool_pool_executor(pool);
		f = spool_map(ex, leaf_task, args, n, (r >> 9) % 3);
		count_in_flight(f);
		if (f)
			slot_put(i, f, K_COMBINED, r);
		break;
	}
	case OP_THEN: {
		spool_future *src = slot_get(i, NULL);
		if (!src)
			break;
		spool_executor *ex = (r & 3) == 0   ? spool_executor_inline()
				     : (r & 3) == 1 ? spool_loop_executor(loop)
						    : spool_pool_executor(pool);
		f = spool_then(src, ex, then_fn, (void *)(uintptr_t)(r | 1));
		spool_future_release(src);
		count_in_flight(f);
		if (f)
			slot_put((int)(next_rand(rng) % SLOTS), f, K_COMBINED,
				 r);
		break;
	}
	case OP_GROUP: {
		spool_group *g = NULL;
		if (spool_group_create(&g, spool_pool_executor(pool), r % 3) !=
		    0) {
			soak_fail("group_create failed");
			break;
		}
		n = 1 + (r >> 4) % MAX_INPUTS;
		for (size_t k = 0; k < n; k++) {
			spool_future *t = NULL;
			int rc = spool_group_spawn(
				g, leaf_task, (void *)(uintptr_t)next_rand(rng),
				&t);
			if (rc != 0 && rc != SPOOL_ECANCELLED)
				soak_fail("group_spawn gave %d", rc);
			count_in_flight(t);
			if (t && k == 0)
				slot_put((int)(next_rand(rng) % SLOTS), t,
					 K_TASK, r);
			else
				spool_future_release(t);
		}
		if ((r >> 8) % 4 == 0)
			spool_group_cancel(g);
		int rc = spool_group_join(g, small_timeout(rng));
		if (rc == SPOOL_ETIMEDOUT)
			atomic_fetch_add_explicit(&timeouts_seen, 1,
						  memory_order_relaxed);
		else if (rc == 0 && spool_group_failures(g) != 0)
			soak_fail("join gave 0 with failures");
		spool_group_destroy(g);
		break;
	}
	case OP_CANCEL:
		f = slot_get(i, NULL);
		if (f) {
			int rc = spool_future_cancel(f);
			if (rc != 0 && rc != SPOOL_EBUSY && rc != SPOOL_ESTATE)
				soak_fail("cancel gave %d", rc);
			spool_future_release(f);
		}
		break;
	case OP_COMPLETE:
		f = slot_get(i, &kind);
		if (f) {
			settle_promise(f, kind, r);
			spool_future_release(f);
		}
		break;
	case OP_WAIT:
		f = slot_get(i, NULL);
		if (f) {
			checked_wait(f, small_timeout(rng));
			spool_future_release(f);
		}
		break;
	case OP_WAIT_FOR:
		f = slot_get(i, NULL);
		if (f) {
			void *v;
			int rc = spool_wait_for(f, small_timeout(rng), &v);
			if (!spool_future_done(f))
				soak_fail("wait_for gave %d, future pending",
					  rc);
			if (rc == SPOOL_ETIMEDOUT)
				atomic_fetch_add_explicit(&timeouts_seen, 1,
							  memory_order_relaxed);
			else if (rc == SPOOL_ECANCELLED)
				atomic_fetch_add_explicit(&cancels_seen, 1,
							  memory_order_relaxed);
			else if (rc != 0)
				atomic_fetch_add_explicit(&failures_seen, 1,
							  memory_order_relaxed);
			spool_future_release(f);
		}
		break;
	case OP_WAIT_MANY: {
		n = pick_inputs(fs, false, rng);
		bool done[MAX_INPUTS];
		size_t nd, np;
		int rc = spool_wait(fs, n, (spool_wait_when)(r % 3),
				    small_timeout(rng), done, &nd, &np);
		if (rc != 0)
			soak_fail("spool_wait gave %d", rc);
		for (size_t k = 0; k < n; k++)
			if (done[k] && !spool_future_done(fs[k]))
				soak_fail("spool_wait: done[] on a pending "
					  "future");
		release_all(fs, n);
		break;
	}
	case OP_AS_COMPLETED: {
		n = pick_inputs(fs, false, rng);
		spool_as_completed *it = NULL;
		if (spool_as_completed_create(&it, fs, n, small_timeout(rng)) !=
		    0) {
			soak_fail("as_completed_create failed");
			release_all(fs, n);
			break;
		}
		for (size_t k = 0; k <= n; k++) {
			spool_future *g = NULL;
			int rc = spool_as_completed_next(it, &g, NULL);
			if (rc != 0)
				break;
			if (!spool_future_done(g))
				soak_fail("as_completed gave a pending future");
		}
		spool_as_completed_destroy(it);
		release_all(fs, n);
		break;
	}
	case OP_CALLBACK:
		f = slot_get(i, NULL);
		if (f) {
			atomic_fetch_add_explicit(&callbacks_added, 1,
						  memory_order_relaxed);
			if (spool_future_add_callback(f, count_cb, NULL) != 0) {
				soak_fail("add_callback failed");
				atomic_fetch_sub(&callbacks_added, 1);
			}
			spool_future_release(f);
		}
		break;
	case OP_RELEASE:
		slot_put(i, NULL, K_NONE, r);
		break;
	case OP_COUNT:
		break;
	}
	atomic_fetch_add_explicit(&op_counts[op], 1, memory_order_relaxed);
}

static _Atomic bool stopping;

static void *client_main(void *arg)
{
	uint64_t rng = 0x9E3779B97F4A7C15ull * ((uintptr_t)arg + 1);
	while (!atomic_load_explicit(&stopping, memory_order_relaxed))
		client_op(&rng);
	return NULL;
}

/* ---- the loop's thread ------------------------------------------------- */

static void stop_cb(spool_loop *l, void *arg)
{
	(void)arg;
	spool_loop_stop(l);
}

static void *loop_main(void *arg)
{
	(void)arg;
	int rc = spool_loop_run(loop);
	if (rc != 0)
		soak_fail("loop_run gave %d", rc);
	/* Destroyed on its own thread, as spool/loop.h asks, possibly while
	 * the main thread's call_soon_threadsafe(stop) is still returning:
	 * destroy finishes calls already under way first. */
	spool_loop_destroy(loop);
	return NULL;
}

/* ---- RSS --------------------------------------------------------------- */

static long rss_kb(void)
{
	FILE *fp = fopen("/proc/self/statm", "r");
	if (!fp)
		return -1;
	long size = 0, resident = 0;
	int got = fscanf(fp, "%ld %ld", &size, &resident);
	fclose(fp);
	return got == 2 ? resident * (sysconf(_SC_PAGESIZE) / 1024) : -1;
}

static long window_peak(const long *s, int from, int to)
{
	long peak = 0;
	for (int i = from; i < to; i++)
		if (s[i] > peak)
			peak = s[i];
	return peak;
}

/* ---- main -------------------------------------------------------------- */

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	double seconds = 60;
	const char *env = getenv("SPOOL_SOAK_SECONDS");
	if (argc > 1)
		seconds = atof(argv[1]);
	else if (env && *env)
		seconds = atof(env);
	if (!(seconds > 0) || seconds > MAX_SAMPLES) {
		fprintf(stderr, "usage: soak [seconds] (1 .. %d)\n",
			MAX_SAMPLES);
		return 2;
	}
	if (spool_debug_live_futures() < 0) {
		fprintf(stderr, "soak: this build does not count live futures "
				"(SPOOL_DEBUG_COUNTERS is off)\n");
		return 2;
	}
	for (int i = 0; i < SLOTS; i++)
		pthread_mutex_init(&table[i].lock, NULL);
	spool_pool_options po = SPOOL_POOL_OPTIONS_INIT;
	po.workers = POOL_WORKERS;
	po.name = "soak";
	if (spool_pool_create(&pool, &po) != 0 ||
	    spool_loop_create(&loop, NULL) != 0) {
		fprintf(stderr, "soak: could not create the pool or loop\n");
		return 1;
	}
	printf("soak: %.0f s, %d client threads, %d pool workers, one loop "
	       "thread, %d slots\n",
	       seconds, CLIENTS, POOL_WORKERS, SLOTS);

	pthread_t loop_thread, clients[CLIENTS];
	pthread_create(&loop_thread, NULL, loop_main, NULL);
	for (int i = 0; i < CLIENTS; i++)
		pthread_create(&clients[i], NULL, client_main,
			       (void *)(uintptr_t)i);

	static long samples[MAX_SAMPLES], live_samples[MAX_SAMPLES];
	int nsamples = 0;
	int64_t start = now_ns();
	int64_t end = start + (int64_t)(seconds * SPOOL_NS_PER_S);
	for (int64_t next = start; next < end && nsamples < MAX_SAMPLES;
	     next += SPOOL_NS_PER_S) {
		int64_t now = now_ns();
		if (next > now)
			sleep_ns(next - now);
		live_samples[nsamples] = spool_debug_live_futures();
		samples[nsamples++] = rss_kb();
	}
	atomic_store(&stopping, true);
	for (int i = 0; i < CLIENTS; i++)
		pthread_join(clients[i], NULL);
	double ran_s = (double)(now_ns() - start) / SPOOL_NS_PER_S;

	/* Teardown: complete the promises, wait for everything to end
	 * (every task ends by itself; 30 s is only a bound against a hang),
	 * check it, and release it. */
	int pending = 0;
	int64_t deadline = now_ns() + 30 * SPOOL_NS_PER_S;
	for (int i = 0; i < SLOTS; i++) {
		struct slot *s = &table[i];
		if (s->f && s->kind == K_PROMISE)
			spool_promise_set_result(s->f, NULL);
	}
	for (int i = 0; i < SLOTS; i++) {
		struct slot *s = &table[i];
		if (!s->f)
			continue;
		int64_t left = deadline - now_ns();
		if (spool_future_wait(s->f, left > 0 ? left : 0) != 0 ||
		    !spool_future_done(s->f)) {
			pending++;
			soak_fail("slot %d: future %p (state %d) never ended",
				  i, (void *)s->f,
				  (int)spool_future_state(s->f));
		} else {
			check_final_outcome(s->f);
		}
	}
	for (int i = 0; i < SLOTS; i++)
		slot_put(i, NULL, K_NONE, 0);
	spool_pool_shutdown(pool, SPOOL_SHUTDOWN_WAIT);
	if (spool_loop_call_soon_threadsafe(loop, stop_cb, NULL) != 0)
		soak_fail("could not stop the loop");
	pthread_join(loop_thread, NULL);
	spool_pool_destroy(pool);
	long live = spool_debug_live_futures();
	uint64_t added = atomic_load(&callbacks_added);
	uint64_t ran = atomic_load(&callbacks_ran);
	if (live != 0)
		soak_fail("%ld futures still alive after teardown", live);
	if (ran != added)
		soak_fail("%llu callbacks registered, %llu ran",
			  (unsigned long long)added, (unsigned long long)ran);

	/* Report. */
	uint64_t total = 0;
	printf("soak: operations by kind:");
	for (int k = 0; k < OP_COUNT; k++) {
		uint64_t c = atomic_load(&op_counts[k]);
		total += c;
		printf("%s %s=%llu", k % 5 ? "" : "\n ", op_names[k],
		       (unsigned long long)c);
	}
	printf("\nsoak: operations %llu in %.1f s (%.0f/s); timeouts %llu, "
	       "cancelled waits %llu, failed wait_for %llu\n",
	       (unsigned long long)total, ran_s, (double)total / ran_s,
	       (unsigned long long)atomic_load(&timeouts_seen),
	       (unsigned long long)atomic_load(&cancels_seen),
	       (unsigned long long)atomic_load(&failures_seen));
	printf("soak: callbacks %llu registered, %llu ran; futures left "
	       "pending %d; live futures after teardown %ld\n",
	       (unsigned long long)added, (unsigned long long)ran, pending,
	       live);
	printf("soak: starts held back by the in-flight limit (%d): %llu\n",
	       MAX_IN_FLIGHT, (unsigned long long)atomic_load(&throttled));
	printf("soak: live futures (one sample per second):");
	for (int i = 0; i < nsamples; i++)
		printf("%s%ld", i % 12 ? " " : "\n ", live_samples[i]);
	printf("\nsoak: RSS samples (KiB, one per second):");
	for (int i = 0; i < nsamples; i++)
		printf("%s%ld", i % 12 ? " " : "\n ", samples[i]);
	printf("\n");
	/* Flat RSS: the peak of the last window (a minute, or a quarter of
	 * a run shorter than two minutes) against the peak of the window
	 * that ends half-way through the run. Not against the first window:
	 * the first minutes are warm-up. The pool keeps the task records of
	 * submissions from outside its workers in 2 MiB blocks, up to two
	 * per submitting thread plus a cache of two, and a plain build
	 * reaches that steady state only after two to four minutes of this
	 * load (docs/testing.md has the figures). The first window's peak is
	 * printed too. */
	int win = nsamples >= 120 ? 60 : nsamples / 4;
	if (win >= 1) {
		int half = nsamples / 2;
		long first = window_peak(samples, 0, win);
		long base = window_peak(samples, half - win, half);
		long last = window_peak(samples, nsamples - win, nsamples);
		double growth = base > 0 ? 100.0 * (double)(last - base) /
						   (double)base
					 : 0;
		printf("soak: RSS peaks (KiB): first %d s %ld; the %d s before "
		       "half-way %ld; last %d s %ld (%+.1f%% on half-way; "
		       "the limit is +5%%)\n",
		       win, first, win, base, win, last, growth);
		if (base <= 0 || last > base + base / 20)
			soak_fail("RSS grew: %ld KiB -> %ld KiB", base, last);
	} else {
		printf("soak: too short to compare RSS windows\n");
	}
	int nf = atomic_load(&failures);
	if (nf) {
		printf("soak: FAIL (%d failed checks)\n", nf);
		return 1;
	}
	printf("soak: PASS\n");
	return 0;
}
