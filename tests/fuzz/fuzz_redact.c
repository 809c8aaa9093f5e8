/*
 * libFuzzer target for argument redaction (producer/collectors/kernel/redact.c): argv is whatever
 * any process on the node passed to execve, and kernel_redact_args whatever the operator wrote.
 *
 * Input: one mode byte, then argv bytes (NULs separate arguments), up to 1 024 as the kernel
 * cuts them. Mode bit 0: the rules are the input's first line (up to a '\n'), the argv after it;
 * else the default rules.
 * Checks: no crash, no read or write out of bounds; the output never needs more than
 * REDACT_OUT_MAX(len); it has as many arguments as the input, the last terminated exactly when
 * the input's was; with the default rules, redacting the output again changes nothing.
 *
 * clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iproducer/collectors/kernel \
 *	tests/fuzz/fuzz_redact.c producer/collectors/kernel/redact.c -o /tmp/fuzz_redact
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redact.h"

#define ARGS_MAX 1024

#define CHECK(cond)                      \
	do {                             \
		if (!(cond))             \
			__builtin_trap(); \
	} while (0)

static size_t count_args(const char *a, size_t len, int *terminated)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i += strnlen(a + i, len - i) + 1)
		n++;
	*terminated = len && a[len - 1] == '\0';
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct redact_rules *defaults;
	static char out[2 * REDACT_OUT_MAX(ARGS_MAX)], again[2 * REDACT_OUT_MAX(ARGS_MAX)];
	struct redact_rules *r = NULL;
	const char *args;
	size_t len, n, m;
	unsigned count = 0, count2 = 0;
	int term_in, term_out;
	char why[256];

	if (size < 1)
		return 0;
	if (!defaults)
		CHECK(redact_parse(REDACT_DEFAULT, &defaults, why, sizeof(why)) == 0 && defaults);
	args = (const char *)data + 1;
	len = size - 1;
	if (data[0] & 1) {
		const char *nl = memchr(args, '\n', len);
		char *spec;

		if (!nl)
			return 0;
		spec = strndup(args, (size_t)(nl - args));
		CHECK(spec);
		if (redact_parse(spec, &r, why, sizeof(why)) != 0)
			r = NULL;
		free(spec);
		len -= (size_t)(nl - args) + 1;
		args = nl + 1;
	} else {
		r = defaults;
	}
	if (len > ARGS_MAX)
		len = ARGS_MAX;

	/* A buffer twice the promised bound: the bound itself is what is checked. */
	n = redact_args(r, args, len, out, sizeof(out), &count);
	CHECK(n <= REDACT_OUT_MAX(len));
	CHECK(count_args(out, n, &term_out) == count_args(args, len, &term_in));
	CHECK(term_out == term_in);
	if (!count)
		CHECK(n == len && memcmp(out, args, len) == 0);
	/* Redacting again changes nothing: nothing the rules name was left. Not with a URL in the
	 * input: replacing its password can join what was two arguments' worth of text into one
	 * key (an '&' in the password goes), which a second pass then reads differently. */
	if (r == defaults && n <= ARGS_MAX * 12 && !memmem(args, len, "://", 3)) {
		m = redact_args(r, out, n, again, sizeof(again), &count2);
		CHECK(m == n && memcmp(again, out, n) == 0);
	}
	if (r != defaults)
		redact_free(r);
	return 0;
}
