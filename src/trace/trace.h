/* SPDX-License-Identifier: MIT */
/*
 * Trace hooks: the internal API through which core, the pool and the loop
 * record what they do (never installed; see src/trace/HOOKS.md for where
 * each hook goes).
 *
 * Every hook is a static inline function whose whole cost while no trace is
 * recording is spool__trace_on(): one relaxed load of a global word and a
 * branch the compiler lays out as not taken. Only when a session records
 * does a hook call out of line, into spool__trace_record(), which appends a
 * fixed-size record with a raw timestamp to the calling thread's buffer
 * (buffer.c). The recording path stays out of line on purpose: inlined
 * into the hooks, it lengthened the untraced path of the functions around
 * them (spool_submit(), spool_future_wait(): 2.4% more instructions in an
 * untraced fib(27) on the pool).
 * Nothing is formatted until spool_trace_stop() (writer.c).
 *
 * Hooks take the future itself where there is one (its id and label are
 * read from it) and plain integers otherwise. They never block, never
 * allocate except once per thread and session (the buffer), and may be
 * called from any thread, inside or outside tasks and coroutines.
 */
#ifndef SPOOL_TRACE_TRACE_H
#define SPOOL_TRACE_TRACE_H

#include <stdatomic.h>
#include <stdint.h>

#include "../core/future_impl.h"

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
	SPOOL__TR_USER_BEGIN, /* arg: the name pointer (spool_trace_begin) */
	SPOOL__TR_USER_END,
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

/* One event as the writer reads it. The kind shares a word with the
 * future id (ids are a process-wide counter, far below 2^56), and the one
 * other field holds whatever the kind needs: a label pointer, a duration,
 * a target, or a result code (sign-extended, see spool__trace_code()). A
 * SUSPEND packs its reason into the top byte of the target. */
struct spool__trace_ev {
	uint64_t ts;   /* raw ticks of the session's clock (clock.c) */
	uint64_t word; /* kind << 56 | future id (or 0) */
	uint64_t arg;  /* by kind: see the hook that records it */
};

/* How a buffer stores it: one 16-byte slot {ts, word} when arg is 0, which
 * is most events (no label, a zero result), and a second slot whose first
 * word is arg otherwise, marked by SPOOL__TRACE_HAS_ARG in the word. Every
 * byte saved is a byte the kernel need not zero: a long trace's cost is
 * mostly fresh memory (a third less than with fixed 24-byte records). */
struct spool__trace_slot {
	uint64_t ts;
	uint64_t word;
};

#define SPOOL__TRACE_ID_MASK ((UINT64_C(1) << 56) - 1)
#define SPOOL__TRACE_HAS_ARG (UINT64_C(1) << 63)

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

/* ---- reusing a clock read ----------------------------------------------
 *
 * A clock read is most of what an event costs: on a virtual machine rdtsc
 * may cost a fair part of a whole fork-join task, and in a profile of the
 * traced fib benchmark the clock read dominates the recording path. So
 * the two events that usually
 * follow another one after nothing but spool's own bookkeeping take that
 * event's stamp instead of reading the clock:
 *   - a pool worker's run of a task popped from its own deque, right after
 *     the run before it ended or the wait it helps in began
 *     (spool__trace_run_begin_local());
 *   - the end of a wait, right after the helped run, the resumption or the
 *     wake-up that ended it (spool__trace_wait_end()).
 *
 * spool__trace_fresh says whether that is allowed: true means that since
 * this thread's latest clock read it has run only bookkeeping: no user
 * code, nothing that can block, spin or sleep. Every clock read sets it;
 * spool__trace_stale() clears it, and is called wherever that stops
 * being true: before running done-callbacks or waking waiters (core's
 * completion), before blocking (spool__future_block()), when a helping
 * worker spins, when a worker takes injected tasks, after a wake-up's
 * system call is stamped, and when a coroutine suspends. Between a run's
 * begin and end the user's code runs, but every way back into a reusing
 * event passes a clock read first (a run's end, a wait's begin).
 *
 * Precision: a reused stamp is early by the bookkeeping in between (the
 * completion of the previous task and a deque pop, or the check that
 * ends a wait): tens of nanoseconds, so back-to-back runs are drawn
 * touching. Order is kept: a popped task was submitted by this thread,
 * whose submission stamp (the latest read then) is no later than any
 * read since; a task taken from elsewhere (stolen: the steal itself is
 * stamped; injected: the stamp is stale) always gets a fresh read. */
extern _Thread_local bool spool__trace_fresh
	__attribute__((tls_model("initial-exec")));

static inline void spool__trace_stale(void)
{
	if (spool__trace_on())
		spool__trace_fresh = false;
}

/* As spool__trace_record(), stamped with the thread's latest clock read if
 * spool__trace_fresh allows it. Out of line; call only after
 * spool__trace_on(). */
void spool__trace_record_reuse(uint32_t kind, uint64_t id, uint64_t arg);

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
	return spool__trace_on() ? spool__trace_submit_ts() : 0;
}

static inline void spool__trace_submit_end(uint64_t t0, const spool_future *f)
{
	if (t0 && f && spool__trace_on())
		spool__trace_record_at(t0, SPOOL__TR_SUBMIT, f->id, 0);
}

/* The task of f starts running on this thread: right before its function
 * is called (for a coroutine: when it is first switched to). */
static inline void spool__trace_run_begin(const spool_future *f)
{
	if (spool__trace_on())
		spool__trace_record(SPOOL__TR_RUN_BEGIN, f->id,
				    (uint64_t)(uintptr_t)f->label);
}

/* As spool__trace_run_begin(), for a pool worker; local: it popped the
 * task from its own deque, so the run is stamped with the worker's latest
 * clock read when that is still fresh (see above). One branch while off,
 * as every hook. */
static inline void spool__trace_run_begin_local(const spool_future *f,
						bool local)
{
	if (spool__trace_on()) {
		if (local)
			spool__trace_record_reuse(
				SPOOL__TR_RUN_BEGIN, f->id,
				(uint64_t)(uintptr_t)f->label);
		else
			spool__trace_record(SPOOL__TR_RUN_BEGIN, f->id,
					    (uint64_t)(uintptr_t)f->label);
	}
}

/* The task of f returned rc (0, its error, SPOOL_ECANCELLED): right after
 * its function returns, before f is completed. */
static inline void spool__trace_run_end(const spool_future *f, int rc)
{
	if (spool__trace_on())
		spool__trace_record(SPOOL__TR_RUN_END, f->id,
				    spool__trace_code(rc));
}

/* This thread starts waiting for f, which was seen not done (blocking,
 * helping or suspending: core's spool_future_wait() records it for all). */
static inline void spool__trace_wait_begin(const spool_future *f)
{
	if (spool__trace_on())
		spool__trace_record(SPOOL__TR_WAIT_BEGIN, f->id,
				    (uint64_t)(uintptr_t)f->label);
}

/* The wait for f ended with rc (0, SPOOL_ETIMEDOUT, ...). Stamped with
 * the thread's latest clock read when that is still fresh (see above): a
 * helping wait that ends right after a run, a coroutine's wait right after
 * its resumption. */
static inline void spool__trace_wait_end(const spool_future *f, int rc)
{
	if (spool__trace_on())
		spool__trace_record_reuse(SPOOL__TR_WAIT_END, f->id,
					  spool__trace_code(rc));
}

/* ---- pool ------------------------------------------------------------- */

/* This worker stole the task of f from worker victim's deque. */
static inline void spool__trace_steal(const spool_future *f, int victim)
{
	if (spool__trace_on())
		spool__trace_record(SPOOL__TR_STEAL, f ? f->id : 0,
				    spool__trace_code(victim));
}

/* This worker is about to sleep (park), and has woken up. */
static inline void spool__trace_park_begin(void)
{
	if (spool__trace_on())
		spool__trace_record(SPOOL__TR_PARK_BEGIN, 0, 0);
}

static inline void spool__trace_park_end(void)
{
	if (spool__trace_on())
		spool__trace_record(SPOOL__TR_PARK_END, 0, 0);
}

/* This thread sends a wake-up to a parked worker (worker: its index, or -1
 * when the event count wakes whoever sleeps). */
static inline void spool__trace_wake(int worker)
{
	if (spool__trace_on()) {
		spool__trace_record(SPOOL__TR_WAKE, 0,
				    spool__trace_code(worker));
		spool__trace_fresh = false; /* the system call comes next */
	}
}

/* ---- loop ------------------------------------------------------------- */

/* The coroutine running the task of f suspends, waiting for why/target
 * (enum spool__trace_why): right before switching away from it. */
static inline void spool__trace_suspend(const spool_future *f, int why,
					uint64_t target)
{
	if (spool__trace_on())
		spool__trace_record(SPOOL__TR_SUSPEND, f->id,
				    (target & SPOOL__TRACE_ID_MASK) |
					    (uint64_t)(why & 0xff) << 56);
}

/* The coroutine of f is switched back to; rc is what its wait returns
 * (0, SPOOL_ETIMEDOUT, SPOOL_ECANCELLED). Right before the switch. */
static inline void spool__trace_resume(const spool_future *f, int rc)
{
	if (spool__trace_on())
		spool__trace_record(SPOOL__TR_RESUME, f->id,
				    spool__trace_code(rc));
}

/* A timer fired, late_ns after its deadline; f is the coroutine or future
 * it wakes (NULL for a bare callback). */
static inline void spool__trace_timer(const spool_future *f, int64_t late_ns)
{
	if (spool__trace_on())
		spool__trace_record(SPOOL__TR_TIMER, f ? f->id : 0,
				    (uint64_t)(late_ns < 0 ? 0 : late_ns));
}

/* One turn of the loop: iteration number n begins; it ends having run
 * `ran` callbacks and coroutine steps. */
static inline void spool__trace_iter_begin(uint64_t n)
{
	if (spool__trace_on())
		spool__trace_record(SPOOL__TR_ITER_BEGIN, 0, n);
}

static inline void spool__trace_iter_end(uint64_t n, int ran)
{
	(void)n; /* the turn's number is on its begin */
	if (spool__trace_on())
		spool__trace_record(SPOOL__TR_ITER_END, 0,
				    spool__trace_code(ran));
}

#endif /* SPOOL_TRACE_TRACE_H */
