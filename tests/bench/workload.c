/*
 * workload: the fixed workloads of the overhead benchmark, timed from inside so process start-up
 * of the workload itself is not in the figure.
 *
 *   workload exec N [PATH]   fork + execve(PATH, default /bin/true) + wait, N times, one at a time
 *   workload connect N       TCP connect to a loopback listener, accept, close both, N times
 *
 * Prints "elapsed_ns=..." on stdout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int exec_storm(long n, const char *path)
{
	char *const argv[] = { (char *)path, NULL };
	char *const envp[] = { NULL };

	for (long i = 0; i < n; i++) {
		int status;
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			execve(path, argv, envp);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "workload: %s failed\n", path);
			return 1;
		}
	}
	return 0;
}

static int connect_loop(long n)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(addr);
	int one = 1, lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(lfd, 128) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&addr, &len) < 0) {
		perror("listen");
		return 1;
	}
	for (long i = 0; i < n; i++) {
		int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), afd;
		struct linger lg = { 1, 0 }; /* RST on close: no TIME_WAIT pile-up over a long loop */

		if (cfd < 0 || connect(cfd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
			perror("connect");
			return 1;
		}
		afd = accept(lfd, NULL, NULL);
		if (afd < 0) {
			perror("accept");
			return 1;
		}
		setsockopt(cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(cfd);
		close(afd);
	}
	close(lfd);
	return 0;
}

int main(int argc, char **argv)
{
	long n;
	int64_t t0;
	int rc;

	if (argc < 3 || (n = atol(argv[2])) <= 0) {
		fprintf(stderr, "usage: workload exec N [PATH] | workload connect N\n");
		return 2;
	}
	t0 = now_ns();
	if (!strcmp(argv[1], "exec"))
		rc = exec_storm(n, argc > 3 ? argv[3] : "/bin/true");
	else if (!strcmp(argv[1], "connect"))
		rc = connect_loop(n);
	else
		rc = 2;
	if (!rc)
		printf("elapsed_ns=%lld\n", (long long)(now_ns() - t0));
	return rc;
}
