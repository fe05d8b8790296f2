/* SPDX-License-Identifier: MIT */
/* The id set of dedup.h. */
#include <stdlib.h>

#include "core/alloc.h"
#include "dedup.h"
#include "spool/error.h"
#include "spool/future.h"

static int bitmap_init(struct spool__idset *s, uint64_t lo, uint64_t span)
{
	s->base = lo;
	s->span = span;
	s->mask = 0;
	s->shift = 0;
	s->bitmap = true;
	s->words = spool__calloc((size_t)(span / 64 + 1), sizeof *s->words);
	return s->words ? 0 : SPOOL_ENOMEM;
}

int spool__idset_init(struct spool__idset *s, size_t n, uint64_t lo,
		      uint64_t hi)
{
	uint64_t span = hi - lo + 1;
	if (n > 0 && span / 64 <= n) /* at most 64 ids per input */
		return bitmap_init(s, lo, span);
	s->base = 0;
	s->span = 0;
	s->bitmap = false;
	unsigned bits = 4;
	while (bits < sizeof(size_t) * 8 - 2 && ((size_t)1 << bits) < 2 * n)
		bits++;
	if (((size_t)1 << bits) < 2 * n)
		return SPOOL_ENOMEM;
	s->words = spool__calloc((size_t)1 << bits, sizeof *s->words);
	if (!s->words)
		return SPOOL_ENOMEM;
	s->mask = ((size_t)1 << bits) - 1;
	s->shift = 64 - bits;
	return 0;
}

int spool__idset_init_near(struct spool__idset *s, size_t n, uint64_t near)
{
	uint64_t half = 64 * (uint64_t)(n ? n : 1);
	uint64_t lo = near > half ? near - half : 1;
	return bitmap_init(s, lo, 2 * half);
}

int spool__idset_widen(struct spool__idset *s, size_t n,
		       struct spool_future *const *fs, size_t k)
{
	spool__idset_fini(s);
	if (spool__idset_init(s, n, 1, UINT64_MAX) != 0)
		return SPOOL_ENOMEM;
	for (size_t i = 0; i < k; i++)
		spool__idset_add(s, spool_future_id(fs[i]));
	return 0;
}

void spool__idset_fini(struct spool__idset *s)
{
	free(s->words);
	s->words = NULL;
}
