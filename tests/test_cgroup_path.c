/* cgroup_path_parse(): one row per real layout and per hostile shape, plus generated huge paths. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cgroup_path.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A pod UID in both spellings, a second pod, and container ids. */
#define U "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define U_ "0a1b2c3d_4e5f_4a6b_8c7d_9e0f1a2b3c4d"
#define U2 "f00dcafe-1234-4bcd-9abc-def012345678"
#define U2_ "f00dcafe_1234_4bcd_9abc_def012345678"
#define C "a4c123b1612dd272d1371c17149d439536b3216fdaeeb975729fae923d5a4fd1"
#define C2 "2aabfe228f219e9cb0eb53f16947ccf25ec84d8dbc74254770f58904dba41ecc"
#define C63 "a4c123b1612dd272d1371c17149d439536b3216fdaeeb975729fae923d5a4fd"
#define C65 C "0"
#define C12 "a4c123b1612d"

_Static_assert(sizeof(U) == POD_UID_LEN + 1 && sizeof(U_) == sizeof(U), "pod uid length");
_Static_assert(sizeof(U2) == POD_UID_LEN + 1 && sizeof(U2_) == sizeof(U2), "pod uid length");
_Static_assert(sizeof(C) == CONTAINER_ID_MAX + 1 && sizeof(C2) == sizeof(C), "container id length");
_Static_assert(sizeof(C63) == CONTAINER_ID_MAX && sizeof(C65) == CONTAINER_ID_MAX + 2, "id length");

/* Prefixes of the systemd layout. */
#define SD_BU "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" U_ ".slice"
#define SD_BE "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" U_ ".slice"
#define SD_GU "/kubepods.slice/kubepods-pod" U_ ".slice"

struct row {
	const char *name;
	const char *path;
	const char *pod_uid;
	enum pod_qos qos;
	const char *container_id;
	enum container_runtime runtime;
	int is_conmon;
	const char *unit;
};

#define NONE_ "", QOS_NONE
#define NOCTR "", RUNTIME_NONE, 0

static const struct row rows[] = {
	/* systemd cgroup driver */
	{ "sd burstable containerd", SD_BU "/cri-containerd-" C ".scope",
	  U, QOS_BURSTABLE, C, RUNTIME_CONTAINERD, 0, "cri-containerd-" C ".scope" },
	{ "sd besteffort containerd", SD_BE "/cri-containerd-" C ".scope",
	  U, QOS_BESTEFFORT, C, RUNTIME_CONTAINERD, 0, "cri-containerd-" C ".scope" },
	{ "sd guaranteed containerd", SD_GU "/cri-containerd-" C ".scope",
	  U, QOS_GUARANTEED, C, RUNTIME_CONTAINERD, 0, "cri-containerd-" C ".scope" },
	{ "sd burstable crio", SD_BU "/crio-" C ".scope",
	  U, QOS_BURSTABLE, C, RUNTIME_CRIO, 0, "crio-" C ".scope" },
	{ "sd burstable crio conmon", SD_BU "/crio-conmon-" C ".scope",
	  U, QOS_BURSTABLE, C, RUNTIME_CRIO, 1, "crio-conmon-" C ".scope" },
	{ "sd guaranteed crio conmon", SD_GU "/crio-conmon-" C ".scope",
	  U, QOS_GUARANTEED, C, RUNTIME_CRIO, 1, "crio-conmon-" C ".scope" },
	{ "sd besteffort docker", SD_BE "/docker-" C ".scope",
	  U, QOS_BESTEFFORT, C, RUNTIME_DOCKER, 0, "docker-" C ".scope" },
	{ "sd burstable podman", SD_BU "/libpod-" C ".scope",
	  U, QOS_BURSTABLE, C, RUNTIME_PODMAN, 0, "libpod-" C ".scope" },
	{ "sd pod slice alone", SD_BU,
	  U, QOS_BURSTABLE, NOCTR, "kubepods-burstable-pod" U_ ".slice" },
	{ "sd guaranteed pod slice alone", SD_GU,
	  U, QOS_GUARANTEED, NOCTR, "kubepods-pod" U_ ".slice" },
	{ "sd besteffort pod slice trailing slash", SD_BE "/",
	  U, QOS_BESTEFFORT, NOCTR, "kubepods-besteffort-pod" U_ ".slice" },
	{ "sd pause container is just a container", SD_BE "/cri-containerd-" C2 ".scope",
	  U, QOS_BESTEFFORT, C2, RUNTIME_CONTAINERD, 0, "cri-containerd-" C2 ".scope" },
	{ "sd no leading slash", "kubepods.slice/kubepods-pod" U_ ".slice/crio-" C ".scope",
	  U, QOS_GUARANTEED, C, RUNTIME_CRIO, 0, "crio-" C ".scope" },

	/* cgroupfs cgroup driver */
	{ "fs burstable bare id", "/kubepods/burstable/pod" U "/" C,
	  U, QOS_BURSTABLE, C, RUNTIME_UNKNOWN, 0, "" },
	{ "fs besteffort bare id", "/kubepods/besteffort/pod" U "/" C,
	  U, QOS_BESTEFFORT, C, RUNTIME_UNKNOWN, 0, "" },
	{ "fs guaranteed bare id", "/kubepods/pod" U "/" C,
	  U, QOS_GUARANTEED, C, RUNTIME_UNKNOWN, 0, "" },
	{ "fs docker prefix", "/kubepods/burstable/pod" U "/docker-" C,
	  U, QOS_BURSTABLE, C, RUNTIME_DOCKER, 0, "" },
	{ "fs crio prefix", "/kubepods/pod" U "/crio-" C,
	  U, QOS_GUARANTEED, C, RUNTIME_CRIO, 0, "" },
	{ "fs crio conmon prefix", "/kubepods/besteffort/pod" U "/crio-conmon-" C,
	  U, QOS_BESTEFFORT, C, RUNTIME_CRIO, 1, "" },
	{ "fs runtime scope", "/kubepods/burstable/pod" U "/cri-containerd-" C ".scope",
	  U, QOS_BURSTABLE, C, RUNTIME_CONTAINERD, 0, "cri-containerd-" C ".scope" },
	{ "fs pod dir alone", "/kubepods/burstable/pod" U, U, QOS_BURSTABLE, NOCTR, "" },
	{ "fs no leading slash", "kubepods/besteffort/pod" U "/" C,
	  U, QOS_BESTEFFORT, C, RUNTIME_UNKNOWN, 0, "" },

	/* nested trees (k3s, rke2; k0s if it nests) */
	{ "k3s nested cgroupfs", "/k3s/kubepods/burstable/pod" U "/" C,
	  U, QOS_BURSTABLE, C, RUNTIME_UNKNOWN, 0, "" },
	{ "k3s under its service", "/system.slice/k3s.service/kubepods/besteffort/pod" U "/" C,
	  U, QOS_BESTEFFORT, C, RUNTIME_UNKNOWN, 0, "k3s.service" },
	{ "k3s service guaranteed pod", "/system.slice/k3s.service/kubepods/pod" U,
	  U, QOS_GUARANTEED, NOCTR, "k3s.service" },
	{ "nested systemd tree",
	  "/k0s/kubepods.slice/kubepods-pod" U_ ".slice/cri-containerd-" C ".scope",
	  U, QOS_GUARANTEED, C, RUNTIME_CONTAINERD, 0, "cri-containerd-" C ".scope" },

	/* kubelet --cgroup-root with the systemd driver (kind: /kubelet): every slice prefixed */
	{ "kind burstable containerd",
	  "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/"
	  "kubelet-kubepods-burstable-pod" U_ ".slice/cri-containerd-" C ".scope",
	  U, QOS_BURSTABLE, C, RUNTIME_CONTAINERD, 0, "cri-containerd-" C ".scope" },
	{ "kind besteffort pod slice alone",
	  "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
	  "kubelet-kubepods-besteffort-pod" U_ ".slice",
	  U, QOS_BESTEFFORT, NOCTR, "kubelet-kubepods-besteffort-pod" U_ ".slice" },
	{ "kind guaranteed",
	  "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod" U_ ".slice/cri-containerd-" C ".scope",
	  U, QOS_GUARANTEED, C, RUNTIME_CONTAINERD, 0, "cri-containerd-" C ".scope" },
	{ "two-level cgroup root",
	  "/a.slice/a-b.slice/a-b-kubepods.slice/a-b-kubepods-pod" U_ ".slice/crio-" C ".scope",
	  U, QOS_GUARANTEED, C, RUNTIME_CRIO, 0, "crio-" C ".scope" },
	{ "prefix dropped below the root",
	  "/kubelet.slice/kubelet-kubepods.slice/kubepods-burstable.slice/"
	  "kubepods-burstable-pod" U_ ".slice/cri-containerd-" C ".scope",
	  NONE_, NOCTR, "cri-containerd-" C ".scope" },
	{ "prefix changed for the pod",
	  "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/"
	  "other-kubepods-burstable-pod" U_ ".slice",
	  NONE_, NOCTR, "other-kubepods-burstable-pod" U_ ".slice" },
	{ "prefixed root under another slice",
	  "/system.slice/kubelet-kubepods.slice/kubelet-kubepods-pod" U_ ".slice",
	  NONE_, NOCTR, "kubelet-kubepods-pod" U_ ".slice" },
	{ "prefixed root at the top",
	  "/kubelet-kubepods.slice/kubelet-kubepods-pod" U_ ".slice",
	  NONE_, NOCTR, "kubelet-kubepods-pod" U_ ".slice" },
	{ "empty prefix", "/.slice/-kubepods.slice/-kubepods-pod" U_ ".slice",
	  NONE_, NOCTR, "-kubepods-pod" U_ ".slice" },
	{ "prefixed cgroupfs names", "/kubelet.slice/kubelet-kubepods.slice/burstable/pod" U "/" C,
	  NONE_, NOCTR, "kubelet-kubepods.slice" },
	{ "user-delegated prefixed root",
	  "/user.slice/user-kubepods.slice/user-kubepods-pod" U_ ".slice",
	  NONE_, NOCTR, "user-kubepods-pod" U_ ".slice" },

	/* systemd units and containers outside Kubernetes */
	{ "kubelet", "/system.slice/kubelet.service", NONE_, NOCTR, "kubelet.service" },
	{ "containerd", "/system.slice/containerd.service", NONE_, NOCTR, "containerd.service" },
	{ "docker outside k8s", "/system.slice/docker-" C ".scope",
	  NONE_, C, RUNTIME_DOCKER, 0, "docker-" C ".scope" },
	{ "podman rootful", "/machine.slice/libpod-" C ".scope/container",
	  NONE_, C, RUNTIME_PODMAN, 0, "libpod-" C ".scope" },
	{ "login session", "/user.slice/user-1000.slice/session-3.scope",
	  NONE_, NOCTR, "session-3.scope" },
	{ "service subtree", "/system.slice/foo.service/sub/dir", NONE_, NOCTR, "foo.service" },
	{ "socket unit", "/system.slice/sshd.socket", NONE_, NOCTR, "sshd.socket" },
	{ "mount unit", "/system.slice/var-lib.mount", NONE_, NOCTR, "var-lib.mount" },
	{ "template unit", "/system.slice/system-getty.slice/getty@tty1.service",
	  NONE_, NOCTR, "getty@tty1.service" },
	{ "init scope", "/init.scope", NONE_, NOCTR, "init.scope" },
	{ "kubepods root alone", "/kubepods.slice", NONE_, NOCTR, "kubepods.slice" },
	{ "missing pod", "/kubepods.slice/kubepods-burstable.slice/",
	  NONE_, NOCTR, "kubepods-burstable.slice" },
	{ "fs missing pod", "/kubepods/besteffort", NONE_, NOCTR, "" },
	{ "empty", "", NONE_, NOCTR, "" },
	{ "root", "/", NONE_, NOCTR, "" },
	{ "slashes only", "////", NONE_, NOCTR, "" },

	/* deeper names never change the owner found above them */
	{ "container subtree keeps owner", SD_BU "/cri-containerd-" C ".scope/init.scope",
	  U, QOS_BURSTABLE, C, RUNTIME_CONTAINERD, 0, "init.scope" },
	{ "fake pod inside container",
	  SD_BU "/cri-containerd-" C ".scope/kubepods/burstable/pod" U2 "/" C2,
	  U, QOS_BURSTABLE, C, RUNTIME_CONTAINERD, 0, "cri-containerd-" C ".scope" },
	{ "fake container inside container", "/kubepods/pod" U "/" C "/docker-" C2 ".scope",
	  U, QOS_GUARANTEED, C, RUNTIME_UNKNOWN, 0, "docker-" C2 ".scope" },
	{ "second id below container", "/kubepods/pod" U "/" C "/" C2,
	  U, QOS_GUARANTEED, C, RUNTIME_UNKNOWN, 0, "" },
	{ "pod inside docker container",
	  "/system.slice/docker-" C ".scope/kubepods/burstable/pod" U "/" C2,
	  NONE_, C, RUNTIME_DOCKER, 0, "docker-" C ".scope" },
	{ "docker inside docker", "/system.slice/docker-" C ".scope/docker-" C2 ".scope",
	  NONE_, C, RUNTIME_DOCKER, 0, "docker-" C2 ".scope" },
	{ "unknown dir then container", "/kubepods/burstable/pod" U "/extra/" C,
	  U, QOS_BURSTABLE, NOCTR, "" },
	{ "pod in pod", "/kubepods/burstable/pod" U "/pod" U2 "/" C, U, QOS_BURSTABLE, NOCTR, "" },

	/* user.slice is delegated: nothing there proves a pod or container */
	{ "user-delegated fake pod",
	  "/user.slice/user-1000.slice/user@1000.service/kubepods/burstable/pod" U "/" C,
	  NONE_, NOCTR, "user@1000.service" },
	{ "rootless podman",
	  "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" C ".scope/container",
	  NONE_, NOCTR, "libpod-" C ".scope" },
	{ "user slice pod-like slice", "/user.slice/kubepods-pod" U_ ".slice",
	  NONE_, NOCTR, "kubepods-pod" U_ ".slice" },
	{ "user.slice lower down is a name", "/system.slice/user.slice/docker-" C ".scope",
	  NONE_, C, RUNTIME_DOCKER, 0, "docker-" C ".scope" },

	/* UID-shaped strings outside the pod component */
	{ "uid in a service name",
	  "/system.slice/pod" U ".service", NONE_, NOCTR, "pod" U ".service" },
	{ "pod slice without root", "/system.slice/kubepods-burstable-pod" U_ ".slice",
	  NONE_, NOCTR, "kubepods-burstable-pod" U_ ".slice" },
	{ "pod slice without root, scope", "/kubepods-pod" U_ ".slice/cri-containerd-" C ".scope",
	  NONE_, C, RUNTIME_CONTAINERD, 0, "cri-containerd-" C ".scope" },
	{ "fs pod dir without root", "/burstable/pod" U "/" C, NONE_, NOCTR, "" },
	{ "root must be a whole component", "/xkubepods/burstable/pod" U "/" C, NONE_, NOCTR, "" },
	{ "root with suffix", "/kubepods.slicex/kubepods-pod" U_ ".slice", NONE_, NOCTR,
	  "kubepods-pod" U_ ".slice" },
	{ "root prefix only", "/kubepodsx/pod" U, NONE_, NOCTR, "" },
	{ "second root", "/kubepods/kubepods/burstable/pod" U "/" C, NONE_, NOCTR, "" },

	/* malformed UIDs */
	{ "uid one short", "/kubepods/burstable/pod" "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4" "/" C,
	  NONE_, NOCTR, "" },
	{ "uid one long", "/kubepods/burstable/pod" U "0/" C, NONE_, NOCTR, "" },
	{ "sd uid one long", "/kubepods.slice/kubepods-pod" U_ "0.slice", NONE_, NOCTR,
	  "kubepods-pod" U_ "0.slice" },
	{ "uid uppercase", "/kubepods/burstable/pod0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D/" C,
	  NONE_, NOCTR, "" },
	{ "uid one uppercase digit",
	  "/kubepods/pod0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4D", NONE_, NOCTR, "" },
	{ "uid non-hex", "/kubepods/pod0a1b2c3g-4e5f-4a6b-8c7d-9e0f1a2b3c4d", NONE_, NOCTR, "" },
	{ "sd uid with dashes",
	  "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" U ".slice",
	  NONE_, NOCTR, "kubepods-burstable-pod" U ".slice" },
	{ "fs uid with underscores", "/kubepods/burstable/pod" U_ "/" C, NONE_, NOCTR, "" },
	{ "uid mixed separators",
	  "/kubepods/pod0a1b2c3d-4e5f_4a6b-8c7d-9e0f1a2b3c4d", NONE_, NOCTR, "" },
	{ "uid separators moved",
	  "/kubepods/pod0a1b2c3-d4e5f-4a6b-8c7d-9e0f1a2b3c4d", NONE_, NOCTR, "" },
	{ "uid no separators",
	  "/kubepods/pod0a1b2c3d04e5f04a6b08c7d09e0f1a2b3c4d", NONE_, NOCTR, "" },
	{ "pod prefix uppercase", "/kubepods/Pod" U, NONE_, NOCTR, "" },

	/* the layout broken at one level */
	{ "qos mismatch",
	  "/kubepods.slice/kubepods-burstable.slice/kubepods-besteffort-pod" U_ ".slice",
	  NONE_, NOCTR, "kubepods-besteffort-pod" U_ ".slice" },
	{ "qos pod slice under root", "/kubepods.slice/kubepods-burstable-pod" U_ ".slice",
	  NONE_, NOCTR, "kubepods-burstable-pod" U_ ".slice" },
	{ "guaranteed pod slice under qos",
	  "/kubepods.slice/kubepods-burstable.slice/kubepods-pod" U_ ".slice",
	  NONE_, NOCTR, "kubepods-pod" U_ ".slice" },
	{ "no guaranteed qos dir", "/kubepods/guaranteed/pod" U "/" C, NONE_, NOCTR, "" },
	{ "unknown qos slice",
	  "/kubepods.slice/kubepods-critical.slice/kubepods-critical-pod" U_ ".slice",
	  NONE_, NOCTR, "kubepods-critical-pod" U_ ".slice" },
	{ "qos slice with junk",
	  "/kubepods.slice/kubepods-burstable.slicex/kubepods-burstable-pod" U_ ".slice",
	  NONE_, NOCTR, "kubepods-burstable-pod" U_ ".slice" },
	{ "fs qos name in sd tree",
	  "/kubepods.slice/burstable/pod" U "/" C, NONE_, NOCTR, "kubepods.slice" },
	{ "sd qos slice in fs tree",
	  "/kubepods/kubepods-burstable.slice/kubepods-burstable-pod" U_ ".slice",
	  NONE_, NOCTR, "kubepods-burstable-pod" U_ ".slice" },
	{ "fs pod dir in sd tree", "/kubepods.slice/kubepods-burstable.slice/pod" U "/" C,
	  NONE_, NOCTR, "kubepods-burstable.slice" },
	{ "sd pod slice missing .slice",
	  "/kubepods.slice/kubepods-pod" U_, NONE_, NOCTR, "kubepods.slice" },
	{ "container right below root", "/kubepods.slice/cri-containerd-" C ".scope",
	  NONE_, NOCTR, "cri-containerd-" C ".scope" },

	/* malformed container ids */
	{ "id 63 hex", SD_BU "/cri-containerd-" C63 ".scope",
	  U, QOS_BURSTABLE, NOCTR, "cri-containerd-" C63 ".scope" },
	{ "id 65 hex", SD_BU "/cri-containerd-" C65 ".scope",
	  U, QOS_BURSTABLE, NOCTR, "cri-containerd-" C65 ".scope" },
	{ "fs bare id 63", "/kubepods/pod" U "/" C63, U, QOS_GUARANTEED, NOCTR, "" },
	{ "fs bare id 65", "/kubepods/pod" U "/" C65, U, QOS_GUARANTEED, NOCTR, "" },
	{ "id non-hex",
	  SD_BU "/crio-" C63 "g.scope", U, QOS_BURSTABLE, NOCTR, "crio-" C63 "g.scope" },
	{ "id uppercase",
	  "/kubepods/pod" U "/A4C123B1612DD272D1371C17149D439536B3216FDAEEB975729FAE923D5A4FD1",
	  U, QOS_GUARANTEED, NOCTR, "" },
	{ "trailing junk", SD_BU "/cri-containerd-" C ".scope.bak",
	  U, QOS_BURSTABLE, NOCTR, "kubepods-burstable-pod" U_ ".slice" },
	{ "scope suffix junk", SD_BU "/crio-" C ".scopex",
	  U, QOS_BURSTABLE, NOCTR, "kubepods-burstable-pod" U_ ".slice" },
	{ "sd bare id not taken",
	  SD_GU "/" C, U, QOS_GUARANTEED, NOCTR, "kubepods-pod" U_ ".slice" },
	{ "sd prefix without scope", SD_GU "/cri-containerd-" C, U, QOS_GUARANTEED, NOCTR,
	  "kubepods-pod" U_ ".slice" },
	{ "prefix without id", SD_GU "/docker-.scope", U, QOS_GUARANTEED, NOCTR, "docker-.scope" },
	{ "unknown runtime prefix",
	  SD_GU "/runc-" C ".scope", U, QOS_GUARANTEED, NOCTR, "runc-" C ".scope" },
	{ "podman conmon is not crio", SD_GU "/libpod-conmon-" C ".scope", U, QOS_GUARANTEED, NOCTR,
	  "libpod-conmon-" C ".scope" },
	{ "docker short id",
	  "/system.slice/docker-" C12 ".scope", NONE_, NOCTR, "docker-" C12 ".scope" },
	{ "fs short id", "/kubepods/burstable/pod" U "/" C12, U, QOS_BURSTABLE, NOCTR, "" },
	{ "bare id outside pods", "/docker/" C, NONE_, NOCTR, "" },
	{ "runtime prefix outside pods no scope",
	  "/system.slice/docker-" C, NONE_, NOCTR, "system.slice" },

	/* . and .. refuse the whole path */
	{ "dotdot after pod", "/kubepods/burstable/pod" U "/../" C, NONE_, NOCTR, "" },
	{ "dotdot at end", SD_BU "/cri-containerd-" C ".scope/..", NONE_, NOCTR, "" },
	{ "dot at start", "/./system.slice/kubelet.service", NONE_, NOCTR, "" },
	{ "dot alone", ".", NONE_, NOCTR, "" },
	{ "dotdot alone", "..", NONE_, NOCTR, "" },
	{ "three dots is a name", "/.../kubepods/pod" U, U, QOS_GUARANTEED, NOCTR, "" },
	{ "repeated slashes", "//kubepods//burstable///pod" U "//" C "//",
	  U, QOS_BURSTABLE, C, RUNTIME_UNKNOWN, 0, "" },

	/* odd bytes and unit names */
	{ "non-utf8 unit", "/system.slice/\xff\xfe.service", NONE_, NOCTR, "system.slice" },
	{ "non-utf8 in pod position", "/kubepods/burstable/pod\xc3\x28" U, NONE_, NOCTR, "" },
	{ "non-utf8 in container position", "/kubepods/burstable/pod" U "/\xff" C,
	  U, QOS_BURSTABLE, NOCTR, "" },
	{ "space in unit", "/system.slice/foo bar.service", NONE_, NOCTR, "system.slice" },
	{ "suffix alone is no unit", "/system.slice/.service", NONE_, NOCTR, "system.slice" },
	{ "unknown unit type", "/system.slice/foo.target", NONE_, NOCTR, "system.slice" },
	{ "suffix not at end", "/system.slice/foo.service.d", NONE_, NOCTR, "system.slice" },
};

/* `path` changed by `how`: 0 drops a leading '/', 1 adds a trailing one, 2 doubles each one. */
static void variant(char *dst, size_t size, const char *path, int how)
{
	size_t n = 0;

	if (how == 0) {
		snprintf(dst, size, "%s", path[0] == '/' ? path + 1 : path);
		return;
	}
	if (how == 1) {
		snprintf(dst, size, "%s/", path);
		return;
	}
	for (const char *p = path; *p; p++) {
		assert_true(n + 3 < size);
		dst[n++] = *p;
		if (*p == '/')
			dst[n++] = '/';
	}
	dst[n] = '\0';
}

static void check_owner(const struct cgroup_owner *o, const struct row *r)
{
	assert_string_equal(o->pod_uid, r->pod_uid);
	assert_int_equal(o->qos, r->qos);
	assert_string_equal(o->container_id, r->container_id);
	assert_int_equal(o->runtime, r->runtime);
	assert_int_equal(o->is_conmon, r->is_conmon);
	assert_string_equal(o->unit, r->unit);
}

static void test_row(void **state)
{
	const struct row *r = *state;
	struct cgroup_owner o;
	char buf[1024];

	memset(&o, 0xa5, sizeof(o)); /* every field must be rewritten */
	assert_int_equal(cgroup_path_parse(r->path, &o), 0);
	check_owner(&o, r);

	/* Slashes are separators only: leading, trailing and repeated ones change nothing. */
	for (int how = 0; how < 3; how++) {
		variant(buf, sizeof(buf), r->path, how);
		memset(&o, 0xa5, sizeof(o));
		assert_int_equal(cgroup_path_parse(buf, &o), 0);
		check_owner(&o, r);
	}
}

static void test_null_args(void **state)
{
	struct cgroup_owner o;

	(void)state;
	assert_int_equal(cgroup_path_parse(NULL, NULL), -EINVAL);
	assert_int_equal(cgroup_path_parse("/kubelet.service", NULL), -EINVAL);
	memset(&o, 0xa5, sizeof(o));
	assert_int_equal(cgroup_path_parse(NULL, &o), -EINVAL);
	assert_string_equal(o.pod_uid, "");
	assert_string_equal(o.unit, "");
	assert_int_equal(o.qos, QOS_NONE);
}

static void test_names(void **state)
{
	(void)state;
	assert_null(pod_qos_name(QOS_NONE));
	assert_string_equal(pod_qos_name(QOS_GUARANTEED), "guaranteed");
	assert_string_equal(pod_qos_name(QOS_BURSTABLE), "burstable");
	assert_string_equal(pod_qos_name(QOS_BESTEFFORT), "besteffort");
	assert_null(pod_qos_name((enum pod_qos)(QOS_BESTEFFORT + 1)));
	assert_null(pod_qos_name((enum pod_qos)-1));

	assert_null(container_runtime_name(RUNTIME_NONE));
	assert_string_equal(container_runtime_name(RUNTIME_CONTAINERD), "containerd");
	assert_string_equal(container_runtime_name(RUNTIME_CRIO), "crio");
	assert_string_equal(container_runtime_name(RUNTIME_DOCKER), "docker");
	assert_string_equal(container_runtime_name(RUNTIME_PODMAN), "podman");
	assert_string_equal(container_runtime_name(RUNTIME_UNKNOWN), "unknown");
	assert_null(container_runtime_name((enum container_runtime)(RUNTIME_UNKNOWN + 1)));
	assert_null(container_runtime_name((enum container_runtime)-1));
}

/* Appends `s` to the buffer at *n, which must have room. */
static void put(char *buf, size_t size, size_t *n, const char *s, size_t len)
{
	assert_true(*n + len < size);
	memcpy(buf + *n, s, len);
	*n += len;
	buf[*n] = '\0';
}

static void put_repeat(char *buf, size_t size, size_t *n, char c, size_t count)
{
	assert_true(*n + count < size);
	memset(buf + *n, c, count);
	*n += count;
	buf[*n] = '\0';
}

#define BIG (80 * 1024)

/* A 64 KiB path of ordinary directories, then a pod: kubepods is found at any depth. */
static void test_huge_path_deep_pod(void **state)
{
	static const char tail[] = "/kubepods/burstable/pod" U "/" C;
	char *buf = malloc(BIG);
	struct cgroup_owner o;
	size_t n = 0;

	(void)state;
	assert_non_null(buf);
	buf[0] = '\0';
	while (n < 64 * 1024)
		put(buf, BIG, &n, "/d", 2);
	put(buf, BIG, &n, tail, sizeof(tail) - 1);
	assert_int_equal(cgroup_path_parse(buf, &o), 0);
	assert_string_equal(o.pod_uid, U);
	assert_int_equal(o.qos, QOS_BURSTABLE);
	assert_string_equal(o.container_id, C);
	assert_int_equal(o.runtime, RUNTIME_UNKNOWN);

	/* ... and 64 KiB of slashes only. */
	n = 0;
	put_repeat(buf, BIG, &n, '/', 64 * 1024);
	assert_int_equal(cgroup_path_parse(buf, &o), 0);
	assert_string_equal(o.pod_uid, "");
	assert_string_equal(o.unit, "");
	free(buf);
}

/* A 64 KiB path below a pod (a container nesting cgroups) keeps the pod and container. */
static void test_huge_path_below_container(void **state)
{
	static const char head[] = SD_BE "/crio-" C ".scope";
	char *buf = malloc(BIG);
	struct cgroup_owner o;
	size_t n = 0;

	(void)state;
	assert_non_null(buf);
	put(buf, BIG, &n, head, sizeof(head) - 1);
	while (n < 64 * 1024)
		put(buf, BIG, &n, "/kubepods/pod" U2, sizeof("/kubepods/pod" U2) - 1);
	assert_int_equal(cgroup_path_parse(buf, &o), 0);
	assert_string_equal(o.pod_uid, U);
	assert_int_equal(o.qos, QOS_BESTEFFORT);
	assert_string_equal(o.container_id, C);
	assert_int_equal(o.runtime, RUNTIME_CRIO);
	assert_string_equal(o.unit, "crio-" C ".scope");
	free(buf);
}

/* One 4096-byte component at each position of a pod path: nothing from that level on. */
static void test_huge_components(void **state)
{
	static const char *const levels[] = { "kubepods", "burstable", ("pod" U), C };
	char *buf = malloc(BIG);
	struct cgroup_owner o;

	(void)state;
	assert_non_null(buf);
	for (size_t huge = 0; huge < ARRAY_SIZE(levels); huge++) {
		size_t n = 0;

		buf[0] = '\0';
		for (size_t i = 0; i < ARRAY_SIZE(levels); i++) {
			put(buf, BIG, &n, "/", 1);
			put(buf, BIG, &n, levels[i], strlen(levels[i]));
			/* The genuine name followed by more of its own kind of bytes. */
			if (i == huge)
				put_repeat(buf, BIG, &n, i == 3 ? 'a' : 'x',
					   4096 - strlen(levels[i]));
		}
		assert_int_equal(cgroup_path_parse(buf, &o), 0);
		assert_string_equal(o.pod_uid, huge < 3 ? "" : U);
		assert_string_equal(o.container_id, "");
		assert_int_equal(o.runtime, RUNTIME_NONE);
		assert_string_equal(o.unit, "");
	}
	free(buf);
}

/* Unit names: 255 bytes is a unit, 256 and 4096 are not. */
static void test_unit_lengths(void **state)
{
	char *buf = malloc(BIG);
	struct cgroup_owner o;
	size_t n;

	(void)state;
	assert_non_null(buf);
	for (size_t len = UNIT_NAME_MAX; len <= UNIT_NAME_MAX + 1; len++) {
		n = 0;
		put(buf, BIG, &n, "/system.slice/", 14);
		put_repeat(buf, BIG, &n, 'u', len - strlen(".service"));
		put(buf, BIG, &n, ".service", 8);
		assert_int_equal(cgroup_path_parse(buf, &o), 0);
		if (len == UNIT_NAME_MAX) {
			assert_int_equal(strlen(o.unit), UNIT_NAME_MAX);
			assert_memory_equal(o.unit, buf + 14, UNIT_NAME_MAX);
		} else {
			assert_string_equal(o.unit, "system.slice");
		}
	}

	n = 0;
	put(buf, BIG, &n, "/system.slice/", 14);
	put_repeat(buf, BIG, &n, 'u', 4096);
	put(buf, BIG, &n, ".scope/", 7);
	put_repeat(buf, BIG, &n, 'v', 4096);
	assert_int_equal(cgroup_path_parse(buf, &o), 0);
	assert_string_equal(o.unit, "system.slice");
	free(buf);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_null_args),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_huge_path_deep_pod),
		cmocka_unit_test(test_huge_path_below_container),
		cmocka_unit_test(test_huge_components),
		cmocka_unit_test(test_unit_lengths),
	};
	struct CMUnitTest tests[ARRAY_SIZE(rows) + ARRAY_SIZE(fixed)];
	size_t n = 0;

	/* One named test per row, so each row fails on its own. */
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		tests[n] = (struct CMUnitTest)cmocka_unit_test_prestate(test_row, (void *)&rows[i]);
		tests[n++].name = rows[i].name;
	}
	for (size_t i = 0; i < ARRAY_SIZE(fixed); i++)
		tests[n++] = fixed[i];
	return cmocka_run_group_tests_name("cgroup_path", tests, NULL, NULL);
}
