#include "pipeline.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "registry.h"
#include "schema.h"

#define REGISTRY_TIMEOUT_MS 10000
/* While a topic is missing, one of its spooled records asks again this often. */
#define TOPIC_PROBE_MS 10000

static void count_delivery_error(struct collector_stats *s, rd_kafka_resp_err_t err)
{
	size_t n = sizeof(s->delivery_errors) / sizeof(s->delivery_errors[0]);

	for (size_t i = 0; i < n; i++) {
		if (s->delivery_errors[i].count && s->delivery_errors[i].err != (int)err)
			continue;
		s->delivery_errors[i].err = err;
		s->delivery_errors[i].count++;
		return;
	}
	s->delivery_errors_other++;
}

/* Errors after which the same message can succeed later: worth keeping in the spool. */
static bool retriable(rd_kafka_resp_err_t err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
	case RD_KAFKA_RESP_ERR__TIMED_OUT:
	case RD_KAFKA_RESP_ERR__TRANSPORT:
	case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
	case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
	case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
	case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
	case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
	case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
	case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
	case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
	case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
	/* A topic not created yet: its records wait in the spool until someone creates it. */
	case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
	case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
		return true;
	default:
		return false;
	}
}

/* Writes a record to the spool (from now on records queue behind it there) and counts it
 * spooled; -ENOSPC when the spool refuses it (the caller counts what that lost). */
static int spool_record(struct collector_runtime *c, const void *key, size_t key_len,
			const void *value, size_t len, int64_t ts_ms)
{
	struct pipeline *pl = c->pipeline;
	int err = spool_append(pl->spool, c->ops->name, key, key_len, value, len, ts_ms);

	if (err) {
		log_at(c->stats.spool_failed == 0 ? LOG_ERROR : LOG_DEBUG,
		       "%s: the spool refused a record: %s", c->topic_name, strerror(-err));
		return -ENOSPC;
	}
	if (!pl->spooling)
		log_warn("kafka is not taking records: spooling them to %s", pl->cfg->spool_dir);
	pl->spooling = true;
	c->stats.spooled++;
	return 0;
}

/* Record `ref` of a hand-off has its outcome: delivered, spooled, or lost and counted. Positions
 * whose records are now all settled become durable. */
static void release_positions(struct collector_runtime *c)
{
	struct settle_tracker *t = c->settle;

	while (t->settled_upto < t->issued && t->settled[t->settled_upto % SETTLE_WINDOW])
		t->settled_upto++;
	while (t->mark_count && t->marks[t->mark_head].upto <= t->settled_upto) {
		handoff_set_durable(c->io.handoff, t->marks[t->mark_head].source,
				    t->marks[t->mark_head].position);
		t->mark_head = (t->mark_head + 1) % SETTLE_MARKS;
		t->mark_count--;
	}
}

static void settle(struct msg_ref *ref)
{
	if (!ref->c->settle || ref->settle_slot < 0)
		return;
	ref->c->settle->settled[ref->settle_slot] = true;
	release_positions(ref->c);
}

/* The delivery report of the LOSS record of `ref`: a report that Kafka did not acknowledge (and
 * no spool kept) gives its count back, so the next report of its stage carries it. */
static void loss_delivered(struct msg_ref *ref, bool kept)
{
	struct collector_runtime *c = ref->c;
	int stage = ref->loss_stage;

	if (!kept) {
		if (stage == LOSS_SPOOL_EVICTED)
			c->evicted[c->loss_inflight[stage].bucket].reported -=
				c->loss_inflight[stage].count;
		else
			c->loss_reported[stage] -= c->loss_inflight[stage].count;
		c->loss_since_us[stage] = c->loss_inflight[stage].since_us;
		c->stats.loss_records_failed++;
	}
	c->loss_inflight[stage].busy = false;
}

/* The broker says c's topic does not exist (and does not create topics): said once, loudly,
 * with what to do; /readyz names the topic until a record reaches it. */
static void note_topic(struct collector_runtime *c, rd_kafka_resp_err_t err)
{
	bool missing = err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
		       err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;

	if (missing && !c->topic_missing) {
		log_error("%s: the topic does not exist and the brokers do not create it: create it "
			  "(tapio-producer --print-topics prints how, with its settings); %s",
			  c->topic_name, c->pipeline->spool ? "its records wait in the spool" :
			  "its records fail and are counted");
		c->topic_missing_since_ms = clock_ns(CLOCK_MONOTONIC) / 1000000;
	} else if (!err && c->topic_missing) {
		log_info("%s: the topic exists now", c->topic_name);
	}
	if (missing || !err)
		c->topic_missing = missing;
}

static void on_delivery(struct msg_ref *ref, const rd_kafka_message_t *m)
{
	struct collector_runtime *c = ref->c;
	struct pipeline *pl = c->pipeline;

	note_topic(c, m->err);
	if (ref->replay_slot >= 0) {
		pl->replay[ref->replay_slot].busy = false;
		pl->replay_busy--;
		if (!m->err) {
			spool_ack(pl->spool, pl->replay[ref->replay_slot].pos);
			c->stats.delivered++;
			return;
		}
		/* It stays in the spool: replay again from the oldest unacknowledged record. */
		pl->replay_paused = true;
		log_debug("%s: replayed record failed: %s", c->topic_name, rd_kafka_err2str(m->err));
		return;
	}
	if (!m->err) {
		c->stats.delivered++;
		if (ref->loss_stage)
			loss_delivered(ref, true);
		settle(ref);
		return;
	}
	if (pl->spool && retriable(m->err) &&
	    spool_record(c, m->key, m->key_len, m->payload, m->len,
			 rd_kafka_message_timestamp(m, NULL)) == 0) {
		if (ref->loss_stage)
			loss_delivered(ref, true);
		settle(ref);
		return;
	}
	if (ref->loss_stage)
		loss_delivered(ref, false);
	c->stats.delivery_failed++;
	count_delivery_error(&c->stats, m->err);
	log_at(c->stats.delivery_failed == 1 ? LOG_ERROR : LOG_DEBUG, "%s: delivery failed: %s",
	       c->topic_name, rd_kafka_err2str(m->err));
	settle(ref);
}

static int setup_collector(struct pipeline *pl, const struct collector_ops *ops, char *errstr,
			   size_t errstr_size)
{
	struct collector_runtime *c = &pl->collectors[pl->ncollectors];
	const struct tapio_schema *schema = schema_find(ops->name);
	uint64_t fingerprint;
	int err;

	if (!schema) {
		snprintf(errstr, errstr_size, "%s: no schema compiled in", ops->name);
		return -ENOENT;
	}
	err = schema_fingerprint(schema->json, &fingerprint, errstr, errstr_size);
	if (err)
		return err;
	memset(c, 0, sizeof(*c));
	pl->ncollectors++; /* from here, pipeline_close() frees what this makes */
	c->ops = ops;
	c->pipeline = pl;
	c->io = (struct collector_io){ .ring_fd = -1, .counters_fd = -1, .wake_fd = -1 };
	c->next_seq = 1;
	c->ref = (struct msg_ref){ .c = c, .replay_slot = -1, .settle_slot = -1 };
	/* Every topic reports its losses in band: its schema has the LOSS kind and `loss` field. */
	c->loss_kind = schema_enum_index(schema->json, "kind", "LOSS");
	if (c->loss_kind < 0) {
		snprintf(errstr, errstr_size, "%s: schema has no LOSS kind", ops->name);
		return -EINVAL;
	}
	err = schema_zero_fields(schema->json, ENVELOPE_FIELDS, &c->zero_fields, &c->zero_fields_len,
				 errstr, errstr_size);
	if (err)
		return err;
	for (int stage = 0; stage < LOSS_STAGE_MAX; stage++)
		c->loss_since_us[stage] = clock_ns(CLOCK_REALTIME) / 1000;
	snprintf(c->fingerprint_hex, sizeof(c->fingerprint_hex), "%016" PRIx64, fingerprint);
	snprintf(c->topic_name, sizeof(c->topic_name), "%s%s", pl->cfg->topic_prefix, ops->name);
	if (pl->cfg->schema_registry_url) {
		char subject[300];
		int32_t id;

		/* TopicNameStrategy, what Kafka Streams, ksqlDB and Flink look up by default. */
		snprintf(subject, sizeof(subject), "%s-value", c->topic_name);
		err = registry_register(pl->cfg->schema_registry_url, subject, schema->json,
					REGISTRY_TIMEOUT_MS, &id, errstr, errstr_size);
		if (err)
			return err;
		avro_confluent_header(id, c->frame_header);
		c->frame_len = AVRO_CONFLUENT_HDR_LEN;
		log_info("%s: schema registered as %s, id %d", ops->name, subject, id);
	} else {
		avro_single_object_header(fingerprint, c->frame_header);
		c->frame_len = AVRO_SINGLE_OBJECT_HDR_LEN;
	}
	return 0;
}

static struct collector_runtime *replay_runtime(struct pipeline *pl, const char *stream);

/* The run of a framed value: after the framing, kind, event_time and seq, every envelope has
 * run (release 0.1.0's had none: those records read as run 0). */
static int64_t value_run(const uint8_t *v, size_t len)
{
	size_t off = len && v[0] == 0xc3 ? AVRO_SINGLE_OBJECT_HDR_LEN : AVRO_CONFLUENT_HDR_LEN;
	uint64_t raw = 0;

	for (int field = 0; field < 4; field++) {
		unsigned shift = 0;

		raw = 0;
		do {
			if (off >= len || shift > 63)
				return 0;
			raw |= (uint64_t)(v[off] & 0x7f) << shift;
			shift += 7;
		} while (v[off++] & 0x80);
	}
	return (int64_t)((raw >> 1) ^ (0 - (raw & 1)));
}

/* A record the full spool dropped: it had its seq, so it is a gap in its run's stream; counted
 * per run, for a SPOOL_EVICTED report with loss.run set. Tombstones have no seq. */
static void on_spool_evicted(struct spool_lost_sink *sink, const struct spool_entry *e)
{
	struct pipeline *pl = (struct pipeline *)((char *)sink - offsetof(struct pipeline,
								   spool_lost));
	struct collector_runtime *c = replay_runtime(pl, e->stream);
	int64_t run;
	int b;

	if (!c || !e->value)
		return;
	run = value_run(e->value, e->value_len);
	c->stats.spool_evicted++;
	for (b = 0; b < EVICTED_RUNS - 1; b++)
		if (c->evicted[b].run == run || (!c->evicted[b].run && !c->evicted[b].count))
			break;
	c->evicted[b].run = run; /* the last bucket takes every further run: the newest wins */
	c->evicted[b].count++;
}

int pipeline_open_collectors(struct pipeline *pl, const struct tapio_config *cfg,
			     const struct collector_ops *const *ops, size_t nops,
			     const char *cgroup_root, char *errstr, size_t errstr_size)
{
	const char *topics[COLLECTOR_MAX];
	int err;

	memset(pl, 0, sizeof(*pl));
	pl->cfg = cfg;
	/* The kernel wants a power of two of pages; say which key is wrong rather than EINVAL. */
	if (cfg->ringbuf_kb & (cfg->ringbuf_kb - 1) || (long)cfg->ringbuf_kb << 10 < sysconf(_SC_PAGESIZE)) {
		snprintf(errstr, errstr_size, "ringbuf_kb: %d is not a power of two of at least one page",
			 cfg->ringbuf_kb);
		return -EINVAL;
	}
	if (nops > COLLECTOR_MAX) {
		snprintf(errstr, errstr_size, "collectors: more than %d", COLLECTOR_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < nops; i++) {
		err = setup_collector(pl, ops[i], errstr, errstr_size);
		if (err)
			return err;
		pl->collectors[i].named = !cfg->collectors_default &&
					  config_has_collector(cfg, ops[i]->name);
		topics[i] = pl->collectors[i].topic_name;
	}

	/* Names this run in every record, so (node, topic, run, seq) is one record across
	 * restarts and spool replays. */
	pl->run = clock_ns(CLOCK_REALTIME) / 1000;
	for (size_t i = 0; i < nops && !pl->identity; i++) {
		if (ops[i]->http)
			continue;
		/* A collector reads the kernel: it needs the identity cache. */
		err = identity_open(&pl->identity, cgroup_root, cfg->node_name, pl->run, errstr,
				    errstr_size);
		if (err)
			return err;
	}
	err = publisher_open(&pl->publisher, cfg, topics, pl->ncollectors, on_delivery, errstr,
			     errstr_size);
	if (err)
		return err;
	pl->publisher_open = true;
	if (cfg->spool_dir) {
		struct spool_config sc = {
			.dir = cfg->spool_dir,
			.max_bytes = (uint64_t)cfg->spool_max_mb << 20,
			.segment_bytes = (uint64_t)cfg->spool_segment_mb << 20,
			.full = cfg->spool_full,
			.fsync = cfg->spool_fsync,
			.fsync_interval_ms = cfg->spool_fsync_interval_ms,
			.lost = &pl->spool_lost,
		};

		pl->spool_lost.record = on_spool_evicted;

		err = spool_open(&pl->spool, &sc, &pl->spool_recovered, errstr, errstr_size);
		if (err)
			return err;
		if (pl->spool_recovered.records || pl->spool_recovered.torn ||
		    pl->spool_recovered.skipped_regions || pl->spool_recovered.corrupt_segments ||
		    pl->spool_recovered.unreadable_segments)
			log_info("spool: recovered %" PRIu64 " records (%" PRIu64 " bytes) from %s to "
				 "replay; dropped %" PRIu64 " torn or corrupt records and %" PRIu64
				 " damaged stretches (%" PRIu64 " bytes, at least a record each); %" PRIu64
				 " corrupt and %" PRIu64 " unreadable segment files set aside%s%s",
				 pl->spool_recovered.records, pl->spool_recovered.bytes, cfg->spool_dir,
				 pl->spool_recovered.torn, pl->spool_recovered.skipped_regions,
				 pl->spool_recovered.skipped_bytes, pl->spool_recovered.corrupt_segments,
				 pl->spool_recovered.unreadable_segments,
				 pl->spool_recovered.detail[0] ? ": " : "", pl->spool_recovered.detail);
		pl->spooling = !spool_empty(pl->spool);
	}
	for (size_t i = 0; i < pl->ncollectors; i++) {
		struct collector_runtime *c = &pl->collectors[i];

		c->topic = rd_kafka_topic_new(pl->publisher.rk, c->topic_name, NULL);
		if (!c->topic) {
			err = -errno;
			snprintf(errstr, errstr_size, "topic %s: %s", c->topic_name,
				 rd_kafka_err2str(rd_kafka_last_error()));
			return err;
		}
	}
	pl->boot_to_epoch_ns = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_BOOTTIME);
	return 0;
}

int pipeline_open(struct pipeline *pl, const struct tapio_config *cfg, const char *cgroup_root,
		  char *errstr, size_t errstr_size)
{
	const struct collector_ops *ops[COLLECTOR_MAX];
	bool kernel = false;
	size_t n = 0;

	for (size_t i = 0; i < collector_count; i++)
		kernel = kernel || (!collector_table[i]->http &&
				    config_has_collector(cfg, collector_table[i]->name));
	/* Table order, which puts metadata first: its cgroup records must be read before the
	 * others' (see pipeline_attach). */
	for (size_t i = 0; i < collector_count && n < COLLECTOR_MAX; i++)
		if ((collector_table[i]->always && kernel) ||
		    config_has_collector(cfg, collector_table[i]->name))
			ops[n++] = collector_table[i];
	return pipeline_open_collectors(pl, cfg, ops, n, cgroup_root, errstr, errstr_size);
}

struct collector_runtime *pipeline_collector(struct pipeline *pl, const char *name)
{
	for (size_t i = 0; i < pl->ncollectors; i++)
		if (strcmp(pl->collectors[i].ops->name, name) == 0)
			return &pl->collectors[i];
	return NULL;
}

/* Joins c's ring buffer to the pipeline's one ring_buffer. 0 or -errno. */
static int join_ring(struct pipeline *pl, struct collector_runtime *c)
{
	if (c->io.ring_fd < 0)
		return 0;
	if (!pl->ring) {
		pl->ring = ring_buffer__new(c->io.ring_fd, pipeline_record, c, NULL);
		return pl->ring ? 0 : -errno;
	}
	return ring_buffer__add(pl->ring, c->io.ring_fd, pipeline_record, c) < 0 ? -errno : 0;
}

static int open_collector(struct pipeline *pl, struct collector_runtime *c)
{
	int err = c->ops->open(c, &c->io);

	if (err == -ENODEV && !c->named) {
		c->state = COLLECTOR_SKIPPED;
		return err;
	}
	if (err == -ENODEV) {
		log_error("%s: asked for by name, but there is nothing to connect to (above)",
			  c->ops->name);
		c->state = COLLECTOR_FAILED;
		return -EINVAL;
	}
	if (err) {
		log_error("%s: collector not running (%s); the others go on", c->ops->name,
			  strerror(-err));
		c->state = COLLECTOR_FAILED;
		return err;
	}
	err = join_ring(pl, c);
	if (err) {
		log_error("%s: ring buffer: %s; the collector does not run", c->ops->name,
			  strerror(-err));
		c->state = COLLECTOR_FAILED;
		return err;
	}
	if (c->io.handoff) {
		c->settle = calloc(1, sizeof(*c->settle));
		if (!c->settle) {
			c->state = COLLECTOR_FAILED;
			return -ENOMEM;
		}
	}
	c->state = COLLECTOR_RUNNING;
	return 0;
}

int pipeline_attach(struct pipeline *pl)
{
	int running = 0, err;

	/* Rings join in table order, metadata's first: ring_buffer__consume() reads them in the
	 * order they were added, so a cgroup's mkdir is taken into the identity cache before the
	 * records of processes in it that wait in the same pass. Read after them, a cgroup already
	 * removed again could no longer be resolved. */
	for (size_t i = 0; i < pl->ncollectors; i++)
		if (open_collector(pl, &pl->collectors[i]) == -EINVAL)
			return -EINVAL; /* a named collector with nothing to connect to */
	for (size_t i = 0; i < pl->ncollectors; i++) {
		struct collector_runtime *c = &pl->collectors[i];

		if (c->state != COLLECTOR_RUNNING)
			continue;
		err = c->ops->start ? c->ops->start(c) : 0;
		if (err) {
			log_error("%s: could not start (%s); the others go on", c->ops->name,
				  strerror(-err));
			if (c->ops->stop)
				c->ops->stop(c);
			c->state = COLLECTOR_FAILED;
			continue;
		}
		running += !c->ops->always;
		log_info("%s: running, publishing to %s", c->ops->name, c->topic_name);
	}
	/* Records the spool found damaged at start: which topic they were for cannot be known
	 * (the damage may be in their own header), so one SPOOL LOSS record on the first topic
	 * (metadata's, with a kernel collector) says how many. */
	if (pl->ncollectors)
		pl->collectors[0].stats.spool_damaged = pl->spool_recovered.torn +
							pl->spool_recovered.skipped_regions;
	pl->attached = true;
	pl->last_tick_ms = clock_ns(CLOCK_MONOTONIC) / 1000000;
	pipeline_report_losses(pl);
	if (pl->spool) {
		spool_tick(pl->spool, pl->last_tick_ms);
		pipeline_replay(pl);
	} /* healthy from the start */
	return running;
}

static void reject(struct collector_runtime *c, enum decode_result r)
{
	c->stats.rejected[r]++;
	/* The first of each reason is worth a line; the counters tell the rest. */
	if (c->stats.rejected[r] == 1)
		log_warn("%s: rejected a ring-buffer record (%s); counting further ones", c->ops->name,
			 decode_result_name(r));
}

void avro_put_envelope(struct avro_buf *out, int kind, const struct envelope *env)
{
	avro_put_long(out, kind);
	avro_put_long(out, env->event_time_us);
	avro_put_long(out, env->seq);
	avro_put_long(out, env->run);
	avro_put_string(out, env->node, 256);
	/* Avro has no unsigned long; cgroup ids are inode numbers, far below 2^63. */
	avro_put_long(out, (int64_t)env->cgroup_id);
	avro_put_optional_string(out, env->pod_uid, 64);
	avro_put_optional_string(out, env->container_id, 128);
	if (!env->loss) {
		avro_put_union(out, 0);
		return;
	}
	avro_put_union(out, 1);
	avro_put_long(out, env->loss->stage);
	avro_put_long(out, env->loss->count);
	avro_put_long(out, env->loss->since_us);
	avro_put_long(out, env->loss->until_us);
	if (env->loss->run) {
		avro_put_union(out, 1);
		avro_put_long(out, env->loss->run);
	} else {
		avro_put_union(out, 0);
	}
}

/* Starts the pending record: the framing first. */
static struct avro_buf *begin_pending(struct collector_runtime *c, int64_t event_ns)
{
	struct pipeline *pl = c->pipeline;

	pl->pending.event_ns = event_ns;
	pl->pending.ref = &c->ref;
	avro_buf_init(&pl->pending.buf, pl->encode_buf, sizeof(pl->encode_buf));
	avro_put_raw(&pl->pending.buf, c->frame_header, c->frame_len);
	return &pl->pending.buf;
}

struct avro_buf *pipeline_begin(struct collector_runtime *c, uint64_t ktime_ns, uint64_t cgroup_id,
				int kind)
{
	struct pipeline *pl = c->pipeline;
	const struct identity *id = identity_lookup(pl->identity, cgroup_id);
	int64_t event_ns = (int64_t)ktime_ns + pl->boot_to_epoch_ns;
	struct avro_buf *buf = begin_pending(c, event_ns);
	struct envelope env = {
		.event_time_us = event_ns / 1000,
		.seq = c->next_seq,
		.run = pl->run,
		.node = pl->cfg->node_name,
		.cgroup_id = cgroup_id,
		.pod_uid = id->owner.pod_uid,
		.container_id = id->owner.container_id,
	};

	pl->pending.identity = id;
	if (c->ops->key_by_cgroup) {
		pl->pending.key = id->node_key;
		pl->pending.key_len = id->node_key_len;
	} else {
		pl->pending.key = id->key;
		pl->pending.key_len = id->key_len;
	}
	if (id->envelope_tail) {
		/* The same bytes as avro_put_envelope(): kind, time and seq, then the fields that
		 * depend on the run and the cgroup alone, made once in its identity entry. */
		avro_put_long(buf, kind);
		avro_put_long(buf, env.event_time_us);
		avro_put_long(buf, env.seq);
		avro_put_raw(buf, id->envelope_tail, id->envelope_tail_len);
		avro_put_union(buf, 0); /* loss: null */
	} else {
		avro_put_envelope(buf, kind, &env);
	}
	return buf;
}

struct avro_buf *pipeline_begin_keyed(struct collector_runtime *c, const struct record_origin *o,
				      int kind)
{
	struct pipeline *pl = c->pipeline;
	struct avro_buf *buf = begin_pending(c, o->event_time_us * 1000);
	struct envelope env = {
		.event_time_us = o->event_time_us,
		.seq = c->next_seq,
		.run = pl->run,
		.node = pl->cfg->node_name,
		.cgroup_id = o->cgroup_id,
		.pod_uid = o->pod_uid,
		.container_id = o->container_id,
	};

	pl->pending.identity = NULL;
	pl->pending.key = o->key;
	pl->pending.key_len = o->key_len;
	avro_put_envelope(buf, kind, &env);
	return buf;
}

/* How offer_record() placed a record. */
enum offer_outcome { OFFER_SENT, OFFER_SPOOLED };

/*
 * Hands one message, with the collector's headers, to librdkafka or to the spool, and counts it
 * produced or spooled. OFFER_SENT (its delivery report will follow), OFFER_SPOOLED, or why it was
 * refused, not counted here: -ENOSPC (the spool refused it), -ENOBUFS (librdkafka's queue is
 * full) or -EIO (librdkafka refused it otherwise, *kerr).
 */
static int offer_record(struct collector_runtime *c, const char *key, size_t key_len,
			const void *value, size_t len, int64_t ts_ms, struct msg_ref *ref,
			rd_kafka_resp_err_t *kerr)
{
	struct pipeline *pl = c->pipeline;
	struct record_headers headers = {
		.collector = c->ops->name,
		.node = pl->cfg->node_name,
		.schema_fingerprint = c->fingerprint_hex,
	};
	rd_kafka_resp_err_t err;

	/* Behind records already in the spool, or while no broker answers: keep the order. */
	if (pl->spool && (pl->spooling || pl->publisher.brokers_down))
		return spool_record(c, key, key_len, value, len, ts_ms) ?: OFFER_SPOOLED;
	err = publisher_send(&pl->publisher, c->topic, key, key_len, value, len, ts_ms, &headers,
			     ref);
	if (err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
		note_topic(c, err); /* known not to exist: librdkafka refuses it at once */
	if ((err == RD_KAFKA_RESP_ERR__QUEUE_FULL || err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) &&
	    pl->spool)
		return spool_record(c, key, key_len, value, len, ts_ms) ?: OFFER_SPOOLED;
	if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
		/* Serve the delivery reports already waiting (each frees queue space) and try once
		 * more, without blocking: in an outage nothing drains, and a wait per record would
		 * stall the event loop (and /healthz) for as long as records keep coming. */
		rd_kafka_poll(pl->publisher.rk, 0);
		err = publisher_send(&pl->publisher, c->topic, key, key_len, value, len, ts_ms,
				     &headers, ref);
	}
	*kerr = err;
	if (err)
		return err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? -ENOBUFS : -EIO;
	c->stats.produced++;
	return OFFER_SENT;
}

/* A record of the collector's stream: one that was not taken is counted as lost, by stage. */
static int send_record(struct collector_runtime *c, const char *key, size_t key_len,
		       const void *value, size_t len, int64_t ts_ms, struct msg_ref *ref)
{
	rd_kafka_resp_err_t kerr = RD_KAFKA_RESP_ERR_NO_ERROR;
	int ret = offer_record(c, key, key_len, value, len, ts_ms, ref, &kerr);

	if (ret >= 0)
		return ret;
	if (ret == -ENOSPC) {
		c->stats.spool_failed++;
		return ret;
	}
	if (ret == -ENOBUFS)
		c->stats.queue_full++;
	else
		c->stats.produce_failed++;
	log_at(c->stats.queue_full + c->stats.produce_failed == 1 ? LOG_ERROR : LOG_DEBUG,
	       "%s: record dropped: %s", c->topic_name, rd_kafka_err2str(kerr));
	return ret;
}

int pipeline_commit(struct collector_runtime *c)
{
	struct pipeline *pl = c->pipeline;
	struct avro_buf *buf = &pl->pending.buf;
	struct msg_ref *ref = pl->pending.ref;
	int ret;

	c->stats.made++;
	if (buf->overflow) {
		c->stats.encode_failed++;
		settle(ref);
		return -EMSGSIZE;
	}
	ret = send_record(c, pl->pending.key, pl->pending.key_len, buf->data, buf->len,
			  pl->pending.event_ns / 1000000, ref);
	if (ret != OFFER_SENT) /* its outcome is known now: spooled or lost */
		settle(ref);
	if (ret < 0)
		return ret;
	c->next_seq++;
	return 0;
}

int pipeline_tombstone(struct collector_runtime *c, uint64_t cgroup_id)
{
	char key[IDENTITY_KEY_MAX];
	int n = snprintf(key, sizeof(key), "%s/%" PRIu64, c->pipeline->cfg->node_name, cgroup_id);
	int ret;

	c->stats.made++;
	ret = send_record(c, key, (size_t)n < sizeof(key) ? (size_t)n : sizeof(key) - 1, NULL, 0,
			      clock_ns(CLOCK_REALTIME) / 1000000, &c->ref);

	return ret < 0 ? ret : 0;
}

int pipeline_record(void *ctx, void *data, size_t size)
{
	struct collector_runtime *c = ctx;
	enum decode_result r;

	c->stats.received++;
	r = c->ops->ring_record(c, data, size);
	if (r != DECODE_OK)
		reject(c, r);
	return 0;
}

void pipeline_wake(struct collector_runtime *c)
{
	struct pipeline *pl = c->pipeline;

	if (pl->ring && ring_buffer__consume(pl->ring) < 0)
		log_warn("ring buffer: %s", strerror(errno));
	if (c->state == COLLECTOR_RUNNING || c->state == COLLECTOR_STOPPED)
		c->ops->wake(c);
}

/* Remembers that `position` of `source` is complete once the records committed so far settle. */
static void add_mark(struct settle_tracker *t, int source, const char *position)
{
	unsigned last = (t->mark_head + t->mark_count + SETTLE_MARKS - 1) % SETTLE_MARKS;

	if (t->mark_count && t->marks[last].source == source && t->marks[last].upto == t->issued) {
		/* Nothing committed since: the newer position replaces it. */
	} else if (t->mark_count == SETTLE_MARKS) {
		/* Full: the newest mark of the same source moves up (a later one covers more);
		 * else this position waits for a later one. */
		for (unsigned n = t->mark_count; n-- > 0;) {
			last = (t->mark_head + n) % SETTLE_MARKS;
			if (t->marks[last].source == source)
				break;
		}
		if (t->marks[last].source != source)
			return;
		t->marks[last].upto = t->issued;
	} else {
		last = (t->mark_head + t->mark_count++) % SETTLE_MARKS;
		t->marks[last].source = source;
		t->marks[last].upto = t->issued;
	}
	snprintf(t->marks[last].position, sizeof(t->marks[last].position), "%s", position);
}

/* One entry of a hand-off: a record to frame, number and publish, and/or a position. */
static void publish_entry(struct collector_runtime *c, const struct handoff_entry *e)
{
	struct settle_tracker *t = c->settle;

	if (!e->is_mark) {
		struct record_origin o = {
			.event_time_us = e->meta.event_time_us,
			.key = e->key,
			.key_len = e->key_len,
			.cgroup_id = e->meta.cgroup_id,
			.pod_uid = e->meta.pod_uid,
			.container_id = e->meta.container_id,
		};
		unsigned slot = t->issued % SETTLE_WINDOW;
		struct avro_buf *buf;

		c->stats.received++;
		t->refs[slot] = (struct msg_ref){ .c = c, .replay_slot = -1, .settle_slot = (int)slot };
		t->settled[slot] = false;
		t->issued++;
		buf = pipeline_begin_keyed(c, &o, e->meta.kind);
		avro_put_raw(buf, e->body, e->body_len);
		c->pipeline->pending.ref = &t->refs[slot];
		pipeline_commit(c);
	}
	if (e->meta.position[0]) {
		add_mark(t, e->meta.source, e->meta.position);
		release_positions(c); /* durable now when everything before it has settled */
	}
}

void pipeline_take_handoff(struct collector_runtime *c)
{
	struct handoff_entry *e;

	if (!c->io.handoff || !c->settle)
		return;
	/* A full window waits for delivery reports: pipeline_tick() and the Kafka wake-up call
	 * this again. */
	while (c->settle->issued - c->settle->settled_upto < SETTLE_WINDOW &&
	       (e = handoff_pop(c->io.handoff))) {
		publish_entry(c, e);
		free(e);
	}
}

/* The loss counters of one collector, by stage. */
static void loss_counts(const struct collector_runtime *c, uint64_t n[LOSS_STAGE_MAX])
{
	memset(n, 0, sizeof(uint64_t) * LOSS_STAGE_MAX);
	n[LOSS_RING_BUFFER] = c->stats.reserve_failures;
	for (int r = DECODE_OK + 1; r < DECODE_RESULT_MAX; r++)
		n[LOSS_DECODE] += c->stats.rejected[r];
	n[LOSS_ENCODE] = c->stats.encode_failed;
	n[LOSS_QUEUE_FULL] = c->stats.queue_full;
	n[LOSS_PRODUCE] = c->stats.produce_failed;
	/* LOSS records that failed too: their counts went back to the stages they report, but
	 * each took a seq, a gap that this stage accounts for like any record's. */
	n[LOSS_DELIVERY] = c->stats.delivery_failed;
	n[LOSS_SPOOL] = c->stats.spool_failed + c->stats.spool_damaged;
	n[LOSS_HANDOFF] = c->stats.handoff_refused;
}

/*
 * One LOSS record: the envelope (cgroup 0, key <node>/0) with `loss` set, then zeroed fields.
 * OFFER_SENT (its delivery report decides), OFFER_SPOOLED, or -errno when it was not taken: not
 * a lost record, its count stays unreported and goes out in the next report.
 */
static int publish_loss(struct collector_runtime *c, const struct loss_report *report)
{
	rd_kafka_resp_err_t kerr;
	struct pipeline *pl = c->pipeline;
	struct avro_buf *buf = &pl->pending.buf;
	struct envelope env = {
		.event_time_us = report->until_us,
		.seq = c->next_seq,
		.run = pl->run,
		.node = pl->cfg->node_name,
		.loss = report,
	};
	char key[IDENTITY_KEY_MAX];
	int n = snprintf(key, sizeof(key), "%s/0", pl->cfg->node_name), ret;

	avro_buf_init(buf, pl->encode_buf, sizeof(pl->encode_buf));
	avro_put_raw(buf, c->frame_header, c->frame_len);
	avro_put_envelope(buf, c->loss_kind, &env);
	avro_put_raw(buf, c->zero_fields, c->zero_fields_len);
	if (buf->overflow)
		return -EMSGSIZE;
	c->loss_ref[report->stage] = (struct msg_ref){ .c = c, .replay_slot = -1, .settle_slot = -1,
						       .loss_stage = report->stage };
	ret = offer_record(c, key, (size_t)n < sizeof(key) ? (size_t)n : sizeof(key) - 1, buf->data,
			   buf->len, report->until_us / 1000, &c->loss_ref[report->stage], &kerr);
	if (ret < 0)
		return ret;
	c->next_seq++;
	c->stats.loss_records++;
	return ret;
}

static const char *const loss_stage_names[LOSS_STAGE_MAX] = {
	[LOSS_RING_BUFFER] = "ring_buffer", [LOSS_DECODE] = "decode", [LOSS_ENCODE] = "encode",
	[LOSS_QUEUE_FULL] = "queue_full", [LOSS_PRODUCE] = "produce", [LOSS_DELIVERY] = "delivery",
	[LOSS_SPOOL] = "spool", [LOSS_HANDOFF] = "handoff", [LOSS_SPOOL_EVICTED] = "spool_evicted",
};

uint64_t pipeline_lost(const struct pipeline *pl, char *summary, size_t size)
{
	uint64_t total = 0, by_stage[LOSS_STAGE_MAX] = { 0 };
	size_t used = 0;

	for (size_t i = 0; i < pl->ncollectors; i++) {
		uint64_t n[LOSS_STAGE_MAX];

		loss_counts(&pl->collectors[i], n);
		n[LOSS_SPOOL_EVICTED] = pl->collectors[i].stats.spool_evicted;
		for (int stage = LOSS_RING_BUFFER; stage < LOSS_STAGE_MAX; stage++) {
			by_stage[stage] += n[stage];
			total += n[stage];
		}
	}
	if (size)
		summary[0] = '\0';
	for (int stage = LOSS_RING_BUFFER; stage < LOSS_STAGE_MAX && size; stage++) {
		int w;

		if (!by_stage[stage])
			continue;
		w = snprintf(summary + used, size - used, "%s%s=%" PRIu64, used ? " " : "",
			     loss_stage_names[stage], by_stage[stage]);
		if (w < 0 || (size_t)w >= size - used)
			break;
		used += (size_t)w;
	}
	return total;
}

/* SPOOL_EVICTED: one report per run whose records the full spool dropped, loss.run naming it,
 * so a consumer finds which run's gaps it accounts for. One in flight at a time. */
static void report_evicted(struct collector_runtime *c, int64_t now_us)
{
	const int stage = LOSS_SPOOL_EVICTED;

	for (int b = 0; b < EVICTED_RUNS && !c->loss_inflight[stage].busy; b++) {
		struct loss_report r = {
			.stage = stage,
			.count = (int64_t)(c->evicted[b].count - c->evicted[b].reported),
			.since_us = c->loss_since_us[stage],
			.until_us = now_us,
			.run = c->evicted[b].run ? c->evicted[b].run : c->pipeline->run,
		};
		int ret;

		if (!r.count)
			continue;
		ret = publish_loss(c, &r);
		if (ret < 0)
			return;
		c->evicted[b].reported = c->evicted[b].count;
		c->loss_since_us[stage] = now_us;
		if (ret == OFFER_SENT)
			c->loss_inflight[stage] = (typeof(c->loss_inflight[stage])){
				.busy = true, .count = (uint64_t)r.count, .since_us = r.since_us,
				.bucket = b };
	}
}

void pipeline_report_losses(struct pipeline *pl)
{
	int64_t now_us = clock_ns(CLOCK_REALTIME) / 1000;

	for (size_t i = 0; i < pl->ncollectors; i++) {
		struct collector_runtime *c = &pl->collectors[i];
		uint64_t now[LOSS_STAGE_MAX];

		loss_counts(c, now);
		for (int stage = LOSS_RING_BUFFER; stage < LOSS_STAGE_MAX; stage++) {
			struct loss_report r = {
				.stage = stage,
				.count = (int64_t)(now[stage] - c->loss_reported[stage]),
				.since_us = c->loss_since_us[stage],
				.until_us = now_us,
			};
			int ret;

			/* One report per stage in flight: until Kafka acknowledges it, what is lost
			 * meanwhile waits for the next one. */
			if (!r.count || c->loss_inflight[stage].busy)
				continue;
			/* Not taken (Kafka's queue full, say): the next report covers it too. */
			ret = publish_loss(c, &r);
			if (ret < 0)
				continue;
			c->loss_reported[stage] = now[stage];
			c->loss_since_us[stage] = now_us;
			if (ret == OFFER_SENT)
				c->loss_inflight[stage] = (typeof(c->loss_inflight[stage])){
					.busy = true, .count = (uint64_t)r.count, .since_us = r.since_us };
		}
		report_evicted(c, now_us);
	}
}

/*
 * Where a spooled record of `stream` goes: its collector's runtime, or, for a collector this run
 * does not run (the spool was left by a run with another collector list), a runtime made now that
 * only replays (its topic and counters; never opened). NULL when this build knows no such
 * collector, or no room is left.
 */
static struct collector_runtime *replay_runtime(struct pipeline *pl, const char *stream)
{
	struct collector_runtime *c = pipeline_collector(pl, stream);
	const struct collector_ops *ops;
	char errstr[256];

	if (c)
		return c->topic ? c : NULL; /* NULL topic: an earlier attempt failed half way */
	ops = collector_find(stream);
	if (!ops || pl->ncollectors == COLLECTOR_MAX)
		return NULL;
	if (setup_collector(pl, ops, errstr, sizeof(errstr))) {
		log_error("spool: cannot replay records of %s: %s", stream, errstr);
		return NULL;
	}
	c = &pl->collectors[pl->ncollectors - 1];
	c->topic = rd_kafka_topic_new(pl->publisher.rk, c->topic_name, NULL);
	if (!c->topic) {
		log_error("spool: cannot replay records of %s: topic %s: %s", stream, c->topic_name,
			  rd_kafka_err2str(rd_kafka_last_error()));
		return NULL; /* pipeline_close() frees the rest */
	}
	log_info("spool: replaying records of %s, not running in this run, to %s", stream,
		 c->topic_name);
	return c;
}

void pipeline_replay(struct pipeline *pl)
{
	struct spool_entry e;
	unsigned slot = 0;

	/* With no broker answering, one record goes out as a probe: librdkafka connects for it, and
	 * its delivery report says when Kafka is back. */
	unsigned limit = pl->publisher.brokers_down ? 1 : REPLAY_INFLIGHT;

	if (!pl->spool || !pl->spooling)
		return;
	if (pl->replay_paused) {
		/* Rewind only once nothing is in flight, so nothing is handed out twice at once. */
		if (pl->replay_busy)
			return;
		spool_rewind(pl->spool);
		pl->replay_paused = false;
	}
	while (pl->replay_busy < limit && spool_next(pl->spool, &e) == 0) {
		struct collector_runtime *c = replay_runtime(pl, e.stream);
		struct record_headers headers;

		if (!c) {
			/* No schema or topic for it in this build: it cannot go anywhere, and must
			 * not hold back the records behind it. */
			if (pl->spool_foreign++ == 0)
				log_error("spool: records of \"%s\", which this build has no collector "
					  "for, are dropped (counted: tapio_spool_foreign_records_total)",
					  e.stream);
			spool_ack(pl->spool, e.pos);
			continue;
		}
		if (c->topic_missing) {
			int64_t now_ms = clock_ns(CLOCK_MONOTONIC) / 1000000;

			/* Its topic is missing: the records behind it go on; one of its records
			 * probes every TOPIC_PROBE_MS whether the topic exists now. */
			if (now_ms - c->topic_missing_since_ms < TOPIC_PROBE_MS) {
				pl->replay_skipped = true;
				continue;
			}
			c->topic_missing_since_ms = now_ms;
		}
		while (pl->replay[slot].busy)
			slot++;
		headers = (struct record_headers){
			.collector = c->ops->name,
			.node = pl->cfg->node_name,
			.schema_fingerprint = c->fingerprint_hex,
		};
		pl->replay[slot].ref = (struct msg_ref){ .c = c, .replay_slot = (int)slot,
							 .settle_slot = -1 };
		pl->replay[slot].pos = e.pos;
		if (publisher_send(&pl->publisher, c->topic, e.key, e.key_len, e.value, e.value_len,
				   e.timestamp_ms, &headers, &pl->replay[slot].ref)) {
			/* librdkafka's queue is full: the rest waits for the next round. */
			pl->replay_paused = true;
			return;
		}
		pl->replay[slot].busy = true;
		pl->replay_busy++;
		c->stats.replayed++;
	}
	if (!pl->replay_busy && spool_empty(pl->spool)) {
		pl->spooling = false;
		log_info("spool: replayed; records go straight to Kafka again");
	}
}

/* Sum over CPUs of slot `key` of the collector's per-CPU counter array; `keep` when unreadable
 * (a collector whose array has fewer slots gets ENOENT). */
static uint64_t read_counter(const struct collector_runtime *c, uint32_t key, uint64_t keep)
{
	int ncpus = libbpf_num_possible_cpus();
	uint64_t sum = 0;

	if (ncpus <= 0 || c->io.counters_fd < 0)
		return keep;
	uint64_t values[ncpus];
	if (bpf_map_lookup_elem(c->io.counters_fd, &key, values) < 0)
		return keep;
	for (int i = 0; i < ncpus; i++)
		sum += values[i];
	return sum;
}

void pipeline_tick(struct pipeline *pl)
{
	uint64_t now = (uint64_t)clock_ns(CLOCK_BOOTTIME);

	pl->boot_to_epoch_ns = clock_ns(CLOCK_REALTIME) - (int64_t)now;
	pl->last_tick_ms = clock_ns(CLOCK_MONOTONIC) / 1000000;
	for (size_t i = 0; i < pl->ncollectors; i++) {
		struct collector_runtime *c = &pl->collectors[i];

		/* Stopped ones still drain (pipeline_drain). */
		if (c->state != COLLECTOR_RUNNING && c->state != COLLECTOR_STOPPED)
			continue;
		c->stats.reserve_failures = read_counter(c, 0, c->stats.reserve_failures);
		c->stats.state_map_full = read_counter(c, 1, c->stats.state_map_full);
		if (c->io.handoff) {
			c->stats.handoff_refused = handoff_refused(c->io.handoff);
			pipeline_take_handoff(c);
		}
		if (c->ops->tick)
			c->ops->tick(c, now);
	}
	/* After the counters were read: the reports say what was lost up to now. */
	pipeline_report_losses(pl);
	if (pl->replay_skipped && pl->last_tick_ms - pl->skip_rewind_ms >= TOPIC_PROBE_MS) {
		/* Records of a missing topic were passed over: go over the spool again for them. */
		pl->replay_skipped = false;
		pl->replay_paused = true;
		pl->skip_rewind_ms = pl->last_tick_ms;
	}
	if (pl->spool) {
		spool_tick(pl->spool, pl->last_tick_ms);
		pipeline_replay(pl);
	}
}

void pipeline_log_stats(const struct pipeline *pl)
{
	struct identity_stats id;

	if (pl->identity) {
		identity_get_stats(pl->identity, &id);
		log_info("identity: entries=%" PRIu64 " walked=%" PRIu64 " misses=%" PRIu64
			 " unresolved=%" PRIu64 " evicted=%" PRIu64 " refused=%" PRIu64,
			 id.entries, id.walked, id.misses, id.unresolved, id.evicted, id.refused);
	}
	for (size_t i = 0; i < pl->ncollectors; i++) {
		const struct collector_runtime *c = &pl->collectors[i];
		const struct collector_stats *s = &c->stats;
		uint64_t rejected = 0;

		for (int r = 1; r < DECODE_RESULT_MAX; r++)
			rejected += s->rejected[r];
		log_info("%s: received=%" PRIu64 " made=%" PRIu64 " produced=%" PRIu64 " delivered=%" PRIu64
			 " delivery_failed=%" PRIu64 " rejected=%" PRIu64 " encode_failed=%" PRIu64
			 " queue_full=%" PRIu64 " produce_failed=%" PRIu64 " reserve_failures=%" PRIu64
			 " state_map_full=%" PRIu64 " spooled=%" PRIu64 " spool_failed=%" PRIu64
			 " replayed=%" PRIu64 " loss_records=%" PRIu64,
			 c->ops->name, s->received, s->made, s->produced, s->delivered, s->delivery_failed,
			 rejected, s->encode_failed, s->queue_full, s->produce_failed,
			 s->reserve_failures, s->state_map_full, s->spooled, s->spool_failed,
			 s->replayed, s->loss_records);
	}
	if (pl->spool) {
		struct spool_stats ss;

		spool_get_stats(pl->spool, &ss);
		log_info("spool: pending=%" PRIu64 " bytes=%" PRIu64 " appended=%" PRIu64 " acked=%" PRIu64
			 " dropped_full=%" PRIu64 " write_errors=%" PRIu64 " recovered=%" PRIu64
			 " torn=%" PRIu64, ss.pending_records, ss.pending_bytes, ss.appended, ss.acked,
			 ss.dropped_full, ss.write_errors, pl->spool_recovered.records,
			 pl->spool_recovered.torn);
	}
}

int pipeline_drain(struct pipeline *pl, int flush_timeout_ms)
{
	int left;

	for (size_t i = 0; i < pl->ncollectors; i++) {
		struct collector_runtime *c = &pl->collectors[i];

		if (c->state != COLLECTOR_RUNNING)
			continue;
		if (c->ops->stop)
			c->ops->stop(c);
		c->state = COLLECTOR_STOPPED;
	}
	if (pl->ring)
		ring_buffer__consume(pl->ring);
	for (size_t i = 0; i < pl->ncollectors; i++) {
		struct collector_runtime *c = &pl->collectors[i];

		if (c->state == COLLECTOR_STOPPED && c->io.wake_fd >= 0)
			c->ops->wake(c);
	}
	pipeline_tick(pl);
	if (!pl->publisher_open)
		return 0;
	left = publisher_flush(&pl->publisher, flush_timeout_ms);
	if (left && pl->spool) {
		/* What Kafka did not take in time comes back with _PURGE_* delivery reports, which
		 * write it to the spool for the next start. */
		rd_kafka_purge(pl->publisher.rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		left = publisher_flush(&pl->publisher, 1000);
	}
	return left;
}

void pipeline_close(struct pipeline *pl)
{
	ring_buffer__free(pl->ring);
	pl->ring = NULL;
	for (size_t i = 0; i < pl->ncollectors; i++) {
		struct collector_runtime *c = &pl->collectors[i];

		if (c->topic)
			rd_kafka_topic_destroy(c->topic);
		if (c->state != COLLECTOR_CLOSED)
			c->ops->destroy(c);
		free(c->zero_fields);
		free(c->settle);
		c->zero_fields = NULL;
		c->settle = NULL;
		c->topic = NULL;
		c->state = COLLECTOR_CLOSED;
	}
	if (pl->publisher_open)
		publisher_close(&pl->publisher);
	spool_close(pl->spool);
	pl->spool = NULL;
	pl->publisher_open = false;
	identity_close(pl->identity);
	pl->identity = NULL;
}
