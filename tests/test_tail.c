/*
 * tapio-tail's value decoding (producer/tools/avro_json.c) without a broker: a kernel datum written by
 * avro-c's generic API, framed both ways, must come back as the expected JSON; short, unknown,
 * truncated and hostile values must end in -EINVAL with a reason, never in a crash.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>
#include <cmocka.h>

#include "avro_json.h"
#include "schema.h"

#define check(expr) assert_int_equal((expr), 0)

/* The JSON line body, as jansson writes it compactly (field order kept). */
static const char kernel_json[] =
	"{\"kind\":\"EXEC\",\"event_time\":1732550000123456,\"seq\":42,\"run\":1732549000000000,"
	"\"node\":\"node-1\","
	"\"cgroup_id\":12345,\"pod_uid\":\"0b1c2d3e-aaaa-bbbb-cccc-000011112222\","
	"\"container_id\":null,\"loss\":null,\"pid\":4242,\"ppid\":1,\"comm\":\"caf\xc3\xa9\","
	"\"exec\":{\"uid\":1000,\"gid\":-2,\"filename\":\"/tmp/x\xef\xbf\xbd\","
	"\"filename_truncated\":false,\"args\":[\"sh\",\"-c\",\"echo \\\"hi\\\"\\n\"],"
	"\"args_truncated\":true},\"exit\":null,\"oom\":null,\"tcp\":null}";

static uint8_t kernel_datum[512];
static size_t kernel_datum_len;
static uint64_t kernel_fp;

static void set_string(avro_value_t *rec, const char *name, const char *s)
{
	avro_value_t f;

	check(avro_value_get_by_name(rec, name, &f, NULL));
	check(avro_value_set_string(&f, s));
}

static void set_long(avro_value_t *rec, const char *name, int64_t v)
{
	avro_value_t f;

	check(avro_value_get_by_name(rec, name, &f, NULL));
	check(avro_value_get_type(&f) == AVRO_INT32 ? avro_value_set_int(&f, (int32_t)v) :
						       avro_value_set_long(&f, v));
}

static void set_bool(avro_value_t *rec, const char *name, int v)
{
	avro_value_t f;

	check(avro_value_get_by_name(rec, name, &f, NULL));
	check(avro_value_set_boolean(&f, v));
}

/* Sets a ["null", X] field to branch `b`, returns the branch value. */
static avro_value_t set_branch(avro_value_t *rec, const char *name, int b)
{
	avro_value_t f, branch;

	check(avro_value_get_by_name(rec, name, &f, NULL));
	check(avro_value_set_branch(&f, b, &branch));
	if (b == 0)
		check(avro_value_set_null(&branch));
	return branch;
}

/* Writes one KernelEvent with avro-c's generic API, an encoder independent of ours. */
static int setup_kernel(void **state)
{
	const struct tapio_schema *s = schema_find("kernel");
	avro_value_iface_t *iface;
	avro_value_t rec, f, exec, item;
	avro_schema_t schema;
	avro_writer_t w;
	char err[256];

	(void)state;
	assert_non_null(s);
	check(schema_fingerprint(s->json, &kernel_fp, err, sizeof(err)));
	check(avro_schema_from_json_length(s->json, s->json_len, &schema));
	assert_non_null(iface = avro_generic_class_from_schema(schema));
	check(avro_generic_value_new(iface, &rec));

	check(avro_value_get_by_name(&rec, "kind", &f, NULL));
	check(avro_value_set_enum(&f, 1));
	set_long(&rec, "event_time", 1732550000123456);
	set_long(&rec, "seq", 42);
	set_long(&rec, "run", 1732549000000000);
	set_string(&rec, "node", "node-1");
	set_long(&rec, "cgroup_id", 12345);
	f = set_branch(&rec, "pod_uid", 1);
	check(avro_value_set_string(&f, "0b1c2d3e-aaaa-bbbb-cccc-000011112222"));
	set_branch(&rec, "container_id", 0);
	set_branch(&rec, "loss", 0);
	set_long(&rec, "pid", 4242);
	set_long(&rec, "ppid", 1);
	set_string(&rec, "comm", "caf\xc3\xa9");
	exec = set_branch(&rec, "exec", 1);
	set_long(&exec, "uid", 1000);
	set_long(&exec, "gid", -2);
	set_string(&exec, "filename", "/tmp/x\xff"); /* not UTF-8: becomes U+FFFD */
	set_bool(&exec, "filename_truncated", 0);
	check(avro_value_get_by_name(&exec, "args", &f, NULL));
	check(avro_value_append(&f, &item, NULL));
	check(avro_value_set_string(&item, "sh"));
	check(avro_value_append(&f, &item, NULL));
	check(avro_value_set_string(&item, "-c"));
	check(avro_value_append(&f, &item, NULL));
	check(avro_value_set_string(&item, "echo \"hi\"\n"));
	set_bool(&exec, "args_truncated", 1);
	set_branch(&rec, "exit", 0);
	set_branch(&rec, "oom", 0);
	set_branch(&rec, "tcp", 0);

	w = avro_writer_memory((char *)kernel_datum, sizeof(kernel_datum));
	check(avro_value_write(w, &rec));
	kernel_datum_len = (size_t)avro_writer_tell(w);
	avro_writer_free(w);
	avro_value_decref(&rec);
	avro_value_iface_decref(iface);
	avro_schema_decref(schema);
	return 0;
}

static struct avro_json_decoder *embedded_decoder(void)
{
	struct avro_json_decoder *dec = NULL;
	char err[256] = "";

	if (avro_json_decoder_embedded(&dec, err, sizeof(err)))
		fail_msg("decoder: %s", err);
	return dec;
}

static size_t frame_single(uint8_t *out, uint64_t fp, const uint8_t *datum, size_t len)
{
	avro_single_object_header(fp, out);
	memcpy(out + AVRO_SINGLE_OBJECT_HDR_LEN, datum, len);
	return AVRO_SINGLE_OBJECT_HDR_LEN + len;
}

static size_t frame_confluent(uint8_t *out, uint32_t id, const uint8_t *datum, size_t len)
{
	out[0] = 0;
	out[1] = id >> 24;
	out[2] = id >> 16;
	out[3] = id >> 8;
	out[4] = id;
	memcpy(out + AVRO_CONFLUENT_HDR_LEN, datum, len);
	return AVRO_CONFLUENT_HDR_LEN + len;
}

static void expect_json(struct avro_json_decoder *dec, const char *topic, const void *value,
			size_t len, const char *want)
{
	const char *name = NULL;
	char err[256] = "";
	json_t *j = NULL;
	char *text;

	if (avro_json_decode(dec, topic, value, len, &j, &name, err, sizeof(err)))
		fail_msg("decode: %s", err);
	text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	assert_non_null(text);
	assert_string_equal(text, want);
	assert_non_null(name);
	free(text);
	json_decref(j);
}

/* Returns the error text, which must be non-empty. */
static const char *expect_error(struct avro_json_decoder *dec, const char *topic,
				const void *value, size_t len)
{
	static char err[256];
	json_t *j = (json_t *)(uintptr_t)1;

	err[0] = '\0';
	assert_int_equal(avro_json_decode(dec, topic, value, len, &j, NULL, err, sizeof(err)),
			 -EINVAL);
	assert_true(j == (json_t *)(uintptr_t)1); /* untouched */
	assert_true(err[0] != '\0');
	return err;
}

static void expect_error_with(struct avro_json_decoder *dec, const char *topic,
			      const void *value, size_t len, const char *part)
{
	const char *err = expect_error(dec, topic, value, len);

	if (!strstr(err, part))
		fail_msg("error \"%s\" lacks \"%s\"", err, part);
}

static void test_kernel_single_object(void **state)
{
	struct avro_json_decoder *dec = embedded_decoder();
	uint8_t v[600];
	size_t n = frame_single(v, kernel_fp, kernel_datum, kernel_datum_len);

	(void)state;
	/* The fingerprint is pinned in test_schema.c; the header must carry it little-endian. */
	assert_int_equal(v[0], 0xc3);
	assert_int_equal(v[1], 0x01);
	for (int i = 0; i < 8; i++)
		assert_int_equal(v[2 + i], (kernel_fp >> (8 * i)) & 0xff);
	expect_json(dec, "tapio.kernel", v, n, kernel_json);
	/* The topic plays no part in single-object framing. */
	expect_json(dec, "anything", v, n, kernel_json);
	expect_json(dec, NULL, v, n, kernel_json);
	avro_json_decoder_free(dec);
}

static void test_kernel_confluent(void **state)
{
	struct avro_json_decoder *dec = embedded_decoder();
	uint8_t v[600];
	size_t n = frame_confluent(v, 0x01020304, kernel_datum, kernel_datum_len);

	(void)state;
	expect_json(dec, "tapio.kernel", v, n, kernel_json);
	expect_json(dec, "kernel", v, n, kernel_json);
	expect_error_with(dec, "tapio.nosuch", v, n, "no embedded schema named \"nosuch\"");
	expect_error_with(dec, "tapio.", v, n, "no embedded schema named \"\"");
	avro_json_decoder_free(dec);
}

static void test_framing_errors(void **state)
{
	struct avro_json_decoder *dec = embedded_decoder();
	static const uint8_t bad_marker[] = { 0xc3, 0x02, 0, 0, 0, 0, 0, 0, 0, 0 };
	static const uint8_t json_value[] = "{\"a\":1}";
	uint8_t v[600];
	size_t n;

	(void)state;
	expect_error_with(dec, "tapio.kernel", v, 0, "empty value");
	n = frame_single(v, kernel_fp, kernel_datum, kernel_datum_len);
	expect_error_with(dec, "tapio.kernel", v, 1, "need 10 bytes, have 1");
	expect_error_with(dec, "tapio.kernel", v, 9, "need 10 bytes, have 9");
	expect_error_with(dec, "tapio.kernel", bad_marker, sizeof(bad_marker), "marker c3 02");
	expect_error_with(dec, "tapio.kernel", json_value, sizeof(json_value) - 1,
			  "first byte 0x7b");
	frame_confluent(v, 7, kernel_datum, kernel_datum_len);
	expect_error_with(dec, "tapio.kernel", v, 4, "Confluent header: need 5 bytes, have 4");

	n = frame_single(v, 0x0123456789abcdefULL, kernel_datum, kernel_datum_len);
	expect_error_with(dec, "tapio.kernel", v, n, "unknown schema fingerprint 0123456789abcdef");
	avro_json_decoder_free(dec);
}

/* Every truncation and a trailing byte fail cleanly, in both framings. */
static void test_truncated(void **state)
{
	struct avro_json_decoder *dec = embedded_decoder();
	uint8_t v[600];
	size_t n;

	(void)state;
	n = frame_single(v, kernel_fp, kernel_datum, kernel_datum_len);
	for (size_t len = AVRO_SINGLE_OBJECT_HDR_LEN; len < n; len++)
		expect_error_with(dec, "tapio.kernel", v, len, "need");
	v[n] = 0;
	expect_error_with(dec, "tapio.kernel", v, n + 1, "1 bytes after the kernel datum");

	n = frame_confluent(v, 1, kernel_datum, kernel_datum_len);
	for (size_t len = AVRO_CONFLUENT_HDR_LEN; len < n; len++)
		expect_error(dec, "tapio.kernel", v, len);
	/* The decoder still works after all that. */
	expect_json(dec, "tapio.kernel", v, n, kernel_json);
	avro_json_decoder_free(dec);
}

/* Byte flips and random datums: success or -EINVAL, nothing else (ASan/UBSan watch). */
static void test_hostile_bytes(void **state)
{
	struct avro_json_decoder *dec = embedded_decoder();
	static const uint8_t patterns[] = { 0x00, 0x01, 0x7f, 0x80, 0xff };
	uint64_t rng = 0x9e3779b97f4a7c15ULL;
	char err[256];
	uint8_t v[600];
	size_t n = frame_single(v, kernel_fp, kernel_datum, kernel_datum_len);
	json_t *j;
	int rc;

	(void)state;
	for (size_t i = AVRO_SINGLE_OBJECT_HDR_LEN; i < n; i++) {
		uint8_t keep = v[i];

		for (size_t p = 0; p < sizeof(patterns); p++) {
			v[i] = patterns[p];
			j = NULL;
			rc = avro_json_decode(dec, "tapio.kernel", v, n, &j, NULL, err, sizeof(err));
			assert_true(rc == 0 || rc == -EINVAL);
			assert_true((rc == 0) == (j != NULL));
			json_decref(j);
		}
		v[i] = keep;
	}
	for (int round = 0; round < 20000; round++) {
		size_t len = AVRO_SINGLE_OBJECT_HDR_LEN + (round % 64);

		for (size_t i = AVRO_SINGLE_OBJECT_HDR_LEN; i < len; i++) {
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			v[i] = (uint8_t)rng;
		}
		j = NULL;
		rc = avro_json_decode(dec, "tapio.kernel", v, len, &j, NULL, err, sizeof(err));
		assert_true(rc == 0 || rc == -EINVAL);
		json_decref(j);
	}
	avro_json_decoder_free(dec);
}

/* The embedded schema of release `release` named `name`. */
static const struct tapio_schema *released(const char *release, const char *name)
{
	for (size_t i = 0; i < tapio_released_schema_count; i++)
		if (!strcmp(tapio_released_schemas[i].release, release) &&
		    !strcmp(tapio_released_schemas[i].name, name))
			return &tapio_released_schemas[i];
	fail_msg("no embedded %s schema of release %s", name, release);
	return NULL;
}

/*
 * A LOSS record as a 0.1.0 producer wrote it (no run field), by avro-c's generic API with the
 * released schema, in single-object framing: *out, its length returned.
 */
static size_t write_v010_loss(uint8_t *out, size_t cap)
{
	const struct tapio_schema *s = released("0.1.0", "kernel");
	avro_value_iface_t *iface;
	avro_value_t rec, f, loss;
	avro_schema_t schema;
	avro_writer_t w;
	uint64_t fp;
	char err[256];
	size_t n;

	check(schema_fingerprint(s->json, &fp, err, sizeof(err)));
	check(avro_schema_from_json_length(s->json, s->json_len, &schema));
	assert_non_null(iface = avro_generic_class_from_schema(schema));
	check(avro_generic_value_new(iface, &rec));
	check(avro_value_get_by_name(&rec, "kind", &f, NULL));
	check(avro_value_set_enum(&f, schema_enum_index(s->json, "kind", "LOSS")));
	set_long(&rec, "event_time", 1700000000000000);
	set_long(&rec, "seq", 7);
	set_string(&rec, "node", "old-node");
	set_long(&rec, "cgroup_id", 0);
	set_branch(&rec, "pod_uid", 0);
	set_branch(&rec, "container_id", 0);
	loss = set_branch(&rec, "loss", 1);
	check(avro_value_get_by_name(&loss, "stage", &f, NULL));
	check(avro_value_set_enum(&f, 6)); /* DELIVERY */
	set_long(&loss, "count", 3);
	set_long(&loss, "since", 1699999999000000);
	set_long(&loss, "until", 1700000000000000);
	set_long(&rec, "pid", 0);
	set_long(&rec, "ppid", 0);
	set_string(&rec, "comm", "");
	set_branch(&rec, "exec", 0);
	set_branch(&rec, "exit", 0);
	set_branch(&rec, "oom", 0);
	set_branch(&rec, "tcp", 0);
	avro_single_object_header(fp, out);
	w = avro_writer_memory((char *)out + AVRO_SINGLE_OBJECT_HDR_LEN,
			       (int64_t)(cap - AVRO_SINGLE_OBJECT_HDR_LEN));
	check(avro_value_write(w, &rec));
	n = AVRO_SINGLE_OBJECT_HDR_LEN + (size_t)avro_writer_tell(w);
	avro_writer_free(w);
	avro_value_decref(&rec);
	avro_value_iface_decref(iface);
	avro_schema_decref(schema);
	return n;
}

/* A 0.1.0 producer's record decodes with 0.1.0's schema, found by its fingerprint. */
static void test_released_schema_decodes(void **state)
{
	struct avro_json_decoder *dec = embedded_decoder();
	struct record_envelope env;
	uint8_t v[600];
	size_t n = write_v010_loss(v, sizeof(v));
	char err[256] = "";

	(void)state;
	/* Not the current schema (it lacks run): a decoder with the current ones alone fails. */
	assert_true(strcmp(released("0.1.0", "kernel")->json, schema_find("kernel")->json) != 0);
	{
		struct avro_json_decoder *current = NULL;

		check(avro_json_decoder_new(tapio_schemas, tapio_schema_count, &current, err,
					    sizeof(err)));
		expect_error_with(current, "tapio.kernel", v, n, "unknown schema fingerprint");
		avro_json_decoder_free(current);
	}
	expect_json(dec, "tapio.kernel", v, n,
		    "{\"kind\":\"LOSS\",\"event_time\":1700000000000000,\"seq\":7,"
		    "\"node\":\"old-node\",\"cgroup_id\":0,\"pod_uid\":null,\"container_id\":null,"
		    "\"loss\":{\"stage\":\"DELIVERY\",\"count\":3,\"since\":1699999999000000,"
		    "\"until\":1700000000000000},\"pid\":0,\"ppid\":0,\"comm\":\"\",\"exec\":null,"
		    "\"exit\":null,\"oom\":null,\"tcp\":null}");
	if (avro_json_envelope(dec, "tapio.kernel", v, n, &env, err, sizeof(err)))
		fail_msg("envelope: %s", err);
	assert_string_equal(env.kind, "LOSS");
	assert_int_equal(env.seq, 7);
	assert_int_equal(env.run, 0); /* 0.1.0 had no run */
	assert_int_equal(env.node_len, 8);
	assert_string_equal(env.node, "old-node");
	assert_string_equal(env.loss_stage, "DELIVERY");
	assert_int_equal(env.loss_count, 3);
	assert_string_equal(env.schema->name, "kernel");
	assert_string_equal(env.schema->release, "0.1.0");
	avro_json_decoder_free(dec);
}

/* The envelope of the current schema's record, in both framings. */
static void test_envelope(void **state)
{
	struct avro_json_decoder *dec = embedded_decoder();
	struct record_envelope env;
	uint8_t v[600];
	char err[256] = "";
	size_t n;

	(void)state;
	for (int framing = 0; framing < 2; framing++) {
		n = framing ? frame_confluent(v, 3, kernel_datum, kernel_datum_len) :
			      frame_single(v, kernel_fp, kernel_datum, kernel_datum_len);
		memset(&env, 0xa5, sizeof(env));
		if (avro_json_envelope(dec, "tapio.kernel", v, n, &env, err, sizeof(err)))
			fail_msg("envelope: %s", err);
		assert_string_equal(env.kind, "EXEC");
		assert_int_equal(env.seq, 42);
		assert_int_equal(env.run, 1732549000000000);
		assert_string_equal(env.node, "node-1");
		assert_int_equal(env.node_len, 6);
		assert_null(env.loss_stage);
		assert_null(env.schema->release);
	}
	/* Checked like any decode: a cut value is refused. */
	assert_int_equal(avro_json_envelope(dec, "tapio.kernel", v, n - 1, &env, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "need"));
	avro_json_decoder_free(dec);
}

/* Types the kernel schema lacks, with hand-written datums. */
static const char misc_json[] =
	"{\"type\":\"record\",\"name\":\"Misc\",\"fields\":["
	"{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"bytes\"}},"
	"{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":\"F2\",\"size\":2}},"
	"{\"name\":\"x\",\"type\":\"float\"},"
	"{\"name\":\"d\",\"type\":\"double\"},"
	"{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}},"
	"{\"name\":\"n\",\"type\":{\"type\":\"array\",\"items\":\"null\"}},"
	"{\"name\":\"u\",\"type\":[\"null\",\"string\",\"long\"]}]}";
static const char list_json[] =
	"{\"type\":\"record\",\"name\":\"L\",\"fields\":[{\"name\":\"next\",\"type\":[\"null\",\"L\"]}]}";

static const struct tapio_schema test_schemas[] = {
	{ "misc", misc_json, sizeof(misc_json) - 1, NULL },
	{ "list", list_json, sizeof(list_json) - 1, NULL },
};

static struct avro_json_decoder *test_decoder(void)
{
	struct avro_json_decoder *dec = NULL;
	char err[256] = "";

	if (avro_json_decoder_new(test_schemas, 2, &dec, err, sizeof(err)))
		fail_msg("decoder: %s", err);
	return dec;
}

static const uint8_t misc_datum[] = {
	0x02, 0x02, 'k', 0x04, 0x00, 0xff, 0x00,          /* m: {"k": 00 ff} */
	0xab, 0xcd,                                        /* f */
	0x00, 0x00, 0xc0, 0x7f,                            /* x: NaN */
	0, 0, 0, 0, 0, 0, 0xf8, 0x3f,                      /* d: 1.5 */
	0x02,                                              /* e: B */
	0x03, 0x00, 0x00,                                  /* n: block of -2 items, 0 bytes */
	0x04, 0x01,                                        /* u: branch 2, long -1 */
};

static void test_misc_types(void **state)
{
	struct avro_json_decoder *dec = test_decoder();
	uint8_t v[128];
	size_t n = frame_confluent(v, 9, misc_datum, sizeof(misc_datum));

	(void)state;
	expect_json(dec, "x.misc", v, n,
		    "{\"m\":{\"k\":\"00ff\"},\"f\":\"abcd\",\"x\":\"NaN\",\"d\":1.5,\"e\":\"B\","
		    "\"n\":[null,null],\"u\":-1}");
	/* Not a Tapio record: no envelope to read. */
	{
		struct record_envelope env;
		char err[256] = "";

		assert_int_equal(avro_json_envelope(dec, "x.misc", v, n, &env, err, sizeof(err)),
				 -EINVAL);
		assert_string_equal(err, "schema misc has no enum \"kind\"");
	}
	avro_json_decoder_free(dec);
}

/* Patches misc_datum at `at` with `len` bytes and expects an error naming `part`. */
static void expect_misc_error(size_t at, const uint8_t *patch, size_t plen, size_t drop,
			      const char *part)
{
	struct avro_json_decoder *dec = test_decoder();
	uint8_t d[128], v[160];
	size_t n;

	memcpy(d, misc_datum, at);
	memcpy(d + at, patch, plen);
	memcpy(d + at + plen, misc_datum + at + drop, sizeof(misc_datum) - at - drop);
	n = frame_confluent(v, 9, d, sizeof(misc_datum) - drop + plen);
	expect_error_with(dec, "misc", v, n, part);
	avro_json_decoder_free(dec);
}

static void test_misc_hostile(void **state)
{
	static const uint8_t neg_key[] = { 0x02, 0x01 };
	static const uint8_t huge_key[] = { 0x02, 0xfe, 0xff, 0xff, 0xff, 0x0f };
	static const uint8_t huge_count[] = { 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f };
	static const uint8_t long_varint[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
					       0x80, 0x80, 0x00 };
	static const uint8_t enum_2[] = { 0x04 };
	static const uint8_t branch_3[] = { 0x06 };
	static const uint8_t branch_neg[] = { 0x01 };
	static const uint8_t min_count[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					     0x01 };
	static const uint8_t bad_size[] = { 0x03, 0x7f };

	(void)state;
	/* m: a map key with a negative length, one longer than the datum. */
	expect_misc_error(0, neg_key, sizeof(neg_key), 3, "field \"m\": map key: negative length");
	expect_misc_error(0, huge_key, sizeof(huge_key), 3, "map key: need 2147483647 bytes");
	/* n: 2^62 nulls, INT64_MIN items, a block size past the end. */
	expect_misc_error(22, huge_count, sizeof(huge_count), 2, "more than the datum can hold");
	expect_misc_error(22, min_count, sizeof(min_count), 2, "block count out of range");
	expect_misc_error(22, bad_size, sizeof(bad_size), 2, "block size -64");
	expect_misc_error(22, long_varint, sizeof(long_varint), 1, "longer than 10 bytes");
	/* e and u: indexes out of range. */
	expect_misc_error(21, enum_2, 1, 1, "enum index 2 out of range [0, 2)");
	expect_misc_error(25, branch_3, 1, 2, "union branch 3 out of range [0, 3)");
	expect_misc_error(25, branch_neg, 1, 2, "union branch -1 out of range");
}

static void test_recursion(void **state)
{
	struct avro_json_decoder *dec = test_decoder();
	uint8_t d[256], v[300];
	size_t n;

	(void)state;
	memset(d, 0x02, 3);
	d[3] = 0x00;
	n = frame_confluent(v, 1, d, 4);
	expect_json(dec, "list", v, n, "{\"next\":{\"next\":{\"next\":{\"next\":null}}}}");
	memset(d, 0x02, 200);
	d[200] = 0x00;
	n = frame_confluent(v, 1, d, 201);
	expect_error_with(dec, "list", v, n, "nested deeper than");
	avro_json_decoder_free(dec);
}

static void test_bad_schema(void **state)
{
	static const struct tapio_schema bad[] = {
		{ "ok", "\"int\"", 5, NULL },
		{ "broken", "{\"type\": \"record\"}", 18, NULL },
	};
	struct avro_json_decoder *dec = NULL;
	char err[256] = "";

	(void)state;
	assert_int_equal(avro_json_decoder_new(bad, 2, &dec, err, sizeof(err)), -EINVAL);
	assert_null(dec);
	assert_non_null(strstr(err, "broken: schema:"));
}

static void test_text_and_hex(void **state)
{
	json_t *j;

	(void)state;
	j = avro_json_text("a\xff\xc3\xa9\xed\xa0\x80\xf0\x9f\x98\x80\xe2\x82", 14);
	assert_non_null(j);
	/* 0xff, a UTF-16 surrogate (3 bytes) and a cut sequence (2 bytes) each become U+FFFD. */
	assert_string_equal(json_string_value(j),
			    "a\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
			    "\xf0\x9f\x98\x80\xef\xbf\xbd\xef\xbf\xbd");
	json_decref(j);
	j = avro_json_text("a\0b", 3);
	assert_int_equal(json_string_length(j), 3);
	json_decref(j);
	j = avro_json_hex("\x00\x7f\xff", 3);
	assert_string_equal(json_string_value(j), "007fff");
	json_decref(j);
	j = avro_json_hex("", 0);
	assert_string_equal(json_string_value(j), "");
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kernel_single_object),
		cmocka_unit_test(test_kernel_confluent),
		cmocka_unit_test(test_framing_errors),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_hostile_bytes),
		cmocka_unit_test(test_released_schema_decodes),
		cmocka_unit_test(test_envelope),
		cmocka_unit_test(test_misc_types),
		cmocka_unit_test(test_misc_hostile),
		cmocka_unit_test(test_recursion),
		cmocka_unit_test(test_bad_schema),
		cmocka_unit_test(test_text_and_hex),
	};

	return cmocka_run_group_tests(tests, setup_kernel, NULL);
}
