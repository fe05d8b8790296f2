/* SPDX-License-Identifier: MIT */
/*
 * The cache of the queue's chunks (see qchunk.h): a stack under one mutex.
 * A stack, so that the chunk given back last, the one most likely still in
 * the caches, is the first taken again.
 */
#include "mpi/qchunk.h"

#include <pthread.h>
#include <stdlib.h>

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct qchunk *cache; /* under cache_mu, linked through next */
static unsigned ncached;     /* under cache_mu */

struct qchunk *spool__qchunk_get(size_t rsize)
{
	struct qchunk *c = NULL;
	if (rsize <= QCHUNK_BYTES) {
		pthread_mutex_lock(&cache_mu);
		c = cache;
		if (c) {
			cache = c->next;
			ncached--;
		}
		pthread_mutex_unlock(&cache_mu);
		if (c)
			return c;
	}
	size_t cap = rsize > QCHUNK_BYTES ? rsize : QCHUNK_BYTES;
	/* malloc gives max_align_t alignment, which QCHUNK_OFF assumes. */
	c = malloc(QCHUNK_OFF + cap);
	if (c)
		c->cap = cap;
	return c;
}

void spool__qchunk_put(struct qchunk *list)
{
	struct qchunk *drop = NULL;
	pthread_mutex_lock(&cache_mu);
	while (list) {
		struct qchunk *c = list;
		list = c->next;
		if (c->cap == QCHUNK_BYTES &&
		    ncached < SPOOL__QCHUNK_CACHE_MAX) {
			c->next = cache;
			cache = c;
			ncached++;
		} else {
			c->next = drop;
			drop = c;
		}
	}
	pthread_mutex_unlock(&cache_mu);
	/* free() outside the mutex: it may trim the heap (a system call). */
	while (drop) {
		struct qchunk *next = drop->next;
		free(drop);
		drop = next;
	}
}
