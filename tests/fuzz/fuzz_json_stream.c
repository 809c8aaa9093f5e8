/*
 * libFuzzer target for the JSON stream splitter (producer/http/json_stream.c): watch streams
 * come from API servers, kubelets and etcd. The input is fed three ways (whole, in chunks whose
 * sizes come from the input, one byte at a time) and the sequence of values and errors must be
 * the same each time: where the network cuts a stream never changes what is read.
 *
 * Input: byte 0 picks max_value, byte 1 max_depth, bytes 2-3 seed the chunk sizes, the rest is
 * the stream.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json_stream.h"

#define INPUT_MAX (64 * 1024)

#define CHECK(cond)                       \
	do {                              \
		if (!(cond))              \
			__builtin_trap(); \
	} while (0)

/* What one run saw: 'V', 8 bytes of length, the value; or 'E' and the reason. */
struct trace {
	uint8_t *b;
	size_t len, cap;
	size_t max_value;
};

static void put(struct trace *t, const void *p, size_t n)
{
	if (t->len + n > t->cap) {
		size_t cap = (t->len + n) * 2;

		t->b = realloc(t->b, cap);
		CHECK(t->b != NULL);
		t->cap = cap;
	}
	memcpy(t->b + t->len, p, n);
	t->len += n;
}

static int on_value(void *ctx, const char *value, size_t len)
{
	struct trace *t = ctx;
	uint64_t n = len;

	CHECK(len >= 1 && len <= t->max_value);
	CHECK(value[0] != ' ' && value[0] != '\n' && value[0] != '\r' && value[0] != '\t');
	put(t, "V", 1);
	put(t, &n, sizeof(n));
	put(t, value, len);
	return 0;
}

static void on_error(void *ctx, enum json_stream_error err)
{
	struct trace *t = ctx;
	uint8_t e = (uint8_t)err;

	CHECK(err < JSON_STREAM_ERROR_MAX);
	put(t, "E", 1);
	put(t, &e, 1);
}

/* Feeds data in chunks: whole when seed is 0, one byte at a time when it is 1, else sizes from
 * an xorshift sequence seeded by the input. */
static void run(const uint8_t *data, size_t size, size_t max_value, size_t max_depth,
		uint32_t seed, struct trace *t)
{
	struct json_stream s;
	uint32_t x = seed | 0x10000;
	size_t off = 0;

	t->len = 0;
	t->max_value = max_value;
	json_stream_init(&s, max_value, max_depth, on_value, on_error, t);
	while (off < size) {
		size_t n = size - off;

		if (seed == 1) {
			n = 1;
		} else if (seed != 0) {
			x ^= x << 13, x ^= x >> 17, x ^= x << 5;
			n = 1 + x % (x & 0x100 ? 7 : 300);
			if (n > size - off)
				n = size - off;
		}
		CHECK(json_stream_feed(&s, (const char *)data + off, n) == 0);
		CHECK(s.cap <= max_value);
		off += n;
	}
	CHECK(json_stream_finish(&s) == 0);
	CHECK(!s.in_value && s.len == 0);
	json_stream_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t max_values[] = { 1, 2, 7, 64, 300, 4096, 65536 };
	static struct trace whole, chunked, bytewise;
	size_t max_value, max_depth;
	uint8_t *copy;
	uint32_t seed;

	if (size < 4 || size > INPUT_MAX)
		return 0;
	max_value = max_values[data[0] % (sizeof(max_values) / sizeof(max_values[0]))];
	max_depth = 1 + data[1] % 40;
	seed = (uint32_t)data[2] << 8 | data[3];
	data += 4;
	size -= 4;
	/* An exact-size heap copy: ASan sees any read past the end. */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	run(copy, size, max_value, max_depth, 0, &whole);
	run(copy, size, max_value, max_depth, seed < 2 ? seed + 2 : seed, &chunked);
	run(copy, size, max_value, max_depth, 1, &bytewise);
	CHECK(chunked.len == whole.len);
	CHECK(bytewise.len == whole.len);
	CHECK(whole.len == 0 || memcmp(chunked.b, whole.b, whole.len) == 0);
	CHECK(whole.len == 0 || memcmp(bytewise.b, whole.b, whole.len) == 0);
	free(copy);
	return 0;
}
