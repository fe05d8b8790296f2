/* SPDX-License-Identifier: MIT */
/*
 * Suite "json": every promise of the strict pull JSON reader
 * (compare/trace/json.h) that the trace renderer and the trace suite rely
 * on. Each malformed input below is text RFC 8259 rejects, and the reader
 * must reject it too: a trace that is not strict JSON is reported, never
 * read half.
 */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "support.h"

/* True when text (len bytes) is exactly one JSON value. */
static bool valid_n(const char *text, size_t len)
{
	struct json_reader r;
	json_init(&r, text, len);
	return json_skip(&r) && json_end(&r);
}

#define VALID(lit) valid_n(lit, sizeof(lit) - 1)

/* Decodes the string literal JSON text lit into buf; false if rejected. */
static bool decode_n(const char *text, size_t len, char *buf, size_t cap)
{
	struct json_reader r;
	json_init(&r, text, len);
	return json_string(&r, buf, cap) && json_end(&r);
}

#define DECODE(lit, buf) decode_n(lit, sizeof(lit) - 1, buf, sizeof(buf))

/* Fails the test if any of the n NUL-terminated texts is accepted. */
static void assert_rejected(const char *const *bad, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(!valid_n(bad[i], strlen(bad[i])),
			      "#%zu (%s) accepted", i, bad[i]);
}

#define ASSERT_REJECTED(bad) assert_rejected(bad, sizeof bad / sizeof *bad)

/* Fails the test unless each string literal text[i] decodes to want[i]. */
static void assert_decodes(const char *const (*cases)[2], size_t n)
{
	char buf[32];
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(decode_n(cases[i][0], strlen(cases[i][0]), buf,
				       sizeof buf),
			      "%s rejected", cases[i][0]);
		ck_assert_str_eq(buf, cases[i][1]);
	}
}

START_TEST(objects_and_arrays_are_walked_member_by_member)
{
	static const char text[] =
		" {\"a\": [1, -2.5e1, true, false, null], \"b\": {}, "
		"\"c\": \"x\"} ";
	struct json_reader r;
	char key[8], s[8];
	double d;
	json_init(&r, text, sizeof text - 1);
	ck_assert_int_eq(json_peek(&r), '{');
	ck_assert(json_object_begin(&r));
	ck_assert(json_object_next(&r, key, sizeof key));
	ck_assert_str_eq(key, "a");
	ck_assert(json_array_begin(&r));
	ck_assert(json_array_next(&r));
	ck_assert(json_number(&r, &d));
	ck_assert_double_eq(d, 1);
	ck_assert(json_array_next(&r));
	ck_assert(json_number(&r, &d));
	ck_assert_double_eq(d, -25);
	int literals = 0;
	while (json_array_next(&r)) {
		ck_assert(json_skip(&r));
		literals++;
	}
	ck_assert_int_eq(literals, 3);
	ck_assert(json_object_next(&r, key, sizeof key));
	ck_assert_str_eq(key, "b");
	ck_assert(json_object_begin(&r));
	ck_assert(!json_object_next(&r, key, sizeof key));
	ck_assert(json_object_next(&r, key, sizeof key));
	ck_assert_str_eq(key, "c");
	ck_assert(json_string(&r, s, sizeof s));
	ck_assert_str_eq(s, "x");
	ck_assert(!json_object_next(&r, key, sizeof key));
	ck_assert(!r.failed);
	ck_assert(json_end(&r));
	ck_assert_int_eq(json_peek(&r), 0);
}
END_TEST

START_TEST(every_rfc_escape_and_surrogate_pair_decodes)
{
	static const char *const cases[][2] = {
		{"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t"},
		{"\"\\u0041\\u00e9\\u20AC\"", "A\xc3\xa9\xe2\x82\xac"},
		{"\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80"},
		{"\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf"},
	};
	assert_decodes(cases, sizeof cases / sizeof *cases);
}
END_TEST

START_TEST(lone_or_mismatched_surrogates_fail)
{
	static const char *const bad[] = {
		"\"\\ud83d\"",        "\"\\ud83dx\"",       "\"\\ud83d\\n\"",
		"\"\\ud83d\\u0041\"", "\"\\ud83d\\ud83d\"", "\"\\ude00\"",
		"\"\\ude00\\ud83d\"",
	};
	ASSERT_REJECTED(bad);
}
END_TEST

START_TEST(unknown_or_short_escapes_fail)
{
	static const char *const bad[] = {
		"\"\\x41\"", "\"\\a\"",     "\"\\'\"",
		"\"\\u12\"", "\"\\u12g4\"", "\"\\",
	};
	ASSERT_REJECTED(bad);
	ck_assert(!valid_n("\"\\\0\"", 4));
}
END_TEST

START_TEST(control_characters_in_strings_fail)
{
	char text[] = "\"a?b\"";
	for (int c = 0; c < 0x20; c++) {
		text[2] = (char)c;
		ck_assert_msg(!valid_n(text, sizeof text - 1),
			      "raw control character 0x%02x accepted", c);
	}
	text[2] = 0x7f; /* DEL is not a control character for RFC 8259 */
	ck_assert(valid_n(text, sizeof text - 1));
	ck_assert(VALID("\"\\u0001\\u001f\""));
}
END_TEST

START_TEST(well_formed_utf8_is_kept_byte_for_byte)
{
	char buf[32];
	static const char text[] = "\"\xc2\xa0\xc3\xa9\xe0\xa0\x80\xe2\x82\xac"
				   "\xed\x9f\xbf\xf0\x90\x80\x80\xf4\x8f\xbf"
				   "\xbf\"";
	ck_assert(DECODE(text, buf));
	ck_assert_uint_eq(strlen(buf), sizeof text - 3);
	ck_assert(memcmp(buf, text + 1, sizeof text - 3) == 0);
}
END_TEST

START_TEST(malformed_utf8_in_strings_fails)
{
	static const char *const bad[] = {
		"\"\x80\"",             /* a lone continuation byte */
		"\"\xbf\"",             /* another */
		"\"\xc0\xaf\"",         /* overlong '/' */
		"\"\xc1\xbf\"",         /* overlong */
		"\"\xe0\x9f\xbf\"",     /* overlong three-byte form */
		"\"\xf0\x8f\xbf\xbf\"", /* overlong four-byte form */
		"\"\xed\xa0\x80\"",     /* an encoded surrogate (U+D800) */
		"\"\xf4\x90\x80\x80\"", /* past U+10FFFF */
		"\"\xf5\x80\x80\x80\"", /* no such lead byte */
		"\"\xff\"",             /* nor this one */
		"\"\xc3\"",             /* cut by the closing quote */
		"\"\xe2\x82\"",         /* likewise */
		"\"\xe2\x28\xa1\"",     /* a bad continuation byte */
		"\"\xf0\x9f\x98\x41\"", /* likewise, last */
	};
	ASSERT_REJECTED(bad);
	/* A sequence cut by the end of the text, with no closing quote. */
	ck_assert(!valid_n("\"\xe2\x82", 3));
	/* The same bytes as object keys. */
	ck_assert(!VALID("{\"\xc0\xaf\": 1}"));
}
END_TEST

START_TEST(numbers_follow_the_rfc_grammar)
{
	static const struct {
		const char *text;
		double v;
	} good[] = {
		{"0", 0},
		{"-0", 0},
		{"7", 7},
		{"-12", -12},
		{"0.5", 0.5},
		{"1.25e2", 125},
		{"1E+2", 100},
		{"25e-1", 2.5},
		{"-0.0e0", 0},
		{" 42 ", 42},
		{"1234567.875", 1234567.875},
	};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		struct json_reader r;
		double d = -1;
		json_init(&r, good[i].text, strlen(good[i].text));
		ck_assert_msg(json_number(&r, &d) && json_end(&r),
			      "%s rejected", good[i].text);
		ck_assert_double_eq(d, good[i].v);
	}
}
END_TEST

START_TEST(malformed_numbers_fail)
{
	static const char *const bad[] = {
		"01",  "-",    "+1",  ".5",   "1.",       "1.e3",
		"1e",  "1e+",  "-a",  "0x1",  "Infinity", "NaN",
		"- 1", "1 .5", "--1", "1e5.", "",
	};
	ASSERT_REJECTED(bad);
}
END_TEST

START_TEST(bad_literals_fail)
{
	ck_assert(VALID("[true,false,null]"));
	static const char *const bad[] = {"tru", "True", "nul", "falsy"};
	ASSERT_REJECTED(bad);
}
END_TEST

START_TEST(trailing_text_fails)
{
	ck_assert(VALID("{} \n\t\r"));
	static const char *const bad[] = {"{} x", "{}}", "1 2", "\"a\" \"b\""};
	ASSERT_REJECTED(bad);
	ck_assert(!valid_n("{}\0", 3));
}
END_TEST

START_TEST(broken_structure_fails)
{
	static const char *const bad[] = {
		"[1,]",      "[,1]",     "[1 2]", "{\"a\":1,}", "{,}",
		"{\"a\" 1}", "{\"a\":}", "{a:1}", "{1:1}",      "[1",
		"{\"a\":1",  "[",        "\"abc", "]",          "{\"a\":1]",
		"[1}",       "{\"a\"}",  "",
	};
	ASSERT_REJECTED(bad);
}
END_TEST

START_TEST(nesting_deeper_than_256_fails)
{
	enum { MAX = 256 };
	/* Arrays and objects alternate: [{"k":[{"k":...0...}]}]. */
	char text[8 * (MAX + 1)];
	for (int depth = MAX - 1; depth <= MAX + 1; depth++) {
		size_t n = 0;
		for (int i = 0; i < depth; i++) {
			const char *open = i % 2 ? "{\"k\":" : "[";
			memcpy(text + n, open, strlen(open));
			n += strlen(open);
		}
		text[n++] = '0';
		for (int i = depth - 1; i >= 0; i--)
			text[n++] = i % 2 ? '}' : ']';
		ck_assert_msg(valid_n(text, n) == (depth <= MAX),
			      "depth %d misjudged", depth);
	}
}
END_TEST

START_TEST(a_failed_reader_stays_failed)
{
	struct json_reader r;
	char buf[8];
	double d = -1;
	json_init(&r, "[1,,2]", 6);
	ck_assert(json_array_begin(&r));
	ck_assert(json_array_next(&r));
	ck_assert(json_number(&r, &d));
	ck_assert(json_array_next(&r));
	ck_assert(!json_number(&r, &d)); /* the second comma */
	ck_assert(r.failed);
	/* What follows the failure is a number, but every call now says no. */
	r.p += 1;
	d = -1;
	ck_assert(!json_number(&r, &d));
	ck_assert_double_eq(d, -1);
	ck_assert(!json_skip(&r));
	ck_assert(!json_array_next(&r));
	ck_assert(!json_string(&r, buf, sizeof buf));
	ck_assert_ptr_null(json_string_dup(&r));
	ck_assert_int_eq(json_peek(&r), 0);
	ck_assert(!json_end(&r));
}
END_TEST

START_TEST(truncated_strings_end_between_characters)
{
	char buf[4];
	/* "a€b": the euro sign is three bytes and does not fit after "a" in
	 * three bytes; nothing after it is kept either. */
	ck_assert(DECODE("\"a\xe2\x82\xac"
			 "b\"",
			 buf));
	ck_assert_str_eq(buf, "a");
	ck_assert(DECODE("\"a\\u20acb\"", buf));
	ck_assert_str_eq(buf, "a");
	ck_assert(DECODE("\"abcdef\"", buf));
	ck_assert_str_eq(buf, "abc");
	/* The whole string is consumed all the same. */
	struct json_reader r;
	json_init(&r, "[\"abcdef\",1]", 12);
	double d;
	ck_assert(json_array_begin(&r) && json_array_next(&r));
	ck_assert(json_string(&r, buf, sizeof buf));
	ck_assert(json_array_next(&r) && json_number(&r, &d));
	ck_assert_double_eq(d, 1);
	ck_assert(!json_array_next(&r) && json_end(&r));
}
END_TEST

START_TEST(string_dup_returns_the_whole_string)
{
	enum { N = 10000 };
	char *text = malloc(2 * N + 16);
	size_t n = 0;
	text[n++] = '"';
	for (int i = 0; i < N; i++) {
		if (i % 100 == 0) {
			memcpy(text + n, "\\u00e9", 6);
			n += 6;
		} else {
			text[n++] = (char)('a' + i % 26);
		}
	}
	text[n++] = '"';
	struct json_reader r;
	json_init(&r, text, n);
	char *s = json_string_dup(&r);
	ck_assert_ptr_nonnull(s);
	ck_assert(json_end(&r));
	ck_assert_uint_eq(strlen(s), N + N / 100);
	size_t k = 0;
	for (int i = 0; i < N; i++) {
		if (i % 100 == 0) {
			ck_assert(memcmp(s + k, "\xc3\xa9", 2) == 0);
			k += 2;
		} else {
			ck_assert_int_eq(s[k++], 'a' + i % 26);
		}
	}
	free(s);
	free(text);

	json_init(&r, "\"\\\"\\\\\"", 6);
	s = json_string_dup(&r);
	ck_assert_str_eq(s, "\"\\");
	free(s);
}
END_TEST

START_TEST(string_dup_of_anything_else_fails)
{
	static const char *const bad[] = {"1",       "null",  "[\"a\"]",
					  "\"\\q\"", "\"abc", "\"\xff\""};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct json_reader r;
		json_init(&r, bad[i], strlen(bad[i]));
		ck_assert_ptr_null(json_string_dup(&r));
		ck_assert(r.failed);
	}
}
END_TEST

static Suite *json_suite(void)
{
	Suite *s = suite_create("json");
	TCase *tc = spool_test_case("reader", 30);
	tcase_add_test(tc, objects_and_arrays_are_walked_member_by_member);
	tcase_add_test(tc, every_rfc_escape_and_surrogate_pair_decodes);
	tcase_add_test(tc, lone_or_mismatched_surrogates_fail);
	tcase_add_test(tc, unknown_or_short_escapes_fail);
	tcase_add_test(tc, control_characters_in_strings_fail);
	tcase_add_test(tc, well_formed_utf8_is_kept_byte_for_byte);
	tcase_add_test(tc, malformed_utf8_in_strings_fails);
	tcase_add_test(tc, numbers_follow_the_rfc_grammar);
	tcase_add_test(tc, malformed_numbers_fail);
	tcase_add_test(tc, bad_literals_fail);
	tcase_add_test(tc, trailing_text_fails);
	tcase_add_test(tc, broken_structure_fails);
	tcase_add_test(tc, nesting_deeper_than_256_fails);
	tcase_add_test(tc, a_failed_reader_stays_failed);
	tcase_add_test(tc, truncated_strings_end_between_characters);
	tcase_add_test(tc, string_dup_returns_the_whole_string);
	tcase_add_test(tc, string_dup_of_anything_else_fails);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return spool_test_run(json_suite());
}
