/* What a cgroup v2 path says about its owner: pod, QoS class, container, runtime, systemd unit. */
#ifndef TAPIO_CGROUP_PATH_H
#define TAPIO_CGROUP_PATH_H

#include <stddef.h>

enum pod_qos { QOS_NONE = 0, QOS_GUARANTEED, QOS_BURSTABLE, QOS_BESTEFFORT };

enum container_runtime {
	RUNTIME_NONE = 0,
	RUNTIME_CONTAINERD,
	RUNTIME_CRIO,
	RUNTIME_DOCKER,
	RUNTIME_PODMAN,
	RUNTIME_UNKNOWN, /* a container id in a pod cgroup with no runtime prefix (cgroupfs driver) */
};

#define POD_UID_LEN 36       /* canonical 8-4-4-4-12 lowercase form, dashes */
#define CONTAINER_ID_MAX 64  /* 64 hex digits */
#define UNIT_NAME_MAX 255

struct cgroup_owner {
	char pod_uid[POD_UID_LEN + 1];           /* "" when the path names no pod */
	enum pod_qos qos;                        /* QOS_NONE when no pod */
	char container_id[CONTAINER_ID_MAX + 1]; /* "" when the path names no container */
	enum container_runtime runtime;
	int is_conmon;                           /* crio-conmon-<id>.scope: CRI-O's monitor, not the workload */
	/*
	 * Innermost systemd unit or slice, e.g. "kubelet.service"; "" if none: the innermost component
	 * named <name>.{service,scope,slice,socket,mount}, <name> not empty, all of it at most
	 * UNIT_NAME_MAX bytes of [A-Za-z0-9:_.@\\-]. For a pod that is its container scope or pod
	 * slice; for /system.slice/foo.service/sub/dir it is "foo.service".
	 */
	char unit[UNIT_NAME_MAX + 1];
};

/*
 * Parses a cgroup path relative to the cgroup v2 root ("/kubepods.slice/..." or "kubepods/...";
 * a leading '/' is optional). Never reads past `path`'s NUL, never writes past `out`, and never
 * attributes a pod or container unless the whole component matches its expected shape; anything
 * it does not recognise is simply not attributed. Names below a container's own cgroup never
 * change its attribution (the container may write there); pods and containers under a top-level
 * user.slice are not attributed (delegated to unprivileged users); a path with a "." or ".."
 * component yields an empty *out.
 * Returns 0 (with *out filled, possibly empty), or -EINVAL for NULL arguments (*out then zeroed
 * if `out` is not NULL). The layouts recognised are listed in cgroup_path.c.
 */
int cgroup_path_parse(const char *path, struct cgroup_owner *out);

const char *pod_qos_name(enum pod_qos qos);                     /* "guaranteed", ... or NULL for none */
const char *container_runtime_name(enum container_runtime rt);  /* "containerd", ... or NULL for none */

#endif /* TAPIO_CGROUP_PATH_H */
