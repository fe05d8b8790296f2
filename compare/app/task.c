/* SPDX-License-Identifier: MIT */
/*
 * cmp_task_run(): what one task of a workload computes, given its
 * description (task.h). The in-process backends (backends.c, convoy.c) and
 * the worker processes (farm.c) all call it.
 */
#include "task.h"

#include <spool.h>

#include "workloads.h"

#define REQUEST_TIMEOUT_NS (10 * SPOOL_NS_PER_S)

struct cmp_task_spec cmp_task_spec_of(const struct cmp_config *cfg, int w,
				      int index)
{
	return (struct cmp_task_spec){.workload = w,
				      .kind = CMP_TASK_PLAIN,
				      .index = index,
				      .seed = cfg->seed,
				      .delay_ns = cfg->delay_ns,
				      .fib_n = cfg->fib_n,
				      .hash_kib = cfg->hash_kib,
				      .hash_rounds = cfg->hash_rounds,
				      .mixed_rounds = cfg->mixed_rounds};
}

uint64_t cmp_task_spin_unit(void)
{
	return cmp_fib(CMP_SPIN_FIB);
}

static bool stopped(cmp_task_stop_fn stop, void *arg)
{
	return stop && stop(arg);
}

int cmp_task_run(const struct cmp_task_spec *t, cmp_task_stop_fn stop,
		 void *stop_arg, uint64_t *result)
{
	int rc = 0;
	uint64_t h = 0;
	*result = 0;
	if (t->kind == CMP_TASK_MIXED_CPU) {
		/* The bound matters where the job runs alone first: seq, and
		 * the loop, where it never yields. */
		if (!t->buf)
			return SPOOL_EINVAL;
		h = cmp_mix64((uint64_t)t->index);
		for (int r = 0; r < t->mixed_rounds && !stopped(stop, stop_arg);
		     r++)
			h = cmp_fnv1a_rounds(t->buf, t->buf_len, 1, h);
		*result = h;
		return 0;
	}
	if (t->kind == CMP_TASK_SPIN_CPU) {
		uint64_t units = 0;
		while (!stopped(stop, stop_arg)) {
			h += cmp_task_spin_unit();
			units++;
		}
		volatile uint64_t sink = h; /* the work is not dead code */
		(void)sink;
		*result = units;
		return 0;
	}
	if (t->kind != CMP_TASK_PLAIN)
		return SPOOL_EINVAL;
	switch (t->workload) {
	case CMP_W_SLEEP:
		rc = cmp_io_sleep(
			cmp_task_delay_ns(t->seed, t->index, t->delay_ns));
		*result = cmp_mix64(t->seed ^ (uint64_t)t->index);
		return rc;
	case CMP_W_REQUEST:
		rc = cmp_io_request(t->port,
				    cmp_mix64(t->seed + (uint64_t)t->index),
				    REQUEST_TIMEOUT_NS, &h);
		*result = h;
		return rc;
	case CMP_W_FIB:
		if (t->fib_n < 0 || t->fib_n > 60)
			return SPOOL_EINVAL;
		*result = cmp_fib(t->fib_n);
		return 0;
	case CMP_W_HASH:
		if (!t->buf)
			return SPOOL_EINVAL;
		*result = cmp_fnv1a_rounds(t->buf, t->buf_len, t->hash_rounds,
					   cmp_mix64((uint64_t)t->index));
		return 0;
	default:
		return SPOOL_EINVAL;
	}
}
