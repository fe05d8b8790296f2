/* SPDX-License-Identifier: MIT */
/**
 * @file
 * @brief Task groups: structured concurrency (asyncio.TaskGroup, Go's
 * errgroup).
 *
 * Spawn tasks into a group on an executor, then join: the join waits for
 * every task. The first task that FAILS (ends with an error other than a
 * cancellation) cancels the others: tasks not yet started never run,
 * running ones get the request flag (spool_cancel_requested()), and the
 * group accepts no new spawn. The join then reports every failure, not only
 * the first: how many, and each one's error and spawn number.
 *
 * An optional limit caps how many of the group's tasks run at once; the
 * spawns beyond it wait in the group, in spawn order, and start as others
 * finish (they count as "not yet started" for cancellation).
 *
 * A task that ends CANCELLED (it acknowledged a request, or was cancelled
 * through its future) is not a failure and does not cancel the others,
 * as in asyncio.
 *
 * The owner. A group created by a loop coroutine (spool_group_create()
 * called inside one) is owned by it, as the body of asyncio's
 * `async with TaskGroup()` is: at the group's first failure the owner is
 * cancelled too (spool_future_cancel() on its future), so its current or
 * next await returns SPOOL_ECANCELLED (a sleep ends early, an await of a
 * future the owner made cancels that future, spool/future.h), and it gets
 * on to the join, which waits for the tasks to settle and reports the
 * failures: a join that sees the owner's cancellation reports the failures
 * when there are any, SPOOL_ECANCELLED only when there are none. The owner
 * gets that cancel sent before the join can end, so it never outlives the
 * join. spool has no uncancel: the owner's future keeps its request flag
 * (spool_future_cancel_requested()) after the join. A group created
 * anywhere else has no owner and cancels nobody but its tasks: on a pool
 * thread because a pool task cannot be interrupted at a wait (it would
 * only see the flag, for the rest of its run), outside any task because
 * there is nobody to cancel; there the join reports.
 *
 * Failures in one iteration. When the first failure happens on a loop's
 * thread, the other tasks (and the owner) are cancelled in the loop's
 * next iteration, as asyncio calls a task's done-callbacks soon, not at
 * once: tasks woken in the same iteration as the failing one (by one
 * promise, one timer) run first, and if they fail too, they are reported
 * as failures rather than as cancelled. New spawns are refused from the
 * first failure on. Elsewhere the others are cancelled at once.
 *
 * Thread safety: every function may be called from any thread at the same
 * time, including from the group's own tasks (a task may spawn more work
 * into its group), except spool_group_destroy(). Bookkeeping is guarded by
 * one mutex per group, never held while a task is submitted, cancelled or
 * waited for.
 */
#ifndef SPOOL_GROUP_H
#define SPOOL_GROUP_H

#include "spool/common.h"
#include "spool/error.h"
#include "spool/executor.h"
#include "spool/future.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An opaque task group. */
typedef struct spool_group spool_group;

/** Makes *out an empty group that runs its tasks on ex (borrowed: ex must
 * outlive the group's tasks). max_running limits the tasks running at once;
 * 0 means no limit. Returns 0, SPOOL_EINVAL (NULL out or ex) or
 * SPOOL_ENOMEM. Never blocks. */
SPOOL_API int spool_group_create(spool_group **out, spool_executor *ex,
				 size_t max_running);

/** Starts fn(arg) in the group, or queues it when max_running tasks already
 * run. If task is not NULL, *task gets the task's future (a new reference;
 * cancelling it cancels only that task). Returns 0; SPOOL_ECANCELLED when
 * the group has been cancelled (by a failure or spool_group_cancel()): the
 * task is refused and *task is NULL; SPOOL_EINVAL for NULL g or fn;
 * SPOOL_ENOMEM: the task is refused, *task is NULL and the group is as it
 * was. If the executor refuses the task (shut down), the task fails with
 * the executor's error, and if there is no memory to submit it (now or,
 * queued, when its turn comes) with SPOOL_ENOMEM; either counts as a
 * failure. Never blocks (an inline executor runs fn before this
 * returns). */
SPOOL_API int spool_group_spawn(spool_group *g, spool_task_fn fn, void *arg,
				spool_future **task);

/** Waits until every task spawned so far has finished (waiting as
 * spool_future_wait() does on this thread: a pool task that joins helps,
 * a coroutine suspends). Returns:
 *   0                 every task finished and none failed;
 *   the first failure's error, when any task failed (see
 *                     spool_group_failures() for all of them);
 *   SPOOL_ECANCELLED  the group was cancelled with spool_group_cancel()
 *                     and no task failed;
 *   SPOOL_ETIMEDOUT   timeout_ns passed first; nothing is cancelled and
 *                     join may be called again;
 *   SPOOL_EINVAL      NULL g or a negative timeout;
 *   SPOOL_ENOMEM      no memory for the join's wait: nothing changed,
 *                     and join may be called again;
 *   SPOOL_EDEADLK     on a loop thread outside a coroutine; and, with
 *                     SPOOL_FOREVER, when a task of the group can never
 *                     finish while this thread waits: the joiner is
 *                     itself a task of the group, running on a pool
 *                     worker, or a task runs on a loop stranded on this
 *                     thread (spool/future.h, "Waiting"); nothing changed,
 *                     and join may be called again;
 *   SPOOL_ECANCELLED  also when the joining coroutine itself was
 *                     cancelled and no task failed: the group is then
 *                     cancelled too and the join still waits for its tasks
 *                     to settle, as asyncio.TaskGroup does (a second
 *                     cancellation of the joiner ends that wait early). A
 *                     pool task that joins and is cancelled cancels the
 *                     group the same way (its wait notices the request,
 *                     spool/future.h) and reports as above.
 * Tasks spawned while a join waits are waited for too. A group stays
 * usable after a join that returned 0: more tasks may be spawned and joined.
 * Several threads may join at once. May block. */
SPOOL_API int spool_group_join(spool_group *g, int64_t timeout_ns);

/** Cancels the group: queued and not yet started tasks never run, running
 * ones get the request flag, and later spawns are refused with
 * SPOOL_ECANCELLED. Returns 0 (also when already cancelled), SPOOL_EINVAL
 * for NULL. Never blocks. */
SPOOL_API int spool_group_cancel(spool_group *g);

/** How many of the group's tasks have failed so far. 0 for NULL. Never
 * blocks. */
SPOOL_API size_t spool_group_failures(const spool_group *g);

/** The i-th failure in the order they happened (i < spool_group_failures()):
 * returns that task's error (never 0) and sets *spawn_index (optional) to
 * its spawn number (0 for the group's first spawn, counting refused spawns
 * out). SPOOL_EINVAL for NULL g or i out of range. Never blocks. */
SPOOL_API int spool_group_failure(const spool_group *g, size_t i,
				  size_t *spawn_index);

/** The detail of the i-th failure (spool/fail.h), as spool_group_failure()
 * numbers them: returns that task's error and sets *message (optional) to
 * its message and *payload (optional) to its payload, each NULL when the
 * failure has none. The join's error is failure 0's, so this is how the
 * caller of spool_group_join() reads its message. Both are the task's own
 * (shared, not copied) and stay valid until spool_group_destroy(), or
 * while the caller holds the task's future. SPOOL_EINVAL (and both NULL)
 * for NULL g or i out of range. Never blocks. */
SPOOL_API int spool_group_failure_detail(const spool_group *g, size_t i,
					 const char **message, void **payload);

/** Releases the group. Tasks still unfinished are cancelled as by
 * spool_group_cancel() and left to settle on their own; the group's memory
 * lives until the last of them ends. Join first to wait for them. Futures
 * handed out by spawn stay valid until released. NULL is a no-op. Must
 * not run concurrently with another call on g. Never blocks. */
SPOOL_API void spool_group_destroy(spool_group *g);

#ifdef __cplusplus
}
#endif

#endif /* SPOOL_GROUP_H */
