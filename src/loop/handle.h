/* SPDX-License-Identifier: MIT */
/*
 * Handles: every unit of work the loop runs, and the table of operations
 * that says what running one means.
 *
 * A handle sits in the ready queue, the timer heap or the inbox and is run
 * by the loop's thread (run_handle in loop.c). What it does is given by its
 * ops, a constant table per kind of handle, owned by the file that makes
 * such handles: call_soon's callbacks (loop.c), a task's step and its
 * cancel from another thread (task.c), a wake timer (timer.c), and the two
 * handles that carry a callback home (home.c). The loop itself never looks
 * inside a handle it did not make; it asks the table.
 */
#ifndef SPOOL_LOOP_HANDLE_H
#define SPOOL_LOOP_HANDLE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/lifo.h"
#include "spool/loop.h"

/* The user code a handle's run calls, for debug mode's report of a slow
 * one (loop/debug.c): none for the loop's own bookkeeping. */
enum spool__handle_user {
	SPOOL__USER_NONE,
	SPOOL__USER_CALLBACK, /* call_soon/call_later's fn(loop, arg) */
	SPOOL__USER_POSTED,   /* a done-callback sent home: fn(f, arg) */
	SPOOL__USER_STEP,     /* a coroutine's step: its task */
};

struct spool__handle_ops {
	/* Runs h on the loop's thread, in the iteration's batch. */
	void (*run)(spool_loop *loop, struct spool_handle *h);
	/* At destroy, for a handle still queued once the inbox is closed:
	 * runs it if it must run (a callback sent home runs exactly once,
	 * as core promises), or lets it go unrun. */
	void (*finish)(spool_loop *loop, struct spool_handle *h);
	/* Optional: what the loop does with h when it arrives through the
	 * inbox, instead of queueing it to run (a task submitted from
	 * another thread joins the live list). */
	void (*arrive)(spool_loop *loop, struct spool_handle *h);
	/* The loop's own kinds (CALLBACK, WAKE): once the last reference
	 * is dropped, h returns to the loop's spares (loop.c). */
	bool recycled;
	/* What user code run calls (enum spool__handle_user). */
	uint8_t user;
};

struct spool_handle {
	union {
		struct spool_handle *next;     /* ready queue or spare list */
		struct spool__lifo_node inbox; /* the inbox (inbox.c) */
	};
	const struct spool__handle_ops *ops;
	/* The loop that made it (CALLBACK, WAKE): alive while gen equals
	 * the loop's gen (loop.c); NULL when not made for a loop. */
	spool_loop *loop;
	uint32_t gen;
	bool cancelled;
	bool done;     /* ran, or was dropped by the loop */
	bool in_heap;  /* a timer not yet due */
	bool user;     /* the caller holds a reference (not yet released) */
	uint32_t refs; /* the loop's (while queued) and the user's */
	int wake_rc;   /* WAKE: what the woken wait returns */
	int64_t when;  /* timers: CLOCK_MONOTONIC ns */
	uint64_t seq;  /* timers: scheduling order, breaks ties */
	union {
		spool_loop_callback_fn cb;
		spool_callback_fn post_fn;
	} fn;
	void *arg;
	spool_future *f; /* a callback sent home: retained */
};

#endif /* SPOOL_LOOP_HANDLE_H */
