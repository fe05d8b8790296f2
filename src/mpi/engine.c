/* SPDX-License-Identifier: MIT */
/*
 * The progress engine: MPI requests as futures, tested with MPI_Testsome.
 *
 * MPI gives no descriptor to wait on, so someone must poll. The engine
 * keeps the pending requests in one array (the layout MPI_Testsome wants)
 * and tests them all in one call per pass; new requests arrive from any
 * thread through an inbox under the engine's mutex and join the array at
 * the start of the next pass. HPX's MPI futures do the same from the
 * scheduler's idle loop; the MPI Continuations proposal (Schuchart et al.,
 * EuroMPI 2021) moves that loop into MPI. Here it runs in one of two
 * places:
 *
 *   - on a loop: a loop callback runs a pass and re-arms itself while
 *     anything is pending: with call_soon (the next iteration) during the
 *     spin window, then with call_later and a doubling pause;
 *   - on a progress thread: the same policy with a condition variable
 *     for the pauses, and a wait without timeout when nothing is pending.
 *
 * The policy: after an event (a completion, a message, a new request) poll
 * without pausing for spin_ns (default 200 us), so a conversation of quick
 * messages (ping-pong) pays no sleep (the progress thread shortens its
 * window while events come further apart than spin_ns, see adapt_spin);
 * then pause 1 us, 2 us, 4 us, ... up
 * to max_delay_ns (default 1 ms), which bounds the latency the engine adds
 * after a quiet spell; with nothing pending and no poller, do nothing at
 * all (the thread waits on its condition variable, the loop has no
 * callback of the engine's). A new request kicks the engine out of a
 * pause. A spin window shorter than the shortest real pause (timer slack
 * plus wake-up) lets two engines in a conversation fall into taking turns
 * sleeping; docs/design/mpi.md has the measurements behind the defaults.
 *
 * No waiting thread spins on sched_yield(). Under Linux's EEVDF
 * scheduler (6.6 on) a yield forfeits the rest of the thread's slice: its
 * virtual runtime jumps to its deadline, however little it ran. A thread
 * that polls and yields in a loop beside busy processes is charged a
 * slice per poll, falls behind them and runs a few microseconds per
 * slice of theirs: the farm of spool-bench-mpi beside two busy processes
 * took 3-25 s (plain MPI: 0.1-0.3 s). So a pass that found nothing is
 * followed by a few pause instructions (spool__cpu_relax_for), and the
 * spin window, bounded and adaptive, is what keeps a spinning thread from
 * holding a core that another thread of this process needs; where that
 * other thread is known (the pool runner an executor starts), it counts as
 * a driver from the moment it is started, so the progress thread stands
 * aside (below) instead of spinning beside it.
 *
 * One thread at a time: every pass holds the process-wide progress lock,
 * so MPI_Testsome (and everything a poller does) is never called by two
 * threads at once, whatever the number of engines.
 *
 * Driving waits. A thread's round trip through a progress thread costs a
 * futex wake-up (the progress thread completes the future, the waiter
 * sleeps on it): microseconds, several times an MPI message between two
 * processes of one node. So the futures of an engine with a progress
 * thread are driven promises (spool_promise_new_driven): a plain thread
 * that waits on one runs progress passes itself, as MPI_Wait polls on the
 * calling thread, for as long as events keep coming (spin_ns after the
 * last), then sleeps and lets the progress thread finish. A pass takes
 * the progress lock with trylock: a waiter never blocks behind another
 * pass, whose completions it sees in the future's state anyway.
 *   While anybody drives, the progress thread stands aside: it does not
 * spin (four spinning threads on two cores, as two ranks of a ping-pong
 * make, delay the very messages they wait for; waking it often costs the
 * same) but sleeps and makes one pass every max_delay_ns, the latency
 * bound of a quiet spell, so a request nobody drives still progresses
 * within that time. New requests do not wake it (a driver's next pass
 * takes them), which saves a wake-up per request. When the last driver
 * leaves with requests pending it hands over: it wakes the thread. The
 * count of drivers and `pending` are seq_cst on both sides, so a leaver
 * sees a request added before its decrement; one added after it finds the
 * thread standing aside and waits at most max_delay_ns for its next pass.
 *
 * Submitting threads pulse. A thread that hands the engine a burst of work
 * (spool_mpi_submit() in a loop) makes a pass itself now and then
 * (spool__mpi_pulse: every PULSE_EVERY submissions, with trylock), as the
 * hand-written loop of MPI calls it replaces would. Each try is counted,
 * whether it got the lock or not (a progress thread on hot holds it
 * nearly all the time, so most tries would fail and, uncounted, go
 * unseen), and the progress thread that sees a new count stands aside for
 * PULSE_LEASE_NS (at most max_delay_ns) instead of spinning beside the
 * submitter: on a node with as many cores as ranks, the spinning thread
 * would take the core of the rank that runs the tasks. A pulse has no
 * end to announce (the submitter may stop at any time), so the lease is
 * what bounds the added latency: at most one lease after the last pulse
 * the progress thread makes a pass and goes on hot, and kicks are not
 * needed meanwhile, since a task queued during the lease is taken by the
 * next pulse or by that pass. The lease adapts: a lease that saw pulses
 * is followed by one twice as long, up to max_delay_ns, and one that saw
 * none ends the standing aside (the thread goes on hot, and its next
 * lease is PULSE_LEASE_NS again). Each lease ends in a wake-up of the
 * progress thread, on a core that the submitter and the worker rank are
 * using: with a fixed 100 us lease, a 20 ms burst cost some 200 of them.
 * Measured on spool-bench-mpi's farm (2 ranks, 2 cores): sched_switch
 * traces of 6 runs counted the worker rank's pool thread preempted by a
 * progress thread 2,626 times with a fixed lease and only successful
 * tries counted, 1,049 times with both changes; the farm went from 0.72x
 * to 0.81x of plain MPI's throughput (tasks on the worker's pool) and
 * from 0.76x to 0.84x (tasks inline), medians of 8 and 6 interleaved
 * rounds. The bound on the added latency is then max_delay_ns after the
 * last pulse, the same as for a driving wait.
 *
 * Cancellation: a request future starts RUNNING, so spool_future_cancel()
 * only raises its flag; each pass looks at the flags of the pending
 * futures and calls MPI_Cancel once for each new one, and the completion
 * that follows tells with MPI_Test_cancelled whether the future ends
 * CANCELLED or DONE.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "core/futex.h"
#include "mpi/internal.h"

static pthread_mutex_t progress_mu = PTHREAD_MUTEX_INITIALIZER;

/* Pause instructions after a pass that found nothing, inside a spin
 * window (some 0.5 us here: about what a pass on a few requests costs). */
#define SPIN_RELAX 32

/* How long a pass on a loop polls on when it finds nothing, inside the
 * spin window (see loop_pass). */
#define INNER_SPIN_NS 5000

/* How long the progress thread first stands aside after it saw a pulse
 * (see "Submitting threads pulse": the lease then doubles while pulses
 * come, up to max_delay_ns). */
#define PULSE_LEASE_NS (100 * 1000)

/* The fields of the engine's drive word. */
#define DRIVE_BITS 20
#define DRIVE_ONE UINT64_C(1)
#define DRIVE_MASK ((UINT64_C(1) << DRIVE_BITS) - 1)
#define DRIVE_BEGUN (UINT64_C(1) << DRIVE_BITS)

/* One pending request's bookkeeping, parallel to the request array. */
struct op {
	spool_future *f;       /* a request future (engine's reference), or */
	spool__mpi_done_fn fn; /* an internal request's completion */
	void *arg;
	MPI_Status *status_out;
	bool cancel_sent;
};

struct poller {
	spool__mpi_poll_fn fn;
	void *arg;
};

struct spool_mpi_engine {
	pthread_mutex_t mu; /* inbox, pollers, sleep state, counters */
	pthread_cond_t cv;

	/* Owned by the thread in a pass (progress lock). */
	MPI_Request *reqs;
	struct op *ops;
	size_t n, cap;
	int *idx;
	MPI_Status *sts;

	/* Inbox: requests added since the last pass (mu). */
	MPI_Request *in_reqs;
	struct op *in_ops;
	size_t in_n, in_cap;

	struct poller *pollers; /* mu; copied by the pass */
	size_t npollers, cap_pollers;
	struct poller *pass_pollers; /* the pass's copy (progress lock) */
	size_t npass_pollers, cap_pass_pollers;
	/* Set after the inbox or the pollers change (under mu), cleared by
	 * the pass that takes them: a pass with nothing new takes no lock.
	 * No change is missed: a writer sets it after its change, so either
	 * the exchange in take_inbox sees it, or the change comes after the
	 * exchange and sets it again for the next pass. */
	atomic_bool dirty;

	int64_t spin_ns, max_delay_ns;
	int executors; /* mu */
	/* DONE with value NULL, shared by the request futures that complete
	 * at once without a status (spool_mpi_future); NULL if it could not
	 * be made. Released by destroy; callers hold their own references. */
	spool_future *done;

	/* Progress thread. */
	pthread_t thread;
	bool has_thread;
	bool stop;     /* mu */
	bool sleeping; /* mu: the thread waits on cv */
	bool kicked;   /* mu: an event since the thread last looked */
	bool handoff;  /* mu: the last driver left with requests pending */
	/* Written under mu; read without it by kicks (see "Driving
	 * waits"): the thread stands aside while waiters drive. */
	atomic_bool deferring;

	/* Waiters that drive (see "Driving waits" above): how many drive
	 * now (the low DRIVERS_BITS) and how many drives began (above
	 * them), so the progress thread can tell that somebody drove while
	 * it stood aside. One word: entering a drive is one add. */
	atomic_uint_fast64_t drive;

	/* Loop. */
	spool_loop *loop;
	spool_handle *timer;          /* the scheduled pass (loop thread) */
	bool timer_soon;              /* it was scheduled with call_soon */
	atomic_bool kick_posted;      /* a threadsafe kick is on its way */
	atomic_int refs;              /* engine + a posted kick */
	atomic_bool dead;             /* destroy has begun */
	int64_t delay_ns, last_event; /* the loop's backoff state */

	/* Counters: passes and pauses under mu, the others atomic, so that
	 * `pending` drops before the completion it counts is published. */
	spool_mpi_engine_stats st;
	atomic_size_t pending;
	atomic_uint_fast64_t completed, cancelled, passes, driven, pulsed;
	atomic_uint_fast64_t pulse_tries; /* spool__mpi_pulse calls */
	atomic_int_fast64_t spin_window;  /* the progress thread's, for stats */
	atomic_int_fast64_t lease;        /* its last pulse lease, for stats */
};

/* ---- inbox ------------------------------------------------------------ */

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap * 2 : 16;
	while (c < need)
		c *= 2;
	void *q = realloc(*p, c * size);
	if (!q)
		return SPOOL_ENOMEM;
	*p = q;
	*cap = c;
	return 0;
}

static int inbox_add(spool_mpi_engine *e, MPI_Request req, struct op op)
{
	pthread_mutex_lock(&e->mu);
	size_t c1 = e->in_cap, c2 = e->in_cap;
	int rc = grow((void **)&e->in_reqs, &c1, e->in_n + 1,
		      sizeof *e->in_reqs);
	if (rc == 0)
		rc = grow((void **)&e->in_ops, &c2, e->in_n + 1,
			  sizeof *e->in_ops);
	if (rc == 0) {
		e->in_cap = c1 < c2 ? c1 : c2;
		e->in_reqs[e->in_n] = req;
		e->in_ops[e->in_n] = op;
		e->in_n++;
		atomic_fetch_add(&e->pending, 1);
		atomic_store(&e->dirty, true);
	} else if (c1 != c2) {
		e->in_cap = c1 < c2 ? c1 : c2;
	}
	pthread_mutex_unlock(&e->mu);
	return rc;
}

/* Makes room for need requests in the pass's arrays. Progress lock held.
 * Returns 0 or SPOOL_ENOMEM (the arrays then as they were, or larger). */
static int room_locked(spool_mpi_engine *e, size_t need)
{
	size_t c1 = e->cap, c2 = e->cap, c3 = e->cap, c4 = e->cap;
	if (grow((void **)&e->reqs, &c1, need, sizeof *e->reqs) ||
	    grow((void **)&e->ops, &c2, need, sizeof *e->ops) ||
	    grow((void **)&e->idx, &c3, need, sizeof *e->idx) ||
	    grow((void **)&e->sts, &c4, need, sizeof *e->sts)) {
		size_t c = c1;
		c = c2 < c ? c2 : c;
		c = c3 < c ? c3 : c;
		c = c4 < c ? c4 : c;
		e->cap = c;
		return SPOOL_ENOMEM;
	}
	e->cap = c1;
	return 0;
}

/* Moves the inbox into the pass's arrays. Progress lock held. A load
 * before the exchange: most passes find nothing new, and a plain load
 * does not take the line away from the threads that add. */
static void take_inbox(spool_mpi_engine *e)
{
	if (!atomic_load(&e->dirty) || !atomic_exchange(&e->dirty, false))
		return;
	pthread_mutex_lock(&e->mu);
	size_t need = e->n + e->in_n;
	if (room_locked(e, need) != 0) {
		/* No room: the inbox stays for a later pass. */
		atomic_store(&e->dirty, true); /* try again next pass */
		pthread_mutex_unlock(&e->mu);
		return;
	}
	if (e->in_n) {
		memcpy(e->reqs + e->n, e->in_reqs, e->in_n * sizeof *e->reqs);
		memcpy(e->ops + e->n, e->in_ops, e->in_n * sizeof *e->ops);
	}
	e->n = need;
	e->in_n = 0;
	/* The pollers too: a pass runs its own copy, so that add and remove
	 * never touch the array a pass walks. */
	size_t cp = e->cap_pass_pollers;
	if (grow((void **)&e->pass_pollers, &cp, e->npollers,
		 sizeof *e->pass_pollers) == 0) {
		e->cap_pass_pollers = cp;
		if (e->npollers)
			memcpy(e->pass_pollers, e->pollers,
			       e->npollers * sizeof *e->pollers);
		e->npass_pollers = e->npollers;
	} else {
		atomic_store(&e->dirty, true);
	}
	pthread_mutex_unlock(&e->mu);
}

/* ---- one pass --------------------------------------------------------- */

/* A DONE future's status for the caller. MPI leaves the MPI_ERROR field
 * unset in what MPI_Test and MPI_Testsome return (unless the latter
 * returns MPI_ERR_IN_STATUS), so it would hold whatever the stack held:
 * the operation succeeded, and the caller reads MPI_SUCCESS there. */
static void put_status(MPI_Status *out, const MPI_Status *st)
{
	if (!out)
		return;
	*out = *st;
	out->MPI_ERROR = MPI_SUCCESS;
}

static void complete(spool_mpi_engine *e, struct op *op, MPI_Status *st,
		     int err)
{
	int flag = 0;
	if (err == 0 && op->cancel_sent)
		MPI_Test_cancelled(st, &flag);
	/* Counted before the future completes, so that whoever sees it final
	 * sees the count too. */
	atomic_fetch_sub(&e->pending, 1);
	atomic_fetch_add(&e->completed, 1);
	if (flag)
		atomic_fetch_add(&e->cancelled, 1);
	if (op->fn) {
		op->fn(op->arg, st, err, flag != 0);
		return;
	}
	spool_future *f = op->f;
	if (err != 0) {
		spool_promise_set_error(f, err);
	} else if (flag) {
		spool_promise_set_error(f, SPOOL_ECANCELLED);
	} else {
		put_status(op->status_out, st);
		spool_promise_set_result(f, op->status_out);
	}
	spool_future_release(f);
}

/* Tests every pending request once; completes what completed. Returns the
 * number of completions. Progress lock held. */
static int test_requests(spool_mpi_engine *e)
{
	size_t n = e->n;
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		struct op *op = &e->ops[i];
		if (op->f && !op->cancel_sent &&
		    spool_future_cancel_requested(op->f)) {
			MPI_Cancel(&e->reqs[i]);
			op->cancel_sent = true;
		}
	}
	int out = 0;
	int rc;
	if (n == 1) {
		/* One request (a conversation's receive): MPI_Test does the
		 * same for half the instructions of MPI_Testsome. */
		int flag = 0;
		e->idx[0] = 0;
		rc = MPI_Test(&e->reqs[0], &flag, &e->sts[0]);
		out = flag ? 1 : 0;
		if (rc != MPI_SUCCESS) {
			/* Reported as Testsome reports a failed request. */
			e->sts[0].MPI_ERROR = rc;
			rc = MPI_ERR_IN_STATUS;
			out = 1;
		}
	} else {
		rc = MPI_Testsome((int)n, e->reqs, &out, e->idx, e->sts);
	}
	int done = 0;
	if (rc == MPI_SUCCESS || rc == MPI_ERR_IN_STATUS) {
		if (out == MPI_UNDEFINED)
			out = 0;
		for (int k = 0; k < out; k++) {
			int err = rc == MPI_ERR_IN_STATUS ? e->sts[k].MPI_ERROR
							  : MPI_SUCCESS;
			if (rc == MPI_ERR_IN_STATUS && err == MPI_ERR_PENDING)
				continue; /* not complete after all */
			/* A failed request is freed by MPI (or should be:
			 * make sure it is not tested again). */
			e->reqs[e->idx[k]] = MPI_REQUEST_NULL;
			complete(e, &e->ops[e->idx[k]], &e->sts[k], err);
			done++;
		}
	} else {
		/* MPI_Testsome itself failed: tell the requests apart one
		 * by one, so that one broken request fails alone. */
		for (size_t i = 0; i < n; i++) {
			int flag = 0;
			MPI_Status st;
			int r = MPI_Test(&e->reqs[i], &flag, &st);
			if (r != MPI_SUCCESS || flag) {
				e->reqs[i] = MPI_REQUEST_NULL;
				complete(e, &e->ops[i], &st, r);
				done++;
			}
		}
	}
	/* Completed requests are MPI_REQUEST_NULL now: close the gaps. */
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		if (e->reqs[i] == MPI_REQUEST_NULL)
			continue;
		e->reqs[j] = e->reqs[i];
		e->ops[j] = e->ops[i];
		j++;
	}
	e->n = j;
	return done;
}

/* A whole pass: inbox, requests, pollers. *next_ns gets the longest pause
 * the pollers tolerate (INT64_MAX when there is none). Progress lock held.
 * Returns the number of events. */
static int pass_locked(spool_mpi_engine *e, int64_t *next_ns)
{
	take_inbox(e);
	int ev = test_requests(e);
	int64_t next = INT64_MAX;
	size_t np = e->npass_pollers;
	/* A statistic, written only under the progress lock: a load and a
	 * store, without the locked add a spinning driver would pay on every
	 * pass (relaxed: readers want a snapshot, not an order). */
	atomic_store_explicit(
		&e->passes,
		atomic_load_explicit(&e->passes, memory_order_relaxed) + 1,
		memory_order_relaxed);
	if (np) {
		int64_t now = spool__mpi_now();
		for (size_t i = 0; i < np; i++) {
			int64_t nx = INT64_MAX;
			ev += e->pass_pollers[i].fn(e->pass_pollers[i].arg, now,
						    &nx);
			if (nx < next)
				next = nx;
		}
	}
	if (e->n > 0 && next > 0)
		next = 0;
	*next_ns = next;
	return ev;
}

int spool__mpi_drive(spool_mpi_engine *e)
{
	int64_t next;
	pthread_mutex_lock(&progress_mu);
	int ev = pass_locked(e, &next);
	pthread_mutex_unlock(&progress_mu);
	return ev;
}

/* A pass if no other thread is in one: its events, or -1 (nothing done)
 * when the progress lock is taken; a thread that would only add to
 * passes never waits behind another's. counter, if not NULL, counts the
 * pass under the lock, as pass_locked counts passes, so relaxed
 * accesses suffice (the stats are a snapshot). */
static int try_pass(spool_mpi_engine *e, atomic_uint_fast64_t *counter)
{
	if (pthread_mutex_trylock(&progress_mu) != 0)
		return -1;
	int64_t next;
	int ev = pass_locked(e, &next);
	if (counter)
		atomic_store_explicit(
			counter,
			atomic_load_explicit(counter, memory_order_relaxed) + 1,
			memory_order_relaxed);
	pthread_mutex_unlock(&progress_mu);
	return ev;
}

int spool__mpi_try_drive(spool_mpi_engine *e)
{
	return try_pass(e, NULL);
}

int spool__mpi_pulse(spool_mpi_engine *e)
{
	if (!e->has_thread)
		return -1;
	/* Counted before the try: a progress thread in its spin window
	 * holds the lock nearly all the time (a pass, a few instructions,
	 * the next pass), so most tries of a burst would fail and the thread
	 * would never see the burst it should stand aside for. Relaxed: as
	 * pulsed below. */
	atomic_fetch_add_explicit(&e->pulse_tries, 1, memory_order_relaxed);
	/* pulsed is a statistic only: the progress thread watches the
	 * tries, and its lease ends in a pass of its own whatever it read
	 * (see "Submitting threads pulse"). */
	return try_pass(e, &e->pulsed);
}

void spool__mpi_drive_enter(spool_mpi_engine *e)
{
	/* As a driving wait: the progress thread stands aside. */
	atomic_fetch_add(&e->drive, DRIVE_ONE | DRIVE_BEGUN);
}

/* The last driver out wakes the progress thread, which stood aside (see
 * "Driving waits"). */
static void hand_over(spool_mpi_engine *e)
{
	pthread_mutex_lock(&e->mu);
	e->handoff = true;
	e->kicked = true;
	if (e->sleeping)
		pthread_cond_signal(&e->cv);
	pthread_mutex_unlock(&e->mu);
}

void spool__mpi_drive_exit(spool_mpi_engine *e)
{
	/* seq_cst, as in drive_leave. The last one out hands over whatever
	 * is pending: a poller (an executor) needs passes even when no
	 * request is. */
	uint64_t old = atomic_fetch_sub(&e->drive, DRIVE_ONE);
	if ((old & DRIVE_MASK) == DRIVE_ONE)
		hand_over(e);
}

/* ---- the progress thread ---------------------------------------------- */

static void add_ns(struct timespec *ts, int64_t ns)
{
	ts->tv_sec += ns / SPOOL_NS_PER_S;
	ts->tv_nsec += ns % SPOOL_NS_PER_S;
	if (ts->tv_nsec >= SPOOL_NS_PER_S) {
		ts->tv_sec++;
		ts->tv_nsec -= SPOOL_NS_PER_S;
	}
}

/* The progress thread's spin window after an event that came gap ns
 * after the one before, given the window cur it had: halved (down to
 * SPIN_MIN_NS) when even the longest window, spin_ns, would have ended
 * before this event, which means spinning after the last one only took a
 * core from the threads doing the work (tasks of milliseconds, a
 * conversation with long pauses); doubled (up to spin_ns) when this
 * event came after the window ended but within spin_ns, so a longer one
 * would have caught it; unchanged otherwise. A conversation of quick
 * messages keeps the whole window, and one whose gaps the window
 * outgrew gets it back within a few events. */
#define SPIN_MIN_NS (5 * 1000)

static int64_t adapt_spin(const spool_mpi_engine *e, int64_t cur, int64_t gap)
{
	int64_t floor = e->spin_ns < SPIN_MIN_NS ? e->spin_ns : SPIN_MIN_NS;
	if (gap >= e->spin_ns)
		return cur / 2 > floor ? cur / 2 : floor;
	if (gap >= cur)
		return cur * 2 < e->spin_ns ? cur * 2 : e->spin_ns;
	return cur;
}

/* Others drive (see "Driving waits" and "Submitting threads pulse"
 * above): sleep ns (max_delay_ns for waiters, the lease for a submitter)
 * unless the last driver hands over or destroy stops us, then make one
 * pass without waiting for the progress lock. Called and returns with mu
 * held. */
static void stand_aside(spool_mpi_engine *e, int64_t ns)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	add_ns(&ts, ns);
	atomic_store(&e->deferring, true);
	e->sleeping = true;
	e->st.pauses++;
	while (!e->stop && !e->handoff)
		if (pthread_cond_timedwait(&e->cv, &e->mu, &ts) == ETIMEDOUT)
			break;
	e->sleeping = false;
	atomic_store(&e->deferring, false);
	e->handoff = false;
	pthread_mutex_unlock(&e->mu);
	(void)try_pass(e, NULL);
	pthread_mutex_lock(&e->mu);
	e->kicked = true; /* go on hot: a driver may have just left */
}

static void *progress_main(void *arg)
{
	spool_mpi_engine *e = arg;
	/* Named, so that top -H, perf and debuggers tell it from the
	 * program's own threads. */
	pthread_setname_np(pthread_self(), "spool-mpi-prog");
#ifdef PR_SET_TIMERSLACK
	/* Pauses of a few microseconds mean what they say: the default
	 * slack (50 us) would stretch every one of them. This thread only. */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
#endif
	int64_t last = spool__mpi_now(), delay = 1000;
	pthread_mutex_lock(&e->mu);
	uint64_t seen = atomic_load(&e->drive) >> DRIVE_BITS;
	uint64_t seen_pulses = atomic_load_explicit(&e->pulse_tries,
						    memory_order_relaxed);
	const int64_t lease0 = PULSE_LEASE_NS < e->max_delay_ns
				       ? PULSE_LEASE_NS
				       : e->max_delay_ns;
	int64_t lease = lease0;
	bool pulse_lease = false;  /* the last stand-aside was a lease */
	int64_t spin = e->spin_ns; /* the window now (adapt_spin) */
	for (;;) {
		if (e->stop)
			break;
		uint64_t d = atomic_load(&e->drive);
		uint64_t p = atomic_load_explicit(&e->pulse_tries,
						  memory_order_relaxed);
		/* Drivers now, or drives since we last looked. */
		bool waits = (d & DRIVE_MASK) > 0 || d >> DRIVE_BITS != seen;
		if (waits || p != seen_pulses) {
			seen = d >> DRIVE_BITS;
			seen_pulses = p;
			/* The lease: doubled right after a lease (we
			 * only get here through a new count, so that lease
			 * saw pulses), else the first one. */
			if (!waits && pulse_lease)
				lease = lease * 2 < e->max_delay_ns
						? lease * 2
						: e->max_delay_ns;
			else
				lease = lease0;
			pulse_lease = !waits;
			atomic_store_explicit(&e->lease, lease,
					      memory_order_relaxed);
			stand_aside(e, waits ? e->max_delay_ns : lease);
			last = spool__mpi_now();
			delay = 1000;
			continue;
		}
		pulse_lease = false; /* on hot: a new burst starts anew */
		bool idle = atomic_load(&e->pending) == 0 && e->npollers == 0;
		if (idle) {
			/* Nothing to poll: sleep until a kick. No wake-up is
			 * lost: kicks set `kicked` under mu, and we test it
			 * under mu before waiting. */
			if (!e->kicked) {
				e->sleeping = true;
				pthread_cond_wait(&e->cv, &e->mu);
				e->sleeping = false;
			}
			e->kicked = false;
			last = spool__mpi_now();
			delay = 1000;
			continue;
		}
		pthread_mutex_unlock(&e->mu);
		int64_t next;
		pthread_mutex_lock(&progress_mu);
		int ev = pass_locked(e, &next);
		pthread_mutex_unlock(&progress_mu);
		int64_t now = spool__mpi_now();
		pthread_mutex_lock(&e->mu);
		if (ev > 0 || e->kicked) {
			e->kicked = false;
			spin = adapt_spin(e, spin, now - last);
			/* relaxed: a snapshot for the stats */
			atomic_store_explicit(&e->spin_window, spin,
					      memory_order_relaxed);
			last = now;
			delay = 1000;
		}
		if (now - last < spin) {
			/* Spin window: the next pass at once, after a few
			 * pause instructions if this one found nothing (no
			 * sched_yield: see the top of the file). */
			if (ev == 0) {
				pthread_mutex_unlock(&e->mu);
				spool__cpu_relax_for(SPIN_RELAX);
				pthread_mutex_lock(&e->mu);
			}
			continue;
		}
		/* Requests pending: the backoff; only idle pollers: their
		 * pace. */
		int64_t pause = next == 0 ? delay : next;
		if (next == INT64_MAX)
			continue; /* became idle: the top of the loop waits */
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		add_ns(&ts, pause);
		e->sleeping = true;
		e->st.pauses++;
		while (!e->kicked && !e->stop) {
			if (pthread_cond_timedwait(&e->cv, &e->mu, &ts) ==
			    ETIMEDOUT)
				break;
		}
		e->sleeping = false;
		if (next == 0 && delay < e->max_delay_ns) {
			delay *= 2;
			if (delay > e->max_delay_ns)
				delay = e->max_delay_ns;
		}
	}
	pthread_mutex_unlock(&e->mu);
	return NULL;
}

/* ---- the loop --------------------------------------------------------- */

static void loop_pass(spool_loop *loop, void *arg);

static void engine_unref(spool_mpi_engine *e);

/* Schedules the next pass after delay ns (0: the next iteration),
 * replacing a later one. Loop thread. */
static void loop_arm(spool_mpi_engine *e, int64_t delay)
{
	if (e->timer) {
		if (e->timer_soon || delay > 0)
			return; /* one is due at least as soon */
		spool_handle_cancel(e->timer);
		spool_handle_release(e->timer);
		e->timer = NULL;
	}
	int rc = delay == 0 ? spool_loop_call_soon(e->loop, loop_pass, e,
						   &e->timer)
			    : spool_loop_call_later(e->loop, delay, loop_pass,
						    e, &e->timer);
	if (rc != 0) {
		/* No memory for a handle: poll again through the threadsafe
		 * path, which needs none of ours... or give up this once;
		 * the next kick re-arms. */
		e->timer = NULL;
		return;
	}
	e->timer_soon = delay == 0;
	if (delay > 0) {
		pthread_mutex_lock(&e->mu);
		e->st.pauses++;
		pthread_mutex_unlock(&e->mu);
	}
}

static void loop_pass(spool_loop *loop, void *arg)
{
	spool_mpi_engine *e = arg;
	(void)loop;
	if (e->timer) {
		spool_handle_release(e->timer);
		e->timer = NULL;
	}
	if (e->dead)
		return;
	int64_t next;
	int64_t now = spool__mpi_now();
	bool hot = now - e->last_event < e->spin_ns;
	int64_t until = now + INNER_SPIN_NS;
	int ev;
	unsigned spins = 0;
	pthread_mutex_lock(&progress_mu);
	for (;;) {
		ev = pass_locked(e, &next);
		/* In the spin window, a pass that found nothing polls on for
		 * a few microseconds (a message between processes on one
		 * node takes about one) rather than go round the loop, whose
		 * iteration costs an epoll_wait. */
		if (ev > 0 || !hot || e->n == 0 || atomic_load(&e->dirty))
			break;
		if ((++spins & 7) == 0 && spool__mpi_now() >= until)
			break;
	}
	pthread_mutex_unlock(&progress_mu);
	now = spool__mpi_now();
	bool more = atomic_load(&e->dirty);
	if (ev > 0 || more) {
		e->last_event = now;
		e->delay_ns = 1000;
	}
	if (next == INT64_MAX && !more)
		return; /* idle: the next request arms it again */
	if (now - e->last_event < e->spin_ns || more) {
		loop_arm(e, 0);
		return;
	}
	int64_t pause = next == 0 ? e->delay_ns : next;
	loop_arm(e, pause);
	if (next == 0 && e->delay_ns < e->max_delay_ns) {
		e->delay_ns *= 2;
		if (e->delay_ns > e->max_delay_ns)
			e->delay_ns = e->max_delay_ns;
	}
}

/* A kick from another thread, delivered on the loop. */
static void loop_kick_cb(spool_loop *loop, void *arg)
{
	spool_mpi_engine *e = arg;
	(void)loop;
	atomic_store_explicit(&e->kick_posted, false, memory_order_seq_cst);
	if (!e->dead) {
		e->last_event = spool__mpi_now();
		e->delay_ns = 1000;
		loop_arm(e, 0);
	}
	engine_unref(e);
}

/* ---- kicks ------------------------------------------------------------- */

void spool__mpi_kick(spool_mpi_engine *e)
{
	if (e->loop) {
		if (spool_loop_current() == e->loop) {
			if (!e->dead) {
				e->last_event = spool__mpi_now();
				e->delay_ns = 1000;
				loop_arm(e, 0);
			}
			return;
		}
		/* Coalesced: one kick on its way is enough, since the pass it
		 * arms takes the whole inbox. The flag is cleared before the
		 * pass, so a request added after that posts a new kick. */
		if (atomic_exchange_explicit(&e->kick_posted, true,
					     memory_order_seq_cst))
			return;
		atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
		if (spool_loop_call_soon_threadsafe(e->loop, loop_kick_cb, e) !=
		    0) {
			atomic_store(&e->kick_posted, false);
			engine_unref(e);
		}
		return;
	}
	/* Standing aside, the thread is not woken: a driver takes the
	 * request in its next pass (see "Driving waits"). seq_cst, after the
	 * caller's inbox_add: the thread clears the flag before the pass
	 * that ends its stand, so that pass finds the request. */
	if (atomic_load(&e->deferring))
		return;
	pthread_mutex_lock(&e->mu);
	e->kicked = true;
	if (e->sleeping && !atomic_load(&e->deferring))
		pthread_cond_signal(&e->cv);
	pthread_mutex_unlock(&e->mu);
}

/* ---- driving waits ------------------------------------------------------ */

/* The engine this thread drives now (NULL: none), when it last saw an
 * event, and the passes since. A thread drives one engine at a time: a
 * wait nested in a completion callback that drives another engine leaves
 * the first, whose next poll enters it again. */
static _Thread_local struct {
	spool_mpi_engine *e;
	int64_t last_event; /* 0: not read yet */
	unsigned idle;
} drive __attribute__((tls_model("initial-exec")));

static void drive_leave(void *arg);

/* Passes without an event between two clock reads. */
#define DRIVE_IDLE_CLOCK 16

static bool drive_poll(void *arg)
{
	spool_mpi_engine *e = arg;
	if (drive.e != e) {
		if (drive.e)
			drive_leave(drive.e);
		drive.e = e;
		drive.last_event = 0;
		drive.idle = 0;
		atomic_fetch_add(&e->drive, DRIVE_ONE | DRIVE_BEGUN);
	}
	if (atomic_load(&e->dead))
		return false;             /* destroy completes the futures */
	int ev = try_pass(e, &e->driven); /* -1: another thread's pass */
	if (ev > 0) {
		/* The spin window runs from the first quiet check after it:
		 * a clock read per check, none per event. */
		drive.idle = 0;
		drive.last_event = 0;
		return true;
	}
	/* The next pass at once, as MPI_Wait polls: a pause here would add
	 * to every message's latency (a spool ping-pong round trip went from
	 * 1.3 to 1.8 us with 32 pause instructions). No sched_yield() either
	 * (see the top): the spin window bounds the spinning. */
	drive.idle++;
	if (drive.idle % DRIVE_IDLE_CLOCK == 0) {
		int64_t now = spool__mpi_now();
		if (!drive.last_event)
			drive.last_event = now;
		else if (now - drive.last_event >= e->spin_ns)
			return false; /* quiet: sleep, the thread goes on */
	}
	return true;
}

static void drive_leave(void *arg)
{
	spool_mpi_engine *e = arg;
	if (drive.e != e)
		return; /* a nested wait on another engine left it already */
	drive.e = NULL;
	/* seq_cst, with inbox_add's increment of pending: see "Driving
	 * waits". */
	uint64_t old = atomic_fetch_sub(&e->drive, DRIVE_ONE);
	if ((old & DRIVE_MASK) == DRIVE_ONE && atomic_load(&e->pending) > 0)
		hand_over(e);
}

static void drive_release(void *arg)
{
	engine_unref(arg);
}

static const spool_promise_driver mpi_driver = {drive_poll, drive_leave,
						drive_release};

/* ---- public ------------------------------------------------------------ */

static void engine_free(spool_mpi_engine *e)
{
	free(e->reqs);
	free(e->ops);
	free(e->idx);
	free(e->sts);
	free(e->in_reqs);
	free(e->in_ops);
	free(e->pollers);
	free(e->pass_pollers);
	pthread_cond_destroy(&e->cv);
	pthread_mutex_destroy(&e->mu);
	free(e);
}

/* The engine's own reference is dropped by destroy; a threadsafe kick
 * holds another until it runs. Destroy outside the loop runs one loop
 * iteration to deliver a kick still on its way; a kick posted after that
 * (a caller bug: nothing may add to a dying engine) would keep the
 * engine's memory. */
static void engine_unref(spool_mpi_engine *e)
{
	/* acq_rel: the last owner sees every write of the others. */
	if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1)
		engine_free(e);
}

int spool_mpi_engine_create(spool_mpi_engine **out,
			    const spool_mpi_engine_options *opts)
{
	spool__mpi_check_live("spool_mpi_engine_create");
	if (!out)
		return SPOOL_EINVAL;
	*out = NULL;
	spool_mpi_engine_options o = SPOOL_MPI_ENGINE_OPTIONS_INIT;
	if (opts)
		o = *opts;
	if (o.max_delay_ns < 0)
		return SPOOL_EINVAL;
	if (!o.loop) {
		int level = MPI_THREAD_SINGLE;
		MPI_Query_thread(&level);
		if (level < MPI_THREAD_MULTIPLE)
			return SPOOL_EINVAL;
	}
	spool_mpi_engine *e = calloc(1, sizeof *e);
	if (!e)
		return SPOOL_ENOMEM;
	pthread_mutex_init(&e->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->cv, &ca);
	pthread_condattr_destroy(&ca);
	e->spin_ns = o.spin_ns == 0  ? 200 * 1000
		     : o.spin_ns < 0 ? 0
				     : o.spin_ns;
	e->max_delay_ns = o.max_delay_ns == 0 ? SPOOL_NS_PER_MS
					      : o.max_delay_ns;
	atomic_init(&e->spin_window, e->spin_ns);
	atomic_init(&e->lease, 0);
	if (e->max_delay_ns < 1000)
		e->max_delay_ns = 1000;
	e->loop = o.loop;
	e->delay_ns = 1000;
	atomic_init(&e->refs, 1);
	atomic_init(&e->pending, 0);
	atomic_init(&e->completed, 0);
	atomic_init(&e->cancelled, 0);
	atomic_init(&e->passes, 0);
	atomic_init(&e->driven, 0);
	atomic_init(&e->pulsed, 0);
	atomic_init(&e->pulse_tries, 0);
	atomic_init(&e->dirty, false);
	atomic_init(&e->kick_posted, false);
	atomic_init(&e->deferring, false);
	atomic_init(&e->drive, 0);
	e->done = spool_promise_new();
	if (e->done)
		spool_promise_set_result(e->done, NULL);
	if (!e->loop) {
		if (pthread_create(&e->thread, NULL, progress_main, e) != 0) {
			spool_future_release(e->done);
			engine_free(e);
			return SPOOL_ESYS;
		}
		e->has_thread = true;
	}
	*out = e;
	return 0;
}

spool_future *spool__mpi_promise(spool_mpi_engine *e)
{
	if (e->loop)
		return spool_promise_new();
	/* relaxed: made from the caller's use of a live engine, whose own
	 * reference destroy drops only after the caller is done with it */
	atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
	spool_future *f = spool_promise_new_driven(&mpi_driver, e);
	if (!f)
		engine_unref(e);
	return f;
}

spool_future *spool_mpi_future(spool_mpi_engine *e, MPI_Request *req,
			       MPI_Status *status)
{
	spool__mpi_check_live("spool_mpi_future");
	if (!e || !req)
		return spool__mpi_failed(SPOOL_EINVAL);
	if (e->dead)
		spool__mpi_misuse("spool_mpi_future",
				  "the engine is being destroyed");
	/* A request complete at once whose status nobody wants (an eager
	 * send, most of the time) gets the engine's shared DONE future: no
	 * allocation. Any other outcome of that first test goes on below,
	 * with its result (tested, rc, flag, st). */
	bool tested = false;
	int rc = MPI_SUCCESS, flag = 0;
	MPI_Status st;
	if (!status && e->done && *req != MPI_REQUEST_NULL &&
	    pthread_mutex_trylock(&progress_mu) == 0) {
		tested = true;
		rc = MPI_Test(req, &flag, &st);
		pthread_mutex_unlock(&progress_mu);
		if (rc == MPI_SUCCESS && flag) {
			*req = MPI_REQUEST_NULL;
			atomic_fetch_add(&e->completed, 1);
			return spool_future_retain(e->done);
		}
		if (rc != MPI_SUCCESS)
			*req = MPI_REQUEST_NULL; /* MPI is done with it */
	}
	spool_future *f = spool__mpi_promise(e);
	if (!f)
		return NULL;
	if (tested && rc != MPI_SUCCESS) {
		atomic_fetch_add(&e->completed, 1);
		spool_promise_set_error(f, rc);
		return f;
	}
	if (*req == MPI_REQUEST_NULL) {
		MPI_Test(req, &flag, &st);
		put_status(status, &st);
		spool_promise_set_result(f, status);
		return f;
	}
	/* A request that is complete already (an eager send, a message that
	 * was waiting) completes its future at once: no pass, no wake-up.
	 * The test is a progress call, so it takes the progress lock, and
	 * only if no pass holds it (a pass would find the request soon). A
	 * request tested above and found pending is tested again: it may be
	 * complete by now. */
	if (pthread_mutex_trylock(&progress_mu) == 0) {
		if (!tested)
			rc = MPI_Test(req, &flag, &st);
		if (rc == MPI_SUCCESS && !flag &&
		    room_locked(e, e->n + 1) == 0) {
			/* Pending: it joins the pass's arrays at once, which
			 * the progress lock we hold owns: no inbox, no lock
			 * of the engine's. The next pass tests it. */
			spool_promise_start(f);
			e->reqs[e->n] = *req;
			e->ops[e->n] = (struct op){.f = spool_future_retain(f),
						   .status_out = status};
			e->n++;
			atomic_fetch_add(&e->pending, 1);
			pthread_mutex_unlock(&progress_mu);
			*req = MPI_REQUEST_NULL;
			spool__mpi_kick(e);
			return f;
		}
		pthread_mutex_unlock(&progress_mu);
		if (rc != MPI_SUCCESS || flag) {
			*req = MPI_REQUEST_NULL;
			atomic_fetch_add(&e->completed, 1);
			if (rc != MPI_SUCCESS) {
				spool_promise_set_error(f, rc);
			} else {
				put_status(status, &st);
				spool_promise_set_result(f, status);
			}
			return f;
		}
	}
	spool_promise_start(f);
	struct op op = {.f = spool_future_retain(f), .status_out = status};
	if (inbox_add(e, *req, op) != 0) {
		/* Out of memory: the request stays the caller's; the future
		 * was never handed out. */
		spool_promise_set_error(f, SPOOL_ENOMEM);
		spool_future_release(f);
		spool_future_release(f);
		return NULL;
	}
	*req = MPI_REQUEST_NULL;
	spool__mpi_kick(e);
	return f;
}

int spool__mpi_track(spool_mpi_engine *e, MPI_Request req,
		     spool__mpi_done_fn fn, void *arg)
{
	struct op op = {.fn = fn, .arg = arg};
	int rc = inbox_add(e, req, op);
	if (rc == 0)
		spool__mpi_kick(e);
	return rc;
}

int spool__mpi_poller_add(spool_mpi_engine *e, spool__mpi_poll_fn fn, void *arg)
{
	pthread_mutex_lock(&e->mu);
	size_t cap = e->cap_pollers;
	int rc = grow((void **)&e->pollers, &cap, e->npollers + 1,
		      sizeof *e->pollers);
	if (rc == 0) {
		e->cap_pollers = cap;
		e->pollers[e->npollers++] = (struct poller){fn, arg};
		atomic_store(&e->dirty, true);
	}
	pthread_mutex_unlock(&e->mu);
	if (rc == 0)
		spool__mpi_kick(e);
	return rc;
}

void spool__mpi_poller_remove(spool_mpi_engine *e, spool__mpi_poll_fn fn,
			      void *arg)
{
	/* Under the progress lock no pass runs, and the next one copies the
	 * list without this poller. */
	pthread_mutex_lock(&progress_mu);
	pthread_mutex_lock(&e->mu);
	for (size_t i = 0; i < e->npollers; i++) {
		if (e->pollers[i].fn == fn && e->pollers[i].arg == arg) {
			memmove(&e->pollers[i], &e->pollers[i + 1],
				(e->npollers - i - 1) * sizeof *e->pollers);
			e->npollers--;
			break;
		}
	}
	/* The pass's copy too (we hold the progress lock). */
	if (e->cap_pass_pollers >= e->npollers) {
		if (e->npollers)
			memcpy(e->pass_pollers, e->pollers,
			       e->npollers * sizeof *e->pollers);
		e->npass_pollers = e->npollers;
	}
	atomic_store(&e->dirty, true);
	pthread_mutex_unlock(&e->mu);
	pthread_mutex_unlock(&progress_mu);
}

bool spool__mpi_progress_trylock(void)
{
	return pthread_mutex_trylock(&progress_mu) == 0;
}

void spool__mpi_progress_lock(void)
{
	pthread_mutex_lock(&progress_mu);
}

void spool__mpi_progress_unlock(void)
{
	pthread_mutex_unlock(&progress_mu);
}

int64_t spool__mpi_spin_ns(const spool_mpi_engine *e)
{
	return e->spin_ns;
}

bool spool__mpi_engine_on_loop(const spool_mpi_engine *e)
{
	return e->loop != NULL;
}

void spool__mpi_engine_use(spool_mpi_engine *e, int delta)
{
	pthread_mutex_lock(&e->mu);
	e->executors += delta;
	pthread_mutex_unlock(&e->mu);
}

int spool_mpi_engine_stats_get(spool_mpi_engine *e, spool_mpi_engine_stats *out)
{
	if (!e || !out)
		return SPOOL_EINVAL;
	pthread_mutex_lock(&e->mu);
	*out = e->st;
	pthread_mutex_unlock(&e->mu);
	out->pending = atomic_load(&e->pending);
	out->completed = atomic_load(&e->completed);
	out->cancelled = atomic_load(&e->cancelled);
	out->passes = atomic_load(&e->passes);
	out->driven = atomic_load(&e->driven);
	out->pulsed = atomic_load(&e->pulsed);
	out->spin_window_ns = atomic_load_explicit(&e->spin_window,
						   memory_order_relaxed);
	out->lease_ns = atomic_load_explicit(&e->lease, memory_order_relaxed);
	return 0;
}

static size_t pending(spool_mpi_engine *e)
{
	return atomic_load(&e->pending);
}

void spool_mpi_engine_destroy(spool_mpi_engine *e)
{
	if (!e)
		return;
	spool__mpi_check_live("spool_mpi_engine_destroy");
	pthread_mutex_lock(&e->mu);
	int used = e->executors;
	pthread_mutex_unlock(&e->mu);
	if (used)
		spool__mpi_misuse("spool_mpi_engine_destroy",
				  "an executor still uses the engine");
	if (e->loop && spool_loop_is_running(e->loop) &&
	    spool_loop_current() != e->loop)
		spool__mpi_misuse("spool_mpi_engine_destroy",
				  "called from another thread while its loop "
				  "runs");
	if (e->has_thread) {
		pthread_mutex_lock(&e->mu);
		e->stop = true;
		pthread_cond_signal(&e->cv);
		pthread_mutex_unlock(&e->mu);
		pthread_join(e->thread, NULL);
	}
	if (e->loop && !spool_loop_is_running(e->loop) &&
	    atomic_load(&e->kick_posted)) {
		/* A wake-up from another thread is on its way and holds a
		 * reference: let the loop deliver it (one iteration), or a
		 * loop destroyed later would drop it and the engine with it. */
		spool_loop_stop(e->loop);
		spool_loop_run(e->loop);
	}
	atomic_store(&e->dead, true);
	if (e->loop) {
		if (e->timer) {
			spool_handle_cancel(e->timer);
			spool_handle_release(e->timer);
			e->timer = NULL;
		}
	}
	/* Drain: cancel everything, test until final or a second passes. */
	pthread_mutex_lock(&progress_mu);
	take_inbox(e);
	for (size_t i = 0; i < e->n; i++)
		if (e->ops[i].f)
			spool_future_cancel(e->ops[i].f);
	pthread_mutex_unlock(&progress_mu);
	int64_t end = spool__mpi_now() + SPOOL_NS_PER_S;
	while (pending(e) > 0 && spool__mpi_now() < end) {
		pthread_mutex_lock(&progress_mu);
		take_inbox(e);
		test_requests(e);
		pthread_mutex_unlock(&progress_mu);
		struct timespec ts = {0, 20000};
		nanosleep(&ts, NULL);
	}
	pthread_mutex_lock(&progress_mu);
	take_inbox(e);
	for (size_t i = 0; i < e->n; i++) {
		MPI_Request_free(&e->reqs[i]);
		MPI_Status st;
		memset(&st, 0, sizeof st);
		complete(e, &e->ops[i], &st, SPOOL_ESHUTDOWN);
	}
	e->n = 0;
	pthread_mutex_unlock(&progress_mu);
	spool_future_release(e->done);
	e->done = NULL;
	engine_unref(e);
}
