/*
 * A strict, bounds-checked DNS message parser (RFC 1035) for packets that anyone on the network
 * may have crafted. Pure: no allocation, no globals, no I/O; the fuzz target builds it alone.
 *
 * Everything is checked against the bytes at hand: every length, label <= 63 bytes, name <= 255
 * bytes, compression pointers only backwards (so they cannot loop) and at most
 * DNS_POINTER_HOPS_MAX per name, section counts that could fit in the message, rdata whose length
 * matches its type. The header, question and answer section are parsed; authority and additional
 * sections are not read.
 */
#ifndef TAPIO_DNS_PARSE_H
#define TAPIO_DNS_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_HEADER_LEN 12
#define DNS_LABEL_MAX 63
#define DNS_NAME_MAX 255        /* wire form, length octets and root label included */
#define DNS_POINTER_HOPS_MAX 16 /* real encoders need two or three */
#define DNS_ANSWERS_MAX 16      /* answers kept; the rest are parsed, counted and flagged */
/* Presentation form: every byte may become \DDD (4), plus the dots and NUL. */
#define DNS_NAME_TEXT_MAX (4 * DNS_NAME_MAX + 2)

#define DNS_TYPE_A 1
#define DNS_TYPE_NS 2
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_PTR 12
#define DNS_TYPE_AAAA 28

#define DNS_FLAG_QR 0x8000
#define DNS_FLAG_AA 0x0400
#define DNS_FLAG_TC 0x0200
#define DNS_OPCODE(flags) (((flags) >> 11) & 0xf)
#define DNS_RCODE(flags) ((flags) & 0xf)

/* Why a message was rejected. */
enum dns_parse_error {
	DNS_PARSE_OK = 0,
	DNS_ERR_SHORT,        /* shorter than the 12-byte header */
	DNS_ERR_TRUNCATED,    /* a name, question or record runs past the end */
	DNS_ERR_LABEL,        /* label over 63 bytes, or a reserved label type (0x40, 0x80) */
	DNS_ERR_NAME_LENGTH,  /* name longer than 255 bytes once decompressed */
	DNS_ERR_POINTER,      /* compression pointer not strictly backwards, or into the header */
	DNS_ERR_POINTER_HOPS, /* more than DNS_POINTER_HOPS_MAX pointers in one name */
	DNS_ERR_COUNTS,       /* QDCOUNT not 1 (0 allowed in a response), or counts too big */
	DNS_ERR_RDATA,        /* rdata length wrong for its type (A 4, AAAA 16, names exact) */
	DNS_ERR_TCP_LENGTH,   /* TCP length prefix shorter than a header */
	DNS_PARSE_ERROR_MAX,
};

/* A name in uncompressed wire form: length-prefixed labels ending with the root label. */
struct dns_name {
	uint16_t len; /* bytes in wire, root label included: 1..DNS_NAME_MAX */
	uint8_t wire[DNS_NAME_MAX];
};

struct dns_answer {
	struct dns_name name;
	uint16_t type;
	uint16_t class;
	uint32_t ttl;
	uint16_t rdlength;
	bool has_target;        /* CNAME, NS, PTR: target holds the name */
	uint8_t addr[16];       /* A: first 4 bytes; AAAA: all 16 */
	struct dns_name target;
};

struct dns_msg {
	uint16_t id;
	uint16_t flags; /* QR, opcode, AA, TC, RD, RA, Z, rcode as on the wire */
	uint16_t qdcount, ancount, nscount, arcount;
	bool has_question;
	struct dns_name qname;
	uint16_t qtype;
	uint16_t qclass;
	uint16_t nanswers;      /* kept in answers[] */
	bool answers_truncated; /* fewer kept than ancount: the cap, or the capture was cut */
	struct dns_answer answers[DNS_ANSWERS_MAX];
};

/*
 * Parses a DNS message of `len` bytes. `cut` says the capture stopped before the end of the
 * message: running out of bytes inside the answer section is then not an error (what fits is
 * kept and answers_truncated is set), though the header and question must be whole.
 * Returns DNS_PARSE_OK with *msg filled, or the reason (enum dns_parse_error); *msg is then
 * unspecified.
 */
int dns_parse(const uint8_t *buf, size_t len, bool cut, struct dns_msg *msg);

/* A DNS-over-TCP segment that starts a message: a 2-byte big-endian length, then the message.
 * A message longer than the segment is parsed as cut. */
int dns_parse_tcp(const uint8_t *buf, size_t len, bool cut, struct dns_msg *msg);

/* Presentation form ("www.example.com", "." for the root) of a wire name, NUL-terminated:
 * '.' and '\' inside labels are escaped with '\', other bytes outside 0x21..0x7e as \DDD.
 * Returns the length without the NUL; out is cut (and stays terminated) if size is short. */
size_t dns_name_to_text(const struct dns_name *name, char *out, size_t size);

/* Same name, ASCII case ignored (RFC 4343). */
bool dns_name_equal(const struct dns_name *a, const struct dns_name *b);

const char *dns_parse_error_name(int err);
/* "A", "AAAA", ...; NULL for a type without a mnemonic here (callers write TYPEnnn). */
const char *dns_type_name(uint16_t type);
/* "NOERROR", "NXDOMAIN", ...; NULL when unassigned in the 4-bit header field. */
const char *dns_rcode_name(uint16_t rcode);

#endif /* TAPIO_DNS_PARSE_H */
