/*
 * libFuzzer target for the kubelet collector's JSON reader (producer/collectors/kubelet/
 * kubelet_json.c), against jansson: what one accepts the other accepts (but for the documented
 * differences: invalid UTF-8, lone surrogates, numbers beyond jansson's range, nesting deeper
 * than ours), and
 * where both accept, every value is the same: types, integers, strings, members, elements.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kubelet_json.h"

#define CHECK(cond)                       \
	do {                              \
		if (!(cond))              \
			__builtin_trap(); \
	} while (0)

#define DEPTH 64

static void same(const struct kj_doc *d, kj_t t, const json_t *j)
{
	static char buf[1 << 16];
	int64_t v;
	size_t n;

	switch (kj_type(d, t)) {
	case KJ_NULL:
		CHECK(json_is_null(j));
		break;
	case KJ_TRUE:
		CHECK(json_is_true(j));
		break;
	case KJ_FALSE:
		CHECK(json_is_false(j));
		break;
	case KJ_NUMBER:
		CHECK(json_is_number(j));
		if (json_is_integer(j)) {
			CHECK(kj_int(d, t, &v));
			CHECK(v == json_integer_value(j));
		} else {
			CHECK(!kj_int(d, t, &v));
		}
		break;
	case KJ_STRING:
		CHECK(json_is_string(j));
		n = kj_str(d, t, buf, sizeof(buf));
		if (n < sizeof(buf)) {
			CHECK(n == json_string_length(j));
			CHECK(!memcmp(buf, json_string_value(j), n));
		}
		break;
	case KJ_ARRAY: {
		size_t i = 0;

		CHECK(json_is_array(j) && json_array_size(j) == d->tok[t].count);
		for (kj_t e = kj_first(d, t); e != KJ_NONE; e = kj_next(d, t, e))
			same(d, e, json_array_get(j, i++));
		CHECK(i == json_array_size(j));
		break;
	}
	case KJ_OBJECT:
		CHECK(json_is_object(j));
		/* Duplicate keys: jansson keeps the last; so does kj_get. */
		for (kj_t k = kj_first_key(d, t); k != KJ_NONE; k = kj_next_key(d, t, k)) {
			n = kj_str(d, k, buf, sizeof(buf));
			if (n >= sizeof(buf) || strlen(buf) != n)
				continue;
			CHECK(kj_get(d, t, buf) != KJ_NONE);
			same(d, kj_get(d, t, buf), json_object_get(j, buf));
		}
		break;
	}
}

/* How deep brackets nest in data, outside strings. */
static unsigned nesting(const uint8_t *data, size_t size)
{
	unsigned depth = 0, max = 0;
	bool in_string = false;

	for (size_t i = 0; i < size; i++) {
		if (in_string) {
			if (data[i] == '\\')
				i++;
			else if (data[i] == '"')
				in_string = false;
		} else if (data[i] == '"') {
			in_string = true;
		} else if (data[i] == '[' || data[i] == '{') {
			if (++depth > max)
				max = depth;
		} else if ((data[i] == ']' || data[i] == '}') && depth) {
			depth--;
		}
	}
	return max;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kj_doc d;
	json_error_t jerr;
	json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	int err = kj_parse(&d, (const char *)data, size, DEPTH);

	CHECK(err == 0 || err == -EBADMSG);
	if (err == 0 && j) {
		same(&d, 0, j);
	} else if (err == 0) {
		/* jansson refused what we took: invalid UTF-8, a lone surrogate escape (we read
		 * U+FFFD), \u0000 in a key, or a number beyond its range. */
		CHECK(strstr(jerr.text, "UTF-8") || strstr(jerr.text, "decode byte") ||
		      strstr(jerr.text, "Unicode") || strstr(jerr.text, "NUL byte") ||
		      strstr(jerr.text, "integer") || strstr(jerr.text, "real number"));
	} else if (j) {
		/* We refused what jansson took: only nesting deeper than ours, or bytes after a NUL
		 * (jansson stops reading at a NUL between values). */
		CHECK(nesting(data, size) > DEPTH || memchr(data, '\0', size));
	}
	if (err == 0)
		kj_free(&d);
	json_decref(j);
	return 0;
}
