/* Unit tests for producer/core/topics.c: the --print-topics flags and both output formats. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "collector.h"
#include "config.h"
#include "topics.h"

#define ARGC(argv) ((int)(sizeof(argv) / sizeof((argv)[0])) - 1)

#define assert_contains(hay, needle)                                                   \
	do {                                                                           \
		const char *hay_ = (hay), *needle_ = (needle);                         \
		if (!hay_ || !strstr(hay_, needle_))                                   \
			fail_msg("\"%s\" does not contain \"%s\"", hay_ ? hay_ : "(null)", \
				 needle_);                                             \
	} while (0)

#define assert_not_contains(hay, needle)                                         \
	do {                                                                     \
		if (strstr((hay), (needle)))                                     \
			fail_msg("\"%s\" contains \"%s\"", (hay), (needle));     \
	} while (0)

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* The real collector table's names, as main() passes them to the configuration. */
static const char **known_collectors(void)
{
	static const char *known[64];

	assert_true(collector_count < 64);
	for (size_t i = 0; i < collector_count; i++)
		known[i] = collector_table[i]->name;
	known[collector_count] = NULL;
	return known;
}

/* Runs the topic flags then the configuration over argv, as main() does; returns the output. */
static char *print_topics(int argc, char **argv)
{
	struct topics_options opt;
	struct tapio_config cfg;
	char err[512] = "", *text = NULL;
	size_t len = 0;
	FILE *out;

	assert_int_equal(topics_take_args(&argc, argv, &opt, err, sizeof(err)), 0);
	assert_int_not_equal(opt.format, TOPICS_NONE);
	if (config_from_args(&cfg, argc, argv, known_collectors(), stdout, err, sizeof(err)))
		fail_msg("config: %s", err);
	out = open_memstream(&text, &len);
	assert_non_null(out);
	assert_int_equal(topics_print(&cfg, &opt, out), 0);
	fclose(out);
	config_free(&cfg);
	return text;
}

static void test_flags_taken_out(void **state)
{
	char *argv[] = { "tapio-producer", "--brokers", "k:9092", "--print-topics=strimzi",
			 "--partitions=12", "--replication-factor", "2", "--set", "log_level=debug",
			 "--retention-hours", "24", "--strimzi-cluster", "prod", NULL };
	struct topics_options opt;
	char err[256] = "";
	int argc = ARGC(argv);

	(void)state;
	assert_int_equal(topics_take_args(&argc, argv, &opt, err, sizeof(err)), 0);
	assert_int_equal(opt.format, TOPICS_STRIMZI);
	assert_int_equal(opt.partitions, 12);
	assert_int_equal(opt.replication_factor, 2);
	assert_int_equal(opt.retention_hours, 24);
	assert_string_equal(opt.strimzi_cluster, "prod");
	/* What is left is for config_from_args(), in order. */
	assert_int_equal(argc, 5);
	assert_string_equal(argv[1], "--brokers");
	assert_string_equal(argv[2], "k:9092");
	assert_string_equal(argv[3], "--set");
	assert_string_equal(argv[4], "log_level=debug");
	assert_null(argv[5]);
}

static void test_defaults_and_no_flags(void **state)
{
	char *argv[] = { "tapio-producer", "--collectors", "kernel", NULL };
	struct topics_options opt;
	char err[256] = "";
	int argc = ARGC(argv);

	(void)state;
	assert_int_equal(topics_take_args(&argc, argv, &opt, err, sizeof(err)), 0);
	assert_int_equal(opt.format, TOPICS_NONE);
	assert_int_equal(argc, 3);
	assert_int_equal(opt.partitions, TOPICS_DEFAULT_PARTITIONS);
	assert_int_equal(opt.replication_factor, TOPICS_DEFAULT_REPLICATION);
	assert_int_equal(opt.retention_hours, TOPICS_DEFAULT_RETENTION_HOURS);
	assert_string_equal(opt.strimzi_cluster, TOPICS_DEFAULT_STRIMZI_CLUSTER);
}

/* After "--" nothing is an option of ours. */
static void test_double_dash(void **state)
{
	char *argv[] = { "tapio-producer", "--", "--print-topics", NULL };
	struct topics_options opt;
	char err[256] = "";
	int argc = ARGC(argv);

	(void)state;
	assert_int_equal(topics_take_args(&argc, argv, &opt, err, sizeof(err)), 0);
	assert_int_equal(opt.format, TOPICS_NONE);
	assert_int_equal(argc, 3);
	assert_string_equal(argv[2], "--print-topics");
}

static void expect_error(const char *a1, const char *a2, const char *needle)
{
	char *argv[] = { "tapio-producer", (char *)a1, (char *)a2, NULL };
	struct topics_options opt;
	char err[256] = "";
	int argc = a2 ? 3 : 2;

	assert_int_equal(topics_take_args(&argc, argv, &opt, err, sizeof(err)), -EINVAL);
	assert_contains(err, needle);
}

static void test_flag_errors(void **state)
{
	(void)state;
	expect_error("--print-topics=json", NULL, "unknown format \"json\"");
	expect_error("--partitions", "4", "--partitions only goes with --print-topics");
	expect_error("--strimzi-cluster", "x", "--strimzi-cluster only goes with --print-topics");
	expect_error("--print-topics", "--partitions", "\"--partitions\" needs a value");
	expect_error("--print-topics", "--partitions=0", "--partitions: bad value \"0\"");
	expect_error("--print-topics", "--partitions=1x", "--partitions: bad value \"1x\"");
	expect_error("--print-topics", "--replication-factor=33", "bad value \"33\" (an integer 1..32)");
	expect_error("--print-topics", "--retention-hours=", "--retention-hours: bad value \"\"");
	expect_error("--print-topics", "--strimzi-cluster=-a", "--strimzi-cluster: bad value \"-a\"");
	expect_error("--print-topics", "--strimzi-cluster=a/b", "bad value \"a/b\"");
}

/* Every collector of the default set has its topic, so a collector added to the table is created
 * too; the metadata topic is compacted, the others have the retention. */
static void test_kafka_topics_every_collector(void **state)
{
	char *argv[] = { "tapio-producer", "--brokers", "k1:9092,k2:9092", "--print-topics", NULL };
	char *text = print_topics(ARGC(argv), argv);
	char want[512];
	size_t ndefault = 0;

	(void)state;
	assert_true(!strncmp(text, "#!/bin/sh\n", 10));
	assert_contains(text, "\nset -eu\n");
	assert_contains(text, ": \"${BOOTSTRAP_SERVER:=k1:9092,k2:9092}\"\n");
	for (size_t i = 0; i < collector_count; i++) {
		/* Not in the default set (etcd): its topic is printed only where it is named. */
		if (collector_table[i]->not_default) {
			snprintf(want, sizeof(want), "--topic tapio.%s ", collector_table[i]->name);
			assert_null(strstr(text, want));
			continue;
		}
		ndefault++;
		snprintf(want, sizeof(want),
			 "\t--create --if-not-exists --topic tapio.%s --partitions 6 --replication-factor 3 \\\n"
			 "\t--config cleanup.policy=delete --config retention.ms=604800000 "
			 "--config min.insync.replicas=2\n",
			 collector_table[i]->name);
		assert_contains(text, want);
		snprintf(want, sizeof(want),
			 "--alter --entity-type topics --entity-name tapio.%s --add-config "
			 "cleanup.policy=delete,retention.ms=604800000,min.insync.replicas=2\n",
			 collector_table[i]->name);
		assert_contains(text, want);
	}
	assert_contains(text, "--topic tapio.metadata --partitions 6 --replication-factor 3 \\\n"
			      "\t--config cleanup.policy=compact --config min.insync.replicas=2\n");
	assert_contains(text, "--entity-name tapio.metadata --add-config "
			      "cleanup.policy=compact,min.insync.replicas=2\n");
	assert_int_equal(count(text, "kafka-topics.sh\" --bootstrap-server"), ndefault + 1);
	assert_int_equal(count(text, "kafka-configs.sh\" --bootstrap-server"), ndefault + 1);
	free(text);
}

/* Only the configured collectors, with the configured prefix and the flags' settings. */
static void test_kafka_topics_configured(void **state)
{
	char *argv[] = { "tapio-producer", "--print-topics", "--collectors", "dns",
			 "--topic-prefix", "prod-", "--partitions", "3", "--replication-factor", "1",
			 "--retention-hours", "2", NULL };
	char *text = print_topics(ARGC(argv), argv);

	(void)state;
	/* No brokers (the embedded broker): the script asks for one. */
	assert_contains(text, ": \"${BOOTSTRAP_SERVER:?set BOOTSTRAP_SERVER");
	assert_contains(text, "--topic prod-dns --partitions 3 --replication-factor 1 \\\n"
			      "\t--config cleanup.policy=delete --config retention.ms=7200000\n");
	assert_contains(text, "--topic prod-metadata --partitions 3 --replication-factor 1 \\\n"
			      "\t--config cleanup.policy=compact\n");
	/* One replica: min.insync.replicas stays the broker's. */
	assert_not_contains(text, "min.insync.replicas");
	assert_not_contains(text, "prod-kernel");
	assert_not_contains(text, "tapio.");
	assert_int_equal(count(text, "--create"), 2);
	free(text);
}

static void test_strimzi(void **state)
{
	char *argv[] = { "tapio-producer", "--print-topics=strimzi", "--collectors", "kernel,dns",
			 "--strimzi-cluster", "events", NULL };
	char *text = print_topics(ARGC(argv), argv);

	(void)state;
	assert_int_equal(count(text, "\n---\napiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaTopic\n"),
			 3);
	assert_int_equal(count(text, "    strimzi.io/cluster: events\n"), 3);
	assert_contains(text, "metadata:\n  name: tapio.kernel\n  labels:\n"
			      "    strimzi.io/cluster: events\nspec:\n  topicName: tapio.kernel\n"
			      "  partitions: 6\n  replicas: 3\n  config:\n"
			      "    cleanup.policy: delete\n    retention.ms: 604800000\n"
			      "    min.insync.replicas: 2\n");
	assert_contains(text, "  topicName: tapio.metadata\n  partitions: 6\n  replicas: 3\n"
			      "  config:\n    cleanup.policy: compact\n    min.insync.replicas: 2\n");
	/* Comments before the first document only: every line is YAML. */
	assert_true(text[0] == '#');
	assert_not_contains(strstr(text, "---"), "\n#");
	free(text);
}

/* A lowercase RFC 1123 subdomain, checked independently of topics.c. */
static bool subdomain(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (alnum)
			continue;
		if (c != '-' && c != '.')
			return false;
		if (i == 0 || i == n - 1 || s[i - 1] == '.' || s[i + 1] == '.')
			return false;
	}
	return true;
}

static void test_k8s_names(void **state)
{
	const char *topics[] = { "tapio.kernel", "Tapio.kernel", "tapio_kernel", "tapio-kernel",
				 "_x.", "..", "a..b", "-", "tapio.-x", "UPPER" };
	char names[sizeof(topics) / sizeof(topics[0])][254], long_topic[250];

	(void)state;
	topics_k8s_name("tapio.kernel", names[0], sizeof(names[0]));
	assert_string_equal(names[0], "tapio.kernel");
	for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
		topics_k8s_name(topics[i], names[i], sizeof(names[i]));
		if (!subdomain(names[i]))
			fail_msg("\"%s\" gave \"%s\", not a Kubernetes name", topics[i], names[i]);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(names[i], names[j]);
	}
	assert_true(!strncmp(names[2], "tapio-kernel-", 13));
	memset(long_topic, 'A', sizeof(long_topic) - 1);
	long_topic[sizeof(long_topic) - 1] = '\0';
	topics_k8s_name(long_topic, names[0], sizeof(names[0]));
	assert_true(subdomain(names[0]));
	assert_int_equal(strlen(names[0]), 253);
}

/* A failing stream is reported, not ignored. */
static void test_write_error(void **state)
{
	char *argv[] = { "tapio-producer", NULL };
	struct topics_options opt = { .format = TOPICS_KAFKA_TOPICS, .partitions = 1,
				      .replication_factor = 1, .retention_hours = 1,
				      .strimzi_cluster = "x" };
	struct tapio_config cfg;
	char err[256];
	FILE *full = fopen("/dev/full", "w");

	(void)state;
	assert_non_null(full);
	assert_int_equal(config_from_args(&cfg, 1, argv, known_collectors(), stdout, err,
					  sizeof(err)), 0);
	assert_int_equal(topics_print(&cfg, &opt, full), -EIO);
	fclose(full);
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flags_taken_out),
		cmocka_unit_test(test_defaults_and_no_flags),
		cmocka_unit_test(test_double_dash),
		cmocka_unit_test(test_flag_errors),
		cmocka_unit_test(test_kafka_topics_every_collector),
		cmocka_unit_test(test_kafka_topics_configured),
		cmocka_unit_test(test_strimzi),
		cmocka_unit_test(test_k8s_names),
		cmocka_unit_test(test_write_error),
	};

	unsetenv("NODE_NAME");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
