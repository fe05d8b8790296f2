/* SPDX-License-Identifier: MIT */
/* The one place where spool gives up (see misuse.h for the two messages). */
#include "misuse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void spool__misuse(const char *fn, const char *rule)
{
	fprintf(stderr, "spool: misuse of %s(): %s\n", fn, rule);
	fflush(stderr);
	abort();
}

_Noreturn void spool__bug(const char *where, const char *what)
{
	fprintf(stderr, "spool bug: %s: %s\n", where, what);
	fflush(stderr);
	abort();
}

_Noreturn void spool__bug_errno(const char *where, const char *call)
{
	int e = errno;
	char buf[256];
	snprintf(buf, sizeof buf, "%s failed: %s", call, strerror(e));
	spool__bug(where, buf);
}
