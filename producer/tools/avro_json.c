/* Framed Avro record values to plain JSON (see avro_json.h). */
#include "avro_json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>

#include "avro_skip.h"
#include "errstr.h"

struct decoder_schema {
	struct tapio_schema src;
	uint64_t fingerprint;
	struct avro_skip *skip; /* checks a datum before avro-c reads it */
	avro_schema_t schema;
	avro_value_iface_t *iface;
	avro_value_t value;
};

struct avro_json_decoder {
	struct decoder_schema *schemas;
	size_t count;
	avro_reader_t reader;
};

int avro_frame_parse(const void *value, size_t len, struct avro_frame *frame,
		     char *errstr, size_t errstr_size)
{
	const uint8_t *p = value;

	if (!len)
		return fail(errstr, errstr_size, "empty value");
	if (p[0] == 0xc3) {
		if (len < AVRO_SINGLE_OBJECT_HDR_LEN)
			return fail(errstr, errstr_size, "single-object header: need %d bytes, have %zu",
				    AVRO_SINGLE_OBJECT_HDR_LEN, len);
		if (p[1] != 0x01)
			return fail(errstr, errstr_size, "bad single-object marker c3 %02x", p[1]);
		frame->framing = AVRO_FRAMING_SINGLE_OBJECT;
		frame->fingerprint = 0;
		for (int i = 7; i >= 0; i--)
			frame->fingerprint = frame->fingerprint << 8 | p[2 + i];
		frame->schema_id = 0;
		frame->datum = p + AVRO_SINGLE_OBJECT_HDR_LEN;
		frame->datum_len = len - AVRO_SINGLE_OBJECT_HDR_LEN;
		return 0;
	}
	if (p[0] == 0x00) {
		if (len < AVRO_CONFLUENT_HDR_LEN)
			return fail(errstr, errstr_size, "Confluent header: need %d bytes, have %zu",
				    AVRO_CONFLUENT_HDR_LEN, len);
		frame->framing = AVRO_FRAMING_CONFLUENT;
		frame->fingerprint = 0;
		frame->schema_id = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 |
				   (uint32_t)p[3] << 8 | p[4];
		frame->datum = p + AVRO_CONFLUENT_HDR_LEN;
		frame->datum_len = len - AVRO_CONFLUENT_HDR_LEN;
		return 0;
	}
	return fail(errstr, errstr_size,
		    "unknown framing: first byte 0x%02x is neither c3 (Avro single-object) nor 00 "
		    "(Confluent)", p[0]);
}

/* Length of the valid UTF-8 sequence (RFC 3629) at p, or 0. */
static size_t utf8_len(const uint8_t *p, size_t left)
{
	uint32_t cp;
	size_t n;

	if (p[0] < 0x80)
		return 1;
	if (p[0] < 0xc2 || p[0] > 0xf4) /* continuation, overlong lead, beyond U+10FFFF */
		return 0;
	n = p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : 4;
	if (left < n)
		return 0;
	cp = p[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

json_t *avro_json_text(const void *s, size_t len)
{
	const uint8_t *p = s;
	size_t n = 0, step;
	json_t *j;
	char *buf;

	/* jansson refuses invalid UTF-8: try as is, then with replacements. */
	if ((j = json_stringn(s, len)))
		return j;
	if (len > (SIZE_MAX - 1) / 3 || !(buf = malloc(3 * len + 1)))
		return NULL;
	for (size_t i = 0; i < len; i += step) {
		step = utf8_len(p + i, len - i);
		if (step) {
			memcpy(buf + n, p + i, step);
			n += step;
		} else {
			memcpy(buf + n, "\xef\xbf\xbd", 3);
			n += 3;
			step = 1;
		}
	}
	j = json_stringn_nocheck(buf, n);
	free(buf);
	return j;
}

json_t *avro_json_hex(const void *buf, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *p = buf;
	json_t *j;
	char *s;

	if (len > (SIZE_MAX - 1) / 2 || !(s = malloc(2 * len + 1)))
		return NULL;
	for (size_t i = 0; i < len; i++) {
		s[2 * i] = digits[p[i] >> 4];
		s[2 * i + 1] = digits[p[i] & 0xf];
	}
	j = json_stringn_nocheck(s, 2 * len);
	free(s);
	return j;
}

static json_t *json_number(double d)
{
	if (isnan(d))
		return json_string("NaN");
	if (isinf(d))
		return json_string(d > 0 ? "Infinity" : "-Infinity");
	return json_real(d);
}

/* Takes the reference to `child`; false when either is NULL or the insert fails. */
static bool add_member(json_t *obj, const char *key, json_t *child)
{
	json_t *k;
	bool ok;

	if (!child)
		return false;
	/* Map keys come from the datum: make them valid UTF-8 first. */
	if (!(k = avro_json_text(key, strlen(key)))) {
		json_decref(child);
		return false;
	}
	ok = json_object_setn_new_nocheck(obj, json_string_value(k), json_string_length(k),
					  child) == 0;
	json_decref(k);
	return ok;
}

/* The value as plain JSON (see avro_json.h), or NULL when avro-c or jansson fails. */
static json_t *render(avro_value_t *v)
{
	avro_value_t child;
	const char *name;
	const void *buf;
	const char *str;
	json_t *j = NULL;
	size_t size;
	int32_t i32;
	int64_t i64;
	double d;
	float f;
	int sym;

	switch (avro_value_get_type(v)) {
	case AVRO_NULL:
		return json_null();
	case AVRO_BOOLEAN:
		return avro_value_get_boolean(v, &sym) ? NULL : json_boolean(sym);
	case AVRO_INT32:
		return avro_value_get_int(v, &i32) ? NULL : json_integer(i32);
	case AVRO_INT64:
		return avro_value_get_long(v, &i64) ? NULL : json_integer(i64);
	case AVRO_FLOAT:
		return avro_value_get_float(v, &f) ? NULL : json_number(f);
	case AVRO_DOUBLE:
		return avro_value_get_double(v, &d) ? NULL : json_number(d);
	case AVRO_STRING: /* size counts avro-c's NUL terminator */
		if (avro_value_get_string(v, &str, &size))
			return NULL;
		return avro_json_text(str, size ? size - 1 : 0);
	case AVRO_BYTES:
		return avro_value_get_bytes(v, &buf, &size) ? NULL : avro_json_hex(buf, size);
	case AVRO_FIXED:
		return avro_value_get_fixed(v, &buf, &size) ? NULL : avro_json_hex(buf, size);
	case AVRO_ENUM:
		if (avro_value_get_enum(v, &sym) ||
		    !(name = avro_schema_enum_get(avro_value_get_schema(v), sym)))
			return NULL;
		return json_string(name);
	case AVRO_UNION:
		return avro_value_get_current_branch(v, &child) ? NULL : render(&child);
	case AVRO_ARRAY:
		if (avro_value_get_size(v, &size) || !(j = json_array()))
			return NULL;
		for (size_t i = 0; i < size; i++)
			if (avro_value_get_by_index(v, i, &child, NULL) ||
			    json_array_append_new(j, render(&child)))
				goto fail;
		return j;
	case AVRO_MAP:
	case AVRO_RECORD:
		if (avro_value_get_size(v, &size) || !(j = json_object()))
			return NULL;
		for (size_t i = 0; i < size; i++)
			if (avro_value_get_by_index(v, i, &child, &name) ||
			    !add_member(j, name, render(&child)))
				goto fail;
		return j;
	default:
		return NULL;
	}
fail:
	json_decref(j);
	return NULL;
}

void avro_json_decoder_free(struct avro_json_decoder *dec)
{
	if (!dec)
		return;
	for (size_t i = 0; i < dec->count; i++) {
		struct decoder_schema *ds = &dec->schemas[i];

		if (ds->iface) {
			avro_value_decref(&ds->value);
			avro_value_iface_decref(ds->iface);
		}
		if (ds->schema)
			avro_schema_decref(ds->schema);
		avro_skip_free(ds->skip);
	}
	if (dec->reader)
		avro_reader_free(dec->reader);
	free(dec->schemas);
	free(dec);
}

/* Parses `src` into the next free slot of dec. 0, or -EINVAL / -ENOMEM with errstr set. */
static int decoder_add(struct avro_json_decoder *dec, const struct tapio_schema *src,
		       char *errstr, size_t errstr_size)
{
	struct decoder_schema *ds = &dec->schemas[dec->count++]; /* released by the caller's free */
	char why[256];
	int err;

	ds->src = *src;
	if ((err = schema_fingerprint(src->json, &ds->fingerprint, why, sizeof(why)))) {
		fail(errstr, errstr_size, "%s: %s", src->name, why);
		return err;
	}
	if ((err = avro_skip_compile(src->json, src->json_len, &ds->skip, why, sizeof(why)))) {
		fail(errstr, errstr_size, "%s: %s", src->name, why);
		return err;
	}
	if (avro_schema_from_json_length(src->json, src->json_len, &ds->schema)) {
		ds->schema = NULL;
		return fail(errstr, errstr_size, "%s: avro-c: %s", src->name, avro_strerror());
	}
	if (!(ds->iface = avro_generic_class_from_schema(ds->schema)))
		return fail(errstr, errstr_size, "%s: avro-c: %s", src->name, avro_strerror());
	if (avro_generic_value_new(ds->iface, &ds->value)) {
		avro_value_iface_decref(ds->iface);
		ds->iface = NULL;
		return fail(errstr, errstr_size, "%s: avro-c: %s", src->name, avro_strerror());
	}
	return 0;
}

/* A decoder for the schemas of both arrays, a's first. */
static int decoder_new2(const struct tapio_schema *a, size_t na, const struct tapio_schema *b,
			size_t nb, struct avro_json_decoder **out, char *errstr, size_t errstr_size)
{
	struct avro_json_decoder *dec;
	int err = -ENOMEM;

	if (!(dec = calloc(1, sizeof(*dec))) ||
	    !(dec->schemas = calloc(na + nb ? na + nb : 1, sizeof(*dec->schemas))) ||
	    !(dec->reader = avro_reader_memory("", 0))) {
		fail(errstr, errstr_size, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < na + nb; i++)
		if ((err = decoder_add(dec, i < na ? &a[i] : &b[i - na], errstr, errstr_size)))
			goto fail;
	*out = dec;
	return 0;
fail:
	avro_json_decoder_free(dec);
	return err;
}

int avro_json_decoder_new(const struct tapio_schema *schemas, size_t count,
			  struct avro_json_decoder **out, char *errstr, size_t errstr_size)
{
	return decoder_new2(schemas, count, NULL, 0, out, errstr, errstr_size);
}

int avro_json_decoder_embedded(struct avro_json_decoder **out, char *errstr, size_t errstr_size)
{
	return decoder_new2(tapio_schemas, tapio_schema_count, tapio_released_schemas,
			    tapio_released_schema_count, out, errstr, errstr_size);
}

static struct decoder_schema *find_schema(struct avro_json_decoder *dec,
					  const struct avro_frame *f, const char *topic,
					  char *errstr, size_t errstr_size)
{
	const char *name = topic ? topic : "";

	if (f->framing == AVRO_FRAMING_SINGLE_OBJECT) {
		for (size_t i = 0; i < dec->count; i++)
			if (dec->schemas[i].fingerprint == f->fingerprint)
				return &dec->schemas[i];
		fail(errstr, errstr_size, "unknown schema fingerprint %016" PRIx64, f->fingerprint);
		return NULL;
	}
	if (strrchr(name, '.'))
		name = strrchr(name, '.') + 1;
	/* Without a registry the id says nothing: the topic's current schema is the best guess. */
	for (size_t i = 0; i < dec->count; i++)
		if (!dec->schemas[i].src.release && strcmp(dec->schemas[i].src.name, name) == 0)
			return &dec->schemas[i];
	fail(errstr, errstr_size, "Confluent schema id %" PRIu32 ": no embedded schema named \"%s\"",
	     f->schema_id, name);
	return NULL;
}

/* Frames, finds the schema, checks and reads the datum into (*out)->value. 0 or -EINVAL. */
static int decode_value(struct avro_json_decoder *dec, const char *topic, const void *value,
			size_t len, struct decoder_schema **out, char *errstr, size_t errstr_size)
{
	struct avro_frame f;
	struct decoder_schema *ds;
	size_t used;
	int err;

	if ((err = avro_frame_parse(value, len, &f, errstr, errstr_size)))
		return err;
	if (!(ds = find_schema(dec, &f, topic, errstr, errstr_size)))
		return -EINVAL;
	/* avro-c does not bound every length and count (2^62 nulls in an array loop and
	 * allocate): it only sees datums that the bounds-checked walk accepted whole. */
	if ((err = avro_skip_datum(ds->skip, f.datum, f.datum_len, &used, NULL, errstr,
				   errstr_size)))
		return err;
	if (used != f.datum_len)
		return fail(errstr, errstr_size, "%zu bytes after the %s datum", f.datum_len - used,
			    ds->src.name);
	avro_reader_memory_set_source(dec->reader, (const char *)f.datum, (int64_t)f.datum_len);
	if (avro_value_read(dec->reader, &ds->value))
		return fail(errstr, errstr_size, "avro-c: %s", avro_strerror());
	*out = ds;
	return 0;
}

int avro_json_decode(struct avro_json_decoder *dec, const char *topic, const void *value,
		     size_t len, json_t **out, const char **schema_name,
		     char *errstr, size_t errstr_size)
{
	struct decoder_schema *ds;
	json_t *j;
	int err;

	if ((err = decode_value(dec, topic, value, len, &ds, errstr, errstr_size)))
		return err;
	if (!(j = render(&ds->value)))
		return fail(errstr, errstr_size, "cannot render the %s datum as JSON",
			    ds->src.name);
	*out = j;
	if (schema_name)
		*schema_name = ds->src.name;
	return 0;
}

/* The symbol of enum field `name` of rec, or NULL. */
static const char *enum_field(avro_value_t *rec, const char *name)
{
	avro_value_t f;
	int sym;

	if (avro_value_get_by_name(rec, name, &f, NULL) || avro_value_get_type(&f) != AVRO_ENUM ||
	    avro_value_get_enum(&f, &sym))
		return NULL;
	return avro_schema_enum_get(avro_value_get_schema(&f), sym);
}

/* Integer field `name` of rec (int or long) into *out: 0, or -ENOENT. */
static int integer_field(avro_value_t *rec, const char *name, int64_t *out)
{
	avro_value_t f;
	int32_t i32;

	if (avro_value_get_by_name(rec, name, &f, NULL))
		return -ENOENT;
	if (avro_value_get_type(&f) == AVRO_INT64)
		return avro_value_get_long(&f, out) ? -ENOENT : 0;
	if (avro_value_get_type(&f) == AVRO_INT32 && !avro_value_get_int(&f, &i32)) {
		*out = i32;
		return 0;
	}
	return -ENOENT;
}

int avro_json_envelope(struct avro_json_decoder *dec, const char *topic, const void *value,
		       size_t len, struct record_envelope *out, char *errstr, size_t errstr_size)
{
	struct record_envelope env = { 0 };
	struct decoder_schema *ds;
	avro_value_t f, loss;
	size_t size;
	int err;

	if ((err = decode_value(dec, topic, value, len, &ds, errstr, errstr_size)))
		return err;
	env.schema = &ds->src;
	if (!(env.kind = enum_field(&ds->value, "kind")))
		return fail(errstr, errstr_size, "schema %s has no enum \"kind\"", ds->src.name);
	if (integer_field(&ds->value, "seq", &env.seq))
		return fail(errstr, errstr_size, "schema %s has no integer \"seq\"", ds->src.name);
	integer_field(&ds->value, "run", &env.run); /* release 0.1.0 had none: run 0 */
	if (avro_value_get_by_name(&ds->value, "node", &f, NULL) ||
	    avro_value_get_type(&f) != AVRO_STRING || avro_value_get_string(&f, &env.node, &size))
		return fail(errstr, errstr_size, "schema %s has no string \"node\"", ds->src.name);
	env.node_len = size ? size - 1 : 0; /* size counts avro-c's NUL */
	if (!avro_value_get_by_name(&ds->value, "loss", &f, NULL) &&
	    avro_value_get_type(&f) == AVRO_UNION && !avro_value_get_current_branch(&f, &loss) &&
	    avro_value_get_type(&loss) == AVRO_RECORD) {
		avro_value_t run, branch;

		if (!(env.loss_stage = enum_field(&loss, "stage")) ||
		    integer_field(&loss, "count", &env.loss_count))
			return fail(errstr, errstr_size, "schema %s: \"loss\" lacks stage or count",
				    ds->src.name);
		/* ["null", "long"], absent before SPOOL_EVICTED existed: then this run's. */
		if (!avro_value_get_by_name(&loss, "run", &run, NULL) &&
		    avro_value_get_type(&run) == AVRO_UNION &&
		    !avro_value_get_current_branch(&run, &branch) &&
		    avro_value_get_type(&branch) == AVRO_INT64)
			avro_value_get_long(&branch, &env.loss_run);
	}
	*out = env;
	return 0;
}
