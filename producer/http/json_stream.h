/*
 * Splits a byte stream into top-level JSON values, wherever the chunk boundaries fall.
 *
 * A Kubernetes watch sends one object per line; etcd's JSON gateway sends objects back to back,
 * with or without newlines. json_stream_feed() takes the bytes as they arrive, in chunks of any
 * size, and hands each complete top-level value (object, array, string or bare scalar such as
 * `42` or `true`) to the value callback exactly once, as the bytes of that value alone. The
 * splitter only finds the boundaries (strings, escapes, nesting); it does not validate the JSON
 * inside a value: the caller parses each value (jansson) and counts what fails to parse.
 *
 * Bounded memory: a value is buffered up to max_value bytes. A longer value, or one nested deeper
 * than max_depth, is reported once to the error callback, never buffered further, and skipped to
 * its end; the next value is then delivered normally. Bytes that cannot start a value at the top
 * level (`}`, `]`, `,`, `:`) are reported once per run and skipped. The sequence of values and
 * errors depends only on the bytes, never on how they were cut into chunks (fuzz_json_stream
 * checks it).
 *
 * A bare scalar ends at whitespace or at a structural character; at the end of the stream it is
 * complete only when json_stream_finish() says so. A value still open at json_stream_finish() is
 * reported as JSON_STREAM_TRUNCATED.
 *
 * Ownership: the caller owns struct json_stream (embed it or allocate it); json_stream_init()
 * allocates nothing, the buffer grows on demand (at most max_value bytes) and json_stream_free()
 * releases it. The value pointer passed to the callback is valid only during the call.
 * Threading: none; one stream is used by one thread at a time.
 */
#ifndef TAPIO_JSON_STREAM_H
#define TAPIO_JSON_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum json_stream_error {
	JSON_STREAM_TOO_LARGE = 0, /* a value over max_value bytes: skipped */
	JSON_STREAM_TOO_DEEP,      /* a value nested deeper than max_depth: skipped */
	JSON_STREAM_UNEXPECTED,    /* `}` `]` `,` or `:` where a value should start: skipped */
	JSON_STREAM_TRUNCATED,     /* the stream ended inside a value */
	JSON_STREAM_NO_MEMORY,     /* the buffer could not grow: the value is skipped */
	JSON_STREAM_ERROR_MAX
};

/* A complete value: `len` bytes at `value` (not NUL-terminated). Return 0 to go on; any other
 * value stops json_stream_feed()/json_stream_finish(), which return it. */
typedef int (*json_stream_value_fn)(void *ctx, const char *value, size_t len);
/* A counted error (already added to stats.errors). May be NULL in json_stream_init(). */
typedef void (*json_stream_error_fn)(void *ctx, enum json_stream_error err);

struct json_stream_stats {
	uint64_t values;                         /* values handed to the callback */
	uint64_t errors[JSON_STREAM_ERROR_MAX];  /* by reason */
};

struct json_stream {
	/* settings (json_stream_init) */
	size_t max_value;
	size_t max_depth;
	json_stream_value_fn on_value;
	json_stream_error_fn on_error;
	void *ctx;
	/* the value being read */
	char *buf;
	size_t len, cap;     /* bytes buffered; buffer size (never above max_value) */
	size_t value_len;    /* bytes of the value so far, buffered or not */
	size_t depth;        /* open `{` and `[`; counts on while skipping, bounded by no buffer */
	bool in_value;
	bool in_scalar;      /* a bare scalar (number, true, ...) */
	bool in_string;
	bool escaped;        /* the previous byte in the string was an unescaped backslash */
	bool skipping;       /* this value was reported (too large, too deep): read to its end */
	bool in_garbage;     /* inside a run of unexpected bytes, reported once */
	struct json_stream_stats stats;
};

/* Names of enum json_stream_error for metrics and logs ("too_large", ...). */
const char *json_stream_error_name(enum json_stream_error err);

/* Sets up an empty stream. max_value >= 1, max_depth >= 1. Allocates nothing; cannot fail. */
void json_stream_init(struct json_stream *s, size_t max_value, size_t max_depth,
		      json_stream_value_fn on_value, json_stream_error_fn on_error, void *ctx);

/* Consumes `len` bytes. Returns 0, or the nonzero value a callback returned to stop: then the
 * bytes after that value were not consumed, and the stream must be reset before it is fed
 * again. */
int json_stream_feed(struct json_stream *s, const char *data, size_t len);

/* End of the stream: a pending bare scalar is delivered, a value still open is reported as
 * JSON_STREAM_TRUNCATED. The stream is then reset (stats kept). Returns 0 or the callback's
 * stop value. */
int json_stream_finish(struct json_stream *s);

/* Forgets any partial value (no error reported) so the stream can start over, e.g. on a new
 * connection. Keeps the buffer and the stats. */
void json_stream_reset(struct json_stream *s);

/* Releases the buffer; the stream may be initialised again. */
void json_stream_free(struct json_stream *s);

#endif /* TAPIO_JSON_STREAM_H */
