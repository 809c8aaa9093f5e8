#include "kube_env.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int kube_env_api_url(char *url, size_t size, char *missing, size_t missing_size)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	char *end;
	long n;
	int len;

	if (!host || !*host || !port || !*port) {
		snprintf(missing, missing_size, "%s is not set (not in a cluster)",
			 !host || !*host ? "KUBERNETES_SERVICE_HOST" : "KUBERNETES_SERVICE_PORT");
		return -ENODEV;
	}
	n = strtol(port, &end, 10);
	if (*end || n < 1 || n > 65535 || strpbrk(host, "/@ ")) {
		snprintf(missing, missing_size, "KUBERNETES_SERVICE_HOST/PORT \"%s\"/\"%s\" unusable",
			 host, port);
		return -ENODEV;
	}
	len = snprintf(url, size, strchr(host, ':') ? "https://[%s]:%ld" : "https://%s:%ld", host,
		       n);
	if (len < 0 || (size_t)len >= size) {
		snprintf(missing, missing_size, "KUBERNETES_SERVICE_HOST too long");
		return -ENODEV;
	}
	return 0;
}

int kube_env_file(const char *what, const char *path, char *missing, size_t missing_size)
{
	if (access(path, R_OK) == 0)
		return 0;
	snprintf(missing, missing_size, "%s %s: %s", what, path, strerror(errno));
	return -errno;
}
