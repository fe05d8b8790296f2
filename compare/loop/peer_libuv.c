/* SPDX-License-Identifier: MIT */
/*
 * libuv, the event-loop reference, on the loop suite's workloads (see
 * peer.h), written as a libuv user would: uv_timer_t per timer, uv_tcp_t
 * streams with uv_read_start / uv_write, uv_async_t for wake-ups from
 * another thread. libuv has callbacks, not coroutines, so it does not run
 * switch, and its sleepers are timers with a callback each: the floor that
 * a stackless design reaches.
 *
 * libuv's timers have millisecond resolution; the workloads use whole
 * milliseconds, so every peer waits for the same deadlines.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "peer.h"

struct st {
	enum loop_bench bench;
	int64_t n;
	uv_loop_t loop;
	uv_timer_t *timers;
	int64_t ntimers; /* initialised, to close */
	int64_t count;
	int64_t late;
	int failed;
	/* pingpong */
	int fd[2];
	uv_tcp_t tcp[2];
	bool tcp_open[2];
	char in[2][LOOP_MSG];
	size_t got[2];
	char out[LOOP_MSG];
	uv_write_t wreq[2];
	/* wakeups */
	uv_async_t async;
	bool async_open;
	uv_sem_t sem;
	uv_thread_t thread;
	atomic_int stop; /* set by the thread before its last send */
};

/* ---- timers and sleepers ---------------------------------------------- */

/* t->data is the timer's deadline on uv_now()'s clock. */
static void timer_cb(uv_timer_t *t)
{
	struct st *s = t->loop->data;
	uint64_t when = (uint64_t)(uintptr_t)t->data;
	if (uv_now(t->loop) < when)
		s->late++;
	s->count++;
}

static int start_timers(struct st *s, int64_t (*delay)(int64_t))
{
	s->timers = malloc((size_t)s->n * sizeof *s->timers);
	if (!s->timers)
		return -1;
	for (int64_t i = 0; i < s->n; i++) {
		uv_timer_t *t = &s->timers[i];
		uint64_t d = (uint64_t)delay(i);
		uv_timer_init(&s->loop, t);
		s->ntimers++;
		t->data = (void *)(uintptr_t)(uv_now(&s->loop) + d);
		if (uv_timer_start(t, timer_cb, d, 0) != 0)
			return -1;
	}
	return 0;
}

static int64_t sleep_delay(int64_t i)
{
	(void)i;
	return LOOP_SLEEP_MS;
}

/* ---- pingpong --------------------------------------------------------- */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct st *s = h->loop->data;
	int side = (uv_tcp_t *)h == &s->tcp[0] ? 0 : 1;
	(void)suggested;
	*buf = uv_buf_init(s->in[side] + s->got[side],
			   (unsigned)(LOOP_MSG - s->got[side]));
}

static void write_cb(uv_write_t *req, int status)
{
	struct st *s = req->handle->loop->data;
	if (status != 0)
		s->failed = 1;
}

static void send_msg(struct st *s, int side, const char *data)
{
	uv_buf_t b = uv_buf_init((char *)data, LOOP_MSG);
	if (uv_write(&s->wreq[side], (uv_stream_t *)&s->tcp[side], &b, 1,
		     write_cb) != 0)
		s->failed = 1;
}

static void client_next(struct st *s)
{
	memset(s->out, (int)(s->count & 0x7f), LOOP_MSG);
	send_msg(s, 0, s->out);
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct st *s = stream->loop->data;
	int side = (uv_tcp_t *)stream == &s->tcp[0] ? 0 : 1;
	(void)buf;
	if (nread < 0) {
		s->failed = 1;
		uv_stop(stream->loop);
		return;
	}
	s->got[side] += (size_t)nread;
	if (s->got[side] < LOOP_MSG)
		return;
	s->got[side] = 0;
	if (side == 1) { /* the server echoes */
		send_msg(s, 1, s->in[1]);
		return;
	}
	if (memcmp(s->in[0], s->out, LOOP_MSG) != 0) {
		s->failed = 1;
		uv_stop(stream->loop);
		return;
	}
	if (++s->count == s->n) {
		uv_read_stop((uv_stream_t *)&s->tcp[0]);
		uv_read_stop((uv_stream_t *)&s->tcp[1]);
		uv_stop(stream->loop);
		return;
	}
	client_next(s);
}

/* ---- wakeups ---------------------------------------------------------- */

static void async_cb(uv_async_t *a)
{
	struct st *s = a->loop->data;
	if (atomic_load(&s->stop)) {
		uv_close((uv_handle_t *)a, NULL);
		s->async_open = false;
		return;
	}
	s->count++;
	uv_sem_post(&s->sem);
}

static void waker(void *arg)
{
	struct st *s = arg;
	for (int64_t i = 0; i < s->n; i++) {
		uv_async_send(&s->async);
		uv_sem_wait(&s->sem);
	}
	atomic_store(&s->stop, 1);
	uv_async_send(&s->async);
}

/* ---- the peer --------------------------------------------------------- */

static const char *cannot(enum loop_bench b)
{
	return b == B_SWITCH ? "libuv has callbacks, not coroutines" : NULL;
}

static int setup(enum loop_bench b, int64_t n, void **state, char *err)
{
	struct st *s = calloc(1, sizeof *s);
	if (!s)
		return snprintf(err, LOOP_ERRLEN, "out of memory"), -1;
	*state = s;
	s->bench = b;
	s->n = n;
	s->fd[0] = s->fd[1] = -1;
	if (uv_loop_init(&s->loop) != 0)
		return snprintf(err, LOOP_ERRLEN, "uv_loop_init failed"), -1;
	s->loop.data = s;
	if (b == B_PINGPONG) {
		if (loop_tcp_pair(s->fd, err) != 0)
			return -1;
		for (int i = 0; i < 2; i++) {
			uv_tcp_init(&s->loop, &s->tcp[i]);
			s->tcp_open[i] = true;
			if (uv_tcp_open(&s->tcp[i], s->fd[i]) != 0)
				return snprintf(err, LOOP_ERRLEN,
						"uv_tcp_open failed"),
				       -1;
			s->fd[i] = -1; /* libuv owns it now */
			uv_tcp_nodelay(&s->tcp[i], 1);
		}
	}
	if (b == B_WAKEUPS) {
		if (uv_sem_init(&s->sem, 0) != 0 ||
		    uv_async_init(&s->loop, &s->async, async_cb) != 0)
			return snprintf(err, LOOP_ERRLEN, "uv_async_init"), -1;
		s->async_open = true;
	}
	return 0;
}

static int run(void *state, char *err)
{
	struct st *s = state;
	int rc = 0;
	switch (s->bench) {
	case B_TIMERS:
		rc = start_timers(s, loop_timer_delay_ms);
		break;
	case B_SLEEPERS:
		rc = start_timers(s, sleep_delay);
		break;
	case B_PINGPONG:
		for (int i = 0; i < 2 && rc == 0; i++)
			rc = uv_read_start((uv_stream_t *)&s->tcp[i], alloc_cb,
					   read_cb);
		if (rc == 0)
			client_next(s);
		break;
	case B_WAKEUPS:
		rc = uv_thread_create(&s->thread, waker, s);
		break;
	default:
		return snprintf(err, LOOP_ERRLEN, "unknown bench"), -1;
	}
	if (rc != 0)
		return snprintf(err, LOOP_ERRLEN,
				"libuv setup of the run failed"),
		       -1;
	uv_run(&s->loop, UV_RUN_DEFAULT);
	if (s->bench == B_WAKEUPS)
		uv_thread_join(&s->thread);
	if (s->failed || s->count != s->n || s->late)
		return snprintf(err, LOOP_ERRLEN,
				"wrong outcome: %lld of %lld done, %lld timers "
				"early, failed %d",
				(long long)s->count, (long long)s->n,
				(long long)s->late, s->failed),
		       -1;
	return 0;
}

static void teardown(void *state)
{
	struct st *s = state;
	for (int64_t i = 0; i < s->ntimers; i++)
		uv_close((uv_handle_t *)&s->timers[i], NULL);
	for (int i = 0; i < 2; i++)
		if (s->tcp_open[i])
			uv_close((uv_handle_t *)&s->tcp[i], NULL);
	if (s->async_open)
		uv_close((uv_handle_t *)&s->async, NULL);
	uv_run(&s->loop, UV_RUN_DEFAULT); /* runs the close callbacks */
	uv_loop_close(&s->loop);
	if (s->bench == B_WAKEUPS)
		uv_sem_destroy(&s->sem);
	for (int i = 0; i < 2; i++)
		if (s->fd[i] >= 0)
			close(s->fd[i]);
	free(s->timers);
	free(s);
}

const struct loop_peer loop_peer_libuv = {
	.impl = "libuv",
	.cannot = cannot,
	.setup = setup,
	.run = run,
	.teardown = teardown,
};
