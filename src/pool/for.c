/* SPDX-License-Identifier: MIT */
/*
 * spool_for: a parallel loop by recursive halving with spool_join, split
 * lazily.
 *
 * Splitting a range into pieces of the grain size up front costs a join
 * per piece, most of which nobody steals on a busy pool; splitting too
 * little leaves workers idle. Two rules decide instead, each taken from a
 * well-tried scheduler:
 *
 *   - rayon's adaptive splitter (rayon src/iter/plumbing/mod.rs,
 *     Splitter::try_split): a piece carries a split budget, the number of
 *     workers at the start, halved at each split; a piece that was stolen
 *     (it runs on another worker than the one that split it: rayon's
 *     "migrated") resets its budget to the number of workers, since a
 *     thief was idle and others may be. A piece of less than 2 * grain
 *     indices never splits.
 *   - demand, as oneTBB's auto_partitioner checks whether its pieces are
 *     being stolen: a piece whose budget is spent runs fn on blocks of its
 *     range, and between two blocks it splits its remaining range in two
 *     when this worker's deque is empty (it has nothing a thief could
 *     take) and a worker of the pool is idle (searching or parked: the
 *     pool's idle word, park.c). The pushed half wakes or feeds that
 *     worker; if nobody takes it, this worker pops it back and the next
 *     split needs the deque empty again, so an idle worker that never
 *     comes costs at most one split per halving of the range.
 *
 * Leaf blocks are a sixteenth of the piece, at least grain, and the last
 * one takes the remainder, so fn sees at least grain indices a call
 * unless the whole range is smaller.
 *
 * Indices are offsets from begin in uint64_t, so that any int64_t range
 * (INT64_MIN to INT64_MAX is 2^64 - 1 indices) splits without overflow;
 * fn gets begin + offset converted back (two's complement, as GCC and
 * Clang define it).
 *
 * The first error stops the loop: it is kept in the loop's context, and
 * every piece checks it before each block.
 */
#include "job.h"
#include "pool_impl.h"

enum { LEAF_BLOCKS = 16 };

struct for_ctx {
	spool_pool *pool;
	spool_for_fn fn;
	void *arg;
	int64_t begin;
	uint64_t grain; /* >= 1 */
	unsigned nworkers;
	_Atomic int err;
};

struct piece {
	struct for_ctx *c;
	uint64_t lo, hi; /* offsets from c->begin */
	unsigned splits;
	struct spool__worker *split_by;
};

static int run_piece(void *arg);

static void fail(struct for_ctx *c, int err)
{
	int zero = 0;
	/* Relaxed: spool_for reads it after the joins that end the loop,
	 * which order every piece's writes before their return. */
	atomic_compare_exchange_strong_explicit(&c->err, &zero, err,
						memory_order_relaxed,
						memory_order_relaxed);
}

static bool failed(struct for_ctx *c)
{
	/* Relaxed: a hint to stop early. */
	return atomic_load_explicit(&c->err, memory_order_relaxed) != 0;
}

/* Splits [lo, hi) in two halves run by spool_join. */
static void split(struct for_ctx *c, struct spool__worker *w, uint64_t lo,
		  uint64_t hi, unsigned splits)
{
	uint64_t mid = lo + (hi - lo) / 2;
	struct piece left = {c, lo, mid, splits, w};
	struct piece right = {c, mid, hi, splits, w};
	int rc = spool_join(c->pool, run_piece, &left, run_piece, &right);
	if (rc)
		fail(c, rc); /* a half cancelled by shutdown */
}

/* Whether a thief would take work now: nothing of this worker's is
 * queued, and some worker is idle. */
static bool hungry(struct spool__worker *w)
{
	if (spool__deque_size(&w->dq) != 0)
		return false;
	/* Relaxed: a hint; a stale answer costs a split or a late one. */
	return atomic_load_explicit(&w->pool->idle, memory_order_relaxed) != 0;
}

static void leaf(struct for_ctx *c, struct spool__worker *w, uint64_t lo,
		 uint64_t hi)
{
	uint64_t block = (hi - lo) / LEAF_BLOCKS;
	if (block < c->grain)
		block = c->grain;
	while (lo < hi) {
		if (failed(c))
			return;
		uint64_t left = hi - lo;
		if (left / 2 >= c->grain && hungry(w)) {
			split(c, w, lo, hi, 0);
			return;
		}
		/* The last block takes a remainder smaller than grain. */
		uint64_t n = left > block && left - block >= c->grain ? block
								      : left;
		int64_t a = (int64_t)((uint64_t)c->begin + lo);
		int64_t b = (int64_t)((uint64_t)c->begin + lo + n);
		int err = c->fn(c->arg, a, b);
		if (err) {
			fail(c, err);
			return;
		}
		lo += n;
	}
}

static int run_piece(void *arg)
{
	struct piece *p = arg;
	struct for_ctx *c = p->c;
	struct spool__worker *w = spool__self;
	unsigned splits = p->splits;
	if (w != p->split_by) {
		/* Stolen: a thief was idle; budget for the others again. */
		splits /= 2;
		if (splits < c->nworkers)
			splits = c->nworkers;
	}
	if (failed(c))
		return 0;
	if (splits > 0 && (p->hi - p->lo) / 2 >= c->grain)
		split(c, w, p->lo, p->hi, splits / 2);
	else
		leaf(c, w, p->lo, p->hi);
	return 0;
}

int spool_for(spool_pool *pool, int64_t begin, int64_t end, int64_t grain,
	      spool_for_fn fn, void *arg)
{
	if (!pool || !fn || grain < 0)
		return SPOOL_EINVAL;
	if (begin >= end)
		return 0;
	struct for_ctx c = {
		.pool = pool,
		.fn = fn,
		.arg = arg,
		.begin = begin,
		.grain = grain ? (uint64_t)grain : 1,
		.nworkers = (unsigned)pool->nworkers,
	};
	atomic_init(&c.err, 0);
	struct spool__worker *w = spool__self;
	/* From outside, split_by NULL reads as stolen: the full budget. */
	struct piece root = {&c, 0, (uint64_t)end - (uint64_t)begin, c.nworkers,
			     w};
	int rc = w && w->pool == pool
			 ? run_piece(&root)
			 : spool__pool_run_outside(pool, run_piece, &root);
	int err = atomic_load_explicit(&c.err, memory_order_relaxed);
	return err ? err : rc;
}
