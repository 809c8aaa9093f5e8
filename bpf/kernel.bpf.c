// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Collector `kernel`: process exec and exit, one record each per process (not per thread). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "compat.bpf.h"
#include "kernel.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Sized by user space before load (bpf_map__set_max_entries). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

/* Ring-buffer reserve failures, per CPU: user space sums them into the loss counters. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} reserve_failures SEC(".maps");

static __always_inline void *reserve(u32 size)
{
	void *rec = bpf_ringbuf_reserve(&events, size, 0);

	if (!rec) {
		u32 zero = 0;
		u64 *count = bpf_map_lookup_elem(&reserve_failures, &zero);

		if (count)
			*count += 1;
	}
	return rec;
}

static __always_inline void fill_hdr(struct tapio_hdr *hdr, u16 type, u16 version, u32 size)
{
	hdr->type = type;
	hdr->version = version;
	hdr->size = size;
	hdr->ktime_ns = bpf_ktime_get_boot_ns();
	hdr->cgroup_id = bpf_get_current_cgroup_id();
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	struct kernel_exec *rec;
	unsigned long arg_start, arg_end, len;
	u64 uid_gid;
	long n;

	rec = reserve(sizeof(*rec));
	if (!rec)
		return 0;
	fill_hdr(&rec->hdr, TAPIO_REC_KERNEL_EXEC, KERNEL_EXEC_VERSION, sizeof(*rec));
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

	bpf_ringbuf_submit(rec, 0);
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

	rec = reserve(sizeof(*rec));
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

	bpf_ringbuf_submit(rec, 0);
	return 0;
}
