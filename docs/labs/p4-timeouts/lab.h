/* SPDX-License-Identifier: MIT */
/*
 * Lab P4: timeouts and cancellation that leave nothing running (README.md).
 *
 * A timeout in spool, as in asyncio, only stops the WAIT: the task keeps
 * running until someone cancels it, and a cancelled task may still take a
 * while to finish (it may be in the middle of cleaning up, or on a pool
 * thread where cancellation is only a request it polls). You write two
 * functions that, after their deadline, leave every task they started
 * final.
 */
#ifndef LAB_P4_H
#define LAB_P4_H

#include <stddef.h>
#include <stdint.h>

#include <spool.h>

/* YOURS. Starts fn(arg) on ex and waits at most timeout_ns for it.
 * Returns 0 with *value set when it succeeded in time, the task's error
 * when it failed in time, SPOOL_ETIMEDOUT when the time ran out; in that
 * case the task must be cancelled AND final when this returns (waited
 * for: its cleanup runs to its end), or SPOOL_ENOMEM. value may not be
 * NULL. Called inside a loop coroutine (ex is the loop's executor or a
 * pool's); its waits suspend the coroutine. */
int lab_call_with_timeout(spool_executor *ex, spool_task_fn fn, void *arg,
			  int64_t timeout_ns, void **value);

/* YOURS. Starts fn(args[i]) on ex for every i in 0..n-1, then collects,
 * in the order they complete, the values of the tasks that succeed before
 * timeout_ns has passed (counted from the call): the k-th one collected
 * goes to values[k], and its index i to which[k]. Tasks that fail are
 * skipped. Returns how many were collected, as soon as every task is
 * final or the time has run out, whichever comes first; at that point
 * every task not yet final is cancelled, and all of them must be final
 * when this returns. SPOOL_ENOMEM (nothing left running either). Called
 * inside a loop coroutine. */
long lab_collect_until(spool_executor *ex, spool_task_fn fn, void *const *args,
		       size_t n, int64_t timeout_ns, void **values,
		       size_t *which);

#endif /* LAB_P4_H */
