/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Records of the `cni` collector (network namespaces, and the moments rtnetlink link
 * notifications reach the producer), shared by cni.bpf.c and producer/collectors/cni/cni.c. */
#ifndef TAPIO_CNI_H
#define TAPIO_CNI_H

#include "common.h"

#define CNI_NETNS_VERSION 1
/* Namespaces remembered for their destruction; past it a new one is not (counted). */
#define CNI_NETNS_MAX 16384

/* How the kernel got there. */
enum cni_via {
	CNI_VIA_UNSHARE = 1, /* unshare(CLONE_NEWNET) */
	CNI_VIA_CLONE = 2,   /* clone/clone3/fork with CLONE_NEWNET: pid is the child */
	CNI_VIA_SETNS = 3,   /* setns() into a namespace */
	CNI_VIA_CLEANUP = 4, /* the kernel's netns cleanup work (cleanup_net) finished with it */
	CNI_VIA_MAX,
};

/* hdr.type: TAPIO_REC_CNI_NETNS_CREATE / _ENTER / _DESTROY. hdr.cgroup_id: the process's
 * cgroup; for a destruction, the cgroup of the process that created (or first entered) it. */
struct cni_netns_event {
	struct tapio_hdr hdr;
	__u64 netns_inum;      /* the namespace created, entered or destroyed (its nsfs inode) */
	__u64 prev_netns_inum; /* create/enter: the namespace the process was in; 0 otherwise */
	__u32 pid;             /* 0 for a destruction */
	__u32 ppid;
	__u32 via;             /* enum cni_via */
	__u32 pad;             /* zero */
	char comm[TAPIO_COMM_LEN];
};

_Static_assert(sizeof(struct cni_netns_event) == 24 + 16 + 16 + TAPIO_COMM_LEN,
	       "cni_netns_event layout");

/* hdr.type: TAPIO_REC_CNI_LINK_NOTIFY. The socket filter on the producer's rtnetlink socket
 * writes one per notification delivered to it, in delivery order: user space reads that
 * datagram when it meets this record, so link records get the kernel's time and their place
 * among the namespace records. hdr.cgroup_id is 0 (a socket filter cannot read it). */
struct cni_link_notify {
	struct tapio_hdr hdr;
	__u32 len;  /* bytes of the notification */
	__u32 pad;  /* zero */
};

_Static_assert(sizeof(struct cni_link_notify) == 24 + 8, "cni_link_notify layout");

/* Value of the `netns_live` map, keyed by netns inode. */
struct cni_netns_live {
	__u64 net;       /* struct net address, compared, never dereferenced as live */
	__u64 cgroup_id; /* creator's (or first enterer's) cgroup */
};

/* Slots of the per-CPU `reserve_failures` array (ringbuf.bpf.h). */
enum cni_counter {
	CNI_CNT_RESERVE = 0,   /* ring buffer full: a record lost */
	CNI_CNT_LIVE_FULL = 1, /* state map full: netns_live could not take a namespace, whose
				* destruction will not be seen */
	CNI_CNT_MAX,
};

#endif /* TAPIO_CNI_H */
