/*
 * Collector `kubelet` (kubelet.c): the node's own kubelet, polled every kubelet_interval_s for
 * /pods (container-state changes against the previous poll) and /stats/summary (resource use) →
 * schemas/kubelet.avsc.
 *
 * The JSON → record mappers are pure functions (no I/O, no globals), exposed here for the unit
 * tests, the fuzz targets and the bench:
 *   kubelet_map.c   /stats/summary → POD_STATS and NODE_STATS; SCRAPE_FAILED; shared helpers
 *   kubelet_pods.c  /pods → a table of pods; the table against the previous poll's state →
 *                   state-change records and the next state; that state to and from the bytes
 *                   a checkpoint keeps
 * Records leave through a caller's emit function (struct kubelet_emit), one at a time: the topic's
 * own fields encoded, the envelope's pod UID, container id, kind, time and the Kafka key in a
 * struct handoff_meta. The bodies are tokenized by the kubeapi collector's tokenizer
 * (producer/collectors/kubeapi/json_tok.c: flat token arrays, a fraction of jansson's cost).
 *
 * Hostile input (wrong types, missing fields, huge arrays, deep nesting) does not fail a whole
 * body: what cannot be used is left out (a value published as null, a record skipped, items
 * beyond a limit dropped) and counted by reason in struct kubelet_counts. Only a body that is not
 * JSON, or nests deeper than KUBELET_JSON_DEPTH, is refused whole.
 */
#ifndef TAPIO_KUBELET_COLLECTOR_H
#define TAPIO_KUBELET_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "avro_writer.h"
#include "handoff.h"
#include "json_tok.h"

/* The `Kind` enum of schemas/kubelet.avsc. */
enum kubelet_kind {
	KUBELET_UNKNOWN = 0,
	KUBELET_POD_STATS,
	KUBELET_NODE_STATS,
	KUBELET_POD_STATUS_SNAPSHOT,
	KUBELET_POD_PHASE,
	KUBELET_POD_READY,
	KUBELET_POD_REMOVED,
	KUBELET_CONTAINER_WAITING,
	KUBELET_CONTAINER_RUNNING,
	KUBELET_CONTAINER_TERMINATED,
	KUBELET_CONTAINER_RESTARTED,
	KUBELET_SCRAPE_FAILED,
	KUBELET_LOSS,
};

/* The `ScrapeOutcome` enum. */
enum kubelet_outcome {
	KUBELET_OUTCOME_UNKNOWN = 0,
	KUBELET_OUTCOME_HTTP_4XX,
	KUBELET_OUTCOME_HTTP_5XX,
	KUBELET_OUTCOME_HTTP_OTHER,
	KUBELET_OUTCOME_TRANSPORT,
	KUBELET_OUTCOME_TLS,
	KUBELET_OUTCOME_TIMEOUT,
	KUBELET_OUTCOME_TOO_LARGE,
	KUBELET_OUTCOME_JSON,
	KUBELET_OUTCOME_BAD_BODY,
	KUBELET_OUTCOME_SETUP,
	KUBELET_OUTCOME_MAX,
};

/* The `ContainerPhase` enum. */
enum kubelet_cphase {
	KUBELET_CPHASE_UNKNOWN = 0,
	KUBELET_CPHASE_WAITING,
	KUBELET_CPHASE_RUNNING,
	KUBELET_CPHASE_TERMINATED,
};

/* What the mappers could not use, by reason (tapio_kubelet_input_skipped_total). */
enum kubelet_skip {
	KUBELET_SKIP_MALFORMED,   /* an array entry that is not an object, or has no name: skipped */
	KUBELET_SKIP_BAD_UID,     /* a pod without a usable UID: skipped */
	KUBELET_SKIP_DUPLICATE,   /* a pod UID, or a container name in a pod, listed twice in one
				   * body: the second skipped */
	KUBELET_SKIP_TOO_MANY,    /* pods, containers, volumes, interfaces beyond a limit */
	KUBELET_SKIP_TOO_LARGE,   /* a record that would exceed HANDOFF_BODY_MAX: skipped */
	KUBELET_SKIP_WRONG_TYPE,  /* a value of the wrong JSON type: null */
	KUBELET_SKIP_OUT_OF_RANGE, /* a negative or too large number: null */
	KUBELET_SKIP_BAD_TIME,    /* a time that is not RFC 3339: null */
	KUBELET_SKIP_TRUNCATED,   /* a string cut at its limit (published cut) */
	KUBELET_SKIP_MAX,
};

struct kubelet_counts {
	uint64_t n[KUBELET_SKIP_MAX];
};

/* "malformed", ... for metrics. */
const char *kubelet_skip_name(enum kubelet_skip reason);

/* Limits: beyond them, items are dropped and counted (records say `truncated` where they can). */
#define KUBELET_PODS_MAX 4096          /* pods of one /pods body */
#define KUBELET_POD_CONTAINERS_MAX 64  /* containers (init included) of one pod */
#define KUBELET_CONTAINERS_MAX 32768   /* containers of one /pods body */
#define KUBELET_VOLUMES_MAX 64         /* volumes of one pod's stats */
#define KUBELET_INTERFACES_MAX 16      /* interfaces of one network's stats */
#define KUBELET_SYSTEM_CONTAINERS_MAX 16
#define KUBELET_CONDITIONS_MAX 64      /* conditions looked at for Ready */
/* String limits, in bytes: longer ones are cut (and counted). */
#define KUBELET_UID_LEN 63             /* a UID is 36, a static pod's config hash 32 */
#define KUBELET_NAME_LEN 253           /* names, namespaces: DNS subdomains at most */
#define KUBELET_ID_LEN 127             /* a container id without its runtime prefix */
#define KUBELET_REASON_LEN 128
#define KUBELET_MESSAGE_LEN 1024
#define KUBELET_IMAGE_LEN 512
#define KUBELET_PHASE_LEN 31
#define KUBELET_ERROR_LEN 320

/*
 * Where records go. fn gets one record at a time: meta (kind, event time, pod UID, container id),
 * the Kafka key and the topic's own fields encoded (borrowed: copy them). It returns 0 to go
 * on, or a negative errno to stop the mapper, which then returns it (-ECANCELED at shutdown).
 * buf is the scratch space a record is encoded in (HANDOFF_BODY_MAX bytes is the most a hand-off
 * takes); a record that does not fit is skipped and counted (KUBELET_SKIP_TOO_LARGE).
 */
struct kubelet_emit {
	const char *node;      /* node records are keyed "<node>/node" */
	int64_t observed_us;   /* event_time of every record: when the response arrived */
	uint8_t *buf;
	size_t cap;
	int (*fn)(void *ctx, const struct handoff_meta *meta, const char *key, size_t key_len,
		  const void *body, size_t body_len);
	void *ctx;
	struct kubelet_counts *counts;
};

/* Shared helpers (kubelet_map.c). */

/* RFC 3339 ("2024-05-01T10:00:00Z", fraction and offset allowed) to microseconds since the
 * epoch. False when s is not one. */
bool kubelet_parse_time(const char *s, int64_t *us);

/* A container id without its runtime prefix ("containerd://<id>" → "<id>"), into out (size
 * bytes). False when it is empty or too long. */
bool kubelet_strip_runtime(const char *id, char *out, size_t size);

/* Nesting deeper than this refuses a whole body (no kubelet body comes near it). */
#define KUBELET_JSON_DEPTH JTOK_DEPTH_LIMIT

/* A body tokenized: jtok_parse() with bounds for a body of `len` bytes. 0; -EBADMSG when it is
 * not one JSON value (or nests deeper than KUBELET_JSON_DEPTH); -ENOMEM. d is freed on failure;
 * the caller jtok_free()s it otherwise. */
int kubelet_json_parse(struct jtok_doc *d, const char *body, size_t len);

/* obj[key] as a string (obj may be -1 or not an object), decoded into buf, which holds at least
 * max + 1 bytes: NULL when absent or null, or not a string (counted WRONG_TYPE). *len is its
 * length, cut to `max` bytes at a UTF-8 character boundary (counted TRUNCATED); buf is
 * NUL-terminated there. */
const char *kubelet_json_string(const struct jtok_doc *d, int obj, const char *key, size_t max,
				char *buf, size_t *len, struct kubelet_counts *counts);

/* obj[key] as an integer in [min, max]: false when absent or null, or not one (counted
 * WRONG_TYPE, OUT_OF_RANGE). */
bool kubelet_json_long(const struct jtok_doc *d, int obj, const char *key, int64_t min,
		       int64_t max, int64_t *out, struct kubelet_counts *counts);

/* obj[key] as a time (kubelet_parse_time): false when absent or null, or not one (counted
 * WRONG_TYPE, BAD_TIME). */
bool kubelet_json_time(const struct jtok_doc *d, int obj, const char *key, int64_t *us,
		       struct kubelet_counts *counts);

/* obj[key] when it is an object: -1 when absent or null, or not an object (counted). */
int kubelet_json_object(const struct jtok_doc *d, int obj, const char *key,
			struct kubelet_counts *counts);

/* obj[key] unless it is absent or null: -1 then. */
int kubelet_json_member(const struct jtok_doc *d, int obj, const char *key);

/* A pod UID as a key and checkpoint token: 1 to KUBELET_UID_LEN of [A-Za-z0-9._-]. */
bool kubelet_uid_valid(const char *s, size_t len);

/* FNV-1a over n bytes, continuing from h (start with KUBELET_HASH_INIT). */
#define KUBELET_HASH_INIT 0xcbf29ce484222325ULL
uint64_t kubelet_hash(uint64_t h, const void *data, size_t n);

/* The ScrapeOutcome of an http_outcome (http_client.h), as an int to keep this header free of
 * the client's. */
enum kubelet_outcome kubelet_outcome_of(int http_outcome);

/* Encodes a SCRAPE_FAILED record and hands it to e->fn. 0 or what fn returned. */
int kubelet_emit_scrape_failed(const struct kubelet_emit *e, const char *endpoint,
			       enum kubelet_outcome outcome, long http_status, const char *error,
			       int64_t duration_ms);

/* /pods: the pods of the node, in compact form (kubelet_pods.c). */

/* One container's status. Strings are offsets into kubelet_pods.strings (0: absent). */
struct kubelet_terminated {
	bool set;
	bool has_exit_code, has_signal, has_started, has_finished;
	int32_t exit_code, signal;
	int64_t started_us, finished_us;
	uint32_t reason, container_id;
};

struct kubelet_container {
	uint32_t name, image, container_id; /* container_id without its runtime prefix */
	bool init;
	bool has_restart_count;
	int32_t restart_count;
	int8_t ready, started;          /* 1, 0, -1 = absent */
	enum kubelet_cphase phase;      /* which of the states below is set */
	uint32_t waiting_reason, waiting_message;
	bool has_running_since;
	int64_t running_since_us;
	struct kubelet_terminated terminated, last_terminated;
};

struct kubelet_pod {
	uint32_t uid, name, ns;
	uint32_t phase, reason, message; /* status.phase, .reason, .message */
	int8_t ready;                   /* the Ready condition: 1, 0, -1 = Unknown or absent */
	uint32_t ready_reason, ready_message;
	uint32_t qos_class;
	bool has_start_time;
	int64_t start_time_us;
	uint32_t first, count;          /* its containers: containers[first .. first + count) */
	uint32_t index;                 /* its place in the body (of two with one UID, the first
					 * is kept) */
};

/* Ownership: kubelet_pods_parse() fills it; kubelet_pods_free() releases it. */
struct kubelet_pods {
	struct kubelet_pod *pods;       /* sorted by UID */
	size_t npods;
	struct kubelet_container *containers; /* each pod's init containers, then the others */
	size_t ncontainers;
	char *strings;                  /* NUL-terminated strings; offset 0 is "" */
	size_t strings_len, strings_cap;
};

static inline const char *kubelet_str(const struct kubelet_pods *p, uint32_t off)
{
	return p->strings ? p->strings + off : "";
}

/* Reads a v1 PodList from the body of /pods. 0; -EBADMSG when the body is not JSON (or nests
 * deeper than KUBELET_JSON_DEPTH); -EINVAL when it is JSON but not a PodList (not an object, or
 * `items` neither an array nor null); -ENOMEM. *out is empty on failure. Pods without a usable
 * UID, duplicates and pods beyond the limits are skipped and counted. */
int kubelet_pods_parse(const char *body, size_t len, struct kubelet_pods *out,
		       struct kubelet_counts *counts);

void kubelet_pods_free(struct kubelet_pods *p);

const struct kubelet_pod *kubelet_pods_find(const struct kubelet_pods *p, const char *uid);

/* The id of container `name` of pod `uid`, or NULL when /pods did not list one. */
const char *kubelet_container_id(const struct kubelet_pods *p, const char *uid, const char *name);

/* The state changes are judged against: per pod its phase and readiness, per container what its
 * last records said. Ownership: filled by kubelet_pods_diff() or kubelet_state_parse(), released
 * by kubelet_state_free(). */
struct kubelet_cstate {
	uint64_t name_hash;
	uint64_t id_hash;      /* its container id, 0: none */
	uint64_t waiting_hash; /* the waiting reason, 0: not waiting */
	uint64_t term_hash;    /* the last termination announced (or in a snapshot), 0: none */
	int32_t restart_count; /* -1: unknown */
	uint8_t phase;         /* enum kubelet_cphase */
	bool init;
};

struct kubelet_pstate {
	char uid[KUBELET_UID_LEN + 1];
	char phase[KUBELET_PHASE_LEN + 1];
	int8_t ready;
	uint32_t first, count;
};

struct kubelet_state {
	struct kubelet_pstate *pods;      /* sorted by UID */
	size_t npods;
	struct kubelet_cstate *containers;
	size_t ncontainers;
};

/*
 * Compares `now` with `old` and emits what changed: POD_PHASE, POD_READY, CONTAINER_* per pod,
 * POD_REMOVED for pods gone; POD_STATUS_SNAPSHOT for every pod when old is NULL (no baseline:
 * new_pod false) and for each pod old does not know (new_pod true). On success *next (empty on
 * entry) is the state to judge the next poll against. 0; -ENOMEM; or what e->fn returned to stop
 * (*next is then freed).
 */
int kubelet_pods_diff(const struct kubelet_state *old, const struct kubelet_pods *now,
		      const struct kubelet_emit *e, struct kubelet_state *next);

/* A deep copy into *out (empty on entry). 0 or -ENOMEM. */
int kubelet_state_copy(const struct kubelet_state *s, struct kubelet_state *out);

void kubelet_state_free(struct kubelet_state *s);

/* The state as text for a checkpoint: malloc'd (the caller frees it), *len set; NULL on ENOMEM. */
char *kubelet_state_serialize(const struct kubelet_state *s, size_t *len);

/* Reads what kubelet_state_serialize() wrote. 0 with *out filled (empty on entry); -EINVAL when
 * the bytes are not such a state (nothing kept); -ENOMEM. */
int kubelet_state_parse(const char *buf, size_t len, struct kubelet_state *out);

/* /stats/summary (kubelet_map.c). */

/* What the Summary alone does not say. */
struct kubelet_scrape {
	const struct kubelet_pods *pods; /* container ids of the latest /pods; NULL: none */
	int64_t duration_ms;             /* of the /stats/summary request */
	int32_t missed_intervals;        /* scrapes skipped before this one (the schedule) */
};

/*
 * Emits POD_STATS per pod of a stats/v1alpha1 Summary (the body of /stats/summary), then
 * NODE_STATS. The number of records emitted; -EBADMSG when the body is not JSON; -EINVAL when it
 * is not a Summary (not an object, or no `node` object); -ENOMEM (nothing emitted then); or what
 * e->fn returned to stop.
 */
int kubelet_map_summary(const char *body, size_t len, const struct kubelet_scrape *s,
			const struct kubelet_emit *e);

#endif /* TAPIO_KUBELET_COLLECTOR_H */
