/* SPDX-License-Identifier: MIT */
/*
 * The detail of a failure (spool/fail.h): a message and an owned payload
 * beside the error code, in one reference-counted record that a FAILED
 * future's value slot points to.
 *
 * Where it lives. A future's value slot (future_impl.h) is used only by a
 * DONE future; a FAILED one has no value, so its slot points to the
 * failure's record, or is NULL when the failure has none. No field is
 * added and a success stores its value as before. While a task runs, the
 * slot of its future holds the record spool_fail() made for it (pending),
 * which the completion keeps if the task then fails with the record's
 * code and drops otherwise. The readers read the slot only after an
 * acquire load of a FAILED phase, which pairs with the completer's
 * release publication: the record and its contents, written before, are
 * visible (future.c, write_outcome).
 *
 * Sharing. A combinator that fails with a child's failure (gather, map,
 * a task group's join) points its own slot at the same record with one
 * more reference rather than copying it: the propagated failure has the
 * same message at the same address and the same payload. The last
 * reference to go runs the payload's destructor, once, and frees the
 * record.
 */
#ifndef SPOOL_CORE_DETAIL_H
#define SPOOL_CORE_DETAIL_H

#include <stdarg.h>
#include <stdatomic.h>

#include "spool/fail.h"

struct spool__detail {
	_Atomic uint32_t refs;
	int code;         /* the failure it describes */
	bool has_message; /* false: message is "" and reads as NULL */
	void *payload;    /* owned; dtor(payload) at the last release */
	spool_payload_dtor dtor;
	char message[];
};

/* A record with one reference for code, the formatted message (fmt NULL:
 * none) and payload, which it owns from then on. NULL when out of memory:
 * the payload is then not taken (the caller still owns it). */
struct spool__detail *spool__detail_new(int code, void *payload,
					spool_payload_dtor dtor,
					const char *fmt, va_list ap);

/* Adds a reference (d not NULL) and returns d. */
struct spool__detail *spool__detail_retain(struct spool__detail *d);

/* Drops a reference; the last one runs the payload's destructor and frees
 * d. NULL is a no-op. */
void spool__detail_release(struct spool__detail *d);

/* The detail of a FAILED future (borrowed: valid while f is), or NULL when
 * f is not FAILED or its failure has none. f not NULL. */
struct spool__detail *spool__future_detail(const spool_future *f);

/* Completes f with the error err carrying d (borrowed: f takes its own
 * reference when the completion succeeds; d NULL: none), as
 * spool__future_complete(f, err, NULL). err must make f FAILED (neither 0
 * nor SPOOL_ECANCELLED) when d is not NULL. */
int spool__future_complete_detail(spool_future *f, int err,
				  struct spool__detail *d);

/* spool__future_complete(f, err, value) with the detail d, as above: the
 * one claim-and-finish both use (future.c). */
int spool__future_complete_detail_value(spool_future *f, int err, void *value,
					struct spool__detail *d);

/* Puts d (its reference) in the slot of f, the RUNNING task of this
 * thread, dropping the detail pending there before. Returns false, and
 * takes nothing, when f is not RUNNING. */
bool spool__future_fail_pending(spool_future *f, struct spool__detail *d);

/* Takes the detail pending in the slot of f, the RUNNING task of this
 * thread (its reference: the caller releases it), leaving the slot empty;
 * NULL when nothing is pending or f is not RUNNING. */
struct spool__detail *spool__future_take_pending(spool_future *f);

/* Completes f with the error err and, when src is FAILED with that very
 * error, src's detail (shared): how a combinator passes on the failure of
 * the input it fails with. src may be NULL (no detail). */
int spool__future_complete_as(spool_future *f, int err,
			      const spool_future *src);

#endif /* SPOOL_CORE_DETAIL_H */
