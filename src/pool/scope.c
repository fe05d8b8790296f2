/* SPDX-License-Identifier: MIT */
/*
 * Scopes: spawn any number of pieces of work, wait for all of them
 * (rayon::scope, oneTBB's task_group), without a future per spawn.
 *
 * A scope is a latch that counts the spawns not yet finished, the first
 * failure, and a future of its own that only serves as the spawns'
 * current task: a failure raises that future's cancel request, which is
 * what spool_cancel_requested() reads in every spawn, and the future
 * names the task that began the scope as its cancel parent
 * (future_impl.h, cancel_parent), so that a cancel of that task is seen in
 * the spawns too. The future is never handed out, waited for or shared:
 * it is started when the scope begins and completed and released when the
 * scope's wait returns, all in the caller's storage (ops->free does
 * nothing).
 *
 * A spawn is a job (job.h) in a record: a task record recycled as is from
 * the spawning worker's free list (or, outside the pool, from the
 * thread's slab: task.c, core/slab.c), or storage the caller lends. A spawn on
 * a worker is pushed onto its deque; one from outside goes through the
 * pool's job queue. The job copies what it needs out of its record and
 * gives the record back before it calls the function, so that the
 * function's own spawns reuse it while it is still in the cache; it counts
 * the latch down last, touching nothing of the scope afterwards.
 *
 * Why the count cannot reach zero too early: a spawn is counted (latch
 * add) before it is pushed, by the beginning thread before its wait or by
 * a spawn that is itself still counted. So while the beginning thread
 * waits, the count is zero only once no spawn is running or queued, and
 * nothing can add to it any more.
 */
#include <stdalign.h>

#include "core/misuse.h"
#include "job.h"
#include "pool_impl.h"

enum { SCOPE_OPEN = 0x5c09e0, SCOPE_CLOSED = 0x5c09ed };

struct scope {
	spool_future fut; /* first: the spawns' current task */
	struct spool__latch pending;
	struct spool_pool *pool;
	const spool_future *parent; /* the task that began the scope */
	_Atomic int err;
	uint32_t magic;
};

_Static_assert(sizeof(struct scope) <= sizeof(spool_scope),
	       "spool_scope has room for a scope");
_Static_assert(alignof(struct scope) <= alignof(spool_scope),
	       "spool_scope is aligned for a scope");

enum { REC_POOLED = 1, REC_LENT = 2 };

struct scope_job {
	struct spool__job job; /* first */
	spool_work_fn fn;
	void *arg;
	struct scope *scope;
	int kind;
};

_Static_assert(sizeof(struct scope_job) <= sizeof(spool_scope_job),
	       "spool_scope_job has room for a spawn");
_Static_assert(alignof(struct scope_job) <= alignof(spool_scope_job),
	       "spool_scope_job is aligned for a spawn");
/* A pooled spawn leaves the record's home field alone (task.c reads it). */
_Static_assert(sizeof(struct scope_job) <=
		       offsetof(struct spool__pool_task, home),
	       "a spawn fits in a task record before its home field");

static void fut_free(spool_future *f)
{
	(void)f; /* in the caller's storage */
}

static const spool_future *fut_parent(const spool_future *f)
{
	return ((const struct scope *)f)->parent;
}

static const struct spool__future_ops scope_ops = {
	.free = fut_free,
	.owned = true,
	.cancel_parent = fut_parent,
};

static struct scope *scope_of(spool_scope *s, const char *fn)
{
	struct scope *sc = (struct scope *)s;
	if (sc->magic != SCOPE_OPEN)
		spool__misuse(fn, "the scope is not open (spool_scope_begin "
				  "was not called, or spool_scope_wait has "
				  "returned)");
	return sc;
}

static void scope_fail(struct scope *sc, int err)
{
	int zero = 0;
	/* Relaxed: the value travels to the waiter with the latch's
	 * count-down (release) that follows. */
	if (atomic_compare_exchange_strong_explicit(&sc->err, &zero, err,
						    memory_order_relaxed,
						    memory_order_relaxed))
		spool_future_cancel(&sc->fut); /* RUNNING: raises the flag */
}

static void scope_exec(struct spool__job *j, bool cancel)
{
	struct scope_job *sj = (struct scope_job *)j;
	struct scope *sc = sj->scope;
	spool_work_fn fn = sj->fn;
	void *arg = sj->arg;
	if (sj->kind == REC_POOLED)
		spool__task_record_free((struct spool__pool_task *)sj);
	int err = SPOOL_ECANCELLED;
	if (!cancel) {
		spool_future *outer = spool__current_swap(&sc->fut);
		err = fn(arg);
		spool__current_swap(outer);
	}
	if (err)
		scope_fail(sc, err);
	spool__latch_count_down(&sc->pending); /* sc may be gone after this */
}

int spool_scope_begin(spool_scope *s, spool_pool *pool)
{
	if (!s || !pool)
		return SPOOL_EINVAL;
	struct scope *sc = (struct scope *)s;
	if (sc->magic == SCOPE_OPEN)
		spool__misuse("spool_scope_begin",
			      "the scope is already open (begun and not yet "
			      "waited for)");
	spool__future_init(&sc->fut, &scope_ops);
	sc->fut.label = "scope";
	spool__future_start(&sc->fut);
	spool__latch_init(&sc->pending, 0);
	sc->pool = pool;
	sc->parent = spool_current_future();
	atomic_init(&sc->err, 0);
	sc->magic = SCOPE_OPEN;
	return 0;
}

/* Queues sj, filled in but for job.exec, into sc. */
static int spawn(struct scope *sc, struct scope_job *sj,
		 struct spool__worker *w)
{
	sj->job.exec = scope_exec;
	sj->scope = sc;
	spool__latch_add(&sc->pending);
	if (w) {
		if (__builtin_expect(spool__deque_push(
					     &w->dq, spool__job_item(&sj->job)),
				     0)) {
			/* The deque could not grow: run it here. */
			scope_exec(&sj->job, false);
			return 0;
		}
		spool__idle_notify(sc->pool);
		return 0;
	}
	int rc = spool__pool_push_job(sc->pool, &sj->job);
	if (rc != 0) {
		/* Not queued: as if never spawned. The count cannot reach
		 * zero here with a waiter asleep on it (see the top). */
		if (sj->kind == REC_POOLED)
			spool__task_record_free((struct spool__pool_task *)sj);
		spool__latch_count_down(&sc->pending);
	}
	return rc;
}

/* The calling thread's worker when it belongs to sc's pool, else NULL. */
static inline struct spool__worker *local_worker(struct scope *sc)
{
	struct spool__worker *w = spool__self;
	return w && w->pool == sc->pool ? w : NULL;
}

int spool_scope_spawn(spool_scope *s, spool_work_fn fn, void *arg)
{
	if (!s || !fn)
		return SPOOL_EINVAL;
	struct scope *sc = scope_of(s, "spool_scope_spawn");
	struct spool__worker *w = local_worker(sc);
	struct spool__pool_task *rec = w ? spool__task_alloc(w)
					 : spool__task_alloc_outside();
	if (!rec)
		return SPOOL_ENOMEM;
	rec->home = w;
	struct scope_job *sj = (struct scope_job *)rec;
	sj->fn = fn;
	sj->arg = arg;
	sj->kind = REC_POOLED;
	return spawn(sc, sj, w);
}

int spool_scope_spawn_in(spool_scope *s, spool_scope_job *job, spool_work_fn fn,
			 void *arg)
{
	if (!s || !job || !fn)
		return SPOOL_EINVAL;
	struct scope *sc = scope_of(s, "spool_scope_spawn_in");
	struct scope_job *sj = (struct scope_job *)job;
	sj->fn = fn;
	sj->arg = arg;
	sj->kind = REC_LENT;
	return spawn(sc, sj, local_worker(sc));
}

int spool_scope_wait(spool_scope *s)
{
	if (!s)
		return SPOOL_EINVAL;
	struct scope *sc = scope_of(s, "spool_scope_wait");
	/* From inside one of its own spawns (at any depth of nested
	 * scopes) the wait would wait for itself. */
	for (const spool_future *f = spool_current_future();
	     f && f->ops == &scope_ops; f = ((const struct scope *)f)->parent)
		if (f == &sc->fut)
			spool__misuse("spool_scope_wait",
				      "called from inside one of the scope's "
				      "own spawns, which would wait for "
				      "itself");
	spool__latch_wait(&sc->pending);
	/* Relaxed: ordered by the latch's acquire (scope_fail). */
	int err = atomic_load_explicit(&sc->err, memory_order_relaxed);
	sc->magic = SCOPE_CLOSED;
	spool__future_complete_owned_release(&sc->fut, 0, NULL);
	return err;
}
