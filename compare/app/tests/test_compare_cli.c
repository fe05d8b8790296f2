/* SPDX-License-Identifier: MIT */
/* Suite "compare_cli": spool-compare's command line, parsed in-process and
 * through the program itself (exit status and messages). */
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compare.h"
#include "support.h"

extern char **environ;

struct parsed {
	struct cmp_config cfg;
	int rc;
	char *out, *err;
};

/* Parses a NULL-terminated list of arguments, capturing both streams. */
static struct parsed parse(const char *first, ...)
{
	struct parsed p;
	char *argv[32] = {"spool-compare"};
	int argc = 1;
	va_list ap;
	va_start(ap, first);
	for (const char *a = first; a && argc < 31;
	     a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	size_t ol, el;
	FILE *out = open_memstream(&p.out, &ol);
	FILE *err = open_memstream(&p.err, &el);
	cmp_config_defaults(&p.cfg);
	p.rc = cmp_cli_parse(&p.cfg, argc, argv, out, err);
	fclose(out);
	fclose(err);
	return p;
}

static void done(struct parsed *p)
{
	free(p->out);
	free(p->err);
}

/* A bad command line: status 2, a message naming the problem, a hint, and
 * nothing on stdout. */
static void expect_bad(struct parsed p, const char *needle)
{
	ck_assert_int_eq(p.rc, 2);
	ck_assert_msg(strstr(p.err, needle), "message '%s' lacks '%s'", p.err,
		      needle);
	ck_assert_ptr_nonnull(strstr(p.err, "--help"));
	ck_assert_str_eq(p.out, "");
	done(&p);
}

START_TEST(no_arguments_runs_the_defaults)
{
	struct parsed p = parse(NULL);
	ck_assert_int_eq(p.rc, 0);
	ck_assert_int_eq(p.cfg.tasks, 16);
	ck_assert_int_ge(p.cfg.threads, 1);
	ck_assert_uint_eq(p.cfg.parts, 0xeu);
	ck_assert_uint_eq(p.cfg.workloads, (1u << CMP_W_COUNT) - 1);
	ck_assert_uint_eq(p.cfg.backends, CMP_BACKENDS_ALL);
	ck_assert_uint_eq(p.cfg.backends & (1u << CMP_B_MPI), 0);
	ck_assert_int_eq(p.cfg.format, CMP_FMT_TABLE);
	ck_assert_int_eq(p.cfg.switch_interval_ns, 5000000);
	ck_assert_int_eq(p.cfg.pickle_bytes, 128);
	ck_assert_int_eq(p.cfg.round_trips, 50);
	ck_assert_int_eq(p.cfg.convoy_cpus, 2);
	ck_assert_str_eq(p.err, "");
	done(&p);
}
END_TEST

START_TEST(help_prints_usage_and_asks_to_exit_zero)
{
	struct parsed p = parse("--help", NULL);
	ck_assert_int_eq(p.rc, 1);
	ck_assert_ptr_nonnull(strstr(p.out, "usage: spool-compare"));
	ck_assert_ptr_nonnull(strstr(p.out, "--switch-interval"));
	ck_assert_ptr_nonnull(strstr(p.out, "--pickle-bytes"));
	ck_assert_ptr_nonnull(strstr(p.out, "--round-trips"));
	ck_assert_ptr_nonnull(strstr(p.out, "--cpu-threads"));
	ck_assert_str_eq(p.err, "");
	done(&p);
	p = parse("--tasks", "4", "-h", NULL);
	ck_assert_int_eq(p.rc, 1);
	done(&p);
}
END_TEST

START_TEST(list_names_every_workload_and_backend)
{
	struct parsed p = parse("--list", NULL);
	ck_assert_int_eq(p.rc, 1);
	for (int w = 0; w < CMP_W_COUNT; w++)
		ck_assert_ptr_nonnull(strstr(p.out, cmp_workload_name(w)));
	for (int b = 0; b < CMP_B_COUNT; b++)
		ck_assert_ptr_nonnull(strstr(p.out, cmp_backend_name(b)));
	done(&p);
}
END_TEST

START_TEST(values_are_parsed_in_both_spellings)
{
	struct parsed p = parse("--tasks=8", "--threads", "3", "--seed", "0x10",
				"--part", "2,3", "--workload", "fib,hash",
				"--backend", "seq,gil", "--json",
				"--switch-interval", "2.5", "--delay=7",
				"--runs", "1", "--timeline", "fib:pool",
				"--svg", "/tmp/x", "--no-python", NULL);
	ck_assert_int_eq(p.rc, 0);
	ck_assert_int_eq(p.cfg.tasks, 8);
	ck_assert_int_eq(p.cfg.threads, 3);
	ck_assert_uint_eq(p.cfg.seed, 16);
	ck_assert_uint_eq(p.cfg.parts, (1u << 2) | (1u << 3));
	ck_assert_uint_eq(p.cfg.workloads,
			  (1u << CMP_W_FIB) | (1u << CMP_W_HASH));
	ck_assert_uint_eq(p.cfg.backends,
			  (1u << CMP_B_SEQ) | (1u << CMP_B_GIL));
	ck_assert_int_eq(p.cfg.format, CMP_FMT_JSON);
	ck_assert_int_eq(p.cfg.switch_interval_ns, 2500000);
	ck_assert_int_eq(p.cfg.delay_ns, 7000000);
	ck_assert_int_eq(p.cfg.runs, 1);
	ck_assert_int_eq(p.cfg.timeline_workload, CMP_W_FIB);
	ck_assert_int_eq(p.cfg.timeline_backend, CMP_B_POOL);
	ck_assert_str_eq(p.cfg.svg_dir, "/tmp/x");
	ck_assert_str_eq(p.cfg.python, "");
	done(&p);
	p = parse("--workload", "convoy", "--backend", "gil,procs",
		  "--round-trips=7", "--cpu-threads", "3", "--pickle-bytes",
		  "4096", NULL);
	ck_assert_int_eq(p.rc, 0);
	ck_assert_uint_eq(p.cfg.workloads, 1u << CMP_W_CONVOY);
	ck_assert_uint_eq(p.cfg.backends,
			  (1u << CMP_B_GIL) | (1u << CMP_B_PROCS));
	ck_assert_int_eq(p.cfg.round_trips, 7);
	ck_assert_int_eq(p.cfg.convoy_cpus, 3);
	ck_assert_int_eq(p.cfg.pickle_bytes, 4096);
	done(&p);
	p = parse("--workload", "all", "--csv", NULL);
	ck_assert_int_eq(p.rc, 0);
	ck_assert_uint_eq(p.cfg.workloads, (1u << CMP_W_COUNT) - 1);
	ck_assert_int_eq(p.cfg.format, CMP_FMT_CSV);
	done(&p);
}
END_TEST

START_TEST(unknown_option_is_status_2_with_its_name)
{
	expect_bad(parse("--bogus", NULL), "unknown option '--bogus'");
	expect_bad(parse("-x", NULL), "unknown option '-x'");
	expect_bad(parse("stray", NULL), "unknown option 'stray'");
	expect_bad(parse("--bogus=1", NULL), "unknown option '--bogus'");
}
END_TEST

START_TEST(missing_or_unwanted_value_is_status_2)
{
	expect_bad(parse("--tasks", NULL), "option '--tasks' needs a value");
	expect_bad(parse("--json=yes", NULL), "'--json' takes no value");
	expect_bad(parse("--svg=", NULL), "--svg needs a directory");
}
END_TEST

START_TEST(bad_numbers_are_status_2_with_the_range)
{
	expect_bad(parse("--tasks", "0", NULL), "--tasks: '0'");
	expect_bad(parse("--tasks", "12abc", NULL), "1..4096");
	expect_bad(parse("--threads", "-1", NULL), "--threads: '-1'");
	expect_bad(parse("--runs", "", NULL), "--runs: ''");
	expect_bad(parse("--seed", "-3", NULL), "--seed: '-3'");
	expect_bad(parse("--switch-interval", "0", NULL),
		   "--switch-interval: '0'");
	expect_bad(parse("--delay", "fast", NULL), "--delay: 'fast'");
	expect_bad(parse("--fib", "99", NULL), "--fib: '99'");
	expect_bad(parse("--time-limit", "-1", NULL), "--time-limit: '-1'");
	expect_bad(parse("--pickle-bytes", "40", NULL),
		   "--pickle-bytes: '40' is not a whole number in 88..16384");
	expect_bad(parse("--pickle-bytes", "16385", NULL), "header");
	expect_bad(parse("--round-trips", "0", NULL),
		   "--round-trips: '0' is not a whole number in 1..100000");
	expect_bad(parse("--cpu-threads", "9", NULL),
		   "--cpu-threads: '9' is not a whole number in 1..8");
	expect_bad(parse("--cpu-threads", "0", NULL), "--cpu-threads: '0'");
}
END_TEST

START_TEST(unknown_names_are_status_2_with_the_name)
{
	expect_bad(parse("--workload", "fib,nope", NULL),
		   "unknown workload 'nope'");
	expect_bad(parse("--backend", "gevent", NULL),
		   "unknown backend 'gevent'");
	expect_bad(parse("--backend", "seq,,gil", NULL), "unknown backend");
	expect_bad(parse("--part", "4", NULL), "--part: '4'");
	expect_bad(parse("--timeline", "fib", NULL), "--timeline: 'fib'");
	expect_bad(parse("--timeline", "fib:nope", NULL),
		   "--timeline: 'fib:nope'");
	expect_bad(parse("--timeline", "convoy:threads", NULL),
		   "the convoy has no 'threads' row");
}
END_TEST

/* ---- the program itself ---------------------------------------------------
 */

/* Runs spool-compare with args; returns its exit status and what it wrote
 * to each stream (up to 64 KiB each). */
static int run_program(char *const args[], char *out, char *err, size_t len)
{
	char opath[] = "/tmp/spool-compare-out-XXXXXX";
	char epath[] = "/tmp/spool-compare-err-XXXXXX";
	int ofd = mkstemp(opath), efd = mkstemp(epath);
	ck_assert(ofd >= 0 && efd >= 0);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, ofd, STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, efd, STDERR_FILENO);
	char *argv[32] = {CMP_PROGRAM};
	for (int i = 0; args[i] && i < 30; i++)
		argv[i + 1] = args[i];
	pid_t pid;
	ck_assert_int_eq(
		posix_spawn(&pid, CMP_PROGRAM, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ssize_t n = pread(ofd, out, len - 1, 0);
	out[n > 0 ? n : 0] = 0;
	n = pread(efd, err, len - 1, 0);
	err[n > 0 ? n : 0] = 0;
	close(ofd);
	close(efd);
	unlink(opath);
	unlink(epath);
	return WEXITSTATUS(status);
}

/* mpi runs only when named: "all" and the defaults leave it out (a build
 * without MPI and the demo run as before), --backend mpi or --mpi add it;
 * a build without MPI refuses it as a bad command line. */
START_TEST(mpi_backend_only_when_named_and_built)
{
	struct parsed p = parse("--backend", "all", NULL);
	ck_assert_int_eq(p.rc, 0);
	ck_assert_uint_eq(p.cfg.backends, CMP_BACKENDS_ALL);
	ck_assert_uint_eq(p.cfg.backends & (1u << CMP_B_MPI), 0);
	ck_assert_uint_eq(p.cfg.backends & (1u << CMP_B_PROCS),
			  1u << CMP_B_PROCS);
	done(&p);
	ck_assert_int_eq(cmp_backend_parse("mpi"), CMP_B_MPI);
	if (!cmp_mpi_built()) {
		expect_bad(parse("--backend", "seq,mpi", NULL),
			   "built without MPI");
		expect_bad(parse("--mpi", NULL), "built without MPI");
		return;
	}
	p = parse("--backend", "seq,mpi", NULL);
	ck_assert_int_eq(p.rc, 0);
	ck_assert_uint_eq(p.cfg.backends,
			  (1u << CMP_B_SEQ) | (1u << CMP_B_MPI));
	done(&p);
	/* --mpi adds to whatever --backend chose, before or after it. */
	p = parse("--mpi", "--backend", "seq,procs", NULL);
	ck_assert_int_eq(p.rc, 0);
	ck_assert_uint_eq(p.cfg.backends, (1u << CMP_B_SEQ) |
						  (1u << CMP_B_PROCS) |
						  (1u << CMP_B_MPI));
	done(&p);
	p = parse("--mpi", NULL);
	ck_assert_int_eq(p.rc, 0);
	ck_assert_uint_eq(p.cfg.backends, CMP_BACKENDS_ALL | (1u << CMP_B_MPI));
	done(&p);
	expect_bad(parse("--mpi=1", NULL), "takes no value");
}
END_TEST

START_TEST(help_names_the_mpi_backend)
{
	struct parsed p = parse("--help", NULL);
	ck_assert_int_eq(p.rc, 1);
	ck_assert_ptr_nonnull(strstr(p.out, "--mpi "));
	ck_assert_ptr_nonnull(strstr(p.out, "mpi backend"));
	done(&p);
}
END_TEST

START_TEST(program_help_exits_0_on_stdout)
{
	static char out[65536], err[65536];
	char *args[] = {"--help", NULL};
	ck_assert_int_eq(run_program(args, out, err, sizeof(out)), 0);
	ck_assert_ptr_nonnull(strstr(out, "usage: spool-compare"));
	ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(program_bad_flag_exits_2_with_a_message_on_stderr)
{
	static char out[65536], err[65536];
	char *args[] = {"--tasks", "many", NULL};
	ck_assert_int_eq(run_program(args, out, err, sizeof(out)), 2);
	ck_assert_ptr_nonnull(strstr(err, "spool-compare: --tasks: 'many'"));
	ck_assert_str_eq(out, "");
	char *args2[] = {"--frobnicate", NULL};
	ck_assert_int_eq(run_program(args2, out, err, sizeof(out)), 2);
	ck_assert_ptr_nonnull(strstr(err, "unknown option '--frobnicate'"));
}
END_TEST

/* In a build without MPI the program itself refuses the mpi backend:
 * status 2 and the reason, before running anything. (A build with MPI
 * runs it in compare_mpi.sh, never here: this suite also runs under
 * ThreadSanitizer, where MPI programs do not.) */
START_TEST(program_without_mpi_refuses_the_mpi_backend)
{
	if (cmp_mpi_built())
		return;
	static char out[65536], err[65536];
	char *args[] = {"--part", "2", "--backend", "seq,mpi", NULL};
	ck_assert_int_eq(run_program(args, out, err, sizeof(out)), 2);
	ck_assert_ptr_nonnull(strstr(err, "built without MPI"));
	ck_assert_str_eq(out, "");
	char *args2[] = {"--mpi", NULL};
	ck_assert_int_eq(run_program(args2, out, err, sizeof(out)), 2);
	ck_assert_ptr_nonnull(strstr(err, "built without MPI"));
}
END_TEST

START_TEST(program_list_exits_0)
{
	static char out[65536], err[65536];
	char *args[] = {"--list", NULL};
	ck_assert_int_eq(run_program(args, out, err, sizeof(out)), 0);
	ck_assert_ptr_nonnull(strstr(out, "gil-threads"));
}
END_TEST

/* A small real run: JSON lines on stdout (one object per line, with the
 * bench fields), the table on stderr, and the charts in the directory. */
START_TEST(program_writes_json_lines_and_charts)
{
	static char out[65536], err[65536];
	char dir[] = "/tmp/spool-compare-svg-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char *args[] = {"--part",     "2",          "--workload", "sleep",
			"--backend",  "seq,loop",   "--tasks",    "4",
			"--delay",    "1",          "--runs",     "1",
			"--json",     "-q",         "--svg",      dir,
			"--timeline", "sleep:loop", NULL};
	ck_assert_int_eq(run_program(args, out, err, sizeof(out)), 0);
	int lines = 0;
	for (char *save, *l = strtok_r(out, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save), lines++) {
		ck_assert_int_eq(l[0], '{');
		ck_assert_int_eq(l[strlen(l) - 1], '}');
		ck_assert_ptr_nonnull(strstr(l, "\"bench\":\"lesson_sleep\""));
		ck_assert_ptr_nonnull(strstr(l, "\"median_s\":"));
		ck_assert_ptr_nonnull(strstr(l, "\"runs\":1"));
	}
	ck_assert_int_eq(lines, 2);
	ck_assert_ptr_nonnull(strstr(err, "Part 2"));
	static const char *const files[] = {"speedup.svg", "timeline.svg",
					    "trace.json"};
	for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
		char path[256], head[8] = "";
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		FILE *f = fopen(path, "r");
		ck_assert_msg(f != NULL, "%s missing", path);
		ck_assert_int_eq(fread(head, 1, 4, f), 4);
		fclose(f);
		ck_assert_msg(head[0] == '<' || head[0] == '{', "%s: %s", path,
			      head);
		unlink(path);
	}
	char path[256];
	snprintf(path, sizeof(path), "%s/trace.svg", dir);
	unlink(path); /* present when compare/trace is built */
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("compare_cli");
	TCase *tc = spool_test_case("parse", 30);
	tcase_add_test(tc, no_arguments_runs_the_defaults);
	tcase_add_test(tc, help_prints_usage_and_asks_to_exit_zero);
	tcase_add_test(tc, list_names_every_workload_and_backend);
	tcase_add_test(tc, values_are_parsed_in_both_spellings);
	tcase_add_test(tc, unknown_option_is_status_2_with_its_name);
	tcase_add_test(tc, missing_or_unwanted_value_is_status_2);
	tcase_add_test(tc, bad_numbers_are_status_2_with_the_range);
	tcase_add_test(tc, unknown_names_are_status_2_with_the_name);
	tcase_add_test(tc, mpi_backend_only_when_named_and_built);
	tcase_add_test(tc, help_names_the_mpi_backend);
	suite_add_tcase(s, tc);
	tc = spool_test_case("program", 60);
	tcase_add_test(tc, program_help_exits_0_on_stdout);
	tcase_add_test(tc, program_bad_flag_exits_2_with_a_message_on_stderr);
	tcase_add_test(tc, program_list_exits_0);
	tcase_add_test(tc, program_without_mpi_refuses_the_mpi_backend);
	tcase_add_test(tc, program_writes_json_lines_and_charts);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
