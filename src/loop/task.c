/* SPDX-License-Identifier: MIT */
/*
 * Loop tasks: a spool_task_fn run as a stackful coroutine whose record is
 * its future, and the waiting seam that lets every wait inside it suspend.
 *
 * Life of a task (status, loop thread only):
 *
 *   NEW --step--> RUNNING --await--> SUSPENDED --wake--> READY --step--+
 *                   ^  |                                               |
 *                   |  +--fn returns--> FINISHED                       |
 *                   +--------------------------------------------------+
 *
 * Submitting allocates the record (future + embedded ready-queue handle,
 * "step") and queues the step: directly on the loop's thread, through the
 * inbox from any other. The first step takes a stack and switches in; an
 * await registers what can end it (a done-callback on the awaited future, a
 * deadline in the timer heap, a descriptor in epoll), switches back to the
 * scheduler (or straight into the next coroutine of the iteration's batch,
 * spool__task_leave in loop_impl.h) and, once woken, removes what is left and
 * returns the wake's code. The step that sees the function return gives the
 * stack back and completes the future on the scheduler's stack.
 *
 * An await's done-callback holds a reference to the task, so a late
 * completion never touches freed memory. It wakes the task only if the task
 * still waits on that same future; otherwise it just lets go. If the
 * awaited future is freed without ever completing, core's drop hook lets go
 * instead (home.c).
 *
 * References: the caller's (returned by submit) and the loop's, which the
 * loop drops when the task is finished; callbacks and queued cancels hold
 * their own.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/misuse.h"
#include "loop_impl.h"
#include "sanitizer.h"

static void task_fini(spool_future *f)
{
	struct spool__loop_task *t = (struct spool__loop_task *)f;
	free(t->save);
	t->save = NULL;
	spool__anchor_release(t->anchor);
	t->anchor = NULL;
}

static int task_cancel_running(spool_future *f);

static const struct spool__future_ops task_ops = {
	.fini = task_fini,
	.cancel_running = task_cancel_running,
	.stuck = spool__task_stuck,
	.debug_idle = spool__task_debug_idle,
};

/* ---- the live list ---------------------------------------------------- */

void spool__task_adopt(spool_loop *loop, struct spool__loop_task *t)
{
	t->prev = NULL;
	t->next = loop->tasks;
	if (t->next)
		t->next->prev = t;
	loop->tasks = t;
	loop->ntasks++;
	spool__ready_push(loop, &t->step);
}

static void unlink_task(spool_loop *loop, struct spool__loop_task *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		loop->tasks = t->next;
	if (t->next)
		t->next->prev = t->prev;
	loop->ntasks--;
}

/* Ends a task whose future is already final (it never started). */
void spool__task_discard(spool_loop *loop, struct spool__loop_task *t)
{
	t->status = SPOOL__T_FINISHED;
	unlink_task(loop, t);
	spool_future_release(&t->fut);
}

static void task_complete(spool_loop *loop, struct spool__loop_task *t, int rc,
			  void *value)
{
	t->status = SPOOL__T_FINISHED;
	unlink_task(loop, t);
	/* ESTATE only if somebody completed the task's future by hand. */
	spool__future_complete(&t->fut, rc, value);
	spool_future_release(&t->fut);
}

void spool__tasks_cancel_all(spool_loop *loop)
{
	for (struct spool__loop_task *t = loop->tasks; t; t = t->next) {
		spool_future_cancel(&t->fut);
		/* A future completed by hand refuses the cancel (ESTATE);
		 * its coroutine must still be woken to finish. */
		spool__task_deliver_cancel(t);
	}
}

/* ---- submitting ------------------------------------------------------- */

/* Where a record's tail (spool_submit_copy) starts. */
#define TAIL_OFFSET                                                            \
	((sizeof(struct spool__loop_task) + _Alignof(max_align_t) - 1) &       \
	 ~(_Alignof(max_align_t) - 1))

static spool_future *submit(spool_executor *ex, spool_task_fn fn, void *arg,
			    const char *label, const void *src, size_t size,
			    void **copy);

spool_future *spool__loop_submit(spool_executor *ex, spool_task_fn fn,
				 void *arg, const char *label)
{
	return submit(ex, fn, arg, label, NULL, 0, NULL);
}

spool_future *spool__loop_submit_copy(spool_executor *ex, spool_task_fn fn,
				      const void *src, size_t size,
				      const char *label, void **copy)
{
	*copy = NULL;
	if (size > SIZE_MAX - TAIL_OFFSET)
		return NULL;
	return submit(ex, fn, NULL, label, src, size, copy);
}

/* size > 0: the record has a tail with a copy of src, which fn gets. */
static spool_future *submit(spool_executor *ex, spool_task_fn fn, void *arg,
			    const char *label, const void *src, size_t size,
			    void **copy)
{
	spool_loop *loop = (spool_loop *)ex; /* the executor is first */
	bool here = spool__loop_here() == loop;
	if (here && loop->closing)
		return spool__future_failed(SPOOL_ESHUTDOWN);
	/* Another thread enters through the gate (loop.c), which refuses it
	 * once destroy has begun, and aborts once the loop is destroyed. */
	int rc = here ? 0 : spool__gate_enter(loop, "spool_submit");
	if (rc != 0)
		return spool__future_failed(rc);
	struct spool__anchor *a = loop->anchor;
	struct spool__loop_task *t = spool__calloc(1, size ? TAIL_OFFSET + size
							   : sizeof *t);
	if (!t) {
		if (!here)
			spool__gate_leave(loop);
		return NULL;
	}
	spool__future_init(&t->fut, &task_ops);
	t->fut.label = label;
	spool_future_retain(&t->fut); /* one for the caller, one for us */
	spool__anchor_hold(a);
	t->anchor = a;
	t->loop = loop;
	t->fn = fn;
	t->arg = arg;
	if (size)
		*copy = t->arg = memcpy((char *)t + TAIL_OFFSET, src, size);
	t->status = SPOOL__T_NEW;
	t->step.ops = &spool__step_ops;
	t->step.loop = loop;
	t->step.refs = 1;
	t->step.arg = t;
	if (here) {
		spool__task_adopt(loop, t);
	} else {
		/* Cannot fail inside the gate: the inbox closes after destroy
		 * has waited for every call inside. */
		if (spool__inbox_push(a, &t->step) != 0)
			spool__bug("spool_submit",
				   "the inbox closed while a call was inside");
		spool__gate_leave(loop);
	}
	return &t->fut;
}

/* ---- the shared stack (SPOOL_LOOP_SHARED_STACK) ------------------------
 *
 * As libaco's shared stacks: every coroutine of the loop runs on one stack.
 * The coroutine that ran last stays on it when it suspends; only when
 * another coroutine must run is its used part, [stack pointer, top), copied
 * to its own heap buffer ("evicted"), and the other's saved bytes copied
 * back to the same addresses. The copies run on the scheduler's (thread's)
 * stack, never on the stack being copied. Every address inside a
 * coroutine's frames is therefore the same each time it runs, which is
 * why its own pointers to its locals keep working, and why nobody else may
 * use them while it is suspended (loop.h).
 *
 * The buffer is reserved before the coroutine suspends (an estimate from
 * its frame address plus a margin for the switch's frames), so that an
 * await can fail with SPOOL_ENOMEM where the caller sees it instead of
 * the scheduler failing later with nobody to report to.
 */

/* Bytes below the stack pointer of spool__shared_reserve that a switch may
 * still use: with the hand-written switch inlined into the function that
 * reserved (spool__task_suspend, spool__task_yield), the return address
 * and the six callee-saved registers spool__coro_swap pushes (56 bytes on
 * x86-64, fewer on aarch64), with room to spare for a spool__task_leave the
 * compiler chose not to inline. Unoptimized builds call every inline
 * function and keep larger frames; sanitizer and ucontext builds larger
 * still. Every byte of margin is kept by each suspended coroutine (a
 * sleeper's frames are about 200 bytes), so it is no larger than it needs
 * to be; shared_evict() still copes, allocating, if it is ever short. */
#if defined(SPOOL__ASAN) || defined(SPOOL__TSAN) ||                            \
	defined(SPOOL__CORO_UCONTEXT)
#define SHARED_MARGIN 2048
#elif defined(__OPTIMIZE__)
#define SHARED_MARGIN 128
#else
#define SHARED_MARGIN 512
#endif

/* The stack pointer of the caller (or, where it cannot be read, its frame
 * address, which is above it: SHARED_MARGIN is larger there). Inline, so
 * that it is the stack pointer of the function that reserves. */
static inline __attribute__((always_inline)) char *stack_pointer(void)
{
	char *sp;
#if defined(__x86_64__) && !defined(SPOOL__CORO_UCONTEXT)
	__asm__ volatile("mov %%rsp, %0" : "=r"(sp));
#elif defined(__aarch64__) && !defined(SPOOL__CORO_UCONTEXT)
	__asm__ volatile("mov %0, sp" : "=r"(sp));
#else
	sp = __builtin_frame_address(0);
#endif
	return sp;
}

static char *shared_top(spool_loop *loop)
{
	return (char *)loop->shared_stack->lo + loop->stacks.size;
}

/* Copies stack bytes. Under AddressSanitizer the source holds another
 * coroutine's frames, whose redzones are poisoned in the shadow memory, and
 * the destination is the shared stack whose shadow describes whichever
 * frames were there before: an instrumented copy (or the intercepted
 * memcpy) would report those as overflows. So the copy is not instrumented
 * (a volatile word loop the compiler cannot turn back into a memcpy call),
 * and after a restore the whole shared stack's shadow is cleared
 * (shared_unpoison): the restored frames lose their redzones until they
 * return, and frames made from then on poison their own as usual. */
#ifdef SPOOL__ASAN
__attribute__((no_sanitize_address)) static void
copy_stack(void *dst, const void *src, size_t n)
{
	volatile unsigned char *d = dst;
	const volatile unsigned char *s = src;
	for (size_t i = 0; i < n; i++)
		d[i] = s[i];
}

static void shared_unpoison(spool_loop *loop)
{
	__asan_unpoison_memory_region(loop->shared_stack->lo,
				      loop->stacks.size);
}
#else
static void copy_stack(void *dst, const void *src, size_t n)
{
	memcpy(dst, src, n);
}

static void shared_unpoison(spool_loop *loop)
{
	(void)loop;
}
#endif

/* In the coroutine, before it suspends: makes sure its buffer can hold
 * what eviction will copy. */
int spool__shared_reserve(spool_loop *loop, struct spool__loop_task *t)
{
	char *here = stack_pointer();
	size_t need = (size_t)(shared_top(loop) - here) + SHARED_MARGIN;
	if (need <= t->save_cap)
		return 0;
	unsigned char *b = spool__realloc(t->save, need);
	if (!b)
		return SPOOL_ENOMEM;
	t->save = b;
	t->save_cap = need;
	return 0;
}

/* In the scheduler: copies the owner's used stack to its buffer. */
static void shared_evict(spool_loop *loop)
{
	struct spool__loop_task *o = loop->shared_owner;
	if (!o)
		return;
	const char *low = spool__coro_low(&o->coro);
	size_t n = (size_t)(shared_top(loop) - low);
	if (n > o->save_cap) {
		/* The reserve's margin was too small: a bug, but still
		 * try to carry on. */
		unsigned char *b = spool__realloc(o->save, n);
		if (!b)
			spool__bug("shared stack",
				   "no memory to save a coroutine's stack "
				   "beyond its reserve");
		o->save = b;
		o->save_cap = n;
	}
	copy_stack(o->save, low, n);
	o->save_len = n;
	loop->shared_owner = NULL;
}

/* In the scheduler: puts t's frames on the shared stack. */
static void shared_enter(spool_loop *loop, struct spool__loop_task *t)
{
	if (loop->shared_owner == t)
		return;
	shared_evict(loop);
	if (t->save_len) {
		copy_stack(shared_top(loop) - t->save_len, t->save,
			   t->save_len);
		t->save_len = 0;
	}
	shared_unpoison(loop);
	loop->shared_owner = t;
}

void spool__shared_stack_free(spool_loop *loop)
{
	if (loop->shared_stack) {
		spool__stack_put(&loop->stacks, loop->shared_stack);
		loop->shared_stack = NULL;
	}
}

/* ---- running ---------------------------------------------------------- */

static void task_entry(void *p)
{
	struct spool__loop_task *t = p;
	spool__coro_started(&t->coro, &t->loop->sched);
	void *value = NULL;
	int rc = t->fn(t->arg, &value);
	spool__trace_run_end(&t->fut, rc);
	t->rc = rc;
	t->value = value;
	t->status = SPOOL__T_FINISHED;
	spool__coro_exit(&t->coro, &t->loop->sched);
}

/* Inlined into spool__task_step so that the return after the switch back
 * is one level fewer (see spool__coro_switch). */
static inline __attribute__((always_inline)) void
switch_in(spool_loop *loop, struct spool__loop_task *t)
{
	if (loop->shared)
		shared_enter(loop, t);
	spool_future *outer = spool__task_resume(loop, t, &loop->sched);
	/* Not necessarily t: coroutines may have handed the CPU on among
	 * themselves (spool__task_leave); the one that came back is
	 * current. */
	t = loop->current;
	spool__current_swap(outer);
	loop->current = NULL;
	if (t->status == SPOOL__T_FINISHED) {
		spool__coro_release(&t->coro);
		if (t->stack)
			spool__stack_put(&loop->stacks, t->stack);
		t->stack = NULL;
		if (loop->shared_owner == t)
			loop->shared_owner = NULL; /* its frames are dead */
		free(t->save);
		t->save = NULL;
		t->save_len = t->save_cap = 0;
		loop->nstarted--;
		task_complete(loop, t, t->rc, t->value);
	}
}

/* The step: a first start or a resumption. Inlined into both of its
 * entries, spool__task_step and the step's table (step_run), so that
 * spool__task_step keeps a single call, in run_ready (loop.c), where
 * link-time optimisation inlines it: the scheduler's switch then sits in
 * the batch loop itself, one return level fewer after each switch back
 * (see spool__coro_switch). */
static inline __attribute__((always_inline)) void
task_step(spool_loop *loop, struct spool__loop_task *t)
{
	if (t->status == SPOOL__T_READY) {
		spool__trace_resume(&t->fut, t->resume_rc);
		switch_in(loop, t);
		return;
	}
	if (t->status != SPOOL__T_NEW)
		return;
	if (loop->closing)
		spool_future_cancel(&t->fut); /* it never starts */
	if (spool__future_start(&t->fut) != 0) {
		spool__task_discard(loop, t); /* cancelled while queued */
		return;
	}
	void *lo;
	if (loop->shared) {
		if (!loop->shared_stack)
			loop->shared_stack = spool__stack_get(&loop->stacks);
		if (!loop->shared_stack) {
			task_complete(loop, t, SPOOL_ENOMEM, NULL);
			return;
		}
		/* The new context's first frame is written at the top of
		 * the shared stack: whoever is there must leave first. */
		shared_evict(loop);
		shared_unpoison(loop);
		lo = loop->shared_stack->lo;
	} else {
		t->stack = spool__stack_get(&loop->stacks);
		if (!t->stack) {
			task_complete(loop, t, SPOOL_ENOMEM, NULL);
			return;
		}
		lo = t->stack->lo;
	}
	if (spool__coro_make(&t->coro, lo, loop->stacks.size, task_entry, t) !=
	    0) {
		if (t->stack)
			spool__stack_put(&loop->stacks, t->stack);
		t->stack = NULL;
		task_complete(loop, t, SPOOL_ENOMEM, NULL);
		return;
	}
	if (loop->shared)
		loop->shared_owner = t; /* nothing to restore yet */
	loop->nstarted++;
	spool__trace_run_begin(&t->fut);
	switch_in(loop, t);
}

void spool__task_step(spool_loop *loop, struct spool__loop_task *t)
{
	task_step(loop, t);
}

/* ---- suspending and waking -------------------------------------------- */

int spool__task_suspend(spool_loop *loop, struct spool__loop_task *t)
{
	if (loop->shared && spool__shared_reserve(loop, t) != 0)
		return SPOOL_ENOMEM; /* the caller undoes its registrations */
	t->status = SPOOL__T_SUSPENDED;
	spool__task_leave(loop, t);
	return t->resume_rc;
}

void spool__task_wake(struct spool__loop_task *t, int rc)
{
	if (t->status != SPOOL__T_SUSPENDED)
		return;
	t->status = SPOOL__T_READY;
	t->resume_rc = rc;
	spool__ready_push(t->loop, &t->step);
}

/* ---- cancellation ----------------------------------------------------- */

void spool__task_deliver_cancel(struct spool__loop_task *t)
{
	switch (t->status) {
	case SPOOL__T_SUSPENDED:
		spool__task_wake(t, SPOOL_ECANCELLED);
		break;
	case SPOOL__T_READY:
		/* Woken but not yet resumed: the cancel wins over what the
		 * await was about to return, as asyncio's _must_cancel. */
		t->resume_rc = SPOOL_ECANCELLED;
		break;
	case SPOOL__T_RUNNING:
		t->cancel_pending = true; /* it cancelled itself */
		break;
	default:
		break; /* finished: too late; NEW: core already cancelled it */
	}
}

/* spool__future_ops.cancel_running: core has raised the request flag.
 *
 * From another thread (or the loop's own, between runs) the loop delivers
 * the cancel: the task's own cancel_h carries it through the inbox, so it
 * needs no memory and cannot fail for want of it. cancel_queued says that
 * cancel_h is on its way (the exchange admits one sender); it is cleared
 * when the loop runs cancel_h (spool__task_cancel_arrived), before the
 * delivery, so a cancel made after that is sent again. A cancel made while
 * one is on its way joins it, delivered as one: both would have ended the
 * same await anyway, since the loop runs them before the coroutine
 * resumes (asyncio likewise throws one CancelledError for two cancel()
 * calls before the task runs). cancel_h holds a reference to the task. The
 * exchange and the clearing store are seq_cst: the loop is done with
 * cancel_h (it has unlinked it) before a new sender writes it. */
static int task_cancel_running(spool_future *f)
{
	struct spool__loop_task *t = (struct spool__loop_task *)f;
	if (spool__on_loop(t->anchor)) {
		spool__task_deliver_cancel(t);
		return 0;
	}
	if (atomic_exchange(&t->cancel_queued, true))
		return 0;
	struct spool_handle *h = &t->cancel_h;
	h->ops = &spool__cancel_ops;
	h->refs = 1;
	h->arg = t;
	spool_future_retain(f);
	if (spool__inbox_push(t->anchor, h) != 0) {
		/* The inbox closes only once every task of the loop has
		 * finished, so f is final now: the answer is that of a
		 * cancel of a final future. */
		atomic_store(&t->cancel_queued, false);
		spool_future_release(f);
		return spool_future_state(f) == SPOOL_CANCELLED ? 0
								: SPOOL_ESTATE;
	}
	return 0;
}

void spool__task_cancel_arrived(struct spool__loop_task *t, bool deliver)
{
	atomic_store(&t->cancel_queued, false);
	if (deliver)
		spool__task_deliver_cancel(t);
	spool_future_release(&t->fut);
}

/* ---- the waiting seam (core/wait.h) ----------------------------------- */

void spool__task_await_done(struct spool__loop_task *t, spool_future *f)
{
	if (spool__on_loop(t->anchor) && t->status == SPOOL__T_SUSPENDED &&
	    t->wait_f == f)
		spool__task_wake(t, 0);
	spool_future_release(&t->fut); /* the callback's reference */
}

static int loop_wait(void *ctx, spool_future *f, int64_t deadline)
{
	spool_loop *loop = ((struct spool__anchor *)ctx)->loop;
	struct spool__loop_task *t = loop->current;
	if (!t)
		return spool__debug_loop_wait(f); /* SPOOL_EDEADLK: only this
						    thread could end it */
	/* Other coroutines and callbacks may run before this one resumes:
	 * the wait's end needs the resumption's stamp, not an older one. */
	spool__trace_stale();
	int rc = spool__task_await_begin(loop, t);
	if (rc != 0)
		return rc;
	/* What wakes t when f completes, on this thread or another
	 * (home.c); it holds a reference to t. */
	rc = spool__home_await(t, f);
	if (rc != 0)
		return rc;
	if (spool_future_done(f))
		return 0; /* completed meanwhile; the callback lets go */
	if (deadline != INT64_MAX) {
		t->timer = spool__timer_wake(loop, t, deadline,
					     SPOOL_ETIMEDOUT);
		if (!t->timer)
			return SPOOL_ENOMEM;
	}
	t->wait_f = f;
	spool__trace_suspend(&t->fut, SPOOL__TRACE_ON_FUTURE, f->id);
	rc = spool__task_suspend(loop, t);
	t->wait_f = NULL;
	if (t->timer) {
		spool__timer_disarm(loop, t->timer);
		t->timer = NULL;
	}
	if (rc == SPOOL_ETIMEDOUT && spool_future_done(f))
		rc = 0; /* both happened in one iteration: report success */
	return rc;
}

const struct spool__wait_ops spool__loop_wait_ops = {
	.wait = loop_wait,
	.post = spool__home_post,
	.hold = spool__home_hold,
	.drop = spool__home_drop,
};

/* ---- the handles of a task -------------------------------------------- */

/* Not called by run_ready, which calls spool__task_step directly. */
static void step_run(spool_loop *loop, struct spool_handle *h)
{
	task_step(loop, h->arg);
}

/* At destroy: submitted from another thread after destroy began. */
static void step_finish(spool_loop *loop, struct spool_handle *h)
{
	(void)loop;
	struct spool__loop_task *t = h->arg;
	spool__future_complete(&t->fut, SPOOL_ESHUTDOWN, NULL);
	spool_future_release(&t->fut);
}

/* Arriving through the inbox: a task submitted from another thread. */
static void step_arrive(spool_loop *loop, struct spool_handle *h)
{
	spool__task_adopt(loop, h->arg);
}

const struct spool__handle_ops spool__step_ops = {
	.run = step_run,
	.finish = step_finish,
	.arrive = step_arrive,
	.user = SPOOL__USER_STEP,
};

static void cancel_run(spool_loop *loop, struct spool_handle *h)
{
	(void)loop;
	spool__task_cancel_arrived(h->arg, true);
}

static void cancel_finish(spool_loop *loop, struct spool_handle *h)
{
	(void)loop;
	spool__task_cancel_arrived(h->arg, false);
}

const struct spool__handle_ops spool__cancel_ops = {
	.run = cancel_run,
	.finish = cancel_finish,
};
