/* SPDX-License-Identifier: MIT */
/* Suite "loop_io": spool_wait_readable() / spool_wait_writable() in
 * coroutines (epoll), on plain threads (poll) and on the loop's thread
 * outside a coroutine (SPOOL_EDEADLK); echo exchanges over a socketpair and
 * over TCP on 127.0.0.1. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support.h"

#define MS SPOOL_NS_PER_MS

static void socket_pair(int sv[2])
{
	ck_assert_int_eq(
		socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
}

/* ---- coroutine I/O helpers: what a user writes on top of the waits ---- */

/* Reads exactly n bytes, suspending while the socket is empty. */
static int co_read_all(int fd, char *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r > 0) {
			got += (size_t)r;
		} else if (r == 0) {
			return -1; /* end of file */
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int rc = spool_wait_readable(fd, SPOOL_FOREVER);
			if (rc != 0)
				return rc;
		} else if (errno != EINTR) {
			return -1;
		}
	}
	return 0;
}

static int co_write_all(int fd, const char *buf, size_t n)
{
	size_t put = 0;
	while (put < n) {
		ssize_t r = write(fd, buf + put, n - put);
		if (r >= 0) {
			put += (size_t)r;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int rc = spool_wait_writable(fd, SPOOL_FOREVER);
			if (rc != 0)
				return rc;
		} else if (errno != EINTR) {
			return -1;
		}
	}
	return 0;
}

/* ---- echo ------------------------------------------------------------- */

enum { ROUNDS = 200, MSG = 64 };

struct echo {
	int fd;
	int rounds;
	int done;
	char last[MSG];
};

static int echo_server(void *arg, void **result)
{
	struct echo *e = arg;
	char buf[MSG];
	(void)result;
	for (int i = 0; i < e->rounds; i++) {
		if (co_read_all(e->fd, buf, MSG) != 0 ||
		    co_write_all(e->fd, buf, MSG) != 0)
			return 1;
		e->done++;
	}
	return 0;
}

static int echo_client(void *arg, void **result)
{
	struct echo *e = arg;
	char out[MSG], in[MSG];
	(void)result;
	for (int i = 0; i < e->rounds; i++) {
		memset(out, 'a' + i % 26, MSG);
		snprintf(out, MSG, "message %d", i);
		if (co_write_all(e->fd, out, MSG) != 0 ||
		    co_read_all(e->fd, in, MSG) != 0)
			return 1;
		if (memcmp(in, out, MSG) != 0)
			return 2;
		e->done++;
		memcpy(e->last, in, MSG);
	}
	return 0;
}

static void run_echo(spool_loop *loop, int server_fd, int client_fd)
{
	struct echo srv = {server_fd, ROUNDS, 0, {0}};
	struct echo cli = {client_fd, ROUNDS, 0, {0}};
	spool_future *fs = spool_test_loop_submit(loop, echo_server, &srv);
	spool_future *fc = spool_test_loop_submit(loop, echo_client, &cli);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, fc), 0);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, fs), 0);
	ck_assert_int_eq(srv.done, ROUNDS);
	ck_assert_int_eq(cli.done, ROUNDS);
	char want[MSG];
	memset(want, 'a' + (ROUNDS - 1) % 26, MSG);
	snprintf(want, MSG, "message %d", ROUNDS - 1);
	ck_assert_int_eq(memcmp(cli.last, want, MSG), 0);
	spool_future_release(fs);
	spool_future_release(fc);
}

START_TEST(coroutines_exchange_echo_messages_over_a_socketpair)
{
	spool_loop *loop = spool_test_loop_new();
	int sv[2];
	socket_pair(sv);
	run_echo(loop, sv[0], sv[1]);
	close(sv[0]);
	close(sv[1]);
	spool_loop_destroy(loop);
}
END_TEST

struct acceptor {
	int listen_fd;
	int fd;
};

static int accept_task(void *arg, void **result)
{
	struct acceptor *a = arg;
	(void)result;
	for (;;) {
		a->fd = accept4(a->listen_fd, NULL, NULL, SOCK_NONBLOCK);
		if (a->fd >= 0)
			return 0;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return 1;
		int rc = spool_wait_readable(a->listen_fd, 5000 * MS);
		if (rc != 0)
			return rc;
	}
}

struct connector {
	struct sockaddr_in addr;
	int fd;
};

static int connect_task(void *arg, void **result)
{
	struct connector *c = arg;
	(void)result;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		return 1;
	if (connect(c->fd, (struct sockaddr *)&c->addr, sizeof c->addr) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return 2;
	int rc = spool_wait_writable(c->fd, 5000 * MS);
	if (rc != 0)
		return rc;
	int err = 0;
	socklen_t len = sizeof err;
	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
	return err ? 3 : 0;
}

START_TEST(coroutines_exchange_echo_messages_over_tcp_on_loopback)
{
	spool_loop *loop = spool_test_loop_new();
	int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(l, 0);
	struct sockaddr_in addr = {.sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				   .sin_port = 0};
	ck_assert_int_eq(bind(l, (struct sockaddr *)&addr, sizeof addr), 0);
	ck_assert_int_eq(listen(l, 8), 0);
	socklen_t len = sizeof addr;
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&addr, &len), 0);
	struct acceptor a = {l, -1};
	struct connector c = {addr, -1};
	spool_future *fa = spool_test_loop_submit(loop, accept_task, &a);
	spool_future *fc = spool_test_loop_submit(loop, connect_task, &c);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, fa), 0);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, fc), 0);
	int one = 1;
	setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(a.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	run_echo(loop, a.fd, c.fd);
	close(a.fd);
	close(c.fd);
	close(l);
	spool_future_release(fa);
	spool_future_release(fc);
	spool_loop_destroy(loop);
}
END_TEST

/* ---- waits: timeouts, sharing, errors --------------------------------- */

struct fdwait {
	int fd;
	bool write;
	int64_t timeout;
	int rc;
};

static int fdwait_task(void *arg, void **result)
{
	struct fdwait *w = arg;
	(void)result;
	w->rc = w->write ? spool_wait_writable(w->fd, w->timeout)
			 : spool_wait_readable(w->fd, w->timeout);
	return 0;
}

static int run_wait(spool_loop *loop, struct fdwait *w)
{
	spool_future *f = spool_test_loop_submit(loop, fdwait_task, w);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, f), 0);
	spool_future_release(f);
	return w->rc;
}

START_TEST(a_wait_on_a_quiet_descriptor_times_out)
{
	spool_loop *loop = spool_test_loop_new();
	int sv[2];
	socket_pair(sv);
	struct fdwait w = {sv[0], false, 3 * MS, 99};
	int64_t t0 = spool_test_now_ns();
	ck_assert_int_eq(run_wait(loop, &w), SPOOL_ETIMEDOUT);
	ck_assert_int_ge(spool_test_now_ns() - t0, 3 * MS);
	w = (struct fdwait){sv[0], false, 0, 99}; /* poll only */
	ck_assert_int_eq(run_wait(loop, &w), SPOOL_ETIMEDOUT);
	/* After a timeout the descriptor still works. */
	ck_assert_int_eq(write(sv[1], "x", 1), 1);
	w = (struct fdwait){sv[0], false, SPOOL_FOREVER, 99};
	ck_assert_int_eq(run_wait(loop, &w), 0);
	w = (struct fdwait){sv[0], true, SPOOL_FOREVER, 99};
	ck_assert_int_eq(run_wait(loop, &w), 0);
	close(sv[0]);
	close(sv[1]);
	spool_loop_destroy(loop);
}
END_TEST

static int write_byte_task(void *arg, void **result)
{
	(void)result;
	spool_sleep(2 * MS);
	return write(*(int *)arg, "y", 1) == 1 ? 0 : 1;
}

START_TEST(every_coroutine_waiting_on_a_descriptor_is_woken)
{
	enum { N = 5 };
	spool_loop *loop = spool_test_loop_new();
	int sv[2];
	socket_pair(sv);
	struct fdwait w[N];
	spool_future *f[N];
	for (int i = 0; i < N; i++) {
		w[i] = (struct fdwait){sv[0], false, SPOOL_FOREVER, 99};
		f[i] = spool_test_loop_submit(loop, fdwait_task, &w[i]);
	}
	spool_future *fw = spool_test_loop_submit(loop, write_byte_task,
						  &sv[1]);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(spool_loop_run_until_complete(loop, f[i]), 0);
		ck_assert_int_eq(w[i].rc, 0);
		spool_future_release(f[i]);
	}
	ck_assert_int_eq(spool_loop_run_until_complete(loop, fw), 0);
	spool_future_release(fw);
	close(sv[0]);
	close(sv[1]);
	spool_loop_destroy(loop);
}
END_TEST

START_TEST(a_reader_and_a_writer_share_one_descriptor)
{
	/* One descriptor, a coroutine waiting to read and one waiting to
	 * write: the write readiness must not be lost when the one-shot
	 * registration fires for the reader (or the other way round). */
	spool_loop *loop = spool_test_loop_new();
	int sv[2];
	socket_pair(sv);
	/* Fill sv[0]'s send buffer so that it is not writable. */
	char junk[4096];
	memset(junk, 0, sizeof junk);
	size_t filled = 0;
	while (write(sv[0], junk, sizeof junk) > 0)
		filled += sizeof junk;
	struct fdwait r = {sv[0], false, SPOOL_FOREVER, 99};
	struct fdwait w = {sv[0], true, SPOOL_FOREVER, 99};
	spool_future *fr = spool_test_loop_submit(loop, fdwait_task, &r);
	spool_future *fw = spool_test_loop_submit(loop, fdwait_task, &w);
	spool_future *fb = spool_test_loop_submit(loop, write_byte_task,
						  &sv[1]);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, fr), 0);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_int_eq(spool_future_state(fw), SPOOL_RUNNING);
	/* Drain the peer: sv[0] becomes writable. */
	while (filled > 0) {
		ssize_t n = read(sv[1], junk, sizeof junk);
		if (n <= 0)
			break;
		filled -= (size_t)n < filled ? (size_t)n : filled;
	}
	ck_assert_int_eq(spool_loop_run_until_complete(loop, fw), 0);
	ck_assert_int_eq(w.rc, 0);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, fb), 0);
	spool_future_release(fr);
	spool_future_release(fw);
	spool_future_release(fb);
	close(sv[0]);
	close(sv[1]);
	spool_loop_destroy(loop);
}
END_TEST

START_TEST(bad_descriptors_and_timeouts_are_einval_and_files_always_ready)
{
	spool_loop *loop = spool_test_loop_new();
	struct fdwait w = {-1, false, SPOOL_FOREVER, 99};
	ck_assert_int_eq(run_wait(loop, &w), SPOOL_EINVAL);
	int sv[2];
	socket_pair(sv);
	w = (struct fdwait){sv[0], false, -5, 99};
	ck_assert_int_eq(run_wait(loop, &w), SPOOL_EINVAL);
	close(sv[0]);
	close(sv[1]);
	/* A closed descriptor number. */
	w = (struct fdwait){sv[0], false, SPOOL_FOREVER, 99};
	ck_assert_int_eq(run_wait(loop, &w), SPOOL_EINVAL);
	/* A regular file: epoll refuses it, poll says ready. */
	int fd = open("/proc/self/status", O_RDONLY);
	ck_assert_int_ge(fd, 0);
	w = (struct fdwait){fd, false, SPOOL_FOREVER, 99};
	ck_assert_int_eq(run_wait(loop, &w), 0);
	close(fd);
	ck_assert_int_eq(spool_wait_readable(-1, 0), SPOOL_EINVAL);
	spool_loop_destroy(loop);
}
END_TEST

START_TEST(cancelling_a_coroutine_waiting_on_a_descriptor_ends_the_wait)
{
	spool_loop *loop = spool_test_loop_new();
	int sv[2];
	socket_pair(sv);
	struct fdwait w = {sv[0], false, SPOOL_FOREVER, 99};
	spool_future *f = spool_test_loop_submit(loop, fdwait_task, &w);
	struct fdwait pause = {sv[0], false, 1 * MS, 99};
	ck_assert_int_eq(run_wait(loop, &pause), SPOOL_ETIMEDOUT);
	ck_assert_int_eq(spool_future_cancel(f), 0);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, f), 0);
	ck_assert_int_eq(w.rc, SPOOL_ECANCELLED);
	spool_future_release(f);
	/* The descriptor can be waited on again. */
	ck_assert_int_eq(write(sv[1], "z", 1), 1);
	w = (struct fdwait){sv[0], false, SPOOL_FOREVER, 99};
	ck_assert_int_eq(run_wait(loop, &w), 0);
	close(sv[0]);
	close(sv[1]);
	spool_loop_destroy(loop);
}
END_TEST

START_TEST(a_descriptor_number_reused_after_close_is_watched_afresh)
{
	/* A wait on a0 times out, leaving its one-shot registration armed;
	 * a0 is closed (epoll forgets it) and its number is reused for
	 * another socket. A wait on that number must register it again. */
	spool_loop *loop = spool_test_loop_new();
	int a[2], b[2];
	socket_pair(a);
	struct fdwait w = {a[0], false, 1 * MS, 99};
	ck_assert_int_eq(run_wait(loop, &w), SPOOL_ETIMEDOUT);
	int num = a[0];
	close(a[0]);
	close(a[1]);
	socket_pair(b);
	if (b[0] != num) {
		ck_assert_int_eq(dup2(b[0], num), num);
		close(b[0]);
		b[0] = num;
	}
	w = (struct fdwait){b[0], false, 5000 * MS, 99};
	spool_future *fr = spool_test_loop_submit(loop, fdwait_task, &w);
	spool_future *fw = spool_test_loop_submit(loop, write_byte_task, &b[1]);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, fr), 0);
	ck_assert_int_eq(w.rc, 0);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, fw), 0);
	spool_future_release(fr);
	spool_future_release(fw);
	close(b[0]);
	close(b[1]);
	spool_loop_destroy(loop);
}
END_TEST

/* A coroutine that keeps the loop busy (never idle) until *stop is set. */
static int spinner_task(void *arg, void **result)
{
	const bool *stop = arg;
	(void)result;
	while (!*stop)
		if (spool_sleep(0) != 0)
			return SPOOL_ECANCELLED;
	return 0;
}

struct stop_after {
	struct fdwait *w;
	bool *stop;
};

static int wait_then_stop_task(void *arg, void **result)
{
	struct stop_after *sa = arg;
	fdwait_task(sa->w, result);
	*sa->stop = true;
	return 0;
}

START_TEST(readiness_that_comes_while_nobody_waits_is_not_lost)
{
	/* The registration is kept between waits and edge-triggered: data
	 * that arrives between two waits must still end the second one. */
	spool_loop *loop = spool_test_loop_new();
	int sv[2];
	socket_pair(sv);
	struct fdwait w = {sv[0], false, 1 * MS, 99};
	ck_assert_int_eq(run_wait(loop, &w), SPOOL_ETIMEDOUT);
	ck_assert_int_eq(write(sv[1], "x", 1), 1);
	/* Let the loop see the edge with nobody waiting. */
	w = (struct fdwait){sv[1], false, 2 * MS, 99};
	ck_assert_int_eq(run_wait(loop, &w), SPOOL_ETIMEDOUT);
	w = (struct fdwait){sv[0], false, 5000 * MS, 99};
	ck_assert_int_eq(run_wait(loop, &w), 0);
	char c;
	ck_assert_int_eq(read(sv[0], &c, 1), 1);
	ck_assert_int_eq(c, 'x');
	/* Drained: a wait now has nothing to report (a readiness kept from
	 * before may end one wait early, as documented; the next sees the
	 * truth). */
	w = (struct fdwait){sv[0], false, 1 * MS, 99};
	if (run_wait(loop, &w) == 0) {
		w = (struct fdwait){sv[0], false, 1 * MS, 99};
		ck_assert_int_eq(run_wait(loop, &w), SPOOL_ETIMEDOUT);
	}
	ck_assert_int_eq(w.rc, SPOOL_ETIMEDOUT);
	close(sv[0]);
	close(sv[1]);
	spool_loop_destroy(loop);
}
END_TEST

START_TEST(a_reused_descriptor_number_is_watched_afresh_in_a_busy_loop)
{
	/* As above, but another coroutine keeps the loop from ever going
	 * idle, so the loop must notice the stale registration while busy. */
	spool_loop *loop = spool_test_loop_new();
	int a[2], b[2];
	socket_pair(a);
	struct fdwait w = {a[0], false, 1 * MS, 99};
	ck_assert_int_eq(run_wait(loop, &w), SPOOL_ETIMEDOUT);
	int num = a[0];
	close(a[0]);
	close(a[1]);
	socket_pair(b);
	if (b[0] != num) {
		ck_assert_int_eq(dup2(b[0], num), num);
		close(b[0]);
		b[0] = num;
	}
	bool stop = false;
	w = (struct fdwait){b[0], false, 5000 * MS, 99};
	struct stop_after sa = {&w, &stop};
	spool_future *fs = spool_test_loop_submit(loop, spinner_task, &stop);
	spool_future *fr = spool_test_loop_submit(loop, wait_then_stop_task,
						  &sa);
	spool_future *fw = spool_test_loop_submit(loop, write_byte_task, &b[1]);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, fr), 0);
	ck_assert_int_eq(w.rc, 0);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, fs), 0);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, fw), 0);
	spool_future_release(fs);
	spool_future_release(fr);
	spool_future_release(fw);
	close(b[0]);
	close(b[1]);
	spool_loop_destroy(loop);
}
END_TEST

/* ---- outside coroutines ----------------------------------------------- */

struct thread_wait {
	int fd;
	int rc_timeout, rc_ready;
	atomic_int timed_out;
};

static void *thread_waits(void *arg)
{
	struct thread_wait *t = arg;
	t->rc_timeout = spool_wait_readable(t->fd, 2 * MS);
	atomic_store(&t->timed_out, 1); /* now the peer writes */
	t->rc_ready = spool_wait_readable(t->fd, 5000 * MS);
	return NULL;
}

START_TEST(waits_on_a_plain_thread_block_in_poll)
{
	int sv[2];
	socket_pair(sv);
	static struct thread_wait t;
	t = (struct thread_wait){.fd = sv[0], .rc_timeout = 99, .rc_ready = 99};
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, thread_waits, &t), 0);
	while (!atomic_load(&t.timed_out))
		spool_test_sleep_ns(100 * 1000);
	spool_test_sleep_ns(2 * MS); /* most likely blocked in poll now */
	ck_assert_int_eq(write(sv[1], "q", 1), 1);
	pthread_join(th, NULL);
	ck_assert_int_eq(t.rc_timeout, SPOOL_ETIMEDOUT);
	ck_assert_int_eq(t.rc_ready, 0);
	ck_assert_int_eq(spool_wait_writable(sv[0], SPOOL_FOREVER), 0);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

struct loop_thread_wait {
	int fd;
	int rc_block, rc_poll;
};

static void loop_thread_wait_cb(spool_loop *loop, void *arg)
{
	struct loop_thread_wait *w = arg;
	w->rc_block = spool_wait_readable(w->fd, SPOOL_FOREVER);
	w->rc_poll = spool_wait_readable(w->fd, 0);
	spool_loop_stop(loop);
}

START_TEST(a_descriptor_wait_on_the_loop_thread_outside_a_coroutine_is_edeadlk)
{
	spool_loop *loop = spool_test_loop_new();
	int sv[2];
	socket_pair(sv);
	struct loop_thread_wait w = {sv[0], 99, 99};
	ck_assert_int_eq(
		spool_loop_call_soon(loop, loop_thread_wait_cb, &w, NULL), 0);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	ck_assert_int_eq(w.rc_block, SPOOL_EDEADLK);
	ck_assert_int_eq(w.rc_poll, SPOOL_ETIMEDOUT);
	close(sv[0]);
	close(sv[1]);
	spool_loop_destroy(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("loop_io");
	TCase *tc = spool_test_case("echo", 60);
	tcase_add_test(tc, coroutines_exchange_echo_messages_over_a_socketpair);
	tcase_add_test(tc,
		       coroutines_exchange_echo_messages_over_tcp_on_loopback);
	suite_add_tcase(s, tc);

	tc = spool_test_case("waits", 30);
	tcase_add_test(tc, a_wait_on_a_quiet_descriptor_times_out);
	tcase_add_test(tc, every_coroutine_waiting_on_a_descriptor_is_woken);
	tcase_add_test(tc, a_reader_and_a_writer_share_one_descriptor);
	tcase_add_test(
		tc,
		bad_descriptors_and_timeouts_are_einval_and_files_always_ready);
	tcase_add_test(
		tc,
		cancelling_a_coroutine_waiting_on_a_descriptor_ends_the_wait);
	tcase_add_test(
		tc, a_descriptor_number_reused_after_close_is_watched_afresh);
	tcase_add_test(tc, readiness_that_comes_while_nobody_waits_is_not_lost);
	tcase_add_test(
		tc,
		a_reused_descriptor_number_is_watched_afresh_in_a_busy_loop);
	suite_add_tcase(s, tc);

	tc = spool_test_case("outside", 30);
	tcase_add_test(tc, waits_on_a_plain_thread_block_in_poll);
	tcase_add_test(
		tc,
		a_descriptor_wait_on_the_loop_thread_outside_a_coroutine_is_edeadlk);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
