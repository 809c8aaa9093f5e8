/* Collector `cri`: containers as the kernel sees them (bpf/cri.bpf.c) → schemas/cri.avsc. The
 * cgroup path says which cgroups are containers; no CRI socket is involved. */
#include <errno.h>
#include <string.h>

#include "cri.skel.h"
#include "lifecycle_collector.h"
#include "log.h"
#include "pipeline.h"

static struct cri_bpf *skel;
static struct lifecycle_bpf lb = { .name = "cri", .watched_fd = -1, .wants = cri_wants };

static int cri_open(const struct tapio_config *cfg, struct collector_maps *maps)
{
	int err;

	lb.seeded = false;
	skel = cri_bpf__open();
	if (!skel) {
		err = -errno;
		log_error("cri: cannot open BPF object: %s", strerror(-err));
		return err;
	}
	bpf_map__set_max_entries(skel->maps.events, (uint32_t)cfg->ringbuf_kb << 10);
	lifecycle_pick_oom("cri", skel->progs.lc_oom, skel->progs.lc_oom_kprobe);
	err = cri_bpf__load(skel);
	if (err) {
		log_error("cri: cannot load BPF programs: %s", strerror(-err));
		return err;
	}
	err = cri_bpf__attach(skel);
	if (err) {
		log_error("cri: cannot attach to cgroup_mkdir/rmdir, sched_process_exec/exit (tp_btf): %s",
			  strerror(-err));
		return err;
	}
	lb.watched_fd = bpf_map__fd(skel->maps.watched);
	maps->ring_fd = bpf_map__fd(skel->maps.events);
	maps->reserve_failures_fd = bpf_map__fd(skel->maps.reserve_failures);
	return 0;
}

static void publish(struct collector_runtime *c, const struct lifecycle_event *ev, const char *path,
		    const struct cgroup_owner *owner)
{
	struct avro_buf *out = pipeline_begin(c, ev->hdr.ktime_ns, ev->hdr.cgroup_id, cri_kind_of(ev));

	cri_encode(out, ev, path, owner);
	pipeline_commit(c);
}

static enum decode_result cri_decode(struct collector_runtime *c, const void *data, size_t size,
				     struct decoded *out)
{
	const struct lifecycle_event *ev;
	enum decode_result r = lifecycle_check(data, size, TAPIO_REC_CRI_EVENT, &ev);
	const struct identity *id;
	struct cgroup_owner owner;

	(void)out;
	if (r != DECODE_OK)
		return r;
	lifecycle_seed(&lb, c);
	if (ev->event == LC_CGROUP_CREATED || ev->event == LC_CGROUP_REMOVED) {
		/* The record's own path: the identity cache may not have seen this cgroup yet. */
		cgroup_path_parse(ev->text, &owner);
		if (!cri_wants(ev->text, &owner)) {
			if (ev->event == LC_CGROUP_CREATED)
				lifecycle_drop(&lb, ev->hdr.cgroup_id);
			return DECODE_HELD;
		}
		publish(c, ev, ev->text, &owner);
		return DECODE_HELD;
	}
	/* A process event of a cgroup still tentative (or just dropped): ask its identity. */
	id = identity_lookup(c->pipeline->identity, ev->hdr.cgroup_id);
	if (id->path[0] && cri_wants(id->path, &id->owner))
		publish(c, ev, id->path, &id->owner);
	return DECODE_HELD;
}

static void cri_tick(struct collector_runtime *c, uint64_t now_ns)
{
	(void)now_ns;
	lifecycle_seed(&lb, c);
}

static void cri_detach(void)
{
	if (skel)
		cri_bpf__detach(skel);
}

static void cri_destroy(void)
{
	cri_bpf__destroy(skel);
	skel = NULL;
	lb.watched_fd = -1;
}

const struct collector_ops cri_collector = {
	.name = "cri",
	.open = cri_open,
	.decode = cri_decode,
	.tick = cri_tick,
	.detach = cri_detach,
	.destroy = cri_destroy,
};
