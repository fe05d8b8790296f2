/* SPDX-License-Identifier: MIT */
/*
 * Shared by the trace suites (test_trace_*.c): reading a trace back, the
 * properties every trace must have, and a scratch directory per test.
 *
 * Every trace is checked by reading it with the project's strict JSON
 * reader (compare/trace/json.h), then by properties of the events: tracks
 * and their names, slices that nest on every track, every run inside or
 * after its submission, counts that match what the test did.
 *
 * The checks that run once per event test first and call Check only on a
 * failure: each ck_assert that passes costs the forked test a write to
 * its parent, and a race test reads a hundred thousand events.
 */
#ifndef SPOOL_TEST_TRACE_SUPPORT_H
#define SPOOL_TEST_TRACE_SUPPORT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "support.h"

/* ---- reading a trace ---------------------------------------------------- */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

/* A JSON value read into a tree. */
struct jv {
	enum jtype t;
	bool b;
	double num;
	char *str;        /* J_STR: decoded, NUL-terminated */
	struct jv *items; /* J_ARR, J_OBJ: n values */
	char **keys;      /* J_OBJ: n keys */
	size_t n;
};

/* The member key of object o, or NULL (also when o is not an object). */
const struct jv *jget(const struct jv *o, const char *key);
/* Its string, number (dflt if it is not one) or truth. */
const char *jgets(const struct jv *o, const char *key);
double jgetn(const struct jv *o, const char *key, double dflt);
bool jgetb(const struct jv *o, const char *key);

/* One event of traceEvents: its strings and args taken out of the JSON. */
struct tev {
	char ph;
	char *name, *cat, *bind_id;
	long tid;
	int64_t ts, dur; /* ns */
	bool flow_in, flow_out;
	struct jv *args;
};

struct trace {
	struct tev *ev;
	size_t n;
	struct jv *meta;
};

/* The process whose trace is read: 0 for this one. */
extern long trace_pid;

/* The whole file at path, NUL-terminated; its length in *len. */
char *slurp(const char *path, size_t *len);

/* Parses path (failing the test unless it is strict JSON with the trace
 * shape) into t: an object whose first key is displayTimeUnit, with an
 * array traceEvents and a metadata value (the first of each name). */
void load(struct trace *t, const char *path);
void unload(struct trace *t);

/* metadata.key and args.key of e, failing the test unless numbers. */
double meta_n(const struct trace *t, const char *key);
double arg_n(const struct tev *e, const char *key);

/* The tid of the track named name, or -1. */
long track(const struct trace *t, const char *name);
/* Events with ph, and name unless NULL, on tid unless negative. */
size_t count(const struct trace *t, char ph, const char *name, long tid);
/* The k-th (from 0) event with ph and name on tid (any if < 0), or NULL. */
const struct tev *nth(const struct trace *t, char ph, const char *name,
		      long tid, size_t k);
/* The run slice of task id, its segment-th segment, or NULL. */
const struct tev *run_of(const struct trace *t, uint64_t id, int segment);
/* Whether slice in lies within slice outer. */
bool contains(const struct tev *outer, const struct tev *in);

/* Viewers drop slices that overlap without nesting: on every track, every
 * pair of slices must be disjoint or one inside the other, and no two may
 * start at the same instant (their order would be ambiguous). */
void assert_slices_nest(const struct trace *t);

/* Every run's first segment has a flow_in whose bind_id is the future's
 * id; if its submission is in the trace, the submit slice has the same
 * bind_id with flow_out and starts no later than the run. Returns the
 * number of runs with a matching submission. */
size_t assert_runs_follow_submits(const struct trace *t);

/* ---- a scratch directory per test --------------------------------------- */

extern char tmpdir[64];

/* Checked fixture: makes tmpdir, then removes it with what is in it. */
void tmp_setup(void);
void tmp_teardown(void);

/* tmpdir/name; the last four results stay valid (per thread). */
const char *tmp(const char *name);

/* ---- tasks and threads -------------------------------------------------- */

long my_tid(void);

/* A task whose result is its argument. */
int ok_task(void *arg, void **result);

/* Runs n ok_task tasks labelled label on the inline executor. */
void submit_inline(int n, const char *label);

/* A thread that completes a promise (with NULL) 20 ms after the waiter
 * is seen blocked in its wait, so that the wait slice lasts at least 20 ms
 * however late the waiter gets a CPU. (A completion 20 ms after the
 * completer's own start may come while the waiter has not begun to wait,
 * or has only begun: a slice too short, or none at all.) */
struct later {
	spool_future *promise;
	/* Who waits, one of:
	 *   blocked_on: the future the waiter blocks on, seen blocked once
	 *     its WAITERS flag is set (only a blocking waiter sets it, after
	 *     its wait slice began and right before it sleeps);
	 *   tid (blocked_on NULL): the waiting thread, when the future it
	 *     blocks on is a combinator's own: seen blocked once it sleeps in
	 *     core's futex wait on a future's state word
	 *     (/proc/self/task/tid/syscall), which only a blocking
	 *     spool_future_wait() does, inside its wait slice. */
	spool_future *blocked_on;
	long tid;
	pthread_t thread;
};

/* Starts l's thread. If the waiter is not seen blocked within 10 s, it
 * says so on stderr and completes the promise anyway, so that a wait that
 * never blocks fails the test's checks instead of hanging it. */
void later_start(struct later *l);
void later_join(struct later *l);

/* Threads that record until stop is set, counting in tasks. */
struct hammer {
	atomic_bool stop;
	atomic_long tasks;
};

#endif /* SPOOL_TEST_TRACE_SUPPORT_H */
