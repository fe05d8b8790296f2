/* SPDX-License-Identifier: MIT */
/*
 * Socket I/O on the loop: a TCP echo server and its clients in one program,
 * on one thread.
 *
 * Every socket is non-blocking. A read or write that would block (EAGAIN)
 * waits with spool_wait_readable() or spool_wait_writable(), which suspend
 * only the calling coroutine (asyncio's loop.sock_recv / sock_sendall do
 * the same), so one thread serves every connection and runs every client.
 * The server's acceptor coroutine spawns one coroutine per connection into
 * a task group; each client coroutine connects to 127.0.0.1, starts a
 * writer coroutine for its outgoing bytes and reads the echo at the same
 * time (a client that wrote everything before reading could fill both
 * directions' buffers and stall), then checks every byte. The program
 * exits non-zero if any byte differs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spool.h>

#define NCLIENTS 4
#define MSG_BYTES (200 * 1000)

static spool_executor *ex; /* the loop's */
static uint16_t port;

/* Writes all n bytes of buf to the non-blocking fd, waiting whenever the
 * socket's buffer is full. Returns 0 or a positive errno. */
static int write_all(int fd, const unsigned char *buf, size_t n)
{
	for (size_t off = 0; off < n;) {
		ssize_t w = send(fd, buf + off, n - off, MSG_NOSIGNAL);
		if (w >= 0) {
			off += (size_t)w;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (spool_wait_writable(fd, SPOOL_FOREVER))
				return ECANCELED;
		} else if (errno != EINTR) {
			return errno;
		}
	}
	return 0;
}

/* Reads up to n bytes, waiting until at least one is there. Returns the
 * count, 0 at end of stream, or -errno. */
static ssize_t read_some(int fd, unsigned char *buf, size_t n)
{
	for (;;) {
		ssize_t r = read(fd, buf, n);
		if (r >= 0)
			return r;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (spool_wait_readable(fd, SPOOL_FOREVER))
				return -ECANCELED;
		} else if (errno != EINTR) {
			return -errno;
		}
	}
}

/* ---- the server --------------------------------------------------------- */

static int serve_connection(void *arg, void **result)
{
	int fd = (int)(intptr_t)arg;
	unsigned char buf[16384];
	ssize_t n;
	int err = 0;
	while ((n = read_some(fd, buf, sizeof(buf))) > 0)
		if ((err = write_all(fd, buf, (size_t)n)) != 0)
			break;
	close(fd);
	(void)result;
	return err ? err : n < 0 ? (int)-n : 0;
}

static int server(void *arg, void **result)
{
	int lfd = (int)(intptr_t)arg;
	spool_group *g;
	if (spool_group_create(&g, ex, 0) != 0)
		return ENOMEM;
	int err = 0;
	for (int accepted = 0; accepted < NCLIENTS && !err;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			err = spool_group_spawn(g, serve_connection,
						(void *)(intptr_t)fd, NULL);
			if (err)
				close(fd);
			accepted++;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			err = spool_wait_readable(lfd, SPOOL_FOREVER);
		} else if (errno != EINTR && errno != ECONNABORTED) {
			err = errno;
		}
	}
	int jerr = spool_group_join(g, SPOOL_FOREVER);
	spool_group_destroy(g);
	(void)result;
	return err ? err : jerr;
}

/* ---- the clients -------------------------------------------------------- */

struct outgoing {
	int fd;
	const unsigned char *bytes;
};

static int writer(void *arg, void **result)
{
	struct outgoing *o = arg;
	int err = write_all(o->fd, o->bytes, MSG_BYTES);
	shutdown(o->fd, SHUT_WR); /* tells the server we are done */
	(void)result;
	return err;
}

static int client(void *arg, void **result)
{
	int id = (int)(intptr_t)arg;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	/* A non-blocking connect completes when the socket is writable. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int soerr = errno;
		socklen_t len = sizeof(soerr);
		if (soerr == EINPROGRESS &&
		    spool_wait_writable(fd, SPOOL_FOREVER) == 0)
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
		if (soerr) {
			close(fd);
			return soerr;
		}
	}
	unsigned char *out = malloc(MSG_BYTES), *in = malloc(MSG_BYTES);
	int err = out && in ? 0 : ENOMEM;
	size_t got = 0;
	if (!err) {
		for (size_t i = 0; i < MSG_BYTES; i++)
			out[i] = (unsigned char)(i * 7 + (size_t)id);
		struct outgoing o = {fd, out};
		/* o lives on this coroutine's stack; fine with the default
		 * separate stacks (not with SPOOL_LOOP_SHARED_STACK). */
		spool_future *w = spool_submit(ex, writer, &o);
		ssize_t r;
		while (got < MSG_BYTES &&
		       (r = read_some(fd, in + got, MSG_BYTES - got)) > 0)
			got += (size_t)r;
		err = spool_future_result(w, SPOOL_FOREVER, NULL);
		spool_future_release(w);
		if (!err && (got != MSG_BYTES || memcmp(in, out, got) != 0))
			err = EIO;
	}
	printf("client %d: %zu bytes sent, %zu echoed back%s\n", id,
	       (size_t)MSG_BYTES, got, err ? " (WRONG)" : ", all equal");
	free(out);
	free(in);
	close(fd);
	(void)result;
	return err;
}

/* arg: the listening socket, for the server. */
static int main_coro(void *arg, void **result)
{
	spool_future *srv = spool_submit(ex, server, arg);
	spool_future *cs[NCLIENTS];
	for (intptr_t i = 0; i < NCLIENTS; i++)
		cs[i] = spool_submit(ex, client, (void *)i);
	spool_future *all = spool_gather(cs, NCLIENTS, 0);
	int err = spool_future_result(all, SPOOL_FOREVER, NULL);
	int serr = spool_future_result(srv, SPOOL_FOREVER, NULL);
	spool_future_release(all);
	for (int i = 0; i < NCLIENTS; i++)
		spool_future_release(cs[i]);
	spool_future_release(srv);
	(void)result;
	return err ? err : serr;
}

int main(void)
{
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(lfd, 16) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len) != 0) {
		perror("listening socket on 127.0.0.1");
		return EXIT_FAILURE;
	}
	port = ntohs(sa.sin_port);

	spool_loop *loop;
	if (spool_loop_create(&loop, NULL) != 0)
		return EXIT_FAILURE;
	ex = spool_loop_executor(loop);
	spool_future *m = spool_submit(ex, main_coro, (void *)(intptr_t)lfd);
	int err = spool_loop_run_until_complete(loop, m);
	spool_future_release(m);
	spool_loop_destroy(loop);
	close(lfd);
	printf("echo server and %d clients on one thread: %s\n", NCLIENTS,
	       err ? spool_strerror(err) : "every byte came back");
	return err ? EXIT_FAILURE : EXIT_SUCCESS;
}
