/* Collector `dns`: the record checks, query/response matching, timeouts, limits and counters,
 * through the real pipeline (no BPF), and the Avro encoding against golden bytes written by an
 * independent implementation (tests/golden/dns.py, python3-avro) and against avro-c. */
#include <arpa/inet.h>
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
#include <avro.h>

#include "collector.h"
#include "dns.h"
#include "dns_collector.h"
#include "dns_parse.h"
#include "pipeline.h"
#include "schema.h"

/* tests/golden/dns.py */
static const uint8_t golden_response[] = {
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
	0x62, 0x00, 0x02, 0x02, 0x08, 0x14, 0x31, 0x30, 0x2e, 0x32, 0x33, 0x31,
	0x2e, 0x37, 0x2e, 0x31, 0x84, 0xf1, 0x04, 0x14, 0x31, 0x30, 0x2e, 0x32,
	0x33, 0x31, 0x2e, 0x37, 0x2e, 0x32, 0x6a, 0x96, 0xc6, 0x07, 0x12, 0x77,
	0x77, 0x77, 0x2e, 0x69, 0x74, 0x65, 0x73, 0x74, 0x02, 0x02, 0x41, 0x02,
	0x02, 0xf6, 0xb2, 0x32, 0x02, 0x00, 0x0e, 0x4e, 0x4f, 0x45, 0x52, 0x52,
	0x4f, 0x52, 0x01, 0x00, 0x06, 0x06, 0x12, 0x77, 0x77, 0x77, 0x2e, 0x69,
	0x74, 0x65, 0x73, 0x74, 0x0a, 0x0a, 0x43, 0x4e, 0x41, 0x4d, 0x45, 0xd8,
	0x04, 0x02, 0x12, 0x77, 0x65, 0x62, 0x2e, 0x69, 0x74, 0x65, 0x73, 0x74,
	0x12, 0x77, 0x65, 0x62, 0x2e, 0x69, 0x74, 0x65, 0x73, 0x74, 0x0a, 0x0a,
	0x43, 0x4e, 0x41, 0x4d, 0x45, 0xd8, 0x04, 0x02, 0x14, 0x68, 0x6f, 0x73,
	0x74, 0x2e, 0x69, 0x74, 0x65, 0x73, 0x74, 0x14, 0x68, 0x6f, 0x73, 0x74,
	0x2e, 0x69, 0x74, 0x65, 0x73, 0x74, 0x02, 0x02, 0x41, 0xd8, 0x04, 0x02,
	0x10, 0x31, 0x30, 0x2e, 0x31, 0x2e, 0x32, 0x2e, 0x33, 0x00, 0x00,
};
static const uint8_t golden_timeout[] = {
	0x04, 0x80, 0x89, 0xa1, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0e, 0x80, 0x80,
	0x92, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0c, 0x6e, 0x6f, 0x64, 0x65, 0x2d,
	0x61, 0xf2, 0xc0, 0x01, 0x00, 0x00, 0x00, 0x04, 0x04, 0x0c, 0x16, 0x66,
	0x64, 0x30, 0x30, 0x3a, 0x37, 0x61, 0x39, 0x3a, 0x3a, 0x31, 0x86, 0xf1,
	0x04, 0x16, 0x66, 0x64, 0x30, 0x30, 0x3a, 0x37, 0x61, 0x39, 0x3a, 0x3a,
	0x32, 0x6a, 0xe8, 0xdf, 0x05, 0x14, 0x68, 0x6f, 0x73, 0x74, 0x2e, 0x69,
	0x74, 0x65, 0x73, 0x74, 0x38, 0x08, 0x41, 0x41, 0x41, 0x41, 0x00, 0x00,
	0x00,
};

/* dnsmasq's answer to www.itest A (tests/fuzz/corpus/dns_parse/udp-response-cname-chain-a). */
static const uint8_t cname_chain[] = {
	0xf1, 0x8b, 0x85, 0x80, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01,
	0x03, 0x77, 0x77, 0x77, 0x05, 0x69, 0x74, 0x65, 0x73, 0x74, 0x00, 0x00,
	0x01, 0x00, 0x01, 0xc0, 0x0c, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x01,
	0x2c, 0x00, 0x0b, 0x03, 0x77, 0x65, 0x62, 0x05, 0x69, 0x74, 0x65, 0x73,
	0x74, 0x00, 0xc0, 0x27, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c,
	0x00, 0x0c, 0x04, 0x68, 0x6f, 0x73, 0x74, 0x05, 0x69, 0x74, 0x65, 0x73,
	0x74, 0x00, 0xc0, 0x3e, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c,
	0x00, 0x04, 0x0a, 0x01, 0x02, 0x03, 0x00, 0x00, 0x29, 0x04, 0xd0, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00,
};

extern const struct collector_ops dns_collector;

static const struct envelope golden_env = {
	.event_time_us = 1764000000123456,
	.seq = 7,
	.run = 1764000000000000,
	.node = "node-a",
	.cgroup_id = 12345,
	.pod_uid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
	.container_id = "abababababababababababababababababababababababababababababababab",
};

static void addr(uint8_t out[16], int af, const char *text)
{
	memset(out, 0, 16);
	assert_int_equal(inet_pton(af, text, out), 1);
}

static void make_query(struct dns_query *q, const char *qname_text)
{
	struct dns_msg *m = calloc(1, sizeof(*m));
	uint8_t pkt[64] = { 0xf1, 0x8b, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 };
	size_t n = 12;
	const char *s = qname_text;

	while (*s) {
		const char *dot = strchr(s, '.');
		size_t len = dot ? (size_t)(dot - s) : strlen(s);

		pkt[n++] = (uint8_t)len;
		memcpy(pkt + n, s, len);
		n += len;
		s += len + (dot ? 1 : 0);
	}
	pkt[n++] = 0;
	pkt[n++] = 0;
	pkt[n++] = 1;
	pkt[n++] = 0;
	pkt[n++] = 1;
	assert_int_equal(dns_parse(pkt, n, false, m), DNS_PARSE_OK);
	memset(q, 0, sizeof(*q));
	q->qname = m->qname;
	q->qtype = m->qtype;
	free(m);
}

static size_t encode(const struct dns_query *q, const struct dns_msg *resp, uint64_t resp_ktime,
		     int kind, const struct envelope *env, uint8_t *out, size_t cap)
{
	struct avro_buf buf;

	avro_buf_init(&buf, out, cap);
	avro_put_envelope(&buf, kind, env);
	dns_encode_fields(q, resp, resp_ktime, &buf);
	assert_false(buf.overflow);
	return buf.len;
}

static void golden_query(struct dns_query *q)
{
	make_query(q, "www.itest");
	q->key.role = DNS_ROLE_CLIENT;
	q->key.proto = DNS_PROTO_UDP;
	addr(q->key.client, AF_INET, "10.231.7.1");
	addr(q->key.server, AF_INET, "10.231.7.2");
	q->key.client_port = 40002;
	q->key.server_port = 53;
	q->key.id = 0xf18b;
	q->retransmits = 1;
	q->ktime_ns = 1000;
}

static void test_response_matches_golden(void **state)
{
	static struct dns_msg resp;
	struct dns_query q;
	uint8_t out[4096];
	size_t n;

	(void)state;
	golden_query(&q);
	assert_int_equal(dns_parse(cname_chain, sizeof(cname_chain), false, &resp), DNS_PARSE_OK);
	n = encode(&q, &resp, 1000 + 412859, DNS_KIND_RESPONSE, &golden_env, out, sizeof(out));
	assert_int_equal(n, sizeof(golden_response));
	assert_memory_equal(out, golden_response, n);
}

static void test_timeout_matches_golden(void **state)
{
	struct envelope env = golden_env;
	struct dns_query q;
	uint8_t out[4096];
	size_t n;

	(void)state;
	env.pod_uid = NULL;
	env.container_id = "";
	make_query(&q, "host.itest");
	q.qtype = DNS_TYPE_AAAA;
	q.key.role = DNS_ROLE_SERVER;
	q.key.proto = DNS_PROTO_TCP;
	q.key.ipv6 = 1;
	addr(q.key.client, AF_INET6, "fd00:7a9::1");
	addr(q.key.server, AF_INET6, "fd00:7a9::2");
	q.key.client_port = 40003;
	q.key.server_port = 53;
	q.key.id = 47092;
	n = encode(&q, NULL, 0, DNS_KIND_TIMEOUT, &env, out, sizeof(out));
	assert_int_equal(n, sizeof(golden_timeout));
	assert_memory_equal(out, golden_timeout, n);
}

/* avro-c reads back what we wrote. */
static void read_back(const uint8_t *data, size_t len, avro_value_t *value, avro_value_iface_t **iface,
		      avro_schema_t *schema)
{
	const struct tapio_schema *s = schema_find("dns");
	avro_reader_t reader;

	assert_non_null(s);
	assert_int_equal(avro_schema_from_json_length(s->json, s->json_len, schema), 0);
	*iface = avro_generic_class_from_schema(*schema);
	assert_int_equal(avro_generic_value_new(*iface, value), 0);
	reader = avro_reader_memory((const char *)data, (int64_t)len);
	assert_int_equal(avro_value_read(reader, value), 0);
	avro_reader_free(reader);
}

static void release(avro_value_t *value, avro_value_iface_t *iface, avro_schema_t schema)
{
	avro_value_decref(value);
	avro_value_iface_decref(iface);
	avro_schema_decref(schema);
}

static int64_t get_long(avro_value_t *rec, const char *name)
{
	avro_value_t f, b;
	int64_t l;
	int32_t i;
	int type;

	assert_int_equal(avro_value_get_by_name(rec, name, &f, NULL), 0);
	type = avro_value_get_type(&f);
	if (type == AVRO_UNION) {
		assert_int_equal(avro_value_get_current_branch(&f, &b), 0);
		f = b;
		type = avro_value_get_type(&f);
	}
	if (type == AVRO_INT32) {
		assert_int_equal(avro_value_get_int(&f, &i), 0);
		return i;
	}
	if (type == AVRO_ENUM) {
		assert_int_equal(avro_value_get_enum(&f, &i), 0);
		return i;
	}
	assert_int_equal(avro_value_get_long(&f, &l), 0);
	return l;
}

static const char *get_string(avro_value_t *rec, const char *name)
{
	avro_value_t f, b;
	const char *s;
	size_t len;

	assert_int_equal(avro_value_get_by_name(rec, name, &f, NULL), 0);
	if (avro_value_get_type(&f) == AVRO_UNION) {
		assert_int_equal(avro_value_get_current_branch(&f, &b), 0);
		f = b;
	}
	assert_int_equal(avro_value_get_string(&f, &s, &len), 0);
	return s;
}

static bool is_null(avro_value_t *rec, const char *name)
{
	avro_value_t f, b;

	assert_int_equal(avro_value_get_by_name(rec, name, &f, NULL), 0);
	assert_int_equal(avro_value_get_current_branch(&f, &b), 0);
	return avro_value_get_type(&b) == AVRO_NULL;
}

static void test_response_decodes_with_avro_c(void **state)
{
	static struct dns_msg resp;
	avro_value_t value, field, branch, answers, item;
	avro_value_iface_t *iface;
	avro_schema_t schema;
	struct dns_query q;
	uint8_t out[4096];
	size_t n, count;

	(void)state;
	golden_query(&q);
	assert_int_equal(dns_parse(cname_chain, sizeof(cname_chain), false, &resp), DNS_PARSE_OK);
	n = encode(&q, &resp, 1000 + 5000, DNS_KIND_RESPONSE, &golden_env, out, sizeof(out));
	read_back(out, n, &value, &iface, &schema);
	assert_int_equal(get_long(&value, "kind"), DNS_KIND_RESPONSE);
	assert_string_equal(get_string(&value, "client_addr"), "10.231.7.1");
	assert_string_equal(get_string(&value, "qname"), "www.itest");
	assert_int_equal(get_long(&value, "latency_ns"), 5000);
	assert_int_equal(get_long(&value, "dns_id"), 0xf18b);
	assert_int_equal(avro_value_get_by_name(&value, "response", &field, NULL), 0);
	assert_int_equal(avro_value_get_current_branch(&field, &branch), 0);
	assert_string_equal(get_string(&branch, "rcode_name"), "NOERROR");
	assert_int_equal(avro_value_get_by_name(&branch, "answers", &answers, NULL), 0);
	assert_int_equal(avro_value_get_size(&answers, &count), 0);
	assert_int_equal(count, 3);
	assert_int_equal(avro_value_get_by_index(&answers, 2, &item, NULL), 0);
	assert_string_equal(get_string(&item, "data"), "10.1.2.3");
	assert_int_equal(get_long(&item, "ttl"), 300);
	release(&value, iface, schema);
}

/* Answers whose text would not fit the record are dropped whole and flagged, not overflowed:
 * sixteen 255-byte names fit a 512-byte packet through compression. */
static void test_answer_text_budget(void **state)
{
	static struct dns_msg resp;
	static uint8_t out[ENCODE_BUF_SIZE];
	avro_value_t value, field, branch, answers;
	avro_value_iface_t *iface;
	avro_schema_t schema;
	struct dns_query q;
	struct avro_buf buf;
	size_t count;

	(void)state;
	golden_query(&q);
	memset(&resp, 0, sizeof(resp));
	resp.flags = DNS_FLAG_QR;
	resp.ancount = resp.nanswers = DNS_ANSWERS_MAX;
	for (int i = 0; i < DNS_ANSWERS_MAX; i++) {
		struct dns_answer *a = &resp.answers[i];

		/* Four labels of 63 (61 in the last) bytes that all need escaping: 1016 text bytes. */
		a->name.len = 255;
		memset(a->name.wire, 0x01, 255);
		a->name.wire[0] = a->name.wire[64] = a->name.wire[128] = 63;
		a->name.wire[192] = 61;
		a->name.wire[254] = 0;
		a->type = DNS_TYPE_CNAME;
		a->has_target = true;
		a->target = a->name;
	}
	avro_buf_init(&buf, out, sizeof(out));
	avro_put_envelope(&buf, DNS_KIND_RESPONSE, &golden_env);
	dns_encode_fields(&q, &resp, 2000, &buf);
	assert_false(buf.overflow);
	read_back(out, buf.len, &value, &iface, &schema);
	assert_int_equal(avro_value_get_by_name(&value, "response", &field, NULL), 0);
	assert_int_equal(avro_value_get_current_branch(&field, &branch), 0);
	assert_int_equal(avro_value_get_by_name(&branch, "answers", &answers, NULL), 0);
	assert_int_equal(avro_value_get_size(&answers, &count), 0);
	assert_true(count >= 1 && count < DNS_ANSWERS_MAX);
	assert_int_equal(get_long(&branch, "answer_count"), DNS_ANSWERS_MAX);
	assert_int_equal(avro_value_get_by_name(&branch, "answers_truncated", &field, NULL), 0);
	{
		int b;

		assert_int_equal(avro_value_get_boolean(&field, &b), 0);
		assert_true(b);
	}
	release(&value, iface, schema);
}

/* The fingerprint is on the wire (single-object header, schema_fingerprint header): computed
 * by python3-avro's canonical form (with the timestamp-micros correction integration/harness.py
 * documents) and CRC-64-AVRO. A change here is a new schema version for every consumer. */
static void test_schema_fingerprint_pinned(void **state)
{
	uint64_t fp;
	char errstr[256];

	(void)state;
	assert_non_null(schema_find("dns"));
	assert_int_equal(schema_fingerprint(schema_find("dns")->json, &fp, errstr, sizeof(errstr)), 0);
	assert_true(fp == 0x77a3623583baaa1cULL);
}

/* Through the pipeline: the collector decides what is published. */

struct fixture {
	char root[64];
	uint64_t cgroup;
	struct tapio_config cfg;
	struct pipeline pl;
	struct collector_runtime *c;
};

static struct fixture fx;
static const char *const known[] = { "kernel", "dns", NULL };

static int group_setup(void **state)
{
	char errstr[512];
	struct stat st;

	(void)state;
	strcpy(fx.root, "/tmp/tapio-dns-XXXXXX");
	assert_non_null(mkdtemp(fx.root));
	assert_int_equal(stat(fx.root, &st), 0);
	fx.cgroup = st.st_ino;
	config_defaults(&fx.cfg);
	assert_int_equal(config_parse_text(&fx.cfg, "node_name = node-a\ncollectors = dns\n"
					   "dns_timeout_ms = 1000\ndns_pending_max = 16\n",
					   "test", known, errstr, sizeof(errstr)), 0);
	log_level_current = LOG_ERROR;
	assert_int_equal(pipeline_open(&fx.pl, &fx.cfg, fx.root, errstr, sizeof(errstr)), 0);
	fx.c = pipeline_collector(&fx.pl, "dns");
	assert_non_null(fx.c);
	assert_string_equal(fx.c->ops->name, "dns");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	pipeline_close(&fx.pl);
	config_free(&fx.cfg);
	rmdir(fx.root);
	return 0;
}

static int reset(void **state)
{
	(void)state;
	memset(&fx.c->stats, 0, sizeof(fx.c->stats));
	return dns_state_reset(&fx.cfg);
}

/* A packet record as the BPF program writes it. */
static void packet(struct dns_packet *p, const uint8_t *payload, size_t len, bool egress,
		   const char *src, uint16_t sport, const char *dst, uint16_t dport, uint64_t ktime)
{
	int af = strchr(src, ':') ? AF_INET6 : AF_INET;

	memset(p, 0, sizeof(*p));
	p->hdr = (struct tapio_hdr){ TAPIO_REC_DNS_PACKET, DNS_PACKET_VERSION, sizeof(*p), ktime,
				     fx.cgroup };
	addr(p->saddr, af, src);
	addr(p->daddr, af, dst);
	p->sport = sport;
	p->dport = dport;
	p->flags = (egress ? DNS_PKT_EGRESS : 0) | (af == AF_INET6 ? DNS_PKT_IPV6 : 0);
	assert_true(len <= DNS_PAYLOAD_MAX);
	memcpy(p->payload, payload, len);
	p->payload_len = (uint16_t)len;
	p->orig_len = (uint32_t)len;
}

/* The query dig sent for cname_chain: same id and question. */
static size_t chain_query(uint8_t *out)
{
	memcpy(out, cname_chain, 27);
	out[2] = 0x01; /* RD, not QR */
	out[3] = 0x00;
	out[6] = out[7] = out[11] = 0; /* no answers, no OPT */
	return 27;
}

static struct dns_packet query_pkt, resp_pkt;

static void exchange(bool client_side, const char *client, uint16_t cport, uint64_t t0, uint64_t t1)
{
	const char *server = strchr(client, ':') ? "fd00:7a9::2" : "10.231.7.2";
	uint8_t q[64];
	size_t qn = chain_query(q);

	/* The client sends the query (egress) and receives the response (ingress); a server
	 * in the cgroup sees the opposite directions. */
	packet(&query_pkt, q, qn, client_side, client, cport, server, 53, t0);
	packet(&resp_pkt, cname_chain, sizeof(cname_chain), !client_side, server, 53, client, cport,
	       t1);
}

/* The last record the pipeline published, read back. */
static void last_record(avro_value_t *value, avro_value_iface_t **iface, avro_schema_t *schema)
{
	struct avro_buf *b = &fx.pl.pending.buf;

	assert_true(b->len > AVRO_SINGLE_OBJECT_HDR_LEN);
	read_back(b->data + AVRO_SINGLE_OBJECT_HDR_LEN, b->len - AVRO_SINGLE_OBJECT_HDR_LEN, value,
		  iface, schema);
}

static void test_query_and_response_make_one_record(void **state)
{
	avro_value_iface_t *iface;
	avro_schema_t schema;
	avro_value_t value;
	struct dns_stats s;

	(void)state;
	exchange(true, "10.231.7.1", 40002, 5000, 5000 + 412859);
	assert_int_equal(pipeline_record(fx.c, &query_pkt, sizeof(query_pkt)), 0);
	assert_int_equal(fx.c->stats.produced, 0); /* held until its response */
	assert_int_equal(pipeline_record(fx.c, &resp_pkt, sizeof(resp_pkt)), 0);
	assert_int_equal(fx.c->stats.received, 2);
	assert_int_equal(fx.c->stats.produced, 1);
	for (int r = 1; r < DECODE_RESULT_MAX; r++)
		assert_int_equal(fx.c->stats.rejected[r], 0);
	dns_get_stats(&s);
	assert_int_equal(s.queries, 1);
	assert_int_equal(s.responses, 1);
	assert_int_equal(s.answered, 1);
	assert_int_equal(s.pending, 0);

	last_record(&value, &iface, &schema);
	assert_int_equal(get_long(&value, "kind"), DNS_KIND_RESPONSE);
	assert_int_equal(get_long(&value, "role"), DNS_ROLE_CLIENT);
	assert_int_equal(get_long(&value, "protocol"), DNS_PROTO_UDP);
	assert_int_equal(get_long(&value, "cgroup_id"), (int64_t)fx.cgroup);
	assert_int_equal(get_long(&value, "client_port"), 40002);
	assert_string_equal(get_string(&value, "server_addr"), "10.231.7.2");
	assert_int_equal(get_long(&value, "latency_ns"), 412859);
	assert_int_equal(get_long(&value, "retransmits"), 0);
	release(&value, iface, schema);

	/* The same response again matches nothing now. */
	assert_int_equal(pipeline_record(fx.c, &resp_pkt, sizeof(resp_pkt)), 0);
	dns_get_stats(&s);
	assert_int_equal(s.unsolicited, 1);
	assert_int_equal(fx.c->stats.produced, 1);
}

static void test_server_side(void **state)
{
	avro_value_iface_t *iface;
	avro_schema_t schema;
	avro_value_t value;

	(void)state;
	exchange(false, "10.231.7.1", 40010, 100, 300);
	pipeline_record(fx.c, &query_pkt, sizeof(query_pkt));
	pipeline_record(fx.c, &resp_pkt, sizeof(resp_pkt));
	assert_int_equal(fx.c->stats.produced, 1);
	last_record(&value, &iface, &schema);
	assert_int_equal(get_long(&value, "role"), DNS_ROLE_SERVER);
	assert_string_equal(get_string(&value, "client_addr"), "10.231.7.1");
	assert_int_equal(get_long(&value, "client_port"), 40010);
	assert_int_equal(get_long(&value, "server_port"), 53);
	assert_int_equal(get_long(&value, "latency_ns"), 200);
	release(&value, iface, schema);
}

/* Same DNS id, anything else different: not a match. */
static void test_match_is_not_by_id_alone(void **state)
{
	struct dns_packet other;
	struct dns_stats s;

	(void)state;
	exchange(true, "10.231.7.1", 40003, 100, 200);
	pipeline_record(fx.c, &query_pkt, sizeof(query_pkt));

	other = resp_pkt;
	other.dport = 40004; /* another client port */
	pipeline_record(fx.c, &other, sizeof(other));
	other = resp_pkt;
	other.hdr.cgroup_id = fx.cgroup + 1; /* another cgroup */
	pipeline_record(fx.c, &other, sizeof(other));
	other = resp_pkt;
	addr(other.saddr, AF_INET, "10.231.7.3"); /* another server */
	pipeline_record(fx.c, &other, sizeof(other));
	other = resp_pkt;
	other.flags |= DNS_PKT_EGRESS; /* the cgroup sent it: a server-side response */
	pipeline_record(fx.c, &other, sizeof(other));
	other = resp_pkt;
	other.payload[1] ^= 1; /* another id */
	pipeline_record(fx.c, &other, sizeof(other));
	dns_get_stats(&s);
	assert_int_equal(s.unsolicited, 5);
	assert_int_equal(fx.c->stats.produced, 0);

	/* Right key, wrong question: counted, and the query still waits for its answer. */
	other = resp_pkt;
	other.payload[13] = 'x'; /* "wxw.itest" */
	pipeline_record(fx.c, &other, sizeof(other));
	dns_get_stats(&s);
	assert_int_equal(s.question_mismatch, 1);
	assert_int_equal(s.pending, 1);
	/* The 0x20 trick (random case) is still the same question. */
	other = resp_pkt;
	other.payload[13] = 'W';
	pipeline_record(fx.c, &other, sizeof(other));
	assert_int_equal(fx.c->stats.produced, 1);
}

static void test_retransmit_keeps_first_time(void **state)
{
	avro_value_iface_t *iface;
	avro_schema_t schema;
	avro_value_t value;
	struct dns_packet again;
	struct dns_stats s;

	(void)state;
	exchange(true, "10.231.7.1", 40005, 1000, 9000);
	pipeline_record(fx.c, &query_pkt, sizeof(query_pkt));
	again = query_pkt;
	again.hdr.ktime_ns = 4000;
	pipeline_record(fx.c, &again, sizeof(again));
	pipeline_record(fx.c, &resp_pkt, sizeof(resp_pkt));
	dns_get_stats(&s);
	assert_int_equal(s.retransmits, 1);
	last_record(&value, &iface, &schema);
	assert_int_equal(get_long(&value, "retransmits"), 1);
	assert_int_equal(get_long(&value, "latency_ns"), 8000);
	release(&value, iface, schema);
}

static void test_timeout_on_tick(void **state)
{
	avro_value_iface_t *iface;
	avro_schema_t schema;
	avro_value_t value;
	struct dns_stats s;
	const uint64_t t0 = 7000000000ULL, window = 1000000000ULL; /* dns_timeout_ms = 1000 */

	(void)state;
	exchange(true, "fd00:7a9::1", 40006, t0, 0);
	query_pkt.flags |= DNS_PKT_TCP;
	/* TCP payloads carry the 2-byte length first. */
	memmove(query_pkt.payload + 2, query_pkt.payload, 27);
	query_pkt.payload[0] = 0;
	query_pkt.payload[1] = 27;
	query_pkt.payload_len = query_pkt.orig_len = 29;
	pipeline_record(fx.c, &query_pkt, sizeof(query_pkt));
	dns_collector.tick(fx.c, t0 + window - 1);
	assert_int_equal(fx.c->stats.produced, 0);
	dns_collector.tick(fx.c, t0 + window);
	assert_int_equal(fx.c->stats.produced, 1);
	dns_get_stats(&s);
	assert_int_equal(s.timeouts, 1);
	assert_int_equal(s.pending, 0);
	last_record(&value, &iface, &schema);
	assert_int_equal(get_long(&value, "kind"), DNS_KIND_TIMEOUT);
	assert_int_equal(get_long(&value, "protocol"), DNS_PROTO_TCP);
	assert_int_equal(get_long(&value, "ip_version"), 6);
	assert_string_equal(get_string(&value, "client_addr"), "fd00:7a9::1");
	assert_string_equal(get_string(&value, "qname"), "www.itest");
	assert_true(is_null(&value, "latency_ns"));
	assert_true(is_null(&value, "response"));
	release(&value, iface, schema);
	/* Nothing twice. */
	dns_collector.tick(fx.c, t0 + 10 * window);
	assert_int_equal(fx.c->stats.produced, 1);
}

/* dns_pending_max = 16: the 17th query evicts the oldest, published at once as EVICTED; its
 * response is then unsolicited. */
static void test_pending_table_is_bounded(void **state)
{
	struct dns_packet first_resp;
	struct dns_stats s;

	(void)state;
	for (uint16_t i = 0; i < 17; i++) {
		exchange(true, "10.231.7.1", (uint16_t)(41000 + i), 100 + i, 0);
		if (i == 0)
			first_resp = resp_pkt;
		pipeline_record(fx.c, &query_pkt, sizeof(query_pkt));
	}
	dns_get_stats(&s);
	assert_int_equal(s.evicted, 1);
	assert_int_equal(s.pending, 16);
	assert_int_equal(fx.c->stats.produced, 1); /* the EVICTED record */
	pipeline_record(fx.c, &first_resp, sizeof(first_resp));
	dns_get_stats(&s);
	assert_int_equal(s.unsolicited, 1);
	/* The second is still there. */
	exchange(true, "10.231.7.1", 41001, 0, 500);
	pipeline_record(fx.c, &resp_pkt, sizeof(resp_pkt));
	assert_int_equal(fx.c->stats.produced, 2);
}

static void test_hostile_packets_rejected_by_reason(void **state)
{
	static const uint8_t loop[] = { 0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1 };
	static const uint8_t label[] = { 0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0x41, 'a', 0, 1, 0, 1 };
	struct dns_packet p;
	struct dns_stats s;

	(void)state;
	packet(&p, loop, sizeof(loop), false, "10.0.0.2", 53, "10.0.0.1", 40000, 1);
	assert_int_equal(pipeline_record(fx.c, &p, sizeof(p)), 0);
	packet(&p, label, sizeof(label), false, "10.0.0.2", 53, "10.0.0.1", 40000, 1);
	pipeline_record(fx.c, &p, sizeof(p));
	packet(&p, cname_chain, 20, false, "10.0.0.2", 53, "10.0.0.1", 40000, 1);
	pipeline_record(fx.c, &p, sizeof(p));
	/* Malformed packets from the network are the dns collector's count, not records the
	 * pipeline lost. */
	assert_int_equal(fx.c->stats.rejected[DECODE_BAD_FIELD], 0);
	assert_int_equal(fx.c->stats.produced, 0);
	dns_get_stats(&s);
	assert_int_equal(s.rejected[DNS_ERR_POINTER], 1);
	assert_int_equal(s.rejected[DNS_ERR_LABEL], 1);
	assert_int_equal(s.rejected[DNS_ERR_COUNTS], 1);
	assert_int_equal(s.queries + s.responses, 0);
}

static void test_record_checks(void **state)
{
	uint8_t big[sizeof(struct dns_packet) + 8];
	struct dns_packet *p = (struct dns_packet *)big;
	uint8_t q[64];
	size_t qn = chain_query(q);

	(void)state;
	packet(p, q, qn, true, "10.0.0.1", 40000, "10.0.0.2", 53, 1);
	assert_int_equal(dns_collector.ring_record(fx.c, p, 8), DECODE_SHORT);
	assert_int_equal(dns_collector.ring_record(fx.c, p, sizeof(*p) - 1), DECODE_SIZE_MISMATCH);
	p->hdr.type = TAPIO_REC_KERNEL_EXEC;
	assert_int_equal(dns_collector.ring_record(fx.c, p, sizeof(*p)), DECODE_UNKNOWN_TYPE);
	p->hdr.type = TAPIO_REC_DNS_PACKET;
	p->hdr.version = 2;
	assert_int_equal(dns_collector.ring_record(fx.c, p, sizeof(*p)), DECODE_BAD_VERSION);
	p->hdr.version = DNS_PACKET_VERSION;
	p->hdr.size = sizeof(big);
	assert_int_equal(dns_collector.ring_record(fx.c, big, sizeof(big)), DECODE_BAD_LENGTH);
	p->hdr.size = sizeof(*p);
	p->payload_len = DNS_PAYLOAD_MAX + 1;
	p->orig_len = 4000;
	p->flags |= DNS_PKT_CUT;
	assert_int_equal(dns_collector.ring_record(fx.c, p, sizeof(*p)), DECODE_BAD_FIELD);
	p->payload_len = p->orig_len = (uint16_t)qn;
	p->flags = DNS_PKT_EGRESS | 0x100;
	assert_int_equal(dns_collector.ring_record(fx.c, p, sizeof(*p)), DECODE_BAD_FIELD);
	/* A cut flag that disagrees with the lengths. */
	p->flags = DNS_PKT_EGRESS | DNS_PKT_CUT;
	assert_int_equal(dns_collector.ring_record(fx.c, p, sizeof(*p)), DECODE_BAD_FIELD);
	p->flags = DNS_PKT_EGRESS;
	p->payload_len = 0;
	assert_int_equal(dns_collector.ring_record(fx.c, p, sizeof(*p)), DECODE_BAD_FIELD);
	p->payload_len = (uint16_t)qn;
	assert_int_equal(dns_collector.ring_record(fx.c, p, sizeof(*p)), DECODE_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_response_matches_golden),
		cmocka_unit_test(test_timeout_matches_golden),
		cmocka_unit_test(test_response_decodes_with_avro_c),
		cmocka_unit_test(test_answer_text_budget),
		cmocka_unit_test(test_schema_fingerprint_pinned),
		cmocka_unit_test_setup(test_query_and_response_make_one_record, reset),
		cmocka_unit_test_setup(test_server_side, reset),
		cmocka_unit_test_setup(test_match_is_not_by_id_alone, reset),
		cmocka_unit_test_setup(test_retransmit_keeps_first_time, reset),
		cmocka_unit_test_setup(test_timeout_on_tick, reset),
		cmocka_unit_test_setup(test_pending_table_is_bounded, reset),
		cmocka_unit_test_setup(test_hostile_packets_rejected_by_reason, reset),
		cmocka_unit_test_setup(test_record_checks, reset),
	};
	int failed = cmocka_run_group_tests(tests, group_setup, group_teardown);

	dns_collector.destroy(fx.c);
	return failed;
}
