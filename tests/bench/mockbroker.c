/*
 * mockbroker: librdkafka's mock cluster in a process of its own, so a benchmark's broker work is
 * not charged to the producer it measures. Prints "bootstrap.servers=HOST:PORT" on stdout once it
 * accepts connections, then runs until SIGINT/SIGTERM (or stdin closes with --stdin).
 *
 *   mockbroker [--brokers N] [--partitions N] [--stdin] [TOPIC...]  (default topic: tapio.kernel)
 *
 * With --stdin it takes commands, one per line, and answers each with a line "ok" or "error ...":
 *   down ID / up ID     take broker ID down (it drops its connections and refuses new ones) or
 *                       bring it back: a broker outage, for the tests of the tools that must
 *                       lose nothing through one (librdkafka's mock cluster keeps its data).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	int brokers = 1, partitions = 4, ntopics = 0, commands = 0;
	const char *topics[32];
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_mock_cluster_t *mock;
	rd_kafka_t *rk;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--brokers") && i + 1 < argc)
			brokers = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--partitions") && i + 1 < argc)
			partitions = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--stdin"))
			commands = 1;
		else if (argv[i][0] != '-' && ntopics < 32)
			topics[ntopics++] = argv[i];
		else {
			fprintf(stderr, "usage: mockbroker [--brokers N] [--partitions N] [--stdin] "
				"[TOPIC...]\n");
			return 2;
		}
	}
	if (!ntopics)
		topics[ntopics++] = "tapio.kernel";
	if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "mockbroker: %s\n", errstr);
		return 1;
	}
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk) {
		fprintf(stderr, "mockbroker: %s\n", errstr);
		return 1;
	}
	mock = rd_kafka_mock_cluster_new(rk, brokers);
	if (!mock) {
		fprintf(stderr, "mockbroker: cannot start the mock cluster\n");
		rd_kafka_destroy(rk);
		return 1;
	}
	for (int i = 0; i < ntopics; i++) {
		rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mock, topics[i], partitions, 1);

		if (err) {
			fprintf(stderr, "mockbroker: topic %s: %s\n", topics[i], rd_kafka_err2str(err));
			return 1;
		}
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("bootstrap.servers=%s\n", rd_kafka_mock_cluster_bootstraps(mock));
	fflush(stdout);
	while (!stop && !commands)
		pause();
	while (!stop && commands) {
		char line[256], verb[16];
		int id;

		if (!fgets(line, sizeof(line), stdin))
			break; /* stdin closed (or a signal) */
		if (sscanf(line, "%15s %d", verb, &id) == 2 && !strcmp(verb, "down"))
			printf("%s\n", rd_kafka_mock_broker_set_down(mock, id) ? "error down" : "ok");
		else if (sscanf(line, "%15s %d", verb, &id) == 2 && !strcmp(verb, "up"))
			printf("%s\n", rd_kafka_mock_broker_set_up(mock, id) ? "error up" : "ok");
		else
			printf("error: unknown command\n");
		fflush(stdout);
	}
	rd_kafka_mock_cluster_destroy(mock);
	rd_kafka_destroy(rk);
	return 0;
}
