/* SPDX-License-Identifier: MIT */
/* Caller bugs that cannot be reported as a code abort with a message. */
#ifndef SPOOL_CORE_MISUSE_H
#define SPOOL_CORE_MISUSE_H

/* Prints "spool: misuse in <fn>: <what>" to stderr and aborts. */
_Noreturn void spool__misuse(const char *fn, const char *what);

#endif
