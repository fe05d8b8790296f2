/* SPDX-License-Identifier: MIT */
/*
 * The loop's debug-mode reports (spool/debug.h): callbacks and coroutine
 * steps that hold the loop too long, calls that belong to the loop's
 * thread made from another one, and waits that nothing can end because
 * the loop they need is not running, or is the caller's own.
 *
 * The checks are made where the loop already does something slower than
 * a flag test: once per iteration (run_ready in loop.c), on the path a
 * call from another thread takes (spool__loop_mine, handle_foreign), when
 * a wait is refused or about to block. None of them is on the path of a
 * callback or a coroutine switch while debug mode is off.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/debug.h"
#include "loop_impl.h"

/* ---- slow callbacks --------------------------------------------------- */

struct spool__slow_what spool__debug_slow_what(const struct spool_handle *h)
{
	struct spool__slow_what w = {.kind = h->ops->user};
	switch (h->ops->user) {
	case SPOOL__USER_CALLBACK:
		w.fn = h->cancelled ? NULL : (void (*)(void))h->fn.cb;
		w.arg = h->arg;
		w.timed = !h->cancelled;
		break;
	case SPOOL__USER_POSTED:
		w.fn = (void (*)(void))h->fn.post_fn;
		w.arg = h->arg;
		w.timed = true;
		break;
	case SPOOL__USER_STEP: {
		const struct spool__loop_task *t = h->arg;
		w.id = t->fut.id;
		w.label = t->fut.label;
		w.timed = true;
		break;
	}
	case SPOOL__USER_NONE: /* the loop's own bookkeeping */
		break;
	}
	return w;
}

void spool__debug_slow(const struct spool__slow_what *w, int64_t ns,
		       int64_t limit)
{
	spool_debug_report r = {
		.kind = SPOOL_DEBUG_SLOW,
		.duration_ns = ns,
		.future_id = w->id,
		.label = w->label,
		.callback = w->fn,
	};
	double ms = (double)ns / 1e6, lim = (double)limit / 1e6;
	if (w->kind == SPOOL__USER_STEP) {
		char lbl[96] = "";
		if (w->label)
			snprintf(lbl, sizeof lbl, " \"%s\"", w->label);
		spool__debug_report(&r,
				    "slow coroutine step: task %" PRIu64
				    "%s held the loop for %.1f ms (threshold "
				    "%.1f ms)",
				    w->id, lbl, ms, lim);
	} else {
		/* A function pointer printed as an address (POSIX makes
		 * the two the same size). */
		void *addr;
		memcpy(&addr, &w->fn, sizeof addr);
		spool__debug_report(
			&r,
			"slow %s: %p (arg %p) held the loop for %.1f ms "
			"(threshold %.1f ms)",
			w->kind == SPOOL__USER_CALLBACK ? "callback"
							: "done-callback",
			addr, w->arg, ms, lim);
	}
}

/* ---- calls from other threads ----------------------------------------- */

static void report_call(const char *fn, int err, const char *what)
{
	spool_debug_report r = {
		.kind = SPOOL_DEBUG_WRONG_THREAD,
		.function = fn,
		.error = err,
	};
	spool__debug_report(&r, "wrong thread: %s() %s", fn, what);
}

__attribute__((noinline, cold)) void
spool__debug_foreign_call(const spool_loop *loop, const char *fn, bool refused)
{
	if (refused) {
		report_call(fn, SPOOL_EINVAL,
			    "called from another thread while the loop runs "
			    "(refused; use spool_loop_call_soon_threadsafe() "
			    "from other threads)");
		return;
	}
	spool_loop *here = spool__loop_here();
	if (here && here != loop) {
		report_call(fn, 0,
			    "called on a loop that is not running, from "
			    "the thread of another running loop (an event "
			    "loop other than the current one)");
		return;
	}
	/* Relaxed: another thread's token or 0 is all that can be read
	 * here (deadlock.c), and either answer is only a report. */
	uintptr_t on = atomic_load_explicit(&loop->anchor->stranded_on,
					    memory_order_relaxed);
	if (on && on != spool__thread_token())
		report_call(fn, 0,
			    "called while the loop has coroutines suspended "
			    "on another thread, the only one that may run "
			    "it again: the call races with that thread");
}

/* ---- waits ------------------------------------------------------------ */

__attribute__((noinline, cold)) int spool__debug_loop_wait(spool_future *f)
{
	if (!spool__debug_on())
		return SPOOL_EDEADLK;
	spool__debug_hopeless(f, SPOOL_EDEADLK,
			      "on the loop's thread outside a coroutine: "
			      "the loop cannot run while its thread blocks "
			      "(returns SPOOL_EDEADLK; await it in a "
			      "coroutine, or add a done-callback)");
	return SPOOL_EDEADLK;
}

const char *spool__task_debug_idle(spool_future *f)
{
	const struct spool__loop_task *t = (const struct spool__loop_task *)f;
	/* The loop's header is type-stable memory (loop.c): readable
	 * even if the loop were gone. Relaxed: a snapshot for a report. */
	uint32_t g = atomic_load_explicit(&t->loop->gate, memory_order_relaxed);
	if (g & (SPOOL__GATE_RUNNING | SPOOL__GATE_CLOSED | SPOOL__GATE_DEAD))
		return NULL;
	return "is waiting while no thread runs the task's loop (nothing "
	       "runs the task until one calls spool_loop_run())";
}
