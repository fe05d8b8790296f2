/* SPDX-License-Identifier: MIT */
/* Suite "compare_workloads": the workload functions, the local server, and
 * every workload giving the same answer on every backend. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"
#include "farm.h"
#include "gil.h"
#include "support.h"
#include "task.h"
#include "workloads.h"

#define MS INT64_C(1000000)

/* A small configuration: every backend, sizes that keep the suite fast
 * under the sanitizers. */
static void small_config(struct cmp_config *cfg)
{
	cmp_config_defaults(cfg);
	cfg->tasks = 6;
	cfg->threads = 2;
	cfg->runs = 1;
	cfg->delay_ns = 2 * MS;
	cfg->fib_n = 18;
	cfg->hash_kib = 4;
	cfg->hash_rounds = 4;
	cfg->mixed_requests = 4;
	cfg->mixed_delay_ns = 1 * MS;
	cfg->mixed_rounds = 20;
	cfg->switch_interval_ns = 1 * MS;
	cfg->quiet = true;
}

START_TEST(fib_computes_fibonacci_numbers)
{
	ck_assert_uint_eq(cmp_fib(0), 0);
	ck_assert_uint_eq(cmp_fib(1), 1);
	ck_assert_uint_eq(cmp_fib(2), 1);
	ck_assert_uint_eq(cmp_fib(20), 6765);
	ck_assert_uint_eq(cmp_fib(25), 75025);
}
END_TEST

START_TEST(fnv1a_depends_on_data_rounds_and_seed)
{
	uint8_t buf[256];
	for (int i = 0; i < 256; i++)
		buf[i] = (uint8_t)i;
	/* No rounds: the FNV-1a 64-bit offset basis xor the seed. */
	ck_assert_uint_eq(cmp_fnv1a_rounds(buf, sizeof(buf), 0, 0),
			  0xcbf29ce484222325u);
	uint64_t a = cmp_fnv1a_rounds(buf, sizeof(buf), 3, 1);
	ck_assert_uint_eq(a, cmp_fnv1a_rounds(buf, sizeof(buf), 3, 1));
	ck_assert_uint_ne(a, cmp_fnv1a_rounds(buf, sizeof(buf), 4, 1));
	ck_assert_uint_ne(a, cmp_fnv1a_rounds(buf, sizeof(buf), 3, 2));
	buf[100] ^= 1;
	ck_assert_uint_ne(a, cmp_fnv1a_rounds(buf, sizeof(buf), 3, 1));
}
END_TEST

START_TEST(task_delays_stay_within_half_and_one_and_a_half_the_mean)
{
	for (int i = 0; i < 1000; i++) {
		int64_t d = cmp_task_delay_ns(7, i, 20 * MS);
		ck_assert_int_ge(d, 10 * MS);
		ck_assert_int_lt(d, 30 * MS);
	}
	ck_assert_int_eq(cmp_task_delay_ns(7, 3, 20 * MS),
			 cmp_task_delay_ns(7, 3, 20 * MS));
	ck_assert_int_ne(cmp_task_delay_ns(7, 3, 20 * MS),
			 cmp_task_delay_ns(8, 3, 20 * MS));
}
END_TEST

START_TEST(server_answers_after_its_delay_on_loopback)
{
	struct cmp_server *s;
	char why[96];
	ck_assert_int_eq(cmp_server_start(&s, 5 * MS, why, sizeof(why)), 0);
	ck_assert_uint_gt(cmp_server_port(s), 0);
	for (int k = 0; k < 3; k++) {
		uint64_t reply = 0;
		int64_t t0 = spool_test_now_ns();
		ck_assert_int_eq(cmp_io_request(cmp_server_port(s), 42 + k,
						5000 * MS, &reply),
				 0);
		ck_assert_int_ge(spool_test_now_ns() - t0, 5 * MS);
		ck_assert_uint_eq(reply, cmp_server_answer(42 + k));
	}
	cmp_server_set_delay(s, 1 * MS);
	uint64_t reply;
	ck_assert_int_eq(
		cmp_io_request(cmp_server_port(s), 9, 5000 * MS, &reply), 0);
	cmp_server_stop(s);
	cmp_server_stop(NULL);
}
END_TEST

struct req_arg {
	uint16_t port;
	int index;
	int rc;
};

static void *requester(void *arg)
{
	struct req_arg *r = arg;
	uint64_t reply;
	r->rc = cmp_io_request(r->port, (uint64_t)r->index, 5000 * MS, &reply);
	if (r->rc == 0 && reply != cmp_server_answer((uint64_t)r->index))
		r->rc = -1;
	return NULL;
}

START_TEST(server_serves_many_clients_at_once)
{
	enum { CLIENTS = 32 };
	struct cmp_server *s;
	char why[96];
	ck_assert_int_eq(cmp_server_start(&s, 20 * MS, why, sizeof(why)), 0);
	pthread_t t[CLIENTS];
	struct req_arg a[CLIENTS];
	for (int i = 0; i < CLIENTS; i++) {
		a[i] = (struct req_arg){cmp_server_port(s), i, -99};
		ck_assert_int_eq(pthread_create(&t[i], NULL, requester, &a[i]),
				 0);
	}
	for (int i = 0; i < CLIENTS; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(a[i].rc, 0);
	}
	cmp_server_stop(s);
}
END_TEST

START_TEST(request_to_a_closed_port_fails_cleanly)
{
	struct cmp_server *s;
	char why[96];
	ck_assert_int_eq(cmp_server_start(&s, 1 * MS, why, sizeof(why)), 0);
	uint16_t port = cmp_server_port(s);
	cmp_server_stop(s); /* nothing listens there now */
	uint64_t reply;
	ck_assert_int_eq(cmp_io_request(port, 1, 2000 * MS, &reply),
			 SPOOL_ESYS);
}
END_TEST

/* The heart of the comparison's honesty: the same answer everywhere. */
static void same_answer_on_every_backend(int w)
{
	struct cmp_config cfg;
	small_config(&cfg);
	struct cmp_result res[CMP_B_COUNT];
	int failures = cmp_run_workload(&cfg, w, res);
	/* Every backend the defaults select (mpi runs only in the program
	 * itself, which its ranks are spawned from: compare_mpi.sh). */
	for (int b = 0; b < CMP_B_COUNT; b++)
		ck_assert_msg(res[b].ok == (b != CMP_B_MPI),
			      "%s on %s failed: %s", cmp_workload_name(w),
			      cmp_backend_name(b), res[b].error);
	ck_assert_int_eq(failures, 0);
	for (int b = 1; b < CMP_B_COUNT; b++)
		ck_assert_msg(b == CMP_B_MPI || res[b].checksum ==
							res[CMP_B_SEQ].checksum,
			      "%s: %s gave %016llx, seq %016llx",
			      cmp_workload_name(w), cmp_backend_name(b),
			      (unsigned long long)res[b].checksum,
			      (unsigned long long)res[CMP_B_SEQ].checksum);
	ck_assert_uint_ne(res[CMP_B_SEQ].checksum, 0);
	for (int b = 0; b < CMP_B_COUNT; b++) {
		if (b == CMP_B_MPI)
			continue;
		ck_assert(res[b].wall_s > 0);
		ck_assert_int_gt(res[b].peak_rss_kib, 0);
		if (w == CMP_W_MIXED) {
			ck_assert(res[b].p50_ms >= 1.0); /* the server delay */
			ck_assert(res[b].p99_ms >= res[b].p50_ms);
		}
		/* Who ran under the GIL model, whatever the timing: on the
		 * two GIL backends every task took the lock (a first take
		 * by a thread is a switch), on the others nothing did. */
		if (b == CMP_B_GIL || b == CMP_B_GIL_THREADS)
			ck_assert_msg(res[b].gil_switches >= 1,
				      "%s on %s: the GIL model was never "
				      "taken",
				      cmp_workload_name(w),
				      cmp_backend_name(b));
		else
			ck_assert_msg(res[b].gil_switches == 0 &&
					      res[b].gil_drop_requests == 0,
				      "%s on %s: GIL statistics without the "
				      "model",
				      cmp_workload_name(w),
				      cmp_backend_name(b));
	}
	cmp_workloads_cleanup();
}

START_TEST(sleep_gives_the_same_checksum_on_every_backend)
{
	same_answer_on_every_backend(CMP_W_SLEEP);
}
END_TEST

START_TEST(request_gives_the_same_checksum_on_every_backend)
{
	same_answer_on_every_backend(CMP_W_REQUEST);
}
END_TEST

START_TEST(fib_gives_the_same_checksum_on_every_backend)
{
	same_answer_on_every_backend(CMP_W_FIB);
}
END_TEST

START_TEST(hash_gives_the_same_checksum_on_every_backend)
{
	same_answer_on_every_backend(CMP_W_HASH);
}
END_TEST

START_TEST(mixed_gives_the_same_checksum_on_every_backend)
{
	same_answer_on_every_backend(CMP_W_MIXED);
}
END_TEST

/* ---- procs and the farm ---------------------------------------------------
 * Not timing lessons: what the worker processes compute must be what the
 * sequential run computes, on any machine. */

static void procs_equal_seq(int w)
{
	struct cmp_config cfg;
	small_config(&cfg);
	cfg.backends = (1u << CMP_B_SEQ) | (1u << CMP_B_PROCS);
	struct cmp_result res[CMP_B_COUNT];
	int failures = cmp_run_workload(&cfg, w, res);
	ck_assert_msg(failures == 0, "%s: %s", cmp_workload_name(w),
		      res[CMP_B_PROCS].error);
	ck_assert(res[CMP_B_PROCS].ok && res[CMP_B_SEQ].ok);
	ck_assert_uint_eq(res[CMP_B_PROCS].checksum, res[CMP_B_SEQ].checksum);
	ck_assert_uint_ne(res[CMP_B_SEQ].checksum, 0);
	cmp_workloads_cleanup();
}

START_TEST(procs_fib_equals_sequential)
{
	procs_equal_seq(CMP_W_FIB);
}
END_TEST

START_TEST(procs_hash_equals_sequential)
{
	procs_equal_seq(CMP_W_HASH);
}
END_TEST

START_TEST(procs_sleep_and_request_equal_sequential)
{
	procs_equal_seq(CMP_W_SLEEP);
	procs_equal_seq(CMP_W_REQUEST);
}
END_TEST

/* Task by task, not only the checksum: every result a worker process sends
 * back is the one cmp_task_run() computes here, at the smallest and the
 * largest message size, with more tasks than the workers' windows hold. */
START_TEST(farm_results_equal_running_each_task_here)
{
	enum { N = 11 };
	struct cmp_config cfg;
	small_config(&cfg);
	uint8_t *buf = malloc((size_t)cfg.hash_kib * 1024);
	ck_assert_ptr_nonnull(buf);
	cmp_hash_buffer_fill(buf, (size_t)cfg.hash_kib * 1024, cfg.seed);
	struct cmp_task_spec t[N];
	uint64_t want[N];
	for (int i = 0; i < N; i++) {
		t[i] = cmp_task_spec_of(&cfg, i % 2 ? CMP_W_FIB : CMP_W_HASH,
					i);
		t[i].fib_n = 10 + i;
		t[i].buf = buf;
		t[i].buf_len = (size_t)cfg.hash_kib * 1024;
		ck_assert_int_eq(cmp_task_run(&t[i], NULL, NULL, &want[i]), 0);
	}
	static const int sizes[] = {CMP_FARM_HEADER, 128, CMP_FARM_MAX_MSG};
	for (size_t k = 0; k < sizeof(sizes) / sizeof(*sizes); k++) {
		for (int workers = 1; workers <= 3; workers++) {
			void *farm;
			char why[96] = "";
			ck_assert_msg(cmp_procs_farm.start(&farm, workers, why,
							   sizeof(why)) == 0,
				      "%s", why);
			uint64_t got[N] = {0};
			int rc = cmp_farm_run(&cmp_procs_farm, farm, workers, t,
					      N, sizes[k], got, NULL, NULL);
			ck_assert_msg(rc == 0, "%s: %s", spool_err_name(rc),
				      cmp_procs_farm.why(farm));
			ck_assert_int_eq(
				cmp_procs_farm.finish(farm, why, sizeof(why)),
				0);
			for (int i = 0; i < N; i++)
				ck_assert_uint_eq(got[i], want[i]);
		}
	}
	free(buf);
}
END_TEST

/* Stop-checking jobs run until request_stop, then report their units. */
static void stop_soon(void *arg)
{
	spool_test_sleep_ns(20 * MS);
	cmp_procs_farm.request_stop(arg);
}

START_TEST(farm_request_stop_ends_running_jobs)
{
	void *farm;
	char why[96];
	ck_assert_int_eq(cmp_procs_farm.start(&farm, 2, why, sizeof(why)), 0);
	struct cmp_task_spec t[2] = {
		{.workload = CMP_W_CONVOY, .kind = CMP_TASK_SPIN_CPU},
		{.workload = CMP_W_CONVOY, .kind = CMP_TASK_SPIN_CPU}};
	uint64_t units[2] = {0};
	ck_assert_int_eq(cmp_farm_run(&cmp_procs_farm, farm, 2, t, 2, 128,
				      units, stop_soon, farm),
			 0);
	ck_assert_int_eq(cmp_procs_farm.finish(farm, why, sizeof(why)), 0);
	ck_assert_uint_gt(units[0] + units[1], 0);
}
END_TEST

/* A task the worker cannot run fails with the worker's error; the farm
 * refuses message sizes outside its range. */
START_TEST(farm_reports_task_errors_and_refuses_bad_sizes)
{
	void *farm;
	char why[96];
	ck_assert_int_eq(cmp_procs_farm.start(&farm, 1, why, sizeof(why)), 0);
	struct cmp_task_spec t[2] = {
		{.workload = CMP_W_FIB, .fib_n = 5},
		{.workload = CMP_W_FIB, .fib_n = 99}}; /* out of range */
	uint64_t got[2];
	ck_assert_int_eq(cmp_farm_run(&cmp_procs_farm, farm, 1, t, 2,
				      CMP_FARM_HEADER - 1, got, NULL, NULL),
			 SPOOL_EINVAL);
	ck_assert_int_eq(cmp_farm_run(&cmp_procs_farm, farm, 1, t, 2,
				      CMP_FARM_MAX_MSG + 1, got, NULL, NULL),
			 SPOOL_EINVAL);
	ck_assert_int_eq(cmp_farm_run(&cmp_procs_farm, farm, 1, t, 2, 128, got,
				      NULL, NULL),
			 SPOOL_EINVAL);
	ck_assert_uint_eq(got[0], 5);
	ck_assert_int_eq(cmp_procs_farm.finish(farm, why, sizeof(why)), 0);
	ck_assert_int_eq(cmp_procs_farm.finish(NULL, why, sizeof(why)), 0);
	ck_assert_int_ne(cmp_procs_farm.start(&farm, 0, why, sizeof(why)), 0);
	ck_assert_ptr_null(farm);
}
END_TEST

/* ---- the convoy -----------------------------------------------------------
 */

START_TEST(convoy_has_a_row_per_backend_and_cpu_count_with_one_answer)
{
	struct cmp_config cfg;
	small_config(&cfg);
	cfg.round_trips = 5;
	cfg.convoy_cpus = 1;
	struct cmp_convoy_result rows[CMP_B_COUNT * 2];
	int n = -1;
	int failures = cmp_run_convoy(&cfg, rows, CMP_B_COUNT * 2, &n);
	for (int i = 0; i < n; i++)
		ck_assert_msg(rows[i].ok, "%s with %d: %s",
			      cmp_backend_name(rows[i].backend),
			      rows[i].cpu_threads, rows[i].error);
	ck_assert_int_eq(failures, 0);
	/* seq (0 only), then pool, gil, loop, procs with 0 and 1. */
	static const int want[][2] = {
		{CMP_B_SEQ, 0},  {CMP_B_POOL, 0},  {CMP_B_POOL, 1},
		{CMP_B_GIL, 0},  {CMP_B_GIL, 1},   {CMP_B_LOOP, 0},
		{CMP_B_LOOP, 1}, {CMP_B_PROCS, 0}, {CMP_B_PROCS, 1}};
	ck_assert_int_eq(n, 9);
	for (int i = 0; i < n; i++) {
		ck_assert_int_eq(rows[i].backend, want[i][0]);
		ck_assert_int_eq(rows[i].cpu_threads, want[i][1]);
		ck_assert_uint_eq(rows[i].checksum, rows[0].checksum);
		ck_assert(rows[i].p50_ms > 0);
		ck_assert(rows[i].p99_ms >= rows[i].p50_ms);
		ck_assert(rows[i].factor > 0);
		if (rows[i].cpu_threads == 0)
			ck_assert(rows[i].factor == 1.0);
		/* The factor is the median round trip over the same
		 * backend's without CPU threads (the row before it). */
		const struct cmp_convoy_result *base =
			&rows[i - rows[i].cpu_threads];
		ck_assert_int_eq(base->backend, rows[i].backend);
		ck_assert(rows[i].factor == rows[i].p50_ms / base->p50_ms);
		/* Who ran under the GIL model, whatever the timing: the
		 * echo server alone on procs and on gil without CPU
		 * threads (one switch, its first take; its takes after
		 * each socket call are no switch, and nobody waits), the
		 * server and the CPU thread on gil with one (each one's
		 * first take is a switch), nothing on the others. */
		if (rows[i].backend == CMP_B_GIL && rows[i].cpu_threads > 0) {
			ck_assert_msg(rows[i].gil_switches >= 2,
				      "gil beside a CPU thread: %llu "
				      "switch(es), the CPU thread never "
				      "took the GIL",
				      (unsigned long long)rows[i].gil_switches);
		} else if (rows[i].backend == CMP_B_GIL ||
			   rows[i].backend == CMP_B_PROCS) {
			ck_assert_uint_eq(rows[i].gil_switches, 1);
			ck_assert_uint_eq(rows[i].gil_drop_requests, 0);
		} else {
			ck_assert_uint_eq(rows[i].gil_switches, 0);
			ck_assert_uint_eq(rows[i].gil_drop_requests, 0);
		}
	}
	ck_assert_uint_ne(rows[0].checksum, 0);
	/* Only the backends it applies to: threads, gil-threads and
	 * loop-pool have none. */
	cfg.backends = (1u << CMP_B_THREADS) | (1u << CMP_B_LOOP_POOL);
	ck_assert_int_eq(cmp_run_convoy(&cfg, rows, CMP_B_COUNT * 2, &n), 0);
	ck_assert_int_eq(n, 0);
}
END_TEST

START_TEST(convoy_json_lines_carry_the_bench_fields)
{
	static struct cmp_report rep;
	struct cmp_config cfg;
	small_config(&cfg);
	cfg.parts = 1u << 2;
	rep.cfg = &cfg;
	rep.n_convoy = 1;
	rep.convoy[0] = (struct cmp_convoy_result){.backend = CMP_B_GIL,
						   .cpu_threads = 1,
						   .ok = true,
						   .runs = 1,
						   .round_trips = 50,
						   .p50_ms = 5.1,
						   .p99_ms = 9.5,
						   .factor = 480,
						   .wall_s = 0.3};
	rep.n_part2 = 1;
	rep.part2[0] = (struct cmp_result){.workload = CMP_W_FIB,
					   .backend = CMP_B_PROCS,
					   .ok = true,
					   .runs = 1,
					   .wall_s = 0.5,
					   .speedup = 1.4};
	char *text;
	size_t len;
	FILE *f = open_memstream(&text, &len);
	cmp_print_json(&rep, f);
	fclose(f);
	static const char *const need[] = {
		"{\"bench\":\"lesson_fib\",\"impl\":\"spool\","
		"\"backend\":\"procs\",\"threads\":2",
		"\"speedup\":1.400",
		"{\"bench\":\"lesson_convoy\",\"impl\":\"spool\","
		"\"backend\":\"gil\",\"threads\":1,\"cpu_threads\":1,"
		"\"n\":50,",
		"\"switch_interval_ms\":1.000",
		"\"median_s\":0.300000",
		"\"p50_ms\":5.1000",
		"\"p99_ms\":9.5000",
		"\"factor\":480.00",
		"\"gil_drop_requests\":"};
	for (size_t i = 0; i < sizeof(need) / sizeof(*need); i++)
		ck_assert_msg(strstr(text, need[i]), "%s lacks %s", text,
			      need[i]);
	free(text);
}
END_TEST

START_TEST(timeline_records_task_and_gil_spans_of_the_chosen_scenario)
{
	struct cmp_config cfg;
	small_config(&cfg);
	cfg.backends = (1u << CMP_B_SEQ) | (1u << CMP_B_GIL);
	cfg.timeline_workload = CMP_W_FIB;
	cfg.timeline_backend = CMP_B_GIL;
	struct cmp_result res[CMP_B_COUNT];
	ck_assert_int_eq(cmp_run_workload(&cfg, CMP_W_FIB, res), 0);
	int n;
	int64_t origin;
	const struct cmp_span *s = cmp_timeline_spans(&n, &origin);
	int tasks = 0, gil = 0;
	for (int i = 0; i < n; i++) {
		ck_assert_int_ge(s[i].end_ns, s[i].begin_ns);
		ck_assert_int_ge(s[i].begin_ns, origin);
		ck_assert_int_lt(s[i].thread, cmp_timeline_threads());
		tasks += s[i].kind == CMP_SPAN_TASK;
		gil += s[i].kind == CMP_SPAN_GIL;
	}
	ck_assert_int_eq(tasks, cfg.tasks); /* the first run only */
	ck_assert_int_ge(gil, cfg.tasks);
	ck_assert(!cmp_timeline_on());
	cmp_workloads_cleanup();
}
END_TEST

START_TEST(python_part_is_skipped_with_a_reason)
{
	struct cmp_config cfg;
	small_config(&cfg);
	struct cmp_py_result r[4];
	char why[128] = "";
	cfg.python = "";
	ck_assert_int_eq(cmp_python_run(&cfg, r, 4, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "disabled by --no-python");
	cfg.python = NULL;
	cfg.python_dir = "/nonexistent/dir";
	ck_assert_int_eq(cmp_python_run(&cfg, r, 4, why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "not found"));
}
END_TEST

START_TEST(json_lines_carry_the_bench_fields)
{
	static struct cmp_report rep;
	struct cmp_config cfg;
	small_config(&cfg);
	cfg.parts = 1u << 2;
	rep.cfg = &cfg;
	rep.n_part2 = 1;
	rep.part2[0] = (struct cmp_result){.workload = CMP_W_FIB,
					   .backend = CMP_B_GIL,
					   .ok = true,
					   .runs = 1,
					   .wall_s = 0.5,
					   .speedup = 0.9,
					   .checksum = 0xabc};
	char *text;
	size_t len;
	FILE *f = open_memstream(&text, &len);
	cmp_print_json(&rep, f);
	fclose(f);
	static const char *const need[] = {"{\"bench\":\"lesson_fib\"",
					   "\"impl\":\"spool\"",
					   "\"backend\":\"gil\"",
					   "\"threads\":2",
					   "\"n\":18",
					   "\"runs\":1",
					   "\"median_s\":0.500000",
					   "\"speedup\":0.900",
					   "\"gil_drop_requests\":"};
	for (size_t i = 0; i < sizeof(need) / sizeof(*need); i++)
		ck_assert_msg(strstr(text, need[i]), "%s lacks %s", text,
			      need[i]);
	ck_assert_int_eq(text[len - 1], '\n');
	free(text);
}
END_TEST

START_TEST(article_scenarios_all_run_on_the_loop)
{
	struct cmp_config cfg;
	small_config(&cfg);
	struct cmp_article_result res[16];
	int n = cmp_article_run(&cfg, res, 16);
	ck_assert_int_eq(n, 9);
	for (int i = 0; i < n; i++) {
		ck_assert_msg(res[i].ok, "%s: %s", res[i].name, res[i].error);
		ck_assert(res[i].wall_s > 0 && res[i].ideal_s > 0);
	}
	/* Lower bounds hold whatever the machine: awaiting one by one takes
	 * at least the sum of the delays, the others at least their ideal. */
	ck_assert_str_eq(res[0].name, "one_by_one");
	ck_assert(res[0].wall_s >= 0.180);
	for (int i = 1; i < n; i++)
		ck_assert_msg(res[i].wall_s >= res[i].ideal_s * 0.999,
			      "%s: %.4f < %.4f", res[i].name, res[i].wall_s,
			      res[i].ideal_s);
	/* gather hands results back in input order, whatever the timing. */
	ck_assert_str_eq(res[2].name, "gather");
	ck_assert_int_eq(res[2].n_order, CMP_ARTICLE_TASKS);
	for (int i = 0; i < CMP_ARTICLE_TASKS; i++)
		ck_assert_int_eq(res[2].order[i], i);
	/* The group's join reports the failing task. */
	ck_assert_str_eq(res[8].name, "task_group");
	ck_assert_int_ge(res[8].n_order, 1);
	ck_assert_int_eq(res[8].order[0], 3);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("compare_workloads");
	TCase *tc = spool_test_case("kernels", 30);
	tcase_add_test(tc, fib_computes_fibonacci_numbers);
	tcase_add_test(tc, fnv1a_depends_on_data_rounds_and_seed);
	tcase_add_test(
		tc, task_delays_stay_within_half_and_one_and_a_half_the_mean);
	tcase_add_test(tc, json_lines_carry_the_bench_fields);
	tcase_add_test(tc, convoy_json_lines_carry_the_bench_fields);
	tcase_add_test(tc, python_part_is_skipped_with_a_reason);
	suite_add_tcase(s, tc);
	tc = spool_test_case("server", 60);
	tcase_add_test(tc, server_answers_after_its_delay_on_loopback);
	tcase_add_test(tc, server_serves_many_clients_at_once);
	tcase_add_test(tc, request_to_a_closed_port_fails_cleanly);
	suite_add_tcase(s, tc);
	tc = spool_test_case("backends", 120);
	tcase_add_test(tc, sleep_gives_the_same_checksum_on_every_backend);
	tcase_add_test(tc, request_gives_the_same_checksum_on_every_backend);
	tcase_add_test(tc, fib_gives_the_same_checksum_on_every_backend);
	tcase_add_test(tc, hash_gives_the_same_checksum_on_every_backend);
	tcase_add_test(tc, mixed_gives_the_same_checksum_on_every_backend);
	tcase_add_test(
		tc, timeline_records_task_and_gil_spans_of_the_chosen_scenario);
	tcase_add_test(tc, procs_fib_equals_sequential);
	tcase_add_test(tc, procs_hash_equals_sequential);
	tcase_add_test(tc, procs_sleep_and_request_equal_sequential);
	tcase_add_test(tc, farm_results_equal_running_each_task_here);
	tcase_add_test(tc, farm_request_stop_ends_running_jobs);
	tcase_add_test(tc, farm_reports_task_errors_and_refuses_bad_sizes);
	tcase_add_test(
		tc, convoy_has_a_row_per_backend_and_cpu_count_with_one_answer);
	tcase_add_test(tc, article_scenarios_all_run_on_the_loop);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
