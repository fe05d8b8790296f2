/* SPDX-License-Identifier: MIT */
/*
 * Waiting for descriptors: spool_wait_readable() / spool_wait_writable().
 *
 * In a coroutine, the waiter (a record in the task, spool__io_waiter)
 * joins the list of its descriptor in a table indexed
 * by descriptor number, as libuv's watchers. The first wait on a descriptor
 * registers it with epoll once, edge-triggered, for reading and writing
 * (EPOLLIN | EPOLLOUT | EPOLLET), and the registration is kept across
 * waits: a wait that finds the descriptor not ready makes no system call
 * at all in the steady state (a one-shot registration would need an
 * epoll_ctl to re-arm at every wait). An edge nobody waits for is kept as a
 * readiness bit in the table (as tokio's readiness cache), so a later wait
 * for it returns at once instead of missing it; the bit may be stale, which
 * the contract allows (readiness is a hint: the caller retries its I/O and
 * waits again on EAGAIN, and the bit is cleared by that first return).
 *
 * What a kept registration cannot see by itself is the caller closing the
 * descriptor and reusing its number: epoll forgets a closed file, and no
 * event tells us. So every wait that suspends on an existing registration
 * is "unverified" until the loop proves it: the loop queues the number, and
 * before it would block in epoll (nothing ready after a non-blocking poll)
 * or once the oldest queued number has waited SPOOL__IO_VERIFY_TURNS turns,
 * it re-registers each queued number that still has waiters (EPOLL_CTL_MOD;
 * ENOENT means the number now names another file, which is added afresh).
 * A MOD also re-polls the file and queues an event if it is ready, so no
 * wake-up is lost. While the loop stays busy (ping-pong), these checks cost
 * one epoll_ctl per descriptor every SPOOL__IO_VERIFY_TURNS turns instead
 * of one per wait; a reused number is noticed within that many turns, or
 * at once when the loop goes idle.
 *
 * A waiter that leaves early (timeout, cancel) just unlinks itself.
 *
 * Outside a coroutine the same calls block in ppoll(2), with nanosecond
 * timeouts; on the loop's own thread outside a coroutine they refuse with
 * SPOOL_EDEADLK, since the loop could not run while they block.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "core/alloc.h"
#include "loop_impl.h"

/* Readiness that ends a wait for reading, or for writing: errors and
 * hang-ups too, since the next read or write then reports them. */
#define READ_EVENTS (EPOLLIN | EPOLLHUP | EPOLLERR)
#define WRITE_EVENTS (EPOLLOUT | EPOLLHUP | EPOLLERR)

/* What every registration asks for. */
#define WATCHED (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)

/* epoll refuses regular files and directories (EPERM): always ready. */
#define ALWAYS_READY 1

struct spool__fd_watch {
	struct spool__io_waiter *head;
	uint32_t ready;  /* EPOLLIN/EPOLLOUT edges seen with nobody waiting */
	bool registered; /* epoll knew this number at the last check */
	bool queued;     /* in loop->io_check, awaiting verification */
};

/* Makes the table reach fd (>= 0). Only for a descriptor that is open: a
 * number that is not (closed, or beyond any descriptor table, up to
 * INT_MAX) is SPOOL_EINVAL before anything grows, so a bad number costs
 * neither memory nor time. An open one can be no larger than the
 * process's descriptor table, which the kernel already holds. The size
 * doubles, or reaches fd + 1 if that is more, in size_t: no overflow. */
static int grow(spool_loop *loop, int fd)
{
	if ((size_t)fd < loop->nfds)
		return 0;
	if (fcntl(fd, F_GETFD) < 0)
		return SPOOL_EINVAL; /* EBADF, its only error */
	size_t n = loop->nfds ? 2 * loop->nfds : 64;
	if (n <= (size_t)fd)
		n = (size_t)fd + 1;
	struct spool__fd_watch *v = spool__realloc(loop->fds, n * sizeof *v);
	if (!v)
		return SPOOL_ENOMEM;
	for (size_t i = loop->nfds; i < n; i++)
		v[i] = (struct spool__fd_watch){NULL, 0, false, false};
	loop->fds = v;
	loop->nfds = n;
	return 0;
}

/* The loop's own descriptors: a wait on them would take over their epoll
 * registration (the eventfd's, and with it every wake-up from another
 * thread; the timerfd's), or fail (epoll in itself). */
static bool own_fd(const spool_loop *loop, int fd)
{
	return fd == loop->epfd || fd == loop->anchor->efd || fd == loop->tfd;
}

static void link_waiter(spool_loop *loop, struct spool__io_waiter *w)
{
	struct spool__fd_watch *fw = &loop->fds[w->fd];
	w->prev = NULL;
	w->next = fw->head;
	if (w->next)
		w->next->prev = w;
	fw->head = w;
	w->linked = true;
}

static void unlink_waiter(spool_loop *loop, struct spool__io_waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		loop->fds[w->fd].head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->linked = false;
}

/* (Re-)registers fd with epoll: MOD if we believe it is registered, else
 * ADD, each falling back to the other when our belief was stale. Returns
 * 0, ALWAYS_READY, or a spool error. */
static int reg(spool_loop *loop, int fd)
{
	struct spool__fd_watch *fw = &loop->fds[fd];
	struct epoll_event ev = {.events = WATCHED, .data.u64 = (uint64_t)fd};
	int op = fw->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	int r = epoll_ctl(loop->epfd, op, fd, &ev);
	/* The number was closed (epoll forgot it) and reused, or it was
	 * registered by an earlier wait that our table no longer trusts. */
	if (r < 0 && op == EPOLL_CTL_MOD && errno == ENOENT)
		r = epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev);
	else if (r < 0 && op == EPOLL_CTL_ADD && errno == EEXIST)
		r = epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev);
	if (r < 0) {
		fw->registered = false;
		fw->ready = 0;
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
	/* A fresh registration reports the file's current state itself. */
	fw->ready = 0;
	return 0;
}

static void wake_all(spool_loop *loop, struct spool__fd_watch *fw, int rc)
{
	struct spool__io_waiter *w;
	while ((w = fw->head)) {
		unlink_waiter(loop, w);
		spool__task_wake(w->task, rc);
	}
}

/* Queues fd for verification (see the top of the file). */
static int queue_check(spool_loop *loop, int fd)
{
	struct spool__fd_watch *fw = &loop->fds[fd];
	if (fw->queued)
		return 0;
	if (loop->io_ncheck == loop->io_capcheck) {
		size_t cap = loop->io_capcheck ? 2 * loop->io_capcheck : 16;
		int *v = spool__realloc(loop->io_check, cap * sizeof *v);
		if (!v)
			return SPOOL_ENOMEM;
		loop->io_check = v;
		loop->io_capcheck = cap;
	}
	if (loop->io_ncheck == 0)
		loop->io_check_since = loop->iterations;
	loop->io_check[loop->io_ncheck++] = fd;
	fw->queued = true;
	return 0;
}

void spool__io_verify(spool_loop *loop)
{
	/* reg() may not add to the queue, so the count is stable. */
	for (size_t i = 0; i < loop->io_ncheck; i++) {
		int fd = loop->io_check[i];
		struct spool__fd_watch *fw = &loop->fds[fd];
		fw->queued = false;
		if (!fw->head)
			continue; /* nobody to wake; the next wait queues it */
		int rc = reg(loop, fd);
		if (rc != 0) {
			/* A regular file now (always ready): let the waiters
			 * find out from their own read or write. No longer
			 * open: the descriptor is bad (SPOOL_EINVAL). */
			wake_all(loop, fw,
				 rc == SPOOL_EINVAL ? SPOOL_EINVAL : 0);
		}
	}
	loop->io_ncheck = 0;
}

void spool__io_event(spool_loop *loop, int fd, uint32_t revents)
{
	if (fd < 0 || (size_t)fd >= loop->nfds)
		return;
	struct spool__fd_watch *fw = &loop->fds[fd];
	bool read_ok = revents & (READ_EVENTS | EPOLLRDHUP);
	bool write_ok = revents & WRITE_EVENTS;
	bool woke_reader = false, woke_writer = false;
	struct spool__io_waiter *w = fw->head;
	while (w) {
		struct spool__io_waiter *next = w->next;
		bool reader = w->events == EPOLLIN;
		if (reader ? read_ok : write_ok) {
			unlink_waiter(loop, w);
			spool__task_wake(w->task, 0);
			if (reader)
				woke_reader = true;
			else
				woke_writer = true;
		}
		w = next;
	}
	/* Edge-triggered: an edge nobody took is not reported again. */
	if (read_ok && !woke_reader)
		fw->ready |= EPOLLIN;
	if (write_ok && !woke_writer)
		fw->ready |= EPOLLOUT;
}

void spool__io_free(spool_loop *loop)
{
	free(loop->fds);
	loop->fds = NULL;
	loop->nfds = 0;
	free(loop->io_check);
	loop->io_check = NULL;
	loop->io_ncheck = loop->io_capcheck = 0;
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
	if (own_fd(loop, fd))
		return SPOOL_EINVAL;
	struct spool__loop_task *t = loop->current;
	if (timeout_ns == 0)
		return poll_fd(fd, pev, 0);
	if (!t)
		return SPOOL_EDEADLK;
	int rc = spool__task_await_begin(loop, t);
	if (rc == 0)
		rc = grow(loop, fd);
	if (rc != 0)
		return rc;
	struct spool__fd_watch *fw = &loop->fds[fd];
	if (!fw->registered) {
		rc = reg(loop, fd);
		if (rc != 0)
			return rc == ALWAYS_READY ? 0 : rc;
	} else if (fw->ready & events) {
		/* An edge seen while nobody waited: a hint, taken once. */
		fw->ready &= ~events;
		return 0;
	} else if ((rc = queue_check(loop, fd)) != 0) {
		return rc;
	}
	struct spool__io_waiter *w = &t->io;
	*w = (struct spool__io_waiter){.task = t, .events = events, .fd = fd};
	link_waiter(loop, w);
	if (timeout_ns != SPOOL_FOREVER) {
		t->timer = spool__timer_wake(
			loop, t, spool__deadline(timeout_ns), SPOOL_ETIMEDOUT);
		if (!t->timer) {
			unlink_waiter(loop, w);
			return SPOOL_ENOMEM;
		}
	}
	spool__trace_suspend(&t->fut,
			     events == EPOLLIN ? SPOOL__TRACE_ON_READABLE
					       : SPOOL__TRACE_ON_WRITABLE,
			     (uint64_t)fd);
	rc = spool__task_suspend(loop, t);
	if (w->linked)
		unlink_waiter(loop, w); /* left without an event */
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
