/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The header every ring-buffer record starts with. Shared by BPF (clang) and user space (gcc):
 * it includes nothing, uses fixed-width kernel types only (user space includes <linux/types.h>
 * first; BPF gets them from vmlinux.h), has no implicit padding, and pins its layout with
 * _Static_assert so both compilers agree.
 */
#ifndef TAPIO_COMMON_H
#define TAPIO_COMMON_H

/* Record types, unique across collectors so a record is self-describing. Each collector owns a
 * block of 16 values. */
enum tapio_record_type {
	TAPIO_REC_KERNEL_EXEC = 1,
	TAPIO_REC_KERNEL_EXIT = 2,
	TAPIO_REC_KERNEL_OOM = 3,
	TAPIO_REC_KERNEL_TCP = 4,
	TAPIO_REC_DNS_PACKET = 16,
	TAPIO_REC_CGROUP_MKDIR = 32,
	TAPIO_REC_CGROUP_RMDIR = 33,
	TAPIO_REC_CNI_NETNS_CREATE = 48,
	TAPIO_REC_CNI_NETNS_ENTER = 49,
	TAPIO_REC_CNI_NETNS_DESTROY = 50,
	TAPIO_REC_CNI_LINK_NOTIFY = 51,
	TAPIO_REC_CRI_EVENT = 64,
	TAPIO_REC_SYSTEMD_EVENT = 80,
	TAPIO_REC_TYPE_MAX = 256, /* decoders reject anything at or above this */
};

struct tapio_hdr {
	__u16 type;      /* enum tapio_record_type */
	__u16 version;   /* layout version of this type; bumped when the struct changes */
	__u32 size;      /* bytes of the whole record, this header included */
	__u64 ktime_ns;  /* bpf_ktime_get_boot_ns(): CLOCK_BOOTTIME, not epoch time */
	__u64 cgroup_id; /* cgroup v2 id (inode of the cgroup directory) of the task */
};

_Static_assert(sizeof(struct tapio_hdr) == 24, "tapio_hdr layout");

#define TAPIO_COMM_LEN 16

#endif /* TAPIO_COMMON_H */
