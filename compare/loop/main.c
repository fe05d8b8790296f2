/* SPDX-License-Identifier: MIT */
/*
 * spool-bench-loop: spool's event loop and coroutines against libuv (the
 * event-loop reference), CPython's asyncio (the language the lesson comes
 * from), tokio's current-thread runtime and Go's goroutines (the runtimes
 * Rust and Go programs use) and bare swapcontext, on the workloads in
 * peer.h: coroutine switch, timers, ping-pong over 127.0.0.1, sleeping
 * coroutines (time and peak RSS) and cross-thread wake-ups.
 *
 * Every run of every implementation happens in a forked child of its own
 * (setup, timed run, teardown; see compare/common/bench.h), interleaved
 * A B C A B C, so each figure is a median of runs that drift hit alike, and
 * each peak RSS is one runtime's alone. Every run checks its outcome (all
 * timers fired and none early, every echo equal, every coroutine done).
 *
 * The summary on stderr gives per-operation times, the ratio of spool's
 * time to each peer's, the memory per sleeping coroutine (the peak RSS of
 * the sleepers run minus that of the same program with one sleeper,
 * divided by the number of sleepers) and the targets: spool at least as
 * fast as tokio and Go on timers, pingpong and sleepers, in no more peak
 * RSS for the sleepers (sleepers read against spool-shared, see the
 * targets below).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "peer.h"

_Static_assert(LOOP_ERRLEN == SPOOL_BENCH_ERRLEN,
	       "peers write into the harness's error buffer");

static const char *const bench_names[NB + 1] = {
	"switch", "timers", "pingpong", "sleepers", "wakeups", NULL};

/* Every peer's impl (peer_*.c), for --help and --impl. */
static const char *const impl_names[] = {
	"spool", "spool-shared", "libuv",       "cpython",
	"tokio", "go",           "swapcontext", NULL};

static const spool_bench_suite suite = {
	.name = "loop",
	.summary =
		"The loop suite: switch (100 coroutines yielding; bare "
		"swapcontext round a\nring of 100), timers (1M one-shot timers "
		"over "
		"0-99 ms), pingpong (100k round\ntrips of 64 bytes over TCP on "
		"127.0.0.1), sleepers (100k coroutines sleeping\n100 ms at "
		"once: time and peak RSS) and wakeups (100k round trips "
		"between a\nthread and the loop), through spool, libuv, "
		"CPython's asyncio, tokio's\ncurrent-thread runtime, Go "
		"(GOMAXPROCS 1) and swapcontext. Every run is\nchecked; a "
		"wrong outcome fails the program (exit 1). --threads is "
		"ignored:\na loop is one thread (wakeups adds one). Targets "
		"are printed after the\ntables, met or missed; a missed target "
		"is not an error.",
	.benches = bench_names,
	.impls = impl_names,
	.reference = "spool",
};

static const int64_t full_n[NB] = {1000000, 1000000, 100000, 100000, 100000};
static const int64_t quick_n[NB] = {10000, 10000, 1000, 1000, 1000};

/* Peers that are not built say why; sanitizer builds skip the peers whose
 * runtimes the sanitizer cannot follow. */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif

static const char *peer_missing(const char *impl)
{
	if (strcmp(impl, "libuv") == 0) {
		if (!LOOP_HAVE_LIBUV)
			return "libuv (libuv1-dev) was not found at configure "
			       "time";
#if defined(__SANITIZE_THREAD__)
		return "libuv is not instrumented for ThreadSanitizer, whose "
		       "reports would be false";
#endif
	}
#ifdef SANITIZED
	if (strcmp(impl, "swapcontext") == 0)
		return "the sanitizers do not follow a bare swapcontext (spool "
		       "annotates its own switch)";
#endif
	return NULL;
}

/* ---- the bridge from an experiment to a peer ---------------------------- */

struct exp_arg {
	const struct loop_peer *peer;
	enum loop_bench bench;
};

static int exp_setup(const spool_bench_exp *e, void **state, char *err)
{
	const struct exp_arg *a = e->arg;
	return a->peer->setup(a->bench, e->n, state, err);
}

static int exp_run(const spool_bench_exp *e, void *state, char *err)
{
	const struct exp_arg *a = e->arg;
	return a->peer->run(state, err);
}

static void exp_teardown(const spool_bench_exp *e, void *state)
{
	const struct exp_arg *a = e->arg;
	if (state)
		a->peer->teardown(state);
}

/* ---- summary ----------------------------------------------------------- */

static const char *const unit[NB] = {"yield", "timer", "round trip", "sleeper",
				     "wake-up"};

/* The summary's columns: each impl's time per operation, then spool's
 * time divided by each peer's (spool-shared's for CPython, the comparison
 * of the lesson). */
static const char *const op_impls[] = {"spool",      "spool-shared", "libuv",
				       "cpython",    "tokio",        "go",
				       "swapcontext"};
#define NOP_IMPLS (sizeof op_impls / sizeof *op_impls)
static const struct {
	const char *head;
	int num, den; /* indexes in op_impls */
} op_ratios[] = {{"x libuv", 0, 2}, {"x cpython", 0, 3}, {"shd x cpy", 1, 3},
		 {"x tokio", 0, 4}, {"x go", 0, 5},      {"x swapctx", 0, 6}};
#define NOP_RATIOS (sizeof op_ratios / sizeof *op_ratios)

static void per_op(const spool_bench_exp *exps, size_t nexps)
{
	fprintf(stderr,
		"\nloop: time per operation (median, ns), and spool's time as "
		"a fraction of each peer's\n");
	fprintf(stderr, "%-9s %-11s", "bench", "per");
	for (size_t i = 0; i < NOP_IMPLS; i++)
		fprintf(stderr, " %11.11s", op_impls[i]);
	for (size_t i = 0; i < NOP_RATIOS; i++)
		fprintf(stderr, " %9s", op_ratios[i].head);
	fprintf(stderr, "\n");
	for (int b = 0; b < NB; b++) {
		const spool_bench_exp *e[NOP_IMPLS];
		for (size_t i = 0; i < NOP_IMPLS; i++) {
			e[i] = NULL;
			for (size_t k = 0; k < nexps; k++) {
				const spool_bench_exp *x = &exps[k];
				if (x->runs_done && !x->failed && x->n > 1 &&
				    strcmp(x->bench, bench_names[b]) == 0 &&
				    strcmp(x->impl, op_impls[i]) == 0)
					e[i] = x;
			}
		}
		fprintf(stderr, "%-9s %-11s", bench_names[b], unit[b]);
		for (size_t i = 0; i < NOP_IMPLS; i++) {
			if (e[i])
				fprintf(stderr, " %11.1f",
					e[i]->median_s * 1e9 / (double)e[i]->n);
			else
				fprintf(stderr, " %11s", "-");
		}
		for (size_t i = 0; i < NOP_RATIOS; i++) {
			const spool_bench_exp *a = e[op_ratios[i].num];
			const spool_bench_exp *d = e[op_ratios[i].den];
			if (a && d && d->median_s > 0)
				fprintf(stderr, " %8.3fx",
					a->median_s / d->median_s);
			else
				fprintf(stderr, " %9s", "-");
		}
		fprintf(stderr, "\n");
	}
}

static const spool_bench_exp *find_n(const spool_bench_exp *exps, size_t n,
				     const char *bench, const char *impl,
				     int64_t size)
{
	for (size_t i = 0; i < n; i++)
		if (exps[i].runs_done && !exps[i].failed &&
		    exps[i].peak_rss_kib >= 0 && exps[i].n == size &&
		    strcmp(exps[i].bench, bench) == 0 &&
		    strcmp(exps[i].impl, impl) == 0)
			return &exps[i];
	return NULL;
}

static void rss_per_sleeper(const spool_bench_exp *exps, size_t nexps,
			    int64_t n)
{
	static const char *const impls[] = {"spool",   "spool-shared", "libuv",
					    "cpython", "tokio",        "go"};
	fprintf(stderr,
		"\nloop: memory per sleeper = (peak RSS with %lld sleepers - "
		"peak RSS with 1) / %lld\n",
		(long long)n, (long long)(n - 1));
	for (size_t i = 0; i < sizeof impls / sizeof *impls; i++) {
		const spool_bench_exp *big = find_n(exps, nexps, "sleepers",
						    impls[i], n);
		const spool_bench_exp *one = find_n(exps, nexps, "sleepers",
						    impls[i], 1);
		if (!big || !one) {
			fprintf(stderr, "  %-12s not measured\n", impls[i]);
			continue;
		}
		fprintf(stderr,
			"  %-12s %8.2f KiB (peak %ld KiB, baseline %ld KiB)\n",
			impls[i],
			(double)(big->peak_rss_kib - one->peak_rss_kib) /
				(double)(n - 1),
			big->peak_rss_kib, one->peak_rss_kib);
	}
}

int main(int argc, char **argv)
{
	spool_bench_opts o;
	spool_bench_parse(&o, &suite, argc, argv);
	const int64_t *sizes = o.quick ? quick_n : full_n;
	static const struct loop_peer *const peers[] = {
		&loop_peer_spool,      &loop_peer_spool_shared,
		&loop_peer_libuv,      &loop_peer_cpython,
		&loop_peer_tokio,      &loop_peer_go,
		&loop_peer_swapcontext};
	enum { NPEERS = sizeof peers / sizeof *peers };

	static struct exp_arg args[NB][NPEERS];
	/* static: the harness keeps its samples until exit */
	static spool_bench_exp exps[(NB + 1) * NPEERS];
	size_t nexps = 0;
	for (int b = 0; b < NB; b++) {
		/* sleepers also runs with one sleeper: the RSS baseline */
		for (int pass = 0; pass < (b == B_SLEEPERS ? 2 : 1); pass++) {
			for (int p = 0; p < NPEERS; p++) {
				const struct loop_peer *peer = peers[p];
				const char *why = peer_missing(peer->impl);
				if (!why)
					why = peer->cannot((enum loop_bench)b);
				/* A peer that cannot run the bench at all
				 * gets one "skipped" line, not two. */
				if (pass == 1 && why)
					continue;
				args[b][p] = (struct exp_arg){
					peer, (enum loop_bench)b};
				exps[nexps++] = (spool_bench_exp){
					.bench = bench_names[b],
					.impl = peer->impl,
					.threads = b == B_WAKEUPS ? 2 : 1,
					.n = pass ? 1 : sizes[b],
					.skipped = why,
					.setup = exp_setup,
					.run = exp_run,
					.teardown = exp_teardown,
					.arg = &args[b][p],
					.isolate = true,
				};
			}
		}
	}
	int failed = spool_bench_run(&o, &suite, exps, nexps);
	spool_bench_report(&o, &suite, exps, nexps);
	per_op(exps, nexps);
	rss_per_sleeper(exps, nexps, sizes[B_SLEEPERS]);

	/* spool's throughput at least tokio's and Go's (time ratio <= 1),
	 * and its sleepers in no more memory.
	 *
	 * The sleepers targets are read against spool-shared, the loop made
	 * for many mostly idle coroutines: a coroutine on a stack of its own
	 * holds at least the one 4 KiB page its call chain touched, and a
	 * first touch is a page fault, while a tokio task or a goroutine
	 * holds a few hundred bytes to 2 KiB. So no stack of its own per
	 * sleeper can reach their peak RSS, nor their time once the faults
	 * are counted; on a shared stack a suspended coroutine keeps only
	 * the bytes it used (about 200 here) in a heap buffer. The spool row
	 * stays in the tables to show that price. */
	const spool_bench_target targets[] = {
		{"timers", "spool", 1, "tokio", 1, 1.0, true, NULL, 0, false},
		{"timers", "spool", 1, "go", 1, 1.0, true, NULL, 0, false},
		{"pingpong", "spool", 1, "tokio", 1, 1.0, true, NULL, 0, false},
		{"pingpong", "spool", 1, "go", 1, 1.0, true, NULL, 0, false},
		{"sleepers", "spool-shared", 1, "tokio", 1, 1.0, true, NULL, 0,
		 false},
		{"sleepers", "spool-shared", 1, "go", 1, 1.0, true, NULL, 0,
		 false},
	};
	const spool_bench_target rss_targets[] = {
		{"sleepers", "spool-shared", 1, "tokio", 1, 1.0, false, NULL, 0,
		 false},
		{"sleepers", "spool-shared", 1, "go", 1, 1.0, false, NULL, 0,
		 false},
	};
	spool_bench_check_targets(&o, exps, nexps, targets,
				  sizeof targets / sizeof *targets);
	spool_bench_check_rss_targets(&o, exps, nexps, rss_targets,
				      sizeof rss_targets / sizeof *rss_targets);
	if (o.quick)
		fprintf(stderr, "(--quick: sizes too small for the targets "
				"to mean anything)\n");
	return failed ? 1 : 0;
}
