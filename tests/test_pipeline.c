/* Broker tier, no root: records pushed through the real pipeline (decode → identity → encode →
 * publish) to the embedded mock cluster, read back by a real librdkafka consumer. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
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

#include "avro_json.h"
#include "handoff.h"
#include "kernel.h"
#include "kernel_collector.h"
#include "metrics.h"
#include "pipeline.h"
#include "schema.h"

#define POD_UID "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
#define CONTAINER "abababababababababababababababababababababababababababababababab"

struct fixture {
	char root[64];
	char spool[64];     /* "" unless the fixture has a spool */
	char pod_dir[512];
	uint64_t pod_cgroup;  /* inode of the fake pod cgroup directory */
	uint64_t host_cgroup; /* inode of the fake root */
	struct tapio_config cfg;
	struct pipeline pl;
};

static const char *const known[] = { "kernel", NULL };

/* `ops`: the collectors to run instead of the table's (NULL: the table's, as configured). */
static int open_fixture_with(void **state, bool with_spool, const char *extra_config,
			     const struct collector_ops *const *ops, size_t nops)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct collector_runtime *metadata;
	char errstr[512], text[256];
	struct stat st;
	const char *parts[] = { "/kubepods.slice", "/kubepods-burstable.slice",
				"/kubepods-burstable-pod0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0.slice",
				"/cri-containerd-" CONTAINER ".scope" };

	/* A directory tree shaped like the cgroup v2 hierarchy: the identity cache only walks it. */
	strcpy(f->root, "/tmp/tapio-pipeline-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	strcpy(f->pod_dir, f->root);
	for (size_t i = 0; i < 4; i++) {
		strcat(f->pod_dir, parts[i]);
		assert_int_equal(mkdir(f->pod_dir, 0755), 0);
	}
	assert_int_equal(stat(f->pod_dir, &st), 0);
	f->pod_cgroup = st.st_ino;
	assert_int_equal(stat(f->root, &st), 0);
	f->host_cgroup = st.st_ino;
	if (with_spool) {
		strcpy(f->spool, "/tmp/tapio-spool-XXXXXX");
		assert_non_null(mkdtemp(f->spool));
	}

	config_defaults(&f->cfg);
	snprintf(text, sizeof(text), "node_name = node-a\ncollectors = kernel\n%s%s\nspool_max_mb = 1\n"
		 "spool_segment_mb = 1\n%s", with_spool ? "spool_dir = " : "# no spool", f->spool,
		 extra_config);
	assert_int_equal(config_parse_text(&f->cfg, text, "test", known, errstr, sizeof(errstr)), 0);
	log_level_current = LOG_ERROR;
	if (ops) {
		assert_int_equal(pipeline_open_collectors(&f->pl, &f->cfg, ops, nops, f->root, errstr,
							  sizeof(errstr)), 0);
		assert_int_equal(pipeline_attach(&f->pl), (int)nops);
		*state = f;
		return 0;
	}
	assert_int_equal(pipeline_open(&f->pl, &f->cfg, f->root, errstr, sizeof(errstr)), 0);
	assert_non_null(f->pl.publisher.mock); /* no brokers configured: embedded */
	metadata = pipeline_collector(&f->pl, "metadata");
	assert_non_null(metadata);
	assert_int_equal(metadata->ops->start(metadata), 0); /* the start-up snapshot */
	*state = f;
	return 0;
}

static int open_fixture(void **state, bool with_spool, const char *extra_config)
{
	return open_fixture_with(state, with_spool, extra_config, NULL, 0);
}

static int setup(void **state)
{
	return open_fixture(state, false, "");
}

static int setup_spool(void **state)
{
	return open_fixture(state, true, "");
}

#define SMALL_QUEUE 8

/* librdkafka takes at most SMALL_QUEUE messages before their delivery reports are served. */
static int setup_small_queue(void **state)
{
	return open_fixture(state, false, "kafka.queue.buffering.max.messages = 8\n");
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char path[512];

	pipeline_close(&f->pl);
	config_free(&f->cfg);
	strcpy(path, f->pod_dir);
	while (strlen(path) >= strlen(f->root)) {
		rmdir(path);
		*strrchr(path, '/') = '\0';
	}
	if (f->spool[0]) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->spool);
		assert_int_equal(system(cmd), 0);
	}
	free(f);
	return 0;
}

static void make_exec(struct kernel_exec *e, uint64_t cgroup_id, uint32_t pid)
{
	memset(e, 0, sizeof(*e));
	e->hdr = (struct tapio_hdr){ TAPIO_REC_KERNEL_EXEC, KERNEL_EXEC_VERSION, sizeof(*e), 1000, cgroup_id };
	e->pid = pid;
	strcpy(e->comm, "sh");
	strcpy(e->filename, "/bin/sh");
}

/* A consumed message, copied: librdkafka's own must be freed before its handle is destroyed. */
struct msg {
	char key[128];
	size_t key_len;
	uint8_t value[4096];
	size_t len;
	int64_t timestamp;
	rd_kafka_timestamp_type_t ts_type;
	char headers[4][2][64]; /* name, value */
	int nheaders;
};

static void copy_msg(const rd_kafka_message_t *m, struct msg *out)
{
	rd_kafka_headers_t *hdrs;
	const char *name;
	const void *v;
	size_t n;

	memset(out, 0, sizeof(*out));
	assert_true(m->key_len < sizeof(out->key) && m->len <= sizeof(out->value));
	memcpy(out->key, m->key, m->key_len);
	out->key_len = m->key_len;
	if (m->payload)
		memcpy(out->value, m->payload, m->len);
	out->len = m->len;
	out->timestamp = rd_kafka_message_timestamp(m, &out->ts_type);
	if (rd_kafka_message_headers(m, &hdrs))
		return;
	for (size_t i = 0; i < 4 && !rd_kafka_header_get_all(hdrs, i, &name, &v, &n); i++) {
		snprintf(out->headers[i][0], 64, "%s", name);
		snprintf(out->headers[i][1], 64, "%.*s", (int)n, (const char *)v);
		out->nheaders++;
	}
}

/* Reads up to `want` messages from every partition of `topic`, from the beginning. */
static int consume_topic(struct fixture *f, const char *topic, struct msg *out, int want)
{
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(4);
	rd_kafka_t *rk;
	int got = 0;

	assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", f->pl.publisher.bootstrap, errstr,
					   sizeof(errstr)), RD_KAFKA_CONF_OK);
	/* assign() wants a group id, though nothing is committed; its log lines are noise here. */
	assert_int_equal(rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr)), RD_KAFKA_CONF_OK);
	assert_int_equal(rd_kafka_conf_set(conf, "group.id", "test", errstr, sizeof(errstr)),
			 RD_KAFKA_CONF_OK);
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	assert_non_null(rk);
	for (int p = 0; p < 4; p++)
		rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
	assert_int_equal(rd_kafka_assign(rk, parts), 0);
	/* Bounded wait for data that must arrive; a missing message fails in the caller. */
	for (int idle = 0; got < want && idle < 100;) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);

		if (!m) {
			idle++;
			continue;
		}
		if (!m->err)
			copy_msg(m, &out[got++]);
		rd_kafka_message_destroy(m);
	}
	rd_kafka_topic_partition_list_destroy(parts);
	rd_kafka_destroy(rk);
	return got;
}

static int consume(struct fixture *f, struct msg *out, int want)
{
	return consume_topic(f, "tapio.kernel", out, want);
}

static const char *header(const struct msg *m, const char *name)
{
	for (int i = 0; i < m->nheaders; i++)
		if (strcmp(m->headers[i][0], name) == 0)
			return m->headers[i][1];
	return NULL;
}

static void test_records_arrive_keyed_and_framed(void **state)
{
	struct fixture *f = *state;
	struct collector_runtime *c = pipeline_collector(&f->pl, "kernel");
	static struct msg msgs[4];
	struct kernel_exec pod, host;
	uint64_t fp;
	char errstr[256];
	int pod_i;

	make_exec(&pod, f->pod_cgroup, 100);
	make_exec(&host, f->host_cgroup, 200);
	assert_int_equal(pipeline_record(c, &pod, sizeof(pod)), 0);
	assert_int_equal(pipeline_record(c, &host, sizeof(host)), 0);
	assert_int_equal(pipeline_drain(&f->pl, 10000), 0);
	assert_int_equal(c->stats.produced, 2);
	assert_int_equal(c->stats.delivered, 2);

	assert_int_equal(consume(f, msgs, 2), 2);
	pod_i = msgs[0].key_len == strlen(POD_UID) ? 0 : 1;
	/* Pod records are keyed by pod UID, host records by <node>/<cgroup id>. */
	assert_memory_equal(msgs[pod_i].key, POD_UID, strlen(POD_UID));
	char host_key[64];
	snprintf(host_key, sizeof(host_key), "node-a/%llu", (unsigned long long)f->host_cgroup);
	assert_int_equal(msgs[!pod_i].key_len, strlen(host_key));
	assert_memory_equal(msgs[!pod_i].key, host_key, strlen(host_key));

	/* Single-object framing with the fingerprint of the embedded schema; no headers unless
	 * record_headers asks for them. */
	assert_int_equal(schema_fingerprint(schema_find("kernel")->json, &fp, errstr, sizeof(errstr)), 0);
	for (int i = 0; i < 2; i++) {
		const uint8_t *v = msgs[i].value;

		assert_true(msgs[i].len > 10);
		assert_int_equal(v[0], 0xc3);
		assert_int_equal(v[1], 0x01);
		for (int b = 0; b < 8; b++)
			assert_int_equal(v[2 + b], (uint8_t)(fp >> (8 * b)));
		assert_int_equal(msgs[i].nheaders, 0);
	}
}

static int setup_all_headers(void **state)
{
	return open_fixture(state, false,
			    "record_headers = collector,node,schema_fingerprint,producer_version\n");
}

static int setup_node_header(void **state)
{
	return open_fixture(state, false, "record_headers = node\n");
}

/* record_headers adds exactly the headers it names, with their values. */
static void test_record_headers_when_asked(void **state)
{
	struct fixture *f = *state;
	struct collector_runtime *c = pipeline_collector(&f->pl, "kernel");
	static struct msg msgs[2];
	struct kernel_exec e;
	char errstr[256], want_fp[17];
	uint64_t fp;

	make_exec(&e, f->pod_cgroup, 100);
	assert_int_equal(pipeline_record(c, &e, sizeof(e)), 0);
	assert_int_equal(pipeline_drain(&f->pl, 10000), 0);
	assert_int_equal(consume(f, msgs, 1), 1);
	if (!f->cfg.record_headers || strcmp(f->cfg.record_headers, "node") == 0) {
		assert_int_equal(msgs[0].nheaders, 1);
		assert_string_equal(header(&msgs[0], "node"), "node-a");
		return;
	}
	assert_int_equal(schema_fingerprint(schema_find("kernel")->json, &fp, errstr, sizeof(errstr)), 0);
	snprintf(want_fp, sizeof(want_fp), "%016llx", (unsigned long long)fp);
	assert_int_equal(msgs[0].nheaders, 4);
	assert_string_equal(header(&msgs[0], "collector"), "kernel");
	assert_string_equal(header(&msgs[0], "node"), "node-a");
	assert_string_equal(header(&msgs[0], "schema_fingerprint"), want_fp);
	assert_string_equal(header(&msgs[0], "producer_version"), TAPIO_VERSION);
}

/* The message timestamp is the event's wall-clock time: boot time + ktime. */
static void test_timestamp_is_wall_clock(void **state)
{
	struct fixture *f = *state;
	struct collector_runtime *c = pipeline_collector(&f->pl, "kernel");
	static struct msg m;
	struct kernel_exec e;
	int64_t want;

	make_exec(&e, f->pod_cgroup, 300);
	e.hdr.ktime_ns = 5000000000; /* 5 s after boot */
	want = (f->pl.boot_to_epoch_ns + 5000000000) / 1000000;
	assert_int_equal(pipeline_record(c, &e, sizeof(e)), 0);
	assert_int_equal(pipeline_drain(&f->pl, 10000), 0);
	assert_int_equal(consume(f, &m, 1), 1);
	assert_int_equal(m.timestamp, want);
	assert_int_equal(m.ts_type, RD_KAFKA_TIMESTAMP_CREATE_TIME);
}

/* Bad records are counted by reason and take no sequence number. */
static void test_rejections_are_counted(void **state)
{
	struct fixture *f = *state;
	struct collector_runtime *c = pipeline_collector(&f->pl, "kernel");
	struct kernel_exec e;

	make_exec(&e, f->pod_cgroup, 400);
	assert_int_equal(pipeline_record(c, &e, 10), 0);
	e.hdr.type = 999;
	assert_int_equal(pipeline_record(c, &e, sizeof(e)), 0);
	assert_int_equal(c->stats.received, 2);
	assert_int_equal(c->stats.rejected[DECODE_SHORT], 1);
	assert_int_equal(c->stats.rejected[DECODE_UNKNOWN_TYPE], 1);
	assert_int_equal(c->stats.produced, 0);
	assert_int_equal(c->next_seq, 1);
}

/* A cgroup the start-up walk did not see is resolved on first use and counted as a miss. */
static void test_unknown_cgroup_gets_node_key(void **state)
{
	struct fixture *f = *state;
	const struct identity *id = identity_lookup(f->pl.identity, 987654321);
	struct identity_stats st;

	assert_string_equal(id->key, "node-a/987654321");
	assert_string_equal(id->owner.pod_uid, "");
	identity_get_stats(f->pl.identity, &st);
	assert_int_equal(st.misses, 1);
	/* The second lookup is a hit. */
	identity_lookup(f->pl.identity, 987654321);
	identity_get_stats(f->pl.identity, &st);
	assert_int_equal(st.misses, 1);
	/* The walk found the pod directory: a hit with the pod's identity. */
	id = identity_lookup(f->pl.identity, f->pod_cgroup);
	assert_string_equal(id->owner.pod_uid, POD_UID);
	assert_string_equal(id->owner.container_id, CONTAINER);
	assert_string_equal(id->key, POD_UID);
}

/* A broker error on Produce is a counted delivery failure, not a delivered record. */
static void test_delivery_failure_is_counted(void **state)
{
	struct fixture *f = *state;
	struct collector_runtime *c = pipeline_collector(&f->pl, "kernel");
	struct kernel_exec e;

	/* The start-up snapshot goes first, so the error lands on the record under test. */
	assert_int_equal(pipeline_drain(&f->pl, 10000), 0);
	rd_kafka_mock_push_request_errors(f->pl.publisher.mock, 0 /* Produce */, 1,
					  RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
	make_exec(&e, f->pod_cgroup, 500);
	assert_int_equal(pipeline_record(c, &e, sizeof(e)), 0);
	assert_int_equal(pipeline_drain(&f->pl, 10000), 0);
	assert_int_equal(c->stats.produced, 1);
	assert_int_equal(c->stats.delivered, 0);
	assert_int_equal(c->stats.delivery_failed, 1);
}

static const struct msg *find_key(const struct msg *msgs, int n, const char *key, bool tombstone)
{
	for (int i = 0; i < n; i++)
		if (msgs[i].key_len == strlen(key) && memcmp(msgs[i].key, key, msgs[i].key_len) == 0 &&
		    (msgs[i].len == 0) == tombstone)
			return &msgs[i];
	return NULL;
}

/* The start-up snapshot: one record per cgroup, keyed <node>/<cgroup id> even for a pod; after
 * removal and the grace period, a tombstone for the same key. */
static void test_metadata_snapshot_and_tombstone(void **state)
{
	struct fixture *f = *state;
	struct collector_runtime *m = pipeline_collector(&f->pl, "metadata");
	static struct msg msgs[16];
	const struct msg *rec;
	char key[64];
	int n;

	assert_int_equal(pipeline_drain(&f->pl, 10000), 0);
	assert_int_equal(m->stats.produced, 5); /* root + 4 levels */
	snprintf(key, sizeof(key), "node-a/%llu", (unsigned long long)f->pod_cgroup);
	assert_non_null(identity_remove(f->pl.identity, f->pod_cgroup, 5));
	/* Within the grace period it still resolves and nothing is published. */
	m->ops->tick(m, 5 + 1000000000ull * f->cfg.identity_grace_s);
	assert_int_equal(m->stats.produced, 5);
	assert_string_equal(identity_lookup(f->pl.identity, f->pod_cgroup)->owner.pod_uid, POD_UID);
	/* After it: evicted, tombstone. */
	m->ops->tick(m, 6 + 1000000000ull * f->cfg.identity_grace_s);
	assert_int_equal(m->stats.produced, 6);
	assert_int_equal(pipeline_drain(&f->pl, 10000), 0);
	assert_int_equal(m->stats.delivered, 6);

	n = consume_topic(f, "tapio.metadata", msgs, 6);
	assert_int_equal(n, 6);
	rec = find_key(msgs, n, key, false);
	assert_non_null(rec);
	assert_non_null(memmem(rec->value, rec->len, CONTAINER, strlen(CONTAINER)));
	assert_non_null(memmem(rec->value, rec->len, "burstable", 9));
	assert_non_null(find_key(msgs, n, key, true));
}

/* pipeline_begin copies the per-cgroup envelope bytes its identity entry made once: they must be
 * the bytes avro_put_envelope writes field by field. */
static void test_cached_envelope_matches(void **state)
{
	struct fixture *f = *state;
	struct collector_runtime *c = pipeline_collector(&f->pl, "kernel");
	const struct identity *id = identity_lookup(f->pl.identity, f->pod_cgroup);
	struct envelope env = {
		.seq = c->next_seq,
		.run = f->pl.run,
		.node = "node-a",
		.cgroup_id = f->pod_cgroup,
		.pod_uid = POD_UID,
		.container_id = CONTAINER,
	};
	uint8_t want[512];
	struct avro_buf b, *got;

	assert_non_null(id->envelope_tail); /* the fast path is taken */
	got = pipeline_begin(c, 5000000000ull, f->pod_cgroup, 1);
	env.event_time_us = (5000000000 + f->pl.boot_to_epoch_ns) / 1000;
	avro_buf_init(&b, want, sizeof(want));
	avro_put_raw(&b, c->frame_header, c->frame_len);
	avro_put_envelope(&b, 1, &env);
	assert_int_equal(got->len, b.len);
	assert_memory_equal(got->data, want, b.len);
}

/* Losses show up in the data: a LOSS record on the same topic says how many records were lost
 * at which stage, in which interval, and takes the next sequence number. */
/* The one LOSS record among msgs, decoded (the caller frees it); fails the test without one.
 * *at says which message it was. */
static json_t *find_loss_record(const struct msg *msgs, int n, int *at)
{
	struct avro_json_decoder *dec;
	const char *schema_name;
	char errstr[256];
	json_t *rec = NULL;

	assert_int_equal(avro_json_decoder_new(tapio_schemas, tapio_schema_count, &dec, errstr,
					       sizeof(errstr)), 0);
	for (*at = 0; *at < n; ++*at) {
		assert_int_equal(avro_json_decode(dec, "tapio.kernel", msgs[*at].value, msgs[*at].len,
						  &rec, &schema_name, errstr, sizeof(errstr)), 0);
		if (strcmp(json_string_value(json_object_get(rec, "kind")), "LOSS") == 0)
			break;
		json_decref(rec);
		rec = NULL;
	}
	avro_json_decoder_free(dec);
	if (!rec)
		fail_msg("no LOSS record in the topic");
	return rec;
}

static void test_loss_is_reported_in_band(void **state)
{
	struct fixture *f = *state;
	struct collector_runtime *c = pipeline_collector(&f->pl, "kernel");
	static struct msg msgs[4];
	struct kernel_exec e;
	json_t *rec, *loss;
	int at;

	make_exec(&e, f->pod_cgroup, 100);
	assert_int_equal(pipeline_record(c, &e, sizeof(e)), 0); /* seq 1 */
	assert_int_equal(pipeline_record(c, &e, 12), 0);        /* short: rejected */
	assert_int_equal(pipeline_record(c, &e, 7), 0);         /* short: rejected */
	pipeline_report_losses(&f->pl);
	pipeline_report_losses(&f->pl); /* nothing new: no second report */
	assert_int_equal(c->stats.loss_records, 1);
	assert_int_equal(pipeline_drain(&f->pl, 10000), 0);

	assert_int_equal(consume(f, msgs, 2), 2);
	rec = find_loss_record(msgs, 2, &at);
	loss = json_object_get(rec, "loss");
	assert_string_equal(json_string_value(json_object_get(loss, "stage")), "DECODE");
	assert_int_equal(json_integer_value(json_object_get(loss, "count")), 2);
	assert_true(json_integer_value(json_object_get(loss, "since")) <=
		    json_integer_value(json_object_get(loss, "until")));
	assert_int_equal(json_integer_value(json_object_get(rec, "seq")), 2);
	assert_int_equal(json_integer_value(json_object_get(rec, "cgroup_id")), 0);
	assert_memory_equal(msgs[at].key, "node-a/0", 8);
	json_decref(rec);
}

/* A LOSS report Kafka cannot take (its queue is full, the broker down) is not a lost record
 * itself: its count waits, and the first report taken carries it whole, with its interval. */
static void test_loss_report_not_taken_waits(void **state)
{
	struct fixture *f = *state;
	struct collector_runtime *c = pipeline_collector(&f->pl, "kernel");
	static struct msg msgs[SMALL_QUEUE + 1];
	struct kernel_exec e;
	json_t *rec, *loss;
	int at;
	int64_t opened_us = c->loss_since_us[LOSS_QUEUE_FULL];

	assert_int_equal(pipeline_drain(&f->pl, 10000), 0); /* the start-up snapshot */
	assert_int_equal(rd_kafka_mock_broker_set_down(f->pl.publisher.mock, 1), 0);
	for (uint32_t i = 0; i < SMALL_QUEUE + 2; i++) {
		make_exec(&e, f->pod_cgroup, 100 + i);
		assert_int_equal(pipeline_record(c, &e, sizeof(e)), 0);
	}
	assert_int_equal(c->stats.produced, SMALL_QUEUE);
	assert_int_equal(c->stats.queue_full, 2);
	pipeline_report_losses(&f->pl);
	pipeline_report_losses(&f->pl);
	assert_int_equal(c->stats.loss_records, 0);
	assert_int_equal(c->stats.queue_full, 2); /* the reports were not counted as lost records */

	assert_int_equal(rd_kafka_mock_broker_set_up(f->pl.publisher.mock, 1), 0);
	assert_int_equal(pipeline_drain(&f->pl, 30000), 0);
	pipeline_report_losses(&f->pl);
	pipeline_report_losses(&f->pl); /* nothing new */
	assert_int_equal(c->stats.loss_records, 1);
	assert_int_equal(pipeline_drain(&f->pl, 10000), 0);
	assert_int_equal(c->stats.delivered, SMALL_QUEUE + 1);

	assert_int_equal(consume(f, msgs, SMALL_QUEUE + 1), SMALL_QUEUE + 1);
	rec = find_loss_record(msgs, SMALL_QUEUE + 1, &at);
	loss = json_object_get(rec, "loss");
	assert_string_equal(json_string_value(json_object_get(loss, "stage")), "QUEUE_FULL");
	assert_int_equal(json_integer_value(json_object_get(loss, "count")), 2);
	/* The interval runs from the producer's start, not from a report that was not taken. */
	assert_int_equal(json_integer_value(json_object_get(loss, "since")), opened_us);
	assert_int_equal(json_integer_value(json_object_get(rec, "seq")), SMALL_QUEUE + 1);
	json_decref(rec);
}

/* Serves librdkafka until `done` holds, at most ~30 s: waits on events, not on time. */
#define SERVE_UNTIL(f, done)                                                        \
	do {                                                                        \
		for (int polls_ = 0; !(done) && polls_ < 300; polls_++) {           \
			rd_kafka_poll((f)->pl.publisher.rk, 100);                  \
			pipeline_replay(&(f)->pl);                                  \
		}                                                                   \
	} while (0)

static void spool_outage(struct fixture *f, int n, uint32_t first_pid)
{
	struct collector_runtime *c = pipeline_collector(&f->pl, "kernel");
	struct kernel_exec e;

	assert_int_equal(pipeline_drain(&f->pl, 10000), 0); /* the start-up snapshot */
	assert_int_equal(rd_kafka_mock_broker_set_down(f->pl.publisher.mock, 1), 0);
	/* Something to send makes librdkafka notice the broker is gone. */
	make_exec(&e, f->pod_cgroup, first_pid);
	assert_int_equal(pipeline_record(c, &e, sizeof(e)), 0);
	SERVE_UNTIL(f, f->pl.publisher.brokers_down);
	assert_true(f->pl.publisher.brokers_down);
	for (int i = 1; i < n; i++) {
		make_exec(&e, f->pod_cgroup, first_pid + (uint32_t)i);
		assert_int_equal(pipeline_record(c, &e, sizeof(e)), 0);
	}
}

/* Records made while the broker is down go to the spool; once it is back, every one arrives,
 * each sequence number once, in order (one pod: one key, one partition). */
static void test_outage_spools_then_replays_in_order(void **state)
{
	struct fixture *f = *state;
	struct collector_runtime *c = pipeline_collector(&f->pl, "kernel");
	static struct msg msgs[300];
	int64_t last = 0;
	int n;

	spool_outage(f, 200, 1000);
	assert_true(f->pl.spooling);
	assert_true(c->stats.spooled >= 199); /* the first may still sit in librdkafka's queue */
	assert_int_equal(c->stats.spooled + c->stats.produced, 200);

	assert_int_equal(rd_kafka_mock_broker_set_up(f->pl.publisher.mock, 1), 0);
	SERVE_UNTIL(f, !f->pl.spooling);
	assert_false(f->pl.spooling);
	assert_int_equal(pipeline_drain(&f->pl, 10000), 0);
	assert_int_equal(c->stats.delivered, 200);
	assert_int_equal(c->stats.delivery_failed + c->stats.spool_failed, 0);

	n = consume(f, msgs, 200);
	assert_int_equal(n, 200);
	for (int i = 0; i < n; i++) {
		/* seq is the envelope's third field: after the 10-byte frame and the kind. */
		const uint8_t *p = msgs[i].value + 10 + 1;
		int64_t seq = 0, shift = 0;
		uint64_t z = 0;

		while (*p & 0x80) /* event_time varint */
			p++;
		p++;
		do {
			z |= (uint64_t)(*p & 0x7f) << shift;
			shift += 7;
		} while (*p++ & 0x80);
		seq = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
		assert_int_equal(seq, last + 1);
		last = seq;
	}
}

/* A spool of 1 MiB under drop_oldest: it stays within its bound and counts what it evicted. */
static void test_full_spool_drops_oldest_and_counts(void **state)
{
	struct fixture *f = *state;
	struct spool_stats ss;

	spool_outage(f, 12000, 1); /* ~1.3 MB of records */
	spool_get_stats(f->pl.spool, &ss);
	assert_true(ss.dropped_full > 0);
	assert_true(ss.pending_bytes <= 1 << 20);
	assert_int_equal(ss.appended, pipeline_collector(&f->pl, "kernel")->stats.spooled);
	/* Every evicted record was this run's kernel record: one SPOOL_EVICTED report says so,
	 * loss.run naming this run, so a consumer knows which gaps it accounts for. */
	{
		struct collector_runtime *c = pipeline_collector(&f->pl, "kernel");
		uint64_t loss_records = c->stats.loss_records;

		assert_int_equal(c->stats.spool_evicted, ss.dropped_full);
		assert_int_equal(c->evicted[0].run, f->pl.run);
		assert_int_equal(c->evicted[0].count, ss.dropped_full);
		pipeline_report_losses(&f->pl);
		assert_int_equal(c->evicted[0].reported, ss.dropped_full);
		assert_true(c->stats.loss_records > loss_records);
	}
	/* Memory does not grow with the outage: librdkafka was handed only the record that found
	 * the broker gone; the rest is on disk, within the spool's bound. (Not outq_len: it also
	 * counts librdkafka's own error events, however many it queued.) */
	assert_int_equal(pipeline_collector(&f->pl, "kernel")->stats.produced, 1);
}

/* A producer that stops without delivering (as after kill -9) leaves its records in the spool;
 * the next one recovers and delivers all of them. */
static void test_spool_survives_a_restart(void **state)
{
	struct fixture *f = *state;
	static struct msg msgs[64];
	char errstr[256];

	spool_outage(f, 50, 2000);
	/* Drop the pipeline without draining: what was spooled is on disk already. */
	pipeline_close(&f->pl);
	assert_int_equal(pipeline_open(&f->pl, &f->cfg, f->root, errstr, sizeof(errstr)), 0);
	assert_true(f->pl.spool_recovered.records >= 49);
	assert_int_equal(f->pl.spool_recovered.torn, 0);
	assert_true(f->pl.spooling);
	SERVE_UNTIL(f, !f->pl.spooling);
	assert_int_equal(pipeline_drain(&f->pl, 10000), 0);
	assert_int_equal(consume(f, msgs, 64), (int)f->pl.spool_recovered.records);
	assert_int_equal(pipeline_collector(&f->pl, "kernel")->stats.delivered, f->pl.spool_recovered.records);
}

/*
 * A spool left by a run with another collector list blocks nothing: the records of a collector
 * this run does not run go to their own topic, and those of a stream this build does not know
 * at all are dropped and counted, without holding back the ones behind them.
 */
static void test_spool_of_another_collector_list_drains(void **state)
{
	static const char *const known_both[] = { "kernel", "dns", NULL };
	struct fixture *f = *state;
	static struct msg msgs[64];
	struct spool_config sc = { .dir = f->spool, .max_bytes = 1 << 20, .segment_bytes = 1 << 20,
				   .full = SPOOL_DROP_OLDEST, .fsync = SPOOL_FSYNC_NONE };
	struct collector_runtime *kernel;
	struct spool *sp;
	char errstr[256], text[256];
	uint64_t recovered;

	spool_outage(f, 50, 3000);
	pipeline_close(&f->pl);
	/* A stream no collector of this build has, between the kernel records. */
	assert_int_equal(spool_open(&sp, &sc, NULL, errstr, sizeof(errstr)), 0);
	assert_int_equal(spool_append(sp, "nosuch", "k", 1, "v", 1, 1), 0);
	spool_close(sp);

	config_free(&f->cfg);
	config_defaults(&f->cfg);
	snprintf(text, sizeof(text), "node_name = node-a\ncollectors = dns\nspool_dir = %s\n",
		 f->spool);
	assert_int_equal(config_parse_text(&f->cfg, text, "test", known_both, errstr,
					   sizeof(errstr)), 0);
	assert_int_equal(pipeline_open(&f->pl, &f->cfg, f->root, errstr, sizeof(errstr)), 0);
	assert_null(pipeline_collector(&f->pl, "kernel"));
	recovered = f->pl.spool_recovered.records;
	assert_true(recovered >= 50); /* 49 or 50 kernel records, and the foreign one */
	SERVE_UNTIL(f, !f->pl.spooling);
	assert_false(f->pl.spooling);
	assert_int_equal(pipeline_drain(&f->pl, 10000), 0);
	assert_int_equal(f->pl.spool_foreign, 1);
	kernel = pipeline_collector(&f->pl, "kernel");
	assert_non_null(kernel);
	assert_int_equal(kernel->state, COLLECTOR_CLOSED); /* it replays, it does not run */
	assert_int_equal(kernel->stats.delivered, recovered - 1);
	assert_int_equal(consume(f, msgs, 64), (int)recovered - 1);
}

static int setup_short_timeout(void **state)
{
	return open_fixture(state, false, "kafka.message.timeout.ms = 1000\n");
}

/* A LOSS record that Kafka does not acknowledge (it times out) gives its count back: the next
 * report of its stage carries it, with its interval; the seq it took is a gap, which a DELIVERY
 * report accounts for like any failed record's. */
static void test_loss_report_that_times_out_is_carried(void **state)
{
	struct fixture *f = *state;
	struct collector_runtime *c = pipeline_collector(&f->pl, "kernel");
	struct avro_json_decoder *dec;
	static struct msg msgs[16];
	struct kernel_exec e;
	int64_t first_since, decode_count = 0, delivery_count = 0;
	const char *schema_name;
	char errstr[256];
	int n;

	assert_int_equal(pipeline_drain(&f->pl, 10000), 0); /* the start-up snapshot */
	first_since = c->loss_since_us[LOSS_DECODE];
	assert_int_equal(rd_kafka_mock_broker_set_down(f->pl.publisher.mock, 1), 0);
	make_exec(&e, f->pod_cgroup, 100);
	assert_int_equal(pipeline_record(c, &e, 12), 0); /* short: rejected */
	assert_int_equal(pipeline_record(c, &e, 7), 0);  /* short: rejected */
	pipeline_report_losses(&f->pl);
	assert_int_equal(c->stats.loss_records, 1);
	SERVE_UNTIL(f, c->stats.loss_records_failed == 1);
	assert_int_equal(c->stats.loss_records_failed, 1);
	assert_int_equal(c->stats.delivery_failed, 1);

	assert_int_equal(rd_kafka_mock_broker_set_up(f->pl.publisher.mock, 1), 0);
	/* Reports until every one is acknowledged (one may time out again while librdkafka
	 * reconnects, and is reported in turn). */
	for (int polls = 0; polls < 300 && (c->stats.delivered == 0 ||
					     c->stats.delivered + c->stats.loss_records_failed <
						     c->stats.loss_records); polls++) {
		pipeline_report_losses(&f->pl);
		rd_kafka_poll(f->pl.publisher.rk, 100);
	}
	assert_int_equal(pipeline_drain(&f->pl, 30000), 0);
	pipeline_report_losses(&f->pl);
	assert_int_equal(pipeline_drain(&f->pl, 30000), 0);

	n = consume(f, msgs, 16);
	assert_true(n >= 2);
	assert_int_equal(avro_json_decoder_new(tapio_schemas, tapio_schema_count, &dec, errstr,
					       sizeof(errstr)), 0);
	for (int i = 0; i < n; i++) {
		json_t *rec, *loss;
		const char *stage;

		assert_int_equal(avro_json_decode(dec, "tapio.kernel", msgs[i].value, msgs[i].len,
						  &rec, &schema_name, errstr, sizeof(errstr)), 0);
		loss = json_object_get(rec, "loss");
		stage = json_string_value(json_object_get(loss, "stage"));
		if (stage && !strcmp(stage, "DECODE")) {
			decode_count += json_integer_value(json_object_get(loss, "count"));
			assert_int_equal(json_integer_value(json_object_get(loss, "since")),
					 first_since);
		} else if (stage && !strcmp(stage, "DELIVERY")) {
			delivery_count += json_integer_value(json_object_get(loss, "count"));
		}
		json_decref(rec);
	}
	avro_json_decoder_free(dec);
	/* The two rejections reached Kafka once, whole; every failed report is one DELIVERY. */
	assert_int_equal(decode_count, 2);
	assert_int_equal(delivery_count, (int64_t)c->stats.loss_records_failed);
}

static int setup_spool_fast_metadata(void **state)
{
	return open_fixture(state, true, "kafka.topic.metadata.propagation.max.ms = 10\n"
				       "kafka.topic.metadata.refresh.interval.ms = 100\n");
}

/* A topic the brokers say does not exist: said loudly (/readyz names it, a gauge is 1), its
 * records kept in the spool, and they arrive once it exists. */
static void test_missing_topic_is_loud_and_kept(void **state)
{
	struct fixture *f = *state;
	struct collector_runtime *c = pipeline_collector(&f->pl, "kernel");
	static struct msg msgs[16];
	struct kernel_exec e;
	const char *why;

	assert_int_equal(pipeline_drain(&f->pl, 10000), 0); /* the start-up snapshot */
	rd_kafka_mock_topic_set_error(f->pl.publisher.mock, "tapio.kernel",
				      RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
	for (int polls = 0; polls < 10; polls++) /* a metadata refresh sees it */
		rd_kafka_poll(f->pl.publisher.rk, 100);
	f->pl.attached = true;
	for (int i = 0; i < 5; i++) {
		make_exec(&e, f->pod_cgroup, 4000 + (uint32_t)i);
		assert_int_equal(pipeline_record(c, &e, sizeof(e)), 0);
	}
	SERVE_UNTIL(f, c->topic_missing);
	assert_true(c->topic_missing);
	why = metrics_not_ready(&f->pl, f->pl.last_tick_ms);
	assert_non_null(why);
	assert_non_null(strstr(why, "topic tapio.kernel does not exist"));
	assert_true(c->stats.spooled >= 1);
	assert_int_equal(c->stats.delivery_failed, 0);

	rd_kafka_mock_topic_set_error(f->pl.publisher.mock, "tapio.kernel",
				      RD_KAFKA_RESP_ERR_NO_ERROR);
	f->pl.publisher.brokers_down = 0;
	for (int polls = 0; c->topic_missing && polls < 300; polls++) {
		c->topic_missing_since_ms -= 10000; /* the probe is due at once */
		f->pl.replay_paused = true;
		rd_kafka_poll(f->pl.publisher.rk, 100);
		pipeline_replay(&f->pl);
	}
	assert_false(c->topic_missing);
	SERVE_UNTIL(f, !f->pl.spooling);
	assert_int_equal(pipeline_drain(&f->pl, 10000), 0);
	assert_null(metrics_not_ready(&f->pl, f->pl.last_tick_ms));
	assert_int_equal(consume(f, msgs, 16), 5);
}

/*
 * A collector with no BPF: what a test pushes into its hand-off (as a worker thread would) goes
 * through the same pipeline, seq, LOSS records and counters. It borrows the kernel topic's name
 * and schema, so bodies are kernel fields and the records decode like any other.
 */
static struct handoff *test_q;
static size_t test_q_max = 1024;

static int handoff_open(struct collector_runtime *c, struct collector_io *io)
{
	(void)c;
	test_q = handoff_new(test_q_max, 1 << 20);
	io->handoff = test_q;
	return test_q ? 0 : -ENOMEM;
}

static void handoff_destroy(struct collector_runtime *c)
{
	(void)c;
	handoff_free(test_q);
	test_q = NULL;
}

static const struct collector_ops handoff_collector = {
	.name = "kernel",
	.open = handoff_open,
	.destroy = handoff_destroy,
};

static const struct collector_ops *const handoff_only[] = { &handoff_collector };

/* A collector with nothing to connect to (an HTTP collector outside a cluster). */
static int nothing_open(struct collector_runtime *c, struct collector_io *io)
{
	(void)c;
	(void)io;
	return -ENODEV;
}

static void nothing_destroy(struct collector_runtime *c)
{
	(void)c;
}

/* Named in `collectors` ("kernel" in the fixture) and not ("dns"). */
static const struct collector_ops named_nothing = {
	.name = "kernel", .open = nothing_open, .destroy = nothing_destroy,
};
static const struct collector_ops unnamed_nothing = {
	.name = "dns", .open = nothing_open, .destroy = nothing_destroy,
};

/* Not asked for by name and nothing to connect to: skipped, the others run. Asked for by name:
 * a configuration error (exit 2 in main). */
static void test_nothing_to_connect_to(void **state)
{
	const struct collector_ops *const unnamed[] = { &unnamed_nothing, &handoff_collector };
	const struct collector_ops *const named[] = { &named_nothing };
	struct fixture *f;
	char errstr[256];

	(void)state;
	test_q_max = 16;
	open_fixture_with((void **)&f, false, "", unnamed, 0); /* the fixture, no collector */
	pipeline_close(&f->pl);
	assert_int_equal(pipeline_open_collectors(&f->pl, &f->cfg, unnamed, 2, f->root, errstr,
						  sizeof(errstr)), 0);
	assert_false(pipeline_collector(&f->pl, "dns")->named);
	assert_int_equal(pipeline_attach(&f->pl), 1);
	assert_int_equal(pipeline_collector(&f->pl, "dns")->state, COLLECTOR_SKIPPED);
	assert_int_equal(pipeline_collector(&f->pl, "kernel")->state, COLLECTOR_RUNNING);
	/* Skipped is not down: no tapio_collector_up sample to alert on. */
	{
		char *text = NULL;
		size_t len = 0;
		FILE *out = open_memstream(&text, &len);

		metrics_render(&f->pl, out);
		fclose(out);
		assert_non_null(strstr(text, "tapio_collector_up{collector=\"kernel\"} 1\n"));
		assert_null(strstr(text, "tapio_collector_up{collector=\"dns\"}"));
		free(text);
	}
	pipeline_close(&f->pl);

	assert_int_equal(pipeline_open_collectors(&f->pl, &f->cfg, named, 1, f->root, errstr,
						  sizeof(errstr)), 0);
	assert_true(pipeline_collector(&f->pl, "kernel")->named);
	assert_int_equal(pipeline_attach(&f->pl), -EINVAL);
	*state = f;
}

static int setup_handoff(void **state)
{
	test_q_max = 1024;
	return open_fixture_with(state, false, "", handoff_only, 1);
}

static int setup_small_handoff(void **state)
{
	test_q_max = 4;
	return open_fixture_with(state, false, "", handoff_only, 1);
}

#define HANDOFF_POD "11111111-2222-3333-4444-555555555555"
#define HANDOFF_T0 1764000000000000LL

/* Record i: an exec of pid 1000 + i, keyed by a pod UID, completing position "<i + 1>". */
static int push_record(int i, int wait_ms)
{
	struct handoff_meta meta = { .kind = 1 /* EXEC */, .event_time_us = HANDOFF_T0 + i };
	struct kernel_exec e;
	uint8_t body[1024];
	struct avro_buf buf;

	make_exec(&e, 0, 1000 + (uint32_t)i);
	avro_buf_init(&buf, body, sizeof(body));
	kernel_encode(&e, 1, &buf);
	assert_false(buf.overflow);
	strcpy(meta.pod_uid, HANDOFF_POD);
	snprintf(meta.position, sizeof(meta.position), "%d", i + 1);
	return handoff_push_record(test_q, &meta, HANDOFF_POD, strlen(HANDOFF_POD), buf.data,
				   buf.len, wait_ms);
}

static void test_handoff_records_are_numbered_keyed_and_checkpointed(void **state)
{
	struct fixture *f = *state;
	struct collector_runtime *c = pipeline_collector(&f->pl, "kernel");
	struct avro_json_decoder *dec;
	static struct msg msgs[64];
	const char *schema_name;
	char errstr[256], pos[HANDOFF_POSITION_MAX];
	json_t *rec;

	for (int i = 0; i < 50; i++)
		assert_int_equal(push_record(i, 0), 0);
	pipeline_take_handoff(c);
	assert_int_equal(c->stats.received, 50);
	/* Handed to librdkafka, not yet acknowledged: no position is durable. */
	assert_false(handoff_take_durable(test_q, 0, pos, sizeof(pos)));
	assert_int_equal(pipeline_drain(&f->pl, 10000), 0);
	assert_true(handoff_take_durable(test_q, 0, pos, sizeof(pos)));
	assert_string_equal(pos, "50");
	assert_false(handoff_take_durable(test_q, 0, pos, sizeof(pos))); /* taken once */

	assert_int_equal(consume(f, msgs, 50), 50);
	assert_int_equal(avro_json_decoder_new(tapio_schemas, tapio_schema_count, &dec, errstr,
					       sizeof(errstr)), 0);
	for (int i = 0; i < 50; i++) {
		int64_t seq;

		assert_int_equal(msgs[i].key_len, strlen(HANDOFF_POD));
		assert_memory_equal(msgs[i].key, HANDOFF_POD, msgs[i].key_len);
		assert_int_equal(avro_json_decode(dec, "tapio.kernel", msgs[i].value, msgs[i].len,
						  &rec, &schema_name, errstr, sizeof(errstr)), 0);
		/* One key, one partition: in order. */
		seq = json_integer_value(json_object_get(rec, "seq"));
		assert_int_equal(seq, i + 1);
		assert_int_equal(json_integer_value(json_object_get(rec, "event_time")),
				 HANDOFF_T0 + i);
		assert_int_equal(msgs[i].timestamp, (HANDOFF_T0 + i) / 1000);
		assert_string_equal(json_string_value(json_object_get(rec, "pod_uid")), HANDOFF_POD);
		assert_true(json_is_null(json_object_get(rec, "container_id")));
		assert_int_equal(json_integer_value(json_object_get(rec, "cgroup_id")), 0);
		assert_int_equal(json_integer_value(json_object_get(rec, "pid")), 1000 + i);
		json_decref(rec);
	}
	avro_json_decoder_free(dec);
}

/* A full hand-off refuses records; the refusals are a loss stage of their own, in band and on
 * /metrics, and the rest keeps its numbers without a gap. */
static void test_handoff_refusals_are_counted_in_band(void **state)
{
	struct fixture *f = *state;
	struct collector_runtime *c = pipeline_collector(&f->pl, "kernel");
	static struct msg msgs[8];
	char *text = NULL;
	size_t len = 0;
	FILE *out;
	json_t *rec, *loss;
	int at;

	for (int i = 0; i < 10; i++)
		assert_int_equal(push_record(i, 0), i < 4 ? 0 : -ENOBUFS);
	pipeline_tick(&f->pl); /* reads the refusals, takes the four, reports the loss */
	assert_int_equal(c->stats.handoff_refused, 6);
	assert_int_equal(c->stats.received, 4);
	assert_int_equal(c->stats.loss_records, 1);
	out = open_memstream(&text, &len);
	metrics_render(&f->pl, out);
	fclose(out);
	assert_non_null(strstr(text, "tapio_records_dropped_total{collector=\"kernel\","
				     "stage=\"handoff\"} 6\n"));
	free(text);
	assert_int_equal(pipeline_drain(&f->pl, 10000), 0);

	assert_int_equal(consume(f, msgs, 5), 5);
	rec = find_loss_record(msgs, 5, &at);
	loss = json_object_get(rec, "loss");
	assert_string_equal(json_string_value(json_object_get(loss, "stage")), "HANDOFF");
	assert_int_equal(json_integer_value(json_object_get(loss, "count")), 6);
	json_decref(rec);
}

/* A position is durable only once every record before it is acknowledged; a mark (a position
 * with no record) waits for them too. */
static void test_handoff_position_waits_for_delivery(void **state)
{
	struct fixture *f = *state;
	struct collector_runtime *c = pipeline_collector(&f->pl, "kernel");
	char pos[HANDOFF_POSITION_MAX];

	assert_int_equal(rd_kafka_mock_broker_set_down(f->pl.publisher.mock, 1), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(push_record(i, 0), 0);
	assert_int_equal(handoff_push_mark(test_q, 0, "7"), 0);
	pipeline_take_handoff(c);
	for (int polls = 0; polls < 10; polls++) {
		rd_kafka_poll(f->pl.publisher.rk, 100);
		assert_false(handoff_take_durable(test_q, 0, pos, sizeof(pos)));
	}
	assert_int_equal(rd_kafka_mock_broker_set_up(f->pl.publisher.mock, 1), 0);
	assert_int_equal(pipeline_drain(&f->pl, 30000), 0);
	assert_true(handoff_take_durable(test_q, 0, pos, sizeof(pos)));
	assert_string_equal(pos, "7");
	assert_int_equal(c->stats.delivered, 3);

	/* Nothing outstanding: a mark is durable at once. */
	assert_int_equal(handoff_push_mark(test_q, 1, "8"), 0);
	pipeline_take_handoff(c);
	assert_true(handoff_take_durable(test_q, 1, pos, sizeof(pos)));
	assert_string_equal(pos, "8");
}

static void *push_blocking(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)push_record(99, -1);
}

/* A worker waiting for room is released by handoff_stop(), without its record counted lost. */
static void test_handoff_stop_releases_a_waiting_worker(void **state)
{
	struct fixture *f = *state;
	pthread_t worker;
	void *ret;

	(void)f;
	for (int i = 0; i < 4; i++)
		assert_int_equal(push_record(i, 0), 0);
	assert_int_equal(pthread_create(&worker, NULL, push_blocking, NULL), 0);
	handoff_stop(test_q);
	assert_int_equal(pthread_join(worker, &ret), 0);
	assert_int_equal((intptr_t)ret, -ECANCELED);
	assert_int_equal(handoff_refused(test_q), 0);
	assert_int_equal(push_record(5, 0), -ECANCELED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_records_arrive_keyed_and_framed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_headers_when_asked, setup_all_headers,
						teardown),
		cmocka_unit_test_setup_teardown(test_record_headers_when_asked, setup_node_header,
						teardown),
		cmocka_unit_test_setup_teardown(test_timestamp_is_wall_clock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejections_are_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_cgroup_gets_node_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delivery_failure_is_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loss_is_reported_in_band, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loss_report_not_taken_waits, setup_small_queue,
						teardown),
		cmocka_unit_test_setup_teardown(test_cached_envelope_matches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metadata_snapshot_and_tombstone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outage_spools_then_replays_in_order, setup_spool, teardown),
		cmocka_unit_test_setup_teardown(test_full_spool_drops_oldest_and_counts, setup_spool, teardown),
		cmocka_unit_test_setup_teardown(test_spool_survives_a_restart, setup_spool, teardown),
		cmocka_unit_test_setup_teardown(test_spool_of_another_collector_list_drains, setup_spool,
						teardown),
		cmocka_unit_test_setup_teardown(test_loss_report_that_times_out_is_carried,
						setup_short_timeout, teardown),
		cmocka_unit_test_setup_teardown(test_missing_topic_is_loud_and_kept,
						setup_spool_fast_metadata, teardown),
		cmocka_unit_test_teardown(test_nothing_to_connect_to, teardown),
		cmocka_unit_test_setup_teardown(test_handoff_records_are_numbered_keyed_and_checkpointed,
						setup_handoff, teardown),
		cmocka_unit_test_setup_teardown(test_handoff_refusals_are_counted_in_band,
						setup_small_handoff, teardown),
		cmocka_unit_test_setup_teardown(test_handoff_position_waits_for_delivery, setup_handoff,
						teardown),
		cmocka_unit_test_setup_teardown(test_handoff_stop_releases_a_waiting_worker,
						setup_small_handoff, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
