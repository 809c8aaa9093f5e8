// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Collector `cni`: network namespaces appearing, being entered and going away.
 *
 * Creation: sched_process_fork (a child whose netns differs from its parent's: clone, clone3 or
 * fork with CLONE_NEWNET) and the unshare syscall tracepoints. Entry: the setns syscall
 * tracepoints (the netns before and after differ). Destruction: the kernel has no tracepoint for
 * it; namespaces seen here are remembered with their struct net, and each time the kernel's
 * netns cleanup work (cleanup_net, whose address user space reads from /proc/kallsyms) finishes,
 * those whose reference count is zero or whose memory now holds another namespace are reported.
 * Namespaces neither made nor entered since start are never reported as destroyed.
 *
 * Interfaces: no tracepoint reports a device being registered, moved or unregistered; user space
 * reads rtnetlink notifications, and the socket filter below stamps each one as it is delivered.
 *
 * Also a resolver run by user space (BPF_PROG_TEST_RUN): rtnetlink names other namespaces by
 * nsid; this turns an nsid into the namespace's inode.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "cni.h"
#include "compat.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define CLONE_NEWNET 0x40000000

/* Address of cleanup_net(), from /proc/kallsyms; 0 = destruction not watched. */
const volatile __u64 cleanup_net_fn = 0;

#define RINGBUF_BYTES (1 << 20)
#define RINGBUF_COUNTERS CNI_CNT_MAX
#include "ringbuf.bpf.h"

/* Thread id → netns inode at sys_enter of unshare/setns, for the comparison at sys_exit. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, u32);
	__type(value, u64);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CNI_NETNS_MAX);
	__type(key, u64); /* netns inode */
	__type(value, struct cni_netns_live);
} netns_live SEC(".maps");

static __always_inline struct net *task_net(struct task_struct *task)
{
	return BPF_CORE_READ(task, nsproxy, net_ns);
}

static __always_inline void remember(struct net *net, u64 inum, u64 cgroup_id, bool replace)
{
	struct cni_netns_live v = { .net = (u64)net, .cgroup_id = cgroup_id };

	if (bpf_map_update_elem(&netns_live, &inum, &v, replace ? BPF_ANY : BPF_NOEXIST) == -7)
		count_slot(CNI_CNT_LIVE_FULL); /* -E2BIG */
}

static __always_inline void emit(u16 type, u32 via, u64 inum, u64 prev, u64 cgroup_id,
				 struct task_struct *task)
{
	struct cni_netns_event *rec = reserve_record(sizeof(*rec));

	if (!rec)
		return;
	rec->hdr.type = type;
	rec->hdr.version = CNI_NETNS_VERSION;
	rec->hdr.size = sizeof(*rec);
	rec->hdr.ktime_ns = bpf_ktime_get_boot_ns();
	rec->hdr.cgroup_id = cgroup_id;
	rec->netns_inum = inum;
	rec->prev_netns_inum = prev;
	rec->via = via;
	rec->pad = 0;
	__builtin_memset(rec->comm, 0, sizeof(rec->comm));
	if (task) {
		rec->pid = BPF_CORE_READ(task, tgid);
		rec->ppid = BPF_CORE_READ(task, real_parent, tgid);
		BPF_CORE_READ_STR_INTO(&rec->comm, task, group_leader, comm);
	} else {
		rec->pid = rec->ppid = 0;
	}
	submit_record(rec);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(cni_fork, struct task_struct *parent, struct task_struct *child)
{
	struct net *net = task_net(child);
	u64 inum, cgid;

	if (net == task_net(parent) || !net)
		return 0;
	inum = BPF_CORE_READ(net, ns.inum);
	/* The child is in its parent's cgroup until it moves itself. */
	cgid = bpf_get_current_cgroup_id();
	remember(net, inum, cgid, true);
	emit(TAPIO_REC_CNI_NETNS_CREATE, CNI_VIA_CLONE, inum,
	     BPF_CORE_READ(task_net(parent), ns.inum), cgid, child);
	return 0;
}

static __always_inline int enter(void)
{
	struct task_struct *task = current_task();
	u32 tid = (u32)bpf_get_current_pid_tgid();
	u64 inum = BPF_CORE_READ(task_net(task), ns.inum);

	bpf_map_update_elem(&pending, &tid, &inum, BPF_ANY);
	return 0;
}

static __always_inline int leave(long ret, u16 type, u32 via)
{
	struct task_struct *task = current_task();
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct net *net;
	u64 *prev, old, inum, cgid;

	prev = bpf_map_lookup_elem(&pending, &tid);
	if (!prev)
		return 0;
	old = *prev;
	bpf_map_delete_elem(&pending, &tid);
	net = task_net(task);
	inum = BPF_CORE_READ(net, ns.inum);
	if (ret != 0 || inum == old)
		return 0;
	cgid = bpf_get_current_cgroup_id();
	/* A new namespace is this caller's; an entered one keeps whoever was seen first. */
	remember(net, inum, cgid, via == CNI_VIA_UNSHARE);
	emit(type, via, inum, old, cgid, task);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_unshare")
int cni_enter_unshare(struct trace_event_raw_sys_enter *ctx)
{
	if (!(ctx->args[0] & CLONE_NEWNET))
		return 0;
	return enter();
}

SEC("tracepoint/syscalls/sys_exit_unshare")
int cni_exit_unshare(struct trace_event_raw_sys_exit *ctx)
{
	return leave(ctx->ret, TAPIO_REC_CNI_NETNS_CREATE, CNI_VIA_UNSHARE);
}

SEC("tracepoint/syscalls/sys_enter_setns")
int cni_enter_setns(struct trace_event_raw_sys_enter *ctx)
{
	u64 nstype = ctx->args[1];

	/* 0 = any type (the fd says); a pidfd takes a set of CLONE_NEW* flags. */
	if (nstype && !(nstype & CLONE_NEWNET))
		return 0;
	return enter();
}

SEC("tracepoint/syscalls/sys_exit_setns")
int cni_exit_setns(struct trace_event_raw_sys_exit *ctx)
{
	return leave(ctx->ret, TAPIO_REC_CNI_NETNS_ENTER, CNI_VIA_SETNS);
}

static long check_live(struct bpf_map *map, u64 *inum, struct cni_netns_live *v, void *ctx)
{
	struct net *net = (struct net *)v->net;

	/* Freed memory may hold a newer namespace already: a different inode means ours is gone. */
	if (BPF_CORE_READ(net, ns.inum) == *inum && netns_refs(net) > 0)
		return 0;
	emit(TAPIO_REC_CNI_NETNS_DESTROY, CNI_VIA_CLEANUP, *inum, 0, v->cgroup_id, NULL);
	bpf_map_delete_elem(map, inum);
	return 0;
}

/* raw_tp, not tp_btf: a tp_btf program may not read a function-pointer argument. */
SEC("raw_tp/workqueue_execute_end")
int BPF_PROG(cni_work_end, void *work, u64 function)
{
	/* Every namespace cleanup_net took off the cleanup list is dead once it returns. */
	if (!cleanup_net_fn || function != cleanup_net_fn)
		return 0;
	bpf_for_each_map_elem(&netns_live, check_live, NULL, 0);
	return 0;
}

/* Up to XA_MAX_DEPTH levels of an xarray (64 slots per node): the entry at `index`, or 0. */
static __always_inline unsigned long xa_entry_at(struct xarray *xa, u64 index)
{
	unsigned long entry = (unsigned long)BPF_CORE_READ(xa, xa_head);
	struct xa_node *node;
	u32 shift;

	/* A head that is not a node holds index 0 only. */
	if ((entry & 3) != 2 || entry <= 4096)
		return index == 0 ? entry : 0;
	for (int depth = 0; depth < 11; depth++) {
		if ((entry & 3) != 2 || entry <= 4096)
			break;
		node = (struct xa_node *)(entry - 2);
		shift = BPF_CORE_READ(node, shift);
		if (shift > 63 || (depth == 0 && (index >> shift) > 63))
			return 0;
		if (bpf_probe_read_kernel(&entry, sizeof(entry), &node->slots[(index >> shift) & 63]))
			return 0;
	}
	/* Internal entries (retry, zero, sibling) are not namespaces. */
	return (entry & 3) == 2 ? 0 : entry;
}

/* args[0]: an nsid in the caller's netns; args[1]: an nsid in that namespace, or -1. Returns
 * the inode of the namespace named, 0 when there is none. */
SEC("raw_tp")
int cni_resolve_nsid(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct net *net = BPF_CORE_READ(task, nsproxy, net_ns);
	s64 first = (s64)ctx->args[0], second = (s64)ctx->args[1];

	if (first < 0 || !net)
		return 0;
	net = (struct net *)xa_entry_at(&net->netns_ids.idr_rt, first);
	if (net && second >= 0)
		net = (struct net *)xa_entry_at(&net->netns_ids.idr_rt, second);
	return net ? BPF_CORE_READ(net, ns.inum) : 0;
}

/* Attached to the producer's rtnetlink socket (SO_ATTACH_BPF): runs as each notification is
 * delivered, before it is queued, and keeps it whole. */
SEC("socket")
int cni_rtnl_stamp(struct __sk_buff *skb)
{
	struct cni_link_notify *rec = reserve_record(sizeof(*rec));

	if (!rec)
		return skb->len;
	rec->hdr.type = TAPIO_REC_CNI_LINK_NOTIFY;
	rec->hdr.version = CNI_NETNS_VERSION;
	rec->hdr.size = sizeof(*rec);
	rec->hdr.ktime_ns = bpf_ktime_get_boot_ns();
	rec->hdr.cgroup_id = 0;
	rec->len = skb->len;
	rec->pad = 0;
	submit_record(rec);
	return skb->len;
}
