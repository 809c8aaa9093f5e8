/*
 * The kubelet's /pods (a v1 PodList of the node's pods, as the kubelet holds them) → a compact
 * table; the table against the previous poll's state → state-change records; that state to and
 * from the text a checkpoint keeps. Pure: no I/O, no globals.
 *
 * Only status fields are read: never env, command lines or annotations (the spec and metadata
 * carry them; a PodList holds them all, and none of them reaches a record, a log or a metric).
 * A container's termination message is not read either: it can be the tail of its logs.
 */
#include "kubelet_collector.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATE_MAGIC "tapio-kubelet-state 1"

/* Parsing /pods */

/* Copies s[0..len) into the string pool; *off 0 for an absent or empty string. */
static int intern(struct kubelet_pods *p, const char *s, size_t len, uint32_t *off)
{
	size_t need = len + 1;

	*off = 0;
	if (!s || !len)
		return 0;
	if (p->strings_cap - p->strings_len < need) {
		size_t cap = p->strings_cap ? p->strings_cap : 4096;
		char *grown;

		while (cap - p->strings_len < need)
			cap *= 2;
		if (cap > UINT32_MAX)
			return -E2BIG;
		grown = realloc(p->strings, cap);
		if (!grown)
			return -ENOMEM;
		p->strings = grown;
		p->strings_cap = cap;
	}
	memcpy(p->strings + p->strings_len, s, len);
	p->strings[p->strings_len + len] = '\0';
	*off = (uint32_t)p->strings_len;
	p->strings_len += need;
	return 0;
}

/* Everything a /pods body is read with. */
struct reader {
	const struct jtok_doc *d;
	struct kubelet_pods *p;
	struct kubelet_counts *c;
	size_t cap; /* containers allocated in p->containers */
};

static int intern_field(struct reader *r, int obj, const char *key, size_t max, uint32_t *off)
{
	char buf[KUBELET_MESSAGE_LEN + 2];
	size_t len;
	const char *s = kubelet_json_string(r->d, obj, key, max, buf, &len, r->c);

	return intern(r->p, s, len, off);
}

/* A JSON boolean as 1 / 0, -1 when absent (or not a boolean: counted). */
static int8_t json_tri(struct reader *r, int obj, const char *key)
{
	int v = kubelet_json_member(r->d, obj, key);

	if (v == -1)
		return -1;
	if (!jtok_is(r->d, v, JTOK_TRUE) && !jtok_is(r->d, v, JTOK_FALSE)) {
		r->c->n[KUBELET_SKIP_WRONG_TYPE]++;
		return -1;
	}
	return jtok_is(r->d, v, JTOK_TRUE);
}

/* A container id without its runtime prefix ("containerd://<id>") into the pool. */
static int intern_id(struct reader *r, int obj, const char *key, uint32_t *off)
{
	char buf[KUBELET_ID_LEN + 33], id[KUBELET_ID_LEN + 1];
	size_t len;
	const char *s = kubelet_json_string(r->d, obj, key, KUBELET_ID_LEN + 32, buf, &len, r->c);

	*off = 0;
	if (s && kubelet_strip_runtime(s, id, sizeof(id)))
		return intern(r->p, id, strlen(id), off);
	if (s && len)
		r->c->n[KUBELET_SKIP_OUT_OF_RANGE]++;
	return 0;
}

static int parse_terminated(struct reader *r, int t, struct kubelet_terminated *out)
{
	int64_t v;
	int err;

	memset(out, 0, sizeof(*out));
	if (t < 0)
		return 0;
	out->set = true;
	if ((out->has_exit_code = kubelet_json_long(r->d, t, "exitCode", INT32_MIN, INT32_MAX, &v,
						    r->c)))
		out->exit_code = (int32_t)v;
	if ((out->has_signal = kubelet_json_long(r->d, t, "signal", 0, INT32_MAX, &v, r->c)))
		out->signal = (int32_t)v;
	out->has_started = kubelet_json_time(r->d, t, "startedAt", &out->started_us, r->c);
	out->has_finished = kubelet_json_time(r->d, t, "finishedAt", &out->finished_us, r->c);
	err = intern_field(r, t, "reason", KUBELET_REASON_LEN, &out->reason);
	return err ? err : intern_id(r, t, "containerID", &out->container_id);
}

/* One entry of containerStatuses or initContainerStatuses. 1 when kept, 0 when skipped. */
static int parse_container(struct reader *r, int st, bool init, struct kubelet_container *out)
{
	int state, waiting, running, terminated, last;
	char name[KUBELET_NAME_LEN + 2];
	size_t len;
	int64_t v;
	int err;

	memset(out, 0, sizeof(*out));
	if (!kubelet_json_string(r->d, st, "name", KUBELET_NAME_LEN, name, &len, r->c) || !len) {
		r->c->n[KUBELET_SKIP_MALFORMED]++;
		return 0;
	}
	out->init = init;
	err = intern(r->p, name, len, &out->name);
	if (!err)
		err = intern_field(r, st, "image", KUBELET_IMAGE_LEN, &out->image);
	if (!err)
		err = intern_id(r, st, "containerID", &out->container_id);
	if (err)
		return err;
	if ((out->has_restart_count = kubelet_json_long(r->d, st, "restartCount", 0, INT32_MAX, &v,
							r->c)))
		out->restart_count = (int32_t)v;
	out->ready = json_tri(r, st, "ready");
	out->started = json_tri(r, st, "started");

	/* A ContainerState has one of its three members set. */
	state = kubelet_json_object(r->d, st, "state", r->c);
	waiting = kubelet_json_object(r->d, state, "waiting", r->c);
	running = kubelet_json_object(r->d, state, "running", r->c);
	terminated = kubelet_json_object(r->d, state, "terminated", r->c);
	if (waiting >= 0) {
		out->phase = KUBELET_CPHASE_WAITING;
		err = intern_field(r, waiting, "reason", KUBELET_REASON_LEN, &out->waiting_reason);
		if (!err)
			err = intern_field(r, waiting, "message", KUBELET_MESSAGE_LEN,
					   &out->waiting_message);
	} else if (running >= 0) {
		out->phase = KUBELET_CPHASE_RUNNING;
		out->has_running_since = kubelet_json_time(r->d, running, "startedAt",
							   &out->running_since_us, r->c);
	} else if (terminated >= 0) {
		out->phase = KUBELET_CPHASE_TERMINATED;
		err = parse_terminated(r, terminated, &out->terminated);
	}
	if (err)
		return err;
	last = kubelet_json_object(r->d, st, "lastState", r->c);
	err = parse_terminated(r, kubelet_json_object(r->d, last, "terminated", r->c),
			       &out->last_terminated);
	return err ? err : 1;
}

/* Room for one more container in the pool. */
static int reserve_container(struct reader *r)
{
	struct kubelet_container *grown;
	size_t n;

	if (r->p->ncontainers < r->cap)
		return 0;
	n = r->cap ? r->cap * 2 : 256;
	grown = realloc(r->p->containers, n * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	r->p->containers = grown;
	r->cap = n;
	return 0;
}

static int parse_statuses(struct reader *r, struct kubelet_pod *pod, int status,
			  const char *key, bool init)
{
	struct kubelet_pods *p = r->p;
	int arr = kubelet_json_member(r->d, status, key);
	int kept;

	if (arr < 0)
		return 0;
	if (!jtok_is(r->d, arr, JTOK_ARRAY)) {
		r->c->n[KUBELET_SKIP_WRONG_TYPE]++;
		return 0;
	}
	for (int st = jtok_first(r->d, arr); st >= 0; st = jtok_next_element(r->d, arr, st)) {
		if (!jtok_is(r->d, st, JTOK_OBJECT)) {
			r->c->n[KUBELET_SKIP_MALFORMED]++;
			continue;
		}
		if (pod->count == KUBELET_POD_CONTAINERS_MAX ||
		    p->ncontainers == KUBELET_CONTAINERS_MAX) {
			r->c->n[KUBELET_SKIP_TOO_MANY]++;
			continue;
		}
		kept = reserve_container(r);
		if (!kept)
			kept = parse_container(r, st, init, &p->containers[p->ncontainers]);
		if (kept < 0)
			return kept;
		/* Names are unique in a pod (init containers included): they say which is which
		 * from one poll to the next. */
		for (uint32_t j = 0; kept && j < pod->count; j++)
			if (!strcmp(kubelet_str(p, p->containers[pod->first + j].name),
				    kubelet_str(p, p->containers[p->ncontainers].name))) {
				r->c->n[KUBELET_SKIP_DUPLICATE]++;
				kept = 0;
			}
		p->ncontainers += (size_t)kept;
		pod->count += (uint32_t)kept;
	}
	return 0;
}

/* A phase as Kubernetes has them (Pending, Running, ...): letters only. */
static bool phase_valid(const char *s, size_t len)
{
	if (!len || len > KUBELET_PHASE_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
			return false;
	return true;
}

/* The Ready condition among status.conditions. */
static int parse_ready(struct reader *r, struct kubelet_pod *pod, int status)
{
	int conds = kubelet_json_member(r->d, status, "conditions");
	size_t seen = 0;
	int err;

	pod->ready = -1;
	if (conds >= 0 && !jtok_is(r->d, conds, JTOK_ARRAY)) {
		r->c->n[KUBELET_SKIP_WRONG_TYPE]++;
		conds = -1;
	}
	for (int cond = conds < 0 ? -1 : jtok_first(r->d, conds); cond >= 0;
	     cond = jtok_next_element(r->d, conds, cond)) {
		int type = kubelet_json_member(r->d, cond, "type");
		int status_v = kubelet_json_member(r->d, cond, "status");

		if (seen++ == KUBELET_CONDITIONS_MAX) {
			r->c->n[KUBELET_SKIP_TOO_MANY]++;
			break;
		}
		if (type < 0 || !jtok_eq(r->d, type, "Ready", 5))
			continue;
		if (status_v >= 0)
			pod->ready = jtok_eq(r->d, status_v, "True", 4) ? 1 :
				     jtok_eq(r->d, status_v, "False", 5) ? 0 : -1;
		err = intern_field(r, cond, "reason", KUBELET_REASON_LEN, &pod->ready_reason);
		if (!err)
			err = intern_field(r, cond, "message", KUBELET_MESSAGE_LEN,
					   &pod->ready_message);
		return err;
	}
	return 0;
}

/* One item of the PodList. 1 when kept, 0 when skipped. */
static int parse_pod(struct reader *r, int item)
{
	struct kubelet_pods *p = r->p;
	struct kubelet_pod *pod = &p->pods[p->npods];
	int meta = kubelet_json_object(r->d, item, "metadata", r->c);
	int status = kubelet_json_object(r->d, item, "status", r->c);
	char buf[KUBELET_UID_LEN + 3];
	size_t len;
	int err;

	memset(pod, 0, sizeof(*pod));
	/* One byte over the limit, so that a longer UID is refused rather than cut. */
	if (!kubelet_json_string(r->d, meta, "uid", KUBELET_UID_LEN + 1, buf, &len, NULL) ||
	    !kubelet_uid_valid(buf, len)) {
		r->c->n[KUBELET_SKIP_BAD_UID]++;
		return 0;
	}
	pod->index = (uint32_t)p->npods;
	pod->first = (uint32_t)p->ncontainers;
	err = intern(p, buf, len, &pod->uid);
	if (!err)
		err = intern_field(r, meta, "name", KUBELET_NAME_LEN, &pod->name);
	if (!err)
		err = intern_field(r, meta, "namespace", KUBELET_NAME_LEN, &pod->ns);
	if (err)
		return err;
	if (kubelet_json_string(r->d, status, "phase", KUBELET_PHASE_LEN + 1, buf, &len, NULL)) {
		if (phase_valid(buf, len))
			err = intern(p, buf, len, &pod->phase);
		else
			r->c->n[KUBELET_SKIP_WRONG_TYPE]++;
	}
	if (!err)
		err = intern_field(r, status, "reason", KUBELET_REASON_LEN, &pod->reason);
	if (!err)
		err = intern_field(r, status, "message", KUBELET_MESSAGE_LEN, &pod->message);
	if (!err)
		err = intern_field(r, status, "qosClass", KUBELET_REASON_LEN, &pod->qos_class);
	if (err)
		return err;
	pod->has_start_time = kubelet_json_time(r->d, status, "startTime", &pod->start_time_us,
						r->c);
	err = parse_ready(r, pod, status);
	if (!err)
		err = parse_statuses(r, pod, status, "initContainerStatuses", true);
	if (!err)
		err = parse_statuses(r, pod, status, "containerStatuses", false);
	return err ? err : 1;
}

static const struct kubelet_pods *sort_table; /* qsort has no context argument */

static int cmp_pod(const void *a, const void *b)
{
	const struct kubelet_pod *x = a, *y = b;
	int r = strcmp(sort_table->strings + x->uid, sort_table->strings + y->uid);

	return r ? r : (x->index > y->index) - (x->index < y->index);
}

int kubelet_pods_parse(const char *body, size_t len, struct kubelet_pods *out,
		       struct kubelet_counts *counts)
{
	struct kubelet_pods p = { 0 };
	struct reader r = { .p = &p, .c = counts };
	struct jtok_doc d;
	int items, err;
	size_t n = 0, i, kept;

	memset(out, 0, sizeof(*out));
	err = kubelet_json_parse(&d, body, len);
	if (err)
		return err;
	r.d = &d;
	items = kubelet_json_member(&d, 0, "items");
	err = -EINVAL;
	if (!jtok_is(&d, 0, JTOK_OBJECT) || (items >= 0 && !jtok_is(&d, items, JTOK_ARRAY)))
		goto fail;
	for (int e = items < 0 ? -1 : jtok_first(&d, items); e >= 0;
	     e = jtok_next_element(&d, items, e))
		n++;
	if (n > KUBELET_PODS_MAX) {
		counts->n[KUBELET_SKIP_TOO_MANY] += n - KUBELET_PODS_MAX;
		n = KUBELET_PODS_MAX;
	}
	err = -ENOMEM;
	p.pods = calloc(n ? n : 1, sizeof(*p.pods));
	/* Offset 0 is the empty string every absent field points at. */
	p.strings = malloc(4096);
	if (!p.pods || !p.strings)
		goto fail;
	p.strings[0] = '\0';
	p.strings_len = 1;
	p.strings_cap = 4096;
	i = 0;
	for (int item = n ? jtok_first(&d, items) : -1; item >= 0 && i < n;
	     item = jtok_next_element(&d, items, item), i++) {
		if (!jtok_is(&d, item, JTOK_OBJECT)) {
			counts->n[KUBELET_SKIP_MALFORMED]++;
			continue;
		}
		err = parse_pod(&r, item);
		if (err < 0)
			goto fail;
		p.npods += (size_t)err;
	}
	jtok_free(&d);
	/* Sorted by UID for lookups; of two pods with one UID, the first in the body stays. */
	sort_table = &p;
	qsort(p.pods, p.npods, sizeof(*p.pods), cmp_pod);
	sort_table = NULL;
	for (i = 0, kept = 0; i < p.npods; i++) {
		if (kept && strcmp(p.strings + p.pods[kept - 1].uid, p.strings + p.pods[i].uid) == 0) {
			counts->n[KUBELET_SKIP_DUPLICATE]++;
			continue;
		}
		p.pods[kept++] = p.pods[i];
	}
	p.npods = kept;
	*out = p;
	return 0;
fail:
	jtok_free(&d);
	kubelet_pods_free(&p);
	return err;
}

void kubelet_pods_free(struct kubelet_pods *p)
{
	free(p->pods);
	free(p->containers);
	free(p->strings);
	memset(p, 0, sizeof(*p));
}

const struct kubelet_pod *kubelet_pods_find(const struct kubelet_pods *p, const char *uid)
{
	size_t lo = 0, hi = p->npods;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(uid, kubelet_str(p, p->pods[mid].uid));

		if (!r)
			return &p->pods[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const char *kubelet_container_id(const struct kubelet_pods *p, const char *uid, const char *name)
{
	const struct kubelet_pod *pod = kubelet_pods_find(p, uid);

	for (uint32_t i = 0; pod && i < pod->count; i++) {
		const struct kubelet_container *c = &p->containers[pod->first + i];

		if (strcmp(kubelet_str(p, c->name), name) == 0)
			return c->container_id ? kubelet_str(p, c->container_id) : NULL;
	}
	return NULL;
}

/* Records */

static void put_nulls(struct avro_buf *b, int n)
{
	for (int i = 0; i < n; i++)
		avro_put_union(b, 0);
}

static void put_opt_str(struct avro_buf *b, const struct kubelet_pods *p, uint32_t off)
{
	avro_put_optional_string(b, off ? kubelet_str(p, off) : NULL, KUBELET_MESSAGE_LEN);
}

static void put_opt_long(struct avro_buf *b, bool set, int64_t v)
{
	avro_put_union(b, set);
	if (set)
		avro_put_long(b, v);
}

static void put_opt_bool(struct avro_buf *b, int8_t v)
{
	avro_put_union(b, v >= 0);
	if (v >= 0)
		avro_put_bool(b, v);
}

static void put_terminated(struct avro_buf *b, const struct kubelet_pods *p,
			   const struct kubelet_terminated *t)
{
	avro_put_union(b, t->set);
	if (!t->set)
		return;
	put_opt_long(b, t->has_exit_code, t->exit_code);
	put_opt_long(b, t->has_signal, t->signal);
	put_opt_str(b, p, t->reason);
	put_opt_long(b, t->has_started, t->started_us);
	put_opt_long(b, t->has_finished, t->finished_us);
	put_opt_str(b, p, t->container_id);
}

/* ContainerState */
static void put_container(struct avro_buf *b, const struct kubelet_pods *p,
			  const struct kubelet_container *c)
{
	avro_put_string(b, kubelet_str(p, c->name), KUBELET_NAME_LEN);
	avro_put_bool(b, c->init);
	put_opt_str(b, p, c->image);
	put_opt_long(b, c->has_restart_count, c->restart_count);
	put_opt_bool(b, c->ready);
	put_opt_bool(b, c->started);
	avro_put_long(b, c->phase);
	avro_put_union(b, c->phase == KUBELET_CPHASE_WAITING);
	if (c->phase == KUBELET_CPHASE_WAITING) {
		put_opt_str(b, p, c->waiting_reason);
		put_opt_str(b, p, c->waiting_message);
	}
	put_opt_long(b, c->phase == KUBELET_CPHASE_RUNNING && c->has_running_since,
		     c->running_since_us);
	put_terminated(b, p, c->phase == KUBELET_CPHASE_TERMINATED ?
				     &c->terminated : &(struct kubelet_terminated){ 0 });
	put_terminated(b, p, &c->last_terminated);
}

/* Starts a pod record: namespace, pod_name, then `before` nulls and the union branch of the
 * nested record at that place; put_tail() ends it. */
static void put_head(struct avro_buf *b, const struct kubelet_emit *e,
		     const struct kubelet_pods *p, const struct kubelet_pod *pod, int before)
{
	avro_buf_init(b, e->buf, e->cap);
	put_opt_str(b, p, pod->ns);
	put_opt_str(b, p, pod->name);
	put_nulls(b, before);
	avro_put_union(b, 1);
}

/* The nested records of a pod record: pod_stats node_stats pod_status container pod_phase
 * pod_ready scrape_failed. */
enum slot { SLOT_POD_STATUS = 2, SLOT_CONTAINER, SLOT_POD_PHASE, SLOT_POD_READY, SLOTS = 7 };

/* Ends the record (the nulls after `slot`) and hands it to e->fn, or counts it as too large. */
static int emit(const struct kubelet_emit *e, struct avro_buf *b, int kind, int slot,
		const char *uid, const char *container_id)
{
	struct handoff_meta meta = { .kind = kind, .event_time_us = e->observed_us };

	put_nulls(b, SLOTS - 1 - slot);
	if (b->overflow) {
		e->counts->n[KUBELET_SKIP_TOO_LARGE]++;
		return 0;
	}
	snprintf(meta.pod_uid, sizeof(meta.pod_uid), "%s", uid);
	snprintf(meta.container_id, sizeof(meta.container_id), "%s",
		 container_id ? container_id : "");
	return e->fn(e->ctx, &meta, uid, strlen(uid), b->data, b->len);
}

static int emit_snapshot(const struct kubelet_emit *e, const struct kubelet_pods *p,
			 const struct kubelet_pod *pod, bool new_pod)
{
	struct avro_buf b;

	put_head(&b, e, p, pod, SLOT_POD_STATUS);
	put_opt_str(&b, p, pod->phase);
	put_opt_str(&b, p, pod->reason);
	put_opt_bool(&b, pod->ready);
	put_opt_str(&b, p, pod->ready_reason);
	put_opt_str(&b, p, pod->qos_class);
	put_opt_long(&b, pod->has_start_time, pod->start_time_us);
	avro_put_bool(&b, new_pod);
	if (pod->count) {
		avro_put_long(&b, pod->count);
		for (uint32_t i = 0; i < pod->count; i++)
			put_container(&b, p, &p->containers[pod->first + i]);
	}
	avro_put_long(&b, 0);
	return emit(e, &b, KUBELET_POD_STATUS_SNAPSHOT, SLOT_POD_STATUS, kubelet_str(p, pod->uid),
		    NULL);
}

static int emit_phase(const struct kubelet_emit *e, const struct kubelet_pods *p,
		      const struct kubelet_pod *pod, const char *previous)
{
	struct avro_buf b;

	put_head(&b, e, p, pod, SLOT_POD_PHASE);
	put_opt_str(&b, p, pod->phase);
	avro_put_optional_string(&b, previous, KUBELET_PHASE_LEN);
	put_opt_str(&b, p, pod->reason);
	put_opt_str(&b, p, pod->message);
	return emit(e, &b, KUBELET_POD_PHASE, SLOT_POD_PHASE, kubelet_str(p, pod->uid), NULL);
}

static int emit_ready(const struct kubelet_emit *e, const struct kubelet_pods *p,
		      const struct kubelet_pod *pod, int8_t previous)
{
	struct avro_buf b;

	put_head(&b, e, p, pod, SLOT_POD_READY);
	put_opt_bool(&b, pod->ready);
	put_opt_bool(&b, previous);
	put_opt_str(&b, p, pod->ready_reason);
	put_opt_str(&b, p, pod->ready_message);
	return emit(e, &b, KUBELET_POD_READY, SLOT_POD_READY, kubelet_str(p, pod->uid), NULL);
}

static int emit_container(const struct kubelet_emit *e, const struct kubelet_pods *p,
			  const struct kubelet_pod *pod, const struct kubelet_container *c, int kind)
{
	uint32_t id = c->container_id;
	struct avro_buf b;

	if (!id && c->phase == KUBELET_CPHASE_TERMINATED)
		id = c->terminated.container_id;
	put_head(&b, e, p, pod, SLOT_CONTAINER);
	put_container(&b, p, c);
	return emit(e, &b, kind, SLOT_CONTAINER, kubelet_str(p, pod->uid),
		    id ? kubelet_str(p, id) : NULL);
}

static int emit_removed(const struct kubelet_emit *e, const char *uid)
{
	struct avro_buf b;

	avro_buf_init(&b, e->buf, e->cap);
	put_nulls(&b, 2 + SLOTS);
	return emit(e, &b, KUBELET_POD_REMOVED, SLOTS - 1, uid, NULL);
}

/* Diff */

static uint64_t hash_str(const char *s)
{
	return kubelet_hash(KUBELET_HASH_INIT, s, strlen(s));
}

/* What tells one termination from another: the dead container's id, else its times. */
static uint64_t term_hash(const struct kubelet_pods *p, const struct kubelet_terminated *t)
{
	uint64_t h = KUBELET_HASH_INIT;

	if (!t->set)
		return 0;
	if (t->container_id)
		return kubelet_hash(kubelet_hash(h, "c", 1), kubelet_str(p, t->container_id),
				    strlen(kubelet_str(p, t->container_id)));
	h = kubelet_hash(h, "t", 1);
	h = kubelet_hash(h, &t->finished_us, sizeof(t->finished_us));
	h = kubelet_hash(h, &t->started_us, sizeof(t->started_us));
	h = kubelet_hash(h, &t->exit_code, sizeof(t->exit_code));
	return kubelet_hash(h, kubelet_str(p, t->reason), strlen(kubelet_str(p, t->reason)));
}

/* The state a container leaves for the next poll; term_hash is set by the caller. */
static struct kubelet_cstate cstate_of(const struct kubelet_pods *p,
				       const struct kubelet_container *c)
{
	return (struct kubelet_cstate){
		.name_hash = hash_str(kubelet_str(p, c->name)),
		.id_hash = c->container_id ? hash_str(kubelet_str(p, c->container_id)) : 0,
		.waiting_hash = c->phase == KUBELET_CPHASE_WAITING ?
					hash_str(kubelet_str(p, c->waiting_reason)) : 0,
		.restart_count = c->has_restart_count ? c->restart_count : -1,
		.phase = (uint8_t)c->phase,
		.init = c->init,
	};
}

static const struct kubelet_pstate *find_state(const struct kubelet_state *s, const char *uid)
{
	size_t lo = 0, hi = s ? s->npods : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(uid, s->pods[mid].uid);

		if (!r)
			return &s->pods[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* The records one container's change makes, in the order things happened: a termination seen
 * only in its last state, the restart, then what it is doing now. *next is its new state. */
static int diff_container(const struct kubelet_emit *e, const struct kubelet_pods *p,
			  const struct kubelet_pod *pod, const struct kubelet_container *c,
			  const struct kubelet_cstate *old, struct kubelet_cstate *next)
{
	uint64_t published = old ? old->term_hash : 0, t;
	bool restarted = old && old->restart_count >= 0 && c->has_restart_count &&
			 c->restart_count > old->restart_count;
	/* When the termination it is in now was announced, its last state is older news. */
	bool current_known = c->phase == KUBELET_CPHASE_TERMINATED &&
			     term_hash(p, &c->terminated) == published;
	int err = 0;

	*next = cstate_of(p, c);
	if (c->last_terminated.set && !current_known &&
	    (t = term_hash(p, &c->last_terminated)) != published) {
		/* It ended and runs (or waits) again since the last poll: the record shows it as it
		 * was when it ended. Unknown containers get no history, only their state below. */
		if (old) {
			struct kubelet_container then = *c;

			then.phase = KUBELET_CPHASE_TERMINATED;
			then.terminated = c->last_terminated;
			then.last_terminated.set = false;
			then.container_id = c->last_terminated.container_id;
			then.has_restart_count = old->restart_count >= 0;
			then.restart_count = old->restart_count;
			then.ready = 0;
			then.started = 0;
			err = emit_container(e, p, pod, &then, KUBELET_CONTAINER_TERMINATED);
		}
		published = t;
	}
	if (!err && restarted)
		err = emit_container(e, p, pod, c, KUBELET_CONTAINER_RESTARTED);
	if (err)
		return err;
	switch (c->phase) {
	case KUBELET_CPHASE_TERMINATED:
		t = term_hash(p, &c->terminated);
		if (t != published) {
			err = emit_container(e, p, pod, c, KUBELET_CONTAINER_TERMINATED);
			published = t;
		}
		break;
	case KUBELET_CPHASE_WAITING:
		if (!old || old->phase != KUBELET_CPHASE_WAITING ||
		    old->waiting_hash != next->waiting_hash)
			err = emit_container(e, p, pod, c, KUBELET_CONTAINER_WAITING);
		break;
	case KUBELET_CPHASE_RUNNING:
		if (!restarted && (!old || old->phase != KUBELET_CPHASE_RUNNING ||
				   old->id_hash != next->id_hash))
			err = emit_container(e, p, pod, c, KUBELET_CONTAINER_RUNNING);
		break;
	default:
		break;
	}
	next->term_hash = published;
	return err;
}

static int diff_pod(const struct kubelet_emit *e, const struct kubelet_state *old,
		    const struct kubelet_pods *p, const struct kubelet_pod *pod,
		    struct kubelet_state *next)
{
	const struct kubelet_pstate *op = find_state(old, kubelet_str(p, pod->uid));
	struct kubelet_pstate *np = &next->pods[next->npods];
	int err = 0;

	snprintf(np->uid, sizeof(np->uid), "%s", kubelet_str(p, pod->uid));
	snprintf(np->phase, sizeof(np->phase), "%s", kubelet_str(p, pod->phase));
	np->ready = pod->ready;
	np->first = (uint32_t)next->ncontainers;
	np->count = pod->count;
	if (!op) {
		/* The baseline changes apply to: the last termination it shows is not news. */
		err = emit_snapshot(e, p, pod, old != NULL);
		for (uint32_t i = 0; i < pod->count; i++) {
			const struct kubelet_container *c = &p->containers[pod->first + i];
			struct kubelet_cstate *cs = &next->containers[np->first + i];

			*cs = cstate_of(p, c);
			cs->term_hash = term_hash(p, c->phase == KUBELET_CPHASE_TERMINATED ?
							     &c->terminated : &c->last_terminated);
		}
	} else {
		if (strcmp(op->phase, np->phase) != 0)
			err = emit_phase(e, p, pod, op->phase[0] ? op->phase : NULL);
		if (!err && op->ready != np->ready)
			err = emit_ready(e, p, pod, op->ready);
		for (uint32_t i = 0; !err && i < pod->count; i++) {
			const struct kubelet_container *c = &p->containers[pod->first + i];
			struct kubelet_cstate *cs = &next->containers[np->first + i];
			const struct kubelet_cstate *oc = NULL;
			uint64_t name = hash_str(kubelet_str(p, c->name));

			for (uint32_t j = 0; !oc && j < op->count; j++) {
				const struct kubelet_cstate *x = &old->containers[op->first + j];

				if (x->name_hash == name && x->init == c->init)
					oc = x;
			}
			err = diff_container(e, p, pod, c, oc, cs);
		}
	}
	next->npods++;
	next->ncontainers += pod->count;
	return err;
}

int kubelet_pods_diff(const struct kubelet_state *old, const struct kubelet_pods *now,
		      const struct kubelet_emit *e, struct kubelet_state *next)
{
	int err = -ENOMEM;

	memset(next, 0, sizeof(*next));
	next->pods = calloc(now->npods ? now->npods : 1, sizeof(*next->pods));
	next->containers = calloc(now->ncontainers ? now->ncontainers : 1,
				  sizeof(*next->containers));
	if (!next->pods || !next->containers)
		goto fail;
	/* now->pods is sorted by UID, so next->pods is too. */
	for (size_t i = 0; i < now->npods; i++) {
		err = diff_pod(e, old, now, &now->pods[i], next);
		if (err < 0)
			goto fail;
	}
	for (size_t i = 0; old && i < old->npods; i++) {
		if (kubelet_pods_find(now, old->pods[i].uid))
			continue;
		err = emit_removed(e, old->pods[i].uid);
		if (err < 0)
			goto fail;
	}
	return 0;
fail:
	kubelet_state_free(next);
	return err;
}

/* State */

void kubelet_state_free(struct kubelet_state *s)
{
	free(s->pods);
	free(s->containers);
	memset(s, 0, sizeof(*s));
}

int kubelet_state_copy(const struct kubelet_state *s, struct kubelet_state *out)
{
	memset(out, 0, sizeof(*out));
	out->pods = malloc((s->npods ? s->npods : 1) * sizeof(*out->pods));
	out->containers = malloc((s->ncontainers ? s->ncontainers : 1) * sizeof(*out->containers));
	if (!out->pods || !out->containers) {
		kubelet_state_free(out);
		return -ENOMEM;
	}
	if (s->npods)
		memcpy(out->pods, s->pods, s->npods * sizeof(*s->pods));
	if (s->ncontainers)
		memcpy(out->containers, s->containers, s->ncontainers * sizeof(*s->containers));
	out->npods = s->npods;
	out->ncontainers = s->ncontainers;
	return 0;
}

/*
 * The text of a state:
 *   tapio-kubelet-state 1 <pods> <containers>
 *   p <uid> <ready -1|0|1> <containers> <phase, or - when none>       one per pod, by UID
 *   c <init 0|1> <phase 0..3> <restart count, -1 unknown> <name hash> <id hash> <waiting hash>
 *     <termination hash>                                              one per container
 * Hashes are 16 hex digits. A UID and a phase have no blanks (checked when parsed from /pods).
 */
#define POD_LINE_MAX (4 + KUBELET_UID_LEN + 24 + KUBELET_PHASE_LEN)
#define CONTAINER_LINE_MAX (32 + 4 * 17)

char *kubelet_state_serialize(const struct kubelet_state *s, size_t *len)
{
	size_t cap = 64 + s->npods * POD_LINE_MAX + s->ncontainers * CONTAINER_LINE_MAX, used;
	char *buf = malloc(cap);

	*len = 0;
	if (!buf)
		return NULL;
	used = (size_t)snprintf(buf, cap, STATE_MAGIC " %zu %zu\n", s->npods, s->ncontainers);
	for (size_t i = 0; i < s->npods; i++) {
		const struct kubelet_pstate *ps = &s->pods[i];

		used += (size_t)snprintf(buf + used, cap - used, "p %s %d %" PRIu32 " %s\n", ps->uid,
					 ps->ready, ps->count, ps->phase[0] ? ps->phase : "-");
		for (uint32_t j = 0; j < ps->count; j++) {
			const struct kubelet_cstate *c = &s->containers[ps->first + j];

			used += (size_t)snprintf(buf + used, cap - used,
						 "c %d %u %" PRId32 " %016" PRIx64 " %016" PRIx64
						 " %016" PRIx64 " %016" PRIx64 "\n",
						 c->init, c->phase, c->restart_count, c->name_hash,
						 c->id_hash, c->waiting_hash, c->term_hash);
		}
	}
	*len = used;
	return buf;
}

/* The next line of text[*pos..len) into line (NUL-terminated, without its '\n'). False at the
 * end, or when the line is longer than size - 1 or holds a NUL. */
static bool next_line(const char *text, size_t len, size_t *pos, char *line, size_t size)
{
	const char *start = text + *pos, *nl;
	size_t n;

	if (*pos >= len)
		return false;
	nl = memchr(start, '\n', len - *pos);
	if (!nl)
		return false; /* every line ends with one */
	n = (size_t)(nl - start);
	if (n >= size || memchr(start, '\0', n))
		return false;
	memcpy(line, start, n);
	line[n] = '\0';
	*pos += n + 1;
	return true;
}

/* The next blank-separated token of the line at *s (cut there with a NUL), or NULL. */
static char *token(char **s)
{
	char *t = *s, *end;

	if (!t || !*t)
		return NULL;
	end = strchr(t, ' ');
	if (end) {
		*end = '\0';
		*s = end + 1;
	} else {
		*s = NULL;
	}
	return t;
}

/* A decimal integer in [min, max], all of t. */
static bool parse_long(const char *t, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (!t || !*t || (*t != '-' && (*t < '0' || *t > '9')))
		return false;
	errno = 0;
	v = strtoll(t, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* Exactly 16 hex digits. */
static bool parse_hash(const char *t, uint64_t *out)
{
	uint64_t v = 0;

	if (!t || strlen(t) != 16)
		return false;
	for (int i = 0; i < 16; i++) {
		char ch = t[i];
		int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;

		if (d < 0)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return true;
}

static bool parse_pod_line(char *line, struct kubelet_pstate *ps, size_t room)
{
	char *rest = line, *t, *uid, *phase;
	long long ready, count;

	t = token(&rest);
	uid = token(&rest);
	if (!t || strcmp(t, "p") || !uid || !kubelet_uid_valid(uid, strlen(uid)) ||
	    !parse_long(token(&rest), -1, 1, &ready) ||
	    !parse_long(token(&rest), 0, KUBELET_POD_CONTAINERS_MAX, &count) ||
	    (size_t)count > room || !(phase = token(&rest)) || rest)
		return false;
	if (strcmp(phase, "-") == 0)
		phase = "";
	else if (!phase_valid(phase, strlen(phase)))
		return false;
	strcpy(ps->uid, uid);
	strcpy(ps->phase, phase);
	ps->ready = (int8_t)ready;
	ps->count = (uint32_t)count;
	return true;
}

static bool parse_container_line(char *line, struct kubelet_cstate *c)
{
	char *rest = line, *t = token(&rest);
	long long init, phase, restart;

	if (!t || strcmp(t, "c") || !parse_long(token(&rest), 0, 1, &init) ||
	    !parse_long(token(&rest), 0, KUBELET_CPHASE_TERMINATED, &phase) ||
	    !parse_long(token(&rest), -1, INT32_MAX, &restart) ||
	    !parse_hash(token(&rest), &c->name_hash) || !parse_hash(token(&rest), &c->id_hash) ||
	    !parse_hash(token(&rest), &c->waiting_hash) || !parse_hash(token(&rest), &c->term_hash) ||
	    rest)
		return false;
	c->init = init;
	c->phase = (uint8_t)phase;
	c->restart_count = (int32_t)restart;
	return true;
}

int kubelet_state_parse(const char *buf, size_t len, struct kubelet_state *out)
{
	char line[128], *rest = line, *t;
	long long npods, ncont;
	struct kubelet_state s = { 0 };
	size_t pos = 0, used = 0;
	int err = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (!next_line(buf, len, &pos, line, sizeof(line)) || !(t = token(&rest)) ||
	    strcmp(t, "tapio-kubelet-state") || !(t = token(&rest)) || strcmp(t, "1") ||
	    !parse_long(token(&rest), 0, KUBELET_PODS_MAX, &npods) ||
	    !parse_long(token(&rest), 0, KUBELET_CONTAINERS_MAX, &ncont) || rest)
		return -EINVAL;
	s.pods = calloc(npods ? (size_t)npods : 1, sizeof(*s.pods));
	s.containers = calloc(ncont ? (size_t)ncont : 1, sizeof(*s.containers));
	if (!s.pods || !s.containers) {
		err = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < (size_t)npods; i++) {
		struct kubelet_pstate *ps = &s.pods[i];

		if (!next_line(buf, len, &pos, line, sizeof(line)) ||
		    !parse_pod_line(line, ps, (size_t)ncont - used) ||
		    (i && strcmp(s.pods[i - 1].uid, ps->uid) >= 0)) /* sorted, no duplicates */
			goto fail;
		ps->first = (uint32_t)used;
		for (uint32_t j = 0; j < ps->count; j++)
			if (!next_line(buf, len, &pos, line, sizeof(line)) ||
			    !parse_container_line(line, &s.containers[used++]))
				goto fail;
	}
	if (used != (size_t)ncont || pos != len)
		goto fail;
	s.npods = (size_t)npods;
	s.ncontainers = (size_t)ncont;
	*out = s;
	return 0;
fail:
	kubelet_state_free(&s);
	return err;
}
