#!/usr/bin/python3
"""Collector `cri` on the real kernel: kubelet-style container cgroups made before and after
start; a main process that exits with a code, one killed by a signal, one OOM-killed through a v1
memory cgroup with a small limit; records found in tapio.cri in order, with their fields."""
import os
import re
import signal
import sys
import uuid

import harness
from harness import PodCgroup, Producer, Schema

CRI = Schema("cri")
producer = None
early = None  # a container running before the producer started
early_pid = None


def records_for(cgroup_id, want, deadline_s=30):
    """The topic's records of one cgroup, in seq order, once at least `want` are there."""
    found, _ = harness.wait_for(producer.bootstrap, "tapio.cri", CRI,
                                lambda r: r["cgroup_id"] == cgroup_id, want, deadline_s)
    return sorted(found, key=lambda mr: mr[1]["seq"])


def check_identity(pod, msg, rec):
    assert msg.key == pod.pod_uid, msg.key
    assert msg.headers == {}, msg.headers  # none unless record_headers asks
    assert rec["pod_uid"] == pod.pod_uid and rec["container_id"] == pod.container_id, rec
    assert rec["runtime"] == "containerd" and rec["qos"] == "burstable", rec
    assert rec["path"] == pod.path[len(harness.cgroup2_root()):], rec


def test_container_lifecycle_exit_code():
    pod = PodCgroup()
    pid, status = pod.run(["/bin/sh", "-c", "exit 7"], argv0="tapio-cri-main")
    assert os.WEXITSTATUS(status) == 7
    pod.remove()
    got = records_for(pod.cgroup_id, 4)
    assert [r["kind"] for _, r in got] == ["CREATED", "STARTED", "EXITED", "REMOVED"], got
    for msg, rec in got:
        check_identity(pod, msg, rec)
    created, started, exited, removed = [r for _, r in got]
    assert created["pid"] == 0 and created["filename"] is None and created["exit"] is None
    assert started["pid"] == pid and started["main_process"], started
    assert started["filename"] == "/bin/sh" and started["comm"] == "sh", started
    assert started["ppid"] == os.getpid(), started
    assert exited["pid"] == pid and exited["main_process"], exited
    assert exited["exit"]["exit_code"] == 7 and exited["exit"]["signal"] == 0, exited
    assert not exited["exit"]["oom_killed"] and exited["exit"]["lifetime_ns"] > 0, exited
    assert removed["pid"] == 0 and removed["exit"] is None, removed
    assert created["event_time"] <= started["event_time"] <= exited["event_time"] <= removed["event_time"]


def test_main_process_killed_by_signal_then_new_main():
    pod = PodCgroup(qos="burstable")
    try:
        pid = harness.spawn_in_cgroups([pod.path], ["/bin/sleep", "600"])
        records_for(pod.cgroup_id, 2)  # CREATED, STARTED: it runs
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        # Only the first exec is the main process; after it exited, the next one is.
        child, _ = pod.run(["/bin/true"])
        got = records_for(pod.cgroup_id, 5)
    finally:
        pod.remove()
    kinds = [r["kind"] for _, r in got]
    assert kinds[:5] == ["CREATED", "STARTED", "EXITED", "STARTED", "EXITED"], kinds
    exited = got[2][1]
    assert exited["pid"] == pid and exited["exit"]["signal"] == 9, exited
    assert exited["exit"]["exit_code"] == 0 and not exited["exit"]["oom_killed"], exited
    assert got[3][1]["pid"] == child and got[3][1]["filename"] == "/bin/true", got[3]
    assert got[4][1]["exit"]["exit_code"] == 0 and got[4][1]["exit"]["signal"] == 0, got[4]


class MemoryLimit:
    """A v1 memory cgroup with a hard limit and nothing to swap to."""

    def __init__(self, limit):
        self.path = "/sys/fs/cgroup/memory/tapio-cri-%s" % uuid.uuid4().hex[:12]
        os.mkdir(self.path)
        for name, value in (("memory.limit_in_bytes", limit), ("memory.memsw.limit_in_bytes", limit),
                            ("memory.swappiness", 0)):
            if os.path.exists(os.path.join(self.path, name)):
                with open(os.path.join(self.path, name), "w") as f:
                    f.write(str(value))

    def remove(self):
        os.rmdir(self.path)


HOG = "a = []\nwhile True:\n    a.append(bytearray(1 << 20))\n"


def test_oom_killed_main_process():
    if not os.path.isdir("/sys/fs/cgroup/memory"):
        raise RuntimeError("needs the cgroup v1 memory controller at /sys/fs/cgroup/memory")
    pod = PodCgroup()
    mem = MemoryLimit(32 << 20)
    try:
        pid = harness.spawn_in_cgroups([pod.path, mem.path], ["/usr/bin/python3", "-c", HOG])
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
        got = records_for(pod.cgroup_id, 4)
    finally:
        pod.remove()
        mem.remove()
    kinds = [r["kind"] for _, r in got]
    assert kinds[:4] == ["CREATED", "STARTED", "OOM_KILLED", "EXITED"], kinds
    oom, exited = got[2][1], got[3][1]
    check_identity(pod, got[2][0], oom)
    assert oom["pid"] == pid and oom["main_process"] and oom["comm"] == "python3", oom
    assert exited["pid"] == pid and exited["exit"]["signal"] == 9, exited
    assert exited["exit"]["oom_killed"], exited


def test_container_running_before_start():
    os.kill(early_pid, signal.SIGTERM)
    os.waitpid(early_pid, 0)
    got = records_for(early.cgroup_id, 1)
    msg, rec = got[0]
    # Its main process was found at start (parent outside the cgroup): no CREATED, no STARTED.
    assert rec["kind"] == "EXITED" and rec["pid"] == early_pid, rec
    assert rec["exit"]["signal"] == signal.SIGTERM, rec
    check_identity(early, msg, rec)


def test_not_containers_are_not_reported():
    pod = PodCgroup()
    conmon = os.path.join(os.path.dirname(pod.path), "crio-conmon-%s.scope" % pod.container_id)
    inner = os.path.join(pod.path, "inner")
    os.mkdir(conmon)
    os.mkdir(inner)
    try:
        conmon_id, inner_id = os.stat(conmon).st_ino, os.stat(inner).st_ino
        pid = harness.spawn_in_cgroups([conmon], ["/bin/true"])
        os.waitpid(pid, 0)
        pid = harness.spawn_in_cgroups([inner], ["/bin/true"])
        os.waitpid(pid, 0)
    finally:
        os.rmdir(conmon)
        os.rmdir(inner)
        pod.remove()
    # The container's REMOVED comes after everything above: all records up to it are complete.
    (last,) = [r for _, r in records_for(pod.cgroup_id, 2) if r["kind"] == "REMOVED"]
    recs = harness.records_through(producer.bootstrap, "tapio.cri", CRI, last["seq"])
    assert len(recs) == last["seq"], "missing records before seq %d" % last["seq"]
    assert not [r for r in recs if r["cgroup_id"] in (conmon_id, inner_id)], recs
    # The pod-level slice is no container either.
    assert not [r for r in recs if r["path"].endswith(".slice")], recs


def test_disabled_when_not_configured():
    other = Producer("--collectors", "kernel")
    try:
        logs = other.logs()
    finally:
        other.stop()
    assert "cri: running" not in logs and "kernel: running" in logs, logs


def test_shutdown():
    rc = producer.stop(signal.SIGTERM)
    logs = producer.logs()
    assert rc == 0, logs
    stats = [l for l in logs.splitlines() if "cri: received=" in l]
    assert stats and re.search(r"reserve_failures=0(\s|$)", stats[-1]), logs
    assert "rejected=0" in stats[-1] and "delivery_failed=0" in stats[-1], stats
    # The cri collector's identity (README "Metrics and health"): every ring record it received
    # made one record, or was skipped (a cgroup that is not a container), or was rejected.
    pipe = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", stats[-1])}
    mine = [l for l in logs.splitlines() if "cri: skipped=" in l]
    assert mine, logs
    own = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", mine[-1])}
    assert own["skipped"] > 0, mine  # test_not_containers_are_not_reported made some
    assert pipe["received"] == pipe["made"] + own["skipped"] + pipe["rejected"], (pipe, own)
    assert pipe["made"] + pipe["loss_records"] == pipe["produced"] + pipe["spooled"], pipe
    assert pipe["produced"] == pipe["delivered"], pipe


def main():
    global producer, early, early_pid
    harness.require_root()
    early = PodCgroup()
    early_pid = harness.spawn_in_cgroups([early.path], ["/bin/sleep", "600"])
    try:
        producer = Producer("--collectors", "cri")
        try:
            if not harness.wait_for_log(producer, "cri: watching"):
                raise RuntimeError("cri never seeded: %s" % producer.logs())
            return harness.run_tests([
                test_container_lifecycle_exit_code,
                test_main_process_killed_by_signal_then_new_main,
                test_oom_killed_main_process,
                test_container_running_before_start,
                test_not_containers_are_not_reported,
                test_disabled_when_not_configured,
                test_shutdown,
            ])
        finally:
            if producer.proc.poll() is None:
                producer.stop(signal.SIGKILL)
    finally:
        try:
            os.kill(early_pid, signal.SIGKILL)
            os.waitpid(early_pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        early.remove()


if __name__ == "__main__":
    sys.exit(main())
