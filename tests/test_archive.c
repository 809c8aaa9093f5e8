/*
 * The archive tools' parts without a broker: the schema-compiled datum walk (avro_skip.c), the
 * Object Container File writer and reader (ocf.c), and the archive layout (archive_format.c):
 * table schemas, the Kafka columns, paths. Files are written here and read back; every
 * truncation, a flipped byte and foreign bytes end in an error with a reason, never a crash.
 * (The independent readers, python3-avro, avrocat and Java, read real archives in
 * integration/test_archive.py.)
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "archive_format.h"
#include "avro_skip.h"
#include "ocf.h"
#include "schema.h"

#define check(expr) assert_int_equal((expr), 0)

static void expect_substr(const char *s, const char *part)
{
	if (!strstr(s, part))
		fail_msg("\"%s\" lacks \"%s\"", s, part);
}

static struct avro_skip *compile_ok(const char *json)
{
	struct avro_skip *s = NULL;
	char err[256] = "";

	if (avro_skip_compile(json, strlen(json), &s, err, sizeof(err)))
		fail_msg("%s: %s", json, err);
	return s;
}

static void compile_fails(const char *json, const char *part)
{
	struct avro_skip *s = NULL;
	char err[256] = "";

	assert_int_equal(avro_skip_compile(json, strlen(json), &s, err, sizeof(err)), -EINVAL);
	assert_null(s);
	expect_substr(err, part);
}

static void test_skip_compile_errors(void **state)
{
	(void)state;
	compile_fails("{", "bad JSON");
	compile_fails("\"nosuch\"", "unknown type \"nosuch\"");
	compile_fails("{\"type\":\"record\",\"name\":\"a\",\"fields\":[{\"name\":\"x\",\"type\":\"b\"}]}",
		      "unknown type \"b\"");
	compile_fails("[{\"type\":\"enum\",\"name\":\"e\",\"symbols\":[\"A\"]},"
		      "{\"type\":\"enum\",\"name\":\"e\",\"symbols\":[\"B\"]}]", "defined twice");
	compile_fails("{\"type\":\"fixed\",\"name\":\"f\",\"size\":-1}", "no valid \"size\"");
	compile_fails("{\"type\":\"enum\",\"name\":\"e\",\"symbols\":[]}", "no \"symbols\"");
	compile_fails("{\"type\":\"record\",\"name\":\"r\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},"
		      "{\"name\":\"a\",\"type\":\"int\"}]}", "field \"a\" of \"r\" is defined twice");
	compile_fails("{\"type\":\"record\",\"name\":\"1r\",\"fields\":[]}", "not a valid type name");
	compile_fails("[]", "empty union");
	compile_fails("{\"type\":\"array\"}", "without \"items\"");
	compile_fails("42", "must be a string, an object or an array");
	/* JSON nested past the limit */
	char deep[1024];
	size_t n = 0;

	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(deep + n, sizeof(deep) - n, "[");
	n += (size_t)snprintf(deep + n, sizeof(deep) - n, "\"int\"");
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(deep + n, sizeof(deep) - n, "]");
	compile_fails(deep, "nested deeper than");
}

static void test_skip_walk_and_fields(void **state)
{
	/* A recursive record, a namespace-relative reference, every kind of type. */
	static const char json[] =
		"{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"t.ns\",\"fields\":["
		"{\"name\":\"when\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}},"
		"{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}},"
		"{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":2}},"
		"{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":[\"null\",\"double\"]}},"
		"{\"name\":\"next\",\"type\":[\"null\",\"R\"]},"
		"{\"name\":\"ee\",\"type\":\"t.ns.E\"}]}";
	/* when=1, e=B, f="ab", m={"k": 1.0}, next={when=-1, e=A, f, m={}, next=null, ee=A}, ee=B */
	static const uint8_t d[] = { 0x02, 0x02, 'a', 'b', 0x02, 0x02, 'k', 0x02, 0, 0, 0, 0, 0, 0,
				     0xf0, 0x3f, 0x00, 0x02, 0x01, 0x00, 'c', 'd', 0x00, 0x00,
				     0x00, 0x02 };
	struct avro_skip *s = compile_ok(json);
	size_t used, off[7];
	char err[256], sig[128];

	(void)state;
	assert_int_equal(avro_skip_type(s), AVRO_SKIP_RECORD);
	assert_int_equal(avro_skip_field_count(s), 6);
	assert_int_equal(avro_skip_field_index(s, "next"), 4);
	assert_int_equal(avro_skip_field_index(s, "nope"), -ENOENT);
	assert_string_equal(avro_skip_field_logical_type(s, 0), "timestamp-micros");
	assert_null(avro_skip_field_logical_type(s, 1));
	avro_skip_field_signature(s, 3, sig, sizeof(sig));
	assert_string_equal(sig, "map<union<null,double>>");
	avro_skip_field_signature(s, 2, sig, sizeof(sig));
	assert_string_equal(sig, "fixed(2)");
	check(avro_skip_datum(s, d, sizeof(d), &used, off, err, sizeof(err)));
	assert_int_equal(used, sizeof(d));
	assert_int_equal(off[0], 0);
	assert_int_equal(off[1], 1);
	assert_int_equal(off[2], 2);
	assert_int_equal(off[3], 4);
	assert_int_equal(off[4], 17);
	assert_int_equal(off[5], 25);
	assert_int_equal(off[6], 26);
	/* Every truncation fails, naming a field. */
	for (size_t n = 0; n < sizeof(d); n++) {
		err[0] = '\0';
		assert_int_equal(avro_skip_datum(s, d, n, &used, off, err, sizeof(err)), -EINVAL);
		expect_substr(err, "field \"");
	}
	/* Trailing bytes are the caller's: the walk says where the datum ended. */
	uint8_t more[sizeof(d) + 3];

	memcpy(more, d, sizeof(d));
	check(avro_skip_datum(s, more, sizeof(more), &used, NULL, err, sizeof(err)));
	assert_int_equal(used, sizeof(d));
	avro_skip_free(s);
}

static void test_varints(void **state)
{
	static const int64_t values[] = { 0, -1, 1, 63, -64, 64, 1 << 20, INT64_MAX, INT64_MIN };
	uint8_t buf[AVRO_LONG_MAX_BYTES];
	const uint8_t *p;
	size_t off, n;
	int64_t v;
	int32_t i32;

	(void)state;
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		n = avro_write_long(buf, values[i]);
		off = 0;
		check(avro_read_long(buf, n, &off, &v));
		assert_int_equal(off, n);
		assert_true(v == values[i]);
		off = 0;
		assert_int_equal(avro_read_long(buf, n - 1, &off, &v), -EINVAL);
	}
	n = avro_write_long(buf, (int64_t)INT32_MAX + 1);
	off = 0;
	assert_int_equal(avro_read_int(buf, n, &off, &i32), -EINVAL);
	/* bytes: a length past the end, a negative length */
	buf[0] = 0x08;
	off = 0;
	assert_int_equal(avro_read_bytes(buf, 3, &off, &p, &n), -EINVAL);
	buf[0] = 0x01;
	off = 0;
	assert_int_equal(avro_read_bytes(buf, 3, &off, &p, &n), -EINVAL);
}

/* ---- OCF ---- */

static char tmpdir[] = "/tmp/test_archive.XXXXXX";

static int setup_dir(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd);
}

static uint8_t *read_all(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	check(fstat(fd, &st));
	buf = malloc(st.st_size ? st.st_size : 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

/* Writes `n` datums of the "long" schema (values 0..n-1) with the codec, through `pipeline` if
 * not NULL; returns the path. */
static const char *write_longs_with(enum ocf_codec codec, int n, size_t block_bytes,
				    struct ocf_pipeline *pipeline)
{
	static char path[256];
	static const struct ocf_meta meta[] = {
		{ "tapio.x", "first", 5 },
		{ "tapio.patched", "0000", 4 },
	};
	const struct ocf_meta patch = { "tapio.patched", "1234", 4 };
	struct ocf_writer *w;
	char err[256];
	int fd;

	snprintf(path, sizeof(path), "%s/longs-%d-%d.avro", tmpdir, (int)codec, n);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	if (ocf_writer_open(fd, "\"long\"", codec, 6, block_bytes, meta, 2, pipeline, &w, err,
			    sizeof(err)))
		fail_msg("%s", err);
	for (int i = 0; i < n; i++) {
		uint8_t *out = ocf_writer_reserve(w, AVRO_LONG_MAX_BYTES);

		assert_non_null(out);
		check(ocf_writer_commit(w, avro_write_long(out, i)));
	}
	assert_int_equal(ocf_writer_finish(w, &(struct ocf_meta){ "nosuch", "x", 1 }, 1), -ENOENT);
	assert_int_equal(ocf_writer_finish(w, &(struct ocf_meta){ "tapio.patched", "12", 2 }, 1),
			 -EINVAL);
	check(ocf_writer_finish(w, &patch, 1));
	assert_int_equal(ocf_writer_buffered_bytes(w), 0);
	ocf_writer_free(w);
	close(fd);
	return path;
}

static const char *write_longs(enum ocf_codec codec, int n, size_t block_bytes)
{
	return write_longs_with(codec, n, block_bytes, NULL);
}

/* Reads every block; returns the datums read (the sum, in *sum), or -1 on an error (in err). */
static long read_longs(const uint8_t *buf, size_t len, long *sum, char *err, size_t err_size)
{
	struct ocf_reader *r;
	const uint8_t *data;
	int64_t count, v;
	size_t n, off;
	long datums = 0;
	int rc;

	*sum = 0;
	if (ocf_reader_open(buf, len, &r, err, err_size))
		return -1;
	while ((rc = ocf_reader_next_block(r, &count, &data, &n, err, err_size)) > 0) {
		off = 0;
		for (int64_t i = 0; i < count; i++, datums++) {
			if (avro_read_long(data, n, &off, &v)) {
				snprintf(err, err_size, "bad datum");
				ocf_reader_free(r);
				return -1;
			}
			*sum += v;
		}
	}
	ocf_reader_free(r);
	return rc < 0 ? -1 : datums;
}

static void test_ocf_round_trip(void **state)
{
	(void)state;
	for (int codec = OCF_CODEC_NULL; codec <= OCF_CODEC_DEFLATE; codec++) {
		const char *path = write_longs(codec, 5000, 1000);
		struct ocf_reader *r;
		const uint8_t *v;
		size_t len, n;
		uint8_t *buf = read_all(path, &len);
		char err[256];
		long sum;

		check(ocf_reader_open(buf, len, &r, err, sizeof(err)));
		assert_string_equal(ocf_reader_schema(r, &n), "\"long\"");
		assert_int_equal(ocf_reader_codec(r), codec);
		v = ocf_reader_meta(r, "tapio.patched", &n);
		assert_non_null(v);
		assert_memory_equal(v, "1234", 4);
		v = ocf_reader_meta(r, "avro.codec", &n);
		assert_memory_equal(v, codec ? "deflate" : "null", n);
		assert_null(ocf_reader_meta(r, "nosuch", &n));
		ocf_reader_free(r);
		assert_int_equal(read_longs(buf, len, &sum, err, sizeof(err)), 5000);
		assert_int_equal(sum, 4999L * 5000 / 2);
		free(buf);
	}
}

/* Blocks compressed and written by a pipeline's thread: the same file as written in place
 * (but for the random sync marker), for several writers sharing one pipeline. */
static void test_ocf_pipeline(void **state)
{
	struct ocf_pipeline *pl;
	char err[256];
	long sum;

	(void)state;
	check(ocf_pipeline_new(&pl));
	for (int codec = OCF_CODEC_NULL; codec <= OCF_CODEC_DEFLATE; codec++) {
		for (int n = 1; n <= 20000; n *= 20) {
			size_t len;
			uint8_t *buf = read_all(write_longs_with(codec, n, 100, pl), &len);

			assert_int_equal(read_longs(buf, len, &sum, err, sizeof(err)), n);
			assert_int_equal(sum, (long)(n - 1) * n / 2);
			free(buf);
		}
	}
	ocf_pipeline_free(pl);
}

/* Truncated anywhere: an error with a reason, or (cut between blocks) fewer datums. */
static void test_ocf_truncated_and_corrupt(void **state)
{
	(void)state;
	for (int codec = OCF_CODEC_NULL; codec <= OCF_CODEC_DEFLATE; codec++) {
		const char *path = write_longs(codec, 300, 200);
		size_t len;
		uint8_t *buf = read_all(path, &len), *copy = malloc(len);
		char err[256];
		long sum, got;

		for (size_t cut = 0; cut < len; cut++) {
			memcpy(copy, buf, cut); /* a copy of exactly `cut` bytes: ASan sees overreads */
			err[0] = '\0';
			got = read_longs(copy, cut, &sum, err, sizeof(err));
			if (got < 0)
				assert_true(err[0] != '\0');
			else
				assert_true(got < 300);
		}
		/* Each byte flipped: an error, or different values (the sum) at most. */
		for (size_t at = 0; at < len; at++) {
			memcpy(copy, buf, len);
			copy[at] ^= 0x41;
			err[0] = '\0';
			got = read_longs(copy, len, &sum, err, sizeof(err));
			if (got < 0)
				assert_true(err[0] != '\0');
		}
		/* The sync marker of the last block changed: named as such. */
		memcpy(copy, buf, len);
		copy[len - 1] ^= 1;
		assert_int_equal(read_longs(copy, len, &sum, err, sizeof(err)), -1);
		expect_substr(err, "sync marker does not match");
		free(copy);
		free(buf);
	}
}

static void test_ocf_foreign(void **state)
{
	static const uint8_t not_avro[] = "{\"a\": 1}";
	static const uint8_t snappy[] = "Obj\x01\x04\x16" "avro.schema\x0c\"long\"\x14"
					"avro.codec\x0c" "snappy\x00" "0123456789abcdef";
	static const uint8_t no_schema[] = "Obj\x01\x02\x14" "avro.codec\x08" "null\x00"
					   "0123456789abcdef";
	static const uint8_t huge_count[] = "Obj\x01\xfe\xff\xff\xff\x0f";
	struct ocf_reader *r = NULL;
	char err[256];

	(void)state;
	assert_int_equal(ocf_reader_open(not_avro, sizeof(not_avro) - 1, &r, err, sizeof(err)),
			 -EINVAL);
	expect_substr(err, "not an Avro Object Container File");
	assert_int_equal(ocf_reader_open(snappy, sizeof(snappy) - 1, &r, err, sizeof(err)), -EINVAL);
	expect_substr(err, "codec \"snappy\" is not supported");
	assert_int_equal(ocf_reader_open(no_schema, sizeof(no_schema) - 1, &r, err, sizeof(err)),
			 -EINVAL);
	expect_substr(err, "no avro.schema");
	assert_int_equal(ocf_reader_open(huge_count, sizeof(huge_count) - 1, &r, err, sizeof(err)),
			 -EINVAL);
	expect_substr(err, "entries cannot be there");
	assert_null(r);
}

/* A deflate block that inflates past the limit is refused, not inflated. */
static void test_ocf_inflate_bomb(void **state)
{
	char path[256], err[256];
	struct ocf_writer *w;
	uint8_t *buf, *zeros;
	size_t len, n = OCF_MAX_BLOCK_BYTES + 4096;
	long sum;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/bomb.avro", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	check(ocf_writer_open(fd, "\"bytes\"", OCF_CODEC_DEFLATE, 1, n + 16, NULL, 0, NULL, &w, err,
			      sizeof(err)));
	zeros = ocf_writer_reserve(w, n + AVRO_LONG_MAX_BYTES);
	assert_non_null(zeros);
	len = avro_write_long(zeros, (int64_t)n);
	memset(zeros + len, 0, n);
	check(ocf_writer_commit(w, len + n));
	check(ocf_writer_finish(w, NULL, 0));
	ocf_writer_free(w);
	close(fd);
	buf = read_all(path, &len);
	assert_true(len < 1 << 20);
	assert_int_equal(read_longs(buf, len, &sum, err, sizeof(err)), -1);
	expect_substr(err, "inflates to more than");
	free(buf);
}

/* ---- archive layout ---- */

static void test_table_schema(void **state)
{
	const struct tapio_schema *kernel = schema_find("kernel");
	struct avro_skip *s, *v;
	size_t value_fields;
	char *json = NULL, err[256];

	(void)state;
	assert_non_null(kernel);
	check(archive_table_schema(kernel->json, kernel->json_len, &json, err, sizeof(err)));
	s = compile_ok(json);
	v = compile_ok(kernel->json);
	check(archive_check_table_schema(s, &value_fields, err, sizeof(err)));
	assert_int_equal(value_fields, avro_skip_field_count(v));
	assert_int_equal(avro_skip_field_count(s), value_fields + ARCHIVE_KAFKA_FIELDS);
	/* Not a raw schema; the raw schema is not a table schema with value fields. */
	assert_int_equal(archive_check_raw_schema(s, err, sizeof(err)), -EINVAL);
	avro_skip_free(s);
	s = compile_ok(archive_raw_schema);
	check(archive_check_raw_schema(s, err, sizeof(err)));
	avro_skip_free(s);
	avro_skip_free(v);
	free(json);

	json = NULL;
	assert_int_equal(archive_table_schema("\"string\"", 8, &json, err, sizeof(err)), -EINVAL);
	expect_substr(err, "not a record");
	static const char clash[] = "{\"type\":\"record\",\"name\":\"r\",\"fields\":["
				    "{\"name\":\"kafka_key\",\"type\":\"int\"}]}";
	assert_int_equal(archive_table_schema(clash, strlen(clash), &json, err, sizeof(err)), -EINVAL);
	expect_substr(err, "already has a field \"kafka_key\"");
	assert_null(json);
	/* A lookalike whose kafka_key is a string is no table schema. */
	s = compile_ok("{\"type\":\"record\",\"name\":\"r\",\"fields\":["
		       "{\"name\":\"kafka_partition\",\"type\":\"int\"},"
		       "{\"name\":\"kafka_offset\",\"type\":\"long\"},"
		       "{\"name\":\"kafka_timestamp\",\"type\":[\"null\",\"long\"]},"
		       "{\"name\":\"kafka_key\",\"type\":[\"null\",\"string\"]},"
		       "{\"name\":\"kafka_headers\",\"type\":{\"type\":\"array\",\"items\":\"int\"}}]}");
	assert_int_equal(archive_check_table_schema(s, &value_fields, err, sizeof(err)), -EINVAL);
	expect_substr(err, "kafka_key is union<null,string>");
	avro_skip_free(s);
}

static void test_kafka_columns(void **state)
{
	const struct archive_header hdrs[] = {
		{ "collector", 9, (const uint8_t *)"kernel", 6 },
		{ "empty", 5, (const uint8_t *)"", 0 },
		{ "null", 4, NULL, 0 },
		{ "collector", 9, (const uint8_t *)"again", 5 },
	};
	const struct archive_kafka cases[] = {
		{ 3, 123456789012LL, true, 1796476046033LL, (const uint8_t *)"pod-uid", 7, hdrs, 4 },
		{ 0, 0, false, 0, NULL, 0, NULL, 0 },
		{ 0, 1, true, -5, (const uint8_t *)"", 0, hdrs + 2, 1 }, /* an empty, not a null key */
	};
	struct archive_headers h = { 0 };
	struct archive_kafka k;
	uint8_t buf[512];
	char err[256];

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		size_t n = archive_kafka_encode(buf, &cases[c]), off = 0;

		assert_true(n <= archive_kafka_max_size(&cases[c]));
		check(archive_kafka_decode(buf, n, &off, &k, &h, err, sizeof(err)));
		assert_int_equal(off, n);
		assert_int_equal(k.partition, cases[c].partition);
		assert_true(k.offset == cases[c].offset);
		assert_int_equal(k.has_timestamp, cases[c].has_timestamp);
		assert_true(k.timestamp_ms == cases[c].timestamp_ms);
		assert_int_equal(!k.key, !cases[c].key);
		assert_int_equal(k.key_len, cases[c].key_len);
		assert_memory_equal(k.key ? k.key : (const uint8_t *)"", cases[c].key ?
				    cases[c].key : (const uint8_t *)"", k.key_len);
		assert_int_equal(k.n_headers, cases[c].n_headers);
		for (size_t i = 0; i < k.n_headers; i++) {
			const struct archive_header *want = &cases[c].headers[i];

			assert_int_equal(k.headers[i].name_len, want->name_len);
			assert_memory_equal(k.headers[i].name, want->name, want->name_len);
			assert_int_equal(!k.headers[i].value, !want->value);
			assert_int_equal(k.headers[i].value_len, want->value_len);
		}
		/* Every truncation fails. */
		for (size_t cut = 0; cut < n; cut++) {
			off = 0;
			err[0] = '\0';
			assert_int_equal(archive_kafka_decode(buf, cut, &off, &k, &h, err, sizeof(err)),
					 -EINVAL);
			assert_true(err[0] != '\0');
		}
	}
	/* A header count the bytes cannot hold. */
	{
		static const uint8_t bad[] = { 0x02, 0x02, 0x00, 0x00, 0xfe, 0xff, 0xff, 0x0f };
		size_t off = 0;

		assert_int_equal(archive_kafka_decode(bad, sizeof(bad), &off, &k, &h, err,
						      sizeof(err)), -EINVAL);
		expect_substr(err, "kafka_headers");
	}
	free(h.v);
}

static void test_raw_value(void **state)
{
	/* value: present and empty; reason "x" */
	static const uint8_t empty[] = { 0x02, 0x00, 0x02, 'x' };
	static const uint8_t tomb[] = { 0x00, 0x12, 't', 'o', 'm', 'b', 's', 't', 'o', 'n', 'e' };
	const uint8_t *value, *reason;
	size_t value_len, reason_len, off = 0;
	char err[256];

	(void)state;
	check(archive_raw_decode(empty, sizeof(empty), &off, &value, &value_len, &reason, &reason_len,
				 err, sizeof(err)));
	assert_non_null(value);
	assert_int_equal(value_len, 0);
	assert_int_equal(reason_len, 1);
	off = 0;
	check(archive_raw_decode(tomb, sizeof(tomb), &off, &value, &value_len, &reason, &reason_len,
				 err, sizeof(err)));
	assert_null(value);
	assert_memory_equal(reason, "tombstone", 9);
	off = 0;
	assert_int_equal(archive_raw_decode(tomb, 5, &off, &value, &value_len, &reason, &reason_len,
					    err, sizeof(err)), -EINVAL);
}

static void test_paths(void **state)
{
	char dir[256], name[64], path[512], topic[256];
	int64_t hour, first;
	int32_t part;
	bool raw;

	(void)state;
	/* 2026-11-25T16:43:34.865Z */
	assert_true(archive_hour_of_us(1795625014865000LL) == 1795625014865000LL / 3600000000LL);
	assert_true(archive_hour_of_us(-1) == -1);
	assert_true(archive_hour_of_us(-3600000000LL) == -1);
	check(archive_dir(dir, sizeof(dir), "tapio.kernel", false,
			  archive_hour_of_us(1795625014865000LL)));
	assert_string_equal(dir, "topic=tapio.kernel/date=2026-11-25/hour=16");
	check(archive_dir(dir, sizeof(dir), "tapio.metadata", true, archive_hour_of_us(-1)));
	assert_string_equal(dir, "topic=tapio.metadata/_raw/date=1969-12-31/hour=23");
	assert_int_equal(archive_dir(dir, sizeof(dir), "t", false, INT64_MAX / 3600), -ERANGE);
	assert_int_equal(archive_dir(dir, 10, "tapio.kernel", false, 0), -ENAMETOOLONG);
	check(archive_file_name(name, sizeof(name), 7, 1234567));
	assert_string_equal(name, "7-1234567.avro");

	snprintf(path, sizeof(path), "topic=tapio.metadata/_raw/date=1969-12-31/hour=23/%s", name);
	check(archive_parse_path(path, topic, sizeof(topic), &raw, &hour, &part, &first));
	assert_string_equal(topic, "tapio.metadata");
	assert_true(raw);
	assert_true(hour == -1);
	assert_int_equal(part, 7);
	assert_true(first == 1234567);
	static const char *const bad[] = {
		"topic=tapio.kernel/date=2026-11-25/hour=16/7-1.avr",
		"topic=tapio.kernel/date=2026-11-25/hour=24/7-1.avro",
		"topic=tapio.kernel/date=2026-02-30/hour=16/7-1.avro",
		"topic=tapio.kernel/date=2026-11-25/hour=16/x/7-1.avro",
		"topic=tapio.kernel/date=2026-11-25/hour=16/7-.avro",
		"topic=tapio.kernel/date=2026-11-25/hour=16/-1.avro",
		"topic=tapio.kernel/date=2026-11-25/hour=16/99999999999-1.avro",
		"topic=tapio.kernel/date=2026-11-25/hour=16/7-99999999999999999999.avro",
		"topic=../date=2026-11-25/hour=16/7-1.avro",
		"topic=a b/date=2026-11-25/hour=16/7-1.avro",
		"topic=tapio.kernel/date=2026-11-25",
		"tapio.kernel/date=2026-11-25/hour=16/7-1.avro",
		"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (!archive_parse_path(bad[i], topic, sizeof(topic), &raw, &hour, &part, &first))
			fail_msg("accepted \"%s\"", bad[i]);
	assert_true(archive_topic_valid("tapio.kernel"));
	assert_false(archive_topic_valid(".."));
	assert_false(archive_topic_valid("a/b"));
	assert_false(archive_topic_valid(""));
}

static void test_numbers(void **state)
{
	char num[ARCHIVE_NUM_WIDTH + 1];
	int64_t v;

	(void)state;
	archive_format_num(num, 42);
	assert_string_equal(num, "0000000000000000042");
	check(archive_parse_num((const uint8_t *)num, strlen(num), &v));
	assert_true(v == 42);
	archive_format_num(num, INT64_MAX);
	check(archive_parse_num((const uint8_t *)num, strlen(num), &v));
	assert_true(v == INT64_MAX);
	assert_int_equal(archive_parse_num((const uint8_t *)"9223372036854775808", 19, &v), -EINVAL);
	assert_int_equal(archive_parse_num((const uint8_t *)"-1", 2, &v), -EINVAL);
	assert_int_equal(archive_parse_num((const uint8_t *)"", 0, &v), -EINVAL);
	assert_int_equal(archive_parse_num((const uint8_t *)"1 ", 2, &v), -EINVAL);
}

/* The event time and node of a real kernel datum, found through the walk's field offsets. */
static void test_value_fields(void **state)
{
	const struct tapio_schema *kernel = schema_find("kernel");
	struct archive_value_fields f;
	struct avro_skip *s = compile_ok(kernel->json);
	uint8_t d[64];
	size_t n = 0, used, off[64];
	const uint8_t *node;
	size_t node_len;
	int64_t us;
	char err[256];

	(void)state;
	archive_value_fields(s, &f);
	assert_int_equal(f.event_time, 1);
	assert_int_equal(f.event_time_us_per_unit, 1);
	assert_int_equal(f.node, 4);
	/* An EXIT record: kind, event_time, seq, run, node, cgroup_id, nulls, pid, ppid, comm, ... */
	d[n++] = 0x04; /* kind EXIT (index 2) */
	n += avro_write_long(d + n, 1795625014865123LL);
	n += avro_write_long(d + n, 7);
	n += avro_write_long(d + n, 1795625000000000LL); /* run */
	d[n++] = 0x08;
	memcpy(d + n, "node", 4);
	n += 4;
	n += avro_write_long(d + n, 42);
	d[n++] = 0; /* pod_uid */
	d[n++] = 0; /* container_id */
	d[n++] = 0; /* loss */
	n += avro_write_long(d + n, 100);
	n += avro_write_long(d + n, 1);
	d[n++] = 0x02;
	d[n++] = 'x';
	d[n++] = 0; /* exec */
	d[n++] = 0x02; /* exit */
	n += avro_write_long(d + n, 0);
	n += avro_write_long(d + n, 9);
	d[n++] = 0;
	n += avro_write_long(d + n, 5000);
	d[n++] = 0; /* oom */
	d[n++] = 0; /* tcp */
	assert_true(avro_skip_field_count(s) < 64);
	if (avro_skip_datum(s, d, n, &used, off, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(used, n);
	check(archive_event_time_us(&f, d, n, off, &us));
	assert_true(us == 1795625014865123LL);
	check(archive_node(&f, d, n, off, &node, &node_len));
	assert_int_equal(node_len, 4);
	assert_memory_equal(node, "node", 4);
	avro_skip_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_skip_compile_errors),
		cmocka_unit_test(test_skip_walk_and_fields),
		cmocka_unit_test(test_varints),
		cmocka_unit_test(test_ocf_round_trip),
		cmocka_unit_test(test_ocf_pipeline),
		cmocka_unit_test(test_ocf_truncated_and_corrupt),
		cmocka_unit_test(test_ocf_foreign),
		cmocka_unit_test(test_ocf_inflate_bomb),
		cmocka_unit_test(test_table_schema),
		cmocka_unit_test(test_kafka_columns),
		cmocka_unit_test(test_raw_value),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_value_fields),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
