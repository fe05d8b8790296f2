/* SPDX-License-Identifier: MIT */
/*
 * The driver's side of the peer-program protocol (see extpeer.h): fork and
 * exec with two pipes, one request and one reply line per run, and a reap
 * at the end so that the program's peak RSS reaches the harness.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* prctl */
#endif

#include "extpeer.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

const char *spool_bench_extpeer_missing(const char *program,
					const char *missing,
					const char *build_hint)
{
	static char why[SPOOL_BENCH_ERRLEN];

	if (missing && *missing)
		return missing;
	if (access(program, X_OK) == 0)
		return NULL;
	snprintf(why, sizeof(why), "%s is not built (%s)", program, build_hint);
	return why;
}

/* The program stopped answering: closes the pipes, reaps it and says how
 * it ended (when: "before it was ready", ...) in err. Returns -1. */
static int ended(spool_bench_extpeer *p, const char *when, char *err)
{
	int st = 0;
	pid_t pid = p->pid;

	p->pid = -1;
	spool_bench_extpeer_stop(p);
	if (pid > 0)
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
	if (pid > 0 && WIFSIGNALED(st))
		return spool_bench_fail(err,
					"the peer program died of signal %d "
					"(%s) %s",
					WTERMSIG(st), strsignal(WTERMSIG(st)),
					when);
	return spool_bench_fail(err,
				"the peer program exited with status %d %s "
				"(see its stderr above)",
				pid > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1,
				when);
}

/* Reads one line of the program's output into line (without its newline).
 * Returns 0, or -1 at the end of its output. */
static int read_line(spool_bench_extpeer *p, char *line, size_t len)
{
	if (!p->from || !fgets(line, (int)len, p->from))
		return -1;
	line[strcspn(line, "\n")] = '\0';
	return 0;
}

/* An "error: ..." line as the message in err. */
static int reported(const char *line, char *err)
{
	if (strncmp(line, "error: ", 7) == 0)
		return spool_bench_fail(err, "%s", line + 7);
	return spool_bench_fail(err, "the peer program said \"%.200s\"", line);
}

int spool_bench_extpeer_start(spool_bench_extpeer *p, const char *program,
			      const char *suite, const char *bench, int threads,
			      int64_t n, char *err)
{
	int to[2], from[2];
	char tbuf[16], nbuf[32], line[SPOOL_BENCH_ERRLEN];
	pid_t parent = getpid();

	p->pid = -1;
	p->to = p->from = NULL;
	if (pipe2(to, O_CLOEXEC) != 0)
		return spool_bench_fail(err, "pipe: %s", strerror(errno));
	if (pipe2(from, O_CLOEXEC) != 0) {
		close(to[0]);
		close(to[1]);
		return spool_bench_fail(err, "pipe: %s", strerror(errno));
	}
	snprintf(tbuf, sizeof(tbuf), "%d", threads);
	snprintf(nbuf, sizeof(nbuf), "%lld", (long long)n);
	fflush(NULL);
	p->pid = fork();
	if (p->pid == 0) {
		/* Killed with its parent (a --timeout, a crash), so that no
		 * program outlives the run it belongs to. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		/* dup2 clears O_CLOEXEC on the copies. */
		if (dup2(to[0], 0) < 0 || dup2(from[1], 1) < 0)
			_exit(127);
		execl(program, program, suite, bench, tbuf, nbuf, (char *)NULL);
		fprintf(stderr, "spool-bench: cannot run %s: %s\n", program,
			strerror(errno));
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	if (p->pid < 0) {
		close(to[1]);
		close(from[0]);
		return spool_bench_fail(err, "fork: %s", strerror(errno));
	}
	/* A program that dies makes a write fail with EPIPE, reported as
	 * its end, instead of killing this process with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	p->to = fdopen(to[1], "w");
	p->from = fdopen(from[0], "r");
	if (!p->to || !p->from) {
		if (!p->to)
			close(to[1]);
		if (!p->from)
			close(from[0]);
		return ended(p, "before it started (fdopen failed)", err);
	}
	if (read_line(p, line, sizeof(line)) != 0)
		return ended(p, "before it was ready", err);
	if (strcmp(line, "ready") != 0) {
		reported(line, err);
		spool_bench_extpeer_stop(p);
		return -1;
	}
	return 0;
}

int spool_bench_extpeer_run(spool_bench_extpeer *p, int64_t m, int64_t *answer,
			    char *err)
{
	char line[SPOOL_BENCH_ERRLEN];
	long long a;
	double cpu;

	if (!p->to)
		return spool_bench_fail(err, "the peer program is not running");
	if (fprintf(p->to, "run %lld\n", (long long)m) < 0 ||
	    fflush(p->to) != 0)
		return ended(p, "before the run", err);
	if (read_line(p, line, sizeof(line)) != 0)
		return ended(p, "during the run", err);
	if (sscanf(line, "ok %lld %lf", &a, &cpu) != 2)
		return reported(line, err);
	*answer = a;
	if (cpu >= 0)
		spool_bench_add_cpu(cpu);
	return 0;
}

void spool_bench_extpeer_stop(spool_bench_extpeer *p)
{
	if (p->to)
		fclose(p->to); /* end of input: the program exits */
	if (p->from)
		fclose(p->from);
	p->to = p->from = NULL;
	if (p->pid > 0)
		while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
			;
	p->pid = -1;
}
