/*
 * cgroup v2 path → owner (see cgroup_path.h). One left-to-right pass over the '/'-separated
 * components, each handled as (pointer, length): no recursion, no allocation, no copy of the path.
 *
 * Recognised layouts, where <uid> is a Kubernetes pod UID (8-4-4-4-12 lowercase hex; '_' instead
 * of '-' in systemd slice names) and <id> is exactly 64 lowercase hex digits:
 *
 *   systemd driver   kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid>.slice/<scope>
 *                    kubepods.slice/kubepods-pod<uid>.slice/<scope>              (guaranteed)
 *   cgroupfs driver  kubepods/<qos>/pod<uid>/<ctr>
 *                    kubepods/pod<uid>/<ctr>                                     (guaranteed)
 *   outside pods     <scope> anywhere outside a kubepods tree (a plain docker/podman container)
 *
 *   <qos>   burstable | besteffort
 *   <scope> cri-containerd-<id>.scope | crio-<id>.scope | crio-conmon-<id>.scope |
 *           docker-<id>.scope | libpod-<id>.scope
 *   <ctr>   <scope> | <id> (runtime unknown) | the same prefixes with no ".scope"
 *
 * The kubepods root is the first component that is exactly "kubepods" or "kubepods.slice", at any
 * depth: k3s/rke2 may nest the tree (/k3s/kubepods/..., /system.slice/k3s.service/kubepods/...).
 * k0s runs an ordinary kubelet whose pods, as far as we know, sit under kubepods[.slice] too; if
 * a distribution nests it deeper, any depth still covers it.
 *
 * A kubelet with --cgroup-root (kind runs it with /kubelet) and the systemd driver names every
 * slice after its whole path, so the tree carries a prefix: <p>.slice/<p>-kubepods.slice/
 * <p>-kubepods-<qos>.slice/<p>-kubepods-<qos>-pod<uid>.slice/<scope>. The root is recognised as
 * "<p>-kubepods.slice" straight below "<p>.slice"; every level below must carry the same "<p>-".
 *
 * Deliberately not attributed (nothing is better than the wrong pod, the UID is the Kafka key):
 *   - a new owner named below the first container component (or below anything else that follows
 *     the pod), or below a runtime scope outside pods: that subtree may be writable by the
 *     container, which could otherwise fake a pod or container. Such deeper cgroups keep the
 *     owner found above them;
 *   - pods and containers anywhere under a top-level user.slice: user@<uid>.service delegates
 *     its subtree to an unprivileged user (rootless podman is therefore not attributed either);
 *   - a kubepods tree that leaves the layout above at any level (unknown names, QoS of the pod
 *     slice not matching its parent, cgroupfs names in a systemd tree or the reverse);
 *   - container ids that are not exactly 64 hex digits (12-hex short ids never name a cgroup);
 *   - any path with a "." or ".." component: the kernel never produces one, so the whole path
 *     is refused, unit included.
 * Empty components (repeated, leading or trailing '/') are skipped.
 */
#include "cgroup_path.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* One path component, or what is left of it while matching. Never NUL-terminated. */
struct span {
	const char *p;
	size_t len;
};

enum driver { DRIVER_SYSTEMD, DRIVER_CGROUPFS };

enum place {
	AT_HOST,     /* no kubepods root or container seen yet */
	AT_KUBEPODS, /* just below the kubepods root: a QoS level or a guaranteed pod */
	AT_QOS,      /* below burstable/besteffort: a pod */
	AT_POD,      /* below the pod: a container, if anything */
	AT_SETTLED,  /* attribution final; deeper components only update the unit */
};

static const struct runtime_prefix {
	const char *prefix;
	enum container_runtime runtime;
	int is_conmon;
} runtime_prefixes[] = {
	/* crio-conmon- before crio-, which it would otherwise never reach. */
	{ "cri-containerd-", RUNTIME_CONTAINERD, 0 },
	{ "crio-conmon-", RUNTIME_CRIO, 1 },
	{ "crio-", RUNTIME_CRIO, 0 },
	{ "docker-", RUNTIME_DOCKER, 0 },
	{ "libpod-", RUNTIME_PODMAN, 0 },
};

static const char *const unit_suffixes[] = { ".service", ".scope", ".slice", ".socket", ".mount" };

static const char *const qos_names[] = {
	[QOS_GUARANTEED] = "guaranteed",
	[QOS_BURSTABLE] = "burstable",
	[QOS_BESTEFFORT] = "besteffort",
};

static const char *const runtime_names[] = {
	[RUNTIME_CONTAINERD] = "containerd",
	[RUNTIME_CRIO] = "crio",
	[RUNTIME_DOCKER] = "docker",
	[RUNTIME_PODMAN] = "podman",
	[RUNTIME_UNKNOWN] = "unknown",
};

static bool span_is(struct span s, const char *lit)
{
	size_t n = strlen(lit);

	return s.len == n && memcmp(s.p, lit, n) == 0;
}

/* Consumes `front` from the front of *s if it is there. */
static bool eat_span(struct span *s, struct span front)
{
	if (s->len < front.len || memcmp(s->p, front.p, front.len) != 0)
		return false;
	s->p += front.len;
	s->len -= front.len;
	return true;
}

static bool eat(struct span *s, const char *lit)
{
	return eat_span(s, (struct span){ lit, strlen(lit) });
}

/* Lowercase only: Kubernetes UIDs and runtime ids are lowercase, so anything else is not one. */
static bool is_lhex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* Consumes a pod UID whose four separators are `sep`; writes it with dashes. */
static bool eat_uid(struct span *s, char sep, char out[POD_UID_LEN + 1])
{
	if (s->len < POD_UID_LEN)
		return false;
	for (size_t i = 0; i < POD_UID_LEN; i++) {
		char c = s->p[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != sep)
				return false;
			out[i] = '-';
		} else {
			if (!is_lhex(c))
				return false;
			out[i] = c;
		}
	}
	out[POD_UID_LEN] = '\0';
	s->p += POD_UID_LEN;
	s->len -= POD_UID_LEN;
	return true;
}

static bool eat_id(struct span *s, char out[CONTAINER_ID_MAX + 1])
{
	if (s->len < CONTAINER_ID_MAX)
		return false;
	for (size_t i = 0; i < CONTAINER_ID_MAX; i++)
		if (!is_lhex(s->p[i]))
			return false;
	memcpy(out, s->p, CONTAINER_ID_MAX);
	out[CONTAINER_ID_MAX] = '\0';
	s->p += CONTAINER_ID_MAX;
	s->len -= CONTAINER_ID_MAX;
	return true;
}

/*
 * A container component: always <prefix><id>.scope; in a cgroupfs pod also <prefix><id> and a
 * bare <id>. Fills only on a whole-component match.
 */
static bool match_container(struct span c, bool cgroupfs, struct cgroup_owner *o)
{
	char id[CONTAINER_ID_MAX + 1];

	for (size_t i = 0; i < ARRAY_SIZE(runtime_prefixes); i++) {
		const struct runtime_prefix *rp = &runtime_prefixes[i];
		struct span s = c;

		if (!eat(&s, rp->prefix) || !eat_id(&s, id))
			continue;
		if (!span_is(s, ".scope") && !(cgroupfs && s.len == 0))
			continue;
		memcpy(o->container_id, id, sizeof(id));
		o->runtime = rp->runtime;
		o->is_conmon = rp->is_conmon;
		return true;
	}
	if (cgroupfs && c.len == CONTAINER_ID_MAX && eat_id(&c, id)) {
		memcpy(o->container_id, id, sizeof(id));
		o->runtime = RUNTIME_UNKNOWN;
		return true;
	}
	return false;
}

/*
 * The pod component: systemd <prefix>kubepods-pod<uid_>.slice (guaranteed) or
 * <prefix>kubepods-<qos>-pod<uid_>.slice, cgroupfs pod<uid>. Fills *o only on a whole-component
 * match.
 */
static bool match_pod(struct span c, enum driver driver, struct span prefix, enum pod_qos qos,
		      struct cgroup_owner *o)
{
	char uid[POD_UID_LEN + 1];

	if (driver == DRIVER_SYSTEMD) {
		if (!eat_span(&c, prefix) || !eat(&c, "kubepods-"))
			return false;
		if (qos != QOS_GUARANTEED && !(eat(&c, qos_names[qos]) && eat(&c, "-")))
			return false;
		if (!eat(&c, "pod") || !eat_uid(&c, '_', uid) || !span_is(c, ".slice"))
			return false;
	} else {
		if (!eat(&c, "pod") || !eat_uid(&c, '-', uid) || c.len != 0)
			return false;
	}
	memcpy(o->pod_uid, uid, sizeof(uid));
	o->qos = qos;
	return true;
}

/* The QoS level below the root: <prefix>kubepods-<qos>.slice or <qos>. */
static enum pod_qos match_qos(struct span c, enum driver driver, struct span prefix)
{
	bool systemd = driver == DRIVER_SYSTEMD;

	if (systemd && !(eat_span(&c, prefix) && eat(&c, "kubepods-")))
		return QOS_NONE;
	if (eat(&c, "burstable"))
		return span_is(c, systemd ? ".slice" : "") ? QOS_BURSTABLE : QOS_NONE;
	if (eat(&c, "besteffort"))
		return span_is(c, systemd ? ".slice" : "") ? QOS_BESTEFFORT : QOS_NONE;
	return QOS_NONE;
}

/*
 * A prefixed systemd root: c is "<p>-kubepods.slice" and its parent is "<p>.slice", p not empty.
 * Sets *prefix to "<p>-", the part every slice below repeats.
 */
static bool match_prefixed_root(struct span c, struct span parent, struct span *prefix)
{
	static const char root[] = "-kubepods.slice";
	size_t n = sizeof(root) - 1, plen;

	if (c.len <= n || memcmp(c.p + c.len - n, root, n) != 0)
		return false;
	plen = c.len - n; /* p */
	if (parent.len != plen + strlen(".slice") || memcmp(parent.p, c.p, plen) != 0 ||
	    memcmp(parent.p + plen, ".slice", strlen(".slice")) != 0)
		return false;
	*prefix = (struct span){ c.p, plen + 1 };
	return true;
}

/* Characters systemd allows in unit names: keeps odd bytes out of the output. */
static bool is_unit_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c == ':' || c == '-' || c == '_' || c == '.' || c == '\\' || c == '@';
}

static bool is_unit(struct span c)
{
	bool suffix = false;

	if (c.len > UNIT_NAME_MAX)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(unit_suffixes); i++) {
		size_t n = strlen(unit_suffixes[i]);

		/* A bare ".service" names nothing. */
		if (c.len > n && memcmp(c.p + c.len - n, unit_suffixes[i], n) == 0) {
			suffix = true;
			break;
		}
	}
	if (!suffix)
		return false;
	for (size_t i = 0; i < c.len; i++)
		if (!is_unit_char(c.p[i]))
			return false;
	return true;
}

/* Finds the component starting at or after *cursor; false at the end of the path. */
static bool next_component(const char **cursor, struct span *c)
{
	const char *p = *cursor;

	while (*p == '/')
		p++;
	if (*p == '\0')
		return false;
	c->p = p;
	while (*p != '\0' && *p != '/')
		p++;
	c->len = (size_t)(p - c->p);
	*cursor = p;
	return true;
}

int cgroup_path_parse(const char *path, struct cgroup_owner *out)
{
	struct cgroup_owner o;
	struct span c, parent = { NULL, 0 }, unit = { NULL, 0 }, prefix = { "", 0 };
	enum place at = AT_HOST;
	enum driver driver = DRIVER_SYSTEMD;
	enum pod_qos qos = QOS_NONE;
	const char *cursor = path;
	bool first = true;

	if (out)
		memset(out, 0, sizeof(*out));
	if (!path || !out)
		return -EINVAL;

	memset(&o, 0, sizeof(o));
	/* Each step consumes at least one byte, so this ends at the path's NUL. */
	while (next_component(&cursor, &c)) {
		bool top = first;

		first = false;
		if (span_is(c, ".") || span_is(c, ".."))
			return 0; /* *out is already empty */
		if (is_unit(c))
			unit = c;

		switch (at) {
		case AT_HOST:
			if (top && span_is(c, "user.slice")) {
				at = AT_SETTLED; /* delegated to users: names prove nothing */
			} else if (span_is(c, "kubepods.slice") ||
				   (parent.p && match_prefixed_root(c, parent, &prefix))) {
				driver = DRIVER_SYSTEMD;
				at = AT_KUBEPODS;
			} else if (span_is(c, "kubepods")) {
				driver = DRIVER_CGROUPFS;
				at = AT_KUBEPODS;
			} else if (match_container(c, false, &o)) {
				at = AT_SETTLED;
			}
			break;
		case AT_KUBEPODS:
			/* A QoS level, or a guaranteed pod straight below the root. */
			qos = match_qos(c, driver, prefix);
			if (qos != QOS_NONE)
				at = AT_QOS;
			else if (match_pod(c, driver, prefix, QOS_GUARANTEED, &o))
				at = AT_POD;
			else
				at = AT_SETTLED;
			break;
		case AT_QOS:
			at = match_pod(c, driver, prefix, qos, &o) ? AT_POD : AT_SETTLED;
			break;
		case AT_POD:
			/* Whatever this is, deeper cgroups belong to it, not to a new owner. */
			at = AT_SETTLED;
			match_container(c, driver == DRIVER_CGROUPFS, &o);
			break;
		case AT_SETTLED:
			break;
		}
		parent = c;
	}

	if (unit.p) {
		memcpy(o.unit, unit.p, unit.len);
		o.unit[unit.len] = '\0';
	}
	*out = o;
	return 0;
}

const char *pod_qos_name(enum pod_qos qos)
{
	return (unsigned)qos < ARRAY_SIZE(qos_names) ? qos_names[qos] : NULL;
}

const char *container_runtime_name(enum container_runtime rt)
{
	return (unsigned)rt < ARRAY_SIZE(runtime_names) ? runtime_names[rt] : NULL;
}
