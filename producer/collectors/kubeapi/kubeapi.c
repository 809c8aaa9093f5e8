/*
 * Collector `kubeapi`: this node's pods (and the Events about the node, or every Event) from the
 * API server, listed and watched the way client-go's reflector does it, as records of
 * schemas/kubeapi.avsc.
 *
 * Threads: the HTTP worker's thread runs the first source (pods, else Events); with both on, a
 * thread of its own runs the Events watch with a second HTTP client (two watches are open at
 * once, and a client makes one request at a time); a third writes the checkpoints of both once a
 * second, so a watch that waits for the server never holds its checkpoint back. All of them hand
 * records to the event loop through the worker's one hand-off queue (thread-safe), so `seq`
 * orders both sources' records as they were received.
 */
#include "kubeapi_collector.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "clock.h"
#include "collector.h"
#include "kube_env.h"
#include "log.h"
#include "pipeline.h"
#include "privilege.h"

/* Watch timeouts, random in this range as the reflector's (5 to 10 minutes). */
#define WATCH_TIMEOUT_MIN_S 300
#define WATCH_TIMEOUT_SPAN_S 301
/* A list's whole body, at most: a cluster's Events can be many. */
#define LIST_TIMEOUT_MS 120000
/* A watch refused as ahead of the server this many times in a row: list from etcd instead (a
 * restored cluster); fewer: a lagging API server's cache, which catches up. */
#define TOO_LARGE_WATCHES_MAX 5
/* Tokens of one object, at most (a pod is about a thousand). */
#define TOKENS_MAX (1u << 20)
#define DEPTH_MAX 64
/* The hand-off: records waiting for the event loop. */
#define HANDOFF_ENTRIES 4096
#define HANDOFF_BYTES (16u << 20)

/* What a watch's value callback tells the request: go on, or why it stopped. */
enum {
	WATCH_GO_ON = 0,
	WATCH_EXPIRED,   /* ERROR 410: the resourceVersion is gone */
	WATCH_TOO_LARGE, /* ERROR: the resourceVersion is ahead of this server */
	WATCH_FAILED,    /* another ERROR */
	WATCH_CANCELLED, /* shutdown while handing a record over */
};

static const char *const watch_type_names[KUBEAPI_WATCH_TYPES] = {
	"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR",
};

static const char *const resync_reason_names[] = {
	"unknown", "start", "expired", "checkpoint_unusable", "too_large",
};

/* Appends `s` percent-encoded (all but RFC 3986's unreserved characters) to buf. */
static void append_encoded(char *buf, size_t size, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(buf);

	for (; *s && n + 4 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			buf[n++] = (char)c;
		} else {
			buf[n++] = '%';
			buf[n++] = hex[c >> 4];
			buf[n++] = hex[c & 15];
		}
	}
	buf[n] = '\0';
}

/* A field selector's value, with its ',', '=' and '\' escaped as fields.EscapeValue does. */
static void selector_value(char *out, size_t size, const char *v)
{
	size_t n = 0;

	for (; *v && n + 3 < size; v++) {
		if (*v == ',' || *v == '=' || *v == '\\')
			out[n++] = '\\';
		out[n++] = *v;
	}
	out[n] = '\0';
}

int kubeapi_source_init(struct kubeapi_source *s, enum kubeapi_source_kind kind, const char *node,
			enum kubeapi_events_mode events, const struct kubeapi_map_config *cfg,
			const struct kubeapi_io *io, int handoff_source)
{
	char value[600], selector[700];

	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->name = kind == KUBEAPI_SOURCE_EVENTS ? "events" : "pods";
	s->handoff_source = handoff_source;
	s->cfg = cfg;
	s->io = *io;
	s->checkpoint.name = s->name;
	selector_value(value, sizeof(value), node);
	selector[0] = '\0';
	if (kind == KUBEAPI_SOURCE_PODS) {
		snprintf(s->path, sizeof(s->path), "/api/v1/pods");
		snprintf(selector, sizeof(selector), "spec.nodeName=%s", value);
	} else {
		snprintf(s->path, sizeof(s->path), "/apis/events.k8s.io/v1/events");
		if (events == KUBEAPI_EVENTS_NODE)
			snprintf(selector, sizeof(selector),
				 "regarding.kind=Node,regarding.name=%s", value);
	}
	if (selector[0]) {
		snprintf(s->selector, sizeof(s->selector), "fieldSelector=");
		append_encoded(s->selector, sizeof(s->selector), selector);
	}
	jtok_init(&s->doc, TOKENS_MAX, DEPTH_MAX);
	s->body = malloc(KUBEAPI_BODY_MAX);
	s->scratch = malloc(KUBEAPI_SCRATCH_SIZE);
	if (!s->body || !s->scratch) {
		kubeapi_source_free(s);
		return -ENOMEM;
	}
	kubeapi_source_relist(s, KUBEAPI_RESYNC_START);
	return 0;
}

void kubeapi_source_free(struct kubeapi_source *s)
{
	jtok_free(&s->doc);
	free(s->body);
	free(s->scratch);
	s->body = s->scratch = NULL;
}

void kubeapi_source_resume(struct kubeapi_source *s, const char *rv)
{
	snprintf(s->rv, sizeof(s->rv), "%s", rv);
	s->need_list = false;
}

void kubeapi_source_relist(struct kubeapi_source *s, enum kubeapi_resync_reason reason)
{
	s->need_list = true;
	s->resync_reason = reason;
	s->list_from = s->rv[0] ? KUBEAPI_LIST_FROM_LAST : KUBEAPI_LIST_FROM_CACHE;
}

/* The collection's path with its selector and `params` ("a=1&b=2", encoded) as the query. The
 * parts are bounded to fit (path 64, selector 1024, params 300 bytes). */
static void build_path(const struct kubeapi_source *s, char *out, size_t size, const char *params)
{
	int n = snprintf(out, size, "%s?%s%s%s", s->path, s->selector,
			 s->selector[0] && params[0] ? "&" : "", params);

	if (n < 0 || (size_t)n >= size)
		out[0] = '\0'; /* cannot happen with the bounds above; a request then fails */
}

static void record_storage(struct kubeapi_source *s)
{
	avro_buf_init(&s->rec.body, s->body, KUBEAPI_BODY_MAX);
}

/* Hands s->rec over, completing `position` ("" = none). 0 or -ECANCELED. */
static int push(struct kubeapi_source *s, const char *position)
{
	snprintf(s->rec.meta.position, sizeof(s->rec.meta.position), "%s", position);
	s->rec.meta.source = s->handoff_source;
	return s->io.push(s->io.ctx, &s->rec) ? -ECANCELED : 0;
}

/* A SKIPPED record for `skip`, counted. Completes the object's resourceVersion when `position`
 * (a watch: the object will not come again). */
static int push_skipped(struct kubeapi_source *s, const struct kubeapi_skip *skip, bool position)
{
	enum kubeapi_skip_reason reason = skip->reason < KUBEAPI_SKIP_REASON_MAX ? skip->reason : 0;

	atomic_fetch_add(&s->stats.skipped[reason], 1);
	record_storage(s);
	kubeapi_map_skipped(s->kind, skip, s->io.now_us(s->io.ctx), s->cfg, &s->rec);
	if (position && skip->resource_version[0])
		snprintf(s->rv, sizeof(s->rv), "%s", skip->resource_version);
	return push(s, position ? skip->resource_version : "");
}

static void add_stats(struct kubeapi_source *s, const struct kubeapi_map_stats *st)
{
	for (int i = 0; i < KUBEAPI_VALUE_ERROR_MAX; i++)
		if (st->invalid_values[i])
			atomic_fetch_add(&s->stats.invalid_values[i], st->invalid_values[i]);
	if (st->truncated)
		atomic_fetch_add(&s->stats.truncated, st->truncated);
}

/* Object `obj` of s->doc as a record of `kind`: 0 and in s->rec, or the skip reason. */
static enum kubeapi_skip_reason map_object(struct kubeapi_source *s, int obj,
					   enum kubeapi_kind kind, struct kubeapi_skip *skip)
{
	struct kubeapi_map_stats st = { 0 };
	int64_t now = s->io.now_us(s->io.ctx);
	enum kubeapi_skip_reason r;

	record_storage(s);
	if (s->kind == KUBEAPI_SOURCE_PODS)
		r = kubeapi_map_pod(&s->doc, obj, kind, now, s->cfg, s->scratch, &s->rec, skip,
				    &st);
	else
		r = kubeapi_map_event(&s->doc, obj, kind, now, &s->rec, skip, &st);
	add_stats(s, &st);
	return r;
}

static enum kubeapi_skip_reason tokenizer_skip(int result)
{
	switch (result) {
	case JTOK_DEPTH:
		return KUBEAPI_SKIP_TOO_DEEP;
	case JTOK_TOO_MANY:
	case JTOK_TOO_LONG:
		return KUBEAPI_SKIP_TOO_LARGE;
	case JTOK_NO_MEMORY:
		return KUBEAPI_SKIP_NO_MEMORY;
	default:
		return KUBEAPI_SKIP_INVALID_JSON;
	}
}

/* One item of a list: a snapshot, or a SKIPPED record. */
static int on_list_item(void *ctx, const struct jtok_doc *d, int root,
			enum kubeapi_skip_reason why)
{
	struct kubeapi_source *s = ctx;
	struct kubeapi_skip skip;
	enum kubeapi_kind kind = s->kind == KUBEAPI_SOURCE_PODS ? KUBEAPI_POD_SNAPSHOT
							       : KUBEAPI_EVENT_SNAPSHOT;

	(void)d; /* s->doc */
	if (root < 0) {
		memset(&skip, 0, sizeof(skip));
		skip.reason = why;
		return push_skipped(s, &skip, false);
	}
	if (map_object(s, root, kind, &skip))
		return push_skipped(s, &skip, false);
	s->snapshots++;
	return push(s, "");
}

/* Waits after a failed request as the client's backoff says. */
static int back_off(struct kubeapi_source *s, const struct http_result *res)
{
	atomic_store(&s->stats.up, false);
	return s->io.sleep(s->io.ctx, s->io.backoff(s->io.ctx, res)) ? -ECANCELED : 0;
}

static const char *list_from_text(const struct kubeapi_source *s)
{
	switch (s->list_from) {
	case KUBEAPI_LIST_FROM_CACHE:
		return "0";
	case KUBEAPI_LIST_FROM_LAST:
		return s->rv;
	case KUBEAPI_LIST_FROM_ETCD:
		break;
	}
	return NULL;
}

/* A list, published whole between RESYNC_BEGIN and RESYNC_END. */
static int do_list(struct kubeapi_source *s)
{
	struct http_request req = { .method = HTTP_GET, .raw_body = true,
				    .timeout_ms = LIST_TIMEOUT_MS };
	const char *from = list_from_text(s);
	struct kubeapi_list_info info;
	struct http_result res;
	char path[1200], params[200] = "";
	int err, scan;

	if (from) {
		snprintf(params, sizeof(params), "resourceVersion=");
		append_encoded(params, sizeof(params), from);
	}
	build_path(s, path, sizeof(path), params);
	req.path = path;
	err = s->io.request(s->io.ctx, &req, &res);
	if (err == -ECANCELED)
		return err;
	if (res.outcome != HTTP_OUTCOME_OK) {
		free(res.raw);
		/* The resourceVersion asked for is gone (410), or ahead of this server (504):
		 * a consistent read from etcd, at once, as the reflector does. */
		if ((res.status == 410 || res.status == 504) &&
		    s->list_from == KUBEAPI_LIST_FROM_LAST) {
			s->list_from = KUBEAPI_LIST_FROM_ETCD;
			return 0;
		}
		return back_off(s, &res);
	}
	scan = kubeapi_list_scan(&s->doc, res.raw, res.raw_len, &info);
	if (scan != KUBEAPI_LIST_OK) {
		log_warn("kubeapi: %s: the list answered is %s; listing again after a backoff",
			 s->name, scan == KUBEAPI_LIST_NO_RV ? "without a usable resourceVersion"
							     : "not a valid List");
		free(res.raw);
		res.outcome = HTTP_OUTCOME_JSON;
		return back_off(s, &res);
	}
	atomic_store(&s->stats.up, true);
	record_storage(s);
	kubeapi_map_resync(KUBEAPI_RESYNC_BEGIN, s->kind, s->resync_reason, info.resource_version,
			   -1, s->io.now_us(s->io.ctx), s->cfg, &s->rec);
	s->snapshots = 0;
	err = push(s, "");
	if (!err)
		err = kubeapi_list_items(&s->doc, res.raw, res.raw_len, on_list_item, s);
	free(res.raw);
	if (err < 0)
		return -ECANCELED;
	if (err) { /* the second pass disagreed with the first: cannot happen; never trusted */
		log_error("kubeapi: %s: the list could not be read again; listing again", s->name);
		res.outcome = HTTP_OUTCOME_JSON;
		return back_off(s, &res);
	}
	record_storage(s);
	kubeapi_map_resync(KUBEAPI_RESYNC_END, s->kind, s->resync_reason, info.resource_version,
			   (int64_t)s->snapshots, s->io.now_us(s->io.ctx), s->cfg, &s->rec);
	if (push(s, info.resource_version))
		return -ECANCELED;
	log_info("kubeapi: %s: listed %zu at resourceVersion %s (%s); watching from there",
		 s->name, info.items, info.resource_version,
		 resync_reason_names[s->resync_reason]);
	atomic_fetch_add(&s->stats.resyncs[s->resync_reason], 1);
	atomic_fetch_add(&s->stats.lists, 1);
	snprintf(s->rv, sizeof(s->rv), "%s", info.resource_version);
	s->need_list = false;
	s->list_from = KUBEAPI_LIST_FROM_LAST;
	return 0;
}

/* Values the HTTP client skipped before this one (too large, too deep): lost objects. */
static int report_stream_skips(struct kubeapi_source *s)
{
	static const enum kubeapi_skip_reason as_skip[JSON_STREAM_ERROR_MAX] = {
		[JSON_STREAM_TOO_LARGE] = KUBEAPI_SKIP_TOO_LARGE,
		[JSON_STREAM_TOO_DEEP] = KUBEAPI_SKIP_TOO_DEEP,
		[JSON_STREAM_NO_MEMORY] = KUBEAPI_SKIP_NO_MEMORY,
	};
	uint64_t now[JSON_STREAM_ERROR_MAX];

	if (!s->io.stream_errors)
		return 0;
	s->io.stream_errors(s->io.ctx, now);
	for (int e = 0; e < JSON_STREAM_ERROR_MAX; e++) {
		/* Garbage between values and a cut stream lose no object. */
		for (; s->stream_errors[e] < now[e]; s->stream_errors[e]++) {
			struct kubeapi_skip skip = { .reason = as_skip[e] };

			if (skip.reason && push_skipped(s, &skip, false))
				return -ECANCELED;
		}
	}
	return 0;
}

static int on_watch_value(void *ctx, const char *value, size_t len)
{
	struct kubeapi_source *s = ctx;
	enum kubeapi_watch_type type;
	struct kubeapi_skip skip;
	enum kubeapi_kind kind;
	int obj, rc, code;
	bool too_large;

	atomic_store(&s->stats.up, true);
	if (report_stream_skips(s))
		return WATCH_CANCELLED;
	rc = jtok_parse(&s->doc, value, len);
	if (rc) {
		memset(&skip, 0, sizeof(skip));
		skip.reason = tokenizer_skip(rc);
		return push_skipped(s, &skip, false) ? WATCH_CANCELLED : WATCH_GO_ON;
	}
	if (kubeapi_watch_event(&s->doc, &type, &obj, &skip))
		return push_skipped(s, &skip, true) ? WATCH_CANCELLED : WATCH_GO_ON;
	atomic_fetch_add(&s->stats.watch_events[type], 1);
	switch (type) {
	case KUBEAPI_WATCH_BOOKMARK:
		/* A position without a record: its checkpoint moves once what came before is in. */
		if (!kubeapi_object_rv(&s->doc, obj, s->rv, sizeof(s->rv)))
			return WATCH_GO_ON;
		return s->io.mark(s->io.ctx, s->handoff_source, s->rv) ? WATCH_CANCELLED
									: WATCH_GO_ON;
	case KUBEAPI_WATCH_ERROR:
		code = kubeapi_status_code(&s->doc, obj, &too_large);
		if (code == 410)
			return WATCH_EXPIRED;
		if (too_large)
			return WATCH_TOO_LARGE;
		log_warn("kubeapi: %s: the watch ended with an error (status %d); watching again "
			 "after a backoff", s->name, code);
		return WATCH_FAILED;
	case KUBEAPI_WATCH_DELETED:
		if (s->kind == KUBEAPI_SOURCE_EVENTS) {
			/* An Event's deletion is its TTL expiring: not news. Its position is. */
			if (!kubeapi_object_rv(&s->doc, obj, s->rv, sizeof(s->rv)))
				return WATCH_GO_ON;
			return s->io.mark(s->io.ctx, s->handoff_source, s->rv) ? WATCH_CANCELLED
										: WATCH_GO_ON;
		}
		kind = KUBEAPI_POD_DELETED;
		break;
	case KUBEAPI_WATCH_ADDED:
		kind = s->kind == KUBEAPI_SOURCE_EVENTS ? KUBEAPI_EVENT : KUBEAPI_POD_ADDED;
		break;
	default:
		kind = s->kind == KUBEAPI_SOURCE_EVENTS ? KUBEAPI_EVENT : KUBEAPI_POD_MODIFIED;
		break;
	}
	if (map_object(s, obj, kind, &skip)) {
		snprintf(skip.watch_type, sizeof(skip.watch_type), "%s", watch_type_names[type]);
		return push_skipped(s, &skip, true) ? WATCH_CANCELLED : WATCH_GO_ON;
	}
	snprintf(s->rv, sizeof(s->rv), "%s", s->rec.resource_version);
	return push(s, s->rec.resource_version) ? WATCH_CANCELLED : WATCH_GO_ON;
}

/* The watch is open: the source is up, even while the watch has nothing to say. */
static void on_watch_open(void *ctx)
{
	struct kubeapi_source *s = ctx;

	atomic_store(&s->stats.up, true);
}

/* Was an HTTP error the Status of a resourceVersion ahead of the server? */
static bool error_says_too_large(const struct http_result *res)
{
	return strstr(res->error, "ResourceVersionTooLarge") ||
	       strstr(res->error, "Too large resource version");
}

static int do_watch(struct kubeapi_source *s)
{
	struct http_request req = { .method = HTTP_GET, .on_raw = on_watch_value,
				    .on_open = on_watch_open, .ctx = s };
	uint32_t timeout = WATCH_TIMEOUT_MIN_S + s->io.random(s->io.ctx) % WATCH_TIMEOUT_SPAN_S;
	struct http_result res;
	char path[1200], params[300];
	int err;

	snprintf(params, sizeof(params), "watch=1&allowWatchBookmarks=true&timeoutSeconds=%" PRIu32
		 "&resourceVersion=", timeout);
	append_encoded(params, sizeof(params), s->rv);
	build_path(s, path, sizeof(path), params);
	req.path = path;
	if (s->io.stream_errors)
		s->io.stream_errors(s->io.ctx, s->stream_errors);
	err = s->io.request(s->io.ctx, &req, &res);
	if (err == -ECANCELED || res.stop_code == WATCH_CANCELLED)
		return -ECANCELED;
	if (report_stream_skips(s))
		return -ECANCELED;
	if (res.stop_code == WATCH_EXPIRED || res.status == 410) {
		log_info("kubeapi: %s: resourceVersion %s is gone (410): listing again", s->name,
			 s->rv);
		s->too_large_watches = 0;
		kubeapi_source_relist(s, KUBEAPI_RESYNC_EXPIRED);
		return 0;
	}
	if (res.stop_code == WATCH_TOO_LARGE ||
	    (res.outcome != HTTP_OUTCOME_OK && res.status == 504 && error_says_too_large(&res))) {
		if (++s->too_large_watches >= TOO_LARGE_WATCHES_MAX) {
			log_warn("kubeapi: %s: the API server is behind resourceVersion %s (%u "
				 "times): listing from etcd", s->name, s->rv, s->too_large_watches);
			s->too_large_watches = 0;
			kubeapi_source_relist(s, KUBEAPI_RESYNC_TOO_LARGE);
			s->list_from = KUBEAPI_LIST_FROM_ETCD;
			return 0;
		}
		res.outcome = HTTP_OUTCOME_HTTP_5XX;
		return back_off(s, &res);
	}
	s->too_large_watches = 0;
	if (res.stop_code == WATCH_FAILED || res.outcome != HTTP_OUTCOME_OK)
		return back_off(s, &res);
	/* The server ended the watch (its timeout): watch again at once, unless it ended at
	 * once with nothing (the reflector's "very short watch"). */
	if (res.values == 0 && res.duration_ms < 1000)
		return back_off(s, &res);
	return 0;
}

int kubeapi_source_step(struct kubeapi_source *s)
{
	if (s->io.stopping(s->io.ctx))
		return -ECANCELED;
	return s->need_list ? do_list(s) : do_watch(s);
}

void kubeapi_source_run(struct kubeapi_source *s)
{
	while (kubeapi_source_step(s) != -ECANCELED)
		;
}

static void family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void kubeapi_render_metrics(struct kubeapi_source *const *sources, size_t n, FILE *out)
{
	family(out, "tapio_kubeapi_skipped_total", "counter",
	       "Objects left out (each also a SKIPPED record), by source and reason.");
	for (size_t i = 0; i < n; i++)
		for (int r = 1; sources[i] && r < KUBEAPI_SKIP_REASON_MAX; r++)
			fprintf(out, "tapio_kubeapi_skipped_total{source=\"%s\",reason=\"%s\"} %"
				PRIu64 "\n", sources[i]->name, kubeapi_skip_reason_name(r),
				(uint64_t)atomic_load(&sources[i]->stats.skipped[r]));
	family(out, "tapio_kubeapi_values_invalid_total", "counter",
	       "Fields published as null because their value did not parse (a timestamp, a "
	       "quantity) or was beyond a long (quantity_range).");
	for (size_t i = 0; i < n; i++)
		for (int v = 0; sources[i] && v < KUBEAPI_VALUE_ERROR_MAX; v++)
			fprintf(out, "tapio_kubeapi_values_invalid_total{source=\"%s\","
				"value=\"%s\"} %" PRIu64 "\n", sources[i]->name,
				kubeapi_value_error_name(v),
				(uint64_t)atomic_load(&sources[i]->stats.invalid_values[v]));
	family(out, "tapio_kubeapi_truncated_total", "counter",
	       "Records published with a text or a list cut to fit (pod.truncated, an Event's "
	       "note_truncated).");
	for (size_t i = 0; i < n; i++)
		if (sources[i])
			fprintf(out, "tapio_kubeapi_truncated_total{source=\"%s\"} %" PRIu64 "\n",
				sources[i]->name,
				(uint64_t)atomic_load(&sources[i]->stats.truncated));
	family(out, "tapio_kubeapi_resyncs_total", "counter",
	       "Lists published as a RESYNC_BEGIN ... RESYNC_END bracket, by reason.");
	for (size_t i = 0; i < n; i++)
		for (int r = 1; sources[i] && r <= KUBEAPI_RESYNC_TOO_LARGE; r++)
			fprintf(out, "tapio_kubeapi_resyncs_total{source=\"%s\",reason=\"%s\"} %"
				PRIu64 "\n", sources[i]->name, resync_reason_names[r],
				(uint64_t)atomic_load(&sources[i]->stats.resyncs[r]));
	family(out, "tapio_kubeapi_watch_events_total", "counter",
	       "Watch events received, by type.");
	for (size_t i = 0; i < n; i++)
		for (int t = 0; sources[i] && t < KUBEAPI_WATCH_TYPES; t++)
			fprintf(out, "tapio_kubeapi_watch_events_total{source=\"%s\",type=\"%s\"} %"
				PRIu64 "\n", sources[i]->name, watch_type_names[t],
				(uint64_t)atomic_load(&sources[i]->stats.watch_events[t]));
	family(out, "tapio_kubeapi_source_up", "gauge",
	       "1 while the source's last request succeeded (a watch: while it is open).");
	for (size_t i = 0; i < n; i++)
		if (sources[i])
			fprintf(out, "tapio_kubeapi_source_up{source=\"%s\"} %d\n",
				sources[i]->name, atomic_load(&sources[i]->stats.up) ? 1 : 0);
}

/* The collector: one instance per process. */

struct kubeapi_thread_io {
	struct http_client *client;
	struct http_worker *worker;
	uint64_t rng;
};

static struct kubeapi {
	struct http_worker worker;
	struct http_client *events_client; /* the second client, with both sources on */
	struct kubeapi_source pods, events;
	struct kubeapi_source *first, *second; /* the worker's source; the extra thread's */
	struct kubeapi_thread_io first_io, second_io;
	struct kubeapi_map_config map_cfg;
	char **annotations;
	pthread_t second_thread, checkpoint_thread;
	bool second_started, checkpoint_started;
	pthread_mutex_t lock; /* checkpoint_stop */
	pthread_cond_t wake;
	bool checkpoint_stop;
} kubeapi;

static int io_request(void *ctx, const struct http_request *req, struct http_result *res)
{
	return http_client_request(((struct kubeapi_thread_io *)ctx)->client, req, res);
}

static int io_push(void *ctx, const struct kubeapi_record *rec)
{
	struct kubeapi_thread_io *io = ctx;

	/* The API server buffers while the loop catches up: wait for room. */
	return handoff_push_record(io->worker->handoff, &rec->meta, rec->key, rec->key_len,
				   rec->body.data, rec->body.len, -1);
}

static int io_mark(void *ctx, int source, const char *position)
{
	return handoff_push_mark(((struct kubeapi_thread_io *)ctx)->worker->handoff, source,
				 position);
}

static uint32_t io_backoff(void *ctx, const struct http_result *res)
{
	return http_client_backoff_delay(((struct kubeapi_thread_io *)ctx)->client, res);
}

static int io_sleep(void *ctx, uint32_t ms)
{
	return http_client_sleep(((struct kubeapi_thread_io *)ctx)->client, ms);
}

static bool io_stopping(void *ctx)
{
	struct kubeapi_thread_io *io = ctx;

	return http_worker_stopping(io->worker) || http_client_stopped(io->client);
}

static int64_t io_now_us(void *ctx)
{
	(void)ctx;
	return clock_us(CLOCK_REALTIME);
}

static uint32_t io_random(void *ctx)
{
	struct kubeapi_thread_io *io = ctx;

	/* xorshift64*: watch timeouts need spread, not secrecy. */
	io->rng ^= io->rng >> 12;
	io->rng ^= io->rng << 25;
	io->rng ^= io->rng >> 27;
	return (uint32_t)((io->rng * 0x2545F4914F6CDD1Dull) >> 32);
}

static void io_stream_errors(void *ctx, uint64_t errors[JSON_STREAM_ERROR_MAX])
{
	struct http_client_stats st;

	http_client_stats(((struct kubeapi_thread_io *)ctx)->client, &st);
	memcpy(errors, st.stream_errors, sizeof(st.stream_errors));
}

static struct kubeapi_io thread_io(struct kubeapi_thread_io *ctx)
{
	uint64_t seed = 0;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = (uint64_t)io_now_us(NULL);
	ctx->rng = seed | 1;
	return (struct kubeapi_io){
		.request = io_request, .push = io_push, .mark = io_mark, .backoff = io_backoff,
		.sleep = io_sleep, .stopping = io_stopping, .now_us = io_now_us,
		.random = io_random, .stream_errors = io_stream_errors, .ctx = ctx,
	};
}

/* Where source s starts: its checkpoint (read on its own thread: it touches the disk). */
static void load_checkpoint(struct kubeapi_source *s)
{
	char position[HANDOFF_POSITION_MAX];
	int err = http_worker_load(&kubeapi.worker, s->handoff_source, position, sizeof(position),
				   NULL, NULL);

	if (!err)
		kubeapi_source_resume(s, position);
	else
		kubeapi_source_relist(s, err == -EINVAL ? KUBEAPI_RESYNC_CHECKPOINT_UNUSABLE
							: KUBEAPI_RESYNC_START);
}

/* Threads named after their source, for top -H and /proc/<pid>/task/<tid>/comm. The worker's
 * own thread drops its capabilities as http_worker starts it; the others here. */
static void name_thread(const char *name, bool drop_privilege)
{
	pthread_setname_np(pthread_self(), name);
	if (drop_privilege && privilege_drop_thread())
		log_warn("kubeapi: thread %s could not drop its capabilities", name);
}

static void run_first(struct http_worker *w)
{
	(void)w;
	name_thread(kubeapi.first == &kubeapi.pods ? "kubeapi-pods" : "kubeapi-events", false);
	load_checkpoint(kubeapi.first);
	kubeapi_source_run(kubeapi.first);
}

static void *run_second(void *arg)
{
	(void)arg;
	name_thread("kubeapi-events", true);
	load_checkpoint(kubeapi.second);
	kubeapi_source_run(kubeapi.second);
	return NULL;
}

/* Writes the checkpoints whose durable position moved, once a second. */
static void *run_checkpoints(void *arg)
{
	struct timespec deadline;

	(void)arg;
	name_thread("kubeapi-ckpt", true);
	pthread_mutex_lock(&kubeapi.lock);
	while (!kubeapi.checkpoint_stop) {
		pthread_mutex_unlock(&kubeapi.lock);
		http_worker_checkpoint(&kubeapi.worker);
		pthread_mutex_lock(&kubeapi.lock);
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += 1;
		while (!kubeapi.checkpoint_stop &&
		       pthread_cond_timedwait(&kubeapi.wake, &kubeapi.lock, &deadline) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&kubeapi.lock);
	return NULL;
}

/* "a,b,c" into a NULL-terminated array. NULL on ENOMEM. */
static char **split_keys(const char *list)
{
	size_t n = 1, i = 0;
	char **keys, *copy, *save = NULL, *tok;

	for (const char *p = list; p && *p; p++)
		n += *p == ',';
	keys = calloc(n + 1, sizeof(*keys));
	copy = list ? strdup(list) : NULL;
	if (!keys || (list && !copy)) {
		free(keys);
		free(copy);
		return NULL;
	}
	for (tok = copy ? strtok_r(copy, ",", &save) : NULL; tok && i < n;
	     tok = strtok_r(NULL, ",", &save))
		if (!(keys[i++] = strdup(tok)))
			break;
	free(copy);
	return keys;
}

static void free_keys(char **keys)
{
	for (char **k = keys; k && *k; k++)
		free(*k);
	free(keys);
}

/* What the collector connects to: URL, token and CA files (the service account's unless
 * configured; no token when there is none and kubeapi_url names the server). 0; -ENODEV with
 * `missing` when there is nothing to connect to; -EINVAL when a configured file is unreadable. */
static int resolve_target(const struct tapio_config *cfg, char *url, size_t url_size,
			  const char **token, const char **ca, char *missing, size_t size)
{
	char why[600];
	int err;

	*token = cfg->kubeapi_token_file;
	*ca = cfg->kubeapi_ca_file;
	if (cfg->kubeapi_url) {
		snprintf(url, url_size, "%s", cfg->kubeapi_url);
	} else {
		err = kube_env_api_url(url, url_size, missing, size);
		if (err) {
			snprintf(missing + strlen(missing), size - strlen(missing),
				 " and kubeapi_url is not set");
			return err;
		}
	}
	if (*token) {
		if (kube_env_file("kubeapi_token_file", *token, missing, size))
			return -EINVAL;
	} else if (!kube_env_file("the service-account token", KUBE_SA_TOKEN, why, sizeof(why))) {
		*token = KUBE_SA_TOKEN;
	} else if (!cfg->kubeapi_url) {
		snprintf(missing, size, "%s", why); /* in a cluster, but no token mounted */
		return -ENODEV;
	}
	if (*ca) {
		if (kube_env_file("kubeapi_ca_file", *ca, missing, size))
			return -EINVAL;
	} else if (!kube_env_file("the service-account CA", KUBE_SA_CA, why, sizeof(why))) {
		*ca = KUBE_SA_CA;
	}
	return 0;
}

static int open_client(const char *label, const char *url, const char *token, const char *ca,
		       struct http_client **out)
{
	struct http_client_config hc;
	char errstr[512];
	int err;

	http_client_config_defaults(&hc);
	hc.label = label;
	hc.base_url = url;
	hc.token_file = token;
	hc.ca_file = ca;
	err = http_client_open(&hc, out, errstr, sizeof(errstr));
	if (err)
		log_error("kubeapi: %s", errstr);
	return err;
}

static int kubeapi_open(struct collector_runtime *c, struct collector_io *io)
{
	const struct tapio_config *cfg = c->pipeline->cfg;
	bool pods_on = cfg->kubeapi_pods == KUBEAPI_PODS_NODE;
	bool events_on = cfg->kubeapi_events != KUBEAPI_EVENTS_OFF;
	struct http_client *client = NULL;
	struct handoff *handoff = NULL;
	char url[1024], missing[600], state_buf[4096];
	const char *token, *ca, *state_dir;
	int err, n;

	memset(&kubeapi, 0, sizeof(kubeapi));
	pthread_mutex_init(&kubeapi.lock, NULL);
	{
		pthread_condattr_t attr;

		pthread_condattr_init(&attr);
		pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
		pthread_cond_init(&kubeapi.wake, &attr);
		pthread_condattr_destroy(&attr);
	}
	if (!pods_on && !events_on) {
		if (!c->named) {
			log_info("kubeapi: skipped: kubeapi_pods and kubeapi_events are both off");
			return -ENODEV;
		}
		log_error("kubeapi: asked for by name, but kubeapi_pods and kubeapi_events are "
			  "both off: nothing to collect");
		return -ENODEV;
	}
	err = resolve_target(cfg, url, sizeof(url), &token, &ca, missing, sizeof(missing));
	if (err == -ENODEV && !c->named) {
		log_info("kubeapi: skipped: %s", missing);
		return err;
	}
	if (err) {
		/* Named, anything missing is a configuration error (exit 2); not named, a file
		 * configured but unreadable fails this collector alone. */
		log_error("kubeapi: %s", missing);
		return c->named ? -ENODEV : err;
	}
	if (!token)
		log_warn("kubeapi: no token (kubeapi_token_file is not set, and there is none at "
			 KUBE_SA_TOKEN "): requests go unauthenticated");
	kubeapi.annotations = split_keys(cfg->kubeapi_annotations);
	if (!kubeapi.annotations)
		return -ENOMEM;
	kubeapi.map_cfg = (struct kubeapi_map_config){ .node = cfg->node_name,
						       .annotations = kubeapi.annotations };
	err = open_client("kubeapi", url, token, ca, &client);
	if (err)
		return err;
	if (pods_on && events_on) {
		err = open_client("kubeapi-events", url, token, ca, &kubeapi.events_client);
		if (err) {
			http_client_close(client);
			return err;
		}
	}
	handoff = handoff_new(HANDOFF_ENTRIES, HANDOFF_BYTES);
	state_dir = config_state_dir(cfg, state_buf, sizeof(state_buf));
	/* From here on the worker owns client and handoff (even when init fails). */
	err = http_worker_init(&kubeapi.worker, "kubeapi", client, handoff, state_dir,
			       cfg->node_name);
	if (!handoff && !err)
		err = -ENOMEM;
	if (err) {
		log_error("kubeapi: cannot set up its worker: %s", strerror(-err));
		return err;
	}
	kubeapi.first = pods_on ? &kubeapi.pods : &kubeapi.events;
	kubeapi.second = pods_on && events_on ? &kubeapi.events : NULL;
	kubeapi.first_io.client = client;
	kubeapi.first_io.worker = &kubeapi.worker;
	kubeapi.second_io.client = kubeapi.events_client;
	kubeapi.second_io.worker = &kubeapi.worker;
	for (int i = 0; i < 2; i++) {
		struct kubeapi_source *s = i == 0 ? kubeapi.first : kubeapi.second;
		struct kubeapi_io sio;
		int index;

		if (!s)
			continue;
		sio = thread_io(i == 0 ? &kubeapi.first_io : &kubeapi.second_io);
		err = kubeapi_source_init(s, s == &kubeapi.pods ? KUBEAPI_SOURCE_PODS
								: KUBEAPI_SOURCE_EVENTS,
					  cfg->node_name,
					  (enum kubeapi_events_mode)cfg->kubeapi_events,
					  &kubeapi.map_cfg, &sio, 0);
		if (err)
			return err;
		/* Positions are relative to the server and what is selected: another mode is
		 * another stream, and its checkpoint is foreign. */
		n = snprintf(s->checkpoint.scope, sizeof(s->checkpoint.scope), "%s;%s=%s",
			     http_client_url(client), s->name, s == &kubeapi.pods ? "node"
				      : cfg->kubeapi_events == KUBEAPI_EVENTS_NODE ? "node"
										   : "cluster");
		if (n < 0 || (size_t)n >= sizeof(s->checkpoint.scope)) {
			log_error("kubeapi: the API server's URL %s is too long to name its "
				  "checkpoints (at most %zu bytes)", http_client_url(client),
				  sizeof(s->checkpoint.scope) - 16);
			return -EINVAL;
		}
		index = http_worker_add_source(&kubeapi.worker, &s->checkpoint);
		if (index < 0)
			return index;
		s->handoff_source = index;
	}
	io->handoff = handoff;
	io->http = client;
	io->http_second = kubeapi.events_client;
	log_info("kubeapi: %s at %s%s, node %s",
		 !events_on ? "pods" : !pods_on ? "Events" : "pods and Events",
		 http_client_url(client),
		 !events_on ? "" : cfg->kubeapi_events == KUBEAPI_EVENTS_NODE
					   ? " (Events about this node)"
					   : " (Events of the whole cluster)",
		 cfg->node_name);
	return 0;
}

static int kubeapi_start(struct collector_runtime *c)
{
	int err;

	(void)c;
	err = pthread_create(&kubeapi.checkpoint_thread, NULL, run_checkpoints, NULL);
	if (err)
		return -err;
	kubeapi.checkpoint_started = true;
	if (kubeapi.second) {
		err = pthread_create(&kubeapi.second_thread, NULL, run_second, NULL);
		if (err)
			return -err;
		kubeapi.second_started = true;
	}
	return http_worker_start(&kubeapi.worker, run_first);
}

static void kubeapi_stop(struct collector_runtime *c)
{
	(void)c;
	/* The checkpoint thread first: the worker's thread writes the last ones as it ends. */
	if (kubeapi.checkpoint_started) {
		pthread_mutex_lock(&kubeapi.lock);
		kubeapi.checkpoint_stop = true;
		pthread_cond_broadcast(&kubeapi.wake);
		pthread_mutex_unlock(&kubeapi.lock);
		pthread_join(kubeapi.checkpoint_thread, NULL);
		kubeapi.checkpoint_started = false;
	}
	if (kubeapi.events_client)
		http_client_stop(kubeapi.events_client);
	http_worker_stop(&kubeapi.worker);
	if (kubeapi.second_started) {
		pthread_join(kubeapi.second_thread, NULL);
		kubeapi.second_started = false;
	}
}

static void kubeapi_destroy(struct collector_runtime *c)
{
	kubeapi_stop(c);
	http_worker_destroy(&kubeapi.worker);
	http_client_close(kubeapi.events_client);
	kubeapi.events_client = NULL;
	kubeapi_source_free(&kubeapi.pods); /* safe on a source never set up */
	kubeapi_source_free(&kubeapi.events);
	free_keys(kubeapi.annotations);
	kubeapi.annotations = NULL;
	pthread_cond_destroy(&kubeapi.wake);
	pthread_mutex_destroy(&kubeapi.lock);
}

static bool kubeapi_up(const struct collector_runtime *c)
{
	(void)c;
	return (!kubeapi.first || atomic_load(&kubeapi.first->stats.up)) &&
	       (!kubeapi.second || atomic_load(&kubeapi.second->stats.up));
}

static void kubeapi_render(const struct collector_runtime *c, FILE *out)
{
	struct kubeapi_source *sources[2] = { kubeapi.first, kubeapi.second };

	(void)c;
	kubeapi_render_metrics(sources, 2, out);
}

const struct collector_ops kubeapi_collector = {
	.name = "kubeapi",
	.http = true,
	.open = kubeapi_open,
	.start = kubeapi_start,
	.up = kubeapi_up,
	.render_metrics = kubeapi_render,
	.stop = kubeapi_stop,
	.destroy = kubeapi_destroy,
};
