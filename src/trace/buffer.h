/* SPDX-License-Identifier: MIT */
/*
 * Per-thread event buffers and the registry of the session's buffers
 * (see buffer.c for the protocol that makes stop safe while threads
 * record).
 */
#ifndef SPOOL_TRACE_BUFFER_H
#define SPOOL_TRACE_BUFFER_H

#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>

#include "trace.h"

/* Bytes of each expected thread's buffer that a session's start commits
 * (spool__trace_buffers_open()): 1.5M events without an argument. */
#define SPOOL__TRACE_PREFAULT_BYTES ((size_t)24 << 20)
/* Bytes committed at start for all threads together, at most. */
#define SPOOL__TRACE_PREFAULT_TOTAL ((size_t)256 << 20)

enum { SPOOL__TRACE_NAME_MAX = 32 };

struct spool__trace_buf {
	/* The events, an anonymous mapping of 2 cap slots (room for cap
	 * events that all carry an argument). Only the owner thread writes
	 * them; the stopper reads slots [0, n) after an acquire load of n,
	 * which pairs with the owner's release store. */
	struct spool__trace_slot *ev;
	size_t cap;    /* in events */
	size_t events; /* events stored in this session (owner only) */
	_Atomic size_t n;
	/* Events refused because the buffer was full (owner writes). */
	_Atomic uint64_t dropped;
	/* The owner's latest clock read in this session, 0 before the
	 * first: what a submission is stamped with (owner only). */
	uint64_t last_ts;
	/* The session this buffer records for. Written by the owner under
	 * the lock; read by the owner without it (it is the only writer)
	 * and by the stopper under it. */
	uint64_t gen;
	/* Below: only under the lock. */
	struct spool__trace_buf *next; /* registry link */
	bool registered;               /* in the current session's registry */
	bool orphan;                   /* its thread exited: stop frees it */
	uint64_t stop_dropped;         /* dropped, as the stopper read it */
	pid_t tid;
	int sort; /* track order: workers, loop, others */
	char name[SPOOL__TRACE_NAME_MAX];
};

/* The lock that serialises start, stop, buffer registration, thread exit
 * and renaming. Never taken on the recording path once a thread's buffer
 * is registered. */
void spool__trace_lock(void);
void spool__trace_unlock(void);

/* Lock held. A new session will record up to cap events per thread.
 * Prepares one mapping per thread expected to record (the live threads
 * that named their track, or one per online CPU if more, plus one), with
 * up to SPOOL__TRACE_PREFAULT_BYTES of each committed; the first
 * threads to record take them. */
void spool__trace_buffers_open(size_t cap);

/* Lock held. The buffers registered in the current session (a list linked
 * by next), oldest registration last. */
struct spool__trace_buf *spool__trace_buffers(void);

/* Lock held, after the generation was set to 0 and the buffers written:
 * empties the registry, frees the buffers of exited threads and hands the
 * event memory of the others back to the kernel. */
void spool__trace_buffers_release(void);

/* Events that could not be recorded because a buffer's memory could not
 * be reserved, in the current session (lock held). */
uint64_t spool__trace_buffers_lost(void);

#endif /* SPOOL_TRACE_BUFFER_H */
