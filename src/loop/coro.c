/* SPDX-License-Identifier: MIT */
/*
 * The sanitizer-aware half of the coroutine switch (see coro.h): every
 * switch tells AddressSanitizer which stack becomes live and
 * ThreadSanitizer which fiber runs next, then calls the raw switch.
 *
 * AddressSanitizer's protocol: the side that leaves calls
 * start_switch_fiber(&save, new_stack_lo, new_stack_size) just before the
 * switch, the side that arrives calls finish_switch_fiber(save, &lo, &size)
 * just after it and learns the bounds of the stack it came from. A context
 * that leaves for good passes NULL instead of &save so that its fake stack is
 * freed. ThreadSanitizer only needs switch_to_fiber(next) just before the
 * switch; without the no-sync flag that switch is also a happens-before edge
 * from the leaving fiber to the arriving one, which is what a coroutine
 * switch is.
 */
#include <stdint.h>
#include <stdlib.h>

#include "coro.h"
#include "core/misuse.h"
#include "sanitizer.h"

void spool__coro_init_thread(struct spool__coro *c)
{
	c->stack_lo = NULL;
	c->stack_size = 0;
	c->asan_fake_stack = NULL;
#ifdef SPOOL__TSAN
	c->tsan_fiber = __tsan_get_current_fiber();
#else
	c->tsan_fiber = NULL;
#endif
}

int spool__coro_make(struct spool__coro *c, void *stack_lo, size_t size,
		     void (*entry)(void *), void *arg)
{
	c->stack_lo = stack_lo;
	c->stack_size = size;
	c->asan_fake_stack = NULL;
#ifdef SPOOL__TSAN
	c->tsan_fiber = __tsan_create_fiber(0);
	if (!c->tsan_fiber)
		return -1;
	__tsan_set_fiber_name(c->tsan_fiber, "spool coroutine");
#else
	c->tsan_fiber = NULL;
#endif
	spool__coro_raw_make(c, stack_lo, size, entry, arg);
	return 0;
}

/* After arriving in self: finish AddressSanitizer's switch and, if the
 * context we came from is a thread stack whose bounds we did not know,
 * record them for the switch back. */
void spool__coro_arrived(struct spool__coro *self, struct spool__coro *from)
{
#ifdef SPOOL__ASAN
	const void *lo;
	size_t size;
	__sanitizer_finish_switch_fiber(self->asan_fake_stack, &lo, &size);
	if (from && !from->stack_lo) {
		from->stack_lo = lo;
		from->stack_size = size;
	}
#else
	(void)self;
	(void)from;
#endif
}

void spool__coro_started(struct spool__coro *self, struct spool__coro *from)
{
	self->asan_fake_stack = NULL;
	spool__coro_arrived(self, from);
}

#if defined(SPOOL__CORO_UCONTEXT) || defined(SPOOL__ASAN) ||                   \
	defined(SPOOL__TSAN)
/* The context that switched last on this thread: written just before each
 * switch by the side that leaves, read just after it by the side that
 * arrives, which thereby learns where it came from (coroutines may switch
 * to each other, not only to and from the scheduler). Both sides run on
 * the same thread, one after the other. */
static _Thread_local struct spool__coro *leaving;

void spool__coro_switch(struct spool__coro *from, struct spool__coro *to)
{
#ifdef SPOOL__CORO_UCONTEXT
	from->low = (char *)__builtin_frame_address(0) - 1024;
	if ((const char *)from->low < (const char *)from->stack_lo)
		from->low = (void *)(uintptr_t)from->stack_lo;
#endif
#ifdef SPOOL__ASAN
	__sanitizer_start_switch_fiber(&from->asan_fake_stack, to->stack_lo,
				       to->stack_size);
#endif
#ifdef SPOOL__TSAN
	__tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
	leaving = from;
	spool__coro_raw_switch(from, to);
	spool__coro_arrived(from, leaving);
}
#endif

_Noreturn void spool__coro_exit(struct spool__coro *from,
				struct spool__coro *to)
{
#ifdef SPOOL__ASAN
	__sanitizer_start_switch_fiber(NULL, to->stack_lo, to->stack_size);
#endif
#ifdef SPOOL__TSAN
	__tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
#if defined(SPOOL__CORO_UCONTEXT) || defined(SPOOL__ASAN) ||                   \
	defined(SPOOL__TSAN)
	leaving = from;
#endif
	spool__coro_raw_switch(from, to);
	spool__bug("coroutine exit", "a finished coroutine was resumed");
}

void spool__coro_release(struct spool__coro *c)
{
#ifdef SPOOL__TSAN
	if (c->tsan_fiber)
		__tsan_destroy_fiber(c->tsan_fiber);
#endif
	c->tsan_fiber = NULL;
}
