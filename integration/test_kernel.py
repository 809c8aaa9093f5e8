#!/usr/bin/python3
"""Collector `kernel` on the real kernel: exec and exit records from a pod-like cgroup, found in
tapio.kernel by a real Kafka consumer and decoded by an independent Avro implementation."""
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import harness
from harness import PodCgroup, Producer, Schema

KERNEL = Schema("kernel")
TOPIC = "tapio.kernel"
producer = None


def by_pid(pid, kind):
    return lambda r: r["pid"] == pid and r["kind"] == kind


def test_exec_and_exit_in_pod():
    pod = PodCgroup()
    marker = "tapio-marker-" + uuid.uuid4().hex
    try:
        pid, status = pod.run(["/bin/sh", "-c", "exit 37", marker], argv0=marker)
        assert os.WEXITSTATUS(status) == 37
        mine = harness.all_before_sentinel(producer.bootstrap, TOPIC, KERNEL,
                                           lambda r: r["pid"] == pid, pod=pod)
        execs = [(m, r) for m, r in mine if r["kind"] == "EXEC"]
        exits = [(m, r) for m, r in mine if r["kind"] == "EXIT"]
        msgs = harness.consume_all(producer.bootstrap, TOPIC)
    finally:
        pod.remove()
    assert len(execs) == 1, "exec records for pid %d: %d" % (pid, len(execs))
    assert len(exits) == 1, "exit records for pid %d: %d" % (pid, len(exits))
    (m, e), (mx, x) = execs[0], exits[0]

    assert e["exec"]["filename"] == "/bin/sh", e
    assert e["comm"] == "sh", e
    assert e["exec"]["args"] == [marker, "-c", "exit 37", marker], e
    assert e["exec"]["args_truncated"] is False and e["exec"]["uid"] == 0, e
    assert e["ppid"] == os.getpid(), e
    assert e["exit"] is None and x["exec"] is None
    assert x["exit"]["exit_code"] == 37 and x["exit"]["signal"] == 0, x
    assert not x["exit"]["core_dumped"] and x["exit"]["lifetime_ns"] > 0, x
    for msg, rec in ((m, e), (mx, x)):
        assert rec["cgroup_id"] == pod.cgroup_id, (rec["cgroup_id"], pod.cgroup_id)
        assert rec["pod_uid"] == pod.pod_uid and rec["container_id"] == pod.container_id, rec
        assert rec["node"] == "itest-node", rec
        assert msg.key == pod.pod_uid, msg.key
        assert msg.headers["collector"] == "kernel" and msg.headers["node"] == "itest-node"
        assert msg.headers["schema_fingerprint"] == "%016x" % KERNEL.fingerprint, msg.headers
        assert msg.headers["producer_version"] == harness.version(), msg.headers
        # Kafka timestamp (ms) and event_time (µs) are the same wall-clock instant.
        assert msg.timestamp == harness.micros(rec["event_time"]) // 1000, (msg.timestamp, rec["event_time"])
    # Wall clock, not boot-relative: within a minute of now.
    assert abs(harness.micros(e["event_time"]) / 1e6 - time.time()) < 60, e["event_time"]
    assert x["event_time"] >= e["event_time"]
    # Sequence numbers: unique per record, the exit after the exec.
    seqs = [KERNEL.decode(mm.value)["seq"] for mm in msgs]
    assert len(seqs) == len(set(seqs)), "duplicate sequence numbers"
    assert x["seq"] > e["seq"]


def test_exec_in_a_kind_style_pod():
    """kind runs kubelet with --cgroup-root=/kubelet: the pod's slices all carry "kubelet-"."""
    pod = PodCgroup(qos="besteffort", cgroup_root="kubelet")
    try:
        pid, status = pod.run(["/bin/sh", "-c", "exit 0"])
        assert os.WEXITSTATUS(status) == 0
        found = harness.all_before_sentinel(producer.bootstrap, TOPIC, KERNEL,
                                            by_pid(pid, "EXEC"), pod=pod)
    finally:
        pod.remove()
    assert len(found) == 1, found
    msg, rec = found[0]
    assert "/kubelet.slice/kubelet-kubepods.slice/" in pod.path, pod.path
    assert rec["cgroup_id"] == pod.cgroup_id, (rec["cgroup_id"], pod.cgroup_id)
    assert rec["pod_uid"] == pod.pod_uid and rec["container_id"] == pod.container_id, rec
    assert msg.key == pod.pod_uid, msg.key


def test_long_argv_is_cut_at_the_limit_and_flagged():
    """argv longer than KERNEL_ARGS_LEN (1024 bytes): the record carries the first 1024 bytes
    (the last argument cut, without its NUL) and says so."""
    marker = "tapio-long-" + uuid.uuid4().hex
    argv = ["sh", "-c", "exit 0", marker, "y" * 3000]
    pid = os.fork()
    if pid == 0:
        os.execv("/bin/sh", argv)
    os.waitpid(pid, 0)
    found = harness.all_before_sentinel(producer.bootstrap, TOPIC, KERNEL, by_pid(pid, "EXEC"))
    assert len(found) == 1, found
    e = found[0][1]["exec"]
    kept = 1024 - sum(len(a) + 1 for a in argv[:4])
    assert e["args"] == argv[:4] + ["y" * kept], [len(a) for a in e["args"]]
    assert e["args_truncated"] is True and e["filename_truncated"] is False, e


def test_host_process_is_keyed_by_node_and_cgroup():
    pid = os.fork()
    if pid == 0:
        os.execv("/bin/sh", ["sh", "-c", "exit 0"])
    os.waitpid(pid, 0)
    found = harness.all_before_sentinel(producer.bootstrap, TOPIC, KERNEL, by_pid(pid, "EXIT"))
    assert len(found) == 1, found
    msg, rec = found[0]
    with open("/proc/self/cgroup") as f:
        path = next(line[3:].strip() for line in f if line.startswith("0::"))
    cgid = os.stat(harness.cgroup2_root() + path).st_ino
    assert rec["cgroup_id"] == cgid, (rec["cgroup_id"], cgid)
    assert rec["pod_uid"] is None and rec["container_id"] is None, rec
    assert msg.key == "itest-node/%d" % cgid, msg.key


def test_one_exit_per_process_not_per_thread():
    """A process with 8 threads exits with code 5: one exit record, from its last thread. Every
    thread's exit would carry the process's pid too: count all of them, up to a sentinel."""
    prog = ("import threading,os,sys\n"
            "ts=[threading.Thread(target=lambda: None) for _ in range(8)]\n"
            "[t.start() for t in ts]\n[t.join() for t in ts]\nsys.exit(5)\n")
    proc = subprocess.Popen([sys.executable, "-c", prog])
    assert proc.wait() == 5
    exits = harness.all_before_sentinel(producer.bootstrap, TOPIC, KERNEL,
                                        lambda r: r["kind"] == "EXIT" and r["pid"] == proc.pid)
    assert len(exits) == 1, "exit records for pid %d: %d" % (proc.pid, len(exits))
    assert exits[0][1]["exit"]["exit_code"] == 5, exits[0][1]


def test_killed_by_signal():
    pod = PodCgroup(qos="besteffort")
    try:
        pid = os.fork()
        if pid == 0:
            with open(os.path.join(pod.path, "cgroup.procs"), "w") as f:
                f.write("0")
            os.execv("/bin/sh", ["sh", "-c", "kill -KILL $$"])
        os.waitpid(pid, 0)
        found = harness.all_before_sentinel(producer.bootstrap, TOPIC, KERNEL, by_pid(pid, "EXIT"),
                                            pod=pod)
    finally:
        pod.remove()
    assert len(found) == 1
    x = found[0][1]
    assert x["exit"]["signal"] == signal.SIGKILL and x["exit"]["exit_code"] == 0, x
    assert x["pod_uid"] == pod.pod_uid


def test_tail_shows_the_record():
    """tapio-tail reads the topic with the embedded schemas and prints one JSON line per record."""
    marker = "tapio-tail-" + uuid.uuid4().hex
    pid = os.fork()
    if pid == 0:
        os.execv("/bin/true", ["true", marker])
    os.waitpid(pid, 0)
    found, msgs = harness.wait_for(producer.bootstrap, TOPIC, KERNEL, by_pid(pid, "EXIT"), 1)
    assert found
    out = subprocess.run([harness.TAIL, "-b", producer.bootstrap, "--from-beginning", "-c", str(len(msgs)),
                          "--timeout-ms", "120000", TOPIC], check=True, capture_output=True, timeout=180).stdout
    lines = [json.loads(line) for line in out.decode().splitlines()]
    assert len(lines) == len(msgs)
    mine = [line for line in lines if marker in json.dumps(line["value"])]
    assert len(mine) == 1, mine
    line = mine[0]
    assert line["topic"] == TOPIC and line["key"] == "itest-node/%d" % line["value"]["cgroup_id"]
    assert {"partition", "offset", "timestamp"} <= set(line)


def test_shutdown_flushes_everything():
    rc = producer.stop(signal.SIGTERM)
    logs = producer.logs()
    assert rc == 0, "exit status %d\n%s" % (rc, logs)
    assert "all records delivered" in logs, logs


def main():
    global producer
    harness.require_root()
    # Headers are off by default; here they are asked for, and checked.
    producer = Producer("--set", "record_headers=collector,node,schema_fingerprint,producer_version")
    try:
        return harness.run_tests([
            test_exec_and_exit_in_pod,
            test_exec_in_a_kind_style_pod,
            test_long_argv_is_cut_at_the_limit_and_flagged,
            test_host_process_is_keyed_by_node_and_cgroup,
            test_one_exit_per_process_not_per_thread,
            test_killed_by_signal,
            test_tail_shows_the_record,
            test_shutdown_flushes_everything,
        ])
    finally:
        if producer.proc.poll() is None:
            producer.stop(signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
