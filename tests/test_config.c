/* Unit tests for producer/core/config.c: defaults, the file format, every error class, flags. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "publish.h"

static const char *const known[] = { "kernel", "network", NULL };

#define ARGC(argv) ((int)(sizeof(argv) / sizeof((argv)[0])) - 1)

#define assert_contains(hay, needle)                                                   \
	do {                                                                           \
		const char *hay_ = (hay), *needle_ = (needle);                         \
		if (!hay_ || !strstr(hay_, needle_))                                   \
			fail_msg("\"%s\" does not contain \"%s\"", hay_ ? hay_ : "(null)", \
				 needle_);                                             \
	} while (0)

/* A temporary config file holding `text`; the caller unlinks it. */
static void write_temp(char path[static 32], const char *text)
{
	size_t len = strlen(text);
	int fd;

	strcpy(path, "/tmp/tapio-test-config-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* Parses `text` into a fresh config, expecting failure with every `needles` substring. */
static void expect_parse_error(const char *text, const char *const *needles)
{
	struct tapio_config cfg;
	char err[512] = "";

	config_defaults(&cfg);
	assert_int_equal(config_parse_text(&cfg, text, "t.conf", known, err, sizeof(err)), -EINVAL);
	for (; *needles; needles++)
		assert_contains(err, *needles);
	assert_int_not_equal(err[strlen(err) - 1], '\n'); /* the caller adds its own */
	config_free(&cfg);
}

#define EXPECT_ERROR(text, ...) \
	expect_parse_error((text), (const char *const[]){ __VA_ARGS__, NULL })

static int parse_ok(struct tapio_config *cfg, const char *text)
{
	char err[512] = "";
	int ret;

	ret = config_parse_text(cfg, text, "t.conf", known, err, sizeof(err));
	if (ret)
		fail_msg("unexpected error %d: %s", ret, err);
	return ret;
}

static int setup(void **state)
{
	(void)state;
	unsetenv("NODE_NAME");
	return 0;
}

static void test_defaults(void **state)
{
	struct tapio_config cfg;
	char host[256] = "", err[512] = "";
	char *argv[] = { "tapio-producer", NULL };

	(void)state;
	assert_int_equal(gethostname(host, sizeof(host)), 0);
	config_defaults(&cfg);
	assert_null(cfg.brokers);
	assert_string_equal(cfg.topic_prefix, "tapio.");
	assert_string_equal(cfg.node_name, host);
	assert_null(cfg.collectors);
	assert_int_equal(cfg.log_level, LOG_INFO);
	assert_int_equal(cfg.flush_timeout_ms, 10000);
	assert_int_equal(cfg.stats_interval_s, 60);
	assert_int_equal(cfg.kafka_count, 0);
	assert_null(cfg.config_path);
	config_free(&cfg);

	/* With no flags every known collector runs. */
	assert_int_equal(config_from_args(&cfg, ARGC(argv), argv, known, stdout, err, sizeof(err)), 0);
	assert_non_null(cfg.collectors);
	assert_string_equal(cfg.collectors[0], "kernel");
	assert_string_equal(cfg.collectors[1], "network");
	assert_null(cfg.collectors[2]);
	assert_true(cfg.collectors_default);
	assert_true(config_has_collector(&cfg, "kernel"));
	assert_true(config_has_collector(&cfg, "network"));
	assert_false(config_has_collector(&cfg, "fs"));
	config_free(&cfg);
}

static const char full_file[] =
	"\xef\xbb\xbf# tapio test configuration\n"
	"\n"
	"   # an indented comment\n"
	"brokers = kafka-0:9092 , kafka-1:9092\r\n"
	"topic_prefix=prod.tapio-\n"
	"\tnode_name =  worker-7  \n"
	"collectors = network\n"
	"log_level = debug\n"
	"flush_timeout_ms = 600000\n"
	"stats_interval_s = 0\n"
	"kafka.acks = all\n"
	"kafka.client.id = tapio#1\n"
	"kafka.linger.ms=5";

static void test_full_file(void **state)
{
	struct tapio_config cfg;
	char path[32], err[512] = "";
	char *argv[] = { "tapio-producer", "--config", path, NULL };

	(void)state;
	write_temp(path, full_file);
	assert_int_equal(config_from_args(&cfg, ARGC(argv), argv, known, stdout, err, sizeof(err)), 0);
	unlink(path);
	assert_string_equal(err, "");
	assert_string_equal(cfg.brokers, "kafka-0:9092,kafka-1:9092");
	assert_string_equal(cfg.topic_prefix, "prod.tapio-");
	assert_string_equal(cfg.node_name, "worker-7");
	assert_string_equal(cfg.collectors[0], "network");
	assert_null(cfg.collectors[1]);
	assert_true(config_has_collector(&cfg, "network"));
	assert_false(config_has_collector(&cfg, "kernel"));
	assert_int_equal(cfg.log_level, LOG_DEBUG);
	assert_int_equal(cfg.flush_timeout_ms, 600000);
	assert_int_equal(cfg.stats_interval_s, 0);
	assert_string_equal(cfg.config_path, path);
	assert_int_equal(cfg.kafka_count, 3);
	assert_string_equal(cfg.kafka[0].name, "acks");
	assert_string_equal(cfg.kafka[0].value, "all");
	assert_string_equal(cfg.kafka[1].name, "client.id");
	assert_string_equal(cfg.kafka[1].value, "tapio#1"); /* '#' inside a value is kept */
	assert_string_equal(cfg.kafka[2].name, "linger.ms");
	assert_string_equal(cfg.kafka[2].value, "5");
	assert_contains(cfg.kafka[0].origin, ":11");
	assert_contains(cfg.kafka[0].origin, path);
	config_free(&cfg);
}

static void test_unknown_key(void **state)
{
	(void)state;
	EXPECT_ERROR("log_level = info\n# comment\nfoo = 1\n", "t.conf:3: unknown key \"foo\"");
	EXPECT_ERROR("topic-prefix = x\n", "t.conf:1: unknown key \"topic-prefix\"",
		     "did you mean \"topic_prefix\"");
	EXPECT_ERROR("acks = all\n", "t.conf:1: unknown key \"acks\"", "kafka.acks");
	EXPECT_ERROR("Brokers = x\n", "unknown key \"Brokers\"");
}

static void test_bad_int(void **state)
{
	(void)state;
	EXPECT_ERROR("\nflush_timeout_ms = abc\n",
		     "t.conf:2: bad value \"abc\" for flush_timeout_ms: not an integer");
	EXPECT_ERROR("flush_timeout_ms = 10ms\n", "\"10ms\" for flush_timeout_ms: not an integer");
	EXPECT_ERROR("flush_timeout_ms = 0x10\n", "not an integer");
	EXPECT_ERROR("flush_timeout_ms = 1 0\n", "not an integer");
	EXPECT_ERROR("flush_timeout_ms =\n",
		     "t.conf:1: bad value \"\" for flush_timeout_ms: not an integer");
	EXPECT_ERROR("stats_interval_s = 99999999999999999999999\n",
		     "for stats_interval_s: out of range 0..86400");
}

static void test_int_range(void **state)
{
	struct tapio_config cfg;

	(void)state;
	EXPECT_ERROR("flush_timeout_ms = 600001\n",
		     "t.conf:1: bad value \"600001\" for flush_timeout_ms: out of range 0..600000");
	EXPECT_ERROR("flush_timeout_ms = -1\n", "\"-1\" for flush_timeout_ms: out of range");
	EXPECT_ERROR("stats_interval_s = 86401\n", "out of range 0..86400");
	config_defaults(&cfg);
	parse_ok(&cfg, "flush_timeout_ms = 0\nstats_interval_s = 86400\n");
	assert_int_equal(cfg.flush_timeout_ms, 0);
	assert_int_equal(cfg.stats_interval_s, 86400);
	config_free(&cfg);
}

static void test_bad_enum(void **state)
{
	(void)state;
	EXPECT_ERROR("log_level = verbose\n",
		     "t.conf:1: bad value \"verbose\" for log_level: expected one of error, warn, info, debug");
	EXPECT_ERROR("log_level = INFO\n", "bad value \"INFO\" for log_level");
}

static void test_collectors(void **state)
{
	struct tapio_config cfg;

	(void)state;
	EXPECT_ERROR("collectors = kernel,fs\n",
		     "t.conf:1: bad value \"kernel,fs\" for collectors: unknown collector \"fs\"",
		     "known: kernel, network");
	EXPECT_ERROR("collectors = kernel, network ,kernel\n",
		     "for collectors: collector \"kernel\" is listed twice");
	EXPECT_ERROR("collectors =\n", "t.conf:1: bad value \"\" for collectors",
		     "at least one collector is required");
	EXPECT_ERROR("collectors = kernel,,network\n", "empty item");
	EXPECT_ERROR("collectors = ,\n", "for collectors: empty item");

	config_defaults(&cfg);
	parse_ok(&cfg, "collectors =  network ,\tkernel \n");
	assert_string_equal(cfg.collectors[0], "network");
	assert_string_equal(cfg.collectors[1], "kernel");
	assert_null(cfg.collectors[2]);
	config_free(&cfg);
}

static void test_line_syntax(void **state)
{
	(void)state;
	EXPECT_ERROR("log_level = info\n\nbrokers kafka:9092\n",
		     "t.conf:3: expected \"key = value\", got \"brokers kafka:9092\"");
	EXPECT_ERROR(" = x\n", "t.conf:1: missing key");
	EXPECT_ERROR("log_level = info\nlog_level = debug\n",
		     "t.conf:2: key \"log_level\" is already set at line 1");
	EXPECT_ERROR("kafka.acks = 1\nkafka.acks = all\n",
		     "t.conf:2: key \"kafka.acks\" is already set at line 1");
	EXPECT_ERROR("log_level = info\nnode_name = n\xff\n", "t.conf:2: not valid UTF-8");
	EXPECT_ERROR("node_name = a\x01b\n",
		     "t.conf:1: the value for node_name contains a control character");
	EXPECT_ERROR("kafka.client.id = a\rb\n",
		     "t.conf:1: the value for kafka.client.id contains a control character");
	EXPECT_ERROR("node_name = a\tb\n",
		     "t.conf:1: bad value \"a\tb\" for node_name: must not contain blanks");
}

static void test_string_values(void **state)
{
	struct tapio_config cfg;

	(void)state;
	EXPECT_ERROR("topic_prefix = tapio/\n",
		     "t.conf:1: bad value \"tapio/\" for topic_prefix: '/' is not allowed in a Kafka topic name");
	EXPECT_ERROR("topic_prefix = my prefix\n", "for topic_prefix: ' ' is not allowed");
	EXPECT_ERROR("topic_prefix = caf\xc3\xa9\n", "for topic_prefix: non-ASCII byte 0xc3");
	EXPECT_ERROR("node_name = rack1/node2\n",
		     "t.conf:1: bad value \"rack1/node2\" for node_name: must not contain '/'");
	EXPECT_ERROR("node_name =\n", "bad value \"\" for node_name: must not be empty");
	EXPECT_ERROR("brokers = a:9092,,b:9092\n", "for brokers: empty broker");
	EXPECT_ERROR("brokers = a 9092\n", "for brokers: broker \"a 9092\" contains a blank");
	EXPECT_ERROR("record_headers = node,key\n",
		     "t.conf:1: bad value \"node,key\" for record_headers: unknown header \"key\"");
	EXPECT_ERROR("record_headers = node,node\n", "header \"node\" named twice");
	EXPECT_ERROR("state_dir = state\n", "bad value \"state\" for state_dir: must be an absolute path");

	/* 249 - strlen("network") = 242 characters is the longest prefix that fits. */
	{
		char text[400], prefix[300];

		memset(prefix, 'p', 243);
		prefix[243] = '\0';
		snprintf(text, sizeof(text), "topic_prefix = %s\n", prefix);
		EXPECT_ERROR(text, "for topic_prefix: 243 characters", "249-character");
		prefix[242] = '\0';
		snprintf(text, sizeof(text), "topic_prefix = %s\n", prefix);
		config_defaults(&cfg);
		parse_ok(&cfg, text);
		assert_int_equal(strlen(cfg.topic_prefix), 242);
		config_free(&cfg);
	}
	{
		char text[400];

		snprintf(text, sizeof(text), "node_name = %0254d\n", 0);
		EXPECT_ERROR(text, "for node_name: 254 bytes, more than 253");
	}

	/* An empty brokers value is the embedded broker; an empty prefix is legal. */
	config_defaults(&cfg);
	parse_ok(&cfg, "brokers = x:1\n");
	assert_string_equal(cfg.brokers, "x:1");
	config_free(&cfg);
	config_defaults(&cfg);
	parse_ok(&cfg, "brokers =\ntopic_prefix =\n");
	assert_null(cfg.brokers);
	assert_string_equal(cfg.topic_prefix, "");
	config_free(&cfg);
}

static void test_kafka(void **state)
{
	struct tapio_config cfg;
	char err[512] = "";

	(void)state;
	EXPECT_ERROR("log_level = info\nkafka.no.such.property = 1\n",
		     "t.conf:2: kafka.no.such.property: No such configuration property");
	EXPECT_ERROR("kafka.acks = sometimes\n", "t.conf:1: kafka.acks: Invalid value", "\"sometimes\"");
	EXPECT_ERROR("kafka.linger.ms = -5\n", "t.conf:1: kafka.linger.ms: ",
		     "-5 is outside allowed range");
	EXPECT_ERROR("kafka.bootstrap.servers = a:9092\n",
		     "t.conf:1: kafka.bootstrap.servers: set the brokers key");
	EXPECT_ERROR("kafka. = 1\n", "t.conf:1: missing librdkafka property name");

	config_defaults(&cfg);
	parse_ok(&cfg, "kafka.acks = all\nkafka.compression.codec = zstd\n");
	assert_int_equal(cfg.kafka_count, 2);
	assert_string_equal(cfg.kafka[0].name, "acks");
	assert_string_equal(cfg.kafka[0].value, "all");
	assert_string_equal(cfg.kafka[0].origin, "t.conf:1");
	assert_string_equal(cfg.kafka[1].name, "compression.codec");
	assert_string_equal(cfg.kafka[1].origin, "t.conf:2");

	/* A later source replaces the value in place. */
	assert_int_equal(config_set(&cfg, "kafka.acks", "1", "--set", known, err, sizeof(err)), 0);
	assert_int_equal(cfg.kafka_count, 2);
	assert_string_equal(cfg.kafka[0].value, "1");
	assert_string_equal(cfg.kafka[0].origin, "--set");
	config_free(&cfg);
}

static void test_flags_override_file(void **state)
{
	char path[32], err[512];
	char *argv1[] = { "tapio-producer", "--config", path, "--brokers", "x:1", NULL };
	char *argv2[] = { "tapio-producer", "--brokers", "x:1", "--config", path, NULL };
	char *argv3[] = { "tapio-producer", "--topic-prefix=t-", "-c", path, "--node-name", "n2",
			  "--collectors", "kernel", "--log-level", "warn", NULL };
	struct tapio_config cfg;

	(void)state;
	write_temp(path, "brokers = file:9092\ntopic_prefix = f.\nnode_name = n1\n"
			 "collectors = network\nlog_level = error\n");

	assert_int_equal(config_from_args(&cfg, ARGC(argv1), argv1, known, stdout, err, sizeof(err)), 0);
	assert_string_equal(cfg.brokers, "x:1");
	assert_string_equal(cfg.topic_prefix, "f.");
	config_free(&cfg);

	assert_int_equal(config_from_args(&cfg, ARGC(argv2), argv2, known, stdout, err, sizeof(err)), 0);
	assert_string_equal(cfg.brokers, "x:1");
	config_free(&cfg);

	assert_int_equal(config_from_args(&cfg, ARGC(argv3), argv3, known, stdout, err, sizeof(err)), 0);
	assert_string_equal(cfg.brokers, "file:9092");
	assert_string_equal(cfg.topic_prefix, "t-");
	assert_string_equal(cfg.node_name, "n2");
	assert_string_equal(cfg.collectors[0], "kernel");
	assert_null(cfg.collectors[1]);
	assert_int_equal(cfg.log_level, LOG_WARN);
	config_free(&cfg);
	unlink(path);
}

static void test_set(void **state)
{
	char path[32], err[512];
	char *argv[] = { "tapio-producer", "--set", "flush_timeout_ms=250", "--config", path,
			 "--set", "kafka.acks = -1", "--set", "kafka.linger.ms=20",
			 "--set", "stats_interval_s=5", "--set", "stats_interval_s=6", NULL };
	char *bad_form[] = { "tapio-producer", "--set", "flush_timeout_ms", NULL };
	char *bad_key[] = { "tapio-producer", "--set", "nope=1", NULL };
	char *bad_value[] = { "tapio-producer", "--set", "flush_timeout_ms=soon", NULL };
	char *bad_kafka[] = { "tapio-producer", "--set", "kafka.nope=1", NULL };
	char *bad_flag_value[] = { "tapio-producer", "--log-level", "loud", NULL };
	struct tapio_config cfg;

	(void)state;
	write_temp(path, "flush_timeout_ms = 100\nkafka.acks = all\n");
	assert_int_equal(config_from_args(&cfg, ARGC(argv), argv, known, stdout, err, sizeof(err)), 0);
	unlink(path);
	assert_int_equal(cfg.flush_timeout_ms, 250);
	assert_int_equal(cfg.stats_interval_s, 6);
	assert_int_equal(cfg.kafka_count, 2);
	assert_string_equal(cfg.kafka[0].name, "acks");
	assert_string_equal(cfg.kafka[0].value, "-1");
	assert_string_equal(cfg.kafka[0].origin, "--set");
	assert_string_equal(cfg.kafka[1].name, "linger.ms");
	assert_string_equal(cfg.kafka[1].value, "20");
	config_free(&cfg);

	assert_int_equal(config_from_args(&cfg, ARGC(bad_form), bad_form, known, stdout, err,
					  sizeof(err)), -EINVAL);
	assert_contains(err, "--set \"flush_timeout_ms\": expected KEY=VALUE");
	config_free(&cfg);
	assert_int_equal(config_from_args(&cfg, ARGC(bad_key), bad_key, known, stdout, err,
					  sizeof(err)), -EINVAL);
	assert_contains(err, "--set: unknown key \"nope\"");
	config_free(&cfg);
	assert_int_equal(config_from_args(&cfg, ARGC(bad_value), bad_value, known, stdout, err,
					  sizeof(err)), -EINVAL);
	assert_contains(err, "--set: bad value \"soon\" for flush_timeout_ms: not an integer");
	config_free(&cfg);
	assert_int_equal(config_from_args(&cfg, ARGC(bad_kafka), bad_kafka, known, stdout, err,
					  sizeof(err)), -EINVAL);
	assert_contains(err, "--set: kafka.nope: No such configuration property");
	config_free(&cfg);
	assert_int_equal(config_from_args(&cfg, ARGC(bad_flag_value), bad_flag_value, known, stdout,
					  err, sizeof(err)), -EINVAL);
	assert_contains(err, "--log-level: bad value \"loud\" for log_level");
	config_free(&cfg);
}

static void test_bad_args(void **state)
{
	char err[512];
	char *unknown_flag[] = { "tapio-producer", "--bogus", NULL };
	char *unknown_short[] = { "tapio-producer", "-x", NULL };
	char *stray[] = { "tapio-producer", "--brokers", "a:1", "extra", NULL };
	char *missing[] = { "tapio-producer", "--brokers", NULL };
	char *no_arg_value[] = { "tapio-producer", "--help=yes", NULL };
	char *twice[] = { "tapio-producer", "--config", "/a", "--config", "/b", NULL };
	char *unreadable[] = { "tapio-producer", "--config", "/nonexistent/tapio.conf", NULL };
	struct tapio_config cfg;

	(void)state;
	assert_int_equal(config_from_args(&cfg, ARGC(unknown_flag), unknown_flag, known, stdout, err,
					  sizeof(err)), -EINVAL);
	assert_contains(err, "unknown option \"--bogus\"");
	config_free(&cfg);
	assert_int_equal(config_from_args(&cfg, ARGC(unknown_short), unknown_short, known, stdout,
					  err, sizeof(err)), -EINVAL);
	assert_contains(err, "unknown option \"-x\"");
	config_free(&cfg);
	assert_int_equal(config_from_args(&cfg, ARGC(stray), stray, known, stdout, err, sizeof(err)),
			 -EINVAL);
	assert_contains(err, "unexpected argument \"extra\"");
	config_free(&cfg);
	assert_int_equal(config_from_args(&cfg, ARGC(missing), missing, known, stdout, err,
					  sizeof(err)), -EINVAL);
	assert_contains(err, "option \"--brokers\" needs a value");
	config_free(&cfg);
	assert_int_equal(config_from_args(&cfg, ARGC(no_arg_value), no_arg_value, known, stdout, err,
					  sizeof(err)), -EINVAL);
	assert_contains(err, "\"--help=yes\"");
	config_free(&cfg);
	assert_int_equal(config_from_args(&cfg, ARGC(twice), twice, known, stdout, err, sizeof(err)),
			 -EINVAL);
	assert_contains(err, "--config given twice");
	config_free(&cfg);
	assert_int_equal(config_from_args(&cfg, ARGC(unreadable), unreadable, known, stdout, err,
					  sizeof(err)), -ENOENT);
	assert_contains(err, "/nonexistent/tapio.conf: No such file or directory");
	config_free(&cfg);
}

static void test_file_errors_name_the_file(void **state)
{
	char path[32], err[512], want[128];
	char *argv[] = { "tapio-producer", "--config", path, NULL };
	struct tapio_config cfg;

	(void)state;
	write_temp(path, "log_level = info\nflush_timeout_ms = 5s\n");
	assert_int_equal(config_from_args(&cfg, ARGC(argv), argv, known, stdout, err, sizeof(err)),
			 -EINVAL);
	snprintf(want, sizeof(want), "%s:2: bad value \"5s\" for flush_timeout_ms", path);
	assert_contains(err, want);
	config_free(&cfg);
	unlink(path);

	/* A NUL byte would silently end the text early. */
	strcpy(path, "/tmp/tapio-test-config-XXXXXX");
	{
		int fd = mkstemp(path);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, "log_level = info\nbro\0kers = x\n", 30), 30);
		close(fd);
	}
	assert_int_equal(config_from_args(&cfg, ARGC(argv), argv, known, stdout, err, sizeof(err)),
			 -EINVAL);
	snprintf(want, sizeof(want), "%s:2: contains a NUL byte", path);
	assert_contains(err, want);
	config_free(&cfg);
	unlink(path);
}

static void test_node_name_env(void **state)
{
	struct tapio_config cfg;
	char err[512];
	char *argv[] = { "tapio-producer", NULL };
	char *override[] = { "tapio-producer", "--node-name", "good", NULL };

	(void)state;
	setenv("NODE_NAME", "node-from-env", 1);
	config_defaults(&cfg);
	assert_string_equal(cfg.node_name, "node-from-env");
	config_free(&cfg);
	assert_int_equal(config_from_args(&cfg, ARGC(argv), argv, known, stdout, err, sizeof(err)), 0);
	assert_string_equal(cfg.node_name, "node-from-env");
	config_free(&cfg);

	/* A bad default is reported with its source, unless a flag replaces it. */
	setenv("NODE_NAME", "zone/node", 1);
	assert_int_equal(config_from_args(&cfg, ARGC(argv), argv, known, stdout, err, sizeof(err)),
			 -EINVAL);
	assert_contains(err, "NODE_NAME: bad value \"zone/node\" for node_name");
	config_free(&cfg);
	assert_int_equal(config_from_args(&cfg, ARGC(override), override, known, stdout, err,
					  sizeof(err)), 0);
	assert_string_equal(cfg.node_name, "good");
	config_free(&cfg);

	/* Empty means unset: fall back to the host name. */
	setenv("NODE_NAME", "", 1);
	config_defaults(&cfg);
	assert_non_null(cfg.node_name);
	assert_true(strlen(cfg.node_name) > 0);
	config_free(&cfg);
	unsetenv("NODE_NAME");
}

static char *capture(struct tapio_config *cfg, int argc, char **argv, int want)
{
	char err[512] = "", *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	assert_int_equal(config_from_args(cfg, argc, argv, known, out, err, sizeof(err)), want);
	fclose(out);
	return buf;
}

static void test_dump_round_trip(void **state)
{
	struct tapio_config cfg, back;
	char path[32], *text;
	char *argv[] = { "tapio-producer", "--config", path, "--dump-config", "--node-name", "n-1",
			 "--set", "kafka.client.id=a#b=c", NULL };
	int i;

	(void)state;
	write_temp(path, "brokers = b1:9092, b2:9092\ntopic_prefix = x_\ncollectors = network,kernel\n"
			 "log_level = error\nflush_timeout_ms = 7\nstats_interval_s = 9\n"
			 "kafka.acks = all\n");
	text = capture(&cfg, ARGC(argv), argv, 1);
	unlink(path);
	assert_contains(text, "# Kafka bootstrap servers");
	assert_contains(text, "\nbrokers = b1:9092,b2:9092\n");
	assert_contains(text, "\nkafka.client.id = a#b=c\n");
	assert_contains(text, "# how often counters are logged");

	config_defaults(&back);
	parse_ok(&back, text);
	assert_string_equal(back.brokers, cfg.brokers);
	assert_string_equal(back.topic_prefix, cfg.topic_prefix);
	assert_string_equal(back.node_name, "n-1");
	for (i = 0; cfg.collectors[i]; i++)
		assert_string_equal(back.collectors[i], cfg.collectors[i]);
	assert_null(back.collectors[i]);
	assert_int_equal(back.log_level, LOG_ERROR);
	assert_int_equal(back.flush_timeout_ms, 7);
	assert_int_equal(back.stats_interval_s, 9);
	assert_int_equal(back.kafka_count, cfg.kafka_count);
	for (i = 0; i < cfg.kafka_count; i++) {
		assert_string_equal(back.kafka[i].name, cfg.kafka[i].name);
		assert_string_equal(back.kafka[i].value, cfg.kafka[i].value);
	}
	config_free(&back);
	config_free(&cfg);
	free(text);

	/* The embedded-broker default (no brokers) survives the trip too. */
	{
		char *plain[] = { "tapio-producer", "--dump-config", NULL };

		text = capture(&cfg, ARGC(plain), plain, 1);
		assert_contains(text, "\nbrokers =\n");
		config_defaults(&back);
		parse_ok(&back, text);
		assert_null(back.brokers);
		/* The default set stays a comment: read back, it is the default set again, with
		 * no collector named. */
		assert_true(cfg.collectors_default);
		assert_contains(text, "\n# collectors = kernel,network\n");
		assert_null(back.collectors);
		assert_string_equal(back.node_name, cfg.node_name);
		assert_int_equal(back.log_level, LOG_INFO);
		config_free(&back);
		config_free(&cfg);
		free(text);
	}
}

static void test_help_version(void **state)
{
	struct tapio_config cfg;
	char *help[] = { "tapio-producer", "--brokers", "x:1", "--help", NULL };
	char *version[] = { "tapio-producer", "-V", NULL };
	const char *needles[] = { "--config FILE", "--brokers LIST", "--topic-prefix PREFIX",
				  "--node-name NAME", "--collectors LIST", "--log-level LEVEL",
				  "--set KEY=VALUE", "--dump-config", "--probe", "--help",
				  "--version",
				  "brokers", "topic_prefix", "default: tapio.", "node_name",
				  "collectors", "from kernel,network", "log_level",
				  "error|warn|info|debug, default info", "flush_timeout_ms",
				  "integer 0..600000, default 10000", "stats_interval_s",
				  "integer 0..86400, default 60", "kafka.<property>", NULL };
	char *text;
	size_t i;

	(void)state;
	text = capture(&cfg, ARGC(help), help, 1);
	for (i = 0; needles[i]; i++)
		assert_contains(text, needles[i]);
	config_free(&cfg);
	free(text);

	text = capture(&cfg, ARGC(version), version, 1);
	assert_contains(text, "tapio-producer ");
	assert_true(strlen(text) > strlen("tapio-producer \n"));
	assert_int_equal(text[strlen(text) - 1], '\n');
	config_free(&cfg);
	free(text);
}

/* --probe is a mode, not a key: it parses with the rest (collectors included) and is off by
 * default; a bad value elsewhere still stops it. */
static void test_probe_flag(void **state)
{
	struct tapio_config cfg;
	char *probe[] = { "tapio-producer", "--probe", "--collectors", "kernel", NULL };
	char *plain[] = { "tapio-producer", NULL };
	char *bad[] = { "tapio-producer", "--probe", "--collectors", "nosuch", NULL };
	char err[256];

	(void)state;
	assert_int_equal(config_from_args(&cfg, ARGC(probe), probe, known, stdout, err,
					  sizeof(err)), 0);
	assert_true(cfg.probe);
	assert_string_equal(cfg.collectors[0], "kernel");
	assert_null(cfg.collectors[1]);
	config_free(&cfg);
	assert_int_equal(config_from_args(&cfg, ARGC(plain), plain, known, stdout, err,
					  sizeof(err)), 0);
	assert_false(cfg.probe);
	config_free(&cfg);
	assert_int_equal(config_from_args(&cfg, ARGC(bad), bad, known, stdout, err, sizeof(err)),
			 -EINVAL);
	assert_contains(err, "nosuch");
	config_free(&cfg);
}

static void test_free_is_safe(void **state)
{
	struct tapio_config cfg;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	config_free(&cfg);
	config_free(&cfg);
	config_defaults(&cfg);
	config_free(&cfg);
	assert_null(cfg.topic_prefix);
	/* A parse that fails half-way leaves a config that config_free() still releases. */
	config_defaults(&cfg);
	assert_int_equal(config_parse_text(&cfg, "brokers = a:1\nkafka.acks = all\n"
					   "collectors = kernel\nbad\n", "t.conf", known, NULL, 0),
			 -EINVAL);
	assert_string_equal(cfg.brokers, "a:1");
	assert_int_equal(cfg.kafka_count, 1);
	config_free(&cfg);
	assert_false(config_has_collector(&cfg, "kernel"));
}

/* The dns collector's keys: defaults, normalized port lists, and every way a list is wrong. */
static void test_dns_keys(void **state)
{
	struct tapio_config cfg;

	(void)state;
	config_defaults(&cfg);
	assert_string_equal(cfg.dns_ports, "53");
	assert_int_equal(cfg.dns_timeout_ms, 5000);
	assert_int_equal(cfg.dns_pending_max, 4096);
	parse_ok(&cfg, "dns_ports =  53 ,\t5353\ndns_timeout_ms = 250\ndns_pending_max = 16\n");
	assert_string_equal(cfg.dns_ports, "53,5353");
	assert_int_equal(cfg.dns_timeout_ms, 250);
	assert_int_equal(cfg.dns_pending_max, 16);
	config_free(&cfg);

	EXPECT_ERROR("dns_ports = 0\n", "t.conf:1: bad value \"0\" for dns_ports", "out of range 1..65535");
	EXPECT_ERROR("dns_ports = 65536\n", "out of range 1..65535");
	EXPECT_ERROR("dns_ports = 053x\n", "\"053x\" is not a port number");
	EXPECT_ERROR("dns_ports = 1234567\n", "is not a port number");
	EXPECT_ERROR("dns_ports = -53\n", "is not a port number");
	EXPECT_ERROR("dns_ports = 53,53\n", "port 53 is listed twice");
	EXPECT_ERROR("dns_ports = 53,,54\n", "empty item");
	EXPECT_ERROR("dns_ports =\n", "at least one port");
	EXPECT_ERROR("dns_ports = 1,2,3,4,5,6,7,8,9\n", "more than 8 ports");
	EXPECT_ERROR("dns_timeout_ms = 99\n", "for dns_timeout_ms", "out of range 100..600000");
	EXPECT_ERROR("dns_pending_max = 15\n", "for dns_pending_max", "out of range 16..1048576");
}


/* --config on something that is not a regular file: a FIFO with no writer would block the
 * open() for ever, a directory or a device is a wrong path. Refused at once, exit status 2. */
static void test_config_not_regular_file(void **state)
{
	char dir[] = "/tmp/tapio-test-fifo-XXXXXX", fifo[64], err[512];
	char *on_fifo[] = { "tapio-producer", "--config", fifo, NULL };
	char *on_dir[] = { "tapio-producer", "--config", dir, NULL };
	char *on_dev[] = { "tapio-producer", "--config", "/dev/null", NULL };
	struct tapio_config cfg;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	alarm(10); /* today's open() blocks: fail the test instead of hanging it */
	assert_int_equal(config_from_args(&cfg, ARGC(on_fifo), on_fifo, known, stdout, err,
					  sizeof(err)), -EINVAL);
	alarm(0);
	assert_contains(err, "--config ");
	assert_contains(err, "/fifo: not a regular file (a FIFO)");
	config_free(&cfg);
	assert_int_equal(config_from_args(&cfg, ARGC(on_dir), on_dir, known, stdout, err,
					  sizeof(err)), -EINVAL);
	assert_contains(err, "not a regular file (a directory)");
	config_free(&cfg);
	assert_int_equal(config_from_args(&cfg, ARGC(on_dev), on_dev, known, stdout, err,
					  sizeof(err)), -EINVAL);
	assert_contains(err, "--config /dev/null: not a regular file (a character device)");
	config_free(&cfg);
	unlink(fifo);
	rmdir(dir);
}

/* One validation for every source: a value refused in a file is refused from a flag. */
static void test_utf8_every_source(void **state)
{
	char path[32], err[512];
	char *by_set[] = { "tapio-producer", "--set", "node_name=n\xff" "1", NULL };
	char *by_flag[] = { "tapio-producer", "--node-name", "n\xc0\xaf", NULL };
	char *by_kafka[] = { "tapio-producer", "--set", "kafka.client.id=a\xed\xa0\x80", NULL };
	char *by_file[] = { "tapio-producer", "--config", path, NULL };
	struct tapio_config cfg;

	(void)state;
	write_temp(path, "node_name = n\xff" "1\n");
	assert_int_equal(config_from_args(&cfg, ARGC(by_file), by_file, known, stdout, err,
					  sizeof(err)), -EINVAL);
	assert_contains(err, "not valid UTF-8");
	config_free(&cfg);
	unlink(path);

	assert_int_equal(config_from_args(&cfg, ARGC(by_set), by_set, known, stdout, err,
					  sizeof(err)), -EINVAL);
	assert_contains(err, "--set: the value for node_name is not valid UTF-8");
	config_free(&cfg);
	assert_int_equal(config_from_args(&cfg, ARGC(by_flag), by_flag, known, stdout, err,
					  sizeof(err)), -EINVAL);
	assert_contains(err, "--node-name: the value for node_name is not valid UTF-8");
	config_free(&cfg);
	assert_int_equal(config_from_args(&cfg, ARGC(by_kafka), by_kafka, known, stdout, err,
					  sizeof(err)), -EINVAL);
	assert_contains(err, "--set: the value for kafka.client.id is not valid UTF-8");
	config_free(&cfg);

	/* The same for the environment's default. */
	setenv("NODE_NAME", "node\xfe", 1);
	{
		char *plain[] = { "tapio-producer", NULL };

		assert_int_equal(config_from_args(&cfg, ARGC(plain), plain, known, stdout, err,
						  sizeof(err)), -EINVAL);
		assert_contains(err, "NODE_NAME: bad value");
		assert_contains(err, "not valid UTF-8");
		config_free(&cfg);
	}
	unsetenv("NODE_NAME");
}

/* Settings that are valid alone but not together are refused before anything is dumped or run,
 * and the message names the keys as the user wrote them. */
static void test_cross_field(void **state)
{
	char err[512] = "";
	char *spool_dump[] = { "tapio-producer", "--set", "spool_segment_mb=32", "--set",
			       "spool_max_mb=16", "--dump-config", NULL };
	char *spool_run[] = { "tapio-producer", "--set", "spool_dir=/var/lib/tapio",
			      "--set", "spool_segment_mb=32", "--set", "spool_max_mb=16", NULL };
	char *ring[] = { "tapio-producer", "--set", "ringbuf_kb=12", "--dump-config", NULL };
	char *acks[] = { "tapio-producer", "--set", "kafka.acks=1", "--dump-config", NULL };
	char *acks_ok[] = { "tapio-producer", "--set", "kafka.acks=1", "--set",
			    "kafka.enable.idempotence=false", "--dump-config", NULL };
	char *listen[] = { "tapio-producer", "--set", "metrics_listen=localhost:9464",
			   "--dump-config", NULL };
	struct tapio_config cfg;
	char *text = NULL;
	size_t len = 0;
	FILE *out;

	(void)state;
	out = open_memstream(&text, &len);
	assert_non_null(out);
	assert_int_equal(config_from_args(&cfg, ARGC(spool_dump), spool_dump, known, out, err,
					  sizeof(err)), -EINVAL);
	fclose(out);
	assert_int_equal(len, 0); /* nothing dumped */
	free(text);
	assert_contains(err, "spool_segment_mb (32) must be at most spool_max_mb (16)");
	assert_null(strstr(err, "segment_bytes"));
	config_free(&cfg);
	assert_int_equal(config_from_args(&cfg, ARGC(spool_run), spool_run, known, stdout, err,
					  sizeof(err)), -EINVAL);
	assert_contains(err, "spool_segment_mb (32) must be at most spool_max_mb (16)");
	config_free(&cfg);

	assert_int_equal(config_from_args(&cfg, ARGC(ring), ring, known, stdout, err, sizeof(err)),
			 -EINVAL);
	assert_contains(err, "ringbuf_kb: 12 is not a power of two");
	config_free(&cfg);

	/* librdkafka's own cross-checks (acks with idempotence), with the keys as written. */
	assert_int_equal(config_from_args(&cfg, ARGC(acks), acks, known, stdout, err, sizeof(err)),
			 -EINVAL);
	assert_contains(err, "kafka.* settings: `acks` must be set to `all` when "
			     "`enable.idempotence` is true");
	config_free(&cfg);
	text = capture(&cfg, ARGC(acks_ok), acks_ok, 1);
	assert_contains(text, "\nkafka.acks = 1\n");
	config_free(&cfg);
	free(text);

	/* metrics_open() takes numeric hosts only: say so now, not at start-up. */
	assert_int_equal(config_from_args(&cfg, ARGC(listen), listen, known, stdout, err,
					  sizeof(err)), -EINVAL);
	assert_contains(err, "bad value \"localhost:9464\" for metrics_listen");
	assert_contains(err, "numeric");
	config_free(&cfg);
}

/* acks other than all, or idempotence off: the producer starts, with a warning that says so. */
static void test_delivery_warning(void **state)
{
	struct tapio_config cfg;
	char warning[512], err[512];

	(void)state;
	config_defaults(&cfg);
	warning[0] = 'x';
	assert_int_equal(publisher_check_config(&cfg, warning, sizeof(warning), err, sizeof(err)), 0);
	assert_string_equal(warning, "");
	parse_ok(&cfg, "kafka.acks = 0\nkafka.enable.idempotence = false\n");
	assert_int_equal(publisher_check_config(&cfg, warning, sizeof(warning), err, sizeof(err)), 0);
	assert_contains(warning, "kafka.acks=0");
	assert_contains(warning, "kafka.enable.idempotence=false");
	assert_contains(warning, "delivery guarantee");
	config_free(&cfg);

	/* The alias counts too. */
	config_defaults(&cfg);
	parse_ok(&cfg, "kafka.request.required.acks = 1\nkafka.enable.idempotence = false\n");
	assert_int_equal(publisher_check_config(&cfg, warning, sizeof(warning), err, sizeof(err)), 0);
	assert_contains(warning, "kafka.acks=1");
	config_free(&cfg);
}

/* The kubeapi collector's keys: defaults, a normalized annotation list, and bad values named. */
static void test_kubeapi_keys(void **state)
{
	struct tapio_config cfg;

	(void)state;
	config_defaults(&cfg);
	assert_null(cfg.kubeapi_url);
	assert_null(cfg.kubeapi_token_file);
	assert_null(cfg.kubeapi_ca_file);
	assert_null(cfg.kubeapi_annotations);
	assert_int_equal(cfg.kubeapi_pods, 0);   /* node */
	assert_int_equal(cfg.kubeapi_events, 1); /* node */
	parse_ok(&cfg, "kubeapi_url = https://10.0.0.1:6443\nkubeapi_token_file = /t/token\n"
		 "kubeapi_ca_file = /t/ca.crt\nkubeapi_pods = off\nkubeapi_events = cluster\n"
		 "kubeapi_annotations = tapio.io/team , app.kubernetes.io/version,note\n");
	assert_string_equal(cfg.kubeapi_url, "https://10.0.0.1:6443");
	assert_string_equal(cfg.kubeapi_token_file, "/t/token");
	assert_string_equal(cfg.kubeapi_ca_file, "/t/ca.crt");
	assert_int_equal(cfg.kubeapi_pods, 1);
	assert_int_equal(cfg.kubeapi_events, 2);
	assert_string_equal(cfg.kubeapi_annotations, "tapio.io/team,app.kubernetes.io/version,note");
	config_free(&cfg);

	EXPECT_ERROR("kubeapi_url = 10.0.0.1:6443\n", "bad value \"10.0.0.1:6443\" for kubeapi_url",
		     "http:// or https://");
	EXPECT_ERROR("kubeapi_token_file = token\n", "for kubeapi_token_file", "absolute path");
	EXPECT_ERROR("kubeapi_events = all\n", "bad value \"all\" for kubeapi_events");
	EXPECT_ERROR("kubeapi_pods = cluster\n", "bad value \"cluster\" for kubeapi_pods");
	EXPECT_ERROR("kubeapi_annotations = Tapio.io/team\n", "for kubeapi_annotations",
		     "\"Tapio.io/team\" is not an annotation key");
	EXPECT_ERROR("kubeapi_annotations = a,-b\n", "\"-b\" is not an annotation key");
	EXPECT_ERROR("kubeapi_annotations = a,,b\n", "empty item");
	EXPECT_ERROR("kubeapi_annotations = a,b,a\n", "key \"a\" is listed twice");
	EXPECT_ERROR("kubeapi_annotations = /name\n", "is not an annotation key");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults, setup),
		cmocka_unit_test_setup(test_full_file, setup),
		cmocka_unit_test_setup(test_unknown_key, setup),
		cmocka_unit_test_setup(test_bad_int, setup),
		cmocka_unit_test_setup(test_int_range, setup),
		cmocka_unit_test_setup(test_bad_enum, setup),
		cmocka_unit_test_setup(test_collectors, setup),
		cmocka_unit_test_setup(test_line_syntax, setup),
		cmocka_unit_test_setup(test_string_values, setup),
		cmocka_unit_test_setup(test_kafka, setup),
		cmocka_unit_test_setup(test_flags_override_file, setup),
		cmocka_unit_test_setup(test_set, setup),
		cmocka_unit_test_setup(test_bad_args, setup),
		cmocka_unit_test_setup(test_file_errors_name_the_file, setup),
		cmocka_unit_test_setup(test_node_name_env, setup),
		cmocka_unit_test_setup(test_dump_round_trip, setup),
		cmocka_unit_test_setup(test_help_version, setup),
		cmocka_unit_test_setup(test_probe_flag, setup),
		cmocka_unit_test_setup(test_free_is_safe, setup),
		cmocka_unit_test_setup(test_dns_keys, setup),
		cmocka_unit_test_setup(test_kubeapi_keys, setup),
		cmocka_unit_test_setup(test_config_not_regular_file, setup),
		cmocka_unit_test_setup(test_utf8_every_source, setup),
		cmocka_unit_test_setup(test_cross_field, setup),
		cmocka_unit_test_setup(test_delivery_warning, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
