// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Collector `systemd`: service units as the kernel sees them, without D-Bus. User space keeps
 * only system.slice/.../<unit>.service cgroups in `watched`. */
#include "vmlinux.h"

#define LC_REC_TYPE TAPIO_REC_SYSTEMD_EVENT
#include "lifecycle.bpf.h"
