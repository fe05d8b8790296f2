/* SPDX-License-Identifier: MIT */
/* Suite "pool_stress": the pool's races, each run many times and bounded
 * in time (every wait has a timeout; a hang fails the test instead of
 * stalling it): lost wake-ups, shutdown against several submitters,
 * create/destroy cycles that must leak no thread, memory or future, and
 * outside task records that outlive their submitter and the pool. */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

#define TIMEOUT (10 * SPOOL_NS_PER_S)

static spool_pool *make_pool(int workers)
{
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = workers;
	spool_pool *p = NULL;
	ck_assert_int_eq(spool_pool_create(&p, &o), 0);
	return p;
}

static int count_task(void *arg, void **result)
{
	atomic_fetch_add((atomic_long *)arg, 1);
	*result = NULL;
	return 0;
}

/* ---- lost wake-ups ------------------------------------------------------- */

/* Busy-waits about ns nanoseconds (sleeping would overshoot the window). */
static void spin_ns(int64_t ns)
{
	int64_t end = spool_test_now_ns() + ns;
	while (spool_test_now_ns() < end)
		;
}

/* One outside thread submits one task at a time and waits for it (with a
 * timeout) before the next. Between rounds it pauses for a random time
 * from 0 to 60 us (and one in a thousand for 20 ms): the workers are then
 * anywhere between still running, searching (tens of microseconds of steal
 * rounds), registering as sleepers and asleep, which is where a lost
 * wake-up would strand the task. 100,000 rounds; a round that does not finish
 * within 10 s fails. */
static void lost_wakeup_rounds(int workers)
{
	enum { ROUNDS = 100000 };
	spool_pool *p = make_pool(workers);
	spool_executor *ex = spool_pool_executor(p);
	atomic_long ran = 0;
	unsigned seed = 99;
	for (long r = 0; r < ROUNDS; r++) {
		spool_future *f = spool_submit(ex, count_task, &ran);
		int rc = spool_future_wait(f, TIMEOUT);
		ck_assert_msg(rc == 0, "round %ld: task not run within 10 s",
			      r);
		spool_future_release(f);
		int pause = rand_r(&seed) % 1000;
		if (pause == 0) /* surely asleep: all search rounds are over */
			spool_test_sleep_ns(20 * SPOOL_NS_PER_MS);
		else if (pause % 8) /* 1 in 8 rounds submit at once */
			spin_ns((int64_t)(rand_r(&seed) % 60000));
	}
	ck_assert_int_eq(atomic_load(&ran), ROUNDS);
	spool_pool_stats st;
	spool_pool_stats_get(p, &st);
	ck_assert_uint_eq(st.tasks_run, ROUNDS);
	/* The test did reach the parking window: workers slept and were
	 * woken by submissions, many times. */
	ck_assert_uint_gt(st.parks, 0);
	ck_assert_uint_gt(st.wakeups, 0);
	spool_pool_destroy(p);
}

START_TEST(lost_wakeup_outside_submit_100k_rounds_1_worker)
{
	lost_wakeup_rounds(1);
}
END_TEST

START_TEST(lost_wakeup_outside_submit_100k_rounds_3_workers)
{
	lost_wakeup_rounds(3);
}
END_TEST

/* The same from inside: a task on one worker spawns a child and waits for
 * it by blocking on a promise the child completes (so the spawner cannot
 * help: another worker must be woken to steal the child). */
struct relay {
	spool_executor *ex;
	spool_future *done;
};

static int complete_relay(void *arg, void **result)
{
	spool_promise_set_result(arg, NULL);
	*result = NULL;
	return 0;
}

static int spawn_and_block(void *arg, void **result)
{
	struct relay *r = arg;
	spool_future *child = spool_submit(r->ex, complete_relay, r->done);
	/* spool__future_block would be the plain blocking wait; a pool
	 * wait would help and run the child itself. Spin on the state
	 * instead, bounded, so that only a stealing worker can finish. */
	int64_t end = spool_test_now_ns() + TIMEOUT;
	while (!spool_future_done(r->done) && spool_test_now_ns() < end)
		sched_yield();
	spool_future_release(child);
	*result = NULL;
	return spool_future_done(r->done) ? 0 : 1;
}

START_TEST(lost_wakeup_worker_spawn_is_stolen_by_a_parked_worker_10k_rounds)
{
	enum { ROUNDS = 10000 };
	spool_pool *p = make_pool(2);
	unsigned seed = 5;
	for (int r = 0; r < ROUNDS; r++) {
		struct relay rl = {spool_pool_executor(p), spool_promise_new()};
		spool_future *f = spool_submit(rl.ex, spawn_and_block, &rl);
		ck_assert_int_eq(spool_future_wait(f, 2 * TIMEOUT), 0);
		ck_assert_msg(spool_future_error(f) == 0,
			      "round %d: the spawned child was never stolen",
			      r);
		spool_future_release(f);
		spool_future_release(rl.done);
		if (rand_r(&seed) % 4)
			spin_ns((int64_t)(rand_r(&seed) % 60000));
	}
	spool_pool_destroy(p);
}
END_TEST

/* A task that, while the pool drains, spawns a child and waits for it
 * without helping: only another worker can run the child, so no worker
 * may leave while a task still runs (worker.c, drain_leave). The shutdown
 * lands at different moments of the task, from before its spawn to after
 * it. */
struct drain_spawn {
	struct relay rl;
	atomic_int started, shut;
	int64_t spawn_after_ns;
};

static int spawn_during_drain(void *arg, void **result)
{
	struct drain_spawn *d = arg;
	atomic_store(&d->started, 1);
	int64_t end = spool_test_now_ns() + TIMEOUT;
	while (!atomic_load(&d->shut) && spool_test_now_ns() < end)
		sched_yield();
	spin_ns(d->spawn_after_ns);
	return spawn_and_block(&d->rl, result);
}

START_TEST(a_task_that_spawns_while_the_pool_drains_gets_its_child_run)
{
	enum { ROUNDS = 200 };
	unsigned seed = 11;
	for (int r = 0; r < ROUNDS; r++) {
		spool_pool *p = make_pool(2);
		struct drain_spawn d = {
			.rl = {spool_pool_executor(p), spool_promise_new()},
			.spawn_after_ns = (int64_t)(rand_r(&seed) % 200000),
		};
		atomic_init(&d.started, 0);
		atomic_init(&d.shut, 0);
		spool_future *f = spool_submit(d.rl.ex, spawn_during_drain, &d);
		while (!atomic_load(&d.started))
			sched_yield();
		ck_assert_int_eq(spool_pool_shutdown(p, 0), 0);
		atomic_store(&d.shut, 1);
		/* The other worker has seen the drain (or soon will); the
		 * task spawns now, or a little later. */
		spool_pool_destroy(p);
		ck_assert_msg(spool_future_error(f) == 0,
			      "round %d: a worker left the draining pool "
			      "while a task still ran, and the task's child "
			      "never ran",
			      r);
		spool_future_release(f);
		spool_future_release(d.rl.done);
	}
}
END_TEST

/* ---- shutdown against submitters ----------------------------------------- */

enum { SUBMITTERS = 4, PER_SUBMITTER = 20000 };

struct submitter {
	spool_executor *ex;
	atomic_long *ran;
	atomic_int *started;
	spool_future *f[PER_SUBMITTER];
	long n;
};

static void *submit_loop(void *arg)
{
	struct submitter *s = arg;
	atomic_fetch_add(s->started, 1);
	for (s->n = 0; s->n < PER_SUBMITTER; s->n++) {
		s->f[s->n] = spool_submit(s->ex, count_task, s->ran);
		if (spool_future_error(s->f[s->n]) == SPOOL_ESHUTDOWN) {
			s->n++;
			break;
		}
	}
	return NULL;
}

static void shutdown_race(unsigned flags, unsigned seed)
{
	static struct submitter subs[SUBMITTERS];
	spool_pool *p = make_pool(2);
	atomic_long ran = 0;
	atomic_int started = 0;
	pthread_t th[SUBMITTERS];
	for (int i = 0; i < SUBMITTERS; i++) {
		subs[i] = (struct submitter){.ex = spool_pool_executor(p),
					     .ran = &ran,
					     .started = &started};
		pthread_create(&th[i], NULL, submit_loop, &subs[i]);
	}
	while (atomic_load(&started) < SUBMITTERS)
		sched_yield();
	spin_ns((int64_t)(rand_r(&seed) % 2000000));
	ck_assert_int_eq(spool_pool_shutdown(p, flags), 0);
	for (int i = 0; i < SUBMITTERS; i++)
		pthread_join(th[i], NULL);
	ck_assert_int_eq(spool_pool_shutdown(p, SPOOL_SHUTDOWN_WAIT), 0);
	/* Every future is final; each ran exactly when it is DONE; once a
	 * submitter saw ESHUTDOWN it saw nothing else. */
	long done = 0, cancelled = 0, refused = 0;
	for (int i = 0; i < SUBMITTERS; i++) {
		for (long k = 0; k < subs[i].n; k++) {
			spool_future *f = subs[i].f[k];
			ck_assert(spool_future_done(f));
			switch (spool_future_state(f)) {
			case SPOOL_DONE:
				done++;
				break;
			case SPOOL_CANCELLED:
				ck_assert(flags &
					  SPOOL_SHUTDOWN_CANCEL_PENDING);
				cancelled++;
				break;
			default:
				ck_assert_int_eq(spool_future_error(f),
						 SPOOL_ESHUTDOWN);
				ck_assert_int_eq(k, subs[i].n - 1);
				refused++;
			}
			spool_future_release(f);
		}
	}
	ck_assert_int_eq(atomic_load(&ran), done);
	spool_pool_stats st;
	spool_pool_stats_get(p, &st);
	ck_assert_uint_eq(st.tasks_run, (uint64_t)done);
	spool_pool_destroy(p);
}

START_TEST(shutdown_racing_with_submissions_from_4_threads)
{
	for (unsigned i = 0; i < 12; i++)
		shutdown_race(0, i);
}
END_TEST

START_TEST(shutdown_wait_racing_with_submissions_from_4_threads)
{
	for (unsigned i = 0; i < 12; i++)
		shutdown_race(SPOOL_SHUTDOWN_WAIT, 100 + i);
}
END_TEST

START_TEST(shutdown_cancel_pending_racing_with_submissions_from_4_threads)
{
	for (unsigned i = 0; i < 12; i++)
		shutdown_race(SPOOL_SHUTDOWN_CANCEL_PENDING, 200 + i);
}
END_TEST

/* ---- completion against callbacks and waiters ------------------------- */

/* A worker completes a pool task with one read-modify-write of the state
 * word, while other threads raise HAS_CB and push callbacks, or set
 * WAITERS and sleep, on the same word. Each round, the main thread submits
 * BATCH tasks that finish after a random few hundred nanoseconds, and
 * ADDERS threads each add one callback to every future (and block-wait on
 * every fourth), racing with the completions. Every callback must run
 * exactly once and see the task's value; every wait must return with the
 * value visible. ROUNDS x BATCH x ADDERS = 102,400 callback adds. */
enum { RACE_ADDERS = 4, RACE_BATCH = 64, RACE_ROUNDS = 400 };

struct race {
	pthread_barrier_t start, end;
	spool_future *fs[RACE_BATCH];
	atomic_long calls[RACE_BATCH];
	atomic_long bad_values;
	int rounds;
};

static int spin_and_return(void *arg, void **result)
{
	spin_ns((int64_t)((uintptr_t)arg % 7) * 100);
	*result = arg;
	return 0;
}

static void race_callback(spool_future *f, void *arg)
{
	struct race *r = arg;
	uintptr_t i = (uintptr_t)spool_future_value(f) - 1;
	if (i >= RACE_BATCH || r->fs[i] != f)
		atomic_fetch_add(&r->bad_values, 1);
	else
		atomic_fetch_add(&r->calls[i], 1);
}

static void *race_adder(void *arg)
{
	struct race *r = arg;
	for (int round = 0; round < r->rounds; round++) {
		pthread_barrier_wait(&r->start);
		for (int i = 0; i < RACE_BATCH; i++) {
			spool_future *f = r->fs[i];
			ck_assert_int_eq(
				spool_future_add_callback(f, race_callback, r),
				0);
			if (i % 4 == 0) {
				void *v = NULL;
				ck_assert_int_eq(
					spool_future_result(f, TIMEOUT, &v), 0);
				if (v != (void *)(uintptr_t)(i + 1))
					atomic_fetch_add(&r->bad_values, 1);
			}
		}
		pthread_barrier_wait(&r->end);
	}
	return NULL;
}

START_TEST(callbacks_and_waiters_race_the_completion_of_pool_tasks)
{
	spool_pool *p = make_pool(2);
	spool_executor *ex = spool_pool_executor(p);
	struct race r = {.rounds = RACE_ROUNDS};
	pthread_barrier_init(&r.start, NULL, RACE_ADDERS + 1);
	pthread_barrier_init(&r.end, NULL, RACE_ADDERS + 1);
	pthread_t th[RACE_ADDERS];
	for (int t = 0; t < RACE_ADDERS; t++)
		ck_assert_int_eq(pthread_create(&th[t], NULL, race_adder, &r),
				 0);
	for (int round = 0; round < RACE_ROUNDS; round++) {
		for (int i = 0; i < RACE_BATCH; i++) {
			atomic_store(&r.calls[i], 0);
			r.fs[i] = spool_submit(ex, spin_and_return,
					       (void *)(uintptr_t)(i + 1));
			ck_assert_ptr_nonnull(r.fs[i]);
		}
		pthread_barrier_wait(&r.start);
		pthread_barrier_wait(&r.end);
		for (int i = 0; i < RACE_BATCH; i++) {
			ck_assert_int_eq(spool_future_wait(r.fs[i], TIMEOUT),
					 0);
			/* The adders' callbacks ran by the time the last
			 * adder returned from add_callback, or run in the
			 * completing worker before it moves on: wait for
			 * the count with a bound rather than assume. */
			int64_t end = spool_test_now_ns() + TIMEOUT;
			while (atomic_load(&r.calls[i]) < RACE_ADDERS &&
			       spool_test_now_ns() < end)
				sched_yield();
			ck_assert_int_eq(atomic_load(&r.calls[i]), RACE_ADDERS);
			spool_future_release(r.fs[i]);
		}
	}
	for (int t = 0; t < RACE_ADDERS; t++)
		pthread_join(th[t], NULL);
	ck_assert_int_eq(atomic_load(&r.bad_values), 0);
	pthread_barrier_destroy(&r.start);
	pthread_barrier_destroy(&r.end);
	spool_pool_destroy(p);
}
END_TEST

/* The worker publishes the outcome and drops the pool's reference in one
 * step, racing with the submitter dropping its own: whichever is last
 * frees the record, exactly once. Two outside threads submit 100,000
 * tasks each and release every future at once, after a short random
 * spin, or after waiting for it; the leak fixture checks that every
 * future was freed, and the ASan build that none was freed twice or used
 * after its free. */
enum { DROP_THREADS = 2, DROP_TASKS = 100000 };

static void *drop_submitter(void *arg)
{
	spool_executor *ex = arg;
	atomic_long ran = 0;
	unsigned seed = (unsigned)(uintptr_t)&ran;
	for (int i = 0; i < DROP_TASKS; i++) {
		spool_future *f = spool_submit(ex, count_task, &ran);
		ck_assert_ptr_nonnull(f);
		switch (rand_r(&seed) % 3) {
		case 0:
			break;
		case 1:
			spin_ns(rand_r(&seed) % 2000);
			break;
		default:
			ck_assert_int_eq(spool_future_wait(f, TIMEOUT), 0);
		}
		spool_future_release(f);
	}
	/* ran lives in this frame: wait until every task has counted. */
	int64_t end = spool_test_now_ns() + TIMEOUT;
	while (atomic_load(&ran) < DROP_TASKS && spool_test_now_ns() < end)
		sched_yield();
	ck_assert_int_eq(atomic_load(&ran), DROP_TASKS);
	return NULL;
}

START_TEST(release_racing_the_completion_frees_each_task_once)
{
	spool_pool *p = make_pool(2);
	pthread_t th[DROP_THREADS];
	for (int t = 0; t < DROP_THREADS; t++)
		ck_assert_int_eq(pthread_create(&th[t], NULL, drop_submitter,
						spool_pool_executor(p)),
				 0);
	for (int t = 0; t < DROP_THREADS; t++)
		pthread_join(th[t], NULL);
	spool_pool_stats st;
	ck_assert_int_eq(spool_pool_stats_get(p, &st), 0);
	ck_assert_uint_eq(st.tasks_run, DROP_THREADS * DROP_TASKS);
	spool_pool_destroy(p);
}
END_TEST

/* Cancel racing with a worker starting the task: cancel may win only
 * while the task is PENDING (then it never runs); once it runs, cancel only
 * requests and the task's own outcome stands. Each round submits a task
 * that counts its runs, and cancels it at once (or after a short spin)
 * from the submitting thread while a worker is picking it up. At the end,
 * after destroy has joined the workers, the tasks that ran must be exactly
 * those that ended DONE: a task cancelled while it ran would be counted
 * as run but end CANCELLED. 50,000 rounds on 2 workers. */
static atomic_long runs_counted;

static int count_run(void *arg, void **result)
{
	atomic_fetch_add(&runs_counted, 1);
	*result = arg;
	return 0;
}

START_TEST(cancel_racing_start_never_cancels_a_task_that_runs)
{
	enum { ROUNDS = 50000 };
	atomic_store(&runs_counted, 0);
	spool_pool *p = make_pool(2);
	spool_executor *ex = spool_pool_executor(p);
	long cancelled = 0, done = 0;
	for (int r = 0; r < ROUNDS; r++) {
		spool_future *f = spool_submit(ex, count_run, &runs_counted);
		ck_assert_ptr_nonnull(f);
		if (r % 2)
			spin_ns(r % 500);
		int rc = spool_future_cancel(f);
		ck_assert_int_eq(spool_future_wait(f, TIMEOUT), 0);
		spool_state st = spool_future_state(f);
		if (st == SPOOL_CANCELLED) {
			ck_assert_int_eq(rc, 0);
			cancelled++;
		} else {
			ck_assert_int_eq(st, SPOOL_DONE);
			ck_assert(rc == SPOOL_EBUSY || rc == SPOOL_ESTATE);
			ck_assert_ptr_eq(spool_future_value(f), &runs_counted);
			done++;
		}
		spool_future_release(f);
	}
	spool_pool_destroy(p);
	ck_assert_int_eq(atomic_load(&runs_counted), done);
	/* Both outcomes happened: the race was exercised. */
	ck_assert_int_gt(cancelled, 0);
	ck_assert_int_gt(done, 0);
}
END_TEST

/* ---- create / destroy ---------------------------------------------------- */

/* Threads of this process, with their names appended to names. */
static int count_threads(char *names, size_t size)
{
	DIR *d = opendir("/proc/self/task");
	ck_assert_ptr_nonnull(d);
	int n = 0;
	size_t used = 0;
	if (size)
		names[0] = 0;
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		n++;
		char path[300], comm[32] = "?";
		snprintf(path, sizeof path, "/proc/self/task/%s/comm",
			 e->d_name);
		FILE *f = fopen(path, "r");
		if (f) {
			if (!fgets(comm, sizeof comm, f))
				comm[0] = 0;
			fclose(f);
		}
		comm[strcspn(comm, "\n")] = 0;
		if (used < size)
			used += (size_t)snprintf(names + used, size - used,
						 "%s ", comm);
	}
	closedir(d);
	return n;
}

static atomic_long cycle_ran;

static int spawn_counted(void *arg, void **result)
{
	/* A worker-allocated record that the caller keeps past destroy. */
	*result = spool_submit(arg, count_task, &cycle_ran);
	return 0;
}

START_TEST(create_destroy_1000_cycles_leak_no_thread_memory_or_future)
{
	char names[512];
	/* One cycle first: sanitizer runtimes start helper threads of their
	 * own at the first pthread_create, which are not ours to count. */
	spool_pool_destroy(make_pool(1));
	int before = count_threads(names, sizeof names);
	for (int i = 0; i < 1000; i++) {
		spool_pool *p = make_pool(1 + i % 3);
		spool_executor *ex = spool_pool_executor(p);
		spool_future *a = spool_submit(ex, count_task, &cycle_ran);
		spool_future *b = spool_submit(ex, spawn_counted, ex);
		if (i % 2)
			ck_assert_int_eq(spool_future_wait(b, TIMEOUT), 0);
		spool_pool_destroy(p);
		/* Destroy ran everything accepted; the futures outlive it. */
		ck_assert_int_eq(spool_future_state(a), SPOOL_DONE);
		ck_assert_int_eq(spool_future_state(b), SPOOL_DONE);
		spool_future *child = spool_future_value(b);
		ck_assert_int_eq(spool_future_state(child), SPOOL_DONE);
		spool_future_release(a);
		spool_future_release(child);
		spool_future_release(b);
	}
	ck_assert_int_eq(atomic_load(&cycle_ran), 2000);
	/* Every worker was joined: no thread left behind. A joined thread
	 * can stay listed in /proc for a moment after pthread_join returns
	 * (the kernel wakes the joiner before it finishes the exit), so
	 * give the count a bounded time to settle. */
	int64_t end = spool_test_now_ns() + TIMEOUT;
	int after;
	while ((after = count_threads(names, sizeof names)) != before &&
	       spool_test_now_ns() < end)
		spool_test_sleep_ns(SPOOL_NS_PER_MS);
	ck_assert_msg(after == before, "%d threads before, %d after: %s",
		      before, after, names);
}
END_TEST

/* ---- outside records ------------------------------------------------------
 */

/* Outside submitters cut their task records out of blocks of their own
 * (src/core/slab.c); a block goes away with its last record, released on
 * whatever thread, whenever. Four outside threads each submit 32,768 tasks
 * (a bit over two blocks each, so each thread fills blocks, starts huge
 * ones and exits with one partly used) while two other threads release
 * the even-numbered futures as soon as they appear (so the pool's worker
 * often drops the last reference); the odd-numbered ones are kept past the
 * exit of their submitter and the destroy of the pool, checked and
 * released by two more threads. A block freed too early is a
 * use-after-free for AddressSanitizer (and a wrong value here); one never
 * freed is a leak it reports at exit; the fixture checks every future. */
enum { SLAB_SUBMITTERS = 4, SLAB_PER_THREAD = 32768 };

static atomic_long slab_ran;

struct slab_run {
	spool_executor *ex;
	spool_future **fs; /* SLAB_SUBMITTERS * SLAB_PER_THREAD */
	/* fs[i * SLAB_PER_THREAD + k] is written for k < published[i]. */
	atomic_long published[SLAB_SUBMITTERS];
	atomic_int failures;
};

struct slab_arg {
	struct slab_run *run;
	int index;
};

static intptr_t slab_value(long i)
{
	return (intptr_t)(i * 7 + 1);
}

static int echo_task(void *arg, void **result)
{
	atomic_fetch_add(&slab_ran, 1);
	*result = arg;
	return 0;
}

static void *slab_submitter(void *arg)
{
	struct slab_arg *a = arg;
	struct slab_run *run = a->run;
	for (long k = 0; k < SLAB_PER_THREAD; k++) {
		long i = a->index * SLAB_PER_THREAD + k;
		spool_future *f = spool_submit(run->ex, echo_task,
					       (void *)slab_value(i));
		if (!f) {
			atomic_fetch_add(&run->failures, 1);
			break;
		}
		run->fs[i] = f;
		/* Release: the releaser's acquire load sees fs[i]. */
		atomic_store_explicit(&run->published[a->index], k + 1,
				      memory_order_release);
	}
	return NULL;
}

/* Releases the even-numbered futures of submitters index and index + 2 as
 * they are published, without waiting for them. */
static void *slab_early_releaser(void *arg)
{
	struct slab_arg *a = arg;
	struct slab_run *run = a->run;
	long next[2] = {0, 0};
	int64_t end = spool_test_now_ns() + 6 * TIMEOUT;
	while ((next[0] < SLAB_PER_THREAD || next[1] < SLAB_PER_THREAD) &&
	       spool_test_now_ns() < end) {
		for (int j = 0; j < 2; j++) {
			int sub = a->index + 2 * j;
			long pub = atomic_load_explicit(&run->published[sub],
							memory_order_acquire);
			for (; next[j] < pub; next[j]++)
				if (next[j] % 2 == 0)
					spool_future_release(
						run->fs[sub * SLAB_PER_THREAD +
							next[j]]);
		}
		if (atomic_load(&run->failures))
			break;
		sched_yield();
	}
	return NULL;
}

/* Checks and releases every other odd-numbered future (1, 5, 9... for
 * index 0; 3, 7, 11... for index 1). */
static void *slab_late_releaser(void *arg)
{
	struct slab_arg *a = arg;
	struct slab_run *run = a->run;
	for (long i = 1 + 2 * a->index; i < SLAB_SUBMITTERS * SLAB_PER_THREAD;
	     i += 4) {
		spool_future *f = run->fs[i];
		if (spool_future_state(f) != SPOOL_DONE ||
		    (intptr_t)spool_future_value(f) != slab_value(i))
			atomic_fetch_add(&run->failures, 1);
		spool_future_release(f);
	}
	return NULL;
}

START_TEST(outside_records_outlive_their_submitting_thread_and_the_pool)
{
	enum { N = SLAB_SUBMITTERS * SLAB_PER_THREAD };
	struct slab_run run = {0};
	run.fs = calloc(N, sizeof *run.fs);
	ck_assert_ptr_nonnull(run.fs);
	spool_pool *p = make_pool(2);
	run.ex = spool_pool_executor(p);
	atomic_store(&slab_ran, 0);

	pthread_t sub[SLAB_SUBMITTERS], rel[2];
	struct slab_arg sa[SLAB_SUBMITTERS];
	for (int i = 0; i < SLAB_SUBMITTERS; i++) {
		sa[i] = (struct slab_arg){&run, i};
		ck_assert_int_eq(
			pthread_create(&sub[i], NULL, slab_submitter, &sa[i]),
			0);
	}
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&rel[i], NULL,
						slab_early_releaser, &sa[i]),
				 0);
	/* The submitters exit with their last blocks partly used and many
	 * of those records still referenced. */
	for (int i = 0; i < SLAB_SUBMITTERS; i++)
		pthread_join(sub[i], NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(rel[i], NULL);
	ck_assert_int_eq(atomic_load(&run.failures), 0);
	for (int i = 0; i < SLAB_SUBMITTERS; i++)
		ck_assert_int_eq(atomic_load(&run.published[i]),
				 SLAB_PER_THREAD);

	/* Destroy runs every accepted task; the kept futures outlive it. */
	spool_pool_destroy(p);
	ck_assert_int_eq(atomic_load(&slab_ran), N);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&rel[i], NULL,
						slab_late_releaser, &sa[i]),
				 0);
	for (int i = 0; i < 2; i++)
		pthread_join(rel[i], NULL);
	ck_assert_int_eq(atomic_load(&run.failures), 0);
	free(run.fs);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pool_stress");
	TCase *tc = spool_test_case("wakeup", 240);
	tcase_add_test(tc, lost_wakeup_outside_submit_100k_rounds_1_worker);
	tcase_add_test(tc, lost_wakeup_outside_submit_100k_rounds_3_workers);
	tcase_add_test(
		tc,
		lost_wakeup_worker_spawn_is_stolen_by_a_parked_worker_10k_rounds);
	tcase_add_test(
		tc,
		a_task_that_spawns_while_the_pool_drains_gets_its_child_run);
	suite_add_tcase(s, tc);
	tc = spool_test_case("completion", 240);
	tcase_add_test(tc,
		       callbacks_and_waiters_race_the_completion_of_pool_tasks);
	tcase_add_test(tc, release_racing_the_completion_frees_each_task_once);
	tcase_add_test(tc, cancel_racing_start_never_cancels_a_task_that_runs);
	suite_add_tcase(s, tc);
	tc = spool_test_case("shutdown", 240);
	tcase_add_test(tc, shutdown_racing_with_submissions_from_4_threads);
	tcase_add_test(tc,
		       shutdown_wait_racing_with_submissions_from_4_threads);
	tcase_add_test(
		tc,
		shutdown_cancel_pending_racing_with_submissions_from_4_threads);
	tcase_add_test(
		tc, create_destroy_1000_cycles_leak_no_thread_memory_or_future);
	suite_add_tcase(s, tc);
	tc = spool_test_case("outside_records", 240);
	tcase_add_test(
		tc,
		outside_records_outlive_their_submitting_thread_and_the_pool);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
