/* SPDX-License-Identifier: MIT */
/*
 * gather: one future for the outcome of n futures, in input order.
 *
 * The gather is a results future (internal.h) with the bookkeeping behind
 * it in the same allocation: one slot per child it holds a reference to,
 * the value array it hands out, and the error array for
 * SPOOL_RETURN_ERRORS. Children already final at the call are read on the
 * spot (no callback, no reference, unless the child owns its value); each
 * other child gets one done-callback that records its outcome and counts
 * down `remaining` (registration bias, internal.h). Whoever brings it to
 * zero completes the gather.
 *
 * Who completes the gather is decided once, by a compare-and-swap on
 * `outcome` away from OPEN:
 *   FAILED     the first failing child (default mode), which completes the
 *              gather with its error at once;
 *   CANCELLING cancel, which then cancels the children; the count reaching
 *              zero completes the gather CANCELLED;
 *   ALL_DONE   the count reaching zero with nothing else decided, which
 *              completes the gather DONE.
 * So a failure, a cancel and the last completion racing each other can
 * never disagree: exactly one of them wins, and cancel reports 0 only when
 * the gather will end CANCELLED.
 *
 * Memory: every slot's value and error are written before that child's
 * countdown (seq_cst read-modify-write), the zero-reacher reads them after
 * its own countdown, and the completion publishes them with release, so a
 * reader that sees DONE sees every slot. The gather's callbacks together
 * hold one reference to it, dropped after the zero step, so callbacks
 * still pending after the caller released the gather (it failed fast)
 * find valid memory.
 */
#include <stdlib.h>

#include "core/alloc.h"
#include "internal.h"

enum { OPEN, FAILED, CANCELLING, ALL_DONE };

struct gather;

struct slot {
	struct gather *g;
	spool_future *child; /* a reference, dropped when the gather is freed */
	size_t index;
};

struct gather {
	struct spool__results res; /* must be first */
	unsigned flags;
	_Atomic size_t remaining;
	_Atomic int outcome;
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

static int gather_cancel_running(spool_future *f);
static bool gather_stuck(spool_future *f);

const struct spool__future_ops spool__gather_ops = {
	.fini = gather_fini,
	.cancel_running = gather_cancel_running,
	.stuck = gather_stuck,
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
	g->res.n = n;
	g->res.values = n ? (void **)(g->slots + n) : NULL;
	g->res.errors = (flags & SPOOL_RETURN_ERRORS) && n
				? (int *)(g->res.values + n)
				: NULL;
	g->flags = flags;
	g->nslots = 0;
	atomic_init(&g->remaining, SPOOL__BIAS);
	atomic_init(&g->outcome, OPEN);
	return g;
}

static bool decide(struct gather *g, int *expected, int to)
{
	*expected = OPEN;
	return atomic_compare_exchange_strong(&g->outcome, expected, to);
}

/* Records the outcome of final child c in slot i; in the default mode the
 * first failure completes the gather. */
static inline __attribute__((always_inline)) void
record(struct gather *g, size_t i, spool_future *c)
{
	int err = spool_future_error(c);
	g->res.values[i] = err == 0 ? spool_future_value(c) : NULL;
	if (g->res.errors) {
		g->res.errors[i] = err;
		return;
	}
	int seen;
	if (err != 0 && decide(g, &seen, FAILED))
		spool__future_complete(&g->res.fut, err, NULL);
}

static void all_done(struct gather *g)
{
	int seen;
	if (decide(g, &seen, ALL_DONE))
		spool__future_complete(&g->res.fut, 0, g->res.values);
	else if (seen == CANCELLING)
		spool__future_complete(&g->res.fut, SPOOL_ECANCELLED, NULL);
	/* FAILED: the failing child already completed the gather. */
	spool_future_release(&g->res.fut); /* the callbacks' reference */
}

static void countdown(struct gather *g, size_t k)
{
	if (atomic_fetch_sub(&g->remaining, k) == k)
		all_done(g);
}

static void on_child(spool_future *c, void *arg)
{
	struct slot *s = arg;
	record(s->g, s->index, c);
	countdown(s->g, 1);
}

static int gather_cancel_running(spool_future *f)
{
	struct gather *g = (struct gather *)f;
	int seen;
	if (!decide(g, &seen, CANCELLING)) {
		if (seen == CANCELLING)
			return 0;
		/* A failure or the last completion won: the gather will end
		 * FAILED or DONE, whether or not its completer has published
		 * that yet. Answer now; waiting here could wait on this very
		 * thread (a callback of the winner that cancels). */
		return SPOOL_ESTATE;
	}
	/* Cancelling a child runs its callback here when it was pending; the
	 * last one completes the gather CANCELLED. Children that are final
	 * answer SPOOL_ESTATE, which changes nothing. */
	for (size_t j = 0; j < g->nslots; j++)
		spool__future_cancel_nested(g->slots[j].child);
	return 0;
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

/* Drops a gather that bad input showed should never have been made: no
 * input was touched and nobody else holds it. */
static spool_future *discard(struct gather *g)
{
	countdown(g, SPOOL__BIAS); /* completes it, drops the callbacks' ref */
	spool_future_release(&g->res.fut);
	return spool__future_failed(SPOOL_EINVAL);
}

/* The entries are checked lazily, not in a pass of their own (with many
 * inputs every pass costs): reading a final input changes nothing, so the
 * loop checks each entry as it comes while it only reads, and checks the
 * rest of the array at once before it first touches an input (a reference,
 * a callback). Either way bad input is found before any input is touched. */
spool_future *spool_gather(spool_future *const *fs, size_t n, unsigned flags)
{
	if ((n > 0 && !fs) || (flags & ~SPOOL_RETURN_ERRORS))
		return spool__future_failed(SPOOL_EINVAL);
	struct gather *g = gather_alloc(n, flags);
	if (!g)
		return NULL;
	spool_future *gf = &g->res.fut;
	spool__future_init(gf, &spool__gather_ops);
	gf->label = "gather"; /* names a wait on it in traces */
	spool__future_start(gf);
	spool_future_retain(gf); /* for the callbacks, see all_done() */

	size_t registered = 0;
	bool checked = false; /* fs[i .. n) known to hold no NULL */
	int seen;
	for (size_t i = 0; i < n; i++) {
		if (i + SPOOL__AHEAD < n)
			__builtin_prefetch(fs[i + SPOOL__AHEAD]);
		spool_future *c = fs[i];
		if (!c)
			return discard(g); /* only before checked: see above */
		bool final = spool_future_done(c);
		if (final && !spool__owns_value(c)) {
			record(g, i, c);
			continue;
		}
		/* Failed fast: nothing more to learn, nothing to cancel.
		 * Relaxed: a hint; a stale OPEN only costs one needless
		 * registration. */
		if (!final &&
		    atomic_load_explicit(&g->outcome, memory_order_relaxed) ==
			    FAILED)
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
		registered++;
		if (spool_future_add_callback(c, on_child, s) != 0) {
			/* No memory for the callback node: the child's
			 * outcome can never reach us, so the slot fails. */
			s->g = NULL; /* not counted on (gather_stuck) */
			g->res.values[i] = NULL;
			if (g->res.errors)
				g->res.errors[i] = SPOOL_ENOMEM;
			else if (decide(g, &seen, FAILED))
				spool__future_complete(gf, SPOOL_ENOMEM, NULL);
			countdown(g, 1);
		}
	}
	countdown(g, SPOOL__BIAS - registered);
	return gf;
}
