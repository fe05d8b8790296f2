/* SPDX-License-Identifier: MIT */
/*
 * The portable coroutine switch: getcontext / makecontext / swapcontext
 * (POSIX.1-2001, still provided by glibc and musl). Chosen with the CMake
 * option SPOOL_CORO_UCONTEXT and on architectures without a hand-written
 * switch. Slower than coro_switch.c: glibc's swapcontext saves and restores
 * the signal mask with a system call on every switch.
 *
 * makecontext passes only int arguments, so the context pointer travels as
 * two 32-bit halves.
 */
#include "coro.h"
#include "core/misuse.h"

#ifdef SPOOL__CORO_UCONTEXT

#include <stdint.h>
#include <stdlib.h>

static void boot(unsigned hi, unsigned lo)
{
	struct spool__coro *c =
		(struct spool__coro *)(((uintptr_t)hi << 16 << 16) | lo);
	c->entry(c->arg);
	spool__bug("coroutine entry", "an entry function returned");
}

void spool__coro_raw_make(struct spool__coro *c, void *stack_lo, size_t size,
			  void (*entry)(void *), void *arg)
{
	uintptr_t p = (uintptr_t)c;
	c->entry = entry;
	c->arg = arg;
	if (getcontext(&c->uc) != 0)
		spool__bug_errno("coroutine creation", "getcontext");
	c->uc.uc_stack.ss_sp = stack_lo;
	c->uc.uc_stack.ss_size = size;
	c->uc.uc_link = NULL;
	makecontext(&c->uc, (void (*)(void))boot, 2, (unsigned)(p >> 16 >> 16),
		    (unsigned)(p & 0xffffffffu));
}

void spool__coro_raw_switch(struct spool__coro *from, struct spool__coro *to)
{
	if (swapcontext(&from->uc, &to->uc) != 0)
		spool__bug_errno("coroutine switch", "swapcontext");
}

#endif /* SPOOL__CORO_UCONTEXT */
