// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Collector `cri`: containers as the kernel sees them, whatever the runtime. User space keeps
 * only the cgroups whose path names a container (not CRI-O's conmon) in `watched`. */
#include "vmlinux.h"

#define LC_REC_TYPE TAPIO_REC_CRI_EVENT
#include "lifecycle.bpf.h"
