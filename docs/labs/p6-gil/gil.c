/* SPDX-License-Identifier: MIT */
/*
 * The GIL model of lab P6 (gil.h): CPython's "new GIL" (Python 3.2,
 * Python/ceval_gil.c) reduced to its protocol.
 *
 * State, under mu: locked, the holder's id, switch_number (times taken),
 * the number of waiters. drop_request is atomic because the holder polls
 * it without the mutex at every checkpoint.
 *
 * take: while locked, wait on cond for one interval; if it timed out and
 * the lock has not been taken by anyone meanwhile (switch_number
 * unchanged), set drop_request. Then take it, clear drop_request, bump
 * switch_number and wake any dropper waiting for the switch.
 * drop: unlock and signal cond; if a drop was requested and someone
 * waits, wait on switch_cond until switch_number moves (forced
 * switching: without it the dropper, still running, would usually take
 * the lock straight back before the woken waiter gets a CPU).
 * No wake-up is lost: every change a waiter waits for (locked cleared,
 * switch_number bumped) is made under mu and followed by a signal or
 * broadcast of the condition it waits on, and each waiter re-checks its
 * condition under mu before waiting.
 */
#include "gil.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

struct lab_gil {
	pthread_mutex_t mu;
	pthread_cond_t cond;        /* the lock was released */
	pthread_cond_t switch_cond; /* the lock was taken */
	bool locked;
	uint64_t holder; /* id of the thread that holds or last held it */
	uint64_t switch_number;
	int waiters;
	atomic_bool drop_request;
	int64_t interval_ns;
	atomic_uint_least64_t acquisitions, switches, drop_requests;
};

static _Thread_local lab_gil *held;     /* the lock this thread holds */
static _Thread_local lab_gil *set_down; /* released around a blocking call */
static _Thread_local uint64_t self_id;
static _Thread_local long my_checkpoints;
static atomic_uint_least64_t next_id = 1;
static atomic_bool expect_held;
static atomic_long unlocked_checkpoints;

int lab_gil_create(lab_gil **out, int64_t switch_interval_ns)
{
	if (switch_interval_ns <= 0)
		return -1;
	lab_gil *g = calloc(1, sizeof(*g));
	if (!g)
		return -1;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cond, &ca);
	pthread_cond_init(&g->switch_cond, &ca);
	pthread_condattr_destroy(&ca);
	g->interval_ns = switch_interval_ns;
	*out = g;
	return 0;
}

void lab_gil_destroy(lab_gil *g)
{
	if (!g)
		return;
	pthread_mutex_destroy(&g->mu);
	pthread_cond_destroy(&g->cond);
	pthread_cond_destroy(&g->switch_cond);
	free(g);
}

static struct timespec after(int64_t ns)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ns / 1000000000);
	ts.tv_nsec += (long)(ns % 1000000000);
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

void lab_gil_acquire(lab_gil *g)
{
	if (!self_id)
		self_id = atomic_fetch_add(&next_id, 1);
	pthread_mutex_lock(&g->mu);
	if (g->locked) {
		g->waiters++;
		while (g->locked) {
			uint64_t seen = g->switch_number;
			struct timespec until = after(g->interval_ns);
			int rc = pthread_cond_timedwait(&g->cond, &g->mu,
							&until);
			if (rc == ETIMEDOUT && g->locked &&
			    g->switch_number == seen &&
			    !atomic_exchange(&g->drop_request, true))
				atomic_fetch_add(&g->drop_requests, 1);
		}
		g->waiters--;
	}
	g->locked = true;
	if (g->holder != self_id)
		atomic_fetch_add(&g->switches, 1);
	g->holder = self_id;
	g->switch_number++;
	atomic_store(&g->drop_request, false);
	atomic_fetch_add(&g->acquisitions, 1);
	pthread_cond_broadcast(&g->switch_cond);
	pthread_mutex_unlock(&g->mu);
	held = g;
}

void lab_gil_release(lab_gil *g)
{
	held = NULL;
	pthread_mutex_lock(&g->mu);
	g->locked = false;
	pthread_cond_signal(&g->cond);
	if (atomic_load(&g->drop_request) && g->waiters > 0) {
		uint64_t seen = g->switch_number;
		while (g->switch_number == seen && g->waiters > 0)
			pthread_cond_wait(&g->switch_cond, &g->mu);
	}
	pthread_mutex_unlock(&g->mu);
}

/* ---- the checker's CPU-share probe (gil.h) -------------------------- */

/* The probe's generation: a thread whose slot is from an older one takes
 * a new slot. Slots hold permille of a CPU (-1: none yet). */
static atomic_int share_gen;
static atomic_int share_used;
static atomic_int share_permille[LAB_GIL_SHARE_THREADS];
static _Thread_local int my_gen, my_slot = -1;
static _Thread_local int64_t my_wall0, my_cpu0;

static int64_t clock_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void lab_gil_share_begin(void)
{
	for (int i = 0; i < LAB_GIL_SHARE_THREADS; i++)
		atomic_store(&share_permille[i], -1);
	atomic_store(&share_used, 0);
	atomic_fetch_add(&share_gen, 1);
}

double lab_gil_share_min(void)
{
	int n = atomic_load(&share_used), min = 1000;
	for (int i = 0; i < n && i < LAB_GIL_SHARE_THREADS; i++) {
		int v = atomic_load(&share_permille[i]);
		if (v >= 0 && v < min)
			min = v;
	}
	return min / 1000.0;
}

static void share_sample(void)
{
	int gen = atomic_load(&share_gen);
	if (gen == 0)
		return; /* no probe asked for */
	if (my_gen != gen || my_slot < 0) {
		my_gen = gen;
		my_slot = atomic_fetch_add(&share_used, 1);
		my_wall0 = clock_ns(CLOCK_MONOTONIC);
		my_cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		return;
	}
	if (my_slot >= LAB_GIL_SHARE_THREADS)
		return;
	int64_t wall = clock_ns(CLOCK_MONOTONIC) - my_wall0;
	int64_t cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID) - my_cpu0;
	if (wall > 0)
		atomic_store(&share_permille[my_slot],
			     (int)(cpu * 1000 / wall));
}

/* The meeting (gil.h): meet_want threads expected, meet_arrived so far,
 * meet_failed once one gave up; a thread joins once per meet_gen. */
static atomic_int meet_gen, meet_want, meet_arrived;
static atomic_bool meet_failed;
static _Thread_local int my_meet_gen;

void lab_gil_meet_begin(int n)
{
	atomic_store(&meet_want, n);
	atomic_store(&meet_arrived, 0);
	atomic_store(&meet_failed, false);
	atomic_fetch_add(&meet_gen,
			 1); /* after the rest: threads read it first */
}

bool lab_gil_meet_end(void)
{
	bool met = !atomic_load(&meet_failed) &&
		   atomic_load(&meet_arrived) >= atomic_load(&meet_want);
	atomic_store(&meet_want, 0);
	return met;
}

static void meet(void)
{
	int gen = atomic_load(&meet_gen);
	int want = atomic_load(&meet_want);
	if (want <= 0 || my_meet_gen == gen)
		return;
	my_meet_gen = gen;
	atomic_fetch_add(&meet_arrived, 1);
	int64_t end = clock_ns(CLOCK_MONOTONIC) + LAB_GIL_MEET_NS;
	while (atomic_load(&meet_arrived) < want &&
	       !atomic_load(&meet_failed)) {
		if (clock_ns(CLOCK_MONOTONIC) > end) {
			atomic_store(&meet_failed, true);
			return;
		}
		struct timespec pause = {0, 100 * 1000};
		nanosleep(&pause, NULL);
	}
}

void lab_gil_checkpoint(void)
{
	if (++my_checkpoints % LAB_GIL_SHARE_EVERY == 0)
		share_sample();
	lab_gil *g = held;
	if (!g) {
		meet();
		/* relaxed: a flag the checker sets before the threads
		 * start (pthread_create orders it) */
		if (atomic_load_explicit(&expect_held, memory_order_relaxed))
			atomic_fetch_add(&unlocked_checkpoints, 1);
		return;
	}
	/* relaxed: only a hint to hand over; the mutex orders the hand-off
	 * itself, and a request seen one checkpoint late costs a unit. */
	if (atomic_load_explicit(&g->drop_request, memory_order_relaxed)) {
		lab_gil_release(g);
		lab_gil_acquire(g);
	}
}

void lab_gil_blocking_begin(void)
{
	set_down = held;
	if (set_down)
		lab_gil_release(set_down);
}

void lab_gil_blocking_end(void)
{
	lab_gil *g = set_down;
	set_down = NULL;
	if (g)
		lab_gil_acquire(g);
}

void lab_gil_stats_get(lab_gil *g, struct lab_gil_stats *out)
{
	out->acquisitions = atomic_load(&g->acquisitions);
	out->switches = atomic_load(&g->switches);
	out->drop_requests = atomic_load(&g->drop_requests);
}

long lab_gil_checkpoints_here(void)
{
	return my_checkpoints;
}

long lab_gil_unlocked_checkpoints(void)
{
	return atomic_load(&unlocked_checkpoints);
}

void lab_gil_expect_held(bool on)
{
	atomic_store(&expect_held, on);
	if (on)
		atomic_store(&unlocked_checkpoints, 0);
}
