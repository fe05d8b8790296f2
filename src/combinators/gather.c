/* SPDX-License-Identifier: MIT */
/*
 * gather: one future for the outcome of n futures, in input order.
 *
 * The gather is a settling results future (settle.h) with the bookkeeping
 * behind it in the same allocation: one slot per child it holds a
 * reference to, the value array it hands out, and the error array for
 * SPOOL_RETURN_ERRORS. Children already final at the call are read on the
 * spot (no callback, no reference, unless the child owns its value: a
 * nested gather or map, which spool_gather_child() hands back); each
 * other child gets one done-callback that records its outcome and counts
 * down. Who completes the gather is settle.h's decision: the first failing
 * child (default mode) completes it FAILED at once and cancels nothing; a
 * cancel cancels the children (stop below) and ends it CANCELLED at the
 * first child that ends other than DONE (default mode) or once they have
 * all counted down (SPOOL_RETURN_ERRORS); otherwise the last countdown
 * ends it DONE.
 */
#include <stdlib.h>

#include "core/alloc.h"
#include "settle.h"

struct gather;

struct slot {
	struct gather *g;
	spool_future *child; /* a reference, dropped when the gather is freed */
	size_t index;
};

struct gather {
	struct spool__settle s; /* must be first: the future */
	unsigned flags;
	/* Written only while the gather is being created, before any other
	 * thread can reach it through a cancel. */
	size_t nslots;
	struct slot *slots; /* room for n */
};

static void gather_fini(spool_future *f)
{
	struct gather *g = (struct gather *)f;
	for (size_t j = 0; j < g->nslots; j++)
		spool_future_release(g->slots[j].child);
}

static void gather_stop(struct spool__settle *s, int outcome);
static bool gather_stuck(spool_future *f);
static spool_future *gather_driven(spool_future *f);

const struct spool__settle_ops spool__gather_ops = {
	.fut =
		{
			.fini = gather_fini,
			.cancel_running = spool__settle_cancel_running,
			.stuck = gather_stuck,
			.driven = gather_driven,
		},
	.stop = gather_stop,
};

static struct gather *gather_alloc(size_t n, unsigned flags)
{
	size_t per = sizeof(struct slot) + sizeof(void *) +
		     ((flags & SPOOL_RETURN_ERRORS) ? sizeof(int) : 0);
	if (n > (SIZE_MAX - sizeof(struct gather)) / per)
		return NULL;
	/* One block: the struct, then slots, values and errors, in falling
	 * order of alignment. For large n malloc maps fresh pages, and only
	 * the slots actually used are ever touched. */
	struct gather *g = spool__malloc(sizeof(struct gather) + n * per);
	if (!g)
		return NULL;
	g->slots = (struct slot *)(g + 1);
	g->s.res.n = n;
	g->s.res.values = n ? (void **)(g->slots + n) : NULL;
	g->s.res.errors = (flags & SPOOL_RETURN_ERRORS) && n
				  ? (int *)(g->s.res.values + n)
				  : NULL;
	g->flags = flags;
	g->nslots = 0;
	return g;
}

/* Records the outcome of final child c in slot i; in the default mode the
 * first failure completes the gather, and once the gather is cancelled the
 * first child that ends other than DONE completes it CANCELLED, as
 * asyncio's gather ends at the first child's CancelledError (the zero
 * step's completion then finds it final and changes nothing). */
static inline __attribute__((always_inline)) void
record(struct gather *g, size_t i, spool_future *c)
{
	int err = spool_future_error(c);
	g->s.res.values[i] = err == 0 ? spool_future_value(c) : NULL;
	if (g->s.res.errors) {
		g->s.res.errors[i] = err;
		return;
	}
	if (err != 0 && !spool__settle_fail(&g->s, err, c) &&
	    spool__settle_seen(&g->s) == SPOOL__SETTLE_CANCELLING)
		spool__future_complete(&g->s.res.fut, SPOOL_ECANCELLED, NULL);
}

static void on_child(spool_future *c, void *arg)
{
	struct slot *s = arg;
	record(s->g, s->index, c);
	spool__settle_countdown(&s->g->s, 1);
}

/* Decided FAILED: the other children go on (asyncio.gather). Decided
 * CANCELLING: cancelling a child runs its callback here when it was
 * pending; the first one (default mode) or the last one completes the
 * gather CANCELLED. Children that are final answer SPOOL_ESTATE, which
 * changes nothing. */
static void gather_stop(struct spool__settle *s, int outcome)
{
	struct gather *g = (struct gather *)s;
	if (outcome != SPOOL__SETTLE_CANCELLING)
		return;
	for (size_t j = 0; j < g->nslots; j++)
		spool__future_cancel_nested(g->slots[j].child);
}

/* The deadlock check (core/wait.h). With SPOOL_RETURN_ERRORS the gather
 * waits for every child, so one stuck child it counts on (one whose
 * callback was added: s->g set) makes it stuck. Failing fast, a child that
 * fails completes it too, so it is stuck only when every child not final
 * is stuck and no final child failed (that child's callback may still be
 * on its way: were it done, the gather would be final). */
static bool gather_stuck(spool_future *f)
{
	struct gather *g = (struct gather *)f;
	bool all = g->flags & SPOOL_RETURN_ERRORS, stuck = false;
	for (size_t j = 0; j < g->nslots; j++) {
		const struct slot *s = &g->slots[j];
		if (spool__is_final(s->child)) {
			if (!all && spool_future_error(s->child) != 0)
				return false;
		} else if (spool__future_stuck(s->child)) {
			if (all && s->g)
				return true;
			stuck = true;
		} else if (!all) {
			return false;
		}
	}
	return !all && stuck;
}

/* A driven child not final, for a plain thread's wait (core/driven.c):
 * final children are passed over with one load each; the search gives up
 * after SPOOL__DRIVEN_LOOKS pending children that lead to none. The slots
 * hold their children until the gather is freed, so reading them races
 * with nothing but their completion. */
static spool_future *gather_driven(spool_future *f)
{
	struct gather *g = (struct gather *)f;
	unsigned looks = 0;
	spool_future *d = NULL;
	for (size_t j = 0; !d && j < g->nslots && looks < SPOOL__DRIVEN_LOOKS;
	     j++)
		d = spool__driven_input(g->slots[j].child, &looks);
	return d;
}

/* Drops a gather that bad input showed should never have been made: no
 * input was touched and nobody else holds it. */
static spool_future *discard(struct gather *g)
{
	spool__settle_arm(&g->s,
			  0); /* completes it, drops the callbacks' ref */
	spool_future_release(&g->s.res.fut);
	return spool__future_failed(SPOOL_EINVAL);
}

/* The entries are checked lazily, not in a pass of their own (with many
 * inputs every pass costs): reading a final input changes nothing, so the
 * loop checks each entry as it comes while it only reads, and checks the
 * rest of the array at once before it first touches an input (a reference,
 * a callback). Either way bad input is found before any input is touched.
 *
 * Which inputs the gather holds (a slot, a reference): every input not
 * final at the call (its callback points at the slot) and every input
 * that owns its value (a nested gather or map: the value handed on is
 * its array). A final input with a plain value is only read: holding it
 * would cost two atomic operations per input for nothing the gather
 * needs. spool_gather_child() finds a held nested input by its index. */
spool_future *spool_gather(spool_future *const *fs, size_t n, unsigned flags)
{
	if ((n > 0 && !fs) || (flags & ~SPOOL_RETURN_ERRORS))
		return spool__future_failed(SPOOL_EINVAL);
	struct gather *g = gather_alloc(n, flags);
	if (!g)
		return NULL;
	spool__settle_init(&g->s, &spool__gather_ops, "gather");
	spool_future *gf = &g->s.res.fut;

	size_t registered = 0;
	bool checked = false; /* fs[i .. n) known to hold no NULL */
	for (size_t i = 0; i < n; i++) {
		if (i + SPOOL__AHEAD < n)
			__builtin_prefetch(fs[i + SPOOL__AHEAD]);
		spool_future *c = fs[i];
		if (!c)
			return discard(g); /* only before checked: see above */
		bool final = spool_future_done(c);
		bool owns = spool__owns_value(c);
		if (final && !owns) {
			record(g, i, c);
			continue;
		}
		/* Failed fast: nothing more to learn, nothing to cancel.
		 * A stale OPEN only costs one needless registration. */
		bool failed = !final &&
			      spool__settle_seen(&g->s) == SPOOL__SETTLE_FAILED;
		if (failed && !owns)
			continue;
		if (!checked) {
			if (spool__check_inputs(fs + i, n - i) != 0)
				return discard(g);
			checked = true;
		}
		struct slot *s = &g->slots[g->nslots++];
		*s = (struct slot){g, spool_future_retain(c), i};
		if (final) {
			/* Kept alive as long as the gather: its value is. */
			record(g, i, c);
			continue;
		}
		if (failed) {
			s->g = NULL; /* held, not counted on (gather_stuck) */
			continue;
		}
		registered++;
		if (spool_future_add_callback(c, on_child, s) != 0) {
			/* No memory for the callback node: the child's
			 * outcome can never reach us, so the slot fails. */
			s->g = NULL; /* not counted on (gather_stuck) */
			g->s.res.values[i] = NULL;
			if (g->s.res.errors)
				g->s.res.errors[i] = SPOOL_ENOMEM;
			else
				spool__settle_fail(&g->s, SPOOL_ENOMEM, NULL);
			spool__settle_countdown(&g->s, 1);
		}
	}
	spool__settle_arm(&g->s, registered);
	return gf;
}

/* The slots are in input order (index rising), written before g was
 * handed out: a binary search, no lock. */
spool_future *spool_gather_child(const spool_future *g, size_t i)
{
	if (!g || g->ops != &spool__gather_ops.fut)
		return NULL;
	const struct gather *gg = (const struct gather *)g;
	size_t lo = 0, hi = gg->nslots;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (gg->slots[mid].index < i)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == gg->nslots || gg->slots[lo].index != i)
		return NULL;
	spool_future *c = gg->slots[lo].child;
	return spool__owns_value(c) ? c : NULL;
}
