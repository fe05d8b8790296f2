/* SPDX-License-Identifier: MIT */
/*
 * Suite "mpi_executor": the remote executor on 3 ranks. Registered
 * functions run on the ranks and their result bytes come back; remote
 * failures come back as failed futures with their code; a name a rank
 * lacks; idle ranks pull work, so a rank busy with a long task takes no
 * more, and the last tasks go to the rank that runs out of work first; cancel
 * before dispatch; submit on a worker; results given back early; a root on a
 * loop engine; bad input. Batches: queued tasks leave in fewer messages than
 * tasks, of mixed sizes, aligned; a failure or an unknown name inside a batch
 * fails alone; cancel of queued tasks while batches are out. A burst of
 * submissions makes passes itself and hands progress back when it ends.
 * No waiting thread of spool-mpi calls sched_yield().
 */
/* mpi-ranks: 3 */
#include <dlfcn.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mpi_support.h"

static int rank_fn(const void *arg, size_t len, void **out, size_t *out_len);
static int aligned_echo_fn(const void *arg, size_t len, void **out,
			   size_t *out_len);

/* fib(n) of an int argument, as a uint64 result. */
static uint64_t fib(int n)
{
	return n < 2 ? (uint64_t)n : fib(n - 1) + fib(n - 2);
}

static int fib_fn(const void *arg, size_t len, void **out, size_t *out_len)
{
	if (len != sizeof(int))
		return 22;
	int n;
	memcpy(&n, arg, sizeof n);
	uint64_t *r = malloc(sizeof *r);
	if (!r)
		return 12;
	*r = fib(n);
	*out = r;
	*out_len = sizeof *r;
	return 0;
}

/* Fails with the code it is given. */
static int fail_fn(const void *arg, size_t len, void **out, size_t *out_len)
{
	int code;
	memcpy(&code, arg, sizeof code);
	*out = malloc(8); /* discarded by the executor on failure */
	*out_len = 8;
	(void)len;
	return code;
}

/* Fails with the code it is given and a message naming it and this rank,
 * as any task does; its payload stays (and is freed) here. */
static int fail_msg_fn(const void *arg, size_t len, void **out, size_t *out_len)
{
	int code;
	memcpy(&code, arg, sizeof code);
	(void)len, (void)out, (void)out_len;
	return spool_fail_with(code, malloc(32), free,
			       "bad input %d on rank %d", code,
			       spool_mpi_test_rank());
}

/* Records a failure of code 55 with a message, then succeeds (an echo):
 * the record must not stick to the next function of the same runner. */
static int record_ok_fn(const void *arg, size_t len, void **out,
			size_t *out_len)
{
	spool_fail(55, "recorded by a success");
	*out = malloc(len);
	memcpy(*out, arg, len);
	*out_len = len;
	return 0;
}

/* Sleeps the given number of ms and answers with its rank, then its start
 * and end times (CLOCK_MONOTONIC: one clock for the ranks of one
 * machine). */
struct span {
	int rank;
	int64_t start, end;
};

static int sleep_fn(const void *arg, size_t len, void **out, size_t *out_len)
{
	int ms;
	memcpy(&ms, arg, sizeof ms);
	(void)len;
	struct span *s = malloc(sizeof *s);
	s->rank = spool_mpi_test_rank();
	s->start = spool_test_now_ns();
	spool_test_sleep_ns((int64_t)ms * SPOOL_NS_PER_MS);
	s->end = spool_test_now_ns();
	*out = s;
	*out_len = sizeof *s;
	return 0;
}

static int rank_fn(const void *arg, size_t len, void **out, size_t *out_len)
{
	(void)arg;
	(void)len;
	int *r = malloc(sizeof *r);
	*r = spool_mpi_test_rank();
	*out = r;
	*out_len = sizeof *r;
	return 0;
}

/* Echoes its argument; an empty argument gives an empty result. */
static int echo_fn(const void *arg, size_t len, void **out, size_t *out_len)
{
	if (len) {
		*out = malloc(len);
		memcpy(*out, arg, len);
	}
	*out_len = len;
	return 0;
}

/* Registered on rank 0 and 1 only: rank 2 lacks it. */
static int partial_fn(const void *arg, size_t len, void **out, size_t *out_len)
{
	return rank_fn(arg, len, out, out_len);
}

static void register_all(void)
{
	ck_assert_int_eq(spool_mpi_register("fib", fib_fn), 0);
	ck_assert_int_eq(spool_mpi_register("fail", fail_fn), 0);
	ck_assert_int_eq(spool_mpi_register("fail_msg", fail_msg_fn), 0);
	ck_assert_int_eq(spool_mpi_register("record_ok", record_ok_fn), 0);
	ck_assert_int_eq(spool_mpi_register("sleep", sleep_fn), 0);
	ck_assert_int_eq(spool_mpi_register("rank", rank_fn), 0);
	ck_assert_int_eq(spool_mpi_register("echo", echo_fn), 0);
	ck_assert_int_eq(spool_mpi_register("aligned_echo", aligned_echo_fn),
			 0);
	if (spool_mpi_test_rank() != 2)
		ck_assert_int_eq(spool_mpi_register("partial", partial_fn), 0);
}

static spool_mpi_executor *make_ex(const spool_mpi_executor_options *o)
{
	register_all();
	spool_mpi_executor *ex = NULL;
	ck_assert_int_eq(spool_mpi_executor_create(&ex, MPI_COMM_WORLD, o), 0);
	return ex;
}

/* Worker ranks serve; the root runs body(ex). Everyone destroys. */
static void run_ex(const spool_mpi_executor_options *o,
		   void (*body)(spool_mpi_executor *))
{
	spool_mpi_executor *ex = make_ex(o);
	if (spool_mpi_executor_is_root(ex)) {
		body(ex);
	} else {
		ck_assert_int_eq(spool_mpi_executor_serve(ex), 0);
	}
	spool_mpi_executor_destroy(ex);
}

static void fib_body(spool_mpi_executor *ex)
{
	enum { N = 24 };
	spool_future *fs[N];
	for (int i = 0; i < N; i++)
		fs[i] = spool_mpi_submit(ex, "fib", &i, sizeof i);
	spool_future *g = spool_gather(fs, N, 0);
	SPOOL_MPI_TEST_WAIT(g);
	ck_assert_int_eq(spool_future_state(g), SPOOL_DONE);
	for (int i = 0; i < N; i++) {
		const spool_mpi_result *r = spool_future_value(fs[i]);
		ck_assert_ptr_nonnull(r);
		ck_assert_uint_eq(r->size, sizeof(uint64_t));
		uint64_t v;
		memcpy(&v, r->data, sizeof v);
		ck_assert_uint_eq(v, fib(i));
		ck_assert_uint_eq((uintptr_t)r->data % _Alignof(max_align_t),
				  0);
		spool_future_release(fs[i]);
	}
	spool_future_release(g);
}

START_TEST(submitted_functions_run_and_their_bytes_come_back)
{
	run_ex(NULL, fib_body);
}
END_TEST

static void fail_body(spool_mpi_executor *ex)
{
	spool_future *fs[6];
	for (int i = 0; i < 6; i++) {
		int code = 40 + i;
		fs[i] = spool_mpi_submit(ex, "fail", &code, sizeof code);
	}
	spool_future *g = spool_gather(fs, 6, SPOOL_RETURN_ERRORS);
	SPOOL_MPI_TEST_WAIT(g);
	for (int i = 0; i < 6; i++) {
		ck_assert_int_eq(spool_future_state(fs[i]), SPOOL_FAILED);
		ck_assert_int_eq(spool_future_error(fs[i]), 40 + i);
		void *v;
		ck_assert_int_eq(spool_gather_result(g, (size_t)i, &v), 40 + i);
		spool_future_release(fs[i]);
	}
	spool_future_release(g);
}

START_TEST(remote_failure_comes_back_with_its_code)
{
	run_ex(NULL, fail_body);
}
END_TEST

static void partial_body(spool_mpi_executor *ex)
{
	/* Batches until both kinds of rank have answered: which rank pulls
	 * a task is the ranks' race, and on a busy machine rank 2 may still
	 * be starting while the others take a whole batch. Every answer is
	 * checked, whichever batch it comes in. */
	enum { N = 30, MAX_BATCHES = 50 };
	int ok = 0, nofn = 0;
	for (int b = 0; b < MAX_BATCHES && (!ok || !nofn); b++) {
		spool_future *fs[N];
		for (int i = 0; i < N; i++)
			fs[i] = spool_mpi_submit(ex, "partial", NULL, 0);
		for (int i = 0; i < N; i++) {
			SPOOL_MPI_TEST_WAIT(fs[i]);
			int err = spool_future_error(fs[i]);
			if (err == 0) {
				const spool_mpi_result *r = spool_future_value(
					fs[i]);
				int rank;
				memcpy(&rank, r->data, sizeof rank);
				ck_assert_int_ne(rank, 2);
				ok++;
			} else {
				ck_assert_int_eq(err, SPOOL_MPI_ENOFN);
				nofn++;
			}
			spool_future_release(fs[i]);
		}
	}
	ck_assert_int_gt(ok, 0);
	ck_assert_int_gt(nofn, 0);
}

START_TEST(a_name_the_rank_lacks_fails_with_enofn)
{
	run_ex(NULL, partial_body);
}
END_TEST

/* One long task (400 ms) and 40 short ones (10 ms) on 3+ ranks with a
 * window of one task each: the rank that took the long task asks for no
 * more while it runs, so no other task starts there until it ends, and the
 * other ranks share the short ones. (Checked with the tasks' own start
 * and end times, which a loaded machine stretches but cannot reorder.) */
static void pull_body(spool_mpi_executor *ex)
{
	enum { N = 41 };
	spool_future *fs[N];
	int ms = 400;
	fs[0] = spool_mpi_submit(ex, "sleep", &ms, sizeof ms);
	ms = 10;
	for (int i = 1; i < N; i++)
		fs[i] = spool_mpi_submit(ex, "sleep", &ms, sizeof ms);
	struct span sp[N];
	for (int i = 0; i < N; i++) {
		SPOOL_MPI_TEST_WAIT(fs[i]);
		ck_assert_int_eq(spool_future_state(fs[i]), SPOOL_DONE);
		const spool_mpi_result *r = spool_future_value(fs[i]);
		ck_assert_uint_eq(r->size, sizeof sp[i]);
		memcpy(&sp[i], r->data, sizeof sp[i]);
		spool_mpi_result_free((spool_mpi_result *)r);
		spool_future_release(fs[i]);
	}
	int others = 0;
	for (int i = 1; i < N; i++) {
		if (sp[i].rank != sp[0].rank) {
			others++;
			continue;
		}
		/* on the long task's rank: before it or after it */
		ck_assert_msg(sp[i].end <= sp[0].start ||
				      sp[i].start >= sp[0].end,
			      "task %d ran on rank %d during the long task", i,
			      sp[0].rank);
	}
	ck_assert_int_gt(others, 0);
}

START_TEST(idle_ranks_pull_work_so_a_busy_rank_takes_no_more)
{
	spool_mpi_executor_options o = SPOOL_MPI_EXECUTOR_OPTIONS_INIT;
	o.threads = 1;
	o.window = 1;
	run_ex(&o, pull_body);
}
END_TEST

/* The tail: windows of two, dispatch only. A long task goes to one
 * worker and a short one to the other; a third task submitted while both
 * are busy is held at the root (every rank holds a task and the queue is
 * no longer than the ranks) and goes to the first rank to run out of
 * work, the short task's, instead of waiting in the long task's window
 * on a rank that has room. */
static struct span wait_span(spool_future *f)
{
	struct span sp;
	SPOOL_MPI_TEST_WAIT(f);
	ck_assert_int_eq(spool_future_state(f), SPOOL_DONE);
	const spool_mpi_result *r = spool_future_value(f);
	ck_assert_uint_eq(r->size, sizeof sp);
	memcpy(&sp, r->data, sizeof sp);
	spool_mpi_result_free((spool_mpi_result *)r);
	spool_future_release(f);
	return sp;
}

static void wait_running(spool_future *f)
{
	int64_t end = spool_test_now_ns() + 5 * SPOOL_NS_PER_S;
	while (spool_future_state(f) == SPOOL_PENDING &&
	       spool_test_now_ns() < end)
		spool_test_sleep_ns(SPOOL_NS_PER_MS);
	ck_assert_int_ne(spool_future_state(f), SPOOL_PENDING);
}

static void tail_body(spool_mpi_executor *ex)
{
	int long_ms = 800, short_ms = 20, last_ms = 10;
	spool_future *l = spool_mpi_submit(ex, "sleep", &long_ms, sizeof(int));
	wait_running(l);
	spool_future *sh = spool_mpi_submit(ex, "sleep", &short_ms,
					    sizeof(int));
	wait_running(sh);
	spool_future *t = spool_mpi_submit(ex, "sleep", &last_ms, sizeof(int));
	struct span lsp = wait_span(l), ssp = wait_span(sh), tsp = wait_span(t);
	ck_assert_int_ne(lsp.rank, ssp.rank);
	ck_assert_msg(tsp.rank == ssp.rank && tsp.start < lsp.end,
		      "the last task ran on rank %d from %.0f ms, the long "
		      "task on rank %d until %.0f ms",
		      tsp.rank, (double)(tsp.start - lsp.start) / 1e6, lsp.rank,
		      (double)(lsp.end - lsp.start) / 1e6);
}

/* Options of a root that only dispatches, with workers of threads pool
 * threads and windows of window tasks. */
static spool_mpi_executor_options dispatch_opts(int threads, int window)
{
	spool_mpi_executor_options o = SPOOL_MPI_EXECUTOR_OPTIONS_INIT;
	o.threads = threads;
	o.window = window;
	o.flags = SPOOL_MPI_ROOT_DISPATCH_ONLY;
	return o;
}

START_TEST(the_last_tasks_go_to_the_rank_that_runs_out_of_work)
{
	spool_mpi_executor_options o = dispatch_opts(1, 2);
	run_ex(&o, tail_body);
}
END_TEST

/* Two pool threads on each worker, windows of four, dispatch only: four
 * long tasks submitted at once leave in batches (all four to the first
 * worker that joined, or two to each), and a worker's two runners take
 * one task each, so tasks 0 and 1, and 2 and 3, where they share a rank,
 * run side by side rather than one after the other on one thread. */
static void spread_body(spool_mpi_executor *ex)
{
	enum { N = 4 };
	int ms = 300;
	spool_future *fs[N];
	for (int i = 0; i < N; i++)
		fs[i] = spool_mpi_submit(ex, "sleep", &ms, sizeof ms);
	struct span sp[N];
	for (int i = 0; i < N; i++)
		sp[i] = wait_span(fs[i]);
	for (int i = 0; i < N; i += 2)
		if (sp[i].rank == sp[i + 1].rank)
			ck_assert_msg(sp[i].start < sp[i + 1].end &&
					      sp[i + 1].start < sp[i].end,
				      "tasks %d and %d ran one after the other "
				      "on rank %d",
				      i, i + 1, sp[i].rank);
}

START_TEST(a_batch_runs_on_all_of_a_workers_threads)
{
	spool_mpi_executor_options o = dispatch_opts(2, 4);
	run_ex(&o, spread_body);
}
END_TEST

/* Dispatch only, windows of one: while every worker runs a long task, the
 * third submission waits at the root, and a cancel ends it CANCELLED at
 * once (cancel returns 0); the running ones answer SPOOL_EBUSY. */
static void cancel_body(spool_mpi_executor *ex)
{
	int ms = 300, w = spool_mpi_test_size() - 1;
	spool_future *run[16];
	ck_assert_int_le(w, 16);
	for (int i = 0; i < w; i++)
		run[i] = spool_mpi_submit(ex, "sleep", &ms, sizeof ms);
	spool_future *c = spool_mpi_submit(ex, "sleep", &ms, sizeof ms);
	/* wait until every worker has one */
	int64_t end = spool_test_now_ns() + 5 * SPOOL_NS_PER_S;
	for (int i = 0; i < w; i++)
		while (spool_future_state(run[i]) != SPOOL_RUNNING &&
		       spool_test_now_ns() < end)
			spool_test_sleep_ns(SPOOL_NS_PER_MS);
	ck_assert_int_eq(spool_future_state(run[0]), SPOOL_RUNNING);
	ck_assert_int_eq(spool_future_state(c), SPOOL_PENDING);
	ck_assert_int_eq(spool_future_cancel(c), 0);
	ck_assert_int_eq(spool_future_state(c), SPOOL_CANCELLED);
	ck_assert_int_eq(spool_future_cancel(run[0]), SPOOL_EBUSY);
	for (int i = 0; i < w; i++) {
		SPOOL_MPI_TEST_WAIT(run[i]);
		ck_assert_int_eq(spool_future_state(run[i]), SPOOL_DONE);
		spool_future_release(run[i]);
	}
	spool_future_release(c);
}

START_TEST(cancel_before_a_rank_takes_the_task_ends_it_cancelled)
{
	spool_mpi_executor_options o = SPOOL_MPI_EXECUTOR_OPTIONS_INIT;
	o.threads = 1;
	o.window = 1;
	o.flags = SPOOL_MPI_ROOT_DISPATCH_ONLY;
	run_ex(&o, cancel_body);
}
END_TEST

static void echo_body(spool_mpi_executor *ex)
{
	/* sizes across the eager/rendezvous limits, and empty; and on both
	 * sides of each bound of the root's result blocks, for a result
	 * whose message comes alone: up to 160 bytes in memory of its own,
	 * 161-416 in a block of 512, 417-928 in one of 1,024, then in
	 * memory of its own again (executor.c, rblock_cache) */
	size_t sizes[] = {0,   1,   100, 160,  161,   416,
			  417, 928, 929, 5000, 70000, 1 << 20};
	enum { K = sizeof sizes / sizeof sizes[0] };
	spool_future *fs[K];
	unsigned char *bufs[K];
	for (int i = 0; i < K; i++) {
		bufs[i] = malloc(sizes[i] + 1);
		for (size_t j = 0; j < sizes[i]; j++)
			bufs[i][j] = (unsigned char)(j * 7 + (size_t)i);
		fs[i] = spool_mpi_submit(ex, "echo", sizes[i] ? bufs[i] : NULL,
					 sizes[i]);
		/* the argument was copied: scribbling on it changes
		 * nothing */
		memset(bufs[i], 0xEE, sizes[i] + 1);
		for (size_t j = 0; j < sizes[i]; j++)
			bufs[i][j] = (unsigned char)(j * 7 + (size_t)i);
	}
	for (int i = 0; i < K; i++) {
		SPOOL_MPI_TEST_WAIT(fs[i]);
		ck_assert_int_eq(spool_future_state(fs[i]), SPOOL_DONE);
		const spool_mpi_result *r = spool_future_value(fs[i]);
		ck_assert_uint_eq(r->size, sizes[i]);
		if (sizes[i] == 0)
			ck_assert_ptr_null(r->data);
		else
			ck_assert_int_eq(memcmp(r->data, bufs[i], sizes[i]), 0);
		if (i % 2)
			spool_mpi_result_free((spool_mpi_result *)r);
		spool_future_release(fs[i]);
		free(bufs[i]);
	}
}

START_TEST(arguments_and_results_of_any_size_round_trip)
{
	run_ex(NULL, echo_body);
}
END_TEST

static void bad_body(spool_mpi_executor *ex)
{
	spool_future *f = spool_mpi_submit(NULL, "fib", NULL, 0);
	ck_assert_int_eq(spool_future_error(f), SPOOL_EINVAL);
	spool_future_release(f);
	f = spool_mpi_submit(ex, NULL, NULL, 0);
	ck_assert_int_eq(spool_future_error(f), SPOOL_EINVAL);
	spool_future_release(f);
	f = spool_mpi_submit(ex, "fib", NULL, 4);
	ck_assert_int_eq(spool_future_error(f), SPOOL_EINVAL);
	spool_future_release(f);
	char longname[80];
	memset(longname, 'x', sizeof longname - 1);
	longname[79] = 0;
	f = spool_mpi_submit(ex, longname, NULL, 0);
	ck_assert_int_eq(spool_future_error(f), SPOOL_EINVAL);
	spool_future_release(f);
	ck_assert_int_eq(spool_mpi_executor_serve(ex), SPOOL_EINVAL);
	ck_assert_int_eq(spool_mpi_executor_size(ex), spool_mpi_test_size());
	spool_mpi_result_free(NULL);
	spool_mpi_executor_stats st;
	ck_assert_int_eq(spool_mpi_executor_stats_get(NULL, &st), SPOOL_EINVAL);
	ck_assert_int_eq(spool_mpi_executor_stats_get(ex, NULL), SPOOL_EINVAL);
}

START_TEST(bad_input_gives_codes_and_failed_futures)
{
	ck_assert_int_eq(spool_mpi_register(NULL, fib_fn), SPOOL_EINVAL);
	ck_assert_int_eq(spool_mpi_register("x", NULL), SPOOL_EINVAL);
	ck_assert_int_eq(spool_mpi_register("", fib_fn), SPOOL_EINVAL);
	ck_assert_int_eq(spool_mpi_executor_create(NULL, MPI_COMM_WORLD, NULL),
			 SPOOL_EINVAL);
	spool_mpi_executor_options o = SPOOL_MPI_EXECUTOR_OPTIONS_INIT;
	o.root = 99;
	spool_mpi_executor *ex = (spool_mpi_executor *)1;
	ck_assert_int_eq(spool_mpi_executor_create(&ex, MPI_COMM_WORLD, &o),
			 SPOOL_EINVAL);
	ck_assert_ptr_null(ex);
	o.root = 0;
	o.heartbeat_ns = SPOOL_NS_PER_S;
	o.peer_timeout_ns = SPOOL_NS_PER_MS;
	ck_assert_int_eq(spool_mpi_executor_create(&ex, MPI_COMM_WORLD, &o),
			 SPOOL_EINVAL);
	ck_assert(!spool_mpi_executor_is_root(NULL));
	spool_mpi_executor_destroy(NULL);
	run_ex(NULL, bad_body);
}
END_TEST

/* A worker's submission fails with SPOOL_MPI_ENOTROOT; the root's works. */
START_TEST(submit_on_a_worker_rank_fails_enotroot)
{
	spool_mpi_executor *ex = make_ex(NULL);
	if (!spool_mpi_executor_is_root(ex)) {
		spool_future *f = spool_mpi_submit(ex, "rank", NULL, 0);
		ck_assert_int_eq(spool_future_error(f), SPOOL_MPI_ENOTROOT);
		spool_future_release(f);
		ck_assert_int_eq(spool_mpi_executor_serve(ex), 0);
	} else {
		spool_future *f = spool_mpi_submit(ex, "rank", NULL, 0);
		SPOOL_MPI_TEST_WAIT(f);
		ck_assert_int_eq(spool_future_state(f), SPOOL_DONE);
		spool_future_release(f);
	}
	spool_mpi_executor_destroy(ex);
}
END_TEST

/* The root on a loop: its executor's messages progress from the loop's
 * iterations; a coroutine submits, and as_completed over the ranks'
 * answers suspends it. */
struct loop_arg {
	spool_mpi_executor *ex;
	int got;
};

static int loop_root_task(void *arg, void **result)
{
	struct loop_arg *a = arg;
	enum { N = 12 };
	spool_future *fs[N];
	for (int i = 0; i < N; i++)
		fs[i] = spool_mpi_submit(a->ex, "fib", &i, sizeof i);
	spool_as_completed *it;
	if (spool_as_completed_create(&it, fs, N, 10 * SPOOL_NS_PER_S) != 0)
		return 1;
	spool_future *f;
	size_t idx;
	while (spool_as_completed_next(it, &f, &idx) == 0) {
		const spool_mpi_result *r = spool_future_value(f);
		uint64_t v;
		memcpy(&v, r->data, sizeof v);
		if (v == fib((int)idx))
			a->got++;
	}
	spool_as_completed_destroy(it);
	for (int i = 0; i < N; i++)
		spool_future_release(fs[i]);
	*result = NULL;
	return 0;
}

/* The root's engine on a new loop of its own (*loop), which progresses
 * only while that loop runs. */
static spool_mpi_engine *root_loop_engine(spool_loop **loop)
{
	*loop = spool_test_loop_new();
	spool_mpi_engine_options eo = SPOOL_MPI_ENGINE_OPTIONS_INIT;
	eo.loop = *loop;
	spool_mpi_engine *e = NULL;
	ck_assert_int_eq(spool_mpi_engine_create(&e, &eo), 0);
	return e;
}

START_TEST(root_on_a_loop_engine)
{
	spool_loop *loop = NULL;
	spool_mpi_engine *e = NULL;
	spool_mpi_executor_options o = SPOOL_MPI_EXECUTOR_OPTIONS_INIT;
	if (spool_mpi_test_rank() == 0)
		o.engine = e = root_loop_engine(&loop);
	spool_mpi_executor *ex = make_ex(&o);
	if (spool_mpi_executor_is_root(ex)) {
		struct loop_arg a = {ex, 0};
		spool_future *t = spool_test_loop_submit(loop, loop_root_task,
							 &a);
		ck_assert_int_eq(spool_loop_run_until_complete(loop, t), 0);
		ck_assert_int_eq(a.got, 12);
		spool_future_release(t);
		/* destroy on the loop's thread drives the engine itself */
		spool_mpi_executor_destroy(ex);
		spool_mpi_engine_destroy(e);
		spool_loop_destroy(loop);
	} else {
		ck_assert_int_eq(spool_mpi_executor_serve(ex), 0);
		spool_mpi_executor_destroy(ex);
	}
}
END_TEST

/* Destroy waits until every submitted task is final, and frees the
 * results never given back (the suite's leak check under ASan sees it). */
static spool_future *leftover[20];

static void leftover_body(spool_mpi_executor *ex)
{
	for (int i = 0; i < 20; i++) /* never waited for */
		leftover[i] = spool_mpi_submit(ex, "fib", &i, sizeof i);
}

START_TEST(destroy_waits_for_every_task_and_frees_results)
{
	run_ex(NULL, leftover_body); /* the root destroys the executor */
	if (spool_mpi_test_rank() != 0)
		return;
	for (int i = 0; i < 20; i++) {
		ck_assert_int_eq(spool_future_state(leftover[i]), SPOOL_DONE);
		spool_future_release(leftover[i]);
	}
}
END_TEST

/* ---- batches ------------------------------------------------------------
 *
 * The root on a loop engine, its work in a coroutine: a loop engine
 * progresses only while its loop runs, so everything the coroutine submits
 * before it first waits is queued before the executor's first pass, and
 * leaves in batches (as many tasks as a rank has credit for) whatever the
 * timing of the machine. */

struct loop_body {
	spool_mpi_executor *ex;
	void (*body)(spool_mpi_executor *);
};

static int loop_body_task(void *arg, void **result)
{
	struct loop_body *b = arg;
	b->body(b->ex);
	*result = NULL;
	return 0;
}

static void run_ex_on_loop(spool_mpi_executor_options *o,
			   void (*body)(spool_mpi_executor *))
{
	spool_loop *loop = NULL;
	spool_mpi_engine *e = NULL;
	if (spool_mpi_test_rank() == 0)
		o->engine = e = root_loop_engine(&loop);
	spool_mpi_executor *ex = make_ex(o);
	if (spool_mpi_executor_is_root(ex)) {
		struct loop_body lb = {ex, body};
		spool_future *t = spool_test_loop_submit(loop, loop_body_task,
							 &lb);
		ck_assert_int_eq(spool_loop_run_until_complete(loop, t), 0);
		ck_assert_int_eq(spool_future_state(t), SPOOL_DONE);
		spool_future_release(t);
		spool_mpi_executor_destroy(ex);
		spool_mpi_engine_destroy(e);
		spool_loop_destroy(loop);
	} else {
		ck_assert_int_eq(spool_mpi_executor_serve(ex), 0);
		/* A worker answers every task it received. */
		spool_mpi_executor_stats st;
		ck_assert_int_eq(spool_mpi_executor_stats_get(ex, &st), 0);
		ck_assert_uint_eq(st.results, st.tasks);
		ck_assert_uint_le(st.task_messages, st.tasks);
		ck_assert_uint_le(st.result_messages, st.results);
		spool_mpi_executor_destroy(ex);
	}
}

/* Dispatch only, windows of 16 on one pool thread per worker. */
static spool_mpi_executor_options batch_opts(void)
{
	spool_mpi_executor_options o = SPOOL_MPI_EXECUTOR_OPTIONS_INIT;
	o.flags = SPOOL_MPI_ROOT_DISPATCH_ONLY;
	o.window = 16;
	o.threads = 1;
	return o;
}

/* The root's counters: every task went to a worker, in fewer messages
 * than tasks, and every result came back. */
static void check_batched(spool_mpi_executor *ex, uint64_t n)
{
	spool_mpi_executor_stats st;
	ck_assert_int_eq(spool_mpi_executor_stats_get(ex, &st), 0);
	ck_assert_uint_eq(st.tasks, n);
	ck_assert_uint_eq(st.results, n);
	ck_assert_msg(st.task_messages < n,
		      "%llu tasks went in %llu messages: no batch formed",
		      (unsigned long long)n,
		      (unsigned long long)st.task_messages);
	ck_assert_uint_le(st.result_messages, n);
	ck_assert_uint_gt(st.task_messages, 0);
}

/* An argument of i (8 bytes) echoed. */
static void check_echo_u64(spool_future *f, uint64_t want)
{
	ck_assert_int_eq(spool_future_state(f), SPOOL_DONE);
	const spool_mpi_result *r = spool_future_value(f);
	ck_assert_uint_eq(r->size, sizeof want);
	uint64_t v;
	memcpy(&v, r->data, sizeof v);
	ck_assert_uint_eq(v, want);
	ck_assert_uint_eq((uintptr_t)r->data % _Alignof(max_align_t), 0);
}

static void many_body(spool_mpi_executor *ex)
{
	enum { N = 1000 };
	spool_future **fs = malloc(N * sizeof *fs);
	for (uint64_t i = 0; i < N; i++)
		fs[i] = spool_mpi_submit(ex, "echo", &i, sizeof i);
	spool_future *g = spool_gather(fs, N, 0);
	SPOOL_MPI_TEST_WAIT(g);
	ck_assert_int_eq(spool_future_state(g), SPOOL_DONE);
	for (uint64_t i = 0; i < N; i++) {
		check_echo_u64(fs[i], i);
		/* every other result given back early: its message's
		 * memory stays for the others */
		if (i % 2)
			spool_mpi_result_free(
				(spool_mpi_result *)spool_future_value(fs[i]));
		spool_future_release(fs[i]);
	}
	spool_future_release(g);
	free(fs);
	check_batched(ex, N);
	spool_mpi_executor_stats st;
	spool_mpi_executor_stats_get(ex, &st);
	fprintf(stderr,
		"rank 0: %d tasks in %llu messages, results in %llu "
		"messages\n",
		N, (unsigned long long)st.task_messages,
		(unsigned long long)st.result_messages);
}

START_TEST(queued_tasks_travel_in_batches_and_all_come_back)
{
	spool_mpi_executor_options o = batch_opts();
	run_ex_on_loop(&o, many_body);
}
END_TEST

/* Echoes its argument, after checking that it is aligned for any type
 * where the executor put it (77 if not). */
static int aligned_echo_fn(const void *arg, size_t len, void **out,
			   size_t *out_len)
{
	if (len && (uintptr_t)arg % _Alignof(max_align_t) != 0)
		return 77;
	return echo_fn(arg, len, out, out_len);
}

static void mixed_body(spool_mpi_executor *ex)
{
	/* Sizes interleaved: small ones share messages, 100 KiB ones go
	 * alone (over the batch's byte limit). */
	static const size_t sizes[] = {0, 8, 100 << 10, 8, 0,  20000, 5000, 1,
				       3, 0, 100 << 10, 8, 17, 0,     4097, 8};
	enum { K = sizeof sizes / sizeof sizes[0], ROUNDS = 3, N = K * ROUNDS };
	spool_future *fs[N];
	unsigned char *bufs[N];
	for (int i = 0; i < N; i++) {
		size_t n = sizes[i % K];
		bufs[i] = malloc(n + 1);
		for (size_t j = 0; j < n; j++)
			bufs[i][j] = (unsigned char)(j * 13 + (size_t)i);
		fs[i] = spool_mpi_submit(ex, "aligned_echo", n ? bufs[i] : NULL,
					 n);
	}
	for (int i = 0; i < N; i++) {
		size_t n = sizes[i % K];
		SPOOL_MPI_TEST_WAIT(fs[i]);
		ck_assert_msg(spool_future_state(fs[i]) == SPOOL_DONE,
			      "task %d (%zu bytes) failed: %d", i, n,
			      spool_future_error(fs[i]));
		const spool_mpi_result *r = spool_future_value(fs[i]);
		ck_assert_uint_eq(r->size, n);
		if (n == 0) {
			ck_assert_ptr_null(r->data);
		} else {
			ck_assert_int_eq(memcmp(r->data, bufs[i], n), 0);
			ck_assert_uint_eq(
				(uintptr_t)r->data % _Alignof(max_align_t), 0);
		}
		spool_future_release(fs[i]);
		free(bufs[i]);
	}
	check_batched(ex, N);
}

START_TEST(a_batch_of_mixed_sizes_round_trips_aligned)
{
	spool_mpi_executor_options o = batch_opts();
	run_ex_on_loop(&o, mixed_body);
}
END_TEST

/* Every fifth task fails with its own code, every fourth names a function
 * no rank has: in the middle of batches, each fails alone. */
static void fail_mid_body(spool_mpi_executor *ex)
{
	enum { N = 60 };
	spool_future *fs[N];
	for (uint64_t i = 0; i < N; i++) {
		int code = 40 + (int)i;
		if (i % 5 == 2)
			fs[i] = spool_mpi_submit(ex, "fail", &code,
						 sizeof code);
		else if (i % 4 == 1)
			fs[i] = spool_mpi_submit(ex, "nosuch", &i, sizeof i);
		else
			fs[i] = spool_mpi_submit(ex, "echo", &i, sizeof i);
	}
	spool_future *g = spool_gather(fs, N, SPOOL_RETURN_ERRORS);
	SPOOL_MPI_TEST_WAIT(g);
	for (uint64_t i = 0; i < N; i++) {
		if (i % 5 == 2) {
			ck_assert_int_eq(spool_future_state(fs[i]),
					 SPOOL_FAILED);
			ck_assert_int_eq(spool_future_error(fs[i]),
					 40 + (int)i);
		} else if (i % 4 == 1) {
			ck_assert_int_eq(spool_future_state(fs[i]),
					 SPOOL_FAILED);
			ck_assert_int_eq(spool_future_error(fs[i]),
					 SPOOL_MPI_ENOFN);
		} else {
			check_echo_u64(fs[i], i);
		}
		spool_future_release(fs[i]);
	}
	spool_future_release(g);
	check_batched(ex, N);
}

/* A message read back: prefix, then a rank of the job, and nothing else. */
static void check_message(spool_future *f, int code, const char *prefix)
{
	ck_assert_int_eq(spool_future_state(f), SPOOL_FAILED);
	ck_assert_int_eq(spool_future_error(f), code);
	const char *m = spool_future_error_message(f);
	ck_assert_msg(m != NULL, "code %d came back without its message", code);
	size_t n = strlen(prefix);
	ck_assert_msg(strncmp(m, prefix, n) == 0, "message \"%s\"", m);
	char *end;
	long r = strtol(m + n, &end, 10);
	ck_assert_msg(end != m + n && *end == '\0' && r >= 0 &&
			      r < spool_mpi_test_size(),
		      "message \"%s\"", m);
	ck_assert_ptr_null(spool_future_error_payload(f));
}

/* In batches of mixed tasks: failures with a message bring it back with
 * their code; a failure without one (code 55, right after a success that
 * recorded a 55 of its own in the same runner) comes back without one; a
 * name nobody has comes back with SPOOL_MPI_ENOFN and the message naming
 * it. */
static void messages_body(spool_mpi_executor *ex)
{
	enum { N = 96 };
	spool_future *fs[N];
	for (int i = 0; i < N; i++) {
		int code = 40 + i % 50;
		int bare = 55;
		uint64_t v = (uint64_t)i;
		switch (i % 4) {
		case 0:
			fs[i] = spool_mpi_submit(ex, "fail_msg", &code,
						 sizeof code);
			break;
		case 1:
			fs[i] = spool_mpi_submit(ex, "record_ok", &v, sizeof v);
			break;
		case 2:
			fs[i] = spool_mpi_submit(ex, "fail", &bare,
						 sizeof bare);
			break;
		default:
			fs[i] = spool_mpi_submit(ex, "nosuch", &v, sizeof v);
		}
	}
	spool_future *g = spool_gather(fs, N, SPOOL_RETURN_ERRORS);
	SPOOL_MPI_TEST_WAIT(g);
	for (int i = 0; i < N; i++) {
		char want[64];
		switch (i % 4) {
		case 0:
			snprintf(want, sizeof want, "bad input %d on rank ",
				 40 + i % 50);
			check_message(fs[i], 40 + i % 50, want);
			break;
		case 1:
			check_echo_u64(fs[i], (uint64_t)i);
			break;
		case 2:
			ck_assert_int_eq(spool_future_error(fs[i]), 55);
			ck_assert_ptr_null(spool_future_error_message(fs[i]));
			break;
		default:
			check_message(fs[i], SPOOL_MPI_ENOFN,
				      "no function \"nosuch\" on rank ");
		}
		spool_future_release(fs[i]);
	}
	spool_future_release(g);
}

START_TEST(a_remote_failure_brings_its_message_back)
{
	/* The default pool, the root's own threads taking part. */
	run_ex(NULL, messages_body);
	/* Batches, from a loop, to ranks that run them on a pool thread. */
	spool_mpi_executor_options o = batch_opts();
	run_ex_on_loop(&o, messages_body);
	/* Batches run on the workers' progress threads. */
	o = batch_opts();
	o.executor = spool_executor_inline();
	run_ex(&o, messages_body);
	/* Every task on the root: an executor of one rank each. */
	register_all();
	spool_mpi_executor *ex = NULL;
	ck_assert_int_eq(spool_mpi_executor_create(&ex, MPI_COMM_SELF, NULL),
			 0);
	ck_assert(spool_mpi_executor_is_root(ex));
	messages_body(ex);
	spool_mpi_executor_destroy(ex);
}
END_TEST

START_TEST(a_failing_task_or_unknown_name_in_a_batch_fails_alone)
{
	spool_mpi_executor_options o = batch_opts();
	run_ex_on_loop(&o, fail_mid_body);
}
END_TEST

/* Windows of 4, tasks of 2 ms: once the first has finished, batches are
 * out and most of the queue waits at the root. Cancelling every other
 * task of the queue's second half: a cancel that returns 0 ends its task
 * CANCELLED at once and it never runs; one that comes too late (SPOOL_EBUSY)
 * leaves its task to finish DONE; the tasks around the cancelled ones run
 * as usual. */
static void cancel_fly_body(spool_mpi_executor *ex)
{
	enum { N = 200 };
	spool_future *fs[N];
	int ms = 2, rc[N];
	for (int i = 0; i < N; i++)
		fs[i] = spool_mpi_submit(ex, "sleep", &ms, sizeof ms);
	SPOOL_MPI_TEST_WAIT(fs[0]);
	int cancelled = 0;
	for (int i = 0; i < N; i++) {
		rc[i] = 1;
		if (i >= N / 2 && i % 2) {
			rc[i] = spool_future_cancel(fs[i]);
			ck_assert(rc[i] == 0 || rc[i] == SPOOL_EBUSY);
			if (rc[i] == 0) {
				ck_assert_int_eq(spool_future_state(fs[i]),
						 SPOOL_CANCELLED);
				cancelled++;
			}
		}
	}
	spool_future *g = spool_gather(fs, N, SPOOL_RETURN_ERRORS);
	ck_assert_int_eq(spool_future_wait(g, 30 * SPOOL_NS_PER_S), 0);
	for (int i = 0; i < N; i++) {
		if (rc[i] == 0) {
			ck_assert_int_eq(spool_future_state(fs[i]),
					 SPOOL_CANCELLED);
		} else {
			ck_assert_int_eq(spool_future_state(fs[i]), SPOOL_DONE);
			const spool_mpi_result *r = spool_future_value(fs[i]);
			ck_assert_uint_eq(r->size, sizeof(struct span));
		}
		spool_future_release(fs[i]);
	}
	spool_future_release(g);
	ck_assert_int_gt(cancelled, 0);
	spool_mpi_executor_stats st;
	spool_mpi_executor_stats_get(ex, &st);
	/* what was cancelled never left the root */
	ck_assert_uint_eq(st.tasks, (uint64_t)(N - cancelled));
	ck_assert_uint_lt(st.task_messages, st.tasks);
}

START_TEST(cancel_of_queued_tasks_while_batches_fly)
{
	spool_mpi_executor_options o = batch_opts();
	o.window = 4;
	run_ex_on_loop(&o, cancel_fly_body);
}
END_TEST

/* A burst of submissions makes passes on the submitting thread (counted
 * as pulsed), and when the burst ends the progress thread takes over
 * again: nobody waits on any of these futures, so only passes finish
 * them, and the callbacks must count every one within the bound. */
static spool_mpi_engine *pulse_engine;
static atomic_int pulse_done;

static void count_done(spool_future *f, void *arg)
{
	(void)f;
	(void)arg;
	atomic_fetch_add(&pulse_done, 1);
}

static void pulse_body(spool_mpi_executor *ex)
{
	enum { BURST = 256, TRIES = 64 };
	spool_future *fs[BURST];
	uint64_t n = 0;
	int tries = 0;
	spool_mpi_engine_stats st;
	int64_t give_up = spool_test_now_ns() + 30 * SPOOL_NS_PER_S;
	/* Bursts until one of them made a pass (the progress thread may
	 * hold the progress lock at any one try, and beside busy processes,
	 * preempted, for a whole burst). Each burst must end, with nobody
	 * waiting, before the next: only one is ever out, because three
	 * ranks on two cores hold one task each (the default window) and a
	 * round trip to a rank may take a millisecond on a busy machine. */
	do {
		atomic_store(&pulse_done, 0);
		for (int i = 0; i < BURST; i++, n++) {
			fs[i] = spool_mpi_submit(ex, "echo", &n, sizeof n);
			ck_assert_int_eq(spool_future_add_callback(
						 fs[i], count_done, NULL),
					 0);
		}
		spool_mpi_engine_stats_get(pulse_engine, &st);
		while (atomic_load(&pulse_done) < BURST &&
		       spool_test_now_ns() < give_up)
			usleep(1000);
		if (atomic_load(&pulse_done) != BURST) {
			spool_mpi_executor_stats xs;
			spool_mpi_executor_stats_get(ex, &xs);
			fprintf(stderr,
				"rank 0: burst %d: passes %llu, pulsed %llu; "
				"tasks sent %llu, results %llu\n",
				tries + 1, (unsigned long long)st.passes,
				(unsigned long long)st.pulsed,
				(unsigned long long)xs.tasks,
				(unsigned long long)xs.results);
		}
		ck_assert_msg(atomic_load(&pulse_done) == BURST,
			      "%d of %d tasks final with nobody waiting",
			      atomic_load(&pulse_done), (int)BURST);
		for (int i = 0; i < BURST; i++) {
			check_echo_u64(fs[i], n - BURST + (uint64_t)i);
			spool_future_release(fs[i]);
		}
		tries++;
	} while (st.pulsed == 0 && tries < TRIES &&
		 spool_test_now_ns() < give_up);
	ck_assert_msg(st.pulsed > 0, "%llu submissions made no pass",
		      (unsigned long long)n);
	fprintf(stderr,
		"rank 0: %llu submissions made %llu passes (%d bursts)\n",
		(unsigned long long)n, (unsigned long long)st.pulsed, tries);
}

/* body on an executor whose root only dispatches, over pulse_engine,
 * an engine of its own made with eo (NULL: the defaults). */
static void run_on_pulse_engine(const spool_mpi_engine_options *eo,
				void (*body)(spool_mpi_executor *))
{
	ck_assert_int_eq(spool_mpi_engine_create(&pulse_engine, eo), 0);
	spool_mpi_executor_options o = SPOOL_MPI_EXECUTOR_OPTIONS_INIT;
	o.engine = pulse_engine;
	o.flags = SPOOL_MPI_ROOT_DISPATCH_ONLY;
	run_ex(&o, body);
	spool_mpi_engine_destroy(pulse_engine);
}

START_TEST(a_burst_of_submissions_progresses_and_hands_back)
{
	atomic_store(&pulse_done, 0);
	run_on_pulse_engine(NULL, pulse_body);
}
END_TEST

/* The progress thread stands aside for pulses with a lease that doubles
 * while they keep coming, up to max_delay_ns, and starts from 100 us
 * again for the next burst after it went on hot (mpi.h, spool_mpi_submit
 * and spool_mpi_engine_stats.lease_ns). Nobody waits here: the root keeps
 * at most QMAX tasks unanswered, so that its queue stays bounded, and
 * QMAX is large enough that the submitter makes its passes for longer
 * than the 100 us the lease takes to grow (a throttled submitter makes
 * none, and its answers come with the progress thread's next pass).
 * With max_delay_ns at twice the first lease, the lease goes 100, 200,
 * 200 us: one doubling, which a submitter preempted now and then on a
 * busy machine still sees, and the cap. */
enum { LEASE0_NS = 100 * 1000, LEASE_MAX_NS = 2 * LEASE0_NS, QMAX = 2048 };

static void submit_some(spool_mpi_executor *ex, int k)
{
	for (int i = 0; i < k; i++) {
		uint64_t v = (uint64_t)i;
		spool_future_release(
			spool_mpi_submit(ex, "echo", &v, sizeof v));
	}
}

static uint64_t unanswered(spool_mpi_executor *ex, uint64_t submitted)
{
	spool_mpi_executor_stats st;
	spool_mpi_executor_stats_get(ex, &st);
	return submitted - st.results;
}

static void lease_body(spool_mpi_executor *ex)
{
	spool_mpi_engine_stats st;
	uint64_t submitted = 0;
	int64_t give_up = spool_test_now_ns() + 60 * SPOOL_NS_PER_S;
	/* A long burst: leases of 100 us, then 200 us, never more. A
	 * submitter preempted for longer than a lease (a busy machine) ends
	 * the standing aside, so go on until the lease got there. */
	do {
		if (unanswered(ex, submitted) < QMAX) {
			submit_some(ex, 64);
			submitted += 64;
		} else {
			sched_yield();
		}
		spool_mpi_engine_stats_get(pulse_engine, &st);
		ck_assert_int_le(st.lease_ns, LEASE_MAX_NS);
	} while (st.lease_ns < LEASE_MAX_NS && spool_test_now_ns() < give_up);
	ck_assert_msg(st.lease_ns == LEASE_MAX_NS,
		      "the lease got to %lld ns in %llu submissions (%llu "
		      "passes made by the submitter)",
		      (long long)st.lease_ns, (unsigned long long)submitted,
		      (unsigned long long)st.pulsed);
	/* Bursts of 16 submissions, one pass of this thread each, after a
	 * quiet spell (every task answered, the progress thread on hot):
	 * one pulse, so one lease, which must be the first one again. Until
	 * a pass found the progress lock free. */
	uint64_t pulsed;
	do {
		while (unanswered(ex, submitted) > 0 &&
		       spool_test_now_ns() < give_up)
			usleep(1000);
		ck_assert_uint_eq(unanswered(ex, submitted), 0);
		usleep(20 * 1000);
		spool_mpi_engine_stats_get(pulse_engine, &st);
		pulsed = st.pulsed;
		submit_some(ex, 16);
		submitted += 16;
		spool_mpi_engine_stats_get(pulse_engine, &st);
		/* The progress thread takes up the pulse within a lease. */
		while (st.pulsed > pulsed && st.lease_ns == LEASE_MAX_NS &&
		       spool_test_now_ns() < give_up) {
			usleep(100);
			spool_mpi_engine_stats_get(pulse_engine, &st);
		}
	} while (st.pulsed == pulsed && spool_test_now_ns() < give_up);
	ck_assert_msg(st.pulsed > pulsed, "no burst of 16 made a pass");
	ck_assert_msg(st.lease_ns == LEASE0_NS,
		      "after a quiet spell the lease is %lld ns",
		      (long long)st.lease_ns);
	while (unanswered(ex, submitted) > 0 && spool_test_now_ns() < give_up)
		usleep(1000);
	ck_assert_uint_eq(unanswered(ex, submitted), 0);
}

START_TEST(the_pulse_lease_doubles_in_a_burst_and_starts_anew)
{
	spool_mpi_engine_options eo = SPOOL_MPI_ENGINE_OPTIONS_INIT;
	eo.max_delay_ns = LEASE_MAX_NS;
	run_on_pulse_engine(&eo, lease_body);
}
END_TEST

/* No waiting thread of spool-mpi spins on sched_yield() (src/mpi/engine.c:
 * under Linux's EEVDF scheduler each yield costs a whole slice, and a
 * thread that polls with yields beside busy processes barely runs). This
 * program's sched_yield() stands in for the C library's: it counts the
 * calls made from spool-mpi's library and from spool's (the pool yields
 * once in a search, see src/pool/worker.c) and passes every call on. The
 * workload has each kind of wait that used to yield: waits that drive
 * progress (each task's future waited for in turn), a progress thread in
 * its spin window while the ranks sleep in tasks (a gather), and pool
 * runners that linger for the next batch. */
static atomic_ulong yields_mpi, yields_pool;

/* Default visibility, so that the program exports it and the libraries'
 * calls bind to it. */
__attribute__((visibility("default"))) int sched_yield(void)
{
	Dl_info info;
	if (dladdr(__builtin_return_address(0), &info) && info.dli_fname) {
		if (strstr(info.dli_fname, "libspool-mpi"))
			atomic_fetch_add(&yields_mpi, 1);
		else if (strstr(info.dli_fname, "libspool"))
			atomic_fetch_add(&yields_pool, 1);
	}
	return (int)syscall(SYS_sched_yield);
}

/* True when the calls of spool-mpi's library can be told apart (it is a
 * shared library: a static build puts them in this program). */
static bool mpi_library_is_shared(void)
{
	Dl_info info;
	return dladdr((void *)spool_mpi_submit, &info) && info.dli_fname &&
	       strstr(info.dli_fname, "libspool-mpi");
}

static void no_yield_body(spool_mpi_executor *ex)
{
	enum { ECHOES = 2000, SLEEPS = 24 };
	for (uint64_t i = 0; i < ECHOES; i++) {
		spool_future *f = spool_mpi_submit(ex, "echo", &i, sizeof i);
		SPOOL_MPI_TEST_WAIT(f);
		check_echo_u64(f, i);
		spool_future_release(f);
	}
	spool_future *fs[SLEEPS];
	for (int i = 0; i < SLEEPS; i++) {
		int ms = 1 + i % 3;
		fs[i] = spool_mpi_submit(ex, "sleep", &ms, sizeof ms);
	}
	spool_future *g = spool_gather(fs, SLEEPS, 0);
	SPOOL_MPI_TEST_WAIT(g);
	ck_assert_int_eq(spool_future_state(g), SPOOL_DONE);
	for (int i = 0; i < SLEEPS; i++)
		spool_future_release(fs[i]);
	spool_future_release(g);
}

START_TEST(no_waiting_thread_yields_in_a_loop)
{
	if (!mpi_library_is_shared()) {
		fprintf(stderr,
			"rank %d: not checked: spool-mpi is linked "
			"statically, its sched_yield() calls cannot be "
			"told from this program's\n",
			spool_mpi_test_rank());
		return;
	}
	atomic_store(&yields_mpi, 0);
	atomic_store(&yields_pool, 0);
	spool_mpi_executor_options o = SPOOL_MPI_EXECUTOR_OPTIONS_INIT;
	o.threads = 2;
	run_ex(&o, no_yield_body);
	unsigned long mpi = atomic_load(&yields_mpi);
	fprintf(stderr,
		"rank %d: sched_yield() from spool-mpi %lu, from the "
		"pool %lu\n",
		spool_mpi_test_rank(), mpi, atomic_load(&yields_pool));
	ck_assert_msg(mpi == 0, "spool-mpi yielded %lu times", mpi);
}
END_TEST

static Suite *make(void)
{
	Suite *s = suite_create("mpi_executor");
	TCase *tc = spool_mpi_test_case("executor", 60);
	tcase_add_test(tc, submitted_functions_run_and_their_bytes_come_back);
	tcase_add_test(tc, remote_failure_comes_back_with_its_code);
	tcase_add_test(tc, a_remote_failure_brings_its_message_back);
	tcase_add_test(tc, a_name_the_rank_lacks_fails_with_enofn);
	tcase_add_test(tc, idle_ranks_pull_work_so_a_busy_rank_takes_no_more);
	tcase_add_test(tc, the_last_tasks_go_to_the_rank_that_runs_out_of_work);
	tcase_add_test(tc, a_batch_runs_on_all_of_a_workers_threads);
	tcase_add_test(tc,
		       cancel_before_a_rank_takes_the_task_ends_it_cancelled);
	tcase_add_test(tc, arguments_and_results_of_any_size_round_trip);
	tcase_add_test(tc, bad_input_gives_codes_and_failed_futures);
	tcase_add_test(tc, submit_on_a_worker_rank_fails_enotroot);
	tcase_add_test(tc, root_on_a_loop_engine);
	tcase_add_test(tc, destroy_waits_for_every_task_and_frees_results);
	tcase_add_test(tc, queued_tasks_travel_in_batches_and_all_come_back);
	tcase_add_test(tc, a_batch_of_mixed_sizes_round_trips_aligned);
	tcase_add_test(tc,
		       a_failing_task_or_unknown_name_in_a_batch_fails_alone);
	tcase_add_test(tc, cancel_of_queued_tasks_while_batches_fly);
	tcase_add_test(tc, a_burst_of_submissions_progresses_and_hands_back);
	tcase_add_test(tc, the_pulse_lease_doubles_in_a_burst_and_starts_anew);
	tcase_add_test(tc, no_waiting_thread_yields_in_a_loop);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	return spool_mpi_test_main(argc, argv, make, 3, 200);
}
