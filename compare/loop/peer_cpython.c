/* SPDX-License-Identifier: MIT */
/*
 * CPython's asyncio on the loop suite's workloads, through loop_bench.py.
 *
 * Setup starts the interpreter on one workload and waits until it reports
 * "ready" (asyncio imported, event loop made, connection open), so neither
 * the interpreter's start nor its imports are timed. The timed run writes
 * "go" and reads "done" (or "error: ..."): the clock covers the workload
 * and one pipe round trip, tens of microseconds. Teardown waits for the
 * interpreter to exit, so the run's peak RSS (the forked child's, which
 * counts the children it reaped) is the interpreter's.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "peer.h"

static const char *const names[NB] = {"switch", "timers", "pingpong",
				      "sleepers", "wakeups"};

struct st {
	pid_t pid;
	FILE *to, *from;
};

static const char *cannot(enum loop_bench b)
{
	(void)b;
	return LOOP_PYTHON[0] ? NULL
			      : "python3 was not found at configure time";
}

/* Reads one line from the interpreter; 0 if it is `want`. */
static int expect(struct st *s, const char *want, char *err)
{
	char line[200];
	if (!fgets(line, sizeof line, s->from)) {
		snprintf(err, LOOP_ERRLEN, "loop_bench.py ended early");
		return -1;
	}
	line[strcspn(line, "\n")] = '\0';
	if (strcmp(line, want) != 0) {
		snprintf(err, LOOP_ERRLEN, "loop_bench.py: %.200s", line);
		return -1;
	}
	return 0;
}

static int setup(enum loop_bench b, int64_t n, void **state, char *err)
{
	int to[2], from[2];
	char nbuf[32];
	struct st *s = calloc(1, sizeof *s);
	if (!s)
		return snprintf(err, LOOP_ERRLEN, "out of memory"), -1;
	*state = s;
	s->pid = -1;
	if (pipe(to) != 0 || pipe(from) != 0)
		return snprintf(err, LOOP_ERRLEN, "pipe: %s", strerror(errno)),
		       -1;
	snprintf(nbuf, sizeof nbuf, "%lld", (long long)n);
	fflush(NULL);
	s->pid = fork();
	if (s->pid < 0)
		return snprintf(err, LOOP_ERRLEN, "fork: %s", strerror(errno)),
		       -1;
	if (s->pid == 0) {
		dup2(to[0], 0);
		dup2(from[1], 1);
		close(to[0]);
		close(to[1]);
		close(from[0]);
		close(from[1]);
		execl(LOOP_PYTHON, LOOP_PYTHON, LOOP_SCRIPT, names[b], nbuf,
		      (char *)NULL);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	s->to = fdopen(to[1], "w");
	s->from = fdopen(from[0], "r");
	if (!s->to || !s->from)
		return snprintf(err, LOOP_ERRLEN, "fdopen failed"), -1;
	return expect(s, "ready", err);
}

static int run(void *state, char *err)
{
	struct st *s = state;
	if (fputs("go\n", s->to) == EOF || fflush(s->to) != 0)
		return snprintf(err, LOOP_ERRLEN, "loop_bench.py is gone"), -1;
	return expect(s, "done", err);
}

static void teardown(void *state)
{
	struct st *s = state;
	if (s->to)
		fclose(s->to); /* end of input: the script exits */
	if (s->from)
		fclose(s->from);
	if (s->pid > 0)
		while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
			;
	free(s);
}

const struct loop_peer loop_peer_cpython = {
	.impl = "cpython",
	.cannot = cannot,
	.setup = setup,
	.run = run,
	.teardown = teardown,
};
