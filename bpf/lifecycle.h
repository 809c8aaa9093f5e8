/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Records of the cgroup-lifecycle collectors `cri` (containers) and `systemd` (units), shared by
 * lifecycle.bpf.h (compiled into cri.bpf.c and systemd.bpf.c) and producer/collectors/lifecycle/.
 * Both collectors watch a set of cgroups that user space chooses; the kernel reports only for those.
 */
#ifndef TAPIO_LIFECYCLE_H
#define TAPIO_LIFECYCLE_H

#include "common.h"

#define LIFECYCLE_VERSION 1
/* Enough for kubelet and systemd cgroup paths (~250 bytes) and execve paths; longer is flagged. */
#define LIFECYCLE_TEXT_LEN 512
/* Cgroups watched at once; beyond it new cgroups are not watched (counted, LC_CNT_WATCH_FULL). */
#define LIFECYCLE_WATCH_MAX 16384

enum lifecycle_event_kind {
	LC_CGROUP_CREATED = 1, /* text: the cgroup's path */
	LC_EXEC = 2,           /* the cgroup's first exec: its main process; text: filename */
	LC_EXIT = 3,           /* the main process exited */
	LC_OOM = 4,            /* the OOM killer chose a process of the cgroup */
	LC_CGROUP_REMOVED = 5, /* text: the cgroup's path */
	LC_EVENT_MAX,
};

enum lifecycle_flags {
	LC_F_MAIN = 1u << 0,           /* the process is the cgroup's main process */
	LC_F_OOM_KILLED = 1u << 1,     /* LC_EXIT: the main process was chosen by the OOM killer */
	LC_F_TEXT_TRUNCATED = 1u << 2, /* text filled its buffer and may be cut */
};

/* hdr.type: TAPIO_REC_CRI_EVENT or TAPIO_REC_SYSTEMD_EVENT. hdr.cgroup_id: the watched cgroup
 * the event is about (for LC_OOM the victim's, not the allocating task's). */
struct lifecycle_event {
	struct tapio_hdr hdr;
	__u32 event;       /* enum lifecycle_event_kind */
	__u32 flags;       /* enum lifecycle_flags */
	__u32 pid;         /* thread-group id; 0 for cgroup events */
	__u32 ppid;
	__u32 exit_status; /* LC_EXIT: the kernel's wait status (code << 8 | core bit | signal) */
	__u32 text_len;    /* bytes in text before its NUL, < LIFECYCLE_TEXT_LEN */
	__u64 lifetime_ns; /* LC_EXIT: from the main process's start to its exit */
	char comm[TAPIO_COMM_LEN];
	char text[LIFECYCLE_TEXT_LEN];
};

_Static_assert(sizeof(struct lifecycle_event) == 24 + 24 + 8 + 16 + LIFECYCLE_TEXT_LEN,
	       "lifecycle_event layout");

/* Value of the `watched` map, keyed by cgroup v2 id. The kernel adds every new cgroup at its
 * mkdir; user space deletes those that are not its kind, and adds those present at start. */
enum lifecycle_watch_state {
	LC_WATCH_FROM_MKDIR = 0, /* added by the kernel (informational) */
	LC_WATCH_FROM_SEED = 1,  /* added by user space at start (informational) */
};

enum lifecycle_watch_flags {
	LC_W_MAIN_OOM = 1u << 0, /* the current main process was chosen by the OOM killer */
};

struct lifecycle_watch {
	/* Main process's pid, 0 until the first exec (after the previous main exited). 64 bits for
	 * the compare-and-swap that sets it: the default BPF CPU has no 32-bit one. */
	__u64 main_pid;
	__u32 state; /* enum lifecycle_watch_state */
	__u32 flags; /* enum lifecycle_watch_flags */
};

_Static_assert(sizeof(struct lifecycle_watch) == 16, "lifecycle_watch layout");

/* Slots of the per-CPU `reserve_failures` array (ringbuf.bpf.h). */
enum lifecycle_counter {
	LC_CNT_RESERVE = 0,    /* ring buffer full: a record lost */
	LC_CNT_WATCH_FULL = 1, /* state map full: `watched` could not take a new cgroup */
	LC_CNT_MAX,
};

#endif /* TAPIO_LIFECYCLE_H */
