/* SPDX-License-Identifier: MIT */
/*
 * The pool's public face: create, submit, shutdown, destroy and stats.
 *
 * Submission. From one of the pool's own workers, spool_submit() takes a
 * record from the worker's free list, pushes it onto the worker's deque and
 * checks, with one fence and one load, whether a parked worker needs waking
 * (park.c): no lock, no shared counter, no system call while the pool is
 * busy. From any other thread, the task goes through the injection queue,
 * behind the external-submission gate.
 *
 * The gate (p->gate) makes shutdown exact for outside submitters: a
 * submitter adds SPOOL__GATE_ONE before it checks for shutdown and
 * subtracts it after its push; shutdown sets SPOOL__GATE_CLOSED and waits
 * for the count to drain. The two read-modify-writes on one word are
 * totally ordered, so a submitter either sees CLOSED (and fails with
 * SPOOL_ESHUTDOWN) or is counted, and then shutdown waits until its task is
 * in the queue before it lets workers leave on an empty queue. Submissions
 * from the pool's own workers are never refused: they come from tasks that
 * are running, so the computations in flight at shutdown can finish.
 *
 * Jobs from outside the pool (spool_join, scopes and spool_for called
 * there, job.h) pass the same gate into a queue of their own.
 *
 * Shutdown, then: close the gate and drain it; with CANCEL_PENDING take
 * every queued task and job (injection queue, job queue, then every deque
 * through its steal end, which is safe from any thread) and cancel it (a
 * job ends with SPOOL_ECANCELLED without running); set draining and wake
 * every sleeper. Workers leave together, once draining is set and every
 * started worker is idle with no work in any queue (worker.c,
 * drain_leave): a task still running may spawn a child and wait for it
 * without helping, and that child needs a worker that has not left.
 * Destroy joins the workers and hands the task records to task.c, which
 * frees the pool memory once no future refers to it.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/misuse.h"
#include "job.h"
#include "pool_impl.h"

enum { DEQUE_LOG2_CAPACITY = 8 };

static inline struct spool_pool *pool_of(spool_executor *ex)
{
	return (struct spool_pool *)ex; /* exec is the first member */
}

/* Makes t, a big record just initialised, carry the size bytes at src in
 * its tail and run fn on that copy; *copy gets it. */
static void big_tail(struct spool__pool_task *t, const void *src, size_t size,
		     void **copy)
{
	t->fut.ops = &spool__task_ops_big;
	t->arg = memcpy(spool__task_tail(t), src, size);
	*copy = t->arg;
}

/* size > 0: a big record with a copy of src (spool_submit_copy). Always
 * inlined, so that spool_submit's path, with size the constant 0, is
 * what it was before copies existed (one call fewer: some 12% of the
 * instructions of 20,000 outside submissions, callgrind). */
static inline __attribute__((always_inline)) spool_future *
submit_outside(struct spool_pool *p, spool_task_fn fn, void *arg,
	       const char *label, const void *src, size_t size, void **copy)
{
	/* seq_cst: ordered with shutdown's fetch_or on the same word (any
	 * order would do for one word; the acquire half keeps the push
	 * below after the check). */
	uint32_t g = atomic_fetch_add_explicit(&p->gate, SPOOL__GATE_ONE,
					       memory_order_seq_cst);
	spool_future *f;
	if (g & SPOOL__GATE_CLOSED) {
		f = spool__future_failed(SPOOL_ESHUTDOWN);
	} else {
		struct spool__pool_task *t =
			size ? spool__task_alloc_outside_big()
			     : spool__task_alloc_outside();
		if (t) {
			spool__task_init(t, NULL, fn, arg, label);
			if (size)
				big_tail(t, src, size, copy);
			spool__inject_push(&p->inj, &t->link);
			spool__idle_notify(p);
			f = &t->fut;
		} else {
			f = NULL;
		}
	}
	/* Release: shutdown's acquire load that sees the count drained also
	 * sees the push. */
	atomic_fetch_sub_explicit(&p->gate, SPOOL__GATE_ONE,
				  memory_order_release);
	return f;
}

int spool__pool_push_job(struct spool_pool *p, struct spool__job *j)
{
	/* The gate as in submit_outside: seq_cst, then release. */
	uint32_t g = atomic_fetch_add_explicit(&p->gate, SPOOL__GATE_ONE,
					       memory_order_seq_cst);
	int rc = 0;
	if (g & SPOOL__GATE_CLOSED) {
		rc = SPOOL_ESHUTDOWN;
	} else {
		spool__inject_push(&p->jobs, &j->link);
		spool__idle_notify(p);
	}
	atomic_fetch_sub_explicit(&p->gate, SPOOL__GATE_ONE,
				  memory_order_release);
	return rc;
}

static spool_future *pool_submit(spool_executor *ex, spool_task_fn fn,
				 void *arg, const char *label)
{
	struct spool_pool *p = pool_of(ex);
	struct spool__worker *w = spool__self;
	if (__builtin_expect(w == NULL || w->pool != p, 0))
		return submit_outside(p, fn, arg, label, NULL, 0, NULL);
	struct spool__pool_task *t = spool__task_alloc(w);
	if (__builtin_expect(t == NULL, 0))
		return NULL;
	spool__task_init(t, w, fn, arg, label);
	if (__builtin_expect(spool__deque_push(&w->dq, t) != 0, 0)) {
		/* Both references: the record goes back to the free list. */
		spool_future_release(&t->fut);
		spool_future_release(&t->fut);
		return NULL;
	}
	spool__idle_notify(p);
	return &t->fut;
}

_Static_assert(SPOOL__TASK_TAIL >= SPOOL_SUBMIT_COPY_INLINE,
	       "a big record holds what executor.h promises");
_Static_assert(SPOOL__TASK_SLOT % _Alignof(max_align_t) == 0,
	       "a big record's tail is aligned for any argument");

/* spool_submit_copy: as pool_submit, in a big record (pool_impl.h). */
static spool_future *pool_submit_copy(spool_executor *ex, spool_task_fn fn,
				      const void *src, size_t size,
				      const char *label, void **copy)
{
	struct spool_pool *p = pool_of(ex);
	struct spool__worker *w = spool__self;
	*copy = NULL;
	if (w == NULL || w->pool != p)
		return submit_outside(p, fn, NULL, label, src, size, copy);
	struct spool__pool_task *t = spool__task_alloc_big(w);
	if (!t)
		return NULL;
	spool__task_init(t, w, fn, NULL, label);
	big_tail(t, src, size, copy);
	if (spool__deque_push(&w->dq, t) != 0) {
		*copy = NULL;
		spool_future_release(&t->fut);
		spool_future_release(&t->fut);
		return NULL;
	}
	spool__idle_notify(p);
	return &t->fut;
}

static const struct spool__executor_ops pool_executor_ops = {
	.name = "pool",
	.submit = pool_submit,
	.submit_copy = pool_submit_copy,
	.copy_max = SPOOL__TASK_TAIL,
};

static int online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

/* Joins the workers that started (each leaves once draining is set and no
 * work is left for it); for shutdown and create's failure path. */
static void join_workers(struct spool_pool *p)
{
	pthread_mutex_lock(&p->join_mu);
	if (!p->joined) {
		for (int i = 0; i < p->nworkers; i++)
			if (p->workers[i].started)
				pthread_join(p->workers[i].thread, NULL);
		p->joined = true;
	}
	pthread_mutex_unlock(&p->join_mu);
}

static void close_gate(struct spool_pool *p)
{
	atomic_fetch_or_explicit(&p->gate, SPOOL__GATE_CLOSED,
				 memory_order_seq_cst);
	/* Acquire: pairs with the submitters' release decrement. Submitters
	 * hold the gate only for a push, so this wait is short. */
	while (atomic_load_explicit(&p->gate, memory_order_acquire) !=
	       SPOOL__GATE_CLOSED)
		sched_yield();
}

/* Everything but the memory of p and the task records. */
static void free_pool(struct spool_pool *p)
{
	for (int i = 0; i < p->nworkers; i++)
		spool__deque_fini(&p->workers[i].dq);
	spool__idle_fini(p);
	pthread_mutex_destroy(&p->join_mu);
	pthread_mutex_destroy(&p->drain_mu);
}

int spool_pool_create(spool_pool **out, const spool_pool_options *opts)
{
	if (!out)
		return SPOOL_EINVAL;
	*out = NULL;
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	if (opts)
		o = *opts;
	if (o.workers < 0)
		return SPOOL_EINVAL;
	int n = o.workers ? o.workers : online_cpus();

	size_t size = sizeof(struct spool_pool) +
		      (size_t)n * sizeof(struct spool__worker);
	size = (size + 63) & ~(size_t)63;
	struct spool_pool *p = spool__aligned_alloc(64, size);
	if (!p)
		return SPOOL_ENOMEM;
	memset(p, 0, size);
	p->exec.ops = &pool_executor_ops;
	p->nworkers = n;
	snprintf(p->name, sizeof p->name, "%s", o.name ? o.name : "spool");
	atomic_init(&p->gate, 0);
	spool__inject_init(&p->inj);
	spool__inject_init(&p->jobs);
	atomic_init(&p->orphans, 0);
	pthread_mutex_init(&p->join_mu, NULL);
	p->joined = false;
	pthread_mutex_init(&p->drain_mu, NULL);
	p->nlive = n;

	int rc = 0, made = 0;
	for (; made < n; made++) {
		struct spool__worker *w = &p->workers[made];
		if (spool__deque_init(&w->dq, DEQUE_LOG2_CAPACITY) != 0) {
			rc = SPOOL_ENOMEM;
			break;
		}
		w->pool = p;
		w->index = made;
		w->rng = 2654435761u * (uint32_t)(made + 1);
		spool__lifo_init(&w->returns);
	}
	spool__idle_init(p);
	for (int i = 0; rc == 0 && i < n; i++) {
		struct spool__worker *w = &p->workers[i];
		if (pthread_create(&w->thread, NULL, spool__worker_main, w)) {
			rc = SPOOL_ESYS;
			break;
		}
		w->started = true;
	}
	if (rc != 0) {
		/* Nothing was submitted: let the started workers leave. */
		int started = 0;
		for (int i = 0; i < n; i++)
			started += p->workers[i].started;
		p->nlive = started; /* before draining: see pool_impl.h */
		close_gate(p);
		atomic_store(&p->draining, true);
		spool__idle_wake_all(p);
		join_workers(p);
		/* Deques never initialised are zeroed: fini frees NULL. */
		free_pool(p);
		free(p);
		return rc;
	}
	*out = p;
	return 0;
}

spool_executor *spool_pool_executor(spool_pool *p)
{
	return p ? &p->exec : NULL;
}

int spool_pool_workers(const spool_pool *p)
{
	return p ? p->nworkers : SPOOL_EINVAL;
}

/* x, a queued deque entry, never runs: a task ends CANCELLED, a job is
 * ended by its exec function (job.h). */
static void cancel_item(void *x)
{
	if (spool__item_is_job(x)) {
		struct spool__job *j = spool__item_job(x);
		j->exec(j, true);
		return;
	}
	struct spool__pool_task *t = x;
	spool_future_cancel(&t->fut);
	spool_future_release(&t->fut); /* the pool's reference */
}

static void cancel_pending(struct spool_pool *p)
{
	struct spool__inject_node *n;
	for (;;) {
		enum spool__inject_result r = spool__inject_pop(&p->inj, &n);
		if (r == SPOOL__INJECT_EMPTY)
			break;
		if (r == SPOOL__INJECT_ITEM)
			cancel_item(
				(struct spool__pool_task
					 *)((char *)n -
					    offsetof(struct spool__pool_task,
						     link)));
		else
			sched_yield(); /* a worker holds the consumer side */
	}
	for (;;) {
		enum spool__inject_result r = spool__inject_pop(&p->jobs, &n);
		if (r == SPOOL__INJECT_EMPTY)
			break;
		if (r == SPOOL__INJECT_ITEM)
			cancel_item(spool__job_item(spool__job_of_node(n)));
		else
			sched_yield();
	}
	for (int i = 0; i < p->nworkers; i++) {
		struct spool__deque *q = &p->workers[i].dq;
		void *x;
		enum spool__steal_result r;
		while ((r = spool__deque_steal(q, &x)) != SPOOL__STEAL_EMPTY)
			if (r == SPOOL__STEAL_ITEM)
				cancel_item(x);
	}
}

int spool_pool_shutdown(spool_pool *p, unsigned flags)
{
	if (!p || (flags & ~(unsigned)(SPOOL_SHUTDOWN_WAIT |
				       SPOOL_SHUTDOWN_CANCEL_PENDING)))
		return SPOOL_EINVAL;
	close_gate(p);
	if (flags & SPOOL_SHUTDOWN_CANCEL_PENDING)
		cancel_pending(p);
	atomic_store_explicit(&p->draining, true, memory_order_seq_cst);
	spool__idle_wake_all(p);
	if (flags & SPOOL_SHUTDOWN_WAIT) {
		if (spool__self && spool__self->pool == p)
			return SPOOL_EDEADLK;
		join_workers(p);
	}
	return 0;
}

void spool_pool_destroy(spool_pool *p)
{
	if (!p)
		return;
	if (spool__self && spool__self->pool == p)
		spool__misuse("spool_pool_destroy",
			      "called from one of the pool's own workers, "
			      "which would wait for itself");
	spool_pool_shutdown(p, SPOOL_SHUTDOWN_WAIT);
	free_pool(p);
	spool__task_heap_close(p); /* frees p, now or at the last release */
}

int spool_pool_stats_get(spool_pool *p, spool_pool_stats *out)
{
	if (!p || !out)
		return SPOOL_EINVAL;
	memset(out, 0, sizeof *out);
	for (int i = 0; i < p->nworkers; i++) {
		struct spool__worker_stats *s = &p->workers[i].st;
		/* Relaxed: counters, each a snapshot of its own. */
		out->tasks_run += atomic_load_explicit(&s->tasks_run,
						       memory_order_relaxed);
		out->steals += atomic_load_explicit(&s->steals,
						    memory_order_relaxed);
		out->failed_steals += atomic_load_explicit(
			&s->failed_steals, memory_order_relaxed);
		out->parks += atomic_load_explicit(&s->parks,
						   memory_order_relaxed);
	}
	out->wakeups = atomic_load_explicit(&p->wakeups, memory_order_relaxed);
	return 0;
}
