/* SPDX-License-Identifier: MIT */
/*
 * What spool-compare prints: a table for people (stdout by default, stderr
 * with --json or --csv), JSON lines in the benchmarks' format
 * (docs/results/README.md), and CSV.
 * docs/compare.md explains how to read each column.
 */
#include <string.h>
#include <unistd.h>

#include <spool.h>

#include "compare.h"

/* The C backend a CPython backend is compared with in Part 3 for
 * workload w, or -1. ProcessPoolExecutor's counterpart is procs, worker
 * processes; when procs did not run, the pool (parallel, no GIL) stands
 * in. */
static int c_peer(const struct cmp_report *rep, int w, const char *py_backend)
{
	static const struct {
		const char *py;
		int c;
	} lesson[] =
		{
			{"sequential", CMP_B_SEQ},
			{"threadpool", CMP_B_GIL},
			{"threads", CMP_B_GIL_THREADS},
			{"processpool", CMP_B_PROCS},
			{"asyncio", CMP_B_LOOP},
			{"asyncio-threads",
			 -1}, /* the model has no loop + GIL pool */
			{"asyncio-processes", CMP_B_LOOP_POOL},
		},
	  convoy[] = {
		  {"sequential", CMP_B_SEQ},
		  {"threads", CMP_B_GIL},
		  {"processpool", CMP_B_PROCS},
		  {"asyncio-processes", CMP_B_LOOP},
	  };
	bool cv = w == CMP_W_CONVOY;
	size_t n = cv ? sizeof(convoy) / sizeof(*convoy)
		      : sizeof(lesson) / sizeof(*lesson);
	for (size_t i = 0; i < n; i++) {
		const char *py = cv ? convoy[i].py : lesson[i].py;
		int c = cv ? convoy[i].c : lesson[i].c;
		if (strcmp(py, py_backend))
			continue;
		if (c == CMP_B_PROCS && !cv &&
		    !(rep->cfg->backends & (1u << CMP_B_PROCS)))
			c = CMP_B_POOL;
		return c;
	}
	return -1;
}

static const struct cmp_result *find_c(const struct cmp_report *rep, int w,
				       int b)
{
	for (int i = 0; i < rep->n_part2; i++)
		if (rep->part2[i].workload == w && rep->part2[i].backend == b)
			return &rep->part2[i];
	return NULL;
}

static const struct cmp_convoy_result *find_convoy(const struct cmp_report *rep,
						   int b, int cpu_threads)
{
	for (int i = 0; i < rep->n_convoy; i++)
		if (rep->convoy[i].backend == b &&
		    rep->convoy[i].cpu_threads == cpu_threads &&
		    rep->convoy[i].ok)
			return &rep->convoy[i];
	return NULL;
}

/* The size a workload's "n" reports. */
static double workload_size(const struct cmp_config *cfg, int w)
{
	switch (w) {
	case CMP_W_SLEEP:
	case CMP_W_REQUEST:
		return (double)cfg->delay_ns / 1e6;
	case CMP_W_FIB:
		return cfg->fib_n;
	case CMP_W_HASH:
		return (double)cfg->hash_kib * cfg->hash_rounds;
	case CMP_W_CONVOY:
		return cfg->round_trips;
	default:
		return cfg->mixed_requests;
	}
}

static const char *size_doc(const struct cmp_config *cfg, int w, char *buf,
			    size_t len)
{
	switch (w) {
	case CMP_W_SLEEP:
		snprintf(buf, len, "%d tasks, delays %.0f..%.0f ms", cfg->tasks,
			 (double)cfg->delay_ns / 2e6,
			 (double)cfg->delay_ns * 1.5 / 1e6);
		break;
	case CMP_W_REQUEST:
		snprintf(buf, len, "%d tasks, server delay %.0f ms", cfg->tasks,
			 (double)cfg->delay_ns / 1e6);
		break;
	case CMP_W_FIB:
		snprintf(buf, len, "%d tasks of fib(%d)", cfg->tasks,
			 cfg->fib_n);
		break;
	case CMP_W_HASH:
		snprintf(buf, len, "%d tasks of %d FNV-1a rounds over %d KiB",
			 cfg->tasks, cfg->hash_rounds, cfg->hash_kib);
		break;
	default:
		snprintf(buf, len,
			 "%d requests (server delay %.0f ms) while %d CPU "
			 "jobs run",
			 cfg->mixed_requests, (double)cfg->mixed_delay_ns / 1e6,
			 cfg->threads);
	}
	return buf;
}

static void order_text(const struct cmp_article_result *a, char *buf,
		       size_t len)
{
	size_t k = 0;
	buf[0] = 0;
	for (int i = 0; i < a->n_order && k + 8 < len; i++)
		k += (size_t)snprintf(buf + k, len - k, "%s%d", i ? " " : "",
				      a->order[i]);
}

/* ---- the table --------------------------------------------------------------
 */

static void rule(FILE *out)
{
	fputs("------------------------------------------------------------"
	      "--------------------\n",
	      out);
}

static void table_part1(const struct cmp_report *rep, FILE *out)
{
	fputs("\nPart 1: the article's ways to run IO-bound tasks, on the "
	      "event loop\n",
	      out);
	fprintf(out,
		"%d sample tasks sleep their delay with spool_sleep (one "
		"coroutine each);\n"
		"'order' lists the tasks in the order their results were "
		"handled.\n",
		CMP_ARTICLE_TASKS);
	rule(out);
	fprintf(out, "%-30s %8s %8s  %s\n", "scenario", "wall ms", "ideal ms",
		"order handled / outcome");
	rule(out);
	for (int i = 0; i < rep->n_article; i++) {
		const struct cmp_article_result *a = &rep->article[i];
		char ord[128];
		if (!a->ok) {
			fprintf(out, "%-30s  FAILED: %s\n", a->title, a->error);
			continue;
		}
		order_text(a, ord, sizeof(ord));
		fprintf(out, "%-30s %8.1f %8.1f  %s\n", a->title,
			a->wall_s * 1e3, a->ideal_s * 1e3, ord);
		if (a->outcome[0])
			fprintf(out, "%-30s %17s  %s\n", "", "", a->outcome);
		fprintf(out, "%-30s %17s  -> %s\n", "", "", a->lesson);
	}
}

/* The smaller of the CPUs given before and after workload w ran (what the
 * whole run could count on), as spool_bench_machine_ideal() for `workers`
 * threads; the workers themselves when the machine was not measured. */
static double ideal_here(const struct cmp_report *rep, int w, int workers)
{
	const spool_bench_machine *a = &rep->machine_before[w],
				  *b = &rep->machine_after[w];
	if (a->cpus_given <= 0)
		return workers;
	double x = spool_bench_machine_ideal(a, workers);
	double y = b->cpus_given > 0 ? spool_bench_machine_ideal(b, workers)
				     : x;
	return x < y ? x : y;
}

/* Of the two looks around workload w, the one that left the least room
 * for a parallel speedup (the one ideal_here() took). */
static const spool_bench_machine *worst_look(const struct cmp_report *rep,
					     int w)
{
	const spool_bench_machine *a = &rep->machine_before[w],
				  *b = &rep->machine_after[w];
	int t = rep->cfg->threads;
	if (b->cpus_given > 0 &&
	    spool_bench_machine_ideal(b, t) < spool_bench_machine_ideal(a, t))
		return b;
	return a;
}

/* The CPUs the spinning threads got in that look (0: not measured). */
static double cpus_given(const struct cmp_report *rep, int w)
{
	return worst_look(rep, w)->cpus_given;
}

static void machine_lines(const struct cmp_report *rep, int w, FILE *out)
{
	if (rep->machine_before[w].cpus_given <= 0)
		return;
	spool_bench_machine_print(&rep->machine_before[w], out,
				  "machine before");
	if (rep->machine_after[w].cpus_given > 0)
		spool_bench_machine_print(&rep->machine_after[w], out,
					  "machine after ");
}

static void table_part2_head(const struct cmp_report *rep, FILE *out)
{
	const struct cmp_config *cfg = rep->cfg;
	fprintf(out,
		"\nPart 2: threads against async (T=%d pool workers, %d "
		"CPUs online, GIL switch interval %.1f ms, median of %d "
		"runs)\n",
		cfg->threads, rep->machine.online,
		(double)cfg->switch_interval_ns / 1e6, cfg->runs);
	spool_bench_machine_print(&rep->machine, out, NULL);
	fprintf(out,
		"Each workload measures the machine again before and after "
		"it runs; a speedup\nis read against \"ideal here\", the "
		"CPUs its threads could get, not the CPUs online.\n");
	fflush(out);
}

/* What the CPU-bound rows of workload w can show on this machine, printed
 * above them: the speedup a parallel backend can reach, and whether the
 * GIL lesson (pool speeds up, gil does not) can show at all. */
static void cpu_bound_notes(const struct cmp_report *rep, int w, FILE *out)
{
	const struct cmp_config *cfg = rep->cfg;
	double ideal = ideal_here(rep, w, cfg->threads);
	const spool_bench_machine *m = worst_look(rep, w);
	double given = m->cpus_given;
	fprintf(out,
		"ideal here: %.2fx for pool, procs and mpi, %.2fx for threads "
		"(%d "
		"threads got %.2f CPUs,\n"
		"            1 thread %.2f); at most 1x for gil and "
		"gil-threads (one thread computes at a time)\n",
		ideal, ideal_here(rep, w, cfg->tasks), m->threads, given,
		m->cpus_one);
	if (cfg->threads < 2)
		fprintf(out,
			"the GIL lesson needs at least 2 pool workers "
			"(--threads %d): pool and gil speedups cannot differ "
			"here\n",
			cfg->threads);
	else if (m->cpus_one < 0.9)
		/* Other programs compete for the CPUs: the scheduler shares
		 * them out per thread, so a backend with more threads wins a
		 * larger share whether or not they compute at once, and a
		 * GIL backend can beat seq for that reason alone. */
		fprintf(out,
			"the GIL lesson needs 2 free CPUs; one thread got only "
			"%.2f CPUs here: other\nprograms compete for the "
			"CPUs, and a backend with more threads wins a larger\n"
			"share of them, GIL or not, so gil and gil-threads "
			"may pass 1x (rerun when\n`uptime` shows a load "
			"below the CPUs online)\n",
			m->cpus_one);
	else if (ideal < 1.5)
		fprintf(out,
			"the GIL lesson needs 2 free CPUs; this machine gave "
			"%.2f for %d threads (ideal %.2fx):\npool and gil "
			"speedups cannot differ here (read cpu ms against "
			"wall ms; rerun when\n`uptime` shows a load below "
			"the CPUs online)\n",
			given, m->threads, ideal);
	else
		fprintf(out,
			"the GIL lesson can show: pool and procs should come "
			"near %.2fx, gil and\ngil-threads stay at or below "
			"1x\n",
			ideal);
	if (cfg->backends & (1u << CMP_B_MPI))
		fprintf(out,
			"mpi spawns its ranks through MPI's launcher in every "
			"run, which takes far\nlonger than a fork: it comes "
			"near the ideal only when the tasks outlast that\n"
			"start-up many times (see its cpu ms and the procs "
			"row)\n");
}

/* A CPU-bound sequential run that got less than its wall time in CPU time
 * was sharing the CPUs with other programs. */
static void seq_note(const struct cmp_report *rep, int w, FILE *out)
{
	if (w != CMP_W_FIB && w != CMP_W_HASH)
		return; /* IO-bound: seq waits, and using no CPU is right */
	for (int i = 0; i < rep->n_part2; i++) {
		const struct cmp_result *r = &rep->part2[i];
		if (r->workload != w || !r->ok || r->backend != CMP_B_SEQ ||
		    r->wall_s <= 0)
			continue;
		if (r->cpu_s < 0.85 * r->wall_s)
			fprintf(out,
				"note: seq used a CPU for only %.0f%% of its "
				"wall time (load average %.1f): other\n"
				"programs took the rest, so every speedup "
				"above is measured against a slowed seq.\n",
				100 * r->cpu_s / r->wall_s,
				rep->machine_before[w].loadavg);
	}
}

/* The mixed workload's reading on this machine: the client's latency is
 * the server's delay plus whatever keeps its thread from running. */
static void mixed_notes(const struct cmp_report *rep, FILE *out)
{
	const struct cmp_config *cfg = rep->cfg;
	double given = cpus_given(rep, CMP_W_MIXED);
	fprintf(out,
		"x delay = p50 / the server's delay (%.1f ms); on threads and "
		"loop-pool it stays\nnear 1x while the client gets a CPU, "
		"on gil it grows with the switch interval.\n",
		(double)cfg->mixed_delay_ns / 1e6);
	if (given > 0 && given < cfg->threads + 0.5)
		fprintf(out,
			"here %d CPU jobs and the client share %.2f CPUs: a "
			"p50 above 1x on threads\nand loop-pool measures "
			"the machine; compare gil with them, not with the "
			"docs' figures.\n",
			cfg->threads, given);
}

static void table_workload(const struct cmp_report *rep, int w, FILE *out)
{
	const struct cmp_config *cfg = rep->cfg;
	char doc[128];
	bool head = false;
	for (int i = 0; i < rep->n_part2; i++) {
		const struct cmp_result *r = &rep->part2[i];
		if (r->workload != w)
			continue;
		if (!head) {
			head = true;
			fprintf(out, "\n%s: %s\n", cmp_workload_name(w),
				size_doc(cfg, w, doc, sizeof(doc)));
			machine_lines(rep, w, out);
			if (w == CMP_W_FIB || w == CMP_W_HASH)
				cpu_bound_notes(rep, w, out);
			if (w == CMP_W_MIXED)
				mixed_notes(rep, out);
			rule(out);
			if (w == CMP_W_MIXED)
				fprintf(out,
					"%-12s %9s %9s %8s %9s %8s %8s "
					"%9s\n",
					"backend", "wall ms", "p50 ms",
					"x delay", "p99 ms", "cpu ms",
					"RSS KiB", "GIL drops");
			else
				fprintf(out,
					"%-12s %9s %9s %8s %9s %5s %8s "
					"%9s\n",
					"backend", "wall ms", "ideal ms",
					"speedup", "cpu ms", "CPUs", "RSS KiB",
					"GIL drops");
			rule(out);
		}
		if (!r->ok) {
			fprintf(out, "%-12s FAILED: %s\n",
				cmp_backend_name(r->backend), r->error);
			continue;
		}
		char drops[24] = "-";
		if (r->backend == CMP_B_GIL || r->backend == CMP_B_GIL_THREADS)
			snprintf(drops, sizeof(drops), "%llu",
				 (unsigned long long)r->gil_drop_requests);
		if (r->workload == CMP_W_MIXED) {
			double d = (double)cfg->mixed_delay_ns / 1e6;
			fprintf(out,
				"%-12s %9.1f %9.2f %7.1fx %9.2f %8.1f %8ld "
				"%9s\n",
				cmp_backend_name(r->backend), r->wall_s * 1e3,
				r->p50_ms, d > 0 ? r->p50_ms / d : 0, r->p99_ms,
				r->cpu_s * 1e3, r->peak_rss_kib, drops);
			continue;
		}
		char ideal[16] = "-", speed[16] = "-";
		if (r->ideal_s > 0)
			snprintf(ideal, sizeof(ideal), "%.1f",
				 r->ideal_s * 1e3);
		if (r->speedup > 0)
			snprintf(speed, sizeof(speed), "%.2fx", r->speedup);
		fprintf(out, "%-12s %9.1f %9s %8s %9.1f %5.2f %8ld %9s\n",
			cmp_backend_name(r->backend), r->wall_s * 1e3, ideal,
			speed, r->cpu_s * 1e3,
			r->wall_s > 0 ? r->cpu_s / r->wall_s : 0,
			r->peak_rss_kib, drops);
	}
	if (head)
		seq_note(rep, w, out);
}

/* A convoy factor: "-" when there is none, one decimal below 10. */
static void fmt_factor(char *buf, size_t len, double f)
{
	if (f <= 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, f < 10 ? "%.1fx" : "%.0fx", f);
}

static void table_convoy(const struct cmp_report *rep, FILE *out)
{
	const struct cmp_config *cfg = rep->cfg;
	if (!(cfg->workloads & (1u << CMP_W_CONVOY)))
		return;
	fprintf(out,
		"\nconvoy: %d round trips of %d bytes to an echo thread "
		"beside 0..%d CPU-bound threads\n",
		cfg->round_trips, CMP_CONVOY_BYTES, cfg->convoy_cpus);
	machine_lines(rep, CMP_W_CONVOY, out);
	double given = cpus_given(rep, CMP_W_CONVOY);
	fprintf(out,
		"factor = p50 beside the CPU threads / the same backend's p50 "
		"without them:\nunder the GIL model it grows with the switch "
		"interval, elsewhere it stays small\n");
	if (given > 0 && given < 1.5)
		fprintf(out,
			"the convoy lesson needs 2 free CPUs (the echo beside "
			"a CPU thread); this\nmachine gave %.2f, so every "
			"backend's echo also waits for a CPU here and the\n"
			"pool, loop, procs and mpi factors rise too: read "
			"the gil rows against\nthem, not against the docs' "
			"figures.\n",
			given);
	rule(out);
	fprintf(out, "%-12s %11s %10s %10s %10s %9s\n", "backend",
		"CPU threads", "p50 ms", "p99 ms", "factor", "GIL drops");
	rule(out);
	if (rep->n_convoy == 0)
		fputs("(no backend with a convoy row selected: seq, pool, "
		      "gil, loop, procs, mpi)\n",
		      out);
	for (int i = 0; i < rep->n_convoy; i++) {
		const struct cmp_convoy_result *r = &rep->convoy[i];
		if (!r->ok) {
			fprintf(out, "%-12s %11d FAILED: %s\n",
				cmp_backend_name(r->backend), r->cpu_threads,
				r->error);
			continue;
		}
		char factor[16] = "-", drops[24] = "-";
		fmt_factor(factor, sizeof(factor), r->factor);
		if (r->backend == CMP_B_GIL || r->backend == CMP_B_PROCS ||
		    r->backend == CMP_B_MPI)
			snprintf(drops, sizeof(drops), "%llu",
				 (unsigned long long)r->gil_drop_requests);
		fprintf(out, "%-12s %11d %10.3f %10.3f %10s %9s\n",
			cmp_backend_name(r->backend), r->cpu_threads, r->p50_ms,
			r->p99_ms, factor, drops);
	}
}

/* Whether two speedups tell the same story: within a factor of 1.5 of
 * each other. */
static const char *agreement(double py, double c)
{
	if (py <= 0 || c <= 0)
		return "";
	double r = py > c ? py / c : c / py;
	return r <= 1.5 ? "agree" : "differ";
}

/* Whether two convoy round trips tell the same story: both under 1 ms
 * (nothing waits for a switch interval), or within a factor of 1.5 of
 * each other. The medians, not the factors, are compared: each side's
 * factor divides by its own round trip without CPU threads, which is a
 * few microseconds in C and tens in Python. */
static const char *convoy_agreement(double py_ms, double c_ms)
{
	if (py_ms <= 0 || c_ms <= 0)
		return "";
	if (py_ms < 1 && c_ms < 1)
		return "agree";
	return agreement(py_ms, c_ms);
}

static void table_part3(const struct cmp_report *rep, FILE *out)
{
	fputs("\nPart 3: CPython beside the C model (speedup against each "
	      "side's own sequential run)\n",
	      out);
	if (rep->py_skipped[0]) {
		fprintf(out, "skipped: %s\n", rep->py_skipped);
		return;
	}
	fputs("CPython's CPU sizes are smaller (pure Python is slower), so "
	      "compare ratios, not times.\n",
	      out);
	const char *last = "";
	for (int i = 0; i < rep->n_py; i++) {
		const struct cmp_py_result *p = &rep->py[i];
		if (strcmp(p->workload, last)) {
			last = p->workload;
			fprintf(out, "\n%s\n", p->workload);
			rule(out);
			if (!strcmp(p->workload, "mixed"))
				fprintf(out, "%-18s %9s %9s   %-12s %9s %9s\n",
					"CPython", "p50 ms", "p99 ms",
					"C model", "p50 ms", "p99 ms");
			else if (!strcmp(p->workload, "convoy"))
				fprintf(out,
					"%-17s %3s %8s %8s   %-7s %8s %8s  "
					"%s\n",
					"CPython", "CPU", "p50 ms", "factor",
					"C model", "p50 ms", "factor", "p50s");
			else
				fprintf(out, "%-18s %9s %9s   %-12s %9s  %s\n",
					"CPython", "wall ms", "speedup",
					"C model", "speedup", "ratios");
			rule(out);
		}
		if (p->skipped[0]) {
			fprintf(out, "%-18s skipped: %s\n", p->backend,
				p->skipped);
			continue;
		}
		int w = cmp_workload_parse(p->workload);
		int cb = c_peer(rep, w, p->backend);
		const struct cmp_result *c = (w >= 0 && cb >= 0)
						     ? find_c(rep, w, cb)
						     : NULL;
		if (w == CMP_W_CONVOY) {
			const struct cmp_convoy_result *cv =
				cb >= 0 ? find_convoy(rep, cb, p->cpu_threads)
					: NULL;
			char pf[16] = "-", cf[16] = "-";
			fmt_factor(pf, sizeof(pf), p->factor);
			fprintf(out, "%-17s %3d %8.3f %8s   ", p->backend,
				p->cpu_threads, p->p50_ms, pf);
			if (cv) {
				fmt_factor(cf, sizeof(cf), cv->factor);
				fprintf(out, "%-7s %8.3f %8s  %s\n",
					cmp_backend_name(cb), cv->p50_ms, cf,
					convoy_agreement(p->p50_ms,
							 cv->p50_ms));
			} else {
				fprintf(out, "%-7s %8s\n",
					cb >= 0 ? cmp_backend_name(cb)
						: "(none)",
					"-");
			}
			continue;
		}
		if (w == CMP_W_MIXED) {
			fprintf(out, "%-18s %9.2f %9.2f   ", p->backend,
				p->p50_ms, p->p99_ms);
			if (c && c->ok)
				fprintf(out, "%-12s %9.2f %9.2f\n",
					cmp_backend_name(cb), c->p50_ms,
					c->p99_ms);
			else
				fprintf(out, "%-12s\n",
					cb >= 0 ? cmp_backend_name(cb) : "-");
			continue;
		}
		fprintf(out, "%-18s %9.1f %8.2fx   ", p->backend,
			p->wall_s * 1e3, p->speedup);
		if (c && c->ok && c->speedup > 0)
			fprintf(out, "%-12s %8.2fx  %s\n", cmp_backend_name(cb),
				c->speedup, agreement(p->speedup, c->speedup));
		else
			fprintf(out, "%-12s %9s\n",
				cb >= 0 ? cmp_backend_name(cb) : "(none)", "-");
	}
}

void cmp_print_table_section(const struct cmp_report *rep, enum cmp_section s,
			     int w, FILE *out)
{
	const struct cmp_config *cfg = rep->cfg;
	switch (s) {
	case CMP_SEC_BEGIN:
		fprintf(out,
			"spool-compare %s: threads, a GIL model and an event "
			"loop on the same tasks (seed %llu)\n",
			spool_version_string(), (unsigned long long)cfg->seed);
		break;
	case CMP_SEC_PART1:
		table_part1(rep, out);
		break;
	case CMP_SEC_PART2:
		table_part2_head(rep, out);
		break;
	case CMP_SEC_WORKLOAD:
		if (w == CMP_W_CONVOY)
			table_convoy(rep, out);
		else
			table_workload(rep, w, out);
		break;
	case CMP_SEC_PART3:
		table_part3(rep, out);
		break;
	}
	fflush(out);
}

/* Every section in order: what the program prints bit by bit as it
 * measures, in one go. */
static void all_sections(const struct cmp_report *rep, FILE *out,
			 void (*print)(const struct cmp_report *,
				       enum cmp_section, int, FILE *))
{
	const struct cmp_config *cfg = rep->cfg;
	print(rep, CMP_SEC_BEGIN, -1, out);
	if (cfg->parts & (1u << 1))
		print(rep, CMP_SEC_PART1, -1, out);
	if (cfg->parts & (1u << 2)) {
		print(rep, CMP_SEC_PART2, -1, out);
		for (int w = 0; w < CMP_W_COUNT; w++)
			if (cfg->workloads & (1u << w))
				print(rep, CMP_SEC_WORKLOAD, w, out);
	}
	if (cfg->parts & (1u << 3))
		print(rep, CMP_SEC_PART3, -1, out);
}

void cmp_print_table(const struct cmp_report *rep, FILE *out)
{
	all_sections(rep, out, cmp_print_table_section);
}

/* ---- JSON lines
 * --------------------------------------------------------------- */

static void json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(out, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(out, "\\u%04x", *s);
		else
			fputc(*s, out);
	}
	fputc('"', out);
}

void cmp_print_json_section(const struct cmp_report *rep, enum cmp_section s,
			    int w, FILE *out)
{
	const struct cmp_config *cfg = rep->cfg;
	for (int i = 0; s == CMP_SEC_PART1 && i < rep->n_article; i++) {
		const struct cmp_article_result *a = &rep->article[i];
		fprintf(out,
			"{\"bench\":\"article_%s\",\"impl\":\"spool\","
			"\"backend\":\"loop\",\"threads\":1,\"n\":%d,"
			"\"runs\":1",
			a->name, CMP_ARTICLE_TASKS);
		if (!a->ok) {
			fputs(",\"error\":", out);
			json_str(out, a->error);
			fputs("}\n", out);
			continue;
		}
		fprintf(out, ",\"median_s\":%.6f,\"ideal_s\":%.6f,\"order\":[",
			a->wall_s, a->ideal_s);
		for (int k = 0; k < a->n_order; k++)
			fprintf(out, "%s%d", k ? "," : "", a->order[k]);
		fputs("],\"outcome\":", out);
		json_str(out, a->outcome);
		fputs("}\n", out);
	}
	for (int i = 0; s == CMP_SEC_WORKLOAD && i < rep->n_part2; i++) {
		const struct cmp_result *r = &rep->part2[i];
		if (r->workload != w)
			continue;
		int workers = r->backend == CMP_B_SEQ ||
					      r->backend == CMP_B_LOOP
				      ? 1
			      : r->backend == CMP_B_THREADS ||
					      r->backend == CMP_B_GIL_THREADS
				      ? (r->workload == CMP_W_MIXED
						 ? cfg->threads
						 : cfg->tasks)
				      : cfg->threads;
		fprintf(out,
			"{\"bench\":\"lesson_%s\",\"impl\":\"%s\","
			"\"backend\":\"%s\",\"threads\":%d,\"tasks\":%d,"
			"\"n\":%g,\"runs\":%d",
			cmp_workload_name(r->workload),
			r->backend == CMP_B_SEQ ? "sequential" : "spool",
			cmp_backend_name(r->backend), workers, cfg->tasks,
			workload_size(cfg, r->workload), cfg->runs);
		if (!r->ok) {
			fputs(",\"error\":", out);
			json_str(out, r->error);
			fputs("}\n", out);
			continue;
		}
		fprintf(out, ",\"median_s\":%.6f,\"min_s\":%.6f,\"cpu_s\":%.6f",
			r->wall_s, r->min_s, r->cpu_s);
		fprintf(out, ",\"peak_rss_kib\":%ld,\"checksum\":\"%016llx\"",
			r->peak_rss_kib, (unsigned long long)r->checksum);
		if (rep->loadavg >= 0)
			fprintf(out, ",\"loadavg\":%.2f", rep->loadavg);
		if (cpus_given(rep, w) > 0)
			fprintf(out, ",\"cpus_given\":%.2f",
				cpus_given(rep, w));
		if (r->ideal_s > 0)
			fprintf(out, ",\"ideal_s\":%.6f", r->ideal_s);
		if (r->speedup > 0)
			fprintf(out, ",\"speedup\":%.3f", r->speedup);
		if (r->workload == CMP_W_MIXED)
			fprintf(out, ",\"p50_ms\":%.3f,\"p99_ms\":%.3f",
				r->p50_ms, r->p99_ms);
		if (r->backend == CMP_B_GIL || r->backend == CMP_B_GIL_THREADS)
			fprintf(out,
				",\"switch_interval_ms\":%.3f,"
				"\"gil_switches\":%llu,\"gil_drop_requests\":%"
				"llu",
				(double)cfg->switch_interval_ns / 1e6,
				(unsigned long long)r->gil_switches,
				(unsigned long long)r->gil_drop_requests);
		fputs("}\n", out);
	}
	for (int i = 0;
	     s == CMP_SEC_WORKLOAD && w == CMP_W_CONVOY && i < rep->n_convoy;
	     i++) {
		const struct cmp_convoy_result *r = &rep->convoy[i];
		/* threads: the CPU-bound threads, as cpu_threads says. */
		fprintf(out,
			"{\"bench\":\"lesson_convoy\",\"impl\":\"%s\","
			"\"backend\":\"%s\",\"threads\":%d,"
			"\"cpu_threads\":%d,\"n\":%d,\"bytes\":%d,"
			"\"gap_ms\":%g,\"runs\":%d,"
			"\"switch_interval_ms\":%.3f",
			r->backend == CMP_B_SEQ ? "sequential" : "spool",
			cmp_backend_name(r->backend), r->cpu_threads,
			r->cpu_threads, cfg->round_trips, CMP_CONVOY_BYTES,
			(double)CMP_CONVOY_GAP_NS / 1e6, cfg->runs,
			(double)cfg->switch_interval_ns / 1e6);
		if (!r->ok) {
			fputs(",\"error\":", out);
			json_str(out, r->error);
			fputs("}\n", out);
			continue;
		}
		fprintf(out,
			",\"median_s\":%.6f,\"p50_ms\":%.4f,\"p99_ms\":%.4f,"
			"\"checksum\":\"%016llx\"",
			r->wall_s, r->p50_ms, r->p99_ms,
			(unsigned long long)r->checksum);
		if (r->factor > 0)
			fprintf(out, ",\"factor\":%.2f", r->factor);
		if (rep->loadavg >= 0)
			fprintf(out, ",\"loadavg\":%.2f", rep->loadavg);
		if (r->backend == CMP_B_GIL || r->backend == CMP_B_PROCS ||
		    r->backend == CMP_B_MPI)
			fprintf(out,
				",\"gil_switches\":%llu,"
				"\"gil_drop_requests\":%llu",
				(unsigned long long)r->gil_switches,
				(unsigned long long)r->gil_drop_requests);
		fputs("}\n", out);
	}
	if (s == CMP_SEC_PART3 && cfg->parts & (1u << 3) &&
	    rep->py_skipped[0]) {
		fputs("{\"bench\":\"lesson\",\"impl\":\"cpython\","
		      "\"skipped\":",
		      out);
		json_str(out, rep->py_skipped);
		fputs("}\n", out);
	}
	for (int i = 0; s == CMP_SEC_PART3 && i < rep->n_py; i++) {
		const struct cmp_py_result *p = &rep->py[i];
		fprintf(out,
			"{\"bench\":\"lesson_%s\",\"impl\":\"cpython\","
			"\"backend\":\"%s\",\"threads\":%d,\"tasks\":%d,"
			"\"n\":%g,\"runs\":%d",
			p->workload, p->backend, p->threads, p->tasks, p->n,
			p->runs);
		if (p->skipped[0]) {
			fputs(",\"skipped\":", out);
			json_str(out, p->skipped);
			fputs("}\n", out);
			continue;
		}
		fprintf(out, ",\"median_s\":%.6f,\"cpu_s\":%.6f", p->wall_s,
			p->cpu_s);
		if (p->speedup > 0)
			fprintf(out, ",\"speedup\":%.3f", p->speedup);
		if (p->p50_ms > 0)
			fprintf(out, ",\"p50_ms\":%.4f,\"p99_ms\":%.4f",
				p->p50_ms, p->p99_ms);
		int pw = cmp_workload_parse(p->workload);
		int cb = c_peer(rep, pw, p->backend);
		const struct cmp_result *c = (cb >= 0 && pw >= 0)
						     ? find_c(rep, pw, cb)
						     : NULL;
		if (cb >= 0)
			fprintf(out, ",\"c_model_backend\":\"%s\"",
				cmp_backend_name(cb));
		if (c && c->ok && c->speedup > 0)
			fprintf(out,
				",\"c_model_speedup\":%.3f,\"agreement\":"
				"\"%s\"",
				c->speedup, agreement(p->speedup, c->speedup));
		if (pw == CMP_W_CONVOY) {
			const struct cmp_convoy_result *cv =
				cb >= 0 ? find_convoy(rep, cb, p->cpu_threads)
					: NULL;
			fprintf(out, ",\"cpu_threads\":%d", p->cpu_threads);
			if (p->factor > 0)
				fprintf(out, ",\"factor\":%.2f", p->factor);
			if (cv)
				fprintf(out,
					",\"c_model_p50_ms\":%.4f,"
					"\"c_model_factor\":%.2f,"
					"\"agreement\":\"%s\"",
					cv->p50_ms, cv->factor,
					convoy_agreement(p->p50_ms,
							 cv->p50_ms));
		}
		fputs("}\n", out);
	}
	fflush(out);
}

void cmp_print_json(const struct cmp_report *rep, FILE *out)
{
	all_sections(rep, out, cmp_print_json_section);
}

/* ---- CSV
 * ------------------------------------------------------------------------ */

void cmp_print_csv_section(const struct cmp_report *rep, enum cmp_section s,
			   int w, FILE *out)
{
	const struct cmp_config *cfg = rep->cfg;
	if (s == CMP_SEC_BEGIN)
		fputs("part,bench,impl,backend,threads,tasks,runs,median_s,"
		      "ideal_s,"
		      "cpu_s,peak_rss_kib,speedup,p50_ms,p99_ms,checksum,order,"
		      "note,cpu_threads,factor\n",
		      out);
	for (int i = 0; s == CMP_SEC_PART1 && i < rep->n_article; i++) {
		const struct cmp_article_result *a = &rep->article[i];
		char ord[128];
		order_text(a, ord, sizeof(ord));
		fprintf(out,
			"1,article_%s,spool,loop,1,%d,1,%.6f,%.6f,,,,,,,%s,",
			a->name, CMP_ARTICLE_TASKS, a->ok ? a->wall_s : 0,
			a->ideal_s, ord);
		/* Notes never contain commas or quotes of their own. */
		fprintf(out, "\"%s\",,\n", a->ok ? a->outcome : a->error);
	}
	for (int i = 0; s == CMP_SEC_WORKLOAD && i < rep->n_part2; i++) {
		const struct cmp_result *r = &rep->part2[i];
		if (r->workload != w)
			continue;
		fprintf(out, "2,lesson_%s,%s,%s,%d,%d,%d,",
			cmp_workload_name(r->workload),
			r->backend == CMP_B_SEQ ? "sequential" : "spool",
			cmp_backend_name(r->backend), cfg->threads, cfg->tasks,
			cfg->runs);
		if (!r->ok) {
			fprintf(out, ",,,,,,,,,\"%s\",,\n", r->error);
			continue;
		}
		fprintf(out, "%.6f,", r->wall_s);
		if (r->ideal_s > 0)
			fprintf(out, "%.6f", r->ideal_s);
		fprintf(out, ",%.6f,%ld,", r->cpu_s, r->peak_rss_kib);
		if (r->speedup > 0)
			fprintf(out, "%.3f", r->speedup);
		fputc(',', out);
		if (r->workload == CMP_W_MIXED)
			fprintf(out, "%.3f,%.3f,", r->p50_ms, r->p99_ms);
		else
			fputs(",,", out);
		fprintf(out, "%016llx,,,,\n", (unsigned long long)r->checksum);
	}
	for (int i = 0;
	     s == CMP_SEC_WORKLOAD && w == CMP_W_CONVOY && i < rep->n_convoy;
	     i++) {
		const struct cmp_convoy_result *r = &rep->convoy[i];
		fprintf(out, "2,lesson_convoy,%s,%s,%d,,%d,",
			r->backend == CMP_B_SEQ ? "sequential" : "spool",
			cmp_backend_name(r->backend), r->cpu_threads,
			cfg->runs);
		if (!r->ok) {
			fprintf(out, ",,,,,,,,,\"%s\",%d,\n", r->error,
				r->cpu_threads);
			continue;
		}
		fprintf(out, "%.6f,,,,,%.4f,%.4f,%016llx,,,%d,", r->wall_s,
			r->p50_ms, r->p99_ms, (unsigned long long)r->checksum,
			r->cpu_threads);
		if (r->factor > 0)
			fprintf(out, "%.2f", r->factor);
		fputc('\n', out);
	}
	if (s == CMP_SEC_PART3 && cfg->parts & (1u << 3) && rep->py_skipped[0])
		fprintf(out,
			"3,lesson,cpython,,,,,,,,,,,,,,\"skipped: %s\",,\n",
			rep->py_skipped);
	for (int i = 0; s == CMP_SEC_PART3 && i < rep->n_py; i++) {
		const struct cmp_py_result *p = &rep->py[i];
		fprintf(out, "3,lesson_%s,cpython,%s,%d,%d,%d,", p->workload,
			p->backend, p->threads, p->tasks, p->runs);
		if (p->skipped[0]) {
			fprintf(out, ",,,,,,,,,\"skipped: %s\",,\n",
				p->skipped);
			continue;
		}
		fprintf(out, "%.6f,,%.6f,,%.3f,", p->wall_s, p->cpu_s,
			p->speedup);
		if (p->p50_ms > 0)
			fprintf(out, "%.4f,%.4f,", p->p50_ms, p->p99_ms);
		else
			fputs(",,", out);
		fputs(",,,", out);
		if (!strcmp(p->workload, "convoy"))
			fprintf(out, "%d,%.2f", p->cpu_threads, p->factor);
		else
			fputc(',', out);
		fputc('\n', out);
	}
	fflush(out);
}

void cmp_print_csv(const struct cmp_report *rep, FILE *out)
{
	all_sections(rep, out, cmp_print_csv_section);
}
