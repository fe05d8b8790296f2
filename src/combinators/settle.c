/* SPDX-License-Identifier: MIT */
/*
 * The settle state machine of gather and map (see settle.h): the decision
 * by compare-and-swap, the zero step, and the cancel that both forward.
 */
#include "settle.h"

#include "core/detail.h"

static const struct spool__settle_ops *ops_of(const struct spool__settle *s)
{
	/* fut is the first member of spool__settle_ops. */
	return (const struct spool__settle_ops *)s->res.fut.ops;
}

/* One CAS away from OPEN; *seen is what was there when it lost. */
static bool decide(struct spool__settle *s, int *seen, int to)
{
	*seen = SPOOL__SETTLE_OPEN;
	return atomic_compare_exchange_strong(&s->outcome, seen, to);
}

void spool__settle_init(struct spool__settle *s,
			const struct spool__settle_ops *ops, const char *label)
{
	atomic_init(&s->remaining, SPOOL__BIAS);
	atomic_init(&s->outcome, SPOOL__SETTLE_OPEN);
	spool_future *f = &s->res.fut;
	spool__future_init(f, &ops->fut);
	f->label = label; /* names a wait on it in traces */
	spool__future_start(f);
	spool_future_retain(f); /* for the callbacks: see the zero step */
}

/* Out of line (as spool__settle_fail): once per future, and kept out of
 * the creating calls, whose loops over the inputs the compiler should
 * keep small enough to inline their callback registration. */
__attribute__((noinline)) void spool__settle_zero(struct spool__settle *s)
{
	spool_future *f = &s->res.fut;
	int seen;
	if (decide(s, &seen, SPOOL__SETTLE_ALL_DONE))
		spool__future_complete(f, 0, s->res.values);
	else if (seen == SPOOL__SETTLE_CANCELLING)
		spool__future_complete(f, SPOOL_ECANCELLED, NULL);
	/* FAILED: the failure completed the future already. */
	spool_future_release(f); /* the callbacks' reference */
}

__attribute__((noinline)) bool
spool__settle_fail(struct spool__settle *s, int err, const spool_future *src)
{
	int seen;
	if (!decide(s, &seen, SPOOL__SETTLE_FAILED))
		return false;
	/* The failing input's detail, shared (core/detail.h). */
	spool__future_complete_as(&s->res.fut, err, src);
	ops_of(s)->stop(s, SPOOL__SETTLE_FAILED);
	return true;
}

int spool__settle_cancel_running(spool_future *f)
{
	struct spool__settle *s = (struct spool__settle *)f;
	int seen;
	if (!decide(s, &seen, SPOOL__SETTLE_CANCELLING)) {
		if (seen == SPOOL__SETTLE_CANCELLING)
			return 0;
		/* A failure or the count won: the future ends FAILED or
		 * DONE, published or not yet. Answer now (settle.h). */
		return SPOOL_ESTATE;
	}
	ops_of(s)->stop(s, SPOOL__SETTLE_CANCELLING);
	return 0;
}
