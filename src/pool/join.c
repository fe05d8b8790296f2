/* SPDX-License-Identifier: MIT */
/*
 * spool_join: two functions, possibly in parallel, without a future.
 *
 * The scheme is the one of Cilk's spawn/sync and rayon's join (rayon-core
 * join/mod.rs): on a worker, the second half b becomes a job record in
 * this function's frame (job.h), pushed onto the worker's own deque; the
 * first half runs at once; then the worker pops its deque. The deque is
 * LIFO for its owner and b was pushed last, so unless a thief took b (or a
 * left work of its own on the deque, which is popped and run first), the
 * pop returns b, and b runs here as a plain call: a push, a pop and two
 * calls, no allocation, no atomic read-modify-write (the pop's fence is
 * the one full barrier; deque.h). A thief that steals b runs it through
 * join_exec, which stores b's result in the record and counts the
 * record's latch down; the owner, finding b gone, helps (runs other work)
 * until the latch opens, then reads the result. The record stays valid
 * for the thief because the owner cannot return before the latch opens,
 * and the thief touches nothing of it after the count-down (job.h).
 *
 * Called from outside the pool, the whole join is handed to the pool
 * (spool__pool_run_outside, job.c), where it runs as above.
 *
 * Cancellation: the halves see the caller's task as current. Run inline,
 * they are on the caller's thread, whose current task does not change; a
 * stolen b runs with the task recorded in its record (cur) made current on
 * the thief for the call.
 */
#include "job.h"
#include "pool_impl.h"

/* b's record. */
struct join_job {
	struct spool__job job; /* first */
	spool_work_fn fn;
	void *arg;
	spool_future *cur;
	int err;
	int64_t index; /* where the owner pushed it */
	struct spool__latch done;
};

/* b on a thief (or cancelled by shutdown). */
static void join_exec(struct spool__job *j, bool cancel)
{
	struct join_job *b = (struct join_job *)j;
	int err = SPOOL_ECANCELLED;
	if (!cancel) {
		spool_future *outer = spool__current_swap(b->cur);
		err = b->fn(b->arg);
		spool__current_swap(outer);
	}
	b->err = err;
	spool__latch_count_down(&b->done); /* b may be gone after this */
}

/* After a: b was not where spool__deque_pop_at looks for it. Either a
 * left entries of its own above b, which are popped and run here until b
 * comes up; or b is gone: stolen, or popped and run by a wait inside a
 * (as any entry of this deque), and then its latch opens once it has run.
 * Entries below b popped meanwhile are older work of this worker, run
 * here as a waiting worker would. */
static __attribute__((noinline)) int join_rest(struct spool__worker *w,
					       struct join_job *b, int ea)
{
	void *item = spool__job_item(&b->job);
	int eb;
	for (;;) {
		if (spool__latch_open(&b->done)) {
			eb = b->err;
			break;
		}
		void *x = spool__deque_pop(&w->dq);
		if (x == item) {
			eb = b->fn(b->arg);
			break;
		}
		if (!x) {
			spool__worker_wait_latch(w, &b->done);
			eb = b->err;
			break;
		}
		spool__worker_run_item(w, x);
	}
	return ea ? ea : eb;
}

struct join_args {
	spool_pool *pool;
	spool_work_fn a, b;
	void *aarg, *barg;
};

static int join_in_pool(void *arg)
{
	struct join_args *j = arg;
	return spool_join(j->pool, j->a, j->aarg, j->b, j->barg);
}

static __attribute__((noinline)) int join_outside(spool_pool *pool,
						  spool_work_fn a, void *aarg,
						  spool_work_fn b, void *barg)
{
	if (!pool || !a || !b)
		return SPOOL_EINVAL;
	struct join_args args = {pool, a, b, aarg, barg};
	return spool__pool_run_outside(pool, join_in_pool, &args);
}

int spool_join(spool_pool *pool, spool_work_fn a, void *aarg, spool_work_fn b,
	       void *barg)
{
	struct spool__worker *w = spool__self;
	/* A NULL pool is no worker's pool: join_outside refuses it. */
	if (__builtin_expect(!w || w->pool != pool || !a || !b, 0))
		return join_outside(pool, a, aarg, b, barg);
	struct join_job rec;
	rec.job.exec = join_exec;
	rec.fn = b;
	rec.arg = barg;
	rec.cur = spool_current_future();
	spool__latch_init(&rec.done, 1);
	rec.index = spool__deque_push_at(&w->dq, spool__job_item(&rec.job));
	if (__builtin_expect(rec.index < 0, 0)) {
		/* The deque could not grow: both halves here. */
		int ea = a(aarg), eb = b(barg);
		return ea ? ea : eb;
	}
	spool__idle_notify(pool);
	int ea = a(aarg);
	/* After the call, everything is read back from rec and the thread's
	 * worker rather than kept in registers across it: the common path
	 * then saves and restores fewer of them. */
	w = spool__self;
	if (__builtin_expect(spool__deque_pop_at(&w->dq, rec.index), 1)) {
		int eb = rec.fn(rec.arg);
		return ea ? ea : eb;
	}
	return join_rest(w, &rec, ea);
}
