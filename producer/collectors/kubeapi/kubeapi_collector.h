/*
 * The kubeapi collector's parts: the pure mappers from the API server's JSON to records of
 * schemas/kubeapi.avsc (kubeapi_map.c), the quantity and time parsers they use, and the list and
 * watch state machine of one source (kubeapi.c), which takes its I/O as functions so that tests
 * can drive it with canned responses.
 *
 * The mappers read tokens (json_tok.h), not jansson trees: jansson alone costs more than the
 * budget of a pod record (BENCHMARKS.md). They do no I/O, keep no state and read no clock (the
 * caller passes the time); everything they write goes into caller storage.
 */
#ifndef TAPIO_KUBEAPI_COLLECTOR_H
#define TAPIO_KUBEAPI_COLLECTOR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "avro_writer.h"
#include "handoff.h"
#include "http_client.h"
#include "http_worker.h"
#include "json_tok.h"

/* The topic's `Kind` enum, in schema order. */
enum kubeapi_kind {
	KUBEAPI_UNKNOWN = 0,
	KUBEAPI_POD_ADDED,
	KUBEAPI_POD_MODIFIED,
	KUBEAPI_POD_DELETED,
	KUBEAPI_POD_SNAPSHOT,
	KUBEAPI_RESYNC_BEGIN,
	KUBEAPI_RESYNC_END,
	KUBEAPI_EVENT,
	KUBEAPI_EVENT_SNAPSHOT,
	KUBEAPI_SKIPPED,
	KUBEAPI_LOSS,
};

/* `Source`. */
enum kubeapi_source_kind {
	KUBEAPI_SOURCE_UNKNOWN = 0,
	KUBEAPI_SOURCE_PODS,
	KUBEAPI_SOURCE_EVENTS,
};

/* `ResyncReason`. */
enum kubeapi_resync_reason {
	KUBEAPI_RESYNC_UNKNOWN = 0,
	KUBEAPI_RESYNC_START,
	KUBEAPI_RESYNC_EXPIRED,
	KUBEAPI_RESYNC_CHECKPOINT_UNUSABLE,
	KUBEAPI_RESYNC_TOO_LARGE,
};

/* `SkipReason`; 0 (UNKNOWN) is also "not skipped" where a mapper returns one. */
enum kubeapi_skip_reason {
	KUBEAPI_SKIP_NONE = 0,
	KUBEAPI_SKIP_INVALID_JSON,
	KUBEAPI_SKIP_TOO_LARGE,
	KUBEAPI_SKIP_TOO_DEEP,
	KUBEAPI_SKIP_NOT_OBJECT,
	KUBEAPI_SKIP_MISSING_FIELD,
	KUBEAPI_SKIP_WRONG_TYPE,
	KUBEAPI_SKIP_UNKNOWN_TYPE,
	KUBEAPI_SKIP_BAD_VALUE,
	KUBEAPI_SKIP_NO_MEMORY,
	KUBEAPI_SKIP_REASON_MAX,
};

/* "invalid_json", ... for metrics and logs. */
const char *kubeapi_skip_reason_name(enum kubeapi_skip_reason reason);

/* Values published as null because they could not be read (the record goes out). */
enum kubeapi_value_error {
	KUBEAPI_VALUE_TIME = 0,       /* a timestamp that is not RFC 3339 */
	KUBEAPI_VALUE_QUANTITY,       /* a quantity Kubernetes would not parse either */
	KUBEAPI_VALUE_QUANTITY_RANGE, /* a quantity beyond a long in its unit */
	KUBEAPI_VALUE_ERROR_MAX,
};

const char *kubeapi_value_error_name(enum kubeapi_value_error err);

/* What the mappers count besides their return value; the caller adds them up. */
struct kubeapi_map_stats {
	uint64_t invalid_values[KUBEAPI_VALUE_ERROR_MAX];
	uint64_t truncated; /* records with a text or list cut (pod.truncated; an Event's note or,
			     * never from a valid Event, another text over KUBEAPI_TEXT_MAX) */
};

/* Strings longer than this are cut (Kubernetes keeps names, reasons and labels shorter; a
 * message or an Event's note can be longer). */
#define KUBEAPI_TEXT_MAX 1024
/* Bytes of the topic's own fields of one record, at most. */
#define KUBEAPI_BODY_MAX HANDOFF_BODY_MAX
/* Scratch the pod mapper needs (a list being encoded, then copied after its count). */
#define KUBEAPI_SCRATCH_SIZE KUBEAPI_BODY_MAX
/* Longest uid kept (Kubernetes UIDs are 36 bytes). */
#define KUBEAPI_UID_MAX 63

/* A record a mapper produced: its hand-off meta (kind, time, pod_uid), its key, its body (in
 * storage the caller gave avro_buf_init), and the object's resourceVersion. */
struct kubeapi_record {
	struct handoff_meta meta;
	char key[HANDOFF_KEY_MAX];
	size_t key_len;
	struct avro_buf body;
	char resource_version[HANDOFF_POSITION_MAX];
};

/* Why an object was left out, and what could be read of it, for its SKIPPED record. */
struct kubeapi_skip {
	enum kubeapi_skip_reason reason;
	char field[128];        /* the offending field's path; "" = none */
	char watch_type[16];    /* "" = none (a list item) */
	char resource_version[HANDOFF_POSITION_MAX];
	char namespace[256];
	char name[256];
	char uid[KUBEAPI_UID_MAX + 1];
};

struct kubeapi_map_config {
	const char *node;                /* this node: keys <node>/pods, <node>/events */
	char *const *annotations;        /* annotation keys to export, NULL-terminated */
};

/*
 * Pod object `obj` of d as a record of `kind` (POD_ADDED .. POD_SNAPSHOT) received at now_us.
 * out->body must have KUBEAPI_BODY_MAX bytes of room; scratch KUBEAPI_SCRATCH_SIZE bytes.
 * Returns 0, or the reason it was skipped (*skip then says which field and what could be read).
 */
enum kubeapi_skip_reason kubeapi_map_pod(const struct jtok_doc *d, int obj,
					 enum kubeapi_kind kind, int64_t now_us,
					 const struct kubeapi_map_config *cfg, uint8_t *scratch,
					 struct kubeapi_record *out, struct kubeapi_skip *skip,
					 struct kubeapi_map_stats *stats);

/* An events.k8s.io/v1 Event `obj` as a record of `kind` (EVENT or EVENT_SNAPSHOT); as above. */
enum kubeapi_skip_reason kubeapi_map_event(const struct jtok_doc *d, int obj,
					   enum kubeapi_kind kind, int64_t now_us,
					   struct kubeapi_record *out, struct kubeapi_skip *skip,
					   struct kubeapi_map_stats *stats);

/* RESYNC_BEGIN (count < 0: null) or RESYNC_END of `source`, keyed <node>/pods or <node>/events. */
void kubeapi_map_resync(enum kubeapi_kind kind, enum kubeapi_source_kind source,
			enum kubeapi_resync_reason reason, const char *resource_version,
			int64_t count, int64_t now_us, const struct kubeapi_map_config *cfg,
			struct kubeapi_record *out);

/* SKIPPED for `skip`, keyed by the object's uid when known, else as the source's brackets. */
void kubeapi_map_skipped(enum kubeapi_source_kind source, const struct kubeapi_skip *skip,
			 int64_t now_us, const struct kubeapi_map_config *cfg,
			 struct kubeapi_record *out);

/* Fills what *skip can say about object `obj` (metadata names, uid, resourceVersion), reading
 * only strings; anything unreadable stays "". */
void kubeapi_skip_describe(const struct jtok_doc *d, int obj, struct kubeapi_skip *skip);

/* A watch event's `type`. */
enum kubeapi_watch_type {
	KUBEAPI_WATCH_ADDED,
	KUBEAPI_WATCH_MODIFIED,
	KUBEAPI_WATCH_DELETED,
	KUBEAPI_WATCH_BOOKMARK,
	KUBEAPI_WATCH_ERROR,
};

/*
 * The parts of a watch event {"type": ..., "object": {...}}: 0 with *type and *object set, or a
 * skip reason (not an object, no type or object, an unknown type: *skip filled).
 */
enum kubeapi_skip_reason kubeapi_watch_event(const struct jtok_doc *d,
					     enum kubeapi_watch_type *type, int *object,
					     struct kubeapi_skip *skip);

/* metadata.resourceVersion of `obj` into rv when it is a usable position (1 to 63 printable
 * bytes, no blanks). */
bool kubeapi_object_rv(const struct jtok_doc *d, int obj, char *rv, size_t size);

/* A Status object (an ERROR event's): its code (0 when absent), and whether it says the
 * resourceVersion is ahead of the server (cause ResourceVersionTooLarge, or the message older
 * servers send). */
int kubeapi_status_code(const struct jtok_doc *d, int obj, bool *too_large);

/* A List's text: what the first pass learns. */
struct kubeapi_list_info {
	char resource_version[HANDOFF_POSITION_MAX];
	size_t items;
};

enum kubeapi_list_result {
	KUBEAPI_LIST_OK = 0,
	KUBEAPI_LIST_INVALID,  /* not JSON, or not an object with an items array */
	KUBEAPI_LIST_NO_RV,    /* no usable metadata.resourceVersion */
};

/* First pass over a List: the whole text is checked (items are validated without keeping
 * tokens, so none is too large for it) and its resourceVersion read. */
enum kubeapi_list_result kubeapi_list_scan(struct jtok_doc *d, const char *text, size_t len,
					   struct kubeapi_list_info *info);

/* One item of a List: its tokens in d (root 0), or root -1 with `why` when it could not be
 * tokenized (too many tokens, no memory). Return 0 to go on, else the walk stops with it. */
typedef int (*kubeapi_item_fn)(void *ctx, const struct jtok_doc *d, int root,
			       enum kubeapi_skip_reason why);

/* Second pass, over a text kubeapi_list_scan accepted: each item in order. 0 or what fn
 * returned to stop. */
int kubeapi_list_items(struct jtok_doc *d, const char *text, size_t len, kubeapi_item_fn fn,
		       void *ctx);

enum kubeapi_quantity_result {
	QUANTITY_OK = 0,
	QUANTITY_INVALID, /* not a quantity */
	QUANTITY_RANGE,   /* its value in that unit is beyond a long */
};

/*
 * A Kubernetes resource quantity (s[0..len), no NUL needed) times 10^scale, rounded up (away
 * from zero), exactly as resource.ParseQuantity then ScaledValue(-scale) give it: scale 3 for
 * millicores (MilliValue), 0 for bytes (Value). Binary-suffixed values are capped at 2^63 - 1
 * as Go caps them. scale 0..9.
 */
int kubeapi_quantity(const char *s, size_t len, int scale, int64_t *out);

/* RFC 3339 ("2024-05-01T10:00:00Z", fractions and offsets allowed) to microseconds since the
 * epoch (fraction digits past the microsecond dropped). False when it is not one. */
bool kubeapi_parse_time(const char *s, size_t len, int64_t *us);

/*
 * One source: the pods of this node, or the Events, listed and watched as client-go's reflector
 * does. A list (resourceVersion 0 at the first start, the last one seen after the watch expired,
 * "" when that one is gone too) is published as a bracket; the watch resumes from the last
 * resourceVersion seen with bookmarks and a random timeout of 300 to 600 s. 410 Gone (as an HTTP
 * status or an in-stream ERROR) means relist; other failures back off and watch again from where
 * the watch stood. No periodic relist.
 *
 * Ownership and threads: the caller owns struct kubeapi_source; kubeapi_source_init() allocates
 * its buffers and kubeapi_source_free() releases them (safe on a zeroed source). One thread runs
 * a source (step, run); its stats are atomics any thread may read.
 */

/* What a source does through the outside world: the collector gives the HTTP client and the
 * hand-off; tests give canned responses. ctx is handed back to every call. */
struct kubeapi_io {
	int (*request)(void *ctx, const struct http_request *req, struct http_result *res);
	/* A record to the hand-off, waiting for room: 0, or -ECANCELED at shutdown. */
	int (*push)(void *ctx, const struct kubeapi_record *rec);
	int (*mark)(void *ctx, int source, const char *position);
	uint32_t (*backoff)(void *ctx, const struct http_result *res);
	int (*sleep)(void *ctx, uint32_t ms);
	bool (*stopping)(void *ctx);
	int64_t (*now_us)(void *ctx);
	uint32_t (*random)(void *ctx);
	/* The HTTP client's counts of stream values it skipped, by enum json_stream_error. */
	void (*stream_errors)(void *ctx, uint64_t errors[JSON_STREAM_ERROR_MAX]);
	void *ctx;
};

enum kubeapi_events_mode { KUBEAPI_EVENTS_OFF = 0, KUBEAPI_EVENTS_NODE, KUBEAPI_EVENTS_CLUSTER };
enum kubeapi_pods_mode { KUBEAPI_PODS_NODE = 0, KUBEAPI_PODS_OFF };

/* How the next list asks for its resourceVersion. */
enum kubeapi_list_from {
	KUBEAPI_LIST_FROM_CACHE = 0, /* "0": the API server's cache, whatever its age */
	KUBEAPI_LIST_FROM_LAST,      /* the last one seen: no older than what was published */
	KUBEAPI_LIST_FROM_ETCD,      /* unset: a consistent read, when the last one is gone */
};

/* Watch events received, by type. */
#define KUBEAPI_WATCH_TYPES 5

struct kubeapi_source_stats {
	atomic_uint_fast64_t skipped[KUBEAPI_SKIP_REASON_MAX];
	atomic_uint_fast64_t invalid_values[KUBEAPI_VALUE_ERROR_MAX];
	atomic_uint_fast64_t truncated;
	atomic_uint_fast64_t resyncs[KUBEAPI_RESYNC_TOO_LARGE + 1]; /* by reason */
	atomic_uint_fast64_t watch_events[KUBEAPI_WATCH_TYPES];      /* by kubeapi_watch_type */
	atomic_uint_fast64_t lists;                                  /* lists published */
	atomic_bool up;   /* the last request succeeded (a watch: is open) */
};

struct kubeapi_source {
	enum kubeapi_source_kind kind;
	const char *name;              /* "pods", "events" */
	int handoff_source;            /* its number in the hand-off and the checkpoints */
	char path[64];                 /* the collection: "/api/v1/pods" */
	char selector[1024];           /* "fieldSelector=<encoded>", or "" */
	const struct kubeapi_map_config *cfg;
	struct kubeapi_io io;
	struct http_source checkpoint; /* name and scope of its checkpoint file */

	/* The state of the list and watch. */
	char rv[HANDOFF_POSITION_MAX]; /* last resourceVersion seen; the watch resumes from it */
	bool need_list;
	enum kubeapi_list_from list_from;
	enum kubeapi_resync_reason resync_reason;
	unsigned too_large_watches;    /* consecutive watches refused as ahead of the server */
	uint64_t stream_errors[JSON_STREAM_ERROR_MAX]; /* the client's counts already reported */

	/* Buffers, reused for every object. */
	struct jtok_doc doc;
	uint8_t *body, *scratch;
	struct kubeapi_record rec;
	uint64_t snapshots;            /* snapshot records of the list being published */

	struct kubeapi_source_stats stats;
};

/* Sets up source `kind` of node `node` (events: `events` says which). Buffers are allocated here:
 * 0 or -ENOMEM. The source starts with a list (resync reason START) until told otherwise. */
int kubeapi_source_init(struct kubeapi_source *s, enum kubeapi_source_kind kind, const char *node,
			enum kubeapi_events_mode events, const struct kubeapi_map_config *cfg,
			const struct kubeapi_io *io, int handoff_source);

/* Resume: watch from `rv` (a checkpoint) instead of listing. */
void kubeapi_source_resume(struct kubeapi_source *s, const char *rv);

/* List first, published as a resync for `reason`. */
void kubeapi_source_relist(struct kubeapi_source *s, enum kubeapi_resync_reason reason);

/* One request (a list, or a watch until it ends) and the wait after a failure. 0, or
 * -ECANCELED once stopping. */
int kubeapi_source_step(struct kubeapi_source *s);

/* Steps until stopping. */
void kubeapi_source_run(struct kubeapi_source *s);

void kubeapi_source_free(struct kubeapi_source *s);

/* Prometheus text of the sources' own counters (n sources, NULL ones skipped). */
void kubeapi_render_metrics(struct kubeapi_source *const *sources, size_t n, FILE *out);

#endif /* TAPIO_KUBEAPI_COLLECTOR_H */
