/* SPDX-License-Identifier: MIT */
/* The pointer set of dedup.h. */
#include <stdlib.h>

#include "dedup.h"
#include "spool/error.h"

int spool__ptrset_init(struct spool__ptrset *s, size_t n)
{
	unsigned bits = 4;
	while (bits < sizeof(size_t) * 8 - 2 && ((size_t)1 << bits) < 2 * n)
		bits++;
	if (((size_t)1 << bits) < 2 * n)
		return SPOOL_ENOMEM;
	s->slots = calloc((size_t)1 << bits, sizeof *s->slots);
	if (!s->slots)
		return SPOOL_ENOMEM;
	s->mask = ((size_t)1 << bits) - 1;
	s->shift = 64 - bits;
	return 0;
}

bool spool__ptrset_add(struct spool__ptrset *s, const void *p)
{
	size_t i = (size_t)(((uint64_t)(uintptr_t)p *
			     UINT64_C(0x9E3779B97F4A7C15)) >>
			    s->shift);
	for (;; i = (i + 1) & s->mask) {
		if (s->slots[i] == p)
			return false;
		if (!s->slots[i]) {
			s->slots[i] = p;
			return true;
		}
	}
}

void spool__ptrset_fini(struct spool__ptrset *s)
{
	free(s->slots);
	s->slots = NULL;
}
