/* SPDX-License-Identifier: MIT */
/*
 * Suite "owned": arguments with owners and the smaller asyncio-parity
 * calls. spool_submit_copy() hands the task a copy independent of the
 * submitting frame, aligned to max_align_t, on every executor (pool from
 * outside and from a worker, loop, inline, and an executor of this file's
 * own that goes through core's generic path); spool_submit_owned()'s
 * destructor runs exactly once whatever becomes of the task (ran,
 * cancelled before it ran, cancelled by a pool's shutdown or a loop's
 * destroy, refused, bad input, out of memory at every allocation), also
 * when cancels race starts from many threads; spool_current_executor()
 * names the executor of the calling thread's work, nested too;
 * spool_gather_child() reads nested gathers through the outer one;
 * spool_wait_split() splits into done and pending in each mode;
 * spool_sleep_future() sleeps on the loop's timers, in order, and a
 * cancel ends it without its timer. Timing is only ever asserted as an
 * order or a lower bound.
 */
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/executor_impl.h"
#include "oom_sweep.h"
#include "support.h"

#define BOUND (20 * SPOOL_NS_PER_S)
#define MS SPOOL_NS_PER_MS

/* ---- a deferred executor: core's generic path ---------------------------
 *
 * Queues each task and runs none until deferred_run() (on the calling
 * thread): no submit_copy in its table, so spool_submit_copy and
 * spool_submit_owned carry the argument in an allocation of their own. */

enum { DEFERRED_MAX = 64 };

struct deferred {
	spool_executor ex; /* first */
	pthread_mutex_t mu;
	spool_future *f[DEFERRED_MAX];
	spool_task_fn fn[DEFERRED_MAX];
	void *arg[DEFERRED_MAX];
	int n;
	bool closed;
};

static spool_future *deferred_submit(spool_executor *ex, spool_task_fn fn,
				     void *arg, const char *label)
{
	(void)label;
	struct deferred *d = (struct deferred *)ex;
	pthread_mutex_lock(&d->mu);
	bool closed = d->closed;
	pthread_mutex_unlock(&d->mu);
	spool_future *f = spool_promise_new();
	if (!f)
		return NULL;
	if (closed) {
		spool_promise_set_error(f, SPOOL_ESHUTDOWN);
		return f;
	}
	pthread_mutex_lock(&d->mu);
	ck_assert_int_lt(d->n, DEFERRED_MAX);
	d->f[d->n] = spool_future_retain(f);
	d->fn[d->n] = fn;
	d->arg[d->n] = arg;
	d->n++;
	pthread_mutex_unlock(&d->mu);
	return f;
}

static const struct spool__executor_ops deferred_ops = {
	.name = "deferred",
	.submit = deferred_submit,
};

static void deferred_init(struct deferred *d)
{
	memset(d, 0, sizeof *d);
	d->ex.ops = &deferred_ops;
	pthread_mutex_init(&d->mu, NULL);
}

/* Runs (or, cancelled, drops) every queued task. */
static void deferred_run(struct deferred *d)
{
	for (int i = 0; i < d->n; i++) {
		spool_run_task(d->f[i], d->fn[i], d->arg[i]);
		spool_future_release(d->f[i]);
	}
	d->n = 0;
}

static void deferred_fini(struct deferred *d)
{
	deferred_run(d);
	pthread_mutex_destroy(&d->mu);
}

/* ---- helpers ------------------------------------------------------------ */

/* A task that holds a one-worker pool's worker while the test queues work
 * behind it. It polls a flag rather than waiting on a future: a wait in a
 * worker would run the queued tasks meanwhile. */
struct gate {
	atomic_bool started, open;
};

static int hold(void *arg, void **result)
{
	(void)result;
	struct gate *g = arg;
	atomic_store(&g->started, true);
	while (!atomic_load(&g->open))
		spool_test_sleep_ns(100000);
	return 0;
}

/* Returns once the worker is held. */
static spool_future *occupy(spool_pool *p, struct gate **gate)
{
	*gate = calloc(1, sizeof **gate);
	ck_assert_ptr_nonnull(*gate);
	spool_future *h = spool_submit(spool_pool_executor(p), hold, *gate);
	ck_assert_ptr_nonnull(h);
	while (!atomic_load(&(*gate)->started))
		spool_test_sleep_ns(100000);
	return h;
}

static void release_gate(struct gate *gate, spool_future *h)
{
	atomic_store(&gate->open, true);
	ck_assert_int_eq(spool_future_wait(h, BOUND), 0);
	spool_future_release(h);
	free(gate);
}

static spool_future *wait_done(spool_future *f)
{
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(spool_future_wait(f, BOUND), 0);
	return f;
}

/* ---- spool_submit_copy ---------------------------------------------------
 *
 * The argument: size bytes, byte j equal to (seed + j) & 0xff. The task
 * checks the alignment and every byte and answers with its seed + 1 (0
 * for a mismatch), so the test sees the copy's contents as the task did. */

struct copy_check {
	size_t size;
	atomic_int seen; /* tasks that found their copy right */
};

static struct copy_check cc;

static int check_copy(void *arg, void **result)
{
	const unsigned char *b = arg;
	if ((uintptr_t)b % alignof(max_align_t) != 0)
		return 1;
	unsigned char seed = b[0];
	for (size_t j = 0; j < cc.size; j++)
		if (b[j] != (unsigned char)(seed + j))
			return 2;
	atomic_fetch_add(&cc.seen, 1);
	*result = (void *)(uintptr_t)(seed + 1u);
	return 0;
}

/* Submits from a frame of its own, which is gone (and overwritten by
 * scribble()) before the task runs where the caller makes sure of it. */
static __attribute__((noinline)) spool_future *
submit_from_frame(spool_executor *ex, unsigned char seed, size_t size)
{
	unsigned char buf[1024];
	ck_assert_uint_le(size, sizeof buf);
	for (size_t j = 0; j < size; j++)
		buf[j] = (unsigned char)(seed + j);
	spool_future *f = spool_submit_copy(ex, check_copy, buf, size);
	memset(buf, 0xee, sizeof buf);
	return f;
}

static __attribute__((noinline)) void scribble(void)
{
	volatile unsigned char junk[4096];
	for (size_t j = 0; j < sizeof junk; j++)
		junk[j] = 0x5a;
}

static const size_t copy_sizes[] = {
	1,   8, 24, 96, SPOOL_SUBMIT_COPY_INLINE, SPOOL_SUBMIT_COPY_INLINE + 1,
	1000};
#define NSIZES (sizeof copy_sizes / sizeof copy_sizes[0])

static void expect_copy_value(spool_future *f, unsigned char seed)
{
	ck_assert_int_eq(spool_future_wait(f, BOUND), 0);
	ck_assert_int_eq(spool_future_state(f), SPOOL_DONE);
	ck_assert_ptr_eq(spool_future_value(f), (void *)(uintptr_t)(seed + 1u));
	spool_future_release(f);
}

START_TEST(a_copy_outlives_the_submitting_frame_on_a_pool_from_outside)
{
	spool_pool *p = spool_test_pool_new(1);
	for (size_t s = 0; s < NSIZES; s++) {
		cc.size = copy_sizes[s];
		struct gate *gate;
		spool_future *h = occupy(p, &gate);
		spool_future *f[4];
		for (int i = 0; i < 4; i++)
			f[i] = submit_from_frame(spool_pool_executor(p),
						 (unsigned char)(10 * i + s),
						 cc.size);
		scribble();
		release_gate(gate, h);
		for (int i = 0; i < 4; i++)
			expect_copy_value(f[i], (unsigned char)(10 * i + s));
	}
	spool_pool_destroy(p);
}
END_TEST

/* From a worker: the copies go into the worker's own records. */
struct from_worker {
	spool_executor *ex;
	size_t size;
};

static int submit_copies_then_wait(void *arg, void **result)
{
	struct from_worker *w = arg;
	(void)result;
	spool_future *f[8];
	for (int i = 0; i < 8; i++)
		f[i] = submit_from_frame(w->ex, (unsigned char)(3 * i),
					 w->size);
	scribble();
	for (int i = 0; i < 8; i++)
		expect_copy_value(f[i], (unsigned char)(3 * i));
	return 0;
}

START_TEST(a_copy_outlives_the_submitting_frame_on_a_pool_from_a_worker)
{
	spool_pool *p = spool_test_pool_new(2);
	for (size_t s = 0; s < NSIZES; s++) {
		cc.size = copy_sizes[s];
		struct from_worker w = {spool_pool_executor(p), cc.size};
		/* Twice: the second round reuses the records of the first. */
		for (int r = 0; r < 2; r++) {
			spool_future *f = spool_submit(spool_pool_executor(p),
						       submit_copies_then_wait,
						       &w);
			ck_assert_int_eq(spool_future_wait(f, BOUND), 0);
			ck_assert_int_eq(spool_future_state(f), SPOOL_DONE);
			spool_future_release(f);
		}
	}
	spool_pool_destroy(p);
}
END_TEST

START_TEST(a_copy_outlives_the_submitting_frame_on_a_loop)
{
	spool_loop *loop = spool_test_loop_new();
	for (size_t s = 0; s < NSIZES; s++) {
		cc.size = copy_sizes[s];
		spool_future *f = submit_from_frame(spool_loop_executor(loop),
						    (unsigned char)(s + 1),
						    cc.size);
		scribble(); /* the loop has not run: the task has not either */
		ck_assert_int_eq(spool_loop_run_until_complete(loop, f), 0);
		expect_copy_value(f, (unsigned char)(s + 1));
	}
	spool_loop_destroy(loop);
}
END_TEST

START_TEST(a_copy_is_right_on_the_inline_and_a_generic_executor)
{
	struct deferred d;
	deferred_init(&d);
	for (size_t s = 0; s < NSIZES; s++) {
		cc.size = copy_sizes[s];
		expect_copy_value(submit_from_frame(spool_executor_inline(),
						    (unsigned char)(s + 7),
						    cc.size),
				  (unsigned char)(s + 7));
		spool_future *f = submit_from_frame(
			&d.ex, (unsigned char)(s + 9), cc.size);
		scribble();
		ck_assert_int_eq(spool_future_state(f), SPOOL_PENDING);
		deferred_run(&d);
		expect_copy_value(f, (unsigned char)(s + 9));
	}
	deferred_fini(&d);
}
END_TEST

static int expect_null_arg(void *arg, void **result)
{
	(void)result;
	return arg == NULL ? 0 : 1;
}

START_TEST(a_copy_of_size_zero_gives_null_and_bad_input_fails)
{
	spool_future *f = spool_submit_copy(spool_executor_inline(),
					    expect_null_arg, "x", 0);
	ck_assert_int_eq(spool_future_state(wait_done(f)), SPOOL_DONE);
	spool_future_release(f);
	f = spool_submit_copy(spool_executor_inline(), expect_null_arg, NULL,
			      4);
	ck_assert_int_eq(spool_future_error(f), SPOOL_EINVAL);
	spool_future_release(f);
	f = spool_submit_copy(NULL, expect_null_arg, "x", 1);
	ck_assert_int_eq(spool_future_error(f), SPOOL_EINVAL);
	spool_future_release(f);
}
END_TEST

/* ---- spool_submit_owned ------------------------------------------------ */

/* One owned argument: how often its destructor and its task ran. */
struct owned_arg {
	atomic_int dtor, ran;
	atomic_bool dtor_before_final; /* the task's future not final then */
	spool_future *watch;           /* its future, if dtor should look */
};

static void count_dtor(void *arg)
{
	struct owned_arg *a = arg;
	atomic_fetch_add(&a->dtor, 1);
}

static int count_run(void *arg, void **result)
{
	struct owned_arg *a = arg;
	atomic_fetch_add(&a->ran, 1);
	*result = arg;
	return 0;
}

static void expect_once(struct owned_arg *a, int ran)
{
	ck_assert_int_eq(atomic_load(&a->dtor), 1);
	ck_assert_int_eq(atomic_load(&a->ran), ran);
}

static void reset(struct owned_arg *a, size_t n)
{
	memset(a, 0, n * sizeof *a);
}

START_TEST(
	the_destructor_runs_once_before_the_future_is_final_when_the_task_ran)
{
	struct owned_arg a[4];
	reset(a, 4);
	spool_pool *p = spool_test_pool_new(2);
	spool_loop *loop = spool_test_loop_new();
	struct deferred d;
	deferred_init(&d);
	spool_executor *ex[4] = {spool_pool_executor(p),
				 spool_loop_executor(loop),
				 spool_executor_inline(), &d.ex};
	for (int i = 0; i < 4; i++) {
		spool_future *f = spool_submit_owned(ex[i], count_run, &a[i],
						     count_dtor);
		ck_assert_ptr_nonnull(f);
		if (i == 1)
			ck_assert_int_eq(spool_loop_run_until_complete(loop, f),
					 0);
		if (i == 3)
			deferred_run(&d);
		wait_done(f);
		/* Final: the destructor has run already. */
		ck_assert_int_eq(spool_future_state(f), SPOOL_DONE);
		ck_assert_ptr_eq(spool_future_value(f), &a[i]);
		expect_once(&a[i], 1);
		spool_future_release(f);
	}
	spool_loop_destroy(loop);
	spool_pool_destroy(p);
	deferred_fini(&d);
	for (int i = 0; i < 4; i++)
		expect_once(&a[i], 1);
}
END_TEST

START_TEST(the_destructor_runs_once_when_the_task_is_cancelled_before_it_starts)
{
	enum { N = 6 };
	struct owned_arg a[3][N];
	reset(&a[0][0], 3 * N);
	/* A pool whose one worker is held, from outside. */
	spool_pool *p = spool_test_pool_new(1);
	struct gate *gate;
	spool_future *h = occupy(p, &gate);
	spool_loop *loop = spool_test_loop_new();
	struct deferred d;
	deferred_init(&d);
	spool_executor *ex[3] = {spool_pool_executor(p),
				 spool_loop_executor(loop), &d.ex};
	for (int e = 0; e < 3; e++) {
		for (int i = 0; i < N; i++) {
			spool_future *f = spool_submit_owned(
				ex[e], count_run, &a[e][i], count_dtor);
			ck_assert_ptr_nonnull(f);
			ck_assert_int_eq(atomic_load(&a[e][i].dtor), 0);
			ck_assert_int_eq(spool_future_cancel(f), 0);
			/* On the cancelling thread, before cancel returned. */
			expect_once(&a[e][i], 0);
			ck_assert_int_eq(spool_future_state(f),
					 SPOOL_CANCELLED);
			spool_future_release(f);
		}
	}
	release_gate(gate, h);
	deferred_run(&d);
	spool_loop_destroy(loop);
	spool_pool_destroy(p);
	deferred_fini(&d);
	for (int e = 0; e < 3; e++)
		for (int i = 0; i < N; i++)
			expect_once(&a[e][i], 0);
}
END_TEST

START_TEST(the_destructor_runs_once_when_shutdown_or_destroy_cancels_the_task)
{
	enum { N = 40 };
	struct owned_arg a[N], b[N];
	reset(a, N);
	reset(b, N);
	spool_future *fa[N], *fb[N];
	spool_pool *p = spool_test_pool_new(1);
	struct gate *gate;
	spool_future *h = occupy(p, &gate);
	spool_loop *loop = spool_test_loop_new();
	for (int i = 0; i < N; i++) {
		fa[i] = spool_submit_owned(spool_pool_executor(p), count_run,
					   &a[i], count_dtor);
		fb[i] = spool_submit_owned(spool_loop_executor(loop), count_run,
					   &b[i], count_dtor);
		ck_assert_ptr_nonnull(fa[i]);
		ck_assert_ptr_nonnull(fb[i]);
	}
	ck_assert_int_eq(spool_pool_shutdown(p, SPOOL_SHUTDOWN_CANCEL_PENDING),
			 0);
	for (int i = 0; i < N; i++)
		expect_once(&a[i], 0);
	spool_loop_destroy(loop);
	for (int i = 0; i < N; i++)
		expect_once(&b[i], 0);
	release_gate(gate, h);
	spool_pool_destroy(p);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(spool_future_state(fa[i]), SPOOL_CANCELLED);
		ck_assert_int_eq(spool_future_state(fb[i]), SPOOL_CANCELLED);
		spool_future_release(fa[i]);
		spool_future_release(fb[i]);
		expect_once(&a[i], 0);
		expect_once(&b[i], 0);
	}
}
END_TEST

START_TEST(the_destructor_runs_once_before_return_when_the_task_is_refused)
{
	struct owned_arg a[5];
	reset(a, 5);
	spool_pool *p = spool_test_pool_new(1);
	ck_assert_int_eq(spool_pool_shutdown(p, SPOOL_SHUTDOWN_WAIT), 0);
	struct deferred d;
	deferred_init(&d);
	d.closed = true;
	spool_future *f[5] = {
		spool_submit_owned(spool_pool_executor(p), count_run, &a[0],
				   count_dtor),
		spool_submit_owned(&d.ex, count_run, &a[1], count_dtor),
		spool_submit_owned(NULL, count_run, &a[2], count_dtor),
		spool_submit_owned(spool_executor_inline(), NULL, &a[3],
				   count_dtor),
		spool_submit_owned(spool_pool_executor(p), NULL, &a[4],
				   count_dtor),
	};
	int want[5] = {SPOOL_ESHUTDOWN, SPOOL_ESHUTDOWN, SPOOL_EINVAL,
		       SPOOL_EINVAL, SPOOL_EINVAL};
	for (int i = 0; i < 5; i++) {
		expect_once(&a[i], 0);
		ck_assert_int_eq(spool_future_state(f[i]), SPOOL_FAILED);
		ck_assert_int_eq(spool_future_error(f[i]), want[i]);
		spool_future_release(f[i]);
	}
	spool_pool_destroy(p);
	deferred_fini(&d);
}
END_TEST

/* Out of memory, at every allocation a submission makes in turn: either
 * NULL with the destructor already run, or a future whose task runs and
 * whose destructor then runs, once. */
enum {
	OOM_EX_POOL_OUTSIDE,
	OOM_EX_POOL_WORKER,
	OOM_EX_LOOP,
	OOM_EX_INLINE,
	OOM_EX_GENERIC,
	OOM_EX_N
};

static int oom_ex;
static bool oom_copy; /* spool_submit_copy with a big argument instead */

struct oom_job {
	spool_executor *ex;
	struct owned_arg *a;
	spool_future *f;
};

static int copy_run(void *arg, void **result)
{
	(void)result;
	return ((const unsigned char *)arg)[199] == 199 ? 0 : 1;
}

static void oom_submit(struct oom_job *j)
{
	if (oom_copy) {
		unsigned char big[200];
		for (int i = 0; i < 200; i++)
			big[i] = (unsigned char)i;
		j->f = spool_submit_copy(j->ex, copy_run, big, sizeof big);
		atomic_fetch_add(&j->a->dtor, 1); /* nothing to count */
		atomic_fetch_add(&j->a->ran, j->f != NULL);
		return;
	}
	j->f = spool_submit_owned(j->ex, count_run, j->a, count_dtor);
	if (!j->f)
		ck_assert_int_eq(atomic_load(&j->a->dtor), 1);
}

static void *oom_thread(void *arg)
{
	oom_submit(arg);
	return NULL;
}

static int oom_in_worker(void *arg, void **result)
{
	(void)result;
	oom_submit(arg);
	return 0;
}

static bool oom_run(long k)
{
	struct owned_arg a;
	reset(&a, 1);
	spool_pool *p = NULL;
	spool_loop *loop = NULL;
	struct deferred d;
	deferred_init(&d);
	struct oom_job j = {NULL, &a, NULL};
	spool_future *outer = NULL;
	switch (oom_ex) {
	case OOM_EX_POOL_OUTSIDE:
	case OOM_EX_POOL_WORKER:
		p = spool_test_pool_new(1);
		j.ex = spool_pool_executor(p);
		break;
	case OOM_EX_LOOP:
		loop = spool_test_loop_new();
		j.ex = spool_loop_executor(loop);
		break;
	case OOM_EX_INLINE:
		j.ex = spool_executor_inline();
		break;
	default:
		j.ex = &d.ex;
	}
	if (oom_ex == OOM_EX_POOL_WORKER) {
		/* The wrapper's record is taken before the seam is armed: a
		 * fresh worker's first record comes from malloc. */
		arm(k);
		outer = spool_submit(j.ex, oom_in_worker, &j);
		if (outer) /* the seam counts until the worker is done */
			ck_assert_int_eq(spool_future_wait(outer, BOUND), 0);
	} else if (oom_ex == OOM_EX_POOL_OUTSIDE) {
		/* A thread of its own: its first record needs a slab block. */
		pthread_t th;
		arm(k);
		ck_assert_int_eq(pthread_create(&th, NULL, oom_thread, &j), 0);
		pthread_join(th, NULL);
	} else {
		arm(k);
		oom_submit(&j);
	}
	bool f = fired();
	if (outer) {
		ck_assert_int_eq(spool_future_wait(outer, BOUND), 0);
		spool_future_release(outer);
	} else if (oom_ex == OOM_EX_POOL_WORKER) {
		/* The wrapper itself was refused: nothing ran. */
		ck_assert(f);
		spool_pool_destroy(p);
		deferred_fini(&d);
		return f;
	}
	if (j.f) {
		if (loop)
			spool_loop_run_until_complete(loop, j.f);
		deferred_run(&d);
		ck_assert_int_eq(spool_future_wait(j.f, BOUND), 0);
		/* A task that got memory to be made runs; an await's
		 * allocation may still fail inside the loop's task. */
		spool_future_release(j.f);
	} else {
		ck_assert(f);
	}
	if (loop)
		spool_loop_destroy(loop);
	if (p)
		spool_pool_destroy(p);
	deferred_fini(&d);
	ck_assert_int_eq(atomic_load(&a.dtor), 1);
	ck_assert_int_le(atomic_load(&a.ran), 1);
	return f;
}

START_TEST(the_destructor_runs_once_at_every_allocation_failure)
{
	static const char *const names[] = {"owned pool outside",
					    "owned pool worker", "owned loop",
					    "owned inline", "owned generic"};
	static const char *const cnames[] = {"copy pool outside",
					     "copy pool worker", "copy loop",
					     "copy inline", "copy generic"};
	for (int c = 0; c < 2; c++) {
		oom_copy = c;
		for (oom_ex = 0; oom_ex < OOM_EX_N; oom_ex++)
			sweep(c ? cnames[oom_ex] : names[oom_ex], oom_run);
	}
	oom_copy = false;
}
END_TEST

/* The allocations one call makes: the seam armed far away counts them. */
static long allocations(void (*call)(void *), void *arg)
{
	arm(1000000);
	call(arg);
	long left = spool_debug_alloc_fail_nth(0);
	ck_assert_int_gt(left, 0);
	return 1000000 - left;
}

struct steady {
	spool_executor *ex;
	int kind; /* 0 submit, 1 copy of SPOOL_SUBMIT_COPY_INLINE, 2 owned */
	struct owned_arg a;
	spool_future *f;
	long n[3];
};

static void steady_call(void *arg)
{
	struct steady *s = arg;
	unsigned char buf[SPOOL_SUBMIT_COPY_INLINE] = {0};
	if (s->kind == 0)
		s->f = spool_submit(s->ex, count_run, &s->a);
	else if (s->kind == 1)
		s->f = spool_submit_copy(s->ex, count_run, buf, sizeof buf);
	else
		s->f = spool_submit_owned(s->ex, count_run, &s->a, count_dtor);
	ck_assert_ptr_nonnull(s->f);
}

/* In a worker: a round of warm-up, then one counted call of each kind. */
static int steady_in_worker(void *arg, void **result)
{
	(void)result;
	struct steady *s = arg;
	for (int round = 0; round < 2; round++) {
		for (s->kind = 0; s->kind < 3; s->kind++) {
			long n = allocations(steady_call, s);
			if (round)
				s->n[s->kind] = n;
			ck_assert_int_eq(spool_future_wait(s->f, BOUND), 0);
			spool_future_release(s->f);
		}
	}
	return 0;
}

START_TEST(a_small_copy_or_an_owned_argument_allocates_no_more_than_a_submit)
{
	spool_pool *p = spool_test_pool_new(1);
	struct steady s;
	memset(&s, 0, sizeof s);
	s.ex = spool_pool_executor(p);
	spool_future *f = spool_submit(s.ex, steady_in_worker, &s);
	spool_future_release(wait_done(f));
	/* A worker's records are recycled: none of the three allocates. */
	for (int k = 0; k < 3; k++)
		ck_assert_int_eq(s.n[k], 0);
	/* From outside (a slab block is already this thread's) and on a
	 * loop (a record per task), the same count for all three. */
	spool_loop *loop = spool_test_loop_new();
	spool_executor *ex[2] = {s.ex, spool_loop_executor(loop)};
	for (int e = 0; e < 2; e++) {
		s.ex = ex[e];
		for (s.kind = 0; s.kind < 3; s.kind++) {
			s.n[s.kind] = allocations(steady_call, &s);
			if (e)
				spool_loop_run_until_complete(loop, s.f);
			ck_assert_int_eq(spool_future_wait(s.f, BOUND), 0);
			spool_future_release(s.f);
		}
		ck_assert_int_eq(s.n[1], s.n[0]);
		ck_assert_int_eq(s.n[2], s.n[0]);
	}
	spool_loop_destroy(loop);
	spool_pool_destroy(p);
}
END_TEST

/* Cancels racing starts: submitters on several threads each submit owned
 * tasks to a pool (and a loop) and cancel them at once, while the workers
 * start them. Every destructor runs exactly once; a task ran if and only
 * if its future is DONE. */
enum { RACE_THREADS = 4, RACE_ITERS = 3000 };

struct race {
	spool_executor *ex;
	struct owned_arg *a; /* RACE_ITERS of them */
	spool_future **f;
};

static void *race_main(void *arg)
{
	struct race *r = arg;
	for (int i = 0; i < RACE_ITERS; i++) {
		r->f[i] = spool_submit_owned(r->ex, count_run, &r->a[i],
					     count_dtor);
		ck_assert_ptr_nonnull(r->f[i]);
		if (i & 1)
			sched_yield();
		spool_future_cancel(r->f[i]);
	}
	return NULL;
}

static void race_check(struct race *r)
{
	int ran = 0, cancelled = 0;
	for (int i = 0; i < RACE_ITERS; i++) {
		ck_assert_int_eq(spool_future_wait(r->f[i], BOUND), 0);
		spool_state s = spool_future_state(r->f[i]);
		ck_assert_int_eq(atomic_load(&r->a[i].dtor), 1);
		ck_assert_int_eq(atomic_load(&r->a[i].ran),
				 s == SPOOL_DONE ? 1 : 0);
		ran += s == SPOOL_DONE;
		cancelled += s == SPOOL_CANCELLED;
		spool_future_release(r->f[i]);
	}
	ck_assert_int_eq(ran + cancelled, RACE_ITERS);
}

static void race_on(spool_executor *ex, spool_loop *loop)
{
	struct race r[RACE_THREADS];
	pthread_t th[RACE_THREADS];
	for (int t = 0; t < RACE_THREADS; t++) {
		r[t] = (struct race){ex, calloc(RACE_ITERS, sizeof *r[t].a),
				     calloc(RACE_ITERS, sizeof *r[t].f)};
		ck_assert(r[t].a && r[t].f);
		ck_assert_int_eq(pthread_create(&th[t], NULL, race_main, &r[t]),
				 0);
	}
	for (int t = 0; t < RACE_THREADS; t++)
		pthread_join(th[t], NULL);
	if (loop) {
		/* Run the loop until every task is final. */
		for (int t = 0; t < RACE_THREADS; t++)
			for (int i = 0; i < RACE_ITERS; i++)
				ck_assert_int_ne(spool_loop_run_until_complete(
							 loop, r[t].f[i]),
						 SPOOL_EAGAIN);
	}
	for (int t = 0; t < RACE_THREADS; t++) {
		race_check(&r[t]);
		free(r[t].a);
		free(r[t].f);
	}
}

START_TEST(the_destructor_runs_once_when_cancels_race_starts)
{
	spool_pool *p = spool_test_pool_new(2);
	race_on(spool_pool_executor(p), NULL);
	spool_pool_destroy(p);
}
END_TEST

/* The loop runs on a thread of its own while the submitters cancel. */
struct loop_runner {
	spool_loop *loop;
	spool_future *stop;
};

static int wait_stop(void *arg, void **result)
{
	(void)result;
	return spool_future_wait(arg, SPOOL_FOREVER);
}

static void *loop_main(void *arg)
{
	struct loop_runner *l = arg;
	spool_future *t = spool_submit(spool_loop_executor(l->loop), wait_stop,
				       l->stop);
	spool_loop_run_until_complete(l->loop, t);
	spool_future_release(t);
	return NULL;
}

START_TEST(the_destructor_runs_once_when_cancels_race_a_running_loop)
{
	struct loop_runner l = {spool_test_loop_new(), spool_promise_new()};
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, loop_main, &l), 0);
	race_on(spool_loop_executor(l.loop), NULL);
	spool_promise_set_result(l.stop, NULL);
	pthread_join(th, NULL);
	spool_future_release(l.stop);
	spool_loop_destroy(l.loop);
}
END_TEST

/* ---- spool_current_executor ----------------------------------------------
 *
 * Each task records the executor it sees, then, for the nesting tests,
 * runs a task on the inline executor and records again after it. */

struct seen {
	spool_executor *before, *in_inline, *after;
};

static int see_inline(void *arg, void **result)
{
	(void)result;
	((struct seen *)arg)->in_inline = spool_current_executor();
	return 0;
}

static int see(void *arg, void **result)
{
	(void)result;
	struct seen *s = arg;
	s->before = spool_current_executor();
	spool_future *f = spool_submit(spool_executor_inline(), see_inline, s);
	spool_future_release(wait_done(f));
	s->after = spool_current_executor();
	return 0;
}

/* A pool task that submits a child to its own pool and waits for it. */
static int see_nested(void *arg, void **result)
{
	(void)result;
	struct seen *s = arg;
	spool_future *f = spool_submit(spool_current_executor(), see, s);
	spool_future_release(wait_done(f));
	return 0;
}

static void see_cb(spool_loop *loop, void *arg)
{
	*(spool_executor **)arg = spool_current_executor();
	spool_loop_stop(loop);
}

START_TEST(the_current_executor_is_the_one_running_the_task)
{
	ck_assert_ptr_null(spool_current_executor());
	spool_pool *p = spool_test_pool_new(2);
	spool_loop *loop = spool_test_loop_new();
	struct seen s[4];
	memset(s, 0, sizeof s);
	spool_future *f = spool_submit(spool_pool_executor(p), see, &s[0]);
	spool_future_release(wait_done(f));
	f = spool_submit(spool_pool_executor(p), see_nested, &s[1]);
	spool_future_release(wait_done(f));
	f = spool_test_loop_submit(loop, see, &s[2]);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, f), 0);
	spool_future_release(f);
	f = spool_test_loop_submit(loop, see_nested, &s[3]);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, f), 0);
	spool_future_release(f);
	spool_executor *want[4] = {
		spool_pool_executor(p), spool_pool_executor(p),
		spool_loop_executor(loop), spool_loop_executor(loop)};
	for (int i = 0; i < 4; i++) {
		ck_assert_ptr_eq(s[i].before, want[i]);
		ck_assert_ptr_eq(s[i].in_inline, spool_executor_inline());
		ck_assert_ptr_eq(s[i].after, want[i]);
	}
	/* A loop callback runs on the loop too. */
	spool_executor *in_cb = NULL;
	ck_assert_int_eq(spool_loop_call_soon(loop, see_cb, &in_cb, NULL), 0);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	ck_assert_ptr_eq(in_cb, spool_loop_executor(loop));
	/* Directly on the inline executor, and nothing left behind. */
	struct seen t = {0};
	f = spool_submit(spool_executor_inline(), see, &t);
	spool_future_release(wait_done(f));
	ck_assert_ptr_eq(t.before, spool_executor_inline());
	ck_assert_ptr_eq(t.after, spool_executor_inline());
	ck_assert_ptr_null(spool_current_executor());
	spool_loop_destroy(loop);
	spool_pool_destroy(p);
}
END_TEST

/* ---- spool_gather_child ------------------------------------------------- */

START_TEST(nested_gathers_are_read_through_the_outer_one_alone)
{
	static int va, vb, vc;
	spool_future *a = spool_promise_new(), *b = spool_promise_new(),
		     *c = spool_promise_new();
	/* b is final before its gather is made: its value is read there. */
	spool_promise_set_result(b, &vb);
	spool_future *ab[2] = {a, b}, *cc1[1] = {c};
	spool_future *inner[2] = {spool_gather(ab, 2, 0),
				  spool_gather(cc1, 1, 0)};
	spool_future *outer = spool_gather(inner, 2, 0);
	ck_assert_ptr_nonnull(outer);
	/* Only the outer gather is kept. */
	spool_future_release(inner[0]);
	spool_future_release(inner[1]);
	ck_assert_ptr_eq(spool_gather_child(outer, 1), inner[1]);
	/* Plain inputs are not handed back, pending or final. */
	ck_assert_ptr_null(spool_gather_child(spool_gather_child(outer, 0), 0));
	ck_assert_ptr_null(spool_gather_child(spool_gather_child(outer, 0), 1));
	spool_promise_set_result(a, &va);
	spool_promise_set_result(c, &vc);
	spool_future_release(a);
	spool_future_release(b);
	spool_future_release(c);
	ck_assert_int_eq(spool_future_wait(outer, BOUND), 0);
	ck_assert_int_eq(spool_future_state(outer), SPOOL_DONE);
	void *want[2][2] = {{&va, &vb}, {&vc, NULL}};
	for (size_t i = 0; i < 2; i++) {
		spool_future *g = spool_gather_child(outer, i);
		ck_assert_ptr_nonnull(g);
		ck_assert_uint_eq(spool_gather_size(g), 2 - i);
		for (size_t j = 0; j < spool_gather_size(g); j++) {
			void *v;
			ck_assert_int_eq(spool_gather_result(g, j, &v), 0);
			ck_assert_ptr_eq(v, want[i][j]);
			ck_assert_ptr_null(spool_gather_child(g, j));
		}
		ck_assert_ptr_null(spool_gather_child(g, 2 - i));
	}
	ck_assert_ptr_null(spool_gather_child(outer, 2));
	ck_assert_ptr_null(spool_gather_child(NULL, 0));
	spool_future *pr = spool_promise_new();
	ck_assert_ptr_null(spool_gather_child(pr, 0));
	spool_future_release(pr);
	spool_future_release(outer);
}
END_TEST

static int twice(void *arg, void **result)
{
	*result = (void *)((intptr_t)arg * 2);
	return 0;
}

/* Mixed inputs: only the nested combinators are handed back, each at its
 * own index, whether it was final or pending and even when the outer
 * gather failed fast before reaching it. */
START_TEST(gather_child_gives_nested_gathers_and_maps_at_their_index)
{
	static int vx, vy;
	spool_future *x = spool_promise_new(), *y = spool_promise_new();
	spool_promise_set_result(x, &vx);
	spool_future *one[1] = {x};
	spool_future *inner = spool_gather(one, 1, 0); /* final */
	void *args[3] = {(void *)1, (void *)2, (void *)3};
	spool_future *m = spool_map(spool_executor_inline(), twice, args, 3, 0);
	spool_future *late = spool_promise_new();
	spool_future *pend1[1] = {late};
	spool_future *pending = spool_gather(pend1, 1, 0); /* not final */
	spool_future *in[5] = {x, inner, y, m, pending};
	spool_future *outer = spool_gather(in, 5, 0);
	ck_assert_ptr_null(spool_gather_child(outer, 0));
	ck_assert_ptr_eq(spool_gather_child(outer, 1), inner);
	ck_assert_ptr_null(spool_gather_child(outer, 2));
	ck_assert_ptr_eq(spool_gather_child(outer, 3), m);
	ck_assert_ptr_eq(spool_gather_child(outer, 4), pending);
	ck_assert_ptr_null(spool_gather_child(outer, 5));
	/* Failed fast before the nested gather: held all the same. */
	spool_future *bad = spool_promise_new();
	spool_promise_set_error(bad, 7);
	spool_future *in2[2] = {bad, pending};
	spool_future *failed = spool_gather(in2, 2, 0);
	ck_assert_int_eq(spool_future_state(failed), SPOOL_FAILED);
	ck_assert_ptr_eq(spool_gather_child(failed, 1), pending);
	spool_future_release(inner);
	spool_future_release(m);
	spool_future_release(pending);
	spool_promise_set_result(y, &vy);
	spool_promise_set_result(late, &vy);
	ck_assert_int_eq(spool_future_wait(outer, BOUND), 0);
	void *v;
	ck_assert_int_eq(
		spool_gather_result(spool_gather_child(outer, 3), 2, &v), 0);
	ck_assert_ptr_eq(v, (void *)6);
	ck_assert_int_eq(
		spool_gather_result(spool_gather_child(outer, 4), 0, &v), 0);
	ck_assert_ptr_eq(v, &vy);
	spool_future_release(failed);
	spool_future_release(bad);
	spool_future_release(outer);
	spool_future_release(x);
	spool_future_release(y);
	spool_future_release(late);
}
END_TEST

/* ---- spool_wait_split ---------------------------------------------------- */

static bool has(spool_future **v, size_t n, spool_future *f)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == f)
			return true;
	return false;
}

START_TEST(a_split_wait_reports_done_and_pending_in_each_mode)
{
	static int v;
	spool_future *ok = spool_promise_new(), *bad = spool_promise_new(),
		     *slow = spool_promise_new(), *gone = spool_promise_new();
	spool_future *fs[5] = {ok, bad, slow, ok, gone}; /* ok twice */
	spool_future *done[5], *pending[5];
	size_t nd = 99, np = 99;

	/* Nothing final: a poll and a short timeout report all pending. */
	ck_assert_int_eq(spool_wait_split(fs, 5, SPOOL_FIRST_COMPLETED, 0, done,
					  &nd, pending, &np),
			 0);
	ck_assert_uint_eq(nd, 0);
	ck_assert_uint_eq(np, 4);
	ck_assert_ptr_eq(pending[0], ok);
	ck_assert_ptr_eq(pending[3], gone);

	/* FIRST_COMPLETED: one done. */
	spool_promise_set_result(ok, &v);
	ck_assert_int_eq(spool_wait_split(fs, 5, SPOOL_FIRST_COMPLETED, BOUND,
					  done, &nd, pending, &np),
			 0);
	ck_assert_uint_eq(nd, 1);
	ck_assert_ptr_eq(done[0], ok);
	ck_assert_uint_eq(np, 3);
	ck_assert(has(pending, np, bad) && has(pending, np, slow) &&
		  has(pending, np, gone));

	/* FIRST_EXCEPTION: a cancellation does not count, a failure does. */
	spool_future_cancel(gone);
	ck_assert_int_eq(spool_wait_split(fs, 5, SPOOL_FIRST_EXCEPTION, 20 * MS,
					  done, &nd, pending, &np),
			 0); /* timed out: reported, not an error */
	ck_assert_uint_eq(nd, 2);
	ck_assert(has(done, nd, ok) && has(done, nd, gone));
	spool_promise_set_error(bad, 42);
	ck_assert_int_eq(spool_wait_split(fs, 5, SPOOL_FIRST_EXCEPTION, BOUND,
					  done, &nd, pending, &np),
			 0);
	ck_assert_uint_eq(nd, 3);
	ck_assert_uint_eq(np, 1);
	ck_assert_ptr_eq(pending[0], slow);

	/* ALL_COMPLETED: the rest after a timeout, then all. */
	ck_assert_int_eq(spool_wait_split(fs, 5, SPOOL_ALL_COMPLETED, 10 * MS,
					  NULL, &nd, pending, &np),
			 0);
	ck_assert_uint_eq(nd, 3);
	ck_assert_uint_eq(np, 1);
	spool_promise_set_result(slow, NULL);
	ck_assert_int_eq(spool_wait_split(fs, 5, SPOOL_ALL_COMPLETED, BOUND,
					  done, &nd, NULL, &np),
			 0);
	ck_assert_uint_eq(nd, 4);
	ck_assert_uint_eq(np, 0);
	ck_assert_ptr_eq(done[0], ok);
	ck_assert_ptr_eq(done[1], bad);
	ck_assert_ptr_eq(done[2], slow);
	ck_assert_ptr_eq(done[3], gone);

	/* Bad input: nothing written. */
	nd = np = 99;
	ck_assert_int_eq(spool_wait_split(NULL, 1, SPOOL_ALL_COMPLETED, 0, done,
					  &nd, pending, &np),
			 SPOOL_EINVAL);
	ck_assert_int_eq(spool_wait_split(fs, 5, (spool_wait_when)7, 0, done,
					  &nd, pending, &np),
			 SPOOL_EINVAL);
	ck_assert_uint_eq(nd, 99);
	ck_assert_int_eq(spool_wait_split(NULL, 0, SPOOL_ALL_COMPLETED,
					  SPOOL_FOREVER, NULL, &nd, NULL, &np),
			 0);
	ck_assert_uint_eq(nd + np, 0);
	for (int i = 0; i < 5; i++)
		if (i != 3)
			spool_future_release(fs[i]);
}
END_TEST

/* ---- spool_sleep_future ---------------------------------------------------
 */

struct order {
	int n;
	int64_t at[3];
	int which[3];
	int64_t t0;
};

static struct order ord;

static void note_done(spool_future *f, void *arg)
{
	(void)f;
	ord.at[ord.n] = spool_test_now_ns() - ord.t0;
	ord.which[ord.n] = (int)(intptr_t)arg;
	ord.n++;
}

/* A coroutine that gathers three sleeps made in it. With `late`, it
 * blocks the loop's thread until every deadline has passed before the
 * sleeps' tasks can start: they still end in the order of the deadlines. */
static bool late;

static int gather_sleeps(void *arg, void **result)
{
	(void)result;
	spool_loop *loop = arg;
	spool_future *s[3];
	ord.t0 = spool_test_now_ns();
	for (int i = 0; i < 3; i++) {
		s[i] = spool_sleep_future(loop, (3 - i) * 10 * MS);
		ck_assert_ptr_nonnull(s[i]);
		ck_assert_int_eq(spool_future_add_callback(s[i], note_done,
							   (void *)(intptr_t)i),
				 0);
	}
	if (late)
		spool_test_sleep_ns(35 * MS); /* nanosleep: the thread */
	spool_future *g = spool_gather(s, 3, 0);
	int rc = spool_future_wait(g, SPOOL_FOREVER);
	int64_t took = spool_test_now_ns() - ord.t0;
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(spool_future_state(g), SPOOL_DONE);
	ck_assert_int_ge(took, 30 * MS);
	spool_future_release(g);
	for (int i = 0; i < 3; i++)
		spool_future_release(s[i]);
	return 0;
}

START_TEST(gathered_sleeps_end_in_the_order_of_their_deadlines)
{
	spool_loop *loop = spool_test_loop_new();
	for (int round = 0; round < 2; round++) {
		late = round;
		memset(&ord, 0, sizeof ord);
		spool_future *t = spool_test_loop_submit(loop, gather_sleeps,
							 loop);
		ck_assert_int_eq(spool_loop_run_until_complete(loop, t), 0);
		spool_future_release(t);
		ck_assert_int_eq(ord.n, 3);
		/* Made 30, 20, 10 ms: they end 10, 20, 30, each after its
		 * time. */
		for (int k = 0; k < 3; k++) {
			ck_assert_int_eq(ord.which[k], 2 - k);
			ck_assert_int_ge(ord.at[k], (k + 1) * 10 * MS);
		}
	}
	spool_loop_destroy(loop);
}
END_TEST

START_TEST(a_cancelled_sleep_ends_cancelled_without_its_timer)
{
	spool_loop *loop = spool_test_loop_new();
	int64_t t0 = spool_test_now_ns();
	spool_future *s[3] = {spool_sleep_future(loop, 10 * MS),
			      spool_sleep_future(loop, 3600 * SPOOL_NS_PER_S),
			      spool_sleep_future(loop, 20 * MS)};
	/* Before it started, and (below) while it sleeps. */
	ck_assert_int_eq(spool_future_cancel(s[1]), 0);
	spool_future *g = spool_gather(s, 3, SPOOL_RETURN_ERRORS);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, g), 0);
	ck_assert_int_ge(spool_test_now_ns() - t0, 20 * MS);
	ck_assert_int_eq(spool_gather_result(g, 1, NULL), SPOOL_ECANCELLED);
	ck_assert_int_eq(spool_gather_result(g, 0, NULL), 0);
	ck_assert_int_eq(spool_gather_result(g, 2, NULL), 0);
	spool_future_release(g);
	for (int i = 0; i < 3; i++)
		spool_future_release(s[i]);

	/* A sleep an hour long, cancelled once it sleeps: the loop returns
	 * as soon as it is CANCELLED, not in an hour. */
	spool_future *hour = spool_sleep_future(loop, 3600 * SPOOL_NS_PER_S);
	spool_future *tick = spool_sleep_future(loop, 1 * MS);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, tick), 0);
	ck_assert_int_eq(spool_future_state(hour), SPOOL_RUNNING);
	ck_assert_int_eq(spool_future_cancel(hour), 0);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, hour),
			 SPOOL_ECANCELLED);
	spool_future_release(hour);
	spool_future_release(tick);
	spool_loop_destroy(loop);
}
END_TEST

/* From another thread while the loop runs: through the inbox. */
struct from_thread {
	spool_loop *loop;
	spool_future *s;
};

static void *make_sleep(void *arg)
{
	struct from_thread *ft = arg;
	ft->s = spool_sleep_future(ft->loop, 5 * MS);
	return NULL;
}

static int run_a_while(void *arg, void **result)
{
	(void)result;
	pthread_t th;
	struct from_thread *ft = arg;
	ck_assert_int_eq(pthread_create(&th, NULL, make_sleep, ft), 0);
	pthread_join(th, NULL);
	return spool_future_wait(ft->s, SPOOL_FOREVER);
}

START_TEST(a_sleep_future_made_on_another_thread_fires_on_the_loop)
{
	spool_loop *loop = spool_test_loop_new();
	struct from_thread ft = {loop, NULL};
	spool_future *t = spool_test_loop_submit(loop, run_a_while, &ft);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, t), 0);
	ck_assert_int_eq(spool_future_state(ft.s), SPOOL_DONE);
	spool_future_release(ft.s);
	spool_future_release(t);
	spool_future *bad = spool_sleep_future(loop, -1);
	ck_assert_int_eq(spool_future_error(bad), SPOOL_EINVAL);
	spool_future_release(bad);
	bad = spool_sleep_future(NULL, 1);
	ck_assert_int_eq(spool_future_error(bad), SPOOL_EINVAL);
	spool_future_release(bad);
	spool_loop_destroy(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("owned");
	TCase *tc = spool_test_case("owned", 120);
	tcase_add_test(
		tc,
		a_copy_outlives_the_submitting_frame_on_a_pool_from_outside);
	tcase_add_test(
		tc,
		a_copy_outlives_the_submitting_frame_on_a_pool_from_a_worker);
	tcase_add_test(tc, a_copy_outlives_the_submitting_frame_on_a_loop);
	tcase_add_test(tc,
		       a_copy_is_right_on_the_inline_and_a_generic_executor);
	tcase_add_test(tc, a_copy_of_size_zero_gives_null_and_bad_input_fails);
	tcase_add_test(
		tc,
		the_destructor_runs_once_before_the_future_is_final_when_the_task_ran);
	tcase_add_test(
		tc,
		the_destructor_runs_once_when_the_task_is_cancelled_before_it_starts);
	tcase_add_test(
		tc,
		the_destructor_runs_once_when_shutdown_or_destroy_cancels_the_task);
	tcase_add_test(
		tc,
		the_destructor_runs_once_before_return_when_the_task_is_refused);
	tcase_add_test(tc,
		       the_destructor_runs_once_at_every_allocation_failure);
	tcase_add_test(
		tc,
		a_small_copy_or_an_owned_argument_allocates_no_more_than_a_submit);
	tcase_add_test(tc, the_destructor_runs_once_when_cancels_race_starts);
	tcase_add_test(
		tc, the_destructor_runs_once_when_cancels_race_a_running_loop);
	tcase_add_test(tc, the_current_executor_is_the_one_running_the_task);
	tcase_add_test(tc, nested_gathers_are_read_through_the_outer_one_alone);
	tcase_add_test(
		tc, gather_child_gives_nested_gathers_and_maps_at_their_index);
	tcase_add_test(tc, a_split_wait_reports_done_and_pending_in_each_mode);
	tcase_add_test(tc, gathered_sleeps_end_in_the_order_of_their_deadlines);
	tcase_add_test(tc, a_cancelled_sleep_ends_cancelled_without_its_timer);
	tcase_add_test(tc,
		       a_sleep_future_made_on_another_thread_fires_on_the_loop);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
