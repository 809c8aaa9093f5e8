/* Kernel symbols from /proc/kallsyms (addresses read as 0 without CAP_SYSLOG under
 * kptr_restrict, and then count as absent). */
#ifndef TAPIO_KALLSYMS_H
#define TAPIO_KALLSYMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The address of `symbol`, or 0 when it is not there (or hidden). */
uint64_t kallsyms_address(const char *symbol);

/* Whether a kprobe on `symbol` can attach: the function is in kallsyms and the kernel has kprobes
 * (the perf "kprobe" event source, v4.17, or tracefs's kprobe_events). Some kernels are built
 * without CONFIG_KPROBES. On false, `why` (may be NULL) says which is missing. */
bool kprobe_usable(const char *symbol, char *why, size_t why_size);

#endif /* TAPIO_KALLSYMS_H */
