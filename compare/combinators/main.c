/* SPDX-License-Identifier: MIT */
/*
 * spool-bench-combinators: what a combinator costs per future, against the
 * plainest alternative, waiting on each future one by one.
 *
 * Two shapes, each over the same futures for every bench:
 *   done  n = 1,000,000 promises completed before the clock starts: the
 *         combinator's own bookkeeping and nothing else (threads = 1: the
 *         calling thread);
 *   pool  n = 100,000 promises that --threads pool workers (default 2)
 *         complete while the combinator waits: the clock starts before the
 *         workers begin, so it covers callbacks running on the completing
 *         threads and the waiter being woken.
 * Benches: one_by_one (spool_future_result on each in input order), gather,
 * wait_all, wait_first, wait_exception (spool_wait in each mode, with the
 * done array and the distinct counts, as Python reports done and pending
 * sets) and as_completed (iterate to the end). Every run checks its answer
 * (the values, in order where the combinator promises an order).
 *
 * Each run happens in a forked child (setup, timed run, teardown), so one
 * run's million futures and pool threads never touch the next. Targets:
 * each combinator at most 2x one_by_one per future, on each shape.
 *
 * CPython: cf_bench.py runs concurrent.futures.wait/as_completed, f.result()
 * one by one and asyncio.gather on 100,000 futures of the same two shapes
 * and prints its own JSON lines (impl "cpython", its own interleaved runs
 * and medians); the summary then gives spool's time per future as a
 * fraction of CPython's. Without python3 those lines say "skipped".
 */
#include <spool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "bench.h"

enum bench_id {
	B_ONE_BY_ONE,
	B_GATHER,
	B_WAIT_ALL,
	B_WAIT_FIRST,
	B_WAIT_EXCEPTION,
	B_AS_COMPLETED,
	NBENCH
};

static const char *const bench_names[NBENCH + 1] = {
	"one_by_one",     "gather",       "wait_all", "wait_first",
	"wait_exception", "as_completed", NULL};

/* spool's experiments, and cf_bench.py's lines. */
static const char *const impl_names[] = {"spool", "cpython", NULL};

static const spool_bench_suite suite = {
	.name = "combinators",
	.summary =
		"The combinators suite: gather, wait (ALL_COMPLETED, "
		"FIRST_COMPLETED,\nFIRST_EXCEPTION) and as_completed against "
		"waiting on each future one by\none, over 1,000,000 futures "
		"already done (threads = 1) and over 100,000\nfutures that "
		"--threads pool workers complete while the combinator waits,\n"
		"plus CPython's concurrent.futures and asyncio.gather on "
		"100,000 futures of\nthe same shapes as a reference. Targets: "
		"each combinator at most 2x\none_by_one per future.",
	.benches = bench_names,
	.impls = impl_names,
	/* No reference column: every line is spool's, and the ratios that
	 * matter (to one_by_one on the same futures, to CPython) are across
	 * benches; the summary after the table gives them. */
	.reference = NULL,
};

enum shape { DONE, POOL };

struct exp_arg {
	enum bench_id bench;
	enum shape shape;
};

/* ---- state of one run ---------------------------------------------------- */

struct run_state {
	size_t n;
	spool_future **fs;
	bool *done;
	spool_pool *pool;
	int workers;
	spool_future **completers;
};

/* A pool task that completes every workers-th promise from `first` on, in
 * input order, with the value index + 1. */
struct stride {
	struct run_state *rs;
	size_t first;
};

static struct stride strides[64];

static int complete_stride(void *arg, void **result)
{
	struct stride *s = arg;
	struct run_state *rs = s->rs;
	for (size_t i = s->first; i < rs->n; i += (size_t)rs->workers)
		spool_promise_set_result(rs->fs[i], (void *)(uintptr_t)(i + 1));
	return 0;
}

static int noop(void *arg, void **result)
{
	return 0;
}

static int setup(const spool_bench_exp *e, void **state, char *err)
{
	const struct exp_arg *a = e->arg;
	struct run_state *rs = calloc(1, sizeof *rs);
	if (!rs)
		return spool_bench_fail(err, "out of memory");
	rs->n = (size_t)e->n;
	rs->fs = malloc(rs->n * sizeof *rs->fs);
	rs->done = malloc(rs->n);
	if (!rs->fs || !rs->done)
		return spool_bench_fail(err, "out of memory");
	for (size_t i = 0; i < rs->n; i++) {
		rs->fs[i] = spool_promise_new();
		if (!rs->fs[i])
			return spool_bench_fail(err, "out of memory");
	}
	if (a->shape == DONE) {
		for (size_t i = 0; i < rs->n; i++)
			spool_promise_set_result(rs->fs[i],
						 (void *)(uintptr_t)(i + 1));
	} else {
		spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
		o.workers = e->threads;
		rs->workers = e->threads;
		if (e->threads > 64 || spool_pool_create(&rs->pool, &o) != 0)
			return spool_bench_fail(err, "cannot create the pool");
		rs->completers = calloc((size_t)e->threads, sizeof(void *));
		if (!rs->completers)
			return spool_bench_fail(err, "out of memory");
		/* Warm up: every worker started and ran something. */
		for (int k = 0; k < 100; k++) {
			spool_future *f = spool_submit(
				spool_pool_executor(rs->pool), noop, NULL);
			spool_future_wait(f, SPOOL_FOREVER);
			spool_future_release(f);
		}
	}
	*state = rs;
	return 0;
}

static void teardown(const spool_bench_exp *e, void *state)
{
	struct run_state *rs = state;
	if (!rs)
		return;
	for (int k = 0; rs->completers && k < rs->workers; k++) {
		spool_future_wait(rs->completers[k], SPOOL_FOREVER);
		spool_future_release(rs->completers[k]);
	}
	for (size_t i = 0; rs->fs && i < rs->n; i++)
		spool_future_release(rs->fs[i]);
	spool_pool_destroy(rs->pool);
	free(rs->completers);
	free(rs->fs);
	free(rs->done);
	free(rs);
}

/* ---- the timed part ------------------------------------------------------ */

static int check_value(const spool_future *f, size_t i, char *err)
{
	if (spool_future_value(f) != (void *)(uintptr_t)(i + 1))
		return spool_bench_fail(err, "future %zu has a wrong value", i);
	return 0;
}

static int run_one_by_one(struct run_state *rs, char *err)
{
	uintptr_t sum = 0;
	for (size_t i = 0; i < rs->n; i++) {
		void *v;
		if (spool_future_result(rs->fs[i], SPOOL_FOREVER, &v) != 0)
			return spool_bench_fail(err, "future %zu failed", i);
		sum += (uintptr_t)v;
	}
	if (sum != (uintptr_t)rs->n * (rs->n + 1) / 2)
		return spool_bench_fail(err, "wrong sum of values");
	return 0;
}

static int run_gather(struct run_state *rs, char *err)
{
	spool_future *g = spool_gather(rs->fs, rs->n, 0);
	if (!g || spool_future_wait(g, SPOOL_FOREVER) != 0 ||
	    spool_future_state(g) != SPOOL_DONE)
		return spool_bench_fail(err, "gather did not succeed");
	void **vals = spool_future_value(g);
	int rc = 0;
	for (size_t i = 0; i < rs->n && rc == 0; i++)
		if (vals[i] != (void *)(uintptr_t)(i + 1))
			rc = spool_bench_fail(err, "gather slot %zu is wrong",
					      i);
	spool_future_release(g);
	return rc;
}

static int run_wait(struct run_state *rs, spool_wait_when when, char *err)
{
	size_t nd = 0, np = 0;
	if (spool_wait(rs->fs, rs->n, when, SPOOL_FOREVER, rs->done, &nd,
		       &np) != 0)
		return spool_bench_fail(err, "spool_wait failed");
	if (nd + np != rs->n || nd == 0 ||
	    (when != SPOOL_FIRST_COMPLETED && nd != rs->n))
		return spool_bench_fail(err,
					"wait reported %zu done, %zu "
					"pending",
					nd, np);
	return 0;
}

static int run_as_completed(struct run_state *rs, char *err)
{
	spool_as_completed *it;
	if (spool_as_completed_create(&it, rs->fs, rs->n, SPOOL_FOREVER) != 0)
		return spool_bench_fail(err, "as_completed: no iterator");
	size_t count = 0, idx;
	spool_future *f;
	int rc = 0;
	while (rc == 0 && spool_as_completed_next(it, &f, &idx) == 0) {
		rc = check_value(f, idx, err);
		count++;
	}
	spool_as_completed_destroy(it);
	if (rc == 0 && count != rs->n)
		rc = spool_bench_fail(err, "as_completed gave %zu of %zu",
				      count, rs->n);
	return rc;
}

static int run(const spool_bench_exp *e, void *state, char *err)
{
	const struct exp_arg *a = e->arg;
	struct run_state *rs = state;
	if (a->shape == POOL) {
		for (int k = 0; k < rs->workers; k++) {
			strides[k] = (struct stride){rs, (size_t)k};
			rs->completers[k] = spool_submit(
				spool_pool_executor(rs->pool), complete_stride,
				&strides[k]);
		}
	}
	switch (a->bench) {
	case B_ONE_BY_ONE:
		return run_one_by_one(rs, err);
	case B_GATHER:
		return run_gather(rs, err);
	case B_WAIT_ALL:
		return run_wait(rs, SPOOL_ALL_COMPLETED, err);
	case B_WAIT_FIRST:
		return run_wait(rs, SPOOL_FIRST_COMPLETED, err);
	case B_WAIT_EXCEPTION:
		return run_wait(rs, SPOOL_FIRST_EXCEPTION, err);
	default:
		return run_as_completed(rs, err);
	}
}

/* ---- CPython, through cf_bench.py ------------------------------------------
 */

struct py_line {
	char bench[32];
	int threads;
	long long n;
	double median_s;
};

static struct py_line py_lines[2 * NBENCH];
static int npy;

/* Pulls bench, threads, n and median_s out of one of cf_bench.py's lines
 * (flat JSON objects it writes itself). */
static void remember_py_line(const char *line)
{
	const char *b = strstr(line, "\"bench\":\"");
	const char *t = strstr(line, "\"threads\":");
	const char *n = strstr(line, "\"n\":");
	const char *m = strstr(line, "\"median_s\":");
	if (!b || !t || !n || !m ||
	    npy == (int)(sizeof py_lines / sizeof py_lines[0]))
		return;
	struct py_line *p = &py_lines[npy];
	if (sscanf(b + 9, "%31[^\"]", p->bench) != 1 ||
	    sscanf(t + 10, "%d", &p->threads) != 1 ||
	    sscanf(n + 4, "%lld", &p->n) != 1 ||
	    sscanf(m + 11, "%lf", &p->median_s) != 1)
		return;
	npy++;
}

static void py_skipped(const spool_bench_opts *o, int threads, long long n,
		       const char *why)
{
	for (int b = 0; b < NBENCH; b++) {
		if (!spool_bench_selected(o, bench_names[b], "cpython"))
			continue;
		printf("{\"suite\":\"combinators\",\"bench\":\"%s\","
		       "\"impl\":\"cpython\",\"threads\":%d,\"n\":%lld,"
		       "\"skipped\":\"%s\"}\n",
		       bench_names[b], threads, n, why);
	}
}

/* Runs cf_bench.py and passes its JSON lines through to stdout. Returns
 * nonzero when it ran and failed. */
static int run_python(const spool_bench_opts *o, long long n)
{
	bool wanted = false;
	for (int b = 0; b < NBENCH; b++)
		wanted |= spool_bench_selected(o, bench_names[b], "cpython");
	if (!wanted)
		return 0;
	const char *py = COMB_PYTHON[0] ? COMB_PYTHON : NULL;
	if (!py) {
		py_skipped(o, 1, n, "python3 was not found at configure time");
		py_skipped(o, o->threads, n,
			   "python3 was not found at configure time");
		return 0;
	}
	char cmd[1024];
	snprintf(cmd, sizeof cmd,
		 "'%s' '%s' --n %lld --runs %d --threads %d%s%s", py,
		 COMB_SCRIPT, n, o->runs, o->threads, o->only ? " --only " : "",
		 o->only ? o->only : "");
	fflush(stdout);
	fprintf(stderr, "combinators: running %s\n", cmd);
	FILE *p = popen(cmd, "r");
	if (!p) {
		py_skipped(o, 1, n, "python3 could not be started");
		return 0;
	}
	char line[1024];
	int lines = 0;
	while (fgets(line, sizeof line, p)) {
		fputs(line, stdout);
		remember_py_line(line);
		lines++;
	}
	fflush(stdout);
	int status = pclose(p);
	if (lines == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		/* The shell found no interpreter at that path any more. */
		py_skipped(o, 1, n, "python3 is not installed at run time");
		py_skipped(o, o->threads, n,
			   "python3 is not installed at run time");
		return 0;
	}
	return status != 0;
}

/* ---- summary --------------------------------------------------------- */

static const struct py_line *py_find(const char *bench, int threads)
{
	for (int i = 0; i < npy; i++)
		if (strcmp(py_lines[i].bench, bench) == 0 &&
		    py_lines[i].threads == threads)
			return &py_lines[i];
	return NULL;
}

/* Per-future figures, the 2x targets and the CPython ratios. Returns the
 * number of targets missed. */
static int summary(const spool_bench_opts *o, const spool_bench_exp *exps,
		   size_t nexps)
{
	int missed = 0;
	fprintf(stderr,
		"\ncombinators: per future (ns), \"x obo\" = time / one_by_one "
		"on the same futures (target <= 2.00x),\n\"x cpython\" = "
		"spool's time per future / CPython's on %s futures of the "
		"same shape\n(ns per future grow on a busy machine: read "
		"\"x obo\", which compares runs of the same\nrounds; the "
		"pool shape's %d workers could run at most %.2fx as fast as "
		"one here)\n",
		"100,000", o->threads, spool_bench_ideal_here(o->threads));
	fprintf(stderr, "%-15s %-5s %4s %10s %10s %8s %8s %11s %9s\n", "bench",
		"shape", "thr", "n", "ns/future", "x obo", "target",
		"cpython ns", "x cpython");
	for (size_t i = 0; i < nexps; i++) {
		const spool_bench_exp *e = &exps[i];
		const struct exp_arg *a = e->arg;
		if (e->runs_done == 0 || e->failed)
			continue;
		double per = e->median_s * 1e9 / (double)e->n;
		const spool_bench_exp *obo = spool_bench_find(
			exps, nexps, "one_by_one", "spool", e->threads);
		fprintf(stderr, "%-15s %-5s %4d %10lld %10.1f ", e->bench,
			a->shape == DONE ? "done" : "pool", e->threads,
			(long long)e->n, per);
		if (a->bench != B_ONE_BY_ONE && obo && obo->median_s > 0) {
			double r = e->median_s / obo->median_s;
			bool met = r <= 2.0;
			missed += !met;
			fprintf(stderr, "%7.2fx %8s ", r,
				met ? "met" : "MISSED");
		} else {
			fprintf(stderr, "%8s %8s ", "-", "-");
		}
		const struct py_line *p = py_find(e->bench, e->threads);
		if (p && p->median_s > 0) {
			double py_per = p->median_s * 1e9 / (double)p->n;
			fprintf(stderr, "%11.1f %8.3fx", py_per, per / py_per);
		} else {
			fprintf(stderr, "%11s %9s", "-", "-");
		}
		fprintf(stderr, "\n");
	}
	return missed;
}

int main(int argc, char **argv)
{
	spool_bench_opts o;
	spool_bench_parse(&o, &suite, argc, argv);
	const int64_t n_done = o.quick ? 20000 : 1000000;
	const int64_t n_pool = o.quick ? 5000 : 100000;

	static struct exp_arg args[2][NBENCH];
	spool_bench_exp exps[2 * NBENCH];
	size_t nexps = 0;
	for (int s = 0; s < 2; s++) {
		for (int b = 0; b < NBENCH; b++) {
			args[s][b] = (struct exp_arg){(enum bench_id)b,
						      (enum shape)s};
			exps[nexps++] = (spool_bench_exp){
				.bench = bench_names[b],
				.impl = "spool",
				.threads = s == DONE ? 1 : o.threads,
				.n = s == DONE ? n_done : n_pool,
				.setup = setup,
				.run = run,
				.teardown = teardown,
				.arg = &args[s][b],
				.isolate = true,
			};
		}
	}
	int failed = spool_bench_run(&o, &suite, exps, nexps);
	spool_bench_report(&o, &suite, exps, nexps);
	failed += run_python(&o, n_pool);
	summary(&o, exps, nexps);
	return failed ? 1 : 0;
}
