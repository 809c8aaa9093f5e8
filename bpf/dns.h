/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Records of the `dns` collector, shared by dns.bpf.c and producer/collectors/dns/dns.c. */
#ifndef TAPIO_DNS_H
#define TAPIO_DNS_H

#include "common.h"

#define DNS_PACKET_VERSION 1

/* DNS payload bytes copied per packet: the classic UDP message limit (RFC 1035 4.2.1). Larger
 * (EDNS or TCP) messages are cut here and flagged DNS_PKT_CUT; user space keeps what fits. */
#define DNS_PAYLOAD_MAX 512
/* Ports the program matches, as source or destination (config key dns_ports). */
#define DNS_PORTS_MAX 8

enum dns_packet_flags {
	DNS_PKT_EGRESS = 1u << 0, /* sent by a socket of the cgroup; else received */
	DNS_PKT_TCP = 1u << 1,    /* TCP segment (payload starts with a 2-byte length); else UDP */
	DNS_PKT_IPV6 = 1u << 2,   /* addresses are IPv6; else IPv4 in their first 4 bytes */
	DNS_PKT_CUT = 1u << 3,    /* the L4 payload was longer than DNS_PAYLOAD_MAX */
	DNS_PKT_FLAGS_ALL = (1u << 4) - 1,
};

/* One UDP datagram or TCP segment to or from a configured port, with its payload. */
struct dns_packet {
	struct tapio_hdr hdr; /* cgroup_id: the socket's cgroup (bpf_skb_cgroup_id) */
	__u8 saddr[16];       /* network byte order */
	__u8 daddr[16];
	__u16 sport;          /* host byte order */
	__u16 dport;
	__u16 flags;          /* enum dns_packet_flags */
	__u16 payload_len;    /* valid bytes in payload, <= DNS_PAYLOAD_MAX */
	__u32 orig_len;       /* L4 payload bytes in the packet */
	__u32 pad;            /* zero */
	__u8 payload[DNS_PAYLOAD_MAX];
};

_Static_assert(sizeof(struct dns_packet) == 24 + 32 + 8 + 8 + DNS_PAYLOAD_MAX, "dns_packet layout");

#endif /* TAPIO_DNS_H */
