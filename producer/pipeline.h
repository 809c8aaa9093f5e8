/*
 * The one path every record takes: ring buffer → decode → identity → encode → publish, with a
 * counter for every way a record can fail to arrive.
 *
 * Ownership: struct pipeline owns the identity cache, the publisher, the ring buffer and each
 * collector it opened; pipeline_close() releases them and is safe after any failed step.
 */
#ifndef TAPIO_PIPELINE_H
#define TAPIO_PIPELINE_H

#include <bpf/libbpf.h>
#include <stdbool.h>
#include <stdint.h>

#include "collector.h"
#include "config.h"
#include "identity.h"
#include "publish.h"

#define COLLECTOR_MAX 16
#define ENCODE_BUF_SIZE 16384 /* well above the largest record (an exec with full argv) */

/* Fields every record of every topic carries, right after `kind`, in this order. */
struct envelope {
	int64_t event_time_us;    /* wall clock */
	int64_t seq;              /* per (node, collector) */
	const char *node;
	uint64_t cgroup_id;
	const char *pod_uid;      /* NULL or "" = null */
	const char *container_id; /* NULL or "" = null */
};

/* Writes `kind` and the envelope fields. */
void avro_put_envelope(struct avro_buf *out, int kind, const struct envelope *env);

struct collector_stats {
	uint64_t received;                  /* records read from the ring buffer */
	uint64_t rejected[DECODE_RESULT_MAX]; /* by reason; [DECODE_OK] unused */
	uint64_t encode_failed;             /* did not fit ENCODE_BUF_SIZE */
	uint64_t produced;                  /* handed to librdkafka */
	uint64_t queue_full;                /* dropped: librdkafka's local queue stayed full */
	uint64_t produce_failed;            /* dropped: librdkafka refused the message otherwise */
	uint64_t delivered;                 /* acknowledged by the broker */
	uint64_t delivery_failed;           /* delivery report with an error */
	struct {
		int err;                    /* rd_kafka_resp_err_t */
		uint64_t count;
	} delivery_errors[8];               /* delivery_failed by error, first 8 kinds seen */
	uint64_t delivery_errors_other;     /* failures of further kinds */
	uint64_t reserve_failures;          /* BPF ring buffer was full (read from the kernel) */
	uint64_t state_map_full;            /* records sent without their start: BPF state map full */
};

struct collector_runtime {
	const struct collector_ops *ops;
	struct pipeline *pipeline;
	char topic_name[256];
	rd_kafka_topic_t *topic;
	char fingerprint_hex[17];
	uint8_t frame_header[10]; /* single-object (10 bytes) or Confluent (5 bytes) framing */
	size_t frame_len;
	struct collector_maps maps;
	bool opened;              /* BPF side opened and attached */
	int64_t next_seq;
	struct collector_stats stats;
};

struct pipeline {
	const struct tapio_config *cfg;
	struct identity_cache *identity;
	struct publisher publisher;
	bool publisher_open;
	struct ring_buffer *ring;
	int64_t boot_to_epoch_ns; /* CLOCK_REALTIME - CLOCK_BOOTTIME, refreshed by the timer */
	int64_t last_tick_ms;     /* CLOCK_MONOTONIC of the last pipeline_tick(): the loop turns */
	bool attached;            /* pipeline_attach() has run */
	/* The record between pipeline_begin() and pipeline_commit(). */
	struct {
		const struct identity *identity;
		int64_t event_ns;
		struct avro_buf buf;
	} pending;
	struct collector_runtime collectors[COLLECTOR_MAX + 1];
	size_t ncollectors;             /* configured ones, then metadata */
	struct collector_runtime *metadata;
	uint8_t encode_buf[ENCODE_BUF_SIZE];
};

/*
 * Sets up identity, the publisher (and embedded broker) and one runtime per configured
 * collector plus the metadata one (always last), without touching BPF or walking the cgroup tree.
 * `cgroup_root` NULL = find it. 0 or -errno with errstr set.
 */
int pipeline_open(struct pipeline *pl, const struct tapio_config *cfg, const char *cgroup_root,
		  char *errstr, size_t errstr_size);

/* Opens and attaches every collector's BPF programs and joins their ring buffers, then walks the
 * cgroup tree and publishes the metadata snapshot. A collector the kernel cannot run is logged
 * and skipped. Returns how many of the configured collectors run, or -errno. */
int pipeline_attach(struct pipeline *pl);

/*
 * Starts a record of collector c for an event at boot-relative ktime_ns in cgroup_id: writes the
 * framing, `kind` and the envelope (identity looked up here). The collector appends its own fields
 * to the returned buffer, then calls pipeline_commit(). The one way records reach Kafka.
 */
struct avro_buf *pipeline_begin(struct collector_runtime *c, uint64_t ktime_ns, uint64_t cgroup_id,
				int kind);

/* Publishes the record begun last: key, timestamp, headers; counts the outcome. 0 or -errno. */
int pipeline_commit(struct collector_runtime *c);

/* Publishes a tombstone (null value) for <node>/<cgroup id> on c's topic. 0 or -errno. */
int pipeline_tombstone(struct collector_runtime *c, uint64_t cgroup_id);

/* The ring-buffer callback: one record of one collector. Always returns 0 (a bad record is
 * counted, and libbpf keeps consuming). */
int pipeline_record(void *collector_runtime, void *data, size_t size);

/* Re-reads the boot-time offset and the kernels' reserve-failure counters. */
void pipeline_tick(struct pipeline *pl);

void pipeline_log_stats(const struct pipeline *pl);

/* Detach, drain the ring buffers, flush with a bound. Returns records not delivered. */
int pipeline_drain(struct pipeline *pl, int flush_timeout_ms);

void pipeline_close(struct pipeline *pl);

#endif /* TAPIO_PIPELINE_H */
