/* SPDX-License-Identifier: MIT */
/*
 * One task of a lesson workload, described by value: which workload, which
 * task of it, and the sizes it needs. Every backend runs a task through
 * cmp_task_run(), whether the task runs on the calling thread, a pool
 * worker, a loop coroutine, or in a worker process that shares no memory
 * with the program and received the description as a message (farm.h), so
 * the code that decides what a task computes is written once.
 */
#ifndef CMP_TASK_H
#define CMP_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compare.h"

enum cmp_task_kind {
	CMP_TASK_PLAIN,     /* the workload's task: sleep, request, fib, hash */
	CMP_TASK_MIXED_CPU, /* hash passes until stopped, at most
			       mixed_rounds (the mixed workload's CPU job) */
	CMP_TASK_SPIN_CPU,  /* fib units until stopped (the convoy's) */
	CMP_TASK_KINDS
};

struct cmp_task_spec {
	int workload; /* enum cmp_workload */
	int kind;     /* enum cmp_task_kind */
	int index;    /* the task's number in its batch */
	uint64_t seed;
	int64_t delay_ns; /* sleep: the mean delay; request: unused */
	int fib_n;
	int hash_kib, hash_rounds, mixed_rounds;
	uint16_t port; /* request: the delay server on 127.0.0.1 */
	/* The hash buffer (cmp_hash_buffer_fill(seed), hash_kib KiB): a
	 * pointer into the runner's memory, never part of a message. */
	const uint8_t *buf;
	size_t buf_len;
};

/* The description of task `index` of workload w under cfg (kind PLAIN);
 * port and buf are the caller's to set where the workload needs them. */
struct cmp_task_spec cmp_task_spec_of(const struct cmp_config *cfg, int w,
				      int index);

/* Whether a running stop-checking job (MIXED_CPU, SPIN_CPU) should end;
 * called between units of work. */
typedef bool (*cmp_task_stop_fn)(void *arg);

/* Runs the task t describes on the calling thread (blocking calls release
 * the GIL model's lock if the thread holds one; in a loop coroutine they
 * suspend it) and sets *result to its answer, the same on every backend.
 * stop may be NULL for PLAIN tasks. Returns 0 or a spool error code (a
 * failed request, SPOOL_EINVAL for a description it cannot run). For
 * SPIN_CPU, *result is the number of units of work done. */
int cmp_task_run(const struct cmp_task_spec *t, cmp_task_stop_fn stop,
		 void *stop_arg, uint64_t *result);

/* One unit of a SPIN_CPU job, between two stop checks: fib(CMP_SPIN_FIB),
 * tens of microseconds, with GIL-model checkpoints inside. */
#define CMP_SPIN_FIB 20
uint64_t cmp_task_spin_unit(void);

#endif /* CMP_TASK_H */
