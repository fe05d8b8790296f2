/* SPDX-License-Identifier: MIT */
/* Suite "trace_svg": what trace_svg_write() promises in trace_svg.h. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"
#include "trace_svg.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/spool-svg-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static const char *path(const char *name)
{
	static char buf[2][128];
	static int k;
	char *p = buf[k++ % 2];
	snprintf(p, 128, "%s/%s", dir, name);
	return p;
}

static const char *write_file(const char *name, const char *text)
{
	const char *p = path(name);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return p;
}

/* Draws json into a string (freed by the caller); fails unless rc. */
static char *draw(const char *json_path, const struct trace_svg_options *o,
		  int want_rc)
{
	char *svg = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&svg, &len);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(trace_svg_write(json_path, f, o), want_rc);
	fclose(f);
	return svg;
}

static size_t occurrences(const char *s, const char *what)
{
	size_t n = 0;
	for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

/* The slices drawn by the bars of class cls whose tooltip starts with
 * name (NULL: any): a merged bar says "(N slices, ...)", others count 1. */
static size_t slices_drawn(const char *svg, const char *cls, const char *name)
{
	char want[64];
	snprintf(want, sizeof want, "class=\"%s\"", cls);
	size_t total = 0;
	for (const char *p = svg; (p = strstr(p, want)); p += strlen(want)) {
		const char *t = strstr(p, "<title>");
		ck_assert_ptr_nonnull(t);
		t += 7;
		if (name && strncmp(t, name, strlen(name)) != 0)
			continue;
		const char *paren = strchr(t, '(');
		unsigned long n = 1;
		if (paren && strstr(paren, " slices, ") &&
		    strstr(paren, " slices, ") < strstr(paren, "</title>"))
			n = strtoul(paren + 1, NULL, 10);
		total += n;
	}
	return total;
}

static const char *handmade =
	"{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n"
	"{\"ph\":\"M\",\"pid\":1,\"tid\":11,\"name\":\"thread_name\","
	"\"args\":{\"name\":\"worker 1\"}},\n"
	"{\"ph\":\"M\",\"pid\":1,\"tid\":11,\"name\":\"thread_sort_index\","
	"\"args\":{\"sort_index\":1}},\n"
	"{\"ph\":\"M\",\"pid\":1,\"tid\":12,\"name\":\"thread_name\","
	"\"args\":{\"name\":\"loop\"}},\n"
	"{\"ph\":\"M\",\"pid\":1,\"tid\":12,\"name\":\"thread_sort_index\","
	"\"args\":{\"sort_index\":1000}},\n"
	"{\"ph\":\"M\",\"pid\":1,\"tid\":10,\"name\":\"thread_name\","
	"\"args\":{\"name\":\"worker 0\"}},\n"
	"{\"ph\":\"M\",\"pid\":1,\"tid\":10,\"name\":\"thread_sort_index\","
	"\"args\":{\"sort_index\":0}},\n"
	"{\"ph\":\"X\",\"pid\":1,\"tid\":10,\"ts\":0,\"dur\":100,"
	"\"name\":\"a\",\"cat\":\"task\",\"args\":{\"id\":1}},\n"
	"{\"ph\":\"X\",\"pid\":1,\"tid\":10,\"ts\":5,\"dur\":1,"
	"\"name\":\"submit\",\"cat\":\"submit\",\"bind_id\":\"0x2\","
	"\"flow_out\":true},\n"
	"{\"ph\":\"X\",\"pid\":1,\"tid\":10,\"ts\":10,\"dur\":40,"
	"\"name\":\"wait\",\"cat\":\"wait\",\"args\":{\"on\":2}},\n"
	"{\"ph\":\"X\",\"pid\":1,\"tid\":10,\"ts\":20,\"dur\":10,"
	"\"name\":\"b\",\"cat\":\"task\"},\n"
	"{\"ph\":\"X\",\"pid\":1,\"tid\":11,\"ts\":0,\"dur\":40,"
	"\"name\":\"park\",\"cat\":\"pool\"},\n"
	"{\"ph\":\"X\",\"pid\":1,\"tid\":11,\"ts\":50,\"dur\":40,"
	"\"name\":\"b\",\"cat\":\"task\"},\n"
	"{\"ph\":\"X\",\"pid\":1,\"tid\":12,\"ts\":0,\"dur\":100,"
	"\"name\":\"loop iteration\",\"cat\":\"loop\"},\n"
	"{\"ph\":\"X\",\"pid\":1,\"tid\":12,\"ts\":10,\"dur\":10,"
	"\"name\":\"c <&>\",\"cat\":\"task\"},\n"
	"{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":11,\"ts\":50,"
	"\"name\":\"steal\",\"cat\":\"pool\"},\n"
	"{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":10,\"ts\":45,"
	"\"name\":\"wake\",\"cat\":\"pool\"},\n"
	"{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":12,\"ts\":20,"
	"\"name\":\"suspend\",\"cat\":\"loop\"},\n"
	"{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":12,\"ts\":60,"
	"\"name\":\"timer\",\"cat\":\"loop\"},\n"
	"{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":12,\"ts\":90,"
	"\"name\":\"events dropped\",\"cat\":\"trace\"}\n"
	"],\n\"metadata\":{\"dropped_events\":7}}\n";

START_TEST(rows_follow_sort_order_with_bars_marks_axis_and_legend)
{
	char *svg = draw(write_file("h.json", handmade), NULL, TRACE_SVG_OK);
	ck_assert(strncmp(svg, "<svg ", 5) == 0);
	ck_assert(strstr(svg, "</svg>\n") == svg + strlen(svg) - 7);
	/* One row per track, in sort-index order. */
	ck_assert_int_eq(occurrences(svg, "class=\"row\""), 3);
	const char *w0 = strstr(svg, ">worker 0</text>");
	const char *w1 = strstr(svg, ">worker 1</text>");
	const char *lp = strstr(svg, ">loop</text>");
	ck_assert(w0 && w1 && lp && w0 < w1 && w1 < lp);
	/* A bar per slice, by kind. */
	ck_assert_int_eq(occurrences(svg, "class=\"run\""), 4);
	ck_assert_int_eq(occurrences(svg, "class=\"wait\""), 1);
	ck_assert_int_eq(occurrences(svg, "class=\"park\""), 1);
	ck_assert_int_eq(occurrences(svg, "class=\"turn\""), 1);
	ck_assert_int_eq(occurrences(svg, "class=\"submit\""), 1);
	/* Marks. */
	ck_assert_int_eq(occurrences(svg, "class=\"steal\""), 1);
	ck_assert_int_eq(occurrences(svg, "class=\"wake\""), 1);
	ck_assert_int_eq(occurrences(svg, "class=\"suspend\""), 1);
	ck_assert_int_eq(occurrences(svg, "class=\"timer\""), 1);
	ck_assert_int_eq(occurrences(svg, "class=\"dropped\""), 1);
	ck_assert_ptr_nonnull(strstr(svg, "7 events were dropped"));
	/* Colour by label: both "b" bars share one, "a" has another. */
	ck_assert_int_eq(occurrences(svg, "fill=\"#f28e2b\"><title>b "), 2);
	ck_assert_int_eq(occurrences(svg, "fill=\"#4e79a7\"><title>a "), 1);
	/* Legend: each label once, escaped for XML. */
	ck_assert_int_eq(occurrences(svg, "class=\"legend\""), 3);
	ck_assert_ptr_nonnull(strstr(svg, ">c &lt;&amp;&gt;</text>"));
	ck_assert_ptr_null(strstr(svg, "c <&>"));
	/* A time axis from 0 to the trace's 100 us. */
	ck_assert_int_ge(occurrences(svg, "class=\"tick\""), 5);
	ck_assert_ptr_nonnull(strstr(svg, ">100 us</text>"));
	/* Nested slices are inset below their parent. */
	const char *a = strstr(svg, "<title>a ");
	const char *b = strstr(svg, "<title>b ");
	ck_assert(a && b);
	free(svg);

	struct trace_svg_options o = TRACE_SVG_OPTIONS_INIT;
	o.no_legend = true;
	svg = draw(path("h.json"), &o, TRACE_SVG_OK);
	ck_assert_int_eq(occurrences(svg, "class=\"legend\""), 0);
	free(svg);
}
END_TEST

START_TEST(window_option_clips_to_the_range)
{
	struct trace_svg_options o = TRACE_SVG_OPTIONS_INIT;
	o.from_us = 55;
	o.to_us = 95;
	char *svg = draw(write_file("h.json", handmade), &o, TRACE_SVG_OK);
	/* Runs a [0,100] and b [50,90] overlap the window; b [20,30] and
	 * c [10,20] do not. */
	ck_assert_int_eq(occurrences(svg, "class=\"run\""), 2);
	ck_assert_int_eq(occurrences(svg, "class=\"steal\""), 0);
	ck_assert_int_eq(occurrences(svg, "class=\"timer\""), 1);
	free(svg);
}
END_TEST

START_TEST(tiny_neighbouring_slices_merge_into_one_bar_with_a_count)
{
	const char *p = path("tiny.json");
	FILE *f = fopen(p, "w");
	fputs("{\"traceEvents\":[", f);
	for (int i = 0; i < 2000; i++) /* back to back, 5 ns apart */
		fprintf(f,
			"{\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":%.3f,"
			"\"dur\":0.004,\"name\":\"t\",\"cat\":\"task\"},",
			i * 0.005);
	fputs("{\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":1000,\"dur\":1,"
	      "\"name\":\"end\",\"cat\":\"task\"}]}",
	      f);
	fclose(f);
	char *svg = draw(p, NULL, TRACE_SVG_OK);
	size_t bars = occurrences(svg, "class=\"run\"");
	ck_assert_int_ge(bars, 2); /* "end" at least, and the merged ones */
	ck_assert_int_le(bars, 20);
	ck_assert_int_eq(slices_drawn(svg, "run", "t ("), 2000);
	free(svg);
}
END_TEST

START_TEST(bad_inputs_give_clear_codes)
{
	FILE *f = fopen("/dev/null", "w");
	ck_assert_int_eq(trace_svg_write(path("missing.json"), f, NULL),
			 TRACE_SVG_EIO);
	const char *bad[] = {"{",
			     "{\"foo\":1}",
			     "[1,2,]",
			     "{\"traceEvents\":[}",
			     "{\"traceEvents\":[]} x",
			     "nul",
			     "{\"traceEvents\":[{\"ph\":\"X\",\"ts\":1e}]}"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(trace_svg_write(write_file("bad.json", bad[i]), f,
					      NULL) == TRACE_SVG_EPARSE,
			      "accepted %s", bad[i]);
	ck_assert_int_eq(trace_svg_write(NULL, f, NULL), TRACE_SVG_EINVAL);
	ck_assert_int_eq(trace_svg_write(path("bad.json"), NULL, NULL),
			 TRACE_SVG_EINVAL);
	struct trace_svg_options o = TRACE_SVG_OPTIONS_INIT;
	o.from_us = 10;
	o.to_us = 5;
	ck_assert_int_eq(trace_svg_write(path("bad.json"), f, &o),
			 TRACE_SVG_EINVAL);
	fclose(f);
	int codes[] = {TRACE_SVG_EIO, TRACE_SVG_EPARSE, TRACE_SVG_ENOMEM,
		       TRACE_SVG_EINVAL};
	for (int i = 0; i < 4; i++)
		ck_assert_str_ne(trace_svg_strerror(codes[i]), "unknown error");
}
END_TEST

START_TEST(empty_and_bare_array_traces_are_drawn)
{
	char *svg = draw(
		write_file("e.json", "{\"traceEvents\":[],\"metadata\":{}}"),
		NULL, TRACE_SVG_OK);
	ck_assert_ptr_nonnull(strstr(svg, "no events recorded"));
	free(svg);
	svg = draw(write_file("b.json",
			      "[{\"ph\":\"X\",\"pid\":1,\"tid\":3,\"ts\":1,"
			      "\"dur\":2,\"name\":\"only\",\"cat\":\"task\"}]"),
		   NULL, TRACE_SVG_OK);
	ck_assert_int_eq(occurrences(svg, "class=\"run\""), 1);
	ck_assert_ptr_nonnull(strstr(svg, ">tid 3</text>")); /* unnamed */
	free(svg);
}
END_TEST

static int work(void *arg, void **result)
{
	*result = arg;
	return 0;
}

static void *helper(void *arg)
{
	(void)arg;
	spool_trace_thread_name("helper");
	for (int i = 0; i < 2; i++)
		spool_future_release(spool_submit_labeled(
			spool_executor_inline(), work, NULL, "beta"));
	return NULL;
}

START_TEST(a_real_spool_trace_is_drawn_with_one_row_per_thread)
{
	spool_trace_thread_name("main");
	ck_assert_int_eq(spool_trace_start(path("real.json")), 0);
	for (int i = 0; i < 3; i++)
		spool_future_release(spool_submit_labeled(
			spool_executor_inline(), work, NULL, "alpha"));
	pthread_t th;
	pthread_create(&th, NULL, helper, NULL);
	pthread_join(th, NULL);
	ck_assert_int_eq(spool_trace_stop(), 0);
	struct trace_svg_options o = TRACE_SVG_OPTIONS_INIT;
	o.title = "real";
	char *svg = draw(path("real.json"), &o, TRACE_SVG_OK);
	ck_assert_int_eq(occurrences(svg, "class=\"row\""), 2);
	ck_assert_ptr_nonnull(strstr(svg, ">main</text>"));
	ck_assert_ptr_nonnull(strstr(svg, ">helper</text>"));
	ck_assert_ptr_nonnull(strstr(svg, ">real</text>"));
	ck_assert_int_eq(occurrences(svg, "class=\"legend\""), 2);
	/* Tiny bars may merge; the tooltips still count every slice. */
	ck_assert_int_eq(slices_drawn(svg, "submit", NULL), 5);
	ck_assert_int_eq(slices_drawn(svg, "run", "alpha ("), 3);
	ck_assert_int_eq(slices_drawn(svg, "run", "beta ("), 2);
	free(svg);
}
END_TEST

/* Two threads taking turns on a lock, as compare/app/gil.c records it. */
static const char *user_slices =
	"{\"traceEvents\":[\n"
	"{\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":0,\"dur\":100,"
	"\"name\":\"task\",\"cat\":\"task\"},\n"
	"{\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":1,\"dur\":40,"
	"\"name\":\"holds the GIL\",\"cat\":\"user\"},\n"
	"{\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":41,\"dur\":40,"
	"\"name\":\"waits for the GIL\",\"cat\":\"user\"},\n"
	"{\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":81,\"dur\":19,"
	"\"name\":\"holds the GIL\",\"cat\":\"user\"},\n"
	"{\"ph\":\"X\",\"pid\":1,\"tid\":2,\"ts\":0,\"dur\":100,"
	"\"name\":\"task\",\"cat\":\"task\"},\n"
	"{\"ph\":\"X\",\"pid\":1,\"tid\":2,\"ts\":1,\"dur\":40,"
	"\"name\":\"waits for the GIL\",\"cat\":\"user\"},\n"
	"{\"ph\":\"X\",\"pid\":1,\"tid\":2,\"ts\":41,\"dur\":40,"
	"\"name\":\"holds the GIL\",\"cat\":\"user\"}\n"
	"]}\n";

START_TEST(user_slices_get_a_colour_and_a_legend_entry_per_name)
{
	char *svg = draw(write_file("u.json", user_slices), NULL, TRACE_SVG_OK);
	/* Holding is a solid outlined bar; a name starting with "wait" is
	 * drawn as a wait is, translucent and dashed. */
	ck_assert_int_eq(slices_drawn(svg, "user", "holds the GIL ("), 3);
	ck_assert_int_eq(slices_drawn(svg, "user-wait", "waits for the GIL ("),
			 2);
	ck_assert_int_eq(slices_drawn(svg, "run", NULL), 2);
	/* One colour per name, none shared with the task labels. */
	ck_assert_int_eq(occurrences(svg, "fill=\"#1b9e77\" stroke=\"#222\""),
			 3 + 1);
	ck_assert_int_eq(occurrences(svg, "fill=\"#d95f02\" fill-opacity"),
			 2 + 1);
	ck_assert_int_eq(occurrences(svg, "fill=\"#4e79a7\""), 2 + 1);
	/* The legend: the task label, then each user slice name once. */
	ck_assert_int_eq(occurrences(svg, "class=\"legend\""), 1);
	ck_assert_int_eq(occurrences(svg, "class=\"legend user\""), 2);
	const char *h = strstr(svg, ">holds the GIL</text>");
	const char *w = strstr(svg, ">waits for the GIL</text>");
	ck_assert(h && w && h < w);
	free(svg);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("trace_svg");
	TCase *tc = spool_test_case("svg", 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc,
		       rows_follow_sort_order_with_bars_marks_axis_and_legend);
	tcase_add_test(tc, window_option_clips_to_the_range);
	tcase_add_test(
		tc, tiny_neighbouring_slices_merge_into_one_bar_with_a_count);
	tcase_add_test(tc, bad_inputs_give_clear_codes);
	tcase_add_test(tc, empty_and_bare_array_traces_are_drawn);
	tcase_add_test(tc, a_real_spool_trace_is_drawn_with_one_row_per_thread);
	tcase_add_test(tc,
		       user_slices_get_a_colour_and_a_legend_entry_per_name);
	suite_add_tcase(s, tc);
	return spool_test_run(s);
}
