/* SPDX-License-Identifier: MIT */
/*
 * What the files of spool-mpi share: the engine's internal seam (requests
 * tracked for the library's own use, pollers, kicks, one progress pass),
 * the process-wide progress lock, the function registry and the misuse
 * messages. spool-mpi sees the core library through its public headers
 * only: it is a separate library, and libspool exports nothing else.
 */
#ifndef SPOOL_MPI_INTERNAL_H
#define SPOOL_MPI_INTERNAL_H

#include <spool.h>
#include <spool/mpi.h>

/* The messages of the core library's misuse.h, in the same words:
 * "spool: misuse of spool_mpi_x(): <rule>", then abort. */
_Noreturn void spool__mpi_misuse(const char *fn, const char *rule);
_Noreturn void spool__mpi_bug(const char *where, const char *what);

/* Aborts with a misuse message unless MPI is initialized and not yet
 * finalized. */
void spool__mpi_check_live(const char *fn);

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t spool__mpi_now(void);

/* A future already FAILED with err (NULL when out of memory). */
spool_future *spool__mpi_failed(int err);

/* ---- the engine's seam --------------------------------------------------
 *
 * Everything below runs under the process-wide progress lock, held by the
 * one thread in a progress pass (the engine's thread, the loop's thread,
 * or a thread that drives progress itself while it waits). */

/* Called in a progress pass when a tracked request completes: err is 0 or
 * the MPI error code, cancelled tells MPI_Test_cancelled's answer. */
typedef void (*spool__mpi_done_fn)(void *arg, const MPI_Status *st, int err,
				   bool cancelled);

/* Hands a request of the library's own (a send) to the engine: fn(arg,..)
 * runs in the pass that sees it complete. Any thread. Returns 0 or
 * SPOOL_ENOMEM (the request is then still the caller's). */
int spool__mpi_track(spool_mpi_engine *e, MPI_Request req,
		     spool__mpi_done_fn fn, void *arg);

/* A poller runs at every progress pass: it may receive messages, send, and
 * complete futures. It returns how many events it handled (anything that
 * should keep the engine polling hot) and sets *next_ns to the longest
 * pause it tolerates before the next pass: 0 when it has work under way
 * (the engine then backs off from 1 us to max_delay_ns as usual), or a
 * longer interval when it only needs to be looked at now and then
 * (heartbeats). */
typedef int (*spool__mpi_poll_fn)(void *arg, int64_t now, int64_t *next_ns);

/* Adds or removes a poller. remove waits for a pass that runs it to end
 * (it takes the progress lock), so after it returns the poller never runs
 * again. Any thread except from inside a pass. */
int spool__mpi_poller_add(spool_mpi_engine *e, spool__mpi_poll_fn fn,
			  void *arg);
void spool__mpi_poller_remove(spool_mpi_engine *e, spool__mpi_poll_fn fn,
			      void *arg);

/* A new promise that e's passes will complete: on an engine with a
 * progress thread a driven one (a plain thread waiting on it, or on a
 * combinator over it, makes passes itself: engine.c, "Driving waits"),
 * which holds a reference to e until it is freed; on a loop engine a plain
 * one. NULL when out of memory. Any thread. */
spool_future *spool__mpi_promise(spool_mpi_engine *e);

/* Wakes the engine for a prompt pass (new work from another thread). Any
 * thread; never blocks for long (a mutex, or one write to the loop's
 * eventfd). */
void spool__mpi_kick(spool_mpi_engine *e);

/* One progress pass, for a thread that waits for something only progress
 * can bring and must drive it itself (a destroy on the loop's thread).
 * Takes the progress lock. Returns the number of events. */
int spool__mpi_drive(spool_mpi_engine *e);

/* The same if no other thread is in a pass: -1 (and nothing done) if one
 * is. For a thread that has work to offer progress but must not wait for
 * the lock (a pool thread of the executor, between tasks). */
int spool__mpi_try_drive(spool_mpi_engine *e);

/* A pass made by a thread that hands e work in a burst (a submitter), if
 * e has a progress thread and no other thread is in a pass: the pass's
 * events, else -1 (nothing done). The progress thread stands aside for a
 * short lease after it (engine.c, "Submitting threads pulse"). Not from
 * inside a pass. */
int spool__mpi_pulse(spool_mpi_engine *e);

/* A thread that will drive passes for a while (with spool__mpi_try_drive)
 * counts itself as a driver, so that the progress thread of e stands aside
 * as for a driving wait; exit hands progress back to it. Only for an engine
 * with a progress thread. */
void spool__mpi_drive_enter(spool_mpi_engine *e);
void spool__mpi_drive_exit(spool_mpi_engine *e);

/* e's spin window in ns (spin_ns of its options, resolved: 0 when it
 * never spins). */
int64_t spool__mpi_spin_ns(const spool_mpi_engine *e);

/* The process-wide progress lock, for reading what only passes change. */
void spool__mpi_progress_lock(void);
/* The lock if it is free (true), without waiting. */
bool spool__mpi_progress_trylock(void);
void spool__mpi_progress_unlock(void);

/* True when e progresses on a loop (then only that loop's thread may wait
 * on what the engine completes without driving it). */
bool spool__mpi_engine_on_loop(const spool_mpi_engine *e);

/* Counts executors on an engine (destroying an engine that still has one
 * is a caller bug). */
void spool__mpi_engine_use(spool_mpi_engine *e, int delta);

/* ---- the function registry ---------------------------------------------- */

#define SPOOL__MPI_NAME_MAX 63

/* The function registered as name (len bytes, not NUL-terminated), or
 * NULL. Thread-safe. */
spool_mpi_fn spool__mpi_lookup(const char *name, size_t len);

#endif /* SPOOL_MPI_INTERNAL_H */
