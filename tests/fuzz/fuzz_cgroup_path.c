/*
 * libFuzzer target for cgroup_path_parse(): paths come from the kernel and from cgroup_mkdir
 * events, whose names any process allowed to create cgroups chooses.
 *
 * clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iproducer \
 *	tests/fuzz/fuzz_cgroup_path.c producer/core/cgroup_path.c -o /tmp/fuzz_cgroup_path
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup_path.h"

/* Cgroup paths are far shorter; larger inputs only slow the fuzzer down. */
#define INPUT_MAX (128 * 1024)

#define CHECK(cond)                      \
	do {                             \
		if (!(cond))             \
			__builtin_trap(); \
	} while (0)

static int is_lhex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static void check_owner(const struct cgroup_owner *o)
{
	size_t uid_len, id_len, unit_len;

	/* Every string ends inside its own array. */
	CHECK(memchr(o->pod_uid, '\0', sizeof(o->pod_uid)));
	CHECK(memchr(o->container_id, '\0', sizeof(o->container_id)));
	CHECK(memchr(o->unit, '\0', sizeof(o->unit)));
	uid_len = strlen(o->pod_uid);
	id_len = strlen(o->container_id);
	unit_len = strlen(o->unit);

	/* A pod UID is the canonical form or nothing, and a pod always has a QoS class. */
	CHECK(uid_len == 0 || uid_len == POD_UID_LEN);
	for (size_t i = 0; i < uid_len; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			CHECK(o->pod_uid[i] == '-');
		else
			CHECK(is_lhex(o->pod_uid[i]));
	}
	CHECK((o->qos == QOS_NONE) == (uid_len == 0));
	CHECK(o->qos == QOS_NONE || pod_qos_name(o->qos) != NULL);

	/* A container id is 64 hex digits with a runtime, or nothing with none. */
	CHECK(id_len == 0 || id_len == CONTAINER_ID_MAX);
	for (size_t i = 0; i < id_len; i++)
		CHECK(is_lhex(o->container_id[i]));
	CHECK((o->runtime == RUNTIME_NONE) == (id_len == 0));
	CHECK(o->runtime == RUNTIME_NONE || container_runtime_name(o->runtime) != NULL);
	CHECK(o->is_conmon == 0 || (o->is_conmon == 1 && o->runtime == RUNTIME_CRIO));

	/* A unit never carries bytes systemd would not put in a name. */
	for (size_t i = 0; i < unit_len; i++)
		CHECK(o->unit[i] > ' ' && o->unit[i] < 0x7f && o->unit[i] != '/');
}

static int same_owner(const struct cgroup_owner *a, const struct cgroup_owner *b)
{
	return strcmp(a->pod_uid, b->pod_uid) == 0 && a->qos == b->qos &&
	       strcmp(a->container_id, b->container_id) == 0 && a->runtime == b->runtime &&
	       a->is_conmon == b->is_conmon && strcmp(a->unit, b->unit) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cgroup_owner o, again;
	char *path;

	if (size > INPUT_MAX)
		return 0;
	/* One spare byte in front for the leading-slash check below. */
	path = malloc(size + 2);
	if (!path)
		return 0;
	path[0] = '/';
	memcpy(path + 1, data, size);
	path[size + 1] = '\0';

	CHECK(cgroup_path_parse(path + 1, &o) == 0);
	check_owner(&o);

	/* The leading '/' is optional: adding one changes nothing. */
	memset(&again, 0x5a, sizeof(again));
	CHECK(cgroup_path_parse(path, &again) == 0);
	check_owner(&again);
	CHECK(same_owner(&o, &again));

	free(path);
	return 0;
}
