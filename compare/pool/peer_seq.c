/* SPDX-License-Identifier: MIT */
/*
 * Sequential C: the pool workloads as plain recursive calls, the floor
 * every parallel figure is divided by. "submit" is n direct calls of the
 * tiny task body.
 */
#include <stdatomic.h>
#include <stddef.h>

#include "peer.h"

static int64_t fib(int n)
{
	if (n < 2)
		return n;
	return fib(n - 1) + fib(n - 2);
}

static int64_t skynet(struct pool_skynet s)
{
	int64_t sum = 0;

	if (s.size == 1)
		return s.num;
	for (int i = 0; i < 10; i++)
		sum += skynet(pool_skynet_child(s, i));
	return sum;
}

static int64_t nqueens(struct pool_nqueens s)
{
	uint32_t free = pool_nqueens_free(s);
	int64_t sum = 0;

	if (s.row == s.n)
		return 1;
	while (free) {
		uint32_t bit = free & -free;

		free ^= bit;
		sum += nqueens(pool_nqueens_place(s, bit));
	}
	return sum;
}

/* The body the pools run per task: one atomic increment (relaxed: one
 * thread). The counter is atomic so the compiler cannot fold the loop. */
static atomic_long tiny_count;

static void tiny(void)
{
	atomic_fetch_add_explicit(&tiny_count, 1, memory_order_relaxed);
}

static const char *seq_cannot(enum pool_bench b)
{
	(void)b;
	return NULL;
}

static int seq_start(int threads, enum pool_bench b, int64_t n, void **state,
		     char *err)
{
	(void)threads, (void)b, (void)n, (void)err;
	*state = NULL;
	return 0;
}

static int seq_run(void *state, enum pool_bench b, int64_t n, int64_t *answer,
		   char *err)
{
	(void)state, (void)err;
	switch (b) {
	case POOL_FIB:
		*answer = fib((int)n);
		break;
	case POOL_SKYNET:
		*answer = skynet((struct pool_skynet){0, n});
		break;
	case POOL_NQUEENS:
		*answer = nqueens(pool_nqueens_root((int)n));
		break;
	default:
		atomic_store_explicit(&tiny_count, 0, memory_order_relaxed);
		for (int64_t i = 0; i < n; i++)
			tiny();
		*answer = atomic_load_explicit(&tiny_count,
					       memory_order_relaxed);
		break;
	}
	return 0;
}

static void seq_stop(void *state)
{
	(void)state;
}

const struct pool_peer pool_peer_sequential = {
	"sequential", seq_cannot, seq_start, seq_run, seq_stop,
};
