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

int kubelet_json_parse(struct jtok_doc *d, const char *body, size_t len)
{
	/* A token takes two bytes of text at least ("0," in an array): bound by the body. */
	size_t max = len / 2 + 64;
	int rc;

	jtok_init(d, max > UINT32_MAX ? UINT32_MAX : (uint32_t)max, KUBELET_JSON_DEPTH);
	rc = jtok_parse(d, body, len);
	if (rc == JTOK_OK)
		return 0;
	jtok_free(d);
	return rc == JTOK_NO_MEMORY ? -ENOMEM : -EBADMSG;
}

int kubelet_json_member(const struct jtok_doc *d, int obj, const char *key)
{
	int v = jtok_get(d, obj, key);

	return v >= 0 && !jtok_is(d, v, JTOK_NULL) ? v : -1;
}

int kubelet_json_object(const struct jtok_doc *d, int obj, const char *key,
			struct kubelet_counts *counts)
{
	int v = kubelet_json_member(d, obj, key);

	if (v >= 0 && !jtok_is(d, v, JTOK_OBJECT)) {
		count(counts, KUBELET_SKIP_WRONG_TYPE);
		return -1;
	}
	return v;
}

/* The length of s cut to max bytes without splitting a UTF-8 character (s holds max + 1). */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
	size_t n = max;

	if (len <= max)
		return len;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

const char *kubelet_json_string(const struct jtok_doc *d, int obj, const char *key, size_t max,
				char *buf, size_t *len, struct kubelet_counts *counts)
{
	int v = kubelet_json_member(d, obj, key);
	bool cut = false;

	*len = 0;
	if (v < 0)
		return NULL;
	if (!jtok_is(d, v, JTOK_STRING)) {
		count(counts, KUBELET_SKIP_WRONG_TYPE);
		return NULL;
	}
	/* Cut at a character boundary; \u0000 and lone surrogates read as U+FFFD. */
	*len = jtok_decode(d, v, buf, max + 1, &cut);
	if (cut)
		count(counts, KUBELET_SKIP_TRUNCATED);
	return buf;
}

/* A number token that is not an integer: a fraction or exponent (wrong type) or too large. */
static enum kubelet_skip not_integer(const struct jtok_doc *d, int v)
{
	const struct jtok *t = &d->tok[v];
	const char *s = d->text + t->start;

	return memchr(s, '.', t->len) || memchr(s, 'e', t->len) || memchr(s, 'E', t->len) ?
		       KUBELET_SKIP_WRONG_TYPE : KUBELET_SKIP_OUT_OF_RANGE;
}

bool kubelet_json_long(const struct jtok_doc *d, int obj, const char *key, int64_t min,
		       int64_t max, int64_t *out, struct kubelet_counts *counts)
{
	int v = kubelet_json_member(d, obj, key);
	int64_t n;

	if (v < 0)
		return false;
	if (!jtok_is(d, v, JTOK_NUMBER)) {
		count(counts, KUBELET_SKIP_WRONG_TYPE);
		return false;
	}
	if (!jtok_int64(d, v, &n)) {
		count(counts, not_integer(d, v));
		return false;
	}
	if (n < min || n > max) {
		count(counts, KUBELET_SKIP_OUT_OF_RANGE);
		return false;
	}
	*out = n;
	return true;
}

bool kubelet_json_time(const struct jtok_doc *d, int obj, const char *key, int64_t *us,
		       struct kubelet_counts *counts)
{
	int v = kubelet_json_member(d, obj, key);
	char text[64];
	bool cut = false;

	if (v < 0)
		return false;
	if (!jtok_is(d, v, JTOK_STRING)) {
		count(counts, KUBELET_SKIP_WRONG_TYPE);
		return false;
	}
	jtok_decode(d, v, text, sizeof(text), &cut);
	if (cut || !kubelet_parse_time(text, us)) {
		count(counts, KUBELET_SKIP_BAD_TIME);
		return false;
	}
	return true;
}

/* Encoding */

/* A record being written from a document. */
struct enc {
	struct avro_buf b;
	const struct jtok_doc *d;
	struct kubelet_counts *c;
};

static void put_nulls(struct avro_buf *b, int n)
{
	for (int i = 0; i < n; i++)
		avro_put_union(b, 0);
}

/* ["null","long"]: a count, a size or a counter of the kubelet (Go uint64: never negative). */
static void put_opt_long(struct enc *x, int obj, const char *key)
{
	int64_t v;

	if (!kubelet_json_long(x->d, obj, key, 0, INT64_MAX, &v, x->c)) {
		avro_put_union(&x->b, 0);
		return;
	}
	avro_put_union(&x->b, 1);
	avro_put_long(&x->b, v);
}

static void put_opt_time(struct enc *x, int obj, const char *key)
{
	int64_t us;

	if (!kubelet_json_time(x->d, obj, key, &us, x->c)) {
		avro_put_union(&x->b, 0);
		return;
	}
	avro_put_union(&x->b, 1);
	avro_put_long(&x->b, us);
}

/* ["null","string"] of at most KUBELET_NAME_LEN bytes (every string of the Summary is a name). */
static void put_opt_name(struct enc *x, int obj, const char *key)
{
	char buf[KUBELET_NAME_LEN + 2];
	size_t len;
	const char *s = kubelet_json_string(x->d, obj, key, KUBELET_NAME_LEN, buf, &len, x->c);

	if (!s || !len) {
		avro_put_union(&x->b, 0);
		return;
	}
	avro_put_union(&x->b, 1);
	avro_put_string(&x->b, s, len);
}

/* A name the schema requires: "" when absent. Written to out (KUBELET_NAME_LEN + 2 bytes). */
static void put_name(struct enc *x, int obj, const char *key, char *out)
{
	size_t len;

	if (!kubelet_json_string(x->d, obj, key, KUBELET_NAME_LEN, out, &len, x->c))
		out[0] = '\0';
	avro_put_string(&x->b, out, len);
}

/* Cpu */
static void put_cpu(struct enc *x, int parent, const char *key)
{
	int o = kubelet_json_object(x->d, parent, key, x->c);

	avro_put_union(&x->b, o >= 0);
	if (o < 0)
		return;
	put_opt_time(x, o, "time");
	put_opt_long(x, o, "usageNanoCores");
	put_opt_long(x, o, "usageCoreNanoSeconds");
}

/* Memory */
static void put_memory(struct enc *x, int parent, const char *key)
{
	static const char *const fields[] = { "availableBytes", "usageBytes", "workingSetBytes",
					      "rssBytes", "pageFaults", "majorPageFaults" };
	int o = kubelet_json_object(x->d, parent, key, x->c);

	avro_put_union(&x->b, o >= 0);
	if (o < 0)
		return;
	put_opt_time(x, o, "time");
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		put_opt_long(x, o, fields[i]);
}

/* Fs: the fields of an FsStats (inline in VolumeStats, hence not a union here). */
static void put_fs_fields(struct enc *x, int o)
{
	static const char *const fields[] = { "availableBytes", "capacityBytes", "usedBytes",
					      "inodesFree", "inodes", "inodesUsed" };

	put_opt_time(x, o, "time");
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		put_opt_long(x, o, fields[i]);
}

static void put_opt_fs(struct enc *x, int parent, const char *key)
{
	int o = kubelet_json_object(x->d, parent, key, x->c);

	avro_put_union(&x->b, o >= 0);
	if (o >= 0)
		put_fs_fields(x, o);
}

/* The object items of obj[key] (an array), at most max: how many will be written. Items that
 * are not objects are skipped, those beyond max dropped; both counted, *truncated set for the
 * latter. */
static size_t object_items(struct enc *x, int obj, const char *key, size_t max,
			   bool *truncated)
{
	int arr = kubelet_json_member(x->d, obj, key);
	size_t n = 0;

	if (arr < 0)
		return 0;
	if (!jtok_is(x->d, arr, JTOK_ARRAY)) {
		count(x->c, KUBELET_SKIP_WRONG_TYPE);
		return 0;
	}
	for (int e = jtok_first(x->d, arr); e >= 0; e = jtok_next_element(x->d, arr, e)) {
		if (!jtok_is(x->d, e, JTOK_OBJECT)) {
			count(x->c, KUBELET_SKIP_MALFORMED);
		} else if (n == max) {
			count(x->c, KUBELET_SKIP_TOO_MANY);
			*truncated = true;
		} else {
			n++;
		}
	}
	return n;
}

/* Calls put(x, item, ctx) for the first n object items of obj[key] as one Avro array. */
static void put_array(struct enc *x, int obj, const char *key, size_t n,
		      void (*put)(struct enc *, int, const void *), const void *ctx)
{
	int arr = kubelet_json_member(x->d, obj, key);
	size_t done = 0;

	if (n) {
		avro_put_long(&x->b, (int64_t)n);
		for (int e = jtok_first(x->d, arr); e >= 0 && done < n;
		     e = jtok_next_element(x->d, arr, e)) {
			if (!jtok_is(x->d, e, JTOK_OBJECT))
				continue;
			put(x, e, ctx);
			done++;
		}
	}
	avro_put_long(&x->b, 0);
}

/* Interface */
static void put_interface(struct enc *x, int o, const void *ctx)
{
	char name[KUBELET_NAME_LEN + 2];

	(void)ctx;
	put_name(x, o, "name", name);
	put_opt_long(x, o, "rxBytes");
	put_opt_long(x, o, "rxErrors");
	put_opt_long(x, o, "txBytes");
	put_opt_long(x, o, "txErrors");
}

/* Network: the default interface inline, then every interface. */
static void put_network(struct enc *x, int parent, bool *truncated)
{
	int o = kubelet_json_object(x->d, parent, "network", x->c);
	size_t n;

	avro_put_union(&x->b, o >= 0);
	if (o < 0)
		return;
	put_opt_time(x, o, "time");
	put_opt_name(x, o, "name");
	put_opt_long(x, o, "rxBytes");
	put_opt_long(x, o, "rxErrors");
	put_opt_long(x, o, "txBytes");
	put_opt_long(x, o, "txErrors");
	n = object_items(x, o, "interfaces", KUBELET_INTERFACES_MAX, truncated);
	put_array(x, o, "interfaces", n, put_interface, NULL);
}

/* Volume: VolumeStats, whose FsStats is inline. */
static void put_volume(struct enc *x, int o, const void *ctx)
{
	int pvc = kubelet_json_object(x->d, o, "pvcRef", x->c);
	char name[KUBELET_NAME_LEN + 2];

	(void)ctx;
	put_name(x, o, "name", name);
	put_opt_name(x, pvc, "namespace");
	put_opt_name(x, pvc, "name");
	put_fs_fields(x, o);
}

/* Which pod's containers are being written: their ids come from /pods. */
struct pod_ctx {
	const struct kubelet_pods *pods;
	const char *uid;
};

/* ContainerStats */
static void put_container(struct enc *x, int o, const void *ctx)
{
	const struct pod_ctx *pc = ctx;
	char name[KUBELET_NAME_LEN + 2];
	const char *id;

	put_name(x, o, "name", name);
	id = pc->pods ? kubelet_container_id(pc->pods, pc->uid, name) : NULL;
	avro_put_optional_string(&x->b, id, KUBELET_ID_LEN);
	put_opt_time(x, o, "startTime");
	put_cpu(x, o, "cpu");
	put_memory(x, o, "memory");
	put_opt_fs(x, o, "rootfs");
	put_opt_fs(x, o, "logs");
}

/* SystemContainer */
static void put_system_container(struct enc *x, int o, const void *ctx)
{
	char name[KUBELET_NAME_LEN + 2];

	(void)ctx;
	put_name(x, o, "name", name);
	put_opt_time(x, o, "startTime");
	put_cpu(x, o, "cpu");
	put_memory(x, o, "memory");
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
static int map_pod(const struct jtok_doc *d, int pod, const struct kubelet_scrape *s,
		   const struct kubelet_emit *e)
{
	struct enc x = { .d = d, .c = e->counts };
	int ref = kubelet_json_object(d, pod, "podRef", e->counts), proc;
	char uid[KUBELET_UID_LEN + 3];
	struct pod_ctx pc = { .pods = s->pods, .uid = uid };
	bool truncated = false;
	size_t len, nvol, ncont;

	/* One byte more than a UID may have, so that a longer one is refused, not cut. */
	if (!kubelet_json_string(d, ref, "uid", KUBELET_UID_LEN + 1, uid, &len, NULL) ||
	    !kubelet_uid_valid(uid, len)) {
		count(e->counts, KUBELET_SKIP_BAD_UID);
		return 0;
	}
	avro_buf_init(&x.b, e->buf, e->cap);
	put_opt_name(&x, ref, "namespace");
	put_opt_name(&x, ref, "name");
	avro_put_union(&x.b, 1); /* pod_stats */
	put_opt_time(&x, pod, "startTime");
	put_cpu(&x, pod, "cpu");
	put_memory(&x, pod, "memory");
	put_network(&x, pod, &truncated);
	put_opt_fs(&x, pod, "ephemeral-storage");
	proc = kubelet_json_object(d, pod, "process_stats", e->counts);
	put_opt_long(&x, proc, "process_count");
	nvol = object_items(&x, pod, "volume", KUBELET_VOLUMES_MAX, &truncated);
	put_array(&x, pod, "volume", nvol, put_volume, NULL);
	ncont = object_items(&x, pod, "containers", KUBELET_POD_CONTAINERS_MAX, &truncated);
	put_array(&x, pod, "containers", ncont, put_container, &pc);
	avro_put_bool(&x.b, truncated);
	put_nulls(&x.b, 6); /* node_stats, pod_status, container, pod_phase, pod_ready, failure */
	return emit(e, &x.b, KUBELET_POD_STATS, uid, NULL, uid, len);
}

static int map_node(const struct jtok_doc *d, int node, size_t npods,
		    const struct kubelet_scrape *s, const struct kubelet_emit *e)
{
	struct enc x = { .d = d, .c = e->counts };
	int runtime = kubelet_json_object(d, node, "runtime", e->counts);
	int rlimit = kubelet_json_object(d, node, "rlimit", e->counts);
	char key[HANDOFF_KEY_MAX];
	bool truncated = false;
	size_t n;
	int key_len;

	avro_buf_init(&x.b, e->buf, e->cap);
	put_nulls(&x.b, 3); /* namespace, pod_name, pod_stats */
	avro_put_union(&x.b, 1); /* node_stats */
	put_opt_name(&x, node, "nodeName");
	put_opt_time(&x, node, "startTime");
	put_cpu(&x, node, "cpu");
	put_memory(&x, node, "memory");
	put_network(&x, node, &truncated);
	put_opt_fs(&x, node, "fs");
	put_opt_fs(&x, runtime, "imageFs");
	put_opt_fs(&x, runtime, "containerFs");
	put_opt_long(&x, rlimit, "maxpid");
	put_opt_long(&x, rlimit, "curproc");
	n = object_items(&x, node, "systemContainers", KUBELET_SYSTEM_CONTAINERS_MAX, &truncated);
	put_array(&x, node, "systemContainers", n, put_system_container, NULL);
	avro_put_long(&x.b, npods > INT32_MAX ? INT32_MAX : (int64_t)npods);
	avro_put_long(&x.b, s->duration_ms);
	avro_put_long(&x.b, s->missed_intervals);
	avro_put_bool(&x.b, truncated);
	put_nulls(&x.b, 5); /* pod_status, container, pod_phase, pod_ready, scrape_failed */
	key_len = snprintf(key, sizeof(key), "%s/node", e->node);
	if (key_len < 0 || (size_t)key_len >= sizeof(key))
		return -ENAMETOOLONG;
	return emit(e, &x.b, KUBELET_NODE_STATS, NULL, NULL, key, (size_t)key_len);
}

int kubelet_map_summary(const char *body, size_t len, const struct kubelet_scrape *s,
			const struct kubelet_emit *e)
{
	struct jtok_doc d;
	int node, pods, n = 0, err;
	size_t npods = 0;

	err = kubelet_json_parse(&d, body, len);
	if (err)
		return err;
	node = kubelet_json_member(&d, 0, "node");
	pods = kubelet_json_member(&d, 0, "pods");
	if (!jtok_is(&d, 0, JTOK_OBJECT) || !jtok_is(&d, node, JTOK_OBJECT)) {
		err = -EINVAL;
		goto out;
	}
	if (pods >= 0 && !jtok_is(&d, pods, JTOK_ARRAY)) {
		count(e->counts, KUBELET_SKIP_WRONG_TYPE);
		pods = -1;
	}
	for (int pod = pods < 0 ? -1 : jtok_first(&d, pods); pod >= 0;
	     pod = jtok_next_element(&d, pods, pod)) {
		npods++;
		if (!jtok_is(&d, pod, JTOK_OBJECT)) {
			count(e->counts, KUBELET_SKIP_MALFORMED);
			continue;
		}
		err = map_pod(&d, pod, s, e);
		if (err < 0)
			goto out;
		n += err;
	}
	err = map_node(&d, node, npods, s, e);
	if (err >= 0)
		err += n;
out:
	jtok_free(&d);
	return err;
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
