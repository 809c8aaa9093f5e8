/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* CO-RE shims for kernel changes, gathered in one place. Each cites the change it works around. */
#ifndef TAPIO_COMPAT_BPF_H
#define TAPIO_COMPAT_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

/* v5.11 (commit 3ca1032ab7ab "bpf: Introduce bpf_get_current_task_btf()") added the typed
 * current task; 5.10 refuses the call ("invalid func unknown#158"). Every read of the task here
 * goes through BPF_CORE_READ, so the untyped helper (v4.8) serves every kernel alike. */
static __always_inline struct task_struct *current_task(void)
{
	return (struct task_struct *)bpf_get_current_task();
}

/* v5.5 (commit cf25e24db61c "time: Rename tsk->real_start_time to ->start_boottime") renamed the
 * boot-based start time. Older kernels only have real_start_time. */
struct task_struct___pre_5_5 {
	u64 real_start_time;
} __attribute__((preserve_access_index));

static __always_inline u64 task_start_boottime(const struct task_struct *task)
{
	if (bpf_core_field_exists(task->start_boottime))
		return BPF_CORE_READ(task, start_boottime);
	return BPF_CORE_READ((struct task_struct___pre_5_5 *)task, real_start_time);
}

/* cgroup v2 id of a task: the inode of its directory in the default hierarchy, what
 * bpf_get_current_cgroup_id() returns for current. kernfs_node->id is a u64 since v5.5; the
 * collector needs v5.8 anyway (ring buffers). */
static __always_inline u64 task_cgroup_v2_id(struct task_struct *task)
{
	return BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
}

/* v5.15 (commit 8520e224f547 "bpf, cgroups: Fix cgroup v2 fallback on v1/v2 mixed mode") made
 * sock_cgroup_data a plain struct with a `cgroup` pointer. Before, it was a union whose u64 `val`
 * held the cgroup pointer, or, with its lowest bit set, net_prio/net_cls data and no cgroup. */
struct sock_cgroup_data___pre_5_15 {
	u64 val;
} __attribute__((preserve_access_index));

struct sock___pre_5_15 {
	struct sock_cgroup_data___pre_5_15 sk_cgrp_data;
} __attribute__((preserve_access_index));

/* The socket's cgroup v2 id (its creator's cgroup; a listener's for accepted sockets), 0 when
 * the kernel does not know it. */
static __always_inline u64 sock_cgroup_v2_id(const struct sock *sk)
{
	struct cgroup *cgrp;
	u64 val;

	if (bpf_core_field_exists(sk->sk_cgrp_data.cgroup)) {
		cgrp = BPF_CORE_READ(sk, sk_cgrp_data.cgroup);
	} else {
		val = BPF_CORE_READ((struct sock___pre_5_15 *)sk, sk_cgrp_data.val);
		if (val & 1)
			return 0;
		cgrp = (struct cgroup *)val;
	}
	if (!cgrp)
		return 0;
	return BPF_CORE_READ(cgrp, kn, id);
}

/* Indices of mm's rss counters, unchanged since v4.5 (anonymous enum, so no CO-RE lookup). */
#define TAPIO_MM_FILEPAGES 0
#define TAPIO_MM_ANONPAGES 1
#define TAPIO_MM_SHMEMPAGES 3

/* v6.2 (commit f1a7941243c1 "mm: convert mm's rss stats into percpu_counter") turned
 * mm->rss_stat from struct mm_rss_stat { atomic_long_t count[]; } into percpu_counter[].
 * The percpu_counter's `count` is the kernel's own fast read (get_mm_counter()). */
struct mm_rss_stat___pre_6_2 {
	atomic_long_t count[4];
} __attribute__((preserve_access_index));

struct mm_struct___pre_6_2 {
	struct mm_rss_stat___pre_6_2 rss_stat;
} __attribute__((preserve_access_index));

static __always_inline long mm_counter_pages(struct mm_struct *mm, int member)
{
	long v;

	/* Asked of the old layout: a field whose type changed kind (struct to array) does not
	 * match across the change, and a size relocation that matches nothing fails the load
	 * (found on 6.1), while an existence relocation just says 0. */
	if (bpf_core_field_exists(((struct mm_struct___pre_6_2 *)mm)->rss_stat)) {
		struct mm_struct___pre_6_2 *old = (void *)mm;

		switch (member) {
		case TAPIO_MM_FILEPAGES:
			v = BPF_CORE_READ(old, rss_stat.count[TAPIO_MM_FILEPAGES].counter);
			break;
		case TAPIO_MM_ANONPAGES:
			v = BPF_CORE_READ(old, rss_stat.count[TAPIO_MM_ANONPAGES].counter);
			break;
		default:
			v = BPF_CORE_READ(old, rss_stat.count[TAPIO_MM_SHMEMPAGES].counter);
			break;
		}
	} else {
		switch (member) {
		case TAPIO_MM_FILEPAGES:
			v = BPF_CORE_READ(mm, rss_stat[TAPIO_MM_FILEPAGES].count);
			break;
		case TAPIO_MM_ANONPAGES:
			v = BPF_CORE_READ(mm, rss_stat[TAPIO_MM_ANONPAGES].count);
			break;
		default:
			v = BPF_CORE_READ(mm, rss_stat[TAPIO_MM_SHMEMPAGES].count);
			break;
		}
	}
	/* Per-CPU deltas not yet folded in can make the fast read negative, as in the kernel. */
	return v > 0 ? v : 0;
}

/* v6.18 ("ns: add active reference count", the ns_tree work) renamed ns_common.count to
 * __ns_ref. */
struct ns_common___v618 {
	refcount_t __ns_ref;
} __attribute__((preserve_access_index));

struct ns_common___old {
	refcount_t count;
} __attribute__((preserve_access_index));

static __always_inline int netns_refs(struct net *net)
{
	struct ns_common *ns = &net->ns;

	if (bpf_core_field_exists(((struct ns_common___v618 *)ns)->__ns_ref))
		return BPF_CORE_READ((struct ns_common___v618 *)ns, __ns_ref.refs.counter);
	return BPF_CORE_READ((struct ns_common___old *)ns, count.refs.counter);
}

/*
 * A size argument (ARG_CONST_SIZE: not zero, bounded) from a length known to be in [1, max],
 * `max` a power of two. Before v6.8 (commit d028f87517d6 "bpf: make the verifier tracks the
 * "not equal" for regs") a "len != 0" test left the verifier's lower bound at 0, and clang turns
 * "len < 1" into exactly that test, so the 6.1 verifier refused the call ("invalid access to
 * memory ... size=0"). A mask, which every verifier tracks, bounds it instead; for a length in
 * [1, max] the result is the length itself.
 */
static __always_inline u32 helper_size(u64 len, u32 max)
{
	/* Opaque to clang, so it computes the bound on this value rather than reuse a copy. */
	asm volatile("" : "+r"(len));
	return ((len - 1) & (max - 1)) + 1;
}

/*
 * "mm: update mark_victim tracepoints fields" (v6.9, and backported to some stable series:
 * Debian's 5.10.262 and 6.1.192 have it, 5.10.223 does not) made oom/mark_victim pass the victim
 * task and its uid; before, it passed only the pid, and a tp_btf program taking the task does
 * not load. There, OOM kills come from a kprobe on mark_oom_victim(struct task_struct *tsk),
 * the function that fires the tracepoint (a SEC("?kprobe/mark_oom_victim") program, loaded by
 * user space instead of the tp_btf one), and the uid is read as the tracepoint reads it:
 * get_task_cred(tsk)->uid, the real credentials.
 */
static __always_inline u32 oom_victim_uid(struct task_struct *victim)
{
	return BPF_CORE_READ(victim, real_cred, uid.val);
}

/*
 * Inserts key -> value into a hash map unless the key is there: true for the one caller that
 * inserted it, however many race on other CPUs (the insert and the check are one step under the
 * map's bucket lock). This replaces a compare-and-swap on a map value: v5.12 (commit
 * 5ffa25502b5a "bpf: Add instructions for atomic_[cmp]xchg") added that instruction, and 5.10
 * refuses any program holding one, reachable or not ("BPF_STX uses reserved fields": its check
 * of every instruction runs before the verifier walks the program), so no version test can keep
 * it out of the way.
 */
static __always_inline bool claim_once(void *map, u64 key, u32 value)
{
	return bpf_map_update_elem(map, &key, &value, BPF_NOEXIST) == 0;
}

#endif /* TAPIO_COMPAT_BPF_H */
