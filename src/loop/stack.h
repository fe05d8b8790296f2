/* SPDX-License-Identifier: MIT */
/*
 * Coroutine stacks: mmap'd, guarded, recycled.
 *
 * Stacks are carved from slabs: one anonymous MAP_NORESERVE mapping holds
 * SPOOL__STACKS_PER_SLAB slots, each a guard region followed by the usable
 * stack (stacks grow down, so the guard sits below each stack and a
 * coroutine that overflows faults there with SIGSEGV instead of writing
 * into its neighbour). Memory is committed only where a coroutine touches
 * it, so a sleeping coroutine costs the pages its call chain used, usually
 * one.
 *
 * Guards are installed with MADV_GUARD_INSTALL (Linux 6.13) where the
 * kernel has it: page-table markers inside the one mapping, a whole slab's
 * in one process_madvise(2) call when possible. Elsewhere they
 * fall back to mprotect(PROT_NONE), which splits the mapping into two VMAs
 * per stack; the default vm.max_map_count (65530) then caps a process near
 * 32,000 live coroutines, past which a new task fails with SPOOL_ENOMEM.
 *
 * A finished coroutine's stack goes back on its slab's free list and is
 * reused dirty (no system call). When more than `keep` free stacks hold
 * memory, spool__stack_trim() gives the excess back: whole free slabs are
 * unmapped, then single stacks are emptied with MADV_DONTNEED.
 *
 * All functions run on the loop's thread only.
 */
#ifndef SPOOL_LOOP_STACK_H
#define SPOOL_LOOP_STACK_H

#include <stdbool.h>
#include <stddef.h>

enum { SPOOL__STACKS_PER_SLAB = 64 };

struct spool__stack_slab;

struct spool__stack {
	struct spool__stack *next; /* in the slab's free list */
	struct spool__stack_slab *slab;
	void *lo;   /* lowest usable byte, just above the guard */
	bool dirty; /* may hold committed pages */
};

struct spool__stack_pool {
	size_t size;   /* usable bytes per stack, whole pages */
	size_t guard;  /* guard bytes below each stack */
	size_t keep;   /* dirty free stacks kept for reuse */
	size_t nfree;  /* free stacks over all slabs */
	size_t ndirty; /* of which dirty */
	size_t nslabs;
	/* Slabs by free stacks: none, some, all; most recently used first. */
	struct spool__stack_slab *lists[3];
	bool use_guard_madvise; /* MADV_GUARD_INSTALL works */
	int pidfd; /* for process_madvise; -1 not yet, -2 unavailable */
};

/* size: usable bytes (rounded up to pages); keep: see above. */
void spool__stack_pool_init(struct spool__stack_pool *p, size_t size,
			    size_t keep);

/* Unmaps every slab; every stack must have been put back. */
void spool__stack_pool_fini(struct spool__stack_pool *p);

/* A stack for a new coroutine, or NULL when memory (or VMAs) run out. */
struct spool__stack *spool__stack_get(struct spool__stack_pool *p);

/* Returns a finished coroutine's stack. */
void spool__stack_put(struct spool__stack_pool *p, struct spool__stack *s);

/* Gives memory of free stacks beyond p->keep back to the kernel. Cheap when
 * there is nothing to do; the loop calls it once per iteration. */
void spool__stack_trim(struct spool__stack_pool *p);

#endif /* SPOOL_LOOP_STACK_H */
