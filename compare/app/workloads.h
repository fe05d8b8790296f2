/* SPDX-License-Identifier: MIT */
/*
 * The workload functions. Each is written once and runs unchanged on every
 * backend: on a pool thread it blocks the thread, in a loop coroutine it
 * suspends the coroutine (spool_sleep, waits on sockets), and under the GIL
 * model it passes checkpoints between small units of CPU work and releases
 * the lock around every blocking call, as CPython code does.
 */
#ifndef CMP_WORKLOADS_H
#define CMP_WORKLOADS_H

#include <stddef.h>
#include <stdint.h>

/* SplitMix64's finaliser: a cheap, well-mixed 64-bit hash of x. */
uint64_t cmp_mix64(uint64_t x);

/* fib(n), recursively, one call per node, with a GIL checkpoint in every
 * call above a small cut-off (the units of work between checkpoints are a
 * few microseconds). n must be in [0, 60]. */
uint64_t cmp_fib(int n);

/* FNV-1a (Fowler-Noll-Vo, 64-bit) over buf, `rounds` times, each round
 * starting from the previous round's hash mixed with seed; a checkpoint
 * after every round. */
uint64_t cmp_fnv1a_rounds(const uint8_t *buf, size_t len, int rounds,
			  uint64_t seed);

/* Fills buf with the hash workload's data for seed: every backend, and
 * every worker process, derives the same bytes. */
void cmp_hash_buffer_fill(uint8_t *buf, size_t len, uint64_t seed);

/* Sleeps ns: spool_sleep() (suspends a coroutine, blocks a thread), with the
 * GIL model's lock released meanwhile. Returns 0 or a spool error. */
int cmp_io_sleep(int64_t ns);

/* Waits until fd is readable (write false) or writable, at most timeout_ns:
 * suspends a coroutine, polls on a thread, GIL released meanwhile.
 * Returns 0, SPOOL_ETIMEDOUT or another spool error. */
int cmp_io_wait(int fd, int write, int64_t timeout_ns);

/* One request to the delay server on 127.0.0.1:port: connect, send value
 * (8 bytes), read the 8-byte reply, close. Every socket call releases the
 * GIL model's lock, as CPython's socket module does. Returns 0 with *reply
 * set, or a negative spool error (SPOOL_ESYS, SPOOL_ETIMEDOUT). */
int cmp_io_request(uint16_t port, uint64_t value, int64_t timeout_ns,
		   uint64_t *reply);

/* What the server answers to value: the client checks it. */
uint64_t cmp_server_answer(uint64_t value);

/* ---- the local delay server (server.c) ---------------------------------- */

struct cmp_server;

/* Starts a server thread listening on 127.0.0.1 on an ephemeral port: it
 * answers each request delay_ns after it arrived, many at a time (one epoll
 * thread with a timerfd). Returns 0 or -1 (errno-style failure; message in
 * why). */
int cmp_server_start(struct cmp_server **out, int64_t delay_ns, char *why,
		     size_t why_len);
uint16_t cmp_server_port(const struct cmp_server *s);
/* Changes the delay for requests that arrive from now on. Thread-safe. */
void cmp_server_set_delay(struct cmp_server *s, int64_t delay_ns);
/* Stops the thread, closes every socket, frees s. NULL is a no-op. */
void cmp_server_stop(struct cmp_server *s);

#endif /* CMP_WORKLOADS_H */
