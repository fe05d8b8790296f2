/* SPDX-License-Identifier: MIT */
/**
 * @file
 * @brief Tracing: see the concurrency.
 *
 * While a trace is being recorded, every thread that touches spool records
 * what it does into a buffer of its own: each task's run (begin and end,
 * with its future's id and the label given to spool_submit_labeled()), each
 * submission (with an arrow to the run it caused), steals, parks and
 * wake-ups of pool workers, suspensions and resumptions of loop coroutines
 * with what they waited on, timer firings, loop iterations, and every wait
 * that did not find its future already done (combinators wait this way, so
 * their waits appear under the label of the future they wait on).
 *
 * spool_trace_stop() writes the buffers as one file in the Chrome
 * trace-event JSON format, which ui.perfetto.dev and chrome://tracing open
 * as a timeline: one track per thread, named by "thread_name" metadata
 * events ("worker 0", "loop", "main", or a name given with
 * spool_trace_thread_name()), task runs as slices, instants for steals,
 * wake-ups and suspensions, and flow arrows (bind_id, flow_out/flow_in)
 * from each submission to its run. compare/trace/ turns such a file into an
 * SVG timeline.
 *
 * Two ways to record:
 *   - set SPOOL_TRACE=path.json in the environment: the variable is read
 *     once, when the library is loaded (a constructor function, before
 *     main), and the trace is written when the process exits normally
 *     (atexit), unless the program stopped it earlier. SPOOL_TRACE_EVENTS=n
 *     sets the per-thread buffer size in events. A bad path is reported on
 *     stderr and nothing is recorded.
 *   - call spool_trace_start() and spool_trace_stop() around the part to
 *     record. Sessions may follow each other; only one runs at a time.
 *
 * Cost. Off, each hook is one relaxed load of a global flag and a branch
 * predicted not taken. On, an event is a record of 16 bytes (32 when it
 * carries a label, a nonzero result or another argument) with a raw
 * timestamp (the invariant TSC on x86-64, the generic timer on aarch64,
 * CLOCK_MONOTONIC elsewhere) appended to the thread's own buffer, with no
 * lock and no formatting; the JSON is produced at stop. A thread
 * registers its buffer once per session, under a lock, at its first event.
 * spool-bench-trace measures the cost on the pool's fib.
 *
 * Memory committed at start. So that page faults are not charged to the
 * recorded work, spool_trace_start() prepares one buffer per thread
 * expected to record (each live pool worker, loop or thread named with
 * spool_trace_thread_name(), or one per online CPU if that is more, plus
 * one for the caller) and commits the first 24 MiB of each (1.5 million
 * events without an argument), at most 256 MiB in all; the first threads
 * to record take them. Buffers
 * no thread took are released at stop.
 *
 * Precision. Runs, waits, parks, steals, wake-ups, suspensions, timers and
 * loop turns are stamped with a clock read of their own, with two
 * exceptions that save a read (on virtual machines it costs 10 to 20 ns):
 * a pool worker's run of a task from its own deque that directly follows
 * its previous run (or the start of the wait it helps in), and the end of
 * a wait that directly follows a run, resumption or wake-up, take that
 * event's stamp. They are then early by spool's own bookkeeping in between
 * (completing a task, a deque pop: tens of nanoseconds), never across a
 * callback, a sleep or a spin. A submission is stamped with its thread's
 * previous clock read (its last event): at or before the real submission,
 * never after it, so the run its arrow points to always starts later;
 * within the code the thread ran since that event.
 *
 * Bounded buffers. Each thread's buffer holds a fixed number of events
 * (spool_trace_options.events_per_thread). When it is full the NEWEST events
 * are dropped and counted, so the beginning of the run stays intact; the
 * count is reported on stderr at stop, in the file's "metadata" and by
 * spool_trace_stats_get(). Slices whose end was dropped are closed at the
 * thread's last recorded event and marked "truncated".
 *
 * User slices. spool_trace_begin() and spool_trace_end() add slices of
 * the program's own ("parsing", "holds the lock") to its thread's track,
 * nested with spool's.
 *
 * Labels. The trace stores the label pointer and reads the string when it
 * writes the file, so a label must stay valid until spool_trace_stop()
 * returns (string literals always do).
 *
 * Thread safety: every function here may be called from any thread. In
 * particular spool_trace_stop() is safe while other threads are still
 * running tasks and recording: events they record after the stop are not
 * part of the file, and their buffers are never freed under them (see
 * src/trace/buffer.c for the protocol).
 */
#ifndef SPOOL_TRACE_H
#define SPOOL_TRACE_H

#include "spool/common.h"
#include "spool/error.h"
#include "spool/executor.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Session options. Start from SPOOL_TRACE_OPTIONS_INIT so that fields added
 * later get their defaults. */
typedef struct spool_trace_options {
	/** Capacity of each thread's buffer, in events. 0: the default,
	 * SPOOL_TRACE_DEFAULT_EVENTS. Memory is reserved up front (32 bytes
	 * per event; most events use 16), committed at start up to the
	 * limits above and by the kernel as events fill the rest, and
	 * handed back at stop. */
	size_t events_per_thread;
	/** true: time events with CLOCK_MONOTONIC even where a cheaper
	 * invariant cycle counter exists. */
	bool monotonic_clock;
} spool_trace_options;

/** The default of spool_trace_options.events_per_thread. */
#define SPOOL_TRACE_DEFAULT_EVENTS ((size_t)1 << 20)
/** The defaults of spool_trace_options: initialize every options struct
 * with it. */
#define SPOOL_TRACE_OPTIONS_INIT                                               \
	{                                                                      \
		0, false                                                       \
	}

/** Starts recording into a new session that spool_trace_stop() writes to
 * path. The file is created (truncated) now, so that a bad path is
 * reported at once: SPOOL_ESYS when it cannot be opened for writing
 * (missing directory, no permission), and nothing is recorded.
 * Also SPOOL_EINVAL (NULL or empty path), SPOOL_ESTATE (a session is
 * already recording: it goes on untouched), SPOOL_ENOMEM.
 * path is copied; the caller keeps ownership. Thread-safe; does not block
 * beyond a mutex and opening the file. */
SPOOL_API int spool_trace_start(const char *path);

/** As spool_trace_start(), with options (NULL means the defaults). */
SPOOL_API int spool_trace_start_opts(const char *path,
				     const spool_trace_options *opts);

/** Stops recording and writes the session's file, then hands the buffers'
 * memory back (the buffers of threads that exited during the session are
 * freed here). Returns 0, or SPOOL_ESYS when writing the file failed (the
 * session is over either way). Without a running session it does nothing
 * and returns 0: calling it twice, or without start, is harmless.
 * If events were dropped, prints one line per affected thread on stderr.
 * Thread-safe; safe while other threads record (their later events are
 * simply not in the file). Blocks while the file is written. */
SPOOL_API int spool_trace_stop(void);

/** True while a session is recording. A snapshot; never blocks. */
SPOOL_API bool spool_trace_enabled(void);

/** Names the calling thread's track in traces ("main", "submitter 2"...).
 * Worker and loop threads are named by spool itself ("worker 0", "loop").
 * Takes effect for the current session too; the name is copied (at most
 * 31 bytes are kept). Returns 0 or SPOOL_EINVAL (NULL or empty name).
 * Cheap; may be called whether or not a session is recording. */
SPOOL_API int spool_trace_thread_name(const char *name);

/** ---- user slices -------------------------------------------------------
 *
 * A program marks phases of its own on the timeline: spool_trace_begin()
 * opens a slice named name on the calling thread's track, and
 * spool_trace_end() closes the innermost one this thread has open. In the
 * file each is a complete event ("X") with "cat":"user", drawn nested
 * with spool's own slices: inside the task run or wait that was open when
 * it began, around the runs, waits and submissions recorded while it is
 * open. Inside a loop coroutine a slice follows the coroutine, like its
 * waits: it is split at each suspension and reopened at the resumption.
 *
 * Pairing. Ends match begins last-in first-out, per thread (per coroutine
 * on the loop's thread). A slice must close inside the slice of spool's
 * that was open when it began:
 *   - a user slice still open when that run or wait ends is closed there
 *     and marked "truncated" in its args (spool's slice is never cut);
 *   - an end with no user slice open directly inside the innermost slice
 *     of spool's (never begun, begun before the session, already closed
 *     as above, or begun outside the run that ends it) is ignored: nothing
 *     is drawn for it and it is counted in the file's
 *     metadata.unmatched_ends, so the file always nests;
 *   - a slice still open at spool_trace_stop() ends at the stop, marked
 *     "unfinished".
 * Both calls are recorded as they come; the pairing is done when the file
 * is written, so an unbalanced end is never an error and never aborts.
 *
 * Cost. Without a session, each call is a function call that loads one
 * global flag and takes a branch predicted not taken: nothing is recorded
 * and no memory is touched. While recording, one event (begin: 32 bytes
 * with its name; end: 16) in the thread's own buffer, with one clock read,
 * no lock and no allocation (except a thread's first event of a session,
 * as for every event).
 *
 * name: not copied. As for task labels, the trace stores the pointer and
 * reads the string when it writes the file, so it must stay valid until
 * spool_trace_stop() returns: a string literal, or storage that outlives
 * the session. NULL is drawn as "slice". Any bytes are safe: the writer
 * escapes them and replaces invalid UTF-8.
 *
 * Thread safety: any thread, inside or outside tasks and coroutines.
 * Never blocks. */
SPOOL_API void spool_trace_begin(const char *name);

/** Closes the calling thread's innermost open user slice (see above for
 * the pairing rules and what an unbalanced end does). Thread-safe, never
 * blocks; without a session it records nothing. */
SPOOL_API void spool_trace_end(void);

/** What the last finished session recorded. */
typedef struct spool_trace_stats {
	uint64_t events;   /**< records taken from the buffers: a begin and its
			      end are two records, drawn as one slice */
	uint64_t dropped;  /**< events dropped because a buffer was full */
	uint32_t threads;  /**< threads (tracks) that recorded */
	uint32_t sessions; /**< sessions finished by this process */
} spool_trace_stats;

/** Fills *out with the figures of the last session that
 * spool_trace_stop() finished (all zero before the first). Returns 0 or
 * SPOOL_EINVAL (NULL out). Thread-safe; never blocks beyond a mutex. */
SPOOL_API int spool_trace_stats_get(spool_trace_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* SPOOL_TRACE_H */
