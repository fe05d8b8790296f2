/* SPDX-License-Identifier: MIT */
/*
 * What the spool-mpi suites share. Each suite is one Check suite that every
 * rank runs, in the same order, under mpirun: Check's fork mode is off
 * (forking an MPI process is not supported), so a failed assertion ends
 * the test on that rank and the run goes on with the next one. A watchdog
 * alarm ends a rank that hangs, with a message, so that a broken
 * implementation fails the suite in bounded time instead of hanging it;
 * ctest's timeout is the second line of defence. At the end the ranks add
 * up their failures, each checks that no future is left alive, and the
 * exit status is nonzero on every rank if any rank failed.
 */
#ifndef SPOOL_MPI_TEST_SUPPORT_H
#define SPOOL_MPI_TEST_SUPPORT_H

#include <check.h>
#include <spool.h>
#include <spool/mpi.h>

#include "support.h"

/* Initializes MPI (MPI_THREAD_MULTIPLE), runs make()'s suite on every
 * rank with a watchdog of limit_s seconds, checks for leaked futures,
 * finalizes MPI and returns the exit status. With fewer than min_ranks
 * ranks, every rank skips (exit 77) with a message. */
int spool_mpi_test_main(int argc, char **argv, Suite *(*make)(void),
			int min_ranks, unsigned limit_s);

/* As spool_mpi_test_main(), for a suite in which a rank dies: no
 * collective call at the end (it would wait for the dead rank for ever);
 * each rank's exit status is its own outcome. */
int spool_mpi_test_main_lossy(int argc, char **argv, Suite *(*make)(void),
			      int min_ranks, unsigned limit_s);

/* A TCase for a suite that every rank runs in step (not a lossy one):
 * each test starts with a barrier on MPI_COMM_WORLD, so that every rank
 * runs it together, and its checked teardown fails the test that left a
 * future alive (more than there were when it started). Its setup never
 * fails, so no rank leaves out a test that the others run: the plain
 * fixture's setup failed on the one rank that had leaked a future in an
 * earlier test, which then skipped each test that followed while the
 * others ran them, and waited for it in their MPI calls. A test whose
 * ranks talk still ends its conversation before it checks what may fail:
 * a rank left waiting in an MPI call for a message that a failed rank
 * never sends is ended only by the watchdog. */
TCase *spool_mpi_test_case(const char *name, double timeout_s);

int spool_mpi_test_rank(void);
int spool_mpi_test_size(void);

/* A private duplicate of MPI_COMM_WORLD with MPI_ERRORS_RETURN, so that
 * one test's messages never meet another's (collective). */
MPI_Comm spool_mpi_test_comm(void);

/* A wait of at most 10 s that must end with f final. */
#define SPOOL_MPI_TEST_WAIT(f)                                                 \
	ck_assert_int_eq(spool_future_wait((f), 10 * SPOOL_NS_PER_S), 0)

#endif
