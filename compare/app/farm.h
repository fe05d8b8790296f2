/* SPDX-License-Identifier: MIT */
/*
 * Farms: backends whose workers share no memory with the program, so that
 * each task travels to a worker as a message and its result comes back as
 * one, as ProcessPoolExecutor pickles a call item into a pipe and reads a
 * pickled result back. Worker processes (procs.c) are one such backend;
 * ranks of an MPI job would be another.
 *
 * A farm backend supplies only its transport, struct cmp_farm_ops for the
 * program's end and struct cmp_farm_endpoint for a worker's. Everything
 * else is written once here (farm.c), for every farm:
 *   - the messages: a fixed header carrying the task's description
 *     (task.h) or its result, padded with payload bytes to
 *     cfg->pickle_bytes, which the sender writes one by one and the
 *     receiver reads and checks one by one, so that a task costs what a
 *     pickled task of that size costs to build, carry and read;
 *   - the worker's loop, cmp_farm_serve(): receive a task, run it with
 *     cmp_task_run(), send the result, until the end;
 *   - the program's side, cmp_farm_run(): hands the tasks out, at most
 *     CMP_FARM_WINDOW at a time to each worker (ProcessPoolExecutor queues
 *     one call beyond its workers for the same reason: a worker that
 *     finishes finds its next task waiting), and collects the results.
 *
 * Thread safety: one thread drives a farm (start, run, finish), except
 * request_stop, which any thread may call while it runs.
 */
#ifndef CMP_FARM_H
#define CMP_FARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "task.h"

/* Bytes of a message's header; --pickle-bytes may not be less. */
#define CMP_FARM_HEADER 88
/* The largest message: a worker's window of two tasks then fits in a pipe's
 * default 64 KiB, so handing a task over never blocks on a busy worker. */
#define CMP_FARM_MAX_MSG 16384
/* Tasks in flight per worker. */
#define CMP_FARM_WINDOW 2

/* The program's end of a transport. Every function returns 0 or a spool
 * error code (SPOOL_ESYS, SPOOL_ENOMEM, ...); start and finish explain a
 * failure in the caller's why buffer, the others in the farm's own, read
 * with why(). */
struct cmp_farm_ops {
	const char *name;
	/* Starts `workers` workers, each running cmp_farm_serve() over its
	 * end of the transport; sets *farm (owned by the caller until
	 * finish). On failure sets *farm NULL and writes why. */
	int (*start)(void **farm, int workers, char *why, size_t why_len);
	/* Hands worker w (0-based) one whole message of len bytes; blocks
	 * only while the transport cannot take it yet. */
	int (*send)(void *farm, int w, const void *msg, size_t len);
	/* Blocks until a whole message (at most cap bytes) arrives from any
	 * worker; sets *w and *len. A worker that ended early is an error. */
	int (*recv)(void *farm, int *w, void *buf, size_t cap, size_t *len);
	/* Makes every stop-checking job (task.h) end at its next check, now
	 * and for the rest of the farm's life. Any thread; never blocks. */
	void (*request_stop)(void *farm);
	/* Ends every worker once its current task is done, waits for all of
	 * them and frees farm (NULL: nothing to do). Returns 0, or an error
	 * with why set if a worker did not end cleanly. */
	int (*finish)(void *farm, char *why, size_t why_len);
	/* The last error's explanation. */
	const char *(*why)(void *farm);
};

/* A worker's end of a transport. */
struct cmp_farm_endpoint {
	/* Blocks for the next whole message (at most cap bytes) into buf and
	 * sets *len; returns 0, 1 when the program has closed its end (no
	 * more tasks), or a spool error. */
	int (*recv)(void *ctx, void *buf, size_t cap, size_t *len);
	/* Sends one whole message; returns 0 or a spool error. */
	int (*send)(void *ctx, const void *msg, size_t len);
	/* Whether request_stop was called on the program's side. */
	bool (*stop_requested)(void *ctx);
	void *ctx;
};

/* The worker's loop: receives tasks, runs each with cmp_task_run() and
 * sends its result, until the program closes its end or sends the end
 * message. Builds the hash buffer itself from the task's seed. Returns 0
 * at the end, or a spool error (a broken message, a failed send). Blocks;
 * runs on the worker's one thread. */
int cmp_farm_serve(const struct cmp_farm_endpoint *ep);

/* Writes the end message (header only) into buf (CMP_FARM_HEADER bytes),
 * for transports that cannot signal the end by closing a channel. */
void cmp_farm_encode_end(void *buf);

/* Runs tasks[0..n-1] on the farm's `workers` workers, each task sent as a
 * message of msg_bytes (CMP_FARM_HEADER..CMP_FARM_MAX_MSG) and each result
 * received as one of the same size, and stores task i's answer in
 * results[i]. If meanwhile is not NULL, it is called once on this thread
 * after the first tasks went out (at most CMP_FARM_WINDOW per worker),
 * before any result is collected: the mixed workload's client, say, which
 * calls request_stop when it is done. Returns 0, or the first failed
 * task's error, or a transport error (with ops->why()). Blocks. */
int cmp_farm_run(const struct cmp_farm_ops *ops, void *farm, int workers,
		 const struct cmp_task_spec *tasks, int n, int msg_bytes,
		 uint64_t *results, void (*meanwhile)(void *), void *arg);

/* ---- the farms ---------------------------------------------------------- */

/* Worker processes, forked by start() (so forking is part of the cost, as
 * ProcessPoolExecutor's start-up is), fed through a pipe each way per
 * worker (procs.c). */
extern const struct cmp_farm_ops cmp_procs_farm;

#ifdef CMP_HAVE_MPI
/* MPI ranks of the program's own executable, spawned by start() with
 * MPI_Comm_spawn (the first start() makes the program an MPI singleton),
 * fed through MPI messages on the intercommunicator (mpifarm.c). Built only
 * when CMake found MPI. */
extern const struct cmp_farm_ops cmp_mpi_farm;

/* The argument a spawned rank is started with: main() sees it as the only
 * argument and calls cmp_mpi_farm_worker_main() instead of reading a
 * command line. */
#define CMP_MPI_WORKER_ARG "--mpi-farm-rank"

/* Initializes MPI for the farm, once per process (later calls return the
 * first one's outcome): MPI_Init_thread with MPI_THREAD_MULTIPLE, as a
 * singleton unless the program runs under mpiexec, and MPI_Finalize at
 * exit. start() calls it too; a program calls it first so that no
 * measured run carries MPI's own start-up. Returns 0, or -1 with why
 * set. Thread-safe; blocks while MPI starts. */
int cmp_mpi_farm_init(char *why, size_t why_len);

/* A spawned rank's whole life: MPI_Init, cmp_farm_serve() over the
 * intercommunicator to the program, MPI_Finalize. Returns the process's
 * exit status (0, or 1 when its loop failed, 2 when it was not spawned by
 * the mpi farm). Blocks. */
int cmp_mpi_farm_worker_main(void);
#endif

#endif /* CMP_FARM_H */
