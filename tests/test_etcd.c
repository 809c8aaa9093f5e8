/* Collector `etcd`: its mapper (watch responses → records) against golden bytes written by an
 * independent implementation (tests/golden/etcd.py, python3-avro) and against avro-c, its key
 * parser, hostile responses counted by reason, and its configuration keys. The collector against
 * a real etcd: integration/test_etcd.py. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "avro_json.h"
#include "collector.h"
#include "config.h"
#include "etcd_collector.h"
#include "http_client.h"
#include "pipeline.h"
#include "schema.h"

/* tests/golden/etcd.py */
static const uint8_t golden_put_created[] = {
	0x02, 0x80, 0x89, 0xa1, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0e, 0x80, 0x80,
	0x92, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0c, 0x6e, 0x6f, 0x64, 0x65, 0x2d,
	0x61, 0x00, 0x00, 0x00, 0x00, 0x20, 0x63, 0x64, 0x66, 0x38, 0x31, 0x38,
	0x31, 0x39, 0x34, 0x65, 0x33, 0x61, 0x38, 0x63, 0x33, 0x32, 0x20, 0x38,
	0x65, 0x39, 0x65, 0x30, 0x35, 0x63, 0x35, 0x32, 0x31, 0x36, 0x34, 0x36,
	0x39, 0x34, 0x64, 0x04, 0x54, 0x02, 0x38, 0x2f, 0x72, 0x65, 0x67, 0x69,
	0x73, 0x74, 0x72, 0x79, 0x2f, 0x70, 0x6f, 0x64, 0x73, 0x2f, 0x64, 0x65,
	0x66, 0x61, 0x75, 0x6c, 0x74, 0x2f, 0x77, 0x65, 0x62, 0x2d, 0x30, 0x00,
	0x00, 0x02, 0x08, 0x70, 0x6f, 0x64, 0x73, 0x02, 0x0e, 0x64, 0x65, 0x66,
	0x61, 0x75, 0x6c, 0x74, 0x02, 0x0a, 0x77, 0x65, 0x62, 0x2d, 0x30, 0x01,
	0x02, 0x54, 0x02, 0x02, 0x00, 0x02, 0x16, 0x00,
};
static const uint8_t golden_put_lease[] = {
	0x02, 0x80, 0x89, 0xa1, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0e, 0x80, 0x80,
	0x92, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0c, 0x6e, 0x6f, 0x64, 0x65, 0x2d,
	0x61, 0x00, 0x00, 0x00, 0x00, 0x20, 0x63, 0x64, 0x66, 0x38, 0x31, 0x38,
	0x31, 0x39, 0x34, 0x65, 0x33, 0x61, 0x38, 0x63, 0x33, 0x32, 0x20, 0x38,
	0x65, 0x39, 0x65, 0x30, 0x35, 0x63, 0x35, 0x32, 0x31, 0x36, 0x34, 0x36,
	0x39, 0x34, 0x64, 0x04, 0x72, 0x02, 0x68, 0x2f, 0x72, 0x65, 0x67, 0x69,
	0x73, 0x74, 0x72, 0x79, 0x2f, 0x61, 0x70, 0x69, 0x72, 0x65, 0x67, 0x69,
	0x73, 0x74, 0x72, 0x61, 0x74, 0x69, 0x6f, 0x6e, 0x2e, 0x6b, 0x38, 0x73,
	0x2e, 0x69, 0x6f, 0x2f, 0x61, 0x70, 0x69, 0x73, 0x65, 0x72, 0x76, 0x69,
	0x63, 0x65, 0x73, 0x2f, 0x76, 0x31, 0x2e, 0x61, 0x70, 0x70, 0x73, 0x00,
	0x02, 0x2c, 0x61, 0x70, 0x69, 0x72, 0x65, 0x67, 0x69, 0x73, 0x74, 0x72,
	0x61, 0x74, 0x69, 0x6f, 0x6e, 0x2e, 0x6b, 0x38, 0x73, 0x2e, 0x69, 0x6f,
	0x02, 0x16, 0x61, 0x70, 0x69, 0x73, 0x65, 0x72, 0x76, 0x69, 0x63, 0x65,
	0x73, 0x00, 0x02, 0x0e, 0x76, 0x31, 0x2e, 0x61, 0x70, 0x70, 0x73, 0x00,
	0x02, 0x50, 0x02, 0x06, 0x02, 0xb0, 0xcd, 0x86, 0x96, 0xcd, 0x96, 0xc0,
	0xcd, 0xd2, 0x01, 0x02, 0x00, 0x00,
};
static const uint8_t golden_delete[] = {
	0x04, 0x80, 0x89, 0xa1, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0e, 0x80, 0x80,
	0x92, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0c, 0x6e, 0x6f, 0x64, 0x65, 0x2d,
	0x61, 0x00, 0x00, 0x00, 0x00, 0x20, 0x63, 0x64, 0x66, 0x38, 0x31, 0x38,
	0x31, 0x39, 0x34, 0x65, 0x33, 0x61, 0x38, 0x63, 0x33, 0x32, 0x20, 0x38,
	0x65, 0x39, 0x65, 0x30, 0x35, 0x63, 0x35, 0x32, 0x31, 0x36, 0x34, 0x36,
	0x39, 0x34, 0x64, 0x04, 0x78, 0x02, 0x56, 0x2f, 0x72, 0x65, 0x67, 0x69,
	0x73, 0x74, 0x72, 0x79, 0x2f, 0x73, 0x65, 0x72, 0x76, 0x69, 0x63, 0x65,
	0x73, 0x2f, 0x73, 0x70, 0x65, 0x63, 0x73, 0x2f, 0x64, 0x65, 0x66, 0x61,
	0x75, 0x6c, 0x74, 0x2f, 0x6b, 0x75, 0x62, 0x65, 0x72, 0x6e, 0x65, 0x74,
	0x65, 0x73, 0x00, 0x00, 0x02, 0x10, 0x73, 0x65, 0x72, 0x76, 0x69, 0x63,
	0x65, 0x73, 0x02, 0x0e, 0x64, 0x65, 0x66, 0x61, 0x75, 0x6c, 0x74, 0x02,
	0x14, 0x6b, 0x75, 0x62, 0x65, 0x72, 0x6e, 0x65, 0x74, 0x65, 0x73, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00,
};
static const uint8_t golden_compacted[] = {
	0x06, 0x80, 0x89, 0xa1, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0e, 0x80, 0x80,
	0x92, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0c, 0x6e, 0x6f, 0x64, 0x65, 0x2d,
	0x61, 0x00, 0x00, 0x00, 0x00, 0x20, 0x63, 0x64, 0x66, 0x38, 0x31, 0x38,
	0x31, 0x39, 0x34, 0x65, 0x33, 0x61, 0x38, 0x63, 0x33, 0x32, 0x20, 0x38,
	0x65, 0x39, 0x65, 0x30, 0x35, 0x63, 0x35, 0x32, 0x31, 0x36, 0x34, 0x36,
	0x39, 0x34, 0x64, 0x04, 0x12, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x02, 0x0a, 0x10,
};

#define CLUSTER "14841639068965178418" /* cdf818194e3a8c32 */
#define MEMBER "10276657743932975437"  /* 8e9e05c52164694d */

static const struct envelope golden_env = {
	.event_time_us = 1764000000123456,
	.seq = 7,
	.run = 1764000000000000,
	.node = "node-a",
};

static const struct etcd_map_config default_map = {
	.prefix = "/registry/",
	.prefix_len = 10,
};

static char *b64(const void *data, size_t n)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const uint8_t *in = data;
	char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;

	assert_non_null(out);
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? in[i + 2] : 0);

		*o++ = alphabet[v >> 18 & 63];
		*o++ = alphabet[v >> 12 & 63];
		*o++ = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? alphabet[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

/* A watch response as etcd 3.4's gateway writes it, parsed by jansson. */
static json_t *parse(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &err);

	if (!v)
		fail_msg("test JSON: %s at %d:%d", err.text, err.line, err.column);
	return v;
}

/* An events response of one event whose kv is `kv_fields` (JSON members, after the key). */
static json_t *event_response(const char *type, const char *key, const char *kv_fields)
{
	char *k = b64(key, strlen(key)), text[16384];

	snprintf(text, sizeof(text),
		 "{\"result\":{\"header\":{\"cluster_id\":\"" CLUSTER "\",\"member_id\":\"" MEMBER
		 "\",\"revision\":\"99\",\"raft_term\":\"2\"},\"events\":[{%s%s%s\"kv\":{\"key\":"
		 "\"%s\"%s%s}}]}}", type ? "\"type\":\"" : "", type ? type : "", type ? "\"," : "",
		 k, kv_fields[0] ? "," : "", kv_fields);
	free(k);
	return parse(text);
}

/* Envelope + the mapper's fields for the first event of `response`, into out. */
static enum etcd_event_result map_first(const struct etcd_map_config *cfg, json_t *response,
					uint8_t *out, size_t cap, size_t *len,
					struct etcd_record *rec)
{
	uint8_t fields[HANDOFF_BODY_MAX];
	struct etcd_response r;
	struct avro_buf buf;
	enum etcd_event_result res;

	assert_int_equal(etcd_parse_response(response, &r), ETCD_RESPONSE_EVENTS);
	avro_buf_init(&buf, fields, sizeof(fields));
	res = etcd_map_event(cfg, &r.header, json_array_get(r.events, 0), golden_env.event_time_us,
			     &buf, rec);
	if (res != ETCD_EVENT_OK)
		return res;
	assert_false(buf.overflow);
	*len = buf.len;
	avro_buf_init(&buf, out, cap);
	avro_put_envelope(&buf, rec->meta.kind, &golden_env);
	avro_put_raw(&buf, fields, *len);
	assert_false(buf.overflow);
	*len = buf.len;
	return res;
}

static void expect_golden(json_t *response, const uint8_t *golden, size_t golden_len,
			  const char *kafka_key)
{
	struct etcd_record rec;
	uint8_t out[8192];
	size_t len = 0;

	assert_int_equal(map_first(&default_map, response, out, sizeof(out), &len, &rec),
			 ETCD_EVENT_OK);
	assert_int_equal(len, golden_len);
	assert_memory_equal(out, golden, len);
	assert_int_equal(rec.kafka_key_len, strlen(kafka_key));
	assert_memory_equal(rec.kafka_key, kafka_key, rec.kafka_key_len);
	assert_int_equal(rec.meta.event_time_us, golden_env.event_time_us);
	assert_int_equal(rec.meta.cgroup_id, 0);
	assert_string_equal(rec.meta.pod_uid, "");
	assert_string_equal(rec.meta.position, "");
	json_decref(response);
}

static void test_put_created_matches_golden(void **state)
{
	(void)state;
	/* PUT is the enum's default: etcd leaves "type" out. "hello world" is 11 bytes. */
	expect_golden(event_response(NULL, "/registry/pods/default/web-0",
				     "\"create_revision\":\"42\",\"mod_revision\":\"42\","
				     "\"version\":\"1\",\"value\":\"aGVsbG8gd29ybGQ=\""),
		      golden_put_created, sizeof(golden_put_created),
		      "/registry/pods/default/web-0");
}

static void test_put_with_lease_matches_golden(void **state)
{
	(void)state;
	/* An empty value: etcd leaves "value" out. Numbers as JSON integers are taken too. */
	expect_golden(event_response("PUT", "/registry/apiregistration.k8s.io/apiservices/v1.apps",
				     "\"create_revision\":40,\"mod_revision\":\"57\","
				     "\"version\":\"3\",\"lease\":\"7587862072992519000\""),
		      golden_put_lease, sizeof(golden_put_lease),
		      "/registry/apiregistration.k8s.io/apiservices/v1.apps");
}

static void test_delete_matches_golden(void **state)
{
	(void)state;
	/* A DELETE's kv holds key and mod_revision only. */
	expect_golden(event_response("DELETE", "/registry/services/specs/default/kubernetes",
				     "\"mod_revision\":\"60\""),
		      golden_delete, sizeof(golden_delete),
		      "/registry/services/specs/default/kubernetes");
}

static void test_compacted_matches_golden(void **state)
{
	json_t *v = parse("{\"result\":{\"header\":{\"cluster_id\":\"" CLUSTER "\",\"member_id\":\""
			  MEMBER "\",\"raft_term\":\"2\"},\"canceled\":true,"
			  "\"compact_revision\":\"9\"}}");
	struct etcd_response r;
	struct etcd_record rec;
	struct avro_buf buf;
	uint8_t out[1024];

	(void)state;
	assert_int_equal(etcd_parse_response(v, &r), ETCD_RESPONSE_COMPACTED);
	assert_int_equal(r.compact_revision, 9);
	avro_buf_init(&buf, out, sizeof(out));
	avro_put_envelope(&buf, ETCD_KIND_COMPACTED, &golden_env);
	etcd_map_compacted(&default_map, &r.header, 5, 9, golden_env.event_time_us, &buf, &rec);
	assert_false(buf.overflow);
	assert_int_equal(buf.len, sizeof(golden_compacted));
	assert_memory_equal(out, golden_compacted, buf.len);
	assert_int_equal(rec.meta.kind, ETCD_KIND_COMPACTED);
	assert_int_equal(rec.revision, 9);
	assert_int_equal(rec.kafka_key_len, 10);
	assert_memory_equal(rec.kafka_key, "/registry/", 10);
	json_decref(v);
}

/* The record the mapper wrote, framed and decoded by avro-c (tools/avro_json.c). */
static json_t *decode(const uint8_t *datum, size_t len)
{
	const struct tapio_schema *schema = schema_find("etcd");
	struct avro_json_decoder *dec;
	uint8_t framed[16384];
	uint64_t fp;
	char errstr[256];
	json_t *rec = NULL;

	assert_non_null(schema);
	assert_true(len + AVRO_SINGLE_OBJECT_HDR_LEN <= sizeof(framed));
	assert_int_equal(schema_fingerprint(schema->json, &fp, errstr, sizeof(errstr)), 0);
	avro_single_object_header(fp, framed);
	memcpy(framed + AVRO_SINGLE_OBJECT_HDR_LEN, datum, len);
	assert_int_equal(avro_json_decoder_new(tapio_schemas, tapio_schema_count, &dec, errstr,
					       sizeof(errstr)), 0);
	if (avro_json_decode(dec, "tapio.etcd", framed, len + AVRO_SINGLE_OBJECT_HDR_LEN, &rec,
			     NULL, errstr, sizeof(errstr)))
		fail_msg("avro-c: %s", errstr);
	avro_json_decoder_free(dec);
	return rec;
}

static json_t *map_and_decode(const struct etcd_map_config *cfg, json_t *response,
			      struct etcd_record *rec)
{
	uint8_t out[HANDOFF_BODY_MAX + 1024];
	size_t len = 0;
	json_t *d;

	assert_int_equal(map_first(cfg, response, out, sizeof(out), &len, rec), ETCD_EVENT_OK);
	d = decode(out, len);
	json_decref(response);
	return d;
}

static const char *str(json_t *rec, const char *field)
{
	json_t *v = json_object_get(rec, field);

	return json_is_null(v) ? NULL : json_string_value(v);
}

static json_int_t num(json_t *rec, const char *field)
{
	return json_integer_value(json_object_get(rec, field));
}

/* The value's size comes from its base64 length and padding; the value goes nowhere. */
static void test_value_size_and_value_never_copied(void **state)
{
	static const struct {
		const char *value; /* base64 text; NULL = left out (an empty value) */
		json_int_t size;   /* -1 = null */
	} cases[] = {
		{ NULL, 0 }, { "", 0 }, { "YQ==", 1 }, { "YWI=", 2 }, { "YWJj", 3 },
		{ "YWJjZA==", 4 }, { "YWJ", -1 }, { "Y", -1 },
	};
	const char *marker = "tapio-secret-marker-7f3a9c";
	char *marker64 = b64(marker, strlen(marker)), fields[512];
	uint8_t out[HANDOFF_BODY_MAX + 1024];
	struct etcd_record rec;
	size_t len = 0;
	json_t *d, *v;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(fields, sizeof(fields), "\"mod_revision\":\"5\",\"version\":\"2\"%s%s%s",
			 cases[i].value ? ",\"value\":\"" : "",
			 cases[i].value ? cases[i].value : "",
			 cases[i].value ? "\"" : "");
		d = map_and_decode(&default_map, event_response(NULL, "/registry/a/b", fields),
				   &rec);
		if (cases[i].size < 0)
			assert_true(json_is_null(json_object_get(d, "value_size")));
		else
			assert_int_equal(num(d, "value_size"), cases[i].size);
		json_decref(d);
	}
	/* A Secret whose value is a marker: neither the marker nor its base64 is in the record. */
	snprintf(fields, sizeof(fields), "\"mod_revision\":\"5\",\"version\":\"1\","
		 "\"create_revision\":\"5\",\"value\":\"%s\"", marker64);
	v = event_response(NULL, "/registry/secrets/default/x", fields);
	assert_int_equal(map_first(&default_map, v, out, sizeof(out), &len, &rec), ETCD_EVENT_OK);
	assert_null(memmem(out, len, marker, strlen(marker)));
	assert_null(memmem(out, len, marker64, strlen(marker64)));
	assert_null(memmem(rec.kafka_key, rec.kafka_key_len, marker, strlen(marker)));
	d = decode(out, len);
	assert_int_equal(num(d, "value_size"), (json_int_t)strlen(marker));
	assert_string_equal(str(d, "resource"), "secrets");
	assert_string_equal(str(d, "kind"), "PUT");
	assert_true(json_is_true(json_object_get(d, "created")));
	json_decref(d);
	json_decref(v);
	free(marker64);
}

static void expect_parts(const char *key, const char *group, const char *resource,
			 const char *ns, const char *name)
{
	const char *want[4] = { group, resource, ns, name }, *got[4];
	struct etcd_key_parts p;
	size_t lens[4];

	etcd_parse_key(key, strlen(key), "/registry/", 10, &p);
	got[0] = p.api_group, lens[0] = p.api_group_len;
	got[1] = p.resource, lens[1] = p.resource_len;
	got[2] = p.namespace, lens[2] = p.namespace_len;
	got[3] = p.name, lens[3] = p.name_len;
	for (int i = 0; i < 4; i++) {
		if (!want[i] && got[i])
			fail_msg("%s: part %d is \"%.*s\", want null", key, i, (int)lens[i],
				 got[i]);
		if (want[i] && (!got[i] || lens[i] != strlen(want[i]) ||
				memcmp(got[i], want[i], lens[i])))
			fail_msg("%s: part %d is \"%.*s\", want \"%s\"", key, i,
				 got[i] ? (int)lens[i] : 4, got[i] ? got[i] : "null", want[i]);
	}
}

/* The layouts of the API server's storage (SpecialDefaultResourcePrefixes and the rest). */
static void test_key_parsing(void **state)
{
	struct etcd_key_parts p;

	(void)state;
	expect_parts("/registry/pods/default/web-0", NULL, "pods", "default", "web-0");
	expect_parts("/registry/namespaces/kube-system", NULL, "namespaces", NULL, "kube-system");
	expect_parts("/registry/deployments/prod/api", NULL, "deployments", "prod", "api");
	expect_parts("/registry/minions/node-1", NULL, "nodes", NULL, "node-1");
	expect_parts("/registry/services/specs/default/kubernetes", NULL, "services", "default",
		     "kubernetes");
	expect_parts("/registry/services/endpoints/default/kubernetes", NULL, "endpoints",
		     "default", "kubernetes");
	expect_parts("/registry/controllers/default/rc", NULL, "replicationcontrollers", "default",
		     "rc");
	expect_parts("/registry/ingress/default/web", NULL, "ingresses", "default", "web");
	expect_parts("/registry/podsecuritypolicy/restricted", NULL, "podsecuritypolicies", NULL,
		     "restricted");
	expect_parts("/registry/leases/kube-node-lease/node-1", NULL, "leases", "kube-node-lease",
		     "node-1");
	expect_parts("/registry/apiregistration.k8s.io/apiservices/v1.apps",
		     "apiregistration.k8s.io", "apiservices", NULL, "v1.apps");
	expect_parts("/registry/apiextensions.k8s.io/customresourcedefinitions/"
		     "crontabs.example.com", "apiextensions.k8s.io", "customresourcedefinitions",
		     NULL, "crontabs.example.com");
	expect_parts("/registry/cert-manager.io/certificates/default/tls", "cert-manager.io",
		     "certificates", "default", "tls");
	/* A group's resource is never mapped: only the built-in names are storage names. */
	expect_parts("/registry/example.com/minions/x", "example.com", "minions", NULL, "x");
	expect_parts("/registry/ranges/serviceips", NULL, "ranges", NULL, "serviceips");
	/* Other shapes: what can be told is kept, namespace and name are null. */
	expect_parts("/registry/pods", NULL, "pods", NULL, NULL);
	expect_parts("/registry/pods/", NULL, "pods", NULL, NULL);
	expect_parts("/registry/pods/default/", NULL, "pods", NULL, NULL);
	expect_parts("/registry/pods//web-0", NULL, "pods", NULL, NULL);
	expect_parts("/registry/a/b/c/d", NULL, "a", NULL, NULL);
	expect_parts("/registry/a/b/c/d/e/f/g/h", NULL, "a", NULL, NULL);
	expect_parts("/registry/services/specs", NULL, "services", NULL, NULL);
	expect_parts("/registry/example.com", NULL, "example.com", NULL, NULL);
	expect_parts("/registry//x/y", NULL, NULL, NULL, NULL);
	expect_parts("/registry/", NULL, NULL, NULL, NULL);
	expect_parts("/other/pods/a/b", NULL, NULL, NULL, NULL);
	expect_parts("/reg", NULL, NULL, NULL, NULL);
	/* A prefix without its trailing '/'. */
	etcd_parse_key("/registry/pods/a/b", 18, "/registry", 9, &p);
	assert_int_equal(p.resource_len, 4);
	assert_memory_equal(p.resource, "pods", 4);
	assert_int_equal(p.name_len, 1);
}

/* Responses of every kind, and those that are none. */
static void test_response_types(void **state)
{
	static const struct {
		const char *json;
		enum etcd_response_type type;
		const char *message; /* a part of it; NULL = not checked */
	} cases[] = {
		{ "{\"result\":{\"header\":{\"cluster_id\":\"1\",\"revision\":\"10\"},"
		  "\"created\":true}}", ETCD_RESPONSE_CREATED, NULL },
		{ "{\"result\":{\"header\":{\"cluster_id\":\"1\",\"revision\":\"10\"}}}",
		  ETCD_RESPONSE_PROGRESS, NULL },
		{ "{\"result\":{\"header\":{\"cluster_id\":\"1\",\"revision\":\"10\"},"
		  "\"events\":[]}}", ETCD_RESPONSE_PROGRESS, NULL },
		{ "{\"result\":{\"header\":{\"cluster_id\":\"1\"},\"canceled\":true,"
		  "\"compact_revision\":\"9\"}}", ETCD_RESPONSE_COMPACTED, NULL },
		{ "{\"result\":{\"header\":{\"cluster_id\":\"1\"},\"canceled\":true,"
		  "\"cancel_reason\":\"permission denied\\u0007\"}}", ETCD_RESPONSE_CANCELED,
		  "permission denied?" },
		{ "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"transport is "
		  "closing\",\"http_status\":\"Service Unavailable\"}}", ETCD_RESPONSE_ERROR,
		  "transport is closing" },
		{ "{\"error\":\"plain\"}", ETCD_RESPONSE_ERROR, "plain" },
		{ "{\"error\":3}", ETCD_RESPONSE_ERROR, "(no message)" },
		{ "[1,2]", ETCD_RESPONSE_INVALID, "not a JSON object" },
		{ "\"x\"", ETCD_RESPONSE_INVALID, NULL },
		{ "{}", ETCD_RESPONSE_INVALID, "no result" },
		{ "{\"result\":[]}", ETCD_RESPONSE_INVALID, "no result" },
		{ "{\"result\":{}}", ETCD_RESPONSE_INVALID, "no header" },
		{ "{\"result\":{\"header\":{\"revision\":\"10\"}}}", ETCD_RESPONSE_INVALID,
		  "cluster_id" },
		{ "{\"result\":{\"header\":{\"cluster_id\":\"0\",\"revision\":\"1\"}}}",
		  ETCD_RESPONSE_INVALID, "cluster_id" },
		{ "{\"result\":{\"header\":{\"cluster_id\":\"18446744073709551616\"}}}",
		  ETCD_RESPONSE_INVALID, "cluster_id" },
		{ "{\"result\":{\"header\":{\"cluster_id\":\"1\",\"revision\":\"-1\"}}}",
		  ETCD_RESPONSE_INVALID, "integer" },
		{ "{\"result\":{\"header\":{\"cluster_id\":\"1\","
		  "\"raft_term\":\"9223372036854775808\"}}}", ETCD_RESPONSE_INVALID, "integer" },
		{ "{\"result\":{\"header\":{\"cluster_id\":true}}}", ETCD_RESPONSE_INVALID, NULL },
		{ "{\"result\":{\"header\":{\"cluster_id\":\"1\"}}}", ETCD_RESPONSE_INVALID,
		  "without a revision" },
		{ "{\"result\":{\"header\":{\"cluster_id\":\"1\",\"revision\":\"3\"},"
		  "\"events\":{}}}", ETCD_RESPONSE_INVALID, "not an array" },
		{ "{\"result\":{\"header\":{\"cluster_id\":\"1\"},\"compact_revision\":\"x\"}}",
		  ETCD_RESPONSE_INVALID, "compact_revision" },
	};
	struct etcd_response r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *v = parse(cases[i].json);

		if (etcd_parse_response(v, &r) != cases[i].type)
			fail_msg("case %zu: type %d, want %d (%s)", i, r.type, cases[i].type,
				 r.message);
		if (cases[i].message && !strstr(r.message, cases[i].message))
			fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, r.message,
				 cases[i].message);
		json_decref(v);
	}
	/* An events response: the header, the fragment flag. */
	{
		json_t *v = parse("{\"result\":{\"header\":{\"cluster_id\":\"" CLUSTER "\","
				  "\"member_id\":\"" MEMBER "\",\"revision\":\"12\",\"raft_term\":"
				  "\"3\"},\"events\":[{\"kv\":{}}],\"fragment\":true}}");

		assert_int_equal(etcd_parse_response(v, &r), ETCD_RESPONSE_EVENTS);
		assert_true(r.fragment);
		assert_true(r.header.cluster_id == 14841639068965178418ULL);
		assert_true(r.header.member_id == 10276657743932975437ULL);
		assert_int_equal(r.header.revision, 12);
		assert_int_equal(r.header.raft_term, 3);
		json_decref(v);
	}
}

/* Events that cannot make a record, each counted by its reason by the collector. */
static void test_hostile_events(void **state)
{
	static const struct {
		const char *event;
		enum etcd_event_result want;
	} cases[] = {
		{ "{}", ETCD_EVENT_BAD_FIELD },
		{ "{\"kv\":[]}", ETCD_EVENT_BAD_FIELD },
		{ "[]", ETCD_EVENT_BAD_FIELD },
		{ "{\"type\":\"EXPIRE\",\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"1\"}}",
		  ETCD_EVENT_BAD_TYPE },
		{ "{\"type\":2,\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"1\"}}",
		  ETCD_EVENT_BAD_TYPE },
		{ "{\"type\":{},\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"1\"}}",
		  ETCD_EVENT_BAD_TYPE },
		{ "{\"kv\":{\"mod_revision\":\"1\"}}", ETCD_EVENT_BAD_KEY },
		{ "{\"kv\":{\"key\":7,\"mod_revision\":\"1\"}}", ETCD_EVENT_BAD_KEY },
		{ "{\"kv\":{\"key\":\"\",\"mod_revision\":\"1\"}}", ETCD_EVENT_BAD_KEY },
		{ "{\"kv\":{\"key\":\"YQ=\",\"mod_revision\":\"1\"}}", ETCD_EVENT_BAD_KEY },
		{ "{\"kv\":{\"key\":\"Y===\",\"mod_revision\":\"1\"}}", ETCD_EVENT_BAD_KEY },
		{ "{\"kv\":{\"key\":\"YQ=x\",\"mod_revision\":\"1\"}}", ETCD_EVENT_BAD_KEY },
		{ "{\"kv\":{\"key\":\"YQ==YQ==\",\"mod_revision\":\"1\"}}", ETCD_EVENT_BAD_KEY },
		{ "{\"kv\":{\"key\":\"YQ-_\",\"mod_revision\":\"1\"}}", ETCD_EVENT_BAD_KEY },
		{ "{\"kv\":{\"key\":\"YQ==\"}}", ETCD_EVENT_BAD_REVISION },
		{ "{\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"0\"}}", ETCD_EVENT_BAD_REVISION },
		{ "{\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"-5\"}}", ETCD_EVENT_BAD_REVISION },
		{ "{\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"1e3\"}}", ETCD_EVENT_BAD_REVISION },
		{ "{\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"9223372036854775808\"}}",
		  ETCD_EVENT_BAD_REVISION },
		{ "{\"kv\":{\"key\":\"YQ==\",\"mod_revision\":1.5}}", ETCD_EVENT_BAD_REVISION },
		{ "{\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"2\",\"version\":\"v\"}}",
		  ETCD_EVENT_BAD_FIELD },
		{ "{\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"2\",\"lease\":-1}}",
		  ETCD_EVENT_BAD_FIELD },
		{ "{\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"2\",\"create_revision\":[]}}",
		  ETCD_EVENT_BAD_FIELD },
		{ "{\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"2\",\"value\":12}}",
		  ETCD_EVENT_BAD_FIELD },
		/* A DELETE reads nothing but key and mod_revision. */
		{ "{\"type\":\"DELETE\",\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"2\","
		  "\"version\":\"v\",\"value\":12}}", ETCD_EVENT_OK },
		{ "{\"type\":1,\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"2\"}}", ETCD_EVENT_OK },
		{ "{\"type\":null,\"kv\":{\"key\":\"YQ==\",\"mod_revision\":2,\"value\":null}}",
		  ETCD_EVENT_OK },
	};
	struct etcd_header h = { .cluster_id = 1 };
	uint8_t out[HANDOFF_BODY_MAX];
	struct etcd_record rec;
	struct avro_buf buf;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *ev = parse(cases[i].event);
		enum etcd_event_result res;

		avro_buf_init(&buf, out, sizeof(out));
		res = etcd_map_event(&default_map, &h, ev, 1, &buf, &rec);
		if (res != cases[i].want)
			fail_msg("case %zu %s: %s, want %s", i, cases[i].event,
				 etcd_event_result_name(res),
				 etcd_event_result_name(cases[i].want));
		/* A refused event writes nothing. */
		if (res != ETCD_EVENT_OK)
			assert_int_equal(buf.len, 0);
		json_decref(ev);
	}
	assert_int_equal(etcd_event_revision(NULL), 0);
	assert_string_equal(etcd_event_result_name(ETCD_EVENT_RESULT_MAX), "invalid");
}

/* Deep nesting and a huge events array: parsed as far as it goes, never a crash. */
static void test_deep_and_huge(void **state)
{
	size_t depth = 5000, n = 20000;
	char *text = malloc(depth * 2 + 64), *big;
	struct etcd_header h = { .cluster_id = 1 };
	uint8_t out[HANDOFF_BODY_MAX];
	struct etcd_response r;
	struct etcd_record rec;
	struct avro_buf buf;
	json_t *v, *events;
	size_t ok = 0;

	(void)state;
	assert_non_null(text);
	strcpy(text, "{\"result\":");
	memset(text + strlen(text), '[', depth);
	memset(text + 10 + depth, ']', depth);
	strcpy(text + 10 + 2 * depth, "}");
	v = json_loads(text, JSON_DECODE_ANY, NULL); /* jansson refuses deep nesting itself */
	if (v)
		assert_int_equal(etcd_parse_response(v, &r), ETCD_RESPONSE_INVALID);
	json_decref(v);
	free(text);

	big = malloc(n * 48 + 256);
	assert_non_null(big);
	strcpy(big, "{\"result\":{\"header\":{\"cluster_id\":\"1\"},\"events\":[");
	for (size_t i = 0; i < n; i++)
		sprintf(big + strlen(big), "%s{\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"%zu\"}}",
			i ? "," : "", i % 7 ? i + 1 : 0);
	strcat(big, "]}}");
	v = parse(big);
	free(big);
	assert_int_equal(etcd_parse_response(v, &r), ETCD_RESPONSE_EVENTS);
	events = r.events;
	for (size_t i = 0; i < json_array_size(events); i++) {
		avro_buf_init(&buf, out, sizeof(out));
		ok += etcd_map_event(&default_map, &h, json_array_get(events, i), 1, &buf, &rec) ==
		      ETCD_EVENT_OK;
	}
	assert_int_equal(ok, n - (n + 6) / 7);
	json_decref(v);
}

static void test_exclusions(void **state)
{
	const char *exclude[] = { "/registry/leases/", "/registry/events/" };
	const size_t lens[] = { 17, 17 };
	const struct etcd_map_config cfg = { .prefix = "/registry/", .prefix_len = 10,
					     .exclude = exclude, .exclude_len = lens,
					     .nexclude = 2 };
	const struct {
		const char *key;
		enum etcd_event_result want;
	} cases[] = {
		{ "/registry/leases/kube-node-lease/node-1", ETCD_EVENT_EXCLUDED },
		{ "/registry/events/default/x.1", ETCD_EVENT_EXCLUDED },
		{ "/registry/leases", ETCD_EVENT_OK }, /* shorter than the prefix */
		{ "/registry/pods/default/x", ETCD_EVENT_OK },
	};
	struct etcd_record rec;
	uint8_t out[HANDOFF_BODY_MAX];
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *v = event_response("DELETE", cases[i].key, "\"mod_revision\":\"3\"");

		assert_int_equal(map_first(&cfg, v, out, sizeof(out), &len, &rec), cases[i].want);
		json_decref(v);
	}
}

/* Keys longer than a Kafka key or than the field; bytes that are not text. */
static void test_long_and_binary_keys(void **state)
{
	char key[6000], *k64, fields[64], hash1[20], hash2[20];
	struct etcd_record rec;
	json_t *d, *v;
	size_t keep = HANDOFF_KEY_MAX - ETCD_KAFKA_KEY_HASH_LEN;

	(void)state;
	/* 600 bytes: the whole key in the record, the Kafka key cut and hashed. */
	memset(key, 'k', sizeof(key));
	memcpy(key, "/registry/pods/default/", 23);
	key[600] = '\0';
	snprintf(fields, sizeof(fields), "\"mod_revision\":\"8\"");
	d = map_and_decode(&default_map, event_response("DELETE", key, fields), &rec);
	assert_string_equal(str(d, "key"), key);
	assert_false(json_is_true(json_object_get(d, "key_truncated")));
	assert_int_equal(strlen(str(d, "name")), 600 - 23);
	assert_int_equal(rec.kafka_key_len, HANDOFF_KEY_MAX);
	assert_memory_equal(rec.kafka_key, key, keep);
	assert_int_equal(rec.kafka_key[keep], '#');
	memcpy(hash1, rec.kafka_key + keep, ETCD_KAFKA_KEY_HASH_LEN);
	json_decref(d);
	/* The same key: the same Kafka key. One more byte: another. */
	d = map_and_decode(&default_map, event_response("DELETE", key, fields), &rec);
	assert_memory_equal(rec.kafka_key + keep, hash1, ETCD_KAFKA_KEY_HASH_LEN);
	json_decref(d);
	key[600] = 'k';
	key[601] = '\0';
	d = map_and_decode(&default_map, event_response("DELETE", key, fields), &rec);
	memcpy(hash2, rec.kafka_key + keep, ETCD_KAFKA_KEY_HASH_LEN);
	assert_memory_not_equal(hash1, hash2, ETCD_KAFKA_KEY_HASH_LEN);
	json_decref(d);

	/* 5999 bytes: the field holds 4096 of them, nothing is parsed from it. */
	key[601] = 'k';
	key[5999] = '\0';
	d = map_and_decode(&default_map, event_response("DELETE", key, fields), &rec);
	assert_int_equal(strlen(str(d, "key")), ETCD_KEY_FIELD_MAX);
	assert_true(json_is_true(json_object_get(d, "key_truncated")));
	assert_null(str(d, "resource"));
	assert_null(str(d, "name"));
	assert_int_equal(rec.kafka_key_len, HANDOFF_KEY_MAX);
	json_decref(d);

	/* A NUL and bytes that are not UTF-8: U+FFFD in the record, the raw bytes in Kafka. */
	{
		const uint8_t raw[] = { '/', 'r', 'e', 'g', 'i', 's', 't', 'r', 'y', '/', 'p', '/',
					'a', 0x00, 'b', 0xc3, 0x28 };
		char text[512];

		k64 = b64(raw, sizeof(raw));
		snprintf(text, sizeof(text), "{\"result\":{\"header\":{\"cluster_id\":\"1\"},"
			 "\"events\":[{\"kv\":{\"key\":\"%s\",\"mod_revision\":\"4\"}}]}}", k64);
		free(k64);
		v = parse(text);
		d = map_and_decode(&default_map, v, &rec);
		assert_string_equal(str(d, "key"), "/registry/p/a\xef\xbf\xbd" "b\xef\xbf\xbd(");
		assert_string_equal(str(d, "name"), "a\xef\xbf\xbd" "b\xef\xbf\xbd(");
		assert_int_equal(rec.kafka_key_len, sizeof(raw));
		assert_memory_equal(rec.kafka_key, raw, sizeof(raw));
		json_decref(d);
	}
}

static void test_status_and_ids(void **state)
{
	json_t *v = parse("{\"header\":{\"cluster_id\":\"" CLUSTER "\",\"member_id\":\"" MEMBER
			  "\",\"revision\":\"10\",\"raft_term\":\"2\"},\"version\":\"3.4.23\"}");
	struct etcd_header h;
	char version[16], hex[17];

	(void)state;
	assert_int_equal(etcd_parse_status(v, &h, version, sizeof(version)), 0);
	assert_string_equal(version, "3.4.23");
	assert_int_equal(h.revision, 10);
	etcd_id_hex(h.cluster_id, hex);
	assert_string_equal(hex, "cdf818194e3a8c32");
	etcd_id_hex(1, hex);
	assert_string_equal(hex, "1");
	json_decref(v);
	v = parse("{\"header\":{\"member_id\":\"3\"},\"version\":3}");
	assert_int_equal(etcd_parse_status(v, &h, version, sizeof(version)), -1);
	json_decref(v);
	v = parse("{\"header\":{\"cluster_id\":\"3\"},\"version\":3}");
	assert_int_equal(etcd_parse_status(v, &h, version, sizeof(version)), 0);
	assert_string_equal(version, "");
	json_decref(v);
}

static const char *const known[] = { "kernel", "etcd", NULL };

static void expect_bad(const char *key, const char *value, const char *why)
{
	struct tapio_config cfg;
	char err[512];

	config_defaults(&cfg);
	assert_int_equal(config_set(&cfg, key, value, "--set", known, err, sizeof(err)), -EINVAL);
	if (!strstr(err, key) || !strstr(err, why))
		fail_msg("%s=%s: \"%s\" lacks \"%s\"", key, value, err, why);
	config_free(&cfg);
}

static void test_config_keys(void **state)
{
	struct tapio_config cfg;
	char err[512];

	(void)state;
	config_defaults(&cfg);
	assert_string_equal(cfg.etcd_endpoints, "https://127.0.0.1:2379");
	assert_string_equal(cfg.etcd_prefix, "/registry/");
	assert_null(cfg.etcd_ca_file);
	assert_null(cfg.etcd_exclude_prefixes);
	assert_int_equal(cfg.etcd_idle_timeout_s, 1260);
	assert_int_equal(config_set(&cfg, "etcd_endpoints", " https://10.0.0.1:2379 , "
				    "http://[fd00::1]:2379/ ", "--set", known, err, sizeof(err)),
			 0);
	assert_string_equal(cfg.etcd_endpoints, "https://10.0.0.1:2379,http://[fd00::1]:2379/");
	assert_int_equal(config_set(&cfg, "etcd_exclude_prefixes", "/registry/leases/, "
				    "/registry/events/", "--set", known, err, sizeof(err)), 0);
	assert_string_equal(cfg.etcd_exclude_prefixes, "/registry/leases/,/registry/events/");
	assert_int_equal(config_set(&cfg, "etcd_exclude_prefixes", "", "--set", known, err,
				    sizeof(err)), 0);
	assert_null(cfg.etcd_exclude_prefixes);
	assert_int_equal(config_set(&cfg, "etcd_ca_file", "/etc/kubernetes/pki/etcd/ca.crt",
				    "--set", known, err, sizeof(err)), 0);
	assert_string_equal(cfg.etcd_ca_file, "/etc/kubernetes/pki/etcd/ca.crt");
	assert_int_equal(config_set(&cfg, "etcd_prefix", "/", "--set", known, err, sizeof(err)),
			 0);
	config_free(&cfg);

	expect_bad("etcd_endpoints", "", "at least one");
	expect_bad("etcd_endpoints", "127.0.0.1:2379", "want http://host:port");
	expect_bad("etcd_endpoints", "https://a:2379,", "empty item");
	expect_bad("etcd_endpoints", "https://a:2379/v3", "without a path");
	expect_bad("etcd_endpoints", "https://u:p@a:2379", "without a path, query or user");
	expect_bad("etcd_endpoints", "https://a:2379?x", "without a path");
	expect_bad("etcd_endpoints", "https://", "want http");
	expect_bad("etcd_endpoints", "https://a:1,https://a:1", "listed twice");
	expect_bad("etcd_endpoints", "https://a b:1", "contains a blank");
	expect_bad("etcd_endpoints", "http://a:1,http://a:2,http://a:3,http://a:4,http://a:5,"
		   "http://a:6,http://a:7,http://a:8,http://a:9", "more than 8");
	expect_bad("etcd_ca_file", "ca.crt", "absolute path");
	expect_bad("etcd_cert_file", "./c", "absolute path");
	expect_bad("etcd_key_file", "k", "absolute path");
	expect_bad("etcd_prefix", "", "must not be empty");
	expect_bad("etcd_prefix", "/a/,/b/", "one prefix");
	expect_bad("etcd_exclude_prefixes", "/registry/a/,,/registry/b/", "empty item");
	expect_bad("etcd_exclude_prefixes", "/registry/a/,/registry/a/", "listed twice");
	expect_bad("etcd_idle_timeout_s", "5", "out of range");
}

/* The core change etcd needs: the client moves to another member between requests. */
static void test_client_set_url(void **state)
{
	struct http_client_config hc;
	struct http_client *c;
	char err[256];

	(void)state;
	http_client_config_defaults(&hc);
	hc.label = "etcd";
	hc.base_url = "https://user:pw@a:2379/";
	assert_int_equal(http_client_open(&hc, &c, err, sizeof(err)), 0);
	assert_string_equal(http_client_url(c), "https://a:2379");
	assert_int_equal(http_client_set_url(c, "http://b:2379/", err, sizeof(err)), 0);
	assert_string_equal(http_client_url(c), "http://b:2379");
	assert_int_equal(http_client_set_url(c, "ftp://c", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "ftp://c"));
	assert_int_equal(http_client_set_url(c, NULL, err, sizeof(err)), -EINVAL);
	assert_string_equal(http_client_url(c), "http://b:2379"); /* unchanged */
	http_client_close(c);
}

/* The schema keeps the common envelope and the collector is named by the table, off by default. */
static void test_schema_and_table(void **state)
{
	const struct tapio_schema *s = schema_find("etcd");
	const struct collector_ops *ops = collector_find("etcd");

	(void)state;
	assert_non_null(s);
	assert_non_null(ops);
	assert_true(ops->not_default);
	assert_true(ops->http); /* alone, it needs no BPF and no identity cache */
	assert_int_equal(schema_enum_index(s->json, "kind", "PUT"), ETCD_KIND_PUT);
	assert_int_equal(schema_enum_index(s->json, "kind", "DELETE"), ETCD_KIND_DELETE);
	assert_int_equal(schema_enum_index(s->json, "kind", "COMPACTED"), ETCD_KIND_COMPACTED);
	assert_int_equal(schema_enum_index(s->json, "kind", "LOSS"), ETCD_KIND_LOSS);
}

/*
 * The collector through the real pipeline (broker tier, no root), against a scripted stand-in
 * of etcd's gateway (tests/etcd_script_server.py) that plays what a real etcd does only by
 * chance: a connection cut between two fragments of one revision, that revision sent again
 * whole, a revision below the position, a value that is not a watch response, a compaction,
 * another cluster. Every mutation is published once, in order, and the checkpoint lands on the
 * last revision.
 */
#define PYTHON "/usr/bin/python3"
#define SCRIPT_SERVER "tests/etcd_script_server.py"

extern const struct collector_ops etcd_collector;

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static json_t *hdr(const char *cluster, int rev)
{
	char r[24];

	snprintf(r, sizeof(r), "%d", rev);
	return rev ? json_pack("{s:s,s:s,s:s,s:s}", "cluster_id", cluster, "member_id", "2",
			       "revision", r, "raft_term", "3") :
		     json_pack("{s:s,s:s,s:s}", "cluster_id", cluster, "member_id", "2",
			       "raft_term", "3");
}

/* An event of /registry/pods/default/<name> at rev. */
static json_t *ev(int rev, const char *name, bool del)
{
	char key[64], r[24], *k;
	json_t *e;

	snprintf(key, sizeof(key), "/registry/pods/default/%s", name);
	snprintf(r, sizeof(r), "%d", rev);
	k = b64(key, strlen(key));
	e = del ? json_pack("{s:s,s:{s:s,s:s}}", "type", "DELETE", "kv", "key", k,
			    "mod_revision", r)
		: json_pack("{s:{s:s,s:s,s:s,s:s,s:s}}", "kv", "key", k, "mod_revision", r,
			    "create_revision", r, "version", "1", "value", "YQ==");
	free(k);
	return e;
}

static json_t *send_result(json_t *result)
{
	return json_pack("{s:{s:o}}", "send", "result", result);
}

static json_t *created(int rev)
{
	return send_result(json_pack("{s:o,s:b}", "header", hdr("1", rev), "created", 1));
}

static json_t *events(int rev, bool fragment, json_t *list)
{
	json_t *r = json_pack("{s:o,s:o}", "header", hdr("1", rev), "events", list);

	if (fragment)
		json_object_set_new(r, "fragment", json_true());
	return send_result(r);
}

static json_t *script(void)
{
	json_t *w0, *w1, *w2, *w3, *w4;

	/* Fresh: from the current revision 10. Revision 11's first fragment, then a cut. */
	w0 = json_pack("[o,o,{s:b}]", created(10),
		       events(11, true, json_pack("[o,o]", ev(11, "a", false), ev(11, "b", false))),
		       "close", 1);
	/* From 11: all of 11 again (a and b are duplicates), 12, a progress notification at 15,
	 * then something that is not a watch response. */
	w1 = json_pack("[o,o,o,o,{s:s}]", created(12),
		       events(12, false, json_pack("[o,o,o]", ev(11, "a", false),
						   ev(11, "b", false), ev(11, "c", false))),
		       events(12, false, json_pack("[o]", ev(12, "d", false))),
		       send_result(json_pack("{s:o}", "header", hdr("1", 15))), "raw", "[1]\n");
	/* From 16: compacted at 20. */
	w2 = json_pack("[o]", send_result(json_pack("{s:o,s:b,s:s}", "header", hdr("1", 0),
						    "canceled", 1, "compact_revision", "20")));
	/* From 20: an old revision again, 20's two events, then another cluster. */
	w3 = json_pack("[o,o,o,o]", created(20),
		       events(20, false, json_pack("[o]", ev(19, "z", false))),
		       events(20, false, json_pack("[o,o]", ev(20, "e", false), ev(20, "f", true))),
		       send_result(json_pack("{s:o}", "header", hdr("99", 21))));
	/* From 21: one more, then the stream stays open. */
	w4 = json_pack("[o,o]", created(21),
		       events(21, false, json_pack("[o]", ev(21, "g", false))));
	return json_pack("{s:{s:o,s:s},s:[o,o,o,o,o]}", "status", "header", hdr("1", 10),
			 "version", "3.4.23", "watches", w0, w1, w2, w3, w4);
}

struct stand_in {
	char dir[64], script[128], requests[128];
	pid_t pid;
	int stdin_fd;
	int port;
};

static void start_stand_in(struct stand_in *s)
{
	char line[64] = "";
	size_t len = 0;
	int in[2], out[2];
	int64_t deadline = mono_ms() + 10000;
	json_t *sc = script();

	strcpy(s->dir, "/tmp/tapio-etcd-test-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->script, sizeof(s->script), "%s/script.json", s->dir);
	snprintf(s->requests, sizeof(s->requests), "%s/requests", s->dir);
	assert_int_equal(json_dump_file(sc, s->script, 0), 0);
	json_decref(sc);
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	s->pid = fork();
	if (s->pid == 0) {
		char *argv[] = { PYTHON, SCRIPT_SERVER, s->script, s->requests, NULL };

		dup2(in[0], 0);
		dup2(out[1], 1);
		execv(PYTHON, argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	s->stdin_fd = in[1];
	while (len < sizeof(line) - 1 && !memchr(line, '\n', len)) {
		struct pollfd pfd = { .fd = out[0], .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, (int)(deadline - mono_ms())) <= 0)
			break;
		n = read(out[0], line + len, sizeof(line) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	line[len] = '\0';
	close(out[0]);
	assert_int_equal(sscanf(line, "port=%d", &s->port), 1);
}

static void stop_stand_in(struct stand_in *s)
{
	char cmd[128];

	close(s->stdin_fd);
	waitpid(s->pid, NULL, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
	assert_int_equal(system(cmd), 0);
}

/* Lines of the requests file so far. */
static int request_lines(const struct stand_in *s, char lines[][1024], int max)
{
	FILE *f = fopen(s->requests, "r");
	int n = 0;

	if (!f)
		return 0;
	while (n < max && fgets(lines[n], 1024, f))
		n++;
	fclose(f);
	return n;
}

/* Every record of tapio.etcd, decoded, in seq order. */
static int consume_records(struct pipeline *pl, json_t **out, int want)
{
	struct avro_json_decoder *dec;
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(4);
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char errstr[512];
	rd_kafka_t *rk;
	int got = 0;

	assert_int_equal(avro_json_decoder_new(tapio_schemas, tapio_schema_count, &dec, errstr,
					       sizeof(errstr)), 0);
	assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", pl->publisher.bootstrap,
					   errstr, sizeof(errstr)), RD_KAFKA_CONF_OK);
	assert_int_equal(rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr)),
			 RD_KAFKA_CONF_OK);
	assert_int_equal(rd_kafka_conf_set(conf, "group.id", "test", errstr, sizeof(errstr)),
			 RD_KAFKA_CONF_OK);
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	assert_non_null(rk);
	for (int p = 0; p < 4; p++)
		rd_kafka_topic_partition_list_add(parts, "tapio.etcd", p)->offset =
			RD_KAFKA_OFFSET_BEGINNING;
	assert_int_equal(rd_kafka_assign(rk, parts), 0);
	for (int idle = 0; idle < 30;) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		json_t *rec;

		if (!m) {
			idle++;
			continue;
		}
		if (!m->err) {
			assert_true(got < want);
			if (avro_json_decode(dec, "tapio.etcd", m->payload, m->len, &rec, NULL,
					     errstr, sizeof(errstr)))
				fail_msg("%s", errstr);
			/* The Kafka key is the etcd key, or the prefix for COMPACTED. */
			json_object_set_new(rec, "kafka_key", json_stringn(m->key, m->key_len));
			out[got++] = rec;
		}
		rd_kafka_message_destroy(m);
	}
	rd_kafka_topic_partition_list_destroy(parts);
	rd_kafka_destroy(rk);
	avro_json_decoder_free(dec);
	for (int i = 0; i < got; i++) /* seq order: several keys, several partitions */
		for (int j = i + 1; j < got; j++)
			if (num(out[j], "seq") < num(out[i], "seq")) {
				json_t *t = out[i];

				out[i] = out[j];
				out[j] = t;
			}
	return got;
}

static void test_scripted_stream_resumes_exactly(void **state)
{
	static const char *const names[] = { "etcd", NULL };
	static const struct collector_ops *const ops[] = { &etcd_collector };
	static const struct {
		const char *kind, *name;
		int revision;
	} want[] = {
		{ "PUT", "a", 11 }, { "PUT", "b", 11 }, { "PUT", "c", 11 }, { "PUT", "d", 12 },
		{ "COMPACTED", NULL, 20 }, { "PUT", "e", 20 }, { "DELETE", "f", 20 },
		{ "PUT", "g", 21 },
	};
	static const char *const starts[] = { NULL, "\"11\"", "\"16\"", "\"20\"", "\"21\"" };
	const int n = (int)(sizeof(want) / sizeof(want[0]));
	char root[64], text[512], errstr[512], lines[8][1024], cp_path[256], cp[512];
	struct tapio_config cfg;
	struct pipeline pl;
	struct stand_in s;
	struct collector_runtime *c;
	json_t *recs[16];
	int64_t deadline;
	FILE *f;

	(void)state;
	start_stand_in(&s);
	strcpy(root, "/tmp/tapio-etcd-cg-XXXXXX"); /* the identity cache walks a fake tree */
	assert_non_null(mkdtemp(root));
	config_defaults(&cfg);
	snprintf(text, sizeof(text), "node_name = node-a\ncollectors = etcd\netcd_endpoints = "
		 "http://127.0.0.1:%d\nstate_dir = %s/state\nmetrics_listen =\n", s.port, s.dir);
	assert_int_equal(config_parse_text(&cfg, text, "test", names, errstr, sizeof(errstr)), 0);
	log_level_current = LOG_ERROR;
	memset(&pl, 0, sizeof(pl));
	assert_int_equal(pipeline_open_collectors(&pl, &cfg, ops, 1, root, errstr, sizeof(errstr)),
			 0);
	assert_int_equal(pipeline_attach(&pl), 1);
	c = pipeline_collector(&pl, "etcd");
	assert_non_null(c);
	deadline = mono_ms() + 30000;
	while ((c->stats.delivered < (uint64_t)n || request_lines(&s, lines, 8) < 5) &&
	       mono_ms() < deadline) {
		pipeline_take_handoff(c);
		rd_kafka_poll(pl.publisher.rk, 50);
	}
	assert_int_equal(pipeline_drain(&pl, 10000), 0);
	assert_int_equal(c->stats.delivered, n);
	assert_int_equal(consume_records(&pl, recs, 16), n);
	for (int i = 0; i < n; i++) {
		const char *name = str(recs[i], "name");

		if (strcmp(str(recs[i], "kind"), want[i].kind) ||
		    num(recs[i], "revision") != want[i].revision ||
		    (want[i].name ? !name || strcmp(name, want[i].name) : !!name))
			fail_msg("record %d: %s %s at %d, want %s %s at %d", i,
				 str(recs[i], "kind"), name ? name : "-",
				 (int)num(recs[i], "revision"), want[i].kind,
				 want[i].name ? want[i].name : "-", want[i].revision);
		assert_int_equal(num(recs[i], "seq"), i + 1);
		assert_string_equal(str(recs[i], "cluster_id"), "1");
	}
	assert_string_equal(str(recs[4], "kafka_key"), "/registry/");
	assert_int_equal(num(json_object_get(recs[4], "compacted"), "first_revision"), 16);
	assert_int_equal(num(json_object_get(recs[4], "compacted"), "last_revision"), 19);
	assert_string_equal(str(recs[0], "kafka_key"), "/registry/pods/default/a");
	for (int i = 0; i < n; i++)
		json_decref(recs[i]);
	/* Each watch started where the last one left off. */
	assert_int_equal(request_lines(&s, lines, 8), 5);
	for (int i = 0; i < 5; i++) {
		const char *start = strstr(lines[i], "\"start_revision\":");

		if (starts[i] ? !start || strncmp(start + 17, starts[i], strlen(starts[i]))
			      : !!start)
			fail_msg("watch %d: %s", i, lines[i]);
		assert_non_null(strstr(lines[i], "\"progress_notify\":true"));
		assert_non_null(strstr(lines[i], "\"fragment\":true"));
		assert_null(strstr(lines[i], "prev_kv"));
	}
	pipeline_close(&pl); /* the worker writes the last durable position */
	snprintf(cp_path, sizeof(cp_path), "%s/state/etcd.watch.checkpoint", s.dir);
	f = fopen(cp_path, "r");
	assert_non_null(f);
	cp[fread(cp, 1, sizeof(cp) - 1, f)] = '\0';
	fclose(f);
	assert_non_null(strstr(cp, "\nscope cluster:1\n"));
	assert_non_null(strstr(cp, "\nposition 21\n"));
	config_free(&cfg);
	rmdir(root);
	stop_stand_in(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_created_matches_golden),
		cmocka_unit_test(test_put_with_lease_matches_golden),
		cmocka_unit_test(test_delete_matches_golden),
		cmocka_unit_test(test_compacted_matches_golden),
		cmocka_unit_test(test_value_size_and_value_never_copied),
		cmocka_unit_test(test_key_parsing),
		cmocka_unit_test(test_response_types),
		cmocka_unit_test(test_hostile_events),
		cmocka_unit_test(test_deep_and_huge),
		cmocka_unit_test(test_exclusions),
		cmocka_unit_test(test_long_and_binary_keys),
		cmocka_unit_test(test_status_and_ids),
		cmocka_unit_test(test_config_keys),
		cmocka_unit_test(test_client_set_url),
		cmocka_unit_test(test_schema_and_table),
		cmocka_unit_test(test_scripted_stream_resumes_exactly),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
