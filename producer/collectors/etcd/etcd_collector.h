/*
 * The etcd collector: every mutation under a key prefix of an etcd cluster, read from the watch
 * of etcd's v3 JSON gateway (POST /v3/watch), published on <prefix>etcd without its value.
 *
 * This header is the pure part (etcd_map.c): what one value of the watch stream is, and the
 * record a mutation or a compaction makes. No I/O, no globals, no allocation; the fuzz target
 * (tests/fuzz/fuzz_etcd_map.c) and the unit tests (tests/test_etcd.c) call it directly. The
 * worker that watches, resumes and checkpoints is etcd.c.
 *
 * What etcd 3.4's gateway sends (grpc-gateway, proto3 JSON: int64 and uint64 as decimal strings,
 * bytes as base64, fields at their default value left out, the event type PUT = 0 among them):
 *   {"result": {"header": {"cluster_id", "member_id", "revision", "raft_term"},
 *               "created": true | "canceled": true, "compact_revision", "cancel_reason" |
 *               "events": [{"type": "DELETE"?, "kv": {"key", "create_revision",
 *                           "mod_revision", "version", "value", "lease"}}], "fragment"}}
 *   {"error": {"grpc_code", "http_code", "message", "http_status"}} when the stream fails.
 * A DELETE's kv holds only key and mod_revision. A response with none of created, canceled and
 * events is a progress notification: every event up to header.revision was sent.
 *
 * Never a value: the mapper reads the length of the value's base64 text and its last two
 * characters (the padding), nothing else of it, and copies it nowhere.
 */
#ifndef TAPIO_ETCD_COLLECTOR_H
#define TAPIO_ETCD_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "avro_writer.h"
#include "handoff.h"

/* The `key` field holds at most this many bytes of the key. */
#define ETCD_KEY_FIELD_MAX 4096
/* A key longer than HANDOFF_KEY_MAX is keyed in Kafka by its start, '#' and a 64-bit hash. */
#define ETCD_KAFKA_KEY_HASH_LEN 17
#define ETCD_MESSAGE_MAX 256

/* Indexes of the schema's `Kind` enum (schemas/etcd.avsc). */
enum etcd_kind {
	ETCD_KIND_UNKNOWN = 0,
	ETCD_KIND_PUT,
	ETCD_KIND_DELETE,
	ETCD_KIND_COMPACTED,
	ETCD_KIND_LOSS,
};

/* What the mapper needs to know of the configuration. Borrowed. */
struct etcd_map_config {
	const char *prefix;         /* keys are parsed below it (etcd_prefix) */
	size_t prefix_len;
	const char *const *exclude; /* key prefixes whose mutations are not published */
	const size_t *exclude_len;
	size_t nexclude;
};

/* The header every response carries. */
struct etcd_header {
	uint64_t cluster_id;
	uint64_t member_id;
	uint64_t raft_term;
	int64_t revision; /* the store's revision when the response was made; 0 when absent */
};

enum etcd_response_type {
	ETCD_RESPONSE_INVALID = 0, /* not a watch response (counted; the stream goes on) */
	ETCD_RESPONSE_ERROR,       /* {"error": ...}: the stream failed (message says why) */
	ETCD_RESPONSE_CREATED,     /* the watch was created */
	ETCD_RESPONSE_COMPACTED,   /* canceled: its start revision was compacted */
	ETCD_RESPONSE_CANCELED,    /* canceled for another reason (message) */
	ETCD_RESPONSE_EVENTS,      /* mutations */
	ETCD_RESPONSE_PROGRESS,    /* every event up to header.revision was sent */
};

struct etcd_response {
	enum etcd_response_type type;
	struct etcd_header header;
	int64_t compact_revision; /* COMPACTED */
	bool fragment;            /* EVENTS: more events of its last revision follow */
	json_t *events;           /* EVENTS: a non-empty array, borrowed from the value */
	/* ERROR, CANCELED, INVALID: why, in printable ASCII; never a value */
	char message[ETCD_MESSAGE_MAX];
};

/* What became of one event. */
enum etcd_event_result {
	ETCD_EVENT_OK = 0,      /* a record */
	ETCD_EVENT_EXCLUDED,    /* its key starts with an excluded prefix: no record */
	ETCD_EVENT_BAD_TYPE,    /* neither PUT nor DELETE */
	ETCD_EVENT_BAD_KEY,     /* no key, or not base64 */
	ETCD_EVENT_BAD_REVISION, /* no mod_revision, or not a positive integer */
	ETCD_EVENT_BAD_FIELD,   /* kv missing, or a field of the wrong type or range */
	ETCD_EVENT_RESULT_MAX
};

/* "ok", "excluded", "bad_type", ... for metrics and logs. */
const char *etcd_event_result_name(enum etcd_event_result r);

/* One record: what the hand-off needs beside the encoded fields. */
struct etcd_record {
	struct handoff_meta meta; /* kind and event_time set; source and position left to the
				   * caller */
	char kafka_key[HANDOFF_KEY_MAX];
	size_t kafka_key_len;
	int64_t revision;
};

/* The parts of a key below the prefix; NULL where the key does not say. Pointers into the key
 * given to etcd_parse_key, or static strings for the names that are mapped. */
struct etcd_key_parts {
	const char *api_group, *resource, *namespace, *name;
	size_t api_group_len, resource_len, namespace_len, name_len;
};

/*
 * Splits key[0..len) below `prefix`: [<group with a dot>/]<resource>/[<namespace>/]<name>, with
 * Kubernetes' own storage names mapped to the API's (minions → nodes, services/specs →
 * services, services/endpoints → endpoints, controllers → replicationcontrollers, ingress →
 * ingresses, podsecuritypolicy → podsecuritypolicies). Any other shape (a key outside the
 * prefix, an empty part, more parts) leaves namespace and name NULL, and resource NULL too
 * when there is none.
 */
void etcd_parse_key(const char *key, size_t len, const char *prefix, size_t prefix_len,
		    struct etcd_key_parts *out);

/* Classifies one value of the watch stream into *r (borrowing from it). Returns r->type. */
enum etcd_response_type etcd_parse_response(json_t *value, struct etcd_response *r);

/* The reply to POST /v3/maintenance/status: its header and etcd's version ("" when absent,
 * printable ASCII). 0, or -1 when it is not one (no cluster_id). */
int etcd_parse_status(json_t *value, struct etcd_header *h, char *version, size_t size);

/* The event's kv.mod_revision, or 0 when it has none that is valid. */
int64_t etcd_event_revision(json_t *event);

/*
 * Maps one event of an EVENTS response with header h: on ETCD_EVENT_OK the topic's own fields
 * are appended to `body` (check body->overflow) and *rec is filled. Any other result leaves
 * body as it was.
 */
enum etcd_event_result etcd_map_event(const struct etcd_map_config *cfg,
				      const struct etcd_header *h, json_t *event, int64_t now_us,
				      struct avro_buf *body, struct etcd_record *rec);

/* The COMPACTED record of revisions first .. compact_revision - 1, lost; the watch resumes at
 * compact_revision. Keyed by the prefix. */
void etcd_map_compacted(const struct etcd_map_config *cfg, const struct etcd_header *h,
			int64_t first, int64_t compact_revision, int64_t now_us,
			struct avro_buf *body, struct etcd_record *rec);

/* Writes id in hex as etcd does (no leading zeros) into out. */
void etcd_id_hex(uint64_t id, char out[17]);

#endif /* TAPIO_ETCD_COLLECTOR_H */
