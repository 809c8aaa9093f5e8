#!/usr/bin/python3
"""tapio-tail --check and --schemas.

Records made to order (python3-avro, both framings, a 0.1.0 producer's schema among them) go
through a real Kafka protocol broker (mockbroker) with kcat, with gaps, duplicates, LOSS records,
tombstones and an undecodable value placed on purpose: --check must find exactly those. Then the
real producer: a spool replayed twice (as after a crash between Kafka's acknowledgement and the
spool's) makes every record of a run arrive twice, and --check says so without failing."""
import datetime
import glob
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import uuid

import avro.io
import avro.schema

import harness
from harness import MockBroker, Producer

EPOCH = harness.EPOCH


def zero(schema):
    """A datum of `schema` with every field at its zero: null branches, 0, "", first symbols."""
    t = schema.type
    if t == "record":
        return {f.name: zero(f.type) for f in schema.fields}
    if t == "union":
        return zero(schema.schemas[0])
    if t == "enum":
        return schema.symbols[0]
    if t == "array":
        return []
    if t == "map":
        return {}
    if t == "fixed":
        return b"\0" * schema.size
    if getattr(schema, "logical_type", None) in ("timestamp-micros", "timestamp-millis"):
        return EPOCH
    return {"null": None, "boolean": False, "int": 0, "long": 0, "float": 0.0, "double": 0.0,
            "string": "", "bytes": b""}[t]


class Writer:
    """Encodes records of one schema file, framed as the producer frames them."""

    def __init__(self, path):
        with open(path) as f:
            self.schema = avro.schema.parse(f.read())
        self.fingerprint = harness.crc64_avro(harness.canonical_form(self.schema).encode())
        self.has_run = "run" in self.schema.fields_dict

    def record(self, node, run, seq, loss=None):
        rec = zero(self.schema)
        rec.update(kind="LOSS" if loss else self.schema.fields_dict["kind"].type.symbols[1],
                   event_time=EPOCH + datetime.timedelta(seconds=seq), seq=seq, node=node)
        if self.has_run:
            rec["run"] = run
        if loss:
            rec["loss"] = {"stage": loss[0], "count": loss[1], "since": EPOCH, "until": EPOCH}
        buf = io.BytesIO()
        avro.io.DatumWriter(self.schema).write(rec, avro.io.BinaryEncoder(buf))
        return buf.getvalue()

    def single(self, *args, **kw):
        return b"\xc3\x01" + struct.pack("<Q", self.fingerprint) + self.record(*args, **kw)

    def confluent(self, *args, **kw):
        return b"\x00" + struct.pack(">I", 42) + self.record(*args, **kw)


def produce(bootstrap, topic, messages):
    """Sends (partition, key, value) messages with kcat, one file per message; a None value is a
    tombstone."""
    tmp = tempfile.mkdtemp(prefix="tapio-check-")
    try:
        groups = {}
        for i, (partition, key, value) in enumerate(messages):
            if value is None:  # kcat skips an empty file: an empty line from stdin, with -Z
                subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", topic, "-p", str(partition),
                                "-K", "\t", "-Z"], input=key.encode() + b"\t\n", check=True,
                               timeout=60)
                continue
            path = os.path.join(tmp, "%06d" % i)
            with open(path, "wb") as f:
                f.write(value or b"")
            groups.setdefault((partition, key), []).append(path)
        for (partition, key), paths in groups.items():
            subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", topic, "-p", str(partition),
                            "-k", key, "-Z", *paths], check=True, timeout=60)
    finally:
        shutil.rmtree(tmp)


def spread(node, seqs, make):
    """A stream's records over four partitions, keyed per partition as pods' records would be."""
    return [(s % 4, "%s/pod%d" % (node, s % 4), make(s)) for s in seqs]


def test_records_made_to_order():
    kernel = Writer(os.path.join(harness.REPO, "schemas", "kernel.avsc"))
    kernel_010 = Writer(os.path.join(harness.REPO, "schemas", "released", "0.1.0", "kernel.avsc"))
    dns = Writer(os.path.join(harness.REPO, "schemas", "dns.avsc"))
    assert not kernel_010.has_run and kernel_010.fingerprint != kernel.fingerprint
    r1, r2, r3 = 1700000000000001, 1700000000000002, 1700000000000003
    broker = MockBroker("tapio.kernel", "tapio.dns", "tapio.cni")
    try:
        msgs = []
        # n1/r1: 1..50 without 10..12 and 40; a DELIVERY LOSS record (seq 51) counts those 4;
        # 20 arrives three times (a retried produce, a replayed spool).
        msgs += spread("n1", [s for s in range(1, 51) if s not in (10, 11, 12, 40)] + [20, 20],
                       lambda s: kernel.single("n1", r1, s))
        msgs.append((0, "n1/0", kernel.single("n1", r1, 51, loss=("DELIVERY", 4))))
        # n1/r2: starts at 3; its only LOSS record (seq 21) is of records never numbered.
        msgs += spread("n1", range(3, 21), lambda s: kernel.single("n1", r2, s))
        msgs.append((0, "n1/0", kernel.single("n1", r2, 21, loss=("RING_BUFFER", 7))))
        # n2: a 0.1.0 producer's records (no run field): run 0.
        msgs += spread("n2", range(1, 6), lambda s: kernel_010.single("n2", 0, s))
        # Tombstones carry no seq.
        msgs += [(1, "n1/55", None), (2, "n1/56", None)]
        produce(broker.bootstrap, "tapio.kernel", msgs)
        # tapio.dns in the Confluent framing: complete.
        produce(broker.bootstrap, "tapio.dns", spread("n3", range(1, 11),
                                                      lambda s: dns.confluent("n3", r3, s)))
        # tapio.cni: one complete stream and a value no schema decodes.
        cni = Writer(os.path.join(harness.REPO, "schemas", "cni.avsc"))
        produce(broker.bootstrap, "tapio.cni", [(0, "n4/1", cni.single("n4", r1, 1)),
                                                (1, "n4/2", b"\xc3\x01" + b"\x11" * 8 + b"x")])

        rc, streams, topics, summary, err = harness.check(broker.bootstrap, "tapio.kernel",
                                                          "tapio.dns")
        assert rc == 1, (rc, err)
        assert set(streams) == {("tapio.kernel", "n1", r1), ("tapio.kernel", "n1", r2),
                                ("tapio.kernel", "n2", 0), ("tapio.dns", "n3", r3)}, streams
        s = streams[("tapio.kernel", "n1", r1)]
        assert (s["records"], s["distinct"], s["first_seq"], s["last_seq"]) == (49, 47, 1, 51), s
        assert (s["missing"], s["missing_ranges"]) == (4, [[10, 12], [40, 40]]), s
        assert (s["duplicates"], s["duplicate_ranges"]) == (2, [[20, 20]]), s
        assert (s["loss_records"], s["loss"], s["accounted"], s["unaccounted"], s["ok"]) == \
            (1, {"DELIVERY": 4}, 4, 0, True), s
        s = streams[("tapio.kernel", "n1", r2)]
        assert (s["distinct"], s["missing_ranges"], s["duplicates"]) == (19, [[1, 2]], 0), s
        assert (s["loss"], s["accounted"], s["unaccounted"], s["ok"]) == \
            ({"RING_BUFFER": 7}, 0, 2, False), s
        s = streams[("tapio.kernel", "n2", 0)]
        assert (s["distinct"], s["missing"], s["ok"]) == (5, 0, True), s
        s = streams[("tapio.dns", "n3", r3)]
        assert (s["distinct"], s["missing"], s["duplicates"], s["ok"]) == (10, 0, 0, True), s
        t = topics["tapio.kernel"]
        assert (t["streams"], t["tombstones"], t["undecodable"], t["ok"]) == (3, 2, 0, False), t
        assert topics["tapio.dns"]["ok"], topics
        assert (summary["streams"], summary["records"], summary["distinct"], summary["missing"],
                summary["unaccounted"], summary["duplicates"], summary["ok"]) == \
            (4, 83, 81, 6, 2, 2, False), summary

        # The same in text, for people.
        proc = subprocess.run([harness.TAIL, "-b", broker.bootstrap, "--check", "--timeout-ms",
                               "60000", "tapio.kernel"], capture_output=True, timeout=120)
        out = proc.stdout.decode()
        assert proc.returncode == 1, out
        assert "  missing 2: 1-2\n  LOSS records 1, counting RING_BUFFER 7\n  FAILED: 2 missing " \
               "records no LOSS record accounts for (DELIVERY and SPOOL_EVICTED count 0)\n" in out, out
        assert "  missing 4: 10-12, 40\n  duplicates 2 (of 1 seq): 20\n" in out, out
        assert out.endswith("check: FAILED: 1 topic, 3 streams, 71 records; 6 missing, 4 of "
                            "them accounted for by DELIVERY and SPOOL_EVICTED LOSS records; "
                            "2 duplicates\n"), out

        # A complete topic passes.
        rc, streams, _, summary, err = harness.check(broker.bootstrap, "tapio.dns")
        assert rc == 0 and summary["ok"] and len(streams) == 1, (rc, summary, err)
        # A value nothing decodes fails the check, and says where it is.
        rc, streams, topics, summary, err = harness.check(broker.bootstrap, "tapio.cni")
        assert rc == 1 and topics["tapio.cni"]["undecodable"] == 1, (rc, topics, err)
        assert streams[("tapio.cni", "n4", r1)]["ok"], streams
        assert "tapio.cni [1] offset 0: cannot decode: unknown schema fingerprint " \
            "1111111111111111" in err, err
        # A topic that does not exist is an error, not a wait.
        rc, _, _, summary, err = harness.check(broker.bootstrap, "tapio.dns", "tapio.nosuch")
        assert rc == 1 and summary is None, (rc, summary)
        assert "topic tapio.nosuch does not exist" in err, err
    finally:
        broker.stop()
    # No broker answers: --timeout-ms ends the wait.
    rc, _, _, summary, err = harness.check("127.0.0.1:1", "tapio.kernel", timeout_ms=1500)
    assert rc == 1 and summary is None and "--check: timeout after 1500 ms" in err, (rc, err)


def test_schemas():
    """--schemas lists every schema of the tree, current and released, with the fingerprint an
    independent implementation (python3-avro's canonical form, CRC-64-AVRO here) computes."""
    proc = subprocess.run([harness.TAIL, "--schemas", "--json"], capture_output=True, check=True)
    lines = [json.loads(l) for l in proc.stdout.decode().splitlines()]
    want = {(os.path.basename(p)[:-5], None) for p in glob.glob(os.path.join(
        harness.REPO, "schemas", "*.avsc"))}
    want |= {(os.path.basename(p)[:-5], os.path.basename(os.path.dirname(p))) for p in glob.glob(
        os.path.join(harness.REPO, "schemas", "released", "*", "*.avsc"))}
    assert {(l["name"], l["release"]) for l in lines} == want, lines
    assert len(lines) == len(want), lines
    assert [l["current"] for l in lines] == sorted((l["current"] for l in lines), reverse=True)
    for l in lines:
        schema = avro.schema.parse(json.dumps(l["schema"]))
        fp = harness.crc64_avro(harness.canonical_form(schema).encode())
        assert l["fingerprint"] == "%016x" % fp, (l["name"], l["release"], l["fingerprint"])
        src = os.path.join(harness.REPO, "schemas", "released", l["release"], l["name"] + ".avsc") \
            if l["release"] else os.path.join(harness.REPO, "schemas", l["name"] + ".avsc")
        with open(src) as f:
            assert json.load(f) == l["schema"], src
    text = subprocess.run([harness.TAIL, "--schemas"], capture_output=True, check=True)
    rows = [r.split() for r in text.stdout.decode().splitlines() if not r.startswith("#")]
    assert sorted(tuple(r) for r in rows) == \
        sorted((l["name"], l["release"] or "current", l["fingerprint"]) for l in lines), rows


def spool_holds(spool_dir, marker):
    for path in glob.glob(os.path.join(spool_dir, "*.spool")):
        with open(path, "rb") as f:
            if marker.encode() in f.read():
                return True
    return False


def marker_execs(bootstrap, marker):
    recs = [harness.Schema("kernel").decode(m.value) for m in harness.consume_all(bootstrap,
                                                                                 "tapio.kernel")]
    return [r for r in recs if r and r["kind"] == "EXEC" and marker in r["exec"]["args"]]


def test_spool_replayed_twice():
    """A run spooled whole (no broker), delivered by the next start, then its spool put back as a
    crash between Kafka's acknowledgement and the spool's would leave it: the start after that
    sends every record of the first run again. --check: that run complete, each of its records
    twice; the two runs that delivered it complete; nothing fails."""
    harness.require_root()
    spool_dir = tempfile.mkdtemp(prefix="tapio-check-spool-")
    saved = spool_dir + ".saved"
    marker = "tapio-check-" + uuid.uuid4().hex
    node = "itest-check-" + uuid.uuid4().hex[:8]
    broker = MockBroker("tapio.kernel")
    common = ["--collectors", "kernel", "--set", "spool_dir=" + spool_dir,
              "--set", "flush_timeout_ms=1000", "--set", "stats_interval_s=0"]
    try:
        first = Producer(*common, "--brokers", "127.0.0.1:1", "--set", "kafka.log_level=0",
                         node=node)
        try:
            assert harness.wait_for_log(first, "spooling them to " + spool_dir), first.logs()
            subprocess.run(["/bin/sh", "-c", "exit 0", marker], check=True)
            deadline = harness.time.monotonic() + 30
            while not spool_holds(spool_dir, marker) and harness.time.monotonic() < deadline:
                harness.time.sleep(0.1)
            assert spool_holds(spool_dir, marker), os.listdir(spool_dir)
        finally:
            # Nothing reached Kafka: all of it, librdkafka's queue too, goes to the spool.
            assert first.stop() == 0, first.logs()
        shutil.copytree(spool_dir, saved)

        for attempt in (1, 2):
            p = Producer(*common, "--brokers", broker.bootstrap, node=node)
            try:
                deadline = harness.time.monotonic() + 30
                while len(marker_execs(broker.bootstrap, marker)) < attempt and \
                        harness.time.monotonic() < deadline:
                    harness.time.sleep(0.2)
            finally:
                assert p.stop() == 0, p.logs()
            assert "all records delivered" in p.logs(), p.logs()
            assert len(marker_execs(broker.bootstrap, marker)) == attempt
            if attempt == 1:
                shutil.rmtree(spool_dir)
                shutil.copytree(saved, spool_dir)

        rc, streams, _, summary, err = harness.check(broker.bootstrap, "tapio.kernel")
        assert rc == 0 and summary["ok"], (rc, summary, err)
        runs = sorted(k[2] for k in streams if k[1] == node)
        assert len(runs) == 3, streams.keys()
        first_run = streams[("tapio.kernel", node, runs[0])]
        assert first_run["missing"] == 0 and first_run["first_seq"] == 1, first_run
        # Every record of the first run came twice: one range of duplicates, all of them.
        assert first_run["duplicates"] == first_run["distinct"] > 0, first_run
        assert first_run["duplicate_ranges"] == [[1, first_run["last_seq"]]], first_run
        for run in runs[1:]:
            s = streams[("tapio.kernel", node, run)]
            assert s["missing"] == 0 and s["duplicates"] == 0 and s["first_seq"] == 1, s
    finally:
        broker.stop()
        shutil.rmtree(spool_dir, ignore_errors=True)
        shutil.rmtree(saved, ignore_errors=True)


def main():
    tests = [test_records_made_to_order, test_schemas]
    if os.geteuid() == 0:
        tests.append(test_spool_replayed_twice)
    return harness.run_tests(tests)


if __name__ == "__main__":
    sys.exit(main())
