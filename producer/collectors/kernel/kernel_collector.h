/* Collector `kernel` (kernel.c): what tests and the configuration reach beyond its ops row. */
#ifndef TAPIO_KERNEL_COLLECTOR_H
#define TAPIO_KERNEL_COLLECTOR_H

#include <stddef.h>

#include "collector.h"

extern const struct collector_ops kernel_collector;

/* Replaces the argument redaction rules (redact.h; NULL or "" = none). kernel_open() sets them
 * from kernel_redact_args; tests set them directly. 0, or -EINVAL with why set, or -ENOMEM. */
int kernel_set_redaction(const char *spec, char *why, size_t why_size);

#endif /* TAPIO_KERNEL_COLLECTOR_H */
