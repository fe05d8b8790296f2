/* SPDX-License-Identifier: MIT */
/**
 * @file
 * @brief Debug mode: reports of what is legal but probably a mistake, as
 * asyncio's debug mode (PYTHONASYNCIODEBUG=1, loop.set_debug(True)).
 *
 * Debug mode is off unless the environment has SPOOL_DEBUG set to a value
 * other than empty or "0" when spool first looks (once, at the first
 * check, from whichever thread makes it), or spool_debug_set(true) turns
 * it on. Off, it costs one test and a branch that always goes the same
 * way, where it costs anything: on the flag (a relaxed load) once per loop
 * iteration and before a thread blocks, and on the future's state word,
 * already loaded, when an error is read or a future freed; the paths of
 * loop callbacks and coroutine switches are unchanged. On, spool
 * reports:
 *
 *   - SPOOL_DEBUG_SLOW: a loop callback, a done-callback run on the loop,
 *     or one step of a coroutine (from its start or resumption to its
 *     next suspension or end) that held the loop's thread longer than
 *     the slow threshold (100 ms unless spool_debug_set_slow_duration()
 *     says otherwise), as asyncio's "Executing <Handle> took 0.2
 *     seconds". The report names the callback's address (callback) or
 *     the task's id and label, and the time it took (duration_ns). Timing
 *     each step costs the loop two clock reads per callback, and
 *     coroutines then always switch through the scheduler.
 *   - SPOOL_DEBUG_WRONG_THREAD: a call that belongs to a loop's thread
 *     made from another thread. While the loop runs elsewhere, these
 *     calls are already refused (SPOOL_EINVAL) or abort (spool/loop.h);
 *     debug mode also reports the refusals, which a caller that ignores
 *     the return value would never see. While the loop is not running
 *     such a call is legal (one thread at a time), and debug mode reports
 *     the two cases that are probably not what was meant: the calling
 *     thread runs a different loop (asyncio's "Non-thread-safe operation
 *     invoked on an event loop other than the current one"), or the loop
 *     has coroutines suspended on another thread, the only one that may
 *     run it again, so the call races with that thread's next run.
 *   - SPOOL_DEBUG_UNRETRIEVED: a future that ended FAILED and whose last
 *     reference was released while nobody had read its error, as
 *     asyncio's "Task exception was never retrieved". Reading it means
 *     spool_future_error() or spool_future_result() (which calls it), or
 *     a combinator that takes the failure over: a gather (which reads
 *     every child, as asyncio.gather does, whether it fails fast or
 *     returns errors), a map, wait_for, a task group's join,
 *     run_in_executor's future. spool_future_wait() does not read it (it
 *     returns 0 whatever the outcome), nor do spool_wait(), as_completed
 *     or a state check, as asyncio.wait does not. Only failures that
 *     happen while debug mode is on are followed; a CANCELLED future is
 *     never reported. The report gives the future's id, label and error.
 *   - SPOOL_DEBUG_HOPELESS_WAIT: a blocking wait that nothing can end
 *     while the calling thread waits: on a loop's thread outside a
 *     coroutine (such a wait returns SPOOL_EDEADLK at once: the report
 *     makes an ignored refusal visible); a wait, without or with a
 *     deadline, by a thread on a task of a loop stranded on that very
 *     thread (spool/future.h, "Waiting": SPOOL_EDEADLK without a
 *     deadline, a certain timeout with one); and a wait by a plain thread
 *     on a loop task whose loop no thread is running. That last one is
 *     looked at once the wait has blocked 100 ms, so that a thread that
 *     is just about to start the loop is not reported: if the loop still
 *     is not running then, the report is made and the wait goes on. A
 *     pool task's wait on such a loop task is reported the same way,
 *     once its worker has found nothing else to run for 100 ms (the
 *     worker runs other tasks meanwhile, as it always does). What each
 *     wait returns is unchanged.
 *
 * Reports go to the sink: by default one line on stderr per report,
 * "spool debug: <message>", or the function given to
 * spool_debug_set_sink(). A report is made on the thread that notices
 * it (the loop's, the releasing thread's, the waiting thread's).
 */
#ifndef SPOOL_DEBUG_H
#define SPOOL_DEBUG_H

#include "spool/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What a debug report is about (see the top of this header). */
typedef enum spool_debug_kind {
	SPOOL_DEBUG_SLOW = 1,         /**< a callback or step held the loop */
	SPOOL_DEBUG_WRONG_THREAD = 2, /**< a loop's call from another thread */
	SPOOL_DEBUG_UNRETRIEVED = 3,  /**< a failure nobody read */
	SPOOL_DEBUG_HOPELESS_WAIT = 4 /**< a wait nothing can end */
} spool_debug_kind;

/** One report, as the sink gets it. Every pointer in it is borrowed for
 * the duration of the sink's call. Fields that do not apply to the kind
 * are 0 or NULL. */
typedef struct spool_debug_report {
	/** What is reported. */
	spool_debug_kind kind;
	/** The whole report as one line, without the "spool debug: "
	 * prefix or a newline: what the default sink prints. */
	const char *message;
	/** The public function the report is about ("spool_loop_call_soon",
	 * "spool_future_wait", "spool_future_release"), or NULL (SLOW). */
	const char *function;
	/** The future concerned (the task of a SLOW coroutine step, the
	 * failed future, the awaited future), or 0. */
	uint64_t future_id;
	/** That future's label (spool_submit_labeled), or NULL. */
	const char *label;
	/** UNRETRIEVED: the error nobody read. WRONG_THREAD and
	 * HOPELESS_WAIT: what the call returns when it refuses
	 * (SPOOL_EINVAL, SPOOL_EDEADLK), or 0 when it goes on. */
	int error;
	/** SLOW: how long the callback or step held the loop. */
	int64_t duration_ns;
	/** SLOW: the loop callback (spool_loop_callback_fn) or done-callback
	 * (spool_callback_fn) that ran, as a generic function pointer; NULL
	 * for a coroutine step. */
	void (*callback)(void);
} spool_debug_report;

/** Receives each report; arg is the one given to spool_debug_set_sink().
 * Reports are handed over one at a time, under a lock of spool's (from any
 * thread), so the sink needs no locking of its own. It must not block for
 * long or wait for another thread that may be making a report, and of
 * spool's functions it should call only spool_debug_set_sink() and the
 * debug-mode switches: a report may be made at a point where spool is in
 * the middle of an operation (freeing a future, running the loop). */
typedef void (*spool_debug_sink_fn)(const spool_debug_report *report,
				    void *arg);

/** Turns debug mode on or off for the whole process, overriding
 * SPOOL_DEBUG. Checks in flight on other threads may still see the old
 * setting for a moment. Any thread; never blocks. */
SPOOL_API void spool_debug_set(bool on);

/** True while debug mode is on (after looking at SPOOL_DEBUG if nothing
 * has yet). Any thread; never blocks. */
SPOOL_API bool spool_debug_enabled(void);

/** Sets the slow threshold: a loop callback or coroutine step that takes
 * ns nanoseconds or longer is reported (asyncio's
 * loop.slow_callback_duration); the default is 100 ms. Returns 0, or
 * SPOOL_EINVAL for a negative ns (nothing changes). Any thread; the loop
 * reads it once per iteration. Never blocks. */
SPOOL_API int spool_debug_set_slow_duration(int64_t ns);

/** The slow threshold in nanoseconds. Any thread; never blocks. */
SPOOL_API int64_t spool_debug_slow_duration(void);

/** Sends reports to fn(report, arg) instead of stderr; NULL fn restores the
 * default (one line on stderr). arg is the caller's, passed through. Once
 * this returns, the previous sink is not running and is not called again,
 * so its arg may be freed. Any thread; blocks while a report is being
 * handed to the previous sink. */
SPOOL_API void spool_debug_set_sink(spool_debug_sink_fn fn, void *arg);

#ifdef __cplusplus
}
#endif

#endif /* SPOOL_DEBUG_H */
