/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Records of the `kernel` collector, shared by kernel.bpf.c and producer/kernel.c. */
#ifndef TAPIO_KERNEL_H
#define TAPIO_KERNEL_H

#include "common.h"

#define KERNEL_EXEC_VERSION 1
#define KERNEL_EXIT_VERSION 1

#define KERNEL_FILENAME_LEN 256
/* argv bytes kept per exec (NUL-separated, as in the process's memory). Longer argument
 * lists are cut at this many bytes and flagged KERNEL_EXEC_ARGS_TRUNCATED. */
#define KERNEL_ARGS_LEN 1024

enum kernel_exec_flags {
	KERNEL_EXEC_ARGS_TRUNCATED = 1u << 0,
	KERNEL_EXEC_FILENAME_TRUNCATED = 1u << 1,
};

struct kernel_exec {
	struct tapio_hdr hdr;
	__u32 pid;      /* thread-group id of the new image */
	__u32 ppid;     /* thread-group id of the real parent */
	__u32 uid;
	__u32 gid;
	__u32 args_len; /* valid bytes in args, <= KERNEL_ARGS_LEN */
	__u32 flags;    /* enum kernel_exec_flags */
	char comm[TAPIO_COMM_LEN];
	char filename[KERNEL_FILENAME_LEN];
	char args[KERNEL_ARGS_LEN];
};

_Static_assert(sizeof(struct kernel_exec) == 24 + 24 + 16 + 256 + 1024, "kernel_exec layout");

/* Emitted once per process, when its last thread exits. */
struct kernel_exit {
	struct tapio_hdr hdr;
	__u32 pid;
	__u32 ppid;
	__u32 exit_status; /* the kernel's wait status: (code << 8) | core-dump bit | signal */
	__u32 pad;         /* zero */
	__u64 lifetime_ns; /* exit time minus the thread-group leader's start time */
	char comm[TAPIO_COMM_LEN];
};

_Static_assert(sizeof(struct kernel_exit) == 24 + 16 + 8 + 16, "kernel_exit layout");

#endif /* TAPIO_KERNEL_H */
