/* SPDX-License-Identifier: MIT */
/**
 * @file
 * @brief The event loop and its coroutines: spool's asyncio.
 *
 * A loop runs on one thread. Each iteration, like asyncio's _run_once(),
 * waits in epoll until a descriptor is ready, a timer is due or another
 * thread wakes it, moves what became ready to the ready queue, and then runs
 * the callbacks that were in the ready queue when the iteration began;
 * callbacks they add run in the next iteration, so a callback that keeps
 * rescheduling itself cannot starve timers or I/O.
 *
 * spool_submit() on spool_loop_executor() starts a task as a stackful
 * coroutine: the same spool_task_fn that a pool runs on a thread. Inside a
 * coroutine every wait suspends the coroutine instead of the thread:
 * spool_future_wait() and every combinator, spool_sleep(),
 * spool_wait_readable() and spool_wait_writable(). Outside a coroutine the
 * same calls block the thread (spool_sleep() is then time.sleep where in a
 * coroutine it is asyncio.sleep), except on the loop's own thread, where a
 * wait that only the loop could end returns SPOOL_EDEADLK instead of hanging.
 *
 * Threads: a loop is not thread-safe except where stated. Its functions are
 * called on the thread that runs it (or, while it is not running, by one
 * thread at a time). While the loop runs they check this: called from
 * another thread, those that return an int return SPOOL_EINVAL and change
 * nothing, and those that cannot answer (spool_loop_stop(),
 * spool_loop_destroy(), spool_handle_cancelled(), spool_handle_release())
 * abort with a message. The calls that are safe from any thread are
 * spool_loop_call_soon_threadsafe(), spool_submit() on the loop's executor
 * (asyncio.run_coroutine_threadsafe), spool_loop_run_in_executor(),
 * spool_loop_is_running(), spool_loop_time(), spool_loop_current() and
 * spool_handle_when(); spool_future_cancel() on a loop task, like every
 * future call, is also safe anywhere. A coroutine never migrates between
 * threads: a loop with suspended coroutines may only run on the thread that
 * started them.
 *
 * Destroyed loops: calls from other threads may overlap
 * spool_loop_destroy(). From the moment destroy begins they are refused
 * with SPOOL_ESHUTDOWN (a submission gets a future FAILED with it), and
 * destroy waits for the calls already under way, which it then handles as
 * described there, before it frees anything. A call made after destroy has
 * returned, from any thread, is a caller bug: the memory of a destroyed
 * loop is kept (never given back, only reused by later loops), so such a
 * call aborts with "the loop was destroyed" as long as fewer than 16 other
 * loops have been destroyed after it; once more have, its memory may be a
 * new loop, which the call would reach instead.
 *
 * So a loop that its thread leaves (spool_loop_run() returns) with
 * coroutines suspended is stranded on that thread until the thread runs or
 * destroys it again: its tasks, suspended or submitted and not started,
 * cannot move meanwhile. A wait without a deadline on that thread for one
 * of them, or for a combinator or group that needs one, returns
 * SPOOL_EDEADLK instead of hanging (spool/future.h, "Waiting"); with a
 * deadline it times out. Other threads' waits on them block as usual, and
 * so does a wait on the tasks of a loop with no coroutine suspended (any
 * thread may run it next). A task that has not started could also be
 * ended by a cancel from another thread: the stranded thread's wait does
 * not count on that.
 *
 * Coroutine stacks are mmap'd with a guard region below each (a coroutine
 * that overflows its stack dies with SIGSEGV), commit memory only where they
 * are touched (a sleeping coroutine typically costs one 4 KiB page), and are
 * recycled when a coroutine finishes. With SPOOL_LOOP_SHARED_STACK all of a
 * loop's coroutines share one such stack and a suspended one keeps only
 * the bytes it used, in a heap buffer (see that flag for the rule it
 * imposes on pointers to local variables).
 */
#ifndef SPOOL_LOOP_H
#define SPOOL_LOOP_H

#include "spool/common.h"
#include "spool/error.h"
#include "spool/executor.h"
#include "spool/future.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An event loop (opaque). */
typedef struct spool_loop spool_loop;

/** A scheduled callback (asyncio's Handle / TimerHandle): a reference the
 * caller may keep to cancel the callback. Its calls are loop thread only,
 * like the loop's, except spool_handle_when(). */
typedef struct spool_handle spool_handle;

/** A loop callback: runs on the loop's thread with the argument given when it
 * was scheduled. It may schedule more callbacks, submit tasks, complete
 * futures or stop the loop. It must not block for long; a wait inside it
 * (outside any coroutine) that only the loop could end, on a future or on
 * a descriptor with a timeout, returns SPOOL_EDEADLK (spool_sleep()
 * blocks the thread). */
typedef void (*spool_loop_callback_fn)(spool_loop *loop, void *arg);

/* ---- creating and running --------------------------------------------- */

enum {
	/** Time the epoll wait with a timerfd even where epoll_pwait2 (Linux
	 * 5.11) is available; the loop falls back to it by itself when the
	 * kernel lacks epoll_pwait2. Both give sub-millisecond timers;
	 * epoll_pwait2's timeout is stretched by the thread's timer slack
	 * (50 us by default, prctl PR_SET_TIMERSLACK) and a timerfd's is
	 * not, at the price of a timerfd_settime call whenever the earliest
	 * deadline changes. */
	SPOOL_LOOP_TIMERFD = 1u,
	/** Run every coroutine of this loop on one shared stack, as libaco
	 * does, instead of a stack of its own: when a coroutine must make
	 * room for another, the part of the shared stack it uses (from its
	 * stack pointer to the top) is copied to a heap buffer of that size,
	 * and copied back before it resumes. A suspended coroutine then
	 * costs its used stack bytes (typically a few hundred) instead of
	 * at least one 4 KiB page, at the price of a copy each way whenever
	 * the coroutine that resumes is not the last one that ran. The rule
	 * it imposes: the address of a coroutine's local variable is valid
	 * only while that coroutine runs. It must not be handed to another
	 * coroutine, callback or thread that uses it while its owner is
	 * suspended (at that moment another coroutine's frames occupy that
	 * address); pass heap memory instead. A future's value or a pointer
	 * used only by the coroutine itself is unaffected. stack_size is the
	 * size of the one shared stack. */
	SPOOL_LOOP_SHARED_STACK = 2u
};

/** Creation options for spool_loop_create(). Always start from
 * SPOOL_LOOP_OPTIONS_INIT so that fields added later get their defaults. */
typedef struct spool_loop_options {
	/** Usable bytes of each coroutine stack, rounded up to whole pages;
	 * 0: the default, 64 KiB (256 KiB in sanitizer builds, whose frames
	 * are larger). Less than 16 KiB or more than 1 GiB is SPOOL_EINVAL.
	 * Only touched pages cost memory. */
	size_t stack_size;
	/** How many finished coroutines' stacks stay committed for reuse
	 * before the loop gives their memory back; 0: the default, 1024. */
	size_t stack_cache;
	/** SPOOL_LOOP_* flags; 0 for the defaults. */
	unsigned flags;
} spool_loop_options;

/** The defaults of spool_loop_options: initialize every options struct
 * with it. */
/* clang-format off */
#define SPOOL_LOOP_OPTIONS_INIT                                                \
	{                                                                      \
		0, 0, 0                                                        \
	}
/* clang-format on */

/** Creates a loop; *out gets it. opts NULL means the defaults. Returns 0,
 * SPOOL_EINVAL (NULL out, bad options), SPOOL_ENOMEM, or SPOOL_ESYS (epoll,
 * eventfd or timerfd could not be created; *out is then NULL). Any thread;
 * the loop is not bound to it. Never blocks. */
SPOOL_API int spool_loop_create(spool_loop **out,
				const spool_loop_options *opts);

/** Destroys the loop. Every task still alive is cancelled and run to
 * completion first, as asyncio.run() does on exit: a task that never
 * started ends CANCELLED without running, a suspended one resumes with
 * SPOOL_ECANCELLED from its await, and while the loop is being destroyed
 * every further await returns SPOOL_ECANCELLED at once, so each task
 * finishes unless it loops without awaiting. While tasks finish, the
 * loop iterates as usual (ready callbacks run, timers fire). Callbacks
 * and timers still pending after the last task has finished are discarded
 * unrun (asyncio's close()), except done-callbacks of futures, which
 * always run exactly once (here, if they were already on their way to the
 * loop). Handles the caller still holds stay valid until released; those
 * of callbacks destroy dropped report cancelled. Futures the caller holds
 * stay valid. Frees every descriptor and stack the loop owns (its memory
 * is kept: see "Destroyed loops" above).
 * Other threads: calls from them that began before destroy are finished
 * first (a task submitted so is cancelled unstarted, a callback runs or
 * is discarded as above); later ones are refused with SPOOL_ESHUTDOWN
 * until destroy returns, after which they must stop calling.
 * Call it on the loop's thread (the thread that started its suspended
 * coroutines, if any), not from inside the loop (a callback or coroutine),
 * not while another thread runs the loop, and only once: these are caller
 * bugs and abort with a message. NULL is a no-op. */
SPOOL_API void spool_loop_destroy(spool_loop *loop);

/** Runs the loop until spool_loop_stop() (asyncio's run_forever). If stop
 * was called before, runs one iteration and returns. The calling thread
 * becomes the loop's thread while it runs. Returns 0; SPOOL_EINVAL for
 * NULL; SPOOL_ESTATE when this loop (on this thread or another), or
 * another loop on this thread, is already running (the loop is not
 * re-entrant). Running it on a thread other than the one that started its
 * suspended coroutines is a caller bug and aborts. Blocks. */
SPOOL_API int spool_loop_run(spool_loop *loop);

/** Runs the loop until f is final, then returns f's outcome: 0 when DONE
 * (read the value with spool_future_value()), the task's error when
 * FAILED, SPOOL_ECANCELLED when CANCELLED. f may be any future (a loop
 * task, a pool task, a promise); it is borrowed. Returns at once, without
 * running the loop, if f is already final. Returns SPOOL_EAGAIN if the loop
 * was stopped before f completed (f is untouched), SPOOL_EINVAL for NULL,
 * SPOOL_ESTATE as spool_loop_run(), SPOOL_ENOMEM. Blocks. */
SPOOL_API int spool_loop_run_until_complete(spool_loop *loop, spool_future *f);

/** Asks the loop to return from spool_loop_run() after the current
 * iteration (asyncio's stop). Loop thread only (from another thread while
 * the loop runs it aborts with a message): from another thread, schedule
 * it with spool_loop_call_soon_threadsafe(). NULL is a no-op. Never
 * blocks. */
SPOOL_API void spool_loop_stop(spool_loop *loop);

/** True while spool_loop_run() (or run_until_complete, or destroy) is
 * active. Any thread; from another thread the answer may be stale by the
 * time it is used. */
SPOOL_API bool spool_loop_is_running(const spool_loop *loop);

/** The loop running on the calling thread (asyncio.get_running_loop), or
 * NULL when none is. Any thread; never blocks. */
SPOOL_API spool_loop *spool_loop_current(void);

/** The loop's clock: CLOCK_MONOTONIC in nanoseconds, the time base of
 * spool_loop_call_at(). Any thread. */
SPOOL_API int64_t spool_loop_time(const spool_loop *loop);

/** The executor that runs tasks as coroutines on this loop (borrowed; lives
 * as long as the loop). spool_submit() on it is safe from any thread: from
 * the loop's thread while it runs, the task is queued like call_soon (in
 * order with other callbacks); from any other thread it goes through the
 * thread-safe inbox and starts in a later iteration. After destroy has
 * begun, submissions, from inside the loop or from another thread, get a
 * future FAILED with SPOOL_ESHUTDOWN. A task's done-callbacks and waiters
 * are woken by the loop's thread. */
SPOOL_API spool_executor *spool_loop_executor(spool_loop *loop);

/* ---- callbacks and timers --------------------------------------------- */

/** Schedules fn(loop, arg) to run in a later iteration (the next one if
 * called from a callback), after everything scheduled before it (FIFO).
 * If handle is not NULL, *handle gets a new reference to a handle that can
 * cancel the call; release it with spool_handle_release(). Returns 0,
 * SPOOL_EINVAL (NULL loop or fn, or called from another thread while the
 * loop runs: nothing is scheduled and *handle is NULL), SPOOL_ENOMEM, or
 * SPOOL_ESHUTDOWN from a done-callback that destroy runs after the last
 * task has finished. Loop thread only; never blocks. */
SPOOL_API int spool_loop_call_soon(spool_loop *loop, spool_loop_callback_fn fn,
				   void *arg, spool_handle **handle);

/** Schedules fn(loop, arg) to run delay_ns nanoseconds from now (asyncio's
 * call_later). Timers run in order of their deadline, and timers with the
 * same deadline in the order they were scheduled. Precision is well under a
 * millisecond (the epoll wait is timed in nanoseconds). delay_ns < 0 is
 * SPOOL_EINVAL; a deadline past INT64_MAX is INT64_MAX, which, like
 * SPOOL_FOREVER, never fires. Otherwise as call_soon. */
SPOOL_API int spool_loop_call_later(spool_loop *loop, int64_t delay_ns,
				    spool_loop_callback_fn fn, void *arg,
				    spool_handle **handle);

/** As call_later, at an absolute time on spool_loop_time()'s clock. Any
 * time in the past runs in the next iteration, including a negative one
 * (the clock starts at boot, so "an hour ago" may be) down to INT64_MIN;
 * INT64_MAX never fires. */
SPOOL_API int spool_loop_call_at(spool_loop *loop, int64_t when_ns,
				 spool_loop_callback_fn fn, void *arg,
				 spool_handle **handle);

/** Schedules fn(loop, arg) from ANY thread and wakes the loop (asyncio's
 * call_soon_threadsafe). Each call accepted runs once, in the order the
 * calls were made (as ordered by one atomic list), unless destroy
 * discards it unrun (see spool_loop_destroy); wake-ups are coalesced, so a
 * burst of calls costs the loop one eventfd read. Returns 0, SPOOL_EINVAL
 * (NULL loop or fn), SPOOL_ENOMEM, SPOOL_ESHUTDOWN (from another thread
 * once destroy has begun; on the loop's thread, as spool_loop_call_soon).
 * Calling it after destroy has returned is a caller bug (see "Destroyed
 * loops" above). Thread-safe; never blocks (one write(2) to an eventfd at
 * most). */
SPOOL_API int spool_loop_call_soon_threadsafe(spool_loop *loop,
					      spool_loop_callback_fn fn,
					      void *arg);

/** Cancels a scheduled callback: it will not run. Returns 0 if it had not
 * run (cancelling twice is 0 too; a timer is removed from the heap
 * lazily, as asyncio does), SPOOL_ESTATE if it already ran or is running,
 * SPOOL_EINVAL for NULL or from another thread while the loop runs
 * (nothing changes). Loop thread only; never blocks. */
SPOOL_API int spool_handle_cancel(spool_handle *handle);

/** True if the handle was cancelled (or dropped by a destroyed loop). Loop
 * thread only (from another thread while the loop runs it aborts with a
 * message). */
SPOOL_API bool spool_handle_cancelled(const spool_handle *handle);

/** The deadline of a timer handle (spool_loop_time() clock), 0 for a
 * call_soon handle. Any thread: it never changes. */
SPOOL_API int64_t spool_handle_when(const spool_handle *handle);

/** Drops the caller's reference. NULL is a no-op. Loop thread only (or any
 * single thread once the loop is destroyed); from another thread while
 * the loop runs it aborts with a message. Releasing a handle twice, or
 * using it after its release, is a caller bug. While the loop lives the
 * memory of a released handle stays a handle of the loop, marked
 * released, until at least 16 other handles of the loop have been done
 * with: in that time a second release aborts with "handle released
 * twice", and the other handle calls with "the handle was released".
 * Later, or once the loop is destroyed, it is a use after free. */
SPOOL_API void spool_handle_release(spool_handle *handle);

/* ---- inside a coroutine ----------------------------------------------- */

/** Sleeps ns nanoseconds. In a loop coroutine it suspends the coroutine
 * (asyncio.sleep); spool_sleep(0) yields to the other ready callbacks and
 * coroutines once. Anywhere else, including a pool worker and the loop's
 * thread outside a coroutine, it blocks the thread (nanosleep, as
 * time.sleep). Returns 0, SPOOL_ECANCELLED if the sleeping coroutine was
 * cancelled (it wakes at once), SPOOL_EINVAL for ns < 0, or, in a
 * coroutine, SPOOL_ENOMEM when there is no memory for its timer or to
 * suspend it (it has not slept; nothing else changed). */
SPOOL_API int spool_sleep(int64_t ns);

/** asyncio.sleep as an awaitable: a future (a new reference) that ends DONE
 * (value NULL) ns nanoseconds from this call, on loop's timers, so that a
 * coroutine can gather or wait for several sleeps without a task of its
 * own for each. It is a loop task that sleeps until that deadline: the
 * deadline is fixed by this call, whenever the task starts.
 * Cancelling it (spool_future_cancel(), from any thread) ends it
 * CANCELLED and takes its timer out of the loop's heap (lazily, as every
 * cancelled timer); so does the loop's destroy (as for every task).
 * Threads: any thread, like spool_submit() on the loop's executor (it is
 * one): on the loop's thread it is queued at once, from another thread
 * through the thread-safe inbox, and it fires on the loop's thread while
 * the loop runs. Bad input: NULL loop or ns < 0 gives a future FAILED
 * with SPOOL_EINVAL; a loop whose destroy has begun, one FAILED with
 * SPOOL_ESHUTDOWN; calling it after destroy has returned is a caller bug
 * (aborts, as spool_submit()). NULL only when out of memory. A sleep that
 * cannot get memory for its timer ends FAILED with SPOOL_ENOMEM. Costs a
 * task record and, while it sleeps, a coroutine (its stack, or on a
 * shared-stack loop a few hundred bytes). Never blocks. */
SPOOL_API spool_future *spool_sleep_future(spool_loop *loop, int64_t ns);

/** Waits until descriptor fd is readable (data, end of file, or an error
 * that a read would report), or timeout_ns passes. In a loop coroutine it
 * suspends the coroutine (the descriptor is watched with epoll); on other
 * threads it blocks in poll(2); on the loop's thread outside a coroutine it
 * returns SPOOL_EDEADLK unless timeout_ns is 0. A timeout of 0 only polls.
 * Returns 0 when ready, SPOOL_ETIMEDOUT, SPOOL_ECANCELLED (the coroutine
 * was cancelled), SPOOL_EINVAL (negative timeout; a descriptor that is
 * negative or not open, which costs nothing however large its number; on
 * the loop's thread, one of the loop's own descriptors: its epoll,
 * eventfd and timerfd, whose registration a wait would take over),
 * SPOOL_ENOMEM, SPOOL_ESYS. Regular files are always ready. Any number of
 * coroutines may wait on the same descriptor; all are woken. Readiness is
 * a hint, as with poll(2): retry the I/O and wait again on EAGAIN (a
 * descriptor closed while a duplicate of it stays open can leave epoll an
 * old registration that reports its number once more). The loop keeps a
 * descriptor registered with epoll between waits, so a wait costs no
 * system call in the steady state; a descriptor closed and its number
 * reused between waits is noticed when the loop would block, or within
 * 64 turns of a busy loop. Do not close fd while a coroutine waits on it.
 * May block as described. */
SPOOL_API int spool_wait_readable(int fd, int64_t timeout_ns);

/** As spool_wait_readable(), until fd is writable. */
SPOOL_API int spool_wait_writable(int fd, int64_t timeout_ns);

/* Cancellation of a loop task (spool_future_cancel on its future):
 *   - not started yet: it ends CANCELLED and never runs;
 *   - suspended at an await, or about to resume from one: that await
 *     returns SPOOL_ECANCELLED and cancel returns 0 (asyncio.Task.cancel);
 *   - cancelling itself while running: its next await returns
 *     SPOOL_ECANCELLED at once; cancel returns 0;
 *   - from another thread: the request is handed to the loop, which
 *     delivers it as above; cancel returns 0 and needs no memory. Cancels
 *     from other threads made before the loop has delivered the first
 *     are delivered with it, as one. If the task has finished by the
 *     time the request would be handed over (its loop is being
 *     destroyed), cancel answers as for a final future: 0 if it ended
 *     CANCELLED, else SPOOL_ESTATE.
 * spool_cancel_requested() becomes true in every case. The coroutine
 * decides what a cancelled await means: returning SPOOL_ECANCELLED makes
 * the task CANCELLED, as letting CancelledError propagate does in Python.
 * Each delivered cancellation ends one await. */

/* ---- bridging to other executors -------------------------------------- */

/** Runs fn(arg) on executor ex (typically a pool: blocking or CPU-bound
 * work) and returns a future (new reference) that this loop completes with
 * fn's outcome, on the loop's thread, so its done-callbacks and waiting
 * coroutines resume on the loop (asyncio's run_in_executor). Cancelling the
 * returned future cancels the work on ex as far as ex allows (a pool task
 * not started yet never runs). If the loop is destroyed before fn ends,
 * the future is completed by the thread that ran fn. A NULL loop, ex or fn
 * gives a future FAILED with SPOOL_EINVAL; from another thread once
 * destroy has begun, FAILED with SPOOL_ESHUTDOWN; NULL only when out of
 * memory. Any thread; never blocks (unless ex runs fn in place). */
SPOOL_API spool_future *spool_loop_run_in_executor(spool_loop *loop,
						   spool_executor *ex,
						   spool_task_fn fn, void *arg);

#ifdef __cplusplus
}
#endif

#endif /* SPOOL_LOOP_H */
