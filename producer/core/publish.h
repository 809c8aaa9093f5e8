/*
 * The Kafka side: one idempotent librdkafka producer for every topic, and (when no brokers are
 * configured) the embedded Kafka-protocol broker, librdkafka's in-memory mock cluster on loopback.
 *
 * Ownership: struct publisher owns the producer, the mock cluster and its handle, and the
 * delivery-report pipe; publisher_close() releases them all and is safe on a zeroed struct.
 */
#ifndef TAPIO_PUBLISH_H
#define TAPIO_PUBLISH_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* What a message belongs to, handed back with its delivery report (defined by the pipeline). */
struct msg_ref;

/* Called from publisher_poll() once per message with its final outcome (m->err). */
typedef void (*delivery_fn)(struct msg_ref *ref, const rd_kafka_message_t *m);

/* What librdkafka's statistics (statistics.interval.ms) say, kept for /metrics and /readyz. */
#define KAFKA_STATS_BROKERS 16
struct kafka_stats {
	int64_t updated_ms;  /* CLOCK_MONOTONIC of the last report; 0 = none yet */
	int64_t msg_cnt;     /* messages waiting in the producer's queues */
	int64_t msg_size;    /* their bytes */
	int64_t txretries;   /* produce requests retried, all brokers */
	int nbrokers;
	struct {
		char name[128];
		int up;          /* state "UP" */
		int64_t rtt_avg_us;
	} brokers[KAFKA_STATS_BROKERS];
};

/* Parses one librdkafka statistics JSON document into *out (all but updated_ms). 0 or -EINVAL. */
int kafka_stats_parse(const char *json, size_t len, struct kafka_stats *out);

struct publisher {
	rd_kafka_t *rk;
	rd_kafka_t *mock_rk;              /* owns the embedded cluster's thread */
	rd_kafka_mock_cluster_t *mock;    /* NULL when brokers are configured */
	char bootstrap[512];              /* the servers we produce to */
	int wake_fd[2];                   /* librdkafka writes here when delivery reports queue up */
	delivery_fn on_delivery;
	int fatal;                        /* set once librdkafka reports a fatal error */
	int brokers_down;                 /* all brokers unreachable, until a delivery succeeds */
	unsigned headers;                 /* enum record_header: which headers messages carry */
	struct kafka_stats stats;
};

/* Producer defaults, applied before the configuration's kafka.* properties (which win). */
extern const char *const publisher_defaults[][2];
extern const size_t publisher_default_count;

/*
 * Creates the producer (and the embedded broker when cfg->brokers is NULL or empty, with each
 * topic in `topics` created on it). 0 or -errno; errstr carries librdkafka's message. Runs in a
 * thread of its own that holds no capability, so librdkafka's threads hold none either; files
 * that kafka.* properties name (certificates) must be readable without CAP_DAC_OVERRIDE.
 */
int publisher_open(struct publisher *p, const struct tapio_config *cfg, const char *const *topics,
		   size_t ntopics, delivery_fn on_delivery, char *errstr, size_t errstr_size);

/*
 * Lets librdkafka check the configuration's kafka.* properties together with the defaults, as
 * publisher_open() will apply them (settings valid alone but not together, files they name),
 * without connecting anywhere. 0, or -EINVAL with librdkafka's message in errstr. `warning`
 * (always written, "" when none) says when acks or idempotence weaken the delivery guarantee.
 */
int publisher_check_config(const struct tapio_config *cfg, char *warning, size_t warning_size,
			   char *errstr, size_t errstr_size);

/* The fd to watch for readability: delivery reports or errors are waiting for publisher_poll(). */
int publisher_wake_fd(const struct publisher *p);

/* Serves queued delivery reports and errors without blocking. */
void publisher_poll(struct publisher *p);

/* Kafka headers a message can carry, as `record_headers` names them. None by default: they
 * repeat the topic, a value field and the framing, and cost half the producer's CPU per record
 * and six of librdkafka's seven allocations per message (BENCHMARKS.md). */
enum record_header {
	RECORD_HEADER_COLLECTOR = 1 << 0,
	RECORD_HEADER_NODE = 1 << 1,
	RECORD_HEADER_SCHEMA_FINGERPRINT = 1 << 2,
	RECORD_HEADER_PRODUCER_VERSION = 1 << 3,
};

/* Parses a comma-separated list of header names ("" = none) into a mask. 0, or -EINVAL with
 * the bad or repeated name in `why`. */
int record_headers_parse(const char *list, unsigned *mask, char *why, size_t why_size);

/* The values of the headers a message carries, when `record_headers` asks for them. */
struct record_headers {
	const char *collector;
	const char *node;
	const char *schema_fingerprint; /* 16 lowercase hex digits */
};

/* One message, with the headers p->headers names (taken from `headers`); value and headers are
 * copied. 0, or the librdkafka error (e.g. RD_KAFKA_RESP_ERR__QUEUE_FULL). */
rd_kafka_resp_err_t publisher_send(struct publisher *p, rd_kafka_topic_t *topic, const char *key,
				   size_t key_len, const void *value, size_t value_len,
				   int64_t timestamp_ms, const struct record_headers *headers,
				   struct msg_ref *ref);

/* Waits up to timeout_ms for every message to be delivered (less once publisher_cut_flush() was
 * called: one 100 ms slice, for reports already due); returns how many are still queued. */
int publisher_flush(struct publisher *p, int timeout_ms);

/* Makes publisher_flush() stop waiting for the broker, now and from then on. Async-signal-safe:
 * a SIGINT/SIGTERM handler calls it (main.c, a second stop signal during shutdown). */
void publisher_cut_flush(void);

void publisher_close(struct publisher *p);

#endif /* TAPIO_PUBLISH_H */
