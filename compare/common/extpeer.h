/* SPDX-License-Identifier: MIT */
/*
 * A benchmark peer that is another program (the Rust and Go peers in
 * compare/peers/), driven over two pipes by a line protocol, so that a
 * suite's driver treats it like a peer linked in: start it, run it at a
 * size, check its answer, stop it.
 *
 * The protocol. The driver starts `PROGRAM SUITE BENCH THREADS N` with a
 * pipe on its stdin and one on its stdout (stderr is shared: the program's
 * complaints reach the terminal). The program prepares BENCH for sizes up
 * to N, untimed (its runtime, arrays, connections), and writes "ready", or
 * "error: <what>" and exits. Then each request "run M" gets the reply
 * "ok <answer> <cpu seconds>" or "error: <what>". The driver's clock spans
 * the request and the reply, so process start, runtime start and set-up are
 * outside every figure and one pipe round trip (about 10 microseconds) is
 * inside it, like CPython's peer in the loop suite. The CPU seconds are
 * what the program itself used during the run (getrusage, every thread);
 * spool_bench_extpeer_run() adds them to the run's cpu_s, which would
 * otherwise count only the driver, idle in read(). End of input (stop)
 * ends the program; stop then reaps it, so the peak RSS the harness reads
 * from the forked child that ran the peer (wait4 counts the children it
 * reaped) is the program's, not the driver's.
 *
 * Each function runs on the calling thread and blocks; none is
 * thread-safe. Call them from inside the harness's forked child
 * (isolate = true), which is single-threaded.
 */
#ifndef SPOOL_BENCH_EXTPEER_H
#define SPOOL_BENCH_EXTPEER_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spool_bench_extpeer {
	pid_t pid;       /* the program; -1 before start */
	FILE *to, *from; /* its stdin and stdout */
} spool_bench_extpeer;

/* Why the peer program `program` cannot run, or NULL if it can: `missing`
 * when it is not empty (the reason the build left it out, e.g. a toolchain
 * that was not found), else a message naming the program and `build_hint`
 * when the file is not there to execute. Both strings are static; the
 * result points into one of them or into a static buffer, valid until the
 * next call. Never blocks. */
const char *spool_bench_extpeer_missing(const char *program,
					const char *missing,
					const char *build_hint);

/* Starts `program suite bench threads n` and waits for its "ready". On
 * success returns 0 with *p filled in; otherwise returns -1 with a message
 * in err (SPOOL_BENCH_ERRLEN bytes) and *p stopped (spool_bench_extpeer_stop
 * is harmless on it). The program is killed if this process dies. */
int spool_bench_extpeer_start(spool_bench_extpeer *p, const char *program,
			      const char *suite, const char *bench, int threads,
			      int64_t n, char *err);

/* Asks for one run at size m and sets *answer; adds the program's CPU
 * seconds to the current run's cpu_s (spool_bench_add_cpu). Returns 0, or
 * -1 with the program's error (or that it died) in err. */
int spool_bench_extpeer_run(spool_bench_extpeer *p, int64_t m, int64_t *answer,
			    char *err);

/* Closes the program's input, which ends it, and waits for it to exit.
 * Safe on a peer whose start failed, and twice. */
void spool_bench_extpeer_stop(spool_bench_extpeer *p);

#ifdef __cplusplus
}
#endif

#endif /* SPOOL_BENCH_EXTPEER_H */
