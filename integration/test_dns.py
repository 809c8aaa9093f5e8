#!/usr/bin/python3
"""Collector `dns` on the real kernel: dig, run in a pod-like cgroup and a client network
namespace, asks dnsmasq in a server namespace (a veth pair between the two); the exact records
are found in tapio.dns by a real Kafka consumer, decoded by an independent Avro implementation,
and checked against what dig itself printed. Also: a timeout, hostile packets refused and counted
by reason, and the collector switched off by configuration."""
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request

import harness
from harness import PodCgroup, Producer, Schema

DNS = Schema("dns")
TOPIC = "tapio.dns"
TAG = str(os.getpid())
CLI_NS, SRV_NS = "tapio-dns-cli-" + TAG, "tapio-dns-srv-" + TAG
VETH_C, VETH_S = "tdc" + TAG, "tds" + TAG  # <= 15 characters
# Addresses exist only inside the two namespaces this test makes.
CLI4, SRV4, NOBODY4 = "10.231.7.1", "10.231.7.2", "10.231.7.9"
CLI6, SRV6 = "fd00:7a9::1", "fd00:7a9::2"
HOSTILE_PORT = 5300  # a second configured DNS port, on loopback
TIMEOUT_MS = 1500
DIG = "/usr/bin/dig"

producer = None
dnsmasq = None


def run(*argv):
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


def cgroup_of(pid):
    with open("/proc/%d/cgroup" % pid) as f:
        path = next(line[3:].strip() for line in f if line.startswith("0::"))
    return os.stat(harness.cgroup2_root() + path).st_ino


def setup_network():
    global dnsmasq
    run("ip", "netns", "add", CLI_NS)
    run("ip", "netns", "add", SRV_NS)
    run("ip", "link", "add", VETH_C, "type", "veth", "peer", "name", VETH_S)
    run("ip", "link", "set", VETH_C, "netns", CLI_NS)
    run("ip", "link", "set", VETH_S, "netns", SRV_NS)
    for ns, dev, v4, v6 in ((CLI_NS, VETH_C, CLI4, CLI6), (SRV_NS, VETH_S, SRV4, SRV6)):
        run("ip", "-n", ns, "addr", "add", v4 + "/24", "dev", dev)
        run("ip", "-n", ns, "addr", "add", v6 + "/64", "dev", dev, "nodad")
        run("ip", "-n", ns, "link", "set", dev, "up")
        run("ip", "-n", ns, "link", "set", "lo", "up")
    dnsmasq = subprocess.Popen(
        ["ip", "netns", "exec", SRV_NS, "/usr/sbin/dnsmasq", "--no-daemon", "--no-resolv",
         "--no-hosts", "--conf-file=/dev/null", "--bind-interfaces",
         "--listen-address=%s,%s" % (SRV4, SRV6), "--port=53", "--local=/itest/",
         "--host-record=host.itest,10.1.2.3,fd00::1234", "--cname=www.itest,web.itest",
         "--cname=web.itest,host.itest", "--local-ttl=300"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # Ready when it answers (bounded; each probe waits on dnsmasq's reply, not on a clock).
    for _ in range(50):
        out = subprocess.run(["ip", "netns", "exec", CLI_NS, DIG, "@" + SRV4, "host.itest", "+short",
                              "+tries=1", "+timeout=1"], capture_output=True, timeout=30).stdout
        if out.strip() == b"10.1.2.3":
            return
        if dnsmasq.poll() is not None:
            break
    raise RuntimeError("dnsmasq did not answer: %s" % (dnsmasq.stderr.read() if dnsmasq.poll() is not None else ""))


def teardown_network():
    if dnsmasq and dnsmasq.poll() is None:
        dnsmasq.send_signal(signal.SIGTERM)
        try:
            dnsmasq.wait(timeout=10)
        except subprocess.TimeoutExpired:
            dnsmasq.kill()
            dnsmasq.wait()
    for ns in (CLI_NS, SRV_NS):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def pod_dig(pod, *args):
    """dig inside the pod's cgroup and the client namespace; returns its stdout."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.dup2(w, 1)
            with open(os.path.join(pod.path, "cgroup.procs"), "w") as f:
                f.write("0")
            os.execv("/usr/sbin/ip", ["ip", "netns", "exec", CLI_NS, DIG, *args])
        finally:
            os._exit(127)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.read().decode()
    os.waitpid(pid, 0)
    return out


def dig_says(out):
    """What dig printed: (id, status, flags, answers as (name, ttl, type, data))."""
    m = re.search(r"->>HEADER<<- opcode: QUERY, status: (\w+), id: (\d+)", out)
    assert m, out
    flags = re.search(r";; flags: ([a-z ]+);", out).group(1).split()
    answers = []
    if ";; ANSWER SECTION:" in out:
        section = out.split(";; ANSWER SECTION:\n", 1)[1].split("\n\n", 1)[0]
        for line in section.splitlines():
            name, ttl, _cls, rtype, data = line.split(None, 4)
            answers.append((name.rstrip("."), int(ttl), rtype, data.rstrip(".")))
    return int(m.group(2)), m.group(1), flags, answers


def find(pod, port, want=1, **match):
    return harness.wait_for(producer.bootstrap, TOPIC, DNS,
                            lambda r: r["cgroup_id"] == pod.cgroup_id and r["client_port"] == port
                            and all(r[k] == v for k, v in match.items()), want)


def check_envelope(msg, rec, pod):
    assert rec["cgroup_id"] == pod.cgroup_id, (rec["cgroup_id"], pod.cgroup_id)
    assert rec["pod_uid"] == pod.pod_uid and rec["container_id"] == pod.container_id, rec
    assert rec["node"] == "itest-node", rec
    assert msg.key == pod.pod_uid, msg.key
    assert msg.headers == {}, msg.headers  # none unless record_headers asks
    assert msg.timestamp == harness.micros(rec["event_time"]) // 1000
    assert abs(harness.micros(rec["event_time"]) / 1e6 - time.time()) < 60, rec["event_time"]


def answered(pod, port, proto, ip_version, client, server, qname, qtype, dig_args):
    """Runs dig, finds exactly one client-side record for it and checks it against dig."""
    out = pod_dig(pod, *dig_args)
    qid, status, flags, answers = dig_says(out)
    found, _ = find(pod, port, role="CLIENT")
    assert len(found) == 1, "records for port %d: %d\n%s" % (port, len(found), out)
    msg, rec = found[0]
    check_envelope(msg, rec, pod)
    expect = {
        "kind": "RESPONSE", "role": "CLIENT", "protocol": proto, "ip_version": ip_version,
        "client_addr": client, "client_port": port, "server_addr": server, "server_port": 53,
        "dns_id": qid, "qname": qname, "qtype": {"A": 1, "AAAA": 28}[qtype], "qtype_name": qtype,
        "retransmits": 0,
    }
    assert {k: rec[k] for k in expect} == expect, (rec, expect)
    assert 0 < rec["latency_ns"] < 5 * 10**9, rec["latency_ns"]
    resp = rec["response"]
    assert resp["rcode_name"] == status, (resp, status)
    assert resp["authoritative"] == ("aa" in flags) and resp["truncated"] == ("tc" in flags), (resp, flags)
    assert resp["answer_count"] == len(answers) and not resp["answers_truncated"], resp
    got = [(a["name"], a["ttl"], a["type_name"], a["data"]) for a in resp["answers"]]
    assert got == answers, (got, answers)
    return rec


def test_a_answer():
    pod = PodCgroup()
    try:
        rec = answered(pod, 40101, "UDP", 4, CLI4, SRV4, "host.itest", "A",
                       ["@" + SRV4, "-b", "%s#40101" % CLI4, "host.itest", "A", "+tries=1", "+timeout=3"])
        # The server's side of the same exchange, in dnsmasq's cgroup.
        server = dnsmasq_cgroup()
        found, _ = harness.wait_for(producer.bootstrap, TOPIC, DNS,
                                    lambda r: r["client_port"] == 40101 and r["role"] == "SERVER", 1)
    finally:
        pod.remove()
    assert rec["response"]["answers"] == [
        {"name": "host.itest", "type": 1, "type_name": "A", "ttl": 300, "data": "10.1.2.3"}], rec
    assert rec["response"]["rcode"] == 0
    assert len(found) == 1, found
    s = found[0][1]
    assert s["cgroup_id"] == server and s["pod_uid"] is None, (s["cgroup_id"], server)
    assert s["dns_id"] == rec["dns_id"] and s["kind"] == "RESPONSE", s
    assert s["response"]["answers"] == rec["response"]["answers"]
    assert found[0][0].key == "itest-node/%d" % server, found[0][0].key


def dnsmasq_cgroup():
    # `ip netns exec` execs dnsmasq in place: same pid, same cgroup as this test.
    return cgroup_of(dnsmasq.pid)


def test_aaaa_answer_over_ipv6():
    pod = PodCgroup(qos="besteffort")
    try:
        rec = answered(pod, 40102, "UDP", 6, CLI6, SRV6, "host.itest", "AAAA",
                       ["-6", "@" + SRV6, "-b", "%s#40102" % CLI6, "host.itest", "AAAA", "+tries=1",
                        "+timeout=3"])
    finally:
        pod.remove()
    assert rec["response"]["answers"] == [
        {"name": "host.itest", "type": 28, "type_name": "AAAA", "ttl": 300, "data": "fd00::1234"}], rec


def test_nxdomain():
    pod = PodCgroup()
    try:
        rec = answered(pod, 40103, "UDP", 4, CLI4, SRV4, "nx.itest", "A",
                       ["@" + SRV4, "-b", "%s#40103" % CLI4, "nx.itest", "A", "+tries=1", "+timeout=3"])
    finally:
        pod.remove()
    assert rec["response"]["rcode"] == 3 and rec["response"]["rcode_name"] == "NXDOMAIN", rec
    assert rec["response"]["answers"] == [] and rec["response"]["answer_count"] == 0, rec


CHAIN = [
    {"name": "www.itest", "type": 5, "type_name": "CNAME", "ttl": 300, "data": "web.itest"},
    {"name": "web.itest", "type": 5, "type_name": "CNAME", "ttl": 300, "data": "host.itest"},
    {"name": "host.itest", "type": 1, "type_name": "A", "ttl": 300, "data": "10.1.2.3"},
]


def test_cname_chain():
    pod = PodCgroup()
    try:
        rec = answered(pod, 40104, "UDP", 4, CLI4, SRV4, "www.itest", "A",
                       ["@" + SRV4, "-b", "%s#40104" % CLI4, "www.itest", "A", "+tries=1", "+timeout=3"])
    finally:
        pod.remove()
    assert rec["response"]["answers"] == CHAIN, rec


def test_tcp_query():
    pod = PodCgroup()
    try:
        rec = answered(pod, 40105, "TCP", 4, CLI4, SRV4, "www.itest", "A",
                       ["+tcp", "@" + SRV4, "-b", "%s#40105" % CLI4, "www.itest", "A", "+tries=1",
                        "+timeout=3"])
    finally:
        pod.remove()
    assert rec["response"]["answers"] == CHAIN, rec


def test_timeout():
    """Nobody has 10.231.7.9: the query leaves, nothing comes back, the record is a timeout."""
    pod = PodCgroup()
    try:
        start = time.monotonic()
        out = pod_dig(pod, "@" + NOBODY4, "-b", "%s#40106" % CLI4, "lost.itest", "A", "+tries=1",
                      "+timeout=1")
        assert "status:" not in out, out  # dig got no answer either
        found, _ = find(pod, 40106)
        waited = time.monotonic() - start
    finally:
        pod.remove()
    assert len(found) == 1, found
    msg, rec = found[0]
    check_envelope(msg, rec, pod)
    expect = {
        "kind": "TIMEOUT", "role": "CLIENT", "protocol": "UDP", "ip_version": 4,
        "client_addr": CLI4, "client_port": 40106, "server_addr": NOBODY4, "server_port": 53,
        "qname": "lost.itest", "qtype": 1, "qtype_name": "A", "retransmits": 0,
        "latency_ns": None, "response": None,
    }
    assert {k: rec[k] for k in expect} == expect, rec
    assert 0 <= rec["dns_id"] <= 65535
    # Published no earlier than the configured window after the query.
    assert waited >= TIMEOUT_MS / 1000.0, waited


def hostile_packets():
    """Crafted responses (header + question www.itest, then the poison), by expected reason."""
    def hdr(qid, an=0):
        return struct.pack(">HHHHHH", qid, 0x8180, 1, an, 0, 0)
    q = b"\x03www\x05itest\x00\x00\x01\x00\x01"
    return {
        "pointer": hdr(1) + b"\xc0\x0c\x00\x01\x00\x01",                   # the question points at itself
        "label": hdr(2) + b"\x41" + b"a" * 65 + b"\x00\x00\x01\x00\x01",   # a 65-byte label
        "truncated": hdr(3, 1) + q + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x01\x2c\x00\x04\x0a",  # cut in rdata
        "counts": hdr(4, 0xFFFF) + q,                                       # 65535 answers in 33 bytes
    }


def test_hostile_packets_are_refused():
    """Sent from the configured port 5300 over loopback: each is seen twice (the sender's egress,
    the receiver's ingress) and refused each time; nothing is published for them."""
    recv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    send = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        recv.bind(("127.0.0.1", 0))
        recv.settimeout(10)
        send.bind(("127.0.0.1", HOSTILE_PORT))
        for payload in hostile_packets().values():
            send.sendto(payload, recv.getsockname())
            assert recv.recv(2048) == payload  # delivered: the ingress hook has run
    finally:
        recv.close()
        send.close()
    # Ordered after them in the ring buffer: once its record is out, they were decoded.
    pod = PodCgroup()
    try:
        pod_dig(pod, "@" + SRV4, "-b", "%s#40107" % CLI4, "host.itest", "A", "+tries=1", "+timeout=3")
        found, msgs = find(pod, 40107, role="CLIENT")
    finally:
        pod.remove()
    assert len(found) == 1, found
    assert not [m for m in msgs if DNS.decode(m.value)["server_port"] == HOSTILE_PORT]
    want = {reason: 2 for reason in hostile_packets()}
    deadline = time.monotonic() + 30
    while True:  # the producer logs its counters every second
        counts = rejected_counts(producer.logs())
        if counts and all(counts[k] == v for k, v in want.items()) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert counts and all(counts[k] == v for k, v in want.items()), (counts, want)


def rejected_counts(logs):
    lines = [line for line in logs.splitlines() if "dns: rejected packets" in line]
    if not lines:
        return None
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", lines[-1])}


def switched_off_child():
    """Runs in a child process (the harness names a producer's log after the pid)."""
    other = Producer("--collectors", "kernel", node="itest-off")
    rc = other.stop(signal.SIGTERM)
    logs = other.logs()
    os.unlink(other.log_path)
    print(logs)
    assert rc == 0, rc
    assert "kernel: running" in logs
    assert "dns:" not in logs


def test_switched_off_by_config():
    """collectors = kernel: the dns collector is not opened, attached or counted."""
    child = subprocess.run([sys.executable, os.path.abspath(__file__), "--switched-off"],
                           capture_output=True, timeout=120)
    assert child.returncode == 0, child.stdout.decode() + child.stderr.decode()
    assert b"kernel: running" in child.stdout, child.stdout


def degraded_child():
    """A private mount namespace where the cgroup v2 mount point shows an empty tmpfs: the dns
    collector cannot attach there, says why, and the kernel collector runs on."""
    root = harness.cgroup2_root()
    extra = []
    dump = subprocess.run([harness.PRODUCER, "--dump-config"], capture_output=True, timeout=30).stdout
    if b"metrics_listen" in dump:
        extra = ["--set", "metrics_listen=127.0.0.1:0"]
    log_path = "/tmp/tapio-itest-dns-degraded-%d.log" % os.getpid()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             'mount -t tmpfs tapio-itest "$0" && exec "$@"', root,
             harness.PRODUCER, "--node-name", "itest-degraded", "--collectors", "kernel,dns", *extra],
            stdout=subprocess.PIPE, stderr=log)
        line = b""
        try:
            while not line.startswith(b"bootstrap.servers="):
                line = proc.stdout.readline()  # the producer prints it, or exits and we see EOF
                if not line:
                    break
        finally:
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=60)
    with open(log_path) as f:
        logs = f.read()
    os.unlink(log_path)
    print(logs)
    assert line.startswith(b"bootstrap.servers="), "not ready"
    assert rc == 0, rc
    assert re.search(r"dns: cannot attach cgroup_skb/\w+ to the cgroup v2 root " +
                     re.escape(root), logs), "no reason given"
    assert "dns: collector not running" in logs
    assert "kernel: running" in logs and "dns: running" not in logs


def test_degrades_when_it_cannot_attach():
    child = subprocess.run([sys.executable, os.path.abspath(__file__), "--degraded"],
                           capture_output=True, timeout=120)
    assert child.returncode == 0, child.stdout.decode() + child.stderr.decode()


def test_shutdown_counts():
    # The parser's counters are on /metrics too.
    with urllib.request.urlopen("http://%s/metrics" % producer.metrics, timeout=10) as r:
        metrics = r.read().decode()
    for reason in ("truncated", "label", "pointer", "counts"):
        line = 'tapio_dns_rejected_packets_total{reason="%s"} 2' % reason
        assert line in metrics.splitlines(), (line, metrics[-2000:])
    rc = producer.stop(signal.SIGTERM)
    logs = producer.logs()
    assert rc == 0, "exit status %d\n%s" % (rc, logs)
    assert "all records delivered" in logs, logs
    # The final counters. A refused packet is counted once, by reason, by the dns collector:
    # malformed network traffic is not a record the pipeline lost (no DECODE loss).
    counts = rejected_counts(logs)
    assert counts == {"short": 0, "truncated": 2, "label": 2, "name_length": 0, "pointer": 2,
                      "pointer_hops": 0, "counts": 2, "rdata": 0, "tcp_length": 0}, counts
    pipe = [line for line in logs.splitlines() if re.search(r"\bdns: received=", line)][-1]
    fields = dict(re.findall(r"(\w+)=(\d+)", pipe))
    assert fields["rejected"] == "0", pipe
    mine = [line for line in logs.splitlines() if "dns: queries=" in line][-1]
    stats = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", mine)}
    # The dns collector's identity (README): ring records received = queries + responses +
    # refused packets; records published = answered + timeouts + evicted + replaced (both
    # published as EVICTED) + LOSS records; nothing left unexplained.
    assert int(fields["produced"]) == stats["answered"] + stats["timeouts"] + \
        stats["evicted"] + stats["replaced"] + int(fields["loss_records"]), (pipe, mine)
    assert int(fields["delivered"]) == int(fields["produced"]), pipe
    assert stats["timeouts"] >= 1 and stats["unsolicited"] == 0, mine
    assert int(fields["received"]) == stats["queries"] + stats["responses"] + 8, (pipe, mine)


def main():
    global producer
    harness.require_root()
    for tool in ("/usr/sbin/dnsmasq", DIG):
        if not os.path.exists(tool):
            sys.exit("integration tests need %s (make deps installs dnsmasq and bind9-dnsutils)" % tool)
    try:
        setup_network()
        producer = Producer("--collectors", "dns", "--set", "dns_timeout_ms=%d" % TIMEOUT_MS,
                            "--set", "dns_ports=53,%d" % HOSTILE_PORT, "--set", "stats_interval_s=1")
        return harness.run_tests([
            test_a_answer,
            test_aaaa_answer_over_ipv6,
            test_nxdomain,
            test_cname_chain,
            test_tcp_query,
            test_timeout,
            test_hostile_packets_are_refused,
            test_switched_off_by_config,
            test_degrades_when_it_cannot_attach,
            test_shutdown_counts,
        ])
    finally:
        if producer and producer.proc.poll() is None:
            producer.stop(signal.SIGKILL)
        teardown_network()


if __name__ == "__main__":
    if sys.argv[1:] == ["--switched-off"]:
        switched_off_child()
        sys.exit(0)
    if sys.argv[1:] == ["--degraded"]:
        degraded_child()
        sys.exit(0)
    sys.exit(main())
