/* tapio-producer --probe (probe.h): each collector's programs, one at a time, on this kernel. */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cni.skel.h"
#include "cri.skel.h"
#include "dns.skel.h"
#include "identity.h"
#include "kallsyms.h"
#include "kernel.skel.h"
#include "log.h"
#include "metadata.skel.h"
#include "probe.h"
#include "systemd.skel.h"
#include "verifier_log.h"

#ifndef NETLINK_LISTEN_ALL_NSID
#define NETLINK_LISTEN_ALL_NSID 8
#endif

#define TRACEFS "/sys/kernel/tracing"
#define DEBUGFS_TRACING "/sys/kernel/debug/tracing"
/* Room for the verifier's log of a failed load: at level 1, the path to the error. */
#define VERIFIER_LOG_SIZE (16u << 20)
#define WHY_LEN 384
#define SECTION_LEN 96
#define PROGS_MAX 16

/* One BPF program of a collector's object. */
struct probe_prog {
	const char *name;      /* the program's name in the object */
	const char *publishes; /* the record kinds (or fields) it makes possible */
	/* The collector leaves the program out when its hook is missing, and runs without it. */
	bool optional;
	/* tp_btf: the tracepoint's first argument must be a pointer. Prototypes change across
	 * versions, and a mismatch fails the load; the collectors check the same. */
	bool ptr_arg0;
	/* A kernel symbol whose address the collector writes into the program's .rodata variable
	 * `ksym_var` (code behind a zero address is dead, so the probe must set it too); without
	 * the symbol the collector leaves the program out. */
	const char *ksym;
	const char *ksym_var;
	/* The collector runs when attaching fails: it falls back to a slower path. */
	bool attach_optional;
	/* A BPF helper the program calls that not every kernel has (BPF_FUNC_*, 0 = none); the
	 * collector leaves the program out without it. */
	enum bpf_func_id helper;
	const char *helper_since;
	/* The collector loads this program only where `fallback_for` cannot be (its hook is
	 * missing); elsewhere it is reported "unused". */
	const char *fallback_for;
	/* Said with "missing": the kernel change that decides it. */
	const char *note;
};

/* One collector: its BPF object (the bytes its skeleton embeds) and its programs. */
struct probe_object {
	const char *collector;
	const void *(*elf_bytes)(size_t *size);
	const struct probe_prog *progs;
	size_t nprogs;
	/* A source read from user space besides the programs: 0, or -errno with `why` filled. */
	int (*user_source)(char *why, size_t size);
	const char *user_source_name;
	const char *user_publishes; /* what the collector lacks without it (it runs anyway) */
};

static const char mark_victim_note[] =
	"oom/mark_victim passes the task since v6.9 (\"mm: update mark_victim tracepoints "
	"fields\"), in some stable updates of older series too";

static const struct probe_prog kernel_progs[] = {
	{ .name = "handle_exec", .publishes = "EXEC" },
	{ .name = "handle_exit", .publishes = "EXIT" },
	{ .name = "handle_mark_victim", .publishes = "OOM_KILL", .optional = true,
	  .ptr_arg0 = true, .note = mark_victim_note },
	{ .name = "handle_oom_kprobe", .publishes = "OOM_KILL", .optional = true,
	  .fallback_for = "handle_mark_victim" },
	{ .name = "handle_memcg_reclaim", .publishes = "OOM_KILL.cgroup_oom", .optional = true },
	{ .name = "handle_direct_reclaim", .publishes = "OOM_KILL.cgroup_oom", .optional = true },
	{ .name = "handle_tcp_state", .publishes = "TCP_*", .optional = true, .ptr_arg0 = true },
};

static const struct probe_prog dns_progs[] = {
	{ .name = "dns_egress", .publishes = "RESPONSE + TIMEOUT (packets sent)" },
	{ .name = "dns_ingress", .publishes = "RESPONSE + TIMEOUT (packets received)" },
};

static const struct probe_prog cni_progs[] = {
	{ .name = "cni_fork", .publishes = "NETNS_CREATED (clone)", .optional = true },
	{ .name = "cni_enter_unshare", .publishes = "NETNS_CREATED (unshare)", .optional = true },
	{ .name = "cni_exit_unshare", .publishes = "NETNS_CREATED (unshare)", .optional = true },
	{ .name = "cni_enter_setns", .publishes = "NETNS_ENTERED", .optional = true },
	{ .name = "cni_exit_setns", .publishes = "NETNS_ENTERED", .optional = true },
	{ .name = "cni_work_end", .publishes = "NETNS_DESTROYED", .optional = true,
	  .ksym = "cleanup_net", .ksym_var = "cleanup_net_fn",
	  .helper = BPF_FUNC_for_each_map_elem,
	  .helper_since =
		  "bpf_for_each_map_elem(), v5.13 (\"bpf: add bpf_for_each_map_elem() helper\")" },
	{ .name = "cni_resolve_nsid", .publishes = "LINK_* in other namespaces" },
	{ .name = "cni_rtnl_stamp", .publishes = "LINK_* with the kernel's time",
	  .attach_optional = true },
};

/* cri and systemd share their programs (bpf/lifecycle.bpf.h). */
static const struct probe_prog cri_progs[] = {
	{ .name = "lc_mkdir", .publishes = "CREATED" },
	{ .name = "lc_rmdir", .publishes = "REMOVED" },
	{ .name = "lc_exec", .publishes = "STARTED" },
	{ .name = "lc_exit", .publishes = "EXITED" },
	{ .name = "lc_oom", .publishes = "OOM_KILLED + EXITED.oom_killed", .optional = true,
	  .ptr_arg0 = true, .note = mark_victim_note },
	{ .name = "lc_oom_kprobe", .publishes = "OOM_KILLED + EXITED.oom_killed", .optional = true,
	  .fallback_for = "lc_oom" },
};

static const struct probe_prog systemd_progs[] = {
	{ .name = "lc_mkdir", .publishes = "STARTED" },
	{ .name = "lc_rmdir", .publishes = "STOPPED" },
	{ .name = "lc_exec", .publishes = "MAIN_STARTED + RESTARTED" },
	{ .name = "lc_exit", .publishes = "EXITED + FAILED" },
	{ .name = "lc_oom", .publishes = "OOM_KILLED + EXITED.oom_killed", .optional = true,
	  .ptr_arg0 = true, .note = mark_victim_note },
	{ .name = "lc_oom_kprobe", .publishes = "OOM_KILLED + EXITED.oom_killed", .optional = true,
	  .fallback_for = "lc_oom" },
};

static const struct probe_prog metadata_progs[] = {
	{ .name = "handle_mkdir", .publishes = "CREATED" },
	{ .name = "handle_rmdir", .publishes = "REMOVED" },
};

/* The cni collector's rtnetlink socket, as it opens it (producer/collectors/cni/cni.c). */
static int rtnetlink_all_nsid(char *why, size_t size)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
	int one = 1, err = 0;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0) {
		err = -errno;
		snprintf(why, size, "NETLINK_ROUTE socket: %s", strerror(errno));
		goto out;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		snprintf(why, size, "bind to RTMGRP_LINK: %s", strerror(errno));
		goto out;
	}
	if (setsockopt(fd, SOL_NETLINK, NETLINK_LISTEN_ALL_NSID, &one, sizeof(one)) < 0) {
		err = -errno;
		snprintf(why, size, "NETLINK_LISTEN_ALL_NSID: %s", strerror(errno));
	}
out:
	if (fd >= 0)
		close(fd);
	return err;
}

#define PROGS(a) .progs = a, .nprogs = sizeof(a) / sizeof(a[0])

static const struct probe_object objects[] = {
	{ .collector = "kernel", .elf_bytes = kernel_bpf__elf_bytes, PROGS(kernel_progs) },
	{ .collector = "dns", .elf_bytes = dns_bpf__elf_bytes, PROGS(dns_progs) },
	{ .collector = "cni", .elf_bytes = cni_bpf__elf_bytes, PROGS(cni_progs),
	  .user_source = rtnetlink_all_nsid,
	  .user_source_name = "rtnetlink link notifications (NETLINK_LISTEN_ALL_NSID)",
	  .user_publishes = "LINK_*" },
	{ .collector = "cri", .elf_bytes = cri_bpf__elf_bytes, PROGS(cri_progs) },
	{ .collector = "systemd", .elf_bytes = systemd_bpf__elf_bytes, PROGS(systemd_progs) },
	{ .collector = "metadata", .elf_bytes = metadata_bpf__elf_bytes, PROGS(metadata_progs) },
};

#define OBJECT_COUNT (sizeof(objects) / sizeof(objects[0]))

/* SPARE: a fallback that attaches here, where the collector uses the program it stands in for. */
enum verdict { ATTACHED, MISSING, FAILED, SPARE };

static const char *const verdict_names[] = { "attached", "missing", "failed", "spare" };

struct prog_result {
	enum verdict verdict;
	bool loaded; /* the verifier took it (it may still have failed to attach) */
	char section[SECTION_LEN];
	char why[WHY_LEN];
};

struct probe {
	struct btf *vmlinux; /* NULL: the kernel has no BTF */
	char cgroup_root[PATH_MAX];
	bool have_cgroup;
	const char *tracefs; /* NULL: not mounted */
	char *log;           /* VERIFIER_LOG_SIZE bytes for the load being tried */
};

/* The first telling libbpf warning of the load or attach being tried. */
static char libbpf_note[WHY_LEN];

static int probe_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	static const char *const noise[] = {
		"BPF program load failed", "-- BEGIN PROG LOAD LOG", "-- END PROG LOAD LOG",
		"failed to load object", "failed to load BPF skeleton", "failed to load program",
	};
	char line[WHY_LEN];
	const char *s = line;
	size_t n;

	if (level != LIBBPF_WARN || libbpf_note[0])
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	for (size_t i = 0; i < sizeof(noise) / sizeof(noise[0]); i++)
		if (strstr(line, noise[i]))
			return 0;
	if (!strncmp(s, "libbpf: ", 8))
		s += 8;
	n = strcspn(s, "\n");
	snprintf(libbpf_note, sizeof(libbpf_note), "%.*s", (int)n, s);
	return 0;
}

/* Classic tracepoints need tracefs; the cni collector mounts it the same way when nobody did. */
static const char *find_tracefs(void)
{
	if (access(TRACEFS "/events", F_OK) == 0)
		return TRACEFS;
	if (access(DEBUGFS_TRACING "/events", F_OK) == 0)
		return DEBUGFS_TRACING;
	if (mount("tracefs", TRACEFS, "tracefs", 0, NULL) == 0)
		return TRACEFS;
	return NULL;
}

/* True when tracepoint `tp` is in the kernel's BTF and, if `ptr_arg0`, its first argument (after
 * the context) is a pointer; otherwise `why` says what is missing. */
static bool btf_tracepoint(const struct probe *p, const char *tp, bool ptr_arg0, char *why,
			   size_t size)
{
	const struct btf_type *t;
	char name[160];
	int id;

	if (!p->vmlinux) {
		snprintf(why, size, "the kernel has no BTF (/sys/kernel/btf/vmlinux)");
		return false;
	}
	snprintf(name, sizeof(name), "btf_trace_%s", tp);
	id = btf__find_by_name_kind(p->vmlinux, name, BTF_KIND_TYPEDEF);
	if (id < 0) {
		snprintf(why, size, "no tracepoint %s in this kernel", tp);
		return false;
	}
	if (!ptr_arg0)
		return true;
	t = btf__type_by_id(p->vmlinux, btf__type_by_id(p->vmlinux, id)->type);
	t = t && btf_is_ptr(t) ? btf__type_by_id(p->vmlinux, t->type) : NULL;
	if (t && btf_is_func_proto(t) && btf_vlen(t) >= 2) {
		t = btf__type_by_id(p->vmlinux, btf_params(t)[1].type);
		while (t && (btf_is_mod(t) || btf_is_typedef(t)))
			t = btf__type_by_id(p->vmlinux, t->type);
		if (t && btf_is_ptr(t))
			return true;
	}
	snprintf(why, size, "tracepoint %s passes no pointer as its first argument here", tp);
	return false;
}

/* The program type of a section, for probing helpers (the sections used in bpf/). */
static enum bpf_prog_type bpf_prog_type_of(const char *sec)
{
	if (!strncmp(sec, "tp_btf/", 7))
		return BPF_PROG_TYPE_TRACING;
	if (!strncmp(sec, "raw_tp", 6))
		return BPF_PROG_TYPE_RAW_TRACEPOINT;
	if (!strncmp(sec, "tracepoint/", 11) || !strncmp(sec, "tp/", 3))
		return BPF_PROG_TYPE_TRACEPOINT;
	if (!strncmp(sec, "kprobe/", 7) || !strncmp(sec, "kretprobe/", 10))
		return BPF_PROG_TYPE_KPROBE;
	if (!strncmp(sec, "cgroup_skb/", 11))
		return BPF_PROG_TYPE_CGROUP_SKB;
	return BPF_PROG_TYPE_SOCKET_FILTER;
}

/* Whether the hook a program's section names exists here; `why` says what is missing. */
static bool hook_present(const struct probe *p, const struct probe_prog *pp, const char *sec,
			 char *why, size_t size)
{
	const char *rest;
	char path[PATH_MAX];

	if (!strncmp(sec, "tp_btf/", 7) || !strncmp(sec, "raw_tp/", 7)) {
		if (!btf_tracepoint(p, strchr(sec, '/') + 1, pp->ptr_arg0, why, size))
			return false;
	} else if (!strncmp(sec, "tracepoint/", 11) || !strncmp(sec, "tp/", 3)) {
		rest = strchr(sec, '/') + 1;
		if (!p->tracefs) {
			snprintf(why, size, "tracefs is not mounted (needed for tracepoint %s)",
				 rest);
			return false;
		}
		snprintf(path, sizeof(path), "%s/events/%s", p->tracefs, rest);
		if (access(path, F_OK) != 0) {
			snprintf(why, size, "no tracepoint %s in this kernel (%.200s)", rest, path);
			return false;
		}
	} else if (!strncmp(sec, "kprobe/", 7) || !strncmp(sec, "kretprobe/", 10)) {
		if (!kprobe_usable(strchr(sec, '/') + 1, why, size))
			return false;
	}
	if (pp->helper && libbpf_probe_bpf_helper(bpf_prog_type_of(sec), pp->helper, NULL) != 1) {
		snprintf(why, size, "the kernel lacks %s", pp->helper_since);
		return false;
	}
	if (pp->ksym && !kallsyms_address(pp->ksym)) {
		snprintf(why, size, "no address for %s in /proc/kallsyms", pp->ksym);
		return false;
	}
	return true;
}

/* Writes a u64 into the .rodata variable `var` of an opened, not yet loaded object. */
static int rodata_set_u64(struct bpf_object *obj, const char *var, uint64_t value)
{
	struct btf *btf = bpf_object__btf(obj);
	const struct btf_var_secinfo *vs;
	const struct btf_type *sec;
	struct bpf_map *map, *rodata = NULL;
	const void *initial;
	size_t size = 0, n;
	const char *name;
	char *data;
	int id, err;

	id = btf ? btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC) : -ENOENT;
	if (id < 0)
		return -ENOENT;
	bpf_object__for_each_map(map, obj) {
		name = bpf_map__name(map);
		n = strlen(name);
		if (bpf_map__is_internal(map) && n >= 7 && !strcmp(name + n - 7, ".rodata")) {
			rodata = map;
			break;
		}
	}
	initial = rodata ? bpf_map__initial_value(rodata, &size) : NULL;
	if (!initial)
		return -ENOENT;
	sec = btf__type_by_id(btf, id);
	vs = btf_var_secinfos(sec);
	for (int i = 0; i < btf_vlen(sec); i++, vs++) {
		const struct btf_type *v = btf__type_by_id(btf, vs->type);

		if (strcmp(btf__name_by_offset(btf, v->name_off), var))
			continue;
		if (vs->size != sizeof(value) || vs->offset + sizeof(value) > size)
			return -EINVAL;
		data = malloc(size);
		if (!data)
			return -ENOMEM;
		memcpy(data, initial, size);
		memcpy(data + vs->offset, &value, sizeof(value));
		err = bpf_map__set_initial_value(rodata, data, size);
		free(data);
		return err;
	}
	return -ENOENT;
}

/* Opens the collector's object with only `pp` to load, and loads it. 0 with *objp (the caller
 * closes it), or -errno with `why` filled (*objp NULL). */
static int load_one(struct probe *p, const struct probe_object *po, const struct probe_prog *pp,
		    struct bpf_object **objp, char *why, size_t size)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = po->collector);
	struct bpf_program *prog, *target = NULL;
	struct bpf_object *obj;
	char line[WHY_LEN - 16];
	const void *bytes;
	size_t len;
	int err;

	*objp = NULL;
	bytes = po->elf_bytes(&len);
	libbpf_note[0] = '\0';
	obj = bpf_object__open_mem(bytes, len, &opts);
	if (!obj) {
		err = -errno;
		snprintf(why, size, "cannot open the BPF object: %.300s",
			 libbpf_note[0] ? libbpf_note : strerror(-err));
		return err;
	}
	bpf_object__for_each_program(prog, obj) {
		bool me = !strcmp(bpf_program__name(prog), pp->name);

		bpf_program__set_autoload(prog, me);
		if (me)
			target = prog;
	}
	if (!target) {
		err = -ENOENT;
		snprintf(why, size, "no program %s in the %s object (probe table out of date)",
			 pp->name, po->collector);
		goto out;
	}
	if (pp->ksym_var) {
		err = rodata_set_u64(obj, pp->ksym_var, kallsyms_address(pp->ksym));
		if (err) {
			snprintf(why, size, "no .rodata variable %s in the %s object", pp->ksym_var,
				 po->collector);
			goto out;
		}
	}
	/* Read by libbpf only when a load fails: it then retries at log level 1 into it. */
	p->log[0] = '\0';
	bpf_program__set_log_buf(target, p->log, VERIFIER_LOG_SIZE);
	err = bpf_object__load(obj);
	if (err) {
		/* The whole log for a person who wants more than its reason. */
		if (log_level_current >= LOG_DEBUG && p->log[0])
			fprintf(stderr, "probe: %s: the verifier's log:\n%s\n", pp->name, p->log);
		if (verifier_log_error(p->log, VERIFIER_LOG_SIZE, line, sizeof(line)))
			snprintf(why, size, "verifier: %s", line);
		else
			snprintf(why, size, "%s", libbpf_note[0] ? libbpf_note : strerror(-err));
		goto out;
	}
	*objp = obj;
	return 0;
out:
	bpf_object__close(obj);
	return err;
}

/* Attaches a loaded program where its collector would, then detaches it. 0, or -errno with
 * `why` filled. */
static int attach_one(const struct probe *p, struct bpf_program *prog, char *why, size_t size)
{
	const char *sec = bpf_program__section_name(prog);
	struct bpf_link *link = NULL;
	int fd = -1, prog_fd = bpf_program__fd(prog), err = 0;

	libbpf_note[0] = '\0';
	switch (bpf_program__type(prog)) {
	case BPF_PROG_TYPE_CGROUP_SKB:
		if (!p->have_cgroup) {
			snprintf(why, size, "no cgroup v2 mount to attach to");
			return -ENOENT;
		}
		fd = open(p->cgroup_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			err = -errno;
			snprintf(why, size, "cannot open %.200s: %s", p->cgroup_root,
				 strerror(errno));
			goto out;
		}
		link = bpf_program__attach_cgroup(prog, fd);
		break;
	case BPF_PROG_TYPE_SOCKET_FILTER:
		fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
		if (fd < 0 ||
		    setsockopt(fd, SOL_SOCKET, SO_ATTACH_BPF, &prog_fd, sizeof(prog_fd))) {
			err = -errno;
			snprintf(why, size, "SO_ATTACH_BPF on a NETLINK_ROUTE socket: %s",
				 strerror(errno));
		}
		goto out;
	case BPF_PROG_TYPE_RAW_TRACEPOINT:
		if (!strchr(sec, '/')) {
			/* Run by hand (BPF_PROG_TEST_RUN), never attached: run it once. */
			uint64_t args[2] = { UINT64_MAX, UINT64_MAX };
			LIBBPF_OPTS(bpf_test_run_opts, run, .ctx_in = args,
				    .ctx_size_in = sizeof(args));

			if (bpf_prog_test_run_opts(prog_fd, &run)) {
				err = -errno;
				snprintf(why, size, "BPF_PROG_TEST_RUN: %s", strerror(errno));
			}
			goto out;
		}
		link = bpf_program__attach(prog);
		break;
	default:
		link = bpf_program__attach(prog);
		break;
	}
	if (!link) {
		err = -errno;
		snprintf(why, size, "attach: %.300s",
			 libbpf_note[0] ? libbpf_note : strerror(-err));
	}
out:
	bpf_link__destroy(link);
	if (fd >= 0)
		close(fd);
	return err;
}

static void probe_program(struct probe *p, const struct probe_object *po,
			  const struct probe_prog *pp, struct prog_result *r)
{
	struct bpf_object *obj = NULL, *peek;
	struct bpf_program *prog;
	const void *bytes;
	size_t len;

	r->why[0] = '\0';
	r->loaded = false;
	snprintf(r->section, sizeof(r->section), "?");
	/* The section (the hook) comes from the object itself. */
	bytes = po->elf_bytes(&len);
	peek = bpf_object__open_mem(bytes, len, NULL);
	if (peek) {
		prog = bpf_object__find_program_by_name(peek, pp->name);
		if (prog)
			snprintf(r->section, sizeof(r->section), "%s",
				 bpf_program__section_name(prog));
		bpf_object__close(peek);
	}
	if (!hook_present(p, pp, r->section, r->why, sizeof(r->why))) {
		r->verdict = MISSING;
		return;
	}
	if (load_one(p, po, pp, &obj, r->why, sizeof(r->why))) {
		r->verdict = FAILED;
		return;
	}
	r->loaded = true;
	prog = bpf_object__find_program_by_name(obj, pp->name);
	r->verdict = attach_one(p, prog, r->why, sizeof(r->why)) ? FAILED : ATTACHED;
	bpf_object__close(obj);
}

/* The result of the program named `name`, among the first `n` probed. */
static struct prog_result *find_result(const struct probe_object *po, struct prog_result *res,
				       size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(po->progs[i].name, name))
			return &res[i];
	return NULL;
}

/* Appends `item` to the comma-separated `list` unless it is there already. */
static void list_add(char *list, size_t size, const char *item)
{
	size_t n = strlen(list), m = strlen(item);

	for (const char *s = list; (s = strstr(s, item)); s += m)
		if ((s == list || s[-2] == ',') && (s[m] == '\0' || s[m] == ','))
			return;
	snprintf(list + n, size - n, "%s%s", n ? ", " : "", item);
}

/* Probes one collector and prints its section of the report. True when it can run. */
static bool probe_collector(struct probe *p, const struct probe_object *po, const char *topic,
			    FILE *out)
{
	struct prog_result res[PROGS_MAX];
	char yes[512] = "", no[512] = "", blocker[WHY_LEN + 64] = "", why[WHY_LEN] = "";
	bool runs = true, user_ok = true;

	for (size_t i = 0; i < po->nprogs && i < PROGS_MAX; i++) {
		const struct probe_prog *pp = &po->progs[i];
		struct prog_result *r = &res[i], *primary;
		bool blocks;

		probe_program(p, po, pp, r);
		/* The collector loads every program it does not leave out, together: one that the
		 * kernel refuses stops it; a missing hook stops it only when it is required. A
		 * fallback is loaded only where the program it stands in for is not. */
		primary = pp->fallback_for ? find_result(po, res, i, pp->fallback_for) : NULL;
		if (primary && primary->verdict == ATTACHED) {
			blocks = false;
			if (r->verdict == ATTACHED) {
				r->verdict = SPARE;
				snprintf(r->why, sizeof(r->why), "the collector uses %s here",
					 pp->fallback_for);
			}
		} else if (r->verdict == MISSING) {
			blocks = !pp->optional;
		} else if (r->verdict == FAILED) {
			blocks = !(pp->attach_optional && r->loaded);
		} else {
			blocks = false;
		}
		if (blocks && runs) {
			runs = false;
			snprintf(blocker, sizeof(blocker), "%s %s: %s", pp->name,
				 verdict_names[r->verdict], r->why);
		}
		if (r->verdict == ATTACHED)
			list_add(yes, sizeof(yes), pp->publishes);
	}
	for (size_t i = 0; i < po->nprogs && i < PROGS_MAX; i++)
		if (res[i].verdict != ATTACHED && res[i].verdict != SPARE &&
		    !strstr(yes, po->progs[i].publishes))
			list_add(no, sizeof(no), po->progs[i].publishes);
	if (po->user_source && po->user_source(why, sizeof(why))) {
		user_ok = false;
		list_add(no, sizeof(no), po->user_publishes);
	}

	if (!runs)
		fprintf(out, "%s -> %s: cannot run (%s)\n", po->collector, topic, blocker);
	else if (no[0])
		fprintf(out, "%s -> %s: runs, without %s\n", po->collector, topic, no);
	else
		fprintf(out, "%s -> %s: runs\n", po->collector, topic);
	for (size_t i = 0; i < po->nprogs && i < PROGS_MAX; i++) {
		const struct probe_prog *pp = &po->progs[i];

		fprintf(out, "  %-8s %-22s %-40s %s\n", verdict_names[res[i].verdict], pp->name,
			res[i].section, pp->publishes);
		if (res[i].verdict == SPARE)
			fprintf(out, "           why: %s\n", res[i].why);
		else if (res[i].verdict != ATTACHED)
			fprintf(out, "           why: %s%s%s\n", res[i].why, pp->note ? "; " : "",
				pp->note ? pp->note : "");
	}
	if (po->user_source) {
		fprintf(out, "  %-8s %-63s %s\n", user_ok ? "open" : "failed", po->user_source_name,
			po->user_publishes);
		if (!user_ok)
			fprintf(out, "           why: %s\n", why);
	}
	if (runs) {
		fprintf(out, "  publishes: %s\n", yes[0] ? yes : "nothing");
		if (no[0])
			fprintf(out, "  not on this kernel: %s\n", no);
	}
	fputc('\n', out);
	return runs;
}

int probe_table_check(char *errstr, size_t errstr_size)
{
	const struct probe_object *po;
	struct bpf_program *prog;
	struct bpf_object *obj;
	const void *bytes;
	size_t len, i, j;
	int err = 0;

	for (i = 0; i < OBJECT_COUNT && !err; i++) {
		po = &objects[i];
		bytes = po->elf_bytes(&len);
		obj = bpf_object__open_mem(bytes, len, NULL);
		if (!obj) {
			snprintf(errstr, errstr_size, "%s: cannot open its object", po->collector);
			return -EINVAL;
		}
		bpf_object__for_each_program(prog, obj) {
			for (j = 0; j < po->nprogs; j++)
				if (!strcmp(po->progs[j].name, bpf_program__name(prog)))
					break;
			if (j == po->nprogs) {
				snprintf(errstr, errstr_size,
					 "%s: program %s is not in the probe table", po->collector,
					 bpf_program__name(prog));
				err = -ENOENT;
				break;
			}
		}
		for (j = 0; j < po->nprogs && !err; j++) {
			if (!bpf_object__find_program_by_name(obj, po->progs[j].name)) {
				snprintf(errstr, errstr_size,
					 "%s: the probe table's %s is not in the object",
					 po->collector, po->progs[j].name);
				err = -ENOENT;
			}
		}
		bpf_object__close(obj);
	}
	return err;
}

int probe_run(const struct tapio_config *cfg, FILE *out)
{
	libbpf_print_fn_t saved = libbpf_set_print(probe_print);
	struct probe p = { 0 };
	struct utsname u;
	char topic[256], failed[256] = "";
	int wanted = 0, running = 0, status = 1;

	p.log = malloc(VERIFIER_LOG_SIZE);
	if (!p.log) {
		fprintf(out, "probe: out of memory\n");
		goto out;
	}
	p.vmlinux = btf__load_vmlinux_btf();
	p.have_cgroup = cgroup2_root_find(p.cgroup_root, sizeof(p.cgroup_root)) == 0;
	p.tracefs = find_tracefs();
	if (uname(&u) == 0)
		fprintf(out, "tapio-producer %s probe on Linux %s %s (%s)\n", TAPIO_VERSION,
			u.release, u.version, u.machine);
	fprintf(out, "  kernel BTF: %s\n", p.vmlinux ? "/sys/kernel/btf/vmlinux" : "none");
	fprintf(out, "  cgroup v2:  %s\n", p.have_cgroup ? p.cgroup_root : "not mounted");
	fprintf(out, "  tracefs:    %s\n\n", p.tracefs ? p.tracefs : "not mounted");

	for (size_t i = 0; i < OBJECT_COUNT; i++) {
		const struct probe_object *po = &objects[i];
		bool always = !strcmp(po->collector, "metadata");

		if (!always && !config_has_collector(cfg, po->collector))
			continue;
		snprintf(topic, sizeof(topic), "%s%s", cfg->topic_prefix, po->collector);
		wanted++;
		if (probe_collector(&p, po, topic, out))
			running++;
		else
			list_add(failed, sizeof(failed), po->collector);
	}
	if (running == wanted)
		fprintf(out, "probe: all %d collectors can run (metadata included)\n", wanted);
	else
		fprintf(out, "probe: %d of %d collectors can run; not: %s\n", running, wanted,
			failed);
	status = running == wanted ? 0 : 1;
out:
	btf__free(p.vmlinux);
	free(p.log);
	libbpf_set_print(saved);
	return status;
}
