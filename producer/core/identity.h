/*
 * cgroup id → who: the identity cache. Filled by one walk of the cgroup v2 tree at start and
 * kept current by cgroup mkdir/rmdir events (producer/collectors/metadata/metadata.c); a miss on the hot path is
 * resolved once through the kernel's cgroup file handles (open_by_handle_at on the cgroup id: no
 * tree walk) and counted. Lookups never fail: an id that cannot be resolved (the cgroup is already
 * gone) gets an entry with no owner, keyed <node>/<cgroup id>.
 *
 * A removed cgroup stays resolvable for a grace period, so late events still find it, then is
 * evicted. At most IDENTITY_MAX_ENTRIES entries are kept; past that, new cgroups get a per-call
 * answer (counted as refused) instead of an entry.
 *
 * Pod names, namespaces and labels (kubelet collector, later) belong to pods, not cgroups: they
 * will live in a table keyed by pod UID that an entry points to, set when the entry is made, so
 * the hot path stays one hash lookup.
 *
 * Ownership: the cache owns its entries. A pointer returned here stays valid until the entry is
 * evicted by identity_expire() or the cache is closed; use it within one event.
 */
#ifndef TAPIO_IDENTITY_H
#define TAPIO_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "cgroup_path.h"

#define IDENTITY_KEY_MAX 280 /* node (≤ 253) + '/' + 20 digits */
#define IDENTITY_MAX_ENTRIES 65536

struct identity {
	uint64_t cgroup_id;
	char *path;               /* relative to the cgroup v2 root, "/..."; "" when unresolved */
	struct cgroup_owner owner;
	uint64_t removed_ns;      /* boot-relative time of its rmdir; 0 while it exists */
	char node_key[IDENTITY_KEY_MAX]; /* <node>/<cgroup id> */
	size_t node_key_len;
	const char *key;          /* Kafka key of events: owner.pod_uid if any, else node_key */
	size_t key_len;
	/* node, cgroup_id, pod_uid, container_id as avro_put_envelope() writes them, made once
	 * here so a record copies them (pipeline_begin); 0 = not made, write them field by field */
	uint8_t *envelope_tail;   /* malloc'd; NULL when not made */
	size_t envelope_tail_len;
};

struct identity_stats {
	uint64_t entries;
	uint64_t walked;     /* cgroups found by walks of the tree */
	uint64_t misses;     /* lookups that had to resolve an id */
	uint64_t unresolved; /* misses whose cgroup no longer existed */
	uint64_t evicted;    /* removed cgroups dropped after their grace period */
	uint64_t refused;    /* cgroups not cached because the cache was full */
};

struct identity_cache;

/* The cgroup v2 mount point (unified or hybrid), from /proc/self/mountinfo: 0, or -ENOENT when
 * there is none (or -errno when mountinfo cannot be read). */
int cgroup2_root_find(char *out, size_t size);

/*
 * Finds the cgroup v2 mount (from /proc/self/mountinfo; unified or hybrid) unless `root` names
 * it. `node` and `run` go into every entry's envelope_tail. The cache starts empty:
 * identity_walk() fills it. 0 or -errno with errstr set.
 */
int identity_open(struct identity_cache **out, const char *root, const char *node, int64_t run,
		  char *errstr, size_t errstr_size);

/* Adds every cgroup under the root. 0 or -errno. */
int identity_walk(struct identity_cache *ic);

const struct identity *identity_lookup(struct identity_cache *ic, uint64_t cgroup_id);

/* Adds or replaces the entry for a cgroup whose path (relative to the root) is known; a NULL path
 * is resolved from the id. Returns the entry, or a per-call answer when the cache is full. */
const struct identity *identity_put(struct identity_cache *ic, uint64_t cgroup_id, const char *path);

/* Marks a cgroup removed at boot-relative removed_ns; it stays resolvable until it expires. */
const struct identity *identity_remove(struct identity_cache *ic, uint64_t cgroup_id,
				       uint64_t removed_ns);

/* Evicts up to `max` cgroups removed before `cutoff_ns`, writing their ids to `ids`. Returns how
 * many it evicted. */
size_t identity_expire(struct identity_cache *ic, uint64_t cutoff_ns, uint64_t *ids, size_t max);

/* Iterates over the cached cgroups that still exist, in no particular order: start with
 * *cursor = 0; returns NULL at the end. The cache must not change during the iteration. */
const struct identity *identity_next(const struct identity_cache *ic, size_t *cursor);

void identity_get_stats(const struct identity_cache *ic, struct identity_stats *out);
const char *identity_root(const struct identity_cache *ic);

void identity_close(struct identity_cache *ic);

#endif /* TAPIO_IDENTITY_H */
