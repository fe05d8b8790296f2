/* SPDX-License-Identifier: MIT */
/*
 * spool-bench-trace: what recording a trace costs.
 *
 * fib(n) with one pool task per call and no cut-off (the pool suite's
 * spawn-cost workload, every task a submit, a run and usually a join
 * wait) on the same pool, with tracing off ("spool") and on
 * ("spool-traced"), interleaved, each run in a forked child. The trace
 * session starts before the timed part and is stopped (its JSON written to
 * /dev/null) after it, so the figure is the recording cost alone; the
 * buffers are sized so that nothing is dropped (dropping is cheaper than
 * recording and would flatter the figure). Target: traced at most 2x
 * untraced.
 */
#include <spool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

struct ctx {
	spool_pool *pool;
	spool_executor *ex;
	bool traced;
};

/* The pool's executor, for the tasks to fork into. Written before the
 * root task is submitted (the submission publishes it to the workers). */
static spool_executor *fib_ex;

static int fib(void *arg, void **result)
{
	intptr_t n = (intptr_t)arg;
	if (n < 2) {
		*result = (void *)n;
		return 0;
	}
	spool_future *a = spool_submit(fib_ex, fib, (void *)(n - 1));
	spool_future *b = spool_submit(fib_ex, fib, (void *)(n - 2));
	int rc = spool_future_result(a, SPOOL_FOREVER, NULL);
	if (rc == 0)
		rc = spool_future_result(b, SPOOL_FOREVER, NULL);
	*result = (void *)((intptr_t)spool_future_value(a) +
			   (intptr_t)spool_future_value(b));
	spool_future_release(a);
	spool_future_release(b);
	return rc;
}

static intptr_t fib_seq(intptr_t n)
{
	return n < 2 ? n : fib_seq(n - 1) + fib_seq(n - 2);
}

/* Calls of fib(n), the tasks of one run: 2 fib(n + 1) - 1. */
static int64_t tasks(int64_t n)
{
	return 2 * fib_seq((intptr_t)n + 1) - 1;
}

static int setup(const spool_bench_exp *e, void **state, char *err)
{
	struct ctx *c = calloc(1, sizeof *c);
	if (!c)
		return spool_bench_fail(err, "out of memory");
	c->traced = e->arg != NULL;
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = e->threads;
	int rc = spool_pool_create(&c->pool, &o);
	if (rc) {
		free(c);
		return spool_bench_fail(err, "pool: %s", spool_strerror(rc));
	}
	c->ex = spool_pool_executor(c->pool);
	if (c->traced) {
		/* At most 5 records per task (submit, run begin and end, wait
		 * begin and end) plus parks, steals and wake-ups: room for
		 * them all on any one thread. */
		spool_trace_options to = SPOOL_TRACE_OPTIONS_INIT;
		to.events_per_thread = (size_t)(8 * tasks(e->n) + 4096);
		rc = spool_trace_start_opts("/dev/null", &to);
		if (rc) {
			spool_pool_destroy(c->pool);
			free(c);
			return spool_bench_fail(err, "trace: %s",
						spool_strerror(rc));
		}
	}
	*state = c;
	return 0;
}

static int run(const spool_bench_exp *e, void *state, char *err)
{
	struct ctx *c = state;
	fib_ex = c->ex;
	spool_future *f = spool_submit(c->ex, fib, (void *)(intptr_t)e->n);
	void *v = NULL;
	int rc = spool_future_result(f, SPOOL_FOREVER, &v);
	spool_future_release(f);
	if (rc)
		return spool_bench_fail(err, "fib failed: %s",
					spool_strerror(rc));
	if ((intptr_t)v != fib_seq((intptr_t)e->n))
		return spool_bench_fail(err, "fib(%lld) = %ld, wrong",
					(long long)e->n, (long)(intptr_t)v);
	return 0;
}

static void teardown(const spool_bench_exp *e, void *state)
{
	struct ctx *c = state;
	(void)e;
	if (c->traced) {
		spool_trace_stop();
		spool_trace_stats st;
		spool_trace_stats_get(&st);
		if (st.dropped)
			fprintf(stderr,
				"spool-bench-trace: %llu events dropped: the "
				"traced figure is too low\n",
				(unsigned long long)st.dropped);
	}
	spool_pool_destroy(c->pool);
	free(c);
}

int main(int argc, char **argv)
{
	static const char *const benches[] = {"fib", NULL};
	static const char *const impls[] = {"spool", "spool-traced", NULL};
	static const spool_bench_suite suite = {
		.name = "trace",
		.summary = "fib(27) with one pool task per call, tracing off "
			   "(spool) and on (spool-traced, session started "
			   "before and written after the timed part, buffers "
			   "large enough to drop nothing). Target: traced at "
			   "most 2x untraced.",
		.benches = benches,
		.impls = impls,
		.reference = "spool",
		/* A run lasts 10-40 ms, so 5 of them leave a median that
		 * moves by a third from one invocation to the next on a
		 * shared machine; 15 take about 2 s more. */
		.default_runs = 15};
	spool_bench_opts o;
	spool_bench_parse(&o, &suite, argc, argv);
	int64_t n = o.quick ? 18 : 27;
	static int on = 1;
	/* Static: the harness keeps its samples in them until exit. */
	static spool_bench_exp exps[2];
	const spool_bench_exp init[] = {
		{.bench = "fib",
		 .impl = "spool",
		 .threads = o.threads,
		 .n = n,
		 .setup = setup,
		 .run = run,
		 .teardown = teardown,
		 .arg = NULL,
		 .isolate = true},
		{.bench = "fib",
		 .impl = "spool-traced",
		 .threads = o.threads,
		 .n = n,
		 .setup = setup,
		 .run = run,
		 .teardown = teardown,
		 .arg = &on,
		 .isolate = true},
	};
	memcpy(exps, init, sizeof exps);
	size_t nexps = sizeof exps / sizeof exps[0];
	int failed = spool_bench_run(&o, &suite, exps, nexps);
	spool_bench_report(&o, &suite, exps, nexps);
	static const spool_bench_target targets[] = {{"fib", "spool-traced", -1,
						      "spool", -1, 2.0, false,
						      NULL, 0, false}};
	spool_bench_check_targets(&o, exps, nexps, targets, 1);
	return failed ? 1 : 0;
}
