/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The kernel side of the cgroup-lifecycle collectors, compiled into cri.bpf.c and systemd.bpf.c,
 * each defining LC_REC_TYPE. Every new cgroup v2 directory is watched tentatively from its mkdir
 * on, so its first exec is never missed while user space decides; user space then drops the
 * cgroups that are not its kind (and adds the ones present at start). For watched cgroups only:
 * the first exec (the main process), the main process's exit, OOM kills, and the rmdir.
 */
#ifndef TAPIO_LIFECYCLE_BPF_H
#define TAPIO_LIFECYCLE_BPF_H

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "compat.bpf.h"
#include "lifecycle.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define RINGBUF_BYTES (1 << 20)
#define RINGBUF_COUNTERS LC_CNT_MAX
#include "ringbuf.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LIFECYCLE_WATCH_MAX);
	__type(key, u64); /* cgroup v2 id */
	__type(value, struct lifecycle_watch);
} watched SEC(".maps");

/* Watched cgroups whose main process is running, claimed by its first exec (claim_once). An
 * entry goes when the main process exits or the cgroup is removed; LRU, so one the producer
 * missed going cannot fill the map. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LIFECYCLE_WATCH_MAX);
	__type(key, u64); /* cgroup v2 id */
	__type(value, u32); /* main pid */
} main_claims SEC(".maps");

static __always_inline struct lifecycle_event *lc_reserve(u32 event, u64 cgroup_id)
{
	struct lifecycle_event *rec = reserve_record(sizeof(*rec));

	if (!rec)
		return NULL;
	rec->hdr.type = LC_REC_TYPE;
	rec->hdr.version = LIFECYCLE_VERSION;
	rec->hdr.size = sizeof(*rec);
	rec->hdr.ktime_ns = bpf_ktime_get_boot_ns();
	rec->hdr.cgroup_id = cgroup_id;
	rec->event = event;
	rec->flags = 0;
	rec->pid = rec->ppid = 0;
	rec->exit_status = 0;
	rec->text_len = 0;
	rec->lifetime_ns = 0;
	__builtin_memset(rec->comm, 0, sizeof(rec->comm));
	rec->text[0] = '\0';
	return rec;
}

/* Copies a kernel string into rec->text; a string that fills it may be cut. */
static __always_inline void lc_text(struct lifecycle_event *rec, const char *s)
{
	long n = bpf_probe_read_kernel_str(rec->text, sizeof(rec->text), s);

	if (n <= 0) {
		rec->text[0] = '\0';
		n = 1;
	} else if (n == sizeof(rec->text)) {
		rec->flags |= LC_F_TEXT_TRUNCATED;
	}
	rec->text_len = n - 1;
}

static __always_inline int lc_cgroup_event(struct cgroup *cgrp, const char *path, u32 event)
{
	struct lifecycle_event *rec;
	u64 id;

	/* Hybrid hosts fire these for every v1 hierarchy too; the default (v2) one has id 0. */
	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != 0)
		return 0;
	id = BPF_CORE_READ(cgrp, kn, id);
	if (event == LC_CGROUP_CREATED) {
		struct lifecycle_watch w = { .state = LC_WATCH_FROM_MKDIR };

		/* -E2BIG (7) when full; -EEXIST cannot happen for a new directory's id. */
		if (bpf_map_update_elem(&watched, &id, &w, BPF_NOEXIST) == -7)
			count_slot(LC_CNT_WATCH_FULL);
	} else {
		/* Only cgroups user space kept (or had not decided on yet). */
		if (!bpf_map_lookup_elem(&watched, &id))
			return 0;
		bpf_map_delete_elem(&watched, &id);
		bpf_map_delete_elem(&main_claims, &id);
	}
	rec = lc_reserve(event, id);
	if (!rec)
		return 0;
	lc_text(rec, path);
	submit_record(rec);
	return 0;
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(lc_mkdir, struct cgroup *cgrp, const char *path)
{
	return lc_cgroup_event(cgrp, path, LC_CGROUP_CREATED);
}

SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(lc_rmdir, struct cgroup *cgrp, const char *path)
{
	return lc_cgroup_event(cgrp, path, LC_CGROUP_REMOVED);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(lc_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	u64 id = bpf_get_current_cgroup_id();
	struct lifecycle_watch *w = bpf_map_lookup_elem(&watched, &id);
	struct lifecycle_event *rec;
	u32 tgid = BPF_CORE_READ(task, tgid);

	/* Only the first exec makes a main process; its later execs (sh -c "exec x") do not.
	 * Two first execs racing on two CPUs make one: only one can claim the cgroup. */
	if (!w || w->main_pid || !claim_once(&main_claims, id, tgid))
		return 0;
	w->main_pid = tgid;
	w->flags = 0;
	rec = lc_reserve(LC_EXEC, id);
	if (!rec)
		return 0;
	rec->flags = LC_F_MAIN;
	rec->pid = tgid;
	rec->ppid = BPF_CORE_READ(task, real_parent, tgid);
	bpf_get_current_comm(rec->comm, sizeof(rec->comm));
	lc_text(rec, BPF_CORE_READ(bprm, filename));
	submit_record(rec);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(lc_exit, struct task_struct *task)
{
	u64 id = bpf_get_current_cgroup_id();
	struct lifecycle_watch *w = bpf_map_lookup_elem(&watched, &id);
	struct lifecycle_event *rec;
	struct task_struct *leader;
	u32 flags, tgid = BPF_CORE_READ(task, tgid);

	/* The last thread of the main process only (signal->live is zero for it). */
	if (!w || !w->main_pid || w->main_pid != tgid ||
	    BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	flags = w->flags;
	/* The next exec in the cgroup is a new main process (a restart in place). */
	w->main_pid = 0;
	w->flags = 0;
	bpf_map_delete_elem(&main_claims, &id);
	rec = lc_reserve(LC_EXIT, id);
	if (!rec)
		return 0;
	leader = BPF_CORE_READ(task, group_leader);
	rec->flags = LC_F_MAIN | (flags & LC_W_MAIN_OOM ? LC_F_OOM_KILLED : 0);
	rec->pid = tgid;
	rec->ppid = BPF_CORE_READ(task, real_parent, tgid);
	rec->exit_status = BPF_CORE_READ(task, exit_code);
	rec->lifetime_ns = rec->hdr.ktime_ns - task_start_boottime(leader);
	BPF_CORE_READ_STR_INTO(&rec->comm, leader, comm);
	submit_record(rec);
	return 0;
}

static __always_inline int lc_oom_victim(struct task_struct *victim)
{
	u64 id = task_cgroup_v2_id(victim);
	struct lifecycle_watch *w = bpf_map_lookup_elem(&watched, &id);
	struct lifecycle_event *rec;
	u32 tgid = BPF_CORE_READ(victim, tgid);
	bool main;

	if (!w)
		return 0;
	main = w->main_pid && w->main_pid == tgid;
	if (main)
		w->flags |= LC_W_MAIN_OOM;
	rec = lc_reserve(LC_OOM, id);
	if (!rec)
		return 0;
	rec->flags = main ? LC_F_MAIN : 0;
	rec->pid = tgid;
	rec->ppid = BPF_CORE_READ(victim, real_parent, tgid);
	BPF_CORE_READ_STR_INTO(&rec->comm, victim, group_leader, comm);
	submit_record(rec);
	return 0;
}

SEC("tp_btf/mark_victim")
int BPF_PROG(lc_oom, struct task_struct *victim, uid_t uid)
{
	return lc_oom_victim(victim);
}

/* Where oom/mark_victim passes only a pid (see oom_victim_uid() in compat.bpf.h), user space
 * loads this instead of lc_oom. */
SEC("?kprobe/mark_oom_victim")
int BPF_KPROBE(lc_oom_kprobe, struct task_struct *victim)
{
	return lc_oom_victim(victim);
}

#endif /* TAPIO_LIFECYCLE_BPF_H */
