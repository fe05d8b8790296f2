/* SPDX-License-Identifier: MIT */
/*
 * Seeing each distinct future once, for the combinators that must (wait's
 * counts, as_completed): a set of futures keyed by their ids.
 *
 * Future ids are process-unique and handed out by a counter in blocks per
 * thread, so the futures of one program phase have ids in a narrow range.
 * When the inputs' ids span at most 64 ids per input, the set is a bitmap
 * over that span: one bit per id, at most 8 bytes per input, no hashing,
 * no collisions, and small enough to stay in cache (128 KiB for a million
 * futures made in a row). Otherwise it is an open-addressing hash set of
 * the ids (linear probing, table at most half full, Fibonacci hashing:
 * Knuth, TAOCP vol. 3, 6.4), 16 bytes per input. Both are O(n) expected
 * time. A caller that cannot look at every id first (one pass over the
 * inputs, as as_completed and spool_wait's counts make) starts with a
 * bitmap around the first id and moves to the hash set, with the ids seen
 * so far, if an id falls outside it (spool__idset_widen()).
 * Single-threaded; the set lives only during one call.
 */
#ifndef SPOOL_COMBINATORS_DEDUP_H
#define SPOOL_COMBINATORS_DEDUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct spool__idset {
	uint64_t *words; /* bitmap over [base, base + span) or table */
	uint64_t base;
	uint64_t span; /* bitmap mode: ids covered; hash mode: unused */
	size_t mask;   /* hash mode: table size - 1; bitmap mode: 0 */
	unsigned shift;
	bool bitmap;
};

/* A set for n ids all within [lo, hi]. Returns 0 or SPOOL_ENOMEM. */
int spool__idset_init(struct spool__idset *s, size_t n, uint64_t lo,
		      uint64_t hi);

/* A set for n ids when only one of them, `near`, is known before the
 * first add: a bitmap over the 128 * n ids around it (16 bytes of address
 * space per input, but calloc'd, so only the pages of the ids actually
 * added are ever touched: one page per 32768 ids made in a row). Ids
 * outside it do not fit (spool__idset_fits()); the caller then starts
 * again with spool__idset_init(s, n, 1, UINT64_MAX), a hash set that takes
 * any id. Returns 0 or SPOOL_ENOMEM. */
int spool__idset_init_near(struct spool__idset *s, size_t n, uint64_t near);

/* True when id may be added: always in hash mode, inside the span in
 * bitmap mode. */
static inline bool spool__idset_fits(const struct spool__idset *s, uint64_t id)
{
	return !s->bitmap || id - s->base < s->span;
}

/* Adds id (within [lo, hi], never 0); true when it was not in the set. */
static inline bool spool__idset_add(struct spool__idset *s, uint64_t id)
{
	if (s->bitmap) {
		uint64_t k = id - s->base;
		uint64_t bit = UINT64_C(1) << (k & 63);
		uint64_t *w = &s->words[k >> 6];
		bool fresh = !(*w & bit);
		*w |= bit;
		return fresh;
	}
	size_t i = (size_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> s->shift);
	for (;; i = (i + 1) & s->mask) {
		if (s->words[i] == id)
			return false;
		if (s->words[i] == 0) {
			s->words[i] = id;
			return true;
		}
	}
}

struct spool_future;

/* Moves s, a set made by spool__idset_init_near() for n ids, to a hash set
 * holding the ids of fs[0 .. k) (duplicates among them are fine): for a
 * caller that met an id that does not fit. Reads those k futures again.
 * Returns 0, or SPOOL_ENOMEM with s freed (spool__idset_fini() is then a
 * no-op). */
int spool__idset_widen(struct spool__idset *s, size_t n,
		       struct spool_future *const *fs, size_t k);

void spool__idset_fini(struct spool__idset *s);

#endif /* SPOOL_COMBINATORS_DEDUP_H */
