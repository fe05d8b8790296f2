/* SPDX-License-Identifier: MIT */
/* Suite "compare_lesson": the lesson's claims as properties with wide
 * margins, measured by the comparison program's own code, each against
 * what the machine gives while it runs (support.h: timing lessons on a
 * shared machine). Timing properties: sanitizer builds skip this suite
 * (label "lesson"). */
/* ctest-labels: lesson */
#include <stdio.h>

#include "compare.h"
#include "support.h"

#define MS INT64_C(1000000)

static void config(struct cmp_config *cfg, int w, unsigned backends)
{
	cmp_config_defaults(cfg);
	cfg->workloads = 1u << w;
	cfg->backends = backends;
	cfg->runs = 5;
	cfg->quiet = true;
	cfg->threads = spool_test_cpus() < 2 ? 2 : spool_test_cpus();
	if (cfg->threads > 4)
		cfg->threads = 4;
}

/* The speedup of backend b over seq from each one's fastest run: other
 * programs on the machine can only make a run slower, so the fastest run
 * is the one closest to the backend's own cost (medians are what the
 * program reports; the property is about the backends). */
static double speedup(int w, int b, struct cmp_config *cfg)
{
	struct cmp_result res[CMP_B_COUNT];
	int failures = cmp_run_workload(cfg, w, res);
	ck_assert_msg(failures == 0, "%s: %s", cmp_workload_name(w),
		      res[b].ok ? res[CMP_B_SEQ].error : res[b].error);
	ck_assert_uint_eq(res[b].checksum, res[CMP_B_SEQ].checksum);
	double s = res[CMP_B_SEQ].min_s / res[b].min_s;
	printf("%s on %s: seq %.1f ms, %.1f ms (fastest of %d), speedup "
	       "%.2fx\n",
	       cmp_workload_name(w), cmp_backend_name(b),
	       res[CMP_B_SEQ].min_s * 1e3, res[b].min_s * 1e3, cfg->runs, s);
	fflush(stdout);
	cmp_workloads_cleanup();
	return s;
}

/* ---- speedups, against the CPUs the machine gives ------------------------
 * The claims about CPU-bound work are about running two threads at once,
 * which the machine may or may not allow right now: other programs can
 * take the second CPU for the whole measurement, and then no pool can
 * show a speedup. So each attempt measures the CPUs the machine gives
 * cfg->threads spinning threads right before and right after the
 * measurement, skips when either figure is under SPOOL_TEST_MIN_CPUS, and
 * otherwise checks the claim for the lower figure (support.h, "a lesson
 * in attempts"). */

/* The CPUs a claim counts on: the machine's figure, where 95% of the
 * threads' CPUs counts as all of them (the probe loses a little to
 * interrupts and to the test's own thread), and at most two, so that on
 * any machine the bounds are at most those of two idle cores. */
static double cpus_counted(double cpus, int threads)
{
	if (cpus >= 0.95 * threads)
		cpus = threads;
	return cpus < 2 ? cpus : 2;
}

/* Checks a speedup claim about backend b on workload w: bound(cpus) is the
 * speedup it promises for that many CPUs, which the speedup must reach
 * (above) or stay under (!above). */
static void speedup_lesson(int w, int b, struct cmp_config *cfg,
			   double (*bound)(double cpus), bool above)
{
	char name[64];
	snprintf(name, sizeof name, "%s on %s", cmp_workload_name(w),
		 cmp_backend_name(b));
	if (spool_test_cpus() < 2) {
		spool_test_skip("%s: one CPU online, so threads cannot run "
				"CPU work in parallel here",
				name);
		return;
	}
	struct spool_test_lesson l = {.name = name};
	while (spool_test_lesson_next(&l)) {
		double before = spool_test_cpus_given(cfg->threads);
		if (before < SPOOL_TEST_MIN_CPUS) {
			spool_test_lesson_busy(
				&l,
				"%.2f CPUs for %d threads before "
				"measuring (%.1f needed)",
				before, cfg->threads, SPOOL_TEST_MIN_CPUS);
			continue;
		}
		double s = speedup(w, b, cfg);
		double after = spool_test_cpus_given(cfg->threads);
		double cpus = before < after ? before : after;
		if (cpus < SPOOL_TEST_MIN_CPUS) {
			spool_test_lesson_busy(
				&l,
				"speedup %.2fx, but %.2f CPUs for "
				"%d threads after measuring (%.1f "
				"needed)",
				s, after, cfg->threads, SPOOL_TEST_MIN_CPUS);
			continue;
		}
		double want = bound(cpus_counted(cpus, cfg->threads));
		spool_test_lesson_result(
			&l, above ? s >= want : s < want,
			"speedup %.2fx, %s %.2fx for %.2f CPUs "
			"given",
			s, above ? "at least" : "under", want, cpus);
	}
	spool_test_lesson_end(&l);
}

/* The IO-bound claims need no CPU figure: waiting is what they measure, and
 * a machine that wakes threads late delays each of the sequential run's 16
 * waits, the loop's concurrent ones about once, so load can only raise the
 * speedup. */
START_TEST(loop_speeds_up_io_bound_sleeps_at_least_tasks_over_2)
{
	struct cmp_config cfg;
	config(&cfg, CMP_W_SLEEP, (1u << CMP_B_SEQ) | (1u << CMP_B_LOOP));
	ck_assert(speedup(CMP_W_SLEEP, CMP_B_LOOP, &cfg) >= cfg.tasks / 2.0);
}
END_TEST

START_TEST(loop_speeds_up_io_bound_requests_at_least_tasks_over_2)
{
	struct cmp_config cfg;
	config(&cfg, CMP_W_REQUEST, (1u << CMP_B_SEQ) | (1u << CMP_B_LOOP));
	ck_assert(speedup(CMP_W_REQUEST, CMP_B_LOOP, &cfg) >= cfg.tasks / 2.0);
}
END_TEST

/* Whatever the CPUs given, as long as there are two to use: the GIL model
 * runs one thread at a time. (With fewer, a speedup could not show
 * anyway; and a sequential baseline squeezed by other programs makes the
 * model look faster than it is.) */
static double under_1_3(double cpus)
{
	(void)cpus;
	return 1.3;
}

START_TEST(gil_model_keeps_cpu_bound_speedup_under_1_3)
{
	struct cmp_config cfg;
	config(&cfg, CMP_W_FIB, (1u << CMP_B_SEQ) | (1u << CMP_B_GIL));
	cfg.fib_n = 31;
	speedup_lesson(CMP_W_FIB, CMP_B_GIL, &cfg, under_1_3, false);
	config(&cfg, CMP_W_HASH, (1u << CMP_B_SEQ) | (1u << CMP_B_GIL));
	speedup_lesson(CMP_W_HASH, CMP_B_GIL, &cfg, under_1_3, false);
}
END_TEST

/* The lesson's claim, on the CPU-bound workload whose speedup the
 * hardware does not cap: hashing, one long multiply chain. The pool turns
 * at least half of each CPU given beyond the first into speedup: 1.5x on
 * two idle cores, 1.25x when the machine gives 1.5 CPUs. */
static double half_the_extra(double cpus)
{
	return 1 + 0.5 * (cpus - 1);
}

START_TEST(threads_without_the_gil_speed_up_hash_by_half_the_extra_cpus)
{
	struct cmp_config cfg;
	config(&cfg, CMP_W_HASH, (1u << CMP_B_SEQ) | (1u << CMP_B_POOL));
	speedup_lesson(CMP_W_HASH, CMP_B_POOL, &cfg, half_the_extra, true);
}
END_TEST

/* fib, call-heavy integer code, is a separate property with its own
 * bound: where the two "CPUs" are hardware threads of one core (as on
 * the 2-vCPU machines this was measured on: 1.41-1.83x in quiet runs) it
 * gets about 1.5x from the second thread, so half the extra would flake.
 * A fifth (1.2x on two idle cores) still separates it from the GIL model,
 * which stays at about 1.0x. */
static double a_fifth_of_the_extra(double cpus)
{
	return 1 + 0.2 * (cpus - 1);
}

START_TEST(threads_without_the_gil_speed_up_fib_by_a_fifth_of_the_extra_cpus)
{
	struct cmp_config cfg;
	config(&cfg, CMP_W_FIB, (1u << CMP_B_SEQ) | (1u << CMP_B_POOL));
	cfg.fib_n = 31;
	speedup_lesson(CMP_W_FIB, CMP_B_POOL, &cfg, a_fifth_of_the_extra, true);
}
END_TEST

/* ---- the convoy -----------------------------------------------------------
 * A claim about round trips beside one CPU-bound thread, which needs a CPU
 * for that thread and one for the echo: each attempt measures the CPUs
 * given to two spinning threads before and after, and how late a sleeping
 * thread wakes (the round trip without CPU threads is two wake-ups, tens
 * of microseconds on an idle machine, where a 200 us sleep ends 60-80 us
 * late, mostly timer slack; a machine whose sleepers wake half a
 * millisecond late is oversubscribed, and its wake-ups would decide the
 * factors). */

#define CONVOY_LATE_NS (500 * 1000)

static void convoy_config(struct cmp_config *cfg, unsigned backends)
{
	cmp_config_defaults(cfg);
	cfg->workloads = 1u << CMP_W_CONVOY;
	cfg->backends = backends;
	cfg->convoy_cpus = 1;
	cfg->round_trips = 20;
	cfg->runs = 5;
	cfg->quiet = true;
}

/* Whether the machine gives the convoy what it needs now; if not, records
 * the attempt as busy and returns false. */
static bool convoy_machine_ok(struct spool_test_lesson *l, const char *when)
{
	double cpus = spool_test_cpus_given(2);
	int64_t late = spool_test_wakeup_late_ns();
	if (cpus >= SPOOL_TEST_MIN_CPUS && late <= CONVOY_LATE_NS)
		return true;
	spool_test_lesson_busy(l,
			       "%s measuring: %.2f CPUs for 2 threads (%.1f "
			       "needed), wake-ups %lld us late (%d allowed)",
			       when, cpus, SPOOL_TEST_MIN_CPUS,
			       (long long)(late / 1000),
			       (int)(CONVOY_LATE_NS / 1000));
	return false;
}

/* Runs the convoy of cfg; fills rows[b] with backend b's row beside one
 * CPU thread, its factor over its own run without. */
static void convoy_factors(struct cmp_config *cfg,
			   struct cmp_convoy_result rows[CMP_B_COUNT])
{
	struct cmp_convoy_result all[2 * CMP_B_COUNT];
	int n;
	int failures = cmp_run_convoy(cfg, all, 2 * CMP_B_COUNT, &n);
	for (int i = 0; i < n; i++) {
		ck_assert_msg(all[i].ok, "%s: %s",
			      cmp_backend_name(all[i].backend), all[i].error);
		printf("convoy on %s beside %d CPU thread(s): p50 %.3f ms, "
		       "p99 %.3f ms, factor %.1fx\n",
		       cmp_backend_name(all[i].backend), all[i].cpu_threads,
		       all[i].p50_ms, all[i].p99_ms, all[i].factor);
		if (all[i].cpu_threads == 1)
			rows[all[i].backend] = all[i];
	}
	fflush(stdout);
	ck_assert_int_eq(failures, 0);
}

/* CPython's convoy: a thread that answers a tiny request after each short
 * wait must take the GIL back from a CPU-bound thread, which gives it up
 * only when asked, a switch interval (5 ms) after the request arrived.
 * The echo's median round trip grows from tens of microseconds to about
 * the interval: at least 50 times. */
START_TEST(gil_model_makes_an_echo_beside_a_cpu_thread_50x_slower)
{
	if (spool_test_cpus() < 2) {
		spool_test_skip("convoy on gil: one CPU online, so the echo "
				"and the CPU thread cannot both run");
		return;
	}
	struct cmp_config cfg;
	convoy_config(&cfg, 1u << CMP_B_GIL);
	struct spool_test_lesson l = {.name = "convoy on gil"};
	while (spool_test_lesson_next(&l)) {
		if (!convoy_machine_ok(&l, "before"))
			continue;
		struct cmp_convoy_result rows[CMP_B_COUNT] = {0};
		convoy_factors(&cfg, rows);
		if (!convoy_machine_ok(&l, "after"))
			continue;
		double f = rows[CMP_B_GIL].factor;
		spool_test_lesson_result(&l, f >= 50,
					 "factor %.1fx (p50 %.3f ms), at least "
					 "50x wanted",
					 f, rows[CMP_B_GIL].p50_ms);
	}
	spool_test_lesson_end(&l);
}
END_TEST

/* Without the model nothing makes the echo wait for the CPU thread: on the
 * pool, on the loop with the CPU work handed to run_in_executor, and with
 * it in a worker process, the median round trip stays within 5 times the
 * one without (it is often below: CPU-bound threads keep the cores out of
 * their idle states, whose wake-ups cost more). */
START_TEST(without_the_gil_an_echo_beside_a_cpu_thread_stays_within_5x)
{
	if (spool_test_cpus() < 2) {
		spool_test_skip("convoy without the GIL: one CPU online, so "
				"the echo and the CPU thread cannot both run");
		return;
	}
	static const int backends[] = {CMP_B_POOL, CMP_B_LOOP, CMP_B_PROCS};
	struct cmp_config cfg;
	convoy_config(&cfg, (1u << CMP_B_POOL) | (1u << CMP_B_LOOP) |
				    (1u << CMP_B_PROCS));
	struct spool_test_lesson l = {.name = "convoy on pool, loop, procs"};
	while (spool_test_lesson_next(&l)) {
		if (!convoy_machine_ok(&l, "before"))
			continue;
		struct cmp_convoy_result rows[CMP_B_COUNT] = {0};
		convoy_factors(&cfg, rows);
		if (!convoy_machine_ok(&l, "after"))
			continue;
		double worst = 0;
		int wb = 0;
		for (size_t i = 0; i < sizeof(backends) / sizeof(*backends);
		     i++)
			if (rows[backends[i]].factor > worst) {
				worst = rows[backends[i]].factor;
				wb = backends[i];
			}
		spool_test_lesson_result(&l, worst > 0 && worst < 5,
					 "largest factor %.1fx (%s), under 5x "
					 "wanted",
					 worst, cmp_backend_name(wb));
	}
	spool_test_lesson_end(&l);
}
END_TEST

/* The article's bounds leave 25 ms beyond the ideal at the least (the
 * group that ends at a 5 ms failure, under 30 ms): checked only when the
 * machine wakes threads well within that. */
/* The article's patterns, whose orders and bounds follow from the tasks'
 * delays (5 to 40 ms apart by 5 ms) only on a machine that wakes threads
 * promptly, before and all through the run: each attempt measures the
 * lateness right before and right after, and a bound missed counts only
 * when both were prompt (a burst of other work during the run would
 * otherwise fail it). Whether each pattern ran at all, and right, is
 * checked on every attempt. */
static bool article_holds(const struct cmp_article_result *res, int n,
			  char *why, size_t len)
{
	static const int by_delay[] = {3, 1, 5, 7, 6, 2, 4, 0};
	why[0] = 0;
	/* Awaiting one by one: about the sum (180 ms); every pattern that
	 * starts all tasks first: well under it (ideal 40 ms). */
	if (res[0].wall_s < 0.180)
		snprintf(why, len, "%s took %.3f s, under the sum", res[0].name,
			 res[0].wall_s);
	for (int i = 1; i <= 5 && !why[0]; i++)
		if (res[i].wall_s >= 0.120)
			snprintf(why, len, "%s took %.3f s", res[i].name,
				 res[i].wall_s);
	/* as_completed: fastest first (delays 40 10 30 5 35 15 25 20). */
	for (int i = 0; i < 8 && !why[0]; i++)
		if (res[5].order[i] != by_delay[i])
			snprintf(why, len,
				 "as_completed gave task %d in place %d",
				 res[5].order[i], i);
	/* wait with a 22 ms timeout: the four tasks of 5..20 ms are done. */
	if (!why[0] && res[7].n_order != 4)
		snprintf(why, len, "wait_timeout: %d done, not 4",
			 res[7].n_order);
	for (int i = 0; i < 4 && !why[0]; i++)
		if (res[7].order[i] != by_delay[i])
			snprintf(why, len,
				 "wait_timeout gave task %d in place %d",
				 res[7].order[i], i);
	/* The group ends at the failure (5 ms), not after the others. */
	if (!why[0] && res[8].wall_s >= 0.030)
		snprintf(why, len, "the group took %.3f s", res[8].wall_s);
	(void)n;
	return !why[0];
}

START_TEST(article_orders_follow_the_patterns)
{
	const int64_t limit = 25 * MS / 20; /* as spool_test_prompt_for */
	struct spool_test_lesson l = {.name = "the article's patterns"};
	while (spool_test_lesson_next(&l)) {
		int64_t before = spool_test_wakeup_late_ns();
		if (before >= limit) {
			spool_test_lesson_busy(&l,
					       "threads wake %.2f ms late "
					       "before the run",
					       (double)before / 1e6);
			continue;
		}
		struct cmp_config cfg;
		cmp_config_defaults(&cfg);
		struct cmp_article_result res[16];
		int n = cmp_article_run(&cfg, res, 16);
		ck_assert_int_eq(n, 9);
		for (int i = 0; i < n; i++)
			ck_assert_msg(res[i].ok, "%s: %s", res[i].name,
				      res[i].error);
		ck_assert_str_eq(res[5].name, "as_completed");
		ck_assert_int_eq(res[5].n_order, 8);
		ck_assert_str_eq(res[7].name, "wait_timeout");
		int64_t after = spool_test_wakeup_late_ns();
		char why[160];
		bool held = article_holds(res, n, why, sizeof why);
		if (!held && after >= limit) {
			spool_test_lesson_busy(&l,
					       "%s, but threads woke %.2f ms "
					       "late after the run",
					       why, (double)after / 1e6);
			continue;
		}
		spool_test_lesson_result(&l, held, "%s",
					 held ? "every bound held" : why);
	}
	spool_test_lesson_end(&l);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("compare_lesson");
	TCase *tc = spool_test_case("lesson", 120);
	tcase_add_test(tc,
		       loop_speeds_up_io_bound_sleeps_at_least_tasks_over_2);
	tcase_add_test(tc,
		       loop_speeds_up_io_bound_requests_at_least_tasks_over_2);
	tcase_add_test(tc, gil_model_keeps_cpu_bound_speedup_under_1_3);
	tcase_add_test(
		tc,
		threads_without_the_gil_speed_up_hash_by_half_the_extra_cpus);
	tcase_add_test(
		tc,
		threads_without_the_gil_speed_up_fib_by_a_fifth_of_the_extra_cpus);
	tcase_add_test(tc, article_orders_follow_the_patterns);
	tcase_add_test(tc,
		       gil_model_makes_an_echo_beside_a_cpu_thread_50x_slower);
	tcase_add_test(
		tc,
		without_the_gil_an_echo_beside_a_cpu_thread_stays_within_5x);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
