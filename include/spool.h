/* SPDX-License-Identifier: MIT */
/**
 * @file
 * @brief spool: a work-stealing thread pool and a single-threaded event loop
 * that produce the same kind of future, and asyncio's combinators on any
 * future. This umbrella header is the only one users need.
 */
#ifndef SPOOL_H
#define SPOOL_H

#include "spool/common.h"
#include "spool/error.h"
#include "spool/executor.h"
#include "spool/future.h"
#include "spool/fail.h"
#include "spool/version.h"
#include "spool/pool.h"
#include "spool/loop.h"
#include "spool/combinators.h"
#include "spool/group.h"
#include "spool/trace.h"
#include "spool/debug.h"

#endif /* SPOOL_H */
