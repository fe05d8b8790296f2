/* SPDX-License-Identifier: MIT */
/*
 * Not a test: the measurement behind the choice of injection queue
 * (src/pool/inject.h). One producer pushes 1,000,000 items while two
 * consumers take them, through spool's queue, Concurrency Kit's
 * ck_fifo_mpmc (entries preallocated and never reused, its best case) and a
 * mutex-protected list; 9 interleaved runs each, median and minimum.
 *
 *   gcc -O2 -std=gnu11 -Isrc -Iinclude test/pool_inject_bench.c \
 *       -o /tmp/pool_inject_bench -lck -lpthread && /tmp/pool_inject_bench
 */
#include <ck_fifo.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "pool/inject.h"
#include <stdatomic.h>
#define N 1000000
#define CONS 2
static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}
struct item {
	struct spool__inject_node node;
	struct ck_fifo_mpmc_entry e;
	struct item *mnext;
	long v;
};
static struct item *items;
static atomic_long consumed, sum;
static int mode;
static struct spool__inject q;
static struct ck_fifo_mpmc fifo;
static struct ck_fifo_mpmc_entry stub;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct item *mh, *mt;
static void *producer(void *a)
{
	(void)a;
	for (long i = 0; i < N; i++) {
		struct item *it = &items[i];
		if (mode == 0)
			spool__inject_push(&q, &it->node);
		else if (mode == 1)
			ck_fifo_mpmc_enqueue(&fifo, &it->e, it);
		else {
			it->mnext = NULL;
			pthread_mutex_lock(&mu);
			if (mt)
				mt->mnext = it;
			else
				mh = it;
			mt = it;
			pthread_mutex_unlock(&mu);
		}
	}
	return NULL;
}
static void *consumer(void *a)
{
	(void)a;
	long s = 0, c = 0;
	while (atomic_load_explicit(&consumed, memory_order_relaxed) < N) {
		struct item *it = NULL;
		if (mode == 0) {
			struct spool__inject_node *n;
			if (spool__inject_pop(&q, &n) == SPOOL__INJECT_ITEM)
				it = (struct item *)n;
		} else if (mode == 1) {
			struct ck_fifo_mpmc_entry *g;
			void *v;
			if (ck_fifo_mpmc_dequeue(&fifo, &v, &g))
				it = v;
		} else {
			pthread_mutex_lock(&mu);
			it = mh;
			if (it) {
				mh = it->mnext;
				if (!mh)
					mt = NULL;
			}
			pthread_mutex_unlock(&mu);
		}
		if (it) {
			s += it->v;
			atomic_fetch_add_explicit(&consumed, 1,
						  memory_order_relaxed);
		} else
			sched_yield();
	}
	atomic_fetch_add(&sum, s);
	return NULL;
}
static double run(int m)
{
	mode = m;
	memset(items, 0, N * sizeof *items);
	for (long i = 0; i < N; i++)
		items[i].v = i;
	spool__inject_init(&q);
	ck_fifo_mpmc_init(&fifo, &stub);
	mh = mt = NULL;
	atomic_store(&consumed, 0);
	atomic_store(&sum, 0);
	pthread_t p, c[CONS];
	double t = now();
	for (int i = 0; i < CONS; i++)
		pthread_create(&c[i], NULL, consumer, NULL);
	pthread_create(&p, NULL, producer, NULL);
	pthread_join(p, NULL);
	for (int i = 0; i < CONS; i++)
		pthread_join(c[i], NULL);
	t = now() - t;
	if (atomic_load(&sum) != (long)N * (N - 1) / 2) {
		fprintf(stderr, "bad sum mode %d\n", m);
		exit(1);
	}
	return t;
}
static int cmp(const void *a, const void *b)
{
	double x = *(double *)a, y = *(double *)b;
	return x < y ? -1 : x > y;
}
int main(void)
{
	items = aligned_alloc(64, N * sizeof *items);
	double r[3][9];
	for (int k = 0; k < 9; k++)
		for (int m = 0; m < 3; m++)
			r[m][k] = run(m);
	const char *nm[3] = {"spool__inject (Vyukov MPSC + consumer try-lock)",
			     "ck_fifo_mpmc (entries preallocated)",
			     "mutex + list"};
	for (int m = 0; m < 3; m++) {
		qsort(r[m], 9, sizeof(double), cmp);
		printf("%-50s median %.3f s  min %.3f s\n", nm[m], r[m][4],
		       r[m][0]);
	}
}
