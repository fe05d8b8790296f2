/* SPDX-License-Identifier: MIT */
/* The error map: names and messages from the one list in spool/error.h. */
#include "spool/error.h"

const char *spool_strerror(int err)
{
	if (err == 0)
		return "success";
	if (err > 0)
		return "task error";
	switch (err) {
#define SPOOL__ERR_MSG(name, value, msg)                                       \
	case SPOOL_##name:                                                     \
		return msg;
		SPOOL_ERRNO_MAP(SPOOL__ERR_MSG)
#undef SPOOL__ERR_MSG
	}
	return "unknown error";
}

const char *spool_err_name(int err)
{
	if (err == 0)
		return "SPOOL_OK";
	if (err > 0)
		return "TASK_ERROR";
	switch (err) {
#define SPOOL__ERR_NAME(name, value, msg)                                      \
	case SPOOL_##name:                                                     \
		return "SPOOL_" #name;
		SPOOL_ERRNO_MAP(SPOOL__ERR_NAME)
#undef SPOOL__ERR_NAME
	}
	return "SPOOL_EUNKNOWN";
}
