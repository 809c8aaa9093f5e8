/*
 * The cgroup-lifecycle collectors `cri` (containers, cri.c) and `systemd` (service
 * units, systemd.c): what they share. Both load the same BPF code (bpf/lifecycle.bpf.h)
 * and keep in its `watched` map the cgroups that are their kind; the encoders are exposed for the
 * unit tests.
 */
#ifndef TAPIO_LIFECYCLE_COLLECTOR_H
#define TAPIO_LIFECYCLE_COLLECTOR_H

#include <linux/types.h>
#include <stdbool.h>
#include <stdint.h>

#include "avro_writer.h"
#include "cgroup_path.h"
#include "collector.h"
#include "identity.h"
#include "lifecycle.h"

struct bpf_program;

/* Which cgroups a collector watches, from their path and what the path says. */
typedef bool (*lifecycle_wants_fn)(const char *path, const struct cgroup_owner *owner);

bool cri_wants(const char *path, const struct cgroup_owner *owner);
bool systemd_wants(const char *path, const struct cgroup_owner *owner);

/* Checks a ring-buffer record of `size` bytes of type `type`; *ev points into data on DECODE_OK. */
enum decode_result lifecycle_check(const void *data, size_t size, uint16_t type,
				   const struct lifecycle_event **ev);

/* The BPF side of one collector, once loaded. */
struct lifecycle_bpf {
	const char *name;          /* collector name, for log lines */
	int watched_fd;
	lifecycle_wants_fn wants;
	/* Valid ring records that make no record: cgroups (and their processes) that are not this
	 * collector's kind. received = made + skipped + rejected (- in-place restarts, systemd). */
	uint64_t skipped;
	uint64_t restarts_in_place; /* systemd: records made beside their process record */
};

/* Logs the counters above at shutdown, after the pipeline's own. */
void lifecycle_log_stats(const struct lifecycle_bpf *lb);

/* Leaves `tp` (tp_btf/mark_victim) to load where oom/mark_victim passes the victim task (v6.9+);
 * elsewhere loads `kprobe` (kprobe/mark_oom_victim) instead, or neither, with a log line. */
void lifecycle_pick_oom(const char *name, struct bpf_program *tp, struct bpf_program *kprobe);

/* Adds the cgroups present at start that `wants` keeps, with their main process, from the
 * identity cache (filled by metadata's start step). Reads each one's cgroup.procs and its
 * processes' /proc/<pid>/stat: at start-up, before the event loop turns. */
void lifecycle_seed(struct lifecycle_bpf *lb, struct collector_runtime *c);

/* Stops watching a cgroup the kernel began watching at its mkdir: not this collector's kind. */
void lifecycle_drop(struct lifecycle_bpf *lb, uint64_t cgroup_id);

/* The `Kind` enum of schemas/cri.avsc. */
enum cri_kind {
	CRI_UNKNOWN = 0, CRI_CREATED, CRI_STARTED, CRI_EXITED, CRI_OOM_KILLED, CRI_REMOVED,
};

/* The `Kind` enum of schemas/systemd.avsc. */
enum systemd_kind {
	SD_UNKNOWN = 0, SD_STARTED, SD_RESTARTED, SD_MAIN_STARTED, SD_EXITED, SD_FAILED,
	SD_OOM_KILLED, SD_STOPPED,
};

int cri_kind_of(const struct lifecycle_event *ev);

/* Fields of schemas/cri.avsc after the envelope. path: the cgroup's path. */
void cri_encode(struct avro_buf *out, const struct lifecycle_event *ev, const char *path,
		const struct cgroup_owner *owner);

/* systemd's default idea of a failure: a non-zero code, a signal other than SIGHUP, SIGINT,
 * SIGTERM and SIGPIPE, or an OOM kill. */
bool systemd_failed(const struct lifecycle_event *ev);

/* Fields of schemas/systemd.avsc after the envelope. */
void systemd_encode(struct avro_buf *out, const struct lifecycle_event *ev, const char *unit,
		    const char *path, int restart_count);

#endif /* TAPIO_LIFECYCLE_COLLECTOR_H */
