/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* cgroup v2 lifecycle records: what keeps the identity cache current (bpf/metadata.bpf.c →
 * producer/collectors/metadata/). */
#ifndef TAPIO_METADATA_H
#define TAPIO_METADATA_H

#include "common.h"

#define CGROUP_EVENT_VERSION 1
/* Enough for any kubelet or systemd path seen in practice (~250 bytes); a longer one is flagged
 * and resolved from the cgroup id instead. */
#define CGROUP_PATH_LEN 1024

enum cgroup_event_flags {
	CGROUP_PATH_TRUNCATED = 1u << 0,
};

/* hdr.type is TAPIO_REC_CGROUP_MKDIR or TAPIO_REC_CGROUP_RMDIR; hdr.cgroup_id is the id of the
 * cgroup created or removed (not the id of the task that did it). */
struct cgroup_event {
	struct tapio_hdr hdr;
	__u32 level;    /* depth below the root, root = 0 */
	__u32 path_len; /* bytes in path before its NUL, < CGROUP_PATH_LEN */
	__u32 flags;    /* enum cgroup_event_flags */
	__u32 pad;      /* zero */
	char path[CGROUP_PATH_LEN]; /* relative to the cgroup v2 root, "/a/b", NUL-terminated */
};

_Static_assert(sizeof(struct cgroup_event) == 24 + 16 + CGROUP_PATH_LEN, "cgroup_event layout");

#endif /* TAPIO_METADATA_H */
