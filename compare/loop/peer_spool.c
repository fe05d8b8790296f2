/* SPDX-License-Identifier: MIT */
/*
 * spool's loop on the loop suite's workloads (see peer.h), through the
 * public API only: tasks are coroutines submitted to the loop's executor,
 * timers are spool_loop_call_later, descriptor waits spool_wait_readable,
 * wake-ups spool_loop_call_soon_threadsafe. "spool-shared" is the same
 * on a loop created with SPOOL_LOOP_SHARED_STACK.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <spool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "peer.h"

struct st {
	enum loop_bench bench;
	int64_t n;
	spool_loop *loop;
	int64_t count; /* workloads finished, timers fired, ... */
	int64_t late;  /* timers that fired early (must stay 0) */
	int fd[2];
	sem_t sem;
	int failed;  /* a coroutine's error */
	bool shared; /* SPOOL_LOOP_SHARED_STACK */
};

static void stop_cb(spool_loop *loop, void *arg)
{
	(void)arg;
	spool_loop_stop(loop);
}

/* Counts one finished unit; the last stops the loop. */
static void done_one(struct st *s)
{
	if (++s->count == s->n)
		spool_loop_stop(s->loop);
}

static int submit(struct st *s, spool_task_fn fn, void *arg)
{
	spool_future *f = spool_submit(spool_loop_executor(s->loop), fn, arg);
	if (!f || spool_future_state(f) == SPOOL_FAILED) {
		spool_future_release(f);
		return -1;
	}
	spool_future_release(f); /* the loop keeps its own reference */
	return 0;
}

/* ---- switch ----------------------------------------------------------- */

static int64_t yields_each(const struct st *s)
{
	return s->n / LOOP_COROUTINES;
}

static int yielder(void *arg, void **result)
{
	struct st *s = arg;
	(void)result;
	for (int64_t i = yields_each(s); i > 0; i--)
		if (spool_sleep(0) != 0)
			s->failed = 1;
	if (++s->count == LOOP_COROUTINES)
		spool_loop_stop(s->loop);
	return 0;
}

/* ---- timers ----------------------------------------------------------- */

struct timer {
	struct st *s;
	int64_t when;
};

static void timer_cb(spool_loop *loop, void *arg)
{
	struct timer *t = arg;
	if (spool_loop_time(loop) < t->when)
		t->s->late++;
	done_one(t->s);
}

/* ---- pingpong --------------------------------------------------------- */

static int io_all(int fd, char *buf, bool reading)
{
	size_t done = 0;
	while (done < LOOP_MSG) {
		ssize_t r = reading ? read(fd, buf + done, LOOP_MSG - done)
				    : write(fd, buf + done, LOOP_MSG - done);
		if (r > 0) {
			done += (size_t)r;
		} else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int rc = reading ? spool_wait_readable(fd,
							       SPOOL_FOREVER)
					 : spool_wait_writable(fd,
							       SPOOL_FOREVER);
			if (rc != 0)
				return rc;
		} else if (!(r < 0 && errno == EINTR)) {
			return -1;
		}
	}
	return 0;
}

static int server(void *arg, void **result)
{
	struct st *s = arg;
	char buf[LOOP_MSG];
	(void)result;
	for (int64_t i = 0; i < s->n; i++)
		if (io_all(s->fd[1], buf, true) || io_all(s->fd[1], buf, false))
			s->failed = 1;
	return 0;
}

static int client(void *arg, void **result)
{
	struct st *s = arg;
	char out[LOOP_MSG], in[LOOP_MSG];
	(void)result;
	for (int64_t i = 0; i < s->n && !s->failed; i++) {
		memset(out, (int)(i & 0x7f), sizeof out);
		if (io_all(s->fd[0], out, false) ||
		    io_all(s->fd[0], in, true) ||
		    memcmp(in, out, LOOP_MSG) != 0)
			s->failed = 1;
		else
			s->count++;
	}
	spool_loop_stop(s->loop);
	return 0;
}

/* ---- sleepers --------------------------------------------------------- */

static int sleeper(void *arg, void **result)
{
	struct st *s = arg;
	(void)result;
	if (spool_sleep(LOOP_SLEEP_MS * SPOOL_NS_PER_MS) != 0)
		s->failed = 1;
	done_one(s);
	return 0;
}

/* ---- wakeups ---------------------------------------------------------- */

static void ack_cb(spool_loop *loop, void *arg)
{
	struct st *s = arg;
	(void)loop;
	s->count++;
	sem_post(&s->sem);
}

static void *waker(void *arg)
{
	struct st *s = arg;
	for (int64_t i = 0; i < s->n; i++) {
		if (spool_loop_call_soon_threadsafe(s->loop, ack_cb, s) != 0) {
			s->failed = 1;
			break;
		}
		while (sem_wait(&s->sem) != 0)
			;
	}
	spool_loop_call_soon_threadsafe(s->loop, stop_cb, NULL);
	return NULL;
}

/* ---- the peer --------------------------------------------------------- */

static const char *cannot(enum loop_bench b)
{
	(void)b;
	return NULL;
}

static int setup_with(enum loop_bench b, int64_t n, void **state, char *err,
		      bool shared)
{
	struct st *s = calloc(1, sizeof *s);
	if (!s)
		return snprintf(err, LOOP_ERRLEN, "out of memory"), -1;
	s->bench = b;
	s->n = n;
	s->fd[0] = s->fd[1] = -1;
	s->shared = shared;
	*state = s;
	spool_loop_options o = SPOOL_LOOP_OPTIONS_INIT;
	if (shared)
		o.flags = SPOOL_LOOP_SHARED_STACK;
	if (spool_loop_create(&s->loop, &o) != 0)
		return snprintf(err, LOOP_ERRLEN, "spool_loop_create failed"),
		       -1;
	if (b == B_PINGPONG && loop_tcp_pair(s->fd, err) != 0)
		return -1;
	if (b == B_WAKEUPS && sem_init(&s->sem, 0, 0) != 0)
		return snprintf(err, LOOP_ERRLEN, "sem_init failed"), -1;
	return 0;
}

static int setup(enum loop_bench b, int64_t n, void **state, char *err)
{
	return setup_with(b, n, state, err, false);
}

static int setup_shared(enum loop_bench b, int64_t n, void **state, char *err)
{
	return setup_with(b, n, state, err, true);
}

static int run(void *state, char *err)
{
	struct st *s = state;
	struct timer *timers = NULL;
	pthread_t th;
	int rc = 0;
	switch (s->bench) {
	case B_SWITCH:
		for (int i = 0; i < LOOP_COROUTINES && rc == 0; i++)
			rc = submit(s, yielder, s);
		break;
	case B_TIMERS:
		timers = malloc((size_t)s->n * sizeof *timers);
		if (!timers)
			return snprintf(err, LOOP_ERRLEN, "out of memory"), -1;
		for (int64_t i = 0; i < s->n && rc == 0; i++) {
			spool_handle *h;
			timers[i].s = s;
			rc = spool_loop_call_later(s->loop,
						   loop_timer_delay_ms(i) *
							   SPOOL_NS_PER_MS,
						   timer_cb, &timers[i], &h);
			if (rc == 0) {
				timers[i].when = spool_handle_when(h);
				spool_handle_release(h);
			}
		}
		break;
	case B_PINGPONG:
		rc = submit(s, server, s);
		if (rc == 0)
			rc = submit(s, client, s);
		break;
	case B_SLEEPERS:
		for (int64_t i = 0; i < s->n && rc == 0; i++)
			rc = submit(s, sleeper, s);
		break;
	case B_WAKEUPS:
		if (pthread_create(&th, NULL, waker, s) != 0)
			return snprintf(err, LOOP_ERRLEN, "pthread_create"), -1;
		break;
	default:
		return snprintf(err, LOOP_ERRLEN, "unknown bench"), -1;
	}
	if (rc == 0)
		rc = spool_loop_run(s->loop);
	if (s->bench == B_WAKEUPS)
		pthread_join(th, NULL);
	free(timers);
	if (rc != 0)
		return snprintf(err, LOOP_ERRLEN, "spool: %s",
				spool_strerror(rc)),
		       -1;
	int64_t want = s->bench == B_SWITCH ? LOOP_COROUTINES : s->n;
	if (s->failed || s->count != want || s->late)
		return snprintf(err, LOOP_ERRLEN,
				"wrong outcome: %lld of %lld done, %lld timers "
				"early, failed %d",
				(long long)s->count, (long long)want,
				(long long)s->late, s->failed),
		       -1;
	return 0;
}

static void teardown(void *state)
{
	struct st *s = state;
	spool_loop_destroy(s->loop);
	if (s->fd[0] >= 0)
		close(s->fd[0]);
	if (s->fd[1] >= 0)
		close(s->fd[1]);
	if (s->bench == B_WAKEUPS)
		sem_destroy(&s->sem);
	free(s);
}

const struct loop_peer loop_peer_spool = {
	.impl = "spool",
	.cannot = cannot,
	.setup = setup,
	.run = run,
	.teardown = teardown,
};

/* The same workloads on a loop whose coroutines share one stack. */
const struct loop_peer loop_peer_spool_shared = {
	.impl = "spool-shared",
	.cannot = cannot,
	.setup = setup_shared,
	.run = run,
	.teardown = teardown,
};
