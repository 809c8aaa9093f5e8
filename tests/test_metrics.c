/* /metrics text exposition format, librdkafka statistics parsing, readiness. */
#include <errno.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"
#include "pipeline.h"

extern const struct collector_ops kernel_collector;

static char *render(const struct pipeline *pl)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	metrics_render(pl, out);
	fclose(out);
	return text;
}

static struct pipeline *fake_pipeline(void)
{
	struct pipeline *pl = calloc(1, sizeof(*pl));

	pl->ncollectors = 1;
	pl->collectors[0].ops = &kernel_collector;
	pl->collectors[0].maps.reserve_failures_fd = -1;
	pl->collectors[0].stats.received = 12;
	pl->collectors[0].stats.rejected[DECODE_SHORT] = 3;
	pl->collectors[0].stats.delivered = 9;
	pl->collectors[0].stats.delivery_errors[0].err = RD_KAFKA_RESP_ERR__MSG_TIMED_OUT;
	pl->collectors[0].stats.delivery_errors[0].count = 2;
	pl->publisher_open = true;
	return pl;
}

/* Every line is a comment or `name{labels} value`; every sampled family has HELP and TYPE first. */
static void test_exposition_format(void **state)
{
	struct pipeline *pl = fake_pipeline();
	char *text, *line, *save = NULL;
	regex_t sample_re;
	char families[64][96];
	int nfam = 0;

	(void)state;
	pl->publisher.stats.updated_ms = 1;
	pl->publisher.stats.nbrokers = 1;
	pl->publisher.stats.brokers[0].up = 1;
	strcpy(pl->publisher.stats.brokers[0].name, "we\"ird\\host\n:9092/1");
	text = render(pl);
	assert_int_equal(regcomp(&sample_re,
				 "^[a-z_]+(\\{[a-z_]+=\"([^\"\\\\]|\\\\.)*\"(,[a-z_]+=\"([^\"\\\\]|\\\\.)*\")*\\})? [-0-9.e+]+$",
				 REG_EXTENDED | REG_NOSUB), 0);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[96];

		if (sscanf(line, "# TYPE %95s", name) == 1) {
			assert_true(nfam < 64);
			strcpy(families[nfam++], name);
			continue;
		}
		if (line[0] == '#')
			continue;
		if (regexec(&sample_re, line, 0, NULL, 0) != 0)
			fail_msg("not an exposition sample: %s", line);
		sscanf(line, "%95[a-z_]", name);
		int known = 0;
		for (int f = 0; f < nfam; f++)
			known |= strcmp(families[f], name) == 0;
		if (!known)
			fail_msg("sample before its TYPE line: %s", line);
	}
	regfree(&sample_re);
	free(text);

	text = render(pl);
	assert_non_null(strstr(text, "tapio_records_received_total{collector=\"kernel\"} 12\n"));
	assert_non_null(strstr(text, "tapio_records_rejected_total{collector=\"kernel\",reason=\"short\"} 3\n"));
	assert_non_null(strstr(text, "tapio_records_delivery_failed_total{collector=\"kernel\",error=\"_MSG_TIMED_OUT\"} 2\n"));
	assert_non_null(strstr(text, "tapio_kafka_broker_up{broker=\"we\\\"ird\\\\host\\n:9092/1\"} 1\n"));
	free(text);
	free(pl);
}

static const char stats_json[] =
	"{\"name\":\"rdkafka#producer-1\",\"time\":1764000000,\"msg_cnt\":3,\"msg_size\":300,"
	"\"brokers\":{"
	"\"127.0.0.1:9092/bootstrap\":{\"nodeid\":-1,\"state\":\"UP\",\"txretries\":1,\"rtt\":{\"avg\":0}},"
	"\"127.0.0.1:9092/1\":{\"nodeid\":1,\"state\":\"UP\",\"txretries\":2,\"rtt\":{\"avg\":1500}},"
	"\"127.0.0.1:9093/2\":{\"nodeid\":2,\"state\":\"DOWN\",\"txretries\":0,\"rtt\":{\"avg\":0}}}}";

static void test_kafka_stats(void **state)
{
	struct kafka_stats ks;

	(void)state;
	assert_int_equal(kafka_stats_parse(stats_json, sizeof(stats_json) - 1, &ks), 0);
	assert_int_equal(ks.msg_cnt, 3);
	assert_int_equal(ks.msg_size, 300);
	assert_int_equal(ks.txretries, 3);
	assert_int_equal(ks.nbrokers, 2); /* the bootstrap pseudo-broker is not one */
	assert_string_equal(ks.brokers[0].name, "127.0.0.1:9092/1");
	assert_int_equal(ks.brokers[0].up, 1);
	assert_int_equal(ks.brokers[0].rtt_avg_us, 1500);
	assert_int_equal(ks.brokers[1].up, 0);
	assert_int_equal(kafka_stats_parse("[1]", 3, &ks), -EINVAL);
	assert_int_equal(kafka_stats_parse("{", 1, &ks), -EINVAL);
}

static void test_readiness(void **state)
{
	struct pipeline *pl = fake_pipeline();

	(void)state;
	assert_string_equal(metrics_not_ready(pl, 1000), "collectors not attached yet");
	pl->attached = true;
	assert_string_equal(metrics_not_ready(pl, 1000), "no recent Kafka statistics yet");
	assert_int_equal(kafka_stats_parse(stats_json, sizeof(stats_json) - 1, &pl->publisher.stats), 0);
	pl->publisher.stats.updated_ms = 900;
	assert_null(metrics_not_ready(pl, 1000));
	/* Stale statistics are no evidence of a reachable broker. */
	assert_string_equal(metrics_not_ready(pl, 900 + 60000), "no recent Kafka statistics yet");
	pl->publisher.stats.brokers[0].up = 0;
	assert_string_equal(metrics_not_ready(pl, 1000), "no broker reachable");
	free(pl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exposition_format),
		cmocka_unit_test(test_kafka_stats),
		cmocka_unit_test(test_readiness),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
