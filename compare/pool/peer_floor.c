/* SPDX-License-Identifier: MIT */
/*
 * "floor": not a pool but a lower bound. It does only the part of spool's
 * work that the pool's design requires and no code can avoid, so that its
 * time bounds from below what any implementation of that design can reach
 * on this machine. Two targets of the pool suite are read against it.
 *
 * fib(n), on one thread: sequential fib, where every call but the root
 * also does the serialising operations of one spawn and join with a
 * future, on records that stay in the cache and that no other thread
 * touches (no contention, no allocation, no queue, no waiting):
 *   - the deque's take: a store of the bottom index, the seq_cst fence,
 *     a load of the top index (Le et al., PPoPP 2013); the parent takes
 *     its two children back, and taking the last item adds a
 *     compare-and-swap on top (the race with thieves for that item);
 *   - the start: a compare-and-swap PENDING -> RUNNING on the future's
 *     state, which a cancel may race (a cancelled pending task never
 *     runs);
 *   - the completion: one read-modify-write that publishes the final
 *     state (waiters and callbacks may be registering at the same time),
 *     the pool's reference dropped in the same step.
 * The submitter's release of its reference is a load when it holds the
 * last one (src/core/future.c), so it adds nothing here. Compare with
 * sequential fib: spool on one worker cannot be faster than this.
 *
 * submit(n), on `threads` threads: the page faults of keeping n futures
 * alive until the join, each a fresh task record of RECORD_SIZE bytes, as
 * a submitter that keeps every future does in a new process. The threads
 * fault in equal shares of one fresh mapping, one write per page, as
 * the best case of spreading the faults over the cores; nothing is
 * submitted or run. Compare with the mutex pool, whose 32-byte tasks are
 * freed as they run and so reuse the same few pages.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "peer.h"

/* The seq_cst fence. GCC refuses it under ThreadSanitizer; there the same
 * instruction as an asm statement (as src/pool/fence.h does). */
#if defined(__SANITIZE_THREAD__) && defined(__x86_64__)
#define full_fence() __asm__ __volatile__("mfence" ::: "memory")
#elif defined(__SANITIZE_THREAD__) && defined(__aarch64__)
#define full_fence() __asm__ __volatile__("dmb ish" ::: "memory")
#else
#define full_fence() atomic_thread_fence(memory_order_seq_cst)
#endif

/* The size of a spool task record, its future included: two cache lines
 * (struct spool__pool_task, src/pool/pool_impl.h). */
enum { RECORD_SIZE = 128, MAX_DEPTH = 96, MAX_THREADS = 256 };

/* ---- fib ---------------------------------------------------------------- */

/* The owner's deque indices and two future states per recursion depth:
 * globals, so the compiler must perform every atomic operation. */
static _Atomic long dq_top, dq_bottom;
static _Atomic uint64_t states[MAX_DEPTH][2];

/* The owner takes back the newest item; last: it is the only one left. */
static void take(long b, int last)
{
	atomic_store_explicit(&dq_bottom, b, memory_order_relaxed);
	full_fence();
	long t = atomic_load_explicit(&dq_top, memory_order_relaxed);
	if (last)
		atomic_compare_exchange_strong_explicit(&dq_top, &t, t + 1,
							memory_order_seq_cst,
							memory_order_relaxed);
}

static int64_t floor_fib(int n);

/* Start, run and complete a child on its state word. */
static int64_t child(_Atomic uint64_t *state, int n)
{
	uint64_t pending = 0;
	atomic_store_explicit(state, pending, memory_order_relaxed);
	atomic_compare_exchange_strong_explicit(
		state, &pending, 1, memory_order_acquire, memory_order_relaxed);
	int64_t r = floor_fib(n);
	atomic_fetch_xor_explicit(state, 1 ^ 3, memory_order_release);
	return r;
}

static int64_t floor_fib(int n)
{
	if (n < 2)
		return n;
	_Atomic uint64_t *s = states[n];
	long b = atomic_load_explicit(&dq_bottom, memory_order_relaxed);
	/* The two pushes: release stores of the bottom index. */
	atomic_store_explicit(&dq_bottom, b + 1, memory_order_release);
	atomic_store_explicit(&dq_bottom, b + 2, memory_order_release);
	take(b + 1, 0);
	int64_t y = child(&s[1], n - 2);
	take(b, 1);
	int64_t x = child(&s[0], n - 1);
	return x + y;
}

/* ---- submit -------------------------------------------------------------- */

struct share {
	char *p;
	size_t len;
};

static void *fault_in(void *arg)
{
	const struct share *s = arg;
	long page = sysconf(_SC_PAGESIZE);
	for (size_t off = 0; off < s->len; off += (size_t)page)
		((volatile char *)s->p)[off] = 1;
	return NULL;
}

struct floor_state {
	int threads;
	void *map; /* the latest run's mapping, unmapped untimed */
	size_t len;
};

static void unmap_previous(struct floor_state *st)
{
	if (st->map)
		munmap(st->map, st->len);
	st->map = NULL;
}

static int floor_submit(struct floor_state *st, int64_t n, char *err)
{
	size_t len = (size_t)n * RECORD_SIZE;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return snprintf(err, POOL_ERRLEN, "mmap: out of memory"), -1;
	st->map = p;
	st->len = len;

	int k = st->threads;
	pthread_t t[MAX_THREADS];
	struct share sh[MAX_THREADS];
	bool joined[MAX_THREADS];
	size_t chunk = (len / (size_t)k + 4095) & ~(size_t)4095;
	for (int i = 0; i < k; i++) {
		size_t off = (size_t)i * chunk < len ? (size_t)i * chunk : len;
		sh[i].p = p + off;
		sh[i].len = len - off < chunk ? len - off : chunk;
		/* A thread that cannot be made: its share is faulted in here.
		 */
		joined[i] = i > 0 &&
			    pthread_create(&t[i], NULL, fault_in, &sh[i]) == 0;
		if (i > 0 && !joined[i])
			fault_in(&sh[i]);
	}
	fault_in(&sh[0]);
	for (int i = 1; i < k; i++)
		if (joined[i])
			pthread_join(t[i], NULL);
	return 0;
}

/* ---- the peer ------------------------------------------------------------ */

static const char *floor_cannot(enum pool_bench b)
{
	if (b == POOL_FIB || b == POOL_SUBMIT)
		return NULL;
	return "the floor is modelled for fib and submit only";
}

static int floor_start(int threads, enum pool_bench b, int64_t n, void **state,
		       char *err)
{
	struct floor_state *st = calloc(1, sizeof(*st));
	(void)b, (void)n;
	if (!st)
		return snprintf(err, POOL_ERRLEN, "out of memory"), -1;
	st->threads = threads < MAX_THREADS ? threads : MAX_THREADS;
	*state = st;
	return 0;
}

static int floor_run(void *state, enum pool_bench b, int64_t n, int64_t *answer,
		     char *err)
{
	struct floor_state *st = state;
	if (b == POOL_FIB) {
		if (n >= MAX_DEPTH)
			return snprintf(err, POOL_ERRLEN, "fib(%lld) too deep",
					(long long)n),
			       -1;
		*answer = floor_fib((int)n);
		return 0;
	}
	/* The warm-up's mapping goes now, outside the timed run that
	 * follows it in the same process. */
	unmap_previous(st);
	if (floor_submit(st, n, err) != 0)
		return -1;
	*answer = n;
	return 0;
}

static void floor_stop(void *state)
{
	unmap_previous(state);
	free(state);
}

const struct pool_peer pool_peer_floor = {
	"floor", floor_cannot, floor_start, floor_run, floor_stop,
};
