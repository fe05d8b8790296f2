/* SPDX-License-Identifier: MIT */
/*
 * The inside of the event loop (never installed), laid out so that it can
 * be read beside CPython's asyncio/base_events.py:
 *
 *   asyncio                         spool
 *   _ready (a deque of Handles)     ready_head/ready_tail (intrusive FIFO)
 *   _scheduled (heapq of Timer-     timers (binary min-heap on (when, seq)),
 *     Handles), lazy cancellation     lazy cancellation, rebuilt when over
 *                                     half of it is cancelled
 *   _selector (epoll)               epfd, the per-descriptor table in io.c
 *   _csock/_ssock self-pipe         the anchor's eventfd, written at most
 *                                     once per drain (as uv_async_send)
 *   _run_once()                     run_once() in loop.c
 *   Task.__step / __wakeup          task_step() / spool__task_wake() (task.c)
 *
 * Threads: everything here belongs to the loop's thread except the anchor's
 * inbox, which any thread may push to (inbox.c), and the loop's gate, which
 * any thread may read (loop.c).
 */
#ifndef SPOOL_LOOP_IMPL_H
#define SPOOL_LOOP_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/debug.h"
#include "core/executor_impl.h"
#include "core/future_impl.h"
#include "core/lifo.h"
#include "core/misuse.h"
#include "core/wait.h"
#include "coro.h"
#include "handle.h"
#include "home.h"
#include "spool/loop.h"
#include "stack.h"
#include "trace/trace.h"

/* ---- handles: every unit of work the loop runs (handle.h) ------------ */

/* The kinds of handle the loop makes or is sent: call_soon and timers
 * (loop.c), a wake timer (timer.c), a task's step and its cancel from
 * another thread (task.c); home.c has its own. */
extern const struct spool__handle_ops spool__callback_ops;
extern const struct spool__handle_ops spool__wake_ops;
extern const struct spool__handle_ops spool__step_ops;
extern const struct spool__handle_ops spool__cancel_ops;

/* ---- the anchor: what outlives the loop ------------------------------- */

/* The part of a loop that other threads and done-callback nodes may still
 * reach after spool_loop_destroy(): the inbox and its wake-up descriptor.
 * It is the loop's wait-context ctx; every callback node that may post to
 * it holds a reference (core's hold/drop hooks), every task holds one, the
 * loop holds one, and the last one frees it. */
struct spool__anchor {
	_Atomic uint32_t refs;
	/* Handles pushed by any thread (a closable stack, core/lifo.h),
	 * closed once the loop is gone. */
	struct spool__lifo inbox;
	/* 1 while a wake-up is written and not yet consumed (coalescing). */
	atomic_int wake_pending;
	int efd;          /* eventfd, closed with the anchor */
	spool_loop *loop; /* read only on the loop's thread */
	/* Spare handles for sending callbacks home (home.c alone). */
	struct spool__home home;
	/* The token (spool__thread_token) of the thread the loop is
	 * stranded on: set when that thread leaves the loop with coroutines
	 * suspended, cleared when it runs the loop again; 0 otherwise
	 * (deadlock.c). */
	_Atomic uintptr_t stranded_on;
};

/* ---- tasks: coroutines whose record is their future ------------------- */

/* A coroutine's wait on a descriptor (io.c), linked in the descriptor's
 * list. It lives in the task, not on the coroutine's stack, because the
 * loop walks these lists while the coroutine is suspended, when a shared
 * stack holds another coroutine's frames. */
struct spool__io_waiter {
	struct spool__io_waiter *next, *prev;
	struct spool__loop_task *task;
	uint32_t events; /* EPOLLIN or EPOLLOUT */
	int fd;
	bool linked;
};

enum spool__task_status {
	SPOOL__T_NEW,       /* queued to start, no stack yet */
	SPOOL__T_READY,     /* queued to resume */
	SPOOL__T_RUNNING,   /* on the CPU now */
	SPOOL__T_SUSPENDED, /* at an await, waiting to be woken */
	SPOOL__T_FINISHED,  /* its function returned (or it never ran) */
};

struct spool__loop_task {
	spool_future fut; /* first: a task pointer is its future */
	struct spool_handle step;
	spool_loop *loop;
	struct spool__anchor *anchor; /* held */
	spool_task_fn fn;
	void *arg;
	struct spool__loop_task *prev, *next; /* the loop's live tasks */
	struct spool__coro coro;
	struct spool__stack *stack; /* NULL on a shared-stack loop */
	/* Shared stack: the used part of the shared stack while another
	 * coroutine occupies it (save_len bytes, ending at the stack's top),
	 * in a buffer of save_cap bytes. */
	unsigned char *save;
	size_t save_len, save_cap;
	uint8_t status;
	bool cancel_pending;  /* cancelled while running: next await ends */
	int resume_rc;        /* what the pending await returns */
	spool_future *wait_f; /* the future an await waits on */
	struct spool_handle *timer; /* the await's deadline, if any */
	/* The wake-up handle of an await (home.c alone). */
	struct spool__await_slot await;
	/* A cancel from another thread on its way to the loop (task.c):
	 * cancel_h is in the inbox or the ready queue while cancel_queued
	 * is set. */
	struct spool_handle cancel_h;
	atomic_bool cancel_queued;
	struct spool__io_waiter io; /* the descriptor wait, if any */
	int rc;                     /* the outcome, once FINISHED */
	void *value;
};

/* ---- the loop --------------------------------------------------------- */

/* A timer in the heap: its handle and a copy of its deadline (timer.c). */
struct spool__timer_entry {
	int64_t when;
	struct spool_handle *h;
};

struct spool__timer_heap {
	struct spool__timer_entry *v;
	size_t n, cap;
};

struct spool__fd_watch; /* io.c */

enum { SPOOL__MAX_EVENTS = 256 };

/* The gate word (loop.c): flags, and in the bits above them the number of
 * calls from other threads inside the loop now. */
enum {
	SPOOL__GATE_RUNNING = 1u, /* a thread runs (or destroys) the loop */
	SPOOL__GATE_CLOSED = 2u,  /* destroy has begun: refuse other threads */
	SPOOL__GATE_DEAD = 4u,    /* destroyed: the memory awaits reuse */
	SPOOL__GATE_ONE = 8u,     /* one call from another thread inside */
};

struct spool_loop {
	spool_executor executor; /* first: spool_loop_executor() */
	/* The header: a loop's memory is never given back to malloc, only
	 * reused for a later loop (loop.c), so any thread may read these
	 * at any time, even after destroy. gate is the word above; gen
	 * counts the loops this memory has been (a handle made by an
	 * earlier one is no longer this loop's). */
	_Atomic uint32_t gate;
	_Atomic uint32_t gen;
	struct spool_loop *pool_next; /* among destroyed loops (loop.c) */

	/* The rest is reset when the memory is reused. */
	struct spool__anchor *anchor;
	int epfd;
	int tfd;           /* timerfd in the fallback mode, else -1 */
	int64_t tfd_armed; /* deadline the timerfd is armed for, or 0 */
	bool use_pwait2;

	struct spool_handle *ready_head, **ready_tail;
	/* The part of this iteration's batch (step 5 of run_once) not yet
	 * run, NULL outside it; a coroutine that suspends may hand the CPU
	 * straight to the next one in it (spool__task_leave). batch_ran
	 * counts the batch's handles run so far, for traces. */
	struct spool_handle *batch;
	int batch_ran;
	struct spool__timer_heap timers;
	size_t timers_cancelled;
	uint64_t timer_seq;
	/* Spare CALLBACK and WAKE handles, oldest first (loop.c). */
	struct spool_handle *spare_head, *spare_tail;
	size_t nspare;

	bool stopping;
	bool closing;        /* destroy has begun: tasks are being finished */
	bool closed;         /* destroy's last phase: nothing new is accepted */
	uint64_t iterations; /* turns of the loop, for traces */
	pthread_t owner;     /* thread that last ran the loop */
	spool_future *until; /* run_until_complete's future */
	struct spool__wait_context saved_ctx;
	spool_executor *saved_exec; /* spool_current_executor's, restored */

	struct spool__coro sched; /* the scheduler's context */
	struct spool__loop_task
		*current;               /* the coroutine on the CPU, or NULL */
	struct spool__loop_task *tasks; /* live tasks (queued, started) */
	size_t ntasks;                  /* tasks alive on this loop */
	size_t nstarted;                /* of which have a stack */
	struct spool__stack_pool stacks;
	/* SPOOL_LOOP_SHARED_STACK (task.c): the one stack every coroutine
	 * runs on (taken at the first start), and the task whose frames it
	 * holds now, if any (saved only when another needs the stack). */
	bool shared;
	struct spool__stack *shared_stack;
	struct spool__loop_task *shared_owner;

	struct spool__fd_watch *fds; /* indexed by descriptor */
	size_t nfds;
	/* Descriptors whose kept registration a wait relies on, to verify
	 * (io.c), and the turn when the oldest was queued. */
	int *io_check;
	size_t io_ncheck, io_capcheck;
	uint64_t io_check_since;
};

/* The wait-context ops the loop installs on its thread (task.c). */
extern const struct spool__wait_ops spool__loop_wait_ops;

/* The loop running on the calling thread, or NULL. */
static inline spool_loop *spool__loop_here(void)
{
	struct spool__wait_context c = spool__wait_context_get();
	return c.ops == &spool__loop_wait_ops
		       ? ((struct spool__anchor *)c.ctx)->loop
		       : NULL;
}

/* True on the thread running this loop (inside spool_loop_run). */
static inline bool spool__on_loop(const struct spool__anchor *a)
{
	return spool__wait_context_get().ctx == a;
}

/* loop.c */
static inline void spool__ready_push(spool_loop *loop, struct spool_handle *h)
{
	h->next = NULL;
	*loop->ready_tail = h;
	loop->ready_tail = &h->next;
}
/* A handle of this loop, from its spares or the allocator; loop thread
 * (or the one thread using a loop that is not running). */
struct spool_handle *spool__handle_new(spool_loop *loop,
				       const struct spool__handle_ops *ops);
/* Drops a reference; the last one gives a recycled handle (CALLBACK,
 * WAKE) of a live loop to its spares (the loop's thread, or the single
 * thread using it), any other handle to free(). */
void spool__handle_unref(struct spool_handle *h);

/* debug.c: the loop's debug-mode reports (spool/debug.h). */
/* A call to fn, one of the loop's thread-only calls, from a thread not
 * running it: refused (the loop runs elsewhere), or let through and
 * reported if suspicious. */
void spool__debug_foreign_call(const spool_loop *loop, const char *fn,
			       bool refused);
/* A wait on f on the loop's thread outside a coroutine: reports it in
 * debug mode, and returns SPOOL_EDEADLK, the wait's answer. */
int spool__debug_loop_wait(spool_future *f);
/* The ops->debug_idle of a loop task. */
const char *spool__task_debug_idle(spool_future *f);
/* What a handle about to run is, for a report once it has run (which
 * may free it): timed when it runs user code. */
struct spool__slow_what {
	uint8_t kind;
	bool timed;
	void (*fn)(void);
	void *arg;
	uint64_t id;
	const char *label;
};
struct spool__slow_what spool__debug_slow_what(const struct spool_handle *h);
void spool__debug_slow(const struct spool__slow_what *w, int64_t ns,
		       int64_t limit);

/* The calling thread may use the loop's thread-only calls: it runs the
 * loop, or nobody does. Aborts, naming fn, for a destroyed loop. In
 * debug mode, a call let through from a thread that does not run the
 * loop is reported when it looks like a mistake (debug.c). */
static inline bool spool__loop_mine(const spool_loop *loop, const char *fn)
{
	if (spool__loop_here() == loop)
		return true;
	/* Relaxed: the answer itself is all that is read. */
	uint32_t g = atomic_load_explicit(&loop->gate, memory_order_relaxed);
	if (g & SPOOL__GATE_DEAD)
		spool__misuse(fn, "the loop was destroyed");
	bool mine = !(g & SPOOL__GATE_RUNNING);
	if (__builtin_expect(mine && spool__debug_on(), 0))
		spool__debug_foreign_call(loop, fn, false);
	return mine;
}
/* A call from a thread other than the running loop's enters the loop
 * (0), or is refused once destroy has begun (SPOOL_ESHUTDOWN); aborts,
 * naming fn, once the loop is destroyed. Destroy waits for every call
 * that entered to leave before it frees anything (loop.c). */
int spool__gate_enter(spool_loop *loop, const char *fn);
void spool__gate_leave(spool_loop *loop);

/* timer.c */
int spool__timer_push(spool_loop *loop, struct spool_handle *h);
void spool__timer_cancelled(spool_loop *loop);
void spool__timers_cleanup(spool_loop *loop);
void spool__timers_expire(spool_loop *loop, int64_t now);
void spool__timers_free(spool_loop *loop);
/* An internal deadline that wakes t with rc; NULL when out of memory. */
struct spool_handle *spool__timer_wake(spool_loop *loop,
				       struct spool__loop_task *t, int64_t when,
				       int rc);
/* Cancels a wake timer (lazily: it stays in the heap until popped). */
void spool__timer_disarm(spool_loop *loop, struct spool_handle *h);

/* inbox.c */
int spool__anchor_new(struct spool__anchor **out, spool_loop *loop);
void spool__anchor_hold(struct spool__anchor *a);
void spool__anchor_release(struct spool__anchor *a);
/* Pushes h from any thread and wakes the loop; nonzero once closed. */
int spool__inbox_push(struct spool__anchor *a, struct spool_handle *h);
/* Loop thread: consumes the wake-up and moves the inbox, oldest first, to
 * the ready queue. */
void spool__inbox_drain(spool_loop *loop);
/* Loop thread, at destroy: closes the inbox and returns what was left,
 * oldest first. */
struct spool_handle *spool__inbox_close(struct spool__anchor *a);

/* deadlock.c: the loop's part of the deadlock check (core/wait.h). When
 * the loop's thread leaves it, and when a thread starts running it. */
void spool__loop_strand(spool_loop *loop);
void spool__loop_unstrand(spool_loop *loop);
/* The ops->stuck of a loop task. */
bool spool__task_stuck(spool_future *f);

/* task.c */
void spool__task_step(spool_loop *loop, struct spool__loop_task *t);
void spool__task_wake(struct spool__loop_task *t, int rc);
void spool__task_deliver_cancel(struct spool__loop_task *t);
/* The loop runs (deliver) or, at destroy, drops a cancel that came from
 * another thread on t->cancel_h. */
void spool__task_cancel_arrived(struct spool__loop_task *t, bool deliver);
void spool__task_adopt(spool_loop *loop, struct spool__loop_task *t);
void spool__task_discard(spool_loop *loop, struct spool__loop_task *t);
void spool__tasks_cancel_all(spool_loop *loop);
/* At destroy: gives the shared stack back to the pool. */
void spool__shared_stack_free(spool_loop *loop);
/* Inside a coroutine: suspends until woken; returns the wake's rc. */
int spool__task_suspend(spool_loop *loop, struct spool__loop_task *t);
/* Inside a coroutine on a shared-stack loop, before suspending: reserves
 * the buffer its stack will be saved in; 0 or SPOOL_ENOMEM. */
int spool__shared_reserve(spool_loop *loop, struct spool__loop_task *t);
/* An await's future f completed (home.c calls it for the callback that
 * spool__home_await registered): wakes t if it still waits on f, and
 * drops the callback's reference to t. On the loop's thread, or on the
 * completing thread once the loop is gone (it then wakes nothing). */
void spool__task_await_done(struct spool__loop_task *t, spool_future *f);
spool_future *spool__loop_submit(spool_executor *ex, spool_task_fn fn,
				 void *arg, const char *label);
/* The executor's submit_copy (core/executor_impl.h): the copy in a tail of
 * the task's record, any size. task.c. */
spool_future *spool__loop_submit_copy(spool_executor *ex, spool_task_fn fn,
				      const void *src, size_t size,
				      const char *label, void **copy);

/* io.c */
void spool__io_event(spool_loop *loop, int fd, uint32_t revents);
void spool__io_free(spool_loop *loop);
/* Re-registers every queued descriptor that has waiters (io.c). */
void spool__io_verify(spool_loop *loop);
/* Turns a busy loop may go before verifying queued descriptors. */
enum { SPOOL__IO_VERIFY_TURNS = 64 };

/* Before suspending: an await that must end at once (a cancel already
 * delivered, or the loop closing) returns SPOOL_ECANCELLED here. */
static inline int spool__task_await_begin(spool_loop *loop,
					  struct spool__loop_task *t)
{
	if (loop->closing)
		return SPOOL_ECANCELLED;
	if (t->cancel_pending) {
		t->cancel_pending = false;
		return SPOOL_ECANCELLED;
	}
	return 0;
}

/* The one way a coroutine is switched into, whoever switches: the
 * scheduler (switch_in in task.c, for a first start or a resumption) and a
 * coroutine that suspends and hands the CPU straight on (spool__task_leave
 * below). It makes t RUNNING and loop->current, makes t's future core's
 * current one (returning the one before, which the scheduler puts back
 * when it gets the CPU again; a handing coroutine drops it, as the
 * scheduler still holds its own), and switches from `from` into t. It
 * returns when something switches back to `from`. The caller records the
 * trace event (a start or a resumption) and, on a shared-stack loop, has
 * put t's frames in place (only the scheduler may copy them). Inline in
 * both callers: in a plain build the switch is one call (coro.h). */
static inline __attribute__((always_inline)) spool_future *
spool__task_resume(spool_loop *loop, struct spool__loop_task *t,
		   struct spool__coro *from)
{
	t->status = SPOOL__T_RUNNING;
	loop->current = t;
	spool_future *outer = spool__current_swap(&t->fut);
	spool__coro_switch(from, &t->coro);
	return outer;
}

/* Inside coroutine t, which has just queued itself or registered what will
 * wake it: gives the CPU to whatever runs next in this iteration, and
 * returns once t is resumed.
 *
 * When the next handle of the batch resumes a suspended coroutine, t
 * switches straight to it (spool__task_resume, as the scheduler's step
 * would, after the same trace event). Otherwise (the batch is used up, the
 * next handle is a plain callback or a task's first start, or the loop
 * shares one stack, whose frames must be copied on the scheduler's stack)
 * t switches to the scheduler, which runs the rest of the batch. Either
 * way handles leave the batch in its order and only handles of the batch
 * run, so the iteration rule of run_once holds exactly as if every handle
 * were run by the scheduler; and whichever coroutine switches back to the
 * scheduler finds itself in loop->current (switch_in in task.c reads it
 * there, not from its own frame). */
static inline void spool__task_leave(spool_loop *loop,
				     struct spool__loop_task *t)
{
	struct spool_handle *h = loop->batch;
	if (!loop->shared && h && h->ops == &spool__step_ops) {
		struct spool__loop_task *n = h->arg;
		if (n->status == SPOOL__T_READY) {
			loop->batch = h->next;
			loop->batch_ran++;
			spool__trace_resume(&n->fut, n->resume_rc);
			(void)spool__task_resume(loop, n, &t->coro);
			return;
		}
	}
	spool__coro_switch(&t->coro, &loop->sched);
}

/* Inside a coroutine: lets every other ready callback run once. Inline:
 * the hot path of spool_sleep(0). */
static inline int spool__task_yield(spool_loop *loop,
				    struct spool__loop_task *t)
{
	if (loop->shared && spool__shared_reserve(loop, t) != 0)
		return SPOOL_ENOMEM;
	t->status = SPOOL__T_READY;
	t->resume_rc = 0;
	spool__ready_push(loop, &t->step);
	spool__trace_suspend(&t->fut, SPOOL__TRACE_ON_YIELD, 0);
	spool__task_leave(loop, t);
	return t->resume_rc;
}

#endif /* SPOOL_LOOP_IMPL_H */
