/* SPDX-License-Identifier: MIT */
/*
 * Lab P5: a TCP echo server on the loop, beside a thread-per-connection
 * one (README.md).
 *
 * An echo server sends back every byte it receives, on each connection,
 * until the client closes its side. You write it twice: on the event loop
 * (one coroutine per connection, waiting with spool_wait_readable() and
 * spool_wait_writable()) and with one thread per connection (blocking
 * calls). The checker connects many clients at once to both, on
 * 127.0.0.1, checks every byte, and prints how long each took.
 */
#ifndef LAB_P5_H
#define LAB_P5_H

#include <stddef.h>

#include <spool.h>

/* YOURS, on the loop. Accepts nconn connections from lfd (a listening TCP
 * socket on 127.0.0.1, NON-BLOCKING, owned by the caller: do not close
 * it) and echoes on every one of them AT THE SAME TIME until its client
 * has closed its side (read returns 0); then closes it. Runs loop on this
 * thread (it is called outside the loop) until every connection is done.
 * Returns 0 or an error (a negative spool code, or a positive errno). */
int lab_echo_loop(spool_loop *loop, int lfd, size_t nconn);

/* YOURS, with threads. The same with lfd BLOCKING: one thread per
 * connection, each with plain blocking reads and writes. Returns when
 * every connection is done. */
int lab_echo_threads(int lfd, size_t nconn);

#endif /* LAB_P5_H */
