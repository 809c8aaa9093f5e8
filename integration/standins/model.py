"""Kubernetes objects as a v1.27 API server serialises them, shared by the API server and kubelet
stand-ins: pods (full v1 Pod JSON), events.k8s.io/v1 Events, quantities, timestamps, and the
mutations a test applies (a container restarted, OOM-killed, crash-looping, ...).

Objects are plain dicts built in the field order of the Go structs, map keys sorted (Go marshals
maps sorted), optional fields absent where Go's `omitempty` drops them, and `null` where Go writes a
zero time. `gojson(obj)` writes them as Go's encoding/json does: compact, UTF-8, and `<`, `>`, `&`,
U+2028, U+2029 escaped as \\u003c, \\u003e, \\u0026, \\u2028, \\u2029; gojson_pretty(obj,
prefix, indent) as json.MarshalIndent.

Pods

    p = make_pod("web-1", "shop", "node-a")            # a ReplicaSet pod, running and ready
    p = make_pod("db-0", "shop", "node-a", owner="StatefulSet",
                 containers=[container("postgres", cpu="1", memory="1Gi")],
                 init_containers=[container("init-perms")])
    p = make_pod("static", "kube-system", "node-a", owner="Node", static=True)  # a static pod
    pods = node_pods("node-a", 250)                    # a varied, realistic node

  container(name, image=None, cpu=None, memory=None, cpu_limit=None, memory_limit=None, env=None,
            command=None, args=None) is a container's spec; cpu/memory are requests, the limits
  default to none. Quantities are strings in any form the API server keeps (see below).

  Mutations (in place; they also return the pod), times default to now:
    restart_container(p, "app", exit_code=1, reason="Error", signal=None, message=None)
    oom_kill(p, "app", restart=True)                   # terminated OOMKilled, exit code 137
    crash_loop(p, "app", exit_code=1)                  # waiting CrashLoopBackOff, lastState Error
    image_pull_backoff(p, "app")                       # waiting ImagePullBackOff, never started
    wait_container(p, "app", "CreateContainerConfigError", "secret \\"x\\" not found")
    run_container(p, "app")                            # waiting -> running (new container id)
    terminate_container(p, "app", exit_code=0, reason="Completed", signal=None)
    set_phase(p, "Succeeded"); mark_deleting(p, grace=30)
  Readiness conditions follow the containers after every mutation.

  Reading a pod: container_status(p, "app"), container_id(p, "app") (64 hex, no runtime prefix),
  secret_values(p) (every env value and annotation value: what must never be exported).

Quantities: cpu_millis("250m") == 250, memory_bytes("1Gi") == 1073741824, parse_quantity("1e9");
  rounding up as Kubernetes' MilliValue()/Value() do. The API server canonicalises a quantity when
  it stores it, so the forms a client meets are canonical ones: "250m", "1", "1500m", "128Mi",
  "1536Mi", "1G", "500M", "1e9" (exponent form survives), "1k", "100".

Events (events.k8s.io/v1)

    e = pod_event(p, "BackOff", "Back-off restarting failed container app ...", "Warning")
    e = pod_event(p, "Scheduled", "Successfully assigned ...", api="events",
                  reporting_controller="default-scheduler", action="Binding")
    e = node_event("node-a", "NodeNotReady", "Node node-a status is now: NodeNotReady")
    bump_series(e)                                     # one more occurrence
  api="core" (default) is an Event recorded through core/v1 (the kubelet's recorder): eventTime
  null, no series, deprecatedSource/FirstTimestamp/LastTimestamp/Count set. api="events" is one
  recorded through events.k8s.io/v1 (the scheduler's): eventTime with microseconds, series after
  the second occurrence, deprecated fields empty.
"""
import datetime
import fractions
import hashlib
import json
import math
import random
import re
import time
import uuid

RNG = random.Random(0x7A510)
_NAMES = set()  # (namespace, name) of every pod node_pods() made


def _rng(rng):
    return rng if rng is not None else RNG


# JSON and time as the API server writes them

def gojson(obj):
    """Compact JSON bytes as Go's encoding/json (and the API server's serializer) writes them."""
    s = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    s = (s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
         .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
    return s.encode()


def gojson_pretty(obj, prefix="", indent="  "):
    """json.MarshalIndent(obj, prefix, indent): no trailing newline."""
    s = json.dumps(obj, ensure_ascii=False, indent=indent, separators=(",", ": "),
                   allow_nan=False)
    if prefix:
        s = s.replace("\n", "\n" + prefix)
    return (s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode())


def now():
    return time.time()


def rfc3339(t):
    """metav1.Time: seconds, UTC, Z."""
    d = datetime.datetime.fromtimestamp(int(t), datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


def microtime(t):
    """metav1.MicroTime: microseconds, UTC, Z."""
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%06dZ" % d.microsecond


def parse_time(s):
    """RFC 3339 (with or without fraction) to epoch seconds (float)."""
    if s is None:
        return None
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def _sorted(d):
    return dict(sorted(d.items()))


def new_uid(rng=None):
    return str(uuid.UUID(int=_rng(rng).getrandbits(128), version=4))


def hex64(rng=None):
    return "%064x" % _rng(rng).getrandbits(256)


# Quantities (k8s.io/apimachinery/pkg/api/resource)

_SUFFIX = {"n": fractions.Fraction(1, 10**9), "u": fractions.Fraction(1, 10**6),
           "m": fractions.Fraction(1, 1000), "": 1, "k": 10**3, "M": 10**6, "G": 10**9,
           "T": 10**12, "P": 10**15, "E": 10**18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30,
           "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))"
                       r"(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$")


def parse_quantity(s):
    """Exact value of a quantity string as a Fraction; ValueError when it is not one."""
    m = _QUANTITY.match(s)
    if not m:
        raise ValueError("not a quantity: %r" % s)
    value = fractions.Fraction(m.group(1))
    if m.group(2):
        return value * fractions.Fraction(10) ** int(m.group(2)[1:])
    return value * _SUFFIX[m.group(3) or ""]


def cpu_millis(s):
    return math.ceil(parse_quantity(s) * 1000)


def memory_bytes(s):
    return math.ceil(parse_quantity(s))


# Pods

def container(name, image=None, cpu=None, memory=None, cpu_limit=None, memory_limit=None,
              env=None, command=None, args=None, ports=None):
    """A container's spec as make_pod takes it."""
    return {"name": name, "image": image or "registry.example.com/shop/%s:1.4.2" % name,
            "cpu": cpu, "memory": memory, "cpu_limit": cpu_limit, "memory_limit": memory_limit,
            "env": env, "command": command, "args": args, "ports": ports}


DEFAULT_CONTAINER = dict(cpu="250m", memory="128Mi", cpu_limit="1", memory_limit="1Gi")


def _resources(c):
    limits = {k: c[k + "_limit"] for k in ("cpu", "memory") if c.get(k + "_limit")}
    requests = {k: c[k] for k in ("cpu", "memory") if c.get(k)}
    out = {}
    if limits:
        out["limits"] = _sorted(limits)
    if requests:
        out["requests"] = _sorted(requests)
    return out


def _qos(containers):
    """The QoS class as the API server computes it (requests default to limits)."""
    any_set = False
    guaranteed = True
    for c in containers:
        lim = {k: c.get(k + "_limit") for k in ("cpu", "memory")}
        req = {k: c.get(k) or lim[k] for k in ("cpu", "memory")}
        if any(lim.values()) or any(req.values()):
            any_set = True
        for k in ("cpu", "memory"):
            if not lim[k] or parse_quantity(req[k]) != parse_quantity(lim[k]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _fields_v1(obj):
    """A managedFields fieldsV1 tree for obj's keys (lists of named items keyed by name)."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if isinstance(v, dict) and v:
                out["f:" + k] = {".": {}, **_fields_v1(v)}
            elif isinstance(v, list) and v and isinstance(v[0], dict) and "name" in v[0]:
                out["f:" + k] = {'k:{"name":"%s"}' % i["name"]: {".": {}, **_fields_v1(i)}
                                 for i in v}
            else:
                out["f:" + k] = {}
        return out
    return {}


def node_ip(node):
    h = int(hashlib.sha256(node.encode()).hexdigest(), 16)
    return "10.0.%d.%d" % (h % 200, 10 + (h >> 8) % 200)


def _pod_ip(node, rng):
    h = int(hashlib.sha256(node.encode()).hexdigest(), 16)
    return "10.244.%d.%d" % (h % 250, rng.randrange(2, 250))


def _image_id(image, rng):
    repo = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return "%s@sha256:%s" % (repo, hex64(rng))


def _running_status(spec, started, rng):
    return {"name": spec["name"], "state": {"running": {"startedAt": rfc3339(started)}},
            "lastState": {}, "ready": True, "restartCount": 0, "image": spec["image"],
            "imageID": _image_id(spec["image"], rng), "containerID": "containerd://" + hex64(rng),
            "started": True}


def _completed_init_status(spec, started, rng):
    cid = "containerd://" + hex64(rng)
    return {"name": spec["name"],
            "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                     "startedAt": rfc3339(started),
                                     "finishedAt": rfc3339(started + 2),
                                     "containerID": cid}},
            "lastState": {}, "ready": True, "restartCount": 0, "image": spec["image"],
            "imageID": _image_id(spec["image"], rng), "containerID": cid, "started": False}


def _container_json(c, sa_volume, extra_mounts):
    env = c.get("env")
    out = {"name": c["name"], "image": c["image"]}
    if c.get("command"):
        out["command"] = c["command"]
    if c.get("args"):
        out["args"] = c["args"]
    if c.get("ports"):
        out["ports"] = c["ports"]
    if env:
        out["env"] = [{"name": k, **({"value": v} if isinstance(v, str) else {"valueFrom": v})}
                      for k, v in env.items()]
    out["resources"] = _resources(c)
    out["volumeMounts"] = extra_mounts + [
        {"name": sa_volume, "readOnly": True,
         "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]
    out["terminationMessagePath"] = "/dev/termination-log"
    out["terminationMessagePolicy"] = "File"
    out["imagePullPolicy"] = "IfNotPresent"
    return out


OWNER_API = {"ReplicaSet": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1",
             "Job": "batch/v1", "Node": "v1"}


def make_pod(name, namespace="default", node="node-a", *, uid=None, labels=None,
             annotations=None, owner="ReplicaSet", owner_name=None, containers=None,
             init_containers=None, service_account="default", priority_class=None, priority=None,
             phase="Running", host_network=False, created=None, static=False,
             last_applied=True, rng=None):
    """A pod as the API server returns it (list item form: no kind/apiVersion; the server adds
    resourceVersion). node=None: not scheduled. owner: "ReplicaSet", "StatefulSet", "DaemonSet",
    "Job", "Node" (mirror pod of a static pod) or None (a bare pod). static=True: a static pod as
    the kubelet knows it (uid = config hash, config.* annotations); see mirror_pod()."""
    rng = _rng(rng)
    created = created if created is not None else now() - 600
    base = re.sub(r"-[a-z0-9]{1,10}$", "", name) or name
    containers = [dict(c) for c in containers or [container("app", **DEFAULT_CONTAINER)]]
    secret = "tapio-secret-%016x" % rng.getrandbits(64)
    for c in containers:
        if c.get("env") is None:
            # A secret-looking value (never to be exported), non-ASCII text and characters
            # Go's encoder escapes (<, >, &): what a stream parser meets in real pods.
            c["env"] = {
                "LOG_LEVEL": "info", "DB_PASSWORD": secret, "GREETING": "grüße – ✓ <ok> & on",
                "POD_IP": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}},
                "API_TOKEN": {"secretKeyRef": {"name": base + "-api", "key": "token"}}}
    init_containers = [dict(c) for c in (init_containers or [])]
    uid = uid or (("%032x" % rng.getrandbits(128)) if static else new_uid(rng))
    labels = _sorted(labels if labels is not None else {"app": base})
    if not owner_name:
        if owner in ("StatefulSet", "DaemonSet", "Job"):
            owner_name = base
        elif owner == "Node":
            owner_name = node
        elif name.count("-") >= 2:  # web-6d4cf56db6-9zx8k: the ReplicaSet is web-6d4cf56db6
            owner_name = name.rsplit("-", 1)[0]
        else:
            owner_name = base + "-%08x" % rng.getrandbits(32)
    if owner == "ReplicaSet":
        labels = _sorted({**labels, "pod-template-hash": owner_name.rsplit("-", 1)[-1]})

    meta = {"name": name}
    if owner in ("ReplicaSet", "DaemonSet", "Job") and "-" in name:
        meta["generateName"] = name[:name.rindex("-") + 1]
    meta["namespace"] = namespace
    meta["uid"] = uid
    meta["creationTimestamp"] = rfc3339(created)
    meta["labels"] = labels
    ann = dict(annotations or {})
    if last_applied:
        # What `kubectl apply` leaves behind: the whole manifest, env values included.
        manifest = {"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"annotations": {}, "labels": labels, "name": name,
                                 "namespace": namespace},
                    "spec": {"containers": [
                        {"env": [{"name": k, "value": v} for k, v in c["env"].items()
                                 if isinstance(v, str)],
                         "image": c["image"], "name": c["name"]} for c in containers]}}
        ann["kubectl.kubernetes.io/last-applied-configuration"] = \
            json.dumps(manifest, separators=(",", ":")) + "\n"
    if static:
        ann.update({"kubernetes.io/config.hash": uid,
                    "kubernetes.io/config.seen": rfc3339(created)[:-1] + ".000000000Z",
                    "kubernetes.io/config.source": "file"})
    if ann:
        meta["annotations"] = _sorted(ann)
    if owner:
        ref = {"apiVersion": OWNER_API[owner], "kind": owner, "name": owner_name,
               "uid": new_uid(rng), "controller": True}
        if owner != "Node":
            ref["blockOwnerDeletion"] = True
        meta["ownerReferences"] = [ref]

    sa_volume = "kube-api-access-%05x" % rng.getrandbits(20)
    volumes = [{"name": sa_volume, "projected": {"sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt",
                       "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
            "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}],
        "defaultMode": 420}}]
    mounts = []
    if owner == "StatefulSet":
        volumes.insert(0, {"name": "data", "persistentVolumeClaim": {"claimName": "data-" + name}})
        mounts.append({"name": "data", "mountPath": "/var/lib/data"})
    spec = {"volumes": volumes}
    if init_containers:
        spec["initContainers"] = [_container_json(c, sa_volume, []) for c in init_containers]
    spec["containers"] = [_container_json(c, sa_volume, mounts) for c in containers]
    spec["restartPolicy"] = "OnFailure" if owner == "Job" else "Always"
    spec["terminationGracePeriodSeconds"] = 30
    spec["dnsPolicy"] = "ClusterFirst"
    spec["serviceAccountName"] = service_account
    spec["serviceAccount"] = service_account
    if node:
        spec["nodeName"] = node
    if host_network:
        spec["hostNetwork"] = True
    spec["securityContext"] = {}
    spec["schedulerName"] = "default-scheduler"
    spec["tolerations"] = [
        {"key": "node.kubernetes.io/" + key, "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300} for key in ("not-ready", "unreachable")]
    if priority_class:
        spec["priorityClassName"] = priority_class
    if priority is None:
        priority = {None: 0, "system-node-critical": 2000001000}.get(priority_class, 1000000)
    spec["priority"] = priority
    spec["enableServiceLinks"] = True
    spec["preemptionPolicy"] = "PreemptLowerPriority"

    started = created + 2
    status = {"phase": phase if node else "Pending"}
    if not node:
        status["conditions"] = [{"type": "PodScheduled", "status": "False", "lastProbeTime": None,
                                 "lastTransitionTime": rfc3339(created), "reason": "Unschedulable",
                                 "message": "0/3 nodes are available: 3 Insufficient cpu."}]
    else:
        status["conditions"] = [
            {"type": t, "status": "True", "lastProbeTime": None,
             "lastTransitionTime": rfc3339(started + i)}
            for i, t in enumerate(("Initialized", "Ready", "ContainersReady"))]
        status["conditions"].append({"type": "PodScheduled", "status": "True",
                                     "lastProbeTime": None, "lastTransitionTime": rfc3339(created)})
        status["hostIP"] = node_ip(node)
        if host_network:
            status["podIP"] = status["hostIP"]
            status["podIPs"] = [{"ip": status["hostIP"]}]
        else:
            ip = _pod_ip(node, rng)
            status["podIP"] = ip
            status["podIPs"] = [{"ip": ip}, {"ip": "fd00:10:244::%x" % int(ip.split(".")[3])}]
        status["startTime"] = rfc3339(created + 1)
        if init_containers:
            status["initContainerStatuses"] = [_completed_init_status(c, started - 1, rng)
                                               for c in init_containers]
        status["containerStatuses"] = [_running_status(c, started + 1, rng) for c in containers]
    status["qosClass"] = _qos(containers)
    pod = {"metadata": meta, "spec": spec, "status": status}

    writer = "kubectl-client-side-apply" if owner in (None, "Node") else "kube-controller-manager"
    meta_fields = ("generateName", "labels", "annotations", "ownerReferences")
    meta["managedFields"] = [
        {"manager": writer, "operation": "Update", "apiVersion": "v1", "time": rfc3339(created),
         "fieldsType": "FieldsV1",
         "fieldsV1": {"f:metadata": _fields_v1({k: v for k, v in meta.items() if k in meta_fields}),
                      "f:spec": _fields_v1({k: v for k, v in spec.items()
                                            if k not in ("nodeName", "volumes")})}}]
    if node:
        meta["managedFields"].append(
            {"manager": "kubelet", "operation": "Update", "apiVersion": "v1",
             "time": rfc3339(started + 2), "fieldsType": "FieldsV1",
             "fieldsV1": {"f:status": _fields_v1({k: v for k, v in status.items()
                                                  if k != "phase"})},
             "subresource": "status"})
    if phase == "Succeeded" and node:
        for c in containers:
            terminate_container(pod, c["name"], 0, "Completed", at=started + 30)
        set_phase(pod, "Succeeded")
    return pod


def mirror_pod(static, rng=None):
    """The API server's mirror of a static pod: its own uid, the kubelet's uid in the
    kubernetes.io/config.mirror annotation."""
    rng = _rng(rng)
    m = json.loads(json.dumps(static))
    m["metadata"]["uid"] = new_uid(rng)
    ann = dict(m["metadata"]["annotations"])
    ann["kubernetes.io/config.mirror"] = static["metadata"]["uid"]
    m["metadata"]["annotations"] = _sorted(ann)
    return m


def node_pods(node, count=250, rng=None,
              namespaces=("shop", "payments", "search", "batch", "monitoring")):
    """`count` varied pods on one node: Deployments, StatefulSets (PVC volumes), DaemonSets with
    host networking, Jobs (Succeeded), init containers, two containers, every QoS class, a few
    crash-looping, image-pull-backoff, OOM-killed-then-restarted containers, and a static pod
    (as its mirror: the API server's view)."""
    rng = _rng(rng)
    pods = []
    t0 = now() - 86400
    for i in range(count):
        ns = namespaces[i % len(namespaces)]
        kind = ("ReplicaSet", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", None)[i % 6]
        while True:  # names are unique in the process: two nodes' pods can share a cluster
            suffix = "%05x" % rng.getrandbits(20)
            name = {"ReplicaSet": "svc%d-%08x-%s" % (i % 17, rng.getrandbits(32), suffix),
                    "StatefulSet": "db%03x-%d" % (rng.getrandbits(12), i % 3),
                    "DaemonSet": "agent%d-%s" % (i % 3, suffix),
                    "Job": "job%d-%s" % (i, suffix),
                    None: "bare%d-%s" % (i, suffix)}[kind]
            if (ns, name) not in _NAMES:
                _NAMES.add((ns, name))
                break
        q = i % 3  # Burstable, Guaranteed, BestEffort
        cs = [container("app", cpu=("250m", "1", None)[q], memory=("128Mi", "1Gi", None)[q],
                        cpu_limit=("1", "1", None)[q], memory_limit=("1e9", "1Gi", None)[q])]
        if i % 4 == 1:
            cs.append(container("sidecar", cpu="50m", memory="64Mi", cpu_limit="1500m",
                                memory_limit="1536Mi", args=["--listen=:9090"]))
        inits = [container("init-setup", cpu="10m", memory="16Mi")] if i % 5 == 2 else None
        daemon = kind == "DaemonSet"
        pod = make_pod(name, ns, node, owner=kind, containers=cs, init_containers=inits,
                       host_network=daemon,
                       priority_class="system-node-critical" if daemon else None,
                       service_account="agent" if daemon else "default",
                       phase="Succeeded" if kind == "Job" else "Running", created=t0 + i * 60,
                       last_applied=kind is None, rng=rng)
        if kind != "Job":
            if i % 23 == 7:
                crash_loop(pod, "app", exit_code=2)
            elif i % 29 == 11:
                image_pull_backoff(pod, "app")
            elif i % 31 == 13:
                oom_kill(pod, "app")
        pods.append(pod)
    if count:
        proxy = container("kube-proxy", image="registry.k8s.io/kube-proxy:v1.27.16", cpu="100m",
                          command=["/usr/local/bin/kube-proxy",
                                   "--config=/var/lib/kube-proxy/config.conf"])
        static = make_pod("kube-proxy-" + node, "kube-system", node, owner="Node", static=True,
                          host_network=True, priority_class="system-node-critical",
                          containers=[proxy], last_applied=False, rng=rng)
        pods[-1] = mirror_pod(static, rng)
    return pods


def container_status(pod, name):
    for key in ("containerStatuses", "initContainerStatuses"):
        for s in pod["status"].get(key, ()):
            if s["name"] == name:
                return s
    raise KeyError("no container %r in pod %s" % (name, pod["metadata"]["name"]))


def container_id(pod, name):
    """The container's id without the runtime prefix (what cgroup paths carry), or None."""
    cid = container_status(pod, name).get("containerID")
    return cid.split("://", 1)[1] if cid else None


def secret_values(pod):
    """Every env value and annotation value of the pod: strings no record may contain."""
    out = []
    for key in ("initContainers", "containers"):
        for c in pod["spec"].get(key, ()):
            out += [e["value"] for e in c.get("env", ()) if e.get("value")]
    out += list(pod["metadata"].get("annotations", {}).values())
    return out


def _sync_ready(pod, at):
    statuses = pod["status"].get("containerStatuses", [])
    unready = [s["name"] for s in statuses if not s["ready"]]
    for cond in pod["status"].get("conditions", []):
        if cond["type"] not in ("Ready", "ContainersReady"):
            continue
        want = "False" if unready or pod["status"]["phase"] in ("Succeeded", "Failed") else "True"
        if cond["status"] != want:
            cond["status"] = want
            cond["lastTransitionTime"] = rfc3339(at)
        cond.pop("reason", None)
        cond.pop("message", None)
        if want == "False":
            if pod["status"]["phase"] in ("Succeeded", "Failed"):
                cond["reason"] = "PodCompleted"
            else:
                cond["reason"] = "ContainersNotReady"
                cond["message"] = "containers with unready status: [%s]" % " ".join(unready)


def _terminated(exit_code, reason, started, finished, cid, signal=None, message=None):
    t = {"exitCode": exit_code}
    if signal:
        t["signal"] = signal
    if reason:
        t["reason"] = reason
    if message:
        t["message"] = message
    t["startedAt"] = rfc3339(started) if started is not None else None
    t["finishedAt"] = rfc3339(finished)
    if cid:
        t["containerID"] = cid
    return t


def restart_container(pod, name, exit_code=1, reason="Error", signal=None, message=None, at=None,
                      rng=None):
    """The container exited and the kubelet started it again: restartCount + 1, lastState
    terminated (with the old container id), a new container id, running since `at`."""
    at = at if at is not None else now()
    s = container_status(pod, name)
    running = s["state"].get("running")
    started = parse_time(running["startedAt"]) if running else at - 1
    s["lastState"] = {"terminated": _terminated(exit_code, reason, started, at,
                                                s.get("containerID"), signal, message)}
    s["state"] = {"running": {"startedAt": rfc3339(at)}}
    s["restartCount"] += 1
    s["containerID"] = "containerd://" + hex64(rng)
    s["ready"] = True
    s["started"] = True
    _sync_ready(pod, at)
    return pod


def oom_kill(pod, name, restart=True, at=None, rng=None):
    """Killed by the OOM killer (exit code 137, reason OOMKilled); restarted unless restart=False,
    in which case it stays terminated."""
    if restart:
        return restart_container(pod, name, 137, "OOMKilled", at=at, rng=rng)
    return terminate_container(pod, name, 137, "OOMKilled", at=at)


def crash_loop(pod, name, exit_code=1, at=None, back_off="10s"):
    """Exited again and now waits out the back-off: waiting CrashLoopBackOff, lastState
    terminated Error, restartCount + 1, not ready."""
    at = at if at is not None else now()
    s = container_status(pod, name)
    running = s["state"].get("running")
    started = parse_time(running["startedAt"]) if running else at - 1
    s["lastState"] = {"terminated": _terminated(exit_code, "Error", started, at,
                                                s.get("containerID"))}
    s["restartCount"] += 1
    m = pod["metadata"]
    s["state"] = {"waiting": {
        "reason": "CrashLoopBackOff",
        "message": "back-off %s restarting failed container=%s pod=%s_%s(%s)" % (
            back_off, name, m["name"], m["namespace"], m["uid"])}}
    s["ready"] = False
    s["started"] = False
    _sync_ready(pod, at)
    return pod


def wait_container(pod, name, reason, message=None, at=None):
    """Waiting with a reason (ContainerCreating, ErrImagePull, CreateContainerConfigError, ...)."""
    at = at if at is not None else now()
    s = container_status(pod, name)
    s["state"] = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
    s["ready"] = False
    s["started"] = False
    _sync_ready(pod, at)
    return pod


def image_pull_backoff(pod, name, image=None, at=None):
    """A container whose image cannot be pulled: never started, no container id, empty imageID."""
    s = container_status(pod, name)
    image = image or s["image"]
    s["image"] = image
    s["imageID"] = ""
    s.pop("containerID", None)
    s["lastState"] = {}
    return wait_container(pod, name, "ImagePullBackOff", 'Back-off pulling image "%s"' % image, at)


def run_container(pod, name, at=None, rng=None):
    """Waiting -> running: a new container id, started, ready."""
    at = at if at is not None else now()
    s = container_status(pod, name)
    s["state"] = {"running": {"startedAt": rfc3339(at)}}
    s["containerID"] = "containerd://" + hex64(rng)
    if not s.get("imageID"):
        s["imageID"] = _image_id(s["image"], _rng(rng))
    s["ready"] = True
    s["started"] = True
    _sync_ready(pod, at)
    return pod


def terminate_container(pod, name, exit_code=0, reason="Completed", signal=None, message=None,
                        at=None):
    """The container exited and is not restarted (restartPolicy, deletion, a finished Job)."""
    at = at if at is not None else now()
    s = container_status(pod, name)
    running = s["state"].get("running")
    started = parse_time(running["startedAt"]) if running else None
    s["state"] = {"terminated": _terminated(exit_code, reason, started, at, s.get("containerID"),
                                            signal, message)}
    s["ready"] = False
    s["started"] = False
    _sync_ready(pod, at)
    return pod


def set_phase(pod, phase, at=None):
    pod["status"]["phase"] = phase
    _sync_ready(pod, at if at is not None else now())
    return pod


def mark_deleting(pod, grace=30, at=None):
    """What a graceful delete first writes: deletionTimestamp = now + grace."""
    at = at if at is not None else now()
    pod["metadata"]["deletionTimestamp"] = rfc3339(at + grace)
    pod["metadata"]["deletionGracePeriodSeconds"] = grace
    keys = list(pod["metadata"])
    # In Go's ObjectMeta order.
    order = ["name", "generateName", "namespace", "selfLink", "uid", "resourceVersion",
             "generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
             "labels", "annotations", "ownerReferences", "finalizers", "managedFields"]
    pod["metadata"] = {k: pod["metadata"][k] for k in sorted(keys, key=order.index)}
    return pod


# Events (events.k8s.io/v1)

def object_ref(obj, kind="Pod", api_version="v1", field_path=None):
    """An ObjectReference to a pod dict (or any object dict with metadata)."""
    m = obj["metadata"]
    ref = {"kind": kind}
    if m.get("namespace"):
        ref["namespace"] = m["namespace"]
    ref["name"] = m["name"]
    if m.get("uid"):
        ref["uid"] = m["uid"]
    ref["apiVersion"] = api_version
    if m.get("resourceVersion"):
        ref["resourceVersion"] = m["resourceVersion"]
    if field_path:
        ref["fieldPath"] = field_path
    return ref


def make_event(regarding, reason, note, type="Normal", *, namespace=None, api="core",
               reporting_controller="kubelet", reporting_instance=None, action=None, count=1,
               at=None, first=None, related=None, rng=None):
    """An events.k8s.io/v1 Event about `regarding` (an ObjectReference dict)."""
    rng = _rng(rng)
    at = at if at is not None else now()
    first = first if first is not None else at
    ns = namespace or regarding.get("namespace") or "default"
    name = "%s.%x" % (regarding["name"], int(first * 1e9) + rng.getrandbits(20))
    meta = {"name": name, "namespace": ns, "uid": new_uid(rng), "creationTimestamp": rfc3339(first)}
    ev = {"metadata": meta}
    if api == "events":
        ev["eventTime"] = microtime(first)
        if count > 1:
            ev["series"] = {"count": count, "lastObservedTime": microtime(at)}
    else:
        ev["eventTime"] = None
    if reporting_controller:
        ev["reportingController"] = reporting_controller
    if reporting_instance:
        ev["reportingInstance"] = reporting_instance
    if action:
        ev["action"] = action
    ev["reason"] = reason
    ev["regarding"] = regarding
    if related:
        ev["related"] = related
    if note:
        ev["note"] = note
    ev["type"] = type
    if api == "events":
        ev["deprecatedSource"] = {}
        ev["deprecatedFirstTimestamp"] = None
        ev["deprecatedLastTimestamp"] = None
    else:
        src = {"component": reporting_controller or ""}
        if reporting_instance:
            src["host"] = reporting_instance
        ev["deprecatedSource"] = src
        ev["deprecatedFirstTimestamp"] = rfc3339(first)
        ev["deprecatedLastTimestamp"] = rfc3339(at)
        ev["deprecatedCount"] = count
    meta["managedFields"] = [{"manager": reporting_controller or "kubelet", "operation": "Update",
                              "apiVersion": "events.k8s.io/v1" if api == "events" else "v1",
                              "time": rfc3339(first), "fieldsType": "FieldsV1",
                              "fieldsV1": _fields_v1({k: v for k, v in ev.items()
                                                      if k != "metadata"})}]
    return ev


def pod_event(pod, reason, note, type="Normal", container=None, **kw):
    """An Event about a pod (fieldPath spec.containers{name} when about one container); the
    reporting instance defaults to the pod's node."""
    fp = "spec.containers{%s}" % container if container else None
    kw.setdefault("reporting_instance", pod["spec"].get("nodeName"))
    return make_event(object_ref(pod, field_path=fp), reason, note, type, **kw)


def node_event(node, reason, note, type="Normal", uid=None, **kw):
    """An Event about a Node (cluster-scoped: the Event lives in "default")."""
    ref = {"kind": "Node", "name": node, "uid": uid or node, "apiVersion": "v1"}
    kw.setdefault("reporting_instance", node)
    return make_event(ref, reason, note, type, namespace="default", **kw)


def bump_series(ev, at=None):
    """One more occurrence: series (events.k8s.io style) or deprecatedCount (core style)."""
    at = at if at is not None else now()
    if ev.get("eventTime"):
        series = ev.get("series") or {"count": 1}
        ev_new = {}
        for k, v in ev.items():
            if k == "series":
                continue
            ev_new[k] = v
            if k == "eventTime":
                ev_new["series"] = {"count": series["count"] + 1, "lastObservedTime": microtime(at)}
        ev.clear()
        ev.update(ev_new)
    else:
        ev["deprecatedCount"] = ev.get("deprecatedCount", 1) + 1
        ev["deprecatedLastTimestamp"] = rfc3339(at)
    return ev
