/*
 * libFuzzer target for the quantity parser (producer/collectors/kubeapi/kubeapi_quantity.c):
 * resource requests and limits are outside input. Besides never crashing or reading past the
 * given length: the value in millis and in units agree, as ceil(1000 x) and ceil(x) must (for a
 * binary-suffixed value Go caps the units at 2^63 - 1, so only below the cap).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kubeapi_collector.h"

#define CHECK(cond)                       \
	do {                              \
		if (!(cond))              \
			__builtin_trap(); \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes: ASan sees any read past it. */
	char *s = malloc(size ? size : 1);
	int64_t units, millis;
	int ru, rm;

	if (!s)
		return 0;
	memcpy(s, data, size);
	ru = kubeapi_quantity(s, size, 0, &units);
	rm = kubeapi_quantity(s, size, 3, &millis);
	CHECK((ru == QUANTITY_INVALID) == (rm == QUANTITY_INVALID));
	if (ru == QUANTITY_OK && rm == QUANTITY_OK && units != INT64_MAX && units != -INT64_MAX) {
		__int128 u = units, m = millis;

		if (u > 0)
			CHECK(m > (u - 1) * 1000 && m <= u * 1000);
		else if (u < 0)
			CHECK(m < (u + 1) * 1000 && m >= u * 1000);
		else
			CHECK(m == 0);
	}
	if (ru == QUANTITY_RANGE)
		CHECK(rm == QUANTITY_RANGE);
	free(s);
	return 0;
}
