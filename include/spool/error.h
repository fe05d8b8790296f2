/* SPDX-License-Identifier: MIT */
/**
 * @file
 * @brief Error codes. Every spool call that can fail returns an int: 0 is
 * success, spool's own codes are negative and listed once below, and a task's
 * own error ("exception") is a positive code the task chose. errno is never the
 * channel.
 */
#ifndef SPOOL_ERROR_H
#define SPOOL_ERROR_H

#include "spool/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** X(name, value, message): the single list that gives the enum,
 * spool_strerror() and spool_err_name(). Values never change once released. */
#define SPOOL_ERRNO_MAP(X)                                                     \
	X(EINVAL, -1, "invalid argument")                                      \
	X(ENOMEM, -2, "out of memory")                                         \
	X(ECANCELLED, -3, "cancelled")                                         \
	X(ETIMEDOUT, -4, "timed out")                                          \
	X(ESHUTDOWN, -5, "executor is shut down")                              \
	X(ESTATE, -6, "future already completed")                              \
	X(EDEADLK, -7, "this wait can never finish on this thread")            \
	X(EBUSY, -8, "future is running; cancellation was only requested")     \
	X(EAGAIN, -9, "not finished yet")                                      \
	X(EOF, -10, "iteration is over")                                       \
	X(ESYS, -11, "a system call failed")

/** spool's own error codes, all negative (a task's own errors are
 * positive); spool_strerror() and spool_err_name() describe each. */
typedef enum spool_errno {
/** @cond */
#define SPOOL__ERR_ENUM(name, value, msg) SPOOL_##name = (value),
	SPOOL_ERRNO_MAP(SPOOL__ERR_ENUM)
#undef SPOOL__ERR_ENUM
	/** @endcond */
} spool_errno;

/** A static, human-readable message for any code: 0 gives "success", a
 * positive code "task error", an unknown negative one "unknown error".
 * Thread-safe; never NULL; never blocks. */
SPOOL_API const char *spool_strerror(int err);

/** The code's name, e.g. "SPOOL_ETIMEDOUT"; "SPOOL_OK" for 0, "TASK_ERROR"
 * for a positive code, "SPOOL_EUNKNOWN" otherwise. Thread-safe; never NULL. */
SPOOL_API const char *spool_err_name(int err);

#ifdef __cplusplus
}
#endif

#endif /* SPOOL_ERROR_H */
