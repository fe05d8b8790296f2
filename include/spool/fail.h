/* SPDX-License-Identifier: MIT */
/**
 * @file
 * @brief Failures with detail: a message and a payload beside the code.
 *
 * A task fails by returning a nonzero code (spool/executor.h). That code
 * says what kind of failure it was; the detail says which: a message, as
 * a Python exception has one beside its type, and optionally a payload,
 * any object the failing code wants to hand to whoever handles the
 * failure, with the destructor that frees it.
 *
 *     return spool_fail(98, "TaskError: %s", name);
 *
 * The detail travels with the failure: a combinator that fails with an
 * input's failure (a gather, a map, a task group's join, see
 * spool/combinators.h and spool/group.h) carries the very same detail,
 * shared, not copied: the same message (even at the same address) and
 * the same payload. spool_wait(), spool_as_completed_next() and
 * spool_wait_for() hand back the failed futures themselves, which carry
 * theirs.
 *
 * Ownership. The message is copied when the detail is made. The payload
 * belongs to the detail from then on; the detail is shared by every future
 * that carries it and lives until the last of them is freed, and then its
 * destructor runs exactly once, with the payload, on the thread that lets
 * go last (or at once when the detail is not kept: see each call). The
 * destructor must not block or wait on futures; it may run on any thread
 * that completes or releases one of those futures.
 *
 * Reading: spool_future_error_message() and spool_future_error_payload()
 * on a FAILED future. What they return is borrowed from the future: it
 * stays valid while the caller holds a reference to it (or to any other
 * future sharing the detail). Every function here may be called from any
 * thread; none blocks (apart from what a destructor does).
 *
 * A CANCELLED future carries no detail: a cancel is not a failure.
 */
#ifndef SPOOL_FAIL_H
#define SPOOL_FAIL_H

#include "spool/common.h"
#include "spool/error.h"
#include "spool/future.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Frees a failure's payload; called once with it (see the top of this
 * header). */
typedef void (*spool_payload_dtor)(void *payload);

#if defined(__GNUC__) || defined(__clang__)
#define SPOOL__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SPOOL__PRINTF(f, a)
#endif

/** Records a failure's detail on the task running on this thread and
 * returns code, so that a task fails with `return spool_fail(code, ...)`.
 * The message is formatted as printf() does with fmt (NULL: no message).
 * The task is spool_current_future()'s: a pool task, a loop coroutine, a
 * spool_then() or task group function, a task run by spool_run_task() or
 * the inline executor; in the halves of spool_join() and the body of
 * spool_for(), the task that called them (whichever half records last
 * wins); in a scope's spawns, the scope, whose failures are codes only
 * (the detail is dropped when the scope ends). The failure carries the
 * detail only if the task then ends FAILED with this same code; a
 * success, a cancel or another code drops it (it is freed then), and a
 * later spool_fail() of the same task replaces it. A promise that
 * spool_run_task() runs must not be completed by hand while its task
 * records a detail (which of the two outcomes the promise keeps is then
 * undefined).
 * Called outside a task, with SPOOL_ECANCELLED (a cancel carries no
 * detail), or with no memory for the detail, it records nothing and
 * returns code all the same: the failure then carries the code alone.
 * code 0 is a caller bug (0 is success) and aborts with
 * "spool: misuse of spool_fail()". Never blocks. */
SPOOL_API int spool_fail(int code, const char *fmt, ...) SPOOL__PRINTF(2, 3);

/** spool_fail() with a payload: the detail also owns payload, and calls
 * dtor(payload) (dtor may be NULL: nothing to free) exactly once, when the
 * last future carrying it is freed, or when it is dropped (see
 * spool_fail()), or at once, before this returns, when nothing is
 * recorded (outside a task, SPOOL_ECANCELLED, out of memory). So the
 * payload is always handed over. code 0 aborts as in spool_fail(). Never
 * blocks. */
SPOOL_API int spool_fail_with(int code, void *payload, spool_payload_dtor dtor,
			      const char *fmt, ...) SPOOL__PRINTF(4, 5);

/** Takes back what spool_fail() or spool_fail_with() recorded on the task
 * running on this thread (the task spool_fail() would record on): the
 * detail is dropped, its payload's destructor running before this
 * returns, and the task goes on as if nothing had been recorded. Returns
 * a copy of the detail's message, from malloc() (the caller frees it),
 * when the detail was recorded with code and has a message; NULL
 * otherwise: outside a task, nothing recorded, code 0 or another code
 * (the detail is dropped all the same), no message, or no memory for the
 * copy. When nothing is recorded it costs a load.
 *
 * For code that runs user functions inside a task of its own and carries
 * their failures somewhere else: call it after each function, with the
 * code the function returned (0 for a success, to drop what a function
 * recorded and then did not fail with). spool-mpi's remote executor sends
 * the message of a remote function's failure back to the rank that
 * submitted it this way. Any thread; never blocks (apart from what the
 * destructor does). */
SPOOL_API char *spool_fail_take(int code);

/** Completes the promise f FAILED with err and a detail: message (copied;
 * NULL: none) and payload (NULL: none), which f owns on success, calling
 * dtor(payload) (dtor may be NULL) once when the last future carrying it
 * is freed. Returns 0; SPOOL_EINVAL for NULL f, a future that is not a
 * promise (spool_promise_set_error()), err 0 or SPOOL_ECANCELLED (a
 * cancel carries no detail: use spool_promise_set_error()); SPOOL_ESTATE
 * when f is already final; SPOOL_ENOMEM when there is no memory for the
 * detail. On every error f is left as it was and the payload stays the
 * caller's (dtor is not called). Runs the callbacks and wakes the waiters
 * before returning, as spool_promise_set_error(). */
SPOOL_API int spool_promise_set_error_detail(spool_future *f, int err,
					     const char *message, void *payload,
					     spool_payload_dtor dtor);

/** The message of f's failure: NULL when f is NULL, not FAILED, or its
 * failure has no message (a bare code; use spool_strerror() for the code
 * then). Borrowed: valid while the caller holds a reference to f. Never
 * blocks. */
SPOOL_API const char *spool_future_error_message(const spool_future *f);

/** The payload of f's failure: NULL when f is NULL, not FAILED, or its
 * failure has none. Borrowed, as the message: f owns it. Never blocks. */
SPOOL_API void *spool_future_error_payload(const spool_future *f);

#ifdef __cplusplus
}
#endif

#endif /* SPOOL_FAIL_H */
