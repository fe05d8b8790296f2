/* SPDX-License-Identifier: MIT */
/*
 * as_completed: hand back futures in the order they complete.
 *
 * The iterator keeps one entry per distinct input: first those already
 * final at creation, in input order (they are handed back first, straight
 * from the entry array), then the others. Each of the others gets a
 * done-callback that appends its entry number to a queue: an array with
 * one slot per such input, each written once, and a `tail` that producers
 * advance with fetch_add; a slot holds entry number + 1, so that 0 means
 * "claimed but not written yet". The one consumer reads slot `head` and
 * moves on when it is non-zero. A producer that claimed a slot but has not
 * written it yet only delays the consumer until it does, a few
 * instructions later.
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
 * Lifetime: the owner and the callbacks (together, registration bias in
 * internal.h) each hold one reference to the iterator; the inputs are
 * retained until the last of the two lets go, so futures handed back stay
 * valid until destroy, and callbacks still pending after destroy (after a
 * timeout) find valid memory.
 *
 * Cost: creation touches each input once (its id, reference count and
 * state are neighbours) and finds duplicates from the ids alone (dedup.h);
 * an input already final costs 16 bytes and no callback.
 */
#include <stdlib.h>
#include <string.h>

#include "core/misuse.h"
#include "dedup.h"
#include "internal.h"

struct entry {
	spool_future *f; /* a reference, dropped when the iterator is freed */
	uint64_t index;  /* first position in the input array */
};

/* The done-callback's argument, for inputs pending at creation only. */
struct link {
	spool_as_completed *it;
	size_t k; /* entry number */
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
	int64_t deadline;
	bool timed_out;
	atomic_flag busy;      /* a consumer is inside next() */
	_Atomic unsigned refs; /* the owner's and the callbacks' */
	size_t n;              /* distinct inputs */
	size_t nearly;         /* entries[0, nearly) were final at creation */
	struct entry *entries; /* n */
	struct link *links;    /* n - nearly */
	_Atomic size_t *queue; /* n - nearly slots: entry number + 1, or 0 */
};

/* How far ahead the passes over many futures prefetch: a reference count
 * change is a locked instruction that waits for its cache line, so
 * without prefetching each miss would be paid in full, one after another. */
enum { AHEAD = 16 };

static void it_free(spool_as_completed *it)
{
	for (size_t k = 0; k < it->n; k++) {
		if (k + AHEAD < it->n)
			__builtin_prefetch(it->entries[k + AHEAD].f, 1);
		spool_future_release(it->entries[k].f);
	}
	free(it->entries);
	free(it->links);
	free(it->queue);
	free(it);
}

static void it_unref(spool_as_completed *it)
{
	if (atomic_fetch_sub(&it->refs, 1) == 1)
		it_free(it);
}

static void push(spool_as_completed *it, size_t k)
{
	size_t pos = atomic_fetch_add(&it->tail, 1);
	atomic_store(&it->queue[pos], k + 1);
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
	push(it, l->k);
	disarm(it, 1);
}

#define DONE_BIT (UINT64_C(1) << 63)

/* Drops the references collect() took so far. */
static int unwind(struct entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		spool_future_release(e[i].f);
	return SPOOL_ENOMEM;
}

/* Fills it->entries with the distinct inputs, each retained once: those
 * final now first, in input order, then the others. The first pass is the
 * only one that touches the inputs' memory; it parks each input's id (and
 * whether it is final) in its entry's index field, from which the second
 * pass finds the duplicates alone (dedup.h) and compacts the array in
 * place. Returns 0 or SPOOL_ENOMEM (nothing retained). */
static int collect(spool_as_completed *it, spool_future *const *fs, size_t n)
{
	struct entry *e = it->entries;
	uint64_t lo = UINT64_MAX, hi = 0;
	for (size_t i = 0; i < n; i++) {
		if (i + AHEAD < n)
			__builtin_prefetch(fs[i + AHEAD], 1);
		spool_future *f = spool_future_retain(fs[i]);
		uint64_t id = f->id;
		e[i] = (struct entry){
			f, id | (spool_future_done(f) ? DONE_BIT : 0)};
		lo = id < lo ? id : lo;
		hi = id > hi ? id : hi;
	}
	struct spool__idset seen;
	if (spool__idset_init(&seen, n, lo, hi) != 0)
		return unwind(e, n);
	size_t m = 0, pending = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t tag = e[i].index;
		if (!spool__idset_add(&seen, tag & ~DONE_BIT)) {
			spool_future_release(e[i].f); /* a duplicate */
			continue;
		}
		pending += !(tag & DONE_BIT);
		e[m++] = (struct entry){e[i].f, i | (tag & DONE_BIT)};
	}
	spool__idset_fini(&seen);
	/* Stable partition: final ones first. */
	struct entry *later = NULL;
	if (pending > 0 && !(later = malloc(pending * sizeof *later)))
		return unwind(e, m);
	size_t front = 0, j = 0;
	for (size_t k = 0; k < m; k++) {
		struct entry x = {e[k].f, e[k].index & ~DONE_BIT};
		if (e[k].index & DONE_BIT)
			e[front++] = x;
		else
			later[j++] = x;
	}
	if (pending > 0)
		memcpy(&e[front], later, pending * sizeof *later);
	free(later);
	it->nearly = front;
	it->n = m;
	return 0;
}

/* Registers a callback on each input pending at creation. */
static int arm(spool_as_completed *it)
{
	size_t pending = it->n - it->nearly;
	if (pending > 0) {
		it->links = malloc(pending * sizeof *it->links);
		it->queue = calloc(pending, sizeof *it->queue);
		if (!it->links || !it->queue)
			return SPOOL_ENOMEM;
	}
	int rc = 0;
	size_t registered = 0;
	for (size_t j = 0; j < pending; j++) {
		size_t k = it->nearly + j;
		it->links[j] = (struct link){it, k};
		if (spool_future_add_callback(it->entries[k].f, on_done,
					      &it->links[j]) != 0) {
			rc = SPOOL_ENOMEM;
			break;
		}
		registered++;
	}
	disarm(it, SPOOL__BIAS - registered);
	return rc;
}

int spool_as_completed_create(spool_as_completed **out, spool_future *const *fs,
			      size_t n, int64_t timeout_ns)
{
	if (!out || spool__check_inputs(fs, n) != 0 || timeout_ns < 0)
		return SPOOL_EINVAL;
	*out = NULL;
	/* sizeof is a multiple of 64, as aligned_alloc asks. */
	spool_as_completed *it = aligned_alloc(64, sizeof *it);
	if (!it)
		return SPOOL_ENOMEM;
	memset(it, 0, sizeof *it);
	it->entries = n ? malloc(n * sizeof *it->entries) : NULL;
	if ((n && !it->entries) || (n && collect(it, fs, n) != 0)) {
		free(it->entries);
		free(it);
		return SPOOL_ENOMEM;
	}
	it->deadline = spool__deadline(timeout_ns);
	atomic_init(&it->refs, 2);
	atomic_init(&it->armed, SPOOL__BIAS);
	atomic_init(&it->tail, 0);
	atomic_init(&it->waiter, NULL);
	atomic_flag_clear(&it->busy);
	int rc = arm(it);
	if (rc != 0) {
		/* The callbacks added keep the iterator until they run. */
		it_unref(it);
		return rc;
	}
	*out = it;
	return 0;
}

/* Takes the next entry if it is there. */
static bool take(spool_as_completed *it, spool_future **f, size_t *index)
{
	size_t k;
	if (it->head < it->nearly) {
		k = it->head;
	} else {
		size_t k1 = atomic_load(&it->queue[it->head - it->nearly]);
		if (!k1)
			return false;
		k = k1 - 1;
	}
	it->head++;
	*f = it->entries[k].f;
	if (index)
		*index = (size_t)it->entries[k].index;
	return true;
}

/* Takes the waiter back from the slot if no producer did. */
static void reclaim(spool_as_completed *it)
{
	spool_future_release(atomic_exchange(&it->waiter, NULL));
}

static int next_locked(spool_as_completed *it, spool_future **f, size_t *index)
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
		spool_future *w = spool_promise_new();
		if (!w)
			return SPOOL_ENOMEM;
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
	if (atomic_flag_test_and_set(&it->busy))
		spool__misuse("spool_as_completed_next",
			      "called from two threads at once on one "
			      "iterator (one consumer at a time)");
	int rc = next_locked(it, f, index);
	atomic_flag_clear(&it->busy);
	return rc;
}

void spool_as_completed_destroy(spool_as_completed *it)
{
	if (it)
		it_unref(it);
}
