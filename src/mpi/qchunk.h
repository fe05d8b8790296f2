/* SPDX-License-Identifier: MIT */
/*
 * The chunks of the executor's queue at the root (executor.c, "The root's
 * memory per task"), and the process-wide cache that keeps emptied ones
 * for the next burst.
 *
 * A burst of 100,000 tiny tasks queues some 170 chunks (11 MiB) at its
 * peak, since submission outruns the workers' windows. Given back to
 * free(), much of that went back to the kernel when glibc trimmed its
 * heap, and the next burst faulted it in again page by page. On the 2-core
 * virtual machines of docs/design/mpi.md a page fault costs about 10 us,
 * and the farm of spool-bench-mpi took some 2,000 of them per run in its
 * submission loop: half of that loop's time. So emptied chunks go to a
 * cache of up to SPOOL__QCHUNK_CACHE_MAX chunks (16 MiB), shared by every
 * executor of the process, and the next chunk any executor needs comes
 * from there first: the slab's design (src/core/slab.c) for the queue's
 * memory, with the same price, up to 16 MiB kept after a burst.
 *
 * Thread safety: any thread. The cache's mutex is taken once per chunk
 * (some 580 tiny tasks); submit takes it while holding the executor's
 * mutex, and nothing takes an executor's mutex while holding it.
 */
#ifndef SPOOL_MPI_QCHUNK_H
#define SPOOL_MPI_QCHUNK_H

#include <stddef.h>

/* A piece of the queue: records one after the other from QCHUNK_OFF,
 * appended by submit at `used` and taken by the pass from `read` (both
 * under the executor's mutex). */
struct qchunk {
	struct qchunk *next;
	size_t cap, used, read;
};

#define QCHUNK_ALIGN _Alignof(max_align_t)
#define QCHUNK_OFF                                                             \
	((sizeof(struct qchunk) + QCHUNK_ALIGN - 1) / QCHUNK_ALIGN *           \
	 QCHUNK_ALIGN)
/* The room of a chunk, unless one record needs more. */
#define QCHUNK_BYTES ((size_t)64 * 1024)
#define SPOOL__QCHUNK_CACHE_MAX 256 /* chunks: 16 MiB */

/* A chunk with room for at least rsize bytes of records (cap set; next,
 * used and read are the caller's to set): a cached one when rsize fits
 * QCHUNK_BYTES and the cache has one, else from malloc. NULL when out of
 * memory. */
struct qchunk *spool__qchunk_get(size_t rsize);

/* Gives back a list of chunks linked through next (NULL: none): into the
 * cache while it has room, the rest (and every oversized chunk) to
 * free(). */
void spool__qchunk_put(struct qchunk *list);

#endif /* SPOOL_MPI_QCHUNK_H */
