/* SPDX-License-Identifier: MIT */
/*
 * CPU-bound work handed from a loop coroutine to a pool
 * (asyncio's loop.run_in_executor).
 *
 * A coroutine that computes would hold the loop's only thread: no other
 * coroutine, timer or socket would be served until it returned. Instead
 * the main coroutine hands four chunks of a prime count to a two-worker
 * pool with spool_loop_run_in_executor() and awaits them with a gather,
 * which suspends it; meanwhile a heartbeat coroutine keeps ticking on the
 * loop. The futures run_in_executor returns are completed on the loop's
 * thread, so a done-callback registered from the loop runs there too,
 * whichever worker did the work: the program checks that, and the count.
 * The number of heartbeats depends on the machine; it is printed, not
 * checked.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <spool.h>

#define LIMIT 400000
#define CHUNKS 4
#define PRIMES_BELOW_LIMIT 33860 /* pi(400000) */

static pthread_t loop_thread;
static atomic_int callbacks_on_loop, callbacks_elsewhere;
static atomic_bool work_done;

struct range {
	long from, to;
};

/* Runs on a pool worker: counts primes in [from, to) by trial
 * division. */
static int count_primes(void *arg, void **result)
{
	const struct range *r = arg;
	intptr_t count = 0;
	for (long n = r->from < 2 ? 2 : r->from; n < r->to; n++) {
		bool prime = true;
		for (long d = 2; d * d <= n && prime; d++)
			prime = n % d != 0;
		count += prime;
	}
	*result = (void *)count;
	return 0;
}

static void on_chunk_done(spool_future *f, void *arg)
{
	(void)f;
	(void)arg;
	if (pthread_equal(pthread_self(), loop_thread))
		atomic_fetch_add(&callbacks_on_loop, 1);
	else
		atomic_fetch_add(&callbacks_elsewhere, 1);
}

static int heartbeat(void *arg, void **result)
{
	intptr_t beats = 0;
	while (!atomic_load(&work_done)) {
		int err = spool_sleep(SPOOL_NS_PER_MS);
		if (err)
			return err;
		beats++;
	}
	(void)arg;
	*result = (void *)beats;
	return 0;
}

static int main_coro(void *arg, void **result)
{
	spool_pool *pool = arg;
	spool_loop *loop = spool_loop_current();
	spool_future *beat = spool_submit(spool_loop_executor(loop), heartbeat,
					  NULL);
	static struct range ranges[CHUNKS];
	spool_future *chunks[CHUNKS];
	for (int i = 0; i < CHUNKS; i++) {
		ranges[i] = (struct range){(long)i * LIMIT / CHUNKS,
					   (long)(i + 1) * LIMIT / CHUNKS};
		chunks[i] = spool_loop_run_in_executor(
			loop, spool_pool_executor(pool), count_primes,
			&ranges[i]);
		spool_future_add_callback(chunks[i], on_chunk_done, NULL);
	}
	/* Suspends this coroutine only: the heartbeat goes on. */
	spool_future *all = spool_gather(chunks, CHUNKS, 0);
	int err = spool_future_wait(all, SPOOL_FOREVER);
	intptr_t total = 0;
	for (size_t i = 0; !err && i < CHUNKS; i++) {
		void *v = NULL;
		err = spool_gather_result(all, i, &v);
		total += (intptr_t)v;
	}
	atomic_store(&work_done, true);
	void *beats = NULL;
	spool_future_result(beat, SPOOL_FOREVER, &beats);
	printf("primes below %d: %ld (computed on the pool in %d chunks)\n",
	       LIMIT, (long)total, CHUNKS);
	printf("done-callbacks run on the loop's thread: %d of %d\n",
	       atomic_load(&callbacks_on_loop), CHUNKS);
	fprintf(stderr, "heartbeats while the pool computed: %ld\n",
		(long)(intptr_t)beats);
	spool_future_release(all);
	for (int i = 0; i < CHUNKS; i++)
		spool_future_release(chunks[i]);
	spool_future_release(beat);
	*result = (void *)total;
	return err;
}

int main(void)
{
	spool_pool_options po = SPOOL_POOL_OPTIONS_INIT;
	po.workers = 2;
	spool_pool *pool;
	spool_loop *loop;
	if (spool_pool_create(&pool, &po) != 0 ||
	    spool_loop_create(&loop, NULL) != 0)
		return EXIT_FAILURE;
	loop_thread = pthread_self(); /* this thread runs the loop */
	spool_future *m = spool_submit(spool_loop_executor(loop), main_coro,
				       pool);
	int err = spool_loop_run_until_complete(loop, m);
	intptr_t total = (intptr_t)spool_future_value(m);
	spool_future_release(m);
	spool_loop_destroy(loop);
	spool_pool_destroy(pool);
	return err == 0 && total == PRIMES_BELOW_LIMIT &&
			       atomic_load(&callbacks_on_loop) == CHUNKS &&
			       atomic_load(&callbacks_elsewhere) == 0
		       ? EXIT_SUCCESS
		       : EXIT_FAILURE;
}
