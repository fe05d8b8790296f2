/* SPDX-License-Identifier: MIT */
/*
 * Part 2: the same workload functions through every backend.
 *
 * A task is one call of task_fn(), whatever runs it: the calling thread
 * (seq), a pool worker (pool, threads, and the same two under the GIL
 * model, where the task holds the model's lock while it runs, as a Python
 * thread holds the GIL while it runs Python code), or a loop coroutine
 * (loop; loop-pool, where the CPU part goes to a pool through
 * spool_loop_run_in_executor() and the coroutine awaits it), or a worker
 * process that received the task as a message (procs, through farm.h), or
 * an MPI rank that did (mpi, the same farm over MPI messages).
 * What a task computes is described by value (task.h) and run by
 * cmp_task_run() on all of them. Because the
 * workload code calls spool_sleep() and waits on sockets through the same
 * functions everywhere, the difference between the rows of the table is
 * the backend alone.
 *
 * Each measured run includes creating and destroying the executor (a
 * thread per task costs its threads, as ThreadPoolExecutor's does), runs
 * interleave the backends (A B C A B C ...) so drift hits them alike, and
 * the median of the runs is reported.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <spool.h>

#include "compare.h"
#include "farm.h"
#include "gil.h"
#include "task.h"
#include "workloads.h"

#define REQUEST_TIMEOUT_NS (10 * SPOOL_NS_PER_S)

/* State kept between calls: the servers and the hash buffer. */
static struct {
	struct cmp_server *server;       /* answers after cfg->delay_ns */
	struct cmp_server *mixed_server; /* after cfg->mixed_delay_ns */
	uint8_t *buf;
	size_t buf_len;
	uint64_t buf_seed;
} keep;

struct run {
	const struct cmp_config *cfg;
	int workload, backend;
	struct cmp_gil *gil;    /* GIL backends */
	spool_loop *loop;       /* loop backends */
	spool_executor *cpu_ex; /* loop-pool: where CPU parts go */
	void *farm;             /* procs, mpi: the workers */
	/* mixed: set when the client has made its last request; the CPU
	 * jobs stop at their next round (load only while it is measured). */
	atomic_bool client_done;
};

struct task {
	struct run *run;
	struct cmp_task_spec spec; /* what it computes (task.h) */
	bool client;               /* the mixed workload's client */
	uint64_t result;
	int64_t *latency_ns; /* the mixed client's, one per request */
};

/* The i-th task's delay: uniform in [0.5, 1.5) x mean, from the seed, so
 * that completion order differs from submission order (compare.py derives
 * the same delays). */
int64_t cmp_task_delay_ns(uint64_t seed, int i, int64_t mean_ns)
{
	uint64_t x = cmp_mix64(seed * 0x9e3779b97f4a7c15u + (uint64_t)i);
	double u = (double)(x >> 11) / 9007199254740992.0; /* 2^53 */
	return (int64_t)((double)mean_ns * (0.5 + u));
}

/* ---- the task ------------------------------------------------------------ */

/* The mixed CPU jobs' stop check. Relaxed: a late look only adds one more
 * round of load. */
static bool client_is_done(void *arg)
{
	struct run *r = arg;
	return atomic_load_explicit(&r->client_done, memory_order_relaxed);
}

static int cpu_fn(void *arg, void **result)
{
	struct task *t = arg;
	*result = NULL;
	return cmp_task_run(&t->spec, client_is_done, t->run, &t->result);
}

/* The CPU part: here, or on the pool when the loop hands it over. */
static int cpu_part(struct task *t)
{
	void *unused;
	if (!t->run->cpu_ex)
		return cpu_fn(t, &unused);
	spool_future *f = spool_loop_run_in_executor(t->run->loop,
						     t->run->cpu_ex, cpu_fn, t);
	if (!f)
		return SPOOL_ENOMEM;
	int rc = spool_future_result(f, SPOOL_FOREVER, NULL);
	spool_future_release(f);
	return rc;
}

static int client(struct task *t)
{
	const struct cmp_config *cfg = t->run->cfg;
	uint16_t port = cmp_server_port(keep.mixed_server);
	uint64_t sum = 0;
	for (int k = 0; k < cfg->mixed_requests; k++) {
		uint64_t reply;
		int64_t t0 = cmp_now_ns();
		int rc = cmp_io_request(port, cmp_mix64(cfg->seed * 31 + k),
					REQUEST_TIMEOUT_NS, &reply);
		t->latency_ns[k] = cmp_now_ns() - t0;
		if (rc) {
			atomic_store(&t->run->client_done, true);
			return rc;
		}
		sum += cmp_mix64(reply + (uint64_t)k);
	}
	t->result = sum;
	atomic_store(&t->run->client_done, true);
	return 0;
}

static int task_body(struct task *t)
{
	if (t->client)
		return client(t);
	if (t->spec.kind == CMP_TASK_PLAIN &&
	    (t->spec.workload == CMP_W_SLEEP ||
	     t->spec.workload == CMP_W_REQUEST))
		return cmp_task_run(&t->spec, NULL, NULL, &t->result);
	return cpu_part(t);
}

/* Every backend runs exactly this. Under the GIL model the task holds the
 * lock from start to end, except where the workload releases it. */
static int task_fn(void *arg, void **result)
{
	struct task *t = arg;
	int64_t begin = cmp_now_ns();
	if (t->run->gil)
		cmp_gil_acquire(t->run->gil);
	int rc = task_body(t);
	if (t->run->gil)
		cmp_gil_release(t->run->gil);
	cmp_timeline_record(CMP_SPAN_TASK, t->spec.index, begin, cmp_now_ns());
	*result = NULL;
	return rc;
}

/* ---- running one batch on one backend ------------------------------------ */

static int wait_all(spool_future **fs, int n)
{
	int first = 0;
	for (int i = 0; i < n; i++) {
		int rc = fs[i] ? spool_future_result(fs[i], SPOOL_FOREVER, NULL)
			       : SPOOL_ENOMEM;
		if (rc && !first)
			first = rc;
		spool_future_release(fs[i]);
	}
	return first;
}

/* A promise completed when `left` futures have completed. */
struct all_done {
	atomic_int left;
	spool_future *done;
};

static void all_done_cb(spool_future *f, void *arg)
{
	struct all_done *a = arg;
	(void)f;
	if (atomic_fetch_sub(&a->left, 1) == 1)
		spool_promise_set_result(a->done, NULL);
}

static int run_pool(struct run *r, struct task *tasks, int n, int workers,
		    struct task *on_caller)
{
	spool_pool *pool;
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = workers;
	o.name = r->gil ? "gil" : "worker";
	int rc = spool_pool_create(&pool, &o);
	if (rc)
		return rc;
	spool_future **fs = calloc((size_t)n, sizeof(*fs));
	if (!fs) {
		spool_pool_destroy(pool);
		return SPOOL_ENOMEM;
	}
	for (int i = 0; i < n; i++)
		fs[i] = spool_submit_labeled(spool_pool_executor(pool), task_fn,
					     &tasks[i], "task");
	int crc = 0;
	if (on_caller) { /* the mixed client, on this thread */
		void *unused;
		crc = task_fn(on_caller, &unused);
	}
	rc = wait_all(fs, n);
	free(fs);
	spool_pool_destroy(pool);
	return rc ? rc : crc;
}

static int run_loop(struct run *r, struct task *tasks, int n)
{
	spool_pool *pool = NULL;
	int rc = spool_loop_create(&r->loop, NULL);
	if (rc)
		return rc;
	if (r->backend == CMP_B_LOOP_POOL) {
		spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
		o.workers = r->cfg->threads;
		o.name = "executor";
		rc = spool_pool_create(&pool, &o);
		if (rc) {
			spool_loop_destroy(r->loop);
			return rc;
		}
		r->cpu_ex = spool_pool_executor(pool);
	}
	spool_future **fs = calloc((size_t)n, sizeof(*fs));
	struct all_done all;
	atomic_init(&all.left, n);
	all.done = spool_promise_new();
	if (!fs || !all.done) {
		rc = SPOOL_ENOMEM;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		fs[i] = spool_submit_labeled(spool_loop_executor(r->loop),
					     task_fn, &tasks[i], "task");
		if (!fs[i] ||
		    spool_future_add_callback(fs[i], all_done_cb, &all) != 0)
			all_done_cb(NULL, &all);
	}
	rc = spool_loop_run_until_complete(r->loop, all.done);
	int trc = wait_all(fs, n);
	fs = (free(fs), NULL);
	if (!rc)
		rc = trc;
out:
	free(fs);
	spool_future_release(all.done);
	spool_loop_destroy(r->loop);
	r->loop = NULL;
	spool_pool_destroy(pool);
	r->cpu_ex = NULL;
	return rc;
}

/* procs, mpi: the tasks go to worker processes (or ranks) as messages
 * (farm.h), started and ended inside the run, as a Python program pays for
 * its ProcessPoolExecutor; the mixed client runs on this thread meanwhile
 * and stops the workers' jobs when it is done, as compare.py's does. */
struct farm_client {
	struct run *r;
	const struct cmp_farm_ops *ops;
	struct task *client;
	int rc;
};

static void farm_meanwhile(void *arg)
{
	struct farm_client *c = arg;
	void *unused;
	c->rc = task_fn(c->client, &unused);
	c->ops->request_stop(c->r->farm);
}

static int run_farm(struct run *r, const struct cmp_farm_ops *ops,
		    struct task *tasks, int n, struct task *client, char *why,
		    size_t why_len)
{
	int workers = r->cfg->threads;
	struct cmp_task_spec *specs = calloc((size_t)n, sizeof(*specs));
	uint64_t *results = calloc((size_t)n, sizeof(*results));
	if (!specs || !results) {
		free(specs);
		free(results);
		return SPOOL_ENOMEM;
	}
	for (int i = 0; i < n; i++)
		specs[i] = tasks[i].spec;
	int rc = ops->start(&r->farm, workers, why, why_len);
	if (rc == 0) {
		struct farm_client c = {.r = r, .ops = ops, .client = client};
		rc = cmp_farm_run(ops, r->farm, workers, specs, n,
				  r->cfg->pickle_bytes, results,
				  client ? farm_meanwhile : NULL, &c);
		if (rc < 0 && rc != SPOOL_EINVAL)
			snprintf(why, why_len, "%s", ops->why(r->farm));
		if (rc == 0)
			rc = c.rc;
		/* A client that failed never asked the jobs to stop. */
		ops->request_stop(r->farm);
		char fwhy[96] = "";
		int frc = ops->finish(r->farm, fwhy, sizeof(fwhy));
		r->farm = NULL;
		if (frc && !rc) {
			rc = frc;
			snprintf(why, why_len, "%s", fwhy);
		}
	}
	for (int i = 0; i < n; i++)
		tasks[i].result = results[i];
	free(specs);
	free(results);
	return rc;
}

/* One measured run: builds the tasks, runs them on r->backend. */
static int run_once(struct run *r, struct task *tasks, int n_tasks,
		    uint64_t *checksum, int64_t *latency, char *why,
		    size_t why_len)
{
	const struct cmp_config *cfg = r->cfg;
	bool mixed = r->workload == CMP_W_MIXED;
	int n = mixed ? cfg->threads + 1 : n_tasks;
	/* The mixed client is task 0 (it starts first); CPU jobs follow. */
	for (int i = 0; i < n; i++) {
		tasks[i] = (struct task){
			.run = r,
			.spec = cmp_task_spec_of(cfg, r->workload, i)};
		tasks[i].spec.buf = keep.buf;
		tasks[i].spec.buf_len = keep.buf_len;
		if (keep.server)
			tasks[i].spec.port = cmp_server_port(keep.server);
		if (mixed && i == 0)
			tasks[i].client = true;
		else if (mixed)
			tasks[i].spec.kind = CMP_TASK_MIXED_CPU;
	}
	if (mixed)
		tasks[0].latency_ns = latency;

	int rc = 0;
	void *unused;
	switch (r->backend) {
	case CMP_B_SEQ:
		/* One thing at a time: CPU jobs first, then the client. */
		for (int i = mixed ? 1 : 0; i < n && !rc; i++)
			rc = task_fn(&tasks[i], &unused);
		if (mixed && !rc)
			rc = task_fn(&tasks[0], &unused);
		break;
	case CMP_B_POOL:
	case CMP_B_GIL:
		rc = mixed ? run_pool(r, tasks + 1, n - 1, cfg->threads,
				      &tasks[0])
			   : run_pool(r, tasks, n, cfg->threads, NULL);
		break;
	case CMP_B_THREADS:
	case CMP_B_GIL_THREADS:
		rc = mixed ? run_pool(r, tasks + 1, n - 1, n - 1, &tasks[0])
			   : run_pool(r, tasks, n, n, NULL);
		break;
	case CMP_B_PROCS:
		rc = mixed ? run_farm(r, &cmp_procs_farm, tasks + 1, n - 1,
				      &tasks[0], why, why_len)
			   : run_farm(r, &cmp_procs_farm, tasks, n, NULL, why,
				      why_len);
		break;
	case CMP_B_MPI:
#ifdef CMP_HAVE_MPI
		rc = mixed ? run_farm(r, &cmp_mpi_farm, tasks + 1, n - 1,
				      &tasks[0], why, why_len)
			   : run_farm(r, &cmp_mpi_farm, tasks, n, NULL, why,
				      why_len);
#else
		snprintf(why, why_len, "built without MPI");
		rc = SPOOL_EINVAL;
#endif
		break;
	default:
		rc = run_loop(r, tasks, n);
		break;
	}
	/* The answer: every task's result, except the mixed CPU jobs', whose
	 * length depends on the client's. */
	uint64_t sum = 0;
	for (int i = 0; i < n; i++)
		if (tasks[i].spec.kind != CMP_TASK_MIXED_CPU)
			sum += cmp_mix64(tasks[i].result + (uint64_t)i);
	*checksum = sum;
	return rc;
}

/* ---- ideal times ----------------------------------------------------------
 * What perfect scheduling would take, to print beside the measured time.
 * IO-bound: tasks taken in submission order by the first free worker (list
 * scheduling of the delays); CPU-bound: the sequential time divided by the
 * parallelism the backend can have (workers, at most the CPUs; 1 under the
 * GIL or on the loop). */

static double list_schedule(const int64_t *d, int n, int workers)
{
	if (workers > n)
		workers = n;
	int64_t *free_at = calloc((size_t)(workers > 0 ? workers : 1),
				  sizeof(*free_at));
	if (!free_at)
		return 0;
	int64_t end = 0;
	for (int i = 0; i < n; i++) {
		int k = 0;
		for (int j = 1; j < workers; j++)
			if (free_at[j] < free_at[k])
				k = j;
		free_at[k] += d[i];
		if (free_at[k] > end)
			end = free_at[k];
	}
	free(free_at);
	return (double)end / 1e9;
}

static int backend_workers(const struct cmp_config *cfg, int b, int n)
{
	switch (b) {
	case CMP_B_SEQ:
		return 1;
	case CMP_B_POOL:
	case CMP_B_GIL:
	case CMP_B_PROCS:
	case CMP_B_MPI:
		return cfg->threads;
	case CMP_B_THREADS:
	case CMP_B_GIL_THREADS:
		return n;
	default:
		return n; /* the loop overlaps every wait */
	}
}

static double ideal_time(const struct cmp_config *cfg, int w, int b,
			 double seq_s)
{
	int n = cfg->tasks;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (w == CMP_W_SLEEP || w == CMP_W_REQUEST) {
		int64_t *d = malloc(sizeof(*d) * (size_t)n);
		if (!d)
			return 0;
		for (int i = 0; i < n; i++)
			d[i] = w == CMP_W_SLEEP
				       ? cmp_task_delay_ns(cfg->seed, i,
							   cfg->delay_ns)
				       : cfg->delay_ns;
		double t = list_schedule(d, n, backend_workers(cfg, b, n));
		free(d);
		return t;
	}
	if (w == CMP_W_MIXED || seq_s <= 0)
		return 0;
	int par;
	switch (b) {
	case CMP_B_POOL:
	case CMP_B_LOOP_POOL:
	case CMP_B_PROCS:
	case CMP_B_MPI:
		par = cfg->threads;
		break;
	case CMP_B_THREADS:
		par = n;
		break;
	default:
		par = 1; /* seq, the GIL, the loop's one thread */
	}
	if (par > cpus)
		par = (int)cpus;
	/* Equal tasks: whole rounds of `par` tasks. */
	int rounds = (n + par - 1) / par;
	return seq_s / n * rounds;
}

/* ---- setup and the public entry ------------------------------------------ */

static int ensure_setup(const struct cmp_config *cfg, int w, char *why,
			size_t why_len)
{
	size_t len = (size_t)cfg->hash_kib * 1024;
	if (!keep.buf || keep.buf_len != len || keep.buf_seed != cfg->seed) {
		free(keep.buf);
		keep.buf = malloc(len);
		if (!keep.buf) {
			snprintf(why, why_len, "out of memory");
			return -1;
		}
		cmp_hash_buffer_fill(keep.buf, len, cfg->seed);
		keep.buf_len = len;
		keep.buf_seed = cfg->seed;
	}
	if (w == CMP_W_REQUEST && !keep.server &&
	    cmp_server_start(&keep.server, cfg->delay_ns, why, why_len))
		return -1;
	if (w == CMP_W_MIXED && !keep.mixed_server &&
	    cmp_server_start(&keep.mixed_server, cfg->mixed_delay_ns, why,
			     why_len))
		return -1;
	if (keep.server)
		cmp_server_set_delay(keep.server, cfg->delay_ns);
	if (keep.mixed_server)
		cmp_server_set_delay(keep.mixed_server, cfg->mixed_delay_ns);
	return 0;
}

/* Ports of the two servers (started if needed), for compare.py. */
int cmp_servers_ports(const struct cmp_config *cfg, uint16_t *port,
		      uint16_t *mixed_port, char *why, size_t why_len)
{
	if (ensure_setup(cfg, CMP_W_REQUEST, why, why_len) ||
	    ensure_setup(cfg, CMP_W_MIXED, why, why_len))
		return -1;
	*port = cmp_server_port(keep.server);
	*mixed_port = cmp_server_port(keep.mixed_server);
	return 0;
}

void cmp_workloads_cleanup(void)
{
	cmp_server_stop(keep.server);
	cmp_server_stop(keep.mixed_server);
	free(keep.buf);
	memset(&keep, 0, sizeof(keep));
}

static void gil_span(void *arg, int64_t begin, int64_t end)
{
	(void)arg;
	cmp_timeline_record(CMP_SPAN_GIL, -1, begin, end);
}

bool cmp_backend_applies(int w, int b)
{
	if (w < 0 || w >= CMP_W_COUNT || b < 0 || b >= CMP_B_COUNT)
		return false;
	if (w != CMP_W_CONVOY)
		return true;
	return b == CMP_B_SEQ || b == CMP_B_POOL || b == CMP_B_GIL ||
	       b == CMP_B_LOOP || b == CMP_B_PROCS ||
	       (b == CMP_B_MPI && cmp_mpi_built());
}

int cmp_run_workload(const struct cmp_config *cfg, int w,
		     struct cmp_result out[CMP_B_COUNT])
{
	int failures = 0;
	int runs = cfg->runs;
	int n_max = cfg->tasks > cfg->threads + 1 ? cfg->tasks
						  : cfg->threads + 1;
	struct task *tasks = calloc((size_t)n_max, sizeof(*tasks));
	int64_t *lat = calloc((size_t)cfg->mixed_requests, sizeof(*lat));
	double *wall = calloc((size_t)(CMP_B_COUNT * runs), sizeof(*wall));
	double *cpu = calloc((size_t)(CMP_B_COUNT * runs), sizeof(*cpu));
	double *p50 = calloc((size_t)(CMP_B_COUNT * runs), sizeof(*p50));
	double *p99 = calloc((size_t)(CMP_B_COUNT * runs), sizeof(*p99));
	char why[96] = "";

	for (int b = 0; b < CMP_B_COUNT; b++) {
		out[b] = (struct cmp_result){.workload = w, .backend = b};
		if (!(cfg->backends & (1u << b)))
			continue;
		out[b].ok = true;
	}
	if (w == CMP_W_CONVOY) {
		snprintf(why, sizeof(why), "the convoy runs in cmp_run_convoy");
	} else if (!tasks || !lat || !wall || !cpu || !p50 || !p99) {
		snprintf(why, sizeof(why), "out of memory");
	} else {
		ensure_setup(cfg, w, why, sizeof(why));
	}
#ifdef CMP_HAVE_MPI
	/* MPI's own start-up, once per program, is not part of any run (each
	 * run's spawning of ranks is). */
	char mwhy[96];
	if (!why[0] && out[CMP_B_MPI].ok &&
	    cmp_mpi_farm_init(mwhy, sizeof(mwhy))) {
		out[CMP_B_MPI].ok = false;
		snprintf(out[CMP_B_MPI].error, sizeof(out[CMP_B_MPI].error),
			 "%s", mwhy);
		failures++;
	}
#endif
	if (why[0]) {
		for (int b = 0; b < CMP_B_COUNT; b++) {
			if (!out[b].ok)
				continue;
			out[b].ok = false;
			snprintf(out[b].error, sizeof(out[b].error), "%s", why);
			failures++;
		}
		goto done;
	}

	for (int run = 0; run < runs; run++) {
		for (int b = 0; b < CMP_B_COUNT; b++) {
			if (!out[b].ok)
				continue;
			struct run r = {
				.cfg = cfg, .workload = w, .backend = b};
			atomic_init(&r.client_done, false);
			bool gil = b == CMP_B_GIL || b == CMP_B_GIL_THREADS;
			if (gil &&
			    cmp_gil_create(&r.gil, cfg->switch_interval_ns)) {
				out[b].ok = false;
				snprintf(out[b].error, sizeof(out[b].error),
					 "cannot create the GIL model");
				failures++;
				continue;
			}
			bool trace = run == 0 && w == cfg->timeline_workload &&
				     b == cfg->timeline_backend;
			if (trace) {
				cmp_timeline_start();
				if (r.gil)
					cmp_gil_set_observer(r.gil, gil_span,
							     NULL);
			}
			uint64_t sum;
			cmp_peak_rss_reset();
			int64_t c0 = cmp_cpu_ns(), t0 = cmp_now_ns();
			char rwhy[96] = "";
			int rc = run_once(&r, tasks, cfg->tasks, &sum, lat,
					  rwhy, sizeof(rwhy));
			int64_t t1 = cmp_now_ns(), c1 = cmp_cpu_ns();
			long rss = cmp_peak_rss_kib();
			if (trace)
				cmp_timeline_stop();
			if (r.gil) {
				struct cmp_gil_stats st;
				cmp_gil_stats_get(r.gil, &st);
				if (run == 0) {
					out[b].gil_switches = st.switches;
					out[b].gil_drop_requests =
						st.drop_requests;
				}
				cmp_gil_destroy(r.gil);
			}
			if (rc) {
				out[b].ok = false;
				snprintf(out[b].error, sizeof(out[b].error),
					 "run %d failed: %s%s%.60s", run + 1,
					 spool_err_name(rc),
					 rwhy[0] ? ": " : "", rwhy);
				failures++;
				continue;
			}
			if (run > 0 && sum != out[b].checksum) {
				out[b].ok = false;
				snprintf(out[b].error, sizeof(out[b].error),
					 "checksum changed between runs");
				failures++;
				continue;
			}
			out[b].checksum = sum;
			wall[b * runs + run] = (double)(t1 - t0) / 1e9;
			cpu[b * runs + run] = (double)(c1 - c0) / 1e9;
			if (rss > out[b].peak_rss_kib)
				out[b].peak_rss_kib = rss;
			if (w == CMP_W_MIXED) {
				cmp_sort_ns(lat, cfg->mixed_requests);
				p50[b * runs + run] = cmp_percentile_ms(
					lat, cfg->mixed_requests, 50);
				p99[b * runs + run] = cmp_percentile_ms(
					lat, cfg->mixed_requests, 99);
			}
		}
	}
	for (int b = 0; b < CMP_B_COUNT; b++) {
		if (!out[b].ok)
			continue;
		out[b].runs = runs;
		out[b].min_s = wall[b * runs];
		for (int k = 1; k < runs; k++)
			if (wall[b * runs + k] < out[b].min_s)
				out[b].min_s = wall[b * runs + k];
		out[b].wall_s = cmp_median(wall + b * runs, runs);
		out[b].cpu_s = cmp_median(cpu + b * runs, runs);
		if (w == CMP_W_MIXED) {
			out[b].p50_ms = cmp_median(p50 + b * runs, runs);
			out[b].p99_ms = cmp_median(p99 + b * runs, runs);
		}
	}
	/* Every backend computes the same answer (the mixed CPU jobs' aside):
	 * one that does not has failed, whatever its time, so that a farm
	 * that loses or garbles a result fails the run instead of printing a
	 * speedup. */
	for (int b = 0; b < CMP_B_COUNT; b++) {
		if (b == CMP_B_SEQ || !out[b].ok || !out[CMP_B_SEQ].ok ||
		    out[b].checksum == out[CMP_B_SEQ].checksum)
			continue;
		out[b].ok = false;
		snprintf(out[b].error, sizeof(out[b].error),
			 "answer %016llx differs from seq's %016llx",
			 (unsigned long long)out[b].checksum,
			 (unsigned long long)out[CMP_B_SEQ].checksum);
		failures++;
	}
	double seq = out[CMP_B_SEQ].ok ? out[CMP_B_SEQ].wall_s : 0;
	for (int b = 0; b < CMP_B_COUNT; b++) {
		if (!out[b].ok)
			continue;
		out[b].ideal_s = ideal_time(cfg, w, b, seq);
		/* mixed: the wall time is the client's and the jobs' together;
		 * latency, not speedup, is the measure there. */
		if (seq > 0 && out[b].wall_s > 0 && w != CMP_W_MIXED)
			out[b].speedup = seq / out[b].wall_s;
	}
done:
	free(tasks);
	free(lat);
	free(wall);
	free(cpu);
	free(p50);
	free(p99);
	return failures;
}
