/* Collector `kernel`: record checks and Avro encoding, against golden bytes written by an
 * independent implementation (tests/golden/kernel.py, python3-avro) and against avro-c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <avro.h>

#include "collector.h"
#include "pipeline.h"
#include "kernel.h"
#include "schema.h"

/* tests/golden/kernel.py */
static const uint8_t golden_exec[] = {
	0x02, 0x80, 0x89, 0xa1, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0e, 0x0c, 0x6e,
	0x6f, 0x64, 0x65, 0x2d, 0x61, 0xf2, 0xc0, 0x01, 0x02, 0x48, 0x30, 0x66,
	0x31, 0x65, 0x32, 0x64, 0x33, 0x63, 0x2d, 0x34, 0x62, 0x35, 0x61, 0x2d,
	0x36, 0x39, 0x37, 0x38, 0x2d, 0x38, 0x37, 0x39, 0x36, 0x2d, 0x61, 0x35,
	0x62, 0x34, 0x63, 0x33, 0x64, 0x32, 0x65, 0x31, 0x66, 0x30, 0x02, 0x80,
	0x01, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61,
	0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61,
	0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61,
	0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61,
	0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61,
	0x62, 0x61, 0x62, 0x61, 0x62, 0xa4, 0x42, 0x02, 0x04, 0x73, 0x68, 0x02,
	0xd0, 0x0f, 0xd0, 0x0f, 0x0e, 0x2f, 0x62, 0x69, 0x6e, 0x2f, 0x73, 0x68,
	0x00, 0x06, 0x04, 0x73, 0x68, 0x04, 0x2d, 0x63, 0x0e, 0x65, 0x78, 0x69,
	0x74, 0x20, 0x33, 0x37, 0x00, 0x00, 0x00,
};
static const uint8_t golden_exit[] = {
	0x04, 0x80, 0x89, 0xa1, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0e, 0x0c, 0x6e,
	0x6f, 0x64, 0x65, 0x2d, 0x61, 0xf2, 0xc0, 0x01, 0x00, 0x00, 0xa4, 0x42,
	0x02, 0x04, 0x73, 0x68, 0x00, 0x02, 0x00, 0x12, 0x01, 0x80, 0xbc, 0xc1,
	0x96, 0x0b,
};

extern const struct collector_ops kernel_collector;

static const struct envelope golden_env = {
	.event_time_us = 1764000000123456,
	.seq = 7,
	.node = "node-a",
	.cgroup_id = 12345,
	.pod_uid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
	.container_id = "abababababababababababababababababababababababababababababababab",
};

static void make_exec(struct kernel_exec *e)
{
	static const char args[] = "sh\0-c\0exit 37"; /* argv as in memory, terminating NUL too */

	memset(e, 0, sizeof(*e));
	e->hdr = (struct tapio_hdr){ TAPIO_REC_KERNEL_EXEC, KERNEL_EXEC_VERSION, sizeof(*e), 1, 12345 };
	e->pid = 4242;
	e->ppid = 1;
	e->uid = e->gid = 1000;
	strcpy(e->comm, "sh");
	strcpy(e->filename, "/bin/sh");
	memcpy(e->args, args, sizeof(args));
	e->args_len = sizeof(args);
}

static void make_exit(struct kernel_exit *x)
{
	memset(x, 0, sizeof(*x));
	x->hdr = (struct tapio_hdr){ TAPIO_REC_KERNEL_EXIT, KERNEL_EXIT_VERSION, sizeof(*x), 1, 12345 };
	x->pid = 4242;
	x->ppid = 1;
	x->exit_status = 0x80 | 9; /* SIGKILL, core dumped */
	x->lifetime_ns = 1500000000;
	strcpy(x->comm, "sh");
}

static size_t encode(const void *rec, size_t size, const struct envelope *env, uint8_t *out, size_t cap)
{
	struct decoded d;
	struct avro_buf buf;

	assert_int_equal(kernel_collector.decode(NULL, rec, size, &d), DECODE_OK);
	avro_buf_init(&buf, out, cap);
	avro_put_envelope(&buf, d.kind, env);
	kernel_collector.encode(&d, &buf);
	assert_false(buf.overflow);
	return buf.len;
}

static void test_exec_matches_golden(void **state)
{
	struct kernel_exec e;
	uint8_t out[4096];
	size_t n;

	(void)state;
	make_exec(&e);
	n = encode(&e, sizeof(e), &golden_env, out, sizeof(out));
	assert_int_equal(n, sizeof(golden_exec));
	assert_memory_equal(out, golden_exec, n);
}

static void test_exit_matches_golden(void **state)
{
	struct envelope env = golden_env;
	struct kernel_exit x;
	uint8_t out[4096];
	size_t n;

	(void)state;
	env.pod_uid = NULL;
	env.container_id = "";
	make_exit(&x);
	n = encode(&x, sizeof(x), &env, out, sizeof(out));
	assert_int_equal(n, sizeof(golden_exit));
	assert_memory_equal(out, golden_exit, n);
}

/* avro-c reads back what we wrote, field by field. */
static void test_exec_decodes_with_avro_c(void **state)
{
	const struct tapio_schema *s = schema_find("kernel");
	avro_schema_t schema;
	avro_value_iface_t *iface;
	avro_value_t value, field, branch, item;
	avro_reader_t reader;
	struct kernel_exec e;
	uint8_t out[4096];
	const char *str;
	size_t n, len;
	int64_t l;
	int32_t i;

	(void)state;
	make_exec(&e);
	strcpy(e.filename, "/usr/bin/\xff\xfe-bad"); /* not UTF-8: must still be a valid Avro string */
	n = encode(&e, sizeof(e), &golden_env, out, sizeof(out));

	assert_non_null(s);
	assert_int_equal(avro_schema_from_json_length(s->json, s->json_len, &schema), 0);
	iface = avro_generic_class_from_schema(schema);
	assert_int_equal(avro_generic_value_new(iface, &value), 0);
	reader = avro_reader_memory((const char *)out, n);
	assert_int_equal(avro_value_read(reader, &value), 0);

	assert_int_equal(avro_value_get_by_name(&value, "pid", &field, NULL), 0);
	assert_int_equal(avro_value_get_int(&field, &i), 0);
	assert_int_equal(i, 4242);
	assert_int_equal(avro_value_get_by_name(&value, "cgroup_id", &field, NULL), 0);
	assert_int_equal(avro_value_get_long(&field, &l), 0);
	assert_int_equal(l, 12345);
	assert_int_equal(avro_value_get_by_name(&value, "exec", &field, NULL), 0);
	assert_int_equal(avro_value_get_current_branch(&field, &branch), 0);
	assert_int_equal(avro_value_get_by_name(&branch, "filename", &item, NULL), 0);
	assert_int_equal(avro_value_get_string(&item, &str, &len), 0);
	assert_string_equal(str, "/usr/bin/\xef\xbf\xbd\xef\xbf\xbd-bad");
	assert_int_equal(avro_value_get_by_name(&branch, "args", &item, NULL), 0);
	assert_int_equal(avro_value_get_size(&item, &len), 0);
	assert_int_equal(len, 3);

	avro_reader_free(reader);
	avro_value_decref(&value);
	avro_value_iface_decref(iface);
	avro_schema_decref(schema);
}

/* argv cut mid-argument (no final NUL) and empty arguments survive as they were. */
static void test_exec_args_edge_cases(void **state)
{
	static const uint8_t expect_args[] = { 0x06, 0x02, 'a', 0x00, 0x04, 'b', 'c', 0x00 };
	struct kernel_exec e;
	uint8_t out[4096];
	size_t n;

	(void)state;
	make_exec(&e);
	memcpy(e.args, "a\0\0bc", 5); /* "a", "", "bc" (cut) */
	e.args_len = 5;
	e.flags = KERNEL_EXEC_ARGS_TRUNCATED;
	n = encode(&e, sizeof(e), &golden_env, out, sizeof(out));
	/* ... args array, then args_truncated=true, then exit=null */
	assert_true(n > sizeof(expect_args) + 2);
	assert_memory_equal(out + n - 2 - sizeof(expect_args), expect_args, sizeof(expect_args));
	assert_int_equal(out[n - 2], 1);
	assert_int_equal(out[n - 1], 0);
}

static void test_rejections(void **state)
{
	uint8_t big[sizeof(struct kernel_exec) + 64];
	struct kernel_exec *e = (struct kernel_exec *)big;
	struct kernel_exit x;
	struct decoded d;

	(void)state;
	make_exit(&x);
	/* Shorter than a header. */
	assert_int_equal(kernel_collector.decode(NULL, &x, 8, &d), DECODE_SHORT);
	assert_int_equal(kernel_collector.decode(NULL, &x, 0, &d), DECODE_SHORT);
	/* Header claims a size the ring buffer did not give. */
	assert_int_equal(kernel_collector.decode(NULL, &x, sizeof(x) - 8, &d), DECODE_SIZE_MISMATCH);
	/* Unknown type. */
	x.hdr.type = TAPIO_REC_TYPE_MAX + 7;
	assert_int_equal(kernel_collector.decode(NULL, &x, sizeof(x), &d), DECODE_UNKNOWN_TYPE);
	/* Known type, unknown layout version. */
	make_exit(&x);
	x.hdr.version = 99;
	assert_int_equal(kernel_collector.decode(NULL, &x, sizeof(x), &d), DECODE_BAD_VERSION);
	/* Oversized: a consistent header on a record longer than its type. */
	make_exec(e);
	e->hdr.size = sizeof(big);
	assert_int_equal(kernel_collector.decode(NULL, big, sizeof(big), &d), DECODE_BAD_LENGTH);
	/* Undersized for its type, header consistent. */
	make_exit(&x);
	x.hdr.type = TAPIO_REC_KERNEL_EXEC;
	assert_int_equal(kernel_collector.decode(NULL, &x, sizeof(x), &d), DECODE_BAD_LENGTH);
	/* A length field pointing past its buffer. */
	make_exec(e);
	e->args_len = KERNEL_ARGS_LEN + 1;
	assert_int_equal(kernel_collector.decode(NULL, e, sizeof(*e), &d), DECODE_BAD_FIELD);
}

/* Strings with no NUL inside their arrays stop at the array's end. */
static void test_unterminated_strings(void **state)
{
	struct kernel_exec e;
	uint8_t out[4096];
	size_t n;

	(void)state;
	make_exec(&e);
	memset(e.comm, 'c', sizeof(e.comm));
	memset(e.filename, 'f', sizeof(e.filename));
	n = encode(&e, sizeof(e), &golden_env, out, sizeof(out));
	/* 16 'c' and 256 'f', each preceded by its zig-zag length. */
	assert_non_null(memmem(out, n, "\x20" "cccccccccccccccc" "\x02", 18));
	assert_non_null(memmem(out, n, "\x80\x04" "ffff", 6));
}

/* A buffer too small for the record is reported, never overrun. */
static void test_encode_overflow(void **state)
{
	struct kernel_exec e;
	struct decoded d;
	struct avro_buf buf;
	uint8_t out[64 + 16];

	(void)state;
	make_exec(&e);
	memset(out + 64, 0x5a, 16);
	assert_int_equal(kernel_collector.decode(NULL, &e, sizeof(e), &d), DECODE_OK);
	avro_buf_init(&buf, out, 64);
	avro_put_envelope(&buf, d.kind, &golden_env);
	kernel_collector.encode(&d, &buf);
	assert_true(buf.overflow);
	assert_true(buf.len <= 64);
	for (int i = 64; i < 80; i++)
		assert_int_equal(out[i], 0x5a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec_matches_golden),
		cmocka_unit_test(test_exit_matches_golden),
		cmocka_unit_test(test_exec_decodes_with_avro_c),
		cmocka_unit_test(test_exec_args_edge_cases),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_unterminated_strings),
		cmocka_unit_test(test_encode_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
