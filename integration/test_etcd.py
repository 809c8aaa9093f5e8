#!/usr/bin/python3
"""Collector `etcd` against a real etcd (Debian's etcd-server 3.4), started here on loopback with
a temporary data directory, plain and with TLS and client-certificate authentication
(certificates made with openssl). Writes are made with etcdctl; the records found in tapio.etcd
(kcat, python3-avro) are checked exactly, and against etcd's own history (etcdctl watch --rev).
Every producer runs with a temporary state_dir, so checkpoints are real."""
import base64
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid

import harness
from harness import Producer, Schema

ETCD = Schema("etcd")
KERNEL = Schema("kernel")
TOPIC = "tapio.etcd"
# Progress notifications every second: a quiet prefix still moves the checkpoint on. The
# producer's idle timeout must stay above twice this.
PROGRESS = "1s"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond, what, deadline_s=30):
    """Polls cond() until it returns something true; its value, or AssertionError naming what."""
    deadline = time.monotonic() + deadline_s
    while True:
        value = cond()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.1)


class Certs:
    """A CA, a server certificate for 127.0.0.1 (serverAuth and clientAuth: etcd's JSON gateway
    connects to etcd's own gRPC server with it), a client certificate, and an unrelated CA."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tapio-etcd-pki-")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for ca in ("ca", "other-ca"):
            self.openssl("req", "-x509", *ec, "-keyout", ca + ".key", "-out", ca + ".pem",
                         "-days", "2", "-subj", "/CN=tapio-test-" + ca,
                         "-addext", "basicConstraints=critical,CA:TRUE",
                         "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        self.issue("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                   "extendedKeyUsage=serverAuth,clientAuth\n")
        self.issue("client", "extendedKeyUsage=clientAuth\n")

    def openssl(self, *args):
        subprocess.run(["openssl", *args], cwd=self.dir, check=True, capture_output=True)

    def issue(self, name, ext):
        with open(os.path.join(self.dir, name + ".ext"), "w") as f:
            f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n" + ext)
        self.openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                     "-nodes", "-keyout", name + ".key", "-out", name + ".csr",
                     "-subj", "/CN=tapio-test-" + name)
        self.openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                     "-CAcreateserial", "-days", "2", "-extfile", name + ".ext",
                     "-out", name + ".pem")

    def path(self, name):
        return os.path.join(self.dir, name)

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class Etcd:
    """One etcd member on loopback ports, its data in a temporary directory."""

    def __init__(self, certs=None, extra=()):
        self.dir = tempfile.mkdtemp(prefix="tapio-etcd-")
        self.certs = certs
        self.extra = list(extra)
        self.client_port, self.peer_port = free_port(), free_port()
        scheme = "https" if certs else "http"
        self.url = "%s://127.0.0.1:%d" % (scheme, self.client_port)
        self.proc = None
        self.start()

    def start(self):
        peer = "http://127.0.0.1:%d" % self.peer_port
        args = ["etcd", "--name", "tapio-itest", "--data-dir", os.path.join(self.dir, "data"),
                "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", "tapio-itest=" + peer,
                "--experimental-watch-progress-notify-interval", PROGRESS, *self.extra]
        if self.certs:
            args += ["--cert-file", self.certs.path("server.pem"),
                     "--key-file", self.certs.path("server.key"),
                     "--trusted-ca-file", self.certs.path("ca.pem"), "--client-cert-auth"]
        self.log = open(os.path.join(self.dir, "etcd.log"), "a")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log)
        wait_until(self.healthy, "etcd to start")

    def healthy(self):
        assert self.proc.poll() is None, "etcd exited: " + self.logs()[-2000:]
        return subprocess.run(self.ctl_args("endpoint", "health"), capture_output=True,
                              env=self.env()).returncode == 0

    def logs(self):
        with open(os.path.join(self.dir, "etcd.log")) as f:
            return f.read()

    def env(self):
        return dict(os.environ, ETCDCTL_API="3")

    def ctl_args(self, *args):
        tls = []
        if self.certs:
            tls = ["--cacert", self.certs.path("ca.pem"), "--cert",
                   self.certs.path("client.pem"), "--key", self.certs.path("client.key")]
        return ["etcdctl", "--endpoints", self.url, "--command-timeout", "20s", *tls, *args]

    def ctl(self, *args, stdin=None):
        out = subprocess.run(self.ctl_args(*args), capture_output=True, input=stdin,
                             env=self.env(), timeout=60)
        assert out.returncode == 0, "etcdctl %s: %s" % (" ".join(args), out.stderr.decode())
        return out.stdout.decode()

    def ctl_json(self, *args, stdin=None):
        return json.loads(self.ctl("-w", "json", *args, stdin=stdin))

    def put(self, key, value, *flags):
        """The revision of the put."""
        return self.ctl_json("put", key, value, *flags)["header"]["revision"]

    def delete(self, key):
        return self.ctl_json("del", key)["header"]["revision"]

    def txn(self, ops):
        """etcdctl txn: no compares, ops as success, no failure ops; its revision."""
        text = "\n" + "\n".join(ops) + "\n\n\n"
        return self.ctl_json("txn", stdin=text.encode())["header"]["revision"]

    def status(self):
        return self.ctl_json("endpoint", "status")[0]["Status"]["header"]

    def history(self, first, last, prefix="/registry/"):
        """Every event of etcd's own history from revision first to last under prefix, as
        (revision, key, kind) in order, read with etcdctl watch --rev."""
        proc = subprocess.Popen(self.ctl_args("watch", "--rev=%d" % first, "--prefix", prefix,
                                              "-w", "json"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env())
        events, deadline = [], time.monotonic() + 60
        try:
            while not events or events[-1][0] < last:
                assert time.monotonic() < deadline, "etcdctl watch stopped at %r" % events[-1:]
                ready, _, _ = select.select([proc.stdout], [], [], 1)
                if not ready:
                    continue
                line = proc.stdout.readline()
                assert line, "etcdctl watch ended: " + proc.stderr.read().decode()
                resp = json.loads(line)
                for ev in resp.get("Events") or []:
                    kv = ev["kv"]
                    events.append((kv["mod_revision"], base64.b64decode(kv["key"]).decode(),
                                   "DELETE" if ev.get("type") == 1 else "PUT"))
        finally:
            proc.kill()
            proc.wait()
        return [e for e in events if e[0] <= last]

    def kill(self, sig=signal.SIGKILL):
        self.proc.send_signal(sig)
        self.proc.wait()
        self.log.close()

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def hex_id(n):
    return "%x" % n


class Run:
    """A producer running the etcd collector against etcd, with a state_dir of its own."""

    def __init__(self, etcd, state_dir, *args, collectors="etcd"):
        settings = ["etcd_endpoints=" + etcd.url, "state_dir=" + state_dir]
        if etcd.certs:
            settings += ["etcd_ca_file=" + etcd.certs.path("ca.pem"),
                         "etcd_cert_file=" + etcd.certs.path("client.pem"),
                         "etcd_key_file=" + etcd.certs.path("client.key")]
        argv = ["--collectors", collectors]
        for s in settings:
            argv += ["--set", s]
        self.p = Producer(*argv, *args)

    def records(self):
        """Every decoded record of tapio.etcd so far, with its Kafka key, in seq order."""
        recs = [(m.key, r) for m in harness.consume_all(self.p.bootstrap, TOPIC)
                for r in [ETCD.decode(m.value)] if r]
        return sorted(recs, key=lambda kr: kr[1]["seq"])

    def wait_records(self, cond, what, deadline_s=30):
        return wait_until(lambda: (lambda rs: rs if cond(rs) else None)(self.records()), what,
                          deadline_s)

    def metrics(self):
        with urllib.request.urlopen("http://%s/metrics" % self.p.metrics, timeout=10) as r:
            return r.read().decode()

    def metric(self, name):
        for line in self.metrics().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        raise AssertionError("no %s on /metrics" % name)

    def stop(self):
        rc = self.p.stop()
        assert rc == 0, "producer exited %d: %s" % (rc, self.p.logs()[-3000:])


def checkpoint(state_dir):
    """The position of the etcd checkpoint, or None."""
    try:
        with open(os.path.join(state_dir, "etcd.watch.checkpoint"), "rb") as f:
            for line in f.read().split(b"\n"):
                if line.startswith(b"position "):
                    return int(line.split()[1])
    except FileNotFoundError:
        return None
    return None


def record_fields(r):
    """The fields a test states, from a decoded record."""
    keys = ("kind", "revision", "key", "created", "create_revision", "version", "lease",
            "value_size", "api_group", "resource", "namespace", "name", "compacted")
    return {k: r[k] for k in keys}


def expect(kind, revision, key, *, created=False, create_revision=None, version=None,
           lease=None, value_size=None, api_group=None, resource=None, namespace=None,
           name=None, compacted=None):
    return dict(kind=kind, revision=revision, key=key, created=created,
                create_revision=create_revision, version=version, lease=lease,
                value_size=value_size, api_group=api_group, resource=resource,
                namespace=namespace, name=name, compacted=compacted)


def test_records_exactly():
    """Puts, a delete, a transaction, a key under a lease that expires; a key outside the prefix
    and an excluded one: exact records, keyed by the etcd key, and the checkpoint moved on by
    progress notifications. A Secret's value appears nowhere."""
    etcd = Etcd()
    state = tempfile.mkdtemp(prefix="tapio-etcd-state-")
    marker = "tapio-secret-marker-" + uuid.uuid4().hex
    run = None
    try:
        run = Run(etcd, state, "--set", "etcd_exclude_prefixes=/registry/events/")
        assert harness.wait_for_log(run.p, "etcd: watching /registry/"), run.p.logs()
        want = []
        r = etcd.put("/registry/pods/default/web-0", "hello world")
        want.append(expect("PUT", r, "/registry/pods/default/web-0", created=True,
                           create_revision=r, version=1, value_size=11, resource="pods",
                           namespace="default", name="web-0"))
        r2 = etcd.put("/registry/pods/default/web-0", "hello again!")
        want.append(expect("PUT", r2, "/registry/pods/default/web-0", create_revision=r,
                           version=2, value_size=12, resource="pods", namespace="default",
                           name="web-0"))
        r3 = etcd.delete("/registry/pods/default/web-0")
        want.append(expect("DELETE", r3, "/registry/pods/default/web-0", resource="pods",
                           namespace="default", name="web-0"))
        r4 = etcd.txn(["put /registry/configmaps/kube-system/a 1",
                       "put /registry/apiregistration.k8s.io/apiservices/v1.apps {}",
                       "put /registry/minions/node-1 n"])
        want.append(expect("PUT", r4, "/registry/configmaps/kube-system/a", created=True,
                           create_revision=r4, version=1, value_size=1, resource="configmaps",
                           namespace="kube-system", name="a"))
        want.append(expect("PUT", r4, "/registry/apiregistration.k8s.io/apiservices/v1.apps",
                           created=True, create_revision=r4, version=1, value_size=2,
                           api_group="apiregistration.k8s.io", resource="apiservices",
                           name="v1.apps"))
        want.append(expect("PUT", r4, "/registry/minions/node-1", created=True,
                           create_revision=r4, version=1, value_size=1, resource="nodes",
                           name="node-1"))
        lease = int(etcd.ctl_json("lease", "grant", "2")["ID"])
        etcd.put("/registry/events/default/e.1", "excluded")
        r5 = etcd.put("/registry/leases/kube-node-lease/node-1", "x", "--lease=%x" % lease)
        want.append(expect("PUT", r5, "/registry/leases/kube-node-lease/node-1", created=True,
                           create_revision=r5, version=1, lease=lease, value_size=1,
                           resource="leases", namespace="kube-node-lease", name="node-1"))
        r6 = etcd.put("/registry/secrets/default/x", marker)
        want.append(expect("PUT", r6, "/registry/secrets/default/x", created=True,
                           create_revision=r6, version=1, value_size=len(marker),
                           resource="secrets", namespace="default", name="x"))
        # The lease expires (etcd's shortest TTL is about 2 s): a DELETE at the next revision.
        want.append(expect("DELETE", r6 + 1, "/registry/leases/kube-node-lease/node-1",
                           resource="leases", namespace="kube-node-lease", name="node-1"))
        got = run.wait_records(lambda rs: len(rs) >= len(want), "%d records" % len(want))
        header = etcd.status()
        for (key, rec), w in zip(got, want):
            assert record_fields(rec) == w, "\n got %s\nwant %s" % (record_fields(rec), w)
            assert key == w["key"], key
            assert rec["cluster_id"] == hex_id(header["cluster_id"]), rec
            assert rec["member_id"] == hex_id(header["member_id"]), rec
            assert rec["raft_term"] == header["raft_term"], rec
            assert rec["node"] == "itest-node" and rec["cgroup_id"] == 0, rec
            assert rec["pod_uid"] is None and rec["key_truncated"] is False, rec
        assert len(got) == len(want), got[len(want):]
        assert [r["seq"] for _, r in got] == list(range(1, len(want) + 1))
        # Outside the prefix: no record, but progress notifications carry the checkpoint to it.
        outside = etcd.put("/other/key", "v")
        wait_until(lambda: checkpoint(state) == outside, "the checkpoint at %d" % outside)
        assert run.metric('tapio_etcd_events_total{outcome="excluded"}') == 1
        assert run.metric('tapio_etcd_events_total{outcome="published"}') == len(want)
        assert run.metric("tapio_etcd_progress_notifications_total") > 0
        assert len(run.records()) == len(want)

        # The Secret's value: in no record of any topic, not in the log, not on /metrics.
        needles = [marker.encode(), base64.b64encode(marker.encode())]
        listing = json.loads(subprocess.run(["kcat", "-L", "-J", "-b", run.p.bootstrap],
                                            check=True, capture_output=True).stdout)
        topics = [t["topic"] for t in listing["topics"]]
        assert TOPIC in topics, topics
        for topic in topics:
            for m in harness.consume_all(run.p.bootstrap, topic):
                for n in needles:
                    assert n not in (m.value or b"") and n not in m.key.encode(), topic
        metrics = run.metrics()
        p, run = run.p, None
        assert p.stop() == 0
        log = p.logs()
        for n in needles:
            assert n.decode() not in log and n.decode() not in metrics
        assert "etcd: cluster " in log
    finally:
        if run:
            run.p.stop()
        etcd.close()
        shutil.rmtree(state, ignore_errors=True)


def test_restart_resumes_and_compaction_is_published():
    """Producer stopped, writes made, producer started: exactly those writes. Stopped again,
    writes, a compaction: COMPACTED with the exact range lost, then the later writes."""
    etcd = Etcd()
    state = tempfile.mkdtemp(prefix="tapio-etcd-state-")
    try:
        run = Run(etcd, state)
        assert harness.wait_for_log(run.p, "etcd: watching"), run.p.logs()
        r0 = etcd.put("/registry/pods/default/a", "0")
        run.wait_records(lambda rs: len(rs) == 1, "the first record")
        run.stop()
        assert checkpoint(state) == r0, checkpoint(state)

        r1 = etcd.put("/registry/pods/default/a", "1")
        run = Run(etcd, state)
        got = run.wait_records(lambda rs: len(rs) >= 1, "the record made while stopped")
        assert [(r["kind"], r["revision"], r["version"]) for _, r in got] == [("PUT", r1, 2)]
        assert "resuming after the checkpoint" in run.p.logs()
        run.stop()
        assert checkpoint(state) == r1

        w = [etcd.put("/registry/pods/default/a", str(i)) for i in (2, 3, 4)]
        assert w == [r1 + 1, r1 + 2, r1 + 3]
        etcd.ctl("compact", str(w[2]))  # revisions before w[2] are gone
        r5 = etcd.put("/registry/pods/default/a", "5")
        run = Run(etcd, state)
        got = run.wait_records(lambda rs: len(rs) >= 3, "COMPACTED and two records")
        recs = [r for _, r in got]
        assert recs[0]["kind"] == "COMPACTED", recs[0]
        assert recs[0]["compacted"] == {"first_revision": r1 + 1, "last_revision": w[2] - 1}
        assert recs[0]["revision"] == w[2] and recs[0]["key"] is None, recs[0]
        assert got[0][0] == "/registry/"
        assert [(r["kind"], r["revision"], r["version"]) for r in recs[1:]] == \
            [("PUT", w[2], 5), ("PUT", r5, 6)], recs
        wait_until(lambda: checkpoint(state) == r5, "the checkpoint at %d" % r5)
        assert run.metric("tapio_etcd_compacted_revisions_total") == w[2] - r1 - 1
        assert len(run.records()) == 3
        assert "were compacted before they could be read" in run.p.logs()
        run.stop()
    finally:
        etcd.close()
        shutil.rmtree(state, ignore_errors=True)


def test_fragmented_catch_up():
    """A catch-up larger than etcd's response limit comes in fragments, one cut inside a
    transaction's revision: every event arrives once, the checkpoint ends on that revision."""
    etcd = Etcd(extra=["--max-request-bytes", "65536"])
    state = tempfile.mkdtemp(prefix="tapio-etcd-state-")
    try:
        run = Run(etcd, state)
        assert harness.wait_for_log(run.p, "etcd: watching"), run.p.logs()
        etcd.put("/registry/x/start", "s")
        run.wait_records(lambda rs: len(rs) == 1, "the first record")
        run.stop()
        first = etcd.put("/registry/big/0", "c" * 40000)
        for i in range(1, 14):
            etcd.put("/registry/big/%d" % i, "c" * 40000)
        txn = etcd.txn(["put /registry/small/%d %s" % (i, "b" * 1000) for i in range(50)])
        run = Run(etcd, state)
        got = run.wait_records(lambda rs: len(rs) >= 64, "64 records")
        pairs = [(r["revision"], r["key"]) for _, r in got]
        assert pairs == [(r, k) for r, k, _ in etcd.history(first, txn)], pairs
        assert len(set(pairs)) == 64, pairs
        assert [p[0] for p in pairs[14:]] == [txn] * 50
        assert all(r["value_size"] == 1000 for _, r in got[14:])
        wait_until(lambda: checkpoint(state) == txn, "the checkpoint at %d" % txn)
        assert run.metric('tapio_etcd_events_total{outcome="duplicate"}') == 0
        run.stop()
    finally:
        etcd.close()
        shutil.rmtree(state, ignore_errors=True)


class Writer(threading.Thread):
    """Puts through etcd's JSON gateway as fast as one connection goes, retrying on failure."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.url, self.done, self.stop_now = url, 0, False

    def run(self):
        i = 0
        while not self.stop_now:
            body = json.dumps({"key": base64.b64encode(b"/registry/load/%d" % i).decode(),
                               "value": base64.b64encode(b"v%d" % i).decode()}).encode()
            try:
                urllib.request.urlopen(self.url + "/v3/kv/put", body, timeout=5).read()
                self.done += 1
                i += 1
            except OSError:
                time.sleep(0.05)


def test_etcd_killed_and_restarted():
    """etcd SIGKILLed under a stream of writes and started again: the watch resumes; every
    mutation of etcd's own history is published once, (cluster_id, revision) unique."""
    etcd = Etcd()
    state = tempfile.mkdtemp(prefix="tapio-etcd-state-")
    writer = None
    try:
        run = Run(etcd, state)
        assert harness.wait_for_log(run.p, "etcd: watching"), run.p.logs()
        first = etcd.put("/registry/load/start", "s")
        writer = Writer(etcd.url)
        writer.start()
        wait_until(lambda: writer.done >= 200, "200 writes")
        etcd.kill(signal.SIGKILL)
        assert harness.wait_for_log(run.p, "etcd: %s: unreachable, or the connection was lost"
                                    % etcd.url), run.p.logs()
        etcd.start()
        done = writer.done
        wait_until(lambda: writer.done >= done + 200, "200 more writes")
        writer.stop_now = True
        writer.join()
        last = etcd.status()["revision"]
        history = etcd.history(first, last, "/registry/")
        assert len(history) >= 401
        got = run.wait_records(lambda rs: len(rs) >= len(history),
                               "%d records" % len(history), 60)
        ids = [(r["cluster_id"], r["revision"]) for _, r in got]
        assert len(ids) == len(set(ids)), "a revision published twice"
        assert [(r["revision"], r["key"], r["kind"]) for _, r in got] == history
        logs = run.p.logs()
        assert logs.count("etcd: watching /registry/") >= 2, logs
        run.stop()
    finally:
        if writer:
            writer.stop_now = True
        etcd.close()
        shutil.rmtree(state, ignore_errors=True)


def test_tls_and_refusals():
    """TLS with client-certificate auth: records. Without a client certificate, and with the
    wrong CA, the collector says the TLS failure and keeps retrying while the kernel collector
    runs on. Failover from an unreachable endpoint to a working one. A configured file missing:
    exit status 2. No gateway: said so."""
    certs = Certs()
    etcd = Etcd(certs=certs)
    state = tempfile.mkdtemp(prefix="tapio-etcd-state-")
    try:
        dead = "https://127.0.0.1:%d" % free_port()
        run = Run(etcd, state, "--set", "etcd_endpoints=%s,%s" % (dead, etcd.url))
        assert harness.wait_for_log(run.p, "etcd: watching"), run.p.logs()
        r = etcd.put("/registry/namespaces/tls", "x")
        got = run.wait_records(lambda rs: len(rs) >= 1, "a record over TLS")
        assert [(x["kind"], x["revision"], x["name"]) for _, x in got] == [("PUT", r, "tls")]
        assert "etcd: %s: unreachable" % dead in run.p.logs(), run.p.logs()
        run.stop()

        run = Run(etcd, state, "--set", "etcd_cert_file=", "--set", "etcd_key_file=")
        assert harness.wait_for_log(run.p, "etcd: %s: TLS failed: etcd asks for a client "
                                    "certificate and none is configured" % etcd.url), run.p.logs()
        run.stop()

        run = Run(etcd, state, "--set", "etcd_ca_file=" + certs.path("other-ca.pem"),
                  collectors="kernel,etcd")
        assert harness.wait_for_log(run.p, "etcd: %s: TLS failed: etcd's server certificate "
                                    "is not trusted" % etcd.url), run.p.logs()
        assert "kernel: running" in run.p.logs()
        tag = uuid.uuid4().hex
        subprocess.run(["/bin/echo", tag], check=True, capture_output=True)
        found, _ = harness.wait_for(run.p.bootstrap, "tapio.kernel", KERNEL,
                                    lambda x: x["kind"] == "EXEC" and x["exec"] and
                                    tag in x["exec"]["args"], 1)
        assert found, "the kernel collector published nothing"
        assert run.records() == []
        run.stop()
    finally:
        etcd.close()
        certs.close()
        shutil.rmtree(state, ignore_errors=True)

    # Asked for by name with a configured file missing: start-up fails, exit status 2, the file
    # named.
    missing = "/nonexistent/tapio-etcd-ca.pem"
    out = subprocess.run([harness.PRODUCER, "--node-name", "itest-node", "--collectors", "etcd",
                          "--set", "metrics_listen=127.0.0.1:0", "--set",
                          "etcd_ca_file=" + missing], capture_output=True, timeout=60)
    assert out.returncode == 2, (out.returncode, out.stderr.decode()[-2000:])
    assert ("etcd: etcd_ca_file %s: No such file or directory" % missing) in out.stderr.decode()

    etcd = Etcd(extra=["--enable-grpc-gateway=false"])
    state = tempfile.mkdtemp(prefix="tapio-etcd-state-")
    try:
        run = Run(etcd, state)
        assert harness.wait_for_log(run.p, "etcd: %s: no JSON gateway there" % etcd.url), \
            run.p.logs()
        run.stop()
    finally:
        etcd.close()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    harness.require_root()
    if not shutil.which("etcd") or not shutil.which("etcdctl"):
        raise SystemExit("integration/test_etcd.py needs etcd and etcdctl (make deps)")
    tests = [
        test_records_exactly,
        test_restart_resumes_and_compaction_is_published,
        test_fragmented_catch_up,
        test_etcd_killed_and_restarted,
        test_tls_and_refusals,
    ]
    # Names on the command line run those tests alone.
    raise SystemExit(harness.run_tests([t for t in tests if not sys.argv[1:] or
                                        t.__name__ in sys.argv[1:]]))
