/* The JSON stream splitter (producer/http/json_stream.c): real watch streams cut at every
 * point, hostile streams, and the limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "json_stream.h"

/* What a run saw, as text: one line per event, "V <value>" or "E <reason>". */
struct seen {
	char *text;
	size_t len;
	FILE *out;
	int stop_after; /* stop (return 7) after this many values; 0 = never */
	int nvalues;
};

static int on_value(void *ctx, const char *value, size_t len)
{
	struct seen *s = ctx;

	fprintf(s->out, "V %.*s\n", (int)len, value);
	s->nvalues++;
	return s->stop_after && s->nvalues == s->stop_after ? 7 : 0;
}

static void on_error(void *ctx, enum json_stream_error err)
{
	struct seen *s = ctx;

	fprintf(s->out, "E %s\n", json_stream_error_name(err));
}

static void seen_open(struct seen *s)
{
	*s = (struct seen){ 0 };
	s->out = open_memstream(&s->text, &s->len);
	assert_non_null(s->out);
}

static char *seen_close(struct seen *s)
{
	fclose(s->out);
	return s->text;
}

/* Feeds `in` cut at the given offsets (ascending, each < len), then finishes. */
static char *feed_cut(const char *in, size_t len, const size_t *cuts, size_t ncuts,
		      size_t max_value, size_t max_depth)
{
	struct json_stream js;
	struct seen s;
	size_t from = 0;

	seen_open(&s);
	json_stream_init(&js, max_value, max_depth, on_value, on_error, &s);
	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : len;

		assert_int_equal(json_stream_feed(&js, in + from, to - from), 0);
		assert_true(js.cap <= max_value);
		from = to;
	}
	assert_int_equal(json_stream_finish(&js), 0);
	json_stream_free(&js);
	return seen_close(&s);
}

static char *feed_whole(const char *in, size_t max_value, size_t max_depth)
{
	return feed_cut(in, strlen(in), NULL, 0, max_value, max_depth);
}

/* Every cut into two and, for inputs up to 400 bytes, every cut into three, gives what the
 * whole input gives. */
static void check_every_cut(const char *in, size_t max_value, size_t max_depth)
{
	size_t len = strlen(in);
	char *whole = feed_whole(in, max_value, max_depth);

	for (size_t i = 0; i <= len; i++) {
		size_t cuts[2] = { i, 0 };
		char *got = feed_cut(in, len, cuts, 1, max_value, max_depth);

		if (strcmp(got, whole) != 0)
			fail_msg("cut at %zu:\n%s\nwhole:\n%s", i, got, whole);
		free(got);
		for (size_t j = i; len <= 400 && j <= len; j++) {
			cuts[1] = j;
			got = feed_cut(in, len, cuts, 2, max_value, max_depth);
			if (strcmp(got, whole) != 0)
				fail_msg("cuts at %zu, %zu:\n%s\nwhole:\n%s", i, j, got, whole);
			free(got);
		}
	}
	free(whole);
}

static const char k8s_watch[] =
	"{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-0\","
	"\"namespace\":\"default\",\"resourceVersion\":\"101\",\"labels\":{\"a\":\"b\\\"}{\"}},"
	"\"status\":{\"phase\":\"Running\",\"podIPs\":[{\"ip\":\"10.1.2.3\"}]}}}\n"
	"{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"metadata\":"
	"{\"resourceVersion\":\"102\"}}}\n"
	"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\","
	"\"message\":\"too old resource version: 1 (101)\"}}\n";

static const char etcd_watch[] =
	"{\"result\":{\"header\":{\"cluster_id\":\"1484\",\"revision\":\"5\"},\"created\":true}}"
	"{\"result\":{\"header\":{\"revision\":\"6\"},\"events\":[{\"kv\":{\"key\":\"L3JlZy9h\","
	"\"mod_revision\":\"6\",\"value\":\"e30=\"}},{\"type\":\"DELETE\","
	"\"kv\":{\"key\":\"L3JlZy9i\"}}]}}\n"
	"{\"result\":{\"header\":{\"revision\":\"9\"}}}";

/* Each value of a Kubernetes watch, once, byte for byte, and each parses. */
static void test_k8s_watch_lines(void **state)
{
	char *got = feed_whole(k8s_watch, 4096, 32);
	char *expected = malloc(sizeof(k8s_watch) + 16);
	const char *line = k8s_watch;

	(void)state;
	/* The expected trace is the input with "V " before each line. */
	expected[0] = '\0';
	for (const char *nl; (nl = strchr(line, '\n')); line = nl + 1) {
		json_error_t jerr;
		json_t *v = json_loadb(line, (size_t)(nl - line), 0, &jerr);

		assert_non_null(v);
		json_decref(v);
		strcat(expected, "V ");
		strncat(expected, line, (size_t)(nl - line + 1));
	}
	assert_string_equal(got, expected);
	free(got);
	free(expected);
	check_every_cut(k8s_watch, 4096, 32);
}

/* etcd's gateway: objects back to back, with and without a newline between them. */
static void test_etcd_concatenated(void **state)
{
	char *got = feed_whole(etcd_watch, 4096, 32);

	(void)state;
	assert_string_equal(got,
		"V {\"result\":{\"header\":{\"cluster_id\":\"1484\",\"revision\":\"5\"},"
		"\"created\":true}}\n"
		"V {\"result\":{\"header\":{\"revision\":\"6\"},\"events\":[{\"kv\":"
		"{\"key\":\"L3JlZy9h\",\"mod_revision\":\"6\",\"value\":\"e30=\"}},"
		"{\"type\":\"DELETE\",\"kv\":{\"key\":\"L3JlZy9i\"}}]}}\n"
		"V {\"result\":{\"header\":{\"revision\":\"9\"}}}\n");
	free(got);
	check_every_cut(etcd_watch, 4096, 32);
}

/* CRLF line ends, blank lines, UTF-8, escaped quotes and backslashes before a closing quote,
 * braces inside strings, top-level arrays and scalars. */
static void test_separators_strings_scalars(void **state)
{
	static const char in[] =
		"\r\n\r\n{\"a\":\"caf\xc3\xa9 \xe2\x98\x83 }{][\"}\r\n\r\n"
		"{\"b\":\"\\\\\"}\n\n"
		"{\"c\":\"\\\\\\\"}\"}"
		"[1,{\"d\":[]}] 42 -1.5e3\ttrue\nnull \"s\\\"t\"\"u\"7";
	char *got = feed_whole(in, 4096, 32);

	(void)state;
	assert_string_equal(got,
		"V {\"a\":\"caf\xc3\xa9 \xe2\x98\x83 }{][\"}\n"
		"V {\"b\":\"\\\\\"}\n"
		"V {\"c\":\"\\\\\\\"}\"}\n"
		"V [1,{\"d\":[]}]\n"
		"V 42\n"
		"V -1.5e3\n"
		"V true\n"
		"V null\n"
		"V \"s\\\"t\"\n"
		"V \"u\"\n"
		"V 7\n");
	free(got);
	check_every_cut(in, 4096, 32);
}

/* A value of exactly max_value bytes passes; one byte more is skipped with one error, and the
 * next value still arrives. */
static void test_max_value(void **state)
{
	char *got;

	(void)state;
	got = feed_whole("{\"a\":12} {\"a\":123} [\"x\"]", 8, 32);
	assert_string_equal(got, "V {\"a\":12}\nE too_large\nV [\"x\"]\n");
	free(got);
	/* Inside a long string, and a scalar. */
	got = feed_whole("\"0123456789abcdef\" 123456789 {\"k\":1} 12345678", 8, 32);
	assert_string_equal(got, "E too_large\nE too_large\nV {\"k\":1}\nV 12345678\n");
	free(got);
	check_every_cut("{\"a\":12} {\"a\":123} [\"x\"] \"0123456789abcdef\" 123456789 "
			"{\"k\":1} 1", 8, 32);
}

/* A huge value fed in small chunks never grows the buffer past max_value. */
static void test_huge_value_bounded(void **state)
{
	struct json_stream js;
	struct seen s;
	char chunk[4096];

	(void)state;
	seen_open(&s);
	json_stream_init(&js, 1024, 32, on_value, on_error, &s);
	assert_int_equal(json_stream_feed(&js, "{\"big\":[\"", 9), 0);
	memset(chunk, 'x', sizeof(chunk));
	for (int i = 0; i < 2560; i++) { /* 10 MiB */
		assert_int_equal(json_stream_feed(&js, chunk, sizeof(chunk)), 0);
		assert_true(js.cap <= 1024 && js.len <= 1024);
	}
	assert_int_equal(json_stream_feed(&js, "\"]}{\"next\":1}", 13), 0);
	assert_int_equal(js.stats.errors[JSON_STREAM_TOO_LARGE], 1);
	assert_int_equal(js.stats.values, 1);
	json_stream_free(&js);
	assert_string_equal(seen_close(&s), "E too_large\nV {\"next\":1}\n");
	free(s.text);
}

/* Depth max_depth passes, one more is skipped to its end: brackets inside strings do not
 * count. */
static void test_max_depth(void **state)
{
	static const char in[] = "[[[1]]] [[[[1]]]] {\"a\":{\"b\":\"[[[[\"}} [[{\"a\":[]}]] 5";
	char *got = feed_whole(in, 4096, 3);

	(void)state;
	assert_string_equal(got,
		"V [[[1]]]\nE too_deep\nV {\"a\":{\"b\":\"[[[[\"}}\nE too_deep\nV 5\n");
	free(got);
	check_every_cut(in, 4096, 3);
}

/* Deep nesting past any buffer is skipped with one error and bounded memory. */
static void test_deep_bomb(void **state)
{
	struct json_stream js;
	struct seen s;
	char open[4096], close[4096];

	(void)state;
	memset(open, '[', sizeof(open));
	memset(close, ']', sizeof(close));
	seen_open(&s);
	json_stream_init(&js, 1 << 20, 64, on_value, on_error, &s);
	for (int i = 0; i < 256; i++)
		assert_int_equal(json_stream_feed(&js, open, sizeof(open)), 0);
	assert_true(js.len <= 64);
	for (int i = 0; i < 256; i++)
		assert_int_equal(json_stream_feed(&js, close, sizeof(close)), 0);
	assert_int_equal(json_stream_feed(&js, "{}", 2), 0);
	json_stream_free(&js);
	assert_string_equal(seen_close(&s), "E too_deep\nV {}\n");
	free(s.text);
}

/* Bytes that cannot start a value: one error per run, then the stream goes on. */
static void test_unexpected(void **state)
{
	static const char in[] = "}}],:{\"a\":1}] ]{\"b\":2}:";
	char *got = feed_whole(in, 4096, 32);

	(void)state;
	assert_string_equal(got,
		"E unexpected\nV {\"a\":1}\nE unexpected\nE unexpected\nV {\"b\":2}\n"
		"E unexpected\n");
	free(got);
	check_every_cut(in, 4096, 32);
}

/* The end of the stream: an open value is truncated (once, even if already too large), a bare
 * scalar is complete. */
static void test_finish(void **state)
{
	char *got;

	(void)state;
	got = feed_whole("{\"a\":1}{\"b\":\"cut", 4096, 32);
	assert_string_equal(got, "V {\"a\":1}\nE truncated\n");
	free(got);
	got = feed_whole("\"abc\\", 4096, 32);
	assert_string_equal(got, "E truncated\n");
	free(got);
	got = feed_whole("12 34", 4096, 32);
	assert_string_equal(got, "V 12\nV 34\n");
	free(got);
	got = feed_whole("{\"long\":\"0123456789", 8, 32);
	assert_string_equal(got, "E too_large\n");
	free(got);
	got = feed_whole(" \r\n ", 8, 32);
	assert_string_equal(got, "");
	free(got);
}

/* A callback that stops: feed returns its code at once and the rest is not read. */
static void test_stop(void **state)
{
	struct json_stream js;
	struct seen s;

	(void)state;
	seen_open(&s);
	s.stop_after = 2;
	json_stream_init(&js, 4096, 32, on_value, on_error, &s);
	assert_int_equal(json_stream_feed(&js, "{\"a\":1}{\"b\":2}{\"c\":3}", 21), 7);
	assert_int_equal(js.stats.values, 2);
	json_stream_reset(&js);
	s.stop_after = 0;
	/* After a reset, a partial value is forgotten without an error. */
	assert_int_equal(json_stream_feed(&js, "{\"half", 6), 0);
	json_stream_reset(&js);
	assert_int_equal(json_stream_feed(&js, "{\"d\":4}", 7), 0);
	assert_int_equal(json_stream_finish(&js), 0);
	json_stream_free(&js);
	assert_string_equal(seen_close(&s), "V {\"a\":1}\nV {\"b\":2}\nV {\"d\":4}\n");
	free(s.text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_k8s_watch_lines),
		cmocka_unit_test(test_etcd_concatenated),
		cmocka_unit_test(test_separators_strings_scalars),
		cmocka_unit_test(test_max_value),
		cmocka_unit_test(test_huge_value_bounded),
		cmocka_unit_test(test_max_depth),
		cmocka_unit_test(test_deep_bomb),
		cmocka_unit_test(test_unexpected),
		cmocka_unit_test(test_finish),
		cmocka_unit_test(test_stop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
