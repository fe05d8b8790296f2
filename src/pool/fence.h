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

#endif /* SPOOL_POOL_FENCE_H */
