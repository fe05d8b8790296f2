/* SPDX-License-Identifier: MIT */
/** @file
 * @brief The library version, at compile time and at run time. */
#ifndef SPOOL_VERSION_H
#define SPOOL_VERSION_H

#include "spool/common.h"

#define SPOOL_VERSION_MAJOR 0        /**< incompatible API changes */
#define SPOOL_VERSION_MINOR 1        /**< compatible additions */
#define SPOOL_VERSION_PATCH 0        /**< fixes */
#define SPOOL_VERSION_STRING "0.1.0" /**< "MAJOR.MINOR.PATCH" */
/** One comparable number: 0x00MMmmpp. */
#define SPOOL_VERSION_HEX                                                      \
	((SPOOL_VERSION_MAJOR << 16) | (SPOOL_VERSION_MINOR << 8) |            \
	 SPOOL_VERSION_PATCH)

#ifdef __cplusplus
extern "C" {
#endif

/** The version of the library actually linked, as SPOOL_VERSION_HEX; compare
 * it with the macro to detect a header/library mismatch. Thread-safe. */
SPOOL_API unsigned spool_version(void);

/** The same as a static string, e.g. "0.1.0". Thread-safe; never NULL. */
SPOOL_API const char *spool_version_string(void);

#ifdef __cplusplus
}
#endif

#endif /* SPOOL_VERSION_H */
