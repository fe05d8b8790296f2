/* SPDX-License-Identifier: MIT */
/*
 * A promise completed from another thread.
 *
 * The main thread makes a promise (a future it completes by hand), hands it
 * to a worker thread, and waits for it. The worker does some work and sets
 * the result; the wait in main returns as soon as it does. This is how any
 * asynchronous API (a socket, a library callback) becomes a spool future
 * that can be waited on and combined with every other kind.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <spool.h>

struct job {
	spool_future *promise; /* the worker's own reference */
	long n;                /* input */
	long sum;              /* output, read once the promise is done */
};

static void *worker(void *arg)
{
	struct job *job = arg;

	job->sum = 0;
	for (long i = 1; i <= job->n; i++)
		job->sum += i;
	/* Completing publishes job->sum: a thread that sees the future done
	 * also sees everything written before this call. */
	spool_promise_set_result(job->promise, &job->sum);
	spool_future_release(job->promise);
	return NULL;
}

int main(void)
{
	spool_future *f = spool_promise_new();
	if (!f)
		return EXIT_FAILURE;

	struct job job = {.promise = spool_future_retain(f), .n = 1000};
	pthread_t t;
	if (pthread_create(&t, NULL, worker, &job) != 0)
		return EXIT_FAILURE;

	/* Blocks this thread until the worker completes f. */
	void *value;
	int err = spool_future_result(f, SPOOL_FOREVER, &value);
	if (err != 0) {
		fprintf(stderr, "promise failed: %s\n", spool_strerror(err));
		return EXIT_FAILURE;
	}
	printf("sum of 1..%ld computed on another thread: %ld\n", job.n,
	       *(long *)value);

	pthread_join(t, NULL);
	spool_future_release(f);
	return *(long *)value == job.n * (job.n + 1) / 2 ? EXIT_SUCCESS
							 : EXIT_FAILURE;
}
