/*
 * Argument redaction (redact.h). argv comes from any process on the node: every length is
 * checked before every copy, and the output never outgrows the caller's buffer.
 */
#include "redact.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum rule_kind { RULE_FLAG, RULE_NAME, RULE_URL };

struct rule {
	enum rule_kind kind;
	char spelled[REDACT_RULE_MAX + 1]; /* as given, trimmed: for redact_normalize() */
	const char *pattern;               /* into spelled: the name, without a flag's dashes */
	size_t pattern_len;
};

struct redact_rules {
	size_t n;
	bool urls; /* a "user:password@" rule */
	struct rule rules[REDACT_RULES_MAX];
};

static void why_fmt(char *why, size_t why_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void why_fmt(char *why, size_t why_size, const char *fmt, ...)
{
	va_list ap;

	if (!why || !why_size)
		return;
	va_start(ap, fmt);
	vsnprintf(why, why_size, fmt, ap);
	va_end(ap);
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

/* `*` any run, `?` one character, the rest compared case-insensitively (ASCII). Backtracks to
 * the last star only: O(pattern x text) at worst. */
static bool glob_match(const char *p, size_t plen, const char *s, size_t slen)
{
	size_t pi = 0, si = 0, star = SIZE_MAX, mark = 0;

	while (si < slen) {
		if (pi < plen && p[pi] == '*') {
			star = pi++;
			mark = si;
		} else if (pi < plen && (p[pi] == '?' || lower(p[pi]) == lower(s[si]))) {
			pi++;
			si++;
		} else if (star != SIZE_MAX) {
			pi = star + 1;
			si = ++mark;
		} else {
			return false;
		}
	}
	while (pi < plen && p[pi] == '*')
		pi++;
	return pi == plen;
}

int redact_parse(const char *spec, struct redact_rules **out, char *why, size_t why_size)
{
	struct redact_rules *r;
	const char *item = spec, *end, *a, *b;
	int err = 0;

	*out = NULL;
	for (a = spec; *a && blank(*a); a++)
		;
	if (!*a)
		return 0; /* nothing to redact */
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (;;) {
		struct rule *rule;
		size_t len;

		end = strchrnul(item, ',');
		for (a = item; a < end && blank(*a); a++)
			;
		for (b = end; b > a && blank(b[-1]); b--)
			;
		len = (size_t)(b - a);
		if (!len) {
			why_fmt(why, why_size, "empty rule in the list");
			err = -EINVAL;
			goto out;
		}
		if (len > REDACT_RULE_MAX) {
			why_fmt(why, why_size, "rule \"%.20s...\" is longer than %d bytes", a,
				REDACT_RULE_MAX);
			err = -EINVAL;
			goto out;
		}
		if (r->n == REDACT_RULES_MAX) {
			why_fmt(why, why_size, "more than %d rules", REDACT_RULES_MAX);
			err = -EINVAL;
			goto out;
		}
		if (memchr(a, '=', len)) {
			why_fmt(why, why_size, "rule \"%.*s\": a name cannot hold '='", (int)len, a);
			err = -EINVAL;
			goto out;
		}
		rule = &r->rules[r->n];
		memcpy(rule->spelled, a, len);
		rule->spelled[len] = '\0';
		if (len == 14 && !strncasecmp(a, "user:password@", 14)) {
			r->urls = true;
			rule->kind = RULE_URL;
			rule->pattern = rule->spelled;
		} else if (a[0] == '-') {
			rule->kind = RULE_FLAG;
			rule->pattern = rule->spelled;
			while (*rule->pattern == '-')
				rule->pattern++;
			rule->pattern_len = strlen(rule->pattern);
			if (!rule->pattern_len) {
				why_fmt(why, why_size, "rule \"%s\": a flag needs a name", rule->spelled);
				err = -EINVAL;
				goto out;
			}
		} else {
			rule->kind = RULE_NAME;
			rule->pattern = rule->spelled;
			rule->pattern_len = len;
		}
		r->n++;
		if (!*end)
			break;
		item = end + 1;
	}
out:
	if (err) {
		free(r);
		return err;
	}
	*out = r;
	return 0;
}

char *redact_normalize(const struct redact_rules *r)
{
	size_t size = 1, used = 0;
	char *s;

	if (!r)
		return strdup("");
	for (size_t i = 0; i < r->n; i++)
		size += strlen(r->rules[i].spelled) + 2;
	s = malloc(size);
	if (!s)
		return NULL;
	s[0] = '\0';
	for (size_t i = 0; i < r->n; i++)
		used += (size_t)snprintf(s + used, size - used, "%s%s", i ? ", " : "",
					 r->rules[i].spelled);
	return s;
}

void redact_free(struct redact_rules *r)
{
	free(r);
}

static bool matches(const struct redact_rules *r, enum rule_kind kind, const char *name,
		    size_t len)
{
	if (!len)
		return false;
	for (size_t i = 0; i < r->n; i++)
		if (r->rules[i].kind == kind &&
		    glob_match(r->rules[i].pattern, r->rules[i].pattern_len, name, len))
			return true;
	return false;
}

/* "-NAME" or "--NAME[=...]" of `n` bytes whose NAME matches a flag rule. */
static bool flag_matches(const struct redact_rules *r, const char *a, size_t n)
{
	const char *eq = memchr(a, '=', n);
	size_t name = 0, name_end = eq ? (size_t)(eq - a) : n;

	while (name < name_end && a[name] == '-')
		name++;
	return matches(r, RULE_FLAG, a + name, name_end - name);
}

/* A bounded writer: what does not fit is cut. */
struct out {
	char *buf;
	size_t size, used;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (n > o->size - o->used)
		n = o->size - o->used;
	memcpy(o->buf + o->used, s, n);
	o->used += n;
}

/* Characters that end the key of a KEY=VALUE inside an argument ("a=1&token=x", "h=1 pw=x"). */
static bool key_separator(char c)
{
	return c == '=' || c == ' ' || c == '\t' || c == '&' || c == '?' || c == ';' || c == ',' ||
	       c == '"' || c == '\'';
}

/* Where the value to replace starts: the earliest of the byte after a matching KEY='s '=' and
 * the byte after a matching header's "NAME: " (a header's value is the rest of the argument, so
 * a KEY= inside it must not win), or n when no rule matches or the value is empty. */
static size_t secret_value_at(const struct redact_rules *r, const char *a, size_t n)
{
	size_t i, k, header = n;

	/* "NAME: VALUE", NAME a header token, not a URL's scheme. */
	for (i = 0; i < n && (a[i] == '-' || a[i] == '_' || (a[i] >= '0' && a[i] <= '9') ||
			      (lower(a[i]) >= 'a' && lower(a[i]) <= 'z')); i++)
		;
	if (i > 0 && i < n && a[i] == ':' && !(i + 1 < n && a[i + 1] == '/') &&
	    matches(r, RULE_NAME, a, i)) {
		for (k = i + 1; k < n && blank(a[k]); k++)
			;
		header = k;
	}
	for (i = 0; i < header; i++) {
		if (a[i] != '=')
			continue;
		for (k = i; k > 0 && !key_separator(a[k - 1]); k--)
			;
		while (k < i && a[k] == '-')
			k++;
		if (i + 1 < n && matches(r, RULE_NAME, a + k, i - k))
			return i + 1;
	}
	return header;
}

/* Copies a[0..n) replacing the password of each "scheme://user:password@host". */
static void put_urls(const struct redact_rules *r, struct out *o, const char *a, size_t n,
		     unsigned *redacted)
{
	size_t done = 0, i = 0;

	while (r->urls && i + 3 <= n) {
		const char *hit = memmem(a + i, n - i, "://", 3);
		size_t start, end, at = SIZE_MAX, colon = SIZE_MAX;

		if (!hit)
			break;
		start = (size_t)(hit - a) + 3;
		for (end = start; end < n && a[end] != '/' && a[end] != '?' && a[end] != '#' &&
				  !blank(a[end]); end++)
			if (a[end] == '@')
				at = end;
		for (size_t k = start; at != SIZE_MAX && k < at; k++)
			if (a[k] == ':') {
				colon = k;
				break;
			}
		if (colon != SIZE_MAX && colon + 1 < at) {
			put(o, a + done, colon + 1 - done);
			put(o, REDACT_TEXT, sizeof(REDACT_TEXT) - 1);
			(*redacted)++;
			done = at;
		}
		i = end > start ? end : start;
	}
	put(o, a + done, n - done);
}

size_t redact_args(const struct redact_rules *r, const char *args, size_t len, char *out,
		   size_t out_size, unsigned *redacted)
{
	struct out o = { out, out_size, 0 };
	bool value_next = false;
	size_t i = 0;

	if (!r) {
		put(&o, args, len);
		return o.used;
	}
	while (i < len) {
		const char *a = args + i;
		size_t n = strnlen(a, len - i), cut = n;
		bool terminated = i + n < len;

		/* The value of a bare flag, unless it is a secret flag itself (then the first had
		 * no value: "--token --password x"). */
		if (value_next && n && !(n > 1 && a[0] == '-' && flag_matches(r, a, n))) {
			put(&o, REDACT_TEXT, sizeof(REDACT_TEXT) - 1);
			(*redacted)++;
			cut = SIZE_MAX;
			value_next = false;
		} else if (n > 1 && a[0] == '-') {
			const char *eq = memchr(a, '=', n);

			value_next = false;
			if (flag_matches(r, a, n)) {
				if (eq)
					cut = (size_t)(eq - a) + 1; /* n when the value is empty */
				else
					value_next = true;
			}
		} else {
			value_next = false;
		}
		if (cut == n)
			cut = secret_value_at(r, a, n);
		if (cut != SIZE_MAX) {
			put_urls(r, &o, a, cut, redacted);
			if (cut < n) {
				put(&o, REDACT_TEXT, sizeof(REDACT_TEXT) - 1);
				(*redacted)++;
			}
		}
		if (terminated)
			put(&o, "", 1);
		i += n + 1;
	}
	return o.used;
}
