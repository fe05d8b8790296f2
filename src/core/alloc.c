/* SPDX-License-Identifier: MIT */
/*
 * The countdown behind the allocation seam's injected failures (alloc.h).
 */
#include "alloc.h"

#ifdef SPOOL_DEBUG_COUNTERS
_Atomic long spool__alloc_fail_after;

long spool_debug_alloc_fail_nth(long n)
{
	return atomic_exchange(&spool__alloc_fail_after, n > 0 ? n : 0);
}
#else
long spool_debug_alloc_fail_nth(long n)
{
	(void)n;
	return -1;
}
#endif
