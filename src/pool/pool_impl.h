/* SPDX-License-Identifier: MIT */
/*
 * The inside of a pool, shared by the pool's source files (never
 * installed): the task record, the worker, the pool, and the few hot
 * functions that the spawn path inlines.
 *
 *   task.c    task records: one allocation per task and future, recycled
 *             through per-worker free lists; records that outlive the pool
 *   park.c    the idle set: searching, parking and waking without lost
 *             wake-ups
 *   worker.c  the worker loop, finding work, running tasks and jobs, and
 *             helping while waiting (the pool's side of the waiting seam)
 *   pool.c    create, submit, shutdown, destroy, stats
 *   job.h     jobs: work without a future (joins, scope spawns), their
 *             latches, and how a deque entry says which of the two it is
 *   join.c    spool_join, and running a job from outside the pool
 *   scope.c   spool_scope_*
 *   for.c     spool_for
 *
 * Ownership of a task record: the future inside it is reference counted
 * like any future. The pool holds one reference from submission until the
 * task has run (or was dropped because it was cancelled first); the
 * submitter gets the other. Whoever drops the last one recycles the record
 * (spool__task_free), possibly long after the pool is gone.
 */
#ifndef SPOOL_POOL_IMPL_H
#define SPOOL_POOL_IMPL_H

#include <ck_ec.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/executor_impl.h"
#include "core/future_impl.h"
#include "core/lifo.h"
#include "deque.h"
#include "fence.h"
#include "inject.h"
#include "spool/pool.h"

struct spool__worker;

struct spool__pool_task {
	spool_future fut; /* first: a task record is its future */
	spool_task_fn fn;
	void *arg;
	/* The worker whose free list the record came from and returns to;
	 * NULL for a record allocated by a thread outside the pool, which
	 * goes back to its slab (core/slab.c). */
	struct spool__worker *home;
	/* One word for three uses that never overlap: a record is in the
	 * injection queue only while its task is queued (the pool's
	 * reference keeps it off every free list until a worker has taken it
	 * out, and the queue touches no node it has handed out, inject.h);
	 * its task runs only after it left every queue; and it is on a free
	 * list or return stack only once every reference is gone. With the
	 * union a record is 136 bytes (a slot of 144, core/slab.h). */
	union {
		struct spool__inject_node link; /* injection queue link */
		/* The worker running the task, stored when it starts: the
		 * deadlock check's answer to "is this task running beneath
		 * my wait?" (worker.c, pool_holds). Read only through a
		 * reference, so never while the record is on a free list or
		 * return stack; what the other members leave in the word is
		 * an address inside a task record or a queue node, never a
		 * worker's. */
		_Atomic(struct spool__worker *) runner;
		struct spool__pool_task *next_free; /* free list */
		struct spool__lifo_node ret;        /* return stack */
	};
};

/* Per-worker statistics: written by the owner only (load + store, no
 * read-modify-write), read by anyone. */
struct spool__worker_stats {
	_Atomic uint64_t tasks_run, steals, failed_steals, parks;
};

struct spool__worker {
	struct spool__deque dq; /* cache-line aligned inside */
	struct spool_pool *pool;
	int index;
	pthread_t thread;
	bool started;

	/* Owner only. */
	struct spool__pool_task *free_list;
	long nfree; /* records on free_list */
	/* Records with a tail (spool_submit_copy, SPOOL__TASK_BIG). */
	struct spool__pool_task *free_list_big;
	long nfree_big;
	long nmalloc;   /* records this worker took from malloc, minus the
			   ones it gave back to free (may go negative) */
	unsigned tick;  /* tasks run, for the injection fairness check */
	uint32_t rng;   /* victim selection */
	bool searching; /* counted in the pool's searching count */

	/* Records whose last reference was dropped on another thread: a
	 * closable stack (core/lifo.h) pushed by anyone, emptied at once by
	 * the owner, closed by the pool's destroy (task.c). */
	alignas(64) struct spool__lifo returns;

	/* Parking (park.c). sleeping and next_sleeper are written under the
	 * pool's sleep_mu; sleeping is also read without it. */
	alignas(64) struct ck_ec32 ec;
	_Atomic bool sleeping;
	struct spool__worker *next_sleeper;

	alignas(64) struct spool__worker_stats st;
};

/* The idle word: searching workers in the low half, parked ones in the
 * high half, so that one read-modify-write moves a worker between them. */
#define SPOOL__IDLE_SEARCHING UINT64_C(1)
#define SPOOL__IDLE_PARKED (UINT64_C(1) << 32)
#define SPOOL__IDLE_NSEARCHING(s) ((uint32_t)(s))
#define SPOOL__IDLE_NPARKED(s) ((uint32_t)((s) >> 32))

/* The external-submission gate: bit 0 is "closed", the rest counts
 * outside submitters between their check and their push. */
#define SPOOL__GATE_CLOSED 1u
#define SPOOL__GATE_ONE 2u

struct spool_pool {
	spool_executor exec; /* what spool_pool_executor() hands out */
	int nworkers;
	char name[16];

	/* Written by outside submitters: the gate and the queue's tail
	 * (inside inj) share their lines with nothing the workers write. */
	alignas(64) _Atomic uint32_t gate;
	struct spool__inject inj;
	/* Jobs handed in by threads outside the pool (job.h): joins, loops
	 * and scope spawns started there. Rare, so a queue of their own
	 * keeps the task queue's entries all of one type. */
	struct spool__inject jobs;

	alignas(64) _Atomic uint64_t idle; /* see SPOOL__IDLE_* */
	_Atomic bool draining; /* shut down and no outside push in flight */
	pthread_mutex_t sleep_mu;
	struct spool__worker *sleepers; /* LIFO, under sleep_mu */
	_Atomic uint64_t wakeups;

	pthread_mutex_t join_mu;
	bool joined; /* under join_mu */

	/* Leaving after a drain (worker.c, drain_leave): workers leave all
	 * together, once every one of the nlive started workers is idle
	 * with no work anywhere. Under drain_mu. nlive is written before
	 * draining is set and read after it is seen. */
	pthread_mutex_t drain_mu;
	int nlive;
	int drain_idle;
	bool drained;

	/* Task records still referenced after destroy (task.c). */
	_Atomic long orphans;

	struct spool__worker workers[]; /* nworkers */
};

/* The calling thread's worker, or NULL on any other thread. */
extern SPOOL__TLS struct spool__worker *spool__self;

/* ---- statistics ---------------------------------------------------------- */

static inline void spool__stat_inc(_Atomic uint64_t *c)
{
	/* Relaxed load and store: only the owner writes; readers want some
	 * recent value. Not an atomic increment, so it costs a plain add. */
	atomic_store_explicit(c,
			      atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* ---- task records (task.c) ----------------------------------------------- */

extern const struct spool__future_ops spool__task_ops;

/* A record with a tail: SPOOL__TASK_BIG bytes, the record in its first
 * slot as usual, then SPOOL__TASK_TAIL bytes (the second slot, 16-aligned
 * as max_align_t asks) that spool_submit_copy() copies its argument into. Its
 * future has spool__task_ops_big (which frees it as a big record); otherwise it
 * is a task like any other. Outside submissions take two neighbouring slab
 * slots for it (a slot is SPOOL__TASK_SLOT: a record rounded up to 16
 * bytes). */
#define SPOOL__TASK_SLOT ((sizeof(struct spool__pool_task) + 15) & ~(size_t)15)
#define SPOOL__TASK_BIG (2 * SPOOL__TASK_SLOT)
#define SPOOL__TASK_TAIL (SPOOL__TASK_BIG - SPOOL__TASK_SLOT)
extern const struct spool__future_ops spool__task_ops_big;

/* True for a pool task record of either size. */
static inline bool spool__is_pool_task(const spool_future *f)
{
	return f->ops == &spool__task_ops || f->ops == &spool__task_ops_big;
}

/* The tail of a big record. */
static inline void *spool__task_tail(struct spool__pool_task *t)
{
	return (char *)t + SPOOL__TASK_SLOT;
}

/* As spool__task_refill and spool__task_alloc_outside, for big records. */
struct spool__pool_task *spool__task_refill_big(struct spool__worker *w);
struct spool__pool_task *spool__task_alloc_outside_big(void);

static inline struct spool__pool_task *
spool__task_alloc_big(struct spool__worker *w)
{
	struct spool__pool_task *t = w->free_list_big;
	if (t) {
		w->free_list_big = t->next_free;
		w->nfree_big--;
		return t;
	}
	return spool__task_refill_big(w);
}

/* Refills an empty free list (returned records, else malloc). NULL when out
 * of memory. */
struct spool__pool_task *spool__task_refill(struct spool__worker *w);

/* A record for a task submitted from outside the pool. */
struct spool__pool_task *spool__task_alloc_outside(void);

/* A fresh record from w's free list (owner only). */
static inline struct spool__pool_task *
spool__task_alloc(struct spool__worker *w)
{
	struct spool__pool_task *t = w->free_list;
	if (__builtin_expect(t != NULL, 1)) {
		w->free_list = t->next_free;
		w->nfree--;
		return t;
	}
	return spool__task_refill(w);
}

/* Makes t a PENDING task with two references (the pool's and the
 * submitter's). */
static inline void spool__task_init(struct spool__pool_task *t,
				    struct spool__worker *home,
				    spool_task_fn fn, void *arg,
				    const char *label)
{
	spool__future_init_refs(&t->fut, &spool__task_ops, 2);
	t->fut.label = label;
	t->fn = fn;
	t->arg = arg;
	t->home = home;
}

/* Frees the records cached by the pool's workers and settles the ones
 * still referenced by users; may free p itself (destroy's last step). */
void spool__task_heap_close(struct spool_pool *p);

/* ---- parking (park.c) ---------------------------------------------------- */

void spool__idle_init(struct spool_pool *p);
void spool__idle_fini(struct spool_pool *p);

/* Wakes one parked worker, if nobody is searching (slow half of notify). */
void spool__idle_wake_one(struct spool_pool *p);

/* Called after making a task visible (push or inject): wakes a parked
 * worker when no worker is searching. The fence is the submitter's half of
 * the protocol proven in park.c: the light half of an asymmetric pair
 * (fence.h), since it runs on every spawn and the parker's half rarely. */
static inline void spool__idle_notify(struct spool_pool *p)
{
	spool__fence_light();
	/* Relaxed: ordered by the fence above (see park.c). */
	uint64_t s = atomic_load_explicit(&p->idle, memory_order_relaxed);
	if (__builtin_expect(SPOOL__IDLE_NSEARCHING(s) == 0 &&
				     SPOOL__IDLE_NPARKED(s) != 0,
			     0))
		spool__idle_wake_one(p);
}

/* w becomes a searcher if fewer than half the workers search already.
 * Returns whether it did. */
bool spool__idle_try_search(struct spool__worker *w);

/* w, a searcher, found work: it stops searching, and if it was the last
 * searcher it wakes another worker for the work that may remain. */
void spool__idle_found_work(struct spool__worker *w);

/* w, a searcher leaving the pool: stops searching, wakes nobody. */
void spool__idle_leave(struct spool__worker *w);

/* w found no work: parks it until a submitter or shutdown wakes it, unless
 * its last check finds work or the pool drains. w is a searcher on
 * return. */
void spool__idle_park(struct spool__worker *w);

/* Wakes every parked worker (shutdown). */
void spool__idle_wake_all(struct spool_pool *p);

/* Whether any deque or the injection queue may hold a task. The caller
 * provides the fence. */
bool spool__pool_may_have_work(struct spool_pool *p);

/* ---- workers (worker.c) -------------------------------------------------- */

void *spool__worker_main(void *arg);

struct spool__latch; /* job.h */

/* Runs x, a deque entry (a task or a job, job.h), on w, the calling
 * thread's worker. */
void spool__worker_run_item(struct spool__worker *w, void *x);

/* On w, the calling thread's worker: runs other work until l is open. */
void spool__worker_wait_latch(struct spool__worker *w, struct spool__latch *l);

/* ---- jobs from outside (job.c) --------------------------------------------
 */

struct spool__job;

/* Hands j to p's job queue from a thread that is not one of p's workers,
 * behind the external-submission gate. Returns 0, or SPOOL_ESHUTDOWN
 * (after shutdown: j was not queued). Never blocks. */
int spool__pool_push_job(struct spool_pool *p, struct spool__job *j);

/* Waits until l is open: a worker of any pool runs its own pool's work
 * meanwhile; any other thread spins briefly, then sleeps. */
void spool__latch_wait(struct spool__latch *l);

/* Runs fn(arg) in one of p's workers, from a thread that is not one of
 * them, with the caller's current task as the job's (for
 * spool_cancel_requested), and waits as spool__latch_wait does. Returns
 * fn's result, SPOOL_ESHUTDOWN (p was shut down: fn did not run) or
 * SPOOL_ECANCELLED (shutdown cancelled it while queued: fn did not run). */
int spool__pool_run_outside(struct spool_pool *p, int (*fn)(void *arg),
			    void *arg);

/* A record from spool__task_alloc() (home set to the worker) or
 * spool__task_alloc_outside() (home NULL) that was used for something
 * other than a task (a scope spawn), given back from any thread. */
void spool__task_record_free(struct spool__pool_task *t);

#endif /* SPOOL_POOL_IMPL_H */
