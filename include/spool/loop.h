/* SPDX-License-Identifier: MIT */
#ifndef SPOOL_LOOP_H
#define SPOOL_LOOP_H
#include "spool/executor.h"
#endif
