/* SPDX-License-Identifier: MIT */
/*
 * The benchmark harness shared by every compare/ suite (static library
 * spool_bench). It does the parts that must be the same everywhere, so that
 * figures from different suites can be read the same way (the project's
 * benchmark rules: medians of interleaved runs, one JSON object per line on
 * stdout, a human table on stderr, missing peers reported, never omitted):
 *
 *   - a monotonic clock;
 *   - one command line for every suite: --runs, --threads, --quick, --only,
 *     --impl, --timeout, --hogs, --help (bad flags, and benchmark or
 *     implementation names the suite does not declare: a message and exit
 *     status 2);
 *   - what the machine gives right now (machine.h), measured and printed
 *     before the first round and again after the last, so that every
 *     figure can be read against the CPUs the runs actually had;
 *   - running a list of experiments interleaved, A B C A B C ..., so that
 *     drift (frequency, other load) hits every implementation alike, then
 *     taking the median and the minimum of each;
 *   - running one measurement in a forked child that reports its time, CPU
 *     time and peak RSS back (isolation: a runtime's idle threads, heap and
 *     spinning never touch the next implementation's run);
 *   - "hogs": busy-looping processes run beside a timed run, so that a
 *     runtime is also measured on cores it has to share, where threads
 *     that spin while idle take time from the ones doing the work;
 *   - the JSON lines, the table with a ratio to a reference implementation,
 *     and targets ("spool's time at most 0.5x tbb's") marked met or missed.
 *
 * A suite's main() is typically:
 *
 *     static const char *const benches[] = {"fib", "skynet", NULL};
 *     static const char *const impls[] = {"spool", "tbb", NULL};
 *     static const spool_bench_suite suite = {
 *             .name = "pool", .summary = "...", .benches = benches,
 *             .impls = impls, .reference = "spool"};
 *     spool_bench_opts o;
 *     spool_bench_parse(&o, &suite, argc, argv);      // may exit 0 or 2
 *     spool_bench_exp exps[] = {
 *             {.bench = "fib", .impl = "spool", .threads = o.threads,
 *              .n = 32, .setup = my_setup, .run = my_run,
 *              .teardown = my_teardown, .arg = &my_ctx, .isolate = true},
 *             {.bench = "fib", .impl = "tbb", ...,
 *              .skipped = "oneTBB was not found at configure time"},
 *     };
 *     int failed = spool_bench_run(&o, &suite, exps, nexps);
 *     spool_bench_report(&o, &suite, exps, nexps);   // JSON + table
 *     spool_bench_check_targets(&o, exps, nexps, targets, ntargets);
 *     return failed ? 1 : 0;
 *
 * Everything here runs on the calling thread; none of it is thread-safe
 * (a benchmark driver is single-threaded; the workloads bring the threads).
 * Errors in the workloads are reported, never hidden: a wrong answer fails
 * its experiment in spool_bench_run(), spool_bench_report() prints it as an
 * "error" JSON line, and the program then exits nonzero.
 */
#ifndef SPOOL_BENCH_H
#define SPOOL_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "machine.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- clock ------------------------------------------------------------ */

/* CLOCK_MONOTONIC now, in nanoseconds. Never blocks. */
int64_t spool_bench_now_ns(void);

/* ---- command line ------------------------------------------------------ */

/* What the shared command line chose. Filled by spool_bench_parse(). */
typedef struct spool_bench_opts {
	int runs;         /* --runs N: rounds, N >= 1; default 5 (see
			     spool_bench_suite.default_runs) */
	int threads;      /* --threads N: workers, N >= 1; default 2 */
	bool quick;       /* --quick: small sizes, for a smoke test */
	const char *only; /* --only a,b: benches to run; NULL: all */
	const char *impl; /* --impl x,y: implementations to run; NULL: all */
	int timeout_s;    /* --timeout S: limit per isolated run; default 300 */
	int hogs;         /* --hogs N: busy processes beside every timed run
			     (N >= 0); -1 when not given, and then each
			     experiment's own hogs count */
} spool_bench_opts;

/* A suite's fixed description. Owned by the caller (usually static). */
typedef struct spool_bench_suite {
	const char *name;    /* "pool": the program is spool-bench-<name> */
	const char *summary; /* one paragraph for --help */
	/* The suite's benchmark names, NULL-terminated: --help lists them and
	 * --only accepts only these. */
	const char *const *benches;
	/* The suite's implementation names, NULL-terminated: --help lists
	 * them, --impl accepts only these, and an experiment whose impl is
	 * not among them fails (so the list cannot fall behind the code). */
	const char *const *impls;
	/* The implementation the table divides by, e.g. "sequential" or
	 * "spool"; an experiment of the same bench with this impl and the
	 * default thread count is the reference of its bench. */
	const char *reference;
	/* Rounds when --runs is not given; 0 means 5. A suite whose runs
	 * last milliseconds takes more, so that its medians are steady. */
	int default_runs;
} spool_bench_suite;

/* Parses argv into *o (defaults first). --help prints the usage, the
 * suite's summary, its benches and its implementations to stdout and exits
 * 0. A bad flag, a missing or malformed value, an --only naming an unknown
 * bench or an --impl naming an unknown implementation prints a message
 * (with the names it accepts) to stderr and exits 2. Returns 0 otherwise.
 * The strings in *o point into argv. */
int spool_bench_parse(spool_bench_opts *o, const spool_bench_suite *suite,
		      int argc, char **argv);

/* True when bench and impl pass the --only and --impl filters (each a
 * comma-separated list of exact names). */
bool spool_bench_selected(const spool_bench_opts *o, const char *bench,
			  const char *impl);

/* ---- experiments ------------------------------------------------------- */

/* Room for a failure message written by a workload. */
#define SPOOL_BENCH_ERRLEN 256

typedef struct spool_bench_exp spool_bench_exp;

/* One implementation of one benchmark at one size and thread count.
 * The suite fills in the first group; the harness owns the second. */
struct spool_bench_exp {
	const char *bench; /* "fib" */
	const char *impl;  /* "spool", "tbb", ... */
	int threads;       /* workers it uses */
	int64_t n;         /* the size: the JSON line's "n" */
	/* Non-NULL: this experiment is not run and reports
	 * {"skipped": skipped} instead (a peer that is not installed, or a
	 * workload the peer cannot do, with the reason). */
	const char *skipped;
	/* Before every run, untimed (create threads, warm up). Returns 0, or
	 * nonzero after writing a message to err (the experiment fails).
	 * *state is what run and teardown receive. NULL: nothing to do. */
	int (*setup)(const spool_bench_exp *e, void **state, char *err);
	/* The timed part of one run. Returns 0 when the answer was checked
	 * and is right; nonzero after writing a message to err (a wrong
	 * answer or a failure: the experiment fails and runs no more). */
	int (*run)(const spool_bench_exp *e, void *state, char *err);
	/* After every run, untimed. NULL: nothing to do. */
	void (*teardown)(const spool_bench_exp *e, void *state);
	void *arg; /* the suite's own, for the three functions above */
	/* Each run in a forked child (spool_bench_in_child): isolation, a
	 * per-run peak RSS, and the --timeout limit. Otherwise in this
	 * process, with no RSS figure. */
	bool isolate;
	/* Busy-looping processes (forked before the timed part starts,
	 * killed when it ends) beside each timed run; the JSON line then
	 * carries "hogs": N. 0: none. --hogs replaces it for every
	 * experiment. spool_bench_find() takes the first match in the array,
	 * so a suite puts its rows with hogs after the plain ones. */
	int hogs;

	/* ---- results, written by spool_bench_run() ---- */
	int runs_done;
	double median_s, min_s, max_s; /* wall-clock time of the timed part */
	/* Median CPU time (user + system, all threads of the process) of the
	 * timed part: what the implementation burnt, spinning included; it
	 * also reads more steadily than wall time on a busy machine. -1: not
	 * measured. */
	double cpu_median_s;
	long peak_rss_kib; /* the largest of the runs; -1: not measured */
	bool failed;
	char error[SPOOL_BENCH_ERRLEN];
	double *samples_; /* private: only while spool_bench_run() runs */
};

/* Runs every selected, not skipped experiment o->runs times, interleaved:
 * round 1 runs each once in array order, then round 2, and so on. A failed
 * experiment drops out of later rounds. First measures what the machine
 * gives (spool_bench_machine_measure() with max(2, o->threads) threads)
 * and prints it to stderr, before any figure; measures it again after the
 * last round. Progress goes to stderr. Fills in the result fields; returns
 * the number of failed experiments. */
int spool_bench_run(const spool_bench_opts *o, const spool_bench_suite *suite,
		    spool_bench_exp *exps, size_t nexps);

/* Prints one JSON object per selected experiment to stdout, in array
 * order:
 *   {"suite":"pool","bench":"fib","impl":"spool","threads":2,"n":32,
 *    "runs":5,"median_s":0.1,"min_s":0.09,"max_s":0.12,"cpu_s":0.19,
 *    "peak_rss_kib":5120}
 * (peak_rss_kib only for isolated experiments; "hogs":N after "n" when
 * the runs had N hogs beside them), or with "skipped": "why"
 * in place of the figures, or with "error": "what" for a failure. Then the
 * human table on stderr: what the machine gave (CPUs obtained, load
 * average) at the start and the end, then per bench each impl's median,
 * min, CPU time, CPU time over wall time (the CPUs it kept busy, to read
 * against the CPUs obtained) and its ratio to the suite's reference (time
 * / reference time; below 1 is faster). */
void spool_bench_report(const spool_bench_opts *o,
			const spool_bench_suite *suite,
			const spool_bench_exp *exps, size_t nexps);

/* What the machine gave at the start and at the end of the last
 * spool_bench_run() (cpus_given 0 before any run). The pointers stay
 * valid; the next run overwrites what they point to. */
const spool_bench_machine *spool_bench_machine_start(void);
const spool_bench_machine *spool_bench_machine_end(void);

/* The speedup over one thread a CPU-bound job on `workers` threads could
 * reach during the last run: the smaller of the two measurements'
 * spool_bench_machine_ideal(). */
double spool_bench_ideal_here(int workers);

/* The experiment with this bench, impl and thread count (threads < 1: any)
 * that has a median; NULL if none (skipped, failed, filtered out). */
const spool_bench_exp *spool_bench_find(const spool_bench_exp *exps,
					size_t nexps, const char *bench,
					const char *impl, int threads);

/* For a run() whose work happens in another process (a peer program driven
 * over a pipe, see extpeer.h): adds the CPU seconds that process reports
 * for the timed part to the run's cpu_s, which otherwise counts only this
 * process's threads. What a setup() adds (a warm-up) is not counted. Call
 * it from run(), on the calling thread. Never blocks. */
void spool_bench_add_cpu(double seconds);

/* ---- targets ----------------------------------------------------------- */

/* "impl's median time is at most max_ratio times ref_impl's", on one
 * bench. A throughput target "at least k times ref's throughput" is the
 * time target max_ratio = 1/k with throughput = true, which only changes how
 * it is printed. */
typedef struct spool_bench_target {
	const char *bench;
	const char *impl;
	int threads; /* of impl; < 1: any */
	const char *ref_impl;
	int ref_threads; /* of ref_impl; < 1: any */
	double max_ratio;
	bool throughput;
	/* Optional: an implementation that does the least any implementation
	 * of impl's design must do (a floor). When floor's own ratio to
	 * ref_impl on this run is above max_ratio, no implementation could
	 * meet the target on this machine now: the target is then reported
	 * as "not reachable" with the floor's ratio, not as missed. */
	const char *floor_impl;
	int floor_threads; /* of floor_impl; < 1: any */
	/* A CPU-bound speedup of impl over a one-thread ref_impl: when the
	 * speedup it needs (1 / max_ratio) is above what the CPUs obtained
	 * allow (spool_bench_ideal_here() for impl's threads), the target is
	 * reported as "not reachable", with that ideal, not as missed. */
	bool needs_cpus;
} spool_bench_target;

/* Prints each target whose bench passes --only to stderr with its ratio and
 * "target met", "missed", "not reachable on this machine now (floor allows
 * at best X)" (see floor_impl; or "(ideal here X)", see needs_cpus) or "not
 * measured" (either side has no median). Returns the number missed; unmeasured
 * and unreachable targets do not count as missed. */
int spool_bench_check_targets(const spool_bench_opts *o,
			      const spool_bench_exp *exps, size_t nexps,
			      const spool_bench_target *targets,
			      size_t ntargets);

/* The same for targets on memory: "impl's peak RSS is at most max_ratio
 * times ref_impl's" (throughput is ignored). Prints each target whose
 * bench passes --only, with both figures, met or missed; returns the number
 * missed. */
int spool_bench_check_rss_targets(const spool_bench_opts *o,
				  const spool_bench_exp *exps, size_t nexps,
				  const spool_bench_target *targets,
				  size_t ntargets);

/* ---- isolation ---------------------------------------------------------- */

/* A measurement to run in a child: returns 0 and sets *seconds, or
 * returns nonzero after writing a message to err. */
typedef int (*spool_bench_child_fn)(void *ctx, double *seconds, char *err);

/* Forks; the child runs fn(ctx, ...) under an alarm of timeout_s seconds
 * (0: none) and sends the outcome back through a pipe, then _exit()s. The
 * parent waits and sets *seconds, *peak_rss_kib (the child's ru_maxrss from
 * wait4(), which counts every thread the child started) and returns 0; or
 * returns nonzero with a message in err when fn failed, the child died
 * (signal, timeout) or the fork failed. stdout and stderr are flushed
 * first. Call it only while the calling process has a single thread: a
 * child forked from a threaded process may deadlock in malloc. Blocks. */
int spool_bench_in_child(spool_bench_child_fn fn, void *ctx, int timeout_s,
			 double *seconds, long *peak_rss_kib, char *err);

/* ---- small helpers for suites ----------------------------------------- */

/* Writes a message into err (SPOOL_BENCH_ERRLEN bytes), printf-style, and
 * returns -1, so a run function can `return spool_bench_fail(err, ...)`. */
int spool_bench_fail(char *err, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

#ifdef __cplusplus
}
#endif

#endif /* SPOOL_BENCH_H */
