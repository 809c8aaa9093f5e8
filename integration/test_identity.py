#!/usr/bin/python3
"""Identity on the real kernel: cgroups made before and after start, pod-like and unit-like, the
metadata topic and the kernel topic agreeing on keys and identity, late events resolving after
removal, and the tombstone after the grace period."""
import os
import signal
import sys
import uuid

import harness
from harness import PodCgroup, Producer, Schema

KERNEL = Schema("kernel")
METADATA = Schema("metadata")
GRACE_S = 2
producer = None
early_pod = None


class UnitCgroup:
    """A systemd-style service cgroup: system.slice/<name>.service."""

    def __init__(self):
        self.unit = "tapio-test-%s.service" % uuid.uuid4().hex[:12]
        self.top = os.path.join(harness.cgroup2_root(), "system.slice")
        self.made_top = not os.path.isdir(self.top)
        self.path = os.path.join(self.top, self.unit)
        os.makedirs(self.path)
        self.cgroup_id = os.stat(self.path).st_ino

    def run(self, argv):
        pid = os.fork()
        if pid == 0:
            try:
                with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
                    f.write("0")
                os.execv(argv[0], argv)
            finally:
                os._exit(127)
        os.waitpid(pid, 0)
        return pid

    def remove(self):
        os.rmdir(self.path)
        if self.made_top:
            try:
                os.rmdir(self.top)
            except OSError:
                pass


def metadata_for(cgroup_id, kind, want=1):
    node_key = "itest-node/%d" % cgroup_id
    found, _ = harness.wait_for(producer.bootstrap, "tapio.metadata", METADATA,
                                lambda r: r["cgroup_id"] == cgroup_id and r["kind"] == kind, want)
    for msg, _ in found:
        assert msg.key == node_key, (msg.key, node_key)
        assert msg.headers == {}, msg.headers  # none unless record_headers asks
    return [r for _, r in found]


def kernel_for(pid, kind):
    found, _ = harness.wait_for(producer.bootstrap, "tapio.kernel", KERNEL,
                                lambda r: r["pid"] == pid and r["kind"] == kind, 1)
    assert len(found) == 1, found
    return found[0]


def test_snapshot_names_cgroups_present_at_start():
    (rec,) = metadata_for(early_pod.cgroup_id, "SNAPSHOT")
    assert rec["pod_uid"] == early_pod.pod_uid and rec["container_id"] == early_pod.container_id, rec
    assert rec["qos"] == "burstable" and rec["runtime"] == "containerd", rec
    assert rec["path"] == early_pod.path[len(harness.cgroup2_root()):], rec


def test_pod_made_after_start_agrees_with_kernel_topic():
    pod = PodCgroup(qos="besteffort")
    try:
        pid, _ = pod.run(["/bin/true"])
        msg, rec = kernel_for(pid, "EXEC")
        (meta,) = metadata_for(pod.cgroup_id, "CREATED")
    finally:
        pod.remove()
    assert msg.key == pod.pod_uid, msg.key
    assert rec["cgroup_id"] == meta["cgroup_id"] == pod.cgroup_id
    assert rec["pod_uid"] == meta["pod_uid"] == pod.pod_uid
    assert rec["container_id"] == meta["container_id"] == pod.container_id
    assert meta["qos"] == "besteffort" and meta["unit"] == "cri-containerd-%s.scope" % pod.container_id


def test_unit_cgroup():
    unit = UnitCgroup()
    try:
        pid = unit.run(["/bin/true"])
        msg, rec = kernel_for(pid, "EXIT")
        (meta,) = metadata_for(unit.cgroup_id, "CREATED")
    finally:
        unit.remove()
    assert msg.key == "itest-node/%d" % unit.cgroup_id, msg.key
    assert rec["pod_uid"] is None and rec["container_id"] is None, rec
    assert meta["unit"] == unit.unit and meta["pod_uid"] is None, meta


def test_event_just_before_removal_resolves_then_tombstone():
    pod = PodCgroup()
    pid, _ = pod.run(["/bin/sh", "-c", "exit 4"])
    pod.remove()  # right after the exit: the exit record is still in flight
    msg, rec = kernel_for(pid, "EXIT")
    assert rec["exit"]["exit_code"] == 4
    assert msg.key == pod.pod_uid and rec["pod_uid"] == pod.pod_uid, (msg.key, rec)
    (removed,) = metadata_for(pod.cgroup_id, "REMOVED")
    assert removed["pod_uid"] == pod.pod_uid
    # After the grace period the compacted topic gets a tombstone for the same key.
    key = "itest-node/%d" % pod.cgroup_id

    def tombstones():
        return [m for m in harness.consume_all(producer.bootstrap, "tapio.metadata")
                if m.key == key and not m.value]

    deadline = harness.time.monotonic() + 30
    while not tombstones() and harness.time.monotonic() < deadline:
        harness.time.sleep(0.2)
    assert len(tombstones()) == 1


def test_shutdown():
    rc = producer.stop(signal.SIGTERM)
    logs = producer.logs()
    assert rc == 0, logs
    assert "identity: entries=" in logs and "evicted=" in logs, logs


def main():
    global producer, early_pod
    harness.require_root()
    early_pod = PodCgroup()
    try:
        producer = Producer("--set", "identity_grace_s=%d" % GRACE_S)
        try:
            return harness.run_tests([
                test_snapshot_names_cgroups_present_at_start,
                test_pod_made_after_start_agrees_with_kernel_topic,
                test_unit_cgroup,
                test_event_just_before_removal_resolves_then_tombstone,
                test_shutdown,
            ])
        finally:
            if producer.proc.poll() is None:
                producer.stop(signal.SIGKILL)
    finally:
        early_pod.remove()


if __name__ == "__main__":
    sys.exit(main())
