/*
 * The one path every record takes: a collector begins it (pipeline_begin / pipeline_begin_keyed:
 * framing, `kind`, the envelope), appends its topic's fields, and commits it (pipeline_commit:
 * key, timestamp, publish to Kafka or the spool), with a counter for every way a record can fail
 * to arrive. The pipeline also reads the collectors' sources for them: the joined BPF ring
 * buffers, their wake fds and their hand-off queues (collector.h).
 *
 * Single-threaded: every function here runs on the event-loop thread.
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
#include "handoff.h"
#include "identity.h"
#include "publish.h"
#include "spool.h"

#define COLLECTOR_MAX 16
/* Above the largest kernel record (an exec with full argv) and a hand-off body with its envelope. */
#define ENCODE_BUF_SIZE (HANDOFF_BODY_MAX + 4096)
#define REPLAY_INFLIGHT 4096  /* spooled records handed to librdkafka and not yet acknowledged */

/* The `LossStage` enum every schema's `loss` record has. */
enum loss_stage {
	LOSS_RING_BUFFER = 1,
	LOSS_DECODE,
	LOSS_ENCODE,
	LOSS_QUEUE_FULL,
	LOSS_PRODUCE,
	LOSS_DELIVERY,
	LOSS_SPOOL,
	LOSS_HANDOFF,
	LOSS_SPOOL_EVICTED, /* reported per run (loss.run), not through loss_counts() */
	LOSS_STAGE_MAX,
};

/* The `loss` field of a LOSS record. */
struct loss_report {
	enum loss_stage stage;
	int64_t count;
	int64_t since_us, until_us;
	int64_t run; /* whose records: 0 = null, this record's own run */
};

/* Fields every record of every topic carries, right after `kind`, in this order. */
struct envelope {
	int64_t event_time_us;    /* wall clock */
	int64_t seq;              /* per (node, collector, run) */
	int64_t run;              /* the producer run: its start time, microseconds */
	const char *node;
	uint64_t cgroup_id;
	const char *pod_uid;      /* NULL or "" = null */
	const char *container_id; /* NULL or "" = null */
	const struct loss_report *loss; /* NULL but in LOSS records */
};

/* Fields of the envelope, `kind` included: a topic's own fields start at this index. */
#define ENVELOPE_FIELDS 9

/* Writes `kind` and the envelope fields. */
void avro_put_envelope(struct avro_buf *out, int kind, const struct envelope *env);

/* What a message belongs to, handed back with its delivery report. */
struct msg_ref {
	struct collector_runtime *c;
	int replay_slot; /* -1: sent straight away; else its slot in pipeline.replay */
	int settle_slot; /* -1: not tracked; else its slot in c->settle (records from a hand-off) */
	int loss_stage;  /* a LOSS record of this stage; 0 for every other record */
};

/* Records a hand-off delivered whose outcome is not known yet, at most; while this many are
 * open the pipeline takes no more from that hand-off (its worker waits, or counts refusals). */
#define SETTLE_WINDOW 8192
/* Runs whose spooled records a collector counts evicted, at most; more share the last bucket. */
#define EVICTED_RUNS 8
#define SETTLE_MARKS 256

/*
 * Which records from a hand-off are settled (delivered, spooled, or lost and counted), so that a
 * position is reported durable only once every record before it is. Records are numbered in the
 * order they were committed; slot = number % SETTLE_WINDOW.
 */
struct settle_tracker {
	struct msg_ref refs[SETTLE_WINDOW];
	bool settled[SETTLE_WINDOW];
	uint64_t issued;  /* records committed so far */
	uint64_t settled_upto; /* records 0 .. settled_upto - 1 are all settled */
	struct {
		uint64_t upto; /* durable once settled_upto reaches it */
		int source;
		char position[HANDOFF_POSITION_MAX];
	} marks[SETTLE_MARKS];
	unsigned mark_head, mark_count;
};

struct collector_stats {
	uint64_t received;                  /* records read from the ring buffer or the hand-off */
	uint64_t made;                      /* records the collector made (committed, tombstones
					     * included, LOSS records not), whatever became of them */
	uint64_t rejected[DECODE_RESULT_MAX]; /* by reason; [DECODE_OK] unused */
	uint64_t handoff_refused;           /* the worker found the hand-off queue full */
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
	uint64_t spooled;                   /* written to the disk spool instead of Kafka */
	uint64_t spool_failed;              /* dropped: the spool was full or could not be written */
	uint64_t spool_damaged;             /* first collector only: records of an earlier run the
					     * spool found damaged at start (a LOSS, not a drop) */
	uint64_t spool_evicted;             /* spooled, then dropped by the full spool */
	uint64_t replayed;                  /* handed to librdkafka from the spool */
	uint64_t loss_records;              /* LOSS records published (not events) */
	uint64_t loss_records_failed;       /* of those, delivery failed: their counts went back */
};

/* Where a collector stands. */
enum collector_state {
	COLLECTOR_CLOSED = 0, /* not opened yet, or destroyed */
	COLLECTOR_SKIPPED,    /* nothing to connect to and not asked for by name */
	COLLECTOR_FAILED,     /* open() or start() failed: not running, the others are */
	COLLECTOR_RUNNING,    /* opened and started */
	COLLECTOR_STOPPED,    /* stop() ran: draining */
};

struct collector_runtime {
	const struct collector_ops *ops;
	struct pipeline *pipeline;
	char topic_name[256];
	rd_kafka_topic_t *topic;
	char fingerprint_hex[17];
	uint8_t frame_header[10]; /* single-object (10 bytes) or Confluent (5 bytes) framing */
	size_t frame_len;
	struct collector_io io;
	enum collector_state state;
	bool named;               /* asked for by name in `collectors` */
	struct msg_ref ref;       /* for messages sent straight away */
	struct settle_tracker *settle; /* with a hand-off only */
	int64_t next_seq;
	bool topic_missing;       /* the brokers said the topic does not exist; none reached it since */
	int64_t topic_missing_since_ms; /* CLOCK_MONOTONIC */
	struct collector_stats stats;
	/* In-band loss reports: the schema's LOSS kind, the bytes that zero the topic's own fields,
	 * and what the last report covered. */
	int loss_kind;
	uint8_t *zero_fields;
	size_t zero_fields_len;
	uint64_t loss_reported[LOSS_STAGE_MAX]; /* counts the LOSS records taken so far cover */
	int64_t loss_since_us[LOSS_STAGE_MAX];  /* when the last one taken, per stage, ended */
	/* Spooled records dropped again by a full spool (drop_oldest), by the run they belong to:
	 * each bucket is reported as SPOOL_EVICTED with loss.run set. */
	struct {
		int64_t run;
		uint64_t count, reported;
	} evicted[EVICTED_RUNS];
	/* The LOSS record of each stage Kafka has not acknowledged yet (at most one). */
	struct msg_ref loss_ref[LOSS_STAGE_MAX];
	struct {
		bool busy;
		uint64_t count;
		int64_t since_us;
		int bucket; /* SPOOL_EVICTED: its evicted[] bucket */
	} loss_inflight[LOSS_STAGE_MAX];
};

struct pipeline {
	const struct tapio_config *cfg;
	struct identity_cache *identity;
	struct publisher publisher;
	bool publisher_open;
	struct ring_buffer *ring;
	int64_t run;              /* this run: its start time in microseconds since the epoch */
	int64_t boot_to_epoch_ns; /* CLOCK_REALTIME - CLOCK_BOOTTIME, refreshed by the timer */
	int64_t last_tick_ms;     /* CLOCK_MONOTONIC of the last pipeline_tick(): the loop turns */
	bool attached;            /* pipeline_attach() has run */
	/* The record between pipeline_begin*() and pipeline_commit(). */
	struct {
		const struct identity *identity; /* NULL for a keyed record */
		const char *key;
		size_t key_len;
		int64_t event_ns;
		struct msg_ref *ref;
		struct avro_buf buf;
	} pending;
	/* The disk spool (NULL when spool_dir is unset): while Kafka cannot take records, they go
	 * there in order, and are replayed in order before any new record goes straight to Kafka. */
	struct spool *spool;
	bool spooling;            /* new records go to the spool until it has been replayed */
	bool replay_paused;       /* a replayed record failed: rewind once nothing is in flight */
	bool replay_skipped;      /* records of a missing topic were passed over: rewind later */
	int64_t skip_rewind_ms;   /* CLOCK_MONOTONIC of the last rewind for them */
	struct {
		struct msg_ref ref;
		uint64_t pos;
		bool busy;
	} replay[REPLAY_INFLIGHT];
	unsigned replay_busy;
	struct spool_recovery spool_recovered;
	struct spool_lost_sink spool_lost; /* where the spool says what it evicted */
	uint64_t spool_foreign;   /* spooled records of a collector this build does not know */
	struct collector_runtime collectors[COLLECTOR_MAX];
	size_t ncollectors;       /* in collector_table order: metadata first */
	uint8_t encode_buf[ENCODE_BUF_SIZE];
};

/*
 * Sets up identity, the publisher (and embedded broker) and one runtime per collector that runs:
 * those `collectors` names and those that always run, in collector_table order. Touches no BPF
 * and no cgroup. `cgroup_root` NULL = find it. 0 or -errno with errstr set.
 */
int pipeline_open(struct pipeline *pl, const struct tapio_config *cfg, const char *cgroup_root,
		  char *errstr, size_t errstr_size);

/* The same with an explicit list of collectors (tests: a collector outside the table). */
int pipeline_open_collectors(struct pipeline *pl, const struct tapio_config *cfg,
			     const struct collector_ops *const *ops, size_t nops,
			     const char *cgroup_root, char *errstr, size_t errstr_size);

/* Opens every collector and joins its ring buffer, then starts them in order. A collector that
 * cannot run is logged and skipped; the others go on. Returns how many collectors run, not
 * counting those that always run; -EINVAL when a collector asked for by name has nothing to
 * connect to (a configuration error: exit 2). */
int pipeline_attach(struct pipeline *pl);

/* The runtime of collector `name`, or NULL. */
struct collector_runtime *pipeline_collector(struct pipeline *pl, const char *name);

/*
 * Starts a record of collector c for a kernel event at boot-relative ktime_ns in cgroup_id:
 * writes the framing, `kind` and the envelope (identity looked up here). The key is the pod UID
 * when the cgroup belongs to a pod, else <node>/<cgroup id>. The collector appends its own fields
 * to the returned buffer, then calls pipeline_commit().
 */
struct avro_buf *pipeline_begin(struct collector_runtime *c, uint64_t ktime_ns, uint64_t cgroup_id,
				int kind);

/* Who and what a keyed record is about: an event that is not a kernel event in a cgroup. */
struct record_origin {
	int64_t event_time_us;    /* wall clock */
	const char *key;          /* the Kafka key; the caller keeps it until pipeline_commit() */
	size_t key_len;
	uint64_t cgroup_id;       /* 0: none */
	const char *pod_uid;      /* NULL or "": null */
	const char *container_id; /* NULL or "": null */
};

/* Starts a record of collector c with its own time and key; otherwise as pipeline_begin(). */
struct avro_buf *pipeline_begin_keyed(struct collector_runtime *c, const struct record_origin *o,
				      int kind);

/* Publishes the record begun last: key, timestamp, headers; counts the outcome. 0 or -errno. */
int pipeline_commit(struct collector_runtime *c);

/* Publishes a tombstone (null value) for <node>/<cgroup id> on c's topic. 0 or -errno. */
int pipeline_tombstone(struct collector_runtime *c, uint64_t cgroup_id);

/* The ring-buffer callback: one record of one collector. Always returns 0 (a bad record is
 * counted, and libbpf keeps consuming). */
int pipeline_record(void *collector_runtime, void *data, size_t size);

/* Reads the rings, then lets collector c read its wake fd (rings first: a BPF stamp that a
 * notification on the fd matches was written before it). */
void pipeline_wake(struct collector_runtime *c);

/* Publishes what collector c's hand-off holds, as far as its settle window allows. */
void pipeline_take_handoff(struct collector_runtime *c);

/* Hands spooled records to Kafka while it takes them; leaves spooling mode once the spool has
 * been replayed and acknowledged. Call after delivery reports were served, and from the timer. */
void pipeline_replay(struct pipeline *pl);

/* Publishes a LOSS record on each collector's topic for every stage whose loss counter grew
 * since the last report. */
void pipeline_report_losses(struct pipeline *pl);

/* Re-reads the boot-time offset and the kernels' reserve-failure counters; reports losses. */
void pipeline_tick(struct pipeline *pl);

void pipeline_log_stats(const struct pipeline *pl);

/* Records lost at any stage during this run, every collector together; `summary` gets them by
 * stage ("ring_buffer=3 delivery=1"). */
uint64_t pipeline_lost(const struct pipeline *pl, char *summary, size_t size);

/* Stops the collectors, drains the ring buffers and hand-offs, flushes with a bound. Records still
 * undelivered then go to the spool, if there is one, for the next start. Returns records neither
 * delivered nor spooled. */
int pipeline_drain(struct pipeline *pl, int flush_timeout_ms);

void pipeline_close(struct pipeline *pl);

#endif /* TAPIO_PIPELINE_H */
