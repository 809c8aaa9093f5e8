/*
 * From the API server's JSON (as tokens) to the topic's own fields of schemas/kubeapi.avsc.
 *
 * Strict about types, lenient about values: a field present with the wrong JSON type means the
 * object is not what this code understands, so it is skipped whole (SKIPPED, with the field's
 * path) rather than published half-read; a timestamp or quantity that does not parse is published
 * as null and counted. JSON null is absent, as Go's omitempty makes it. Nothing here reads
 * environment values, managedFields, or annotations other than those asked for.
 */
#include "kubeapi_collector.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const skip_names[KUBEAPI_SKIP_REASON_MAX] = {
	[KUBEAPI_SKIP_NONE] = "none",
	[KUBEAPI_SKIP_INVALID_JSON] = "invalid_json",
	[KUBEAPI_SKIP_TOO_LARGE] = "too_large",
	[KUBEAPI_SKIP_TOO_DEEP] = "too_deep",
	[KUBEAPI_SKIP_NOT_OBJECT] = "not_object",
	[KUBEAPI_SKIP_MISSING_FIELD] = "missing_field",
	[KUBEAPI_SKIP_WRONG_TYPE] = "wrong_type",
	[KUBEAPI_SKIP_UNKNOWN_TYPE] = "unknown_type",
	[KUBEAPI_SKIP_BAD_VALUE] = "bad_value",
	[KUBEAPI_SKIP_NO_MEMORY] = "no_memory",
};

const char *kubeapi_skip_reason_name(enum kubeapi_skip_reason reason)
{
	return (unsigned)reason < KUBEAPI_SKIP_REASON_MAX ? skip_names[reason] : "invalid";
}

const char *kubeapi_value_error_name(enum kubeapi_value_error err)
{
	switch (err) {
	case KUBEAPI_VALUE_TIME:
		return "time";
	case KUBEAPI_VALUE_QUANTITY:
		return "quantity";
	case KUBEAPI_VALUE_QUANTITY_RANGE:
		return "quantity_range";
	case KUBEAPI_VALUE_ERROR_MAX:
		break;
	}
	return "invalid";
}

/* Budgets of the lists of a pod record; containers get what is left. With the strings of the
 * fixed fields cut at KUBEAPI_TEXT_MAX, they leave the containers more than 24 KiB. */
#define LABELS_BUDGET (16 << 10)
#define ANNOTATIONS_BUDGET (8 << 10)
#define POD_IPS_BUDGET 1024
#define CONDITIONS_BUDGET (8 << 10)
/* After the containers: the truncated flag and three null unions. */
#define POD_TAIL 8

/* Where in the object a field is, for the SKIPPED record: base[index].sub.<key>. */
struct path {
	const char *base;
	int index; /* -1: none */
	const char *sub; /* NULL: none */
};

#define PATH(b) (&(struct path){ (b), -1, NULL })

/* One object being read: the first failure wins; later reads see it and do nothing. */
struct rd {
	const struct jtok_doc *d;
	struct kubeapi_skip *skip;
	struct kubeapi_map_stats *stats;
	enum kubeapi_skip_reason err;
	bool truncated;
};

static void fail(struct rd *r, enum kubeapi_skip_reason reason, const struct path *p,
		 const char *key)
{
	char *f = r->skip->field;
	size_t size = sizeof(r->skip->field);
	int n = 0;

	if (r->err)
		return;
	r->err = reason;
	if (p->base && p->base[0])
		n = snprintf(f, size, "%s", p->base);
	if (p->index >= 0 && n >= 0 && (size_t)n < size)
		n += snprintf(f + n, size - (size_t)n, "[%d]", p->index);
	if (p->sub && n >= 0 && (size_t)n < size)
		n += snprintf(f + n, size - (size_t)n, "%s%s", n ? "." : "", p->sub);
	if (key && n >= 0 && (size_t)n < size)
		snprintf(f + n, size - (size_t)n, "%s%s", n ? "." : "", key);
}

/* Member `key` of object obj when present, not null, and of `type`: its token; -1 when absent
 * or null (or after a failure); a wrong type fails. */
static int get(struct rd *r, int obj, const char *key, enum jtok_type type, const struct path *p)
{
	int v;

	if (r->err || obj < 0)
		return -1;
	v = jtok_get(r->d, obj, key);
	if (v < 0 || r->d->tok[v].type == JTOK_NULL)
		return -1;
	if (r->d->tok[v].type != type) {
		fail(r, KUBEAPI_SKIP_WRONG_TYPE, p, key);
		return -1;
	}
	return v;
}

/* As get(), and absent fails too. */
static int need(struct rd *r, int obj, const char *key, enum jtok_type type, const struct path *p)
{
	int v = get(r, obj, key, type, p);

	if (v < 0 && !r->err)
		fail(r, KUBEAPI_SKIP_MISSING_FIELD, p, key);
	return v;
}

/* A boolean member: *out, or `def` when absent. */
static bool get_bool(struct rd *r, int obj, const char *key, bool def, const struct path *p,
		     bool *present)
{
	int v;

	*present = false;
	if (r->err || obj < 0 || (v = jtok_get(r->d, obj, key)) < 0 ||
	    r->d->tok[v].type == JTOK_NULL)
		return def;
	if (r->d->tok[v].type != JTOK_TRUE && r->d->tok[v].type != JTOK_FALSE) {
		fail(r, KUBEAPI_SKIP_WRONG_TYPE, p, key);
		return def;
	}
	*present = true;
	return r->d->tok[v].type == JTOK_TRUE;
}

/* An integer member within int32: *out; false when absent. */
static bool get_int32(struct rd *r, int obj, const char *key, const struct path *p, int32_t *out)
{
	int v = get(r, obj, key, JTOK_NUMBER, p);
	int64_t n;

	if (v < 0)
		return false;
	if (!jtok_int64(r->d, v, &n)) {
		fail(r, KUBEAPI_SKIP_WRONG_TYPE, p, key); /* a fraction, or beyond a long */
		return false;
	}
	if (n < INT32_MIN || n > INT32_MAX) {
		fail(r, KUBEAPI_SKIP_BAD_VALUE, p, key);
		return false;
	}
	*out = (int32_t)n;
	return true;
}

/* n, moved back to the start of the character it is inside of. */
static size_t char_boundary(const char *s, size_t n)
{
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* String token i as an Avro string of at most max bytes (max <= KUBEAPI_TEXT_MAX), cut at a
 * character boundary; true when cut. */
static bool put_str(struct avro_buf *b, const struct jtok_doc *d, int i, size_t max)
{
	const struct jtok *t = &d->tok[i];
	char buf[KUBEAPI_TEXT_MAX + 1];
	bool cut;
	size_t n;

	if (!(t->flags & JTOK_ESCAPED)) {
		n = t->len;
		cut = n > max;
		if (cut)
			n = char_boundary(d->text + t->start, max);
		avro_put_string(b, d->text + t->start, n);
		return cut;
	}
	n = jtok_decode(d, i, buf, max + 1, &cut);
	avro_put_string(b, buf, n);
	return cut;
}

/* ["null","string"] from member `key`: null when absent or empty. */
static void put_opt_str(struct avro_buf *b, struct rd *r, int obj, const char *key, size_t max,
			const struct path *p)
{
	int v = get(r, obj, key, JTOK_STRING, p);

	if (v < 0 || r->d->tok[v].len == 0) {
		avro_put_union(b, 0);
		return;
	}
	avro_put_union(b, 1);
	r->truncated |= put_str(b, r->d, v, max);
}

/* A required string member. */
static void put_req_str(struct avro_buf *b, struct rd *r, int obj, const char *key, size_t max,
			const struct path *p)
{
	int v = need(r, obj, key, JTOK_STRING, p);

	if (v >= 0)
		r->truncated |= put_str(b, r->d, v, max);
}

/* String token i decoded into out (size bytes); false when it did not fit. */
static bool decode_whole(const struct jtok_doc *d, int i, char *out, size_t size)
{
	bool cut;

	jtok_decode(d, i, out, size, &cut);
	return !cut;
}

/* A timestamp member: true with *us when present and RFC 3339; unparsable ones are counted. */
static bool get_time(struct rd *r, int obj, const char *key, const struct path *p, int64_t *us)
{
	int v = get(r, obj, key, JTOK_STRING, p);
	char text[64];

	if (v < 0)
		return false;
	if (decode_whole(r->d, v, text, sizeof(text)) &&
	    kubeapi_parse_time(text, strlen(text), us))
		return true;
	r->stats->invalid_values[KUBEAPI_VALUE_TIME]++;
	return false;
}

static void put_opt_time(struct avro_buf *b, struct rd *r, int obj, const char *key,
			 const struct path *p)
{
	int64_t us;

	if (get_time(r, obj, key, p, &us)) {
		avro_put_union(b, 1);
		avro_put_long(b, us);
	} else {
		avro_put_union(b, 0);
	}
}

/* ["null","long"] from quantity member `key` at `scale`. */
static void put_quantity(struct avro_buf *b, struct rd *r, int obj, const char *key, int scale,
			 const struct path *p)
{
	int v = get(r, obj, key, JTOK_STRING, p);
	char text[128];
	int64_t value;
	int res = QUANTITY_INVALID;

	if (v >= 0 && decode_whole(r->d, v, text, sizeof(text)))
		res = kubeapi_quantity(text, strlen(text), scale, &value);
	if (v >= 0 && res == QUANTITY_OK) {
		avro_put_union(b, 1);
		avro_put_long(b, value);
		return;
	}
	if (v >= 0)
		r->stats->invalid_values[res == QUANTITY_RANGE ? KUBEAPI_VALUE_QUANTITY_RANGE
							       : KUBEAPI_VALUE_QUANTITY]++;
	avro_put_union(b, 0);
}

/*
 * A list (array or map) encoded into scratch item by item, so that the items that fit the budget
 * are kept whole and their count is known before they are copied out after it.
 */
struct list_writer {
	struct avro_buf items;
	int64_t count;
	size_t mark;
	bool full;
};

static void list_begin(struct list_writer *w, uint8_t *scratch, const struct avro_buf *out,
		       size_t budget)
{
	size_t room = out->overflow ? 0 : out->cap - out->len;

	/* Room for the count and the end of the blocks too. */
	room = room > 24 ? room - 24 : 0;
	avro_buf_init(&w->items, scratch, budget < room ? budget : room);
	w->count = 0;
	w->full = false;
}

/* False when the list is full: the item is left out (and the record marked truncated). */
static bool item_begin(struct list_writer *w, struct rd *r)
{
	if (w->full) {
		r->truncated = true;
		return false;
	}
	w->mark = w->items.len;
	return true;
}

static void item_end(struct list_writer *w, struct rd *r)
{
	if (w->items.overflow) {
		w->items.len = w->mark;
		w->items.overflow = false;
		w->full = true;
		r->truncated = true;
		return;
	}
	w->count++;
}

static void list_end(struct list_writer *w, struct avro_buf *out)
{
	if (w->count) {
		avro_put_long(out, w->count);
		avro_put_raw(out, w->items.data, w->items.len);
	}
	avro_put_long(out, 0);
}

/* "containerd://<id>" → runtime "containerd" (cri-o as crio, the cgroup paths' name) and id. */
static void put_container_id(struct avro_buf *b, struct rd *r, int v, bool with_runtime)
{
	const struct jtok_doc *d = r->d;
	char text[KUBEAPI_TEXT_MAX + 1];
	char *sep, *id = text;
	bool cut;

	if (v < 0 || d->tok[v].len == 0) {
		avro_put_union(b, 0);
		if (with_runtime)
			avro_put_union(b, 0);
		return;
	}
	jtok_decode(d, v, text, sizeof(text), &cut);
	r->truncated |= cut;
	sep = strstr(text, "://");
	if (sep) {
		*sep = '\0';
		id = sep + 3;
	}
	avro_put_optional_string(b, id, KUBEAPI_TEXT_MAX);
	if (!with_runtime)
		return;
	if (!sep || !text[0]) {
		avro_put_union(b, 0);
		return;
	}
	avro_put_union(b, 1);
	avro_put_string(b, strcmp(text, "cri-o") == 0 ? "crio" : text, KUBEAPI_TEXT_MAX);
}

/* ["null", ContainerState] from a v1.ContainerState object (null when it names no state). */
static void put_container_state(struct avro_buf *b, struct rd *r, int obj, const struct path *p)
{
	struct path sub = *p;
	char subpath[48];
	int waiting, running, terminated, st;
	int32_t n;

	if (obj < 0) {
		avro_put_union(b, 0);
		return;
	}
	waiting = get(r, obj, "waiting", JTOK_OBJECT, p);
	running = get(r, obj, "running", JTOK_OBJECT, p);
	terminated = get(r, obj, "terminated", JTOK_OBJECT, p);
	if (waiting < 0 && running < 0 && terminated < 0) {
		avro_put_union(b, 0); /* {}: lastState before any restart */
		return;
	}
	avro_put_union(b, 1);
	/* One is set; were there several, the latest stage of a container's life wins. */
	st = terminated >= 0 ? terminated : running >= 0 ? running : waiting;
	avro_put_long(b, terminated >= 0 ? 3 : running >= 0 ? 2 : 1);
	snprintf(subpath, sizeof(subpath), "%s.%s", p->sub ? p->sub : "",
		 terminated >= 0 ? "terminated" : running >= 0 ? "running" : "waiting");
	sub.sub = subpath;
	put_opt_str(b, r, st, "reason", KUBEAPI_TEXT_MAX, &sub);
	put_opt_str(b, r, st, "message", KUBEAPI_TEXT_MAX, &sub);
	put_opt_time(b, r, st, "startedAt", &sub);
	put_opt_time(b, r, st, "finishedAt", &sub);
	if (get_int32(r, st, "exitCode", &sub, &n)) {
		avro_put_union(b, 1);
		avro_put_long(b, n);
	} else {
		avro_put_union(b, 0);
	}
	if (get_int32(r, st, "signal", &sub, &n) && n != 0) {
		avro_put_union(b, 1);
		avro_put_long(b, n);
	} else {
		avro_put_union(b, 0);
	}
	put_container_id(b, r, get(r, st, "containerID", JTOK_STRING, &sub), false);
}

/* requests or limits of a container's resources (p: the container). */
static void put_resources(struct avro_buf *b, struct rd *r, int res, const char *which,
			  const struct path *p)
{
	char subpath[32];
	struct path sub = { p->base, p->index, "resources" };
	int v = get(r, res, which, JTOK_OBJECT, &sub);

	snprintf(subpath, sizeof(subpath), "resources.%s", which);
	sub.sub = subpath;
	put_quantity(b, r, v, "cpu", 3, &sub);
	put_quantity(b, r, v, "memory", 0, &sub);
}

/* The status in `statuses` whose name equals the spec container's (*index: its position). */
static int find_status(struct rd *r, int statuses, int name, const char *list, int *index)
{
	const struct jtok_doc *d = r->d;
	const struct jtok *t = &d->tok[name];
	int i = 0;

	*index = -1;
	if (statuses < 0)
		return -1;
	for (int s = jtok_first(d, statuses); s >= 0; s = jtok_next_element(d, statuses, s), i++) {
		const struct path p = { list, i, NULL };
		int n;

		if (d->tok[s].type != JTOK_OBJECT) {
			fail(r, KUBEAPI_SKIP_WRONG_TYPE, &p, NULL);
			return -1;
		}
		n = need(r, s, "name", JTOK_STRING, &p);
		if (n < 0)
			return -1;
		/* Container names need no escapes; compare decoded when either has one. */
		if (!(t->flags & JTOK_ESCAPED) && !(d->tok[n].flags & JTOK_ESCAPED)) {
			if (t->len == d->tok[n].len &&
			    !memcmp(d->text + t->start, d->text + d->tok[n].start, t->len)) {
				*index = i;
				return s;
			}
		} else {
			char a[256], bb[256];

			if (decode_whole(d, name, a, sizeof(a)) &&
			    decode_whole(d, n, bb, sizeof(bb)) && !strcmp(a, bb)) {
				*index = i;
				return s;
			}
		}
	}
	return -1;
}

/* Every container of spec list `list` (of `type`), joined with its status. */
static void put_containers_of(struct list_writer *w, struct rd *r, int spec, int status,
			      const char *list, const char *statuses_key, int type)
{
	const struct jtok_doc *d = r->d;
	char spec_path[48], status_path[48];
	int containers, statuses, i = 0;

	snprintf(spec_path, sizeof(spec_path), "spec.%s", list);
	snprintf(status_path, sizeof(status_path), "status.%s", statuses_key);
	containers = get(r, spec, list, JTOK_ARRAY, PATH("spec"));
	statuses = get(r, status, statuses_key, JTOK_ARRAY, PATH("status"));
	if (containers < 0)
		return;
	for (int c = jtok_first(d, containers); c >= 0 && !r->err;
	     c = jtok_next_element(d, containers, c), i++) {
		const struct path p = { spec_path, i, NULL };
		struct path sp = { status_path, -1, NULL };
		struct avro_buf *b = &w->items;
		int name, st, res;
		int32_t restarts = 0;
		bool present, started;

		if (d->tok[c].type != JTOK_OBJECT) {
			fail(r, KUBEAPI_SKIP_WRONG_TYPE, &p, NULL);
			return;
		}
		name = need(r, c, "name", JTOK_STRING, &p);
		if (name < 0)
			return;
		st = find_status(r, statuses, name, status_path, &sp.index);
		if (!item_begin(w, r))
			continue;
		r->truncated |= put_str(b, d, name, KUBEAPI_TEXT_MAX);
		avro_put_long(b, type);
		put_container_id(b, r, get(r, st, "containerID", JTOK_STRING, &sp), true);
		put_opt_str(b, r, c, "image", KUBEAPI_TEXT_MAX, &p);
		put_opt_str(b, r, st, "imageID", KUBEAPI_TEXT_MAX, &sp);
		avro_put_bool(b, get_bool(r, st, "ready", false, &sp, &present));
		started = get_bool(r, st, "started", false, &sp, &present);
		if (present) {
			avro_put_union(b, 1);
			avro_put_bool(b, started);
		} else {
			avro_put_union(b, 0);
		}
		get_int32(r, st, "restartCount", &sp, &restarts);
		avro_put_long(b, restarts);
		put_container_state(b, r, get(r, st, "state", JTOK_OBJECT, &sp),
				    &(struct path){ status_path, sp.index, "state" });
		put_container_state(b, r, get(r, st, "lastState", JTOK_OBJECT, &sp),
				    &(struct path){ status_path, sp.index, "lastState" });
		res = get(r, c, "resources", JTOK_OBJECT, &p);
		put_resources(b, r, res, "requests", &p);
		put_resources(b, r, res, "limits", &p);
		item_end(w, r);
	}
}

/* metadata.labels, whole (cut at the budget). */
static void put_labels(struct avro_buf *out, struct rd *r, int meta, uint8_t *scratch)
{
	const struct jtok_doc *d = r->d;
	struct list_writer w;
	int labels = get(r, meta, "labels", JTOK_OBJECT, PATH("metadata"));

	list_begin(&w, scratch, out, LABELS_BUDGET);
	for (int k = labels < 0 ? -1 : jtok_first(d, labels); k >= 0 && !r->err;
	     k = jtok_next_member(d, labels, k)) {
		if (d->tok[k + 1].type != JTOK_STRING) {
			fail(r, KUBEAPI_SKIP_WRONG_TYPE, PATH("metadata.labels"), NULL);
			break;
		}
		if (!item_begin(&w, r))
			break;
		r->truncated |= put_str(&w.items, d, k, KUBEAPI_TEXT_MAX);
		r->truncated |= put_str(&w.items, d, k + 1, KUBEAPI_TEXT_MAX);
		item_end(&w, r);
	}
	list_end(&w, out);
}

/* Only the annotations the configuration names. */
static void put_annotations(struct avro_buf *out, struct rd *r, int meta,
			    const struct kubeapi_map_config *cfg, uint8_t *scratch)
{
	struct list_writer w;
	int ann = get(r, meta, "annotations", JTOK_OBJECT, PATH("metadata"));

	list_begin(&w, scratch, out, ANNOTATIONS_BUDGET);
	for (char *const *key = cfg->annotations; ann >= 0 && key && *key && !r->err; key++) {
		int v = get(r, ann, *key, JTOK_STRING, PATH("metadata.annotations"));

		if (v < 0 || !item_begin(&w, r))
			continue;
		avro_put_string(&w.items, *key, KUBEAPI_TEXT_MAX);
		r->truncated |= put_str(&w.items, r->d, v, KUBEAPI_TEXT_MAX);
		item_end(&w, r);
	}
	list_end(&w, out);
}

/* The owner reference with controller = true. */
static void put_controller(struct avro_buf *b, struct rd *r, int meta)
{
	const struct jtok_doc *d = r->d;
	int owners = get(r, meta, "ownerReferences", JTOK_ARRAY, PATH("metadata")), i = 0;

	for (int o = owners < 0 ? -1 : jtok_first(d, owners); o >= 0 && !r->err;
	     o = jtok_next_element(d, owners, o), i++) {
		const struct path p = { "metadata.ownerReferences", i, NULL };
		bool present;

		if (d->tok[o].type != JTOK_OBJECT) {
			fail(r, KUBEAPI_SKIP_WRONG_TYPE, &p, NULL);
			break;
		}
		if (!get_bool(r, o, "controller", false, &p, &present))
			continue;
		avro_put_union(b, 1);
		put_req_str(b, r, o, "kind", KUBEAPI_TEXT_MAX, &p);
		put_req_str(b, r, o, "name", KUBEAPI_TEXT_MAX, &p);
		put_req_str(b, r, o, "uid", KUBEAPI_TEXT_MAX, &p);
		return;
	}
	avro_put_union(b, 0);
}

static void put_pod_ips(struct avro_buf *out, struct rd *r, int status, uint8_t *scratch)
{
	const struct jtok_doc *d = r->d;
	int ips = get(r, status, "podIPs", JTOK_ARRAY, PATH("status")), i = 0, one;
	struct list_writer w;

	list_begin(&w, scratch, out, POD_IPS_BUDGET);
	for (int e = ips < 0 ? -1 : jtok_first(d, ips); e >= 0 && !r->err;
	     e = jtok_next_element(d, ips, e), i++) {
		const struct path p = { "status.podIPs", i, NULL };
		int ip;

		if (d->tok[e].type != JTOK_OBJECT) {
			fail(r, KUBEAPI_SKIP_WRONG_TYPE, &p, NULL);
			break;
		}
		ip = get(r, e, "ip", JTOK_STRING, &p);
		if (ip < 0 || !item_begin(&w, r))
			continue;
		r->truncated |= put_str(&w.items, d, ip, KUBEAPI_TEXT_MAX);
		item_end(&w, r);
	}
	/* Before dual-stack, podIP alone. */
	if (w.count == 0 && (one = get(r, status, "podIP", JTOK_STRING, PATH("status"))) >= 0 &&
	    d->tok[one].len && item_begin(&w, r)) {
		r->truncated |= put_str(&w.items, d, one, KUBEAPI_TEXT_MAX);
		item_end(&w, r);
	}
	list_end(&w, out);
}

static void put_conditions(struct avro_buf *out, struct rd *r, int status, uint8_t *scratch)
{
	const struct jtok_doc *d = r->d;
	int conds = get(r, status, "conditions", JTOK_ARRAY, PATH("status")), i = 0;
	struct list_writer w;

	list_begin(&w, scratch, out, CONDITIONS_BUDGET);
	for (int c = conds < 0 ? -1 : jtok_first(d, conds); c >= 0 && !r->err;
	     c = jtok_next_element(d, conds, c), i++) {
		const struct path p = { "status.conditions", i, NULL };

		if (d->tok[c].type != JTOK_OBJECT) {
			fail(r, KUBEAPI_SKIP_WRONG_TYPE, &p, NULL);
			break;
		}
		if (!item_begin(&w, r))
			break;
		put_req_str(&w.items, r, c, "type", KUBEAPI_TEXT_MAX, &p);
		put_req_str(&w.items, r, c, "status", KUBEAPI_TEXT_MAX, &p);
		put_opt_str(&w.items, r, c, "reason", KUBEAPI_TEXT_MAX, &p);
		put_opt_str(&w.items, r, c, "message", KUBEAPI_TEXT_MAX, &p);
		put_opt_time(&w.items, r, c, "lastTransitionTime", &p);
		item_end(&w, r);
	}
	list_end(&w, out);
}

static bool usable_position(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= HANDOFF_POSITION_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

bool kubeapi_object_rv(const struct jtok_doc *d, int obj, char *rv, size_t size)
{
	int meta = jtok_get(d, obj, "metadata"), v = jtok_get(d, meta, "resourceVersion");
	char buf[HANDOFF_POSITION_MAX + 1];

	if (!jtok_is(d, v, JTOK_STRING) || !decode_whole(d, v, buf, sizeof(buf)) ||
	    !usable_position(buf) || strlen(buf) >= size)
		return false;
	memcpy(rv, buf, strlen(buf) + 1);
	return true;
}

/* A string member decoded whole into out, "" when absent or not a string. */
static void read_text(const struct jtok_doc *d, int obj, const char *key, char *out, size_t size)
{
	int v = jtok_get(d, obj, key);

	out[0] = '\0';
	if (jtok_is(d, v, JTOK_STRING) && !decode_whole(d, v, out, size))
		out[0] = '\0';
}

void kubeapi_skip_describe(const struct jtok_doc *d, int obj, struct kubeapi_skip *skip)
{
	int meta = jtok_get(d, obj, "metadata");

	if (!kubeapi_object_rv(d, obj, skip->resource_version, sizeof(skip->resource_version)))
		skip->resource_version[0] = '\0';
	read_text(d, meta, "namespace", skip->namespace, sizeof(skip->namespace));
	read_text(d, meta, "name", skip->name, sizeof(skip->name));
	read_text(d, meta, "uid", skip->uid, sizeof(skip->uid));
}

/* metadata's identity, which every record of an object needs: uid (<= KUBEAPI_UID_MAX bytes)
 * into uid, the resourceVersion into out->resource_version. */
static int read_identity(struct rd *r, int obj, struct kubeapi_record *out, char *uid)
{
	int meta = need(r, obj, "metadata", JTOK_OBJECT, PATH(""));
	int v;

	if (r->err)
		return -1;
	v = need(r, meta, "resourceVersion", JTOK_STRING, PATH("metadata"));
	if (v >= 0 && !kubeapi_object_rv(r->d, obj, out->resource_version,
					 sizeof(out->resource_version)))
		fail(r, KUBEAPI_SKIP_BAD_VALUE, PATH("metadata"), "resourceVersion");
	v = need(r, meta, "uid", JTOK_STRING, PATH("metadata"));
	if (v >= 0 && (!decode_whole(r->d, v, uid, KUBEAPI_UID_MAX + 1) || !uid[0]))
		fail(r, KUBEAPI_SKIP_BAD_VALUE, PATH("metadata"), "uid");
	need(r, meta, "namespace", JTOK_STRING, PATH("metadata"));
	need(r, meta, "name", JTOK_STRING, PATH("metadata"));
	return r->err ? -1 : meta;
}

static void record_init(struct kubeapi_record *out, enum kubeapi_kind kind, int64_t time_us)
{
	uint8_t *data = out->body.data;
	size_t cap = out->body.cap;

	memset(&out->meta, 0, sizeof(out->meta));
	out->meta.kind = (int)kind;
	out->meta.event_time_us = time_us;
	out->key_len = 0;
	out->key[0] = '\0';
	avro_buf_init(&out->body, data, cap);
}

static void set_key(struct kubeapi_record *out, const char *fmt, const char *a, const char *b)
{
	int n = snprintf(out->key, sizeof(out->key), fmt, a, b);

	out->key_len = n < 0 ? 0 : (size_t)n < sizeof(out->key) ? (size_t)n : sizeof(out->key) - 1;
}

/* The skip's reason, with what can be read of the object for its SKIPPED record. */
static enum kubeapi_skip_reason skipped(struct rd *r, int obj)
{
	enum kubeapi_skip_reason reason = r->err;

	kubeapi_skip_describe(r->d, obj, r->skip);
	r->skip->reason = reason;
	return reason;
}

enum kubeapi_skip_reason kubeapi_map_pod(const struct jtok_doc *d, int obj,
					 enum kubeapi_kind kind, int64_t now_us,
					 const struct kubeapi_map_config *cfg, uint8_t *scratch,
					 struct kubeapi_record *out, struct kubeapi_skip *skip,
					 struct kubeapi_map_stats *stats)
{
	struct rd r = { .d = d, .skip = skip, .stats = stats };
	struct avro_buf *b = &out->body;
	char uid[KUBEAPI_UID_MAX + 1] = "";
	int meta, spec, status;
	struct list_writer w;
	size_t budget;

	memset(skip, 0, sizeof(*skip));
	record_init(out, kind, now_us);
	if (!jtok_is(d, obj, JTOK_OBJECT)) {
		skip->reason = KUBEAPI_SKIP_NOT_OBJECT;
		return skip->reason;
	}
	meta = read_identity(&r, obj, out, uid);
	spec = get(&r, obj, "spec", JTOK_OBJECT, PATH(""));
	status = get(&r, obj, "status", JTOK_OBJECT, PATH(""));
	if (r.err)
		return skipped(&r, obj);

	avro_put_union(b, 1);
	avro_put_string(b, out->resource_version, HANDOFF_POSITION_MAX);
	put_req_str(b, &r, meta, "namespace", KUBEAPI_TEXT_MAX, PATH("metadata"));
	put_req_str(b, &r, meta, "name", KUBEAPI_TEXT_MAX, PATH("metadata"));
	avro_put_string(b, uid, sizeof(uid));
	put_labels(b, &r, meta, scratch);
	put_annotations(b, &r, meta, cfg, scratch);
	put_controller(b, &r, meta);
	put_opt_str(b, &r, spec, "nodeName", KUBEAPI_TEXT_MAX, PATH("spec"));
	put_opt_str(b, &r, status, "phase", KUBEAPI_TEXT_MAX, PATH("status"));
	put_opt_str(b, &r, status, "reason", KUBEAPI_TEXT_MAX, PATH("status"));
	put_opt_str(b, &r, status, "message", KUBEAPI_TEXT_MAX, PATH("status"));
	put_opt_str(b, &r, status, "qosClass", KUBEAPI_TEXT_MAX, PATH("status"));
	put_pod_ips(b, &r, status, scratch);
	put_opt_str(b, &r, status, "hostIP", KUBEAPI_TEXT_MAX, PATH("status"));
	put_opt_str(b, &r, spec, "serviceAccountName", KUBEAPI_TEXT_MAX, PATH("spec"));
	put_opt_str(b, &r, spec, "priorityClassName", KUBEAPI_TEXT_MAX, PATH("spec"));
	put_opt_time(b, &r, meta, "creationTimestamp", PATH("metadata"));
	put_opt_time(b, &r, status, "startTime", PATH("status"));
	put_opt_time(b, &r, meta, "deletionTimestamp", PATH("metadata"));
	put_conditions(b, &r, status, scratch);

	/* Containers: what is left of the record. */
	budget = b->cap > b->len + POD_TAIL ? b->cap - b->len - POD_TAIL : 0;
	list_begin(&w, scratch, b, budget);
	put_containers_of(&w, &r, spec, status, "initContainers", "initContainerStatuses", 2);
	put_containers_of(&w, &r, spec, status, "containers", "containerStatuses", 1);
	put_containers_of(&w, &r, spec, status, "ephemeralContainers",
			  "ephemeralContainerStatuses", 3);
	list_end(&w, b);
	avro_put_bool(b, r.truncated);
	avro_put_union(b, 0); /* event */
	avro_put_union(b, 0); /* resync */
	avro_put_union(b, 0); /* skipped */
	if (r.err)
		return skipped(&r, obj);
	if (b->overflow) { /* cannot happen with the budgets above; never publish a torn record */
		r.err = KUBEAPI_SKIP_TOO_LARGE;
		return skipped(&r, obj);
	}
	stats->truncated += r.truncated;
	snprintf(out->meta.pod_uid, sizeof(out->meta.pod_uid), "%s", uid);
	set_key(out, "%s%s", uid, "");
	return KUBEAPI_SKIP_NONE;
}

enum kubeapi_skip_reason kubeapi_map_event(const struct jtok_doc *d, int obj,
					   enum kubeapi_kind kind, int64_t now_us,
					   struct kubeapi_record *out, struct kubeapi_skip *skip,
					   struct kubeapi_map_stats *stats)
{
	struct rd r = { .d = d, .skip = skip, .stats = stats };
	struct avro_buf *b = &out->body;
	char uid[KUBEAPI_UID_MAX + 1] = "", reg_uid[KUBEAPI_UID_MAX + 1] = "", reg_kind[16] = "";
	int64_t first = 0, last = 0, created = 0;
	bool has_first, has_last, has_created, note_cut = false;
	int meta, reg, series, note, count_tok;
	int32_t count = 0;

	memset(skip, 0, sizeof(*skip));
	record_init(out, kind, now_us);
	if (!jtok_is(d, obj, JTOK_OBJECT)) {
		skip->reason = KUBEAPI_SKIP_NOT_OBJECT;
		return skip->reason;
	}
	meta = read_identity(&r, obj, out, uid);
	reg = get(&r, obj, "regarding", JTOK_OBJECT, PATH(""));
	series = get(&r, obj, "series", JTOK_OBJECT, PATH(""));
	if (r.err)
		return skipped(&r, obj);

	avro_put_union(b, 0); /* pod */
	avro_put_union(b, 1);
	avro_put_string(b, out->resource_version, HANDOFF_POSITION_MAX);
	put_req_str(b, &r, meta, "namespace", KUBEAPI_TEXT_MAX, PATH("metadata"));
	put_req_str(b, &r, meta, "name", KUBEAPI_TEXT_MAX, PATH("metadata"));
	avro_put_string(b, uid, sizeof(uid));
	put_opt_str(b, &r, reg, "kind", KUBEAPI_TEXT_MAX, PATH("regarding"));
	put_opt_str(b, &r, reg, "namespace", KUBEAPI_TEXT_MAX, PATH("regarding"));
	put_opt_str(b, &r, reg, "name", KUBEAPI_TEXT_MAX, PATH("regarding"));
	put_opt_str(b, &r, reg, "uid", KUBEAPI_TEXT_MAX, PATH("regarding"));
	put_opt_str(b, &r, reg, "fieldPath", KUBEAPI_TEXT_MAX, PATH("regarding"));
	put_opt_str(b, &r, obj, "reason", KUBEAPI_TEXT_MAX, PATH(""));
	put_opt_str(b, &r, obj, "type", KUBEAPI_TEXT_MAX, PATH(""));
	put_opt_str(b, &r, obj, "action", KUBEAPI_TEXT_MAX, PATH(""));
	note = get(&r, obj, "note", JTOK_STRING, PATH(""));
	if (note >= 0 && d->tok[note].len) {
		avro_put_union(b, 1);
		note_cut = put_str(b, d, note, KUBEAPI_TEXT_MAX);
	} else {
		avro_put_union(b, 0);
	}
	avro_put_bool(b, note_cut);
	r.truncated |= note_cut;
	put_opt_str(b, &r, obj, "reportingController", KUBEAPI_TEXT_MAX, PATH(""));
	put_opt_str(b, &r, obj, "reportingInstance", KUBEAPI_TEXT_MAX, PATH(""));
	has_first = get_time(&r, obj, "eventTime", PATH(""), &first) ||
		    get_time(&r, obj, "deprecatedFirstTimestamp", PATH(""), &first);
	has_last = get_time(&r, series, "lastObservedTime", PATH("series"), &last) ||
		   get_time(&r, obj, "deprecatedLastTimestamp", PATH(""), &last);
	if (!get_int32(&r, series, "count", PATH("series"), &count) || count <= 0) {
		count_tok = get_int32(&r, obj, "deprecatedCount", PATH(""), &count);
		if (!count_tok || count <= 0)
			count = 1;
	}
	has_created = get_time(&r, meta, "creationTimestamp", PATH("metadata"), &created);
	read_text(d, reg, "uid", reg_uid, sizeof(reg_uid));
	read_text(d, reg, "kind", reg_kind, sizeof(reg_kind));
	if (r.err)
		return skipped(&r, obj);
	if (has_first) {
		avro_put_union(b, 1);
		avro_put_long(b, first);
	} else {
		avro_put_union(b, 0);
	}
	avro_put_long(b, count);
	if (has_last) {
		avro_put_union(b, 1);
		avro_put_long(b, last);
	} else {
		avro_put_union(b, 0);
	}
	avro_put_union(b, 0); /* resync */
	avro_put_union(b, 0); /* skipped */
	if (b->overflow) {
		r.err = KUBEAPI_SKIP_TOO_LARGE;
		return skipped(&r, obj);
	}
	stats->truncated += r.truncated;
	out->meta.event_time_us = has_last ? last : has_first ? first : has_created ? created
										 : now_us;
	if (!strcmp(reg_kind, "Pod"))
		snprintf(out->meta.pod_uid, sizeof(out->meta.pod_uid), "%s", reg_uid);
	/* A pod's Events land beside its records; an Event about nothing named has its own. */
	set_key(out, "%s%s", reg_uid[0] ? reg_uid : uid, "");
	return KUBEAPI_SKIP_NONE;
}

static const char *source_key(enum kubeapi_source_kind source)
{
	return source == KUBEAPI_SOURCE_EVENTS ? "events" : "pods";
}

void kubeapi_map_resync(enum kubeapi_kind kind, enum kubeapi_source_kind source,
			enum kubeapi_resync_reason reason, const char *resource_version,
			int64_t count, int64_t now_us, const struct kubeapi_map_config *cfg,
			struct kubeapi_record *out)
{
	struct avro_buf *b = &out->body;

	record_init(out, kind, now_us);
	snprintf(out->resource_version, sizeof(out->resource_version), "%s", resource_version);
	avro_put_union(b, 0); /* pod */
	avro_put_union(b, 0); /* event */
	avro_put_union(b, 1);
	avro_put_long(b, source);
	avro_put_long(b, reason);
	avro_put_string(b, resource_version, HANDOFF_POSITION_MAX);
	if (count >= 0) {
		avro_put_union(b, 1);
		avro_put_long(b, count);
	} else {
		avro_put_union(b, 0);
	}
	avro_put_union(b, 0); /* skipped */
	set_key(out, "%s/%s", cfg->node, source_key(source));
}

void kubeapi_map_skipped(enum kubeapi_source_kind source, const struct kubeapi_skip *skip,
			 int64_t now_us, const struct kubeapi_map_config *cfg,
			 struct kubeapi_record *out)
{
	struct avro_buf *b = &out->body;

	record_init(out, KUBEAPI_SKIPPED, now_us);
	out->resource_version[0] = '\0';
	avro_put_union(b, 0); /* pod */
	avro_put_union(b, 0); /* event */
	avro_put_union(b, 0); /* resync */
	avro_put_union(b, 1);
	avro_put_long(b, source);
	avro_put_long(b, skip->reason);
	avro_put_optional_string(b, skip->field, sizeof(skip->field));
	avro_put_optional_string(b, skip->watch_type, sizeof(skip->watch_type));
	avro_put_optional_string(b, skip->resource_version, sizeof(skip->resource_version));
	avro_put_optional_string(b, skip->namespace, sizeof(skip->namespace));
	avro_put_optional_string(b, skip->name, sizeof(skip->name));
	avro_put_optional_string(b, skip->uid, sizeof(skip->uid));
	if (skip->uid[0]) {
		set_key(out, "%s%s", skip->uid, "");
		if (source == KUBEAPI_SOURCE_PODS)
			snprintf(out->meta.pod_uid, sizeof(out->meta.pod_uid), "%s", skip->uid);
	} else {
		set_key(out, "%s/%s", cfg->node, source_key(source));
	}
}

enum kubeapi_skip_reason kubeapi_watch_event(const struct jtok_doc *d,
					     enum kubeapi_watch_type *type, int *object,
					     struct kubeapi_skip *skip)
{
	static const struct {
		const char *name;
		enum kubeapi_watch_type type;
	} types[] = {
		{ "ADDED", KUBEAPI_WATCH_ADDED }, { "MODIFIED", KUBEAPI_WATCH_MODIFIED },
		{ "DELETED", KUBEAPI_WATCH_DELETED }, { "BOOKMARK", KUBEAPI_WATCH_BOOKMARK },
		{ "ERROR", KUBEAPI_WATCH_ERROR },
	};
	int t, o;

	memset(skip, 0, sizeof(*skip));
	if (!jtok_is(d, 0, JTOK_OBJECT)) {
		skip->reason = KUBEAPI_SKIP_NOT_OBJECT;
		return skip->reason;
	}
	t = jtok_get(d, 0, "type");
	o = jtok_get(d, 0, "object");
	if (t < 0 || o < 0) {
		skip->reason = KUBEAPI_SKIP_MISSING_FIELD;
		snprintf(skip->field, sizeof(skip->field), "%s", t < 0 ? "type" : "object");
	} else if (d->tok[t].type != JTOK_STRING || d->tok[o].type != JTOK_OBJECT) {
		skip->reason = KUBEAPI_SKIP_WRONG_TYPE;
		snprintf(skip->field, sizeof(skip->field), "%s",
			 d->tok[t].type != JTOK_STRING ? "type" : "object");
	}
	if (jtok_is(d, t, JTOK_STRING))
		read_text(d, 0, "type", skip->watch_type, sizeof(skip->watch_type));
	if (skip->reason) {
		if (jtok_is(d, o, JTOK_OBJECT))
			kubeapi_skip_describe(d, o, skip);
		return skip->reason;
	}
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (jtok_eq(d, t, types[i].name, strlen(types[i].name))) {
			*type = types[i].type;
			*object = o;
			return KUBEAPI_SKIP_NONE;
		}
	}
	skip->reason = KUBEAPI_SKIP_UNKNOWN_TYPE;
	snprintf(skip->field, sizeof(skip->field), "type");
	kubeapi_skip_describe(d, o, skip);
	return skip->reason;
}

int kubeapi_status_code(const struct jtok_doc *d, int obj, bool *too_large)
{
	int code = jtok_get(d, obj, "code"), details = jtok_get(d, obj, "details");
	int causes = jtok_get(d, details, "causes");
	char text[256];
	int64_t n = 0;

	*too_large = false;
	read_text(d, obj, "message", text, sizeof(text));
	if (strstr(text, "Too large resource version"))
		*too_large = true;
	for (int c = jtok_is(d, causes, JTOK_ARRAY) ? jtok_first(d, causes) : -1; c >= 0;
	     c = jtok_next_element(d, causes, c)) {
		read_text(d, c, "reason", text, sizeof(text));
		if (!strcmp(text, "ResourceVersionTooLarge"))
			*too_large = true;
	}
	if (!jtok_is(d, code, JTOK_NUMBER) || !jtok_int64(d, code, &n) || n < 0 || n > 999)
		return 0;
	return (int)n;
}

/* Lists: {"kind": ..., "metadata": {"resourceVersion": ...}, "items": [...]}, in any order. */

static void skip_blanks(const char *s, size_t len, size_t *i)
{
	while (*i < len && (s[*i] == ' ' || s[*i] == '\n' || s[*i] == '\r' || s[*i] == '\t'))
		(*i)++;
}

/* The items array at text[*i] (or null): each item validated and counted (first pass, fn NULL)
 * or handed to fn; *i moves past the array. 0, KUBEAPI_LIST_INVALID or what fn returned. */
static int walk_items(struct jtok_doc *d, const char *text, size_t len, size_t *i,
		      struct kubeapi_list_info *info, kubeapi_item_fn fn, void *ctx)
{
	uint32_t depth = d->max_depth - 2; /* the list and its items array hold each item */
	size_t end, err_at;
	int rc;

	if (len - *i >= 4 && !memcmp(text + *i, "null", 4)) {
		*i += 4; /* a nil slice, as Go writes it: no items */
		return 0;
	}
	if (*i >= len || text[*i] != '[')
		return KUBEAPI_LIST_INVALID;
	(*i)++;
	skip_blanks(text, len, i);
	if (*i < len && text[*i] == ']') {
		(*i)++;
		return 0;
	}
	for (;;) {
		skip_blanks(text, len, i);
		if (!fn) {
			if (jtok_validate(text + *i, len - *i, depth, &end, &err_at))
				return KUBEAPI_LIST_INVALID;
			info->items++;
		} else {
			rc = jtok_parse_value(d, text + *i, len - *i, &end);
			if (rc == JTOK_OK) {
				rc = fn(ctx, d, 0, KUBEAPI_SKIP_NONE);
			} else {
				/* Valid (the first pass said so): only too large to keep. */
				if (jtok_validate(text + *i, len - *i, depth, &end, &err_at))
					return KUBEAPI_LIST_INVALID;
				rc = fn(ctx, d, -1, rc == JTOK_NO_MEMORY ? KUBEAPI_SKIP_NO_MEMORY
									 : KUBEAPI_SKIP_TOO_LARGE);
			}
			if (rc)
				return rc;
		}
		*i += end;
		skip_blanks(text, len, i);
		if (*i < len && text[*i] == ',') {
			(*i)++;
			continue;
		}
		if (*i < len && text[*i] == ']') {
			(*i)++;
			return 0;
		}
		return KUBEAPI_LIST_INVALID;
	}
}

/* The list's metadata at text[*i]: its resourceVersion into info. */
static int read_list_metadata(struct jtok_doc *d, const char *text, size_t len, size_t *i,
			      struct kubeapi_list_info *info)
{
	char rv[HANDOFF_POSITION_MAX + 1];
	size_t end;
	int v;

	if (jtok_parse_value(d, text + *i, len - *i, &end))
		return KUBEAPI_LIST_INVALID;
	*i += end;
	v = jtok_get(d, 0, "resourceVersion");
	if (jtok_is(d, v, JTOK_STRING) && decode_whole(d, v, rv, sizeof(rv)) && usable_position(rv))
		memcpy(info->resource_version, rv, strlen(rv) + 1);
	return 0;
}

/* Both passes: the first (fn NULL) validates and reads the resourceVersion; the second hands
 * each item to fn. */
static int walk_list(struct jtok_doc *d, const char *text, size_t len,
		     struct kubeapi_list_info *info, kubeapi_item_fn fn, void *ctx)
{
	size_t i = 0, end, err_at;
	bool seen_items = false, first = true;
	int rc;

	skip_blanks(text, len, &i);
	if (i >= len || text[i] != '{')
		return KUBEAPI_LIST_INVALID;
	i++;
	for (;;) {
		skip_blanks(text, len, &i);
		if (first && i < len && text[i] == '}') {
			i++;
			break;
		}
		first = false;
		if (jtok_parse_value(d, text + i, len - i, &end) || !jtok_is(d, 0, JTOK_STRING))
			return KUBEAPI_LIST_INVALID;
		i += end;
		skip_blanks(text, len, &i);
		if (i >= len || text[i] != ':')
			return KUBEAPI_LIST_INVALID;
		i++;
		skip_blanks(text, len, &i);
		if (jtok_eq(d, 0, "items", 5)) {
			seen_items = true;
			rc = walk_items(d, text, len, &i, info, fn, ctx);
		} else if (!fn && jtok_eq(d, 0, "metadata", 8)) {
			rc = read_list_metadata(d, text, len, &i, info);
		} else {
			rc = jtok_validate(text + i, len - i, d->max_depth - 1, &end, &err_at)
				     ? KUBEAPI_LIST_INVALID : 0;
			i += rc ? 0 : end;
		}
		if (rc)
			return rc;
		skip_blanks(text, len, &i);
		if (i < len && text[i] == ',') {
			i++;
			continue;
		}
		if (i < len && text[i] == '}') {
			i++;
			break;
		}
		return KUBEAPI_LIST_INVALID;
	}
	skip_blanks(text, len, &i);
	return i == len && seen_items ? 0 : KUBEAPI_LIST_INVALID;
}

enum kubeapi_list_result kubeapi_list_scan(struct jtok_doc *d, const char *text, size_t len,
					   struct kubeapi_list_info *info)
{
	int rc;

	memset(info, 0, sizeof(*info));
	if (d->max_depth < 3)
		return KUBEAPI_LIST_INVALID;
	rc = walk_list(d, text, len, info, NULL, NULL);
	if (rc)
		return KUBEAPI_LIST_INVALID;
	return info->resource_version[0] ? KUBEAPI_LIST_OK : KUBEAPI_LIST_NO_RV;
}

int kubeapi_list_items(struct jtok_doc *d, const char *text, size_t len, kubeapi_item_fn fn,
		       void *ctx)
{
	struct kubeapi_list_info info;

	memset(&info, 0, sizeof(info));
	if (d->max_depth < 3)
		return KUBEAPI_LIST_INVALID;
	return walk_list(d, text, len, &info, fn, ctx);
}

/* Times: RFC 3339, as metav1.Time and metav1.MicroTime write them (and offsets). */

static bool digits(const char *s, size_t n, int *out)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

bool kubeapi_parse_time(const char *s, size_t len, int64_t *us)
{
	int year, mon, day, hour, min, sec, frac = 0, oh, om;
	size_t i = 19, fdigits = 0;
	int64_t t, offset = 0;

	if (len < 20 || !digits(s, 4, &year) || s[4] != '-' || !digits(s + 5, 2, &mon) ||
	    s[7] != '-' || !digits(s + 8, 2, &day) || (s[10] != 'T' && s[10] != 't') ||
	    !digits(s + 11, 2, &hour) || s[13] != ':' || !digits(s + 14, 2, &min) ||
	    s[16] != ':' || !digits(s + 17, 2, &sec))
		return false;
	if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) || hour > 23 ||
	    min > 59 || sec > 59)
		return false;
	if (s[i] == '.') {
		i++;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			if (fdigits < 6)
				frac = frac * 10 + (s[i] - '0');
			fdigits++;
			i++;
		}
		if (fdigits == 0)
			return false;
		for (size_t k = fdigits; k < 6; k++)
			frac *= 10;
	}
	if (i == len - 1 && (s[i] == 'Z' || s[i] == 'z')) {
		offset = 0;
	} else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && digits(s + i + 1, 2, &oh) &&
		   s[i + 3] == ':' && digits(s + i + 4, 2, &om) && oh <= 23 && om <= 59) {
		offset = (int64_t)(oh * 60 + om) * 60;
		if (s[i] == '-')
			offset = -offset;
	} else {
		return false;
	}
	t = days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec - offset;
	*us = t * 1000000 + frac;
	return true;
}
