/* SPDX-License-Identifier: MIT */
/*
 * Tutorial 1: a future and a promise (docs/tutorial/1-future.md).
 *
 * A promise is a future that the program completes by hand. This program
 * makes three: one completed with a value, with a done-callback that
 * records the value; one completed with a task error (a positive code of
 * our choosing, the C form of an exception); and one cancelled while still
 * PENDING. It prints each outcome and checks it, exiting non-zero if any is
 * not what the page says.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spool.h>

#define ERR_NOT_FOUND 404 /* a task error: any positive code */

static int failures;

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "FAILED: %s\n", what);
		failures++;
	}
}

/* A done-callback: runs once, when the future completes (here in the
 * thread that completes it, since that is the only thread). */
static void on_done(spool_future *f, void *arg)
{
	int *seen = arg;
	*seen = *(int *)spool_future_value(f);
}

/* A task that fails as `raise KeyError(key)` does: a code and a message. */
static int lookup(void *arg, void **result)
{
	(void)result;
	return spool_fail(ERR_NOT_FOUND, "KeyError: '%s'", (const char *)arg);
}

int main(void)
{
	static int answer = 42;
	int seen = 0;
	void *value;

	/* 1. A promise completed with a value. */
	spool_future *f = spool_promise_new();
	if (!f)
		return EXIT_FAILURE;
	check(spool_future_state(f) == SPOOL_PENDING, "new promise PENDING");
	check(spool_future_add_callback(f, on_done, &seen) == 0, "callback");
	check(spool_future_result(f, 0, &value) == SPOOL_ETIMEDOUT,
	      "a timeout of 0 only polls");
	spool_promise_set_result(f, &answer); /* runs on_done, wakes waiters */
	int err = spool_future_result(f, SPOOL_FOREVER, &value);
	printf("value: err=%s value=%d callback saw %d\n", spool_err_name(err),
	       *(int *)value, seen);
	check(err == 0 && *(int *)value == 42 && seen == 42, "value");
	check(spool_promise_set_result(f, &answer) == SPOOL_ESTATE,
	      "completes exactly once");
	spool_future_release(f);

	/* 2. A promise completed with a task error. */
	spool_future *g = spool_promise_new();
	if (!g)
		return EXIT_FAILURE;
	spool_promise_set_error(g, ERR_NOT_FOUND);
	err = spool_future_result(g, SPOOL_FOREVER, &value);
	printf("error: state=%d err=%d (%s)\n", (int)spool_future_state(g), err,
	       spool_err_name(err));
	check(spool_future_state(g) == SPOOL_FAILED && err == ERR_NOT_FOUND &&
		      value == NULL,
	      "error");
	spool_future_release(g);

	/* 2b. A failure with a message (spool/fail.h), read on its future. */
	spool_future *d = spool_submit(spool_executor_inline(), lookup, "k");
	if (!d)
		return EXIT_FAILURE;
	const char *msg = spool_future_error_message(d);
	printf("detail: err=%d message=\"%s\"\n", spool_future_error(d),
	       msg ? msg : "(none)");
	check(spool_future_error(d) == ERR_NOT_FOUND && msg &&
		      strcmp(msg, "KeyError: 'k'") == 0,
	      "detail");
	spool_future_release(d);

	/* 3. Cancelling a PENDING future ends it at once. */
	spool_future *h = spool_promise_new();
	if (!h)
		return EXIT_FAILURE;
	check(spool_future_cancel(h) == 0, "cancel returns 0");
	err = spool_future_result(h, SPOOL_FOREVER, NULL);
	printf("cancelled: err=%s\n", spool_err_name(err));
	check(spool_future_state(h) == SPOOL_CANCELLED &&
		      err == SPOOL_ECANCELLED,
	      "cancelled");
	spool_future_release(h);

	return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
