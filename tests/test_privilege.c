/* Least privilege (producer/core/privilege.c), in a forked child: what it keeps, what the seccomp
 * filter refuses and what it lets through (threads, BPF map access, ordinary I/O). */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <cmocka.h>

#include "privilege.h"

/* In the child: a failed check exits with the line number, for the parent to report. */
#define EXPECT(cond)                       \
	do {                               \
		if (!(cond))               \
			_exit(__LINE__ % 250 + 1); \
	} while (0)

static uint64_t status_hex(const char *field)
{
	char line[256];
	uint64_t v = UINT64_MAX;
	size_t n = strlen(field);
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return v;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':')
			v = strtoull(line + n + 1, NULL, 16);
	fclose(f);
	return v;
}

static void *thread_main(void *arg)
{
	return arg;
}

static void child(void)
{
	struct privilege_state st;
	pthread_t t;
	void *ret = NULL;
	uint32_t key = 0;
	uint64_t value = 0, before = status_hex("CapPrm");
	int map = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t", 4, 8, 1, NULL);
	char *argv[] = { "/bin/true", NULL };

	privilege_drop(&st);
	EXPECT(st.no_new_privs && st.seccomp);
	EXPECT(status_hex("NoNewPrivs") == 1 && status_hex("Seccomp") == 2);
	/* Only what runtime work needs, and only from what there was. */
	EXPECT((st.kept & ~(1ull << CAP_DAC_READ_SEARCH | 1ull << 39 | 1ull << CAP_SYS_ADMIN)) == 0);
	EXPECT((st.kept & ~before) == 0);
	EXPECT(status_hex("CapEff") == st.kept && status_hex("CapPrm") == st.kept);
	if (before & (1ull << CAP_DAC_READ_SEARCH))
		EXPECT(st.kept & (1ull << CAP_DAC_READ_SEARCH));
	if (st.bounding_dropped)
		EXPECT(status_hex("CapBnd") == st.kept);
	EXPECT(st.threads == 1 && st.threads_privileged == 0);

	/* Refused. */
	errno = 0;
	EXPECT(execv(argv[0], argv) < 0 && errno == EPERM);
	EXPECT(unshare(CLONE_NEWUSER) < 0 && errno == EPERM);
	EXPECT(syscall(SYS_clone3, NULL, 0) < 0 && errno == ENOSYS);
	EXPECT(mount("none", "/tmp", "tmpfs", 0, NULL) < 0 && errno == EPERM);
	EXPECT(bpf_map_create(BPF_MAP_TYPE_ARRAY, "t2", 4, 8, 1, NULL) < 0 && errno == EPERM);
	EXPECT(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0) < 0 && errno == EPERM);
	/* Let through: threads (clone3 refused, glibc falls back to clone), map access, files. */
	EXPECT(pthread_create(&t, NULL, thread_main, (void *)&key) == 0);
	EXPECT(pthread_join(t, &ret) == 0 && ret == &key);
	if (map >= 0) {
		EXPECT(bpf_map_update_elem(map, &key, &value, 0) == 0);
		EXPECT(bpf_map_lookup_elem(map, &key, &value) == 0);
	}
	EXPECT(open("/proc/self/status", O_RDONLY | O_CLOEXEC) >= 0);
	_exit(0);
}

static void test_drop_in_a_child(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		child();
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status))
		fail_msg("child failed the check at line %d of tests/test_privilege.c (mod 250)",
			 WEXITSTATUS(status) - 1);
}

/* privilege_drop_thread(): the calling thread, and threads it starts, hold nothing. */
static uint64_t thread_status_hex(const char *field)
{
	char line[256];
	uint64_t v = UINT64_MAX;
	size_t n = strlen(field);
	FILE *f = fopen("/proc/thread-self/status", "re");

	if (!f)
		return v;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':')
			v = strtoull(line + n + 1, NULL, 16);
	fclose(f);
	return v;
}

static void *grandchild_thread(void *arg)
{
	uint64_t *seen = arg;

	seen[0] = thread_status_hex("CapPrm");
	seen[1] = thread_status_hex("CapBnd");
	seen[2] = thread_status_hex("NoNewPrivs");
	return NULL;
}

static void *capless_thread(void *arg)
{
	uint64_t *seen = arg;
	pthread_t t;

	seen[3] = (uint64_t)privilege_drop_thread();
	if (pthread_create(&t, NULL, grandchild_thread, seen) == 0)
		pthread_join(t, NULL);
	return NULL;
}

static void test_capless_thread(void **state)
{
	uint64_t seen[4] = { 1, 1, 0, 1 };
	pthread_t t;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, capless_thread, seen), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(seen[3], 0);
	assert_int_equal(seen[0], 0); /* inherited: no capability */
	assert_int_equal(seen[1], 0);
	assert_int_equal(seen[2], 1);
	/* The test's own thread keeps what it had: capabilities are per thread. */
	if (geteuid() == 0)
		assert_int_not_equal(thread_status_hex("CapPrm"), 0);
}

static void test_names(void **state)
{
	char buf[128];

	(void)state;
	privilege_names(1ull << CAP_DAC_READ_SEARCH | 1ull << 39, buf, sizeof(buf));
	assert_string_equal(buf, "CAP_DAC_READ_SEARCH, CAP_BPF");
	privilege_names(0, buf, sizeof(buf));
	assert_string_equal(buf, "none");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drop_in_a_child),
		cmocka_unit_test(test_capless_thread),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
