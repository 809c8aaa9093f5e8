/*
 * Collector `kubelet`: the node's own kubelet, read every kubelet_interval_s on a worker thread.
 *
 * Each scrape reads /pods, then /stats/summary:
 *   /pods           the containers' ids (for this scrape's POD_STATS) and the state changes
 *                   since the previous poll (kubelet_pods.c), published only on a change;
 *   /stats/summary  POD_STATS per pod and NODE_STATS (kubelet_map.c).
 * A request that fails or times out publishes SCRAPE_FAILED. Scrapes never overlap: the next one
 * starts at the first tick of the schedule (start + k * interval) after the previous one ended;
 * the ticks it ran past are skipped, counted (tapio_kubelet_missed_intervals_total) and said in
 * the next NODE_STATS (missed_intervals).
 *
 * Restarts: the state changes are judged against is checkpointed beside the number of the poll
 * that produced it (source "pods"), once Kafka acknowledged every record of that poll, so a
 * restarted producer announces only what changed since (no POD_STATUS_SNAPSHOT again, no change
 * twice). Without state_dir every start publishes the snapshots.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "http_worker.h"
#include "kube_env.h"
#include "kubelet_collector.h"
#include "log.h"
#include "pipeline.h"

#define KUBELET_PORT 10250
/* Polls whose state waits for Kafka's acknowledgement, at most; beyond, a poll leaves no
 * position (the checkpoint then stays older: a restart may announce a change again, never miss
 * one). */
#define HISTORY_MAX 16
/* Longest sleep between two looks at the durable position (checkpoints). */
#define CHECKPOINT_SLICE_MS 1000
#define HANDOFF_ENTRIES 16384
#define HANDOFF_BYTES (64u << 20)

enum endpoint { EP_PODS, EP_SUMMARY, EP_MAX };

static const char *const endpoint_paths[EP_MAX] = { "/pods", "/stats/summary" };

static const char *const outcome_names[KUBELET_OUTCOME_MAX] = {
	[KUBELET_OUTCOME_UNKNOWN] = "unknown",
	[KUBELET_OUTCOME_HTTP_4XX] = "http_4xx",
	[KUBELET_OUTCOME_HTTP_5XX] = "http_5xx",
	[KUBELET_OUTCOME_HTTP_OTHER] = "http_other",
	[KUBELET_OUTCOME_TRANSPORT] = "transport",
	[KUBELET_OUTCOME_TLS] = "tls",
	[KUBELET_OUTCOME_TIMEOUT] = "timeout",
	[KUBELET_OUTCOME_TOO_LARGE] = "too_large",
	[KUBELET_OUTCOME_JSON] = "json",
	[KUBELET_OUTCOME_BAD_BODY] = "bad_body",
	[KUBELET_OUTCOME_SETUP] = "setup",
};

/* How records are pushed: state changes wait for room as long as it takes (they are not
 * repeated); resource use waits one interval (the next scrape supersedes it). */
struct push_ctx {
	int wait_ms;
};

static struct {
	struct http_worker w;
	struct http_source src;
	uint32_t interval_ms, timeout_ms;
	char node[256];
	bool insecure;

	/* The worker's alone. */
	struct kubelet_pods pods;    /* the last /pods read: container ids */
	struct kubelet_state state;  /* what the next /pods is judged against */
	bool baseline;               /* state holds one (else the next /pods is a snapshot) */
	uint64_t poll;               /* number of the last poll of /pods */
	struct {
		uint64_t poll;
		struct kubelet_state state;
	} history[HISTORY_MAX];      /* states of polls not yet acknowledged, oldest first */
	unsigned history_head, history_count;
	struct kubelet_counts counts;
	bool tls_hint_logged;
	bool bad_body[EP_MAX];       /* the last body of the endpoint was not what it should be */
	uint32_t last_missed;
	uint8_t body[HANDOFF_BODY_MAX];

	/* Counters the event loop reads (atomics). */
	uint64_t ok[EP_MAX];
	uint64_t failed[EP_MAX][KUBELET_OUTCOME_MAX];
	uint64_t missed;
	uint64_t skipped[KUBELET_SKIP_MAX];
	uint64_t npods;
} kl;

/* The mappers count into kl.counts (the worker's); /metrics reads the copies. */
static void publish_counts(void)
{
	for (int i = 0; i < KUBELET_SKIP_MAX; i++)
		__atomic_store_n(&kl.skipped[i], kl.counts.n[i], __ATOMIC_RELAXED);
}

static int push(void *ctx, const struct handoff_meta *meta, const char *key, size_t key_len,
		const void *body, size_t body_len)
{
	const struct push_ctx *pc = ctx;
	int err = handoff_push_record(kl.w.handoff, meta, key, key_len, body, body_len,
				      pc->wait_ms);

	/* A refusal is counted by the hand-off (a HANDOFF loss, in band); only a stop stops. */
	return err == -ECANCELED ? err : 0;
}

/* Checkpoints */

/* Keeps the state of poll `poll` until Kafka acknowledged it, and says so with a position. */
static void remember(uint64_t poll)
{
	char position[HANDOFF_POSITION_MAX];
	unsigned at;

	if (!kl.w.state_dir[0]) /* no checkpoints: nothing to keep */
		return;
	if (kl.history_count == HISTORY_MAX) {
		log_debug("kubelet: poll %" PRIu64 " not acknowledged yet: no checkpoint for it", poll);
		return;
	}
	at = (kl.history_head + kl.history_count) % HISTORY_MAX;
	if (kubelet_state_copy(&kl.state, &kl.history[at].state))
		return;
	kl.history[at].poll = poll;
	kl.history_count++;
	snprintf(position, sizeof(position), "%" PRIu64, poll);
	handoff_push_mark(kl.w.handoff, 0, position);
}

/* http_source.state_at: the state of the newest remembered poll up to `position` (Kafka
 * acknowledged it: older ones are dropped). */
static char *state_at(struct http_source *src, const char *position, size_t *len)
{
	uint64_t poll = strtoull(position, NULL, 10);

	(void)src;
	*len = 0;
	while (kl.history_count > 1 &&
	       kl.history[(kl.history_head + 1) % HISTORY_MAX].poll <= poll) {
		kubelet_state_free(&kl.history[kl.history_head].state);
		kl.history_head = (kl.history_head + 1) % HISTORY_MAX;
		kl.history_count--;
	}
	if (!kl.history_count || kl.history[kl.history_head].poll > poll)
		return NULL;
	return kubelet_state_serialize(&kl.history[kl.history_head].state, len);
}

static void load_checkpoint(void)
{
	char position[HANDOFF_POSITION_MAX], *state = NULL;
	size_t len = 0;
	int err;

	if (http_worker_load(&kl.w, 0, position, sizeof(position), &state, &len) != 0)
		return; /* none (logged when corrupt): every pod is announced */
	kl.poll = strtoull(position, NULL, 10);
	err = kubelet_state_parse(state ? state : "", len, &kl.state);
	if (err)
		log_warn("kubelet: the state in the checkpoint is unreadable (%s): every pod is "
			 "announced again", strerror(-err));
	else
		kl.baseline = true;
	free(state);
}

/* Scrapes */

/* Publishes a failed request (or a body that is no use) as SCRAPE_FAILED, and counts it. */
static int failed(enum endpoint ep, enum kubelet_outcome outcome, const struct http_result *res,
		  const char *error, const struct kubelet_emit *e)
{
	counter_add(&kl.failed[ep][outcome], 1);
	return kubelet_emit_scrape_failed(e, endpoint_paths[ep], outcome, res->status, error,
					  (int64_t)res->duration_ms);
}

/* One GET. 0 with res->raw set (the body); 1 when it failed (SCRAPE_FAILED published);
 * -ECANCELED. */
static int request(enum endpoint ep, struct http_result *res, struct kubelet_emit *e)
{
	struct http_request req = { .method = HTTP_GET, .path = endpoint_paths[ep],
				    .timeout_ms = kl.timeout_ms, .raw_body = true };
	enum kubelet_outcome outcome;
	int err = http_client_request(kl.w.client, &req, res);

	e->observed_us = clock_us(CLOCK_REALTIME); /* records of this response, or of its failure */
	if (err == -ECANCELED || res->outcome == HTTP_OUTCOME_CANCELLED)
		return -ECANCELED;
	if (res->outcome == HTTP_OUTCOME_OK && res->raw)
		return 0;
	outcome = kubelet_outcome_of(res->outcome);
	if (outcome == KUBELET_OUTCOME_TLS && !kl.insecure && !kl.tls_hint_logged) {
		kl.tls_hint_logged = true;
		log_warn("kubelet: kubelet serving certificates are often self-signed: set "
			 "kubelet_ca_file to the CA that signed it, or kubelet_insecure_skip_verify = "
			 "true");
	}
	free(res->raw);
	res->raw = NULL;
	err = failed(ep, outcome, res, res->error, e);
	return err ? err : 1;
}

/* A body that is not JSON (cut short), or JSON but not what the endpoint serves. */
static int bad_body(enum endpoint ep, const struct http_result *res, const struct kubelet_emit *e,
		    int err, const char *what)
{
	char error[128];

	if (err == -EBADMSG)
		snprintf(error, sizeof(error), "the %zu-byte body is not JSON (cut short?)",
			 res->raw_len);
	else
		snprintf(error, sizeof(error), "the body is JSON but not %s", what);
	if (!kl.bad_body[ep]) /* a line for the first of a run; the counter tells the rest */
		log_warn("kubelet: %s%s: %s", http_client_url(kl.w.client), endpoint_paths[ep],
			 error);
	kl.bad_body[ep] = true;
	return failed(ep, err == -EBADMSG ? KUBELET_OUTCOME_JSON : KUBELET_OUTCOME_BAD_BODY, res,
		      error, e);
}

/* /pods: state changes, and the container ids of this scrape. 0 or -ECANCELED. */
static int scrape_pods(struct kubelet_emit *e, struct push_ctx *pc)
{
	struct kubelet_pods pods;
	struct kubelet_state next;
	struct http_result res;
	int err;

	pc->wait_ms = -1;
	err = request(EP_PODS, &res, e);
	if (err)
		return err < 0 ? err : 0;
	err = kubelet_pods_parse(res.raw, res.raw_len, &pods, e->counts);
	free(res.raw);
	if (err == -EINVAL || err == -EBADMSG) /* the state stays for the next good /pods */
		return bad_body(EP_PODS, &res, e, err, "a PodList");
	if (err) {
		log_error("kubelet: /pods: %s", strerror(-err));
		return 0;
	}
	counter_add(&kl.ok[EP_PODS], 1);
	kl.bad_body[EP_PODS] = false;
	err = kubelet_pods_diff(kl.baseline ? &kl.state : NULL, &pods, e, &next);
	if (err) {
		kubelet_pods_free(&pods);
		if (err != -ECANCELED)
			log_error("kubelet: /pods: %s", strerror(-err));
		return err == -ECANCELED ? err : 0;
	}
	kubelet_state_free(&kl.state);
	kl.state = next;
	kl.baseline = true;
	kubelet_pods_free(&kl.pods);
	kl.pods = pods;
	__atomic_store_n(&kl.npods, (uint64_t)pods.npods, __ATOMIC_RELAXED);
	remember(++kl.poll);
	return 0;
}

/* /stats/summary: POD_STATS and NODE_STATS. 0 or -ECANCELED. */
static int scrape_summary(struct kubelet_emit *e, struct push_ctx *pc, uint32_t missed)
{
	struct kubelet_scrape s = { .pods = &kl.pods, .missed_intervals = (int32_t)missed };
	struct http_result res;
	int err;

	pc->wait_ms = (int)kl.interval_ms;
	err = request(EP_SUMMARY, &res, e);
	if (err)
		return err < 0 ? err : 0;
	s.duration_ms = (int64_t)res.duration_ms;
	err = kubelet_map_summary(res.raw, res.raw_len, &s, e);
	if (err == -EINVAL || err == -EBADMSG) {
		err = bad_body(EP_SUMMARY, &res, e, err, "a stats Summary");
	} else if (err >= 0) {
		counter_add(&kl.ok[EP_SUMMARY], 1);
		kl.bad_body[EP_SUMMARY] = false;
	} else if (err != -ECANCELED) {
		log_error("kubelet: /stats/summary: %s", strerror(-err));
	}
	free(res.raw);
	return err == -ECANCELED ? err : 0;
}

static int scrape(uint32_t missed)
{
	struct push_ctx pc;
	struct kubelet_emit e = { .node = kl.node, .buf = kl.body, .cap = sizeof(kl.body),
				  .fn = push, .ctx = &pc, .counts = &kl.counts };
	int err;

	/* /pods first: the containers' ids go into this scrape's POD_STATS. */
	err = scrape_pods(&e, &pc);
	if (!err)
		err = scrape_summary(&e, &pc, missed);
	publish_counts();
	return err;
}

/* Sleeps until monotonic time `until` (ms), writing checkpoints as positions become durable.
 * 0, or -ECANCELED when stopped. */
static int sleep_until(int64_t until)
{
	for (;;) {
		int64_t left = until - clock_ms(CLOCK_MONOTONIC);

		http_worker_checkpoint(&kl.w);
		if (left <= 0)
			return 0;
		if (http_client_sleep(kl.w.client, (uint32_t)(left < CHECKPOINT_SLICE_MS ?
							      left : CHECKPOINT_SLICE_MS)))
			return -ECANCELED;
	}
}

static void run(struct http_worker *w)
{
	int64_t start = clock_ms(CLOCK_MONOTONIC), interval = kl.interval_ms, now;
	uint64_t tick = 0, next;
	uint32_t missed = 0;

	load_checkpoint();
	while (!http_worker_stopping(w)) {
		if (scrape(missed))
			break;
		http_worker_checkpoint(w);
		/* The first tick after this scrape ended: those it ran past are skipped. */
		now = clock_ms(CLOCK_MONOTONIC);
		next = (uint64_t)((now - start) / interval) + 1;
		missed = (uint32_t)(next - tick - 1);
		if (missed) {
			counter_add(&kl.missed, missed);
			if (!kl.last_missed)
				log_warn("kubelet: a scrape took longer than kubelet_interval_s (%u s): "
					 "%u scrape(s) skipped, said in the next NODE_STATS and counted",
					 kl.interval_ms / 1000, missed);
		} else if (kl.last_missed) {
			log_info("kubelet: scrapes keep to kubelet_interval_s again");
		}
		kl.last_missed = missed;
		tick = next;
		if (sleep_until(start + (int64_t)tick * interval))
			break;
	}
}

/* Opening */

/* Nothing to connect to: the pipeline skips the collector when it was not asked for by name,
 * and stops start-up when it was (exit 2). */
static int nothing_to_connect(struct collector_runtime *c, const char *why)
{
	if (c->named)
		log_error("kubelet: %s", why);
	else
		log_info("kubelet: skipped: %s", why);
	return -ENODEV;
}

/* https://$NODE_IP:10250 into url. 0, or -ENODEV with why set. */
static int default_url(char *url, size_t size, char *why, size_t why_size)
{
	const char *ip = getenv("NODE_IP");
	unsigned char addr[sizeof(struct in6_addr)];

	if (!ip || !*ip) {
		snprintf(why, why_size, "kubelet_url is not set and NODE_IP (the downward API's "
			 "status.hostIP) is not either (not in a cluster)");
		return -ENODEV;
	}
	if (inet_pton(AF_INET, ip, addr) == 1) {
		snprintf(url, size, "https://%s:%d", ip, KUBELET_PORT);
	} else if (inet_pton(AF_INET6, ip, addr) == 1) {
		snprintf(url, size, "https://[%s]:%d", ip, KUBELET_PORT);
	} else {
		snprintf(why, why_size, "kubelet_url is not set and NODE_IP \"%.64s\" is not an IP "
			 "address", ip);
		return -ENODEV;
	}
	return 0;
}

static int kubelet_open(struct collector_runtime *c, struct collector_io *io)
{
	const struct tapio_config *cfg = c->pipeline->cfg;
	char url[512], why[512], errstr[512], state_buf[4096];
	struct http_client_config hc;
	struct http_client *client = NULL;
	struct handoff *q;
	const char *token = NULL, *ca = NULL;
	bool plain;
	int err;

	memset(&kl, 0, sizeof(kl));
	if (cfg->kubelet_url) {
		snprintf(url, sizeof(url), "%s", cfg->kubelet_url);
	} else {
		if (default_url(url, sizeof(url), why, sizeof(why)))
			return nothing_to_connect(c, why);
	}
	plain = strncmp(url, "http://", 7) == 0;
	kl.insecure = cfg->kubelet_insecure_skip_verify && !plain;
	if (plain) {
		/* The read-only port has no authentication: a token would travel in clear text. */
		log_warn("kubelet: %s is plain HTTP: the kubelet's deprecated read-only port, without "
			 "authentication or TLS; no token is sent%s", url,
			 cfg->kubelet_insecure_skip_verify ?
				 " (kubelet_insecure_skip_verify does not apply)" : "");
	} else if (cfg->kubelet_token_file) {
		token = cfg->kubelet_token_file;
		if (kube_env_file("kubelet_token_file", token, why, sizeof(why))) {
			log_error("kubelet: %s", why);
			return -EINVAL;
		}
	} else if (!kube_env_file("service-account token", KUBE_SA_TOKEN, why, sizeof(why))) {
		token = KUBE_SA_TOKEN;
	} else if (!cfg->kubelet_url) {
		return nothing_to_connect(c, why);
	} else {
		log_warn("kubelet: %s; requests to %s carry no token (set kubelet_token_file)", why,
			 url);
	}
	if (!plain && !kl.insecure) {
		if (cfg->kubelet_ca_file) {
			ca = cfg->kubelet_ca_file;
			if (kube_env_file("kubelet_ca_file", ca, why, sizeof(why))) {
				log_error("kubelet: %s", why);
				return -EINVAL;
			}
		} else if (!kube_env_file("service-account CA", KUBE_SA_CA, why, sizeof(why))) {
			ca = KUBE_SA_CA;
		} else {
			log_info("kubelet: %s; the system's CA store verifies %s", why, url);
		}
	}

	http_client_config_defaults(&hc);
	hc.label = "kubelet";
	hc.base_url = url;
	hc.ca_file = ca;
	hc.token_file = token;
	hc.insecure_skip_verify = kl.insecure;
	kl.interval_ms = (uint32_t)cfg->kubelet_interval_s * 1000;
	kl.timeout_ms = (uint32_t)cfg->kubelet_timeout_s * 1000;
	hc.request_timeout_ms = kl.timeout_ms;
	if (hc.connect_timeout_ms > kl.timeout_ms)
		hc.connect_timeout_ms = kl.timeout_ms;
	hc.max_response_bytes = (uint64_t)cfg->kubelet_max_response_mb << 20;
	err = http_client_open(&hc, &client, errstr, sizeof(errstr));
	if (err) {
		log_error("%s", errstr);
		return err;
	}
	q = handoff_new(HANDOFF_ENTRIES, HANDOFF_BYTES);
	if (!q) {
		err = -errno;
		http_client_close(client);
		log_error("kubelet: hand-off queue: %s", strerror(-err));
		return err;
	}
	snprintf(kl.node, sizeof(kl.node), "%s", cfg->node_name);
	/* From here the worker owns client and q. */
	err = http_worker_init(&kl.w, "kubelet", client, q,
			       config_state_dir(cfg, state_buf, sizeof(state_buf)), cfg->node_name);
	if (err) {
		log_error("kubelet: state_dir or node name too long");
		return err;
	}
	kl.src.name = "pods";
	/* A checkpoint of another kubelet (another node's, a changed URL) is not ours. */
	snprintf(kl.src.scope, sizeof(kl.src.scope), "%s", http_client_url(client));
	kl.src.state_at = state_at;
	http_worker_add_source(&kl.w, &kl.src);
	io->handoff = q;
	io->http = client;
	log_info("kubelet: %s every %d s (%s)", http_client_url(client), cfg->kubelet_interval_s,
		 plain ? "read-only port" : kl.insecure ? "TLS NOT verified" :
		 ca ? ca : "TLS verified by the system's CA store");
	return 0;
}

static int kubelet_start(struct collector_runtime *c)
{
	(void)c;
	return http_worker_start(&kl.w, run);
}

static void kubelet_stop(struct collector_runtime *c)
{
	(void)c;
	http_worker_stop(&kl.w);
}

static void kubelet_destroy(struct collector_runtime *c)
{
	(void)c;
	http_worker_destroy(&kl.w);
	kubelet_pods_free(&kl.pods);
	kubelet_state_free(&kl.state);
	for (unsigned i = 0; i < kl.history_count; i++)
		kubelet_state_free(&kl.history[(kl.history_head + i) % HISTORY_MAX].state);
	kl.history_count = 0;
}

static void kubelet_render_metrics(const struct collector_runtime *c, FILE *out)
{
	(void)c;
	fputs("# HELP tapio_kubelet_scrapes_total Requests to the kubelet by endpoint and result: "
	      "ok, or why it failed (each failure is also a SCRAPE_FAILED record).\n"
	      "# TYPE tapio_kubelet_scrapes_total counter\n", out);
	for (int ep = 0; ep < EP_MAX; ep++) {
		fprintf(out, "tapio_kubelet_scrapes_total{endpoint=\"%s\",result=\"ok\"} %" PRIu64 "\n",
			endpoint_paths[ep], counter_load(&kl.ok[ep]));
		for (int o = KUBELET_OUTCOME_UNKNOWN + 1; o < KUBELET_OUTCOME_MAX; o++)
			fprintf(out, "tapio_kubelet_scrapes_total{endpoint=\"%s\",result=\"%s\"} %" PRIu64
				"\n", endpoint_paths[ep], outcome_names[o], counter_load(&kl.failed[ep][o]));
	}
	fprintf(out, "# HELP tapio_kubelet_missed_intervals_total Scrapes skipped because the one "
		"before was still running at their time.\n"
		"# TYPE tapio_kubelet_missed_intervals_total counter\n"
		"tapio_kubelet_missed_intervals_total %" PRIu64 "\n", counter_load(&kl.missed));
	fputs("# HELP tapio_kubelet_input_skipped_total What the kubelet sent that was left out, by "
	      "reason: entries or records skipped, values published as null, strings cut.\n"
	      "# TYPE tapio_kubelet_input_skipped_total counter\n", out);
	for (int r = 0; r < KUBELET_SKIP_MAX; r++)
		fprintf(out, "tapio_kubelet_input_skipped_total{reason=\"%s\"} %" PRIu64 "\n",
			kubelet_skip_name(r), counter_load(&kl.skipped[r]));
	fprintf(out, "# HELP tapio_kubelet_pods Pods on the kubelet's last /pods.\n"
		"# TYPE tapio_kubelet_pods gauge\ntapio_kubelet_pods %" PRIu64 "\n", counter_load(&kl.npods));
}

const struct collector_ops kubelet_collector = {
	.name = "kubelet",
	.http = true, /* container ids come from /pods: no BPF, no identity cache */
	.open = kubelet_open,
	.start = kubelet_start,
	.stop = kubelet_stop,
	.destroy = kubelet_destroy,
	.render_metrics = kubelet_render_metrics,
};
