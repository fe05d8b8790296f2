/* SPDX-License-Identifier: MIT */
/*
 * Lab P5, a solution: one coroutine per connection on the loop, one thread
 * per connection beside it.
 *
 * The same echo() serves both. On a non-blocking socket in a coroutine, a
 * read or write that would block (EAGAIN) waits for readiness with
 * spool_wait_readable()/spool_wait_writable(), which suspends only that
 * coroutine: the loop goes on serving every other connection. On a
 * blocking socket in a thread, the read or write itself blocks that
 * thread, and the other threads go on. Both partial writes and short
 * reads are handled: a write may take only part of the buffer (the
 * client's receive window is small), the rest is written when the socket
 * is writable again.
 *
 * On the loop, an acceptor coroutine spawns each connection into a task
 * group (structured concurrency: the join waits for every connection, and
 * a connection that fails cancels the others), then joins it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lab.h"

/* Echoes on fd until the client closes. Returns 0 or a positive errno. */
static int echo(int fd)
{
	char buf[16384];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n == 0)
			return 0;
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (spool_wait_readable(fd, SPOOL_FOREVER))
					return EIO; /* cancelled */
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

/* ---- on the loop ------------------------------------------------------ */

static int connection(void *arg, void **result)
{
	int fd = (int)(intptr_t)arg;
	int err = echo(fd);
	close(fd);
	(void)result;
	return err;
}

struct server {
	int lfd;
	size_t nconn;
	spool_executor *ex;
};

static int acceptor(void *arg, void **result)
{
	struct server *s = arg;
	spool_group *group;
	int err = spool_group_create(&group, s->ex, 0);
	if (err)
		return err;
	for (size_t accepted = 0; accepted < s->nconn;) {
		int fd = accept4(s->lfd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				err = spool_wait_readable(s->lfd,
							  SPOOL_FOREVER);
				if (err)
					break;
				continue;
			}
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			err = errno;
			break;
		}
		err = spool_group_spawn(group, connection, (void *)(intptr_t)fd,
					NULL);
		if (err) {
			close(fd); /* refused: the group was cancelled */
			break;
		}
		accepted++;
	}
	if (err)
		spool_group_cancel(group);
	int jerr = spool_group_join(group, SPOOL_FOREVER);
	spool_group_destroy(group);
	(void)result;
	return err ? err : jerr;
}

int lab_echo_loop(spool_loop *loop, int lfd, size_t nconn)
{
	struct server s = {lfd, nconn, spool_loop_executor(loop)};
	spool_future *f = spool_submit(s.ex, acceptor, &s);
	if (!f)
		return SPOOL_ENOMEM;
	int err = spool_loop_run_until_complete(loop, f);
	spool_future_release(f);
	return err;
}

/* ---- with threads ----------------------------------------------------- */

static void *connection_thread(void *arg)
{
	int fd = (int)(intptr_t)arg;
	echo(fd); /* blocking fd: never EAGAIN */
	close(fd);
	return NULL;
}

int lab_echo_threads(int lfd, size_t nconn)
{
	pthread_t *threads = calloc(nconn ? nconn : 1, sizeof(*threads));
	if (!threads)
		return ENOMEM;
	size_t started = 0;
	int err = 0;
	while (started < nconn) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			err = errno;
			break;
		}
		err = pthread_create(&threads[started], NULL, connection_thread,
				     (void *)(intptr_t)fd);
		if (err) {
			close(fd);
			break;
		}
		started++;
	}
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	return err;
}
