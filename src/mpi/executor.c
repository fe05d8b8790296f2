/* SPDX-License-Identifier: MIT */
/*
 * The remote executor: registered functions run on whichever rank asks for
 * work, results come back as futures on the root.
 *
 * Protocol. One tag on a private duplicate of the communicator (so MPI's
 * non-overtaking rule orders every message between two ranks), each
 * message a 16-byte header (kind, count, code) and, for the two kinds that
 * carry work, `count` entries:
 *
 *     root -> worker   TASKS (entries: slot, seq, name, argument bytes)
 *                      BEAT (nothing else sent for heartbeat_ns)
 *                      STOP (the executor is being destroyed)
 *     worker -> root   CREDIT (window: the tasks it may hold; sent once,
 *                      when it starts serving)
 *                      RESULTS (entries: slot, seq, code, result bytes;
 *                      each entry gives back one credit)
 *                      BEAT, BYE (the answer to STOP, its last message)
 *
 * An entry is a 32-byte record (slot, name length, seq, byte count, code)
 * followed by the name and then the bytes, each padded to max_align_t, so
 * that in a buffer that starts aligned every argument and every result is
 * aligned for any type where it lies: the worker runs functions on their
 * arguments in the received buffer and the root hands out results in the
 * received buffer, with no copy. Entries are self-describing, so one
 * message can carry tasks (or results) of mixed sizes, from 0 bytes up.
 *
 * Batching. The root sends a rank the tasks that are queued when it
 * dispatches, as many as the rank has credit for, in one TASKS message;
 * a worker sends the results in its outbox, all of them, in one RESULTS
 * message. Nothing waits to fill a batch: a lone task goes at once, alone,
 * so its latency is what it was with one message per task, and under load
 * the messages grow by themselves (the tasks that queued while the last
 * batch was out). A batch holds at most BATCH_BYTES of entries, except
 * that an entry larger than that goes alone; a big argument is sent from
 * the buffer that submit filled, without a copy.
 *
 * Work is pulled: the root sends a rank tasks only while the rank has
 * credit, so a rank holds at most its window and an idle rank is the one
 * that gets the next tasks (the root itself is one of the ranks, through
 * its own pool, unless SPOOL_MPI_ROOT_DISPATCH_ONLY). When several ranks
 * have room, the queue is shared out: a rank gets at most its share of
 * the queue (the queue over the ranks with room, rounded up), so that a
 * short queue is spread as it was one task at a time. Each rank's tasks
 * sit in a slot array of window entries at the root; a result names its
 * slot, and the sequence number catches a stale one.
 *
 * Everything that touches MPI runs in the engine's pollers (root_poll,
 * worker_poll) under the progress lock; other threads only queue work
 * under ex->mu and kick the engine: spool_mpi_submit() queues a task, a
 * worker's pool task queues its result in the outbox. A kick is needed
 * only when the queue (outbox) was empty: a pass takes everything queued
 * from the head on, so a task queued behind others goes with them, and
 * the kick of the first one brings that pass (a pass that took the queue
 * empty before our append leaves it empty, and our append kicks again).
 * The pollers test their own sends (MPI_Testsome at each pass) rather
 * than hand each one to the engine, whose inbox costs two locks and a
 * kick; what is still pending when a poller leaves goes to the engine.
 *
 * Pulses. A thread that submits a burst does not leave the passes to the
 * progress thread: every PULSE_EVERY submissions it makes one itself
 * (spool__mpi_pulse, if no other thread is in one), which dispatches what
 * it queued and takes in results, and the progress thread stands aside
 * meanwhile (engine.c, "Submitting threads pulse"). Two threads taking
 * turns at one queue cost a lock hand-off and often a context switch per
 * pass; one thread doing both costs neither, and leaves the other cores
 * to the ranks that run the tasks.
 *
 * The root's memory per task. The queue is a list of 64 KiB chunks: submit
 * appends the task's record (future, seq) and its entry under the lock it
 * takes anyway, the pass takes records from the front and copies their
 * entries into the batch, and the rank's slot keeps only future and seq.
 * A chunk the pass has used up goes back to a bounded cache of chunks
 * shared by the process (blocks.h), so that a steady flow of tasks
 * allocates nothing but its future, and a burst finds the chunks of the
 * last one still mapped; a task whose entry exceeds INLINE_MAX gets a
 * message buffer of its own instead, sent as it is when it goes alone. A
 * RESULTS message is received into one block (struct rbuf) that is the
 * results' memory: each entry's 32-byte record is overwritten by the
 * result's node (the public spool_mpi_result and a pointer to its block),
 * the bytes stay where they arrived, and the block counts the results
 * still out; spool_mpi_result_free() drops one and the last gives the
 * block back (to its cache, or to free()).
 *
 * The worker. One block per TASKS message holds the records of all its
 * tasks, and the message itself (the arguments) stays until the last of
 * them has been answered (a reference per task). On a pool, batches go
 * into a run queue; runners (pool tasks, at most one per pool thread of
 * the rank's own pool, one per task on another executor) take tasks from
 * it in order and put the answers in the outbox (a lone runner claims and
 * hands in several at a time, under one lock each way: see worker_run). A
 * runner on the rank's own pool waits for the next batch as long as the
 * engine's spin window (spin_ns), driving progress, before it ends: a pool
 * thread that parked between two batches would cost a wake-up per batch,
 * more than a batch of tiny tasks. On the inline executor the runner is inside
 * the pass already: it sends answers itself, and the first half of a batch
 * before it runs the second half, so that the root can send more work meanwhile
 * (with whole batches only, the two ranks would take turns).
 *
 * Failures. MPI 4.1 without ULFM reports no dead process (and mpirun
 * usually ends the whole job), so liveness is the executor's own:
 * every rank sends a BEAT when it has sent nothing for heartbeat_ns, and
 * a rank silent for peer_timeout_ns is dead. The root then fails the
 * futures in that rank's slots with SPOOL_MPI_EPEER (every task of every
 * batch it held) and sends it nothing more; a worker whose root is silent
 * ends spool_mpi_executor_serve() with SPOOL_MPI_EPEER. No call waits on
 * a message from one rank without that deadline, and destroy uses no
 * collective call.
 */
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/futex.h"
#include "mpi/internal.h"
#include "mpi/blocks.h"

#define TAG 7301
/* The most bytes of entries in one message (an entry larger than this
 * goes alone). */
#define BATCH_BYTES ((size_t)64 * 1024)
/* A task whose entry is larger than this gets a message buffer of its
 * own at submit (sent as it is when it goes alone); smaller ones live in
 * the queue's chunks and are copied into a batch. */
#define INLINE_MAX ((size_t)4096)
/* A thread's submissions between two passes of its own (see the top). */
#define PULSE_EVERY 16

#define ALIGNMENT _Alignof(max_align_t)
#define ALIGN_UP(n) (((n) + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT)

enum kind { K_TASKS = 1, K_RESULTS, K_CREDIT, K_BEAT, K_STOP, K_BYE };

/* Ranks must share byte order and type sizes (arguments are raw bytes
 * anyway). */
struct hdr {
	uint32_t kind;
	uint32_t count; /* entries after the header */
	int32_t code;   /* CREDIT: the window */
	uint32_t pad;
};
#define HDR_SIZE ALIGN_UP(sizeof(struct hdr))

/* One task or result in a message; name then bytes follow, each padded
 * to ALIGNMENT. */
struct entry {
	uint32_t slot;
	uint32_t name_len; /* a task's name; 0 in a result */
	uint64_t seq;
	uint64_t len; /* argument or result bytes */
	int32_t code; /* a result's: 0 or the error */
	uint32_t pad;
};
#define ENTRY_SIZE ALIGN_UP(sizeof(struct entry))

static size_t entry_size(size_t name_len, size_t len)
{
	return ENTRY_SIZE + ALIGN_UP(name_len) + ALIGN_UP(len);
}

/* A block of results at the root: a RESULTS message received after this
 * header, or one result of a task the root ran itself. Linked in
 * ex->results while any of its results is out. */
struct rbuf {
	struct rbuf *prev, *next;
	spool_mpi_executor *ex;
	atomic_size_t refs; /* results out, + 1 while being filled */
	bool linked;
	/* The cache its block came from (rblock_cache), or NULL. */
	struct spool__mpi_blocks *cache;
};
#define RBUF_OFF ALIGN_UP(sizeof(struct rbuf))

/* A result handed out: written over its entry's record in the block. */
struct rnode {
	spool_mpi_result r; /* first: spool_mpi_result_free() casts back */
	struct rbuf *b;
};
_Static_assert(sizeof(struct rnode) <= sizeof(struct entry),
	       "a result's node fits in its entry's record");

/* A task waiting in the root's queue: this record, then its entry (unless
 * it has a message of its own), in a chunk of the queue. */
struct qrec {
	spool_future *f; /* the executor's reference */
	uint64_t seq;
	size_t esize;       /* bytes of its entry */
	size_t rsize;       /* bytes of the record with its entry */
	unsigned char *msg; /* NULL, or header + entry (a large task) */
};
#define QREC_OFF ALIGN_UP(sizeof(struct qrec))

static unsigned char *qrec_entry(struct qrec *q)
{
	return q->msg ? q->msg + HDR_SIZE : (unsigned char *)q + QREC_OFF;
}

/* A piece of the queue: records one after the other from QCHUNK_OFF,
 * appended by submit at `used` and taken by the pass from `read` (both
 * under mu). Memory for tasks comes a chunk at a time, not a malloc per
 * task; a chunk the pass has emptied goes back to the chunks' cache
 * (chunks_put). */
struct qchunk {
	struct qchunk *next;
	size_t cap, used, read;
};
#define QCHUNK_OFF ALIGN_UP(sizeof(struct qchunk))
#define QCHUNK_BYTES ((size_t)64 * 1024)

/* A task a rank holds: the slot of its window at the root. */
struct slot {
	spool_future *f; /* NULL: free */
	uint64_t seq;
};

/* A task the root runs itself, from dispatch to its end: its entry follows
 * at TASK_OFF unless it has a message of its own. */
struct task {
	spool_mpi_executor *ex;
	spool_future *f;
	unsigned char *msg;
};
#define TASK_OFF ALIGN_UP(sizeof(struct task))

static unsigned char *task_entry(struct task *t)
{
	return t->msg ? t->msg + HDR_SIZE : (unsigned char *)t + TASK_OFF;
}

struct peer {
	struct slot *slots;
	int *free; /* a stack of the free slots: credits == nfree */
	int nslots, nfree;
	int64_t last_heard, last_sent;
	bool joined; /* its CREDIT came */
	bool dead;
	bool stop_sent, bye;
};

/* A task on a worker rank, from its message to its result's send. */
struct wbatch;
struct wtask {
	struct wtask *next; /* in the outbox */
	struct wbatch *b;
	const char *name;
	const unsigned char *arg; /* in b->msg */
	size_t name_len, len;
	uint32_t slot;
	uint64_t seq;
	int code;
	void *out;
	size_t out_len;
};

/* A TASKS message on a worker and the records of its tasks. */
struct wbatch {
	spool_mpi_executor *ex;
	struct wbatch *rq_next; /* in ex's run queue */
	unsigned char *msg;
	atomic_uint next; /* the next entry to claim (inline: its runner;
			     otherwise under ex->mu) */
	atomic_uint refs; /* tasks not yet answered (sent or dropped), and
			     the receiver while it hands the batch out */
	unsigned n;
	struct wtask t[];
};

struct spool_mpi_executor {
	MPI_Comm comm;
	int rank, size, root;
	bool is_root;
	spool_mpi_engine *engine;
	bool own_engine;
	spool_executor *exec;
	spool_pool *own_pool;
	int threads; /* of own_pool */
	int window;
	unsigned flags;
	int64_t hb_ns, timeout_ns;

	pthread_mutex_t mu;
	/* root (mu): queue, results */
	struct qchunk *q_first, *q_last;
	atomic_size_t q_len; /* changed under mu; read without it as a hint */
	bool closing;        /* destroy began: refuse submissions */
	struct rbuf results; /* list head */
	uint64_t next_seq;
	atomic_size_t outstanding; /* submitted, not final */
	atomic_bool stopping;
	/* root (progress lock) */
	struct qrec **scratch; /* the records a pass took */
	size_t cap_scratch;
	struct peer *peers;
	int rr;            /* round robin start */
	int local_credits; /* mu: free local slots */
	bool polling;      /* the poller is registered */

	/* worker (mu: outbox, run queue; progress lock: the rest) */
	struct wtask *out_head, *out_tail;
	atomic_bool out_any;              /* the outbox is not empty (a hint) */
	struct wbatch *rq_head, *rq_tail; /* batches with unclaimed tasks */
	atomic_uint rq_n; /* batches in it (a hint for lingering runners) */
	unsigned live;    /* runners (pool tasks) alive */
	int64_t last_heard, last_sent;
	bool credit_sent, bye_sent;
	spool_future *stop_f; /* completed with serve's outcome */

	/* Sends MPI has not completed yet, with their buffers (progress
	 * lock): tested at each poll, handed to the engine when the poller
	 * leaves. */
	MPI_Request *sends;
	void **send_bufs;
	int *send_idx;
	int nsends, cap_sends;
	int64_t now; /* the time the current poll started (progress lock) */

	/* Written in passes only (one writer); relaxed: counters read as
	 * snapshots. */
	atomic_uint_fast64_t st_tasks, st_task_msgs, st_results, st_result_msgs;
};

static void count(atomic_uint_fast64_t *c, uint64_t n)
{
	/* relaxed: a statistic with one writer */
	atomic_store_explicit(c,
			      atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static void *xmalloc_aligned(size_t n)
{
	/* malloc gives max_align_t alignment. */
	return malloc(n ? n : 1);
}

/* The caches of the root's memory (blocks.h), for every executor of the
 * process: up to 16 MiB of queue chunks (a burst of 100,000 tiny tasks
 * queues some 170), and result blocks in two sizes, up to 8 MiB of each
 * (the same burst's results arrive in some 12,500 messages of about 450
 * bytes). A RESULTS message is received into the smaller block it fits
 * with its struct rbuf, if it fills more than half of it: a block then
 * holds at most twice what malloc would have given, so that results kept
 * for long cost at most twice their memory. Smaller messages (a lone
 * result) and larger ones get memory of their own size, as any other
 * message. */
static struct spool__mpi_blocks qchunks = SPOOL__MPI_BLOCKS_INIT(
	QCHUNK_OFF + QCHUNK_BYTES, 256);
#define RBLOCKS_SMALL 512
#define RBLOCKS_LARGE 1024
static struct spool__mpi_blocks rblocks[] = {
	SPOOL__MPI_BLOCKS_INIT(RBLOCKS_SMALL, 16 * 1024),
	SPOOL__MPI_BLOCKS_INIT(RBLOCKS_LARGE, 8 * 1024),
};
/* What spool_mpi_submit()'s header promises: up to 16 MiB of each kind. */
_Static_assert(256 * QCHUNK_BYTES == (size_t)16 << 20, "16 MiB of chunks");
_Static_assert(16 * 1024 * RBLOCKS_SMALL + 8 * 1024 * RBLOCKS_LARGE ==
		       (size_t)16 << 20,
	       "16 MiB of result blocks");

/* A chunk with room for at least rsize bytes of records (cap set), or
 * NULL when out of memory. */
static struct qchunk *chunk_get(size_t rsize)
{
	struct qchunk *c;
	size_t cap = QCHUNK_BYTES;
	if (rsize <= QCHUNK_BYTES) {
		c = spool__mpi_blocks_get(&qchunks);
	} else {
		cap = rsize;
		c = xmalloc_aligned(QCHUNK_OFF + cap);
	}
	if (c)
		c->cap = cap;
	return c;
}

/* Gives back a list of chunks linked through next (NULL: none). */
static void chunks_put(struct qchunk *list)
{
	while (list) {
		struct qchunk *c = list;
		list = c->next;
		if (c->cap == QCHUNK_BYTES)
			spool__mpi_blocks_put(&qchunks, c);
		else
			free(c);
	}
}

/* The cache of the blocks for a message of n bytes received room bytes
 * after the buffer's start (RBUF_OFF at the root: its struct rbuf goes
 * there), or NULL for memory of its own size. Every buffer of a message is
 * given back knowing the message's size, so it finds its cache again. */
static struct spool__mpi_blocks *rblock_cache(size_t room, size_t n)
{
	if (room != RBUF_OFF)
		return NULL; /* a worker's */
	return spool__mpi_blocks_pick(
		rblocks, sizeof rblocks / sizeof rblocks[0], room + n);
}

static void *rblock_get(size_t room, size_t n)
{
	struct spool__mpi_blocks *c = rblock_cache(room, n);
	return c ? spool__mpi_blocks_get(c) : xmalloc_aligned(room + n);
}

static void rblock_put(void *b, size_t room, size_t n)
{
	struct spool__mpi_blocks *c = rblock_cache(room, n);
	if (c)
		spool__mpi_blocks_put(c, b);
	else
		free(b);
}

/* ---- sending ------------------------------------------------------------ */

static void send_done(void *arg, const MPI_Status *st, int err, bool cancelled)
{
	(void)st;
	(void)err;
	(void)cancelled;
	free(arg);
}

/* Sends buf (len bytes, malloc'd; the send owns it from here) to dest.
 * Progress lock held. Returns 0 or an error (buf then freed). */
static int send_owned(spool_mpi_executor *ex, int dest, void *buf, size_t len)
{
	MPI_Request req;
	int rc = MPI_Isend(buf, (int)len, MPI_BYTE, dest, TAG, ex->comm, &req);
	if (rc != MPI_SUCCESS) {
		free(buf);
		return SPOOL_MPI_ECOMM;
	}
	/* A small send is often complete at once (eager): free it here.
	 * Otherwise the poller tests it from now on: the engine's inbox would
	 * cost two of its locks and a kick per message. */
	int flag = 0;
	if (MPI_Test(&req, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS || flag) {
		free(buf);
		return 0;
	}
	if (ex->nsends == ex->cap_sends) {
		int cap = ex->cap_sends ? 2 * ex->cap_sends : 16;
		MPI_Request *r = realloc(ex->sends, (size_t)cap * sizeof *r);
		if (r)
			ex->sends = r;
		void **b = realloc(ex->send_bufs, (size_t)cap * sizeof *b);
		if (b)
			ex->send_bufs = b;
		int *ix = realloc(ex->send_idx, (size_t)cap * sizeof *ix);
		if (ix)
			ex->send_idx = ix;
		if (r && b && ix)
			ex->cap_sends = cap;
	}
	if (ex->nsends < ex->cap_sends) {
		ex->sends[ex->nsends] = req;
		ex->send_bufs[ex->nsends] = buf;
		ex->nsends++;
		return 0;
	}
	if (spool__mpi_track(ex->engine, req, send_done, buf) != 0) {
		/* No memory to track it: wait for this one send here. A
		 * small message completes at once (eager). */
		MPI_Wait(&req, MPI_STATUS_IGNORE);
		free(buf);
	}
	return 0;
}

/* Tests the pending sends; frees the buffers of those complete. Progress
 * lock held. */
static void test_sends(spool_mpi_executor *ex)
{
	if (ex->nsends == 0)
		return;
	int out = 0;
	int rc = MPI_Testsome(ex->nsends, ex->sends, &out, ex->send_idx,
			      MPI_STATUSES_IGNORE);
	if (rc != MPI_SUCCESS && rc != MPI_ERR_IN_STATUS)
		return; /* tried again at the next poll */
	if (out == MPI_UNDEFINED || out == 0)
		return;
	for (int k = 0; k < out; k++) {
		int i = ex->send_idx[k];
		free(ex->send_bufs[i]);
		ex->send_bufs[i] = NULL;
		ex->sends[i] = MPI_REQUEST_NULL;
	}
	int j = 0;
	for (int i = 0; i < ex->nsends; i++) {
		if (!ex->send_bufs[i])
			continue;
		ex->sends[j] = ex->sends[i];
		ex->send_bufs[j] = ex->send_bufs[i];
		j++;
	}
	ex->nsends = j;
}

/* The poller is gone: the engine tests what is still pending (it drains
 * or gives up on them when it is destroyed). Any thread, no pass running
 * this executor's poller. */
static void hand_sends_over(spool_mpi_executor *ex)
{
	for (int i = 0; i < ex->nsends; i++) {
		if (spool__mpi_track(ex->engine, ex->sends[i], send_done,
				     ex->send_bufs[i]) != 0) {
			/* No memory to track it: let MPI finish it alone;
			 * its buffer is lost, since MPI may still read it. */
			MPI_Request_free(&ex->sends[i]);
		}
	}
	ex->nsends = 0;
	free(ex->sends);
	free(ex->send_bufs);
	free(ex->send_idx);
	ex->sends = NULL;
	ex->send_bufs = NULL;
	ex->send_idx = NULL;
	ex->cap_sends = 0;
}

static int send_small(spool_mpi_executor *ex, int dest, enum kind k,
		      int32_t code)
{
	struct hdr *h = calloc(1, HDR_SIZE);
	if (!h)
		return SPOOL_ENOMEM;
	h->kind = k;
	h->code = code;
	return send_owned(ex, dest, h, HDR_SIZE);
}

/* Receives the next message from src (MPI_ANY_SOURCE at the root) if one
 * has arrived: *buf gets it (malloc'd, with `room` bytes free before it
 * for an rbuf), *len its size, *from its source. Returns 1, 0 when
 * there is none, or an error. Progress lock held. */
static int recv_next(spool_mpi_executor *ex, int src, size_t room,
		     unsigned char **buf, size_t *len, int *from)
{
	int flag = 0;
	MPI_Message m;
	MPI_Status st;
	if (MPI_Improbe(src, TAG, ex->comm, &flag, &m, &st) != MPI_SUCCESS)
		return SPOOL_MPI_ECOMM;
	if (!flag)
		return 0;
	int count = 0;
	MPI_Get_count(&st, MPI_BYTE, &count);
	unsigned char *b = rblock_get(room, (size_t)count);
	if (!b) {
		/* Receive into a scratch header to keep the stream going;
		 * the message is lost (its tasks' futures fail when the
		 * rank is lost, or never: see docs/mpi.md). */
		static struct hdr scratch[1024];
		MPI_Mrecv(scratch, (int)sizeof scratch, MPI_BYTE, &m, &st);
		return SPOOL_ENOMEM;
	}
	if (MPI_Mrecv(b + room, count, MPI_BYTE, &m, &st) != MPI_SUCCESS) {
		rblock_put(b, room, (size_t)count);
		return SPOOL_MPI_ECOMM;
	}
	*buf = b;
	*len = (size_t)count;
	*from = st.MPI_SOURCE;
	return 1;
}

/* The entry at off in msg (len bytes), checked to lie inside it with its
 * name and bytes; NULL if it does not. */
static const struct entry *entry_at(const unsigned char *msg, size_t len,
				    size_t off)
{
	if (off > len || len - off < ENTRY_SIZE)
		return NULL;
	const struct entry *e = (const struct entry *)(msg + off);
	if (e->name_len > SPOOL__MPI_NAME_MAX || e->len > len ||
	    entry_size(e->name_len, (size_t)e->len) > len - off)
		return NULL;
	return e;
}

/* ---- root: results ------------------------------------------------------ */

/* Drops one reference to b; the last unlinks and frees it. */
static void rbuf_release(struct rbuf *b)
{
	/* acq_rel: the last owner frees after every other owner's reads. */
	if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (b->linked) {
		spool_mpi_executor *ex = b->ex;
		pthread_mutex_lock(&ex->mu);
		b->prev->next = b->next;
		b->next->prev = b->prev;
		pthread_mutex_unlock(&ex->mu);
	}
	if (b->cache)
		spool__mpi_blocks_put(b->cache, b);
	else
		free(b);
}

/* Links b in the executor's list (before its first result goes out, so
 * that destroy frees what users never gave back). */
static void rbuf_link(spool_mpi_executor *ex, struct rbuf *b)
{
	pthread_mutex_lock(&ex->mu);
	b->next = ex->results.next;
	b->prev = &ex->results;
	ex->results.next->prev = b;
	ex->results.next = b;
	pthread_mutex_unlock(&ex->mu);
	b->linked = true;
}

/* Makes the entry record at e (in b) the node of a result of len bytes
 * at data, counted in b. */
static spool_mpi_result *rbuf_result(struct rbuf *b, void *e, void *data,
				     size_t len)
{
	if (!b->linked)
		rbuf_link(b->ex, b);
	/* relaxed: we hold a reference, and the result reaches its user
	 * through the promise, which publishes it. */
	atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
	struct rnode *n = e;
	n->b = b;
	n->r.size = len;
	n->r.data = len ? data : NULL;
	return &n->r;
}

void spool_mpi_result_free(spool_mpi_result *r)
{
	if (!r)
		return;
	rbuf_release(((struct rnode *)r)->b);
}

/* Ends the task of future f (the executor's reference) with err (0: value
 * r), and with the failure's message msg when there is one (NULL: a bare
 * code). */
static void task_end(spool_mpi_executor *ex, spool_future *f, int err,
		     spool_mpi_result *r, const char *msg)
{
	if (err == 0)
		spool_promise_set_result(f, r);
	else if (!msg ||
		 spool_promise_set_error_detail(f, err, msg, NULL, NULL) != 0)
		spool_promise_set_error(f, err); /* a cancel, or no memory */
	spool_future_release(f);
	atomic_fetch_sub(&ex->outstanding, 1);
}

/* Ends a queued task that never leaves the root. */
static void qrec_end(spool_mpi_executor *ex, struct qrec *q, int err)
{
	free(q->msg);
	q->msg = NULL;
	task_end(ex, q->f, err, NULL, NULL);
}

/* ---- root: running a task itself ---------------------------------------- */

/* Runs fn, the function named name on this rank (NULL: there is none),
 * on its argument (len bytes at arg). Returns its code, with its result in
 * *out / *out_len, or on failure the failure's message there, as a
 * RESULTS entry carries it: the bytes and their NUL (none: NULL and 0).
 * The message is what the function recorded with spool_fail() for that
 * code (taken back from the task this runs in, where spool_fail()
 * records); whatever it recorded otherwise is dropped here, so that it
 * cannot stick to the next function this task runs. */
static int call_fn(spool_mpi_fn fn, const char *name, size_t name_len, int rank,
		   const void *arg, size_t len, void **out, size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	int rc;
	char *msg = NULL;
	if (!fn) {
		rc = SPOOL_MPI_ENOFN;
		size_t n = name_len + 64;
		msg = malloc(n);
		if (msg)
			snprintf(msg, n, "no function \"%.*s\" on rank %d",
				 (int)name_len, name, rank);
	} else {
		rc = fn(arg, len, out, out_len);
		if (rc == 0) {
			(void)spool_fail_take(0); /* drops; always NULL */
			return 0;
		}
		free(*out);
		msg = spool_fail_take(rc);
	}
	*out = msg;
	*out_len = msg ? strlen(msg) + 1 : 0;
	return rc;
}

/* Runs the function an entry names, as call_fn. */
static int run_fn(const char *name, size_t name_len, int rank, const void *arg,
		  size_t len, void **out, size_t *out_len)
{
	return call_fn(spool__mpi_lookup(name, name_len), name, name_len, rank,
		       arg, len, out, out_len);
}

static int local_task(void *arg, void **result)
{
	struct task *t = arg;
	spool_mpi_executor *ex = t->ex;
	(void)result;
	const struct entry *e = (const struct entry *)task_entry(t);
	const char *name = (const char *)e + ENTRY_SIZE;
	void *out = NULL;
	size_t out_len = 0;
	int rc = run_fn(name, e->name_len, ex->rank,
			name + ALIGN_UP(e->name_len), (size_t)e->len, &out,
			&out_len);
	const char *msg = rc ? out : NULL; /* a failure's message */
	spool_mpi_result *r = NULL;
	if (rc == 0) {
		/* A block of one result, as a RESULTS message would be. */
		struct rbuf *b = xmalloc_aligned(RBUF_OFF + ENTRY_SIZE +
						 out_len);
		if (!b) {
			rc = SPOOL_ENOMEM;
		} else {
			unsigned char *rec = (unsigned char *)b + RBUF_OFF;
			b->ex = ex;
			b->linked = false;
			b->cache = NULL;
			atomic_init(&b->refs, 1);
			if (out_len)
				memcpy(rec + ENTRY_SIZE, out, out_len);
			r = rbuf_result(b, rec, rec + ENTRY_SIZE, out_len);
			rbuf_release(b); /* the result's reference stays */
		}
	}
	task_end(ex, t->f, rc, r, msg);
	free(out);
	free(t->msg);
	free(t);
	pthread_mutex_lock(&ex->mu);
	ex->local_credits++;
	pthread_mutex_unlock(&ex->mu);
	spool__mpi_kick(ex->engine);
	return 0;
}

/* ---- root: the poller --------------------------------------------------- */

/* Runs queued task q on the root's own executor (one local credit
 * taken). */
static void dispatch_local(spool_mpi_executor *ex, struct qrec *q)
{
	struct task *t = xmalloc_aligned(TASK_OFF + (q->msg ? 0 : q->esize));
	if (!t) {
		qrec_end(ex, q, SPOOL_ENOMEM);
		goto credit;
	}
	t->ex = ex;
	t->f = q->f;
	t->msg = q->msg;
	if (!q->msg)
		memcpy((unsigned char *)t + TASK_OFF, qrec_entry(q), q->esize);
	spool_future *pf = spool_submit(ex->exec, local_task, t);
	if (pf && spool_future_state(pf) != SPOOL_FAILED) {
		spool_future_release(pf);
		return;
	}
	int err = pf ? spool_future_error(pf) : SPOOL_ENOMEM;
	spool_future_release(pf);
	task_end(ex, t->f, err, NULL, NULL);
	free(t->msg);
	free(t);
credit:
	pthread_mutex_lock(&ex->mu);
	ex->local_credits++;
	pthread_mutex_unlock(&ex->mu);
}

/* Sends the k queued tasks qs (bytes: the sum of their entries) to peer r
 * in one TASKS message; r has at least k credits. */
static void dispatch_batch(spool_mpi_executor *ex, int r, struct qrec **qs,
			   unsigned k, size_t bytes)
{
	struct peer *p = &ex->peers[r];
	unsigned char *msg;
	size_t len = HDR_SIZE + bytes;
	if (k == 1 && qs[0]->msg) {
		msg = qs[0]->msg; /* a large task goes as it is */
		qs[0]->msg = NULL;
	} else {
		msg = xmalloc_aligned(len);
		if (!msg) {
			for (unsigned i = 0; i < k; i++)
				qrec_end(ex, qs[i], SPOOL_ENOMEM);
			return;
		}
		size_t off = HDR_SIZE;
		for (unsigned i = 0; i < k; i++) {
			memcpy(msg + off, qrec_entry(qs[i]), qs[i]->esize);
			off += qs[i]->esize;
			free(qs[i]->msg); /* copied: done with it */
			qs[i]->msg = NULL;
		}
	}
	struct hdr *h = (struct hdr *)msg;
	memset(h, 0, sizeof *h);
	h->kind = K_TASKS;
	h->count = k;
	size_t off = HDR_SIZE;
	int first = p->nfree;
	for (unsigned i = 0; i < k; i++) {
		int s = p->free[--p->nfree];
		p->slots[s].f = qs[i]->f;
		p->slots[s].seq = qs[i]->seq;
		((struct entry *)(msg + off))->slot = (uint32_t)s;
		off += qs[i]->esize;
	}
	p->last_sent = ex->now;
	count(&ex->st_tasks, k);
	count(&ex->st_task_msgs, 1);
	if (send_owned(ex, r, msg, len) != 0) {
		/* The slots just taken are the ones above nfree again. */
		while (p->nfree < first) {
			struct slot *sl = &p->slots[p->free[p->nfree++]];
			spool_future *f = sl->f;
			sl->f = NULL;
			task_end(ex, f, SPOOL_MPI_ECOMM, NULL, NULL);
		}
	}
}

/* The next rank with room, round robin; -1 if none. *nroom gets the number
 * of ranks with room. A local pick takes one local credit.
 *
 * The tail: once the queue holds no more tasks than there are ranks that
 * could take them, a rank that still holds a task has no room, only an
 * idle one has. Queued behind a running task, the last tasks of a job
 * would wait on a busy rank while another sits idle (with tasks of 9 ms
 * and a window of 2, the last 20 ms of a 130 ms run had one rank idle);
 * held back, each goes to the first rank that runs out of work. Before
 * the tail, the window keeps every rank's next task at hand. */
static int pick(spool_mpi_executor *ex, size_t queued, int *nroom)
{
	int local = 0;
	if (ex->exec) { /* the root runs tasks too */
		pthread_mutex_lock(&ex->mu);
		local = ex->local_credits;
		pthread_mutex_unlock(&ex->mu);
	}
	/* Ranks that could take tasks, and whether we are at the tail. */
	int takers = ex->exec ? 1 : 0;
	for (int r = 0; r < ex->size; r++) {
		struct peer *p = &ex->peers[r];
		if (r != ex->rank && p->joined && !p->dead && !p->stop_sent)
			takers++;
	}
	bool tail = queued <= (size_t)takers;
	int found = -1, n = 0;
	for (int k = 0; k < ex->size; k++) {
		int r = (ex->rr + k) % ex->size;
		bool room;
		if (r == ex->rank) {
			room = tail ? local == ex->window : local > 0;
		} else {
			struct peer *p = &ex->peers[r];
			room = !p->dead && !p->stop_sent &&
			       (tail ? p->joined && p->nfree == p->nslots
				     : p->nfree > 0);
		}
		if (!room)
			continue;
		n++;
		if (found < 0)
			found = r;
	}
	*nroom = n;
	if (found < 0)
		return -1;
	if (found == ex->rank) {
		/* Local credits only grow elsewhere: still > 0. */
		pthread_mutex_lock(&ex->mu);
		ex->local_credits--;
		pthread_mutex_unlock(&ex->mu);
	}
	ex->rr = (found + 1) % ex->size;
	return found;
}

static bool anyone_alive(spool_mpi_executor *ex)
{
	if (!(ex->flags & SPOOL_MPI_ROOT_DISPATCH_ONLY))
		return true;
	for (int r = 0; r < ex->size; r++)
		if (r != ex->rank && !ex->peers[r].dead)
			return true;
	return false;
}

/* Takes up to max tasks (at most cap_scratch) from the head of the queue
 * into ex->scratch, at most `cap` bytes of entries (but at least one);
 * *bytes gets their size. Returns their number. The records stay valid
 * until queue_trim(). */
static unsigned take(spool_mpi_executor *ex, size_t max, size_t cap,
		     size_t *bytes)
{
	if (max > ex->cap_scratch)
		max = ex->cap_scratch;
	unsigned k = 0;
	size_t b = 0;
	pthread_mutex_lock(&ex->mu);
	struct qchunk *c = ex->q_first;
	while (c && k < max) {
		if (c->read == c->used) {
			c = c->next;
			continue;
		}
		struct qrec *q = (struct qrec *)((unsigned char *)c +
						 QCHUNK_OFF + c->read);
		if (k > 0 && b + q->esize > cap)
			break;
		ex->scratch[k++] = q;
		b += q->esize;
		c->read += q->rsize;
	}
	/* relaxed: mu orders the writers */
	atomic_store_explicit(
		&ex->q_len,
		atomic_load_explicit(&ex->q_len, memory_order_relaxed) - k,
		memory_order_relaxed);
	pthread_mutex_unlock(&ex->mu);
	*bytes = b;
	return k;
}

/* Gives back the queue's chunks that are used up, now that the pass is
 * done with the records it took, to chunks_put(); the last chunk, when
 * emptied, starts over. */
static void queue_trim(spool_mpi_executor *ex)
{
	struct qchunk *drop = NULL;
	pthread_mutex_lock(&ex->mu);
	struct qchunk *c = ex->q_first;
	while (c && c->read == c->used && c != ex->q_last) {
		ex->q_first = c->next;
		c->next = drop;
		drop = c;
		c = ex->q_first;
	}
	if (c && c->read == c->used)
		c->read = c->used = 0;
	pthread_mutex_unlock(&ex->mu);
	chunks_put(drop);
}

/* Starts the k tasks of qs: those cancelled while queued end CANCELLED
 * here. Keeps the started ones at the front (in order); *bytes is
 * updated. Returns their number. */
static unsigned start_all(spool_mpi_executor *ex, struct qrec **qs, unsigned k,
			  size_t *bytes)
{
	unsigned n = 0;
	for (unsigned i = 0; i < k; i++) {
		if (spool_promise_start(qs[i]->f) != 0) {
			*bytes -= qs[i]->esize;
			qrec_end(ex, qs[i], SPOOL_ECANCELLED);
		} else {
			qs[n++] = qs[i];
		}
	}
	return n;
}

static int dispatch(spool_mpi_executor *ex)
{
	int events = 0;
	for (;;) {
		/* relaxed: a hint; take() looks at the queue under mu, and a
		 * task queued after this read kicks the engine for another
		 * pass (see the top). */
		size_t queued = atomic_load_explicit(&ex->q_len,
						     memory_order_relaxed);
		if (!queued)
			break;
		int nroom = 0;
		int r = pick(ex, queued, &nroom);
		size_t bytes;
		unsigned n;
		if (r < 0) {
			if (anyone_alive(ex))
				break;
			/* Nobody left: fail the queue. */
			while ((n = take(ex, SIZE_MAX, SIZE_MAX, &bytes)) > 0) {
				for (unsigned i = 0; i < n; i++)
					qrec_end(ex, ex->scratch[i],
						 SPOOL_MPI_EPEER);
				events += (int)n;
				queue_trim(ex);
			}
			continue;
		}
		if (r == ex->rank) {
			n = take(ex, 1, SIZE_MAX, &bytes);
			n = start_all(ex, ex->scratch, n, &bytes);
			if (n) {
				dispatch_local(ex, ex->scratch[0]);
			} else {
				pthread_mutex_lock(&ex->mu);
				ex->local_credits++;
				pthread_mutex_unlock(&ex->mu);
			}
			queue_trim(ex);
			events++;
			continue;
		}
		/* The rank's share of the queue, within its credits. */
		struct peer *p = &ex->peers[r];
		size_t share = (queued + (size_t)nroom - 1) / (size_t)nroom;
		if (share > (size_t)p->nfree)
			share = (size_t)p->nfree;
		n = take(ex, share, BATCH_BYTES, &bytes);
		events += (int)n;
		n = start_all(ex, ex->scratch, n, &bytes);
		if (n)
			dispatch_batch(ex, r, ex->scratch, n, bytes);
		queue_trim(ex);
	}
	return events;
}

/* Rank r has been silent for longer than the timeout: it is taken for
 * lost, and the tasks it held fail with SPOOL_MPI_EPEER and a message that
 * names it. */
static void peer_lost(spool_mpi_executor *ex, int r)
{
	struct peer *p = &ex->peers[r];
	p->dead = true;
	char msg[96];
	snprintf(msg, sizeof msg,
		 "rank %d held this task and was silent for over %.1f s", r,
		 (double)ex->timeout_ns / 1e9);
	for (int i = 0; i < p->nslots; i++) {
		spool_future *f = p->slots[i].f;
		if (f) {
			p->slots[i].f = NULL;
			task_end(ex, f, SPOOL_MPI_EPEER, NULL, msg);
		}
	}
	p->nfree = 0;
}

/* A RESULTS message from peer p, in block b (the message at RBUF_OFF). */
static void root_results(spool_mpi_executor *ex, struct peer *p, struct rbuf *b,
			 size_t len)
{
	unsigned char *msg = (unsigned char *)b + RBUF_OFF;
	const struct hdr *h = (const struct hdr *)msg;
	b->ex = ex;
	b->linked = false;
	b->cache = rblock_cache(RBUF_OFF, len);
	atomic_init(&b->refs, 1); /* ours, while we read it */
	uint32_t k = h->count;
	size_t off = HDR_SIZE;
	/* Counted before any future completes, so that whoever sees the
	 * last one final sees the counts too. */
	count(&ex->st_result_msgs, 1);
	for (uint32_t i = 0; i < k; i++) {
		const struct entry *e = entry_at(msg, len, off);
		if (!e)
			break;
		/* Read the record before it becomes a result's node. */
		uint32_t slot = e->slot;
		uint64_t seq = e->seq;
		size_t n = (size_t)e->len;
		int code = e->code;
		unsigned char *rec = msg + off;
		off += entry_size(e->name_len, n);
		if (slot >= (uint32_t)p->nslots || !p->slots[slot].f ||
		    p->slots[slot].seq != seq)
			continue; /* stale: its task already ended */
		spool_future *t = p->slots[slot].f;
		p->slots[slot].f = NULL;
		p->free[p->nfree++] = (int)slot;
		count(&ex->st_results, 1);
		if (code != 0) {
			/* A failure's entry holds its message, if any, and
			 * the message's NUL (call_fn). */
			const char *m = (const char *)rec + ENTRY_SIZE;
			task_end(ex, t, code, NULL,
				 n && m[n - 1] == '\0' ? m : NULL);
			continue;
		}
		task_end(ex, t, 0, rbuf_result(b, rec, rec + ENTRY_SIZE, n),
			 NULL);
	}
	rbuf_release(b);
}

static void root_handle(spool_mpi_executor *ex, unsigned char *buf, size_t len,
			int from)
{
	struct peer *p = &ex->peers[from];
	const struct hdr *h = (const struct hdr *)(buf + RBUF_OFF);
	if (len < HDR_SIZE || from == ex->rank || p->dead) {
		rblock_put(buf, RBUF_OFF, len);
		return;
	}
	p->last_heard = ex->now;
	switch (h->kind) {
	case K_CREDIT: {
		int w = h->code > 0 ? h->code : 1;
		struct slot *s = calloc((size_t)w, sizeof *s);
		int *fr = malloc((size_t)w * sizeof *fr);
		if (s && fr && !p->joined && (size_t)w > ex->cap_scratch) {
			/* a batch for this rank fits the scratch */
			struct qrec **sc = realloc(ex->scratch,
						   (size_t)w * sizeof *sc);
			if (sc) {
				ex->scratch = sc;
				ex->cap_scratch = (size_t)w;
			} else {
				w = (int)ex->cap_scratch;
			}
		}
		if (s && fr && !p->joined) {
			p->slots = s;
			p->free = fr;
			p->nslots = w;
			/* slot 0 on top: taken first */
			for (int i = 0; i < w; i++)
				fr[i] = w - 1 - i;
			p->nfree = w;
			p->joined = true;
		} else {
			free(s);
			free(fr);
		}
		break;
	}
	case K_RESULTS:
		root_results(ex, p, (struct rbuf *)buf, len);
		return; /* buf is the results' block now */
	case K_BYE:
		p->bye = true;
		break;
	default: /* K_BEAT */
		break;
	}
	rblock_put(buf, RBUF_OFF, len);
}

static int root_poll(void *arg, int64_t now, int64_t *next_ns)
{
	spool_mpi_executor *ex = arg;
	int ev = 0;
	ex->now = now;
	test_sends(ex);
	/* At most one message per other rank (a worker's pass: one from the
	 * root): in a steady flow a rank's messages come one at a time, and
	 * the probe that would find the next one missing costs about as
	 * much as receiving one; the next pass probes again. */
	for (int i = 0; i < ex->size - 1; i++) {
		unsigned char *buf;
		size_t len;
		int from;
		int rc = recv_next(ex, MPI_ANY_SOURCE, RBUF_OFF, &buf, &len,
				   &from);
		if (rc <= 0)
			break;
		root_handle(ex, buf, len, from);
		ev++;
	}
	ev += dispatch(ex);
	/* Liveness: beats out, silence in. */
	bool stopping = atomic_load(&ex->stopping);
	for (int r = 0; r < ex->size; r++) {
		struct peer *p = &ex->peers[r];
		if (r == ex->rank || p->dead || p->bye)
			continue;
		if (now - p->last_heard > ex->timeout_ns) {
			peer_lost(ex, r);
			ev++;
			continue;
		}
		if (stopping && !p->stop_sent) {
			p->stop_sent = true;
			p->last_sent = now;
			send_small(ex, r, K_STOP, 0);
			ev++;
		} else if (!p->stop_sent && now - p->last_sent > ex->hb_ns) {
			p->last_sent = now;
			send_small(ex, r, K_BEAT, 0);
		}
	}
	bool busy = atomic_load(&ex->outstanding) > 0 || stopping;
	*next_ns = busy ? 0 : ex->hb_ns / 2;
	return ev;
}

/* ---- worker ------------------------------------------------------------ */

/* Queues the answers of list head..tail (linked by next); the first ones
 * in an empty outbox kick the engine (see the top: later ones go with
 * them). */
static void outbox_push(spool_mpi_executor *ex, struct wtask *head,
			struct wtask *tail)
{
	tail->next = NULL;
	pthread_mutex_lock(&ex->mu);
	bool was_empty = ex->out_head == NULL;
	if (ex->out_tail)
		ex->out_tail->next = head;
	else
		ex->out_head = head;
	ex->out_tail = tail;
	/* relaxed: a hint; mu orders it with the take, and the kick below
	 * publishes it to the next pass. */
	atomic_store_explicit(&ex->out_any, true, memory_order_relaxed);
	pthread_mutex_unlock(&ex->mu);
	if (was_empty)
		spool__mpi_kick(ex->engine);
}

/* Drops one reference to b: its tasks not yet answered, the pool tasks
 * that may still claim its entries, and the receiver while it submits.
 * The last frees the message and the records. */
static void wbatch_unref(struct wbatch *b)
{
	/* acq_rel: the last owner frees after every other owner's use. */
	if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1) {
		free(b->msg);
		free(b);
	}
}

/* w's answer is sent or dropped. */
static void wtask_done(struct wtask *w)
{
	free(w->out);
	w->out = NULL;
	wbatch_unref(w->b);
}

/* Sends the answers of list w (linked by next), one RESULTS message per
 * BATCH_BYTES of entries (a larger result alone), and is done with them.
 * Progress lock held. Returns the number of answers. */
static int send_results(spool_mpi_executor *ex, struct wtask *w, int64_t now)
{
	int n = 0;
	while (w) {
		size_t bytes = 0;
		unsigned k = 0;
		struct wtask *end = w;
		while (end && (k == 0 || bytes + entry_size(0, end->out_len) <=
						 BATCH_BYTES)) {
			bytes += entry_size(0, end->out_len);
			k++;
			end = end->next;
		}
		unsigned char *msg = ex->bye_sent ? NULL
						  : xmalloc_aligned(HDR_SIZE +
								    bytes);
		if (msg) {
			struct hdr *h = (struct hdr *)msg;
			memset(h, 0, HDR_SIZE);
			h->kind = K_RESULTS;
			h->count = k;
			size_t off = HDR_SIZE;
			for (struct wtask *u = w; u != end; u = u->next) {
				struct entry *e = (struct entry *)(msg + off);
				size_t es = entry_size(0, u->out_len);
				memset(e, 0, ENTRY_SIZE);
				e->slot = u->slot;
				e->seq = u->seq;
				e->len = u->out_len;
				e->code = u->code;
				if (u->out_len) {
					memcpy(msg + off + ENTRY_SIZE, u->out,
					       u->out_len);
					memset(msg + off + ENTRY_SIZE +
						       u->out_len,
					       0, es - ENTRY_SIZE - u->out_len);
				}
				off += es;
			}
		}
		while (w != end) {
			struct wtask *next = w->next;
			wtask_done(w);
			w = next;
		}
		if (msg) {
			send_owned(ex, ex->root, msg, HDR_SIZE + bytes);
			ex->last_sent = now;
			count(&ex->st_results, k);
			count(&ex->st_result_msgs, 1);
		}
		n += (int)k;
	}
	return n;
}

/* Sends every answer in the outbox. Progress lock held. */
static int flush_outbox(spool_mpi_executor *ex, int64_t now)
{
	/* relaxed: a hint. An answer queued after this read kicked the
	 * engine (the outbox was empty), so a later pass takes it. */
	if (!atomic_load_explicit(&ex->out_any, memory_order_relaxed))
		return 0;
	pthread_mutex_lock(&ex->mu);
	struct wtask *w = ex->out_head;
	ex->out_head = ex->out_tail = NULL;
	atomic_store_explicit(&ex->out_any, false, memory_order_relaxed);
	pthread_mutex_unlock(&ex->mu);
	return send_results(ex, w, now);
}

/* Runs w's function (looked up by name unless it is the one before), as
 * call_fn. */
static void wtask_run(struct wtask *w, const struct wtask *prev,
		      spool_mpi_fn *fn)
{
	/* Tasks of one batch usually call one function: look it up once. */
	if (!prev || prev->name_len != w->name_len ||
	    memcmp(prev->name, w->name, w->name_len) != 0)
		*fn = spool__mpi_lookup(w->name, w->name_len);
	w->code = call_fn(*fn, w->name, w->name_len, w->b->ex->rank, w->arg,
			  w->len, &w->out, &w->out_len);
}

/* A runner of the rank's own pool waits for the next batch before it
 * ends for as long as the engine's spin window (spin_ns, 200 us by
 * default): many round trips to the root, so that under a steady flow of
 * batches the pool thread never parks (parking and waking a pool thread
 * costs more than a batch of tiny tasks), and as long as the progress
 * thread would spin in its place. It waits with LINGER_RELAX pause
 * instructions between two looks, not sched_yield(), for the reason given
 * in engine.c. Beside busy processes the next batch is often late (the
 * root waits for a core), and each runner that ends costs a hand-over and
 * its pool thread's search and park: the linger used to be 50 us, and the
 * farm of spool-bench-mpi beside two busy processes took 2-4 times as
 * long with it (docs/design/mpi.md has the figures). */
#define LINGER_RELAX 32

/* The most tasks a runner claims at once (see worker_run). */
#define CLAIM_MAX 32

/* Claims the next task of the run queue, or NULL. mu held. */
static struct wtask *rq_claim(spool_mpi_executor *ex)
{
	struct wbatch *b = ex->rq_head;
	if (!b)
		return NULL;
	/* relaxed: under mu */
	unsigned i = atomic_load_explicit(&b->next, memory_order_relaxed);
	atomic_store_explicit(&b->next, i + 1, memory_order_relaxed);
	if (i + 1 == b->n) {
		ex->rq_head = b->rq_next;
		if (!ex->rq_head)
			ex->rq_tail = NULL;
		/* relaxed: a hint; mu orders the writers */
		atomic_store_explicit(
			&ex->rq_n,
			atomic_load_explicit(&ex->rq_n, memory_order_relaxed) -
				1,
			memory_order_relaxed);
	}
	/* The task's own reference (its answer) keeps b alive until its
	 * answer is sent, so the claimer may use it without mu. */
	return &b->t[i];
}

/* A pool task: runs the tasks of the run queue, in order, and puts their
 * answers in the outbox, until the queue is empty (on the rank's own pool,
 * and it stays empty for LINGER_NS).
 *
 * On the rank's own pool with an engine of its own thread (which means
 * MPI_THREAD_MULTIPLE), the runner is the rank's progress while it lives:
 * it runs a pass every half window of answers and when it runs out of
 * tasks (the pass sends the outbox and takes in the next batch), and
 * passes while it lingers; meanwhile it counts as a driver of the engine,
 * so the progress thread stands aside (a pass per max_delay_ns) instead of
 * spinning beside it, and gets progress back when the runner ends. It
 * counts from its submission (worker_tasks), not from its start: the
 * progress thread that started it stands aside at once and leaves the
 * core to the pool thread it woke, rather than spin on it until that
 * thread's first pass. A pool destroy runs what was submitted, so every
 * runner that counted ends and hands back. Passes only when no other
 * thread is in one (a try-lock), so the runner never waits for the
 * progress lock. */
static int worker_run(void *arg, void **result)
{
	spool_mpi_executor *ex = arg;
	(void)result;
	bool help = ex->own_pool && !spool__mpi_engine_on_loop(ex->engine);
	unsigned half = ex->window > 1 ? (unsigned)ex->window / 2 : 1;
	unsigned group = half < CLAIM_MAX ? half : CLAIM_MAX;
	/* Tasks claimed and not yet run, and (help only) answers not yet in
	 * the outbox: a runner alone claims up to half a window under one
	 * lock (nobody else would run them) and hands in its answers under
	 * one lock before each pass that sends them; with several runners
	 * it claims one at a time, so that long tasks spread. */
	struct wtask *claimed[CLAIM_MAX];
	unsigned nclaimed = 0, at = 0, pushed = 0;
	struct wtask *mine = NULL, *mine_tail = NULL;
	spool_mpi_fn fn = NULL;
	char prev_name[SPOOL__MPI_NAME_MAX];
	struct wtask prev = {.name = prev_name, .name_len = 0};
	bool have_prev = false;
	for (;;) {
		if (at == nclaimed) {
			pthread_mutex_lock(&ex->mu);
			unsigned want = ex->live == 1 ? group : 1;
			struct wtask *c;
			nclaimed = at = 0;
			while (nclaimed < want && (c = rq_claim(ex)) != NULL)
				claimed[nclaimed++] = c;
			if (!nclaimed && !ex->own_pool) {
				ex->live--;
				pthread_mutex_unlock(&ex->mu);
				break;
			}
			pthread_mutex_unlock(&ex->mu);
		}
		if (at == nclaimed) {
			if (mine) {
				outbox_push(ex, mine, mine_tail);
				mine = NULL;
			}
			/* Linger for the next batch, helping progress. */
			int64_t end = spool__mpi_now() +
				      spool__mpi_spin_ns(ex->engine);
			/* relaxed: a hint, checked again under mu */
			while (atomic_load_explicit(
				       &ex->rq_n, memory_order_relaxed) == 0 &&
			       spool__mpi_now() < end) {
				if (!help ||
				    spool__mpi_try_drive(ex->engine) <= 0)
					spool__cpu_relax_for(LINGER_RELAX);
			}
			pthread_mutex_lock(&ex->mu);
			if (!ex->rq_head) {
				ex->live--;
				pthread_mutex_unlock(&ex->mu);
				break;
			}
			pthread_mutex_unlock(&ex->mu);
			continue;
		}
		struct wtask *w = claimed[at++];
		wtask_run(w, have_prev ? &prev : NULL, &fn);
		/* the name for the next lookup: w's memory may go once its
		 * answer is pushed */
		memcpy(prev_name, w->name, w->name_len);
		prev.name_len = w->name_len;
		have_prev = true;
		if (!help) {
			outbox_push(ex, w, w);
			continue;
		}
		if (mine)
			mine_tail->next = w;
		else
			mine = w;
		mine_tail = w;
		/* relaxed: a hint (no task left to claim: send now) */
		if (++pushed >= half ||
		    (at == nclaimed &&
		     atomic_load_explicit(&ex->rq_n, memory_order_relaxed) ==
			     0)) {
			/* A pass: it sends the outbox and takes in the next
			 * batch, if one came. */
			outbox_push(ex, mine, mine_tail);
			mine = NULL;
			if (spool__mpi_try_drive(ex->engine) >= 0)
				pushed = 0;
		}
	}
	if (help)
		spool__mpi_drive_exit(ex->engine);
	return 0;
}

/* The same on the inline executor, which runs it inside the progress
 * pass (under the progress lock): answers go out from here, without the
 * outbox, and a batch's first half is sent before its second half runs,
 * so that the root can send more work while this rank is busy (with one
 * message per batch, the two ranks would take turns). */
static int worker_run_inline(void *arg, void **result)
{
	struct wbatch *b = arg;
	spool_mpi_executor *ex = b->ex;
	(void)result;
	unsigned half = (unsigned)ex->window / 2;
	if (half < 1)
		half = 1;
	spool_mpi_fn fn = NULL;
	const struct wtask *prev = NULL;
	struct wtask *head = NULL, **tail = &head;
	unsigned n = 0;
	for (;;) {
		/* relaxed: as in worker_run */
		unsigned i = atomic_fetch_add_explicit(&b->next, 1,
						       memory_order_relaxed);
		if (i >= b->n)
			break;
		struct wtask *w = &b->t[i];
		wtask_run(w, prev, &fn);
		prev = w;
		w->next = NULL;
		*tail = w;
		tail = &w->next;
		if (++n == half && i + 1 < b->n) {
			/* prev points into the batch, which this pool task
			 * still holds. */
			send_results(ex, head, ex->now);
			head = NULL;
			tail = &head;
			n = 0;
		}
	}
	if (head)
		send_results(ex, head, ex->now);
	wbatch_unref(b);
	return 0;
}

/* A TASKS message (msg, len bytes; the batch owns it from here). */
static void worker_tasks(spool_mpi_executor *ex, unsigned char *msg, size_t len)
{
	const struct hdr *h = (const struct hdr *)msg;
	uint32_t k = h->count;
	struct wbatch *b = NULL;
	if (k > 0 && k <= (len - HDR_SIZE) / ENTRY_SIZE)
		b = malloc(sizeof *b + (size_t)k * sizeof b->t[0]);
	if (!b) {
		/* Not answered: their futures fail only if this rank is
		 * taken for lost. Out of memory on a worker, or a
		 * malformed message, which ranks of one program never
		 * send. */
		free(msg);
		return;
	}
	size_t off = HDR_SIZE;
	for (uint32_t i = 0; i < k; i++) {
		const struct entry *e = entry_at(msg, len, off);
		if (!e) {
			free(b);
			free(msg);
			return;
		}
		struct wtask *w = &b->t[i];
		w->b = b;
		w->name = (const char *)msg + off + ENTRY_SIZE;
		w->name_len = e->name_len;
		w->arg = msg + off + ENTRY_SIZE + ALIGN_UP(e->name_len);
		w->len = (size_t)e->len;
		w->slot = e->slot;
		w->seq = e->seq;
		w->code = 0;
		w->out = NULL;
		w->out_len = 0;
		off += entry_size(e->name_len, w->len);
	}
	b->ex = ex;
	b->msg = msg;
	b->n = k;
	atomic_init(&b->next, 0);
	atomic_init(&b->refs, k + 1);
	b->rq_next = NULL;
	count(&ex->st_tasks, k);
	count(&ex->st_task_msgs, 1);
	if (ex->exec == spool_executor_inline()) {
		/* Runs right here, inside this pass; the runner holds a
		 * reference of its own. */
		atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
		spool_future *pf = spool_submit(ex->exec, worker_run_inline, b);
		if (!pf || spool_future_state(pf) != SPOOL_DONE) {
			int err = pf ? spool_future_error(pf) : SPOOL_ENOMEM;
			wbatch_unref(b); /* the runner's: it never ran */
			for (unsigned i = 0; i < k; i++) {
				b->t[i].code = err ? err : SPOOL_ENOMEM;
				outbox_push(ex, &b->t[i], &b->t[i]);
			}
		}
		spool_future_release(pf);
		wbatch_unref(b);
		return;
	}
	/* Into the run queue; new runners only where the live ones are
	 * fewer than the pool's threads (on another executor, whose size is
	 * unknown, one per task). */
	pthread_mutex_lock(&ex->mu);
	if (ex->rq_tail)
		ex->rq_tail->rq_next = b;
	else
		ex->rq_head = b;
	ex->rq_tail = b;
	/* relaxed: a hint; mu orders the writers, and a lingering runner
	 * checks the queue under mu before it ends */
	atomic_store_explicit(
		&ex->rq_n,
		atomic_load_explicit(&ex->rq_n, memory_order_relaxed) + 1,
		memory_order_relaxed);
	unsigned cap = ex->own_pool ? (unsigned)ex->threads : UINT32_MAX;
	unsigned need = 0;
	if (ex->live < cap) {
		need = cap - ex->live;
		if (need > k)
			need = k;
	}
	ex->live += need;
	pthread_mutex_unlock(&ex->mu);
	int err = 0;
	/* A runner counts as a driver from here (see worker_run). */
	bool help = ex->own_pool && !spool__mpi_engine_on_loop(ex->engine);
	for (unsigned r = 0; r < need; r++) {
		if (help)
			spool__mpi_drive_enter(ex->engine);
		spool_future *pf = spool_submit(ex->exec, worker_run, ex);
		if (!pf || (spool_future_done(pf) &&
			    spool_future_state(pf) != SPOOL_DONE)) {
			err = pf ? spool_future_error(pf) : SPOOL_ENOMEM;
			pthread_mutex_lock(&ex->mu);
			ex->live--;
			pthread_mutex_unlock(&ex->mu);
			if (help) /* it never runs */
				spool__mpi_drive_exit(ex->engine);
		}
		spool_future_release(pf);
	}
	if (err) {
		/* With no runner left, nobody would run the queue: answer
		 * every task in it with the executor's refusal. */
		pthread_mutex_lock(&ex->mu);
		struct wtask *list = NULL;
		if (ex->live == 0) {
			struct wtask *w;
			while ((w = rq_claim(ex)) != NULL) {
				w->code = err;
				w->next = list;
				list = w;
			}
		}
		pthread_mutex_unlock(&ex->mu);
		while (list) {
			struct wtask *next = list->next;
			outbox_push(ex, list, list);
			list = next;
		}
	}
	wbatch_unref(b);
}

static void serve_end(spool_mpi_executor *ex, int rc)
{
	if (rc == 0)
		spool_promise_set_result(ex->stop_f, NULL);
	else
		spool_promise_set_error(ex->stop_f, rc);
}

static void worker_handle(spool_mpi_executor *ex, unsigned char *buf,
			  size_t len)
{
	const struct hdr *h = (const struct hdr *)buf;
	if (len < HDR_SIZE) {
		free(buf);
		return;
	}
	switch (h->kind) {
	case K_TASKS:
		worker_tasks(ex, buf, len);
		return;
	case K_STOP:
		if (!ex->bye_sent) {
			flush_outbox(ex, spool__mpi_now());
			send_small(ex, ex->root, K_BYE, 0);
			ex->bye_sent = true;
			serve_end(ex, 0);
		}
		break;
	default: /* K_BEAT */
		break;
	}
	free(buf);
}

static int worker_poll(void *arg, int64_t now, int64_t *next_ns)
{
	spool_mpi_executor *ex = arg;
	int ev = 0;
	*next_ns = 0; /* a serving rank expects tasks at any time */
	ex->now = now;
	test_sends(ex);
	if (ex->bye_sent)
		return 0;
	if (!ex->credit_sent) {
		ex->credit_sent = true;
		ex->last_sent = now;
		ex->last_heard = now;
		send_small(ex, ex->root, K_CREDIT, ex->window);
		ev++;
	}
	if (!ex->bye_sent) {
		/* One message per pass, as root_poll's. */
		unsigned char *buf;
		size_t len;
		int from;
		int rc = recv_next(ex, ex->root, 0, &buf, &len, &from);
		if (rc < 0) {
			ex->bye_sent = true; /* send nothing more */
			serve_end(ex, SPOOL_MPI_ECOMM);
			return ev + 1;
		}
		if (rc > 0) {
			ex->last_heard = now;
			worker_handle(ex, buf, len);
			ev++;
		}
	}
	if (ex->bye_sent)
		return ev;
	ev += flush_outbox(ex, now);
	if (now - ex->last_heard > ex->timeout_ns) {
		ex->bye_sent = true;
		serve_end(ex, SPOOL_MPI_EPEER);
		return ev + 1;
	}
	if (now - ex->last_sent > ex->hb_ns) {
		ex->last_sent = now;
		send_small(ex, ex->root, K_BEAT, 0);
	}
	return ev;
}

/* ---- public ------------------------------------------------------------ */

static int default_threads(MPI_Comm comm)
{
	MPI_Comm node;
	int local = 1;
	if (MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL,
				&node) == MPI_SUCCESS) {
		MPI_Comm_size(node, &local);
		MPI_Comm_free(&node);
	}
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus < 1)
		cpus = 1;
	int t = (int)(cpus / (local > 0 ? local : 1));
	return t > 0 ? t : 1;
}

int spool_mpi_executor_create(spool_mpi_executor **out, MPI_Comm comm,
			      const spool_mpi_executor_options *opts)
{
	spool__mpi_check_live("spool_mpi_executor_create");
	if (!out)
		return SPOOL_EINVAL;
	*out = NULL;
	spool_mpi_executor_options o = SPOOL_MPI_EXECUTOR_OPTIONS_INIT;
	if (opts)
		o = *opts;
	int size = 0, rank = 0;
	if (comm == MPI_COMM_NULL ||
	    MPI_Comm_size(comm, &size) != MPI_SUCCESS ||
	    MPI_Comm_rank(comm, &rank) != MPI_SUCCESS)
		return SPOOL_EINVAL;
	if (o.root < 0 || o.root >= size || o.threads < 0 || o.window < 0 ||
	    o.heartbeat_ns < 0 || o.peer_timeout_ns < 0 ||
	    (o.flags & ~(unsigned)SPOOL_MPI_ROOT_DISPATCH_ONLY))
		return SPOOL_EINVAL;
	int64_t hb = o.heartbeat_ns ? o.heartbeat_ns : 100 * SPOOL_NS_PER_MS;
	int64_t to = o.peer_timeout_ns ? o.peer_timeout_ns
				       : 10 * SPOOL_NS_PER_S;
	if (to <= hb)
		return SPOOL_EINVAL;
	/* Collective first, so that every rank reaches the same calls
	 * whatever fails locally afterwards. */
	int threads = o.threads ? o.threads : default_threads(comm);
	MPI_Comm dup;
	if (MPI_Comm_dup(comm, &dup) != MPI_SUCCESS)
		return SPOOL_MPI_ECOMM;
	MPI_Comm_set_errhandler(dup, MPI_ERRORS_RETURN);

	spool_mpi_executor *ex = calloc(1, sizeof *ex);
	int rc = SPOOL_ENOMEM;
	if (!ex)
		goto fail;
	pthread_mutex_init(&ex->mu, NULL);
	ex->comm = dup;
	ex->rank = rank;
	ex->size = size;
	ex->root = o.root;
	ex->is_root = rank == o.root;
	ex->flags = o.flags;
	ex->hb_ns = hb;
	ex->timeout_ns = to;
	ex->results.next = ex->results.prev = &ex->results;
	atomic_init(&ex->outstanding, 0);
	atomic_init(&ex->q_len, 0);
	atomic_init(&ex->out_any, false);
	atomic_init(&ex->rq_n, 0);
	atomic_init(&ex->stopping, false);
	atomic_init(&ex->st_tasks, 0);
	atomic_init(&ex->st_task_msgs, 0);
	atomic_init(&ex->st_results, 0);
	atomic_init(&ex->st_result_msgs, 0);
	ex->exec = o.executor;
	bool runs_tasks = !ex->is_root ||
			  !(o.flags & SPOOL_MPI_ROOT_DISPATCH_ONLY);
	if (runs_tasks && !ex->exec) {
		spool_pool_options po = SPOOL_POOL_OPTIONS_INIT;
		po.workers = threads;
		po.name = "spool-mpi";
		rc = spool_pool_create(&ex->own_pool, &po);
		if (rc != 0)
			goto fail;
		ex->exec = spool_pool_executor(ex->own_pool);
		ex->threads = threads;
	}
	ex->window = o.window ? o.window : o.executor ? 2 : threads;
	if (o.engine) {
		ex->engine = o.engine;
	} else {
		rc = spool_mpi_engine_create(&ex->engine, NULL);
		if (rc != 0)
			goto fail;
		ex->own_engine = true;
	}
	spool__mpi_engine_use(ex->engine, 1);
	int64_t now = spool__mpi_now();
	if (ex->is_root) {
		rc = SPOOL_ENOMEM;
		ex->peers = calloc((size_t)size, sizeof *ex->peers);
		if (!ex->peers)
			goto fail_engine;
		for (int r = 0; r < size; r++)
			ex->peers[r].last_heard = ex->peers[r].last_sent = now;
		ex->local_credits = runs_tasks ? ex->window : 0;
		ex->scratch = malloc(sizeof *ex->scratch);
		if (!ex->scratch)
			goto fail_engine;
		ex->cap_scratch = 1;
		rc = spool__mpi_poller_add(ex->engine, root_poll, ex);
		if (rc != 0)
			goto fail_engine;
		ex->polling = true;
	} else {
		ex->stop_f = spool_promise_new();
		if (!ex->stop_f)
			goto fail_engine;
		spool_promise_start(ex->stop_f);
		ex->last_heard = ex->last_sent = now;
	}
	*out = ex;
	return 0;
fail_engine:
	spool__mpi_engine_use(ex->engine, -1);
	if (ex->own_engine)
		spool_mpi_engine_destroy(ex->engine);
fail:
	if (ex) {
		spool_pool_destroy(ex->own_pool);
		free(ex->scratch);
		free(ex->peers);
		pthread_mutex_destroy(&ex->mu);
		free(ex);
	}
	MPI_Comm_free(&dup);
	return rc;
}

bool spool_mpi_executor_is_root(const spool_mpi_executor *ex)
{
	return ex && ex->is_root;
}

int spool_mpi_executor_size(const spool_mpi_executor *ex)
{
	return ex ? ex->size : 0;
}

int spool_mpi_executor_stats_get(spool_mpi_executor *ex,
				 spool_mpi_executor_stats *out)
{
	if (!ex || !out)
		return SPOOL_EINVAL;
	/* relaxed: snapshots of counters */
	out->tasks = atomic_load_explicit(&ex->st_tasks, memory_order_relaxed);
	out->task_messages = atomic_load_explicit(&ex->st_task_msgs,
						  memory_order_relaxed);
	out->results = atomic_load_explicit(&ex->st_results,
					    memory_order_relaxed);
	out->result_messages = atomic_load_explicit(&ex->st_result_msgs,
						    memory_order_relaxed);
	return 0;
}

int spool_mpi_executor_serve(spool_mpi_executor *ex)
{
	spool__mpi_check_live("spool_mpi_executor_serve");
	if (!ex || ex->is_root)
		return SPOOL_EINVAL;
	if (ex->polling)
		spool__mpi_misuse("spool_mpi_executor_serve",
				  "called twice, or from two threads");
	int rc = spool__mpi_poller_add(ex->engine, worker_poll, ex);
	if (rc != 0)
		return rc;
	ex->polling = true;
	if (spool__mpi_engine_on_loop(ex->engine) &&
	    spool_loop_current() != NULL && spool_current_future() == NULL) {
		/* The loop's thread outside a coroutine: drive it here. */
		while (!spool_future_done(ex->stop_f)) {
			if (spool__mpi_drive(ex->engine) == 0) {
				struct timespec ts = {0, 50000};
				nanosleep(&ts, NULL);
			}
		}
	}
	rc = spool_future_wait(ex->stop_f, SPOOL_FOREVER);
	if (rc == 0)
		rc = spool_future_error(ex->stop_f);
	spool__mpi_poller_remove(ex->engine, worker_poll, ex);
	hand_sends_over(ex);
	ex->polling = false;
	return rc;
}

/* Writes a task's entry at e: its record (slot and seq come later), the
 * name and the argument, the padding zeroed so every byte sent is
 * defined. */
static void fill_entry(unsigned char *e, const char *name, size_t nlen,
		       const void *arg, size_t len)
{
	struct entry *rec = (struct entry *)e;
	memset(rec, 0, ENTRY_SIZE);
	rec->name_len = (uint32_t)nlen;
	rec->len = len;
	unsigned char *name_at = e + ENTRY_SIZE;
	unsigned char *arg_at = name_at + ALIGN_UP(nlen);
	memcpy(name_at, name, nlen);
	memset(name_at + nlen, 0, ALIGN_UP(nlen) - nlen);
	if (len)
		memcpy(arg_at, arg, len);
	memset(arg_at + len, 0, ALIGN_UP(len) - len);
}

spool_future *spool_mpi_submit(spool_mpi_executor *ex, const char *name,
			       const void *arg, size_t len)
{
	spool__mpi_check_live("spool_mpi_submit");
	if (!ex || !name || (!arg && len > 0))
		return spool__mpi_failed(SPOOL_EINVAL);
	size_t nlen = strlen(name);
	/* The whole message must fit MPI's int count. */
	if (nlen == 0 || nlen > SPOOL__MPI_NAME_MAX ||
	    len > (size_t)INT32_MAX - HDR_SIZE - ENTRY_SIZE -
			    ALIGN_UP(SPOOL__MPI_NAME_MAX) - ALIGNMENT)
		return spool__mpi_failed(SPOOL_EINVAL);
	if (!ex->is_root)
		return spool__mpi_failed(SPOOL_MPI_ENOTROOT);
	/* The record and its entry go into the queue's current chunk; a
	 * large argument gets a message of its own, with room for the
	 * header, filled here without the lock. */
	size_t esize = entry_size(nlen, len);
	bool big = esize > INLINE_MAX;
	size_t rsize = QREC_OFF + (big ? 0 : esize);
	unsigned char *msg = big ? xmalloc_aligned(HDR_SIZE + esize) : NULL;
	spool_future *f = msg || !big ? spool__mpi_promise(ex->engine) : NULL;
	if (!f) {
		free(msg);
		return NULL;
	}
	if (big)
		fill_entry(msg + HDR_SIZE, name, nlen, arg, len);
	spool_future *ret = spool_future_retain(f);
	pthread_mutex_lock(&ex->mu);
	if (ex->closing) {
		pthread_mutex_unlock(&ex->mu);
		spool_promise_set_error(f, SPOOL_ESHUTDOWN);
		spool_future_release(f);
		free(msg);
		return ret;
	}
	struct qchunk *c = ex->q_last;
	if (!c || c->cap - c->used < rsize) {
		/* A new chunk: from the cache, or from malloc (once per some
		 * hundreds of tiny tasks). */
		if (!(c = chunk_get(rsize))) {
			pthread_mutex_unlock(&ex->mu);
			spool_future_release(f);
			spool_future_release(ret);
			free(msg);
			return NULL;
		}
		c->next = NULL;
		c->used = c->read = 0;
		if (ex->q_last)
			ex->q_last->next = c;
		else
			ex->q_first = c;
		ex->q_last = c;
	}
	struct qrec *q = (struct qrec *)((unsigned char *)c + QCHUNK_OFF +
					 c->used);
	c->used += rsize;
	q->f = f;
	q->seq = ++ex->next_seq;
	q->esize = esize;
	q->rsize = rsize;
	q->msg = msg;
	if (!big)
		fill_entry(qrec_entry(q), name, nlen, arg, len);
	((struct entry *)qrec_entry(q))->seq = q->seq;
	/* relaxed: mu orders the writers; the kick below (or the one before
	 * it) publishes the task to the pass. */
	size_t queued = atomic_load_explicit(&ex->q_len, memory_order_relaxed);
	atomic_store_explicit(&ex->q_len, queued + 1, memory_order_relaxed);
	atomic_fetch_add(&ex->outstanding, 1);
	pthread_mutex_unlock(&ex->mu);
	/* A burst makes its own passes (see the top); otherwise a task
	 * behind others goes with them. */
	static _Thread_local unsigned submitted
		__attribute__((tls_model("initial-exec")));
	if (++submitted % PULSE_EVERY == 0 && spool__mpi_pulse(ex->engine) >= 0)
		return ret;
	if (queued == 0)
		spool__mpi_kick(ex->engine);
	return ret;
}

/* Waits until done(ex) holds, driving progress itself on a loop engine
 * (the loop cannot run while its thread is in here). */
static void wait_until(spool_mpi_executor *ex,
		       bool (*done)(spool_mpi_executor *))
{
	int64_t pause = 1000;
	for (;;) {
		if (done(ex))
			return;
		int ev = 0;
		if (spool__mpi_engine_on_loop(ex->engine))
			ev = spool__mpi_drive(ex->engine);
		if (ev == 0) {
			struct timespec ts = {0, (long)pause};
			nanosleep(&ts, NULL);
			if (pause < SPOOL_NS_PER_MS)
				pause *= 2;
		} else {
			pause = 1000;
		}
	}
}

static bool all_final(spool_mpi_executor *ex)
{
	return atomic_load(&ex->outstanding) == 0;
}

static bool all_stopped(spool_mpi_executor *ex)
{
	/* Peers change only in passes: read them under the same lock. */
	bool d = true;
	spool__mpi_progress_lock();
	for (int r = 0; r < ex->size; r++) {
		struct peer *p = &ex->peers[r];
		if (r != ex->rank && !p->dead && !p->bye)
			d = false;
	}
	spool__mpi_progress_unlock();
	return d;
}

void spool_mpi_executor_destroy(spool_mpi_executor *ex)
{
	if (!ex)
		return;
	spool__mpi_check_live("spool_mpi_executor_destroy");
	if (ex->is_root) {
		pthread_mutex_lock(&ex->mu);
		ex->closing = true;
		pthread_mutex_unlock(&ex->mu);
		spool__mpi_kick(ex->engine);
		wait_until(ex, all_final);
		atomic_store(&ex->stopping, true);
		spool__mpi_kick(ex->engine);
		wait_until(ex, all_stopped);
		spool__mpi_poller_remove(ex->engine, root_poll, ex);
		hand_sends_over(ex);
	} else if (ex->polling) {
		spool__mpi_misuse("spool_mpi_executor_destroy",
				  "called while spool_mpi_executor_serve() "
				  "runs");
	}
	/* Tasks still on the pool (a worker whose root was lost) finish
	 * before anything they use is freed. */
	spool_pool_destroy(ex->own_pool);
	if (!ex->is_root) {
		/* Nothing should be left in the run queue (the pool ran it
		 * dry before it ended), but drop whatever is. */
		struct wtask *rw;
		while ((rw = rq_claim(ex)) != NULL)
			wtask_done(rw);
		struct wtask *w = ex->out_head;
		while (w) {
			struct wtask *next = w->next;
			wtask_done(w);
			w = next;
		}
		if (!spool_future_done(ex->stop_f))
			spool_promise_set_error(ex->stop_f, SPOOL_ESHUTDOWN);
		spool_future_release(ex->stop_f);
	}
	spool__mpi_engine_use(ex->engine, -1);
	if (ex->own_engine)
		spool_mpi_engine_destroy(ex->engine);
	struct rbuf *b = ex->results.next;
	while (b != &ex->results) {
		struct rbuf *next = b->next;
		if (b->cache)
			spool__mpi_blocks_put(b->cache, b);
		else
			free(b);
		b = next;
	}
	/* The queue is empty (every task is final); its chunks go. */
	chunks_put(ex->q_first);
	free(ex->scratch);
	if (ex->peers) {
		for (int r = 0; r < ex->size; r++) {
			free(ex->peers[r].slots);
			free(ex->peers[r].free);
		}
		free(ex->peers);
	}
	MPI_Comm_free(&ex->comm);
	pthread_mutex_destroy(&ex->mu);
	free(ex);
}
