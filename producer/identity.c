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

#include "log.h"

#define FILEID_KERNFS 0xfe /* include/linux/exportfs.h: a kernfs node id, i.e. the cgroup id */
#define INITIAL_SLOTS 1024

struct identity_cache {
	char *root;    /* cgroup v2 mount point, no trailing '/' */
	int root_fd;
	char *node;
	struct identity **slots; /* open addressing, linear probing; power-of-two size */
	size_t nslots;
	struct identity_stats stats;
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

static void set_key(struct identity *e, const char *node)
{
	int n;

	if (e->owner.pod_uid[0])
		n = snprintf(e->key, sizeof(e->key), "%s", e->owner.pod_uid);
	else
		n = snprintf(e->key, sizeof(e->key), "%s/%" PRIu64, node, e->cgroup_id);
	e->key_len = n < 0 ? 0 : (size_t)n < sizeof(e->key) ? (size_t)n : sizeof(e->key) - 1;
}

const struct identity *identity_put(struct identity_cache *ic, uint64_t cgroup_id, const char *path)
{
	struct identity **slot, *e;
	char *copy = strdup(path);

	if (!copy)
		return NULL;
	if ((ic->stats.entries + 1) * 2 > ic->nslots && grow(ic) < 0) {
		free(copy);
		return NULL;
	}
	slot = find_slot(ic, cgroup_id);
	e = *slot;
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e) {
			free(copy);
			return NULL;
		}
		e->cgroup_id = cgroup_id;
		*slot = e;
		ic->stats.entries++;
	}
	free(e->path);
	e->path = copy;
	cgroup_path_parse(path, &e->owner);
	set_key(e, ic->node);
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

const struct identity *identity_lookup(struct identity_cache *ic, uint64_t cgroup_id)
{
	struct identity *e = *find_slot(ic, cgroup_id);
	const struct identity *added;
	char path[PATH_MAX];

	if (e)
		return e;
	ic->stats.misses++;
	if (resolve_path(ic, cgroup_id, path, sizeof(path)) < 0) {
		ic->stats.unresolved++;
		path[0] = '\0';
	}
	added = identity_put(ic, cgroup_id, path);
	if (added)
		return added;
	/* Out of memory: still a correct key, from a per-call entry. */
	static struct identity fallback;
	memset(&fallback, 0, sizeof(fallback));
	fallback.cgroup_id = cgroup_id;
	fallback.path = "";
	set_key(&fallback, ic->node);
	return &fallback;
}

/* nftw() takes no context argument; the walk runs once, single-threaded, at start. */
static struct identity_cache *walking;

static int walk_one(const char *fpath, const struct stat *st, int type, struct FTW *ftw)
{
	const char *rel = fpath + strlen(walking->root);

	(void)ftw;
	if (type != FTW_D)
		return 0;
	if (!identity_put(walking, st->st_ino, rel[0] ? rel : "/"))
		return -1;
	walking->stats.walked++;
	return 0;
}

/* The first cgroup2 mount in mountinfo: "... <mount point> ... - cgroup2 <source> <options>". */
static int find_cgroup2_root(char *out, size_t size)
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

int identity_open(struct identity_cache **out, const char *root, const char *node,
		  char *errstr, size_t errstr_size)
{
	struct identity_cache *ic = calloc(1, sizeof(*ic));
	char found[PATH_MAX];
	int err;

	if (!ic)
		return -ENOMEM;
	ic->root_fd = -1;
	if (!root) {
		err = find_cgroup2_root(found, sizeof(found));
		if (err) {
			snprintf(errstr, errstr_size, "no cgroup2 mount in /proc/self/mountinfo");
			goto fail;
		}
		root = found;
	}
	ic->root = strdup(root);
	ic->node = strdup(node);
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
	walking = ic;
	err = nftw(ic->root, walk_one, 32, FTW_PHYS | FTW_MOUNT);
	walking = NULL;
	if (err) {
		err = err < 0 ? -errno : -EIO;
		snprintf(errstr, errstr_size, "walking %s: %s", ic->root, strerror(-err));
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
