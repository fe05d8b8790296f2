/* SPDX-License-Identifier: MIT */
/*
 * Caches of equal-sized blocks, for the memory spool-mpi makes and frees in
 * bursts at the root: the chunks of the executor's queue and the blocks
 * that results arrive in (executor.c, "The root's memory per task").
 *
 * Why. A burst of 100,000 tiny tasks makes some 11 MiB of queue and 6 MiB
 * of result blocks at the root, and frees them all at its end. Given back
 * to free(), much of that went back to the kernel when glibc trimmed its
 * heap, and the next burst faulted it in again, page by page. On the
 * 2-core virtual machines of docs/design/mpi.md a page fault costs about
 * 10 us, and the farm of spool-bench-mpi took 500-3,000 of them per run
 * after its first. So each kind of block has a cache of its own, shared by
 * every executor of the process: a block given back waits there, up to
 * the cache's bound, and the next one of its kind comes from there first.
 * This is the slab's design (src/core/slab.c) for the executor's memory,
 * with the same price: what a cache holds (at most max blocks of size
 * bytes) stays allocated after a burst, for the next one.
 *
 * A cache is a stack under one mutex, so that the block given back last,
 * the one most likely still in the CPU's caches, is the first taken again.
 * The mutex is taken once per block (a chunk of some 580 tiny tasks, a
 * message of results), and nothing else is taken while it is held.
 *
 * Thread safety: any thread, any time (a result block is given back by
 * whichever thread frees its last result).
 */
#ifndef SPOOL_MPI_BLOCKS_H
#define SPOOL_MPI_BLOCKS_H

#include <pthread.h>
#include <stddef.h>

struct spool__mpi_blocks {
	pthread_mutex_t mu;
	void *top;    /* under mu: the last block given back; each block's
			 first word links to the one given back before it */
	unsigned n;   /* under mu: blocks held */
	unsigned max; /* the bound */
	size_t size;  /* every block's size, at least a pointer's */
};

#define SPOOL__MPI_BLOCKS_INIT(size_, max_)                                    \
	{                                                                      \
		PTHREAD_MUTEX_INITIALIZER, NULL, 0, (max_), (size_)            \
	}

/* A block of c->size bytes, aligned for any type: the last one given back
 * to c, or one from malloc() when c holds none. NULL when out of memory. */
void *spool__mpi_blocks_get(struct spool__mpi_blocks *c);

/* Gives back a block from spool__mpi_blocks_get(c): kept while c holds
 * fewer than c->max, else given to free(). */
void spool__mpi_blocks_put(struct spool__mpi_blocks *c, void *b);

/* Of n caches of growing block sizes, the one whose blocks `bytes` fit
 * and fill more than half of, or NULL: a block taken that way holds at
 * most twice what malloc(bytes) would have given, so memory kept for long
 * in such blocks costs at most twice its size. */
struct spool__mpi_blocks *spool__mpi_blocks_pick(struct spool__mpi_blocks *c,
						 size_t n, size_t bytes);

#endif /* SPOOL_MPI_BLOCKS_H */
