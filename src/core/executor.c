/* SPDX-License-Identifier: MIT */
/*
 * spool_submit() and the inline executor: the front door every executor
 * shares, so that bad input is handled once for all of them.
 */
#include "executor_impl.h"
#include "future_impl.h"
#include "trace/trace.h"

spool_future *spool__future_failed(int err)
{
	spool_future *f = spool_promise_new();
	if (f)
		spool__future_complete(f, err, NULL);
	return f;
}

spool_future *spool_submit_labeled(spool_executor *ex, spool_task_fn fn,
				   void *arg, const char *label)
{
	if (!ex || !fn)
		return spool__future_failed(SPOOL_EINVAL);
	/* Traced: a "submit" slice with an arrow to the task's run. */
	uint64_t t0 = spool__trace_submit_begin();
	spool_future *f = ex->ops->submit(ex, fn, arg, label);
	spool__trace_submit_end(t0, f);
	return f;
}

spool_future *spool_submit(spool_executor *ex, spool_task_fn fn, void *arg)
{
	return spool_submit_labeled(ex, fn, arg, NULL);
}

int spool_run_task(spool_future *f, spool_task_fn fn, void *arg)
{
	if (!spool__is_promise(f) || !fn)
		return SPOOL_EINVAL;
	return spool__run_task(f, fn, arg);
}

int spool__run_task(spool_future *f, spool_task_fn fn, void *arg)
{
	int rc = spool__future_start(f);
	if (rc != 0)
		return rc == SPOOL_ECANCELLED ? rc : SPOOL_ESTATE;
	spool_future *outer = spool__current_swap(f);
	void *value = NULL;
	spool__trace_run_begin(f);
	rc = fn(arg, &value);
	spool__trace_run_end(f, rc);
	spool__current_swap(outer);
	spool__future_complete(f, rc, value);
	return rc;
}

static spool_future *inline_submit(spool_executor *ex, spool_task_fn fn,
				   void *arg, const char *label)
{
	(void)ex;
	spool_future *f = spool_promise_new();
	if (!f)
		return NULL;
	f->label = label;
	spool_run_task(f, fn, arg);
	return f;
}

static const struct spool__executor_ops inline_ops = {
	.name = "inline",
	.submit = inline_submit,
};

static spool_executor inline_executor = {&inline_ops};

spool_executor *spool_executor_inline(void)
{
	return &inline_executor;
}
