/*
 * tapio-tail --check's logic (producer/tools/stream_check.c) without a broker: the run-length
 * seq sets against a bitmap, gaps at the start and in the middle, duplicates, LOSS accounting
 * (only DELIVERY accounts for a gap), streams kept apart by topic, node and run, and both reports.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "stream_check.h"

static const char *const topics[] = { "tapio.kernel", "tapio.dns" };

static struct record_envelope rec(const char *node, int64_t run, int64_t seq)
{
	return (struct record_envelope){ .kind = "EXEC", .seq = seq, .run = run, .node = node,
					 .node_len = strlen(node) };
}

static struct record_envelope loss(const char *node, int64_t run, int64_t seq, const char *stage,
				   int64_t count)
{
	struct record_envelope e = rec(node, run, seq);

	e.kind = "LOSS";
	e.loss_stage = stage;
	e.loss_count = count;
	return e;
}

static struct stream_check *new_check(void)
{
	struct stream_check *sc = NULL;

	assert_int_equal(stream_check_new(topics, 2, &sc), 0);
	return sc;
}

static void add(struct stream_check *sc, size_t topic, struct record_envelope e)
{
	assert_int_equal(stream_check_add(sc, topic, &e), 0);
}

/* Adds seqs lo..hi of one stream. */
static void add_range(struct stream_check *sc, size_t topic, const char *node, int64_t run,
		      int64_t lo, int64_t hi)
{
	for (int64_t s = lo; s <= hi; s++)
		add(sc, topic, rec(node, run, s));
}

/* The report in `format`, as a malloc'd string; *sum filled. */
static char *report(struct stream_check *sc, enum check_format format, struct check_summary *sum)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	assert_int_equal(stream_check_report(sc, f, format, sum), 0);
	assert_int_equal(fclose(f), 0);
	return text;
}

/* The JSON line number `n` (0-based) of a JSON report. */
static json_t *json_line(const char *text, int n)
{
	const char *p = text;
	json_error_t err;
	json_t *j;

	for (int i = 0; i < n; i++) {
		p = strchr(p, '\n');
		assert_non_null(p);
		p++;
	}
	j = json_loadb(p, strcspn(p, "\n"), 0, &err);
	if (!j)
		fail_msg("line %d is not JSON: %s", n, err.text);
	return j;
}

static json_int_t int_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		fail_msg("\"%s\" is not an integer", key);
	return json_integer_value(v);
}

/* The set's ranges are sorted, disjoint, not adjacent, and hold exactly what `bits` holds. */
static void assert_set_is(const struct seq_set *s, const uint8_t *bits, int64_t n)
{
	int64_t v = 1;

	for (size_t i = 0; i < s->n; i++) {
		assert_true(s->r[i].lo <= s->r[i].hi);
		if (i)
			assert_true(s->r[i - 1].hi + 1 < s->r[i].lo);
		for (; v < s->r[i].lo; v++)
			assert_int_equal(bits[v], 0);
		for (; v <= s->r[i].hi; v++)
			assert_int_equal(bits[v], 1);
	}
	for (; v < n; v++)
		assert_int_equal(bits[v], 0);
}

static void test_seq_set_against_bitmap(void **state)
{
	enum { N = 2000 };
	static uint8_t bits[N + 1];
	struct seq_set s = { 0 };
	uint64_t rng = 0x2545f4914f6cdd1dULL;
	bool present;

	(void)state;
	for (int round = 0; round < 20000; round++) {
		int64_t v;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		v = 1 + (int64_t)(rng % N);
		assert_int_equal(seq_set_add(&s, v, &present), 0);
		assert_int_equal(present, bits[v]);
		bits[v] = 1;
		if (round % 997 == 0)
			assert_set_is(&s, bits, N + 1);
	}
	assert_set_is(&s, bits, N + 1);
	/* By now every value is in: one range. */
	assert_int_equal(s.n, 1);
	assert_int_equal(s.r[0].lo, 1);
	assert_int_equal(s.r[0].hi, N);
	seq_set_free(&s);
	/* The ends of int64 neither overflow nor merge wrongly. */
	assert_int_equal(seq_set_add(&s, INT64_MAX, &present), 0);
	assert_int_equal(seq_set_add(&s, INT64_MIN, &present), 0);
	assert_int_equal(seq_set_add(&s, INT64_MAX - 1, &present), 0);
	assert_int_equal(s.n, 2);
	assert_true(s.r[1].lo == INT64_MAX - 1 && s.r[1].hi == INT64_MAX);
	seq_set_free(&s);
}

/* A million records cost what their holes cost, not what their number does. */
static void test_memory_follows_holes(void **state)
{
	struct seq_set s = { 0 };
	size_t peak = 0;
	bool present;

	(void)state;
	/* In order with 9 gaps: 10 ranges. */
	for (int64_t v = 1; v <= 1000000; v++) {
		if (v % 100000 == 0)
			continue;
		assert_int_equal(seq_set_add(&s, v, &present), 0);
	}
	assert_int_equal(s.n, 10);
	seq_set_free(&s);
	/* Three partitions (seq % 3) read 1000 records at a time each, in turn: the open holes
	 * peak at one chunk's worth, and close. */
	for (int64_t base = 0; base < 999000; base += 3000) {
		for (int p = 0; p < 3; p++)
			for (int64_t k = 0; k < 1000; k++) {
				int64_t v = base + 3 * k + p + 1;

				assert_int_equal(seq_set_add(&s, v, &present), 0);
				peak = s.n > peak ? s.n : peak;
			}
	}
	assert_int_equal(s.n, 1);
	assert_int_equal(s.r[0].hi, 999000);
	assert_true(peak <= 1001);
	seq_set_free(&s);
}

static void test_gaps_and_accounting(void **state)
{
	struct stream_check *sc = new_check();
	struct check_summary sum;
	char *text;
	json_t *j;

	(void)state;
	/* Node a: 3..10 without 6 and 7, and a DELIVERY LOSS record (seq 11) for 3 of the 4
	 * missing; RING_BUFFER losses got no seq and account for nothing. */
	add_range(sc, 0, "a", 100, 3, 5);
	add_range(sc, 0, "a", 100, 8, 10);
	add(sc, 0, loss("a", 100, 11, "DELIVERY", 3));
	add(sc, 0, loss("a", 100, 12, "RING_BUFFER", 500));
	text = report(sc, CHECK_JSON, &sum);
	j = json_line(text, 0);
	assert_string_equal(json_string_value(json_object_get(j, "type")), "stream");
	assert_string_equal(json_string_value(json_object_get(j, "node")), "a");
	assert_int_equal(int_of(j, "run"), 100);
	assert_int_equal(int_of(j, "records"), 8);
	assert_int_equal(int_of(j, "distinct"), 8);
	assert_int_equal(int_of(j, "first_seq"), 3);
	assert_int_equal(int_of(j, "last_seq"), 12);
	assert_int_equal(int_of(j, "missing"), 4);
	assert_int_equal(int_of(j, "missing_ranges_total"), 2);
	assert_int_equal(json_array_size(json_object_get(j, "missing_ranges")), 2);
	assert_int_equal(json_integer_value(json_array_get(
				 json_array_get(json_object_get(j, "missing_ranges"), 0), 0)), 1);
	assert_int_equal(json_integer_value(json_array_get(
				 json_array_get(json_object_get(j, "missing_ranges"), 0), 1)), 2);
	assert_int_equal(json_integer_value(json_array_get(
				 json_array_get(json_object_get(j, "missing_ranges"), 1), 0)), 6);
	assert_int_equal(json_integer_value(json_array_get(
				 json_array_get(json_object_get(j, "missing_ranges"), 1), 1)), 7);
	assert_int_equal(int_of(j, "loss_records"), 2);
	assert_int_equal(int_of(json_object_get(j, "loss"), "DELIVERY"), 3);
	assert_int_equal(int_of(json_object_get(j, "loss"), "RING_BUFFER"), 500);
	assert_int_equal(int_of(j, "accounted"), 3);
	assert_int_equal(int_of(j, "unaccounted"), 1);
	assert_true(json_is_false(json_object_get(j, "ok")));
	json_decref(j);
	assert_false(sum.ok);
	assert_int_equal(sum.missing, 4);
	assert_int_equal(sum.unaccounted, 1);
	free(text);

	/* One more DELIVERY report makes it whole; a second copy of that report (same seq, a
	 * duplicate) is not counted twice. */
	add(sc, 0, loss("a", 100, 13, "DELIVERY", 1));
	add(sc, 0, loss("a", 100, 13, "DELIVERY", 1));
	text = report(sc, CHECK_JSON, &sum);
	j = json_line(text, 0);
	assert_int_equal(int_of(j, "unaccounted"), 0);
	assert_int_equal(int_of(j, "duplicates"), 1);
	assert_int_equal(int_of(json_object_get(j, "loss"), "DELIVERY"), 4);
	assert_int_equal(int_of(j, "loss_records"), 3);
	assert_true(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
	assert_true(sum.ok);
	free(text);
	stream_check_free(sc);
}

static void test_duplicates(void **state)
{
	struct stream_check *sc = new_check();
	struct check_summary sum;
	char *text;
	json_t *j, *r;

	(void)state;
	add_range(sc, 0, "n", 7, 1, 20);
	/* A spool replayed after a crash: 5..9 again, and 5 a third time. */
	add_range(sc, 0, "n", 7, 5, 9);
	add(sc, 0, rec("n", 7, 5));
	add(sc, 0, rec("n", 7, 15));
	text = report(sc, CHECK_JSON, &sum);
	j = json_line(text, 0);
	assert_int_equal(int_of(j, "records"), 27);
	assert_int_equal(int_of(j, "distinct"), 20);
	assert_int_equal(int_of(j, "missing"), 0);
	assert_int_equal(int_of(j, "duplicates"), 7);
	assert_int_equal(int_of(j, "duplicate_ranges_total"), 2);
	r = json_object_get(j, "duplicate_ranges");
	assert_int_equal(json_integer_value(json_array_get(json_array_get(r, 0), 0)), 5);
	assert_int_equal(json_integer_value(json_array_get(json_array_get(r, 0), 1)), 9);
	assert_int_equal(json_integer_value(json_array_get(json_array_get(r, 1), 0)), 15);
	/* Duplicates are what at-least-once delivery makes: no failure. */
	assert_true(json_is_true(json_object_get(j, "ok")));
	assert_true(sum.ok);
	assert_int_equal(sum.duplicates, 7);
	assert_int_equal(sum.records, 27);
	assert_int_equal(sum.distinct, 20);
	json_decref(j);
	free(text);
	stream_check_free(sc);
}

/* (topic, node, run) name a stream: the same seq in another is no duplicate. Reports are
 * ordered by topic (as given), node, run. */
static void test_streams_apart(void **state)
{
	struct stream_check *sc = new_check();
	struct check_summary sum;
	char *text;
	json_t *j;

	(void)state;
	add_range(sc, 0, "b", 2, 1, 3);
	add_range(sc, 1, "a", 1, 1, 2);
	add_range(sc, 0, "b", 1, 1, 3);
	add_range(sc, 0, "a", 5, 1, 4);
	add_range(sc, 0, "a", 0, 1, 1); /* a 0.1.0 producer's records: run 0 */
	stream_check_tombstone(sc, 1);
	text = report(sc, CHECK_JSON, &sum);
	assert_int_equal(sum.streams, 5);
	assert_int_equal(sum.records, 13);
	assert_int_equal(sum.distinct, 13);
	assert_int_equal(sum.duplicates, 0);
	assert_int_equal(sum.tombstones, 1);
	assert_true(sum.ok);
	{
		static const struct { const char *type, *topic, *node; int run; } want[] = {
			{ "stream", "tapio.kernel", "a", 0 }, { "stream", "tapio.kernel", "a", 5 },
			{ "stream", "tapio.kernel", "b", 1 }, { "stream", "tapio.kernel", "b", 2 },
			{ "topic", "tapio.kernel", NULL, 0 }, { "stream", "tapio.dns", "a", 1 },
			{ "topic", "tapio.dns", NULL, 0 },    { "summary", NULL, NULL, 0 },
		};

		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
			j = json_line(text, (int)i);
			assert_string_equal(json_string_value(json_object_get(j, "type")),
					    want[i].type);
			if (want[i].topic)
				assert_string_equal(json_string_value(json_object_get(j, "topic")),
						    want[i].topic);
			if (want[i].node) {
				assert_string_equal(json_string_value(json_object_get(j, "node")),
						    want[i].node);
				assert_int_equal(int_of(j, "run"), want[i].run);
			}
			if (!strcmp(want[i].type, "topic") && !strcmp(want[i].topic, "tapio.dns"))
				assert_int_equal(int_of(j, "tombstones"), 1);
			json_decref(j);
		}
		assert_null(strchr(strchr(strstr(text, "\"summary\""), '\n') + 1, '\n'));
	}
	free(text);
	stream_check_free(sc);
}

/* What the check cannot read fails it: undecodable values, seqs below 1. */
static void test_unreadable_fails(void **state)
{
	struct stream_check *sc = new_check();
	struct check_summary sum;
	char *text;

	(void)state;
	add_range(sc, 0, "n", 1, 1, 5);
	text = report(sc, CHECK_TEXT, &sum);
	assert_true(sum.ok);
	free(text);
	add(sc, 0, rec("n", 1, 0));
	text = report(sc, CHECK_TEXT, &sum);
	assert_false(sum.ok);
	assert_int_equal(sum.invalid, 1);
	assert_non_null(strstr(text, "FAILED: 1 records with a seq below 1"));
	free(text);
	stream_check_free(sc);

	sc = new_check();
	add_range(sc, 1, "n", 1, 1, 5);
	stream_check_undecodable(sc, 1);
	text = report(sc, CHECK_JSON, &sum);
	assert_false(sum.ok);
	assert_int_equal(sum.undecodable, 1);
	assert_non_null(strstr(text, "\"undecodable\":1"));
	free(text);
	/* Out of range topics are refused, not counted. */
	assert_int_equal(stream_check_add(sc, 2, &(struct record_envelope){ .seq = 1, .node = "",
								      .kind = "X" }), -EINVAL);
	stream_check_free(sc);
}

static void test_text_report(void **state)
{
	struct stream_check *sc = new_check();
	struct check_summary sum;
	char *text;

	(void)state;
	/* run 1700000000123456 us = 2023-11-14T22:13:20.123456Z */
	add_range(sc, 0, "node-1", 1700000000123456, 2, 4);
	add_range(sc, 0, "node-1", 1700000000123456, 6, 9);
	add(sc, 0, rec("node-1", 1700000000123456, 7));
	add(sc, 0, loss("node-1", 1700000000123456, 10, "DELIVERY", 1));
	add(sc, 0, loss("node-1", 1700000000123456, 11, "QUEUE_FULL", 40));
	add(sc, 0, rec("bad\nnode", 0, 1));
	text = report(sc, CHECK_TEXT, &sum);
	assert_string_equal(text,
		"tapio.kernel node bad\\x0anode run 0 (no run: written by a producer before the "
		"run field): 1 records, seq 1..1\n"
		"tapio.kernel node node-1 run 1700000000123456 "
		"(started 2023-11-14T22:13:20.123456Z): 9 records, seq 2..11\n"
		"  missing 2: 1, 5\n"
		"  duplicates 1 (of 1 seq): 7\n"
		"  LOSS records 2, counting DELIVERY 1, QUEUE_FULL 40\n"
		"  FAILED: 1 missing records no LOSS record accounts for (DELIVERY and "
		"SPOOL_EVICTED count 1)\n"
		"tapio.kernel: 2 streams, 10 records, 2 missing (1 unaccounted), 1 duplicates\n"
		"tapio.dns: no records\n"
		"check: FAILED: 2 topics, 2 streams, 10 records; 2 missing, 1 of them "
		"accounted for by DELIVERY and SPOOL_EVICTED LOSS records; 1 duplicates\n");
	free(text);
	/* More DELIVERY than missing: fine, and said. */
	add(sc, 0, loss("node-1", 1700000000123456, 12, "DELIVERY", 4));
	text = report(sc, CHECK_TEXT, &sum);
	assert_true(sum.ok);
	assert_non_null(strstr(text, "  ok: DELIVERY and SPOOL_EVICTED LOSS records account for "
				     "the 2 missing\n"
				     "  note: DELIVERY and SPOOL_EVICTED count 3 more than are "
				     "missing (lost after seq 12, or written after all)\n"));
	assert_non_null(strstr(text, "check: ok: "));
	free(text);
	stream_check_free(sc);
}

/* Only CHECK_RANGES_SHOWN ranges are listed; the totals count them all. */
static void test_many_ranges(void **state)
{
	struct stream_check *sc = new_check();
	struct check_summary sum;
	char *text;
	json_t *j;

	(void)state;
	for (int64_t s = 2; s <= 1000; s += 2)
		add(sc, 0, rec("n", 1, s));
	text = report(sc, CHECK_JSON, &sum);
	j = json_line(text, 0);
	assert_int_equal(int_of(j, "missing"), 500);
	assert_int_equal(int_of(j, "missing_ranges_total"), 500);
	assert_int_equal(json_array_size(json_object_get(j, "missing_ranges")), CHECK_RANGES_SHOWN);
	json_decref(j);
	free(text);
	text = report(sc, CHECK_TEXT, &sum);
	assert_non_null(strstr(text, " and 400 more ranges\n"));
	free(text);
	stream_check_free(sc);
}

/* Spooled records of run 1 the full spool dropped during run 2: run 2's SPOOL_EVICTED record,
 * its loss.run naming run 1, accounts for run 1's gaps, and for nothing of run 2's. */
static void test_spool_evicted_accounts_for_its_run(void **state)
{
	struct stream_check *sc = new_check();
	struct record_envelope evicted = loss("node-1", 2000, 4, "SPOOL_EVICTED", 2);
	struct check_summary sum;
	char *text;

	(void)state;
	add_range(sc, 0, "node-1", 1000, 1, 3);
	add_range(sc, 0, "node-1", 1000, 6, 6); /* 4 and 5 evicted */
	add_range(sc, 0, "node-1", 2000, 1, 3);
	text = report(sc, CHECK_TEXT, &sum);
	assert_false(sum.ok);
	free(text);
	evicted.loss_run = 1000;
	add(sc, 0, evicted);
	text = report(sc, CHECK_TEXT, &sum);
	assert_true(sum.ok);
	assert_int_equal(sum.missing, 2);
	assert_int_equal(sum.unaccounted, 0);
	free(text);
	stream_check_free(sc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seq_set_against_bitmap),
		cmocka_unit_test(test_memory_follows_holes),
		cmocka_unit_test(test_gaps_and_accounting),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_streams_apart),
		cmocka_unit_test(test_unreadable_fails),
		cmocka_unit_test(test_text_report),
		cmocka_unit_test(test_spool_evicted_accounts_for_its_run),
		cmocka_unit_test(test_many_ranges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
