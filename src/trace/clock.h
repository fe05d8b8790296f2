/* SPDX-License-Identifier: MIT */
/*
 * The trace clock: raw ticks on the hot path, nanoseconds at write time.
 *
 * On x86-64 with an invariant TSC (constant rate, not stopped in deep
 * C-states: CPUID 0x80000007 EDX bit 8) an event is stamped with rdtsc,
 * about a third of the cost of clock_gettime(CLOCK_MONOTONIC) through the
 * vDSO; aarch64 reads its generic timer (CNTVCT_EL0), also constant-rate;
 * anything else, or spool_trace_options.monotonic_clock, uses
 * CLOCK_MONOTONIC directly (one tick = one ns). Ticks are turned into
 * nanoseconds by a linear map calibrated against CLOCK_MONOTONIC at the
 * session's start and stop, so the file's times are CLOCK_MONOTONIC
 * intervals from the session's start whatever the source.
 */
#ifndef SPOOL_TRACE_CLOCK_H
#define SPOOL_TRACE_CLOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

/* Whether ticks come from the cycle counter. Written by start under the
 * session lock, read on the hot path. Relaxed: a thread that reads a stale
 * value stamps an event of a session it is leaving or joining; such edge
 * events are clamped at write time. */
extern _Atomic bool spool__trace_cycles;

static inline int64_t spool__trace_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline uint64_t spool__trace_cycles_read(void)
{
#if defined(__x86_64__)
	return __rdtsc();
#elif defined(__aarch64__)
	uint64_t v;
	__asm__ __volatile__("mrs %0, cntvct_el0" : "=r"(v));
	return v;
#else
	return (uint64_t)spool__trace_mono_ns();
#endif
}

/* The current raw ticks of the session's clock. */
static inline uint64_t spool__trace_ticks(void)
{
	if (atomic_load_explicit(&spool__trace_cycles, memory_order_relaxed))
		return spool__trace_cycles_read();
	return (uint64_t)spool__trace_mono_ns();
}

/* The calibration of one session, filled by start and stop (under the
 * session lock). */
struct spool__trace_clock {
	bool cycles;       /* ticks are cycle-counter ticks, else ns */
	uint64_t t0_ticks; /* ticks at the session's start */
	int64_t t0_ns;     /* CLOCK_MONOTONIC at the same instant */
	uint64_t t1_ticks; /* ticks at stop */
	int64_t t1_ns;
	double ns_per_tick;
};

/* Picks the tick source for a new session (the cycle counter unless
 * monotonic is true or none is usable) and records the start instant. */
void spool__trace_clock_start(struct spool__trace_clock *c, bool monotonic);

/* Records the stop instant and computes the scale. */
void spool__trace_clock_stop(struct spool__trace_clock *c);

/* Nanoseconds from the session's start to ticks (0 for earlier ticks). */
uint64_t spool__trace_clock_ns(const struct spool__trace_clock *c,
			       uint64_t ticks);

/* Nanoseconds in d ticks. */
uint64_t spool__trace_clock_span_ns(const struct spool__trace_clock *c,
				    uint64_t d);

/* "tsc", "cntvct" or "monotonic". */
const char *spool__trace_clock_name(const struct spool__trace_clock *c);

#endif /* SPOOL_TRACE_CLOCK_H */
