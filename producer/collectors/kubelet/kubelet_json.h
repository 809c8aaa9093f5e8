/*
 * A read-only JSON document for the kubelet collector's bodies: one pass over the bytes makes a
 * flat array of tokens (no allocation per value, no hash tables), and lookups walk it. The
 * kubelet's /pods of a 110-pod node is about 700 KB, its /stats/summary 250 KB, every interval:
 * jansson took five times the whole scrape's CPU budget to build and free their trees.
 *
 * The grammar checked is RFC 8259's (what jansson accepts), with differences a caller should
 * know: UTF-8 inside strings is not validated (the Avro writer replaces invalid bytes), a lone
 * surrogate escape reads as U+FFFD, \u0000 is accepted (a decoded string ends there), and
 * numbers of any size parse (kj_int refuses integers that do not fit). Nesting deeper than
 * max_depth is refused.
 *
 * Ownership: kj_parse() fills a struct kj_doc that borrows `text` (which must outlive it) and
 * owns its tokens; kj_free() releases them. A token index (kj_t) is valid for its document.
 */
#ifndef TAPIO_KUBELET_JSON_H
#define TAPIO_KUBELET_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KJ_DEPTH_MAX 512

enum kj_type { KJ_NULL, KJ_FALSE, KJ_TRUE, KJ_NUMBER, KJ_STRING, KJ_ARRAY, KJ_OBJECT };

struct kj_token {
	uint32_t start;  /* first byte of the value; a string's is after its opening quote */
	uint32_t len;    /* a string's bytes between the quotes, a number's or literal's text */
	uint32_t next;   /* the token after this value and everything inside it */
	uint32_t count;  /* an object's members, an array's elements */
	uint8_t type;    /* enum kj_type */
	bool escaped;    /* a string with backslash escapes */
};

struct kj_doc {
	const char *text;
	size_t len;
	struct kj_token *tok; /* tok[0] is the document's value */
	uint32_t ntok, cap;
};

/* A token index; KJ_NONE for "no such value". */
typedef int64_t kj_t;
#define KJ_NONE ((kj_t)-1)

/* Tokenizes text[0..len). 0; -EBADMSG when it is not one JSON value (or nests deeper than
 * max_depth, at most KJ_DEPTH_MAX); -E2BIG when it is over 4 GiB; -ENOMEM. *d is empty on
 * failure. */
int kj_parse(struct kj_doc *d, const char *text, size_t len, unsigned max_depth);

void kj_free(struct kj_doc *d);

static inline enum kj_type kj_type(const struct kj_doc *d, kj_t t)
{
	return (enum kj_type)d->tok[t].type;
}

/* obj[key] (the last such member, as jansson), or KJ_NONE when obj is not an object or has no
 * such member. obj may be KJ_NONE. */
kj_t kj_get(const struct kj_doc *d, kj_t obj, const char *key);

/* Elements of an array: for (e = kj_first(d, arr); e != KJ_NONE; e = kj_next(d, arr, e)). */
kj_t kj_first(const struct kj_doc *d, kj_t arr);
kj_t kj_next(const struct kj_doc *d, kj_t arr, kj_t elem);

/* Members of an object: key tokens; the value is key + 1. */
kj_t kj_first_key(const struct kj_doc *d, kj_t obj);
kj_t kj_next_key(const struct kj_doc *d, kj_t obj, kj_t key);

/* A number token as an integer: false when it has a fraction or exponent, or does not fit. */
bool kj_int(const struct kj_doc *d, kj_t t, int64_t *out);

/* A string token decoded (escapes resolved, \u to UTF-8, a lone surrogate as U+FFFD) into
 * buf: at most size - 1 bytes, NUL-terminated. Returns the whole decoded length (more than
 * size - 1: it was cut). */
size_t kj_str(const struct kj_doc *d, kj_t t, char *buf, size_t size);

/* A string token equals s. */
bool kj_streq(const struct kj_doc *d, kj_t t, const char *s);

#endif /* TAPIO_KUBELET_JSON_H */
