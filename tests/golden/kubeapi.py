#!/usr/bin/python3
"""Golden Avro bytes for tests/test_kubeapi.c, written by Debian's python3-avro (an implementation
independent of ours) from schemas/kubeapi.avsc. Each datum is what the JSON fixture of the same
name in tests/test_kubeapi.c must become, written out by hand from the Kubernetes API's meaning of
each field. Run from the repository root with /usr/bin/python3; paste the output."""
import datetime
import io

import avro.io
import avro.schema

SCHEMA = avro.schema.parse(open("schemas/kubeapi.avsc").read())
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
NOW = 1764000000123456  # the time the test says the record was received
POD_UID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
MIB = 1 << 20


def t(text):
    """An RFC 3339 time as python3-avro wants a timestamp-micros."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def us(micros):
    return EPOCH + datetime.timedelta(microseconds=micros)


def envelope(kind, time, pod_uid=None, **fields):
    datum = {"kind": kind, "event_time": time, "seq": 7, "run": 1764000000000000,
             "node": "node-a", "cgroup_id": 0, "pod_uid": pod_uid, "container_id": None,
             "loss": None, "pod": None, "event": None, "resync": None, "skipped": None}
    datum.update(fields)
    return datum


def resources(cpu=None, memory=None):
    return {"cpu_millis": cpu, "memory_bytes": memory}


def state(kind, reason=None, message=None, started=None, finished=None, exit_code=None,
          signal=None, container_id=None):
    return {"state": kind, "reason": reason, "message": message, "started_at": started,
            "finished_at": finished, "exit_code": exit_code, "signal": signal,
            "container_id": container_id}


RECORDS = {
    # A running pod with an init container, a restarted container and a crash-looping one.
    "pod_full": envelope("POD_MODIFIED", us(NOW), POD_UID, pod={
        "resource_version": "48213", "namespace": "shop", "name": "web-7d9c", "uid": POD_UID,
        "labels": {"app": "web", "tier": "front&back"},
        "annotations": {"tapio.io/team": "payments"},
        "controller": {"kind": "ReplicaSet", "name": "web-7d9c",
                       "uid": "11111111-2222-3333-4444-555555555555"},
        "node_name": "node-a", "phase": "Running", "reason": None, "message": None,
        "qos_class": "Burstable", "pod_ips": ["10.244.1.7", "fd00::7"], "host_ip": "10.0.0.5",
        "service_account": "web", "priority_class": "high",
        "creation_time": t("2025-11-24T15:59:00Z"), "start_time": t("2025-11-24T15:59:01Z"),
        "deletion_time": t("2025-11-24T16:10:00Z"),
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady",
             "message": "containers with unready status: [sidecar]",
             "last_transition_time": t("2025-11-24T16:00:00Z")},
            {"type": "PodScheduled", "status": "True", "reason": None, "message": None,
             "last_transition_time": t("2025-11-24T15:59:00Z")},
        ],
        "containers": [
            {"name": "init", "type": "INIT", "container_id": "a" * 64, "runtime": "containerd",
             "image": "busybox:1.36", "image_id": "docker.io/library/busybox@sha256:" + "b" * 64,
             "ready": True, "started": False, "restart_count": 0,
             "state": state("TERMINATED", "Completed", None, t("2025-11-24T15:59:02Z"),
                            t("2025-11-24T15:59:03Z"), 0, None, "a" * 64),
             "last_state": None, "requests": resources(), "limits": resources()},
            {"name": "app", "type": "CONTAINER", "container_id": "e" * 64,
             "runtime": "containerd", "image": "registry.example.com/web:2.1",
             "image_id": "registry.example.com/web@sha256:" + "d" * 64, "ready": True,
             "started": True, "restart_count": 1,
             "state": state("RUNNING", started=t("2025-11-24T16:00:00.5Z")),
             "last_state": state("TERMINATED", "OOMKilled", "out of memory",
                                 t("2025-11-24T15:59:04Z"), t("2025-11-24T15:59:59Z"), 137, 9,
                                 "c" * 64),
             "requests": resources(250, 128 * MIB), "limits": resources(1000, 1024 * MIB)},
            {"name": "sidecar", "type": "CONTAINER", "container_id": "f" * 64,
             "runtime": "crio", "image": "envoy:1.29", "image_id": None, "ready": False,
             "started": None, "restart_count": 3,
             "state": state("WAITING", "CrashLoopBackOff",
                            "back-off 10s restarting failed container=sidecar"),
             "last_state": state("TERMINATED", "Error", None, t("2025-11-24T16:00:01Z"),
                                 t("2025-11-24T16:00:02Z"), 1, None, "f" * 64),
             "requests": resources(100, 100000000), "limits": resources(None, 512 * MIB)},
        ],
        "truncated": False}),
    # Just scheduled: no status of any container yet.
    "pod_pending": envelope("POD_ADDED", us(NOW), "9a8b7c6d-5e4f-4321-8765-0fedcba98765", pod={
        "resource_version": "7", "namespace": "default", "name": "lonely",
        "uid": "9a8b7c6d-5e4f-4321-8765-0fedcba98765", "labels": {}, "annotations": {},
        "controller": None, "node_name": "node-a", "phase": "Pending", "reason": None,
        "message": None, "qos_class": "BestEffort", "pod_ips": [], "host_ip": None,
        "service_account": None, "priority_class": None, "creation_time": None,
        "start_time": None, "deletion_time": None, "conditions": [],
        "containers": [
            {"name": "main", "type": "CONTAINER", "container_id": None, "runtime": None,
             "image": "nginx", "image_id": None, "ready": False, "started": None,
             "restart_count": 0, "state": None, "last_state": None,
             "requests": resources(), "limits": resources()},
        ],
        "truncated": False}),
    # Recorded through events.k8s.io/v1 (a series), about a pod's container.
    "event_series": envelope("EVENT", t("2025-11-24T16:02:05.654321Z"), POD_UID, event={
        "resource_version": "48300", "namespace": "shop", "name": "web-7d9c.17a1",
        "uid": "22222222-3333-4444-5555-666666666666",
        "regarding": {"kind": "Pod", "namespace": "shop", "name": "web-7d9c", "uid": POD_UID,
                      "field_path": "spec.containers{sidecar}"},
        "reason": "BackOff", "type": "Warning", "action": "Restarting",
        "note": "Back-off restarting failed container sidecar", "note_truncated": False,
        "reporting_controller": "kubelet", "reporting_instance": "node-a",
        "event_time": t("2025-11-24T16:00:05.123456Z"), "series_count": 4,
        "last_observed_time": t("2025-11-24T16:02:05.654321Z")}),
    # Recorded through core/v1 (deprecated fields), about the Node, whose uid the kubelet sets
    # to its name.
    "event_node": envelope("EVENT_SNAPSHOT", t("2025-11-24T15:30:00Z"), None, event={
        "resource_version": "48301", "namespace": "default", "name": "node-a.17a2",
        "uid": "33333333-4444-5555-6666-777777777777",
        "regarding": {"kind": "Node", "namespace": None, "name": "node-a", "uid": "node-a",
                      "field_path": None},
        "reason": "NodeNotReady", "type": "Normal", "action": None,
        "note": "Node node-a status is now: NodeNotReady", "note_truncated": False,
        "reporting_controller": "kubelet", "reporting_instance": "node-a",
        "event_time": t("2025-11-24T15:00:00Z"), "series_count": 5,
        "last_observed_time": t("2025-11-24T15:30:00Z")}),
    "resync_begin": envelope("RESYNC_BEGIN", us(NOW), resync={
        "source": "PODS", "reason": "EXPIRED", "resource_version": "50000", "count": None}),
    "resync_end": envelope("RESYNC_END", us(NOW), resync={
        "source": "EVENTS", "reason": "START", "resource_version": "50001", "count": 3}),
    # A pod whose restartCount is not a number, from a watch.
    "skipped": envelope("SKIPPED", us(NOW), POD_UID, skipped={
        "source": "PODS", "reason": "WRONG_TYPE",
        "field": "status.containerStatuses[0].restartCount", "watch_type": "MODIFIED",
        "resource_version": "48214", "namespace": "shop", "name": "web-7d9c", "uid": POD_UID}),
}

for name, datum in RECORDS.items():
    buf = io.BytesIO()
    avro.io.DatumWriter(SCHEMA).write(datum, avro.io.BinaryEncoder(buf))
    data = buf.getvalue()
    print("static const uint8_t golden_%s[] = {" % name)
    for i in range(0, len(data), 12):
        print("\t" + " ".join("0x%02x," % b for b in data[i:i + 12]))
    print("};")
