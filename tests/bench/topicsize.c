/*
 * topicsize: the bytes a topic takes on the wire, as a consumer fetches it whole: reads every
 * partition from the beginning to its end and prints, from librdkafka's statistics, the bytes
 * received from the brokers (record batches as stored, compressed, plus fetch framing), with the
 * records and their key + value + header bytes. For make bench (tests/bench/archive.sh).
 *
 *   topicsize BROKERS TOPIC
 *
 * Output: topic_records=N, topic_record_bytes=B (key + value + headers, uncompressed),
 * topic_wire_bytes=W.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

static long long wire_bytes = -1;

/* The brokers' rxbytes: every byte received, fetch responses included. */
static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
	json_t *root = json_loadb(json, len, 0, NULL), *b;
	const char *name;
	long long sum = 0;

	(void)rk;
	(void)opaque;
	json_object_foreach(json_object_get(root, "brokers"), name, b)
		sum += json_integer_value(json_object_get(b, "rxbytes"));
	json_decref(root);
	wire_bytes = sum;
	return 0;
}

static void die(const char *what, const char *why)
{
	fprintf(stderr, "topicsize: %s: %s\n", what, why);
	exit(1);
}

int main(int argc, char **argv)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *parts;
	const struct rd_kafka_metadata *md;
	rd_kafka_topic_t *rkt;
	rd_kafka_message_t *m;
	long long records = 0, bytes = 0;
	char errstr[512];
	int eof = 0, n;
	rd_kafka_t *rk;

	if (argc != 3) {
		fprintf(stderr, "usage: topicsize BROKERS TOPIC\n");
		return 2;
	}
	if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "group.id", "topicsize", errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "statistics.interval.ms", "100", errstr, sizeof(errstr)))
		die("config", errstr);
	rd_kafka_conf_set_stats_cb(conf, on_stats);
	if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr))))
		die("consumer", errstr);
	rd_kafka_poll_set_consumer(rk);
	rkt = rd_kafka_topic_new(rk, argv[2], NULL);
	if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) || md->topic_cnt != 1 ||
	    md->topics[0].partition_cnt <= 0)
		die(argv[2], "no such topic");
	n = md->topics[0].partition_cnt;
	parts = rd_kafka_topic_partition_list_new(n);
	for (int i = 0; i < n; i++)
		rd_kafka_topic_partition_list_add(parts, argv[2], md->topics[0].partitions[i].id)
			->offset = RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	if (rd_kafka_assign(rk, parts))
		die(argv[2], "assign failed");
	rd_kafka_topic_partition_list_destroy(parts);
	while (eof < n) {
		if (!(m = rd_kafka_consumer_poll(rk, 1000)))
			continue;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			eof++;
		} else if (m->err) {
			die(argv[2], rd_kafka_message_errstr(m));
		} else {
			rd_kafka_headers_t *hdrs;
			const char *name;
			const void *val;
			size_t size;

			records++;
			bytes += (long long)m->len + (long long)m->key_len;
			if (!rd_kafka_message_headers(m, &hdrs))
				for (size_t i = 0;
				     !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); i++)
					bytes += (long long)(strlen(name) + size);
		}
		rd_kafka_message_destroy(m);
	}
	/* Statistics come every 100 ms: wait for two after the last fetch. */
	for (int i = 0; i < 3; i++)
		if ((m = rd_kafka_consumer_poll(rk, 120)))
			rd_kafka_message_destroy(m);
	printf("topic_records=%lld\ntopic_record_bytes=%lld\ntopic_wire_bytes=%lld\n", records, bytes,
	       wire_bytes);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return 0;
}
