/* SPDX-License-Identifier: MIT */
/*
 * A traced program: spool's trace API writing a Chrome trace (JSON) that
 * ui.perfetto.dev or chrome://tracing opens as a timeline.
 *
 * The program records one trace with spool_trace_start_opts() and
 * spool_trace_stop() into a fresh temporary directory: a parallel sum on
 * a two-worker pool (spool_map) and three coroutines labelled "nap" on
 * the loop that sleep different times, each phase inside a slice of
 * the program's own (spool_trace_begin/end). The main thread runs the
 * loop, so its track is named "loop"; the workers' are "worker 0" and
 * "worker 1" (a worker that ran nothing has no track). The trace keeps
 * 16 Ki events per thread, plenty for this
 * run, so that starting it commits little memory (the default is 1 Mi
 * events). Then it checks the file: it exists, it is one
 * well-formed JSON object (a small reader below checks the grammar, not
 * the meaning), it has a "traceEvents" member, and it names the user
 * slices, the labels and the threads. It prints the recording's figures,
 * removes the file and the directory, and exits non-zero if anything is
 * missing. To keep the trace, give a path as the first argument.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <spool.h>

/* ---- the traced work ---------------------------------------------------- */

static int square(void *arg, void **result)
{
	intptr_t x = (intptr_t)arg;
	*result = (void *)(x * x);
	return 0;
}

static int napper(void *arg, void **result)
{
	int err = spool_sleep((intptr_t)arg * SPOOL_NS_PER_MS);
	*result = arg;
	return err;
}

static int run_loop_phase(void *arg, void **result)
{
	spool_executor *ex = arg;
	spool_future *naps[3];
	for (intptr_t i = 0; i < 3; i++)
		naps[i] = spool_submit_labeled(ex, napper, (void *)(3 - i),
					       "nap");
	spool_future *all = spool_gather(naps, 3, 0);
	int err = spool_future_wait(all, SPOOL_FOREVER);
	spool_future_release(all);
	for (int i = 0; i < 3; i++)
		spool_future_release(naps[i]);
	(void)result;
	return err;
}

static int traced_work(void)
{
	spool_pool_options po = SPOOL_POOL_OPTIONS_INIT;
	po.workers = 2;
	spool_pool *pool;
	spool_loop *loop;
	if (spool_pool_create(&pool, &po) != 0)
		return -1;
	if (spool_loop_create(&loop, NULL) != 0) {
		spool_pool_destroy(pool);
		return -1;
	}

	spool_trace_begin("phase: sum of squares on the pool");
	void *args[64];
	for (intptr_t i = 0; i < 64; i++)
		args[i] = (void *)i;
	spool_future *m = spool_map(spool_pool_executor(pool), square, args, 64,
				    8);
	intptr_t sum = 0;
	if (spool_future_wait(m, SPOOL_FOREVER) == 0)
		for (size_t i = 0; i < 64; i++) {
			void *v = NULL;
			spool_gather_result(m, i, &v);
			sum += (intptr_t)v;
		}
	spool_future_release(m);
	spool_trace_end();

	spool_trace_begin("phase: naps on the loop");
	spool_executor *ex = spool_loop_executor(loop);
	spool_future *f = spool_submit_labeled(ex, run_loop_phase, ex,
					       "loop phase");
	int err = spool_loop_run_until_complete(loop, f);
	spool_future_release(f);
	spool_trace_end();

	spool_loop_destroy(loop);
	spool_pool_destroy(pool);
	printf("sum of squares 0..63 = %ld; loop phase: %s\n", (long)sum,
	       spool_strerror(err));
	return sum == 85344 && err == 0 ? 0 : -1;
}

/* ---- a small JSON reader: checks the grammar (RFC 8259), nothing else --- */

struct reader {
	const char *p, *end;
	int depth;
};

static void skip_ws(struct reader *r)
{
	while (r->p < r->end && strchr(" \t\r\n", *r->p))
		r->p++;
}

static bool lit(struct reader *r, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
		return false;
	r->p += n;
	return true;
}

static bool string(struct reader *r)
{
	if (r->p >= r->end || *r->p != '"')
		return false;
	for (r->p++; r->p < r->end; r->p++) {
		unsigned char c = (unsigned char)*r->p;
		if (c == '"') {
			r->p++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c == '\\' && ++r->p >= r->end)
			return false;
	}
	return false;
}

static bool number(struct reader *r)
{
	const char *start = r->p;
	if (r->p < r->end && *r->p == '-')
		r->p++;
	while (r->p < r->end && strchr("0123456789.eE+-", *r->p))
		r->p++;
	return r->p > start && r->p[-1] >= '0' && r->p[-1] <= '9';
}

static bool value(struct reader *r);

static bool members(struct reader *r, char close, bool keyed)
{
	r->p++; /* the opening bracket */
	skip_ws(r);
	if (r->p < r->end && *r->p == close) {
		r->p++;
		return true;
	}
	for (;;) {
		skip_ws(r);
		if (keyed) {
			if (!string(r))
				return false;
			skip_ws(r);
			if (r->p >= r->end || *r->p++ != ':')
				return false;
		}
		if (!value(r))
			return false;
		skip_ws(r);
		if (r->p >= r->end)
			return false;
		if (*r->p == close) {
			r->p++;
			return true;
		}
		if (*r->p++ != ',')
			return false;
	}
}

static bool value(struct reader *r)
{
	skip_ws(r);
	if (r->p >= r->end || ++r->depth > 64)
		return false;
	bool ok;
	switch (*r->p) {
	case '{':
		ok = members(r, '}', true);
		break;
	case '[':
		ok = members(r, ']', false);
		break;
	case '"':
		ok = string(r);
		break;
	case 't':
		ok = lit(r, "true");
		break;
	case 'f':
		ok = lit(r, "false");
		break;
	case 'n':
		ok = lit(r, "null");
		break;
	default:
		ok = number(r);
	}
	r->depth--;
	return ok;
}

/* ---- checking the file -----------------------------------------------------
 */

static char *read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	char *buf = n > 0 ? malloc((size_t)n + 1) : NULL;
	if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(fp);
	if (buf) {
		buf[n] = '\0';
		*len = (size_t)n;
	}
	return buf;
}

static int check_file(const char *path)
{
	size_t len = 0;
	char *json = read_file(path, &len);
	if (!json) {
		fprintf(stderr, "FAILED: %s is missing or empty\n", path);
		return -1;
	}
	struct reader r = {json, json + len, 0};
	skip_ws(&r);
	bool object = r.p < r.end && *r.p == '{';
	bool parsed = object && value(&r);
	skip_ws(&r);
	parsed = parsed && r.p == r.end;
	static const char *const needles[] = {
		"\"traceEvents\"",
		"\"phase: sum of squares on the pool\"",
		"\"phase: naps on the loop\"",
		"\"nap\"",
		"\"loop phase\"",
		"\"loop\""};
	int missing = 0;
	for (size_t i = 0; i < sizeof(needles) / sizeof(needles[0]); i++)
		if (!strstr(json, needles[i])) {
			fprintf(stderr, "FAILED: the trace has no %s\n",
				needles[i]);
			missing++;
		}
	/* A track exists only for a thread that recorded something; on a
	 * busy machine one worker may run every task of the map, so one
	 * worker's track is what the trace must have. */
	if (!strstr(json, "\"worker 0\"") && !strstr(json, "\"worker 1\"")) {
		fprintf(stderr, "FAILED: the trace has no worker track\n");
		missing++;
	}
	printf("trace file: %zu bytes, %s\n", len,
	       parsed ? "one well-formed JSON object" : "NOT well-formed JSON");
	free(json);
	return parsed && !missing ? 0 : -1;
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/spool-trace-example-XXXXXX";
	char path[4096];
	bool keep = argc > 1;
	if (keep) {
		snprintf(path, sizeof(path), "%.*s", (int)sizeof(path) - 1,
			 argv[1]);
	} else {
		if (!mkdtemp(dir)) {
			perror("mkdtemp");
			return EXIT_FAILURE;
		}
		snprintf(path, sizeof(path), "%s/trace.json", dir);
	}

	spool_trace_stop(); /* in case SPOOL_TRACE started recording */
	spool_trace_options opts = SPOOL_TRACE_OPTIONS_INIT;
	opts.events_per_thread = 1u << 14;
	int err = spool_trace_start_opts(path, &opts);
	if (err) {
		fprintf(stderr, "spool_trace_start(%s): %s\n", path,
			spool_strerror(err));
		return EXIT_FAILURE;
	}
	int work = traced_work();
	err = spool_trace_stop();
	spool_trace_stats st;
	spool_trace_stats_get(&st);
	printf("recorded: %llu events from %u threads, %llu dropped\n",
	       (unsigned long long)st.events, st.threads,
	       (unsigned long long)st.dropped);
	int file = err == 0 ? check_file(path) : -1;
	if (keep) {
		printf("open %s in ui.perfetto.dev\n", path);
	} else {
		unlink(path);
		rmdir(dir);
	}
	return work == 0 && file == 0 && st.dropped == 0 && st.threads >= 3
		       ? EXIT_SUCCESS
		       : EXIT_FAILURE;
}
