/* Avro schemas compiled in from schemas/<name>.avsc, their Parsing Canonical Form and fingerprints. */
#ifndef TAPIO_SCHEMA_H
#define TAPIO_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One embedded schema. The tables are generated at build time (build/gen/). */
struct tapio_schema {
	const char *name;    /* file base name = collector name, e.g. "kernel" */
	const char *json;    /* the .avsc text, NUL-terminated */
	size_t json_len;
	const char *release; /* "0.1.0" for a released baseline; NULL for the current schema */
};

/* The current schemas (schemas/<name>.avsc): the producer writes and registers these alone. */
extern const struct tapio_schema tapio_schemas[];
extern const size_t tapio_schema_count;

/*
 * The schemas of earlier releases (schemas/released/<version>/<name>.avsc), oldest release
 * first: records those releases wrote are decoded with them. Only readers (tapio-tail) link them
 * (build/gen/released_schemas.c); nothing writes with them.
 */
extern const struct tapio_schema tapio_released_schemas[];
extern const size_t tapio_released_schema_count;

/* The current embedded schema named `name`, or NULL. */
const struct tapio_schema *schema_find(const char *name);

/* CRC-64-AVRO (the Rabin fingerprint of the Avro specification) of buf. */
uint64_t avro_crc64(const void *buf, size_t len);

/*
 * Parsing Canonical Form of the schema `json` (Avro specification, "Parsing Canonical Form for
 * Schemas"). On success returns 0 and *out is a malloc'd NUL-terminated string the caller frees.
 * On failure returns -EINVAL (or -ENOMEM), *out is untouched, and errstr says why.
 */
int schema_canonical_form(const char *json, char **out, char *errstr, size_t errstr_size);

/* CRC-64-AVRO of the canonical form of `json`. 0 or -errno as schema_canonical_form(). */
int schema_fingerprint(const char *json, uint64_t *fingerprint, char *errstr, size_t errstr_size);

/*
 * The Avro binary of a "zero" value for every field of the top-level record from field index
 * `first_field` on: null branch of unions, 0, false, "", empty arrays and maps, the first enum
 * symbol, zero bytes for fixed. A record of a kind that sets none of a topic's own fields (a loss
 * record) ends with these bytes. On success *out (malloc'd, the caller frees) and *len are set.
 * 0 or -EINVAL / -ENOMEM with errstr set.
 */
int schema_zero_fields(const char *json, size_t first_field, uint8_t **out, size_t *len,
		       char *errstr, size_t errstr_size);

/* Index of `symbol` in the enum of top-level field `field`, or -ENOENT. */
int schema_enum_index(const char *json, const char *field, const char *symbol);

/* Avro single-object encoding: C3 01, then the fingerprint as 8 little-endian bytes. */
#define AVRO_SINGLE_OBJECT_HDR_LEN 10
void avro_single_object_header(uint64_t fingerprint, uint8_t out[AVRO_SINGLE_OBJECT_HDR_LEN]);

/* Confluent wire format: 00, then the registry's schema id as 4 big-endian bytes. */
#define AVRO_CONFLUENT_HDR_LEN 5
void avro_confluent_header(int32_t schema_id, uint8_t out[AVRO_CONFLUENT_HDR_LEN]);

/* An Avro name: [A-Za-z_][A-Za-z0-9_]*; with `dotted`, dot-separated such names (full names,
 * namespaces). */
bool schema_valid_name(const char *s, bool dotted);

/* A named type's (record, enum, fixed: `type`) full name by Avro's rules: a dotted "name" is
 * full; else it joins its "namespace", else the enclosing `ns`. 0 with *fullname and *own_ns
 * (the full name's namespace; NULL in the null namespace) malloc'd for the caller; -ENOMEM; or
 * -EINVAL with why: no "name", a "namespace" that is not a string, or not a valid type name. */
struct json_t;
int schema_named_fullname(struct json_t *named, const char *type, const char *ns,
			  char **fullname, char **own_ns, char *why, size_t why_size);

#endif /* TAPIO_SCHEMA_H */
