/* Collector `systemd`: service units as the kernel sees them (bpf/systemd.bpf.c) →
 * schemas/systemd.avsc. No D-Bus: a unit is its cgroup system.slice/.../<unit>.service, and
 * restarts are counted here, per unit name. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lifecycle_collector.h"
#include "log.h"
#include "pipeline.h"
#include "systemd.skel.h"

/* Units tracked for restart counts; a unit past this is still reported, with restart_count 0. */
#define UNITS_MAX 4096

struct unit_state {
	char name[UNIT_NAME_MAX + 1]; /* "" = free slot */
	uint64_t cgroup_id;           /* its current cgroup */
	int restarts;
	bool main_exited;             /* the main process of that cgroup exited */
};

static struct systemd_bpf *skel;
static struct lifecycle_bpf lb = { .name = "systemd", .watched_fd = -1, .wants = systemd_wants };
static struct unit_state *units; /* open addressing, UNITS_MAX slots */
static uint64_t units_full;

static uint64_t hash_name(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ULL;
	return h;
}

/* The unit's slot, made if `create`; NULL when absent or the table is full. */
static struct unit_state *unit_find(const char *name, bool create)
{
	uint64_t h = hash_name(name);

	for (size_t i = 0; i < UNITS_MAX; i++) {
		struct unit_state *u = &units[(h + i) % UNITS_MAX];

		if (strcmp(u->name, name) == 0)
			return u;
		if (!u->name[0]) {
			if (!create)
				return NULL;
			snprintf(u->name, sizeof(u->name), "%s", name);
			return u;
		}
	}
	if (create && units_full++ == 0)
		log_warn("systemd: more than %d units: further ones get restart_count 0", UNITS_MAX);
	return NULL;
}

static int systemd_open(struct collector_runtime *c, struct collector_io *io)
{
	const struct tapio_config *cfg = c->pipeline->cfg;
	int err;

	units = calloc(UNITS_MAX, sizeof(*units));
	if (!units)
		return -ENOMEM;
	skel = systemd_bpf__open();
	if (!skel) {
		err = -errno;
		log_error("systemd: cannot open BPF object: %s", strerror(-err));
		return err;
	}
	bpf_map__set_max_entries(skel->maps.events, (uint32_t)cfg->ringbuf_kb << 10);
	lifecycle_pick_oom("systemd", skel->progs.lc_oom, skel->progs.lc_oom_kprobe);
	err = systemd_bpf__load(skel);
	if (err) {
		log_error("systemd: cannot load BPF programs: %s", strerror(-err));
		return err;
	}
	err = systemd_bpf__attach(skel);
	if (err) {
		log_error("systemd: cannot attach to cgroup_mkdir/rmdir, sched_process_exec/exit "
			  "(tp_btf): %s", strerror(-err));
		return err;
	}
	lb.watched_fd = bpf_map__fd(skel->maps.watched);
	io->ring_fd = bpf_map__fd(skel->maps.events);
	io->counters_fd = bpf_map__fd(skel->maps.reserve_failures);
	return 0;
}

static void publish(struct collector_runtime *c, int kind, const struct lifecycle_event *ev,
		    const char *unit, const char *path, int restarts)
{
	struct avro_buf *out = pipeline_begin(c, ev->hdr.ktime_ns, ev->hdr.cgroup_id, kind);

	systemd_encode(out, ev, unit, path, restarts);
	pipeline_commit(c);
}

/* A cgroup-level record (pid 0) made from a process record: an in-place restart. */
static void publish_restart_in_place(struct collector_runtime *c, const struct lifecycle_event *ev,
				     const char *unit, const char *path, int restarts)
{
	struct lifecycle_event r;

	memset(&r, 0, sizeof(r));
	r.hdr = ev->hdr;
	r.event = LC_CGROUP_CREATED;
	publish(c, SD_RESTARTED, &r, unit, path, restarts);
}

static void on_cgroup(struct collector_runtime *c, const struct lifecycle_event *ev)
{
	struct cgroup_owner owner;
	struct unit_state *u;
	bool seen;

	cgroup_path_parse(ev->text, &owner);
	if (!systemd_wants(ev->text, &owner)) {
		if (ev->event == LC_CGROUP_CREATED)
			lifecycle_drop(&lb, ev->hdr.cgroup_id);
		lb.skipped++;
		return;
	}
	if (ev->event == LC_CGROUP_REMOVED) {
		u = unit_find(owner.unit, false);
		publish(c, SD_STOPPED, ev, owner.unit, ev->text, u ? u->restarts : 0);
		return;
	}
	u = unit_find(owner.unit, false);
	seen = u != NULL;
	if (!u)
		u = unit_find(owner.unit, true);
	if (!u) {
		publish(c, SD_STARTED, ev, owner.unit, ev->text, 0);
		return;
	}
	if (seen)
		u->restarts++;
	u->cgroup_id = ev->hdr.cgroup_id;
	u->main_exited = false;
	publish(c, seen ? SD_RESTARTED : SD_STARTED, ev, owner.unit, ev->text, u->restarts);
}

static void on_process(struct collector_runtime *c, const struct lifecycle_event *ev)
{
	const struct identity *id = identity_lookup(c->pipeline->identity, ev->hdr.cgroup_id);
	const char *unit = id->owner.unit;
	struct unit_state *u;
	int kind;

	if (!id->path[0] || !systemd_wants(id->path, &id->owner)) {
		lb.skipped++;
		return;
	}
	/* A unit running since before start is known from here on. */
	u = unit_find(unit, true);
	if (u && u->cgroup_id != ev->hdr.cgroup_id) {
		u->cgroup_id = ev->hdr.cgroup_id;
		u->main_exited = false;
	}
	switch (ev->event) {
	case LC_EXEC:
		if (u && u->main_exited) {
			u->restarts++;
			u->main_exited = false;
			publish_restart_in_place(c, ev, unit, id->path, u->restarts);
			lb.restarts_in_place++;
		}
		kind = SD_MAIN_STARTED;
		break;
	case LC_EXIT:
		if (u)
			u->main_exited = true;
		kind = systemd_failed(ev) ? SD_FAILED : SD_EXITED;
		break;
	default:
		kind = SD_OOM_KILLED;
		break;
	}
	publish(c, kind, ev, unit, id->path, u ? u->restarts : 0);
}

static enum decode_result systemd_ring_record(struct collector_runtime *c, const void *data,
					      size_t size)
{
	const struct lifecycle_event *ev;
	enum decode_result r = lifecycle_check(data, size, TAPIO_REC_SYSTEMD_EVENT, &ev);

	if (r != DECODE_OK)
		return r;
	if (ev->event == LC_CGROUP_CREATED || ev->event == LC_CGROUP_REMOVED)
		on_cgroup(c, ev);
	else
		on_process(c, ev);
	return DECODE_OK;
}

/* The cgroups present at start, from the identity cache metadata's start filled. */
static int systemd_start(struct collector_runtime *c)
{
	lifecycle_seed(&lb, c);
	return 0;
}

static void systemd_stop(struct collector_runtime *c)
{
	(void)c;
	if (skel)
		systemd_bpf__detach(skel);
}

static void systemd_destroy(struct collector_runtime *c)
{
	(void)c;
	if (skel) /* it ran: its counters follow the pipeline's at shutdown */
		lifecycle_log_stats(&lb);
	lb.skipped = lb.restarts_in_place = 0;
	systemd_bpf__destroy(skel);
	skel = NULL;
	lb.watched_fd = -1;
	free(units);
	units = NULL;
}

const struct collector_ops systemd_collector = {
	.name = "systemd",
	.open = systemd_open,
	.start = systemd_start,
	.ring_record = systemd_ring_record,
	.stop = systemd_stop,
	.destroy = systemd_destroy,
};
