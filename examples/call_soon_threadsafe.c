/* SPDX-License-Identifier: MIT */
/*
 * Talking to a running loop from a thread of your own
 * (asyncio's call_soon_threadsafe and run_coroutine_threadsafe).
 *
 * A loop is not thread-safe: while it runs, only its own thread may touch
 * its state. A foreign thread (here a "sensor" that produces readings)
 * has exactly two doors: spool_loop_call_soon_threadsafe(), which queues a
 * callback and wakes the loop, and spool_submit() on the loop's executor,
 * which starts a coroutine there and hands back a future the foreign
 * thread may wait on (it blocks that thread, not the loop). The program
 * shows both, and that the plain spool_loop_call_soon() is refused from
 * the foreign thread (SPOOL_EINVAL: it would race with the loop). The
 * callbacks run on the loop's thread in the order they were posted, so
 * the loop-side state needs no lock. The last reading stops the loop.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <spool.h>

#define READINGS 100

struct reading {
	int seq;
	int value;
};

/* Loop-side state: touched only on the loop's thread. */
static pthread_t loop_thread;
static int received, in_order = 1, off_thread;
static long sum;

static int refused_call_soon; /* written by the sensor before it posts */

static void on_reading(spool_loop *loop, void *arg)
{
	struct reading *r = arg;
	if (!pthread_equal(pthread_self(), loop_thread))
		off_thread++;
	if (r->seq != received)
		in_order = 0;
	received++;
	sum += r->value;
	if (r->seq == READINGS - 1)
		spool_loop_stop(loop);
	free(r);
}

static void never_runs(spool_loop *loop, void *arg)
{
	(void)loop;
	(void)arg;
}

/* A coroutine the sensor starts on the loop: it may await, sleep or do
 * I/O there like any other. */
static int summary(void *arg, void **result)
{
	(void)arg;
	spool_sleep(SPOOL_NS_PER_MS);
	*result = (void *)(intptr_t)received;
	return 0;
}

static void *sensor(void *arg)
{
	spool_loop *loop = arg;
	/* The one-thread call, from the wrong thread: refused. */
	refused_call_soon = spool_loop_call_soon(loop, never_runs, NULL,
						 NULL) == SPOOL_EINVAL;

	/* A coroutine started from here; waiting for it blocks this
	 * thread only. */
	spool_future *f = spool_submit(spool_loop_executor(loop), summary,
				       NULL);
	void *seen = NULL;
	int err = spool_future_result(f, SPOOL_FOREVER, &seen);
	spool_future_release(f);
	printf("sensor: a coroutine it started on the loop saw %ld readings "
	       "(%s)\n",
	       (long)(intptr_t)seen, err ? spool_strerror(err) : "ok");

	for (int i = 0; i < READINGS; i++) {
		struct reading *r = malloc(sizeof(*r));
		if (!r)
			abort();
		*r = (struct reading){i, i * i % 97};
		if (spool_loop_call_soon_threadsafe(loop, on_reading, r) != 0)
			abort();
	}
	return NULL;
}

/* Starts the sensor from inside the loop, so that the loop is running
 * when the sensor's first call arrives. */
static void start_sensor(spool_loop *loop, void *arg)
{
	if (pthread_create(arg, NULL, sensor, loop) != 0)
		abort();
}

int main(void)
{
	spool_loop *loop;
	if (spool_loop_create(&loop, NULL) != 0)
		return EXIT_FAILURE;
	loop_thread = pthread_self();
	pthread_t t;
	spool_loop_call_soon(loop, start_sensor, &t, NULL);
	spool_loop_run(loop); /* until the last reading stops it */
	pthread_join(t, NULL);
	spool_loop_destroy(loop);

	long want = 0;
	for (int i = 0; i < READINGS; i++)
		want += i * i % 97;
	printf("loop: %d readings, %s, sum %ld, all on the loop's thread: "
	       "%s\n",
	       received, in_order ? "in the order posted" : "OUT OF ORDER", sum,
	       off_thread ? "no" : "yes");
	printf("spool_loop_call_soon from the sensor's thread: %s\n",
	       refused_call_soon ? "refused (SPOOL_EINVAL)" : "ACCEPTED");
	return received == READINGS && in_order && sum == want && !off_thread &&
			       refused_call_soon
		       ? EXIT_SUCCESS
		       : EXIT_FAILURE;
}
