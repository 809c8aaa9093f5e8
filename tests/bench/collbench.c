/*
 * collbench: every BPF collector's user-space cost per ring-buffer record, in one process, through
 * the real code (build/libtapio.a): pipeline_record() -> the collector's ring_record() (check,
 * parse, match, identity, encode) -> pipeline_commit() -> rd_kafka_producev(). The collectors are
 * opened and started as tapio-producer opens them (pipeline_attach: root, BPF), then stopped
 * (hooks detached), and fed records shaped as their BPF programs write them.
 *
 *   collbench --brokers B [--count N] [--rounds R] [--only CASE]
 *
 * Cases (one iteration = the ring records listed, in this order):
 *   kernel_exit    a process exit (kernel_exit)
 *   kernel_tcp     a connection: CONNECT, then CLOSE (kernel_tcp)
 *   dns_answer     a pod's UDP query for kubernetes.default.svc.cluster.local A, then its
 *                  response (1 answer): parsed, matched, published as one record
 *   dns_nxdomain   a search-path miss (api.example.com.default.svc.cluster.local A), then its
 *                  NXDOMAIN response with an SOA in the authority section
 *   cni_netns      a pod's network namespace: NETNS_CREATED, NETNS_ENTERED, NETNS_DESTROYED
 *   cni_link       an RTM_NEWLINK message as this host's kernel sends it (from an RTM_GETLINK
 *                  dump, ifi_change set as for a device just registered), parsed by
 *                  cni_parse_link() and published as cni.c's publish_link() does, without the
 *                  recvmsg() and the nsid lookups (BPF_PROG_TEST_RUN) that the real path adds
 *   cri            a container's life: pod slice created (not a container: skipped, and dropped
 *                  from the BPF watch map), container created, its exec, its exit, container
 *                  removed, pod slice removed (skipped)
 *   systemd        a service's life: unit cgroup created, main exec, exit, unit removed
 *   metadata       a cgroup mkdir then its rmdir (the identity cache entry made, then removed)
 *
 * Output: "name=value" lines for tests/bench/run.sh. Per case: <case>_ns (median over rounds of
 * ns per ring record, the collector's calls alone: delivery reports are served between batches,
 * untimed), _ns_min, _ns_max, _ring (ring records per iteration), _published (Kafka records per
 * iteration), and feeds= (ring records fed in all, for callgrind: run one case with --only and
 * --toggle-collect=coll_feed).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cni_collector.h"
#include "collector.h"
#include "dns.h"
#include "kernel.h"
#include "lifecycle.h"
#include "metadata.h"
#include "pipeline.h"

#define NODE "bench"
#define POD_UID "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
#define CONTAINER_ID "abababababababababababababababababababababababababababababababab"
#define UNIT "bench-demo.service"
#define BATCH 64    /* iterations between delivery-report polls */
#define LINKS_MAX 32
#define LINK_MSG_MAX 4096

static void die(const char *what, const char *why)
{
	fprintf(stderr, "collbench: %s: %s\n", what, why);
	exit(1);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t boot_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

/* Every ring record goes through here: callgrind's --toggle-collect=coll_feed counts exactly the
 * pipeline's and the collector's work. */
static uint64_t feeds;

__attribute__((noinline)) static void coll_feed(struct collector_runtime *c, void *rec, size_t size)
{
	feeds++;
	pipeline_record(c, rec, size);
}

/* ---- a cgroup tree shaped like the kubelet's (systemd driver) and systemd's -------------- */

static const char *const pod_parts[] = {
	"/kubepods.slice", "/kubepods-burstable.slice",
	"/kubepods-burstable-pod0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0.slice",
	"/cri-containerd-" CONTAINER_ID ".scope",
};

static struct {
	char root[64];
	char pod[512], container[512], unit[512]; /* absolute */
	uint64_t root_id, pod_id, container_id, unit_id;
} tree;

static uint64_t make_dir(const char *path)
{
	struct stat st;

	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		die(path, strerror(errno));
	if (stat(path, &st) < 0)
		die(path, strerror(errno));
	return st.st_ino;
}

static void tree_remove(void)
{
	char path[512];

	if (!tree.root[0])
		return;
	rmdir(tree.unit);
	snprintf(path, sizeof(path), "%s/system.slice", tree.root);
	rmdir(path);
	snprintf(path, sizeof(path), "%s", tree.container);
	for (int i = 3; i >= 0; i--) {
		char *slash = strrchr(path, '/');

		rmdir(path);
		if (slash)
			*slash = '\0';
	}
	rmdir(tree.root);
}

static void tree_make(void)
{
	char path[512];

	snprintf(tree.root, sizeof(tree.root), "/tmp/tapio-collbench-XXXXXX");
	if (!mkdtemp(tree.root))
		die("mkdtemp", strerror(errno));
	atexit(tree_remove);
	tree.root_id = make_dir(tree.root);
	snprintf(path, sizeof(path), "%s", tree.root);
	for (size_t i = 0; i < 4; i++) {
		strncat(path, pod_parts[i], sizeof(path) - strlen(path) - 1);
		if (i == 2) {
			tree.pod_id = make_dir(path);
			snprintf(tree.pod, sizeof(tree.pod), "%s", path);
		} else if (i == 3) {
			tree.container_id = make_dir(path);
			snprintf(tree.container, sizeof(tree.container), "%s", path);
		} else {
			make_dir(path);
		}
	}
	snprintf(path, sizeof(path), "%s/system.slice", tree.root);
	make_dir(path);
	snprintf(tree.unit, sizeof(tree.unit), "%s/system.slice/" UNIT, tree.root);
	tree.unit_id = make_dir(tree.unit);
}

/* Path relative to the cgroup root, as BPF reports it. */
static const char *rel(const char *abs)
{
	return abs + strlen(tree.root);
}

/* ---- records ------------------------------------------------------------------------------ */

static void hdr(struct tapio_hdr *h, uint16_t type, uint16_t version, uint32_t size,
		uint64_t cgroup_id)
{
	*h = (struct tapio_hdr){ type, version, size, boot_ns(), cgroup_id };
}

static struct kernel_exit exit_rec;
static struct kernel_tcp tcp_rec[2];

static void make_kernel(void)
{
	memset(&exit_rec, 0, sizeof(exit_rec));
	hdr(&exit_rec.hdr, TAPIO_REC_KERNEL_EXIT, KERNEL_EXIT_VERSION, sizeof(exit_rec),
	    tree.container_id);
	exit_rec.pid = 4000000;
	exit_rec.ppid = 1234;
	exit_rec.exit_status = 1 << 8;
	exit_rec.lifetime_ns = 1500000000;
	strcpy(exit_rec.comm, "healthcheck");
	for (int i = 0; i < 2; i++) {
		struct kernel_tcp *t = &tcp_rec[i];

		memset(t, 0, sizeof(*t));
		hdr(&t->hdr, TAPIO_REC_KERNEL_TCP, KERNEL_TCP_VERSION, sizeof(*t), tree.container_id);
		t->pid = 4000000;
		t->ppid = 1234;
		t->family = AF_INET;
		t->local_port = 40000;
		t->remote_port = 8080;
		t->event = i ? KERNEL_TCP_CLOSE : KERNEL_TCP_CONNECT;
		t->direction = KERNEL_TCP_DIR_OUTBOUND;
		t->old_state = i ? 1 /* ESTABLISHED */ : 2 /* SYN_SENT */;
		t->flags = KERNEL_TCP_DURATION_KNOWN;
		inet_pton(AF_INET, "10.244.1.7", t->local_addr);
		inet_pton(AF_INET, "10.96.14.2", t->remote_addr);
		t->duration_ns = i ? 2500000000ull : 180000;
		t->bytes_sent = i ? 5120 : 0;
		t->bytes_acked = i ? 5121 : 0;
		t->bytes_received = i ? 48213 : 0;
		strcpy(t->comm, "app");
	}
}

/* DNS messages, as a pod's resolver and CoreDNS write them. */
static size_t put_name(uint8_t *p, const char *name)
{
	size_t n = 0;

	while (*name) {
		const char *dot = strchr(name, '.');
		size_t len = dot ? (size_t)(dot - name) : strlen(name);

		p[n++] = (uint8_t)len;
		memcpy(p + n, name, len);
		n += len;
		name += len + (dot ? 1 : 0);
	}
	p[n++] = 0;
	return n;
}

static size_t put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return 2;
}

static size_t put32(uint8_t *p, uint32_t v)
{
	return put16(p, (uint16_t)(v >> 16)) + put16(p + 2, (uint16_t)v);
}

/* Header and question; flags 0x0100 (RD) for a query. */
static size_t dns_question(uint8_t *p, uint16_t flags, uint16_t ancount, uint16_t nscount,
			   const char *qname)
{
	size_t n = put16(p, 0) + put16(p + 2, flags) + put16(p + 4, 1) + put16(p + 6, ancount) +
		   put16(p + 8, nscount) + put16(p + 10, 0);

	n += put_name(p + n, qname);
	n += put16(p + n, 1); /* A */
	n += put16(p + n, 1); /* IN */
	return n;
}

struct dns_case {
	struct dns_packet query, response;
};

static struct dns_case dns_answer, dns_nxdomain;

static void dns_packet_fill(struct dns_packet *p, const uint8_t *msg, size_t len, bool egress,
			    const char *src, uint16_t sport, const char *dst, uint16_t dport)
{
	memset(p, 0, sizeof(*p));
	hdr(&p->hdr, TAPIO_REC_DNS_PACKET, DNS_PACKET_VERSION, sizeof(*p), tree.container_id);
	inet_pton(AF_INET, src, p->saddr);
	inet_pton(AF_INET, dst, p->daddr);
	p->sport = sport;
	p->dport = dport;
	p->flags = egress ? DNS_PKT_EGRESS : 0;
	memcpy(p->payload, msg, len);
	p->payload_len = (uint16_t)len;
	p->orig_len = (uint32_t)len;
}

static void make_dns(void)
{
	static const char pod_ip[] = "10.244.1.7", dns_ip[] = "10.96.0.10";
	uint8_t m[DNS_PAYLOAD_MAX];
	size_t n;

	n = dns_question(m, 0x0100, 0, 0, "kubernetes.default.svc.cluster.local");
	dns_packet_fill(&dns_answer.query, m, n, true, pod_ip, 40001, dns_ip, 53);
	/* CoreDNS: QR AA RD RA, one A record, the name a pointer to the question's. */
	n = dns_question(m, 0x8580, 1, 0, "kubernetes.default.svc.cluster.local");
	n += put16(m + n, 0xc00c) + put16(m + n + 2, 1) + put16(m + n + 4, 1);
	n += put32(m + n, 5) + put16(m + n + 4, 4);
	m[n++] = 10, m[n++] = 96, m[n++] = 0, m[n++] = 1;
	dns_packet_fill(&dns_answer.response, m, n, false, dns_ip, 53, pod_ip, 40001);

	n = dns_question(m, 0x0100, 0, 0, "api.example.com.default.svc.cluster.local");
	dns_packet_fill(&dns_nxdomain.query, m, n, true, pod_ip, 40002, dns_ip, 53);
	/* NXDOMAIN with the zone's SOA (names written out, as some servers do). */
	n = dns_question(m, 0x8583, 0, 1, "api.example.com.default.svc.cluster.local");
	n += put_name(m + n, "cluster.local");
	n += put16(m + n, 6) + put16(m + n + 2, 1);
	n += put32(m + n, 30);
	{
		size_t rdlen_at = n, start;

		n += 2;
		start = n;
		n += put_name(m + n, "ns.dns.cluster.local");
		n += put_name(m + n, "hostmaster.cluster.local");
		for (int i = 0; i < 5; i++)
			n += put32(m + n, i ? 7200 : 1764000000);
		put16(m + rdlen_at, (uint16_t)(n - start));
	}
	dns_packet_fill(&dns_nxdomain.response, m, n, false, dns_ip, 53, pod_ip, 40002);
}

/* A query and its response with DNS id and client port of iteration i. */
static void dns_iteration(struct collector_runtime *c, struct dns_case *d, uint64_t i)
{
	uint16_t id = (uint16_t)(i * 40503u), port = (uint16_t)(32768 + i % 28000);

	d->query.payload[0] = d->response.payload[0] = (uint8_t)(id >> 8);
	d->query.payload[1] = d->response.payload[1] = (uint8_t)id;
	d->query.sport = d->response.dport = port;
	d->query.hdr.ktime_ns += 1000;
	d->response.hdr.ktime_ns = d->query.hdr.ktime_ns + 412000;
	coll_feed(c, &d->query, sizeof(d->query));
	coll_feed(c, &d->response, sizeof(d->response));
}

static struct cni_netns_event netns[3];

static void make_cni(void)
{
	static const uint16_t types[3] = { TAPIO_REC_CNI_NETNS_CREATE, TAPIO_REC_CNI_NETNS_ENTER,
					   TAPIO_REC_CNI_NETNS_DESTROY };

	for (int i = 0; i < 3; i++) {
		struct cni_netns_event *e = &netns[i];

		memset(e, 0, sizeof(*e));
		hdr(&e->hdr, types[i], CNI_NETNS_VERSION, sizeof(*e), tree.container_id);
		e->prev_netns_inum = i < 2 ? 4026531840 : 0;
		e->pid = i < 2 ? 4000000 : 0;
		e->ppid = i < 2 ? 1234 : 0;
		e->via = i == 0 ? CNI_VIA_UNSHARE : i == 1 ? CNI_VIA_SETNS : CNI_VIA_CLEANUP;
		strcpy(e->comm, i == 0 ? "runc:[1:CHILD]" : i == 1 ? "containerd-shim" :
					 "kworker/u4:2");
	}
}

/* RTM_NEWLINK messages of this host's links, as the kernel writes them. */
static uint8_t link_msgs[LINKS_MAX][LINK_MSG_MAX];
static size_t link_lens[LINKS_MAX], nlinks, link_bytes;

static void dump_links(void)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = {
		.nh = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETLINK,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1 },
		.ifi = { .ifi_family = AF_UNSPEC },
	};
	static uint8_t buf[65536];
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	bool done = false;

	if (fd < 0 || send(fd, &req, sizeof(req), 0) < 0)
		die("rtnetlink", strerror(errno));
	while (!done) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		size_t left = n > 0 ? (size_t)n : 0;

		if (n <= 0)
			die("rtnetlink dump", n < 0 ? strerror(errno) : "ended early");
		for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, left);
		     nh = NLMSG_NEXT(nh, left)) {
			if (nh->nlmsg_type == NLMSG_DONE || nh->nlmsg_type == NLMSG_ERROR) {
				done = true;
				break;
			}
			if (nh->nlmsg_type != RTM_NEWLINK || nlinks == LINKS_MAX ||
			    nh->nlmsg_len > LINK_MSG_MAX)
				continue;
			memcpy(link_msgs[nlinks], nh, nh->nlmsg_len);
			/* As a notification for a device just registered (LINK_ADDED). */
			((struct ifinfomsg *)NLMSG_DATA((struct nlmsghdr *)link_msgs[nlinks]))->ifi_change =
				~0u;
			link_lens[nlinks] = nh->nlmsg_len;
			link_bytes += nh->nlmsg_len;
			nlinks++;
		}
	}
	close(fd);
	if (!nlinks)
		die("rtnetlink dump", "no links");
}

/* What cni.c's publish_link() does with a parsed message in the producer's own namespace. */
__attribute__((noinline)) static void coll_link(struct collector_runtime *c, const void *msg,
						 size_t len, uint64_t ktime_ns)
{
	struct cni_link l;

	feeds++;
	if (cni_parse_link(msg, len, &l) || l.kind == CNI_UNKNOWN)
		die("cni_parse_link", "a dumped link was not a LINK_ADDED");
	cni_encode_link(pipeline_begin(c, ktime_ns, tree.root_id, l.kind), &l);
	pipeline_commit(c);
}

static struct lifecycle_event cri_recs[6], sd_recs[4];

static void lifecycle_fill(struct lifecycle_event *e, uint16_t type, uint32_t event, uint64_t id,
			   const char *text)
{
	memset(e, 0, sizeof(*e));
	hdr(&e->hdr, type, LIFECYCLE_VERSION, sizeof(*e), id);
	e->event = event;
	if (event == LC_EXEC || event == LC_EXIT) {
		e->pid = 4000000;
		e->ppid = 3999990;
		e->flags = LC_F_MAIN;
		strcpy(e->comm, "app");
	}
	if (event == LC_EXIT) {
		e->exit_status = 0;
		e->lifetime_ns = 86400000000000ull;
	}
	snprintf(e->text, sizeof(e->text), "%s", text);
	e->text_len = (uint32_t)strlen(e->text);
}

static void make_lifecycle(void)
{
	lifecycle_fill(&cri_recs[0], TAPIO_REC_CRI_EVENT, LC_CGROUP_CREATED, tree.pod_id, rel(tree.pod));
	lifecycle_fill(&cri_recs[1], TAPIO_REC_CRI_EVENT, LC_CGROUP_CREATED, tree.container_id,
		       rel(tree.container));
	lifecycle_fill(&cri_recs[2], TAPIO_REC_CRI_EVENT, LC_EXEC, tree.container_id,
		       "/usr/local/bin/app");
	lifecycle_fill(&cri_recs[3], TAPIO_REC_CRI_EVENT, LC_EXIT, tree.container_id, "");
	lifecycle_fill(&cri_recs[4], TAPIO_REC_CRI_EVENT, LC_CGROUP_REMOVED, tree.container_id,
		       rel(tree.container));
	lifecycle_fill(&cri_recs[5], TAPIO_REC_CRI_EVENT, LC_CGROUP_REMOVED, tree.pod_id, rel(tree.pod));
	lifecycle_fill(&sd_recs[0], TAPIO_REC_SYSTEMD_EVENT, LC_CGROUP_CREATED, tree.unit_id,
		       rel(tree.unit));
	lifecycle_fill(&sd_recs[1], TAPIO_REC_SYSTEMD_EVENT, LC_EXEC, tree.unit_id,
		       "/usr/sbin/bench-demo");
	lifecycle_fill(&sd_recs[2], TAPIO_REC_SYSTEMD_EVENT, LC_EXIT, tree.unit_id, "");
	lifecycle_fill(&sd_recs[3], TAPIO_REC_SYSTEMD_EVENT, LC_CGROUP_REMOVED, tree.unit_id,
		       rel(tree.unit));
}

static struct cgroup_event mkdir_rec, rmdir_rec;

static void make_metadata(void)
{
	struct cgroup_event *e[2] = { &mkdir_rec, &rmdir_rec };

	for (int i = 0; i < 2; i++) {
		memset(e[i], 0, sizeof(*e[i]));
		hdr(&e[i]->hdr, i ? TAPIO_REC_CGROUP_RMDIR : TAPIO_REC_CGROUP_MKDIR,
		    CGROUP_EVENT_VERSION, sizeof(*e[i]), 0);
		/* A new container of the pod (another id than the one on disk). */
		snprintf(e[i]->path, sizeof(e[i]->path), "%s/cri-containerd-%064x.scope",
			 rel(tree.pod), 0xc0ffee);
		e[i]->path_len = (uint32_t)strlen(e[i]->path);
		e[i]->level = 4;
	}
}

/* ---- the cases ---------------------------------------------------------------------------- */

enum case_id { K_EXIT, K_TCP, DNS_A, DNS_NX, CNI_NETNS, CNI_LINK, CRI, SYSTEMD, METADATA, CASES };

static const struct {
	const char *name;
	const char *collector;
	unsigned ring;      /* ring records per iteration */
	unsigned published; /* Kafka records per iteration */
} cases[CASES] = {
	[K_EXIT] = { "kernel_exit", "kernel", 1, 1 },
	[K_TCP] = { "kernel_tcp", "kernel", 2, 2 },
	[DNS_A] = { "dns_answer", "dns", 2, 1 },
	[DNS_NX] = { "dns_nxdomain", "dns", 2, 1 },
	[CNI_NETNS] = { "cni_netns", "cni", 3, 3 },
	[CNI_LINK] = { "cni_link", "cni", 1, 1 },
	[CRI] = { "cri", "cri", 6, 4 },
	[SYSTEMD] = { "systemd", "systemd", 4, 4 },
	[METADATA] = { "metadata", "metadata", 2, 2 },
};

static struct collector_runtime *runtime[CASES];

static void iteration(enum case_id k, uint64_t i)
{
	struct collector_runtime *c = runtime[k];
	uint64_t t = boot_ns();

	switch (k) {
	case K_EXIT:
		exit_rec.hdr.ktime_ns = t;
		exit_rec.pid = 4000000 + (uint32_t)i;
		coll_feed(c, &exit_rec, sizeof(exit_rec));
		break;
	case K_TCP:
		for (int j = 0; j < 2; j++) {
			tcp_rec[j].hdr.ktime_ns = t;
			tcp_rec[j].local_port = (uint16_t)(32768 + i % 28000);
			coll_feed(c, &tcp_rec[j], sizeof(tcp_rec[j]));
		}
		break;
	case DNS_A:
		dns_iteration(c, &dns_answer, i);
		break;
	case DNS_NX:
		dns_iteration(c, &dns_nxdomain, i);
		break;
	case CNI_NETNS:
		for (int j = 0; j < 3; j++) {
			netns[j].hdr.ktime_ns = t;
			netns[j].netns_inum = 4026533000ull + i % 512;
			coll_feed(c, &netns[j], sizeof(netns[j]));
		}
		break;
	case CNI_LINK:
		coll_link(c, link_msgs[i % nlinks], link_lens[i % nlinks], t);
		break;
	case CRI:
		for (int j = 0; j < 6; j++) {
			cri_recs[j].hdr.ktime_ns = t;
			coll_feed(c, &cri_recs[j], sizeof(cri_recs[j]));
		}
		break;
	case SYSTEMD:
		for (int j = 0; j < 4; j++) {
			sd_recs[j].hdr.ktime_ns = t;
			coll_feed(c, &sd_recs[j], sizeof(sd_recs[j]));
		}
		break;
	case METADATA:
		/* 1024 cgroup ids in turn: the cache replaces entries, it does not grow. */
		mkdir_rec.hdr.cgroup_id = rmdir_rec.hdr.cgroup_id = 0x70000000 + i % 1024;
		mkdir_rec.hdr.ktime_ns = t;
		rmdir_rec.hdr.ktime_ns = t + 1000;
		coll_feed(c, &mkdir_rec, sizeof(mkdir_rec));
		coll_feed(c, &rmdir_rec, sizeof(rmdir_rec));
		break;
	default:
		break;
	}
}

static uint64_t unexpected; /* Kafka records a case made beyond or short of what it should */

/* ns per ring record over `count` iterations; delivery reports are served between batches. */
static double run_case(struct pipeline *pl, enum case_id k, uint64_t count, uint64_t *next)
{
	uint64_t produced = runtime[k]->stats.produced;
	int64_t spent = 0;

	for (uint64_t done = 0; done < count;) {
		uint64_t n = count - done < BATCH ? count - done : BATCH;
		int64_t t0 = now_ns();

		for (uint64_t j = 0; j < n; j++)
			iteration(k, (*next)++);
		spent += now_ns() - t0;
		done += n;
		publisher_poll(&pl->publisher);
	}
	if (runtime[k]->stats.produced - produced != count * cases[k].published) {
		fprintf(stderr, "collbench: %s: %" PRIu64 " records produced, %" PRIu64 " expected\n",
			cases[k].name, runtime[k]->stats.produced - produced,
			count * cases[k].published);
		unexpected++;
	}
	return (double)spent / (double)(count * cases[k].ring);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static const char *const known[] = { "kernel", "dns", "cni", "cri", "systemd", NULL };
	static struct pipeline pl;
	static double ns[CASES][32];
	const char *brokers = NULL, *only = NULL;
	uint64_t count = 20000, next[CASES] = { 0 };
	struct tapio_config cfg;
	char errstr[1024], list[128] = "";
	bool want[CASES];
	int rounds = 5, status = 0, wanted = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--brokers") && i + 1 < argc)
			brokers = argv[++i];
		else if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = argv[++i];
		else
			die("usage", "collbench --brokers B [--count N] [--rounds R] [--only CASE]");
	}
	if (!brokers || !count || rounds < 1 || rounds > 32)
		die("usage", "--brokers is required; --count >= 1; --rounds 1..32");
	for (int k = 0; k < CASES; k++) {
		want[k] = !only || !strcmp(only, cases[k].name);
		wanted += want[k];
		/* The collectors the cases need (metadata always runs beside them). */
		if (want[k] && strcmp(cases[k].collector, "metadata") &&
		    !strstr(list, cases[k].collector))
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 list[0] ? "," : "", cases[k].collector);
	}
	if (!wanted)
		die("--only: no such case", only);

	tree_make();
	make_kernel();
	make_dns();
	make_cni();
	make_lifecycle();
	make_metadata();
	if (want[CNI_LINK])
		dump_links();

	config_defaults(&cfg);
	if (config_set(&cfg, "node_name", NODE, "collbench", known, errstr, sizeof(errstr)) ||
	    config_set(&cfg, "collectors", list[0] ? list : "kernel", "collbench", known, errstr,
		       sizeof(errstr)) ||
	    config_set(&cfg, "brokers", brokers, "--brokers", known, errstr, sizeof(errstr)))
		die("config", errstr);
	log_level_current = LOG_WARN;
	if (pipeline_open(&pl, &cfg, tree.root, errstr, sizeof(errstr)))
		die("pipeline_open", errstr);
	if (pipeline_attach(&pl) < 1)
		die("pipeline_attach", "no collector started (root? BTF?)");
	/* Only these records from here on: the hooks go, what the collectors hold stays. */
	for (size_t i = 0; i < pl.ncollectors; i++)
		if (pl.collectors[i].state == COLLECTOR_RUNNING && pl.collectors[i].ops->stop)
			pl.collectors[i].ops->stop(&pl.collectors[i]);
	for (int k = 0; k < CASES; k++) {
		if (!want[k])
			continue;
		runtime[k] = pipeline_collector(&pl, cases[k].collector);
		if (!runtime[k] || runtime[k]->state != COLLECTOR_RUNNING)
			die(cases[k].collector, "did not start");
	}
	publisher_flush(&pl.publisher, 10000); /* metadata's start-up snapshot */

	/* Warm-up, then rounds in which every case runs once, so load on a shared machine hits
	 * them alike. */
	for (int k = 0; k < CASES; k++)
		if (want[k])
			run_case(&pl, k, count / 10 + 1, &next[k]);
	for (int r = 0; r < rounds; r++)
		for (int k = 0; k < CASES; k++)
			if (want[k])
				ns[k][r] = run_case(&pl, k, count, &next[k]);
	if (publisher_flush(&pl.publisher, 30000))
		fprintf(stderr, "collbench: not every record was delivered\n");

	for (int k = 0; k < CASES; k++) {
		const struct collector_stats *s;
		uint64_t rejected = 0;

		if (!want[k])
			continue;
		s = &runtime[k]->stats;
		for (int r = 1; r < DECODE_RESULT_MAX; r++)
			rejected += s->rejected[r];
		qsort(ns[k], (size_t)rounds, sizeof(double), cmp_double);
		printf("%s_ns=%.1f\n%s_ns_min=%.1f\n%s_ns_max=%.1f\n%s_ring=%u\n%s_published=%u\n",
		       cases[k].name, ns[k][rounds / 2], cases[k].name, ns[k][0], cases[k].name,
		       ns[k][rounds - 1], cases[k].name, cases[k].ring, cases[k].name,
		       cases[k].published);
		/* Every record the case meant to publish was produced and delivered, none refused. */
		if (rejected || s->delivery_failed || s->queue_full || s->produce_failed) {
			fprintf(stderr, "collbench: %s: %" PRIu64 " rejected, %" PRIu64
				" failed deliveries, %" PRIu64 " refused\n", cases[k].collector,
				rejected, s->delivery_failed, s->queue_full + s->produce_failed);
			status = 1;
		}
	}
	if (unexpected)
		status = 1;
	if (want[CNI_LINK])
		printf("cni_link_messages=%zu\ncni_link_msg_bytes=%.0f\n", nlinks,
		       (double)link_bytes / (double)nlinks);
	printf("dns_answer_bytes=%u\ndns_nxdomain_bytes=%u\nfeeds=%" PRIu64 "\n",
	       dns_answer.response.payload_len, dns_nxdomain.response.payload_len, feeds);
	pipeline_close(&pl);
	config_free(&cfg);
	return status;
}
