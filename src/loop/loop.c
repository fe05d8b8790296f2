/* SPDX-License-Identifier: MIT */
/*
 * The event loop: creation, the iteration, running, stopping, destruction,
 * and the callbacks users schedule on it.
 *
 * One iteration, run_once(), is asyncio's BaseEventLoop._run_once():
 *
 *   1. drop cancelled timers from the top of the heap (and rebuild the
 *      heap when most of it is cancelled);
 *   2. choose how long to wait: not at all if callbacks are ready or the
 *      loop is stopping, until the first timer if there is one, else for
 *      ever;
 *   3. wait in epoll (epoll_pwait2 with a nanosecond timeout, or a timerfd
 *      armed at the first deadline) and handle what it reports: the eventfd
 *      moves the inbox of other threads to the ready queue, a descriptor
 *      wakes the coroutines waiting on it (descriptor waits that rely on
 *      a kept registration are verified first when the loop would block,
 *      see io.c);
 *   4. move every timer that is due to the ready queue (a coroutine's
 *      deadline wakes it directly);
 *   5. run the callbacks that are in the ready queue now, and only those:
 *      what they schedule waits for the next iteration.
 *
 * Cost per iteration: one epoll system call (none of the work of step 5
 * needs one), plus O(log n) per timer and O(1) per callback.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/misuse.h"
#include "core/nest.h"
#include "loop_impl.h"
#include "sanitizer.h"

#if defined(SPOOL__ASAN) || defined(SPOOL__TSAN)
#define DEFAULT_STACK_SIZE ((size_t)256 * 1024)
#else
#define DEFAULT_STACK_SIZE ((size_t)64 * 1024)
#endif
#define MIN_STACK_SIZE ((size_t)16 * 1024)
#define MAX_STACK_SIZE ((size_t)1 << 30)
#define DEFAULT_STACK_CACHE 1024

/* epoll data for the loop's own descriptors; others carry their number. */
#define TAG_EVENTFD UINT64_MAX
#define TAG_TIMERFD (UINT64_MAX - 1)

static const struct spool__executor_ops loop_executor_ops = {
	.name = "loop",
	.submit = spool__loop_submit,
};

/* ---- handles and the ready queue -------------------------------------- */

struct spool_handle *spool__handle_new(spool_loop *loop, int kind)
{
	struct spool_handle *h = spool__calloc(1, sizeof *h);
	if (h) {
		h->loop = loop;
		h->kind = (uint8_t)kind;
		h->refs = 1;
	}
	return h;
}

void spool__handle_unref(struct spool_handle *h)
{
	if (--h->refs == 0)
		free(h);
}

/* Inlined into run_ready: one return level fewer after a coroutine
 * switches back (see spool__coro_switch). */
static inline __attribute__((always_inline)) void
run_handle(spool_loop *loop, struct spool_handle *h)
{
	switch (h->kind) {
	case SPOOL__H_CALLBACK:
		if (!h->cancelled) {
			h->done = true;
			h->fn.cb(loop, h->arg);
		}
		spool__handle_unref(h);
		break;
	case SPOOL__H_STEP:
		spool__task_step(loop, h->arg);
		break;
	case SPOOL__H_POSTED:
		h->fn.post_fn(h->f, h->arg);
		spool_future_release(h->f);
		spool__handle_unref(h);
		break;
	case SPOOL__H_AWAIT:
		spool__await_run(h);
		break;
	case SPOOL__H_CANCEL:
		spool__task_deliver_cancel(h->arg);
		spool_future_release(h->arg);
		spool__handle_unref(h);
		break;
	default:
		spool__bug("loop ready queue", "a handle of unknown kind");
	}
}

/* Step 5: the ready queue as it is now; later additions wait. Returns how
 * many handles ran. */
static int run_ready(spool_loop *loop)
{
	struct spool_handle *h;
	loop->batch = loop->ready_head;
	loop->batch_ran = 0;
	loop->ready_head = NULL;
	loop->ready_tail = &loop->ready_head;
	/* The batch lives in the loop, not here: a suspending coroutine may
	 * take its next handles itself (spool__task_leave). Each handle is
	 * unlinked before it runs, which may free it (a task's step). */
	while ((h = loop->batch) != NULL) {
		loop->batch = h->next;
		loop->batch_ran++;
		run_handle(loop, h);
	}
	return loop->batch_ran;
}

/* ---- waiting for events ----------------------------------------------- */

/* Fallback timing: arms the timerfd at deadline (absolute ns; -1 none). */
static void arm_timerfd(spool_loop *loop, int64_t deadline)
{
	if (deadline == loop->tfd_armed)
		return;
	struct itimerspec its = {{0, 0}, {0, 0}};
	if (deadline >= 0) {
		/* 0 would disarm; a deadline at time 0 is long past. */
		int64_t d = deadline > 0 ? deadline : 1;
		its.it_value.tv_sec = d / SPOOL_NS_PER_S;
		its.it_value.tv_nsec = d % SPOOL_NS_PER_S;
	}
	timerfd_settime(loop->tfd, TFD_TIMER_ABSTIME, &its, NULL);
	loop->tfd_armed = deadline;
}

/* Step 3. deadline: absolute ns of the first timer, -1 for none; poll only
 * when `now` is set. */
static int poll_events(spool_loop *loop, bool now, int64_t deadline)
{
	struct epoll_event ev[SPOOL__MAX_EVENTS];
	int n;
	if (loop->use_pwait2) {
		struct timespec ts, *tsp = NULL;
		if (now || deadline >= 0) {
			int64_t rel = now ? 0 : deadline - spool__now_ns();
			if (rel < 0)
				rel = 0;
			ts.tv_sec = rel / SPOOL_NS_PER_S;
			ts.tv_nsec = rel % SPOOL_NS_PER_S;
			tsp = &ts;
		}
		n = epoll_pwait2(loop->epfd, ev, SPOOL__MAX_EVENTS, tsp, NULL);
	} else {
		if (!now)
			arm_timerfd(loop, deadline);
		n = epoll_wait(loop->epfd, ev, SPOOL__MAX_EVENTS, now ? 0 : -1);
	}
	if (n < 0)
		return 0; /* EINTR: the next iteration waits again */
	for (int i = 0; i < n; i++) {
		uint64_t tag = ev[i].data.u64;
		if (tag == TAG_EVENTFD) {
			spool__inbox_drain(loop);
		} else if (tag == TAG_TIMERFD) {
			uint64_t expirations;
			if (read(loop->tfd, &expirations, sizeof expirations) >
			    0)
				loop->tfd_armed = -1;
		} else {
			spool__io_event(loop, (int)tag, ev[i].events);
		}
	}
	return n;
}

static void run_once(spool_loop *loop)
{
	/* Work queued to keep a stack flat (core/nest.h) by a coroutine now
	 * suspended inside a callback: done before the loop may block. */
	spool__nest_flush();
	spool__timers_cleanup(loop);
	bool now = loop->ready_head || loop->stopping || loop->closing;
	int64_t deadline = loop->timers.n ? loop->timers.v[0]->when : -1;
	/* Descriptor waits that rely on a kept registration are verified
	 * before the loop would block, and in a busy loop every
	 * SPOOL__IO_VERIFY_TURNS turns (io.c explains why). A non-blocking
	 * poll first: if it finds events there is no need to block yet. */
	bool polled = false;
	if (loop->io_ncheck) {
		bool overdue = loop->iterations - loop->io_check_since >=
			       SPOOL__IO_VERIFY_TURNS;
		if (!overdue && !now && poll_events(loop, true, -1) > 0)
			polled = true;
		else if (overdue || !now)
			spool__io_verify(loop);
	}
	if (!polled)
		poll_events(loop, now, deadline);
	/* A turn, for traces, starts after the wait in epoll: idle time is
	 * not part of it. */
	uint64_t turn = ++loop->iterations;
	spool__trace_iter_begin(turn);
	spool__timers_expire(loop, spool__now_ns());
	spool__trace_iter_end(turn, run_ready(loop));
	spool__stack_trim(&loop->stacks);
}

/* ---- creating --------------------------------------------------------- */

static int watch_own(spool_loop *loop, int fd, uint64_t tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};
	return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* epoll_pwait2 is Linux 5.11; seccomp profiles may refuse it too. */
static bool have_pwait2(int epfd)
{
	struct epoll_event ev;
	struct timespec zero = {0, 0};
	return epoll_pwait2(epfd, &ev, 1, &zero, NULL) >= 0 ||
	       (errno != ENOSYS && errno != EPERM);
}

static void free_loop(spool_loop *loop)
{
	if (loop->tfd >= 0)
		close(loop->tfd);
	if (loop->epfd >= 0)
		close(loop->epfd);
	if (loop->anchor) {
		loop->anchor->loop = NULL;
		spool__anchor_release(loop->anchor);
	}
	free(loop);
}

int spool_loop_create(spool_loop **out, const spool_loop_options *opts)
{
	spool_loop_options o = SPOOL_LOOP_OPTIONS_INIT;
	if (!out)
		return SPOOL_EINVAL;
	*out = NULL;
	if (opts)
		o = *opts;
	if (o.stack_size == 0)
		o.stack_size = DEFAULT_STACK_SIZE;
	if (o.stack_cache == 0)
		o.stack_cache = DEFAULT_STACK_CACHE;
	if (o.stack_size < MIN_STACK_SIZE || o.stack_size > MAX_STACK_SIZE ||
	    (o.flags &
	     ~(unsigned)(SPOOL_LOOP_TIMERFD | SPOOL_LOOP_SHARED_STACK)))
		return SPOOL_EINVAL;

	spool_loop *loop = spool__calloc(1, sizeof *loop);
	if (!loop)
		return SPOOL_ENOMEM;
	loop->executor.ops = &loop_executor_ops;
	loop->epfd = loop->tfd = -1;
	loop->tfd_armed = -1;
	loop->ready_tail = &loop->ready_head;
	spool__stack_pool_init(&loop->stacks, o.stack_size, o.stack_cache);
	loop->shared = o.flags & SPOOL_LOOP_SHARED_STACK;
	int rc = spool__anchor_new(&loop->anchor, loop);
	if (rc != 0) {
		free_loop(loop);
		return rc;
	}
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0 ||
	    watch_own(loop, loop->anchor->efd, TAG_EVENTFD) != 0) {
		free_loop(loop);
		return SPOOL_ESYS;
	}
	loop->use_pwait2 = !(o.flags & SPOOL_LOOP_TIMERFD) &&
			   have_pwait2(loop->epfd);
	if (!loop->use_pwait2) {
		loop->tfd = timerfd_create(CLOCK_MONOTONIC,
					   TFD_NONBLOCK | TFD_CLOEXEC);
		if (loop->tfd < 0 ||
		    watch_own(loop, loop->tfd, TAG_TIMERFD) != 0) {
			free_loop(loop);
			return SPOOL_ESYS;
		}
	}
	*out = loop;
	return 0;
}

/* ---- running ---------------------------------------------------------- */

/* Makes the calling thread the loop's: its wait context is the loop's. */
static void install(spool_loop *loop)
{
	loop->owner = pthread_self();
	loop->running = true;
	spool__trace_thread_name("loop", -1);
	loop->saved_ctx = spool__wait_context_set((struct spool__wait_context){
		&spool__loop_wait_ops, loop->anchor});
	spool__coro_init_thread(&loop->sched);
}

static int enter(spool_loop *loop)
{
	if (loop->running || spool__loop_here())
		return SPOOL_ESTATE;
	if (loop->nstarted && !pthread_equal(loop->owner, pthread_self()))
		spool__misuse("spool_loop_run",
			      "the loop has suspended coroutines started on "
			      "another thread; coroutines never migrate");
	install(loop);
	return 0;
}

static void leave(spool_loop *loop)
{
	spool__wait_context_set(loop->saved_ctx);
	loop->running = false;
}

static void run_forever(spool_loop *loop)
{
	for (;;) {
		run_once(loop);
		if (loop->stopping)
			break;
	}
	loop->stopping = false;
}

int spool_loop_run(spool_loop *loop)
{
	if (!loop)
		return SPOOL_EINVAL;
	int rc = enter(loop);
	if (rc != 0)
		return rc;
	run_forever(loop);
	leave(loop);
	return 0;
}

/* Stops the loop once the future run_until_complete waits for is done. The
 * node holds the anchor, so arg is valid even after the loop is gone. */
static void until_done(spool_future *f, void *arg)
{
	struct spool__anchor *a = arg;
	if (spool__on_loop(a) && a->loop->until == f)
		a->loop->stopping = true;
}

int spool_loop_run_until_complete(spool_loop *loop, spool_future *f)
{
	if (!loop || !f)
		return SPOOL_EINVAL;
	if (spool_future_done(f))
		return spool_future_error(f);
	int rc = enter(loop);
	if (rc != 0)
		return rc;
	loop->until = f;
	rc = spool_future_add_callback(f, until_done, loop->anchor);
	if (rc == 0)
		run_forever(loop);
	loop->until = NULL;
	leave(loop);
	if (rc != 0)
		return rc;
	return spool_future_done(f) ? spool_future_error(f) : SPOOL_EAGAIN;
}

void spool_loop_stop(spool_loop *loop)
{
	if (loop)
		loop->stopping = true;
}

bool spool_loop_is_running(const spool_loop *loop)
{
	return loop && loop->running;
}

spool_loop *spool_loop_current(void)
{
	return spool__loop_here();
}

int64_t spool_loop_time(const spool_loop *loop)
{
	(void)loop;
	return spool__now_ns();
}

spool_executor *spool_loop_executor(spool_loop *loop)
{
	return loop ? &loop->executor : NULL;
}

/* ---- destroying ------------------------------------------------------- */

/* What is left at the very end: posted done-callbacks run (exactly once,
 * as core promises), everything else is dropped unrun. */
static void finish_handle(spool_loop *loop, struct spool_handle *h)
{
	switch (h->kind) {
	case SPOOL__H_POSTED:
	case SPOOL__H_AWAIT:
		run_handle(loop, h);
		break;
	case SPOOL__H_STEP: {
		/* Submitted from another thread after destroy began. */
		struct spool__task *t = h->arg;
		spool__future_complete(&t->fut, SPOOL_ESHUTDOWN, NULL);
		spool_future_release(&t->fut);
		break;
	}
	case SPOOL__H_CANCEL:
		spool_future_release(h->arg);
		spool__handle_unref(h);
		break;
	default:
		h->cancelled = h->done = true;
		h->loop = NULL;
		spool__handle_unref(h);
		break;
	}
}

void spool_loop_destroy(spool_loop *loop)
{
	if (!loop)
		return;
	if (loop->running)
		spool__misuse("spool_loop_destroy",
			      "called from inside the running loop");
	if (loop->nstarted && !pthread_equal(loop->owner, pthread_self()))
		spool__misuse("spool_loop_destroy",
			      "the loop has suspended coroutines started on "
			      "another thread; destroy it there");
	install(loop); /* also inside another loop's callback */
	loop->closing = true;
	/* Tasks submitted from other threads join the live list first. */
	spool__inbox_drain(loop);
	spool__tasks_cancel_all(loop);
	while (loop->ntasks)
		run_once(loop);

	loop->closed = true;
	struct spool_handle *h = spool__inbox_close(loop->anchor);
	while (h) {
		struct spool_handle *next = h->next;
		finish_handle(loop, h);
		h = next;
	}
	while (loop->ready_head) {
		h = loop->ready_head;
		loop->ready_head = h->next;
		if (!loop->ready_head)
			loop->ready_tail = &loop->ready_head;
		finish_handle(loop, h);
	}
	spool__timers_free(loop);
	spool__io_free(loop);
	spool__shared_stack_free(loop);
	spool__stack_pool_fini(&loop->stacks);
	leave(loop);
	free_loop(loop);
}

/* ---- callbacks and timers --------------------------------------------- */

static int schedule(spool_loop *loop, bool timer, int64_t when,
		    spool_loop_callback_fn fn, void *arg, spool_handle **out)
{
	if (out)
		*out = NULL;
	if (!loop || !fn)
		return SPOOL_EINVAL;
	if (loop->closed)
		return SPOOL_ESHUTDOWN;
	struct spool_handle *h = spool__handle_new(loop, SPOOL__H_CALLBACK);
	if (!h)
		return SPOOL_ENOMEM;
	h->fn.cb = fn;
	h->arg = arg;
	if (timer) {
		h->when = when;
		if (spool__timer_push(loop, h) != 0) {
			free(h);
			return SPOOL_ENOMEM;
		}
	} else {
		spool__ready_push(loop, h);
	}
	if (out) {
		h->refs++;
		*out = h;
	}
	return 0;
}

int spool_loop_call_soon(spool_loop *loop, spool_loop_callback_fn fn, void *arg,
			 spool_handle **handle)
{
	return schedule(loop, false, 0, fn, arg, handle);
}

int spool_loop_call_at(spool_loop *loop, int64_t when_ns,
		       spool_loop_callback_fn fn, void *arg,
		       spool_handle **handle)
{
	return schedule(loop, true, when_ns, fn, arg, handle);
}

int spool_loop_call_later(spool_loop *loop, int64_t delay_ns,
			  spool_loop_callback_fn fn, void *arg,
			  spool_handle **handle)
{
	if (delay_ns < 0) {
		if (handle)
			*handle = NULL;
		return SPOOL_EINVAL;
	}
	return schedule(loop, true, spool__deadline(delay_ns), fn, arg, handle);
}

int spool_loop_call_soon_threadsafe(spool_loop *loop, spool_loop_callback_fn fn,
				    void *arg)
{
	if (!loop || !fn)
		return SPOOL_EINVAL;
	if (spool__on_loop(loop->anchor))
		return spool_loop_call_soon(loop, fn, arg, NULL);
	struct spool_handle *h = spool__handle_new(loop, SPOOL__H_CALLBACK);
	if (!h)
		return SPOOL_ENOMEM;
	h->fn.cb = fn;
	h->arg = arg;
	if (spool__inbox_push(loop->anchor, h) != 0) {
		free(h);
		return SPOOL_ESHUTDOWN;
	}
	return 0;
}

int spool_handle_cancel(spool_handle *h)
{
	if (!h)
		return SPOOL_EINVAL;
	if (h->cancelled)
		return 0;
	if (h->done)
		return SPOOL_ESTATE;
	h->cancelled = true;
	if (h->in_heap && h->loop)
		spool__timer_cancelled(h->loop);
	return 0;
}

bool spool_handle_cancelled(const spool_handle *h)
{
	return h && h->cancelled;
}

int64_t spool_handle_when(const spool_handle *h)
{
	return h ? h->when : 0;
}

void spool_handle_release(spool_handle *h)
{
	if (h)
		spool__handle_unref(h);
}
