/* SPDX-License-Identifier: MIT */
/*
 * Trace hooks: the internal API through which core, the pool and the loop
 * record what they do (never installed; see src/trace/HOOKS.md for where
 * each hook goes).
 *
 * Every hook is a static inline function whose whole cost while no trace is
 * recording is spool__trace_on(): one relaxed load of a global word and a
 * branch the compiler lays out as not taken. While a session records, a
 * hook appends a fixed-size record with a raw timestamp to the calling
 * thread's buffer, inline when the buffer is registered and has room
 * (spool__trace_event()); only a thread's first event of a session and a
 * full buffer call out of line, into buffer.c. Nothing is formatted until
 * spool_trace_stop() (writer.c).
 *
 * Hooks take the future itself where there is one (its id and label are
 * read from it) and plain integers otherwise. They never block, never
 * allocate except once per thread and session (the buffer), and may be
 * called from any thread, inside or outside tasks and coroutines.
 */
#ifndef SPOOL_TRACE_TRACE_H
#define SPOOL_TRACE_TRACE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../core/future_impl.h"
#include "clock.h"

/* What a record describes; the meaning of id and arg per kind is
 * given by the hook that records it below. Each *_END directly follows its
 * *_BEGIN (the writer relies on it). */
enum spool__trace_kind {
	SPOOL__TR_NONE = 0,
	SPOOL__TR_SUBMIT, /* ts = when the submission began */
	SPOOL__TR_RUN_BEGIN,
	SPOOL__TR_RUN_END,
	SPOOL__TR_WAIT_BEGIN,
	SPOOL__TR_WAIT_END,
	SPOOL__TR_STEAL,
	SPOOL__TR_PARK_BEGIN,
	SPOOL__TR_PARK_END,
	SPOOL__TR_WAKE,
	SPOOL__TR_SUSPEND,
	SPOOL__TR_RESUME,
	SPOOL__TR_TIMER,
	SPOOL__TR_ITER_BEGIN,
	SPOOL__TR_ITER_END,
	SPOOL__TR_KINDS
};

/* What a suspended coroutine waits for (spool__trace_suspend's why). */
enum spool__trace_why {
	SPOOL__TRACE_ON_FUTURE = 0,   /* target: the awaited future's id */
	SPOOL__TRACE_ON_SLEEP = 1,    /* target: the sleep's length in ns */
	SPOOL__TRACE_ON_READABLE = 2, /* target: the file descriptor */
	SPOOL__TRACE_ON_WRITABLE = 3, /* target: the file descriptor */
	SPOOL__TRACE_ON_YIELD = 4,    /* target: 0 (back of the ready queue) */
	SPOOL__TRACE_WHY_COUNT
};

/* One event: 24 bytes. The kind shares a word with the future id (ids are
 * a process-wide counter, far below 2^56), and the one other field holds
 * whatever the kind needs: a label pointer, a duration, a target, or a
 * result code (sign-extended, see spool__trace_code()). A SUSPEND packs its
 * reason into the top byte of the target. Every byte saved is a byte the
 * kernel need not zero: a long trace's cost is mostly fresh memory. */
struct spool__trace_ev {
	uint64_t ts;   /* raw ticks of the session's clock (clock.c) */
	uint64_t word; /* kind << 56 | future id (or 0) */
	uint64_t arg;  /* by kind: see the hook that records it */
};

#define SPOOL__TRACE_ID_MASK ((UINT64_C(1) << 56) - 1)

enum { SPOOL__TRACE_NAME_MAX = 32 };

struct spool__trace_buf {
	/* The events, an anonymous mapping of cap records. Only the owner
	 * thread writes them; the stopper reads [0, n) after an acquire
	 * load of n, which pairs with the owner's release store. */
	struct spool__trace_ev *ev;
	size_t cap;
	_Atomic size_t n;
	/* Events refused because the buffer was full (owner writes). */
	_Atomic uint64_t dropped;
	/* The owner's latest clock read in this session, 0 before the
	 * first: what a submission is stamped with (owner only). */
	uint64_t last_ts;
	/* The session this buffer records for. Written by the owner under
	 * the lock; read by the owner without it (it is the only writer)
	 * and by the stopper under it. */
	uint64_t gen;
	/* Below: only under the lock. */
	struct spool__trace_buf *next; /* registry link */
	bool registered;               /* in the current session's registry */
	bool orphan;                   /* its thread exited: stop frees it */
	uint64_t stop_dropped;         /* dropped, as the stopper read it */
	pid_t tid;
	int sort; /* track order: workers, loop, others */
	char name[SPOOL__TRACE_NAME_MAX];
};

/* The calling thread's buffer (NULL until its first event). initial-exec:
 * the recording path reads it on every event, and the default model for a
 * shared library calls __tls_get_addr each time. The library is linked at
 * start-up (never dlopen'ed late), so its TLS is in the static block. */
extern _Thread_local struct spool__trace_buf *spool__trace_my_buf
	__attribute__((tls_model("initial-exec")));

static inline uint64_t spool__trace_code(int code)
{
	return (uint64_t)(int64_t)code;
}

/* Nonzero while a session records: the session's generation number
 * (1, 2, ...), 0 when off. Written only by start and stop. */
extern _Atomic uint64_t spool__trace_gen;

static inline bool spool__trace_on(void)
{
	/* Relaxed: the flag only selects a path. A thread that sees it late
	 * records into (or skips) a session whose edges are fuzzy by a few
	 * events anyway; the buffer protocol (buffer.c) keeps every such
	 * write safe. */
	return __builtin_expect(atomic_load_explicit(&spool__trace_gen,
						     memory_order_relaxed) != 0,
				0);
}

/* Appends one event stamped now to the calling thread's buffer (out of
 * line; call only after spool__trace_on()). */
void spool__trace_record(uint32_t kind, uint64_t id, uint64_t arg);

/* Appends one event with an explicit timestamp (a span measured by the
 * caller, e.g. a submission). */
void spool__trace_record_at(uint64_t ts, uint32_t kind, uint64_t id,
			    uint64_t arg);

/* The session clock's current raw ticks. */
uint64_t spool__trace_now(void);

/* The inline fast path of the hooks: the calling thread's buffer if it
 * records for the running session and has room for one more event, else
 * NULL. Everything else (the thread's first event of a session, a full
 * buffer, a session that just ended) goes out of line, through
 * spool__trace_record() / spool__trace_record_at(), which register the
 * buffer, count the drop, or skip the event. */
static inline struct spool__trace_buf *spool__trace_room(void)
{
	struct spool__trace_buf *b = spool__trace_my_buf;
	/* Relaxed, as in spool__trace_on(). b->gen and b->n are written only
	 * by this thread once its buffer exists (buffer.c). */
	uint64_t gen = atomic_load_explicit(&spool__trace_gen,
					    memory_order_relaxed);
	if (__builtin_expect(
		    b && b->gen == gen &&
			    atomic_load_explicit(&b->n, memory_order_relaxed) <
				    b->cap,
		    1))
		return b;
	return NULL;
}

/* Appends one event to b, which spool__trace_room() returned: the owner's
 * append of buffer.c's protocol. */
static inline void spool__trace_put(struct spool__trace_buf *b, uint64_t ts,
				    uint32_t kind, uint64_t id, uint64_t arg)
{
	/* Relaxed: this thread is the only writer of n. */
	size_t n = atomic_load_explicit(&b->n, memory_order_relaxed);
	struct spool__trace_ev *e = &b->ev[n];
	e->ts = ts;
	e->word = (id & SPOOL__TRACE_ID_MASK) | (uint64_t)kind << 56;
	e->arg = arg;
	/* Release: the record above is complete before the stopper's
	 * acquire load can count it. */
	atomic_store_explicit(&b->n, n + 1, memory_order_release);
}

/* Records one event stamped now (call only after spool__trace_on()). */
static inline void spool__trace_event(uint32_t kind, uint64_t id, uint64_t arg)
{
	struct spool__trace_buf *b = spool__trace_room();
	if (__builtin_expect(!b, 0)) {
		spool__trace_record(kind, id, arg);
		return;
	}
	uint64_t ts = spool__trace_ticks();
	b->last_ts = ts;
	spool__trace_put(b, ts, kind, id, arg);
}

/* Names the calling thread's track: "<prefix> <index>", or just prefix
 * when index < 0 ("worker 3", "loop"). Call once when the thread starts
 * serving (a pool worker at its start, the loop when it starts running),
 * whether or not tracing is on; it stores the name thread-locally (no lock,
 * no allocation) and, if this thread already records, renames its track. */
void spool__trace_thread_name(const char *prefix, int index);

/* ---- tasks ------------------------------------------------------------ */

/* The stamp of a submission starting now on this thread: the thread's
 * latest clock read in the session (its last recorded event's time), or a
 * fresh read if it has none; 0 when the event is to be skipped (no
 * session, or no buffer). Out of line; call only after
 * spool__trace_on(). */
uint64_t spool__trace_submit_ts(void);

/* A submission: t0 = spool__trace_submit_begin() before handing the task
 * to the executor, spool__trace_submit_end(t0, f) once f is known. Draws a
 * "submit" slice from t0 to the last event recorded inside it, with a flow
 * arrow to f's run. core's spool_submit_labeled() does this for every
 * executor.
 *
 * Precision: t0 is not a clock read but the time of the thread's previous
 * event (spool__trace_submit_ts()), so a submission is placed at or before
 * its real start, never after: within the code the thread ran since that
 * event (a few ns in a fork-join task, longer if a task computes a while
 * before it submits). That is all a flow arrow needs, an order: the run it
 * points to starts after the real submission, hence after t0. The end is
 * not stamped either. Of the four clock reads a fork-join pool task used
 * to cost (submit, run begin and end, one wait's begin and end per two
 * tasks), this saves one. */
static inline uint64_t spool__trace_submit_begin(void)
{
	if (!spool__trace_on())
		return 0;
	struct spool__trace_buf *b = spool__trace_room();
	if (b && b->last_ts)
		return b->last_ts;
	return spool__trace_submit_ts();
}

static inline void spool__trace_submit_end(uint64_t t0, const spool_future *f)
{
	if (t0 && f && spool__trace_on()) {
		struct spool__trace_buf *b = spool__trace_room();
		if (b)
			spool__trace_put(b, t0, SPOOL__TR_SUBMIT, f->id, 0);
		else
			spool__trace_record_at(t0, SPOOL__TR_SUBMIT, f->id, 0);
	}
}

/* The task of f starts running on this thread: right before its function
 * is called (for a coroutine: when it is first switched to). */
static inline void spool__trace_run_begin(const spool_future *f)
{
	if (spool__trace_on())
		spool__trace_event(SPOOL__TR_RUN_BEGIN, f->id,
				   (uint64_t)(uintptr_t)f->label);
}

/* The task of f returned rc (0, its error, SPOOL_ECANCELLED): right after
 * its function returns, before f is completed. */
static inline void spool__trace_run_end(const spool_future *f, int rc)
{
	if (spool__trace_on())
		spool__trace_event(SPOOL__TR_RUN_END, f->id,
				   spool__trace_code(rc));
}

/* This thread starts waiting for f, which was seen not done (blocking,
 * helping or suspending: core's spool_future_wait() records it for all). */
static inline void spool__trace_wait_begin(const spool_future *f)
{
	if (spool__trace_on())
		spool__trace_event(SPOOL__TR_WAIT_BEGIN, f->id,
				   (uint64_t)(uintptr_t)f->label);
}

/* The wait for f ended with rc (0, SPOOL_ETIMEDOUT, ...). */
static inline void spool__trace_wait_end(const spool_future *f, int rc)
{
	if (spool__trace_on())
		spool__trace_event(SPOOL__TR_WAIT_END, f->id,
				   spool__trace_code(rc));
}

/* ---- pool ------------------------------------------------------------- */

/* This worker stole the task of f from worker victim's deque. */
static inline void spool__trace_steal(const spool_future *f, int victim)
{
	if (spool__trace_on())
		spool__trace_event(SPOOL__TR_STEAL, f ? f->id : 0,
				   spool__trace_code(victim));
}

/* This worker is about to sleep (park), and has woken up. */
static inline void spool__trace_park_begin(void)
{
	if (spool__trace_on())
		spool__trace_event(SPOOL__TR_PARK_BEGIN, 0, 0);
}

static inline void spool__trace_park_end(void)
{
	if (spool__trace_on())
		spool__trace_event(SPOOL__TR_PARK_END, 0, 0);
}

/* This thread sends a wake-up to a parked worker (worker: its index, or -1
 * when the event count wakes whoever sleeps). */
static inline void spool__trace_wake(int worker)
{
	if (spool__trace_on())
		spool__trace_event(SPOOL__TR_WAKE, 0,
				   spool__trace_code(worker));
}

/* ---- loop ------------------------------------------------------------- */

/* The coroutine running the task of f suspends, waiting for why/target
 * (enum spool__trace_why): right before switching away from it. */
static inline void spool__trace_suspend(const spool_future *f, int why,
					uint64_t target)
{
	if (spool__trace_on())
		spool__trace_event(SPOOL__TR_SUSPEND, f->id,
				   (target & SPOOL__TRACE_ID_MASK) |
					   (uint64_t)(why & 0xff) << 56);
}

/* The coroutine of f is switched back to; rc is what its wait returns
 * (0, SPOOL_ETIMEDOUT, SPOOL_ECANCELLED). Right before the switch. */
static inline void spool__trace_resume(const spool_future *f, int rc)
{
	if (spool__trace_on())
		spool__trace_event(SPOOL__TR_RESUME, f->id,
				   spool__trace_code(rc));
}

/* A timer fired, late_ns after its deadline; f is the coroutine or future
 * it wakes (NULL for a bare callback). */
static inline void spool__trace_timer(const spool_future *f, int64_t late_ns)
{
	if (spool__trace_on())
		spool__trace_event(SPOOL__TR_TIMER, f ? f->id : 0,
				   (uint64_t)(late_ns < 0 ? 0 : late_ns));
}

/* One turn of the loop: iteration number n begins; it ends having run
 * `ran` callbacks and coroutine steps. */
static inline void spool__trace_iter_begin(uint64_t n)
{
	if (spool__trace_on())
		spool__trace_event(SPOOL__TR_ITER_BEGIN, 0, n);
}

static inline void spool__trace_iter_end(uint64_t n, int ran)
{
	(void)n; /* the turn's number is on its begin */
	if (spool__trace_on())
		spool__trace_event(SPOOL__TR_ITER_END, 0,
				   spool__trace_code(ran));
}

#endif /* SPOOL_TRACE_TRACE_H */
