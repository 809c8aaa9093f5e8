/* The archive's row layout, schemas, metadata and paths (see archive_format.h). */
#include "archive_format.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "errstr.h"

#define US_PER_HOUR 3600000000LL
/* Hours of 0000-01-01T00 and 10000-01-01T00 since the epoch: the years a directory can name. */
#define FIRST_HOUR (-62167219200LL / 3600)
#define END_HOUR (253402300800LL / 3600)

/* The Kafka columns, as appended to a table schema and as the raw schema starts. */
#define KAFKA_FIELDS_JSON \
	"{\"name\":\"kafka_partition\",\"type\":\"int\"," \
	"\"doc\":\"Kafka partition the record was read from.\"}," \
	"{\"name\":\"kafka_offset\",\"type\":\"long\"," \
	"\"doc\":\"Its offset: (topic, kafka_partition, kafka_offset) names one record.\"}," \
	"{\"name\":\"kafka_timestamp\",\"type\":[\"null\",{\"type\":\"long\"," \
	"\"logicalType\":\"timestamp-millis\"}],\"doc\":\"The record's Kafka timestamp.\"}," \
	"{\"name\":\"kafka_key\",\"type\":[\"null\",\"bytes\"],\"doc\":\"The record's key.\"}," \
	"{\"name\":\"kafka_headers\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\"," \
	"\"name\":\"KafkaHeader\",\"namespace\":\"io.tapio.archive\",\"fields\":[" \
	"{\"name\":\"name\",\"type\":\"string\"},{\"name\":\"value\",\"type\":[\"null\",\"bytes\"]}" \
	"]}},\"doc\":\"The record's headers, in order.\"}"

const char archive_raw_schema[] =
	"{\"type\":\"record\",\"name\":\"RawRecord\",\"namespace\":\"io.tapio.archive\","
	"\"doc\":\"A Kafka record that is not a table row: a tombstone, or a value in no known "
	"framing or schema.\",\"fields\":[" KAFKA_FIELDS_JSON ","
	"{\"name\":\"value\",\"type\":[\"null\",\"bytes\"],"
	"\"doc\":\"The value as it was on the topic; null for a tombstone.\"},"
	"{\"name\":\"reason\",\"type\":\"string\",\"doc\":\"Why it is not a table row.\"}]}";

static const char *const kafka_names[ARCHIVE_KAFKA_FIELDS] = {
	"kafka_partition", "kafka_offset", "kafka_timestamp", "kafka_key", "kafka_headers",
};
static const char *const kafka_signatures[ARCHIVE_KAFKA_FIELDS] = {
	"int", "long", "union<null,long>", "union<null,bytes>",
	"array<record<name:string,value:union<null,bytes>>>",
};

size_t archive_kafka_max_size(const struct archive_kafka *k)
{
	/* partition, offset, 2 unions, header count and end, each at most a long */
	size_t n = 8 * AVRO_LONG_MAX_BYTES + k->key_len;

	for (size_t i = 0; i < k->n_headers; i++)
		n += 3 * AVRO_LONG_MAX_BYTES + k->headers[i].name_len + k->headers[i].value_len;
	return n;
}

static size_t put_bytes(uint8_t *out, const void *p, size_t n)
{
	size_t w = avro_write_long(out, (int64_t)n);

	memcpy(out + w, p, n);
	return w + n;
}

size_t archive_kafka_encode(uint8_t *out, const struct archive_kafka *k)
{
	size_t n = 0;

	n += avro_write_long(out + n, k->partition);
	n += avro_write_long(out + n, k->offset);
	if (k->has_timestamp) {
		out[n++] = 2; /* union branch 1 */
		n += avro_write_long(out + n, k->timestamp_ms);
	} else {
		out[n++] = 0;
	}
	if (k->key) {
		out[n++] = 2;
		n += put_bytes(out + n, k->key, k->key_len);
	} else {
		out[n++] = 0;
	}
	if (k->n_headers) {
		n += avro_write_long(out + n, (int64_t)k->n_headers);
		for (size_t i = 0; i < k->n_headers; i++) {
			const struct archive_header *h = &k->headers[i];

			n += put_bytes(out + n, h->name, h->name_len);
			if (h->value) {
				out[n++] = 2;
				n += put_bytes(out + n, h->value, h->value_len);
			} else {
				out[n++] = 0;
			}
		}
	}
	out[n++] = 0; /* end of the array */
	return n;
}

/* A ["null", X] union's branch: false for null, true for X. */
static int read_nullable(const uint8_t *buf, size_t len, size_t *off, bool *set)
{
	int64_t branch;

	if (avro_read_long(buf, len, off, &branch) || branch < 0 || branch > 1)
		return -EINVAL;
	*set = branch == 1;
	return 0;
}

static int read_headers(const uint8_t *buf, size_t len, size_t *off, struct archive_headers *h,
			char *errstr, size_t errstr_size)
{
	int64_t count, size;

	h->n = 0;
	for (;;) {
		if (avro_read_long(buf, len, off, &count))
			return fail(errstr, errstr_size, "kafka_headers: bad block count");
		if (count == 0)
			return 0;
		if (count < 0) {
			if (count == INT64_MIN || avro_read_long(buf, len, off, &size))
				return fail(errstr, errstr_size, "kafka_headers: bad block size");
			count = -count;
		}
		/* A header takes at least two bytes: the name's length and the value's branch. */
		if ((uint64_t)count > (len - *off) / 2)
			return fail(errstr, errstr_size, "kafka_headers: %" PRId64 " headers in %zu "
				    "bytes", count, len - *off);
		if (h->n + (size_t)count > h->cap) {
			size_t cap = h->cap ? h->cap : 8;
			struct archive_header *p;

			while (cap < h->n + (size_t)count)
				cap *= 2;
			if (!(p = realloc(h->v, cap * sizeof(*p))))
				return -ENOMEM;
			h->v = p;
			h->cap = cap;
		}
		for (int64_t i = 0; i < count; i++) {
			struct archive_header *e = &h->v[h->n];
			const uint8_t *name;
			bool set;

			if (avro_read_bytes(buf, len, off, &name, &e->name_len))
				return fail(errstr, errstr_size, "kafka_headers[%zu]: bad name", h->n);
			e->name = (const char *)name;
			if (read_nullable(buf, len, off, &set))
				return fail(errstr, errstr_size, "kafka_headers[%zu]: bad value branch",
					    h->n);
			e->value = NULL;
			e->value_len = 0;
			if (set && avro_read_bytes(buf, len, off, &e->value, &e->value_len))
				return fail(errstr, errstr_size, "kafka_headers[%zu]: bad value", h->n);
			h->n++;
		}
	}
}

int archive_kafka_decode(const uint8_t *buf, size_t len, size_t *off, struct archive_kafka *k,
			 struct archive_headers *h, char *errstr, size_t errstr_size)
{
	bool set;
	int err;

	memset(k, 0, sizeof(*k));
	if (avro_read_int(buf, len, off, &k->partition))
		return fail(errstr, errstr_size, "kafka_partition: bad int");
	if (avro_read_long(buf, len, off, &k->offset))
		return fail(errstr, errstr_size, "kafka_offset: bad long");
	if (read_nullable(buf, len, off, &k->has_timestamp) ||
	    (k->has_timestamp && avro_read_long(buf, len, off, &k->timestamp_ms)))
		return fail(errstr, errstr_size, "kafka_timestamp: bad value");
	if (read_nullable(buf, len, off, &set) ||
	    (set && avro_read_bytes(buf, len, off, &k->key, &k->key_len)))
		return fail(errstr, errstr_size, "kafka_key: bad value");
	if ((err = read_headers(buf, len, off, h, errstr, errstr_size)))
		return err;
	k->headers = h->v;
	k->n_headers = h->n;
	return 0;
}

int archive_raw_decode(const uint8_t *buf, size_t len, size_t *off, const uint8_t **value,
		       size_t *value_len, const uint8_t **reason, size_t *reason_len,
		       char *errstr, size_t errstr_size)
{
	bool set;

	*value = NULL;
	*value_len = 0;
	if (read_nullable(buf, len, off, &set) ||
	    (set && avro_read_bytes(buf, len, off, value, value_len)))
		return fail(errstr, errstr_size, "value: bad bytes");
	if (avro_read_bytes(buf, len, off, reason, reason_len))
		return fail(errstr, errstr_size, "reason: bad string");
	return 0;
}

int archive_table_schema(const char *value_schema, size_t len, char **out,
			 char *errstr, size_t errstr_size)
{
	json_t *root = NULL, *fields, *extra = NULL, *f;
	json_error_t jerr;
	const char *type;
	size_t i;
	int err = -EINVAL;

	root = json_loadb(value_schema, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		fail(errstr, errstr_size, "value schema: bad JSON: %s", jerr.text);
		goto out;
	}
	type = json_string_value(json_object_get(root, "type"));
	fields = json_object_get(root, "fields");
	if (!type || (strcmp(type, "record") && strcmp(type, "error")) || !json_is_array(fields)) {
		fail(errstr, errstr_size, "value schema is not a record: no columns to add to");
		goto out;
	}
	json_array_foreach(fields, i, f) {
		const char *name = json_string_value(json_object_get(f, "name"));

		for (int k = 0; name && k < ARCHIVE_KAFKA_FIELDS; k++)
			if (strcmp(name, kafka_names[k]) == 0) {
				fail(errstr, errstr_size, "value schema already has a field \"%s\"",
				     name);
				goto out;
			}
	}
	err = -ENOMEM;
	if (!(extra = json_loads("[" KAFKA_FIELDS_JSON "]", 0, NULL)) ||
	    json_array_extend(fields, extra) || !(*out = json_dumps(root, JSON_COMPACT)))
		goto out;
	err = 0;
out:
	if (err == -ENOMEM)
		fail(errstr, errstr_size, "out of memory");
	json_decref(extra);
	json_decref(root);
	return err;
}

static int check_kafka_fields(const struct avro_skip *s, size_t first, char *errstr,
			      size_t errstr_size)
{
	char sig[128];

	for (size_t k = 0; k < ARCHIVE_KAFKA_FIELDS; k++) {
		size_t i = first + k;

		if (avro_skip_field_index(s, kafka_names[k]) != (int)i)
			return fail(errstr, errstr_size, "field %zu is not %s", i, kafka_names[k]);
		avro_skip_field_signature(s, i, sig, sizeof(sig));
		if (strcmp(sig, kafka_signatures[k]))
			return fail(errstr, errstr_size, "%s is %s, not %s", kafka_names[k], sig,
				    kafka_signatures[k]);
	}
	return 0;
}

int archive_check_table_schema(const struct avro_skip *s, size_t *value_fields,
			       char *errstr, size_t errstr_size)
{
	size_t n = avro_skip_field_count(s);
	int err;

	if (avro_skip_type(s) != AVRO_SKIP_RECORD || n < ARCHIVE_KAFKA_FIELDS)
		return fail(errstr, errstr_size, "not a record ending with the Kafka columns");
	if ((err = check_kafka_fields(s, n - ARCHIVE_KAFKA_FIELDS, errstr, errstr_size)))
		return err;
	*value_fields = n - ARCHIVE_KAFKA_FIELDS;
	return 0;
}

int archive_check_raw_schema(const struct avro_skip *s, char *errstr, size_t errstr_size)
{
	char sig[64];
	int err;

	if (avro_skip_type(s) != AVRO_SKIP_RECORD ||
	    avro_skip_field_count(s) != ARCHIVE_KAFKA_FIELDS + 2)
		return fail(errstr, errstr_size, "not the raw records' schema");
	if ((err = check_kafka_fields(s, 0, errstr, errstr_size)))
		return err;
	avro_skip_field_signature(s, ARCHIVE_KAFKA_FIELDS, sig, sizeof(sig));
	if (avro_skip_field_index(s, "value") != ARCHIVE_KAFKA_FIELDS ||
	    strcmp(sig, "union<null,bytes>"))
		return fail(errstr, errstr_size, "field value is not [\"null\", \"bytes\"]");
	avro_skip_field_signature(s, ARCHIVE_KAFKA_FIELDS + 1, sig, sizeof(sig));
	if (avro_skip_field_index(s, "reason") != ARCHIVE_KAFKA_FIELDS + 1 || strcmp(sig, "string"))
		return fail(errstr, errstr_size, "field reason is not a string");
	return 0;
}

void archive_value_fields(const struct avro_skip *s, struct archive_value_fields *f)
{
	int i = avro_skip_field_index(s, "event_time");
	const char *lt = i >= 0 ? avro_skip_field_logical_type(s, (size_t)i) : NULL;

	f->event_time = -1;
	if (i >= 0 && avro_skip_field_type(s, (size_t)i) == AVRO_SKIP_LONG && lt) {
		if (!strcmp(lt, "timestamp-micros")) {
			f->event_time = i;
			f->event_time_us_per_unit = 1;
		} else if (!strcmp(lt, "timestamp-millis")) {
			f->event_time = i;
			f->event_time_us_per_unit = 1000;
		}
	}
	i = avro_skip_field_index(s, "node");
	f->node = i >= 0 && avro_skip_field_type(s, (size_t)i) == AVRO_SKIP_STRING ? i : -1;
}

int archive_event_time_us(const struct archive_value_fields *f, const uint8_t *datum,
			  size_t len, const size_t *field_off, int64_t *us)
{
	size_t off;
	int64_t v;

	if (f->event_time < 0)
		return -EINVAL;
	off = field_off[f->event_time];
	if (avro_read_long(datum, len, &off, &v) ||
	    v > INT64_MAX / f->event_time_us_per_unit || v < INT64_MIN / f->event_time_us_per_unit)
		return -EINVAL;
	*us = v * f->event_time_us_per_unit;
	return 0;
}

int archive_node(const struct archive_value_fields *f, const uint8_t *datum, size_t len,
		 const size_t *field_off, const uint8_t **node, size_t *node_len)
{
	size_t off;

	if (f->node < 0)
		return -EINVAL;
	off = field_off[f->node];
	return avro_read_bytes(datum, len, &off, node, node_len);
}

bool archive_topic_valid(const char *topic)
{
	size_t n = strlen(topic);

	if (n == 0 || n > 249 || !strcmp(topic, ".") || !strcmp(topic, ".."))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = topic[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

int64_t archive_hour_of_us(int64_t us)
{
	int64_t h = us / US_PER_HOUR;

	return us % US_PER_HOUR < 0 ? h - 1 : h;
}

bool archive_hour_valid(int64_t hour)
{
	return hour >= FIRST_HOUR && hour < END_HOUR;
}

int archive_dir(char *buf, size_t size, const char *topic, bool raw, int64_t hour)
{
	time_t t;
	struct tm tm;
	int n;

	if (!archive_hour_valid(hour))
		return -ERANGE;
	t = (time_t)(hour * 3600);
	if (!gmtime_r(&t, &tm))
		return -ERANGE;
	n = snprintf(buf, size, "topic=%s%s/date=%04d-%02d-%02d/hour=%02d", topic,
		     raw ? "/" ARCHIVE_RAW_DIR : "", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		     tm.tm_hour);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int archive_file_name(char *buf, size_t size, int32_t partition, int64_t first_offset)
{
	int n = snprintf(buf, size, "%" PRId32 "-%" PRId64 ARCHIVE_SUFFIX, partition, first_offset);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Exactly `digits` decimal digits at s; their value. */
static int digits_at(const char *s, int digits, int *v)
{
	*v = 0;
	for (int i = 0; i < digits; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

/* A decimal int64 of 1..19 digits, no sign, ending at `end` (exclusive). */
static int decimal(const char *s, const char *end, int64_t *v)
{
	if (s >= end || end - s > 19)
		return -EINVAL;
	*v = 0;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9' || *v > (INT64_MAX - (*s - '0')) / 10)
			return -EINVAL;
		*v = *v * 10 + (*s - '0');
	}
	return 0;
}

int archive_parse_path(const char *rel, char *topic, size_t topic_size, bool *raw, int64_t *hour,
		       int32_t *partition, int64_t *first_offset)
{
	const char *p = rel, *slash, *dash, *dot;
	int year, mon, day, hh;
	struct tm tm = { 0 };
	int64_t part;
	time_t t;

	if (strncmp(p, "topic=", 6))
		return -EINVAL;
	p += 6;
	if (!(slash = strchr(p, '/')) || (size_t)(slash - p) >= topic_size)
		return -EINVAL;
	memcpy(topic, p, slash - p);
	topic[slash - p] = '\0';
	if (!archive_topic_valid(topic))
		return -EINVAL;
	p = slash + 1;
	*raw = !strncmp(p, ARCHIVE_RAW_DIR "/", sizeof(ARCHIVE_RAW_DIR));
	if (*raw)
		p += sizeof(ARCHIVE_RAW_DIR);
	/* date=YYYY-MM-DD/hour=HH/ is 24 bytes */
	if (strncmp(p, "date=", 5) || strlen(p) < 24 || digits_at(p + 5, 4, &year) || p[9] != '-' ||
	    digits_at(p + 10, 2, &mon) || p[12] != '-' || digits_at(p + 13, 2, &day) ||
	    strncmp(p + 15, "/hour=", 6) || digits_at(p + 21, 2, &hh) || p[23] != '/')
		return -EINVAL;
	if (mon < 1 || mon > 12 || day < 1 || day > 31 || hh > 23)
		return -EINVAL;
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hh;
	t = timegm(&tm);
	if (tm.tm_mday != day) /* normalised: no such day in that month */
		return -EINVAL;
	*hour = (int64_t)t / 3600;
	p += 24;
	/* <partition>-<first offset>.avro, nothing more */
	dash = strchr(p, '-');
	dot = strchr(p, '.');
	if (!dash || !dot || dot < dash || strcmp(dot, ARCHIVE_SUFFIX) ||
	    decimal(p, dash, &part) || part > INT32_MAX || decimal(dash + 1, dot, first_offset))
		return -EINVAL;
	*partition = (int32_t)part;
	return 0;
}

void archive_format_num(char out[ARCHIVE_NUM_WIDTH + 1], int64_t v)
{
	snprintf(out, ARCHIVE_NUM_WIDTH + 1, "%0*" PRId64, ARCHIVE_NUM_WIDTH, v < 0 ? 0 : v);
}

int archive_parse_num(const uint8_t *s, size_t len, int64_t *v)
{
	return decimal((const char *)s, (const char *)s + len, v);
}
