/* SPDX-License-Identifier: MIT */
/*
 * Suite "mpi_misuse": the caller bugs of spool-mpi that abort. It runs
 * without mpiexec, as a plain process that never initializes MPI, and
 * checks each call in a forked child (spool_test_expect_misuse): before
 * MPI_Init every spool_mpi function that needs MPI aborts with "spool:
 * misuse of spool_mpi_x(): called before MPI_Init". Bad input that has an
 * answer (NULL handles, bad options) is checked in the MPI suites, which
 * need MPI running to reach it.
 */
#include <stdlib.h>

#include "mpi_support.h"

static int call_future(void *arg)
{
	(void)arg;
	MPI_Request r = MPI_REQUEST_NULL;
	spool_mpi_future(NULL, &r, NULL);
	return 0;
}

static int call_engine_create(void *arg)
{
	(void)arg;
	spool_mpi_engine *e;
	spool_mpi_engine_create(&e, NULL);
	return 0;
}

static int call_executor_create(void *arg)
{
	(void)arg;
	spool_mpi_executor *ex;
	spool_mpi_executor_create(&ex, MPI_COMM_WORLD, NULL);
	return 0;
}

static int call_submit(void *arg)
{
	(void)arg;
	spool_mpi_submit(NULL, "f", NULL, 0);
	return 0;
}

START_TEST(calls_before_mpi_init_are_caller_bugs)
{
	spool_test_expect_misuse(call_future, NULL, "spool_mpi_future",
				 "before MPI_Init");
	spool_test_expect_misuse(call_engine_create, NULL,
				 "spool_mpi_engine_create", "before MPI_Init");
	spool_test_expect_misuse(call_executor_create, NULL,
				 "spool_mpi_executor_create",
				 "before MPI_Init");
	spool_test_expect_misuse(call_submit, NULL, "spool_mpi_submit",
				 "before MPI_Init");
}
END_TEST

/* After MPI_Finalize, in a child that initialized MPI as a singleton
 * (no mpiexec) and used the library while MPI ran. */
static int call_submit_after_finalize(void *arg)
{
	(void)arg;
	int provided = 0;
	if (MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided) !=
	    MPI_SUCCESS)
		return 0; /* no abort: the check fails, with this reason */
	spool_mpi_engine *e = NULL;
	if (spool_mpi_engine_create(&e, NULL) == 0)
		spool_mpi_engine_destroy(e);
	MPI_Finalize();
	spool_mpi_submit(NULL, "f", NULL, 0);
	return 0;
}

START_TEST(calls_after_mpi_finalize_are_caller_bugs)
{
	spool_test_expect_misuse(call_submit_after_finalize, NULL,
				 "spool_mpi_submit", "after MPI_Finalize");
}
END_TEST

/* What needs no MPI works without it. */
START_TEST(register_and_strerror_need_no_mpi)
{
	ck_assert_int_eq(spool_mpi_register(NULL, NULL), SPOOL_EINVAL);
	ck_assert_str_eq(spool_mpi_strerror(SPOOL_MPI_ENOFN),
			 "no function of that name is registered on the rank");
	ck_assert_str_eq(spool_mpi_strerror(7), "task error");
	spool_mpi_engine_destroy(NULL);
	spool_mpi_executor_destroy(NULL);
	spool_mpi_result_free(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mpi_misuse");
	TCase *tc = spool_test_case("misuse", 60);
	tcase_add_test(tc, calls_before_mpi_init_are_caller_bugs);
	tcase_add_test(tc, calls_after_mpi_finalize_are_caller_bugs);
	tcase_add_test(tc, register_and_strerror_need_no_mpi);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
