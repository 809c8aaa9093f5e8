/*
 * Avro binary encoding written directly into a caller-owned fixed buffer: no allocation and no
 * schema walk per record. Each collector writes its fields in its schema's order; unit tests
 * check the bytes against avro-c. A write that does not fit sets `overflow` and writes nothing
 * more, so callers check once at the end.
 */
#ifndef TAPIO_AVRO_WRITER_H
#define TAPIO_AVRO_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct avro_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	bool overflow;
};

static inline void avro_buf_init(struct avro_buf *b, uint8_t *storage, size_t cap)
{
	b->data = storage;
	b->len = 0;
	b->cap = cap;
	b->overflow = false;
}

static inline bool avro_buf_room(struct avro_buf *b, size_t n)
{
	if (b->overflow || b->cap - b->len < n) {
		b->overflow = true;
		return false;
	}
	return true;
}

static inline void avro_put_raw(struct avro_buf *b, const void *p, size_t n)
{
	if (!avro_buf_room(b, n))
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

/* int and long share the zig-zag varint encoding. */
static inline void avro_put_long(struct avro_buf *b, int64_t v)
{
	uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
	uint8_t *p;

	if (!avro_buf_room(b, 10))
		return;
	/* A local cursor: a store through uint8_t * may alias b->len, which would otherwise be
	 * reloaded and stored again for every byte. */
	p = b->data + b->len;
	while (z > 0x7f) {
		*p++ = (uint8_t)(z | 0x80);
		z >>= 7;
	}
	*p++ = (uint8_t)z;
	b->len = (size_t)(p - b->data);
}

static inline void avro_put_bool(struct avro_buf *b, bool v)
{
	uint8_t byte = v ? 1 : 0;

	avro_put_raw(b, &byte, 1);
}

/* Branch index of a union. */
static inline void avro_put_union(struct avro_buf *b, int branch)
{
	avro_put_long(b, branch);
}

/* An Avro string from at most `max` bytes of `s`, stopping at the first NUL. Avro strings are
 * UTF-8: invalid sequences (kernel strings are arbitrary bytes) become U+FFFD. */
void avro_put_string(struct avro_buf *b, const char *s, size_t max);

/* ["null","string"]: null for NULL or "". */
static inline void avro_put_optional_string(struct avro_buf *b, const char *s, size_t max)
{
	if (!s || !s[0]) {
		avro_put_union(b, 0);
		return;
	}
	avro_put_union(b, 1);
	avro_put_string(b, s, max);
}

#endif /* TAPIO_AVRO_WRITER_H */
