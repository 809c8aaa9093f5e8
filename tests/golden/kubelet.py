#!/usr/bin/python3
"""Golden Avro bytes for tests/test_kubelet.c, written by Debian's python3-avro (an implementation
independent of ours) from schemas/kubelet.avsc, with the kubelet JSON each record comes from.
Run from the repository root with /usr/bin/python3; paste the output into
tests/golden/kubelet.inc.

Each case prints its inputs as C strings (JSON as the kubelet would send it) and the expected
datum, written here by hand from those inputs: fields the input leaves out are null."""
import datetime
import io
import json

import avro.io
import avro.schema

SCHEMA = avro.schema.parse(open("schemas/kubelet.avsc").read())
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
OBSERVED_US = 1764000000123456
UID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
CID_APP = "ab" * 32
CID_OLD = "cd" * 32
CID_SIDECAR = "ef" * 32
CID_INIT = "12" * 32


def us(n):
    return EPOCH + datetime.timedelta(microseconds=n)


def t(s):
    """RFC 3339 → the datetime python3-avro writes as timestamp-micros."""
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


NULLS = dict(namespace=None, pod_name=None, pod_stats=None, node_stats=None, pod_status=None,
             container=None, pod_phase=None, pod_ready=None, scrape_failed=None)


def record(kind, pod_uid=UID, container_id=None, **fields):
    d = {"kind": kind, "event_time": us(OBSERVED_US), "seq": 7, "run": 1764000000000000,
         "node": "node-a", "cgroup_id": 0, "pod_uid": pod_uid, "container_id": container_id,
         "loss": None}
    d.update(NULLS)
    d.update(fields)
    return d


T0 = "2025-11-24T16:00:00Z"
T1 = "2025-11-24T16:00:05.250Z"  # a fraction: microseconds kept

# /stats/summary of a node with one pod.
SUMMARY = {
    "node": {
        "nodeName": "node-a",
        "systemContainers": [
            {"name": "kubelet", "startTime": "2025-11-17T08:00:00Z",
             "cpu": {"time": T0, "usageNanoCores": 8000000, "usageCoreNanoSeconds": 8000100000000},
             # no availableBytes: the kubelet's cgroup has no limit
             "memory": {"time": T0, "usageBytes": 105906176, "workingSetBytes": 100663296,
                        "rssBytes": 97517568, "pageFaults": 500001, "majorPageFaults": 12}},
        ],
        "startTime": "2025-11-17T08:00:00Z",
        "cpu": {"time": T0, "usageNanoCores": 1500005000, "usageCoreNanoSeconds": 9001936734000000},
        "memory": {"time": T0, "availableBytes": 62562762752, "usageBytes": 6161956864,
                   "workingSetBytes": 6156713984, "rssBytes": 6153568256, "pageFaults": 90001000,
                   "majorPageFaults": 1201},
        "network": {"time": T0, "name": "eth0", "rxBytes": 800001000000, "rxErrors": 0,
                    "txBytes": 300001000000, "txErrors": 3,
                    "interfaces": [
                        {"name": "eth0", "rxBytes": 800001000000, "rxErrors": 0,
                         "txBytes": 300001000000, "txErrors": 3},
                        {"name": "cni0", "rxBytes": 50000001000, "txBytes": 60000001000}]},
        "fs": {"time": T0, "availableBytes": 138512695296, "capacityBytes": 214748364800,
               "usedBytes": 65498251264, "inodesFree": 12694855, "inodes": 13107200,
               "inodesUsed": 412345},
        "runtime": {"imageFs": {"time": T0, "availableBytes": 184683593728,
                                "capacityBytes": 214748364800, "usedBytes": 19327352832}},
        "rlimit": {"time": T0, "maxpid": 4194304, "curproc": 1515},
    },
    "pods": [{
        "podRef": {"name": "web-6d4cf56db6-9zx8k", "namespace": "shop", "uid": UID},
        "startTime": "2025-11-24T15:00:00Z",
        "containers": [
            {"name": "app", "startTime": "2025-11-24T15:00:02Z",
             "cpu": {"time": T1, "usageNanoCores": 230000000, "usageCoreNanoSeconds": 67225000000},
             "memory": {"time": T1, "availableBytes": 1013972992, "usageBytes": 65011712,
                        "workingSetBytes": 59768832, "rssBytes": 56623104, "pageFaults": 19161,
                        "majorPageFaults": 14},
             "rootfs": {"time": T1, "availableBytes": 138512695296, "capacityBytes": 214748364800,
                        "usedBytes": 1703936, "inodesFree": 12694855, "inodes": 13107200,
                        "inodesUsed": 20},
             "logs": {"time": T1, "usedBytes": 8192, "inodesUsed": 1}},
            # no memory at all, no rootfs; not in /pods: no container_id
            {"name": "sidecar", "cpu": {"time": T1, "usageCoreNanoSeconds": 1000}},
        ],
        "cpu": {"time": T1, "usageNanoCores": 461100000, "usageCoreNanoSeconds": 135470000000},
        "memory": {"time": T1, "usageBytes": 132644864, "workingSetBytes": 127401984},
        # host network: no "network"
        "volume": [
            {"time": T1, "availableBytes": 8588853248, "capacityBytes": 8589934592,
             "usedBytes": 1081344, "inodesFree": 2097143, "inodes": 2097152, "inodesUsed": 9,
             "name": "data", "pvcRef": {"name": "data-web-0", "namespace": "shop"}},
            {"time": T1, "usedBytes": 4096, "name": "kube-api-access-x1"},
        ],
        "ephemeral-storage": {"time": T1, "usedBytes": 3489792, "inodesUsed": 43},
        "process_stats": {"process_count": 4},
    }],
}

FS_NULL = dict(time=None, available_bytes=None, capacity_bytes=None, used_bytes=None,
               inodes_free=None, inodes=None, inodes_used=None)


def fs(time, available=None, capacity=None, used=None, free=None, inodes=None, inodes_used=None):
    return dict(time=t(time), available_bytes=available, capacity_bytes=capacity, used_bytes=used,
                inodes_free=free, inodes=inodes, inodes_used=inodes_used)


POD_STATS = record(
    "POD_STATS", namespace="shop", pod_name="web-6d4cf56db6-9zx8k",
    pod_stats={
        "start_time": t("2025-11-24T15:00:00Z"),
        "cpu": {"time": t(T1), "usage_nano_cores": 461100000,
                "usage_core_nano_seconds": 135470000000},
        "memory": {"time": t(T1), "available_bytes": None, "usage_bytes": 132644864,
                   "working_set_bytes": 127401984, "rss_bytes": None, "page_faults": None,
                   "major_page_faults": None},
        "network": None,
        "ephemeral_storage": fs(T1, used=3489792, inodes_used=43),
        "process_count": 4,
        "volumes": [
            {"name": "data", "pvc_namespace": "shop", "pvc_name": "data-web-0",
             "fs": fs(T1, 8588853248, 8589934592, 1081344, 2097143, 2097152, 9)},
            {"name": "kube-api-access-x1", "pvc_namespace": None, "pvc_name": None,
             "fs": fs(T1, used=4096)},
        ],
        "containers": [
            {"name": "app", "container_id": CID_APP, "start_time": t("2025-11-24T15:00:02Z"),
             "cpu": {"time": t(T1), "usage_nano_cores": 230000000,
                     "usage_core_nano_seconds": 67225000000},
             "memory": {"time": t(T1), "available_bytes": 1013972992, "usage_bytes": 65011712,
                        "working_set_bytes": 59768832, "rss_bytes": 56623104,
                        "page_faults": 19161, "major_page_faults": 14},
             "rootfs": fs(T1, 138512695296, 214748364800, 1703936, 12694855, 13107200, 20),
             "logs": fs(T1, used=8192, inodes_used=1)},
            {"name": "sidecar", "container_id": None, "start_time": None,
             "cpu": {"time": t(T1), "usage_nano_cores": None, "usage_core_nano_seconds": 1000},
             "memory": None, "rootfs": None, "logs": None},
        ],
        "truncated": False,
    })

NODE_STATS = record(
    "NODE_STATS", pod_uid=None,
    node_stats={
        "node_name": "node-a", "start_time": t("2025-11-17T08:00:00Z"),
        "cpu": {"time": t(T0), "usage_nano_cores": 1500005000,
                "usage_core_nano_seconds": 9001936734000000},
        "memory": {"time": t(T0), "available_bytes": 62562762752, "usage_bytes": 6161956864,
                   "working_set_bytes": 6156713984, "rss_bytes": 6153568256,
                   "page_faults": 90001000, "major_page_faults": 1201},
        "network": {"time": t(T0), "name": "eth0", "rx_bytes": 800001000000, "rx_errors": 0,
                    "tx_bytes": 300001000000, "tx_errors": 3, "interfaces": [
                        {"name": "eth0", "rx_bytes": 800001000000, "rx_errors": 0,
                         "tx_bytes": 300001000000, "tx_errors": 3},
                        {"name": "cni0", "rx_bytes": 50000001000, "rx_errors": None,
                         "tx_bytes": 60000001000, "tx_errors": None}]},
        "fs": fs(T0, 138512695296, 214748364800, 65498251264, 12694855, 13107200, 412345),
        "image_fs": fs(T0, 184683593728, 214748364800, 19327352832),
        "container_fs": None,
        "max_pid": 4194304, "process_count": 1515,
        "system_containers": [
            {"name": "kubelet", "start_time": t("2025-11-17T08:00:00Z"),
             "cpu": {"time": t(T0), "usage_nano_cores": 8000000,
                     "usage_core_nano_seconds": 8000100000000},
             "memory": {"time": t(T0), "available_bytes": None, "usage_bytes": 105906176,
                        "working_set_bytes": 100663296, "rss_bytes": 97517568,
                        "page_faults": 500001, "major_page_faults": 12}}],
        "pods": 1, "duration_ms": 42, "missed_intervals": 2, "truncated": False,
    })

SCRAPE_FAILED = record(
    "SCRAPE_FAILED", pod_uid=None,
    scrape_failed={"endpoint": "/stats/summary", "outcome": "HTTP_4XX", "http_status": 403,
                   "error": "HTTP 403: Forbidden (user=system:serviceaccount:tapio:tapio, "
                            "verb=get, resource=nodes, subresource=stats)",
                   "duration_ms": 3})


# /pods: the pod before and after a poll. Only status is read; env and annotations are there to
# show they are not.
def pod(app, sidecar, phase="Running", ready="True", reason=None):
    cond = {"type": "Ready", "status": ready, "lastProbeTime": None,
            "lastTransitionTime": "2025-11-24T15:00:03Z"}
    if reason:
        cond["reason"] = reason
        cond["message"] = "containers with unready status: [sidecar]"
    return {
        "metadata": {"name": "web-6d4cf56db6-9zx8k", "namespace": "shop", "uid": UID,
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration":
                                     "{\"env\":\"DB_PASSWORD=hunter2\"}"}},
        "spec": {"containers": [{"name": "app", "env": [{"name": "DB_PASSWORD",
                                                          "value": "hunter2"}],
                                 "command": ["/bin/app", "--password=hunter2"]}]},
        "status": {
            "phase": phase, "conditions": [
                {"type": "Initialized", "status": "True", "lastProbeTime": None,
                 "lastTransitionTime": "2025-11-24T15:00:01Z"}, cond],
            "hostIP": "10.0.0.5", "podIP": "10.244.1.7",
            "startTime": "2025-11-24T15:00:00Z",
            "initContainerStatuses": [{
                "name": "init-setup",
                "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                         "startedAt": "2025-11-24T15:00:00Z",
                                         "finishedAt": "2025-11-24T15:00:01Z",
                                         "containerID": "containerd://" + CID_INIT}},
                "lastState": {}, "ready": True, "restartCount": 0,
                "image": "registry.example.com/shop/init:1", "imageID": "x",
                "containerID": "containerd://" + CID_INIT, "started": False}],
            "containerStatuses": [app, sidecar],
            "qosClass": "Burstable"}}


APP_RUNNING = {"name": "app", "state": {"running": {"startedAt": "2025-11-24T15:00:02Z"}},
               "lastState": {}, "ready": True, "restartCount": 0,
               "image": "registry.example.com/shop/app:1.4.2", "imageID": "y",
               "containerID": "containerd://" + CID_OLD, "started": True}
# The OOM killer ended it; the kubelet started it again (a new id), all between two polls.
APP_OOM_RESTARTED = {
    "name": "app", "state": {"running": {"startedAt": "2025-11-24T16:00:09Z"}},
    "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled",
                                 "message": "the last lines of its log: password=hunter2",
                                 "startedAt": "2025-11-24T15:00:02Z",
                                 "finishedAt": "2025-11-24T16:00:08Z",
                                 "containerID": "containerd://" + CID_OLD}},
    "ready": True, "restartCount": 1, "image": "registry.example.com/shop/app:1.4.2",
    "imageID": "y", "containerID": "containerd://" + CID_APP, "started": True}
SIDECAR_RUNNING = {"name": "sidecar", "state": {"running": {"startedAt": "2025-11-24T15:00:02Z"}},
                   "lastState": {}, "ready": True, "restartCount": 2,
                   "image": "registry.example.com/shop/sidecar:2", "imageID": "z",
                   "containerID": "containerd://" + CID_SIDECAR, "started": True}
# No containerID, no started: what the kubelet leaves out of a container it cannot start.
SIDECAR_WAITING = {"name": "sidecar", "state": {"waiting": {
    "reason": "CreateContainerConfigError", "message": "secret \"db\" not found"}},
    "lastState": {}, "ready": False, "restartCount": 2,
    "image": "registry.example.com/shop/sidecar:2", "imageID": ""}

PODS_BEFORE = {"kind": "PodList", "apiVersion": "v1", "metadata": {},
               "items": [pod(APP_RUNNING, SIDECAR_RUNNING)]}
PODS_AFTER = {"kind": "PodList", "apiVersion": "v1", "metadata": {},
              "items": [pod(APP_OOM_RESTARTED, SIDECAR_WAITING, ready="False",
                            reason="ContainersNotReady")]}
PODS_FAILED = {"kind": "PodList", "apiVersion": "v1", "metadata": {},
               "items": [pod(APP_OOM_RESTARTED, SIDECAR_WAITING, phase="Failed", ready="False",
                             reason="PodFailed")]}


def terminated(exit_code, reason, started, finished, cid, signal=None):
    return {"exit_code": exit_code, "signal": signal, "reason": reason,
            "started_at": t(started), "finished_at": t(finished), "container_id": cid}


INIT_STATE = {
    "name": "init-setup", "init_container": True, "image": "registry.example.com/shop/init:1",
    "restart_count": 0, "ready": True, "started": False, "state": "TERMINATED",
    "waiting": None, "running_since": None,
    "terminated": terminated(0, "Completed", "2025-11-24T15:00:00Z", "2025-11-24T15:00:01Z",
                             CID_INIT),
    "last_terminated": None}
APP_STATE = {
    "name": "app", "init_container": False, "image": "registry.example.com/shop/app:1.4.2",
    "restart_count": 0, "ready": True, "started": True, "state": "RUNNING", "waiting": None,
    "running_since": t("2025-11-24T15:00:02Z"), "terminated": None, "last_terminated": None}
SIDECAR_STATE = {
    "name": "sidecar", "init_container": False, "image": "registry.example.com/shop/sidecar:2",
    "restart_count": 2, "ready": True, "started": True, "state": "RUNNING", "waiting": None,
    "running_since": t("2025-11-24T15:00:02Z"), "terminated": None, "last_terminated": None}
OOM = terminated(137, "OOMKilled", "2025-11-24T15:00:02Z", "2025-11-24T16:00:08Z", CID_OLD)

POD_HEAD = dict(namespace="shop", pod_name="web-6d4cf56db6-9zx8k")
SNAPSHOT = record(
    "POD_STATUS_SNAPSHOT", **POD_HEAD,
    pod_status={"phase": "Running", "reason": None, "ready": True, "ready_reason": None,
                "qos_class": "Burstable", "start_time": t("2025-11-24T15:00:00Z"),
                "new_pod": False, "containers": [INIT_STATE, APP_STATE, SIDECAR_STATE]})
# The termination as it was when it happened (from lastState), then the restart.
OOM_TERMINATED = record(
    "CONTAINER_TERMINATED", container_id=CID_OLD, **POD_HEAD,
    container=dict(APP_STATE, ready=False, started=False, state="TERMINATED",
                   running_since=None, terminated=OOM))
RESTARTED = record(
    "CONTAINER_RESTARTED", container_id=CID_APP, **POD_HEAD,
    container=dict(APP_STATE, restart_count=1, running_since=t("2025-11-24T16:00:09Z"),
                   last_terminated=OOM))
WAITING = record(
    "CONTAINER_WAITING", container_id=None, **POD_HEAD,
    container=dict(SIDECAR_STATE, ready=False, started=None, state="WAITING",
                   waiting={"reason": "CreateContainerConfigError",
                            "message": "secret \"db\" not found"},
                   running_since=None))
READY = record(
    "POD_READY", **POD_HEAD,
    pod_ready={"ready": False, "previous": True, "reason": "ContainersNotReady",
               "message": "containers with unready status: [sidecar]"})
PHASE = record(
    "POD_PHASE", **POD_HEAD,
    pod_phase={"phase": "Failed", "previous": "Running", "reason": None, "message": None})
REMOVED = record("POD_REMOVED")

INPUTS = {"summary": SUMMARY, "pods_before": PODS_BEFORE, "pods_after": PODS_AFTER,
          "pods_failed": PODS_FAILED}
RECORDS = {"pod_stats": POD_STATS, "node_stats": NODE_STATS, "scrape_failed": SCRAPE_FAILED,
           "snapshot": SNAPSHOT, "oom_terminated": OOM_TERMINATED, "restarted": RESTARTED,
           "waiting": WAITING, "ready": READY, "phase": PHASE, "removed": REMOVED}


def c_string(text):
    out = []
    for i in range(0, len(text), 80):
        piece = text[i:i + 80].replace("\\", "\\\\").replace('"', '\\"')
        out.append('\t"%s"' % piece)
    return "\n".join(out)


print("/* Generated by tests/golden/kubelet.py: do not edit. */")
print("#define GOLDEN_OBSERVED_US %dLL" % OBSERVED_US)
print('#define GOLDEN_UID "%s"' % UID)
print('#define GOLDEN_CID_APP "%s"' % CID_APP)
print('#define GOLDEN_CID_OLD "%s"' % CID_OLD)
for name, obj in INPUTS.items():
    print("static const char input_%s[] =" % name)
    print(c_string(json.dumps(obj, separators=(",", ":"))) + ";")
for name, datum in RECORDS.items():
    buf = io.BytesIO()
    avro.io.DatumWriter(SCHEMA).write(datum, avro.io.BinaryEncoder(buf))
    data = buf.getvalue()
    print("static const uint8_t golden_%s[] = {" % name)
    for i in range(0, len(data), 12):
        print("\t" + " ".join("0x%02x," % b for b in data[i:i + 12]))
    print("};")
