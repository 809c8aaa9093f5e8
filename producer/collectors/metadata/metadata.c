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

#include "log.h"
#include "metadata.h"
#include "metadata.skel.h"
#include "metadata_collector.h"
#include "pipeline.h"

/* The `Kind` enum of schemas/metadata.avsc. */
enum metadata_kind { KIND_UNKNOWN = 0, KIND_SNAPSHOT = 1, KIND_CREATED = 2, KIND_REMOVED = 3 };

#define EXPIRE_BATCH 256

static struct metadata_bpf *skel;

static int metadata_open(const struct tapio_config *cfg, struct collector_maps *maps)
{
	int err;

	(void)cfg;
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
	maps->ring_fd = bpf_map__fd(skel->maps.events);
	maps->reserve_failures_fd = bpf_map__fd(skel->maps.reserve_failures);
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

static enum decode_result metadata_decode(struct collector_runtime *c, const void *data, size_t size,
					  struct decoded *out)
{
	struct identity_cache *ic = c->pipeline->identity;
	const struct cgroup_event *ev = data;
	const struct tapio_hdr *hdr;
	const struct identity *id;
	enum decode_result r = decode_header(data, size, &hdr);
	const char *path;

	(void)out;
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
	return DECODE_HELD;
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

int metadata_snapshot(struct collector_runtime *c, uint64_t now_ns)
{
	struct identity_cache *ic = c->pipeline->identity;
	const struct identity *id;
	size_t cursor = 0, n = 0;
	int err = identity_walk(ic);

	while ((id = identity_next(ic, &cursor))) {
		publish(c, KIND_SNAPSHOT, now_ns, id);
		n++;
	}
	log_info("metadata: %zu cgroups at start under %s", n, identity_root(ic));
	return err;
}

static void metadata_detach(void)
{
	if (skel)
		metadata_bpf__detach(skel);
}

static void metadata_destroy(void)
{
	metadata_bpf__destroy(skel);
	skel = NULL;
}

const struct collector_ops metadata_collector = {
	.name = "metadata",
	.key_by_cgroup = true,
	.open = metadata_open,
	.decode = metadata_decode,
	.tick = metadata_tick,
	.detach = metadata_detach,
	.destroy = metadata_destroy,
};
