/* SPDX-License-Identifier: MIT */
/**
 * @file
 * @brief spool-mpi: MPI requests as futures, and a remote executor over MPI
 * ranks.
 *
 * An optional component, in its own library (libspool-mpi, CMake target
 * spool::mpi, pkg-config spool-mpi). <spool.h> does not include this
 * header: a program that uses it includes <spool/mpi.h> itself and links
 * spool-mpi and an MPI library; everything else in spool works without MPI.
 *
 * Two layers:
 *
 *   - Request futures. spool_mpi_future() turns an MPI_Request (from
 *     MPI_Isend, MPI_Irecv, a nonblocking collective, ...) into a
 *     spool_future that completes with the request. A progress engine
 *     (spool_mpi_engine) tests every pending request with MPI_Testsome,
 *     either on a loop's thread, from the loop's own iterations, or on one
 *     progress thread of its own. Every combinator (gather, wait,
 *     as_completed, wait_for, ...) works on these futures unchanged.
 *
 *   - A remote executor. spool_mpi_register() names a function on every
 *     rank; spool_mpi_submit() on the root rank runs it on whichever rank
 *     asks for work next (the root's own threads included, unless told
 *     otherwise) and returns a future of its result bytes. Worker ranks
 *     call spool_mpi_executor_serve(), which runs tasks on a spool pool
 *     of their own until the root destroys the executor.
 *
 * Threads. The engine is the only part of spool-mpi that calls
 * MPI_Testsome, and at most one thread of the process is in a progress
 * pass at a time (a process-wide lock). A progress thread, or any
 * spool_mpi call from more than one thread, needs MPI initialized with
 * MPI_THREAD_MULTIPLE; an engine on a loop, used from the loop's thread
 * only, is content with MPI_THREAD_FUNNELED. Every spool_mpi function
 * must be called between MPI_Init and MPI_Finalize: before or after is a
 * caller bug, which aborts with "spool: misuse of spool_mpi_x(): ...".
 *
 * Errors. Futures from this header fail with one of spool's codes
 * (spool/error.h), with a code of the table below, or with a positive
 * code: for a request future, the MPI error code MPI reported for the
 * request (MPI_Error_string() explains it; communicators must have
 * MPI_ERRORS_RETURN for MPI to report one instead of aborting); for a
 * remote task, the code the task returned. spool_mpi_strerror() names
 * every one of them.
 *
 * Failure limits (docs/mpi.md has the details): a rank that stops
 * answering is found by heartbeats, not by MPI. Open MPI 4.1 without
 * ULFM aborts the whole job when a rank dies, unless mpirun is given
 * --enable-recovery; then the others go on, and the executor fails the
 * futures the lost rank held with SPOOL_MPI_EPEER after
 * peer_timeout_ns.
 */
#ifndef SPOOL_MPI_H
#define SPOOL_MPI_H

#include <mpi.h>

#include "spool/common.h"
#include "spool/error.h"
#include "spool/executor.h"
#include "spool/future.h"
#include "spool/loop.h"

/** Every public function of spool-mpi carries SPOOL_MPI_API (its own macro:
 * the core library's list of SPOOL_API functions stays MPI-free). */
#if defined(__GNUC__) || defined(__clang__)
#define SPOOL_MPI_API __attribute__((visibility("default")))
#else
#define SPOOL_MPI_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ----------------------------------------------------------- */

/** spool-mpi's own codes: negative, below spool's (spool/error.h). */
#define SPOOL_MPI_ERRNO_MAP(X)                                                 \
	X(EPEER, -101,                                                         \
	  "the rank that held this task failed or stopped "                    \
	  "answering")                                                         \
	X(ECOMM, -102, "an MPI call failed (communicator broken?)")            \
	X(ENOFN, -103, "no function of that name is registered on the rank")   \
	X(ENOTROOT, -104, "only the root rank may submit tasks")

/** spool-mpi's own error codes (SPOOL_MPI_ERRNO_MAP). */
typedef enum spool_mpi_errno {
/** @cond */
#define SPOOL_MPI__ERR_ENUM(name, value, msg) SPOOL_MPI_##name = (value),
	SPOOL_MPI_ERRNO_MAP(SPOOL_MPI__ERR_ENUM)
#undef SPOOL_MPI__ERR_ENUM
	/** @endcond */
} spool_mpi_errno;

/** A static message for any code a spool-mpi future can carry: the codes
 * above, spool's own (spool_strerror()), and positive codes, which it
 * reads as MPI error codes up to MPI_ERR_LASTCODE (MPI_Error_string) and as
 * "task error" otherwise. Never NULL. Thread-safe; never blocks. The
 * MPI messages are kept in a small process-wide table filled on first use. */
SPOOL_MPI_API const char *spool_mpi_strerror(int err);

/* ---- progress engine -------------------------------------------------- */

/** Tests pending requests and completes their futures (opaque). */
typedef struct spool_mpi_engine spool_mpi_engine;

/** Options of spool_mpi_engine_create(); zero-initialize for the
 * defaults. */
typedef struct spool_mpi_engine_options {
	/** Progress from this loop's iterations (the engine then runs on the
	 * loop's thread). NULL: on a progress thread of the engine's own,
	 * named spool-mpi-prog. */
	spool_loop *loop;
	/** How long progress keeps polling without a pause after the last
	 * event (a request completed, a message arrived, a request was
	 * added): 0 means 200 us; negative means never (pause at once).
	 * A progress thread adapts its window below this: it halves it
	 * (down to 5 us) after an event that came more than spin_ns after
	 * the one before, since spinning would not have caught it, and
	 * doubles it back after one that came after the window but within
	 * spin_ns; quick conversations keep the whole window. */
	int64_t spin_ns;
	/** The longest pause between two polls while anything is pending:
	 * pauses double from 1 us up to this. It bounds the latency the
	 * engine adds to a request that completes after a quiet spell.
	 * 0 means 1 ms. */
	int64_t max_delay_ns;
} spool_mpi_engine_options;

/** The defaults of spool_mpi_engine_options. */
/* clang-format off */
#define SPOOL_MPI_ENGINE_OPTIONS_INIT                                          \
	{                                                                      \
		NULL, 0, 0                                                     \
	}
/* clang-format on */

/** Creates an engine; *out gets it. opts NULL means the defaults (a
 * progress thread). Returns 0; SPOOL_EINVAL (NULL out, a negative
 * max_delay_ns, or no loop and MPI not initialized with
 * MPI_THREAD_MULTIPLE); SPOOL_ENOMEM; SPOOL_ESYS (no thread). With a
 * loop, the engine must be destroyed before the loop. Any thread; never
 * blocks. */
SPOOL_MPI_API int spool_mpi_engine_create(spool_mpi_engine **out,
					  const spool_mpi_engine_options *opts);

/** Destroys the engine. Every request future still pending is cancelled
 * as spool_future_cancel() would (receives get MPI_Cancel) and the
 * engine keeps testing until each is final or one second has passed;
 * requests MPI has not completed by then (a send to a rank that died) are
 * released with MPI_Request_free and their futures FAILED with
 * SPOOL_ESHUTDOWN. Later spool_mpi_future() calls on it are caller bugs.
 * Executors using the engine must be destroyed first (a caller bug
 * otherwise). With a loop: call it on the loop's thread, inside the loop
 * or not, or from any thread while the loop does not run; outside the
 * loop it may run one iteration of it, to collect a wake-up another
 * thread posted to the engine. NULL is a no-op. Blocks until done. */
SPOOL_MPI_API void spool_mpi_engine_destroy(spool_mpi_engine *e);

/** Turns *req into a future (a new reference) that completes when the
 * request does:
 *   - DONE when it completes: *status (if status is not NULL) holds its
 *     MPI_Status (its MPI_ERROR field MPI_SUCCESS, which MPI itself
 *     leaves unset), written before the future completes, and the future's
 *     value is status itself (borrowed: the caller's memory, which must
 *     stay valid until the future is final);
 *   - FAILED with the MPI error code when MPI reports the request failed;
 *   - CANCELLED when a cancel took effect (below).
 * The engine takes the request over: *req is set to MPI_REQUEST_NULL, and
 * the engine alone tests it from then on (do not wait on, test or free it
 * yourself). On an engine with a progress thread, a plain thread that
 * waits for the future (spool_future_wait(), spool_future_result()) makes
 * progress passes itself while it waits, as MPI_Wait does, instead of
 * sleeping until the progress thread wakes it: it polls while events keep
 * coming (spin_ns after the last), then sleeps and the progress thread
 * finishes; meanwhile the progress thread stands aside, with a pass every
 * max_delay_ns (docs/mpi.md). So does a plain thread's wait on a gather,
 * spool_wait() or as_completed over such futures. Waits of pool workers
 * and coroutines sleep as for any future. A request that is already
 * MPI_REQUEST_NULL gives a future DONE at once, with an empty status.
 * Persistent requests are not supported. The future starts RUNNING:
 * spool_future_cancel() on it returns SPOOL_EBUSY and asks the engine to call
 * MPI_Cancel on its next pass; the future ends CANCELLED if MPI_Test_cancelled
 * says the cancel took effect, DONE if the operation completed first. Open MPI
 * cancels receives not yet matched; sends it does not cancel. Buffers belong to
 * MPI until the future is final, whatever its outcome.
 * A request that is complete when it is handed over, with status NULL (an
 * eager send, most often), costs no allocation: its future is one DONE
 * future with value NULL that the engine shares among such calls (each
 * call returns a new reference to it; it outlives the engine while
 * references remain). Do not rely on two futures of this call being
 * distinct objects.
 * Bad input never returns NULL: a NULL e or req gives a future FAILED with
 * SPOOL_EINVAL (the request, if any, untouched). NULL only when out of
 * memory; the request then stays the caller's (unless MPI reported an
 * error for it in the same call: then *req is MPI_REQUEST_NULL and the
 * error is lost with the future that could not be made). Thread-safe (with
 * MPI_THREAD_MULTIPLE); on a loop engine from another thread the loop is
 * woken. Never blocks. */
SPOOL_MPI_API spool_future *
spool_mpi_future(spool_mpi_engine *e, MPI_Request *req, MPI_Status *status);

/** Counters of an engine, for tests and tuning (snapshots). */
typedef struct spool_mpi_engine_stats {
	uint64_t passes;        /**< progress passes (MPI_Testsome calls) */
	uint64_t completed;     /**< requests completed */
	uint64_t cancelled;     /**< requests whose cancel took effect */
	uint64_t pauses;        /**< pauses between passes (timer or sleep) */
	uint64_t driven;        /**< passes made by waiting threads (below) */
	uint64_t pulsed;        /**< passes made by submitting threads
				   (spool_mpi_submit()) */
	int64_t spin_window_ns; /**< the progress thread's spin window now
				   (it adapts: see spin_ns) */
	int64_t lease_ns;       /**< the last time the progress thread
				   stood aside for pulses (0: never; it
				   doubles while they come, see
				   spool_mpi_submit()) */
	size_t pending;         /**< requests pending now */
} spool_mpi_engine_stats;

/** Fills *out. Returns 0, or SPOOL_EINVAL for NULL. Thread-safe; never
 * blocks (one mutex). */
SPOOL_MPI_API int spool_mpi_engine_stats_get(spool_mpi_engine *e,
					     spool_mpi_engine_stats *out);

/* ---- remote executor -------------------------------------------------- */

/** A remote function: reads len bytes at arg (borrowed, valid during the
 * call), and returns 0 with its result in *result / *result_len, or a
 * positive error code (*result is then freed and ignored). *result is
 * NULL and *result_len 0 on entry; a result must be memory from malloc()
 * (the executor frees it once sent), or NULL with length 0. It runs as a
 * task on the rank's executor (a pool by default), where
 * spool_cancel_requested() works as in any pool task.
 *
 * A function fails with a message as any task does, with
 * `return spool_fail(code, fmt, ...)` (spool/fail.h): the message travels
 * with the code, and the future on the root fails with both
 * (spool_future_error_message()), whichever rank ran it, the root's own
 * threads included. A payload (spool_fail_with()) does not travel: it is
 * freed on the rank that ran the function, as soon as the function
 * returns. What a function records and then does not fail with (another
 * code, or a success) is dropped there too. A name the rank that takes the
 * task has not registered fails with SPOOL_MPI_ENOFN and the message
 * `no function "name" on rank N`. */
typedef int (*spool_mpi_fn)(const void *arg, size_t len, void **result,
			    size_t *result_len);

/** Names fn as name (at most 63 bytes) in this process. Every rank that
 * may run tasks must register the same names before it serves (typically
 * right after MPI_Init, on every rank). Registering a name again replaces
 * its function. Returns 0, SPOOL_EINVAL (NULL or too long a name, NULL
 * fn), SPOOL_ENOMEM. Thread-safe; never blocks. */
SPOOL_MPI_API int spool_mpi_register(const char *name, spool_mpi_fn fn);

/** A remote executor over one communicator (opaque). */
typedef struct spool_mpi_executor spool_mpi_executor;

enum {
	/** The root rank only dispatches: it runs no task itself. */
	SPOOL_MPI_ROOT_DISPATCH_ONLY = 1u
};

/** Options of spool_mpi_executor_create(); zero-initialize for the
 * defaults. */
typedef struct spool_mpi_executor_options {
	/** The dispatching rank; 0 by default. */
	int root;
	/** Where this rank runs tasks (borrowed; must outlive the executor).
	 * NULL: a pool of `threads` workers that the executor makes and
	 * destroys. spool_executor_inline() runs each task on the progress
	 * thread as its message arrives: the fastest for tiny tasks, but a
	 * long task then delays heartbeats and other messages. */
	spool_executor *executor;
	/** Workers of the pool made when executor is NULL. 0: the online
	 * CPUs divided by the ranks on this node, at least 1. */
	int threads;
	/** How many tasks a rank holds at once (running or queued there). A
	 * rank asks for this many when it starts serving and for one more
	 * each time it returns a result: idle ranks pull work, and no rank
	 * queues more than its window while others starve. 0: threads of
	 * this rank's pool (the exact number when the executor is given
	 * is unknown, so then 2). Each rank may use its own. */
	int window;
	/** SPOOL_MPI_* flags. */
	unsigned flags;
	/** Each rank sends a heartbeat when it has sent nothing else for
	 * this long. 0 means 100 ms. */
	int64_t heartbeat_ns;
	/** A rank not heard from for this long is taken for dead: the root
	 * fails the futures of its tasks with SPOOL_MPI_EPEER and sends it
	 * nothing more; a worker whose root falls silent stops serving.
	 * 0 means 10 s. Must exceed heartbeat_ns. */
	int64_t peer_timeout_ns;
	/** The progress engine for the executor's messages (borrowed; must
	 * outlive the executor). NULL: one with a progress thread, made and
	 * destroyed by the executor. */
	spool_mpi_engine *engine;
} spool_mpi_executor_options;

/** The defaults of spool_mpi_executor_options. */
/* clang-format off */
#define SPOOL_MPI_EXECUTOR_OPTIONS_INIT                                        \
	{                                                                      \
		0, NULL, 0, 0, 0u, 0, 0, NULL                                  \
	}
/* clang-format on */

/** Creates an executor over comm, which every rank of comm must call with
 * the same root (collective: it duplicates comm, sets MPI_ERRORS_RETURN
 * on the copy, and counts the ranks on each node). *out gets it. Returns
 * 0; SPOOL_EINVAL (NULL out, a bad root, bad options, an engine that
 * cannot be made for lack of MPI_THREAD_MULTIPLE); SPOOL_ENOMEM;
 * SPOOL_ESYS; SPOOL_MPI_ECOMM (an MPI call failed). Blocks for the
 * collective calls. */
SPOOL_MPI_API int
spool_mpi_executor_create(spool_mpi_executor **out, MPI_Comm comm,
			  const spool_mpi_executor_options *opts);

/** True on the executor's root rank. Thread-safe; never blocks. */
SPOOL_MPI_API bool spool_mpi_executor_is_root(const spool_mpi_executor *ex);

/** The size of the executor's communicator. Thread-safe; never blocks. */
SPOOL_MPI_API int spool_mpi_executor_size(const spool_mpi_executor *ex);

/** Counters of an executor's messages, for tests and tuning (snapshots).
 * On the root: the tasks it sent to other ranks and the messages that
 * carried them, the results it received and their messages. On a worker:
 * the tasks it received and their messages, the results it sent and
 * their messages. Several tasks (results) travel in one message when
 * several are ready at once (see spool_mpi_submit()), so tasks over
 * task_messages is the mean batch. */
typedef struct spool_mpi_executor_stats {
	uint64_t tasks;           /**< tasks sent (root) or received */
	uint64_t task_messages;   /**< messages that carried them */
	uint64_t results;         /**< results received (root) or sent */
	uint64_t result_messages; /**< messages that carried them */
} spool_mpi_executor_stats;

/** Fills *out with ex's counters. Returns 0, or SPOOL_EINVAL for NULL.
 * Thread-safe (each counter exact at some instant); never blocks. Needs no
 * MPI call. */
SPOOL_MPI_API int spool_mpi_executor_stats_get(spool_mpi_executor *ex,
					       spool_mpi_executor_stats *out);

/** On a worker rank: runs the tasks the root sends until the root
 * destroys the executor (returns 0) or falls silent for
 * peer_timeout_ns (returns SPOOL_MPI_EPEER); SPOOL_MPI_ECOMM when MPI
 * fails. On the root it returns SPOOL_EINVAL at once. Call it once, from
 * one thread. Blocks (waits as spool_future_wait(): on a loop engine,
 * call it from a coroutine). */
SPOOL_MPI_API int spool_mpi_executor_serve(spool_mpi_executor *ex);

/** On the root: runs the function registered as name on some rank, with a
 * copy of the len bytes at arg (copied before this returns; arg may be
 * NULL when len is 0), and returns its future (a new reference):
 *   - DONE: the value is a spool_mpi_result (below) with the bytes the
 *     function returned;
 *   - FAILED with the function's positive code (and its message, see
 *     spool_mpi_fn); with SPOOL_MPI_ENOFN if the rank that ran it has no
 *     function of that name; with SPOOL_MPI_EPEER if that rank was lost
 *     (the message names the rank: "rank N held this task and was silent
 *     for over T s"); with SPOOL_MPI_ECOMM if MPI failed; with
 *     SPOOL_ESHUTDOWN if the executor was being destroyed;
 *   - CANCELLED if cancelled before a rank took it (cancel then
 *     returns 0). Once a rank has it, the future is RUNNING and cancel
 *     returns SPOOL_EBUSY; the task then runs to its end.
 * Tasks are handed out in submission order to whichever rank has room in
 * its window. Tasks queued together travel together: when the root hands
 * out work, a rank gets as many of the queued tasks as its window has room
 * for (its share of the queue when several ranks have room) in one
 * message, and a worker answers all the results it has ready in one
 * message. Nothing waits to fill a message, so a lone task is sent at
 * once; a message holds at most 64 KiB of tasks, and a larger argument
 * travels alone. On an engine with a progress thread, every 16th call
 * on a thread makes a progress pass itself when no other thread is in one
 * (so a burst of submissions sends and collects without waking the
 * progress thread, which stands aside meanwhile, 100 us at first and
 * twice as long each time the passes keep coming, up to max_delay_ns:
 * it takes over at most that long after the last such pass);
 * completion callbacks may then run inside this call.
 * Memory: a queued task's name and argument wait at the root in chunks of
 * 64 KiB, and a message of results that fills more than half of a block
 * of 512 bytes or 1 KiB arrives in one (so a result costs at most twice
 * its memory); chunks the queue has emptied and blocks whose results were
 * all freed, up to 16 MiB of each kind, are kept for the next burst of any
 * executor of the process rather than freed (a burst of 100,000 tiny
 * tasks queues about 11 MiB and receives about 6 MiB of blocks).
 * Bad input never returns NULL: a NULL ex or name, or arg NULL with len
 * > 0, give a future FAILED with SPOOL_EINVAL; a call on a worker rank one
 * FAILED with SPOOL_MPI_ENOTROOT. NULL only when out of memory.
 * Thread-safe; never blocks (waits for no other thread: a pass is made
 * only when the progress lock is free). */
SPOOL_MPI_API spool_future *spool_mpi_submit(spool_mpi_executor *ex,
					     const char *name, const void *arg,
					     size_t len);

/** The value of a DONE spool_mpi_submit() future: the result bytes. It is
 * owned by the executor and stays valid until spool_mpi_result_free() or
 * spool_mpi_executor_destroy(), whichever comes first; the future does
 * not own it (a future's value is borrowed). Read it as
 *     const spool_mpi_result *r = spool_future_value(f);
 *     use(r->data, r->size);
 * data is aligned for any type (max_align_t) and NULL when size is 0. */
typedef struct spool_mpi_result {
	size_t size; /**< bytes in data */
	void *data;  /**< the result bytes, NULL when size is 0 */
} spool_mpi_result;

/** Gives a result back to its executor early (bounded memory in a long
 * run). Results that arrived in one message share its memory, which is
 * freed when the last of them is given back. NULL is a no-op. Freeing one
 * result twice, or after the executor's destroy, is a caller bug (a use after
 * free). Thread-safe; never blocks. */
SPOOL_MPI_API void spool_mpi_result_free(spool_mpi_result *r);

/** Destroys the executor. On the root: waits until every submitted task
 * is final (tasks on a lost rank fail after peer_timeout_ns), tells each
 * worker rank to stop and waits for its answer (at most peer_timeout_ns),
 * then frees the communicator copy, the pool it made, and every result
 * not given back. On a worker: call it after spool_mpi_executor_serve()
 * has returned (or without serving). Not collective, so that a lost rank
 * cannot hang it. Call it once, when no other thread uses ex. NULL is a
 * no-op. Blocks. */
SPOOL_MPI_API void spool_mpi_executor_destroy(spool_mpi_executor *ex);

#ifdef __cplusplus
}
#endif

#endif /* SPOOL_MPI_H */
