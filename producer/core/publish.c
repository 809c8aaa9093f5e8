#include "publish.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "privilege.h"

#ifndef TAPIO_VERSION
#define TAPIO_VERSION "0.0.0"
#endif

/* DESIGN.md §4: no duplicates or reordering on retry, acknowledged by all in-sync replicas,
 * Java-compatible key hashing so keys co-partition with Kafka Streams / Flink. */
const char *const publisher_defaults[][2] = {
	{ "enable.idempotence", "true" },
	{ "acks", "all" },
	{ "compression.codec", "lz4" },
	{ "partitioner", "murmur2_random" },
	/* A request per 50 ms at most, not per 5: at 10 000 events/s librdkafka's broker thread
	 * then spends 1.0-1.6 instead of 4.2-4.6 µs per event, for ~25 ms more latency
	 * (BENCHMARKS.md, "Changes made"). kafka.linger.ms sets it back for latency-bound users. */
	{ "linger.ms", "50" },
	{ "client.id", "tapio-producer" },
	/* Queue depth, round-trip times and retries for /metrics. */
	{ "statistics.interval.ms", "5000" },
	/* Bounds the memory queued for Kafka; past it records go to the spool (or are counted as
	 * dropped when there is none). */
	{ "queue.buffering.max.kbytes", "65536" },
};
const size_t publisher_default_count = sizeof(publisher_defaults) / sizeof(publisher_defaults[0]);

/* The embedded broker: one in-memory broker, topics with this many partitions. */
#define EMBEDDED_PARTITIONS 4

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct publisher *p = opaque;

	(void)rk;
	if (!m->err)
		p->brokers_down = 0;
	p->on_delivery(m->_private, m);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct publisher *p = opaque;
	char fatal[512];

	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
		log_error("kafka: fatal: %s", fatal);
		p->fatal = 1;
		return;
	}
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
		p->brokers_down = 1;
	/* Transport errors are retried by librdkafka: worth a line, not a stop. */
	log_warn("kafka: %s: %s", rd_kafka_err2name(err), reason);
}

int kafka_stats_parse(const char *json, size_t len, struct kafka_stats *out)
{
	json_t *root = json_loadb(json, len, 0, NULL), *brokers, *b;
	const char *name;
	struct kafka_stats s = { 0 };

	if (!json_is_object(root)) {
		json_decref(root);
		return -EINVAL;
	}
	s.msg_cnt = json_integer_value(json_object_get(root, "msg_cnt"));
	s.msg_size = json_integer_value(json_object_get(root, "msg_size"));
	brokers = json_object_get(root, "brokers");
	json_object_foreach(brokers, name, b) {
		int64_t id = json_integer_value(json_object_get(b, "nodeid"));
		const char *state = json_string_value(json_object_get(b, "state"));

		s.txretries += json_integer_value(json_object_get(b, "txretries"));
		/* Bootstrap and logical brokers (id -1) are not brokers of the cluster. */
		if (id < 0 || s.nbrokers == KAFKA_STATS_BROKERS)
			continue;
		snprintf(s.brokers[s.nbrokers].name, sizeof(s.brokers[0].name), "%s", name);
		s.brokers[s.nbrokers].up = state && strcmp(state, "UP") == 0;
		s.brokers[s.nbrokers].rtt_avg_us =
			json_integer_value(json_object_get(json_object_get(b, "rtt"), "avg"));
		s.nbrokers++;
	}
	json_decref(root);
	*out = s;
	return 0;
}

static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
	struct publisher *p = opaque;

	(void)rk;
	struct timespec now;

	if (kafka_stats_parse(json, len, &p->stats) < 0) {
		log_debug("kafka: statistics: not a JSON object");
		return 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	p->stats.updated_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	/* Not a sign that brokers are back: a report made before they went down can arrive after
	 * the error that says so. A successful delivery (the spool's probe) says it. */
	return 0; /* librdkafka frees json */
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	if (level <= 3)
		log_error("kafka: %s: %s", fac, buf);
	else if (level <= 4)
		log_warn("kafka: %s: %s", fac, buf);
	else
		log_debug("kafka: %s: %s", fac, buf);
}

static int start_embedded(struct publisher *p, const char *const *topics, size_t ntopics,
			  char *errstr, size_t errstr_size)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_resp_err_t err;

	rd_kafka_conf_set_log_cb(conf, log_cb);
	p->mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
	if (!p->mock_rk) {
		rd_kafka_conf_destroy(conf);
		return -EINVAL;
	}
	p->mock = rd_kafka_mock_cluster_new(p->mock_rk, 1);
	if (!p->mock) {
		snprintf(errstr, errstr_size, "cannot start the embedded broker");
		return -EIO;
	}
	for (size_t i = 0; i < ntopics; i++) {
		err = rd_kafka_mock_topic_create(p->mock, topics[i], EMBEDDED_PARTITIONS, 1);
		if (err) {
			snprintf(errstr, errstr_size, "embedded broker: topic %s: %s", topics[i],
				 rd_kafka_err2str(err));
			return -EIO;
		}
	}
	snprintf(p->bootstrap, sizeof(p->bootstrap), "%s", rd_kafka_mock_cluster_bootstraps(p->mock));
	return 0;
}

static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, const char *origin,
		    char *errstr, size_t errstr_size)
{
	char why[512];

	if (rd_kafka_conf_set(conf, name, value, why, sizeof(why)) == RD_KAFKA_CONF_OK)
		return 0;
	snprintf(errstr, errstr_size, "%s: kafka.%s: %s", origin, name, why);
	return -EINVAL;
}

/* The producer defaults, then the configuration's kafka.* properties (which win). */
static int conf_apply(rd_kafka_conf_t *conf, const struct tapio_config *cfg, char *errstr,
		      size_t errstr_size)
{
	int err = 0;

	for (size_t i = 0; !err && i < publisher_default_count; i++)
		err = conf_set(conf, publisher_defaults[i][0], publisher_defaults[i][1], "default",
			       errstr, errstr_size);
	for (int i = 0; !err && i < cfg->kafka_count; i++)
		err = conf_set(conf, cfg->kafka[i].name, cfg->kafka[i].value, cfg->kafka[i].origin,
			       errstr, errstr_size);
	return err;
}

/* Runs fn(arg) in a thread that first drops every capability, and waits for it: librdkafka's
 * threads, started from there, never hold one, and the files it reads at start are read as they
 * will be. 0, or the error of pthread_create() (fn did not run). */
struct capless_job {
	void (*fn)(void *arg);
	void *arg;
};

static void *capless_main(void *arg)
{
	struct capless_job *job = arg;
	int err = privilege_drop_thread();

	if (err)
		log_warn("kafka: librdkafka's threads keep the producer's capabilities: %s",
			 strerror(-err));
	job->fn(job->arg);
	return NULL;
}

static int run_capless(void (*fn)(void *arg), void *arg)
{
	struct capless_job job = { fn, arg };
	pthread_t t;
	int err = pthread_create(&t, NULL, capless_main, &job);

	if (err)
		return err;
	pthread_join(t, NULL);
	return 0;
}

struct new_job {
	rd_kafka_conf_t *conf;
	char *errstr;
	size_t errstr_size;
	rd_kafka_t *rk;
};

static void check_new(void *arg)
{
	struct new_job *job = arg;

	job->rk = rd_kafka_new(RD_KAFKA_PRODUCER, job->conf, job->errstr, job->errstr_size);
	if (job->rk)
		rd_kafka_destroy(job->rk);
}

static void silent_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	(void)level;
	(void)fac;
	(void)buf;
}

int publisher_check_config(const struct tapio_config *cfg, char *warning, size_t warning_size,
			   char *errstr, size_t errstr_size)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char acks[16] = "", idempotence[16] = "";
	size_t acks_len = sizeof(acks), idempotence_len = sizeof(idempotence);
	struct new_job job;
	int err;

	if (warning_size)
		warning[0] = '\0';
	if (!conf) {
		snprintf(errstr, errstr_size, "out of memory");
		return -ENOMEM;
	}
	err = conf_apply(conf, cfg, errstr, errstr_size);
	if (err) {
		rd_kafka_conf_destroy(conf);
		return err;
	}
	/* Read back, so aliases (request.required.acks) and spellings ("all", -1) agree. */
	rd_kafka_conf_get(conf, "acks", acks, &acks_len);
	rd_kafka_conf_get(conf, "enable.idempotence", idempotence, &idempotence_len);
	if (strcmp(acks, "-1") != 0 || strcmp(idempotence, "true") != 0)
		snprintf(warning, warning_size,
			 "kafka.acks=%s, kafka.enable.idempotence=%s: the delivery guarantee (every "
			 "record acknowledged by all in-sync replicas, once and in order) no longer "
			 "holds; records may be lost or duplicated", strcmp(acks, "-1") ? acks : "all",
			 idempotence);
	/* No brokers: nothing connects. The client only checks the properties together (and
	 * loads the files they name), as it will at start-up: from a thread without capabilities. */
	rd_kafka_conf_set_log_cb(conf, silent_log_cb);
	job = (struct new_job){ conf, errstr, errstr_size, NULL };
	err = run_capless(check_new, &job);
	if (err) {
		rd_kafka_conf_destroy(conf);
		snprintf(errstr, errstr_size, "cannot start a thread: %s", strerror(err));
		return -err;
	}
	if (!job.rk) {
		rd_kafka_conf_destroy(conf);
		return -EINVAL;
	}
	return 0;
}

static int open_here(struct publisher *p, const struct tapio_config *cfg, const char *const *topics,
		     size_t ntopics, delivery_fn on_delivery, char *errstr, size_t errstr_size)
{
	rd_kafka_conf_t *conf = NULL;
	rd_kafka_queue_t *main_queue;
	int err;

	memset(p, 0, sizeof(*p));
	p->wake_fd[0] = p->wake_fd[1] = -1;
	p->on_delivery = on_delivery;
	if (record_headers_parse(cfg->record_headers ? cfg->record_headers : "", &p->headers, errstr,
				 errstr_size))
		return -EINVAL; /* config_set checked it already */
	if (pipe2(p->wake_fd, O_NONBLOCK | O_CLOEXEC) < 0) {
		err = -errno;
		snprintf(errstr, errstr_size, "pipe: %s", strerror(errno));
		goto fail;
	}
	if (cfg->brokers && cfg->brokers[0]) {
		snprintf(p->bootstrap, sizeof(p->bootstrap), "%s", cfg->brokers);
	} else {
		err = start_embedded(p, topics, ntopics, errstr, errstr_size);
		if (err)
			goto fail;
	}

	conf = rd_kafka_conf_new();
	err = conf_set(conf, "bootstrap.servers", p->bootstrap, "brokers", errstr, errstr_size);
	if (!err)
		err = conf_apply(conf, cfg, errstr, errstr_size);
	if (err)
		goto fail;
	rd_kafka_conf_set_opaque(conf, p);
	rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
	rd_kafka_conf_set_error_cb(conf, error_cb);
	rd_kafka_conf_set_stats_cb(conf, stats_cb);
	rd_kafka_conf_set_log_cb(conf, log_cb);

	p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
	if (!p->rk) {
		err = -EINVAL;
		goto fail;
	}
	conf = NULL; /* owned by p->rk now */

	/* Wake the event loop when delivery reports arrive instead of polling on a timer. */
	main_queue = rd_kafka_queue_get_main(p->rk);
	rd_kafka_queue_io_event_enable(main_queue, p->wake_fd[1], "1", 1);
	rd_kafka_queue_destroy(main_queue);
	return 0;
fail:
	if (conf)
		rd_kafka_conf_destroy(conf);
	publisher_close(p);
	return err;
}

struct open_job {
	struct publisher *p;
	const struct tapio_config *cfg;
	const char *const *topics;
	size_t ntopics;
	delivery_fn on_delivery;
	char *errstr;
	size_t errstr_size;
	int err;
};

static void open_job_run(void *arg)
{
	struct open_job *job = arg;

	job->err = open_here(job->p, job->cfg, job->topics, job->ntopics, job->on_delivery,
			     job->errstr, job->errstr_size);
}

int publisher_open(struct publisher *p, const struct tapio_config *cfg, const char *const *topics,
		   size_t ntopics, delivery_fn on_delivery, char *errstr, size_t errstr_size)
{
	struct open_job job = { p, cfg, topics, ntopics, on_delivery, errstr, errstr_size, 0 };
	int err;

	/* librdkafka and the embedded broker start their threads from a thread without any
	 * capability: the threads that parse what brokers send never hold one. */
	err = run_capless(open_job_run, &job);
	if (err) {
		snprintf(errstr, errstr_size, "cannot start a thread: %s", strerror(err));
		memset(p, 0, sizeof(*p));
		p->wake_fd[0] = p->wake_fd[1] = -1;
		return -err;
	}
	return job.err;
}

int publisher_wake_fd(const struct publisher *p)
{
	return p->wake_fd[0];
}

void publisher_poll(struct publisher *p)
{
	char drain[64];

	/* Empty the pipe first: a report queued after this read writes to it again. */
	while (read(p->wake_fd[0], drain, sizeof(drain)) > 0)
		;
	while (rd_kafka_poll(p->rk, 0) > 0)
		;
}

static const char *const header_names[] = {
	"collector", "node", "schema_fingerprint", "producer_version",
};

int record_headers_parse(const char *list, unsigned *mask, char *why, size_t why_size)
{
	const char *item = list;

	*mask = 0;
	while (item && *item) {
		const char *end = strchrnul(item, ',');
		size_t n = (size_t)(end - item), i;

		for (i = 0; i < sizeof(header_names) / sizeof(header_names[0]); i++)
			if (strlen(header_names[i]) == n && !strncmp(item, header_names[i], n))
				break;
		if (i == sizeof(header_names) / sizeof(header_names[0])) {
			snprintf(why, why_size, "unknown header \"%.*s\" (known: collector, node, "
				 "schema_fingerprint, producer_version)", (int)n, item);
			return -EINVAL;
		}
		if (*mask & (1u << i)) {
			snprintf(why, why_size, "header \"%s\" named twice", header_names[i]);
			return -EINVAL;
		}
		*mask |= 1u << i;
		item = *end ? end + 1 : end;
	}
	return 0;
}

rd_kafka_resp_err_t publisher_send(struct publisher *p, rd_kafka_topic_t *topic, const char *key,
				   size_t key_len, const void *value, size_t value_len,
				   int64_t timestamp_ms, const struct record_headers *h,
				   struct msg_ref *ref)
{
	const char *values[] = { h->collector, h->node, h->schema_fingerprint, TAPIO_VERSION };
	rd_kafka_headers_t *hdrs;
	rd_kafka_resp_err_t err;

	if (!p->headers)
		return rd_kafka_producev(p->rk,
					 RD_KAFKA_V_RKT(topic),
					 RD_KAFKA_V_KEY(key, key_len),
					 RD_KAFKA_V_VALUE((void *)value, value_len),
					 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					 RD_KAFKA_V_TIMESTAMP(timestamp_ms),
					 RD_KAFKA_V_OPAQUE(ref),
					 RD_KAFKA_V_END);
	hdrs = rd_kafka_headers_new(4);
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		if (p->headers & (1u << i))
			rd_kafka_header_add(hdrs, header_names[i], -1, values[i], -1);
	err = rd_kafka_producev(p->rk,
				RD_KAFKA_V_RKT(topic),
				RD_KAFKA_V_KEY(key, key_len),
				RD_KAFKA_V_VALUE((void *)value, value_len),
				RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				RD_KAFKA_V_TIMESTAMP(timestamp_ms),
				RD_KAFKA_V_HEADERS(hdrs),
				RD_KAFKA_V_OPAQUE(ref),
				RD_KAFKA_V_END);
	if (err) /* on success librdkafka owns them */
		rd_kafka_headers_destroy(hdrs);
	return err;
}

static volatile sig_atomic_t flush_cut;

void publisher_cut_flush(void)
{
	flush_cut = 1;
}

/* The flush waits in slices this long, to notice publisher_cut_flush() in time. */
#define FLUSH_SLICE_MS 100

int publisher_flush(struct publisher *p, int timeout_ms)
{
	struct timespec now;
	int64_t start_ms, left_ms;
	bool cut;

	clock_gettime(CLOCK_MONOTONIC, &now);
	start_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	/* One slice at least, even when cut already: reports that are due (a purge's) come now. */
	do {
		clock_gettime(CLOCK_MONOTONIC, &now);
		left_ms = start_ms + timeout_ms - ((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
		rd_kafka_flush(p->rk, (int)(left_ms < 0 ? 0 : left_ms < FLUSH_SLICE_MS ? left_ms :
					    FLUSH_SLICE_MS));
		cut = flush_cut;
	} while (rd_kafka_outq_len(p->rk) > 0 && left_ms > FLUSH_SLICE_MS && !cut);
	if (cut && rd_kafka_outq_len(p->rk) > 0)
		log_warn("kafka: stop signal: not waiting for the %d record(s) still queued",
			 rd_kafka_outq_len(p->rk));
	publisher_poll(p);
	return rd_kafka_outq_len(p->rk);
}

void publisher_close(struct publisher *p)
{
	if (p->rk)
		rd_kafka_destroy(p->rk);
	if (p->mock)
		rd_kafka_mock_cluster_destroy(p->mock);
	if (p->mock_rk)
		rd_kafka_destroy(p->mock_rk);
	for (int i = 0; i < 2; i++)
		if (p->wake_fd[i] >= 0)
			close(p->wake_fd[i]);
	p->rk = p->mock_rk = NULL;
	p->mock = NULL;
	p->wake_fd[0] = p->wake_fd[1] = -1;
}
