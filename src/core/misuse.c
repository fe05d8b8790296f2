/* SPDX-License-Identifier: MIT */
/* The one place where spool gives up on a caller bug. */
#include "misuse.h"

#include <stdio.h>
#include <stdlib.h>

_Noreturn void spool__misuse(const char *fn, const char *what)
{
	fprintf(stderr, "spool: misuse in %s: %s\n", fn, what);
	fflush(stderr);
	abort();
}
