/* SPDX-License-Identifier: MIT */
/*
 * Sequential C: the pool workloads as plain recursive calls, the floor
 * every parallel figure is divided by. "submit" is n direct calls of the
 * tiny task body; the loops are plain for loops over the arrays.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

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
	struct pool_loop_arrays *arr = NULL;

	(void)threads;
	if (b == POOL_FOR_SUM || b == POOL_FOR_MAP) {
		arr = calloc(1, sizeof(*arr));
		if (!arr || pool_loop_arrays_new(arr, b, n) != 0) {
			free(arr);
			return snprintf(err, POOL_ERRLEN, "out of memory"), -1;
		}
	}
	*state = arr;
	return 0;
}

static int64_t for_sum(const int64_t *a, int64_t n)
{
	int64_t sum = 0;

	for (int64_t i = 0; i < n; i++)
		sum += a[i];
	return sum;
}

static int64_t for_map(const int64_t *a, int64_t *b, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		b[i] = pool_for_map_value(a[i]);
	return pool_loop_map_answer(b, n);
}

static int seq_run(void *state, enum pool_bench b, int64_t n, int64_t *answer,
		   char *err)
{
	struct pool_loop_arrays *arr = state;

	(void)err;
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
	case POOL_FOR_SUM:
		*answer = for_sum(arr->a, n);
		break;
	case POOL_FOR_MAP:
		*answer = for_map(arr->a, arr->b, n);
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
	if (state)
		pool_loop_arrays_free(state);
	free(state);
}

const struct pool_peer pool_peer_sequential = {
	"sequential", seq_cannot, seq_start, seq_run, seq_stop,
};
