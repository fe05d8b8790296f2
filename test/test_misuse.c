/* SPDX-License-Identifier: MIT */
/*
 * Suite "misuse": one table of bad calls and the answer each public header
 * promises for it. Every SPOOL_API function of the headers in include/spool/
 * appears with the inputs a caller gets wrong: NULL handles, n = 0 and huge n,
 * negative, zero and SPOOL_FOREVER timeouts, calls from the wrong thread
 * and calls after shutdown or destroy. A row names the function, the input,
 * the answer and the header's words for it; its check makes the call and
 * asserts the return code, the output parameters and the state of every
 * future involved.
 *
 * The rows run one after another in a child process of the table's test,
 * which watches it: a check that fails ends that child with the row's
 * message (ck_assert is redirected here, see row_failed), and so do a
 * crash, a sanitizer report and a row that overruns its time; the next
 * child starts at the following row. On a correct library one child runs
 * every row, and the sanitizers' leak check runs once for all of them.
 * A row whose answer is an abort runs the call in a forked child of its
 * own and checks SIGABRT and the message "spool: misuse of spool_x():
 * <rule>" (spool_test_expect_misuse in support.c). The suite prints how
 * many rows it checked and one line per row that failed.
 *
 * `test_misuse --markdown` prints the table as docs/misuse.md has it; the
 * test docs_page_is_the_table checks that the page is up to date.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

/* Huge sizes must come back as NULL from the sanitizers' allocators too
 * (spool answers SPOOL_ENOMEM), not abort the process. The runtimes look
 * these up in the executable, so they must be visible (the build hides
 * symbols by default). */
#define SPOOL_TEST_VISIBLE __attribute__((visibility("default"), used))
SPOOL_TEST_VISIBLE const char *__asan_default_options(void);
SPOOL_TEST_VISIBLE const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}
SPOOL_TEST_VISIBLE const char *__tsan_default_options(void);
SPOOL_TEST_VISIBLE const char *__tsan_default_options(void)
{
	return "allocator_may_return_null=1";
}

#define MS SPOOL_NS_PER_MS

/* Time limits: a row's calls take microseconds to milliseconds, so only a
 * call that hangs reaches them; the process running it is then killed. */
enum { ROW_LIMIT_S = 4, CHILD_LIMIT_S = 3 };

enum kind {
	CALL,   /* run() makes the call and asserts the answer */
	MISUSE, /* run() in a child must abort with the misuse message */
	CHILD   /* run() in a child, no ck_assert: exits 0 when the answer is
		   right */
};

struct row {
	const char *section; /* where docs/misuse.md lists it */
	const char *fn;      /* the function, without parentheses */
	const char *input;   /* the bad input */
	const char *answer;  /* what the header promises for it */
	const char *promise; /* "header.h: the header's words" */
	enum kind kind;
	int (*run)(void);
	const char *rule; /* MISUSE: part of the rule's text, NULL any */
};

static const struct row *R; /* the row being checked */
static int RN;

/* In a row, a failed check ends the process that runs the rows with the
 * row's message for the table's runner (run_table); elsewhere it fails the
 * test as Check's own does. Every ck_assert* below goes through here. */
static bool in_rows;
struct shared;
static struct shared *sh;
static _Noreturn void row_failed(const char *file, int line, const char *expr,
				 const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#undef ck_assert_msg
#define ck_assert_msg(expr, ...)                                               \
	((expr) ? (void)0                                                      \
		: row_failed(__FILE__, __LINE__, "'" #expr "' failed",         \
			     ##__VA_ARGS__))

#define AT "row %d, %s(%s): expected %s [%s]: "
#define AT_ARGS RN, R->fn, R->input, R->answer, R->promise

#define EXPECT(c) ck_assert_msg((c), AT "false: %s", AT_ARGS, #c)

#define EXPECT_RC(call, want)                                                  \
	do {                                                                   \
		int got_ = (call), want_ = (want);                             \
		ck_assert_msg(got_ == want_, AT "%s gave %s (%d), not %s",     \
			      AT_ARGS, #call, spool_err_name(got_), got_,      \
			      spool_err_name(want_));                          \
	} while (0)

static const char *state_name(spool_state s)
{
	static const char *const names[] = {"PENDING", "RUNNING", "DONE",
					    "FAILED", "CANCELLED"};
	return (unsigned)s < 5 ? names[s] : "?";
}

#define EXPECT_STATE(f, want)                                                  \
	do {                                                                   \
		spool_state got_ = spool_future_state(f);                      \
		ck_assert_msg(got_ == (want), AT "%s is %s, not %s", AT_ARGS,  \
			      #f, state_name(got_), state_name(want));         \
	} while (0)

/* A FAILED future with err, as the calls that never return NULL for bad
 * input answer; released here. */
#define EXPECT_FAILED_WITH(call, err)                                          \
	do {                                                                   \
		spool_future *ff_ = (call);                                    \
		ck_assert_msg(ff_ != NULL, AT "%s returned NULL", AT_ARGS,     \
			      #call);                                          \
		EXPECT_STATE(ff_, SPOOL_FAILED);                               \
		EXPECT_RC(spool_future_error(ff_), (err));                     \
		spool_future_release(ff_);                                     \
	} while (0)

static int V1, V2; /* addresses used as values */
static void *const SENTINEL = &V2;

/* ---- helpers ------------------------------------------------------------ */

static spool_future *promise(void)
{
	spool_future *f = spool_promise_new();
	ck_assert_ptr_nonnull(f);
	return f;
}

static spool_future *done_promise(void *value)
{
	spool_future *f = promise();
	ck_assert_int_eq(spool_promise_set_result(f, value), 0);
	return f;
}

static spool_future *failed_promise(int err)
{
	spool_future *f = promise();
	ck_assert_int_eq(spool_promise_set_error(f, err), 0);
	return f;
}

static atomic_int ran; /* how many times a task or callback below ran */

static int ok_task(void *arg, void **result)
{
	atomic_fetch_add(&ran, 1);
	*result = arg;
	return 0;
}

static int then_value(spool_future *src, void *arg, void **result)
{
	(void)src;
	atomic_fetch_add(&ran, 1);
	*result = arg;
	return 0;
}

/* Waits for the promise arg (a gate the test opens), then succeeds with
 * &V1. */
static int gated_task(void *arg, void **result)
{
	spool_future_wait(arg, SPOOL_FOREVER);
	*result = &V1;
	return 0;
}

static void count_cb(spool_future *f, void *arg)
{
	(void)f, (void)arg;
	atomic_fetch_add(&ran, 1);
}

static void loop_count_cb(spool_loop *loop, void *arg)
{
	(void)loop, (void)arg;
	atomic_fetch_add(&ran, 1);
}

static void stop_cb(spool_loop *loop, void *arg)
{
	(void)arg;
	spool_loop_stop(loop);
}

/* Polls until f has left PENDING (bounded by the row's alarm). */
static void until_started(spool_future *f)
{
	while (spool_future_state(f) == SPOOL_PENDING)
		spool_test_sleep_ns(MS / 10);
}

/* Runs fn(arg) once in a callback on a fresh loop (the loop's thread,
 * outside any coroutine), then destroys the loop. */
struct on_loop {
	void (*fn)(void *);
	void *arg;
	bool ran;
};

static void on_loop_cb(spool_loop *loop, void *arg)
{
	struct on_loop *o = arg;
	o->fn(o->arg);
	o->ran = true;
	spool_loop_stop(loop);
}

static void on_loop(void (*fn)(void *), void *arg)
{
	spool_loop *loop = spool_test_loop_new();
	struct on_loop o = {fn, arg, false};
	ck_assert_int_eq(spool_loop_call_soon(loop, on_loop_cb, &o, NULL), 0);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	ck_assert(o.ran);
	spool_loop_destroy(loop);
}

/* Runs fn(arg) as a coroutine on a fresh loop and returns what fn
 * returned (carried as the task's value). */
struct in_coro {
	int (*fn)(void *);
	void *arg;
};

static int in_coro_task(void *arg, void **result)
{
	struct in_coro *c = arg;
	*result = (void *)(intptr_t)c->fn(c->arg);
	return 0;
}

static int in_coro(int (*fn)(void *), void *arg)
{
	spool_loop *loop = spool_test_loop_new();
	struct in_coro c = {fn, arg};
	spool_future *t = spool_test_loop_submit(loop, in_coro_task, &c);
	ck_assert_int_eq(spool_loop_run_until_complete(loop, t), 0);
	int rc = (int)(intptr_t)spool_future_value(t);
	spool_future_release(t);
	spool_loop_destroy(loop);
	return rc;
}

/* ====================================================================== */
/* future.h                                                                */
/* ====================================================================== */

static int state_null(void)
{
	spool_future_state(NULL);
	return 0;
}

static int done_null(void)
{
	EXPECT(!spool_future_done(NULL));
	return 0;
}

static int error_null(void)
{
	EXPECT_RC(spool_future_error(NULL), SPOOL_EINVAL);
	return 0;
}

static int error_pending(void)
{
	spool_future *f = promise();
	EXPECT_RC(spool_future_error(f), SPOOL_EAGAIN);
	EXPECT_STATE(f, SPOOL_PENDING);
	spool_future_release(f);
	return 0;
}

static int value_null(void)
{
	EXPECT(spool_future_value(NULL) == NULL);
	return 0;
}

static int value_failed(void)
{
	spool_future *f = failed_promise(7);
	EXPECT(spool_future_value(f) == NULL);
	spool_future_release(f);
	return 0;
}

static int id_null(void)
{
	EXPECT(spool_future_id(NULL) == 0);
	return 0;
}

static int retain_null(void)
{
	EXPECT(spool_future_retain(NULL) == NULL);
	return 0;
}

static int release_null(void)
{
	long live = spool_debug_live_futures();
	spool_future_release(NULL);
	EXPECT(spool_debug_live_futures() == live);
	return 0;
}

static int release_promise_twice(void)
{
	spool_future *f = spool_promise_new();
	spool_future_release(f);
	spool_future_release(f); /* aborts */
	return 0;
}

static int release_promise_retained_thrice(void)
{
	spool_future *f = spool_promise_new();
	spool_future_retain(f);
	spool_future_release(f);
	spool_future_release(f);
	spool_future_release(f); /* aborts */
	return 0;
}

static int release_gather_twice(void)
{
	spool_future *p = spool_promise_new();
	spool_future *g = spool_gather(&p, 1, 0);
	spool_promise_set_result(p, &V1);
	spool_future_release(p);
	spool_future_release(g);
	spool_future_release(g); /* aborts */
	return 0;
}

static int add_callback_null_f(void)
{
	EXPECT_RC(spool_future_add_callback(NULL, count_cb, NULL),
		  SPOOL_EINVAL);
	return 0;
}

static int add_callback_null_fn(void)
{
	spool_future *f = promise();
	atomic_store(&ran, 0);
	EXPECT_RC(spool_future_add_callback(f, NULL, NULL), SPOOL_EINVAL);
	EXPECT_STATE(f, SPOOL_PENDING);
	ck_assert_int_eq(spool_promise_set_result(f, &V1), 0);
	EXPECT(spool_future_value(f) == &V1);
	spool_future_release(f);
	return 0;
}

static int cancel_null(void)
{
	EXPECT_RC(spool_future_cancel(NULL), SPOOL_EINVAL);
	return 0;
}

static int cancel_done(void)
{
	spool_future *f = done_promise(&V1);
	EXPECT_RC(spool_future_cancel(f), SPOOL_ESTATE);
	EXPECT_STATE(f, SPOOL_DONE);
	EXPECT(spool_future_value(f) == &V1);
	spool_future_release(f);
	return 0;
}

static int cancel_failed(void)
{
	spool_future *f = failed_promise(7);
	EXPECT_RC(spool_future_cancel(f), SPOOL_ESTATE);
	EXPECT_STATE(f, SPOOL_FAILED);
	EXPECT_RC(spool_future_error(f), 7);
	spool_future_release(f);
	return 0;
}

static int cancel_cancelled(void)
{
	spool_future *f = promise();
	ck_assert_int_eq(spool_future_cancel(f), 0);
	EXPECT_RC(spool_future_cancel(f), 0);
	EXPECT_STATE(f, SPOOL_CANCELLED);
	spool_future_release(f);
	return 0;
}

static int cancel_running_promise(void)
{
	spool_future *f = promise();
	ck_assert_int_eq(spool_promise_start(f), 0);
	EXPECT_RC(spool_future_cancel(f), SPOOL_EBUSY);
	EXPECT_STATE(f, SPOOL_RUNNING);
	EXPECT(spool_future_cancel_requested(f));
	ck_assert_int_eq(spool_promise_set_result(f, NULL), 0);
	spool_future_release(f);
	return 0;
}

static int cancel_requested_null(void)
{
	EXPECT(!spool_future_cancel_requested(NULL));
	return 0;
}

static int cancel_requested_outside(void)
{
	EXPECT(!spool_cancel_requested());
	return 0;
}

static int current_outside(void)
{
	EXPECT(spool_current_future() == NULL);
	return 0;
}

static int wait_null(void)
{
	EXPECT_RC(spool_future_wait(NULL, 0), SPOOL_EINVAL);
	EXPECT_RC(spool_future_wait(NULL, SPOOL_FOREVER), SPOOL_EINVAL);
	return 0;
}

static int wait_negative(void)
{
	spool_future *f = promise();
	EXPECT_RC(spool_future_wait(f, -1), SPOOL_EINVAL);
	EXPECT_STATE(f, SPOOL_PENDING);
	spool_future_release(f);
	return 0;
}

static int wait_int64_min(void)
{
	spool_future *f = done_promise(&V1);
	EXPECT_RC(spool_future_wait(f, INT64_MIN), SPOOL_EINVAL);
	EXPECT_STATE(f, SPOOL_DONE);
	spool_future_release(f);
	return 0;
}

static int wait_zero_pending(void)
{
	spool_future *f = promise();
	EXPECT_RC(spool_future_wait(f, 0), SPOOL_ETIMEDOUT);
	EXPECT_STATE(f, SPOOL_PENDING);
	EXPECT(!spool_future_cancel_requested(f));
	spool_future_release(f);
	return 0;
}

static int wait_final(void)
{
	spool_future *f = failed_promise(7);
	EXPECT_RC(spool_future_wait(f, 0), 0);
	EXPECT_RC(spool_future_wait(f, SPOOL_FOREVER), 0);
	EXPECT_RC(spool_future_error(f), 7);
	spool_future_release(f);
	return 0;
}

struct loop_wait {
	spool_future *f;
	int rc;
	void *value;
};

static void wait_in_callback(void *arg)
{
	struct loop_wait *w = arg;
	w->rc = spool_future_wait(w->f, SPOOL_FOREVER);
}

static int wait_on_loop_thread(void)
{
	struct loop_wait w = {promise(), 1, NULL};
	on_loop(wait_in_callback, &w);
	EXPECT_RC(w.rc, SPOOL_EDEADLK);
	EXPECT_STATE(w.f, SPOOL_PENDING);
	spool_future_release(w.f);
	return 0;
}

static int result_null(void)
{
	void *v = SENTINEL;
	EXPECT_RC(spool_future_result(NULL, 0, &v), SPOOL_EINVAL);
	EXPECT(v == NULL);
	return 0;
}

static int result_negative(void)
{
	spool_future *f = done_promise(&V1);
	void *v = SENTINEL;
	EXPECT_RC(spool_future_result(f, -1, &v), SPOOL_EINVAL);
	EXPECT(v == NULL);
	EXPECT_STATE(f, SPOOL_DONE);
	spool_future_release(f);
	return 0;
}

static int result_zero_pending(void)
{
	spool_future *f = promise();
	void *v = SENTINEL;
	EXPECT_RC(spool_future_result(f, 0, &v), SPOOL_ETIMEDOUT);
	EXPECT(v == NULL);
	EXPECT_STATE(f, SPOOL_PENDING);
	spool_future_release(f);
	return 0;
}

static int result_failed_forever(void)
{
	spool_future *f = failed_promise(7);
	void *v = SENTINEL;
	EXPECT_RC(spool_future_result(f, SPOOL_FOREVER, &v), 7);
	EXPECT(v == NULL);
	spool_future_release(f);
	return 0;
}

static int result_null_value(void)
{
	spool_future *f = done_promise(&V1);
	EXPECT_RC(spool_future_result(f, 0, NULL), 0);
	spool_future_release(f);
	return 0;
}

static void result_in_callback(void *arg)
{
	struct loop_wait *w = arg;
	w->value = SENTINEL;
	w->rc = spool_future_result(w->f, SPOOL_FOREVER, &w->value);
}

static int result_on_loop_thread(void)
{
	struct loop_wait w = {promise(), 1, NULL};
	on_loop(result_in_callback, &w);
	EXPECT_RC(w.rc, SPOOL_EDEADLK);
	EXPECT(w.value == NULL);
	EXPECT_STATE(w.f, SPOOL_PENDING);
	spool_future_release(w.f);
	return 0;
}

static int start_null(void)
{
	EXPECT_RC(spool_promise_start(NULL), SPOOL_EINVAL);
	return 0;
}

static int start_twice(void)
{
	spool_future *f = promise();
	ck_assert_int_eq(spool_promise_start(f), 0);
	EXPECT_RC(spool_promise_start(f), SPOOL_ESTATE);
	EXPECT_STATE(f, SPOOL_RUNNING);
	ck_assert_int_eq(spool_promise_set_result(f, NULL), 0);
	spool_future_release(f);
	return 0;
}

static int start_cancelled(void)
{
	spool_future *f = promise();
	ck_assert_int_eq(spool_future_cancel(f), 0);
	EXPECT_RC(spool_promise_start(f), SPOOL_ECANCELLED);
	EXPECT_STATE(f, SPOOL_CANCELLED);
	spool_future_release(f);
	return 0;
}

static int start_done(void)
{
	spool_future *f = done_promise(&V1);
	EXPECT_RC(spool_promise_start(f), SPOOL_ESTATE);
	EXPECT_STATE(f, SPOOL_DONE);
	spool_future_release(f);
	return 0;
}

static int set_result_null(void)
{
	EXPECT_RC(spool_promise_set_result(NULL, &V1), SPOOL_EINVAL);
	return 0;
}

static int set_result_final(void)
{
	spool_future *f = done_promise(&V1);
	EXPECT_RC(spool_promise_set_result(f, &V2), SPOOL_ESTATE);
	EXPECT(spool_future_value(f) == &V1);
	spool_future_release(f);
	return 0;
}

static int set_result_cancelled(void)
{
	spool_future *f = promise();
	ck_assert_int_eq(spool_future_cancel(f), 0);
	EXPECT_RC(spool_promise_set_result(f, &V2), SPOOL_ESTATE);
	EXPECT_STATE(f, SPOOL_CANCELLED);
	spool_future_release(f);
	return 0;
}

static int set_error_null(void)
{
	EXPECT_RC(spool_promise_set_error(NULL, 5), SPOOL_EINVAL);
	return 0;
}

static int set_error_zero(void)
{
	spool_future *f = promise();
	EXPECT_RC(spool_promise_set_error(f, 0), SPOOL_EINVAL);
	EXPECT_STATE(f, SPOOL_PENDING);
	spool_future_release(f);
	return 0;
}

static int set_error_int_max(void)
{
	spool_future *f = promise();
	EXPECT_RC(spool_promise_set_error(f, INT_MAX), 0);
	EXPECT_STATE(f, SPOOL_FAILED);
	EXPECT_RC(spool_future_error(f), INT_MAX);
	spool_future_release(f);
	return 0;
}

static int set_error_final(void)
{
	spool_future *f = done_promise(&V1);
	EXPECT_RC(spool_promise_set_error(f, 5), SPOOL_ESTATE);
	EXPECT_STATE(f, SPOOL_DONE);
	EXPECT(spool_future_value(f) == &V1);
	spool_future_release(f);
	return 0;
}

static const spool_promise_driver null_poll_driver = {NULL, NULL, NULL};

static int driven_null(void)
{
	EXPECT(spool_promise_new_driven(NULL, NULL) == NULL);
	EXPECT(spool_promise_new_driven(&null_poll_driver, NULL) == NULL);
	return 0;
}

static bool poll_never(void *arg)
{
	(void)arg;
	return false;
}

static const spool_promise_driver never_driver = {poll_never, NULL, NULL};

/* A driven promise's record comes from a slab, not malloc (driven.c): it
 * keeps its count at zero after the last release as a promise's does in
 * the quarantine. */
static int release_driven_twice(void)
{
	spool_future *f = spool_promise_new_driven(&never_driver, NULL);
	spool_promise_set_result(f, &V1);
	spool_future_release(f);
	spool_future_release(f); /* aborts */
	return 0;
}

static int driven_timeout(void)
{
	spool_future *f = spool_promise_new_driven(&never_driver, NULL);
	EXPECT(f != NULL);
	EXPECT_RC(spool_future_wait(f, 1000000), SPOOL_ETIMEDOUT);
	EXPECT_STATE(f, SPOOL_PENDING);
	EXPECT_RC(spool_promise_set_error(f, 7), 0);
	EXPECT_STATE(f, SPOOL_FAILED);
	spool_future_release(f);
	return 0;
}

/* ---- set_result, set_error and start on futures that are not promises */

enum np_kind { NP_GATHER, NP_MAP, NP_THEN, NP_GROUP, NP_LOOP, NP_POOL };
enum np_op { NP_SET_RESULT, NP_SET_ERROR, NP_START, NP_SET_ERROR_DETAIL };

struct np {
	spool_future *f;   /* the future under test */
	spool_future *src; /* the gather's child, the then's source */
	spool_future *gate;
	spool_pool *pool;
	spool_loop *loop;
	spool_group *group;
};

static void *const MAP_ARGS[1] = {&V1};

/* Makes a future of the kind that is not final yet: each completes later
 * with &V1 of its own accord (a gather: with the child's &V1). */
static void np_make(enum np_kind kind, struct np *n)
{
	memset(n, 0, sizeof *n);
	switch (kind) {
	case NP_GATHER:
		n->src = promise();
		n->f = spool_gather(&n->src, 1, 0);
		break;
	case NP_MAP: /* a loop that is not running yet holds its task */
		n->loop = spool_test_loop_new();
		n->f = spool_map(spool_loop_executor(n->loop), ok_task,
				 MAP_ARGS, 1, 0);
		break;
	case NP_THEN:
		n->src = promise();
		n->f = spool_then(n->src, spool_executor_inline(), then_value,
				  &V1);
		break;
	case NP_GROUP:
		n->loop = spool_test_loop_new();
		ck_assert_int_eq(
			spool_group_create(&n->group,
					   spool_loop_executor(n->loop), 0),
			0);
		ck_assert_int_eq(
			spool_group_spawn(n->group, ok_task, &V1, &n->f), 0);
		break;
	case NP_LOOP:
		n->loop = spool_test_loop_new();
		n->f = spool_test_loop_submit(n->loop, ok_task, &V1);
		break;
	case NP_POOL:
		n->pool = spool_test_pool_new(1);
		n->gate = promise();
		n->f = spool_submit(spool_pool_executor(n->pool), gated_task,
				    n->gate);
		ck_assert_ptr_nonnull(n->f);
		until_started(n->f);
		break;
	}
	ck_assert_ptr_nonnull(n->f);
	ck_assert(!spool_future_done(n->f));
}

/* Lets the work finish and checks that its own outcome, not the one the
 * refused call offered, is what the future holds. */
static void np_finish(enum np_kind kind, struct np *n)
{
	void *v = NULL;
	switch (kind) {
	case NP_GATHER:
		ck_assert_int_eq(spool_promise_set_result(n->src, &V1), 0);
		EXPECT_STATE(n->f, SPOOL_DONE);
		EXPECT_RC(spool_gather_result(n->f, 0, &v), 0);
		break;
	case NP_MAP:
		EXPECT_RC(spool_loop_run_until_complete(n->loop, n->f), 0);
		EXPECT_RC(spool_gather_result(n->f, 0, &v), 0);
		break;
	case NP_THEN:
		ck_assert_int_eq(spool_promise_set_result(n->src, &V2), 0);
		EXPECT_RC(spool_future_result(n->f, 0, &v), 0);
		break;
	case NP_GROUP:
	case NP_LOOP:
		EXPECT_RC(spool_loop_run_until_complete(n->loop, n->f), 0);
		v = spool_future_value(n->f);
		break;
	case NP_POOL:
		ck_assert_int_eq(spool_promise_set_result(n->gate, NULL), 0);
		EXPECT_RC(spool_future_result(n->f, SPOOL_FOREVER, &v), 0);
		break;
	}
	EXPECT(v == &V1);
	if (n->group) {
		ck_assert_int_eq(spool_group_join(n->group, 0), 0);
		spool_group_destroy(n->group);
	}
	spool_future_release(n->f);
	spool_future_release(n->src);
	spool_future_release(n->gate);
	spool_loop_destroy(n->loop);
	spool_pool_destroy(n->pool);
}

static int not_a_promise(enum np_kind kind, enum np_op op)
{
	struct np n;
	np_make(kind, &n);
	spool_state before = spool_future_state(n.f);
	switch (op) {
	case NP_SET_RESULT:
		EXPECT_RC(spool_promise_set_result(n.f, &V2), SPOOL_EINVAL);
		break;
	case NP_SET_ERROR:
		EXPECT_RC(spool_promise_set_error(n.f, 9), SPOOL_EINVAL);
		break;
	case NP_START:
		EXPECT_RC(spool_promise_start(n.f), SPOOL_EINVAL);
		break;
	case NP_SET_ERROR_DETAIL:
		EXPECT_RC(
			spool_promise_set_error_detail(n.f, 9, "m", &V2, NULL),
			SPOOL_EINVAL);
		break;
	}
	EXPECT_STATE(n.f, before);
	EXPECT(!spool_future_cancel_requested(n.f));
	np_finish(kind, &n);
	return 0;
}

#define NOT_A_PROMISE(k, o)                                                    \
	static int np_##k##_##o(void)                                          \
	{                                                                      \
		return not_a_promise(NP_##k, NP_##o);                          \
	}
#define NOT_A_PROMISE_ALL(k)                                                   \
	NOT_A_PROMISE(k, SET_RESULT)                                           \
	NOT_A_PROMISE(k, SET_ERROR)                                            \
	NOT_A_PROMISE(k, START)                                                \
	NOT_A_PROMISE(k, SET_ERROR_DETAIL)
NOT_A_PROMISE_ALL(GATHER)
NOT_A_PROMISE_ALL(MAP)
NOT_A_PROMISE_ALL(THEN)
NOT_A_PROMISE_ALL(GROUP)
NOT_A_PROMISE_ALL(LOOP)
NOT_A_PROMISE_ALL(POOL)

/* ---- fail.h ------------------------------------------------------------ */

static atomic_int dtor_ran;

static void count_dtor(void *p)
{
	EXPECT(p == &V1);
	atomic_fetch_add(&dtor_ran, 1);
}

static int fail_zero(void)
{
	spool_fail(0, "no");
	return 0;
}

static int fail_with_zero(void)
{
	spool_fail_with(0, &V1, count_dtor, "no");
	return 0;
}

static int fail_outside(void)
{
	EXPECT_RC(spool_fail(7, "nowhere %d", 1), 7);
	EXPECT_RC(spool_fail(SPOOL_EINVAL, NULL), SPOOL_EINVAL);
	return 0;
}

static int fail_with_outside(void)
{
	atomic_store(&dtor_ran, 0);
	EXPECT_RC(spool_fail_with(7, &V1, count_dtor, "nowhere"), 7);
	EXPECT(atomic_load(&dtor_ran) == 1);
	EXPECT_RC(spool_fail_with(7, &V1, NULL, NULL), 7);
	return 0;
}

static int task_fails_cancelled(void *arg, void **result)
{
	(void)arg, (void)result;
	return spool_fail_with(SPOOL_ECANCELLED, &V1, count_dtor, "c");
}

static int fail_cancelled(void)
{
	atomic_store(&dtor_ran, 0);
	spool_future *f = spool_submit(spool_executor_inline(),
				       task_fails_cancelled, NULL);
	EXPECT_STATE(f, SPOOL_CANCELLED);
	EXPECT(spool_future_error_message(f) == NULL);
	EXPECT(atomic_load(&dtor_ran) == 1);
	spool_future_release(f);
	return 0;
}

static int task_fails_no_fmt(void *arg, void **result)
{
	(void)arg, (void)result;
	return spool_fail(7, NULL);
}

static int fail_no_fmt(void)
{
	spool_future *f = spool_submit(spool_executor_inline(),
				       task_fails_no_fmt, NULL);
	EXPECT_STATE(f, SPOOL_FAILED);
	EXPECT_RC(spool_future_error(f), 7);
	EXPECT(spool_future_error_message(f) == NULL);
	spool_future_release(f);
	return 0;
}

static int task_takes_zero(void *arg, void **result)
{
	(void)arg, (void)result;
	spool_fail_with(7, &V1, count_dtor, "m");
	EXPECT(spool_fail_take(0) == NULL);
	EXPECT(atomic_load(&dtor_ran) == 1);
	return 7;
}

static int fail_take_bad(void)
{
	EXPECT(spool_fail_take(7) == NULL);
	EXPECT(spool_fail_take(0) == NULL);
	atomic_store(&dtor_ran, 0);
	spool_future *f = spool_submit(spool_executor_inline(), task_takes_zero,
				       NULL);
	EXPECT_STATE(f, SPOOL_FAILED);
	EXPECT(spool_future_error_message(f) == NULL);
	EXPECT(atomic_load(&dtor_ran) == 1);
	spool_future_release(f);
	return 0;
}

static int set_error_detail_null(void)
{
	EXPECT_RC(spool_promise_set_error_detail(NULL, 5, "m", NULL, NULL),
		  SPOOL_EINVAL);
	return 0;
}

static int set_error_detail_zero(void)
{
	atomic_store(&dtor_ran, 0);
	spool_future *f = promise();
	EXPECT_RC(spool_promise_set_error_detail(f, 0, "m", &V1, count_dtor),
		  SPOOL_EINVAL);
	EXPECT_RC(spool_promise_set_error_detail(f, SPOOL_ECANCELLED, "m", &V1,
						 count_dtor),
		  SPOOL_EINVAL);
	EXPECT_STATE(f, SPOOL_PENDING);
	EXPECT(atomic_load(&dtor_ran) == 0);
	spool_future_release(f);
	return 0;
}

static int set_error_detail_final(void)
{
	atomic_store(&dtor_ran, 0);
	spool_future *f = done_promise(&V1);
	EXPECT_RC(spool_promise_set_error_detail(f, 5, "m", &V1, count_dtor),
		  SPOOL_ESTATE);
	EXPECT_STATE(f, SPOOL_DONE);
	EXPECT(spool_future_value(f) == &V1);
	EXPECT(atomic_load(&dtor_ran) == 0);
	spool_future_release(f);
	return 0;
}

static int error_message_bad(void)
{
	EXPECT(spool_future_error_message(NULL) == NULL);
	spool_future *p = promise();
	EXPECT(spool_future_error_message(p) == NULL);
	spool_future *d = done_promise(&V1);
	EXPECT(spool_future_error_message(d) == NULL);
	spool_future *e = failed_promise(7);
	EXPECT(spool_future_error_message(e) == NULL);
	spool_future_release(p);
	spool_future_release(d);
	spool_future_release(e);
	return 0;
}

static int error_payload_bad(void)
{
	EXPECT(spool_future_error_payload(NULL) == NULL);
	spool_future *p = promise();
	EXPECT(spool_future_error_payload(p) == NULL);
	spool_future *e = failed_promise(7);
	EXPECT(spool_future_error_payload(e) == NULL);
	spool_future_release(p);
	spool_future_release(e);
	return 0;
}

static int live_counts(void)
{
	long before = spool_debug_live_futures();
	spool_future *f = promise();
	long during = spool_debug_live_futures();
	spool_future_release(f);
	EXPECT(before >= 0); /* the test build counts */
	EXPECT(during == before + 1);
	EXPECT(spool_debug_live_futures() == before);
	return 0;
}

/* ====================================================================== */
/* executor.h                                                              */
/* ====================================================================== */

static int submit_null_ex(void)
{
	atomic_store(&ran, 0);
	EXPECT_FAILED_WITH(spool_submit(NULL, ok_task, &V1), SPOOL_EINVAL);
	EXPECT(atomic_load(&ran) == 0);
	return 0;
}

static int submit_null_fn(void)
{
	EXPECT_FAILED_WITH(spool_submit(spool_executor_inline(), NULL, &V1),
			   SPOOL_EINVAL);
	EXPECT_FAILED_WITH(spool_submit(NULL, NULL, NULL), SPOOL_EINVAL);
	return 0;
}

static int submit_labeled_null(void)
{
	atomic_store(&ran, 0);
	EXPECT_FAILED_WITH(spool_submit_labeled(NULL, ok_task, &V1, "x"),
			   SPOOL_EINVAL);
	EXPECT_FAILED_WITH(
		spool_submit_labeled(spool_executor_inline(), NULL, &V1, "x"),
		SPOOL_EINVAL);
	EXPECT(atomic_load(&ran) == 0);
	return 0;
}

static int submit_after_pool_shutdown(void)
{
	spool_pool *p = spool_test_pool_new(1);
	ck_assert_int_eq(spool_pool_shutdown(p, SPOOL_SHUTDOWN_WAIT), 0);
	atomic_store(&ran, 0);
	EXPECT_FAILED_WITH(spool_submit(spool_pool_executor(p), ok_task, &V1),
			   SPOOL_ESHUTDOWN);
	spool_pool_destroy(p);
	EXPECT(atomic_load(&ran) == 0);
	return 0;
}

/* A loop task that stops its loop and waits; once destroy cancels it, it
 * submits another task to its loop: destroy has begun, so that future is
 * FAILED with SPOOL_ESHUTDOWN. */
struct late_submit {
	spool_loop *loop;
	spool_future *late;
};

static int submits_when_cancelled(void *arg, void **result)
{
	struct late_submit *s = arg;
	(void)result;
	spool_loop_stop(s->loop);
	spool_future *never = spool_promise_new();
	int rc = spool_future_wait(never, SPOOL_FOREVER);
	spool_future_release(never);
	s->late = spool_submit(spool_loop_executor(s->loop), ok_task, &V1);
	return rc;
}

static int submit_during_loop_destroy(void)
{
	struct late_submit s = {spool_test_loop_new(), NULL};
	spool_future *t = spool_test_loop_submit(s.loop, submits_when_cancelled,
						 &s);
	ck_assert_int_eq(spool_loop_run(s.loop), 0); /* t waits */
	ck_assert_int_eq(spool_future_state(t), SPOOL_RUNNING);
	atomic_store(&ran, 0);
	spool_loop_destroy(s.loop);
	EXPECT_FAILED_WITH(s.late, SPOOL_ESHUTDOWN);
	EXPECT(atomic_load(&ran) == 0);
	EXPECT_STATE(t, SPOOL_CANCELLED);
	spool_future_release(t);
	return 0;
}

/* ---- arguments with owners, the current executor ---------------------- */

static atomic_int dtors;

static void count_arg_dtor(void *arg)
{
	(void)arg;
	atomic_fetch_add(&dtors, 1);
}

static int submit_copy_bad(void)
{
	atomic_store(&ran, 0);
	EXPECT_FAILED_WITH(spool_submit_copy(NULL, ok_task, &V1, sizeof V1),
			   SPOOL_EINVAL);
	EXPECT_FAILED_WITH(spool_submit_copy(spool_executor_inline(), NULL, &V1,
					     sizeof V1),
			   SPOOL_EINVAL);
	EXPECT_FAILED_WITH(
		spool_submit_copy(spool_executor_inline(), ok_task, NULL, 8),
		SPOOL_EINVAL);
	EXPECT(atomic_load(&ran) == 0);
	return 0;
}

static int submit_copy_after_shutdown(void)
{
	static char big[1000];
	spool_pool *p = spool_test_pool_new(1);
	ck_assert_int_eq(spool_pool_shutdown(p, SPOOL_SHUTDOWN_WAIT), 0);
	atomic_store(&ran, 0);
	EXPECT_FAILED_WITH(spool_submit_copy(spool_pool_executor(p), ok_task,
					     &V1, sizeof V1),
			   SPOOL_ESHUTDOWN);
	EXPECT_FAILED_WITH(
		spool_submit_copy(spool_pool_executor(p), ok_task, big, 1000),
		SPOOL_ESHUTDOWN);
	spool_pool_destroy(p);
	EXPECT(atomic_load(&ran) == 0);
	return 0;
}

static int submit_owned_bad(void)
{
	atomic_store(&ran, 0);
	atomic_store(&dtors, 0);
	EXPECT_FAILED_WITH(
		spool_submit_owned(NULL, ok_task, &V1, count_arg_dtor),
		SPOOL_EINVAL);
	EXPECT_FAILED_WITH(spool_submit_owned(spool_executor_inline(), NULL,
					      &V1, count_arg_dtor),
			   SPOOL_EINVAL);
	EXPECT(atomic_load(&dtors) == 2);
	EXPECT_FAILED_WITH(spool_submit_owned(NULL, ok_task, &V1, NULL),
			   SPOOL_EINVAL);
	EXPECT(atomic_load(&ran) == 0);
	return 0;
}

static int submit_owned_after_shutdown(void)
{
	spool_pool *p = spool_test_pool_new(1);
	ck_assert_int_eq(spool_pool_shutdown(p, SPOOL_SHUTDOWN_WAIT), 0);
	atomic_store(&ran, 0);
	atomic_store(&dtors, 0);
	EXPECT_FAILED_WITH(spool_submit_owned(spool_pool_executor(p), ok_task,
					      &V1, count_arg_dtor),
			   SPOOL_ESHUTDOWN);
	EXPECT(atomic_load(&dtors) == 1);
	spool_pool_destroy(p);
	EXPECT(atomic_load(&ran) == 0);
	EXPECT(atomic_load(&dtors) == 1);
	return 0;
}

static int current_executor_outside(void)
{
	EXPECT(spool_current_executor() == NULL);
	spool_loop *loop = spool_test_loop_new();
	EXPECT(spool_current_executor() == NULL); /* not running */
	spool_loop_destroy(loop);
	return 0;
}

static int inline_is_static(void)
{
	EXPECT(spool_executor_inline() != NULL);
	EXPECT(spool_executor_inline() == spool_executor_inline());
	spool_future *f = spool_submit(spool_executor_inline(), ok_task, &V1);
	EXPECT(f != NULL);
	EXPECT_STATE(f, SPOOL_DONE);
	spool_future_release(f);
	return 0;
}

static int run_task_null_f(void)
{
	atomic_store(&ran, 0);
	EXPECT_RC(spool_run_task(NULL, ok_task, &V1), SPOOL_EINVAL);
	EXPECT(atomic_load(&ran) == 0);
	return 0;
}

static int run_task_null_fn(void)
{
	spool_future *f = promise();
	EXPECT_RC(spool_run_task(f, NULL, NULL), SPOOL_EINVAL);
	EXPECT_STATE(f, SPOOL_PENDING);
	spool_future_release(f);
	return 0;
}

static int run_task_done(void)
{
	spool_future *f = done_promise(&V1);
	atomic_store(&ran, 0);
	EXPECT_RC(spool_run_task(f, ok_task, &V2), SPOOL_ESTATE);
	EXPECT(atomic_load(&ran) == 0);
	EXPECT(spool_future_value(f) == &V1);
	spool_future_release(f);
	return 0;
}

static int run_task_running(void)
{
	spool_future *f = promise();
	ck_assert_int_eq(spool_promise_start(f), 0);
	atomic_store(&ran, 0);
	EXPECT_RC(spool_run_task(f, ok_task, &V2), SPOOL_ESTATE);
	EXPECT(atomic_load(&ran) == 0);
	EXPECT_STATE(f, SPOOL_RUNNING);
	ck_assert_int_eq(spool_promise_set_result(f, NULL), 0);
	spool_future_release(f);
	return 0;
}

static int run_task_cancelled(void)
{
	spool_future *f = promise();
	ck_assert_int_eq(spool_future_cancel(f), 0);
	atomic_store(&ran, 0);
	EXPECT_RC(spool_run_task(f, ok_task, &V2), SPOOL_ECANCELLED);
	EXPECT(atomic_load(&ran) == 0);
	EXPECT_STATE(f, SPOOL_CANCELLED);
	spool_future_release(f);
	return 0;
}

static int run_task_not_a_promise(void)
{
	spool_future *src = promise();
	spool_future *f = spool_then(src, spool_executor_inline(), then_value,
				     &V1);
	ck_assert_ptr_nonnull(f);
	atomic_store(&ran, 0);
	EXPECT_RC(spool_run_task(f, ok_task, &V2), SPOOL_EINVAL);
	EXPECT(atomic_load(&ran) == 0);
	EXPECT_STATE(f, SPOOL_PENDING);
	ck_assert_int_eq(spool_promise_set_result(src, NULL), 0);
	EXPECT(spool_future_value(f) == &V1);
	spool_future_release(f);
	spool_future_release(src);
	return 0;
}

/* ====================================================================== */
/* pool.h                                                                  */
/* ====================================================================== */

/* The number of threads of this process. */
static int threads_now(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	ck_assert_ptr_nonnull(f);
	char line[256];
	int n = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

static int pool_create_null_out(void)
{
	EXPECT_RC(spool_pool_create(NULL, NULL), SPOOL_EINVAL);
	return 0;
}

static int pool_create_workers(int workers, int want)
{
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = workers;
	spool_pool *p = (spool_pool *)SENTINEL;
	int before = threads_now();
	int rc = spool_pool_create(&p, &o);
	if (want)
		EXPECT_RC(rc, want);
	else
		EXPECT(rc == SPOOL_ENOMEM || rc == SPOOL_ESYS);
	EXPECT(p == NULL);
	EXPECT(threads_now() == before);
	return 0;
}

static int pool_create_minus_one(void)
{
	return pool_create_workers(-1, SPOOL_EINVAL);
}

static int pool_create_int_min(void)
{
	return pool_create_workers(INT_MIN, SPOOL_EINVAL);
}

static int pool_create_int_max(void)
{
	return pool_create_workers(INT_MAX, 0);
}

static int pool_create_long_name(void)
{
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = 1;
	o.name = "a-thread-name-prefix-far-longer-than-fifteen-bytes";
	spool_pool *p = NULL;
	EXPECT_RC(spool_pool_create(&p, &o), 0);
	EXPECT(p != NULL);
	EXPECT_RC(spool_pool_workers(p), 1);
	spool_pool_destroy(p);
	return 0;
}

static int pool_executor_null(void)
{
	EXPECT(spool_pool_executor(NULL) == NULL);
	return 0;
}

static int pool_workers_null(void)
{
	EXPECT_RC(spool_pool_workers(NULL), SPOOL_EINVAL);
	return 0;
}

static int pool_workers_zero(void)
{
	spool_pool *p = spool_test_pool_new(0);
	EXPECT(spool_pool_workers(p) >= 1);
	spool_pool_destroy(p);
	return 0;
}

static int pool_shutdown_null(void)
{
	EXPECT_RC(spool_pool_shutdown(NULL, 0), SPOOL_EINVAL);
	EXPECT_RC(spool_pool_shutdown(NULL, SPOOL_SHUTDOWN_WAIT), SPOOL_EINVAL);
	return 0;
}

static int pool_shutdown_flags(unsigned flags)
{
	spool_pool *p = spool_test_pool_new(1);
	EXPECT_RC(spool_pool_shutdown(p, flags), SPOOL_EINVAL);
	spool_pool_destroy(p);
	return 0;
}

static int pool_shutdown_flag_4(void)
{
	return pool_shutdown_flags(4u);
}

static int pool_shutdown_uint_max(void)
{
	return pool_shutdown_flags(UINT_MAX);
}

static int pool_shutdown_twice(void)
{
	spool_pool *p = spool_test_pool_new(1);
	EXPECT_RC(spool_pool_shutdown(p, 0), 0);
	EXPECT_RC(spool_pool_shutdown(p, SPOOL_SHUTDOWN_WAIT), 0);
	EXPECT_RC(spool_pool_shutdown(p, SPOOL_SHUTDOWN_WAIT |
						 SPOOL_SHUTDOWN_CANCEL_PENDING),
		  0);
	spool_pool_destroy(p);
	return 0;
}

/* A pool task that shuts its own pool down with WAIT, then submits a child
 * (accepted: workers may submit while the pool drains). */
struct self_shutdown {
	spool_pool *pool;
	int rc;
	spool_future *child;
};

static int shuts_own_pool(void *arg, void **result)
{
	struct self_shutdown *s = arg;
	(void)result;
	s->rc = spool_pool_shutdown(s->pool, SPOOL_SHUTDOWN_WAIT);
	s->child = spool_submit(spool_pool_executor(s->pool), ok_task, &V1);
	return 0;
}

static int pool_shutdown_wait_from_worker(void)
{
	struct self_shutdown s = {spool_test_pool_new(1), 1, NULL};
	spool_future *t = spool_submit(spool_pool_executor(s.pool),
				       shuts_own_pool, &s);
	ck_assert_int_eq(spool_future_wait(t, SPOOL_FOREVER), 0);
	EXPECT_RC(s.rc, SPOOL_EDEADLK);
	/* The shutdown was still started. */
	EXPECT_FAILED_WITH(
		spool_submit(spool_pool_executor(s.pool), ok_task, &V1),
		SPOOL_ESHUTDOWN);
	EXPECT(s.child != NULL);
	EXPECT_RC(spool_future_wait(s.child, SPOOL_FOREVER), 0);
	EXPECT(spool_future_value(s.child) == &V1);
	spool_future_release(s.child);
	spool_future_release(t);
	spool_pool_destroy(s.pool);
	return 0;
}

static int pool_destroy_null(void)
{
	spool_pool_destroy(NULL);
	return 0;
}

static int destroys_own_pool(void *arg, void **result)
{
	(void)result;
	spool_pool_destroy(arg);
	return 0;
}

static int pool_destroy_from_worker(void)
{
	spool_pool *p = NULL;
	spool_pool_options o = SPOOL_POOL_OPTIONS_INIT;
	o.workers = 1;
	if (spool_pool_create(&p, &o) != 0)
		return 2;
	spool_future *t = spool_submit(spool_pool_executor(p),
				       destroys_own_pool, p);
	spool_future_wait(t, SPOOL_FOREVER); /* the worker aborts first */
	return 0;
}

static int pool_stats_null(void)
{
	spool_pool_stats st;
	EXPECT_RC(spool_pool_stats_get(NULL, &st), SPOOL_EINVAL);
	spool_pool *p = spool_test_pool_new(1);
	EXPECT_RC(spool_pool_stats_get(p, NULL), SPOOL_EINVAL);
	spool_pool_destroy(p);
	return 0;
}

/* ---- fork-join without futures (pool.h) ---------------------------------- */

static atomic_int work_ran;

static int count_work(void *arg)
{
	(void)arg;
	atomic_fetch_add(&work_ran, 1);
	return 0;
}

static int count_range(void *arg, int64_t lo, int64_t hi)
{
	(void)arg, (void)lo, (void)hi;
	atomic_fetch_add(&work_ran, 1);
	return 0;
}

static int join_null(void)
{
	spool_pool *p = spool_test_pool_new(1);
	atomic_store(&work_ran, 0);
	EXPECT_RC(spool_join(NULL, count_work, NULL, count_work, NULL),
		  SPOOL_EINVAL);
	EXPECT_RC(spool_join(p, NULL, NULL, count_work, NULL), SPOOL_EINVAL);
	EXPECT_RC(spool_join(p, count_work, NULL, NULL, NULL), SPOOL_EINVAL);
	EXPECT(atomic_load(&work_ran) == 0);
	spool_pool_destroy(p);
	return 0;
}

/* A pool shut down (and drained), for the calls from outside it. */
static spool_pool *shut_pool(void)
{
	spool_pool *p = spool_test_pool_new(1);
	ck_assert_int_eq(spool_pool_shutdown(p, SPOOL_SHUTDOWN_WAIT), 0);
	atomic_store(&work_ran, 0);
	return p;
}

static int join_after_shutdown(void)
{
	spool_pool *p = shut_pool();
	EXPECT_RC(spool_join(p, count_work, NULL, count_work, NULL),
		  SPOOL_ESHUTDOWN);
	EXPECT(atomic_load(&work_ran) == 0);
	spool_pool_destroy(p);
	return 0;
}

static int scope_begin_null(void)
{
	spool_pool *p = spool_test_pool_new(1);
	spool_scope s;
	EXPECT_RC(spool_scope_begin(NULL, p), SPOOL_EINVAL);
	EXPECT_RC(spool_scope_begin(&s, NULL), SPOOL_EINVAL);
	spool_pool_destroy(p);
	return 0;
}

static int scope_begin_open(void)
{
	spool_pool *p = spool_test_pool_new(1);
	spool_scope s;
	spool_scope_begin(&s, p);
	spool_scope_begin(&s, p); /* aborts */
	return 0;
}

static int scope_spawn_null(void)
{
	spool_pool *p = spool_test_pool_new(1);
	spool_scope s;
	spool_scope_job job;
	atomic_store(&work_ran, 0);
	EXPECT_RC(spool_scope_begin(&s, p), 0);
	EXPECT_RC(spool_scope_spawn(NULL, count_work, NULL), SPOOL_EINVAL);
	EXPECT_RC(spool_scope_spawn(&s, NULL, NULL), SPOOL_EINVAL);
	EXPECT_RC(spool_scope_spawn_in(NULL, &job, count_work, NULL),
		  SPOOL_EINVAL);
	EXPECT_RC(spool_scope_spawn_in(&s, NULL, count_work, NULL),
		  SPOOL_EINVAL);
	EXPECT_RC(spool_scope_spawn_in(&s, &job, NULL, NULL), SPOOL_EINVAL);
	EXPECT_RC(spool_scope_wait(&s), 0);
	EXPECT(atomic_load(&work_ran) == 0);
	spool_pool_destroy(p);
	return 0;
}

static int scope_spawn_closed(void)
{
	spool_pool *p = spool_test_pool_new(1);
	spool_scope s;
	spool_scope_begin(&s, p);
	spool_scope_wait(&s);
	spool_scope_spawn(&s, count_work, NULL); /* aborts */
	return 0;
}

static int scope_spawn_in_closed(void)
{
	spool_pool *p = spool_test_pool_new(1);
	spool_scope s;
	spool_scope_job job;
	spool_scope_begin(&s, p);
	spool_scope_wait(&s);
	spool_scope_spawn_in(&s, &job, count_work, NULL); /* aborts */
	return 0;
}

static int scope_spawn_after_shutdown(void)
{
	spool_pool *p = shut_pool();
	spool_scope s;
	spool_scope_job job;
	EXPECT_RC(spool_scope_begin(&s, p), 0);
	EXPECT_RC(spool_scope_spawn(&s, count_work, NULL), SPOOL_ESHUTDOWN);
	EXPECT_RC(spool_scope_spawn_in(&s, &job, count_work, NULL),
		  SPOOL_ESHUTDOWN);
	EXPECT_RC(spool_scope_wait(&s), 0);
	EXPECT(atomic_load(&work_ran) == 0);
	spool_pool_destroy(p);
	return 0;
}

static int scope_wait_null(void)
{
	EXPECT_RC(spool_scope_wait(NULL), SPOOL_EINVAL);
	return 0;
}

static int scope_wait_twice(void)
{
	spool_pool *p = spool_test_pool_new(1);
	spool_scope s;
	spool_scope_begin(&s, p);
	spool_scope_wait(&s);
	spool_scope_wait(&s); /* aborts */
	return 0;
}

static int waits_for_own_scope(void *arg)
{
	spool_scope_wait(arg); /* aborts */
	return 0;
}

static int scope_wait_in_spawn(void)
{
	spool_pool *p = spool_test_pool_new(1);
	spool_scope s;
	spool_scope_begin(&s, p);
	spool_scope_spawn(&s, waits_for_own_scope, &s);
	spool_scope_wait(&s); /* the spawn aborts first */
	return 0;
}

static int for_bad(void)
{
	spool_pool *p = spool_test_pool_new(1);
	atomic_store(&work_ran, 0);
	EXPECT_RC(spool_for(NULL, 0, 10, 0, count_range, NULL), SPOOL_EINVAL);
	EXPECT_RC(spool_for(p, 0, 10, 0, NULL, NULL), SPOOL_EINVAL);
	EXPECT_RC(spool_for(p, 0, 10, -1, count_range, NULL), SPOOL_EINVAL);
	EXPECT_RC(spool_for(p, 0, 10, INT64_MIN, count_range, NULL),
		  SPOOL_EINVAL);
	EXPECT(atomic_load(&work_ran) == 0);
	spool_pool_destroy(p);
	return 0;
}

static int for_empty(void)
{
	spool_pool *p = spool_test_pool_new(1);
	atomic_store(&work_ran, 0);
	EXPECT_RC(spool_for(p, 5, 5, 0, count_range, NULL), 0);
	EXPECT_RC(spool_for(p, 10, -10, 0, count_range, NULL), 0);
	EXPECT_RC(spool_for(p, INT64_MAX, INT64_MIN, 1, count_range, NULL), 0);
	EXPECT(atomic_load(&work_ran) == 0);
	spool_pool_destroy(p);
	return 0;
}

static int for_after_shutdown(void)
{
	spool_pool *p = shut_pool();
	EXPECT_RC(spool_for(p, 0, 10, 0, count_range, NULL), SPOOL_ESHUTDOWN);
	EXPECT(atomic_load(&work_ran) == 0);
	spool_pool_destroy(p);
	return 0;
}

static int pool_stats_after_shutdown(void)
{
	spool_pool *p = spool_test_pool_new(1);
	spool_future *t = spool_submit(spool_pool_executor(p), ok_task, &V1);
	ck_assert_int_eq(spool_pool_shutdown(p, SPOOL_SHUTDOWN_WAIT), 0);
	spool_pool_stats st;
	memset(&st, 0xff, sizeof st);
	EXPECT_RC(spool_pool_stats_get(p, &st), 0);
	EXPECT(st.tasks_run == 1);
	spool_future_release(t);
	spool_pool_destroy(p);
	return 0;
}

/* A pool task that waits for its own future: only it could complete it. */
static int waits_for_itself(void *arg, void **result)
{
	void *v = SENTINEL;
	int rc = arg ? spool_future_result(spool_current_future(),
					   SPOOL_FOREVER, &v)
		     : spool_future_wait(spool_current_future(), SPOOL_FOREVER);
	*result = (void *)(intptr_t)rc;
	return arg && v != NULL ? 1 : 0;
}

static int pool_task_waits_for_itself(bool result)
{
	spool_pool *p = spool_test_pool_new(1);
	spool_future *t = spool_submit(spool_pool_executor(p), waits_for_itself,
				       result ? &V1 : NULL);
	EXPECT_RC(spool_future_result(t, SPOOL_FOREVER, NULL), 0);
	EXPECT_RC((int)(intptr_t)spool_future_value(t), SPOOL_EDEADLK);
	spool_future_release(t);
	spool_pool_destroy(p);
	return 0;
}

static int pool_wait_self(void)
{
	return pool_task_waits_for_itself(false);
}

static int pool_result_self(void)
{
	return pool_task_waits_for_itself(true);
}

/* ====================================================================== */
/* loop.h                                                                  */
/* ====================================================================== */

static int loop_create_null_out(void)
{
	EXPECT_RC(spool_loop_create(NULL, NULL), SPOOL_EINVAL);
	return 0;
}

static int loop_create_stack(size_t stack_size, int want)
{
	spool_loop_options o = SPOOL_LOOP_OPTIONS_INIT;
	o.stack_size = stack_size;
	spool_loop *loop = NULL;
	EXPECT_RC(spool_loop_create(&loop, &o), want);
	if (want == 0)
		EXPECT(loop != NULL);
	if (loop && want == 0)
		spool_loop_destroy(loop);
	return 0;
}

static int loop_stack_small(void)
{
	return loop_create_stack(16 * 1024 - 4096, SPOOL_EINVAL);
}

static int loop_stack_one(void)
{
	return loop_create_stack(1, SPOOL_EINVAL);
}

static int loop_stack_big(void)
{
	return loop_create_stack(((size_t)1 << 30) + 1, SPOOL_EINVAL);
}

static int loop_stack_size_max(void)
{
	return loop_create_stack(SIZE_MAX, SPOOL_EINVAL);
}

static int loop_stack_cache_max(void)
{
	spool_loop_options o = SPOOL_LOOP_OPTIONS_INIT;
	o.stack_cache = SIZE_MAX;
	spool_loop *loop = NULL;
	EXPECT_RC(spool_loop_create(&loop, &o), 0);
	EXPECT(loop != NULL);
	spool_future *t = spool_test_loop_submit(loop, ok_task, &V1);
	EXPECT_RC(spool_loop_run_until_complete(loop, t), 0);
	spool_future_release(t);
	spool_loop_destroy(loop);
	return 0;
}

static int loop_destroy_null(void)
{
	spool_loop_destroy(NULL);
	return 0;
}

static void destroys_own_loop(spool_loop *loop, void *arg)
{
	(void)arg;
	spool_loop_destroy(loop);
}

static int loop_destroy_in_callback(void)
{
	spool_loop *loop = NULL;
	if (spool_loop_create(&loop, NULL) != 0)
		return 2;
	spool_loop_call_soon(loop, destroys_own_loop, NULL, NULL);
	spool_loop_run(loop);
	return 0;
}

static int destroys_loop_task(void *arg, void **result)
{
	(void)result;
	spool_loop_destroy(arg);
	return 0;
}

static int loop_destroy_in_coroutine(void)
{
	spool_loop *loop = NULL;
	if (spool_loop_create(&loop, NULL) != 0)
		return 2;
	spool_future *t = spool_submit(spool_loop_executor(loop),
				       destroys_loop_task, loop);
	spool_loop_run_until_complete(loop, t);
	return 0;
}

static int loop_run_null(void)
{
	EXPECT_RC(spool_loop_run(NULL), SPOOL_EINVAL);
	return 0;
}

struct nested {
	spool_loop *other;
	int rc_run, rc_until, rc_other;
};

static void runs_again(spool_loop *loop, void *arg)
{
	struct nested *n = arg;
	spool_future *p = spool_promise_new();
	n->rc_run = spool_loop_run(loop);
	n->rc_until = spool_loop_run_until_complete(loop, p);
	n->rc_other = spool_loop_run(n->other);
	spool_promise_set_result(p, NULL);
	spool_future_release(p);
	spool_loop_stop(loop);
}

static int loop_run_nested(void)
{
	spool_loop *loop = spool_test_loop_new();
	struct nested n = {spool_test_loop_new(), 1, 1, 1};
	ck_assert_int_eq(spool_loop_call_soon(loop, runs_again, &n, NULL), 0);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	EXPECT_RC(n.rc_run, SPOOL_ESTATE);
	EXPECT_RC(n.rc_until, SPOOL_ESTATE);
	EXPECT_RC(n.rc_other, SPOOL_ESTATE);
	spool_loop_destroy(n.other);
	spool_loop_destroy(loop);
	return 0;
}

static int loop_run_after_stop(void)
{
	spool_loop *loop = spool_test_loop_new();
	atomic_store(&ran, 0);
	ck_assert_int_eq(spool_loop_call_soon(loop, loop_count_cb, NULL, NULL),
			 0);
	spool_loop_stop(loop);
	EXPECT_RC(spool_loop_run(loop), 0); /* one iteration */
	EXPECT(atomic_load(&ran) == 1);
	spool_loop_destroy(loop);
	return 0;
}

static int loop_until_null(void)
{
	spool_loop *loop = spool_test_loop_new();
	spool_future *f = promise();
	EXPECT_RC(spool_loop_run_until_complete(NULL, f), SPOOL_EINVAL);
	EXPECT_RC(spool_loop_run_until_complete(loop, NULL), SPOOL_EINVAL);
	EXPECT_STATE(f, SPOOL_PENDING);
	spool_future_release(f);
	spool_loop_destroy(loop);
	return 0;
}

static int loop_until_final(void)
{
	spool_loop *loop = spool_test_loop_new();
	spool_future *f = failed_promise(7);
	atomic_store(&ran, 0);
	ck_assert_int_eq(spool_loop_call_soon(loop, loop_count_cb, NULL, NULL),
			 0);
	EXPECT_RC(spool_loop_run_until_complete(loop, f), 7);
	EXPECT(atomic_load(&ran) == 0); /* the loop did not run */
	spool_future_release(f);
	spool_loop_destroy(loop);
	return 0;
}

static int loop_until_stopped(void)
{
	spool_loop *loop = spool_test_loop_new();
	spool_future *f = promise();
	ck_assert_int_eq(spool_loop_call_soon(loop, stop_cb, NULL, NULL), 0);
	EXPECT_RC(spool_loop_run_until_complete(loop, f), SPOOL_EAGAIN);
	EXPECT_STATE(f, SPOOL_PENDING);
	EXPECT(!spool_future_cancel_requested(f));
	spool_future_release(f);
	spool_loop_destroy(loop);
	return 0;
}

static int loop_stop_null(void)
{
	spool_loop_stop(NULL);
	return 0;
}

static int loop_is_running_null(void)
{
	EXPECT(!spool_loop_is_running(NULL));
	spool_loop *loop = spool_test_loop_new();
	EXPECT(!spool_loop_is_running(loop));
	spool_loop_destroy(loop);
	return 0;
}

static int loop_current_outside(void)
{
	EXPECT(spool_loop_current() == NULL);
	return 0;
}

static int loop_time_any_thread(void)
{
	spool_loop *loop = spool_test_loop_new();
	int64_t a = spool_loop_time(loop);
	int64_t now = spool_test_now_ns();
	int64_t b = spool_loop_time(loop);
	EXPECT(a <= now && now <= b);
	spool_loop_destroy(loop);
	return 0;
}

static int loop_executor_null(void)
{
	EXPECT(spool_loop_executor(NULL) == NULL);
	return 0;
}

/* The call_* rows: what they answer, and that a refused call hands out no
 * handle. */
static int call_soon_null(void)
{
	spool_loop *loop = spool_test_loop_new();
	spool_handle *h = SENTINEL;
	EXPECT_RC(spool_loop_call_soon(NULL, loop_count_cb, NULL, &h),
		  SPOOL_EINVAL);
	EXPECT(h == NULL || h == SENTINEL);
	h = SENTINEL;
	EXPECT_RC(spool_loop_call_soon(loop, NULL, NULL, &h), SPOOL_EINVAL);
	EXPECT(h == NULL || h == SENTINEL);
	spool_loop_destroy(loop);
	return 0;
}

static int call_later_null(void)
{
	spool_loop *loop = spool_test_loop_new();
	spool_handle *h = SENTINEL;
	EXPECT_RC(spool_loop_call_later(NULL, 0, loop_count_cb, NULL, &h),
		  SPOOL_EINVAL);
	EXPECT(h == NULL || h == SENTINEL);
	h = SENTINEL;
	EXPECT_RC(spool_loop_call_later(loop, 0, NULL, NULL, &h), SPOOL_EINVAL);
	EXPECT(h == NULL || h == SENTINEL);
	spool_loop_destroy(loop);
	return 0;
}

static int call_later_bad_delay(int64_t delay)
{
	spool_loop *loop = spool_test_loop_new();
	spool_handle *h = SENTINEL;
	atomic_store(&ran, 0);
	EXPECT_RC(spool_loop_call_later(loop, delay, loop_count_cb, NULL, &h),
		  SPOOL_EINVAL);
	EXPECT(h == NULL || h == SENTINEL);
	spool_loop_stop(loop);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	EXPECT(atomic_load(&ran) == 0);
	spool_loop_destroy(loop);
	return 0;
}

static int call_later_minus_one(void)
{
	return call_later_bad_delay(-1);
}

static int call_later_int64_min(void)
{
	return call_later_bad_delay(INT64_MIN);
}

/* A timer that must never fire: after a few iterations it has not run and
 * can still be cancelled. */
static int never_fires(bool at)
{
	spool_loop *loop = spool_test_loop_new();
	spool_handle *h = NULL;
	atomic_store(&ran, 0);
	if (at)
		EXPECT_RC(spool_loop_call_at(loop, SPOOL_FOREVER, loop_count_cb,
					     NULL, &h),
			  0);
	else
		EXPECT_RC(spool_loop_call_later(loop, SPOOL_FOREVER,
						loop_count_cb, NULL, &h),
			  0);
	EXPECT(h != NULL);
	for (int i = 0; i < 3; i++) {
		spool_loop_stop(loop);
		ck_assert_int_eq(spool_loop_run(loop), 0);
	}
	EXPECT(atomic_load(&ran) == 0);
	EXPECT(!spool_handle_cancelled(h));
	EXPECT_RC(spool_handle_cancel(h), 0);
	spool_handle_release(h);
	spool_loop_destroy(loop);
	return 0;
}

static int call_later_forever(void)
{
	return never_fires(false);
}

static int call_at_forever(void)
{
	return never_fires(true);
}

static int call_at_null(void)
{
	spool_loop *loop = spool_test_loop_new();
	spool_handle *h = SENTINEL;
	EXPECT_RC(spool_loop_call_at(NULL, 0, loop_count_cb, NULL, &h),
		  SPOOL_EINVAL);
	EXPECT(h == NULL || h == SENTINEL);
	h = SENTINEL;
	EXPECT_RC(spool_loop_call_at(loop, 0, NULL, NULL, &h), SPOOL_EINVAL);
	EXPECT(h == NULL || h == SENTINEL);
	spool_loop_destroy(loop);
	return 0;
}

/* call_at with a time in the past, scheduled from a callback with nothing
 * else to do: it runs in the next iteration, so the loop must not go to
 * sleep first. The row's alarm bounds the wait if it does. */
struct past {
	int64_t when;
	int rc;
	bool fired;
};

static void past_fired(spool_loop *loop, void *arg)
{
	struct past *p = arg;
	p->fired = true;
	spool_loop_stop(loop);
}

static void schedules_past(spool_loop *loop, void *arg)
{
	struct past *p = arg;
	p->rc = spool_loop_call_at(loop, p->when, past_fired, p, NULL);
}

static int call_at_past(int64_t when)
{
	spool_loop *loop = spool_test_loop_new();
	struct past p = {when, 1, false};
	ck_assert_int_eq(spool_loop_call_soon(loop, schedules_past, &p, NULL),
			 0);
	ck_assert_int_eq(spool_loop_run(loop), 0); /* past_fired stops it */
	EXPECT_RC(p.rc, 0);
	EXPECT(p.fired);
	spool_loop_destroy(loop);
	return 0;
}

static int call_at_minus_one(void)
{
	return call_at_past(-1);
}

static int call_at_int64_min(void)
{
	return call_at_past(INT64_MIN);
}

static int call_at_zero(void)
{
	return call_at_past(0);
}

static int call_soon_threadsafe_null(void)
{
	spool_loop *loop = spool_test_loop_new();
	EXPECT_RC(spool_loop_call_soon_threadsafe(NULL, loop_count_cb, NULL),
		  SPOOL_EINVAL);
	EXPECT_RC(spool_loop_call_soon_threadsafe(loop, NULL, NULL),
		  SPOOL_EINVAL);
	spool_loop_destroy(loop);
	return 0;
}

static int handle_cancel_null(void)
{
	EXPECT_RC(spool_handle_cancel(NULL), SPOOL_EINVAL);
	return 0;
}

static int handle_cancel_twice(void)
{
	spool_loop *loop = spool_test_loop_new();
	spool_handle *h = NULL;
	atomic_store(&ran, 0);
	ck_assert_int_eq(spool_loop_call_soon(loop, loop_count_cb, NULL, &h),
			 0);
	EXPECT_RC(spool_handle_cancel(h), 0);
	EXPECT_RC(spool_handle_cancel(h), 0);
	EXPECT(spool_handle_cancelled(h));
	spool_loop_stop(loop);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	EXPECT(atomic_load(&ran) == 0);
	spool_handle_release(h);
	spool_loop_destroy(loop);
	return 0;
}

static int handle_cancel_after_run(void)
{
	spool_loop *loop = spool_test_loop_new();
	spool_handle *h = NULL;
	atomic_store(&ran, 0);
	ck_assert_int_eq(spool_loop_call_soon(loop, loop_count_cb, NULL, &h),
			 0);
	spool_loop_stop(loop);
	ck_assert_int_eq(spool_loop_run(loop), 0);
	ck_assert_int_eq(atomic_load(&ran), 1);
	EXPECT_RC(spool_handle_cancel(h), SPOOL_ESTATE);
	EXPECT(!spool_handle_cancelled(h));
	spool_handle_release(h);
	spool_loop_destroy(loop);
	return 0;
}

static int handle_cancelled_null(void)
{
	EXPECT(!spool_handle_cancelled(NULL));
	return 0;
}

static int handle_when_null(void)
{
	EXPECT(spool_handle_when(NULL) == 0);
	spool_loop *loop = spool_test_loop_new();
	spool_handle *h = NULL, *t = NULL;
	int64_t when = spool_loop_time(loop) + 3600 * SPOOL_NS_PER_S;
	ck_assert_int_eq(spool_loop_call_soon(loop, loop_count_cb, NULL, &h),
			 0);
	ck_assert_int_eq(
		spool_loop_call_at(loop, when, loop_count_cb, NULL, &t), 0);
	EXPECT(spool_handle_when(h) == 0);
	EXPECT(spool_handle_when(t) == when);
	spool_handle_release(h);
	spool_handle_release(t);
	spool_loop_destroy(loop);
	return 0;
}

static int handle_release_null(void)
{
	spool_handle_release(NULL);
	return 0;
}

static int handle_release_twice(bool timer)
{
	spool_loop *loop = NULL;
	if (spool_loop_create(&loop, NULL) != 0)
		return 2;
	spool_handle *h = NULL;
	int rc = timer ? spool_loop_call_later(loop, SPOOL_FOREVER,
					       loop_count_cb, NULL, &h)
		       : spool_loop_call_soon(loop, loop_count_cb, NULL, &h);
	if (rc != 0)
		return 2;
	spool_handle_release(h);
	spool_handle_release(h); /* aborts: the loop still holds it */
	return 0;
}

static int handle_release_twice_soon(void)
{
	return handle_release_twice(false);
}

static int handle_release_twice_timer(void)
{
	return handle_release_twice(true);
}

static int handle_after_destroy(void)
{
	spool_loop *loop = spool_test_loop_new();
	spool_handle *h = NULL, *t = NULL;
	atomic_store(&ran, 0);
	ck_assert_int_eq(spool_loop_call_soon(loop, loop_count_cb, NULL, &h),
			 0);
	ck_assert_int_eq(spool_loop_call_later(loop, SPOOL_FOREVER,
					       loop_count_cb, NULL, &t),
			 0);
	spool_loop_destroy(loop);
	EXPECT(atomic_load(&ran) == 0);
	EXPECT(spool_handle_cancelled(h));
	EXPECT(spool_handle_cancelled(t));
	EXPECT_RC(spool_handle_cancel(h), 0);
	EXPECT_RC(spool_handle_cancel(t), 0);
	spool_handle_release(h);
	spool_handle_release(t);
	return 0;
}

static int sleep_negative(void)
{
	EXPECT_RC(spool_sleep(-1), SPOOL_EINVAL);
	EXPECT_RC(spool_sleep(INT64_MIN), SPOOL_EINVAL);
	return 0;
}

static int sleep_zero(void)
{
	EXPECT_RC(spool_sleep(0), 0);
	return 0;
}

static int sleeps_negative(void *arg)
{
	(void)arg;
	return spool_sleep(-1);
}

static int sleep_negative_in_coroutine(void)
{
	EXPECT_RC(in_coro(sleeps_negative, NULL), SPOOL_EINVAL);
	return 0;
}

/* spool_wait_readable / writable: a descriptor, direction and timeout. */
struct fdwait {
	int fd;
	bool write;
	int64_t timeout;
};

static int fd_wait(const struct fdwait *w)
{
	return w->write ? spool_wait_writable(w->fd, w->timeout)
			: spool_wait_readable(w->fd, w->timeout);
}

static int fd_wait_arg(void *arg)
{
	return fd_wait(arg);
}

static int fd_plain(int fd, bool write, int64_t timeout, int want)
{
	struct fdwait w = {fd, write, timeout};
	EXPECT_RC(fd_wait(&w), want);
	return 0;
}

/* The process's peak resident size, in KiB. */
static long peak_rss_kib(void)
{
	struct rusage ru;
	ck_assert_int_eq(getrusage(RUSAGE_SELF, &ru), 0);
	return ru.ru_maxrss;
}

/* In a coroutine, where the loop keeps a table indexed by descriptor
 * number: a number no descriptor can have is refused before any table
 * grows to it (64 MiB of growth is far above a loop's own). */
static int fd_coro(int fd, bool write, int64_t timeout, int want)
{
	struct fdwait w = {fd, write, timeout};
	long before = peak_rss_kib();
	EXPECT_RC(in_coro(fd_wait_arg, &w), want);
	EXPECT(peak_rss_kib() - before < 64 * 1024);
	return 0;
}

/* A descriptor number that is closed and stays closed: far above the
 * lowest free number, which the loop's own descriptors take. */
static int closed_fd(void)
{
	int fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 1000);
	ck_assert_int_ge(fd, 1000);
	close(fd);
	return fd;
}

static int rd_minus_one(void)
{
	return fd_plain(-1, false, 0, SPOOL_EINVAL);
}

static int wr_int_min(void)
{
	return fd_plain(INT_MIN, true, 0, SPOOL_EINVAL);
}

static int fd_negative_timeout(bool write)
{
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	EXPECT_RC(fd_plain(p[write], write, -1, SPOOL_EINVAL), 0);
	EXPECT_RC(fd_plain(p[write], write, INT64_MIN, SPOOL_EINVAL), 0);
	EXPECT_RC(fd_coro(p[write], write, -1, SPOOL_EINVAL), 0);
	close(p[0]);
	close(p[1]);
	return 0;
}

static int rd_negative_timeout(void)
{
	return fd_negative_timeout(false);
}

static int wr_negative_timeout(void)
{
	return fd_negative_timeout(true);
}

static int rd_zero_empty(void)
{
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	EXPECT_RC(fd_plain(p[0], false, 0, SPOOL_ETIMEDOUT), 0);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	EXPECT_RC(fd_plain(p[0], false, 0, 0), 0);
	EXPECT_RC(fd_plain(p[0], false, SPOOL_FOREVER, 0), 0);
	close(p[0]);
	close(p[1]);
	return 0;
}

static void fd_in_callback(void *arg)
{
	struct fdwait *w = arg;
	w->fd = fd_wait(w);
}

static int fd_on_loop_thread(bool write)
{
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	/* Readable end of an empty pipe: never ready; writable end: ready,
	 * yet a wait that could block is refused before it looks. */
	struct fdwait w = {p[write], write, SPOOL_FOREVER};
	on_loop(fd_in_callback, &w);
	EXPECT_RC(w.fd, SPOOL_EDEADLK);
	w = (struct fdwait){p[0], false, 0};
	on_loop(fd_in_callback, &w);
	EXPECT_RC(w.fd, SPOOL_ETIMEDOUT); /* 0 only polls */
	close(p[0]);
	close(p[1]);
	return 0;
}

static int rd_on_loop_thread(void)
{
	return fd_on_loop_thread(false);
}

static int wr_on_loop_thread(void)
{
	return fd_on_loop_thread(true);
}

/* Descriptor numbers that cannot be open (beyond any descriptor table the
 * kernel allows, or closed): SPOOL_EINVAL from a plain thread, from the
 * loop's poll and from a suspending coroutine alike. */
#define FD_ROWS(name, fdexpr)                                                  \
	static int rd_##name##_plain(void)                                     \
	{                                                                      \
		return fd_plain((fdexpr), false, SPOOL_FOREVER, SPOOL_EINVAL); \
	}                                                                      \
	static int wr_##name##_plain(void)                                     \
	{                                                                      \
		return fd_plain((fdexpr), true, SPOOL_FOREVER, SPOOL_EINVAL);  \
	}                                                                      \
	static int rd_##name##_coro(void)                                      \
	{                                                                      \
		fd_coro((fdexpr), false, 0, SPOOL_EINVAL);                     \
		return fd_coro((fdexpr), false, SPOOL_FOREVER, SPOOL_EINVAL);  \
	}                                                                      \
	static int wr_##name##_coro(void)                                      \
	{                                                                      \
		fd_coro((fdexpr), true, 0, SPOOL_EINVAL);                      \
		return fd_coro((fdexpr), true, SPOOL_FOREVER, SPOOL_EINVAL);   \
	}
FD_ROWS(2_30, 1 << 30)
FD_ROWS(1e8, 100000000)
FD_ROWS(int_max, INT_MAX)
FD_ROWS(closed, closed_fd())

/* A descriptor a coroutine waited on before (the loop keeps it registered
 * with epoll), closed since: the next wait on its number is SPOOL_EINVAL,
 * not a wake-up. */
static int waits_then_closes(void *arg)
{
	bool wr = arg != NULL;
	int p[2];
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0)
		return 1;
	if (write(p[1], "x", 1) != 1)
		return 1;
	int fd = p[wr];
	int rc = wr ? spool_wait_writable(fd, SPOOL_FOREVER)
		    : spool_wait_readable(fd, SPOOL_FOREVER);
	if (rc != 0)
		return 1;
	close(p[0]);
	close(p[1]);
	return wr ? spool_wait_writable(fd, SPOOL_FOREVER)
		  : spool_wait_readable(fd, SPOOL_FOREVER);
}

static int rd_closed_registered(void)
{
	EXPECT_RC(in_coro(waits_then_closes, NULL), SPOOL_EINVAL);
	return 0;
}

static int wr_closed_registered(void)
{
	EXPECT_RC(in_coro(waits_then_closes, &V1), SPOOL_EINVAL);
	return 0;
}

static int rie_null(void)
{
	spool_loop *loop = spool_test_loop_new();
	spool_executor *ex = spool_executor_inline();
	atomic_store(&ran, 0);
	EXPECT_FAILED_WITH(spool_loop_run_in_executor(NULL, ex, ok_task, &V1),
			   SPOOL_EINVAL);
	EXPECT_FAILED_WITH(spool_loop_run_in_executor(loop, NULL, ok_task, &V1),
			   SPOOL_EINVAL);
	EXPECT_FAILED_WITH(spool_loop_run_in_executor(loop, ex, NULL, &V1),
			   SPOOL_EINVAL);
	EXPECT(atomic_load(&ran) == 0);
	spool_loop_destroy(loop);
	return 0;
}

static int rie_shut_down_pool(void)
{
	spool_loop *loop = spool_test_loop_new();
	spool_pool *p = spool_test_pool_new(1);
	ck_assert_int_eq(spool_pool_shutdown(p, SPOOL_SHUTDOWN_WAIT), 0);
	atomic_store(&ran, 0);
	spool_future *f = spool_loop_run_in_executor(
		loop, spool_pool_executor(p), ok_task, &V1);
	EXPECT(f != NULL);
	EXPECT_RC(spool_loop_run_until_complete(loop, f), SPOOL_ESHUTDOWN);
	EXPECT_STATE(f, SPOOL_FAILED);
	EXPECT(atomic_load(&ran) == 0);
	spool_future_release(f);
	spool_pool_destroy(p);
	spool_loop_destroy(loop);
	return 0;
}

/* A loop task suspended on a promise nobody will complete, waited for on
 * the loop's thread after spool_loop_run() has returned: nothing can run
 * the loop while this thread waits. */
struct stops_and_waits {
	spool_loop *loop;
	spool_future *never;
};

static int stops_and_waits(void *arg, void **result)
{
	struct stops_and_waits *s = arg;
	(void)result;
	spool_loop_stop(s->loop);
	return spool_future_wait(s->never, SPOOL_FOREVER);
}

static int loop_task_after_run(bool result)
{
	struct stops_and_waits s = {spool_test_loop_new(), promise()};
	spool_future *t = spool_test_loop_submit(s.loop, stops_and_waits, &s);
	ck_assert_int_eq(spool_loop_run(s.loop), 0);
	ck_assert_int_eq(spool_future_state(t), SPOOL_RUNNING);
	void *v = SENTINEL;
	EXPECT_RC(result ? spool_future_result(t, SPOOL_FOREVER, &v)
			 : spool_future_wait(t, SPOOL_FOREVER),
		  SPOOL_EDEADLK);
	if (result)
		EXPECT(v == NULL);
	EXPECT_STATE(t, SPOOL_RUNNING);
	spool_loop_destroy(s.loop); /* cancels t */
	EXPECT_STATE(t, SPOOL_CANCELLED);
	spool_future_release(t);
	spool_future_release(s.never);
	return 0;
}

static int loop_wait_after_run(void)
{
	return loop_task_after_run(false);
}

static int loop_result_after_run(void)
{
	return loop_task_after_run(true);
}

/* ====================================================================== */
/* combinators.h                                                           */
/* ====================================================================== */

static int gather_empty(void)
{
	spool_future *g = spool_gather(NULL, 0, 0);
	EXPECT(g != NULL);
	EXPECT_STATE(g, SPOOL_DONE);
	EXPECT(spool_future_value(g) == NULL);
	EXPECT(spool_gather_size(g) == 0);
	void *v = SENTINEL;
	EXPECT_RC(spool_gather_result(g, 0, &v), SPOOL_EINVAL);
	EXPECT(v == NULL);
	spool_future_release(g);
	return 0;
}

static int gather_null_fs(void)
{
	EXPECT_FAILED_WITH(spool_gather(NULL, 1, 0), SPOOL_EINVAL);
	EXPECT_FAILED_WITH(spool_gather(NULL, SIZE_MAX, 0), SPOOL_EINVAL);
	return 0;
}

/* Two inputs, the second NULL (or a bad flag): the first, a pending
 * promise, is untouched: no callback of the gather runs when it
 * completes later (it would have nothing to complete). */
static int gather_bad_input(spool_future *second, unsigned flags)
{
	spool_future *fs[2] = {promise(), second};
	EXPECT_FAILED_WITH(spool_gather(fs, 2, flags), SPOOL_EINVAL);
	EXPECT_STATE(fs[0], SPOOL_PENDING);
	ck_assert_int_eq(spool_promise_set_result(fs[0], &V1), 0);
	spool_future_release(fs[0]);
	spool_future_release(second);
	return 0;
}

static int gather_null_entry(void)
{
	return gather_bad_input(NULL, 0);
}

static int gather_bad_flag(void)
{
	return gather_bad_input(done_promise(&V1), 2u);
}

static int gather_size_null(void)
{
	EXPECT(spool_gather_size(NULL) == 0);
	spool_future *f = done_promise(&V1);
	EXPECT(spool_gather_size(f) == 0);
	spool_future_release(f);
	return 0;
}

static int gather_result_bad(void)
{
	spool_future *in = done_promise(&V1);
	spool_future *g = spool_gather(&in, 1, 0);
	void *v = SENTINEL;
	EXPECT_RC(spool_gather_result(NULL, 0, &v), SPOOL_EINVAL);
	EXPECT(v == NULL);
	v = SENTINEL;
	EXPECT_RC(spool_gather_result(in, 0, &v), SPOOL_EINVAL);
	EXPECT(v == NULL);
	v = SENTINEL;
	EXPECT_RC(spool_gather_result(g, 1, &v), SPOOL_EINVAL);
	EXPECT(v == NULL);
	v = SENTINEL;
	EXPECT_RC(spool_gather_result(g, SIZE_MAX, &v), SPOOL_EINVAL);
	EXPECT(v == NULL);
	EXPECT_RC(spool_gather_result(g, 0, NULL), 0);
	spool_future_release(g);
	spool_future_release(in);
	return 0;
}

static int gather_result_pending(void)
{
	spool_future *in = promise();
	spool_future *g = spool_gather(&in, 1, 0);
	void *v = SENTINEL;
	EXPECT_RC(spool_gather_result(g, 0, &v), SPOOL_EAGAIN);
	EXPECT(v == NULL);
	ck_assert_int_eq(spool_promise_set_result(in, &V1), 0);
	EXPECT_RC(spool_gather_result(g, 0, &v), 0);
	EXPECT(v == &V1);
	spool_future_release(g);
	spool_future_release(in);
	return 0;
}

/* spool_wait: a report that must not be written ("nothing written"). */
struct report {
	bool done[2];
	size_t ndone, npending;
};

static void report_init(struct report *r)
{
	memset(r, 0, sizeof *r);
	r->done[0] = r->done[1] = true;
	r->ndone = r->npending = 77;
}

static bool report_untouched(const struct report *r)
{
	return r->done[0] && r->done[1] && r->ndone == 77 && r->npending == 77;
}

static int gather_child_bad(void)
{
	spool_future *a = spool_promise_new();
	spool_future *g = spool_gather(&a, 1, 0);
	EXPECT(spool_gather_child(NULL, 0) == NULL);
	EXPECT(spool_gather_child(a, 0) == NULL);
	EXPECT(spool_gather_child(g, 1) == NULL);
	EXPECT(spool_gather_child(g, SIZE_MAX) == NULL);
	EXPECT(spool_gather_child(g, 0) == NULL); /* a plain input */
	EXPECT_STATE(g, SPOOL_RUNNING);
	EXPECT_STATE(a, SPOOL_PENDING);
	spool_future_cancel(g);
	spool_future_release(g);
	spool_future_release(a);
	return 0;
}

static int wait_split_bad(void)
{
	spool_future *a = spool_promise_new();
	spool_future *in[2] = {a, NULL};
	spool_future *d[2] = {NULL, NULL}, *pd[2] = {NULL, NULL};
	size_t nd = 7, np = 7;
	EXPECT_RC(spool_wait_split(NULL, 1, SPOOL_ALL_COMPLETED, 0, d, &nd, pd,
				   &np),
		  SPOOL_EINVAL);
	EXPECT_RC(spool_wait_split(in, 2, SPOOL_ALL_COMPLETED, 0, d, &nd, pd,
				   &np),
		  SPOOL_EINVAL);
	EXPECT_RC(
		spool_wait_split(in, 1, (spool_wait_when)3, 0, d, &nd, pd, &np),
		SPOOL_EINVAL);
	EXPECT_RC(spool_wait_split(in, 1, SPOOL_ALL_COMPLETED, -1, d, &nd, pd,
				   &np),
		  SPOOL_EINVAL);
	EXPECT(nd == 7 && np == 7 && d[0] == NULL && pd[0] == NULL);
	EXPECT_STATE(a, SPOOL_PENDING);
	EXPECT_RC(spool_wait_split(in, 1, SPOOL_ALL_COMPLETED, 0, d, &nd, pd,
				   &np),
		  0);
	EXPECT(nd == 0 && np == 1 && pd[0] == a);
	spool_future_release(a);
	return 0;
}

static int wait_empty(void)
{
	struct report r;
	report_init(&r);
	EXPECT_RC(spool_wait(NULL, 0, SPOOL_ALL_COMPLETED, SPOOL_FOREVER,
			     r.done, &r.ndone, &r.npending),
		  0);
	EXPECT(r.ndone == 0 && r.npending == 0);
	return 0;
}

static int wait_null_huge(void)
{
	struct report r;
	report_init(&r);
	EXPECT_RC(spool_wait(NULL, SIZE_MAX, SPOOL_ALL_COMPLETED, 0, r.done,
			     &r.ndone, &r.npending),
		  SPOOL_EINVAL);
	EXPECT(report_untouched(&r));
	return 0;
}

static int wait_bad(spool_future *second, int when, int64_t timeout)
{
	spool_future *fs[2] = {promise(), second};
	struct report r;
	report_init(&r);
	EXPECT_RC(spool_wait(fs, 2, (spool_wait_when)when, timeout, r.done,
			     &r.ndone, &r.npending),
		  SPOOL_EINVAL);
	EXPECT(report_untouched(&r));
	EXPECT_STATE(fs[0], SPOOL_PENDING);
	ck_assert_int_eq(spool_promise_set_result(fs[0], NULL), 0);
	spool_future_release(fs[0]);
	spool_future_release(second);
	return 0;
}

static int wait_null_entry(void)
{
	return wait_bad(NULL, SPOOL_ALL_COMPLETED, 0);
}

static int wait_bad_when(void)
{
	wait_bad(done_promise(NULL), 3, 0);
	return wait_bad(done_promise(NULL), -1, 0);
}

static int wait_negative_timeout(void)
{
	return wait_bad(done_promise(NULL), SPOOL_FIRST_COMPLETED, -1);
}

static int wait_zero_timeout(void)
{
	spool_future *fs[2] = {promise(), done_promise(&V1)};
	struct report r;
	report_init(&r);
	EXPECT_RC(spool_wait(fs, 2, SPOOL_ALL_COMPLETED, 0, r.done, &r.ndone,
			     &r.npending),
		  0);
	EXPECT(!r.done[0] && r.done[1]);
	EXPECT(r.ndone == 1 && r.npending == 1);
	EXPECT_STATE(fs[0], SPOOL_PENDING);
	ck_assert_int_eq(spool_promise_set_result(fs[0], NULL), 0);
	spool_future_release(fs[0]);
	spool_future_release(fs[1]);
	return 0;
}

struct loop_wait_report {
	spool_future *fs[2];
	struct report r;
	int rc;
};

static void wait_all_in_callback(void *arg)
{
	struct loop_wait_report *w = arg;
	w->rc = spool_wait(w->fs, 2, SPOOL_ALL_COMPLETED, SPOOL_FOREVER,
			   w->r.done, &w->r.ndone, &w->r.npending);
}

static int wait_on_loop(void)
{
	struct loop_wait_report w = {
		{promise(), done_promise(NULL)}, {{0}, 0, 0}, 1};
	report_init(&w.r);
	on_loop(wait_all_in_callback, &w);
	EXPECT_RC(w.rc, SPOOL_EDEADLK);
	EXPECT(!w.r.done[0] && w.r.done[1]); /* the report is filled in */
	EXPECT(w.r.ndone == 1 && w.r.npending == 1);
	EXPECT_STATE(w.fs[0], SPOOL_PENDING);
	ck_assert_int_eq(spool_promise_set_result(w.fs[0], NULL), 0);
	spool_future_release(w.fs[0]);
	spool_future_release(w.fs[1]);
	return 0;
}

static int ac_create_bad(void)
{
	spool_future *fs[2] = {promise(), NULL};
	spool_as_completed *it = SENTINEL;
	EXPECT_RC(spool_as_completed_create(NULL, fs, 1, 0), SPOOL_EINVAL);
	EXPECT_RC(spool_as_completed_create(&it, NULL, SIZE_MAX, 0),
		  SPOOL_EINVAL);
	EXPECT(it == SENTINEL || it == NULL);
	it = SENTINEL;
	EXPECT_RC(spool_as_completed_create(&it, fs, 1, -1), SPOOL_EINVAL);
	EXPECT(it == SENTINEL || it == NULL);
	it = SENTINEL;
	EXPECT_RC(spool_as_completed_create(&it, fs, 2, SPOOL_FOREVER),
		  SPOOL_EINVAL);
	EXPECT(it == SENTINEL || it == NULL);
	EXPECT_STATE(fs[0], SPOOL_PENDING);
	ck_assert_int_eq(spool_promise_set_result(fs[0], NULL), 0);
	spool_future_release(fs[0]);
	return 0;
}

static int ac_empty(void)
{
	spool_as_completed *it = NULL;
	EXPECT_RC(spool_as_completed_create(&it, NULL, 0, 0), 0);
	EXPECT(it != NULL);
	spool_future *f = SENTINEL;
	size_t index = 77;
	EXPECT_RC(spool_as_completed_next(it, &f, &index), SPOOL_EOF);
	EXPECT(f == NULL);
	EXPECT_RC(spool_as_completed_next(it, &f, NULL), SPOOL_EOF);
	spool_as_completed_destroy(it);
	return 0;
}

static int ac_next_null(void)
{
	spool_future *in = done_promise(&V1);
	spool_as_completed *it = NULL;
	ck_assert_int_eq(spool_as_completed_create(&it, &in, 1, 0), 0);
	spool_future *f = SENTINEL;
	EXPECT_RC(spool_as_completed_next(NULL, &f, NULL), SPOOL_EINVAL);
	EXPECT(f == NULL);
	EXPECT_RC(spool_as_completed_next(it, NULL, NULL), SPOOL_EINVAL);
	/* Nothing was handed back or lost. */
	EXPECT_RC(spool_as_completed_next(it, &f, NULL), 0);
	EXPECT(f == in);
	spool_as_completed_destroy(it);
	spool_future_release(in);
	return 0;
}

static int ac_timed_out(void)
{
	spool_future *in = promise();
	spool_as_completed *it = NULL;
	ck_assert_int_eq(spool_as_completed_create(&it, &in, 1, 0), 0);
	spool_future *f = SENTINEL;
	EXPECT_RC(spool_as_completed_next(it, &f, NULL), SPOOL_ETIMEDOUT);
	EXPECT(f == NULL);
	ck_assert_int_eq(spool_promise_set_result(in, NULL), 0);
	f = SENTINEL;
	EXPECT_RC(spool_as_completed_next(it, &f, NULL), SPOOL_ETIMEDOUT);
	EXPECT(f == NULL);
	spool_as_completed_destroy(it);
	spool_future_release(in);
	return 0;
}

struct ac_loop {
	spool_future *in;
	spool_as_completed *it;
	spool_future *f;
	int rc;
};

static void ac_next_in_callback(void *arg)
{
	struct ac_loop *a = arg;
	a->f = SENTINEL;
	a->rc = spool_as_completed_next(a->it, &a->f, NULL);
}

static int ac_on_loop(void)
{
	struct ac_loop a = {promise(), NULL, NULL, 1};
	ck_assert_int_eq(
		spool_as_completed_create(&a.it, &a.in, 1, SPOOL_FOREVER), 0);
	on_loop(ac_next_in_callback, &a);
	EXPECT_RC(a.rc, SPOOL_EDEADLK);
	EXPECT(a.f == NULL);
	/* The iterator stays usable. */
	ck_assert_int_eq(spool_promise_set_result(a.in, NULL), 0);
	EXPECT_RC(spool_as_completed_next(a.it, &a.f, NULL), 0);
	EXPECT(a.f == a.in);
	spool_as_completed_destroy(a.it);
	spool_future_release(a.in);
	return 0;
}

static spool_as_completed *ac_shared;

static void *ac_consumer(void *arg)
{
	(void)arg;
	spool_future *f;
	spool_as_completed_next(ac_shared, &f, NULL);
	return NULL;
}

/* Two consumers: whichever call starts while the other waits aborts. */
static int ac_two_consumers(void)
{
	spool_future *in = spool_promise_new();
	if (spool_as_completed_create(&ac_shared, &in, 1, SPOOL_FOREVER) != 0)
		return 2;
	pthread_t th;
	if (pthread_create(&th, NULL, ac_consumer, NULL) != 0)
		return 2;
	spool_future *f;
	spool_as_completed_next(ac_shared, &f, NULL);
	return 0;
}

static int ac_destroy_null(void)
{
	spool_as_completed_destroy(NULL);
	return 0;
}

static int wait_for_null(void)
{
	void *v = SENTINEL;
	EXPECT_RC(spool_wait_for(NULL, 0, &v), SPOOL_EINVAL);
	EXPECT(v == NULL);
	return 0;
}

static int wait_for_negative(void)
{
	spool_future *f = promise();
	void *v = SENTINEL;
	EXPECT_RC(spool_wait_for(f, -1, &v), SPOOL_EINVAL);
	EXPECT(v == NULL);
	EXPECT_STATE(f, SPOOL_PENDING);
	EXPECT(!spool_future_cancel_requested(f));
	spool_future_release(f);
	return 0;
}

static int wait_for_zero(void)
{
	spool_future *f = promise();
	void *v = SENTINEL;
	EXPECT_RC(spool_wait_for(f, 0, &v), SPOOL_ETIMEDOUT);
	EXPECT(v == NULL);
	EXPECT_STATE(f, SPOOL_CANCELLED); /* final, as promised */
	spool_future_release(f);
	return 0;
}

static int wait_for_final(void)
{
	spool_future *f = done_promise(&V1);
	void *v = NULL;
	EXPECT_RC(spool_wait_for(f, 0, &v), 0);
	EXPECT(v == &V1);
	EXPECT_RC(spool_wait_for(f, SPOOL_FOREVER, NULL), 0);
	spool_future_release(f);
	return 0;
}

static void wait_for_in_callback(void *arg)
{
	struct loop_wait *w = arg;
	w->value = SENTINEL;
	w->rc = spool_wait_for(w->f, SPOOL_FOREVER, &w->value);
}

static int wait_for_on_loop(void)
{
	struct loop_wait w = {promise(), 1, NULL};
	on_loop(wait_for_in_callback, &w);
	EXPECT_RC(w.rc, SPOOL_EDEADLK);
	EXPECT(w.value == NULL);
	EXPECT_STATE(w.f, SPOOL_PENDING);
	EXPECT(!spool_future_cancel_requested(w.f));
	spool_future_release(w.f);
	return 0;
}

static int map_null(void)
{
	spool_executor *ex = spool_executor_inline();
	atomic_store(&ran, 0);
	EXPECT_FAILED_WITH(spool_map(NULL, ok_task, MAP_ARGS, 1, 0),
			   SPOOL_EINVAL);
	EXPECT_FAILED_WITH(spool_map(ex, NULL, MAP_ARGS, 1, 0), SPOOL_EINVAL);
	EXPECT_FAILED_WITH(spool_map(ex, ok_task, NULL, 1, 0), SPOOL_EINVAL);
	EXPECT_FAILED_WITH(spool_map(ex, ok_task, NULL, SIZE_MAX, 0),
			   SPOOL_EINVAL);
	EXPECT(atomic_load(&ran) == 0);
	return 0;
}

static int map_empty(void)
{
	spool_future *m = spool_map(spool_executor_inline(), ok_task, NULL, 0,
				    0);
	EXPECT(m != NULL);
	EXPECT_STATE(m, SPOOL_DONE);
	EXPECT(spool_gather_size(m) == 0);
	spool_future_release(m);
	return 0;
}

static int map_huge_n(void)
{
	atomic_store(&ran, 0);
	spool_future *m = spool_map(spool_executor_inline(), ok_task, MAP_ARGS,
				    SIZE_MAX, 0);
	EXPECT(m == NULL); /* out of memory, before reading args */
	EXPECT(atomic_load(&ran) == 0);
	return 0;
}

static int map_window_max(void)
{
	void *args[3] = {&V1, &V2, &V1};
	spool_future *m = spool_map(spool_executor_inline(), ok_task, args, 3,
				    SIZE_MAX);
	EXPECT(m != NULL);
	EXPECT_STATE(m, SPOOL_DONE);
	void *v = NULL;
	EXPECT_RC(spool_gather_result(m, 1, &v), 0);
	EXPECT(v == &V2);
	spool_future_release(m);
	return 0;
}

static int then_null(void)
{
	spool_future *src = promise();
	spool_executor *ex = spool_executor_inline();
	atomic_store(&ran, 0);
	EXPECT_FAILED_WITH(spool_then(NULL, ex, then_value, &V1), SPOOL_EINVAL);
	EXPECT_FAILED_WITH(spool_then(src, NULL, then_value, &V1),
			   SPOOL_EINVAL);
	EXPECT_FAILED_WITH(spool_then(src, ex, NULL, &V1), SPOOL_EINVAL);
	EXPECT_STATE(src, SPOOL_PENDING);
	ck_assert_int_eq(spool_promise_set_result(src, NULL), 0);
	EXPECT(atomic_load(&ran) == 0);
	spool_future_release(src);
	return 0;
}

static int shield_null(void)
{
	EXPECT_FAILED_WITH(spool_shield(NULL), SPOOL_EINVAL);
	return 0;
}

static int shield_cancelled(void)
{
	spool_future *src = promise();
	spool_future *s = spool_shield(src);
	EXPECT_RC(spool_future_cancel(s), 0);
	EXPECT_STATE(s, SPOOL_CANCELLED);
	EXPECT_STATE(src, SPOOL_PENDING);
	EXPECT(!spool_future_cancel_requested(src));
	ck_assert_int_eq(spool_promise_set_result(src, &V1), 0);
	EXPECT_STATE(s, SPOOL_CANCELLED);
	spool_future_release(s);
	spool_future_release(src);
	return 0;
}

static int then_shut_down(void)
{
	spool_pool *p = spool_test_pool_new(1);
	ck_assert_int_eq(spool_pool_shutdown(p, SPOOL_SHUTDOWN_WAIT), 0);
	spool_future *src = done_promise(&V1);
	atomic_store(&ran, 0);
	spool_future *t = spool_then(src, spool_pool_executor(p), then_value,
				     &V1);
	EXPECT(t != NULL);
	EXPECT_RC(spool_future_wait(t, SPOOL_FOREVER), 0);
	EXPECT_STATE(t, SPOOL_FAILED);
	EXPECT_RC(spool_future_error(t), SPOOL_ESHUTDOWN);
	EXPECT(atomic_load(&ran) == 0);
	spool_future_release(t);
	spool_future_release(src);
	spool_pool_destroy(p);
	return 0;
}

/* ====================================================================== */
/* group.h                                                                 */
/* ====================================================================== */

static int group_create_bad(void)
{
	spool_group *g = NULL;
	EXPECT_RC(spool_group_create(NULL, spool_executor_inline(), 0),
		  SPOOL_EINVAL);
	EXPECT_RC(spool_group_create(&g, NULL, 0), SPOOL_EINVAL);
	return 0;
}

static int group_create_max(void)
{
	spool_group *g = NULL;
	EXPECT_RC(spool_group_create(&g, spool_executor_inline(), SIZE_MAX), 0);
	EXPECT(g != NULL);
	spool_future *t = NULL;
	EXPECT_RC(spool_group_spawn(g, ok_task, &V1, &t), 0);
	EXPECT_RC(spool_group_join(g, SPOOL_FOREVER), 0);
	EXPECT(spool_future_value(t) == &V1);
	spool_future_release(t);
	spool_group_destroy(g);
	return 0;
}

static int group_spawn_null(void)
{
	spool_group *g = NULL;
	ck_assert_int_eq(spool_group_create(&g, spool_executor_inline(), 0), 0);
	spool_future *t = NULL;
	atomic_store(&ran, 0);
	EXPECT_RC(spool_group_spawn(NULL, ok_task, &V1, &t), SPOOL_EINVAL);
	EXPECT(t == NULL);
	EXPECT_RC(spool_group_spawn(g, NULL, &V1, &t), SPOOL_EINVAL);
	EXPECT(t == NULL);
	EXPECT(atomic_load(&ran) == 0);
	EXPECT_RC(spool_group_join(g, 0), 0);
	spool_group_destroy(g);
	return 0;
}

static int group_spawn_cancelled(void)
{
	spool_group *g = NULL;
	ck_assert_int_eq(spool_group_create(&g, spool_executor_inline(), 0), 0);
	ck_assert_int_eq(spool_group_cancel(g), 0);
	spool_future *t = SENTINEL;
	atomic_store(&ran, 0);
	EXPECT_RC(spool_group_spawn(g, ok_task, &V1, &t), SPOOL_ECANCELLED);
	EXPECT(t == NULL);
	EXPECT(atomic_load(&ran) == 0);
	EXPECT_RC(spool_group_join(g, 0), SPOOL_ECANCELLED);
	spool_group_destroy(g);
	return 0;
}

static int group_spawn_shut_down(void)
{
	spool_pool *p = spool_test_pool_new(1);
	ck_assert_int_eq(spool_pool_shutdown(p, SPOOL_SHUTDOWN_WAIT), 0);
	spool_group *g = NULL;
	ck_assert_int_eq(spool_group_create(&g, spool_pool_executor(p), 0), 0);
	spool_future *t = NULL;
	atomic_store(&ran, 0);
	EXPECT_RC(spool_group_spawn(g, ok_task, &V1, &t), 0);
	EXPECT(t != NULL);
	EXPECT_RC(spool_group_join(g, SPOOL_FOREVER), SPOOL_ESHUTDOWN);
	EXPECT_STATE(t, SPOOL_FAILED);
	EXPECT_RC(spool_future_error(t), SPOOL_ESHUTDOWN);
	EXPECT(spool_group_failures(g) == 1);
	EXPECT(atomic_load(&ran) == 0);
	spool_future_release(t);
	spool_group_destroy(g);
	spool_pool_destroy(p);
	return 0;
}

static int group_join_bad(void)
{
	spool_group *g = NULL;
	ck_assert_int_eq(spool_group_create(&g, spool_executor_inline(), 0), 0);
	EXPECT_RC(spool_group_join(NULL, 0), SPOOL_EINVAL);
	EXPECT_RC(spool_group_join(g, -1), SPOOL_EINVAL);
	EXPECT_RC(spool_group_join(g, INT64_MIN), SPOOL_EINVAL);
	EXPECT_RC(spool_group_join(g, 0), 0); /* empty */
	EXPECT_RC(spool_group_join(g, SPOOL_FOREVER), 0);
	spool_group_destroy(g);
	return 0;
}

/* A group on a loop that is not running: its task is pending. */
static int group_join_zero(void)
{
	spool_loop *loop = spool_test_loop_new();
	spool_group *g = NULL;
	ck_assert_int_eq(spool_group_create(&g, spool_loop_executor(loop), 0),
			 0);
	spool_future *t = NULL;
	ck_assert_int_eq(spool_group_spawn(g, ok_task, &V1, &t), 0);
	EXPECT_RC(spool_group_join(g, 0), SPOOL_ETIMEDOUT);
	EXPECT(!spool_future_cancel_requested(t)); /* nothing cancelled */
	EXPECT_RC(spool_loop_run_until_complete(loop, t), 0);
	EXPECT_RC(spool_group_join(g, 0), 0); /* may be called again */
	spool_future_release(t);
	spool_group_destroy(g);
	spool_loop_destroy(loop);
	return 0;
}

struct group_loop {
	spool_group *g;
	int rc;
};

static void join_in_callback(void *arg)
{
	struct group_loop *j = arg;
	j->rc = spool_group_join(j->g, SPOOL_FOREVER);
}

static int group_join_on_loop(void)
{
	spool_future *gate = promise();
	struct group_loop j = {NULL, 1};
	spool_pool *p = spool_test_pool_new(1);
	ck_assert_int_eq(spool_group_create(&j.g, spool_pool_executor(p), 0),
			 0);
	ck_assert_int_eq(spool_group_spawn(j.g, gated_task, gate, NULL), 0);
	on_loop(join_in_callback, &j);
	EXPECT_RC(j.rc, SPOOL_EDEADLK);
	ck_assert_int_eq(spool_promise_set_result(gate, NULL), 0);
	EXPECT_RC(spool_group_join(j.g, SPOOL_FOREVER), 0);
	spool_group_destroy(j.g);
	spool_future_release(gate);
	spool_pool_destroy(p);
	return 0;
}

static int group_cancel_bad(void)
{
	EXPECT_RC(spool_group_cancel(NULL), SPOOL_EINVAL);
	spool_group *g = NULL;
	ck_assert_int_eq(spool_group_create(&g, spool_executor_inline(), 0), 0);
	EXPECT_RC(spool_group_cancel(g), 0);
	EXPECT_RC(spool_group_cancel(g), 0);
	spool_group_destroy(g);
	return 0;
}

static int fail7(void *arg, void **result)
{
	(void)arg, (void)result;
	return 7;
}

static int group_failures_null(void)
{
	EXPECT(spool_group_failures(NULL) == 0);
	return 0;
}

static int group_failure_bad(void)
{
	size_t idx = 77;
	EXPECT_RC(spool_group_failure(NULL, 0, &idx), SPOOL_EINVAL);
	spool_group *g = NULL;
	ck_assert_int_eq(spool_group_create(&g, spool_executor_inline(), 0), 0);
	ck_assert_int_eq(spool_group_spawn(g, fail7, NULL, NULL), 0);
	ck_assert_int_eq(spool_group_join(g, 0), 7);
	EXPECT(spool_group_failures(g) == 1);
	EXPECT_RC(spool_group_failure(g, 0, NULL), 7);
	EXPECT_RC(spool_group_failure(g, 1, &idx), SPOOL_EINVAL);
	EXPECT_RC(spool_group_failure(g, SIZE_MAX, &idx), SPOOL_EINVAL);
	spool_group_destroy(g);
	return 0;
}

static int group_failure_detail_bad(void)
{
	const char *m = "x";
	void *pl = &V1;
	EXPECT_RC(spool_group_failure_detail(NULL, 0, &m, &pl), SPOOL_EINVAL);
	EXPECT(m == NULL && pl == NULL);
	spool_group *g = NULL;
	ck_assert_int_eq(spool_group_create(&g, spool_executor_inline(), 0), 0);
	ck_assert_int_eq(spool_group_spawn(g, fail7, NULL, NULL), 0);
	ck_assert_int_eq(spool_group_join(g, 0), 7);
	m = "x";
	pl = &V1;
	EXPECT_RC(spool_group_failure_detail(g, 0, &m, &pl), 7);
	EXPECT(m == NULL && pl == NULL); /* a bare code */
	EXPECT_RC(spool_group_failure_detail(g, 0, NULL, NULL), 7);
	m = "x";
	EXPECT_RC(spool_group_failure_detail(g, 1, &m, NULL), SPOOL_EINVAL);
	EXPECT(m == NULL);
	EXPECT_RC(spool_group_failure_detail(g, SIZE_MAX, NULL, NULL),
		  SPOOL_EINVAL);
	spool_group_destroy(g);
	return 0;
}

static int group_destroy_null(void)
{
	spool_group_destroy(NULL);
	return 0;
}

/* ====================================================================== */
/* trace.h                                                                 */
/* ====================================================================== */

static char trace_path[64];

static const char *tmp_trace(void)
{
	snprintf(trace_path, sizeof trace_path, "/tmp/spool-misuse-%d.json",
		 (int)getpid());
	return trace_path;
}

/* Starts a session with small buffers: the memory a default session
 * commits up front would cost more than the rows themselves. */
static const char *small_session(void)
{
	spool_trace_options o = SPOOL_TRACE_OPTIONS_INIT;
	o.events_per_thread = 64;
	const char *path = tmp_trace();
	ck_assert_int_eq(spool_trace_start_opts(path, &o), 0);
	return path;
}

static int trace_start_bad(void)
{
	EXPECT_RC(spool_trace_start(NULL), SPOOL_EINVAL);
	EXPECT_RC(spool_trace_start(""), SPOOL_EINVAL);
	EXPECT_RC(spool_trace_start_opts(NULL, NULL), SPOOL_EINVAL);
	EXPECT(!spool_trace_enabled());
	return 0;
}

static int trace_start_bad_dir(void)
{
	EXPECT_RC(spool_trace_start("/nonexistent-spool-dir/trace.json"),
		  SPOOL_ESYS);
	EXPECT(!spool_trace_enabled());
	return 0;
}

static int trace_start_twice(void)
{
	const char *path = small_session();
	EXPECT_RC(spool_trace_start(path), SPOOL_ESTATE);
	EXPECT_RC(spool_trace_start_opts(path, NULL), SPOOL_ESTATE);
	EXPECT(spool_trace_enabled()); /* the first goes on */
	EXPECT_RC(spool_trace_stop(), 0);
	EXPECT_RC(spool_trace_stop(), 0);
	EXPECT(!spool_trace_enabled());
	unlink(path);
	return 0;
}

static int trace_start_huge(void)
{
	spool_trace_options o = SPOOL_TRACE_OPTIONS_INIT;
	o.events_per_thread = SIZE_MAX;
	const char *path = tmp_trace();
	int rc = spool_trace_start_opts(path, &o);
	EXPECT(rc == SPOOL_EINVAL || rc == SPOOL_ENOMEM);
	EXPECT(!spool_trace_enabled());
	unlink(path);
	return 0;
}

static int trace_stop_without_start(void)
{
	EXPECT_RC(spool_trace_stop(), 0);
	EXPECT_RC(spool_trace_stop(), 0);
	EXPECT(!spool_trace_enabled());
	return 0;
}

static int trace_name_bad(void)
{
	EXPECT_RC(spool_trace_thread_name(NULL), SPOOL_EINVAL);
	EXPECT_RC(spool_trace_thread_name(""), SPOOL_EINVAL);
	EXPECT_RC(spool_trace_thread_name("a name far longer than the "
					  "thirty-one bytes that are kept"),
		  0);
	return 0;
}

static int trace_end_unbalanced(void)
{
	spool_trace_end(); /* no session, nothing open */
	spool_trace_end();
	const char *path = small_session();
	spool_trace_end(); /* nothing open: ignored, counted */
	spool_trace_begin("open");
	spool_trace_end();
	spool_trace_end();
	EXPECT_RC(spool_trace_stop(), 0);
	unlink(path);
	return 0;
}

static int trace_begin_null(void)
{
	spool_trace_begin(NULL); /* no session: nothing recorded */
	spool_trace_end();
	const char *path = small_session();
	spool_trace_begin(NULL);
	spool_trace_begin("open at stop");
	EXPECT_RC(spool_trace_stop(), 0);
	unlink(path);
	return 0;
}

static int trace_enabled_without(void)
{
	EXPECT(!spool_trace_enabled());
	return 0;
}

static int trace_stats_null(void)
{
	EXPECT_RC(spool_trace_stats_get(NULL), SPOOL_EINVAL);
	spool_trace_stats st;
	EXPECT_RC(spool_trace_stats_get(&st), 0);
	return 0;
}

/* ====================================================================== */
/* error.h, version.h                                                      */
/* ====================================================================== */

static int strerror_any(void)
{
	EXPECT(strcmp(spool_strerror(0), "success") == 0);
	EXPECT(strcmp(spool_strerror(5), "task error") == 0);
	EXPECT(strcmp(spool_strerror(INT_MAX), "task error") == 0);
	EXPECT(strcmp(spool_strerror(-12), "unknown error") == 0);
	EXPECT(strcmp(spool_strerror(INT_MIN), "unknown error") == 0);
	for (int e = -1; e >= SPOOL_ESYS; e--)
		EXPECT(spool_strerror(e) != NULL &&
		       strcmp(spool_strerror(e), "unknown error") != 0);
	return 0;
}

static int err_name_any(void)
{
	EXPECT(strcmp(spool_err_name(0), "SPOOL_OK") == 0);
	EXPECT(strcmp(spool_err_name(INT_MAX), "TASK_ERROR") == 0);
	EXPECT(strcmp(spool_err_name(-12), "SPOOL_EUNKNOWN") == 0);
	EXPECT(strcmp(spool_err_name(INT_MIN), "SPOOL_EUNKNOWN") == 0);
	EXPECT(strcmp(spool_err_name(SPOOL_ETIMEDOUT), "SPOOL_ETIMEDOUT") == 0);
	return 0;
}

static int version_matches(void)
{
	EXPECT(spool_version() == SPOOL_VERSION_HEX);
	return 0;
}

static int version_string_matches(void)
{
	EXPECT(strcmp(spool_version_string(), SPOOL_VERSION_STRING) == 0);
	return 0;
}

static int promise_new_pending(void)
{
	spool_future *f = spool_promise_new();
	EXPECT(f != NULL);
	EXPECT_STATE(f, SPOOL_PENDING);
	EXPECT(spool_future_id(f) != 0);
	spool_future_release(f);
	return 0;
}

/* ====================================================================== */
/* loop.h: calls from a thread that is not running the loop                */
/* ====================================================================== */

/* A loop running on a thread of its own, with a timer handle that its
 * thread made. These run in forked children (no ck_assert): a call that
 * spool refuses with an abort ends the child; otherwise the child's exit
 * status says whether the answer was right. */
struct remote {
	spool_loop *loop;
	pthread_t th;
	atomic_int up;
	spool_handle *timer;
	int64_t when;
	bool timer_cancelled; /* read on the loop's thread at the end */
};

static void remote_up(spool_loop *loop, void *arg)
{
	struct remote *r = arg;
	r->when = spool_loop_time(loop) + 3600 * SPOOL_NS_PER_S;
	spool_loop_call_at(loop, r->when, loop_count_cb, NULL, &r->timer);
	/* Release: the handle, and the loop's state, are visible to the
	 * thread that reads `up`. */
	atomic_store_explicit(&r->up, 1, memory_order_release);
}

static void *remote_main(void *arg)
{
	struct remote *r = arg;
	spool_loop_run(r->loop);
	return NULL;
}

static int remote_start(struct remote *r)
{
	memset(r, 0, sizeof *r);
	atomic_store(&ran, 0);
	if (spool_loop_create(&r->loop, NULL) != 0 ||
	    spool_loop_call_soon(r->loop, remote_up, r, NULL) != 0 ||
	    pthread_create(&r->th, NULL, remote_main, r) != 0) {
		fprintf(stderr, "could not start a loop thread\n");
		return -1;
	}
	while (!atomic_load_explicit(&r->up, memory_order_acquire))
		spool_test_sleep_ns(MS / 10);
	return 0;
}

static void remote_finish(spool_loop *loop, void *arg)
{
	struct remote *r = arg;
	if (r->timer) {
		r->timer_cancelled = spool_handle_cancelled(r->timer);
		spool_handle_release(r->timer);
	}
	spool_loop_stop(loop);
}

static void remote_stop(struct remote *r)
{
	spool_loop_call_soon_threadsafe(r->loop, remote_finish, r);
	pthread_join(r->th, NULL);
	spool_loop_destroy(r->loop);
}

/* The call from the wrong thread answered rc: SPOOL_EINVAL, no handle
 * handed out and nothing changed (no callback ran, the timer is still
 * scheduled). Returns the child's exit status. */
static int remote_refused(struct remote *r, int rc, spool_handle *h)
{
	int bad = 0;
	if (rc != SPOOL_EINVAL) {
		fprintf(stderr, "returned %s (%d), not SPOOL_EINVAL\n",
			spool_err_name(rc), rc);
		bad = 1;
	}
	if (h != NULL) {
		fprintf(stderr, "*handle is not NULL\n");
		bad = 1;
	}
	remote_stop(r);
	if (atomic_load(&ran) != 0) {
		fprintf(stderr, "a callback ran\n");
		bad = 1;
	}
	if (r->timer_cancelled) {
		fprintf(stderr, "the timer was cancelled\n");
		bad = 1;
	}
	return bad;
}

static int remote_call_soon(void)
{
	struct remote r;
	if (remote_start(&r) != 0)
		return 2;
	spool_handle *h = SENTINEL;
	int rc = spool_loop_call_soon(r.loop, loop_count_cb, NULL, &h);
	return remote_refused(&r, rc, h);
}

static int remote_call_later(void)
{
	struct remote r;
	if (remote_start(&r) != 0)
		return 2;
	spool_handle *h = SENTINEL;
	int rc = spool_loop_call_later(r.loop, 0, loop_count_cb, NULL, &h);
	return remote_refused(&r, rc, h);
}

static int remote_call_at(void)
{
	struct remote r;
	if (remote_start(&r) != 0)
		return 2;
	spool_handle *h = SENTINEL;
	int rc = spool_loop_call_at(r.loop, spool_loop_time(r.loop),
				    loop_count_cb, NULL, &h);
	return remote_refused(&r, rc, h);
}

static int remote_handle_cancel(void)
{
	struct remote r;
	if (remote_start(&r) != 0)
		return 2;
	int rc = spool_handle_cancel(r.timer);
	return remote_refused(&r, rc, NULL);
}

static int remote_handle_when(void)
{
	struct remote r;
	if (remote_start(&r) != 0)
		return 2;
	int64_t when = spool_handle_when(r.timer);
	remote_stop(&r);
	if (when != r.when) {
		fprintf(stderr, "spool_handle_when gave %lld, not %lld\n",
			(long long)when, (long long)r.when);
		return 1;
	}
	return 0;
}

static int remote_is_running(void)
{
	struct remote r;
	if (remote_start(&r) != 0)
		return 2;
	bool running = spool_loop_is_running(r.loop);
	remote_stop(&r);
	if (!running) {
		fprintf(stderr, "spool_loop_is_running gave false\n");
		return 1;
	}
	return 0;
}

static int remote_stop_call(void)
{
	struct remote r;
	if (remote_start(&r) != 0)
		return 2;
	spool_loop_stop(r.loop);
	fprintf(stderr, "spool_loop_stop() from another thread returned\n");
	return 1;
}

static int remote_handle_cancelled(void)
{
	struct remote r;
	if (remote_start(&r) != 0)
		return 2;
	bool c = spool_handle_cancelled(r.timer);
	fprintf(stderr,
		"spool_handle_cancelled() from another thread returned %d\n",
		c);
	return 1;
}

static int remote_handle_release(void)
{
	struct remote r;
	if (remote_start(&r) != 0)
		return 2;
	spool_handle_release(r.timer);
	fprintf(stderr,
		"spool_handle_release() from another thread returned\n");
	return 1;
}

static int remote_destroy(void)
{
	struct remote r;
	if (remote_start(&r) != 0)
		return 2;
	spool_loop_destroy(r.loop);
	return 0;
}

/* ---- calls during and after destroy -------------------------------------
 *
 * A loop task that, cancelled by destroy, lets another thread call into the
 * loop and waits (blocking the loop's thread) until it has: destroy has
 * begun, so every call is refused with SPOOL_ESHUTDOWN. */
struct during {
	spool_loop *loop;
	spool_future *never;
	atomic_int stage; /* 1: destroy has begun; 2: the calls are made */
	int rc_threadsafe;
	spool_future *submitted, *in_executor;
};

static int lets_another_thread_call(void *arg, void **result)
{
	struct during *d = arg;
	(void)result;
	spool_loop_stop(d->loop);
	int rc = spool_future_wait(d->never, SPOOL_FOREVER);
	atomic_store(&d->stage, 1);
	while (atomic_load(&d->stage) != 2)
		spool_test_sleep_ns(MS / 10);
	return rc;
}

static void *calls_during_destroy(void *arg)
{
	struct during *d = arg;
	while (atomic_load(&d->stage) != 1)
		spool_test_sleep_ns(MS / 10);
	d->rc_threadsafe = spool_loop_call_soon_threadsafe(d->loop,
							   loop_count_cb, NULL);
	d->submitted = spool_submit(spool_loop_executor(d->loop), ok_task, &V1);
	d->in_executor = spool_loop_run_in_executor(
		d->loop, spool_executor_inline(), ok_task, &V1);
	atomic_store(&d->stage, 2);
	return NULL;
}

static int during_destroy(void)
{
	struct during d = {spool_test_loop_new(), promise(), 0, 1, NULL, NULL};
	spool_future *t = spool_test_loop_submit(d.loop,
						 lets_another_thread_call, &d);
	ck_assert_int_eq(spool_loop_run(d.loop), 0);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, calls_during_destroy, &d),
			 0);
	atomic_store(&ran, 0);
	spool_loop_destroy(d.loop);
	pthread_join(th, NULL);
	EXPECT_RC(d.rc_threadsafe, SPOOL_ESHUTDOWN);
	EXPECT_FAILED_WITH(d.submitted, SPOOL_ESHUTDOWN);
	EXPECT_FAILED_WITH(d.in_executor, SPOOL_ESHUTDOWN);
	EXPECT(atomic_load(&ran) == 0);
	spool_future_release(t);
	spool_future_release(d.never);
	return 0;
}

static int sleep_future_bad(void)
{
	spool_loop *loop = spool_test_loop_new();
	EXPECT_FAILED_WITH(spool_sleep_future(NULL, 1), SPOOL_EINVAL);
	EXPECT_FAILED_WITH(spool_sleep_future(loop, -1), SPOOL_EINVAL);
	EXPECT_FAILED_WITH(spool_sleep_future(loop, INT64_MIN), SPOOL_EINVAL);
	spool_loop_destroy(loop);
	return 0;
}

static int sleep_future_after_destroy(void)
{
	spool_loop *loop = NULL;
	if (spool_loop_create(&loop, NULL) != 0)
		return 2;
	spool_loop_destroy(loop);
	spool_future_release(spool_sleep_future(loop, 1));
	return 0;
}

static int threadsafe_after_destroy(void)
{
	spool_loop *loop = NULL;
	if (spool_loop_create(&loop, NULL) != 0)
		return 2;
	spool_loop_destroy(loop);
	spool_loop_call_soon_threadsafe(loop, loop_count_cb, NULL);
	return 0;
}

static int is_running_after_destroy(void)
{
	spool_loop *loop = NULL;
	if (spool_loop_create(&loop, NULL) != 0)
		return 2;
	spool_loop_destroy(loop);
	spool_loop_is_running(loop);
	return 0;
}

/* Documented already: the loop is not re-entrant, from any thread. */
static int remote_run(void)
{
	struct remote r;
	if (remote_start(&r) != 0)
		return 2;
	spool_future *f = spool_promise_new();
	int rc_run = spool_loop_run(r.loop);
	int rc_until = spool_loop_run_until_complete(r.loop, f);
	int bad = 0;
	if (rc_run != SPOOL_ESTATE || rc_until != SPOOL_ESTATE) {
		fprintf(stderr,
			"spool_loop_run gave %s, "
			"spool_loop_run_until_complete gave %s\n",
			spool_err_name(rc_run), spool_err_name(rc_until));
		bad = 1;
	}
	if (spool_future_state(f) != SPOOL_PENDING) {
		fprintf(stderr, "the future was touched\n");
		bad = 1;
	}
	remote_stop(&r);
	spool_future_release(f);
	return bad;
}

/* A loop whose coroutine is suspended on the thread that ran it (now
 * gone): running or destroying it on another thread aborts. */
static void *runs_stops_and_waits(void *arg)
{
	spool_loop_run(arg);
	return NULL;
}

static spool_loop *loop_with_suspended_coroutine(void)
{
	static struct stops_and_waits s;
	if (spool_loop_create(&s.loop, NULL) != 0)
		return NULL;
	s.never = spool_promise_new();
	spool_future *t = spool_submit(spool_loop_executor(s.loop),
				       stops_and_waits, &s);
	pthread_t th;
	if (!t || pthread_create(&th, NULL, runs_stops_and_waits, s.loop) != 0)
		return NULL;
	pthread_join(th, NULL);
	return spool_future_state(t) == SPOOL_RUNNING ? s.loop : NULL;
}

static int run_migrates(void)
{
	spool_loop *loop = loop_with_suspended_coroutine();
	if (!loop)
		return 2;
	spool_loop_run(loop);
	return 0;
}

static int destroy_migrates(void)
{
	spool_loop *loop = loop_with_suspended_coroutine();
	if (!loop)
		return 2;
	spool_loop_destroy(loop);
	return 0;
}

/* ====================================================================== */
/* debug.h                                                                 */
/* ====================================================================== */

/* The rows run in one process: each leaves debug mode off, the default
 * threshold and the default sink, as it found them. */
static atomic_int debug_seen;

static void debug_count(const spool_debug_report *r, void *arg)
{
	(void)r, (void)arg;
	atomic_fetch_add(&debug_seen, 1);
}

/* A failure released unread: one report when debug mode is on. */
static void debug_provoke(void)
{
	spool_future *f = promise();
	spool_promise_set_error(f, 7);
	spool_future_release(f);
}

static int debug_set_toggles(void)
{
	spool_debug_set(false);
	EXPECT(!spool_debug_enabled());
	spool_debug_set(true);
	spool_debug_set(true);
	EXPECT(spool_debug_enabled());
	spool_debug_set(false);
	EXPECT(!spool_debug_enabled());
	return 0;
}

static int debug_enabled_off(void)
{
	spool_debug_set(false);
	spool_debug_set_sink(debug_count, NULL);
	atomic_store(&debug_seen, 0);
	debug_provoke();
	spool_debug_set_sink(NULL, NULL);
	EXPECT(!spool_debug_enabled());
	EXPECT(atomic_load(&debug_seen) == 0);
	return 0;
}

static int debug_slow_negative(void)
{
	int64_t was = spool_debug_slow_duration();
	EXPECT_RC(spool_debug_set_slow_duration(-1), SPOOL_EINVAL);
	EXPECT_RC(spool_debug_set_slow_duration(INT64_MIN), SPOOL_EINVAL);
	EXPECT(spool_debug_slow_duration() == was);
	EXPECT_RC(spool_debug_set_slow_duration(0), 0);
	EXPECT(spool_debug_slow_duration() == 0);
	EXPECT_RC(spool_debug_set_slow_duration(was), 0);
	return 0;
}

static int debug_slow_default(void)
{
	EXPECT(spool_debug_slow_duration() == 100 * MS);
	return 0;
}

static int debug_sink_null(void)
{
	spool_debug_set_sink(debug_count, NULL);
	spool_debug_set_sink(NULL, &debug_seen); /* arg ignored */
	atomic_store(&debug_seen, 0);
	spool_debug_set(true);
	/* The report goes to stderr, not to the old sink. */
	fflush(stderr);
	int saved = dup(2), null = open("/dev/null", O_WRONLY);
	dup2(null, 2);
	debug_provoke();
	dup2(saved, 2);
	close(null);
	close(saved);
	spool_debug_set(false);
	EXPECT(atomic_load(&debug_seen) == 0);
	return 0;
}

/* ====================================================================== */
/* the table                                                               */
/* ====================================================================== */

/* SECTION names the part of the table a row is in (a header). */
#define ROW(fn, input, answer, promise, run)                                   \
	{                                                                      \
		SECTION, fn, input, answer, promise, CALL, run, NULL           \
	}
#define ABORT(fn, input, rule, promise, run)                                   \
	{                                                                      \
		SECTION, fn, input, "abort: misuse of " fn "()", promise,      \
			MISUSE, run, rule                                      \
	}
#define IN_CHILD(fn, input, answer, promise, run)                              \
	{                                                                      \
		SECTION, fn, input, answer, promise, CHILD, run, NULL          \
	}

/* clang-format off */
static const struct row rows[] = {
#define SECTION "future.h"
ABORT("spool_future_state", "NULL", "NULL future", "future.h: a NULL f aborts with a message", state_null),
ROW("spool_future_done", "NULL", "false", "future.h: false for NULL", done_null),
ROW("spool_future_error", "NULL", "SPOOL_EINVAL", "future.h: SPOOL_EINVAL for NULL", error_null),
ROW("spool_future_error", "a PENDING promise", "SPOOL_EAGAIN, f untouched", "future.h: SPOOL_EAGAIN while not final", error_pending),
ROW("spool_future_value", "NULL", "NULL", "future.h: NULL in any other state or for NULL", value_null),
ROW("spool_future_value", "a FAILED future", "NULL", "future.h: NULL in any other state", value_failed),
ROW("spool_future_id", "NULL", "0", "future.h: 0 for NULL", id_null),
ROW("spool_future_retain", "NULL", "NULL", "future.h: NULL stays NULL", retain_null),
ROW("spool_future_release", "NULL", "no-op", "future.h: NULL is a no-op", release_null),
ABORT("spool_future_release", "a promise released twice", NULL, "future.h: releasing more often than retaining aborts with a message", release_promise_twice),
ABORT("spool_future_release", "a promise retained once, released three times", NULL, "future.h: releasing more often than retaining aborts with a message", release_promise_retained_thrice),
ABORT("spool_future_release", "a DONE gather released twice", NULL, "future.h: releasing more often than retaining aborts with a message", release_gather_twice),
ABORT("spool_future_release", "a driven promise released twice", NULL, "future.h: releasing more often than retaining aborts with a message", release_driven_twice),
ROW("spool_future_add_callback", "NULL f", "SPOOL_EINVAL", "future.h: SPOOL_EINVAL (NULL f or fn)", add_callback_null_f),
ROW("spool_future_add_callback", "NULL fn", "SPOOL_EINVAL, nothing added", "future.h: SPOOL_EINVAL (NULL f or fn)", add_callback_null_fn),
ROW("spool_future_cancel", "NULL", "SPOOL_EINVAL", "future.h: SPOOL_EINVAL for NULL", cancel_null),
ROW("spool_future_cancel", "a DONE future", "SPOOL_ESTATE, stays DONE with its value", "future.h: DONE, FAILED -> no change; SPOOL_ESTATE", cancel_done),
ROW("spool_future_cancel", "a FAILED future", "SPOOL_ESTATE, stays FAILED with its error", "future.h: DONE, FAILED -> no change; SPOOL_ESTATE", cancel_failed),
ROW("spool_future_cancel", "a CANCELLED future", "0, no change", "future.h: CANCELLED -> no change, returns 0", cancel_cancelled),
ROW("spool_future_cancel", "a RUNNING promise", "SPOOL_EBUSY, stays RUNNING, request flag raised", "future.h: RUNNING -> raises the request flag; SPOOL_EBUSY", cancel_running_promise),
ROW("spool_future_cancel_requested", "NULL", "false", "future.h: true if cancellation was requested on f", cancel_requested_null),
ROW("spool_cancel_requested", "outside any task", "false", "future.h: false outside a task", cancel_requested_outside),
ROW("spool_current_future", "outside any task", "NULL", "future.h: NULL outside a task", current_outside),
ROW("spool_future_wait", "NULL f, timeout 0 and SPOOL_FOREVER", "SPOOL_EINVAL", "future.h: SPOOL_EINVAL for NULL f", wait_null),
ROW("spool_future_wait", "timeout -1", "SPOOL_EINVAL, f untouched", "common.h: other negative values are SPOOL_EINVAL", wait_negative),
ROW("spool_future_wait", "timeout INT64_MIN", "SPOOL_EINVAL", "common.h: other negative values are SPOOL_EINVAL", wait_int64_min),
ROW("spool_future_wait", "timeout 0, f PENDING", "SPOOL_ETIMEDOUT, f untouched", "future.h: SPOOL_ETIMEDOUT when the time passed first (f is untouched)", wait_zero_pending),
ROW("spool_future_wait", "timeout 0 and SPOOL_FOREVER, f FAILED", "0", "future.h: 0 when f is final, whatever its outcome", wait_final),
ROW("spool_future_wait", "SPOOL_FOREVER in a loop callback, f PENDING", "SPOOL_EDEADLK, f untouched", "future.h: SPOOL_EDEADLK on the loop thread outside a coroutine", wait_on_loop_thread),
ROW("spool_future_wait", "a pool task waits for its own future, SPOOL_FOREVER", "SPOOL_EDEADLK", "future.h: a wait that can never finish is SPOOL_EDEADLK", pool_wait_self),
ROW("spool_future_wait", "a loop task, on the loop's thread after spool_loop_run returned, SPOOL_FOREVER", "SPOOL_EDEADLK, the task untouched", "future.h: a wait that can never finish is SPOOL_EDEADLK", loop_wait_after_run),
ROW("spool_future_result", "NULL f", "SPOOL_EINVAL, *value NULL", "future.h: any error of the wait; *value is set to NULL unless the result is 0", result_null),
ROW("spool_future_result", "timeout -1", "SPOOL_EINVAL, *value NULL", "future.h: *value is set to NULL unless the result is 0", result_negative),
ROW("spool_future_result", "timeout 0, f PENDING", "SPOOL_ETIMEDOUT, *value NULL, f untouched", "future.h: *value is set to NULL unless the result is 0", result_zero_pending),
ROW("spool_future_result", "SPOOL_FOREVER, f FAILED with 7", "7, *value NULL", "future.h: the task's error for FAILED", result_failed_forever),
ROW("spool_future_result", "value NULL", "0", "future.h: value may be NULL", result_null_value),
ROW("spool_future_result", "SPOOL_FOREVER in a loop callback, f PENDING", "SPOOL_EDEADLK, *value NULL", "future.h: SPOOL_EDEADLK on the loop thread outside a coroutine", result_on_loop_thread),
ROW("spool_future_result", "a pool task on its own future, SPOOL_FOREVER", "SPOOL_EDEADLK, *value NULL", "future.h: a wait that can never finish is SPOOL_EDEADLK", pool_result_self),
ROW("spool_future_result", "a loop task, on the loop's thread after spool_loop_run returned, SPOOL_FOREVER", "SPOOL_EDEADLK, *value NULL", "future.h: a wait that can never finish is SPOOL_EDEADLK", loop_result_after_run),
ROW("spool_promise_start", "NULL", "SPOOL_EINVAL", "future.h: SPOOL_EINVAL for NULL", start_null),
ROW("spool_promise_start", "a RUNNING promise", "SPOOL_ESTATE, stays RUNNING", "future.h: SPOOL_ESTATE if it already runs or is final", start_twice),
ROW("spool_promise_start", "a CANCELLED promise", "SPOOL_ECANCELLED", "future.h: SPOOL_ECANCELLED if it was cancelled meanwhile", start_cancelled),
ROW("spool_promise_start", "a DONE promise", "SPOOL_ESTATE", "future.h: SPOOL_ESTATE if it already runs or is final", start_done),
ROW("spool_promise_set_result", "NULL", "SPOOL_EINVAL", "future.h: SPOOL_EINVAL for NULL", set_result_null),
ROW("spool_promise_set_result", "a DONE promise", "SPOOL_ESTATE, the first value kept", "future.h: SPOOL_ESTATE if f was already final (nothing changes)", set_result_final),
ROW("spool_promise_set_result", "a CANCELLED promise", "SPOOL_ESTATE, stays CANCELLED", "future.h: SPOOL_ESTATE if f was already final (nothing changes)", set_result_cancelled),
ROW("spool_promise_set_error", "NULL", "SPOOL_EINVAL", "future.h: SPOOL_EINVAL for NULL", set_error_null),
ROW("spool_promise_set_error", "err 0", "SPOOL_EINVAL, f stays PENDING", "future.h: err == 0 is SPOOL_EINVAL (f is left as it was)", set_error_zero),
ROW("spool_promise_set_error", "err INT_MAX", "0, FAILED with INT_MAX", "future.h: a positive task code makes it FAILED", set_error_int_max),
ROW("spool_promise_set_error", "a DONE promise", "SPOOL_ESTATE, the value kept", "future.h: otherwise as set_result", set_error_final),
ROW("spool_promise_new_driven", "NULL driver or NULL poll", "NULL", "future.h: NULL ... for a NULL d or d->poll", driven_null),
ROW("spool_promise_new_driven", "a wait that times out while poll gives up", "SPOOL_ETIMEDOUT, still a promise to complete", "future.h: the wait goes on as for any promise", driven_timeout),
#define NOT_A_PROMISE_ROWS(fn, op, what, ...)                                  \
	ROW(fn, "a gather's future" what, "SPOOL_EINVAL, nothing changes", "future.h: only promises; other futures: SPOOL_EINVAL and nothing changes", np_GATHER_##op), \
	ROW(fn, "a map's future" what, "SPOOL_EINVAL, nothing changes", "future.h: only promises; other futures: SPOOL_EINVAL and nothing changes", np_MAP_##op), \
	ROW(fn, "a then's future" what, "SPOOL_EINVAL, nothing changes", "future.h: only promises; other futures: SPOOL_EINVAL and nothing changes", np_THEN_##op), \
	ROW(fn, "a group task's future" what, "SPOOL_EINVAL, nothing changes", "future.h: only promises; other futures: SPOOL_EINVAL and nothing changes", np_GROUP_##op), \
	ROW(fn, "a loop task's future" what, "SPOOL_EINVAL, nothing changes", "future.h: only promises; other futures: SPOOL_EINVAL and nothing changes", np_LOOP_##op), \
	ROW(fn, "a running pool task's future" what, "SPOOL_EINVAL, nothing changes", "future.h: a pool's future is completed only by the pool: SPOOL_EINVAL", np_POOL_##op)
NOT_A_PROMISE_ROWS("spool_promise_set_result", SET_RESULT, ""),
NOT_A_PROMISE_ROWS("spool_promise_set_error", SET_ERROR, ", err 9"),
NOT_A_PROMISE_ROWS("spool_promise_start", START, ""),
NOT_A_PROMISE_ROWS("spool_promise_set_error_detail", SET_ERROR_DETAIL, ", err 9"),
ROW("spool_promise_new", "no input", "a PENDING future with an id", "future.h: a new PENDING future; NULL only when out of memory", promise_new_pending),
ROW("spool_debug_live_futures", "a test build", "the count of live futures", "future.h: counted in builds with SPOOL_DEBUG_COUNTERS", live_counts),

#undef SECTION
#define SECTION "fail.h"
ABORT("spool_fail", "code 0", "code 0 is not a failure", "fail.h: code 0 is a caller bug (0 is success) and aborts", fail_zero),
ROW("spool_fail", "outside a task", "the code, nothing recorded", "fail.h: called outside a task, it records nothing and returns code all the same", fail_outside),
ROW("spool_fail", "fmt NULL", "FAILED, no message", "fail.h: fmt NULL: no message", fail_no_fmt),
ABORT("spool_fail_with", "code 0", "code 0 is not a failure", "fail.h: code 0 aborts as in spool_fail()", fail_with_zero),
ROW("spool_fail_with", "outside a task; NULL dtor", "the code; dtor(payload) once before it returns", "fail.h: or at once, before this returns, when nothing is recorded", fail_with_outside),
ROW("spool_fail_with", "SPOOL_ECANCELLED in a task", "CANCELLED, no detail, dtor(payload) once", "fail.h: with SPOOL_ECANCELLED (a cancel carries no detail) it records nothing", fail_cancelled),
ROW("spool_fail_take", "outside a task; code 0", "NULL; code 0 drops the detail (dtor once)", "fail.h: NULL otherwise: outside a task, nothing recorded, code 0 or another code (the detail is dropped all the same)", fail_take_bad),
ROW("spool_promise_set_error_detail", "NULL", "SPOOL_EINVAL", "fail.h: SPOOL_EINVAL for NULL f", set_error_detail_null),
ROW("spool_promise_set_error_detail", "err 0; SPOOL_ECANCELLED", "SPOOL_EINVAL, f stays PENDING, dtor not called", "fail.h: on every error f is left as it was and the payload stays the caller's", set_error_detail_zero),
ROW("spool_promise_set_error_detail", "a DONE promise", "SPOOL_ESTATE, the value kept, dtor not called", "fail.h: SPOOL_ESTATE when f is already final", set_error_detail_final),
ROW("spool_future_error_message", "NULL; PENDING; DONE; FAILED with a bare code", "NULL", "fail.h: NULL when f is NULL, not FAILED, or its failure has no message", error_message_bad),
ROW("spool_future_error_payload", "NULL; PENDING; FAILED with a bare code", "NULL", "fail.h: NULL when f is NULL, not FAILED, or its failure has none", error_payload_bad),

#undef SECTION
#define SECTION "executor.h"
ROW("spool_submit", "NULL ex", "a future FAILED with SPOOL_EINVAL, fn not run", "executor.h: a NULL ex or fn gives a future already FAILED with SPOOL_EINVAL", submit_null_ex),
ROW("spool_submit", "NULL fn; NULL ex and fn", "a future FAILED with SPOOL_EINVAL", "executor.h: a NULL ex or fn gives a future already FAILED with SPOOL_EINVAL", submit_null_fn),
ROW("spool_submit_labeled", "NULL ex; NULL fn", "a future FAILED with SPOOL_EINVAL, fn not run", "executor.h: as spool_submit()", submit_labeled_null),
ROW("spool_submit", "a pool after spool_pool_shutdown, from outside", "a future FAILED with SPOOL_ESHUTDOWN, fn not run", "executor.h: a shut-down executor gives one FAILED with SPOOL_ESHUTDOWN", submit_after_pool_shutdown),
ROW("spool_submit", "a loop whose destroy has begun, from inside the loop", "a future FAILED with SPOOL_ESHUTDOWN, fn not run", "loop.h: after destroy has begun, submissions from inside the loop get a future FAILED with SPOOL_ESHUTDOWN", submit_during_loop_destroy),
ROW("spool_submit_copy", "NULL ex; NULL fn; NULL arg with size 8", "a future FAILED with SPOOL_EINVAL, fn not run", "executor.h: NULL ex or fn, or NULL arg with size > 0, gives a future FAILED with SPOOL_EINVAL", submit_copy_bad),
ROW("spool_submit_copy", "a pool after spool_pool_shutdown, small and large copies", "a future FAILED with SPOOL_ESHUTDOWN, fn not run", "executor.h: a shut-down executor one FAILED with SPOOL_ESHUTDOWN", submit_copy_after_shutdown),
ROW("spool_submit_owned", "NULL ex; NULL fn; NULL ex and dtor", "a future FAILED with SPOOL_EINVAL, dtor run once before return", "executor.h: refused (NULL ex or fn: SPOOL_EINVAL): dtor is called before this call returns", submit_owned_bad),
ROW("spool_submit_owned", "a pool after spool_pool_shutdown", "a future FAILED with SPOOL_ESHUTDOWN, dtor run once before return", "executor.h: an executor shut down: SPOOL_ESHUTDOWN, dtor called before this call returns", submit_owned_after_shutdown),
ROW("spool_current_executor", "a plain thread; a loop that is not running", "NULL", "executor.h: NULL on any other thread", current_executor_outside),
ROW("spool_executor_inline", "called twice", "the same static executor, runs before submit returns", "executor.h: a process-wide static", inline_is_static),
ROW("spool_run_task", "NULL f", "SPOOL_EINVAL, fn not run", "executor.h: NULL f or fn is SPOOL_EINVAL; fn does not run then", run_task_null_f),
ROW("spool_run_task", "NULL fn", "SPOOL_EINVAL, f stays PENDING", "executor.h: NULL f or fn is SPOOL_EINVAL", run_task_null_fn),
ROW("spool_run_task", "a DONE promise", "SPOOL_ESTATE, fn not run", "executor.h: else SPOOL_ESTATE, and fn does not run", run_task_done),
ROW("spool_run_task", "a RUNNING promise", "SPOOL_ESTATE, fn not run", "executor.h: else SPOOL_ESTATE, and fn does not run", run_task_running),
ROW("spool_run_task", "a CANCELLED promise", "SPOOL_ECANCELLED, fn not run", "executor.h: f must be PENDING (else SPOOL_ECANCELLED if it was cancelled); fn does not run then", run_task_cancelled),
ROW("spool_run_task", "a then's PENDING future (not a promise)", "SPOOL_EINVAL, fn not run, f untouched", "executor.h: f must have been made with spool_promise_new() (any other future is SPOOL_EINVAL)", run_task_not_a_promise),

#undef SECTION
#define SECTION "pool.h"
ROW("spool_pool_create", "NULL out", "SPOOL_EINVAL", "pool.h: SPOOL_EINVAL (NULL out, negative workers)", pool_create_null_out),
ROW("spool_pool_create", "workers -1", "SPOOL_EINVAL, *out NULL, no thread left", "pool.h: *out is set to NULL; SPOOL_EINVAL (negative workers)", pool_create_minus_one),
ROW("spool_pool_create", "workers INT_MIN", "SPOOL_EINVAL, *out NULL, no thread left", "pool.h: *out is set to NULL; SPOOL_EINVAL (negative workers)", pool_create_int_min),
ROW("spool_pool_create", "workers INT_MAX", "SPOOL_ENOMEM or SPOOL_ESYS, *out NULL, no thread left", "pool.h: SPOOL_ENOMEM or SPOOL_ESYS; nothing is left running", pool_create_int_max),
ROW("spool_pool_create", "a name longer than 15 bytes", "0 (the name is cut)", "pool.h: a long prefix is cut", pool_create_long_name),
ROW("spool_pool_executor", "NULL", "NULL", "pool.h: returns NULL for a NULL p", pool_executor_null),
ROW("spool_pool_workers", "NULL", "SPOOL_EINVAL", "pool.h: SPOOL_EINVAL for NULL", pool_workers_null),
ROW("spool_pool_workers", "a pool made with workers 0", ">= 1", "pool.h: 0: the number of online CPUs, at least 1", pool_workers_zero),
ROW("spool_pool_shutdown", "NULL", "SPOOL_EINVAL", "pool.h: SPOOL_EINVAL (NULL p or unknown flags)", pool_shutdown_null),
ROW("spool_pool_shutdown", "flags 4 (unknown)", "SPOOL_EINVAL", "pool.h: SPOOL_EINVAL (NULL p or unknown flags)", pool_shutdown_flag_4),
ROW("spool_pool_shutdown", "flags UINT_MAX", "SPOOL_EINVAL", "pool.h: SPOOL_EINVAL (NULL p or unknown flags)", pool_shutdown_uint_max),
ROW("spool_pool_shutdown", "called three times", "0 each time", "pool.h: may be called several times", pool_shutdown_twice),
ROW("spool_pool_shutdown", "SPOOL_SHUTDOWN_WAIT from one of its workers", "SPOOL_EDEADLK; the shutdown is started; the worker may still submit", "pool.h: SPOOL_EDEADLK: the shutdown is still started, only the wait is refused", pool_shutdown_wait_from_worker),
ROW("spool_pool_destroy", "NULL", "no-op", "pool.h: NULL is a harmless no-op", pool_destroy_null),
ABORT("spool_pool_destroy", "from one of its workers", NULL, "pool.h: calling it from one of p's own workers aborts with a message", pool_destroy_from_worker),
ROW("spool_pool_stats_get", "NULL p; NULL out", "SPOOL_EINVAL", "pool.h: SPOOL_EINVAL (NULL p or out)", pool_stats_null),
ROW("spool_pool_stats_get", "after spool_pool_shutdown(WAIT)", "0, exact counts", "pool.h: after shutdown(WAIT) they are exact", pool_stats_after_shutdown),
ROW("spool_join", "NULL pool; NULL a; NULL b", "SPOOL_EINVAL, nothing runs", "pool.h: SPOOL_EINVAL, running nothing, for a NULL pool, a or b", join_null),
ROW("spool_join", "from outside, after spool_pool_shutdown", "SPOOL_ESHUTDOWN, nothing runs", "pool.h: after spool_pool_shutdown() this returns SPOOL_ESHUTDOWN at once and neither half runs", join_after_shutdown),
ROW("spool_scope_begin", "NULL s; NULL pool", "SPOOL_EINVAL", "pool.h: SPOOL_EINVAL for a NULL s or pool", scope_begin_null),
ABORT("spool_scope_begin", "a scope already open", "already open", "pool.h: beginning a scope that is open is a caller bug and aborts with a message", scope_begin_open),
ROW("spool_scope_spawn", "NULL s; NULL fn (and spool_scope_spawn_in with NULL s, job or fn)", "SPOOL_EINVAL, nothing runs, the scope unaffected", "pool.h: SPOOL_EINVAL (NULL s or fn); fn has not run; the scope is unaffected", scope_spawn_null),
ABORT("spool_scope_spawn", "after spool_scope_wait", "not open", "pool.h: spawning into a scope that is not open is a caller bug and aborts with a message", scope_spawn_closed),
ROW("spool_scope_spawn", "from outside, after spool_pool_shutdown (and spool_scope_spawn_in)", "SPOOL_ESHUTDOWN, fn never runs", "pool.h: SPOOL_ESHUTDOWN (from a thread outside the pool after spool_pool_shutdown()); fn will not run", scope_spawn_after_shutdown),
ABORT("spool_scope_spawn_in", "after spool_scope_wait", "not open", "pool.h: same rules as spool_scope_spawn: a scope that is not open aborts", scope_spawn_in_closed),
ROW("spool_scope_wait", "NULL", "SPOOL_EINVAL", "pool.h: SPOOL_EINVAL for a NULL s", scope_wait_null),
ABORT("spool_scope_wait", "called twice", "not open", "pool.h: on a scope that is not open: a caller bug, aborts with a message", scope_wait_twice),
ABORT("spool_scope_wait", "from inside one of the scope's own spawns", "own spawns", "pool.h: from inside one of s's own spawns: a caller bug, aborts with a message", scope_wait_in_spawn),
ROW("spool_for", "NULL pool; NULL fn; grain -1; grain INT64_MIN", "SPOOL_EINVAL, nothing runs", "pool.h: SPOOL_EINVAL (NULL pool or fn, negative grain; nothing runs)", for_bad),
ROW("spool_for", "begin == end; begin > end", "0, fn never called", "pool.h: nothing happens for begin >= end", for_empty),
ROW("spool_for", "from outside, after spool_pool_shutdown", "SPOOL_ESHUTDOWN, fn never called", "pool.h: SPOOL_ESHUTDOWN after shutdown", for_after_shutdown),

#undef SECTION
#define SECTION "loop.h"
ROW("spool_loop_create", "NULL out", "SPOOL_EINVAL", "loop.h: SPOOL_EINVAL (NULL out, bad options)", loop_create_null_out),
ROW("spool_loop_create", "stack_size 1", "SPOOL_EINVAL", "loop.h: less than 16 KiB is SPOOL_EINVAL", loop_stack_one),
ROW("spool_loop_create", "stack_size 12 KiB", "SPOOL_EINVAL", "loop.h: less than 16 KiB is SPOOL_EINVAL", loop_stack_small),
ROW("spool_loop_create", "stack_size 1 GiB + 1", "SPOOL_EINVAL", "loop.h: more than 1 GiB is SPOOL_EINVAL", loop_stack_big),
ROW("spool_loop_create", "stack_size SIZE_MAX", "SPOOL_EINVAL", "loop.h: more than 1 GiB is SPOOL_EINVAL", loop_stack_size_max),
ROW("spool_loop_create", "stack_cache SIZE_MAX", "0, a working loop", "loop.h: how many stacks stay committed for reuse", loop_stack_cache_max),
ROW("spool_loop_destroy", "NULL", "no-op", "loop.h: NULL is a no-op", loop_destroy_null),
ABORT("spool_loop_destroy", "from a callback of the loop", NULL, "loop.h: not from inside the loop: caller bugs, abort with a message", loop_destroy_in_callback),
ABORT("spool_loop_destroy", "from a coroutine of the loop", NULL, "loop.h: not from inside the loop: caller bugs, abort with a message", loop_destroy_in_coroutine),
ABORT("spool_loop_destroy", "on a thread other than its suspended coroutines'", "another thread", "loop.h: call it on the thread that started its suspended coroutines: abort with a message", destroy_migrates),
ROW("spool_loop_run", "NULL", "SPOOL_EINVAL", "loop.h: SPOOL_EINVAL for NULL", loop_run_null),
ROW("spool_loop_run", "from its own callback; another loop from a callback", "SPOOL_ESTATE", "loop.h: SPOOL_ESTATE when this loop, or another loop on this thread, is already running", loop_run_nested),
ROW("spool_loop_run", "after spool_loop_stop", "0 after one iteration", "loop.h: if stop was called before, runs one iteration and returns", loop_run_after_stop),
ABORT("spool_loop_run", "on a thread other than its suspended coroutines'", "another thread", "loop.h: running it on a thread other than the one that started its suspended coroutines aborts", run_migrates),
ROW("spool_loop_run_until_complete", "NULL loop; NULL f", "SPOOL_EINVAL, f untouched", "loop.h: SPOOL_EINVAL for NULL", loop_until_null),
ROW("spool_loop_run_until_complete", "f already FAILED with 7", "7 without running the loop", "loop.h: returns at once, without running the loop, if f is already final", loop_until_final),
ROW("spool_loop_run_until_complete", "stopped before f completes", "SPOOL_EAGAIN, f untouched", "loop.h: SPOOL_EAGAIN if the loop was stopped before f completed (f is untouched)", loop_until_stopped),
ROW("spool_loop_stop", "NULL", "no-op", "loop.h: NULL is a no-op", loop_stop_null),
ROW("spool_loop_is_running", "NULL; a loop not running", "false", "loop.h: true while spool_loop_run() is active", loop_is_running_null),
ROW("spool_loop_current", "outside any loop", "NULL", "loop.h: NULL when none is", loop_current_outside),
ROW("spool_loop_time", "any thread", "CLOCK_MONOTONIC ns", "loop.h: CLOCK_MONOTONIC in nanoseconds; any thread", loop_time_any_thread),
ROW("spool_loop_executor", "NULL", "NULL", "loop.h: borrowed; NULL loop has none", loop_executor_null),
ROW("spool_loop_call_soon", "NULL loop; NULL fn", "SPOOL_EINVAL, no handle", "loop.h: SPOOL_EINVAL (NULL loop or fn)", call_soon_null),
ROW("spool_loop_call_later", "NULL loop; NULL fn", "SPOOL_EINVAL, no handle", "loop.h: otherwise as call_soon", call_later_null),
ROW("spool_loop_call_later", "delay -1", "SPOOL_EINVAL, no handle, never runs", "loop.h: delay_ns < 0 is SPOOL_EINVAL", call_later_minus_one),
ROW("spool_loop_call_later", "delay INT64_MIN", "SPOOL_EINVAL, no handle, never runs", "loop.h: delay_ns < 0 is SPOOL_EINVAL", call_later_int64_min),
ROW("spool_loop_call_later", "delay SPOOL_FOREVER", "0, never fires", "loop.h: SPOOL_FOREVER never fires", call_later_forever),
ROW("spool_loop_call_at", "NULL loop; NULL fn", "SPOOL_EINVAL, no handle", "loop.h: as call_later", call_at_null),
ROW("spool_loop_call_at", "time -1, nothing else scheduled", "runs in the next iteration", "loop.h: a time in the past runs in the next iteration", call_at_minus_one),
ROW("spool_loop_call_at", "time INT64_MIN, nothing else scheduled", "runs in the next iteration", "loop.h: a time in the past runs in the next iteration", call_at_int64_min),
ROW("spool_loop_call_at", "time 0, nothing else scheduled", "runs in the next iteration", "loop.h: a time in the past runs in the next iteration", call_at_zero),
ROW("spool_loop_call_at", "time SPOOL_FOREVER", "0, never fires", "loop.h: as call_later (SPOOL_FOREVER never fires)", call_at_forever),
ROW("spool_loop_call_soon_threadsafe", "NULL loop; NULL fn", "SPOOL_EINVAL", "loop.h: SPOOL_EINVAL", call_soon_threadsafe_null),
ROW("spool_handle_cancel", "NULL", "SPOOL_EINVAL", "loop.h: SPOOL_EINVAL for NULL", handle_cancel_null),
ROW("spool_handle_cancel", "twice", "0 both times, the callback never runs", "loop.h: cancelling twice is 0 too", handle_cancel_twice),
ROW("spool_handle_cancel", "a callback that already ran", "SPOOL_ESTATE", "loop.h: SPOOL_ESTATE if it already ran", handle_cancel_after_run),
ROW("spool_handle_cancel", "handles of a destroyed loop", "0; they report cancelled", "loop.h: handles stay valid until released, and report cancelled", handle_after_destroy),
ROW("spool_handle_cancelled", "NULL", "false", "loop.h: true if the handle was cancelled", handle_cancelled_null),
ROW("spool_handle_when", "NULL; a call_soon handle", "0", "loop.h: 0 for a call_soon handle", handle_when_null),
ROW("spool_handle_release", "NULL", "no-op", "loop.h: NULL is a no-op", handle_release_null),
ABORT("spool_handle_release", "twice, call_soon handle still scheduled", "released twice", "loop.h: releasing a handle twice is a caller bug: aborts with handle released twice", handle_release_twice_soon),
ABORT("spool_handle_release", "twice, timer handle still scheduled", "released twice", "loop.h: releasing a handle twice is a caller bug: aborts with handle released twice", handle_release_twice_timer),
ROW("spool_sleep", "-1; INT64_MIN", "SPOOL_EINVAL", "loop.h: SPOOL_EINVAL for ns < 0", sleep_negative),
ROW("spool_sleep", "-1 in a coroutine", "SPOOL_EINVAL", "loop.h: SPOOL_EINVAL for ns < 0", sleep_negative_in_coroutine),
ROW("spool_sleep", "0 outside a loop", "0 at once", "loop.h: returns 0", sleep_zero),
ROW("spool_sleep_future", "NULL loop; ns -1 and INT64_MIN", "a future FAILED with SPOOL_EINVAL", "loop.h: NULL loop or ns < 0 gives a future FAILED with SPOOL_EINVAL", sleep_future_bad),
ROW("spool_wait_readable", "fd -1", "SPOOL_EINVAL", "loop.h: SPOOL_EINVAL (bad descriptor)", rd_minus_one),
ROW("spool_wait_writable", "fd INT_MIN", "SPOOL_EINVAL", "loop.h: SPOOL_EINVAL (bad descriptor)", wr_int_min),
ROW("spool_wait_readable", "timeout -1 and INT64_MIN, thread and coroutine", "SPOOL_EINVAL", "loop.h: SPOOL_EINVAL (negative timeout)", rd_negative_timeout),
ROW("spool_wait_writable", "timeout -1 and INT64_MIN, thread and coroutine", "SPOOL_EINVAL", "loop.h: SPOOL_EINVAL (negative timeout)", wr_negative_timeout),
ROW("spool_wait_readable", "timeout 0 and SPOOL_FOREVER on a pipe", "SPOOL_ETIMEDOUT empty, 0 with data", "loop.h: a timeout of 0 only polls", rd_zero_empty),
ROW("spool_wait_readable", "SPOOL_FOREVER and 0 in a loop callback", "SPOOL_EDEADLK; 0 only polls", "loop.h: on the loop's thread outside a coroutine SPOOL_EDEADLK unless timeout_ns is 0", rd_on_loop_thread),
ROW("spool_wait_writable", "SPOOL_FOREVER in a loop callback", "SPOOL_EDEADLK", "loop.h: on the loop's thread outside a coroutine SPOOL_EDEADLK unless timeout_ns is 0", wr_on_loop_thread),
#define FD_TABLE_ROWS(name, what)                                              \
	ROW("spool_wait_readable", "fd " what ", SPOOL_FOREVER, a thread", "SPOOL_EINVAL", "loop.h: SPOOL_EINVAL (bad descriptor)", rd_##name##_plain), \
	ROW("spool_wait_writable", "fd " what ", SPOOL_FOREVER, a thread", "SPOOL_EINVAL", "loop.h: SPOOL_EINVAL (bad descriptor)", wr_##name##_plain), \
	ROW("spool_wait_readable", "fd " what ", 0 and SPOOL_FOREVER, a coroutine", "SPOOL_EINVAL, no table grown to fd", "loop.h: SPOOL_EINVAL (bad descriptor)", rd_##name##_coro), \
	ROW("spool_wait_writable", "fd " what ", 0 and SPOOL_FOREVER, a coroutine", "SPOOL_EINVAL, no table grown to fd", "loop.h: SPOOL_EINVAL (bad descriptor)", wr_##name##_coro)
FD_TABLE_ROWS(2_30, "2^30"),
FD_TABLE_ROWS(1e8, "100000000"),
FD_TABLE_ROWS(int_max, "INT_MAX"),
FD_TABLE_ROWS(closed, "closed"),
ROW("spool_wait_readable", "a closed fd a coroutine waited on before", "SPOOL_EINVAL", "loop.h: SPOOL_EINVAL (bad descriptor)", rd_closed_registered),
ROW("spool_wait_writable", "a closed fd a coroutine waited on before", "SPOOL_EINVAL", "loop.h: SPOOL_EINVAL (bad descriptor)", wr_closed_registered),
ROW("spool_loop_run_in_executor", "NULL loop; NULL ex; NULL fn", "a future FAILED with SPOOL_EINVAL, fn not run", "loop.h: a NULL loop, ex or fn gives a future FAILED with SPOOL_EINVAL", rie_null),
ROW("spool_loop_run_in_executor", "a shut-down pool", "a future FAILED with SPOOL_ESHUTDOWN, fn not run", "loop.h: completed with fn's outcome; executor.h: a shut-down executor fails with SPOOL_ESHUTDOWN", rie_shut_down_pool),

#undef SECTION
#define SECTION "combinators.h"
ROW("spool_gather", "fs NULL, n 0", "a DONE gather, value NULL, size 0", "combinators.h: n = 0 gives a gather already DONE; NULL when n is 0", gather_empty),
ROW("spool_gather", "fs NULL, n 1 and SIZE_MAX", "a future FAILED with SPOOL_EINVAL", "combinators.h: fs may be NULL only when n is 0", gather_null_fs),
ROW("spool_gather", "a NULL entry", "a future FAILED with SPOOL_EINVAL, no input touched", "combinators.h: a NULL entry is SPOOL_EINVAL, and no input is touched", gather_null_entry),
ROW("spool_gather", "flags 2 (unknown)", "a future FAILED with SPOOL_EINVAL, no input touched", "combinators.h: an unknown flag is SPOOL_EINVAL", gather_bad_flag),
ROW("spool_gather_size", "NULL; a promise", "0", "combinators.h: 0 for NULL or any other future", gather_size_null),
ROW("spool_gather_result", "NULL g; a promise; i = n; i = SIZE_MAX", "SPOOL_EINVAL, *value NULL", "combinators.h: SPOOL_EINVAL for NULL g, not a gather, or i >= size; *value NULL unless 0", gather_result_bad),
ROW("spool_gather_result", "a gather not yet final", "SPOOL_EAGAIN, *value NULL", "combinators.h: while g is not final: SPOOL_EAGAIN", gather_result_pending),
ROW("spool_gather_child", "NULL; a promise; i = n; i = SIZE_MAX", "NULL, the gather and its input untouched", "combinators.h: NULL for NULL g, a future that is not a gather, or i >= spool_gather_size(g)", gather_child_bad),
ROW("spool_wait", "fs NULL, n 0, SPOOL_FOREVER", "0 at once, counts 0", "combinators.h: so is n = 0, which returns at once", wait_empty),
ROW("spool_wait_split", "fs NULL; a NULL entry; when 3; timeout -1", "SPOOL_EINVAL, nothing written, inputs untouched", "combinators.h: SPOOL_EINVAL (nothing written)", wait_split_bad),
ROW("spool_wait", "fs NULL, n SIZE_MAX", "SPOOL_EINVAL, nothing written", "combinators.h: SPOOL_EINVAL for bad input (nothing written)", wait_null_huge),
ROW("spool_wait", "a NULL entry", "SPOOL_EINVAL, nothing written, inputs untouched", "combinators.h: SPOOL_EINVAL for bad input (nothing written)", wait_null_entry),
ROW("spool_wait", "when 3; when -1", "SPOOL_EINVAL, nothing written", "combinators.h: SPOOL_EINVAL for an unknown when (nothing written)", wait_bad_when),
ROW("spool_wait", "timeout -1", "SPOOL_EINVAL, nothing written", "combinators.h: a negative timeout is SPOOL_EINVAL", wait_negative_timeout),
ROW("spool_wait", "timeout 0, one input pending", "0, the report shows it pending", "combinators.h: a timeout is not an error: the report shows what is pending", wait_zero_timeout),
ROW("spool_wait", "SPOOL_FOREVER in a loop callback, one input pending", "SPOOL_EDEADLK, the report filled in", "combinators.h: SPOOL_EDEADLK on a loop thread outside a coroutine, with the report filled in", wait_on_loop),
ROW("spool_as_completed_create", "NULL out; fs NULL with n SIZE_MAX; timeout -1; a NULL entry", "SPOOL_EINVAL, nothing created", "combinators.h: SPOOL_EINVAL for bad input or a NULL out (nothing created)", ac_create_bad),
ROW("spool_as_completed_create", "n 0", "0; next gives SPOOL_EOF", "combinators.h: SPOOL_EOF when every input has been handed back", ac_empty),
ROW("spool_as_completed_next", "NULL it; NULL f", "SPOOL_EINVAL, *f NULL, nothing lost", "combinators.h: SPOOL_EINVAL for NULL it or f; *f is NULL unless 0", ac_next_null),
ROW("spool_as_completed_next", "past the deadline (timeout 0)", "SPOOL_ETIMEDOUT, then at every call", "combinators.h: SPOOL_ETIMEDOUT, and from then on at every call", ac_timed_out),
ROW("spool_as_completed_next", "SPOOL_FOREVER in a loop callback", "SPOOL_EDEADLK, the iterator stays usable", "combinators.h: the wait's own errors (SPOOL_EDEADLK; the iterator stays usable)", ac_on_loop),
ABORT("spool_as_completed_next", "from two threads at once", "two threads", "combinators.h: calling it from two threads at once aborts with a message", ac_two_consumers),
ROW("spool_as_completed_destroy", "NULL", "no-op", "combinators.h: NULL is a no-op", ac_destroy_null),
ROW("spool_wait_for", "NULL f", "SPOOL_EINVAL, *value NULL", "combinators.h: SPOOL_EINVAL for NULL f", wait_for_null),
ROW("spool_wait_for", "timeout -1", "SPOOL_EINVAL, f untouched", "combinators.h: SPOOL_EINVAL for a negative timeout", wait_for_negative),
ROW("spool_wait_for", "timeout 0, f a PENDING promise", "SPOOL_ETIMEDOUT, f CANCELLED", "combinators.h: otherwise cancels f, waits until f is final, SPOOL_ETIMEDOUT", wait_for_zero),
ROW("spool_wait_for", "timeout 0 and SPOOL_FOREVER, f DONE", "0, *value set", "combinators.h: if f is final in time, its outcome", wait_for_final),
ROW("spool_wait_for", "SPOOL_FOREVER in a loop callback", "SPOOL_EDEADLK, f untouched", "combinators.h: SPOOL_EDEADLK on a loop thread outside a coroutine (f untouched)", wait_for_on_loop),
ROW("spool_map", "NULL ex; NULL fn; NULL args with n 1 and SIZE_MAX", "a future FAILED with SPOOL_EINVAL, nothing run", "combinators.h: a NULL ex or fn gives a future FAILED with SPOOL_EINVAL; args not NULL when n > 0", map_null),
ROW("spool_map", "n 0", "a DONE future, size 0", "combinators.h: n = 0 gives a future already DONE", map_empty),
ROW("spool_map", "n SIZE_MAX", "NULL (out of memory), nothing run", "combinators.h: NULL only when out of memory", map_huge_n),
ROW("spool_map", "max_in_flight SIZE_MAX", "DONE with every result", "combinators.h: at most max_in_flight started at any moment", map_window_max),
ROW("spool_shield", "NULL f", "a future FAILED with SPOOL_EINVAL", "combinators.h: a future FAILED with SPOOL_EINVAL for NULL f", shield_null),
ROW("spool_shield", "the shield cancelled, f a PENDING promise", "shield CANCELLED; f PENDING, no request", "combinators.h: cancelling it ends the shield CANCELLED at once and leaves f running", shield_cancelled),
ROW("spool_then", "NULL f; NULL ex; NULL fn", "a future FAILED with SPOOL_EINVAL, fn not run", "combinators.h: NULL f, ex or fn gives a future FAILED with SPOOL_EINVAL", then_null),
ROW("spool_then", "a shut-down pool", "FAILED with SPOOL_ESHUTDOWN, fn never runs", "combinators.h: if ex refuses the task (shut down) the continuation fails with ex's error", then_shut_down),

#undef SECTION
#define SECTION "group.h"
ROW("spool_group_create", "NULL out; NULL ex", "SPOOL_EINVAL", "group.h: SPOOL_EINVAL (NULL out or ex)", group_create_bad),
ROW("spool_group_create", "max_running SIZE_MAX", "0, a working group", "group.h: max_running limits the tasks running at once", group_create_max),
ROW("spool_group_spawn", "NULL g; NULL fn", "SPOOL_EINVAL, nothing run", "group.h: SPOOL_EINVAL for NULL g or fn", group_spawn_null),
ROW("spool_group_spawn", "after spool_group_cancel", "SPOOL_ECANCELLED, *task NULL, not run", "group.h: SPOOL_ECANCELLED when the group has been cancelled: *task is NULL", group_spawn_cancelled),
ROW("spool_group_spawn", "on a shut-down pool", "0; the task FAILED with SPOOL_ESHUTDOWN, a failure", "group.h: if the executor refuses the task, it fails with the executor's error", group_spawn_shut_down),
ROW("spool_group_join", "NULL g; timeout -1 and INT64_MIN; an empty group", "SPOOL_EINVAL; 0 for the empty group", "group.h: SPOOL_EINVAL NULL g or a negative timeout", group_join_bad),
ROW("spool_group_join", "timeout 0, a task pending", "SPOOL_ETIMEDOUT, nothing cancelled", "group.h: SPOOL_ETIMEDOUT: nothing is cancelled and join may be called again", group_join_zero),
ROW("spool_group_join", "SPOOL_FOREVER in a loop callback", "SPOOL_EDEADLK", "group.h: SPOOL_EDEADLK on a loop thread outside a coroutine", group_join_on_loop),
ROW("spool_group_cancel", "NULL; twice", "SPOOL_EINVAL; 0 both times", "group.h: 0 (also when already cancelled), SPOOL_EINVAL for NULL", group_cancel_bad),
ROW("spool_group_failures", "NULL", "0", "group.h: 0 for NULL", group_failures_null),
ROW("spool_group_failure", "NULL g; i = failures; i = SIZE_MAX", "SPOOL_EINVAL", "group.h: SPOOL_EINVAL for NULL g or i out of range", group_failure_bad),
ROW("spool_group_failure_detail", "NULL g; i = failures; i = SIZE_MAX; a failure without detail", "SPOOL_EINVAL and both NULL; the code and both NULL", "group.h: SPOOL_EINVAL (and both NULL) for NULL g or i out of range; each NULL when the failure has none", group_failure_detail_bad),
ROW("spool_group_destroy", "NULL", "no-op", "group.h: NULL is a no-op", group_destroy_null),

#undef SECTION
#define SECTION "trace.h"
ROW("spool_trace_start", "NULL and empty path", "SPOOL_EINVAL, nothing recorded", "trace.h: SPOOL_EINVAL (NULL or empty path)", trace_start_bad),
ROW("spool_trace_start", "a path in a missing directory", "SPOOL_ESYS, nothing recorded", "trace.h: SPOOL_ESYS when it cannot be opened for writing", trace_start_bad_dir),
ROW("spool_trace_start", "while a session records", "SPOOL_ESTATE, the session goes on", "trace.h: SPOOL_ESTATE (a session is already recording: it goes on untouched)", trace_start_twice),
ROW("spool_trace_start_opts", "events_per_thread SIZE_MAX", "an error (SPOOL_EINVAL or SPOOL_ENOMEM), nothing recorded", "trace.h: SPOOL_EINVAL, SPOOL_ENOMEM", trace_start_huge),
ROW("spool_trace_stop", "without a session; twice", "0, nothing done", "trace.h: without a running session it does nothing and returns 0", trace_stop_without_start),
ROW("spool_trace_thread_name", "NULL; empty; longer than 31 bytes", "SPOOL_EINVAL; SPOOL_EINVAL; 0", "trace.h: SPOOL_EINVAL (NULL or empty name); at most 31 bytes are kept", trace_name_bad),
ROW("spool_trace_end", "unbalanced, with and without a session", "ignored, never aborts", "trace.h: an unbalanced end is never an error and never aborts", trace_end_unbalanced),
ROW("spool_trace_begin", "NULL name, with and without a session; open at stop", "recorded as \"slice\", never aborts", "trace.h: NULL is drawn as slice; a slice open at stop ends there", trace_begin_null),
ROW("spool_trace_enabled", "without a session", "false", "trace.h: true while a session is recording", trace_enabled_without),
ROW("spool_trace_stats_get", "NULL", "SPOOL_EINVAL", "trace.h: SPOOL_EINVAL (NULL out)", trace_stats_null),

#undef SECTION
#define SECTION "error.h, version.h"
ROW("spool_strerror", "0, 5, INT_MAX, -12, INT_MIN", "\"success\", \"task error\", \"unknown error\", never NULL", "error.h: 0 gives success, a positive code task error, an unknown negative one unknown error", strerror_any),
ROW("spool_err_name", "0, INT_MAX, -12, INT_MIN", "SPOOL_OK, TASK_ERROR, SPOOL_EUNKNOWN", "error.h: SPOOL_OK for 0, TASK_ERROR for a positive code, SPOOL_EUNKNOWN otherwise", err_name_any),
ROW("spool_version", "no input", "SPOOL_VERSION_HEX", "version.h: the version of the library actually linked", version_matches),
ROW("spool_version_string", "no input", "SPOOL_VERSION_STRING", "version.h: the same as a static string; never NULL", version_string_matches),

#undef SECTION
#define SECTION "debug.h"
ROW("spool_debug_set", "true twice, then false", "spool_debug_enabled() follows the last call", "debug.h: turns debug mode on or off, overriding SPOOL_DEBUG", debug_set_toggles),
ROW("spool_debug_enabled", "after spool_debug_set(false), a failure released unread", "false, nothing reported", "debug.h: true while debug mode is on", debug_enabled_off),
ROW("spool_debug_set_slow_duration", "-1; INT64_MIN; 0", "SPOOL_EINVAL, the threshold unchanged; SPOOL_EINVAL; 0", "debug.h: SPOOL_EINVAL for a negative ns (nothing changes)", debug_slow_negative),
ROW("spool_debug_slow_duration", "never set", "100 ms", "debug.h: the default is 100 ms", debug_slow_default),
ROW("spool_debug_set_sink", "NULL fn, non-NULL arg", "stderr again, arg ignored, the old sink not called", "debug.h: NULL fn restores the default", debug_sink_null),

#undef SECTION
#define SECTION "loop.h, from other threads and after destroy"
{SECTION, "spool_loop_run", "from another thread while it runs (and run_until_complete)", "SPOOL_ESTATE, f untouched", "loop.h: SPOOL_ESTATE when this loop (on this thread or another) is already running", CHILD, remote_run, NULL},
ABORT("spool_loop_destroy", "from another thread while it runs", "another thread", "loop.h: not while another thread runs the loop: abort with a message", remote_destroy),
IN_CHILD("spool_loop_call_soon", "from another thread while the loop runs", "SPOOL_EINVAL, *handle NULL, nothing scheduled", "loop.h: SPOOL_EINVAL (called from another thread while the loop runs: nothing is scheduled and *handle is NULL)", remote_call_soon),
IN_CHILD("spool_loop_call_later", "from another thread while the loop runs", "SPOOL_EINVAL, *handle NULL, nothing scheduled", "loop.h: otherwise as call_soon", remote_call_later),
IN_CHILD("spool_loop_call_at", "from another thread while the loop runs", "SPOOL_EINVAL, *handle NULL, nothing scheduled", "loop.h: as call_later", remote_call_at),
IN_CHILD("spool_handle_cancel", "from another thread while the loop runs", "SPOOL_EINVAL, the timer still scheduled", "loop.h: SPOOL_EINVAL from another thread while the loop runs (nothing changes)", remote_handle_cancel),
ABORT("spool_handle_cancelled", "from another thread while the loop runs", "another thread", "loop.h: from another thread while the loop runs it aborts with a message", remote_handle_cancelled),
IN_CHILD("spool_handle_when", "from another thread while the loop runs", "the timer's deadline", "loop.h: any thread: it never changes", remote_handle_when),
ABORT("spool_handle_release", "from another thread while the loop runs", "another thread", "loop.h: from another thread while the loop runs it aborts with a message", remote_handle_release),
ABORT("spool_loop_stop", "from another thread while the loop runs", "another thread", "loop.h: from another thread while the loop runs it aborts with a message", remote_stop_call),
IN_CHILD("spool_loop_is_running", "from another thread while the loop runs", "true", "loop.h: any thread; the answer may be stale", remote_is_running),
ROW("spool_loop_call_soon_threadsafe", "from another thread once destroy has begun (and spool_submit, spool_loop_run_in_executor)", "SPOOL_ESHUTDOWN; futures FAILED with SPOOL_ESHUTDOWN; nothing runs", "loop.h: from the moment destroy begins they are refused with SPOOL_ESHUTDOWN", during_destroy),
ABORT("spool_sleep_future", "after spool_loop_destroy returned", "destroyed", "loop.h: calling it after destroy has returned is a caller bug (aborts, as spool_submit())", sleep_future_after_destroy),
ABORT("spool_loop_call_soon_threadsafe", "after spool_loop_destroy returned", "destroyed", "loop.h: a call after destroy has returned is a caller bug: aborts with the loop was destroyed", threadsafe_after_destroy),
ABORT("spool_loop_is_running", "after spool_loop_destroy returned", "destroyed", "loop.h: a call after destroy has returned is a caller bug: aborts with the loop was destroyed", is_running_after_destroy),
};
#undef SECTION
/* clang-format on */

enum { NROWS = sizeof rows / sizeof rows[0] };

/* ---- running the table -------------------------------------------------- */

/* What the process running the rows tells the runner, in memory both see. */
struct shared {
	atomic_int current; /* the row running now, -1 between rows */
	atomic_char passed[NROWS];
	char msg[2048]; /* the failed row's message */
};

/* The status a process running rows exits with when a row failed. */
enum { ROW_FAILED = 3 };

static void row_failed(const char *file, int line, const char *expr,
		       const char *fmt, ...)
{
	char text[1536] = "";
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(text, sizeof text, fmt, ap);
		va_end(ap);
	}
	if (!in_rows)
		_ck_assert_failed(file, line, expr, "%s", text);
	snprintf(sh->msg, sizeof sh->msg, "%s:%d: %s", file, line,
		 fmt ? text : expr);
	_exit(ROW_FAILED); /* no leak report for a row cut short */
}

static int child_row(void *arg)
{
	const struct row *r = arg;
	return r->run();
}

static void check_row(void)
{
	struct spool_test_child c;
	char end[96];
	switch (R->kind) {
	case CALL:
		R->run();
		break;
	case MISUSE:
		spool_test_run_child(child_row, (void *)R, CHILD_LIMIT_S, &c);
		ck_assert_msg(spool_test_child_misused(&c, R->fn, R->rule),
			      AT "the child %s; stderr:\n%.1200s", AT_ARGS,
			      spool_test_child_end(&c, end, sizeof end), c.err);
		break;
	case CHILD:
		spool_test_run_child(child_row, (void *)R, CHILD_LIMIT_S, &c);
		ck_assert_msg(!c.timed_out && WIFEXITED(c.status) &&
				      WEXITSTATUS(c.status) == 0,
			      AT "the child %s; stderr:\n%.1200s", AT_ARGS,
			      spool_test_child_end(&c, end, sizeof end), c.err);
		break;
	}
	long live = spool_debug_live_futures();
	ck_assert_msg(live <= 0, AT "%ld future(s) still alive after the row",
		      AT_ARGS, live);
}

/* Runs rows first..end-1 in this process (a child of the runner), then
 * exits, letting the leak check of a sanitizer build look at them all. */
static _Noreturn void run_rows(int first, int end)
{
	in_rows = true;
	for (int i = first; i < end; i++) {
		atomic_store(&sh->current, i);
		RN = i;
		R = &rows[i];
		check_row();
		atomic_store(&sh->passed[i], 1);
	}
	atomic_store(&sh->current, -1);
	fflush(NULL);
	exit(0);
}

/* The last bytes a process running rows wrote to stderr. */
struct tail {
	char buf[1200];
	size_t len;
};

static void tail_add(struct tail *t, const char *p, size_t n)
{
	if (n >= sizeof t->buf) {
		p += n - (sizeof t->buf - 1);
		n = sizeof t->buf - 1;
	}
	if (t->len + n >= sizeof t->buf) {
		size_t drop = t->len + n - (sizeof t->buf - 1);
		memmove(t->buf, t->buf + drop, t->len - drop);
		t->len -= drop;
	}
	memcpy(t->buf + t->len, p, n);
	t->len += n;
	t->buf[t->len] = 0;
}

/* Starts a process running rows from..end-1 and watches it until it ends,
 * killing it if a row overruns ROW_LIMIT_S. Returns the row it was running
 * when it ended (-1 if it ended between rows) and fills *status, *killed
 * and *t. */
static int run_some(int from, int end, int *status, bool *killed,
		    struct tail *t)
{
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	atomic_store(&sh->current, from);
	sh->msg[0] = 0;
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		run_rows(from, end);
	}
	close(p[1]);
	t->len = 0;
	t->buf[0] = 0;
	*killed = false;
	int seen = -2;
	int64_t since = 0;
	for (;;) {
		struct pollfd pf = {.fd = p[0], .events = POLLIN};
		int r = poll(&pf, 1, 20);
		if (r > 0) {
			char buf[512];
			ssize_t n = read(p[0], buf, sizeof buf);
			if (n == 0 || (n < 0 && errno != EINTR))
				break;
			if (n > 0)
				tail_add(t, buf, (size_t)n);
		}
		int cur = atomic_load(&sh->current);
		int64_t now = spool_test_now_ns();
		if (cur != seen) {
			seen = cur;
			since = now;
		} else if (!*killed && cur >= 0 &&
			   now - since > ROW_LIMIT_S * SPOOL_NS_PER_S) {
			kill(pid, SIGKILL);
			*killed = true;
		}
	}
	close(p[0]);
	while (waitpid(pid, status, 0) < 0)
		ck_assert_int_eq(errno, EINTR);
	return atomic_load(&sh->current);
}

static int table_first, table_end = NROWS;

/* Runs the table, one process after another, each starting after the row
 * that ended the one before; prints a line per failed row. */
START_TEST(table)
{
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert(sh != MAP_FAILED);
	int failed = 0, checked = 0;
	bool late = false; /* a process failed after its last row passed */
	struct tail t;
	int from = table_first;
	while (from < table_end) {
		int status;
		bool killed;
		int at = run_some(from, table_end, &status, &killed, &t);
		for (int i = from; i < table_end && atomic_load(&sh->passed[i]);
		     i++)
			checked++;
		if (at < 0) {
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
				char end[96];
				struct spool_test_child c = {.status = status};
				printf("rows %d..%d passed, but their process "
				       "%s at its end (a leak report?); "
				       "stderr:\n%s\n",
				       from, table_end - 1,
				       spool_test_child_end(&c, end,
							    sizeof end),
				       t.buf);
				late = true;
			}
			break;
		}
		const struct row *r = &rows[at];
		checked++;
		failed++;
		if (killed)
			printf("row %d, %s(%s): expected %s [%s]: did not "
			       "finish within %d s\n",
			       at, r->fn, r->input, r->answer, r->promise,
			       ROW_LIMIT_S);
		else if (WIFEXITED(status) &&
			 WEXITSTATUS(status) == ROW_FAILED && sh->msg[0])
			printf("%s\n", sh->msg);
		else {
			char end[96];
			struct spool_test_child c = {.status = status};
			printf("row %d, %s(%s): expected %s [%s]: the process "
			       "%s; stderr:\n%s\n",
			       at, r->fn, r->input, r->answer, r->promise,
			       spool_test_child_end(&c, end, sizeof end),
			       t.buf);
		}
		fflush(stdout);
		from = at + 1;
	}
	printf("misuse table: %d rows checked, %d passed, %d failed\n", checked,
	       checked - failed, failed);
	fflush(stdout); /* a failing check below ends this process */
	ck_assert_msg(failed == 0 && !late,
		      "%d of %d rows failed (listed above)", failed, checked);
}
END_TEST

/* ---- the docs page ------------------------------------------------------ */

static const char *const PAGE_HEAD =
	"# Misuse: what spool answers to a bad call\n"
	"\n"
	"Every public function of spool, called the ways a caller gets "
	"wrong, and the\n"
	"answer its header promises. This page is generated from the table "
	"in\n"
	"[`test/test_misuse.c`](../test/test_misuse.c), which checks each "
	"row:\n"
	"`test_misuse --markdown > docs/misuse.md` rewrites it, and the "
	"suite fails\n"
	"while the page and the table differ.\n"
	"\n"
	"An answer \"abort: misuse of spool_x()\" means a caller bug that "
	"spool cannot\n"
	"answer with an error code: it prints `spool: misuse of spool_x(): "
	"<the rule>`\n"
	"on stderr and aborts, in every build type. Timeouts are relative "
	"nanoseconds\n"
	"(`SPOOL_FOREVER` waits without limit, 0 only polls, other negative "
	"values are\n"
	"`SPOOL_EINVAL`). \"Untouched\" means the call left the future as "
	"it was: same\n"
	"state, no cancellation requested.\n";

/* Markdown for one cell: '|' would end the cell. */
static void cell(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			fputs("\\|", out);
		else
			fputc(*s, out);
	}
}

static void print_page(FILE *out)
{
	fputs(PAGE_HEAD, out);
	const char *section = "";
	for (int i = 0; i < NROWS; i++) {
		const struct row *r = &rows[i];
		if (strcmp(r->section, section) != 0) {
			section = r->section;
			fprintf(out, "\n## %s\n\n", section);
			fputs("| Function | Bad input | Answer | The header "
			      "says |\n|---|---|---|---|\n",
			      out);
		}
		fprintf(out, "| `%s` | ", r->fn);
		cell(out, r->input);
		fputs(" | ", out);
		cell(out, r->answer);
		fputs(" | ", out);
		cell(out, r->promise);
		fputs(" |\n", out);
	}
	fprintf(out, "\n%d rows.\n", NROWS);
}

/* docs/misuse.md, found from this file's path (the build passes sources
 * by absolute path); NULL when it is not there (an installed test). */
static char *page_path(void)
{
	static char path[4096];
	const char *src = __FILE__;
	const char *slash = strrchr(src, '/');
	if (src[0] != '/' || !slash)
		return NULL;
	snprintf(path, sizeof path, "%.*s/../docs/misuse.md",
		 (int)(slash - src), src);
	return access(path, R_OK) == 0 ? path : NULL;
}

/* The source tree's include/spool/, found like the page; NULL when it is
 * not there. */
static const char *headers_dir(void)
{
	static char path[4096];
	const char *src = __FILE__;
	const char *slash = strrchr(src, '/');
	if (src[0] != '/' || !slash)
		return NULL;
	snprintf(path, sizeof path, "%.*s/../include/spool", (int)(slash - src),
		 src);
	return access(path, R_OK) == 0 ? path : NULL;
}

static bool in_table(const char *fn)
{
	for (int i = 0; i < NROWS; i++)
		if (strcmp(rows[i].fn, fn) == 0)
			return true;
	return false;
}

/* Every "SPOOL_API <type> name(" in the public headers has a row. */
START_TEST(table_names_every_public_function)
{
	const char *dir = headers_dir();
	if (!dir)
		return; /* not a source tree */
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	int found = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len < 3 || strcmp(e->d_name + len - 2, ".h") != 0)
			continue;
		char path[4352];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "r");
		ck_assert_ptr_nonnull(f);
		/* Static: a 64 KiB frame looks like a stack switch to
		 * valgrind run with --max-stackframe for the coroutines. */
		static char text[65536];
		size_t n = fread(text, 1, sizeof text - 1, f);
		fclose(f);
		text[n] = 0;
		for (char *p = text; (p = strstr(p, "SPOOL_API ")); p++) {
			char *paren = strchr(p, '(');
			if (!paren)
				break;
			char *end = paren, *start = paren;
			while (start > p &&
			       (start[-1] == '_' ||
				(start[-1] >= 'a' && start[-1] <= 'z') ||
				(start[-1] >= '0' && start[-1] <= '9')))
				start--;
			char name[128];
			snprintf(name, sizeof name, "%.*s", (int)(end - start),
				 start);
			if (strncmp(name, "spool_", 6) != 0)
				continue; /* the macro's own definition */
			found++;
			ck_assert_msg(in_table(name),
				      "%s (%s) has no row in the misuse table",
				      name, e->d_name);
		}
	}
	closedir(d);
	ck_assert_int_gt(found, 50);
}
END_TEST

START_TEST(docs_page_is_the_table)
{
	const char *path = page_path();
	if (!path)
		return; /* not a source tree */
	char *want = NULL;
	size_t want_len = 0;
	FILE *mem = open_memstream(&want, &want_len);
	ck_assert_ptr_nonnull(mem);
	print_page(mem);
	fclose(mem);
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	char *have = malloc(want_len + 2);
	ck_assert_ptr_nonnull(have);
	size_t have_len = fread(have, 1, want_len + 1, f);
	fclose(f);
	bool same = have_len == want_len && memcmp(have, want, want_len) == 0;
	free(have);
	free(want);
	ck_assert_msg(same,
		      "%s differs from the table: regenerate it with "
		      "`test_misuse --markdown > docs/misuse.md`",
		      path);
}
END_TEST

/* The support helper other suites use, on a row's call: it sees the
 * message and the signal. */
static int state_null_arg(void *arg)
{
	(void)arg;
	return state_null();
}

START_TEST(expect_misuse_sees_sigabrt_and_the_rule)
{
	spool_test_expect_misuse(state_null_arg, NULL, "spool_future_state",
				 "NULL future");
	spool_test_expect_misuse(state_null_arg, NULL, "spool_future_state",
				 NULL);
	struct spool_test_child c;
	spool_test_run_child(state_null_arg, NULL, CHILD_LIMIT_S, &c);
	ck_assert(spool_test_child_misused(&c, "spool_future_state", NULL));
	ck_assert(!spool_test_child_misused(&c, "spool_future_done", NULL));
	ck_assert(!spool_test_child_misused(&c, "spool_future_state",
					    "another rule"));
	spool_test_run_child(child_row, (void *)&rows[1], CHILD_LIMIT_S, &c);
	ck_assert(!spool_test_child_misused(&c, "spool_future_done", NULL));
}
END_TEST

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--markdown") == 0) {
		print_page(stdout);
		return 0;
	}
	/* --rows FIRST:END checks rows FIRST..END-1 only. */
	if (argc > 2 && strcmp(argv[1], "--rows") == 0 &&
	    (sscanf(argv[2], "%d:%d", &table_first, &table_end) != 2 ||
	     table_first < 0 || table_end > NROWS ||
	     table_first >= table_end)) {
		fprintf(stderr, "--rows FIRST:END, 0 <= FIRST < END <= %d\n",
			NROWS);
		return 2;
	}
	Suite *s = suite_create("misuse");
	/* Rows that hang are killed after ROW_LIMIT_S each: the limit only
	 * matters on a library that hangs in many of them. */
	TCase *tc = spool_test_case("table", 280);
	tcase_add_test(tc, table);
	suite_add_tcase(s, tc);
	tc = spool_test_case("docs", 10);
	tcase_add_test(tc, docs_page_is_the_table);
	tcase_add_test(tc, table_names_every_public_function);
	tcase_add_test(tc, expect_misuse_sees_sigabrt_and_the_rule);
	suite_add_tcase(s, tc);

	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int rc = srunner_ntests_failed(sr) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
	srunner_free(sr);
	return rc;
}
