/* SPDX-License-Identifier: MIT */
/*
 * The futex and the pause instruction, once for all of spool (never
 * installed): a future's waiters (core/wait.c), the pool's event counts
 * (pool/park.c) and the loop's gate (loop/loop.c) sleep and wake through
 * these, and every spin loop relaxes the CPU with spool__cpu_relax().
 * Process-private futexes only: spool's words never live in shared memory.
 */
#ifndef SPOOL_CORE_FUTEX_H
#define SPOOL_CORE_FUTEX_H

#include <limits.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Sleeps while *addr == expected (the kernel compares atomically with
 * queueing the sleeper, so a change made before the call is never
 * missed), until woken or the absolute CLOCK_MONOTONIC deadline passes
 * (NULL: no deadline; spurious wake-ups do not stretch it). Returns the
 * system call's result: 0 when woken, -1 with errno EAGAIN (the word
 * differed), ETIMEDOUT or EINTR. Callers re-check their condition either
 * way. */
static inline long spool__futex_wait(const void *addr, uint32_t expected,
				     const struct timespec *deadline)
{
	return syscall(SYS_futex, addr, FUTEX_WAIT_BITSET_PRIVATE, expected,
		       deadline, NULL, FUTEX_BITSET_MATCH_ANY);
}

/* Wakes up to n sleepers on addr (INT_MAX: all). */
static inline void spool__futex_wake(const void *addr, int n)
{
	syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* One round of a spin loop: tells the CPU (and a hyperthread sibling)
 * that this thread is waiting for another. */
static inline void spool__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* n rounds of spool__cpu_relax(): a short wait in a polling loop that
 * keeps the core. For a wait that should let another thread have the
 * core, block instead: a sched_yield() in a loop is charged a whole slice
 * per call by Linux's EEVDF scheduler (src/mpi/engine.c has the story). */
static inline void spool__cpu_relax_for(unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		spool__cpu_relax();
}

#endif /* SPOOL_CORE_FUTEX_H */
