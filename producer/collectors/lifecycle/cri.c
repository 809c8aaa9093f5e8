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

static int cri_open(struct collector_runtime *c, struct collector_io *io)
{
	const struct tapio_config *cfg = c->pipeline->cfg;
	int err;

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
	io->ring_fd = bpf_map__fd(skel->maps.events);
	io->counters_fd = bpf_map__fd(skel->maps.reserve_failures);
	return 0;
}

static void publish(struct collector_runtime *c, const struct lifecycle_event *ev, const char *path,
		    const struct cgroup_owner *owner)
{
	struct avro_buf *out = pipeline_begin(c, ev->hdr.ktime_ns, ev->hdr.cgroup_id, cri_kind_of(ev));

	cri_encode(out, ev, path, owner);
	pipeline_commit(c);
}

static enum decode_result cri_ring_record(struct collector_runtime *c, const void *data,
					  size_t size)
{
	const struct lifecycle_event *ev;
	enum decode_result r = lifecycle_check(data, size, TAPIO_REC_CRI_EVENT, &ev);
	const struct identity *id;
	struct cgroup_owner owner;

	if (r != DECODE_OK)
		return r;
	if (ev->event == LC_CGROUP_CREATED || ev->event == LC_CGROUP_REMOVED) {
		/* The record's own path: the identity cache may not have seen this cgroup yet. */
		cgroup_path_parse(ev->text, &owner);
		if (!cri_wants(ev->text, &owner)) {
			if (ev->event == LC_CGROUP_CREATED)
				lifecycle_drop(&lb, ev->hdr.cgroup_id);
			lb.skipped++;
			return DECODE_OK;
		}
		publish(c, ev, ev->text, &owner);
		return DECODE_OK;
	}
	/* A process event of a cgroup still tentative (or just dropped): ask its identity. */
	id = identity_lookup(c->pipeline->identity, ev->hdr.cgroup_id);
	if (id->path[0] && cri_wants(id->path, &id->owner))
		publish(c, ev, id->path, &id->owner);
	else
		lb.skipped++;
	return DECODE_OK;
}

/* The cgroups present at start, from the identity cache metadata's start filled. */
static int cri_start(struct collector_runtime *c)
{
	lifecycle_seed(&lb, c);
	return 0;
}

static void cri_stop(struct collector_runtime *c)
{
	(void)c;
	if (skel)
		cri_bpf__detach(skel);
}

static void cri_destroy(struct collector_runtime *c)
{
	(void)c;
	if (skel) /* it ran: its counters follow the pipeline's at shutdown */
		lifecycle_log_stats(&lb);
	lb.skipped = lb.restarts_in_place = 0;
	cri_bpf__destroy(skel);
	skel = NULL;
	lb.watched_fd = -1;
}

const struct collector_ops cri_collector = {
	.name = "cri",
	.open = cri_open,
	.start = cri_start,
	.ring_record = cri_ring_record,
	.stop = cri_stop,
	.destroy = cri_destroy,
};
