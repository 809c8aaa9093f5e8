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

The HTTP collectors run against what the integration tests use: the stand-in API server and
kubelet (integration/standins, in threads of this process) and a real etcd (Debian's etcd-server,
on loopback, as integration/test_etcd.py starts it). Their producers run that collector alone
(`--collectors kubeapi`, no BPF), so every record they deliver is the workload's.

Root, not part of `make test`; run under the root-test lock after `make all build/bench/mockbroker
build/bench/workload`:
    flock -o /tmp/tapio-root-tests.lock /usr/bin/python3 tests/bench/scaling.py [WORKLOAD...]
Prints a Markdown table."""
import base64
import functools
import http.client
import json
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
from standins import model  # noqa: E402
from standins.kubeapi import KubeAPI  # noqa: E402
from standins.kubelet import Kubelet  # noqa: E402

BUILD = os.path.join(harness.REPO, "build")
PRODUCER = os.path.join(BUILD, "tapio-producer")
MOCKBROKER = os.path.join(BUILD, "bench", "mockbroker")
WORKLOAD = os.path.join(BUILD, "bench", "workload")
TOPICS = ["tapio.%s" % t for t in ("kernel", "dns", "cni", "cri", "systemd", "metadata",
                                    "kubeapi", "kubelet", "etcd")]
NODE = "scaling"
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
             "--node-name", NODE, "--set", "metrics_listen=127.0.0.1:0",
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


# --- the HTTP collectors -------------------------------------------------------------------------
# Each has an environment: the server it reads, started before the producer (whose flags point
# at it) and stopped after; ready(producer) returns once the collector is connected and idle.
# Its workload gets the environment.

def wait_until(cond, what, deadline_s=60):
    deadline = time.monotonic() + deadline_s
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting for " + what)
        time.sleep(0.05)


def paced(n, rate, op):
    """op(i) for i in range(n), `rate` a second (as fast as it goes when rate is None)."""
    start = time.monotonic()
    for i in range(n):
        op(i)
        if rate:
            pause = start + (i + 1) / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)


class KubeAPIEnv:
    """The stand-in API server, a service-account token the producer reads; watches: the pods of
    NODE (and its Node's Events), or with cluster=True every Event and no pods."""

    def __init__(self, cluster=False):
        self.dir = tempfile.mkdtemp(prefix="tapio-scale-kubeapi-")
        self.api = KubeAPI().start()
        sa = self.api.serviceaccount(os.path.join(self.dir, "sa"))
        self.cluster = cluster
        self.flags = ["--set", "kubeapi_url=" + self.api.url,
                      "--set", "kubeapi_token_file=" + sa.token_file,
                      "--set", "kubeapi_ca_file=" + sa.ca_file]
        if cluster:
            self.flags += ["--set", "kubeapi_events=cluster", "--set", "kubeapi_pods=off"]

    def ready(self, producer):
        self.api.wait_watch(lambda w: w.resource == "events", timeout=60)
        if not self.cluster:
            self.api.wait_watch(lambda w: w.resource == "pods", timeout=60)

    def stop(self):
        self.api.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def kubeapi_pods(env, rate=10, n=110):
    """A pod's life on this node, `rate` pods a second: added (the stand-in's varied pods: 5 to 9
    KB of JSON each), its container restarted, deleted gracefully (deletionTimestamp, containers
    terminated, then gone): what a node's pod watch sees of one pod."""
    pods = [p for p in model.node_pods(NODE, n + 1)
            if any(c["name"] == "app" for c in p["spec"]["containers"])][:n]
    uids = {p["metadata"]["uid"] for p in pods}

    def life(i):
        m = pods[i]["metadata"]
        env.api.create_pod(pods[i])
        env.api.restart_container(m["namespace"], m["name"], "app")
        env.api.delete_pod(m["namespace"], m["name"])
    paced(len(pods), rate, life)
    return len(pods), {"tapio.kubeapi": lambda r: r["pod_uid"] in uids}


def kubeapi_events(env, rate=50, n=1000):
    """Events about pods as the kubelet and controllers make them, `rate` a second, each one
    new (the cluster Deployment's watch on every Event)."""
    pods = model.node_pods(NODE, 50)
    notes = (("Scheduled", "Successfully assigned %s/%s to " + NODE, None),
             ("Pulled", "Container image \"registry.example.com/shop/app:1.4.2\" already "
              "present on machine", "app"),
             ("Created", "Created container app", "app"),
             ("Started", "Started container app", "app"),
             ("BackOff", "Back-off restarting failed container app in pod %s_%s", "app"))
    uids = set()

    def event(i):
        pod = pods[i % len(pods)]
        reason, note, container = notes[i % len(notes)]
        if "%s" in note:
            note = note % (pod["metadata"]["namespace"], pod["metadata"]["name"])
        ev = model.pod_event(pod, reason, note, "Warning" if reason == "BackOff" else "Normal",
                             container=container)
        uids.add(ev["metadata"]["uid"])
        env.api.create_event(ev)
    paced(n, rate, event)
    return n, {"tapio.kubeapi": lambda r: r["event"] is not None and r["event"]["uid"] in uids}


class KubeletEnv:
    """The stand-in kubelet with a 50-pod node (the stand-in's varied pods), scraped every
    second."""
    TOKEN = "tapio-scale-kubelet-token"

    def __init__(self, pods=50):
        self.dir = tempfile.mkdtemp(prefix="tapio-scale-kubelet-")
        token_file = os.path.join(self.dir, "token")
        with open(token_file, "w") as f:
            f.write(self.TOKEN + "\n")
        self.k = Kubelet(NODE, pods=model.node_pods(NODE, pods)).start()
        self.k.add_token(self.TOKEN, allow={"nodes/stats", "nodes/proxy"})
        self.flags = ["--set", "kubelet_url=" + self.k.url, "--set", "kubelet_ca_file="
                      + self.k.ca_file, "--set", "kubelet_token_file=" + token_file,
                      "--set", "kubelet_interval_s=1"]

    def ready(self, producer):
        # Past the first scrape (its snapshots of every pod's status): steady scrapes from here.
        wait_until(lambda: self.k.scrapes >= 2, "two scrapes")
        producer.settle()

    def stop(self):
        self.k.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def kubelet_scrapes(env, seconds=20):
    """The scrapes of `seconds` seconds. Every record of a scrape carries the time its response
    arrived as event_time, and a scrape makes exactly one NODE_STATS: the scrapes are the
    NODE_STATS records whose time falls in the window, their records those with the same
    times."""
    t0 = time.time() * 1e6
    s0 = env.k.scrapes
    # Waits for the scrapes (the producer's own schedule), not for a time: at least `seconds`.
    wait_until(lambda: env.k.scrapes >= s0 + seconds, "%d scrapes" % seconds, seconds * 3)
    # The last scrape's records may still be in flight: the window ends before it.
    wait_until(lambda: env.k.scrapes >= s0 + seconds + 1, "one more scrape", 10)
    t1 = time.time() * 1e6
    times = set()

    def own(r):
        if not t0 <= harness.micros(r["event_time"]) < t1:
            return False
        if r["kind"] == "NODE_STATS":
            times.add(r["event_time"])
        return True
    return (lambda: len(times)), {"tapio.kubelet": own}


class EtcdEnv:
    """A real etcd on loopback (integration/test_etcd.py's), watched from its current revision."""

    def __init__(self):
        import test_etcd
        self.etcd = test_etcd.Etcd()
        host, port = self.etcd.url.split("//", 1)[1].rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)
        self.flags = ["--set", "etcd_endpoints=" + self.etcd.url]

    def put(self, key, value):
        body = json.dumps({"key": base64.b64encode(key.encode()).decode(),
                           "value": base64.b64encode(value).decode()})
        self.conn.request("POST", "/v3/kv/put", body, {"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise RuntimeError("etcd put %s: %d %s" % (key, resp.status, data[:200]))

    def ready(self, producer):
        # A put seen through the whole path: the watch is live. The watch starts at the revision
        # current when it is made (no checkpoint), so a put before that is never seen: put again
        # until one is.
        deadline = time.monotonic() + 60
        while producer.counters().get(("delivered", "etcd"), 0) < 1:
            if time.monotonic() > deadline:
                raise RuntimeError("no etcd record delivered in 60 s")
            self.put("/registry/configmaps/tapio-scale/ready", b"x")
            try:
                wait_until(lambda: producer.counters().get(("delivered", "etcd"), 0) >= 1,
                           "the first etcd record", 1)
            except RuntimeError:
                pass

    def stop(self):
        self.conn.close()
        self.etcd.close()


def etcd_puts(env, rate=None, n=5000):
    """Puts of pods' keys as the API server writes them (`/registry/pods/<ns>/<name>`), 2 KB
    values (never read: only their size is published), one at a time over one connection."""
    value = bytes(2048)
    keys = ["/registry/pods/scale-%d/svc%d-%08x-%05x" % (i % 5, i % 17, i * 2654435761 % 2**32,
                                                          i % 2**20) for i in range(n)]
    paced(n, rate, lambda i: env.put(keys[i], value))
    mine = set(keys)
    return n, {"tapio.etcd": lambda r: r["key"] in mine}


def etcd_steady(env):
    """50 puts a second for 20 s."""
    return etcd_puts(env, rate=50, n=1000)


# name: (collectors, workload, what one operation is[, extra producer flags[, environment]])
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
    "kubeapi-pods": ("kubeapi", kubeapi_pods, "a pod added, its container restarted, deleted "
                     "gracefully, 10 pods a second", (), KubeAPIEnv),
    "kubeapi-events": ("kubeapi", kubeapi_events, "an Event about a pod, 50 a second "
                       "(`kubeapi_events = cluster`)", (), lambda: KubeAPIEnv(cluster=True)),
    "kubelet": ("kubelet", kubelet_scrapes, "one scrape of a 50-pod node (`/stats/summary` and "
                "`/pods`), one a second", (), KubeletEnv),
    "etcd-burst": ("etcd", etcd_puts, "a put of a pod's key (2 KB value), back to back", (),
                   EtcdEnv),
    "etcd-50/s": ("etcd", etcd_steady, "a put of a pod's key (2 KB value), 50 a second", (),
                  EtcdEnv),
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
    collectors, workload, _, *rest = WORKLOADS[name]
    extra = tuple(rest[0]) if rest else ()
    env = rest[1]() if len(rest) > 1 else None
    broker = producer = None
    cg = os.path.join(harness.cgroup2_root(), "tapio-scale-%d" % os.getpid())
    os.mkdir(cg)
    Scale.cgroup_id = os.stat(cg).st_ino
    try:
        broker = Broker()
        producer = Producer(broker, collectors, extra + tuple(env.flags if env else ()))
        if env:
            env.ready(producer)
            workload = functools.partial(workload, env)
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
        if callable(ops):  # counted in the records themselves (kubelet: its scrapes)
            ops = ops()
    finally:
        if producer:
            producer.stop()
        if broker:
            broker.stop()
        if env:
            env.stop()
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
