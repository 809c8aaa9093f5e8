/*
 * libFuzzer target for the Summary mapper (producer/collectors/kubelet/kubelet_map.c): the body
 * of a kubelet's /stats/summary → POD_STATS and NODE_STATS. The input is read as a PodList too
 * (its containers' ids join the stats), then mapped; every record must fit the hand-off, carry a
 * key, and say a kind of the schema.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kubelet_collector.h"

#define CHECK(cond)                       \
	do {                              \
		if (!(cond))              \
			__builtin_trap(); \
	} while (0)

static uint8_t scratch[HANDOFF_BODY_MAX];

static int check_record(void *ctx, const struct handoff_meta *meta, const char *key,
			size_t key_len, const void *body, size_t body_len)
{
	(void)ctx;
	(void)body;
	CHECK(meta->kind == KUBELET_POD_STATS || meta->kind == KUBELET_NODE_STATS);
	CHECK(key_len > 0 && key_len < HANDOFF_KEY_MAX && key[0]);
	CHECK(body_len > 0 && body_len <= HANDOFF_BODY_MAX);
	CHECK(memchr(meta->pod_uid, '\0', sizeof(meta->pod_uid)));
	if (meta->kind == KUBELET_POD_STATS)
		CHECK(key_len == strlen(meta->pod_uid) && !memcmp(key, meta->pod_uid, key_len));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kubelet_counts counts = { 0 };
	struct kubelet_pods pods = { 0 };
	struct kubelet_scrape s = { .duration_ms = 1 };
	struct kubelet_emit e = { .node = "node-a", .observed_us = 1, .buf = scratch,
				  .cap = sizeof(scratch), .fn = check_record, .counts = &counts };
	const char *text = (const char *)data;
	int n;

	if (kubelet_pods_parse(text, size, &pods, &counts) == 0)
		s.pods = &pods;
	n = kubelet_map_summary(text, size, &s, &e);
	CHECK(n == -EINVAL || n == -EBADMSG || n >= 1);
	kubelet_pods_free(&pods);
	return 0;
}
