/* SPDX-License-Identifier: MIT */
/*
 * rayon, tokio and Go on the pool suite: programs of their own
 * (compare/peers/), driven over a pipe with the protocol of
 * compare/common/extpeer.h. start launches the program, which starts its
 * runtime with the suite's thread count and prepares the workload for sizes
 * up to n, untimed; each run is one request and one reply, so the driver
 * warms the peer up and times it exactly as it does the peers linked in,
 * and checks the same answers. Why a long-lived program and not one that
 * times itself: the figures then come from the same clock, at the same
 * points, as every other peer's, with one pipe round trip (about 10
 * microseconds) as the only addition, and no answer is taken on trust.
 *
 *   rayon  fib (rayon::join), skynet and nqueens (rayon::scope, a spawn
 *          per child), for_sum and for_map (par_iter), submit (the
 *          outside thread's in_place_scope: spawns into the pool, waits)
 *   tokio  submit: an outside thread spawns onto the multi-thread runtime
 *          through its Handle and awaits every JoinHandle
 *   go     fib, skynet and nqueens: a goroutine per task, GOMAXPROCS =
 *          threads
 */
#include <stdlib.h>

#include "bench.h"
#include "extpeer.h"
#include "peer.h"
#include "peers_config.h"

static const char *const bench_names[POOL_NBENCH] = {
	"fib", "skynet", "nqueens", "submit", "for_sum", "for_map"};

struct ext_state {
	spool_bench_extpeer proc;
};

static const char *missing(const char *program, const char *why)
{
	return spool_bench_extpeer_missing(program, why, SPOOL_PEER_BUILD_HINT);
}

static int ext_start(const char *program, int threads, enum pool_bench b,
		     int64_t n, void **state, char *err)
{
	struct ext_state *s = calloc(1, sizeof(*s));

	if (!s)
		return spool_bench_fail(err, "out of memory");
	if (spool_bench_extpeer_start(&s->proc, program, "pool", bench_names[b],
				      threads, n, err) != 0) {
		free(s);
		return -1;
	}
	*state = s;
	return 0;
}

static int ext_run(void *state, enum pool_bench b, int64_t n, int64_t *answer,
		   char *err)
{
	struct ext_state *s = state;

	(void)b;
	return spool_bench_extpeer_run(&s->proc, n, answer, err);
}

static void ext_stop(void *state)
{
	struct ext_state *s = state;

	spool_bench_extpeer_stop(&s->proc);
	free(s);
}

/* ---- rayon -------------------------------------------------------------- */

static const char *rayon_cannot(enum pool_bench b)
{
	(void)b;
	return missing(SPOOL_PEER_RAYON_PROGRAM, SPOOL_PEER_RAYON_MISSING);
}

static int rayon_start(int threads, enum pool_bench b, int64_t n, void **state,
		       char *err)
{
	return ext_start(SPOOL_PEER_RAYON_PROGRAM, threads, b, n, state, err);
}

const struct pool_peer pool_peer_rayon = {
	"rayon", rayon_cannot, rayon_start, ext_run, ext_stop,
};

/* ---- tokio -------------------------------------------------------------- */

static const char *tokio_cannot(enum pool_bench b)
{
	const char *why = missing(SPOOL_PEER_TOKIO_PROGRAM,
				  SPOOL_PEER_TOKIO_MISSING);

	if (why)
		return why;
	if (b != POOL_SUBMIT)
		return "tokio is a runtime for async I/O tasks: fork-join and "
		       "parallel loops are rayon's (tokio runs submit only)";
	return NULL;
}

static int tokio_start(int threads, enum pool_bench b, int64_t n, void **state,
		       char *err)
{
	return ext_start(SPOOL_PEER_TOKIO_PROGRAM, threads, b, n, state, err);
}

const struct pool_peer pool_peer_tokio = {
	"tokio", tokio_cannot, tokio_start, ext_run, ext_stop,
};

/* ---- go ----------------------------------------------------------------- */

static const char *go_cannot(enum pool_bench b)
{
	const char *why = missing(SPOOL_PEER_GO_PROGRAM, SPOOL_PEER_GO_MISSING);

	if (why)
		return why;
	if (b == POOL_SUBMIT)
		return "Go has no pool that a thread outside it submits to: "
		       "every goroutine starts inside the runtime";
	if (b == POOL_FOR_SUM || b == POOL_FOR_MAP)
		return "Go has no parallel loop; splitting one over goroutines "
		       "by hand would measure this program, not Go";
	return NULL;
}

static int go_start(int threads, enum pool_bench b, int64_t n, void **state,
		    char *err)
{
	return ext_start(SPOOL_PEER_GO_PROGRAM, threads, b, n, state, err);
}

const struct pool_peer pool_peer_go = {
	"go", go_cannot, go_start, ext_run, ext_stop,
};
