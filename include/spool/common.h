/* SPDX-License-Identifier: MIT */
/**
 * @file
 * @brief Shared definitions for every public spool header: the export macro,
 * the timeout convention and the handle types that more than one header names.
 * Users include <spool.h>; this file is an implementation detail of it.
 */
#ifndef SPOOL_COMMON_H
#define SPOOL_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every public function carries SPOOL_API; the library is built with hidden
 * visibility, so nothing else leaks out of the shared object. */
#if defined(__GNUC__) || defined(__clang__)
#define SPOOL_API __attribute__((visibility("default")))
#else
#define SPOOL_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Timeouts are relative, in nanoseconds, on CLOCK_MONOTONIC.
 * SPOOL_FOREVER waits without limit; 0 only polls; other negative values are
 * SPOOL_EINVAL. */
#define SPOOL_FOREVER INT64_MAX
#define SPOOL_NS_PER_MS INT64_C(1000000)   /**< nanoseconds in a millisecond */
#define SPOOL_NS_PER_S INT64_C(1000000000) /**< nanoseconds in a second */

/** An opaque, reference-counted future (see spool/future.h). */
typedef struct spool_future spool_future;

/** Something that runs tasks: a pool, a loop, or the inline executor
 * (see spool/executor.h). Executors are owned by whatever created them. */
typedef struct spool_executor spool_executor;

/** A task: return 0 and set *result on success; return a positive code of
 * your own choosing to fail; return SPOOL_ECANCELLED to acknowledge a
 * cancellation request. *result is NULL on entry. */
typedef int (*spool_task_fn)(void *arg, void **result);

#ifdef __cplusplus
}
#endif

#endif /* SPOOL_COMMON_H */
