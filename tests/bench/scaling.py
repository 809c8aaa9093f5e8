#!/usr/bin/python3
"""The measured rows of SCALING.md: per collector and named workload, the records each workload
operation makes, the records per second, the bytes each record costs on the wire to Kafka (lz4,
the producer's defaults: linger.ms 50, record batches as librdkafka builds them) and the
producer's CPU per record.

The real producer (build/tapio-producer) publishes to librdkafka's mock cluster in a process of
its own (build/bench/mockbroker, 6 partitions per topic); the bytes are what the producer's TCP
connections to that broker carried (`ss -ti` bytes_acked, a delta over the workload: Produce
requests with their record batches, compressed, plus protocol framing and the occasional
Metadata request), divided by the records delivered meanwhile (the producer's /metrics).

Root, not part of `make test`; run under the root-test lock after `make all build/bench/mockbroker
build/bench/workload`:
    flock /tmp/tapio-root-tests.lock /usr/bin/python3 tests/bench/scaling.py [WORKLOAD...]
Prints a Markdown table."""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "integration"))
import harness  # noqa: E402
from harness import PodCgroup  # noqa: E402

BUILD = os.path.join(harness.REPO, "build")
PRODUCER = os.path.join(BUILD, "tapio-producer")
MOCKBROKER = os.path.join(BUILD, "bench", "mockbroker")
WORKLOAD = os.path.join(BUILD, "bench", "workload")
TOPICS = ["tapio.%s" % t for t in ("kernel", "dns", "cni", "cri", "systemd", "metadata")]
TICKS = os.sysconf("SC_CLK_TCK")


def run(*argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, timeout=300, **kw)


class Broker:
    def __init__(self):
        self.proc = subprocess.Popen([MOCKBROKER, "--partitions", "6"] + TOPICS,
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("bootstrap.servers="), line
        self.bootstrap = line.strip().split("=", 1)[1]
        self.port = int(self.bootstrap.rsplit(":", 1)[1])

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


class Producer:
    def __init__(self, broker, collectors, extra=()):
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [PRODUCER, "--brokers", broker.bootstrap, "--collectors", collectors,
             "--node-name", "scaling", "--set", "metrics_listen=127.0.0.1:0",
             "--set", "stats_interval_s=0", "--set", "identity_grace_s=1", *extra],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.metrics = None
        for line in self.proc.stdout:
            if line.startswith("metrics="):
                self.metrics = line.strip().split("=", 1)[1]
            if line.startswith("bootstrap.servers="):
                break
        assert self.metrics, "producer did not start"
        self.broker_port = broker.port

    def counters(self):
        with urllib.request.urlopen("http://%s/metrics" % self.metrics, timeout=10) as r:
            text = r.read().decode()
        out = {}
        for name in ("delivered", "produced"):
            for m in re.finditer(r'tapio_records_%s_total\{collector="(\w+)"\} (\d+)' % name, text):
                out[(name, m.group(1))] = int(m.group(2))
        m = re.search(r"tapio_kafka_queue_messages (\d+)", text)
        out["queued"] = int(m.group(1)) if m else 0
        return out

    def wire_bytes(self):
        """Bytes the producer's connections to the broker carried (acknowledged by it)."""
        out = run("ss", "-tinH", "state", "established", "dport", "=",
                  ":%d" % self.broker_port).stdout
        return sum(int(v) for v in re.findall(rb"bytes_acked:(\d+)", out))

    def cpu_s(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def settle(self, deadline_s=60):
        """Waits until every record produced so far is delivered (other processes on the machine
        keep the collectors busy, so "nothing changes" never comes); the counters then."""
        def total(c, name):
            return sum(v for k, v in c.items() if k[0] == name)
        target = total(self.counters(), "produced")
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            c = self.counters()
            if total(c, "delivered") >= target:
                return c
            time.sleep(0.1)
        raise RuntimeError("records still in flight after %d s" % deadline_s)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


# --- workloads ---------------------------------------------------------------------------------
# Each returns (operations, {topic: predicate}): the predicates pick the workload's own records
# out of everything the collectors saw meanwhile (the machine is shared). The workload runs in a
# cgroup of its own (SCALE_CGROUP), whose id marks the records of the processes it starts.

class Scale:
    cgroup_id = None


def kernel_own(r):
    return r["cgroup_id"] == Scale.cgroup_id


def exec_storm():
    run(WORKLOAD, "exec", "5000")
    return 5000, {"tapio.kernel": kernel_own}


def exec_steady():
    """100 execs a second for 20 s: the batches a busy node's real rate makes."""
    start = time.monotonic()
    for i in range(2000):
        subprocess.run(["/bin/true"], check=True)
        pause = start + (i + 1) / 100 - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    return 2000, {"tapio.kernel": kernel_own}


def tcp_connect():
    run(WORKLOAD, "connect", "5000")
    return 5000, {"tapio.kernel": lambda r: kernel_own(r) and r["kind"] != "EXEC"
                  and r["kind"] != "EXIT"}


NS = "tapio-scale-%d" % os.getpid()


def dns_queries(rate=None, n=3000):
    cli, srv = NS + "-c", NS + "-s"
    vc, vs = "tsc%d" % os.getpid(), "tss%d" % os.getpid()
    names = os.path.join(tempfile.mkdtemp(), "names")
    with open(names, "w") as f:
        for i in range(n):
            f.write("h%d.scale A\n" % (i % 50))
    run("ip", "netns", "add", cli)
    run("ip", "netns", "add", srv)
    dnsmasq = None
    try:
        run("ip", "link", "add", vc, "type", "veth", "peer", "name", vs)
        run("ip", "link", "set", vc, "netns", cli)
        run("ip", "link", "set", vs, "netns", srv)
        for ns, dev, addr in ((cli, vc, "10.231.9.1"), (srv, vs, "10.231.9.2")):
            run("ip", "-n", ns, "addr", "add", addr + "/24", "dev", dev)
            run("ip", "-n", ns, "link", "set", dev, "up")
        dnsmasq = subprocess.Popen(
            ["ip", "netns", "exec", srv, "/usr/sbin/dnsmasq", "--no-daemon", "--no-resolv",
             "--no-hosts", "--conf-file=/dev/null", "--bind-interfaces",
             "--listen-address=10.231.9.2", "--local=/scale/", "--address=/scale/10.1.2.3",
             "--cache-size=0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(50):
            out = subprocess.run(["ip", "netns", "exec", cli, "dig", "@10.231.9.2", "h0.scale",
                                  "+short", "+tries=1", "+timeout=1"], capture_output=True).stdout
            if out.strip() == b"10.1.2.3":
                break
        def first_queries(r):
            # Only the batch's queries (qname h<i>.scale), not the readiness probes.
            return kernel_own(r) and r["qname"] is not None and r["qname"].endswith(".scale")
        if rate is None:
            run("ip", "netns", "exec", cli, "dig", "@10.231.9.2", "+tries=1", "+timeout=1",
                "-f", names)
        else:
            # One query at a time at `rate` a second, from a Python resolver in the client
            # namespace (no process per query, so no exec records to wait for).
            script = ("import socket,struct,sys,time\n"
                      "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(1)\n"
                      "t=time.monotonic()\n"
                      "for i in range(%d):\n"
                      " q=struct.pack('>HHHHHH',i,0x100,1,0,0,0)+b'\\x03h%%02d\\x05scale\\x00'"
                      "%%(i%%50)+struct.pack('>HH',1,1)\n"
                      " s.sendto(q,('10.231.9.2',53));s.recv(512)\n"
                      " d=t+(i+1)/%d-time.monotonic()\n"
                      " d>0 and time.sleep(d)\n" % (n, rate))
            run("ip", "netns", "exec", cli, "/usr/bin/python3", "-c", script)
        return n, {"tapio.dns": first_queries}
    finally:
        if dnsmasq:
            dnsmasq.terminate()
            dnsmasq.wait()
        for ns in (cli, srv):
            subprocess.run(["ip", "netns", "del", ns])


def dns_steady():
    """50 queries a second for 20 s."""
    return dns_queries(rate=50, n=1000)


def tcp_steady():
    """50 loopback connections a second for 20 s (connect, accept, close both ends)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    start = time.monotonic()
    n = 1000
    for i in range(n):
        c = socket.create_connection(srv.getsockname())
        a, _ = srv.accept()
        c.close()
        a.close()
        pause = start + (i + 1) / 50 - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    srv.close()
    return n, {"tapio.kernel": lambda r: kernel_own(r) and r["kind"] not in ("EXEC", "EXIT")}


def netns_churn():
    """A pod sandbox's network as a CNI plugin makes it: a namespace, a veth pair with one end
    moved in and set up, then all of it removed."""
    n = 200
    names = set()
    for i in range(n):
        ns, a, b = "%s-%d" % (NS, i), "tsa%d" % i, "tsb%d" % i
        names.update((a, b))
        run("ip", "netns", "add", ns)
        run("ip", "link", "add", a, "type", "veth", "peer", "name", b)
        run("ip", "link", "set", b, "netns", ns)
        run("ip", "link", "set", a, "up")
        run("ip", "-n", ns, "link", "set", b, "up")
        run("ip", "link", "del", a)
        run("ip", "netns", "del", ns)

    def own(r):
        if r["link"] is not None:
            return r["link"]["ifname"] in names
        return kernel_own(r)
    return n, {"tapio.cni": own}


def container_churn():
    """Containers as a runtime makes them: a pod cgroup and a container scope, a main process
    that runs and exits, the cgroups removed."""
    n = 300
    pods = set()
    for _ in range(n):
        pod = PodCgroup()
        pods.add(pod.pod_uid)
        pod.run(["/bin/true"])
        pod.remove()
    own = lambda r: r["pod_uid"] in pods  # noqa: E731
    return n, {"tapio.cri": own, "tapio.metadata": own}


def unit_churn():
    n = 300
    root = os.path.join(harness.cgroup2_root(), "system.slice")
    made_slice = not os.path.isdir(root)
    units = set()
    os.makedirs(root, exist_ok=True)
    try:
        for _ in range(n):
            unit = "tapio-scale-%s.service" % uuid.uuid4().hex[:12]
            units.add(unit)
            path = os.path.join(root, unit)
            os.mkdir(path)
            pid = harness.spawn_in_cgroups([path], ["/bin/true"])
            os.waitpid(pid, 0)
            os.rmdir(path)
    finally:
        if made_slice:
            os.rmdir(root)
    return n, {"tapio.systemd": lambda r: r["unit"] in units,
               "tapio.metadata": lambda r: r["unit"] in units}


def cgroup_churn():
    """Cgroups alone (the metadata topic's share of the container workloads)."""
    n = 300
    root = os.path.join(harness.cgroup2_root(), "tapio-scale-churn-%d" % os.getpid())
    os.mkdir(root)
    for i in range(n):
        os.mkdir(os.path.join(root, str(i)))
    for i in range(n):
        os.rmdir(os.path.join(root, str(i)))
    os.rmdir(root)
    mark = "/tapio-scale-churn-%d/" % os.getpid()
    return n, {"tapio.metadata": lambda r: mark in (r["path"] or "")}


# name: (collectors, workload, what one operation is[, extra producer flags])
LINGER_1S = ("--set", "kafka.linger.ms=1000")
WORKLOADS = {
    "exec-storm": ("kernel", exec_storm, "fork + exec /bin/true + exit, back to back"),
    "exec-100/s": ("kernel", exec_steady, "fork + exec /bin/true + exit, 100 a second"),
    "tcp-connect": ("kernel", tcp_connect, "loopback TCP connect + accept + close"),
    "tcp-50/s": ("kernel", tcp_steady, "loopback TCP connect + accept + close, 50 a second"),
    "dns-queries": ("dns", dns_queries, "one A query answered by dnsmasq (dig -f)"),
    "dns-50/s": ("dns", dns_steady, "one A query answered by dnsmasq, 50 a second"),
    "netns-churn": ("cni", netns_churn, "netns + veth pair made, moved, up, removed"),
    "container-churn": ("cri", container_churn, "pod + container cgroup, main process, removed"),
    "unit-churn": ("systemd", unit_churn, "system.slice/X.service, main process, removed"),
    "cgroup-churn": ("dns", cgroup_churn, "a cgroup made and removed (dns idle)"),
    # The steady rates again with linger.ms 1000 (SCALING.md: fewer, larger batches).
    "exec-100/s linger 1 s": ("kernel", exec_steady, "as exec-100/s", LINGER_1S),
    "tcp-50/s linger 1 s": ("kernel", tcp_steady, "as tcp-50/s", LINGER_1S),
    "dns-50/s linger 1 s": ("dns", dns_steady, "as dns-50/s", LINGER_1S),
}

SCHEMAS = {}


def own_records(bootstrap, predicates):
    """{topic: records of the workload} from everything in the broker."""
    out = {}
    for topic, pred in predicates.items():
        schema = SCHEMAS.setdefault(topic, harness.Schema(topic.split(".", 1)[1]))
        mine = [m for m in harness.consume_all(bootstrap, topic)
                for r in [schema.decode(m.value)] if r and r["kind"] != "LOSS" and pred(r)]
        out[topic] = (len(mine), sum(len(m.key) + len(m.value) for m in mine))
    return out


def measure(name):
    collectors, workload, _, *extra = WORKLOADS[name]
    broker = Broker()
    producer = Producer(broker, collectors, extra[0] if extra else ())
    cg = os.path.join(harness.cgroup2_root(), "tapio-scale-%d" % os.getpid())
    os.mkdir(cg)
    Scale.cgroup_id = os.stat(cg).st_ino
    try:
        before = producer.settle()
        bytes0, cpu0, t0 = producer.wire_bytes(), producer.cpu_s(), time.monotonic()
        with open(os.path.join(cg, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
        try:
            ops, predicates = workload()
        finally:
            with open(os.path.join(harness.cgroup2_root(), "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        elapsed = time.monotonic() - t0
        after = producer.settle()
        wire = producer.wire_bytes() - bytes0
        cpu = producer.cpu_s() - cpu0
        own = own_records(broker.bootstrap, predicates)
    finally:
        producer.stop()
        broker.stop()
        os.rmdir(cg)
    records = sum(after[k] - before.get(k, 0) for k in after
                  if k != "queued" and k[0] == "delivered")
    with open("/proc/loadavg") as f:
        load = float(f.read().split()[0])
    return {"ops": ops, "elapsed": elapsed, "records": records, "own": own, "wire": wire,
            "cpu": cpu, "load": load}


def main():
    if os.geteuid() != 0:
        sys.exit("scaling.py loads eBPF programs: run it as root")
    for tool in (PRODUCER, MOCKBROKER, WORKLOAD):
        if not os.access(tool, os.X_OK):
            sys.exit("%s missing: make all build/bench/mockbroker build/bench/workload" % tool)
    names = sys.argv[1:] or list(WORKLOADS)
    print("| workload | operation | ops/s | records per op | key+value bytes/record "
          "| all records/s | wire bytes/record | producer CPU µs/record | load |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in names:
        r = measure(name)
        per = ", ".join("%s %.2f" % (t.split(".", 1)[1], v[0] / r["ops"])
                        for t, v in sorted(r["own"].items()))
        size = ", ".join("%s %.0f" % (t.split(".", 1)[1], v[1] / max(v[0], 1))
                         for t, v in sorted(r["own"].items()))
        print("| %s | %s | %.0f | %s | %s | %.0f | %.1f | %.1f | %.1f |" % (
            name, WORKLOADS[name][2], r["ops"] / r["elapsed"], per, size,
            r["records"] / r["elapsed"],
            r["wire"] / max(r["records"], 1), 1e6 * r["cpu"] / max(r["records"], 1), r["load"]),
            flush=True)

if __name__ == "__main__":
    main()
