/* SPDX-License-Identifier: MIT */
/*
 * Part 1: the article in C. "Use these methods to make your Python
 * concurrent tasks perform better" shows, with an IO-bound sample task,
 * each way of running tasks on asyncio's loop; here every one of them runs
 * on spool's loop, with the same sample task written as a coroutine:
 * it sleeps its delay with spool_sleep() and optionally fails.
 *
 * Everything runs inside one "main" coroutine on the loop, as
 * asyncio.run(main()) does; the sample tasks are coroutines on the same
 * loop (spool_submit on the loop's executor is asyncio.create_task). For
 * each scenario the table shows the wall time beside the ideal (what the
 * same work takes when everything that can overlap does) and the order in
 * which the results were handled.
 */
#include <stdlib.h>
#include <string.h>

#include <spool.h>

#include "compare.h"

#define N CMP_ARTICLE_TASKS
#define MS SPOOL_NS_PER_MS

/* The sample tasks' delays in ms: not sorted, so that completion order,
 * submission order and input order all differ. Task 3 is the fastest. */
static const int delay_ms[N] = {40, 10, 30, 5, 35, 15, 25, 20};
#define FASTEST 3                  /* the task with the shortest delay */
#define FAILING 3                  /* the task that fails, where one does */
#define FAIL_CODE(id) (100 + (id)) /* its task error */

struct sample {
	int id;
	int64_t delay_ns;
	bool fail;
	int64_t started, finished;
};

/* The sample task: an IO-bound coroutine (asyncio.sleep(delay); maybe
 * raise). Its value is its own record, so a handler can tell which task a
 * result came from. */
static int sample_task(void *arg, void **result)
{
	struct sample *s = arg;
	s->started = cmp_now_ns();
	int rc = spool_sleep(s->delay_ns);
	s->finished = cmp_now_ns();
	if (rc)
		return rc; /* SPOOL_ECANCELLED: acknowledge */
	/* raise ValueError(f"task {id}"): a code and a message. */
	if (s->fail)
		return spool_fail(FAIL_CODE(s->id), "ValueError: task %d",
				  s->id);
	*result = s;
	return 0;
}

struct ctx {
	spool_executor *loop_ex;
	struct sample s[3 * N];
};

static void samples_init(struct ctx *c, int fail_id)
{
	for (int i = 0; i < N; i++)
		c->s[i] = (struct sample){.id = i,
					  .delay_ns = delay_ms[i] * MS,
					  .fail = i == fail_id};
}

static spool_future *start(struct ctx *c, int i)
{
	return spool_submit_labeled(c->loop_ex, sample_task, &c->s[i],
				    "sample");
}

static void release_all(spool_future **fs, int n)
{
	for (int i = 0; i < n; i++)
		spool_future_release(fs[i]);
}

/* Waits for fs (without counting it): a scenario that returns before its
 * tasks end lets them finish before the next one starts. */
static void settle(spool_future **fs, int n)
{
	for (int i = 0; i < n; i++)
		if (fs[i])
			spool_future_wait(fs[i], SPOOL_FOREVER);
}

static int max_delay(void)
{
	int m = 0;
	for (int i = 0; i < N; i++)
		m = delay_ms[i] > m ? delay_ms[i] : m;
	return m;
}

static int sum_delays(void)
{
	int m = 0;
	for (int i = 0; i < N; i++)
		m += delay_ms[i];
	return m;
}

#define FAIL_IF(cond, ...)                                                     \
	do {                                                                   \
		if (cond) {                                                    \
			snprintf(r->error, sizeof(r->error), __VA_ARGS__);     \
			return -1;                                             \
		}                                                              \
	} while (0)

/* 1. await one call after another: concurrency turned back into a queue. */
static int scen_one_by_one(struct ctx *c, struct cmp_article_result *r)
{
	samples_init(c, -1);
	int64_t t0 = cmp_now_ns();
	for (int i = 0; i < N; i++) {
		spool_future *f = start(c, i);
		void *v;
		int rc = spool_future_result(f, SPOOL_FOREVER, &v);
		spool_future_release(f);
		FAIL_IF(rc, "task %d: %s", i, spool_err_name(rc));
		r->order[r->n_order++] = ((struct sample *)v)->id;
	}
	r->wall_s = (double)(cmp_now_ns() - t0) / 1e9;
	r->ideal_s = max_delay() / 1e3;
	snprintf(r->outcome, sizeof(r->outcome),
		 "took the sum of the delays (%d ms), not the longest (%d ms)",
		 sum_delays(), max_delay());
	return 0;
}

/* 2. start all, then wait one by one in submission order. */
static int scen_in_order(struct ctx *c, struct cmp_article_result *r)
{
	spool_future *fs[N];
	int64_t handled[N];
	samples_init(c, -1);
	int64_t t0 = cmp_now_ns();
	for (int i = 0; i < N; i++)
		fs[i] = start(c, i);
	for (int i = 0; i < N; i++) {
		int rc = spool_future_result(fs[i], SPOOL_FOREVER, NULL);
		FAIL_IF(rc, "task %d: %s", i, spool_err_name(rc));
		handled[i] = cmp_now_ns();
		r->order[r->n_order++] = i;
	}
	r->wall_s = (double)(cmp_now_ns() - t0) / 1e9;
	r->ideal_s = max_delay() / 1e3;
	snprintf(r->outcome, sizeof(r->outcome),
		 "task %d was done at %.0f ms but handled at %.0f ms, after "
		 "task 0",
		 FASTEST, (double)(c->s[FASTEST].finished - t0) / 1e6,
		 (double)(handled[FASTEST] - t0) / 1e6);
	release_all(fs, N);
	return 0;
}

/* 3. gather: every result, in input order, after the longest. */
static int scen_gather(struct ctx *c, struct cmp_article_result *r)
{
	spool_future *fs[N];
	samples_init(c, -1);
	int64_t t0 = cmp_now_ns();
	for (int i = 0; i < N; i++)
		fs[i] = start(c, i);
	spool_future *g = spool_gather(fs, N, 0);
	int rc = spool_future_result(g, SPOOL_FOREVER, NULL);
	r->wall_s = (double)(cmp_now_ns() - t0) / 1e9;
	for (size_t i = 0; !rc && i < spool_gather_size(g); i++) {
		void *v;
		if (spool_gather_result(g, i, &v) == 0)
			r->order[r->n_order++] = ((struct sample *)v)->id;
	}
	spool_future_release(g);
	release_all(fs, N);
	FAIL_IF(rc, "gather: %s", spool_err_name(rc));
	r->ideal_s = max_delay() / 1e3;
	snprintf(r->outcome, sizeof(r->outcome),
		 "one wait; results in input order");
	return 0;
}

/* 4. gather when a task fails: at once by default, collected with
 * SPOOL_RETURN_ERRORS (return_exceptions=True). */
static int scen_gather_errors(struct ctx *c, struct cmp_article_result *r)
{
	spool_future *fs[N];
	samples_init(c, FAILING);
	int64_t t0 = cmp_now_ns();
	for (int i = 0; i < N; i++)
		fs[i] = start(c, i);
	/* Default: the first failure fails the gather, the rest run on. */
	spool_future *first = spool_gather(fs, N, 0);
	int frc = spool_future_wait(first, SPOOL_FOREVER);
	double failed_at = (double)(cmp_now_ns() - t0) / 1e6;
	int ferr = spool_future_error(first);
	/* The failing task's own message, carried by the gather. */
	char fmsg[48];
	snprintf(fmsg, sizeof fmsg, "%s",
		 spool_future_error_message(first)
			 ? spool_future_error_message(first)
			 : spool_strerror(ferr));
	spool_future_release(first);
	FAIL_IF(frc, "gather: %s", spool_err_name(frc));
	/* Collecting: every slot holds a value or that task's error. */
	spool_future *all = spool_gather(fs, N, SPOOL_RETURN_ERRORS);
	int rc = spool_future_wait(all, SPOOL_FOREVER);
	r->wall_s = (double)(cmp_now_ns() - t0) / 1e9;
	int errors = 0, err_id = -1, err_code = 0;
	for (size_t i = 0; !rc && i < spool_gather_size(all); i++) {
		void *v;
		int e = spool_gather_result(all, i, &v);
		r->order[r->n_order++] = (int)i;
		if (e) {
			errors++;
			err_id = (int)i;
			err_code = e;
		}
	}
	spool_future_release(all);
	release_all(fs, N);
	FAIL_IF(rc, "gather(RETURN_ERRORS): %s", spool_err_name(rc));
	r->ideal_s = max_delay() / 1e3;
	snprintf(r->outcome, sizeof(r->outcome),
		 "plain gather failed at %.0f ms with error %d (%s); "
		 "collected: %d error (task %d, %d), %d values",
		 failed_at, ferr, fmsg, errors, err_id, err_code, N - errors);
	return 0;
}

/* 5. gathers grouped inside a gather. */
static int scen_grouped(struct ctx *c, struct cmp_article_result *r)
{
	spool_future *fs[N];
	samples_init(c, FAILING);
	int64_t t0 = cmp_now_ns();
	for (int i = 0; i < N; i++)
		fs[i] = start(c, i);
	spool_future *groups[2] = {
		spool_gather(fs, N / 2, SPOOL_RETURN_ERRORS),
		spool_gather(fs + N / 2, N / 2, SPOOL_RETURN_ERRORS)};
	spool_future *outer = spool_gather(groups, 2, 0);
	int rc = spool_future_wait(outer, SPOOL_FOREVER);
	r->wall_s = (double)(cmp_now_ns() - t0) / 1e9;
	int errs[2] = {0, 0};
	for (int g = 0; !rc && g < 2; g++) {
		void *v;
		if (spool_gather_result(outer, (size_t)g, &v) != 0)
			continue;
		for (size_t i = 0; i < spool_gather_size(groups[g]); i++) {
			void *sv;
			int e = spool_gather_result(groups[g], i, &sv);
			r->order[r->n_order++] = g * (N / 2) + (int)i;
			errs[g] += e != 0;
		}
	}
	int orc = spool_future_error(outer);
	spool_future_release(outer);
	release_all(groups, 2);
	release_all(fs, N);
	FAIL_IF(rc || orc, "grouped gather: %s", spool_err_name(rc ? rc : orc));
	r->ideal_s = max_delay() / 1e3;
	snprintf(r->outcome, sizeof(r->outcome),
		 "group A (tasks 0-3): %d error, group B (tasks 4-7): %d "
		 "errors",
		 errs[0], errs[1]);
	return 0;
}

/* 6. as_completed: handle each result as soon as it arrives. */
static int scen_as_completed(struct ctx *c, struct cmp_article_result *r)
{
	spool_future *fs[N];
	samples_init(c, -1);
	int64_t t0 = cmp_now_ns();
	for (int i = 0; i < N; i++)
		fs[i] = start(c, i);
	spool_as_completed *it = NULL;
	int rc = spool_as_completed_create(&it, fs, N, SPOOL_FOREVER);
	double first_ms = 0;
	while (rc == 0) {
		spool_future *f;
		size_t idx;
		rc = spool_as_completed_next(it, &f, &idx);
		if (rc)
			break;
		if (r->n_order == 0)
			first_ms = (double)(cmp_now_ns() - t0) / 1e6;
		r->order[r->n_order++] = (int)idx;
	}
	if (rc == SPOOL_EOF)
		rc = 0; /* every task handed back */
	spool_as_completed_destroy(it);
	r->wall_s = (double)(cmp_now_ns() - t0) / 1e9;
	settle(fs, N);
	release_all(fs, N);
	FAIL_IF(rc, "as_completed: %s", spool_err_name(rc));
	r->ideal_s = max_delay() / 1e3;
	snprintf(r->outcome, sizeof(r->outcome),
		 "first result handled at %.0f ms; order = fastest first",
		 first_ms);
	return 0;
}

/* 7. wait(FIRST_COMPLETED) in a loop that starts a new task whenever one
 * finishes: at most 4 running, 2N tasks in all (a dynamic task set). */
static int scen_wait_first(struct ctx *c, struct cmp_article_result *r)
{
	enum { TOTAL = 2 * N, WINDOW = 4 };
	spool_future *running[WINDOW];
	int ids[WINDOW];
	for (int i = 0; i < TOTAL; i++)
		c->s[i] = (struct sample){.id = i,
					  .delay_ns = delay_ms[i % N] * MS};
	int64_t t0 = cmp_now_ns();
	int next = 0, n = 0, rc = 0;
	while (n < WINDOW) {
		ids[n] = next;
		running[n++] = start(c, next++);
	}
	while (n > 0 && !rc) {
		bool done[WINDOW];
		rc = spool_wait(running, (size_t)n, SPOOL_FIRST_COMPLETED,
				SPOOL_FOREVER, done, NULL, NULL);
		for (int k = 0; k < n && !rc;) {
			if (!done[k]) {
				k++;
				continue;
			}
			r->order[r->n_order++] = ids[k];
			spool_future_release(running[k]);
			/* Fill the slot: a new task, or the last one. */
			if (next < TOTAL) {
				ids[k] = next;
				running[k] = start(c, next++);
				done[k] = false;
				k++;
			} else {
				running[k] = running[n - 1];
				ids[k] = ids[n - 1];
				done[k] = done[n - 1];
				n--;
			}
		}
	}
	r->wall_s = (double)(cmp_now_ns() - t0) / 1e9;
	settle(running, n);
	release_all(running, n);
	FAIL_IF(rc, "wait: %s", spool_err_name(rc));
	/* Ideal: each task starts the moment a slot frees (list scheduling
	 * with WINDOW slots). */
	int64_t slot[WINDOW] = {0}, end = 0;
	for (int i = 0; i < TOTAL; i++) {
		int k = 0;
		for (int j = 1; j < WINDOW; j++)
			if (slot[j] < slot[k])
				k = j;
		slot[k] += delay_ms[i % N];
		end = slot[k] > end ? slot[k] : end;
	}
	r->ideal_s = (double)end / 1e3;
	snprintf(r->outcome, sizeof(r->outcome),
		 "%d tasks, at most %d at a time, each new one started as "
		 "another finished",
		 TOTAL, WINDOW);
	return 0;
}

/* 8. wait with a timeout: a timeout is not an error and cancels nothing. */
static int scen_wait_timeout(struct ctx *c, struct cmp_article_result *r)
{
	const int timeout_ms = 22;
	spool_future *fs[N];
	bool done[N];
	size_t ndone = 0, npending = 0;
	samples_init(c, -1);
	int64_t t0 = cmp_now_ns();
	for (int i = 0; i < N; i++)
		fs[i] = start(c, i);
	int rc = spool_wait(fs, N, SPOOL_ALL_COMPLETED, timeout_ms * MS, done,
			    &ndone, &npending);
	r->wall_s = (double)(cmp_now_ns() - t0) / 1e9;
	/* Handle what is done, fastest first, as the article does. */
	for (int d = 0; d <= max_delay(); d++)
		for (int i = 0; i < N; i++)
			if (!rc && done[i] && delay_ms[i] == d)
				r->order[r->n_order++] = i;
	int still_running = 0;
	for (int i = 0; i < N; i++)
		still_running += !spool_future_done(fs[i]);
	settle(fs, N);
	release_all(fs, N);
	FAIL_IF(rc, "wait: %s", spool_err_name(rc));
	r->ideal_s = timeout_ms / 1e3;
	snprintf(r->outcome, sizeof(r->outcome),
		 "after %d ms: %zu done, %zu pending; %d still running (not "
		 "cancelled)",
		 timeout_ms, ndone, npending, still_running);
	return 0;
}

/* 9. a task group where one task fails: the others are cancelled. */
static int scen_group(struct ctx *c, struct cmp_article_result *r)
{
	spool_group *g;
	spool_future *fs[N] = {0};
	samples_init(c, FAILING);
	int64_t t0 = cmp_now_ns();
	int rc = spool_group_create(&g, c->loop_ex, 0);
	FAIL_IF(rc, "group: %s", spool_err_name(rc));
	for (int i = 0; i < N; i++)
		spool_group_spawn(g, sample_task, &c->s[i], &fs[i]);
	int jrc = spool_group_join(g, SPOOL_FOREVER);
	r->wall_s = (double)(cmp_now_ns() - t0) / 1e9;
	size_t failures = spool_group_failures(g);
	size_t spawn = 0;
	int ferr = failures ? spool_group_failure(g, 0, &spawn) : 0;
	/* Handled: the failures join reports, then any completed task. */
	for (size_t k = 0; k < failures && r->n_order < N; k++) {
		size_t idx;
		if (spool_group_failure(g, k, &idx) != SPOOL_EINVAL)
			r->order[r->n_order++] = (int)idx;
	}
	int cancelled = 0, completed = 0;
	for (int i = 0; i < N; i++) {
		spool_state st = fs[i] ? spool_future_state(fs[i])
				       : SPOOL_CANCELLED;
		cancelled += st == SPOOL_CANCELLED;
		if (st == SPOOL_DONE)
			r->order[r->n_order++] = i, completed++;
	}
	spool_group_destroy(g);
	release_all(fs, N);
	FAIL_IF(jrc != FAIL_CODE(FAILING),
		"join returned %s, expected task %d's "
		"error",
		spool_err_name(jrc), FAILING);
	r->ideal_s = delay_ms[FAILING] / 1e3;
	snprintf(r->outcome, sizeof(r->outcome),
		 "join: %zu failure (task %zu, error %d); %d cancelled, %d "
		 "completed",
		 failures, spawn, ferr, cancelled, completed);
	return 0;
}

static const struct scenario {
	const char *name, *title, *lesson;
	int (*run)(struct ctx *, struct cmp_article_result *);
} scenarios[] = {
	{"one_by_one", "await one after another",
	 "sequential again: each await blocks the next start", scen_one_by_one},
	{"in_order", "start all, wait in order",
	 "concurrent, but a fast result waits behind a slow one",
	 scen_in_order},
	{"gather", "gather",
	 "start in the background, join once: the longest delay", scen_gather},
	{"gather_errors", "gather, errors collected",
	 "fails fast by default; SPOOL_RETURN_ERRORS keeps every outcome",
	 scen_gather_errors},
	{"gather_grouped", "gathers grouped in a gather",
	 "a gather is a future, so gathers nest", scen_grouped},
	{"as_completed", "as_completed",
	 "each result handled the moment it arrives", scen_as_completed},
	{"wait_first", "wait(FIRST_COMPLETED) + refill",
	 "a changing task set: start new work as soon as a slot frees",
	 scen_wait_first},
	{"wait_timeout", "wait with a timeout",
	 "the timeout only stops waiting; the tasks go on", scen_wait_timeout},
	{"task_group", "task group, one task fails",
	 "the first failure cancels the rest; join reports it", scen_group},
};

struct main_arg {
	struct ctx *c;
	struct cmp_article_result *res;
	int n;
};

/* asyncio.run(main()): every scenario, one after another, in a
 * coroutine. */
static int article_main(void *arg, void **result)
{
	struct main_arg *m = arg;
	for (int i = 0; i < m->n; i++) {
		struct cmp_article_result *r = &m->res[i];
		memset(r, 0, sizeof(*r));
		r->name = scenarios[i].name;
		r->title = scenarios[i].title;
		r->lesson = scenarios[i].lesson;
		r->ok = scenarios[i].run(m->c, r) == 0;
	}
	*result = NULL;
	return 0;
}

int cmp_article_run(const struct cmp_config *cfg,
		    struct cmp_article_result *res, int max)
{
	(void)cfg;
	int n = (int)(sizeof(scenarios) / sizeof(*scenarios));
	if (n > max)
		n = max;
	static struct ctx c;
	struct main_arg m = {&c, res, n};
	spool_loop *loop;
	int rc = spool_loop_create(&loop, NULL);
	if (rc == 0) {
		c.loop_ex = spool_loop_executor(loop);
		spool_future *f = spool_submit_labeled(c.loop_ex, article_main,
						       &m, "main");
		rc = f ? spool_loop_run_until_complete(loop, f) : SPOOL_ENOMEM;
		if (rc == 0)
			rc = spool_future_error(f);
		spool_future_release(f);
		spool_loop_destroy(loop);
	}
	if (rc) {
		for (int i = 0; i < n; i++) {
			if (res[i].ok)
				continue;
			res[i].name = scenarios[i].name;
			res[i].title = scenarios[i].title;
			res[i].lesson = scenarios[i].lesson;
			snprintf(res[i].error, sizeof(res[i].error),
				 "the loop failed: %s", spool_err_name(rc));
		}
	}
	return n;
}
