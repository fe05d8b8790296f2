/* SPDX-License-Identifier: MIT */
/*
 * The two ways spool gives up, told apart in the message, as libdispatch
 * does ("BUG IN CLIENT OF LIBDISPATCH" against "BUG IN LIBDISPATCH"):
 *
 *   spool: misuse of spool_x(): <the rule the caller broke>
 *   spool bug: <where>: <the invariant that failed>
 *
 * Both print one line to stderr and abort, in every build type. A caller
 * bug that can be answered with an error code is answered instead; these
 * are for the ones that cannot (a freed future, a call with no return
 * value, a wrong thread where going on would corrupt memory). spool's own
 * faults never use a bare abort(): the message says whose fault it is.
 */
#ifndef SPOOL_CORE_MISUSE_H
#define SPOOL_CORE_MISUSE_H

/* fn is the public function's name without parentheses ("spool_x"). */
_Noreturn void spool__misuse(const char *fn, const char *rule);

/* where names the internal place ("coroutine entry"); what says what failed
 * (for a system call, its name and errno are appended by spool__bug_errno). */
_Noreturn void spool__bug(const char *where, const char *what);

/* spool__bug with strerror(errno) appended: for a system call that cannot
 * fail when spool is correct. */
_Noreturn void spool__bug_errno(const char *where, const char *call);

#endif
