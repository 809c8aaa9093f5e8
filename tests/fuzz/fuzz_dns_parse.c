/*
 * libFuzzer target for dns_parse() and dns_parse_tcp(): DNS payloads come off the wire, from
 * any sender that can reach a pod. Each input is parsed as UDP and as TCP, whole and as a cut
 * capture, and every result is checked for the parser's promises.
 *
 * clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iproducer \
 *	tests/fuzz/fuzz_dns_parse.c producer/collectors/dns/dns_parse.c -o /tmp/fuzz_dns_parse
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns_parse.h"

/* Captures are at most 512 bytes; a little more covers the TCP prefix and the edges. */
#define INPUT_MAX 1024

#define CHECK(cond)                       \
	do {                              \
		if (!(cond))              \
			__builtin_trap(); \
	} while (0)

/* A wire name: labels of 1..63 bytes, ending with the root label exactly at len. */
static void check_name(const struct dns_name *n)
{
	size_t pos = 0;
	char text[DNS_NAME_TEXT_MAX];
	size_t tlen;

	CHECK(n->len >= 1 && n->len <= DNS_NAME_MAX);
	while (n->wire[pos] != 0) {
		CHECK(n->wire[pos] <= DNS_LABEL_MAX);
		pos += 1 + n->wire[pos];
		CHECK(pos < n->len);
	}
	CHECK(pos + 1 == n->len);
	tlen = dns_name_to_text(n, text, sizeof(text));
	CHECK(tlen < sizeof(text));
	CHECK(strlen(text) == tlen);
	for (size_t i = 0; i < tlen; i++)
		CHECK(text[i] > 0x20 && text[i] < 0x7f);
	CHECK(dns_name_to_text(n, NULL, 0) == tlen);
	CHECK(dns_name_equal(n, n));
}

static void check_msg(const struct dns_msg *m)
{
	CHECK(m->qdcount <= 1);
	CHECK(m->has_question == (m->qdcount == 1));
	if (m->has_question)
		check_name(&m->qname);
	CHECK(m->nanswers <= DNS_ANSWERS_MAX && m->nanswers <= m->ancount);
	CHECK(m->answers_truncated || m->nanswers == m->ancount);
	for (unsigned i = 0; i < m->nanswers; i++) {
		const struct dns_answer *a = &m->answers[i];

		check_name(&a->name);
		if (a->type == DNS_TYPE_A)
			CHECK(a->rdlength == 4);
		if (a->type == DNS_TYPE_AAAA)
			CHECK(a->rdlength == 16);
		if (a->has_target)
			check_name(&a->target);
	}
}

static void run(const uint8_t *data, size_t size, bool tcp)
{
	static struct dns_msg whole, cut;
	int (*parse)(const uint8_t *, size_t, bool, struct dns_msg *);
	int e1, e2;

	parse = tcp ? dns_parse_tcp : dns_parse;
	e1 = parse(data, size, false, &whole);
	CHECK(e1 >= 0 && e1 < DNS_PARSE_ERROR_MAX);
	CHECK(dns_parse_error_name(e1) != NULL);
	if (e1 == DNS_PARSE_OK)
		check_msg(&whole);
	/* A cut capture only relaxes: what parses whole parses cut, to the same question. */
	e2 = parse(data, size, true, &cut);
	CHECK(e2 >= 0 && e2 < DNS_PARSE_ERROR_MAX);
	if (e2 == DNS_PARSE_OK)
		check_msg(&cut);
	if (e1 == DNS_PARSE_OK) {
		CHECK(e2 == DNS_PARSE_OK);
		CHECK(cut.id == whole.id && cut.flags == whole.flags);
		CHECK(cut.has_question == whole.has_question);
		CHECK(!whole.has_question || dns_name_equal(&cut.qname, &whole.qname));
		CHECK(cut.nanswers == whole.nanswers);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	if (size > INPUT_MAX)
		return 0;
	/* An exact-size heap copy: ASan sees any read past the end. */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	run(copy, size, false);
	run(copy, size, true);
	free(copy);
	return 0;
}
