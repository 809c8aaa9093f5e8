// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Collector `dns`: every UDP datagram and TCP segment to or from a DNS port, from any socket of
 * any cgroup below the one the programs are attached to (the cgroup v2 root). The DNS message is
 * parsed in user space (producer/collectors/dns/dns_parse.c): the kernel side only copies bytes.
 *
 * cgroup_skb programs see skb->data at the network header, on egress before neighbour resolution
 * and fragmentation, on ingress after reassembly, with the owning socket in skb->sk (the kernel
 * sets it for ingress too), so bpf_skb_cgroup_id() names the socket's cgroup either way.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "compat.bpf.h"
#include "dns.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define PROTO_TCP 6
#define PROTO_UDP 17
#define IPV6_HOP 0
#define IPV6_ROUTING 43
#define IPV6_FRAGMENT 44
#define IPV6_DSTOPTS 60
#define IPV6_EXT_MAX 4 /* extension headers walked before giving up on a packet */

/* Set by user space between __open() and __load() (config key dns_ports). */
const volatile __u16 dns_ports[DNS_PORTS_MAX] = { 53 };
const volatile __u32 dns_port_count = 1;

#include "ringbuf.bpf.h"

static __always_inline bool is_dns_port(__u16 port)
{
	for (__u32 i = 0; i < DNS_PORTS_MAX; i++)
		if (i < dns_port_count && dns_ports[i] == port)
			return true;
	return false;
}

/* What the packet filter learns before a ring-buffer record is reserved. */
struct pkt_meta {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 flags;
};

/* Offset of the L4 header and its protocol, with the addresses; false for anything else. */
static __always_inline bool parse_ip(struct __sk_buff *skb, struct pkt_meta *m, __u32 *l4,
				     __u8 *proto)
{
	__u8 b[2];

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return false;
		/* Byte 0 is version and IHL: read it whole, not through bitfields. */
		b[0] = *(__u8 *)&ip;
		if ((b[0] >> 4) != 4 || (b[0] & 0xf) < 5)
			return false;
		/* Fragments never reach these hooks whole; skip any that do. */
		if (ip.frag_off & bpf_htons(0x3fff))
			return false;
		__builtin_memcpy(m->saddr, &ip.saddr, 4);
		__builtin_memcpy(m->daddr, &ip.daddr, 4);
		*proto = ip.protocol;
		*l4 = (b[0] & 0xf) * 4;
		return true;
	}
	if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;
		__u32 off = sizeof(ip6);
		__u8 next;

		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return false;
		__builtin_memcpy(m->saddr, &ip6.saddr, 16);
		__builtin_memcpy(m->daddr, &ip6.daddr, 16);
		m->flags |= DNS_PKT_IPV6;
		next = ip6.nexthdr;
		for (int i = 0; i < IPV6_EXT_MAX; i++) {
			if (next != IPV6_HOP && next != IPV6_ROUTING && next != IPV6_DSTOPTS)
				break;
			if (bpf_skb_load_bytes(skb, off, b, 2))
				return false;
			next = b[0];
			off += (b[1] + 1) * 8;
		}
		if (next == IPV6_FRAGMENT)
			return false;
		*proto = next;
		*l4 = off;
		return true;
	}
	return false;
}

static __always_inline void capture(struct __sk_buff *skb, bool egress)
{
	struct pkt_meta m = { .flags = egress ? DNS_PKT_EGRESS : 0 };
	struct dns_packet *p;
	__u32 l4 = 0, payload, len;
	__u64 n;
	__u8 proto = 0, th[14];
	__u16 ports[2], sport, dport;

	if (!parse_ip(skb, &m, &l4, &proto))
		return;
	if (proto == PROTO_UDP) {
		if (bpf_skb_load_bytes(skb, l4, ports, sizeof(ports)))
			return;
		payload = l4 + 8;
	} else if (proto == PROTO_TCP) {
		if (bpf_skb_load_bytes(skb, l4, th, sizeof(th)))
			return;
		__builtin_memcpy(ports, th, sizeof(ports));
		if ((th[12] >> 4) < 5)
			return;
		payload = l4 + (th[12] >> 4) * 4;
		m.flags |= DNS_PKT_TCP;
	} else {
		return;
	}
	sport = bpf_ntohs(ports[0]);
	dport = bpf_ntohs(ports[1]);
	if (!is_dns_port(sport) && !is_dns_port(dport))
		return;
	/* Nothing shorter than a DNS header is worth a record (TCP handshakes, ACKs). */
	if (skb->len < payload + 12)
		return;
	len = skb->len - payload;
	n = len;
	if (n > DNS_PAYLOAD_MAX) {
		n = DNS_PAYLOAD_MAX;
		m.flags |= DNS_PKT_CUT;
	}

	p = reserve_record(sizeof(*p));
	if (!p)
		return;
	/* n is in [1, DNS_PAYLOAD_MAX]: the payload holds at least a DNS header. */
	if (bpf_skb_load_bytes(skb, payload, p->payload, helper_size(n, DNS_PAYLOAD_MAX))) {
		bpf_ringbuf_discard(p, 0);
		return;
	}
	p->hdr.type = TAPIO_REC_DNS_PACKET;
	p->hdr.version = DNS_PACKET_VERSION;
	p->hdr.size = sizeof(*p);
	p->hdr.ktime_ns = bpf_ktime_get_boot_ns();
	p->hdr.cgroup_id = bpf_skb_cgroup_id(skb);
	__builtin_memcpy(p->saddr, m.saddr, sizeof(p->saddr));
	__builtin_memcpy(p->daddr, m.daddr, sizeof(p->daddr));
	p->sport = sport;
	p->dport = dport;
	p->flags = m.flags;
	p->payload_len = n;
	p->orig_len = len;
	p->pad = 0;
	submit_record(p);
}

/* Both return 1: the programs observe, they never drop. */
SEC("cgroup_skb/egress")
int dns_egress(struct __sk_buff *skb)
{
	capture(skb, true);
	return 1;
}

SEC("cgroup_skb/ingress")
int dns_ingress(struct __sk_buff *skb)
{
	capture(skb, false);
	return 1;
}
