/* SPDX-License-Identifier: MIT */
/*
 * The future state machine: creation, references, completion and cancel on
 * the one atomic state word described in future_impl.h. Callbacks live in
 * callback.c, waiting in wait.c.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>

#include "alloc.h"
#include "detail.h"
#include "debug.h"
#include "future_impl.h"
#include "misuse.h"
#include "nest.h"
#include "trace/trace.h"

/* ---- debug counter and ids -------------------------------------------- */

#ifdef SPOOL_DEBUG_COUNTERS
static _Atomic long live_futures;
#endif

/* ---- the quarantine --------------------------------------------------- */

/* Each thread keeps the last QUARANTINE futures it freed unfreed, with
 * their count at zero, before giving their memory back, in every build
 * type: a double release soon after the last one then finds a count of
 * zero and aborts with a message (spool_future_release) instead of
 * corrupting the heap. Only futures of at most QUARANTINE_MAX bytes are
 * kept (a promise, a task, a small gather), so a thread keeps 64 KiB at
 * most; a larger one (the results of a big gather or map) is freed at
 * once. Per thread, so that it costs no lock, and a ring, so that it costs
 * a few instructions: a release on another thread finds the memory aside
 * all the same. The pool's tasks and driven promises have their own
 * allocators, whose records keep their count at zero until reused. */
enum { QUARANTINE = 16, QUARANTINE_MAX = 4096 };

struct quarantine {
	spool_future *slot[QUARANTINE];
	unsigned next;
};

static SPOOL__TLS struct quarantine *quarantine;
static pthread_key_t quarantine_key;
static pthread_once_t quarantine_once = PTHREAD_ONCE_INIT;
static bool quarantine_key_ok;

/* At thread exit: give back what the thread kept aside. */
static void quarantine_flush(void *p)
{
	struct quarantine *q = p;
	for (unsigned i = 0; i < QUARANTINE; i++)
		free(q->slot[i]);
	free(q);
	quarantine = NULL; /* a later free_later starts a new one */
}

static void quarantine_key_make(void)
{
	quarantine_key_ok = pthread_key_create(&quarantine_key,
					       quarantine_flush) == 0;
}

/* The calling thread's ring, made at its first free; NULL if it cannot
 * be (the future is then freed at once). */
static __attribute__((noinline)) struct quarantine *quarantine_make(void)
{
	pthread_once(&quarantine_once, quarantine_key_make);
	struct quarantine *q = calloc(1, sizeof *q);
	if (q && (!quarantine_key_ok ||
		  pthread_setspecific(quarantine_key, q) != 0)) {
		free(q);
		q = NULL;
	}
	return quarantine = q;
}

/* Sets f aside in place of the oldest, which is freed now. */
static void free_later(spool_future *f)
{
	/* A promise is one struct; other types may carry arrays. */
	size_t size = !f->ops ? sizeof *f : malloc_usable_size(f);
	struct quarantine *q = quarantine;
	if (size > QUARANTINE_MAX || (!q && !(q = quarantine_make()))) {
		free(f);
		return;
	}
	unsigned i = q->next;
	spool_future *old = q->slot[i];
	q->slot[i] = f;
	q->next = (i + 1) % QUARANTINE;
	free(old);
}

long spool_debug_live_futures(void)
{
#ifdef SPOOL_DEBUG_COUNTERS
	return atomic_load(&live_futures);
#else
	return -1;
#endif
}

/* Ids come from a global counter in blocks of 1024, so that spawning on many
 * threads does not bounce one cache line. Relaxed: only uniqueness matters. */
static _Atomic uint64_t id_blocks;
static SPOOL__TLS uint64_t id_next, id_end;

static uint64_t next_id(void)
{
	if (id_next == id_end) {
		uint64_t b = atomic_fetch_add_explicit(&id_blocks, 1,
						       memory_order_relaxed);
		id_next = b * 1024 + 1;
		id_end = id_next + 1024;
	}
	return id_next++;
}

/* The task running on this thread (see "the current task" below). */
static SPOOL__TLS spool_future *current;

/* ---- life cycle ------------------------------------------------------- */

void spool__future_init_refs(spool_future *f,
			     const struct spool__future_ops *ops, uint32_t refs)
{
	/* Relaxed stores: f is not yet shared; whoever publishes it (a queue
	 * push, a return value) supplies the release. */
	atomic_init(&f->state, SPOOL__PH_PENDING | refs * SPOOL__REF_ONE);
	spool__lifo_init(&f->callbacks);
	f->error = 0;
	atomic_init(&f->value, NULL);
	f->ops = ops;
	f->id = next_id();
	f->label = NULL;
	/* Made by the running task, if any: it owns f (spool__await_owner). */
	f->owner = current ? current->id : 0;
#ifdef SPOOL_DEBUG_COUNTERS
	atomic_fetch_add_explicit(&live_futures, 1, memory_order_relaxed);
#endif
}

void spool__future_init(spool_future *f, const struct spool__future_ops *ops)
{
	spool__future_init_refs(f, ops, 1);
}

spool_future *spool_promise_new(void)
{
	spool_future *f = spool__malloc(sizeof *f);
	if (f)
		spool__future_init(f, NULL);
	return f;
}

spool_future *spool_future_retain(spool_future *f)
{
	if (f) {
		/* Relaxed: a new reference is made from an existing one, which
		 * already orders everything the retainer can see. */
		uint64_t old = atomic_fetch_add_explicit(
			&f->state, SPOOL__REF_ONE, memory_order_relaxed);
		if (SPOOL__REFS(old) == 0)
			spool__misuse("spool_future_retain",
				      "future has already been freed");
		/* The count is 32 bits: 2^32 - 1 references are a leak of
		 * references, and one more would wrap to "freed". */
		if (SPOOL__REFS(old) == UINT32_MAX)
			spool__misuse("spool_future_retain",
				      "more than 2^32 - 1 references to one "
				      "future (references leaked)");
	}
	return f;
}

static void free_callbacks(spool_future *f)
{
	/* f's last reference is gone: nobody else reaches the list. */
	struct spool__lifo_node *n = spool__lifo_peek(&f->callbacks);
	while (n) {
		struct spool__lifo_node *next = n->next;
		spool__callback_free(
			f, spool__lifo_entry(n, struct spool__cb, link), false);
		n = next;
	}
}

/* The second half of destroy: let go of what f holds, give back its
 * memory. Runs at a bounded nesting depth (nest.h): letting go of what f
 * holds may free more futures, a chain of them as long as the user made. */
static void destroy_now(spool_future *f)
{
	if (f->ops && f->ops->fini)
		f->ops->fini(f);
	if (f->ops && f->ops->free)
		f->ops->free(f);
	else
		free_later(f);
}

/* Lets go of the detail of f's failure, if any (detail.h). Out of line:
 * only a failed future gets here. */
static __attribute__((noinline)) void drop_detail(spool_future *f)
{
	/* Relaxed: the last reference orders the completer's store before
	 * us. error != 0 means final (or never started: NULL slot); a
	 * CANCELLED future's slot is NULL. */
	spool__detail_release(
		atomic_load_explicit(&f->value, memory_order_relaxed));
}

/* Frees f, whose last reference is gone; w is the state word the caller
 * read or replaced when it let go of that reference. */
static void destroy(spool_future *f, uint64_t w)
{
	/* Debug mode: a failure nobody read (spool/debug.h). w is as good
	 * as a fresh load: the flag is set before the final phase is
	 * published (write_outcome), and every read of the error that
	 * cleared it happened before the last reference went, whose
	 * acquire (or read-modify-write) w comes from. */
	if (__builtin_expect(w & SPOOL__UNREAD, 0))
		spool__debug_unretrieved(f);
	/* A future dropped before completing is abandoned: nobody can
	 * observe it, so its callbacks are freed unrun. */
	free_callbacks(f);
	/* The success path reads one field it wrote itself: a DONE
	 * future's error is 0. */
	if (__builtin_expect(f->error != 0, 0))
		drop_detail(f);
#ifdef SPOOL_DEBUG_COUNTERS
	atomic_fetch_sub_explicit(&live_futures, 1, memory_order_relaxed);
#endif
	const struct spool__future_ops *ops = f->ops;
	if (!ops) {
		free_later(f); /* a promise */
	} else if (!ops->fini) {
		/* Holds nothing: nothing can nest below. A pool task, on
		 * every fork-join spawn's path: no call through destroy_now. */
		if (ops->free)
			ops->free(f);
		else
			free_later(f);
	} else if (spool__nest_enter(f, SPOOL__NEST_DESTROY)) {
		destroy_now(f);
		spool__nest_leave();
	}
}

void spool__nest_run(spool_future *f, enum spool__nest_kind kind)
{
	switch (kind) {
	case SPOOL__NEST_CALLBACKS:
		spool__callbacks_run(f);
		spool_future_release(f);
		break;
	case SPOOL__NEST_DESTROY:
		destroy_now(f);
		break;
	case SPOOL__NEST_CANCEL:
		spool_future_cancel(f);
		spool_future_release(f);
		break;
	}
}

void spool_future_release(spool_future *f)
{
	if (!f)
		return;
	/* The sole holder frees without a read-modify-write. A thread that
	 * holds a reference and reads a count of one holds the only one:
	 * nobody else can make a new one (a retain needs a reference to
	 * retain from), so the count cannot change under it. Acquire pairs
	 * with the release half of every earlier decrement (and of the
	 * pool's completion, which drops its reference in the same step),
	 * so every other holder's use of f happens before the free, as the
	 * last decrement's acquire would give. This is the common case: a
	 * pool task's future is usually released by its submitter after
	 * the pool has dropped its reference, and the saved atomic
	 * operation is one of the few a fork-join spawn costs. The store
	 * leaves the count at zero, as the decrement would, so that debug
	 * builds still catch a double release (see free_later). */
	uint64_t w = atomic_load_explicit(&f->state, memory_order_acquire);
	if (SPOOL__REFS(w) == 1) {
		atomic_store_explicit(&f->state, w - SPOOL__REF_ONE,
				      memory_order_relaxed);
		destroy(f, w);
		return;
	}
	/* Release on the decrement, acquire for the last one: all uses of f
	 * by other holders happen before it is freed (the usual refcount
	 * argument, as in Boost's and the kernel's). acq_rel on the decrement
	 * itself rather than a separate acquire fence: ThreadSanitizer does
	 * not model fences and would report every free after a release on
	 * another thread, and the read-modify-write costs the same. */
	uint64_t old = atomic_fetch_sub_explicit(&f->state, SPOOL__REF_ONE,
						 memory_order_acq_rel);
	if (SPOOL__REFS(old) == 1) {
		destroy(f, old);
	} else if (SPOOL__REFS(old) == 0) {
		spool__misuse("spool_future_release",
			      "future released more times than it was "
			      "retained (double release)");
	}
}

/* ---- reading ---------------------------------------------------------- */

static spool_state public_state(uint64_t w)
{
	switch (w & SPOOL__PH_MASK) {
	case SPOOL__PH_PENDING:
		return SPOOL_PENDING;
	case SPOOL__PH_DONE:
		return SPOOL_DONE;
	case SPOOL__PH_FAILED:
		return SPOOL_FAILED;
	case SPOOL__PH_CANCELLED:
		return SPOOL_CANCELLED;
	default: /* RUNNING, COMPLETING: not final yet */
		return SPOOL_RUNNING;
	}
}

spool_state spool_future_state(const spool_future *f)
{
	if (!f)
		spool__misuse("spool_future_state", "NULL future");
	return public_state(
		atomic_load_explicit(&f->state, memory_order_acquire));
}

bool spool_future_done(const spool_future *f)
{
	return f && spool__phase_final(atomic_load_explicit(
			    &f->state, memory_order_acquire));
}

/* spool_future_error's rare cases: f not final yet, or a failure that
 * debug mode follows and that is read now, which clears UNREAD. Relaxed:
 * the flag only decides a report, and the reader's later release of its
 * reference orders this before the free that looks at it. The state word
 * is atomic, so writing it through a pointer to a const future is sound.
 * Out of line, so that spool_future_error stays as small as it was
 * without debug mode, and inlines into the combinators that read every
 * input's error. */
static __attribute__((noinline, cold)) int error_rare(const spool_future *f,
						      uint64_t w)
{
	if (!spool__phase_final(w))
		return SPOOL_EAGAIN;
	atomic_fetch_and_explicit((_Atomic uint64_t *)&f->state,
				  ~(uint64_t)SPOOL__UNREAD,
				  memory_order_relaxed);
	return f->error;
}

/* Always inlined into the combinators that read every input's error, as it
 * was before debug mode added its test. */
__attribute__((always_inline)) inline int
spool_future_error(const spool_future *f)
{
	if (!f)
		return SPOOL_EINVAL;
	/* Acquire pairs with the completer's release of the final phase, so
	 * f->error is the completer's write. */
	uint64_t w = atomic_load_explicit(&f->state, memory_order_acquire);
	/* One test for the common case, a final phase (DONE, FAILED or
	 * CANCELLED: 3 to 5) without UNREAD: anything else, a phase below 3
	 * or the flag, falls outside the range. */
	if (__builtin_expect((w & (SPOOL__PH_MASK | SPOOL__UNREAD)) -
					     SPOOL__PH_DONE >
				     SPOOL__PH_CANCELLED - SPOOL__PH_DONE,
			     0))
		return error_rare(f, w);
	return f->error;
}

void *spool_future_value(const spool_future *f)
{
	if (!f)
		return NULL;
	uint64_t w = atomic_load_explicit(&f->state, memory_order_acquire);
	/* Relaxed: ordered by the acquire load of the final phase. */
	return (w & SPOOL__PH_MASK) == SPOOL__PH_DONE
		       ? atomic_load_explicit(&f->value, memory_order_relaxed)
		       : NULL;
}

uint64_t spool_future_id(const spool_future *f)
{
	return f ? f->id : 0;
}

bool spool_future_cancel_requested(const spool_future *f)
{
	return f && (atomic_load_explicit(&f->state, memory_order_relaxed) &
		     SPOOL__CANCEL_REQ);
}

/* ---- transitions ------------------------------------------------------ */

int spool__future_start(spool_future *f)
{
	uint64_t w = atomic_load_explicit(&f->state, memory_order_relaxed);
	for (;;) {
		uint64_t ph = w & SPOOL__PH_MASK;
		if (ph == SPOOL__PH_CANCELLED)
			return SPOOL_ECANCELLED;
		if (ph != SPOOL__PH_PENDING)
			return SPOOL_ESTATE;
		/* Acquire on success: the task's inputs were published by the
		 * submitter before the queue handed f over; nothing new to
		 * release yet. */
		if (atomic_compare_exchange_weak_explicit(
			    &f->state, &w,
			    (w & ~SPOOL__PH_MASK) | SPOOL__PH_RUNNING,
			    memory_order_acquire, memory_order_relaxed))
			return 0;
	}
}

/* The final phase a completion with err publishes. */
static uint32_t final_phase(int err)
{
	return err == 0                  ? SPOOL__PH_DONE
	       : err == SPOOL_ECANCELLED ? SPOOL__PH_CANCELLED
					 : SPOOL__PH_FAILED;
}

/* Debug mode follows a failure until somebody reads it: UNREAD is set
 * before the final phase is published, by the completer, whom nobody
 * else's write to the word disturbs (future_impl.h, "Making f final": the
 * flag is outside the phase and TARGET bits). Relaxed: the publication's
 * read-modify-write, later on the same word, carries it to every reader
 * of the final phase. Out of line: completions with an error only. */
static __attribute__((noinline, cold)) void note_failure(spool_future *f,
							 int err)
{
	if (err != SPOOL_ECANCELLED && spool__debug_on())
		atomic_fetch_or_explicit(&f->state, SPOOL__UNREAD,
					 memory_order_relaxed);
}

/* A detail left pending by a task that then succeeded. Out of
 * line, so that the success path keeps its registers. */
static __attribute__((noinline)) void drop_pending(void *d)
{
	spool__detail_release(d);
}

/* write_outcome() when f fails, is cancelled, or had a detail pending
 * (spool_fail() in its task): the slot gets the failure's detail, give
 * (borrowed: a reference is taken) or else the pending one if its code is
 * err, and NULL otherwise; a pending detail not kept is dropped. The
 * drop runs the payload's destructor here, before the publication: it
 * must not wait on f (spool/fail.h). */
static __attribute__((noinline)) uint32_t
write_outcome_slow(spool_future *f, int err, void *value,
		   struct spool__detail *give, struct spool__detail *pending)
{
	uint32_t ph = final_phase(err);
	void *slot = NULL;
	if (ph == SPOOL__PH_DONE) {
		slot = value;
	} else if (ph == SPOOL__PH_FAILED) {
		if (give) {
			slot = spool__detail_retain(give);
		} else if (pending && pending->code == err) {
			slot = pending;
			pending = NULL;
		}
	}
	atomic_store_explicit(&f->value, slot, memory_order_relaxed);
	spool__detail_release(pending);
	if (err != 0)
		note_failure(f, err);
	return ph;
}

/* Writes f's outcome (only the thread that may complete f calls this) and
 * returns the final phase that publishes it. The slot is relaxed: the
 * publication's release orders it (and the detail's contents, written
 * before it was put in the slot) before every acquire load that sees the
 * final phase; a pending detail was put there by this thread, or by the
 * halves of a join that ended before the task did (their latch orders
 * it). A success with nothing pending costs a load of the slot. */
static inline __attribute__((always_inline)) uint32_t
write_outcome_detail(spool_future *f, int err, void *value,
		     struct spool__detail *give)
{
	f->error = err;
	void *pending = atomic_load_explicit(&f->value, memory_order_relaxed);
	if (err == 0) {
		/* The phase stays a constant the caller folds: no call on
		 * this path unless a detail was left pending. */
		atomic_store_explicit(&f->value, value, memory_order_relaxed);
		if (__builtin_expect(pending != NULL, 0))
			drop_pending(pending);
		return SPOOL__PH_DONE;
	}
	return write_outcome_slow(f, err, value, give, pending);
}

static inline __attribute__((always_inline)) uint32_t
write_outcome(spool_future *f, int err, void *value)
{
	return write_outcome_detail(f, err, value, NULL);
}

/* After the final phase replaced the word w: wakes the sleepers and runs
 * the callbacks that w says there are. An adder raises HAS_CB before it
 * pushes (callback.c): if w lacks it, every adder still to come reads a
 * final phase and runs its callback itself, and the list stays empty. */
static void after_final(spool_future *f, uint64_t w)
{
	/* A system call or the user's callbacks: time the trace must not
	 * skip over (src/trace/trace.h, "reusing a clock read"). */
	if (w & (SPOOL__WAITERS | SPOOL__HAS_CB))
		spool__trace_stale();
	if (w & SPOOL__WAITERS)
		spool__futex_wake_all(f);
	if (!(w & SPOOL__HAS_CB))
		return;
	/* Callbacks may complete more futures, whose callbacks complete
	 * more: a bounded nesting (nest.h) keeps the stack flat however long
	 * the chain. */
	if (spool__nest_enter(f, SPOOL__NEST_CALLBACKS)) {
		spool__callbacks_run(f);
		spool__nest_leave();
	}
}

/* Debug builds: the completer's preconditions (future_impl.h, "Making f
 * final"). check_owned() before the publication, while the caller's
 * reference still keeps f: an owned completion is on an owned future.
 * check_word() after it, on the word it replaced, touching no memory of f
 * (which the publication may have let go): its phase and TARGET bits were
 * exactly `from`. */
static void check_owned(const spool_future *f, const char *who)
{
#ifdef SPOOL_DEBUG_COUNTERS
	if (!f->ops || !f->ops->owned)
		spool__misuse(who, "future is not executor-owned");
#else
	(void)f, (void)who;
#endif
}

static void check_word(uint64_t w, uint64_t from, const char *who)
{
#ifdef SPOOL_DEBUG_COUNTERS
	if ((w & (SPOOL__PH_MASK | SPOOL__TARGET_MASK)) != from)
		spool__misuse(who, from == SPOOL__PH_RUNNING
					   ? "future is not RUNNING"
					   : "future is not being completed");
#else
	(void)w, (void)from, (void)who;
#endif
}

/* The one step that makes f final (future_impl.h, "Making f final"): the
 * caller is f's completer, has written the outcome, and knows the phase
 * and TARGET bits `from` it replaces with ph. Returns the word it replaced
 * in *old and true. With drop, it also drops the caller's reference in the
 * same step, but only when that word has neither WAITERS nor HAS_CB (so
 * nothing is left to do with f): otherwise it changes nothing and returns
 * false. */
static inline __attribute__((always_inline)) bool
publish_final(spool_future *f, uint64_t from, uint32_t ph, bool drop,
	      uint64_t *old)
{
	uint64_t delta = spool__final_delta(from, ph);
	if (!drop) {
		/* Release: the outcome written before is visible to every
		 * acquire load that sees the final phase. */
		*old = atomic_fetch_add_explicit(&f->state, delta,
						 memory_order_release);
		return true;
	}
	uint64_t w = atomic_load_explicit(&f->state, memory_order_relaxed);
	if (w & (SPOOL__WAITERS | SPOOL__HAS_CB))
		return false;
	/* Release as above; acquire, for when ours was the last reference,
	 * orders every other holder's use before the free (as in
	 * spool_future_release). A flag raised since the load fails the
	 * CAS: the caller then publishes without dropping, and wakes or
	 * calls back. */
	if (!atomic_compare_exchange_strong_explicit(
		    &f->state, &w, w + delta - SPOOL__REF_ONE,
		    memory_order_acq_rel, memory_order_relaxed))
		return false;
	*old = w;
	return true;
}

/* Second half of every completion, run by the thread that moved f into
 * COMPLETING: write the outcome (with the detail give, see
 * write_outcome_slow), publish the final phase, wake, call back. */
static void finish_detail(spool_future *f, int err, void *value,
			  struct spool__detail *give)
{
	uint32_t ph = write_outcome_detail(f, err, value, give);
	/* claim() set TARGET to this very phase (same err). */
	uint64_t from = SPOOL__PH_COMPLETING | (uint64_t)ph
						       << SPOOL__TARGET_SHIFT;
	uint64_t w;
	publish_final(f, from, ph, false, &w);
	check_word(w, from, "spool__future_complete");
	after_final(f, w);
}

static void finish(spool_future *f, int err, void *value)
{
	finish_detail(f, err, value, NULL);
}

void spool__future_complete_owned(spool_future *f, int err, void *value)
{
	check_owned(f, "spool__future_complete_owned");
	uint32_t ph = write_outcome(f, err, value);
	uint64_t w;
	publish_final(f, SPOOL__PH_RUNNING, ph, false, &w);
	check_word(w, SPOOL__PH_RUNNING, "spool__future_complete_owned");
	after_final(f, w);
}

static inline __attribute__((always_inline)) void
complete_owned_release(spool_future *f, int err, void *value)
{
	static const char who[] = "spool__future_complete_owned_release";
	check_owned(f, who);
	uint32_t ph = write_outcome(f, err, value);
	uint64_t w;
	if (publish_final(f, SPOOL__PH_RUNNING, ph, true, &w)) {
		/* Nobody to wake and nothing to call back: the final phase
		 * and our reference went in one step; f is no longer ours
		 * unless ours was the last reference. */
		check_word(w, SPOOL__PH_RUNNING, who);
		if (SPOOL__REFS(w) == 1)
			destroy(f, w);
		return;
	}
	publish_final(f, SPOOL__PH_RUNNING, ph, false, &w);
	check_word(w, SPOOL__PH_RUNNING, who);
	after_final(f, w);
	spool_future_release(f);
}

void spool__future_complete_owned_release(spool_future *f, int err, void *value)
{
	/* The common case with a constant phase: the whole delta, reference
	 * included, folds into one constant (every pool task ends here). */
	if (__builtin_expect(err == 0, 1))
		complete_owned_release(f, 0, value);
	else
		complete_owned_release(f, err, value);
}

/* Claims the right to complete f: PENDING (or, unless pending_only,
 * RUNNING) -> COMPLETING. extra is OR-ed in (CANCEL_REQ for a cancel, and
 * the TARGET phase, which finish() clears). Returns false when f is in
 * any other phase. */
static bool claim(spool_future *f, uint32_t extra, bool pending_only)
{
	uint64_t w = atomic_load_explicit(&f->state, memory_order_relaxed);
	for (;;) {
		uint64_t ph = w & SPOOL__PH_MASK;
		if (ph != SPOOL__PH_PENDING &&
		    (pending_only || ph != SPOOL__PH_RUNNING))
			return false;
		/* Acquire: a completer that reads task state written by the
		 * starter (e.g. a cancel racing with start) sees it. */
		if (atomic_compare_exchange_weak_explicit(
			    &f->state, &w,
			    (w & ~SPOOL__PH_MASK) | extra |
				    SPOOL__PH_COMPLETING,
			    memory_order_acquire, memory_order_relaxed))
			return true;
	}
}

int spool__future_complete(spool_future *f, int err, void *value)
{
	return spool__future_complete_detail_value(f, err, value, NULL);
}

int spool__future_complete_detail_value(spool_future *f, int err, void *value,
					struct spool__detail *d)
{
	uint32_t extra = final_phase(err) << SPOOL__TARGET_SHIFT;
	if (err == SPOOL_ECANCELLED)
		extra |= SPOOL__CANCEL_REQ;
	if (!claim(f, extra, false))
		return SPOOL_ESTATE;
	finish_detail(f, err, value, d);
	return 0;
}

struct spool__detail *spool__future_detail(const spool_future *f)
{
	/* Acquire pairs with the completer's release of FAILED: the slot
	 * and the record it points to are its writes. */
	uint64_t w = atomic_load_explicit(&f->state, memory_order_acquire);
	if ((w & SPOOL__PH_MASK) != SPOOL__PH_FAILED)
		return NULL;
	return atomic_load_explicit(&f->value, memory_order_relaxed);
}

bool spool__future_fail_pending(spool_future *f, struct spool__detail *d)
{
	/* Only a RUNNING task records (a promise being completed by hand
	 * meanwhile is the caller's race: spool/fail.h). acq_rel: the
	 * record replaced may be another thread's (the other half of a
	 * join), whose contents the release below must see, and ours must
	 * be visible to whoever replaces or keeps it. */
	uint64_t w = atomic_load_explicit(&f->state, memory_order_relaxed);
	if ((w & SPOOL__PH_MASK) != SPOOL__PH_RUNNING)
		return false;
	spool__detail_release(
		atomic_exchange_explicit(&f->value, d, memory_order_acq_rel));
	return true;
}

struct spool__detail *spool__future_take_pending(spool_future *f)
{
	/* Only a RUNNING task's slot holds a pending detail (a final one's
	 * holds its outcome). Relaxed loads: what is pending was put there
	 * by this thread or by the halves of a join that ended before (their
	 * latch orders it), so a slot read NULL has nothing to take; the
	 * exchange is acq_rel for the same reason as in
	 * spool__future_fail_pending. */
	uint64_t w = atomic_load_explicit(&f->state, memory_order_relaxed);
	if ((w & SPOOL__PH_MASK) != SPOOL__PH_RUNNING ||
	    !atomic_load_explicit(&f->value, memory_order_relaxed))
		return NULL;
	return atomic_exchange_explicit(&f->value, NULL, memory_order_acq_rel);
}

/* A promise is a future made by spool_promise_new (one without ops) or by
 * spool_promise_new_driven (driven.c). Every
 * future with ops (a task's, a combinator's) is completed only by what
 * made it (future_impl.h). */
static bool is_promise(const spool_future *f)
{
	return f && (!f->ops || f->ops == &spool__driven_ops);
}

bool spool__is_promise(const spool_future *f)
{
	return is_promise(f);
}

int spool_promise_set_result(spool_future *f, void *value)
{
	if (!is_promise(f))
		return SPOOL_EINVAL;
	return spool__future_complete(f, 0, value);
}

int spool_promise_set_error(spool_future *f, int err)
{
	if (!is_promise(f) || err == 0)
		return SPOOL_EINVAL;
	return spool__future_complete(f, err, NULL);
}

int spool_promise_start(spool_future *f)
{
	if (!is_promise(f))
		return SPOOL_EINVAL;
	return spool__future_start(f);
}

int spool_future_cancel(spool_future *f)
{
	if (!f)
		return SPOOL_EINVAL;
	for (;;) {
		uint64_t w = atomic_load_explicit(&f->state,
						  memory_order_relaxed);
		switch (w & SPOOL__PH_MASK) {
		case SPOOL__PH_PENDING:
			/* PENDING only: if the task started since the load
			 * above, it is RUNNING, and cancel must only request
			 * (the next round of the loop). Claiming it from
			 * RUNNING would end a running task CANCELLED under
			 * its runner's feet. */
			if (claim(f,
				  SPOOL__CANCEL_REQ |
					  SPOOL__PH_CANCELLED
						  << SPOOL__TARGET_SHIFT,
				  true)) {
				finish(f, SPOOL_ECANCELLED, NULL);
				return 0;
			}
			continue; /* it started or completed meanwhile */
		case SPOOL__PH_RUNNING:
			/* Relaxed: the flag is a hint the task polls; it
			 * carries no data. */
			atomic_fetch_or_explicit(&f->state, SPOOL__CANCEL_REQ,
						 memory_order_relaxed);
			if (f->ops && f->ops->cancel_running)
				return f->ops->cancel_running(f);
			return SPOOL_EBUSY;
		case SPOOL__PH_COMPLETING:
			/* Somebody is writing the outcome; the phase it will
			 * publish is already in the word, so cancel answers
			 * as if it were final without waiting for it. */
			return ((w & SPOOL__TARGET_MASK) >>
				SPOOL__TARGET_SHIFT) == SPOOL__PH_CANCELLED
				       ? 0
				       : SPOOL_ESTATE;
		case SPOOL__PH_CANCELLED:
			return 0;
		default:
			return SPOOL_ESTATE;
		}
	}
}

/* ---- the current task ------------------------------------------------- */

spool_future *spool__current_swap(spool_future *f)
{
	spool_future *old = current;
	current = f;
	return old;
}

spool_future *spool_current_future(void)
{
	return current;
}

bool spool__await_owner(const spool_future *awaiter, const spool_future *f)
{
	return awaiter &&
	       (f->owner == awaiter->id || f->owner == SPOOL__OWNER_ANY);
}

bool spool__await_cancel(const spool_future *awaiter, spool_future *f)
{
	if (!spool__await_owner(awaiter, f))
		return false;
	spool_future_cancel(f);
	return true;
}

bool spool_cancel_requested(void)
{
	/* The current task, then the chain of ops->cancel_parent. */
	for (const spool_future *f = current; f;
	     f = f->ops && f->ops->cancel_parent ? f->ops->cancel_parent(f)
						 : NULL)
		if (spool_future_cancel_requested(f))
			return true;
	return false;
}
