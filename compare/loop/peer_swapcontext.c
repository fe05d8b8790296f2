/* SPDX-License-Identifier: MIT */
/*
 * Bare swapcontext(3) on the switch workload: n round trips between the
 * calling context and one other, with no loop around them. It is the
 * switch a portable coroutine library pays (glibc saves the signal mask
 * with a system call on every swap), against which spool's yield, a
 * hand-written register switch plus a trip through the ready queue, is
 * measured. It runs no other workload.
 */
#include <stdio.h>
#include <stdlib.h>
#include <ucontext.h>

#include "peer.h"

enum { STACK = 64 * 1024 };

struct st {
	int64_t n;
	int64_t count;
	ucontext_t main, co;
	char *stack;
};

static struct st *current; /* makecontext passes ints only */

static void bounce(void)
{
	struct st *s = current;
	for (;;) {
		s->count++;
		swapcontext(&s->co, &s->main);
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
	if (!s || !(s->stack = malloc(STACK)))
		return snprintf(err, LOOP_ERRLEN, "out of memory"), -1;
	*state = s;
	s->n = n;
	if (getcontext(&s->co) != 0)
		return snprintf(err, LOOP_ERRLEN, "getcontext failed"), -1;
	s->co.uc_stack.ss_sp = s->stack;
	s->co.uc_stack.ss_size = STACK;
	s->co.uc_link = NULL;
	makecontext(&s->co, bounce, 0);
	current = s;
	return 0;
}

static int run(void *state, char *err)
{
	struct st *s = state;
	for (int64_t i = 0; i < s->n; i++)
		if (swapcontext(&s->main, &s->co) != 0)
			return snprintf(err, LOOP_ERRLEN, "swapcontext failed"),
			       -1;
	if (s->count != s->n)
		return snprintf(err, LOOP_ERRLEN, "%lld round trips of %lld",
				(long long)s->count, (long long)s->n),
		       -1;
	return 0;
}

static void teardown(void *state)
{
	struct st *s = state;
	free(s->stack);
	free(s);
}

const struct loop_peer loop_peer_swapcontext = {
	.impl = "swapcontext",
	.cannot = cannot,
	.setup = setup,
	.run = run,
	.teardown = teardown,
};
