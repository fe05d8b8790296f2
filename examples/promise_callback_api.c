/* SPDX-License-Identifier: MIT */
/*
 * A promise wrapping a callback API.
 *
 * Many C libraries report completion through a callback, called on a
 * thread of their own: a DNS resolver, a database client, a device SDK.
 * fake_lookup_async() below is such an API: it queues a request for its
 * own worker thread, which "looks the key up" (it sleeps a few
 * milliseconds) and then calls the caller's function with a status and a
 * value. lookup() turns it into a spool future: it makes a promise, hands
 * it to the API as the callback's user data, and the callback completes
 * it (asyncio's loop.create_future() + call_soon_threadsafe(fut.set_result)
 * does the same job in Python). From then on it is a future like any
 * other: a loop coroutine awaits it (suspending, not blocking), gathers
 * several, or puts a timeout on one with spool_wait_for(), which cancels
 * the promise; the API's late callback then finds it final and its
 * set_result changes nothing.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <spool.h>

/* ---- the callback API (stands for any third-party library) ------------- */

typedef void (*fake_done_fn)(void *user, int status, const char *value);

struct fake_request {
	struct fake_request *next;
	char key[32];
	int delay_ms;
	fake_done_fn done;
	void *user;
};

struct fake_api {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct fake_request *head, **tail;
	struct fake_request *stalled; /* answered only when closing */
	bool closing;
	pthread_t thread;
};

#define FAKE_NOT_FOUND 2

static const char *fake_table(const char *key)
{
	static const char *const pairs[][2] = {{"alpha", "1.1.1.1"},
					       {"beta", "2.2.2.2"},
					       {"gamma", "3.3.3.3"}};
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
		if (strcmp(pairs[i][0], key) == 0)
			return pairs[i][1];
	return NULL;
}

static void *fake_worker(void *arg)
{
	struct fake_api *api = arg;
	pthread_mutex_lock(&api->mu);
	for (;;) {
		while (!api->head && !api->closing)
			pthread_cond_wait(&api->cond, &api->mu);
		struct fake_request *r = api->head;
		if (!r && api->stalled) {
			r = api->stalled; /* closing: answer them now */
			api->stalled = r->next;
			r->delay_ms = 0;
		} else if (!r) {
			break; /* closing, and nothing left */
		} else {
			api->head = r->next;
			if (!api->head)
				api->tail = &api->head;
			if (r->delay_ms < 0 && !api->closing) {
				r->next = api->stalled;
				api->stalled = r;
				continue;
			}
		}
		pthread_mutex_unlock(&api->mu);
		struct timespec d = {
			0, (long)(r->delay_ms > 0 ? r->delay_ms : 0) * 1000000};
		nanosleep(&d, NULL);
		const char *v = fake_table(r->key);
		r->done(r->user, v ? 0 : FAKE_NOT_FOUND, v);
		free(r);
		pthread_mutex_lock(&api->mu);
	}
	pthread_mutex_unlock(&api->mu);
	return NULL;
}

static int fake_open(struct fake_api *api)
{
	pthread_mutex_init(&api->mu, NULL);
	pthread_cond_init(&api->cond, NULL);
	api->head = api->stalled = NULL;
	api->tail = &api->head;
	api->closing = false;
	return pthread_create(&api->thread, NULL, fake_worker, api);
}

/* Answers every queued request, then stops the API's thread. */
static void fake_close(struct fake_api *api)
{
	pthread_mutex_lock(&api->mu);
	api->closing = true;
	pthread_cond_signal(&api->cond);
	pthread_mutex_unlock(&api->mu);
	pthread_join(api->thread, NULL);
	pthread_mutex_destroy(&api->mu);
	pthread_cond_destroy(&api->cond);
}

/* Queues a lookup; done(user, status, value) is called later on the API's
 * thread, after delay_ms, or, for a negative delay_ms, only when the API
 * is closed (a server that never answers in time). Returns 0 or -1. */
static int fake_lookup_async(struct fake_api *api, const char *key,
			     int delay_ms, fake_done_fn done, void *user)
{
	struct fake_request *r = calloc(1, sizeof(*r));
	if (!r)
		return -1;
	snprintf(r->key, sizeof(r->key), "%s", key);
	r->delay_ms = delay_ms;
	r->done = done;
	r->user = user;
	pthread_mutex_lock(&api->mu);
	*api->tail = r;
	api->tail = &r->next;
	pthread_cond_signal(&api->cond);
	pthread_mutex_unlock(&api->mu);
	return 0;
}

/* ---- the adapter: callback API -> spool future --------------------------- */

/* Runs on the API's thread. The promise carries a reference of its own
 * for the API (taken in lookup()), dropped here. If the promise was
 * cancelled meanwhile (a timeout), set_result/set_error return
 * SPOOL_ESTATE and change nothing. */
static void on_lookup_done(void *user, int status, const char *value)
{
	spool_future *promise = user;
	if (status == 0)
		spool_promise_set_result(promise, (void *)value);
	else
		spool_promise_set_error(promise, status);
	spool_future_release(promise);
}

/* A future for the lookup of key: DONE with the value (a static string),
 * FAILED with FAKE_NOT_FOUND. Returns a new reference, or NULL. */
static spool_future *lookup(struct fake_api *api, const char *key, int delay_ms)
{
	spool_future *promise = spool_promise_new();
	if (!promise)
		return NULL;
	spool_future_retain(promise); /* the API's reference */
	if (fake_lookup_async(api, key, delay_ms, on_lookup_done, promise)) {
		spool_promise_set_error(promise, SPOOL_ENOMEM);
		spool_future_release(promise); /* the API never got it */
	}
	return promise;
}

/* ---- using it from a loop coroutine -------------------------------------- */

static int failures;

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "FAILED: %s\n", what);
		failures++;
	}
}

static int main_coro(void *arg, void **result)
{
	struct fake_api *api = arg;
	void *v = NULL;

	/* One lookup, awaited: the coroutine suspends until the API's
	 * thread completes the promise. */
	spool_future *f = lookup(api, "alpha", 2);
	int err = spool_future_result(f, SPOOL_FOREVER, &v);
	printf("lookup alpha:            %s\n",
	       err ? spool_err_name(err) : (const char *)v);
	check(err == 0 && strcmp(v, "1.1.1.1") == 0, "alpha");
	spool_future_release(f);

	/* Three at once, joined with a gather: values in input order. */
	const char *keys[3] = {"gamma", "alpha", "beta"};
	spool_future *fs[3];
	for (int i = 0; i < 3; i++)
		fs[i] = lookup(api, keys[i], 3 - i);
	spool_future *all = spool_gather(fs, 3, 0);
	err = spool_future_wait(all, SPOOL_FOREVER);
	printf("gather gamma alpha beta:");
	for (size_t i = 0; i < 3; i++) {
		spool_gather_result(all, i, &v);
		printf(" %s", v ? (const char *)v : "?");
	}
	printf("\n");
	check(err == 0 && spool_future_state(all) == SPOOL_DONE, "gather");
	spool_gather_result(all, 0, &v);
	check(v && strcmp(v, "3.3.3.3") == 0, "gather order");
	spool_future_release(all);
	for (int i = 0; i < 3; i++)
		spool_future_release(fs[i]);

	/* A key the API does not know: the error comes through. */
	f = lookup(api, "delta", 1);
	err = spool_future_result(f, SPOOL_FOREVER, NULL);
	printf("lookup delta:            error %d (not found)\n", err);
	check(err == FAKE_NOT_FOUND, "delta fails");
	spool_future_release(f);

	/* A timeout: wait_for cancels the promise; the API answers later
	 * (when it is closed) and its set_result is ignored. */
	f = lookup(api, "beta", -1);
	err = spool_wait_for(f, 5 * SPOOL_NS_PER_MS, NULL);
	printf("lookup beta, 5 ms limit: %s, promise %s\n", spool_err_name(err),
	       spool_future_state(f) == SPOOL_CANCELLED ? "CANCELLED" : "?");
	check(err == SPOOL_ETIMEDOUT &&
		      spool_future_state(f) == SPOOL_CANCELLED,
	      "timeout");
	spool_future_release(f); /* the API still holds its own reference */
	(void)result;
	return 0;
}

int main(void)
{
	struct fake_api api;
	if (fake_open(&api) != 0)
		return EXIT_FAILURE;
	long live0 = spool_debug_live_futures();
	spool_loop *loop;
	if (spool_loop_create(&loop, NULL) != 0)
		return EXIT_FAILURE;
	spool_future *m = spool_submit(spool_loop_executor(loop), main_coro,
				       &api);
	check(spool_loop_run_until_complete(loop, m) == 0, "main coroutine");
	spool_future_release(m);
	spool_loop_destroy(loop);
	fake_close(&api); /* answers the late lookup: its promise goes */
	check(spool_debug_live_futures() == live0, "every promise freed");
	return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
