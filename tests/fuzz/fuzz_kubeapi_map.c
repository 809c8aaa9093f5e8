/*
 * libFuzzer target for the kubeapi mappers (producer/collectors/kubeapi/kubeapi_map.c) and what
 * they stand on (the tokenizer, the quantity and time parsers): the API server's JSON is outside
 * input. The input is read as a watch event, as a pod and an Event, and as a List: every path must
 * end in a record within its bound or a counted skip, never a crash or a read out of bounds.
 *
 * Input: byte 0 picks the token bound (small ones exercise the too-large paths), the rest is JSON.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kubeapi_collector.h"

#define CHECK(cond)                       \
	do {                              \
		if (!(cond))              \
			__builtin_trap(); \
	} while (0)

static uint8_t body[KUBEAPI_BODY_MAX], scratch[KUBEAPI_SCRATCH_SIZE];
static char *annotations[] = { "tapio.io/team", "a", NULL };
static const struct kubeapi_map_config cfg = { .node = "node-a", .annotations = annotations };

static void check_record(enum kubeapi_skip_reason r, const struct kubeapi_record *rec,
			 const struct kubeapi_skip *skip)
{
	CHECK(r < KUBEAPI_SKIP_REASON_MAX);
	if (r != KUBEAPI_SKIP_NONE) {
		CHECK(skip->reason == r);
		CHECK(memchr(skip->field, 0, sizeof(skip->field)) != NULL);
		return;
	}
	CHECK(!rec->body.overflow);
	CHECK(rec->body.len <= KUBEAPI_BODY_MAX);
	CHECK(rec->key_len < sizeof(rec->key));
	CHECK(rec->resource_version[0] != '\0');
}

static void map_both(const struct jtok_doc *d, int obj)
{
	struct kubeapi_map_stats stats = { 0 };
	struct kubeapi_record rec;
	struct kubeapi_skip skip;
	enum kubeapi_skip_reason r;

	avro_buf_init(&rec.body, body, sizeof(body));
	r = kubeapi_map_pod(d, obj, KUBEAPI_POD_MODIFIED, 1764000000000000, &cfg, scratch, &rec,
			    &skip, &stats);
	check_record(r, &rec, &skip);
	avro_buf_init(&rec.body, body, sizeof(body));
	r = kubeapi_map_event(d, obj, KUBEAPI_EVENT, 1764000000000000, &rec, &skip, &stats);
	check_record(r, &rec, &skip);
	if (r)
		kubeapi_map_skipped(KUBEAPI_SOURCE_EVENTS, &skip, 1, &cfg, &rec);
}

static int on_item(void *ctx, const struct jtok_doc *d, int root, enum kubeapi_skip_reason why)
{
	(void)ctx;
	if (root < 0)
		CHECK(why == KUBEAPI_SKIP_TOO_LARGE || why == KUBEAPI_SKIP_NO_MEMORY);
	else
		map_both(d, root);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kubeapi_list_info info;
	enum kubeapi_watch_type type;
	struct kubeapi_skip skip;
	struct jtok_doc d;
	char rv[HANDOFF_POSITION_MAX];
	bool too_large;
	int obj;

	if (size < 1)
		return 0;
	jtok_init(&d, data[0] < 128 ? 8u + data[0] : 1u << 16, 64);
	data++;
	size--;
	if (jtok_parse(&d, (const char *)data, size) == JTOK_OK) {
		map_both(&d, 0);
		if (kubeapi_watch_event(&d, &type, &obj, &skip) == KUBEAPI_SKIP_NONE) {
			map_both(&d, obj);
			kubeapi_status_code(&d, obj, &too_large);
			if (kubeapi_object_rv(&d, obj, rv, sizeof(rv)))
				CHECK(strlen(rv) > 0 && strlen(rv) < sizeof(rv));
		}
	}
	if (kubeapi_list_scan(&d, (const char *)data, size, &info) != KUBEAPI_LIST_INVALID)
		CHECK(kubeapi_list_items(&d, (const char *)data, size, on_item, NULL) == 0);
	jtok_free(&d);
	return 0;
}
