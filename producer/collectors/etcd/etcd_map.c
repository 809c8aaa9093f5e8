/* The etcd collector's pure part: watch responses → records (see etcd_collector.h). */
#include "etcd_collector.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char *const event_result_names[ETCD_EVENT_RESULT_MAX] = {
	[ETCD_EVENT_OK] = "ok",
	[ETCD_EVENT_EXCLUDED] = "excluded",
	[ETCD_EVENT_BAD_TYPE] = "bad_type",
	[ETCD_EVENT_BAD_KEY] = "bad_key",
	[ETCD_EVENT_BAD_REVISION] = "bad_revision",
	[ETCD_EVENT_BAD_FIELD] = "bad_field",
};

const char *etcd_event_result_name(enum etcd_event_result r)
{
	return (unsigned)r < ETCD_EVENT_RESULT_MAX ? event_result_names[r] : "invalid";
}

void etcd_id_hex(uint64_t id, char out[17])
{
	snprintf(out, 17, "%" PRIx64, id);
}

/*
 * An unsigned integer member `name` of obj, as a decimal string (proto3 JSON's int64 and
 * uint64) or a JSON integer, at most max: 1 with *out set; 0 when absent or null; -1 when it is
 * something else.
 */
static int get_uint(json_t *obj, const char *name, uint64_t max, uint64_t *out)
{
	json_t *v = json_object_get(obj, name);
	const char *s;
	uint64_t n = 0;
	size_t len;

	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		if (i < 0 || (uint64_t)i > max)
			return -1;
		*out = (uint64_t)i;
		return 1;
	}
	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	len = json_string_length(v);
	if (len == 0 || len > 20)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || n > (max - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*out = n;
	return 1;
}

/* get_uint for a signed 64-bit field that is never negative (revisions, versions, leases). */
static int get_int(json_t *obj, const char *name, int64_t *out)
{
	uint64_t n = 0;
	int ret = get_uint(obj, name, INT64_MAX, &n);

	*out = ret == 1 ? (int64_t)n : 0;
	return ret;
}

/* A message of the server's for a log line: printable ASCII, bounded. */
static void copy_message(char *out, size_t size, json_t *v)
{
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;
	size_t len = s ? json_string_length(v) : 0, i;

	if (!size)
		return;
	if (!s) {
		snprintf(out, size, "(no message)");
		return;
	}
	for (i = 0; i < len && i + 1 < size; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	out[i] = '\0';
}

/* The header of a reply or a watch response: 0, or -1 when it has no usable cluster_id or a
 * field that is not an integer. */
static int parse_header(json_t *hdr, struct etcd_header *h)
{
	int64_t revision = 0;

	memset(h, 0, sizeof(*h));
	if (!json_is_object(hdr) || get_uint(hdr, "cluster_id", UINT64_MAX, &h->cluster_id) != 1 ||
	    !h->cluster_id || get_uint(hdr, "member_id", UINT64_MAX, &h->member_id) < 0 ||
	    get_int(hdr, "revision", &revision) < 0 ||
	    get_uint(hdr, "raft_term", INT64_MAX, &h->raft_term) < 0)
		return -1;
	h->revision = revision;
	return 0;
}

static enum etcd_response_type invalid(struct etcd_response *r, const char *why)
{
	snprintf(r->message, sizeof(r->message), "%s", why);
	return r->type = ETCD_RESPONSE_INVALID;
}

enum etcd_response_type etcd_parse_response(json_t *value, struct etcd_response *r)
{
	json_t *err, *res, *hdr, *events;
	int64_t compact = 0;

	memset(r, 0, sizeof(*r));
	if (!json_is_object(value))
		return invalid(r, "not a JSON object");
	err = json_object_get(value, "error");
	if (err) {
		copy_message(r->message, sizeof(r->message),
			     json_is_object(err) ? json_object_get(err, "message") : err);
		return r->type = ETCD_RESPONSE_ERROR;
	}
	res = json_object_get(value, "result");
	if (!json_is_object(res))
		return invalid(r, "no result object");
	hdr = json_object_get(res, "header");
	if (!json_is_object(hdr))
		return invalid(r, "no header");
	if (parse_header(hdr, &r->header))
		return invalid(r, "no cluster_id in the header, or a field that is not an integer");
	if (get_int(res, "compact_revision", &compact) < 0)
		return invalid(r, "compact_revision is not an integer");
	if (json_is_true(json_object_get(res, "canceled"))) {
		if (compact > 0) {
			r->compact_revision = compact;
			return r->type = ETCD_RESPONSE_COMPACTED;
		}
		copy_message(r->message, sizeof(r->message),
			     json_object_get(res, "cancel_reason"));
		return r->type = ETCD_RESPONSE_CANCELED;
	}
	if (json_is_true(json_object_get(res, "created")))
		return r->type = ETCD_RESPONSE_CREATED;
	events = json_object_get(res, "events");
	if (events && !json_is_array(events) && !json_is_null(events))
		return invalid(r, "events is not an array");
	if (json_array_size(events) > 0) {
		r->events = events;
		r->fragment = json_is_true(json_object_get(res, "fragment"));
		return r->type = ETCD_RESPONSE_EVENTS;
	}
	if (r->header.revision <= 0)
		return invalid(r, "a progress notification without a revision");
	return r->type = ETCD_RESPONSE_PROGRESS;
}

int etcd_parse_status(json_t *value, struct etcd_header *h, char *version, size_t size)
{
	json_t *v = json_object_get(value, "version");

	if (parse_header(json_object_get(value, "header"), h))
		return -1;
	if (json_is_string(v))
		copy_message(version, size, v);
	else if (size)
		version[0] = '\0';
	return 0;
}

int64_t etcd_event_revision(json_t *event)
{
	int64_t rev = 0;

	if (!json_is_object(event) || get_int(json_object_get(event, "kv"), "mod_revision",
					       &rev) != 1)
		return 0;
	return rev;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

#define FNV_OFFSET 1469598103934665603ULL
#define FNV_PRIME 1099511628211ULL

/*
 * Decodes the standard base64 text s[0..n) (padded, as Go encodes bytes in JSON): its first
 * `cap` bytes into out, every byte into the FNV-1a hash *hash, its length into *total. 0, or -1
 * when it is not base64.
 */
static int b64_decode(const char *s, size_t n, uint8_t *out, size_t cap, size_t *total,
		      uint64_t *hash)
{
	size_t len = 0;
	uint64_t h = FNV_OFFSET;

	if (n % 4)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], bytes = 3;
		uint8_t b[3];

		for (int k = 0; k < 4; k++) {
			v[k] = b64_value((unsigned char)s[i + k]);
			if (v[k] >= 0)
				continue;
			/* '=' pads the last quartet only: "xx==" or "xxx=". */
			if (s[i + k] != '=' || i + 4 != n || k < 2 || (k == 2 && s[i + 3] != '='))
				return -1;
			v[k] = 0;
			bytes = bytes < k - 1 ? bytes : k - 1;
		}
		b[0] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		b[1] = (uint8_t)(v[1] << 4 | v[2] >> 2);
		b[2] = (uint8_t)(v[2] << 6 | v[3]);
		for (int k = 0; k < bytes; k++, len++) {
			if (len < cap)
				out[len] = b[k];
			h = (h ^ b[k]) * FNV_PRIME;
		}
	}
	*total = len;
	*hash = h;
	return 0;
}

/* Size of the value whose base64 text is v: from its length and padding, never decoded.
 * -1 when v is not text of a base64 length. */
static int64_t value_size(json_t *v)
{
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);

	if (!s || len % 4)
		return -1;
	if (len == 0)
		return 0;
	return (int64_t)(len / 4 * 3) - (s[len - 1] == '=') - (s[len - 2] == '=');
}

/* Kubernetes' storage names that differ from the resource's (the API server's
 * SpecialDefaultResourcePrefixes); services/... are two parts and handled apart. */
static const struct {
	const char *storage, *resource;
} storage_names[] = {
	{ "minions", "nodes" },
	{ "controllers", "replicationcontrollers" },
	{ "ingress", "ingresses" },
	{ "podsecuritypolicy", "podsecuritypolicies" },
};

static bool part_is(const char *p, size_t len, const char *s)
{
	return strlen(s) == len && memcmp(p, s, len) == 0;
}

#define KEY_PARTS 6 /* enough to tell every shape we parse from longer ones */

void etcd_parse_key(const char *key, size_t len, const char *prefix, size_t prefix_len,
		    struct etcd_key_parts *out)
{
	const char *part[KEY_PARTS], *p, *end = key + len;
	size_t plen[KEY_PARTS], count = 0, at = 0, left;

	memset(out, 0, sizeof(*out));
	if (len < prefix_len || memcmp(key, prefix, prefix_len) != 0)
		return;
	p = key + prefix_len;
	if (p < end && *p == '/' && (!prefix_len || prefix[prefix_len - 1] != '/'))
		p++; /* a prefix given without its trailing '/' */
	if (p == end)
		return;
	for (;;) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		const char *stop = slash ? slash : end;

		if (count < KEY_PARTS) {
			part[count] = p;
			plen[count] = (size_t)(stop - p);
		}
		count++;
		if (!slash)
			break;
		p = slash + 1;
	}
	if (count > KEY_PARTS)
		count = KEY_PARTS; /* too many parts for any shape below */
	if (memchr(part[0], '.', plen[0]) && count >= 2) {
		/* An API group: group names have a dot, resource names never do. */
		out->api_group = part[0];
		out->api_group_len = plen[0];
		at = 1;
	}
	if (count - at >= 2 && part_is(part[at], plen[at], "services") &&
	    (part_is(part[at + 1], plen[at + 1], "specs") ||
	     part_is(part[at + 1], plen[at + 1], "endpoints"))) {
		out->resource = plen[at + 1] == 5 ? "services" : "endpoints";
		out->resource_len = strlen(out->resource);
		at += 2;
	} else if (plen[at]) {
		out->resource = part[at];
		out->resource_len = plen[at];
		for (size_t i = 0; i < sizeof(storage_names) / sizeof(storage_names[0]); i++) {
			if (!out->api_group &&
			    part_is(part[at], plen[at], storage_names[i].storage)) {
				out->resource = storage_names[i].resource;
				out->resource_len = strlen(out->resource);
			}
		}
		at++;
	} else {
		memset(out, 0, sizeof(*out));
		return;
	}
	left = count - at;
	if (count == KEY_PARTS || left < 1 || left > 2)
		return; /* another shape: namespace and name unknown */
	for (size_t i = at; i < count; i++)
		if (!plen[i])
			return;
	if (left == 2) {
		out->namespace = part[at];
		out->namespace_len = plen[at];
		at++;
	}
	out->name = part[at];
	out->name_len = plen[at];
}

/* The Kafka key: the key itself, or when it is longer than a hand-off key, its start, '#' and
 * the 64-bit hash of all of it (the same key always makes the same Kafka key). */
static void make_kafka_key(struct etcd_record *rec, const uint8_t *key, size_t total,
			   uint64_t hash)
{
	size_t keep = HANDOFF_KEY_MAX - ETCD_KAFKA_KEY_HASH_LEN;

	if (total <= HANDOFF_KEY_MAX) {
		memcpy(rec->kafka_key, key, total);
		rec->kafka_key_len = total;
		return;
	}
	memcpy(rec->kafka_key, key, keep);
	snprintf(rec->kafka_key + keep, ETCD_KAFKA_KEY_HASH_LEN + 1, "#%016" PRIx64, hash);
	rec->kafka_key_len = HANDOFF_KEY_MAX;
}

static void put_part(struct avro_buf *b, const char *s, size_t len)
{
	if (!s || !len) {
		avro_put_union(b, 0);
		return;
	}
	avro_put_union(b, 1);
	avro_put_string(b, s, len);
}

static void put_optional_long(struct avro_buf *b, bool set, int64_t v)
{
	avro_put_union(b, set);
	if (set)
		avro_put_long(b, v);
}

/* cluster_id, member_id, raft_term, revision: the fields every record starts with. */
static void put_origin(struct avro_buf *b, const struct etcd_header *h, int64_t revision)
{
	char hex[17];

	etcd_id_hex(h->cluster_id, hex);
	avro_put_string(b, hex, sizeof(hex));
	etcd_id_hex(h->member_id, hex);
	avro_put_string(b, hex, sizeof(hex));
	avro_put_long(b, (int64_t)h->raft_term);
	avro_put_long(b, revision);
}

static void init_record(struct etcd_record *rec, int kind, int64_t now_us, int64_t revision)
{
	memset(&rec->meta, 0, sizeof(rec->meta));
	rec->meta.kind = kind;
	rec->meta.event_time_us = now_us;
	rec->revision = revision;
}

enum etcd_event_result etcd_map_event(const struct etcd_map_config *cfg,
				      const struct etcd_header *h, json_t *event, int64_t now_us,
				      struct avro_buf *body, struct etcd_record *rec)
{
	uint8_t key[ETCD_KEY_FIELD_MAX];
	json_t *kv, *type, *value;
	int64_t rev = 0, create_rev = 0, version = 0, lease = 0, size = -1;
	int has_create = 0, has_version = 0, has_lease = 0;
	size_t total = 0, kept;
	uint64_t hash = 0;
	struct etcd_key_parts parts;
	int kind = ETCD_KIND_PUT;
	bool truncated;

	kv = json_is_object(event) ? json_object_get(event, "kv") : NULL;
	if (!json_is_object(kv))
		return ETCD_EVENT_BAD_FIELD;
	type = json_object_get(event, "type");
	if (json_is_string(type) && !strcmp(json_string_value(type), "DELETE"))
		kind = ETCD_KIND_DELETE;
	else if (json_is_integer(type) && json_integer_value(type) == 1)
		kind = ETCD_KIND_DELETE;
	else if (type && !json_is_null(type) &&
		 !(json_is_string(type) && !strcmp(json_string_value(type), "PUT")) &&
		 !(json_is_integer(type) && json_integer_value(type) == 0))
		return ETCD_EVENT_BAD_TYPE;
	if (!json_is_string(json_object_get(kv, "key")) ||
	    b64_decode(json_string_value(json_object_get(kv, "key")),
		       json_string_length(json_object_get(kv, "key")), key, sizeof(key), &total,
		       &hash) || total == 0)
		return ETCD_EVENT_BAD_KEY;
	if (get_int(kv, "mod_revision", &rev) != 1 || rev <= 0)
		return ETCD_EVENT_BAD_REVISION;
	kept = total < sizeof(key) ? total : sizeof(key);
	truncated = total > sizeof(key);
	for (size_t i = 0; i < cfg->nexclude; i++)
		if (cfg->exclude_len[i] <= kept &&
		    !memcmp(key, cfg->exclude[i], cfg->exclude_len[i]))
			return ETCD_EVENT_EXCLUDED;
	if (kind == ETCD_KIND_PUT) {
		/* A DELETE's kv holds key and mod_revision only: nothing else is read from it. */
		has_create = get_int(kv, "create_revision", &create_rev);
		has_version = get_int(kv, "version", &version);
		has_lease = get_int(kv, "lease", &lease);
		value = json_object_get(kv, "value");
		if (has_create < 0 || has_version < 0 || has_lease < 0 ||
		    (value && !json_is_null(value) && !json_is_string(value)))
			return ETCD_EVENT_BAD_FIELD;
		size = value && !json_is_null(value) ? value_size(value) : 0;
	}

	init_record(rec, kind, now_us, rev);
	make_kafka_key(rec, key, total, hash);
	/* The key as text: a NUL would end an Avro string early, 0xff is never UTF-8 and comes
	 * out as U+FFFD like every other byte that is not text. */
	for (size_t i = 0; i < kept; i++)
		if (!key[i])
			key[i] = 0xff;
	if (truncated)
		memset(&parts, 0, sizeof(parts));
	else
		etcd_parse_key((const char *)key, kept, cfg->prefix, cfg->prefix_len, &parts);
	put_origin(body, h, rev);
	put_part(body, (const char *)key, kept);
	avro_put_bool(body, truncated);
	put_part(body, parts.api_group, parts.api_group_len);
	put_part(body, parts.resource, parts.resource_len);
	put_part(body, parts.namespace, parts.namespace_len);
	put_part(body, parts.name, parts.name_len);
	avro_put_bool(body, kind == ETCD_KIND_PUT && has_version == 1 && version == 1);
	put_optional_long(body, has_create == 1 && create_rev > 0, create_rev);
	put_optional_long(body, has_version == 1 && version > 0, version);
	put_optional_long(body, has_lease == 1 && lease > 0, lease);
	put_optional_long(body, kind == ETCD_KIND_PUT && size >= 0, size);
	avro_put_union(body, 0); /* compacted */
	return ETCD_EVENT_OK;
}

void etcd_map_compacted(const struct etcd_map_config *cfg, const struct etcd_header *h,
			int64_t first, int64_t compact_revision, int64_t now_us,
			struct avro_buf *body, struct etcd_record *rec)
{
	init_record(rec, ETCD_KIND_COMPACTED, now_us, compact_revision);
	make_kafka_key(rec, (const uint8_t *)cfg->prefix,
		       cfg->prefix_len < HANDOFF_KEY_MAX ? cfg->prefix_len : HANDOFF_KEY_MAX, 0);
	put_origin(body, h, compact_revision);
	avro_put_union(body, 0); /* key */
	avro_put_bool(body, false);
	for (int i = 0; i < 4; i++)
		avro_put_union(body, 0); /* api_group, resource, namespace, name */
	avro_put_bool(body, false);
	for (int i = 0; i < 4; i++)
		avro_put_union(body, 0); /* create_revision, version, lease, value_size */
	avro_put_union(body, 1);
	avro_put_long(body, first);
	avro_put_long(body, compact_revision - 1);
}
