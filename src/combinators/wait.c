/* SPDX-License-Identifier: MIT */
/*
 * spool_wait(): block (or help, or suspend) until ALL_COMPLETED,
 * FIRST_COMPLETED or FIRST_EXCEPTION holds for a set of futures.
 *
 * Fast path: one scan that also takes the report; if the condition already
 * holds, or the timeout is 0, that is the answer. Otherwise one internal
 * future, the waiter, gets a done-callback on every input still pending, and
 * the caller waits on the waiter through the seam. Each callback
 *   1. completes the waiter if its input alone makes the condition true
 *      (FIRST_COMPLETED: any input; FIRST_EXCEPTION: a FAILED one);
 *   2. counts down `armed`, the callbacks not yet run (registration bias,
 *      internal.h): the one that reaches zero knows every watched input is
 *      final, completes the waiter (ALL_COMPLETED, and FIRST_EXCEPTION
 *      without a failure) and drops the callbacks' reference to it.
 * Inputs that become final during registration are noted directly (step 1
 * without a callback), so a condition that became true between the scan
 * and the registration is never missed; an input final before its
 * callback is added simply gets its callback run at once. Duplicates get
 * one callback per position, and all positions of one future complete
 * together, so they count as the one future they are. Completing the waiter
 * twice is harmless (SPOOL_ESTATE).
 *
 * Lifetime: the waiter lives until both the caller and the last callback
 * are done with it, so a caller that returns early (FIRST_COMPLETED, a
 * timeout) leaves callbacks that still find valid memory. Each watched
 * input is retained until its callback has run, so the caller may release
 * it at once without the input being abandoned with our callback unrun.
 */
#include <stdlib.h>

#include "dedup.h"
#include "internal.h"

struct waiter {
	spool_future fut; /* the internal future; must be first */
	spool_wait_when when;
	_Atomic size_t armed;
};

static bool is_failed(const spool_future *f)
{
	return spool_future_state(f) == SPOOL_FAILED;
}

/* True when the final future c alone satisfies `when`. */
static bool decisive(spool_wait_when when, const spool_future *c)
{
	return when == SPOOL_FIRST_COMPLETED ||
	       (when == SPOOL_FIRST_EXCEPTION && is_failed(c));
}

static void disarm(struct waiter *w, size_t k)
{
	if (atomic_fetch_sub(&w->armed, k) == k) {
		spool__future_complete(&w->fut, 0, NULL);
		spool_future_release(&w->fut); /* the callbacks' reference */
	}
}

static void on_input(spool_future *c, void *arg)
{
	struct waiter *w = arg;
	if (decisive(w->when, c))
		spool__future_complete(&w->fut, 0, NULL);
	disarm(w, 1);
	spool_future_release(c); /* taken when the callback was added */
}

/* Registers on the pending inputs and waits on the waiter. Returns 0,
 * SPOOL_ETIMEDOUT, SPOOL_ENOMEM or the seam's own errors. */
static int wait_slow(spool_future *const *fs, size_t n, spool_wait_when when,
		     int64_t deadline)
{
	struct waiter *w = malloc(sizeof *w);
	if (!w)
		return SPOOL_ENOMEM;
	spool__future_init(&w->fut, NULL);
	w->when = when;
	atomic_init(&w->armed, SPOOL__BIAS);
	spool_future_retain(&w->fut); /* for the callbacks, see disarm() */

	int rc = 0;
	size_t registered = 0;
	for (size_t i = 0; i < n && !spool_future_done(&w->fut); i++) {
		spool_future *c = fs[i];
		if (spool_future_done(c)) {
			if (decisive(when, c))
				spool__future_complete(&w->fut, 0, NULL);
			continue;
		}
		spool_future_retain(c);
		if (spool_future_add_callback(c, on_input, w) != 0) {
			spool_future_release(c);
			rc = SPOOL_ENOMEM;
			break;
		}
		registered++;
	}
	disarm(w, SPOOL__BIAS - registered);
	if (rc == 0)
		rc = spool__wait_until(&w->fut, deadline);
	spool_future_release(&w->fut);
	return rc;
}

/* Report: one pass over the inputs fills done[] and, when counts are
 * wanted, ids[] (each input's id, with DONE_BIT when it is final) and their
 * range; the counting pass then reads only ids[], never the futures again.
 * Returns whether `when` holds on this snapshot. */
#define DONE_BIT (UINT64_C(1) << 63)

struct snapshot {
	bool *done;    /* the caller's, or NULL */
	uint64_t *ids; /* ours, or NULL when no count is wanted */
	uint64_t lo, hi;
};

static bool scan(spool_future *const *fs, size_t n, spool_wait_when when,
		 struct snapshot *s)
{
	size_t final = 0;
	bool decided = false;
	s->lo = UINT64_MAX;
	s->hi = 0;
	for (size_t i = 0; i < n; i++) {
		const spool_future *f = fs[i];
		bool d = spool_future_done(f);
		if (s->done)
			s->done[i] = d;
		if (s->ids) {
			uint64_t id = f->id;
			s->ids[i] = id | (d ? DONE_BIT : 0);
			s->lo = id < s->lo ? id : s->lo;
			s->hi = id > s->hi ? id : s->hi;
		}
		if (d) {
			final++;
			decided = decided || decisive(when, f);
		}
	}
	return decided || final == n;
}

/* Counts the distinct inputs of the snapshot, final and not. */
static int count(const struct snapshot *s, size_t n, size_t *ndone,
		 size_t *npending)
{
	size_t d = 0, p = 0;
	struct spool__idset seen;
	if (spool__idset_init(&seen, n, s->lo, s->hi) != 0)
		return SPOOL_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!spool__idset_add(&seen, s->ids[i] & ~DONE_BIT))
			continue;
		if (s->ids[i] & DONE_BIT)
			d++;
		else
			p++;
	}
	spool__idset_fini(&seen);
	if (ndone)
		*ndone = d;
	if (npending)
		*npending = p;
	return 0;
}

int spool_wait(spool_future *const *fs, size_t n, spool_wait_when when,
	       int64_t timeout_ns, bool *done, size_t *ndone, size_t *npending)
{
	if (spool__check_inputs(fs, n) != 0 || timeout_ns < 0 ||
	    (when != SPOOL_ALL_COMPLETED && when != SPOOL_FIRST_COMPLETED &&
	     when != SPOOL_FIRST_EXCEPTION))
		return SPOOL_EINVAL;
	struct snapshot s = {done, NULL, 0, 0};
	if ((ndone || npending) &&
	    !(s.ids = malloc((n ? n : 1) * sizeof *s.ids)))
		return SPOOL_ENOMEM;
	int rc = 0;
	if (!scan(fs, n, when, &s) && timeout_ns != 0) {
		rc = wait_slow(fs, n, when, spool__deadline(timeout_ns));
		if (rc == SPOOL_ETIMEDOUT)
			rc = 0;        /* a timeout is reported, not an error */
		scan(fs, n, when, &s); /* the report is taken after the wait */
	}
	int crc = 0;
	if (s.ids) {
		crc = n ? count(&s, n, ndone, npending) : 0;
		if (n == 0) {
			if (ndone)
				*ndone = 0;
			if (npending)
				*npending = 0;
		}
		free(s.ids);
	}
	return rc != 0 ? rc : crc;
}
