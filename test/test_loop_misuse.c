/* SPDX-License-Identifier: MIT */
/*
 * Suite "loop_misuse": the promises spool/loop.h keeps when it is called
 * wrongly. Deadlines in the past (negative, INT64_MIN) run in the next
 * iteration and never stall the loop; descriptors that are not open, that
 * are beyond any table, or that the loop itself owns are SPOOL_EINVAL; the
 * loop-thread-only calls made from another thread while the loop runs are
 * SPOOL_EINVAL, or abort with a message where they cannot answer; calls
 * from other threads that overlap spool_loop_destroy() are refused with
 * SPOOL_ESHUTDOWN, and calls into a destroyed loop or a handle released
 * twice abort with a message.
 *
 * An abort is checked in a child process (expect_misuse): it must die of
 * SIGABRT and print spool's misuse line on stderr. Every wait is bounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

#define MS SPOOL_NS_PER_MS
/* A bound for every wait: nothing here should take more than a fraction. */
#define BOUND (5 * SPOOL_NS_PER_S)

static spool_loop *new_loop(unsigned flags)
{
	spool_loop_options o = SPOOL_LOOP_OPTIONS_INIT;
	o.flags = flags;
	spool_loop *loop = NULL;
	ck_assert_int_eq(spool_loop_create(&loop, &o), 0);
	return loop;
}

static void stop_cb(spool_loop *loop, void *arg)
{
	(void)arg;
	spool_loop_stop(loop);
}

static void count_cb(spool_loop *loop, void *arg)
{
	(void)loop;
	atomic_fetch_add((atomic_int *)arg, 1);
}

/* A log of small integers written by callbacks. */
struct log {
	int v[16];
	int n;
};

struct entry {
	struct log *log;
	int id;
};

static void log_cb(spool_loop *loop, void *arg)
{
	struct entry *e = arg;
	(void)loop;
	ck_assert_int_lt(e->log->n, 16);
	e->log->v[e->log->n++] = e->id;
}

/* Runs scenario(arg) in a child process, which must die of SIGABRT after
 * printing a line that contains `message` on stderr. */
static void expect_misuse(void (*scenario)(void *), void *arg,
			  const char *message)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], STDERR_FILENO);
		alarm(10); /* a hang dies of SIGALRM, which fails below */
		scenario(arg);
		_exit(0);
	}
	close(p[1]);
	char out[4096];
	size_t n = 0;
	ssize_t r;
	while (n < sizeof out - 1 &&
	       ((r = read(p[0], out + n, sizeof out - 1 - n)) > 0 ||
		(r < 0 && errno == EINTR)))
		if (r > 0)
			n += (size_t)r;
	out[n] = '\0';
	close(p[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		ck_assert_int_eq(errno, EINTR);
	ck_assert_msg(
		WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
		"expected an abort with \"%s\"; the child %s %d, "
		"stderr: %s",
		message, WIFSIGNALED(status) ? "died of signal" : "exited",
		WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
		out);
	ck_assert_msg(strstr(out, message),
		      "expected \"%s\" on stderr, got: %s", message, out);
}

/* ---- deadlines in the past -------------------------------------------- */

static const unsigned both_modes[] = {0, SPOOL_LOOP_TIMERFD};

/* A timer at `when`, alone on the loop, stops it: run must return. */
static void past_deadline_stops(unsigned flags, int64_t when)
{
	spool_loop *loop = new_loop(flags);
	spool_handle *h;
	ck_assert_int_eq(spool_loop_call_at(loop, when, stop_cb, NULL, &h), 0);
	ck_assert_int_eq(spool_handle_when(h), when);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	ck_assert_int_eq(spool_handle_cancel(h), SPOOL_ESTATE); /* it ran */
	spool_handle_release(h);
	spool_loop_destroy(loop);
}

START_TEST(call_at_in_the_past_runs_next_iteration)
{
	for (size_t m = 0; m < 2; m++) {
		spool_loop *probe = new_loop(0);
		int64_t now = spool_loop_time(probe);
		spool_loop_destroy(probe);
		const int64_t when[] = {
			-1,
			0,
			-3600 * SPOOL_NS_PER_S,
			now - 3600 * SPOOL_NS_PER_S, /* negative soon after boot
						      */
			INT64_MIN,
			INT64_MIN + 1,
			now - 1,
		};
		for (size_t i = 0; i < sizeof when / sizeof *when; i++)
			past_deadline_stops(both_modes[m], when[i]);
	}
}
END_TEST

static int sleep_1ms_task(void *arg, void **result)
{
	(void)arg;
	*result = NULL;
	return spool_sleep(1 * MS);
}

START_TEST(a_past_deadline_stalls_neither_timers_nor_sleeping_coroutines)
{
	for (size_t m = 0; m < 2; m++) {
		spool_loop *loop = new_loop(both_modes[m]);
		struct log log = {.n = 0};
		/* Scheduled latest first: they run by deadline. */
		struct entry e[4] = {
			{&log, 3}, {&log, 2}, {&log, 1}, {&log, 0}};
		const int64_t when[4] = {spool_loop_time(loop) + 1 * MS, -1,
					 -3600 * SPOOL_NS_PER_S, INT64_MIN};
		for (int i = 0; i < 4; i++)
			ck_assert_int_eq(spool_loop_call_at(loop, when[i],
							    log_cb, &e[i],
							    NULL),
					 0);
		spool_future *t = spool_test_loop_submit(loop, sleep_1ms_task,
							 NULL);
		ck_assert_int_eq(spool_loop_run_until_complete(loop, t), 0);
		spool_future_release(t);
		ck_assert_int_eq(spool_loop_call_later(loop, 2 * MS, stop_cb,
						       NULL, NULL),
				 0);
		ck_assert_int_eq(spool_loop_run(loop), 0);
		ck_assert_int_eq(log.n, 4);
		for (int i = 0; i < 4; i++)
			ck_assert_int_eq(log.v[i], i);
		spool_loop_destroy(loop);
	}
}
END_TEST

static void *stop_threadsafe(void *arg)
{
	spool_test_sleep_ns(2 * MS);
	ck_assert_int_eq(spool_loop_call_soon_threadsafe(arg, stop_cb, NULL),
			 0);
	return NULL;
}

START_TEST(deadlines_near_int64_max_never_fire_and_never_overflow)
{
	for (size_t m = 0; m < 2; m++) {
		spool_loop *loop = new_loop(both_modes[m]);
		atomic_int ran = 0;
		spool_handle *h;
		/* Saturates at INT64_MAX instead of wrapping negative. */
		ck_assert_int_eq(spool_loop_call_later(loop, INT64_MAX - 1,
						       count_cb, &ran, &h),
				 0);
		ck_assert_int_eq(spool_handle_when(h), INT64_MAX);
		spool_handle_release(h);
		ck_assert_int_eq(spool_loop_call_later(loop, SPOOL_FOREVER,
						       count_cb, &ran, NULL),
				 0);
		ck_assert_int_eq(spool_loop_call_at(loop, INT64_MAX, count_cb,
						    &ran, NULL),
				 0);
		ck_assert_int_eq(spool_loop_call_at(loop, INT64_MAX - 1,
						    count_cb, &ran, NULL),
				 0);
		/* Only far deadlines: the loop sleeps until woken. */
		pthread_t th;
		ck_assert_int_eq(
			pthread_create(&th, NULL, stop_threadsafe, loop), 0);
		ck_assert_int_eq(spool_loop_run(loop), 0);
		pthread_join(th, NULL);
		ck_assert_int_eq(spool_loop_call_later(loop, 1 * MS, stop_cb,
						       NULL, NULL),
				 0);
		ck_assert_int_eq(spool_loop_run(loop), 0);
		ck_assert_int_eq(atomic_load(&ran), 0);
		spool_loop_destroy(loop);
	}
}
END_TEST

/* ---- bad descriptors -------------------------------------------------- */

static int bad_fds[6];
enum { NBAD = sizeof bad_fds / sizeof *bad_fds };

/* Fills bad_fds: huge numbers, -1, and two numbers just closed (high
 * ones, which the lowest-first numbering does not hand out again). */
static void make_bad_fds(void)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	int hi[2] = {fcntl(p[0], F_DUPFD, 900), fcntl(p[1], F_DUPFD, 900)};
	ck_assert(hi[0] >= 900 && hi[1] >= 900);
	for (int i = 0; i < 2; i++) {
		close(p[i]);
		close(hi[i]);
	}
	const int v[NBAD] = {INT_MAX, 1 << 30, 100000000, -1, hi[0], hi[1]};
	memcpy(bad_fds, v, sizeof v);
}

static const int64_t timeouts[] = {SPOOL_FOREVER, BOUND, 0};

/* Every wait on every bad descriptor is EINVAL; counts them in *result. */
static int wait_bad_fds_task(void *arg, void **result)
{
	(void)arg;
	intptr_t n = 0;
	for (int i = 0; i < NBAD; i++) {
		for (size_t k = 0; k < 3; k++) {
			ck_assert_int_eq(
				spool_wait_readable(bad_fds[i], timeouts[k]),
				SPOOL_EINVAL);
			ck_assert_int_eq(
				spool_wait_writable(bad_fds[i], timeouts[k]),
				SPOOL_EINVAL);
			n += 2;
		}
	}
	*result = (void *)n;
	return 0;
}

START_TEST(a_wait_on_a_huge_or_closed_descriptor_is_einval)
{
	make_bad_fds();
	/* In a coroutine (epoll) ... */
	spool_loop *loop = new_loop(0);
	spool_future *t = spool_test_loop_submit(loop, wait_bad_fds_task, NULL);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, t), 0);
	ck_assert_int_eq((intptr_t)spool_future_value(t), NBAD * 6);
	spool_future_release(t);
	spool_loop_destroy(loop);
	/* ... and on a plain thread (poll). */
	for (int i = 0; i < NBAD; i++) {
		ck_assert_int_eq(spool_wait_readable(bad_fds[i], BOUND),
				 SPOOL_EINVAL);
		ck_assert_int_eq(spool_wait_writable(bad_fds[i], 0),
				 SPOOL_EINVAL);
	}
}
END_TEST

/* ---- the loop's own descriptors --------------------------------------- */

enum { FD_SCAN = 1024 };

struct own {
	int fd[8];
	int n;
	int rc[8][4];
};

static int wait_own_fds_task(void *arg, void **result)
{
	struct own *o = arg;
	for (int i = 0; i < o->n; i++) {
		o->rc[i][0] = spool_wait_readable(o->fd[i], 1 * MS);
		o->rc[i][1] = spool_wait_writable(o->fd[i], 1 * MS);
		o->rc[i][2] = spool_wait_readable(o->fd[i], 0);
		o->rc[i][3] = spool_wait_readable(o->fd[i], SPOOL_FOREVER);
	}
	*result = NULL;
	return 0;
}

static void *complete_threadsafe(void *arg);

struct wake {
	spool_loop *loop;
	spool_future *p;
};

static void complete_cb(spool_loop *loop, void *arg)
{
	(void)loop;
	ck_assert_int_eq(spool_promise_set_result(arg, arg), 0);
}

static void *complete_threadsafe(void *arg)
{
	struct wake *w = arg;
	spool_test_sleep_ns(2 * MS);
	ck_assert_int_eq(
		spool_loop_call_soon_threadsafe(w->loop, complete_cb, w->p), 0);
	return NULL;
}

START_TEST(a_wait_on_the_loops_own_descriptors_is_einval)
{
	for (size_t m = 0; m < 2; m++) {
		bool open_before[FD_SCAN];
		for (int fd = 0; fd < FD_SCAN; fd++)
			open_before[fd] = fcntl(fd, F_GETFD) >= 0;
		spool_loop *loop = new_loop(both_modes[m]);
		struct own o = {.n = 0};
		for (int fd = 0; fd < FD_SCAN; fd++)
			if (!open_before[fd] && fcntl(fd, F_GETFD) >= 0) {
				ck_assert_int_lt(o.n, 8);
				o.fd[o.n++] = fd;
			}
		/* epoll and eventfd, and the timerfd in that mode */
		ck_assert_int_ge(o.n, m == 0 ? 2 : 3);
		spool_future *t = spool_test_loop_submit(loop,
							 wait_own_fds_task, &o);
		ck_assert_int_eq(spool_loop_run_until_complete(loop, t), 0);
		spool_future_release(t);
		for (int i = 0; i < o.n; i++)
			for (int k = 0; k < 4; k++)
				ck_assert_msg(o.rc[i][k] == SPOOL_EINVAL,
					      "wait %d on the loop's fd %d: %s",
					      k, o.fd[i],
					      spool_err_name(o.rc[i][k]));
		/* The loop still hears other threads, and its timers. */
		struct wake w = {loop, spool_promise_new()};
		pthread_t th;
		ck_assert_int_eq(
			pthread_create(&th, NULL, complete_threadsafe, &w), 0);
		ck_assert_int_eq(spool_loop_run_until_complete(loop, w.p), 0);
		pthread_join(th, NULL);
		spool_future_release(w.p);
		t = spool_test_loop_submit(loop, sleep_1ms_task, NULL);
		ck_assert_int_eq(spool_loop_run_until_complete(loop, t), 0);
		spool_future_release(t);
		spool_loop_destroy(loop);
	}
}
END_TEST

/* ---- loop-thread-only calls from another thread ----------------------- */

struct intruder {
	spool_loop *loop;
	spool_handle *h; /* scheduled by the loop's thread */
	spool_future *done;
	atomic_int ran;
	int rc[5];
	bool running;
};

static void *intrude(void *arg)
{
	struct intruder *s = arg;
	spool_handle *h = (spool_handle *)&h; /* must be set to NULL */
	s->rc[0] = spool_loop_call_soon(s->loop, count_cb, &s->ran, &h);
	ck_assert_ptr_null(h);
	s->rc[1] = spool_loop_call_later(s->loop, 0, count_cb, &s->ran, NULL);
	s->rc[2] = spool_loop_call_at(s->loop, 0, count_cb, &s->ran, NULL);
	s->rc[3] = spool_handle_cancel(s->h);
	s->rc[4] = spool_loop_call_soon(s->loop, count_cb, &s->ran, NULL);
	s->running = spool_loop_is_running(s->loop);
	ck_assert_int_eq(spool_promise_set_result(s->done, NULL), 0);
	return NULL;
}

static pthread_t intruder_thread;

static void start_intruder_cb(spool_loop *loop, void *arg)
{
	(void)loop;
	ck_assert_int_eq(pthread_create(&intruder_thread, NULL, intrude, arg),
			 0);
}

START_TEST(loop_thread_only_calls_from_another_thread_while_it_runs_are_einval)
{
	static struct intruder s;
	s = (struct intruder){.loop = new_loop(0), .done = spool_promise_new()};
	atomic_init(&s.ran, 0);
	ck_assert_int_eq(
		spool_loop_call_later(s.loop, BOUND, count_cb, &s.ran, &s.h),
		0);
	ck_assert_int_eq(
		spool_loop_call_soon(s.loop, start_intruder_cb, &s, NULL), 0);
	/* The loop runs from before the thread starts until it is done. */
	ck_assert_int_eq(spool_loop_run_until_complete(s.loop, s.done), 0);
	pthread_join(intruder_thread, NULL);
	for (int i = 0; i < 5; i++)
		ck_assert_msg(s.rc[i] == SPOOL_EINVAL, "call %d: %s", i,
			      spool_err_name(s.rc[i]));
	ck_assert(s.running);
	ck_assert(!spool_handle_cancelled(s.h));
	/* Nothing was scheduled: a few more turns run nothing. */
	ck_assert_int_eq(
		spool_loop_call_later(s.loop, 1 * MS, stop_cb, NULL, NULL), 0);
	ck_assert_int_eq(spool_loop_run(s.loop), 0);
	ck_assert_int_eq(atomic_load(&s.ran), 0);
	/* Once the loop has stopped, any one thread may call again. */
	ck_assert_int_eq(spool_handle_cancel(s.h), 0);
	spool_handle_release(s.h);
	spool_future_release(s.done);
	spool_loop_destroy(s.loop);
}
END_TEST

/* In a child: the loop runs on this thread; another thread makes one void
 * loop-thread-only call, which must abort. */
enum void_call { VC_STOP, VC_RELEASE, VC_CANCELLED, VC_DESTROY };

struct void_intruder {
	spool_loop *loop;
	spool_handle *h;
	enum void_call call;
};

static void *void_intrude(void *arg)
{
	struct void_intruder *v = arg;
	switch (v->call) {
	case VC_STOP:
		spool_loop_stop(v->loop);
		break;
	case VC_RELEASE:
		spool_handle_release(v->h);
		break;
	case VC_CANCELLED:
		(void)spool_handle_cancelled(v->h);
		break;
	case VC_DESTROY:
		spool_loop_destroy(v->loop);
		break;
	}
	_exit(0); /* no abort: the parent reports it */
}

static void start_void_intruder_cb(spool_loop *loop, void *arg)
{
	(void)loop;
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, void_intrude, arg), 0);
}

static void void_intruder_scenario(void *arg)
{
	struct void_intruder v = {new_loop(0), NULL, *(enum void_call *)arg};
	spool_loop_call_later(v.loop, BOUND, stop_cb, NULL, &v.h);
	spool_loop_call_soon(v.loop, start_void_intruder_cb, &v, NULL);
	spool_loop_run(v.loop);
}

START_TEST(loop_thread_only_void_calls_from_another_thread_abort)
{
	static const struct {
		enum void_call call;
		const char *message;
	} cases[] = {
		{VC_STOP, "spool: misuse of spool_loop_stop(): "},
		{VC_RELEASE, "spool: misuse of spool_handle_release(): "},
		{VC_CANCELLED, "spool: misuse of spool_handle_cancelled(): "},
		{VC_DESTROY, "spool: misuse of spool_loop_destroy(): "},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		enum void_call c = cases[i].call;
		expect_misuse(void_intruder_scenario, &c, cases[i].message);
	}
}
END_TEST

/* ---- destroy racing with other threads -------------------------------- */

enum { NCALLERS = 4 };

struct race {
	spool_loop *loop;
	atomic_int refused; /* callers that have seen ESHUTDOWN both ways */
	atomic_int accepted_calls, ran_calls;
	atomic_int gave_up; /* the stubborn task stopped waiting */
};

struct caller {
	struct race *r;
	spool_future *f[4096];
	int nf;
	int calls, shutdowns;
};

static int add_one(void *arg, void **result)
{
	*result = (char *)arg + 1;
	return 0;
}

/* Calls into the loop until both kinds of call are refused, then stops:
 * it never calls after destroy has returned. */
static void *caller_main(void *arg)
{
	struct caller *c = arg;
	struct race *r = c->r;
	bool call_refused = false, submit_refused = false;
	while (!(call_refused && submit_refused)) {
		int rc = spool_loop_call_soon_threadsafe(r->loop, count_cb,
							 &r->ran_calls);
		if (rc == 0)
			atomic_fetch_add(&r->accepted_calls, 1);
		else
			ck_assert_int_eq(rc, SPOOL_ESHUTDOWN);
		call_refused |= rc == SPOOL_ESHUTDOWN;
		if (c->nf < 4096) {
			spool_future *f = spool_submit(
				spool_loop_executor(r->loop), add_one, c);
			ck_assert_ptr_nonnull(f);
			c->f[c->nf++] = f;
			if (spool_future_state(f) == SPOOL_FAILED &&
			    spool_future_error(f) == SPOOL_ESHUTDOWN)
				submit_refused = true;
		} else {
			submit_refused = true; /* enough futures */
		}
	}
	atomic_fetch_add(&r->refused, 1);
	return NULL;
}

/* Suspended when destroy begins; then, while destroy waits for it to
 * finish, waits (bounded) for every caller to have been refused. */
static int stubborn_task(void *arg, void **result)
{
	struct race *r = arg;
	*result = NULL;
	int rc = spool_sleep(3600 * SPOOL_NS_PER_S);
	int64_t t0 = spool_test_now_ns();
	while (atomic_load(&r->refused) < NCALLERS) {
		if (spool_test_now_ns() - t0 > BOUND) {
			atomic_store(&r->gave_up, 1);
			break;
		}
		sched_yield();
	}
	return rc;
}

START_TEST(calls_from_other_threads_that_overlap_destroy_are_eshutdown)
{
	for (int round = 0; round < 10; round++) {
		static struct race r;
		static struct caller c[NCALLERS];
		r = (struct race){.loop = new_loop(0)};
		spool_future *st = spool_test_loop_submit(r.loop, stubborn_task,
							  &r);
		spool_future *first = spool_test_loop_submit(
			r.loop, sleep_1ms_task, NULL);
		ck_assert_int_eq(spool_loop_run_until_complete(r.loop, first),
				 0);
		spool_future_release(first);
		pthread_t th[NCALLERS];
		for (int i = 0; i < NCALLERS; i++) {
			c[i] = (struct caller){.r = &r};
			ck_assert_int_eq(pthread_create(&th[i], NULL,
							caller_main, &c[i]),
					 0);
		}
		/* Let the callers get going, some of the time. */
		if (round % 2)
			spool_test_sleep_ns(1 * MS);
		spool_loop_destroy(r.loop);
		for (int i = 0; i < NCALLERS; i++)
			pthread_join(th[i], NULL);
		ck_assert_msg(!atomic_load(&r.gave_up),
			      "other threads were not refused while destroy "
			      "ran");
		ck_assert_int_eq(spool_future_state(st), SPOOL_CANCELLED);
		spool_future_release(st);
		/* Each call accepted ran at most once (destroy may drop a
		 * callback unrun); each future is final: done, never
		 * started, or refused. */
		ck_assert_int_le(atomic_load(&r.ran_calls),
				 atomic_load(&r.accepted_calls));
		for (int i = 0; i < NCALLERS; i++) {
			for (int k = 0; k < c[i].nf; k++) {
				spool_future *f = c[i].f[k];
				switch (spool_future_state(f)) {
				case SPOOL_DONE:
					ck_assert_ptr_eq(spool_future_value(f),
							 (char *)&c[i] + 1);
					break;
				case SPOOL_CANCELLED:
					break;
				case SPOOL_FAILED:
					ck_assert_int_eq(spool_future_error(f),
							 SPOOL_ESHUTDOWN);
					break;
				default:
					ck_abort_msg("a future is not final");
				}
				spool_future_release(f);
			}
		}
	}
}
END_TEST

enum late_call {
	LC_THREADSAFE,
	LC_SUBMIT,
	LC_SUBMIT_OTHER_THREAD,
	LC_RUN_IN_EXECUTOR,
	LC_CALL_SOON,
	LC_RUN,
	LC_DESTROY,
	LC_STOP,
};

static void *late_submit_main(void *arg)
{
	spool_future *f = spool_submit(spool_loop_executor(arg), add_one, arg);
	(void)f;
	return NULL;
}

static void late_call_scenario(void *arg)
{
	spool_loop *loop = new_loop(0);
	spool_loop_destroy(loop);
	pthread_t th;
	switch (*(enum late_call *)arg) {
	case LC_THREADSAFE:
		spool_loop_call_soon_threadsafe(loop, stop_cb, NULL);
		break;
	case LC_SUBMIT:
		spool_submit(spool_loop_executor(loop), add_one, NULL);
		break;
	case LC_SUBMIT_OTHER_THREAD:
		pthread_create(&th, NULL, late_submit_main, loop);
		pthread_join(th, NULL);
		break;
	case LC_RUN_IN_EXECUTOR:
		spool_loop_run_in_executor(loop, spool_executor_inline(),
					   add_one, NULL);
		break;
	case LC_CALL_SOON:
		spool_loop_call_soon(loop, stop_cb, NULL, NULL);
		break;
	case LC_RUN:
		spool_loop_run(loop);
		break;
	case LC_DESTROY:
		spool_loop_destroy(loop);
		break;
	case LC_STOP:
		spool_loop_stop(loop);
		break;
	}
}

START_TEST(calls_into_a_destroyed_loop_abort_with_a_message)
{
	static const struct {
		enum late_call call;
		const char *message;
	} cases[] = {
		{LC_THREADSAFE, "spool: misuse of "
				"spool_loop_call_soon_threadsafe(): the loop "
				"was destroyed"},
		{LC_SUBMIT, "spool: misuse of spool_submit(): the loop was "
			    "destroyed"},
		{LC_SUBMIT_OTHER_THREAD, "spool: misuse of spool_submit(): "
					 "the loop was destroyed"},
		{LC_RUN_IN_EXECUTOR, "spool: misuse of "
				     "spool_loop_run_in_executor(): the loop "
				     "was destroyed"},
		{LC_CALL_SOON, "spool: misuse of spool_loop_call_soon(): the "
			       "loop was destroyed"},
		{LC_RUN, "spool: misuse of spool_loop_run(): the loop was "
			 "destroyed"},
		{LC_DESTROY, "spool: misuse of spool_loop_destroy(): the loop "
			     "was destroyed"},
		{LC_STOP, "spool: misuse of spool_loop_stop(): the loop was "
			  "destroyed"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		enum late_call c = cases[i].call;
		expect_misuse(late_call_scenario, &c, cases[i].message);
	}
}
END_TEST

/* ---- releasing a handle twice ----------------------------------------- */

enum twice { TW_QUEUED, TW_RAN, TW_TIMER, TW_CANCELLED };

static void release_twice_scenario(void *arg)
{
	spool_loop *loop = new_loop(0);
	spool_handle *h;
	atomic_int ran = 0;
	switch (*(enum twice *)arg) {
	case TW_QUEUED: /* the loop still holds it */
		spool_loop_call_soon(loop, count_cb, &ran, &h);
		break;
	case TW_RAN: /* only the caller holds it */
		spool_loop_call_soon(loop, count_cb, &ran, &h);
		spool_loop_call_soon(loop, stop_cb, NULL, NULL);
		spool_loop_run(loop);
		break;
	case TW_TIMER:
		spool_loop_call_later(loop, BOUND, count_cb, &ran, &h);
		break;
	case TW_CANCELLED:
		spool_loop_call_later(loop, 0, count_cb, &ran, &h);
		spool_handle_cancel(h);
		spool_loop_call_later(loop, 1 * MS, stop_cb, NULL, NULL);
		spool_loop_run(loop);
		break;
	}
	spool_handle_release(h);
	spool_handle_release(h);
	/* Without the abort: let the loop trip over it. */
	spool_loop_call_later(loop, 1 * MS, stop_cb, NULL, NULL);
	spool_loop_run(loop);
	spool_loop_destroy(loop);
}

START_TEST(releasing_a_handle_twice_aborts_with_a_message)
{
	for (enum twice w = TW_QUEUED; w <= TW_CANCELLED; w++)
		expect_misuse(release_twice_scenario, &w,
			      "spool: misuse of spool_handle_release(): "
			      "handle released twice");
}
END_TEST

/* Raises SIGABRT at the second release; ends the test if it returns
 * (glibc's own double-free check must not be what aborts). */
START_TEST(releasing_a_queued_handle_twice_raises_sigabrt)
{
	spool_loop *loop = new_loop(0);
	spool_handle *h;
	ck_assert_int_eq(spool_loop_call_soon(loop, stop_cb, NULL, &h), 0);
	spool_handle_release(h);
	spool_handle_release(h);
}
END_TEST

static void use_after_release_scenario(void *arg)
{
	spool_loop *loop = new_loop(0);
	spool_handle *h;
	spool_loop_call_soon(loop, stop_cb, NULL, &h);
	spool_handle_release(h);
	if (*(int *)arg)
		spool_handle_cancel(h);
	else
		(void)spool_handle_cancelled(h);
	spool_loop_destroy(loop);
}

START_TEST(using_a_released_handle_aborts_with_a_message)
{
	int cancel = 1;
	expect_misuse(use_after_release_scenario, &cancel,
		      "spool: misuse of spool_handle_cancel(): the handle "
		      "was released");
	cancel = 0;
	expect_misuse(use_after_release_scenario, &cancel,
		      "spool: misuse of spool_handle_cancelled(): the handle "
		      "was released");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("loop_misuse");
	TCase *tc = spool_test_case("deadlines", 10);
	tcase_add_test(tc, call_at_in_the_past_runs_next_iteration);
	tcase_add_test(
		tc,
		a_past_deadline_stalls_neither_timers_nor_sleeping_coroutines);
	tcase_add_test(tc,
		       deadlines_near_int64_max_never_fire_and_never_overflow);
	suite_add_tcase(s, tc);

	tc = spool_test_case("descriptors", 10);
	tcase_add_test(tc, a_wait_on_a_huge_or_closed_descriptor_is_einval);
	tcase_add_test(tc, a_wait_on_the_loops_own_descriptors_is_einval);
	suite_add_tcase(s, tc);

	tc = spool_test_case("threads", 10);
	tcase_add_test(
		tc,
		loop_thread_only_calls_from_another_thread_while_it_runs_are_einval);
	tcase_add_test(tc,
		       loop_thread_only_void_calls_from_another_thread_abort);
	suite_add_tcase(s, tc);

	tc = spool_test_case("destroy", 30);
	tcase_add_test(
		tc,
		calls_from_other_threads_that_overlap_destroy_are_eshutdown);
	tcase_add_test(tc, calls_into_a_destroyed_loop_abort_with_a_message);
	suite_add_tcase(s, tc);

	tc = spool_test_case("handles", 10);
	tcase_add_test(tc, releasing_a_handle_twice_aborts_with_a_message);
	tcase_add_test_raise_signal(
		tc, releasing_a_queued_handle_twice_raises_sigabrt, SIGABRT);
	tcase_add_test(tc, using_a_released_handle_aborts_with_a_message);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
