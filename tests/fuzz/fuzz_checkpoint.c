/*
 * libFuzzer target for checkpoint files (producer/core/checkpoint.c): whatever a crash, a bad
 * disk or another program left in state_dir.
 *
 * Input: the bytes of <dir>/kubeapi.pods.checkpoint. Checks: no crash; a file that loads has a
 * position that is one printable token and a state of exactly the length it declared; storing
 * what loaded and loading it again gives the same position and state.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"

#define CHECK(cond)                      \
	do {                             \
		if (!(cond))             \
			__builtin_trap(); \
	} while (0)

static char dir[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct checkpoint_id id = { .collector = "kubeapi", .source = "pods", .node = "node-a",
				    .scope = "https://10.0.0.1:443" };
	char path[128], pos[64], pos2[64], why[256], *state = NULL, *state2 = NULL;
	size_t state_len = 0, state2_len = 0;
	int fd;

	if (!dir[0]) {
		strcpy(dir, "/tmp/tapio-fuzz-ckpt-XXXXXX");
		CHECK(mkdtemp(dir));
	}
	id.dir = dir;
	snprintf(path, sizeof(path), "%s/kubeapi.pods.checkpoint", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, data, size) == (ssize_t)size);
	close(fd);
	if (checkpoint_load(&id, pos, sizeof(pos), &state, &state_len, why, sizeof(why)) == 0) {
		CHECK(pos[0] && strlen(pos) < sizeof(pos));
		for (const char *p = pos; *p; p++)
			CHECK(*p > ' ' && *p <= '~');
		CHECK(checkpoint_store(&id, pos, state, state_len, why, sizeof(why)) == 0);
		CHECK(checkpoint_load(&id, pos2, sizeof(pos2), &state2, &state2_len, why,
				      sizeof(why)) == 0);
		CHECK(strcmp(pos, pos2) == 0 && state_len == state2_len);
		CHECK(!state_len || memcmp(state, state2, state_len) == 0);
	}
	free(state);
	free(state2);
	return 0;
}
