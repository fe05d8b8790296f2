/* SPDX-License-Identifier: MIT */
/* Suite "coro_shared": loops created with SPOOL_LOOP_SHARED_STACK, whose
 * coroutines all run on one stack and keep their used part in a heap
 * buffer while another runs: locals survive many suspensions in many
 * coroutines, deep call chains included; a coroutine's pointers to its
 * own locals stay valid while it runs; descriptor waits, future waits,
 * cancellation and destroy work with suspended coroutines. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support.h"

#define MS SPOOL_NS_PER_MS

static spool_loop *shared_loop(void)
{
	spool_loop_options o = SPOOL_LOOP_OPTIONS_INIT;
	o.flags = SPOOL_LOOP_SHARED_STACK;
	spool_loop *loop = NULL;
	ck_assert_int_eq(spool_loop_create(&loop, &o), 0);
	return loop;
}

/* ---- locals across suspensions ---------------------------------------- */

enum { NCORO = 300, ROUNDS = 40, WORDS = 48 };

struct keeper {
	int id;
	int errors; /* locals found changed after a suspension */
	int rounds;
};

/* Fills a frame-local array from seed, suspends (deep in a call chain of
 * depth levels, each with its own array), and checks every array after
 * each suspension. */
static int keep_deep(struct keeper *k, int depth, uint32_t seed)
{
	volatile uint32_t mine[WORDS];
	for (int i = 0; i < WORDS; i++)
		mine[i] = seed * 2654435761u + (uint32_t)i;
	int rc;
	if (depth > 0) {
		rc = keep_deep(k, depth - 1, seed + 1);
	} else {
		/* Alternate yields and short sleeps: different coroutines
		 * resume in different orders. */
		rc = (seed & 1) ? spool_sleep(0) : spool_sleep(MS / 4);
	}
	for (int i = 0; i < WORDS; i++)
		if (mine[i] != seed * 2654435761u + (uint32_t)i)
			k->errors++;
	return rc;
}

static int keeper_task(void *arg, void **result)
{
	struct keeper *k = arg;
	(void)result;
	for (int r = 0; r < ROUNDS; r++) {
		int rc = keep_deep(k, k->id % 7, (uint32_t)(k->id * 1000 + r));
		if (rc != 0)
			return rc;
		k->rounds++;
	}
	return 0;
}

START_TEST(many_coroutines_on_a_shared_stack_keep_their_locals)
{
	spool_loop *loop = shared_loop();
	static struct keeper k[NCORO];
	spool_future *f[NCORO];
	for (int i = 0; i < NCORO; i++) {
		k[i] = (struct keeper){i, 0, 0};
		f[i] = spool_test_loop_submit(loop, keeper_task, &k[i]);
	}
	for (int i = 0; i < NCORO; i++) {
		ck_assert_int_eq(spool_loop_run_until_complete(loop, f[i]), 0);
		spool_future_release(f[i]);
	}
	for (int i = 0; i < NCORO; i++) {
		ck_assert_int_eq(k[i].errors, 0);
		ck_assert_int_eq(k[i].rounds, ROUNDS);
	}
	spool_loop_destroy(loop);
}
END_TEST

/* ---- pointers to a coroutine's own stack ------------------------------ */

struct selfref {
	int errors;
	int done;
};

static void bump(int *p)
{
	(*p)++;
}

static int selfref_task(void *arg, void **result)
{
	struct selfref *s = arg;
	(void)result;
	int counter = 0;
	int *p = &counter; /* kept across suspensions, used only by us */
	uintptr_t where = (uintptr_t)p;
	for (int i = 0; i < 50; i++) {
		if (spool_sleep(0) != 0)
			return SPOOL_ECANCELLED;
		if ((uintptr_t)&counter != where)
			s->errors++;
		bump(p);
	}
	if (counter != 50)
		s->errors++;
	s->done++;
	return 0;
}

START_TEST(a_pointer_to_its_own_stack_is_valid_while_the_coroutine_runs)
{
	spool_loop *loop = shared_loop();
	struct selfref s = {0, 0};
	spool_future *f[20];
	for (int i = 0; i < 20; i++)
		f[i] = spool_test_loop_submit(loop, selfref_task, &s);
	for (int i = 0; i < 20; i++) {
		ck_assert_int_eq(spool_loop_run_until_complete(loop, f[i]), 0);
		spool_future_release(f[i]);
	}
	ck_assert_int_eq(s.errors, 0);
	ck_assert_int_eq(s.done, 20);
	spool_loop_destroy(loop);
}
END_TEST

/* ---- waits ------------------------------------------------------------ */

struct echo {
	int fd;
	int n;
	int errors;
};

static int read_exact(int fd, char *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r > 0)
			got += (size_t)r;
		else if (r < 0 && errno == EAGAIN)
			spool_wait_readable(fd, SPOOL_FOREVER);
		else
			return -1;
	}
	return 0;
}

static int echo_server(void *arg, void **result)
{
	struct echo *e = arg;
	char buf[32];
	(void)result;
	for (int i = 0; i < e->n; i++) {
		if (read_exact(e->fd, buf, sizeof buf) != 0 ||
		    write(e->fd, buf, sizeof buf) != (ssize_t)sizeof buf)
			e->errors++;
	}
	return 0;
}

static int echo_client(void *arg, void **result)
{
	struct echo *e = arg;
	char out[32], in[32];
	(void)result;
	for (int i = 0; i < e->n; i++) {
		memset(out, 'a' + (i + e->fd) % 26, sizeof out);
		if (write(e->fd, out, sizeof out) != (ssize_t)sizeof out ||
		    read_exact(e->fd, in, sizeof in) != 0 ||
		    memcmp(in, out, sizeof in) != 0)
			e->errors++;
	}
	return 0;
}

START_TEST(descriptor_waits_work_on_a_shared_stack)
{
	/* The loop walks the waiters of a descriptor while their coroutines
	 * are suspended and other coroutines occupy the shared stack. */
	enum { PAIRS = 8, MSGS = 200 };
	spool_loop *loop = shared_loop();
	int sv[PAIRS][2];
	struct echo srv[PAIRS], cli[PAIRS];
	spool_future *f[2 * PAIRS];
	for (int i = 0; i < PAIRS; i++) {
		ck_assert_int_eq(socketpair(AF_UNIX,
					    SOCK_STREAM | SOCK_NONBLOCK, 0,
					    sv[i]),
				 0);
		srv[i] = (struct echo){sv[i][0], MSGS, 0};
		cli[i] = (struct echo){sv[i][1], MSGS, 0};
		f[2 * i] = spool_test_loop_submit(loop, echo_server, &srv[i]);
		f[2 * i + 1] = spool_test_loop_submit(loop, echo_client,
						      &cli[i]);
	}
	for (int i = 0; i < 2 * PAIRS; i++) {
		ck_assert_int_eq(spool_loop_run_until_complete(loop, f[i]), 0);
		spool_future_release(f[i]);
	}
	for (int i = 0; i < PAIRS; i++) {
		ck_assert_int_eq(srv[i].errors, 0);
		ck_assert_int_eq(cli[i].errors, 0);
		close(sv[i][0]);
		close(sv[i][1]);
	}
	spool_loop_destroy(loop);
}
END_TEST

static int value_task(void *arg, void **result)
{
	spool_sleep(MS / 2);
	*result = arg;
	return 0;
}

struct awaiter {
	spool_loop *loop;
	intptr_t id;
	int errors;
};

static int awaiter_task(void *arg, void **result)
{
	struct awaiter *a = arg;
	volatile intptr_t canary = a->id * 31;
	(void)result;
	spool_future *g = spool_submit(spool_loop_executor(a->loop), value_task,
				       (void *)a->id);
	if (!g)
		return SPOOL_ENOMEM;
	int rc = spool_future_wait(g, SPOOL_FOREVER);
	if (rc != 0 || spool_future_value(g) != (void *)a->id ||
	    canary != a->id * 31)
		a->errors++;
	spool_future_release(g);
	return 0;
}

START_TEST(future_waits_work_on_a_shared_stack)
{
	enum { N = 100 };
	spool_loop *loop = shared_loop();
	static struct awaiter a[N];
	spool_future *f[N];
	for (int i = 0; i < N; i++) {
		a[i] = (struct awaiter){loop, i + 1, 0};
		f[i] = spool_test_loop_submit(loop, awaiter_task, &a[i]);
	}
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(spool_loop_run_until_complete(loop, f[i]), 0);
		spool_future_release(f[i]);
		ck_assert_int_eq(a[i].errors, 0);
	}
	spool_loop_destroy(loop);
}
END_TEST

/* ---- cancel and destroy ----------------------------------------------- */

struct sleeper {
	int id;
	int woke_rc;
	int errors;
};

static int forever_task(void *arg, void **result)
{
	struct sleeper *s = arg;
	volatile int canary[16];
	(void)result;
	for (int i = 0; i < 16; i++)
		canary[i] = s->id + i;
	s->woke_rc = spool_sleep(SPOOL_FOREVER);
	for (int i = 0; i < 16; i++)
		if (canary[i] != s->id + i)
			s->errors++;
	return s->woke_rc;
}

START_TEST(cancel_and_destroy_with_suspended_shared_stack_coroutines)
{
	enum { N = 200 };
	spool_loop *loop = shared_loop();
	static struct sleeper s[N];
	spool_future *f[N];
	for (int i = 0; i < N; i++) {
		s[i] = (struct sleeper){i, 99, 0};
		f[i] = spool_test_loop_submit(loop, forever_task, &s[i]);
	}
	/* Let them all start and suspend. */
	spool_future *tick = spool_test_loop_submit(loop, value_task, NULL);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, tick), 0);
	spool_future_release(tick);
	/* Cancel every other one, in an order unlike the start order. */
	for (int i = N - 1; i >= 0; i -= 2)
		ck_assert_int_eq(spool_future_cancel(f[i]), 0);
	for (int i = N - 1; i >= 0; i -= 2)
		ck_assert_int_eq(spool_loop_run_until_complete(loop, f[i]),
				 SPOOL_ECANCELLED);
	for (int i = N - 1; i >= 0; i -= 2) {
		ck_assert_int_eq(s[i].woke_rc, SPOOL_ECANCELLED);
		ck_assert_int_eq(s[i].errors, 0);
		ck_assert_int_eq(s[i - 1].woke_rc, 99); /* still asleep */
	}
	/* Destroy finishes the rest, each resuming on the shared stack. */
	spool_loop_destroy(loop);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(spool_future_state(f[i]), SPOOL_CANCELLED);
		ck_assert_int_eq(s[i].woke_rc, SPOOL_ECANCELLED);
		ck_assert_int_eq(s[i].errors, 0);
		spool_future_release(f[i]);
	}
}
END_TEST

START_TEST(unknown_loop_flags_are_einval)
{
	spool_loop_options o = SPOOL_LOOP_OPTIONS_INIT;
	o.flags = SPOOL_LOOP_SHARED_STACK << 1;
	spool_loop *loop = (spool_loop *)&o;
	ck_assert_int_eq(spool_loop_create(&loop, &o), SPOOL_EINVAL);
	ck_assert_ptr_null(loop);
	o.flags = SPOOL_LOOP_SHARED_STACK | SPOOL_LOOP_TIMERFD;
	ck_assert_int_eq(spool_loop_create(&loop, &o), 0);
	spool_loop_destroy(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("coro_shared");
	TCase *tc = spool_test_case("shared", 60);
	tcase_add_test(tc, many_coroutines_on_a_shared_stack_keep_their_locals);
	tcase_add_test(
		tc,
		a_pointer_to_its_own_stack_is_valid_while_the_coroutine_runs);
	tcase_add_test(tc, descriptor_waits_work_on_a_shared_stack);
	tcase_add_test(tc, future_waits_work_on_a_shared_stack);
	tcase_add_test(
		tc, cancel_and_destroy_with_suspended_shared_stack_coroutines);
	tcase_add_test(tc, unknown_loop_flags_are_einval);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
