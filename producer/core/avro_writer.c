#include "avro_writer.h"

static const uint8_t replacement[3] = { 0xef, 0xbf, 0xbd }; /* U+FFFD */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if it is not one (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF). */
static size_t utf8_sequence(const uint8_t *s, size_t n)
{
	uint8_t c = s[0];
	size_t len, i;
	uint8_t lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (n < len)
		return 0;
	if (c == 0xe0)
		lo = 0xa0; /* overlong */
	else if (c == 0xed)
		hi = 0x9f; /* surrogates */
	else if (c == 0xf0)
		lo = 0x90; /* overlong */
	else if (c == 0xf4)
		hi = 0x8f; /* above U+10FFFF */
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/* Length of an all-ASCII prefix of s[0..n), checked eight bytes at a time. */
static size_t ascii_prefix(const uint8_t *s, size_t n)
{
	size_t i = 0;
	uint64_t w;

	for (; n - i >= sizeof(w); i += sizeof(w)) {
		memcpy(&w, s + i, sizeof(w));
		if (w & 0x8080808080808080ull)
			return i;
	}
	if (n >= sizeof(w)) { /* the tail as one word overlapping what was checked */
		memcpy(&w, s + n - sizeof(w), sizeof(w));
		return w & 0x8080808080808080ull ? i : n;
	}
	while (i < n && s[i] < 0x80)
		i++;
	return i;
}

void avro_put_string(struct avro_buf *b, const char *str, size_t max)
{
	const uint8_t *s = (const uint8_t *)str;
	size_t n = strnlen(str, max), i = ascii_prefix(s, n), out_len = i, seq;
	bool clean = true;

	/* First pass: the encoded length, which Avro writes before the bytes. Kernel strings are
	 * nearly always ASCII: that prefix is counted a word at a time. */
	while (i < n) {
		if (s[i] < 0x80) {
			out_len++;
			i++;
			continue;
		}
		seq = utf8_sequence(s + i, n - i);
		if (seq) {
			out_len += seq;
			i += seq;
		} else {
			clean = false;
			out_len += sizeof(replacement);
			i++;
		}
	}
	avro_put_long(b, (int64_t)out_len);
	if (clean) {
		avro_put_raw(b, s, n);
		return;
	}
	if (!avro_buf_room(b, out_len))
		return;
	for (i = 0; i < n;) {
		seq = s[i] < 0x80 ? 1 : utf8_sequence(s + i, n - i);
		if (seq) {
			memcpy(b->data + b->len, s + i, seq);
			b->len += seq;
			i += seq;
		} else {
			memcpy(b->data + b->len, replacement, sizeof(replacement));
			b->len += sizeof(replacement);
			i++;
		}
	}
}
