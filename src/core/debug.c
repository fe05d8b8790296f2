/* SPDX-License-Identifier: MIT */
/*
 * Debug mode (spool/debug.h): the switch, the slow threshold and the sink.
 * The checks themselves live beside what they check (future.c for failures
 * nobody read, wait.c and src/loop/debug.c for the rest); this file only
 * decides whether they run and where their reports go.
 *
 * Reports are rare, so they take a lock: one report at a time reaches the
 * sink, and spool_debug_set_sink() takes the same lock, so once it returns
 * the old sink is done. The lock is recursive so that a sink that itself
 * does something reported (or sets the sink) does not deadlock its own
 * thread.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "debug.h"
#include "spool/fail.h"
#include "future_impl.h"

_Atomic uint8_t spool__debug_flag = SPOOL__DEBUG_UNSET;

static pthread_once_t env_once = PTHREAD_ONCE_INIT;

/* 100 ms, asyncio's slow_callback_duration. Relaxed: a plain setting. */
static _Atomic int64_t slow_ns = 100 * SPOOL_NS_PER_MS;

static pthread_mutex_t sink_mu = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static spool_debug_sink_fn sink_fn; /* under sink_mu */
static void *sink_arg;

static void read_env(void)
{
	const char *v = getenv("SPOOL_DEBUG");
	bool on = v && *v && strcmp(v, "0") != 0;
	/* Only UNSET is replaced: nothing else writes the flag before
	 * env_once has run (spool_debug_set waits for it). */
	atomic_store_explicit(&spool__debug_flag,
			      on ? SPOOL__DEBUG_ON : SPOOL__DEBUG_OFF,
			      memory_order_relaxed);
}

bool spool__debug_resolve(uint8_t v)
{
	if (v == SPOOL__DEBUG_ON)
		return true;
	pthread_once(&env_once, read_env);
	return atomic_load_explicit(&spool__debug_flag, memory_order_relaxed) ==
	       SPOOL__DEBUG_ON;
}

void spool_debug_set(bool on)
{
	/* The environment is read first, so that it never overrides a
	 * later call. */
	pthread_once(&env_once, read_env);
	atomic_store_explicit(&spool__debug_flag,
			      on ? SPOOL__DEBUG_ON : SPOOL__DEBUG_OFF,
			      memory_order_relaxed);
}

bool spool_debug_enabled(void)
{
	return spool__debug_on();
}

int spool_debug_set_slow_duration(int64_t ns)
{
	if (ns < 0)
		return SPOOL_EINVAL;
	atomic_store_explicit(&slow_ns, ns, memory_order_relaxed);
	return 0;
}

int64_t spool_debug_slow_duration(void)
{
	return atomic_load_explicit(&slow_ns, memory_order_relaxed);
}

int64_t spool__debug_slow_ns(void)
{
	return spool_debug_slow_duration();
}

void spool_debug_set_sink(spool_debug_sink_fn fn, void *arg)
{
	pthread_mutex_lock(&sink_mu);
	sink_fn = fn;
	sink_arg = fn ? arg : NULL;
	pthread_mutex_unlock(&sink_mu);
}

void spool__debug_report(spool_debug_report *r, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	r->message = msg;
	pthread_mutex_lock(&sink_mu);
	if (sink_fn) {
		sink_fn(r, sink_arg);
	} else {
		fprintf(stderr, "spool debug: %s\n", msg);
		fflush(stderr);
	}
	pthread_mutex_unlock(&sink_mu);
}

/* A label for a message: quoted, or nothing. */
static void label_text(char *buf, size_t n, const char *label)
{
	if (label)
		snprintf(buf, n, " \"%s\"", label);
	else
		buf[0] = '\0';
}

__attribute__((noinline, cold)) void
spool__debug_hopeless(const spool_future *f, int err, const char *how)
{
	char lbl[96];
	label_text(lbl, sizeof lbl, f->label);
	spool_debug_report r = {
		.kind = SPOOL_DEBUG_HOPELESS_WAIT,
		.function = "spool_future_wait",
		.future_id = f->id,
		.label = f->label,
		.error = err,
	};
	spool__debug_report(&r,
			    "hopeless wait: spool_future_wait() on future "
			    "%" PRIu64 "%s %s",
			    f->id, lbl, how);
}

__attribute__((noinline, cold)) void
spool__debug_unretrieved(const spool_future *f)
{
	if (!spool__debug_on())
		return;
	char lbl[96];
	label_text(lbl, sizeof lbl, f->label);
	spool_debug_report r = {
		.kind = SPOOL_DEBUG_UNRETRIEVED,
		.function = "spool_future_release",
		.future_id = f->id,
		.label = f->label,
		.error = f->error,
	};
	/* The failure's message, when it has one (spool/fail.h): the
	 * detail is let go only after this report (future.c, destroy). */
	const char *msg = spool_future_error_message(f);
	spool__debug_report(&r,
			    "failure never retrieved: future %" PRIu64
			    "%s failed with %s (%d)%s%s%s and its last "
			    "reference was released without anybody reading "
			    "the error",
			    f->id, lbl, spool_err_name(f->error), f->error,
			    msg ? ": \"" : "", msg ? msg : "", msg ? "\"" : "");
}
