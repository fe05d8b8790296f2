/* SPDX-License-Identifier: MIT */
#ifndef SPOOL_COMBINATORS_H
#define SPOOL_COMBINATORS_H
#include "spool/executor.h"
#endif
