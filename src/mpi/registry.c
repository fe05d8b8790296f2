/* SPDX-License-Identifier: MIT */
/*
 * The names of remote functions: spool_mpi_register() and the lookup a
 * rank makes for each task it runs. A task message carries the name, not
 * an index, so ranks need not register in the same order, and a name one
 * rank lacks fails only the tasks that reach it (SPOOL_MPI_ENOFN). The
 * table is small and read under a mutex: a lookup is a few string
 * compares beside an MPI message.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mpi/internal.h"

struct entry {
	char name[SPOOL__MPI_NAME_MAX + 1];
	size_t len;
	spool_mpi_fn fn;
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct entry *reg;
static size_t reg_n, reg_cap;

int spool_mpi_register(const char *name, spool_mpi_fn fn)
{
	if (!name || !fn)
		return SPOOL_EINVAL;
	size_t len = strlen(name);
	if (len == 0 || len > SPOOL__MPI_NAME_MAX)
		return SPOOL_EINVAL;
	int rc = 0;
	pthread_mutex_lock(&reg_mu);
	for (size_t i = 0; i < reg_n; i++) {
		if (reg[i].len == len && memcmp(reg[i].name, name, len) == 0) {
			reg[i].fn = fn;
			goto out;
		}
	}
	if (reg_n == reg_cap) {
		size_t cap = reg_cap ? reg_cap * 2 : 8;
		struct entry *r = realloc(reg, cap * sizeof *r);
		if (!r) {
			rc = SPOOL_ENOMEM;
			goto out;
		}
		reg = r;
		reg_cap = cap;
	}
	memcpy(reg[reg_n].name, name, len + 1);
	reg[reg_n].len = len;
	reg[reg_n].fn = fn;
	reg_n++;
out:
	pthread_mutex_unlock(&reg_mu);
	return rc;
}

spool_mpi_fn spool__mpi_lookup(const char *name, size_t len)
{
	spool_mpi_fn fn = NULL;
	pthread_mutex_lock(&reg_mu);
	for (size_t i = 0; i < reg_n; i++) {
		if (reg[i].len == len && memcmp(reg[i].name, name, len) == 0) {
			fn = reg[i].fn;
			break;
		}
	}
	pthread_mutex_unlock(&reg_mu);
	return fn;
}
