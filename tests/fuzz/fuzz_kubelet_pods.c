/*
 * libFuzzer target for the /pods side of the kubelet collector
 * (producer/collectors/kubelet/kubelet_pods.c): a PodList → the pods table → the state changes
 * against no state and against its own state; the state through its checkpoint text and back
 * (the same text again); and the input itself read as checkpoint state.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
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
	size_t *n = ctx;

	(void)body;
	CHECK(meta->kind >= KUBELET_POD_STATUS_SNAPSHOT &&
	      meta->kind <= KUBELET_CONTAINER_RESTARTED);
	CHECK(key_len > 0 && key_len <= KUBELET_UID_LEN);
	CHECK(key_len == strlen(meta->pod_uid) && !memcmp(key, meta->pod_uid, key_len));
	CHECK(body_len > 0 && body_len <= HANDOFF_BODY_MAX);
	(*n)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kubelet_counts counts = { 0 };
	struct kubelet_pods pods;
	struct kubelet_state first, second, back = { 0 }, raw;
	size_t records = 0, len, len2;
	struct kubelet_emit e = { .node = "node-a", .observed_us = 1, .buf = scratch,
				  .cap = sizeof(scratch), .fn = check_record, .ctx = &records,
				  .counts = &counts };
	char *text, *again;

	if (kubelet_state_parse((const char *)data, size, &raw) == 0)
		kubelet_state_free(&raw);
	if (kubelet_pods_parse((const char *)data, size, &pods, &counts) != 0)
		return 0;
	CHECK(kubelet_pods_diff(NULL, &pods, &e, &first) == 0);
	CHECK(records <= pods.npods); /* a snapshot per pod, some perhaps too large */
	records = 0;
	CHECK(kubelet_pods_diff(&first, &pods, &e, &second) == 0);
	CHECK(records == 0); /* nothing changed */
	text = kubelet_state_serialize(&second, &len);
	CHECK(text != NULL);
	CHECK(kubelet_state_parse(text, len, &back) == 0);
	again = kubelet_state_serialize(&back, &len2);
	CHECK(again && len == len2 && !memcmp(text, again, len));
	free(text);
	free(again);
	kubelet_state_free(&first);
	kubelet_state_free(&second);
	kubelet_state_free(&back);
	kubelet_pods_free(&pods);
	return 0;
}
