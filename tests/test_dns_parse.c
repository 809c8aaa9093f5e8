/* The strict DNS parser (producer/collectors/dns/dns_parse.c): real answers, and the ways a hostile packet can
 * lie (pointer loops, oversized labels and names, counts, rdata, truncation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dns_parse.h"

/* The response dnsmasq 2.90 sent to `www.itest A` (--cname=www.itest,web.itest
 * --cname=web.itest,host.itest --host-record=host.itest,10.1.2.3 --local-ttl=300), captured in
 * tests/fuzz/corpus/dns_parse/udp-response-cname-chain-a: question at 12, answers at 27, 50 and
 * 74, an OPT record at 90. */
static const uint8_t cname_chain[] = {
	0xf1, 0x8b, 0x85, 0x80, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01,
	0x03, 0x77, 0x77, 0x77, 0x05, 0x69, 0x74, 0x65, 0x73, 0x74, 0x00, 0x00,
	0x01, 0x00, 0x01, 0xc0, 0x0c, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x01,
	0x2c, 0x00, 0x0b, 0x03, 0x77, 0x65, 0x62, 0x05, 0x69, 0x74, 0x65, 0x73,
	0x74, 0x00, 0xc0, 0x27, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c,
	0x00, 0x0c, 0x04, 0x68, 0x6f, 0x73, 0x74, 0x05, 0x69, 0x74, 0x65, 0x73,
	0x74, 0x00, 0xc0, 0x3e, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c,
	0x00, 0x04, 0x0a, 0x01, 0x02, 0x03, 0x00, 0x00, 0x29, 0x04, 0xd0, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00,
};

struct builder {
	uint8_t b[1024];
	size_t n;
};

static void put(struct builder *w, const void *p, size_t n)
{
	assert_true(w->n + n <= sizeof(w->b));
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void put16(struct builder *w, uint16_t v)
{
	uint8_t b[2] = { v >> 8, v & 0xff };

	put(w, b, 2);
}

static void put32(struct builder *w, uint32_t v)
{
	put16(w, v >> 16);
	put16(w, v & 0xffff);
}

static void header(struct builder *w, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an)
{
	w->n = 0;
	put16(w, id);
	put16(w, flags);
	put16(w, qd);
	put16(w, an);
	put16(w, 0);
	put16(w, 0);
}

/* "a.b.c" as labels, root included. */
static void name(struct builder *w, const char *dotted)
{
	const char *s = dotted, *dot;

	while (*s) {
		uint8_t len;

		dot = strchr(s, '.');
		len = (uint8_t)(dot ? (size_t)(dot - s) : strlen(s));
		put(w, &len, 1);
		put(w, s, len);
		s += len + (dot ? 1 : 0);
	}
	put(w, "", 1);
}

static void pointer(struct builder *w, uint16_t target)
{
	put16(w, 0xc000 | target);
}

static void question(struct builder *w, const char *qname, uint16_t qtype)
{
	name(w, qname);
	put16(w, qtype);
	put16(w, 1);
}

static void rr_fixed(struct builder *w, uint16_t type, uint32_t ttl, uint16_t rdlen)
{
	put16(w, type);
	put16(w, 1);
	put32(w, ttl);
	put16(w, rdlen);
}

static char text[DNS_NAME_TEXT_MAX];

static const char *txt(const struct dns_name *n)
{
	dns_name_to_text(n, text, sizeof(text));
	return text;
}

static struct dns_msg m;

static void test_cname_chain(void **state)
{
	(void)state;
	assert_int_equal(dns_parse(cname_chain, sizeof(cname_chain), false, &m), DNS_PARSE_OK);
	assert_int_equal(m.id, 0xf18b);
	assert_true(m.flags & DNS_FLAG_QR);
	assert_true(m.flags & DNS_FLAG_AA);
	assert_int_equal(DNS_RCODE(m.flags), 0);
	assert_true(m.has_question);
	assert_string_equal(txt(&m.qname), "www.itest");
	assert_int_equal(m.qtype, DNS_TYPE_A);
	assert_int_equal(m.nanswers, 3);
	assert_false(m.answers_truncated);
	assert_string_equal(txt(&m.answers[0].name), "www.itest");
	assert_int_equal(m.answers[0].type, DNS_TYPE_CNAME);
	assert_int_equal(m.answers[0].ttl, 300);
	assert_true(m.answers[0].has_target);
	assert_string_equal(txt(&m.answers[0].target), "web.itest");
	assert_string_equal(txt(&m.answers[1].name), "web.itest");
	assert_string_equal(txt(&m.answers[1].target), "host.itest");
	assert_string_equal(txt(&m.answers[2].name), "host.itest");
	assert_int_equal(m.answers[2].type, DNS_TYPE_A);
	assert_false(m.answers[2].has_target);
	assert_memory_equal(m.answers[2].addr, "\x0a\x01\x02\x03", 4);
}

static void test_a_and_aaaa(void **state)
{
	static const uint8_t v6[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34 };
	struct builder w;

	(void)state;
	header(&w, 7, 0x8180, 1, 1);
	question(&w, "Host.Itest", DNS_TYPE_AAAA);
	pointer(&w, 12);
	rr_fixed(&w, DNS_TYPE_AAAA, 60, 16);
	put(&w, v6, 16);
	assert_int_equal(dns_parse(w.b, w.n, false, &m), DNS_PARSE_OK);
	assert_int_equal(m.qtype, DNS_TYPE_AAAA);
	assert_string_equal(txt(&m.qname), "Host.Itest");
	assert_int_equal(m.nanswers, 1);
	assert_memory_equal(m.answers[0].addr, v6, 16);
	assert_int_equal(m.answers[0].ttl, 60);

	/* A query: one question, no answers. */
	header(&w, 9, 0x0100, 1, 0);
	question(&w, "host.itest", DNS_TYPE_A);
	assert_int_equal(dns_parse(w.b, w.n, false, &m), DNS_PARSE_OK);
	assert_false(m.flags & DNS_FLAG_QR);
	assert_int_equal(m.qtype, DNS_TYPE_A);
	assert_int_equal(m.nanswers, 0);

	/* The root name. */
	header(&w, 9, 0x0100, 1, 0);
	question(&w, "", 2);
	assert_int_equal(dns_parse(w.b, w.n, false, &m), DNS_PARSE_OK);
	assert_string_equal(txt(&m.qname), ".");
}

static void test_nxdomain(void **state)
{
	struct builder w;

	(void)state;
	header(&w, 0xbeef, 0x8183, 1, 0);
	question(&w, "nx.itest", DNS_TYPE_A);
	assert_int_equal(dns_parse(w.b, w.n, false, &m), DNS_PARSE_OK);
	assert_int_equal(DNS_RCODE(m.flags), 3);
	assert_string_equal(dns_rcode_name(3), "NXDOMAIN");
	assert_int_equal(m.nanswers, 0);
	assert_false(m.answers_truncated);
	/* A response may carry no question (FORMERR, NOTIMP); a query may not. */
	header(&w, 1, 0x8181, 0, 0);
	assert_int_equal(dns_parse(w.b, w.n, false, &m), DNS_PARSE_OK);
	assert_false(m.has_question);
	header(&w, 1, 0x0100, 0, 0);
	assert_int_equal(dns_parse(w.b, w.n, false, &m), DNS_ERR_COUNTS);
}

/* Every prefix of a real response that ends inside its header, question or answers is refused
 * (the authority and additional sections are not read), and nothing is read past the end. */
static void test_truncated(void **state)
{
	(void)state;
	for (size_t n = 0; n < sizeof(cname_chain); n++) {
		int err = dns_parse(cname_chain, n, false, &m);

		if (n < DNS_HEADER_LEN)
			assert_int_equal(err, DNS_ERR_SHORT);
		else if (n < 90)
			/* Counts are checked first: 3 answers and an OPT need 44 bytes after the
			 * header; a CNAME cut inside its rdata is an rdata error. */
			assert_true(err == DNS_ERR_TRUNCATED || err == DNS_ERR_COUNTS || err == DNS_ERR_RDATA);
		else
			assert_int_equal(err, DNS_PARSE_OK);
	}
	/* Cut by our capture inside the answers: what fits is kept and flagged. */
	assert_int_equal(dns_parse(cname_chain, 80, true, &m), DNS_PARSE_OK);
	assert_int_equal(m.nanswers, 2);
	assert_true(m.answers_truncated);
	/* ... but the question must be whole. */
	assert_int_equal(dns_parse(cname_chain, 20, true, &m), DNS_ERR_TRUNCATED);
}

static void test_pointer_loops(void **state)
{
	struct builder w;

	(void)state;
	/* A name that points at itself. */
	header(&w, 1, 0x8180, 1, 0);
	pointer(&w, 12);
	put16(&w, 1);
	put16(&w, 1);
	assert_int_equal(dns_parse(w.b, w.n, false, &m), DNS_ERR_POINTER);
	/* A label, then a pointer back to that label: a loop through a backwards pointer. */
	header(&w, 1, 0x8180, 1, 0);
	put(&w, "\x01" "a", 2);
	pointer(&w, 12);
	put16(&w, 1);
	put16(&w, 1);
	assert_int_equal(dns_parse(w.b, w.n, false, &m), DNS_ERR_POINTER);
	/* Two names pointing at each other (the first forward). */
	header(&w, 1, 0x8180, 1, 1);
	pointer(&w, 18);
	put16(&w, 1);
	put16(&w, 1);
	pointer(&w, 12);
	rr_fixed(&w, DNS_TYPE_A, 1, 4);
	put32(&w, 0);
	assert_int_equal(dns_parse(w.b, w.n, false, &m), DNS_ERR_POINTER);
	/* Into the header. */
	header(&w, 1, 0x8180, 1, 0);
	pointer(&w, 4);
	put32(&w, 0x00010001);
	assert_int_equal(dns_parse(w.b, w.n, false, &m), DNS_ERR_POINTER);
	/* Beyond the end. */
	header(&w, 1, 0x8180, 1, 0);
	pointer(&w, 0x3fff);
	put32(&w, 0x00010001);
	assert_int_equal(dns_parse(w.b, w.n, false, &m), DNS_ERR_POINTER);
}

/* Pointer-only hops, each backwards (so legal one by one): bounded by the hop limit. */
static void test_pointer_hops(void **state)
{
	struct builder w;
	size_t chain;

	(void)state;
	/* Put the chain inside an unknown-type record's rdata so the walk does not read it as
	 * names, then point at its end from the answer after it. */
	header(&w, 1, 0x8180, 1, 2);
	question(&w, "x", 1);
	pointer(&w, 12);
	rr_fixed(&w, 99, 1, (uint16_t)(2 * (DNS_POINTER_HOPS_MAX + 1)));
	chain = w.n;
	for (int i = 0; i <= DNS_POINTER_HOPS_MAX; i++)
		pointer(&w, (uint16_t)(i ? chain + 2 * (i - 1) : 12));
	/* The answer's name: 1 hop to the chain's 16th pointer, 15 down the chain, 1 to the
	 * question: 17. */
	pointer(&w, (uint16_t)(chain + 2 * (DNS_POINTER_HOPS_MAX - 1)));
	rr_fixed(&w, DNS_TYPE_A, 1, 4);
	put32(&w, 0);
	assert_int_equal(dns_parse(w.b, w.n, false, &m), DNS_ERR_POINTER_HOPS);
	/* One hop fewer (exactly the limit) is fine. */
	w.n -= 14;
	w.b[w.n - 1] = (uint8_t)((chain + 2 * (DNS_POINTER_HOPS_MAX - 2)) & 0xff);
	w.b[w.n - 2] = (uint8_t)(0xc0 | (chain + 2 * (DNS_POINTER_HOPS_MAX - 2)) >> 8);
	rr_fixed(&w, DNS_TYPE_A, 1, 4);
	put32(&w, 0);
	assert_int_equal(dns_parse(w.b, w.n, false, &m), DNS_PARSE_OK);
	assert_int_equal(m.nanswers, 2);
	assert_string_equal(txt(&m.answers[1].name), "x");
}

static void test_oversized_labels_and_names(void **state)
{
	struct builder w;
	uint8_t label[64];

	(void)state;
	memset(label, 'a', sizeof(label));
	/* 63 is the limit. */
	header(&w, 1, 0x0100, 1, 0);
	label[0] = 63;
	put(&w, label, 64);
	put(&w, "", 1);
	put32(&w, 0x00010001);
	assert_int_equal(dns_parse(w.b, w.n, false, &m), DNS_PARSE_OK);
	/* 64 is not (0x40 is also the reserved extended label type). */
	header(&w, 1, 0x0100, 1, 0);
	label[0] = 64;
	put(&w, label, 64);
	put(&w, "a", 1);
	put(&w, "", 1);
	put32(&w, 0x00010001);
	assert_int_equal(dns_parse(w.b, w.n, false, &m), DNS_ERR_LABEL);
	header(&w, 1, 0x0100, 1, 0);
	put(&w, "\x80", 1);
	put(&w, "", 1);
	put32(&w, 0x00010001);
	assert_int_equal(dns_parse(w.b, w.n, false, &m), DNS_ERR_LABEL);
	/* 255 bytes of name is the limit: 4 labels of 63 = 256 with the root. */
	header(&w, 1, 0x0100, 1, 0);
	label[0] = 63;
	for (int i = 0; i < 3; i++)
		put(&w, label, 64);
	label[0] = 61;
	put(&w, label, 62);
	put(&w, "", 1);
	put32(&w, 0x00010001);
	assert_int_equal(dns_parse(w.b, w.n, false, &m), DNS_PARSE_OK);
	assert_int_equal(m.qname.len, 255);
	header(&w, 1, 0x0100, 1, 0);
	label[0] = 63;
	for (int i = 0; i < 3; i++)
		put(&w, label, 64);
	label[0] = 62;
	put(&w, label, 63);
	put(&w, "", 1);
	put32(&w, 0x00010001);
	assert_int_equal(dns_parse(w.b, w.n, false, &m), DNS_ERR_NAME_LENGTH);
	/* Through compression: a suffix reused until it is too long. */
	header(&w, 1, 0x8180, 1, 1);
	label[0] = 63;
	put(&w, label, 64);
	put(&w, label, 64);
	put(&w, "", 1); /* 12: 129-byte name */
	put32(&w, 0x00010001);
	put(&w, label, 64);
	put(&w, label, 64);
	pointer(&w, 12); /* 128 + 129 = 257 */
	rr_fixed(&w, DNS_TYPE_A, 1, 4);
	put32(&w, 0);
	assert_int_equal(dns_parse(w.b, w.n, false, &m), DNS_ERR_NAME_LENGTH);
}

static void test_bad_counts(void **state)
{
	struct builder w;

	(void)state;
	/* Two questions. */
	header(&w, 1, 0x0100, 2, 0);
	question(&w, "a", 1);
	question(&w, "b", 1);
	assert_int_equal(dns_parse(w.b, w.n, false, &m), DNS_ERR_COUNTS);
	/* 65535 answers claimed in a small packet: refused before any walk. */
	header(&w, 1, 0x8180, 1, 0xffff);
	question(&w, "a", 1);
	assert_int_equal(dns_parse(w.b, w.n, false, &m), DNS_ERR_COUNTS);
	/* Counts that fit the size but not the content. */
	header(&w, 1, 0x8180, 1, 2);
	question(&w, "a", 1);
	pointer(&w, 12);
	rr_fixed(&w, DNS_TYPE_A, 1, 4);
	put32(&w, 0);
	put(&w, "\0\0\0\0\0\0\0\0\0\0", 10);
	assert_int_equal(dns_parse(w.b, w.n, false, &m), DNS_ERR_TRUNCATED);
	/* More answers than we keep: parsed, counted, flagged. */
	header(&w, 1, 0x8180, 1, DNS_ANSWERS_MAX + 4);
	question(&w, "a", 1);
	for (int i = 0; i < DNS_ANSWERS_MAX + 4; i++) {
		pointer(&w, 12);
		rr_fixed(&w, DNS_TYPE_A, (uint32_t)i, 4);
		put32(&w, (uint32_t)i);
	}
	assert_int_equal(dns_parse(w.b, w.n, false, &m), DNS_PARSE_OK);
	assert_int_equal(m.nanswers, DNS_ANSWERS_MAX);
	assert_int_equal(m.ancount, DNS_ANSWERS_MAX + 4);
	assert_true(m.answers_truncated);
}

static void test_bad_rdata(void **state)
{
	struct builder w;

	(void)state;
	/* A with 5 bytes. */
	header(&w, 1, 0x8180, 1, 1);
	question(&w, "a", 1);
	pointer(&w, 12);
	rr_fixed(&w, DNS_TYPE_A, 1, 5);
	put(&w, "\1\2\3\4\5", 5);
	assert_int_equal(dns_parse(w.b, w.n, false, &m), DNS_ERR_RDATA);
	/* rdlength past the end. */
	header(&w, 1, 0x8180, 1, 1);
	question(&w, "a", 1);
	pointer(&w, 12);
	rr_fixed(&w, DNS_TYPE_AAAA, 1, 16);
	put(&w, "\1\2\3\4", 4);
	assert_int_equal(dns_parse(w.b, w.n, false, &m), DNS_ERR_TRUNCATED);
	/* A CNAME whose name runs past its rdata, and one with bytes left over. */
	header(&w, 1, 0x8180, 1, 1);
	question(&w, "a", 1);
	pointer(&w, 12);
	rr_fixed(&w, DNS_TYPE_CNAME, 1, 2);
	name(&w, "bb");
	assert_int_equal(dns_parse(w.b, w.n, false, &m), DNS_ERR_RDATA);
	header(&w, 1, 0x8180, 1, 1);
	question(&w, "a", 1);
	pointer(&w, 12);
	rr_fixed(&w, DNS_TYPE_CNAME, 1, 4);
	pointer(&w, 12);
	put16(&w, 0);
	assert_int_equal(dns_parse(w.b, w.n, false, &m), DNS_ERR_RDATA);
}

static void test_tcp_framing(void **state)
{
	uint8_t seg[2 + sizeof(cname_chain) + 5];

	(void)state;
	seg[0] = 0;
	seg[1] = sizeof(cname_chain);
	memcpy(seg + 2, cname_chain, sizeof(cname_chain));
	assert_int_equal(dns_parse_tcp(seg, 2 + sizeof(cname_chain), false, &m), DNS_PARSE_OK);
	assert_int_equal(m.nanswers, 3);
	/* The next pipelined message after it is not ours to read. */
	memset(seg + 2 + sizeof(cname_chain), 0xff, 5);
	assert_int_equal(dns_parse_tcp(seg, sizeof(seg), false, &m), DNS_PARSE_OK);
	/* A message longer than the segment: parsed as cut. */
	assert_int_equal(dns_parse_tcp(seg, 2 + 80, false, &m), DNS_PARSE_OK);
	assert_true(m.answers_truncated);
	assert_int_equal(m.nanswers, 2);
	/* A length below a header. */
	seg[1] = 11;
	assert_int_equal(dns_parse_tcp(seg, sizeof(seg), false, &m), DNS_ERR_TCP_LENGTH);
	assert_int_equal(dns_parse_tcp(seg, 13, false, &m), DNS_ERR_SHORT);
}

static void test_text_form(void **state)
{
	struct dns_name n = { .len = 12, .wire = { 3, 'a', '.', 'b', 2, 0x00, '\\', 2, 'o', 'k', 0 } };
	struct dns_name upper = { .len = 4, .wire = { 2, 'O', 'K', 0 } };
	struct dns_name lower = { .len = 4, .wire = { 2, 'o', 'k', 0 } };
	char small[6];

	(void)state;
	n.len = 11;
	assert_int_equal(dns_name_to_text(&n, text, sizeof(text)), strlen("a\\.b.\\000\\\\.ok"));
	assert_string_equal(text, "a\\.b.\\000\\\\.ok");
	/* A short buffer stays terminated and the full length is still reported. */
	assert_int_equal(dns_name_to_text(&n, small, sizeof(small)), strlen("a\\.b.\\000\\\\.ok"));
	assert_string_equal(small, "a\\.b.");
	assert_true(dns_name_equal(&upper, &lower));
	assert_false(dns_name_equal(&n, &lower));
	assert_string_equal(dns_type_name(28), "AAAA");
	assert_null(dns_type_name(4242));
	assert_null(dns_rcode_name(15));
	assert_string_equal(dns_parse_error_name(DNS_ERR_POINTER), "pointer");
	assert_string_equal(dns_parse_error_name(-1), "invalid");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cname_chain),
		cmocka_unit_test(test_a_and_aaaa),
		cmocka_unit_test(test_nxdomain),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_pointer_loops),
		cmocka_unit_test(test_pointer_hops),
		cmocka_unit_test(test_oversized_labels_and_names),
		cmocka_unit_test(test_bad_counts),
		cmocka_unit_test(test_bad_rdata),
		cmocka_unit_test(test_tcp_framing),
		cmocka_unit_test(test_text_form),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
