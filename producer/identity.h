/*
 * cgroup id → who: the identity cache. Filled by one walk of the cgroup v2 tree at start; a miss
 * on the hot path is resolved once through the kernel's cgroup file handles (open_by_handle_at on
 * the cgroup id: no tree walk) and counted. Lookups never fail: an id that cannot be resolved
 * (the cgroup is already gone) gets an entry with no owner, keyed <node>/<cgroup id>.
 *
 * Ownership: the cache owns its entries; a pointer returned by identity_lookup() stays valid
 * until identity_close().
 */
#ifndef TAPIO_IDENTITY_H
#define TAPIO_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "cgroup_path.h"

#define IDENTITY_KEY_MAX 320 /* node (≤ 253) + '/' + 20 digits, or a pod UID */

struct identity {
	uint64_t cgroup_id;
	char *path;               /* relative to the cgroup v2 root, "/..."; "" when unresolved */
	struct cgroup_owner owner;
	char key[IDENTITY_KEY_MAX]; /* Kafka key: the pod UID, else <node>/<cgroup id> */
	size_t key_len;
};

struct identity_stats {
	uint64_t entries;
	uint64_t walked;     /* cgroups found by the start-up walk */
	uint64_t misses;     /* lookups that had to resolve an id */
	uint64_t unresolved; /* misses whose cgroup no longer existed */
};

struct identity_cache;

/*
 * Finds the cgroup v2 mount (from /proc/self/mountinfo; unified or hybrid) unless `root` names
 * it, and walks it. 0 or -errno with errstr set.
 */
int identity_open(struct identity_cache **out, const char *root, const char *node,
		  char *errstr, size_t errstr_size);

const struct identity *identity_lookup(struct identity_cache *ic, uint64_t cgroup_id);

/* Adds or replaces the entry for a cgroup whose path (relative to the root) is known. */
const struct identity *identity_put(struct identity_cache *ic, uint64_t cgroup_id, const char *path);

void identity_get_stats(const struct identity_cache *ic, struct identity_stats *out);
const char *identity_root(const struct identity_cache *ic);

void identity_close(struct identity_cache *ic);

#endif /* TAPIO_IDENTITY_H */
