/* SPDX-License-Identifier: MIT */
/**
 * @file
 * @brief Combinators: asyncio's gather, wait, as_completed, wait_for and
 * shield, and concurrent.futures' map with a window, plus then()
 * continuations, on futures from any source (pool tasks, loop coroutines,
 * promises).
 *
 * They are built only from done-callbacks and atomic counters: nothing
 * polls, nothing sleeps in a loop, and the memory they use is O(n) in the
 * number of inputs. A combinator that blocks waits the way
 * spool_future_wait() waits on the calling thread (see spool/future.h): it
 * blocks a plain thread, makes a pool worker run other pool tasks meanwhile
 * (so a pool task may gather its own children, even with one worker), and
 * suspends a loop coroutine.
 *
 * Inputs. Every function that takes an array of futures (fs, n) reads it
 * only during the call: the caller keeps ownership of the array and of its
 * references. Each combinator retains the inputs it still watches for as
 * long as it needs them, so the caller may release its inputs at once;
 * the one exception is spool_as_completed, which hands its inputs back
 * after the call and so borrows them, and the array too: the caller keeps
 * the array, unchanged, and every input alive until it destroys the
 * iterator.
 * fs may be NULL only when n is 0; a NULL entry, an unknown flag or mode, or
 * a negative timeout is SPOOL_EINVAL (for functions that return a future,
 * a future already FAILED with SPOOL_EINVAL, as spool_submit() does), and
 * no input is touched.
 *
 * Deadlocks. A blocking combinator without a deadline whose condition can
 * never hold while the calling thread waits returns SPOOL_EDEADLK instead
 * of hanging, as spool_future_wait() does (see "Waiting" in
 * spool/future.h for the exact rule): waiting for all, when one input can
 * never complete; waiting for the first (or the first failure), when
 * every input not final can never complete. So do waits on gather and map
 * futures. An input that can never complete is a task of a loop stranded
 * on the calling thread, or, on a pool worker, the waiting task itself or
 * one beneath it on that worker.
 *
 * Timeouts are relative nanoseconds (SPOOL_FOREVER: no limit; 0: poll).
 * Each call takes one absolute deadline when it starts; waits inside it use
 * the time left, so a call never overruns its timeout by adding up waits.
 *
 * Differences from Python, all deliberate:
 *   - gather, map and then return futures; results are read with
 *     spool_gather_result() instead of a list;
 *   - cancelling a map future ends it CANCELLED only once every task it
 *     cancelled has settled, so after waiting for a cancelled map no task
 *     still runs; a gather does so only with SPOOL_RETURN_ERRORS, and
 *     otherwise ends at its first child's cancellation, as asyncio's
 *     gather does (see spool_gather());
 *   - spool_wait() reports with a bool per input and counts instead of two
 *     sets;
 *   - callbacks a call registered stay on inputs that are still pending
 *     when it returns (a timeout, FIRST_COMPLETED) until those inputs
 *     complete, where Python removes them: a small node per input, freed
 *     when the input completes. To follow a changing set of tasks, prefer
 *     one spool_as_completed iterator or a task group (spool/group.h) to
 *     calling spool_wait(FIRST_COMPLETED) again and again.
 *
 * Traces (spool/trace.h): a wait that does not find its answer at once is
 * a slice named after the combinator: "wait: gather", "wait: map",
 * "wait: then", "wait: wait ALL_COMPLETED" (FIRST_COMPLETED,
 * FIRST_EXCEPTION), "wait: as_completed", "wait: task group".
 */
#ifndef SPOOL_COMBINATORS_H
#define SPOOL_COMBINATORS_H

#include "spool/common.h"
#include "spool/error.h"
#include "spool/executor.h"
#include "spool/future.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- gather ----------------------------------------------------------- */

/** Flags of spool_gather(). */
enum spool_gather_flags {
	/** Collect every child's value or error; the gather itself succeeds
	 * (asyncio.gather(return_exceptions=True)). */
	SPOOL_RETURN_ERRORS = 1u
};

/** A future for the outcome of the n futures fs, in input order
 * (asyncio.gather). The gather is RUNNING from the start and completes:
 *   - DONE once every child is final, if none failed (or with
 *     SPOOL_RETURN_ERRORS, whatever they did); its value is a void **
 *     array of n values in input order (NULL when n is 0), owned by the
 *     gather and freed with it. Read it with spool_gather_result(), or
 *     index the array spool_future_value() gives;
 *   - without SPOOL_RETURN_ERRORS, FAILED (or CANCELLED) at once with the
 *     error of the first child that fails or is cancelled; the other
 *     children keep running, as in asyncio;
 *   - CANCELLED when it is cancelled: spool_future_cancel() on the gather
 *     cancels every child still pending (queued ones never run, running
 *     ones get the request flag; a coroutine's await is interrupted) and
 *     returns 0 (SPOOL_ESTATE if the gather was already final). The
 *     gather ends CANCELLED at the first child that then ends other than
 *     DONE (cancelled, or failed), as asyncio.gather does without
 *     return_exceptions: the other children may still be settling. With
 *     SPOOL_RETURN_ERRORS it ends CANCELLED only once every child has
 *     settled (asyncio with return_exceptions=True), so after waiting for
 *     it no child still runs. Children that ignore the request and end
 *     DONE are waited for either way. A task cancelled while it waits on
 *     a gather it created cancels the gather this way (spool/future.h,
 *     "Cancellation follows the await").
 * n = 0 gives a gather already DONE. The same future may appear more than
 * once; each of its slots gets its outcome. A gather is a future, so
 * gathers nest; a child that owns its value (a gather) is kept alive as
 * long as the outer gather, so the outer value array stays valid.
 * The values are the children's values as spool_future_value() gives them:
 * borrowed, owned by whoever produced them.
 * Returns a new reference; NULL only when out of memory for the gather
 * itself, or for the failed future that reports bad input (nothing is then
 * retained and no input touched). A child whose done-callback cannot be
 * allocated counts as failed with SPOOL_ENOMEM (that slot's error with
 * SPOOL_RETURN_ERRORS); the child itself is left as it is. Bad input (see
 * the top) gives a future FAILED with SPOOL_EINVAL. Thread-safe; never
 * blocks. */
SPOOL_API spool_future *spool_gather(spool_future *const *fs, size_t n,
				     unsigned flags);

/** The number of result slots of a gather or map future (its n), whatever
 * its state; 0 for NULL or any other future. Never blocks. */
SPOOL_API size_t spool_gather_size(const spool_future *g);

/** The outcome of slot i of a gather or map future g. When g is DONE:
 * returns 0 and sets *value to slot i's value, or returns that slot's
 * child error (only with SPOOL_RETURN_ERRORS; SPOOL_ECANCELLED for a
 * cancelled child) and sets *value to NULL. When g is FAILED or
 * CANCELLED: returns g's own error (there are no slot results). While g is
 * not final: SPOOL_EAGAIN. SPOOL_EINVAL for NULL g, a future that is not a
 * gather or map, or i >= spool_gather_size(g). value may be NULL; *value
 * is NULL unless the result is 0. Thread-safe; never blocks. */
SPOOL_API int spool_gather_result(const spool_future *g, size_t i,
				  void **value);

/** Input i of the gather g when that input is itself a gather or a map (a
 * future that owns its results array), so that nested gathers can be read
 * through the outer one alone (asyncio: `gather(gather(a, b), gather(c))`
 * gives `[[ra, rb], [rc]]`): spool_gather_child(outer, 0) is the inner
 * gather of input 0, and spool_gather_size() and spool_gather_result()
 * read its slots. Borrowed: valid while the caller holds g (a gather holds
 * every nested gather or map it was given until it is freed); retain it to
 * keep it longer. NULL for an input of any other kind (its result is
 * spool_gather_result(g, i, ...); a gather does not hold an input that was
 * final with a plain value, so holding every input would cost two atomic
 * operations per input), for NULL g, a future that is not a gather (a map
 * future included), or i >= spool_gather_size(g). Thread-safe; never
 * blocks. */
SPOOL_API spool_future *spool_gather_child(const spool_future *g, size_t i);

/* ---- wait ------------------------------------------------------------- */

/** When spool_wait() returns (concurrent.futures / asyncio constants). */
typedef enum spool_wait_when {
	/** Every input is final. */
	SPOOL_ALL_COMPLETED = 0,
	/** At least one input is final; a cancellation counts. */
	SPOOL_FIRST_COMPLETED = 1,
	/** At least one input FAILED (a cancellation does not count), or
	 * else every input is final. */
	SPOOL_FIRST_EXCEPTION = 2
} spool_wait_when;

/** Waits until `when` holds for the n futures fs, or timeout_ns passes
 * (asyncio.wait / concurrent.futures.wait), then reports:
 *   - done (optional, n entries): done[i] is true when fs[i] is final;
 *   - *ndone, *npending (each optional): how many DISTINCT inputs are
 *     final and not final (a future given twice counts once; counting
 *     costs O(n) time and, during the call only, a bitmap of 16 bytes of
 *     address space per input, or a hash table of 16 to 32 bytes per
 *     input when the inputs' ids lie far apart; skipped when both are
 *     NULL).
 * The report is a snapshot taken after the wait: it may show more inputs
 * final than `when` needed. A timeout is not an error: the call returns 0
 * and the report shows what is still pending; nothing is cancelled. So is
 * n = 0, which returns at once. Duplicates count once for `when` as well.
 * Returns 0; SPOOL_EINVAL for bad input (see the top) or an unknown
 * `when` (nothing written); SPOOL_ENOMEM, after which the report is not to
 * be relied on (done may be partly written, the counts left unwritten);
 * or an error of the wait itself (SPOOL_EDEADLK on a loop thread outside a
 * coroutine, or without a deadline when `when` can never hold, see the
 * top; SPOOL_ECANCELLED when the waiting coroutine was cancelled),
 * with the report filled in. After SPOOL_ENOMEM, as after a timeout, the
 * callbacks already registered stay on their inputs until those complete.
 * The inputs are never changed. Thread-safe; may block. */
SPOOL_API int spool_wait(spool_future *const *fs, size_t n,
			 spool_wait_when when, int64_t timeout_ns, bool *done,
			 size_t *ndone, size_t *npending);

/** spool_wait() with its report as asyncio.wait returns it, (done,
 * pending): waits as spool_wait(fs, n, when, timeout_ns, ...) does, then
 * puts each DISTINCT input once (the first time it appears in fs, in
 * input order) in done_out if it is final, else in pending_out, and sets
 * *ndone and *npending to how many each got. Each array needs room for
 * as many entries as fs has distinct inputs (n is always enough); either
 * may be NULL when that side is not wanted (its count is still set), and
 * so may ndone and npending. The entries are borrowed: the caller's
 * inputs, with no new reference. The split is one snapshot after the
 * wait: an input in pending_out may have completed since; one in done_out
 * stays final. Returns as spool_wait(): 0 (also after a timeout, with the
 * inputs still pending in pending_out), SPOOL_EINVAL (nothing written),
 * SPOOL_ENOMEM (the arrays and counts not to be relied on), or the wait's
 * own error with the split filled in. Thread-safe; may block. */
SPOOL_API int spool_wait_split(spool_future *const *fs, size_t n,
			       spool_wait_when when, int64_t timeout_ns,
			       spool_future **done_out, size_t *ndone,
			       spool_future **pending_out, size_t *npending);

/* ---- as_completed ----------------------------------------------------- */

/** An iterator over futures in the order they complete
 * (asyncio.as_completed / concurrent.futures.as_completed). */
typedef struct spool_as_completed spool_as_completed;

/** Makes *out an iterator that hands back each distinct future of fs once,
 * in completion order: those already final when this call starts first
 * (in input order), then the others as they complete (those that complete
 * while this call runs may come in input order instead). The deadline is
 * now +
 * timeout_ns, once for the whole iteration.
 * Ownership: the iterator BORROWS the array fs and the inputs. The caller
 * keeps the array, with the same n entries, and a reference to every input
 * until it has destroyed the iterator (freeing or changing the array, or
 * releasing an input, earlier is a caller bug: next() reads the array and
 * may hand any input back). The iterator takes a
 * reference of its own only on an input still pending at this call, while
 * its done-callback is on it, and drops it when the callback has run, so
 * an input the caller releases after destroy while it is still pending is
 * not freed with the callback unrun. A callback that runs after destroy
 * touches only its own input and the iterator's memory, never another
 * input. Keeps one word per input final at this call (none while every
 * input is final and distinct), and for each input pending at this call
 * one callback and three words.
 * Returns 0; SPOOL_EINVAL for bad input or a NULL out (nothing created);
 * SPOOL_ENOMEM (nothing created, *out NULL; the callbacks already added
 * to inputs still pending stay there, each with its reference to its
 * input, until those complete, and touch nothing else: the caller may free
 * the array and release the inputs at once). Never blocks. */
SPOOL_API int spool_as_completed_create(spool_as_completed **out,
					spool_future *const *fs, size_t n,
					int64_t timeout_ns);

/** The next completed future: returns 0 and sets *f to the ORIGINAL future
 * (the caller's own input, borrowed as create says) and *index (optional)
 * to its position in fs (the first one, for a future given more than
 * once). A completion that is already queued is
 * handed back without waiting; otherwise this waits, at most until the
 * deadline. Returns SPOOL_EOF when every input has been handed back;
 * SPOOL_ETIMEDOUT when it would have to wait past the deadline, and from
 * then on at every call (nothing is cancelled; the futures not handed back
 * keep running); the wait's own errors (SPOOL_EDEADLK, see the top: also
 * when no input not yet handed back can ever complete, with the iterator
 * created with SPOOL_FOREVER; SPOOL_ECANCELLED when the waiting coroutine
 * was cancelled; the iterator stays usable);
 * SPOOL_ENOMEM when it would have to wait and has no memory to wait with
 * (nothing is handed back or lost; the iterator stays usable);
 * SPOOL_EINVAL for NULL it or f. *f is NULL unless the result is 0.
 * Thread safety: one consumer at a time; calling it from two threads at
 * once is a caller bug and aborts with a message (caught whenever a call
 * starts while another one waits; calls that overlap only for the few
 * nanoseconds of handing back an entry already there may escape it).
 * It may run concurrently with the inputs completing on any threads.
 * May block. */
SPOOL_API int spool_as_completed_next(spool_as_completed *it, spool_future **f,
				      size_t *index);

/** Destroys the iterator; from then on the caller may release the inputs.
 * Futures not yet handed back are left running; the iterator's callbacks
 * stay on those still pending, and its memory (and each such input's
 * reference) goes once the last of them completes. NULL is a no-op. Must not
 * run concurrently with next() on the same iterator. Never blocks. */
SPOOL_API void spool_as_completed_destroy(spool_as_completed *it);

/* ---- wait_for --------------------------------------------------------- */

/** Waits for f with a timeout, asyncio.wait_for style. If f is final in
 * time, returns its outcome as spool_future_result() does: 0 with *value
 * set for DONE, the error for FAILED, SPOOL_ECANCELLED for CANCELLED.
 * Otherwise cancels f, waits until f is final (a RUNNING pool task that
 * ignores the request runs to its end, and this waits for it), and returns
 * SPOOL_ETIMEDOUT; f is then final (CANCELLED, or whatever the task
 * returned if it ignored the request). value may be NULL; *value is NULL
 * unless the result is 0. SPOOL_EINVAL for NULL f or a negative timeout;
 * SPOOL_EDEADLK on a loop thread outside a coroutine while f is not final,
 * or when f can never complete while this thread waits (see the top):
 * with SPOOL_FOREVER nothing is cancelled (f untouched); with a deadline
 * it comes after the deadline, when the cancel did not end f and its
 * settling can never finish either (f is then not final; a suspended task
 * of a loop stranded on this thread gets the cancel when the loop runs
 * again); SPOOL_ECANCELLED when the waiting coroutine itself was
 * cancelled: f is then cancelled too and waited for, as asyncio.wait_for
 * does (a second cancellation of the waiter ends that wait early). f stays
 * owned by the caller. Thread-safe; may block. */
SPOOL_API int spool_wait_for(spool_future *f, int64_t timeout_ns, void **value);

/* ---- shield ----------------------------------------------------------- */

/** A new future that follows f's outcome, but whose cancellation does not
 * reach f (asyncio.shield). It ends as f ends (DONE with f's value, which
 * stays valid as long as the shield: the shield keeps f alive; FAILED
 * with f's error; CANCELLED if f is), unless it is cancelled first:
 * spool_future_cancel() on the shield ends the shield CANCELLED at once
 * (it returns 0) and leaves f running. So a task that waits on
 * spool_shield(f) and is cancelled meanwhile sees SPOOL_ECANCELLED, and
 * f, even a future the task created (spool/future.h, "Cancellation
 * follows the await"), runs on and may be waited for again. The shield is
 * PENDING until f ends (spool_future_state()); it is not a gather, so
 * read a gather's slots from f. Ownership: f is borrowed for the call
 * (the shield takes a reference of its own, dropped when the shield is
 * freed); returns a new reference, NULL when out of memory, a future
 * FAILED with SPOOL_EINVAL for NULL f. A shield of a future that never
 * completes lives as long as that future. Thread-safe; never blocks. */
SPOOL_API spool_future *spool_shield(spool_future *f);

/* ---- map -------------------------------------------------------------- */

/** Runs fn(args[i]) on ex for i in 0..n-1 with at most max_in_flight of them
 * started and unfinished at any moment (concurrent.futures'
 * Executor.map with a window; 0 means no limit), starting them in input
 * order. Returns a results future like a gather's: DONE once all succeed,
 * its value a void ** array of the n results in input order (read with
 * spool_gather_result()); at the first failure it ends FAILED with that
 * error at once, the tasks not yet started never start and the running
 * ones are cancelled (queued ones never run; running ones get the request
 * flag). A task that cannot be submitted for lack of memory is such a
 * failure, with SPOOL_ENOMEM. Cancelling the map future does the same and
 * ends it CANCELLED once its running tasks have settled. A timeout is
 * spool_wait_for() on the map future: it cancels the rest the same way.
 * The args array is read during the call and must not be NULL when n > 0
 * (its entries may be anything). n = 0 gives a future already DONE.
 * Returns a new reference; NULL only when out of memory; a NULL ex or fn
 * gives a future FAILED with SPOOL_EINVAL. Thread-safe; never blocks (it
 * starts tasks with spool_submit(), so with spool_executor_inline() the
 * tasks run before it returns). */
SPOOL_API spool_future *spool_map(spool_executor *ex, spool_task_fn fn,
				  void *const *args, size_t n,
				  size_t max_in_flight);

/* ---- then ------------------------------------------------------------- */

/** A continuation: receives the source future (borrowed, final) and arg,
 * and completes the continuation future like a task: return 0 and set
 * *result, a positive code to fail, SPOOL_ECANCELLED to acknowledge a
 * cancellation. */
typedef int (*spool_then_fn)(spool_future *src, void *arg, void **result);

/** A new future completed by fn(f, arg, &result) run on ex once f is final,
 * whatever f's outcome (fn decides what a failed f means). While fn runs
 * it is the current task, so spool_cancel_requested() in fn sees a cancel
 * of the continuation. Cancelling the continuation before fn starts means
 * fn never runs. If ex refuses the task (shut down) the continuation fails
 * with ex's error; without memory for its callback on f or for its task it
 * fails with SPOOL_ENOMEM, and fn never runs. f is retained until fn has
 * run (or the continuation has failed). Returns a new reference;
 * NULL only when out of memory; NULL f, ex or fn gives a future FAILED
 * with SPOOL_EINVAL. Thread-safe; never blocks (if f is already final the
 * task is submitted at once, and an inline ex runs fn before this
 * returns). */
SPOOL_API spool_future *spool_then(spool_future *f, spool_executor *ex,
				   spool_then_fn fn, void *arg);

#ifdef __cplusplus
}
#endif

#endif /* SPOOL_COMBINATORS_H */
