/* SPDX-License-Identifier: MIT */
/*
 * as_completed: hand back futures in the order they complete.
 *
 * The iterator borrows the caller's input array (see the header) and hands
 * back input indices: first those of the distinct inputs already final at
 * creation, in input order (straight from the `early` list, or, when every
 * input was final and distinct, simply 0, 1, 2, ... with no list at all);
 * then the others. Each of the others gets a done-callback that appends its
 * input index to a queue: an array with one slot per such input, each written
 * once, and a `tail` that producers advance with fetch_add; a slot holds
 * index + 1, so that 0 means "claimed but not written yet". The one
 * consumer reads slot `head` and moves on when it is non-zero. A producer
 * that claimed a slot but has not written it yet only delays the consumer
 * until it does, a few instructions later.
 *
 * Waking without lost wake-ups. A consumer that finds its slot empty makes
 * a fresh internal future, publishes it in `waiter`, then looks at the slot
 * again before waiting on it; a producer stores its slot, then takes
 * `waiter` with an exchange and completes what it took. All four accesses
 * are seq_cst, so in their single total order either the consumer's second
 * look comes after the producer's store (it sees the entry and does not
 * wait) or the producer's exchange comes after the consumer's publication
 * (it completes the future the consumer waits on). A wake-up by the
 * producer of a later slot is only spurious: the consumer looks again and
 * waits again. Whoever takes the future out of `waiter` (a producer, or the
 * consumer reclaiming it) owns the reference the slot held.
 *
 * Deadlock check (core/wait.h): the future a consumer waits on is stuck
 * when no entry can ever arrive: every input not handed back yet is not
 * final (a final one has pushed, or is about to) and is stuck. Inputs
 * final at creation are all handed back before any wait, so the inputs in
 * question are those of the links, of which head - nearly have been
 * handed back. The check runs on the consumer's thread inside next(), so
 * it may read the links and the borrowed array; `scanned` skips the links
 * already seen final, so that over an iteration the finals are read once.
 *
 * Lifetime: the owner and the callbacks (together, registration bias in
 * internal.h) each hold one reference to the iterator, so callbacks still
 * pending after destroy (after a timeout) find valid memory. The inputs
 * are borrowed (the caller keeps them until destroy, see the header); an
 * input pending at creation is retained from the moment its callback is
 * added until the callback has run, as spool_wait() does, so a caller
 * that lets it go after destroy cannot free it with the callback unrun.
 *
 * Cost. With 1,000,000 inputs the work is bound by memory, not by
 * instructions: every pass over the futures costs about as much as waiting
 * on each in turn. Creation makes the only pass (id and state are
 * neighbours; the loop prefetches ahead) and finds duplicates from the ids
 * alone (dedup.h); no array of n entries is written while every input so
 * far is final and new (the input array is borrowed, not copied); next()
 * prefetches the future it will hand back a few calls later, so the
 * caller's own look at it finds it in cache; destroy touches no input. An
 * input already final costs nothing, or one index when some input before
 * it was pending or a duplicate; a pending one a callback, a link and a
 * slot.
 */
#include <stdlib.h>
#include <string.h>

#include "core/misuse.h"
#include "core/alloc.h"
#include "dedup.h"
#include "internal.h"

/* The done-callback's argument, for inputs pending at creation only. */
struct link {
	spool_as_completed *it;
	size_t i; /* input index */
};

struct spool_as_completed {
	/* Written by every producer: one cache line of their own, so that a
	 * producer's two read-modify-writes usually find it still in hand. */
	_Alignas(64) _Atomic size_t tail; /* next queue slot to claim */
	_Atomic size_t armed; /* registration bias + callbacks not yet run */
	/* Read by producers, written by the consumer when it waits. */
	_Alignas(64) _Atomic(spool_future *) waiter;
	/* The consumer's. */
	_Alignas(64) size_t head; /* entries handed back so far */
	size_t nearly;            /* entries final at creation */
	size_t n;                 /* distinct inputs: nearly + pending */
	size_t registered;        /* callbacks added by create */
	size_t scanned;           /* links known final (the deadlock check) */
	int64_t deadline;
	bool timed_out;
	/* A consumer is inside next(). Relaxed loads and stores, no
	 * read-modify-write: it only catches misuse (see next()). */
	_Atomic bool busy;
	_Atomic unsigned refs; /* the owner's and the callbacks' */
	/* The caller's input array, borrowed until destroy (see the header):
	 * read by create and next() only, never by a callback. */
	spool_future *const *fs;
	/* The input indices of the entries final at creation, in input
	 * order; NULL when they are simply inputs 0 .. nearly - 1 (every
	 * input final and distinct: no array to write or read). */
	size_t *early;
	struct link *links;    /* one per input pending at creation */
	_Atomic size_t *queue; /* n - nearly slots: input index + 1, or 0 */
};

static void it_free(spool_as_completed *it)
{
	free(it->early);
	free(it->links);
	free(it->queue);
	free(it);
}

static void it_unref(spool_as_completed *it)
{
	if (atomic_fetch_sub(&it->refs, 1) == 1)
		it_free(it);
}

static void push(spool_as_completed *it, size_t i)
{
	size_t pos = atomic_fetch_add(&it->tail, 1);
	atomic_store(&it->queue[pos], i + 1);
	/* The load spares the exchange, a write to a line every producer
	 * shares, while the consumer is not waiting: seq_cst like the store
	 * above, it takes part in the same argument (top of file). */
	if (!atomic_load(&it->waiter))
		return;
	spool_future *w = atomic_exchange(&it->waiter, NULL);
	if (w) {
		spool__future_complete(w, 0, NULL);
		spool_future_release(w);
	}
}

static void disarm(spool_as_completed *it, size_t k)
{
	if (atomic_fetch_sub(&it->armed, k) == k)
		it_unref(it); /* the callbacks' reference */
}

static void on_done(spool_future *f, void *arg)
{
	struct link *l = arg;
	spool_as_completed *it = l->it;
	push(it, l->i);
	disarm(it, 1);
	spool_future_release(f); /* taken when the callback was added */
}

/* The one pass over the inputs, the only one that touches their memory
 * (id, reference count and state are neighbours): sorts the distinct
 * inputs into those final now (it->early, in input order) and the others,
 * and registers a callback on each of the others as it meets it, so that
 * an input is read once whether it is final or not (a second pass to
 * register the callbacks doubled the misses on inputs still in their
 * completers' caches). While every input so far is final and new, nothing
 * is written but the id set. The arrays are allocated for n but written
 * only as far as used: large blocks are fresh pages that cost nothing
 * until touched. The entries are checked first, reading only the array,
 * so that a NULL one leaves every input as it was. Returns 0,
 * SPOOL_EINVAL (a NULL entry, nothing registered) or SPOOL_ENOMEM (the
 * callbacks registered so far stay, see the header); it->registered
 * counts the callbacks either way. */
static int collect(spool_as_completed *it, spool_future *const *fs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!fs[i])
			return SPOOL_EINVAL;
	it->fs = fs;
	it->early = spool__malloc(n * sizeof *it->early);
	it->links = spool__malloc(n * sizeof *it->links);
	it->queue = spool__calloc(n, sizeof *it->queue);
	struct spool__idset seen = {0};
	if (!it->early || !it->links || !it->queue ||
	    spool__idset_init_near(&seen, n, fs[0]->id) != 0) {
		spool__idset_fini(&seen);
		return SPOOL_ENOMEM;
	}
	int rc = 0;
	size_t nearly = 0, npend = 0;
	bool identity = true; /* early[k] == k so far: not written yet */
	for (size_t i = 0; i < n; i++) {
		if (i + SPOOL__AHEAD < n)
			__builtin_prefetch(fs[i + SPOOL__AHEAD]);
		spool_future *f = fs[i];
		uint64_t id = f->id;
		if (!spool__idset_fits(&seen, id) &&
		    spool__idset_widen(&seen, n, fs, i) != 0) {
			rc = SPOOL_ENOMEM;
			break;
		}
		bool fresh = spool__idset_add(&seen, id);
		bool final = fresh && spool__is_final(f);
		if (identity && !(fresh && final)) {
			for (size_t k = 0; k < nearly; k++)
				it->early[k] = k;
			identity = false;
		}
		if (!fresh)
			continue; /* a duplicate */
		if (final) {
			if (!identity)
				it->early[nearly] = i;
			nearly++;
			continue;
		}
		struct link *l = &it->links[npend];
		*l = (struct link){it, i};
		spool_future_retain(f);
		if (spool_future_add_callback(f, on_done, l) != 0) {
			spool_future_release(f);
			rc = SPOOL_ENOMEM;
			break;
		}
		npend++;
	}
	spool__idset_fini(&seen);
	it->registered = npend;
	if (identity) {
		free(it->early);
		it->early = NULL;
	}
	it->nearly = nearly;
	it->n = nearly + npend;
	return rc;
}

int spool_as_completed_create(spool_as_completed **out, spool_future *const *fs,
			      size_t n, int64_t timeout_ns)
{
	/* The entries are checked by collect(), not by a pass of their own
	 * here: with many inputs every pass costs. */
	if (!out || (n > 0 && !fs) || timeout_ns < 0)
		return SPOOL_EINVAL;
	*out = NULL;
	/* sizeof is a multiple of 64, as aligned_alloc asks. */
	spool_as_completed *it = spool__aligned_alloc(64, sizeof *it);
	if (!it)
		return SPOOL_ENOMEM;
	memset(it, 0, sizeof *it);
	it->deadline = spool__deadline(timeout_ns);
	atomic_init(&it->refs, 2);
	atomic_init(&it->armed, SPOOL__BIAS);
	atomic_init(&it->tail, 0);
	atomic_init(&it->waiter, NULL);
	atomic_init(&it->busy, false);
	int rc = n ? collect(it, fs, n) : 0;
	disarm(it, SPOOL__BIAS - it->registered);
	if (rc != 0) {
		/* The callbacks added keep the iterator until they run. */
		it_unref(it);
		return rc;
	}
	*out = it;
	return 0;
}

/* Takes the next entry if it is there. Inlined: it is most of a call that
 * hands back an entry already there. */
static inline __attribute__((always_inline)) bool
take(spool_as_completed *it, spool_future **f, size_t *index)
{
	size_t i;
	if (it->head < it->nearly) {
		i = it->early ? it->early[it->head] : it->head;
		if (it->head + SPOOL__AHEAD < it->nearly)
			__builtin_prefetch(
				it->fs[it->early ? it->early[it->head +
							     SPOOL__AHEAD]
						 : it->head + SPOOL__AHEAD]);
	} else {
		size_t i1 = atomic_load(&it->queue[it->head - it->nearly]);
		if (!i1)
			return false;
		i = i1 - 1;
	}
	it->head++;
	*f = it->fs[i];
	if (index)
		*index = i;
	return true;
}

/* The future next() waits on: a promise that knows its iterator, for the
 * deadlock check (top of file). */
struct next_waiter {
	spool_future fut; /* must be first */
	spool_as_completed *it;
};

static bool next_waiter_stuck(spool_future *f)
{
	spool_as_completed *it = ((struct next_waiter *)f)->it;
	while (it->scanned < it->registered &&
	       spool__is_final(it->fs[it->links[it->scanned].i]))
		it->scanned++;
	size_t final = it->scanned;
	bool stuck = false;
	for (size_t k = it->scanned; k < it->registered; k++) {
		spool_future *c = it->fs[it->links[k].i];
		if (spool__is_final(c))
			final++;
		else if (spool__future_stuck(c))
			stuck = true;
		else
			return false;
	}
	return stuck && final == it->head - it->nearly;
}

/* A driven input not yet handed out, for a plain thread's wait in
 * next() (core/driven.c), looked for as gather_driven() does. */
static spool_future *next_waiter_driven(spool_future *f)
{
	spool_as_completed *it = ((struct next_waiter *)f)->it;
	unsigned looks = 0;
	spool_future *d = NULL;
	for (size_t k = it->scanned;
	     !d && k < it->registered && looks < SPOOL__DRIVEN_LOOKS; k++)
		d = spool__driven_input(it->fs[it->links[k].i], &looks);
	return d;
}

static const struct spool__future_ops next_waiter_ops = {
	.stuck = next_waiter_stuck,
	.driven = next_waiter_driven,
};

static spool_future *next_waiter_new(spool_as_completed *it)
{
	struct next_waiter *w = spool__malloc(sizeof *w);
	if (!w)
		return NULL;
	spool__future_init(&w->fut, &next_waiter_ops);
	w->fut.owner = 0; /* a cancelled waiter leaves the inputs alone */
	w->it = it;
	return &w->fut;
}

/* Takes the waiter back from the slot if no producer did. */
static void reclaim(spool_as_completed *it)
{
	spool_future_release(atomic_exchange(&it->waiter, NULL));
}

/* Out of line, so that the path that hands back an entry already there
 * saves no registers for the waiting machinery. */
static __attribute__((noinline)) int
next_locked(spool_as_completed *it, spool_future **f, size_t *index)
{
	for (;;) {
		if (it->timed_out)
			return SPOOL_ETIMEDOUT;
		if (it->head == it->n)
			return SPOOL_EOF;
		if (take(it, f, index))
			return 0;
		if (it->deadline != INT64_MAX &&
		    spool__now_ns() >= it->deadline) {
			it->timed_out = true;
			return SPOOL_ETIMEDOUT;
		}
		spool_future *w = next_waiter_new(it);
		if (!w)
			return SPOOL_ENOMEM;
		w->label = "as_completed"; /* names the wait in traces */
		atomic_store(&it->waiter, spool_future_retain(w));
		if (take(it, f, index)) {
			reclaim(it);
			spool_future_release(w);
			return 0;
		}
		int rc = spool__wait_until(w, it->deadline);
		reclaim(it);
		spool_future_release(w);
		if (rc != 0 && rc != SPOOL_ETIMEDOUT)
			return rc;
		/* Woken or timed out: look again (a completion that arrived
		 * meanwhile is still handed back). */
	}
}

int spool_as_completed_next(spool_as_completed *it, spool_future **f,
			    size_t *index)
{
	if (f)
		*f = NULL;
	if (!it || !f)
		return SPOOL_EINVAL;
	/* Misuse check without a locked instruction (it would cost as much
	 * as the rest of a call that hands back a queued entry): relaxed,
	 * because it orders nothing, only notices a second consumer. `busy`
	 * is raised only on the path that may wait, so it catches every call
	 * that starts while another waits, which is how such a bug shows
	 * (one consumer waiting, another arriving); two calls that overlap
	 * for a few nanoseconds may both pass. */
	if (atomic_load_explicit(&it->busy, memory_order_relaxed))
		spool__misuse("spool_as_completed_next",
			      "called from two threads at once on one "
			      "iterator (one consumer at a time)");
	if (!it->timed_out && it->head < it->n && take(it, f, index))
		return 0;
	atomic_store_explicit(&it->busy, true, memory_order_relaxed);
	int rc = next_locked(it, f, index);
	atomic_store_explicit(&it->busy, false, memory_order_relaxed);
	return rc;
}

void spool_as_completed_destroy(spool_as_completed *it)
{
	if (it)
		it_unref(it);
}
