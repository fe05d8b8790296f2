/* SPDX-License-Identifier: MIT */
/*
 * tokio and Go on the loop suite: programs of their own (compare/peers/),
 * driven over a pipe with the protocol of compare/common/extpeer.h, like
 * CPython's peer. Setup starts the program on one workload, which makes its
 * runtime (tokio's current-thread runtime; Go with GOMAXPROCS 1) and, for
 * pingpong, the connection, before it says "ready"; the timed run is one
 * request and its reply, whose answer (timers fired, round trips, ...) is
 * checked here, while the program checks the rest (no timer early, every
 * echo equal). Teardown ends and reaps the program, so the run's peak RSS
 * is the program's.
 *
 *   tokio  switch (yield_now), timers (a task per timer awaiting
 *          sleep_until), pingpong, sleepers, wakeups (another thread
 *          spawns through the runtime's Handle)
 *   go     switch (runtime.Gosched), timers (time.AfterFunc), pingpong,
 *          sleepers; not wakeups
 */
#include <stdlib.h>

#include "bench.h"
#include "extpeer.h"
#include "peer.h"
#include "peers_config.h"

static const char *const names[NB] = {"switch", "timers", "pingpong",
				      "sleepers", "wakeups"};

struct ext_state {
	spool_bench_extpeer proc;
	enum loop_bench bench;
	int64_t n;
};

static int ext_setup(const char *program, enum loop_bench b, int64_t n,
		     void **state, char *err)
{
	struct ext_state *s = calloc(1, sizeof(*s));

	if (!s)
		return spool_bench_fail(err, "out of memory");
	s->bench = b;
	s->n = n;
	/* One thread runs the workload (Go: GOMAXPROCS 1); wakeups' other
	 * thread is the program's own. */
	if (spool_bench_extpeer_start(&s->proc, program, "loop", names[b], 1, n,
				      err) != 0) {
		free(s);
		return -1;
	}
	*state = s;
	return 0;
}

static int ext_run(void *state, char *err)
{
	struct ext_state *s = state;
	int64_t got = -1, want = s->n;

	if (s->bench == B_SWITCH)
		want = s->n / LOOP_COROUTINES * LOOP_COROUTINES;
	if (spool_bench_extpeer_run(&s->proc, s->n, &got, err) != 0)
		return -1;
	if (got != want)
		return spool_bench_fail(err, "wrong outcome: %lld of %lld done",
					(long long)got, (long long)want);
	return 0;
}

static void ext_teardown(void *state)
{
	struct ext_state *s = state;

	spool_bench_extpeer_stop(&s->proc);
	free(s);
}

/* ---- tokio -------------------------------------------------------------- */

static const char *tokio_cannot(enum loop_bench b)
{
	(void)b;
	return spool_bench_extpeer_missing(SPOOL_PEER_TOKIO_PROGRAM,
					   SPOOL_PEER_TOKIO_MISSING,
					   SPOOL_PEER_BUILD_HINT);
}

static int tokio_setup(enum loop_bench b, int64_t n, void **state, char *err)
{
	return ext_setup(SPOOL_PEER_TOKIO_PROGRAM, b, n, state, err);
}

const struct loop_peer loop_peer_tokio = {
	.impl = "tokio",
	.cannot = tokio_cannot,
	.setup = tokio_setup,
	.run = ext_run,
	.teardown = ext_teardown,
};

/* ---- go ----------------------------------------------------------------- */

static const char *go_cannot(enum loop_bench b)
{
	const char *why = spool_bench_extpeer_missing(SPOOL_PEER_GO_PROGRAM,
						      SPOOL_PEER_GO_MISSING,
						      SPOOL_PEER_BUILD_HINT);

	if (why)
		return why;
	if (b == B_WAKEUPS)
		return "Go has no loop that another OS thread wakes: a "
		       "goroutine is woken by a channel inside the runtime";
	return NULL;
}

static int go_setup(enum loop_bench b, int64_t n, void **state, char *err)
{
	return ext_setup(SPOOL_PEER_GO_PROGRAM, b, n, state, err);
}

const struct loop_peer loop_peer_go = {
	.impl = "go",
	.cannot = go_cannot,
	.setup = go_setup,
	.run = ext_run,
	.teardown = ext_teardown,
};
