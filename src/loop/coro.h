/* SPDX-License-Identifier: MIT */
/*
 * Stackful coroutine contexts: the smallest thing that can stop a C call
 * chain half-way and resume it later.
 *
 * A context is a saved stack pointer (the hand-written switch for x86-64 and
 * aarch64, coro_switch.c) or a ucontext_t (coro_ucontext.c, the portable
 * fallback, chosen with the CMake option SPOOL_CORO_UCONTEXT and on every
 * other architecture). Either way the switch is symmetric: switch(from, to)
 * saves the caller in from and resumes to; it returns when somebody switches
 * back to from.
 *
 * The loop's scheduler switches into one coroutine, which runs until it
 * suspends and then switches either back to the scheduler or straight into
 * the next coroutine of the loop's batch (spool__task_leave in
 * loop_impl.h); a finished coroutine always switches back to the
 * scheduler. The sanitizer bookkeeping below records the scheduler's stack
 * bounds as reported when a coroutine is entered from it; each arriving
 * side learns which context switched in from a thread-local note the
 * leaving side writes (coro.c), not from the shape of the switches.
 *
 * Sanitizers do not see a stack pointer change by themselves. Every switch
 * is annotated (coro.c): AddressSanitizer's __sanitizer_start_switch_fiber /
 * __sanitizer_finish_switch_fiber so that it knows which stack is live (and
 * frees a dead coroutine's fake stack), and ThreadSanitizer's fibers
 * (__tsan_create_fiber, __tsan_switch_to_fiber, __tsan_destroy_fiber) so
 * that each coroutine has its own shadow call stack and a switch orders the
 * two sides. Hence the hand-written switch is used in sanitizer builds too.
 */
#ifndef SPOOL_LOOP_CORO_H
#define SPOOL_LOOP_CORO_H

#include <stddef.h>

#include "sanitizer.h"

#if defined(SPOOL_CORO_UCONTEXT) ||                                            \
	!(defined(__x86_64__) || defined(__aarch64__))
#define SPOOL__CORO_UCONTEXT 1
#include <ucontext.h>
#endif

struct spool__coro {
#ifdef SPOOL__CORO_UCONTEXT
	ucontext_t uc;
	void (*entry)(void *);
	void *arg;
	/* Below everything live on the stack while switched out: the frame
	 * of spool__coro_switch less a margin for the raw switch's frames
	 * (swapcontext saves registers in uc, not on the stack). */
	void *low;
#else
	void *sp; /* saved stack pointer while switched out */
#endif
	/* The stack this context runs on, [stack_lo, stack_lo + stack_size);
	 * for a thread's own stack, learnt from AddressSanitizer at the first
	 * switch into a coroutine (unused in other builds). */
	const void *stack_lo;
	size_t stack_size;
	void *asan_fake_stack; /* AddressSanitizer's token across a switch */
	void *tsan_fiber;      /* ThreadSanitizer's fiber, or the thread's */
};

/* Makes c the calling thread's own context, to switch away from and back to
 * (the scheduler). Cheap; call it on the thread that will use c. */
void spool__coro_init_thread(struct spool__coro *c);

/* Prepares c to run entry(arg) on [stack_lo, stack_lo + size) at the first
 * switch into it. entry must begin with spool__coro_started() and must never
 * return: it ends with spool__coro_exit(). Returns 0 or -1 when the
 * sanitizer runtime cannot make a fiber. */
int spool__coro_make(struct spool__coro *c, void *stack_lo, size_t size,
		     void (*entry)(void *), void *arg);

/* First thing in an entry function: completes the sanitizer half of the
 * switch that entered it; from is the context that switched in. */
void spool__coro_started(struct spool__coro *self, struct spool__coro *from);

/* After arriving in self from `from` (coro.c). */
void spool__coro_arrived(struct spool__coro *self, struct spool__coro *from);

#if defined(SPOOL__CORO_UCONTEXT) || defined(SPOOL__ASAN) ||                   \
	defined(SPOOL__TSAN)
/* Saves the running context in from and resumes to. Returns when a switch
 * back to from happens. */
void spool__coro_switch(struct spool__coro *from, struct spool__coro *to);
#else
void spool__coro_swap(void **save_sp, void *new_sp); /* coro_switch.c */

/* As above; inline in plain builds with the hand-written switch. A switch
 * is the one place where returns do not match calls (the return after it
 * goes to the other context's caller), so the CPU's return-address
 * predictor misses on each return up the stack that resumes; a switch
 * inlined into its callers takes one return level off each side. */
static inline void spool__coro_switch(struct spool__coro *from,
				      struct spool__coro *to)
{
	spool__coro_swap(&from->sp, to->sp);
}
#endif

/* The last switch out of a finished coroutine: never returns, and tells the
 * sanitizers that from's stack is dead. */
_Noreturn void spool__coro_exit(struct spool__coro *from,
				struct spool__coro *to);

/* Frees what spool__coro_make allocated, once c has exited (call it from
 * another context, typically the scheduler). */
void spool__coro_release(struct spool__coro *c);

/* While c is switched out: the lowest address of its stack that holds
 * live data (everything from there to the top must be kept). */
static inline const void *spool__coro_low(const struct spool__coro *c)
{
#ifdef SPOOL__CORO_UCONTEXT
	return c->low;
#else
	return c->sp;
#endif
}

/* The raw switch, without sanitizer bookkeeping (coro_switch.c or
 * coro_ucontext.c). */
void spool__coro_raw_make(struct spool__coro *c, void *stack_lo, size_t size,
			  void (*entry)(void *), void *arg);
void spool__coro_raw_switch(struct spool__coro *from, struct spool__coro *to);

#endif /* SPOOL_LOOP_CORO_H */
