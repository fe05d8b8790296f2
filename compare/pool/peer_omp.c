/* SPDX-License-Identifier: MIT */
/*
 * OpenMP tasks: one source, built twice into loadable modules, by GCC
 * against libgomp and by clang against LLVM's libomp (POOL_PEER_IMPL names
 * which). Both runtimes define the GOMP_* entry points, so they cannot
 * share a process: the driver dlopens one module per forked child.
 *
 * Each call is `#pragma omp task` for both children and `taskwait` (a
 * waiting thread runs other tasks, as spool's does), inside one
 * `parallel num_threads(threads)` + `single` region: the driver's thread is
 * one of the team. OpenMP has no way for a thread outside the team to
 * submit, so "submit" is not run. No omp.h: only pragmas, so the module
 * never calls a runtime entry point by a name the other runtime also has.
 */
#include <stdio.h>
#include <stdlib.h>

#include "peer.h"

#ifndef POOL_PEER_IMPL
#error "POOL_PEER_IMPL must name the runtime (libgomp or libomp)"
#endif

static int64_t fib(int n)
{
	int64_t a, b;

	if (n < 2)
		return n;
#pragma omp task shared(a)
	a = fib(n - 1);
#pragma omp task shared(b)
	b = fib(n - 2);
#pragma omp taskwait
	return a + b;
}

static int64_t skynet(struct pool_skynet s)
{
	int64_t part[10], sum = 0;

	if (s.size == 1)
		return s.num;
	for (int i = 0; i < 10; i++) {
#pragma omp task shared(part)
		part[i] = skynet(pool_skynet_child(s, i));
	}
#pragma omp taskwait
	for (int i = 0; i < 10; i++)
		sum += part[i];
	return sum;
}

static int64_t nqueens(struct pool_nqueens s)
{
	int64_t part[POOL_NQUEENS_MAX], sum = 0;
	uint32_t free = pool_nqueens_free(s);
	int k = 0;

	if (s.row == s.n)
		return 1;
	while (free) {
		uint32_t bit = free & -free;
		struct pool_nqueens c = pool_nqueens_place(s, bit);

		free ^= bit;
#pragma omp task shared(part)
		part[k] = nqueens(c);
		k++;
	}
#pragma omp taskwait
	for (int i = 0; i < k; i++)
		sum += part[i];
	return sum;
}

static const char *omp_cannot(enum pool_bench b)
{
	return pool_omp_cannot(b);
}

struct omp_state {
	int threads;
};

static int omp_start(int threads, enum pool_bench b, int64_t n, void **state,
		     char *err)
{
	struct omp_state *st = malloc(sizeof(*st));

	(void)b, (void)n;
	if (!st)
		return snprintf(err, POOL_ERRLEN, "out of memory"), -1;
	st->threads = threads;
	*state = st;
	return 0;
}

static int omp_run(void *state, enum pool_bench b, int64_t n, int64_t *answer,
		   char *err)
{
	struct omp_state *st = state;
	int64_t r = 0;

	if (b == POOL_SUBMIT)
		return snprintf(err, POOL_ERRLEN, "%s", omp_cannot(b)), -1;
#pragma omp parallel num_threads(st->threads)
#pragma omp single
	{
		if (b == POOL_FIB)
			r = fib((int)n);
		else if (b == POOL_SKYNET)
			r = skynet((struct pool_skynet){0, n});
		else
			r = nqueens(pool_nqueens_root((int)n));
	}
	*answer = r;
	return 0;
}

static void omp_stop(void *state)
{
	free(state);
}

static const struct pool_peer omp_peer = {
	POOL_PEER_IMPL, omp_cannot, omp_start, omp_run, omp_stop,
};

__attribute__((visibility("default"))) const struct pool_peer *
pool_peer_module(void);

const struct pool_peer *pool_peer_module(void)
{
	return &omp_peer;
}
