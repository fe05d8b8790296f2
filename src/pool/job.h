/* SPDX-License-Identifier: MIT */
/*
 * Jobs: pool work without a future (never installed).
 *
 * A task (pool_impl.h) is a record with a future in it: it is allocated,
 * reference counted, and its outcome is published for whoever holds the
 * future. A job is the other kind of deque entry: a small record that
 * lives wherever its owner wants (spool_join's on the caller's stack, a
 * scope spawn's in a recycled task record or in storage the caller
 * lends), that the pool runs once, and whose owner learns that it ran
 * through a latch it waits on, not through a future. That is what makes
 * spool_join cost a push and a pop and nothing else when nobody steals.
 *
 * The two kinds share the deques. A deque entry is a tagged pointer: bit 0
 * clear, a struct spool__pool_task (at least 16-byte aligned); bit 0 set, a
 * struct spool__job at the address without the bit (8-byte aligned at
 * least). Everything that takes an entry out of a deque (the owner's pop,
 * a steal, shutdown's cancel) looks at the bit first (worker.c,
 * spool__worker_run_item). Jobs handed in by threads outside the pool do
 * not use the injection queue, whose entries stay task records: they go
 * through the pool's job queue (p->jobs), a work source of its own
 * (park.c).
 *
 * A job's exec function runs it, on whichever worker took it, or ends it
 * without running it when shutdown's SPOOL_SHUTDOWN_CANCEL_PENDING takes it
 * from a queue (cancel true): either way it must open the latch its owner
 * waits on, and must not touch the job after that, since the owner may
 * return at once and the job's memory with it.
 *
 * Latches. A latch is one 64-bit word: a count in bits 1..63 and a WAITER
 * flag in bit 0. It is open when the count is 0. Counting down is one
 * read-modify-write, after which the counter touches nothing of the latch
 * but the futex wake that the flag asks for. A waiter that wants to
 * sleep sets WAITER with a CAS and sleeps on the word's low 32 bits with
 * the value it saw; the final count-down changes those bits (the count
 * drops by one, so the low half changes whatever the count was), so
 * either the waiter's futex_wait sees the change and returns at once, or
 * it was queued before it, and the final count-down, which sees WAITER,
 * wakes it. Intermediate count-downs (a scope with many spawns) do not
 * wake anybody. The wake is made on an address whose owner may already
 * have returned: the kernel only looks the address up, and a thread that
 * sleeps on a futex at that address later (the memory reused) must already
 * tolerate spurious wake-ups, as every futex user does.
 *
 * Memory orders: a count-down is a release RMW, and the count-downs of one
 * latch form a release sequence, so the waiter's acquire load that sees
 * the count at 0 sees everything every job wrote before counting down.
 */
#ifndef SPOOL_POOL_JOB_H
#define SPOOL_POOL_JOB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/future_impl.h"
#include "core/futex.h"
#include "inject.h"

struct spool__job {
	void (*exec)(struct spool__job *j, bool cancel);
	/* The job queue's link, while a thread outside the pool has handed
	 * the job in; unused in a deque. */
	struct spool__inject_node link;
};

#define SPOOL__ITEM_JOB ((uintptr_t)1)

/* The deque entry for job j. */
static inline void *spool__job_item(struct spool__job *j)
{
	return (void *)((uintptr_t)j | SPOOL__ITEM_JOB);
}

static inline bool spool__item_is_job(const void *x)
{
	return ((uintptr_t)x & SPOOL__ITEM_JOB) != 0;
}

static inline struct spool__job *spool__item_job(void *x)
{
	return (struct spool__job *)((uintptr_t)x & ~SPOOL__ITEM_JOB);
}

static inline struct spool__job *
spool__job_of_node(struct spool__inject_node *n)
{
	return (struct spool__job *)((char *)n -
				     offsetof(struct spool__job, link));
}

/* ---- latches ------------------------------------------------------------- */

struct spool__latch {
	_Atomic uint64_t word;
};

#define SPOOL__LATCH_WAITER UINT64_C(1)
#define SPOOL__LATCH_ONE UINT64_C(2)

/* Before the latch is shared: closed for count count-downs. */
static inline void spool__latch_init(struct spool__latch *l, uint64_t count)
{
	atomic_init(&l->word, count * SPOOL__LATCH_ONE);
}

/* One more count-down to wait for. Only while the latch is closed, by a
 * thread that holds one of the outstanding counts (or before it is
 * shared), so the count cannot be seen reaching zero in between. Relaxed:
 * the count-down it is matched with comes after it in the word's
 * modification order, and the job that makes it is published by a queue
 * push that comes after this. */
static inline void spool__latch_add(struct spool__latch *l)
{
	atomic_fetch_add_explicit(&l->word, SPOOL__LATCH_ONE,
				  memory_order_relaxed);
}

/* Whether l is open; acquire: what the jobs wrote is then visible. */
static inline bool spool__latch_open(struct spool__latch *l)
{
	return (atomic_load_explicit(&l->word, memory_order_acquire) >> 1) == 0;
}

/* The low half of the word, which waiters sleep on. */
static inline uint32_t *spool__latch_futex(struct spool__latch *l)
{
	return spool__futex_word(&l->word);
}

/* Counts l down once. The caller must not touch l afterwards: its owner
 * may be gone. */
static inline void spool__latch_count_down(struct spool__latch *l)
{
	/* Release: see the top of this file. */
	uint64_t old = atomic_fetch_sub_explicit(&l->word, SPOOL__LATCH_ONE,
						 memory_order_release);
	if (__builtin_expect(old == (SPOOL__LATCH_ONE | SPOOL__LATCH_WAITER),
			     0))
		spool__futex_wake(spool__latch_futex(l), INT_MAX);
}

/* Blocks until l is open (0) or the absolute CLOCK_MONOTONIC deadline in
 * ns passes (SPOOL_ETIMEDOUT; INT64_MAX: no deadline). job.c. */
int spool__latch_block(struct spool__latch *l, int64_t deadline);

#endif /* SPOOL_POOL_JOB_H */
