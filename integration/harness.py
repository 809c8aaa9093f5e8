"""Shared pieces of the root integration tests: the producer under test, pod-like cgroups, a real
Kafka consumer (kcat) and an independent Avro decoder (Debian's python3-avro)."""
import datetime
import io
import json
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import time
import traceback
import uuid

import avro.io
import avro.schema

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# `make integration` points TAPIO_BIN at the ASan/UBSan builds; a leak or error there makes the
# producer's exit status non-zero, which the shutdown tests check.
BUILD = os.environ.get("TAPIO_BIN") or os.path.join(REPO, "build")
PRODUCER = os.path.join(BUILD, "tapio-producer")
TAIL = os.path.join(BUILD, "tapio-tail")


def version():
    """The producer's version, as the build has it (VERSION at the repository root)."""
    with open(os.path.join(REPO, "VERSION")) as f:
        return f.read().strip()


def cgroup2_root():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[0] == "cgroup2":
                return left.split()[4]
    raise RuntimeError("no cgroup2 mount")


def crc64_avro(data):
    """CRC-64-AVRO as the Avro specification defines it (the fingerprint of single-object encoding)."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for b in data:
        fp = (fp >> 8) ^ table[(fp ^ b) & 0xFF]
    return fp


def canonical_form(schema):
    """python3-avro 1.11's Parsing Canonical Form, with one correction: it writes a primitive that
    carries a logicalType as {"type":"long"}, where the specification's PRIMITIVES rule (and Java's
    SchemaNormalization, which Kafka clients use) writes "long"."""
    return re.sub(r'\{"type":"(null|boolean|int|long|float|double|bytes|string)"\}', r'"\1"',
                  schema.canonical_form)


EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def micros(ts):
    """python3-avro decodes timestamp-micros to an aware datetime: back to exact microseconds."""
    return (ts - EPOCH) // datetime.timedelta(microseconds=1)


class Schema:
    def __init__(self, name):
        with open(os.path.join(REPO, "schemas", name + ".avsc")) as f:
            self.schema = avro.schema.parse(f.read())
        self.fingerprint = crc64_avro(canonical_form(self.schema).encode())

    def decode(self, value):
        """Single-object encoding: C3 01, 8-byte little-endian fingerprint, Avro binary datum."""
        if not value:
            return None  # a tombstone
        assert value[:2] == b"\xc3\x01", "not Avro single-object encoding: %r" % value[:2]
        (fp,) = struct.unpack("<Q", value[2:10])
        assert fp == self.fingerprint, "fingerprint %016x, schema's is %016x" % (fp, self.fingerprint)
        reader = avro.io.DatumReader(self.schema)
        buf = io.BytesIO(value[10:])
        datum = reader.read(avro.io.BinaryDecoder(buf))
        assert buf.tell() == len(value) - 10, "trailing bytes after the datum"
        return datum


class Producer:
    """tapio-producer on its embedded broker; ready once it prints bootstrap.servers=."""

    def __init__(self, *args, node="itest-node"):
        self.log_path = "/tmp/tapio-itest-%d.log" % os.getpid()
        self.log = open(self.log_path, "w")
        # Tests run several producers: metrics on a free port unless a test picks one.
        metrics = [] if any("metrics_listen" in a for a in args) else ["--set", "metrics_listen=127.0.0.1:0"]
        self.proc = subprocess.Popen(
            [PRODUCER, "--node-name", node, *metrics, *args],
            stdout=subprocess.PIPE, stderr=self.log, bufsize=0)  # unbuffered: select() sees every line
        self.node = node
        self.metrics = None
        line = ""
        while not line.startswith("bootstrap.servers="):
            ready, _, _ = select.select([self.proc.stdout], [], [], 60)
            line = self.proc.stdout.readline().decode() if ready else ""
            if not line:
                self.stop()
                raise RuntimeError("producer did not become ready: %s" % self.logs())
            if line.startswith("metrics="):
                self.metrics = line.strip().split("=", 1)[1]
        self.bootstrap = line.strip().split("=", 1)[1]

    def logs(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=60)
        finally:
            self.log.close()
        return rc


class MockBroker:
    """librdkafka's mock cluster in a process of its own (build/bench/mockbroker): a broker that
    outlives the producers it serves, so a test can stop a producer (which flushes every record)
    before it reads the topics. Keeps everything in memory until stop()."""

    PATH = os.environ.get("TAPIO_MOCKBROKER") or os.path.join(REPO, "build", "bench", "mockbroker")

    def __init__(self, *topics, partitions=4):
        self.proc = subprocess.Popen([self.PATH, "--partitions", str(partitions), *topics],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("bootstrap.servers="):
            self.stop()
            raise RuntimeError("mockbroker did not start: %r" % line)
        self.bootstrap = line.strip().split("=", 1)[1]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=30)


def check(bootstrap, *topics, timeout_ms=60000):
    """tapio-tail --check --json over topics: (exit status, {(topic, node, run): stream line},
    {topic: topic line}, summary line, stderr)."""
    proc = subprocess.run([TAIL, "-b", bootstrap, "--check", "--json", "--timeout-ms",
                           str(timeout_ms), *topics], capture_output=True, timeout=120)
    streams, per_topic, summary = {}, {}, None
    for line in proc.stdout.decode().splitlines():
        j = json.loads(line)
        if j["type"] == "stream":
            streams[(j["topic"], j["node"], j["run"])] = j
        elif j["type"] == "topic":
            per_topic[j["topic"]] = j
        else:
            summary = j
    return proc.returncode, streams, per_topic, summary, proc.stderr.decode()


class Message:
    def __init__(self, key, timestamp, partition, offset, headers, value):
        self.key, self.timestamp, self.partition, self.offset = key, timestamp, partition, offset
        self.headers, self.value = headers, value


def consume_all(bootstrap, topic):
    """Every message in the topic so far, read by kcat (a real librdkafka consumer) to the end."""
    out = subprocess.run(
        ["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q",
         "-f", "%k\\n%T\\n%p\\n%o\\n%h\\n%R%s"],
        check=True, capture_output=True, timeout=60).stdout
    msgs, pos = [], 0
    while pos < len(out):
        fields = []
        for _ in range(5):
            end = out.index(b"\n", pos)
            fields.append(out[pos:end].decode())
            pos = end + 1
        (n,) = struct.unpack(">i", out[pos:pos + 4])
        pos += 4
        n = max(n, 0)  # -1: a null value (tombstone)
        value = out[pos:pos + n]
        pos += n
        headers = dict(h.split("=", 1) for h in fields[4].split(",") if h)
        msgs.append(Message(fields[0], int(fields[1]), int(fields[2]), int(fields[3]), headers, value))
    return msgs


def wait_for(bootstrap, topic, schema, predicate, want, deadline_s=30):
    """Consumes until `want` decoded records match predicate or the deadline passes; returns
    (matching (message, record) pairs, all messages). Polls the broker: it waits on data, not time."""
    deadline = time.monotonic() + deadline_s
    while True:
        msgs = consume_all(bootstrap, topic)
        found = [(m, r) for m in msgs for r in [schema.decode(m.value)] if r is not None and predicate(r)]
        if len(found) >= want or time.monotonic() > deadline:
            return found, msgs
        time.sleep(0.2)


class PodCgroup:
    """A kubelet-style (systemd driver) pod + container cgroup in the v2 hierarchy. With
    cgroup_root (kubelet's --cgroup-root, "kubelet" on kind) every slice carries its prefix:
    kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-<qos>.slice/..."""

    def __init__(self, qos="burstable", cgroup_root=None):
        self.pod_uid = str(uuid.uuid4())
        self.container_id = uuid.uuid4().hex + uuid.uuid4().hex
        root = cgroup2_root()
        p = cgroup_root + "-" if cgroup_root else ""
        pod = "%skubepods-%s-pod%s.slice" % (p, qos, self.pod_uid.replace("-", "_"))
        if cgroup_root:
            self.top = os.path.join(root, cgroup_root + ".slice")
            kubepods = os.path.join(self.top, p + "kubepods.slice")
        else:
            self.top = kubepods = os.path.join(root, "kubepods.slice")
        self.path = os.path.join(kubepods, "%skubepods-%s.slice" % (p, qos), pod,
                                 "cri-containerd-%s.scope" % self.container_id)
        os.makedirs(self.path)
        self.cgroup_id = os.stat(self.path).st_ino

    def run(self, argv, argv0=None):
        """Runs argv inside the cgroup; returns (pid, exit status as from waitpid)."""
        pid = os.fork()
        if pid == 0:
            try:
                with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
                    f.write("0")
                os.execv(argv[0], [argv0 or argv[0]] + argv[1:])
            finally:
                os._exit(127)
        _, status = os.waitpid(pid, 0)
        return pid, status

    def remove(self):
        # Deepest first; only directories this test made (kubepods.slice may pre-exist).
        path = self.path
        while path != self.top and path.startswith(self.top):
            try:
                os.rmdir(path)
            except OSError:
                pass
            path = os.path.dirname(path)
        try:
            os.rmdir(self.top)
        except OSError:
            pass


def run_tests(tests):
    passed = failed = 0
    for test in tests:
        try:
            test()
            passed += 1
            print("PASS %s" % test.__name__, flush=True)
        except Exception:
            failed += 1
            print("FAIL %s" % test.__name__, flush=True)
            traceback.print_exc()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def require_root():
    if os.geteuid() != 0:
        sys.exit("integration tests load eBPF programs and create cgroups: run them as root")
    for tool in ("kcat",):
        if not shutil.which(tool):
            sys.exit("integration tests need %s (make deps installs it)" % tool)


def spawn_in_cgroups(paths, argv):
    """Starts argv in every cgroup directory in `paths` (v2 and v1 alike), without waiting;
    returns its pid. The child joins before it execs, so its first exec is inside them."""
    pid = os.fork()
    if pid == 0:
        try:
            for path in paths:
                with open(os.path.join(path, "cgroup.procs"), "w") as f:
                    f.write("0")
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    return pid


def all_before_sentinel(bootstrap, topic, schema, predicate, pod=None, deadline_s=30):
    """Every record matching predicate among those published before a sentinel: runs
    `/bin/true <marker>` in `pod` (a PodCgroup), else in this process's cgroup, so that its
    records share the key, hence the partition, of the records counted; waits for its EXEC, and
    only then counts. An "exactly one" check needs this: stopping at the first match would miss
    a second one."""
    marker = "tapio-sentinel-" + uuid.uuid4().hex
    if pod:
        pod.run(["/bin/true", marker])
    else:
        subprocess.run(["/bin/true", marker], check=True)
    found, msgs = wait_for(bootstrap, topic, schema,
                           lambda r: r["kind"] == "EXEC" and marker in (r["exec"] or {}).get("args", []),
                           1, deadline_s)
    assert found, "the sentinel %s never arrived" % marker
    return [(m, r) for m in msgs for r in [schema.decode(m.value)] if r is not None and predicate(r)]


def wait_for_log(producer, text, deadline_s=30):
    """Waits until the producer's log holds `text` (data, not time); True when it does."""
    deadline = time.monotonic() + deadline_s
    while text not in producer.logs():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def records_through(bootstrap, topic, schema, seq, deadline_s=30):
    """Every decoded record of one producer's topic with seq 1..seq, waiting until none is
    missing: a record absent from them was never produced. Returns them in seq order."""
    deadline = time.monotonic() + deadline_s
    while True:
        recs = [r for m in consume_all(bootstrap, topic) for r in [schema.decode(m.value)] if r]
        have = {r["seq"]: r for r in recs}
        if all(s in have for s in range(1, seq + 1)) or time.monotonic() > deadline:
            return [have[s] for s in sorted(have) if s <= seq]
        time.sleep(0.2)
