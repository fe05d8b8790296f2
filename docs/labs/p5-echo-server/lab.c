/* SPDX-License-Identifier: MIT */
/*
 * Lab P5, the starter: an echo server that serves one connection at a
 * time.
 *
 * Both versions accept a connection, echo on it until the client closes,
 * and only then accept the next one: every other client waits
 * (README.md).
 */
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lab.h"

/* Echoes on fd until the client closes. With a non-blocking fd in a
 * coroutine, a read or write that would block waits for readiness on the
 * loop. Returns 0 or a positive errno. */
static int echo(int fd)
{
	char buf[16384];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n == 0)
			return 0; /* the client closed its side */
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				int err = spool_wait_readable(fd,
							      SPOOL_FOREVER);
				if (err)
					return EIO;
				continue;
			}
			if (errno == EINTR)
				continue;
			return errno;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = send(fd, buf + off, (size_t)(n - off),
					 MSG_NOSIGNAL);
			if (w < 0 &&
			    (errno == EAGAIN || errno == EWOULDBLOCK)) {
				if (spool_wait_writable(fd, SPOOL_FOREVER))
					return EIO;
				continue;
			}
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return errno;
			off += w;
		}
	}
}

/* The loop server's only coroutine: accepts and serves in turn. */
static int serve_in_turn(void *arg, void **result)
{
	intptr_t *a = arg; /* a[0]: lfd, a[1]: nconn */
	int lfd = (int)a[0];
	for (intptr_t done = 0; done < a[1];) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (spool_wait_readable(lfd, SPOOL_FOREVER))
					return EIO;
				continue;
			}
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return errno;
		}
		/* TODO: this serves the connection to its end before
		 * accepting the next. Start a coroutine per connection
		 * instead (spool_submit on the loop's executor, or
		 * spool_group_spawn into a task group) and keep
		 * accepting; then wait for all of them before returning. */
		int err = echo(fd);
		close(fd);
		if (err)
			return err;
		done++;
	}
	(void)result;
	return 0;
}

int lab_echo_loop(spool_loop *loop, int lfd, size_t nconn)
{
	intptr_t a[2] = {lfd, (intptr_t)nconn};
	spool_future *f = spool_submit(spool_loop_executor(loop), serve_in_turn,
				       a);
	if (!f)
		return SPOOL_ENOMEM;
	int err = spool_loop_run_until_complete(loop, f);
	spool_future_release(f);
	return err;
}

int lab_echo_threads(int lfd, size_t nconn)
{
	for (size_t done = 0; done < nconn;) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return errno;
		}
		/* TODO: one thread per connection: pthread_create a thread
		 * that echoes and closes, keep accepting, and join every
		 * thread before returning. (On a blocking fd, echo() never
		 * meets EAGAIN, so it can be used as it is.) */
		int err = echo(fd);
		close(fd);
		if (err)
			return err;
		done++;
	}
	return 0;
}
