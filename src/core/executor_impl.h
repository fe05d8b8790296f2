/* SPDX-License-Identifier: MIT */
/*
 * The inside of an executor handle (never installed): a table of functions
 * that a pool, a loop or the inline executor fills in.
 */
#ifndef SPOOL_CORE_EXECUTOR_IMPL_H
#define SPOOL_CORE_EXECUTOR_IMPL_H

#include "spool/executor.h"

struct spool__executor_ops {
	const char *name;
	/* Starts fn(arg) and returns its future (new reference); NULL only on
	 * ENOMEM. fn is not NULL. A shut-down executor returns a future
	 * failed with SPOOL_ESHUTDOWN (see spool__future_failed). */
	spool_future *(*submit)(spool_executor *ex, spool_task_fn fn, void *arg,
				const char *label);
	/* Optional: as submit, with the size bytes at src copied into the
	 * task's record (aligned to max_align_t) before the task can run,
	 * and fn given the copy. *copy gets the record's copy, or NULL when
	 * the future returned has no record (refused: already final, fn
	 * will never run). NULL only on ENOMEM (fn will never run). size
	 * is at most copy_max; larger sizes go through submit. */
	spool_future *(*submit_copy)(spool_executor *ex, spool_task_fn fn,
				     const void *src, size_t size,
				     const char *label, void **copy);
	size_t copy_max;
};

struct spool_executor {
	const struct spool__executor_ops *ops;
};

/* A new future already FAILED with err: what submit returns on bad input. */
spool_future *spool__future_failed(int err);

/* Makes ex the calling thread's current executor (spool_current_executor)
 * and returns the previous one, for the caller to restore. */
spool_executor *spool__current_executor_swap(spool_executor *ex);

/* spool_run_task for a future of spool's own that is not a promise (a
 * group task's): starts f (PENDING, else SPOOL_ECANCELLED or
 * SPOOL_ESTATE, and fn does not run), runs fn as f's task and completes
 * f with its outcome. Returns fn's result code. */
int spool__run_task(spool_future *f, spool_task_fn fn, void *arg);

#endif /* SPOOL_CORE_EXECUTOR_IMPL_H */
