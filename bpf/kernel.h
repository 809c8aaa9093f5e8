/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Records of the `kernel` collector, shared by kernel.bpf.c and
 * producer/collectors/kernel/kernel.c. */
#ifndef TAPIO_KERNEL_H
#define TAPIO_KERNEL_H

#include "common.h"

#define KERNEL_EXEC_VERSION 1
#define KERNEL_EXIT_VERSION 1
#define KERNEL_OOM_VERSION 1
#define KERNEL_TCP_VERSION 1

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

/* An exec record ends after its argv: hdr.size is KERNEL_EXEC_FIXED_SIZE + args_len (at most
 * sizeof(struct kernel_exec)), so a short command line takes about 350 bytes of the ring, not
 * 1 376. Decoders accept any size in that range that holds args_len bytes of argv. */
#define KERNEL_EXEC_FIXED_SIZE __builtin_offsetof(struct kernel_exec, args)
_Static_assert(KERNEL_EXEC_FIXED_SIZE == 320, "kernel_exec: args last");

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

enum kernel_oom_flags {
	KERNEL_OOM_CGROUP = 1u << 0,      /* a memory cgroup hit its limit, not the whole machine */
	KERNEL_OOM_USAGE_KNOWN = 1u << 1, /* memcg_usage_bytes is valid (not the root memcg) */
	KERNEL_OOM_LIMIT_KNOWN = 1u << 2, /* memcg_limit_bytes is valid (some limit is set) */
};

/* One per task the OOM killer marks as its victim (oom/mark_victim). hdr.cgroup_id is the
 * victim's cgroup v2 id, not the allocating task's. */
struct kernel_oom {
	struct tapio_hdr hdr;
	__u32 pid;           /* victim's thread-group id */
	__u32 ppid;
	__u32 trigger_pid;   /* thread group that ran the OOM killer (the allocating task) */
	__u32 uid;           /* victim's uid */
	__u32 flags;         /* enum kernel_oom_flags */
	__s32 oom_score_adj;
	__u64 memcg_usage_bytes; /* page counter of the victim's memory cgroup */
	__u64 memcg_limit_bytes; /* smallest limit on the victim's memcg and its ancestors */
	__u64 total_vm_bytes;
	__u64 rss_anon_bytes;
	__u64 rss_file_bytes;
	__u64 rss_shmem_bytes;
	char comm[TAPIO_COMM_LEN];         /* victim's process name */
	char trigger_comm[TAPIO_COMM_LEN];
};

_Static_assert(sizeof(struct kernel_oom) == 24 + 24 + 48 + 32, "kernel_oom layout");

/* What a TCP state change meant; the BPF side decides, see kernel.bpf.c. */
enum kernel_tcp_event {
	KERNEL_TCP_CONNECT = 1,        /* SYN_SENT (or simultaneous open) -> ESTABLISHED */
	KERNEL_TCP_CONNECT_FAILED = 2, /* SYN_SENT -> CLOSE; error says why */
	KERNEL_TCP_ACCEPT = 3,         /* SYN_RECV -> ESTABLISHED on a listener's child */
	KERNEL_TCP_CLOSE = 4,          /* an established connection -> CLOSE */
	KERNEL_TCP_LISTEN = 5,         /* CLOSE -> LISTEN */
	KERNEL_TCP_LISTEN_CLOSE = 6,   /* LISTEN -> CLOSE */
	KERNEL_TCP_EVENT_MAX,
};

enum kernel_tcp_direction {
	KERNEL_TCP_DIR_UNKNOWN = 0,  /* listeners, or opened before the collector started */
	KERNEL_TCP_DIR_OUTBOUND = 1, /* this end called connect() */
	KERNEL_TCP_DIR_INBOUND = 2,  /* this end was accepted by a listener */
	KERNEL_TCP_DIR_MAX,
};

enum kernel_tcp_flags {
	KERNEL_TCP_DURATION_KNOWN = 1u << 0, /* the phase's start was seen */
};

/* One per meaningful TCP state change (sock/inet_sock_set_state). hdr.cgroup_id is the socket's
 * cgroup v2 id (the creating task's; a listener's for accepted sockets). */
struct kernel_tcp {
	struct tapio_hdr hdr;
	__u32 pid;           /* process that called connect()/listen(), 0 when not seen */
	__u32 ppid;
	__u16 family;        /* AF_INET (2) or AF_INET6 (10) */
	__u16 local_port;    /* host byte order */
	__u16 remote_port;
	__u8 event;          /* enum kernel_tcp_event */
	__u8 direction;      /* enum kernel_tcp_direction */
	__u8 old_state;      /* kernel TCP state before the change (TCP_ESTABLISHED = 1, ...) */
	__u8 flags;          /* enum kernel_tcp_flags */
	__u16 pad;           /* zero */
	__s32 error;         /* sk_err: positive errno, 0 when none */
	__u8 local_addr[16]; /* network byte order; IPv4 in the first 4 bytes */
	__u8 remote_addr[16];
	__u64 duration_ns;   /* handshake time, or time established/listening; see the schema */
	__u64 bytes_sent;    /* tcp_sock counters at the event (RFC 4898 names) */
	__u64 bytes_acked;
	__u64 bytes_received;
	__u64 bytes_retrans;
	char comm[TAPIO_COMM_LEN];
};

_Static_assert(sizeof(struct kernel_tcp) == 24 + 24 + 32 + 40 + 16, "kernel_tcp layout");

/* Slots of the per-CPU `reserve_failures` array. */
enum kernel_counter {
	KERNEL_CNT_RESERVE = 0,   /* ring buffer full: a record lost */
	KERNEL_CNT_TCP_FULL = 1,  /* tcp_conns full: a record sent without duration/pid */
	KERNEL_CNT_MAX,
};

#endif /* TAPIO_KERNEL_H */
