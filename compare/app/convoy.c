/* SPDX-License-Identifier: MIT */
/*
 * The convoy workload: how much CPU-bound threads slow down a thread that
 * does a little IO at a time.
 *
 * A client times round trips of CMP_CONVOY_BYTES bytes to an echo server
 * on 127.0.0.1, one after another, pausing CMP_CONVOY_GAP_NS before each
 * (not timed), while k CPU-bound jobs run beside the server (k = 0 ..
 * cfg->convoy_cpus; each job does units of fib, with GIL-model
 * checkpoints inside, until the client is done). The median round trip
 * with k jobs over the same backend's median with none is the convoy
 * factor.
 *
 * The client is the server's peer, another program: it never runs under
 * the GIL model. Were it a thread of the same Python program, the client
 * and the server would hand the lock to each other at every system call,
 * and the CPU threads, woken a little too late each time, would starve
 * instead of the echo (CPython does the same). The pause stands for the
 * time a real server waits between two requests; a client that answers
 * within microseconds never leaves the CPU threads time to take the lock.
 *
 *   seq    k = 0 only: one thread plays client and server in turn (send,
 *          receive on the server's socket, echo, receive): the round
 *          trip's floor, system calls without a single thread wake-up.
 *   pool   the echo server on a pool thread, the jobs on k more, the client
 *          on the calling thread; no GIL.
 *   gil    the same threads, the server and the jobs under one GIL model,
 *          as threads of one Python program: each socket call of the
 *          server releases the lock and takes it back afterwards
 *          (Py_BEGIN/END_ALLOW_THREADS around recv and send). With a
 *          CPU-bound holder, that take waits until the holder drops the
 *          lock: after a switch interval the waiter sets the drop request,
 *          the holder sees it at its next checkpoint and hands over
 *          (gil.c). A round trip has one such take that must wait (after
 *          the recv that brought the request, the jobs having held the lock
 *          during the pause) and another one when a job wins the lock
 *          while the server is in its send.
 *   loop   the echo served by a coroutine on the event loop, the client a
 *          coroutine on the same loop, the jobs handed to a pool of k
 *          workers with spool_loop_run_in_executor (asyncio with
 *          run_in_executor(ProcessPoolExecutor) in CPython); no GIL. (A
 *          job on the loop itself would never yield, and the echo would
 *          wait for it to end: the mixed workload shows that.)
 *   procs  the jobs in k worker processes (farm.h), the server thread of
 *          this process under the GIL model, as a thread of a Python
 *          program that hands its CPU work to a ProcessPoolExecutor is:
 *          the lock is its alone.
 *   mpi    the same with the jobs on k MPI ranks (the mpi farm, when
 *          built with MPI).
 *
 * Sockets: threads use blocking sockets, so that a receive is one system
 * call with the lock released around it, as a socket without a timeout is
 * in CPython (with a timeout, CPython polls first and releases the lock
 * twice); every blocking call is bounded by a 10 s SO_RCVTIMEO/SO_SNDTIMEO.
 * The loop's sockets are non-blocking and its waits suspend the coroutine.
 *
 * Only the round trips are timed: setting up the threads, processes and
 * the connection, and one untimed round trip to warm up, come before.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spool.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "compare.h"
#include "farm.h"
#include "gil.h"
#include "task.h"
#include "workloads.h"

#define IO_TIMEOUT_NS (10 * SPOOL_NS_PER_S)
/* Time given to worker processes to receive their jobs and start them
 * before the round trips are timed (threads say when they have begun). */
#define PROCS_SETTLE_NS (20 * SPOOL_NS_PER_MS)

struct conv {
	const struct cmp_config *cfg;
	int backend, cpus;
	struct cmp_gil *gil; /* gil, procs, mpi: the model the threads run
				under */
	bool on_loop;        /* non-blocking sockets, waits suspend */
	atomic_bool stop;    /* the jobs end at their next unit */
	atomic_int started;  /* in-process jobs that have begun */
	int lfd;             /* listening socket */
	uint16_t port;
	int cfd;        /* the client's end of the connection */
	int sfd;        /* seq: the server's end, served in turn; else -1 */
	int64_t *rtt;   /* round trips, cfg->round_trips of them */
	uint64_t sum;   /* of the echoed values: the checksum */
	int64_t t0, t1; /* the timed round trips began and ended */
	bool timeline;  /* record round trips as timeline spans */
	struct cmp_task_spec job; /* what each CPU job runs (SPIN_CPU) */
	uint64_t units[CMP_CONVOY_MAX_CPUS]; /* each job's, at its end */
	spool_loop *loop;
	spool_executor *cpu_ex;         /* loop: where the jobs go */
	const struct cmp_farm_ops *ops; /* procs, mpi: the jobs' farm */
	void *farm;                     /* its workers */
	int server_rc, client_rc;
	char why[96];
};

/* ---- sockets ---------------------------------------------------------------
 * Every call that may block releases the GIL model's lock around itself,
 * as CPython's socket module does; on a thread that holds none (pool,
 * loop) the brackets do nothing. */

static void set_timeouts(int fd)
{
	struct timeval tv = {IO_TIMEOUT_NS / SPOOL_NS_PER_S, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void no_delay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* recv(2) or send(2) of up to n bytes: blocks a thread (lock released),
 * suspends a coroutine on EAGAIN. Returns the count, 0 at end of file (a
 * receive), or -1 with why set. */
static ssize_t conv_io(struct conv *c, int fd, void *p, size_t n, bool out)
{
	for (;;) {
		int flags = c->on_loop ? MSG_DONTWAIT : 0;
		cmp_gil_blocking_begin();
		ssize_t r = out ? send(fd, p, n, flags | MSG_NOSIGNAL)
				: recv(fd, p, n, flags);
		int e = errno;
		cmp_gil_blocking_end();
		if (r >= 0)
			return r;
		if (e == EINTR)
			continue;
		if (c->on_loop && (e == EAGAIN || e == EWOULDBLOCK)) {
			int rc = cmp_io_wait(fd, out, IO_TIMEOUT_NS);
			if (rc == 0)
				continue;
			snprintf(c->why, sizeof(c->why), "waiting to %s: %s",
				 out ? "send" : "receive", spool_err_name(rc));
			return -1;
		}
		snprintf(c->why, sizeof(c->why), "%s: %s",
			 out ? "send" : "recv", strerror(e));
		return -1;
	}
}

/* Moves exactly n bytes; 0, or -1 (why set; a receive that met the end of
 * file says so). */
static int conv_all(struct conv *c, int fd, void *p, size_t n, bool out)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = conv_io(c, fd, (uint8_t *)p + done, n - done, out);
		if (r < 0)
			return -1;
		if (r == 0) {
			snprintf(c->why, sizeof(c->why),
				 "connection closed early");
			return -1;
		}
		done += (size_t)r;
	}
	return 0;
}

static int listen_socket(struct conv *c)
{
	int fd = socket(AF_INET,
			SOCK_STREAM | SOCK_CLOEXEC |
				(c->on_loop ? SOCK_NONBLOCK : 0),
			0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(fd, 4) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
		snprintf(c->why, sizeof(c->why), "listen on 127.0.0.1: %s",
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	set_timeouts(fd); /* bounds a blocking accept too */
	c->lfd = fd;
	c->port = ntohs(a.sin_port);
	return 0;
}

/* The server's end: accepts the one connection. */
static int accept_conn(struct conv *c)
{
	for (;;) {
		cmp_gil_blocking_begin();
		int fd = accept4(c->lfd, NULL, NULL,
				 SOCK_CLOEXEC |
					 (c->on_loop ? SOCK_NONBLOCK : 0));
		int e = errno;
		cmp_gil_blocking_end();
		if (fd >= 0) {
			no_delay(fd);
			set_timeouts(fd);
			return fd;
		}
		if (e == EINTR)
			continue;
		if (c->on_loop && (e == EAGAIN || e == EWOULDBLOCK) &&
		    cmp_io_wait(c->lfd, 0, IO_TIMEOUT_NS) == 0)
			continue;
		snprintf(c->why, sizeof(c->why), "accept: %s", strerror(e));
		return -1;
	}
}

/* The client's end: connects to the server. */
static int connect_conn(struct conv *c)
{
	int fd = socket(AF_INET,
			SOCK_STREAM | SOCK_CLOEXEC |
				(c->on_loop ? SOCK_NONBLOCK : 0),
			0);
	if (fd < 0) {
		snprintf(c->why, sizeof(c->why), "socket: %s", strerror(errno));
		return -1;
	}
	no_delay(fd);
	set_timeouts(fd);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(c->port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cmp_gil_blocking_begin();
	int r = connect(fd, (struct sockaddr *)&a, sizeof(a));
	int e = errno;
	cmp_gil_blocking_end();
	if (r != 0 && c->on_loop && e == EINPROGRESS) {
		int err = 0;
		socklen_t el = sizeof(err);
		if (cmp_io_wait(fd, 1, IO_TIMEOUT_NS) == 0 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 &&
		    err == 0)
			r = 0;
		else
			e = err ? err : ETIMEDOUT;
	}
	if (r != 0) {
		snprintf(c->why, sizeof(c->why), "connect: %s", strerror(e));
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- the three roles -------------------------------------------------------
 */

/* The echo server: one connection, each chunk sent back as it came, until
 * the client closes its end. */
static int serve(struct conv *c)
{
	int fd = accept_conn(c);
	if (fd < 0)
		return -1;
	uint8_t buf[64];
	int rc = 0;
	for (;;) {
		ssize_t n = conv_io(c, fd, buf, sizeof(buf), false);
		if (n <= 0) {
			rc = n < 0 ? -1 : 0;
			break;
		}
		if (conv_all(c, fd, buf, (size_t)n, true)) {
			rc = -1;
			break;
		}
	}
	close(fd);
	return rc;
}

static uint64_t value_of(const struct conv *c, int k)
{
	return cmp_mix64(c->cfg->seed * 131 + (uint64_t)k);
}

/* One round trip of value v; 0, or -1 with why set. */
static int round_trip(struct conv *c, uint64_t v)
{
	uint8_t in[CMP_CONVOY_BYTES];
	if (conv_all(c, c->cfd, &v, sizeof(v), true))
		return -1;
	/* seq: the same thread echoes, between its send and its receive. */
	if (c->sfd >= 0 && (conv_all(c, c->sfd, in, sizeof(in), false) ||
			    conv_all(c, c->sfd, in, sizeof(in), true)))
		return -1;
	if (conv_all(c, c->cfd, in, sizeof(in), false))
		return -1;
	if (memcmp(in, &v, sizeof(v)) != 0) {
		snprintf(c->why, sizeof(c->why), "the echo differs");
		return -1;
	}
	return 0;
}

/* The timed round trips. The jobs are running (or about to be) when it
 * begins; it stops them when done. */
static int timed_round_trips(struct conv *c)
{
	int rc = round_trip(c, value_of(c, -1)); /* warm-up */
	c->t0 = cmp_now_ns();
	for (int k = 0; k < c->cfg->round_trips && rc == 0; k++) {
		uint64_t v = value_of(c, k);
		cmp_io_sleep(CMP_CONVOY_GAP_NS);
		int64_t b = cmp_now_ns();
		rc = round_trip(c, v);
		int64_t e = cmp_now_ns();
		c->rtt[k] = e - b;
		c->sum += cmp_mix64(v + (uint64_t)k);
		if (c->timeline)
			cmp_timeline_record(CMP_SPAN_TASK, k, b, e);
	}
	c->t1 = cmp_now_ns();
	return rc;
}

/* Waits (lock released) until every in-process job has begun, so that
 * the round trips are timed beside all of them. */
static void wait_for_jobs(struct conv *c)
{
	int64_t until = cmp_now_ns() + IO_TIMEOUT_NS;
	while (atomic_load(&c->started) < c->cpus && cmp_now_ns() < until)
		cmp_io_sleep(100 * 1000);
}

/* The client: connects, waits for the jobs, times the round trips, then
 * stops the jobs and closes its end, which ends the server. */
static int client(struct conv *c, bool in_process_jobs)
{
	c->cfd = connect_conn(c);
	int rc = c->cfd < 0 ? -1 : 0;
	if (rc == 0) {
		if (in_process_jobs)
			wait_for_jobs(c);
		else if (c->cpus > 0)
			cmp_io_sleep(PROCS_SETTLE_NS);
		rc = timed_round_trips(c);
	}
	atomic_store(&c->stop, true);
	if (c->cfd >= 0)
		close(c->cfd);
	c->cfd = -1;
	return rc;
}

/* Called by an in-process job between two units of work. */
static bool stop_requested(void *arg)
{
	struct conv *c = arg;
	/* Relaxed: a lone flag; a late look costs one more unit. */
	return atomic_load_explicit(&c->stop, memory_order_relaxed);
}

/* ---- threads: pool, gil, procs, mpi -------------------------------------- */

struct job {
	struct conv *c;
	int i; /* -1: the server */
};

/* A pool task: the server or a CPU job, holding the model's lock
 * throughout when there is one (a Python thread runs Python). */
static int thread_fn(void *arg, void **result)
{
	struct job *j = arg;
	struct conv *c = j->c;
	*result = NULL;
	if (c->gil)
		cmp_gil_acquire(c->gil);
	if (j->i < 0) {
		c->server_rc = serve(c);
	} else {
		atomic_fetch_add(&c->started, 1);
		cmp_task_run(&c->job, stop_requested, c, &c->units[j->i]);
	}
	if (c->gil)
		cmp_gil_release(c->gil);
	return 0;
}

/* The client on the calling thread, outside the model: the peer that
 * sends the requests is another program. */
static int client_thread(struct conv *c, bool in_process_jobs)
{
	return client(c, in_process_jobs);
}

static void farm_client(void *arg)
{
	struct conv *c = arg;
	c->client_rc = client_thread(c, false);
	c->ops->request_stop(c->farm);
}

/* Runs the server (and, unless the jobs are in processes, the jobs) on a
 * pool, the client here. */
static int run_threads(struct conv *c)
{
	bool procs = c->ops != NULL; /* the jobs in a farm */
	int threads = 1 + (procs ? 0 : c->cpus);
	struct job jobs[1 + CMP_CONVOY_MAX_CPUS];
	spool_future *fs[1 + CMP_CONVOY_MAX_CPUS] = {0};
	spool_pool *pool;
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = threads;
	o.name = c->gil ? "gil" : "worker";
	int rc = spool_pool_create(&pool, &o);
	if (rc) {
		snprintf(c->why, sizeof(c->why), "pool: %s",
			 spool_err_name(rc));
		return -1;
	}
	for (int i = 0; i < threads; i++) {
		jobs[i] = (struct job){c, i - 1};
		fs[i] = spool_submit_labeled(
			spool_pool_executor(pool), thread_fn, &jobs[i],
			i == 0 ? "echo server" : "CPU job");
	}
	if (procs && c->cpus > 0) {
		/* The jobs go to worker processes; the client runs here
		 * while they do (cmp_farm_run's meanwhile). */
		char why[96] = "";
		struct cmp_task_spec specs[CMP_CONVOY_MAX_CPUS];
		for (int i = 0; i < c->cpus; i++) {
			specs[i] = c->job;
			specs[i].index = i;
		}
		rc = c->ops->start(&c->farm, c->cpus, why, sizeof(why));
		if (rc == 0) {
			rc = cmp_farm_run(c->ops, c->farm, c->cpus, specs,
					  c->cpus, c->cfg->pickle_bytes,
					  c->units, farm_client, c);
			if (rc && rc != SPOOL_EINVAL)
				snprintf(why, sizeof(why), "%s",
					 c->ops->why(c->farm));
			c->ops->request_stop(c->farm);
			int frc = c->ops->finish(c->farm, why, sizeof(why));
			c->farm = NULL;
			rc = rc ? rc : frc;
		}
		if (rc && !c->why[0])
			snprintf(c->why, sizeof(c->why), "%s workers: %.76s",
				 c->ops->name,
				 why[0] ? why : spool_err_name(rc));
	} else {
		c->client_rc = client_thread(c, true);
	}
	/* If the client never connected, the server still waits in accept:
	 * a connection closed at once ends it. */
	if (c->client_rc || rc) {
		atomic_store(&c->stop, true);
		int fd = connect_conn(c);
		if (fd >= 0)
			close(fd);
	}
	for (int i = 0; i < threads; i++) {
		if (fs[i])
			spool_future_wait(fs[i], SPOOL_FOREVER);
		spool_future_release(fs[i]);
	}
	spool_pool_destroy(pool);
	return rc || c->client_rc || c->server_rc ? -1 : 0;
}

/* ---- the loop ----------------------------------------------------------- */

static int loop_job_fn(void *arg, void **result)
{
	struct job *j = arg;
	struct conv *c = j->c;
	*result = NULL;
	atomic_fetch_add(&c->started, 1);
	return cmp_task_run(&c->job, stop_requested, c, &c->units[j->i]);
}

static int loop_server_fn(void *arg, void **result)
{
	struct conv *c = arg;
	*result = NULL;
	c->server_rc = serve(c);
	return 0;
}

/* The loop's main coroutine: starts the server coroutine and hands the
 * jobs to the executor, then is the client. */
static int loop_main(void *arg, void **result)
{
	struct conv *c = arg;
	struct job jobs[CMP_CONVOY_MAX_CPUS];
	spool_future *jf[CMP_CONVOY_MAX_CPUS] = {0};
	*result = NULL;
	spool_future *srv = spool_submit_labeled(
		spool_loop_executor(c->loop), loop_server_fn, c, "echo server");
	for (int i = 0; i < c->cpus; i++) {
		jobs[i] = (struct job){c, i};
		jf[i] = spool_loop_run_in_executor(c->loop, c->cpu_ex,
						   loop_job_fn, &jobs[i]);
	}
	c->client_rc = client(c, true);
	if (c->client_rc) { /* the server may still wait to accept */
		int fd = connect_conn(c);
		if (fd >= 0)
			close(fd);
	}
	if (srv)
		spool_future_wait(srv, SPOOL_FOREVER);
	spool_future_release(srv);
	for (int i = 0; i < c->cpus; i++) {
		if (jf[i])
			spool_future_wait(jf[i], SPOOL_FOREVER);
		spool_future_release(jf[i]);
	}
	return srv ? 0 : SPOOL_ENOMEM;
}

static int run_loop(struct conv *c)
{
	spool_pool *pool = NULL;
	int rc = spool_loop_create(&c->loop, NULL);
	if (rc == 0 && c->cpus > 0) {
		spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
		o.workers = c->cpus;
		o.name = "executor";
		rc = spool_pool_create(&pool, &o);
		if (rc == 0)
			c->cpu_ex = spool_pool_executor(pool);
	}
	if (rc == 0) {
		spool_future *f = spool_submit_labeled(
			spool_loop_executor(c->loop), loop_main, c, "main");
		rc = f ? spool_loop_run_until_complete(c->loop, f)
		       : SPOOL_ENOMEM;
		if (rc == 0)
			rc = spool_future_result(f, 0, NULL);
		spool_future_release(f);
	}
	if (rc && !c->why[0])
		snprintf(c->why, sizeof(c->why), "loop: %s",
			 spool_err_name(rc));
	spool_pool_destroy(pool);
	spool_loop_destroy(c->loop);
	c->loop = NULL;
	c->cpu_ex = NULL;
	return rc || c->client_rc || c->server_rc ? -1 : 0;
}

/* ---- seq ------------------------------------------------------------------
 */

static int run_seq(struct conv *c)
{
	c->cfd = connect_conn(c); /* the backlog completes it */
	if (c->cfd < 0)
		return -1;
	c->sfd = accept_conn(c);
	int rc = c->sfd < 0 ? -1 : timed_round_trips(c);
	if (c->sfd >= 0)
		close(c->sfd);
	close(c->cfd);
	c->sfd = c->cfd = -1;
	return rc;
}

/* ---- measuring ------------------------------------------------------------
 */

struct sample {
	double p50_ms, p99_ms, wall_s;
	uint64_t sum;
	struct cmp_gil_stats gil;
};

static void gil_span(void *arg, int64_t begin, int64_t end)
{
	(void)arg;
	cmp_timeline_record(CMP_SPAN_GIL, -1, begin, end);
}

/* One run of backend b beside k jobs; rtt has room for the round trips.
 * Returns 0 or -1 with why set. */
static int measure(const struct cmp_config *cfg, int b, int k, int64_t *rtt,
		   bool timeline, struct sample *out, char *why, size_t why_len)
{
	struct conv c = {.cfg = cfg,
			 .backend = b,
			 .cpus = k,
			 .on_loop = b == CMP_B_LOOP,
			 .lfd = -1,
			 .cfd = -1,
			 .sfd = -1,
			 .rtt = rtt,
			 .timeline = timeline};
	atomic_init(&c.stop, false);
	atomic_init(&c.started, 0);
	c.job = (struct cmp_task_spec){.workload = CMP_W_CONVOY,
				       .kind = CMP_TASK_SPIN_CPU,
				       .seed = cfg->seed};
	memset(out, 0, sizeof(*out));
	if (b == CMP_B_PROCS)
		c.ops = &cmp_procs_farm;
#ifdef CMP_HAVE_MPI
	if (b == CMP_B_MPI)
		c.ops = &cmp_mpi_farm;
#endif
	if ((b == CMP_B_GIL || b == CMP_B_PROCS || b == CMP_B_MPI) &&
	    cmp_gil_create(&c.gil, cfg->switch_interval_ns)) {
		snprintf(why, why_len, "cannot create the GIL model");
		return -1;
	}
	if (timeline) {
		cmp_timeline_start();
		if (c.gil)
			cmp_gil_set_observer(c.gil, gil_span, NULL);
	}
	int rc = listen_socket(&c);
	if (rc == 0) {
		if (b == CMP_B_SEQ)
			rc = run_seq(&c);
		else if (b == CMP_B_LOOP)
			rc = run_loop(&c);
		else
			rc = run_threads(&c);
	}
	if (timeline)
		cmp_timeline_stop();
	if (c.lfd >= 0)
		close(c.lfd);
	if (c.gil) {
		cmp_gil_stats_get(c.gil, &out->gil);
		cmp_gil_destroy(c.gil);
	}
	if (rc) {
		snprintf(why, why_len, "%s", c.why[0] ? c.why : "failed");
		return -1;
	}
	int n = cfg->round_trips;
	cmp_sort_ns(rtt, n);
	out->p50_ms = cmp_percentile_ms(rtt, n, 50);
	out->p99_ms = cmp_percentile_ms(rtt, n, 99);
	out->wall_s = (double)(c.t1 - c.t0) / 1e9;
	out->sum = c.sum;
	return 0;
}

int cmp_run_convoy(const struct cmp_config *cfg, struct cmp_convoy_result *out,
		   int max, int *n_out)
{
	int kmax = cfg->convoy_cpus;
	if (kmax < 0)
		kmax = 0;
	if (kmax > CMP_CONVOY_MAX_CPUS)
		kmax = CMP_CONVOY_MAX_CPUS;
	int n = 0;
	for (int b = 0; b < CMP_B_COUNT; b++) {
		if (!(cfg->backends & (1u << b)) ||
		    !cmp_backend_applies(CMP_W_CONVOY, b))
			continue;
		for (int k = 0; k <= (b == CMP_B_SEQ ? 0 : kmax) && n < max;
		     k++)
			out[n++] = (struct cmp_convoy_result){
				.backend = b,
				.cpu_threads = k,
				.ok = true,
				.runs = cfg->runs,
				.round_trips = cfg->round_trips};
	}
	*n_out = n;
	int runs = cfg->runs, failures = 0;
	int64_t *rtt = calloc((size_t)cfg->round_trips, sizeof(*rtt));
	struct sample *s = calloc((size_t)(n * runs) + 1, sizeof(*s));
	double *v = calloc((size_t)runs, sizeof(*v));
	if (!rtt || !s || !v) {
		for (int i = 0; i < n; i++) {
			out[i].ok = false;
			snprintf(out[i].error, sizeof(out[i].error),
				 "out of memory");
		}
		free(rtt);
		free(s);
		free(v);
		return n;
	}
	/* Interleaved: each run measures every row once, the backends side
	 * by side for each number of jobs. */
	for (int run = 0; run < runs; run++)
		for (int k = 0; k <= kmax; k++)
			for (int i = 0; i < n; i++) {
				struct cmp_convoy_result *r = &out[i];
				if (r->cpu_threads != k || !r->ok)
					continue;
				bool tl = run == 0 &&
					  cfg->timeline_workload ==
						  CMP_W_CONVOY &&
					  cfg->timeline_backend == r->backend &&
					  k == (r->backend == CMP_B_SEQ ||
								kmax < 1
							? 0
							: 1);
				struct sample *x = &s[i * runs + run];
				char why[96];
				if (measure(cfg, r->backend, k, rtt, tl, x, why,
					    sizeof(why))) {
					r->ok = false;
					snprintf(r->error, sizeof(r->error),
						 "run %d: %.72s", run + 1, why);
					failures++;
					continue;
				}
				if (run > 0 && x->sum != s[i * runs].sum) {
					r->ok = false;
					snprintf(r->error, sizeof(r->error),
						 "checksum changed between "
						 "runs");
					failures++;
				}
			}
	for (int i = 0; i < n; i++) {
		struct cmp_convoy_result *r = &out[i];
		if (!r->ok)
			continue;
		const struct sample *x = &s[i * runs];
		r->checksum = x[0].sum;
		r->gil_switches = x[0].gil.switches;
		r->gil_drop_requests = x[0].gil.drop_requests;
#define MEDIAN(field, dst)                                                     \
	do {                                                                   \
		for (int k = 0; k < runs; k++)                                 \
			v[k] = x[k].field;                                     \
		r->dst = cmp_median(v, runs);                                  \
	} while (0)
		MEDIAN(p50_ms, p50_ms);
		MEDIAN(p99_ms, p99_ms);
		MEDIAN(wall_s, wall_s);
#undef MEDIAN
	}
	for (int i = 0; i < n; i++) {
		struct cmp_convoy_result *r = &out[i];
		for (int j = 0; j < n && r->ok; j++)
			if (out[j].backend == r->backend &&
			    out[j].cpu_threads == 0 && out[j].ok &&
			    out[j].p50_ms > 0)
				r->factor = r->p50_ms / out[j].p50_ms;
	}
	free(rtt);
	free(s);
	free(v);
	return failures;
}
