/*
 * libFuzzer target for the etcd collector's mapper (producer/collectors/etcd/etcd_map.c): what
 * etcd's JSON gateway sends on a watch, or anything a broken or hostile server could send in
 * its place. The input is parsed by jansson as the HTTP client does, classified, and every event
 * of an events response is mapped into a hand-off body. Nothing may crash or read out of bounds
 * (ASan), every record must fit the hand-off (body and Kafka key), and the key parser must only
 * point into the key it was given. The input is also given to the key parser as a raw key.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "etcd_collector.h"

#define CHECK(cond)                       \
	do {                              \
		if (!(cond))              \
			__builtin_trap(); \
	} while (0)

static const char *const exclude[] = { "/registry/leases/", "/registry/events/" };
static const size_t exclude_len[] = { 17, 17 };
static const struct etcd_map_config cfg = {
	.prefix = "/registry/",
	.prefix_len = 10,
	.exclude = exclude,
	.exclude_len = exclude_len,
	.nexclude = 2,
};

static void check_part(const char *key, size_t len, const char *part, size_t part_len)
{
	if (!part) {
		CHECK(part_len == 0);
		return;
	}
	CHECK(part_len > 0);
	/* In the key, or one of the mapped names (static strings, shorter than 32 bytes). */
	CHECK((part >= key && part + part_len <= key + len) || part_len < 32);
}

static void fuzz_key(const uint8_t *data, size_t size)
{
	struct etcd_key_parts p;
	const char *key = (const char *)data;

	etcd_parse_key(key, size, cfg.prefix, cfg.prefix_len, &p);
	check_part(key, size, p.api_group, p.api_group_len);
	check_part(key, size, p.resource, p.resource_len);
	check_part(key, size, p.namespace, p.namespace_len);
	check_part(key, size, p.name, p.name_len);
	CHECK(!p.name || p.resource);
	CHECK(!p.namespace || p.name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t body[HANDOFF_BODY_MAX];
	struct etcd_response r;
	struct etcd_record rec;
	struct etcd_header h;
	struct avro_buf buf;
	char version[64];
	json_t *v;

	fuzz_key(data, size);
	v = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	if (!v)
		return 0;
	etcd_parse_status(v, &h, version, sizeof(version));
	switch (etcd_parse_response(v, &r)) {
	case ETCD_RESPONSE_EVENTS:
		CHECK(json_array_size(r.events) > 0);
		for (size_t i = 0; i < json_array_size(r.events); i++) {
			json_t *ev = json_array_get(r.events, i);
			int64_t rev = etcd_event_revision(ev);
			enum etcd_event_result res;

			avro_buf_init(&buf, body, sizeof(body));
			res = etcd_map_event(&cfg, &r.header, ev, 1, &buf, &rec);
			CHECK((unsigned)res < ETCD_EVENT_RESULT_MAX);
			if (res != ETCD_EVENT_OK) {
				CHECK(buf.len == 0);
				continue;
			}
			CHECK(!buf.overflow);
			CHECK(rev > 0 && rec.revision == rev);
			CHECK(rec.kafka_key_len > 0 && rec.kafka_key_len <= HANDOFF_KEY_MAX);
			CHECK(rec.meta.kind == ETCD_KIND_PUT || rec.meta.kind == ETCD_KIND_DELETE);
		}
		break;
	case ETCD_RESPONSE_COMPACTED:
		CHECK(r.compact_revision > 0);
		avro_buf_init(&buf, body, sizeof(body));
		etcd_map_compacted(&cfg, &r.header, 1, r.compact_revision, 1, &buf, &rec);
		CHECK(!buf.overflow);
		break;
	case ETCD_RESPONSE_PROGRESS:
		CHECK(r.header.revision > 0);
		/* fall through */
	default:
		CHECK(r.header.cluster_id || r.type == ETCD_RESPONSE_INVALID ||
		      r.type == ETCD_RESPONSE_ERROR);
		CHECK(strlen(r.message) < sizeof(r.message));
		break;
	}
	json_decref(v);
	return 0;
}
