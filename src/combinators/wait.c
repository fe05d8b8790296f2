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
 * Deadlock check (core/wait.h): the waiter is stuck when `when` can no
 * longer hold. For ALL_COMPLETED that is one watched input stuck. For the
 * other two the waiter completes on one decisive input, so it is stuck
 * only when every input not final is stuck and no final input is decisive
 * (its callback, or the registration, may still be on its way to complete
 * the waiter). The waiter borrows the caller's array for this, which is
 * valid while the caller waits: the only time the check runs.
 *
 * Lifetime: the waiter lives until both the caller and the last callback
 * are done with it, so a caller that returns early (FIRST_COMPLETED, a
 * timeout) leaves callbacks that still find valid memory. Each watched
 * input is retained until its callback has run, so the caller may release
 * it at once without the input being abandoned with our callback unrun.
 */
#include <stdlib.h>

#include "core/alloc.h"
#include "dedup.h"
#include "internal.h"

struct waiter {
	spool_future fut; /* the internal future; must be first */
	spool_wait_when when;
	_Atomic size_t armed;
	/* The inputs, borrowed for the deadlock check while the caller
	 * waits. */
	spool_future *const *fs;
	size_t n;
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

static bool waiter_stuck(spool_future *f)
{
	struct waiter *w = (struct waiter *)f;
	bool all = w->when == SPOOL_ALL_COMPLETED, stuck = false;
	for (size_t i = 0; i < w->n; i++) {
		spool_future *c = w->fs[i];
		if (spool__is_final(c)) {
			if (!all && decisive(w->when, c))
				return false;
		} else if (spool__future_stuck(c)) {
			if (all)
				return true;
			stuck = true;
		} else if (!all) {
			return false;
		}
	}
	return stuck;
}

/* A driven input not final, for a plain thread's wait (core/driven.c),
 * looked for as gather_driven() does. */
static spool_future *waiter_driven(spool_future *f)
{
	struct waiter *w = (struct waiter *)f;
	unsigned looks = 0;
	spool_future *d = NULL;
	for (size_t i = 0; !d && i < w->n && looks < SPOOL__DRIVEN_LOOKS; i++)
		d = spool__driven_input(w->fs[i], &looks);
	return d;
}

static const struct spool__future_ops waiter_ops = {.stuck = waiter_stuck,
						    .driven = waiter_driven};

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
	struct waiter *w = spool__malloc(sizeof *w);
	if (!w)
		return SPOOL_ENOMEM;
	spool__future_init(&w->fut, &waiter_ops);
	w->fut.owner = 0; /* a cancelled waiter leaves the inputs alone */
	/* The caller's wait on it is a "wait: ..." slice in traces. */
	w->fut.label = when == SPOOL_ALL_COMPLETED     ? "wait ALL_COMPLETED"
		       : when == SPOOL_FIRST_COMPLETED ? "wait FIRST_COMPLETED"
						       : "wait FIRST_EXCEPTION";
	w->when = when;
	w->fs = fs;
	w->n = n;
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

/* The report, taken in one pass over the inputs: done[] and, when counts
 * are wanted, the distinct inputs final and not, found on the fly with an id
 * set placed around the first input's id (dedup.h), which turns into a hash
 * set only if an id falls outside it. The inputs' memory is read once (id
 * and state are neighbours) and nothing of n words is written: the pass
 * costs about what waiting on each input in turn costs. */
struct report {
	bool *done; /* the caller's, or NULL */
	bool count; /* the distinct counts are wanted */
	size_t ndone, npending;
};

/* Takes the report; *holds says whether `when` holds on it. With
 * may_stop, a look whose report is not wanted if `when` does not hold (a
 * wait and a second look will follow), ALL_COMPLETED stops at the first
 * input not final: the rest of the pass would only be thrown away, and
 * with inputs completing on other threads it reads lines they write.
 * Returns 0 or SPOOL_ENOMEM (no id set for the counts). */
static int scan(spool_future *const *fs, size_t n, spool_wait_when when,
		bool may_stop, struct report *r, bool *holds)
{
	struct spool__idset seen = {0};
	size_t final = 0, nd = 0, np = 0;
	bool decided = false;
	if (r->count && n && spool__idset_init_near(&seen, n, fs[0]->id) != 0)
		return SPOOL_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (i + SPOOL__AHEAD < n)
			__builtin_prefetch(fs[i + SPOOL__AHEAD]);
		const spool_future *f = fs[i];
		bool d = spool__is_final(f);
		if (!d && may_stop && when == SPOOL_ALL_COMPLETED) {
			if (r->count)
				spool__idset_fini(&seen);
			*holds = false;
			return 0;
		}
		if (r->done)
			r->done[i] = d;
		if (r->count) {
			uint64_t id = f->id;
			if (!spool__idset_fits(&seen, id) &&
			    spool__idset_widen(&seen, n, fs, i) != 0)
				return SPOOL_ENOMEM; /* widen freed the set */
			if (spool__idset_add(&seen, id)) {
				nd += d;
				np += !d;
			}
		}
		if (d) {
			final++;
			decided = decided || decisive(when, f);
		}
	}
	if (r->count)
		spool__idset_fini(&seen);
	r->ndone = nd;
	r->npending = np;
	*holds = decided || final == n;
	return 0;
}

int spool_wait(spool_future *const *fs, size_t n, spool_wait_when when,
	       int64_t timeout_ns, bool *done, size_t *ndone, size_t *npending)
{
	if (spool__check_inputs(fs, n) != 0 || timeout_ns < 0 ||
	    (when != SPOOL_ALL_COMPLETED && when != SPOOL_FIRST_COMPLETED &&
	     when != SPOOL_FIRST_EXCEPTION))
		return SPOOL_EINVAL;
	struct report r = {done, ndone || npending, 0, 0};
	bool holds;
	int rc = scan(fs, n, when, timeout_ns != 0, &r, &holds);
	if (rc != 0)
		return rc;
	if (!holds && timeout_ns != 0) {
		rc = wait_slow(fs, n, when, spool__deadline(timeout_ns));
		if (rc == SPOOL_ETIMEDOUT)
			rc = 0; /* a timeout is reported, not an error */
		/* The report is taken after the wait. Without memory for its
		 * counts, none is written: a count from before the wait would
		 * pass for a fresh one. */
		int src = scan(fs, n, when, false, &r, &holds);
		if (src != 0)
			return rc != 0 ? rc : src;
	}
	if (ndone)
		*ndone = r.ndone;
	if (npending)
		*npending = r.npending;
	return rc;
}

/* The split: spool_wait() without a report, then one pass that hands each
 * distinct input to done_out or pending_out, in input order. The pass
 * reads each input's phase once, so an input is in exactly one array. */
int spool_wait_split(spool_future *const *fs, size_t n, spool_wait_when when,
		     int64_t timeout_ns, spool_future **done_out, size_t *ndone,
		     spool_future **pending_out, size_t *npending)
{
	int rc = spool_wait(fs, n, when, timeout_ns, NULL, NULL, NULL);
	if (rc == SPOOL_EINVAL || rc == SPOOL_ENOMEM)
		return rc;
	struct spool__idset seen = {0};
	size_t nd = 0, np = 0;
	if (n && spool__idset_init_near(&seen, n, fs[0]->id) != 0)
		return SPOOL_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		spool_future *f = fs[i];
		if (!spool__idset_fits(&seen, f->id) &&
		    spool__idset_widen(&seen, n, fs, i) != 0)
			return SPOOL_ENOMEM; /* widen freed the set */
		if (!spool__idset_add(&seen, f->id))
			continue; /* given before */
		if (spool__is_final(f)) {
			if (done_out)
				done_out[nd] = f;
			nd++;
		} else {
			if (pending_out)
				pending_out[np] = f;
			np++;
		}
	}
	if (n)
		spool__idset_fini(&seen);
	if (ndone)
		*ndone = nd;
	if (npending)
		*npending = np;
	return rc;
}
