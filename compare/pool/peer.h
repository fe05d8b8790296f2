/* SPDX-License-Identifier: MIT */
/*
 * The pool suite's workloads and the one interface every implementation of
 * them ("peer") provides: spool (a future per task), spool-join
 * (spool_join, scopes and spool_for: no futures), sequential C, oneTBB,
 * libgomp, libomp, GThreadPool, a plain mutex+condition-variable pool, and
 * rayon, tokio and Go, which are programs of their own driven over a pipe
 * (peer_ext.c).
 *
 * Workloads (the same shape in every peer, so only the runtime differs):
 *   fib(n)      one task per call, both children spawned, no cut-off;
 *               answer fib(n).
 *   skynet(n)   a 10-ary tree of tasks with n leaves (n a power of 10);
 *               leaf i answers i, so the answer is n (n - 1) / 2.
 *   nqueens(n)  one task per queen placed in a row (a partial board that
 *               is still safe); answer the number of solutions.
 *   submit(n)   a thread outside the pool submits n tiny tasks (each adds
 *               one to a counter), then joins them all; answer the count.
 *   for_sum(n)  a parallel loop: the sum of a[0..n-1], where a[i] = i is
 *               an int64_t array written before the clock starts; answer
 *               n (n - 1) / 2.
 *   for_map(n)  a parallel loop: b[i] = pool_for_map_value(a[i]) into a
 *               second array, also written before the clock starts;
 *               answer b[0] + b[n / 2] + b[n - 1].
 * For the two loops, start() (untimed) allocates a (and b for for_map)
 * for the largest n and writes both (a[i] = i, b with a constant), so that
 * no page is first touched inside a timed run; a run uses their first n
 * elements (pool_loop_arrays below, for the C peers).
 *
 * A peer is a table of functions with C linkage, so C, C++ and the OpenMP
 * modules (built by two compilers and loaded with dlopen, since libgomp and
 * libomp cannot share a process) all fit it. The driver (main.c) runs
 * start, then run with a small warm-up size, then the timed run, then
 * stop, all in one forked child; it checks every answer.
 *
 * This header is also compiled as C++ (peer_tbb.cpp) and by clang for the
 * libomp module, so it uses only what both languages share.
 */
#ifndef SPOOL_BENCH_POOL_PEER_H
#define SPOOL_BENCH_POOL_PEER_H

#include <stdint.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

enum pool_bench {
	POOL_FIB,
	POOL_SKYNET,
	POOL_NQUEENS,
	POOL_SUBMIT,
	POOL_FOR_SUM,
	POOL_FOR_MAP,
	POOL_NBENCH
};

/* Room for an error message; equal to SPOOL_BENCH_ERRLEN (checked in
 * main.c) so a peer can write straight into the harness's buffer. */
#define POOL_ERRLEN 256

/* The largest board nqueens accepts (columns are bits of a uint32_t). */
#define POOL_NQUEENS_MAX 16

struct pool_peer {
	const char *impl; /* as in the JSON lines: "tbb", "libgomp", ... */
	/* Why this peer does not run bench b (a static string), or NULL. */
	const char *(*cannot)(enum pool_bench b);
	/* Starts `threads` workers for bench b, ready for runs of size up to
	 * n, and returns its state in *state. Returns 0, or nonzero with a
	 * message in err. */
	int (*start)(int threads, enum pool_bench b, int64_t n, void **state,
		     char *err);
	/* One run of bench b at size n: sets *answer. Returns 0, or nonzero
	 * with a message in err (a failure of the runtime; a wrong answer is
	 * the driver's to find). */
	int (*run)(void *state, enum pool_bench b, int64_t n, int64_t *answer,
		   char *err);
	/* Stops the workers and frees state. */
	void (*stop)(void *state);
};

/* The name of the entry point an OpenMP module exports:
 *     const struct pool_peer *pool_peer_module(void);  */
#define POOL_PEER_MODULE_ENTRY "pool_peer_module"
typedef const struct pool_peer *(*pool_peer_module_fn)(void);

/* ---- shared pieces of the workloads ------------------------------------- */

/* A skynet node: the leaves under it are num, num + 1, ..., num + size - 1.
 * Its children are the ten tenths of that range. */
struct pool_skynet {
	int64_t num, size;
};

static inline struct pool_skynet pool_skynet_child(struct pool_skynet s, int i)
{
	struct pool_skynet c;

	c.size = s.size / 10;
	c.num = s.num + i * c.size;
	return c;
}

/* An nqueens node: queens are placed in rows 0 .. row-1; cols has a bit
 * per column taken, d1 and d2 per diagonal (already shifted to row). */
struct pool_nqueens {
	int n, row;
	uint32_t cols, d1, d2;
};

/* The columns still safe in s's row. */
static inline uint32_t pool_nqueens_free(struct pool_nqueens s)
{
	return ~(s.cols | s.d1 | s.d2) & ((UINT32_C(1) << s.n) - 1);
}

/* s with a queen put in its row on column bit (one bit of the free set). */
static inline struct pool_nqueens pool_nqueens_place(struct pool_nqueens s,
						     uint32_t bit)
{
	struct pool_nqueens c;

	c.n = s.n;
	c.row = s.row + 1;
	c.cols = s.cols | bit;
	c.d1 = (s.d1 | bit) << 1;
	c.d2 = (s.d2 | bit) >> 1;
	return c;
}

static inline struct pool_nqueens pool_nqueens_root(int n)
{
	struct pool_nqueens s;

	s.n = n;
	s.row = 0;
	s.cols = s.d1 = s.d2 = 0;
	return s;
}

/* for_map's element function: a multiply and a modulo, so the loop is
 * neither free nor memory-bound only. */
static inline int64_t pool_for_map_value(int64_t x)
{
	return x * x % 1000003;
}

/* ---- the loops' arrays, for the C peers ------------------------------------
 */

/* The arrays of for_sum and for_map (b only for for_map). */
struct pool_loop_arrays {
	int64_t *a, *b;
	int64_t n;
};

/* Allocates and writes the arrays for bench b and sizes up to n (the
 * untimed part of start, as described at the top). Returns 0, or -1 when
 * out of memory (nothing left allocated). */
static inline int pool_loop_arrays_new(struct pool_loop_arrays *arr,
				       enum pool_bench b, int64_t n)
{
	arr->n = n;
	arr->a = (int64_t *)malloc((size_t)n * sizeof(int64_t));
	arr->b = 0;
	if (!arr->a)
		return -1;
	for (int64_t i = 0; i < n; i++)
		arr->a[i] = i;
	if (b == POOL_FOR_MAP) {
		arr->b = (int64_t *)malloc((size_t)n * sizeof(int64_t));
		if (!arr->b) {
			free(arr->a);
			arr->a = 0;
			return -1;
		}
		for (int64_t i = 0; i < n; i++)
			arr->b[i] = -1;
	}
	return 0;
}

static inline void pool_loop_arrays_free(struct pool_loop_arrays *arr)
{
	free(arr->a);
	free(arr->b);
	arr->a = arr->b = 0;
}

/* for_map's answer from the b of a run of size n (n >= 1). */
static inline int64_t pool_loop_map_answer(const int64_t *b, int64_t n)
{
	return b[0] + b[n / 2] + b[n - 1];
}

/* What OpenMP cannot run, for the modules and for the driver (which never
 * loads a module into its own process). */
static inline const char *pool_omp_cannot(enum pool_bench b)
{
	if (b == POOL_SUBMIT)
		return "OpenMP tasks are created by a thread of the team; no "
		       "thread outside it can submit";
	return 0;
}

/* The peers linked into the driver (each exists only if its dependency was
 * found at configure time; see CMakeLists.txt). */
extern const struct pool_peer pool_peer_sequential;
extern const struct pool_peer pool_peer_spool;
extern const struct pool_peer pool_peer_spool_join;
extern const struct pool_peer pool_peer_tbb;
extern const struct pool_peer pool_peer_gthreadpool;
extern const struct pool_peer pool_peer_mutexpool;
/* Not a pool: the lower bound two targets are read against (peer_floor.c). */
extern const struct pool_peer pool_peer_floor;
/* Programs driven over a pipe (peer_ext.c, compare/peers/); always linked,
 * each says why when its program is not built. */
extern const struct pool_peer pool_peer_rayon;
extern const struct pool_peer pool_peer_tokio;
extern const struct pool_peer pool_peer_go;

#ifdef __cplusplus
}
#endif

#endif /* SPOOL_BENCH_POOL_PEER_H */
