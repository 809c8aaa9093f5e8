/* The identity cache: hits, removal with a grace period, eviction from the open-addressing table,
 * the size bound. No root: the "cgroup root" is a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "identity.h"

static int setup(void **state)
{
	static char root[64];
	struct identity_cache *ic;
	char errstr[256];

	strcpy(root, "/tmp/tapio-identity-XXXXXX");
	assert_non_null(mkdtemp(root));
	assert_int_equal(identity_open(&ic, root, "node-a", 1, errstr, sizeof(errstr)), 0);
	*state = ic;
	return 0;
}

static int teardown(void **state)
{
	struct identity_cache *ic = *state;
	char root[64];

	snprintf(root, sizeof(root), "%s", identity_root(ic));
	identity_close(ic);
	rmdir(root);
	return 0;
}

/* Pseudo-random ids: sequential ones spread perfectly under Fibonacci hashing and would never
 * build the probe chains this test is about. */
static uint64_t id_at(uint64_t i)
{
	uint64_t x = i * 0x9e3779b97f4a7c15ull;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	return (x ^ (x >> 29)) >> 1;
}

static void path_of(uint64_t id, char *out, size_t n)
{
	snprintf(out, n, "/system.slice/unit-%llu.service", (unsigned long long)id);
}

/* Thousands of entries, every third removed and expired: the rest stay findable (the backward
 * shift after a deletion keeps probe chains whole) and the removed ones are gone. */
static void test_expire_keeps_the_rest(void **state)
{
	struct identity_cache *ic = *state;
	struct identity_stats st;
	uint64_t ids[256];
	char path[128];
	size_t n, total = 0;

	for (uint64_t id = 1; id <= 5000; id++) {
		path_of(id, path, sizeof(path));
		assert_non_null(identity_put(ic, id_at(id), path));
	}
	for (uint64_t id = 3; id <= 5000; id += 3)
		assert_non_null(identity_remove(ic, id_at(id), 100));
	/* Not yet past the grace period: nothing goes. */
	assert_int_equal(identity_expire(ic, 100, ids, 256), 0);
	while ((n = identity_expire(ic, 101, ids, 256)) > 0)
		total += n;
	assert_int_equal(total, 5000 / 3);
	for (uint64_t id = 1; id <= 5000; id++) {
		const struct identity *e;

		if (id % 3 == 0)
			continue;
		e = identity_lookup(ic, id_at(id));
		path_of(id, path, sizeof(path));
		assert_string_equal(e->path, path);
	}
	identity_get_stats(ic, &st);
	assert_int_equal(st.misses, 0);
	assert_int_equal(st.evicted, 5000 / 3);
	assert_int_equal(st.entries, 5000 - 5000 / 3);
}

static void test_keys(void **state)
{
	struct identity_cache *ic = *state;
	const struct identity *e;

	e = identity_put(ic, 42, "/kubepods.slice/kubepods-pod0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0.slice");
	assert_string_equal(e->key, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
	assert_int_equal(e->key_len, 36);
	assert_string_equal(e->node_key, "node-a/42");
	e = identity_put(ic, 43, "/system.slice/kubelet.service");
	assert_string_equal(e->key, "node-a/43");
	assert_string_equal(e->owner.unit, "kubelet.service");
	/* A removed cgroup resolves until it expires, then is a miss. */
	identity_remove(ic, 42, 10);
	assert_string_equal(identity_lookup(ic, 42)->owner.pod_uid, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
	uint64_t ids[4];
	assert_int_equal(identity_expire(ic, 11, ids, 4), 1);
	assert_int_equal(ids[0], 42);
	assert_string_equal(identity_lookup(ic, 42)->owner.pod_uid, "");
}

/* Past IDENTITY_MAX_ENTRIES: still a correct answer, but no entry, and counted. */
static void test_bound(void **state)
{
	struct identity_cache *ic = *state;
	struct identity_stats st;
	const struct identity *e;

	for (uint64_t id = 1; id <= IDENTITY_MAX_ENTRIES; id++)
		assert_non_null(identity_put(ic, id, "/a.slice"));
	e = identity_put(ic, IDENTITY_MAX_ENTRIES + 1, "/kubepods/pod0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
	assert_string_equal(e->key, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
	identity_get_stats(ic, &st);
	assert_int_equal(st.entries, IDENTITY_MAX_ENTRIES);
	assert_int_equal(st.refused, 1);
}

/* An id the kernel cannot resolve (here: not a cgroup file system at all) is counted. */
static void test_unresolved_miss(void **state)
{
	struct identity_cache *ic = *state;
	struct identity_stats st;

	assert_string_equal(identity_lookup(ic, 999)->key, "node-a/999");
	identity_get_stats(ic, &st);
	assert_int_equal(st.misses, 1);
	assert_int_equal(st.unresolved, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_expire_keeps_the_rest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unresolved_miss, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
