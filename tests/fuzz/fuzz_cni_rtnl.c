/*
 * libFuzzer target for cni_parse_link(): rtnetlink link messages, from the kernel but parsed as
 * if hostile. Each input is parsed whole and cut short, and every result is checked for the
 * parser's promises: strings terminated inside their buffers, a known kind.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cni_collector.h"

#define INPUT_MAX 4096

#define CHECK(cond)                       \
	do {                              \
		if (!(cond))              \
			__builtin_trap(); \
	} while (0)

static void parse(const uint8_t *data, size_t len)
{
	/* A heap copy of exactly len bytes: ASan catches any read past it. */
	uint8_t *copy = malloc(len ? len : 1);
	struct cni_link l;
	int err;

	if (!copy)
		return;
	memcpy(copy, data, len);
	err = cni_parse_link(copy, len, &l);
	CHECK(err == 0 || err == -22);
	if (err == 0) {
		CHECK(memchr(l.ifname, 0, sizeof(l.ifname)));
		CHECK(memchr(l.link_kind, 0, sizeof(l.link_kind)));
		CHECK(memchr(l.address, 0, sizeof(l.address)));
		CHECK(l.kind == CNI_UNKNOWN || (l.kind >= CNI_LINK_ADDED && l.kind <= CNI_LINK_DOWN));
	}
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > INPUT_MAX)
		return 0;
	parse(data, size);
	if (size > 1)
		parse(data, size / 2);
	return 0;
}
