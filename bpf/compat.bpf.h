/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* CO-RE shims for kernel changes, gathered in one place. Each cites the change it works around. */
#ifndef TAPIO_COMPAT_BPF_H
#define TAPIO_COMPAT_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>

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

#endif /* TAPIO_COMPAT_BPF_H */
