/* SPDX-License-Identifier: MIT */
/*
 * Task groups (see spool/group.h).
 *
 * Each spawned task is a proxy future (proxy.h, struct gtask) handed to
 * the caller at once, even when the task waits in the group's queue.
 * Starting it submits the proxy's wrapper to the executor, which runs the
 * task through spool_run_task(), so the task's future is the current
 * future while fn runs (spool_cancel_requested() polls it) and a future
 * cancelled while it waited makes the wrapper skip fn. The proxy's
 * callback on the wrapper's future covers a wrapper that never runs (a
 * shut-down executor): it completes the task's future with the executor's
 * error.
 *
 * The group learns of every end through one done-callback per task
 * (on_finished). Its bookkeeping (counts, the queue, the failures, the
 * joiners' future) sits under one mutex, because a queue that starts
 * tasks in spawn order as others end, a cancel that must reach every task,
 * and a failure list that grows are each one small critical section where
 * a lock-free design would buy nothing measurable. The mutex is never held
 * while submitting, cancelling or completing a future: those run callbacks
 * (even whole tasks, on an inline executor) that take it again.
 *
 * Starting queued tasks is done by one thread at a time (`pumping`): the
 * pumper pops a task under the lock, submits it unlocked, and loops until
 * the queue is empty or the limit is reached; anyone else who changes the
 * counts under the lock while a pumper runs is covered by the pumper's next
 * look. So a chain of tasks that end inside their own submission (inline
 * executor) never recurses.
 *
 * Joining: a joiner makes (or shares) the `idle` future under the lock and
 * waits on it through the seam; the task end that brings `unfinished` to 0
 * takes it out under the lock and completes it, so no joiner misses the
 * moment: it either saw 0 under the lock or registered `idle` before that
 * end took the lock.
 *
 * Deadlock check (core/wait.h): the joiners' future is stuck when one
 * task not final is, since the join needs them all; the list is walked as
 * cancel walks it. A task is stuck when the executor's task that runs it
 * (the wrapper) is: a loop task of a loop stranded on this thread. A task
 * running beneath the joiner on the same pool thread is found by the
 * worker itself (its future is the current one there, pool_holds()).
 *
 * Cancelling walks the list of all tasks (nodes are only added, and never
 * after the group is cancelled, so the list read under the lock can be
 * walked after unlocking). Lifetime: the group holds a reference to every
 * task; each unfinished task holds one reference to the group, and the owner
 * one until destroy.
 */
#include <pthread.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/detail.h"
#include "proxy.h"
#include "spool/group.h"
#include "spool/loop.h"

struct gtask {
	struct spool__proxy p; /* the task's future; must be first */
	spool_group *g;
	spool_task_fn fn;
	void *arg;
	size_t index;
	/* on_finished's node on the task's own future (which, fresh, lends
	 * its inner node first: this one is there so that the registration
	 * cannot fail). */
	struct spool__cb fin_node;
	/* Under the group's lock: */
	bool submitted;
	struct gtask *next_queued;
	struct gtask *next_all; /* set before the node is published */
};

struct failure {
	int err;
	size_t index;
	/* The task's detail (core/detail.h), a reference of the group's;
	 * NULL: none. Taking it is an increment: recording cannot fail. */
	struct spool__detail *detail;
};

struct spool_group {
	pthread_mutex_t lock;
	_Atomic unsigned long refs;
	spool_executor *ex;
	size_t limit;
	/* Under lock: */
	bool cancelled; /* refuses spawns; set by a failure or cancel */
	bool by_user;   /* cancelled through spool_group_cancel/destroy */
	bool pumping;
	size_t nspawned;
	size_t running;    /* submitted and not finished */
	size_t unfinished; /* spawned and not final */
	struct gtask *qhead, *qtail;
	struct gtask *all; /* newest first */
	struct failure *fails;
	size_t nfails, fcap; /* fcap >= nspawned, so recording never fails */
	spool_future *idle;  /* completed when unfinished reaches 0 */
	/* The loop coroutine that created the group, cancelled at the first
	 * failure (a reference), or NULL: see spool_group_create(). */
	spool_future *owner;
	/* abort_soon's node on the step that defers the abort (abort_later):
	 * the abort happens once per group. */
	struct spool__cb abort_node;
};

static void lock(const spool_group *g)
{
	pthread_mutex_lock((pthread_mutex_t *)&g->lock);
}

static void unlock(const spool_group *g)
{
	pthread_mutex_unlock((pthread_mutex_t *)&g->lock);
}

/* ---- tasks ------------------------------------------------------------ */

/* Runs the task. The wrapper holds no reference of its own: the task cannot
 * be freed before it is final (the group keeps it while it is unfinished,
 * and the start's loan keeps it until the wrapper has returned), and after
 * spool_run_task() has completed it the wrapper no longer touches it. */
static int wrapper(void *arg, void **result)
{
	(void)result;
	struct gtask *t = arg;
	int rc = spool__run_task(&t->p.fut, t->fn, t->arg);
	return rc == SPOOL_ESTATE ? SPOOL_ECANCELLED : rc;
}

/* A task suspended at an await on a loop is interrupted by cancelling the
 * wrapper (the proxy forwards it); on a pool the flag on the task's future
 * is what fn polls. The task ends only after its wrapper has run, or with
 * it when it never does: if the wrapper is stuck, so is the task. */
static const struct spool__proxy_ops gtask_ops = {
	.fut =
		{
			.fini = spool__proxy_fini,
			.cancel_running = spool__proxy_cancel_running,
			.stuck = spool__proxy_stuck,
		},
	.run = wrapper,
};

static void start(spool_group *g, struct gtask *t)
{
	spool_future_retain(&t->p.fut); /* the start's loan */
	spool__proxy_start(&t->p, g->ex);
}

/* ---- the group -------------------------------------------------------- */

static void group_unref(spool_group *g)
{
	if (atomic_fetch_sub(&g->refs, 1) != 1)
		return;
	for (struct gtask *t = g->all, *next; t; t = next) {
		next = t->next_all;
		spool_future_release(&t->p.fut);
	}
	spool_future_release(g->idle);
	for (size_t i = 0; i < g->nfails; i++)
		spool__detail_release(g->fails[i].detail);
	spool_future_release(g->owner);
	free(g->fails);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

static void pump(spool_group *g)
{
	lock(g);
	if (g->pumping) {
		unlock(g);
		return;
	}
	g->pumping = true;
	for (;;) {
		struct gtask *t = NULL;
		while (g->qhead && !g->cancelled &&
		       (g->limit == 0 || g->running < g->limit)) {
			t = g->qhead;
			g->qhead = t->next_queued;
			if (!g->qhead)
				g->qtail = NULL;
			if (!spool_future_done(&t->p.fut))
				break;
			t = NULL; /* cancelled while it waited: skip it */
		}
		if (!t)
			break;
		t->submitted = true;
		g->running++;
		unlock(g);
		start(g, t);
		lock(g);
	}
	g->pumping = false;
	unlock(g);
}

static void cancel_all(spool_group *g)
{
	lock(g);
	struct gtask *t = g->all;
	unlock(g);
	for (; t; t = t->next_all) {
		spool_future_cancel(&t->p.fut);
		spool_future *e = spool__proxy_exec(&t->p);
		if (e)
			spool_future_cancel(e);
	}
}

/* The first failure's consequences: the other tasks are cancelled, and so
 * is the owner, at its next await (asyncio.TaskGroup's _abort and its
 * cancel of the parent task). Then the abort's hold on unfinished and on
 * the group goes. The owner's cancel is sent before the joiners' future
 * can complete, so a joining owner gets it inside the join, which takes it
 * as the group's own (spool_group_join): it never reaches an await after
 * the join. */
static void abort_now(spool_group *g)
{
	cancel_all(g);
	if (g->owner)
		spool_future_cancel(g->owner);
	spool_future *idle = NULL;
	lock(g);
	if (--g->unfinished == 0) {
		idle = g->idle;
		g->idle = NULL;
	}
	unlock(g);
	if (idle) {
		spool__future_complete(idle, 0, NULL);
		spool_future_release(idle);
	}
	group_unref(g);
}

static int step_task(void *arg, void **result)
{
	(void)arg, (void)result;
	return 0;
}

static void abort_soon(spool_future *step, void *arg)
{
	(void)step;
	abort_now(arg);
}

/* On a loop's thread the abort waits for the next iteration, as asyncio's
 * task done-callbacks are called soon rather than at once: tasks woken in
 * the same iteration as the failing one (by one promise, one timer) run
 * first, and a failure of theirs is reported as a failure, not turned
 * into a cancellation by a cancel that overtook their wake-up. The delay
 * is an empty task submitted to the loop (queued in order, as call_soon
 * would be), with the abort on its future's done-callback: unlike a
 * callback, which a destroyed loop may discard, a task's future always
 * completes (CANCELLED if the loop closes first, FAILED if it refuses the
 * task), so the abort always happens; a task that cannot be allocated
 * does it at once. Elsewhere (a pool thread, a promise completed by a
 * plain thread) there is no iteration to finish, and a task running there
 * only gets a flag anyway: the abort is done at once. */
static void abort_later(spool_group *g)
{
	spool_loop *loop = spool_loop_current();
	spool_future *step = NULL;
	if (loop)
		step = spool_submit(spool_loop_executor(loop), step_task, NULL);
	if (!step) {
		abort_now(g);
		return;
	}
	spool__future_add_callback_node(step, &g->abort_node, abort_soon, g);
	spool_future_release(step);
}

static void on_finished(spool_future *f, void *arg)
{
	struct gtask *t = arg;
	spool_group *g = t->g;
	int err = spool_future_error(f);
	bool first = false;
	spool_future *idle = NULL;

	lock(g);
	if (t->submitted)
		g->running--;
	g->unfinished--;
	if (err != 0 && err != SPOOL_ECANCELLED) {
		struct spool__detail *d = spool__future_detail(f);
		g->fails[g->nfails++] = (struct failure){
			err, t->index, d ? spool__detail_retain(d) : NULL};
		first = !g->cancelled;
		g->cancelled = true;
		if (first) {
			/* The abort's hold: the joiners' future completes
			 * only after the owner's cancel has been sent. */
			g->unfinished++;
			atomic_fetch_add(&g->refs, 1);
		}
	}
	if (g->unfinished == 0) {
		idle = g->idle;
		g->idle = NULL;
	}
	unlock(g);

	if (first)
		abort_later(g);
	if (idle) {
		spool__future_complete(idle, 0, NULL);
		spool_future_release(idle);
	}
	pump(g);
	group_unref(g); /* the task's reference */
}

int spool_group_create(spool_group **out, spool_executor *ex,
		       size_t max_running)
{
	if (!out || !ex)
		return SPOOL_EINVAL;
	*out = NULL;
	spool_group *g = spool__calloc(1, sizeof *g);
	if (!g)
		return SPOOL_ENOMEM;
	if (pthread_mutex_init(&g->lock, NULL) != 0) {
		free(g);
		return SPOOL_ENOMEM;
	}
	atomic_init(&g->refs, 1);
	g->ex = ex;
	g->limit = max_running;
	/* Made by a loop coroutine: it is the owner (see the header). A
	 * group task or a then-continuation running as a coroutine is the
	 * current future too, and its cancel reaches the coroutine. */
	if (spool_loop_current())
		g->owner = spool_future_retain(spool_current_future());
	*out = g;
	return 0;
}

/* Makes room for one more failure record. Under lock. */
static int reserve(spool_group *g)
{
	if (g->nspawned < g->fcap)
		return 0;
	size_t cap = g->fcap ? 2 * g->fcap : 16;
	struct failure *f = spool__realloc(g->fails, cap * sizeof *f);
	if (!f)
		return SPOOL_ENOMEM;
	g->fails = f;
	g->fcap = cap;
	return 0;
}

int spool_group_spawn(spool_group *g, spool_task_fn fn, void *arg,
		      spool_future **task)
{
	if (task)
		*task = NULL;
	if (!g || !fn)
		return SPOOL_EINVAL;
	struct gtask *t = spool__malloc(sizeof *t);
	if (!t)
		return SPOOL_ENOMEM;
	spool__proxy_init(&t->p, &gtask_ops, NULL);
	t->g = g;
	t->fn = fn;
	t->arg = arg;
	t->submitted = false;
	t->next_queued = NULL;
	/* On a node of its own, so that it cannot fail, even on a loop's
	 * thread (where spool_future_add_callback reserves what would carry
	 * it home): on_finished only updates the group under its lock, so
	 * any thread may run it. It runs only once the task is final. */
	spool__future_add_callback_node(&t->p.fut, &t->fin_node, on_finished,
					t);

	lock(g);
	int rc = g->cancelled ? SPOOL_ECANCELLED : reserve(g);
	if (rc != 0) {
		unlock(g);
		spool_future_release(&t->p.fut); /* unrun callback freed too */
		return rc;
	}
	t->index = g->nspawned++;
	g->unfinished++;
	atomic_fetch_add(&g->refs, 1);
	t->next_all = g->all;
	g->all = t;
	if (g->qtail)
		g->qtail->next_queued = t;
	else
		g->qhead = t;
	g->qtail = t;
	if (task)
		*task = spool_future_retain(&t->p.fut);
	unlock(g);

	pump(g);
	return 0;
}

int spool_group_cancel(spool_group *g)
{
	if (!g)
		return SPOOL_EINVAL;
	lock(g);
	bool was = g->cancelled;
	g->cancelled = true;
	if (g->nfails == 0)
		g->by_user = true;
	unlock(g);
	if (!was)
		cancel_all(g);
	return 0;
}

static int outcome(const spool_group *g)
{
	if (g->nfails)
		return g->fails[0].err;
	return g->by_user ? SPOOL_ECANCELLED : 0;
}

/* The joiners' future (g->idle): a promise that knows its group, for the
 * deadlock check (top of file). */
struct idle {
	spool_future fut; /* must be first */
	spool_group *g;   /* alive while a joiner waits, the only time it is
			     read */
};

static bool idle_stuck(spool_future *f)
{
	spool_group *g = ((struct idle *)f)->g;
	lock(g);
	struct gtask *t = g->all;
	unlock(g);
	for (; t; t = t->next_all)
		if (spool__future_stuck(&t->p.fut))
			return true;
	return false;
}

/* A cancel that follows a joiner's await (every joiner owns the joiners'
 * future: SPOOL__OWNER_ANY) cancels the group; the future itself runs on
 * until the tasks have settled, and the join reports. Called only by
 * core's cancel, while a joiner waits (so g is alive). */
static int idle_cancel_running(spool_future *f)
{
	spool_group_cancel(((struct idle *)f)->g);
	return SPOOL_EBUSY;
}

static const struct spool__future_ops idle_ops = {
	.stuck = idle_stuck,
	.cancel_running = idle_cancel_running,
};

static spool_future *idle_new(spool_group *g)
{
	struct idle *i = spool__malloc(sizeof *i);
	if (!i)
		return NULL;
	spool__future_init(&i->fut, &idle_ops);
	i->fut.label = "task group"; /* for traces */
	i->fut.owner = SPOOL__OWNER_ANY;
	spool__future_start(&i->fut); /* so that a cancel only requests */
	i->g = g;
	return &i->fut;
}

int spool_group_join(spool_group *g, int64_t timeout_ns)
{
	if (!g || timeout_ns < 0)
		return SPOOL_EINVAL;
	int64_t deadline = spool__deadline(timeout_ns);
	bool cancelled_join = false;
	for (;;) {
		lock(g);
		if (g->unfinished == 0) {
			/* Failures win over the joiner's cancellation,
			 * which may be the group's own (abort_now). */
			int rc = cancelled_join && g->nfails == 0
					 ? SPOOL_ECANCELLED
					 : outcome(g);
			unlock(g);
			return rc;
		}
		if (!g->idle)
			g->idle = idle_new(g);
		spool_future *w = spool_future_retain(g->idle);
		unlock(g);
		if (!w)
			return SPOOL_ENOMEM;
		int rc = spool__wait_until(w, deadline);
		spool_future_release(w);
		if (rc == SPOOL_ECANCELLED && !cancelled_join) {
			/* The joining coroutine was cancelled: the group
			 * goes too, and the join waits for it to settle
			 * (asyncio.TaskGroup); a second cancellation of the
			 * joiner ends that wait early. */
			cancelled_join = true;
			deadline = INT64_MAX;
			spool_group_cancel(g);
			continue;
		}
		if (rc != 0)
			return rc;
	}
}

size_t spool_group_failures(const spool_group *g)
{
	if (!g)
		return 0;
	lock(g);
	size_t n = g->nfails;
	unlock(g);
	return n;
}

int spool_group_failure_detail(const spool_group *g, size_t i,
			       const char **message, void **payload)
{
	if (message)
		*message = NULL;
	if (payload)
		*payload = NULL;
	if (!g)
		return SPOOL_EINVAL;
	lock(g);
	int err = SPOOL_EINVAL;
	if (i < g->nfails) {
		struct spool__detail *d = g->fails[i].detail;
		err = g->fails[i].err;
		if (d && message && d->has_message)
			*message = d->message;
		if (d && payload)
			*payload = d->payload;
	}
	unlock(g);
	return err;
}

int spool_group_failure(const spool_group *g, size_t i, size_t *spawn_index)
{
	if (!g)
		return SPOOL_EINVAL;
	lock(g);
	int err = SPOOL_EINVAL;
	if (i < g->nfails) {
		err = g->fails[i].err;
		if (spawn_index)
			*spawn_index = g->fails[i].index;
	}
	unlock(g);
	return err;
}

void spool_group_destroy(spool_group *g)
{
	if (!g)
		return;
	lock(g);
	bool busy = g->unfinished > 0;
	unlock(g);
	if (busy)
		spool_group_cancel(g);
	group_unref(g);
}
