/* SPDX-License-Identifier: MIT */
/*
 * spool-bench-pool: spool's work-stealing pool against the runtimes C, C++,
 * Rust and Go programs use for the same jobs, on fork-join workloads (fib,
 * skynet, nqueens), on submission from a thread outside the pool (submit)
 * and on parallel loops over an array (for_sum, for_map).
 *
 * Every run of every implementation happens in a forked child of its own
 * (spool_bench_in_child): the child starts the runtime, warms it up on a
 * small size, times one run, checks the answer and reports back with its
 * peak RSS. So no runtime's idle or spinning threads (libomp spins for
 * 200 ms after a region by default) or heap outlive its run, and the two
 * OpenMP runtimes, which export the same GOMP_* symbols, each live in a
 * process of their own. This process stays single-threaded.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "peer.h"
#include "pool_config.h"

_Static_assert(POOL_ERRLEN == SPOOL_BENCH_ERRLEN,
	       "peers write into the harness's error buffer");

static const char *const bench_names[POOL_NBENCH + 1] = {
	"fib", "skynet", "nqueens", "submit", "for_sum", "for_map", NULL};

/* Every impl of the peers table below, for --help and --impl. */
static const char *const impl_names[] = {
	"sequential", "spool",       "spool-join", "tbb",   "libgomp",
	"libomp",     "gthreadpool", "mutexpool",  "floor", "rayon",
	"tokio",      "go",          NULL};

static const spool_bench_suite suite = {
	.name = "pool",
	.summary =
		"The pool suite: fib(32) with one task per call and no "
		"cut-off, skynet\n(1M leaf tasks, 10-ary tree), nqueens(11) "
		"with one task per row placement,\nsubmit (a thread "
		"outside the pool submits 1M tiny tasks, then joins\nthem), "
		"and two parallel loops over 10M int64s (for_sum: their sum;\n"
		"for_map: b[i] = a[i]^2 mod 1000003), through spool (a future "
		"per task),\nspool-join (spool_join, scopes, spool_for: no "
		"futures), sequential C,\noneTBB task_group, libgomp and "
		"libomp "
		"tasks, GThreadPool, a plain\nmutex+condvar pool, \"floor\" "
		"(the "
		"lower bound of the pool's design\nfor fib on one thread and "
		"submit), and rayon, tokio (submit) and Go\ngoroutines (fib, "
		"skynet, nqueens) as programs of their own. Without\n--hogs, "
		"fib "
		"also runs on spool-join and rayon beside 2 busy-looping\n"
		"processes (\"hogs\": 2). Every answer is checked; a wrong one "
		"fails the\nprogram (exit 1). Targets are printed after the "
		"table, met or missed;\na missed target is not an error.",
	.benches = bench_names,
	.impls = impl_names,
	.reference = "spool",
};

/* Sizes: the measurement, --quick, and the warm-up before every run. */
static const int64_t full_n[POOL_NBENCH] = {32,      1000000,  11,
					    1000000, 10000000, 10000000};
static const int64_t quick_n[POOL_NBENCH] = {20,    10000,  8,
					     10000, 100000, 100000};
static const int64_t warm_n[POOL_NBENCH] = {15, 1000, 6, 1000, 10000, 10000};

/* ---- answers ------------------------------------------------------------- */

static int64_t fib_answer(int64_t n)
{
	int64_t a = 0, b = 1;

	for (int64_t i = 0; i < n; i++) {
		int64_t c = a + b;

		a = b;
		b = c;
	}
	return a;
}

/* Solutions of n-queens for n = 0 .. POOL_NQUEENS_MAX (OEIS A000170). */
static const int64_t nqueens_answers[POOL_NQUEENS_MAX + 1] = {
	1,   1,   0,    0,     2,     10,     4,       40,      92,
	352, 724, 2680, 14200, 73712, 365596, 2279184, 14772512};

static int64_t answer_of(enum pool_bench b, int64_t n)
{
	switch (b) {
	case POOL_FIB:
		return fib_answer(n);
	case POOL_SKYNET:
		return n * (n - 1) / 2;
	case POOL_NQUEENS:
		return nqueens_answers[n];
	case POOL_FOR_SUM:
		return n * (n - 1) / 2;
	case POOL_FOR_MAP:
		return pool_for_map_value(0) + pool_for_map_value(n / 2) +
		       pool_for_map_value(n - 1);
	default:
		return n;
	}
}

/* ---- peers as the driver knows them ---------------------------------- */

struct peer_ref {
	const char *impl;
	const struct pool_peer *linked; /* linked in; NULL otherwise */
	const char *module;  /* an OpenMP module's path; NULL otherwise */
	const char *runtime; /* the soname that module must load */
	const char *missing; /* why the peer is not available, or NULL */
};

static const struct peer_ref peers[] = {
	{"sequential", &pool_peer_sequential, NULL, NULL, NULL},
#if POOL_HAVE_SPOOL
	{"spool", &pool_peer_spool, NULL, NULL, NULL},
	{"spool-join", &pool_peer_spool_join, NULL, NULL, NULL},
#else
	{"spool", NULL, NULL, NULL, POOL_SPOOL_MISSING},
	{"spool-join", NULL, NULL, NULL, POOL_SPOOL_MISSING},
#endif
#if POOL_HAVE_TBB
	{"tbb", &pool_peer_tbb, NULL, NULL, NULL},
#else
	{"tbb", NULL, NULL, NULL, POOL_TBB_MISSING},
#endif
#if POOL_HAVE_LIBGOMP
	{"libgomp", NULL, POOL_LIBGOMP_MODULE, "libgomp.so.1", NULL},
#else
	{"libgomp", NULL, NULL, NULL, POOL_LIBGOMP_MISSING},
#endif
#if POOL_HAVE_LIBOMP
	{"libomp", NULL, POOL_LIBOMP_MODULE, "libomp.so.5", NULL},
#else
	{"libomp", NULL, NULL, NULL, POOL_LIBOMP_MISSING},
#endif
#if POOL_HAVE_GTHREADPOOL
	{"gthreadpool", &pool_peer_gthreadpool, NULL, NULL, NULL},
#else
	{"gthreadpool", NULL, NULL, NULL, POOL_GTHREADPOOL_MISSING},
#endif
	{"mutexpool", &pool_peer_mutexpool, NULL, NULL, NULL},
	{"floor", &pool_peer_floor, NULL, NULL, NULL},
	{"rayon", &pool_peer_rayon, NULL, NULL, NULL},
	{"tokio", &pool_peer_tokio, NULL, NULL, NULL},
	{"go", &pool_peer_go, NULL, NULL, NULL},
};
#define NPEERS (sizeof(peers) / sizeof(peers[0]))

/* Why ref cannot run bench b (checked in this process: modules are never
 * loaded here), or NULL. */
/* The parallel loops came after most peers: those whose run() does not
 * know them yet are skipped here rather than run on a bench they would
 * mistake for another. These peers' cannot() answers for the loops
 * (sequential and spool-join run them). */
static const char *const loop_impls[] = {"sequential", "spool-join", "rayon",
					 "tokio", "go"};

static const char *loop_missing(const struct peer_ref *ref, enum pool_bench b)
{
	if (b != POOL_FOR_SUM && b != POOL_FOR_MAP)
		return NULL;
	for (size_t i = 0; i < sizeof(loop_impls) / sizeof(loop_impls[0]); i++)
		if (strcmp(ref->impl, loop_impls[i]) == 0)
			return NULL;
	return "no parallel loop is written for this peer yet";
}

static const char *cannot_run(const struct peer_ref *ref, enum pool_bench b)
{
	if (ref->missing)
		return ref->missing;
	if (loop_missing(ref, b))
		return loop_missing(ref, b);
	if (ref->module)
		return pool_omp_cannot(b);
	return ref->linked->cannot(b);
}

/* In the child: the peer's table, loading its module if it has one. */
static const struct pool_peer *resolve(const struct peer_ref *ref, char *err)
{
	pool_peer_module_fn entry;
	void *h;

	if (ref->linked)
		return ref->linked;
	h = dlopen(ref->module, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return spool_bench_fail(err, "dlopen: %s", dlerror()), NULL;
	/* The module must have brought its own runtime, not the other one
	 * (clang's directory has a libgomp.so that is libomp in disguise). */
	if (!dlopen(ref->runtime, RTLD_NOW | RTLD_NOLOAD))
		return spool_bench_fail(err, "%s did not load %s", ref->module,
					ref->runtime),
		       NULL;
	entry = (pool_peer_module_fn)dlsym(h, POOL_PEER_MODULE_ENTRY);
	if (!entry)
		return spool_bench_fail(err, "dlsym: %s", dlerror()), NULL;
	return entry();
}

/* ---- the experiments ---------------------------------------------------- */

struct exp_arg {
	const struct peer_ref *ref;
	enum pool_bench bench;
};

struct run_state {
	const struct pool_peer *peer;
	void *state;
	enum pool_bench bench;
};

static int checked_run(struct run_state *rs, const spool_bench_exp *e,
		       int64_t n, char *err)
{
	int64_t got = -1, want = answer_of(rs->bench, n);

	if (rs->peer->run(rs->state, rs->bench, n, &got, err) != 0)
		return -1;
	if (got != want)
		return spool_bench_fail(err,
					"wrong answer: %s %s(%lld) gave %lld, "
					"expected %lld",
					e->impl, e->bench, (long long)n,
					(long long)got, (long long)want);
	return 0;
}

static int exp_setup(const spool_bench_exp *e, void **state, char *err)
{
	const struct exp_arg *a = e->arg;
	struct run_state *rs = calloc(1, sizeof(*rs));
	int64_t warm = warm_n[a->bench] < e->n ? warm_n[a->bench] : e->n;

	if (!rs)
		return spool_bench_fail(err, "out of memory");
	rs->bench = a->bench;
	rs->peer = resolve(a->ref, err);
	if (!rs->peer ||
	    rs->peer->start(e->threads, a->bench, e->n, &rs->state, err) != 0) {
		free(rs);
		return -1;
	}
	*state = rs;
	if (checked_run(rs, e, warm, err) != 0) {
		rs->peer->stop(rs->state);
		free(rs);
		*state = NULL;
		return -1;
	}
	return 0;
}

static int exp_run(const spool_bench_exp *e, void *state, char *err)
{
	return checked_run(state, e, e->n, err);
}

static void exp_teardown(const spool_bench_exp *e, void *state)
{
	struct run_state *rs = state;

	(void)e;
	rs->peer->stop(rs->state);
	free(rs);
}

/* At most every peer at the chosen threads, plus spool and spool-join on 1
 * worker, for every bench, and a fib row with hogs for every peer. */
#define MAX_EXPS (POOL_NBENCH * (NPEERS + 2) + NPEERS)

static spool_bench_exp exps[MAX_EXPS];
static struct exp_arg args[MAX_EXPS];
static size_t nexps;

static void add_exp(const spool_bench_opts *o, enum pool_bench b,
		    const struct peer_ref *ref, int threads, int hogs)
{
	spool_bench_exp *e = &exps[nexps];
	struct exp_arg *a = &args[nexps];

	a->ref = ref;
	a->bench = b;
	e->bench = bench_names[b];
	e->impl = ref->impl;
	e->threads = threads;
	e->n = o->quick ? quick_n[b] : full_n[b];
	e->skipped = cannot_run(ref, b);
	if (!e->skipped && ref->module && access(ref->module, R_OK) != 0)
		e->skipped = "the OpenMP module built at configure time is "
			     "missing";
	e->setup = exp_setup;
	e->run = exp_run;
	e->teardown = exp_teardown;
	e->arg = a;
	e->isolate = true;
	e->hogs = hogs;
	nexps++;
}

/* The peers whose fib also runs beside hogs by default: spool-join, and
 * rayon (the fork-join reference) when it is in the table. */
static bool fib_with_hogs(const struct peer_ref *ref)
{
	return strcmp(ref->impl, "spool-join") == 0 ||
	       strcmp(ref->impl, "rayon") == 0;
}

/* Busy processes beside the default hog rows. */
enum { DEFAULT_HOGS = 2 };

static void build_experiments(const spool_bench_opts *o)
{
	for (int b = 0; b < POOL_NBENCH; b++) {
		for (size_t p = 0; p < NPEERS; p++) {
			const struct peer_ref *ref = &peers[p];
			bool seq = strcmp(ref->impl, "sequential") == 0;
			/* The floor of fib is the floor of one worker. */
			bool one = seq || (b == POOL_FIB &&
					   strcmp(ref->impl, "floor") == 0);

			add_exp(o, (enum pool_bench)b, ref,
				one ? 1 : o->threads, 0);
			/* fib on one worker: spool's cost per spawn against
			 * a plain call, with a future and without. */
			if (b == POOL_FIB &&
			    (strcmp(ref->impl, "spool") == 0 ||
			     strcmp(ref->impl, "spool-join") == 0) &&
			    o->threads != 1)
				add_exp(o, POOL_FIB, ref, 1, 0);
		}
	}
	/* Last, so that spool_bench_find() picks the plain rows: fib beside
	 * hogs, unless --hogs put hogs beside every row. Idle workers that
	 * spin cost most when other processes want the cores. */
	if (o->hogs < 0)
		for (size_t p = 0; p < NPEERS; p++)
			if (fib_with_hogs(&peers[p]))
				add_exp(o, POOL_FIB, &peers[p], o->threads,
					DEFAULT_HOGS);
}

/* One line for a floor (peer_floor.c) against ref: the best ratio the
 * target of spool's row could reach, printed the way the target is. */
static void print_floor(const char *bench, int threads, const char *ref,
			int ref_threads, double need, bool throughput)
{
	const spool_bench_exp *f = spool_bench_find(exps, nexps, bench, "floor",
						    threads);
	const spool_bench_exp *r = spool_bench_find(exps, nexps, bench, ref,
						    ref_threads);

	if (!f || !r || r->median_s <= 0 || f->median_s <= 0)
		return;
	if (throughput)
		fprintf(stderr,
			"  %-8s floor(%d) vs %s(%d)  throughput %6.2fx at "
			"best  (spool's target: >= %.2fx)\n",
			bench, threads, ref, ref_threads,
			r->median_s / f->median_s, need);
	else
		fprintf(stderr,
			"  %-8s floor(%d) vs %s(%d)  time %6.2fx at best  "
			"(spool's target: <= %.2fx)\n",
			bench, threads, ref, ref_threads,
			f->median_s / r->median_s, need);
}

int main(int argc, char **argv)
{
	spool_bench_opts o;
	int failed;

	spool_bench_parse(&o, &suite, argc, argv);
	build_experiments(&o);
	failed = spool_bench_run(&o, &suite, exps, nexps);
	spool_bench_report(&o, &suite, exps, nexps);

	const spool_bench_target targets[] = {
		{"fib", "spool-join", o.threads, "rayon", o.threads, 1.0, false,
		 NULL, 0, false},
		{"fib", "spool-join", 1, "sequential", 1, 10.0, false, NULL, 0,
		 false},
		{"for_sum", "spool-join", o.threads, "sequential", 1, 1 / 1.8,
		 true, NULL, 0, true},
		{"for_map", "spool-join", o.threads, "sequential", 1, 1 / 1.8,
		 true, NULL, 0, true},
		{"fib", "spool", o.threads, "tbb", o.threads, 0.5, false, NULL,
		 0, false},
		{"fib", "spool", o.threads, "libgomp", o.threads, 0.25, false,
		 NULL, 0, false},
		{"fib", "spool", 1, "sequential", 1, 10.0, false, "floor", 1,
		 false},
		{"submit", "spool", o.threads, "gthreadpool", o.threads, 0.5,
		 true, "floor", o.threads, false},
		{"submit", "spool", o.threads, "mutexpool", o.threads, 0.2,
		 true, "floor", o.threads, false},
		{"submit", "spool", o.threads, "tokio", o.threads, 0.5, true,
		 "floor", o.threads, false},
	};
	spool_bench_check_targets(&o, exps, nexps, targets,
				  sizeof(targets) / sizeof(targets[0]));
	fprintf(stderr,
		"floors (medians; peer_floor.c: only the atomic operations, "
		"or the page\nfaults, that the pool's design requires, so no "
		"implementation of it does better):\n");
	print_floor("fib", 1, "sequential", 1, 10.0, false);
	print_floor("submit", o.threads, "mutexpool", o.threads, 5.0, true);
	if (o.quick)
		fprintf(stderr, "(--quick: sizes too small for the targets "
				"to mean anything)\n");
	return failed ? 1 : 0;
}
