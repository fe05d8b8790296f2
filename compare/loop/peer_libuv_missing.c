/* SPDX-License-Identifier: MIT */
/* The libuv peer when libuv was not found: main.c reports it skipped. */
#include <stddef.h>

#include "peer.h"

static const char *cannot(enum loop_bench b)
{
	(void)b;
	return "libuv (libuv1-dev) was not found at configure time";
}

const struct loop_peer loop_peer_libuv = {.impl = "libuv", .cannot = cannot};
