/* Avro datum walks over a compiled schema (see avro_skip.h). */
#include "avro_skip.h"
#include "errstr.h"
#include "schema.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* A schema table larger than this is refused: Tapio's largest has ~200 nodes. */
#define MAX_NODES 65536
/* JSON nesting of a schema beyond this is refused (the compiler recurses). */
#define MAX_SCHEMA_DEPTH 64

struct node {
	uint8_t type;   /* enum avro_skip_type */
	uint32_t n;     /* record fields, union branches, enum symbols, fixed size */
	uint32_t kids;  /* index in kids[] of the first field / branch / item / value type */
};

struct avro_skip {
	struct node *nodes;
	size_t n_nodes, cap_nodes;
	uint32_t *kids;
	char **kid_names; /* record field names, parallel to kids[]; NULL for other kids */
	size_t n_kids, cap_kids, cap_kid_names;
	uint32_t root;
	char **top_logical; /* logicalType of each top-level field, or NULL */
};

/* Named types while compiling: full name -> node. */
struct named {
	char *fullname;
	uint32_t node;
};

struct compiler {
	struct avro_skip *s;
	struct named *names;
	size_t n_names, cap_names;
	char *errstr;
	size_t errstr_size;
};

#define cfail(c, ...) fail((c)->errstr, (c)->errstr_size, __VA_ARGS__)

static const char *const primitives[] = {
	[AVRO_SKIP_NULL] = "null",     [AVRO_SKIP_BOOLEAN] = "boolean", [AVRO_SKIP_INT] = "int",
	[AVRO_SKIP_LONG] = "long",     [AVRO_SKIP_FLOAT] = "float",     [AVRO_SKIP_DOUBLE] = "double",
	[AVRO_SKIP_BYTES] = "bytes",   [AVRO_SKIP_STRING] = "string",
};

static int primitive_type(const char *name)
{
	for (size_t i = 0; i < sizeof(primitives) / sizeof(primitives[0]); i++)
		if (strcmp(name, primitives[i]) == 0)
			return (int)i;
	return -1;
}


static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 16;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	if (!(q = realloc(*p, n * size)))
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

static int new_node(struct compiler *c, enum avro_skip_type type, uint32_t *idx)
{
	struct avro_skip *s = c->s;

	if (s->n_nodes >= MAX_NODES)
		return cfail(c, "schema: more than %d types", MAX_NODES);
	if (grow((void **)&s->nodes, &s->cap_nodes, s->n_nodes + 1, sizeof(*s->nodes)))
		return -ENOMEM;
	s->nodes[s->n_nodes] = (struct node){ .type = type };
	*idx = (uint32_t)s->n_nodes++;
	return 0;
}

/* Appends `n` kids (and their names, taken over) contiguously; sets node's kids and n. */
static int set_kids(struct compiler *c, uint32_t node, const uint32_t *kids, char **names,
		    size_t n)
{
	struct avro_skip *s = c->s;

	if (s->n_kids + n > UINT32_MAX)
		return cfail(c, "schema: too many types");
	if (grow((void **)&s->kids, &s->cap_kids, s->n_kids + n, sizeof(*s->kids)) ||
	    grow((void **)&s->kid_names, &s->cap_kid_names, s->n_kids + n, sizeof(*s->kid_names)))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		s->kids[s->n_kids + i] = kids[i];
		s->kid_names[s->n_kids + i] = names ? names[i] : NULL;
		if (names)
			names[i] = NULL;
	}
	s->nodes[node].kids = (uint32_t)s->n_kids;
	s->nodes[node].n = (uint32_t)n;
	s->n_kids += n;
	return 0;
}

static long find_name(const struct compiler *c, const char *fullname)
{
	for (size_t i = 0; i < c->n_names; i++)
		if (strcmp(c->names[i].fullname, fullname) == 0)
			return (long)i;
	return -1;
}

/* Takes ownership of fullname. */
static int define_name(struct compiler *c, char *fullname, uint32_t node)
{
	if (find_name(c, fullname) >= 0) {
		cfail(c, "schema: type \"%s\" is defined twice", fullname);
		free(fullname);
		return -EINVAL;
	}
	if (grow((void **)&c->names, &c->cap_names, c->n_names + 1, sizeof(*c->names))) {
		free(fullname);
		return -ENOMEM;
	}
	c->names[c->n_names++] = (struct named){ .fullname = fullname, .node = node };
	return 0;
}

/* "ns.name", or "name" in the null namespace. NULL when out of memory. */
static char *join_name(const char *ns, const char *name)
{
	char *s;

	if (!ns || !*ns)
		return strdup(name);
	if (asprintf(&s, "%s.%s", ns, name) < 0)
		return NULL;
	return s;
}

/* A primitive, or a named type defined earlier: a bare name in the enclosing namespace first. */
static int compile_ref(struct compiler *c, const char *name, const char *ns, uint32_t *idx)
{
	int prim = primitive_type(name);
	long i = -1;
	char *full;

	if (prim >= 0)
		return new_node(c, (enum avro_skip_type)prim, idx);
	if (!strchr(name, '.') && ns && *ns) {
		if (!(full = join_name(ns, name)))
			return -ENOMEM;
		i = find_name(c, full);
		free(full);
	}
	if (i < 0)
		i = find_name(c, name);
	if (i < 0)
		return cfail(c, "schema: unknown type \"%s\"", name);
	*idx = c->names[i].node;
	return 0;
}

static int compile(struct compiler *c, json_t *j, const char *ns, int depth, uint32_t *idx);

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

static int compile_fields(struct compiler *c, json_t *fields, uint32_t node, const char *fullname,
			  const char *ns, int depth)
{
	size_t n = json_array_size(fields), i;
	uint32_t *kids = NULL;
	char **names = NULL;
	json_t *f, *fname;
	int err = -ENOMEM;

	if (!json_is_array(fields))
		return cfail(c, "schema: record \"%s\" has no \"fields\" array", fullname);
	if (!(kids = calloc(n ? n : 1, sizeof(*kids))) || !(names = calloc(n ? n : 1, sizeof(*names))))
		goto out;
	json_array_foreach(fields, i, f) {
		fname = json_object_get(f, "name");
		if (!json_is_string(fname) || !schema_valid_name(json_string_value(fname), false)) {
			err = cfail(c, "schema: field %zu of \"%s\" has no valid \"name\"", i, fullname);
			goto out;
		}
		for (size_t k = 0; k < i; k++)
			if (strcmp(names[k], json_string_value(fname)) == 0) {
				err = cfail(c, "schema: field \"%s\" of \"%s\" is defined twice",
					    names[k], fullname);
				goto out;
			}
		if (!(names[i] = strdup(json_string_value(fname))))
			goto out;
		if (!json_object_get(f, "type")) {
			err = cfail(c, "schema: field \"%s\" of \"%s\" has no \"type\"", names[i],
				    fullname);
			goto out;
		}
		if ((err = compile(c, json_object_get(f, "type"), ns, depth + 1, &kids[i])))
			goto out;
	}
	err = set_kids(c, node, kids, names, n);
out:
	free(kids);
	free_names(names, n);
	return err;
}

/* record, error, enum, fixed. */
static int compile_named(struct compiler *c, json_t *j, const char *type, const char *ns,
			 int depth, uint32_t *idx)
{
	char *fullname, *own_ns, why[256];
	uint32_t node;
	json_t *v;
	int err;

	err = schema_named_fullname(j, type, ns, &fullname, &own_ns, why, sizeof(why));
	if (err)
		return err == -EINVAL ? cfail(c, "schema: %s", why) : err;
	err = new_node(c, !strcmp(type, "enum") ? AVRO_SKIP_ENUM :
			  !strcmp(type, "fixed") ? AVRO_SKIP_FIXED : AVRO_SKIP_RECORD, &node);
	if (err) {
		free(fullname);
		goto out;
	}
	/* Defined before its body, so that a record may refer to itself; c owns fullname now. */
	if ((err = define_name(c, fullname, node)))
		goto out;
	if (c->s->nodes[node].type == AVRO_SKIP_ENUM) {
		v = json_object_get(j, "symbols");
		if (!json_is_array(v) || !json_array_size(v) || json_array_size(v) > INT32_MAX)
			err = cfail(c, "schema: enum \"%s\" has no \"symbols\"", fullname);
		else
			c->s->nodes[node].n = (uint32_t)json_array_size(v);
	} else if (c->s->nodes[node].type == AVRO_SKIP_FIXED) {
		v = json_object_get(j, "size");
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > INT32_MAX)
			err = cfail(c, "schema: fixed \"%s\" has no valid \"size\"", fullname);
		else
			c->s->nodes[node].n = (uint32_t)json_integer_value(v);
	} else {
		err = compile_fields(c, json_object_get(j, "fields"), node, fullname, own_ns, depth);
	}
	*idx = node;
out:
	free(own_ns);
	return err;
}

static int compile_object(struct compiler *c, json_t *j, const char *ns, int depth, uint32_t *idx)
{
	json_t *jtype = json_object_get(j, "type"), *sub;
	const char *type;
	uint32_t node;
	int err;

	if (!jtype)
		return cfail(c, "schema: an object without \"type\"");
	if (!json_is_string(jtype)) /* {"type": {...}} or {"type": [...]}: a type given inline */
		return compile(c, jtype, ns, depth + 1, idx);
	type = json_string_value(jtype);
	if (primitive_type(type) >= 0)
		return new_node(c, (enum avro_skip_type)primitive_type(type), idx);
	if (!strcmp(type, "record") || !strcmp(type, "error") || !strcmp(type, "enum") ||
	    !strcmp(type, "fixed"))
		return compile_named(c, j, type, ns, depth, idx);
	if (!strcmp(type, "array") || !strcmp(type, "map")) {
		bool array = type[0] == 'a';
		uint32_t kid;

		if (!(sub = json_object_get(j, array ? "items" : "values")))
			return cfail(c, "schema: %s without \"%s\"", type, array ? "items" : "values");
		if ((err = new_node(c, array ? AVRO_SKIP_ARRAY : AVRO_SKIP_MAP, &node)) ||
		    (err = compile(c, sub, ns, depth + 1, &kid)) ||
		    (err = set_kids(c, node, &kid, NULL, 1)))
			return err;
		*idx = node;
		return 0;
	}
	return compile_ref(c, type, ns, idx);
}

static int compile(struct compiler *c, json_t *j, const char *ns, int depth, uint32_t *idx)
{
	uint32_t node, *kids;
	size_t n, i;
	json_t *b;
	int err;

	if (depth > MAX_SCHEMA_DEPTH)
		return cfail(c, "schema: nested deeper than %d levels", MAX_SCHEMA_DEPTH);
	switch (json_typeof(j)) {
	case JSON_STRING:
		return compile_ref(c, json_string_value(j), ns, idx);
	case JSON_OBJECT:
		return compile_object(c, j, ns, depth, idx);
	case JSON_ARRAY:
		n = json_array_size(j);
		if (!n)
			return cfail(c, "schema: an empty union");
		if ((err = new_node(c, AVRO_SKIP_UNION, &node)))
			return err;
		if (!(kids = calloc(n, sizeof(*kids))))
			return -ENOMEM;
		json_array_foreach(j, i, b) {
			if ((err = compile(c, b, ns, depth + 1, &kids[i]))) {
				free(kids);
				return err;
			}
		}
		err = set_kids(c, node, kids, NULL, n);
		free(kids);
		*idx = node;
		return err;
	default:
		return cfail(c, "schema: a type must be a string, an object or an array");
	}
}

void avro_skip_free(struct avro_skip *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_kids; i++)
		free(s->kid_names[i]);
	if (s->top_logical && s->n_nodes && s->nodes[s->root].type == AVRO_SKIP_RECORD)
		for (size_t i = 0; i < s->nodes[s->root].n; i++)
			free(s->top_logical[i]);
	free(s->top_logical);
	free(s->kid_names);
	free(s->kids);
	free(s->nodes);
	free(s);
}

/* The "logicalType" of each top-level field given as {"type": ..., "logicalType": ...}. */
static int note_logical_types(struct avro_skip *s, json_t *root)
{
	json_t *fields = json_object_get(root, "fields"), *f, *t, *lt;
	size_t n = s->nodes[s->root].n, i;

	if (!(s->top_logical = calloc(n ? n : 1, sizeof(*s->top_logical))))
		return -ENOMEM;
	json_array_foreach(fields, i, f) {
		if (i >= n)
			break;
		t = json_object_get(f, "type");
		lt = json_is_object(t) ? json_object_get(t, "logicalType") : NULL;
		if (json_is_string(lt) && !(s->top_logical[i] = strdup(json_string_value(lt))))
			return -ENOMEM;
	}
	return 0;
}

int avro_skip_compile(const char *json, size_t len, struct avro_skip **out,
		      char *errstr, size_t errstr_size)
{
	struct compiler c = { .errstr = errstr, .errstr_size = errstr_size };
	json_error_t jerr;
	json_t *root;
	int err = -ENOMEM;

	if (errstr_size)
		errstr[0] = '\0';
	root = json_loadb(json, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return fail(errstr, errstr_size, "schema: bad JSON at line %d column %d: %s",
			    jerr.line, jerr.column, jerr.text);
	if (!(c.s = calloc(1, sizeof(*c.s))))
		goto out;
	err = compile(&c, root, NULL, 0, &c.s->root);
	if (!err && c.s->nodes[c.s->root].type == AVRO_SKIP_RECORD)
		err = note_logical_types(c.s, json_is_object(root) ? root : NULL);
out:
	if (err == -ENOMEM)
		fail(errstr, errstr_size, "schema: out of memory");
	if (err) {
		avro_skip_free(c.s);
	} else {
		*out = c.s;
	}
	for (size_t i = 0; i < c.n_names; i++)
		free(c.names[i].fullname);
	free(c.names);
	json_decref(root);
	return err;
}

enum avro_skip_type avro_skip_type(const struct avro_skip *s)
{
	return (enum avro_skip_type)s->nodes[s->root].type;
}

size_t avro_skip_field_count(const struct avro_skip *s)
{
	return s->nodes[s->root].type == AVRO_SKIP_RECORD ? s->nodes[s->root].n : 0;
}

int avro_skip_field_index(const struct avro_skip *s, const char *name)
{
	const struct node *r = &s->nodes[s->root];

	for (size_t i = 0; i < avro_skip_field_count(s); i++)
		if (strcmp(s->kid_names[r->kids + i], name) == 0)
			return (int)i;
	return -ENOENT;
}

enum avro_skip_type avro_skip_field_type(const struct avro_skip *s, size_t i)
{
	return (enum avro_skip_type)s->nodes[s->kids[s->nodes[s->root].kids + i]].type;
}

const char *avro_skip_field_logical_type(const struct avro_skip *s, size_t i)
{
	return s->top_logical ? s->top_logical[i] : NULL;
}

struct sbuf {
	char *p;
	size_t size, len;
};

static void sput(struct sbuf *b, const char *s)
{
	size_t n = strlen(s);

	if (b->len < b->size) {
		size_t room = b->size - 1 - b->len;

		memcpy(b->p + b->len, s, n < room ? n : room);
		b->p[b->len + (n < room ? n : room)] = '\0';
	}
	b->len += n;
}

static void signature(const struct avro_skip *s, uint32_t ni, struct sbuf *b, int depth)
{
	static const char *const open[] = { [AVRO_SKIP_UNION] = "union<",
		[AVRO_SKIP_RECORD] = "record<", [AVRO_SKIP_ARRAY] = "array<",
		[AVRO_SKIP_MAP] = "map<" };
	const struct node *n = &s->nodes[ni];
	char num[32];

	if (depth > 8) {
		sput(b, "...");
		return;
	}
	switch ((enum avro_skip_type)n->type) {
	case AVRO_SKIP_FIXED:
	case AVRO_SKIP_ENUM:
		snprintf(num, sizeof(num), "%s(%" PRIu32 ")", n->type == AVRO_SKIP_FIXED ? "fixed" :
			 "enum", n->n);
		sput(b, num);
		return;
	case AVRO_SKIP_UNION:
	case AVRO_SKIP_RECORD:
	case AVRO_SKIP_ARRAY:
	case AVRO_SKIP_MAP:
		sput(b, open[n->type]);
		for (uint32_t i = 0; i < (n->type == AVRO_SKIP_UNION || n->type == AVRO_SKIP_RECORD ?
					  n->n : 1); i++) {
			if (i)
				sput(b, ",");
			if (n->type == AVRO_SKIP_RECORD) {
				sput(b, s->kid_names[n->kids + i]);
				sput(b, ":");
			}
			signature(s, s->kids[n->kids + i], b, depth + 1);
		}
		sput(b, ">");
		return;
	default:
		sput(b, primitives[n->type]);
	}
}

size_t avro_skip_field_signature(const struct avro_skip *s, size_t i, char *buf, size_t size)
{
	struct sbuf b = { .p = buf, .size = size };

	if (size)
		buf[0] = '\0';
	signature(s, s->kids[s->nodes[s->root].kids + i], &b, 0);
	return b.len;
}

/*
 * The walk. Messages name the byte offset and the innermost record field, as in
 * "datum byte 12, field \"comm\": string: need 40 bytes, have 3".
 */
struct walk {
	const struct avro_skip *s;
	const uint8_t *p;
	size_t len, off;
	size_t items_left;
	const char *field;
	char *errstr;
	size_t errstr_size;
};

__attribute__((format(printf, 2, 3)))
static int wfail(struct walk *w, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!w->errstr_size)
		return -EINVAL;
	if (w->field)
		n = snprintf(w->errstr, w->errstr_size, "datum byte %zu, field \"%s\": ", w->off,
			     w->field);
	else
		n = snprintf(w->errstr, w->errstr_size, "datum byte %zu: ", w->off);
	if (n >= 0 && (size_t)n < w->errstr_size) {
		va_start(ap, fmt);
		vsnprintf(w->errstr + n, w->errstr_size - n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int wskip(struct walk *w, uint64_t n, const char *what)
{
	if (n > w->len - w->off)
		return wfail(w, "%s: need %" PRIu64 " bytes, have %zu", what, n, w->len - w->off);
	w->off += n;
	return 0;
}

/* A zig-zag varint of at most max_bytes bytes whose value fits in `bits` bits before zig-zag. */
static inline int wvarint(struct walk *w, unsigned max_bytes, unsigned bits, int64_t *out,
			  const char *what)
{
	uint64_t raw = 0;
	uint8_t b;

	for (unsigned i = 0;; i++) {
		if (i == max_bytes)
			return wfail(w, "%s: varint longer than %u bytes", what, max_bytes);
		if (w->off == w->len)
			return wfail(w, "%s: need 1 byte, have 0", what);
		b = w->p[w->off++];
		if (7 * i + 7 > bits && (b & 0x7f) >> (bits - 7 * i))
			return wfail(w, "%s: varint out of range", what);
		raw |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80))
			break;
	}
	*out = (int64_t)((raw >> 1) ^ (0 - (raw & 1)));
	return 0;
}

static inline int wlong(struct walk *w, int64_t *v, const char *what)
{
	/* The common case, a one-byte varint, without the loop. */
	if (w->off < w->len && !(w->p[w->off] & 0x80)) {
		uint8_t b = w->p[w->off++];

		*v = (int64_t)((b >> 1) ^ (0 - (b & 1)));
		return 0;
	}
	return wvarint(w, 10, 64, v, what);
}

static int wblob(struct walk *w, const char *what)
{
	int64_t n = 0;
	int err;

	if ((err = wlong(w, &n, what)))
		return err;
	if (n < 0)
		return wfail(w, "%s: negative length %" PRId64, what, n);
	return wskip(w, (uint64_t)n, what);
}

static int windex(struct walk *w, int64_t n, int64_t *idx, const char *what)
{
	int err;

	if ((err = wlong(w, idx, what)))
		return err;
	if (*idx < 0 || *idx >= n)
		return wfail(w, "%s %" PRId64 " out of range [0, %" PRId64 ")", what, *idx, n);
	return 0;
}

static int walk(struct walk *w, uint32_t ni, int depth);

static int walk_blocks(struct walk *w, const struct node *n, int depth)
{
	bool map = n->type == AVRO_SKIP_MAP;
	uint32_t item = w->s->kids[n->kids];
	int64_t count = 0, size = 0;
	int err;

	for (;;) {
		if ((err = wlong(w, &count, "block count")))
			return err;
		if (count == 0)
			return 0;
		if (count < 0) { /* a block with its byte size: -count items follow */
			if (count == INT64_MIN)
				return wfail(w, "block count out of range");
			count = -count;
			if ((err = wlong(w, &size, "block size")))
				return err;
			if (size < 0 || (uint64_t)size > w->len - w->off)
				return wfail(w, "block size %" PRId64 ", have %zu bytes", size,
					     w->len - w->off);
		}
		if ((uint64_t)count > w->items_left)
			return wfail(w, "%" PRId64 " items: more than the datum can hold", count);
		w->items_left -= count;
		for (int64_t i = 0; i < count; i++) {
			if (map && (err = wblob(w, "map key")))
				return err;
			if ((err = walk(w, item, depth + 1)))
				return err;
		}
	}
}

static int walk(struct walk *w, uint32_t ni, int depth)
{
	const struct node *n = &w->s->nodes[ni];
	const char *outer = w->field;
	int64_t v = 0;
	int err = 0;

	if (depth > AVRO_SKIP_MAX_DEPTH)
		return wfail(w, "nested deeper than %d levels", AVRO_SKIP_MAX_DEPTH);
	switch ((enum avro_skip_type)n->type) {
	case AVRO_SKIP_NULL:
		return 0;
	case AVRO_SKIP_BOOLEAN:
		if (w->off == w->len)
			return wfail(w, "boolean: need 1 byte, have 0");
		if (w->p[w->off] > 1)
			return wfail(w, "boolean byte 0x%02x", w->p[w->off]);
		w->off++;
		return 0;
	case AVRO_SKIP_INT:
		return wvarint(w, 5, 32, &v, "int");
	case AVRO_SKIP_LONG:
		return wlong(w, &v, "long");
	case AVRO_SKIP_FLOAT:
		return wskip(w, 4, "float");
	case AVRO_SKIP_DOUBLE:
		return wskip(w, 8, "double");
	case AVRO_SKIP_STRING:
		return wblob(w, "string");
	case AVRO_SKIP_BYTES:
		return wblob(w, "bytes");
	case AVRO_SKIP_FIXED:
		return wskip(w, n->n, "fixed");
	case AVRO_SKIP_ENUM:
		return windex(w, n->n, &v, "enum index");
	case AVRO_SKIP_UNION:
		if ((err = windex(w, n->n, &v, "union branch")))
			return err;
		return walk(w, w->s->kids[n->kids + v], depth + 1);
	case AVRO_SKIP_RECORD:
		for (uint32_t i = 0; i < n->n && !err; i++) {
			w->field = w->s->kid_names[n->kids + i];
			err = walk(w, w->s->kids[n->kids + i], depth + 1);
		}
		if (!err)
			w->field = outer; /* on error the innermost field names the culprit */
		return err;
	case AVRO_SKIP_ARRAY:
	case AVRO_SKIP_MAP:
		return walk_blocks(w, n, depth);
	}
	return wfail(w, "bad schema table");
}

int avro_skip_datum(const struct avro_skip *s, const uint8_t *buf, size_t len, size_t *used,
		    size_t *field_off, char *errstr, size_t errstr_size)
{
	struct walk w = {
		.s = s, .p = buf, .len = len, .errstr = errstr, .errstr_size = errstr_size,
		.items_left = (len < SIZE_MAX - AVRO_SKIP_ZERO_WIDTH_ITEMS ? len : 0) +
			      AVRO_SKIP_ZERO_WIDTH_ITEMS,
	};
	const struct node *r = &s->nodes[s->root];
	int err = 0;

	if (field_off && r->type == AVRO_SKIP_RECORD) {
		for (uint32_t i = 0; i < r->n && !err; i++) {
			field_off[i] = w.off;
			w.field = s->kid_names[r->kids + i];
			err = walk(&w, s->kids[r->kids + i], 1);
		}
		if (!err)
			field_off[r->n] = w.off;
	} else {
		err = walk(&w, s->root, 0);
	}
	if (!err)
		*used = w.off;
	return err;
}

int avro_read_long(const uint8_t *buf, size_t len, size_t *off, int64_t *v)
{
	struct walk w = { .p = buf, .len = len, .off = *off };

	if (*off > len || wvarint(&w, 10, 64, v, "long"))
		return -EINVAL;
	*off = w.off;
	return 0;
}

int avro_read_int(const uint8_t *buf, size_t len, size_t *off, int32_t *v)
{
	struct walk w = { .p = buf, .len = len, .off = *off };
	int64_t v64 = 0;

	if (*off > len || wvarint(&w, 5, 32, &v64, "int"))
		return -EINVAL;
	*off = w.off;
	*v = (int32_t)v64;
	return 0;
}

int avro_read_bytes(const uint8_t *buf, size_t len, size_t *off, const uint8_t **out, size_t *n)
{
	size_t o = *off;
	int64_t l = 0;

	if (avro_read_long(buf, len, &o, &l) || l < 0 || (uint64_t)l > len - o)
		return -EINVAL;
	*out = buf + o;
	*n = (size_t)l;
	*off = o + (size_t)l;
	return 0;
}

size_t avro_write_long(uint8_t *out, int64_t v)
{
	uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
	size_t n = 0;

	while (z > 0x7f) {
		out[n++] = (uint8_t)(z | 0x80);
		z >>= 7;
	}
	out[n++] = (uint8_t)z;
	return n;
}
