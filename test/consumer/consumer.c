/* SPDX-License-Identifier: MIT */
/*
 * A program built against an installed spool, the way a user builds one:
 * <spool.h> from the install prefix, linked through find_package(spool) or
 * pkg-config. It completes a promise from another thread, waits for it, and
 * checks that the library it runs with is the version its header names.
 * Prints "spool <version>: ok" and exits 0 when all of that holds.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spool.h>

static int answer = 42;

static void *complete(void *arg)
{
	spool_future *f = arg;
	int err = spool_promise_set_result(f, &answer);
	spool_future_release(f);
	return err == 0 ? NULL : (void *)f;
}

int main(void)
{
	if (spool_version() != SPOOL_VERSION_HEX ||
	    strcmp(spool_version_string(), SPOOL_VERSION_STRING) != 0) {
		fprintf(stderr, "header says %s, library says %s (0x%06x)\n",
			SPOOL_VERSION_STRING, spool_version_string(),
			spool_version());
		return EXIT_FAILURE;
	}

	spool_future *f = spool_promise_new();
	if (!f)
		return EXIT_FAILURE;
	pthread_t t;
	if (pthread_create(&t, NULL, complete, spool_future_retain(f)) != 0)
		return EXIT_FAILURE;
	void *value = NULL;
	int err = spool_future_result(f, 10 * SPOOL_NS_PER_S, &value);
	void *thread_status;
	pthread_join(t, &thread_status);
	spool_future_release(f);
	if (err != 0 || value != &answer || thread_status != NULL) {
		fprintf(stderr, "promise: %s (%s), value %p\n",
			spool_err_name(err), spool_strerror(err), value);
		return EXIT_FAILURE;
	}
	printf("spool %s: ok\n", spool_version_string());
	return EXIT_SUCCESS;
}
