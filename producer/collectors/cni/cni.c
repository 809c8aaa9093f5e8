/*
 * Collector `cni`: network namespaces (bpf/cni.bpf.c) and the interfaces in them →
 * schemas/cni.avsc.
 *
 * No tracepoint reports a network device being registered, moved or unregistered, so interfaces
 * come from rtnetlink: one NETLINK_ROUTE socket in the producer's namespace, subscribed to link
 * notifications with NETLINK_LISTEN_ALL_NSID, which also delivers those of every namespace that
 * has an nsid here. The nsid is turned into the namespace's inode by a BPF resolver. A socket
 * per namespace would see all of them but keep every namespace alive (user sockets hold a
 * reference), so it is not an option. A BPF socket filter on the socket writes a stamp into the
 * collector's ring buffer as each notification is delivered; the notification is read when its
 * stamp comes out of the ring, so link records carry the kernel's time and keep their order
 * among the namespace records. The socket is the collector's wake fd: a notification queued
 * after its stamp was read (the filter runs just before it is queued) is read when it arrives,
 * never waited for. Without the filter, notifications are read as they arrive.
 */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cni.skel.h"
#include "cni_collector.h"
#include "kallsyms.h"
#include "log.h"
#include "pipeline.h"

#ifndef NETLINK_LISTEN_ALL_NSID
#define NETLINK_LISTEN_ALL_NSID 8
#endif

#define TRACEFS "/sys/kernel/tracing"
#define NL_BUF_SIZE 65536
#define NL_RCVBUF (4 << 20)
#define NETNS_TABLE_BITS 14
#define NETNS_TABLE_MAX (1u << NETNS_TABLE_BITS) /* namespaces followed at once, less one */
/* A stamped notification is queued microseconds after its stamp: wait at most this long. */
#define STAMPS_MAX 256 /* stamps whose notification was not read yet */

/* Which cgroup speaks for a namespace: its creator's, or the first pod process seen entering. */
struct netns_owner {
	uint64_t inum; /* 0 = free */
	uint64_t cgroup_id;
	bool pod;
};

static struct cni_bpf *skel;
static int nl_fd = -1;
static uint64_t own_netns, root_cgroup = 1;
static struct netns_owner *owners; /* open addressing on inum, linear probing */
static size_t owners_used;
static uint8_t *nl_buf;
static uint64_t nl_overruns, nl_unmatched;
static bool stamped; /* the socket filter is attached */
/* Stamps read from the ring, oldest first, each waiting for its notification on nl_fd. */
static struct {
	uint64_t ktime_ns;
	uint32_t len;
} stamps[STAMPS_MAX];
static unsigned stamp_head, stamp_count;

static bool tracepoint_exists(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), TRACEFS "/events/syscalls/%s", name);
	return access(path, F_OK) == 0;
}

/* Classic tracepoints need tracefs. An existing mount comes first (in a container, the host's
 * /sys/kernel/tracing as a volume: runtimes' AppArmor profiles refuse mount even with
 * CAP_SYS_ADMIN); only when there is none is it mounted where libbpf looks. */
static void ensure_tracefs(void)
{
	static const char *const existing[] = { TRACEFS, "/sys/kernel/debug/tracing" };
	char events[64];

	for (size_t i = 0; i < sizeof(existing) / sizeof(existing[0]); i++) {
		snprintf(events, sizeof(events), "%s/events", existing[i]);
		if (access(events, F_OK) == 0) {
			log_info("cni: using the tracefs mounted on %s", existing[i]);
			return;
		}
	}
	if (mount("tracefs", TRACEFS, "tracefs", 0, NULL) < 0)
		log_warn("cni: tracefs not mounted and mounting it on " TRACEFS " failed: %s",
			 strerror(errno));
	else
		log_info("cni: mounted tracefs on " TRACEFS " for the syscall tracepoints");
}

static bool btf_has_tracepoint(const char *tp)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	char name[128];
	bool ok;

	if (!vmlinux)
		return true; /* let the load say */
	snprintf(name, sizeof(name), "btf_trace_%s", tp);
	ok = btf__find_by_name_kind(vmlinux, name, BTF_KIND_TYPEDEF) >= 0;
	btf__free(vmlinux);
	return ok;
}

/* Leaves out, with a line each, the programs whose hook this kernel or host lacks. */
static void disable_missing_hooks(void)
{
	static const struct {
		const char *tp;
		const char *loss;
	} syscalls[] = {
		{ "sys_enter_unshare", "no NETNS_CREATED for unshare()" },
		{ "sys_exit_unshare", "no NETNS_CREATED for unshare()" },
		{ "sys_enter_setns", "no NETNS_ENTERED" },
		{ "sys_exit_setns", "no NETNS_ENTERED" },
	};
	struct bpf_program *progs[] = {
		skel->progs.cni_enter_unshare, skel->progs.cni_exit_unshare,
		skel->progs.cni_enter_setns, skel->progs.cni_exit_setns,
	};
	uint64_t cleanup;
	bool for_each;

	ensure_tracefs();
	for (size_t i = 0; i < sizeof(syscalls) / sizeof(syscalls[0]); i++) {
		if (tracepoint_exists(syscalls[i].tp))
			continue;
		log_warn("cni: no tracepoint syscalls:%s: %s", syscalls[i].tp, syscalls[i].loss);
		bpf_program__set_autoload(progs[i], false);
	}
	if (!btf_has_tracepoint("sched_process_fork")) {
		log_warn("cni: no sched_process_fork tracepoint: no NETNS_CREATED for clone()");
		bpf_program__set_autoload(skel->progs.cni_fork, false);
	}
	cleanup = kallsyms_address("cleanup_net");
	/* The cleanup check walks netns_live with bpf_for_each_map_elem(), new in v5.13. */
	for_each = libbpf_probe_bpf_helper(BPF_PROG_TYPE_RAW_TRACEPOINT,
					   BPF_FUNC_for_each_map_elem, NULL) == 1;
	if (!cleanup || !for_each || !btf_has_tracepoint("workqueue_execute_end")) {
		log_warn("cni: %s: no NETNS_DESTROYED records",
			 !for_each ? "no bpf_for_each_map_elem() in this kernel (before 5.13)" :
			 cleanup ? "no workqueue_execute_end tracepoint" :
				   "no address for cleanup_net (the netns cleanup work) in /proc/kallsyms "
				   "(absent, or hidden by kptr_restrict without CAP_SYSLOG)");
		bpf_program__set_autoload(skel->progs.cni_work_end, false);
	}
	skel->rodata->cleanup_net_fn = cleanup;
	/* Run by hand (BPF_PROG_TEST_RUN), never attached. */
	bpf_program__set_autoattach(skel->progs.cni_resolve_nsid, false);
}

static int open_rtnetlink(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
	int one = 1, size = NL_RCVBUF;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	/* Past the default limit (root only), so a burst between two reads is not lost. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    setsockopt(fd, SOL_NETLINK, NETLINK_LISTEN_ALL_NSID, &one, sizeof(one)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static uint64_t inode_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

static int cni_open(struct collector_runtime *c, struct collector_io *io)
{
	const struct tapio_config *cfg = c->pipeline->cfg;
	int err;

	owners = calloc(NETNS_TABLE_MAX, sizeof(*owners));
	owners_used = 0;
	nl_buf = malloc(NL_BUF_SIZE);
	if (!owners || !nl_buf)
		return -ENOMEM;
	skel = cni_bpf__open();
	if (!skel) {
		err = -errno;
		log_error("cni: cannot open BPF object: %s", strerror(-err));
		return err;
	}
	bpf_map__set_max_entries(skel->maps.events, (uint32_t)cfg->ringbuf_kb << 10);
	disable_missing_hooks();
	err = cni_bpf__load(skel);
	if (err) {
		log_error("cni: cannot load BPF programs: %s", strerror(-err));
		return err;
	}
	err = cni_bpf__attach(skel);
	if (err) {
		log_error("cni: cannot attach its programs: %s", strerror(-err));
		return err;
	}
	own_netns = inode_of("/proc/self/ns/net");
	/* rtnetlink sees from the producer's own namespace; in a pod without hostNetwork that is
	 * not the host's, whose interfaces (the host ends of veth pairs) are then not seen. */
	if (own_netns && inode_of("/proc/1/ns/net") && own_netns != inode_of("/proc/1/ns/net"))
		log_warn("cni: not in the host's network namespace (that of PID 1): interfaces are "
			 "seen from the producer's own; run it with hostNetwork");
	nl_fd = open_rtnetlink();
	stamped = false;
	if (nl_fd < 0) {
		log_warn("cni: rtnetlink link notifications (NETLINK_LISTEN_ALL_NSID): %s: no LINK_* "
			 "records", strerror(-nl_fd));
		nl_fd = -1;
	} else {
		int prog = bpf_program__fd(skel->progs.cni_rtnl_stamp);

		stamped = setsockopt(nl_fd, SOL_SOCKET, SO_ATTACH_BPF, &prog, sizeof(prog)) == 0;
		if (!stamped)
			log_warn("cni: cannot attach the rtnetlink socket filter (%s): LINK_* records "
				 "carry the time they were read", strerror(errno));
	}
	stamp_head = stamp_count = 0;
	io->ring_fd = bpf_map__fd(skel->maps.events);
	io->counters_fd = bpf_map__fd(skel->maps.reserve_failures);
	io->wake_fd = nl_fd;
	return 0;
}

static size_t owner_home(uint64_t inum)
{
	return (size_t)((inum * 0x9e3779b97f4a7c15ull) >> (64 - NETNS_TABLE_BITS));
}

/* The namespace's slot, made if `create`; NULL when absent or full. A lookup stops at the first
 * free slot, so one slot always stays free (a scan of the whole table cost 47 000 instructions
 * per record, make bench's cni_netns row). */
static struct netns_owner *owner_find(uint64_t inum, bool create)
{
	size_t i = owner_home(inum);

	if (!inum)
		return NULL;
	for (;; i = (i + 1) & (NETNS_TABLE_MAX - 1)) {
		if (owners[i].inum == inum)
			return &owners[i];
		if (!owners[i].inum)
			break;
	}
	if (!create || owners_used + 1 >= NETNS_TABLE_MAX)
		return NULL;
	owners_used++;
	owners[i] = (struct netns_owner){ .inum = inum };
	return &owners[i];
}

/* Frees o's slot and moves back the entries after it that it displaced, so that no lookup
 * meets a free slot before its entry. */
static void owner_remove(struct netns_owner *o)
{
	size_t hole = (size_t)(o - owners), j = hole;

	for (;;) {
		size_t home;

		j = (j + 1) & (NETNS_TABLE_MAX - 1);
		if (!owners[j].inum)
			break;
		home = owner_home(owners[j].inum);
		/* Entry j may fill the hole unless its home lies cyclically in (hole, j]. */
		if (hole <= j ? (home <= hole || home > j) : (home <= hole && home > j)) {
			owners[hole] = owners[j];
			hole = j;
		}
	}
	owners[hole] = (struct netns_owner){ 0 };
	owners_used--;
}

static uint64_t owner_cgroup(uint64_t inum)
{
	struct netns_owner *o = inum ? owner_find(inum, false) : NULL;

	return o ? o->cgroup_id : root_cgroup;
}

/* The last inode each nsid of ours resolved to: a notification read after its namespace died
 * (and lost its nsid) still names it. Entries go when that namespace's destruction is seen. */
#define NSID_CACHE 1024
static uint64_t nsid_inum[NSID_CACHE];

static void forget_inum(uint64_t inum)
{
	for (size_t i = 0; i < NSID_CACHE; i++)
		if (nsid_inum[i] == inum)
			nsid_inum[i] = 0;
}

static uint64_t run_resolver(uint64_t args[2])
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = args, .ctx_size_in = 2 * sizeof(uint64_t));

	if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.cni_resolve_nsid), &opts) < 0)
		return 0;
	return opts.retval;
}

/* nsid → inode, through the BPF resolver: `nsid` names a namespace in the producer's (NONE: the
 * producer's own), `nsid_inside` one in that namespace (NONE: that namespace itself). */
static uint64_t resolve(int32_t nsid, int32_t nsid_inside)
{
	uint64_t args[2] = { (uint64_t)(int64_t)nsid, (uint64_t)(int64_t)nsid_inside };
	uint64_t inum;

	if (nsid == CNI_NSID_NONE && nsid_inside == CNI_NSID_NONE)
		return own_netns;
	if (nsid == CNI_NSID_NONE) /* relative to our own namespace */
		args[0] = (uint64_t)(int64_t)nsid_inside, args[1] = (uint64_t)-1;
	inum = run_resolver(args);
	if (args[1] == (uint64_t)-1 && args[0] < NSID_CACHE) {
		if (inum)
			nsid_inum[args[0]] = inum;
		else
			inum = nsid_inum[args[0]];
	}
	return inum;
}

static void publish_link(struct collector_runtime *c, struct cni_link *l, int32_t msg_nsid,
			 uint64_t ktime_ns)
{
	struct avro_buf *out;

	l->netns_inum = resolve(msg_nsid, CNI_NSID_NONE);
	l->peer_netns_inum = l->peer_nsid != CNI_NSID_NONE ? resolve(msg_nsid, l->peer_nsid) : 0;
	l->moved_to_netns_inum = l->moved_to_nsid != CNI_NSID_NONE ?
					 resolve(msg_nsid, l->moved_to_nsid) : 0;
	out = pipeline_begin(c, ktime_ns, owner_cgroup(l->netns_inum), l->kind);
	cni_encode_link(out, l);
	pipeline_commit(c);
}

static uint64_t boottime_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_BOOTTIME, &now);
	return (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
}

/* Reads one notification datagram and publishes its link records at ktime_ns (0: now).
 * Returns its length, 0 when there was none, or -errno. */
static ssize_t read_one(struct collector_runtime *c, uint64_t ktime_ns)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { nl_buf, NL_BUF_SIZE };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
			     .msg_controllen = sizeof(control) };
	int32_t nsid = CNI_NSID_NONE;
	struct nlmsghdr *nh;
	struct cmsghdr *cm;
	ssize_t n = recvmsg(nl_fd, &mh, 0), left;

	if (n < 0 && errno == ENOBUFS) {
		/* The socket overflowed: those notifications are gone; say it once. */
		if (nl_overruns++ == 0)
			log_warn("cni: rtnetlink socket overran: link records lost (counting)");
		return -ENOBUFS;
	}
	if (n <= 0)
		return n < 0 ? -errno : 0;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_NETLINK && cm->cmsg_type == NETLINK_LISTEN_ALL_NSID &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(int)))
			memcpy(&nsid, CMSG_DATA(cm), sizeof(nsid));
	left = n;
	for (nh = (struct nlmsghdr *)nl_buf; NLMSG_OK(nh, (size_t)left); nh = NLMSG_NEXT(nh, left)) {
		struct cni_link l;

		if (cni_parse_link(nh, nh->nlmsg_len, &l) == 0 && l.kind != CNI_UNKNOWN)
			publish_link(c, &l, nsid, ktime_ns ? ktime_ns : boottime_ns());
	}
	return n;
}

static void count_unmatched(ssize_t got, uint32_t want)
{
	if (nl_unmatched++ == 0)
		log_warn("cni: an rtnetlink notification did not match its stamp (%zd bytes, stamp "
			 "says %u); counting", got, want);
}

/*
 * Pairs pending stamps with their notifications, oldest first, without waiting: a notification
 * is queued right after its filter ran, so one not there yet arrives with the next wake-up.
 */
static void read_stamped(struct collector_runtime *c)
{
	while (stamp_count) {
		ssize_t n = read_one(c, stamps[stamp_head].ktime_ns);

		if (n == -EAGAIN)
			return;
		if (n == -ENOBUFS) {
			/* Notifications were dropped: which stamps they were is unknown. */
			for (; stamp_count; stamp_count--)
				count_unmatched(0, stamps[stamp_head].len);
			return;
		}
		if (n != (ssize_t)stamps[stamp_head].len)
			count_unmatched(n, stamps[stamp_head].len);
		stamp_head = (stamp_head + 1) % STAMPS_MAX;
		stamp_count--;
	}
}

/* Every pending notification, at the time it is read: without the filter, or past its stamps. */
static void drain_rtnetlink(struct collector_runtime *c)
{
	ssize_t n;

	while (nl_fd >= 0 && (n = read_one(c, 0)) != -EAGAIN && n != 0)
		if (stamped && n > 0)
			count_unmatched(n, 0); /* its stamp was lost (ring full: counted there) */
}

static void add_stamp(struct collector_runtime *c, const struct cni_link_notify *stamp)
{
	if (nl_fd < 0)
		return;
	if (stamp_count == STAMPS_MAX) {
		read_stamped(c);
		if (stamp_count == STAMPS_MAX) { /* their notifications never came */
			count_unmatched(0, stamps[stamp_head].len);
			stamp_head = (stamp_head + 1) % STAMPS_MAX;
			stamp_count--;
		}
	}
	stamps[(stamp_head + stamp_count) % STAMPS_MAX].ktime_ns = stamp->hdr.ktime_ns;
	stamps[(stamp_head + stamp_count) % STAMPS_MAX].len = stamp->len;
	stamp_count++;
	read_stamped(c);
}

/* nl_fd is readable. The pipeline read the rings first, so every notification queued has its
 * stamp pending, unless the ring was full. */
static void cni_wake(struct collector_runtime *c)
{
	read_stamped(c);
	if (!stamp_count)
		drain_rtnetlink(c);
}

/* Netns records speak for a namespace's pod through the best cgroup seen for it. */
static void note_owner(struct collector_runtime *c, const struct cni_netns_event *ev)
{
	const struct identity *id;
	struct netns_owner *o;
	bool pod;

	/* The host's namespace is no pod's, whoever enters it (ip netns add switches back). */
	if (ev->hdr.type == TAPIO_REC_CNI_NETNS_DESTROY || ev->netns_inum == own_netns)
		return;
	o = owner_find(ev->netns_inum, ev->hdr.type == TAPIO_REC_CNI_NETNS_CREATE);
	if (ev->hdr.type == TAPIO_REC_CNI_NETNS_CREATE) {
		if (!o)
			return;
		o->cgroup_id = ev->hdr.cgroup_id;
		o->pod = false;
	}
	id = identity_lookup(c->pipeline->identity, ev->hdr.cgroup_id);
	pod = id->owner.pod_uid[0] != '\0';
	if (!o) {
		o = owner_find(ev->netns_inum, true);
		if (!o)
			return;
		o->cgroup_id = ev->hdr.cgroup_id;
	} else if (pod && !o->pod) {
		o->cgroup_id = ev->hdr.cgroup_id;
	}
	o->pod = o->pod || pod;
}

static enum decode_result cni_ring_record(struct collector_runtime *c, const void *data,
					  size_t size)
{
	const struct cni_netns_event *ev;
	struct netns_owner *o;
	enum decode_result r;
	uint64_t cgroup_id;
	int kind;

	r = cni_check(data, size, &ev, &kind);
	if (r != DECODE_OK)
		return r;
	if (kind == CNI_KIND_NOTIFY) {
		add_stamp(c, data);
		return DECODE_OK;
	}
	note_owner(c, ev);
	cgroup_id = ev->hdr.cgroup_id;
	if (kind == CNI_NETNS_DESTROYED) {
		forget_inum(ev->netns_inum);
		o = owner_find(ev->netns_inum, false);
		if (o) {
			cgroup_id = o->cgroup_id;
			owner_remove(o);
		}
	}
	cni_encode_netns(pipeline_begin(c, ev->hdr.ktime_ns, cgroup_id, kind), ev);
	pipeline_commit(c);
	return DECODE_OK;
}

static int cni_start(struct collector_runtime *c)
{
	/* The cgroup v2 root's id (1 on every kernel so far), which the identity cache found. */
	root_cgroup = inode_of(identity_root(c->pipeline->identity)) ?: 1;
	return 0;
}

static void cni_tick(struct collector_runtime *c, uint64_t now_ns)
{
	read_stamped(c);
	/* A stamp still pending a second later lost its notification (receive buffer full). */
	while (stamp_count && stamps[stamp_head].ktime_ns + 1000000000ull < now_ns) {
		count_unmatched(0, stamps[stamp_head].len);
		stamp_head = (stamp_head + 1) % STAMPS_MAX;
		stamp_count--;
	}
}

static void cni_stop(struct collector_runtime *c)
{
	(void)c;
	if (skel)
		cni_bpf__detach(skel);
}

static void cni_destroy(struct collector_runtime *c)
{
	(void)c;
	cni_bpf__destroy(skel);
	skel = NULL;
	if (nl_fd >= 0)
		close(nl_fd);
	nl_fd = -1;
	if (nl_overruns || nl_unmatched)
		log_warn("cni: rtnetlink socket overran %llu times, %llu notifications unmatched",
			 (unsigned long long)nl_overruns, (unsigned long long)nl_unmatched);
	nl_overruns = nl_unmatched = 0;
	free(owners);
	owners = NULL;
	free(nl_buf);
	nl_buf = NULL;
}

const struct collector_ops cni_collector = {
	.name = "cni",
	.open = cni_open,
	.start = cni_start,
	.ring_record = cni_ring_record,
	.wake = cni_wake,
	.tick = cni_tick,
	.stop = cni_stop,
	.destroy = cni_destroy,
};
