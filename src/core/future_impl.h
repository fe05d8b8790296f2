/* SPDX-License-Identifier: MIT */
/*
 * The inside of a future, shared by core and the executors (never installed).
 *
 * One 64-bit atomic word holds the whole state machine and the reference
 * count, so that every transition is a single compare-and-swap, an executor
 * can complete a task and drop its reference in the same one, and the low
 * half doubles as the futex blocking waiters sleep on:
 *
 *   bits 0-2  phase: PENDING, RUNNING, COMPLETING, DONE, FAILED, CANCELLED
 *   bit  3    CANCEL_REQ: somebody called cancel (sticky)
 *   bit  4    WAITERS: a thread may be asleep in futex_wait on this word
 *   bit  5    HAS_CB: a done-callback may be on the list (callback.c), so
 *             the completer must take the list; without it, completing
 *             costs no exchange on the list
 *   bits 6-8  TARGET: while COMPLETING, the final phase the completer
 *             will publish, so that a cancel racing it can answer at once
 *             (0 or SPOOL_ESTATE) instead of waiting for the outcome
 *   bits 32-63  references (SPOOL__REF_ONE each); reference changes leave
 *             the futex half alone, so they never disturb a sleeper
 *
 * The reference rule: every thread that touches f (its word, its fields,
 * its callback list) holds a reference for the whole time it does, or is
 * f's completer, whose executor holds one for it. A retain is made only
 * from a reference already held. Two facts follow, and the code relies on
 * both: a holder that reads a count of one holds the only reference and
 * nobody can make another (spool_future_release frees without a
 * read-modify-write then), and a count of zero means freed (retain and
 * release abort on it). A done-callback may drop the reference that kept
 * f alive; the completer keeps f alive while more callbacks follow
 * (callback.c).
 *
 * COMPLETING is the private phase between "this thread won the right to
 * complete" and "value and error are written": the winner of the CAS into
 * COMPLETING writes value/error with plain stores and then publishes the
 * final phase with a release read-modify-write, so any thread that reads a
 * final phase with acquire also sees value and error. Only the winner
 * writes, so a second completion can never tear the first one's outcome.
 *
 * Making f final: one step, the same for every completion. Exactly one
 * thread may move f's phase on from COMPLETING (the winner of the claim) or
 * from RUNNING when ops->owned (the thread that runs it); call it the
 * completer. While it completes, every other writer of the word only
 *   - sets CANCEL_REQ, WAITERS or HAS_CB (a fetch_or, or a CAS that ORs a
 *     flag into the word it read), never clears one, and
 *   - adds or subtracts SPOOL__REF_ONE, in the high half, never to zero
 *     (the completer, or its executor, holds a reference: the reference
 *     rule above);
 * nobody else changes the phase or TARGET. So when the completer's
 * read-modify-write lands, the phase and TARGET bits are exactly the `from`
 * bits it knows (COMPLETING with the TARGET its claim set, or RUNNING with
 * TARGET 0), and adding spool__final_delta(from, ph) turns them into ph
 * with TARGET 0 and changes no other bit (no carry, no borrow: the bits it
 * subtracts are all set, and ph fits the cleared phase field), whatever the
 * others did meanwhile. Hence one fetch_add and no retry loop; an owned
 * task's completion that also drops its executor's reference subtracts
 * SPOOL__REF_ONE in the same step (future.c, publish_final(): a CAS then,
 * because it may do so only when WAITERS and HAS_CB are clear).
 * WAITERS is left as it was: the completer wakes every sleeper when the
 * word it replaced has the flag, and nobody sleeps on a final word (a
 * waiter reads the phase before it sleeps, and the kernel refuses to sleep
 * on a futex word that changed), so on a final word the flag is stale and
 * costs nothing. HAS_CB stays too: it also says f's own callback node was
 * taken (callback.c).
 *
 * An executor embeds struct spool_future at the start of its task record
 * (one allocation for both) and gives ops->free to recycle it.
 */
#ifndef SPOOL_CORE_FUTURE_IMPL_H
#define SPOOL_CORE_FUTURE_IMPL_H

#include <stdatomic.h>

#include "lifo.h"
#include "spool/future.h"

/* Thread-locals on hot paths (every task touches several): initial-exec,
 * so that a shared libspool reaches them with one instruction instead of a
 * __tls_get_addr call per access. The price is static TLS space, which
 * glibc provides for libraries linked at start and reserves some of for
 * later dlopen() of small ones. */
#define SPOOL__TLS _Thread_local __attribute__((tls_model("initial-exec")))

enum {
	SPOOL__PH_PENDING = 0,
	SPOOL__PH_RUNNING = 1,
	SPOOL__PH_COMPLETING = 2,
	SPOOL__PH_DONE = 3,
	SPOOL__PH_FAILED = 4,
	SPOOL__PH_CANCELLED = 5,
	SPOOL__PH_MASK = 7u,
	SPOOL__CANCEL_REQ = 1u << 3,
	SPOOL__WAITERS = 1u << 4,
	SPOOL__HAS_CB = 1u << 5,
	SPOOL__TARGET_SHIFT = 6,
	SPOOL__TARGET_MASK = 7u << SPOOL__TARGET_SHIFT,
	/* Debug mode (core/debug.h): f ended FAILED while it was on, and
	 * nobody has read the error yet. Set by the completer before it
	 * publishes, cleared by spool_future_error(); a free that finds it
	 * reports the failure. Bits 9-11 are left free for other flags. */
	SPOOL__UNREAD = 1u << 12,
};

#define SPOOL__REF_ONE (UINT64_C(1) << 32)
#define SPOOL__REFS(word) ((uint32_t)((word) >> 32))

static inline bool spool__phase_final(uint64_t word)
{
	return (word & SPOOL__PH_MASK) >= SPOOL__PH_DONE;
}

/* What the completer adds to the state word to publish the final phase ph
 * over the phase and TARGET bits `from` (see "Making f final" above). */
static inline uint64_t spool__final_delta(uint64_t from, uint32_t ph)
{
	return (uint64_t)ph - from;
}

/* The futex half of the state word: its low 32 bits. */
static inline uint32_t *spool__futex_word(_Atomic uint64_t *state)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return (uint32_t *)state + 1;
#else
	return (uint32_t *)state;
#endif
}

struct spool__future_ops {
	/* Lets go of what f holds (the futures it references, an anchor)
	 * when its last reference goes. NULL: nothing to let go of. It may
	 * release other futures; core bounds the nesting (nest.h). */
	void (*fini)(spool_future *f);
	/* Gives the memory back, after fini. NULL means core frees it with
	 * free(), after keeping it aside a while so that a double release
	 * is caught with a message in every build (future.c, quarantine).
	 * A type with its own allocator (the pool's slab) gives its own. */
	void (*free)(spool_future *f);
	/* Called by spool_future_cancel on a RUNNING future after the request
	 * flag is raised. Returns 0 if the work will now end CANCELLED (a
	 * coroutine suspended at an await), SPOOL_EBUSY otherwise. NULL means
	 * SPOOL_EBUSY. */
	int (*cancel_running)(spool_future *f);
	/* Completed only through spool__future_complete_owned* by the one
	 * thread that runs it. A future with ops is never a promise:
	 * spool_promise_* refuse every future whose ops is not NULL with
	 * SPOOL_EINVAL, so only its producer completes it. */
	bool owned;
	/* Optional: the deadlock check (core/wait.h). Called only through
	 * spool__future_stuck(), on a thread about to block on f (or on a
	 * future waiting for f) with no deadline, with f not final. True
	 * only when f can never complete while that thread is blocked; when
	 * in doubt, false. NULL means false. Never blocks. */
	bool (*stuck)(spool_future *f);
	/* Optional: the future whose cancel request f's work also answers
	 * to. spool_cancel_requested() on a thread whose current task is f
	 * is true when f or any future up this chain has the request (a
	 * pool scope's own future names the task that opened the scope, so
	 * the scope's spawns see a cancel of that task). NULL: none. Never
	 * blocks; the chain ends. */
	const spool_future *(*cancel_parent)(const spool_future *f);
	/* Optional, debug mode only (spool/debug.h): asked by a plain
	 * thread blocked a while on f, not final. A reason (a static
	 * string) when what completes f is not running and no thread is
	 * known to start it; NULL otherwise or when in doubt. Never
	 * blocks. */
	const char *(*debug_idle)(spool_future *f);
	/* Optional: a driven promise (driven.c), not final, among the
	 * futures f waits for, found through spool__driven_find() on them,
	 * so that a plain thread waiting on f can drive its completion (a
	 * gather over MPI request futures). NULL when there is none, or
	 * when finding one would cost more than a few looks. Called on the
	 * waiting thread, f not final. Never blocks. */
	spool_future *(*driven)(spool_future *f);
};

/* One registered done-callback. post_ctx records the waiting context of the
 * registering thread when that context can take posted callbacks (a loop),
 * so the completion can send the callback home. post_ops is that context's
 * ops, with bit 0 (SPOOL__CB_CALLER_OWNED) set on a node its registrant
 * owns (spool__future_add_callback_node), which core must never free:
 * a tag rather than a field keeps the node, and so every future, a word
 * smaller. Read it through spool__cb_post_ops(). */
struct spool__cb {
	struct spool__lifo_node link; /* on f->callbacks */
	spool_callback_fn fn;
	void *arg;
	const struct spool__wait_ops *post_ops;
	void *post_ctx;
};

#define SPOOL__CB_CALLER_OWNED ((uintptr_t)1)

/* c's post_ops without the ownership tag. */
static inline const struct spool__wait_ops *
spool__cb_post_ops(const struct spool__cb *c)
{
	return (const struct spool__wait_ops *)((uintptr_t)c->post_ops &
						~SPOOL__CB_CALLER_OWNED);
}

struct spool_future {
	_Atomic uint64_t state; /* phase, flags and references, see above */
	/* The callbacks' nodes (lifo.h), newest first; closed by the
	 * completing thread as it takes them (later adders run at once). */
	struct spool__lifo callbacks;
	/* Written only by the thread that moved the phase to COMPLETING. */
	int error;
	/* DONE: the value. FAILED: its detail (core/detail.h) or NULL.
	 * While RUNNING: the detail spool_fail() left pending, or NULL
	 * (atomic for that: the halves of a join may record from two
	 * threads; every access is relaxed, ordered by the state word). */
	_Atomic(void *) value;
	const struct spool__future_ops *ops;
	uint64_t id;
	const char *label;
	/* Who is cancelled with f's awaiter (see spool__await_owner): the id
	 * of the task that was running on the creating thread when f was
	 * made, 0 (made outside a task: nobody's) or SPOOL__OWNER_ANY.
	 * Written before f is shared, then read-only, except that a future's
	 * own maker may set it again before it hands f out. */
	uint64_t owner;
	/* The first callback needs no allocation: most futures get one
	 * (callback.c: the adder that raises HAS_CB takes it). */
	struct spool__cb inline_cb;
};

/* True when f is final, with acquire: the outcome its completer published
 * is then visible. The one way code outside core reads f's state word
 * (the phase layout above is core's to change). */
static inline bool spool__future_is_final(const spool_future *f)
{
	return spool__phase_final(
		atomic_load_explicit(&f->state, memory_order_acquire));
}

/* The owner of a future that every awaiter owns: cancelling whoever waits
 * on it cancels it (a task group's joiners' future, whose cancel cancels
 * the group). Ids count up from 1 and never get here. */
#define SPOOL__OWNER_ANY UINT64_MAX

/* The number of references f has now (a snapshot: for tests and debug). */
static inline uint32_t spool__future_refs(spool_future *f)
{
	return SPOOL__REFS(
		atomic_load_explicit(&f->state, memory_order_relaxed));
}

/* Initialises f as a PENDING future with one reference. ops may be NULL. */
void spool__future_init(spool_future *f, const struct spool__future_ops *ops);

/* The same with refs references (2 for an executor's task: the executor's
 * and the submitter's). */
void spool__future_init_refs(spool_future *f,
			     const struct spool__future_ops *ops,
			     uint32_t refs);

/* PENDING -> RUNNING. Returns 0, or SPOOL_ECANCELLED if f was cancelled (the
 * executor must then not run the task), SPOOL_ESTATE if not PENDING. */
int spool__future_start(spool_future *f);

/* Completes f: err == 0 -> DONE with value; SPOOL_ECANCELLED -> CANCELLED;
 * other -> FAILED with err. Returns 0 or SPOOL_ESTATE if already final (or
 * being completed). Wakes waiters, then runs the callbacks in order. */
int spool__future_complete(spool_future *f, int err, void *value);

/* Completes f, which must be RUNNING and owned (ops->owned), from the
 * thread that runs it: writes the outcome, then moves RUNNING to the final
 * phase with one release read-modify-write, wakes, calls back. No return
 * value: it cannot fail. */
void spool__future_complete_owned(spool_future *f, int err, void *value);

/* spool__future_complete_owned, then drop the caller's reference: when
 * nobody waits and no callback was added, both happen in the same single
 * read-modify-write. */
void spool__future_complete_owned_release(spool_future *f, int err,
					  void *value);

/* True when f was made by spool_promise_new (no ops) or
 * spool_promise_new_driven (driven.c): the only futures the public promise
 * calls and spool_run_task may complete. */
bool spool__is_promise(const spool_future *f);

/* The ops of a driven promise (driven.c). */
extern const struct spool__future_ops spool__driven_ops;

/* f itself if it is a driven promise not final, else a driven promise f
 * waits for (its ops->driven, followed at most SPOOL__STUCK_DEPTH_MAX
 * levels deep), else NULL (driven.c). Never blocks. */
spool_future *spool__driven_find(spool_future *f);

/* A plain thread's wait on f, which waits for the driven promise d (or is
 * d): drives d's driver with its poll until f is final (0), the deadline
 * passes (SPOOL_ETIMEDOUT) or poll gives up (then sleeps as
 * spool__future_block) (driven.c). */
int spool__driven_wait(spool_future *f, spool_future *d, int64_t deadline);

/* How many pending inputs a combinator's driven op looks at, at most. */
#define SPOOL__DRIVEN_LOOKS 64

/* One input c of a combinator's driven op: the driven promise c leads to,
 * or NULL. A final input costs one load and no look; a pending one that
 * leads nowhere counts a look in *looks. */
static inline spool_future *spool__driven_input(spool_future *c,
						unsigned *looks)
{
	if (spool__future_is_final(c))
		return NULL;
	spool_future *d = spool__driven_find(c);
	if (!d)
		++*looks;
	return d;
}

/* Blocks the calling thread until f is final or the absolute monotonic
 * deadline (ns; INT64_MAX = never) passes: a short spin, then futex.
 * Returns 0 or SPOOL_ETIMEDOUT. */
int spool__future_block(spool_future *f, int64_t deadline);

/* Registers fn(f, arg) as a done-callback of f, as
 * spool_future_add_callback does (same order, same once-only guarantee),
 * but with node, which the caller owns, instead of a node core allocates,
 * and without sending fn home to the registering thread's loop: fn runs in
 * the thread that completes f. So it never allocates or reserves anything
 * and never fails; it is for spool's own callbacks, which touch nothing
 * that only a loop's thread may touch. fn runs at once, on this thread,
 * if f is already final.
 * node is uninitialised storage; it must stay valid and untouched until fn
 * has run or f has been freed without completing, whichever is first;
 * core never frees it, and does not touch it once fn has been called, so
 * fn may free it. node may go
 * unused (f's own node is taken when it is free). One node serves one
 * registration at a time. f and fn must not be NULL (checked by assert
 * only: the callers are internal). Thread-safe like
 * spool_future_add_callback; never blocks (apart from fn itself when it
 * runs at once). */
void spool__future_add_callback_node(spool_future *f, struct spool__cb *node,
				     spool_callback_fn fn, void *arg);

/* spool_future_add_callback as if registered on a thread whose wait
 * context were {via_ops, via_ctx} (via_ops with post, hold and drop): the
 * callback is held and sent home with those hooks. For a context that
 * sends different callbacks home differently (the loop's awaits,
 * src/loop/home.c). Thread-safe; never blocks. */
int spool__future_add_callback_via(spool_future *f, spool_callback_fn fn,
				   void *arg,
				   const struct spool__wait_ops *via_ops,
				   void *via_ctx);

/* spool__future_add_callback_node under a name the shared library exports,
 * for tests, which see only its spool_ names (as spool_debug_alloc_fail_nth
 * in alloc.h). Declared in no public header. */
SPOOL_API void spool_debug_add_callback_node(spool_future *f,
					     struct spool__cb *node,
					     spool_callback_fn fn, void *arg);

/* Runs f's callbacks in order and closes the list (callback.c). */
void spool__callbacks_run(spool_future *f);

/* Frees one callback node of f, telling the context it recorded (see
 * spool__wait_ops.drop) whether fn ran (callback.c). */
void spool__callback_free(spool_future *f, struct spool__cb *c, bool ran);

/* Wakes every thread blocked in spool__future_block on f (wait.c). */
void spool__futex_wake_all(spool_future *f);

/* The structured-cancel rule (spool/future.h, "Cancellation follows the
 * await"): true when a cancel of the task awaiter, while it waits on f,
 * must cancel f too: f was made while awaiter was the running task on the
 * thread that made it (f->owner is awaiter's id), or f is owned by any
 * awaiter (SPOOL__OWNER_ANY). Never blocks. */
bool spool__await_owner(const spool_future *awaiter, const spool_future *f);

/* A cancel of the task awaiter has reached its wait on f: cancels f if the
 * rule above says so. Returns true when it did (f may still be settling).
 * Never blocks. */
bool spool__await_cancel(const spool_future *awaiter, spool_future *f);

/* Makes f the calling thread's current task (for spool_cancel_requested);
 * returns the previous one so that nesting restores it. */
spool_future *spool__current_swap(spool_future *f);

#endif /* SPOOL_CORE_FUTURE_IMPL_H */
