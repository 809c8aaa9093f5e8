#include "identity.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "avro_writer.h"
#include "log.h"

#define FILEID_KERNFS 0xfe /* include/linux/exportfs.h: a kernfs node id, i.e. the cgroup id */
#define INITIAL_SLOTS 1024

struct identity_cache {
	char *root;    /* cgroup v2 mount point, no trailing '/' */
	int root_fd;
	char *node;
	int64_t run; /* the producer run, first of every envelope tail */
	struct identity **slots; /* open addressing, linear probing; power-of-two size */
	size_t nslots;
	struct identity_stats stats;
	struct identity scratch; /* see transient() */
	char scratch_path[PATH_MAX];
};

static size_t slot_of(const struct identity_cache *ic, uint64_t id)
{
	/* Fibonacci hashing: cgroup ids are sequential, so spread them. */
	return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 32) & (ic->nslots - 1);
}

static struct identity **find_slot(struct identity_cache *ic, uint64_t id)
{
	size_t i = slot_of(ic, id);

	while (ic->slots[i] && ic->slots[i]->cgroup_id != id)
		i = (i + 1) & (ic->nslots - 1);
	return &ic->slots[i];
}

static int grow(struct identity_cache *ic)
{
	struct identity **old = ic->slots;
	size_t old_n = ic->nslots;
	struct identity **fresh = calloc(old_n * 2, sizeof(*fresh));

	if (!fresh)
		return -ENOMEM;
	ic->slots = fresh;
	ic->nslots = old_n * 2;
	for (size_t i = 0; i < old_n; i++)
		if (old[i])
			*find_slot(ic, old[i]->cgroup_id) = old[i];
	free(old);
	return 0;
}

/* The per-cgroup part of every record's envelope (pipeline.c, avro_put_envelope), in the same
 * order and with the same limits, made once per entry so that each record copies it. */
static void set_envelope_tail(struct identity *e, int64_t run, const char *node)
{
	/* run ≤ 10, node ≤ 256 + 2, cgroup id ≤ 10, pod UID ≤ 66, container id ≤ 130 */
	uint8_t bytes[512];
	struct avro_buf b;

	avro_buf_init(&b, bytes, sizeof(bytes));
	avro_put_long(&b, run);
	avro_put_string(&b, node, 256);
	avro_put_long(&b, (int64_t)e->cgroup_id);
	avro_put_optional_string(&b, e->owner.pod_uid, 64);
	avro_put_optional_string(&b, e->owner.container_id, 128);
	free(e->envelope_tail);
	e->envelope_tail = b.overflow ? NULL : malloc(b.len);
	e->envelope_tail_len = e->envelope_tail ? b.len : 0;
	if (e->envelope_tail)
		memcpy(e->envelope_tail, bytes, b.len);
}

static void set_keys(struct identity *e, const char *node)
{
	int n = snprintf(e->node_key, sizeof(e->node_key), "%s/%" PRIu64, node, e->cgroup_id);

	e->node_key_len = n < 0 ? 0 : (size_t)n < sizeof(e->node_key) ? (size_t)n : sizeof(e->node_key) - 1;
	if (e->owner.pod_uid[0]) {
		e->key = e->owner.pod_uid;
		e->key_len = strlen(e->owner.pod_uid);
	} else {
		e->key = e->node_key;
		e->key_len = e->node_key_len;
	}
}

/* The answer for a cgroup that gets no entry (cache full, or out of memory): correct, but only
 * valid until the next call. */
static const struct identity *transient(struct identity_cache *ic, uint64_t cgroup_id, const char *path)
{
	struct identity *e = &ic->scratch;

	memset(e, 0, sizeof(*e));
	e->cgroup_id = cgroup_id;
	snprintf(ic->scratch_path, sizeof(ic->scratch_path), "%s", path);
	e->path = ic->scratch_path;
	cgroup_path_parse(e->path, &e->owner);
	set_keys(e, ic->node);
	return e;
}

/* The path of a live cgroup, from its id alone: kernfs exports cgroups by id as file handles. */
static int resolve_path(struct identity_cache *ic, uint64_t cgroup_id, char *out, size_t size)
{
	union {
		struct file_handle fh;
		char buf[sizeof(struct file_handle) + sizeof(uint64_t)];
	} h;
	char link[64], target[PATH_MAX];
	size_t root_len = strlen(ic->root);
	ssize_t n;
	int fd;

	h.fh.handle_bytes = sizeof(uint64_t);
	h.fh.handle_type = FILEID_KERNFS;
	memcpy(h.fh.f_handle, &cgroup_id, sizeof(cgroup_id));
	fd = open_by_handle_at(ic->root_fd, &h.fh, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	if (strncmp(target, ic->root, root_len) != 0)
		return -ENOENT;
	snprintf(out, size, "%s", target[root_len] ? target + root_len : "/");
	return 0;
}

const struct identity *identity_put(struct identity_cache *ic, uint64_t cgroup_id, const char *path)
{
	struct identity **slot, *e;
	char resolved[PATH_MAX];
	char *copy;

	if (!path) {
		if (resolve_path(ic, cgroup_id, resolved, sizeof(resolved)) < 0) {
			ic->stats.unresolved++;
			resolved[0] = '\0';
		}
		path = resolved;
	}
	slot = find_slot(ic, cgroup_id);
	e = *slot;
	if (!e) {
		if (ic->stats.entries >= IDENTITY_MAX_ENTRIES) {
			ic->stats.refused++;
			return transient(ic, cgroup_id, path);
		}
		if ((ic->stats.entries + 1) * 2 > ic->nslots) {
			if (grow(ic) < 0)
				return transient(ic, cgroup_id, path);
			slot = find_slot(ic, cgroup_id);
		}
		e = calloc(1, sizeof(*e));
		if (!e)
			return transient(ic, cgroup_id, path);
		e->cgroup_id = cgroup_id;
		*slot = e;
		ic->stats.entries++;
	}
	copy = strdup(path);
	if (!copy)
		return transient(ic, cgroup_id, path);
	free(e->path);
	e->path = copy;
	e->removed_ns = 0;
	cgroup_path_parse(path, &e->owner);
	set_keys(e, ic->node);
	set_envelope_tail(e, ic->run, ic->node);
	return e;
}

const struct identity *identity_lookup(struct identity_cache *ic, uint64_t cgroup_id)
{
	struct identity *e = *find_slot(ic, cgroup_id);

	if (e)
		return e;
	ic->stats.misses++;
	return identity_put(ic, cgroup_id, NULL);
}

const struct identity *identity_remove(struct identity_cache *ic, uint64_t cgroup_id,
				       uint64_t removed_ns)
{
	struct identity *e = *find_slot(ic, cgroup_id);

	if (!e)
		return NULL;
	e->removed_ns = removed_ns ? removed_ns : 1;
	return e;
}

/* Deletes the entry at slot i, moving later members of its probe chain back (no tombstones). */
static void delete_slot(struct identity_cache *ic, size_t i)
{
	size_t mask = ic->nslots - 1, j = i;

	free(ic->slots[i]->path);
	free(ic->slots[i]->envelope_tail);
	free(ic->slots[i]);
	ic->slots[i] = NULL;
	ic->stats.entries--;
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!ic->slots[j])
			return;
		home = slot_of(ic, ic->slots[j]->cgroup_id);
		/* Leave it unless its home slot is cyclically outside (i, j]. */
		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			ic->slots[i] = ic->slots[j];
			ic->slots[j] = NULL;
			i = j;
		}
	}
}

size_t identity_expire(struct identity_cache *ic, uint64_t cutoff_ns, uint64_t *ids, size_t max)
{
	size_t n = 0, i = 0;

	while (i < ic->nslots && n < max) {
		struct identity *e = ic->slots[i];

		if (e && e->removed_ns && e->removed_ns < cutoff_ns) {
			ids[n++] = e->cgroup_id;
			ic->stats.evicted++;
			delete_slot(ic, i);
			continue; /* slot i may now hold a moved entry */
		}
		i++;
	}
	return n;
}

const struct identity *identity_next(const struct identity_cache *ic, size_t *cursor)
{
	while (*cursor < ic->nslots) {
		const struct identity *e = ic->slots[(*cursor)++];

		if (e && !e->removed_ns)
			return e;
	}
	return NULL;
}

/* nftw() takes no context argument; the walk runs once, single-threaded, at start. */
static struct identity_cache *walking;

static int walk_one(const char *fpath, const struct stat *st, int type, struct FTW *ftw)
{
	const char *rel = fpath + strlen(walking->root);

	(void)ftw;
	if (type != FTW_D)
		return 0;
	identity_put(walking, st->st_ino, rel[0] ? rel : "/");
	walking->stats.walked++;
	return 0;
}

int identity_walk(struct identity_cache *ic)
{
	int err;

	walking = ic;
	err = nftw(ic->root, walk_one, 32, FTW_PHYS | FTW_MOUNT);
	walking = NULL;
	if (err) {
		err = err < 0 && errno ? -errno : -EIO;
		log_warn("identity: walking %s: %s", ic->root, strerror(-err));
	}
	return err;
}

/* The first cgroup2 mount in mountinfo: "... <mount point> ... - cgroup2 <source> <options>". */
int cgroup2_root_find(char *out, size_t size)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096], mnt[PATH_MAX], fstype[64];
	int found = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(sep, " - %63s", fstype) != 1 || strcmp(fstype, "cgroup2") != 0)
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
			continue;
		snprintf(out, size, "%s", mnt);
		found = 0;
		break;
	}
	fclose(f);
	return found;
}

int identity_open(struct identity_cache **out, const char *root, const char *node, int64_t run,
		  char *errstr, size_t errstr_size)
{
	struct identity_cache *ic = calloc(1, sizeof(*ic));
	char found[PATH_MAX];
	int err;

	if (!ic)
		return -ENOMEM;
	ic->root_fd = -1;
	if (!root) {
		err = cgroup2_root_find(found, sizeof(found));
		if (err) {
			snprintf(errstr, errstr_size, "no cgroup2 mount in /proc/self/mountinfo");
			goto fail;
		}
		root = found;
	}
	ic->root = strdup(root);
	ic->node = strdup(node);
	ic->run = run;
	ic->nslots = INITIAL_SLOTS;
	ic->slots = calloc(ic->nslots, sizeof(*ic->slots));
	if (!ic->root || !ic->node || !ic->slots) {
		err = -ENOMEM;
		snprintf(errstr, errstr_size, "out of memory");
		goto fail;
	}
	/* "/sys/fs/cgroup/" and "/sys/fs/cgroup" name the same root. */
	for (size_t n = strlen(ic->root); n > 1 && ic->root[n - 1] == '/'; n--)
		ic->root[n - 1] = '\0';
	ic->root_fd = open(ic->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ic->root_fd < 0) {
		err = -errno;
		snprintf(errstr, errstr_size, "cannot open cgroup2 root %s: %s", ic->root, strerror(-err));
		goto fail;
	}
	*out = ic;
	return 0;
fail:
	identity_close(ic);
	return err;
}

void identity_get_stats(const struct identity_cache *ic, struct identity_stats *out)
{
	*out = ic->stats;
}

const char *identity_root(const struct identity_cache *ic)
{
	return ic->root;
}

void identity_close(struct identity_cache *ic)
{
	if (!ic)
		return;
	for (size_t i = 0; ic->slots && i < ic->nslots; i++) {
		if (ic->slots[i]) {
			free(ic->slots[i]->path);
			free(ic->slots[i]->envelope_tail);
			free(ic->slots[i]);
		}
	}
	free(ic->slots);
	if (ic->root_fd >= 0)
		close(ic->root_fd);
	free(ic->root);
	free(ic->node);
	free(ic);
}
