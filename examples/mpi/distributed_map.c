/* SPDX-License-Identifier: MIT */
/*
 * Beyond one machine: a distributed map, and as_completed over ranks.
 *
 * Run it on 3 ranks (mpirun -np 3 ./example_mpi_distributed_map; as root
 * add --allow-run-as-root, with fewer cores than ranks --oversubscribe).
 * Every rank registers the same functions; rank 0 is the root, which hands
 * tasks to whichever rank asks for work next (itself included) and gets
 * futures back; the other ranks serve until the root is done.
 *
 * Part 1, a map: the squares of 0..15 computed across the ranks, read back
 * in input order through a gather, like asyncio.gather over remote calls.
 * Part 2, as_completed: tasks of different lengths; each answer is handled
 * as it arrives, whichever rank ran it, like asyncio.as_completed.
 * Part 3, a failure: a task given the wrong bytes fails on its rank with a
 * message, which comes back with its code, like the exception a
 * ProcessPoolExecutor worker raises.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spool.h>
#include <spool/mpi.h>

struct answer {
	int64_t value;
	int rank;
};

static int my_rank;

static int square(const void *arg, size_t len, void **out, size_t *out_len)
{
	int64_t x;
	if (len != sizeof x) /* a task's own error code, and a message */
		return spool_fail(1, "square wants %zu bytes, got %zu",
				  sizeof x, len);
	memcpy(&x, arg, sizeof x);
	struct answer *a = malloc(sizeof *a);
	if (!a)
		return 2;
	a->value = x * x;
	a->rank = my_rank;
	*out = a; /* malloc'd: the executor frees it once sent */
	*out_len = sizeof *a;
	return 0;
}

/* Sleeps arg milliseconds, then answers with them. */
static int nap(const void *arg, size_t len, void **out, size_t *out_len)
{
	int64_t ms;
	memcpy(&ms, arg, sizeof ms);
	(void)len;
	spool_sleep(ms * SPOOL_NS_PER_MS); /* a pool worker: blocks it */
	return square(&ms, sizeof ms, out, out_len);
}

static int root(spool_mpi_executor *ex)
{
	/* ---- a map over the ranks ---- */
	enum { N = 16 };
	spool_future *fs[N];
	for (int64_t i = 0; i < N; i++)
		fs[i] = spool_mpi_submit(ex, "square", &i, sizeof i);
	spool_future *all = spool_gather(fs, N, 0);
	if (spool_future_wait(all, 30 * SPOOL_NS_PER_S) != 0 ||
	    spool_future_error(all) != 0) {
		fprintf(stderr, "map failed: %s\n",
			spool_mpi_strerror(spool_future_error(all)));
		return 1;
	}
	printf("map:");
	for (int i = 0; i < N; i++) {
		/* The value is a spool_mpi_result owned by the executor. */
		const spool_mpi_result *r = spool_future_value(fs[i]);
		const struct answer *a = r->data;
		printf(" %lld@%d", (long long)a->value, a->rank);
		if (a->value != (int64_t)i * i)
			return 1;
		spool_mpi_result_free((spool_mpi_result *)r);
		spool_future_release(fs[i]);
	}
	printf("\n");
	spool_future_release(all);

	/* ---- as_completed over the ranks ---- */
	int64_t naps[] = {300, 50, 150, 10, 200, 100};
	enum { M = sizeof naps / sizeof naps[0] };
	spool_future *gs[M];
	for (int i = 0; i < M; i++)
		gs[i] = spool_mpi_submit(ex, "nap", &naps[i], sizeof naps[i]);
	spool_as_completed *it;
	if (spool_as_completed_create(&it, gs, M, 30 * SPOOL_NS_PER_S) != 0)
		return 1;
	spool_future *f;
	size_t idx;
	int seen = 0;
	while (spool_as_completed_next(it, &f, &idx) == 0) {
		const spool_mpi_result *r = spool_future_value(f);
		const struct answer *a = r->data;
		printf("as_completed: task %zu (%lld ms) done on rank %d\n",
		       idx, (long long)naps[idx], a->rank);
		seen++;
	}
	spool_as_completed_destroy(it);
	for (int i = 0; i < M; i++)
		spool_future_release(gs[i]);
	if (seen != M)
		return 1;

	/* ---- a failure, with its message ---- */
	int32_t small = 7;
	f = spool_mpi_submit(ex, "square", &small, sizeof small);
	spool_future_wait(f, 30 * SPOOL_NS_PER_S);
	const char *why = spool_future_error_message(f);
	printf("failure: code %d, \"%s\"\n", spool_future_error(f),
	       why ? why : "(no message)");
	int ok = spool_future_error(f) == 1 && why &&
		 strcmp(why, "square wants 8 bytes, got 4") == 0;
	spool_future_release(f);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	int provided;
	MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
	MPI_Comm_rank(MPI_COMM_WORLD, &my_rank);
	if (provided < MPI_THREAD_MULTIPLE) {
		fprintf(stderr, "this MPI has no MPI_THREAD_MULTIPLE\n");
		MPI_Finalize();
		return 1;
	}
	spool_mpi_register("square", square);
	spool_mpi_register("nap", nap);

	spool_mpi_executor *ex;
	spool_mpi_executor_options o = SPOOL_MPI_EXECUTOR_OPTIONS_INIT;
	o.threads = 1;
	if (spool_mpi_executor_create(&ex, MPI_COMM_WORLD, &o) != 0) {
		MPI_Abort(MPI_COMM_WORLD, 1);
		return 1;
	}
	int rc = 0;
	if (spool_mpi_executor_is_root(ex))
		rc = root(ex);
	else
		rc = spool_mpi_executor_serve(ex) == 0 ? 0 : 1;
	spool_mpi_executor_destroy(ex); /* the root's tells the others */
	MPI_Finalize();
	return rc;
}
