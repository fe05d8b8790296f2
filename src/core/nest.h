/* SPDX-License-Identifier: MIT */
/*
 * Constant stack depth for work that nests through futures.
 *
 * Three things spool does recurse once per level when done naively:
 *   - completing a future runs its done-callbacks, which may complete
 *     other futures (a then-chain on the inline executor, nested gathers),
 *     whose callbacks complete more;
 *   - freeing a future lets go of the futures it holds (a gather its
 *     children, a then its source), which may be the last references;
 *   - cancelling a combinator cancels the futures it waits on, which may
 *     be combinators themselves.
 * A chain a million links long would need a million frames. So each of
 * these enters a nesting level first. Below NEST_MAX levels on a thread
 * the work runs at once, as before (callbacks run before set_result
 * returns, children are freed before release returns); at NEST_MAX the
 * work is queued on the thread instead, and the thread's outermost level
 * runs the queue, in order, just before it returns (a trampoline). The
 * stack then holds at most NEST_MAX levels whatever the depth of the
 * chain, and every piece of work still runs on the thread that caused it,
 * before the call that caused it (the outermost) returns.
 *
 * Waiting with work queued would deadlock (the waited-for outcome may be
 * in the queue), so spool_future_wait flushes the queue before it waits,
 * and a loop flushes it every iteration (a coroutine suspended inside a
 * callback leaves its level held, so the queue may not reach its
 * outermost level for a while).
 *
 * Thread-local, no atomics. If the queue cannot grow (no memory), the
 * work runs at once: deeper stack, nothing lost.
 */
#ifndef SPOOL_CORE_NEST_H
#define SPOOL_CORE_NEST_H

#include <stdbool.h>
#include <stddef.h>

#include "future_impl.h"

enum spool__nest_kind {
	SPOOL__NEST_CALLBACKS = 1, /* run final f's callbacks, then release */
	SPOOL__NEST_DESTROY = 2,   /* finish freeing f (refcount zero) */
	SPOOL__NEST_CANCEL = 3,    /* spool_future_cancel(f), then release */
};

/* Levels run at once before work is queued. Each level of a then-chain
 * costs a few hundred bytes of stack (more under sanitizers), so 16 keep
 * a chain well inside the smallest coroutine stack (16 KiB). */
enum { SPOOL__NEST_MAX = 16 };

/* The calling thread's level, and whether its queue holds work (nest.c);
 * read inline on every completion with callbacks and every free of a
 * future that holds others. */
extern SPOOL__TLS unsigned spool__nest_depth;
extern SPOOL__TLS bool spool__nest_queued;

bool spool__nest_queue(spool_future *f, enum spool__nest_kind kind);
void spool__nest_drain(void);

/* Enters a level for work of kind on f. Returns true when the caller
 * must do the work now and then call spool__nest_leave(); false when the
 * work was queued (the caller must not spool__nest_leave). For CALLBACKS
 * and CANCEL the queue takes a reference of its own, which the work
 * drops: the caller's may be gone by the time the queue runs. */
static inline bool spool__nest_enter(spool_future *f,
				     enum spool__nest_kind kind)
{
	if (__builtin_expect(spool__nest_depth >= SPOOL__NEST_MAX, 0) &&
	    spool__nest_queue(f, kind))
		return false;
	spool__nest_depth++;
	return true;
}

/* Leaves a level; the outermost level runs what was queued. */
static inline void spool__nest_leave(void)
{
	if (__builtin_expect(spool__nest_queued, 0) && spool__nest_depth == 1)
		spool__nest_drain();
	spool__nest_depth--;
}

void spool__nest_flush_queued(void);

/* Runs the queued work now, on this thread (before it waits). Inline:
 * every wait that does not find its future final at once asks. */
static inline void spool__nest_flush(void)
{
	if (__builtin_expect(spool__nest_queued, 0))
		spool__nest_flush_queued();
}

/* The queued work, done by the owner of each kind (future.c, callback.c). */
void spool__nest_run(spool_future *f, enum spool__nest_kind kind);

/* Asks f to cancel from inside spool (a combinator forwarding a cancel to
 * what it waits on), at a bounded stack depth: the cancel may be queued
 * and happen before the outermost call on this thread returns. */
void spool__future_cancel_nested(spool_future *f);

#endif /* SPOOL_CORE_NEST_H */
