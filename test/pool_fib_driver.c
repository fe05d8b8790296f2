/* SPDX-License-Identifier: MIT */
/*
 * Not a test: the small driver used to profile the pool (perf record,
 * perf stat, valgrind --tool=callgrind). Three rounds of either fib(n) with
 * one task per call, or n tiny tasks submitted from outside and then
 * joined, on a pool of w workers; stats on stderr.
 *
 *   cmake -S . -B build/pool-rel -DCMAKE_BUILD_TYPE=Release \
 *         -DSPOOL_BUILD_TESTS=OFF && cmake --build build/pool-rel
 *   gcc -O2 -Iinclude test/pool_fib_driver.c -o /tmp/pool_fib_driver \
 *       -Lbuild/pool-rel -lspool -Wl,-rpath,$PWD/build/pool-rel
 *   /tmp/pool_fib_driver fib 1 30       # fib(30) on 1 worker
 *   /tmp/pool_fib_driver submit 2 1000000
 *   /tmp/pool_fib_driver seq 0 30       # plain recursion, for scale
 */
#include <spool.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
static spool_executor *ex;
static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}
static int fib_task(void *arg, void **result)
{
	intptr_t n = (intptr_t)arg;
	if (n < 2) {
		*result = (void *)n;
		return 0;
	}
	spool_future *a = spool_submit(ex, fib_task, (void *)(n - 1));
	spool_future *b = spool_submit(ex, fib_task, (void *)(n - 2));
	void *va, *vb;
	spool_future_result(a, SPOOL_FOREVER, &va);
	spool_future_result(b, SPOOL_FOREVER, &vb);
	spool_future_release(a);
	spool_future_release(b);
	*result = (void *)((intptr_t)va + (intptr_t)vb);
	return 0;
}
static long fib_seq(long n)
{
	return n < 2 ? n : fib_seq(n - 1) + fib_seq(n - 2);
}
static int tiny(void *arg, void **r)
{
	(void)arg;
	*r = NULL;
	return 0;
}
int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "fib";
	int w = argc > 2 ? atoi(argv[2]) : 2;
	int n = argc > 3 ? atoi(argv[3]) : 32;
	if (!strcmp(mode, "seq")) {
		double t = now();
		long v = fib_seq(n);
		printf("seq fib(%d)=%ld %.3f s\n", n, v, now() - t);
		return 0;
	}
	spool_pool *p;
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = w;
	spool_pool_create(&p, &o);
	ex = spool_pool_executor(p);
	for (int rep = 0; rep < 3; rep++) {
		double t = now();
		if (!strcmp(mode, "fib")) {
			spool_future *f = spool_submit(ex, fib_task,
						       (void *)(intptr_t)n);
			void *v;
			spool_future_result(f, SPOOL_FOREVER, &v);
			spool_future_release(f);
			printf("fib(%d)=%ld workers=%d %.3f s\n", n,
			       (long)(intptr_t)v, w, now() - t);
		} else {
			long N = n;
			spool_future **fs = malloc(N * sizeof *fs);
			for (long i = 0; i < N; i++)
				fs[i] = spool_submit(ex, tiny, NULL);
			double t1 = now();
			for (long i = 0; i < N; i++) {
				spool_future_wait(fs[i], SPOOL_FOREVER);
				spool_future_release(fs[i]);
			}
			printf("submit %ld workers=%d submit %.3f total %.3f s "
			       "(%.2f M/s)\n",
			       N, w, t1 - t, now() - t, N / (now() - t) / 1e6);
			free(fs);
		}
	}
	spool_pool_stats st;
	spool_pool_stats_get(p, &st);
	fprintf(stderr, "run=%lu steals=%lu failed=%lu parks=%lu wakeups=%lu\n",
		st.tasks_run, st.steals, st.failed_steals, st.parks,
		st.wakeups);
	spool_pool_destroy(p);
}
