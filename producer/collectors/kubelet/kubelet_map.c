/*
 * The kubelet's Summary API (GET /stats/summary, stats/v1alpha1) → POD_STATS and NODE_STATS,
 * SCRAPE_FAILED, and the JSON helpers kubelet_pods.c shares. Pure: no I/O, no globals.
 *
 * Records are written field by field in schemas/kubelet.avsc order straight from the JSON; a
 * number the kubelet left out (or sent as something else) is null, never 0.
 */
#include "kubelet_collector.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "http_client.h"

static const char *const skip_names[KUBELET_SKIP_MAX] = {
	[KUBELET_SKIP_MALFORMED] = "malformed",
	[KUBELET_SKIP_BAD_UID] = "bad_uid",
	[KUBELET_SKIP_DUPLICATE] = "duplicate",
	[KUBELET_SKIP_TOO_MANY] = "too_many",
	[KUBELET_SKIP_TOO_LARGE] = "too_large",
	[KUBELET_SKIP_WRONG_TYPE] = "wrong_type",
	[KUBELET_SKIP_OUT_OF_RANGE] = "out_of_range",
	[KUBELET_SKIP_BAD_TIME] = "bad_time",
	[KUBELET_SKIP_TRUNCATED] = "truncated",
};

const char *kubelet_skip_name(enum kubelet_skip reason)
{
	return (unsigned)reason < KUBELET_SKIP_MAX ? skip_names[reason] : "?";
}

static void count(struct kubelet_counts *c, enum kubelet_skip reason)
{
	if (c)
		c->n[reason]++;
}

/* Time */

static bool digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false; /* a NUL ends the string here: nothing past it is read */
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

bool kubelet_parse_time(const char *s, int64_t *us)
{
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0, fd = 0;
	int64_t frac = 0;
	const char *p;

	if (!s || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) ||
	    s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &sec))
		return false;
	p = s + 19;
	if (*p == '.') {
		if (p[1] < '0' || p[1] > '9')
			return false;
		/* Microseconds: digits past the sixth are dropped, not rounded. */
		for (p++; *p >= '0' && *p <= '9'; p++)
			if (fd < 6) {
				frac = frac * 10 + (*p - '0');
				fd++;
			}
	}
	for (; fd < 6; fd++)
		frac *= 10;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '+' ? 1 : -1;
		if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om))
			return false;
		p += 6;
	} else {
		return false;
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
	    sec > 59 || oh > 23 || om > 59)
		return false;
	*us = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) -
	       sign * (oh * 3600 + om * 60)) * 1000000 + frac;
	return true;
}

bool kubelet_strip_runtime(const char *id, char *out, size_t size)
{
	const char *sep = id ? strstr(id, "://") : NULL;
	size_t len;

	if (!id)
		return false;
	if (sep)
		id = sep + 3;
	len = strlen(id);
	if (!len || len >= size)
		return false;
	memcpy(out, id, len + 1);
	return true;
}

bool kubelet_uid_valid(const char *s, size_t len)
{
	if (!s || !len || len > KUBELET_UID_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '_' || ch == '.'))
			return false;
	}
	return true;
}

uint64_t kubelet_hash(uint64_t h, const void *data, size_t n)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* JSON */

static const json_t *member(const json_t *obj, const char *key)
{
	const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

	return v && !json_is_null(v) ? v : NULL;
}

const json_t *kubelet_json_object(const json_t *obj, const char *key,
				  struct kubelet_counts *counts)
{
	const json_t *v = member(obj, key);

	if (v && !json_is_object(v)) {
		count(counts, KUBELET_SKIP_WRONG_TYPE);
		return NULL;
	}
	return v;
}

/* The length of s cut to max bytes without splitting a UTF-8 character. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
	size_t n = max;

	if (len <= max)
		return len;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

const char *kubelet_json_string(const json_t *obj, const char *key, size_t max, size_t *len,
				struct kubelet_counts *counts)
{
	const json_t *v = member(obj, key);
	const char *s;
	size_t n;

	*len = 0;
	if (!v)
		return NULL;
	if (!json_is_string(v)) {
		count(counts, KUBELET_SKIP_WRONG_TYPE);
		return NULL;
	}
	s = json_string_value(v);
	n = strnlen(s, json_string_length(v));
	if (n > max) {
		count(counts, KUBELET_SKIP_TRUNCATED);
		n = utf8_cut(s, n, max);
	}
	*len = n;
	return s;
}

bool kubelet_json_long(const json_t *obj, const char *key, int64_t min, int64_t max,
		       int64_t *out, struct kubelet_counts *counts)
{
	const json_t *v = member(obj, key);
	json_int_t n;

	if (!v)
		return false;
	if (!json_is_integer(v)) {
		count(counts, KUBELET_SKIP_WRONG_TYPE);
		return false;
	}
	n = json_integer_value(v);
	if (n < min || n > max) {
		count(counts, KUBELET_SKIP_OUT_OF_RANGE);
		return false;
	}
	*out = n;
	return true;
}

bool kubelet_json_time(const json_t *obj, const char *key, int64_t *us,
		       struct kubelet_counts *counts)
{
	const json_t *v = member(obj, key);

	if (!v)
		return false;
	if (!json_is_string(v)) {
		count(counts, KUBELET_SKIP_WRONG_TYPE);
		return false;
	}
	if (!kubelet_parse_time(json_string_value(v), us)) {
		count(counts, KUBELET_SKIP_BAD_TIME);
		return false;
	}
	return true;
}

/* Encoding */

static void put_nulls(struct avro_buf *b, int n)
{
	for (int i = 0; i < n; i++)
		avro_put_union(b, 0);
}

/* ["null","long"]: a count, a size or a counter of the kubelet (Go uint64: never negative). */
static void put_opt_long(struct avro_buf *b, const json_t *obj, const char *key,
			 struct kubelet_counts *c)
{
	int64_t v;

	if (!kubelet_json_long(obj, key, 0, INT64_MAX, &v, c)) {
		avro_put_union(b, 0);
		return;
	}
	avro_put_union(b, 1);
	avro_put_long(b, v);
}

static void put_opt_time(struct avro_buf *b, const json_t *obj, const char *key,
			 struct kubelet_counts *c)
{
	int64_t us;

	if (!kubelet_json_time(obj, key, &us, c)) {
		avro_put_union(b, 0);
		return;
	}
	avro_put_union(b, 1);
	avro_put_long(b, us);
}

static void put_opt_string(struct avro_buf *b, const json_t *obj, const char *key, size_t max,
			   struct kubelet_counts *c)
{
	size_t len;
	const char *s = kubelet_json_string(obj, key, max, &len, c);

	if (!s || !len) {
		avro_put_union(b, 0);
		return;
	}
	avro_put_union(b, 1);
	avro_put_string(b, s, len);
}

/* A string the schema requires: "" when absent. */
static void put_string(struct avro_buf *b, const json_t *obj, const char *key, size_t max,
		       struct kubelet_counts *c)
{
	size_t len;
	const char *s = kubelet_json_string(obj, key, max, &len, c);

	avro_put_string(b, s ? s : "", len);
}

/* Cpu */
static void put_cpu(struct avro_buf *b, const json_t *parent, const char *key,
		    struct kubelet_counts *c)
{
	const json_t *o = kubelet_json_object(parent, key, c);

	if (!o) {
		avro_put_union(b, 0);
		return;
	}
	avro_put_union(b, 1);
	put_opt_time(b, o, "time", c);
	put_opt_long(b, o, "usageNanoCores", c);
	put_opt_long(b, o, "usageCoreNanoSeconds", c);
}

/* Memory */
static void put_memory(struct avro_buf *b, const json_t *parent, const char *key,
		       struct kubelet_counts *c)
{
	static const char *const fields[] = { "availableBytes", "usageBytes", "workingSetBytes",
					      "rssBytes", "pageFaults", "majorPageFaults" };
	const json_t *o = kubelet_json_object(parent, key, c);

	if (!o) {
		avro_put_union(b, 0);
		return;
	}
	avro_put_union(b, 1);
	put_opt_time(b, o, "time", c);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		put_opt_long(b, o, fields[i], c);
}

/* Fs: the fields of an FsStats (inline in VolumeStats, hence not a union here). */
static void put_fs_fields(struct avro_buf *b, const json_t *o, struct kubelet_counts *c)
{
	static const char *const fields[] = { "availableBytes", "capacityBytes", "usedBytes",
					      "inodesFree", "inodes", "inodesUsed" };

	put_opt_time(b, o, "time", c);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		put_opt_long(b, o, fields[i], c);
}

static void put_opt_fs(struct avro_buf *b, const json_t *parent, const char *key,
		       struct kubelet_counts *c)
{
	const json_t *o = kubelet_json_object(parent, key, c);

	if (!o) {
		avro_put_union(b, 0);
		return;
	}
	avro_put_union(b, 1);
	put_fs_fields(b, o, c);
}

/* The object items of obj[key] (an array), at most max: how many will be written. Items that
 * are not objects are skipped, those beyond max dropped; both counted, *truncated set for the
 * latter. */
static size_t object_items(const json_t *obj, const char *key, size_t max, bool *truncated,
			   struct kubelet_counts *c)
{
	const json_t *arr = member(obj, key);
	size_t n = 0, i;
	json_t *item;

	if (!arr)
		return 0;
	if (!json_is_array(arr)) {
		count(c, KUBELET_SKIP_WRONG_TYPE);
		return 0;
	}
	json_array_foreach(arr, i, item) {
		if (!json_is_object(item)) {
			count(c, KUBELET_SKIP_MALFORMED);
		} else if (n == max) {
			count(c, KUBELET_SKIP_TOO_MANY);
			*truncated = true;
		} else {
			n++;
		}
	}
	return n;
}

/* Calls put(b, item, ctx, c) for the first n object items of obj[key] as one Avro array. */
static void put_array(struct avro_buf *b, const json_t *obj, const char *key, size_t n,
		      void (*put)(struct avro_buf *, const json_t *, const void *,
				  struct kubelet_counts *),
		      const void *ctx, struct kubelet_counts *c)
{
	const json_t *arr = member(obj, key);
	size_t i, done = 0;
	json_t *item;

	if (n) {
		avro_put_long(b, (int64_t)n);
		json_array_foreach(arr, i, item) {
			if (done == n)
				break;
			if (!json_is_object(item))
				continue;
			put(b, item, ctx, c);
			done++;
		}
	}
	avro_put_long(b, 0);
}

/* Interface */
static void put_interface(struct avro_buf *b, const json_t *o, const void *ctx,
			  struct kubelet_counts *c)
{
	(void)ctx;
	put_string(b, o, "name", KUBELET_NAME_LEN, c);
	put_opt_long(b, o, "rxBytes", c);
	put_opt_long(b, o, "rxErrors", c);
	put_opt_long(b, o, "txBytes", c);
	put_opt_long(b, o, "txErrors", c);
}

/* Network: the default interface inline, then every interface. */
static void put_network(struct avro_buf *b, const json_t *parent, bool *truncated,
			struct kubelet_counts *c)
{
	const json_t *o = kubelet_json_object(parent, "network", c);
	size_t n;

	if (!o) {
		avro_put_union(b, 0);
		return;
	}
	avro_put_union(b, 1);
	put_opt_time(b, o, "time", c);
	put_opt_string(b, o, "name", KUBELET_NAME_LEN, c);
	put_opt_long(b, o, "rxBytes", c);
	put_opt_long(b, o, "rxErrors", c);
	put_opt_long(b, o, "txBytes", c);
	put_opt_long(b, o, "txErrors", c);
	n = object_items(o, "interfaces", KUBELET_INTERFACES_MAX, truncated, c);
	put_array(b, o, "interfaces", n, put_interface, NULL, c);
}

/* Volume: VolumeStats, whose FsStats is inline. */
static void put_volume(struct avro_buf *b, const json_t *o, const void *ctx,
		       struct kubelet_counts *c)
{
	const json_t *pvc = kubelet_json_object(o, "pvcRef", c);

	(void)ctx;
	put_string(b, o, "name", KUBELET_NAME_LEN, c);
	put_opt_string(b, pvc, "namespace", KUBELET_NAME_LEN, c);
	put_opt_string(b, pvc, "name", KUBELET_NAME_LEN, c);
	put_fs_fields(b, o, c);
}

/* Which pod's containers are being written: their ids come from /pods. */
struct pod_ctx {
	const struct kubelet_pods *pods;
	const char *uid;
};

/* ContainerStats */
static void put_container(struct avro_buf *b, const json_t *o, const void *ctx,
			  struct kubelet_counts *c)
{
	const struct pod_ctx *pc = ctx;
	char name[KUBELET_NAME_LEN + 1];
	const char *s, *id;
	size_t len;

	s = kubelet_json_string(o, "name", KUBELET_NAME_LEN, &len, c);
	memcpy(name, s ? s : "", len);
	name[len] = '\0';
	avro_put_string(b, name, len);
	id = pc->pods ? kubelet_container_id(pc->pods, pc->uid, name) : NULL;
	avro_put_optional_string(b, id, KUBELET_ID_LEN);
	put_opt_time(b, o, "startTime", c);
	put_cpu(b, o, "cpu", c);
	put_memory(b, o, "memory", c);
	put_opt_fs(b, o, "rootfs", c);
	put_opt_fs(b, o, "logs", c);
}

/* SystemContainer */
static void put_system_container(struct avro_buf *b, const json_t *o, const void *ctx,
				 struct kubelet_counts *c)
{
	(void)ctx;
	put_string(b, o, "name", KUBELET_NAME_LEN, c);
	put_opt_time(b, o, "startTime", c);
	put_cpu(b, o, "cpu", c);
	put_memory(b, o, "memory", c);
}

/* Hands the record in b to e->fn, or counts it as too large. 1 when handed over, 0 when too
 * large, or what fn returned to stop. */
static int emit(const struct kubelet_emit *e, const struct avro_buf *b, int kind,
		const char *uid, const char *container_id, const char *key, size_t key_len)
{
	struct handoff_meta meta = { .kind = kind, .event_time_us = e->observed_us };
	int err;

	if (b->overflow) {
		count(e->counts, KUBELET_SKIP_TOO_LARGE);
		return 0;
	}
	snprintf(meta.pod_uid, sizeof(meta.pod_uid), "%s", uid ? uid : "");
	snprintf(meta.container_id, sizeof(meta.container_id), "%s",
		 container_id ? container_id : "");
	err = e->fn(e->ctx, &meta, key, key_len, b->data, b->len);
	return err ? err : 1;
}

/* One entry of the Summary's pods: 1 when emitted, 0 when skipped, or what e->fn returned. */
static int map_pod(const json_t *pod, const struct kubelet_scrape *s, const struct kubelet_emit *e)
{
	struct kubelet_counts *c = e->counts;
	const json_t *ref = kubelet_json_object(pod, "podRef", c), *proc;
	char uid[KUBELET_UID_LEN + 1];
	struct pod_ctx pc = { .pods = s->pods, .uid = uid };
	bool truncated = false;
	size_t len, nvol, ncont;
	struct avro_buf b;
	const char *u;

	/* 64 bytes: one more than a UID may have, so that a longer one is refused, not cut. */
	u = kubelet_json_string(ref, "uid", KUBELET_UID_LEN + 1, &len, NULL);
	if (!kubelet_uid_valid(u, len)) {
		count(c, KUBELET_SKIP_BAD_UID);
		return 0;
	}
	memcpy(uid, u, len);
	uid[len] = '\0';

	avro_buf_init(&b, e->buf, e->cap);
	put_opt_string(&b, ref, "namespace", KUBELET_NAME_LEN, c);
	put_opt_string(&b, ref, "name", KUBELET_NAME_LEN, c);
	avro_put_union(&b, 1); /* pod_stats */
	put_opt_time(&b, pod, "startTime", c);
	put_cpu(&b, pod, "cpu", c);
	put_memory(&b, pod, "memory", c);
	put_network(&b, pod, &truncated, c);
	put_opt_fs(&b, pod, "ephemeral-storage", c);
	proc = kubelet_json_object(pod, "process_stats", c);
	put_opt_long(&b, proc, "process_count", c);
	nvol = object_items(pod, "volume", KUBELET_VOLUMES_MAX, &truncated, c);
	put_array(&b, pod, "volume", nvol, put_volume, NULL, c);
	ncont = object_items(pod, "containers", KUBELET_POD_CONTAINERS_MAX, &truncated, c);
	put_array(&b, pod, "containers", ncont, put_container, &pc, c);
	avro_put_bool(&b, truncated);
	put_nulls(&b, 6); /* node_stats, pod_status, container, pod_phase, pod_ready, scrape_failed */
	return emit(e, &b, KUBELET_POD_STATS, uid, NULL, uid, strlen(uid));
}

static int map_node(const json_t *node, size_t npods, const struct kubelet_scrape *s,
		    const struct kubelet_emit *e)
{
	struct kubelet_counts *c = e->counts;
	const json_t *runtime = kubelet_json_object(node, "runtime", c);
	const json_t *rlimit = kubelet_json_object(node, "rlimit", c);
	char key[HANDOFF_KEY_MAX];
	bool truncated = false;
	struct avro_buf b;
	size_t n;
	int key_len;

	avro_buf_init(&b, e->buf, e->cap);
	put_nulls(&b, 3); /* namespace, pod_name, pod_stats */
	avro_put_union(&b, 1); /* node_stats */
	put_opt_string(&b, node, "nodeName", KUBELET_NAME_LEN, c);
	put_opt_time(&b, node, "startTime", c);
	put_cpu(&b, node, "cpu", c);
	put_memory(&b, node, "memory", c);
	put_network(&b, node, &truncated, c);
	put_opt_fs(&b, node, "fs", c);
	put_opt_fs(&b, runtime, "imageFs", c);
	put_opt_fs(&b, runtime, "containerFs", c);
	put_opt_long(&b, rlimit, "maxpid", c);
	put_opt_long(&b, rlimit, "curproc", c);
	n = object_items(node, "systemContainers", KUBELET_SYSTEM_CONTAINERS_MAX, &truncated, c);
	put_array(&b, node, "systemContainers", n, put_system_container, NULL, c);
	avro_put_long(&b, npods > INT32_MAX ? INT32_MAX : (int64_t)npods);
	avro_put_long(&b, s->duration_ms);
	avro_put_long(&b, s->missed_intervals);
	avro_put_bool(&b, truncated);
	put_nulls(&b, 5); /* pod_status, container, pod_phase, pod_ready, scrape_failed */
	key_len = snprintf(key, sizeof(key), "%s/node", e->node);
	if (key_len < 0 || (size_t)key_len >= sizeof(key))
		return -ENAMETOOLONG;
	return emit(e, &b, KUBELET_NODE_STATS, NULL, NULL, key, (size_t)key_len);
}

int kubelet_map_summary(const json_t *summary, const struct kubelet_scrape *s,
			const struct kubelet_emit *e)
{
	const json_t *node = member(summary, "node"), *pods = member(summary, "pods");
	json_t *pod;
	size_t i, npods = 0;
	int n = 0, err;

	if (!json_is_object(summary) || !json_is_object(node))
		return -EINVAL;
	if (pods && !json_is_array(pods)) {
		count(e->counts, KUBELET_SKIP_WRONG_TYPE);
		pods = NULL;
	}
	json_array_foreach(pods, i, pod) {
		npods++;
		if (!json_is_object(pod)) {
			count(e->counts, KUBELET_SKIP_MALFORMED);
			continue;
		}
		err = map_pod(pod, s, e);
		if (err < 0)
			return err;
		n += err;
	}
	err = map_node(node, npods, s, e);
	return err < 0 ? err : n + err;
}

/* SCRAPE_FAILED */

enum kubelet_outcome kubelet_outcome_of(int http_outcome)
{
	switch (http_outcome) {
	case HTTP_OUTCOME_HTTP_4XX: return KUBELET_OUTCOME_HTTP_4XX;
	case HTTP_OUTCOME_HTTP_5XX: return KUBELET_OUTCOME_HTTP_5XX;
	case HTTP_OUTCOME_HTTP_OTHER: return KUBELET_OUTCOME_HTTP_OTHER;
	case HTTP_OUTCOME_TRANSPORT: return KUBELET_OUTCOME_TRANSPORT;
	case HTTP_OUTCOME_TLS: return KUBELET_OUTCOME_TLS;
	case HTTP_OUTCOME_TIMEOUT: return KUBELET_OUTCOME_TIMEOUT;
	case HTTP_OUTCOME_TOO_LARGE: return KUBELET_OUTCOME_TOO_LARGE;
	case HTTP_OUTCOME_JSON: return KUBELET_OUTCOME_JSON;
	case HTTP_OUTCOME_SETUP: return KUBELET_OUTCOME_SETUP;
	default: return KUBELET_OUTCOME_UNKNOWN;
	}
}

int kubelet_emit_scrape_failed(const struct kubelet_emit *e, const char *endpoint,
			       enum kubelet_outcome outcome, long http_status, const char *error,
			       int64_t duration_ms)
{
	char key[HANDOFF_KEY_MAX];
	struct avro_buf b;
	int key_len, err;

	avro_buf_init(&b, e->buf, e->cap);
	put_nulls(&b, 8); /* namespace ... pod_ready */
	avro_put_union(&b, 1);
	avro_put_string(&b, endpoint, KUBELET_NAME_LEN);
	avro_put_long(&b, outcome);
	if (http_status > 0 && http_status <= INT32_MAX) {
		avro_put_union(&b, 1);
		avro_put_long(&b, http_status);
	} else {
		avro_put_union(&b, 0);
	}
	avro_put_string(&b, error ? error : "",
			utf8_cut(error ? error : "", strlen(error ? error : ""), KUBELET_ERROR_LEN));
	avro_put_long(&b, duration_ms);
	key_len = snprintf(key, sizeof(key), "%s/node", e->node);
	if (key_len < 0 || (size_t)key_len >= sizeof(key))
		return -ENAMETOOLONG;
	err = emit(e, &b, KUBELET_SCRAPE_FAILED, NULL, NULL, key, (size_t)key_len);
	return err < 0 ? err : 0;
}
