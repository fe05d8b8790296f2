/* SPDX-License-Identifier: MIT */
#ifndef SPOOL_TRACE_H
#define SPOOL_TRACE_H
#include "spool/executor.h"
#endif
