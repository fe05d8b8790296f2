/* SPDX-License-Identifier: MIT */
/*
 * How gather and map settle: one results future (internal.h) over many
 * inputs, completed exactly once, by whichever of a failure, a cancel and
 * the last input comes first.
 *
 * Two parts, shared by both combinators:
 *
 * The count. `remaining` starts at SPOOL__BIAS (the registration bias,
 * internal.h). Each input that will report is counted down exactly once,
 * by its done-callback or by whoever skips it; the creating call, once it
 * knows how many inputs it counted on (k), arms the count by subtracting
 * SPOOL__BIAS - k (spool__settle_arm()). Whoever brings it to zero runs the
 * zero step, once. The callbacks together hold one reference to the
 * future (taken by spool__settle_init()); the zero step drops it, so
 * callbacks still pending after the caller released the future find valid
 * memory.
 *
 * The decision. Who completes the future is decided once, by a
 * compare-and-swap on `outcome` away from OPEN:
 *   FAILED     spool__settle_fail(): completes the future with the error at
 *              once, then calls ops->stop;
 *   CANCELLING spool__settle_cancel_running() (the future's cancel_running):
 *              calls ops->stop, which cancels the running inputs; their
 *              callbacks count down, and the zero step completes the future
 *              CANCELLED;
 *   ALL_DONE   the zero step, with nothing else decided: completes the
 *              future DONE with the values array.
 * A failure, a cancel and the last input racing each other can never
 * disagree: one CAS wins. A cancel that loses answers at once, 0 if
 * another cancel won and SPOOL_ESTATE if a failure or the count did, even
 * before that winner has published: waiting for it could wait on this very
 * thread (a callback of the winner that cancels).
 *
 * Memory: each input's slot is written before its countdown, a seq_cst
 * read-modify-write; the zero step reads the slots after its own countdown
 * and publishes them with the completion's release, so a reader that sees
 * DONE sees every slot. The decision and spool__settle_seen() are seq_cst
 * as well: map's stop argument pairs a store of a launched task and a read
 * of `outcome` against the CAS and a read of the tasks (map.c).
 */
#ifndef SPOOL_COMBINATORS_SETTLE_H
#define SPOOL_COMBINATORS_SETTLE_H

#include "internal.h"

enum spool__settle_outcome {
	SPOOL__SETTLE_OPEN,
	SPOOL__SETTLE_FAILED,
	SPOOL__SETTLE_CANCELLING,
	SPOOL__SETTLE_ALL_DONE,
};

struct spool__settle {
	struct spool__results res; /* must be first: the future, the arrays */
	_Atomic size_t remaining;
	_Atomic int outcome;
};

struct spool__settle_ops {
	/* First, so that f->ops of a settling future leads back here. Its
	 * cancel_running must be spool__settle_cancel_running. */
	struct spool__future_ops fut;
	/* Called once, by the thread that decided outcome (FAILED, after the
	 * future was completed, or CANCELLING): stops what still runs (map:
	 * cancels the launched tasks, skips the rest; gather: cancels the
	 * children when CANCELLING). Each input it stops still counts down
	 * once, through its callback or here. */
	void (*stop)(struct spool__settle *s, int outcome);
};

/* The ops of gather and map futures (gather.c, map.c). */
extern const struct spool__settle_ops spool__gather_ops;
extern const struct spool__settle_ops spool__map_ops;

/* Makes s's future a RUNNING future with ops and label, one reference for
 * the caller and one for the callbacks, count SPOOL__BIAS, outcome OPEN.
 * s->res must be filled in by the caller. */
void spool__settle_init(struct spool__settle *s,
			const struct spool__settle_ops *ops, const char *label);

/* The zero step (settle.c). */
void spool__settle_zero(struct spool__settle *s);

/* Counts k inputs down; the thread that brings the count to zero runs the
 * zero step (which may free s). k may be 0. */
static inline void spool__settle_countdown(struct spool__settle *s, size_t k)
{
	if (k != 0 && atomic_fetch_sub(&s->remaining, k) == k)
		spool__settle_zero(s);
}

/* The creating call is done: k inputs will count down (or have). */
static inline void spool__settle_arm(struct spool__settle *s, size_t k)
{
	spool__settle_countdown(s, SPOOL__BIAS - k);
}

/* The outcome decided so far (seq_cst). */
static inline int spool__settle_seen(struct spool__settle *s)
{
	return atomic_load(&s->outcome);
}

/* Decides FAILED with err if nothing is decided yet: then completes the
 * future with err (and the detail of src, the input that failed with it,
 * if it has one; src may be NULL) and calls ops->stop, and returns true. False
 * when another outcome won (nothing done). */
bool spool__settle_fail(struct spool__settle *s, int err,
			const spool_future *src);

/* The cancel_running of every settling future. */
int spool__settle_cancel_running(spool_future *f);

#endif /* SPOOL_COMBINATORS_SETTLE_H */
