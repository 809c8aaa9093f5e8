/*
 * Bounds-checked walks over Avro binary datums, with the writer schema compiled once from its
 * JSON into a flat table. A walk finds where a datum ends (Avro binary has no lengths: in an
 * Object Container File's block, datums are simply concatenated) and where each top-level field
 * starts, and fails with a reason on anything the schema does not allow.
 *
 * Every length and count is checked against the bytes that are left before it is used, and the
 * items of arrays and maps are bounded by those bytes (plus AVRO_SKIP_ZERO_WIDTH_ITEMS items that
 * take no bytes, such as nulls), so hostile input ends in an error, never in a read past the end,
 * a huge loop or a huge allocation. Data nested deeper than AVRO_SKIP_MAX_DEPTH is refused.
 *
 * The schema is outside input too (an archive file's header carries it): the compiler checks
 * names, references and sizes, refuses duplicate definitions, and bounds the table's size.
 */
#ifndef TAPIO_AVRO_SKIP_H
#define TAPIO_AVRO_SKIP_H

#include <stddef.h>
#include <stdint.h>

#define AVRO_SKIP_MAX_DEPTH 64
#define AVRO_SKIP_ZERO_WIDTH_ITEMS 65536

enum avro_skip_type {
	AVRO_SKIP_NULL,
	AVRO_SKIP_BOOLEAN,
	AVRO_SKIP_INT,
	AVRO_SKIP_LONG,
	AVRO_SKIP_FLOAT,
	AVRO_SKIP_DOUBLE,
	AVRO_SKIP_BYTES,
	AVRO_SKIP_STRING,
	AVRO_SKIP_FIXED,
	AVRO_SKIP_ENUM,
	AVRO_SKIP_UNION,
	AVRO_SKIP_RECORD,
	AVRO_SKIP_ARRAY,
	AVRO_SKIP_MAP,
};

struct avro_skip;

/*
 * Compiles the schema `json` (`len` bytes, need not be NUL-terminated). 0 and *out, to be
 * released with avro_skip_free(), or -EINVAL (bad JSON or schema, errstr says why) or -ENOMEM.
 */
int avro_skip_compile(const char *json, size_t len, struct avro_skip **out,
		      char *errstr, size_t errstr_size);
void avro_skip_free(struct avro_skip *s);

/* The schema's type; for a record, its fields' count, names, types and logicalTypes. */
enum avro_skip_type avro_skip_type(const struct avro_skip *s);
size_t avro_skip_field_count(const struct avro_skip *s);
/* Index of the top-level field `name`, or -ENOENT (also when the schema is not a record). */
int avro_skip_field_index(const struct avro_skip *s, const char *name);
/* Of top-level field i < avro_skip_field_count(s): its type, and its "logicalType" or NULL. */
enum avro_skip_type avro_skip_field_type(const struct avro_skip *s, size_t i);
const char *avro_skip_field_logical_type(const struct avro_skip *s, size_t i);

/*
 * A short signature of top-level field i's type, as "long", "union<null,bytes>",
 * "array<record<name:string,value:union<null,bytes>>>", "enum(3)", "fixed(16)"; types nested
 * deeper than 8 levels show as "...". Truncated to size - 1 bytes; returns the length it needed.
 */
size_t avro_skip_field_signature(const struct avro_skip *s, size_t i, char *buf, size_t size);

/*
 * Walks the datum at the start of buf[0..len). 0 with *used its length in bytes and, when
 * field_off is not NULL and the schema is a record, field_off[i] the offset of top-level field i
 * for i < avro_skip_field_count(s) and field_off[count] = *used. -EINVAL with errstr saying at
 * which byte, in which field, and why; *used and field_off are then unspecified.
 */
int avro_skip_datum(const struct avro_skip *s, const uint8_t *buf, size_t len, size_t *used,
		    size_t *field_off, char *errstr, size_t errstr_size);

/*
 * Primitive readers over buf[0..len) from *off, which they advance: 0, or -EINVAL when the
 * bytes end early or the value is out of range (a varint longer than an int or a long allows, a
 * negative length). avro_read_bytes() points *out into buf.
 */
int avro_read_long(const uint8_t *buf, size_t len, size_t *off, int64_t *v);
int avro_read_int(const uint8_t *buf, size_t len, size_t *off, int32_t *v);
int avro_read_bytes(const uint8_t *buf, size_t len, size_t *off, const uint8_t **out,
		    size_t *n);

/* Avro binary writers: bytes written to out, which has room for the largest encoding. */
#define AVRO_LONG_MAX_BYTES 10
size_t avro_write_long(uint8_t *out, int64_t v);

#endif /* TAPIO_AVRO_SKIP_H */
