/* SPDX-License-Identifier: MIT */
/* The work-stealing thread pool (see the pool module). */
#ifndef SPOOL_POOL_H
#define SPOOL_POOL_H
#include "spool/executor.h"
#endif
