/* SPDX-License-Identifier: MIT */
/*
 * The procs farm: worker processes, as concurrent.futures'
 * ProcessPoolExecutor has them. start() forks the workers (the measured
 * run includes it, as a Python program pays its pool's start-up); each
 * worker gets a pipe for its tasks and one for its results, and runs
 * cmp_farm_serve() over them; finish() closes the task pipes, which ends
 * each worker after its current task, and reaps them.
 *
 * A worker keeps only its own two pipe ends: every other descriptor the
 * program had (servers, sockets, other workers' pipes) is closed in the
 * child, so that a worker cannot keep another worker's pipe, or a client
 * connection, open. It dies with the thread that forked it
 * (PR_SET_PDEATHSIG), so a program that is killed leaves no worker behind.
 *
 * The stop request (farm.h) is one flag in a page shared with every
 * worker (MAP_SHARED | MAP_ANONYMOUS, inherited across fork), as a
 * multiprocessing.Event is shared memory in CPython.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "compare.h"
#include "farm.h"

/* Workers one farm may have (--threads allows as many). */
#define MAX_WORKERS 256

/* How long finish() waits for a worker to end before killing it. */
#define FINISH_LIMIT_NS (10 * SPOOL_NS_PER_S)

struct procs {
	int n;            /* workers started */
	pid_t *pid;       /* each worker's */
	int *to;          /* write end of each worker's task pipe; -1 closed */
	int *from;        /* read end of each worker's result pipe */
	atomic_int *stop; /* in the shared page */
	char why[128];
};

/* Reads exactly n bytes; 0, 1 on end of file before the first byte, or
 * SPOOL_ESYS (end of file inside, or an error). */
static int read_all(int fd, void *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (char *)p + got, n - got);
		if (r > 0)
			got += (size_t)r;
		else if (r == 0)
			return got == 0 ? 1 : SPOOL_ESYS;
		else if (errno != EINTR)
			return SPOOL_ESYS;
	}
	return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
	size_t done = 0;
	while (done < n) {
		ssize_t w = write(fd, (const char *)p + done, n - done);
		if (w > 0)
			done += (size_t)w;
		else if (w < 0 && errno != EINTR)
			return SPOOL_ESYS;
	}
	return 0;
}

/* One whole message: the header says how long it is (its third 32-bit
 * word, farm.c's struct header). */
static int read_message(int fd, void *buf, size_t cap, size_t *len)
{
	int rc = read_all(fd, buf, CMP_FARM_HEADER);
	if (rc)
		return rc;
	uint32_t total;
	memcpy(&total, (const char *)buf + 8, sizeof(total));
	if (total < CMP_FARM_HEADER || total > cap)
		return SPOOL_EINVAL;
	rc = read_all(fd, (char *)buf + CMP_FARM_HEADER,
		      total - CMP_FARM_HEADER);
	if (rc)
		return SPOOL_ESYS;
	*len = total;
	return 0;
}

/* ---- the worker's end ---------------------------------------------------- */

struct worker_end {
	int in, out;
	atomic_int *stop;
};

static int w_recv(void *ctx, void *buf, size_t cap, size_t *len)
{
	struct worker_end *e = ctx;
	return read_message(e->in, buf, cap, len);
}

static int w_send(void *ctx, const void *msg, size_t len)
{
	struct worker_end *e = ctx;
	return write_all(e->out, msg, len);
}

static bool w_stop_requested(void *ctx)
{
	struct worker_end *e = ctx;
	/* Relaxed: a lone flag; a late look costs one more unit of work. */
	return atomic_load_explicit(e->stop, memory_order_relaxed) != 0;
}

/* Closes every descriptor from 3 up except keep_a and keep_b. */
static void close_others(int keep_a, int keep_b)
{
	int lo = keep_a < keep_b ? keep_a : keep_b;
	int hi = keep_a < keep_b ? keep_b : keep_a;
	if (lo > 3)
		close_range(3, (unsigned)lo - 1, 0);
	if (hi > lo + 1)
		close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
	close_range((unsigned)hi + 1, ~0u, 0);
}

static _Noreturn void worker_main(int in, int out, atomic_int *stop,
				  pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent) /* the parent is already gone */
		_exit(1);
	close_others(in, out);
	struct worker_end e = {.in = in, .out = out, .stop = stop};
	struct cmp_farm_endpoint ep = {.recv = w_recv,
				       .send = w_send,
				       .stop_requested = w_stop_requested,
				       .ctx = &e};
	_exit(cmp_farm_serve(&ep) == 0 ? 0 : 1);
}

/* ---- the program's end --------------------------------------------------- */

static void procs_free(struct procs *p)
{
	for (int i = 0; i < p->n; i++) {
		if (p->to[i] >= 0)
			close(p->to[i]);
		close(p->from[i]);
	}
	if (p->stop)
		munmap(p->stop, sizeof(*p->stop));
	free(p->pid);
	free(p->to);
	free(p->from);
	free(p);
}

/* Waits for worker i until deadline, then kills it. Returns 0 if it
 * exited with 0. */
static int reap(struct procs *p, int i, int64_t deadline, char *why,
		size_t why_len)
{
	int status = 0;
	for (;;) {
		pid_t r = waitpid(p->pid[i], &status, WNOHANG);
		if (r == p->pid[i])
			break;
		if (r < 0 && errno != EINTR) {
			snprintf(why, why_len, "worker %d: waitpid: %s", i,
				 strerror(errno));
			return SPOOL_ESYS;
		}
		if (cmp_now_ns() > deadline) {
			kill(p->pid[i], SIGKILL);
			while (waitpid(p->pid[i], &status, 0) < 0 &&
			       errno == EINTR)
				;
			snprintf(why, why_len, "worker %d did not end", i);
			return SPOOL_ETIMEDOUT;
		}
		struct timespec ts = {0, 200000};
		nanosleep(&ts, NULL);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFSIGNALED(status))
		snprintf(why, why_len, "worker %d killed by signal %d", i,
			 WTERMSIG(status));
	else
		snprintf(why, why_len, "worker %d exited with %d", i,
			 WEXITSTATUS(status));
	return SPOOL_ESYS;
}

static int procs_finish(void *farm, char *why, size_t why_len)
{
	struct procs *p = farm;
	if (!p)
		return 0;
	/* End of input: each worker leaves its loop after its current
	 * task. */
	for (int i = 0; i < p->n; i++) {
		close(p->to[i]);
		p->to[i] = -1;
	}
	int first = 0;
	int64_t deadline = cmp_now_ns() + FINISH_LIMIT_NS;
	for (int i = 0; i < p->n; i++) {
		char w[128];
		int rc = reap(p, i, deadline, w, sizeof(w));
		if (rc && !first) {
			first = rc;
			snprintf(why, why_len, "%s", w);
		}
	}
	procs_free(p);
	return first;
}

static int procs_start(void **farm, int workers, char *why, size_t why_len)
{
	*farm = NULL;
	struct procs *p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(why, why_len, "no memory for %d workers", workers);
		return SPOOL_ENOMEM;
	}
	if (workers < 1 || workers > MAX_WORKERS) {
		free(p);
		snprintf(why, why_len, "%d workers: not in 1..%d", workers,
			 MAX_WORKERS);
		return SPOOL_EINVAL;
	}
	p->pid = calloc((size_t)workers, sizeof(*p->pid));
	p->to = calloc((size_t)workers, sizeof(*p->to));
	p->from = calloc((size_t)workers, sizeof(*p->from));
	void *page = mmap(NULL, sizeof(*p->stop), PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	p->stop = page == MAP_FAILED ? NULL : page;
	if (!p->pid || !p->to || !p->from || !p->stop) {
		snprintf(why, why_len, "no memory for %d workers", workers);
		procs_free(p);
		return SPOOL_ENOMEM;
	}
	atomic_init(p->stop, 0);
	pid_t self = getpid();
	for (int i = 0; i < workers; i++) {
		int task[2], result[2];
		if (pipe2(task, O_CLOEXEC) != 0) {
			snprintf(why, why_len, "pipe: %s", strerror(errno));
			procs_finish(p, why, 0);
			return SPOOL_ESYS;
		}
		if (pipe2(result, O_CLOEXEC) != 0) {
			snprintf(why, why_len, "pipe: %s", strerror(errno));
			close(task[0]);
			close(task[1]);
			procs_finish(p, why, 0);
			return SPOOL_ESYS;
		}
		pid_t pid = fork();
		if (pid == 0)
			worker_main(task[0], result[1], p->stop, self);
		close(task[0]);
		close(result[1]);
		if (pid < 0) {
			snprintf(why, why_len, "fork: %s", strerror(errno));
			close(task[1]);
			close(result[0]);
			procs_finish(p, why, 0);
			return SPOOL_ESYS;
		}
		p->pid[i] = pid;
		p->to[i] = task[1];
		p->from[i] = result[0];
		p->n++;
	}
	*farm = p;
	return 0;
}

static int procs_send(void *farm, int w, const void *msg, size_t len)
{
	struct procs *p = farm;
	if (w < 0 || w >= p->n || p->to[w] < 0)
		return SPOOL_EINVAL;
	int rc = write_all(p->to[w], msg, len);
	if (rc)
		snprintf(p->why, sizeof(p->why), "worker %d: write: %s", w,
			 strerror(errno));
	return rc;
}

static int procs_recv(void *farm, int *w, void *buf, size_t cap, size_t *len)
{
	struct procs *p = farm;
	struct pollfd fds[MAX_WORKERS];
	int n = p->n;
	for (int i = 0; i < n; i++)
		fds[i] = (struct pollfd){.fd = p->from[i], .events = POLLIN};
	for (;;) {
		int r = poll(fds, (nfds_t)n, -1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(p->why, sizeof(p->why), "poll: %s",
				 strerror(errno));
			return SPOOL_ESYS;
		}
		for (int i = 0; i < n; i++) {
			if (!fds[i].revents)
				continue;
			int rc = read_message(p->from[i], buf, cap, len);
			if (rc) {
				snprintf(p->why, sizeof(p->why),
					 "worker %d ended before its result",
					 i);
				return rc == 1 ? SPOOL_ESYS : rc;
			}
			*w = i;
			return 0;
		}
	}
}

static void procs_request_stop(void *farm)
{
	struct procs *p = farm;
	/* Relaxed: the workers poll a lone flag. */
	atomic_store_explicit(p->stop, 1, memory_order_relaxed);
}

static const char *procs_why(void *farm)
{
	return ((struct procs *)farm)->why;
}

const struct cmp_farm_ops cmp_procs_farm = {
	.name = "procs",
	.start = procs_start,
	.send = procs_send,
	.recv = procs_recv,
	.request_stop = procs_request_stop,
	.finish = procs_finish,
	.why = procs_why,
};
