/*
 * The layout of a Tapio archive (README.md, "Archiving to a data lake"), shared by tapio-archive,
 * which writes it, and tapio-replay, which reads it back.
 *
 * Table files, DIR/topic=<topic>/date=YYYY-MM-DD/hour=HH/<partition>-<first offset>.avro: Avro
 * Object Container Files whose schema is the topic's writer schema (its top-level record) with five
 * columns appended, the "Kafka columns":
 *   kafka_partition int, kafka_offset long,
 *   kafka_timestamp ["null", long timestamp-millis], kafka_key ["null", bytes],
 *   kafka_headers array of {name string, value ["null", bytes]}   (order and repeats kept)
 * In Avro binary a record is its fields one after the other, so a row is the value's datum,
 * copied as it was on the topic (framing stripped), followed by the Kafka columns.
 *
 * Raw files, DIR/topic=<topic>/_raw/date=.../hour=HH/<partition>-<first offset>.avro: records that
 * cannot be a table row (tombstones, values in no known framing or schema) as the five Kafka
 * columns, then value ["null", bytes] (the whole value as it was, null for a tombstone) and
 * reason string.
 *
 * Header metadata (besides avro.schema and avro.codec), all UTF-8 text:
 *   tapio.archive.version "1", tapio.content "table" | "raw", tapio.topic, tapio.partition,
 *   tapio.offset.first, tapio.offset.last, tapio.records (decimal; the last two zero-padded to 19
 *   digits, as they are written when the file is closed), tapio.archiver (tool and version);
 *   table files also tapio.framing "single-object" | "confluent" and tapio.fingerprint (16 hex
 *   digits) or tapio.schema_id (decimal): what the replay puts back in front of each datum.
 */
#ifndef TAPIO_ARCHIVE_FORMAT_H
#define TAPIO_ARCHIVE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "avro_skip.h"

#define ARCHIVE_VERSION "1"
#define ARCHIVE_META_VERSION "tapio.archive.version"
#define ARCHIVE_META_CONTENT "tapio.content"
#define ARCHIVE_META_TOPIC "tapio.topic"
#define ARCHIVE_META_PARTITION "tapio.partition"
#define ARCHIVE_META_OFFSET_FIRST "tapio.offset.first"
#define ARCHIVE_META_OFFSET_LAST "tapio.offset.last"
#define ARCHIVE_META_RECORDS "tapio.records"
#define ARCHIVE_META_ARCHIVER "tapio.archiver"
#define ARCHIVE_META_FRAMING "tapio.framing"
#define ARCHIVE_META_FINGERPRINT "tapio.fingerprint"
#define ARCHIVE_META_SCHEMA_ID "tapio.schema_id"
/* Width of the numbers written when a file is closed (INT64_MAX has 19 digits). */
#define ARCHIVE_NUM_WIDTH 19

#define ARCHIVE_KAFKA_FIELDS 5
#define ARCHIVE_RAW_DIR "_raw"
#define ARCHIVE_SUFFIX ".avro"

/* The raw files' schema (record io.tapio.archive.RawRecord). */
extern const char archive_raw_schema[];

/* One Kafka header; value NULL for a header without a value. Points into someone's bytes. */
struct archive_header {
	const char *name;
	size_t name_len;
	const uint8_t *value;
	size_t value_len;
};

/* The Kafka columns of one record. key NULL: no key. Pointers into someone's bytes. */
struct archive_kafka {
	int32_t partition;
	int64_t offset;
	bool has_timestamp;
	int64_t timestamp_ms;
	const uint8_t *key;
	size_t key_len;
	const struct archive_header *headers;
	size_t n_headers;
};

/* The encoded Kafka columns' size at most, and the encoding (returns the bytes written). */
size_t archive_kafka_max_size(const struct archive_kafka *k);
size_t archive_kafka_encode(uint8_t *out, const struct archive_kafka *k);

/* Headers decoded from a row: a growable array the caller keeps and frees with free(h->v). */
struct archive_headers {
	struct archive_header *v;
	size_t n, cap;
};

/*
 * Decodes the Kafka columns at buf[*off..len), advancing *off. The pointers in *k (and in
 * h->v, which k->headers points to) point into buf. 0, -EINVAL (errstr says why) or -ENOMEM.
 */
int archive_kafka_decode(const uint8_t *buf, size_t len, size_t *off, struct archive_kafka *k,
			 struct archive_headers *h, char *errstr, size_t errstr_size);

/* A raw row's value and reason, after its Kafka columns. value NULL: a tombstone. */
int archive_raw_decode(const uint8_t *buf, size_t len, size_t *off, const uint8_t **value,
		       size_t *value_len, const uint8_t **reason, size_t *reason_len,
		       char *errstr, size_t errstr_size);

/*
 * The table schema for a value schema: its top-level record with the Kafka columns appended. 0
 * and *out (malloc'd JSON, the caller frees), -EINVAL when the schema is not a record or already
 * has a kafka_* field (errstr says which), or -ENOMEM.
 */
int archive_table_schema(const char *value_schema, size_t len, char **out,
			 char *errstr, size_t errstr_size);

/*
 * Checks that a compiled file schema is a table schema (ends with the five Kafka columns, as
 * written above) or the raw schema. 0 with *value_fields the number of top-level fields before
 * the Kafka columns (table), or -EINVAL with errstr saying what differs.
 */
int archive_check_table_schema(const struct avro_skip *s, size_t *value_fields,
			       char *errstr, size_t errstr_size);
int archive_check_raw_schema(const struct avro_skip *s, char *errstr, size_t errstr_size);

/*
 * Where a value schema keeps the event time (a top-level long "event_time" with logicalType
 * timestamp-micros or timestamp-millis) and the node (a top-level string "node"); -1 if not.
 */
struct archive_value_fields {
	int event_time;
	int64_t event_time_us_per_unit;
	int node;
};
void archive_value_fields(const struct avro_skip *s, struct archive_value_fields *f);

/* From a datum walked with field offsets: its event time in µs, its node. 0 or -EINVAL. */
int archive_event_time_us(const struct archive_value_fields *f, const uint8_t *datum,
			  size_t len, const size_t *field_off, int64_t *us);
int archive_node(const struct archive_value_fields *f, const uint8_t *datum, size_t len,
		 const size_t *field_off, const uint8_t **node, size_t *node_len);

/* Kafka's legal topic names: 1..249 of [a-zA-Z0-9._-], not "." or "..". */
bool archive_topic_valid(const char *topic);

/* Hours since the epoch of a time in µs (floor); whether a directory can name the hour (years
 * 0000 to 9999). */
int64_t archive_hour_of_us(int64_t us);
bool archive_hour_valid(int64_t hour);

/*
 * "topic=<topic>/date=YYYY-MM-DD/hour=HH" (with "/_raw" after the topic for raw files) for an
 * hour since the epoch between years 0 and 9999, and "<partition>-<first offset>.avro". 0, or
 * -ENAMETOOLONG / -ERANGE.
 */
int archive_dir(char *buf, size_t size, const char *topic, bool raw, int64_t hour);
int archive_file_name(char *buf, size_t size, int32_t partition, int64_t first_offset);

/*
 * What a path relative to the archive's root says, when it follows the layout: the topic (into
 * topic[topic_size]), raw or table, the hour, the partition and the first offset. 0 or -EINVAL.
 */
int archive_parse_path(const char *rel, char *topic, size_t topic_size, bool *raw, int64_t *hour,
		       int32_t *partition, int64_t *first_offset);

/* A decimal number zero-padded to ARCHIVE_NUM_WIDTH digits (out has room for it and a NUL). */
void archive_format_num(char out[ARCHIVE_NUM_WIDTH + 1], int64_t v);

/* A metadata value as an int64 (decimal, optionally zero-padded). 0 or -EINVAL. */
int archive_parse_num(const uint8_t *s, size_t len, int64_t *v);

#endif /* TAPIO_ARCHIVE_FORMAT_H */
