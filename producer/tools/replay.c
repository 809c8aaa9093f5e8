/*
 * tapio-replay: produces an archive written by tapio-archive back to Kafka, with each record's
 * original key, headers, value framing and (unless shifted) timestamp, to the original topics or
 * prefixed ones, as fast as possible or at the original pace times a factor, filtered by topic,
 * event time and node (README.md, "Replaying an archive").
 *
 * Before anything is sent, every file's header and block structure (each block's size, sync
 * marker and count; the header's record count) is checked: a truncated, mangled or foreign file
 * is reported and skipped whole. Damage inside a block, which only decoding finds, is found while
 * replaying: the rest of that file is skipped, reported and counted. Records go out per partition
 * in offset order (files of one partition are merged; an offset seen twice, from a file archived
 * again after a crash, is sent once), and across partitions by timestamp.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "archive_format.h"
#include "avro_skip.h"
#include "clock.h"
#include "ocf.h"
#include "registry.h"
#include "schema.h"
#include "tool_cli.h"

#ifndef TAPIO_VERSION
#define TAPIO_VERSION "unknown"
#endif

#define PROG "tapio-replay"
#define EXIT_USAGE 2
#define MAX_DEPTH 8          /* directory levels below DIR that are searched */
#define REGISTRY_TIMEOUT_MS 10000
#define NO_TIME INT64_MIN

struct options {
	const char *brokers, *dir, *prefix, *registry;
	char **topics, **nodes; /* filters; NULL-terminated */
	int n_topics, n_nodes;
	int64_t from_us, until_us; /* event time range [from, until); NO_TIME: open */
	double pace;               /* 0: as fast as possible; else a factor of the original pace */
	bool shift_timestamps;
	bool keep_partition;
	char **props;
	int n_props;
};

/* A destination topic and what was sent to it. */
struct dest {
	char *from, *to;      /* original topic, destination topic */
	rd_kafka_topic_t *rkt;
	int32_t max_partition;
	unsigned long long sent, raw_sent, bytes, delivered, failed;
	rd_kafka_resp_err_t last_error;
};

struct file_info {
	char *path; /* relative to DIR */
	char topic[256];
	bool raw;
	int32_t partition;
	int64_t first_offset, last_offset, records;
	enum { FRAMING_NONE, FRAMING_SINGLE_OBJECT, FRAMING_CONFLUENT } framing;
	uint64_t fingerprint;
	int32_t schema_id;    /* as archived, then as registered with --registry */
	struct avro_skip *skip;
	size_t value_fields;  /* table files: fields before the Kafka columns */
	struct archive_value_fields vf;
	struct dest *dest;
};

/* An open file being read, and its next record (the head). */
struct cursor {
	struct file_info *f;
	uint8_t *map;
	size_t map_len;
	struct ocf_reader *r;
	const uint8_t *block;
	size_t block_len, pos;
	int64_t left; /* datums left in the block */
	size_t *field_off;
	struct archive_headers hdrs;
	bool has_head;
	struct archive_kafka k;
	const uint8_t *value; /* the datum (table) or the whole value (raw; NULL: tombstone) */
	size_t value_len;
	int64_t pace_ms; /* the record's timestamp, or its event time; NO_TIME: neither */
	int64_t rows, sent; /* of this file: decoded, sent */
	int64_t prev_offset;
};

/* The records of one (topic, partition): its files, merged by offset. */
struct stream {
	struct file_info **files;
	size_t n_files, next_file;
	struct cursor **open;
	size_t n_open;
	struct cursor *head; /* the cursor with the lowest offset, NULL when done */
	int64_t last_sent;   /* offset; -1 before the first */
};

struct replay {
	struct options o;
	rd_kafka_t *rk;
	int root_fd;
	struct file_info **files;
	size_t n_files, cap_files;
	struct stream *streams;
	size_t n_streams;
	struct dest **dests;
	size_t n_dests;
	uint8_t *value_buf; /* framing + datum */
	size_t value_cap;
	/* Counters */
	unsigned long long files_bad, files_ignored, files_hidden, files_filtered, files_read;
	unsigned long long filtered_time, filtered_node, duplicates, queue_full_waits;
	unsigned long long read_errors;
	/* Pace */
	int64_t first_pace_ms, last_pace_ms; /* archive timestamps of the first / last sent */
	int64_t first_send_ns, last_send_ns; /* monotonic */
	int64_t shift_ms;
	bool started;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop++;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: " PROG " -b BROKERS -d DIR [OPTION]...\n"
		"Produce the records of an archive written by tapio-archive back to Kafka, with their\n"
		"original keys, headers, value framing and timestamps, in offset order per partition.\n"
		"\n"
		"  -b, --brokers LIST     bootstrap servers (default: $TAPIO_BROKERS)\n"
		"  -d, --dir DIR          the archive's root directory\n"
		"  -t, --topic TOPIC      replay only this archived topic (repeatable; default: all)\n"
		"      --from TIME        only records whose event time is at or after TIME\n"
		"      --until TIME       only records whose event time is before TIME\n"
		"                         TIME: 2026-11-25T16:00:00Z (RFC 3339, fractions and\n"
		"                         +HH:MM allowed) or milliseconds since the epoch\n"
		"      --node NAME        only records of this node (repeatable)\n"
		"      --topic-prefix P   produce to P<topic> (e.g. test. -> test.tapio.kernel)\n"
		"      --pace X           max: as fast as possible (default); a number N: N times the\n"
		"                         original pace (1 = original, 10 = ten times faster)\n"
		"      --timestamps T     original (default), or shift: every timestamp moved by the\n"
		"                         same amount, so that the first record is stamped now\n"
		"      --partition P      original (default): each record to its archived partition;\n"
		"                         key: the producer's partitioner chooses by key\n"
		"      --registry URL     for Confluent-framed records: register their schema under\n"
		"                         <destination topic>-value there and frame with its id\n"
		"  -X PROP=VALUE          librdkafka producer property, e.g. -X acks=1\n"
		"  -h, --help             print this help\n"
		"  -V, --version          print the version\n"
		"\n"
		"The event time is a record's event_time field (its Kafka timestamp when it has none);\n"
		"the node is its node field (the key up to its first '/' when it has none).\n"
		"Before anything is sent, each file's header and block structure are checked: a\n"
		"truncated, mangled or foreign file is reported and skipped whole. Damage inside a\n"
		"block is found while decoding: the rest of that file is skipped and reported. A\n"
		"summary of what was sent goes to stdout.\n"
		"\n"
		"Exit status: 0 when every selected record was delivered and no file was bad, 1 when\n"
		"a record was not delivered, a file was bad, or Kafka failed; 2 on a usage error.\n");
}

/* RFC 3339 (2026-11-25T16:00:00Z, .fraction, +HH:MM) or milliseconds since the epoch, to µs. */
static int parse_time(const char *flag, const char *s, int64_t *us)
{
	struct tm tm = { 0 };
	int64_t frac_us = 0, scale = 100000, off_s = 0;
	const char *p;
	char *end;

	if (*s && strspn(s, "0123456789") == strlen(s)) {
		long long ms;

		errno = 0;
		ms = strtoll(s, &end, 10);
		if (errno || ms > INT64_MAX / 1000)
			return usage_error("%s: \"%s\" is out of range", flag, s);
		*us = ms * 1000;
		return 0;
	}
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		goto bad;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			frac_us += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int hh = (p[1] - '0') * 10 + (p[2] - '0'), mm = (p[4] - '0') * 10 + (p[5] - '0');

		if (strspn(p + 1, "0123456789") != 2 || strspn(p + 4, "0123456789") != 2 || hh > 23 ||
		    mm > 59)
			goto bad;
		off_s = (hh * 3600 + mm * 60) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		goto bad;
	}
	if (*p)
		goto bad;
	*us = ((int64_t)timegm(&tm) - off_s) * 1000000 + frac_us;
	return 0;
bad:
	return usage_error("%s: \"%s\" is neither RFC 3339 (2026-11-25T16:00:00Z) nor "
			   "milliseconds since the epoch", flag, s);
}

static int parse_args(struct options *o, int argc, char **argv)
{
	enum { OPT_FROM = 256, OPT_UNTIL, OPT_NODE, OPT_PREFIX, OPT_PACE, OPT_TIMESTAMPS,
	       OPT_PARTITION, OPT_REGISTRY };
	static const struct option longopts[] = {
		{ "brokers", required_argument, NULL, 'b' },
		{ "dir", required_argument, NULL, 'd' },
		{ "topic", required_argument, NULL, 't' },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "until", required_argument, NULL, OPT_UNTIL },
		{ "node", required_argument, NULL, OPT_NODE },
		{ "topic-prefix", required_argument, NULL, OPT_PREFIX },
		{ "pace", required_argument, NULL, OPT_PACE },
		{ "timestamps", required_argument, NULL, OPT_TIMESTAMPS },
		{ "partition", required_argument, NULL, OPT_PARTITION },
		{ "registry", required_argument, NULL, OPT_REGISTRY },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int opt;

	o->brokers = getenv("TAPIO_BROKERS");
	o->prefix = "";
	o->from_us = o->until_us = NO_TIME;
	o->keep_partition = true;
	if (!(o->props = calloc(argc, sizeof(*o->props))) ||
	    !(o->topics = calloc(argc, sizeof(*o->topics))) ||
	    !(o->nodes = calloc(argc, sizeof(*o->nodes))))
		return -ENOMEM;
	while ((opt = getopt_long(argc, argv, "b:d:t:X:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'b':
			o->brokers = optarg;
			break;
		case 'd':
			o->dir = optarg;
			break;
		case 't':
			if (!archive_topic_valid(optarg))
				return usage_error("--topic: \"%s\" is not a Kafka topic name", optarg);
			o->topics[o->n_topics++] = optarg;
			break;
		case OPT_FROM:
			if (parse_time("--from", optarg, &o->from_us))
				return -EINVAL;
			break;
		case OPT_UNTIL:
			if (parse_time("--until", optarg, &o->until_us))
				return -EINVAL;
			break;
		case OPT_NODE:
			if (!*optarg)
				return usage_error("--node: empty");
			o->nodes[o->n_nodes++] = optarg;
			break;
		case OPT_PREFIX:
			o->prefix = optarg;
			break;
		case OPT_PACE:
			if (!strcmp(optarg, "max")) {
				o->pace = 0;
				break;
			}
			errno = 0;
			o->pace = strtod(optarg, &end);
			if (errno || end == optarg || *end || !isfinite(o->pace) || o->pace <= 0 ||
			    o->pace > 1e6)
				return usage_error("--pace: \"%s\" is neither max nor a factor in "
						   "(0, 1000000]", optarg);
			break;
		case OPT_TIMESTAMPS:
			if (strcmp(optarg, "original") && strcmp(optarg, "shift"))
				return usage_error("--timestamps: \"%s\" is neither original nor shift",
						   optarg);
			o->shift_timestamps = optarg[0] == 's';
			break;
		case OPT_PARTITION:
			if (strcmp(optarg, "original") && strcmp(optarg, "key"))
				return usage_error("--partition: \"%s\" is neither original nor key",
						   optarg);
			o->keep_partition = optarg[0] == 'o';
			break;
		case OPT_REGISTRY:
			if (strncmp(optarg, "http://", 7) && strncmp(optarg, "https://", 8))
				return usage_error("--registry: \"%s\" is not an http:// or https:// URL",
						   optarg);
			o->registry = optarg;
			break;
		case 'X':
			o->props[o->n_props++] = optarg;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'V':
			printf(PROG " %s (librdkafka %s)\n", TAPIO_VERSION, rd_kafka_version_str());
			return 1;
		default:
			fprintf(stderr, "Try '" PROG " --help'.\n");
			return -EINVAL;
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument \"%s\" (topics are chosen with --topic)",
				   argv[optind]);
	if (!o->brokers || !*o->brokers)
		return usage_error("no brokers: use -b LIST or set TAPIO_BROKERS");
	if (!o->dir || !*o->dir)
		return usage_error("no archive directory: use -d DIR");
	if (o->from_us != NO_TIME && o->until_us != NO_TIME && o->until_us <= o->from_us)
		return usage_error("--until must be after --from");
	for (const char *c = o->prefix; *c; c++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *c))
			return usage_error("--topic-prefix: \"%s\": topic names are a-z A-Z 0-9 . _ -",
					   o->prefix);
	return 0;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct dest *d = m->_private;

	(void)rk;
	(void)opaque;
	if (!d)
		return;
	if (!m->err) {
		d->delivered++;
		return;
	}
	d->failed++;
	if (m->err != d->last_error)
		fprintf(stderr, PROG ": %s: not delivered: %s\n", d->to, rd_kafka_err2str(m->err));
	d->last_error = m->err;
}

/* The producer's defaults are Tapio's (DESIGN.md section 4); -X overrides them. */
static rd_kafka_conf_t *build_conf(const struct options *o)
{
	static const char *const defaults[][2] = {
		{ "client.id", PROG },
		{ "enable.idempotence", "true" },
		{ "acks", "all" },
		{ "compression.codec", "lz4" },
		{ "partitioner", "murmur2_random" },
		{ "linger.ms", "50" },
	};
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char *prop = NULL, *eq;

	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
		if (conf_set(conf, defaults[i][0], defaults[i][1], defaults[i][0], ""))
			goto fail;
	if (conf_set(conf, "bootstrap.servers", o->brokers, "--brokers", o->brokers))
		goto fail;
	for (int i = 0; i < o->n_props; i++) {
		eq = strchr(o->props[i], '=');
		if (!eq || eq == o->props[i]) {
			fprintf(stderr, PROG ": -X %s: expected PROP=VALUE\n", o->props[i]);
			goto fail;
		}
		if (!(prop = strndup(o->props[i], eq - o->props[i])))
			goto fail;
		if (conf_set(conf, prop, eq + 1, "-X", o->props[i]))
			goto fail;
		free(prop);
		prop = NULL;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	return conf;
fail:
	free(prop);
	rd_kafka_conf_destroy(conf);
	return NULL;
}

/* ---- finding and checking files ---- */

static bool topic_selected(const struct options *o, const char *topic)
{
	if (!o->n_topics)
		return true;
	for (int i = 0; i < o->n_topics; i++)
		if (!strcmp(o->topics[i], topic))
			return true;
	return false;
}

/* The hour [h, h+1) cannot hold a record in [from, until). */
static bool hour_outside(const struct options *o, int64_t hour)
{
	int64_t start = hour * 3600 * 1000000LL, end = start + 3600 * 1000000LL;

	return (o->from_us != NO_TIME && end <= o->from_us) ||
	       (o->until_us != NO_TIME && start >= o->until_us);
}

static void file_info_free(struct file_info *f)
{
	if (!f)
		return;
	avro_skip_free(f->skip);
	free(f->path);
	free(f);
}

static int map_file(struct replay *rp, const char *path, uint8_t **map, size_t *len,
		    char *errstr, size_t errstr_size)
{
	struct stat st;
	int fd = openat(rp->root_fd, path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st)) {
		snprintf(errstr, errstr_size, "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*len = (size_t)st.st_size;
	/* An empty file has nothing to map: the reader says it is not a container file. */
	*map = *len ? mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0) : (uint8_t *)"";
	close(fd);
	if (*map == MAP_FAILED) {
		snprintf(errstr, errstr_size, "mmap: %s", strerror(errno));
		*map = NULL;
		*len = 0;
		return -1;
	}
	return 0;
}

static void unmap_file(uint8_t *map, size_t len)
{
	if (len)
		munmap(map, len);
}

/* A metadata value as text (at most size - 1 bytes); false when absent or too long. */
static bool meta_text(const struct ocf_reader *r, const char *key, char *out, size_t size)
{
	size_t n;
	const uint8_t *v = ocf_reader_meta(r, key, &n);

	if (!v || n >= size || memchr(v, 0, n))
		return false;
	memcpy(out, v, n);
	out[n] = '\0';
	return true;
}

static bool meta_int(const struct ocf_reader *r, const char *key, int64_t *v)
{
	size_t n;
	const uint8_t *s = ocf_reader_meta(r, key, &n);

	return s && archive_parse_num(s, n, v) == 0;
}

/* The header of a Tapio archive file, into f. 0 or -EINVAL with errstr. */
static int check_header(struct file_info *f, const struct ocf_reader *r, char *errstr,
			size_t errstr_size)
{
	char text[256];
	size_t schema_len;
	const char *schema = ocf_reader_schema(r, &schema_len);
	int64_t v;

	if (!meta_text(r, ARCHIVE_META_VERSION, text, sizeof(text)))
		return snprintf(errstr, errstr_size, "not a Tapio archive file (no %s)",
				ARCHIVE_META_VERSION), -EINVAL;
	if (strcmp(text, ARCHIVE_VERSION))
		return snprintf(errstr, errstr_size, "archive format version %s (this replay reads "
				"%s)", text, ARCHIVE_VERSION), -EINVAL;
	if (!meta_text(r, ARCHIVE_META_CONTENT, text, sizeof(text)) ||
	    (strcmp(text, "table") && strcmp(text, "raw")))
		return snprintf(errstr, errstr_size, "bad or missing %s", ARCHIVE_META_CONTENT),
		       -EINVAL;
	f->raw = text[0] == 'r';
	if (!meta_text(r, ARCHIVE_META_TOPIC, f->topic, sizeof(f->topic)) ||
	    !archive_topic_valid(f->topic))
		return snprintf(errstr, errstr_size, "bad or missing %s", ARCHIVE_META_TOPIC),
		       -EINVAL;
	if (!meta_int(r, ARCHIVE_META_PARTITION, &v) || v > INT32_MAX)
		return snprintf(errstr, errstr_size, "bad or missing %s", ARCHIVE_META_PARTITION),
		       -EINVAL;
	f->partition = (int32_t)v;
	if (!meta_int(r, ARCHIVE_META_OFFSET_FIRST, &f->first_offset) ||
	    !meta_int(r, ARCHIVE_META_OFFSET_LAST, &f->last_offset) ||
	    !meta_int(r, ARCHIVE_META_RECORDS, &f->records) || f->last_offset < f->first_offset)
		return snprintf(errstr, errstr_size, "bad or missing offset range or record count"),
		       -EINVAL;
	if (avro_skip_compile(schema, schema_len, &f->skip, errstr, errstr_size))
		return -EINVAL;
	if (f->raw) {
		f->framing = FRAMING_NONE;
		return archive_check_raw_schema(f->skip, errstr, errstr_size);
	}
	if (archive_check_table_schema(f->skip, &f->value_fields, errstr, errstr_size))
		return -EINVAL;
	archive_value_fields(f->skip, &f->vf);
	if (!meta_text(r, ARCHIVE_META_FRAMING, text, sizeof(text)))
		return snprintf(errstr, errstr_size, "no %s", ARCHIVE_META_FRAMING), -EINVAL;
	if (!strcmp(text, "single-object")) {
		char *end;

		f->framing = FRAMING_SINGLE_OBJECT;
		if (!meta_text(r, ARCHIVE_META_FINGERPRINT, text, sizeof(text)) ||
		    strlen(text) != 16 || strspn(text, "0123456789abcdef") != 16)
			return snprintf(errstr, errstr_size, "bad or missing %s",
					ARCHIVE_META_FINGERPRINT), -EINVAL;
		f->fingerprint = strtoull(text, &end, 16);
	} else if (!strcmp(text, "confluent")) {
		f->framing = FRAMING_CONFLUENT;
		if (!meta_int(r, ARCHIVE_META_SCHEMA_ID, &v) || v > INT32_MAX)
			return snprintf(errstr, errstr_size, "bad or missing %s",
					ARCHIVE_META_SCHEMA_ID), -EINVAL;
		f->schema_id = (int32_t)v;
	} else {
		return snprintf(errstr, errstr_size, "unknown %s \"%s\"", ARCHIVE_META_FRAMING,
				text), -EINVAL;
	}
	return 0;
}

/*
 * Reads the next datum of a file at (block, pos): the value part and the Kafka columns. 0, or
 * -EINVAL with errstr (the file is corrupt), or -ENOMEM.
 */
static int read_row(const struct file_info *f, const uint8_t *block, size_t block_len,
		    size_t *pos, size_t *field_off, struct archive_kafka *k,
		    struct archive_headers *h, const uint8_t **value, size_t *value_len,
		    char *errstr, size_t errstr_size)
{
	const uint8_t *d = block + *pos, *reason;
	size_t used, off, reason_len;
	int err;

	if ((err = avro_skip_datum(f->skip, d, block_len - *pos, &used, field_off, errstr,
				   errstr_size)))
		return err;
	if (f->raw) {
		off = 0;
		if ((err = archive_kafka_decode(d, used, &off, k, h, errstr, errstr_size)) ||
		    (err = archive_raw_decode(d, used, &off, value, value_len, &reason, &reason_len,
					      errstr, errstr_size)))
			return err;
	} else {
		off = field_off[f->value_fields];
		*value = d;
		*value_len = off;
		if ((err = archive_kafka_decode(d, used, &off, k, h, errstr, errstr_size)))
			return err;
	}
	*pos += used;
	return 0;
}

/*
 * The file's block structure, without inflating or decoding: every block's count, size and sync
 * marker, and the record count of the header. A truncated or mangled file fails here, before
 * anything of it is sent.
 */
static int check_structure(struct file_info *f, struct ocf_reader *r, char *errstr,
			   size_t errstr_size)
{
	int64_t count, records = 0;
	int rc;

	while ((rc = ocf_reader_skip_block(r, &count, errstr, errstr_size)) > 0)
		records += count;
	if (rc < 0)
		return rc;
	if (records != f->records) {
		snprintf(errstr, errstr_size, "%" PRId64 " records in its blocks, the header says %"
			 PRId64, records, f->records);
		return -EINVAL;
	}
	return 0;
}

/* Checks one file and, when it is sound and selected, keeps it. */
static void consider_file(struct replay *rp, const char *path)
{
	char errstr[512] = "";
	struct ocf_reader *r = NULL;
	struct file_info *f;
	uint8_t *map = NULL;
	size_t len = 0;
	int err;

	if (!(f = calloc(1, sizeof(*f))) || !(f->path = strdup(path))) {
		free(f);
		fprintf(stderr, PROG ": out of memory\n");
		rp->read_errors++;
		return;
	}
	if (map_file(rp, path, &map, &len, errstr, sizeof(errstr))) {
		err = -EIO;
		goto out;
	}
	rp->files_read++;
	if ((err = ocf_reader_open(map, len, &r, errstr, sizeof(errstr))) ||
	    (err = check_header(f, r, errstr, sizeof(errstr))))
		goto out;
	if (!topic_selected(&rp->o, f->topic)) { /* a file outside the layout: known only now */
		rp->files_filtered++;
		file_info_free(f);
		f = NULL;
		goto out;
	}
	err = check_structure(f, r, errstr, sizeof(errstr));
out:
	ocf_reader_free(r);
	if (map)
		unmap_file(map, len);
	if (!f)
		return;
	if (err) {
		if (err == -ENOMEM)
			snprintf(errstr, sizeof(errstr), "out of memory");
		fprintf(stderr, PROG ": %s/%s: %s: skipped\n", rp->o.dir, path, errstr);
		rp->files_bad++;
		file_info_free(f);
		return;
	}
	if (rp->n_files == rp->cap_files) {
		size_t cap = rp->cap_files ? 2 * rp->cap_files : 64;
		struct file_info **v = realloc(rp->files, cap * sizeof(*v));

		if (!v) {
			fprintf(stderr, PROG ": out of memory\n");
			rp->read_errors++;
			file_info_free(f);
			return;
		}
		rp->files = v;
		rp->cap_files = cap;
	}
	rp->files[rp->n_files++] = f;
}

/* Every .avro file under DIR, not hidden; the layout's directories prune by topic and hour. */
static void scan_dir(struct replay *rp, const char *rel, int depth)
{
	struct dirent *e;
	char path[4096], topic[256];
	int32_t partition;
	int64_t hour, first;
	bool raw;
	DIR *d;
	int fd;

	fd = openat(rp->root_fd, *rel ? rel : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		fprintf(stderr, PROG ": %s/%s: %s\n", rp->o.dir, rel, strerror(errno));
		if (fd >= 0)
			close(fd);
		rp->read_errors++;
		return;
	}
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		unsigned char type = e->d_type;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (snprintf(path, sizeof(path), "%s%s%s", rel, *rel ? "/" : "", e->d_name) >=
		    (int)sizeof(path))
			continue;
		if (type == DT_UNKNOWN) {
			struct stat st;

			if (fstatat(rp->root_fd, path, &st, AT_SYMLINK_NOFOLLOW))
				continue;
			type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
		}
		if (e->d_name[0] == '.') { /* hidden: an archiver's file being written */
			rp->files_hidden += type == DT_REG;
			continue;
		}
		if (type == DT_DIR) {
			/* topic=<t> of a topic not selected: nothing below is wanted */
			if (!strncmp(e->d_name, "topic=", 6) && depth == 0 &&
			    archive_topic_valid(e->d_name + 6) && !topic_selected(&rp->o, e->d_name + 6))
				continue;
			if (depth < MAX_DEPTH)
				scan_dir(rp, path, depth + 1);
			continue;
		}
		if (type != DT_REG || n < 6 || strcmp(e->d_name + n - 5, ARCHIVE_SUFFIX)) {
			rp->files_ignored++;
			continue;
		}
		if (!archive_parse_path(path, topic, sizeof(topic), &raw, &hour, &partition, &first) &&
		    (!topic_selected(&rp->o, topic) || hour_outside(&rp->o, hour))) {
			rp->files_filtered++;
			continue;
		}
		consider_file(rp, path);
	}
	closedir(d);
}

/* ---- reading records in order ---- */

static void cursor_free(struct cursor *c)
{
	if (!c)
		return;
	ocf_reader_free(c->r);
	if (c->map)
		unmap_file(c->map, c->map_len);
	free(c->field_off);
	free(c->hdrs.v);
	free(c);
}

static int64_t head_event_us(const struct cursor *c)
{
	int64_t us;

	if (!c->f->raw && !archive_event_time_us(&c->f->vf, c->value, c->value_len, c->field_off,
						 &us))
		return us;
	if (c->k.has_timestamp && c->k.timestamp_ms > INT64_MIN / 1000 &&
	    c->k.timestamp_ms < INT64_MAX / 1000)
		return c->k.timestamp_ms * 1000;
	return NO_TIME;
}

static bool node_selected(const struct options *o, const struct cursor *c)
{
	const uint8_t *node = NULL, *slash;
	size_t len = 0;

	if (!o->n_nodes)
		return true;
	if (c->f->raw || archive_node(&c->f->vf, c->value, c->value_len, c->field_off, &node, &len)) {
		if (!c->k.key)
			return false;
		node = c->k.key;
		slash = memchr(node, '/', c->k.key_len);
		len = slash ? (size_t)(slash - node) : c->k.key_len;
	}
	for (int i = 0; i < o->n_nodes; i++)
		if (strlen(o->nodes[i]) == len && !memcmp(o->nodes[i], node, len))
			return true;
	return false;
}

/* Moves the cursor to its next selected record. 1 with a head, 0 at the end, -1 on an error. */
static int cursor_next(struct replay *rp, struct cursor *c)
{
	const struct options *o = &rp->o;
	char errstr[256];
	int64_t us;
	int rc;

	c->has_head = false;
	for (;;) {
		while (!c->left) {
			rc = ocf_reader_next_block(c->r, &c->left, &c->block, &c->block_len, errstr,
						   sizeof(errstr));
			if (rc <= 0)
				goto end;
			c->pos = 0;
		}
		c->left--;
		if (read_row(c->f, c->block, c->block_len, &c->pos, c->field_off, &c->k, &c->hdrs,
			     &c->value, &c->value_len, errstr, sizeof(errstr))) {
			rc = -1;
			goto end;
		}
		if (c->k.partition != c->f->partition || c->k.offset < c->f->first_offset ||
		    c->k.offset > c->f->last_offset || (c->rows && c->k.offset <= c->prev_offset)) {
			snprintf(errstr, sizeof(errstr), "partition %" PRId32 " offset %" PRId64
				 " outside the header's partition %" PRId32 ", offsets %" PRId64 "-%"
				 PRId64 ", or out of order", c->k.partition, c->k.offset,
				 c->f->partition, c->f->first_offset, c->f->last_offset);
			rc = -1;
			goto end;
		}
		c->prev_offset = c->k.offset;
		c->rows++;
		if (!c->left && c->pos != c->block_len) {
			snprintf(errstr, sizeof(errstr), "%zu bytes after a block's last datum",
				 c->block_len - c->pos);
			rc = -1;
			goto end;
		}
		us = head_event_us(c);
		if ((o->from_us != NO_TIME || o->until_us != NO_TIME) &&
		    (us == NO_TIME || (o->from_us != NO_TIME && us < o->from_us) ||
		     (o->until_us != NO_TIME && us >= o->until_us))) {
			rp->filtered_time++;
			continue;
		}
		if (!node_selected(o, c)) {
			rp->filtered_node++;
			continue;
		}
		c->pace_ms = c->k.has_timestamp ? c->k.timestamp_ms : us == NO_TIME ? NO_TIME :
			     us / 1000;
		c->has_head = true;
		return 1;
	}
end:
	if (rc < 0) {
		/* Damage inside a block, which only decoding finds. */
		fprintf(stderr, PROG ": %s/%s: record %" PRId64 ": %s: the rest of the file skipped "
			"(%" PRId64 " of its records sent)\n", o->dir, c->f->path, c->rows, errstr,
			c->sent);
		rp->files_bad++;
	}
	return rc < 0 ? -1 : 0;
}

static struct cursor *cursor_open(struct replay *rp, struct file_info *f)
{
	struct cursor *c = calloc(1, sizeof(*c));
	char errstr[256];

	if (!c || !(c->field_off = calloc(avro_skip_field_count(f->skip) + 1, sizeof(size_t)))) {
		fprintf(stderr, PROG ": out of memory\n");
		free(c);
		rp->read_errors++;
		return NULL;
	}
	c->f = f;
	if (map_file(rp, f->path, &c->map, &c->map_len, errstr, sizeof(errstr)) ||
	    ocf_reader_open(c->map, c->map_len, &c->r, errstr, sizeof(errstr))) {
		fprintf(stderr, PROG ": %s/%s: changed while replaying: %s: skipped\n", rp->o.dir,
			f->path, errstr);
		rp->read_errors++;
		cursor_free(c);
		return NULL;
	}
	return c;
}

/* Sets s->head: the open cursor with the lowest offset, opening files that may hold lower. */
static void stream_settle(struct replay *rp, struct stream *s)
{
	for (;;) {
		struct cursor *min = NULL;

		for (size_t i = 0; i < s->n_open; i++)
			if (!min || s->open[i]->k.offset < min->k.offset)
				min = s->open[i];
		if (s->next_file < s->n_files &&
		    (!min || s->files[s->next_file]->first_offset <= min->k.offset)) {
			struct cursor *c = cursor_open(rp, s->files[s->next_file++]);

			if (c && cursor_next(rp, c) > 0)
				s->open[s->n_open++] = c;
			else
				cursor_free(c);
			continue;
		}
		s->head = min;
		return;
	}
}

/* Moves past s->head's record, then past any offset already sent (a duplicate). */
static void stream_advance(struct replay *rp, struct stream *s)
{
	struct cursor *c = s->head;

	if (cursor_next(rp, c) <= 0) {
		for (size_t i = 0; i < s->n_open; i++)
			if (s->open[i] == c) {
				s->open[i] = s->open[--s->n_open];
				break;
			}
		cursor_free(c);
	}
	for (;;) {
		stream_settle(rp, s);
		if (!s->head || s->head->k.offset > s->last_sent)
			return;
		rp->duplicates++;
		c = s->head;
		if (cursor_next(rp, c) <= 0) {
			for (size_t i = 0; i < s->n_open; i++)
				if (s->open[i] == c) {
					s->open[i] = s->open[--s->n_open];
					break;
				}
			cursor_free(c);
		}
	}
}

static int cmp_files(const void *a, const void *b)
{
	const struct file_info *x = *(struct file_info *const *)a, *y = *(struct file_info *const *)b;
	int c = strcmp(x->topic, y->topic);

	if (c)
		return c;
	if (x->partition != y->partition)
		return x->partition < y->partition ? -1 : 1;
	if (x->first_offset != y->first_offset)
		return x->first_offset < y->first_offset ? -1 : 1;
	return strcmp(x->path, y->path);
}

/* Groups the files by (topic, partition) into streams, and their topics into destinations. */
static int make_streams(struct replay *rp)
{
	size_t i = 0;

	if (rp->n_files)
		qsort(rp->files, rp->n_files, sizeof(*rp->files), cmp_files);
	if (!(rp->streams = calloc(rp->n_files ? rp->n_files : 1, sizeof(*rp->streams))) ||
	    !(rp->dests = calloc(rp->n_files ? rp->n_files : 1, sizeof(*rp->dests))))
		return -ENOMEM;
	while (i < rp->n_files) {
		struct stream *s = &rp->streams[rp->n_streams++];
		struct file_info *f = rp->files[i];
		struct dest *d = rp->n_dests ? rp->dests[rp->n_dests - 1] : NULL;
		size_t j = i;

		while (j < rp->n_files && !strcmp(rp->files[j]->topic, f->topic) &&
		       rp->files[j]->partition == f->partition)
			j++;
		if (!d || strcmp(d->from, f->topic)) {
			if (!(d = calloc(1, sizeof(*d))) || !(d->from = strdup(f->topic)) ||
			    asprintf(&d->to, "%s%s", rp->o.prefix, f->topic) < 0) {
				if (d)
					free(d->from);
				free(d);
				return -ENOMEM;
			}
			rp->dests[rp->n_dests++] = d;
		}
		if (f->partition > d->max_partition)
			d->max_partition = f->partition;
		s->files = &rp->files[i];
		s->n_files = j - i;
		s->last_sent = -1;
		if (!(s->open = calloc(s->n_files, sizeof(*s->open))))
			return -ENOMEM;
		for (size_t k = i; k < j; k++)
			rp->files[k]->dest = d;
		i = j;
	}
	return 0;
}

/*
 * With --registry: the schema of each Confluent-framed file, registered under
 * <destination>-value, and the id the registry gives it. 0 or -1.
 */
static int register_schemas(struct replay *rp)
{
	char errstr[1024];

	for (size_t i = 0; i < rp->n_files; i++) {
		struct file_info *f = rp->files[i];
		uint8_t *map = NULL;
		size_t len = 0, n;
		struct ocf_reader *r = NULL;
		json_t *root = NULL, *fields;
		char *subject = NULL, *json = NULL;
		const char *schema;
		int32_t id;
		int rc = -1;

		if (f->framing != FRAMING_CONFLUENT)
			continue;
		/* The value schema is the file's minus the Kafka columns. */
		if (map_file(rp, f->path, &map, &len, errstr, sizeof(errstr)) ||
		    ocf_reader_open(map, len, &r, errstr, sizeof(errstr)))
			goto next;
		schema = ocf_reader_schema(r, &n);
		root = json_loadb(schema, n, 0, NULL);
		fields = json_object_get(root, "fields");
		for (int k = 0; k < ARCHIVE_KAFKA_FIELDS && json_array_size(fields); k++)
			json_array_remove(fields, json_array_size(fields) - 1);
		if (!(json = json_dumps(root, JSON_COMPACT)) ||
		    asprintf(&subject, "%s-value", f->dest->to) < 0) {
			snprintf(errstr, sizeof(errstr), "out of memory");
			goto next;
		}
		if (registry_register(rp->o.registry, subject, json, REGISTRY_TIMEOUT_MS, &id, errstr,
				      sizeof(errstr)))
			goto next;
		f->schema_id = id;
		rc = 0;
next:
		if (rc)
			fprintf(stderr, PROG ": --registry: %s: %s\n", f->path, errstr);
		free(subject);
		free(json);
		json_decref(root);
		ocf_reader_free(r);
		if (map)
			unmap_file(map, len);
		if (rc)
			return -1;
	}
	return 0;
}

/* Destinations must have the partitions records go to (--partition original). 0 or -1. */
static int check_destinations(struct replay *rp)
{
	for (size_t i = 0; i < rp->n_dests; i++) {
		struct dest *d = rp->dests[i];
		const struct rd_kafka_metadata *md = NULL;
		rd_kafka_resp_err_t err;

		if (!(d->rkt = rd_kafka_topic_new(rp->rk, d->to, NULL))) {
			fprintf(stderr, PROG ": topic %s: %s\n", d->to,
				rd_kafka_err2str(rd_kafka_last_error()));
			return -1;
		}
		if (!rp->o.keep_partition)
			continue;
		err = rd_kafka_metadata(rp->rk, 0, d->rkt, &md, 10000);
		if (err) {
			fprintf(stderr, PROG ": topic %s: metadata: %s\n", d->to, rd_kafka_err2str(err));
			return -1;
		}
		if (md->topic_cnt != 1 || md->topics[0].err ||
		    md->topics[0].partition_cnt <= d->max_partition) {
			fprintf(stderr, PROG ": topic %s %s, the archive of %s has partition %" PRId32
				": create it with at least %" PRId32 " partitions, or use "
				"--partition key\n", d->to,
				md->topic_cnt == 1 && !md->topics[0].err ? "has fewer partitions" :
				"does not exist", d->from, d->max_partition, d->max_partition + 1);
			rd_kafka_metadata_destroy(md);
			return -1;
		}
		rd_kafka_metadata_destroy(md);
	}
	return 0;
}

/* ---- producing ---- */

/* Waits until the monotonic time `ns`, serving delivery reports meanwhile. */
static void wait_until(struct replay *rp, int64_t ns)
{
	int64_t now;

	while (!stop && (now = clock_ns(CLOCK_MONOTONIC)) < ns) {
		int64_t left = ns - now;

		rd_kafka_poll(rp->rk, 0);
		if (left > 2000000) { /* sleep in steps, so signals and reports are served */
			struct timespec ts = { 0, left > 20000000 ? 20000000 : left - 1000000 };

			nanosleep(&ts, NULL);
		} else {
			struct timespec ts = { ns / 1000000000, ns % 1000000000 };

			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		}
	}
}

/* Sends the head of stream s. 0, or -1 when Kafka refused it for good. */
static int send_head(struct replay *rp, struct stream *s)
{
	struct cursor *c = s->head;
	struct file_info *f = c->f;
	struct dest *d = f->dest;
	rd_kafka_headers_t *hdrs = NULL;
	rd_kafka_resp_err_t err;
	const void *value = c->value;
	size_t len = c->value_len;
	int64_t ts = 0;

	if (!f->raw) { /* the framing back in front of the datum */
		size_t hdr = f->framing == FRAMING_SINGLE_OBJECT ? AVRO_SINGLE_OBJECT_HDR_LEN :
				AVRO_CONFLUENT_HDR_LEN;

		if (hdr + len > rp->value_cap) {
			size_t cap = (hdr + len) * 2;
			uint8_t *p = realloc(rp->value_buf, cap);

			if (!p)
				return -1;
			rp->value_buf = p;
			rp->value_cap = cap;
		}
		if (f->framing == FRAMING_SINGLE_OBJECT)
			avro_single_object_header(f->fingerprint, rp->value_buf);
		else
			avro_confluent_header(f->schema_id, rp->value_buf);
		memcpy(rp->value_buf + hdr, c->value, len);
		value = rp->value_buf;
		len += hdr;
	}
	if (c->k.n_headers) {
		if (!(hdrs = rd_kafka_headers_new(c->k.n_headers)))
			return -1;
		for (size_t i = 0; i < c->k.n_headers; i++) {
			const struct archive_header *h = &c->k.headers[i];

			rd_kafka_header_add(hdrs, h->name, (ssize_t)h->name_len, h->value,
					    h->value ? (ssize_t)h->value_len : 0);
		}
	}
	if (c->k.has_timestamp)
		ts = c->k.timestamp_ms + rp->shift_ms;
	for (;;) {
		err = rd_kafka_producev(rp->rk, RD_KAFKA_V_RKT(d->rkt),
					RD_KAFKA_V_PARTITION(rp->o.keep_partition ?
							     c->k.partition : RD_KAFKA_PARTITION_UA),
					RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					RD_KAFKA_V_VALUE((void *)value, value ? len : 0),
					RD_KAFKA_V_KEY(c->k.key, c->k.key ? c->k.key_len : 0),
					RD_KAFKA_V_TIMESTAMP(ts), RD_KAFKA_V_HEADERS(hdrs),
					RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || stop > 1)
			break;
		rp->queue_full_waits++; /* the local queue is full: wait for deliveries */
		rd_kafka_poll(rp->rk, 100);
	}
	if (err) {
		if (hdrs)
			rd_kafka_headers_destroy(hdrs);
		fprintf(stderr, PROG ": %s: produce: %s\n", d->to, rd_kafka_err2str(err));
		d->failed++;
		return -1;
	}
	d->sent++;
	c->sent++;
	d->raw_sent += f->raw;
	d->bytes += len + c->k.key_len;
	s->last_sent = c->k.offset;
	return 0;
}

static int replay_records(struct replay *rp)
{
	int64_t start_ns = 0, t0 = 0;
	size_t n_live = rp->n_streams;
	int rc = 0;

	for (size_t i = 0; i < rp->n_streams; i++)
		stream_settle(rp, &rp->streams[i]);
	while (!stop && n_live) {
		struct stream *best = NULL;
		int64_t pace_ms;

		n_live = 0;
		for (size_t i = 0; i < rp->n_streams; i++) {
			struct stream *s = &rp->streams[i];

			if (!s->head)
				continue;
			n_live++;
			if (!best || s->head->pace_ms < best->head->pace_ms)
				best = s;
		}
		if (!best)
			break;
		pace_ms = best->head->pace_ms;
		if (!rp->started) {
			rp->started = true;
			start_ns = clock_ns(CLOCK_MONOTONIC);
			t0 = pace_ms;
			rp->first_pace_ms = pace_ms;
			if (rp->o.shift_timestamps && pace_ms != NO_TIME)
				rp->shift_ms = clock_ms(CLOCK_REALTIME) - pace_ms;
		}
		if (rp->o.pace > 0 && pace_ms != NO_TIME && t0 != NO_TIME && pace_ms > t0)
			wait_until(rp, start_ns + (int64_t)((double)(pace_ms - t0) * 1e6 / rp->o.pace));
		if (stop)
			break;
		if (send_head(rp, best)) {
			rc = -1;
			break;
		}
		if (rp->o.pace > 0) { /* for the summary's achieved pace */
			rp->last_send_ns = clock_ns(CLOCK_MONOTONIC);
			if (!rp->first_send_ns)
				rp->first_send_ns = rp->last_send_ns;
		}
		if (pace_ms != NO_TIME)
			rp->last_pace_ms = pace_ms;
		rd_kafka_poll(rp->rk, 0);
		stream_advance(rp, best);
	}
	return rc;
}

static void print_summary(struct replay *rp, double secs)
{
	unsigned long long sent = 0, delivered = 0, failed = 0, bytes = 0;

	for (size_t i = 0; i < rp->n_dests; i++) {
		sent += rp->dests[i]->sent;
		delivered += rp->dests[i]->delivered;
		failed += rp->dests[i]->failed;
		bytes += rp->dests[i]->bytes;
	}
	printf("replayed %llu records, %llu bytes, in %.3f s (%.0f records/s): %llu delivered, "
	       "%llu failed, %llu undelivered\n", sent, bytes, secs, secs > 0 ? sent / secs : 0.0,
	       delivered, failed, sent - delivered - (failed < sent ? failed : sent));
	if (rp->o.pace > 0 && rp->last_send_ns > rp->first_send_ns &&
	    rp->last_pace_ms > rp->first_pace_ms && rp->first_pace_ms != NO_TIME) {
		double archive_s = (rp->last_pace_ms - rp->first_pace_ms) / 1000.0;
		double replay_s = (rp->last_send_ns - rp->first_send_ns) / 1e9;

		printf("pace %gx asked, %.3fx achieved: %.3f s of archive timestamps sent in %.3f s\n",
		       rp->o.pace, archive_s / replay_s, archive_s, replay_s);
	} else {
		printf("pace %s\n", rp->o.pace > 0 ? "asked, but fewer than two timestamps" :
		       "max (as fast as possible)");
	}
	if (rp->o.shift_timestamps)
		printf("timestamps shifted by %+" PRId64 " ms\n", rp->shift_ms);
	printf("files %llu read, %llu bad (skipped), %llu filtered out, %llu hidden and %llu other "
	       "files ignored\n", rp->files_read, rp->files_bad, rp->files_filtered,
	       rp->files_hidden, rp->files_ignored);
	printf("records skipped: %llu by time, %llu by node, %llu duplicate offsets\n",
	       rp->filtered_time, rp->filtered_node, rp->duplicates);
	for (size_t i = 0; i < rp->n_dests; i++) {
		struct dest *d = rp->dests[i];

		printf("topic %s -> %s: %llu records (%llu raw), %llu bytes, %llu delivered, %llu "
		       "failed\n", d->from, d->to, d->sent, d->raw_sent, d->bytes, d->delivered,
		       d->failed);
	}
	fflush(stdout);
}

static void replay_free(struct replay *rp)
{
	for (size_t i = 0; i < rp->n_streams; i++) {
		for (size_t k = 0; k < rp->streams[i].n_open; k++)
			cursor_free(rp->streams[i].open[k]);
		free(rp->streams[i].open);
	}
	free(rp->streams);
	for (size_t i = 0; i < rp->n_dests; i++) {
		if (rp->dests[i]->rkt)
			rd_kafka_topic_destroy(rp->dests[i]->rkt);
		free(rp->dests[i]->from);
		free(rp->dests[i]->to);
		free(rp->dests[i]);
	}
	free(rp->dests);
	for (size_t i = 0; i < rp->n_files; i++)
		file_info_free(rp->files[i]);
	free(rp->files);
	free(rp->value_buf);
	free(rp->o.props);
	free(rp->o.topics);
	free(rp->o.nodes);
	if (rp->root_fd >= 0)
		close(rp->root_fd);
}

int main(int argc, char **argv)
{
	struct replay rp = { .root_fd = -1 };
	struct sigaction sa = { .sa_handler = on_signal };
	rd_kafka_conf_t *conf = NULL;
	unsigned long long sent = 0, delivered = 0;
	char errstr[512];
	int64_t t_start;
	int rc = EXIT_USAGE, err;

	err = parse_args(&rp.o, argc, argv);
	if (err) {
		rc = err > 0 ? 0 : EXIT_USAGE;
		goto out;
	}
	if (!(conf = build_conf(&rp.o)))
		goto out;
	rc = 1;
	if ((rp.root_fd = open(rp.o.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		fprintf(stderr, PROG ": --dir %s: %s\n", rp.o.dir, strerror(errno));
		goto out;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	t_start = clock_ns(CLOCK_MONOTONIC);
	scan_dir(&rp, "", 0);
	fprintf(stderr, PROG ": %zu file%s to replay (%llu bad, skipped)\n", rp.n_files,
		rp.n_files == 1 ? "" : "s", rp.files_bad);
	if (make_streams(&rp)) {
		fprintf(stderr, PROG ": out of memory\n");
		goto out;
	}
	if (rp.o.registry && register_schemas(&rp))
		goto out;
	if (!(rp.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr)))) {
		fprintf(stderr, PROG ": %s\n", errstr);
		goto out;
	}
	conf = NULL;
	if (check_destinations(&rp))
		goto out;
	err = replay_records(&rp);
	/* Every record handed over gets its delivery report (librdkafka gives up after
	 * message.timeout.ms); a second signal stops waiting. */
	while (rd_kafka_outq_len(rp.rk) > 0 && stop < 2)
		rd_kafka_poll(rp.rk, 100);
	if (stop >= 2)
		rd_kafka_purge(rp.rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	rd_kafka_flush(rp.rk, 1000);
	print_summary(&rp, (clock_ns(CLOCK_MONOTONIC) - t_start) / 1e9);
	for (size_t i = 0; i < rp.n_dests; i++) {
		sent += rp.dests[i]->sent;
		delivered += rp.dests[i]->delivered;
	}
	rc = !err && !stop && delivered == sent && !rp.files_bad && !rp.read_errors ? 0 : 1;
out:
	if (conf)
		rd_kafka_conf_destroy(conf);
	replay_free(&rp);
	if (rp.rk)
		rd_kafka_destroy(rp.rk);
	return rc;
}
