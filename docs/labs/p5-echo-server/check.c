/* SPDX-License-Identifier: MIT */
/*
 * Lab P5 checker: NCLIENTS client threads connect to the server under test
 * on 127.0.0.1 at once. Each sends a short hello and waits for its echo,
 * then waits until EVERY client has had its hello echoed: only a server
 * that serves the connections at the same time gets past that point. Then
 * each sends messages of 1 byte to 300 KB, reading while it writes, with a
 * small receive window (8 KB) so that the server's writes fill up and it
 * must wait until the socket is writable again; it checks every byte, and
 * finally closes its side and expects the server to close too, with
 * nothing extra. A watchdog thread reports a server that makes no progress
 * (for 1 s after the first hello echo, while other clients wait for
 * theirs: a server that serves one connection at a time; for 10 s
 * otherwise) instead of letting the test hang. The checker also counts the
 * process's open descriptors before and after: every connection must be
 * closed, and the listening socket left to its owner.
 *
 * Both servers (the loop's, then the threads') are timed; the times are
 * printed, not checked.
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lab.h"
#include "lab_check.h"

#define NCLIENTS 8
static const size_t msg_sizes[] = {1, 1000, 100000, 300000};
#define NMSGS (sizeof(msg_sizes) / sizeof(msg_sizes[0]))

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int hellos;         /* clients whose hello came back */
static int closing;        /* clients waiting for the server to close */
static int finished;       /* clients done */
static atomic_long echoed; /* bytes echoed back to all clients */
static const char *server_name;
static uint16_t port;

static int count_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static unsigned char byte_at(int client, size_t msg, size_t i)
{
	return (unsigned char)((client * 31 + msg * 7 + i) % 251);
}

/* Waits until fd is ready for events, or the watchdog ends the process. */
static void wait_ready(int fd, short events)
{
	struct pollfd p = {.fd = fd, .events = events};
	while (poll(&p, 1, 100) == 0)
		;
}

/* Sends msg bytes and reads as many back at the same time. */
static void exchange(int fd, int client, size_t msg, size_t len)
{
	unsigned char *out = malloc(len), *in = malloc(len);
	LAB_CHECK(out && in, "out of memory");
	for (size_t i = 0; i < len; i++)
		out[i] = byte_at(client, msg, i);
	size_t sent = 0, got = 0;
	while (got < len) {
		struct pollfd p = {
			.fd = fd,
			.events = (short)(POLLIN | (sent < len ? POLLOUT : 0))};
		if (poll(&p, 1, 100) <= 0)
			continue;
		if (sent < len && (p.revents & POLLOUT)) {
			ssize_t w = send(fd, out + sent, len - sent,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w > 0)
				sent += (size_t)w;
			else if (w < 0 && errno != EAGAIN && errno != EINTR)
				lab_fail("%s: client %d: send: %s (did the "
					 "server close the connection?)",
					 server_name, client, strerror(errno));
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = recv(fd, in + got, len - got, MSG_DONTWAIT);
			if (r == 0)
				lab_fail("%s: client %d: the server closed the "
					 "connection after echoing %zu of %zu "
					 "bytes of message %zu",
					 server_name, client, got, len, msg);
			if (r < 0 && errno != EAGAIN && errno != EINTR)
				lab_fail("%s: client %d: recv: %s", server_name,
					 client, strerror(errno));
			if (r > 0) {
				got += (size_t)r;
				atomic_fetch_add(&echoed, r);
			}
		}
	}
	for (size_t i = 0; i < len; i++)
		LAB_CHECK(in[i] == out[i],
			  "%s: client %d: byte %zu of message %zu (%zu bytes) "
			  "came back as %u, sent %u",
			  server_name, client, i, msg, len, in[i], out[i]);
	free(out);
	free(in);
}

static void *client_main(void *arg)
{
	int id = (int)(intptr_t)arg;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	LAB_CHECK(fd >= 0, "socket: %s", strerror(errno));
	int rcvbuf = 8192;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	LAB_CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
		  "client %d: connect: %s", id, strerror(errno));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

	/* The hello, then the meeting point: every client's hello must
	 * come back before any client goes on. */
	char hello[32], back[32];
	int len = snprintf(hello, sizeof(hello), "hello from client %d\n", id);
	wait_ready(fd, POLLOUT);
	LAB_CHECK(send(fd, hello, (size_t)len, MSG_NOSIGNAL) == len,
		  "client %d: send: %s", id, strerror(errno));
	for (int got = 0; got < len;) {
		wait_ready(fd, POLLIN);
		ssize_t r = recv(fd, back + got, (size_t)(len - got), 0);
		LAB_CHECK(r != 0,
			  "%s: client %d: the connection was closed "
			  "before the hello came back",
			  server_name, id);
		if (r > 0)
			got += (int)r;
	}
	LAB_CHECK(memcmp(back, hello, (size_t)len) == 0,
		  "%s: client %d: the hello came back changed", server_name,
		  id);
	pthread_mutex_lock(&mu);
	hellos++;
	pthread_cond_broadcast(&cond);
	while (hellos < NCLIENTS)
		pthread_cond_wait(&cond, &mu);
	pthread_mutex_unlock(&mu);

	for (size_t m = 0; m < NMSGS; m++)
		exchange(fd, id, m, msg_sizes[m]);

	/* Closing our side must make the server close its side, with
	 * nothing more to read. */
	shutdown(fd, SHUT_WR);
	pthread_mutex_lock(&mu);
	closing++;
	pthread_mutex_unlock(&mu);
	for (;;) {
		wait_ready(fd, POLLIN);
		char c;
		ssize_t r = recv(fd, &c, 1, 0);
		if (r == 0)
			break;
		LAB_CHECK(r < 0,
			  "%s: client %d: the server sent bytes "
			  "nobody sent it",
			  server_name, id);
	}
	close(fd);
	pthread_mutex_lock(&mu);
	closing--;
	finished++;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&mu);
	return NULL;
}

/* Ends the process with a verdict when the server makes no progress. */
static void *watchdog_main(void *arg)
{
	(void)arg;
	int last_hellos = -1, idle = 0;
	long last_echoed = -1;
	pthread_mutex_lock(&mu);
	while (finished < NCLIENTS) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 100 * 1000 * 1000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&cond, &mu, &until);
		long now = atomic_load(&echoed);
		if (hellos != last_hellos || now != last_echoed) {
			last_hellos = hellos;
			last_echoed = now;
			idle = 0;
			continue;
		}
		idle++;
		if (hellos >= 1 && hellos < NCLIENTS && idle >= 10)
			lab_fail("%s: the server served one connection at a "
				 "time: %d of %d clients had their hello "
				 "echoed, and for a second the others got "
				 "nothing while the first waited",
				 server_name, hellos, NCLIENTS);
		if (idle >= 100 && closing > 0)
			lab_fail(
				"%s: %d client(s) closed their side and for "
				"10 s the server did not close its side: close "
				"each connection once read returns 0",
				server_name, closing);
		if (idle >= 100)
			lab_fail("%s: no progress for 10 s (%d of %d hellos "
				 "echoed, %d clients done, %ld bytes echoed)",
				 server_name, hellos, NCLIENTS, finished, now);
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

static int listen_socket(bool nonblocking)
{
	int fd = socket(AF_INET,
			SOCK_STREAM | SOCK_CLOEXEC |
				(nonblocking ? SOCK_NONBLOCK : 0),
			0);
	LAB_CHECK(fd >= 0, "socket: %s", strerror(errno));
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	LAB_CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
			  listen(fd, 64) == 0,
		  "bind/listen on 127.0.0.1: %s", strerror(errno));
	socklen_t sl = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	port = ntohs(sa.sin_port);
	return fd;
}

/* Runs one server against NCLIENTS clients; returns the seconds it
 * took. */
static double run_server(const char *name, bool on_loop)
{
	server_name = name;
	hellos = finished = closing = 0;
	atomic_store(&echoed, 0);
	spool_loop *loop = NULL;
	if (on_loop)
		LAB_CHECK(spool_loop_create(&loop, NULL) == 0, "no loop");
	int fds_before = count_open_fds();
	int lfd = listen_socket(on_loop);
	pthread_t clients[NCLIENTS], watchdog;
	int64_t t0 = lab_now_ns();
	for (intptr_t i = 0; i < NCLIENTS; i++)
		LAB_CHECK(pthread_create(&clients[i], NULL, client_main,
					 (void *)i) == 0,
			  "pthread_create failed");
	LAB_CHECK(pthread_create(&watchdog, NULL, watchdog_main, NULL) == 0,
		  "pthread_create failed");
	int err = on_loop ? lab_echo_loop(loop, lfd, NCLIENTS)
			  : lab_echo_threads(lfd, NCLIENTS);
	LAB_CHECK(err == 0, "%s: the server returned %d (%s)", name, err,
		  err > 0 ? strerror(err) : spool_err_name(err));
	for (int i = 0; i < NCLIENTS; i++)
		pthread_join(clients[i], NULL);
	double took = (lab_now_ns() - t0) / 1e9;
	pthread_join(watchdog, NULL);
	LAB_CHECK(close(lfd) == 0,
		  "%s: the listening socket was closed by the server; it "
		  "belongs to the caller",
		  name);
	if (loop)
		spool_loop_destroy(loop);
	int fds_after = count_open_fds();
	LAB_CHECK(fds_after <= fds_before,
		  "%s: %d more descriptor(s) open after the server returned: "
		  "close every connection when its client is done",
		  name, fds_after - fds_before);
	return took;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	long live0 = lab_live_futures();
	size_t bytes = 0;
	for (size_t m = 0; m < NMSGS; m++)
		bytes += msg_sizes[m];
	double on_loop = run_server("loop server", true);
	lab_check_no_leaked_futures(live0, "after the loop server");
	double threads = run_server("thread server", false);
	lab_note("%d clients, %zu bytes each way per client: loop server "
		 "%.1f ms, thread-per-connection server %.1f ms",
		 NCLIENTS, bytes, on_loop * 1e3, threads * 1e3);
	lab_pass("%d concurrent clients echoed byte for byte by both "
		 "servers, every connection closed",
		 NCLIENTS);
	return 0;
}
