/*
 * `tapio-producer --print-topics`: the topics of a configuration with their settings, so that
 * topic creation follows the producer's own configuration instead of broker auto-creation (which
 * would make the metadata topic a delete-policy topic that loses cgroups after its retention).
 */
#include "topics.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "errstr.h"

/* The topic that is compacted: cgroups stay until their tombstone. */
#define METADATA_NAME "metadata"

#ifndef TAPIO_VERSION
#define TAPIO_VERSION "unknown"
#endif

#define K8S_NAME_MAX 253
#define LABEL_VALUE_MAX 63
#define MS_PER_HOUR 3600000LL

struct int_flag {
	const char *flag;
	int min, max;
	size_t offset; /* into struct topics_options */
};

static const struct int_flag int_flags[] = {
	{ "--partitions", 1, 100000, offsetof(struct topics_options, partitions) },
	{ "--replication-factor", 1, 32, offsetof(struct topics_options, replication_factor) },
	{ "--retention-hours", 1, 87600, offsetof(struct topics_options, retention_hours) },
};

#define INT_FLAG_COUNT (sizeof(int_flags) / sizeof(int_flags[0]))

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A Kubernetes label value: at most 63 of [A-Za-z0-9._-], alphanumeric at both ends. */
static bool label_value_ok(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > LABEL_VALUE_MAX || !is_alnum(v[0]) || !is_alnum(v[n - 1]))
		return false;
	for (; *v; v++)
		if (!is_alnum(*v) && *v != '.' && *v != '_' && *v != '-')
			return false;
	return true;
}

/* "--flag" alone (value in the next argument) or "--flag=value". Returns the value, or NULL
 * when arg is not this flag; *used is how many arguments it took (1 or 2). */
static const char *flag_value(const char *flag, int i, int argc, char **argv, int *used,
			      bool *missing)
{
	size_t n = strlen(flag);

	*missing = false;
	if (strncmp(argv[i], flag, n) != 0)
		return NULL;
	if (argv[i][n] == '=') {
		*used = 1;
		return argv[i] + n + 1;
	}
	if (argv[i][n] != '\0')
		return NULL; /* a longer flag that starts the same */
	if (i + 1 >= argc) {
		*missing = true;
		return NULL;
	}
	*used = 2;
	return argv[i + 1];
}

static int parse_int(const struct int_flag *f, const char *v, struct topics_options *opt,
		     char *errstr, size_t errstr_size)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (!*v || *end || errno || n < f->min || n > f->max)
		return fail(errstr, errstr_size, "%s: bad value \"%s\" (an integer %d..%d)", f->flag,
			    v, f->min, f->max);
	*(int *)((char *)opt + f->offset) = (int)n;
	return 0;
}

int topics_take_args(int *argc, char **argv, struct topics_options *opt, char *errstr,
		     size_t errstr_size)
{
	const char *v, *other = NULL;
	int i = 1, kept = 1, used, ret;
	bool missing, ours;
	size_t k;

	*opt = (struct topics_options){
		.format = TOPICS_NONE,
		.partitions = TOPICS_DEFAULT_PARTITIONS,
		.replication_factor = TOPICS_DEFAULT_REPLICATION,
		.retention_hours = TOPICS_DEFAULT_RETENTION_HOURS,
		.strimzi_cluster = TOPICS_DEFAULT_STRIMZI_CLUSTER,
	};
	while (i < *argc) {
		used = 1;
		ours = true;
		if (!strcmp(argv[i], "--")) {
			break; /* what follows is not an option */
		} else if (!strcmp(argv[i], "--print-topics")) {
			opt->format = TOPICS_KAFKA_TOPICS;
		} else if (!strncmp(argv[i], "--print-topics=", 15)) {
			v = argv[i] + 15;
			if (!strcmp(v, "kafka-topics"))
				opt->format = TOPICS_KAFKA_TOPICS;
			else if (!strcmp(v, "strimzi"))
				opt->format = TOPICS_STRIMZI;
			else
				return fail(errstr, errstr_size,
					    "--print-topics: unknown format \"%s\" (kafka-topics or strimzi)",
					    v);
		} else if ((v = flag_value("--strimzi-cluster", i, *argc, argv, &used, &missing)) ||
			   missing) {
			if (missing)
				return fail(errstr, errstr_size, "option \"--strimzi-cluster\" needs a value");
			if (!label_value_ok(v))
				return fail(errstr, errstr_size,
					    "--strimzi-cluster: bad value \"%s\" (a Kubernetes label "
					    "value: at most 63 of A-Z a-z 0-9 . _ -, alphanumeric at "
					    "both ends)", v);
			opt->strimzi_cluster = v;
			other = "--strimzi-cluster";
		} else {
			ours = false;
			for (k = 0; k < INT_FLAG_COUNT; k++) {
				v = flag_value(int_flags[k].flag, i, *argc, argv, &used, &missing);
				if (missing)
					return fail(errstr, errstr_size, "option \"%s\" needs a value",
						    int_flags[k].flag);
				if (!v)
					continue;
				ret = parse_int(&int_flags[k], v, opt, errstr, errstr_size);
				if (ret)
					return ret;
				other = int_flags[k].flag;
				ours = true;
				break;
			}
		}
		if (!ours) {
			argv[kept++] = argv[i++];
			continue;
		}
		i += used;
	}
	while (i < *argc)
		argv[kept++] = argv[i++];
	argv[kept] = NULL;
	*argc = kept;
	if (other && opt->format == TOPICS_NONE)
		return fail(errstr, errstr_size, "%s only goes with --print-topics", other);
	return 0;
}

/* FNV-1a: a stable short suffix that keeps mapped names distinct. */
static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* A lowercase RFC 1123 subdomain: dot-separated labels of [a-z0-9-], alphanumeric at both ends. */
static bool subdomain_ok(const char *s)
{
	size_t n = strlen(s);
	const char *c;

	if (n == 0 || n > K8S_NAME_MAX)
		return false;
	for (c = s; *c; c++) {
		bool edge = c == s || c[1] == '\0' || c[-1] == '.' || c[1] == '.';

		if ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9'))
			continue;
		if ((*c == '-' || *c == '.') && !edge)
			continue;
		return false;
	}
	return true;
}

void topics_k8s_name(const char *topic, char *out, size_t size)
{
	char mapped[K8S_NAME_MAX + 1];
	size_t n = 0;
	const char *c;

	if (subdomain_ok(topic)) {
		snprintf(out, size, "%s", topic);
		return;
	}
	/* Keep room for "-" and 8 hex digits within the 253-character limit. */
	for (c = topic; *c && n < K8S_NAME_MAX - 9; c++) {
		char m = *c >= 'A' && *c <= 'Z' ? (char)(*c - 'A' + 'a') : *c;

		if (!((m >= 'a' && m <= 'z') || (m >= '0' && m <= '9')))
			m = '-';
		if (m == '-' && (n == 0 || mapped[n - 1] == '-'))
			continue; /* no leading or repeated '-' */
		mapped[n++] = m;
	}
	while (n && mapped[n - 1] == '-')
		n--;
	mapped[n] = '\0';
	snprintf(out, size, "%s%s%08x", mapped, n ? "-" : "topic-", name_hash(topic));
}

struct topic {
	char name[256];
	bool compact;
};

static void topic_of(const struct tapio_config *cfg, const char *collector, bool compact,
		     struct topic *t)
{
	snprintf(t->name, sizeof(t->name), "%s%s", cfg->topic_prefix ? cfg->topic_prefix : "",
		 collector);
	t->compact = compact;
}

static void print_header(const struct tapio_config *cfg, const struct topics_options *opt,
			 FILE *out)
{
	char *const *c;

	fprintf(out, "# Kafka topics of tapio-producer %s (--print-topics)", TAPIO_VERSION);
	if (cfg->config_path)
		fprintf(out, " for %s", cfg->config_path);
	fprintf(out, ":\n# prefix \"%s\", collectors ", cfg->topic_prefix ? cfg->topic_prefix : "");
	for (c = cfg->collectors; c && *c; c++)
		fprintf(out, "%s%s", c == cfg->collectors ? "" : ",", *c);
	fprintf(out, " and the %s topic;\n# %d partitions, replication factor %d, retention %d h "
		     "(the %s topic is compacted instead).\n",
		METADATA_NAME, opt->partitions, opt->replication_factor,
		opt->retention_hours, METADATA_NAME);
}

/* The topic's settings as "k=v" items joined by `sep`. */
static void print_configs(const struct topic *t, const struct topics_options *opt,
			  const char *before, const char *eq, const char *sep, FILE *out)
{
	fprintf(out, "%scleanup.policy%s%s", before, eq, t->compact ? "compact" : "delete");
	if (!t->compact)
		fprintf(out, "%s%sretention.ms%s%lld", sep, before, eq,
			(long long)opt->retention_hours * MS_PER_HOUR);
	/* With acks=all, two in-sync copies before an acknowledgement once there are three. */
	if (opt->replication_factor >= 3)
		fprintf(out, "%s%smin.insync.replicas%s2", sep, before, eq);
}

static void print_kafka_topics(const struct topic *t, const struct topics_options *opt,
			       FILE *out)
{
	fprintf(out,
		"\"${bin}kafka-topics.sh\" --bootstrap-server \"$BOOTSTRAP_SERVER\" ${KAFKA_ADMIN_ARGS:-} \\\n"
		"\t--create --if-not-exists --topic %s --partitions %d --replication-factor %d \\\n\t",
		t->name, opt->partitions, opt->replication_factor);
	print_configs(t, opt, "--config ", "=", " ", out);
	fprintf(out,
		"\n\"${bin}kafka-configs.sh\" --bootstrap-server \"$BOOTSTRAP_SERVER\" ${KAFKA_ADMIN_ARGS:-} \\\n"
		"\t--alter --entity-type topics --entity-name %s --add-config ", t->name);
	print_configs(t, opt, "", "=", ",", out);
	fputc('\n', out);
}

static void print_strimzi(const struct topic *t, const struct topics_options *opt, FILE *out)
{
	char name[K8S_NAME_MAX + 1];

	topics_k8s_name(t->name, name, sizeof(name));
	fprintf(out,
		"---\n"
		"apiVersion: kafka.strimzi.io/v1beta2\n"
		"kind: KafkaTopic\n"
		"metadata:\n"
		"  name: %s\n"
		"  labels:\n"
		"    strimzi.io/cluster: %s\n"
		"spec:\n"
		"  topicName: %s\n"
		"  partitions: %d\n"
		"  replicas: %d\n"
		"  config:\n",
		name, opt->strimzi_cluster, t->name, opt->partitions, opt->replication_factor);
	print_configs(t, opt, "    ", ": ", "\n", out);
	fputc('\n', out);
}

int topics_print(const struct tapio_config *cfg, const struct topics_options *opt, FILE *out)
{
	struct topic t;
	char *const *c;
	const char *brokers = cfg->brokers;

	if (opt->format == TOPICS_STRIMZI) {
		print_header(cfg, opt, out);
		fprintf(out, "# strimzi.io/cluster: %s (--strimzi-cluster). "
			     "Apply in the namespace the Topic Operator watches.\n",
			opt->strimzi_cluster);
	} else {
		fputs("#!/bin/sh\n", out);
		print_header(cfg, opt, out);
		fputs("# Run where kafka-topics.sh and kafka-configs.sh reach the cluster: KAFKA_BIN (their\n"
		      "# directory; default: PATH), BOOTSTRAP_SERVER and KAFKA_ADMIN_ARGS (for example\n"
		      "# --command-config admin.properties) override. Existing topics are kept (partitions\n"
		      "# unchanged) and get these settings again: an auto-created metadata topic becomes\n"
		      "# compacted.\n"
		      "set -eu\n", out);
		/* Without brokers the producer runs its embedded broker: nothing to default to. */
		if (brokers)
			fprintf(out, ": \"${BOOTSTRAP_SERVER:=%s}\"\n", brokers);
		else
			fputs(": \"${BOOTSTRAP_SERVER:?set BOOTSTRAP_SERVER to host:port of a broker}\"\n",
			      out);
		fputs("bin=${KAFKA_BIN:+${KAFKA_BIN%/}/}\n", out);
	}
	for (c = cfg->collectors; c && *c; c++) {
		topic_of(cfg, *c, false, &t);
		if (opt->format == TOPICS_STRIMZI)
			print_strimzi(&t, opt, out);
		else
			print_kafka_topics(&t, opt, out);
	}
	topic_of(cfg, METADATA_NAME, true, &t);
	if (opt->format == TOPICS_STRIMZI)
		print_strimzi(&t, opt, out);
	else
		print_kafka_topics(&t, opt, out);
	return fflush(out) || ferror(out) ? -EIO : 0;
}
