/* SPDX-License-Identifier: MIT */
/*
 * The workload functions (see workloads.h): CPU kernels with GIL-model
 * checkpoints, and IO calls that release the model's lock and that suspend
 * instead of block when they run in a loop coroutine.
 */
#include "workloads.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spool.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gil.h"

uint64_t cmp_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15u;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

uint64_t cmp_server_answer(uint64_t value)
{
	return cmp_mix64(value ^ 0x5eedf00dULL);
}

/* Below the cut-off a subtree is one unit of work: fib(16) is about 3,000
 * calls, a few microseconds. */
#define FIB_UNIT 16

static uint64_t fib_plain(int n)
{
	return n < 2 ? (uint64_t)n : fib_plain(n - 1) + fib_plain(n - 2);
}

uint64_t cmp_fib(int n)
{
	if (n <= FIB_UNIT)
		return fib_plain(n);
	cmp_gil_checkpoint();
	return cmp_fib(n - 1) + cmp_fib(n - 2);
}

uint64_t cmp_fnv1a_rounds(const uint8_t *buf, size_t len, int rounds,
			  uint64_t seed)
{
	uint64_t h = 0xcbf29ce484222325u ^ seed; /* FNV-1a 64 offset basis */
	for (int r = 0; r < rounds; r++) {
		for (size_t i = 0; i < len; i++) {
			h ^= buf[i];
			h *= 0x100000001b3u; /* FNV-1a 64 prime */
		}
		h = cmp_mix64(h + (uint64_t)r);
		cmp_gil_checkpoint();
	}
	return h;
}

void cmp_hash_buffer_fill(uint8_t *buf, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(cmp_mix64(seed + i / 8) >> (8 * (i % 8)));
}

int cmp_io_sleep(int64_t ns)
{
	cmp_gil_blocking_begin();
	int rc = spool_sleep(ns);
	cmp_gil_blocking_end();
	return rc;
}

int cmp_io_wait(int fd, int write, int64_t timeout_ns)
{
	cmp_gil_blocking_begin();
	int rc = write ? spool_wait_writable(fd, timeout_ns)
		       : spool_wait_readable(fd, timeout_ns);
	cmp_gil_blocking_end();
	return rc;
}

static int64_t mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Time left until deadline (0 once it passed). */
static int64_t left(int64_t deadline)
{
	int64_t now = mono_now();
	return deadline > now ? deadline - now : 0;
}

/* One socket call with the model's lock released around it, as every call
 * in CPython's socket module does (Py_BEGIN_ALLOW_THREADS). */
static ssize_t io_send(int fd, const void *p, size_t n)
{
	cmp_gil_blocking_begin();
	ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
	cmp_gil_blocking_end();
	return r;
}

static ssize_t io_recv(int fd, void *p, size_t n)
{
	cmp_gil_blocking_begin();
	ssize_t r = recv(fd, p, n, 0);
	cmp_gil_blocking_end();
	return r;
}

static int io_connect(int fd, const struct sockaddr_in *a, int64_t deadline)
{
	cmp_gil_blocking_begin();
	int r = connect(fd, (const struct sockaddr *)a, sizeof(*a));
	int e = errno;
	cmp_gil_blocking_end();
	if (r == 0)
		return 0;
	if (e != EINPROGRESS)
		return SPOOL_ESYS;
	int rc = cmp_io_wait(fd, 1, left(deadline));
	if (rc)
		return rc;
	int err = 0;
	socklen_t el = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err)
		return SPOOL_ESYS;
	return 0;
}

int cmp_io_request(uint16_t port, uint64_t value, int64_t timeout_ns,
		   uint64_t *reply)
{
	int64_t deadline = mono_now() + timeout_ns;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return SPOOL_ESYS;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(port);
	int rc = io_connect(fd, &a, deadline);
	size_t done = 0;
	while (rc == 0 && done < 8) {
		ssize_t n = io_send(fd, (const uint8_t *)&value + done,
				    8 - done);
		if (n > 0)
			done += (size_t)n;
		else if (n < 0 && errno == EAGAIN)
			rc = cmp_io_wait(fd, 1, left(deadline));
		else if (!(n < 0 && errno == EINTR))
			rc = SPOOL_ESYS;
	}
	uint8_t in[8];
	done = 0;
	while (rc == 0 && done < 8) {
		ssize_t n = io_recv(fd, in + done, 8 - done);
		if (n > 0)
			done += (size_t)n;
		else if (n < 0 && errno == EAGAIN)
			rc = cmp_io_wait(fd, 0, left(deadline));
		else if (!(n < 0 && errno == EINTR))
			rc = SPOOL_ESYS; /* 0: closed before the reply */
	}
	close(fd);
	if (rc == 0) {
		memcpy(reply, in, 8);
		if (*reply != cmp_server_answer(value))
			rc = SPOOL_ESYS;
	}
	return rc;
}
