/* SPDX-License-Identifier: MIT */
/*
 * spool_sleep(): asyncio.sleep in a coroutine, time.sleep anywhere else.
 *
 * The same workload function, run as a loop task and as a pool task, shows
 * the lesson: in a coroutine the sleep is a timer in the loop's heap and the
 * thread goes on running other coroutines; on a thread it is nanosleep and
 * the thread is gone for that long.
 *
 * spool_sleep_future(): the same timer as a future, for gathering sleeps.
 * It is a loop task that sleeps (its record carries the deadline,
 * spool_submit_copy), so cancelling it and the loop's destroy end it as
 * any sleeping coroutine, timer included, and it may be made from any
 * thread through the executor's thread-safe path.
 */
#include <errno.h>
#include <time.h>

#include "loop_impl.h"

static void block(int64_t ns)
{
	struct timespec ts = {(time_t)(ns / SPOOL_NS_PER_S),
			      (long)(ns % SPOOL_NS_PER_S)};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The timed sleep in a coroutine, out of line: spool_sleep(0), the hot
 * yield, then needs no registers or stack for it (a smaller frame to save
 * and restore, and to copy on a shared-stack loop). */
static __attribute__((noinline)) int sleep_timed(spool_loop *loop,
						 struct spool__loop_task *t,
						 int64_t when, int64_t ns)
{
	int rc;
	t->timer = spool__timer_wake(loop, t, when, 0);
	if (!t->timer)
		return SPOOL_ENOMEM;
	spool__trace_suspend(&t->fut, SPOOL__TRACE_ON_SLEEP, (uint64_t)ns);
	rc = spool__task_suspend(loop, t);
	if (t->timer) {
		spool__timer_disarm(loop, t->timer);
		t->timer = NULL;
	}
	return rc;
}

int spool_sleep(int64_t ns)
{
	if (ns < 0)
		return SPOOL_EINVAL;
	spool_loop *loop = spool__loop_here();
	struct spool__loop_task *t = loop ? loop->current : NULL;
	if (!t) {
		block(ns);
		return 0;
	}
	int rc = spool__task_await_begin(loop, t);
	if (rc != 0)
		return rc;
	if (ns == 0)
		return spool__task_yield(loop, t);
	return sleep_timed(loop, t, spool__deadline(ns), ns);
}

/* spool_sleep_future's task: sleeps until the deadline its future was made
 * with (the task may start later than that call). The timer is armed at
 * that deadline even when it has passed, so that sleeps whose tasks start
 * late still end in the order of their deadlines (the heap's order), not
 * in the order their tasks started. */
static int sleep_until(void *arg, void **result)
{
	(void)result;
	int64_t when = *(const int64_t *)arg;
	spool_loop *loop = spool__loop_here();
	struct spool__loop_task *t = loop->current; /* a task of loop's */
	int rc = spool__task_await_begin(loop, t);
	if (rc != 0)
		return rc;
	int64_t left = when - spool__now_ns();
	return sleep_timed(loop, t, when, left > 0 ? left : 0);
}

spool_future *spool_sleep_future(spool_loop *loop, int64_t ns)
{
	if (!loop || ns < 0)
		return spool__future_failed(SPOOL_EINVAL);
	/* The submission's gate would catch it too, naming spool_submit.
	 * Relaxed: a destroyed loop's gate never changes again. */
	if (atomic_load_explicit(&loop->gate, memory_order_relaxed) &
	    SPOOL__GATE_DEAD)
		spool__misuse("spool_sleep_future", "the loop was destroyed");
	int64_t deadline = spool__deadline(ns);
	return spool_submit_copy(spool_loop_executor(loop), sleep_until,
				 &deadline, sizeof deadline);
}
