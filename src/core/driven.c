/* SPDX-License-Identifier: MIT */
/*
 * Driven promises: a promise whose plain-thread waiters make progress on
 * it themselves (spool_promise_new_driven in spool/future.h).
 *
 * An API that must be polled (MPI, a completion queue) usually has a
 * progress thread that polls and completes promises; a thread waiting on
 * one of them then sleeps on the future's futex and is woken by that
 * thread. The wake-up is a system call on one side and a scheduling delay
 * on the other: microseconds, where the event itself (an MPI message
 * between two processes of one node) takes about one. MPI_Wait avoids it
 * by polling on the waiting thread; a driven promise lets a plain thread's
 * spool_future_wait() do the same through the driver's poll.
 *
 * The record is a future followed by the driver and its argument; its ops
 * mark it (wait.c's block() and future.c's is_promise() compare the ops
 * pointer) and its fini hands the argument back (d->release). Everything
 * else is a promise's: completion, callbacks, cancel requests. Records come
 * from the making thread's slab (slab.h), not malloc: spool-mpi makes one
 * per remote task or request, a hundred thousand in a burst, and frees
 * them together. On the root of spool-bench-mpi's farm (100,000 tasks),
 * callgrind counted 1,320 instructions per task with malloc and free, a
 * third of them in glibc's slow paths, and 860 with the slab.
 *
 * The wait: poll until f is final, the deadline passes, or poll says stop;
 * then leave, then the ordinary block (spin, futex) for whatever time is
 * left. No wake-up can be lost in the hand-over: the block that follows
 * reads the state word afresh, so a completion during the last poll is
 * seen, and one after it wakes the futex as for any waiter. The wait reads
 * the state with acquire, pairing with the completion's release, so a
 * value the driver's poll published through completing f is visible.
 */
#include "future_impl.h"
#include "slab.h"
#include "wait.h"
#include "trace/trace.h"

struct driven {
	spool_future f; /* first: the future's address is the record's */
	const spool_promise_driver *d;
	void *arg;
};

_Static_assert(sizeof(struct driven) <= SPOOL__SLAB_SLOT, "a record is a slot");
_Static_assert(_Alignof(struct driven) <= 16, "slots are 16-aligned");

static void driven_fini(spool_future *f)
{
	struct driven *p = (struct driven *)f;
	if (p->d->release)
		p->d->release(p->arg);
}

/* Back to the slab: like the pool's records, a freed record keeps its
 * count at zero until its block goes, so a double release soon after the
 * last one aborts with a message (future.c, quarantine). */
static void driven_free(spool_future *f)
{
	spool__slab_free(f);
}

const struct spool__future_ops spool__driven_ops = {.fini = driven_fini,
						    .free = driven_free};

spool_future *spool_promise_new_driven(const spool_promise_driver *d, void *arg)
{
	if (!d || !d->poll)
		return NULL;
	struct driven *p = spool__slab_alloc();
	if (!p)
		return NULL;
	spool__future_init(&p->f, &spool__driven_ops);
	p->d = d;
	p->arg = arg;
	return &p->f;
}

/* How many polls pass between two clock reads when the wait has a
 * deadline: a poll is short (one MPI_Testsome), a clock read is not free. */
enum { POLLS_PER_CLOCK = 32 };

static SPOOL__TLS unsigned find_depth;

spool_future *spool__driven_find(spool_future *f)
{
	if (!f->ops || spool__future_is_final(f))
		return NULL;
	if (f->ops == &spool__driven_ops)
		return f;
	if (!f->ops->driven || find_depth >= SPOOL__STUCK_DEPTH_MAX)
		return NULL;
	find_depth++;
	spool_future *d = f->ops->driven(f);
	find_depth--;
	return d;
}

int spool__driven_wait(spool_future *f, spool_future *dp, int64_t deadline)
{
	/* dp's driver serves every promise of its kind (an MPI engine's
	 * requests): it is polled until f is final, even after dp itself
	 * is. A reference keeps dp's driver and argument alive that long
	 * (its release runs at dp's end): the caller's own when dp is f
	 * (the wait reads f throughout, so the caller holds f), a new one
	 * when dp is an input of f, which f may let go of as it settles. */
	bool own = dp != f;
	const struct driven *p =
		(const struct driven *)(own ? spool_future_retain(dp) : dp);
	const spool_promise_driver *d = p->d;
	void *arg = p->arg;
	unsigned polls = 0;
	bool polled = false;
	int rc = -1; /* -1: poll gave up; the block decides */
	/* The driver's code runs next: the wait's end must read the clock
	 * (src/trace/trace.h, "reusing a clock read"). */
	spool__trace_stale();
	for (;;) {
		if (spool__future_is_final(f)) {
			rc = 0;
			break;
		}
		if (deadline != INT64_MAX && polls++ % POLLS_PER_CLOCK == 0 &&
		    spool__now_ns() >= deadline) {
			rc = SPOOL_ETIMEDOUT;
			break;
		}
		polled = true;
		if (!d->poll(arg))
			break;
	}
	if (polled && d->leave)
		d->leave(arg);
	if (own)
		spool_future_release(dp);
	if (rc == SPOOL_ETIMEDOUT && spool__future_is_final(f))
		rc = 0;
	return rc >= 0 ? rc : spool__future_block(f, deadline);
}
