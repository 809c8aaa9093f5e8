/*
 * Collector `cni` (producer/collectors/cni/cni.c): network namespaces from BPF (bpf/cni.bpf.c), network
 * interfaces from rtnetlink. Exposed for the unit tests: the record check, the encoders and the
 * rtnetlink message parser.
 */
#ifndef TAPIO_CNI_COLLECTOR_H
#define TAPIO_CNI_COLLECTOR_H

#include <linux/types.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "avro_writer.h"
#include "cni.h"
#include "collector.h"

/* The `Kind` enum of schemas/cni.avsc. */
enum cni_kind {
	CNI_UNKNOWN = 0, CNI_NETNS_CREATED, CNI_NETNS_ENTERED, CNI_NETNS_DESTROYED, CNI_LINK_ADDED,
	CNI_LINK_REMOVED, CNI_LINK_UP, CNI_LINK_DOWN,
};

/* The `Via` enum: enum cni_via, then RTNETLINK for link records. */
#define CNI_VIA_RTNETLINK CNI_VIA_MAX

#define CNI_NSID_NONE (-1) /* no nsid: the producer's own namespace, or not given */

/* One link record, parsed from an RTM_NEWLINK / RTM_DELLINK message. Netns ids (nsid) are as
 * the message gives them; netns inodes are filled in by the collector (0 = unknown). */
struct cni_link {
	int kind;                   /* enum cni_kind: LINK_*, or CNI_UNKNOWN for a change we skip */
	int ifindex;
	char ifname[IF_NAMESIZE];
	char link_kind[32];         /* IFLA_INFO_KIND: veth, bridge, ...; "" when none */
	bool up;
	char address[3 * 32];       /* link-layer address, aa:bb:..; "" when none */
	int peer_ifindex;           /* IFLA_LINK when it names another device; 0 when none */
	int32_t peer_nsid;          /* IFLA_LINK_NETNSID, relative to the message's namespace */
	int32_t moved_to_nsid;      /* IFLA_NEW_NETNSID of a RTM_DELLINK for a move */
	int new_ifindex;            /* IFLA_NEW_IFINDEX, 0 when none */
	uint64_t netns_inum;        /* the namespace the message is about */
	uint64_t peer_netns_inum;
	uint64_t moved_to_netns_inum;
};

/* Parses one netlink message of `len` bytes. 0 with *out filled (out->kind CNI_UNKNOWN for
 * messages that are not a link record), or -EINVAL for a malformed one. Reads nothing past len. */
int cni_parse_link(const void *msg, size_t len, struct cni_link *out);

/* Not a Kind: a TAPIO_REC_CNI_LINK_NOTIFY record, the stamp of one rtnetlink notification. */
#define CNI_KIND_NOTIFY (-1)

/* Checks a ring-buffer record. On DECODE_OK *kind is its Kind and *ev points into data, or
 * *kind is CNI_KIND_NOTIFY and *ev is NULL. */
enum decode_result cni_check(const void *data, size_t size, const struct cni_netns_event **ev,
			     int *kind);

/* Fields of schemas/cni.avsc after the envelope. */
void cni_encode_netns(struct avro_buf *out, const struct cni_netns_event *ev);
void cni_encode_link(struct avro_buf *out, const struct cni_link *l);

#endif /* TAPIO_CNI_COLLECTOR_H */
