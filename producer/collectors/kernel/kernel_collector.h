/* Collector `kernel` (kernel.c): its record check and encoder, exposed for the unit tests and the
 * benchmark, and what the configuration reaches beyond its ops row. */
#ifndef TAPIO_KERNEL_COLLECTOR_H
#define TAPIO_KERNEL_COLLECTOR_H

#include <stddef.h>

#include "avro_writer.h"
#include "collector.h"

/* The `Kind` enum of schemas/kernel.avsc. TCP kinds follow enum kernel_tcp_event's order. */
enum kernel_kind {
	KIND_UNKNOWN = 0,
	KIND_EXEC = 1,
	KIND_EXIT = 2,
	KIND_OOM_KILL = 3,
	KIND_TCP_CONNECT = 4,
	KIND_TCP_CONNECT_FAILED = 5,
	KIND_TCP_ACCEPT = 6,
	KIND_TCP_CLOSE = 7,
	KIND_TCP_LISTEN = 8,
	KIND_TCP_LISTEN_CLOSE = 9,
};

extern const struct collector_ops kernel_collector;

/* Checks one ring-buffer record of `size` bytes (reads nothing beyond it); on DECODE_OK, *kind
 * is its `Kind`. */
enum decode_result kernel_check(const void *data, size_t size, int *kind);

/* Writes the topic's own fields of a record kernel_check() accepted as `kind`. */
void kernel_encode(const void *record, int kind, struct avro_buf *out);

/* Replaces the argument redaction rules (redact.h; NULL or "" = none). kernel_open() sets them
 * from kernel_redact_args; tests set them directly. 0, or -EINVAL with why set, or -ENOMEM. */
int kernel_set_redaction(const char *spec, char *why, size_t why_size);

#endif /* TAPIO_KERNEL_COLLECTOR_H */
