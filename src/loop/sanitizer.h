/* SPDX-License-Identifier: MIT */
/*
 * Which sanitizer this translation unit is built with, for the coroutine
 * code that must tell the sanitizers about stack switches and stack reuse.
 * GCC defines __SANITIZE_ADDRESS__ / __SANITIZE_THREAD__; Clang answers
 * __has_feature.
 */
#ifndef SPOOL_LOOP_SANITIZER_H
#define SPOOL_LOOP_SANITIZER_H

#if defined(__SANITIZE_ADDRESS__)
#define SPOOL__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPOOL__ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define SPOOL__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SPOOL__TSAN 1
#endif
#endif

#ifdef SPOOL__ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef SPOOL__TSAN
#include <sanitizer/tsan_interface.h>
#endif

#endif /* SPOOL_LOOP_SANITIZER_H */
