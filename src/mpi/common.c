/* SPDX-License-Identifier: MIT */
/*
 * Small things every file of spool-mpi uses: the misuse and bug messages,
 * the check that MPI is live, the clock, failed futures, and
 * spool_mpi_strerror() with its table of MPI messages.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mpi/internal.h"

_Noreturn void spool__mpi_misuse(const char *fn, const char *rule)
{
	fprintf(stderr, "spool: misuse of %s(): %s\n", fn, rule);
	fflush(stderr);
	abort();
}

_Noreturn void spool__mpi_bug(const char *where, const char *what)
{
	fprintf(stderr, "spool bug: %s: %s\n", where, what);
	fflush(stderr);
	abort();
}

/* Whether MPI is live, known without asking MPI: asking (MPI_Initialized
 * and MPI_Finalized) costs more than the rest of a spool_mpi_future().
 * LIVE is set once a check found MPI initialized and an attribute was put
 * on MPI_COMM_SELF, whose delete callback MPI_Finalize calls first thing
 * (MPI 3.1, 8.7.1); that callback takes LIVE back, so every check after it
 * asks MPI again and a call after MPI_Finalize is still caught. */
enum { UNKNOWN, REGISTERING, LIVE, ENDING };
static atomic_int live_state = UNKNOWN;

static int live_ends(MPI_Comm comm, int key, void *value, void *extra)
{
	(void)comm;
	(void)key;
	(void)value;
	(void)extra;
	atomic_store(&live_state, ENDING);
	return MPI_SUCCESS;
}

void spool__mpi_check_live(const char *fn)
{
	if (atomic_load_explicit(&live_state, memory_order_relaxed) == LIVE)
		return; /* relaxed: a flag about MPI, guarding no data */
	int init = 0, fin = 0;
	MPI_Initialized(&init);
	MPI_Finalized(&fin);
	if (!init)
		spool__mpi_misuse(fn, "called before MPI_Init");
	if (fin)
		spool__mpi_misuse(fn, "called after MPI_Finalize");
	int expect = UNKNOWN;
	if (!atomic_compare_exchange_strong(&live_state, &expect, REGISTERING))
		return; /* another thread registers, or MPI is ending */
	int key;
	if (MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, live_ends, &key,
				   NULL) == MPI_SUCCESS &&
	    MPI_Comm_set_attr(MPI_COMM_SELF, key, NULL) == MPI_SUCCESS)
		atomic_store(&live_state, LIVE);
	else
		atomic_store(&live_state, UNKNOWN);
}

int64_t spool__mpi_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * SPOOL_NS_PER_S + ts.tv_nsec;
}

spool_future *spool__mpi_failed(int err)
{
	spool_future *f = spool_promise_new();
	if (f)
		spool_promise_set_error(f, err);
	return f;
}

/* MPI's messages for its predefined error codes (1 to MPI_ERR_LASTCODE),
 * copied once: MPI_Error_string may not be called after MPI_Finalize, and
 * a message is wanted then too (a test's report). It is not asked about
 * other codes: for an unknown one it calls MPI_COMM_WORLD's error handler,
 * which aborts by default. */
#define MSG_CLASSES (MPI_ERR_LASTCODE + 1)
static char mpi_msgs[MSG_CLASSES][MPI_MAX_ERROR_STRING];
static pthread_once_t mpi_msgs_once = PTHREAD_ONCE_INIT;

static void fill_mpi_msgs(void)
{
	for (int c = 1; c < MSG_CLASSES; c++) {
		int len = 0;
		if (MPI_Error_string(c, mpi_msgs[c], &len) != MPI_SUCCESS)
			mpi_msgs[c][0] = 0;
	}
}

static bool mpi_live(void)
{
	int init = 0, fin = 0;
	MPI_Initialized(&init);
	MPI_Finalized(&fin);
	return init && !fin;
}

const char *spool_mpi_strerror(int err)
{
	switch (err) {
#define SPOOL_MPI__ERR_MSG(name, value, msg)                                   \
	case value:                                                            \
		return msg;
		SPOOL_MPI_ERRNO_MAP(SPOOL_MPI__ERR_MSG)
#undef SPOOL_MPI__ERR_MSG
	default:
		break;
	}
	if (err <= 0)
		return spool_strerror(err);
	if (err < MSG_CLASSES && mpi_live())
		pthread_once(&mpi_msgs_once, fill_mpi_msgs);
	if (err < MSG_CLASSES && mpi_msgs[err][0])
		return mpi_msgs[err];
	return spool_strerror(err);
}
