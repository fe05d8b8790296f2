/* SPDX-License-Identifier: MIT */
/*
 * The command line of spool-compare: defaults, names, parsing, --help and
 * --list. Parsing never exits: it returns 0 (run), 1 (help or list done) or
 * 2 (bad command line, after a one-line message), and main() exits with it.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compare.h"
#include "farm.h"

static const char *const wl_names[CMP_W_COUNT] = {"sleep", "request", "fib",
						  "hash",  "mixed",   "convoy"};
static const char *const wl_docs[CMP_W_COUNT] = {
	"IO-bound: each task sleeps its delay (spool_sleep)",
	"IO-bound: one request to a local server that answers after a delay",
	"CPU-bound: recursive fib(n) per task",
	"CPU-bound: FNV-1a rounds over a buffer per task",
	"request latency (p50/p99) while CPU jobs run: the convoy's direction",
	"echo round trips beside 0..N CPU-bound threads: the convoy's size",
};
static const char *const be_names[CMP_B_COUNT] = {
	"seq",  "pool",      "threads", "gil", "gil-threads",
	"loop", "loop-pool", "procs",   "mpi"};
static const char *const be_docs[CMP_B_COUNT] = {
	"sequential: one task after another on the calling thread",
	"the work-stealing pool with --threads workers",
	"one thread per task (a pool with as many workers as tasks)",
	"the pool with --threads workers under the GIL model",
	"one thread per task under the GIL model",
	"coroutines on the event loop (one thread)",
	"the loop; CPU parts handed to the pool with run_in_executor",
	"--threads worker processes; tasks and results through pipes",
#ifdef CMP_HAVE_MPI
	"--threads MPI ranks (MPI_Comm_spawn); tasks as MPI messages; "
	"only when named",
#else
	"MPI ranks: not in this spool-compare (built without MPI)",
#endif
};

bool cmp_mpi_built(void)
{
#ifdef CMP_HAVE_MPI
	return true;
#else
	return false;
#endif
}

const char *cmp_workload_name(int w)
{
	return w >= 0 && w < CMP_W_COUNT ? wl_names[w] : "?";
}

const char *cmp_backend_name(int b)
{
	return b >= 0 && b < CMP_B_COUNT ? be_names[b] : "?";
}

const char *cmp_workload_doc(int w)
{
	return w >= 0 && w < CMP_W_COUNT ? wl_docs[w] : "?";
}

const char *cmp_backend_doc(int b)
{
	return b >= 0 && b < CMP_B_COUNT ? be_docs[b] : "?";
}

int cmp_workload_parse(const char *s)
{
	for (int i = 0; i < CMP_W_COUNT; i++)
		if (strcmp(s, wl_names[i]) == 0)
			return i;
	return -1;
}

int cmp_backend_parse(const char *s)
{
	for (int i = 0; i < CMP_B_COUNT; i++)
		if (strcmp(s, be_names[i]) == 0)
			return i;
	return -1;
}

void cmp_config_defaults(struct cmp_config *cfg)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	memset(cfg, 0, sizeof(*cfg));
	cfg->tasks = 16;
	cfg->threads = cpus > 0 ? (int)cpus : 1;
	cfg->seed = 1;
	cfg->runs = 5;
	cfg->delay_ns = 20 * 1000000LL;
	cfg->fib_n = 32;
	cfg->hash_kib = 64;
	cfg->hash_rounds = 64;
	cfg->mixed_requests = 20;
	cfg->mixed_delay_ns = 2 * 1000000LL;
	cfg->mixed_rounds = 2000;
	cfg->switch_interval_ns = 5 * 1000000LL;
	cfg->pickle_bytes = 128;
	cfg->round_trips = 50;
	cfg->convoy_cpus = 2;
	cfg->parts = (1u << 1) | (1u << 2) | (1u << 3);
	cfg->workloads = (1u << CMP_W_COUNT) - 1;
	cfg->backends = CMP_BACKENDS_ALL;
	cfg->format = CMP_FMT_TABLE;
	cfg->timeline_workload = CMP_W_MIXED;
	cfg->timeline_backend = CMP_B_GIL;
	cfg->time_limit_s = 300;
}

void cmp_cli_usage(FILE *out)
{
	fputs("usage: spool-compare [options]\n"
	      "\n"
	      "Runs the same tasks through threads, a model of CPython's GIL "
	      "and\n"
	      "an event loop, and shows where each one helps.\n"
	      "  Part 1: the article's ways to run IO-bound tasks on the loop\n"
	      "          (await one by one, gather, as_completed, wait, ...)\n"
	      "  Part 2: threads against async: workloads x backends\n"
	      "  Part 3: the same workloads in CPython, side by side\n"
	      "\n"
	      "options:\n"
	      "  -h, --help             this text, then exit\n"
	      "  --list                 list workloads and backends, then "
	      "exit\n"
	      "  --part LIST            parts to run: 1,2,3 (default: all)\n"
	      "  --workload LIST        workloads (default: all; see --list)\n"
	      "  --backend LIST         backends (default: all, which leaves "
	      "out mpi;\n"
	      "                         see --list)\n"
	      "  --mpi                  add the mpi backend: --threads MPI "
	      "ranks, spawned\n"
	      "                         by each run (needs a build with "
	      "MPI)\n"
	      "  --tasks N              tasks per run (default 16)\n"
	      "  --threads N            pool workers T (default: online CPUs)\n"
	      "  --seed N               seed for delays, data, payloads "
	      "(default 1)\n"
	      "  --runs N               repetitions, median reported (default "
	      "5)\n"
	      "  --delay MS             mean IO delay in ms (default 20)\n"
	      "  --fib N                fib(N) per CPU task (default 32)\n"
	      "  --hash-kib N           hash buffer in KiB (default 64)\n"
	      "  --hash-rounds N        hash passes per task (default 64)\n"
	      "  --requests N           requests of the mixed client (default "
	      "20)\n"
	      "  --switch-interval MS   GIL model switch interval (default 5, "
	      "as CPython's)\n"
	      "  --round-trips N        convoy: round trips timed per run "
	      "(default 50)\n"
	      "  --cpu-threads N        convoy: rows beside 0..N CPU-bound "
	      "threads (default 2)\n"
	      "  --pickle-bytes N       procs, mpi: bytes of each task and "
	      "result message\n"
	      "                         (default 128, about a pickled small "
	      "task; 88..16384)\n"
	      "  --timeline W:B         scenario drawn by --svg (default "
	      "mixed:gil)\n"
	      "  --json                 JSON lines on stdout, table on stderr\n"
	      "  --csv                  CSV on stdout, table on stderr\n"
	      "  --svg DIR              write speedup.svg and timeline.svg "
	      "into DIR\n"
	      "  --python PATH          CPython for part 3 (default: python3)\n"
	      "  --no-python            skip part 3's CPython runs\n"
	      "  --time-limit S         abort the whole run after S seconds "
	      "(default 300)\n"
	      "  -q, --quiet            no progress lines on stderr\n"
	      "\n"
	      "LIST is comma-separated names or 'all'. Network traffic stays "
	      "on\n"
	      "127.0.0.1. Exit status: 0 ok, 1 a run failed, 2 bad command "
	      "line.\n",
	      out);
}

static void list(FILE *out)
{
	fputs("workloads:\n", out);
	for (int i = 0; i < CMP_W_COUNT; i++)
		fprintf(out, "  %-12s %s\n", wl_names[i], wl_docs[i]);
	fputs("backends:\n", out);
	for (int i = 0; i < CMP_B_COUNT; i++)
		fprintf(out, "  %-12s %s\n", be_names[i], be_docs[i]);
	fputs("parts:\n"
	      "  1            the article's patterns on the event loop\n"
	      "  2            workloads x backends\n"
	      "  3            CPython beside the C model\n",
	      out);
}

/* A whole-string integer in [lo, hi]. */
static int parse_int(const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* Milliseconds, possibly fractional, in (lo, hi]; gives nanoseconds. */
static int parse_ms(const char *s, double lo, double hi, int64_t *ns)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v > lo) || v > hi)
		return -1;
	*ns = (int64_t)(v * 1e6 + 0.5);
	return 0;
}

/* A comma-separated list of names (or "all", which is all_mask) into a bit
 * mask. */
static int parse_list(const char *s, int (*lookup)(const char *),
		      unsigned all_mask, unsigned *mask, char *what,
		      size_t what_len)
{
	unsigned m = 0;
	const char *p = s;
	if (!*s) {
		snprintf(what, what_len, "(empty)");
		return -1;
	}
	while (*p) {
		const char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strlen(p);
		char name[32];
		if (n == 0 || n >= sizeof(name)) {
			snprintf(what, what_len, "%.*s", (int)(n < 31 ? n : 31),
				 p);
			return -1;
		}
		memcpy(name, p, n);
		name[n] = 0;
		if (strcmp(name, "all") == 0) {
			m |= all_mask;
		} else {
			int i = lookup(name);
			if (i < 0) {
				snprintf(what, what_len, "%s", name);
				return -1;
			}
			m |= 1u << i;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	*mask = m;
	return 0;
}

static int part_lookup(const char *s)
{
	if (strcmp(s, "1") == 0)
		return 1;
	if (strcmp(s, "2") == 0)
		return 2;
	if (strcmp(s, "3") == 0)
		return 3;
	return -1;
}

/* Reports a bad command line: one line saying what is wrong, one hint. */
__attribute__((format(printf, 2, 3))) static int bad(FILE *err, const char *fmt,
						     ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("spool-compare: ", err);
	vfprintf(err, fmt, ap);
	va_end(ap);
	fputs("\nTry 'spool-compare --help' for more information.\n", err);
	return 2;
}

int cmp_cli_parse(struct cmp_config *cfg, int argc, char **argv, FILE *out,
		  FILE *err)
{
	bool parts_set = false, add_mpi = false;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		char flag[40];
		const char *val = NULL;
		const char *eq = strchr(arg, '=');
		if (strncmp(arg, "--", 2) == 0 && eq) {
			size_t n = (size_t)(eq - arg);
			if (n >= sizeof(flag))
				return bad(err, "unknown option '%s'", arg);
			memcpy(flag, arg, n);
			flag[n] = 0;
			val = eq + 1;
		} else {
			snprintf(flag, sizeof(flag), "%s", arg);
			if (strlen(arg) >= sizeof(flag))
				return bad(err, "unknown option '%s'", arg);
		}

		/* Flags without a value. */
		if (!strcmp(flag, "-h") || !strcmp(flag, "--help")) {
			cmp_cli_usage(out);
			return 1;
		}
		static const char *const plain[] = {
			"--list", "--json",  "--csv", "--no-python",
			"-q",     "--quiet", "--mpi"};
		bool is_plain = false;
		for (size_t k = 0; k < sizeof(plain) / sizeof(*plain); k++)
			is_plain |= !strcmp(flag, plain[k]);
		if (is_plain) {
			if (val)
				return bad(err, "option '%s' takes no value",
					   flag);
			if (!strcmp(flag, "--list")) {
				list(out);
				return 1;
			} else if (!strcmp(flag, "--json")) {
				cfg->format = CMP_FMT_JSON;
			} else if (!strcmp(flag, "--csv")) {
				cfg->format = CMP_FMT_CSV;
			} else if (!strcmp(flag, "--no-python")) {
				cfg->python = "";
			} else if (!strcmp(flag, "--mpi")) {
				add_mpi = true;
			} else {
				cfg->quiet = true;
			}
			continue;
		}

		static const char *const valued[] = {"--part",
						     "--workload",
						     "--backend",
						     "--tasks",
						     "--threads",
						     "--seed",
						     "--runs",
						     "--delay",
						     "--fib",
						     "--hash-kib",
						     "--hash-rounds",
						     "--requests",
						     "--switch-interval",
						     "--round-trips",
						     "--cpu-threads",
						     "--pickle-bytes",
						     "--timeline",
						     "--svg",
						     "--python",
						     "--time-limit"};
		bool known = false;
		for (size_t k = 0; k < sizeof(valued) / sizeof(*valued); k++)
			known |= !strcmp(flag, valued[k]);
		if (!known)
			return bad(err, "unknown option '%s'", flag);
		if (!val) {
			if (i + 1 >= argc)
				return bad(err, "option '%s' needs a value",
					   flag);
			val = argv[++i];
		}

		long v;
		char what[40];
		if (!strcmp(flag, "--part")) {
			if (parse_list(val, part_lookup, 0xfu, &cfg->parts,
				       what, sizeof(what)))
				return bad(err,
					   "--part: '%s' is not 1, 2 or "
					   "3",
					   what);
			cfg->parts &= 0xeu;
			parts_set = true;
		} else if (!strcmp(flag, "--workload")) {
			if (parse_list(val, cmp_workload_parse,
				       (1u << CMP_W_COUNT) - 1, &cfg->workloads,
				       what, sizeof(what)))
				return bad(err,
					   "--workload: unknown workload '%s'"
					   " (see --list)",
					   what);
		} else if (!strcmp(flag, "--backend")) {
			if (parse_list(val, cmp_backend_parse, CMP_BACKENDS_ALL,
				       &cfg->backends, what, sizeof(what)))
				return bad(err,
					   "--backend: unknown backend '%s' "
					   "(see --list)",
					   what);
		} else if (!strcmp(flag, "--tasks")) {
			if (parse_int(val, 1, 4096, &v))
				return bad(err,
					   "--tasks: '%s' is not a whole "
					   "number in 1..4096",
					   val);
			cfg->tasks = (int)v;
		} else if (!strcmp(flag, "--threads")) {
			if (parse_int(val, 1, 256, &v))
				return bad(err,
					   "--threads: '%s' is not a whole "
					   "number in 1..256",
					   val);
			cfg->threads = (int)v;
		} else if (!strcmp(flag, "--seed")) {
			char *end;
			errno = 0;
			unsigned long long s = strtoull(val, &end, 0);
			if (errno || end == val || *end || *val == '-')
				return bad(err,
					   "--seed: '%s' is not a "
					   "non-negative integer",
					   val);
			cfg->seed = s;
		} else if (!strcmp(flag, "--runs")) {
			if (parse_int(val, 1, 101, &v))
				return bad(err,
					   "--runs: '%s' is not a whole "
					   "number in 1..101",
					   val);
			cfg->runs = (int)v;
		} else if (!strcmp(flag, "--delay")) {
			if (parse_ms(val, 0, 10000, &cfg->delay_ns))
				return bad(err,
					   "--delay: '%s' is not a number "
					   "of ms in (0, 10000]",
					   val);
		} else if (!strcmp(flag, "--fib")) {
			if (parse_int(val, 1, 40, &v))
				return bad(err,
					   "--fib: '%s' is not a whole "
					   "number in 1..40",
					   val);
			cfg->fib_n = (int)v;
		} else if (!strcmp(flag, "--hash-kib")) {
			if (parse_int(val, 1, 65536, &v))
				return bad(err,
					   "--hash-kib: '%s' is not a whole "
					   "number in 1..65536",
					   val);
			cfg->hash_kib = (int)v;
		} else if (!strcmp(flag, "--hash-rounds")) {
			if (parse_int(val, 1, 1000000, &v))
				return bad(err,
					   "--hash-rounds: '%s' is not a "
					   "whole number in 1..1000000",
					   val);
			cfg->hash_rounds = (int)v;
		} else if (!strcmp(flag, "--requests")) {
			if (parse_int(val, 1, 100000, &v))
				return bad(err,
					   "--requests: '%s' is not a whole "
					   "number in 1..100000",
					   val);
			cfg->mixed_requests = (int)v;
		} else if (!strcmp(flag, "--switch-interval")) {
			if (parse_ms(val, 0, 10000, &cfg->switch_interval_ns))
				return bad(err,
					   "--switch-interval: '%s' is not "
					   "a number of ms in (0, "
					   "10000]",
					   val);
		} else if (!strcmp(flag, "--round-trips")) {
			if (parse_int(val, 1, 100000, &v))
				return bad(err,
					   "--round-trips: '%s' is not a "
					   "whole number in 1..100000",
					   val);
			cfg->round_trips = (int)v;
		} else if (!strcmp(flag, "--cpu-threads")) {
			if (parse_int(val, 1, CMP_CONVOY_MAX_CPUS, &v))
				return bad(err,
					   "--cpu-threads: '%s' is not a "
					   "whole number in 1..%d",
					   val, CMP_CONVOY_MAX_CPUS);
			cfg->convoy_cpus = (int)v;
		} else if (!strcmp(flag, "--pickle-bytes")) {
			if (parse_int(val, CMP_FARM_HEADER, CMP_FARM_MAX_MSG,
				      &v))
				return bad(err,
					   "--pickle-bytes: '%s' is not a "
					   "whole number in %d..%d (a "
					   "message's header alone takes %d)",
					   val, CMP_FARM_HEADER,
					   CMP_FARM_MAX_MSG, CMP_FARM_HEADER);
			cfg->pickle_bytes = (int)v;
		} else if (!strcmp(flag, "--timeline")) {
			char w[32];
			const char *c = strchr(val, ':');
			size_t n = c ? (size_t)(c - val) : 0;
			int wi = -1, bi = -1;
			if (c && n < sizeof(w)) {
				memcpy(w, val, n);
				w[n] = 0;
				wi = cmp_workload_parse(w);
				bi = cmp_backend_parse(c + 1);
			}
			if (wi < 0 || bi < 0)
				return bad(err,
					   "--timeline: '%s' is not "
					   "WORKLOAD:BACKEND (see "
					   "--list)",
					   val);
			if (!cmp_backend_applies(wi, bi))
				return bad(err,
					   "--timeline: the convoy has no '%s' "
					   "row (seq, pool, gil, loop, procs, "
					   "mpi)",
					   c + 1);
			cfg->timeline_workload = wi;
			cfg->timeline_backend = bi;
		} else if (!strcmp(flag, "--svg")) {
			if (!*val)
				return bad(err, "--svg needs a directory");
			cfg->svg_dir = val;
		} else if (!strcmp(flag, "--python")) {
			if (!*val)
				return bad(err, "--python needs a path");
			cfg->python = val;
		} else if (!strcmp(flag, "--time-limit")) {
			int64_t ns;
			if (parse_ms(val, 0, 86400, &ns))
				return bad(err,
					   "--time-limit: '%s' is not a "
					   "number of seconds in (0, "
					   "86400]",
					   val);
			cfg->time_limit_s = (double)ns / 1e6;
		}
	}
	(void)parts_set;
	if (add_mpi)
		cfg->backends |= 1u << CMP_B_MPI;
	if (!cmp_mpi_built() && (cfg->backends & (1u << CMP_B_MPI) ||
				 cfg->timeline_backend == CMP_B_MPI))
		return bad(err, "the mpi backend is not available: this "
				"spool-compare was built without MPI (install "
				"one, e.g. Debian's libopenmpi-dev, and "
				"configure again)");
	if (!cfg->parts)
		return bad(err, "--part: nothing to run");
	if (!cfg->workloads || !cfg->backends)
		return bad(err, "nothing to run");
	return 0;
}
