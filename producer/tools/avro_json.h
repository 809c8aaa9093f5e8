/*
 * Kafka record values in Tapio's framings, decoded into plain JSON for people and jq.
 *
 * Framings (DESIGN.md section 4): Avro single-object encoding (C3 01, 8-byte little-endian
 * CRC-64-AVRO fingerprint of the schema's canonical form, datum) and the Confluent wire format
 * (00, 4-byte big-endian schema id, datum). There is no registry client: a Confluent-framed value
 * is decoded with the schema named after the last dot-separated part of its topic
 * (tapio.kernel -> kernel).
 *
 * JSON rendering: records and maps are objects, arrays are arrays, a union is written as the value
 * of its branch itself (not Avro JSON's {"type": value}), enums as their symbol, bytes and fixed as
 * lowercase hex strings, NaN and infinities as the strings "NaN", "Infinity", "-Infinity".
 * Strings that are not valid UTF-8 get U+FFFD for each bad byte.
 *
 * Every length and count in a datum is checked against the bytes that are left before avro-c
 * reads it, so hostile input ends in an error, never in a huge allocation or a read past the end.
 */
#ifndef TAPIO_AVRO_JSON_H
#define TAPIO_AVRO_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "schema.h"

enum avro_framing {
	AVRO_FRAMING_SINGLE_OBJECT, /* C3 01 + fingerprint */
	AVRO_FRAMING_CONFLUENT,     /* 00 + schema id */
};

struct avro_frame {
	enum avro_framing framing;
	uint64_t fingerprint;  /* single-object only */
	uint32_t schema_id;    /* Confluent only */
	const uint8_t *datum;  /* points into the value that was parsed */
	size_t datum_len;
};

#define AVRO_CONFLUENT_HDR_LEN 5

/*
 * Splits a record value into its framing header and the datum. 0, or -EINVAL with errstr saying
 * why (empty, short header, unknown magic byte).
 */
int avro_frame_parse(const void *value, size_t len, struct avro_frame *frame,
		     char *errstr, size_t errstr_size);

struct avro_json_decoder;

/*
 * Parses each of `count` schemas once (avro-c schema, generic value, fingerprint). The decoder
 * copies the array but keeps pointers to the names and texts, which must outlive it (the
 * embedded tables' do). Returns 0 and *out, to be released with avro_json_decoder_free(), or
 * -EINVAL / -ENOMEM with errstr naming the schema. A decoder is not thread-safe: it reuses one
 * value per schema.
 *
 * Lookup: a single-object value by its fingerprint among all the schemas (the first that has
 * it); a Confluent value by topic among the current schemas (release NULL) alone.
 */
int avro_json_decoder_new(const struct tapio_schema *schemas, size_t count,
			  struct avro_json_decoder **out, char *errstr, size_t errstr_size);

/*
 * A decoder for every embedded schema: the current ones (tapio_schemas[]), then those of
 * earlier releases (tapio_released_schemas[]), so records written by an older producer decode
 * with the schema they were written with. As avro_json_decoder_new().
 */
int avro_json_decoder_embedded(struct avro_json_decoder **out, char *errstr, size_t errstr_size);
void avro_json_decoder_free(struct avro_json_decoder *dec);

/*
 * Decodes one framed value read from `topic`. On success returns 0 and *out is a new JSON
 * reference the caller releases with json_decref(); `*schema_name`, if schema_name is not NULL,
 * is the embedded schema that was used. On failure returns -EINVAL (the value cannot be decoded:
 * unknown framing or fingerprint, short buffer, bad datum, trailing bytes) or -ENOMEM, errstr says
 * why and *out is untouched.
 */
int avro_json_decode(struct avro_json_decoder *dec, const char *topic, const void *value,
		     size_t len, json_t **out, const char **schema_name,
		     char *errstr, size_t errstr_size);

/*
 * The fields every Tapio record starts with (DESIGN.md section 4), as a stream check needs them.
 * The pointers stay valid until the decoder's next decode or its release.
 */
struct record_envelope {
	const char *kind;       /* the kind enum's symbol: "EXEC", "LOSS", ... */
	int64_t seq;
	int64_t run;            /* 0 when the writer's schema has no run field (release 0.1.0) */
	const char *node;       /* NUL-terminated; bytes as written (not checked for UTF-8) */
	size_t node_len;
	const char *loss_stage; /* the loss stage's symbol in a LOSS record, else NULL */
	int64_t loss_count;     /* with loss_stage */
	int64_t loss_run;       /* with loss_stage: whose records (loss.run), 0 = this record's run */
	const struct tapio_schema *schema; /* the writer's schema the value was decoded with */
};

/*
 * Decodes one framed value as avro_json_decode() does, checked the same way, and reads its
 * envelope into *out instead of rendering JSON. 0, or -EINVAL with errstr saying why (as
 * avro_json_decode(), or a schema without the envelope's kind, seq and node).
 */
int avro_json_envelope(struct avro_json_decoder *dec, const char *topic, const void *value,
		       size_t len, struct record_envelope *out, char *errstr, size_t errstr_size);

/* A JSON string of `len` bytes, invalid UTF-8 replaced by U+FFFD; NULL only when out of memory. */
json_t *avro_json_text(const void *s, size_t len);

/* A JSON string holding `len` bytes as lowercase hex; NULL only when out of memory. */
json_t *avro_json_hex(const void *buf, size_t len);

#endif /* TAPIO_AVRO_JSON_H */
