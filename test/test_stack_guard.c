/* SPDX-License-Identifier: MIT */
/* Suite "stack_guard": the guard below every coroutine stack, in both of
 * the ways src/loop/stack.c installs it: MADV_GUARD_INSTALL (Linux 6.13 and
 * later, one process_madvise per slab) and the mprotect(PROT_NONE)
 * fallback that older kernels get. The fallback is forced here by
 * clearing the pool's flags, as stack.c itself does when the kernel
 * refuses the advice, so both paths are proven on any kernel. White-box:
 * the stack pool is internal (src/loop/stack.h) and the shared library
 * does not export it, so the suite links its own copy of stack.c
 * (spool_stack_copy, test/CMakeLists.txt). */
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "loop/stack.h"

#include "support.h"

enum { SIZE = 64 * 1024 };

/* A pool whose guards come from mprotect, as on a kernel before 6.13. */
static void init_fallback(struct spool__stack_pool *p)
{
	spool__stack_pool_init(p, SIZE, 0);
	p->use_guard_madvise = false;
	p->pidfd = -2; /* no process_madvise batch either */
}

static void init_default(struct spool__stack_pool *p)
{
	spool__stack_pool_init(p, SIZE, 0);
}

/* Writes the whole usable range of s (it must not fault). */
static void fill(const struct spool__stack_pool *p, struct spool__stack *s)
{
	memset(s->lo, 0x5a, p->size);
	ck_assert_int_eq(((volatile unsigned char *)s->lo)[0], 0x5a);
	ck_assert_int_eq(((volatile unsigned char *)s->lo)[p->size - 1], 0x5a);
}

/* Writes the byte just below the stack, where an overflow goes first. */
static void touch_guard(struct spool__stack *s)
{
	/* A sanitizer's SIGSEGV handler would report and exit; the default
	 * action is what the guard promises. */
	signal(SIGSEGV, SIG_DFL);
	((volatile char *)s->lo)[-1] = 1;
}

/* The 66th stack: in the second slab, past the first slab's 64. */
static struct spool__stack *stack_in_second_slab(struct spool__stack_pool *p,
						 struct spool__stack **all)
{
	for (int i = 0; i < SPOOL__STACKS_PER_SLAB + 2; i++) {
		all[i] = spool__stack_get(p);
		ck_assert_ptr_nonnull(all[i]);
		fill(p, all[i]);
	}
	ck_assert_uint_eq(p->nslabs, 2);
	return all[SPOOL__STACKS_PER_SLAB + 1];
}

START_TEST(fallback_stacks_are_usable_end_to_end_and_survive_trim)
{
	struct spool__stack_pool p;
	init_fallback(&p);
	struct spool__stack *all[SPOOL__STACKS_PER_SLAB + 2];
	stack_in_second_slab(&p, all);
	ck_assert(!p.use_guard_madvise); /* nothing switched it back */
	for (int i = 0; i < SPOOL__STACKS_PER_SLAB + 2; i++)
		spool__stack_put(&p, all[i]);
	spool__stack_trim(&p); /* keep 0: unmaps or empties them all */
	struct spool__stack *s = spool__stack_get(&p);
	ck_assert_ptr_nonnull(s);
	fill(&p, s);
	spool__stack_put(&p, s);
	spool__stack_pool_fini(&p);
}
END_TEST

START_TEST(fallback_guard_faults_below_a_stack_in_the_first_slab)
{
	struct spool__stack_pool p;
	init_fallback(&p);
	struct spool__stack *s = spool__stack_get(&p);
	ck_assert_ptr_nonnull(s);
	fill(&p, s);
	touch_guard(s);
	ck_abort_msg("the write below the stack did not fault");
}
END_TEST

/* Fills two slabs of a pool set up by init, then writes below the 66th
 * stack: the test must die there. */
static void later_slab_guard_faults(void (*init)(struct spool__stack_pool *))
{
	struct spool__stack_pool p;
	init(&p);
	struct spool__stack *all[SPOOL__STACKS_PER_SLAB + 2];
	touch_guard(stack_in_second_slab(&p, all));
	ck_abort_msg("the write below the stack did not fault");
}

START_TEST(fallback_guard_faults_below_a_stack_in_a_later_slab)
{
	later_slab_guard_faults(init_fallback);
}
END_TEST

START_TEST(fallback_guard_still_faults_after_trim_and_reuse)
{
	struct spool__stack_pool p;
	init_fallback(&p);
	struct spool__stack *s = spool__stack_get(&p);
	ck_assert_ptr_nonnull(s);
	fill(&p, s);
	spool__stack_put(&p, s);
	spool__stack_trim(&p);
	s = spool__stack_get(&p);
	ck_assert_ptr_nonnull(s);
	fill(&p, s);
	touch_guard(s);
	ck_abort_msg("the write below the stack did not fault");
}
END_TEST

START_TEST(default_guard_faults_below_a_stack_in_a_later_slab)
{
	later_slab_guard_faults(init_default);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stack_guard");
	TCase *tc = spool_test_case("fallback", 30);
	tcase_add_test(tc,
		       fallback_stacks_are_usable_end_to_end_and_survive_trim);
	tcase_add_test_raise_signal(
		tc, fallback_guard_faults_below_a_stack_in_the_first_slab,
		SIGSEGV);
	tcase_add_test_raise_signal(
		tc, fallback_guard_faults_below_a_stack_in_a_later_slab,
		SIGSEGV);
	tcase_add_test_raise_signal(
		tc, fallback_guard_still_faults_after_trim_and_reuse, SIGSEGV);
	suite_add_tcase(s, tc);

	tc = spool_test_case("default", 30);
	tcase_add_test_raise_signal(
		tc, default_guard_faults_below_a_stack_in_a_later_slab,
		SIGSEGV);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
