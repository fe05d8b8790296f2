/* SPDX-License-Identifier: MIT */
/*
 * What every lab checker shares: the verdict lines, a gauge that counts
 * tasks in flight, a clock, the leak check on live futures, and the
 * measure of how many CPUs the machine gives right now.
 *
 * A checker prints exactly one verdict line on stdout:
 *   "lab check passed: <what was shown>"  (exit 0)
 *   "lab check failed: <what is wrong>"   (exit 1)
 *   "lab check skipped: <why>"            (exit 77)
 * The ctest of a starter (see docs/labs/CMakeLists.txt) passes only when
 * its checker exits 1 with the expected reason in that line, so a starter
 * that crashes or fails for another reason is itself a failure.
 *
 * Thread safety: every function may be called from any thread.
 */
#ifndef LAB_CHECK_H
#define LAB_CHECK_H

#include <stdatomic.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define LAB_NORETURN __attribute__((noreturn))
#define LAB_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LAB_NORETURN
#define LAB_PRINTF(a, b)
#endif

/* Prints "lab check failed: <message>" and ends the process at once with
 * status 1 (_exit: whatever the lab under test left running is not waited
 * for, and no exit handler runs on half-torn state). */
LAB_NORETURN LAB_PRINTF(1, 2) void lab_fail(const char *fmt, ...);

/* Prints "lab check skipped: <message>" and ends the process with status
 * 77, which ctest reports as Skipped. */
LAB_NORETURN LAB_PRINTF(1, 2) void lab_skip(const char *fmt, ...);

/* Prints "lab check passed: <message>"; the checker then returns 0. */
LAB_PRINTF(1, 2) void lab_pass(const char *fmt, ...);

/* Prints an informational line (figures, progress) on stderr. */
LAB_PRINTF(1, 2) void lab_note(const char *fmt, ...);

#define LAB_CHECK(cond, ...)                                                   \
	do {                                                                   \
		if (!(cond))                                                   \
			lab_fail(__VA_ARGS__);                                 \
	} while (0)

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t lab_now_ns(void);

/* Counts tasks in flight: enter when one starts, leave when it ends. max is
 * the most that were in flight at once since the last reset, total how many
 * entered. Lock-free; any thread. */
struct lab_gauge {
	atomic_long now, max, total;
};

void lab_gauge_reset(struct lab_gauge *g);
void lab_gauge_enter(struct lab_gauge *g);
void lab_gauge_leave(struct lab_gauge *g);

/* spool_debug_live_futures(): the futures alive in the process, or -1 in a
 * build without the debug counters (then the leak check is skipped). */
long lab_live_futures(void);

/* Fails, naming `when`, unless the live futures are back to baseline (in
 * builds that count them). */
void lab_check_no_leaked_futures(long baseline, const char *when);

/* How many CPUs `threads` spinning threads get right now, over 50 ms:
 * their CPU time divided by the wall time from the first start to the
 * last end (2.0 on an idle 2-core machine, less when other programs
 * compete). Prints the figure on stderr. Blocks for about 50 ms. */
double lab_cpus_given(int threads);

#endif /* LAB_CHECK_H */
