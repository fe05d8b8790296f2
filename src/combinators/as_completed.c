/* SPDX-License-Identifier: MIT */
/*
 * as_completed: hand back futures in the order they complete.
 *
 * The iterator keeps one entry per distinct input and a queue of entry
 * numbers in completion order: an array of n slots, each written once, and
 * a `tail` that producers advance with fetch_add. Entries final at creation
 * are queued first, by the creating thread; every other entry gets a
 * done-callback that claims the next slot, stores its entry number (plus
 * one, so that 0 means "not written yet") and wakes the consumer. The one
 * consumer reads slot `head` and moves on when it is non-zero. A producer
 * that claimed a slot but has not written it yet only delays the consumer
 * until it does, since every slot below tail is written in a few
 * instructions.
 *
 * Waking without lost wake-ups. A consumer that finds slot `head` empty
 * makes a fresh internal future, publishes it in `waiter`, then looks at
 * the slot again before waiting on it; a producer stores its slot, then
 * takes `waiter` with an exchange and completes what it took. All four
 * accesses are seq_cst, so in their single total order either the
 * consumer's second look comes after the producer's store (it sees the
 * entry and does not wait) or the producer's exchange comes after the
 * consumer's publication (it completes the future the consumer waits on).
 * A wake-up by a producer of a later slot is only spurious: the consumer
 * looks again and waits again. Whoever takes the future out of `waiter`
 * (producer, or the consumer reclaiming it) owns the reference the slot
 * held.
 *
 * Lifetime: the owner and the callbacks (together, registration bias in
 * internal.h) each hold one reference to the iterator; the inputs are
 * retained until the last of the two lets go, so futures handed back stay
 * valid until destroy and callbacks still pending after destroy (after a
 * timeout) find valid memory.
 */
#include <stdlib.h>

#include "core/misuse.h"
#include "dedup.h"
#include "internal.h"

struct entry {
	spool_as_completed *it;
	spool_future *f; /* a reference, dropped when the iterator is freed */
	size_t index;    /* first position in the input array */
	bool early;      /* final at creation: queued by the creator */
};

struct spool_as_completed {
	_Atomic unsigned refs; /* the owner's and the callbacks' */
	_Atomic size_t armed;  /* registration bias + callbacks not yet run */
	size_t n;              /* distinct inputs */
	struct entry *entries; /* n */
	_Atomic size_t *queue; /* n slots: entry number + 1, or 0 */
	_Atomic size_t tail;   /* next slot a producer claims */
	size_t head;           /* next slot the consumer reads */
	_Atomic(spool_future *) waiter;
	int64_t deadline;
	bool timed_out;
	atomic_flag busy; /* a consumer is inside next() */
};

static void it_unref(spool_as_completed *it)
{
	if (atomic_fetch_sub(&it->refs, 1) != 1)
		return;
	for (size_t k = 0; k < it->n; k++)
		spool_future_release(it->entries[k].f);
	free(it->entries);
	free(it->queue);
	free(it);
}

static void push(spool_as_completed *it, size_t k)
{
	size_t pos = atomic_fetch_add(&it->tail, 1);
	atomic_store(&it->queue[pos], k + 1);
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
	struct entry *e = arg;
	spool_as_completed *it = e->it;
	push(it, (size_t)(e - it->entries));
	disarm(it, 1);
}

/* Fills it->entries with the distinct inputs, retained. */
static int collect(spool_as_completed *it, spool_future *const *fs, size_t n)
{
	struct spool__ptrset seen = {0};
	if (n > 1 && spool__ptrset_init(&seen, n) != 0)
		return SPOOL_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (n > 1 && !spool__ptrset_add(&seen, fs[i]))
			continue;
		it->entries[it->n++] = (struct entry){
			it, spool_future_retain(fs[i]), i, false};
	}
	spool__ptrset_fini(&seen);
	return 0;
}

int spool_as_completed_create(spool_as_completed **out, spool_future *const *fs,
			      size_t n, int64_t timeout_ns)
{
	if (!out || spool__check_inputs(fs, n) != 0 || timeout_ns < 0)
		return SPOOL_EINVAL;
	*out = NULL;
	spool_as_completed *it = calloc(1, sizeof *it);
	if (!it)
		return SPOOL_ENOMEM;
	it->entries = malloc((n ? n : 1) * sizeof *it->entries);
	it->queue = calloc(n ? n : 1, sizeof *it->queue);
	if (!it->entries || !it->queue || collect(it, fs, n) != 0) {
		free(it->entries);
		free(it->queue);
		free(it);
		return SPOOL_ENOMEM;
	}
	it->deadline = spool__deadline(timeout_ns);
	atomic_init(&it->refs, 2);
	atomic_init(&it->armed, SPOOL__BIAS);
	atomic_init(&it->waiter, NULL);
	atomic_flag_clear(&it->busy);

	/* Inputs final now go first, in input order; no producer runs yet,
	 * so plain order suffices (the stores are atomic anyway). */
	size_t early = 0;
	for (size_t k = 0; k < it->n; k++) {
		if (spool_future_done(it->entries[k].f)) {
			it->entries[k].early = true;
			atomic_store_explicit(&it->queue[early++], k + 1,
					      memory_order_relaxed);
		}
	}
	/* Relaxed: published to producers by the release in
	 * spool_future_add_callback() below. */
	atomic_store_explicit(&it->tail, early, memory_order_relaxed);

	int rc = 0;
	size_t registered = 0;
	for (size_t k = 0; k < it->n; k++) {
		if (it->entries[k].early)
			continue;
		if (spool_future_add_callback(it->entries[k].f, on_done,
					      &it->entries[k]) != 0) {
			rc = SPOOL_ENOMEM;
			break;
		}
		registered++;
	}
	disarm(it, SPOOL__BIAS - registered);
	if (rc != 0) {
		it_unref(it); /* the owner's; callbacks keep theirs */
		return rc;
	}
	*out = it;
	return 0;
}

/* Takes the entry at head if it has been written. */
static bool take(spool_as_completed *it, spool_future **f, size_t *index)
{
	size_t k1 = atomic_load(&it->queue[it->head]);
	if (!k1)
		return false;
	it->head++;
	*f = it->entries[k1 - 1].f;
	if (index)
		*index = it->entries[k1 - 1].index;
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
