/* SPDX-License-Identifier: MIT */
/*
 * Slabs of small future records (never installed): the pool's task
 * records of outside submissions, and driven promises (driven.c), which
 * spool-mpi makes one per remote task or request.
 *
 * A thread that makes a hundred thousand futures in a row and frees them
 * together would, with malloc per record, spend much of that in glibc's
 * allocator (chunks freed in bulk overflow its per-thread caches, and its
 * fast bins are merged back into the heap by the next large request,
 * so the next burst splits them again) and in the page faults of a heap
 * growing and trimming. Here each thread cuts its records out of a
 * block of its own with a bump pointer, and a block goes away when the
 * last of its records is released, on whatever thread, at whatever time
 * (futures outlive the pool and the thread that made them). The protocol
 * is in slab.c.
 *
 * The price: a record keeps its whole block (2 MiB of address space; the
 * pages its thread touched) until every record cut from the block before
 * it is released as well, so a program that keeps one future of each
 * burst for good keeps a block per burst.
 */
#ifndef SPOOL_CORE_SLAB_H
#define SPOOL_CORE_SLAB_H

#include <stddef.h>

/* A slot's size: the pool's task record (136 bytes) rounded up to 16. A
 * record that lives in a slot is at most this big and at most 16-byte
 * aligned (each user asserts it). */
#define SPOOL__SLAB_SLOT ((size_t)144)

/* Room for one record (SPOOL__SLAB_SLOT bytes, 16-byte aligned) from the
 * calling thread's current block; NULL when out of memory. Never blocks except,
 * once per block, on a short internal mutex and the allocator. Not
 * async-signal-safe; otherwise any thread. */
void *spool__slab_alloc(void);

/* Gives back a slot from spool__slab_alloc(). Any thread, any time
 * (also after the allocating thread exited); never blocks except, once per
 * block, on a short internal mutex. */
void spool__slab_free(void *slot);

/* As the two above, for room of two neighbouring slots (the pool's big
 * record, pool_impl.h); the slot is given back with spool__slab_free2(). */
void *spool__slab_alloc2(void);
void spool__slab_free2(void *slot);

/* For an idle worker: has the kernel fault in the block a submitting
 * thread will take next, if one asked for it (slab.c, "Pre-faulting").
 * Any thread; a system call at most, never touching the block's bytes. */
void spool__slab_prefault(void);

#endif /* SPOOL_CORE_SLAB_H */
