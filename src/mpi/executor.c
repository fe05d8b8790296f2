/* SPDX-License-Identifier: MIT */
/*
 * The remote executor: registered functions run on whichever rank asks for
 * work, results come back as futures on the root.
 *
 * Protocol. One tag on a private duplicate of the communicator (so MPI's
 * non-overtaking rule orders every message between two ranks), each
 * message a 32-byte header and a payload:
 *
 *     root -> worker   TASK (slot, seq, name, argument bytes)
 *                      BEAT (nothing else sent for heartbeat_ns)
 *                      STOP (the executor is being destroyed)
 *     worker -> root   CREDIT (window: the tasks it may hold; sent once,
 *                      when it starts serving)
 *                      RESULT (slot, seq, code, result bytes; each one
 *                      gives back one credit)
 *                      BEAT, BYE (the answer to STOP, its last message)
 *
 * Work is pulled: the root sends a rank a task only while the rank has
 * credit, so a rank holds at most its window and an idle rank is the one
 * that gets the next task (the root itself is one of the ranks, through
 * its own pool, unless SPOOL_MPI_ROOT_DISPATCH_ONLY). Each rank's tasks sit
 * in a slot array of window entries at the root; a RESULT names its slot,
 * and the sequence number catches a stale one.
 *
 * Everything that touches MPI runs in the engine's pollers (root_poll,
 * worker_poll) under the progress lock; other threads only queue work
 * under ex->mu and kick the engine: spool_mpi_submit() queues a task, a
 * worker's pool task queues its result in the outbox.
 *
 * Failures. MPI 4.1 without ULFM reports no dead process (and mpirun
 * usually ends the whole job), so liveness is the executor's own:
 * every rank sends a BEAT when it has sent nothing for heartbeat_ns, and
 * a rank silent for peer_timeout_ns is dead. The root then fails the
 * futures in that rank's slots with SPOOL_MPI_EPEER and sends it nothing
 * more; a worker whose root is silent ends spool_mpi_executor_serve()
 * with SPOOL_MPI_EPEER. No call waits on a message from one rank without
 * that deadline, and destroy uses no collective call.
 */
#include <pthread.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mpi/internal.h"

#define TAG 7301
#define RECV_BATCH 64

enum kind { K_TASK = 1, K_RESULT, K_CREDIT, K_BEAT, K_STOP, K_BYE };

/* 32 bytes, so that the payload after it keeps max_align_t alignment in a
 * buffer that starts aligned. Ranks must share byte order and type sizes
 * (arguments are raw bytes anyway). */
struct hdr {
	uint32_t kind;
	uint32_t slot;
	uint64_t seq;
	int32_t code;
	uint32_t name_len;
	uint64_t pad;
};

/* A result the root holds: the public part is r; data points into this
 * same block. */
struct result_node {
	struct result_node *prev, *next;
	spool_mpi_executor *ex;
	alignas(max_align_t) spool_mpi_result r;
};
#define NODE_DATA_OFF                                                          \
	((sizeof(struct result_node) + sizeof(max_align_t) - 1) /              \
	 sizeof(max_align_t) * sizeof(max_align_t))

/* A task at the root, from submit to its future's end. */
struct task {
	struct task *next;
	spool_future *f;    /* the executor's reference */
	unsigned char *msg; /* header + name + argument; given to the send */
	size_t msg_len;
	uint64_t seq;
	spool_mpi_executor *ex; /* for a task the root runs itself */
};

struct peer {
	struct task **slots;
	int nslots;
	int credits;
	int64_t last_heard, last_sent;
	bool joined; /* its CREDIT came */
	bool dead;
	bool stop_sent, bye;
};

/* A task on a worker rank, from its message to its result's send. */
struct wtask {
	struct wtask *next;
	spool_mpi_executor *ex;
	unsigned char *msg; /* the TASK message */
	int len;
	uint32_t slot;
	uint64_t seq;
	int code;
	void *out;
	size_t out_len;
};

struct spool_mpi_executor {
	MPI_Comm comm;
	int rank, size, root;
	bool is_root;
	spool_mpi_engine *engine;
	bool own_engine;
	spool_executor *exec;
	spool_pool *own_pool;
	int window;
	unsigned flags;
	int64_t hb_ns, timeout_ns;

	pthread_mutex_t mu;
	/* root (mu): queue, counts, results */
	struct task *q_head, *q_tail;
	size_t outstanding;         /* submitted, not final */
	bool closing;               /* destroy began: refuse submissions */
	struct result_node results; /* list head */
	uint64_t next_seq;
	/* root (progress lock) */
	struct peer *peers;
	int rr; /* round robin start */
	bool stopping;
	int local_credits; /* mu: free local slots */
	bool polling;      /* the poller is registered */

	/* worker (mu: outbox; progress lock: the rest) */
	struct wtask *out_head, *out_tail;
	int64_t last_heard, last_sent;
	bool credit_sent, bye_sent;
	spool_future *stop_f; /* completed with serve's outcome */
	int running;          /* mu: tasks given to the pool, not finished */
};

static void *xmalloc_aligned(size_t n)
{
	/* malloc gives max_align_t alignment. */
	return malloc(n ? n : 1);
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
	/* A small send is usually complete at once (eager): free it here
	 * rather than track it (we hold the progress lock). */
	int flag = 0;
	if (MPI_Test(&req, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS || flag) {
		free(buf);
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

static int send_small(spool_mpi_executor *ex, int dest, enum kind k,
		      int32_t code)
{
	struct hdr *h = calloc(1, sizeof *h);
	if (!h)
		return SPOOL_ENOMEM;
	h->kind = k;
	h->code = code;
	return send_owned(ex, dest, h, sizeof *h);
}

/* Receives the next message from src (MPI_ANY_SOURCE at the root) if one
 * has arrived: *buf gets it (malloc'd, with `room` bytes free before it
 * for a result node), *len its size, *from its source. Returns 1, 0 when
 * there is none, or an error. Progress lock held. */
static int recv_next(spool_mpi_executor *ex, int src, size_t room,
		     unsigned char **buf, int *len, int *from)
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
	unsigned char *b = xmalloc_aligned(room + (size_t)count);
	if (!b) {
		/* Receive into a scratch header to keep the stream going;
		 * the message is lost (a result's future fails). */
		static struct hdr scratch[1024];
		MPI_Mrecv(scratch, (int)sizeof scratch, MPI_BYTE, &m, &st);
		return SPOOL_ENOMEM;
	}
	if (MPI_Mrecv(b + room, count, MPI_BYTE, &m, &st) != MPI_SUCCESS) {
		free(b);
		return SPOOL_MPI_ECOMM;
	}
	*buf = b;
	*len = count;
	*from = st.MPI_SOURCE;
	return 1;
}

/* ---- root: results ------------------------------------------------------ */

static void results_link(spool_mpi_executor *ex, struct result_node *n)
{
	n->ex = ex;
	pthread_mutex_lock(&ex->mu);
	n->next = ex->results.next;
	n->prev = &ex->results;
	ex->results.next->prev = n;
	ex->results.next = n;
	pthread_mutex_unlock(&ex->mu);
}

void spool_mpi_result_free(spool_mpi_result *r)
{
	if (!r)
		return;
	struct result_node *n =
		(struct result_node *)((char *)r -
				       offsetof(struct result_node, r));
	spool_mpi_executor *ex = n->ex;
	pthread_mutex_lock(&ex->mu);
	n->prev->next = n->next;
	n->next->prev = n->prev;
	pthread_mutex_unlock(&ex->mu);
	free(n);
}

/* Ends task t with err (0: value r) and drops it. */
static void task_end(spool_mpi_executor *ex, struct task *t, int err,
		     spool_mpi_result *r)
{
	if (err == 0)
		spool_promise_set_result(t->f, r);
	else
		spool_promise_set_error(t->f, err);
	spool_future_release(t->f);
	free(t->msg);
	free(t);
	pthread_mutex_lock(&ex->mu);
	ex->outstanding--;
	pthread_mutex_unlock(&ex->mu);
}

/* ---- root: running a task itself ---------------------------------------- */

static int run_fn(const unsigned char *msg, size_t len, void **out,
		  size_t *out_len)
{
	const struct hdr *h = (const struct hdr *)msg;
	const char *name = (const char *)(msg + sizeof *h);
	if (sizeof *h + h->name_len > len)
		return SPOOL_EINVAL;
	spool_mpi_fn fn = spool__mpi_lookup(name, h->name_len);
	if (!fn)
		return SPOOL_MPI_ENOFN;
	size_t off = sizeof *h + h->name_len;
	*out = NULL;
	*out_len = 0;
	int rc = fn(msg + off, len - off, out, out_len);
	if (rc != 0) {
		free(*out);
		*out = NULL;
		*out_len = 0;
	}
	return rc;
}

static int local_task(void *arg, void **result)
{
	struct task *t = arg;
	spool_mpi_executor *ex = t->ex;
	(void)result;
	void *out = NULL;
	size_t out_len = 0;
	int rc = run_fn(t->msg, t->msg_len, &out, &out_len);
	struct result_node *n = NULL;
	if (rc == 0) {
		n = xmalloc_aligned(NODE_DATA_OFF + out_len);
		if (!n) {
			rc = SPOOL_ENOMEM;
		} else {
			n->r.size = out_len;
			n->r.data = out_len ? (char *)n + NODE_DATA_OFF : NULL;
			if (out_len)
				memcpy(n->r.data, out, out_len);
			results_link(ex, n);
		}
	}
	free(out);
	task_end(ex, t, rc, n ? &n->r : NULL);
	pthread_mutex_lock(&ex->mu);
	ex->local_credits++;
	pthread_mutex_unlock(&ex->mu);
	spool__mpi_kick(ex->engine);
	return 0;
}

/* ---- root: the poller --------------------------------------------------- */

static int free_slot(struct peer *p)
{
	for (int i = 0; i < p->nslots; i++)
		if (!p->slots[i])
			return i;
	return -1;
}

/* Hands t to peer r (or runs it locally when r is the root). */
static void dispatch_one(spool_mpi_executor *ex, struct task *t, int r)
{
	if (r == ex->rank) {
		spool_future *pf = spool_submit(ex->exec, local_task, t);
		if (!pf || spool_future_state(pf) == SPOOL_FAILED) {
			int err = pf ? spool_future_error(pf) : SPOOL_ENOMEM;
			spool_future_release(pf);
			task_end(ex, t, err, NULL);
			pthread_mutex_lock(&ex->mu);
			ex->local_credits++;
			pthread_mutex_unlock(&ex->mu);
			return;
		}
		spool_future_release(pf);
		return;
	}
	struct peer *p = &ex->peers[r];
	int s = free_slot(p);
	struct hdr *h = (struct hdr *)t->msg;
	h->slot = (uint32_t)s;
	unsigned char *msg = t->msg;
	t->msg = NULL;
	p->slots[s] = t;
	p->credits--;
	p->last_sent = spool__mpi_now();
	if (send_owned(ex, r, msg, t->msg_len) != 0) {
		p->slots[s] = NULL;
		p->credits++;
		task_end(ex, t, SPOOL_MPI_ECOMM, NULL);
	}
}

/* The next rank with room, round robin; -1 if none. */
static int pick(spool_mpi_executor *ex)
{
	for (int k = 0; k < ex->size; k++) {
		int r = (ex->rr + k) % ex->size;
		bool room;
		if (r == ex->rank) {
			pthread_mutex_lock(&ex->mu);
			room = ex->local_credits > 0;
			if (room)
				ex->local_credits--;
			pthread_mutex_unlock(&ex->mu);
		} else {
			struct peer *p = &ex->peers[r];
			room = !p->dead && p->credits > 0 && !p->stop_sent;
		}
		if (room) {
			ex->rr = (r + 1) % ex->size;
			return r;
		}
	}
	return -1;
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

static int dispatch(spool_mpi_executor *ex)
{
	int n = 0;
	for (;;) {
		pthread_mutex_lock(&ex->mu);
		struct task *t = ex->q_head;
		pthread_mutex_unlock(&ex->mu);
		if (!t)
			break;
		int r = pick(ex);
		if (r < 0) {
			if (anyone_alive(ex))
				break;
			r = -2; /* nobody left: fail the queue */
		}
		pthread_mutex_lock(&ex->mu);
		ex->q_head = t->next;
		if (!ex->q_head)
			ex->q_tail = NULL;
		pthread_mutex_unlock(&ex->mu);
		n++;
		if (r == -2) {
			task_end(ex, t, SPOOL_MPI_EPEER, NULL);
			continue;
		}
		if (spool_promise_start(t->f) != 0) {
			/* Cancelled while queued: it ended CANCELLED. */
			if (r == ex->rank) {
				pthread_mutex_lock(&ex->mu);
				ex->local_credits++;
				pthread_mutex_unlock(&ex->mu);
			}
			task_end(ex, t, SPOOL_ECANCELLED, NULL);
			continue;
		}
		dispatch_one(ex, t, r);
	}
	return n;
}

static void peer_lost(spool_mpi_executor *ex, int r)
{
	struct peer *p = &ex->peers[r];
	p->dead = true;
	p->credits = 0;
	for (int i = 0; i < p->nslots; i++) {
		if (p->slots[i]) {
			struct task *t = p->slots[i];
			p->slots[i] = NULL;
			task_end(ex, t, SPOOL_MPI_EPEER, NULL);
		}
	}
}

static void root_handle(spool_mpi_executor *ex, unsigned char *buf, int len,
			int from)
{
	struct peer *p = &ex->peers[from];
	const struct hdr *h = (const struct hdr *)(buf + NODE_DATA_OFF);
	if ((size_t)len < sizeof *h || from == ex->rank || p->dead) {
		free(buf);
		return;
	}
	p->last_heard = spool__mpi_now();
	switch (h->kind) {
	case K_CREDIT: {
		int w = h->code > 0 ? h->code : 1;
		struct task **s = calloc((size_t)w, sizeof *s);
		if (s && !p->joined) {
			p->slots = s;
			p->nslots = w;
			p->credits = w;
			p->joined = true;
		} else {
			free(s);
		}
		break;
	}
	case K_RESULT: {
		if (h->slot >= (uint32_t)p->nslots || !p->slots[h->slot] ||
		    p->slots[h->slot]->seq != h->seq)
			break; /* stale: its task already ended */
		struct task *t = p->slots[h->slot];
		p->slots[h->slot] = NULL;
		p->credits++;
		if (h->code != 0) {
			task_end(ex, t, h->code, NULL);
			break;
		}
		/* The result lives in buf itself: node, header, bytes. */
		struct result_node *n = (struct result_node *)buf;
		n->r.size = (size_t)len - sizeof *h;
		n->r.data = n->r.size ? buf + NODE_DATA_OFF + sizeof *h : NULL;
		results_link(ex, n);
		task_end(ex, t, 0, &n->r);
		return; /* buf is the result now */
	}
	case K_BYE:
		p->bye = true;
		break;
	default: /* K_BEAT */
		break;
	}
	free(buf);
}

static int root_poll(void *arg, int64_t now, int64_t *next_ns)
{
	spool_mpi_executor *ex = arg;
	int ev = 0;
	for (int i = 0; i < RECV_BATCH; i++) {
		unsigned char *buf;
		int len, from;
		int rc = recv_next(ex, MPI_ANY_SOURCE, NODE_DATA_OFF, &buf,
				   &len, &from);
		if (rc <= 0)
			break;
		root_handle(ex, buf, len, from);
		ev++;
	}
	ev += dispatch(ex);
	/* Liveness: beats out, silence in. */
	for (int r = 0; r < ex->size; r++) {
		struct peer *p = &ex->peers[r];
		if (r == ex->rank || p->dead || p->bye)
			continue;
		if (now - p->last_heard > ex->timeout_ns) {
			peer_lost(ex, r);
			ev++;
			continue;
		}
		if (ex->stopping && !p->stop_sent) {
			p->stop_sent = true;
			p->last_sent = now;
			send_small(ex, r, K_STOP, 0);
			ev++;
		} else if (!p->stop_sent && now - p->last_sent > ex->hb_ns) {
			p->last_sent = now;
			send_small(ex, r, K_BEAT, 0);
		}
	}
	pthread_mutex_lock(&ex->mu);
	bool busy = ex->outstanding > 0 || ex->stopping;
	pthread_mutex_unlock(&ex->mu);
	*next_ns = busy ? 0 : ex->hb_ns / 2;
	return ev;
}

/* ---- worker ------------------------------------------------------------ */

static int worker_task(void *arg, void **result)
{
	struct wtask *w = arg;
	spool_mpi_executor *ex = w->ex;
	(void)result;
	w->code = run_fn(w->msg, (size_t)w->len, &w->out, &w->out_len);
	free(w->msg);
	w->msg = NULL;
	pthread_mutex_lock(&ex->mu);
	w->next = NULL;
	if (ex->out_tail)
		ex->out_tail->next = w;
	else
		ex->out_head = w;
	ex->out_tail = w;
	ex->running--;
	pthread_mutex_unlock(&ex->mu);
	spool__mpi_kick(ex->engine);
	return 0;
}

static void serve_end(spool_mpi_executor *ex, int rc)
{
	if (rc == 0)
		spool_promise_set_result(ex->stop_f, NULL);
	else
		spool_promise_set_error(ex->stop_f, rc);
}

static int flush_outbox(spool_mpi_executor *ex, int64_t now)
{
	pthread_mutex_lock(&ex->mu);
	struct wtask *w = ex->out_head;
	ex->out_head = ex->out_tail = NULL;
	pthread_mutex_unlock(&ex->mu);
	int n = 0;
	while (w) {
		struct wtask *next = w->next;
		size_t len = sizeof(struct hdr) + w->out_len;
		struct hdr *h = xmalloc_aligned(len);
		if (h) {
			memset(h, 0, sizeof *h);
			h->kind = K_RESULT;
			h->slot = w->slot;
			h->seq = w->seq;
			h->code = w->code;
			if (w->out_len)
				memcpy(h + 1, w->out, w->out_len);
			if (!ex->bye_sent)
				send_owned(ex, ex->root, h, len);
			else
				free(h);
			ex->last_sent = now;
		}
		free(w->out);
		free(w);
		w = next;
		n++;
	}
	return n;
}

static void worker_handle(spool_mpi_executor *ex, unsigned char *buf, int len)
{
	const struct hdr *h = (const struct hdr *)buf;
	if ((size_t)len < sizeof *h) {
		free(buf);
		return;
	}
	switch (h->kind) {
	case K_TASK: {
		struct wtask *w = calloc(1, sizeof *w);
		if (!w) {
			free(buf);
			break;
		}
		w->ex = ex;
		w->msg = buf;
		w->len = len;
		w->slot = h->slot;
		w->seq = h->seq;
		pthread_mutex_lock(&ex->mu);
		ex->running++;
		pthread_mutex_unlock(&ex->mu);
		spool_future *pf = spool_submit(ex->exec, worker_task, w);
		if (!pf || (spool_future_done(pf) &&
			    spool_future_state(pf) != SPOOL_DONE)) {
			/* Not run: answer with the executor's refusal. */
			int err = pf ? spool_future_error(pf) : SPOOL_ENOMEM;
			w->code = err;
			free(w->msg);
			w->msg = NULL;
			pthread_mutex_lock(&ex->mu);
			w->next = NULL;
			if (ex->out_tail)
				ex->out_tail->next = w;
			else
				ex->out_head = w;
			ex->out_tail = w;
			ex->running--;
			pthread_mutex_unlock(&ex->mu);
		}
		spool_future_release(pf);
		return;
	}
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
	if (ex->bye_sent)
		return 0;
	if (!ex->credit_sent) {
		ex->credit_sent = true;
		ex->last_sent = now;
		ex->last_heard = now;
		send_small(ex, ex->root, K_CREDIT, ex->window);
		ev++;
	}
	for (int i = 0; i < RECV_BATCH && !ex->bye_sent; i++) {
		unsigned char *buf;
		int len, from;
		int rc = recv_next(ex, ex->root, 0, &buf, &len, &from);
		if (rc < 0) {
			ex->bye_sent = true; /* send nothing more */
			serve_end(ex, SPOOL_MPI_ECOMM);
			return ev + 1;
		}
		if (rc == 0)
			break;
		ex->last_heard = now;
		worker_handle(ex, buf, len);
		ev++;
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
	ex->polling = false;
	return rc;
}

spool_future *spool_mpi_submit(spool_mpi_executor *ex, const char *name,
			       const void *arg, size_t len)
{
	spool__mpi_check_live("spool_mpi_submit");
	if (!ex || !name || (!arg && len > 0))
		return spool__mpi_failed(SPOOL_EINVAL);
	size_t nlen = strlen(name);
	if (nlen == 0 || nlen > SPOOL__MPI_NAME_MAX ||
	    len > (size_t)INT32_MAX - sizeof(struct hdr) - nlen)
		return spool__mpi_failed(SPOOL_EINVAL);
	if (!ex->is_root)
		return spool__mpi_failed(SPOOL_MPI_ENOTROOT);
	struct task *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->msg_len = sizeof(struct hdr) + nlen + len;
	t->msg = xmalloc_aligned(t->msg_len);
	t->f = spool_promise_new();
	if (!t->msg || !t->f) {
		spool_future_release(t->f);
		free(t->msg);
		free(t);
		return NULL;
	}
	t->ex = ex;
	struct hdr *h = (struct hdr *)t->msg;
	memset(h, 0, sizeof *h);
	h->kind = K_TASK;
	h->name_len = (uint32_t)nlen;
	memcpy(t->msg + sizeof *h, name, nlen);
	if (len)
		memcpy(t->msg + sizeof *h + nlen, arg, len);
	spool_future *f = spool_future_retain(t->f);
	pthread_mutex_lock(&ex->mu);
	if (ex->closing) {
		pthread_mutex_unlock(&ex->mu);
		spool_promise_set_error(t->f, SPOOL_ESHUTDOWN);
		spool_future_release(t->f);
		free(t->msg);
		free(t);
		return f;
	}
	t->seq = h->seq = ++ex->next_seq;
	if (ex->q_tail)
		ex->q_tail->next = t;
	else
		ex->q_head = t;
	ex->q_tail = t;
	ex->outstanding++;
	pthread_mutex_unlock(&ex->mu);
	spool__mpi_kick(ex->engine);
	return f;
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
	pthread_mutex_lock(&ex->mu);
	bool d = ex->outstanding == 0;
	pthread_mutex_unlock(&ex->mu);
	return d;
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
		pthread_mutex_lock(&ex->mu);
		ex->stopping = true;
		pthread_mutex_unlock(&ex->mu);
		spool__mpi_kick(ex->engine);
		wait_until(ex, all_stopped);
		spool__mpi_poller_remove(ex->engine, root_poll, ex);
	} else if (ex->polling) {
		spool__mpi_misuse("spool_mpi_executor_destroy",
				  "called while spool_mpi_executor_serve() "
				  "runs");
	}
	/* Tasks still on the pool (a worker whose root was lost) finish
	 * before anything they use is freed. */
	spool_pool_destroy(ex->own_pool);
	if (!ex->is_root) {
		struct wtask *w = ex->out_head;
		while (w) {
			struct wtask *next = w->next;
			free(w->out);
			free(w);
			w = next;
		}
		if (!spool_future_done(ex->stop_f))
			spool_promise_set_error(ex->stop_f, SPOOL_ESHUTDOWN);
		spool_future_release(ex->stop_f);
	}
	spool__mpi_engine_use(ex->engine, -1);
	if (ex->own_engine)
		spool_mpi_engine_destroy(ex->engine);
	struct result_node *n = ex->results.next;
	while (n != &ex->results) {
		struct result_node *next = n->next;
		free(n);
		n = next;
	}
	if (ex->peers) {
		for (int r = 0; r < ex->size; r++)
			free(ex->peers[r].slots);
		free(ex->peers);
	}
	MPI_Comm_free(&ex->comm);
	pthread_mutex_destroy(&ex->mu);
	free(ex);
}
