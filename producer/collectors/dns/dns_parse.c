/* Strict DNS message parser: see dns_parse.h. A cursor that never reads past `len`. */
#include "dns_parse.h"

#include <stdio.h>
#include <string.h>

/* Smallest encodings, for checking counts against the bytes left: a question is a root name
 * (1) + type + class; a record adds a TTL and rdlength. */
#define QUESTION_MIN 5
#define RECORD_MIN 11

struct cursor {
	const uint8_t *buf;
	size_t len;
	size_t pos;
};

static bool need(const struct cursor *c, size_t n)
{
	return c->len - c->pos >= n;
}

static uint16_t get16(struct cursor *c)
{
	uint16_t v = (uint16_t)(c->buf[c->pos] << 8 | c->buf[c->pos + 1]);

	c->pos += 2;
	return v;
}

static uint32_t get32(struct cursor *c)
{
	uint32_t v = (uint32_t)c->buf[c->pos] << 24 | (uint32_t)c->buf[c->pos + 1] << 16 |
		     (uint32_t)c->buf[c->pos + 2] << 8 | c->buf[c->pos + 3];

	c->pos += 4;
	return v;
}

/*
 * Reads a possibly compressed name at c->pos into out; c->pos moves past its encoding in place
 * (up to and including the first pointer). A pointer must point past the header and strictly
 * before the run of labels it ends (which starts at the name or at the previous pointer's
 * target): the runs then start ever earlier, so no sequence of pointers can loop.
 */
static int get_name(struct cursor *c, struct dns_name *out)
{
	size_t pos = c->pos, run = c->pos, end_in_place = 0;
	unsigned hops = 0;
	bool jumped = false;

	out->len = 0;
	for (;;) {
		uint8_t b;

		if (pos >= c->len)
			return DNS_ERR_TRUNCATED;
		b = c->buf[pos];
		if ((b & 0xc0) == 0xc0) {
			size_t target;

			if (pos + 1 >= c->len)
				return DNS_ERR_TRUNCATED;
			target = (size_t)(b & 0x3f) << 8 | c->buf[pos + 1];
			if (target >= run || target < DNS_HEADER_LEN)
				return DNS_ERR_POINTER;
			run = target;
			if (++hops > DNS_POINTER_HOPS_MAX)
				return DNS_ERR_POINTER_HOPS;
			if (!jumped)
				end_in_place = pos + 2;
			jumped = true;
			pos = target;
			continue;
		}
		if (b & 0xc0) /* 0x40 (extended) and 0x80 (reserved) label types */
			return DNS_ERR_LABEL;
		if (b > DNS_LABEL_MAX)
			return DNS_ERR_LABEL;
		if (out->len + 1u + b > DNS_NAME_MAX)
			return DNS_ERR_NAME_LENGTH;
		if (c->len - pos - 1 < b)
			return DNS_ERR_TRUNCATED;
		memcpy(out->wire + out->len, c->buf + pos, 1u + b);
		out->len += 1 + b;
		pos += 1 + b;
		if (b == 0)
			break;
	}
	c->pos = jumped ? end_in_place : pos;
	return DNS_PARSE_OK;
}

/* One answer record; `keep` NULL parses and checks it without keeping it. */
static int get_answer(struct cursor *c, struct dns_answer *keep)
{
	struct dns_answer scratch, *a = keep ? keep : &scratch;
	struct cursor rd;
	int err;

	err = get_name(c, &a->name);
	if (err)
		return err;
	if (!need(c, 10))
		return DNS_ERR_TRUNCATED;
	a->type = get16(c);
	a->class = get16(c);
	a->ttl = get32(c);
	a->rdlength = get16(c);
	a->has_target = false;
	if (!need(c, a->rdlength))
		return DNS_ERR_TRUNCATED;
	switch (a->type) {
	case DNS_TYPE_A:
		if (a->rdlength != 4)
			return DNS_ERR_RDATA;
		memcpy(a->addr, c->buf + c->pos, 4);
		break;
	case DNS_TYPE_AAAA:
		if (a->rdlength != 16)
			return DNS_ERR_RDATA;
		memcpy(a->addr, c->buf + c->pos, 16);
		break;
	case DNS_TYPE_CNAME:
	case DNS_TYPE_NS:
	case DNS_TYPE_PTR:
		/* The name may point back into the message, but must fill its rdata exactly. */
		rd = (struct cursor){ .buf = c->buf, .len = c->pos + a->rdlength, .pos = c->pos };
		err = get_name(&rd, &a->target);
		if (err)
			return err == DNS_ERR_TRUNCATED ? DNS_ERR_RDATA : err;
		if (rd.pos != rd.len)
			return DNS_ERR_RDATA;
		a->has_target = true;
		break;
	default:
		break;
	}
	c->pos += a->rdlength;
	return DNS_PARSE_OK;
}

int dns_parse(const uint8_t *buf, size_t len, bool cut, struct dns_msg *msg)
{
	struct cursor c = { .buf = buf, .len = len, .pos = 0 };
	size_t records;
	int err;

	if (!buf || len < DNS_HEADER_LEN)
		return DNS_ERR_SHORT;
	msg->id = get16(&c);
	msg->flags = get16(&c);
	msg->qdcount = get16(&c);
	msg->ancount = get16(&c);
	msg->nscount = get16(&c);
	msg->arcount = get16(&c);
	msg->has_question = false;
	msg->qtype = msg->qclass = 0;
	msg->qname.len = 0;
	msg->nanswers = 0;
	msg->answers_truncated = false;

	/* Multiple questions are not used in practice (RFC 9619); a query needs exactly one. */
	if (msg->qdcount > 1 || (msg->qdcount == 0 && !(msg->flags & DNS_FLAG_QR)))
		return DNS_ERR_COUNTS;
	/* Counts that could not fit are a lie, whatever follows; a cut capture cannot tell. */
	records = (size_t)msg->ancount + msg->nscount + msg->arcount;
	if (!cut && (size_t)msg->qdcount * QUESTION_MIN + records * RECORD_MIN > len - c.pos)
		return DNS_ERR_COUNTS;

	if (msg->qdcount) {
		err = get_name(&c, &msg->qname);
		if (err)
			return err;
		if (!need(&c, 4))
			return DNS_ERR_TRUNCATED;
		msg->qtype = get16(&c);
		msg->qclass = get16(&c);
		msg->has_question = true;
	}
	for (unsigned i = 0; i < msg->ancount; i++) {
		struct dns_answer *keep = NULL;

		if (msg->nanswers < DNS_ANSWERS_MAX)
			keep = &msg->answers[msg->nanswers];
		err = get_answer(&c, keep);
		if (err == DNS_ERR_TRUNCATED && cut) {
			/* Our capture ended here, not the message. */
			msg->answers_truncated = true;
			return DNS_PARSE_OK;
		}
		if (err)
			return err;
		if (keep)
			msg->nanswers++;
	}
	if (msg->nanswers < msg->ancount)
		msg->answers_truncated = true;
	return DNS_PARSE_OK;
}

int dns_parse_tcp(const uint8_t *buf, size_t len, bool cut, struct dns_msg *msg)
{
	size_t mlen;

	if (!buf || len < 2 + DNS_HEADER_LEN)
		return DNS_ERR_SHORT;
	mlen = (size_t)buf[0] << 8 | buf[1];
	if (mlen < DNS_HEADER_LEN)
		return DNS_ERR_TCP_LENGTH;
	/* More bytes than the message: the next message of a pipelined stream, not ours. */
	if (len - 2 >= mlen)
		return dns_parse(buf + 2, mlen, cut && len - 2 == mlen, msg);
	return dns_parse(buf + 2, len - 2, true, msg);
}

size_t dns_name_to_text(const struct dns_name *name, char *out, size_t size)
{
	size_t pos = 0, n = 0;
	char tmp[5];

#define EMIT(ch)                           \
	do {                               \
		if (n + 1 < size)          \
			out[n] = (ch);     \
		n++;                       \
	} while (0)

	while (pos < name->len && name->wire[pos] != 0) {
		size_t l = name->wire[pos++];

		if (pos + l > name->len)
			break;
		for (size_t i = 0; i < l; i++) {
			uint8_t b = name->wire[pos + i];

			if (b == '.' || b == '\\') {
				EMIT('\\');
				EMIT((char)b);
			} else if (b < 0x21 || b > 0x7e) {
				snprintf(tmp, sizeof(tmp), "\\%03u", b);
				for (int k = 0; k < 4; k++)
					EMIT(tmp[k]);
			} else {
				EMIT((char)b);
			}
		}
		pos += l;
		EMIT('.');
	}
	if (n == 0)
		EMIT('.');
	else
		n--; /* no trailing dot, as most tools print names */
#undef EMIT
	if (size)
		out[n < size ? n : size - 1] = '\0';
	return n;
}

bool dns_name_equal(const struct dns_name *a, const struct dns_name *b)
{
	if (a->len != b->len)
		return false;
	for (size_t i = 0; i < a->len; i++) {
		uint8_t x = a->wire[i], y = b->wire[i];

		/* Length octets are <= 63, below 'A': folding never changes them. */
		if (x >= 'A' && x <= 'Z')
			x += 'a' - 'A';
		if (y >= 'A' && y <= 'Z')
			y += 'a' - 'A';
		if (x != y)
			return false;
	}
	return true;
}

static const char *const error_names[DNS_PARSE_ERROR_MAX] = {
	[DNS_PARSE_OK] = "ok",
	[DNS_ERR_SHORT] = "short",
	[DNS_ERR_TRUNCATED] = "truncated",
	[DNS_ERR_LABEL] = "label",
	[DNS_ERR_NAME_LENGTH] = "name_length",
	[DNS_ERR_POINTER] = "pointer",
	[DNS_ERR_POINTER_HOPS] = "pointer_hops",
	[DNS_ERR_COUNTS] = "counts",
	[DNS_ERR_RDATA] = "rdata",
	[DNS_ERR_TCP_LENGTH] = "tcp_length",
};

const char *dns_parse_error_name(int err)
{
	return err >= 0 && err < DNS_PARSE_ERROR_MAX ? error_names[err] : "invalid";
}

const char *dns_type_name(uint16_t type)
{
	switch (type) {
	case 1: return "A";
	case 2: return "NS";
	case 5: return "CNAME";
	case 6: return "SOA";
	case 12: return "PTR";
	case 15: return "MX";
	case 16: return "TXT";
	case 28: return "AAAA";
	case 33: return "SRV";
	case 35: return "NAPTR";
	case 41: return "OPT";
	case 43: return "DS";
	case 46: return "RRSIG";
	case 48: return "DNSKEY";
	case 64: return "SVCB";
	case 65: return "HTTPS";
	case 252: return "AXFR";
	case 255: return "ANY";
	case 257: return "CAA";
	default: return NULL;
	}
}

const char *dns_rcode_name(uint16_t rcode)
{
	static const char *const names[] = {
		"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
		"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "DSOTYPENI",
	};

	return rcode < sizeof(names) / sizeof(names[0]) ? names[rcode] : NULL;
}
