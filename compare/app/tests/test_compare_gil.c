/* SPDX-License-Identifier: MIT */
/* Suite "compare_gil": the promises of compare/app/gil.h, the GIL model. */
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool/trace.h"

#include "gil.h"
#include "workloads.h"
#include "support.h"

#define MS INT64_C(1000000)

/* Spins for about ns, passing a checkpoint every ~10 us, as CPU-bound
 * workload code does. */
static void work_with_checkpoints(int64_t ns)
{
	int64_t end = spool_test_now_ns() + ns;
	while (spool_test_now_ns() < end) {
		int64_t unit = spool_test_now_ns() + 10000;
		while (spool_test_now_ns() < unit)
			;
		cmp_gil_checkpoint();
	}
}

START_TEST(create_refuses_a_non_positive_interval)
{
	struct cmp_gil *g = (struct cmp_gil *)1;
	ck_assert_int_eq(cmp_gil_create(&g, 0), -1);
	ck_assert_ptr_null(g);
	ck_assert_int_eq(cmp_gil_create(&g, -5), -1);
	ck_assert_int_eq(cmp_gil_create(&g, 5 * MS), 0);
	ck_assert_ptr_nonnull(g);
	ck_assert_int_eq(cmp_gil_interval(g), 5 * MS);
	cmp_gil_destroy(g);
	cmp_gil_destroy(NULL);
}
END_TEST

START_TEST(hooks_are_no_ops_on_an_unbound_thread)
{
	ck_assert(!cmp_gil_held());
	cmp_gil_checkpoint();
	cmp_gil_blocking_begin();
	ck_assert(!cmp_gil_held());
	cmp_gil_blocking_end();
	ck_assert(!cmp_gil_held());
}
END_TEST

START_TEST(acquire_binds_and_release_unbinds)
{
	struct cmp_gil *g;
	ck_assert_int_eq(cmp_gil_create(&g, 5 * MS), 0);
	cmp_gil_acquire(g);
	ck_assert(cmp_gil_held());
	cmp_gil_blocking_begin();
	ck_assert(!cmp_gil_held());
	cmp_gil_blocking_end();
	ck_assert(cmp_gil_held());
	cmp_gil_checkpoint(); /* nothing requested: keeps it */
	ck_assert(cmp_gil_held());
	cmp_gil_release(g);
	ck_assert(!cmp_gil_held());
	struct cmp_gil_stats st;
	cmp_gil_stats_get(g, &st);
	ck_assert_uint_eq(st.acquisitions, 2);
	/* Taking it back after one's own blocking call is no switch. */
	ck_assert_uint_eq(st.switches, 1);
	ck_assert_uint_eq(st.drop_requests, 0);
	cmp_gil_destroy(g);
}
END_TEST

/* ---- mutual exclusion -----------------------------------------------------
 */

struct excl {
	struct cmp_gil *g;
	atomic_int holders;
	atomic_int violations;
	atomic_long units;
	int iterations;
};

static void check_alone(struct excl *e)
{
	if (atomic_fetch_add(&e->holders, 1) != 0)
		atomic_fetch_add(&e->violations, 1);
	atomic_fetch_add(&e->units, 1);
	if (atomic_fetch_sub(&e->holders, 1) != 1)
		atomic_fetch_add(&e->violations, 1);
}

static void *excl_thread(void *arg)
{
	struct excl *e = arg;
	for (int i = 0; i < e->iterations; i++) {
		cmp_gil_acquire(e->g);
		for (int k = 0; k < 20; k++) {
			check_alone(e);
			/* A unit of work between checkpoints. */
			for (volatile int spin = 0; spin < 200; spin++)
				;
			cmp_gil_checkpoint();
			if (k % 7 == 3) {
				cmp_gil_blocking_begin();
				sched_yield();
				cmp_gil_blocking_end();
			}
		}
		check_alone(e);
		cmp_gil_release(e->g);
	}
	return NULL;
}

START_TEST(never_two_holders_under_contention)
{
	enum { THREADS = 8 };
	struct excl e = {.iterations = 300};
	/* A tiny interval makes drop requests and forced switches frequent. */
	ck_assert_int_eq(cmp_gil_create(&e.g, 50000), 0);
	atomic_init(&e.holders, 0);
	atomic_init(&e.violations, 0);
	atomic_init(&e.units, 0);
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, excl_thread, &e),
				 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(atomic_load(&e.violations), 0);
	ck_assert_int_eq(atomic_load(&e.units), THREADS * 300 * 21);
	struct cmp_gil_stats st;
	cmp_gil_stats_get(e.g, &st);
	ck_assert_uint_ge(st.acquisitions, THREADS * 300);
	ck_assert_uint_ge(st.switches, 1);
	cmp_gil_destroy(e.g);
}
END_TEST

/* ---- the switch interval ------------------------------------------------- */

struct spinner {
	struct cmp_gil *g;
	sem_t holding;
	atomic_bool stop;
	atomic_long units;
};

/* Holds the lock and never drops it by itself: only at checkpoints, on
 * request, as a CPU-bound Python thread. */
static void *spinner_thread(void *arg)
{
	struct spinner *s = arg;
	cmp_gil_acquire(s->g);
	sem_post(&s->holding);
	int64_t give_up = spool_test_now_ns() + 20000 * MS;
	while (!atomic_load(&s->stop) && spool_test_now_ns() < give_up) {
		work_with_checkpoints(50000);
		atomic_fetch_add(&s->units, 1);
	}
	cmp_gil_release(s->g);
	return NULL;
}

START_TEST(waiter_gets_the_lock_within_a_bound_after_the_interval)
{
	const int64_t interval = 5 * MS;
	struct spinner s;
	ck_assert_int_eq(cmp_gil_create(&s.g, interval), 0);
	sem_init(&s.holding, 0, 0);
	atomic_init(&s.stop, false);
	atomic_init(&s.units, 0);
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, spinner_thread, &s), 0);
	sem_wait(&s.holding);

	int64_t t0 = spool_test_now_ns();
	cmp_gil_acquire(s.g);
	int64_t waited = spool_test_now_ns() - t0;
	/* The holder never drops on its own, so the waiter must first wait
	 * out one interval and ask; then the holder's next checkpoint hands
	 * the lock over. The upper bound is wide (sanitizer builds). */
	ck_assert_int_ge(waited, interval);
	ck_assert_int_le(waited, interval + 2000 * MS);

	/* While this thread holds it, the spinner cannot run a unit. */
	long before = atomic_load(&s.units);
	spool_test_sleep_ns(20 * MS);
	ck_assert_int_le(atomic_load(&s.units), before + 1);

	struct cmp_gil_stats st;
	cmp_gil_stats_get(s.g, &st);
	/* The hand-over needed a request. (Whether the holder then waited on
	 * switch_cond depends on who ran first: if the waiter had already
	 * taken the lock, there is nothing left to wait for.) */
	ck_assert_uint_ge(st.drop_requests, 1);
	ck_assert_uint_ge(st.switches, 2);

	atomic_store(&s.stop, true);
	cmp_gil_release(s.g);
	pthread_join(t, NULL);
	sem_destroy(&s.holding);
	cmp_gil_destroy(s.g);
}
END_TEST

/* ---- forced switching -----------------------------------------------------
 * A holder that drops the lock at a checkpoint because a waiter asked must
 * not take it back before that waiter has had it (gil.c, FORCE_SWITCHING):
 * otherwise the holder, still on its CPU, usually wins the lock again and
 * the request achieves nothing. Checked by who held the lock when, not by
 * times: each round the waiter records that it held the lock before it
 * releases it, and every checkpoint of the holder's that gave the lock up
 * must return only after that record. */

enum { FORCED_ROUNDS = 20 };

/* Pins the calling thread to the k-th CPU it may run on, when it may run on
 * more than one, so that the holder and the waiter run on CPUs of their
 * own: a woken waiter then never preempts the holder on its CPU, which
 * would hide a holder that takes the lock straight back. Only makes that
 * fault easier to see; the property holds however they are scheduled. */
static void pin_to_kth_cpu(int k)
{
	cpu_set_t all, one;
	if (sched_getaffinity(0, sizeof(all), &all) != 0 || CPU_COUNT(&all) < 2)
		return;
	CPU_ZERO(&one);
	for (int c = 0, seen = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &all) && seen++ == k) {
			CPU_SET(c, &one);
			pthread_setaffinity_np(pthread_self(), sizeof(one),
					       &one);
			return;
		}
}

struct forced {
	struct cmp_gil *g;
	sem_t go;
	atomic_int rounds_held; /* rounds in which the waiter held it */
};

static void *forced_waiter(void *arg)
{
	struct forced *f = arg;
	pin_to_kth_cpu(1);
	for (int r = 0; r < FORCED_ROUNDS; r++) {
		sem_wait(&f->go);
		cmp_gil_acquire(f->g);
		atomic_store(&f->rounds_held, r + 1);
		cmp_gil_release(f->g);
	}
	return NULL;
}

START_TEST(a_requested_drop_hands_the_lock_to_the_waiter_before_retaking)
{
	struct forced f;
	/* A short interval: the waiter asks 1 ms after it began to wait. */
	ck_assert_int_eq(cmp_gil_create(&f.g, 1 * MS), 0);
	sem_init(&f.go, 0, 0);
	atomic_init(&f.rounds_held, 0);
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, forced_waiter, &f), 0);
	pin_to_kth_cpu(0);
	cmp_gil_acquire(f.g);
	int drops = 0;
	for (int r = 0; r < FORCED_ROUNDS; r++) {
		sem_post(&f.go); /* the waiter queues behind this holder */
		int64_t give_up = spool_test_now_ns() + 10000 * MS;
		while (atomic_load(&f.rounds_held) < r + 1) {
			ck_assert_msg(spool_test_now_ns() < give_up,
				      "round %d: the waiter never got the "
				      "lock",
				      r);
			struct cmp_gil_stats a, b;
			/* Only this thread can take the lock while it holds
			 * it: a change of count is its own drop and take. */
			cmp_gil_stats_get(f.g, &a);
			cmp_gil_checkpoint();
			cmp_gil_stats_get(f.g, &b);
			ck_assert(cmp_gil_held());
			if (b.acquisitions == a.acquisitions)
				continue;
			drops++;
			ck_assert_msg(atomic_load(&f.rounds_held) == r + 1,
				      "round %d: the holder dropped the lock "
				      "on request and took it back before "
				      "the waiter had it",
				      r);
		}
	}
	cmp_gil_release(f.g);
	pthread_join(t, NULL);
	/* Every round ended through a requested drop: the holder never
	 * released the lock otherwise. */
	ck_assert_int_eq(drops, FORCED_ROUNDS);
	struct cmp_gil_stats st;
	cmp_gil_stats_get(f.g, &st);
	ck_assert_uint_ge(st.drop_requests, FORCED_ROUNDS);
	sem_destroy(&f.go);
	cmp_gil_destroy(f.g);
}
END_TEST

/* ---- blocking calls -------------------------------------------------------
 */

struct io_pair {
	struct cmp_gil *g;
	sem_t in_io, other_done;
	atomic_bool holder_in_io;
};

static void *io_holder(void *arg)
{
	struct io_pair *p = arg;
	cmp_gil_acquire(p->g);
	cmp_gil_blocking_begin(); /* e.g. a recv() */
	atomic_store(&p->holder_in_io, true);
	sem_post(&p->in_io);
	sem_wait(&p->other_done); /* blocked "in the kernel" */
	atomic_store(&p->holder_in_io, false);
	cmp_gil_blocking_end();
	cmp_gil_release(p->g);
	return NULL;
}

START_TEST(blocking_section_lets_another_thread_run_without_a_request)
{
	struct io_pair p;
	/* An interval far longer than the test: if taking the lock needed a
	 * drop request, the test would hit its timeout. */
	ck_assert_int_eq(cmp_gil_create(&p.g, 600000 * MS), 0);
	sem_init(&p.in_io, 0, 0);
	sem_init(&p.other_done, 0, 0);
	atomic_init(&p.holder_in_io, false);
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, io_holder, &p), 0);
	sem_wait(&p.in_io);
	cmp_gil_acquire(p.g);
	ck_assert(cmp_gil_held());
	ck_assert(atomic_load(&p.holder_in_io));
	cmp_gil_release(p.g);
	sem_post(&p.other_done);
	pthread_join(t, NULL);
	struct cmp_gil_stats st;
	cmp_gil_stats_get(p.g, &st);
	ck_assert_uint_eq(st.drop_requests, 0);
	ck_assert_uint_eq(st.acquisitions, 3);
	sem_destroy(&p.in_io);
	sem_destroy(&p.other_done);
	cmp_gil_destroy(p.g);
}
END_TEST

/* The workloads' blocking calls release the lock around the wait, as
 * CPython's time.sleep and socket calls do (Py_BEGIN_ALLOW_THREADS): a
 * holder that sleeps or waits for a descriptor takes the lock again after,
 * one more acquisition each, and still holds it. */
START_TEST(io_sleep_and_io_wait_release_the_lock_while_they_block)
{
	struct cmp_gil *g;
	ck_assert_int_eq(cmp_gil_create(&g, 5 * MS), 0);
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_eq(write(fds[1], "x", 1), 1); /* readable at once */
	cmp_gil_acquire(g);
	ck_assert_int_eq(cmp_io_sleep(MS), 0);
	ck_assert(cmp_gil_held());
	ck_assert_int_eq(cmp_io_wait(fds[0], 0, 10 * SPOOL_NS_PER_S), 0);
	ck_assert(cmp_gil_held());
	cmp_gil_release(g);
	struct cmp_gil_stats st;
	cmp_gil_stats_get(g, &st);
	ck_assert_uint_eq(st.acquisitions, 3);
	close(fds[0]);
	close(fds[1]);
	cmp_gil_destroy(g);
}
END_TEST

/* ---- the timeline -----------------------------------------------------------
 * Under spool's tracer every take of the lock opens a "holds the GIL" slice
 * and every take that found the lock held a "waits for the GIL" slice
 * before it (gil.c, "Timeline"). Counted against the model's statistics:
 * the forced-switching scenario gives FORCED_ROUNDS requested drops, each
 * of which the waiter waited for. */

static size_t occurrences(const char *text, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

START_TEST(trace_shows_one_hold_slice_per_take_and_the_waits)
{
	char path[] = "/tmp/spool-gil-trace-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(spool_trace_start(path), 0);
	struct forced f;
	ck_assert_int_eq(cmp_gil_create(&f.g, 1 * MS), 0);
	sem_init(&f.go, 0, 0);
	atomic_init(&f.rounds_held, 0);
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, forced_waiter, &f), 0);
	cmp_gil_acquire(f.g);
	for (int r = 0; r < FORCED_ROUNDS; r++) {
		sem_post(&f.go);
		int64_t give_up = spool_test_now_ns() + 10000 * MS;
		while (atomic_load(&f.rounds_held) < r + 1 &&
		       spool_test_now_ns() < give_up)
			cmp_gil_checkpoint();
	}
	cmp_gil_release(f.g);
	pthread_join(t, NULL);
	ck_assert_int_eq(spool_trace_stop(), 0);
	struct cmp_gil_stats st;
	cmp_gil_stats_get(f.g, &st);
	ck_assert_int_eq(atomic_load(&f.rounds_held), FORCED_ROUNDS);

	FILE *in = fopen(path, "r");
	ck_assert_ptr_nonnull(in);
	static char text[1 << 20];
	size_t len = fread(text, 1, sizeof(text) - 1, in);
	fclose(in);
	unlink(path);
	ck_assert_uint_lt(len, sizeof(text) - 1);
	text[len] = 0;
	size_t holds = occurrences(text, "\"name\":\"holds the GIL\"");
	size_t waits = occurrences(text, "\"name\":\"waits for the GIL\"");
	ck_assert_msg(holds == st.acquisitions,
		      "%zu \"holds the GIL\" slices for %llu takes", holds,
		      (unsigned long long)st.acquisitions);
	/* Each round the waiter waited for a requested drop; nobody else
	 * waited longer than a take can (at most every take). */
	ck_assert_msg(waits >= FORCED_ROUNDS && waits <= st.acquisitions,
		      "%zu \"waits for the GIL\" slices, %d requested "
		      "drops, %llu takes",
		      waits, FORCED_ROUNDS,
		      (unsigned long long)st.acquisitions);
	sem_destroy(&f.go);
	cmp_gil_destroy(f.g);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("compare_gil");
	TCase *tc = spool_test_case("model", 60);
	tcase_add_test(tc, create_refuses_a_non_positive_interval);
	tcase_add_test(tc, hooks_are_no_ops_on_an_unbound_thread);
	tcase_add_test(tc, acquire_binds_and_release_unbinds);
	tcase_add_test(tc, never_two_holders_under_contention);
	tcase_add_test(tc,
		       waiter_gets_the_lock_within_a_bound_after_the_interval);
	tcase_add_test(
		tc, blocking_section_lets_another_thread_run_without_a_request);
	tcase_add_test(tc,
		       io_sleep_and_io_wait_release_the_lock_while_they_block);
	tcase_add_test(
		tc,
		a_requested_drop_hands_the_lock_to_the_waiter_before_retaking);
	tcase_add_test(tc, trace_shows_one_hold_slice_per_take_and_the_waits);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
