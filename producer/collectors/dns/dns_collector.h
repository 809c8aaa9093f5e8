/*
 * Collector `dns` internals that the unit tests reach: the pending-query match key, the encoder
 * of the topic's own fields and the counters. The collector itself is `dns_collector`
 * (struct collector_ops) in dns.c.
 */
#ifndef TAPIO_DNS_COLLECTOR_H
#define TAPIO_DNS_COLLECTOR_H

#include <stdint.h>

#include "avro_writer.h"
#include "config.h"
#include "dns_parse.h"

/* Enums of schemas/dns.avsc, by symbol index. */
enum dns_kind {
	DNS_KIND_UNKNOWN = 0, DNS_KIND_RESPONSE = 1, DNS_KIND_TIMEOUT = 2, DNS_KIND_EVICTED = 4,
};
enum dns_role { DNS_ROLE_UNKNOWN = 0, DNS_ROLE_CLIENT = 1, DNS_ROLE_SERVER = 2 };
enum dns_proto { DNS_PROTO_UNKNOWN = 0, DNS_PROTO_UDP = 1, DNS_PROTO_TCP = 2 };

/* Answers are also capped by the bytes their text takes, so that a response of compressed
 * 255-byte names (16 of them fit in 512 bytes) still fits ENCODE_BUF_SIZE. */
#define DNS_ANSWER_TEXT_BUDGET 8192

/*
 * What matches a response to its query: the socket's cgroup, the transport and both ends, the
 * DNS id, and which end of the exchange the cgroup is. Compared with memcmp: zero it first.
 */
struct dns_key {
	uint64_t cgroup_id;
	uint8_t client[16]; /* the end that sent the query; IPv4 in the first 4 bytes */
	uint8_t server[16];
	uint16_t client_port;
	uint16_t server_port;
	uint16_t id;
	uint8_t proto;      /* enum dns_proto */
	uint8_t role;       /* enum dns_role: CLIENT when the cgroup sent the query */
	uint8_t ipv6;
	uint8_t pad[7];
};

_Static_assert(sizeof(struct dns_key) == 56, "dns_key has no implicit padding");

/* A query awaiting its response. */
struct dns_query {
	struct dns_key key;
	uint64_t ktime_ns;    /* when the (first) query was seen */
	uint32_t retransmits; /* identical queries seen since */
	uint16_t qtype;
	struct dns_name qname;
};

struct dns_stats {
	uint64_t queries;           /* query packets parsed */
	uint64_t responses;         /* response packets parsed */
	uint64_t answered;          /* records published with their response */
	uint64_t timeouts;          /* records published as timeouts */
	uint64_t unsolicited;       /* responses matching no pending query: not published */
	uint64_t question_mismatch; /* responses whose key matched but whose question did not */
	uint64_t retransmits;       /* repeated queries folded into the pending one */
	uint64_t replaced;          /* a new question under a pending key: the old one dropped */
	uint64_t evicted;           /* pending table full: the oldest query dropped */
	uint64_t pending;           /* queries waiting now */
	uint64_t rejected[DNS_PARSE_ERROR_MAX]; /* packets the parser refused, by reason */
};

/*
 * Sets up (or resets) the pending-query table from cfg: dns_timeout_ms, dns_pending_max.
 * open() calls it; the unit tests call it to start clean. 0 or -ENOMEM.
 */
int dns_state_reset(const struct tapio_config *cfg);

/* Writes the topic's own fields, after kind and envelope: the query, and the response when
 * resp is not NULL (else a timeout) received at resp_ktime_ns. */
void dns_encode_fields(const struct dns_query *q, const struct dns_msg *resp,
		       uint64_t resp_ktime_ns, struct avro_buf *out);

void dns_get_stats(struct dns_stats *out);

#endif /* TAPIO_DNS_COLLECTOR_H */
