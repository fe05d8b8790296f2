/* SPDX-License-Identifier: MIT */
/*
 * Waiting for descriptors: spool_wait_readable() / spool_wait_writable().
 *
 * In a coroutine, the waiter (a record on the coroutine's own stack, valid
 * while it is suspended) joins the list of its descriptor in a table indexed
 * by descriptor number, as libuv's watchers. The descriptor is registered
 * with epoll in one-shot mode for the union of what its waiters want: an
 * event disarms it, the loop wakes every waiter the event satisfies, and
 * re-arms it for those still waiting. So a wait costs one epoll_ctl in the
 * common case (MOD; ADD the first time) and nothing is left armed that
 * could report an event nobody wants more than once. A waiter that leaves
 * early (timeout, cancel) just unlinks itself; the registration may fire
 * once more and is then ignored.
 *
 * Outside a coroutine the same calls block in ppoll(2), with nanosecond
 * timeouts; on the loop's own thread outside a coroutine they refuse with
 * SPOOL_EDEADLK, since the loop could not run while they block.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "loop_impl.h"

/* Readiness that ends a wait for reading, or for writing: errors and
 * hang-ups too, since the next read or write then reports them. */
#define READ_EVENTS (EPOLLIN | EPOLLHUP | EPOLLERR)
#define WRITE_EVENTS (EPOLLOUT | EPOLLHUP | EPOLLERR)

/* epoll refuses regular files and directories (EPERM): always ready. */
#define ALWAYS_READY 1

struct io_waiter {
	struct io_waiter *next, *prev;
	struct spool__task *task;
	uint32_t events; /* EPOLLIN or EPOLLOUT */
	int fd;
	bool linked;
};

struct spool__fd_watch {
	struct io_waiter *head;
	uint32_t armed;  /* events armed one-shot in epoll; 0 if none */
	bool registered; /* epoll knows this descriptor */
};

static int grow(spool_loop *loop, int fd)
{
	if (fd < loop->nfds)
		return 0;
	int n = loop->nfds ? loop->nfds : 64;
	while (n <= fd)
		n *= 2;
	struct spool__fd_watch *v = realloc(loop->fds, (size_t)n * sizeof *v);
	if (!v)
		return SPOOL_ENOMEM;
	for (int i = loop->nfds; i < n; i++)
		v[i] = (struct spool__fd_watch){NULL, 0, false};
	loop->fds = v;
	loop->nfds = n;
	return 0;
}

static void link_waiter(spool_loop *loop, struct io_waiter *w)
{
	struct spool__fd_watch *fw = &loop->fds[w->fd];
	w->prev = NULL;
	w->next = fw->head;
	if (w->next)
		w->next->prev = w;
	fw->head = w;
	w->linked = true;
}

static void unlink_waiter(spool_loop *loop, struct io_waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		loop->fds[w->fd].head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->linked = false;
}

/* Arms fd's one-shot registration for what its waiters want. Returns 0,
 * ALWAYS_READY, or a spool error. */
static int arm(spool_loop *loop, int fd)
{
	struct spool__fd_watch *fw = &loop->fds[fd];
	uint32_t want = 0;
	for (struct io_waiter *w = fw->head; w; w = w->next)
		want |= w->events;
	/* Already armed for it: only while other waiters are linked, whose
	 * arming is current (a descriptor must not be closed while waited
	 * on). */
	if (!want || (fw->armed && (want & ~fw->armed) == 0))
		return 0;
	struct epoll_event ev = {.events = want | EPOLLONESHOT,
				 .data.u64 = (uint64_t)fd};
	int op = fw->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	int r = epoll_ctl(loop->epfd, op, fd, &ev);
	/* Our table can be stale: the descriptor was closed (epoll forgot
	 * it) and its number reused, or registered by an earlier wait. */
	if (r < 0 && op == EPOLL_CTL_MOD && errno == ENOENT)
		r = epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev);
	else if (r < 0 && op == EPOLL_CTL_ADD && errno == EEXIST)
		r = epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev);
	if (r < 0) {
		fw->registered = false;
		fw->armed = 0;
		switch (errno) {
		case EPERM:
			return ALWAYS_READY;
		case EBADF:
			return SPOOL_EINVAL;
		case ENOMEM:
		case ENOSPC:
			return SPOOL_ENOMEM;
		default:
			return SPOOL_ESYS;
		}
	}
	fw->registered = true;
	fw->armed = want;
	return 0;
}

void spool__io_event(spool_loop *loop, int fd, uint32_t revents)
{
	if (fd < 0 || fd >= loop->nfds)
		return;
	struct spool__fd_watch *fw = &loop->fds[fd];
	fw->armed = 0; /* one-shot: the event disarmed it */
	struct io_waiter *w = fw->head;
	while (w) {
		struct io_waiter *next = w->next;
		uint32_t ends = w->events == EPOLLIN ? READ_EVENTS
						     : WRITE_EVENTS;
		if (revents & ends) {
			unlink_waiter(loop, w);
			spool__task_wake(w->task, 0);
		}
		w = next;
	}
	if (fw->head && arm(loop, fd) < 0) {
		/* Cannot watch it any more (closed under us): let the
		 * waiters find out from their own read or write. */
		while ((w = fw->head)) {
			unlink_waiter(loop, w);
			spool__task_wake(w->task, 0);
		}
	}
}

void spool__io_free(spool_loop *loop)
{
	free(loop->fds);
	loop->fds = NULL;
	loop->nfds = 0;
}

/* Blocking, for threads that are not running a loop. */
static int poll_fd(int fd, short events, int64_t timeout_ns)
{
	int64_t deadline = spool__deadline(timeout_ns);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		struct timespec ts, *tsp = NULL;
		if (deadline != INT64_MAX) {
			int64_t rel = deadline - spool__now_ns();
			if (rel < 0)
				rel = 0;
			ts.tv_sec = rel / SPOOL_NS_PER_S;
			ts.tv_nsec = rel % SPOOL_NS_PER_S;
			tsp = &ts;
		}
		int r = ppoll(&p, 1, tsp, NULL);
		if (r > 0)
			return (p.revents & POLLNVAL) ? SPOOL_EINVAL : 0;
		if (r == 0) {
			if (spool__now_ns() >= deadline)
				return SPOOL_ETIMEDOUT;
			continue;
		}
		if (errno != EINTR)
			return errno == ENOMEM ? SPOOL_ENOMEM : SPOOL_ESYS;
	}
}

static int wait_fd(int fd, uint32_t events, int64_t timeout_ns)
{
	if (fd < 0 || timeout_ns < 0)
		return SPOOL_EINVAL;
	short pev = events == EPOLLIN ? POLLIN : POLLOUT;
	spool_loop *loop = spool__loop_here();
	if (!loop)
		return poll_fd(fd, pev, timeout_ns);
	struct spool__task *t = loop->current;
	if (timeout_ns == 0)
		return poll_fd(fd, pev, 0);
	if (!t)
		return SPOOL_EDEADLK;
	int rc = spool__task_await_begin(loop, t);
	if (rc == 0)
		rc = grow(loop, fd);
	if (rc != 0)
		return rc;
	struct io_waiter w = {.task = t, .events = events, .fd = fd};
	link_waiter(loop, &w);
	rc = arm(loop, fd);
	if (rc != 0) {
		unlink_waiter(loop, &w);
		return rc == ALWAYS_READY ? 0 : rc;
	}
	if (timeout_ns != SPOOL_FOREVER) {
		t->timer = spool__timer_wake(
			loop, t, spool__deadline(timeout_ns), SPOOL_ETIMEDOUT);
		if (!t->timer) {
			unlink_waiter(loop, &w);
			return SPOOL_ENOMEM;
		}
	}
	spool__trace_suspend(&t->fut,
			     events == EPOLLIN ? SPOOL__TRACE_ON_READABLE
					       : SPOOL__TRACE_ON_WRITABLE,
			     (uint64_t)fd);
	rc = spool__task_suspend(loop, t);
	if (w.linked) {
		unlink_waiter(loop, &w);
		/* Left without an event (timeout, cancel). With nobody left
		 * waiting, forget what is armed: the descriptor may be closed
		 * and its number reused before the next wait, which must then
		 * not trust a registration epoll has dropped. */
		if (!loop->fds[fd].head)
			loop->fds[fd].armed = 0;
	}
	if (t->timer) {
		spool__timer_disarm(loop, t->timer);
		t->timer = NULL;
	}
	return rc;
}

int spool_wait_readable(int fd, int64_t timeout_ns)
{
	return wait_fd(fd, EPOLLIN, timeout_ns);
}

int spool_wait_writable(int fd, int64_t timeout_ns)
{
	return wait_fd(fd, EPOLLOUT, timeout_ns);
}
