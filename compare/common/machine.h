/* SPDX-License-Identifier: MIT */
/*
 * What this machine gives right now, measured just before a timed program
 * prints its figures: how many CPUs a few spinning threads actually got,
 * and the 1-minute load average. On a shared machine the CPUs online say
 * little: two cores busy with other programs give a two-thread pool one
 * CPU or less, and a speedup must then be read against that, not against
 * the thread count. Both one thread alone and the threads together are
 * measured: a speedup over one thread is bounded by the ratio of the two
 * (the scheduler shares the CPUs among everything runnable, so on a busy
 * machine one thread gets less than a CPU too). The figures are printed before
 * the results, and the programs state their ratios against them ("ideal
 * here: 1.3x").
 *
 * Part of the spool_bench library; spool-compare links it too. Nothing
 * here is thread-safe (a driver calls it from its one thread), and
 * spool_bench_machine_measure() blocks for the spin.
 */
#ifndef SPOOL_BENCH_MACHINE_H
#define SPOOL_BENCH_MACHINE_H

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* How long each measurement spins, in milliseconds. */
#define SPOOL_BENCH_SPIN_MS 80

/* One look at the machine. */
typedef struct spool_bench_machine {
	int threads;       /* threads that spun together */
	int spin_ms;       /* how long, each time */
	double cpus_given; /* CPU time they got over the wall time: up to
			      threads on an idle machine; 0 if unmeasured */
	double cpus_one;   /* the same for one thread spinning alone (just
			      before): up to 1; 0 if unmeasured */
	int online;        /* CPUs online (sysconf) */
	double loadavg;    /* 1-minute load average, or -1 where unknown */
} spool_bench_machine;

/* Spins one thread for SPOOL_BENCH_SPIN_MS, then `threads` threads (clamped
 * to 1..64) for as long from a common start, and fills *m with the CPUs
 * each obtained, the CPUs online and the load average. A thread the machine
 * does not run at once starts late and gets less CPU time, which is what the
 * figure is for. Blocks for the spin; call it while no measured work runs. m:
 * owned by the caller, written only. */
void spool_bench_machine_measure(spool_bench_machine *m, int threads);

/* The 1-minute load average from /proc/loadavg, or -1. Never blocks for
 * long (one small read). */
double spool_bench_loadavg(void);

/* The speedup over one thread that a CPU-bound job split over `workers`
 * threads can reach on what m measured: the CPUs the threads obtained
 * (at most workers) over the CPU one thread obtained (at most 1). A figure
 * within 5% of the thread count counts as the thread count: the spin
 * itself shares the machine with interrupts and the driver. */
double spool_bench_machine_ideal(const spool_bench_machine *m, int workers);

/* Prints one line to out, "<label>: 2 threads spinning 80 ms got 1.31
 * CPUs (2 online); load average (1 min) 7.06"; label NULL means "machine
 * now". m, out and label: borrowed. */
void spool_bench_machine_print(const spool_bench_machine *m, FILE *out,
			       const char *label);

/* How long a cache line takes to go from CPU `a` to CPU `b` and back now,
 * in nanoseconds: two threads pinned to those CPUs hand a counter back and
 * forth; the median of 5 batches of 2,000 round trips. On a virtual
 * machine the answer changes with where the host runs the two virtual
 * CPUs (on this project's 2-core machines: about 120 ns when they share a
 * core complex, about 500 ns when they do not), and so does every figure
 * bound by messages between two processes, such as a ping-pong or a
 * farm of one-task messages. Returns -1 when a CPU is not ours to run on,
 * or when the other thread did not answer within 100 ms (a busy machine).
 * Blocks for the measurement (a few milliseconds); call it while no
 * measured work runs. */
double spool_bench_handoff_ns(int a, int b);

#ifdef __cplusplus
}
#endif

#endif /* SPOOL_BENCH_MACHINE_H */
