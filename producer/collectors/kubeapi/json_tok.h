/*
 * A validating JSON tokenizer: one value's text becomes a flat array of tokens that point into
 * the text, with no allocation per value (the array is reused and grows to a bound). It exists
 * because jansson, which builds a tree of allocated nodes and checks every string's UTF-8, takes
 * about 88 µs to parse one 5.7 KB pod watch event on the development machine, more than the
 * whole budget of a pod record (BENCHMARKS.md); this takes a few µs.
 *
 * What it checks: the JSON grammar of RFC 8259 (structure, string escapes, number syntax,
 * literals, no control character inside a string), nesting depth and token count. What it does
 * not: the UTF-8 of strings, which whoever writes a string out must check (avro_put_string
 * replaces invalid sequences), and duplicate keys (jtok_get finds the first).
 *
 * Tokens: a container's children follow it; tok[i].next is the index just past value i and
 * everything inside it, so siblings are walked without recursion. An object's members are key
 * and value tokens in turn. Strings point at their bytes between the quotes, escapes not yet
 * decoded (JTOK_ESCAPED says whether any are present: jtok_decode decodes them).
 *
 * Ownership: the caller owns struct jtok_doc; jtok_init allocates nothing, the token array grows
 * on demand up to max_tokens and jtok_free releases it. Tokens point into the text given to the
 * last parse, which must outlive their use. Threading: none.
 */
#ifndef TAPIO_JSON_TOK_H
#define TAPIO_JSON_TOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum jtok_type {
	JTOK_NONE = 0,
	JTOK_OBJECT,
	JTOK_ARRAY,
	JTOK_STRING,
	JTOK_NUMBER,
	JTOK_TRUE,
	JTOK_FALSE,
	JTOK_NULL,
};

#define JTOK_ESCAPED 1 /* a string with at least one backslash escape */

struct jtok {
	uint32_t start; /* first byte: of a string's content (after the quote), else of the value */
	uint32_t len;   /* bytes: a string's content without its quotes, a container through its
			 * closing bracket */
	uint32_t next;  /* index of the token after this value and its children */
	uint8_t type;   /* enum jtok_type */
	uint8_t flags;  /* JTOK_ESCAPED */
};

enum jtok_result {
	JTOK_OK = 0,
	JTOK_SYNTAX,    /* not JSON (error_at says where) */
	JTOK_TRUNCATED, /* the text ended inside the value */
	JTOK_DEPTH,     /* nested deeper than max_depth */
	JTOK_TOO_MANY,  /* more than max_tokens tokens */
	JTOK_NO_MEMORY, /* the token array could not grow */
	JTOK_TOO_LONG,  /* a text of 4 GiB or more */
};

/* The hard bound on max_depth: the parser keeps one entry per open container on its stack. */
#define JTOK_DEPTH_LIMIT 256

struct jtok_doc {
	const char *text;
	size_t len;
	struct jtok *tok;
	uint32_t ntok;       /* tokens of the last parse */
	uint32_t cap;        /* tokens allocated */
	uint32_t max_tokens;
	uint32_t max_depth;
	size_t error_at;     /* byte offset of the error of the last failed parse */
	bool discard;        /* jtok_validate's: no tokens kept */
};

/* max_tokens >= 1; max_depth 1 .. JTOK_DEPTH_LIMIT (clamped). Allocates nothing. */
void jtok_init(struct jtok_doc *d, uint32_t max_tokens, uint32_t max_depth);
void jtok_free(struct jtok_doc *d);

/* Tokenizes the one JSON value at the start of text[0..len) (blanks before it skipped); JTOK_OK
 * with *end just past the value (the text after it is not looked at), or why not. */
int jtok_parse_value(struct jtok_doc *d, const char *text, size_t len, size_t *end);

/* Checks the one JSON value at the start of text as jtok_parse_value does, keeping no tokens
 * (no bound on their number, no allocation): *end just past it, or the error at *error_at. */
int jtok_validate(const char *text, size_t len, uint32_t max_depth, size_t *end,
		  size_t *error_at);

/* The whole text must be one value, blanks around it allowed. */
int jtok_parse(struct jtok_doc *d, const char *text, size_t len);

/* "syntax", "truncated", ... */
const char *jtok_result_name(int result);

/* The value of `key` in object `obj` (the first such member), or -1 when absent or when obj is
 * not an object. Keys are compared decoded. */
int jtok_get(const struct jtok_doc *d, int obj, const char *key);

/* True when string token i decodes to exactly the n bytes at s. */
bool jtok_eq(const struct jtok_doc *d, int i, const char *s, size_t n);

/*
 * Decodes string token i into out: at most size - 1 bytes and a NUL, cut at a character
 * boundary (*cut set when something did not fit). \u0000 and lone surrogates become U+FFFD
 * (the output is a C string). Returns the bytes written. size >= 1.
 */
size_t jtok_decode(const struct jtok_doc *d, int i, char *out, size_t size, bool *cut);

/* Number token i as an integer: false when it has a fraction or exponent or is out of range. */
bool jtok_int64(const struct jtok_doc *d, int i, int64_t *out);

static inline bool jtok_is(const struct jtok_doc *d, int i, enum jtok_type type)
{
	return i >= 0 && (uint32_t)i < d->ntok && d->tok[i].type == type;
}

/* Objects: for (int k = jtok_first(d, obj); k >= 0; k = jtok_next_member(d, obj, k)) with the
 * key at k and its value at k + 1. Arrays: jtok_first, then jtok_next_element. */
static inline int jtok_first(const struct jtok_doc *d, int c)
{
	return d->tok[c].next > (uint32_t)c + 1 ? c + 1 : -1;
}

static inline int jtok_next_member(const struct jtok_doc *d, int obj, int key)
{
	uint32_t n = d->tok[key + 1].next;

	return n < d->tok[obj].next ? (int)n : -1;
}

static inline int jtok_next_element(const struct jtok_doc *d, int arr, int el)
{
	uint32_t n = d->tok[el].next;

	return n < d->tok[arr].next ? (int)n : -1;
}

#endif /* TAPIO_JSON_TOK_H */
