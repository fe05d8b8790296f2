/* SPDX-License-Identifier: MIT */
/*
 * Bare swapcontext(3) on the switch workload, in the same shape as the
 * loop's: LOOP_COROUTINES contexts passing control round a ring, n
 * switches in all, each from one context straight into the next (the first
 * from the calling context into the ring, the last back out of it, so n + 1
 * swapcontext calls). It is the switch a portable coroutine library pays
 * (glibc saves the signal mask with a system call on every swap), against
 * which spool's yield, a hand-written register switch plus a trip through
 * the ready queue, is measured. It runs no other workload.
 */
#include <stdio.h>
#include <stdlib.h>
#include <ucontext.h>

#include "peer.h"

enum { STACK = 64 * 1024 };

struct st {
	int64_t n;
	int64_t count; /* switches made */
	ucontext_t main, co[LOOP_COROUTINES];
	char *stack[LOOP_COROUTINES];
};

static struct st *current; /* makecontext passes ints only */

static void bounce(int i)
{
	struct st *s = current;
	for (;;) {
		ucontext_t *next = ++s->count == s->n
					   ? &s->main
					   : &s->co[(i + 1) % LOOP_COROUTINES];
		swapcontext(&s->co[i], next);
	}
}

static const char *cannot(enum loop_bench b)
{
	return b == B_SWITCH ? NULL
			     : "swapcontext is a bare context switch, no loop";
}

static int setup(enum loop_bench b, int64_t n, void **state, char *err)
{
	struct st *s = calloc(1, sizeof *s);
	(void)b;
	if (!s)
		return snprintf(err, LOOP_ERRLEN, "out of memory"), -1;
	*state = s;
	s->n = n;
	for (int i = 0; i < LOOP_COROUTINES; i++) {
		if (!(s->stack[i] = malloc(STACK)))
			return snprintf(err, LOOP_ERRLEN, "out of memory"), -1;
		if (getcontext(&s->co[i]) != 0)
			return snprintf(err, LOOP_ERRLEN, "getcontext failed"),
			       -1;
		s->co[i].uc_stack.ss_sp = s->stack[i];
		s->co[i].uc_stack.ss_size = STACK;
		s->co[i].uc_link = NULL;
		makecontext(&s->co[i], (void (*)(void))bounce, 1, i);
	}
	current = s;
	return 0;
}

static int run(void *state, char *err)
{
	struct st *s = state;
	if (s->n > 0 && swapcontext(&s->main, &s->co[0]) != 0)
		return snprintf(err, LOOP_ERRLEN, "swapcontext failed"), -1;
	if (s->count != s->n)
		return snprintf(err, LOOP_ERRLEN, "%lld switches of %lld",
				(long long)s->count, (long long)s->n),
		       -1;
	return 0;
}

static void teardown(void *state)
{
	struct st *s = state;
	for (int i = 0; i < LOOP_COROUTINES; i++)
		free(s->stack[i]);
	free(s);
}

const struct loop_peer loop_peer_swapcontext = {
	.impl = "swapcontext",
	.cannot = cannot,
	.setup = setup,
	.run = run,
	.teardown = teardown,
};
