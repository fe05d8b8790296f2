/* SPDX-License-Identifier: MIT */
/*
 * Suite "trace_hooks": the hook API of src/trace/trace.h as the pool and
 * the loop use it, and the buffers behind it.
 *
 * Two tracers live in this program. The public calls (spool_trace_*) and
 * core's hooks (submit, task run, wait) use the library's. These tests
 * call the hooks themselves, which the shared library does not export, so
 * the program carries the module's own copy and drives it with
 * spool__trace_session_start/stop: the same code, reached directly.
 * buffer.c and session.c are compiled into this file, whose tests read
 * their file-scope state (the spare mappings, the named threads, the
 * thread's buffer, the session's clock); the rest of the module comes
 * from the spool_trace_copy library (test/CMakeLists.txt). (Linked against
 * the static archive the two are one tracer, which every test below also
 * tolerates: each test uses one API only.)
 */
#define SPOOL_TRACE_NO_ENVIRONMENT
#include "trace/buffer.c"
#include "trace/session.c"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/future_impl.h"
#include "trace_support.h"

/* ---- the hook API (the module's own copy, see the top) ------------------ */

static void copy_start(const char *name, size_t cap)
{
	spool_trace_options o = SPOOL_TRACE_OPTIONS_INIT;
	o.events_per_thread = cap;
	ck_assert_int_eq(spool__trace_session_start(tmp(name), &o), 0);
}

struct pool_sim {
	int index;
	spool_future *tasks[4];
	int steals, parks, wakes;
};

/* What a pool worker records: it names itself, runs a task, inside it
 * waits for a child and helps by running a stolen task, parks, wakes a
 * peer. */
static void *pool_worker_sim(void *arg)
{
	struct pool_sim *w = arg;
	spool__trace_thread_name("worker", w->index);
	for (int round = 0; round < 3; round++) {
		spool__trace_run_begin(w->tasks[0]);
		spool__trace_wait_begin(w->tasks[1]);
		spool__trace_steal(w->tasks[2], (w->index + 1) % 3);
		w->steals++;
		spool__trace_run_begin(w->tasks[2]);
		spool__trace_run_end(w->tasks[2], 0);
		spool__trace_wait_end(w->tasks[1], 0);
		spool__trace_run_end(w->tasks[0], 0);
		spool__trace_park_begin();
		spool_test_sleep_ns(100000);
		spool__trace_park_end();
		w->parks++;
		spool__trace_wake(w->index);
		w->wakes++;
	}
	return NULL;
}

START_TEST(pool_hooks_give_worker_tracks_with_helping_steals_parks_and_wakes)
{
	copy_start("pool.json", 0);
	struct pool_sim w[3];
	pthread_t th[3];
	for (int i = 0; i < 3; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i].index = i;
		for (int k = 0; k < 4; k++)
			w[i].tasks[k] = spool_promise_new();
		w[i].tasks[0]->label = "parent";
		w[i].tasks[2]->label = "child";
		pthread_create(&th[i], NULL, pool_worker_sim, &w[i]);
	}
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	ck_assert_int_eq(spool__trace_session_stop(), 0);

	struct trace t;
	load(&t, tmp("pool.json"));
	for (int i = 0; i < 3; i++) {
		char name[16];
		snprintf(name, sizeof name, "worker %d", i);
		long tid = track(&t, name);
		ck_assert_int_ge(tid, 0);
		ck_assert_int_eq(count(&t, 'X', "parent", tid), 3);
		ck_assert_int_eq(count(&t, 'X', "child", tid), 3);
		ck_assert_int_eq(count(&t, 'i', "steal", tid), w[i].steals);
		ck_assert_int_eq(count(&t, 'X', "park", tid), w[i].parks);
		ck_assert_int_eq(count(&t, 'i', "wake", tid), w[i].wakes);
		/* Helping: the stolen child runs inside the parent's wait. */
		for (size_t k = 0; k < 3; k++) {
			const struct tev *p = nth(&t, 'X', "parent", tid, k);
			const struct tev *wt = nth(&t, 'X', "wait", tid, k);
			const struct tev *c = nth(&t, 'X', "child", tid, k);
			ck_assert(contains(p, wt) && contains(wt, c));
			const struct tev *s = nth(&t, 'i', "steal", tid, k);
			ck_assert_int_eq((int)arg_n(s, "victim"), (i + 1) % 3);
			ck_assert_int_eq((uint64_t)arg_n(s, "id"),
					 spool_future_id(w[i].tasks[2]));
		}
		for (int k = 0; k < 4; k++)
			spool_future_release(w[i].tasks[k]);
	}
	/* Workers sort before every other track. */
	for (size_t i = 0; i < t.n; i++)
		if (t.ev[i].ph == 'M' &&
		    strcmp(t.ev[i].name, "thread_sort_index") == 0)
			ck_assert_int_lt((int)arg_n(&t.ev[i], "sort_index"), 3);
	assert_slices_nest(&t);
	ck_assert_int_eq((int)meta_n(&t, "unmatched_ends"), 0);
	unload(&t);
}
END_TEST

START_TEST(loop_hooks_split_coroutine_runs_at_suspensions_and_say_why)
{
	spool_future *c1 = spool_promise_new(), *c2 = spool_promise_new();
	spool_future *dep = spool_promise_new();
	c1->label = "fetch";
	c2->label = "sleeper";
	dep->label = "dep";
	copy_start("loop.json", 0);
	spool__trace_thread_name("loop", -1);
	/* Iteration 1: c1 awaits dep; c2 sleeps 5 ms. */
	spool__trace_iter_begin(1);
	spool__trace_run_begin(c1);
	spool__trace_wait_begin(dep);
	spool__trace_suspend(c1, SPOOL__TRACE_ON_FUTURE, dep->id);
	spool__trace_run_begin(c2);
	spool__trace_suspend(c2, SPOOL__TRACE_ON_SLEEP, 5000000);
	spool__trace_iter_end(1, 2);
	/* Iteration 2: the timer fires, both resume and finish. */
	spool__trace_iter_begin(2);
	spool__trace_timer(c2, 1234);
	spool__trace_resume(c2, 0);
	spool__trace_run_end(c2, 0);
	spool__trace_resume(c1, 0);
	spool__trace_wait_end(dep, 0);
	spool__trace_run_end(c1, 0);
	spool__trace_iter_end(2, 3);
	ck_assert_int_eq(spool__trace_session_stop(), 0);

	struct trace t;
	load(&t, tmp("loop.json"));
	long loop = track(&t, "loop");
	ck_assert_int_eq(loop, my_tid());
	ck_assert_int_eq(count(&t, 'X', "loop iteration", loop), 2);
	const struct tev *it1 = nth(&t, 'X', "loop iteration", loop, 0);
	const struct tev *it2 = nth(&t, 'X', "loop iteration", loop, 1);
	ck_assert_int_eq((int)arg_n(it1, "n"), 1);
	ck_assert_int_eq((int)arg_n(it2, "ran"), 3);
	/* c1: segment 0 until it suspends, segment 1 after dep is done. */
	const struct tev *a0 = run_of(&t, c1->id, 0);
	const struct tev *a1 = run_of(&t, c1->id, 1);
	ck_assert(a0 && a1);
	ck_assert_str_eq(a0->name, "fetch");
	ck_assert_str_eq(a1->name, "fetch");
	ck_assert(a0->flow_in && !a1->flow_in);
	ck_assert(jgetb(a0->args, "suspended"));
	ck_assert_str_eq(jgets(a1->args, "after"), "future");
	ck_assert_int_eq((uint64_t)arg_n(a1, "target"), dep->id);
	ck_assert_int_eq((int)arg_n(a1, "rc"), 0);
	ck_assert(contains(it1, a0) && contains(it2, a1));
	/* Its wait is split with it: one piece in each segment. */
	ck_assert_int_eq(count(&t, 'X', "wait: dep", loop), 2);
	const struct tev *w0 = nth(&t, 'X', "wait: dep", loop, 0);
	const struct tev *w1 = nth(&t, 'X', "wait: dep", loop, 1);
	if (w0->ts > w1->ts) {
		const struct tev *x = w0;
		w0 = w1;
		w1 = x;
	}
	ck_assert(contains(a0, w0) && jgetb(w0->args, "suspended"));
	ck_assert(contains(a1, w1) && (int)arg_n(w1, "rc") == 0);
	/* c2 says it slept, and how long it asked for. */
	const struct tev *b1 = run_of(&t, c2->id, 1);
	ck_assert_ptr_nonnull(b1);
	ck_assert_str_eq(jgets(b1->args, "after"), "sleep");
	ck_assert_int_eq((int)arg_n(b1, "target"), 5000000);
	/* Instants: two suspensions with their reasons, one timer. */
	ck_assert_int_eq(count(&t, 'i', "suspend", loop), 2);
	const struct tev *s0 = nth(&t, 'i', "suspend", loop, 0);
	ck_assert_str_eq(jgets(s0->args, "on"), "future");
	ck_assert_int_eq((uint64_t)arg_n(s0, "target"), dep->id);
	const struct tev *tm = nth(&t, 'i', "timer", loop, 0);
	ck_assert_int_eq((uint64_t)arg_n(tm, "id"), c2->id);
	ck_assert_int_eq((int)arg_n(tm, "late_ns"), 1234);
	assert_slices_nest(&t);
	ck_assert_int_eq((int)meta_n(&t, "unmatched_ends"), 0);
	unload(&t);
	spool_future_release(c1);
	spool_future_release(c2);
	spool_future_release(dep);
}
END_TEST

START_TEST(mismatched_and_unfinished_slices_are_closed_so_they_still_nest)
{
	spool_future *a = spool_promise_new(), *b = spool_promise_new();
	spool_future *c = spool_promise_new();
	copy_start("mismatch.json", 0);
	spool__trace_run_end(c, 0); /* began before the session */
	spool__trace_run_begin(a);
	spool__trace_wait_begin(b); /* its end never comes */
	spool__trace_run_end(a, 3); /* closes the wait as truncated */
	spool__trace_run_begin(b);  /* still running at stop */
	ck_assert_int_eq(spool__trace_session_stop(), 0);
	struct trace t;
	load(&t, tmp("mismatch.json"));
	ck_assert_int_eq((int)meta_n(&t, "unmatched_ends"), 1);
	const struct tev *ra = run_of(&t, a->id, 0);
	ck_assert_int_eq((int)arg_n(ra, "rc"), 3);
	const struct tev *w = nth(&t, 'X', "wait", -1, 0);
	ck_assert(jgetb(w->args, "truncated") && contains(ra, w));
	const struct tev *rb = run_of(&t, b->id, 0);
	ck_assert(jgetb(rb->args, "unfinished"));
	ck_assert_ptr_null(jget(rb->args, "rc"));
	ck_assert_ptr_null(run_of(&t, c->id, 0));
	assert_slices_nest(&t);
	unload(&t);
	spool_future_release(a);
	spool_future_release(b);
	spool_future_release(c);
}
END_TEST

/* Two submissions in a row stamped with the same clock read (the run's
 * begin), the second sending a wake-up and the first not: the first is a
 * zero-length slice, the second lasts until the wake. They must still be
 * drawn one after the other, not starting together. */
START_TEST(back_to_back_submissions_on_one_stamp_still_nest)
{
	spool_future *r = spool_promise_new(), *a = spool_promise_new();
	spool_future *b = spool_promise_new();
	copy_start("submits.json", 0);
	spool__trace_thread_name("worker", 0);
	spool__trace_run_begin(r);
	uint64_t t0 = spool__trace_submit_begin();
	spool__trace_submit_end(t0, a);
	uint64_t t1 = spool__trace_submit_begin();
	ck_assert_uint_eq(t0, t1); /* no clock read in between */
	spool__trace_wake(1);
	spool__trace_submit_end(t1, b);
	spool__trace_run_end(r, 0);
	ck_assert_int_eq(spool__trace_session_stop(), 0);
	struct trace t;
	load(&t, tmp("submits.json"));
	const struct tev *sa = nth(&t, 'X', "submit", -1, 0);
	const struct tev *sb = nth(&t, 'X', "submit", -1, 1);
	ck_assert(sa && sb);
	ck_assert_int_lt(sa->ts, sb->ts);
	ck_assert(contains(run_of(&t, r->id, 0), sb));
	assert_slices_nest(&t);
	unload(&t);
	spool_future_release(r);
	spool_future_release(a);
	spool_future_release(b);
}
END_TEST

/* Two clock reads can return the same value (the counter advances in
 * steps, here of about 10 ns on a virtual machine), so a run can begin and
 * end on one stamp: a slice of no length. The thread's next submission is
 * stamped with that same read, and a run popped next may reuse it too.
 * Neither may start together with the empty run: a viewer that sorts equal
 * starts longest first would draw the run inside the wrong submission. */
START_TEST(slices_after_an_empty_run_on_its_stamp_still_start_after_it)
{
	spool_future *a = spool_promise_new(), *b = spool_promise_new();
	spool_future *c = spool_promise_new();
	a->label = "a";
	b->label = "b";
	c->label = "c";
	copy_start("empty.json", 0);
	uint64_t t = spool__trace_now();
	spool__trace_record_at(t, SPOOL__TR_RUN_BEGIN, a->id,
			       (uintptr_t)a->label);
	spool__trace_record_at(t, SPOOL__TR_RUN_END, a->id, 0);
	/* The submission of b, stamped with the read that ended a; b runs
	 * inline, later. */
	while (spool__trace_now() - t < 1000)
		;
	uint64_t later = spool__trace_now();
	spool__trace_record_at(later, SPOOL__TR_RUN_BEGIN, b->id,
			       (uintptr_t)b->label);
	spool__trace_record_at(later + 1000, SPOOL__TR_RUN_END, b->id, 0);
	spool__trace_record_at(t, SPOOL__TR_SUBMIT, b->id, 0);
	/* Another empty run, then a run that reuses its stamp. */
	uint64_t u = later + 2000;
	spool__trace_record_at(u, SPOOL__TR_RUN_BEGIN, a->id,
			       (uintptr_t)a->label);
	spool__trace_record_at(u, SPOOL__TR_RUN_END, a->id, 0);
	spool__trace_record_at(u, SPOOL__TR_RUN_BEGIN, c->id,
			       (uintptr_t)c->label);
	spool__trace_record_at(u + 1000, SPOOL__TR_RUN_END, c->id, 0);
	ck_assert_int_eq(spool__trace_session_stop(), 0);
	struct trace t_;
	load(&t_, tmp("empty.json"));
	const struct tev *a0 = nth(&t_, 'X', "a", -1, 0);
	const struct tev *a1 = nth(&t_, 'X', "a", -1, 1);
	const struct tev *s = nth(&t_, 'X', "submit", -1, 0);
	const struct tev *rb = run_of(&t_, b->id, 0);
	const struct tev *rc = run_of(&t_, c->id, 0);
	ck_assert(a0 && a1 && s && rb && rc);
	ck_assert_int_eq(a0->dur, 0);
	ck_assert_int_eq(a1->dur, 0);
	/* The submission after the empty run, its run inside it. */
	ck_assert_int_lt(a0->ts, s->ts);
	ck_assert(contains(s, rb) && s->ts < rb->ts);
	/* The run on the reused stamp after the empty run. */
	ck_assert_int_lt(a1->ts, rc->ts);
	ck_assert_int_eq(assert_runs_follow_submits(&t_), 1);
	assert_slices_nest(&t_);
	unload(&t_);
	spool_future_release(a);
	spool_future_release(b);
	spool_future_release(c);
}
END_TEST

static void *hook_hammer(void *arg)
{
	struct hammer *h = arg;
	spool_future *f = spool_promise_new();
	spool__trace_thread_name("worker",
				 (int)(atomic_fetch_add(&h->tasks, 1)));
	while (!atomic_load(&h->stop)) {
		for (int i = 0; i < 100; i++) {
			spool__trace_run_begin(f);
			spool__trace_steal(f, 0);
			spool__trace_run_end(f, 0);
		}
		sched_yield(); /* 2 cores: let the stopper run */
	}
	spool_future_release(f);
	return NULL;
}

START_TEST(hook_recording_races_with_start_and_stop_safely)
{
	enum { T = 4, SESSIONS = 20 };
	struct hammer h = {false, 0};
	pthread_t th[T];
	for (int i = 0; i < T; i++)
		pthread_create(&th[i], NULL, hook_hammer, &h);
	for (int s = 0; s < SESSIONS; s++) {
		char name[32];
		snprintf(name, sizeof name, "hook%d.json", s);
		copy_start(name, 1000 + 500 * (size_t)(s % 3));
		spool_test_sleep_ns(1000000);
		ck_assert_int_eq(spool__trace_session_stop(), 0);
	}
	atomic_store(&h.stop, true);
	for (int i = 0; i < T; i++)
		pthread_join(th[i], NULL);
	for (int s = 0; s < SESSIONS; s++) {
		char name[32];
		snprintf(name, sizeof name, "hook%d.json", s);
		struct trace t;
		load(&t, tmp(name));
		assert_slices_nest(&t);
		unload(&t);
	}
}
END_TEST

/* Pages of [m, m + len) that are not resident. */
static size_t pages_not_resident(void *m, size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t np = (len + pg - 1) / pg;
	unsigned char *vec = malloc(np);
	ck_assert_ptr_nonnull(vec);
	ck_assert_int_eq(mincore(m, len, vec), 0);
	size_t out = 0;
	for (size_t i = 0; i < np; i++)
		out += !(vec[i] & 1);
	free(vec);
	return out;
}

struct named_sim {
	int index;
	pthread_barrier_t *named, *leave;
};

/* A worker-like thread: names its track, then stays alive until told. */
static void *named_thread(void *arg)
{
	struct named_sim *n = arg;
	spool__trace_thread_name("worker", n->index);
	pthread_barrier_wait(n->named);
	pthread_barrier_wait(n->leave);
	return NULL;
}

START_TEST(
	start_commits_a_buffer_for_each_expected_thread_and_stop_unmaps_the_rest)
{
	enum { THREADS = 3, CAP = 20000 };
	pthread_barrier_t named, leave;
	pthread_barrier_init(&named, NULL, THREADS + 1);
	pthread_barrier_init(&leave, NULL, THREADS + 1);
	struct named_sim sim[THREADS];
	pthread_t th[THREADS];
	spool__trace_lock();
	unsigned before = live_named;
	spool__trace_unlock();
	for (int i = 0; i < THREADS; i++) {
		sim[i] = (struct named_sim){i, &named, &leave};
		pthread_create(&th[i], NULL, named_thread, &sim[i]);
	}
	pthread_barrier_wait(&named);

	copy_start("prefault.json", CAP);
	const size_t len = CAP * sizeof(struct spool__trace_ev);
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	size_t cpus = online > 0 ? (size_t)online : 1;
	spool__trace_lock();
	ck_assert_uint_eq(live_named, before + THREADS);
	size_t want = (live_named > cpus ? live_named : cpus) + 1;
	if (want > MAX_SPARES)
		want = MAX_SPARES;
	ck_assert_uint_eq(nspares, want);
	/* The whole buffer is below the prefault limit: all of it is
	 * committed before any thread records. */
	for (size_t i = 0; i < nspares; i++)
		ck_assert_uint_eq(pages_not_resident(spares[i], len), 0);
	spool__trace_unlock();

	/* The first event of a thread takes a committed buffer. */
	spool__trace_park_begin();
	spool__trace_park_end();
	spool__trace_lock();
	ck_assert_uint_eq(nspares, want - 1);
	ck_assert_ptr_nonnull(my_buf);
	ck_assert_uint_eq(my_buf->cap, CAP);
	ck_assert_uint_eq(pages_not_resident(my_buf->ev, len), 0);
	spool__trace_unlock();

	pthread_barrier_wait(&leave);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	spool__trace_lock();
	ck_assert_uint_eq(live_named, before); /* they exited */
	spool__trace_unlock();
	ck_assert_int_eq(spool__trace_session_stop(), 0);
	spool__trace_lock();
	ck_assert_uint_eq(nspares, 0);
	spool__trace_unlock();

	struct trace t;
	load(&t, tmp("prefault.json"));
	ck_assert_int_eq(count(&t, 'X', "park", -1), 1);
	unload(&t);
	pthread_barrier_destroy(&named);
	pthread_barrier_destroy(&leave);
}
END_TEST

struct submit_sim {
	spool_future *f;
};

static void *run_elsewhere(void *arg)
{
	struct submit_sim *s = arg;
	spool__trace_run_begin(s->f);
	spool__trace_run_end(s->f, 0);
	return NULL;
}

/* An event takes one 16-byte slot, two when it carries an argument: a
 * buffer of cap events holds cap events whatever the mix, and each
 * argument comes back out with its own event. */
START_TEST(a_buffer_holds_exactly_its_capacity_with_or_without_arguments)
{
	enum { CAP = 16 };
	copy_start("slots.json", CAP);
	/* 10 steals with an argument (the victim, 1..10), 10 without (0). */
	for (int i = 0; i < 20; i++)
		spool__trace_record(SPOOL__TR_STEAL, (uint64_t)(100 + i),
				    spool__trace_code(i % 2 ? (i + 1) / 2 : 0));
	size_t n = atomic_load_explicit(&my_buf->n, memory_order_relaxed);
	ck_assert_uint_eq(n, CAP + CAP / 2); /* 8 with, 8 without */
	ck_assert_int_eq(spool__trace_session_stop(), 0);

	struct trace t;
	load(&t, tmp("slots.json"));
	ck_assert_int_eq((int)meta_n(&t, "events"), CAP);
	ck_assert_int_eq((int)meta_n(&t, "dropped_events"), 20 - CAP);
	ck_assert_int_eq(count(&t, 'i', "steal", my_tid()), CAP);
	for (int i = 0; i < CAP; i++) {
		const struct tev *e = nth(&t, 'i', "steal", my_tid(), i);
		ck_assert_int_eq((int)arg_n(e, "id"), 100 + i);
		ck_assert_int_eq((int)arg_n(e, "victim"),
				 i % 2 ? (i + 1) / 2 : 0);
	}
	unload(&t);

	/* Every event with an argument: still CAP of them. */
	copy_start("slots2.json", CAP);
	for (int i = 0; i < 20; i++)
		spool__trace_record(SPOOL__TR_STEAL, 1, spool__trace_code(-1));
	n = atomic_load_explicit(&my_buf->n, memory_order_relaxed);
	ck_assert_uint_eq(n, 2 * CAP);
	ck_assert_int_eq(spool__trace_session_stop(), 0);
	load(&t, tmp("slots2.json"));
	ck_assert_int_eq((int)meta_n(&t, "events"), CAP);
	ck_assert_int_eq((int)meta_n(&t, "dropped_events"), 20 - CAP);
	ck_assert_int_eq(count(&t, 'i', "steal", my_tid()), CAP);
	ck_assert_int_eq(
		(int)arg_n(nth(&t, 'i', "steal", my_tid(), CAP - 1), "victim"),
		-1);
	unload(&t);
}
END_TEST

START_TEST(a_submission_is_stamped_with_the_threads_previous_clock_read)
{
	copy_start("stamp.json", 0);
	/* No event yet on this thread: a fresh read, kept as the stamp
	 * until the thread reads the clock again. */
	uint64_t first = spool__trace_submit_begin();
	ck_assert_uint_ge(first, session_clock.t0_ticks);
	while (spool__trace_now() == first)
		;
	ck_assert_uint_eq(spool__trace_submit_begin(), first);

	spool_future *parent = spool_promise_new();
	spool_future *child = spool_promise_new();
	parent->label = "parent";
	child->label = "child";
	spool__trace_run_begin(parent);
	/* The run's record is two slots: its stamp, then its label. */
	size_t n = atomic_load_explicit(&my_buf->n, memory_order_relaxed);
	ck_assert(my_buf->ev[n - 2].word & SPOOL__TRACE_HAS_ARG);
	ck_assert_uint_eq(my_buf->ev[n - 1].ts, (uintptr_t)parent->label);
	uint64_t begun = my_buf->ev[n - 2].ts;
	/* Time passes in the task: the stamp stays at its last event. */
	while (spool__trace_now() - begun < 1000)
		;
	uint64_t t0 = spool__trace_submit_begin();
	ck_assert_uint_eq(t0, begun);
	spool__trace_submit_end(t0, child);
	/* The child runs on another thread, after the submission. */
	struct submit_sim sim = {child};
	pthread_t th;
	pthread_create(&th, NULL, run_elsewhere, &sim);
	pthread_join(th, NULL);
	spool__trace_run_end(parent, 0);
	ck_assert_int_eq(spool__trace_session_stop(), 0);

	struct trace t;
	load(&t, tmp("stamp.json"));
	const struct tev *p = run_of(&t, spool_future_id(parent), 0);
	const struct tev *c = run_of(&t, spool_future_id(child), 0);
	const struct tev *s = nth(&t, 'X', "submit", -1, 0);
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq((uint64_t)arg_n(s, "id"), spool_future_id(child));
	/* Drawn just inside the parent, at its start, before the child. */
	ck_assert(contains(p, s) && p->ts < s->ts && s->ts < c->ts);
	ck_assert_int_eq(assert_runs_follow_submits(&t), 1);
	assert_slices_nest(&t);
	unload(&t);
	spool_future_release(parent);
	spool_future_release(child);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("trace_hooks");
	TCase *tc = spool_test_case("hooks", 120);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(
		tc,
		pool_hooks_give_worker_tracks_with_helping_steals_parks_and_wakes);
	tcase_add_test(
		tc, loop_hooks_split_coroutine_runs_at_suspensions_and_say_why);
	tcase_add_test(
		tc,
		mismatched_and_unfinished_slices_are_closed_so_they_still_nest);
	tcase_add_test(tc, hook_recording_races_with_start_and_stop_safely);
	tcase_add_test(tc, back_to_back_submissions_on_one_stamp_still_nest);
	tcase_add_test(
		tc,
		slices_after_an_empty_run_on_its_stamp_still_start_after_it);
	tcase_add_test(
		tc,
		start_commits_a_buffer_for_each_expected_thread_and_stop_unmaps_the_rest);
	tcase_add_test(
		tc,
		a_submission_is_stamped_with_the_threads_previous_clock_read);
	tcase_add_test(
		tc,
		a_buffer_holds_exactly_its_capacity_with_or_without_arguments);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
