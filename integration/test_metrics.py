#!/usr/bin/python3
"""/metrics scraped by a real Prometheus server (Debian's prometheus), /healthz and /readyz."""
import errno
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import harness
from harness import Producer

producer = None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_health_and_readiness():
    status, body = get("http://%s/healthz" % producer.metrics)
    assert status == 200 and body == "ok\n", (status, body)
    # Ready once librdkafka has reported a reachable broker (statistics every 5 s): wait on it.
    deadline = time.monotonic() + 30
    status, body = get("http://%s/readyz" % producer.metrics)
    while status != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
        status, body = get("http://%s/readyz" % producer.metrics)
    assert status == 200 and body == "ready\n", (status, body)
    status, _ = get("http://%s/nope" % producer.metrics)
    assert status == 404


def test_prometheus_scrapes_it():
    if not shutil.which("prometheus"):
        raise AssertionError("prometheus is not installed (make deps installs it)")
    work = tempfile.mkdtemp(prefix="tapio-prom-")
    port = free_port()
    with open(os.path.join(work, "prometheus.yml"), "w") as f:
        f.write("global:\n  scrape_interval: 1s\nscrape_configs:\n"
                "  - job_name: tapio\n    static_configs:\n      - targets: ['%s']\n" % producer.metrics)
    prom = subprocess.Popen(
        ["prometheus", "--config.file=" + os.path.join(work, "prometheus.yml"),
         "--storage.tsdb.path=" + os.path.join(work, "data"),
         "--web.listen-address=127.0.0.1:%d" % port],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "prometheus.log"), "w"))
    try:
        # Make events while Prometheus starts, then wait until it has scraped them.
        subprocess.run(["/bin/true"], check=True)
        query = 'tapio_records_delivered_total{collector="kernel"}'
        url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (port, urllib.parse.quote(query))
        deadline = time.monotonic() + 90
        result = []
        while time.monotonic() < deadline:
            try:
                status, body = get(url)
            except (urllib.error.URLError, ConnectionError):
                status, body = 0, ""
            if status == 200:
                result = json.loads(body)["data"]["result"]
                if result and float(result[0]["value"][1]) > 0:
                    break
            time.sleep(0.5)
        assert result and float(result[0]["value"][1]) > 0, (result, open(os.path.join(work, "prometheus.log")).read()[-2000:])
        status, body = get("http://127.0.0.1:%d/api/v1/query?query=%s" % (port, urllib.parse.quote('up{job="tapio"}')))
        assert json.loads(body)["data"]["result"][0]["value"][1] == "1", body
    finally:
        prom.terminate()
        prom.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def _closed_by_server(sock):
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_probes_survive_idle_clients():
    """Issue 15, item 2: a client holding every slot with idle connections, and reopening each
    one the server closes, made 0 of 50 probes succeed. Every probe must be answered."""
    host, port = producer.metrics.rsplit(":", 1)
    addr = (host, int(port))
    idle = [socket.create_connection(addr) for _ in range(8)]
    answered, reopened = 0, 0
    try:
        for _ in range(50):
            for i, sock in enumerate(idle):
                if _closed_by_server(sock):
                    sock.close()
                    idle[i] = socket.create_connection(addr)
                    reopened += 1
            try:
                status, body = get("http://%s/healthz" % producer.metrics)
                answered += status == 200 and body == "ok\n"
            except (OSError, http.client.HTTPException):
                pass
    finally:
        for sock in idle:
            sock.close()
    assert answered == 50, "%d of 50 probes answered (%d idle connections reopened)" % (
        answered, reopened)


def test_head_and_keep_alive():
    """HEAD is answered with GET's headers and no body; an HTTP/1.1 client that pipelines a
    second request on a kept-alive connection gets one answer, Connection: close, and a clean
    end of stream (no reset)."""
    host, port = producer.metrics.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("HEAD", "/healthz")
    r = conn.getresponse()
    assert r.status == 200 and r.getheader("Content-Length") == "3", (r.status, r.getheaders())
    assert r.read() == b""
    assert r.getheader("Connection") == "close"
    conn.close()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"
                     b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while True:
            chunk = sock.recv(4096)  # a reset raises ConnectionResetError here
            if not chunk:
                break
            got += chunk
    assert got.startswith(b"HTTP/1.1 200 OK\r\n") and got.endswith(b"\r\n\r\nok\n"), got
    assert got.count(b"HTTP/1.1") == 1 and b"Connection: close\r\n" in got, got


def test_counters_add_up():
    """Per collector: received (+ its own LOSS reports) = produced + spooled + rejected + dropped;
    produced = delivered + failed once everything is flushed, from the final log line."""
    rc = producer.stop()
    logs = producer.logs()
    assert rc == 0, logs
    for line in logs.splitlines():
        if " received=" not in line:
            continue
        fields = dict(kv.split("=") for kv in line.split() if "=" in kv)
        n = {k: int(v) for k, v in fields.items()}
        assert n["produced"] == n["delivered"] + n["delivery_failed"], line
        if not line.split()[2].startswith("metadata"):  # metadata also publishes a start-up snapshot
            assert n["received"] + n["loss_records"] == n["produced"] + n["spooled"] + \
                n["rejected"] + n["encode_failed"] + n["queue_full"] + n["produce_failed"], line


def main():
    global producer
    harness.require_root()
    producer = Producer("--collectors", "kernel", "--set", "metrics_listen=127.0.0.1:0")
    try:
        assert producer.metrics, "no metrics= line on stdout"
        return harness.run_tests([
            test_health_and_readiness,
            test_probes_survive_idle_clients,
            test_head_and_keep_alive,
            test_prometheus_scrapes_it,
            test_counters_add_up,
        ])
    finally:
        if producer.proc.poll() is None:
            producer.stop()


if __name__ == "__main__":
    sys.exit(main())
