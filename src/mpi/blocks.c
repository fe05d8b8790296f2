/* SPDX-License-Identifier: MIT */
/*
 * Caches of equal-sized blocks (see blocks.h): a stack under one mutex.
 *
 * Under AddressSanitizer a block in a cache is poisoned but for its link
 * word, which only the cache touches: a caller that still used a block it
 * gave back would be reported as a use after free, as it would be without
 * the cache.
 */
#include "mpi/blocks.h"

#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define BLOCKS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BLOCKS_ASAN 1
#endif
#endif

#ifdef BLOCKS_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(b, n) ASAN_POISON_MEMORY_REGION(b, n)
#define UNPOISON(b, n) ASAN_UNPOISON_MEMORY_REGION(b, n)
#else
#define POISON(b, n) ((void)(b), (void)(n))
#define UNPOISON(b, n) ((void)(b), (void)(n))
#endif

void *spool__mpi_blocks_get(struct spool__mpi_blocks *c)
{
	pthread_mutex_lock(&c->mu);
	void *b = c->top;
	if (b) {
		c->top = *(void **)b;
		c->n--;
		UNPOISON((char *)b + sizeof(void *), c->size - sizeof(void *));
	}
	pthread_mutex_unlock(&c->mu);
	/* malloc gives max_align_t alignment. */
	return b ? b : malloc(c->size);
}

void spool__mpi_blocks_put(struct spool__mpi_blocks *c, void *b)
{
	pthread_mutex_lock(&c->mu);
	if (c->n < c->max) {
		*(void **)b = c->top;
		c->top = b;
		c->n++;
		POISON((char *)b + sizeof(void *), c->size - sizeof(void *));
		b = NULL;
	}
	pthread_mutex_unlock(&c->mu);
	/* free() outside the mutex: it may trim the heap (a system call). */
	free(b);
}

struct spool__mpi_blocks *spool__mpi_blocks_pick(struct spool__mpi_blocks *c,
						 size_t n, size_t bytes)
{
	for (size_t i = 0; i < n; i++)
		if (bytes <= c[i].size)
			return 2 * bytes > c[i].size ? &c[i] : NULL;
	return NULL;
}
