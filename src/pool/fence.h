/* SPDX-License-Identifier: MIT */
/*
 * The pool's one full fence (never installed).
 *
 * Every seq_cst fence in the pool orders a store before a later load for a
 * Dekker-style handshake (the deque's pop against steal, a submitter
 * against a worker going to sleep); none of them carries data from one
 * thread to another: data always travels through release/acquire pairs on
 * the same atomic object. ThreadSanitizer does not model fences (GCC
 * refuses them under -fsanitize=thread), but it does not need to see
 * these: it checks data races, which the release/acquire pairs settle. So
 * under TSan the same hardware instruction is emitted as an asm statement
 * TSan does not look at, and everywhere else it is the C11 fence.
 */
#ifndef SPOOL_POOL_FENCE_H
#define SPOOL_POOL_FENCE_H

#include <stdatomic.h>

#if defined(__SANITIZE_THREAD__)
#define SPOOL__POOL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SPOOL__POOL_TSAN 1
#endif
#endif

#if defined(SPOOL__POOL_TSAN) && defined(__x86_64__)
#define spool__fence_seq_cst() __asm__ __volatile__("mfence" ::: "memory")
#elif defined(SPOOL__POOL_TSAN) && defined(__aarch64__)
#define spool__fence_seq_cst() __asm__ __volatile__("dmb ish" ::: "memory")
#else
#define spool__fence_seq_cst() atomic_thread_fence(memory_order_seq_cst)
#endif

/*
 * The asymmetric pair. One Dekker handshake is lopsided: a submitter runs
 * its half (notify) on every spawn, a worker runs the other half only when
 * it is about to sleep. Linux's membarrier(MEMBARRIER_CMD_PRIVATE_
 * EXPEDITED) makes every running thread of the process execute a full
 * barrier before it returns (an interrupt to each CPU that runs one;
 * a thread not running passes a barrier when it is switched out), so a
 * fence on the rare side lets the frequent side drop its fence to a
 * compiler barrier: the man page's "barrier() on the fast path,
 * membarrier() on the slow path is equivalent to smp_mb() on both", the
 * scheme of liburcu and of folly's asymmetricLightBarrier. Where the
 * kernel refuses membarrier (old kernels, seccomp), both sides fall back
 * to the full fence, decided once before the first pool starts.
 */
#include <stdbool.h>

extern _Atomic bool spool__membarrier_ok;

/* Registers the process for expedited membarrier, once; called by pool
 * create before any worker starts, so every later reader of the flag
 * happens after its only write. */
void spool__fence_init(void);

/* The frequent side: a compiler barrier when membarrier works. */
static inline void spool__fence_light(void)
{
	/* Relaxed: written once before any pool thread exists (above). */
	if (__builtin_expect(atomic_load_explicit(&spool__membarrier_ok,
						  memory_order_relaxed),
			     1))
		atomic_signal_fence(memory_order_seq_cst);
	else
		spool__fence_seq_cst();
}

/* The rare side: a full barrier on every thread of the process. */
void spool__fence_heavy(void);

#endif /* SPOOL_POOL_FENCE_H */
