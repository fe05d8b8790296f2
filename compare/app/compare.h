/* SPDX-License-Identifier: MIT */
/*
 * spool-compare's shared definitions: the workloads, the backends they run
 * on, the run configuration and the measured results. The program has three
 * parts: the article's patterns on the event loop (article.c), the same
 * workloads through threads, a GIL model and the loop (backends.c), and
 * CPython beside the model (python.c). cli.c fills a cmp_config, output.c
 * and svg.c print what the parts measured.
 */
#ifndef CMP_COMPARE_H
#define CMP_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "machine.h" /* compare/common: what the machine gives now */

enum cmp_workload {
	CMP_W_SLEEP,   /* IO-bound: each task sleeps its delay */
	CMP_W_REQUEST, /* IO-bound: one request to the local delay server */
	CMP_W_FIB,     /* CPU-bound: recursive fib(n) */
	CMP_W_HASH,    /* CPU-bound: FNV-1a rounds over a buffer */
	CMP_W_MIXED,   /* request latency while CPU jobs run */
	CMP_W_CONVOY, /* echo round trips beside CPU-bound threads (convoy.c) */
	CMP_W_COUNT
};

enum cmp_backend {
	CMP_B_SEQ,         /* one after another on the calling thread */
	CMP_B_POOL,        /* the pool with --threads workers */
	CMP_B_THREADS,     /* one thread per task (workers = tasks) */
	CMP_B_GIL,         /* the pool with --threads workers + GIL model */
	CMP_B_GIL_THREADS, /* one thread per task + GIL model */
	CMP_B_LOOP,        /* coroutines on the event loop */
	CMP_B_LOOP_POOL,   /* the loop, CPU parts via run_in_executor */
	CMP_B_PROCS,       /* --threads worker processes, tasks through pipes */
	CMP_B_MPI,         /* --threads MPI ranks, tasks as MPI messages */
	CMP_B_COUNT
};

enum cmp_format { CMP_FMT_TABLE, CMP_FMT_JSON, CMP_FMT_CSV };

struct cmp_config {
	int tasks;                  /* tasks per workload run */
	int threads;                /* pool workers (T) */
	uint64_t seed;              /* delays' jitter, hash buffer, payloads */
	int runs;                   /* repetitions; the median is reported */
	int64_t delay_ns;           /* mean IO delay (sleep, request) */
	int fib_n;                  /* fib(n) per task */
	int hash_kib;               /* hash buffer size */
	int hash_rounds;            /* FNV-1a passes over the buffer per task */
	int mixed_requests;         /* requests made by the mixed client */
	int64_t mixed_delay_ns;     /* server delay in the mixed workload */
	int mixed_rounds;           /* most hash rounds of a mixed CPU job */
	int64_t switch_interval_ns; /* GIL model's switch interval */
	int pickle_bytes;           /* procs: bytes of each task and result */
	int round_trips;            /* convoy: round trips timed per run */
	int convoy_cpus;    /* convoy: rows for 0..this many CPU threads */
	unsigned parts;     /* bit p: run part p (1..3) */
	unsigned workloads; /* bit per cmp_workload */
	unsigned backends;  /* bit per cmp_backend */
	enum cmp_format format;
	const char *svg_dir;    /* NULL: no charts */
	const char *python;     /* interpreter; NULL: search; "" disabled */
	const char *python_dir; /* where compare.py lives */
	int timeline_workload;  /* scenario drawn as a timeline */
	int timeline_backend;
	double time_limit_s; /* the whole run is aborted after this */
	bool quiet;
};

/* The backends "all" and the defaults mean: every one but mpi, which runs
 * only when named (--backend mpi, --mpi): it needs MPI at build time, and
 * each run spawns ranks through MPI's launcher. */
#define CMP_BACKENDS_ALL (((1u << CMP_B_COUNT) - 1) & ~(1u << CMP_B_MPI))

/* Whether this spool-compare was built with MPI (the mpi backend). */
bool cmp_mpi_built(void);

/* The defaults: the run `./run demo` makes. */
void cmp_config_defaults(struct cmp_config *cfg);

const char *cmp_workload_name(int w);
const char *cmp_backend_name(int b);
const char *cmp_workload_doc(int w);
const char *cmp_backend_doc(int b);
int cmp_workload_parse(const char *s); /* -1 if unknown */
int cmp_backend_parse(const char *s);

/* ---- command line (cli.c) ---------------------------------------------- */

/* Parses argv into cfg (which starts from the defaults). Returns 0 to run,
 * 1 when --help or --list was handled (exit 0), 2 on a bad command line
 * after writing a one-line message and a hint to err. */
int cmp_cli_parse(struct cmp_config *cfg, int argc, char **argv, FILE *out,
		  FILE *err);
void cmp_cli_usage(FILE *out);

/* ---- measured results ---------------------------------------------------- */

struct cmp_result {
	int workload, backend;
	bool ok;
	char error[96]; /* why not ok */
	int runs;
	double wall_s;     /* median over runs */
	double min_s;      /* fastest run: what other load cannot inflate */
	double cpu_s;      /* user+system, median */
	long peak_rss_kib; /* high-water mark of resident memory */
	double ideal_s;    /* what perfect scheduling would take */
	double speedup;    /* sequential's wall_s / this wall_s; 0: n/a */
	uint64_t checksum; /* the workload's answer: equal on every backend */
	double p50_ms, p99_ms; /* mixed: request latency */
	uint64_t gil_switches, gil_drop_requests;
};

/* Whether backend b has a row for workload w: every backend runs the
 * sleep, request, fib, hash and mixed workloads; the convoy runs on seq,
 * pool, gil, loop, procs and (when built) mpi. */
bool cmp_backend_applies(int w, int b);

/* Part 2: runs workload w (not the convoy: cmp_run_convoy()) on every
 * backend selected in cfg->backends, cfg->runs times each, interleaved
 * (A B C A B C ...), and fills out[b] for each (out[b].ok false and
 * .error set when backend b failed; the others are zeroed). The servers
 * start on demand (request, mixed). Returns the number of backends that
 * failed. */
int cmp_run_workload(const struct cmp_config *cfg, int w,
		     struct cmp_result out[CMP_B_COUNT]);

/* ---- the convoy (convoy.c) ------------------------------------------------
 * A client thread times round trips of CMP_CONVOY_BYTES bytes to an echo
 * thread on 127.0.0.1 while 0, 1, ... cfg->convoy_cpus CPU-bound threads
 * run beside them. Under the GIL model every one of those threads runs
 * "Python": each socket call releases the model's lock and takes it back
 * afterwards, and with a CPU-bound holder that take waits for a forced
 * switch, up to a switch interval. */

#define CMP_CONVOY_BYTES 8
/* The client's pause before each round trip (not timed): the server
 * thread is idle between two requests, as a server between two clients'
 * requests is, and the CPU-bound threads may take the lock meanwhile. */
#define CMP_CONVOY_GAP_NS (1000 * 1000)
#define CMP_CONVOY_MAX_CPUS 8

struct cmp_convoy_result {
	int backend;     /* seq, pool, gil, loop, procs or mpi */
	int cpu_threads; /* CPU-bound threads beside the echo */
	bool ok;
	char error[96];
	int runs, round_trips;
	double p50_ms, p99_ms; /* medians over the runs of each run's */
	double factor;     /* p50 / the same backend's p50 without CPU threads;
			      0 when that was not measured */
	double wall_s;     /* median time of a run's timed round trips */
	uint64_t checksum; /* of the echoed bytes: equal everywhere */
	uint64_t gil_switches, gil_drop_requests; /* first run */
};

/* Runs the convoy for every selected backend it applies to and every
 * CPU-thread count 0..cfg->convoy_cpus (seq: 0 only), cfg->runs times,
 * interleaved, and fills up to max rows of out, backend by backend in
 * enum order, CPU threads ascending. Sets *n to the rows filled and
 * returns how many failed. */
int cmp_run_convoy(const struct cmp_config *cfg, struct cmp_convoy_result *out,
		   int max, int *n);

/* Releases what cmp_run_workload keeps between calls (the servers, the
 * hash buffer). */
void cmp_workloads_cleanup(void);

/* The i-th task's delay in the sleep workload: uniform in [0.5, 1.5) x
 * mean_ns, from seed (compare.py derives the same). */
int64_t cmp_task_delay_ns(uint64_t seed, int i, int64_t mean_ns);

/* The ports of the two delay servers on 127.0.0.1 (started if needed):
 * one answering after cfg->delay_ns, one after cfg->mixed_delay_ns.
 * Returns 0, or -1 with why set. */
int cmp_servers_ports(const struct cmp_config *cfg, uint16_t *port,
		      uint16_t *mixed_port, char *why, size_t why_len);

/* ---- Part 1: the article (article.c) ------------------------------------ */

#define CMP_ARTICLE_TASKS 8
struct cmp_article_result {
	const char *name;   /* e.g. "gather" */
	const char *title;  /* one line for the table */
	const char *lesson; /* what it shows */
	bool ok;
	char error[96];
	double wall_s, ideal_s;
	int n_order;
	int order[3 * CMP_ARTICLE_TASKS]; /* task ids as handled */
	char outcome[160]; /* e.g. "errors: task 3 failed (code 3)" */
};

/* Runs every scenario; returns how many were filled into res (at most max). */
int cmp_article_run(const struct cmp_config *cfg,
		    struct cmp_article_result *res, int max);

/* ---- Part 3: CPython (python.c) ----------------------------------------- */

struct cmp_py_result {
	char workload[16], backend[24];
	int tasks, threads, runs;
	double n; /* the size, as compare.py reports it */
	double wall_s, speedup, cpu_s;
	double p50_ms, p99_ms;
	int cpu_threads;  /* convoy: CPU-bound threads beside the echo */
	double factor;    /* convoy: p50 over the same backend's without */
	char skipped[96]; /* nonempty: not measured, and why */
};

/* Runs compare/python/compare.py; fills up to max results. Returns the
 * count, or -1 with why set (no python3, script failed, timeout). */
int cmp_python_run(const struct cmp_config *cfg, struct cmp_py_result *res,
		   int max, char *why, size_t why_len);

/* ---- output (output.c, svg.c) ------------------------------------------- */

struct cmp_report {
	const struct cmp_config *cfg;
	struct cmp_article_result article[16];
	int n_article;
	struct cmp_result part2[CMP_W_COUNT * CMP_B_COUNT];
	int n_part2;
	struct cmp_convoy_result
		convoy[CMP_B_COUNT * (CMP_CONVOY_MAX_CPUS + 1)];
	int n_convoy;
	struct cmp_py_result py[96];
	int n_py;
	char py_skipped[128]; /* nonempty: part 3 not run, and why */
	double loadavg;       /* 1-minute load average when Part 2 began */
	/* What the machine gave (CPUs obtained by max(2, T) spinning
	 * threads, load average): when Part 2 began, and just before and
	 * just after each workload ran (cpus_given 0: not measured). */
	spool_bench_machine machine;
	spool_bench_machine machine_before[CMP_W_COUNT];
	spool_bench_machine machine_after[CMP_W_COUNT];
};

/* The pieces of the output, in the order the program measures them: each
 * is printed as soon as its figures exist, so that Part 1's results do not
 * wait for Part 3. */
enum cmp_section {
	CMP_SEC_BEGIN,    /* the title (table), the header line (CSV) */
	CMP_SEC_PART1,    /* the article's scenarios */
	CMP_SEC_PART2,    /* Part 2's header: the machine, before any run */
	CMP_SEC_WORKLOAD, /* one Part 2 workload's rows (the convoy's too) */
	CMP_SEC_PART3,    /* CPython */
};

/* Print one section of rep (w: the workload, for CMP_SEC_WORKLOAD) to out.
 * Printing every section in order gives what cmp_print_table(), _json()
 * and _csv() print in one go. rep and out: borrowed; not thread-safe. */
void cmp_print_table_section(const struct cmp_report *rep, enum cmp_section s,
			     int w, FILE *out);
void cmp_print_json_section(const struct cmp_report *rep, enum cmp_section s,
			    int w, FILE *out);
void cmp_print_csv_section(const struct cmp_report *rep, enum cmp_section s,
			   int w, FILE *out);
void cmp_print_table(const struct cmp_report *rep, FILE *out);
void cmp_print_json(const struct cmp_report *rep, FILE *out);
void cmp_print_csv(const struct cmp_report *rep, FILE *out);

/* Writes DIR/speedup.svg and DIR/timeline.svg. Returns 0 or -1 (message to
 * err). */
int cmp_svg_write(const struct cmp_report *rep, const char *dir, FILE *err);

/* ---- timeline recording (timeline.c) ------------------------------------ */

enum cmp_span_kind { CMP_SPAN_TASK, CMP_SPAN_GIL };
struct cmp_span {
	int thread; /* small id, in order of first appearance */
	int kind;
	int task; /* task index; -1 for GIL spans */
	int64_t begin_ns, end_ns;
};

/* Recording is off unless cmp_timeline_start() was called; the record calls
 * are then thread-safe and lock-free. */
void cmp_timeline_start(void);
void cmp_timeline_stop(void);
bool cmp_timeline_on(void);
void cmp_timeline_record(int kind, int task, int64_t begin_ns, int64_t end_ns);
/* The recorded spans (valid until the next start) and thread names. */
const struct cmp_span *cmp_timeline_spans(int *n, int64_t *origin_ns);
const char *cmp_timeline_thread_name(int thread);
int cmp_timeline_threads(void);

/* CLOCK_MONOTONIC in ns; CPU time in ns of the process, of its children
 * it has waited for (worker processes) and of the ranks that reported
 * theirs (cmp_cpu_add_ns); peak RSS in KiB. */
int64_t cmp_now_ns(void);
int64_t cmp_cpu_ns(void);
/* Adds ns to what cmp_cpu_ns() reports from now on: the CPU time of
 * processes that are not the program's children (the mpi backend's ranks,
 * which report their own). Thread-safe. */
void cmp_cpu_add_ns(int64_t ns);
long cmp_peak_rss_kib(void);
/* Resets the peak-RSS high-water mark if the kernel allows it; returns
 * whether it did. */
bool cmp_peak_rss_reset(void);

double cmp_median(double *v, int n);

/* The nearest-rank p-th percentile (0 < p <= 100) of n > 0 sorted
 * nanosecond values, in milliseconds. */
double cmp_percentile_ms(const int64_t *sorted, int n, double p);

/* Sorts n nanosecond values in place, ascending. */
void cmp_sort_ns(int64_t *v, int n);

/* The 1-minute load average (/proc/loadavg), or -1. */
double cmp_loadavg(void);

#endif /* CMP_COMPARE_H */
