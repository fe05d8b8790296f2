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
 *
 * Misuse. The calls that belong to the loop's thread check, while the loop
 * runs, that they are made there (spool__loop_mine: one thread-local read
 * on the loop's thread, one relaxed load elsewhere), and answer
 * SPOOL_EINVAL or abort with a message when they are not. Calls from other
 * threads go through the gate (below), which lets destroy wait for those
 * in flight and refuse later ones; a loop's memory is type-stable, so a
 * call after destroy finds its gate marked dead and aborts with a message.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/futex.h"
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
	.submit_copy = spool__loop_submit_copy,
	.copy_max = SIZE_MAX,
};

/* ---- the memory of loops ----------------------------------------------
 *
 * Type-stable, as SLAB_TYPESAFE_BY_RCU caches in Linux: memory that has
 * been a loop is never given back to malloc, only reused for a later loop,
 * so that its header (the executor, gate and gen, loop_impl.h) can be read
 * at any time. A call that comes after destroy, which is the caller's bug,
 * then finds the gate marked DEAD and aborts with a message instead of
 * reading freed memory. Destroyed loops wait in a FIFO, and the oldest is
 * reused only when more than QUARANTINE are waiting: a call into a
 * destroyed loop is caught until QUARANTINE more loops have been destroyed
 * after it (then its memory may be a new loop, which such a call would
 * reach). The memory kept is that of the most loops alive at once, plus
 * QUARANTINE, a few hundred bytes each.
 */
enum { QUARANTINE = 16 };

static pthread_mutex_t dead_mu = PTHREAD_MUTEX_INITIALIZER;
static spool_loop *dead_head, *dead_tail; /* oldest first */
static size_t ndead;

/* The part of a loop that is reset when its memory is reused. */
#define BODY_OFFSET offsetof(spool_loop, anchor)
#define BODY_SIZE (sizeof(spool_loop) - BODY_OFFSET)

static spool_loop *loop_memory_get(void)
{
	spool_loop *loop = NULL;
	pthread_mutex_lock(&dead_mu);
	if (ndead > QUARANTINE) {
		loop = dead_head;
		dead_head = loop->pool_next;
		ndead--;
	}
	pthread_mutex_unlock(&dead_mu);
	if (loop) {
#ifdef SPOOL__ASAN
		__asan_unpoison_memory_region((char *)loop + BODY_OFFSET,
					      BODY_SIZE);
#endif
		memset((char *)loop + BODY_OFFSET, 0, BODY_SIZE);
		loop->pool_next = NULL;
		/* executor.ops is never written again: late readers of the
		 * old loop may read it. gen moved on when the old loop died;
		 * a late caller of it now reaches this loop (see above). */
		atomic_store_explicit(&loop->gate, 0, memory_order_relaxed);
		return loop;
	}
	loop = spool__calloc(1, sizeof *loop);
	if (loop) {
		loop->executor.ops = &loop_executor_ops;
		atomic_init(&loop->gate, 0);
		atomic_init(&loop->gen, 0);
	}
	return loop;
}

/* Marks the loop dead and keeps its memory for a later loop. */
static void loop_memory_put(spool_loop *loop)
{
	/* Handles the caller still holds are no longer this loop's. */
	atomic_fetch_add_explicit(&loop->gen, 1, memory_order_relaxed);
	atomic_store_explicit(&loop->gate, SPOOL__GATE_DEAD,
			      memory_order_release);
#ifdef SPOOL__ASAN
	__asan_poison_memory_region((char *)loop + BODY_OFFSET, BODY_SIZE);
#endif
	pthread_mutex_lock(&dead_mu);
	loop->pool_next = NULL;
	if (ndead)
		dead_tail->pool_next = loop;
	else
		dead_head = loop;
	dead_tail = loop;
	ndead++;
	pthread_mutex_unlock(&dead_mu);
}

/* ---- the gate: calls from other threads -------------------------------
 *
 * A call from a thread that is not running the loop (call_soon_threadsafe,
 * spool_submit, run_in_executor) enters with a CAS that adds
 * SPOOL__GATE_ONE to the gate unless CLOSED or DEAD is set, and leaves with
 * a decrement. Destroy sets CLOSED (and RUNNING) in one CAS, then waits
 * until the count is 0 before it touches the inbox. Every call is
 * therefore answered, and none is lost: the gate's modification order puts
 * each entry either before CLOSED, and then destroy waits until that call
 * has left, so whatever it pushed to the inbox is there when destroy
 * drains it (the leave's release, read by destroy's acquire load, orders
 * the push first), or after CLOSED, and then the CAS sees CLOSED and the
 * call returns SPOOL_ESHUTDOWN without touching anything. No entry can
 * succeed once CLOSED is set, so the count only falls and the wait ends as
 * soon as the calls inside return (none blocks: an allocation, a CAS, a
 * write to the eventfd). The waiter sleeps on the gate word with a futex;
 * the leave that brings the count to 0 with CLOSED set wakes it (a leave
 * between the waiter's load and its FUTEX_WAIT changes the word, and the
 * kernel then refuses to sleep). The wake may follow the waiter's return:
 * the word is in type-stable memory, so that is harmless.
 */
int spool__gate_enter(spool_loop *loop, const char *fn)
{
	uint32_t g = atomic_load_explicit(&loop->gate, memory_order_relaxed);
	do {
		if (g & SPOOL__GATE_DEAD)
			spool__misuse(fn, "the loop was destroyed");
		if (g & SPOOL__GATE_CLOSED)
			return SPOOL_ESHUTDOWN;
	} while (!atomic_compare_exchange_weak_explicit(
		&loop->gate, &g, g + SPOOL__GATE_ONE, memory_order_acquire,
		memory_order_relaxed));
	return 0;
}

void spool__gate_leave(spool_loop *loop)
{
	uint32_t g = atomic_fetch_sub_explicit(&loop->gate, SPOOL__GATE_ONE,
					       memory_order_release);
	if ((g & SPOOL__GATE_CLOSED) && g < 2 * SPOOL__GATE_ONE)
		spool__futex_wake(&loop->gate, 1);
}

/* Destroy, once CLOSED is set: until every call inside has left. */
static void gate_drain(spool_loop *loop)
{
	uint32_t g;
	while ((g = atomic_load_explicit(&loop->gate, memory_order_acquire)) >=
	       SPOOL__GATE_ONE)
		spool__futex_wait(&loop->gate, g, NULL);
}

/* ---- handles and the ready queue --------------------------------------
 *
 * CALLBACK and WAKE handles come from the loop's spares when it has more
 * than SPARE_QUARANTINE, and go back to them when the last reference is
 * dropped, oldest reused first (at most SPARE_MAX are kept; destroy frees
 * them). So a released handle's memory stays a handle of this loop, marked
 * released (user false), until at least SPARE_QUARANTINE other handles
 * have been done with after it: a second spool_handle_release() of it in
 * that time finds the mark and aborts with a message instead of freeing it
 * twice. Reuse also spares the allocator most calls.
 */
enum { SPARE_QUARANTINE = 16, SPARE_MAX = 256 };

struct spool_handle *spool__handle_new(spool_loop *loop,
				       const struct spool__handle_ops *ops)
{
	struct spool_handle *h;
	if (loop->nspare > SPARE_QUARANTINE) {
		h = loop->spare_head;
		loop->spare_head = h->next;
		loop->nspare--;
		memset(h, 0, sizeof *h);
	} else if (!(h = spool__calloc(1, sizeof *h))) {
		return NULL;
	}
	h->loop = loop;
	h->gen = atomic_load_explicit(&loop->gen, memory_order_relaxed);
	h->ops = ops;
	h->refs = 1;
	return h;
}

/* True while the loop that made h lives (h->loop's memory is type-stable,
 * so this may be asked after destroy). */
static bool handle_loop_alive(const struct spool_handle *h)
{
	return h->loop && h->gen == atomic_load_explicit(&h->loop->gen,
							 memory_order_relaxed);
}

void spool__handle_unref(struct spool_handle *h)
{
	if (--h->refs != 0)
		return;
	if (!h->ops->recycled || !handle_loop_alive(h)) {
		free(h);
		return;
	}
	spool_loop *loop = h->loop;
	h->next = NULL;
	if (loop->nspare)
		loop->spare_tail->next = h;
	else
		loop->spare_head = h;
	loop->spare_tail = h;
	if (++loop->nspare > SPARE_MAX) {
		struct spool_handle *old = loop->spare_head;
		loop->spare_head = old->next;
		loop->nspare--;
		free(old);
	}
}

static void spares_free(spool_loop *loop)
{
	while (loop->nspare) {
		struct spool_handle *h = loop->spare_head;
		loop->spare_head = h->next;
		loop->nspare--;
		free(h);
	}
	loop->spare_head = loop->spare_tail = NULL;
}

/* CALLBACK: call_soon, call_at, call_later, call_soon_threadsafe. */
static inline void callback_run(spool_loop *loop, struct spool_handle *h)
{
	if (!h->cancelled) {
		h->done = true;
		h->fn.cb(loop, h->arg);
	}
	spool__handle_unref(h);
}

static void callback_run_out(spool_loop *loop, struct spool_handle *h)
{
	callback_run(loop, h);
}

/* At destroy: dropped unrun. */
static void callback_finish(spool_loop *loop, struct spool_handle *h)
{
	(void)loop;
	h->cancelled = h->done = true;
	spool__handle_unref(h);
}

const struct spool__handle_ops spool__callback_ops = {
	.run = callback_run_out,
	.finish = callback_finish,
	.recycled = true,
	.user = SPOOL__USER_CALLBACK,
};

/* Runs h by its table. The two kinds every busy iteration is made of are
 * called directly, so that they stay inlined here as they were before
 * handles had tables: a task's step (one return level fewer after a
 * coroutine switches back, see spool__coro_switch) and a plain callback.
 * Their tables' run does the same, for anyone else who runs them. */
static inline __attribute__((always_inline)) void
run_handle(spool_loop *loop, struct spool_handle *h)
{
	if (h->ops == &spool__step_ops)
		spool__task_step(loop, h->arg);
	else if (h->ops == &spool__callback_ops)
		callback_run(loop, h);
	else
		h->ops->run(loop, h);
}

/* run_ready in debug mode: times each handle that runs user code and
 * reports those that reach the slow threshold (spool/debug.h). The batch
 * is kept here, not in loop->batch, so that a suspending coroutine always
 * switches back to the scheduler (spool__task_leave finds no batch): each
 * step is then timed alone, which is the point. That changes no order:
 * the handles run in the sequence the handoff would run them in. */
static __attribute__((noinline, cold)) int run_ready_timed(spool_loop *loop)
{
	struct spool_handle *h, *rest = loop->ready_head;
	loop->batch = NULL;
	loop->batch_ran = 0;
	loop->ready_head = NULL;
	loop->ready_tail = &loop->ready_head;
	int64_t limit = spool__debug_slow_ns();
	while ((h = rest) != NULL) {
		rest = h->next;
		loop->batch_ran++;
		struct spool__slow_what w = spool__debug_slow_what(h);
		int64_t t0 = w.timed ? spool__now_ns() : 0;
		run_handle(loop, h);
		if (w.timed) {
			int64_t ns = spool__now_ns() - t0;
			if (ns >= limit)
				spool__debug_slow(&w, ns, limit);
		}
	}
	return loop->batch_ran;
}

/* Step 5: the ready queue as it is now; later additions wait. Returns how
 * many handles ran. */
static int run_ready(spool_loop *loop)
{
	/* One flag test per iteration when debug mode is off. */
	if (__builtin_expect(spool__debug_on(), 0))
		return run_ready_timed(loop);
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

/* A deadline is any int64_t on CLOCK_MONOTONIC: a time in the past may be
 * negative (the clock starts at boot), down to INT64_MIN, and must then
 * end the wait at once; INT64_MAX is never (SPOOL_FOREVER). Every
 * difference below is taken only where it cannot overflow. */

/* Fallback timing: arms the timerfd at deadline (absolute ns) when has is
 * set, else disarms it. */
static void arm_timerfd(spool_loop *loop, bool has, int64_t deadline)
{
	/* tfd_armed 0 means disarmed (0 is how timerfd_settime disarms);
	 * a deadline at or before time 1 is long past, so 1 stands for
	 * all of them. */
	int64_t d = !has ? 0 : deadline > 1 ? deadline : 1;
	if (d == loop->tfd_armed)
		return;
	struct itimerspec its = {{0, 0}, {0, 0}};
	its.it_value.tv_sec = (time_t)(d / SPOOL_NS_PER_S);
	its.it_value.tv_nsec = (long)(d % SPOOL_NS_PER_S);
	timerfd_settime(loop->tfd, TFD_TIMER_ABSTIME, &its, NULL);
	loop->tfd_armed = d;
}

/* Step 3. has: there is a first deadline, at absolute time deadline; poll
 * only when `now` is set. */
static int poll_events(spool_loop *loop, bool now, bool has, int64_t deadline)
{
	struct epoll_event ev[SPOOL__MAX_EVENTS];
	int n;
	if (loop->use_pwait2) {
		struct timespec ts, *tsp = NULL;
		if (now || has) {
			int64_t rel = 0;
			if (!now) {
				int64_t t = spool__now_ns();
				if (deadline > t)
					rel = deadline - t; /* t >= 0 */
			}
			ts.tv_sec = (time_t)(rel / SPOOL_NS_PER_S);
			ts.tv_nsec = (long)(rel % SPOOL_NS_PER_S);
			tsp = &ts;
		}
		n = epoll_pwait2(loop->epfd, ev, SPOOL__MAX_EVENTS, tsp, NULL);
	} else {
		if (!now)
			arm_timerfd(loop, has, deadline);
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
				loop->tfd_armed = 0;
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
	/* A timer at INT64_MAX never fires: it is no deadline. */
	int64_t deadline = loop->timers.n ? loop->timers.v[0].when : INT64_MAX;
	bool has = deadline != INT64_MAX;
	/* Descriptor waits that rely on a kept registration are verified
	 * before the loop would block, and in a busy loop every
	 * SPOOL__IO_VERIFY_TURNS turns (io.c explains why). A non-blocking
	 * poll first: if it finds events there is no need to block yet. */
	bool polled = false;
	if (loop->io_ncheck) {
		bool overdue = loop->iterations - loop->io_check_since >=
			       SPOOL__IO_VERIFY_TURNS;
		if (!overdue && !now && poll_events(loop, true, false, 0) > 0)
			polled = true;
		else if (overdue || !now) {
			spool__io_verify(loop);
			/* Verifying may have woken waiters: then the loop
			 * must not block. */
			now = now || loop->ready_head;
		}
	}
	if (!polled)
		poll_events(loop, now, has, deadline);
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
	spares_free(loop);
	loop_memory_put(loop);
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

	spool_loop *loop = loop_memory_get();
	if (!loop)
		return SPOOL_ENOMEM;
	loop->epfd = loop->tfd = -1;
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

/* Sets RUNNING, and the flags `also`, in the gate for the calling thread.
 * Returns 0, or 1 if another thread has set RUNNING; aborts, naming fn,
 * for a destroyed loop. The acquire pairs with the release in leave(): a
 * loop run by one thread after another sees what the first did. */
static int claim(spool_loop *loop, uint32_t also, const char *fn)
{
	uint32_t g = atomic_load_explicit(&loop->gate, memory_order_relaxed);
	do {
		if (g & SPOOL__GATE_DEAD)
			spool__misuse(fn, "the loop was destroyed");
		if (g & SPOOL__GATE_RUNNING)
			return 1;
	} while (!atomic_compare_exchange_weak_explicit(
		&loop->gate, &g, g | SPOOL__GATE_RUNNING | also,
		memory_order_acquire, memory_order_relaxed));
	return 0;
}

/* Makes the calling thread the loop's: its wait context is the loop's. The
 * caller has claimed it. */
static void install(spool_loop *loop)
{
	spool__loop_unstrand(loop);
	loop->owner = pthread_self();
	spool__trace_thread_name("loop", -1);
	loop->saved_ctx = spool__wait_context_set((struct spool__wait_context){
		&spool__loop_wait_ops, loop->anchor});
	loop->saved_exec = spool__current_executor_swap(&loop->executor);
	spool__coro_init_thread(&loop->sched);
}

static int enter(spool_loop *loop, const char *fn)
{
	uint32_t g = atomic_load_explicit(&loop->gate, memory_order_relaxed);
	if (g & SPOOL__GATE_DEAD)
		spool__misuse(fn, "the loop was destroyed");
	if (spool__loop_here() || claim(loop, 0, fn) != 0)
		return SPOOL_ESTATE;
	if (loop->nstarted && !pthread_equal(loop->owner, pthread_self()))
		spool__misuse(fn,
			      "the loop has suspended coroutines started on "
			      "another thread; coroutines never migrate");
	install(loop);
	return 0;
}

static void leave(spool_loop *loop)
{
	spool__current_executor_swap(loop->saved_exec);
	spool__wait_context_set(loop->saved_ctx);
	spool__loop_strand(loop); /* before another thread may claim it */
	atomic_fetch_and_explicit(&loop->gate, ~(uint32_t)SPOOL__GATE_RUNNING,
				  memory_order_release);
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
	int rc = enter(loop, "spool_loop_run");
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
	int rc = enter(loop, "spool_loop_run_until_complete");
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
	if (!loop)
		return;
	if (!spool__loop_mine(loop, "spool_loop_stop"))
		spool__misuse("spool_loop_stop",
			      "called from another thread while the loop runs "
			      "(use spool_loop_call_soon_threadsafe)");
	loop->stopping = true;
}

bool spool_loop_is_running(const spool_loop *loop)
{
	if (!loop)
		return false;
	uint32_t g = atomic_load_explicit(&loop->gate, memory_order_relaxed);
	if (g & SPOOL__GATE_DEAD)
		spool__misuse("spool_loop_is_running",
			      "the loop was destroyed");
	return g & SPOOL__GATE_RUNNING;
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

/* What is left at the very end: each handle's table says (callbacks sent
 * home run, exactly once as core promises; everything else is dropped
 * unrun). */
static void finish_handle(spool_loop *loop, struct spool_handle *h)
{
	h->ops->finish(loop, h);
}

void spool_loop_destroy(spool_loop *loop)
{
	if (!loop)
		return;
	if (spool__loop_here() == loop)
		spool__misuse("spool_loop_destroy",
			      "called from inside the running loop");
	/* From here on other threads are refused (the gate). */
	if (claim(loop, SPOOL__GATE_CLOSED, "spool_loop_destroy") != 0)
		spool__misuse("spool_loop_destroy",
			      "called while the loop runs on another thread");
	if (loop->nstarted && !pthread_equal(loop->owner, pthread_self()))
		spool__misuse("spool_loop_destroy",
			      "the loop has suspended coroutines started on "
			      "another thread; destroy it there");
	install(loop); /* also inside another loop's callback */
	loop->closing = true;
	gate_drain(loop);
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
	/* RUNNING stays set until free_loop marks the loop dead, so that
	 * no other thread takes it for a stopped loop it may use. */
	spool__current_executor_swap(loop->saved_exec);
	spool__wait_context_set(loop->saved_ctx);
	free_loop(loop);
}

/* ---- callbacks and timers --------------------------------------------- */

static int schedule(spool_loop *loop, const char *name, bool timer,
		    int64_t when, spool_loop_callback_fn fn, void *arg,
		    spool_handle **out)
{
	if (out)
		*out = NULL;
	if (!loop || !fn)
		return SPOOL_EINVAL;
	if (!spool__loop_mine(loop, name)) {
		if (spool__debug_on())
			spool__debug_foreign_call(loop, name, true);
		return SPOOL_EINVAL;
	}
	if (loop->closed)
		return SPOOL_ESHUTDOWN;
	struct spool_handle *h = spool__handle_new(loop, &spool__callback_ops);
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
		h->user = true;
		*out = h;
	}
	return 0;
}

int spool_loop_call_soon(spool_loop *loop, spool_loop_callback_fn fn, void *arg,
			 spool_handle **handle)
{
	return schedule(loop, "spool_loop_call_soon", false, 0, fn, arg,
			handle);
}

int spool_loop_call_at(spool_loop *loop, int64_t when_ns,
		       spool_loop_callback_fn fn, void *arg,
		       spool_handle **handle)
{
	return schedule(loop, "spool_loop_call_at", true, when_ns, fn, arg,
			handle);
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
	/* Saturates at INT64_MAX, never: no overflow for huge delays. */
	return schedule(loop, "spool_loop_call_later", true,
			spool__deadline(delay_ns), fn, arg, handle);
}

int spool_loop_call_soon_threadsafe(spool_loop *loop, spool_loop_callback_fn fn,
				    void *arg)
{
	if (!loop || !fn)
		return SPOOL_EINVAL;
	if (spool__loop_here() == loop)
		return spool_loop_call_soon(loop, fn, arg, NULL);
	int rc = spool__gate_enter(loop, "spool_loop_call_soon_threadsafe");
	if (rc != 0)
		return rc;
	/* Not from the spares, which are the loop thread's; the loop puts
	 * it there once it has run. */
	struct spool_handle *h = spool__calloc(1, sizeof *h);
	if (h) {
		h->loop = loop;
		h->gen = atomic_load_explicit(&loop->gen, memory_order_relaxed);
		h->ops = &spool__callback_ops;
		h->refs = 1;
		h->fn.cb = fn;
		h->arg = arg;
		/* Cannot fail inside the gate: the inbox closes after
		 * destroy has waited for every call inside. */
		if (spool__inbox_push(loop->anchor, h) != 0)
			spool__bug("spool_loop_call_soon_threadsafe",
				   "the inbox closed while a call was inside");
	} else {
		rc = SPOOL_ENOMEM;
	}
	spool__gate_leave(loop);
	return rc;
}

/* For the handle calls: aborts, naming fn, if h was released; true when
 * h's loop lives and runs on another thread than the caller's. */
static bool handle_foreign(const spool_handle *h, const char *fn)
{
	if (!h->user)
		spool__misuse(fn, "the handle was released");
	/* h->loop is type-stable memory: its gen says whether that loop is
	 * still the one that made h. */
	if (!handle_loop_alive(h) || spool__loop_here() == h->loop)
		return false;
	bool running = atomic_load_explicit(&h->loop->gate,
					    memory_order_relaxed) &
		       SPOOL__GATE_RUNNING;
	if (!running && spool__debug_on())
		spool__debug_foreign_call(h->loop, fn, false);
	return running;
}

int spool_handle_cancel(spool_handle *h)
{
	if (!h)
		return SPOOL_EINVAL;
	if (handle_foreign(h, "spool_handle_cancel")) {
		if (spool__debug_on())
			spool__debug_foreign_call(h->loop,
						  "spool_handle_cancel", true);
		return SPOOL_EINVAL;
	}
	if (h->cancelled)
		return 0;
	if (h->done)
		return SPOOL_ESTATE;
	h->cancelled = true;
	if (h->in_heap) /* never after destroy, which empties the heap */
		spool__timer_cancelled(h->loop);
	return 0;
}

bool spool_handle_cancelled(const spool_handle *h)
{
	if (!h)
		return false;
	if (handle_foreign(h, "spool_handle_cancelled"))
		spool__misuse("spool_handle_cancelled",
			      "called from another thread while the loop runs");
	return h->cancelled;
}

int64_t spool_handle_when(const spool_handle *h)
{
	if (!h)
		return 0;
	if (!h->user)
		spool__misuse("spool_handle_when", "the handle was released");
	return h->when; /* set before the handle was returned */
}

void spool_handle_release(spool_handle *h)
{
	if (!h)
		return;
	if (!h->user)
		spool__misuse("spool_handle_release", "handle released twice");
	if (handle_foreign(h, "spool_handle_release"))
		spool__misuse("spool_handle_release",
			      "called from another thread while the loop runs");
	h->user = false;
	spool__handle_unref(h);
}
