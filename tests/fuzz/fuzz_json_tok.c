/*
 * libFuzzer target for the kubeapi collector's JSON tokenizer
 * (producer/collectors/kubeapi/json_tok.c). Checks, besides never crashing: parsing and
 * validating agree on every input, tokens stay inside the text and nest properly, and every
 * string decodes within its bound to what jtok_eq compares equal.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json_tok.h"

#define CHECK(cond)                       \
	do {                              \
		if (!(cond))              \
			__builtin_trap(); \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	size_t end = 0, vend = 0, err_at;
	struct jtok_doc d;
	char out[16];
	bool cut;
	int r, v;

	jtok_init(&d, 1u << 16, 32);
	r = jtok_parse_value(&d, text, size, &end);
	v = jtok_validate(text, size, 32, &vend, &err_at);
	/* Validation keeps no tokens: it fails where parsing does, or not at all when parsing ran
	 * out of tokens. */
	CHECK(r == v || (r == JTOK_TOO_MANY && v == JTOK_OK));
	if (r == JTOK_OK) {
		CHECK(end == vend && end <= size && d.ntok >= 1);
		for (uint32_t i = 0; i < d.ntok; i++) {
			const struct jtok *t = &d.tok[i];

			CHECK(t->start + (size_t)t->len <= size);
			CHECK(t->next > i && t->next <= d.ntok);
			CHECK(t->type >= JTOK_OBJECT && t->type <= JTOK_NULL);
			if (t->type == JTOK_STRING) {
				size_t n = jtok_decode(&d, (int)i, out, sizeof(out), &cut);

				CHECK(n < sizeof(out) && out[n] == '\0' && strlen(out) == n);
				CHECK(jtok_eq(&d, (int)i, out, n) || cut ||
				      memchr(out, 0xef, n)); /* NUL and surrogates become U+FFFD */
			}
			if (t->type == JTOK_OBJECT)
				for (int k = jtok_first(&d, (int)i); k >= 0;
				     k = jtok_next_member(&d, (int)i, k))
					CHECK(d.tok[k].type == JTOK_STRING);
		}
	}
	jtok_free(&d);
	return 0;
}
