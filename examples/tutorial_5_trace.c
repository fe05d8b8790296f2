/* SPDX-License-Identifier: MIT */
/*
 * Tutorial 5: tracing (docs/tutorial/5-trace.md).
 *
 * Records a trace of a small fork-join computation (fib(12), one labelled
 * task per call) on a two-worker pool, plus a loop coroutine that sleeps
 * and then awaits the pool's result, with spool_trace_start() and
 * spool_trace_stop(). The file goes to the path given as the first
 * argument, or to a temporary file that is removed at the end. The program
 * checks what the session recorded: no event dropped, at least two tracks
 * (the main thread, which runs the loop, and a worker), and the names in
 * the file.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <spool.h>

static spool_executor *pool_ex;

static int fib_task(void *arg, void **result)
{
	intptr_t n = (intptr_t)arg;
	if (n < 2) {
		*result = (void *)n;
		return 0;
	}
	spool_future *child = spool_submit_labeled(pool_ex, fib_task,
						   (void *)(n - 1), "fib");
	void *a = NULL, *b = NULL;
	int err = fib_task((void *)(n - 2), &a);
	int cerr = spool_future_result(child, SPOOL_FOREVER, &b);
	spool_future_release(child);
	if (err || cerr)
		return err ? err : cerr;
	*result = (void *)((intptr_t)a + (intptr_t)b);
	return 0;
}

/* A coroutine that naps, then awaits fib(12) computed on the pool. */
static int coro(void *arg, void **result)
{
	(void)arg;
	spool_sleep(2 * SPOOL_NS_PER_MS);
	spool_future *f = spool_submit_labeled(pool_ex, fib_task, (void *)12,
					       "fib root");
	int err = spool_future_result(f, SPOOL_FOREVER, result);
	spool_future_release(f);
	return err;
}

static int file_has(const char *path, const char *needle)
{
	FILE *fp = fopen(path, "r");
	if (!fp)
		return 0;
	static char buf[1 << 22];
	size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

int main(int argc, char **argv)
{
	char tmp[] = "/tmp/spool-tutorial-trace-XXXXXX";
	const char *path = argc > 1 ? argv[1] : tmp;
	if (argc <= 1) {
		int fd = mkstemp(tmp);
		if (fd < 0)
			return EXIT_FAILURE;
		close(fd);
	}

	spool_trace_stop(); /* in case SPOOL_TRACE started a session */
	if (spool_trace_start(path) != 0)
		return EXIT_FAILURE;
	spool_trace_thread_name("main");

	spool_pool_options po = SPOOL_POOL_OPTIONS_INIT;
	po.workers = 2;
	spool_pool *pool;
	spool_loop *loop;
	if (spool_pool_create(&pool, &po) || spool_loop_create(&loop, NULL))
		return EXIT_FAILURE;
	pool_ex = spool_pool_executor(pool);
	spool_future *f = spool_submit_labeled(spool_loop_executor(loop), coro,
					       NULL, "coro");
	int err = spool_loop_run_until_complete(loop, f);
	void *v = spool_future_value(f);
	spool_future_release(f);
	spool_loop_destroy(loop);
	spool_pool_destroy(pool);

	int serr = spool_trace_stop();
	spool_trace_stats st;
	spool_trace_stats_get(&st);
	printf("fib(12) = %ld; trace: %s events dropped\n", (long)(intptr_t)v,
	       st.dropped ? "some" : "no");
	int ok = err == 0 && serr == 0 && (intptr_t)v == 144 &&
		 st.dropped == 0 && st.threads >= 2 && st.events > 0 &&
		 file_has(path, "\"worker ") && file_has(path, "\"loop\"") &&
		 file_has(path, "\"fib root\"");
	fprintf(stderr, "%llu events from %u threads in %s\n",
		(unsigned long long)st.events, st.threads, path);
	if (argc <= 1)
		unlink(tmp);
	return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
