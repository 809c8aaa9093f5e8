/*
 * Collector `dns`: DNS packets of every cgroup (bpf/dns.bpf.c, cgroup_skb on the cgroup v2 root)
 * → one record per query in schemas/dns.avsc, published with its response or as a timeout.
 *
 * Each packet is parsed by the strict parser (dns_parse.c); a refused one is counted by reason
 * and rejected as DECODE_BAD_FIELD. A query waits in a bounded table keyed by struct dns_key
 * (cgroup, transport, both ends, DNS id, role), never by the id alone. Its response publishes
 * the record; tick() publishes the queries that waited dns_timeout_ms as timeouts. Responses
 * that match nothing are counted, not published: without the query there is no latency, no
 * question to trust, and a spoofed flood would become a flood of records.
 *
 * Ownership: the module owns its skeleton and its table (static, one instance per process);
 * destroy() frees both.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "collector.h"
#include "dns.h"
#include "dns.skel.h"
#include "dns_collector.h"
#include "dns_parse.h"
#include "identity.h"
#include "log.h"
#include "pipeline.h"

#define NIL UINT32_MAX

struct slot {
	struct dns_query q;
	uint32_t hnext;         /* next in the bucket chain, or in the free list */
	uint32_t older, newer;  /* age list: oldest first, so expiry and eviction are O(1) */
};

struct dns_state {
	uint32_t cap, count, mask;
	uint32_t *buckets; /* mask + 1 heads */
	struct slot *slots;
	uint32_t free_head, oldest, newest;
	uint64_t timeout_ns;
	uint64_t seed;     /* random per process: chains cannot be lengthened on purpose */
	int stats_interval_s;
	uint64_t ticks;
	struct dns_stats stats;
	struct dns_msg msg; /* the packet being decoded (too large for the stack) */
};

static struct dns_bpf *skel;
static struct dns_state *st;
static bool attached; /* open() succeeded: destroy() logs the counters */

static void state_free(void)
{
	if (!st)
		return;
	free(st->buckets);
	free(st->slots);
	free(st);
	st = NULL;
}

int dns_state_reset(const struct tapio_config *cfg)
{
	uint32_t cap = cfg && cfg->dns_pending_max > 0 ? (uint32_t)cfg->dns_pending_max : 4096;
	uint32_t nb = 1;

	state_free();
	while (nb < cap * 2)
		nb <<= 1;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->buckets = malloc(nb * sizeof(*st->buckets));
	st->slots = calloc(cap, sizeof(*st->slots));
	if (!st->buckets || !st->slots) {
		state_free();
		return -ENOMEM;
	}
	st->cap = cap;
	st->mask = nb - 1;
	memset(st->buckets, 0xff, nb * sizeof(*st->buckets)); /* all NIL */
	for (uint32_t i = 0; i < cap; i++)
		st->slots[i].hnext = i + 1 < cap ? i + 1 : NIL;
	st->free_head = 0;
	st->oldest = st->newest = NIL;
	st->timeout_ns = (uint64_t)(cfg && cfg->dns_timeout_ms > 0 ? cfg->dns_timeout_ms : 5000) *
			 1000000;
	st->stats_interval_s = cfg ? cfg->stats_interval_s : 0;
	if (getrandom(&st->seed, sizeof(st->seed), GRND_NONBLOCK) != sizeof(st->seed))
		st->seed = (uint64_t)(uintptr_t)st ^ 0x9e3779b97f4a7c15ULL;
	return 0;
}

void dns_get_stats(struct dns_stats *out)
{
	if (!st) {
		memset(out, 0, sizeof(*out));
		return;
	}
	*out = st->stats;
	out->pending = st->count;
}

/* The table. */

static uint32_t key_hash(const struct dns_key *k)
{
	uint64_t h = st->seed, w;
	const uint8_t *p = (const uint8_t *)k;

	for (size_t i = 0; i < sizeof(*k); i += 8) {
		memcpy(&w, p + i, 8);
		h ^= w;
		h *= 0xff51afd7ed558ccdULL;
		h ^= h >> 33;
	}
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 29;
	return (uint32_t)h & st->mask;
}

static uint32_t lookup(const struct dns_key *k)
{
	for (uint32_t i = st->buckets[key_hash(k)]; i != NIL; i = st->slots[i].hnext)
		if (!memcmp(&st->slots[i].q.key, k, sizeof(*k)))
			return i;
	return NIL;
}

static void unlink_slot(uint32_t i)
{
	struct slot *s = &st->slots[i];
	uint32_t *link = &st->buckets[key_hash(&s->q.key)];

	while (*link != i)
		link = &st->slots[*link].hnext;
	*link = s->hnext;
	if (s->older != NIL)
		st->slots[s->older].newer = s->newer;
	else
		st->oldest = s->newer;
	if (s->newer != NIL)
		st->slots[s->newer].older = s->older;
	else
		st->newest = s->older;
	s->hnext = st->free_head;
	st->free_head = i;
	st->count--;
}

static void publish(struct collector_runtime *c, const struct dns_query *q, int kind,
		    const struct dns_msg *resp, uint64_t resp_ktime_ns);

static uint32_t insert(struct collector_runtime *c, const struct dns_query *q)
{
	uint32_t i, b;
	struct slot *s;

	if (st->free_head == NIL) {
		/* Full: the oldest query is the nearest to timing out anyway. It is published now,
		 * as EVICTED, so the topic shows what the table could not keep. */
		struct dns_query old = st->slots[st->oldest].q;

		st->stats.evicted++;
		if (st->stats.evicted == 1)
			log_warn("dns: pending-query table full (%u); publishing the oldest as EVICTED, "
				 "counting further ones", st->cap);
		unlink_slot(st->oldest);
		publish(c, &old, DNS_KIND_EVICTED, NULL, 0);
	}
	i = st->free_head;
	s = &st->slots[i];
	st->free_head = s->hnext;
	s->q = *q;
	b = key_hash(&q->key);
	s->hnext = st->buckets[b];
	st->buckets[b] = i;
	s->older = st->newest;
	s->newer = NIL;
	if (st->newest != NIL)
		st->slots[st->newest].newer = i;
	else
		st->oldest = i;
	st->newest = i;
	st->count++;
	return i;
}

/* Encoding. */

static void put_addr(struct avro_buf *out, const uint8_t *addr, bool ipv6)
{
	char text[INET6_ADDRSTRLEN];

	if (!inet_ntop(ipv6 ? AF_INET6 : AF_INET, addr, text, sizeof(text)))
		text[0] = '\0';
	avro_put_string(out, text, sizeof(text));
}

static void put_name(struct avro_buf *out, const struct dns_name *name)
{
	char text[DNS_NAME_TEXT_MAX];

	dns_name_to_text(name, text, sizeof(text));
	avro_put_string(out, text, sizeof(text));
}

static void put_mnemonic(struct avro_buf *out, const char *name, const char *prefix, unsigned v)
{
	char text[16];

	if (!name) {
		snprintf(text, sizeof(text), "%s%u", prefix, v);
		name = text;
	}
	avro_put_string(out, name, sizeof(text));
}

/* Text bytes an answer adds (names and data; a few bytes of numbers are covered by slack). */
static size_t answer_cost(const struct dns_answer *a)
{
	size_t n = dns_name_to_text(&a->name, NULL, 0) + 32;

	if (a->has_target)
		n += dns_name_to_text(&a->target, NULL, 0);
	else if (a->type == DNS_TYPE_A || a->type == DNS_TYPE_AAAA)
		n += INET6_ADDRSTRLEN;
	return n;
}

static void put_answer(struct avro_buf *out, const struct dns_answer *a)
{
	put_name(out, &a->name);
	avro_put_long(out, a->type);
	put_mnemonic(out, dns_type_name(a->type), "TYPE", a->type);
	avro_put_long(out, a->ttl);
	if (a->type == DNS_TYPE_A || a->type == DNS_TYPE_AAAA) {
		avro_put_union(out, 1);
		put_addr(out, a->addr, a->type == DNS_TYPE_AAAA);
	} else if (a->has_target) {
		avro_put_union(out, 1);
		put_name(out, &a->target);
	} else {
		avro_put_union(out, 0);
	}
}

void dns_encode_fields(const struct dns_query *q, const struct dns_msg *resp,
		       uint64_t resp_ktime_ns, struct avro_buf *out)
{
	const struct dns_key *k = &q->key;

	avro_put_long(out, k->role);
	avro_put_long(out, k->proto);
	avro_put_long(out, k->ipv6 ? 6 : 4);
	put_addr(out, k->client, k->ipv6);
	avro_put_long(out, k->client_port);
	put_addr(out, k->server, k->ipv6);
	avro_put_long(out, k->server_port);
	avro_put_long(out, k->id);
	put_name(out, &q->qname);
	avro_put_long(out, q->qtype);
	put_mnemonic(out, dns_type_name(q->qtype), "TYPE", q->qtype);
	avro_put_long(out, q->retransmits);
	if (!resp) {
		avro_put_union(out, 0); /* latency_ns */
		avro_put_union(out, 0); /* response */
		return;
	}
	avro_put_union(out, 1);
	avro_put_long(out, resp_ktime_ns >= q->ktime_ns ?
				   (int64_t)(resp_ktime_ns - q->ktime_ns) : 0);
	avro_put_union(out, 1);
	avro_put_long(out, DNS_RCODE(resp->flags));
	put_mnemonic(out, dns_rcode_name(DNS_RCODE(resp->flags)), "RCODE", DNS_RCODE(resp->flags));
	avro_put_bool(out, resp->flags & DNS_FLAG_AA);
	avro_put_bool(out, resp->flags & DNS_FLAG_TC);
	avro_put_long(out, resp->ancount);

	size_t kept = 0, budget = 0;

	while (kept < resp->nanswers) {
		budget += answer_cost(&resp->answers[kept]);
		if (budget > DNS_ANSWER_TEXT_BUDGET)
			break;
		kept++;
	}
	if (kept) {
		avro_put_long(out, (int64_t)kept);
		for (size_t i = 0; i < kept; i++)
			put_answer(out, &resp->answers[i]);
	}
	avro_put_long(out, 0); /* end of array */
	avro_put_bool(out, resp->answers_truncated || kept < resp->nanswers);
}

/* Decoding and matching. */

static void log_stats(void)
{
	const struct dns_stats *s = &st->stats;

	log_info("dns: queries=%" PRIu64 " responses=%" PRIu64 " answered=%" PRIu64
		 " timeouts=%" PRIu64 " unsolicited=%" PRIu64 " question_mismatch=%" PRIu64
		 " retransmits=%" PRIu64 " replaced=%" PRIu64 " evicted=%" PRIu64 " pending=%u",
		 s->queries, s->responses, s->answered, s->timeouts, s->unsolicited,
		 s->question_mismatch, s->retransmits, s->replaced, s->evicted, st->count);
	log_info("dns: rejected packets short=%" PRIu64 " truncated=%" PRIu64 " label=%" PRIu64
		 " name_length=%" PRIu64 " pointer=%" PRIu64 " pointer_hops=%" PRIu64
		 " counts=%" PRIu64 " rdata=%" PRIu64 " tcp_length=%" PRIu64,
		 s->rejected[DNS_ERR_SHORT], s->rejected[DNS_ERR_TRUNCATED],
		 s->rejected[DNS_ERR_LABEL],
		 s->rejected[DNS_ERR_NAME_LENGTH], s->rejected[DNS_ERR_POINTER],
		 s->rejected[DNS_ERR_POINTER_HOPS], s->rejected[DNS_ERR_COUNTS],
		 s->rejected[DNS_ERR_RDATA], s->rejected[DNS_ERR_TCP_LENGTH]);
}

static void render_metrics(const struct collector_runtime *c, FILE *out)
{
	(void)c;
	const struct dns_stats *s = &st->stats;
	static const struct {
		const char *name, *help;
		size_t offset;
	} counters[] = {
		{ "tapio_dns_queries_total", "DNS query packets parsed.", offsetof(struct dns_stats, queries) },
		{ "tapio_dns_responses_total", "DNS response packets parsed.", offsetof(struct dns_stats, responses) },
		{ "tapio_dns_answered_total", "Queries published with their response.", offsetof(struct dns_stats, answered) },
		{ "tapio_dns_timeouts_total", "Queries published as timeouts.", offsetof(struct dns_stats, timeouts) },
		{ "tapio_dns_unsolicited_total", "Responses that matched no pending query (not published).", offsetof(struct dns_stats, unsolicited) },
		{ "tapio_dns_question_mismatch_total", "Responses whose question differed from the pending query's.", offsetof(struct dns_stats, question_mismatch) },
		{ "tapio_dns_retransmits_total", "Repeated queries folded into the pending one.", offsetof(struct dns_stats, retransmits) },
		{ "tapio_dns_replaced_total", "Pending queries dropped for a new question under the same key.", offsetof(struct dns_stats, replaced) },
		{ "tapio_dns_evicted_total", "Pending queries dropped because dns_pending_max were waiting.", offsetof(struct dns_stats, evicted) },
	};

	if (!st)
		return;
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		fprintf(out, "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 "\n", counters[i].name,
			counters[i].help, counters[i].name, counters[i].name,
			*(const uint64_t *)((const char *)s + counters[i].offset));
	fprintf(out, "# HELP tapio_dns_pending Queries waiting for a response.\n"
		"# TYPE tapio_dns_pending gauge\ntapio_dns_pending %u\n", st->count);
	fputs("# HELP tapio_dns_rejected_packets_total Packets the DNS parser refused, by reason.\n"
	      "# TYPE tapio_dns_rejected_packets_total counter\n", out);
	for (int r = DNS_PARSE_OK + 1; r < DNS_PARSE_ERROR_MAX; r++)
		fprintf(out, "tapio_dns_rejected_packets_total{reason=\"%s\"} %" PRIu64 "\n",
			dns_parse_error_name(r), s->rejected[r]);
}

static void publish(struct collector_runtime *c, const struct dns_query *q, int kind,
		    const struct dns_msg *resp, uint64_t resp_ktime_ns)
{
	struct avro_buf *out = pipeline_begin(c, q->ktime_ns, q->key.cgroup_id, kind);

	dns_encode_fields(q, resp, resp_ktime_ns, out);
	pipeline_commit(c);
}

static void reject_packet(const struct dns_packet *p, int err)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	int af = p->flags & DNS_PKT_IPV6 ? AF_INET6 : AF_INET;

	st->stats.rejected[err]++;
	/* The first of each reason says where it came from; the counters tell the rest. */
	if (st->stats.rejected[err] != 1)
		return;
	if (!inet_ntop(af, p->saddr, src, sizeof(src)))
		src[0] = '\0';
	if (!inet_ntop(af, p->daddr, dst, sizeof(dst)))
		dst[0] = '\0';
	log_warn("dns: refused a DNS packet (%s) %s %s port %u -> %s port %u, cgroup %" PRIu64
		 "; counting further ones", dns_parse_error_name(err),
		 p->flags & DNS_PKT_TCP ? "TCP" : "UDP", src, p->sport, dst, p->dport,
		 (uint64_t)p->hdr.cgroup_id);
}

static void on_query(struct collector_runtime *c, const struct dns_packet *p,
		     const struct dns_key *k, const struct dns_msg *m)
{
	struct dns_query q;
	uint32_t i = lookup(k);

	st->stats.queries++;
	if (i != NIL) {
		struct dns_query *old = &st->slots[i].q;

		if (old->qtype == m->qtype && dns_name_equal(&old->qname, &m->qname)) {
			/* A retry: latency counts from the first one. */
			old->retransmits++;
			st->stats.retransmits++;
			return;
		}
		/* The same id and ports, another question: the first can no longer be matched. */
		struct dns_query replaced = *old;

		st->stats.replaced++;
		unlink_slot(i);
		publish(c, &replaced, DNS_KIND_EVICTED, NULL, 0);
	}
	memset(&q, 0, sizeof(q));
	q.key = *k;
	q.ktime_ns = p->hdr.ktime_ns;
	q.qtype = m->qtype;
	q.qname = m->qname;
	insert(c, &q);
}

static void on_response(struct collector_runtime *c, const struct dns_packet *p,
			const struct dns_key *k, const struct dns_msg *m)
{
	uint32_t i = lookup(k);
	struct dns_query q;

	st->stats.responses++;
	if (i == NIL) {
		st->stats.unsolicited++;
		return;
	}
	/* A response must answer the question that was asked (0x20 case games aside). */
	if (m->has_question && (m->qtype != st->slots[i].q.qtype ||
				!dns_name_equal(&m->qname, &st->slots[i].q.qname))) {
		st->stats.question_mismatch++;
		return;
	}
	q = st->slots[i].q;
	unlink_slot(i);
	st->stats.answered++;
	publish(c, &q, DNS_KIND_RESPONSE, m, p->hdr.ktime_ns);
}

static enum decode_result dns_ring_record(struct collector_runtime *c, const void *data,
					  size_t size)
{
	const struct dns_packet *p = data;
	const struct tapio_hdr *hdr;
	enum decode_result r = decode_header(data, size, &hdr);
	bool cut, query, egress;
	struct dns_key k;
	int err;

	if (r != DECODE_OK)
		return r;
	if (hdr->type != TAPIO_REC_DNS_PACKET)
		return DECODE_UNKNOWN_TYPE;
	if (hdr->version != DNS_PACKET_VERSION)
		return DECODE_BAD_VERSION;
	if (size != sizeof(*p))
		return DECODE_BAD_LENGTH;
	cut = p->flags & DNS_PKT_CUT;
	if (p->flags & ~DNS_PKT_FLAGS_ALL || !p->payload_len || p->payload_len > DNS_PAYLOAD_MAX ||
	    p->payload_len > p->orig_len || cut != (p->payload_len < p->orig_len))
		return DECODE_BAD_FIELD;
	if (!st && dns_state_reset(c && c->pipeline ? c->pipeline->cfg : NULL))
		return DECODE_BAD_FIELD;

	if (p->flags & DNS_PKT_TCP)
		err = dns_parse_tcp(p->payload, p->payload_len, cut, &st->msg);
	else
		err = dns_parse(p->payload, p->payload_len, cut, &st->msg);
	if (err) {
		/* A malformed packet from the network is not a record we lost: it is counted as
		 * what it is (tapio_dns_rejected_packets_total), and the ring record was fine. */
		reject_packet(p, err);
		return DECODE_OK;
	}

	/* The client is the end that sends the query; the cgroup is the client when its socket
	 * sent the query or received the response. */
	query = !(st->msg.flags & DNS_FLAG_QR);
	egress = p->flags & DNS_PKT_EGRESS;
	memset(&k, 0, sizeof(k));
	k.cgroup_id = hdr->cgroup_id;
	memcpy(k.client, query ? p->saddr : p->daddr, sizeof(k.client));
	memcpy(k.server, query ? p->daddr : p->saddr, sizeof(k.server));
	k.client_port = query ? p->sport : p->dport;
	k.server_port = query ? p->dport : p->sport;
	k.id = st->msg.id;
	k.proto = p->flags & DNS_PKT_TCP ? DNS_PROTO_TCP : DNS_PROTO_UDP;
	k.role = query == egress ? DNS_ROLE_CLIENT : DNS_ROLE_SERVER;
	k.ipv6 = !!(p->flags & DNS_PKT_IPV6);
	if (query)
		on_query(c, p, &k, &st->msg);
	else
		on_response(c, p, &k, &st->msg);
	/* Published (or not) by the collector itself. */
	return DECODE_OK;
}

static void dns_tick(struct collector_runtime *c, uint64_t now_ktime_ns)
{
	if (!st)
		return;
	while (st->oldest != NIL &&
	       st->slots[st->oldest].q.ktime_ns + st->timeout_ns <= now_ktime_ns) {
		struct dns_query q = st->slots[st->oldest].q;

		unlink_slot(st->oldest);
		st->stats.timeouts++;
		publish(c, &q, DNS_KIND_TIMEOUT, NULL, 0);
	}
	st->ticks++;
	if (st->stats_interval_s && st->ticks % (uint64_t)st->stats_interval_s == 0)
		log_stats();
}

/* BPF side. */

/* cfg->dns_ports was validated by config.c: "p[,p...]", 1..DNS_PORTS_MAX ports. */
static int parse_ports(const char *text, uint16_t *ports)
{
	const char *s = text && *text ? text : "53";
	int n = 0;

	while (*s && n < DNS_PORTS_MAX) {
		char *end;
		unsigned long v = strtoul(s, &end, 10);

		if (end == s || v < 1 || v > 65535)
			return -EINVAL;
		ports[n++] = (uint16_t)v;
		s = *end == ',' ? end + 1 : end;
		while (*s == ' ' || *s == '\t')
			s++;
	}
	return n ? n : -EINVAL;
}

static int attach_one(struct bpf_program *prog, int cgroup_fd, const char *root,
		      struct bpf_link **link)
{
	*link = bpf_program__attach_cgroup(prog, cgroup_fd);
	if (!*link) {
		int err = -errno;

		log_error("dns: cannot attach %s to the cgroup v2 root %s: %s",
			  bpf_program__section_name(prog), root, strerror(-err));
		return err;
	}
	return 0;
}

static int dns_open(struct collector_runtime *c, struct collector_io *io)
{
	const struct tapio_config *cfg = c->pipeline->cfg;
	uint16_t ports[DNS_PORTS_MAX];
	char root[PATH_MAX];
	int n, err, fd;

	n = parse_ports(cfg->dns_ports, ports);
	if (n < 0) {
		log_error("dns: bad dns_ports \"%s\"", cfg->dns_ports);
		return n;
	}
	err = dns_state_reset(cfg);
	if (err) {
		log_error("dns: %s", strerror(-err));
		return err;
	}
	skel = dns_bpf__open();
	if (!skel) {
		err = -errno;
		log_error("dns: cannot open BPF object: %s", strerror(-err));
		return err;
	}
	for (int i = 0; i < n; i++)
		skel->rodata->dns_ports[i] = ports[i];
	skel->rodata->dns_port_count = (uint32_t)n;
	bpf_map__set_max_entries(skel->maps.events, (uint32_t)cfg->ringbuf_kb << 10);
	err = dns_bpf__load(skel);
	if (err) {
		log_error("dns: cannot load BPF programs (cgroup_skb, bpf_skb_cgroup_id): %s",
			  strerror(-err));
		return err;
	}
	err = cgroup2_root_find(root, sizeof(root));
	if (err) {
		log_error("dns: no cgroup v2 mount in /proc/self/mountinfo to attach to");
		return err;
	}
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		log_error("dns: cannot open the cgroup v2 root %s: %s", root, strerror(-err));
		return err;
	}
	err = attach_one(skel->progs.dns_egress, fd, root, &skel->links.dns_egress);
	if (!err)
		err = attach_one(skel->progs.dns_ingress, fd, root, &skel->links.dns_ingress);
	close(fd);
	if (err)
		return err;
	io->ring_fd = bpf_map__fd(skel->maps.events);
	io->counters_fd = bpf_map__fd(skel->maps.reserve_failures);
	attached = true;
	log_info("dns: cgroup_skb on %s, ports %s, timeout %d ms, up to %d pending queries", root,
		 cfg->dns_ports ? cfg->dns_ports : "53", cfg->dns_timeout_ms, cfg->dns_pending_max);
	return 0;
}

static void dns_stop(struct collector_runtime *c)
{
	(void)c;
	if (!skel)
		return;
	bpf_link__destroy(skel->links.dns_egress);
	bpf_link__destroy(skel->links.dns_ingress);
	skel->links.dns_egress = skel->links.dns_ingress = NULL;
}

static void dns_destroy(struct collector_runtime *c)
{
	(void)c;
	/* After the pipeline's own counters: ours, with what was still waiting. */
	if (st && attached)
		log_stats();
	attached = false;
	dns_bpf__destroy(skel);
	skel = NULL;
	state_free();
}

/* Records are published from on_response() (a query's response) and dns_tick() (its timeout). */
const struct collector_ops dns_collector = {
	.name = "dns",
	.open = dns_open,
	.ring_record = dns_ring_record,
	.tick = dns_tick,
	.render_metrics = render_metrics,
	.stop = dns_stop,
	.destroy = dns_destroy,
};
