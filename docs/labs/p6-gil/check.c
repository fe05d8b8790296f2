/* SPDX-License-Identifier: MIT */
/*
 * Lab P6 checker. First what holds on any machine:
 *   - lab_work() is deterministic and reaches a checkpoint between units;
 *   - lab_run_threads() gives each thread's checksum, with and without the
 *     GIL; with the GIL no checkpoint is reached by a thread that does
 *     not hold it (the lock model counts those), and without it the two
 *     threads meet at their first checkpoints (they run at the same
 *     time).
 * Then the lesson, which needs CPUs to show: with a 5 ms switch interval,
 * two threads under the GIL must not speed the work up (at most 1.3x),
 * while two threads without it must turn at least half of each CPU the
 * machine gives beyond the first into speedup, and more than the GIL run.
 * The machine is measured right before and right after (lab_cpus_given),
 * and during the rounds each thread without the GIL measures the share of
 * a CPU it got while it computed (gil.h's probe): an attempt counts only
 * if two spinning threads got at least 1.5 CPUs both times (when they get
 * less before, the rounds are not even run) and every such thread got at
 * least 0.8 of a CPU. Up to
 * three attempts; a claim fails only if it failed in two attempts that counted;
 * if none counted the checker skips (exit 77), saying why. Each attempt takes
 * the median of three interleaved rounds. Before the lesson, the convoy effect
 * is measured and printed (not checked): how long a thread that waited 1 ms
 * for "I/O" takes to get the GIL back, alone and beside two CPU-bound
 * threads.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <spool.h>

#include "lab.h"
#include "lab_check.h"

#define INTERVAL_NS (5 * SPOOL_NS_PER_MS)
#define TARGET_NS (40 * SPOOL_NS_PER_MS) /* one thread's share */

static long units;       /* per thread, calibrated to about TARGET_NS */
static uint64_t want[2]; /* lab_work(i, units) computed alone */

static int64_t time_work(uint64_t seed, long n, uint64_t *sum)
{
	int64_t t0 = lab_now_ns();
	*sum = lab_work(seed, n);
	return lab_now_ns() - t0;
}

static void calibrate(void)
{
	uint64_t s1, s2;
	long n = 256;
	int64_t t = time_work(0, n, &s1);
	while (t < 5 * SPOOL_NS_PER_MS && n < (1L << 30)) {
		n *= 2;
		t = time_work(0, n, &s1);
	}
	LAB_CHECK(t >= 5 * SPOOL_NS_PER_MS,
		  "lab_work(0, %ld) took %.3f ms: it must do CPU work in each "
		  "unit",
		  n, t / 1e6);
	time_work(0, n, &s2);
	LAB_CHECK(s1 == s2,
		  "lab_work(0, %ld) returned %llu, then %llu: the same seed "
		  "and units must give the same checksum",
		  n, (unsigned long long)s1, (unsigned long long)s2);
	units = (long)((double)n * TARGET_NS / (double)t);
	if (units < 1)
		units = 1;
	long before = lab_gil_checkpoints_here();
	lab_work(1, 1000);
	long calls = lab_gil_checkpoints_here() - before;
	LAB_CHECK(calls >= 999,
		  "lab_work(1, 1000) called lab_gil_checkpoint() %ld times: "
		  "call it between units",
		  calls);
	lab_note("lab_work: %ld units take about %.0f ms on one thread", units,
		 TARGET_NS / 1e6);
}

static void check_sums(const uint64_t *sums, int n, const char *what)
{
	for (int i = 0; i < n; i++)
		LAB_CHECK(sums[i] == want[i],
			  "%s: thread %d's sum is %llu, lab_work(%d, %ld) "
			  "alone gives %llu",
			  what, i, (unsigned long long)sums[i], i, units,
			  (unsigned long long)want[i]);
}

static void check_correct(lab_gil *gil)
{
	uint64_t sums[2] = {0, 0};
	lab_gil_expect_held(true);
	int err = lab_run_threads(gil, 2, units, sums);
	long unlocked = lab_gil_unlocked_checkpoints();
	lab_gil_expect_held(false);
	LAB_CHECK(err == 0, "lab_run_threads(gil, 2) returned %d", err);
	LAB_CHECK(unlocked == 0,
		  "with the GIL, threads computed without holding the GIL "
		  "(%ld checkpoints were reached by a thread that did not "
		  "hold it): each thread must lab_gil_acquire() before it "
		  "computes and lab_gil_release() after",
		  unlocked);
	want[0] = lab_work(0, units);
	want[1] = lab_work(1, units);
	check_sums(sums, 2, "with the GIL");
	struct lab_gil_stats st;
	lab_gil_stats_get(gil, &st);
	LAB_CHECK(st.acquisitions >= 2,
		  "the GIL was taken %llu time(s) by 2 threads",
		  (unsigned long long)st.acquisitions);
	lab_note("2 threads under the GIL: %llu acquisitions, %llu switches, "
		 "%llu drop requests",
		 (unsigned long long)st.acquisitions,
		 (unsigned long long)st.switches,
		 (unsigned long long)st.drop_requests);
	lab_gil_meet_begin(2);
	err = lab_run_threads(NULL, 2, units, sums);
	bool met = lab_gil_meet_end();
	LAB_CHECK(err == 0, "lab_run_threads(NULL, 2) returned %d", err);
	check_sums(sums, 2, "without the GIL");
	LAB_CHECK(met,
		  "without the GIL, the 2 threads never computed at the same "
		  "time: the first waited %.0f s at its first checkpoint, "
		  "and the other reached none meanwhile (start every thread "
		  "before you join any)",
		  LAB_GIL_MEET_NS / 1e9);
}

/* ---- the lesson ---------------------------------------------------------- */

static int64_t run_timed(lab_gil *gil, int nthreads, long n)
{
	uint64_t sums[2];
	int64_t t0 = lab_now_ns();
	int err = lab_run_threads(gil, nthreads, n, sums);
	int64_t t = lab_now_ns() - t0;
	LAB_CHECK(err == 0, "lab_run_threads returned %d", err);
	return t;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static int64_t median3(int64_t *v)
{
	qsort(v, 3, sizeof(*v), cmp_i64);
	return v[1];
}

struct attempt {
	double cpus, share, seq_ms, par, gil;
	bool counts, par_ok, gil_ok;
};

static struct attempt measure(lab_gil *gil)
{
	struct attempt a = {0};
	double before = lab_cpus_given(2);
	if (before < 1.5) {
		/* Too busy already: do not spend the rounds; give the load
		 * a moment to pass before the next attempt. */
		a.cpus = before;
		struct timespec pause = {0, 100 * 1000 * 1000};
		nanosleep(&pause, NULL);
		return a;
	}
	int64_t seq[3], par[3], ggil[3];
	double share = 1.0;
	for (int r = 0; r < 3; r++) {
		seq[r] = run_timed(NULL, 1, 2 * units); /* the same work */
		lab_gil_share_begin();
		par[r] = run_timed(NULL, 2, units);
		double sh = lab_gil_share_min();
		share = sh < share ? sh : share;
		ggil[r] = run_timed(gil, 2, units);
	}
	double after = lab_cpus_given(2);
	a.cpus = before < after ? before : after;
	/* Between the two measurements of the machine, other work may take
	 * CPUs away from the rounds themselves: each thread without the GIL
	 * must have had most of a CPU while it computed. (Threads that do
	 * not run at the same time still get a whole CPU each: that fault
	 * is not excused.) */
	a.share = share;
	a.counts = a.cpus >= 1.5 && share >= 0.8;
	double s = (double)median3(seq);
	a.seq_ms = s / 1e6;
	a.par = s / (double)median3(par);
	a.gil = s / (double)median3(ggil);
	a.par_ok = a.par >= 1 + 0.5 * (a.cpus - 1) && a.par > a.gil;
	a.gil_ok = a.gil <= 1.3;
	lab_note("one thread %.1f ms; speedup of 2 threads: %.2fx without the "
		 "GIL, %.2fx with it (machine gave %.2f CPUs; each thread "
		 "without the GIL got at least %.2f of a CPU)",
		 a.seq_ms, a.par, a.gil, a.cpus, a.share);
	return a;
}

static void lesson(lab_gil *gil)
{
	int counted = 0, par_failed = 0, gil_failed = 0;
	struct attempt a = {0};
	for (int i = 0; i < 3; i++) {
		a = measure(gil);
		if (!a.counts)
			continue;
		counted++;
		par_failed += !a.par_ok;
		gil_failed += !a.gil_ok;
		if (a.par_ok && a.gil_ok)
			return;
		if (par_failed >= 2 || gil_failed >= 2)
			break;
	}
	if (!counted)
		lab_skip("in 3 of 3 attempts the machine gave less than 1.5 "
			 "CPUs to two threads, or a thread less than 0.8 of "
			 "a CPU while it computed (figures above): too busy to "
			 "show a speedup; rerun on an idle machine");
	LAB_CHECK(gil_failed < 2,
		  "with the GIL, 2 threads ran %.2fx faster than 1: the GIL "
		  "must let only one thread compute at a time (at most 1.3x)",
		  a.gil);
	LAB_CHECK(par_failed < 2,
		  "without the GIL, 2 threads gave only %.2fx on a machine "
		  "that gave %.2f CPUs (at least %.2fx expected, and more "
		  "than the %.2fx with the GIL): do your threads run at the "
		  "same time?",
		  a.par, a.cpus, 1 + 0.5 * (a.cpus - 1), a.gil);
	lab_skip("the machine was too busy in one of two attempts that failed "
		 "(figures above)");
}

/* ---- the convoy effect, measured ---------------------------------------- */

struct io {
	lab_gil *gil;
	bool beside_cpu;
	uint64_t taken_before; /* acquisitions before the CPU threads */
	atomic_bool cpu_done;
	int n; /* waits recorded */
	int64_t wait_ns[10];
};

/* Does up to 10 rounds of 1 ms of "I/O" (GIL released), timing how long
 * each takes to get the GIL back. Beside CPU-bound threads it starts once
 * one of them has taken the GIL, and keeps only the rounds that ended
 * while they were still computing. */
static void *io_thread(void *arg)
{
	struct io *io = arg;
	struct lab_gil_stats st;
	while (io->beside_cpu && !atomic_load(&io->cpu_done)) {
		lab_gil_stats_get(io->gil, &st);
		if (st.acquisitions > io->taken_before)
			break;
		struct timespec pause = {0, 100000};
		nanosleep(&pause, NULL);
	}
	lab_gil_acquire(io->gil);
	for (int i = 0; i < 10; i++) {
		lab_gil_blocking_begin();
		struct timespec ms = {0, 1000000};
		nanosleep(&ms, NULL); /* the "I/O" */
		int64_t t0 = lab_now_ns();
		lab_gil_blocking_end();
		int64_t waited = lab_now_ns() - t0;
		if (io->beside_cpu && atomic_load(&io->cpu_done))
			break;
		io->wait_ns[io->n++] = waited;
	}
	lab_gil_release(io->gil);
	return NULL;
}

/* The median wait of the I/O thread's rounds, in ms; -1 if none counted. */
static double io_median_ms(lab_gil *gil, bool beside_cpu, int *rounds)
{
	struct io io = {.gil = gil, .beside_cpu = beside_cpu};
	struct lab_gil_stats st;
	lab_gil_stats_get(gil, &st);
	io.taken_before = st.acquisitions;
	atomic_init(&io.cpu_done, false);
	pthread_t t;
	LAB_CHECK(pthread_create(&t, NULL, io_thread, &io) == 0,
		  "pthread_create failed");
	if (beside_cpu)
		run_timed(gil, 2, units);
	atomic_store(&io.cpu_done, true);
	pthread_join(t, NULL);
	*rounds = io.n;
	if (io.n == 0)
		return -1;
	qsort(io.wait_ns, (size_t)io.n, sizeof(io.wait_ns[0]), cmp_i64);
	return io.wait_ns[io.n / 2] / 1e6;
}

int main(void)
{
	lab_gil *gil;
	LAB_CHECK(lab_gil_create(&gil, INTERVAL_NS) == 0, "no GIL");
	calibrate();
	check_correct(gil);
	/* Printed before the lesson, so that a skip still shows it. */
	int n_alone, n_beside;
	double alone = io_median_ms(gil, false, &n_alone);
	double convoy = io_median_ms(gil, true, &n_beside);
	lab_note("convoy: after 1 ms of I/O, a thread took the GIL back in "
		 "%.2f ms alone and %.2f ms beside 2 CPU-bound threads "
		 "(medians of %d and %d rounds; switch interval %.0f ms)",
		 alone, convoy, n_alone, n_beside, INTERVAL_NS / 1e6);
	lesson(gil);
	lab_gil_destroy(gil);
	lab_pass("checksums right with and without the GIL, no computing "
		 "outside it, and the GIL took the speedup away");
	return 0;
}
