/* SPDX-License-Identifier: MIT */
/*
 * The loop's part of the deadlock check (core/wait.h): which loop tasks can
 * never complete while the calling thread blocks.
 *
 * A loop task completes when its loop runs it to the end, and only a
 * thread running the loop does that. A loop with coroutines suspended (any
 * task started and not finished, loop->nstarted > 0) may only run on the
 * thread that started them: spool_loop_run() and spool_loop_destroy()
 * refuse every other thread (coroutines never migrate). So once that
 * thread has left the loop, the loop is stranded on it: until the same
 * thread runs or destroys it again, none of its tasks, started or not,
 * moves a step, and a wait by that thread on any of them can never end.
 * A loop without suspended coroutines is not stranded: any thread may run
 * it next, so a wait on its tasks may still end.
 *
 * The thread that leaves a stranded loop writes its token into the anchor
 * (stranded_on) and counts the loop among its own (spool__stranded_add);
 * the next install clears it. A task's stuck op compares the word with the
 * calling thread's token. Relaxed accesses are enough, because a thread
 * only ever trusts its own write: while the word holds thread T's token,
 * no other thread may install the loop, so no other thread writes the
 * word, and T reads its own latest write (coherence); and after T has
 * cleared it, T can no longer read its old token (a read never sees a
 * value older than the reader's own last write). Another thread reads 0 or
 * somebody else's token, and answers "not stuck". The word lives in the
 * anchor, not the loop, because a task (which holds the anchor) may be
 * waited for after the loop is gone; destroy leaves it 0.
 *
 * Ways out that the check does not count: a task that has not started can
 * also be ended by spool_future_cancel() from another thread. A wait on
 * the stranded loop's own thread does not wait for that (loop.h says so).
 */
#include "loop_impl.h"

void spool__loop_strand(spool_loop *loop)
{
	if (loop->nstarted == 0)
		return;
	atomic_store_explicit(&loop->anchor->stranded_on, spool__thread_token(),
			      memory_order_relaxed);
	spool__stranded_add(1);
}

void spool__loop_unstrand(spool_loop *loop)
{
	struct spool__anchor *a = loop->anchor;
	uintptr_t was = atomic_load_explicit(&a->stranded_on,
					     memory_order_relaxed);
	if (!was)
		return;
	atomic_store_explicit(&a->stranded_on, 0, memory_order_relaxed);
	if (was == spool__thread_token())
		spool__stranded_add(-1);
}

bool spool__task_stuck(spool_future *f)
{
	struct spool__loop_task *t = (struct spool__loop_task *)f;
	return atomic_load_explicit(&t->anchor->stranded_on,
				    memory_order_relaxed) ==
	       spool__thread_token();
}
