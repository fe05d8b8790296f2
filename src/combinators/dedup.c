/* SPDX-License-Identifier: MIT */
/* The id set of dedup.h. */
#include <stdlib.h>

#include "dedup.h"
#include "spool/error.h"

int spool__idset_init(struct spool__idset *s, size_t n, uint64_t lo,
		      uint64_t hi)
{
	s->base = lo;
	s->mask = 0;
	s->shift = 0;
	uint64_t span = hi - lo + 1;
	if (n > 0 && span / 64 <= n) { /* at most 64 ids per input */
		s->bitmap = true;
		s->words = calloc((size_t)(span / 64 + 1), sizeof *s->words);
		return s->words ? 0 : SPOOL_ENOMEM;
	}
	s->bitmap = false;
	unsigned bits = 4;
	while (bits < sizeof(size_t) * 8 - 2 && ((size_t)1 << bits) < 2 * n)
		bits++;
	if (((size_t)1 << bits) < 2 * n)
		return SPOOL_ENOMEM;
	s->words = calloc((size_t)1 << bits, sizeof *s->words);
	if (!s->words)
		return SPOOL_ENOMEM;
	s->mask = ((size_t)1 << bits) - 1;
	s->shift = 64 - bits;
	return 0;
}

void spool__idset_fini(struct spool__idset *s)
{
	free(s->words);
	s->words = NULL;
}
