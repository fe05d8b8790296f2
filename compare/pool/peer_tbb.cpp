/* SPDX-License-Identifier: MIT */
/*
 * oneTBB: the fork-join reference. Each fib/skynet/nqueens call is a task
 * run by a tbb::task_group that the parent waits on (TBB's waiting thread
 * runs other tasks meanwhile, as spool's does). The driver's thread is one
 * of the `threads` workers here, as TBB's model has it: a
 * global_control allows `threads` in all, the caller plus threads - 1 TBB
 * workers.
 *
 * "submit" uses the API TBB has for work started from outside:
 * task_arena::enqueue from the driver's thread, which does not join the
 * arena, into an arena of `threads` workers; the join is a counter the last
 * task signals (TBB has no per-task futures).
 */
#include <tbb/global_control.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <new>

#include "peer.h"

namespace {

int64_t fib(int n)
{
	if (n < 2)
		return n;
	int64_t a, b;
	tbb::task_group g;
	g.run([&] { a = fib(n - 1); });
	g.run([&] { b = fib(n - 2); });
	g.wait();
	return a + b;
}

int64_t skynet(pool_skynet s)
{
	if (s.size == 1)
		return s.num;
	int64_t part[10];
	tbb::task_group g;
	for (int i = 0; i < 10; i++)
		g.run([&part, s, i] {
			part[i] = skynet(pool_skynet_child(s, i));
		});
	g.wait();
	int64_t sum = 0;
	for (int i = 0; i < 10; i++)
		sum += part[i];
	return sum;
}

int64_t nqueens(pool_nqueens s)
{
	if (s.row == s.n)
		return 1;
	int64_t part[POOL_NQUEENS_MAX];
	uint32_t free = pool_nqueens_free(s);
	int k = 0;
	tbb::task_group g;
	while (free) {
		uint32_t bit = free & -free;
		free ^= bit;
		pool_nqueens c = pool_nqueens_place(s, bit);
		int64_t *slot = &part[k++];
		g.run([slot, c] { *slot = nqueens(c); });
	}
	g.wait();
	int64_t sum = 0;
	for (int i = 0; i < k; i++)
		sum += part[i];
	return sum;
}

struct tbb_state {
	tbb::global_control *limit = nullptr;
	tbb::task_arena *arena = nullptr; // submit only
	std::atomic<int64_t> count{0};
	int64_t target = 0;
	std::mutex mu;
	std::condition_variable cv;
	bool done = false;

	// The tiny task; the one that completes the count wakes the joiner.
	// target is read before the increment, so every read happens before
	// the joiner writes the next run's target (see peer_mutexpool.c).
	void tick()
	{
		int64_t t = target;
		if (count.fetch_add(1, std::memory_order_acq_rel) + 1 == t) {
			std::lock_guard<std::mutex> lk(mu);
			done = true;
			cv.notify_one();
		}
	}
};

const char *tbb_cannot(enum pool_bench)
{
	return nullptr;
}

int tbb_start(int threads, enum pool_bench b, int64_t, void **state, char *err)
{
	tbb_state *st = new (std::nothrow) tbb_state;
	if (!st)
		return std::snprintf(err, POOL_ERRLEN, "out of memory"), -1;
	try {
		if (b == POOL_SUBMIT) {
			// threads workers, plus one slot for an outside thread
			// that never takes it: enqueue does not join.
			st->limit = new tbb::global_control(
				tbb::global_control::max_allowed_parallelism,
				(size_t)threads + 1);
			st->arena = new tbb::task_arena(threads + 1, 1);
			st->arena->initialize();
		} else {
			st->limit = new tbb::global_control(
				tbb::global_control::max_allowed_parallelism,
				(size_t)threads);
		}
	} catch (const std::exception &e) {
		std::snprintf(err, POOL_ERRLEN, "oneTBB: %s", e.what());
		delete st->limit;
		delete st;
		return -1;
	}
	*state = st;
	return 0;
}

int tbb_run(void *state, enum pool_bench b, int64_t n, int64_t *answer,
	    char *err)
{
	tbb_state *st = static_cast<tbb_state *>(state);
	try {
		switch (b) {
		case POOL_FIB:
			*answer = fib((int)n);
			break;
		case POOL_SKYNET:
			*answer = skynet(pool_skynet{0, n});
			break;
		case POOL_NQUEENS:
			*answer = nqueens(pool_nqueens_root((int)n));
			break;
		default: {
			// Relaxed: no task runs between runs, and enqueue
			// publishes it.
			st->count.store(0, std::memory_order_relaxed);
			st->target = n;
			st->done = false;
			for (int64_t i = 0; i < n; i++)
				st->arena->enqueue([st] { st->tick(); });
			std::unique_lock<std::mutex> lk(st->mu);
			st->cv.wait(lk, [st] { return st->done; });
			*answer = st->count.load(std::memory_order_acquire);
			break;
		}
		}
	} catch (const std::exception &e) {
		std::snprintf(err, POOL_ERRLEN, "oneTBB: %s", e.what());
		return -1;
	}
	return 0;
}

void tbb_stop(void *state)
{
	tbb_state *st = static_cast<tbb_state *>(state);
	delete st->arena;
	delete st->limit;
	delete st;
}

} // namespace

extern "C" const struct pool_peer pool_peer_tbb = {
	"tbb", tbb_cannot, tbb_start, tbb_run, tbb_stop,
};
