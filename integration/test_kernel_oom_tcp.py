#!/usr/bin/python3
"""Collector `kernel` on the real kernel: an OOM kill in a pod-like cgroup with a memory limit, and
TCP connections (IPv4 and IPv6, accepted, refused, timed out) in network namespaces of their own,
found in tapio.kernel by a real Kafka consumer and decoded by an independent Avro implementation."""
import errno
import json
import os
import signal
import subprocess
import sys
import uuid

import harness
from harness import PodCgroup, Producer, Schema

KERNEL = Schema("kernel")
TOPIC = "tapio.kernel"
MIB = 1 << 20
producer = None

# Linux TCP states as the schema names them, and the graceful ways a full socket reaches CLOSE.
GRACEFUL_CLOSE = ("FIN_WAIT1", "FIN_WAIT2", "CLOSING", "TIME_WAIT", "LAST_ACK")


class MemoryCgroupV1:
    """A cgroup in the v1 memory hierarchy with a hard limit and no swap to escape to."""

    def __init__(self, limit):
        self.path = "/sys/fs/cgroup/memory/tapio-itest-%s" % uuid.uuid4().hex[:12]
        os.mkdir(self.path)
        self.limit = limit
        self._write("memory.limit_in_bytes", limit)
        # memory+swap no higher than memory: the limit cannot be dodged by swapping.
        if os.path.exists(os.path.join(self.path, "memory.memsw.limit_in_bytes")):
            self._write("memory.memsw.limit_in_bytes", limit)
        self._write("memory.swappiness", 0)

    def _write(self, name, value):
        with open(os.path.join(self.path, name), "w") as f:
            f.write(str(value))

    def remove(self):
        try:
            os.rmdir(self.path)
        except OSError:
            pass


class NetNs:
    """A network namespace with loopback up; removed by remove()."""

    def __init__(self):
        self.name = "tapio-itest-%s" % uuid.uuid4().hex[:8]
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self.ip("link", "set", "lo", "up")

    def ip(self, *args):
        subprocess.run(["ip", "-n", self.name, *args], check=True)

    def exec_argv(self, argv):
        return ["ip", "netns", "exec", self.name, *argv]

    def remove(self):
        subprocess.run(["ip", "netns", "del", self.name], check=False)


def joiner(*cgroups):
    """A preexec_fn moving the child into each cgroup directory given."""
    def join():
        for path in cgroups:
            with open(os.path.join(path, "cgroup.procs"), "w") as f:
                f.write("0")
    return join


def run_in(pod, argv, timeout=60):
    """Runs argv inside pod's cgroup; returns the CompletedProcess."""
    return subprocess.run(argv, preexec_fn=joiner(pod.path), capture_output=True, timeout=timeout)


def records_of(pod, kinds, want, deadline_s=30):
    """Records of this pod's cgroup whose kind is in kinds, once `want` of them arrived."""
    found, _ = harness.wait_for(
        producer.bootstrap, TOPIC, KERNEL,
        lambda r: r["cgroup_id"] == pod.cgroup_id and r["kind"] in kinds, want, deadline_s)
    return found


def check_envelope(pod, msg, rec):
    assert rec["cgroup_id"] == pod.cgroup_id, (rec["cgroup_id"], pod.cgroup_id)
    assert rec["pod_uid"] == pod.pod_uid and rec["container_id"] == pod.container_id, rec
    assert msg.key == pod.pod_uid, msg.key
    assert msg.timestamp == harness.micros(rec["event_time"]) // 1000, (msg.timestamp, rec)


# Allocates and touches memory 1 MiB at a time until the kernel kills it.
HOG = "b = []\nwhile True:\n    b.append(b'x' * (1 << 20))\n"


def test_oom_kill_in_memory_limited_pod():
    pod = PodCgroup()
    memcg = MemoryCgroupV1(32 * MIB)
    try:
        proc = subprocess.Popen(["/usr/bin/python3", "-c", HOG],
                                preexec_fn=joiner(pod.path, memcg.path))
        rc = proc.wait(timeout=120)
        pid = proc.pid
        assert rc == -signal.SIGKILL, "the hog was not killed: exit status %d" % rc
        # Its exit follows the kill in the same partition (same key): once the exit is in, the
        # OOM records for it all are.
        exits, _ = harness.wait_for(producer.bootstrap, TOPIC, KERNEL,
                                    lambda r: r["pid"] == pid and r["kind"] == "EXIT", 1)
        ooms, _ = harness.wait_for(producer.bootstrap, TOPIC, KERNEL,
                                   lambda r: r["pid"] == pid and r["kind"] == "OOM_KILL", 1)
    finally:
        memcg.remove()
        pod.remove()
    assert len(exits) == 1, "exit records for %d: %d" % (pid, len(exits))
    assert exits[0][1]["exit"]["signal"] == signal.SIGKILL, exits[0][1]
    assert len(ooms) == 1, "OOM_KILL records for %d: %d" % (pid, len(ooms))
    msg, rec = ooms[0]
    check_envelope(pod, msg, rec)
    assert rec["comm"] == "python3" and rec["ppid"] == os.getpid(), rec
    assert rec["exec"] is None and rec["exit"] is None and rec["tcp"] is None, rec
    assert harness.micros(rec["event_time"]) <= harness.micros(exits[0][1]["event_time"])
    oom = rec["oom"]
    assert oom["cgroup_oom"] is True, oom
    assert oom["memcg_limit_bytes"] == 32 * MIB, oom
    # Charged up to the limit when the charge failed.
    assert 24 * MIB <= oom["memcg_usage_bytes"] <= 32 * MIB, oom
    # The hog's anonymous memory is most of the cgroup's charge.
    assert 16 * MIB <= oom["rss_anon_bytes"] <= 32 * MIB, oom
    assert oom["rss_bytes"] == oom["rss_anon_bytes"] + oom["rss_file_bytes"] + oom["rss_shmem_bytes"]
    assert oom["total_vm_bytes"] >= oom["rss_bytes"], oom
    assert oom["uid"] == 0 and oom["oom_score_adj"] == 0, oom
    # The hog's own allocation ran the OOM killer.
    assert oom["trigger_pid"] == pid and oom["trigger_comm"] == "python3", oom


# One process: listens, connects to itself, sends UP bytes, answers with DOWN bytes, closes the
# client first and the server after reading its end of file.
EXCHANGE = r"""
import json, os, socket, sys
fam = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
addr, port, up, down = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])

def read(sock, n):
    got = 0
    while got < n:
        chunk = sock.recv(65536)
        assert chunk, "early end of file"
        got += len(chunk)
    assert got == n

srv = socket.socket(fam, socket.SOCK_STREAM)
srv.bind((addr, port))
srv.listen(1)
cli = socket.socket(fam, socket.SOCK_STREAM)
cli.connect((addr, port))
conn, _ = srv.accept()
cli.sendall(b"u" * up)
read(conn, up)
conn.sendall(b"d" * down)
read(cli, down)
client_port = cli.getsockname()[1]
cli.close()
assert conn.recv(1) == b""
conn.close()
srv.close()
print(json.dumps({"pid": os.getpid(), "client_port": client_port}))
"""


def tcp_exchange(family, addr):
    pod, ns = PodCgroup(), NetNs()
    port, up, down = 5555, 100000, 7777
    kinds = ("TCP_LISTEN", "TCP_CONNECT", "TCP_ACCEPT", "TCP_CLOSE", "TCP_LISTEN_CLOSE",
             "TCP_CONNECT_FAILED")
    try:
        out = run_in(pod, ns.exec_argv(["/usr/bin/python3", "-c", EXCHANGE, family, addr, str(port),
                                        str(up), str(down)]))
        assert out.returncode == 0, out.stderr.decode()
        info = json.loads(out.stdout)
        found = records_of(pod, kinds, 6)
    finally:
        ns.remove()
        pod.remove()
    pid, client_port = info["pid"], info["client_port"]
    by_kind = {}
    for msg, rec in found:
        check_envelope(pod, msg, rec)
        assert rec["oom"] is None and rec["exec"] is None and rec["exit"] is None, rec
        tcp = rec["tcp"]
        assert tcp["family"] == ("IPV6" if family == "6" else "IPV4"), tcp
        assert tcp["local_addr"] == addr, tcp
        assert tcp["error"] == 0 and tcp["error_name"] is None, tcp
        by_kind.setdefault(rec["kind"], []).append(rec)
    counts = {k: len(v) for k, v in by_kind.items()}
    assert counts == {"TCP_LISTEN": 1, "TCP_CONNECT": 1, "TCP_ACCEPT": 1, "TCP_CLOSE": 2,
                      "TCP_LISTEN_CLOSE": 1}, counts

    (listen,), (listen_close,) = by_kind["TCP_LISTEN"], by_kind["TCP_LISTEN_CLOSE"]
    (connect,), (accept,) = by_kind["TCP_CONNECT"], by_kind["TCP_ACCEPT"]
    for rec in (listen, listen_close):
        t = rec["tcp"]
        assert t["local_port"] == port and t["remote_port"] == 0, t
        assert rec["pid"] == pid and rec["comm"] == "python3", rec
    assert listen["tcp"]["duration_ns"] is None and listen["tcp"]["old_state"] == "CLOSE"
    assert listen_close["tcp"]["duration_ns"] > 0 and listen_close["tcp"]["old_state"] == "LISTEN"

    t = connect["tcp"]
    assert (t["local_port"], t["remote_addr"], t["remote_port"]) == (client_port, addr, port), t
    assert t["direction"] == "OUTBOUND" and t["old_state"] == "SYN_SENT", t
    assert t["duration_ns"] > 0, t
    assert connect["pid"] == pid and connect["comm"] == "python3", connect
    t = accept["tcp"]
    assert (t["local_port"], t["remote_addr"], t["remote_port"]) == (port, addr, client_port), t
    assert t["direction"] == "INBOUND" and t["old_state"] == "SYN_RECV", t
    assert t["duration_ns"] > 0, t

    closes = {r["tcp"]["direction"]: r for r in by_kind["TCP_CLOSE"]}
    assert set(closes) == {"OUTBOUND", "INBOUND"}, closes
    client, server = closes["OUTBOUND"], closes["INBOUND"]
    t = client["tcp"]
    assert (t["local_port"], t["remote_port"]) == (client_port, port), t
    assert client["pid"] == pid, client
    # Kernel counters (tcp_info's tcpi_bytes_*): payload, plus 1 for each SYN or FIN in the
    # acknowledged or received sequence space.
    assert t["bytes_sent"] == up and t["bytes_retrans"] == 0, t
    assert t["bytes_acked"] == up + 2, t           # our SYN and FIN
    assert t["bytes_received"] == down + 1, t      # the server's FIN
    assert t["old_state"] in GRACEFUL_CLOSE, t
    t = server["tcp"]
    assert (t["local_port"], t["remote_port"]) == (port, client_port), t
    assert t["bytes_sent"] == down and t["bytes_retrans"] == 0, t
    assert t["bytes_acked"] == down + 1, t         # our FIN (the child starts after the SYN)
    assert t["bytes_received"] == up + 1, t        # the client's FIN
    assert t["old_state"] == "LAST_ACK", t
    for rec in (client, server):
        assert rec["tcp"]["duration_ns"] > 0, rec
        assert rec["tcp"]["remote_addr"] == addr, rec
    # A connection's close comes after its start, in one partition.
    assert connect["seq"] < client["seq"] and accept["seq"] < server["seq"]
    # Established-to-closed fits inside the listener's lifetime.
    assert client["tcp"]["duration_ns"] < listen_close["tcp"]["duration_ns"]


def test_tcp_ipv4_connect_accept_close():
    tcp_exchange("4", "127.0.0.1")


def test_tcp_ipv6_connect_accept_close():
    tcp_exchange("6", "::1")


# Connects once and reports how it failed.
CONNECT = r"""
import json, os, socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    err = 0
except OSError as e:
    err = e.errno
print(json.dumps({"pid": os.getpid(), "errno": err}))
"""


def failed_connect(ns, addr, port):
    pod = PodCgroup()
    try:
        out = run_in(pod, ns.exec_argv(["/usr/bin/python3", "-c", CONNECT, addr, str(port)]))
        assert out.returncode == 0, out.stderr.decode()
        info = json.loads(out.stdout)
        found = records_of(pod, ("TCP_CONNECT_FAILED", "TCP_CONNECT", "TCP_CLOSE"), 1)
    finally:
        pod.remove()
    assert len(found) == 1, [r for _, r in found]
    msg, rec = found[0]
    check_envelope(pod, msg, rec)
    t = rec["tcp"]
    assert rec["kind"] == "TCP_CONNECT_FAILED", rec
    assert rec["pid"] == info["pid"] and rec["comm"] == "python3", rec
    assert (t["remote_addr"], t["remote_port"]) == (addr, port), t
    assert t["direction"] == "OUTBOUND" and t["old_state"] == "SYN_SENT", t
    assert t["duration_ns"] > 0, t
    assert t["bytes_sent"] == 0 and t["bytes_received"] == 0, t
    return info, t


def test_tcp_connect_refused():
    ns = NetNs()
    try:
        info, t = failed_connect(ns, "127.0.0.1", 5556)
    finally:
        ns.remove()
    assert info["errno"] == errno.ECONNREFUSED, info
    assert t["error"] == errno.ECONNREFUSED and t["error_name"] == "ECONNREFUSED", t
    assert t["local_addr"] == "127.0.0.1" and t["local_port"] > 0, t


# Listens with no room in its accept queue and fills it with one connection it never accepts: the
# kernel then drops further SYNs (LISTENOVERFLOWS), so a connect gets no answer at all.
DEAF = r"""
import socket, sys
srv = socket.socket()
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen(0)
filler = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print("ready", flush=True)
sys.stdin.read()
"""


def test_tcp_connect_timed_out():
    """SYNs nobody answers; one SYN retry makes the timeout about 3 s."""
    ns, port = NetNs(), 5557
    deaf = None
    try:
        subprocess.run(ns.exec_argv(["sysctl", "-q", "-w", "net.ipv4.tcp_syn_retries=1"]), check=True)
        deaf = subprocess.Popen(ns.exec_argv(["/usr/bin/python3", "-c", DEAF, str(port)]),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert deaf.stdout.readline() == b"ready\n"
        info, t = failed_connect(ns, "127.0.0.1", port)
    finally:
        if deaf:
            deaf.stdin.close()
            deaf.wait(timeout=30)
        ns.remove()
    assert info["errno"] == errno.ETIMEDOUT, info
    assert t["error"] == errno.ETIMEDOUT and t["error_name"] == "ETIMEDOUT", t
    assert t["local_addr"] == "127.0.0.1" and t["local_port"] > 0, t
    # Initial RTO 1 s, one retry after another 2 s.
    assert 2.5e9 < t["duration_ns"] < 30e9, t


def test_shutdown_flushes_everything():
    rc = producer.stop(signal.SIGTERM)
    logs = producer.logs()
    assert rc == 0, "exit status %d\n%s" % (rc, logs)
    assert "all records delivered" in logs, logs
    assert "oom/mark_victim" not in logs and "inet_sock_set_state" not in logs, logs


def main():
    global producer
    harness.require_root()
    if not os.path.isdir("/sys/fs/cgroup/memory"):
        sys.exit("the OOM test needs the cgroup v1 memory controller at /sys/fs/cgroup/memory")
    producer = Producer()
    try:
        return harness.run_tests([
            test_oom_kill_in_memory_limited_pod,
            test_tcp_ipv4_connect_accept_close,
            test_tcp_ipv6_connect_accept_close,
            test_tcp_connect_refused,
            test_tcp_connect_timed_out,
            test_shutdown_flushes_everything,
        ])
    finally:
        if producer.proc.poll() is None:
            producer.stop(signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
