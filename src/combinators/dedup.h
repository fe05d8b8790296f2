/* SPDX-License-Identifier: MIT */
/*
 * A set of pointers, for the combinators that must see each distinct
 * future once (wait's counts, as_completed). Open addressing with linear
 * probing in a power-of-two table at most half full, Fibonacci hashing
 * (Knuth, TAOCP vol. 3, 6.4): O(n) expected time, 2n words of memory.
 * Single-threaded; the table lives only during one call.
 */
#ifndef SPOOL_COMBINATORS_DEDUP_H
#define SPOOL_COMBINATORS_DEDUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct spool__ptrset {
	const void **slots;
	size_t mask;
	unsigned shift;
};

/* Room for n pointers. Returns 0 or SPOOL_ENOMEM. */
int spool__ptrset_init(struct spool__ptrset *s, size_t n);

/* Adds p (not NULL); true when it was not in the set yet. */
bool spool__ptrset_add(struct spool__ptrset *s, const void *p);

void spool__ptrset_fini(struct spool__ptrset *s);

#endif /* SPOOL_COMBINATORS_DEDUP_H */
