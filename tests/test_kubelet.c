/*
 * Collector `kubelet`: the pure mappers against golden bytes written by an independent
 * implementation (tests/golden/kubelet.py, python3-avro) and decoded by avro-c; the state-change
 * rules; the checkpoint state; hostile JSON; then the collector itself through the real pipeline
 * to librdkafka's mock cluster, against the stand-in kubelet (integration/standins, driven by
 * tests/kubelet_standin.py): TLS with a test CA, a bearer token, 401 and 403, a slow response,
 * a cut body, a body over the limit, exact figures, a restart, an OOM kill, a producer restart.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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
#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "avro_json.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "kubelet_collector.h"
#include "pipeline.h"
#include "schema.h"

#include "golden/kubelet.inc"

extern const struct collector_ops kubelet_collector;

/* Records an emit function received. */
struct captured {
	struct handoff_meta meta;
	char key[HANDOFF_KEY_MAX];
	size_t key_len;
	uint8_t *body;
	size_t len;
};

struct capture {
	struct captured rec[2048];
	size_t n;
	int stop_after; /* return -ECANCELED for record number stop_after (1-based); 0 = never */
};

static int capture_fn(void *ctx, const struct handoff_meta *meta, const char *key, size_t key_len,
		      const void *body, size_t body_len)
{
	struct capture *cap = ctx;
	struct captured *r;

	if (cap->stop_after && (int)cap->n + 1 == cap->stop_after)
		return -ECANCELED;
	assert_true(cap->n < sizeof(cap->rec) / sizeof(cap->rec[0]));
	assert_true(key_len < sizeof(r->key));
	r = &cap->rec[cap->n++];
	r->meta = *meta;
	memcpy(r->key, key, key_len);
	r->key[key_len] = '\0';
	r->key_len = key_len;
	r->body = malloc(body_len);
	assert_non_null(r->body);
	memcpy(r->body, body, body_len);
	r->len = body_len;
	return 0;
}

static void capture_reset(struct capture *cap)
{
	for (size_t i = 0; i < cap->n; i++)
		free(cap->rec[i].body);
	cap->n = 0;
}

static uint8_t scratch[HANDOFF_BODY_MAX];
static struct kubelet_counts counts;

static struct kubelet_emit emitter(struct capture *cap)
{
	memset(&counts, 0, sizeof(counts));
	return (struct kubelet_emit){ .node = "node-a", .observed_us = GOLDEN_OBSERVED_US,
				      .buf = scratch, .cap = sizeof(scratch), .fn = capture_fn,
				      .ctx = cap, .counts = &counts };
}

static json_t *parse(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &err);

	if (!v)
		fail_msg("test JSON: %s at %d", err.text, err.position);
	return v;
}

/* The mappers read bytes: a tree built or changed here goes to them as text. */
static int map_summary_json(const json_t *v, const struct kubelet_scrape *s,
			    const struct kubelet_emit *e)
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	int n;

	assert_non_null(text);
	n = kubelet_map_summary(text, strlen(text), s, e);
	free(text);
	return n;
}

static int pods_parse_json(const json_t *v, struct kubelet_pods *pods)
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	int err;

	assert_non_null(text);
	err = kubelet_pods_parse(text, strlen(text), pods, &counts);
	free(text);
	return err;
}

/* The envelope the golden records carry, then the record's own fields. */
static void assert_golden(const struct captured *r, const uint8_t *golden, size_t golden_len)
{
	static uint8_t buf[HANDOFF_BODY_MAX + 1024];
	struct envelope env = {
		.event_time_us = r->meta.event_time_us, .seq = 7, .run = 1764000000000000,
		.node = "node-a", .cgroup_id = r->meta.cgroup_id, .pod_uid = r->meta.pod_uid,
		.container_id = r->meta.container_id,
	};
	struct avro_buf b;

	avro_buf_init(&b, buf, sizeof(buf));
	avro_put_envelope(&b, r->meta.kind, &env);
	avro_put_raw(&b, r->body, r->len);
	assert_false(b.overflow);
	if (b.len != golden_len || memcmp(b.data, golden, golden_len) != 0) {
		size_t i = 0;

		while (i < b.len && i < golden_len && b.data[i] == golden[i])
			i++;
		fail_msg("record differs from golden at byte %zu (ours %zu bytes, golden %zu)", i,
			 b.len, golden_len);
	}
}

/* The captured record of `kind` (the n-th one of it, from 0). */
static const struct captured *find_kind(const struct capture *cap, int kind, int n)
{
	for (size_t i = 0; i < cap->n; i++)
		if (cap->rec[i].meta.kind == kind && n-- == 0)
			return &cap->rec[i];
	return NULL;
}

static size_t count_kind(const struct capture *cap, int kind)
{
	size_t n = 0;

	for (size_t i = 0; i < cap->n; i++)
		n += cap->rec[i].meta.kind == kind;
	return n;
}

/* Parses a PodList and diffs it against *state (NULL: none), replacing *state. */
static void poll_pods(const char *podlist, struct kubelet_state *state, bool have_state,
		      struct capture *cap, struct kubelet_pods *keep)
{
	struct kubelet_emit e = emitter(cap);
	struct kubelet_pods pods;
	struct kubelet_state next;

	assert_int_equal(kubelet_pods_parse(podlist, strlen(podlist), &pods, &counts), 0);
	assert_int_equal(kubelet_pods_diff(have_state ? state : NULL, &pods, &e, &next), 0);
	kubelet_state_free(state);
	*state = next;
	if (keep)
		*keep = pods;
	else
		kubelet_pods_free(&pods);
}

/* Golden records */

static void test_summary_golden(void **unused)
{
	struct capture *cap = calloc(1, sizeof(*cap));
	struct kubelet_state state = { 0 };
	struct kubelet_pods pods;
	struct kubelet_scrape s = { .pods = &pods, .duration_ms = 42, .missed_intervals = 2 };
	struct kubelet_emit e;

	(void)unused;
	/* /pods first: the app container's id joins its stats. */
	poll_pods(input_pods_after, &state, false, cap, &pods);
	capture_reset(cap);
	e = emitter(cap);
	assert_int_equal(kubelet_map_summary(input_summary, strlen(input_summary), &s, &e), 2);
	assert_int_equal(cap->n, 2);
	assert_int_equal(cap->rec[0].meta.kind, KUBELET_POD_STATS);
	assert_string_equal(cap->rec[0].key, GOLDEN_UID);
	assert_string_equal(cap->rec[0].meta.pod_uid, GOLDEN_UID);
	assert_string_equal(cap->rec[0].meta.container_id, "");
	assert_golden(&cap->rec[0], golden_pod_stats, sizeof(golden_pod_stats));
	assert_int_equal(cap->rec[1].meta.kind, KUBELET_NODE_STATS);
	assert_string_equal(cap->rec[1].key, "node-a/node");
	assert_string_equal(cap->rec[1].meta.pod_uid, "");
	assert_golden(&cap->rec[1], golden_node_stats, sizeof(golden_node_stats));
	/* Nothing in the input was out of place. */
	for (int r = 0; r < KUBELET_SKIP_MAX; r++)
		assert_int_equal(counts.n[r], 0);
	kubelet_pods_free(&pods);
	kubelet_state_free(&state);
	capture_reset(cap);
	free(cap);
}

static void test_scrape_failed_golden(void **unused)
{
	struct capture *cap = calloc(1, sizeof(*cap));
	struct kubelet_emit e = emitter(cap);

	(void)unused;
	assert_int_equal(kubelet_emit_scrape_failed(&e, "/stats/summary", KUBELET_OUTCOME_HTTP_4XX,
						    403, "HTTP 403: Forbidden (user=system:service"
						    "account:tapio:tapio, verb=get, resource=nodes,"
						    " subresource=stats)", 3), 0);
	assert_int_equal(cap->n, 1);
	assert_string_equal(cap->rec[0].key, "node-a/node");
	assert_golden(&cap->rec[0], golden_scrape_failed, sizeof(golden_scrape_failed));
	capture_reset(cap);
	free(cap);
}

/* The first poll: a snapshot per pod. The next: what changed, in the order it happened; a
 * termination seen only in lastState is published as it was. Nothing secret is in any record. */
static void test_state_changes_golden(void **unused)
{
	struct capture *cap = calloc(1, sizeof(*cap));
	struct kubelet_state state = { 0 };

	(void)unused;
	poll_pods(input_pods_before, &state, false, cap, NULL);
	assert_int_equal(cap->n, 1);
	assert_string_equal(cap->rec[0].key, GOLDEN_UID);
	assert_golden(&cap->rec[0], golden_snapshot, sizeof(golden_snapshot));
	capture_reset(cap);

	poll_pods(input_pods_after, &state, true, cap, NULL);
	assert_int_equal(cap->n, 4);
	assert_int_equal(cap->rec[0].meta.kind, KUBELET_POD_READY);
	assert_golden(&cap->rec[0], golden_ready, sizeof(golden_ready));
	assert_int_equal(cap->rec[1].meta.kind, KUBELET_CONTAINER_TERMINATED);
	assert_string_equal(cap->rec[1].meta.container_id, GOLDEN_CID_OLD);
	assert_golden(&cap->rec[1], golden_oom_terminated, sizeof(golden_oom_terminated));
	assert_int_equal(cap->rec[2].meta.kind, KUBELET_CONTAINER_RESTARTED);
	assert_string_equal(cap->rec[2].meta.container_id, GOLDEN_CID_APP);
	assert_golden(&cap->rec[2], golden_restarted, sizeof(golden_restarted));
	assert_ptr_equal(find_kind(cap, KUBELET_CONTAINER_WAITING, 0), &cap->rec[3]);
	assert_golden(&cap->rec[3], golden_waiting, sizeof(golden_waiting));
	for (size_t i = 0; i < cap->n; i++)
		assert_null(memmem(cap->rec[i].body, cap->rec[i].len, "hunter2", 7));
	capture_reset(cap);

	/* The same again: nothing changed, nothing published. */
	poll_pods(input_pods_after, &state, true, cap, NULL);
	assert_int_equal(cap->n, 0);

	poll_pods(input_pods_failed, &state, true, cap, NULL);
	assert_int_equal(cap->n, 1);
	assert_golden(&cap->rec[0], golden_phase, sizeof(golden_phase));
	capture_reset(cap);

	poll_pods("{\"kind\":\"PodList\",\"items\":null}", &state, true, cap, NULL);
	assert_int_equal(cap->n, 1);
	assert_golden(&cap->rec[0], golden_removed, sizeof(golden_removed));
	assert_int_equal(state.npods, 0);
	capture_reset(cap);
	kubelet_state_free(&state);
	free(cap);
}

/* Every golden record also decodes with avro-c (the producer's own tapio-tail decoder). */
static void test_golden_decode_with_avro_c(void **unused)
{
	static const struct { const uint8_t *data; size_t len; const char *kind; } cases[] = {
		{ golden_pod_stats, sizeof(golden_pod_stats), "POD_STATS" },
		{ golden_node_stats, sizeof(golden_node_stats), "NODE_STATS" },
		{ golden_snapshot, sizeof(golden_snapshot), "POD_STATUS_SNAPSHOT" },
		{ golden_restarted, sizeof(golden_restarted), "CONTAINER_RESTARTED" },
		{ golden_scrape_failed, sizeof(golden_scrape_failed), "SCRAPE_FAILED" },
	};
	const struct tapio_schema *schema = schema_find("kubelet");
	struct avro_json_decoder *dec;
	uint8_t framed[8192];
	uint64_t fp;
	char errstr[256];
	const char *name;
	json_t *rec;

	(void)unused;
	assert_non_null(schema);
	assert_int_equal(schema_fingerprint(schema->json, &fp, errstr, sizeof(errstr)), 0);
	assert_int_equal(avro_json_decoder_new(tapio_schemas, tapio_schema_count, &dec, errstr,
					       sizeof(errstr)), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		avro_single_object_header(fp, framed);
		assert_true(cases[i].len + 10 <= sizeof(framed));
		memcpy(framed + 10, cases[i].data, cases[i].len);
		if (avro_json_decode(dec, "tapio.kubelet", framed, cases[i].len + 10, &rec, &name,
				     errstr, sizeof(errstr)))
			fail_msg("%s: %s", cases[i].kind, errstr);
		assert_string_equal(json_string_value(json_object_get(rec, "kind")), cases[i].kind);
		json_decref(rec);
	}
	avro_json_decoder_free(dec);
}

/* State-change rules */

/* A PodList of one pod whose container "app" has the given state JSON, restart count and id. */
static char *podlist(const char *phase, const char *state, int restarts, const char *id,
		     const char *last)
{
	char *text;

	assert_true(asprintf(&text,
			     "{\"kind\":\"PodList\",\"items\":[{\"metadata\":{\"name\":\"p\","
			     "\"namespace\":\"n\",\"uid\":\"%s\"},\"status\":{\"phase\":\"%s\","
			     "\"containerStatuses\":[{\"name\":\"app\",\"state\":%s,"
			     "\"lastState\":%s,\"restartCount\":%d%s%s%s}]}}]}",
			     GOLDEN_UID, phase, state, last ? last : "{}", restarts,
			     id ? ",\"containerID\":\"containerd://" : "", id ? id : "",
			     id ? "\"" : "") > 0);
	return text;
}

#define RUNNING "{\"running\":{\"startedAt\":\"2025-11-24T15:00:00Z\"}}"
#define CRASHLOOP "{\"waiting\":{\"reason\":\"CrashLoopBackOff\",\"message\":\"back-off 10s\"}}"
#define CRASHLOOP_LONGER \
	"{\"waiting\":{\"reason\":\"CrashLoopBackOff\",\"message\":\"back-off 20s\"}}"
#define LAST_ERROR(id) "{\"terminated\":{\"exitCode\":2,\"reason\":\"Error\",\"finishedAt\":" \
		       "\"2025-11-24T15:01:00Z\",\"containerID\":\"containerd://" id "\"}}"

/* A crash loop: each restart is one RESTARTED and one TERMINATED, the back-off one WAITING
 * whose message changes are not news; running again is RUNNING. */
static void test_crash_loop(void **unused)
{
	struct capture *cap = calloc(1, sizeof(*cap));
	struct kubelet_state state = { 0 };
	char *a = podlist("Running", RUNNING, 0, "aa", NULL);
	char *b = podlist("Running", CRASHLOOP, 1, NULL, LAST_ERROR("aa"));
	char *b2 = podlist("Running", CRASHLOOP_LONGER, 1, NULL, LAST_ERROR("aa"));
	char *c = podlist("Running", RUNNING, 1, "bb", LAST_ERROR("aa"));
	char *d = podlist("Running", RUNNING, 2, "cc", LAST_ERROR("bb"));

	(void)unused;
	poll_pods(a, &state, false, cap, NULL);
	assert_int_equal(count_kind(cap, KUBELET_POD_STATUS_SNAPSHOT), 1);
	capture_reset(cap);
	poll_pods(b, &state, true, cap, NULL);
	assert_int_equal(cap->n, 3);
	assert_int_equal(cap->rec[0].meta.kind, KUBELET_CONTAINER_TERMINATED);
	assert_string_equal(cap->rec[0].meta.container_id, "aa");
	assert_int_equal(cap->rec[1].meta.kind, KUBELET_CONTAINER_RESTARTED);
	assert_int_equal(cap->rec[2].meta.kind, KUBELET_CONTAINER_WAITING);
	capture_reset(cap);
	poll_pods(b2, &state, true, cap, NULL);
	assert_int_equal(cap->n, 0);
	poll_pods(c, &state, true, cap, NULL);
	assert_int_equal(cap->n, 1);
	assert_int_equal(cap->rec[0].meta.kind, KUBELET_CONTAINER_RUNNING);
	assert_string_equal(cap->rec[0].meta.container_id, "bb");
	capture_reset(cap);
	/* Restarted again between two polls: exactly one RESTARTED, one TERMINATED. */
	poll_pods(d, &state, true, cap, NULL);
	assert_int_equal(cap->n, 2);
	assert_int_equal(count_kind(cap, KUBELET_CONTAINER_TERMINATED), 1);
	assert_int_equal(count_kind(cap, KUBELET_CONTAINER_RESTARTED), 1);
	capture_reset(cap);
	kubelet_state_free(&state);
	free(a);
	free(b);
	free(b2);
	free(c);
	free(d);
	free(cap);
}

/* A container that stays terminated: one TERMINATED, then nothing; after its restart the same
 * termination (now its lastState) is not announced again. */
static void test_termination_announced_once(void **unused)
{
	struct capture *cap = calloc(1, sizeof(*cap));
	struct kubelet_state state = { 0 };
	char *a = podlist("Running", RUNNING, 0, "aa", NULL);
	char *b = podlist("Running", "{\"terminated\":{\"exitCode\":0,\"signal\":15,\"reason\":"
			  "\"Completed\",\"containerID\":\"containerd://aa\"}}", 0, "aa", NULL);
	char *c = podlist("Running", RUNNING, 1, "bb",
			  "{\"terminated\":{\"exitCode\":0,\"signal\":15,\"reason\":\"Completed\","
			  "\"containerID\":\"containerd://aa\"}}");

	(void)unused;
	poll_pods(a, &state, false, cap, NULL);
	capture_reset(cap);
	poll_pods(b, &state, true, cap, NULL);
	assert_int_equal(cap->n, 1);
	assert_int_equal(cap->rec[0].meta.kind, KUBELET_CONTAINER_TERMINATED);
	capture_reset(cap);
	poll_pods(b, &state, true, cap, NULL);
	assert_int_equal(cap->n, 0);
	poll_pods(c, &state, true, cap, NULL);
	assert_int_equal(cap->n, 1);
	assert_int_equal(cap->rec[0].meta.kind, KUBELET_CONTAINER_RESTARTED);
	capture_reset(cap);
	kubelet_state_free(&state);
	free(a);
	free(b);
	free(c);
	free(cap);
}

/* A pod that appears after the first poll gets a snapshot with new_pod set; the state survives
 * a trip through its checkpoint text, so a restart announces nothing that did not change. */
static void test_state_roundtrip_and_new_pod(void **unused)
{
	struct capture *cap = calloc(1, sizeof(*cap));
	struct kubelet_state state = { 0 }, back;
	char *text, *again;
	size_t len, len2;

	(void)unused;
	poll_pods("{\"items\":[]}", &state, false, cap, NULL);
	assert_int_equal(cap->n, 0);
	poll_pods(input_pods_before, &state, true, cap, NULL);
	assert_int_equal(cap->n, 1);
	assert_int_equal(cap->rec[0].meta.kind, KUBELET_POD_STATUS_SNAPSHOT);
	capture_reset(cap);
	poll_pods(input_pods_after, &state, true, cap, NULL);
	capture_reset(cap);

	text = kubelet_state_serialize(&state, &len);
	assert_non_null(text);
	assert_int_equal(kubelet_state_parse(text, len, &back), 0);
	again = kubelet_state_serialize(&back, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(text, again, len);
	/* The restarted producer judges the same PodList against the checkpointed state. */
	poll_pods(input_pods_after, &back, true, cap, NULL);
	assert_int_equal(cap->n, 0);
	poll_pods(input_pods_failed, &back, true, cap, NULL);
	assert_int_equal(cap->n, 1);
	assert_int_equal(cap->rec[0].meta.kind, KUBELET_POD_PHASE);
	capture_reset(cap);

	/* Every cut of the text, and a changed byte, is refused whole. */
	for (size_t cut = 0; cut < len; cut++) {
		struct kubelet_state s;

		assert_int_equal(kubelet_state_parse(text, cut, &s), -EINVAL);
	}
	for (size_t i = 0; i < len; i++) {
		struct kubelet_state s;
		char saved = text[i];

		text[i] = text[i] == '\n' ? ' ' : '\n';
		if (kubelet_state_parse(text, len, &s) == 0)
			kubelet_state_free(&s);
		text[i] = saved;
	}
	free(text);
	free(again);
	kubelet_state_free(&state);
	kubelet_state_free(&back);
	free(cap);
}

/* A stop asked for by the emit function ends the diff at once with its error. */
static void test_emit_stop_is_passed_on(void **unused)
{
	struct capture *cap = calloc(1, sizeof(*cap));
	struct kubelet_emit e = emitter(cap);
	struct kubelet_pods pods;
	struct kubelet_state next;
	struct kubelet_scrape s = { 0 };

	(void)unused;
	cap->stop_after = 1;
	assert_int_equal(kubelet_map_summary(input_summary, strlen(input_summary), &s, &e),
			 -ECANCELED);
	assert_int_equal(kubelet_pods_parse(input_pods_before, strlen(input_pods_before), &pods,
					    &counts), 0);
	assert_int_equal(kubelet_pods_diff(NULL, &pods, &e, &next), -ECANCELED);
	assert_null(next.pods);
	kubelet_pods_free(&pods);
	free(cap);
}

/* Helpers */

static void test_parse_time(void **unused)
{
	static const struct { const char *s; int64_t us; } good[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2025-11-24T16:00:05.250Z", 1764000005250000 },
		{ "2025-11-24T16:00:05.1234567891Z", 1764000005123456 },
		{ "2025-11-24T18:00:05+02:00", 1764000005000000 },
		{ "2024-02-29T00:00:00z", 1709164800000000 },
		{ "1969-12-31T23:59:59Z", -1000000 },
	};
	static const char *const bad[] = {
		"", "2025", "2025-11-24", "2025-11-24T16:00:05", "2025-11-24 16:00:05Z",
		"2025-13-01T00:00:00Z", "2025-02-29T00:00:00Z", "2025-11-24T24:00:00Z",
		"2025-11-24T16:00:05.Z", "2025-11-24T16:00:05Zjunk", "2025-11-24T16:00:05+0200",
		"２025-11-24T16:00:05Z", "2025-11-24T16:00:60Z",
	};
	int64_t us;

	(void)unused;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!kubelet_parse_time(good[i].s, &us))
			fail_msg("%s refused", good[i].s);
		assert_int_equal(us, good[i].us);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (kubelet_parse_time(bad[i], &us))
			fail_msg("%s accepted", bad[i]);
}

static void test_strip_runtime(void **unused)
{
	char out[KUBELET_ID_LEN + 1], longer[300];

	(void)unused;
	assert_true(kubelet_strip_runtime("containerd://abc", out, sizeof(out)));
	assert_string_equal(out, "abc");
	assert_true(kubelet_strip_runtime("cri-o://def", out, sizeof(out)));
	assert_string_equal(out, "def");
	assert_true(kubelet_strip_runtime("ghi", out, sizeof(out)));
	assert_string_equal(out, "ghi");
	assert_false(kubelet_strip_runtime("docker://", out, sizeof(out)));
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	assert_false(kubelet_strip_runtime(longer, out, sizeof(out)));
}

/* The bodies as JSON */

/* What the tokenizer (kubeapi's json_tok.c) hands the mappers: escapes decoded, integers to 64
 * bits, the rest counted; a body cut anywhere refused whole. */
static void test_json_values(void **unused)
{
	struct capture *cap = calloc(1, sizeof(*cap));
	struct kubelet_scrape sc = { 0 };
	struct kubelet_emit em = emitter(cap);
	struct kubelet_pods pods;
	static const char escaped[] =
		"{\"items\":[{\"metadata\":{\"uid\":\"u1\",\"n\\u0061me\":\"caf\\u00e9 \\ud83d\\ude00\","
		"\"namespace\":\"a\\\"b\"},\"status\":{\"phase\":\"Running\"}}]}";
	static const char big[] = "{\"node\":{\"cpu\":{\"usageNanoCores\":18446744073709551615,"
				  "\"usageCoreNanoSeconds\":1.5}},\"pods\":[]}";

	(void)unused;
	assert_int_equal(kubelet_pods_parse(escaped, sizeof(escaped) - 1, &pods, &counts), 0);
	assert_int_equal(pods.npods, 1);
	assert_string_equal(kubelet_str(&pods, pods.pods[0].name), "caf\xc3\xa9 \xf0\x9f\x98\x80");
	assert_string_equal(kubelet_str(&pods, pods.pods[0].ns), "a\"b");
	kubelet_pods_free(&pods);
	/* Larger than any integer, or not one: null, counted by reason. */
	assert_int_equal(kubelet_map_summary(big, sizeof(big) - 1, &sc, &em), 1);
	assert_int_equal(counts.n[KUBELET_SKIP_OUT_OF_RANGE], 1);
	assert_int_equal(counts.n[KUBELET_SKIP_WRONG_TYPE], 1);
	capture_reset(cap);
	/* Every cut of a real body is refused whole (a cut body is JSON's failure). */
	for (size_t len = 0; len < strlen(input_pods_before) - 1; len++)
		assert_int_equal(kubelet_pods_parse(input_pods_before, len, &pods, &counts),
				 -EBADMSG);
	for (size_t len = 0; len < strlen(input_summary) - 1; len += 7)
		assert_int_equal(kubelet_map_summary(input_summary, len, &sc, &em), -EBADMSG);
	assert_int_equal(cap->n, 0);
	free(cap);
}

/* Hostile JSON */

/* Every value of a realistic Summary replaced, one at a time, by each wrong type: the mapper
 * publishes what it can, counts what it cannot, and never crashes. */
static void replace_each(json_t *root, json_t *node, struct capture *cap, size_t *variants)
{
	static const char *const wrong[] = { "\"x\"", "-1", "1.5", "true", "null", "[]", "{}",
					     "18446744073709551615e0", "[[[[[[[[]]]]]]]]" };
	const char *key;
	json_t *value, *tmp;
	size_t i;

	if (json_is_object(node)) {
		json_object_foreach_safe(node, tmp, key, value) {
			json_incref(value);
			for (size_t w = 0; w < sizeof(wrong) / sizeof(wrong[0]); w++) {
				struct kubelet_scrape s = { 0 };
				struct kubelet_emit e = emitter(cap);
				int n;

				json_object_set_new(node, key, parse(wrong[w]));
				n = map_summary_json(root, &s, &e);
				assert_true(n >= 0 || n == -EINVAL);
				capture_reset(cap);
				(*variants)++;
			}
			json_object_set(node, key, value);
			replace_each(root, value, cap, variants);
			json_decref(value);
		}
	} else if (json_is_array(node)) {
		json_array_foreach(node, i, value)
			replace_each(root, value, cap, variants);
	}
}

static void test_hostile_summary(void **unused)
{
	struct capture *cap = calloc(1, sizeof(*cap));
	json_t *v = parse(input_summary), *pods, *pod, *containers;
	struct kubelet_scrape s = { 0 };
	struct kubelet_emit e;
	size_t variants = 0;
	int n;

	(void)unused;
	replace_each(v, v, cap, &variants);
	assert_true(variants > 500);

	/* Not a Summary at all. */
	e = emitter(cap);
	{
		json_t *bad = parse("{\"pods\":[]}"), *arr = json_array();

		assert_int_equal(map_summary_json(arr, &s, &e), -EINVAL);
		assert_int_equal(map_summary_json(bad, &s, &e), -EINVAL);
		assert_int_equal(kubelet_map_summary("{\"node\":{}", 11, &s, &e), -EBADMSG);
		json_decref(bad);
		json_decref(arr);
	}

	/* Wrong types are null, counted. */
	e = emitter(cap);
	pods = json_object_get(v, "pods");
	pod = json_array_get(pods, 0);
	json_object_set_new(json_object_get(pod, "cpu"), "usageCoreNanoSeconds",
			    json_string("12"));
	json_object_set_new(json_object_get(pod, "memory"), "usageBytes", json_integer(-5));
	json_object_set_new(json_object_get(pod, "cpu"), "time", json_string("yesterday"));
	json_array_append_new(pods, json_string("not a pod"));
	json_array_append_new(pods, parse("{\"podRef\":{\"uid\":\"has space\"}}"));
	json_array_append_new(pods, parse("{\"podRef\":{}}"));
	n = map_summary_json(v, &s, &e);
	assert_int_equal(n, 2);
	assert_int_equal(counts.n[KUBELET_SKIP_WRONG_TYPE], 1);
	assert_int_equal(counts.n[KUBELET_SKIP_OUT_OF_RANGE], 1);
	assert_int_equal(counts.n[KUBELET_SKIP_BAD_TIME], 1);
	assert_int_equal(counts.n[KUBELET_SKIP_MALFORMED], 1);
	assert_int_equal(counts.n[KUBELET_SKIP_BAD_UID], 2);
	capture_reset(cap);

	/* A huge array: the first 64 containers, the record says truncated; 10000 interfaces. */
	containers = json_object_get(pod, "containers");
	for (int i = 0; i < 2000; i++) {
		char name[32];

		snprintf(name, sizeof(name), "c%d", i);
		json_array_append_new(containers, json_pack("{s:s,s:{s:i}}", "name", name, "cpu",
							    "usageNanoCores", i));
	}
	e = emitter(cap);
	assert_int_equal(map_summary_json(v, &s, &e), 2);
	assert_int_equal(counts.n[KUBELET_SKIP_TOO_MANY], 2002 - KUBELET_POD_CONTAINERS_MAX);
	assert_true(cap->rec[0].len < HANDOFF_BODY_MAX);
	capture_reset(cap);

	/* Deep nesting where a number belongs: a wrong type; deeper than the reader goes (no
	 * kubelet nests like this): the body is refused (the scrape fails as JSON). */
	{
		char deep[4096 + 8], shallow[400 + 1];

		memset(deep, '[', 2000);
		memset(deep + 2000, ']', 2000);
		deep[4000] = '\0';

		memset(shallow, '[', 200);
		memset(shallow + 200, ']', 200);
		shallow[400] = '\0';
		json_object_set_new(json_object_get(pod, "memory"), "rssBytes", parse(shallow));
		e = emitter(cap);
		assert_int_equal(map_summary_json(v, &s, &e), 2);
		assert_true(counts.n[KUBELET_SKIP_WRONG_TYPE] >= 1);
		json_object_set_new(json_object_get(pod, "memory"), "rssBytes", parse(deep));
		assert_int_equal(map_summary_json(v, &s, &e), -EBADMSG);
		json_object_set_new(json_object_get(pod, "memory"), "rssBytes", json_integer(5));
		capture_reset(cap);
	}

	/* A record too large for the hand-off: long volume names, many of them. */
	{
		json_t *vols = json_array();
		char name[300];

		memset(name, 'v', sizeof(name) - 1);
		name[sizeof(name) - 1] = '\0';
		for (int i = 0; i < 64; i++)
			json_array_append_new(vols, json_pack("{s:s,s:{s:s,s:s}}", "name", name,
							      "pvcRef", "name", name, "namespace",
							      name));
		json_object_set_new(pod, "volume", vols);
		for (size_t i = 0; i < json_array_size(containers); i++)
			json_object_set_new(json_array_get(containers, i), "name",
					    json_string(name));
		e = emitter(cap);
		assert_int_equal(map_summary_json(v, &s, &e), 1); /* the node's only */
		assert_int_equal(counts.n[KUBELET_SKIP_TOO_LARGE], 1);
		assert_true(counts.n[KUBELET_SKIP_TRUNCATED] > 0);
		capture_reset(cap);
	}
	json_decref(v);
	free(cap);
}

static void replace_each_pods(json_t *root, json_t *node, struct capture *cap, size_t *variants)
{
	static const char *const wrong[] = { "\"x\"", "-1", "1.5", "true", "null", "[]", "{}",
					     "\"containerd://\"", "\"Running Pod\"" };
	const char *key;
	json_t *value, *tmp;
	size_t i;

	if (json_is_object(node)) {
		json_object_foreach_safe(node, tmp, key, value) {
			json_incref(value);
			for (size_t w = 0; w < sizeof(wrong) / sizeof(wrong[0]); w++) {
				struct kubelet_emit e = emitter(cap);
				struct kubelet_pods pods;
				struct kubelet_state a = { 0 }, b = { 0 };

				json_object_set_new(node, key, parse(wrong[w]));
				if (pods_parse_json(root, &pods) == 0) {
					assert_int_equal(kubelet_pods_diff(NULL, &pods, &e, &a), 0);
					assert_int_equal(kubelet_pods_diff(&a, &pods, &e, &b), 0);
					kubelet_pods_free(&pods);
				}
				kubelet_state_free(&a);
				kubelet_state_free(&b);
				capture_reset(cap);
				(*variants)++;
			}
			json_object_set(node, key, value);
			replace_each_pods(root, value, cap, variants);
			json_decref(value);
		}
	} else if (json_is_array(node)) {
		json_array_foreach(node, i, value)
			replace_each_pods(root, value, cap, variants);
	}
}

static void test_hostile_pods(void **unused)
{
	struct capture *cap = calloc(1, sizeof(*cap));
	json_t *v = parse(input_pods_after), *items;
	struct kubelet_pods pods;
	size_t variants = 0;

	(void)unused;
	replace_each_pods(v, v, cap, &variants);
	assert_true(variants > 500);

	assert_int_equal(kubelet_pods_parse("\"x\"", 3, &pods, &counts), -EINVAL);
	assert_int_equal(kubelet_pods_parse("{\"items\":{}}", 12, &pods, &counts), -EINVAL);
	assert_int_equal(kubelet_pods_parse("{\"items\":[", 10, &pods, &counts), -EBADMSG);
	/* Duplicates, a missing UID, non-objects, a pod with 1000 containers. */
	items = json_object_get(v, "items");
	json_array_append(items, json_array_get(items, 0));
	json_array_append_new(items, parse("{\"metadata\":{}}"));
	json_array_append_new(items, json_integer(5));
	{
		json_t *big = json_deep_copy(json_array_get(items, 0)), *st;

		json_object_set_new(json_object_get(big, "metadata"), "uid", json_string("big"));
		st = json_object_get(json_object_get(big, "status"), "containerStatuses");
		for (int i = 0; i < 1000; i++) {
			char name[16];

			snprintf(name, sizeof(name), "x%d", i);
			json_array_append_new(st, json_pack("{s:s}", "name", name));
		}
		/* A name twice in one pod: the second is not that container. */
		json_array_insert_new(st, 1, json_pack("{s:s}", "name", "app"));
		json_array_append_new(items, big);
	}
	memset(&counts, 0, sizeof(counts));
	assert_int_equal(pods_parse_json(v, &pods), 0);
	assert_int_equal(pods.npods, 2);
	assert_int_equal(counts.n[KUBELET_SKIP_DUPLICATE], 1 + 1);
	assert_int_equal(counts.n[KUBELET_SKIP_BAD_UID], 1);
	assert_int_equal(counts.n[KUBELET_SKIP_MALFORMED], 1);
	assert_int_equal(counts.n[KUBELET_SKIP_TOO_MANY], 1004 - 1 - KUBELET_POD_CONTAINERS_MAX);
	assert_int_equal(kubelet_pods_find(&pods, "big")->count, KUBELET_POD_CONTAINERS_MAX);
	kubelet_pods_free(&pods);
	json_decref(v);
	free(cap);
}

static void test_hostile_state(void **unused)
{
	static const char *const bad[] = {
		"",
		"tapio-kubelet-state 1 1 0\n",
		"tapio-kubelet-state 2 0 0\n",
		"tapio-kubelet-state 1 0 0",
		"tapio-kubelet-state 1 0 0\nextra\n",
		"tapio-kubelet-state 1 1 0\np bad/uid 1 0 Running\n",
		"tapio-kubelet-state 1 1 0\np u 2 0 Running\n",
		"tapio-kubelet-state 1 1 1\np u 1 2 Running\nc 0 2 0 0000000000000001 "
		"0000000000000000 0000000000000000 0000000000000000\n",
		"tapio-kubelet-state 1 1 1\np u 1 1 Running\nc 0 9 0 0000000000000001 "
		"0000000000000000 0000000000000000 0000000000000000\n",
		"tapio-kubelet-state 1 1 1\np u 1 1 Running\nc 0 2 99999999999999999999 "
		"0000000000000001 0000000000000000 0000000000000000 0000000000000000\n",
		"tapio-kubelet-state 1 1 1\np u 1 1 Running\nc 0 2 0 000000000000000g "
		"0000000000000000 0000000000000000 0000000000000000\n",
		"tapio-kubelet-state 1 2 0\np b 1 0 Running\np a 1 0 Running\n",
		"tapio-kubelet-state 1 1 0\np u 1 0 Run-ning\n",
		"tapio-kubelet-state 1 99999 0\n",
	};
	static const char good[] =
		"tapio-kubelet-state 1 2 1\np a 1 1 Running\nc 1 3 0 0000000000000001 "
		"0000000000000002 0000000000000000 00000000000000ff\np b -1 0 -\n";
	struct kubelet_state s;

	(void)unused;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (kubelet_state_parse(bad[i], strlen(bad[i]), &s) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
	assert_int_equal(kubelet_state_parse(good, sizeof(good) - 1, &s), 0);
	assert_int_equal(s.npods, 2);
	assert_int_equal(s.ncontainers, 1);
	assert_string_equal(s.pods[0].phase, "Running");
	assert_string_equal(s.pods[1].phase, "");
	assert_int_equal(s.pods[1].ready, -1);
	assert_int_equal(s.containers[0].term_hash, 0xff);
	assert_int_equal(s.containers[0].phase, KUBELET_CPHASE_TERMINATED);
	assert_true(s.containers[0].init);
	kubelet_state_free(&s);
}

/* Broker tier: the collector through the real pipeline against the stand-in kubelet */

#define STANDIN "tests/kubelet_standin.py"
#define PYTHON "/usr/bin/python3"
#define TOKEN "kubelet-test-token-5e1f"

/* The stand-in (tests/kubelet_standin.py): a child process, one JSON line per command. */
struct standin {
	pid_t pid;
	FILE *in, *out;
	json_t *hello; /* url, ca, pods */
};

static json_t *read_answer(struct standin *k)
{
	struct pollfd pfd = { .fd = fileno(k->out), .events = POLLIN };
	char *line = NULL;
	size_t cap = 0;
	json_error_t err;
	json_t *v;

	/* The stand-in bounds its own waits at 20 s: 60 s means it died or hangs. */
	if (poll(&pfd, 1, 60000) != 1 || getline(&line, &cap, k->out) <= 0)
		fail_msg("the stand-in kubelet did not answer");
	v = json_loads(line, 0, &err);
	if (!v)
		fail_msg("stand-in answer not JSON: %s", line);
	free(line);
	return v;
}

/* Starts it with up to six arguments (NULL ends them). */
static void standin_start(struct standin *k, const char *a1, const char *a2, const char *a3,
			  const char *a4, const char *a5, const char *a6)
{
	char *argv[] = { PYTHON, STANDIN, (char *)a1, (char *)a2, (char *)a3, (char *)a4,
			 (char *)a5, (char *)a6, NULL };
	int in[2], out[2];

	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	k->pid = fork();
	assert_true(k->pid >= 0);
	if (k->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		execv(PYTHON, argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	k->in = fdopen(in[1], "w");
	k->out = fdopen(out[0], "r");
	assert_non_null(k->in);
	assert_non_null(k->out);
	k->hello = read_answer(k);
	assert_non_null(json_object_get(k->hello, "url"));
}

/* Sends a command; fails the test on an error answer. The answer is the caller's. */
static json_t *__attribute__((format(printf, 2, 3))) standin(struct standin *k, const char *fmt,
							      ...)
{
	va_list ap;
	json_t *v;

	va_start(ap, fmt);
	vfprintf(k->in, fmt, ap);
	va_end(ap);
	fputc('\n', k->in);
	fflush(k->in);
	v = read_answer(k);
	if (json_object_get(v, "error"))
		fail_msg("stand-in: %s", json_string_value(json_object_get(v, "error")));
	return v;
}

#define STANDIN_DO(k, ...) json_decref(standin(k, __VA_ARGS__))

static int64_t standin_int(struct standin *k, const char *key, const char *fmt, const char *arg)
{
	json_t *v = standin(k, fmt, arg);
	int64_t n = json_integer_value(json_object_get(v, key));

	json_decref(v);
	return n;
}

static void standin_stop(struct standin *k)
{
	if (k->pid <= 0)
		return;
	fclose(k->in);
	fclose(k->out);
	waitpid(k->pid, NULL, 0);
	json_decref(k->hello);
	k->pid = 0;
}

static const char *pod_uid(struct standin *k, size_t i)
{
	return json_string_value(json_object_get(json_array_get(json_object_get(k->hello, "pods"),
								i), "uid"));
}

static size_t pod_index(struct standin *k, const char *uid)
{
	json_t *pods = json_object_get(k->hello, "pods"), *p;
	size_t i;

	json_array_foreach(pods, i, p)
		if (strcmp(json_string_value(json_object_get(p, "uid")), uid) == 0)
			return i;
	fail_msg("no pod %s", uid);
	return 0;
}

static const char *pod_container(struct standin *k, size_t i, const char *name)
{
	json_t *pod = json_array_get(json_object_get(k->hello, "pods"), i);

	return json_string_value(json_object_get(json_object_get(pod, "containers"), name));
}

struct kfix {
	char dir[64];
	char state_dir[96];
	struct standin k;
	struct tapio_config cfg;
	struct pipeline pl;
	struct collector_runtime *c;
	bool open;       /* the pipeline (teardown closes it after a failed assertion) */
	json_t *records; /* decoded, by seq; each with "_key" */
};

static const char *const known_kubelet[] = { "kubelet", NULL };

static int kfix_setup(void **state)
{
	struct kfix *f = calloc(1, sizeof(*f));
	char path[128];
	FILE *tok;

	strcpy(f->dir, "/tmp/tapio-kubelet-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(path, sizeof(path), "%s/token", f->dir);
	tok = fopen(path, "w");
	assert_non_null(tok);
	fputs(TOKEN "\n", tok);
	fclose(tok);
	snprintf(path, sizeof(path), "%s/cgroup", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(f->state_dir, sizeof(f->state_dir), "%s/state", f->dir);
	*state = f;
	return 0;
}

static int kfix_teardown(void **state)
{
	struct kfix *f = *state;
	char cmd[128];

	if (f->open) {
		pipeline_close(&f->pl);
		config_free(&f->cfg);
	}
	standin_stop(&f->k);
	json_decref(f->records);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Opens the pipeline with the kubelet collector only, pointed at the stand-in (its CA, the
 * token file), polling every second; `extra` adds or overrides keys. Returns attach's count. */
static int kfix_open(struct kfix *f, const char *extra)
{
	char text[2048], errstr[512], cgroup[128];
	const char *ca = json_string_value(json_object_get(f->k.hello, "ca"));
	int n;

	config_defaults(&f->cfg);
	snprintf(text, sizeof(text),
		 "node_name = node-a\ncollectors = kubelet\nkubelet_url = %s\n%s%s\n"
		 "kubelet_token_file = %s/token\nkubelet_interval_s = 1\nstate_dir = %s\n%s",
		 json_string_value(json_object_get(f->k.hello, "url")),
		 ca && !strstr(extra, "kubelet_ca_file") ? "kubelet_ca_file = " : "",
		 ca && !strstr(extra, "kubelet_ca_file") ? ca : "", f->dir, f->state_dir, extra);
	assert_int_equal(config_parse_text(&f->cfg, text, "test", known_kubelet, errstr,
					   sizeof(errstr)), 0);
	log_level_current = LOG_ERROR;
	snprintf(cgroup, sizeof(cgroup), "%s/cgroup", f->dir);
	{
		const struct collector_ops *ops[] = { &kubelet_collector };

		assert_int_equal(pipeline_open_collectors(&f->pl, &f->cfg, ops, 1, cgroup, errstr,
							  sizeof(errstr)), 0);
	}
	f->open = true;
	n = pipeline_attach(&f->pl);
	f->c = pipeline_collector(&f->pl, "kubelet");
	return n;
}

static int cmp_seq(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "seq"));
	json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "seq"));

	return (x > y) - (x < y);
}

/* Stops the collector, delivers everything, reads every record back (decoded, by seq), and
 * closes the pipeline (the checkpoint is written then). */
static void kfix_close(struct kfix *f, char **metrics)
{
	char errstr[512];
	struct avro_json_decoder *dec;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(4);
	size_t want, n = 0, len = 0;
	json_t **recs;
	rd_kafka_t *rk;
	FILE *out;

	/* While it runs (/metrics shows running collectors); the worker waits on a held request. */
	if (metrics) {
		out = open_memstream(metrics, &len);
		metrics_render(&f->pl, out);
		fclose(out);
	}
	assert_int_equal(pipeline_drain(&f->pl, 10000), 0);
	want = f->c->stats.delivered;
	assert_int_equal(f->c->stats.produced, want);
	recs = calloc(want ? want : 1, sizeof(*recs));
	assert_int_equal(avro_json_decoder_new(tapio_schemas, tapio_schema_count, &dec, errstr,
					       sizeof(errstr)), 0);
	assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", f->pl.publisher.bootstrap,
					   errstr, sizeof(errstr)), RD_KAFKA_CONF_OK);
	rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "group.id", "test", errstr, sizeof(errstr));
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	assert_non_null(rk);
	for (int p = 0; p < 4; p++)
		rd_kafka_topic_partition_list_add(parts, "tapio.kubelet", p)->offset =
			RD_KAFKA_OFFSET_BEGINNING;
	assert_int_equal(rd_kafka_assign(rk, parts), 0);
	for (int idle = 0; n < want && idle < 100;) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		json_t *rec;

		if (!m) {
			idle++;
			continue;
		}
		if (!m->err) {
			const char *name;

			if (avro_json_decode(dec, "tapio.kubelet", m->payload, m->len, &rec, &name,
					     errstr, sizeof(errstr)))
				fail_msg("decode: %s", errstr);
			json_object_set_new(rec, "_key", json_stringn(m->key, m->key_len));
			/* Nothing secret travels: env values, annotations (the stand-in's pods have
			 * them), the kubectl manifest, the token. */
			assert_null(memmem(m->payload, m->len, "tapio-secret-", 13));
			assert_null(memmem(m->payload, m->len, "last-applied", 12));
			assert_null(memmem(m->payload, m->len, TOKEN, strlen(TOKEN)));
			recs[n++] = rec;
		}
		rd_kafka_message_destroy(m);
	}
	rd_kafka_topic_partition_list_destroy(parts);
	rd_kafka_destroy(rk);
	avro_json_decoder_free(dec);
	assert_int_equal(n, want);
	qsort(recs, n, sizeof(*recs), cmp_seq);
	json_decref(f->records);
	f->records = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(f->records, recs[i]);
	free(recs);
	f->open = false;
	pipeline_close(&f->pl);
	config_free(&f->cfg);
}

/* rec's value at a dotted path ("pod_stats.cpu.usage_nano_cores"), NULL when absent. */
static json_t *at(json_t *rec, const char *path)
{
	char buf[256], *save = NULL, *part;

	snprintf(buf, sizeof(buf), "%s", path);
	for (part = strtok_r(buf, ".", &save); part && rec; part = strtok_r(NULL, ".", &save))
		rec = json_object_get(rec, part);
	return rec;
}

static const char *at_str(json_t *rec, const char *path)
{
	return json_string_value(at(rec, path));
}

/* Records of `kind` (and key, when not NULL), in order. */
static size_t records_of(struct kfix *f, const char *kind, const char *key, json_t **out,
			 size_t max)
{
	size_t i, n = 0;
	json_t *r;

	json_array_foreach(f->records, i, r) {
		if (strcmp(at_str(r, "kind"), kind) || (key && strcmp(at_str(r, "_key"), key)))
			continue;
		if (n < max)
			out[n] = r;
		n++;
	}
	return n;
}

/* The figures the stand-in served appear in the records: the last scrape's POD_STATS against
 * the last Summary it served, field by field; container ids joined from /pods; every pod's
 * status snapshot from the first poll; no change, no state record. TLS verified against the
 * test CA, the token sent. */
static void test_collector_exact_figures(void **state)
{
	struct kfix *f = *state;
	json_t *served, *body, *pods, *pod, *stats[16], *node[4], *snap[8], *rec;
	size_t i;
	int npods;

	standin_start(&f->k, "--pods", "4", "--token", TOKEN, NULL, NULL);
	STANDIN_DO(&f->k, "hold /pods 2");
	assert_int_equal(kfix_open(f, ""), 1);
	/* The third poll waits: two scrapes are complete. */
	STANDIN_DO(&f->k, "arrived /pods 3");
	served = standin(&f->k, "served /stats/summary");
	kfix_close(f, NULL);

	body = json_object_get(served, "body");
	pods = json_object_get(body, "pods");
	npods = (int)json_array_size(pods);
	assert_int_equal(npods, 4);
	assert_int_equal(records_of(f, "POD_STATUS_SNAPSHOT", NULL, snap, 8), 4);
	assert_int_equal(records_of(f, "NODE_STATS", NULL, node, 4), 2);
	assert_int_equal(records_of(f, "POD_STATS", NULL, stats, 16), 2 * npods);
	assert_int_equal(json_array_size(f->records), 4 + 2 + 2 * npods); /* nothing else */
	for (i = 0; i < 4; i++) {
		assert_string_equal(at_str(snap[i], "_key"), at_str(snap[i], "pod_uid"));
		assert_false(json_is_true(at(snap[i], "pod_status.new_pod")));
		assert_string_equal(at_str(snap[i], "pod_status.phase"), "Running");
	}
	/* The second scrape's records are the last ones, in the Summary's order. */
	json_array_foreach(pods, i, pod) {
		json_t *r = stats[npods + i], *cs, *c;
		const char *uid = at_str(pod, "podRef.uid");
		size_t j;

		assert_string_equal(at_str(r, "_key"), uid);
		assert_string_equal(at_str(r, "pod_uid"), uid);
		assert_true(json_is_null(at(r, "container_id")));
		assert_string_equal(at_str(r, "namespace"), at_str(pod, "podRef.namespace"));
		assert_string_equal(at_str(r, "pod_name"), at_str(pod, "podRef.name"));
		assert_int_equal(json_integer_value(at(r, "pod_stats.cpu.usage_core_nano_seconds")),
				 json_integer_value(at(pod, "cpu.usageCoreNanoSeconds")));
		assert_int_equal(json_integer_value(at(r, "pod_stats.memory.working_set_bytes")),
				 json_integer_value(at(pod, "memory.workingSetBytes")));
		assert_int_equal(json_integer_value(at(r, "pod_stats.process_count")),
				 json_integer_value(at(pod, "process_stats.process_count")));
		if (at(pod, "network"))
			assert_int_equal(json_integer_value(at(r, "pod_stats.network.rx_bytes")),
					 json_integer_value(at(pod, "network.rxBytes")));
		else /* host network: null, not 0 */
			assert_true(json_is_null(at(r, "pod_stats.network")));
		cs = at(pod, "containers");
		assert_int_equal(json_array_size(at(r, "pod_stats.containers")),
				 json_array_size(cs));
		json_array_foreach(cs, j, c) {
			json_t *rc = json_array_get(at(r, "pod_stats.containers"), j);
			const char *name = at_str(c, "name");

			assert_string_equal(at_str(rc, "name"), name);
			assert_string_equal(at_str(rc, "container_id"),
					    pod_container(&f->k, pod_index(&f->k, uid), name));
			assert_int_equal(json_integer_value(at(rc, "cpu.usage_nano_cores")),
					 json_integer_value(at(c, "cpu.usageNanoCores")));
			if (at(c, "memory.availableBytes"))
				assert_int_equal(json_integer_value(at(rc, "memory.available_bytes")),
						 json_integer_value(at(c, "memory.availableBytes")));
			else /* no memory limit: null, not 0 */
				assert_true(json_is_null(at(rc, "memory.available_bytes")));
		}
	}
	rec = node[1];
	assert_string_equal(at_str(rec, "_key"), "node-a/node");
	assert_int_equal(json_integer_value(at(rec, "node_stats.cpu.usage_core_nano_seconds")),
			 json_integer_value(at(body, "node.cpu.usageCoreNanoSeconds")));
	assert_int_equal(json_integer_value(at(rec, "node_stats.fs.capacity_bytes")),
			 json_integer_value(at(body, "node.fs.capacityBytes")));
	assert_int_equal(json_integer_value(at(rec, "node_stats.process_count")),
			 json_integer_value(at(body, "node.rlimit.curproc")));
	assert_int_equal(json_integer_value(at(rec, "node_stats.pods")), npods);
	assert_int_equal(json_integer_value(at(rec, "node_stats.missed_intervals")), 0);
	json_decref(served);
	/* The token went with every request (the held one too). */
	assert_int_equal(standin_int(&f->k, "count", "%s", "auth"),
			 standin_int(&f->k, "count", "count %s", "/pods") +
				 standin_int(&f->k, "count", "count %s", "/stats/summary"));
}

/* Count of records of `kind` for pod i. */
static size_t kind_for(struct kfix *f, const char *kind, size_t i, json_t **first)
{
	json_t *recs[16];
	size_t n = records_of(f, kind, pod_uid(&f->k, i), recs, 16);

	if (first)
		*first = n ? recs[0] : NULL;
	return n;
}

/* A restart gives exactly one CONTAINER_RESTARTED (and the termination before it); an OOM kill
 * a CONTAINER_TERMINATED with OOMKilled; a crash loop its WAITING; pods without a change none. */
static void test_collector_state_changes(void **state)
{
	struct kfix *f = *state;
	json_t *r, *a;
	const char *new_id;
	size_t state_records;

	standin_start(&f->k, "--pods", "5", "--token", TOKEN, NULL, NULL);
	STANDIN_DO(&f->k, "hold /pods 3");
	assert_int_equal(kfix_open(f, ""), 1);
	STANDIN_DO(&f->k, "wait /pods 1");
	a = standin(&f->k, "restart 0 app");
	new_id = json_string_value(json_object_get(a, "id"));
	STANDIN_DO(&f->k, "oom 1 app");
	STANDIN_DO(&f->k, "crash 2 app");
	/* Whichever poll saw the changes, two more have run when the fourth arrives. */
	STANDIN_DO(&f->k, "arrived /pods 4");
	kfix_close(f, NULL);

	assert_int_equal(kind_for(f, "CONTAINER_RESTARTED", 0, &r), 1);
	assert_string_equal(at_str(r, "container_id"), new_id);
	assert_string_equal(at_str(r, "container.name"), "app");
	assert_int_equal(json_integer_value(at(r, "container.restart_count")), 1);
	assert_string_equal(at_str(r, "container.state"), "RUNNING");
	assert_int_equal(json_integer_value(at(r, "container.last_terminated.exit_code")), 1);
	assert_string_equal(at_str(r, "container.last_terminated.reason"), "Error");
	assert_int_equal(kind_for(f, "CONTAINER_TERMINATED", 0, &r), 1);
	assert_string_equal(at_str(r, "container_id"), pod_container(&f->k, 0, "app"));
	assert_string_equal(at_str(r, "container.state"), "TERMINATED");

	assert_int_equal(kind_for(f, "CONTAINER_TERMINATED", 1, &r), 1);
	assert_string_equal(at_str(r, "container.terminated.reason"), "OOMKilled");
	assert_int_equal(json_integer_value(at(r, "container.terminated.exit_code")), 137);
	assert_non_null(at(r, "container.terminated.finished_at"));
	assert_int_equal(kind_for(f, "CONTAINER_RESTARTED", 1, NULL), 1);

	assert_int_equal(kind_for(f, "CONTAINER_TERMINATED", 2, NULL), 1);
	assert_int_equal(kind_for(f, "CONTAINER_RESTARTED", 2, NULL), 1);
	assert_int_equal(kind_for(f, "CONTAINER_WAITING", 2, &r), 1);
	assert_string_equal(at_str(r, "container.waiting.reason"), "CrashLoopBackOff");
	assert_int_equal(kind_for(f, "POD_READY", 2, &r), 1);
	assert_false(json_is_true(at(r, "pod_ready.ready")));
	assert_true(json_is_true(at(r, "pod_ready.previous")));
	assert_string_equal(at_str(r, "pod_ready.reason"), "ContainersNotReady");

	/* That is all: 2 + 2 + 4 state records, none for pods 3 and 4. */
	state_records = 0;
	for (size_t i = 0; i < json_array_size(f->records); i++) {
		const char *kind = at_str(json_array_get(f->records, i), "kind");

		state_records += strncmp(kind, "CONTAINER_", 10) == 0 || strncmp(kind, "POD_P", 5) ==
				 0 || strcmp(kind, "POD_READY") == 0 || strcmp(kind, "POD_REMOVED") == 0;
	}
	assert_int_equal(state_records, 8);
	json_decref(a);
}

/* Every failed request is a SCRAPE_FAILED saying why, counted on /metrics. */
static void test_collector_failures(void **state)
{
	struct kfix *f = *state;
	json_t *failed[32];
	const char *want[] = { "TRANSPORT", "BAD_BODY", "TOO_LARGE", "TIMEOUT", "HTTP_4XX" };
	char *metrics = NULL;
	size_t n, pods_failed = 0;

	/* The token may read pods but not stats: every /stats/summary is a 403. */
	standin_start(&f->k, "--pods", "3", "--token", TOKEN, "--allow", "nodes/proxy");
	STANDIN_DO(&f->k, "cut /pods@2");
	STANDIN_DO(&f->k, "raw /pods@3 {\"kind\":\"PodList\",\"items\":5}");
	STANDIN_DO(&f->k, "big /pods@4 2000000");
	STANDIN_DO(&f->k, "delay 3 /pods@5");
	STANDIN_DO(&f->k, "fail 401 /pods@6");
	STANDIN_DO(&f->k, "hold /pods 6");
	assert_int_equal(kfix_open(f, "kubelet_timeout_s = 1\nkubelet_max_response_mb = 1\n"), 1);
	STANDIN_DO(&f->k, "arrived /pods 7");
	kfix_close(f, &metrics);

	n = records_of(f, "SCRAPE_FAILED", "node-a/node", failed, 32);
	assert_int_equal(n, 5 + 6);
	for (size_t i = 0; i < n; i++) {
		json_t *r = failed[i];

		assert_true(json_is_null(at(r, "pod_uid")));
		if (strcmp(at_str(r, "scrape_failed.endpoint"), "/stats/summary") == 0) {
			assert_string_equal(at_str(r, "scrape_failed.outcome"), "HTTP_4XX");
			assert_int_equal(json_integer_value(at(r, "scrape_failed.http_status")), 403);
			assert_non_null(strstr(at_str(r, "scrape_failed.error"), "Forbidden"));
			continue;
		}
		assert_string_equal(at_str(r, "scrape_failed.endpoint"), "/pods");
		assert_true(pods_failed < 5);
		assert_string_equal(at_str(r, "scrape_failed.outcome"), want[pods_failed]);
		assert_true(strlen(at_str(r, "scrape_failed.error")) > 0);
		pods_failed++;
	}
	assert_int_equal(pods_failed, 5);
	assert_int_equal(json_integer_value(at(failed[n - 2], "scrape_failed.http_status")), 401);
	/* The one good /pods gave the snapshots; no summary ever arrived. */
	assert_int_equal(records_of(f, "POD_STATUS_SNAPSHOT", NULL, failed, 32), 3);
	assert_int_equal(records_of(f, "POD_STATS", NULL, failed, 32), 0);
	/* A bad /pods is not an empty node: the pods are still there. */
	assert_int_equal(records_of(f, "POD_REMOVED", NULL, failed, 32), 0);
	assert_non_null(strstr(metrics, "tapio_kubelet_scrapes_total{endpoint=\"/pods\","
				   "result=\"timeout\"} 1\n"));
	assert_non_null(strstr(metrics, "tapio_kubelet_scrapes_total{endpoint=\"/pods\","
				   "result=\"too_large\"} 1\n"));
	assert_non_null(strstr(metrics, "tapio_kubelet_scrapes_total{endpoint=\"/pods\","
				   "result=\"ok\"} 1\n"));
	assert_non_null(strstr(metrics, "tapio_kubelet_scrapes_total{endpoint=\"/stats/summary\","
				   "result=\"http_4xx\"} 6\n"));
	assert_non_null(strstr(metrics, "tapio_http_requests_total{collector=\"kubelet\","
				   "outcome=\"too_large\"} 1\n"));
	free(metrics);
}

/* A scrape slower than the interval: the next starts after it ends (no request overlaps
 * another), the ticks it ran past are skipped, counted and said in the next NODE_STATS. */
static void test_collector_slow_scrape(void **state)
{
	struct kfix *f = *state;
	json_t *node[8];
	char *metrics = NULL, want[128];
	int64_t missed;

	standin_start(&f->k, "--pods", "2", "--token", TOKEN, NULL, NULL);
	STANDIN_DO(&f->k, "delay 3.5 /stats/summary@2");
	STANDIN_DO(&f->k, "hold /pods 3");
	assert_int_equal(kfix_open(f, ""), 1);
	STANDIN_DO(&f->k, "arrived /pods 4");
	assert_int_equal(standin_int(&f->k, "overlaps", "%s", "overlaps"), 0);
	kfix_close(f, &metrics);

	assert_int_equal(records_of(f, "NODE_STATS", NULL, node, 8), 3);
	assert_true(json_integer_value(at(node[1], "node_stats.duration_ms")) >= 3500);
	assert_int_equal(json_integer_value(at(node[0], "node_stats.missed_intervals")), 0);
	assert_int_equal(json_integer_value(at(node[1], "node_stats.missed_intervals")), 0);
	missed = json_integer_value(at(node[2], "node_stats.missed_intervals"));
	/* 3.5 s at a 1 s interval: at least the three ticks it ran past whole. */
	assert_true(missed >= 3);
	snprintf(want, sizeof(want), "tapio_kubelet_missed_intervals_total %" PRId64 "\n", missed);
	assert_non_null(strstr(metrics, want));
	free(metrics);
}

/* A restarted producer resumes from its checkpoint: it announces what changed while it was
 * away, once, and nothing it announced before. */
static void test_collector_restart_does_not_reannounce(void **state)
{
	struct kfix *f = *state;
	json_t *r, *recs[16];
	char path[160];
	int64_t run1;

	standin_start(&f->k, "--pods", "3", "--token", TOKEN, NULL, NULL);
	STANDIN_DO(&f->k, "hold /pods 2");
	assert_int_equal(kfix_open(f, ""), 1);
	STANDIN_DO(&f->k, "arrived /pods 3");
	kfix_close(f, NULL);
	assert_int_equal(records_of(f, "POD_STATUS_SNAPSHOT", NULL, recs, 16), 3);
	run1 = json_integer_value(at(json_array_get(f->records, 0), "run"));
	snprintf(path, sizeof(path), "%s/kubelet.pods.checkpoint", f->state_dir);
	assert_int_equal(access(path, R_OK), 0);

	/* While the producer is away, a container restarts. */
	STANDIN_DO(&f->k, "restart 0 app");
	STANDIN_DO(&f->k, "hold /pods 5");
	assert_int_equal(kfix_open(f, ""), 1);
	STANDIN_DO(&f->k, "arrived /pods 6");
	kfix_close(f, NULL);
	assert_true(json_integer_value(at(json_array_get(f->records, 0), "run")) != run1);
	assert_int_equal(records_of(f, "POD_STATUS_SNAPSHOT", NULL, recs, 16), 0);
	assert_int_equal(kind_for(f, "CONTAINER_RESTARTED", 0, &r), 1);
	assert_int_equal(kind_for(f, "CONTAINER_TERMINATED", 0, NULL), 1);
	assert_int_equal(json_array_size(f->records),
			 2 + records_of(f, "POD_STATS", NULL, recs, 16) +
				 records_of(f, "NODE_STATS", NULL, recs, 16));
}

/* The read-only port: plain HTTP, no token sent. A self-signed kubelet: refused (TLS) unless
 * kubelet_insecure_skip_verify, which /metrics shows. */
static void test_collector_plain_and_self_signed(void **state)
{
	struct kfix *f = *state;
	json_t *recs[8];
	char *metrics = NULL;
	size_t n;

	standin_start(&f->k, "--pods", "1", "--plain", NULL, NULL, NULL);
	STANDIN_DO(&f->k, "hold /pods 1");
	assert_int_equal(kfix_open(f, ""), 1);
	STANDIN_DO(&f->k, "arrived /pods 2");
	kfix_close(f, NULL);
	assert_int_equal(records_of(f, "POD_STATUS_SNAPSHOT", NULL, recs, 8), 1);
	assert_int_equal(records_of(f, "NODE_STATS", NULL, recs, 8), 1);
	assert_int_equal(standin_int(&f->k, "count", "%s", "auth"), 0);
	standin_stop(&f->k);

	standin_start(&f->k, "--pods", "1", "--self-signed", "--token", TOKEN, NULL);
	STANDIN_DO(&f->k, "hold /pods 1");
	/* Verified against the system's store (not the one it signed itself): refused, in the
	 * handshake (no request arrives). */
	assert_int_equal(kfix_open(f, "kubelet_ca_file =\n"), 1);
	STANDIN_DO(&f->k, "tls_errors 3"); /* the first scrape is over */
	kfix_close(f, &metrics);
	n = records_of(f, "SCRAPE_FAILED", NULL, recs, 8);
	assert_true(n >= 2);
	for (size_t i = 0; i < n && i < 8; i++)
		assert_string_equal(at_str(recs[i], "scrape_failed.outcome"), "TLS");
	assert_int_equal(json_array_size(f->records), n);
	assert_non_null(strstr(metrics, "tapio_http_insecure_skip_verify{collector=\"kubelet\"} 0\n"));
	free(metrics);

	STANDIN_DO(&f->k, "hold /pods 1");
	assert_int_equal(kfix_open(f, "kubelet_ca_file =\nkubelet_insecure_skip_verify = true\n"),
			 1);
	STANDIN_DO(&f->k, "arrived /pods 2");
	kfix_close(f, &metrics);
	assert_int_equal(records_of(f, "SCRAPE_FAILED", NULL, recs, 8), 0);
	assert_int_equal(records_of(f, "NODE_STATS", NULL, recs, 8), 1);
	assert_non_null(strstr(metrics, "tapio_http_insecure_skip_verify{collector=\"kubelet\"} 1\n"));
	free(metrics);
}

/* Nothing to connect to: skipped when not asked for, a configuration error when asked for by
 * name (pipeline_attach fails: exit 2); each case says why in one line. */
static void test_collector_not_in_a_cluster(void **state)
{
	struct kfix *f = *state;
	char errstr[512], cgroup[128];
	const struct collector_ops *ops[] = { &kubelet_collector };
	static const struct {
		const char *config, *node_ip;
		int attach;
		enum collector_state state;
		const char *says;
	} cases[] = {
		{ "node_name = node-a\n", NULL, 0, COLLECTOR_SKIPPED,
		  "kubelet: skipped: kubelet_url is not set and NODE_IP" },
		{ "node_name = node-a\ncollectors = kubelet\n", NULL, -EINVAL, COLLECTOR_FAILED,
		  "kubelet: kubelet_url is not set and NODE_IP (the downward API's status.hostIP) "
		  "is not either (not in a cluster)" },
		{ "node_name = node-a\n", "not-an-ip", 0, COLLECTOR_SKIPPED,
		  "NODE_IP \"not-an-ip\" is not an IP address" },
		/* A key set to something unusable is a configuration error, named or not. */
		{ "node_name = node-a\nkubelet_url = https://127.0.0.1:1\n"
		  "kubelet_ca_file = /nonexistent/ca.crt\n", NULL, -EINVAL, COLLECTOR_FAILED,
		  "kubelet: kubelet_ca_file /nonexistent/ca.crt: No such file or directory" },
	};

	snprintf(cgroup, sizeof(cgroup), "%s/cgroup", f->dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char log_path[160], *text = calloc(1, 8192);
		int saved = dup(2), fd;
		FILE *lf;

		config_defaults(&f->cfg);
		assert_int_equal(config_parse_text(&f->cfg, cases[i].config, "test", known_kubelet,
						   errstr, sizeof(errstr)), 0);
		if (cases[i].node_ip)
			setenv("NODE_IP", cases[i].node_ip, 1);
		else
			unsetenv("NODE_IP");
		/* What it logs, into a file: the line must say why. */
		snprintf(log_path, sizeof(log_path), "%s/log", f->dir);
		fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		assert_true(fd >= 0 && saved >= 0);
		fflush(stderr);
		dup2(fd, 2);
		close(fd);
		log_level_current = LOG_INFO;
		assert_int_equal(pipeline_open_collectors(&f->pl, &f->cfg, ops, 1, cgroup, errstr,
							  sizeof(errstr)), 0);
		assert_int_equal(pipeline_attach(&f->pl), cases[i].attach);
		log_level_current = LOG_ERROR;
		fflush(stderr);
		dup2(saved, 2);
		close(saved);
		lf = fopen(log_path, "r");
		assert_non_null(lf);
		assert_true(fread(text, 1, 8191, lf) > 0);
		fclose(lf);
		if (!strstr(text, cases[i].says))
			fail_msg("case %zu logged: %s", i, text);
		free(text);
		assert_int_equal(pipeline_collector(&f->pl, "kubelet")->state, cases[i].state);
		pipeline_close(&f->pl);
		config_free(&f->cfg);
	}
	unsetenv("NODE_IP");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_summary_golden),
		cmocka_unit_test(test_scrape_failed_golden),
		cmocka_unit_test(test_state_changes_golden),
		cmocka_unit_test(test_golden_decode_with_avro_c),
		cmocka_unit_test(test_crash_loop),
		cmocka_unit_test(test_termination_announced_once),
		cmocka_unit_test(test_state_roundtrip_and_new_pod),
		cmocka_unit_test(test_emit_stop_is_passed_on),
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_strip_runtime),
		cmocka_unit_test(test_json_values),
		cmocka_unit_test(test_hostile_summary),
		cmocka_unit_test(test_hostile_pods),
		cmocka_unit_test(test_hostile_state),
		cmocka_unit_test_setup_teardown(test_collector_exact_figures, kfix_setup,
						kfix_teardown),
		cmocka_unit_test_setup_teardown(test_collector_state_changes, kfix_setup,
						kfix_teardown),
		cmocka_unit_test_setup_teardown(test_collector_failures, kfix_setup, kfix_teardown),
		cmocka_unit_test_setup_teardown(test_collector_slow_scrape, kfix_setup,
						kfix_teardown),
		cmocka_unit_test_setup_teardown(test_collector_restart_does_not_reannounce,
						kfix_setup, kfix_teardown),
		cmocka_unit_test_setup_teardown(test_collector_plain_and_self_signed, kfix_setup,
						kfix_teardown),
		cmocka_unit_test_setup_teardown(test_collector_not_in_a_cluster, kfix_setup,
						kfix_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
