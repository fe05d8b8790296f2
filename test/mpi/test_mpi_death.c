/* SPDX-License-Identifier: MIT */
/*
 * Suite "mpi_death": a rank killed in the middle of a run (SIGKILL, inside
 * a task) fails the futures it held, and nothing hangs.
 *
 * Open MPI 4.1 has no ULFM: by default mpirun ends the whole job when a
 * rank dies. Run with --enable-recovery (ctest test mpi_death_recovery)
 * the others go on, MPI reports nothing, and the executor's heartbeats
 * find the loss: the futures of the tasks rank 2 held fail with
 * SPOOL_MPI_EPEER within peer_timeout_ns, the other tasks finish on the
 * ranks left, later submissions still run, and destroy returns. Run
 * without it (ctest test mpi_death_abort, through expect_job_abort.sh),
 * the job ends at once with a nonzero status and mpirun's message, which
 * the script checks, with a time limit: no hang either way.
 */
/* mpi-ranks: 3 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mpi_support.h"

/* On rank 2 the task kills its rank; elsewhere it sleeps 20 ms and
 * answers with the rank. */
static int die_on_2(const void *arg, size_t len, void **out, size_t *out_len)
{
	(void)arg;
	(void)len;
	int me = spool_mpi_test_rank();
	if (me == 2)
		raise(SIGKILL);
	spool_test_sleep_ns(20 * SPOOL_NS_PER_MS);
	int *r = malloc(sizeof *r);
	*r = me;
	*out = r;
	*out_len = sizeof *r;
	return 0;
}

START_TEST(a_killed_rank_fails_its_futures_and_nothing_hangs)
{
	ck_assert_int_eq(spool_mpi_register("die_on_2", die_on_2), 0);
	spool_mpi_executor_options o = SPOOL_MPI_EXECUTOR_OPTIONS_INIT;
	o.threads = 1;
	o.window = 2;
	o.flags = SPOOL_MPI_ROOT_DISPATCH_ONLY;
	o.heartbeat_ns = 50 * SPOOL_NS_PER_MS;
	o.peer_timeout_ns = 2 * SPOOL_NS_PER_S;
	spool_mpi_executor *ex = NULL;
	/* The root hears from no rank before its create starts, so no rank
	 * can be taken for dead before this plus peer_timeout_ns. */
	int64_t created = spool_test_now_ns();
	ck_assert_int_eq(spool_mpi_executor_create(&ex, MPI_COMM_WORLD, &o), 0);
	if (!spool_mpi_executor_is_root(ex)) {
		/* rank 2 never comes back from here */
		ck_assert_int_eq(spool_mpi_executor_serve(ex), 0);
		spool_mpi_executor_destroy(ex);
		return;
	}
	enum { N = 20 };
	spool_future *fs[N];
	for (int i = 0; i < N; i++)
		fs[i] = spool_mpi_submit(ex, "die_on_2", NULL, 0);
	int64_t t0 = spool_test_now_ns();
	/* Every future final well within timeout + slack. */
	spool_future *g = spool_gather(fs, N, SPOOL_RETURN_ERRORS);
	ck_assert_int_eq(spool_future_wait(g, 20 * SPOOL_NS_PER_S), 0);
	int64_t end = spool_test_now_ns(), took = end - t0;
	int lost = 0, done = 0;
	for (int i = 0; i < N; i++) {
		int err = spool_future_error(fs[i]);
		if (err == SPOOL_MPI_EPEER) {
			/* The message names the rank that was lost. */
			const char *m = spool_future_error_message(fs[i]);
			ck_assert_ptr_nonnull(m);
			ck_assert_msg(strncmp(m, "rank 2 held this task", 21) ==
					      0,
				      "message \"%s\"", m);
			lost++;
		} else {
			ck_assert_int_eq(err, 0);
			const spool_mpi_result *r = spool_future_value(fs[i]);
			int rank;
			memcpy(&rank, r->data, sizeof rank);
			ck_assert_int_eq(rank, 1);
			done++;
		}
		spool_future_release(fs[i]);
	}
	spool_future_release(g);
	fprintf(stderr,
		"rank 0: %d future(s) failed with SPOOL_MPI_EPEER, %d done, "
		"%.2f s\n",
		lost, done, (double)took / 1e9);
	/* rank 2 held at most its window, and at least the task that
	 * killed it */
	ck_assert_int_ge(lost, 1);
	ck_assert_int_le(lost, 2);
	ck_assert_int_eq(lost + done, N);
	/* Lost after peer_timeout_ns of silence, not before, nor long after:
	 * rank 2 was last heard around t0, and a pass checks the silence at
	 * least every millisecond while tasks are out (3 s of slack for a
	 * busy machine). */
	ck_assert_msg(end - created > o.peer_timeout_ns,
		      "rank 2 taken for dead %.2f s after the create",
		      (double)(end - created) / 1e9);
	ck_assert_msg(took < o.peer_timeout_ns + 3 * SPOOL_NS_PER_S,
		      "rank 2 taken for dead only %.2f s after the submissions",
		      (double)took / 1e9);
	/* The executor goes on with the ranks left. */
	spool_future *f = spool_mpi_submit(ex, "die_on_2", NULL, 0);
	SPOOL_MPI_TEST_WAIT(f);
	ck_assert_int_eq(spool_future_state(f), SPOOL_DONE);
	spool_future_release(f);
	spool_mpi_executor_destroy(ex);
}
END_TEST

static Suite *make(void)
{
	Suite *s = suite_create("mpi_death");
	TCase *tc = spool_test_case("death", 60);
	tcase_add_test(tc, a_killed_rank_fails_its_futures_and_nothing_hangs);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	return spool_mpi_test_main_lossy(argc, argv, make, 3, 60);
}
