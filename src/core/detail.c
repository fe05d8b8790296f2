/* SPDX-License-Identifier: MIT */
/*
 * Failures with detail (spool/fail.h, core/detail.h): the reference-counted
 * record, spool_fail() on the running task, the promise call and the
 * readers. Where the record lives in a future, and why what the readers
 * see is complete, is future.c's (write_outcome).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "detail.h"
#include "future_impl.h"
#include "misuse.h"

struct spool__detail *spool__detail_new(int code, void *payload,
					spool_payload_dtor dtor,
					const char *fmt, va_list ap)
{
	int len = 0;
	if (fmt) {
		va_list aq;
		va_copy(aq, ap);
		len = vsnprintf(NULL, 0, fmt, aq);
		va_end(aq);
		if (len < 0)
			len = 0; /* an encoding error: an empty message */
	}
	struct spool__detail *d = spool__malloc(sizeof *d + (size_t)len + 1);
	if (!d)
		return NULL;
	/* Relaxed: d is not shared yet; whoever publishes it supplies the
	 * release (a future's completion, the exchange of spool_fail). */
	atomic_init(&d->refs, 1);
	d->code = code;
	d->has_message = fmt != NULL;
	d->payload = payload;
	d->dtor = dtor;
	d->message[0] = '\0';
	if (fmt && len > 0)
		vsnprintf(d->message, (size_t)len + 1, fmt, ap);
	return d;
}

struct spool__detail *spool__detail_retain(struct spool__detail *d)
{
	/* Relaxed: a reference is made from one already held, which orders
	 * everything the retainer sees (as spool_future_retain). */
	atomic_fetch_add_explicit(&d->refs, 1, memory_order_relaxed);
	return d;
}

void spool__detail_release(struct spool__detail *d)
{
	if (!d)
		return;
	/* acq_rel: every holder's reads of the record happen before the
	 * last one runs the destructor and frees it (as a future's count,
	 * future.c). */
	if (atomic_fetch_sub_explicit(&d->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (d->dtor)
		d->dtor(d->payload);
	free(d);
}

int spool__future_complete_detail(spool_future *f, int err,
				  struct spool__detail *d)
{
	return spool__future_complete_detail_value(f, err, NULL, d);
}

int spool__future_complete_as(spool_future *f, int err, const spool_future *src)
{
	struct spool__detail *d = src ? spool__future_detail(src) : NULL;
	return spool__future_complete_detail(f, err,
					     d && d->code == err ? d : NULL);
}

/* The common part of spool_fail and spool_fail_with. */
static int fail(int code, void *payload, spool_payload_dtor dtor,
		const char *fmt, va_list ap, const char *who)
{
	if (code == 0)
		spool__misuse(who, "code 0 is not a failure");
	spool_future *f = spool_current_future();
	struct spool__detail *d = NULL;
	if (f && code != SPOOL_ECANCELLED)
		d = spool__detail_new(code, payload, dtor, fmt, ap);
	if (d && spool__future_fail_pending(f, d))
		return code;
	if (d) {
		spool__detail_release(d); /* runs dtor */
	} else if (dtor) {
		dtor(payload); /* handed over all the same */
	}
	return code;
}

int spool_fail(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = fail(code, NULL, NULL, fmt, ap, "spool_fail");
	va_end(ap);
	return rc;
}

int spool_fail_with(int code, void *payload, spool_payload_dtor dtor,
		    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = fail(code, payload, dtor, fmt, ap, "spool_fail_with");
	va_end(ap);
	return rc;
}

char *spool_fail_take(int code)
{
	spool_future *f = spool_current_future();
	struct spool__detail *d = f ? spool__future_take_pending(f) : NULL;
	if (!d)
		return NULL;
	char *m = NULL;
	if (code != 0 && d->code == code && d->has_message) {
		size_t n = strlen(d->message) + 1;
		m = spool__malloc(n); /* the caller's, to free() */
		if (m)
			memcpy(m, d->message, n);
	}
	spool__detail_release(d); /* the payload's destructor runs here */
	return m;
}

/* Formats message with "%s" through spool__detail_new's va_list. */
static struct spool__detail *detail_of(int code, void *payload,
				       spool_payload_dtor dtor, const char *fmt,
				       ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct spool__detail *d = spool__detail_new(code, payload, dtor, fmt,
						    ap);
	va_end(ap);
	return d;
}

int spool_promise_set_error_detail(spool_future *f, int err,
				   const char *message, void *payload,
				   spool_payload_dtor dtor)
{
	if (!spool__is_promise(f) || err == 0 || err == SPOOL_ECANCELLED)
		return SPOOL_EINVAL;
	struct spool__detail *d = message ? detail_of(err, payload, dtor, "%s",
						      message)
					  : detail_of(err, payload, dtor, NULL);
	if (!d)
		return SPOOL_ENOMEM;
	int rc = spool__future_complete_detail(f, err, d);
	if (rc != 0)
		d->dtor = NULL; /* not taken: the payload stays the caller's */
	spool__detail_release(d); /* f took its own reference */
	return rc;
}

const char *spool_future_error_message(const spool_future *f)
{
	struct spool__detail *d = f ? spool__future_detail(f) : NULL;
	return d && d->has_message ? d->message : NULL;
}

void *spool_future_error_payload(const spool_future *f)
{
	struct spool__detail *d = f ? spool__future_detail(f) : NULL;
	return d ? d->payload : NULL;
}
