/* SPDX-License-Identifier: MIT */
/*
 * spool-bench-mpi: spool-mpi against plain MPI, on 2 ranks.
 *
 *   mpi_pingpong  8-byte ping-pong, n round trips. spool: request futures
 *                 of an engine with a progress thread, waited for with
 *                 spool_future_wait() on a plain thread (which drives
 *                 progress itself while it waits), the requests made and
 *                 waited for in mpi-wait's order; spool-loop: the same
 *                 waited for in a loop coroutine (the loop's iterations
 *                 progress MPI); mpi: MPI_Send/MPI_Recv; mpi-wait:
 *                 MPI_Isend/MPI_Irecv and MPI_Wait.
 *   mpi_farm      n tiny remote tasks (8-byte argument, 8-byte result).
 *                 spool: spool_mpi_submit() of all, then a gather, the
 *                 root only dispatching, the worker running tasks on its
 *                 pool (spool) or as they arrive (spool-inline); mpi: a
 *                 hand-written master/worker farm with the same window:
 *                 W tasks per worker, one task per message, each result
 *                 answered with the next task; mpi-batch: the same with
 *                 the executor's message pattern (the queued tasks that
 *                 fit the worker's free slots in one message, the results
 *                 of a message in one message).
 *   mpi_cpu       n CPU-bound tasks (fib and hash, alternately). spool:
 *                 the executor over 2 ranks, one thread each (a window
 *                 of 2: one task running, one queued), the root
 *                 running tasks too; sequential: one loop on rank 0; gil:
 *                 two threads of rank 0 that must hold one global lock to
 *                 run a task (the GIL's effect: no speedup).
 *
 * The program starts itself under mpiexec with 2 ranks, unbound
 * (--bind-to none), when it was not
 * started by one (after checking its command line, so --help and bad
 * flags need no MPI). Rank 0 runs the shared harness (compare/common),
 * without forked isolation, which MPI forbids; before each setup, run and
 * teardown it tells rank 1 which experiment and which step, and rank 1
 * plays its part. Rank 1 waits for those commands by polling a
 * nonblocking receive with short sleeps, so that it does not spin a core
 * while rank 0 runs alone (the sequential and gil experiments).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <spool.h>
#include <spool/mpi.h>

#include "bench.h"

#define CMD_TAG 1
#define PP_TAG 2
#define FARM_TASK 3
#define FARM_STOP 4
#define FARM_RESULT 5
#define FARM_WINDOW 16

static const char *const benches[] = {"mpi_pingpong", "mpi_farm", "mpi_cpu",
				      NULL};
/* Every impl of main()'s table, for --help and --impl. */
static const char *const impls[] = {"spool",      "spool-loop",   "mpi",
				    "mpi-wait",   "spool-inline", "mpi-batch",
				    "sequential", "gil",          NULL};
static const spool_bench_suite suite = {
	.name = "mpi",
	.summary = "spool-mpi against plain MPI on 2 ranks (started under "
		   "mpiexec by itself): 8-byte ping-pong through request "
		   "futures, a farm of tiny remote tasks through the executor, "
		   "and CPU-bound tasks over 2 ranks against sequential and "
		   "a GIL model.",
	.benches = benches,
	.impls = impls,
	.reference = "mpi",
	.default_runs = 7,
};

static int rank_;

/* ---- commands to rank 1 ---------------------------------------------- */

enum { OP_SETUP = 1, OP_RUN, OP_TEARDOWN, OP_QUIT };

struct impl {
	int (*setup)(void **state, int64_t n);
	int (*run)(void *state, int64_t n, char *err);
	void (*teardown)(void *state);
	/* rank 1's side; NULL: nothing to do */
	void (*peer_setup)(void **state, int64_t n);
	void (*peer_run)(void *state, int64_t n);
	void (*peer_teardown)(void *state);
};

struct exp_arg {
	int index;
	const struct impl *impl;
};

static void send_cmd(int op, int index)
{
	int cmd[2] = {op, index};
	MPI_Send(cmd, 2, MPI_INT, 1, CMD_TAG, MPI_COMM_WORLD);
}

static int exp_setup(const spool_bench_exp *e, void **state, char *err)
{
	const struct exp_arg *a = e->arg;
	send_cmd(OP_SETUP, a->index);
	*state = NULL;
	if (a->impl->setup && a->impl->setup(state, e->n) != 0)
		return spool_bench_fail(err, "setup failed");
	return 0;
}

static int exp_run(const spool_bench_exp *e, void *state, char *err)
{
	const struct exp_arg *a = e->arg;
	send_cmd(OP_RUN, a->index);
	return a->impl->run(state, e->n, err);
}

static void exp_teardown(const spool_bench_exp *e, void *state)
{
	const struct exp_arg *a = e->arg;
	/* Teardown first (the farm's destroy stops rank 1's serve), then
	 * the command. */
	if (a->impl->teardown)
		a->impl->teardown(state);
	send_cmd(OP_TEARDOWN, a->index);
}

/* Rank 1: waits for commands without spinning (see the top). */
static void peer_loop(spool_bench_exp *exps)
{
	void *state = NULL;
	for (;;) {
		int cmd[2];
		MPI_Request r;
		MPI_Irecv(cmd, 2, MPI_INT, 0, CMD_TAG, MPI_COMM_WORLD, &r);
		int flag = 0;
		while (!flag) {
			MPI_Test(&r, &flag, MPI_STATUS_IGNORE);
			if (!flag) {
				struct timespec ts = {0, 20000};
				nanosleep(&ts, NULL);
			}
		}
		if (cmd[0] == OP_QUIT)
			return;
		const spool_bench_exp *e = &exps[cmd[1]];
		const struct exp_arg *a = e->arg;
		switch (cmd[0]) {
		case OP_SETUP:
			state = NULL;
			if (a->impl->peer_setup)
				a->impl->peer_setup(&state, e->n);
			break;
		case OP_RUN:
			if (a->impl->peer_run)
				a->impl->peer_run(state, e->n);
			break;
		case OP_TEARDOWN:
			if (a->impl->peer_teardown)
				a->impl->peer_teardown(state);
			state = NULL;
			break;
		}
	}
}

/* ---- mpi_pingpong ------------------------------------------------------ */

static int pp_mpi_run(void *state, int64_t n, char *err)
{
	(void)state;
	uint64_t v = 0;
	for (int64_t i = 0; i < n; i++) {
		v = (uint64_t)i;
		MPI_Send(&v, 8, MPI_BYTE, 1, PP_TAG, MPI_COMM_WORLD);
		MPI_Recv(&v, 8, MPI_BYTE, 1, PP_TAG, MPI_COMM_WORLD,
			 MPI_STATUS_IGNORE);
		if (v != (uint64_t)i + 1)
			return spool_bench_fail(err, "wrong answer");
	}
	return 0;
}

static void pp_mpi_peer(void *state, int64_t n)
{
	(void)state;
	uint64_t v;
	for (int64_t i = 0; i < n; i++) {
		MPI_Recv(&v, 8, MPI_BYTE, 0, PP_TAG, MPI_COMM_WORLD,
			 MPI_STATUS_IGNORE);
		v++;
		MPI_Send(&v, 8, MPI_BYTE, 0, PP_TAG, MPI_COMM_WORLD);
	}
}

static int pp_wait_run(void *state, int64_t n, char *err)
{
	(void)state;
	uint64_t v = 0, in = 0;
	for (int64_t i = 0; i < n; i++) {
		MPI_Request r[2];
		v = (uint64_t)i;
		MPI_Irecv(&in, 8, MPI_BYTE, 1, PP_TAG, MPI_COMM_WORLD, &r[0]);
		MPI_Isend(&v, 8, MPI_BYTE, 1, PP_TAG, MPI_COMM_WORLD, &r[1]);
		MPI_Wait(&r[1], MPI_STATUS_IGNORE);
		MPI_Wait(&r[0], MPI_STATUS_IGNORE);
		if (in != (uint64_t)i + 1)
			return spool_bench_fail(err, "wrong answer");
	}
	return 0;
}

static void pp_wait_peer(void *state, int64_t n)
{
	(void)state;
	uint64_t v;
	for (int64_t i = 0; i < n; i++) {
		MPI_Request r;
		MPI_Irecv(&v, 8, MPI_BYTE, 0, PP_TAG, MPI_COMM_WORLD, &r);
		MPI_Wait(&r, MPI_STATUS_IGNORE);
		v++;
		MPI_Isend(&v, 8, MPI_BYTE, 0, PP_TAG, MPI_COMM_WORLD, &r);
		MPI_Wait(&r, MPI_STATUS_IGNORE);
	}
}

/* spool-loop: a loop and a loop engine on each rank; a coroutine does the
 * round trips, each request a future it waits for. spool: the same round
 * trips on the rank's main thread, with an engine of its own progress
 * thread (so each wait drives progress itself: a driven promise). */
struct pp_spool {
	spool_loop *loop;
	spool_mpi_engine *e;
	int64_t n;
	int peer;
	bool first;
	int rc;
};

static int await_req(spool_mpi_engine *e, MPI_Request r)
{
	spool_future *f = spool_mpi_future(e, &r, NULL);
	if (!f)
		return SPOOL_ENOMEM;
	int rc = spool_future_wait(f, SPOOL_FOREVER);
	if (rc == 0)
		rc = spool_future_error(f);
	spool_future_release(f);
	return rc;
}

/* Both the ping and the pong side: the first sends i and expects i + 1.
 * The same requests in the same order as mpi-wait's, each waited for
 * through its future instead of MPI_Wait. */
static int pp_rounds(struct pp_spool *p)
{
	uint64_t v = 0, in = 0;
	for (int64_t i = 0; i < p->n; i++) {
		MPI_Request rr, rs;
		MPI_Irecv(&in, 8, MPI_BYTE, p->peer, PP_TAG, MPI_COMM_WORLD,
			  &rr);
		if (p->first) {
			v = (uint64_t)i;
			MPI_Isend(&v, 8, MPI_BYTE, p->peer, PP_TAG,
				  MPI_COMM_WORLD, &rs);
			if (await_req(p->e, rs) != 0)
				return 1;
		}
		if (await_req(p->e, rr) != 0)
			return 2;
		if (p->first) {
			if (in != (uint64_t)i + 1)
				return 3;
		} else {
			v = in + 1;
			MPI_Isend(&v, 8, MPI_BYTE, p->peer, PP_TAG,
				  MPI_COMM_WORLD, &rs);
			if (await_req(p->e, rs) != 0)
				return 4;
		}
	}
	return 0;
}

static int pp_task(void *arg, void **result)
{
	*result = NULL;
	return pp_rounds(arg);
}

static void pp_spool_make(void **state, bool on_loop)
{
	struct pp_spool *p = calloc(1, sizeof *p);
	spool_mpi_engine_options o = SPOOL_MPI_ENGINE_OPTIONS_INIT;
	if (on_loop) {
		spool_loop_create(&p->loop, NULL);
		o.loop = p->loop;
	}
	spool_mpi_engine_create(&p->e, &o);
	p->peer = 1 - rank_;
	p->first = rank_ == 0;
	*state = p;
}

static int pp_spool_setup(void **state, int64_t n)
{
	(void)n;
	pp_spool_make(state, true);
	return 0;
}

static void pp_spool_peer_setup(void **state, int64_t n)
{
	(void)n;
	pp_spool_make(state, true);
}

static int pp_spool_go(struct pp_spool *p, int64_t n)
{
	p->n = n;
	if (!p->loop)
		return pp_rounds(p);
	spool_future *t = spool_submit(spool_loop_executor(p->loop), pp_task,
				       p);
	int rc = spool_loop_run_until_complete(p->loop, t);
	spool_future_release(t);
	return rc;
}

static int pp_spool_run(void *state, int64_t n, char *err)
{
	int rc = pp_spool_go(state, n);
	return rc ? spool_bench_fail(err, "ping-pong failed: %d", rc) : 0;
}

static void pp_spool_peer_run(void *state, int64_t n)
{
	pp_spool_go(state, n);
}

static void pp_spool_teardown(void *state)
{
	struct pp_spool *p = state;
	if (getenv("SPOOL_BENCH_MPI_STATS")) {
		spool_mpi_engine_stats st;
		spool_mpi_engine_stats_get(p->e, &st);
		fprintf(stderr,
			"rank %d engine: %llu passes, %llu pauses, %llu "
			"completed\n",
			rank_, (unsigned long long)st.passes,
			(unsigned long long)st.pauses,
			(unsigned long long)st.completed);
	}
	spool_mpi_engine_destroy(p->e);
	spool_loop_destroy(p->loop);
	free(p);
}

static int pp_thread_setup(void **state, int64_t n)
{
	(void)n;
	pp_spool_make(state, false);
	return 0;
}

static void pp_thread_peer_setup(void **state, int64_t n)
{
	(void)n;
	pp_spool_make(state, false);
}

/* ---- mpi_farm ---------------------------------------------------------- */

static int inc_fn(const void *arg, size_t len, void **out, size_t *out_len)
{
	uint64_t v;
	if (len != sizeof v)
		return 22;
	memcpy(&v, arg, sizeof v);
	uint64_t *r = malloc(sizeof *r);
	if (!r)
		return 12;
	*r = v + 1;
	*out = r;
	*out_len = sizeof *r;
	return 0;
}

struct farm {
	spool_mpi_executor *ex;
	spool_mpi_engine *e;
};

static void print_stats(const char *what, spool_mpi_engine *e)
{
	if (!getenv("SPOOL_BENCH_MPI_STATS"))
		return;
	spool_mpi_engine_stats st;
	spool_mpi_engine_stats_get(e, &st);
	fprintf(stderr,
		"rank %d %s engine: %llu passes, %llu pauses, %llu completed\n",
		rank_, what, (unsigned long long)st.passes,
		(unsigned long long)st.pauses,
		(unsigned long long)st.completed);
}

static void farm_make(void **state, bool inl)
{
	struct farm *f = calloc(1, sizeof *f);
	spool_mpi_executor_options o = SPOOL_MPI_EXECUTOR_OPTIONS_INIT;
	o.flags = SPOOL_MPI_ROOT_DISPATCH_ONLY;
	o.window = FARM_WINDOW;
	o.threads = 1;
	if (inl && rank_ != 0)
		o.executor = spool_executor_inline();
	spool_mpi_engine_create(&f->e, NULL);
	o.engine = f->e;
	spool_mpi_executor_create(&f->ex, MPI_COMM_WORLD, &o);
	*state = f;
}

static int farm_setup(void **state, int64_t n)
{
	(void)n;
	farm_make(state, false);
	return 0;
}

static void farm_peer_setup(void **state, int64_t n)
{
	(void)n;
	farm_make(state, false);
}

static int farm_inline_setup(void **state, int64_t n)
{
	(void)n;
	farm_make(state, true);
	return 0;
}

static void farm_inline_peer_setup(void **state, int64_t n)
{
	(void)n;
	farm_make(state, true);
}

static int farm_run(void *state, int64_t n, char *err)
{
	struct farm *f = state;
	spool_future **fs = calloc((size_t)n, sizeof *fs);
	if (!fs)
		return spool_bench_fail(err, "no memory");
	for (int64_t i = 0; i < n; i++) {
		uint64_t v = (uint64_t)i;
		fs[i] = spool_mpi_submit(f->ex, "inc", &v, sizeof v);
	}
	spool_future *g = spool_gather(fs, (size_t)n, 0);
	int rc = spool_future_wait(g, SPOOL_FOREVER);
	if (rc == 0)
		rc = spool_future_error(g);
	spool_future_release(g);
	/* One pass over the futures: each result read and given back, each
	 * future released. */
	uint64_t sum = 0;
	for (int64_t i = 0; i < n; i++) {
		if (rc == 0) {
			spool_mpi_result *r = spool_future_value(fs[i]);
			uint64_t v;
			memcpy(&v, r->data, sizeof v);
			sum += v;
			spool_mpi_result_free(r);
		}
		spool_future_release(fs[i]);
	}
	free(fs);
	if (rc != 0)
		return spool_bench_fail(err, "farm failed: %s",
					spool_mpi_strerror(rc));
	uint64_t want = (uint64_t)n * (uint64_t)(n + 1) / 2;
	if (sum != want)
		return spool_bench_fail(err, "wrong sum");
	return 0;
}

static void farm_peer_run(void *state, int64_t n)
{
	struct farm *f = state;
	(void)n;
	spool_mpi_executor_serve(f->ex);
}

static void farm_teardown(void *state)
{
	struct farm *f = state;
	if (getenv("SPOOL_BENCH_MPI_STATS")) {
		spool_mpi_executor_stats st;
		spool_mpi_executor_stats_get(f->ex, &st);
		fprintf(stderr,
			"rank %d executor: %llu tasks in %llu messages, "
			"%llu results in %llu messages\n",
			rank_, (unsigned long long)st.tasks,
			(unsigned long long)st.task_messages,
			(unsigned long long)st.results,
			(unsigned long long)st.result_messages);
	}
	spool_mpi_executor_destroy(f->ex);
	if (f->e) {
		print_stats("executor", f->e);
		spool_mpi_engine_destroy(f->e);
	}
	free(f);
}

/* The hand-written farm: the same pattern (a window of W tasks, each
 * result answered with the next task, a stop message at the end), a
 * 16-byte task (id, argument) and a 16-byte result (id, value). */
static int farm_mpi_run(void *state, int64_t n, char *err)
{
	(void)state;
	uint64_t msg[2], res[2], sum = 0;
	int64_t sent = 0, got = 0;
	for (int k = 0; k < FARM_WINDOW && sent < n; k++, sent++) {
		msg[0] = msg[1] = (uint64_t)sent;
		MPI_Send(msg, 16, MPI_BYTE, 1, FARM_TASK, MPI_COMM_WORLD);
	}
	while (got < n) {
		MPI_Status st;
		MPI_Recv(res, 16, MPI_BYTE, MPI_ANY_SOURCE, FARM_RESULT,
			 MPI_COMM_WORLD, &st);
		got++;
		sum += res[1];
		if (sent < n) {
			msg[0] = msg[1] = (uint64_t)sent++;
			MPI_Send(msg, 16, MPI_BYTE, st.MPI_SOURCE, FARM_TASK,
				 MPI_COMM_WORLD);
		}
	}
	MPI_Send(msg, 0, MPI_BYTE, 1, FARM_STOP, MPI_COMM_WORLD);
	uint64_t want = (uint64_t)n * (uint64_t)(n + 1) / 2;
	return sum == want ? 0 : spool_bench_fail(err, "wrong sum");
}

static void farm_mpi_peer_run(void *state, int64_t n)
{
	(void)state;
	(void)n;
	uint64_t msg[2];
	for (;;) {
		MPI_Status st;
		MPI_Recv(msg, 16, MPI_BYTE, 0, MPI_ANY_TAG, MPI_COMM_WORLD,
			 &st);
		if (st.MPI_TAG == FARM_STOP)
			return;
		msg[1] += 1;
		MPI_Send(msg, 16, MPI_BYTE, 0, FARM_RESULT, MPI_COMM_WORLD);
	}
}

/* The hand-written farm with batches, the message pattern spool's executor
 * uses: the root packs as many of the queued tasks as the worker has free
 * window slots into one message, and the worker answers a message of tasks
 * with one message of their results (16 bytes per task either way). */
static int farm_batch_run(void *state, int64_t n, char *err)
{
	(void)state;
	static uint64_t msg[2 * FARM_WINDOW], res[2 * FARM_WINDOW];
	uint64_t sum = 0;
	int64_t sent = 0, got = 0;
	int free_slots = FARM_WINDOW;
	while (got < n) {
		if (free_slots > 0 && sent < n) {
			int k = 0;
			for (; k < free_slots && sent < n; k++, sent++)
				msg[2 * k] = msg[2 * k + 1] = (uint64_t)sent;
			MPI_Send(msg, 16 * k, MPI_BYTE, 1, FARM_TASK,
				 MPI_COMM_WORLD);
			free_slots -= k;
		}
		MPI_Status st;
		MPI_Recv(res, (int)sizeof res, MPI_BYTE, MPI_ANY_SOURCE,
			 FARM_RESULT, MPI_COMM_WORLD, &st);
		int bytes = 0;
		MPI_Get_count(&st, MPI_BYTE, &bytes);
		for (int i = 0; i < bytes / 16; i++)
			sum += res[2 * i + 1];
		got += bytes / 16;
		free_slots += bytes / 16;
	}
	MPI_Send(msg, 0, MPI_BYTE, 1, FARM_STOP, MPI_COMM_WORLD);
	uint64_t want = (uint64_t)n * (uint64_t)(n + 1) / 2;
	return sum == want ? 0 : spool_bench_fail(err, "wrong sum");
}

static void farm_batch_peer_run(void *state, int64_t n)
{
	(void)state;
	(void)n;
	static uint64_t msg[2 * FARM_WINDOW];
	for (;;) {
		MPI_Status st;
		MPI_Recv(msg, (int)sizeof msg, MPI_BYTE, 0, MPI_ANY_TAG,
			 MPI_COMM_WORLD, &st);
		if (st.MPI_TAG == FARM_STOP)
			return;
		int bytes = 0;
		MPI_Get_count(&st, MPI_BYTE, &bytes);
		for (int i = 0; i < bytes / 16; i++)
			msg[2 * i + 1] += 1;
		MPI_Send(msg, bytes, MPI_BYTE, 0, FARM_RESULT, MPI_COMM_WORLD);
	}
}

/* ---- mpi_cpu ----------------------------------------------------------- */

#define CPU_FIB 27
#define CPU_HASH_BYTES (6u << 20)

static uint64_t fib(int n)
{
	return n < 2 ? (uint64_t)n : fib(n - 1) + fib(n - 2);
}

/* FNV-1a over bytes made on the fly from the seed. */
static uint64_t hash(uint64_t seed)
{
	uint64_t h = 1469598103934665603u;
	for (uint32_t i = 0; i < CPU_HASH_BYTES; i++) {
		h ^= (uint8_t)(i * 31u + seed);
		h *= 1099511628211u;
	}
	return h;
}

static uint64_t cpu_task(uint64_t i)
{
	return i % 2 ? hash(i) : fib(CPU_FIB) + i;
}

static uint64_t cpu_expected(int64_t n)
{
	static int64_t memo_n = -1;
	static uint64_t memo;
	if (memo_n != n) {
		memo = 0;
		for (int64_t i = 0; i < n; i++)
			memo += i % 2 ? hash((uint64_t)i)
				      : fib(CPU_FIB) + (uint64_t)i;
		memo_n = n;
	}
	return memo;
}

static int cpu_fn(const void *arg, size_t len, void **out, size_t *out_len)
{
	uint64_t i;
	if (len != sizeof i)
		return 22;
	memcpy(&i, arg, sizeof i);
	uint64_t *r = malloc(sizeof *r);
	if (!r)
		return 12;
	*r = cpu_task(i);
	*out = r;
	*out_len = sizeof *r;
	return 0;
}

static int seq_run(void *state, int64_t n, char *err)
{
	(void)state;
	uint64_t sum = 0;
	for (int64_t i = 0; i < n; i++)
		sum += cpu_task((uint64_t)i);
	return sum == cpu_expected(n) ? 0 : spool_bench_fail(err, "wrong sum");
}

static void cpu_make(void **state)
{
	struct farm *f = calloc(1, sizeof *f);
	spool_mpi_executor_options o = SPOOL_MPI_EXECUTOR_OPTIONS_INIT;
	o.threads = 1;
	/* One task running and one queued on each rank: the next task is
	 * there when one ends, so the round trip of its result and of the
	 * next task (up to the engine's longest pause, 1 ms, after a quiet
	 * spell of a few ms) is not paid between tasks. */
	o.window = 2;
	spool_mpi_executor_create(&f->ex, MPI_COMM_WORLD, &o);
	*state = f;
}

static int cpu_setup(void **state, int64_t n)
{
	cpu_expected(n); /* untimed */
	cpu_make(state);
	return 0;
}

static void cpu_peer_setup(void **state, int64_t n)
{
	(void)n;
	cpu_make(state);
}

static int cpu_run(void *state, int64_t n, char *err)
{
	struct farm *f = state;
	spool_future **fs = calloc((size_t)n, sizeof *fs);
	if (!fs)
		return spool_bench_fail(err, "no memory");
	for (int64_t i = 0; i < n; i++) {
		uint64_t v = (uint64_t)i;
		fs[i] = spool_mpi_submit(f->ex, "cpu", &v, sizeof v);
	}
	spool_future *g = spool_gather(fs, (size_t)n, 0);
	int rc = spool_future_wait(g, SPOOL_FOREVER);
	if (rc == 0)
		rc = spool_future_error(g);
	uint64_t sum = 0;
	for (int64_t i = 0; i < n && rc == 0; i++) {
		spool_mpi_result *r = spool_future_value(fs[i]);
		uint64_t v;
		memcpy(&v, r->data, sizeof v);
		sum += v;
		spool_mpi_result_free(r);
	}
	for (int64_t i = 0; i < n; i++)
		spool_future_release(fs[i]);
	spool_future_release(g);
	free(fs);
	if (rc != 0)
		return spool_bench_fail(err, "failed: %s",
					spool_mpi_strerror(rc));
	return sum == cpu_expected(n) ? 0 : spool_bench_fail(err, "wrong sum");
}

/* The GIL model: two threads of rank 0 take tasks from a shared counter
 * and must hold one global lock while a task runs, as CPython threads
 * must hold the GIL to run Python code. */
struct gil {
	pthread_mutex_t gil, mu;
	int64_t next, n;
	uint64_t sum;
};

static void *gil_main(void *arg)
{
	struct gil *g = arg;
	for (;;) {
		pthread_mutex_lock(&g->mu);
		int64_t i = g->next++;
		pthread_mutex_unlock(&g->mu);
		if (i >= g->n)
			return NULL;
		pthread_mutex_lock(&g->gil);
		uint64_t v = cpu_task((uint64_t)i);
		pthread_mutex_unlock(&g->gil);
		pthread_mutex_lock(&g->mu);
		g->sum += v;
		pthread_mutex_unlock(&g->mu);
	}
}

static int gil_run(void *state, int64_t n, char *err)
{
	(void)state;
	struct gil g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, 0,
			n, 0};
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, gil_main, &g);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	return g.sum == cpu_expected(n) ? 0
					: spool_bench_fail(err, "wrong sum");
}

static int cpu_plain_setup(void **state, int64_t n)
{
	cpu_expected(n);
	*state = NULL;
	return 0;
}

/* ---- the table ---------------------------------------------------------- */

static const struct impl pp_spool = {pp_spool_setup,    pp_spool_run,
				     pp_spool_teardown, pp_spool_peer_setup,
				     pp_spool_peer_run, pp_spool_teardown};
static const struct impl pp_thread = {pp_thread_setup,   pp_spool_run,
				      pp_spool_teardown, pp_thread_peer_setup,
				      pp_spool_peer_run, pp_spool_teardown};
static const struct impl pp_mpi = {NULL, pp_mpi_run,  NULL,
				   NULL, pp_mpi_peer, NULL};
static const struct impl pp_wait = {NULL, pp_wait_run,  NULL,
				    NULL, pp_wait_peer, NULL};
static const struct impl farm_spool = {farm_setup,    farm_run,
				       farm_teardown, farm_peer_setup,
				       farm_peer_run, farm_teardown};
static const struct impl farm_inline = {
	farm_inline_setup,      farm_run,      farm_teardown,
	farm_inline_peer_setup, farm_peer_run, farm_teardown};
static const struct impl farm_mpi = {NULL, farm_mpi_run,      NULL,
				     NULL, farm_mpi_peer_run, NULL};
static const struct impl farm_batch = {NULL, farm_batch_run,      NULL,
				       NULL, farm_batch_peer_run, NULL};
static const struct impl cpu_spool = {cpu_setup,     cpu_run,
				      farm_teardown, cpu_peer_setup,
				      farm_peer_run, farm_teardown};
static const struct impl cpu_seq = {
	cpu_plain_setup, seq_run, NULL, NULL, NULL, NULL};
static const struct impl cpu_gil = {
	cpu_plain_setup, gil_run, NULL, NULL, NULL, NULL};

/* The hand-off between CPUs 0 and 1 (machine.h): the plain MPI farm and
 * ping-pong are bound by it, and on a virtual machine it changes with
 * where the host runs the two CPUs (docs/design/mpi.md, "Two machines in
 * one"), so the figures of a run are read against it. */
static void print_handoff(const char *label, double ns)
{
	if (ns < 0)
		fprintf(stderr,
			"%s: hand-off between CPUs 0 and 1 not measured (fewer "
			"CPUs, or too busy)\n",
			label);
	else
		fprintf(stderr,
			"%s: a cache line goes from CPU 0 to CPU 1 and back in "
			"%.0f ns\n",
			label, ns);
}

/* Starts this program again under mpiexec with 2 ranks. */
static int relaunch(int argc, char **argv)
{
	char **args = calloc((size_t)argc + 8, sizeof *args);
	int k = 0;
	args[k++] = (char *)SPOOL_BENCH_MPIEXEC;
	if (SPOOL_BENCH_OPENMPI) {
		/* Unbound: Open MPI binds each of 2 ranks to one core, where a
		 * rank's progress thread takes turns with its pool thread, and
		 * the machine measured from rank 0 would be one core. */
		args[k++] = (char *)"--bind-to";
		args[k++] = (char *)"none";
		args[k++] = (char *)"--oversubscribe";
		if (geteuid() == 0)
			args[k++] = (char *)"--allow-run-as-root";
	}
	args[k++] = (char *)"-np";
	args[k++] = (char *)"2";
	char self[4096];
	ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
	if (len <= 0)
		return 1;
	self[len] = 0;
	args[k++] = self;
	for (int i = 1; i < argc; i++)
		args[k++] = argv[i];
	args[k] = NULL;
	setenv("SPOOL_BENCH_MPI_CHILD", "1", 1);
	fflush(NULL);
	execv(SPOOL_BENCH_MPIEXEC, args);
	fprintf(stderr, "spool-bench-mpi: cannot run %s: %s\n",
		SPOOL_BENCH_MPIEXEC, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	spool_bench_opts o;
	spool_bench_parse(&o, &suite, argc, argv); /* may exit 0 or 2 */
	if (!getenv("SPOOL_BENCH_MPI_CHILD"))
		return relaunch(argc, argv);

	int provided = 0;
	MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
	int size = 0;
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (size != 2 || provided < MPI_THREAD_MULTIPLE) {
		if (rank_ == 0)
			fprintf(stderr,
				"spool-bench-mpi: needs exactly 2 ranks and "
				"MPI_THREAD_MULTIPLE (have %d, level %d)\n",
				size, provided);
		MPI_Finalize();
		return 1;
	}
	spool_mpi_register("inc", inc_fn);
	spool_mpi_register("cpu", cpu_fn);

	int64_t pp_n = o.quick ? 2000 : 50000;
	int64_t farm_n = o.quick ? 5000 : 100000;
	int64_t cpu_n = o.quick ? 8 : 48;
	static const struct {
		const char *bench, *impl;
		int threads;
		const struct impl *im;
	} table[] = {
		{"mpi_pingpong", "spool", 2, &pp_thread},
		{"mpi_pingpong", "spool-loop", 2, &pp_spool},
		{"mpi_pingpong", "mpi", 2, &pp_mpi},
		{"mpi_pingpong", "mpi-wait", 2, &pp_wait},
		{"mpi_farm", "spool", 2, &farm_spool},
		{"mpi_farm", "spool-inline", 2, &farm_inline},
		{"mpi_farm", "mpi", 2, &farm_mpi},
		{"mpi_farm", "mpi-batch", 2, &farm_batch},
		{"mpi_cpu", "spool", 2, &cpu_spool},
		{"mpi_cpu", "sequential", 1, &cpu_seq},
		{"mpi_cpu", "gil", 2, &cpu_gil},
	};
	enum { NEXPS = sizeof table / sizeof table[0] };
	static struct exp_arg args[NEXPS];
	static spool_bench_exp exps[NEXPS];
	for (int i = 0; i < NEXPS; i++) {
		args[i] = (struct exp_arg){i, table[i].im};
		const char *b = table[i].bench;
		exps[i] = (spool_bench_exp){
			.bench = b,
			.impl = table[i].impl,
			.threads = table[i].threads,
			.n = b[4] == 'p'   ? pp_n
			     : b[4] == 'f' ? farm_n
					   : cpu_n,
			.setup = exp_setup,
			.run = exp_run,
			.teardown = exp_teardown,
			.arg = &args[i],
			.isolate = false,
		};
	}
	int failed = 0;
	if (rank_ == 0) {
		/* mpi_cpu divides by sequential: the suite's reference is
		 * mpi, which that bench has not. */
		double handoff0 = spool_bench_handoff_ns(0, 1);
		print_handoff("mpi: cores now", handoff0);
		failed = spool_bench_run(&o, &suite, exps, NEXPS);
		double handoff1 = spool_bench_handoff_ns(0, 1);
		send_cmd(OP_QUIT, 0);
		spool_bench_report(&o, &suite, exps, NEXPS);
		print_handoff("cores at the start", handoff0);
		print_handoff("cores at the end  ", handoff1);
		const spool_bench_target targets[] = {
			{"mpi_pingpong", "spool", 2, "mpi", 2, 1.5, false, NULL,
			 0, false},
			{"mpi_farm", "spool", 2, "mpi", 2, 1 / 0.8, true, NULL,
			 0, false},
			{"mpi_farm", "spool-inline", 2, "mpi", 2, 1 / 0.8, true,
			 NULL, 0, false},
			{"mpi_farm", "spool", 2, "mpi-batch", 2, 1 / 0.8, true,
			 NULL, 0, false},
			{"mpi_farm", "spool-inline", 2, "mpi-batch", 2, 1 / 0.8,
			 true, NULL, 0, false},
			/* A speedup over one rank: bounded by the CPUs the
			 * machine gives two. */
			{"mpi_cpu", "spool", 2, "sequential", 1, 1 / 1.8, true,
			 NULL, 0, true},
		};
		spool_bench_check_targets(&o, exps, NEXPS, targets,
					  sizeof targets / sizeof *targets);
		if (o.quick)
			fprintf(stderr, "(--quick: sizes too small for the "
					"targets to mean much)\n");
	} else {
		peer_loop(exps);
	}
	MPI_Finalize();
	return failed ? 1 : 0;
}
