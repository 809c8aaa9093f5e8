/*
 * tapio-archive: a Kafka consumer that writes Tapio topics to an archive of Avro Object Container
 * Files, partitioned Hive-style by topic, event date and hour (layout in archive_format.h and
 * README.md, "Archiving to a data lake").
 *
 * It is a consumer group member: offsets are committed only for records whose file has been
 * closed, fsynced and renamed into place, so a crash (even SIGKILL) loses nothing: the records of
 * files still open are read again after a restart, and the hidden temporary files they were going
 * to are removed. A record may thus be archived twice, never missed; the file names
 * (<partition>-<first offset>.avro) and the kafka_offset column make a duplicate visible.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "archive_format.h"
#include "avro_json.h"
#include "avro_skip.h"
#include "clock.h"
#include "ocf.h"
#include "registry_fetch.h"
#include "schema.h"
#include "tool_cli.h"

#ifndef TAPIO_VERSION
#define TAPIO_VERSION "unknown"
#endif

#define PROG "tapio-archive"
#define EXIT_USAGE 2
#define POLL_MS 100
#define TICK_MS 1000
#define BATCH 256
#define REGISTRY_TIMEOUT_MS 10000
/* How long the last commit is tried again at exit (a rebalance in progress refuses it). */
#define FINAL_COMMIT_MS 15000
/* With --until-idle S: how long beyond S to wait for the group to assign partitions. */
#define UNASSIGNED_S 60
/* Undecodable records whose reason is logged, per topic; the rest are counted. */
#define LOGGED_REASONS 5

struct options {
	const char *brokers, *dir, *group, *registry;
	char **topics;
	int n_topics;
	enum ocf_codec codec;
	int level;
	long long max_bytes, max_age_s, block_bytes, max_open, until_idle_s; /* until_idle_s -1: none */
	char **props; /* -X arguments, "name=value" */
	int n_props;
};

/* A writer schema seen on the topics, and what a file needs to be written with it. */
struct value_schema {
	enum avro_framing framing;
	uint64_t fingerprint; /* single-object */
	int32_t schema_id;    /* Confluent */
	char *table_json;     /* the file schema: value schema + the Kafka columns */
	struct avro_skip *skip;
	struct archive_value_fields fields;
	char *unusable; /* why it cannot be a table (not a record, ...): its records go raw */
};

struct topic {
	const char *name;
	unsigned long long records, value_bytes, table_rows, raw_rows, tombstones, undecodable;
	unsigned long long files, file_bytes;
	int reasons_logged;
};

/* A partition records were read from. */
struct part {
	int topic;
	int32_t partition;
	int64_t next_offset; /* after the last record stored in a file */
	int64_t committed;   /* last offset committed by us, -1 for none */
};

struct out_file {
	int topic;
	int32_t partition;
	bool raw;
	struct value_schema *vs; /* NULL for raw files */
	int64_t hour;
	int64_t first_offset, last_offset, records;
	int64_t opened_ms;
	uint64_t last_used;
	int fd, dirfd;
	char dir[512], tmp_name[128], name[64];
	struct ocf_writer *w;
};

struct archiver {
	struct options o;
	rd_kafka_t *rk;
	int root_fd;
	struct ocf_pipeline *pipeline; /* compresses and writes the blocks of every file */
	struct topic *topics;
	struct part **parts;
	size_t n_parts, cap_parts;
	struct out_file **files; /* open files, at most o.max_open */
	size_t n_files;
	struct value_schema **schemas;
	size_t n_schemas, cap_schemas;
	uint64_t embedded_fp[64];
	size_t *field_off; /* scratch for avro_skip_datum */
	size_t field_off_cap;
	struct archive_header *hdrs; /* scratch for a record's headers */
	size_t hdrs_cap;
	uint64_t use_clock;
	/* Lookup caches: most records come in runs from one partition. */
	const rd_kafka_topic_t *last_rkt;
	int last_topic;
	struct part *last_part;
	struct out_file *last_file;
	/* Counters */
	unsigned long long commits, commit_failures, temps_removed, kafka_errors;
	unsigned long long not_owned; /* records of partitions revoked before they were stored */
	rd_kafka_resp_err_t last_error; /* said once until it changes */
	/* For the summary's rate: first record read, last record stored, the final close. */
	int64_t first_record_ms, last_stored_ms, final_close_ms, last_record_ms, start_ms;
	int64_t now_ms; /* the main loop's clock, read every few records */
	bool fatal;
	bool commit_pending;
	bool assigned; /* once: --until-idle counts from then */
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
		"Usage: " PROG " -b BROKERS -d DIR [OPTION]... TOPIC...\n"
		"Archive Kafka topics (full names, e.g. tapio.kernel) as Avro Object Container Files:\n"
		"  DIR/topic=<topic>/date=YYYY-MM-DD/hour=HH/<partition>-<first offset>.avro\n"
		"one writer schema per file, by event time, each row the record's value (the Avro\n"
		"datum, copied) followed by its Kafka partition, offset, timestamp, key and headers.\n"
		"Tombstones and values in no known framing or schema go to\n"
		"  DIR/topic=<topic>/_raw/date=.../hour=HH/<partition>-<first offset>.avro\n"
		"\n"
		"  -b, --brokers LIST     bootstrap servers (default: $TAPIO_BROKERS)\n"
		"  -d, --dir DIR          the archive's root directory (created if missing)\n"
		"  -g, --group ID         consumer group (default: tapio-archive)\n"
		"      --codec C          deflate (default, level 3), deflate:LEVEL (1-9) or null\n"
		"      --max-bytes N      close a file once it holds N bytes (default 128M; K, M, G)\n"
		"      --max-age S        close a file S seconds after it was opened (default 600)\n"
		"      --block-bytes N    datum bytes per Avro block (default 64K; K, M)\n"
		"      --max-open N       files open at once (default 64); one more closes the one\n"
		"                         written to least recently\n"
		"      --registry URL     Schema Registry for values in the Confluent wire format\n"
		"                         (GET URL/schemas/ids/ID); without it they go to _raw\n"
		"      --until-idle S     stop when no record arrived for S seconds since the\n"
		"                         group assigned partitions (exit 1 when it assigned none\n"
		"                         within S + 60 seconds)\n"
		"  -X PROP=VALUE          librdkafka consumer property, e.g. -X security.protocol=ssl\n"
		"  -h, --help             print this help\n"
		"  -V, --version          print the version\n"
		"\n"
		"Offsets are committed after the files holding the records are fsynced and renamed\n"
		"into place; files being written are hidden (.<name>.<random>.tmp) and removed at the\n"
		"next start. A partition with no committed offset is read from its beginning\n"
		"(-X auto.offset.reset=latest to change that).\n"
		"\n"
		"Exit status: 0 when stopped (SIGINT, SIGTERM, --until-idle) with every file closed\n"
		"and committed, 1 on a runtime failure (a write, the registry, a commit at the end),\n"
		"2 on a usage error or a bad -X property.\n");
}

/* A number >= min with an optional K, M or G suffix (powers of 1024) when `sizes`. */
static int parse_num(const char *flag, const char *s, long long min, long long max, bool sizes,
		     long long *out)
{
	long long mult = 1;
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	if (sizes && end != s && end[0] && !end[1]) {
		switch (end[0]) {
		case 'K': case 'k': mult = 1LL << 10; end++; break;
		case 'M': case 'm': mult = 1LL << 20; end++; break;
		case 'G': case 'g': mult = 1LL << 30; end++; break;
		}
	}
	if (errno || end == s || *end || *out > max / mult || *out * mult < min || *out * mult > max)
		return usage_error("%s: \"%s\" is not a %snumber in [%lld, %lld]", flag, s,
				   sizes ? "size or " : "", min, max);
	*out *= mult;
	return 0;
}

static int parse_codec(struct options *o, const char *s)
{
	long long level;

	if (!strcmp(s, "null")) {
		o->codec = OCF_CODEC_NULL;
		return 0;
	}
	if (!strcmp(s, "deflate")) {
		o->codec = OCF_CODEC_DEFLATE;
		return 0;
	}
	if (!strncmp(s, "deflate:", 8)) {
		o->codec = OCF_CODEC_DEFLATE;
		if (parse_num("--codec deflate:LEVEL", s + 8, 1, 9, false, &level))
			return -EINVAL;
		o->level = (int)level;
		return 0;
	}
	return usage_error("--codec: \"%s\" is not null, deflate or deflate:LEVEL", s);
}

/* 0 to run, 1 when --help or --version was handled, -EINVAL on a usage error. */
static int parse_args(struct options *o, int argc, char **argv)
{
	enum { OPT_CODEC = 256, OPT_MAX_BYTES, OPT_MAX_AGE, OPT_BLOCK_BYTES, OPT_MAX_OPEN,
	       OPT_REGISTRY, OPT_UNTIL_IDLE };
	static const struct option longopts[] = {
		{ "brokers", required_argument, NULL, 'b' },
		{ "dir", required_argument, NULL, 'd' },
		{ "group", required_argument, NULL, 'g' },
		{ "codec", required_argument, NULL, OPT_CODEC },
		{ "max-bytes", required_argument, NULL, OPT_MAX_BYTES },
		{ "max-age", required_argument, NULL, OPT_MAX_AGE },
		{ "block-bytes", required_argument, NULL, OPT_BLOCK_BYTES },
		{ "max-open", required_argument, NULL, OPT_MAX_OPEN },
		{ "registry", required_argument, NULL, OPT_REGISTRY },
		{ "until-idle", required_argument, NULL, OPT_UNTIL_IDLE },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	o->brokers = getenv("TAPIO_BROKERS");
	o->group = "tapio-archive";
	o->codec = OCF_CODEC_DEFLATE;
	o->level = 3; /* ~2x the speed of zlib's default 6 for ~4 % more bytes (BENCHMARKS.md) */
	o->max_bytes = 128LL << 20;
	o->max_age_s = 600;
	o->block_bytes = 64 << 10;
	o->max_open = 64;
	o->until_idle_s = -1;
	if (!(o->props = calloc(argc, sizeof(*o->props))))
		return -ENOMEM;
	while ((opt = getopt_long(argc, argv, "b:d:g:X:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'b':
			o->brokers = optarg;
			break;
		case 'd':
			o->dir = optarg;
			break;
		case 'g':
			o->group = optarg;
			break;
		case OPT_CODEC:
			if (parse_codec(o, optarg))
				return -EINVAL;
			break;
		case OPT_MAX_BYTES:
			if (parse_num("--max-bytes", optarg, 1024, 1LL << 40, true, &o->max_bytes))
				return -EINVAL;
			break;
		case OPT_MAX_AGE:
			if (parse_num("--max-age", optarg, 1, 7 * 86400, false, &o->max_age_s))
				return -EINVAL;
			break;
		case OPT_BLOCK_BYTES:
			if (parse_num("--block-bytes", optarg, 1, 16LL << 20, true, &o->block_bytes))
				return -EINVAL;
			break;
		case OPT_MAX_OPEN:
			if (parse_num("--max-open", optarg, 1, 4096, false, &o->max_open))
				return -EINVAL;
			break;
		case OPT_REGISTRY:
			if (strncmp(optarg, "http://", 7) && strncmp(optarg, "https://", 8))
				return usage_error("--registry: \"%s\" is not an http:// or https:// URL",
						   optarg);
			o->registry = optarg;
			break;
		case OPT_UNTIL_IDLE:
			if (parse_num("--until-idle", optarg, 0, 86400 * 365, false, &o->until_idle_s))
				return -EINVAL;
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
	o->topics = argv + optind;
	o->n_topics = argc - optind;
	if (!o->n_topics)
		return usage_error("no topic given (e.g. tapio.kernel)");
	for (int i = 0; i < o->n_topics; i++) {
		if (!archive_topic_valid(o->topics[i]))
			return usage_error("\"%s\" is not a Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)",
					   o->topics[i]);
		for (int j = 0; j < i; j++)
			if (!strcmp(o->topics[i], o->topics[j]))
				return usage_error("topic %s given twice", o->topics[i]);
	}
	if (!o->brokers || !*o->brokers)
		return usage_error("no brokers: use -b LIST or set TAPIO_BROKERS");
	if (!o->dir || !*o->dir)
		return usage_error("no archive directory: use -d DIR");
	return 0;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			 rd_kafka_topic_partition_list_t *parts, void *opaque);

/* Defaults first, so that -X can override any of them. */
static rd_kafka_conf_t *build_conf(struct archiver *a)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	const struct options *o = &a->o;
	char *prop = NULL, *eq;

	if (conf_set(conf, "client.id", PROG, "client.id", "") ||
	    conf_set(conf, "group.id", o->group, "--group", o->group) ||
	    conf_set(conf, "enable.auto.commit", "false", "enable.auto.commit", "") ||
	    conf_set(conf, "enable.auto.offset.store", "false", "enable.auto.offset.store", "") ||
	    conf_set(conf, "auto.offset.reset", "earliest", "auto.offset.reset", "") ||
	    conf_set(conf, "bootstrap.servers", o->brokers, "--brokers", o->brokers))
		goto fail;
	for (int i = 0; i < o->n_props; i++) {
		eq = strchr(o->props[i], '=');
		if (!eq || eq == o->props[i]) {
			fprintf(stderr, PROG ": -X %s: expected PROP=VALUE\n", o->props[i]);
			goto fail;
		}
		if (!(prop = strndup(o->props[i], eq - o->props[i])))
			goto fail;
		if (!strcmp(prop, "enable.auto.commit") || !strcmp(prop, "enable.auto.offset.store")) {
			fprintf(stderr, PROG ": -X %s: offsets are committed only after the files "
				"are on disk; this cannot be changed\n", o->props[i]);
			goto fail;
		}
		if (conf_set(conf, prop, eq + 1, "-X", o->props[i]))
			goto fail;
		free(prop);
		prop = NULL;
	}
	rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
	rd_kafka_conf_set_opaque(conf, a);
	return conf;
fail:
	free(prop);
	rd_kafka_conf_destroy(conf);
	return NULL;
}

/* ---- files ---- */

/* mkdir -p of `rel` under the root; fsyncs each parent a directory was made in. */
static int make_dirs(struct archiver *a, const char *rel)
{
	char path[512];
	int err = 0;

	snprintf(path, sizeof(path), "%s", rel);
	for (char *p = path;; p++) {
		if (*p != '/' && *p)
			continue;
		char c = *p;

		*p = '\0';
		if (mkdirat(a->root_fd, path, 0755) == 0) {
			char *slash = strrchr(path, '/');
			int fd;

			if (slash)
				*slash = '\0';
			fd = slash ? openat(a->root_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) :
				     dup(a->root_fd);
			if (slash)
				*slash = '/';
			if (fd < 0 || fsync(fd))
				err = -errno;
			if (fd >= 0)
				close(fd);
		} else if (errno != EEXIST) {
			err = -errno;
		}
		*p = c;
		if (err || !c)
			return err;
	}
}

static void file_free(struct out_file *f)
{
	if (!f)
		return;
	ocf_writer_free(f->w);
	if (f->fd >= 0)
		close(f->fd);
	if (f->dirfd >= 0)
		close(f->dirfd);
	free(f);
}

/* Removes the file's temporary file and forgets it (on a failure). */
static void file_discard(struct out_file *f)
{
	if (f->dirfd >= 0)
		unlinkat(f->dirfd, f->tmp_name, 0);
	file_free(f);
}

static int meta_num(char *buf, size_t size, int64_t v)
{
	return snprintf(buf, size, "%" PRId64, v);
}

static struct out_file *file_open(struct archiver *a, int topic, int32_t partition, bool raw,
				  struct value_schema *vs, int64_t hour, int64_t first_offset)
{
	char part_s[16], first_s[24], last_s[ARCHIVE_NUM_WIDTH + 1], count_s[ARCHIVE_NUM_WIDTH + 1];
	char fp_s[24], archiver_s[64];
	struct ocf_meta meta[12];
	struct out_file *f;
	struct stat st_fd, st_name;
	char errstr[256];
	uint32_t rnd;
	size_t n = 0;
	int err;

	if (!(f = calloc(1, sizeof(*f)))) {
		fprintf(stderr, PROG ": out of memory\n");
		return NULL;
	}
	f->fd = f->dirfd = -1;
	f->topic = topic;
	f->partition = partition;
	f->raw = raw;
	f->vs = vs;
	f->hour = hour;
	f->first_offset = f->last_offset = first_offset;
	f->opened_ms = clock_ms(CLOCK_MONOTONIC);
	if ((err = archive_dir(f->dir, sizeof(f->dir), a->topics[topic].name, raw, hour)) ||
	    (err = archive_file_name(f->name, sizeof(f->name), partition, first_offset))) {
		fprintf(stderr, PROG ": %s: no directory for hour %" PRId64 ": %s\n",
			a->topics[topic].name, hour, strerror(-err));
		goto fail;
	}
	if ((err = make_dirs(a, f->dir))) {
		fprintf(stderr, PROG ": %s/%s: %s\n", a->o.dir, f->dir, strerror(-err));
		goto fail;
	}
	if ((f->dirfd = openat(a->root_fd, f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		fprintf(stderr, PROG ": %s/%s: %s\n", a->o.dir, f->dir, strerror(errno));
		goto fail;
	}
	/* Hidden until it is complete; locked so that another archiver's start leaves it alone,
	 * and checked after locking, in case one removed it in between. */
	for (int tries = 0;; tries++) {
		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			rnd = (uint32_t)rand();
		snprintf(f->tmp_name, sizeof(f->tmp_name), ".%s.%08" PRIx32 ".tmp", f->name, rnd);
		f->fd = openat(f->dirfd, f->tmp_name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (f->fd < 0) {
			if (errno == EEXIST && tries < 8)
				continue;
			fprintf(stderr, PROG ": %s/%s/%s: %s\n", a->o.dir, f->dir, f->tmp_name,
				strerror(errno));
			goto fail;
		}
		if (flock(f->fd, LOCK_EX) == 0 && fstat(f->fd, &st_fd) == 0 &&
		    fstatat(f->dirfd, f->tmp_name, &st_name, 0) == 0 && st_fd.st_ino == st_name.st_ino)
			break;
		close(f->fd);
		f->fd = -1;
		if (tries >= 8) {
			fprintf(stderr, PROG ": %s/%s/%s: cannot lock it\n", a->o.dir, f->dir,
				f->tmp_name);
			goto fail;
		}
	}
	snprintf(part_s, sizeof(part_s), "%" PRId32, partition);
	meta_num(first_s, sizeof(first_s), first_offset);
	archive_format_num(last_s, first_offset);
	archive_format_num(count_s, 0);
	snprintf(archiver_s, sizeof(archiver_s), PROG " %s", TAPIO_VERSION);
#define META(k, v) (meta[n++] = (struct ocf_meta){ (k), (v), strlen(v) })
	META(ARCHIVE_META_VERSION, ARCHIVE_VERSION);
	META(ARCHIVE_META_CONTENT, raw ? "raw" : "table");
	META(ARCHIVE_META_TOPIC, a->topics[topic].name);
	META(ARCHIVE_META_PARTITION, part_s);
	META(ARCHIVE_META_OFFSET_FIRST, first_s);
	META(ARCHIVE_META_OFFSET_LAST, last_s);
	META(ARCHIVE_META_RECORDS, count_s);
	META(ARCHIVE_META_ARCHIVER, archiver_s);
	if (vs && vs->framing == AVRO_FRAMING_SINGLE_OBJECT) {
		META(ARCHIVE_META_FRAMING, "single-object");
		snprintf(fp_s, sizeof(fp_s), "%016" PRIx64, vs->fingerprint);
		META(ARCHIVE_META_FINGERPRINT, fp_s);
	} else if (vs) {
		META(ARCHIVE_META_FRAMING, "confluent");
		meta_num(fp_s, sizeof(fp_s), vs->schema_id);
		META(ARCHIVE_META_SCHEMA_ID, fp_s);
	}
#undef META
	if ((err = ocf_writer_open(f->fd, vs ? vs->table_json : archive_raw_schema, a->o.codec,
				   a->o.level, (size_t)a->o.block_bytes, meta, n, a->pipeline, &f->w,
				   errstr, sizeof(errstr)))) {
		fprintf(stderr, PROG ": %s/%s/%s: %s\n", a->o.dir, f->dir, f->tmp_name, errstr);
		goto fail;
	}
	return f;
fail:
	file_discard(f);
	return NULL;
}

/*
 * Completes the file: the last block, the offset range and count in its header, fsync, rename
 * into place, fsync of the directory. 0, or -errno (the temporary file is then removed).
 */
static int file_close(struct archiver *a, struct out_file *f)
{
	char last_s[ARCHIVE_NUM_WIDTH + 1], count_s[ARCHIVE_NUM_WIDTH + 1];
	struct ocf_meta patch[2];
	const char *step = "write";
	int err;

	archive_format_num(last_s, f->last_offset);
	archive_format_num(count_s, f->records);
	patch[0] = (struct ocf_meta){ ARCHIVE_META_OFFSET_LAST, last_s, ARCHIVE_NUM_WIDTH };
	patch[1] = (struct ocf_meta){ ARCHIVE_META_RECORDS, count_s, ARCHIVE_NUM_WIDTH };
	if ((err = ocf_writer_finish(f->w, patch, 2)))
		goto fail;
	step = "fsync";
	if (fsync(f->fd)) {
		err = -errno;
		goto fail;
	}
	step = "rename";
	if (renameat(f->dirfd, f->tmp_name, f->dirfd, f->name)) {
		err = -errno;
		goto fail;
	}
	step = "fsync of the directory";
	if (fsync(f->dirfd)) {
		err = -errno;
		goto fail;
	}
	a->topics[f->topic].files++;
	a->topics[f->topic].file_bytes += ocf_writer_file_bytes(f->w);
	file_free(f);
	return 0;
fail:
	fprintf(stderr, PROG ": %s/%s/%s: %s: %s\n", a->o.dir, f->dir, f->tmp_name, step,
		strerror(-err));
	file_discard(f);
	return err;
}

/* ---- partitions and commits ---- */

static struct part *part_find(struct archiver *a, int topic, int32_t partition)
{
	for (size_t i = 0; i < a->n_parts; i++)
		if (a->parts[i]->topic == topic && a->parts[i]->partition == partition)
			return a->parts[i];
	return NULL;
}

static struct part *part_get(struct archiver *a, int topic, int32_t partition)
{
	struct part *p = part_find(a, topic, partition);

	if (p)
		return p;
	if (a->n_parts == a->cap_parts) {
		size_t cap = a->cap_parts ? 2 * a->cap_parts : 16;
		struct part **v = realloc(a->parts, cap * sizeof(*v));

		if (!v)
			return NULL;
		a->parts = v;
		a->cap_parts = cap;
	}
	if (!(p = calloc(1, sizeof(*p))))
		return NULL;
	p->topic = topic;
	p->partition = partition;
	p->next_offset = -1;
	p->committed = -1;
	a->parts[a->n_parts++] = p;
	return p;
}

/* The offset a partition may commit: the first record not yet in a closed file. */
static int64_t commit_point(const struct archiver *a, const struct part *p)
{
	int64_t at = p->next_offset;

	for (size_t i = 0; i < a->n_files; i++) {
		const struct out_file *f = a->files[i];

		if (f->topic == p->topic && f->partition == p->partition && f->first_offset < at)
			at = f->first_offset;
	}
	return at;
}

/*
 * Commits, synchronously, every partition (of topic `only_topic` / partition `only_partition`
 * when >= 0) whose commit point moved. 0, or -1 when the commit failed (retried later).
 */
static int commit(struct archiver *a, int only_topic, int32_t only_partition)
{
	rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(4);
	rd_kafka_resp_err_t err;
	int rc = 0;

	if (!list)
		return -1;
	for (size_t i = 0; i < a->n_parts; i++) {
		struct part *p = a->parts[i];
		int64_t at = commit_point(a, p);

		if (only_topic >= 0 && (p->topic != only_topic || p->partition != only_partition))
			continue;
		if (at > p->committed && at >= 0)
			rd_kafka_topic_partition_list_add(list, a->topics[p->topic].name,
							  p->partition)->offset = at;
	}
	if (list->cnt) {
		err = rd_kafka_commit(a->rk, list, 0);
		/* A partition-level error fails that partition only. */
		for (int i = 0; !err && i < list->cnt; i++)
			if (list->elems[i].err)
				err = list->elems[i].err;
		if (err) {
			a->commit_failures++;
			a->commit_pending = true;
			if (err != a->last_error)
				fprintf(stderr, PROG ": commit: %s (retried; the records are in "
					"their files already)\n", rd_kafka_err2str(err));
			a->last_error = err;
			rc = -1;
		} else {
			a->commits++;
			for (int i = 0; i < list->cnt; i++) {
				int t = -1;

				for (int k = 0; k < a->o.n_topics; k++)
					if (!strcmp(a->topics[k].name, list->elems[i].topic))
						t = k;
				struct part *p = part_find(a, t, list->elems[i].partition);

				if (p)
					p->committed = list->elems[i].offset;
			}
		}
	}
	if (!rc && only_topic < 0)
		a->commit_pending = false;
	rd_kafka_topic_partition_list_destroy(list);
	return rc;
}

/* Closes open file i (and forgets it); on a failure stops the run. */
static void close_file_at(struct archiver *a, size_t i)
{
	struct out_file *f = a->files[i];
	struct part *p = part_find(a, f->topic, f->partition);
	int64_t first = f->first_offset;

	a->files[i] = a->files[--a->n_files];
	if (a->last_file == f)
		a->last_file = NULL;
	if (file_close(a, f)) {
		/* Its records must be read again: hold the partition's commit before them. */
		if (p && p->next_offset > first)
			p->next_offset = first;
		a->fatal = true;
	}
}

/* Closes the files matching (topic, partition), any when topic < 0, then commits. */
static void close_files(struct archiver *a, int topic, int32_t partition)
{
	for (size_t i = a->n_files; i-- > 0;)
		if (topic < 0 || (a->files[i]->topic == topic && a->files[i]->partition == partition))
			close_file_at(a, i);
}

/* Assigns or unassigns `parts` as the group's protocol wants (eager: the whole assignment). */
static void set_assignment(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, bool add)
{
	rd_kafka_error_t *error = NULL;
	rd_kafka_resp_err_t err;

	if (!strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE")) {
		error = add ? rd_kafka_incremental_assign(rk, parts) :
			      rd_kafka_incremental_unassign(rk, parts);
		if (error) {
			fprintf(stderr, PROG ": %s: %s\n", add ? "assign" : "unassign",
				rd_kafka_error_string(error));
			rd_kafka_error_destroy(error);
		}
		return;
	}
	if ((err = rd_kafka_assign(rk, add ? parts : NULL)))
		fprintf(stderr, PROG ": %s: %s\n", add ? "assign" : "unassign", rd_kafka_err2str(err));
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			 rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct archiver *a = opaque;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		fprintf(stderr, PROG ": assigned %d partition%s\n", parts->cnt,
			parts->cnt == 1 ? "" : "s");
		/* The partitions we own from now on: records of others are not ours to store. */
		for (int i = 0; i < parts->cnt; i++)
			for (int t = 0; t < a->o.n_topics; t++)
				if (!strcmp(a->topics[t].name, parts->elems[i].topic) &&
				    !part_get(a, t, parts->elems[i].partition))
					a->fatal = true; /* out of memory */
		set_assignment(rk, parts, true);
		a->last_record_ms = clock_ms(CLOCK_MONOTONIC); /* --until-idle counts from here */
		a->assigned = true;
		return;
	}
	/* Revoked (or an error): finish what we hold for those partitions before another
	 * member starts from their committed offsets. */
	for (int i = 0; i < parts->cnt; i++)
		for (int t = 0; t < a->o.n_topics; t++)
			if (!strcmp(a->topics[t].name, parts->elems[i].topic))
				close_files(a, t, parts->elems[i].partition);
	if (rd_kafka_assignment_lost(rk) || commit(a, -1, -1))
		fprintf(stderr, PROG ": the offsets of the partitions given up could not be committed: "
			"their next owner archives their last records again (duplicates, never "
			"gaps)\n");
	for (size_t i = a->n_parts; i-- > 0;) {
		struct part *p = a->parts[i];

		for (int k = 0; k < parts->cnt; k++)
			if (p->partition == parts->elems[k].partition &&
			    !strcmp(a->topics[p->topic].name, parts->elems[k].topic)) {
				a->parts[i] = a->parts[--a->n_parts];
				if (a->last_part == p)
					a->last_part = NULL;
				free(p);
				break;
			}
	}
	set_assignment(rk, parts, false);
}

/* ---- schemas ---- */

static struct value_schema *schema_add(struct archiver *a, enum avro_framing framing,
				       uint64_t fingerprint, int32_t id, const char *json,
				       size_t len, const char *unusable_why)
{
	struct value_schema *vs;
	char errstr[256] = "";
	size_t nf;

	if (a->n_schemas == a->cap_schemas) {
		size_t cap = a->cap_schemas ? 2 * a->cap_schemas : 8;
		struct value_schema **v = realloc(a->schemas, cap * sizeof(*v));

		if (!v)
			return NULL;
		a->schemas = v;
		a->cap_schemas = cap;
	}
	if (!(vs = calloc(1, sizeof(*vs))))
		return NULL;
	vs->framing = framing;
	vs->fingerprint = fingerprint;
	vs->schema_id = id;
	if (unusable_why) {
		vs->unusable = strdup(unusable_why);
	} else if (avro_skip_compile(json, len, &vs->skip, errstr, sizeof(errstr)) ||
		   archive_table_schema(json, len, &vs->table_json, errstr, sizeof(errstr))) {
		vs->unusable = strdup(errstr);
	} else {
		archive_value_fields(vs->skip, &vs->fields);
		nf = avro_skip_field_count(vs->skip) + 1;
		if (nf > a->field_off_cap) {
			size_t *p = realloc(a->field_off, nf * sizeof(*p));

			if (!p)
				vs->unusable = strdup("out of memory");
			else {
				a->field_off = p;
				a->field_off_cap = nf;
			}
		}
	}
	a->schemas[a->n_schemas++] = vs;
	return vs;
}

/*
 * The schema a framed value was written with: NULL only on a failure that must stop the run
 * (the registry cannot be reached); a schema whose `unusable` is set sends the record to _raw.
 */
static struct value_schema *schema_for(struct archiver *a, const struct avro_frame *fr)
{
	char errstr[512], why[600];
	char *json = NULL;
	int err;

	for (size_t i = 0; i < a->n_schemas; i++) {
		struct value_schema *vs = a->schemas[i];

		if (vs->framing == fr->framing && (fr->framing == AVRO_FRAMING_SINGLE_OBJECT ?
						   vs->fingerprint == fr->fingerprint :
						   vs->schema_id == (int32_t)fr->schema_id))
			return vs;
	}
	if (fr->framing == AVRO_FRAMING_SINGLE_OBJECT) {
		for (size_t i = 0; i < tapio_schema_count && i < 64; i++)
			if (a->embedded_fp[i] == fr->fingerprint)
				return schema_add(a, fr->framing, fr->fingerprint, 0,
						  tapio_schemas[i].json, tapio_schemas[i].json_len,
						  NULL);
		snprintf(why, sizeof(why), "unknown schema fingerprint %016" PRIx64, fr->fingerprint);
		return schema_add(a, fr->framing, fr->fingerprint, 0, NULL, 0, why);
	}
	if (!a->o.registry) {
		snprintf(why, sizeof(why), "Confluent schema id %" PRIu32 ": no --registry given",
			 fr->schema_id);
		return schema_add(a, fr->framing, 0, (int32_t)fr->schema_id, NULL, 0, why);
	}
	err = registry_fetch_schema(a->o.registry, (int32_t)fr->schema_id, REGISTRY_TIMEOUT_MS,
				    &json, errstr, sizeof(errstr));
	if (err == -ENOENT || err == -EINVAL) {
		snprintf(why, sizeof(why), "Confluent schema id %" PRIu32 ": %s", fr->schema_id,
			 errstr);
		return schema_add(a, fr->framing, 0, (int32_t)fr->schema_id, NULL, 0, why);
	}
	if (err) {
		fprintf(stderr, PROG ": %s: stopping; the record and those after it are read "
			"again at the next start\n", errstr);
		return NULL;
	}
	struct value_schema *vs = schema_add(a, fr->framing, 0, (int32_t)fr->schema_id, json,
					     strlen(json), NULL);
	free(json);
	return vs;
}

/* ---- records ---- */

static struct out_file *file_for(struct archiver *a, int topic, int32_t partition, bool raw,
				 struct value_schema *vs, int64_t hour, int64_t offset)
{
	struct out_file *f = a->last_file, **v;
	size_t lru = 0;

	if (f && f->topic == topic && f->partition == partition && f->raw == raw && f->vs == vs &&
	    f->hour == hour)
		return f;
	for (size_t i = 0; i < a->n_files; i++) {
		f = a->files[i];
		if (f->topic == topic && f->partition == partition && f->raw == raw && f->vs == vs &&
		    f->hour == hour)
			return a->last_file = f;
		if (f->last_used < a->files[lru]->last_used)
			lru = i;
	}
	if (a->n_files == (size_t)a->o.max_open) {
		struct out_file *old = a->files[lru];
		int t = old->topic;
		int32_t p = old->partition;

		close_file_at(a, lru);
		if (a->fatal)
			return NULL;
		commit(a, t, p);
	}
	if (!a->files) {
		if (!(v = calloc((size_t)a->o.max_open, sizeof(*v))))
			return NULL;
		a->files = v;
	}
	if (!(f = file_open(a, topic, partition, raw, vs, hour, offset)))
		return NULL;
	a->files[a->n_files++] = f;
	return a->last_file = f;
}

/* Appends one row; closes the file when it reached --max-bytes. 0, or -1 to stop. */
static int append(struct archiver *a, struct out_file *f, const uint8_t *datum, size_t datum_len,
		  const struct archive_kafka *k, const uint8_t *raw_value, size_t raw_len,
		  const char *reason)
{
	size_t max = datum_len + archive_kafka_max_size(k), n = 0;
	uint8_t *out;
	int err;

	if (f->raw)
		max += raw_len + strlen(reason) + 3 * AVRO_LONG_MAX_BYTES;
	if (!(out = ocf_writer_reserve(f->w, max))) {
		fprintf(stderr, PROG ": out of memory\n");
		return -1;
	}
	if (datum_len)
		memcpy(out, datum, datum_len);
	n = datum_len;
	n += archive_kafka_encode(out + n, k);
	if (f->raw) {
		if (raw_value) {
			out[n++] = 2;
			n += avro_write_long(out + n, (int64_t)raw_len);
			memcpy(out + n, raw_value, raw_len);
			n += raw_len;
		} else {
			out[n++] = 0;
		}
		n += avro_write_long(out + n, (int64_t)strlen(reason));
		memcpy(out + n, reason, strlen(reason));
		n += strlen(reason);
	}
	if ((err = ocf_writer_commit(f->w, n))) {
		fprintf(stderr, PROG ": %s/%s/%s: write: %s\n", a->o.dir, f->dir, f->tmp_name,
			strerror(-err));
		for (size_t i = 0; i < a->n_files; i++)
			if (a->files[i] == f) {
				a->files[i] = a->files[--a->n_files];
				break;
			}
		if (a->last_file == f)
			a->last_file = NULL;
		struct part *p = part_find(a, f->topic, f->partition);

		if (p && p->next_offset > f->first_offset)
			p->next_offset = f->first_offset;
		file_discard(f);
		return -1;
	}
	if (f->records == 0 || k->offset > f->last_offset)
		f->last_offset = k->offset;
	f->records++;
	f->last_used = ++a->use_clock;
	if (ocf_writer_file_bytes(f->w) + ocf_writer_buffered_bytes(f->w) >=
	    (uint64_t)a->o.max_bytes) {
		int t = f->topic;
		int32_t p = f->partition;

		for (size_t i = 0; i < a->n_files; i++)
			if (a->files[i] == f) {
				close_file_at(a, i);
				break;
			}
		if (a->fatal)
			return -1;
		commit(a, t, p);
	}
	return 0;
}

static int topic_index(struct archiver *a, const rd_kafka_message_t *m)
{
	const char *name;

	if (m->rkt == a->last_rkt)
		return a->last_topic;
	name = rd_kafka_topic_name(m->rkt);
	for (int i = 0; i < a->o.n_topics; i++)
		if (!strcmp(a->topics[i].name, name)) {
			a->last_rkt = m->rkt;
			return a->last_topic = i;
		}
	return -1;
}

/* The record's headers as archive_headers, in a->hdrs. -1 when out of memory. */
static int collect_headers(struct archiver *a, const rd_kafka_message_t *m, size_t *n)
{
	rd_kafka_headers_t *hdrs;
	const void *val;
	const char *name;
	size_t size;

	*n = 0;
	if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return 0;
	for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); i++) {
		if (*n == a->hdrs_cap) {
			size_t cap = a->hdrs_cap ? 2 * a->hdrs_cap : 8;
			struct archive_header *p = realloc(a->hdrs, cap * sizeof(*p));

			if (!p)
				return -1;
			a->hdrs = p;
			a->hdrs_cap = cap;
		}
		a->hdrs[(*n)++] = (struct archive_header){ name, strlen(name), val, val ? size : 0 };
	}
	return 0;
}

static void log_reason(struct topic *t, const rd_kafka_message_t *m, const char *why)
{
	if (t->reasons_logged >= LOGGED_REASONS)
		return;
	fprintf(stderr, PROG ": %s [%" PRId32 "] offset %" PRId64 ": %s: archived in %s%s\n",
		t->name, m->partition, m->offset, why, ARCHIVE_RAW_DIR,
		++t->reasons_logged == LOGGED_REASONS ? " (further ones are only counted)" : "");
}

/* Archives one record. 0, or -1 to stop the run. */
static int archive_record(struct archiver *a, const rd_kafka_message_t *m)
{
	rd_kafka_timestamp_type_t tstype;
	struct archive_kafka k = { 0 };
	struct value_schema *vs = NULL;
	struct out_file *f;
	struct avro_frame fr;
	struct topic *t;
	struct part *p;
	char why[512] = "";
	int64_t us, ts;
	size_t used, nh;
	int ti = topic_index(a, m);

	if (ti < 0)
		return 0; /* not subscribed: cannot happen */
	t = &a->topics[ti];
	p = a->last_part;
	if (!p || p->topic != ti || p->partition != m->partition) {
		/* A record fetched before its partition was revoked (it came in the same batch as
		 * the rebalance): its new owner reads it. */
		if (!(p = part_find(a, ti, m->partition))) {
			a->not_owned++;
			return 0;
		}
		a->last_part = p;
	}
	if (collect_headers(a, m, &nh)) {
		fprintf(stderr, PROG ": out of memory\n");
		return -1;
	}
	ts = rd_kafka_message_timestamp(m, &tstype);
	k.partition = m->partition;
	k.offset = m->offset;
	k.has_timestamp = tstype != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
	k.timestamp_ms = ts;
	k.key = m->key;
	k.key_len = m->key ? m->key_len : 0;
	k.headers = a->hdrs;
	k.n_headers = nh;

	if (!m->payload) {
		snprintf(why, sizeof(why), "tombstone");
	} else if (avro_frame_parse(m->payload, m->len, &fr, why, sizeof(why))) {
		/* why says it */
	} else if (!(vs = schema_for(a, &fr))) {
		return -1;
	} else if (vs->unusable) {
		snprintf(why, sizeof(why), "%s", vs->unusable);
	} else if (avro_skip_datum(vs->skip, fr.datum, fr.datum_len, &used, a->field_off, why,
				   sizeof(why))) {
		/* why says it */
	} else if (used != fr.datum_len) {
		snprintf(why, sizeof(why), "%zu bytes after the datum", fr.datum_len - used);
	}
	if (why[0]) {
		/* A raw row, at the hour of its Kafka timestamp. */
		vs = NULL;
		us = k.has_timestamp && ts > -INT64_MAX / 1000 && ts < INT64_MAX / 1000 ?
			     ts * 1000 : clock_us(CLOCK_REALTIME);
		if (m->payload) {
			t->undecodable++;
			log_reason(t, m, why);
		} else {
			t->tombstones++;
		}
	} else if (archive_event_time_us(&vs->fields, fr.datum, fr.datum_len, a->field_off, &us)) {
		us = k.has_timestamp && ts > -INT64_MAX / 1000 && ts < INT64_MAX / 1000 ?
			     ts * 1000 : clock_us(CLOCK_REALTIME);
	}
	if (!archive_hour_valid(archive_hour_of_us(us))) /* no directory can name it */
		us = k.has_timestamp && ts > -INT64_MAX / 1000 && ts < INT64_MAX / 1000 &&
		     archive_hour_valid(archive_hour_of_us(ts * 1000)) ? ts * 1000 : clock_us(CLOCK_REALTIME);
	if (!(f = file_for(a, ti, m->partition, !vs, vs, archive_hour_of_us(us), m->offset)))
		return -1;
	if (append(a, f, vs ? fr.datum : NULL, vs ? fr.datum_len : 0, &k, m->payload, m->len, why))
		return -1;
	t->records++;
	t->value_bytes += m->len;
	if (vs)
		t->table_rows++;
	else
		t->raw_rows++;
	/* Offsets only grow within an assignment; a re-read after a rebalance starts lower. */
	p->next_offset = m->offset + 1;
	a->last_stored_ms = a->now_ms;
	if (!a->first_record_ms)
		a->first_record_ms = a->last_stored_ms;
	return 0;
}

static void on_kafka_error(struct archiver *a, const rd_kafka_message_t *m)
{
	char errstr[512];

	if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
		return;
	a->kafka_errors++;
	if (m->err != a->last_error)
		fprintf(stderr, PROG ": %s%s%s\n", m->rkt ? rd_kafka_topic_name(m->rkt) : "",
			m->rkt ? ": " : "", rd_kafka_message_errstr(m));
	a->last_error = m->err;
	if (rd_kafka_fatal_error(a->rk, errstr, sizeof(errstr))) {
		fprintf(stderr, PROG ": fatal Kafka error: %s\n", errstr);
		a->fatal = true;
	}
}

/* Removes the temporary files of archivers that died (a live one holds a lock on its own). */
static void remove_stale_temps(struct archiver *a, int dirfd, int depth)
{
	struct dirent *e;
	DIR *d;

	if (depth > 8 || !(d = fdopendir(dirfd))) {
		close(dirfd);
		return;
	}
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		int fd;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (e->d_type == DT_UNKNOWN) { /* some file systems do not say */
			struct stat st;

			if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW))
				continue;
			e->d_type = S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
		}
		if (e->d_type == DT_DIR) {
			fd = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
			if (fd >= 0)
				remove_stale_temps(a, fd, depth + 1);
			continue;
		}
		if (e->d_name[0] != '.' || n < 4 || strcmp(e->d_name + n - 4, ".tmp") ||
		    !strstr(e->d_name, ARCHIVE_SUFFIX "."))
			continue;
		fd = openat(dirfd, e->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 && unlinkat(dirfd, e->d_name, 0) == 0)
			a->temps_removed++;
		close(fd);
	}
	closedir(d);
}

static void print_summary(struct archiver *a)
{
	unsigned long long records = 0, files = 0, bytes = 0;
	double secs = a->first_record_ms ?
		(a->last_stored_ms - a->first_record_ms + a->final_close_ms) / 1000.0 : 0;

	for (int i = 0; i < a->o.n_topics; i++) {
		records += a->topics[i].records;
		files += a->topics[i].files;
		bytes += a->topics[i].file_bytes;
	}
	printf("archived %llu records in %.3f s (%.0f records/s): first record read to last "
	       "stored, plus the final close and commit (%.3f s)\n", records, secs,
	       secs > 0 ? records / secs : 0.0, a->final_close_ms / 1000.0);
	printf("files %llu written, %llu bytes (%.1f bytes/record)\n", files, bytes,
	       records ? (double)bytes / records : 0.0);
	for (int i = 0; i < a->o.n_topics; i++) {
		struct topic *t = &a->topics[i];

		printf("topic %s: %llu records (%llu value bytes), %llu table rows, %llu raw rows "
		       "(%llu tombstones, %llu undecodable), %llu files, %llu bytes\n", t->name,
		       t->records, t->value_bytes, t->table_rows, t->raw_rows, t->tombstones,
		       t->undecodable, t->files, t->file_bytes);
	}
	printf("commits %llu done, %llu failed; kafka errors %llu; stale temporary files removed "
	       "%llu; records left to a partition's new owner %llu\n", a->commits,
	       a->commit_failures, a->kafka_errors, a->temps_removed, a->not_owned);
	fflush(stdout);
}

static void archiver_free(struct archiver *a)
{
	for (size_t i = 0; i < a->n_files; i++)
		file_discard(a->files[i]);
	free(a->files);
	ocf_pipeline_free(a->pipeline); /* after its writers */
	for (size_t i = 0; i < a->n_parts; i++)
		free(a->parts[i]);
	free(a->parts);
	for (size_t i = 0; i < a->n_schemas; i++) {
		avro_skip_free(a->schemas[i]->skip);
		free(a->schemas[i]->table_json);
		free(a->schemas[i]->unusable);
		free(a->schemas[i]);
	}
	free(a->schemas);
	free(a->field_off);
	free(a->hdrs);
	free(a->topics);
	free(a->o.props);
	if (a->root_fd >= 0)
		close(a->root_fd);
}

static int run(struct archiver *a)
{
	rd_kafka_topic_partition_list_t *subs;
	rd_kafka_resp_err_t err;
	rd_kafka_message_t *m, *batch[BATCH];
	rd_kafka_queue_t *queue;
	int64_t now, next_tick;
	int rc = 0;

	if (!(subs = rd_kafka_topic_partition_list_new(a->o.n_topics)))
		return 1;
	for (int i = 0; i < a->o.n_topics; i++)
		rd_kafka_topic_partition_list_add(subs, a->o.topics[i], RD_KAFKA_PARTITION_UA);
	err = rd_kafka_subscribe(a->rk, subs);
	rd_kafka_topic_partition_list_destroy(subs);
	if (err) {
		fprintf(stderr, PROG ": subscribe: %s\n", rd_kafka_err2str(err));
		return 1;
	}
	queue = rd_kafka_queue_get_consumer(a->rk);
	a->start_ms = a->last_record_ms = now = clock_ms(CLOCK_MONOTONIC);
	next_tick = a->start_ms + TICK_MS;
	while (!stop && !a->fatal) {
		/* In batches: one queue operation for up to BATCH records (a rebalance in the queue
		 * runs its callback inside the call). */
		ssize_t n = rd_kafka_consume_batch_queue(queue, POLL_MS, batch, BATCH);

		a->now_ms = now = clock_ms(CLOCK_MONOTONIC);
		for (ssize_t i = 0; i < n; i++) {
			if (batch[i]->err) {
				on_kafka_error(a, batch[i]);
			} else if (!a->fatal) {
				a->last_record_ms = now;
				if (archive_record(a, batch[i]))
					a->fatal = true;
			}
			rd_kafka_message_destroy(batch[i]);
		}
		if (now >= next_tick) {
			for (size_t i = a->n_files; i-- > 0 && !a->fatal;)
				if (now - a->files[i]->opened_ms >= a->o.max_age_s * 1000)
					close_file_at(a, i);
			if (!a->fatal)
				commit(a, -1, -1);
			next_tick = now + TICK_MS;
		}
		if (a->o.until_idle_s >= 0 && a->assigned &&
		    now - a->last_record_ms >= a->o.until_idle_s * 1000) {
			fprintf(stderr, PROG ": nothing arrived for %lld s: stopping\n",
				a->o.until_idle_s);
			break;
		}
		if (a->o.until_idle_s >= 0 && !a->assigned &&
		    now - a->start_ms >= (a->o.until_idle_s + UNASSIGNED_S) * 1000) {
			fprintf(stderr, PROG ": no partitions assigned in %lld s: stopping\n",
				a->o.until_idle_s + UNASSIGNED_S);
			a->fatal = true;
		}
	}
	/* Whatever stopped us: close what is complete, commit it. A rebalance in progress refuses
	 * commits for a moment: serve it and try again. Records read meanwhile are not stored (nor
	 * committed): the next run reads them. */
	now = clock_ms(CLOCK_MONOTONIC);
	close_files(a, -1, -1);
	for (int64_t end = now + FINAL_COMMIT_MS; commit(a, -1, -1) || a->commit_pending;) {
		if (clock_ms(CLOCK_MONOTONIC) >= end) {
			fprintf(stderr, PROG ": the last commit failed: the records since the last one "
				"that succeeded are archived again by the next run (duplicates, never "
				"gaps)\n");
			rc = 1;
			break;
		}
		if ((m = rd_kafka_consumer_poll(a->rk, 200)))
			rd_kafka_message_destroy(m);
	}
	a->final_close_ms = clock_ms(CLOCK_MONOTONIC) - now;
	rd_kafka_queue_destroy(queue);
	return rc || a->fatal ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct archiver a = { .root_fd = -1 };
	struct sigaction sa = { .sa_handler = on_signal };
	rd_kafka_conf_t *conf;
	char errstr[512];
	int rc = EXIT_USAGE, err;

	err = parse_args(&a.o, argc, argv);
	if (err) {
		rc = err > 0 ? 0 : EXIT_USAGE;
		goto out;
	}
	if (!(conf = build_conf(&a)))
		goto out;
	rc = 1;
	if (mkdir(a.o.dir, 0755) && errno != EEXIST) {
		fprintf(stderr, PROG ": --dir %s: %s\n", a.o.dir, strerror(errno));
		rd_kafka_conf_destroy(conf);
		goto out;
	}
	if ((a.root_fd = open(a.o.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		fprintf(stderr, PROG ": --dir %s: %s\n", a.o.dir, strerror(errno));
		rd_kafka_conf_destroy(conf);
		goto out;
	}
	if (!(a.topics = calloc(a.o.n_topics, sizeof(*a.topics)))) {
		rd_kafka_conf_destroy(conf);
		goto out;
	}
	for (int i = 0; i < a.o.n_topics; i++)
		a.topics[i].name = a.o.topics[i];
	for (size_t i = 0; i < tapio_schema_count && i < 64; i++)
		if (schema_fingerprint(tapio_schemas[i].json, &a.embedded_fp[i], errstr,
				       sizeof(errstr))) {
			fprintf(stderr, PROG ": embedded schema %s: %s\n", tapio_schemas[i].name,
				errstr);
			rd_kafka_conf_destroy(conf);
			goto out;
		}
	if ((err = ocf_pipeline_new(&a.pipeline))) {
		fprintf(stderr, PROG ": cannot start the block writer thread: %s\n", strerror(-err));
		rd_kafka_conf_destroy(conf);
		goto out;
	}
	remove_stale_temps(&a, dup(a.root_fd), 0);
	if (a.temps_removed)
		fprintf(stderr, PROG ": removed %llu temporary file%s left by a stopped archiver\n",
			a.temps_removed, a.temps_removed == 1 ? "" : "s");
	if (!(a.rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr)))) {
		fprintf(stderr, PROG ": %s\n", errstr);
		rd_kafka_conf_destroy(conf);
		goto out;
	}
	rd_kafka_poll_set_consumer(a.rk);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fprintf(stderr, PROG ": archiving %d topic%s into %s as group %s\n", a.o.n_topics,
		a.o.n_topics == 1 ? "" : "s", a.o.dir, a.o.group);
	rc = run(&a);
	print_summary(&a);
out:
	if (a.rk) {
		rd_kafka_consumer_close(a.rk);
		rd_kafka_destroy(a.rk);
	}
	archiver_free(&a);
	return rc;
}
