/* SPDX-License-Identifier: MIT */
#ifndef SPOOL_GROUP_H
#define SPOOL_GROUP_H
#include "spool/executor.h"
#endif
