#!/usr/bin/python3
"""/metrics scraped by a real Prometheus server (Debian's prometheus), /healthz and /readyz."""
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
            test_prometheus_scrapes_it,
            test_counters_add_up,
        ])
    finally:
        if producer.proc.poll() is None:
            producer.stop()


if __name__ == "__main__":
    sys.exit(main())
