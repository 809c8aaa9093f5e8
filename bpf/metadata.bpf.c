// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* cgroup v2 directories appearing and disappearing: the identity cache follows them. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "metadata.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define RINGBUF_BYTES (1 << 20) /* cgroups come and go far less often than processes */
#include "ringbuf.bpf.h"

static __always_inline int emit(struct cgroup *cgrp, const char *path, u16 type)
{
	struct cgroup_event *rec;
	long n;

	/* Hybrid hosts fire these for every v1 hierarchy too; the default (v2) one has id 0. */
	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != 0)
		return 0;
	rec = reserve_record(sizeof(*rec));
	if (!rec)
		return 0;
	rec->hdr.type = type;
	rec->hdr.version = CGROUP_EVENT_VERSION;
	rec->hdr.size = sizeof(*rec);
	rec->hdr.ktime_ns = bpf_ktime_get_boot_ns();
	rec->hdr.cgroup_id = BPF_CORE_READ(cgrp, kn, id);
	rec->level = BPF_CORE_READ(cgrp, level);
	rec->flags = 0;
	rec->pad = 0;
	n = bpf_probe_read_kernel_str(rec->path, sizeof(rec->path), path);
	if (n <= 0) {
		rec->path[0] = '\0';
		n = 1;
	} else if (n == sizeof(rec->path)) {
		rec->flags |= CGROUP_PATH_TRUNCATED;
	}
	rec->path_len = n - 1;
	submit_record(rec);
	return 0;
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(handle_mkdir, struct cgroup *cgrp, const char *path)
{
	return emit(cgrp, path, TAPIO_REC_CGROUP_MKDIR);
}

SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(handle_rmdir, struct cgroup *cgrp, const char *path)
{
	return emit(cgrp, path, TAPIO_REC_CGROUP_RMDIR);
}
