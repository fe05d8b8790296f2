/* SPDX-License-Identifier: MIT */
/*
 * spool_shield(): a future that follows another's outcome but not its
 * cancellation (asyncio.shield).
 *
 * The shield is a plain future of its own, PENDING until its source ends,
 * so that a cancel of it is core's ordinary cancel of a PENDING future: it
 * ends CANCELLED at once and nothing is forwarded. One done-callback on the
 * source, on the shield's own node so that registering it cannot fail,
 * completes the shield with the source's outcome; when the shield was
 * cancelled first, that completion is a harmless SPOOL_ESTATE.
 *
 * Lifetime: the shield holds a reference to its source until the shield is
 * freed (the value it hands on is the source's, which a gather owns), and
 * the callback holds one to the shield until it has run. Like a gather's
 * children, a source that never completes keeps both.
 */
#include "core/alloc.h"
#include "internal.h"

struct shield {
	spool_future fut;      /* must be first: the shield is its future */
	spool_future *src;     /* a reference, dropped by fini */
	struct spool__cb node; /* the callback's node on src */
};

static void shield_fini(spool_future *f)
{
	spool_future_release(((struct shield *)f)->src);
}

/* The deadlock check (core/wait.h): the shield ends only with its source. */
static bool shield_stuck(spool_future *f)
{
	spool_future *src = ((struct shield *)f)->src;
	return !spool__is_final(src) && spool__future_stuck(src);
}

static const struct spool__future_ops shield_ops = {
	.fini = shield_fini,
	.stuck = shield_stuck,
};

static void on_source(spool_future *src, void *arg)
{
	struct shield *s = arg;
	int err = spool_future_error(src);
	/* SPOOL_ESTATE when the shield was cancelled first: it stays so. */
	spool__future_complete(&s->fut, err,
			       err == 0 ? spool_future_value(src) : NULL);
	spool_future_release(&s->fut); /* the callback's reference */
}

spool_future *spool_shield(spool_future *f)
{
	if (!f)
		return spool__future_failed(SPOOL_EINVAL);
	struct shield *s = spool__malloc(sizeof *s);
	if (!s)
		return NULL;
	spool__future_init_refs(&s->fut, &shield_ops, 2); /* caller, callback */
	s->fut.label = "shield"; /* names a wait on it in traces */
	s->src = spool_future_retain(f);
	spool__future_add_callback_node(f, &s->node, on_source, s);
	return &s->fut;
}
