/*
 * Collector `etcd`: every mutation under etcd_prefix, from the watch of etcd's v3 JSON gateway,
 * published on <prefix>etcd without its value (schemas/etcd.avsc). Runs only when `collectors`
 * names it: it belongs in one place per cluster.
 *
 * The worker (watch_loop) asks a member for its cluster id (POST /v3/maintenance/status), loads
 * the checkpoint of that cluster, and watches (POST /v3/watch) from the revision after it, or
 * from the current revision when there is none. Each response's mutations become records handed
 * to the pipeline; the position a record or mark carries is a revision all of whose events were
 * handed over, so the checkpoint (written once Kafka acknowledged everything before it) is
 * always a revision boundary and a restart resumes with no gap and no duplicate:
 *   - a revision's events come in one response, or in consecutive fragments (fragment=true
 *     asks etcd to cut a response larger than its request limit); only the last one completes
 *     the revision;
 *   - after a reconnect in the middle of a fragmented revision, the events of it handed over
 *     already are dropped as duplicates when etcd sends them again;
 *   - a compacted start revision is published as COMPACTED with the range lost, and the watch
 *     resumes at the compact revision;
 *   - progress notifications (progress_notify=true) move the position on when the watched keys
 *     are quiet.
 * Failures (unreachable, TLS, no gateway, a canceled watch, another cluster) are logged once
 * per change with what they mean, and retried with backoff on the next endpoint.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "collector.h"
#include "config.h"
#include "etcd_collector.h"
#include "http_worker.h"
#include "kube_env.h"
#include "log.h"
#include "pipeline.h"

#define ETCD_ENDPOINTS_MAX 8 /* as config.c allows */
#define ETCD_EXCLUDES_MAX 32
#define ETCD_HANDOFF_ENTRIES 8192
#define ETCD_HANDOFF_BYTES (32u << 20)
/* One value of the watch stream at most. With fragment=true etcd cuts a response larger than
 * its --max-request-bytes (1.5 MiB by default; at most a few times that in practice) into
 * fragments; one event is never larger than that limit, a third more in base64. */
#define ETCD_MAX_VALUE_BYTES (32u << 20)
#define ETCD_BODY_MAX 4096
/* Checkpoints are written (fsync'd) at most this often while the watch streams: a crash may
 * publish this much again; a clean stop writes the last position. */
#define ETCD_CHECKPOINT_INTERVAL_MS 1000
#define ETCD_PROBLEM_MAX 512

/* What on_value returns to end a watch request. */
enum watch_stop {
	WATCH_GO_ON = 0,
	WATCH_RESTART,  /* compacted: watch again at once from the new position */
	WATCH_FAILED,   /* e->problem says why: back off, then watch again */
	WATCH_SHUTDOWN, /* the hand-off was stopped */
};

enum event_outcome { OUT_PUBLISHED, OUT_EXCLUDED, OUT_DUPLICATE, OUT_MAX };

/* Counters: the worker writes them, /metrics reads them (atomics). */
struct etcd_stats {
	uint64_t events[OUT_MAX];
	uint64_t skipped[ETCD_EVENT_RESULT_MAX];
	uint64_t invalid_responses;
	uint64_t progress;
	uint64_t compactions;
	uint64_t revisions_compacted;
	uint64_t watches;
	int64_t revision;
};

struct etcd_state {
	struct http_worker worker;
	struct http_source source;
	struct etcd_map_config map;
	char *endpoint_list; /* the endpoints, NUL-separated in place */
	const char *endpoints[ETCD_ENDPOINTS_MAX];
	size_t nendpoints, endpoint;
	char *exclude_list;
	const char *exclude[ETCD_EXCLUDES_MAX];
	size_t exclude_len[ETCD_EXCLUDES_MAX];
	char *key_b64, *range_end_b64;

	/* The stream; the worker thread's alone. */
	uint64_t cluster_id;     /* 0 until a member told it */
	int64_t done_rev;        /* every event up to it was handed over; -1: none yet */
	int64_t pending_rev;     /* a revision some of whose events were handed over; 0: none */
	uint64_t pending_n;      /* how many */
	int64_t resend_rev;      /* after a reconnect: etcd sends pending_rev's events again, */
	uint64_t resend_left;    /* and this many of them are duplicates */
	int64_t start_rev;       /* this watch's start revision; 0 = the current one */
	uint64_t skips_before;   /* the client's skipped stream values when this watch began */
	int64_t checkpoint_ms;   /* CLOCK_MONOTONIC of the last checkpoint call */
	bool watching;           /* a watch was created since the last problem */
	bool has_client_cert;    /* etcd_cert_file is set */
	bool reported[ETCD_EVENT_RESULT_MAX]; /* a skip reason was logged once */
	/* The failure logged last, per endpoint (alternating members each get their line); all
	 * "" again once a watch is created. */
	char problem[ETCD_ENDPOINTS_MAX][ETCD_PROBLEM_MAX];
	char next_problem[ETCD_PROBLEM_MAX];
	struct etcd_stats st;
	uint8_t body[HANDOFF_BODY_MAX];
};

static struct etcd_state *e;

static void set_done(int64_t rev)
{
	e->done_rev = rev;
	__atomic_store_n(&e->st.revision, rev, __ATOMIC_RELAXED);
}

static char *b64_encode(const uint8_t *in, size_t n)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? in[i + 2] : 0);

		*o++ = alphabet[v >> 18 & 63];
		*o++ = alphabet[v >> 12 & 63];
		*o++ = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? alphabet[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

/* The watch's range: keys from prefix up to (not including) prefix with its last byte one
 * higher, trailing 0xff bytes dropped first; "\0" (every key from prefix on) when none is left. */
static int make_range(const char *prefix)
{
	size_t len = strlen(prefix);
	uint8_t *end = malloc(len + 1);
	int err = -ENOMEM;

	if (!end)
		return err;
	memcpy(end, prefix, len);
	while (len && end[len - 1] == 0xff)
		len--;
	if (len)
		end[len - 1]++;
	else
		end[len++] = 0;
	e->key_b64 = b64_encode((const uint8_t *)prefix, strlen(prefix));
	e->range_end_b64 = b64_encode(end, len);
	if (e->key_b64 && e->range_end_b64)
		err = 0;
	free(end);
	return err;
}

/* Splits a normalized "a,b" list in place into items; at most max. */
static size_t split_list(char *list, const char **items, size_t *lens, size_t max)
{
	size_t n = 0;

	for (char *p = list; p && *p && n < max; n++) {
		char *comma = strchr(p, ',');

		if (comma)
			*comma = '\0';
		items[n] = p;
		if (lens)
			lens[n] = strlen(p);
		p = comma ? comma + 1 : NULL;
	}
	return n;
}

/* Logs a failure of the current endpoint when it differs from the one logged last. */
static void report_problem(const char *text)
{
	char *last = e->problem[e->endpoint];

	if (strcmp(text, last) != 0)
		log_warn("etcd: %s; retrying with backoff (logged again when this changes)", text);
	snprintf(last, ETCD_PROBLEM_MAX, "%s", text);
	e->watching = false;
}

/* What a failed request means for an operator, into e->next_problem. */
static void explain(const struct http_result *res)
{
	const char *url = http_client_url(e->worker.client), *hint;
	char *p = e->next_problem;
	size_t n = sizeof(e->next_problem);

	switch (res->outcome) {
	case HTTP_OUTCOME_OK:
		snprintf(p, n, "%s: etcd ended the watch", url);
		break;
	case HTTP_OUTCOME_TLS:
		if (strstr(res->error, "certificate problem") || strstr(res->error, "verif"))
			hint = "etcd's server certificate is not trusted: etcd_ca_file must hold "
			       "the CA that signed it";
		else if (strstr(res->error, "subject name") || strstr(res->error, "host name"))
			hint = "etcd's server certificate does not name the host of "
			       "etcd_endpoints";
		else if (strstr(res->error, "alert") || strstr(res->error, "client certificate"))
			hint = e->has_client_cert ?
			       "etcd refused the client certificate: etcd_cert_file must be signed "
			       "by a CA of etcd's --trusted-ca-file" :
			       "etcd asks for a client certificate and none is configured "
			       "(etcd_cert_file, etcd_key_file)";
		else
			hint = "check etcd_ca_file, etcd_cert_file and etcd_key_file";
		snprintf(p, n, "%s: TLS failed: %s: %s", url, hint, res->error);
		break;
	case HTTP_OUTCOME_TRANSPORT:
		snprintf(p, n, "%s: unreachable, or the connection was lost: %s", url,
			 res->error);
		break;
	case HTTP_OUTCOME_TIMEOUT:
		snprintf(p, n, "%s: timed out: %s%s", url, res->error,
			 strstr(res->error, "idle timeout") ? " (etcd_idle_timeout_s must exceed "
			 "twice etcd's progress-notify interval)" : "");
		break;
	case HTTP_OUTCOME_HTTP_4XX:
		if (res->status == 404) {
			snprintf(p, n, "%s: no JSON gateway there (HTTP 404): etcd serves /v3/ "
				 "unless started with --enable-grpc-gateway=false", url);
			break;
		}
		/* fall through */
	default:
		snprintf(p, n, "%s: %s: %s", url, http_outcome_name(res->outcome),
			 res->error[0] ? res->error : "the watch stream ended");
		break;
	}
}

/* After a failure: log it, move to the next endpoint, checkpoint, wait the backoff. */
static void fail_and_wait(struct http_worker *w, const struct http_result *res)
{
	char errstr[HTTP_ERROR_MAX];
	uint32_t delay;

	if (!e->next_problem[0])
		explain(res);
	report_problem(e->next_problem);
	e->next_problem[0] = '\0';
	if (e->nendpoints > 1) {
		e->endpoint = (e->endpoint + 1) % e->nendpoints;
		if (http_client_set_url(w->client, e->endpoints[e->endpoint], errstr,
					sizeof(errstr)))
			log_error("etcd: %s", errstr);
		else
			log_debug("etcd: trying %s next", e->endpoints[e->endpoint]);
	}
	delay = http_client_backoff_delay(w->client, res);
	http_worker_checkpoint(w);
	http_client_sleep(w->client, delay);
}

/* Asks the member for the cluster it belongs to, then loads that cluster's checkpoint. 0 with
 * e->cluster_id set; -ECANCELED; or -EAGAIN (e->next_problem or *res says why). */
static int identify(struct http_worker *w, struct http_result *res)
{
	struct http_request req = { .method = HTTP_POST, .path = "/v3/maintenance/status",
				    .body = "{}", .body_len = 2 };
	char position[HANDOFF_POSITION_MAX], version[64], cluster[17], member[17], *end;
	struct etcd_header h;
	long long rev;
	int err;

	err = http_client_request(w->client, &req, res);
	if (err == -ECANCELED)
		return err;
	if (err || res->outcome != HTTP_OUTCOME_OK)
		return -EAGAIN;
	err = etcd_parse_status(res->body, &h, version, sizeof(version));
	json_decref(res->body);
	res->body = NULL;
	if (err) {
		snprintf(e->next_problem, sizeof(e->next_problem), "%s/v3/maintenance/status: not "
			 "an etcd status reply (no cluster_id)", http_client_url(w->client));
		return -EAGAIN;
	}
	e->cluster_id = h.cluster_id;
	etcd_id_hex(h.cluster_id, cluster);
	etcd_id_hex(h.member_id, member);
	snprintf(e->source.scope, sizeof(e->source.scope), "cluster:%s", cluster);
	set_done(-1);
	if (http_worker_load(w, 0, position, sizeof(position), NULL, NULL) == 0) {
		errno = 0;
		rev = strtoll(position, &end, 10);
		if (errno || *end || end == position || rev < 0)
			log_warn("etcd: checkpoint position \"%s\" is not a revision: starting at "
				 "the current revision", position);
		else
			set_done(rev);
	}
	log_info("etcd: cluster %s (member %s at %s, etcd %s); %s", cluster, member,
		 http_client_url(w->client), version[0] ? version : "of unknown version",
		 e->done_rev >= 0 ? "resuming after the checkpoint" :
		 "no checkpoint: starting at the current revision");
	return 0;
}

static int push_mark(int64_t rev)
{
	char position[HANDOFF_POSITION_MAX];

	snprintf(position, sizeof(position), "%" PRId64, rev);
	return handoff_push_mark(e->worker.handoff, 0, position);
}

/* Hands one record over; a watch can wait for room (etcd holds what follows). */
static int push_record(const struct etcd_record *rec, const struct avro_buf *body,
		       int64_t position)
{
	struct handoff_meta meta = rec->meta;

	if (position > 0)
		snprintf(meta.position, sizeof(meta.position), "%" PRId64, position);
	return handoff_push_record(e->worker.handoff, &meta, rec->kafka_key, rec->kafka_key_len,
				   body->data, body->len, -1);
}

/* The revision pending_rev is complete: every event of it was handed over. */
static void complete_pending(void)
{
	set_done(e->pending_rev);
	e->pending_rev = 0;
	e->pending_n = 0;
	e->resend_rev = 0;
	e->resend_left = 0;
}

static void skipped(enum etcd_event_result r, int64_t rev)
{
	counter_add(&e->st.skipped[r], 1);
	if (!e->reported[r])
		log_warn("etcd: an event at revision %" PRId64 " could not be read (%s): no "
			 "record; further ones are counted (tapio_etcd_events_skipped_total)", rev,
			 etcd_event_result_name(r));
	e->reported[r] = true;
}

/* The events of one response, in order. WATCH_GO_ON or WATCH_SHUTDOWN. */
static int take_events(const struct etcd_response *r, int64_t now)
{
	size_t n = json_array_size(r->events);

	for (size_t i = 0; i < n; i++) {
		json_t *ev = json_array_get(r->events, i);
		int64_t rev = etcd_event_revision(ev), next;
		enum etcd_event_result res;
		struct etcd_record rec;
		struct avro_buf body;
		bool completes;
		int err = 0;

		if (rev <= 0) {
			skipped(ETCD_EVENT_BAD_REVISION, 0);
			continue;
		}
		if (rev <= e->done_rev || (e->pending_rev && rev < e->pending_rev)) {
			counter_add(&e->st.events[OUT_DUPLICATE], 1);
			continue;
		}
		if (rev == e->resend_rev && e->resend_left > 0) {
			e->resend_left--;
			counter_add(&e->st.events[OUT_DUPLICATE], 1);
			continue;
		}
		if (e->pending_rev && rev > e->pending_rev) {
			/* etcd sends a revision whole: the one before is complete. */
			complete_pending();
			if (push_mark(e->done_rev))
				return WATCH_SHUTDOWN;
		}
		e->pending_rev = rev;
		e->pending_n++;
		next = i + 1 < n ? etcd_event_revision(json_array_get(r->events, i + 1)) : 0;
		completes = i + 1 < n ? next != rev : !r->fragment;
		avro_buf_init(&body, e->body, sizeof(e->body));
		res = etcd_map_event(&e->map, &r->header, ev, now, &body, &rec);
		if (res == ETCD_EVENT_OK && body.overflow)
			res = ETCD_EVENT_BAD_FIELD; /* cannot happen: keys are cut to fit */
		if (res == ETCD_EVENT_OK) {
			err = push_record(&rec, &body, completes ? rev : 0);
			if (!err)
				counter_add(&e->st.events[OUT_PUBLISHED], 1);
		} else {
			if (res == ETCD_EVENT_EXCLUDED)
				counter_add(&e->st.events[OUT_EXCLUDED], 1);
			else
				skipped(res, rev);
			if (completes)
				err = push_mark(rev);
		}
		if (err == -ECANCELED)
			return WATCH_SHUTDOWN;
		if (completes)
			complete_pending();
	}
	if (!r->fragment && e->pending_rev) {
		complete_pending();
		if (push_mark(e->done_rev))
			return WATCH_SHUTDOWN;
	}
	return WATCH_GO_ON;
}

static uint64_t stream_skips(struct http_client *c)
{
	struct http_client_stats s;
	uint64_t n;

	http_client_stats(c, &s);
	n = s.stream_invalid;
	for (int i = 0; i < JSON_STREAM_ERROR_MAX; i++)
		if (i != JSON_STREAM_TRUNCATED) /* a cut stream: its end is read again anyway */
			n += s.stream_errors[i];
	return n;
}

static int on_created(const struct etcd_response *r)
{
	if (e->start_rev == 0) {
		/* From the current revision: everything up to it is behind us. */
		set_done(r->header.revision);
		if (push_mark(e->done_rev))
			return WATCH_SHUTDOWN;
	} else if (r->header.revision < e->start_rev - 1) {
		log_warn("etcd: the cluster is at revision %" PRId64 ", behind this stream's "
			 "%" PRId64 " (restored from a snapshot?): revisions up to it are taken as "
			 "published already", r->header.revision, e->start_rev - 1);
	}
	counter_add(&e->st.watches, 1);
	if (!e->watching)
		log_info("etcd: watching %s at %s from revision %" PRId64, e->map.prefix,
			 http_client_url(e->worker.client), e->done_rev + 1);
	e->watching = true;
	memset(e->problem, 0, sizeof(e->problem));
	return WATCH_GO_ON;
}

static int on_compacted(const struct etcd_response *r, int64_t now)
{
	int64_t first = e->done_rev + 1, compact = r->compact_revision;
	struct etcd_record rec;
	struct avro_buf body;

	if (compact <= first || e->done_rev < 0) {
		/* Watching again from the same revision would only be refused again. */
		snprintf(e->next_problem, sizeof(e->next_problem), "etcd canceled the watch from "
			 "revision %" PRId64 " as compacted at %" PRId64, first, compact);
		return WATCH_FAILED;
	}
	avro_buf_init(&body, e->body, sizeof(e->body));
	etcd_map_compacted(&e->map, &r->header, first, compact, now, &body, &rec);
	if (push_record(&rec, &body, compact - 1))
		return WATCH_SHUTDOWN;
	counter_add(&e->st.compactions, 1);
	counter_add(&e->st.revisions_compacted, (uint64_t)(compact - first));
	log_warn("etcd: revisions %" PRId64 " to %" PRId64 " were compacted before they could be "
		 "read: published as COMPACTED; watching from %" PRId64, first, compact - 1,
		 compact);
	e->pending_rev = 0;
	e->pending_n = 0;
	set_done(compact - 1);
	return WATCH_RESTART;
}

static int on_watch_value(void *ctx, json_t *value)
{
	struct http_worker *w = ctx;
	struct etcd_response r;
	char cluster[17], theirs[17];
	int ret = WATCH_GO_ON;

	if (stream_skips(w->client) != e->skips_before) {
		snprintf(e->next_problem, sizeof(e->next_problem), "a response of the watch was "
			 "skipped (over %u MiB, nested too deep, or not JSON): watching again from "
			 "revision %" PRId64, ETCD_MAX_VALUE_BYTES >> 20, e->done_rev + 1);
		return WATCH_FAILED;
	}
	switch (etcd_parse_response(value, &r)) {
	case ETCD_RESPONSE_INVALID:
		counter_add(&e->st.invalid_responses, 1);
		snprintf(e->next_problem, sizeof(e->next_problem), "not a watch response (%s): "
			 "watching again from revision %" PRId64, r.message, e->done_rev + 1);
		return WATCH_FAILED;
	case ETCD_RESPONSE_ERROR:
		snprintf(e->next_problem, sizeof(e->next_problem), "the watch stream failed: %s",
			 r.message);
		return WATCH_FAILED;
	default:
		break;
	}
	if (r.header.cluster_id != e->cluster_id) {
		etcd_id_hex(e->cluster_id, cluster);
		etcd_id_hex(r.header.cluster_id, theirs);
		snprintf(e->next_problem, sizeof(e->next_problem), "%s is a member of cluster %s, "
			 "not of cluster %s that this stream follows (restart the producer to "
			 "follow another cluster)", http_client_url(w->client), theirs, cluster);
		return WATCH_FAILED;
	}
	switch (r.type) {
	case ETCD_RESPONSE_CREATED:
		ret = on_created(&r);
		break;
	case ETCD_RESPONSE_COMPACTED:
		ret = on_compacted(&r, clock_us(CLOCK_REALTIME));
		break;
	case ETCD_RESPONSE_CANCELED:
		snprintf(e->next_problem, sizeof(e->next_problem), "etcd canceled the watch: %s",
			 r.message);
		ret = WATCH_FAILED;
		break;
	case ETCD_RESPONSE_PROGRESS:
		counter_add(&e->st.progress, 1);
		if (!e->pending_rev && e->done_rev >= 0 && r.header.revision > e->done_rev) {
			set_done(r.header.revision);
			if (push_mark(e->done_rev))
				ret = WATCH_SHUTDOWN;
		}
		break;
	case ETCD_RESPONSE_EVENTS:
		ret = take_events(&r, clock_us(CLOCK_REALTIME));
		break;
	default:
		break;
	}
	if (clock_ms(CLOCK_MONOTONIC) - e->checkpoint_ms >= ETCD_CHECKPOINT_INTERVAL_MS) {
		http_worker_checkpoint(w);
		e->checkpoint_ms = clock_ms(CLOCK_MONOTONIC);
	}
	return ret;
}

/* One watch, until it ends. 0 (see res) or -ECANCELED. */
static int watch(struct http_worker *w, struct http_result *res)
{
	char body[ETCD_BODY_MAX], start[48] = "";
	struct http_request req = { .method = HTTP_POST, .path = "/v3/watch",
				    .on_value = on_watch_value, .ctx = w };
	int len;

	e->start_rev = e->done_rev >= 0 ? e->done_rev + 1 : 0;
	if (e->start_rev)
		snprintf(start, sizeof(start), ",\"start_revision\":\"%" PRId64 "\"", e->start_rev);
	/* prev_kv stays off: etcd would send the previous value too. */
	len = snprintf(body, sizeof(body), "{\"create_request\":{\"key\":\"%s\",\"range_end\":"
		       "\"%s\"%s,\"progress_notify\":true,\"fragment\":true}}", e->key_b64,
		       e->range_end_b64, start);
	if (len < 0 || (size_t)len >= sizeof(body)) {
		*res = (struct http_result){ .outcome = HTTP_OUTCOME_SETUP };
		snprintf(e->next_problem, sizeof(e->next_problem), "the watch request does not fit "
			 "%d bytes", ETCD_BODY_MAX);
		return 0;
	}
	req.body = body;
	req.body_len = (size_t)len;
	/* etcd sends the events of a revision again when a watch resumes in the middle of it. */
	e->resend_rev = e->pending_rev;
	e->resend_left = e->pending_n;
	e->skips_before = stream_skips(w->client);
	return http_client_request(w->client, &req, res);
}

static void watch_loop(struct http_worker *w)
{
	while (!http_worker_stopping(w)) {
		struct http_result res;
		int err;

		if (!e->cluster_id) {
			err = identify(w, &res);
			if (err == -ECANCELED)
				break;
			if (err) {
				fail_and_wait(w, &res);
				continue;
			}
		}
		err = watch(w, &res);
		if (err == -ECANCELED || http_worker_stopping(w))
			break;
		if (res.outcome == HTTP_OUTCOME_OK && res.stop_code == WATCH_SHUTDOWN)
			break;
		if (res.outcome == HTTP_OUTCOME_OK && res.stop_code == WATCH_RESTART)
			continue;
		fail_and_wait(w, &res);
	}
}

/* The configured files must be there: a missing one is a mistake, not a server's failure
 * (-ENODEV: etcd runs only when named, so start-up fails with exit status 2). */
static int check_file(const char *key, const char *path)
{
	char missing[512];

	if (!path || kube_env_file(key, path, missing, sizeof(missing)) == 0)
		return 0;
	log_error("etcd: %s", missing);
	return -ENODEV;
}

static int etcd_open(struct collector_runtime *c, struct collector_io *io)
{
	const struct tapio_config *cfg = c->pipeline->cfg;
	struct http_client_config hc;
	struct http_client *client = NULL;
	struct handoff *q;
	char errstr[512], state_buf[4096];
	const char *state_dir;
	int err;

	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	set_done(-1);
	e->endpoint_list = strdup(cfg->etcd_endpoints ? cfg->etcd_endpoints : "");
	e->exclude_list = strdup(cfg->etcd_exclude_prefixes ? cfg->etcd_exclude_prefixes : "");
	if (!e->endpoint_list || !e->exclude_list)
		return -ENOMEM;
	e->nendpoints = split_list(e->endpoint_list, e->endpoints, NULL, ETCD_ENDPOINTS_MAX);
	e->map.nexclude = split_list(e->exclude_list, e->exclude, e->exclude_len,
				     ETCD_EXCLUDES_MAX);
	e->map.prefix = cfg->etcd_prefix;
	e->map.prefix_len = cfg->etcd_prefix ? strlen(cfg->etcd_prefix) : 0;
	e->map.exclude = e->exclude;
	e->map.exclude_len = e->exclude_len;
	if (!e->nendpoints || !e->map.prefix_len) {
		log_error("etcd: etcd_endpoints and etcd_prefix must be set");
		return -ENODEV;
	}
	for (size_t i = 0; i < e->map.nexclude; i++) {
		if (strncmp(e->exclude[i], cfg->etcd_prefix, e->map.prefix_len) != 0) {
			log_error("etcd: etcd_exclude_prefixes: \"%s\" is not within etcd_prefix "
				  "\"%s\", so it would exclude nothing", e->exclude[i],
				  cfg->etcd_prefix);
			return -ENODEV;
		}
	}
	if (cfg->etcd_key_file && !cfg->etcd_cert_file) {
		log_error("etcd: etcd_key_file is set without etcd_cert_file");
		return -ENODEV;
	}
	err = check_file("etcd_ca_file", cfg->etcd_ca_file) ?:
	      check_file("etcd_cert_file", cfg->etcd_cert_file) ?:
	      check_file("etcd_key_file", cfg->etcd_key_file) ?: make_range(cfg->etcd_prefix);
	if (err)
		return err;

	http_client_config_defaults(&hc);
	hc.label = "etcd";
	hc.base_url = e->endpoints[0];
	hc.ca_file = cfg->etcd_ca_file;
	hc.cert_file = cfg->etcd_cert_file;
	hc.key_file = cfg->etcd_key_file;
	e->has_client_cert = cfg->etcd_cert_file != NULL;
	hc.idle_timeout_ms = (uint32_t)cfg->etcd_idle_timeout_s * 1000;
	hc.max_value_bytes = ETCD_MAX_VALUE_BYTES;
	err = http_client_open(&hc, &client, errstr, sizeof(errstr));
	if (err) {
		log_error("etcd: %s", errstr);
		return err;
	}
	q = handoff_new(ETCD_HANDOFF_ENTRIES, ETCD_HANDOFF_BYTES);
	if (!q) {
		err = -errno;
		http_client_close(client);
		log_error("etcd: hand-off queue: %s", strerror(-err));
		return err;
	}
	state_dir = config_state_dir(cfg, state_buf, sizeof(state_buf));
	/* From here on the worker owns the client and the queue (destroy frees them). */
	err = http_worker_init(&e->worker, "etcd", client, q, state_dir, cfg->node_name);
	if (err) {
		log_error("etcd: state_dir or node_name too long");
		return err;
	}
	e->source.name = "watch";
	http_worker_add_source(&e->worker, &e->source);
	if (!state_dir)
		log_warn("etcd: no state_dir (nor spool_dir): every start watches from the "
			 "current revision, and mutations made while the producer is down are not "
			 "published");
	io->handoff = q;
	io->http = client;
	log_info("etcd: will watch keys %s* at %s%s%s", cfg->etcd_prefix, cfg->etcd_endpoints,
		 e->map.nexclude ? ", except " : "", e->map.nexclude ?
		 cfg->etcd_exclude_prefixes : "");
	return 0;
}

static int etcd_start(struct collector_runtime *c)
{
	(void)c;
	return http_worker_start(&e->worker, watch_loop);
}

static void etcd_stop(struct collector_runtime *c)
{
	(void)c;
	if (e)
		http_worker_stop(&e->worker);
}

static void etcd_destroy(struct collector_runtime *c)
{
	(void)c;
	if (!e)
		return;
	http_worker_destroy(&e->worker);
	free(e->endpoint_list);
	free(e->exclude_list);
	free(e->key_b64);
	free(e->range_end_b64);
	free(e);
	e = NULL;
}

static void family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_metrics(const struct collector_runtime *c, FILE *out)
{
	static const char *const outcomes[OUT_MAX] = { "published", "excluded", "duplicate" };
	const struct etcd_stats *s;

	(void)c;
	if (!e)
		return;
	s = &e->st;
	family(out, "tapio_etcd_events_total", "counter",
	       "Mutations read from etcd's watch, by outcome: published, excluded "
	       "(etcd_exclude_prefixes), duplicate (sent again by etcd after a reconnect; "
	       "dropped).");
	for (int i = 0; i < OUT_MAX; i++)
		fprintf(out, "tapio_etcd_events_total{outcome=\"%s\"} %" PRIu64 "\n", outcomes[i],
			counter_load(&s->events[i]));
	family(out, "tapio_etcd_events_skipped_total", "counter",
	       "Events of the watch that could not be read, by reason: no record.");
	for (int i = ETCD_EVENT_BAD_TYPE; i < ETCD_EVENT_RESULT_MAX; i++)
		fprintf(out, "tapio_etcd_events_skipped_total{reason=\"%s\"} %" PRIu64 "\n",
			etcd_event_result_name(i), counter_load(&s->skipped[i]));
	family(out, "tapio_etcd_invalid_responses_total", "counter",
	       "Values of the watch stream that were not watch responses (the watch is opened "
	       "again from the last revision read).");
	fprintf(out, "tapio_etcd_invalid_responses_total %" PRIu64 "\n",
		counter_load(&s->invalid_responses));
	family(out, "tapio_etcd_progress_notifications_total", "counter",
	       "Progress notifications received (they move the checkpoint on; not published).");
	fprintf(out, "tapio_etcd_progress_notifications_total %" PRIu64 "\n",
		counter_load(&s->progress));
	family(out, "tapio_etcd_watches_total", "counter",
	       "Watches etcd created (the first, and one after each reconnect or compaction).");
	fprintf(out, "tapio_etcd_watches_total %" PRIu64 "\n", counter_load(&s->watches));
	family(out, "tapio_etcd_compactions_total", "counter",
	       "COMPACTED records: the watch's start revision had been compacted.");
	fprintf(out, "tapio_etcd_compactions_total %" PRIu64 "\n", counter_load(&s->compactions));
	family(out, "tapio_etcd_compacted_revisions_total", "counter",
	       "Revisions compacted away before they could be read (their mutations are lost).");
	fprintf(out, "tapio_etcd_compacted_revisions_total %" PRIu64 "\n",
		counter_load(&s->revisions_compacted));
	family(out, "tapio_etcd_revision", "gauge",
	       "The revision up to which the watch was read and handed to the pipeline; -1 "
	       "before the first watch.");
	fprintf(out, "tapio_etcd_revision %" PRId64 "\n",
		__atomic_load_n(&s->revision, __ATOMIC_RELAXED));
}

const struct collector_ops etcd_collector = {
	.name = "etcd",
	.http = true,
	.not_default = true,
	.open = etcd_open,
	.start = etcd_start,
	.stop = etcd_stop,
	.destroy = etcd_destroy,
	.render_metrics = render_metrics,
};
