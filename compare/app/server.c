/* SPDX-License-Identifier: MIT */
/*
 * The local delay server for the request workloads: a stand-in for a slow
 * remote service. It listens on 127.0.0.1 only, on a port the kernel picks,
 * and answers each 8-byte request with cmp_server_answer(request) a fixed
 * delay after the request arrived, then closes the connection.
 *
 * It must answer many requests at once with the same delay, or it would
 * itself serialise the clients it is meant to measure. So it is a small
 * event loop of its own on one thread: epoll for the listening socket and
 * the connections, one timerfd armed for the earliest due reply (timerfd
 * gives sub-millisecond precision where epoll_wait's timeout has only
 * milliseconds), an eventfd to stop it. It is not spool's loop on purpose:
 * the server must behave the same whichever backend the clients use.
 */
#include "workloads.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

enum { TAG_LISTEN = 1, TAG_TIMER, TAG_STOP, TAG_CONN };

struct conn {
	int tag; /* TAG_CONN; first, so epoll's ptr identifies the kind */
	int fd;
	int got;
	uint8_t buf[8];
	int64_t due; /* 0 while the request is incomplete */
	struct conn *next;
};

struct tagged {
	int tag;
};

struct cmp_server {
	int listen_fd, timer_fd, stop_fd, ep;
	uint16_t port;
	_Atomic int64_t delay_ns; /* relaxed: a lone value, orders nothing */
	pthread_t thread;
	struct tagged t_listen, t_timer, t_stop;
	struct conn *conns; /* every open connection */
};

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void conn_close(struct cmp_server *s, struct conn *c)
{
	struct conn **pp = &s->conns;
	while (*pp != c)
		pp = &(*pp)->next;
	*pp = c->next;
	close(c->fd); /* also removes it from the epoll set */
	free(c);
}

static void accept_all(struct cmp_server *s)
{
	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; /* EAGAIN, or a client that gave up */
		struct conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->tag = TAG_CONN;
		c->fd = fd;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
			close(fd);
			free(c);
			continue;
		}
		c->next = s->conns;
		s->conns = c;
	}
}

static void conn_read(struct cmp_server *s, struct conn *c)
{
	while (c->got < 8) {
		ssize_t n = read(c->fd, c->buf + c->got, 8 - (size_t)c->got);
		if (n > 0) {
			c->got += (int)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		conn_close(s, c); /* closed early or failed */
		return;
	}
	epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
	c->due = mono_ns() +
		 atomic_load_explicit(&s->delay_ns, memory_order_relaxed);
}

/* Answers every request whose time has come and re-arms the timer for the
 * earliest one left. */
static void answer_due(struct cmp_server *s)
{
	int64_t now = mono_ns(), next = 0;
	struct conn *c = s->conns;
	while (c) {
		struct conn *nx = c->next;
		if (c->due && c->due <= now) {
			uint64_t v, a;
			memcpy(&v, c->buf, 8);
			a = cmp_server_answer(v);
			/* 8 bytes into a fresh loopback socket never block. */
			ssize_t w = write(c->fd, &a, 8);
			(void)w;
			conn_close(s, c);
		} else if (c->due && (!next || c->due < next)) {
			next = c->due;
		}
		c = nx;
	}
	struct itimerspec its = {{0, 0}, {0, 0}};
	if (next) {
		its.it_value.tv_sec = (time_t)(next / 1000000000);
		its.it_value.tv_nsec = (long)(next % 1000000000);
	}
	timerfd_settime(s->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void *server_main(void *arg)
{
	struct cmp_server *s = arg;
	struct epoll_event evs[64];
	for (;;) {
		int n = epoll_wait(s->ep, evs, 64, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		for (int i = 0; i < n; i++) {
			struct tagged *t = evs[i].data.ptr;
			uint64_t junk;
			ssize_t r;
			switch (t->tag) {
			case TAG_STOP:
				return NULL;
			case TAG_LISTEN:
				accept_all(s);
				break;
			case TAG_TIMER:
				r = read(s->timer_fd, &junk, sizeof(junk));
				(void)r;
				break;
			default:
				conn_read(s, (struct conn *)t);
				break;
			}
		}
		answer_due(s);
	}
	return NULL;
}

static int add_fd(struct cmp_server *s, int fd, struct tagged *t, int tag)
{
	t->tag = tag;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = t};
	return epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev);
}

int cmp_server_start(struct cmp_server **out, int64_t delay_ns, char *why,
		     size_t why_len)
{
	*out = NULL;
	struct cmp_server *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(why, why_len, "out of memory");
		return -1;
	}
	s->listen_fd = s->timer_fd = s->stop_fd = s->ep = -1;
	atomic_init(&s->delay_ns, delay_ns);
	const char *step = "socket";
	s->listen_fd = socket(AF_INET,
			      SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0)
		goto fail;
	int one = 1;
	setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* loopback only */
	a.sin_port = 0;                             /* the kernel picks */
	step = "bind 127.0.0.1";
	if (bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		goto fail;
	step = "listen";
	if (listen(s->listen_fd, 4096) != 0)
		goto fail;
	socklen_t al = sizeof(a);
	step = "getsockname";
	if (getsockname(s->listen_fd, (struct sockaddr *)&a, &al) != 0)
		goto fail;
	s->port = ntohs(a.sin_port);
	step = "timerfd/eventfd/epoll";
	s->timer_fd = timerfd_create(CLOCK_MONOTONIC,
				     TFD_NONBLOCK | TFD_CLOEXEC);
	s->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	if (s->timer_fd < 0 || s->stop_fd < 0 || s->ep < 0)
		goto fail;
	if (add_fd(s, s->listen_fd, &s->t_listen, TAG_LISTEN) ||
	    add_fd(s, s->timer_fd, &s->t_timer, TAG_TIMER) ||
	    add_fd(s, s->stop_fd, &s->t_stop, TAG_STOP))
		goto fail;
	step = "pthread_create";
	if (pthread_create(&s->thread, NULL, server_main, s) != 0)
		goto fail;
	pthread_setname_np(s->thread, "server");
	*out = s;
	return 0;
fail:
	snprintf(why, why_len, "local server: %s: %s", step, strerror(errno));
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->timer_fd >= 0)
		close(s->timer_fd);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	if (s->ep >= 0)
		close(s->ep);
	free(s);
	return -1;
}

uint16_t cmp_server_port(const struct cmp_server *s)
{
	return s->port;
}

void cmp_server_set_delay(struct cmp_server *s, int64_t delay_ns)
{
	atomic_store_explicit(&s->delay_ns, delay_ns, memory_order_relaxed);
}

void cmp_server_stop(struct cmp_server *s)
{
	if (!s)
		return;
	uint64_t one = 1;
	ssize_t w = write(s->stop_fd, &one, sizeof(one));
	(void)w;
	pthread_join(s->thread, NULL);
	while (s->conns)
		conn_close(s, s->conns);
	close(s->listen_fd);
	close(s->timer_fd);
	close(s->stop_fd);
	close(s->ep);
	free(s);
}
