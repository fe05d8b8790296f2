/* SPDX-License-Identifier: MIT */
/*
 * Slabs for the task records of outside submissions (never installed).
 *
 * A thread outside the pool that submits a million tasks in a row and
 * frees them at the join would, with malloc per record, spend most of
 * the submission in glibc's allocator (chunks too big for its per-thread
 * caches when freed in bulk) and in the page faults of a heap growing
 * and trimming. Here each submitting thread cuts its records out of a
 * block of its own with a bump pointer, and a block goes away when the
 * last of its records is released, on whatever thread, at whatever time
 * (futures outlive the pool and the thread that submitted them). The
 * protocol is in slab.c.
 */
#ifndef SPOOL_POOL_SLAB_H
#define SPOOL_POOL_SLAB_H

#include <stddef.h>

/* Room for one struct spool__pool_task (16-byte aligned) from the calling
 * thread's current block; NULL when out of memory. Never blocks except,
 * once per block, on a short internal mutex and the allocator. Not
 * async-signal-safe; otherwise any thread. */
void *spool__slab_alloc(void);

/* Gives back a slot from spool__slab_alloc(). Any thread, any time
 * (also after the allocating thread exited); never blocks except, once per
 * block, on a short internal mutex. */
void spool__slab_free(void *slot);

/* As the two above, for room of two neighbouring slots (a big record,
 * pool_impl.h); the slot is given back with spool__slab_free2(). */
void *spool__slab_alloc2(void);
void spool__slab_free2(void *slot);

/* For an idle worker: has the kernel fault in the block a submitting
 * thread will take next, if one asked for it (slab.c, "Pre-faulting").
 * Any thread; a system call at most, never touching the block's bytes. */
void spool__slab_prefault(void);

#endif /* SPOOL_POOL_SLAB_H */
