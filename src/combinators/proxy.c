/* SPDX-License-Identifier: MIT */
/*
 * The proxy future of task groups and then (see proxy.h): its start on an
 * executor, the callback on the wrapper's future, and cancel forwarding.
 */
#include "proxy.h"

static const struct spool__proxy_ops *ops_of(const struct spool__proxy *p)
{
	/* fut is the first member of spool__proxy_ops. */
	return (const struct spool__proxy_ops *)p->fut.ops;
}

static void ended(struct spool__proxy *p)
{
	const struct spool__proxy_ops *ops = ops_of(p);
	if (ops->ended)
		ops->ended(p);
}

void spool__proxy_init(struct spool__proxy *p,
		       const struct spool__proxy_ops *ops, const char *label)
{
	spool__future_init(&p->fut, &ops->fut);
	p->fut.label = label;
	atomic_init(&p->exec, NULL);
}

void spool__proxy_fini(spool_future *f)
{
	struct spool__proxy *p = (struct spool__proxy *)f;
	const struct spool__proxy_ops *ops = ops_of(p);
	if (ops->fini)
		ops->fini(p);
	spool_future_release(atomic_load(&p->exec));
}

/* The wrapper's future is final: a wrapper that never ran (refused, or
 * cancelled in its queue) ends the proxy with its error; one that ran has
 * completed the proxy already (SPOOL_ESTATE here, harmless). */
static void on_exec(spool_future *e, void *arg)
{
	struct spool__proxy *p = arg;
	int err = spool_future_error(e);
	if (err != 0)
		spool__future_complete(&p->fut, err, NULL);
	ended(p);
	spool_future_release(&p->fut); /* the starter's loan */
}

void spool__proxy_start(struct spool__proxy *p, spool_executor *ex)
{
	spool_future *e = spool_submit(ex, ops_of(p)->run, p);
	if (!e) {
		spool__future_complete(&p->fut, SPOOL_ENOMEM, NULL);
		ended(p);
		spool_future_release(&p->fut);
		return;
	}
	atomic_store(&p->exec, e);
	spool__future_add_callback_node(e, &p->exec_node, on_exec, p);
}

int spool__proxy_cancel_running(spool_future *f)
{
	spool_future *e = spool__proxy_exec((struct spool__proxy *)f);
	return e && spool_future_cancel(e) == 0 ? 0 : SPOOL_EBUSY;
}

bool spool__proxy_stuck(spool_future *f)
{
	spool_future *e = spool__proxy_exec((struct spool__proxy *)f);
	return e && spool__future_stuck(e);
}
