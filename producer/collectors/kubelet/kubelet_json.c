/* A read-only JSON document as a flat array of tokens (see kubelet_json.h). */
#include "kubelet_json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool is_ws(char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static size_t skip_ws(const char *s, size_t n, size_t i)
{
	while (i < n && is_ws(s[i]))
		i++;
	return i;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* A new token of `type` at `start`. Its index, or -ENOMEM / -E2BIG. */
static int64_t add(struct kj_doc *d, enum kj_type type, size_t start, size_t len)
{
	struct kj_token *t;

	if (d->ntok == d->cap) {
		size_t cap = d->cap ? (size_t)d->cap * 2 : 256;
		struct kj_token *grown;

		if (cap > UINT32_MAX)
			return -E2BIG;
		grown = realloc(d->tok, cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		d->tok = grown;
		d->cap = (uint32_t)cap;
	}
	t = &d->tok[d->ntok];
	*t = (struct kj_token){ .start = (uint32_t)start, .len = (uint32_t)len,
				.next = d->ntok + 1, .type = (uint8_t)type };
	return d->ntok++;
}

/* The string whose opening quote is at s[i]: its end (after the closing quote), or 0 when it
 * is not a valid string. */
static size_t scan_string(const char *s, size_t n, size_t i, bool *escaped)
{
	*escaped = false;
	for (i++; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"')
			return i + 1;
		if (c < 0x20)
			return 0;
		if (c != '\\')
			continue;
		*escaped = true;
		if (++i == n)
			return 0;
		switch (s[i]) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
			break;
		case 'u':
			if (n - i < 5 || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0 ||
			    hexval(s[i + 3]) < 0 || hexval(s[i + 4]) < 0)
				return 0;
			i += 4;
			break;
		default:
			return 0;
		}
	}
	return 0;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The number at s[i]: its end, or 0 when it is not one. */
static size_t scan_number(const char *s, size_t n, size_t i)
{
	if (i < n && s[i] == '-')
		i++;
	if (i == n || !is_digit(s[i]))
		return 0;
	if (s[i] == '0')
		i++;
	else
		while (i < n && is_digit(s[i]))
			i++;
	if (i < n && s[i] == '.') {
		if (++i == n || !is_digit(s[i]))
			return 0;
		while (i < n && is_digit(s[i]))
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		if (++i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i == n || !is_digit(s[i]))
			return 0;
		while (i < n && is_digit(s[i]))
			i++;
	}
	return i;
}

int kj_parse(struct kj_doc *d, const char *s, size_t n, unsigned max_depth)
{
	/* What may come next: a value, a key (or the end of an empty object), a value (or the
	 * end of an empty array), a separator or the end of the container. */
	enum { VALUE, KEY_OR_CLOSE, KEY, VALUE_OR_CLOSE, SEPARATOR } want = VALUE;
	uint32_t stack[KJ_DEPTH_MAX];
	unsigned depth = 0;
	size_t i = 0, end;
	int64_t t;
	bool esc;
	int err = -EBADMSG;

	*d = (struct kj_doc){ .text = s, .len = n };
	if (n >= UINT32_MAX)
		return -E2BIG;
	if (max_depth > KJ_DEPTH_MAX)
		max_depth = KJ_DEPTH_MAX;
	for (;;) {
		i = skip_ws(s, n, i);
		if (i == n)
			goto fail;
		switch (want) {
		case KEY_OR_CLOSE:
			if (s[i] == '}')
				goto close;
			/* fall through */
		case KEY:
			if (s[i] != '"' || !(end = scan_string(s, n, i, &esc)))
				goto fail;
			t = add(d, KJ_STRING, i + 1, end - i - 2);
			if (t < 0)
				goto oom;
			d->tok[t].escaped = esc;
			i = skip_ws(s, n, end);
			if (i == n || s[i] != ':')
				goto fail;
			i++;
			want = VALUE;
			continue;
		case VALUE_OR_CLOSE:
			if (s[i] == ']')
				goto close;
			/* fall through */
		case VALUE:
			break;
		case SEPARATOR:
			if (s[i] == ',') {
				i++;
				want = d->tok[stack[depth - 1]].type == KJ_OBJECT ? KEY : VALUE;
				continue;
			}
			if (s[i] == (d->tok[stack[depth - 1]].type == KJ_OBJECT ? '}' : ']'))
				goto close;
			goto fail;
		}
		/* A value. */
		switch (s[i]) {
		case '{':
		case '[':
			if (depth == max_depth)
				goto fail;
			t = add(d, s[i] == '{' ? KJ_OBJECT : KJ_ARRAY, i, 0);
			if (t < 0)
				goto oom;
			stack[depth++] = (uint32_t)t;
			want = s[i] == '{' ? KEY_OR_CLOSE : VALUE_OR_CLOSE;
			i++;
			continue;
		case '"':
			if (!(end = scan_string(s, n, i, &esc)))
				goto fail;
			t = add(d, KJ_STRING, i + 1, end - i - 2);
			if (t >= 0)
				d->tok[t].escaped = esc;
			break;
		case 't':
		case 'f':
		case 'n': {
			const char *lit = s[i] == 't' ? "true" : s[i] == 'f' ? "false" : "null";
			size_t len = strlen(lit);

			if (n - i < len || memcmp(s + i, lit, len))
				goto fail;
			end = i + len;
			t = add(d, s[i] == 't' ? KJ_TRUE : s[i] == 'f' ? KJ_FALSE : KJ_NULL, i, len);
			break;
		}
		default:
			if (!(end = scan_number(s, n, i)))
				goto fail;
			t = add(d, KJ_NUMBER, i, end - i);
			break;
		}
		if (t < 0)
			goto oom;
		i = end;
		goto value_done;
close:
		/* The container on top of the stack ends here. */
		depth--;
		d->tok[stack[depth]].next = d->ntok;
		i++;
value_done:
		if (!depth) {
			i = skip_ws(s, n, i);
			if (i != n)
				goto fail;
			return 0;
		}
		d->tok[stack[depth - 1]].count++;
		want = SEPARATOR;
	}
oom:
	err = (int)t;
fail:
	kj_free(d);
	return err;
}

void kj_free(struct kj_doc *d)
{
	free(d->tok);
	*d = (struct kj_doc){ 0 };
}

kj_t kj_first(const struct kj_doc *d, kj_t arr)
{
	if (arr == KJ_NONE || d->tok[arr].type != KJ_ARRAY || !d->tok[arr].count)
		return KJ_NONE;
	return arr + 1;
}

kj_t kj_next(const struct kj_doc *d, kj_t arr, kj_t elem)
{
	uint32_t next = d->tok[elem].next;

	return next < d->tok[arr].next ? (kj_t)next : KJ_NONE;
}

kj_t kj_first_key(const struct kj_doc *d, kj_t obj)
{
	if (obj == KJ_NONE || d->tok[obj].type != KJ_OBJECT || !d->tok[obj].count)
		return KJ_NONE;
	return obj + 1;
}

kj_t kj_next_key(const struct kj_doc *d, kj_t obj, kj_t key)
{
	uint32_t next = d->tok[key + 1].next;

	return next < d->tok[obj].next ? (kj_t)next : KJ_NONE;
}

/* Appends code point cp as UTF-8 to buf (at most size - 1 bytes in all); the new length. */
static size_t put_utf8(char *buf, size_t size, size_t len, uint32_t cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	for (size_t i = 0; i < n; i++, len++)
		if (len + 1 < size)
			buf[len] = u[i];
	return len;
}

static uint32_t hex4(const char *p)
{
	return (uint32_t)(hexval(p[0]) << 12 | hexval(p[1]) << 8 | hexval(p[2]) << 4 |
			  hexval(p[3]));
}

size_t kj_str(const struct kj_doc *d, kj_t t, char *buf, size_t size)
{
	const struct kj_token *k = &d->tok[t];
	const char *p = d->text + k->start, *end = p + k->len;
	size_t len = 0;

	if (!k->escaped) {
		size_t n = k->len < size ? k->len : (size ? size - 1 : 0);

		memcpy(buf, p, n);
		if (size)
			buf[n] = '\0';
		return k->len;
	}
	/* kj_parse checked every escape. */
	while (p < end) {
		uint32_t cp;

		if (*p != '\\') {
			if (len + 1 < size)
				buf[len] = *p;
			len++;
			p++;
			continue;
		}
		p++;
		switch (*p) {
		case 'b': cp = '\b'; break;
		case 'f': cp = '\f'; break;
		case 'n': cp = '\n'; break;
		case 'r': cp = '\r'; break;
		case 't': cp = '\t'; break;
		case 'u':
			cp = hex4(p + 1);
			p += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && end - p > 6 && p[1] == '\\' &&
			    p[2] == 'u') {
				uint32_t lo = hex4(p + 3);

				if (lo >= 0xdc00 && lo < 0xe000) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					p += 6;
				}
			}
			if (cp >= 0xd800 && cp < 0xe000)
				cp = 0xfffd; /* a lone surrogate */
			break;
		default: cp = (unsigned char)*p; break; /* " \ / */
		}
		p++;
		len = put_utf8(buf, size, len, cp);
	}
	if (size)
		buf[len < size ? len : size - 1] = '\0';
	return len;
}

bool kj_streq(const struct kj_doc *d, kj_t t, const char *s)
{
	const struct kj_token *k = &d->tok[t];
	size_t n = strlen(s);
	char small[256], *buf = small;
	bool eq;

	if (!k->escaped)
		return k->len == n && memcmp(d->text + k->start, s, n) == 0;
	if (n >= k->len) /* an escape is longer than what it stands for */
		return false;
	if (n + 1 > sizeof(small) && !(buf = malloc(n + 1)))
		return false;
	eq = kj_str(d, t, buf, n + 1) == n && memcmp(buf, s, n) == 0;
	if (buf != small)
		free(buf);
	return eq;
}

kj_t kj_get(const struct kj_doc *d, kj_t obj, const char *key)
{
	kj_t found = KJ_NONE;

	for (kj_t k = kj_first_key(d, obj); k != KJ_NONE; k = kj_next_key(d, obj, k))
		if (kj_streq(d, k, key))
			found = k + 1;
	return found;
}

bool kj_int(const struct kj_doc *d, kj_t t, int64_t *out)
{
	const struct kj_token *k = &d->tok[t];
	const char *p = d->text + k->start, *end = p + k->len;
	bool neg = *p == '-';
	uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;

	if (k->type != KJ_NUMBER)
		return false;
	for (p += neg; p < end; p++) {
		if (!is_digit(*p) || v > (limit - (uint64_t)(*p - '0')) / 10)
			return false; /* a fraction, an exponent, or too large */
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}
