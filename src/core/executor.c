/* SPDX-License-Identifier: MIT */
/*
 * spool_submit() and the inline executor: the front door every executor
 * shares, so that bad input is handled once for all of them. Also the
 * submissions whose argument has an owner (spool_submit_copy, _owned) and
 * the calling thread's current executor.
 *
 * Owned arguments. A carrier (struct owned) holds fn, arg and dtor; the
 * task runs owned_run(carrier), which calls fn, then dtor, and marks the
 * carrier ran, all before the executor completes the future. A
 * done-callback on the future, whose node is in the carrier, calls dtor
 * when the future went final without owned_run having run (cancelled or
 * refused), so dtor runs exactly once: fn starts only if the future
 * leaves PENDING for RUNNING, which a cancel (PENDING to CANCELLED)
 * excludes, and the callback reads `ran` after the future is final,
 * that is after the completer's release that followed owned_run's write
 * (the completer runs the callback itself, or the adder found the future
 * final with an acquire read-modify-write). The carrier lives in the
 * task's record where the executor offers room (ops->submit_copy: a pool,
 * a loop), on this function's stack for the inline executor (the task
 * has finished before submit returns), and in one allocation elsewhere,
 * which the callback frees.
 */
#include <stdalign.h>
#include <string.h>

#include "alloc.h"
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
	spool_future *f = spool_promise_new();
	if (!f)
		return NULL;
	f->label = label;
	spool_executor *outer = spool__current_executor_swap(ex);
	spool_run_task(f, fn, arg);
	spool__current_executor_swap(outer);
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

/* ---- the current executor ---------------------------------------------- */

static SPOOL__TLS spool_executor *current_exec;

spool_executor *spool__current_executor_swap(spool_executor *ex)
{
	spool_executor *old = current_exec;
	current_exec = ex;
	return old;
}

spool_executor *spool_current_executor(void)
{
	return current_exec;
}

/* ---- arguments with owners --------------------------------------------- */

struct owned {
	spool_task_fn fn;
	void *arg;
	void (*dtor)(void *arg);
	bool heap; /* allocated here: owned_done frees it */
	bool ran;  /* owned_run called dtor */
	struct spool__cb node;
};

/* A carrier with the argument's copy after it (the generic path). */
struct owned_copy {
	struct owned o;
	alignas(max_align_t) unsigned char bytes[];
};

static int owned_run(void *p, void **result)
{
	struct owned *o = p;
	int rc = o->fn(o->arg, result);
	if (o->dtor)
		o->dtor(o->arg);
	o->ran = true;
	return rc;
}

static void owned_done(spool_future *f, void *p)
{
	(void)f;
	struct owned *o = p;
	if (!o->ran && o->dtor)
		o->dtor(o->arg);
	if (o->heap)
		free(o);
}

/* Submits the carrier o (a template on the caller's stack) to ex, which
 * is neither NULL nor the inline executor; extra bytes from src follow it
 * when size > 0 (the generic path only: the callers copy into the record
 * directly otherwise). Returns what the submission returns; in every case
 * o->dtor has been called, or will be, exactly once. */
static spool_future *submit_carrier(spool_executor *ex, struct owned *tmpl,
				    const void *src, size_t size,
				    const char *label)
{
	const struct spool__executor_ops *ops = ex->ops;
	uint64_t t0 = spool__trace_submit_begin();
	spool_future *f;
	struct owned *o;
	if (size == 0 && ops->submit_copy && sizeof *tmpl <= ops->copy_max) {
		void *copy = NULL;
		f = ops->submit_copy(ex, owned_run, tmpl, sizeof *tmpl, label,
				     &copy);
		o = copy;
	} else {
		if (size > SIZE_MAX - sizeof(struct owned_copy))
			o = NULL;
		else
			o = spool__malloc(sizeof(struct owned_copy) + size);
		if (o) {
			*o = *tmpl;
			o->heap = true;
			if (size) {
				unsigned char *b =
					((struct owned_copy *)o)->bytes;
				memcpy(b, src, size);
				o->arg = b;
			}
			f = ops->submit(ex, owned_run, o, label);
			if (!f) {
				free(o);
				o = NULL;
			}
		} else {
			f = NULL;
		}
	}
	spool__trace_submit_end(t0, f);
	if (o)
		spool__future_add_callback_node(f, &o->node, owned_done, o);
	else if (tmpl->dtor)
		tmpl->dtor(tmpl->arg); /* refused or out of memory */
	return f;
}

spool_future *spool_submit_owned(spool_executor *ex, spool_task_fn fn,
				 void *arg, void (*dtor)(void *arg))
{
	if (!ex || !fn) {
		if (dtor)
			dtor(arg);
		return spool__future_failed(SPOOL_EINVAL);
	}
	if (!dtor)
		return spool_submit(ex, fn, arg);
	struct owned o = {.fn = fn, .arg = arg, .dtor = dtor};
	if (ex == &inline_executor) {
		/* The task is final before submit returns: o may stay here. */
		spool_future *f = spool_submit(ex, owned_run, &o);
		if (!o.ran)
			dtor(arg); /* out of memory: it never ran */
		return f;
	}
	return submit_carrier(ex, &o, NULL, 0, NULL);
}

spool_future *spool_submit_copy(spool_executor *ex, spool_task_fn fn,
				const void *arg, size_t size)
{
	if (!ex || !fn || (size && !arg))
		return spool__future_failed(SPOOL_EINVAL);
	if (size == 0)
		return spool_submit(ex, fn, NULL);
	if (ex == &inline_executor && size <= SPOOL_SUBMIT_COPY_INLINE) {
		/* The task is over when submit returns: a copy here will do. */
		alignas(max_align_t) unsigned char
			buf[SPOOL_SUBMIT_COPY_INLINE];
		memcpy(buf, arg, size);
		return spool_submit(ex, fn, buf);
	}
	const struct spool__executor_ops *ops = ex->ops;
	if (ops->submit_copy && size <= ops->copy_max) {
		uint64_t t0 = spool__trace_submit_begin();
		void *copy;
		spool_future *f = ops->submit_copy(ex, fn, arg, size, NULL,
						   &copy);
		spool__trace_submit_end(t0, f);
		return f;
	}
	struct owned o = {.fn = fn};
	return submit_carrier(ex, &o, arg, size, NULL);
}
