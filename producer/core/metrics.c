#include "metrics.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_client.h"
#include "log.h"
#include "pipeline.h"

#ifndef TAPIO_VERSION
#define TAPIO_VERSION "0.0.0"
#endif

/* The loop ticks every second; three missed ticks mean it is stuck. */
#define HEALTHY_TICK_AGE_MS 3000
/* librdkafka reports every statistics.interval.ms (5 s by default). */
#define STATS_FRESH_MS 20000

int metrics_open(struct metrics_server *m, const char *listen_addr, char *errstr, size_t errstr_size)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICHOST };
	struct addrinfo *ai = NULL;
	struct sockaddr_storage bound;
	socklen_t bound_len = sizeof(bound);
	char host[64], port[16], shown[INET6_ADDRSTRLEN];
	const char *colon = strrchr(listen_addr, ':');
	size_t host_len;
	int one = 1, err, fd = -1;

	m->listen_fd = -1;
	for (int i = 0; i < METRICS_MAX_CLIENTS; i++)
		m->clients[i].fd = -1;
	if (!colon || !colon[1] || strlen(colon + 1) >= sizeof(port)) {
		snprintf(errstr, errstr_size, "metrics_listen \"%s\": want host:port", listen_addr);
		return -EINVAL;
	}
	host_len = (size_t)(colon - listen_addr);
	if (host_len >= 2 && listen_addr[0] == '[' && listen_addr[host_len - 1] == ']') {
		listen_addr++;
		host_len -= 2;
	}
	if (host_len >= sizeof(host)) {
		snprintf(errstr, errstr_size, "metrics_listen \"%s\": host too long", listen_addr);
		return -EINVAL;
	}
	memcpy(host, listen_addr, host_len);
	host[host_len] = '\0';
	snprintf(port, sizeof(port), "%s", colon + 1);
	err = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (err) {
		snprintf(errstr, errstr_size, "metrics_listen \"%s:%s\": %s", host, port, gai_strerror(err));
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)&bound, &bound_len) < 0) {
		err = -errno;
		snprintf(errstr, errstr_size, "metrics_listen %s:%s: %s", host, port, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return err;
	}
	freeaddrinfo(ai);
	if (bound.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&bound;

		inet_ntop(AF_INET6, &a->sin6_addr, shown, sizeof(shown));
		snprintf(m->address, sizeof(m->address), "[%s]:%u", shown, ntohs(a->sin6_port));
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&bound;

		inet_ntop(AF_INET, &a->sin_addr, shown, sizeof(shown));
		snprintf(m->address, sizeof(m->address), "%s:%u", shown, ntohs(a->sin_port));
	}
	m->listen_fd = fd;
	return 0;
}

static void drop_client(struct metrics_client *c)
{
	close(c->fd); /* also removes it from epoll */
	free(c->response);
	*c = (struct metrics_client){ .fd = -1 };
}

static bool past_deadline(const struct metrics_client *c, int64_t now_ms)
{
	switch (c->state) {
	case METRICS_READING:
		return now_ms - c->accepted_ms > METRICS_REQUEST_TIMEOUT_MS;
	case METRICS_WRITING:
		return now_ms - c->accepted_ms > METRICS_CLIENT_TIMEOUT_MS;
	case METRICS_LINGERING:
		return now_ms - c->answered_ms > METRICS_LINGER_MS;
	}
	return true;
}

/* The slot to take from someone when all are in use: a lingering client (its answer is out),
 * else the oldest still reading a request, else the oldest being answered. */
static int victim(const struct metrics_server *m)
{
	int best = 0;

	for (int i = 1; i < METRICS_MAX_CLIENTS; i++) {
		const struct metrics_client *c = &m->clients[i], *b = &m->clients[best];
		int rank_c = c->state == METRICS_LINGERING ? 0 : c->state == METRICS_READING ? 1 : 2;
		int rank_b = b->state == METRICS_LINGERING ? 0 : b->state == METRICS_READING ? 1 : 2;

		if (rank_c < rank_b || (rank_c == rank_b && c->accepted_ms < b->accepted_ms))
			best = i;
	}
	return best;
}

/* At most this many accepts per call: a flood of connections cannot keep the loop here. */
#define ACCEPTS_PER_CALL (2 * METRICS_MAX_CLIENTS)

void metrics_accept(struct metrics_server *m, int epfd, uint32_t tag_base,
		    const struct pipeline *pl, int64_t now_ms)
{
	m->epfd = epfd;
	m->tag_base = tag_base;
	metrics_expire(m, now_ms);
	for (int n = 0; n < ACCEPTS_PER_CALL; n++) {
		int fd = accept4(m->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), i;
		struct epoll_event ev = { .events = EPOLLIN };

		if (fd < 0)
			return;
		for (i = 0; i < METRICS_MAX_CLIENTS && m->clients[i].fd >= 0; i++)
			;
		if (i == METRICS_MAX_CLIENTS) {
			i = victim(m);
			log_debug("metrics: %d clients connected: closing one for a new one",
				  METRICS_MAX_CLIENTS);
			drop_client(&m->clients[i]);
			m->evicted++;
		}
		ev.data.u32 = tag_base + (uint32_t)i;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			continue;
		}
		m->clients[i] = (struct metrics_client){ .fd = fd, .state = METRICS_READING,
							 .accepted_ms = now_ms };
		/* A probe's request is often there already: answer it now, freeing the slot. */
		metrics_serve(m, i, pl, now_ms);
	}
}

static void label_value(FILE *out, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', out);
		if (*v == '\n')
			fputs("\\n", out);
		else
			fputc(*v, out);
	}
}

static void family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(FILE *out, const char *name, const char *collector, const char *label,
		   const char *value, uint64_t n)
{
	fprintf(out, "%s{collector=\"", name);
	label_value(out, collector);
	if (label) {
		fprintf(out, "\",%s=\"", label);
		label_value(out, value);
	}
	fprintf(out, "\"} %" PRIu64 "\n", n);
}

/* One counter family, one sample per collector, from a collector_stats field. */
#define PER_COLLECTOR(out_, pl_, metric_, help_, field_)                                        \
	do {                                                                                   \
		family(out_, metric_, "counter", help_);                                       \
		for (size_t i_ = 0; i_ < (pl_)->ncollectors; i_++)                             \
			sample(out_, metric_, (pl_)->collectors[i_].ops->name, NULL, NULL,     \
			       (pl_)->collectors[i_].stats.field_);                            \
	} while (0)

static void render_reserve_failures(const struct pipeline *pl, FILE *out)
{
	int ncpus = libbpf_num_possible_cpus();
	char cpu[16];
	uint32_t key = 0;

	family(out, "tapio_ringbuf_reserve_failures_total", "counter",
	       "Records the kernel could not write because the collector's ring buffer was full, by CPU.");
	for (size_t i = 0; ncpus > 0 && i < pl->ncollectors; i++) {
		const struct collector_runtime *c = &pl->collectors[i];
		uint64_t *values;

		if (c->state != COLLECTOR_RUNNING || c->io.counters_fd < 0)
			continue;
		values = calloc((size_t)ncpus, sizeof(*values));
		if (values && bpf_map_lookup_elem(c->io.counters_fd, &key, values) == 0) {
			for (int n = 0; n < ncpus; n++) {
				snprintf(cpu, sizeof(cpu), "%d", n);
				sample(out, "tapio_ringbuf_reserve_failures_total", c->ops->name, "cpu",
				       cpu, values[n]);
			}
		}
		free(values);
	}
}

/* The queues from HTTP collectors' workers to the event loop. */
static void render_handoffs(const struct pipeline *pl, FILE *out)
{
	bool any = false;

	for (size_t i = 0; i < pl->ncollectors; i++)
		any = any || pl->collectors[i].io.handoff;
	if (!any)
		return;
	family(out, "tapio_handoff_queue_records", "gauge",
	       "Records a collector's worker handed over that the event loop has not taken yet.");
	for (size_t i = 0; i < pl->ncollectors; i++) {
		const struct collector_runtime *c = &pl->collectors[i];
		uint64_t entries, bytes;

		if (!c->io.handoff)
			continue;
		handoff_depth(c->io.handoff, &entries, &bytes);
		sample(out, "tapio_handoff_queue_records", c->ops->name, NULL, NULL, entries);
	}
}

/* The HTTP collectors' clients: one HELP and TYPE per family for all of them. */
static void render_http_clients(const struct pipeline *pl, FILE *out)
{
	struct http_client *clients[2 * COLLECTOR_MAX];
	size_t n = 0;

	for (size_t i = 0; i < pl->ncollectors; i++) {
		if (pl->collectors[i].state != COLLECTOR_RUNNING)
			continue;
		if (pl->collectors[i].io.http)
			clients[n++] = pl->collectors[i].io.http;
		if (pl->collectors[i].io.http_second)
			clients[n++] = pl->collectors[i].io.http_second;
	}
	if (n)
		http_client_render_metrics(clients, n, out);
}

void metrics_render(const struct pipeline *pl, FILE *out)
{
	const struct kafka_stats *ks = pl->publisher_open ? &pl->publisher.stats : NULL;
	struct identity_stats id = { 0 };

	family(out, "tapio_build_info", "gauge", "Producer version.");
	fprintf(out, "tapio_build_info{version=\"%s\"} 1\n", TAPIO_VERSION);

	family(out, "tapio_collector_up", "gauge",
	       "1 when the collector runs (its programs attached, its sources open; an HTTP "
	       "collector: its server answering). A collector skipped for having nothing to "
	       "connect to (not in a cluster) is not listed.");
	for (size_t i = 0; i < pl->ncollectors; i++) {
		const struct collector_runtime *c = &pl->collectors[i];

		/* Not asked for and nothing to connect to: not down, absent (no alert under
		 * docker compose or make run, where there is no cluster). */
		if (c->state == COLLECTOR_SKIPPED)
			continue;
		sample(out, "tapio_collector_up", c->ops->name, NULL, NULL,
		       c->state == COLLECTOR_RUNNING && (!c->ops->up || c->ops->up(c)));
	}

	PER_COLLECTOR(out, pl, "tapio_records_received_total",
		      "Records read from the collector's ring buffer or taken from its hand-off queue.",
		      received);
	PER_COLLECTOR(out, pl, "tapio_records_made_total",
		      "Records the collector made (tombstones included, LOSS records not), whatever "
		      "became of them later.", made);
	family(out, "tapio_records_rejected_total", "counter",
	       "Ring-buffer records rejected by the decoder, by reason.");
	for (size_t i = 0; i < pl->ncollectors; i++)
		for (int r = DECODE_OK + 1; r < DECODE_RESULT_MAX; r++)
			sample(out, "tapio_records_rejected_total", pl->collectors[i].ops->name,
			       "reason", decode_result_name(r), pl->collectors[i].stats.rejected[r]);
	family(out, "tapio_records_dropped_total", "counter",
	       "Records lost before Kafka took them, by stage: handoff (a collector's worker found "
	       "its queue to the event loop full), encode (too large), queue_full (librdkafka's "
	       "queue stayed full), produce (librdkafka refused them), spool (the spool was full or "
	       "failed).");
	for (size_t i = 0; i < pl->ncollectors; i++) {
		const struct collector_runtime *c = &pl->collectors[i];

		if (c->io.handoff)
			sample(out, "tapio_records_dropped_total", c->ops->name, "stage",
			       "handoff", c->stats.handoff_refused);
		sample(out, "tapio_records_dropped_total", c->ops->name, "stage", "encode",
		       c->stats.encode_failed);
		sample(out, "tapio_records_dropped_total", c->ops->name, "stage", "queue_full",
		       c->stats.queue_full);
		sample(out, "tapio_records_dropped_total", c->ops->name, "stage", "produce",
		       c->stats.produce_failed);
		sample(out, "tapio_records_dropped_total", c->ops->name, "stage", "spool",
		       c->stats.spool_failed);
	}
	family(out, "tapio_topic_missing", "gauge",
	       "1 while the brokers say the collector's topic does not exist (create it).");
	for (size_t i = 0; i < pl->ncollectors; i++)
		sample(out, "tapio_topic_missing", pl->collectors[i].ops->name, NULL, NULL,
		       pl->collectors[i].topic_missing);
	PER_COLLECTOR(out, pl, "tapio_records_spooled_total",
		      "Records written to the disk spool because Kafka could not take them.", spooled);
	PER_COLLECTOR(out, pl, "tapio_records_replayed_total",
		      "Spooled records handed to librdkafka again.", replayed);
	PER_COLLECTOR(out, pl, "tapio_records_spool_evicted_total",
		      "Spooled records the full spool dropped again (spool_full = drop_oldest), "
		      "reported in band as SPOOL_EVICTED.", spool_evicted);
	PER_COLLECTOR(out, pl, "tapio_loss_records_total",
		      "LOSS records published on the collector's topic (reports, not kernel events).",
		      loss_records);
	PER_COLLECTOR(out, pl, "tapio_records_produced_total",
		      "Records handed to librdkafka (tombstones included).", produced);
	PER_COLLECTOR(out, pl, "tapio_records_delivered_total",
		      "Records the broker acknowledged (delivery report without error).", delivered);
	family(out, "tapio_records_delivery_failed_total", "counter",
	       "Records whose delivery report carried an error, by error.");
	for (size_t i = 0; i < pl->ncollectors; i++) {
		const struct collector_runtime *c = &pl->collectors[i];

		for (size_t e = 0; e < sizeof(c->stats.delivery_errors) / sizeof(c->stats.delivery_errors[0]); e++)
			if (c->stats.delivery_errors[e].count)
				sample(out, "tapio_records_delivery_failed_total", c->ops->name, "error",
				       rd_kafka_err2name(c->stats.delivery_errors[e].err),
				       c->stats.delivery_errors[e].count);
		if (c->stats.delivery_errors_other)
			sample(out, "tapio_records_delivery_failed_total", c->ops->name, "error",
			       "other", c->stats.delivery_errors_other);
	}
	render_reserve_failures(pl, out);
	PER_COLLECTOR(out, pl, "tapio_records_incomplete_total",
		      "Records sent without their start (duration, process) because a BPF state map "
		      "was full.", state_map_full);

	render_handoffs(pl, out);
	render_http_clients(pl, out);
	for (size_t i = 0; i < pl->ncollectors; i++)
		if (pl->collectors[i].state == COLLECTOR_RUNNING && pl->collectors[i].ops->render_metrics)
			pl->collectors[i].ops->render_metrics(&pl->collectors[i], out);

	if (pl->identity)
		identity_get_stats(pl->identity, &id);
	family(out, "tapio_identity_entries", "gauge", "cgroups in the identity cache.");
	fprintf(out, "tapio_identity_entries %" PRIu64 "\n", id.entries);
	family(out, "tapio_identity_misses_total", "counter",
	       "Lookups of a cgroup the cache did not know yet, resolved from its id.");
	fprintf(out, "tapio_identity_misses_total %" PRIu64 "\n", id.misses);
	family(out, "tapio_identity_unresolved_total", "counter",
	       "Misses whose cgroup was already gone: records keyed <node>/<cgroup id> without a pod.");
	fprintf(out, "tapio_identity_unresolved_total %" PRIu64 "\n", id.unresolved);
	family(out, "tapio_identity_evicted_total", "counter",
	       "Removed cgroups dropped after the grace period.");
	fprintf(out, "tapio_identity_evicted_total %" PRIu64 "\n", id.evicted);
	family(out, "tapio_identity_refused_total", "counter",
	       "cgroups not cached because the cache was full.");
	fprintf(out, "tapio_identity_refused_total %" PRIu64 "\n", id.refused);

	if (pl->spool) {
		struct spool_stats ss;

		spool_get_stats(pl->spool, &ss);
		family(out, "tapio_spool_records", "gauge", "Records in the disk spool, not yet delivered.");
		fprintf(out, "tapio_spool_records %" PRIu64 "\n", ss.pending_records);
		family(out, "tapio_spool_bytes", "gauge", "Size of the disk spool's segment files.");
		fprintf(out, "tapio_spool_bytes %" PRIu64 "\n", ss.pending_bytes);
		family(out, "tapio_spool_evicted_total", "counter",
		       "Spooled records dropped because the spool was full (spool_full policy).");
		fprintf(out, "tapio_spool_evicted_total %" PRIu64 "\n", ss.dropped_full);
		family(out, "tapio_spool_write_errors_total", "counter", "Spool writes that failed.");
		fprintf(out, "tapio_spool_write_errors_total %" PRIu64 "\n", ss.write_errors);
		family(out, "tapio_spool_recovered_records", "gauge",
		       "Records found in the spool at start, left by an earlier run.");
		fprintf(out, "tapio_spool_recovered_records %" PRIu64 "\n", pl->spool_recovered.records);
		family(out, "tapio_spool_torn_records", "gauge",
		       "Torn or corrupt records found in the spool at start and dropped.");
		fprintf(out, "tapio_spool_torn_records %" PRIu64 "\n", pl->spool_recovered.torn);
		family(out, "tapio_spool_foreign_records_total", "counter",
		       "Spooled records of a collector this build does not know, dropped.");
		fprintf(out, "tapio_spool_foreign_records_total %" PRIu64 "\n", pl->spool_foreign);
		family(out, "tapio_spool_skipped_regions", "gauge",
		       "Damaged stretches of spool segments skipped at start whose record count is "
		       "unknown (each held at least one record).");
		fprintf(out, "tapio_spool_skipped_regions %" PRIu64 "\n",
			pl->spool_recovered.skipped_regions);
		family(out, "tapio_spool_skipped_bytes", "gauge",
		       "Bytes of those stretches.");
		fprintf(out, "tapio_spool_skipped_bytes %" PRIu64 "\n",
			pl->spool_recovered.skipped_bytes);
		family(out, "tapio_spool_unreadable_segments", "gauge",
		       "Spool segment files found at start that could not be read, set aside.");
		fprintf(out, "tapio_spool_unreadable_segments %" PRIu64 "\n",
			pl->spool_recovered.unreadable_segments);
	}
	if (!ks || !ks->updated_ms)
		return;
	family(out, "tapio_kafka_queue_messages", "gauge", "Messages waiting in librdkafka's queues.");
	fprintf(out, "tapio_kafka_queue_messages %" PRId64 "\n", ks->msg_cnt);
	family(out, "tapio_kafka_queue_bytes", "gauge", "Bytes waiting in librdkafka's queues.");
	fprintf(out, "tapio_kafka_queue_bytes %" PRId64 "\n", ks->msg_size);
	family(out, "tapio_kafka_retries_total", "counter", "Produce requests retried.");
	fprintf(out, "tapio_kafka_retries_total %" PRId64 "\n", ks->txretries);
	family(out, "tapio_kafka_broker_up", "gauge", "1 when the connection to the broker is up.");
	for (int b = 0; b < ks->nbrokers; b++) {
		fputs("tapio_kafka_broker_up{broker=\"", out);
		label_value(out, ks->brokers[b].name);
		fprintf(out, "\"} %d\n", ks->brokers[b].up);
	}
	family(out, "tapio_kafka_broker_rtt_seconds", "gauge",
	       "Average request round-trip time to the broker over the last statistics interval.");
	for (int b = 0; b < ks->nbrokers; b++) {
		fputs("tapio_kafka_broker_rtt_seconds{broker=\"", out);
		label_value(out, ks->brokers[b].name);
		fprintf(out, "\"} %.6f\n", ks->brokers[b].rtt_avg_us / 1e6);
	}
}

const char *metrics_not_ready(const struct pipeline *pl, int64_t now_ms)
{
	static char why[320]; /* the event loop is the only caller */
	const struct kafka_stats *ks = &pl->publisher.stats;

	if (!pl->attached)
		return "collectors not attached yet";
	for (size_t i = 0; i < pl->ncollectors; i++)
		if (pl->collectors[i].topic_missing) {
			snprintf(why, sizeof(why), "topic %s does not exist (tapio-producer "
				 "--print-topics says how to create it)", pl->collectors[i].topic_name);
			return why;
		}
	if (pl->spool)
		return NULL; /* the spool takes records whether or not a broker answers */
	if (!ks->updated_ms || now_ms - ks->updated_ms > STATS_FRESH_MS)
		return "no recent Kafka statistics yet";
	for (int b = 0; b < ks->nbrokers; b++)
		if (ks->brokers[b].up)
			return NULL;
	return "no broker reachable";
}

/* Makes the client's response (the body left out for HEAD); without memory, none (the client
 * is dropped). */
static void respond(struct metrics_client *c, const char *version, bool head, int status,
		    const char *reason, const char *extra_headers, const char *type, const char *body,
		    size_t len)
{
	char top[320];
	size_t body_len = head ? 0 : len;
	int n = snprintf(top, sizeof(top),
			 "%s %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
			 "Connection: close\r\n\r\n", version, status, reason, type, len,
			 extra_headers);

	if (n < 0 || (size_t)n >= sizeof(top))
		return;
	c->response = malloc((size_t)n + body_len);
	if (!c->response)
		return;
	memcpy(c->response, top, (size_t)n);
	memcpy(c->response + n, body, body_len);
	c->response_len = (size_t)n + body_len;
	c->sent = 0;
}

#define TEXT "text/plain; charset=utf-8"
#define RESPOND(c_, v_, head_, status_, reason_, body_)                                        \
	respond(c_, v_, head_, status_, reason_, "", TEXT, body_, sizeof(body_) - 1)

/* Parses the request line "METHOD SP target SP HTTP/1.x" and answers it. Headers are not needed:
 * every answer closes the connection, whatever Connection: says. */
static void answer(struct metrics_client *c, const struct pipeline *pl, int64_t now_ms)
{
	const char *line = c->request, *sp1, *sp2, *eol, *version = "HTTP/1.1";
	char path[256];
	size_t path_len;
	bool head;
	const char *why;

	eol = strpbrk(line, "\r\n");
	sp1 = memchr(line, ' ', eol ? (size_t)(eol - line) : 0);
	sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	if (!eol || !sp1 || !sp2 || sp2 == sp1 + 1 || sp1[1] != '/') {
		RESPOND(c, version, false, 400, "Bad Request", "bad request\n");
		return;
	}
	if ((size_t)(eol - sp2 - 1) == 8 && !strncmp(sp2 + 1, "HTTP/1.0", 8)) {
		version = "HTTP/1.0";
	} else if ((size_t)(eol - sp2 - 1) != 8 || strncmp(sp2 + 1, "HTTP/1.1", 8)) {
		RESPOND(c, version, false, 505, "HTTP Version Not Supported", "HTTP/1.0 or 1.1\n");
		return;
	}
	head = sp1 - line == 4 && !strncmp(line, "HEAD", 4);
	if (!head && (sp1 - line != 3 || strncmp(line, "GET", 3))) {
		respond(c, version, false, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n", TEXT,
			"GET or HEAD\n", 12);
		return;
	}
	/* The query string, if any, is ignored. */
	path_len = strcspn(sp1 + 1, "? ");
	if (path_len >= sizeof(path)) {
		RESPOND(c, version, head, 404, "Not Found", "try /metrics, /healthz or /readyz\n");
		return;
	}
	memcpy(path, sp1 + 1, path_len);
	path[path_len] = '\0';
	if (strcmp(path, "/metrics") == 0) {
		char *body = NULL;
		size_t len = 0;
		FILE *out = open_memstream(&body, &len);

		if (!out) {
			RESPOND(c, version, head, 500, "Internal Server Error", "out of memory\n");
			return;
		}
		metrics_render(pl, out);
		fclose(out);
		respond(c, version, head, 200, "OK", "", "text/plain; version=0.0.4; charset=utf-8",
			body, len);
		free(body);
	} else if (strcmp(path, "/healthz") == 0) {
		if (now_ms - pl->last_tick_ms <= HEALTHY_TICK_AGE_MS)
			RESPOND(c, version, head, 200, "OK", "ok\n");
		else
			RESPOND(c, version, head, 503, "Service Unavailable", "event loop stalled\n");
	} else if (strcmp(path, "/readyz") == 0) {
		why = metrics_not_ready(pl, now_ms);
		if (!why)
			RESPOND(c, version, head, 200, "OK", "ready\n");
		else
			respond(c, version, head, 503, "Service Unavailable", "", TEXT, why,
				strlen(why));
	} else {
		RESPOND(c, version, head, 404, "Not Found", "try /metrics, /healthz or /readyz\n");
	}
}

static bool watch_for(struct metrics_server *m, int idx, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.u32 = m->tag_base + (uint32_t)idx };

	return epoll_ctl(m->epfd, EPOLL_CTL_MOD, m->clients[idx].fd, &ev) == 0;
}

/* Sends what the socket takes; true while some is left and EPOLLOUT will bring the rest. */
static bool send_some(struct metrics_server *m, int idx)
{
	struct metrics_client *c = &m->clients[idx];

	while (c->sent < c->response_len) {
		ssize_t n = send(c->fd, c->response + c->sent, c->response_len - c->sent,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			/* Watch for room instead of input from now on (MOD again is harmless). */
			return watch_for(m, idx, EPOLLOUT);
		if (n <= 0) {
			log_debug("metrics: client went away: %s", strerror(errno));
			return false;
		}
		c->sent += (size_t)n;
	}
	return false;
}

/* Lingering: reading what the client still sends (and dropping it) until it closes. True while
 * the connection stays open. */
#define LINGER_DISCARD_MAX (64 * 1024)

static bool discard_input(struct metrics_client *c)
{
	char sink[4096];

	for (;;) {
		ssize_t n = read(c->fd, sink, sizeof(sink));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n <= 0)
			return false; /* closed (or reset): done */
		c->discarded += (size_t)n;
		if (c->discarded > LINGER_DISCARD_MAX)
			return false;
	}
}

void metrics_serve(struct metrics_server *m, int idx, const struct pipeline *pl, int64_t now_ms)
{
	struct metrics_client *c;
	ssize_t n;

	if (idx < 0 || idx >= METRICS_MAX_CLIENTS || m->clients[idx].fd < 0)
		return;
	c = &m->clients[idx];
	if (c->state == METRICS_LINGERING) {
		if (!discard_input(c))
			drop_client(c);
		return;
	}
	if (c->state == METRICS_READING) {
		n = read(c->fd, c->request + c->len, sizeof(c->request) - 1 - c->len);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		if (n <= 0) {
			drop_client(c);
			return;
		}
		c->len += (size_t)n;
		c->request[c->len] = '\0';
		/* Only the request line matters; wait for the end of the headers unless full. */
		if (strstr(c->request, "\r\n\r\n") || strstr(c->request, "\n\n"))
			answer(c, pl, now_ms);
		else if (c->len == sizeof(c->request) - 1)
			RESPOND(c, "HTTP/1.1", false, 431, "Request Header Fields Too Large",
				"request too large\n");
		else
			return;
		if (!c->response) {
			drop_client(c);
			return;
		}
		c->state = METRICS_WRITING;
	}
	if (send_some(m, idx))
		return;
	if (c->sent < c->response_len) {
		drop_client(c); /* the client went away */
		return;
	}
	/* Answered. Half-close, and read until the client closes: closing with unread input (a
	 * pipelined request) would reset the connection and could destroy the answer in flight. */
	free(c->response);
	c->response = NULL;
	c->state = METRICS_LINGERING;
	c->answered_ms = now_ms;
	if (shutdown(c->fd, SHUT_WR) < 0 || !watch_for(m, idx, EPOLLIN) || !discard_input(c))
		drop_client(c);
}

void metrics_expire(struct metrics_server *m, int64_t now_ms)
{
	for (int i = 0; i < METRICS_MAX_CLIENTS; i++) {
		if (m->clients[i].fd >= 0 && past_deadline(&m->clients[i], now_ms)) {
			if (m->clients[i].state != METRICS_LINGERING)
				m->expired++;
			drop_client(&m->clients[i]);
		}
	}
}

void metrics_close(struct metrics_server *m)
{
	if (m->listen_fd < 0)
		return; /* never opened: no clients either */
	for (int i = 0; i < METRICS_MAX_CLIENTS; i++)
		if (m->clients[i].fd >= 0)
			drop_client(&m->clients[i]);
	if (m->listen_fd >= 0)
		close(m->listen_fd);
	m->listen_fd = -1;
}
