/* SPDX-License-Identifier: MIT */
/*
 * Per-thread slabs of small future records (see slab.h).
 *
 * Layout. A block is BLOCK_SIZE bytes aligned to BLOCK_SIZE, so a slot
 * finds its block by masking its address. The first cache line of a block
 * is its header (the balance below); slots follow it. The allocating
 * thread keeps, in thread-local storage, its current block and a bump
 * pointer: an allocation is a compare and an add, with no atomic
 * operation and no write to shared memory.
 *
 * The balance: one atomic counter per block that decides who frees it,
 * without a per-allocation atomic on the owner's side.
 *   - Each release subtracts one.
 *   - The owner, when it stops allocating from the block ("retires" it:
 *     the block is full, or the thread exits), adds the number of slots it
 *     handed out, n, in one read-modify-write.
 *   - Whoever brings the balance to exactly zero frees the block.
 * Before the retirement the balance is minus the number of releases so
 * far, never positive, so no release can bring it from one to zero; and it
 * cannot be zero after a release either (a release makes it at most -1).
 * The owner's addition makes it n minus the releases so far, at least 0:
 * if 0, every slot has been released and the owner frees the block; if
 * positive, the remaining releases count it down and the last one sees it
 * reach zero. So exactly one party frees the block, after every release.
 * This is the same argument as the pool's orphan count (task.c).
 *
 * Memory orders: every update of the balance is acq_rel, so the updates
 * form one release sequence; the party that brings it to zero acquires
 * every other party's release and thus sees all their uses of the block's
 * slots happen before the free (the usual reference-count argument, with
 * a read-modify-write rather than a fence because ThreadSanitizer does not
 * model fences).
 *
 * The exiting thread: a pthread key destructor retires its current block,
 * partly used as it may be; its slots still referenced by futures keep the
 * block alive through the balance, exactly as for a full block. A thread
 * that never submits from outside never creates a block.
 *
 * Freed blocks go to a small process-wide cache (CACHE_MAX blocks, under a
 * mutex: touched once per block, that is once per BLOCK_SIZE / SLOT
 * allocations), so that a steady submit-and-join cycle reuses memory whose
 * pages are already mapped instead of faulting new ones in; beyond the
 * bound they go back to free(). The mutex also carries the block from the
 * thread that freed it to the one that takes it from the cache. The bound
 * is 8 blocks (16 MiB): a burst of 100,000 remote tasks through spool-mpi
 * fills 7 blocks with its futures, and with 2 cached each burst faulted
 * 5 blocks in anew, which made its submissions slower than malloc's
 * (glibc keeps such memory in its heap); with 8, the next burst finds all
 * of them mapped.
 *
 * Pre-faulting. A thread that has filled a whole block will likely fill
 * the next, and faulting a fresh block in page by page was the largest
 * cost of a burst of outside submissions (about 60% of the submitting
 * thread's samples for 1M submissions to 2 workers, perf record). So when
 * a thread is halfway through a block it takes the one after it
 * (next_block) and leaves its address in prefault_request, a single slot,
 * so that the pages are ready by the time it needs them; an idle
 * worker, before it parks, takes the request and has the kernel populate
 * the block's pages (MADV_POPULATE_WRITE, Linux 5.14), which faults them
 * in as a write would but writes nothing. So the worker never touches the
 * block's contents, and a request that has become stale (its thread
 * exited and freed the block meanwhile, or another request replaced it)
 * costs at most a failed or useless system call: populating memory
 * changes no byte of it. The request is only a hint, and the slot holds
 * one: a newer request replaces an older one not yet taken.
 */
#include "slab.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "alloc.h"
#include "future_impl.h"

/* Slots are packed at 16 bytes, not padded to a cache line: a million
 * records kept until a join are a million slots the kernel must clear
 * when it faults them in, and that clearing is the largest remaining
 * cost of the pool suite's "submit", so fewer bytes per record is faster
 * there than fewer shared lines. Two neighbouring records share at most
 * one line. */
#define SLOT SPOOL__SLAB_SLOT

enum {
	BLOCK_SIZE = 1 << 21, /* 2 MiB: some 16,000 records per malloc */
	HEADER_SIZE = 64,
	CACHE_MAX = 8,
};

#define SLOTS_PER_BLOCK ((BLOCK_SIZE - HEADER_SIZE) / SLOT)

_Static_assert(SLOT % 16 == 0, "slots are 16-aligned");

struct block {
	alignas(64) _Atomic long balance; /* see the top of this file */
	struct block *next_cached;        /* in the cache, under cache_mu */
};

_Static_assert(sizeof(struct block) <= HEADER_SIZE, "header fits its line");

/* The calling thread's block and its bump range [bump, limit): limit is
 * the middle of the block until the thread gets there (the slow path then
 * asks for the next block to be pre-faulted and moves limit to end), so
 * that the fast path needs no second compare. */
static SPOOL__TLS struct block *cur;
static SPOOL__TLS char *bump, *limit, *end;
/* The block the calling thread takes next (see "Pre-faulting"). */
static SPOOL__TLS struct block *next_block;

/* A block for an idle worker to pre-fault, or NULL. Relaxed throughout:
 * only the address travels, and nothing reads the block through it. */
static _Atomic(struct block *) prefault_request;

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;
static bool key_ok;

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct block *cache; /* under cache_mu */
static int ncached;         /* under cache_mu */

static struct block *block_of(void *slot)
{
	return (struct block *)((uintptr_t)slot & ~(uintptr_t)(BLOCK_SIZE - 1));
}

static char *first_slot(struct block *b)
{
	return (char *)b + HEADER_SIZE;
}

static void block_free(struct block *b)
{
	pthread_mutex_lock(&cache_mu);
	if (ncached < CACHE_MAX) {
		b->next_cached = cache;
		cache = b;
		ncached++;
		b = NULL;
	}
	pthread_mutex_unlock(&cache_mu);
	free(b);
}

static struct block *block_new(void)
{
	/* Taking a block counts as one allocation of the seam whether or not
	 * the cache has one, so that an out-of-memory test fails the same
	 * submission whatever earlier work left cached (src/core/alloc.h).
	 * Nothing in builds without SPOOL_DEBUG_COUNTERS; once per block. */
	if (spool__alloc_should_fail())
		return NULL;
	pthread_mutex_lock(&cache_mu);
	struct block *b = cache;
	if (b) {
		cache = b->next_cached;
		ncached--;
	}
	pthread_mutex_unlock(&cache_mu);
	if (!b) {
		b = aligned_alloc(BLOCK_SIZE, BLOCK_SIZE);
		if (!b)
			return NULL;
	}
	/* Relaxed: the block is not shared until its first slot is
	 * published, which supplies the release. */
	atomic_store_explicit(&b->balance, 0, memory_order_relaxed);
	return b;
}

/* The owner stops allocating from b after handing out n slots. */
static void retire(struct block *b, long n)
{
	/* acq_rel: see the top of this file. */
	long old = atomic_fetch_add_explicit(&b->balance, n,
					     memory_order_acq_rel);
	if (old + n == 0)
		block_free(b);
}

static void retire_current(void)
{
	if (!cur)
		return;
	retire(cur, (long)((bump - first_slot(cur)) / (ptrdiff_t)SLOT));
	cur = NULL;
	bump = limit = end = NULL;
}

static void on_thread_exit(void *unused)
{
	(void)unused;
	retire_current();
	if (next_block) {
		/* Never handed a slot out: nobody else frees it. */
		block_free(next_block);
		next_block = NULL;
	}
}

static void make_key(void)
{
	key_ok = pthread_key_create(&exit_key, on_thread_exit) == 0;
}

/* The slow path: the current block is full (or there is none). */
static void *refill(void)
{
	/* Without the key a block would outlive its thread unretired: fail
	 * the allocation instead (the process ran out of keys). */
	pthread_once(&key_once, make_key);
	if (!key_ok)
		return NULL;
	/* No transparent huge pages for blocks. Asked for with madvise, they
	 * speed up repeated rounds of submissions in one process but slow
	 * down the first round, and every round of the pool suite, where
	 * other work runs in between, with most of the time in the kernel
	 * zeroing fresh pages: a huge page needs contiguous free memory,
	 * which on a virtual machine is often memory the host has not backed
	 * yet, where 4 KiB pages reuse what was freed a moment ago. Untouched
	 * slots of a block cost no memory. */
	if (cur && limit != end) {
		/* Halfway: ask for the next block, then go on (see
		 * "Pre-faulting"). */
		limit = end;
		if (!next_block && (next_block = block_new()))
			atomic_store_explicit(&prefault_request, next_block,
					      memory_order_relaxed);
		char *p = bump;
		bump = p + SLOT;
		return p;
	}
	struct block *b = next_block ? next_block : block_new();
	if (!b)
		return NULL;
	next_block = NULL;
	retire_current();
	/* Non-NULL so that the destructor runs at thread exit; the block
	 * itself, so that leak checkers see it reachable from the thread. */
	pthread_setspecific(exit_key, b);
	cur = b;
	bump = first_slot(b) + SLOT;
	end = first_slot(b) + (size_t)SLOTS_PER_BLOCK * SLOT;
	limit = first_slot(b) + (size_t)(SLOTS_PER_BLOCK / 2) * SLOT;
	return first_slot(b);
}

void spool__slab_prefault(void)
{
	/* A load first: workers come here often, requests are rare. */
	if (!atomic_load_explicit(&prefault_request, memory_order_relaxed))
		return;
	struct block *b = atomic_exchange_explicit(&prefault_request, NULL,
						   memory_order_relaxed);
#ifdef MADV_POPULATE_WRITE
	/* Errors (an old kernel, a block freed meanwhile) leave the pages
	 * to be faulted in by their first write, as without the hint. */
	if (b)
		(void)madvise(b, BLOCK_SIZE, MADV_POPULATE_WRITE);
#else
	(void)b;
#endif
}

void *spool__slab_alloc(void)
{
	char *p = bump;
	if (__builtin_expect(p != limit, 1)) {
		bump = p + SLOT;
		return p;
	}
	return refill();
}

void spool__slab_free(void *slot)
{
	struct block *b = block_of(slot);
	/* acq_rel: see the top of this file. */
	if (atomic_fetch_sub_explicit(&b->balance, 1, memory_order_acq_rel) ==
	    1)
		block_free(b);
}

/* Two neighbouring slots: the balance counts both as handed out (retire
 * counts slots by the bump pointer), and spool__slab_free2() gives both
 * back in one subtraction. A slot that has no neighbour left before the
 * limit is given back at once (the balance cannot reach zero by it: the
 * block is not retired yet) and the next one tried; by the third try the
 * thread is on a fresh block or past the halfway point, with room. */
void *spool__slab_alloc2(void)
{
	for (int i = 0; i < 3; i++) {
		char *p = bump;
		if (p != limit && (size_t)(limit - p) >= 2 * SLOT) {
			bump = p + 2 * SLOT;
			return p;
		}
		p = spool__slab_alloc();
		if (!p)
			return NULL;
		if (bump == p + SLOT && bump != limit) {
			bump += SLOT;
			return p;
		}
		spool__slab_free(p);
	}
	return NULL;
}

void spool__slab_free2(void *slot)
{
	struct block *b = block_of(slot);
	/* acq_rel: see the top of this file. */
	if (atomic_fetch_sub_explicit(&b->balance, 2, memory_order_acq_rel) ==
	    2)
		block_free(b);
}
