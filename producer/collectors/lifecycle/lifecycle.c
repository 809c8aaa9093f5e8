/* What the cgroup-lifecycle collectors `cri` and `systemd` share: record checks, the watched
 * map, the start-up seed, and the encoders of their topics. */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kallsyms.h"
#include "lifecycle_collector.h"
#include "log.h"
#include "pipeline.h"

#define SEED_PIDS_MAX 4096

static const char *last_component(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* The container's own cgroup, not one it made below itself (those keep its attribution). */
bool cri_wants(const char *path, const struct cgroup_owner *owner)
{
	return owner->container_id[0] && !owner->is_conmon &&
	       strstr(last_component(path), owner->container_id);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* system.slice/[<slice>/...]<unit>.service itself, not its sub-cgroups. */
bool systemd_wants(const char *path, const struct cgroup_owner *owner)
{
	if (path[0] == '/')
		path++;
	return strncmp(path, "system.slice/", 13) == 0 && ends_with(owner->unit, ".service") &&
	       strcmp(last_component(path), owner->unit) == 0;
}

enum decode_result lifecycle_check(const void *data, size_t size, uint16_t type,
				   const struct lifecycle_event **ev)
{
	const struct tapio_hdr *hdr;
	const struct lifecycle_event *e = data;
	enum decode_result r = decode_header(data, size, &hdr);

	if (r != DECODE_OK)
		return r;
	if (hdr->type != type)
		return DECODE_UNKNOWN_TYPE;
	if (hdr->version != LIFECYCLE_VERSION)
		return DECODE_BAD_VERSION;
	if (size != sizeof(*e))
		return DECODE_BAD_LENGTH;
	if (e->event < LC_CGROUP_CREATED || e->event >= LC_EVENT_MAX ||
	    e->text_len >= LIFECYCLE_TEXT_LEN ||
	    strnlen(e->text, LIFECYCLE_TEXT_LEN) != e->text_len)
		return DECODE_BAD_FIELD;
	*ev = e;
	return DECODE_OK;
}

void lifecycle_pick_oom(const char *name, struct bpf_program *tp, struct bpf_program *kprobe)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	const struct btf_type *t;
	char why[160];
	bool ok = false;
	int id;

	if (!vmlinux) {
		log_warn("%s: no vmlinux BTF to probe oom/mark_victim with; trying it", name);
		return;
	}
	/* Before "mm: update mark_victim tracepoints fields" (v6.9, and some stable updates of
	 * older series) it passed only a pid. */
	id = btf__find_by_name_kind(vmlinux, "btf_trace_mark_victim", BTF_KIND_TYPEDEF);
	if (id >= 0) {
		t = btf__type_by_id(vmlinux, btf__type_by_id(vmlinux, id)->type);
		t = t && btf_is_ptr(t) ? btf__type_by_id(vmlinux, t->type) : NULL;
		if (t && btf_is_func_proto(t) && btf_vlen(t) >= 2) {
			t = btf__type_by_id(vmlinux, btf_params(t)[1].type);
			while (t && (btf_is_mod(t) || btf_is_typedef(t)))
				t = btf__type_by_id(vmlinux, t->type);
			ok = t && btf_is_ptr(t);
		}
	}
	btf__free(vmlinux);
	if (ok)
		return;
	bpf_program__set_autoload(tp, false);
	if (kprobe_usable("mark_oom_victim", why, sizeof(why))) {
		log_info("%s: oom/mark_victim passes no task on this kernel: OOM kills from a "
			 "kprobe on mark_oom_victim", name);
		bpf_program__set_autoload(kprobe, true);
	} else {
		log_warn("%s: oom/mark_victim passes no task on this kernel, and no kprobe instead "
			 "(%s): no OOM_KILLED records, EXITED.oom_killed stays false", name, why);
	}
}

void lifecycle_log_stats(const struct lifecycle_bpf *lb)
{
	log_info("%s: skipped=%" PRIu64 " restarts_in_place=%" PRIu64, lb->name, lb->skipped,
		 lb->restarts_in_place);
}

void lifecycle_drop(struct lifecycle_bpf *lb, uint64_t cgroup_id)
{
	/* Keeping needs no write: rewriting the entry could undo a main pid set meanwhile. */
	bpf_map_delete_elem(lb->watched_fd, &cgroup_id);
}

static int read_ppid(pid_t pid)
{
	char path[64], buf[512], *close_paren;
	int ppid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	/* comm may hold spaces and parentheses: the state and ppid follow the last ')'. */
	if (fgets(buf, sizeof(buf), f) && (close_paren = strrchr(buf, ')')))
		if (sscanf(close_paren + 1, " %*c %d", &ppid) != 1)
			ppid = -1;
	fclose(f);
	return ppid;
}

/* The process of a running cgroup whose parent is outside it: what its first exec became. */
static pid_t find_main(const char *root, const char *path)
{
	static pid_t pids[SEED_PIDS_MAX];
	char file[4096];
	size_t n = 0;
	pid_t main_pid = 0;
	FILE *f;
	int pid;

	snprintf(file, sizeof(file), "%s%s/cgroup.procs", root, path);
	f = fopen(file, "re");
	if (!f)
		return 0;
	while (n < SEED_PIDS_MAX && fscanf(f, "%d", &pid) == 1)
		pids[n++] = pid;
	fclose(f);
	for (size_t i = 0; i < n && !main_pid; i++) {
		int ppid = read_ppid(pids[i]);
		bool inside = false;

		for (size_t j = 0; j < n && !inside; j++)
			inside = pids[j] == ppid;
		if (ppid >= 0 && !inside)
			main_pid = pids[i];
	}
	return main_pid;
}

void lifecycle_seed(struct lifecycle_bpf *lb, struct collector_runtime *c)
{
	struct identity_cache *ic = c->pipeline->identity;
	const struct identity *id;
	size_t cursor = 0, n = 0;

	while ((id = identity_next(ic, &cursor))) {
		struct lifecycle_watch w = { .state = LC_WATCH_FROM_SEED };

		if (!id->path[0] || !lb->wants(id->path, &id->owner))
			continue;
		w.main_pid = (uint64_t)find_main(identity_root(ic), id->path);
		/* BPF_NOEXIST: a cgroup made since start is already there, with its own state. */
		if (bpf_map_update_elem(lb->watched_fd, &id->cgroup_id, &w, BPF_NOEXIST) == 0)
			n++;
	}
	log_info("%s: watching %zu cgroups present at start", lb->name, n);
}

static void put_exit(struct avro_buf *out, const struct lifecycle_event *ev)
{
	int signal = ev->exit_status & 0x7f;

	if (ev->event != LC_EXIT) {
		avro_put_union(out, 0);
		return;
	}
	avro_put_union(out, 1);
	avro_put_long(out, signal ? 0 : (ev->exit_status >> 8) & 0xff);
	avro_put_long(out, signal);
	avro_put_bool(out, ev->exit_status & 0x80);
	avro_put_bool(out, ev->flags & LC_F_OOM_KILLED);
	avro_put_long(out, (int64_t)ev->lifetime_ns);
}

/* pid .. exit, the tail both schemas share. */
static void put_process(struct avro_buf *out, const struct lifecycle_event *ev)
{
	avro_put_long(out, ev->pid);
	avro_put_long(out, ev->ppid);
	avro_put_string(out, ev->comm, sizeof(ev->comm));
	avro_put_bool(out, ev->flags & LC_F_MAIN);
	if (ev->event == LC_EXEC) {
		avro_put_union(out, 1);
		avro_put_string(out, ev->text, sizeof(ev->text));
	} else {
		avro_put_union(out, 0);
	}
	avro_put_bool(out, ev->flags & LC_F_TEXT_TRUNCATED);
	put_exit(out, ev);
}

int cri_kind_of(const struct lifecycle_event *ev)
{
	static const int kinds[LC_EVENT_MAX] = {
		[LC_CGROUP_CREATED] = CRI_CREATED, [LC_EXEC] = CRI_STARTED, [LC_EXIT] = CRI_EXITED,
		[LC_OOM] = CRI_OOM_KILLED, [LC_CGROUP_REMOVED] = CRI_REMOVED,
	};

	return ev->event < LC_EVENT_MAX ? kinds[ev->event] : CRI_UNKNOWN;
}

void cri_encode(struct avro_buf *out, const struct lifecycle_event *ev, const char *path,
		const struct cgroup_owner *owner)
{
	avro_put_optional_string(out, container_runtime_name(owner->runtime), 16);
	avro_put_optional_string(out, pod_qos_name(owner->qos), 16);
	avro_put_string(out, path, 4096);
	put_process(out, ev);
}

bool systemd_failed(const struct lifecycle_event *ev)
{
	int signal = ev->exit_status & 0x7f;

	if (ev->flags & LC_F_OOM_KILLED)
		return true;
	if (signal)
		return signal != SIGHUP && signal != SIGINT && signal != SIGTERM && signal != SIGPIPE;
	return (ev->exit_status >> 8) & 0xff;
}

void systemd_encode(struct avro_buf *out, const struct lifecycle_event *ev, const char *unit,
		    const char *path, int restart_count)
{
	avro_put_string(out, unit, UNIT_NAME_MAX + 1);
	avro_put_string(out, path, 4096);
	avro_put_long(out, restart_count);
	put_process(out, ev);
}
