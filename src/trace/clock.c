/* SPDX-License-Identifier: MIT */
/*
 * The trace clock (see clock.h): the tick source chosen per session and
 * the start/stop calibration that maps ticks to CLOCK_MONOTONIC ns.
 */
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "clock.h"
#include "trace.h"

_Atomic bool spool__trace_cycles;

static bool cycles_usable(void)
{
#if defined(__x86_64__)
	unsigned a, b, c, d;
	if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000007u)
		return false;
	__get_cpuid(0x80000007u, &a, &b, &c, &d);
	return (d >> 8) & 1u; /* invariant TSC */
#elif defined(__aarch64__)
	return true; /* the generic timer runs at a constant rate */
#else
	return false;
#endif
}

uint64_t spool__trace_now(void)
{
	return spool__trace_ticks();
}

/* One (ticks, ns) pair: the ticks read on both sides of clock_gettime,
 * averaged, so the pair is as close to one instant as the reads allow. */
static void pair(bool cyc, uint64_t *ticks, int64_t *ns)
{
	if (!cyc) {
		*ns = spool__trace_mono_ns();
		*ticks = (uint64_t)*ns;
		return;
	}
	uint64_t a = spool__trace_cycles_read();
	*ns = spool__trace_mono_ns();
	uint64_t b = spool__trace_cycles_read();
	*ticks = a + (b - a) / 2;
}

void spool__trace_clock_start(struct spool__trace_clock *c, bool monotonic)
{
	c->cycles = !monotonic && cycles_usable();
	atomic_store_explicit(&spool__trace_cycles, c->cycles,
			      memory_order_relaxed);
	pair(c->cycles, &c->t0_ticks, &c->t0_ns);
	c->t1_ticks = c->t0_ticks;
	c->t1_ns = c->t0_ns;
	c->ns_per_tick = 1.0;
}

void spool__trace_clock_stop(struct spool__trace_clock *c)
{
	pair(c->cycles, &c->t1_ticks, &c->t1_ns);
	if (c->cycles && c->t1_ticks > c->t0_ticks && c->t1_ns > c->t0_ns)
		c->ns_per_tick = (double)(c->t1_ns - c->t0_ns) /
				 (double)(c->t1_ticks - c->t0_ticks);
	else
		c->ns_per_tick = 1.0;
}

uint64_t spool__trace_clock_ns(const struct spool__trace_clock *c,
			       uint64_t ticks)
{
	if (ticks <= c->t0_ticks)
		return 0;
	return spool__trace_clock_span_ns(c, ticks - c->t0_ticks);
}

uint64_t spool__trace_clock_span_ns(const struct spool__trace_clock *c,
				    uint64_t d)
{
	if (!c->cycles)
		return d;
	return (uint64_t)((double)d * c->ns_per_tick + 0.5);
}

const char *spool__trace_clock_name(const struct spool__trace_clock *c)
{
#if defined(__aarch64__)
	return c->cycles ? "cntvct" : "monotonic";
#else
	return c->cycles ? "tsc" : "monotonic";
#endif
}
