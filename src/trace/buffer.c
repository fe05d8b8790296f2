/* SPDX-License-Identifier: MIT */
/*
 * Per-thread event buffers: the recording path and the registry.
 *
 * Each thread owns at most one buffer (a small header, malloc'ed, and an
 * anonymous mapping of fixed-size events), reached through a thread-local
 * pointer. Recording is the owner appending one record and publishing the
 * new count with a release store: no lock, no atomic read-modify-write, no
 * fence. On its first event of a session a thread registers its buffer in
 * the session's registry under the trace lock (a mutex); that is the only
 * time the recording path takes it.
 *
 * Why stop is safe while threads record, with no grace period:
 *
 *   1. Stop sets the generation to 0 under the lock, then, for each
 *      registered buffer, loads its count n with acquire and writes events
 *      [0, n). The acquire pairs with the owner's release store of n, so
 *      the stopper sees every event it reads fully written. A thread that
 *      read the old generation just before the flip may still append:
 *      it writes slot n or later, which the stopper never reads. Its event
 *      is simply not part of the file.
 *   2. Stop frees only the buffers of threads that have exited (their
 *      pthread-key destructor marked them orphan under the lock); an
 *      exited thread records nothing. The buffer of a live thread stays
 *      with its thread; stop only unlinks it and gives its event pages back
 *      with madvise(MADV_DONTNEED). A late append into such a page is
 *      still a write to valid private anonymous memory: the kernel maps a
 *      fresh zero page. So no thread ever writes freed memory.
 *   3. A buffer is reset (count 0) only by its owner, when it registers
 *      for a later session, under the lock. Stop reads under the same
 *      lock, so the reset and any later overwrite of old slots happen
 *      after the stopper's reads (the mutex orders them).
 *
 *   4. The event mappings that start commits ahead of time (spares) are
 *      made by start and handed to a thread by attach(), both under the
 *      lock; a thread writes a mapping only once it owns it, and stop
 *      unmaps only the spares nobody took.
 *
 * Hence a buffer's memory lives from the owner's first event until the
 * owner exits (then until the next stop, if a session was recording), and
 * stop never waits for recording threads. The price is that a thread which
 * recorded keeps its small header, and its event mapping (without committed
 * pages), until it exits.
 *
 * The alternative, flipping the flag and waiting for every thread to leave
 * the recording path (an epoch per buffer, as in ck_epoch or userspace RCU),
 * needs a store-load fence on every event or an asymmetric barrier
 * (membarrier); the scheme above needs neither.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "buffer.h"
#include "core/misuse.h"
#include "clock.h"
#include "session.h"

static pthread_mutex_t trace_lock = PTHREAD_MUTEX_INITIALIZER;
static struct spool__trace_buf *registry;
static size_t session_cap = SPOOL_TRACE_DEFAULT_EVENTS;
static uint64_t session_lost;

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t buf_key;

/* Event mappings made and committed by the session's start for the threads
 * expected to record (see spool__trace_buffers_open()), handed out by
 * attach(); whatever is left is unmapped at stop. Under the lock. */
enum { MAX_SPARES = 64 };
static struct spool__trace_slot *spares[MAX_SPARES];
static size_t nspares, spares_cap;
/* Live threads that named their track (pool workers, loops, and threads
 * named through the public call): those expected to record. Under the
 * lock. */
static unsigned live_named;

/* initial-exec: the recording path reads my_buf on every event, and the
 * default model for a shared library calls __tls_get_addr each time. The
 * library is linked at start-up (never dlopen'ed late), so its TLS is in
 * the static block. */
static _Thread_local struct spool__trace_buf *my_buf
	__attribute__((tls_model("initial-exec")));
_Thread_local bool spool__trace_fresh
	__attribute__((tls_model("initial-exec")));
static _Thread_local char my_name[SPOOL__TRACE_NAME_MAX];
static _Thread_local int my_sort = -1;
static _Thread_local bool my_counted; /* this thread is in live_named */
/* The pthread key's value for a named thread that has no buffer yet: the
 * destructor must run to take it out of live_named. */
static char named_only;

void spool__trace_lock(void)
{
	pthread_mutex_lock(&trace_lock);
}

void spool__trace_unlock(void)
{
	pthread_mutex_unlock(&trace_lock);
}

/* The bytes of a mapping for cap events: two slots each at most. */
static size_t map_len(size_t cap)
{
	return 2 * cap * sizeof(struct spool__trace_slot);
}

static void unmap_events(struct spool__trace_buf *b)
{
	if (b->ev)
		munmap(b->ev, map_len(b->cap));
	b->ev = NULL;
	b->cap = 0;
}

/* Asks for transparent huge pages beyond the first 2 MiB of a buffer of
 * len bytes at m. A long trace appends hundreds of MiB, and one fault per
 * 2 MiB instead of per 4 KiB roughly halved the recording cost of the fib
 * benchmark. The first 2 MiB (up to 131072 events) stay in small pages: a
 * short trace, or a thread that records little, then never waits for a whole
 * huge page to be zeroed (milliseconds on a virtual machine's first
 * touch). Advice only: ignored where transparent huge pages are off. */
static void huge_pages_after_first(void *m, size_t len)
{
	const uintptr_t huge = (uintptr_t)2 << 20;
	uintptr_t from = ((uintptr_t)m + 2 * huge - 1) & ~(huge - 1);
	uintptr_t end = (uintptr_t)m + len;
	if (from < end)
		madvise((void *)from, end - from, MADV_HUGEPAGE);
}

/* A fresh, uncommitted mapping for cap events; NULL when out of address
 * space. */
static struct spool__trace_slot *map_events(size_t cap)
{
	size_t len = map_len(cap);
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	huge_pages_after_first(m, len);
	return m;
}

/* Commits the first len bytes at m: one write per page makes the kernel
 * allocate (and zero) it now rather than at the first event stored in
 * it. */
static void commit(void *m, size_t len)
{
	volatile char *p = m;
	for (size_t off = 0; off < len; off += 4096)
		p[off] = 0;
}

/* Thread exit (pthread-key destructor): a registered buffer waits for stop
 * to write it; any other is freed now. */
static void thread_exit(void *p)
{
	struct spool__trace_buf *b = p;
	spool__trace_lock();
	if (my_counted)
		live_named--;
	my_counted = false;
	my_buf = NULL;
	if (p == &named_only) {
		/* named, never recorded: nothing to free */
	} else if (b->registered) {
		b->orphan = true;
	} else {
		unmap_events(b);
		free(b);
	}
	spool__trace_unlock();
}

static void make_key(void)
{
	if (pthread_key_create(&buf_key, thread_exit) != 0)
		spool__bug("trace buffers",
			   "pthread_key_create failed (PTHREAD_KEYS_MAX "
			   "keys in use)");
}

/* The track name of the calling thread: set by spool_trace_thread_name()
 * or the executors' hook; else "main" for the initial thread and
 * "thread <tid>" for any other. */
static void default_name(struct spool__trace_buf *b)
{
	if (my_name[0]) {
		memcpy(b->name, my_name, sizeof b->name);
		b->sort = my_sort;
	} else if (b->tid == getpid()) {
		snprintf(b->name, sizeof b->name, "main");
		b->sort = 2000;
	} else {
		snprintf(b->name, sizeof b->name, "thread %d", (int)b->tid);
		b->sort = 3000;
	}
}

/* Slow path of the first event of a session on this thread: register the
 * buffer (creating or resizing it) if generation gen is still recording.
 * Returns the buffer, or NULL when the event must be skipped. */
static struct spool__trace_buf *attach(uint64_t gen)
{
	pthread_once(&key_once, make_key);
	spool__trace_lock();
	struct spool__trace_buf *b = NULL;
	if (atomic_load_explicit(&spool__trace_gen, memory_order_relaxed) !=
	    gen)
		goto out; /* stopped or restarted meanwhile */
	b = my_buf;
	if (!b) {
		b = calloc(1, sizeof *b);
		if (!b) {
			session_lost++;
			goto out;
		}
		b->tid = (pid_t)syscall(SYS_gettid);
		my_buf = b;
		pthread_setspecific(buf_key, b);
	}
	if (nspares && spares_cap == session_cap) {
		/* A mapping the start committed: this thread's events do not
		 * fault. Its own mapping (if any) is written only by itself,
		 * and read by a stopper only under the lock we hold, so it
		 * can go now. */
		unmap_events(b);
		b->ev = spares[--nspares];
		b->cap = session_cap;
	} else if (b->cap != session_cap || !b->ev) {
		unmap_events(b);
		struct spool__trace_slot *m = map_events(session_cap);
		if (m) {
			b->ev = m;
			b->cap = session_cap;
			/* Commit the first page now, under the lock, rather
			 * than in the thread's first timed event. */
			commit(m, 4096);
		}
	}
	/* Relaxed: the stopper reads these under the lock we hold. */
	atomic_store_explicit(&b->n, 0, memory_order_relaxed);
	b->events = 0;
	atomic_store_explicit(&b->dropped, 0, memory_order_relaxed);
	b->last_ts = 0;
	spool__trace_fresh = false; /* a read of an earlier session */
	b->gen = gen; /* from now on this thread records without the lock */
	b->orphan = false;
	b->registered = true;
	default_name(b);
	b->next = registry;
	registry = b;
	/* A buffer whose mapping failed stays registered with cap 0: its
	 * events count as dropped, so the loss is reported. */
out:
	spool__trace_unlock();
	return b;
}

/* The calling thread's buffer for the session now recording, registering
 * it on the thread's first event of the session; NULL when the event must
 * be skipped (no session, or no memory). */
static inline struct spool__trace_buf *my_buffer(void)
{
	uint64_t gen = atomic_load_explicit(&spool__trace_gen,
					    memory_order_relaxed);
	struct spool__trace_buf *b = my_buf;
	if (__builtin_expect(!b || b->gen != gen, 0))
		b = gen ? attach(gen) : NULL;
	return b;
}

static inline void append(struct spool__trace_buf *b, uint64_t ts,
			  uint32_t kind, uint64_t id, uint64_t arg)
{
	if (__builtin_expect(b->events >= b->cap, 0)) {
		/* Relaxed: this thread is the only writer. */
		atomic_store_explicit(
			&b->dropped,
			atomic_load_explicit(&b->dropped,
					     memory_order_relaxed) +
				1,
			memory_order_relaxed);
		return;
	}
	b->events++;
	/* Relaxed: this thread is the only writer of n. There are 2 cap
	 * slots, so cap events always fit. */
	size_t n = atomic_load_explicit(&b->n, memory_order_relaxed);
	struct spool__trace_slot *e = &b->ev[n];
	uint64_t word = (id & SPOOL__TRACE_ID_MASK) | (uint64_t)kind << 56;
	e->ts = ts;
	if (arg) {
		e->word = word | SPOOL__TRACE_HAS_ARG;
		e[1].ts = arg;
		e[1].word = 0;
		n += 2;
	} else {
		e->word = word;
		n += 1;
	}
	/* Release: the slots above are complete before the stopper's
	 * acquire load can count them. */
	atomic_store_explicit(&b->n, n, memory_order_release);
}

void spool__trace_record_at(uint64_t ts, uint32_t kind, uint64_t id,
			    uint64_t arg)
{
	struct spool__trace_buf *b = my_buffer();
	if (b)
		append(b, ts, kind, id, arg);
}

void spool__trace_record(uint32_t kind, uint64_t id, uint64_t arg)
{
	/* The clock is read after the buffer is found, so a thread's first
	 * event does not include the registration in its time. */
	struct spool__trace_buf *b = my_buffer();
	if (b) {
		uint64_t ts = spool__trace_ticks();
		b->last_ts = ts;
		spool__trace_fresh = true;
		append(b, ts, kind, id, arg);
	}
}

void spool__trace_record_reuse(uint32_t kind, uint64_t id, uint64_t arg)
{
	struct spool__trace_buf *b = my_buffer();
	if (!b)
		return;
	/* last_ts is 0 until this thread's first read of the session. */
	if (!spool__trace_fresh || !b->last_ts) {
		b->last_ts = spool__trace_ticks();
		spool__trace_fresh = true;
	}
	append(b, b->last_ts, kind, id, arg);
}

uint64_t spool__trace_submit_ts(void)
{
	/* The thread's latest clock read: no earlier than anything it
	 * recorded, no later than the submission. The first submission of
	 * a session on this thread reads the clock. */
	struct spool__trace_buf *b = my_buffer();
	if (!b)
		return 0;
	if (!b->last_ts)
		b->last_ts = spool__trace_ticks();
	return b->last_ts;
}

void spool__trace_set_name(const char *name, int sort)
{
	snprintf(my_name, sizeof my_name, "%s", name);
	my_sort = sort;
	if (my_counted && !my_buf)
		return;
	if (!my_counted)
		pthread_once(&key_once, make_key);
	spool__trace_lock();
	if (!my_counted) {
		/* Once per thread: count it among the threads the next
		 * session prepares a buffer for, until it exits. */
		my_counted = true;
		live_named++;
		if (!my_buf)
			pthread_setspecific(buf_key, &named_only);
	}
	if (my_buf && my_buf->registered) {
		memcpy(my_buf->name, my_name, sizeof my_name);
		my_buf->sort = sort;
	}
	spool__trace_unlock();
}

void spool__trace_thread_name(const char *prefix, int index)
{
	char name[SPOOL__TRACE_NAME_MAX];
	int sort = 2000;
	if (index >= 0)
		snprintf(name, sizeof name, "%s %d", prefix, index);
	else
		snprintf(name, sizeof name, "%s", prefix);
	if (strcmp(prefix, "worker") == 0)
		sort = index < 0 ? 0 : index;
	else if (strcmp(prefix, "loop") == 0)
		sort = 1000 + (index < 0 ? 0 : index);
	spool__trace_set_name(name, sort);
}

/* Lock held: unmaps the spares no thread took. */
static void drop_spares(void)
{
	while (nspares)
		munmap(spares[--nspares], map_len(spares_cap));
}

void spool__trace_buffers_open(size_t cap)
{
	session_cap = cap;
	session_lost = 0;
	drop_spares();
	/* One committed mapping per thread expected to record: each named
	 * thread (pool workers, loops), or one per online CPU if that is
	 * more (a pool just created may not have started its workers yet),
	 * plus one for the starting thread. Committing the pages here,
	 * outside the recorded work, keeps the page faults (and the kernel's
	 * zeroing) out of the events' times: filling tens of MiB of fresh
	 * pages can take a large fraction of a short traced run. Up to
	 * SPOOL__TRACE_PREFAULT_BYTES
	 * per thread and SPOOL__TRACE_PREFAULT_TOTAL bytes in all, so that a
	 * huge buffer or a big machine does not commit its whole reserve. */
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	size_t cpus = online > 0 ? (size_t)online : 1;
	size_t want = live_named > cpus ? live_named : cpus;
	want = want + 1 < MAX_SPARES ? want + 1 : MAX_SPARES;
	size_t len = map_len(cap);
	size_t pre = SPOOL__TRACE_PREFAULT_BYTES;
	if (pre > SPOOL__TRACE_PREFAULT_TOTAL / want)
		pre = SPOOL__TRACE_PREFAULT_TOTAL / want;
	if (pre > len)
		pre = len;
	spares_cap = cap;
	while (nspares < want) {
		struct spool__trace_slot *m = map_events(cap);
		if (!m)
			break;
		commit(m, pre);
		spares[nspares++] = m;
	}
}

struct spool__trace_buf *spool__trace_buffers(void)
{
	return registry;
}

uint64_t spool__trace_buffers_lost(void)
{
	return session_lost;
}

void spool__trace_buffers_release(void)
{
	drop_spares();
	struct spool__trace_buf *b = registry;
	registry = NULL;
	while (b) {
		struct spool__trace_buf *next = b->next;
		b->registered = false;
		b->next = NULL;
		if (b->orphan) {
			unmap_events(b);
			free(b);
		} else if (b->ev) {
			/* Its thread may still append a late event: see 2.
			 * above. The pages come back as zeros if it does. */
			madvise(b->ev, map_len(b->cap), MADV_DONTNEED);
		}
		b = next;
	}
}
