/* Checkpoints (producer/core/checkpoint.c): round trips, atomic replacement, and files that are
 * corrupt, foreign or not files at all, each reported and never trusted. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "checkpoint.h"

static char dir[64];
static char why[512];

static struct checkpoint_id id(const char *node, const char *scope)
{
	return (struct checkpoint_id){ .dir = dir, .collector = "kubeapi", .source = "pods",
				       .node = node, .scope = scope };
}

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/tapio-ckpt-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void path_of(char *out, size_t size)
{
	snprintf(out, size, "%s/kubeapi.pods.checkpoint", dir);
}

static void test_round_trip_and_replace(void **state)
{
	struct checkpoint_id a = id("node-a", "https://10.0.0.1:443");
	char pos[64], *st;
	size_t st_len;
	struct stat sb;
	char path[128];

	(void)state;
	assert_int_equal(checkpoint_load(&a, pos, sizeof(pos), &st, &st_len, why, sizeof(why)),
			 -ENOENT);
	assert_int_equal(checkpoint_store(&a, "12345", NULL, 0, why, sizeof(why)), 0);
	assert_int_equal(checkpoint_load(&a, pos, sizeof(pos), &st, &st_len, why, sizeof(why)), 0);
	assert_string_equal(pos, "12345");
	assert_null(st);
	assert_int_equal(st_len, 0);
	/* Replaced whole, with a state of arbitrary bytes (newlines and NULs included). */
	assert_int_equal(checkpoint_store(&a, "12399", "a\nb\0c", 5, why, sizeof(why)), 0);
	assert_int_equal(checkpoint_load(&a, pos, sizeof(pos), &st, &st_len, why, sizeof(why)), 0);
	assert_string_equal(pos, "12399");
	assert_int_equal(st_len, 5);
	assert_memory_equal(st, "a\nb\0c", 5);
	free(st);
	/* No temporary file is left beside it, and only the owner can read it. */
	path_of(path, sizeof(path));
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	strcat(path, ".tmp");
	assert_int_equal(stat(path, &sb), -1);
	/* A position too long for the caller's buffer is refused, not cut. */
	assert_int_equal(checkpoint_load(&a, pos, 4, NULL, NULL, why, sizeof(why)), -EINVAL);
}

/* Every single flipped byte is caught: the header by parsing or the CRC, the state by the CRC. */
static void test_any_flipped_byte_is_refused(void **state)
{
	struct checkpoint_id a = id("node-a", "https://10.0.0.1:443");
	char pos[64], path[128], buf[512];
	ssize_t n;
	int fd;

	(void)state;
	assert_int_equal(checkpoint_store(&a, "777", "state-bytes", 11, why, sizeof(why)), 0);
	path_of(path, sizeof(path));
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_true(n > 0);
	for (ssize_t i = 0; i < n; i++) {
		buf[i] ^= 0x20;
		fd = open(path, O_WRONLY | O_TRUNC);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, buf, (size_t)n), n);
		close(fd);
		if (checkpoint_load(&a, pos, sizeof(pos), NULL, NULL, why, sizeof(why)) != -EINVAL)
			fail_msg("byte %zd flipped was accepted", i);
		buf[i] ^= 0x20;
	}
	/* Cut short: refused too. */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, buf, (size_t)n - 3), n - 3);
	close(fd);
	assert_int_equal(checkpoint_load(&a, pos, sizeof(pos), NULL, NULL, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "state length"));
}

/* A checkpoint of another node or another cluster (scope) is reported, never used. */
static void test_foreign_is_refused(void **state)
{
	struct checkpoint_id a = id("node-a", "https://10.0.0.1:443");
	struct checkpoint_id other_node = id("node-b", "https://10.0.0.1:443");
	struct checkpoint_id other_scope = id("node-a", "https://10.9.9.9:443");
	char pos[64];

	(void)state;
	assert_int_equal(checkpoint_store(&a, "5", NULL, 0, why, sizeof(why)), 0);
	assert_int_equal(checkpoint_load(&other_node, pos, sizeof(pos), NULL, NULL, why,
					 sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "node node-a, not node-b"));
	assert_int_equal(checkpoint_load(&other_scope, pos, sizeof(pos), NULL, NULL, why,
					 sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "scope https://10.0.0.1:443, not https://10.9.9.9:443"));
}

/* Not a regular file (a FIFO would block a reader forever; a directory), not a checkpoint at
 * all, a name that is not one token: refused with a reason. */
static void test_not_a_checkpoint(void **state)
{
	struct checkpoint_id a = id("node-a", "s");
	struct checkpoint_id bad = id("node a", "s");
	char pos[64], path[128];
	FILE *f;

	(void)state;
	path_of(path, sizeof(path));
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(checkpoint_load(&a, pos, sizeof(pos), NULL, NULL, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "not a regular file"));
	unlink(path);
	f = fopen(path, "w");
	fputs("{\"resourceVersion\": \"5\"}\n", f);
	fclose(f);
	assert_int_equal(checkpoint_load(&a, pos, sizeof(pos), NULL, NULL, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "not a checkpoint file"));
	assert_int_equal(checkpoint_store(&bad, "5", NULL, 0, why, sizeof(why)), -EINVAL);
	assert_int_equal(checkpoint_store(&a, "5 6", NULL, 0, why, sizeof(why)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip_and_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_any_flipped_byte_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_checkpoint, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
