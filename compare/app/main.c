/* SPDX-License-Identifier: MIT */
/*
 * spool-compare: the program most people run first (`./run demo`).
 *
 *   Part 1  the article's ways of running IO-bound tasks, on spool's loop
 *   Part 2  the same workloads through threads, a GIL model and the loop
 *   Part 3  CPython running them too, its ratios beside the model's
 *
 * Exit status: 0 when everything ran, 1 when a run failed, 2 for a bad
 * command line. A watchdog ends the process if the run overstays
 * --time-limit, so no run is unbounded.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <spool.h>

#include "compare.h"
#include "farm.h"
#ifdef CMP_HAVE_TRACE_SVG
#include "trace_svg.h"
#endif

static double limit_s;

static void *watchdog(void *arg)
{
	(void)arg;
	struct timespec ts = {
		(time_t)limit_s,
		(long)((limit_s - (double)(time_t)limit_s) * 1e9)};
	while (nanosleep(&ts, &ts) != 0)
		;
	static const char msg[] = "spool-compare: time limit reached "
				  "(--time-limit); stopping\n";
	ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)w;
	_exit(1);
}

static void progress(const struct cmp_config *cfg, const char *fmt,
		     const char *a)
{
	if (cfg->quiet)
		return;
	fputs("spool-compare: ", stderr);
	fprintf(stderr, fmt, a);
	fputc('\n', stderr);
}

/* Runs the --timeline scenario once more under spool's tracer, so that its
 * every task run, suspension and wake-up can be opened in Perfetto
 * (DIR/trace.json), with the GIL model's turns as user slices ("holds the
 * GIL", "waits for the GIL", see gil.c). */
static int trace_scenario(const struct cmp_config *cfg)
{
	struct cmp_config one = *cfg;
	char path[4096];
	snprintf(path, sizeof(path), "%s/trace.json", cfg->svg_dir);
	one.runs = 1;
	one.backends = 1u << cfg->timeline_backend;
	int rc = spool_trace_start(path);
	if (rc) {
		fprintf(stderr, "spool-compare: cannot trace into %s: %s\n",
			path, spool_strerror(rc));
		return -1;
	}
	spool_trace_thread_name("main");
	int failed;
	if (cfg->timeline_workload == CMP_W_CONVOY) {
		static struct cmp_convoy_result rows[CMP_CONVOY_MAX_CPUS + 1];
		int n;
		failed = cmp_run_convoy(&one, rows, CMP_CONVOY_MAX_CPUS + 1,
					&n);
	} else {
		struct cmp_result res[CMP_B_COUNT];
		failed = cmp_run_workload(&one, cfg->timeline_workload, res);
	}
	rc = spool_trace_stop();
	if (rc || failed) {
		fprintf(stderr, "spool-compare: tracing %s:%s failed\n",
			cmp_workload_name(cfg->timeline_workload),
			cmp_backend_name(cfg->timeline_backend));
		return -1;
	}
#ifdef CMP_HAVE_TRACE_SVG
	/* The same trace drawn by compare/trace's reader: every thread's
	 * task runs, waits and parks as spool saw them. */
	char svg[4096], title[96];
	snprintf(svg, sizeof(svg), "%s/trace.svg", cfg->svg_dir);
	snprintf(title, sizeof(title), "spool trace: %s on %s",
		 cmp_workload_name(cfg->timeline_workload),
		 cmp_backend_name(cfg->timeline_backend));
	FILE *f = fopen(svg, "w");
	struct trace_svg_options opts = TRACE_SVG_OPTIONS_INIT;
	opts.title = title;
	int src = f ? trace_svg_write(path, f, &opts) : TRACE_SVG_EIO;
	if (f && fclose(f) != 0 && src == 0)
		src = TRACE_SVG_EIO;
	if (src) {
		fprintf(stderr, "spool-compare: cannot draw %s: %s\n", svg,
			trace_svg_strerror(src));
		return -1;
	}
#endif
	return 0;
}

/* Prints section s (w: its workload) as soon as it is measured: the table
 * on stdout, or with --json/--csv the lines on stdout and the table on
 * stderr. */
static void emit(const struct cmp_report *rep, enum cmp_section s, int w)
{
	const struct cmp_config *cfg = rep->cfg;
	switch (cfg->format) {
	case CMP_FMT_JSON:
		cmp_print_json_section(rep, s, w, stdout);
		fflush(stdout);
		cmp_print_table_section(rep, s, w, stderr);
		break;
	case CMP_FMT_CSV:
		cmp_print_csv_section(rep, s, w, stdout);
		fflush(stdout);
		cmp_print_table_section(rep, s, w, stderr);
		break;
	default:
		cmp_print_table_section(rep, s, w, stdout);
	}
}

/* Spinning threads for what the machine gives: as many as the pool has
 * workers, at least two (a parallel lesson needs two). */
static int spinners(const struct cmp_config *cfg)
{
	return cfg->threads > 2 ? cfg->threads : 2;
}

int main(int argc, char **argv)
{
	static struct cmp_config cfg;
	static struct cmp_report rep;
#ifdef CMP_HAVE_MPI
	/* A rank the mpi backend spawned (mpifarm.c): it serves tasks. */
	if (argc == 2 && strcmp(argv[1], CMP_MPI_WORKER_ARG) == 0)
		return cmp_mpi_farm_worker_main();
#endif
	cmp_config_defaults(&cfg);
	int rc = cmp_cli_parse(&cfg, argc, argv, stdout, stderr);
	if (rc == 1)
		return 0;
	if (rc)
		return 2;

	/* Many concurrent requests hold two descriptors each (client and
	 * server side): allow as many as the hard limit does. */
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 &&
	    nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}

	limit_s = cfg.time_limit_s;
	pthread_t wd;
	if (pthread_create(&wd, NULL, watchdog, NULL) == 0)
		pthread_detach(wd);

	int64_t start = cmp_now_ns();
	rep.cfg = &cfg;
	int failures = 0;
	emit(&rep, CMP_SEC_BEGIN, -1);
	if (cfg.parts & (1u << 1)) {
		progress(&cfg, "part 1: %s", "the article's patterns");
		rep.n_article = cmp_article_run(&cfg, rep.article, 16);
		for (int i = 0; i < rep.n_article; i++)
			failures += !rep.article[i].ok;
		emit(&rep, CMP_SEC_PART1, -1);
	}
	rep.loadavg = cmp_loadavg();
	if (cfg.parts & (1u << 2)) {
		/* What the machine gives, before any Part 2 figure. */
		spool_bench_machine_measure(&rep.machine, spinners(&cfg));
		emit(&rep, CMP_SEC_PART2, -1);
		for (int w = 0; w < CMP_W_COUNT; w++) {
			if (!(cfg.workloads & (1u << w)))
				continue;
			progress(&cfg, "part 2: %s", cmp_workload_name(w));
			spool_bench_machine_measure(&rep.machine_before[w],
						    spinners(&cfg));
			if (w == CMP_W_CONVOY) {
				int max = (int)(sizeof(rep.convoy) /
						sizeof(*rep.convoy));
				failures += cmp_run_convoy(&cfg, rep.convoy,
							   max, &rep.n_convoy);
			} else {
				struct cmp_result res[CMP_B_COUNT];
				failures += cmp_run_workload(&cfg, w, res);
				for (int b = 0; b < CMP_B_COUNT; b++)
					if (cfg.backends & (1u << b))
						rep.part2[rep.n_part2++] =
							res[b];
			}
			spool_bench_machine_measure(&rep.machine_after[w],
						    spinners(&cfg));
			emit(&rep, CMP_SEC_WORKLOAD, w);
		}
	}
	if (cfg.parts & (1u << 3)) {
		progress(&cfg, "part 3: %s", "CPython");
		rep.n_py = cmp_python_run(
			&cfg, rep.py, (int)(sizeof(rep.py) / sizeof(*rep.py)),
			rep.py_skipped, sizeof(rep.py_skipped));
		if (rep.n_py < 0)
			rep.n_py = 0; /* skipped, and why, is in the report */
		else
			rep.py_skipped[0] = 0;
		emit(&rep, CMP_SEC_PART3, -1);
	}
	if (cfg.svg_dir) {
		if (cmp_svg_write(&rep, cfg.svg_dir, stderr) != 0 ||
		    trace_scenario(&cfg) != 0)
			failures++;
		else
			progress(&cfg, "charts written to %s", cfg.svg_dir);
	}
	cmp_workloads_cleanup();
	if (!cfg.quiet)
		fprintf(stderr, "spool-compare: done in %.1f s%s\n",
			(double)(cmp_now_ns() - start) / 1e9,
			failures ? ", with failures (see above)" : "");
	return failures ? 1 : 0;
}
