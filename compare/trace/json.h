/* SPDX-License-Identifier: MIT */
/*
 * A small pull reader for JSON text in memory (RFC 8259): the caller walks
 * objects and arrays itself and skips what it does not need, so a trace of
 * millions of events is read without building a tree.
 */
#ifndef SPOOL_COMPARE_TRACE_JSON_H
#define SPOOL_COMPARE_TRACE_JSON_H

#include <stdbool.h>
#include <stddef.h>

/* Not thread-safe: one reader belongs to one thread. It points into the
 * caller's text, which must outlive it; nothing is allocated but what
 * json_string_dup() returns. Nesting deeper than 256 arrays and objects
 * fails the reader. */
struct json_reader {
	const char *p, *end;
	bool failed; /* sticky: once set, every call returns false */
	bool first;  /* just after an opening bracket */
	int depth;
};

void json_init(struct json_reader *r, const char *text, size_t len);

/* The first character of the next value ('{', '[', '"', 't', 'f', 'n',
 * '-' or a digit), after white space; 0 at the end or after a failure. */
char json_peek(struct json_reader *r);

/* Objects: json_object_begin(), then while json_object_next(key) read or
 * skip the value; arrays likewise with json_array_next(). The *_next
 * functions consume the separating comma and the closing bracket. */
bool json_object_begin(struct json_reader *r);
bool json_object_next(struct json_reader *r, char *key, size_t cap);
bool json_array_begin(struct json_reader *r);
bool json_array_next(struct json_reader *r);

/* A string value decoded into buf (NUL-terminated, truncated between two
 * characters to at most cap - 1 bytes, the rest consumed); a number; any
 * value skipped. Each returns false, and marks the reader failed, if the
 * text is not that value. Strings are strict: every escape is one RFC 8259
 * names, \u surrogates come in pairs, raw bytes are well-formed UTF-8 and
 * not control characters. \u0000 decodes to a NUL byte, which ends the C
 * string early. */
bool json_string(struct json_reader *r, char *buf, size_t cap);
/* The same, whole, in a buffer from malloc() that the caller frees; NULL
 * (and the reader failed) if the text is not a string or memory ran out. */
char *json_string_dup(struct json_reader *r);
bool json_number(struct json_reader *r, double *v);
bool json_skip(struct json_reader *r);

/* True when only white space is left and nothing failed. */
bool json_end(struct json_reader *r);

#endif /* SPOOL_COMPARE_TRACE_JSON_H */
