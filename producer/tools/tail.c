/*
 * tapio-tail: prints the records of Kafka topics as JSON lines, one per record, values decoded
 * with the schemas compiled into Tapio. It assigns every partition directly (no group
 * membership, no commits), so it works against any Kafka, including librdkafka's mock cluster.
 * With --check it reads the topics to their end instead and reports gaps, duplicates and LOSS
 * records per (topic, node, run) (stream_check.h); --schemas prints the schemas it knows.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "avro_json.h"
#include "clock.h"
#include "schema.h"
#include "stream_check.h"
#include "tool_cli.h"

#ifndef TAPIO_VERSION
#define TAPIO_VERSION "unknown"
#endif

#define EXIT_USAGE 2
#define POLL_MS 100
#define METADATA_MS 1000

/* Undecodable values whose reason --check prints; the rest are only counted. */
#define CHECK_ERRORS_SHOWN 5

struct tail {
	const char *brokers;
	char **topics;
	int n_topics;
	bool from_beginning;
	long long count;      /* 0: no limit */
	long long timeout_ms; /* -1: none */
	char **props;         /* -X arguments, "name=value" */
	int n_props;
	bool check, json, schemas;

	/* --check: done once every partition's end has been reached (the first time). */
	struct stream_check *sc;
	bool **eof;          /* per topic, per partition: its end was reached */
	int *partitions;     /* per topic */
	long long eof_pending; /* partitions assigned whose end was not reached yet */
	unsigned long long errors_shown;

	rd_kafka_t *rk;
	struct avro_json_decoder *dec;
	enum { TOPIC_UNSEEN, TOPIC_WAITING, TOPIC_ASSIGNED } *topic_state;
	int unassigned;       /* topics not assigned yet */
	rd_kafka_resp_err_t metadata_err; /* last one, said once */
	int64_t deadline;     /* CLOCK_MONOTONIC ms, or INT64_MAX */
	unsigned long long records, undecodable;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: tapio-tail [OPTION]... TOPIC...\n"
		"       tapio-tail --check [--json] [OPTION]... TOPIC...\n"
		"       tapio-tail --schemas [--json]\n"
		"Print the records of Kafka topics (full names, e.g. tapio.kernel) as JSON lines:\n"
		"  {\"topic\":...,\"partition\":...,\"offset\":...,\"timestamp\":...,\"key\":...,"
		"\"headers\":{...},\"value\":{...}}\n"
		"\n"
		"  -b, --brokers LIST   bootstrap servers (default: $TAPIO_BROKERS)\n"
		"      --from-beginning start at the oldest record of each partition\n"
		"                       (default: the end, i.e. only new records)\n"
		"  -c, --count N        exit 0 after N records\n"
		"      --timeout-ms MS  with --count: exit 1 if N records did not arrive within\n"
		"                       MS; with --check: if the topics were not read within MS\n"
		"      --check          read the topics from their beginning to their end and\n"
		"                       report per (topic, node, run): records, missing seq\n"
		"                       ranges, duplicates, and the LOSS records' counts by\n"
		"                       stage. Exit 1 when records are missing that no LOSS\n"
		"                       record of stage DELIVERY accounts for, or cannot be\n"
		"                       decoded\n"
		"      --schemas        print every schema this build knows (the current ones and\n"
		"                       those of earlier releases) with its fingerprint, and exit\n"
		"      --json           with --check or --schemas: JSON lines instead of text\n"
		"  -X PROP=VALUE        librdkafka consumer property, e.g. -X security.protocol=ssl\n"
		"  -h, --help           print this help\n"
		"  -V, --version        print the version\n"
		"\n"
		"Values are Avro in one of two framings:\n"
		"  single-object  C3 01 + CRC-64-AVRO fingerprint: decoded with the embedded schema\n"
		"                 that has this fingerprint;\n"
		"  Confluent      00 + 4-byte schema id: there is no schema registry client, so the\n"
		"                 value is decoded with the embedded schema named after the last\n"
		"                 dot-separated part of the topic (tapio.kernel -> kernel).\n"
		"Embedded schemas:");
	for (size_t i = 0; i < tapio_schema_count; i++)
		fprintf(out, " %s", tapio_schemas[i].name);
	fprintf(out, ";\nof earlier releases (found by fingerprint):");
	for (size_t i = 0; i < tapio_released_schema_count; i++)
		fprintf(out, " %s/%s", tapio_released_schemas[i].release,
			tapio_released_schemas[i].name);
	fprintf(out,
		".\n"
		"A union is written as the plain value of its branch, an enum as its symbol, bytes\n"
		"and fixed as hex. A record whose value cannot be decoded is printed with \"error\"\n"
		"and \"value_hex\" instead of \"value\" (and counted); a null value stays null.\n"
		"Topics that do not exist yet are waited for, then read from their beginning.\n"
		"Partitions are assigned directly: no consumer group membership, no offset commits;\n"
		"partitions added to a topic later are not seen.\n"
		"\n"
		"With --check, a topic that does not exist is an error, and so is a signal before\n"
		"the end.\n"
		"\n"
		"Exit status: 0 when done (--count reached, SIGINT, SIGTERM; --check: every\n"
		"stream complete or accounted for), 1 when --timeout-ms expires, Kafka fails or\n"
		"--check finds records missing, 2 on a usage error or a bad -X property.\n");
}

static int parse_num(const char *flag, const char *s, long long min, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	if (errno || end == s || *end || *out < min) {
		fprintf(stderr, "tapio-tail: %s: \"%s\" is not a number >= %lld\n", flag, s, min);
		return -EINVAL;
	}
	return 0;
}

/* 0 to run, 1 when --help or --version was handled, -EINVAL on a usage error. */
static int parse_args(struct tail *t, int argc, char **argv)
{
	enum { OPT_FROM_BEGINNING = 256, OPT_TIMEOUT_MS, OPT_CHECK, OPT_JSON, OPT_SCHEMAS };
	static const struct option longopts[] = {
		{ "brokers", required_argument, NULL, 'b' },
		{ "count", required_argument, NULL, 'c' },
		{ "from-beginning", no_argument, NULL, OPT_FROM_BEGINNING },
		{ "timeout-ms", required_argument, NULL, OPT_TIMEOUT_MS },
		{ "check", no_argument, NULL, OPT_CHECK },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "schemas", no_argument, NULL, OPT_SCHEMAS },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	t->brokers = getenv("TAPIO_BROKERS");
	t->timeout_ms = -1;
	/* -X arguments are at most argc; kept as pointers into argv. */
	if (!(t->props = calloc(argc, sizeof(*t->props))))
		return -ENOMEM;
	while ((opt = getopt_long(argc, argv, "b:c:X:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'b':
			t->brokers = optarg;
			break;
		case 'c':
			if (parse_num("--count", optarg, 1, &t->count))
				return -EINVAL;
			break;
		case OPT_FROM_BEGINNING:
			t->from_beginning = true;
			break;
		case OPT_TIMEOUT_MS:
			if (parse_num("--timeout-ms", optarg, 0, &t->timeout_ms))
				return -EINVAL;
			break;
		case OPT_CHECK:
			t->check = true;
			break;
		case OPT_JSON:
			t->json = true;
			break;
		case OPT_SCHEMAS:
			t->schemas = true;
			break;
		case 'X':
			t->props[t->n_props++] = optarg;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'V':
			printf("tapio-tail %s (librdkafka %s)\n", TAPIO_VERSION, rd_kafka_version_str());
			return 1;
		default:
			fprintf(stderr, "Try 'tapio-tail --help'.\n");
			return -EINVAL;
		}
	}
	t->topics = argv + optind;
	t->n_topics = argc - optind;
	if (t->json && !t->check && !t->schemas) {
		fprintf(stderr, "tapio-tail: --json goes with --check or --schemas (records are "
			"always JSON lines)\n");
		return -EINVAL;
	}
	if (t->schemas) {
		if (t->check || t->n_topics) {
			fprintf(stderr, "tapio-tail: --schemas takes no topic and no --check\n");
			return -EINVAL;
		}
		return 0;
	}
	if (t->check && t->count) {
		fprintf(stderr, "tapio-tail: --check reads every record to the end: no --count\n");
		return -EINVAL;
	}
	if (!t->n_topics) {
		fprintf(stderr, "tapio-tail: no topic given (e.g. tapio.kernel)\n");
		return -EINVAL;
	}
	for (int i = 0; i < t->n_topics; i++)
		for (int j = 0; j < i; j++)
			if (strcmp(t->topics[i], t->topics[j]) == 0) {
				fprintf(stderr, "tapio-tail: topic %s given twice\n", t->topics[i]);
				return -EINVAL;
			}
	if (!t->brokers || !*t->brokers) {
		fprintf(stderr, "tapio-tail: no brokers: use -b LIST or set TAPIO_BROKERS\n");
		return -EINVAL;
	}
	if (t->timeout_ms >= 0 && !t->count && !t->check) {
		fprintf(stderr, "tapio-tail: --timeout-ms needs --count or --check\n");
		return -EINVAL;
	}
	return 0;
}

/* `flag` and `arg` name the setting in the message: "-X" "foo=bar", "--brokers" "". */
/* Defaults first, so that -X can override any of them. */
static rd_kafka_conf_t *build_conf(const struct tail *t)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char *prop = NULL, *eq;

	/* Assigning partitions needs a group id, even though we never join or commit. */
	if (conf_set(conf, "group.id", "tapio-tail", "group.id", "") ||
	    conf_set(conf, "client.id", "tapio-tail", "client.id", "") ||
	    conf_set(conf, "enable.auto.commit", "false", "enable.auto.commit", "") ||
	    conf_set(conf, "enable.auto.offset.store", "false", "enable.auto.offset.store", "") ||
	    conf_set(conf, "bootstrap.servers", t->brokers, "--brokers", t->brokers))
		goto fail;
	/* --check is done once it has reached the end of every partition. */
	if (t->check && conf_set(conf, "enable.partition.eof", "true", "enable.partition.eof", ""))
		goto fail;
	for (int i = 0; i < t->n_props; i++) {
		eq = strchr(t->props[i], '=');
		if (!eq || eq == t->props[i]) {
			fprintf(stderr, "tapio-tail: -X %s: expected PROP=VALUE\n", t->props[i]);
			goto fail;
		}
		if (!(prop = strndup(t->props[i], eq - t->props[i])))
			goto fail;
		if (conf_set(conf, prop, eq + 1, "-X", t->props[i]))
			goto fail;
		free(prop);
		prop = NULL;
	}
	return conf;
fail:
	free(prop);
	rd_kafka_conf_destroy(conf);
	return NULL;
}

/* A topic that can be assigned: known to the cluster, without error, with partitions. *known
 * says whether the cluster knows it at all (it may be there but not ready). */
static const rd_kafka_metadata_topic_t *find_topic(const struct rd_kafka_metadata *md,
						   const char *name, bool *known)
{
	*known = false;
	for (int i = 0; i < md->topic_cnt; i++)
		if (strcmp(md->topics[i].topic, name) == 0) {
			*known = md->topics[i].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
			return md->topics[i].err || md->topics[i].partition_cnt <= 0 ?
				       NULL : &md->topics[i];
		}
	return NULL;
}

/* --check: remembers the partitions of topic i, whose ends are to be reached. 0 or -ENOMEM. */
static int expect_ends(struct tail *t, int i, const rd_kafka_metadata_topic_t *mt)
{
	int max_id = -1;

	for (int p = 0; p < mt->partition_cnt; p++)
		if (mt->partitions[p].id > max_id)
			max_id = mt->partitions[p].id;
	if (!(t->eof[i] = calloc(max_id + 1, sizeof(**t->eof))))
		return -ENOMEM;
	t->partitions[i] = max_id + 1;
	t->eof_pending += mt->partition_cnt;
	return 0;
}

/*
 * Adds every partition of each topic that exists now and is not assigned yet, and says once for
 * each missing topic that we wait for it. Incremental, so topics already being read keep their
 * position. 0, or -1 when the assignment fails.
 */
static int assign_new_topics(struct tail *t)
{
	rd_kafka_topic_partition_list_t *parts = NULL;
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t err;
	rd_kafka_error_t *error;
	int64_t offset;
	int rc = -1;

	err = rd_kafka_metadata(t->rk, 1, NULL, &md, METADATA_MS);
	if (err) {
		if (err != t->metadata_err)
			fprintf(stderr, "tapio-tail: waiting for the cluster: %s\n",
				rd_kafka_err2str(err));
		t->metadata_err = err;
		return 0;
	}
	t->metadata_err = RD_KAFKA_RESP_ERR_NO_ERROR;
	if (!(parts = rd_kafka_topic_partition_list_new(1)))
		goto out;
	for (int i = 0; i < t->n_topics; i++) {
		const rd_kafka_metadata_topic_t *mt;
		bool known;

		if (t->topic_state[i] == TOPIC_ASSIGNED)
			continue;
		mt = find_topic(md, t->topics[i], &known);
		if (!mt && !known && t->check) {
			/* A check of what is there: nothing to wait for. */
			fprintf(stderr, "tapio-tail: --check: topic %s does not exist\n",
				t->topics[i]);
			goto out;
		}
		if (!mt) {
			if (t->topic_state[i] == TOPIC_UNSEEN)
				fprintf(stderr, "tapio-tail: waiting for topic %s to be created\n",
					t->topics[i]);
			t->topic_state[i] = TOPIC_WAITING;
			continue;
		}
		/* Everything in a topic created after we started is new. */
		offset = t->from_beginning || t->check || t->topic_state[i] == TOPIC_WAITING ?
				 RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
		if (t->check && expect_ends(t, i, mt)) {
			fprintf(stderr, "tapio-tail: out of memory\n");
			goto out;
		}
		for (int p = 0; p < mt->partition_cnt; p++)
			rd_kafka_topic_partition_list_add(parts, t->topics[i],
							  mt->partitions[p].id)->offset = offset;
		t->topic_state[i] = TOPIC_ASSIGNED;
		t->unassigned--;
	}
	if (parts->cnt && (error = rd_kafka_incremental_assign(t->rk, parts))) {
		fprintf(stderr, "tapio-tail: assign: %s\n", rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
		goto out;
	}
	rc = 0;
out:
	if (parts)
		rd_kafka_topic_partition_list_destroy(parts);
	rd_kafka_metadata_destroy(md);
	return rc;
}

/* Takes the reference to `v`; false when out of memory. */
static bool put(json_t *obj, const char *key, json_t *v)
{
	return v && json_object_set_new_nocheck(obj, key, v) == 0;
}

static bool put_headers(json_t *line, const rd_kafka_message_t *m)
{
	rd_kafka_headers_t *hdrs;
	const char *name;
	const void *val;
	json_t *obj = json_object(), *k, *v;
	size_t size;

	if (!obj)
		return false;
	if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		/* A repeated header name keeps its last value. */
		for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); i++) {
			k = avro_json_text(name, strlen(name));
			v = val ? avro_json_text(val, size) : json_null();
			if (!k || !v || json_object_setn_new_nocheck(obj, json_string_value(k),
								      json_string_length(k), v)) {
				json_decref(k);
				json_decref(obj);
				return false;
			}
			json_decref(k);
		}
	}
	return put(line, "headers", obj);
}

/* The JSON line for one record; NULL when out of memory. */
static json_t *render_record(struct tail *t, const rd_kafka_message_t *m)
{
	rd_kafka_timestamp_type_t tstype;
	const char *topic = rd_kafka_topic_name(m->rkt);
	int64_t ts = rd_kafka_message_timestamp(m, &tstype);
	json_t *line = json_object(), *value = NULL;
	char why[256];

	if (!line || !put(line, "topic", avro_json_text(topic, strlen(topic))) ||
	    !put(line, "partition", json_integer(m->partition)) ||
	    !put(line, "offset", json_integer(m->offset)) ||
	    !put(line, "timestamp",
		 tstype == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? json_null() : json_integer(ts)) ||
	    !put(line, "key", m->key ? avro_json_text(m->key, m->key_len) : json_null()) ||
	    !put_headers(line, m))
		goto fail;
	if (!m->payload) /* a tombstone */
		value = json_null();
	else if (avro_json_decode(t->dec, topic, m->payload, m->len, &value, NULL, why,
				  sizeof(why))) {
		t->undecodable++;
		if (!put(line, "error", avro_json_text(why, strlen(why))) ||
		    !put(line, "value_hex", avro_json_hex(m->payload, m->len)))
			goto fail;
		return line;
	}
	if (!put(line, "value", value))
		goto fail;
	return line;
fail:
	json_decref(line);
	return NULL;
}

/* 0, or -errno when stdout fails (-EPIPE: the reader went away). */
static int print_record(struct tail *t, const rd_kafka_message_t *m)
{
	json_t *line = render_record(t, m);
	int err = 0;

	if (!line) {
		fprintf(stderr, "tapio-tail: out of memory\n");
		return -ENOMEM;
	}
	t->records++;
	errno = 0;
	if (json_dumpf(line, stdout, JSON_COMPACT) || putchar('\n') == EOF || fflush(stdout))
		err = errno ? -errno : -EIO;
	json_decref(line);
	return err;
}

/* The index of topic `name` among those given, or -1. */
static int topic_index(const struct tail *t, const char *name)
{
	for (int i = 0; i < t->n_topics; i++)
		if (!strcmp(t->topics[i], name))
			return i;
	return -1;
}

/* --check: a partition's end was reached (again, or for the first time). */
static void reached_end(struct tail *t, const rd_kafka_message_t *m)
{
	int i = topic_index(t, rd_kafka_topic_name(m->rkt));

	if (i < 0 || !t->eof[i] || m->partition < 0 || m->partition >= t->partitions[i] ||
	    t->eof[i][m->partition])
		return;
	t->eof[i][m->partition] = true;
	t->eof_pending--;
}

/* --check: one record into the check. 0, or -ENOMEM. */
static int check_record(struct tail *t, const rd_kafka_message_t *m)
{
	const char *topic = rd_kafka_topic_name(m->rkt);
	int i = topic_index(t, topic);
	struct record_envelope env;
	char why[256];

	if (i < 0)
		return 0;
	t->records++;
	if (!m->payload) {
		stream_check_tombstone(t->sc, i);
		return 0;
	}
	if (avro_json_envelope(t->dec, topic, m->payload, m->len, &env, why, sizeof(why))) {
		stream_check_undecodable(t->sc, i);
		if (t->errors_shown++ < CHECK_ERRORS_SHOWN)
			fprintf(stderr, "tapio-tail: %s [%d] offset %" PRId64 ": cannot decode: "
				"%s\n", topic, m->partition, m->offset, why);
		return 0;
	}
	return stream_check_add(t->sc, i, &env);
}

/* 0 when --count is reached or on a signal (--check: every end reached), 1 on timeout or a
 * failure. */
static int consume(struct tail *t)
{
	int64_t next_metadata = 0;
	rd_kafka_message_t *m;
	int err;

	while (!stop) {
		if (clock_ms(CLOCK_MONOTONIC) >= t->deadline) {
			if (t->check)
				fprintf(stderr, "tapio-tail: --check: timeout after %lld ms: %d "
					"topics not there yet, %lld partitions not read to their "
					"end\n", t->timeout_ms, t->unassigned, t->eof_pending);
			else
				fprintf(stderr, "tapio-tail: timeout: %llu of %lld records in %lld "
					"ms\n", t->records, t->count, t->timeout_ms);
			return 1;
		}
		if (t->check && !t->unassigned && !t->eof_pending)
			return 0;
		if (t->unassigned && clock_ms(CLOCK_MONOTONIC) >= next_metadata) {
			if (assign_new_topics(t))
				return 1;
			next_metadata = clock_ms(CLOCK_MONOTONIC) + METADATA_MS;
		}
		if (!(m = rd_kafka_consumer_poll(t->rk, POLL_MS)))
			continue;
		if (m->err) {
			if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && t->check)
				reached_end(t, m);
			else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				fprintf(stderr, "tapio-tail: %s\n", rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			continue;
		}
		err = t->check ? check_record(t, m) : print_record(t, m);
		rd_kafka_message_destroy(m);
		if (err == -EPIPE)
			return 0;
		if (err == -ENOMEM && t->check)
			fprintf(stderr, "tapio-tail: out of memory\n");
		if (err) {
			if (err != -ENOMEM)
				fprintf(stderr, "tapio-tail: stdout: %s\n", strerror(-err));
			return 1;
		}
		if (t->count && t->records >= (unsigned long long)t->count)
			return 0;
	}
	if (t->check) {
		fprintf(stderr, "tapio-tail: --check: interrupted before the end of the topics\n");
		return 1;
	}
	return 0;
}

/* --schemas: every schema this build knows, current ones first. 0, or 1 on a failure. */
static int print_schemas(bool json)
{
	size_t n = tapio_schema_count + tapio_released_schema_count;
	char errstr[256];
	uint64_t fp;

	if (!json)
		printf("# schema, release (current: what this build writes), fingerprint "
		       "(CRC-64-AVRO of the canonical form; little-endian on the wire)\n");
	for (size_t i = 0; i < n; i++) {
		const struct tapio_schema *s = i < tapio_schema_count ?
			&tapio_schemas[i] : &tapio_released_schemas[i - tapio_schema_count];
		json_t *line, *schema;
		char hex[17];

		if (schema_fingerprint(s->json, &fp, errstr, sizeof(errstr))) {
			fprintf(stderr, "tapio-tail: embedded schema %s: %s\n", s->name, errstr);
			return 1;
		}
		snprintf(hex, sizeof(hex), "%016" PRIx64, fp);
		if (!json) {
			printf("%-10s %-8s %s\n", s->name, s->release ? s->release : "current",
			       hex);
			continue;
		}
		schema = json_loadb(s->json, s->json_len, 0, NULL);
		line = json_pack("{s:s, s:s?, s:b, s:s, s:o?}", "name", s->name, "release",
				 s->release, "current", !s->release, "fingerprint", hex, "schema",
				 schema);
		if (!line || !schema ||
		    json_dumpf(line, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER) ||
		    putchar('\n') == EOF) {
			fprintf(stderr, "tapio-tail: --schemas: cannot write %s\n", s->name);
			json_decref(line);
			return 1;
		}
		json_decref(line);
	}
	return fflush(stdout) ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct tail t = { .deadline = INT64_MAX };
	struct sigaction sa = { .sa_handler = on_signal };
	rd_kafka_conf_t *conf;
	char errstr[512];
	int rc = EXIT_USAGE, err;

	err = parse_args(&t, argc, argv);
	if (err) {
		rc = err > 0 ? 0 : EXIT_USAGE;
		goto out;
	}
	if (t.schemas) {
		rc = print_schemas(t.json);
		goto out;
	}
	if (!(conf = build_conf(&t)))
		goto out;
	if (!(t.rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr)))) {
		fprintf(stderr, "tapio-tail: %s\n", errstr);
		rd_kafka_conf_destroy(conf);
		goto out;
	}
	rc = 1;
	t.unassigned = t.n_topics;
	if (!(t.topic_state = calloc(t.n_topics, sizeof(*t.topic_state))) ||
	    (t.check && (!(t.eof = calloc(t.n_topics, sizeof(*t.eof))) ||
			 !(t.partitions = calloc(t.n_topics, sizeof(*t.partitions))) ||
			 stream_check_new((const char *const *)t.topics, t.n_topics, &t.sc)))) {
		fprintf(stderr, "tapio-tail: out of memory\n");
		goto out;
	}
	if (avro_json_decoder_embedded(&t.dec, errstr, sizeof(errstr))) {
		fprintf(stderr, "tapio-tail: embedded schema %s\n", errstr);
		goto out;
	}
	rd_kafka_poll_set_consumer(t.rk);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN); /* a closed pipe shows up as EPIPE and ends us cleanly */
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if (t.timeout_ms >= 0) {
		int64_t now = clock_ms(CLOCK_MONOTONIC);

		t.deadline = t.timeout_ms < INT64_MAX - now ? now + t.timeout_ms : INT64_MAX;
	}

	rc = consume(&t);
	if (t.undecodable)
		fprintf(stderr, "tapio-tail: %llu of %llu records could not be decoded\n",
			t.undecodable, t.records);
	if (t.check && rc == 0) {
		struct check_summary sum;

		err = stream_check_report(t.sc, stdout, t.json ? CHECK_JSON : CHECK_TEXT, &sum);
		if (err)
			fprintf(stderr, "tapio-tail: --check: writing the report: %s\n",
				strerror(-err));
		rc = err || !sum.ok ? 1 : 0;
	}
out:
	if (t.rk) {
		rd_kafka_consumer_close(t.rk);
		rd_kafka_destroy(t.rk);
	}
	avro_json_decoder_free(t.dec);
	stream_check_free(t.sc);
	for (int i = 0; t.eof && i < t.n_topics; i++)
		free(t.eof[i]);
	free(t.eof);
	free(t.partitions);
	free(t.topic_state);
	free(t.props);
	return rc;
}
