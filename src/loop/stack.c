/* SPDX-License-Identifier: MIT */
/*
 * Coroutine stack slabs (see stack.h for the layout and the policy).
 *
 * Each slab is on exactly one of three lists by how many of its stacks are
 * free: none (full), some (partial), all (empty). A new coroutine takes a
 * stack from the most recently used partial slab, so that hot, already
 * committed stacks are reused first, then from an empty slab, and maps a
 * new slab only when there is none. Trimming unmaps empty slabs first (one
 * munmap gives back 64 stacks, the common case after a burst of coroutines
 * ends together), then empties single dirty stacks with MADV_DONTNEED.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/alloc.h"
#include "sanitizer.h"
#include "stack.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* Linux 6.13; older headers lack it */
#endif

enum { LIST_FULL, LIST_PARTIAL, LIST_EMPTY };

struct spool__stack_slab {
	struct spool__stack_slab *prev, *next;
	char *mem;
	size_t len;
	unsigned nfree, ndirty;
	int list;
	struct spool__stack *free;
	struct spool__stack stacks[SPOOL__STACKS_PER_SLAB];
};

static size_t page_size(void)
{
	long p = sysconf(_SC_PAGESIZE);
	return p > 0 ? (size_t)p : 4096;
}

void spool__stack_pool_init(struct spool__stack_pool *p, size_t size,
			    size_t keep)
{
	size_t page = page_size();
	p->size = (size + page - 1) / page * page;
	/* Several pages, so that a frame somewhat larger than a page that
	 * skips the first guard page still faults. */
	p->guard = page < 16384 ? 16384 : page;
	p->keep = keep;
	p->nfree = p->ndirty = p->nslabs = 0;
	p->lists[LIST_FULL] = p->lists[LIST_PARTIAL] = p->lists[LIST_EMPTY] =
		NULL;
	p->use_guard_madvise = true;
	p->pidfd = -1;
}

static void unlink_slab(struct spool__stack_pool *p,
			struct spool__stack_slab *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		p->lists[s->list] = s->next;
	if (s->next)
		s->next->prev = s->prev;
}

static void push_slab(struct spool__stack_pool *p, struct spool__stack_slab *s,
		      int list)
{
	s->list = list;
	s->prev = NULL;
	s->next = p->lists[list];
	if (s->next)
		s->next->prev = s;
	p->lists[list] = s;
}

/* Moves s to the head of the list its free count says. */
static void file_slab(struct spool__stack_pool *p, struct spool__stack_slab *s)
{
	int list = s->nfree == 0                        ? LIST_FULL
		   : s->nfree == SPOOL__STACKS_PER_SLAB ? LIST_EMPTY
							: LIST_PARTIAL;
	unlink_slab(p, s);
	push_slab(p, s, list);
}

static int install_guard(struct spool__stack_pool *p, char *g)
{
	if (p->use_guard_madvise) {
		if (madvise(g, p->guard, MADV_GUARD_INSTALL) == 0)
			return 0;
		if (errno != EINVAL)
			return -1;
		p->use_guard_madvise = false; /* kernel before 6.13 */
	}
	return mprotect(g, p->guard, PROT_NONE);
}

/* One process_madvise(2) installs a whole slab's guards: 64 regions in one
 * system call instead of 64. Returns false when it cannot (no pidfd, a
 * kernel without guard support in process_madvise); the caller then
 * installs them one by one. */
static bool install_guards_batch(struct spool__stack_pool *p, char *mem,
				 size_t slot)
{
	if (!p->use_guard_madvise || p->pidfd == -2)
		return false;
	if (p->pidfd < 0) {
		p->pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
		if (p->pidfd < 0) {
			p->pidfd = -2; /* do not try again */
			return false;
		}
	}
	struct iovec iov[SPOOL__STACKS_PER_SLAB];
	for (int i = 0; i < SPOOL__STACKS_PER_SLAB; i++) {
		iov[i].iov_base = mem + (size_t)i * slot;
		iov[i].iov_len = p->guard;
	}
	long r = syscall(SYS_process_madvise, p->pidfd, iov,
			 (size_t)SPOOL__STACKS_PER_SLAB, MADV_GUARD_INSTALL,
			 0u);
	return r == (long)(p->guard * SPOOL__STACKS_PER_SLAB);
}

static struct spool__stack_slab *new_slab(struct spool__stack_pool *p)
{
	struct spool__stack_slab *s = spool__malloc(sizeof *s);
	if (!s)
		return NULL;
	size_t slot = p->guard + p->size;
	s->len = slot * SPOOL__STACKS_PER_SLAB;
	void *mem = mmap(
		NULL, s->len, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (mem == MAP_FAILED) {
		free(s);
		return NULL;
	}
	s->mem = mem;
	s->free = NULL;
	bool guarded = install_guards_batch(p, s->mem, slot);
	/* Free list in address order, lowest first, so that consecutive
	 * coroutines use neighbouring memory. */
	for (int i = SPOOL__STACKS_PER_SLAB - 1; i >= 0; i--) {
		char *g = s->mem + (size_t)i * slot;
		if (!guarded && install_guard(p, g) != 0) {
			munmap(s->mem, s->len);
			free(s);
			return NULL;
		}
		struct spool__stack *st = &s->stacks[i];
		st->slab = s;
		st->lo = g + p->guard;
		st->dirty = false;
		st->next = s->free;
		s->free = st;
	}
	s->nfree = SPOOL__STACKS_PER_SLAB;
	s->ndirty = 0;
	push_slab(p, s, LIST_EMPTY);
	p->nfree += SPOOL__STACKS_PER_SLAB;
	p->nslabs++;
	return s;
}

struct spool__stack *spool__stack_get(struct spool__stack_pool *p)
{
	struct spool__stack_slab *s = p->lists[LIST_PARTIAL];
	if (!s)
		s = p->lists[LIST_EMPTY];
	if (!s)
		s = new_slab(p);
	if (!s)
		return NULL;
	struct spool__stack *st = s->free;
	s->free = st->next;
	s->nfree--;
	p->nfree--;
	if (st->dirty) {
		s->ndirty--;
		p->ndirty--;
	}
	file_slab(p, s);
	st->next = NULL;
	return st;
}

void spool__stack_put(struct spool__stack_pool *p, struct spool__stack *st)
{
	struct spool__stack_slab *s = st->slab;
#ifdef SPOOL__ASAN
	/* A finished coroutine never returned from its first frames, so
	 * their redzones are still poisoned; the next owner starts clean. */
	ASAN_UNPOISON_MEMORY_REGION(st->lo, p->size);
#endif
	st->dirty = true;
	st->next = s->free;
	s->free = st;
	s->nfree++;
	s->ndirty++;
	p->nfree++;
	p->ndirty++;
	file_slab(p, s);
}

static void unmap_slab(struct spool__stack_pool *p, struct spool__stack_slab *s)
{
	unlink_slab(p, s);
	p->nfree -= s->nfree;
	p->ndirty -= s->ndirty;
	p->nslabs--;
	munmap(s->mem, s->len);
	free(s);
}

void spool__stack_trim(struct spool__stack_pool *p)
{
	if (p->ndirty <= p->keep)
		return;
	/* Whole slabs first, keeping `keep` free stacks mapped. */
	while (p->lists[LIST_EMPTY] &&
	       p->nfree >= p->keep + SPOOL__STACKS_PER_SLAB &&
	       p->ndirty > p->keep)
		unmap_slab(p, p->lists[LIST_EMPTY]);
	/* Then single stacks, in any slab that still has free dirty ones. */
	for (int list = LIST_PARTIAL; list <= LIST_EMPTY; list++) {
		for (struct spool__stack_slab *s = p->lists[list];
		     s && p->ndirty > p->keep; s = s->next) {
			for (struct spool__stack *st = s->free;
			     st && s->ndirty && p->ndirty > p->keep;
			     st = st->next) {
				if (!st->dirty)
					continue;
				madvise(st->lo, p->size, MADV_DONTNEED);
				st->dirty = false;
				s->ndirty--;
				p->ndirty--;
			}
		}
	}
}

void spool__stack_pool_fini(struct spool__stack_pool *p)
{
	for (int list = LIST_FULL; list <= LIST_EMPTY; list++)
		while (p->lists[list])
			unmap_slab(p, p->lists[list]);
	if (p->pidfd >= 0)
		close(p->pidfd);
	p->pidfd = -1;
}
