/*
 * JSON value splitter: a byte-at-a-time state machine whose whole state lives in struct
 * json_stream, so where a chunk ends never changes what it finds. Bytes of the value being read
 * are copied into the buffer in runs (at a value's end or a chunk's end), never past max_value.
 */
#include "json_stream.h"

#include <stdlib.h>
#include <string.h>

/* First size of the value buffer; it doubles up to max_value as values need. */
#define JSON_STREAM_FIRST_CAP 4096

static const char *const error_names[JSON_STREAM_ERROR_MAX] = {
	[JSON_STREAM_TOO_LARGE] = "too_large",
	[JSON_STREAM_TOO_DEEP] = "too_deep",
	[JSON_STREAM_UNEXPECTED] = "unexpected",
	[JSON_STREAM_TRUNCATED] = "truncated",
	[JSON_STREAM_NO_MEMORY] = "no_memory",
};

const char *json_stream_error_name(enum json_stream_error err)
{
	return (unsigned)err < JSON_STREAM_ERROR_MAX ? error_names[err] : "?";
}

void json_stream_init(struct json_stream *s, size_t max_value, size_t max_depth,
		      json_stream_value_fn on_value, json_stream_error_fn on_error, void *ctx)
{
	*s = (struct json_stream){
		.max_value = max_value ? max_value : 1,
		.max_depth = max_depth ? max_depth : 1,
		.on_value = on_value,
		.on_error = on_error,
		.ctx = ctx,
	};
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A bare scalar runs until one of these. */
static bool ends_scalar(char c)
{
	switch (c) {
	case ' ': case '\t': case '\n': case '\r':
	case '{': case '}': case '[': case ']': case '"': case ',': case ':':
		return true;
	default:
		return false;
	}
}

static void report(struct json_stream *s, enum json_stream_error err)
{
	s->stats.errors[err]++;
	if (s->on_error)
		s->on_error(s->ctx, err);
}

/* The value is reported: keep reading it, buffer nothing more. */
static void skip_value(struct json_stream *s, enum json_stream_error err)
{
	report(s, err);
	s->skipping = true;
	s->len = 0;
}

static void end_value(struct json_stream *s)
{
	s->in_value = s->in_scalar = s->in_string = s->escaped = s->skipping = false;
	s->depth = s->len = s->value_len = 0;
}

/* Appends n bytes of the value. s->len + n <= max_value holds: value_len is checked first. */
static void append(struct json_stream *s, const char *p, size_t n)
{
	size_t need = s->len + n, cap;
	char *buf;

	if (n == 0 || s->skipping)
		return;
	if (need > s->cap) {
		cap = s->cap ? s->cap * 2 : JSON_STREAM_FIRST_CAP;
		if (cap > s->max_value)
			cap = s->max_value;
		if (cap < need)
			cap = need;
		buf = realloc(s->buf, cap);
		if (!buf) {
			skip_value(s, JSON_STREAM_NO_MEMORY);
			return;
		}
		s->buf = buf;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, n);
	s->len = need;
}

/* The value ends with these n bytes of the current chunk: hand it over unless it was skipped. */
static int complete(struct json_stream *s, const char *p, size_t n)
{
	int rc = 0;

	append(s, p, n);
	if (!s->skipping) {
		s->stats.values++;
		rc = s->on_value(s->ctx, s->buf, s->len);
	}
	end_value(s);
	return rc;
}

/* Between values: whitespace, unexpected bytes, or the first byte of the next value. Returns
 * true when a value starts at c (c itself is then read as part of it). */
static bool at_top(struct json_stream *s, char c)
{
	if (is_space(c)) {
		s->in_garbage = false;
		return false;
	}
	if (c == '}' || c == ']' || c == ',' || c == ':') {
		if (!s->in_garbage)
			report(s, JSON_STREAM_UNEXPECTED);
		s->in_garbage = true;
		return false;
	}
	s->in_garbage = false;
	end_value(s);
	s->in_value = true;
	s->in_scalar = c != '{' && c != '[' && c != '"';
	return true;
}

int json_stream_feed(struct json_stream *s, const char *data, size_t len)
{
	size_t i = 0, run = 0; /* run: where this chunk's bytes of the current value begin */
	int rc;

	while (i < len) {
		char c = data[i];
		bool done = false;

		if (!s->in_value) {
			if (!at_top(s, c)) {
				i++;
				continue;
			}
			run = i;
		}
		if (s->in_scalar && ends_scalar(c)) {
			rc = complete(s, data + run, i - run);
			if (rc)
				return rc;
			continue; /* c is read again, between values */
		}
		/* The plain bytes of a string in one step: only `"` and `\` matter there. */
		if (s->in_string && !s->escaped && c != '"' && c != '\\') {
			size_t k = i + 1;

			while (k < len && data[k] != '"' && data[k] != '\\')
				k++;
			if (!s->skipping && k - i > s->max_value - s->value_len)
				skip_value(s, JSON_STREAM_TOO_LARGE);
			s->value_len += k - i;
			i = k;
			continue;
		}
		if (!s->skipping && s->value_len == s->max_value)
			skip_value(s, JSON_STREAM_TOO_LARGE);
		s->value_len++;
		if (s->in_string) {
			if (s->escaped)
				s->escaped = false;
			else if (c == '\\')
				s->escaped = true;
			else if (c == '"')
				s->in_string = false, done = s->depth == 0;
		} else if (!s->in_scalar) {
			if (c == '"') {
				s->in_string = true;
			} else if (c == '{' || c == '[') {
				if (++s->depth > s->max_depth && !s->skipping)
					skip_value(s, JSON_STREAM_TOO_DEEP);
			} else if (c == '}' || c == ']') {
				done = --s->depth == 0;
			}
		}
		i++;
		if (done) {
			rc = complete(s, data + run, i - run);
			if (rc)
				return rc;
		}
	}
	if (s->in_value)
		append(s, data + run, len - run);
	return 0;
}

int json_stream_finish(struct json_stream *s)
{
	int rc = 0;

	s->in_garbage = false;
	if (!s->in_value)
		return 0;
	if (s->in_scalar) {
		rc = complete(s, NULL, 0);
	} else {
		if (!s->skipping)
			report(s, JSON_STREAM_TRUNCATED);
		end_value(s);
	}
	return rc;
}

void json_stream_reset(struct json_stream *s)
{
	end_value(s);
	s->in_garbage = false;
}

void json_stream_free(struct json_stream *s)
{
	free(s->buf);
	s->buf = NULL;
	s->cap = s->len = 0;
}
