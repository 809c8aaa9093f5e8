/* Embedded schemas, Avro Parsing Canonical Form and CRC-64-AVRO fingerprints (see schema.h). */
#include "schema.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* Deeper schemas than this are refused rather than risk the stack on hostile input. */
#define CANON_MAX_DEPTH 64

const struct tapio_schema *schema_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < tapio_schema_count; i++)
		if (strcmp(tapio_schemas[i].name, name) == 0)
			return &tapio_schemas[i];
	return NULL;
}

/* The Rabin fingerprint of the Avro specification ("Schema Fingerprints"). */
#define CRC64_AVRO_EMPTY 0xc15d213aa4d7a795ULL

static uint64_t crc64_table[256];
static pthread_once_t crc64_once = PTHREAD_ONCE_INIT;

static void crc64_init(void)
{
	for (unsigned i = 0; i < 256; i++) {
		uint64_t fp = i;

		for (int j = 0; j < 8; j++)
			fp = (fp >> 1) ^ (CRC64_AVRO_EMPTY & -(fp & 1));
		crc64_table[i] = fp;
	}
}

uint64_t avro_crc64(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t fp = CRC64_AVRO_EMPTY;

	pthread_once(&crc64_once, crc64_init);
	for (size_t i = 0; i < len; i++)
		fp = (fp >> 8) ^ crc64_table[(fp ^ p[i]) & 0xff];
	return fp;
}

void avro_single_object_header(uint64_t fingerprint, uint8_t out[AVRO_SINGLE_OBJECT_HDR_LEN])
{
	out[0] = 0xc3;
	out[1] = 0x01;
	for (int i = 0; i < 8; i++)
		out[2 + i] = (uint8_t)(fingerprint >> (8 * i));
}

void avro_confluent_header(int32_t schema_id, uint8_t out[AVRO_CONFLUENT_HDR_LEN])
{
	out[0] = 0x00;
	for (int i = 0; i < 4; i++)
		out[1 + i] = (uint8_t)((uint32_t)schema_id >> (24 - 8 * i));
}

/* Canonicalisation state: the output text and the full names defined so far. */
struct canon {
	char *buf;
	size_t len, cap;
	char **names;
	size_t n_names, cap_names;
	char *errstr;
	size_t errstr_size;
};

static const char *const primitives[] = {
	"null", "boolean", "int", "long", "float", "double", "bytes", "string",
};

static bool is_primitive(const char *s)
{
	for (size_t i = 0; i < sizeof(primitives) / sizeof(primitives[0]); i++)
		if (strcmp(s, primitives[i]) == 0)
			return true;
	return false;
}

__attribute__((format(printf, 2, 3)))
static int canon_err(struct canon *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!c->errstr_size)
		return -EINVAL;
	n = snprintf(c->errstr, c->errstr_size, "schema: ");
	if (n >= 0 && (size_t)n < c->errstr_size) {
		va_start(ap, fmt);
		vsnprintf(c->errstr + n, c->errstr_size - n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int canon_put(struct canon *c, const char *s, size_t n)
{
	if (c->len + n + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 256;
		char *p;

		while (cap < c->len + n + 1)
			cap *= 2;
		p = realloc(c->buf, cap);
		if (!p)
			return -ENOMEM;
		c->buf = p;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, s, n);
	c->len += n;
	c->buf[c->len] = '\0';
	return 0;
}

static int canon_puts(struct canon *c, const char *s)
{
	return canon_put(c, s, strlen(s));
}

/* A JSON string with the minimum escaping: STRINGS wants UTF-8, not \u escapes, where legal. */
static int canon_str(struct canon *c, const char *s)
{
	char esc[8];
	int err;

	if ((err = canon_put(c, "\"", 1)))
		return err;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			esc[0] = '\\';
			esc[1] = (char)ch;
			err = canon_put(c, esc, 2);
		} else if (ch < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", ch);
			err = canon_puts(c, esc);
		} else {
			err = canon_put(c, s, 1);
		}
		if (err)
			return err;
	}
	return canon_put(c, "\"", 1);
}

bool schema_valid_name(const char *s, bool dotted)
{
	bool start = true;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s == '.' && dotted && !start) {
			start = true;
			continue;
		}
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_' ||
		      (!start && *s >= '0' && *s <= '9')))
			return false;
		start = false;
	}
	return !start;
}

static bool canon_defined(const struct canon *c, const char *fullname)
{
	for (size_t i = 0; i < c->n_names; i++)
		if (strcmp(c->names[i], fullname) == 0)
			return true;
	return false;
}

/* Takes ownership of fullname. */
static int canon_define(struct canon *c, char *fullname)
{
	if (canon_defined(c, fullname)) {
		canon_err(c, "type \"%s\" is defined twice", fullname);
		free(fullname);
		return -EINVAL;
	}
	if (c->n_names == c->cap_names) {
		size_t cap = c->cap_names ? 2 * c->cap_names : 8;
		char **p = realloc(c->names, cap * sizeof(*p));

		if (!p) {
			free(fullname);
			return -ENOMEM;
		}
		c->names = p;
		c->cap_names = cap;
	}
	c->names[c->n_names++] = fullname;
	return 0;
}

/* "ns.name", or just "name" in the null namespace. NULL when out of memory. */
static char *join_name(const char *ns, const char *name)
{
	char *s;

	if (!ns || !*ns)
		return strdup(name);
	if (asprintf(&s, "%s.%s", ns, name) < 0)
		return NULL;
	return s;
}

int schema_named_fullname(json_t *named, const char *type, const char *ns, char **fullname,
			  char **own_ns, char *why, size_t why_size)
{
	json_t *jname = json_object_get(named, "name"), *jns = json_object_get(named, "namespace");
	const char *name, *dot;
	char *full;

	*fullname = *own_ns = NULL;
	if (!json_is_string(jname)) {
		snprintf(why, why_size, "%s without a \"name\"", type);
		return -EINVAL;
	}
	name = json_string_value(jname);
	if (jns && !json_is_null(jns) && !json_is_string(jns)) {
		snprintf(why, why_size, "\"namespace\" of \"%s\" is not a string", name);
		return -EINVAL;
	}
	if (strchr(name, '.'))
		full = strdup(name);
	else
		full = join_name(json_is_string(jns) ? json_string_value(jns) : ns, name);
	if (!full)
		return -ENOMEM;
	dot = strrchr(full, '.');
	if (!schema_valid_name(full, true) || is_primitive(dot ? dot + 1 : full)) {
		snprintf(why, why_size, "\"%s\" is not a valid type name", full);
		free(full);
		return -EINVAL;
	}
	if (dot && !(*own_ns = strndup(full, (size_t)(dot - full)))) {
		free(full);
		return -ENOMEM;
	}
	*fullname = full;
	return 0;
}

/*
 * A reference to a primitive or to a named type defined earlier: a bare name is looked up in the
 * enclosing namespace first, then in the null namespace (as the Java implementation does).
 */
static int canon_ref(struct canon *c, const char *name, const char *ns)
{
	char *full;
	int err;

	if (is_primitive(name))
		return canon_str(c, name);
	if (!strchr(name, '.') && ns && *ns) {
		if (!(full = join_name(ns, name)))
			return -ENOMEM;
		if (canon_defined(c, full)) {
			err = canon_str(c, full);
			free(full);
			return err;
		}
		free(full);
	}
	if (canon_defined(c, name))
		return canon_str(c, name);
	return canon_err(c, "unknown type \"%s\"", name);
}

static int canon_schema(struct canon *c, json_t *s, const char *ns, int depth);

static int canon_fields(struct canon *c, json_t *fields, const char *fullname, const char *ns,
			int depth)
{
	size_t i;
	json_t *f;
	int err;

	if (!json_is_array(fields))
		return canon_err(c, "record \"%s\" has no \"fields\" array", fullname);
	if ((err = canon_puts(c, ",\"fields\":[")))
		return err;
	json_array_foreach(fields, i, f) {
		json_t *name = json_object_get(f, "name"), *type = json_object_get(f, "type");

		if (!json_is_object(f))
			return canon_err(c, "%s field %zu is not an object", fullname, i);
		if (!json_is_string(name) || !schema_valid_name(json_string_value(name), false))
			return canon_err(c, "%s field %zu has no valid \"name\"", fullname, i);
		if (!type)
			return canon_err(c, "%s field %zu (\"%s\") has no \"type\"", fullname, i,
					 json_string_value(name));
		if ((err = canon_puts(c, i ? ",{\"name\":" : "{\"name\":")) ||
		    (err = canon_str(c, json_string_value(name))) ||
		    (err = canon_puts(c, ",\"type\":")) ||
		    (err = canon_schema(c, type, ns, depth + 1)) ||
		    (err = canon_puts(c, "}")))
			return err;
	}
	return canon_puts(c, "]");
}

static int canon_symbols(struct canon *c, json_t *symbols, const char *fullname)
{
	size_t i;
	json_t *sym;
	int err;

	if (!json_is_array(symbols))
		return canon_err(c, "enum \"%s\" has no \"symbols\" array", fullname);
	if ((err = canon_puts(c, ",\"symbols\":[")))
		return err;
	json_array_foreach(symbols, i, sym) {
		if (!json_is_string(sym) || !schema_valid_name(json_string_value(sym), false))
			return canon_err(c, "enum \"%s\" symbol %zu is not a valid name", fullname, i);
		if ((i && (err = canon_puts(c, ","))) ||
		    (err = canon_str(c, json_string_value(sym))))
			return err;
	}
	return canon_puts(c, "]");
}

/* record, error, enum, fixed: {"name":FULLNAME,"type":T,<fields|symbols|size>}. */
static int canon_named(struct canon *c, json_t *s, const char *type, const char *ns, int depth)
{
	char *fullname, *own_ns, why[256];
	json_t *size;
	int err;

	err = schema_named_fullname(s, type, ns, &fullname, &own_ns, why, sizeof(why));
	if (err)
		return err == -EINVAL ? canon_err(c, "%s", why) : err;
	/* Defined before its body so a record may refer to itself. canon owns fullname now. */
	if ((err = canon_define(c, fullname)))
		goto out;
	if ((err = canon_puts(c, "{\"name\":")) || (err = canon_str(c, fullname)) ||
	    (err = canon_puts(c, ",\"type\":")) || (err = canon_str(c, type)))
		goto out;
	if (strcmp(type, "enum") == 0) {
		err = canon_symbols(c, json_object_get(s, "symbols"), fullname);
	} else if (strcmp(type, "fixed") == 0) {
		char num[32];

		size = json_object_get(s, "size");
		if (!json_is_integer(size) || json_integer_value(size) < 0) {
			err = canon_err(c, "fixed \"%s\" has no valid \"size\"", fullname);
			goto out;
		}
		snprintf(num, sizeof(num), ",\"size\":%" JSON_INTEGER_FORMAT, json_integer_value(size));
		err = canon_puts(c, num);
	} else {
		err = canon_fields(c, json_object_get(s, "fields"), fullname, own_ns, depth);
	}
	if (!err)
		err = canon_puts(c, "}");
out:
	free(own_ns);
	return err;
}

static int canon_object(struct canon *c, json_t *s, const char *ns, int depth)
{
	json_t *jtype = json_object_get(s, "type");
	const char *type;
	int err;

	if (!jtype)
		return canon_err(c, "schema object has no \"type\"");
	if (!json_is_string(jtype))
		return canon_err(c, "\"type\" of a schema object must be a string");
	type = json_string_value(jtype);
	/* PRIMITIVES: {"type":"long","logicalType":...} is just "long". */
	if (is_primitive(type))
		return canon_str(c, type);
	if (!strcmp(type, "record") || !strcmp(type, "error") || !strcmp(type, "enum") ||
	    !strcmp(type, "fixed"))
		return canon_named(c, s, type, ns, depth);
	if (!strcmp(type, "array") || !strcmp(type, "map")) {
		bool array = type[0] == 'a';
		json_t *sub = json_object_get(s, array ? "items" : "values");

		if (!sub)
			return canon_err(c, "%s has no \"%s\"", type, array ? "items" : "values");
		if ((err = canon_puts(c, array ? "{\"type\":\"array\",\"items\":" :
						 "{\"type\":\"map\",\"values\":")) ||
		    (err = canon_schema(c, sub, ns, depth + 1)))
			return err;
		return canon_puts(c, "}");
	}
	/* {"type":"Name"} refers to a named type defined earlier. */
	return canon_ref(c, type, ns);
}

static int canon_schema(struct canon *c, json_t *s, const char *ns, int depth)
{
	size_t i;
	json_t *branch;
	int err;

	if (depth > CANON_MAX_DEPTH)
		return canon_err(c, "nested deeper than %d levels", CANON_MAX_DEPTH);
	switch (json_typeof(s)) {
	case JSON_STRING:
		return canon_ref(c, json_string_value(s), ns);
	case JSON_OBJECT:
		return canon_object(c, s, ns, depth);
	case JSON_ARRAY: /* a union */
		if ((err = canon_puts(c, "[")))
			return err;
		json_array_foreach(s, i, branch) {
			if ((i && (err = canon_puts(c, ","))) ||
			    (err = canon_schema(c, branch, ns, depth + 1)))
				return err;
		}
		return canon_puts(c, "]");
	default:
		return canon_err(c, "a schema must be a string, an object or an array");
	}
}

int schema_canonical_form(const char *json, char **out, char *errstr, size_t errstr_size)
{
	struct canon c = { .errstr = errstr, .errstr_size = errstr_size };
	json_error_t jerr;
	json_t *root;
	int err;

	if (errstr_size)
		errstr[0] = '\0';
	/* Duplicate keys make a schema ambiguous: refuse them. */
	root = json_loads(json, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return canon_err(&c, "bad JSON at line %d column %d: %s", jerr.line, jerr.column,
				 jerr.text);
	err = canon_schema(&c, root, NULL, 0);
	if (err == -ENOMEM && errstr_size)
		snprintf(errstr, errstr_size, "schema: out of memory");
	if (!err) {
		*out = c.buf;
		c.buf = NULL;
	}
	json_decref(root);
	for (size_t i = 0; i < c.n_names; i++)
		free(c.names[i]);
	free(c.names);
	free(c.buf);
	return err;
}

int schema_fingerprint(const char *json, uint64_t *fingerprint, char *errstr, size_t errstr_size)
{
	char *canonical;
	int err;

	err = schema_canonical_form(json, &canonical, errstr, errstr_size);
	if (err)
		return err;
	*fingerprint = avro_crc64(canonical, strlen(canonical));
	free(canonical);
	return 0;
}

/* Zero values. */

#define ZERO_MAX 4096

struct zero {
	uint8_t buf[ZERO_MAX];
	size_t len;
};

static int zero_put(struct zero *z, size_t n)
{
	if (ZERO_MAX - z->len < n)
		return -EINVAL;
	memset(z->buf + z->len, 0, n);
	z->len += n;
	return 0;
}

/* The definition of the named type `name` (full or short) anywhere in the schema, or NULL. */
static json_t *find_named(json_t *node, const char *name, int depth)
{
	const char *key, *own;
	json_t *v, *hit;
	size_t i;

	if (depth > 64)
		return NULL;
	if (json_is_array(node)) {
		json_array_foreach(node, i, v)
			if ((hit = find_named(v, name, depth + 1)))
				return hit;
		return NULL;
	}
	if (!json_is_object(node))
		return NULL;
	own = json_string_value(json_object_get(node, "name"));
	if (own && json_is_string(json_object_get(node, "type"))) {
		const char *type = json_string_value(json_object_get(node, "type"));
		const char *dot = strrchr(name, '.');

		if ((!strcmp(type, "record") || !strcmp(type, "enum") || !strcmp(type, "fixed")) &&
		    (!strcmp(own, name) || (dot && !strcmp(own, dot + 1))))
			return node;
	}
	json_object_foreach(node, key, v)
		if ((hit = find_named(v, name, depth + 1)))
			return hit;
	return NULL;
}

static int zero_of(json_t *root, json_t *t, struct zero *z, int depth)
{
	const char *type;
	json_t *field;
	size_t i;
	int err;

	if (depth > 32)
		return -EINVAL;
	if (json_is_array(t)) /* a union: branch 0, then its zero */
		return json_array_size(t) ? zero_put(z, 1) ?: zero_of(root, json_array_get(t, 0), z, depth + 1)
					  : -EINVAL;
	if (json_is_object(t) && !json_is_string(json_object_get(t, "type")))
		return zero_of(root, json_object_get(t, "type"), z, depth + 1);
	type = json_is_string(t) ? json_string_value(t) : json_string_value(json_object_get(t, "type"));
	if (!type)
		return -EINVAL;
	if (!strcmp(type, "null"))
		return 0;
	if (!strcmp(type, "boolean") || !strcmp(type, "int") || !strcmp(type, "long") ||
	    !strcmp(type, "string") || !strcmp(type, "bytes") || !strcmp(type, "enum") ||
	    !strcmp(type, "array") || !strcmp(type, "map"))
		return zero_put(z, 1); /* false, 0, empty, first symbol, no blocks */
	if (!strcmp(type, "float"))
		return zero_put(z, 4);
	if (!strcmp(type, "double"))
		return zero_put(z, 8);
	if (!strcmp(type, "fixed")) {
		json_int_t size = json_integer_value(json_object_get(t, "size"));

		return size >= 0 && size <= ZERO_MAX ? zero_put(z, (size_t)size) : -EINVAL;
	}
	if (!strcmp(type, "record") && json_is_object(t)) {
		json_array_foreach(json_object_get(t, "fields"), i, field) {
			err = zero_of(root, json_object_get(field, "type"), z, depth + 1);
			if (err)
				return err;
		}
		return 0;
	}
	/* A reference to a named type defined elsewhere in the schema. */
	t = json_is_string(t) ? find_named(root, type, 0) : NULL;
	return t ? zero_of(root, t, z, depth + 1) : -EINVAL;
}

int schema_zero_fields(const char *json, size_t first_field, uint8_t **out, size_t *len,
		       char *errstr, size_t errstr_size)
{
	json_t *root = json_loads(json, 0, NULL), *fields;
	struct zero *z = calloc(1, sizeof(*z));
	int err = -EINVAL;

	fields = json_object_get(root, "fields");
	if (!z) {
		err = -ENOMEM;
		goto out;
	}
	if (!json_is_array(fields) || json_array_size(fields) < first_field) {
		snprintf(errstr, errstr_size, "schema: not a record with %zu fields", first_field);
		goto out;
	}
	for (size_t i = first_field; i < json_array_size(fields); i++) {
		err = zero_of(root, json_object_get(json_array_get(fields, i), "type"), z, 0);
		if (err) {
			snprintf(errstr, errstr_size, "schema: no zero value for field %zu", i);
			goto out;
		}
	}
	*out = malloc(z->len ? z->len : 1);
	if (!*out) {
		err = -ENOMEM;
		goto out;
	}
	memcpy(*out, z->buf, z->len);
	*len = z->len;
	err = 0;
out:
	free(z);
	json_decref(root);
	return err;
}

int schema_enum_index(const char *json, const char *field, const char *symbol)
{
	json_t *root = json_loads(json, 0, NULL), *f, *sym;
	size_t i, j;
	int index = -ENOENT;

	json_array_foreach(json_object_get(root, "fields"), i, f) {
		if (strcmp(json_string_value(json_object_get(f, "name")) ?: "", field) != 0)
			continue;
		json_array_foreach(json_object_get(json_object_get(f, "type"), "symbols"), j, sym)
			if (!strcmp(json_string_value(sym) ?: "", symbol))
				index = (int)j;
	}
	json_decref(root);
	return index;
}
