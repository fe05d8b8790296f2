/* SPDX-License-Identifier: MIT */
/*
 * Helpers every combinator shares (see internal.h) and the accessors of
 * results futures, the gather and map outcome.
 */
#include "settle.h"

int spool__check_inputs(spool_future *const *fs, size_t n)
{
	if (n > 0 && !fs)
		return SPOOL_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!fs[i])
			return SPOOL_EINVAL;
	return 0;
}

int spool__wait_until(spool_future *f, int64_t deadline)
{
	if (deadline == INT64_MAX)
		return spool_future_wait(f, SPOOL_FOREVER);
	int64_t left = deadline - spool__now_ns();
	return spool_future_wait(f, left > 0 ? left : 0);
}

const struct spool__results *spool__results_of(const spool_future *f)
{
	if (f &&
	    (f->ops == &spool__gather_ops.fut || f->ops == &spool__map_ops.fut))
		return (const struct spool__results *)f;
	return NULL;
}

bool spool__owns_value(const spool_future *f)
{
	return spool__results_of(f) != NULL;
}

size_t spool_gather_size(const spool_future *g)
{
	const struct spool__results *r = spool__results_of(g);
	return r ? r->n : 0;
}

int spool_gather_result(const spool_future *g, size_t i, void **value)
{
	if (value)
		*value = NULL;
	const struct spool__results *r = spool__results_of(g);
	if (!r || i >= r->n)
		return SPOOL_EINVAL;
	/* spool_future_error()'s acquire load pairs with the release that
	 * published DONE, which came after every slot was written. */
	int err = spool_future_error(g);
	if (err != 0)
		return err;
	if (r->errors && r->errors[i] != 0)
		return r->errors[i];
	if (value)
		*value = r->values[i];
	return 0;
}
