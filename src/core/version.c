/* SPDX-License-Identifier: MIT */
/* The version actually linked, to compare with the header's macros. */
#include "spool/version.h"

unsigned spool_version(void)
{
	return SPOOL_VERSION_HEX;
}

const char *spool_version_string(void)
{
	return SPOOL_VERSION_STRING;
}
