/*
 * producebatch: librdkafka's batch produce call against one call per message, alone, on the
 * producer's settings (publish.c: idempotence, acks=all, lz4, linger.ms 50, murmur2_random), so
 * an A/B says whether the pipeline should hand messages over in batches.
 *
 *   producebatch --brokers B [--count N] [--batch K] [--rounds R] [--bytes V]
 *
 * Each round runs both ways on the same messages, one after the other: (a) rd_kafka_producev()
 * per message, key and value copied, as publisher_send() does; (b) rd_kafka_produce_batch() of K
 * messages at a time, the partitioner run per message (RD_KAFKA_PARTITION_UA). The clock runs
 * from the first call to the last delivery report. Output: "name=value" lines, medians over the
 * rounds, and [min-max]: producev_per_s, producev_cpu_us, batch_per_s, batch_cpu_us.
 */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define KEY "bench/1"

static uint64_t delivered, failed;

static void die(const char *what, const char *why)
{
	fprintf(stderr, "producebatch: %s: %s\n", what, why);
	exit(1);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec +
	       ru.ru_stime.tv_usec;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (m->err)
		failed++;
	else
		delivered++;
}

static rd_kafka_t *producer_new(const char *brokers)
{
	static const char *const props[][2] = {
		{ "enable.idempotence", "true" }, { "acks", "all" },
		{ "compression.codec", "lz4" },   { "linger.ms", "50" },
		{ "partitioner", "murmur2_random" },
	};
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char err[512];
	rd_kafka_t *rk;

	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err)))
		die("bootstrap.servers", err);
	for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++)
		if (rd_kafka_conf_set(conf, props[i][0], props[i][1], err, sizeof(err)))
			die(props[i][0], err);
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!rk)
		die("rd_kafka_new", err);
	return rk;
}

/* Serves delivery reports until every message of the round has one. */
static void wait_delivered(rd_kafka_t *rk, uint64_t count)
{
	while (delivered + failed < count)
		rd_kafka_poll(rk, 10);
	if (failed)
		die("delivery", "failed");
}

static void one_by_one(rd_kafka_t *rk, const char *topic, char *const *vals, size_t bytes,
		       uint64_t count)
{
	for (uint64_t i = 0; i < count; i++) {
		rd_kafka_resp_err_t err;

		while ((err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
						RD_KAFKA_V_KEY(KEY, sizeof(KEY) - 1),
						RD_KAFKA_V_VALUE(vals[i & 1023], bytes),
						RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
						RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(rk, 1);
		if (err)
			die("rd_kafka_producev", rd_kafka_err2str(err));
		if ((i & 255) == 255)
			rd_kafka_poll(rk, 0);
	}
}

static void in_batches(rd_kafka_t *rk, rd_kafka_topic_t *rkt, char *const *vals, size_t bytes,
		       uint64_t count, size_t batch)
{
	rd_kafka_message_t *msgs = calloc(batch, sizeof(*msgs));

	if (!msgs)
		die("calloc", "out of memory");
	for (uint64_t done = 0; done < count;) {
		size_t n = count - done < batch ? (size_t)(count - done) : batch, left = n;

		for (size_t j = 0; j < n; j++) {
			msgs[j] = (rd_kafka_message_t){
				.payload = vals[(done + j) & 1023],
				.len = bytes,
				.key = (void *)KEY,
				.key_len = sizeof(KEY) - 1,
			};
		}
		/* What a full queue refused comes back with .err set: offered again. */
		while (left) {
			size_t k = 0;

			rd_kafka_produce_batch(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, msgs,
					       (int)left);
			for (size_t j = 0; j < left; j++) {
				if (!msgs[j].err)
					continue;
				if (msgs[j].err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
					die("rd_kafka_produce_batch", rd_kafka_err2str(msgs[j].err));
				msgs[k] = msgs[j];
				msgs[k++].err = 0;
			}
			left = k;
			if (left)
				rd_kafka_poll(rk, 1);
		}
		done += n;
		rd_kafka_poll(rk, 0);
	}
	free(msgs);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void print(const char *name, double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	printf("%s=%.3f\n%s_min=%.3f\n%s_max=%.3f\n", name, v[n / 2], name, v[0], name, v[n - 1]);
}

int main(int argc, char **argv)
{
	const char *brokers = NULL, *topic = "tapio.kernel";
	uint64_t count = 500000;
	size_t batch = 256, bytes = 152;
	int rounds = 3;
	static char *vals[1024];
	double pv_rate[16], pv_cpu[16], b_rate[16], b_cpu[16];
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--brokers") && i + 1 < argc)
			brokers = argv[++i];
		else if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
			batch = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--bytes") && i + 1 < argc)
			bytes = strtoul(argv[++i], NULL, 10);
		else
			die("usage", "producebatch --brokers B [--count N] [--batch K] [--rounds R] "
				     "[--bytes V]");
	}
	if (!brokers || !count || !batch || rounds < 1 || rounds > 16 || !bytes || bytes > 65536)
		die("usage", "--brokers is required; --rounds 1..16; --bytes 1..65536");
	/* Values that vary as records do (lz4 sees different bytes), made once. */
	srand(1);
	for (int i = 0; i < 1024; i++) {
		vals[i] = malloc(bytes);
		if (!vals[i])
			die("malloc", "out of memory");
		for (size_t j = 0; j < bytes; j++)
			vals[i][j] = (char)(j < bytes / 2 ? (int)('a' + j % 26) : rand());
	}
	rk = producer_new(brokers);
	rkt = rd_kafka_topic_new(rk, topic, NULL);
	if (!rkt)
		die("rd_kafka_topic_new", rd_kafka_err2str(rd_kafka_last_error()));
	/* Warm-up: metadata, the producer id, the connections. */
	one_by_one(rk, topic, vals, bytes, 10000);
	wait_delivered(rk, 10000);
	for (int r = 0; r < rounds; r++) {
		int64_t t0, c0;

		delivered = failed = 0;
		t0 = now_ns();
		c0 = cpu_us();
		one_by_one(rk, topic, vals, bytes, count);
		wait_delivered(rk, count);
		pv_rate[r] = (double)count * 1e9 / (double)(now_ns() - t0);
		pv_cpu[r] = (double)(cpu_us() - c0) / (double)count;

		delivered = failed = 0;
		t0 = now_ns();
		c0 = cpu_us();
		in_batches(rk, rkt, vals, bytes, count, batch);
		wait_delivered(rk, count);
		b_rate[r] = (double)count * 1e9 / (double)(now_ns() - t0);
		b_cpu[r] = (double)(cpu_us() - c0) / (double)count;
	}
	print("producev_per_s", pv_rate, rounds);
	print("producev_cpu_us", pv_cpu, rounds);
	print("batch_per_s", b_rate, rounds);
	print("batch_cpu_us", b_cpu, rounds);
	printf("batch=%zu\nbytes=%zu\ncount=%" PRIu64 "\n", batch, bytes, count);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
	for (int i = 0; i < 1024; i++)
		free(vals[i]);
	return 0;
}
