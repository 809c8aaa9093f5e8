/*
 * Where a Kubernetes client in a pod finds its cluster, as client-go's rest.InClusterConfig
 * does: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT, with the service account's
 * token and CA from /var/run/secrets/kubernetes.io/serviceaccount/. Shared by the kubeapi and
 * kubelet collectors; their own keys (kubeapi_url, kubelet_url, ...) override each part.
 */
#ifndef TAPIO_KUBE_ENV_H
#define TAPIO_KUBE_ENV_H

#include <stddef.h>

#define KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define KUBE_SA_TOKEN KUBE_SA_DIR "/token"
#define KUBE_SA_CA KUBE_SA_DIR "/ca.crt"

/* The API server's URL from the environment into url: 0, or -ENODEV when KUBERNETES_SERVICE_HOST
 * or _PORT is unset or unusable (`missing` names which). IPv6 hosts are bracketed. */
int kube_env_api_url(char *url, size_t size, char *missing, size_t missing_size);

/* 0 when `path` is a readable file, else -errno with `missing` saying "<what> <path>: <error>". */
int kube_env_file(const char *what, const char *path, char *missing, size_t missing_size);

#endif /* TAPIO_KUBE_ENV_H */
