/* SPDX-License-Identifier: MIT */
/*
 * Suite "trace_content": what a trace written through spool/trace.h holds:
 * runs inside their submits with labels, results and flows, runs on other
 * threads, blocking waits, labels that need escaping, nothing while off,
 * either clock, and a full buffer that drops and says how much.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/executor_impl.h"
#include "core/future_impl.h"
#include "trace_support.h"

static int failing_task(void *arg, void **result)
{
	(void)arg;
	(void)result;
	return 7;
}

/* Runs fn with stderr sent to a file; returns what was printed. */
static char *capture_stderr(void (*fn)(void *), void *arg)
{
	const char *path = tmp("stderr.txt");
	fflush(stderr);
	int saved = dup(2);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	dup2(fd, 2);
	close(fd);
	fn(arg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	size_t len;
	return slurp(path, &len);
}

/* ---- public API: what a trace contains ---------------------------------- */

START_TEST(inline_runs_nest_in_their_submits_with_labels_results_and_flows)
{
	ck_assert_int_eq(spool_trace_thread_name("main thread"), 0);
	ck_assert_int_eq(spool_trace_start(tmp("inline.json")), 0);
	uint64_t ids[6];
	for (int i = 0; i < 6; i++) {
		spool_future *f = spool_submit_labeled(
			spool_executor_inline(), i % 2 ? failing_task : ok_task,
			NULL, i % 2 ? "bad" : "good");
		ids[i] = spool_future_id(f);
		spool_future_release(f);
	}
	spool_future *f = spool_submit(spool_executor_inline(), ok_task, NULL);
	uint64_t unlabeled = spool_future_id(f);
	spool_future_release(f);
	ck_assert_int_eq(spool_trace_stop(), 0);

	struct trace t;
	load(&t, tmp("inline.json"));
	long me = track(&t, "main thread");
	ck_assert_int_eq(me, my_tid());
	ck_assert_int_eq(count(&t, 'M', "process_name", -1), 1);
	ck_assert_int_eq(count(&t, 'X', "good", me), 3);
	ck_assert_int_eq(count(&t, 'X', "bad", me), 3);
	ck_assert_int_eq(count(&t, 'X', "submit", me), 7);
	for (int i = 0; i < 6; i++) {
		const struct tev *r = run_of(&t, ids[i], 0);
		ck_assert_ptr_nonnull(r);
		ck_assert_str_eq(r->name, i % 2 ? "bad" : "good");
		ck_assert_int_eq((int)arg_n(r, "rc"), i % 2 ? 7 : 0);
		ck_assert(r->flow_in);
	}
	const struct tev *u = run_of(&t, unlabeled, 0);
	ck_assert_ptr_nonnull(u);
	ck_assert_str_eq(u->name, "task");
	/* The inline executor runs the task inside spool_submit(). */
	for (size_t i = 0; i < t.n; i++) {
		const struct tev *s = &t.ev[i];
		if (s->ph != 'X' || strcmp(s->name, "submit") != 0)
			continue;
		const struct tev *r = run_of(&t, (uint64_t)arg_n(s, "id"), 0);
		ck_assert(contains(s, r) && s->ts < r->ts);
	}
	ck_assert_int_eq(assert_runs_follow_submits(&t), 7);
	assert_slices_nest(&t);
	ck_assert_int_eq((int)meta_n(&t, "threads"), 1);
	ck_assert_int_eq((int)meta_n(&t, "dropped_events"), 0);
	ck_assert_int_eq((int)meta_n(&t, "unmatched_ends"), 0);
	unload(&t);
}
END_TEST

/* A small executor of the test's own: submissions go to a queue served by
 * plain threads that run each task with spool_run_task(), so core's hooks
 * record the submit on one thread and the run on another, as a pool's
 * would. */
enum { QCAP = 4096, QWORKERS = 3 };
struct qexec {
	spool_executor ex;
	pthread_mutex_t m;
	pthread_cond_t c;
	struct {
		spool_future *f;
		spool_task_fn fn;
		void *arg;
	} q[QCAP];
	size_t head, tail;
	bool stop;
	pthread_t th[QWORKERS];
	int next_index;
};

static spool_future *q_submit(spool_executor *ex, spool_task_fn fn, void *arg,
			      const char *label)
{
	struct qexec *q = (struct qexec *)ex;
	spool_future *f = spool_promise_new();
	f->label = label;
	pthread_mutex_lock(&q->m);
	ck_assert_int_lt(q->tail - q->head, QCAP);
	q->q[q->tail % QCAP].f = spool_future_retain(f);
	q->q[q->tail % QCAP].fn = fn;
	q->q[q->tail % QCAP].arg = arg;
	q->tail++;
	pthread_cond_signal(&q->c);
	pthread_mutex_unlock(&q->m);
	return f;
}

static const struct spool__executor_ops q_ops = {.name = "test-queue",
						 .submit = q_submit};

static void *q_worker(void *arg)
{
	struct qexec *q = arg;
	pthread_mutex_lock(&q->m);
	char name[32];
	snprintf(name, sizeof name, "queue worker %d", q->next_index++);
	pthread_mutex_unlock(&q->m);
	spool_trace_thread_name(name);
	for (;;) {
		pthread_mutex_lock(&q->m);
		while (q->head == q->tail && !q->stop)
			pthread_cond_wait(&q->c, &q->m);
		if (q->head == q->tail) {
			pthread_mutex_unlock(&q->m);
			return NULL;
		}
		spool_future *f = q->q[q->head % QCAP].f;
		spool_task_fn fn = q->q[q->head % QCAP].fn;
		void *a = q->q[q->head % QCAP].arg;
		q->head++;
		pthread_mutex_unlock(&q->m);
		spool_run_task(f, fn, a);
		spool_future_release(f);
	}
}

static struct qexec *q_start(void)
{
	struct qexec *q = calloc(1, sizeof *q);
	q->ex.ops = &q_ops;
	pthread_mutex_init(&q->m, NULL);
	pthread_cond_init(&q->c, NULL);
	for (int i = 0; i < QWORKERS; i++)
		pthread_create(&q->th[i], NULL, q_worker, q);
	return q;
}

static void q_stop(struct qexec *q)
{
	pthread_mutex_lock(&q->m);
	q->stop = true;
	pthread_cond_broadcast(&q->c);
	pthread_mutex_unlock(&q->m);
	for (int i = 0; i < QWORKERS; i++)
		pthread_join(q->th[i], NULL);
	pthread_mutex_destroy(&q->m);
	pthread_cond_destroy(&q->c);
	free(q);
}

static int spin_task(void *arg, void **result)
{
	(void)arg;
	volatile int x = 0;
	for (int i = 0; i < 2000; i++)
		x += i;
	*result = NULL;
	return 0;
}

START_TEST(runs_on_other_threads_follow_their_submits_one_track_each)
{
	enum { N = 300 };
	struct qexec *q = q_start();
	spool_trace_thread_name("submitter");
	ck_assert_int_eq(spool_trace_start(tmp("queue.json")), 0);
	spool_future *fs[N];
	for (int i = 0; i < N; i++)
		fs[i] = spool_submit_labeled(&q->ex, spin_task, NULL, "spin");
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(spool_future_wait(fs[i], SPOOL_FOREVER), 0);
		ck_assert_int_eq(spool_future_error(fs[i]), 0);
	}
	ck_assert_int_eq(spool_trace_stop(), 0);
	q_stop(q);

	struct trace t;
	load(&t, tmp("queue.json"));
	long sub = track(&t, "submitter");
	ck_assert_int_eq(sub, my_tid());
	ck_assert_int_eq(count(&t, 'X', "submit", sub), N);
	ck_assert_int_eq(count(&t, 'X', "spin", sub), 0);
	size_t runs = 0;
	for (int i = 0; i < QWORKERS; i++) {
		char name[32];
		snprintf(name, sizeof name, "queue worker %d", i);
		long tid = track(&t, name);
		/* A worker that ran nothing recorded nothing: no track. */
		if (tid >= 0) {
			ck_assert_int_ne(tid, sub);
			runs += count(&t, 'X', "spin", tid);
		}
	}
	ck_assert_int_eq(runs, N);
	for (int i = 0; i < N; i++) {
		const struct tev *r = run_of(&t, spool_future_id(fs[i]), 0);
		ck_assert_ptr_nonnull(r);
		ck_assert_int_ne(r->tid, sub);
		ck_assert_int_eq((int)arg_n(r, "rc"), 0);
		spool_future_release(fs[i]);
	}
	ck_assert_int_eq(assert_runs_follow_submits(&t), N);
	assert_slices_nest(&t);
	unload(&t);
}
END_TEST

START_TEST(a_blocking_wait_is_a_wait_slice_named_after_the_awaited_label)
{
	spool_future *p = spool_promise_new();
	p->label = "gather"; /* as a combinator labels its internal future */
	spool_future *q = spool_promise_new();
	ck_assert_int_eq(spool_trace_start(tmp("wait.json")), 0);
	/* p completes 20 ms after this thread blocks on it. */
	struct later c = {.promise = p, .blocked_on = p};
	later_start(&c);
	ck_assert_int_eq(spool_future_wait(p, SPOOL_FOREVER), 0);
	ck_assert_int_eq(spool_future_wait(q, SPOOL_NS_PER_MS),
			 SPOOL_ETIMEDOUT);
	ck_assert_int_eq(spool_future_wait(p, SPOOL_FOREVER), 0); /* done */
	later_join(&c);
	ck_assert_int_eq(spool_trace_stop(), 0);

	struct trace t;
	load(&t, tmp("wait.json"));
	long me = my_tid();
	ck_assert_int_eq(count(&t, 'X', "wait: gather", me), 1);
	ck_assert_int_eq(count(&t, 'X', "wait", me), 1);
	const struct tev *w = nth(&t, 'X', "wait: gather", me, 0);
	ck_assert_int_eq((uint64_t)arg_n(w, "on"), spool_future_id(p));
	ck_assert_int_eq((int)arg_n(w, "rc"), 0);
	ck_assert_int_ge(w->dur, 5 * SPOOL_NS_PER_MS);
	const struct tev *w2 = nth(&t, 'X', "wait", me, 0);
	ck_assert_int_eq((uint64_t)arg_n(w2, "on"), spool_future_id(q));
	ck_assert_int_eq((int)arg_n(w2, "rc"), SPOOL_ETIMEDOUT);
	assert_slices_nest(&t);
	unload(&t);
	spool_future_release(p);
	spool_future_release(q);
}
END_TEST

START_TEST(labels_with_quotes_controls_and_bad_utf8_stay_valid_json)
{
	static const char nasty[] = "q\"b\\s/\n\t\x01 caf\xc3\xa9 \xff\xc3";
	ck_assert_int_eq(spool_trace_thread_name("name \"quoted\"\n"), 0);
	ck_assert_int_eq(spool_trace_start(tmp("nasty.json")), 0);
	submit_inline(1, nasty);
	ck_assert_int_eq(spool_trace_stop(), 0);
	struct trace t;
	load(&t, tmp("nasty.json"));
	ck_assert_int_eq(track(&t, "name \"quoted\"\n"), my_tid());
	/* Valid characters survive; invalid bytes become U+FFFD. */
	ck_assert_int_eq(
		count(&t, 'X',
		      "q\"b\\s/\n\t\x01 caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd",
		      -1),
		1);
	unload(&t);
}
END_TEST

START_TEST(tracing_off_records_nothing)
{
	submit_inline(10, "off");
	ck_assert_int_eq(spool_trace_start(tmp("off.json")), 0);
	ck_assert_int_eq(spool_trace_stop(), 0);
	submit_inline(10, "off");
	struct trace t;
	load(&t, tmp("off.json"));
	ck_assert_int_eq(count(&t, 'X', NULL, -1), 0);
	ck_assert_int_eq((int)meta_n(&t, "events"), 0);
	ck_assert_int_eq((int)meta_n(&t, "threads"), 0);
	unload(&t);
}
END_TEST

START_TEST(monotonic_clock_option_gives_the_same_trace)
{
	spool_trace_options o = SPOOL_TRACE_OPTIONS_INIT;
	o.monotonic_clock = true;
	ck_assert_int_eq(spool_trace_start_opts(tmp("mono.json"), &o), 0);
	submit_inline(4, "mono");
	ck_assert_int_eq(spool_trace_stop(), 0);
	struct trace t;
	load(&t, tmp("mono.json"));
	ck_assert_str_eq(jgets(t.meta, "clock"), "monotonic");
	ck_assert_int_eq(count(&t, 'X', "mono", -1), 4);
	ck_assert_int_eq(assert_runs_follow_submits(&t), 4);
	assert_slices_nest(&t);
	unload(&t);
}
END_TEST

/* ---- public API: bounded buffers ---------------------------------------- */

static void overflow_session(void *arg)
{
	spool_trace_options o = SPOOL_TRACE_OPTIONS_INIT;
	/* 9 tasks of 3 records each, then the 10th run's begin. */
	o.events_per_thread = 28;
	ck_assert_int_eq(spool_trace_start_opts(tmp("full.json"), &o), 0);
	uint64_t *ids = arg;
	for (int i = 0; i < 25; i++) {
		spool_future *f = spool_submit_labeled(spool_executor_inline(),
						       ok_task, NULL, "fill");
		ids[i] = spool_future_id(f);
		spool_future_release(f);
	}
	ck_assert_int_eq(spool_trace_stop(), 0);
}

START_TEST(a_full_buffer_drops_the_newest_events_and_reports_how_many)
{
	ck_assert_int_eq(spool_trace_thread_name("filler"), 0);
	uint64_t ids[25];
	char *err = capture_stderr(overflow_session, ids);
	/* stderr names the thread and the count. */
	ck_assert_msg(strstr(err, "\"filler\"") && strstr(err, "dropped 47"),
		      "stderr was: %s", err);
	free(err);
	spool_trace_stats st;
	spool_trace_stats_get(&st);
	ck_assert_int_eq(st.events, 28);
	ck_assert_int_eq(st.dropped, 25 * 3 - 28);

	struct trace t;
	load(&t, tmp("full.json"));
	ck_assert_int_eq((int)meta_n(&t, "dropped_events"), 47);
	ck_assert_int_eq((int)meta_n(&t, "events"), 28);
	const struct jv *by = jget(t.meta, "dropped_by_thread");
	ck_assert(by && by->t == J_ARR && by->n == 1);
	ck_assert_str_eq(jgets(&by->items[0], "name"), "filler");
	ck_assert_int_eq((int)jgetn(&by->items[0], "dropped", 0), 47);
	/* The oldest nine tasks are there whole; the tenth's run lost its
	 * end, so it is closed at the last event and marked truncated; the
	 * newest fifteen are not there. */
	for (int i = 0; i < 25; i++) {
		const struct tev *r = run_of(&t, ids[i], 0);
		ck_assert_msg((r != NULL) == (i < 10), "task %d", i);
		if (r && i < 9)
			ck_assert_int_eq((int)arg_n(r, "rc"), 0);
		if (r && i == 9)
			ck_assert(jgetb(r->args, "truncated") &&
				  !jget(r->args, "rc"));
	}
	const struct tev *d = nth(&t, 'i', "events dropped", my_tid(), 0);
	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq((int)arg_n(d, "dropped"), 47);
	ck_assert_int_eq((int)arg_n(d, "capacity"), 28);
	assert_slices_nest(&t);
	unload(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("trace_content");
	TCase *tc = spool_test_case("content", 60);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(
		tc,
		inline_runs_nest_in_their_submits_with_labels_results_and_flows);
	tcase_add_test(
		tc, runs_on_other_threads_follow_their_submits_one_track_each);
	tcase_add_test(
		tc,
		a_blocking_wait_is_a_wait_slice_named_after_the_awaited_label);
	tcase_add_test(
		tc, labels_with_quotes_controls_and_bad_utf8_stay_valid_json);
	tcase_add_test(tc, tracing_off_records_nothing);
	tcase_add_test(tc, monotonic_clock_option_gives_the_same_trace);
	tcase_add_test(
		tc, a_full_buffer_drops_the_newest_events_and_reports_how_many);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
