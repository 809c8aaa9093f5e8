// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Collector `kernel`: process exec and exit, one record each per process (not per thread); OOM
 * kills; TCP connection lifecycle. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "compat.bpf.h"
#include "kernel.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Socket families: macros, so not in vmlinux.h. */
#define AF_INET 2
#define AF_INET6 10

/* Slots of the per-CPU counters: [0] ring-buffer reserve failures, [1] TCP records sent without
 * their start because tcp_conns was full (enum kernel_counter). */
#define RINGBUF_COUNTERS KERNEL_CNT_MAX
#include "ringbuf.bpf.h"

/* Page size of the running kernel, set by user space before load (pages -> bytes). */
const volatile __u32 page_shift = 12;

static __always_inline void fill_hdr(struct tapio_hdr *hdr, u16 type, u16 version, u32 size)
{
	hdr->type = type;
	hdr->version = version;
	hdr->size = size;
	hdr->ktime_ns = bpf_ktime_get_boot_ns();
	hdr->cgroup_id = bpf_get_current_cgroup_id();
}

/* Where an exec record is built before output_record() copies its used bytes to the ring. One
 * per CPU is enough: a program does not re-enter itself on a CPU (the kernel skips and counts
 * the nested run as a miss), and an exec and its tracepoint run without migrating. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct kernel_exec);
} exec_scratch SEC(".maps");

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	struct kernel_exec *rec;
	unsigned long arg_start, arg_end, len;
	u64 uid_gid;
	u32 size, zero = 0;
	long n;

	rec = bpf_map_lookup_elem(&exec_scratch, &zero);
	if (!rec)
		return 0;
	rec->pid = BPF_CORE_READ(task, tgid);
	rec->ppid = BPF_CORE_READ(task, real_parent, tgid);
	uid_gid = bpf_get_current_uid_gid();
	rec->uid = (u32)uid_gid;
	rec->gid = uid_gid >> 32;
	rec->flags = 0;
	bpf_get_current_comm(rec->comm, sizeof(rec->comm));

	/* A string that fills the buffer may have been cut: say so rather than guess. */
	n = bpf_probe_read_kernel_str(rec->filename, sizeof(rec->filename), BPF_CORE_READ(bprm, filename));
	if (n < 0)
		rec->filename[0] = '\0';
	else if (n == sizeof(rec->filename))
		rec->flags |= KERNEL_EXEC_FILENAME_TRUNCATED;

	/* argv was just copied onto the new stack, so these user pages are present. */
	arg_start = BPF_CORE_READ(task, mm, arg_start);
	arg_end = BPF_CORE_READ(task, mm, arg_end);
	len = arg_end > arg_start ? arg_end - arg_start : 0;
	if (len > KERNEL_ARGS_LEN) {
		len = KERNEL_ARGS_LEN;
		rec->flags |= KERNEL_EXEC_ARGS_TRUNCATED;
	}
	if (bpf_probe_read_user(rec->args, len, (const void *)arg_start) < 0)
		len = 0;
	rec->args_len = len;
	/* Only the argv bytes read travel: a ring holds about 4x more short command lines. */
	size = KERNEL_EXEC_FIXED_SIZE + len;
	fill_hdr(&rec->hdr, TAPIO_REC_KERNEL_EXEC, KERNEL_EXEC_VERSION, size);
	output_record(rec, size);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *task)
{
	struct kernel_exit *rec;
	struct task_struct *leader;

	/* Only the last thread of the group: signal->live has already dropped to zero for it. */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;

	rec = reserve_record(sizeof(*rec));
	if (!rec)
		return 0;
	fill_hdr(&rec->hdr, TAPIO_REC_KERNEL_EXIT, KERNEL_EXIT_VERSION, sizeof(*rec));
	leader = BPF_CORE_READ(task, group_leader);
	rec->pid = BPF_CORE_READ(task, tgid);
	rec->ppid = BPF_CORE_READ(task, real_parent, tgid);
	rec->exit_status = BPF_CORE_READ(task, exit_code);
	rec->pad = 0;
	rec->lifetime_ns = rec->hdr.ktime_ns - task_start_boottime(leader);
	/* The leader's comm names the process even when another thread exits last. */
	BPF_CORE_READ_STR_INTO(&rec->comm, leader, comm);

	submit_record(rec);
	return 0;
}

/*
 * OOM kills.
 *
 * oom/mark_victim passes the victim but not the oom_control, so whether a memory cgroup or the
 * whole machine ran out is decided from what the thread running the OOM killer did just before:
 * a memcg charge reaches mem_cgroup_out_of_memory() only after memcg reclaim
 * (try_to_free_mem_cgroup_pages, mm_vmscan_memcg_reclaim_begin), the page allocator reaches
 * out_of_memory() only after direct reclaim (try_to_free_pages, mm_vmscan_direct_reclaim_begin).
 * The last of the two per thread is kept here; none seen (sysrq-f from a kworker) means global.
 */
enum { RECLAIM_GLOBAL = 1, RECLAIM_MEMCG = 2 };

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, u32);   /* thread id */
	__type(value, u32); /* RECLAIM_* */
} last_reclaim SEC(".maps");

static __always_inline void note_reclaim(u32 kind)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();

	bpf_map_update_elem(&last_reclaim, &tid, &kind, BPF_ANY);
}

SEC("tp_btf/mm_vmscan_memcg_reclaim_begin")
int BPF_PROG(handle_memcg_reclaim, int order, gfp_t gfp_flags)
{
	note_reclaim(RECLAIM_MEMCG);
	return 0;
}

SEC("tp_btf/mm_vmscan_direct_reclaim_begin")
int BPF_PROG(handle_direct_reclaim, int order, gfp_t gfp_flags)
{
	note_reclaim(RECLAIM_GLOBAL);
	return 0;
}

/* Deep enough for kubepods/<qos>/pod/container and a few more; the walk must be bounded. */
#define MEMCG_MAX_DEPTH 16

static __always_inline void fill_memcg(struct kernel_oom *rec, struct task_struct *task)
{
	struct cgroup_subsys_state *css;
	struct page_counter *pc;
	struct css_set *cset;
	u64 unlimited = 0x7fffffffffffffffULL >> page_shift; /* PAGE_COUNTER_MAX */
	u64 limit = unlimited, max;
	int id;

	/* No memory controller built in: nothing to report. */
	if (!bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id))
		return;
	id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	cset = BPF_CORE_READ(task, cgroups);
	/* The running kernel's subsys[] length, not the one vmlinux.h was made from. */
	if (!cset || id < 0 || (u32)id >= bpf_core_field_size(cset->subsys) / sizeof(void *))
		return;
	css = BPF_CORE_READ(cset, subsys[id]);
	if (!css)
		return;
	/* css is the first member of struct mem_cgroup. */
	pc = &((struct mem_cgroup *)css)->memory;
	/* The root memcg is not charged: its counter says nothing. */
	if (BPF_CORE_READ(css, parent)) {
		rec->memcg_usage_bytes = (u64)BPF_CORE_READ(pc, usage.counter) << page_shift;
		rec->flags |= KERNEL_OOM_USAGE_KNOWN;
	}
	/* The effective limit is the smallest on the way up. */
	for (int i = 0; i < MEMCG_MAX_DEPTH && pc; i++) {
		max = BPF_CORE_READ(pc, max);
		if (max < limit)
			limit = max;
		pc = BPF_CORE_READ(pc, parent);
	}
	if (limit < unlimited) {
		rec->memcg_limit_bytes = limit << page_shift;
		rec->flags |= KERNEL_OOM_LIMIT_KNOWN;
	}
}

/* Runs where mark_oom_victim() runs: in the thread that ran the OOM killer. */
static __always_inline void emit_oom(struct task_struct *victim, u32 uid)
{
	struct task_struct *current = current_task();
	struct kernel_oom *rec;
	struct mm_struct *mm;
	u32 tid = (u32)bpf_get_current_pid_tgid();
	u32 *reclaim;

	rec = reserve_record(sizeof(*rec));
	if (!rec)
		return;
	fill_hdr(&rec->hdr, TAPIO_REC_KERNEL_OOM, KERNEL_OOM_VERSION, sizeof(*rec));
	/* The victim's cgroup, not the allocating task's, names whose process died. */
	rec->hdr.cgroup_id = task_cgroup_v2_id(victim);
	rec->pid = BPF_CORE_READ(victim, tgid);
	rec->ppid = BPF_CORE_READ(victim, real_parent, tgid);
	rec->trigger_pid = BPF_CORE_READ(current, tgid);
	rec->uid = uid;
	rec->flags = 0;
	rec->oom_score_adj = BPF_CORE_READ(victim, signal, oom_score_adj);
	rec->memcg_usage_bytes = 0;
	rec->memcg_limit_bytes = 0;

	reclaim = bpf_map_lookup_elem(&last_reclaim, &tid);
	if (reclaim && *reclaim == RECLAIM_MEMCG)
		rec->flags |= KERNEL_OOM_CGROUP;
	bpf_map_delete_elem(&last_reclaim, &tid);
	fill_memcg(rec, victim);

	mm = BPF_CORE_READ(victim, mm);
	if (mm) {
		rec->total_vm_bytes = (u64)BPF_CORE_READ(mm, total_vm) << page_shift;
		rec->rss_anon_bytes = (u64)mm_counter_pages(mm, TAPIO_MM_ANONPAGES) << page_shift;
		rec->rss_file_bytes = (u64)mm_counter_pages(mm, TAPIO_MM_FILEPAGES) << page_shift;
		rec->rss_shmem_bytes = (u64)mm_counter_pages(mm, TAPIO_MM_SHMEMPAGES) << page_shift;
	} else {
		rec->total_vm_bytes = rec->rss_anon_bytes = 0;
		rec->rss_file_bytes = rec->rss_shmem_bytes = 0;
	}
	/* Reserved ring-buffer memory is not zeroed: clear what follows the names' NULs. */
	__builtin_memset(rec->comm, 0, sizeof(rec->comm));
	__builtin_memset(rec->trigger_comm, 0, sizeof(rec->trigger_comm));
	BPF_CORE_READ_STR_INTO(&rec->comm, victim, group_leader, comm);
	BPF_CORE_READ_STR_INTO(&rec->trigger_comm, current, group_leader, comm);

	submit_record(rec);
}

SEC("tp_btf/mark_victim")
int BPF_PROG(handle_mark_victim, struct task_struct *victim, uid_t uid)
{
	emit_oom(victim, uid);
	return 0;
}

/* Where oom/mark_victim passes only a pid (see oom_victim_uid() in compat.bpf.h), user space
 * loads this instead: the same record from the function that fires the tracepoint. */
SEC("?kprobe/mark_oom_victim")
int BPF_KPROBE(handle_oom_kprobe, struct task_struct *victim)
{
	emit_oom(victim, oom_victim_uid(victim));
	return 0;
}

/*
 * TCP lifecycle from sock/inet_sock_set_state. State changes mostly run in softirq, where
 * `current` is whoever was interrupted: the socket's own cgroup is used, and the process is the
 * one seen in process context at connect()/listen(), kept with the start time per socket.
 */
enum conn_phase {
	PHASE_CONNECTING = 1, /* SYN_SENT (start = connect()) */
	PHASE_HANDSHAKE_IN,   /* a listener's child in SYN_RECV */
	PHASE_ESTABLISHED,    /* start = handshake done */
	PHASE_LISTENING,      /* start = listen() */
};

struct tcp_conn {
	u64 start_ns;
	u32 pid;
	u32 ppid;
	u8 phase;     /* enum conn_phase */
	u8 direction; /* enum kernel_tcp_direction */
	u8 pad[6];
	char comm[TAPIO_COMM_LEN];
};

/* Bounded: a socket whose entry cannot be added is still reported, without its duration and
 * process, and counted (KERNEL_CNT_TCP_FULL). Entries go when the socket reaches CLOSE. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, u64); /* struct sock address */
	__type(value, struct tcp_conn);
} tcp_conns SEC(".maps");

static __always_inline void conn_start(u64 key, u8 phase, u8 direction, u64 now, bool process)
{
	struct tcp_conn c = {};

	c.start_ns = now;
	c.phase = phase;
	c.direction = direction;
	if (process) {
		struct task_struct *task = current_task();

		c.pid = BPF_CORE_READ(task, tgid);
		c.ppid = BPF_CORE_READ(task, real_parent, tgid);
		BPF_CORE_READ_STR_INTO(&c.comm, task, group_leader, comm);
	}
	/* BPF_ANY: a stale entry of a freed socket at the same address is replaced. */
	if (bpf_map_update_elem(&tcp_conns, &key, &c, BPF_ANY))
		count_slot(KERNEL_CNT_TCP_FULL);
}

/* c: the socket's entry (process, start) or NULL; timed: c->start_ns begins a duration. */
static __always_inline void emit_tcp(const struct sock *sk, u8 event, int oldstate, u64 now,
				     const struct tcp_conn *c, bool timed, u8 direction)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	struct kernel_tcp *rec;
	u16 family;

	rec = reserve_record(sizeof(*rec));
	if (!rec)
		return;
	fill_hdr(&rec->hdr, TAPIO_REC_KERNEL_TCP, KERNEL_TCP_VERSION, sizeof(*rec));
	rec->hdr.ktime_ns = now;
	rec->hdr.cgroup_id = sock_cgroup_v2_id(sk);
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	rec->family = family;
	/* inet_sport, not skc_num: unhashing at CLOSE zeroes inet_num before the tracepoint. */
	rec->local_port = bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
	rec->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	rec->event = event;
	rec->direction = direction;
	rec->old_state = oldstate;
	rec->flags = 0;
	rec->pad = 0;
	rec->error = BPF_CORE_READ(sk, sk_err);
	__builtin_memset(rec->local_addr, 0, sizeof(rec->local_addr));
	__builtin_memset(rec->remote_addr, 0, sizeof(rec->remote_addr));
	if (family == AF_INET) {
		BPF_CORE_READ_INTO((u32 *)rec->local_addr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((u32 *)rec->remote_addr, sk, __sk_common.skc_daddr);
	} else {
		/* Typed destinations: BPF_CORE_READ_INTO copies sizeof(*dst) bytes. */
		BPF_CORE_READ_INTO((struct in6_addr *)rec->local_addr, sk,
				   __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO((struct in6_addr *)rec->remote_addr, sk, __sk_common.skc_v6_daddr);
	}
	rec->duration_ns = 0;
	rec->pid = rec->ppid = 0;
	__builtin_memset(rec->comm, 0, sizeof(rec->comm));
	if (c) {
		if (timed) {
			rec->duration_ns = now - c->start_ns;
			rec->flags |= KERNEL_TCP_DURATION_KNOWN;
		}
		rec->pid = c->pid;
		rec->ppid = c->ppid;
		__builtin_memcpy(rec->comm, c->comm, sizeof(rec->comm));
	}
	rec->bytes_sent = BPF_CORE_READ(tp, bytes_sent);
	rec->bytes_acked = BPF_CORE_READ(tp, bytes_acked);
	rec->bytes_received = BPF_CORE_READ(tp, bytes_received);
	rec->bytes_retrans = BPF_CORE_READ(tp, bytes_retrans);
	submit_record(rec);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(handle_tcp_state, const struct sock *sk, const int oldstate, const int newstate)
{
	struct tcp_conn *c, copy;
	u64 key = (u64)sk, now;
	u16 family;

	if (oldstate == newstate || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	now = bpf_ktime_get_boot_ns();
	c = bpf_map_lookup_elem(&tcp_conns, &key);

	switch (newstate) {
	case TCP_SYN_SENT:
		/* connect(), in the caller's context; the local port is not chosen yet. */
		if (oldstate == TCP_CLOSE)
			conn_start(key, PHASE_CONNECTING, KERNEL_TCP_DIR_OUTBOUND, now, true);
		return 0;
	case TCP_SYN_RECV:
		/* A listener's new child (simultaneous open keeps its SYN_SENT entry). */
		if (oldstate == TCP_LISTEN)
			conn_start(key, PHASE_HANDSHAKE_IN, KERNEL_TCP_DIR_INBOUND, now, false);
		return 0;
	case TCP_LISTEN:
		conn_start(key, PHASE_LISTENING, KERNEL_TCP_DIR_UNKNOWN, now, true);
		c = bpf_map_lookup_elem(&tcp_conns, &key);
		emit_tcp(sk, KERNEL_TCP_LISTEN, oldstate, now, c, false, KERNEL_TCP_DIR_UNKNOWN);
		return 0;
	case TCP_ESTABLISHED:
		if (c && c->phase == PHASE_CONNECTING) {
			emit_tcp(sk, KERNEL_TCP_CONNECT, oldstate, now, c, true, KERNEL_TCP_DIR_OUTBOUND);
		} else if (c && c->phase == PHASE_HANDSHAKE_IN) {
			emit_tcp(sk, KERNEL_TCP_ACCEPT, oldstate, now, c, true, KERNEL_TCP_DIR_INBOUND);
		} else if (!c && oldstate == TCP_SYN_SENT) {
			emit_tcp(sk, KERNEL_TCP_CONNECT, oldstate, now, NULL, false, KERNEL_TCP_DIR_OUTBOUND);
		} else if (!c && oldstate == TCP_SYN_RECV) {
			emit_tcp(sk, KERNEL_TCP_ACCEPT, oldstate, now, NULL, false, KERNEL_TCP_DIR_INBOUND);
		} else {
			return 0;
		}
		/* From here on the start is the moment the connection was established. */
		if (c) {
			c->start_ns = now;
			c->phase = PHASE_ESTABLISHED;
		}
		return 0;
	case TCP_CLOSE:
		break;
	default:
		return 0;
	}

	/* CLOSE: the socket is done with this life; report what it was. */
	if (c) {
		copy = *c;
		bpf_map_delete_elem(&tcp_conns, &key);
		switch (copy.phase) {
		case PHASE_CONNECTING:
			emit_tcp(sk, KERNEL_TCP_CONNECT_FAILED, oldstate, now, &copy, true,
				 KERNEL_TCP_DIR_OUTBOUND);
			break;
		case PHASE_LISTENING:
			emit_tcp(sk, KERNEL_TCP_LISTEN_CLOSE, oldstate, now, &copy, true,
				 KERNEL_TCP_DIR_UNKNOWN);
			break;
		case PHASE_ESTABLISHED:
			emit_tcp(sk, KERNEL_TCP_CLOSE, oldstate, now, &copy, true, copy.direction);
			break;
		default:
			/* A child that never completed its handshake: nothing was connected. */
			break;
		}
		return 0;
	}
	/* No entry: opened before we started, or the map was full. */
	switch (oldstate) {
	case TCP_SYN_SENT:
		emit_tcp(sk, KERNEL_TCP_CONNECT_FAILED, oldstate, now, NULL, false,
			 KERNEL_TCP_DIR_OUTBOUND);
		break;
	case TCP_LISTEN:
		emit_tcp(sk, KERNEL_TCP_LISTEN_CLOSE, oldstate, now, NULL, false, KERNEL_TCP_DIR_UNKNOWN);
		break;
	case TCP_SYN_RECV:
		break;
	default:
		emit_tcp(sk, KERNEL_TCP_CLOSE, oldstate, now, NULL, false, KERNEL_TCP_DIR_UNKNOWN);
		break;
	}
	return 0;
}
