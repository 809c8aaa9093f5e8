/*
 * libFuzzer target for verifier_log_error(): the log is the kernel's (or libbpf's) text, whose
 * shape changes across kernel versions; --probe prints the line it picks.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "verifier_log.h"

#define CHECK(cond)                      \
	do {                             \
		if (!(cond))             \
			__builtin_trap(); \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[64];
	size_t n;

	memset(why, 0x7f, sizeof(why));
	if (verifier_log_error((const char *)data, size, why, sizeof(why))) {
		n = strnlen(why, sizeof(why));
		CHECK(n < sizeof(why));
		CHECK(n > 0 && why[0] != ' ');
		for (size_t i = 0; i < n; i++)
			CHECK((unsigned char)why[i] >= 0x20);
		/* The reason is a line of the log, cut to the buffer. */
		CHECK(memmem(data, size, why, n) || memchr(why, ' ', n));
	} else {
		CHECK(why[0] == '\0');
	}
	return 0;
}
