/* SPDX-License-Identifier: MIT */
/*
 * The loop suite's workloads and the interface every implementation of them
 * ("peer") provides: spool's loop, libuv, bare swapcontext, CPython's
 * asyncio (driven through loop_bench.py), and tokio and Go (programs of
 * their own, compare/peers/, driven by peer_ext.c).
 *
 * Workloads (the same shape in every peer, so only the runtime differs):
 *   switch    100 coroutines on one loop, each yielding n / 100 times
 *             (spool_sleep(0), `await asyncio.sleep(0)`): n yields, each
 *             handing the CPU to the next ready coroutine (spool: one
 *             register switch straight into it, and once per round of the
 *             ring a trip through the loop's scheduler and its iteration);
 *             swapcontext passes control n times round a ring of as many
 *             contexts, the bare switch with no loop around it.
 *   timers    n one-shot timers with delays (i * 7919) mod 100 ms, scheduled
 *             inside the timed part; every one must fire, none early.
 *   pingpong  n round trips of a 64-byte message between a client and an
 *             echo server on one loop, over TCP on 127.0.0.1 (TCP_NODELAY),
 *             connected before the clock starts; every reply is checked.
 *   sleepers  n coroutines (libuv: timers with callbacks, it has no
 *             coroutines) that each sleep 100 ms, all at once; the time and
 *             the peak RSS, which the summary turns into memory per sleeper
 *             against a run with n = 1.
 *   wakeups   n round trips between another thread and the loop: the thread
 *             wakes the loop with a callback (call_soon_threadsafe,
 *             uv_async_send) and waits on a semaphore that the callback
 *             posts.
 *
 * The driver (main.c) runs setup, the timed run and teardown in a forked
 * child per run, so the figures include no other peer's heap or threads.
 */
#ifndef SPOOL_BENCH_LOOP_PEER_H
#define SPOOL_BENCH_LOOP_PEER_H

#include <stdint.h>

enum loop_bench { B_SWITCH, B_TIMERS, B_PINGPONG, B_SLEEPERS, B_WAKEUPS, NB };

/* The switch workload's number of coroutines. */
#define LOOP_COROUTINES 100
/* The pingpong message size, bytes. */
#define LOOP_MSG 64
/* How long each sleeper sleeps, ms. */
#define LOOP_SLEEP_MS 100

/* Timer i's delay in ms: spread over 0..99 in an order unlike the
 * scheduling order. */
static inline int64_t loop_timer_delay_ms(int64_t i)
{
	return (i * 7919) % 100;
}

struct loop_peer {
	const char *impl; /* as in the JSON lines */
	/* Why this peer does not run bench b (a static string), or NULL. */
	const char *(*cannot)(enum loop_bench b);
	/* Prepares one run of b at size n (untimed); *state for the rest.
	 * Returns 0, or nonzero with a message in err. */
	int (*setup)(enum loop_bench b, int64_t n, void **state, char *err);
	/* The timed part: runs the workload and checks its outcome. Returns
	 * 0, or nonzero with a message in err. */
	int (*run)(void *state, char *err);
	/* Frees the state (untimed). */
	void (*teardown)(void *state);
};

extern const struct loop_peer loop_peer_spool;
extern const struct loop_peer loop_peer_spool_shared;
extern const struct loop_peer loop_peer_libuv;
extern const struct loop_peer loop_peer_swapcontext;
extern const struct loop_peer loop_peer_cpython;
extern const struct loop_peer loop_peer_tokio;
extern const struct loop_peer loop_peer_go;

/* Room for an error message: SPOOL_BENCH_ERRLEN (checked in main.c). */
#define LOOP_ERRLEN 256

/* A connected pair of TCP sockets on 127.0.0.1 with TCP_NODELAY, both
 * non-blocking: fd[0] the client, fd[1] the server's accepted end. Returns 0
 * or -1 with a message in err. */
int loop_tcp_pair(int fd[2], char *err);

#endif /* SPOOL_BENCH_LOOP_PEER_H */
