/* SPDX-License-Identifier: MIT */
/*
 * A proxy future: a future of spool's own that stays PENDING until a
 * wrapper task, submitted to an executor, starts it, runs the work and
 * completes it. Task groups (each spawned task) and then (the
 * continuation) are proxies.
 *
 * Why a future of its own rather than the executor's: it exists before the
 * work is submitted (a group task waiting in its queue, a continuation
 * whose source is pending), and cancelling it before the wrapper starts it
 * is a plain cancel: the wrapper then finds it CANCELLED and skips the
 * work.
 *
 * What the proxy shares:
 *   - the start (spool__proxy_start): submit ops->run with p as its
 *     argument; remember the wrapper's future in `exec` (a reference, let
 *     go of by fini); hang a callback on it on the proxy's own node, so
 *     that registering it cannot fail;
 *   - that callback (on_exec in proxy.c): a wrapper that never ran (the
 *     executor refused it or cancelled it in its queue) ends with an error,
 *     which completes the proxy with it; when the wrapper did run, the
 *     proxy is final already and that completion is a harmless
 *     SPOOL_ESTATE. Then ops->ended, then the callback lets go of the
 *     reference the starter lent it;
 *   - the cancel of a RUNNING proxy: forwarded to the wrapper's future,
 *     which interrupts work suspended at an await on a loop (0); on a pool
 *     the request flag on the proxy, already raised by
 *     spool_future_cancel, is what the work polls (SPOOL_EBUSY);
 *   - the deadlock check, for types that want it: the proxy ends only
 *     after its wrapper has run, or with it when it never does, so if the
 *     wrapper is stuck, so is the proxy.
 *
 * Lifetime: the starter lends one reference to p, which the callback on
 * the wrapper's future drops (or the start, when the submission fails);
 * that reference lasts until the wrapper's future is final, so the
 * wrapper needs none of its own.
 */
#ifndef SPOOL_COMBINATORS_PROXY_H
#define SPOOL_COMBINATORS_PROXY_H

#include "internal.h"

struct spool__proxy {
	spool_future fut; /* must be first: the proxy is its future */
	/* The wrapper's future, a reference; NULL until submitted. */
	_Atomic(spool_future *) exec;
	/* on_exec's node on the wrapper's future (the executor's future may
	 * carry callbacks already, a user executor's, so it brings its own
	 * rather than one that would be allocated). It outlives that
	 * registration: on_exec holds the proxy until it has run. */
	struct spool__cb exec_node;
};

struct spool__proxy_ops {
	/* First, so that f->ops of a proxy leads back here. Its fini must
	 * be spool__proxy_fini and its cancel_running
	 * spool__proxy_cancel_running; stuck may be spool__proxy_stuck. */
	struct spool__future_ops fut;
	/* The wrapper task, submitted with the proxy as its argument. It
	 * starts the proxy (PENDING -> RUNNING; a cancelled proxy skips the
	 * work), runs the work as the current future and completes the
	 * proxy; it returns non-zero when the work did not run or failed. */
	spool_task_fn run;
	/* Optional: what the type holds besides the wrapper, let go of when
	 * the proxy's last reference goes (before the wrapper's future). */
	void (*fini)(struct spool__proxy *p);
	/* Optional: the wrapper's future is final, or its submission failed;
	 * the proxy is final then too. */
	void (*ended)(struct spool__proxy *p);
};

/* Makes p a PENDING future with one reference, ops and label. */
void spool__proxy_init(struct spool__proxy *p,
		       const struct spool__proxy_ops *ops, const char *label);

/* Submits ops->run(p) to ex. The caller lends one reference to p, which
 * passes to the callback on the wrapper's future. If the submission fails
 * (no memory), completes p with SPOOL_ENOMEM, calls ops->ended and drops
 * that reference. Never blocks; on an inline executor the work runs
 * inside. */
void spool__proxy_start(struct spool__proxy *p, spool_executor *ex);

/* The wrapper's future, or NULL before the start (seq_cst). */
static inline spool_future *spool__proxy_exec(struct spool__proxy *p)
{
	return atomic_load(&p->exec);
}

void spool__proxy_fini(spool_future *f);
int spool__proxy_cancel_running(spool_future *f);
bool spool__proxy_stuck(spool_future *f);

#endif /* SPOOL_COMBINATORS_PROXY_H */
