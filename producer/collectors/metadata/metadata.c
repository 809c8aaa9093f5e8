/*
 * Topic <prefix>metadata: what each cgroup is. Follows cgroup v2 mkdir/rmdir (bpf/metadata.bpf.c),
 * keeps the identity cache current, and publishes one record per cgroup appearing (and, at
 * start, per cgroup present) or disappearing, keyed <node>/<cgroup id> for a compacted topic; a
 * tombstone follows a removal once its grace period is over.
 *
 * Always on: every other collector's keys depend on the identity cache it maintains.
 */
#include <errno.h>
#include <linux/types.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metadata.h"
#include "metadata.skel.h"
#include "pipeline.h"

/* The `Kind` enum of schemas/metadata.avsc. */
enum metadata_kind { KIND_UNKNOWN = 0, KIND_SNAPSHOT = 1, KIND_CREATED = 2, KIND_REMOVED = 3 };

#define EXPIRE_BATCH 256

static struct metadata_bpf *skel;

static int metadata_open(struct collector_runtime *c, struct collector_io *io)
{
	int err;

	(void)c;
	skel = metadata_bpf__open_and_load();
	if (!skel) {
		err = -errno;
		log_error("metadata: cannot load the cgroup tracking programs: %s", strerror(-err));
		return err;
	}
	err = metadata_bpf__attach(skel);
	if (err) {
		log_error("metadata: cannot attach to cgroup_mkdir/rmdir (tp_btf): %s; cgroups made "
			  "after start resolve on first use instead", strerror(-err));
		return err;
	}
	io->ring_fd = bpf_map__fd(skel->maps.events);
	io->counters_fd = bpf_map__fd(skel->maps.reserve_failures);
	return 0;
}

static void publish(struct collector_runtime *c, int kind, uint64_t ktime_ns,
		    const struct identity *id)
{
	struct avro_buf *out = pipeline_begin(c, ktime_ns, id->cgroup_id, kind);

	avro_put_string(out, id->path, 4096);
	avro_put_optional_string(out, pod_qos_name(id->owner.qos), 16);
	avro_put_optional_string(out, container_runtime_name(id->owner.runtime), 16);
	avro_put_bool(out, id->owner.is_conmon);
	avro_put_optional_string(out, id->owner.unit, sizeof(id->owner.unit));
	pipeline_commit(c);
}

static enum decode_result metadata_ring_record(struct collector_runtime *c, const void *data,
					       size_t size)
{
	struct identity_cache *ic = c->pipeline->identity;
	const struct cgroup_event *ev = data;
	const struct tapio_hdr *hdr;
	const struct identity *id;
	enum decode_result r = decode_header(data, size, &hdr);
	const char *path;

	if (r != DECODE_OK)
		return r;
	if (hdr->type != TAPIO_REC_CGROUP_MKDIR && hdr->type != TAPIO_REC_CGROUP_RMDIR)
		return DECODE_UNKNOWN_TYPE;
	if (hdr->version != CGROUP_EVENT_VERSION)
		return DECODE_BAD_VERSION;
	if (size != sizeof(*ev))
		return DECODE_BAD_LENGTH;
	if (ev->path_len >= CGROUP_PATH_LEN || strnlen(ev->path, CGROUP_PATH_LEN) != ev->path_len)
		return DECODE_BAD_FIELD;
	/* A cut path would mis-attribute: resolve it from the id instead. */
	path = ev->flags & CGROUP_PATH_TRUNCATED ? NULL : ev->path;

	if (hdr->type == TAPIO_REC_CGROUP_MKDIR) {
		id = identity_put(ic, hdr->cgroup_id, path);
		publish(c, KIND_CREATED, hdr->ktime_ns, id);
	} else {
		id = identity_remove(ic, hdr->cgroup_id, hdr->ktime_ns);
		if (!id) /* made and removed before we knew it */
			id = identity_remove(ic, identity_put(ic, hdr->cgroup_id, path)->cgroup_id,
					     hdr->ktime_ns);
		if (id)
			publish(c, KIND_REMOVED, hdr->ktime_ns, id);
	}
	return DECODE_OK;
}

static void metadata_tick(struct collector_runtime *c, uint64_t now_ns)
{
	uint64_t grace = (uint64_t)c->pipeline->cfg->identity_grace_s * 1000000000ull;
	uint64_t ids[EXPIRE_BATCH];
	size_t n;

	if (now_ns <= grace)
		return;
	do {
		n = identity_expire(c->pipeline->identity, now_ns - grace, ids, EXPIRE_BATCH);
		for (size_t i = 0; i < n; i++)
			pipeline_tombstone(c, ids[i]);
	} while (n == EXPIRE_BATCH);
}

/* Walks the cgroup tree into the identity cache and publishes a SNAPSHOT record for every cgroup,
 * so a consumer that joins late can rebuild the table. After the programs are attached, so no
 * cgroup falls between the walk and the events. A walk that fails part way is logged by the
 * identity cache; what it found is published, and later cgroups resolve on first use. */
static int metadata_start(struct collector_runtime *c)
{
	struct identity_cache *ic = c->pipeline->identity;
	struct timespec now;
	const struct identity *id;
	size_t cursor = 0, n = 0;

	identity_walk(ic);
	clock_gettime(CLOCK_BOOTTIME, &now);
	while ((id = identity_next(ic, &cursor))) {
		publish(c, KIND_SNAPSHOT, (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec,
			id);
		n++;
	}
	log_info("metadata: %zu cgroups at start under %s", n, identity_root(ic));
	return 0;
}

static void metadata_stop(struct collector_runtime *c)
{
	(void)c;
	if (skel)
		metadata_bpf__detach(skel);
}

static void metadata_destroy(struct collector_runtime *c)
{
	(void)c;
	metadata_bpf__destroy(skel);
	skel = NULL;
}

const struct collector_ops metadata_collector = {
	.name = "metadata",
	.key_by_cgroup = true,
	.always = true,
	.open = metadata_open,
	.start = metadata_start,
	.ring_record = metadata_ring_record,
	.tick = metadata_tick,
	.stop = metadata_stop,
	.destroy = metadata_destroy,
};
