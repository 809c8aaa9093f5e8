/* Collector `kernel`: record checks and Avro encoding, against golden bytes written by an
 * independent implementation (tests/golden/kernel.py, python3-avro) and against avro-c. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <avro.h>

#include "collector.h"
#include "pipeline.h"
#include "kernel.h"
#include "kernel_collector.h"
#include "schema.h"

/* tests/golden/kernel.py */
static const uint8_t golden_loss[] = {
	0x14, 0x80, 0x89, 0xa1, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x10, 0x80, 0x80,
	0x92, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0c, 0x6e, 0x6f, 0x64, 0x65, 0x2d,
	0x61, 0x00, 0x00, 0x00, 0x02, 0x04, 0x06, 0x80, 0x80, 0x92, 0x96, 0xa8,
	0x96, 0xa2, 0x06, 0x80, 0x89, 0xa1, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};
static const uint8_t golden_exec[] = {
	0x02, 0x80, 0x89, 0xa1, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0e, 0x80, 0x80,
	0x92, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0c, 0x6e, 0x6f, 0x64, 0x65, 0x2d,
	0x61, 0xf2, 0xc0, 0x01, 0x02, 0x48, 0x30, 0x66, 0x31, 0x65, 0x32, 0x64,
	0x33, 0x63, 0x2d, 0x34, 0x62, 0x35, 0x61, 0x2d, 0x36, 0x39, 0x37, 0x38,
	0x2d, 0x38, 0x37, 0x39, 0x36, 0x2d, 0x61, 0x35, 0x62, 0x34, 0x63, 0x33,
	0x64, 0x32, 0x65, 0x31, 0x66, 0x30, 0x02, 0x80, 0x01, 0x61, 0x62, 0x61,
	0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61,
	0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61,
	0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61,
	0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61,
	0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61,
	0x62, 0x00, 0xa4, 0x42, 0x02, 0x04, 0x73, 0x68, 0x02, 0xd0, 0x0f, 0xd0,
	0x0f, 0x0e, 0x2f, 0x62, 0x69, 0x6e, 0x2f, 0x73, 0x68, 0x00, 0x06, 0x04,
	0x73, 0x68, 0x04, 0x2d, 0x63, 0x0e, 0x65, 0x78, 0x69, 0x74, 0x20, 0x33,
	0x37, 0x00, 0x00, 0x00, 0x00, 0x00,
};
static const uint8_t golden_exit[] = {
	0x04, 0x80, 0x89, 0xa1, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0e, 0x80, 0x80,
	0x92, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0c, 0x6e, 0x6f, 0x64, 0x65, 0x2d,
	0x61, 0xf2, 0xc0, 0x01, 0x00, 0x00, 0x00, 0xa4, 0x42, 0x02, 0x04, 0x73,
	0x68, 0x00, 0x02, 0x00, 0x12, 0x01, 0x80, 0xbc, 0xc1, 0x96, 0x0b, 0x00,
	0x00,
};
static const uint8_t golden_oom[] = {
	0x06, 0x80, 0x89, 0xa1, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0e, 0x80, 0x80,
	0x92, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0c, 0x6e, 0x6f, 0x64, 0x65, 0x2d,
	0x61, 0xf2, 0xc0, 0x01, 0x02, 0x48, 0x30, 0x66, 0x31, 0x65, 0x32, 0x64,
	0x33, 0x63, 0x2d, 0x34, 0x62, 0x35, 0x61, 0x2d, 0x36, 0x39, 0x37, 0x38,
	0x2d, 0x38, 0x37, 0x39, 0x36, 0x2d, 0x61, 0x35, 0x62, 0x34, 0x63, 0x33,
	0x64, 0x32, 0x65, 0x31, 0x66, 0x30, 0x02, 0x80, 0x01, 0x61, 0x62, 0x61,
	0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61,
	0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61,
	0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61,
	0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61,
	0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61,
	0x62, 0x00, 0xa4, 0x42, 0x02, 0x0c, 0x73, 0x74, 0x72, 0x65, 0x73, 0x73,
	0x00, 0x00, 0x02, 0x01, 0x02, 0x80, 0x80, 0x80, 0x20, 0x02, 0x80, 0x80,
	0x80, 0x20, 0x80, 0xc0, 0xde, 0x2b, 0x80, 0x80, 0xfc, 0x24, 0x80, 0x80,
	0xe0, 0x1f, 0x80, 0x80, 0x9c, 0x05, 0x00, 0xcb, 0x0f, 0xd0, 0x0f, 0xa6,
	0x42, 0x04, 0x73, 0x68, 0x00,
};
static const uint8_t golden_oom_global[] = {
	0x06, 0x80, 0x89, 0xa1, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0e, 0x80, 0x80,
	0x92, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0c, 0x6e, 0x6f, 0x64, 0x65, 0x2d,
	0x61, 0xf2, 0xc0, 0x01, 0x00, 0x00, 0x00, 0xa4, 0x42, 0x02, 0x04, 0x73,
	0x68, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x80, 0x40, 0x00, 0x00, 0x00,
	0x00, 0xd0, 0x0f, 0x00, 0x02, 0x08, 0x69, 0x6e, 0x69, 0x74, 0x00,
};
static const uint8_t golden_tcp_close[] = {
	0x0e, 0x80, 0x89, 0xa1, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0e, 0x80, 0x80,
	0x92, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0c, 0x6e, 0x6f, 0x64, 0x65, 0x2d,
	0x61, 0xf2, 0xc0, 0x01, 0x02, 0x48, 0x30, 0x66, 0x31, 0x65, 0x32, 0x64,
	0x33, 0x63, 0x2d, 0x34, 0x62, 0x35, 0x61, 0x2d, 0x36, 0x39, 0x37, 0x38,
	0x2d, 0x38, 0x37, 0x39, 0x36, 0x2d, 0x61, 0x35, 0x62, 0x34, 0x63, 0x33,
	0x64, 0x32, 0x65, 0x31, 0x66, 0x30, 0x02, 0x80, 0x01, 0x61, 0x62, 0x61,
	0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61,
	0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61,
	0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61,
	0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61,
	0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61,
	0x62, 0x00, 0xa4, 0x42, 0x02, 0x08, 0x63, 0x75, 0x72, 0x6c, 0x00, 0x00,
	0x00, 0x02, 0x02, 0x10, 0x31, 0x30, 0x2e, 0x31, 0x2e, 0x32, 0x2e, 0x33,
	0x80, 0xf1, 0x04, 0x1a, 0x31, 0x39, 0x32, 0x2e, 0x31, 0x36, 0x38, 0x2e,
	0x32, 0x35, 0x35, 0x2e, 0x31, 0xf6, 0x06, 0x02, 0x0a, 0x02, 0x80, 0xe4,
	0x97, 0xd0, 0x12, 0x00, 0x00, 0xd0, 0x0f, 0xd4, 0x0f, 0x82, 0x80, 0x08,
	0x00,
};
static const uint8_t golden_tcp_failed[] = {
	0x0a, 0x80, 0x89, 0xa1, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0e, 0x80, 0x80,
	0x92, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0c, 0x6e, 0x6f, 0x64, 0x65, 0x2d,
	0x61, 0xf2, 0xc0, 0x01, 0x02, 0x48, 0x30, 0x66, 0x31, 0x65, 0x32, 0x64,
	0x33, 0x63, 0x2d, 0x34, 0x62, 0x35, 0x61, 0x2d, 0x36, 0x39, 0x37, 0x38,
	0x2d, 0x38, 0x37, 0x39, 0x36, 0x2d, 0x61, 0x35, 0x62, 0x34, 0x63, 0x33,
	0x64, 0x32, 0x65, 0x31, 0x66, 0x30, 0x02, 0x80, 0x01, 0x61, 0x62, 0x61,
	0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61,
	0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61,
	0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61,
	0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61,
	0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61, 0x62, 0x61,
	0x62, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x04, 0x0e, 0x66,
	0x64, 0x30, 0x30, 0x3a, 0x3a, 0x31, 0xf0, 0x9c, 0x06, 0x1e, 0x3a, 0x3a,
	0x66, 0x66, 0x66, 0x66, 0x3a, 0x31, 0x30, 0x2e, 0x30, 0x2e, 0x30, 0x2e,
	0x31, 0xa0, 0x7e, 0x02, 0x04, 0x00, 0xde, 0x01, 0x02, 0x18, 0x45, 0x43,
	0x4f, 0x4e, 0x4e, 0x52, 0x45, 0x46, 0x55, 0x53, 0x45, 0x44, 0x00, 0x00,
	0x00, 0x00,
};

extern const struct collector_ops kernel_collector;

static const struct envelope golden_env = {
	.event_time_us = 1764000000123456,
	.seq = 7,
	.run = 1764000000000000,
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

#define MIB (1ull << 20)

static void make_oom(struct kernel_oom *o)
{
	memset(o, 0, sizeof(*o));
	o->hdr = (struct tapio_hdr){ TAPIO_REC_KERNEL_OOM, KERNEL_OOM_VERSION, sizeof(*o), 1, 12345 };
	o->pid = 4242;
	o->ppid = 1;
	o->trigger_pid = 4243;
	o->uid = 1000;
	o->flags = KERNEL_OOM_CGROUP | KERNEL_OOM_USAGE_KNOWN | KERNEL_OOM_LIMIT_KNOWN;
	o->oom_score_adj = -998;
	o->memcg_usage_bytes = 32 * MIB;
	o->memcg_limit_bytes = 32 * MIB;
	o->total_vm_bytes = 45862912;
	o->rss_anon_bytes = 33292288;
	o->rss_file_bytes = 5472256;
	strcpy(o->comm, "stress");
	strcpy(o->trigger_comm, "sh");
}

/* The golden "oom_global": the root memcg, whose counters the flags say to ignore. */
static void make_oom_global(struct kernel_oom *o)
{
	make_oom(o);
	o->flags = 0;
	o->oom_score_adj = 1000;
	o->uid = 0;
	o->total_vm_bytes = 4096;
	o->rss_anon_bytes = o->rss_file_bytes = 0;
	o->trigger_pid = 1;
	strcpy(o->comm, "sh");
	strcpy(o->trigger_comm, "init");
}

static void make_tcp(struct kernel_tcp *t)
{
	memset(t, 0, sizeof(*t));
	t->hdr = (struct tapio_hdr){ TAPIO_REC_KERNEL_TCP, KERNEL_TCP_VERSION, sizeof(*t), 1, 12345 };
	t->pid = 4242;
	t->ppid = 1;
	t->family = AF_INET;
	t->local_port = 40000;
	t->remote_port = 443;
	t->event = KERNEL_TCP_CLOSE;
	t->direction = KERNEL_TCP_DIR_OUTBOUND;
	t->old_state = 5; /* TCP_FIN_WAIT2 */
	t->flags = KERNEL_TCP_DURATION_KNOWN;
	assert_int_equal(inet_pton(AF_INET, "10.1.2.3", t->local_addr), 1);
	assert_int_equal(inet_pton(AF_INET, "192.168.255.1", t->remote_addr), 1);
	t->duration_ns = 2500000000;
	t->bytes_sent = 1000;
	t->bytes_acked = 1002;
	t->bytes_received = 65537;
	strcpy(t->comm, "curl");
}

/* The golden "tcp_failed": a refused IPv6 connect whose process and start were not seen. */
static void make_tcp_failed(struct kernel_tcp *t)
{
	make_tcp(t);
	t->pid = t->ppid = 0;
	memset(t->comm, 0, sizeof(t->comm));
	t->family = AF_INET6;
	t->local_port = 51000;
	t->remote_port = 8080;
	t->event = KERNEL_TCP_CONNECT_FAILED;
	t->old_state = 2; /* TCP_SYN_SENT */
	t->flags = 0;     /* duration_ns below must not show */
	t->error = 111;   /* ECONNREFUSED */
	assert_int_equal(inet_pton(AF_INET6, "fd00::1", t->local_addr), 1);
	assert_int_equal(inet_pton(AF_INET6, "::ffff:10.0.0.1", t->remote_addr), 1);
	t->bytes_sent = t->bytes_acked = t->bytes_received = 0;
}

static size_t encode(const void *rec, size_t size, const struct envelope *env, uint8_t *out, size_t cap)
{
	int kind;
	struct avro_buf buf;

	assert_int_equal(kernel_check(rec, size, &kind), DECODE_OK);
	avro_buf_init(&buf, out, cap);
	avro_put_envelope(&buf, kind, env);
	kernel_encode(rec, kind, &buf);
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

/* As the BPF side sends it: the record ends after its argv. The copy lives in a heap block of
 * exactly that size, so ASan fails the test if decode or encode reads past the argv. */
static void test_exec_ends_after_argv(void **state)
{
	struct kernel_exec e;
	struct kernel_exec *shortrec;
	int kind;
	uint8_t out[4096];
	size_t n, size;

	(void)state;
	make_exec(&e);
	size = KERNEL_EXEC_FIXED_SIZE + e.args_len;
	e.hdr.size = (uint32_t)size;
	shortrec = malloc(size);
	assert_non_null(shortrec);
	memcpy(shortrec, &e, size);
	n = encode(shortrec, size, &golden_env, out, sizeof(out));
	assert_int_equal(n, sizeof(golden_exec));
	assert_memory_equal(out, golden_exec, n);
	/* argv claiming more bytes than the record holds. */
	shortrec->args_len++;
	assert_int_equal(kernel_check(shortrec, size, &kind), DECODE_BAD_FIELD);
	/* No argv at all: the fixed part alone is a record. */
	shortrec->args_len = 0;
	shortrec->hdr.size = KERNEL_EXEC_FIXED_SIZE;
	assert_int_equal(kernel_check(shortrec, KERNEL_EXEC_FIXED_SIZE, &kind), DECODE_OK);
	/* Cut inside the fixed part. */
	shortrec->hdr.size = KERNEL_EXEC_FIXED_SIZE - 1;
	assert_int_equal(kernel_check(shortrec, KERNEL_EXEC_FIXED_SIZE - 1, &kind),
			 DECODE_BAD_LENGTH);
	free(shortrec);
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
	/* ... args array, then args_truncated=true, then exit, oom and tcp null */
	assert_true(n > sizeof(expect_args) + 4);
	assert_memory_equal(out + n - 4 - sizeof(expect_args), expect_args, sizeof(expect_args));
	assert_int_equal(out[n - 4], 1);
	assert_memory_equal(out + n - 3, "\0\0\0", 3);
}

static void expect_golden(const void *rec, size_t size, const struct envelope *env,
			  const uint8_t *golden, size_t golden_len)
{
	uint8_t out[4096];
	size_t n = encode(rec, size, env, out, sizeof(out));

	assert_int_equal(n, golden_len);
	assert_memory_equal(out, golden, n);
}

static void test_oom_matches_golden(void **state)
{
	struct envelope env = golden_env;
	struct kernel_oom o;

	(void)state;
	make_oom(&o);
	expect_golden(&o, sizeof(o), &golden_env, golden_oom, sizeof(golden_oom));
	env.pod_uid = env.container_id = NULL;
	make_oom_global(&o);
	expect_golden(&o, sizeof(o), &env, golden_oom_global, sizeof(golden_oom_global));
}

static void test_tcp_matches_golden(void **state)
{
	struct kernel_tcp t;
	int kind;

	(void)state;
	make_tcp(&t);
	assert_int_equal(kernel_check(&t, sizeof(t), &kind), DECODE_OK);
	assert_int_equal(kind, 7); /* TCP_CLOSE in the schema's Kind */
	expect_golden(&t, sizeof(t), &golden_env, golden_tcp_close, sizeof(golden_tcp_close));
	make_tcp_failed(&t);
	assert_int_equal(kernel_check(&t, sizeof(t), &kind), DECODE_OK);
	assert_int_equal(kind, 5); /* TCP_CONNECT_FAILED */
	expect_golden(&t, sizeof(t), &golden_env, golden_tcp_failed, sizeof(golden_tcp_failed));
}

/* Every TCP event maps to its own Kind symbol, in schema order. */
static void test_tcp_kinds(void **state)
{
	static const int want[] = {
		[KERNEL_TCP_CONNECT] = 4, [KERNEL_TCP_CONNECT_FAILED] = 5, [KERNEL_TCP_ACCEPT] = 6,
		[KERNEL_TCP_CLOSE] = 7, [KERNEL_TCP_LISTEN] = 8, [KERNEL_TCP_LISTEN_CLOSE] = 9,
	};
	struct kernel_tcp t;
	int kind;

	(void)state;
	for (int e = KERNEL_TCP_CONNECT; e < KERNEL_TCP_EVENT_MAX; e++) {
		make_tcp(&t);
		t.event = e;
		assert_int_equal(kernel_check(&t, sizeof(t), &kind), DECODE_OK);
		assert_int_equal(kind, want[e]);
	}
}

struct avro_c {
	avro_schema_t schema;
	avro_value_iface_t *iface;
	avro_value_t value;
	avro_reader_t reader;
};

static void avro_c_read(struct avro_c *a, const uint8_t *data, size_t n)
{
	const struct tapio_schema *s = schema_find("kernel");

	assert_non_null(s);
	assert_int_equal(avro_schema_from_json_length(s->json, s->json_len, &a->schema), 0);
	a->iface = avro_generic_class_from_schema(a->schema);
	assert_int_equal(avro_generic_value_new(a->iface, &a->value), 0);
	a->reader = avro_reader_memory((const char *)data, n);
	assert_int_equal(avro_value_read(a->reader, &a->value), 0);
}

static void avro_c_free(struct avro_c *a)
{
	avro_reader_free(a->reader);
	avro_value_decref(&a->value);
	avro_value_iface_decref(a->iface);
	avro_schema_decref(a->schema);
}

/* The branch of a nullable field: the set record or value; fails on null. */
static void get_branch(avro_value_t *rec, const char *name, avro_value_t *branch)
{
	avro_value_t field;
	int disc;

	assert_int_equal(avro_value_get_by_name(rec, name, &field, NULL), 0);
	assert_int_equal(avro_value_get_discriminant(&field, &disc), 0);
	assert_int_equal(disc, 1);
	assert_int_equal(avro_value_get_current_branch(&field, branch), 0);
}

static int64_t get_long(avro_value_t *rec, const char *name)
{
	avro_value_t field;
	int64_t l;

	assert_int_equal(avro_value_get_by_name(rec, name, &field, NULL), 0);
	assert_int_equal(avro_value_get_long(&field, &l), 0);
	return l;
}

static int32_t get_int(avro_value_t *rec, const char *name)
{
	avro_value_t field;
	int32_t i;

	assert_int_equal(avro_value_get_by_name(rec, name, &field, NULL), 0);
	assert_int_equal(avro_value_get_int(&field, &i), 0);
	return i;
}

static const char *get_str(avro_value_t *rec, const char *name)
{
	avro_value_t field;
	const char *str;
	size_t len;

	assert_int_equal(avro_value_get_by_name(rec, name, &field, NULL), 0);
	assert_int_equal(avro_value_get_string(&field, &str, &len), 0);
	return str;
}

static const char *get_enum(avro_value_t *rec, const char *name)
{
	avro_value_t field;
	int sym;

	assert_int_equal(avro_value_get_by_name(rec, name, &field, NULL), 0);
	assert_int_equal(avro_value_get_enum(&field, &sym), 0);
	return avro_schema_enum_get(avro_value_get_schema(&field), sym);
}

static void test_oom_decodes_with_avro_c(void **state)
{
	struct avro_c a;
	avro_value_t oom, field;
	struct kernel_oom o;
	uint8_t out[4096];
	int disc;
	size_t n;

	(void)state;
	make_oom(&o);
	n = encode(&o, sizeof(o), &golden_env, out, sizeof(out));
	avro_c_read(&a, out, n);
	assert_string_equal(get_enum(&a.value, "kind"), "OOM_KILL");
	assert_int_equal(get_int(&a.value, "pid"), 4242);
	assert_string_equal(get_str(&a.value, "comm"), "stress");
	assert_int_equal(get_long(&a.value, "cgroup_id"), 12345);
	get_branch(&a.value, "oom", &oom);
	assert_int_equal(avro_value_get_by_name(&oom, "cgroup_oom", &field, NULL), 0);
	assert_int_equal(avro_value_get_boolean(&field, &disc), 0);
	assert_true(disc);
	get_branch(&oom, "memcg_limit_bytes", &field);
	assert_int_equal(avro_value_get_long(&field, &(int64_t){ 0 }), 0);
	assert_int_equal(get_long(&oom, "rss_bytes"), 33292288 + 5472256);
	assert_int_equal(get_int(&oom, "oom_score_adj"), -998);
	assert_int_equal(get_int(&oom, "trigger_pid"), 4243);
	assert_string_equal(get_str(&oom, "trigger_comm"), "sh");
	assert_int_equal(avro_value_get_by_name(&a.value, "tcp", &field, NULL), 0);
	assert_int_equal(avro_value_get_discriminant(&field, &disc), 0);
	assert_int_equal(disc, 0);
	avro_c_free(&a);
}

static void test_tcp_decodes_with_avro_c(void **state)
{
	struct avro_c a;
	avro_value_t tcp, field;
	struct kernel_tcp t;
	uint8_t out[4096];
	int64_t l;
	size_t n;

	(void)state;
	make_tcp(&t);
	n = encode(&t, sizeof(t), &golden_env, out, sizeof(out));
	avro_c_read(&a, out, n);
	assert_string_equal(get_enum(&a.value, "kind"), "TCP_CLOSE");
	get_branch(&a.value, "tcp", &tcp);
	assert_string_equal(get_enum(&tcp, "family"), "IPV4");
	assert_string_equal(get_str(&tcp, "local_addr"), "10.1.2.3");
	assert_int_equal(get_int(&tcp, "remote_port"), 443);
	assert_string_equal(get_enum(&tcp, "direction"), "OUTBOUND");
	assert_string_equal(get_enum(&tcp, "old_state"), "FIN_WAIT2");
	get_branch(&tcp, "duration_ns", &field);
	assert_int_equal(avro_value_get_long(&field, &l), 0);
	assert_int_equal(l, 2500000000);
	assert_int_equal(get_long(&tcp, "bytes_received"), 65537);
	avro_c_free(&a);

	make_tcp_failed(&t);
	t.direction = KERNEL_TCP_DIR_INBOUND;
	t.old_state = 13; /* TCP_BOUND_INACTIVE, the last state the schema names */
	n = encode(&t, sizeof(t), &golden_env, out, sizeof(out));
	avro_c_read(&a, out, n);
	get_branch(&a.value, "tcp", &tcp);
	assert_string_equal(get_enum(&tcp, "family"), "IPV6");
	assert_string_equal(get_str(&tcp, "remote_addr"), "::ffff:10.0.0.1");
	assert_string_equal(get_enum(&tcp, "direction"), "INBOUND");
	assert_string_equal(get_enum(&tcp, "old_state"), "BOUND_INACTIVE");
	get_branch(&tcp, "error_name", &field);
	assert_int_equal(avro_value_get_string(&field, &(const char *){ NULL }, &n), 0);
	avro_c_free(&a);
}

/* A state newer than the schema reads as UNKNOWN; an errno without a name gives a null name. */
static void test_tcp_unknowns(void **state)
{
	struct avro_c a;
	avro_value_t tcp, field;
	struct kernel_tcp t;
	uint8_t out[4096];
	int disc;
	size_t n;

	(void)state;
	make_tcp(&t);
	t.old_state = 14;
	t.error = 4000;
	n = encode(&t, sizeof(t), &golden_env, out, sizeof(out));
	avro_c_read(&a, out, n);
	get_branch(&a.value, "tcp", &tcp);
	assert_string_equal(get_enum(&tcp, "old_state"), "UNKNOWN");
	assert_int_equal(get_int(&tcp, "error"), 4000);
	assert_int_equal(avro_value_get_by_name(&tcp, "error_name", &field, NULL), 0);
	assert_int_equal(avro_value_get_discriminant(&field, &disc), 0);
	assert_int_equal(disc, 0);
	avro_c_free(&a);
}

static void test_new_record_rejections(void **state)
{
	uint8_t big[sizeof(struct kernel_tcp) + 64];
	struct kernel_oom o;
	struct kernel_tcp t;
	int kind;

	(void)state;
	/* Short. */
	make_oom(&o);
	assert_int_equal(kernel_check(&o, sizeof(o.hdr) - 1, &kind), DECODE_SHORT);
	/* Header size disagrees with the ring buffer. */
	assert_int_equal(kernel_check(&o, sizeof(o) - 1, &kind), DECODE_SIZE_MISMATCH);
	/* Undersized for its type, header consistent. */
	o.hdr.size = sizeof(o) - 8;
	assert_int_equal(kernel_check(&o, sizeof(o) - 8, &kind), DECODE_BAD_LENGTH);
	make_tcp(&t);
	t.hdr.size = sizeof(t) - 8;
	assert_int_equal(kernel_check(&t, sizeof(t) - 8, &kind), DECODE_BAD_LENGTH);
	/* Oversized. */
	memset(big, 0, sizeof(big));
	make_tcp((struct kernel_tcp *)big);
	((struct kernel_tcp *)big)->hdr.size = sizeof(big);
	assert_int_equal(kernel_check(big, sizeof(big), &kind), DECODE_BAD_LENGTH);
	memset(big, 0, sizeof(big));
	make_oom((struct kernel_oom *)big);
	((struct kernel_oom *)big)->hdr.size = sizeof(o) + 8;
	assert_int_equal(kernel_check(big, sizeof(o) + 8, &kind), DECODE_BAD_LENGTH);
	/* Unknown layout versions. */
	make_oom(&o);
	o.hdr.version = KERNEL_OOM_VERSION + 1;
	assert_int_equal(kernel_check(&o, sizeof(o), &kind), DECODE_BAD_VERSION);
	make_tcp(&t);
	t.hdr.version = 0;
	assert_int_equal(kernel_check(&t, sizeof(t), &kind), DECODE_BAD_VERSION);
	/* Types of other collectors are not ours. */
	make_tcp(&t);
	t.hdr.type = TAPIO_REC_DNS_PACKET;
	assert_int_equal(kernel_check(&t, sizeof(t), &kind), DECODE_UNKNOWN_TYPE);
	/* Fields the encoder would have to guess at. */
	make_tcp(&t);
	t.event = 0;
	assert_int_equal(kernel_check(&t, sizeof(t), &kind), DECODE_BAD_FIELD);
	t.event = KERNEL_TCP_EVENT_MAX;
	assert_int_equal(kernel_check(&t, sizeof(t), &kind), DECODE_BAD_FIELD);
	make_tcp(&t);
	t.direction = KERNEL_TCP_DIR_MAX;
	assert_int_equal(kernel_check(&t, sizeof(t), &kind), DECODE_BAD_FIELD);
	make_tcp(&t);
	t.family = AF_UNIX;
	assert_int_equal(kernel_check(&t, sizeof(t), &kind), DECODE_BAD_FIELD);
}

/* Names filling their arrays without a NUL stop at the array's end. */
static void test_oom_unterminated_comm(void **state)
{
	struct kernel_oom o;
	uint8_t out[4096];
	size_t n;

	(void)state;
	make_oom(&o);
	memset(o.comm, 'v', sizeof(o.comm));
	memset(o.trigger_comm, 't', sizeof(o.trigger_comm));
	n = encode(&o, sizeof(o), &golden_env, out, sizeof(out));
	assert_non_null(memmem(out, n, "\x20" "vvvvvvvvvvvvvvvv" "\x00", 18));
	assert_non_null(memmem(out, n, "\x20" "tttttttttttttttt" "\x00", 18));
}

static void test_rejections(void **state)
{
	uint8_t big[sizeof(struct kernel_exec) + 64];
	struct kernel_exec *e = (struct kernel_exec *)big;
	struct kernel_exit x;
	int kind;

	(void)state;
	make_exit(&x);
	/* Shorter than a header. */
	assert_int_equal(kernel_check(&x, 8, &kind), DECODE_SHORT);
	assert_int_equal(kernel_check(&x, 0, &kind), DECODE_SHORT);
	/* Header claims a size the ring buffer did not give. */
	assert_int_equal(kernel_check(&x, sizeof(x) - 8, &kind), DECODE_SIZE_MISMATCH);
	/* Unknown type. */
	x.hdr.type = TAPIO_REC_TYPE_MAX + 7;
	assert_int_equal(kernel_check(&x, sizeof(x), &kind), DECODE_UNKNOWN_TYPE);
	/* Known type, unknown layout version. */
	make_exit(&x);
	x.hdr.version = 99;
	assert_int_equal(kernel_check(&x, sizeof(x), &kind), DECODE_BAD_VERSION);
	/* Oversized: a consistent header on a record longer than its type. */
	make_exec(e);
	e->hdr.size = sizeof(big);
	assert_int_equal(kernel_check(big, sizeof(big), &kind), DECODE_BAD_LENGTH);
	/* Undersized for its type, header consistent. */
	make_exit(&x);
	x.hdr.type = TAPIO_REC_KERNEL_EXEC;
	assert_int_equal(kernel_check(&x, sizeof(x), &kind), DECODE_BAD_LENGTH);
	/* A length field pointing past its buffer. */
	make_exec(e);
	e->args_len = KERNEL_ARGS_LEN + 1;
	assert_int_equal(kernel_check(e, sizeof(*e), &kind), DECODE_BAD_FIELD);
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
	int kind;
	struct avro_buf buf;
	uint8_t out[64 + 16];

	(void)state;
	make_exec(&e);
	memset(out + 64, 0x5a, 16);
	assert_int_equal(kernel_check(&e, sizeof(e), &kind), DECODE_OK);
	avro_buf_init(&buf, out, 64);
	avro_put_envelope(&buf, kind, &golden_env);
	kernel_encode(&e, kind, &buf);
	assert_true(buf.overflow);
	assert_true(buf.len <= 64);
	for (int i = 64; i < 80; i++)
		assert_int_equal(out[i], 0x5a);
}

/* A LOSS record: the envelope with `loss` set, then every kernel field zeroed, from the schema
 * alone (python3-avro wrote the golden bytes). */
static void test_loss_record_matches_golden(void **state)
{
	const struct tapio_schema *s = schema_find("kernel");
	struct loss_report report = {
		.stage = LOSS_DECODE,
		.count = 3,
		.since_us = 1764000000000000,
		.until_us = 1764000000123456,
	};
	struct envelope env = {
		.event_time_us = 1764000000123456,
		.seq = 8,
		.run = 1764000000000000,
		.node = "node-a",
		.loss = &report,
	};
	char errstr[256];
	uint8_t out[256], *zero;
	size_t zero_len;
	struct avro_buf buf;
	int kind = schema_enum_index(s->json, "kind", "LOSS");

	(void)state;
	assert_true(kind > 0);
	assert_int_equal(schema_zero_fields(s->json, ENVELOPE_FIELDS, &zero, &zero_len, errstr,
					    sizeof(errstr)), 0);
	avro_buf_init(&buf, out, sizeof(out));
	avro_put_envelope(&buf, kind, &env);
	avro_put_raw(&buf, zero, zero_len);
	free(zero);
	assert_false(buf.overflow);
	assert_int_equal(buf.len, sizeof(golden_loss));
	assert_memory_equal(out, golden_loss, buf.len);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec_matches_golden),
		cmocka_unit_test(test_exec_ends_after_argv),
		cmocka_unit_test(test_loss_record_matches_golden),
		cmocka_unit_test(test_exit_matches_golden),
		cmocka_unit_test(test_exec_decodes_with_avro_c),
		cmocka_unit_test(test_exec_args_edge_cases),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_unterminated_strings),
		cmocka_unit_test(test_encode_overflow),
		cmocka_unit_test(test_oom_matches_golden),
		cmocka_unit_test(test_tcp_matches_golden),
		cmocka_unit_test(test_tcp_kinds),
		cmocka_unit_test(test_oom_decodes_with_avro_c),
		cmocka_unit_test(test_tcp_decodes_with_avro_c),
		cmocka_unit_test(test_tcp_unknowns),
		cmocka_unit_test(test_new_record_rejections),
		cmocka_unit_test(test_oom_unterminated_comm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
