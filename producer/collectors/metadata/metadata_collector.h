/* The metadata topic: cgroup identities as they appear and disappear (producer/collectors/metadata/metadata.c). */
#ifndef TAPIO_METADATA_H
#define TAPIO_METADATA_H

#include <stdint.h>

#include "collector.h"

extern const struct collector_ops metadata_collector;

/* Walks the cgroup tree into the identity cache and publishes a SNAPSHOT record for every cgroup,
 * so a consumer that joins late can rebuild the table. Call after the cgroup programs are
 * attached, so no cgroup falls between the walk and the events. 0 or -errno of the walk. */
int metadata_snapshot(struct collector_runtime *c, uint64_t now_ns);

#endif /* TAPIO_METADATA_H */
