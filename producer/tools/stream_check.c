/* Gaps, duplicates and LOSS accounting per (topic, node, run) (see stream_check.h). */
#include "stream_check.h"

#include <errno.h>
#include <inttypes.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

/* Distinct loss stages kept per stream; more (a future schema's) add up under "(other)", the
 * last slot. */
#define STAGES_MAX 16
#define STAGE_NAME_MAX 24

struct stage_count {
	char name[STAGE_NAME_MAX];
	uint64_t count;
};

struct stream {
	size_t topic;
	int64_t run;
	char *node; /* NUL-terminated copy; node_len bytes (a node name may hold NUL) */
	size_t node_len;
	uint64_t records;    /* every record with a valid seq, duplicates included */
	uint64_t duplicates; /* records beyond the first with their seq */
	uint64_t loss_records;
	struct seq_set seen, dup;
	struct stage_count stages[STAGES_MAX];
	size_t n_stages;
};

struct topic_stats {
	char *name;
	uint64_t tombstones, undecodable, invalid;
};

struct stream_check {
	struct topic_stats *topics;
	size_t n_topics;
	void *tree;      /* tsearch() index of streams */
	struct stream **streams;
	size_t n_streams, cap_streams;
	struct stream *last; /* the stream of the previous record: most often the next one's */
};

int seq_set_add(struct seq_set *s, int64_t v, bool *present)
{
	size_t lo = 0, hi = s->n, i;
	bool left, right;

	*present = false;
	/* Records mostly come in order: past the last range. */
	if (s->n && s->r[s->n - 1].hi < v) {
		lo = s->n;
	} else {
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (s->r[mid].lo <= v)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	i = lo; /* the first range starting after v */
	if (i > 0 && s->r[i - 1].hi >= v) {
		*present = true;
		return 0;
	}
	/* r[i-1].hi < v and r[i].lo > v: neither +1 nor -1 overflows. */
	left = i > 0 && s->r[i - 1].hi + 1 == v;
	right = i < s->n && s->r[i].lo - 1 == v;
	if (left && right) {
		s->r[i - 1].hi = s->r[i].hi;
		memmove(&s->r[i], &s->r[i + 1], (s->n - i - 1) * sizeof(*s->r));
		s->n--;
	} else if (left) {
		s->r[i - 1].hi = v;
	} else if (right) {
		s->r[i].lo = v;
	} else {
		if (s->n == s->cap) {
			size_t cap = s->cap ? 2 * s->cap : 4;
			struct seq_range *r = realloc(s->r, cap * sizeof(*r));

			if (!r)
				return -ENOMEM;
			s->r = r;
			s->cap = cap;
		}
		memmove(&s->r[i + 1], &s->r[i], (s->n - i) * sizeof(*s->r));
		s->r[i] = (struct seq_range){ v, v };
		s->n++;
	}
	return 0;
}

void seq_set_free(struct seq_set *s)
{
	free(s->r);
	*s = (struct seq_set){ 0 };
}

static int stream_cmp(const void *a, const void *b)
{
	const struct stream *x = a, *y = b;
	int c;

	if (x->topic != y->topic)
		return x->topic < y->topic ? -1 : 1;
	c = memcmp(x->node, y->node, x->node_len < y->node_len ? x->node_len : y->node_len);
	if (c)
		return c;
	if (x->node_len != y->node_len)
		return x->node_len < y->node_len ? -1 : 1;
	if (x->run != y->run)
		return x->run < y->run ? -1 : 1;
	return 0;
}

static void stream_free(struct stream *st)
{
	if (!st)
		return;
	seq_set_free(&st->seen);
	seq_set_free(&st->dup);
	free(st->node);
	free(st);
}

int stream_check_new(const char *const *topics, size_t n_topics, struct stream_check **out)
{
	struct stream_check *sc = calloc(1, sizeof(*sc));

	if (!sc || !(sc->topics = calloc(n_topics ? n_topics : 1, sizeof(*sc->topics))))
		goto fail;
	for (; sc->n_topics < n_topics; sc->n_topics++)
		if (!(sc->topics[sc->n_topics].name = strdup(topics[sc->n_topics])))
			goto fail;
	*out = sc;
	return 0;
fail:
	stream_check_free(sc);
	return -ENOMEM;
}

static void no_free(void *p)
{
	(void)p; /* the streams array owns them */
}

void stream_check_free(struct stream_check *sc)
{
	if (!sc)
		return;
	tdestroy(sc->tree, no_free);
	for (size_t i = 0; i < sc->n_streams; i++)
		stream_free(sc->streams[i]);
	for (size_t i = 0; i < sc->n_topics; i++)
		free(sc->topics[i].name);
	free(sc->streams);
	free(sc->topics);
	free(sc);
}

/* The stream of (topic, node, run), made when new; NULL when out of memory. */
static struct stream *find_stream(struct stream_check *sc, size_t topic,
				  const struct record_envelope *env)
{
	struct stream key = { .topic = topic, .run = env->run, .node = (char *)env->node,
			      .node_len = env->node_len };
	struct stream *st, **found;

	if (sc->last && stream_cmp(sc->last, &key) == 0)
		return sc->last;
	found = tfind(&key, &sc->tree, stream_cmp);
	if (found)
		return sc->last = *found;
	if (sc->n_streams == sc->cap_streams) {
		size_t cap = sc->cap_streams ? 2 * sc->cap_streams : 16;
		struct stream **p = realloc(sc->streams, cap * sizeof(*p));

		if (!p)
			return NULL;
		sc->streams = p;
		sc->cap_streams = cap;
	}
	if (!(st = calloc(1, sizeof(*st))) || !(st->node = malloc(env->node_len + 1)))
		goto fail;
	memcpy(st->node, env->node, env->node_len);
	st->node[env->node_len] = '\0';
	st->node_len = env->node_len;
	st->topic = topic;
	st->run = env->run;
	if (!tsearch(st, &sc->tree, stream_cmp))
		goto fail;
	sc->streams[sc->n_streams++] = st;
	return sc->last = st;
fail:
	stream_free(st);
	return NULL;
}

#define OTHER_STAGES "(other)"

/* The count of stage `name` in st, made when new; the last slot collects stages beyond it. */
static struct stage_count *stage_slot(struct stream *st, const char *name)
{
	struct stage_count *sl;

	if (strlen(name) >= STAGE_NAME_MAX)
		name = OTHER_STAGES;
	for (size_t i = 0; i < st->n_stages; i++)
		if (!strcmp(st->stages[i].name, name))
			return &st->stages[i];
	if (st->n_stages < STAGES_MAX - 1 || !strcmp(name, OTHER_STAGES)) {
		sl = &st->stages[st->n_stages++];
		snprintf(sl->name, sizeof(sl->name), "%s", name);
		return sl;
	}
	return stage_slot(st, OTHER_STAGES);
}

int stream_check_add(struct stream_check *sc, size_t topic, const struct record_envelope *env)
{
	struct stream *st;
	bool present, again;
	int err;

	if (topic >= sc->n_topics)
		return -EINVAL;
	if (env->seq < 1) {
		sc->topics[topic].invalid++;
		return 0;
	}
	if (!(st = find_stream(sc, topic, env)))
		return -ENOMEM;
	if ((err = seq_set_add(&st->seen, env->seq, &present)))
		return err;
	if (present) {
		if ((err = seq_set_add(&st->dup, env->seq, &again)))
			return err;
		st->duplicates++;
	}
	st->records++;
	/* A duplicate LOSS record reports the same losses again: count them once. */
	if (env->loss_stage && !present) {
		struct stream *owner = st;

		st->loss_records++;
		/* Records of another run (spooled by it, evicted in this one): that run's gaps. */
		if (env->loss_run && env->loss_run != env->run) {
			struct record_envelope of_run = *env;

			of_run.run = env->loss_run;
			if (!(owner = find_stream(sc, topic, &of_run)))
				return -ENOMEM;
		}
		/* A negative count is nonsense from the writer: it accounts for nothing. */
		if (env->loss_count > 0)
			stage_slot(owner, env->loss_stage)->count += (uint64_t)env->loss_count;
	}
	return 0;
}

void stream_check_tombstone(struct stream_check *sc, size_t topic)
{
	if (topic < sc->n_topics)
		sc->topics[topic].tombstones++;
}

void stream_check_undecodable(struct stream_check *sc, size_t topic)
{
	if (topic < sc->n_topics)
		sc->topics[topic].undecodable++;
}

/* What a stream's sets say, computed for the report. */
struct verdict {
	uint64_t distinct, missing, missing_ranges, dup_seqs, accounted, unaccounted, excess;
	uint64_t gap_stage; /* the DELIVERY and SPOOL_EVICTED counts */
};

/* The i-th missing range of a set (seqs start at 1); false past the last. */
static bool missing_range(const struct seq_set *s, size_t i, struct seq_range *out)
{
	bool head = s->n && s->r[0].lo > 1;

	if (head && i == 0) {
		*out = (struct seq_range){ 1, s->r[0].lo - 1 };
		return true;
	}
	i += !head; /* the gap before range i, i >= 1 */
	if (i >= s->n)
		return false;
	*out = (struct seq_range){ s->r[i - 1].hi + 1, s->r[i].lo - 1 };
	return true;
}

static struct verdict judge(const struct stream *st)
{
	struct verdict v = { 0 };
	struct seq_range r;

	for (size_t i = 0; i < st->seen.n; i++)
		v.distinct += (uint64_t)(st->seen.r[i].hi - st->seen.r[i].lo) + 1;
	for (size_t i = 0; missing_range(&st->seen, i, &r); i++) {
		v.missing += (uint64_t)(r.hi - r.lo) + 1;
		v.missing_ranges++;
	}
	for (size_t i = 0; i < st->dup.n; i++)
		v.dup_seqs += (uint64_t)(st->dup.r[i].hi - st->dup.r[i].lo) + 1;
	for (size_t i = 0; i < st->n_stages; i++)
		if (!strcmp(st->stages[i].name, CHECK_GAP_STAGE) ||
		    !strcmp(st->stages[i].name, CHECK_GAP_STAGE_SPOOL))
			v.gap_stage += st->stages[i].count;
	v.accounted = v.missing < v.gap_stage ? v.missing : v.gap_stage;
	v.unaccounted = v.missing - v.accounted;
	v.excess = v.gap_stage - v.accounted;
	return v;
}

/* Writing: every fprintf's failure shows in ferror() at the end. */

/* The node name for people: bytes outside printable ASCII as \xHH. */
static void put_name(FILE *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x21 && c <= 0x7e && c != '\\')
			fputc(c, out);
		else
			fprintf(out, "\\x%02x", c);
	}
}

static void put_run_time(FILE *out, int64_t run)
{
	time_t secs = (time_t)(run / 1000000);
	struct tm tm;
	char buf[32];

	if (run <= 0) {
		fputs(" (no run: written by a producer before the run field)", out);
		return;
	}
	if (gmtime_r(&secs, &tm) && strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm))
		fprintf(out, " (started %s.%06" PRId64 "Z)", buf, run % 1000000);
}

static void put_range(FILE *out, const struct seq_range *r, bool first)
{
	fputs(first ? " " : ", ", out);
	if (r->lo == r->hi)
		fprintf(out, "%" PRId64, r->lo);
	else
		fprintf(out, "%" PRId64 "-%" PRId64, r->lo, r->hi);
}

static void text_stream(FILE *out, const struct stream_check *sc, const struct stream *st,
			const struct verdict *v)
{
	struct seq_range r;
	size_t i;

	fprintf(out, "%s node ", sc->topics[st->topic].name);
	put_name(out, st->node, st->node_len);
	fprintf(out, " run %" PRId64, st->run);
	put_run_time(out, st->run);
	fprintf(out, ": %" PRIu64 " records, seq %" PRId64 "..%" PRId64 "\n", v->distinct,
		st->seen.r[0].lo, st->seen.r[st->seen.n - 1].hi);
	if (v->missing) {
		fprintf(out, "  missing %" PRIu64 ":", v->missing);
		for (i = 0; i < CHECK_RANGES_SHOWN && missing_range(&st->seen, i, &r); i++)
			put_range(out, &r, i == 0);
		if (v->missing_ranges > i)
			fprintf(out, " and %" PRIu64 " more ranges", v->missing_ranges - i);
		fputc('\n', out);
	}
	if (st->duplicates) {
		fprintf(out, "  duplicates %" PRIu64 " (of %" PRIu64 " seq):", st->duplicates,
			v->dup_seqs);
		for (i = 0; i < CHECK_RANGES_SHOWN && i < st->dup.n; i++)
			put_range(out, &st->dup.r[i], i == 0);
		if (st->dup.n > i)
			fprintf(out, " and %zu more ranges", st->dup.n - i);
		fputc('\n', out);
	}
	if (st->loss_records || st->n_stages) {
		fprintf(out, "  LOSS records %" PRIu64 ", counting", st->loss_records);
		for (i = 0; i < st->n_stages; i++)
			fprintf(out, "%s %s %" PRIu64, i ? "," : "", st->stages[i].name,
				st->stages[i].count);
		fputc('\n', out);
	}
	if (v->unaccounted)
		fprintf(out, "  FAILED: %" PRIu64 " missing records no LOSS record accounts for "
			"(%s and %s count %" PRIu64 ")\n", v->unaccounted, CHECK_GAP_STAGE,
			CHECK_GAP_STAGE_SPOOL, v->gap_stage);
	else if (v->missing)
		fprintf(out, "  ok: %s and %s LOSS records account for the %" PRIu64 " missing\n",
			CHECK_GAP_STAGE, CHECK_GAP_STAGE_SPOOL, v->missing);
	if (v->excess && st->seen.n)
		fprintf(out, "  note: %s and %s count %" PRIu64 " more than are missing (lost after "
			"seq %" PRId64 ", or written after all)\n", CHECK_GAP_STAGE,
			CHECK_GAP_STAGE_SPOOL, v->excess, st->seen.r[st->seen.n - 1].hi);
	else if (v->excess)
		fprintf(out, "  note: %s and %s count %" PRIu64 " records of this run, none of which "
			"arrived\n", CHECK_GAP_STAGE, CHECK_GAP_STAGE_SPOOL, v->excess);
}

/* Takes the reference to `v`; false when out of memory. */
static bool put(json_t *obj, const char *key, json_t *v)
{
	return v && json_object_set_new_nocheck(obj, key, v) == 0;
}

static bool put_u64(json_t *obj, const char *key, uint64_t n)
{
	/* json_int_t is 64-bit signed: counts beyond it cannot occur in a real topic. */
	return put(obj, key, json_integer(n > INT64_MAX ? INT64_MAX : (json_int_t)n));
}

static json_t *json_range(const struct seq_range *r)
{
	return json_pack("[II]", (json_int_t)r->lo, (json_int_t)r->hi);
}

/* Like put(), but `v` stays the caller's. */
static bool put_ref(json_t *obj, const char *key, json_t *v)
{
	return v && json_object_set_nocheck(obj, key, v) == 0;
}

static json_t *json_stream(const struct stream_check *sc, const struct stream *st,
			   const struct verdict *v)
{
	json_t *o = json_object(), *missing = json_array(), *dups = json_array();
	json_t *loss = json_object();
	struct seq_range r;
	bool ok = o && missing && dups && loss;

	for (size_t i = 0; ok && i < CHECK_RANGES_SHOWN && missing_range(&st->seen, i, &r); i++)
		ok = !json_array_append_new(missing, json_range(&r));
	for (size_t i = 0; ok && i < CHECK_RANGES_SHOWN && i < st->dup.n; i++)
		ok = !json_array_append_new(dups, json_range(&st->dup.r[i]));
	for (size_t i = 0; ok && i < st->n_stages; i++)
		ok = put_u64(loss, st->stages[i].name, st->stages[i].count);
	ok = ok && put(o, "type", json_string("stream")) &&
	     put(o, "topic", json_string(sc->topics[st->topic].name)) &&
	     put(o, "node", avro_json_text(st->node, st->node_len)) &&
	     put(o, "run", json_integer(st->run)) && put_u64(o, "records", st->records) &&
	     put_u64(o, "distinct", v->distinct) &&
	     put(o, "first_seq", json_integer(st->seen.r[0].lo)) &&
	     put(o, "last_seq", json_integer(st->seen.r[st->seen.n - 1].hi)) &&
	     put_u64(o, "missing", v->missing) && put_ref(o, "missing_ranges", missing) &&
	     put_u64(o, "missing_ranges_total", v->missing_ranges) &&
	     put_u64(o, "duplicates", st->duplicates) && put_ref(o, "duplicate_ranges", dups) &&
	     put_u64(o, "duplicate_ranges_total", st->dup.n) &&
	     put_u64(o, "loss_records", st->loss_records) && put_ref(o, "loss", loss) &&
	     put_u64(o, "accounted", v->accounted) && put_u64(o, "unaccounted", v->unaccounted) &&
	     put(o, "ok", json_boolean(!v->unaccounted));
	json_decref(missing);
	json_decref(dups);
	json_decref(loss);
	if (ok)
		return o;
	json_decref(o);
	return NULL;
}

static int emit(FILE *out, json_t *line)
{
	int err = 0;

	if (!line)
		return -ENOMEM;
	if (json_dumpf(line, out, JSON_COMPACT | JSON_PRESERVE_ORDER) || fputc('\n', out) == EOF)
		err = -EIO;
	json_decref(line);
	return err;
}

static int stream_ptr_cmp(const void *a, const void *b)
{
	return stream_cmp(*(struct stream *const *)a, *(struct stream *const *)b);
}

/* What one topic adds up to. */
struct topic_totals {
	uint64_t streams, records, distinct, missing, unaccounted, duplicates;
};

static bool topic_ok(const struct topic_stats *t, const struct topic_totals *tt)
{
	return !tt->unaccounted && !t->undecodable && !t->invalid;
}

static void text_topic(FILE *out, const struct topic_stats *t, const struct topic_totals *tt)
{
	fprintf(out, "%s: ", t->name);
	if (tt->streams)
		fprintf(out, "%" PRIu64 " stream%s, %" PRIu64 " records, %" PRIu64 " missing (%"
			PRIu64 " unaccounted), %" PRIu64 " duplicates", tt->streams,
			tt->streams == 1 ? "" : "s", tt->distinct, tt->missing, tt->unaccounted,
			tt->duplicates);
	else
		fputs("no records", out);
	if (t->tombstones)
		fprintf(out, ", %" PRIu64 " tombstones", t->tombstones);
	fputc('\n', out);
	if (t->undecodable)
		fprintf(out, "  FAILED: %" PRIu64 " records could not be decoded (their seq is "
			"unknown)\n", t->undecodable);
	if (t->invalid)
		fprintf(out, "  FAILED: %" PRIu64 " records with a seq below 1\n", t->invalid);
}

static json_t *json_topic(const struct topic_stats *t, const struct topic_totals *tt)
{
	json_t *o = json_object();

	if (o && put(o, "type", json_string("topic")) && put(o, "topic", json_string(t->name)) &&
	    put_u64(o, "streams", tt->streams) && put_u64(o, "records", tt->records) &&
	    put_u64(o, "distinct", tt->distinct) &&
	    put_u64(o, "missing", tt->missing) && put_u64(o, "unaccounted", tt->unaccounted) &&
	    put_u64(o, "duplicates", tt->duplicates) && put_u64(o, "tombstones", t->tombstones) &&
	    put_u64(o, "undecodable", t->undecodable) && put_u64(o, "invalid", t->invalid) &&
	    put(o, "ok", json_boolean(topic_ok(t, tt))))
		return o;
	json_decref(o);
	return NULL;
}

static void text_summary(FILE *out, const struct stream_check *sc, const struct check_summary *s)
{
	fprintf(out, "check: %s: %zu topic%s, %" PRIu64 " stream%s, %" PRIu64 " records",
		s->ok ? "ok" : "FAILED", sc->n_topics, sc->n_topics == 1 ? "" : "s", s->streams,
		s->streams == 1 ? "" : "s", s->distinct);
	if (s->missing)
		fprintf(out, "; %" PRIu64 " missing, %" PRIu64 " of them accounted for by %s and %s "
			"LOSS records", s->missing, s->missing - s->unaccounted, CHECK_GAP_STAGE,
			CHECK_GAP_STAGE_SPOOL);
	if (s->duplicates)
		fprintf(out, "; %" PRIu64 " duplicates", s->duplicates);
	if (s->undecodable)
		fprintf(out, "; %" PRIu64 " undecodable", s->undecodable);
	if (s->invalid)
		fprintf(out, "; %" PRIu64 " with an invalid seq", s->invalid);
	fputc('\n', out);
}

static json_t *json_summary(const struct stream_check *sc, const struct check_summary *s)
{
	json_t *o = json_object();

	if (o && put(o, "type", json_string("summary")) && put_u64(o, "topics", sc->n_topics) &&
	    put_u64(o, "streams", s->streams) && put_u64(o, "records", s->records) &&
	    put_u64(o, "distinct", s->distinct) &&
	    put_u64(o, "missing", s->missing) && put_u64(o, "unaccounted", s->unaccounted) &&
	    put_u64(o, "duplicates", s->duplicates) && put_u64(o, "tombstones", s->tombstones) &&
	    put_u64(o, "undecodable", s->undecodable) && put_u64(o, "invalid", s->invalid) &&
	    put(o, "ok", json_boolean(s->ok)))
		return o;
	json_decref(o);
	return NULL;
}

int stream_check_report(const struct stream_check *sc, FILE *out, enum check_format format,
			struct check_summary *sum)
{
	struct stream **order = NULL;
	size_t next = 0;
	int err = 0;

	*sum = (struct check_summary){ .streams = sc->n_streams };
	if (sc->n_streams) {
		if (!(order = malloc(sc->n_streams * sizeof(*order))))
			return -ENOMEM;
		memcpy(order, sc->streams, sc->n_streams * sizeof(*order));
		qsort(order, sc->n_streams, sizeof(*order), stream_ptr_cmp);
	}
	/* Topic by topic in the order given: its streams (sorted by node, then run), then it. */
	for (size_t t = 0; t < sc->n_topics && !err; t++) {
		const struct topic_stats *ts = &sc->topics[t];
		struct topic_totals tt = { 0 };

		for (; next < sc->n_streams && order[next]->topic == t && !err; next++) {
			const struct stream *st = order[next];
			struct verdict v = judge(st);

			tt.streams++;
			tt.records += st->records;
			tt.distinct += v.distinct;
			tt.missing += v.missing;
			tt.unaccounted += v.unaccounted;
			tt.duplicates += st->duplicates;
			if (format == CHECK_JSON)
				err = emit(out, json_stream(sc, st, &v));
			else
				text_stream(out, sc, st, &v);
		}
		sum->records += tt.records;
		sum->distinct += tt.distinct;
		sum->missing += tt.missing;
		sum->unaccounted += tt.unaccounted;
		sum->duplicates += tt.duplicates;
		sum->tombstones += ts->tombstones;
		sum->undecodable += ts->undecodable;
		sum->invalid += ts->invalid;
		if (err)
			break;
		if (format == CHECK_JSON)
			err = emit(out, json_topic(ts, &tt));
		else
			text_topic(out, ts, &tt);
	}
	sum->ok = !sum->unaccounted && !sum->undecodable && !sum->invalid;
	if (!err) {
		if (format == CHECK_JSON)
			err = emit(out, json_summary(sc, sum));
		else
			text_summary(out, sc, sum);
	}
	free(order);
	if (!err && (fflush(out) || ferror(out)))
		err = -EIO;
	return err;
}
