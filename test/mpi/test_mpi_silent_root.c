/* SPDX-License-Identifier: MIT */
/*
 * Suite "mpi_silent_root": a worker whose root falls silent stops serving
 * with SPOOL_MPI_EPEER, not before peer_timeout_ns and without hanging.
 *
 * A process of its own: the root's destroy then sends STOP to workers that
 * have left, and the message stays unreceived on the executor's freed
 * communicator, whose context MPI may give to the next communicator made
 * (a later test's executor would receive it).
 */
#include "mpi_support.h"

/* The root's engine is on a loop that never runs, so the root sends
 * nothing, not even heartbeats. Each worker's serve must return
 * SPOOL_MPI_EPEER (it hears nothing after its create); the root's destroy
 * then returns too. */
START_TEST(a_worker_whose_root_falls_silent_stops_serving)
{
	spool_mpi_executor_options o = SPOOL_MPI_EXECUTOR_OPTIONS_INIT;
	o.heartbeat_ns = 50 * SPOOL_NS_PER_MS;
	o.peer_timeout_ns = 500 * SPOOL_NS_PER_MS;
	spool_loop *loop = NULL;
	spool_mpi_engine *e = NULL;
	if (spool_mpi_test_rank() == 0) {
		loop = spool_test_loop_new();
		spool_mpi_engine_options eo = SPOOL_MPI_ENGINE_OPTIONS_INIT;
		eo.loop = loop;
		ck_assert_int_eq(spool_mpi_engine_create(&e, &eo), 0);
		o.engine = e;
	}
	int64_t t0 = spool_test_now_ns();
	spool_mpi_executor *ex = NULL;
	ck_assert_int_eq(spool_mpi_executor_create(&ex, MPI_COMM_WORLD, &o), 0);
	if (spool_mpi_executor_is_root(ex)) {
		/* Silent for four timeouts; the loop does not run. */
		spool_test_sleep_ns(4 * o.peer_timeout_ns);
		spool_mpi_executor_destroy(ex);
		spool_mpi_engine_destroy(e);
		spool_loop_destroy(loop);
	} else {
		ck_assert_int_eq(spool_mpi_executor_serve(ex), SPOOL_MPI_EPEER);
		int64_t took = spool_test_now_ns() - t0;
		ck_assert_msg(took > o.peer_timeout_ns,
			      "root taken for silent after %.3f s",
			      (double)took / 1e9);
		spool_mpi_executor_destroy(ex);
	}
}
END_TEST

static Suite *make(void)
{
	Suite *s = suite_create("mpi_silent_root");
	TCase *tc = spool_mpi_test_case("silent_root", 60);
	tcase_add_test(tc, a_worker_whose_root_falls_silent_stops_serving);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	return spool_mpi_test_main(argc, argv, make, 2, 60);
}
