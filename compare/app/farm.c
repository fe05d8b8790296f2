/* SPDX-License-Identifier: MIT */
/*
 * What every farm shares (farm.h): the messages, the worker's loop and the
 * program's loop that hands tasks out and collects results.
 *
 * A message is a header (struct header below, CMP_FARM_HEADER bytes, in the
 * machine's own byte order: every worker runs the same binary on the same
 * kind of machine) followed by payload bytes up to the message's length.
 * The payload stands for the pickled arguments (or result) beyond what the
 * header carries: the sender derives each byte from the task and sums
 * them, the receiver sums them again and refuses a message whose sum
 * differs, so both sides touch every byte, as pickle.dumps and
 * pickle.loads do. What it does not model is pickle's cost per object
 * (microseconds in CPython, nanoseconds here): docs/compare.md says so.
 */
#include "farm.h"

#include <spool.h>
#include <stdlib.h>
#include <string.h>

#include "workloads.h"

enum { MSG_TASK = 1, MSG_RESULT, MSG_END };

#define MAGIC 0x5350464du /* "SPFM" */

struct header {
	uint32_t magic, type, len, id; /* id: the task's place in its batch */
	int32_t rc, workload, kind, index;
	int32_t fib_n, hash_kib, hash_rounds, mixed_rounds;
	uint32_t port, reserved;
	uint64_t seed;
	int64_t delay_ns;
	uint64_t result, payload_sum;
};
_Static_assert(sizeof(struct header) == CMP_FARM_HEADER,
	       "CMP_FARM_HEADER is the header's size");

/* Writes the payload after the header: len - CMP_FARM_HEADER bytes derived
 * from key; returns their sum. */
static uint64_t payload_fill(uint8_t *msg, size_t len, uint64_t key)
{
	uint64_t sum = 0, x = 0;
	for (size_t i = CMP_FARM_HEADER; i < len; i++) {
		if ((i - CMP_FARM_HEADER) % 8 == 0)
			x = cmp_mix64(key + i);
		msg[i] = (uint8_t)x;
		x >>= 8;
		sum = sum * 31 + msg[i];
	}
	return sum;
}

static uint64_t payload_sum(const uint8_t *msg, size_t len)
{
	uint64_t sum = 0;
	for (size_t i = CMP_FARM_HEADER; i < len; i++)
		sum = sum * 31 + msg[i];
	return sum;
}

/* Reads and checks a message's header; 0 or SPOOL_EINVAL. */
static int header_read(const void *msg, size_t len, struct header *h)
{
	if (len < CMP_FARM_HEADER)
		return SPOOL_EINVAL;
	memcpy(h, msg, sizeof(*h));
	if (h->magic != MAGIC || h->len != len)
		return SPOOL_EINVAL;
	if (h->type != MSG_END && payload_sum(msg, len) != h->payload_sum)
		return SPOOL_EINVAL;
	return 0;
}

static void encode_task(const struct cmp_task_spec *t, uint32_t id, size_t len,
			uint8_t *msg)
{
	struct header h = {.magic = MAGIC,
			   .type = MSG_TASK,
			   .len = (uint32_t)len,
			   .id = id,
			   .workload = t->workload,
			   .kind = t->kind,
			   .index = t->index,
			   .fib_n = t->fib_n,
			   .hash_kib = t->hash_kib,
			   .hash_rounds = t->hash_rounds,
			   .mixed_rounds = t->mixed_rounds,
			   .port = t->port,
			   .seed = t->seed,
			   .delay_ns = t->delay_ns};
	h.payload_sum = payload_fill(msg, len, t->seed ^ ((uint64_t)id << 32));
	memcpy(msg, &h, sizeof(h));
}

static void encode_result(const struct header *task, int rc, uint64_t result,
			  uint8_t *msg)
{
	struct header h = {.magic = MAGIC,
			   .type = MSG_RESULT,
			   .len = task->len,
			   .id = task->id,
			   .rc = rc,
			   .index = task->index,
			   .result = result};
	h.payload_sum = payload_fill(msg, task->len, result);
	memcpy(msg, &h, sizeof(h));
}

void cmp_farm_encode_end(void *buf)
{
	struct header h = {
		.magic = MAGIC, .type = MSG_END, .len = CMP_FARM_HEADER};
	memcpy(buf, &h, sizeof(h));
}

/* ---- the worker's side ----------------------------------------------------
 */

struct serve_state {
	const struct cmp_farm_endpoint *ep;
	uint8_t *buf; /* the hash buffer, built for (seed, kib) */
	size_t buf_len;
	uint64_t buf_seed;
};

static bool ep_stopped(void *arg)
{
	const struct cmp_farm_endpoint *ep = arg;
	return ep->stop_requested(ep->ctx);
}

/* The hash buffer a task needs, built on first use in this worker (as
 * compare.py's workers build theirs). */
static int ensure_buffer(struct serve_state *s, const struct header *h)
{
	size_t len = (size_t)h->hash_kib * 1024;
	if (h->hash_kib <= 0 || h->hash_kib > 65536)
		return SPOOL_EINVAL;
	if (s->buf && s->buf_len == len && s->buf_seed == h->seed)
		return 0;
	free(s->buf);
	s->buf = malloc(len);
	if (!s->buf)
		return SPOOL_ENOMEM;
	cmp_hash_buffer_fill(s->buf, len, h->seed);
	s->buf_len = len;
	s->buf_seed = h->seed;
	return 0;
}

static int run_message(struct serve_state *s, const struct header *h,
		       uint64_t *result)
{
	struct cmp_task_spec t = {.workload = h->workload,
				  .kind = h->kind,
				  .index = h->index,
				  .seed = h->seed,
				  .delay_ns = h->delay_ns,
				  .fib_n = h->fib_n,
				  .hash_kib = h->hash_kib,
				  .hash_rounds = h->hash_rounds,
				  .mixed_rounds = h->mixed_rounds,
				  .port = (uint16_t)h->port};
	if (h->workload == CMP_W_HASH || h->kind == CMP_TASK_MIXED_CPU) {
		int rc = ensure_buffer(s, h);
		if (rc)
			return rc;
		t.buf = s->buf;
		t.buf_len = s->buf_len;
	}
	return cmp_task_run(&t, ep_stopped, (void *)s->ep, result);
}

int cmp_farm_serve(const struct cmp_farm_endpoint *ep)
{
	struct serve_state s = {.ep = ep};
	uint8_t *in = malloc(CMP_FARM_MAX_MSG), *out = malloc(CMP_FARM_MAX_MSG);
	int rc = in && out ? 0 : SPOOL_ENOMEM;
	while (rc == 0) {
		size_t len;
		struct header h;
		rc = ep->recv(ep->ctx, in, CMP_FARM_MAX_MSG, &len);
		if (rc == 1) { /* the program closed its end */
			rc = 0;
			break;
		}
		if (rc)
			break;
		rc = header_read(in, len, &h);
		if (rc || h.type == MSG_END)
			break;
		if (h.type != MSG_TASK) {
			rc = SPOOL_EINVAL;
			break;
		}
		uint64_t result = 0;
		int trc = run_message(&s, &h, &result);
		encode_result(&h, trc, result, out);
		rc = ep->send(ep->ctx, out, h.len);
	}
	free(s.buf);
	free(in);
	free(out);
	return rc;
}

/* ---- the program's side ---------------------------------------------------
 */

int cmp_farm_run(const struct cmp_farm_ops *ops, void *farm, int workers,
		 const struct cmp_task_spec *tasks, int n, int msg_bytes,
		 uint64_t *results, void (*meanwhile)(void *), void *arg)
{
	if (msg_bytes < CMP_FARM_HEADER || msg_bytes > CMP_FARM_MAX_MSG ||
	    workers < 1 || n < 0)
		return SPOOL_EINVAL;
	size_t len = (size_t)msg_bytes;
	uint8_t *msg = malloc(len);
	if (!msg)
		return SPOOL_ENOMEM;
	int rc = 0, next = 0, done = 0, first_failure = 0;

	/* The first window: CMP_FARM_WINDOW tasks per worker, round robin.
	 * Afterwards each result frees a place in its worker's window, which
	 * the next task fills. */
	for (int round = 0; round < CMP_FARM_WINDOW; round++)
		for (int w = 0; w < workers && next < n && rc == 0; w++) {
			encode_task(&tasks[next], (uint32_t)next, len, msg);
			rc = ops->send(farm, w, msg, len);
			next++;
		}
	if (meanwhile)
		meanwhile(arg);
	while (rc == 0 && done < n) {
		int w;
		size_t got;
		struct header h;
		rc = ops->recv(farm, &w, msg, len, &got);
		if (rc)
			break;
		if (header_read(msg, got, &h) || h.type != MSG_RESULT ||
		    h.id >= (uint32_t)n || w < 0 || w >= workers) {
			rc = SPOOL_EINVAL;
			break;
		}
		results[h.id] = h.result;
		if (h.rc && !first_failure)
			first_failure = h.rc;
		done++;
		if (next < n) {
			encode_task(&tasks[next], (uint32_t)next, len, msg);
			rc = ops->send(farm, w, msg, len);
			next++;
		}
	}
	free(msg);
	return rc ? rc : first_failure;
}
