#!/usr/bin/python3
"""tapio-archive and tapio-replay against librdkafka's mock cluster in a process of its own
(build/bench/mockbroker, which takes a broker down and up on command).

- Records of the real producer (kernel, metadata with a tombstone; then with a schema registry,
  Confluent framing) archived and read back by three independent readers: python3-avro's
  DataFileReader, avro-c's avrocat and Java's DataFileReader (Debian's libavro-java). Every
  record on the topic is in the archive once, its datum equal to the topic's.
- Replayed into a second broker: a consumer sees the same keys, values, headers and timestamps in
  the same order per partition; with --topic-prefix into other topics.
- The archiver killed with SIGKILL mid-file: no visible torn file; after a restart nothing missed.
- A broker outage during archiving and during replay: nothing lost.
- A time-scaled replay: the arrival times a consumer sees follow the asked pace within 10 %.
- Bad input: undecodable values archived raw and replayed byte for byte; corrupt, truncated,
  empty and foreign files reported, counted and skipped; usage errors exit 2 naming the flag.
"""
import datetime
import glob
import io
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import http.server

import avro.datafile
import avro.io
import avro.schema

import harness
from harness import PodCgroup, Producer, Schema

ARCHIVE = os.path.join(harness.BUILD, "tapio-archive")
REPLAY = os.path.join(harness.BUILD, "tapio-replay")
MOCKBROKER = os.environ.get("TAPIO_MOCKBROKER") or os.path.join(harness.REPO, "build", "bench",
                                                                  "mockbroker")
KERNEL = Schema("kernel")
METADATA = Schema("metadata")
SCHEMAS = {"tapio.kernel": KERNEL, "tapio.metadata": METADATA}
KAFKA_FIELDS = ["kafka_partition", "kafka_offset", "kafka_timestamp", "kafka_key", "kafka_headers"]
JAVA_CP = ":".join("/usr/share/java/%s.jar" % j for j in (
    "avro", "jackson-core-asl", "jackson-mapper-asl", "commons-compress", "xz", "slf4j-api",
    "slf4j-nop", "paranamer", "snappy-java"))
UTC = datetime.timezone.utc
WORK = tempfile.mkdtemp(prefix="tapio-archive-itest.")


def deadline_loop(seconds, what):
    """Yields until the caller breaks; fails the test after `seconds` (waits on data, not time)."""
    end = time.monotonic() + seconds
    while True:
        yield
        if time.monotonic() > end:
            raise AssertionError("timed out after %d s waiting for %s" % (seconds, what))
        time.sleep(0.1)


class Broker:
    """build/bench/mockbroker with --stdin: a Kafka-protocol cluster of one broker whose data lives
    as long as the process; down()/up() make an outage without losing it."""

    def __init__(self, *topics, partitions=4):
        self.proc = subprocess.Popen([MOCKBROKER, "--stdin", "--partitions", str(partitions),
                                      *topics], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, bufsize=1)
        line = self.proc.stdout.readline()
        assert line.startswith("bootstrap.servers="), line
        self.bootstrap = line.strip().split("=", 1)[1]

    def command(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        assert answer == "ok", (cmd, answer)

    def down(self):
        self.command("down 1")

    def up(self):
        self.command("up 1")

    def stop(self):
        self.proc.stdin.close()
        assert self.proc.wait(timeout=30) == 0


class Tool:
    """A tool running in the background; stderr collected by a thread, so it can be waited on."""

    def __init__(self, argv):
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.err_lines = []
        self.out = ""
        self.thread = threading.Thread(target=self._read_err, daemon=True)
        self.thread.start()

    def _read_err(self):
        for line in self.proc.stderr:
            self.err_lines.append(line)

    @property
    def stderr(self):
        return "".join(self.err_lines)

    def wait(self, timeout=180):
        self.out = self.proc.stdout.read()
        rc = self.proc.wait(timeout=timeout)
        self.thread.join(timeout=10)
        return rc


def archive(brokers, directory, *args, group="itest"):
    """Runs tapio-archive to the end (--until-idle among args); returns (rc, stdout, stderr)."""
    t = Tool([ARCHIVE, "-b", brokers, "-d", directory, "-g", group, *args])
    rc = t.wait()
    return rc, t.out, t.stderr


def replay(brokers, directory, *args):
    t = Tool([REPLAY, "-b", brokers, "-d", directory, *args])
    rc = t.wait()
    return rc, t.out, t.stderr


def summary_number(out, pattern):
    m = re.search(pattern, out)
    assert m, "no %r in %s" % (pattern, out)
    return int(m.group(1))


# ---- records ----

D = b"\x1e\xef\x42\x99\x13\x07\x81"  # kcat message delimiter, never inside a record
K = b"\x1c\xee\x43"                   # kcat key delimiter


def produce(brokers, topic, msgs, headers=()):
    """(key, value) pairs with kcat -P (value None: a tombstone), in order."""
    data = b"".join(k + K + (v if v is not None else b"") + D for k, v in msgs)
    for k, v in msgs:
        assert D not in k + (v or b"") and K not in k
    args = [b"kcat", b"-P", b"-b", brokers.encode(), b"-t", topic.encode(), b"-K", K, b"-D", D,
            b"-Z", b"-z", b"lz4"]
    for h in headers:
        args += [b"-H", h.encode()]
    subprocess.run(args, input=data, check=True, timeout=120)


def dt(us):
    return datetime.datetime.fromtimestamp(us // 1000000, UTC).replace(microsecond=us % 1000000)


def encode(schema, rec, confluent_id=None):
    buf = io.BytesIO()
    avro.io.DatumWriter(schema.schema).write(rec, avro.io.BinaryEncoder(buf))
    if confluent_id is not None:
        return b"\x00" + struct.pack(">i", confluent_id) + buf.getvalue()
    return b"\xc3\x01" + struct.pack("<Q", schema.fingerprint) + buf.getvalue()


def kernel_exec(seq, t_us, node="node-a", cgroup=7):
    return {"kind": "EXEC", "event_time": dt(t_us), "seq": seq, "run": RUN, "node": node,
            "cgroup_id": cgroup,
            "pod_uid": None, "container_id": None, "loss": None, "pid": 1000 + seq, "ppid": 1,
            "comm": "sh", "exec": {"uid": 0, "gid": 0, "filename": "/bin/sh",
                                   "filename_truncated": False, "args": ["sh", "-c", str(seq)],
                                   "args_truncated": False},
            "exit": None, "oom": None, "tcp": None}


# The producer run of the synthetic records (its start time, microseconds).
RUN = 1795625000000000


def kernel_loss(seq, t_us, node="node-a"):
    return {"kind": "LOSS", "event_time": dt(t_us), "seq": seq, "run": RUN, "node": node,
            "cgroup_id": 0, "pod_uid": None, "container_id": None,
            "loss": {"stage": "RING_BUFFER", "count": 5, "since": dt(t_us - 1000000),
                     "until": dt(t_us), "run": None},
            "pid": 0, "ppid": 0, "comm": "", "exec": None, "exit": None, "oom": None, "tcp": None}


def synthetic(n, start_seq=1, t_us=1795625014865000, nodes=("node-a",)):
    """n kernel records over n cgroups (so over the partitions), every 10th a LOSS record."""
    msgs = []
    for i in range(start_seq, start_seq + n):
        node = nodes[i % len(nodes)]
        rec = (kernel_loss(i, t_us + i, node) if i % 10 == 0 else
               kernel_exec(i, t_us + i, node, i % 13))
        msgs.append(((node + "/%d" % (i % 13)).encode(), encode(KERNEL, rec)))
    return msgs


# ---- reading archives ----

def visible_files(directory):
    """The archive's files a reader sees: *.avro, not hidden."""
    return sorted(p for p in glob.glob(os.path.join(directory, "**", "*.avro"), recursive=True)
                  if not os.path.basename(p).startswith("."))


def read_file(path):
    """(metadata, rows) of one file by python3-avro; its record count checked against the header."""
    with open(path, "rb") as f:
        reader = avro.datafile.DataFileReader(f, avro.io.DatumReader())
        meta = {k: v.decode() for k, v in reader.meta.items() if k != "avro.schema"}
        rows = list(reader)
    assert int(meta["tapio.records"]) == len(rows), (path, meta, len(rows))
    return meta, rows


def read_archive(directory):
    """{(topic, partition, offset): [(meta, row), ...]} over every visible file."""
    found = {}
    for path in visible_files(directory):
        meta, rows = read_file(path)
        for row in rows:
            assert row["kafka_partition"] == int(meta["tapio.partition"])
            assert (int(meta["tapio.offset.first"]) <= row["kafka_offset"] <=
                    int(meta["tapio.offset.last"]))
            found.setdefault((meta["tapio.topic"], row["kafka_partition"], row["kafka_offset"]),
                             []).append((meta, row))
    return found


def millis(ts):
    return None if ts is None else (ts - harness.EPOCH) // datetime.timedelta(milliseconds=1)


def check_row_is_message(topic, meta, row, m):
    """One archive row against the record read from the topic by kcat: key, timestamp, headers,
    and the datum (decoded by python3-avro from the topic, compared with the row's columns)."""
    where = "%s [%d] %d" % (topic, m.partition, m.offset)
    assert row["kafka_key"] == m.key.encode(), where
    assert millis(row["kafka_timestamp"]) == m.timestamp, where
    assert {h["name"]: h["value"].decode() for h in row["kafka_headers"]} == m.headers, where
    if meta["tapio.content"] == "raw":
        if m.value == b"":
            assert row["value"] is None and row["reason"] == "tombstone", (where, row)
        else:
            assert row["value"] == m.value, where
        return
    value = {k: v for k, v in row.items() if k not in KAFKA_FIELDS}
    if meta["tapio.framing"] == "single-object":
        assert m.value[:2] == b"\xc3\x01", where
        assert int(meta["tapio.fingerprint"], 16) == struct.unpack("<Q", m.value[2:10])[0], where
        assert SCHEMAS.get(topic, KERNEL).decode(m.value) == value, where
    else:
        assert m.value[0] == 0, where
        assert struct.unpack(">i", m.value[1:5])[0] == int(meta["tapio.schema_id"]), where
        buf = io.BytesIO(m.value[5:])
        decoded = avro.io.DatumReader(SCHEMAS.get(topic, KERNEL).schema).read(
            avro.io.BinaryDecoder(buf))
        assert buf.tell() == len(m.value) - 5 and decoded == value, where


def check_archive_equals_topics(brokers, directory, topics):
    """Every record of the topics is in the archive exactly once, equal; returns the messages."""
    found = read_archive(directory)
    messages = {}
    for topic in topics:
        messages[topic] = harness.consume_all(brokers, topic)
        for m in messages[topic]:
            rows = found.pop((topic, m.partition, m.offset), None)
            assert rows and len(rows) == 1, "%s [%d] %d: %s in the archive" % (
                topic, m.partition, m.offset, len(rows or []))
            check_row_is_message(topic, *rows[0], m)
    assert not found, "rows that were not on the topics: %s" % list(found)[:5]
    return messages


def check_avrocat(directory):
    """avro-c reads every file whole: as many rows as python3-avro, the same offsets."""
    for path in visible_files(directory):
        meta, rows = read_file(path)
        out = subprocess.run(["avrocat", path], capture_output=True, text=True, check=True).stdout
        lines = [json.loads(line) for line in out.splitlines() if line.strip()]
        assert len(lines) == len(rows), (path, len(lines), len(rows))
        assert [l["kafka_offset"] for l in lines] == [r["kafka_offset"] for r in rows], path
        if meta["tapio.content"] == "table":
            assert [l["seq"] for l in lines] == [r["seq"] for r in rows], path


JAVA_READER = r"""
import java.io.File;
import org.apache.avro.file.DataFileReader;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;

public class ReadArchive {
    public static void main(String[] args) throws Exception {
        for (String path : args) {
            DataFileReader<GenericRecord> r =
                new DataFileReader<>(new File(path), new GenericDatumReader<GenericRecord>());
            for (GenericRecord rec : r)
                System.out.println(r.getMetaString("tapio.topic") + " " + rec.get("kafka_partition")
                    + " " + rec.get("kafka_offset") + " " + rec.get("seq"));
            r.close();
        }
    }
}
"""


def check_java(directory):
    """Java's DataFileReader (libavro-java) reads every table file: the same rows."""
    jdir = os.path.join(WORK, "java")
    if not os.path.exists(os.path.join(jdir, "ReadArchive.class")):
        os.makedirs(jdir, exist_ok=True)
        with open(os.path.join(jdir, "ReadArchive.java"), "w") as f:
            f.write(JAVA_READER)
        subprocess.run(["javac", "-cp", JAVA_CP, "-d", jdir,
                        os.path.join(jdir, "ReadArchive.java")], check=True, timeout=120)
    tables = [p for p in visible_files(directory) if "/_raw/" not in p]
    out = subprocess.run(["java", "-cp", JAVA_CP + ":" + jdir, "ReadArchive", *tables],
                         capture_output=True, text=True, check=True, timeout=300).stdout
    want = []
    for path in tables:
        meta, rows = read_file(path)
        want += ["%s %d %d %d" % (meta["tapio.topic"], r["kafka_partition"], r["kafka_offset"],
                                  r["seq"]) for r in rows]
    assert out.split("\n")[:-1] == want, (out[:500], want[:5])


def by_partition(messages):
    """Per partition, the records in offset order as (key, timestamp, headers, value)."""
    parts = {}
    for m in messages:
        parts.setdefault(m.partition, []).append((m.key, m.timestamp, m.headers, m.value))
    return parts


# ---- a stand-in Schema Registry: register (POST) and read by id (GET) ----

class Registry(http.server.ThreadingHTTPServer):
    def __init__(self, first_id=1):
        self.subjects, self.by_id, self.next_id, self.gets = {}, {}, first_id, 0
        super().__init__(("127.0.0.1", 0), RegistryHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]


class RegistryHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        parts = self.path.strip("/").split("/")
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if len(parts) == 3 and parts[0] == "subjects" and parts[2] == "versions":
            reg = self.server
            if parts[1] not in reg.subjects:
                reg.subjects[parts[1]] = reg.next_id
                reg.by_id[reg.next_id] = body["schema"]
                reg.next_id += 1
            return self.reply(200, {"id": reg.subjects[parts[1]]})
        self.reply(404, {"error_code": 404, "message": "not found"})

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        self.server.gets += 1
        if parts[:2] == ["schemas", "ids"] and len(parts) == 3 and \
                int(parts[2]) in self.server.by_id:
            return self.reply(200, {"schema": self.server.by_id[int(parts[2])]})
        self.reply(404, {"error_code": 40403, "message": "Schema not found"})

    def reply(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


# ---- the tests ----

def test_usage_errors():
    cases = [
        ([ARCHIVE, "-d", "/tmp/x", "t"], "no brokers"),
        ([ARCHIVE, "-b", "h:1", "t"], "-d DIR"),
        ([ARCHIVE, "-b", "h:1", "-d", "/tmp/x"], "no topic"),
        ([ARCHIVE, "-b", "h:1", "-d", "/tmp/x", "a/b"], "\"a/b\" is not a Kafka topic name"),
        ([ARCHIVE, "-b", "h:1", "-d", "/tmp/x", "--codec", "zip", "t"], "--codec: \"zip\""),
        ([ARCHIVE, "-b", "h:1", "-d", "/tmp/x", "--codec", "deflate:10", "t"], "deflate:LEVEL"),
        ([ARCHIVE, "-b", "h:1", "-d", "/tmp/x", "--max-bytes", "12Q", "t"], "--max-bytes: \"12Q\""),
        ([ARCHIVE, "-b", "h:1", "-d", "/tmp/x", "--until-idle", "-1", "t"], "--until-idle"),
        ([ARCHIVE, "-b", "h:1", "-d", "/tmp/x", "--registry", "ftp://r", "t"], "--registry"),
        ([ARCHIVE, "-b", "h:1", "-d", "/tmp/x", "-X", "enable.auto.commit=true", "t"],
         "enable.auto.commit"),
        ([ARCHIVE, "-b", "h:1", "-d", "/tmp/x", "-X", "no.such.prop=1", "t"], "no.such.prop"),
        ([ARCHIVE, "--bogus"], "Try"),
        ([REPLAY, "-b", "h:1"], "-d DIR"),
        ([REPLAY, "-b", "h:1", "-d", "/tmp", "--pace", "0"], "--pace: \"0\""),
        ([REPLAY, "-b", "h:1", "-d", "/tmp", "--pace", "fast"], "--pace: \"fast\""),
        ([REPLAY, "-b", "h:1", "-d", "/tmp", "--timestamps", "now"], "--timestamps: \"now\""),
        ([REPLAY, "-b", "h:1", "-d", "/tmp", "--partition", "hash"], "--partition: \"hash\""),
        ([REPLAY, "-b", "h:1", "-d", "/tmp", "--from", "yesterday"], "--from: \"yesterday\""),
        ([REPLAY, "-b", "h:1", "-d", "/tmp", "--from", "2026-01-02T00:00:00Z", "--until",
          "2026-01-01T00:00:00Z"], "--until must be after --from"),
        ([REPLAY, "-b", "h:1", "-d", "/tmp", "--topic-prefix", "a b"], "--topic-prefix"),
        ([REPLAY, "-b", "h:1", "-d", "/tmp", "tapio.kernel"], "unexpected argument"),
    ]
    for argv, part in cases:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert p.returncode == 2 and part in p.stderr, (argv, p.returncode, p.stderr)
    for tool in (ARCHIVE, REPLAY):
        p = subprocess.run([tool, "-h"], capture_output=True, text=True, timeout=30)
        assert p.returncode == 0 and "Usage:" in p.stdout, p


PRODUCER_ARCHIVE = os.path.join(WORK, "producer-archive")
producer_messages = {}


def test_real_producer_archived_and_read_back():
    """The real producer's records (execs and exits of a pod's processes, the metadata topic with a
    cgroup's removal and its tombstone) archived; python3-avro, avrocat and Java read them back."""
    broker = Broker("tapio.kernel", "tapio.metadata")
    pod = PodCgroup()
    producer = Producer("--brokers", broker.bootstrap, "--collectors", "kernel",
                        "--set", "identity_grace_s=1")
    try:
        for i in range(20):
            pod.run(["/bin/true", "archive-marker-%d" % i])
        pod_cgroup = pod.cgroup_id
        pod.remove()
        for _ in deadline_loop(30, "the removed pod cgroup's tombstone"):
            msgs = harness.consume_all(broker.bootstrap, "tapio.metadata")
            if any(m.value == b"" for m in msgs):
                break
        assert producer.stop() == 0, producer.logs()
        execs = [r for m in harness.consume_all(broker.bootstrap, "tapio.kernel")
                 for r in [KERNEL.decode(m.value)]
                 if r["kind"] == "EXEC" and r["pod_uid"] == pod.pod_uid]
        assert len(execs) == 20, len(execs)

        rc, out, err = archive(broker.bootstrap, PRODUCER_ARCHIVE, "--until-idle", "3",
                               "tapio.kernel", "tapio.metadata")
        assert rc == 0, (out, err)
        producer_messages.update(check_archive_equals_topics(
            broker.bootstrap, PRODUCER_ARCHIVE, ["tapio.kernel", "tapio.metadata"]))
        n = sum(len(v) for v in producer_messages.values())
        assert summary_number(out, r"archived (\d+) records") == n, out
        assert summary_number(out, r"topic tapio.metadata: .*\((\d+) tombstones") >= 1, out
        # The layout: tables by event hour, the tombstone under _raw, nothing hidden left.
        raw = [p for p in visible_files(PRODUCER_ARCHIVE) if "/_raw/" in p]
        assert raw and all("topic=tapio.metadata/_raw/date=" in p for p in raw), raw
        tomb = [row for p in raw for row in read_file(p)[1] if row["value"] is None]
        assert any(row["kafka_key"] == ("%s/%d" % (producer.node, pod_cgroup)).encode()
                   for row in tomb), tomb
        for p in visible_files(PRODUCER_ARCHIVE):
            assert re.search(r"/topic=tapio\.(kernel|metadata)/(_raw/)?date=\d{4}-\d\d-\d\d/"
                             r"hour=\d\d/\d+-\d+\.avro$", p), p
        assert not [p for p in glob.glob(PRODUCER_ARCHIVE + "/**/.*", recursive=True)]
        check_avrocat(PRODUCER_ARCHIVE)
        check_java(PRODUCER_ARCHIVE)
    finally:
        if producer.proc.poll() is None:
            producer.stop()
        pod.remove()
        broker.stop()


def test_replay_into_a_second_broker():
    """The producer's archive replayed: the same keys, values, headers and timestamps in the same
    order per partition; with --topic-prefix and --topic into other topics."""
    assert producer_messages, "needs test_real_producer_archived_and_read_back"
    broker = Broker("tapio.kernel", "tapio.metadata", "test.tapio.kernel", "test.tapio.metadata")
    try:
        rc, out, err = replay(broker.bootstrap, PRODUCER_ARCHIVE)
        assert rc == 0, (out, err)
        n = sum(len(v) for v in producer_messages.values())
        assert summary_number(out, r"replayed (\d+) records") == n, out
        assert summary_number(out, r"(\d+) delivered") == n, out
        for topic, msgs in producer_messages.items():
            got = harness.consume_all(broker.bootstrap, topic)
            assert by_partition(got) == by_partition(msgs), topic
        rc, out, err = replay(broker.bootstrap, PRODUCER_ARCHIVE, "--topic-prefix", "test.",
                              "--topic", "tapio.kernel")
        assert rc == 0, (out, err)
        got = harness.consume_all(broker.bootstrap, "test.tapio.kernel")
        assert by_partition(got) == by_partition(producer_messages["tapio.kernel"])
        assert harness.consume_all(broker.bootstrap, "test.tapio.metadata") == []
        assert "topic tapio.kernel -> test.tapio.kernel" in out, out
    finally:
        broker.stop()


def test_confluent_framing_with_a_registry():
    """With schema_registry_url the producer frames values 00 + id: archived with --registry
    (the writer schema read by id), read back, replayed with the original id, and with --registry
    on the replay side registered again and framed with the new registry's id. Without --registry
    such values are archived raw, never lost."""
    registry, registry2 = Registry(first_id=7), Registry(first_id=100)
    broker = Broker("tapio.kernel", "tapio.metadata")
    broker2 = Broker("tapio.kernel", "tapio.metadata")
    producer = Producer("--brokers", broker.bootstrap, "--collectors", "kernel",
                        "--set", "schema_registry_url=" + registry.url)
    d, d_raw = os.path.join(WORK, "confluent"), os.path.join(WORK, "confluent-raw")
    try:
        for i in range(5):
            pid = os.fork()
            if pid == 0:
                os.execv("/bin/true", ["true", "confluent-marker"])
            os.waitpid(pid, 0)
        for _ in deadline_loop(30, "the marker's records"):
            if len([m for m in harness.consume_all(broker.bootstrap, "tapio.kernel")]) >= 10:
                break
        assert producer.stop() == 0, producer.logs()
        kernel_id = registry.subjects["tapio.kernel-value"]
        rc, out, err = archive(broker.bootstrap, d, "--until-idle", "3", "--registry", registry.url,
                               "tapio.kernel", "tapio.metadata")
        assert rc == 0, (out, err)
        msgs = check_archive_equals_topics(broker.bootstrap, d, ["tapio.kernel", "tapio.metadata"])
        metas = [read_file(p)[0] for p in visible_files(d) if "/_raw/" not in p]
        assert {m["tapio.framing"] for m in metas} == {"confluent"}, metas
        assert str(kernel_id) in {m["tapio.schema_id"] for m in metas}
        check_avrocat(d)

        # Replayed as it was: the same bytes, the original ids.
        rc, out, err = replay(broker2.bootstrap, d, "--topic", "tapio.kernel")
        assert rc == 0, (out, err)
        assert by_partition(harness.consume_all(broker2.bootstrap, "tapio.kernel")) == \
            by_partition(msgs["tapio.kernel"])
        # Replayed to a cluster with its own registry: registered there, framed with its id.
        rc, out, err = replay(broker2.bootstrap, d, "--topic", "tapio.metadata",
                              "--registry", registry2.url)
        assert rc == 0, (out, err)
        new_id = registry2.subjects["tapio.metadata-value"]
        assert new_id >= 100
        got = harness.consume_all(broker2.bootstrap, "tapio.metadata")
        assert len(got) == len(msgs["tapio.metadata"])
        for a, b in zip(by_partition(got).values(), by_partition(msgs["tapio.metadata"]).values()):
            for x, y in zip(a, b):
                assert x[:3] == y[:3] and x[3][0] == 0 and x[3][5:] == y[3][5:]
                assert struct.unpack(">i", x[3][1:5])[0] == new_id

        # No --registry: nothing lost, each value archived raw with the reason.
        rc, out, err = archive(broker.bootstrap, d_raw, "--until-idle", "3", "tapio.kernel",
                               group="itest-raw")
        assert rc == 0, (out, err)
        rows = [r for p in visible_files(d_raw) for r in read_file(p)[1]]
        assert len(rows) == len(msgs["tapio.kernel"]) and all(
            "no --registry given" in r["reason"] for r in rows), rows[:2]
    finally:
        if producer.proc.poll() is None:
            producer.stop()
        broker.stop()
        broker2.stop()
        registry.shutdown()
        registry2.shutdown()


def test_undecodable_values_archived_raw_and_replayed_exactly():
    """Values in no framing, with an unknown fingerprint, a truncated datum or trailing bytes go to
    _raw with their reason (counted); the good ones to the table; replay gives back every value
    byte for byte, in order."""
    broker = Broker("arch.bad")
    broker2 = Broker("arch.bad")
    d = os.path.join(WORK, "undecodable")
    good = synthetic(5)
    hdr = b"\xc3\x01" + struct.pack("<Q", KERNEL.fingerprint)
    bad = [(b"k/1", b"{\"json\": true}"), (b"k/1", b"\xc3\x01" + b"\x11" * 8 + good[0][1][10:]),
           (b"k/1", good[1][1][:-3]), (b"k/1", good[2][1] + b"\x00\x00"), (b"k/1", hdr[:5]),
           (b"k/1", None)]
    try:
        produce(broker.bootstrap, "arch.bad", good + bad, headers=("h=1",))
        rc, out, err = archive(broker.bootstrap, d, "--until-idle", "3", "arch.bad")
        assert rc == 0, (out, err)
        assert summary_number(out, r"(\d+) table rows") == 5, out
        assert summary_number(out, r"\((\d+) tombstones") == 1, out
        assert summary_number(out, r"(\d+) undecodable") == 5, out
        reasons = [r["reason"] for p in visible_files(d) if "/_raw/" in p for r in read_file(p)[1]]
        for part in ("unknown framing", "unknown schema fingerprint 1111111111111111",
                     "need", "2 bytes after the datum", "single-object header", "tombstone"):
            assert any(part in r for r in reasons), (part, reasons)
        assert "unknown framing" in err  # the first ones are logged
        rc, out, err = replay(broker2.bootstrap, d)
        assert rc == 0, (out, err)
        assert by_partition(harness.consume_all(broker2.bootstrap, "arch.bad")) == \
            by_partition(harness.consume_all(broker.bootstrap, "arch.bad"))
    finally:
        broker.stop()
        broker2.stop()


# A member killed stays in its group until its session times out (45 s by default); the group
# then waits for it up to max.poll.interval.ms before a restarted member gets partitions. Shorter
# here, so the restart does not wait minutes.
GROUP_TIMEOUTS = ["-X", "session.timeout.ms=6000", "-X", "max.poll.interval.ms=10000"]


def test_sigkill_mid_file_leaves_no_torn_file_and_misses_nothing():
    broker = Broker("arch.kill")
    d = os.path.join(WORK, "kill")
    try:
        produce(broker.bootstrap, "arch.kill", synthetic(1500))
        a = Tool([ARCHIVE, "-b", broker.bootstrap, "-d", d, "-g", "kill", "--max-bytes", "20K",
                  "--block-bytes", "1K", "--until-idle", "120", *GROUP_TIMEOUTS, "arch.kill"])
        produce(broker.bootstrap, "arch.kill", synthetic(1500, start_seq=1501))
        for _ in deadline_loop(60, "closed files and one being written"):
            hidden = [p for p in glob.glob(d + "/**/.*.tmp", recursive=True)
                      if os.path.getsize(p) > 0]
            if len(visible_files(d)) >= 3 and hidden:
                break
        a.proc.send_signal(signal.SIGKILL)
        a.wait()
        assert all(os.path.basename(p).startswith(".") for p in glob.glob(d + "/**/*.tmp",
                                                                          recursive=True))
        before = visible_files(d)
        for p in before:  # whole and consistent: every one read to its end, count as its header
            read_file(p)
        produce(broker.bootstrap, "arch.kill", synthetic(1000, start_seq=3001))
        rc, out, err = archive(broker.bootstrap, d, "--until-idle", "4", "--max-bytes", "20K",
                               *GROUP_TIMEOUTS, "arch.kill", group="kill")
        assert rc == 0, (out, err)
        assert "temporary file" in err
        assert summary_number(out, r"stale temporary files removed (\d+)") >= 1
        assert not glob.glob(d + "/**/.*", recursive=True)
        # Every record once at least, every row equal to its record; duplicates visible by offset.
        found = read_archive(d)
        msgs = harness.consume_all(broker.bootstrap, "arch.kill")
        assert len(msgs) == 4000
        for m in msgs:
            rows = found.pop(("arch.kill", m.partition, m.offset), None)
            assert rows, "missed: [%d] %d" % (m.partition, m.offset)
            for meta, row in rows:
                check_row_is_message("arch.kill", meta, row, m)
        assert not found
    finally:
        broker.stop()


def test_two_archivers_in_one_group_share_a_directory():
    """A second member joins the group while the first archives: the first closes its files for
    the partitions it gives up and commits, the second carries on from there; every record is in
    the directory, a record in two files (a commit the group refused during its rebalance, as the
    mock cluster does) the same in both."""
    broker = Broker("arch.group")
    d = os.path.join(WORK, "group")
    try:
        produce(broker.bootstrap, "arch.group", synthetic(2000))
        argv = [ARCHIVE, "-b", broker.bootstrap, "-d", d, "-g", "two", "--max-bytes", "20K",
                "--until-idle", "6", *GROUP_TIMEOUTS, "arch.group"]
        first = Tool(argv)
        for _ in deadline_loop(60, "the first member's files"):
            if visible_files(d):
                break
        second = Tool(argv)
        for _ in deadline_loop(60, "the rebalance"):
            if first.stderr.count("assigned") >= 2 and "assigned" in second.stderr:
                break
        produce(broker.bootstrap, "arch.group", synthetic(2000, start_seq=2001))
        assert first.wait() == 0, (first.out, first.stderr)
        assert second.wait() == 0, (second.out, second.stderr)
        found = read_archive(d)
        msgs = harness.consume_all(broker.bootstrap, "arch.group")
        assert len(msgs) == 4000
        for m in msgs:
            rows = found.pop(("arch.group", m.partition, m.offset), None)
            assert rows, "missed: [%d] %d" % (m.partition, m.offset)
            for meta, row in rows:
                check_row_is_message("arch.group", meta, row, m)
        assert not found
        assert summary_number(first.out, r"archived (\d+)") > 0
        assert summary_number(second.out, r"archived (\d+)") > 0
    finally:
        broker.stop()


def test_broker_outage_during_archiving_loses_nothing():
    broker = Broker("arch.outage")
    d = os.path.join(WORK, "outage")
    try:
        produce(broker.bootstrap, "arch.outage", synthetic(500))
        a = Tool([ARCHIVE, "-b", broker.bootstrap, "-d", d, "-g", "outage", "--max-age", "1",
                  "--until-idle", "8", "arch.outage"])
        for _ in deadline_loop(60, "the first files"):
            if visible_files(d):
                break
        broker.down()
        for _ in deadline_loop(60, "the archiver to see the outage"):
            if re.search(r"refused|Disconnected|transport|down", a.stderr, re.I):
                break
        broker.up()
        produce(broker.bootstrap, "arch.outage", synthetic(500, start_seq=501))
        assert a.wait() == 0, (a.out, a.stderr)
        found = read_archive(d)
        msgs = harness.consume_all(broker.bootstrap, "arch.outage")
        assert len(msgs) == 1000
        for m in msgs:
            rows = found.pop(("arch.outage", m.partition, m.offset), None)
            assert rows, "missed: [%d] %d" % (m.partition, m.offset)
            check_row_is_message("arch.outage", *rows[0], m)
    finally:
        broker.stop()


def write_archive(directory, topic, partition, records, codec="deflate"):
    """An archive file written by python3-avro (an independent writer): `records` are
    (offset, timestamp ms, key, headers, kernel record)."""
    with open(os.path.join(harness.REPO, "schemas", "kernel.avsc")) as f:
        schema = json.load(f)
    with open(os.path.join(harness.REPO, "producer", "tools", "archive_format.c")) as f:
        src = f.read()
    # The Kafka columns as the archiver appends them (KAFKA_FIELDS_JSON in archive_format.c).
    macro = src[src.index("#define KAFKA_FIELDS_JSON"):src.index("const char archive_raw_schema")]
    text = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', macro)).encode().decode("unicode_escape")
    schema["fields"] += json.loads("[" + text + "]")
    first, last = records[0][0], records[-1][0]
    hour = datetime.datetime.fromtimestamp(records[0][4]["event_time"].timestamp(), UTC)
    sub = os.path.join(directory, "topic=%s" % topic, hour.strftime("date=%Y-%m-%d/hour=%H"))
    os.makedirs(sub, exist_ok=True)
    path = os.path.join(sub, "%d-%d.avro" % (partition, first))
    with open(path, "wb") as f:
        w = avro.datafile.DataFileWriter(f, avro.io.DatumWriter(),
                                         avro.schema.parse(json.dumps(schema)), codec=codec)
        for key, value in {"tapio.archive.version": "1", "tapio.content": "table",
                           "tapio.topic": topic, "tapio.partition": str(partition),
                           "tapio.offset.first": str(first), "tapio.offset.last": str(last),
                           "tapio.records": str(len(records)), "tapio.framing": "single-object",
                           "tapio.fingerprint": "%016x" % KERNEL.fingerprint}.items():
            w.set_meta(key, value.encode())
        for offset, ts_ms, key, headers, rec in records:
            w.append(dict(rec, kafka_partition=partition, kafka_offset=offset,
                          kafka_timestamp=datetime.datetime.fromtimestamp(ts_ms / 1000, UTC),
                          kafka_key=key, kafka_headers=headers))
        w.close()
    return path


def paced_archive(directory, n=60, span_ms=12000):
    """n records over span_ms of timestamps in 2 partitions, written by python3-avro."""
    t0 = 1795625014000
    parts = {0: [], 1: []}
    for i in range(n):
        ts = t0 + i * span_ms // (n - 1)
        rec = kernel_exec(i + 1, ts * 1000)
        parts[i % 2].append((1000 + i // 2, ts, b"k/%d" % (i % 2),
                             [{"name": "h", "value": b"%d" % i},
                              {"name": "nil", "value": None}], rec))
    for p, records in parts.items():
        write_archive(directory, "arch.pace", p, records)
    return t0, span_ms


class Arrivals:
    """kcat -C on a topic, each record's arrival time taken as kcat prints it (unbuffered)."""

    def __init__(self, brokers, topic, partitions=4):
        self.proc = subprocess.Popen(
            ["kcat", "-C", "-b", brokers, "-t", topic, "-o", "beginning", "-u", "-f", "%p %o %T\n",
             "-X", "fetch.wait.max.ms=5", "-X", "fetch.error.backoff.ms=5"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.times, self.eof = [], 0
        self.threads = [threading.Thread(target=self._read, daemon=True),
                        threading.Thread(target=self._read_err, daemon=True)]
        for t in self.threads:
            t.start()
        for _ in deadline_loop(30, "the consumer to reach the end of every partition"):
            if self.eof >= partitions:
                break

    def _read(self):
        for line in self.proc.stdout:
            p, o, ts = line.split()
            self.times.append((time.monotonic(), int(p), int(o), int(ts)))

    def _read_err(self):
        for line in self.proc.stderr:
            self.eof += "Reached end of topic" in line

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        for t in self.threads:
            t.join(timeout=10)


def test_paced_replay_follows_the_asked_pace():
    """60 records over 12 s of timestamps replayed at 4x: the arrival times a consumer sees span
    3 s within 10 %, each record within 10 % of the span of where the pace puts it; timestamps,
    keys and headers (a null-valued one included) as archived."""
    d = os.path.join(WORK, "pace")
    t0, span_ms = paced_archive(d)
    broker = Broker("arch.pace")
    arrivals = Arrivals(broker.bootstrap, "arch.pace")
    try:
        rc, out, err = replay(broker.bootstrap, d, "--pace", "4", "-X", "linger.ms=1")
        assert rc == 0, (out, err)
        for _ in deadline_loop(30, "60 arrivals"):
            if len(arrivals.times) >= 60:
                break
        arrivals.stop()
        got = sorted(arrivals.times)
        assert len(got) == 60
        want_s = span_ms / 1000 / 4
        first = got[0][0]
        span = got[-1][0] - first
        assert abs(span - want_s) <= 0.1 * want_s, (span, want_s)
        for at, _, _, ts in got:
            assert abs((at - first) - (ts - t0) / 1000 / 4) <= 0.1 * want_s, (at - first, ts)
        assert sorted(ts for _, _, _, ts in got) == [t0 + i * span_ms // 59 for i in range(60)]
        m = re.search(r"pace 4x asked, ([\d.]+)x achieved", out)
        assert m and abs(float(m.group(1)) - 4) <= 0.4, out
        msgs = harness.consume_all(broker.bootstrap, "arch.pace")
        assert all(m.key == "k/%d" % m.partition for m in msgs)
        assert all(set(m.headers) == {"h", "nil"} for m in msgs)
    finally:
        broker.stop()


def test_broker_outage_during_replay_loses_nothing():
    d = os.path.join(WORK, "pace")  # written by the pace test: 60 records over 12 s
    if not os.path.isdir(d):
        paced_archive(d)
    broker = Broker("arch.pace")
    try:
        r = Tool([REPLAY, "-b", broker.bootstrap, "-d", d, "--pace", "2"])
        for _ in deadline_loop(30, "the first records"):
            if len(harness.consume_all(broker.bootstrap, "arch.pace")) >= 5:
                break
        broker.down()
        for _ in deadline_loop(60, "the replay to see the outage"):
            if re.search(r"refused|Disconnected|transport|down", r.stderr, re.I):
                break
        broker.up()
        assert r.wait() == 0, (r.out, r.stderr)
        msgs = harness.consume_all(broker.bootstrap, "arch.pace")
        assert sorted(m.timestamp for m in msgs) == [1795625014000 + i * 12000 // 59
                                                      for i in range(60)], len(msgs)
        for p, recs in by_partition(msgs).items():  # in order per partition
            seqs = [KERNEL.decode(v)["seq"] for _, _, _, v in recs]
            assert seqs == sorted(seqs), seqs
    finally:
        broker.stop()


def test_bad_files_reported_and_skipped():
    """A truncated file, one whose last sync marker is damaged, an empty file, a foreign Avro file
    and a non-Avro file: each named on stderr, counted, skipped whole; a file damaged inside a
    block: the records before the damage sent, the rest skipped, reported; the good file is
    replayed; hidden (temporary) and other files are ignored; exit status 1."""
    d = os.path.join(WORK, "badfiles")
    t0, _ = paced_archive(d, n=20, span_ms=1000)
    good = visible_files(d)
    sub = os.path.dirname(good[0])
    with open(good[0], "rb") as f:
        data = f.read()
    bad = {"5-1.avro": data[:len(data) - 40], "6-1.avro": data[:-1] + bytes([data[-1] ^ 0xff]),
           "7-1.avro": b"", "8-1.avro": b"{\"not\": \"avro\"}"}
    for name, content in bad.items():
        with open(os.path.join(sub, name), "wb") as f:
            f.write(content)
    with open(os.path.join(sub, "9-1.avro"), "wb") as f:  # someone else's Avro file
        w = avro.datafile.DataFileWriter(f, avro.io.DatumWriter(), avro.schema.parse('"string"'))
        w.append("hello")
        w.close()
    with open(os.path.join(sub, ".1-0.avro.deadbeef.tmp"), "wb") as f:
        f.write(data[:100])
    with open(os.path.join(d, "README.txt"), "w") as f:
        f.write("notes")
    os.remove(good[1])
    # Damage inside a block (no codec: a key's union branch made 3): found while decoding.
    records = [(5000 + i, t0 + i, b"k/damaged%d" % i, [], kernel_exec(100 + i, (t0 + i) * 1000))
               for i in range(10)]
    damaged = write_archive(d, "arch.pace", 2, records, codec="null")
    with open(damaged, "rb") as f:
        data = f.read()
    at = data.index(b"\x02\x14k/damaged5")
    with open(damaged, "wb") as f:
        f.write(data[:at] + b"\x06" + data[at + 1:])
    broker = Broker("arch.pace")
    try:
        rc, out, err = replay(broker.bootstrap, d)
        assert rc == 1, (rc, out, err)
        for name in list(bad) + ["9-1.avro"]:
            assert re.search(re.escape(name) + r": .*skipped", err), (name, err)
        assert "not a Tapio archive file" in err and "not an Avro Object Container File" in err
        assert re.search(r"2-5000.avro: record 5: .*union branch 3 out of range.*the rest of the "
                         r"file skipped \(5 of its records sent\)", err), err
        assert summary_number(out, r"(\d+) bad \(skipped\)") == 6, out
        assert summary_number(out, r"(\d+) hidden") == 1
        assert summary_number(out, r"(\d+) other") == 1
        assert summary_number(out, r"replayed (\d+) records") == 15, out
        got = harness.consume_all(broker.bootstrap, "arch.pace")
        assert len(got) == 15 and sorted(m.key for m in got if m.partition == 2) == \
            ["k/damaged%d" % i for i in range(5)], got
    finally:
        broker.stop()


def test_filters_and_shifted_timestamps():
    """--topic, --from/--until (event time) and --node select exactly their records; --timestamps
    shift moves every timestamp by one amount, the first to now."""
    d = os.path.join(WORK, "filters")
    t0_us = 1795625014000000  # 2026-11-25T16:43:34Z
    recs = []
    for i in range(30):  # three hours, two nodes
        t = t0_us + i * 400 * 1000000
        recs.append((i, t // 1000, b"node-%d/7" % (i % 2), [],
                     kernel_exec(i + 1, t, "node-%d" % (i % 2))))
    for h in sorted({int(r[4]["event_time"].timestamp()) // 3600 for r in recs}):
        write_archive(d, "arch.filter", 0, [r for r in recs
                                            if int(r[4]["event_time"].timestamp()) // 3600 == h])
    assert len(visible_files(d)) >= 3
    broker = Broker("arch.filter", "other", partitions=1)
    try:
        def sent(*args):
            rc, out, err = replay(broker.bootstrap, d, "--partition", "key",
                                  "--topic-prefix", "x%d." % time.monotonic_ns(), *args)
            assert rc == 0, (out, err)
            return summary_number(out, r"replayed (\d+) records"), out
        assert sent("--topic", "other")[0] == 0
        assert sent("--node", "node-1")[0] == 15
        frm = datetime.datetime.fromtimestamp((t0_us + 10 * 400 * 1000000) / 1e6, UTC)
        n, out = sent("--from", frm.strftime("%Y-%m-%dT%H:%M:%SZ"),
                      "--until", str((t0_us + 20 * 400 * 1000000) // 1000))
        assert n == 10 and summary_number(out, r"(\d+) by time") + summary_number(
            out, r"(\d+) filtered out") >= 1, out
        assert sent("--node", "node-0", "--from", frm.isoformat())[0] == 10
        before = int(time.time() * 1000)
        rc, out, err = replay(broker.bootstrap, d, "--topic-prefix", "shift.", "--partition", "key",
                              "--timestamps", "shift")
        assert rc == 0, (out, err)
        got = sorted(m.timestamp
                     for m in harness.consume_all(broker.bootstrap, "shift.arch.filter"))
        assert len(got) == 30 and before - 1000 <= got[0] <= int(time.time() * 1000) + 1000, got[:2]
        assert [t - got[0] for t in got] == [r[1] - recs[0][1] for r in recs]
    finally:
        broker.stop()


def main():
    harness.require_root()
    for tool in ("avrocat", "javac", "java"):
        if not shutil.which(tool):
            sys.exit("test_archive needs %s (make deps installs it)" % tool)
    only = sys.argv[1:]  # test names, to run some
    try:
        return harness.run_tests([t for t in [
            test_usage_errors,
            test_real_producer_archived_and_read_back,
            test_replay_into_a_second_broker,
            test_confluent_framing_with_a_registry,
            test_undecodable_values_archived_raw_and_replayed_exactly,
            test_sigkill_mid_file_leaves_no_torn_file_and_misses_nothing,
            test_two_archivers_in_one_group_share_a_directory,
            test_broker_outage_during_archiving_loses_nothing,
            test_paced_replay_follows_the_asked_pace,
            test_broker_outage_during_replay_loses_nothing,
            test_bad_files_reported_and_skipped,
            test_filters_and_shifted_timestamps,
        ] if not only or t.__name__ in only])
    finally:
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
