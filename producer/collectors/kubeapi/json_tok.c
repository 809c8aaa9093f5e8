#include "json_tok.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define FIRST_CAP 256

void jtok_init(struct jtok_doc *d, uint32_t max_tokens, uint32_t max_depth)
{
	memset(d, 0, sizeof(*d));
	d->max_tokens = max_tokens ? max_tokens : 1;
	d->max_depth = max_depth < 1 ? 1 : max_depth > JTOK_DEPTH_LIMIT ? JTOK_DEPTH_LIMIT
									  : max_depth;
}

void jtok_free(struct jtok_doc *d)
{
	free(d->tok);
	d->tok = NULL;
	d->cap = d->ntok = 0;
}

const char *jtok_result_name(int result)
{
	switch (result) {
	case JTOK_OK:
		return "ok";
	case JTOK_SYNTAX:
		return "syntax";
	case JTOK_TRUNCATED:
		return "truncated";
	case JTOK_DEPTH:
		return "too_deep";
	case JTOK_TOO_MANY:
		return "too_many_tokens";
	case JTOK_NO_MEMORY:
		return "no_memory";
	case JTOK_TOO_LONG:
		return "too_long";
	}
	return "invalid";
}

/* A new token of `type` at `start`; -1 with *err set when the array is full for good. A doc
 * that discards (jtok_validate) has one token, reused. */
static int add_token(struct jtok_doc *d, enum jtok_type type, size_t start, int *err)
{
	struct jtok *t;

	if (d->discard)
		d->ntok = 0;
	else if (d->ntok == d->cap) {
		uint32_t cap = d->cap ? d->cap * 2 : FIRST_CAP;
		struct jtok *grown;

		if (d->cap >= d->max_tokens) {
			*err = JTOK_TOO_MANY;
			return -1;
		}
		if (cap > d->max_tokens)
			cap = d->max_tokens;
		grown = realloc(d->tok, (size_t)cap * sizeof(*grown));
		if (!grown) {
			*err = JTOK_NO_MEMORY;
			return -1;
		}
		d->tok = grown;
		d->cap = cap;
	}
	t = &d->tok[d->ntok];
	t->start = (uint32_t)start;
	t->len = 0;
	t->next = d->ntok + 1;
	t->type = (uint8_t)type;
	t->flags = 0;
	return (int)d->ntok++;
}

static inline bool is_blank(unsigned char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static inline bool is_hex(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Eight bytes at a time: does w hold a '"', a '\\' or a control character (< 0x20)? */
static inline bool word_has_special(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	uint64_t quote = w ^ (ones * '"'), backslash = w ^ (ones * '\\');

	return (((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) |
		((w - ones * 0x20) & ~w)) & highs;
}

/*
 * The string whose opening quote is at s[*i]: on success *i is just past its closing quote and
 * the token holds its content. JTOK_SYNTAX (bad escape, control character) or JTOK_TRUNCATED.
 */
static int scan_string(struct jtok_doc *d, const unsigned char *s, size_t len, size_t *i,
		       int tok)
{
	size_t p = *i + 1, start = p;

	for (;;) {
		while (len - p >= 8) {
			uint64_t w;

			memcpy(&w, s + p, sizeof(w));
			if (word_has_special(w))
				break;
			p += 8;
		}
		while (p < len && s[p] >= 0x20 && s[p] != '"' && s[p] != '\\')
			p++;
		if (p >= len) {
			d->error_at = p;
			return JTOK_TRUNCATED;
		}
		if (s[p] == '"')
			break;
		if (s[p] < 0x20) {
			d->error_at = p;
			return JTOK_SYNTAX;
		}
		/* A backslash: one of the escapes RFC 8259 allows. */
		d->tok[tok].flags |= JTOK_ESCAPED;
		if (p + 1 >= len) {
			d->error_at = p;
			return JTOK_TRUNCATED;
		}
		switch (s[p + 1]) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
			p += 2;
			break;
		case 'u':
			if (len - p < 6) {
				d->error_at = p;
				return JTOK_TRUNCATED;
			}
			if (!is_hex(s[p + 2]) || !is_hex(s[p + 3]) || !is_hex(s[p + 4]) ||
			    !is_hex(s[p + 5])) {
				d->error_at = p;
				return JTOK_SYNTAX;
			}
			p += 6;
			break;
		default:
			d->error_at = p;
			return JTOK_SYNTAX;
		}
	}
	d->tok[tok].start = (uint32_t)start;
	d->tok[tok].len = (uint32_t)(p - start);
	*i = p + 1;
	return JTOK_OK;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at s[*i]. */
static int scan_number(struct jtok_doc *d, const unsigned char *s, size_t len, size_t *i,
		       int tok)
{
	size_t p = *i;

	if (p < len && s[p] == '-')
		p++;
	if (p >= len)
		goto truncated;
	if (s[p] == '0') {
		p++;
	} else if (is_digit(s[p])) {
		while (p < len && is_digit(s[p]))
			p++;
	} else {
		goto syntax;
	}
	if (p < len && s[p] == '.') {
		p++;
		if (p >= len)
			goto truncated;
		if (!is_digit(s[p]))
			goto syntax;
		while (p < len && is_digit(s[p]))
			p++;
	}
	if (p < len && (s[p] == 'e' || s[p] == 'E')) {
		p++;
		if (p < len && (s[p] == '+' || s[p] == '-'))
			p++;
		if (p >= len)
			goto truncated;
		if (!is_digit(s[p]))
			goto syntax;
		while (p < len && is_digit(s[p]))
			p++;
	}
	d->tok[tok].len = (uint32_t)(p - *i);
	*i = p;
	return JTOK_OK;
truncated:
	d->error_at = p;
	return JTOK_TRUNCATED;
syntax:
	d->error_at = p;
	return JTOK_SYNTAX;
}

static int scan_literal(struct jtok_doc *d, const unsigned char *s, size_t len, size_t *i,
			const char *word, int tok)
{
	size_t n = strlen(word), have = len - *i < n ? len - *i : n;

	if (memcmp(s + *i, word, have) != 0) {
		d->error_at = *i;
		return JTOK_SYNTAX;
	}
	if (have < n) {
		d->error_at = len;
		return JTOK_TRUNCATED;
	}
	d->tok[tok].len = (uint32_t)n;
	*i += n;
	return JTOK_OK;
}

static void skip_blanks(const unsigned char *s, size_t len, size_t *i)
{
	while (*i < len && is_blank(s[*i]))
		(*i)++;
}

static int scan(struct jtok_doc *d, const char *text, size_t len, size_t *end)
{
	const unsigned char *s = (const unsigned char *)text;
	uint32_t stack[JTOK_DEPTH_LIMIT];
	uint8_t kinds[JTOK_DEPTH_LIMIT]; /* the open containers' types (a discarding doc keeps no
					 * tokens to read them from) */
	uint32_t depth = 0;
	size_t i = 0;
	int err = JTOK_OK, t;

	d->text = text;
	d->len = len;
	d->ntok = 0;
	d->error_at = 0;
	if (len >= UINT32_MAX) {
		d->error_at = 0;
		return JTOK_TOO_LONG;
	}

value:
	skip_blanks(s, len, &i);
	if (i >= len)
		goto truncated;
	switch (s[i]) {
	case '{':
	case '[':
		if (depth == d->max_depth) {
			d->error_at = i;
			return JTOK_DEPTH;
		}
		t = add_token(d, s[i] == '{' ? JTOK_OBJECT : JTOK_ARRAY, i, &err);
		if (t < 0)
			goto failed;
		kinds[depth] = d->tok[t].type;
		stack[depth++] = (uint32_t)t;
		i++;
		skip_blanks(s, len, &i);
		if (i >= len)
			goto truncated;
		if (s[i] == (kinds[depth - 1] == JTOK_OBJECT ? '}' : ']'))
			goto close;
		if (kinds[depth - 1] == JTOK_OBJECT)
			goto key;
		goto value;
	case '"':
		t = add_token(d, JTOK_STRING, i, &err);
		if (t < 0)
			goto failed;
		err = scan_string(d, s, len, &i, t);
		break;
	case 't':
		t = add_token(d, JTOK_TRUE, i, &err);
		if (t < 0)
			goto failed;
		err = scan_literal(d, s, len, &i, "true", t);
		break;
	case 'f':
		t = add_token(d, JTOK_FALSE, i, &err);
		if (t < 0)
			goto failed;
		err = scan_literal(d, s, len, &i, "false", t);
		break;
	case 'n':
		t = add_token(d, JTOK_NULL, i, &err);
		if (t < 0)
			goto failed;
		err = scan_literal(d, s, len, &i, "null", t);
		break;
	default:
		if (s[i] != '-' && !is_digit(s[i])) {
			d->error_at = i;
			return JTOK_SYNTAX;
		}
		t = add_token(d, JTOK_NUMBER, i, &err);
		if (t < 0)
			goto failed;
		err = scan_number(d, s, len, &i, t);
		break;
	}
	if (err)
		return err;

after_value:
	if (depth == 0) {
		*end = i;
		return JTOK_OK;
	}
	skip_blanks(s, len, &i);
	if (i >= len)
		goto truncated;
	if (s[i] == ',') {
		i++;
		if (kinds[depth - 1] == JTOK_OBJECT)
			goto key;
		goto value;
	}
	if (s[i] != (kinds[depth - 1] == JTOK_OBJECT ? '}' : ']')) {
		d->error_at = i;
		return JTOK_SYNTAX;
	}
close:
	t = (int)stack[--depth];
	if (!d->discard) {
		d->tok[t].len = (uint32_t)(i + 1 - d->tok[t].start);
		d->tok[t].next = d->ntok;
	}
	i++;
	goto after_value;

key:
	skip_blanks(s, len, &i);
	if (i >= len)
		goto truncated;
	if (s[i] != '"') {
		d->error_at = i;
		return JTOK_SYNTAX;
	}
	t = add_token(d, JTOK_STRING, i, &err);
	if (t < 0)
		goto failed;
	err = scan_string(d, s, len, &i, t);
	if (err)
		return err;
	skip_blanks(s, len, &i);
	if (i >= len)
		goto truncated;
	if (s[i] != ':') {
		d->error_at = i;
		return JTOK_SYNTAX;
	}
	i++;
	goto value;

truncated:
	d->error_at = len;
	return JTOK_TRUNCATED;
failed:
	d->error_at = i;
	return err;
}

int jtok_parse_value(struct jtok_doc *d, const char *text, size_t len, size_t *end)
{
	d->discard = false;
	return scan(d, text, len, end);
}

int jtok_validate(const char *text, size_t len, uint32_t max_depth, size_t *end,
		  size_t *error_at)
{
	struct jtok one;
	struct jtok_doc d;
	int err;

	jtok_init(&d, 1, max_depth);
	d.tok = &one;
	d.cap = 1;
	d.discard = true;
	err = scan(&d, text, len, end);
	d.ntok = 0;
	*error_at = d.error_at;
	return err;
}

int jtok_parse(struct jtok_doc *d, const char *text, size_t len)
{
	size_t end;
	int err = jtok_parse_value(d, text, len, &end);

	if (err)
		return err;
	skip_blanks((const unsigned char *)text, len, &end);
	if (end != len) {
		d->error_at = end;
		return JTOK_SYNTAX;
	}
	return JTOK_OK;
}

static unsigned hex_value(unsigned char c)
{
	return c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
}

static unsigned hex4(const unsigned char *p)
{
	return hex_value(p[0]) << 12 | hex_value(p[1]) << 8 | hex_value(p[2]) << 4 |
	       hex_value(p[3]);
}

/* UTF-8 of code point cp into buf (at most 4 bytes); returns its length. */
static size_t utf8_put(unsigned cp, char *buf)
{
	if (cp < 0x80) {
		buf[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		buf[0] = (char)(0xc0 | cp >> 6);
		buf[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		buf[0] = (char)(0xe0 | cp >> 12);
		buf[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		buf[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	buf[0] = (char)(0xf0 | cp >> 18);
	buf[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	buf[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	buf[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * The next character of a string's content at s[*p] (p < end), decoded into buf: its bytes
 * (1 to 4), *p advanced past it. A byte that is not an escape is copied alone (a UTF-8
 * sequence's bytes come one by one; the caller keeps them together when it cuts).
 */
static size_t next_char(const unsigned char *s, size_t end, size_t *p, char *buf)
{
	unsigned cp, lo;

	if (s[*p] != '\\') {
		buf[0] = (char)s[(*p)++];
		return 1;
	}
	switch (s[*p + 1]) { /* validated by the tokenizer: an escape is complete */
	case 'b':
		cp = '\b';
		break;
	case 'f':
		cp = '\f';
		break;
	case 'n':
		cp = '\n';
		break;
	case 'r':
		cp = '\r';
		break;
	case 't':
		cp = '\t';
		break;
	case 'u':
		cp = hex4(s + *p + 2);
		*p += 6;
		if (cp >= 0xd800 && cp <= 0xdbff && end - *p >= 6 && s[*p] == '\\' &&
		    s[*p + 1] == 'u' && (lo = hex4(s + *p + 2)) >= 0xdc00 && lo <= 0xdfff) {
			*p += 6;
			return utf8_put(0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00), buf);
		}
		if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff))
			cp = 0xfffd; /* no NUL in a C string; a lone surrogate is no character */
		return utf8_put(cp, buf);
	default: /* '"', '\\', '/' */
		cp = s[*p + 1];
		break;
	}
	*p += 2;
	return utf8_put(cp, buf);
}

size_t jtok_decode(const struct jtok_doc *d, int i, char *out, size_t size, bool *cut)
{
	const struct jtok *t = &d->tok[i];
	const unsigned char *s = (const unsigned char *)d->text;
	size_t p = t->start, end = t->start + t->len, n = 0, k;
	unsigned char excluded = 0; /* the first byte left out */
	char buf[4];

	*cut = false;
	if (!(t->flags & JTOK_ESCAPED)) {
		n = t->len < size - 1 ? t->len : size - 1;
		memcpy(out, s + p, n);
		*cut = n < t->len;
		if (*cut)
			excluded = s[p + n];
	} else {
		while (p < end) {
			k = next_char(s, end, &p, buf);
			if (n + k > size - 1) {
				*cut = true;
				excluded = (unsigned char)buf[0];
				break;
			}
			memcpy(out + n, buf, k);
			n += k;
		}
	}
	/* Cut inside a multi-byte character (what was left out continues it): drop its first
	 * bytes too. */
	if (*cut && (excluded & 0xc0) == 0x80) {
		while (n > 0 && ((unsigned char)out[n - 1] & 0xc0) == 0x80)
			n--;
		if (n > 0 && (unsigned char)out[n - 1] >= 0xc0)
			n--;
	}
	out[n] = '\0';
	return n;
}

bool jtok_eq(const struct jtok_doc *d, int i, const char *str, size_t n)
{
	const struct jtok *t = &d->tok[i];
	const unsigned char *s = (const unsigned char *)d->text;
	size_t p = t->start, end = t->start + t->len, at = 0, k;
	char buf[4];

	if (t->type != JTOK_STRING)
		return false;
	if (!(t->flags & JTOK_ESCAPED))
		return t->len == n && memcmp(s + p, str, n) == 0;
	while (p < end) {
		k = next_char(s, end, &p, buf);
		if (at + k > n || memcmp(str + at, buf, k) != 0)
			return false;
		at += k;
	}
	return at == n;
}

int jtok_get(const struct jtok_doc *d, int obj, const char *key)
{
	size_t n = strlen(key);

	if (!jtok_is(d, obj, JTOK_OBJECT))
		return -1;
	for (int k = jtok_first(d, obj); k >= 0; k = jtok_next_member(d, obj, k))
		if (jtok_eq(d, k, key, n))
			return k + 1;
	return -1;
}

bool jtok_int64(const struct jtok_doc *d, int i, int64_t *out)
{
	const struct jtok *t = &d->tok[i];
	const char *s = d->text + t->start;
	size_t p = 0;
	bool neg = false;
	uint64_t v = 0, limit;

	if (t->type != JTOK_NUMBER)
		return false;
	if (s[0] == '-') {
		neg = true;
		p = 1;
	}
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; p < t->len; p++) {
		unsigned digit;

		if (!is_digit((unsigned char)s[p]))
			return false; /* a fraction or an exponent */
		digit = (unsigned)(s[p] - '0');
		if (v > (limit - digit) / 10)
			return false;
		v = v * 10 + digit;
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}
