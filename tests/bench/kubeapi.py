#!/usr/bin/python3
"""make bench, the kubeapi collector: the real tapio-producer (collectors = kubeapi, Events of
its node on) against the stand-in API server (integration/standins) with a node of 110 pods, as
the stand-in's model makes them (Deployments, StatefulSets, DaemonSets, Jobs, init containers,
sidecars, managedFields, last-applied annotations: 5 to 9 KB of JSON each), producing to the
mock broker given. Prints key=value lines for tests/bench/run.sh.

    kubeapi.py --producer PATH --brokers HOST:PORT --out DIR [--events N] [--relists K]
               [--idle S]

Figures (CPU from /proc/<pid>/stat and /proc/<pid>/task/*/stat, the whole process unless named):
  list_cpu_us_per_pod       K relists of the 110 pods (an ERROR 410 ends the watch each time):
                            CPU per pod published as a POD_SNAPSHOT
  event_cpu_us_per_event    N watch events (a container restarted, one pod after another): CPU
                            per event, from the bytes to the record delivered (worker thread:
                            tokenize, map, hand-off; event loop: frame, number, produce;
                            librdkafka's threads: compress, send)
  event_cpu_us_<thread>     the same split by thread
  burst_cpu_us_per_event    N watch events written to the watch in one go (as after the API
                            server's cache caught up, or a busy node): what each costs once the
                            wake-ups are shared, bytes to delivered record; burst_cpu_us_<thread>
  idle_cpu_percent          S seconds with both watches open and nothing happening (the whole
                            process: its event loop's ring-buffer poll and librdkafka included);
                            idle_cpu_percent_kubeapi: the kubeapi threads alone
  rss_kb_after_list, rss_kb_after_events, hwm_kb
It also writes DIR/kubeapi-events.jsonl: one watch event per pod, the bytes kubeapibench reads.
"""
import argparse
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "integration"))
from standins import model  # noqa: E402
from standins.kubeapi import KubeAPI  # noqa: E402

NODE = "bench-node"
HZ = os.sysconf("SC_CLK_TCK")


def stat_cpu_us(path):
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000000 // HZ


def threads_cpu(pid):
    """CPU µs by thread name (threads of one name added up)."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                name = f.read().strip()
            name = "librdkafka" if name.startswith("rdk:") else name
            out[name] = out.get(name, 0) + stat_cpu_us("/proc/%d/task/%s/stat" % (pid, tid))
        except FileNotFoundError:
            pass
    return out


def status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def metric(addr, name):
    with urllib.request.urlopen("http://%s/metrics" % addr, timeout=10) as resp:
        text = resp.read().decode()
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else 0.0


def wait_metric(addr, name, value, deadline_s=300):
    deadline = time.monotonic() + deadline_s
    while metric(addr, name) < value:
        if time.monotonic() > deadline:
            sys.exit("kubeapi bench: %s never reached %s" % (name, value))
        time.sleep(0.05)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--producer", required=True)
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--relists", type=int, default=10)
    ap.add_argument("--idle", type=int, default=60)
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="tapio-kubeapi-bench-")
    api = KubeAPI().start()
    sa = api.serviceaccount(os.path.join(tmp, "sa"))
    pods = model.node_pods(NODE, 110)
    # The pods whose container "app" restarts (the static pod's mirror has none).
    apps = [p for p in pods if any(c["name"] == "app" for c in p["spec"]["containers"])]
    with open(os.path.join(a.out, "kubeapi-events.jsonl"), "wb") as f:
        for p in pods:
            stored = api.create_pod(p)
            f.write(model.gojson({"type": "MODIFIED", "object": stored}) + b"\n")
    log = open(os.path.join(a.out, "kubeapi-producer.log"), "w")
    proc = subprocess.Popen(
        [a.producer, "--node-name", NODE, "--collectors", "kubeapi", "--brokers", a.brokers,
         "--set", "kubeapi_url=" + api.url, "--set", "kubeapi_token_file=" + sa.token_file,
         "--set", "kubeapi_ca_file=" + sa.ca_file, "--set", "metrics_listen=127.0.0.1:0",
         "--set", "stats_interval_s=0"], stdout=subprocess.PIPE, stderr=log, bufsize=0)
    addr = None
    try:
        line = ""
        while not line.startswith("bootstrap.servers="):
            ready, _, _ = select.select([proc.stdout], [], [], 60)
            line = proc.stdout.readline().decode() if ready else ""
            if not line:
                sys.exit("kubeapi bench: the producer did not start (%s)" % log.name)
            if line.startswith("metrics="):
                addr = line.strip().split("=", 1)[1]
        pid = proc.pid
        api.wait_watch(lambda w: w.resource == "pods", timeout=60)
        api.wait_watch(lambda w: w.resource == "events", timeout=60)
        wait_metric(addr, 'tapio_records_delivered_total{collector="kubeapi"}', 110 + 4)
        print("pods=%d" % len(pods))
        print("pod_json_bytes=%d" % (sum(len(model.gojson(p)) for p in api.pods(NODE)) // 110))
        print("rss_kb_after_list=%d" % status_kb(pid, "VmRSS"))

        # Idle: both watches open, nothing happening.
        th0 = threads_cpu(pid)
        c0 = stat_cpu_us("/proc/%d/stat" % pid)
        t0 = time.monotonic()
        time.sleep(a.idle)  # the measurement window
        span = (time.monotonic() - t0) * 1e6
        idle = (stat_cpu_us("/proc/%d/stat" % pid) - c0) / span
        th1 = threads_cpu(pid)
        kube = sum(th1[n] - th0.get(n, 0) for n in th1 if n.startswith("kubeapi-")) / span
        print("idle_seconds=%d" % a.idle)
        print("idle_cpu_percent=%.4f" % (idle * 100))
        print("idle_cpu_percent_kubeapi=%.4f" % (kube * 100))

        # Watch events: a container restarted, pod after pod.
        delivered = metric(addr, 'tapio_records_delivered_total{collector="kubeapi"}')
        th0 = threads_cpu(pid)
        c0 = stat_cpu_us("/proc/%d/stat" % pid)
        for i in range(a.events):
            m = apps[i % len(apps)]["metadata"]
            api.update_pod(m["namespace"], m["name"],
                           lambda p: model.restart_container(p, "app"))
        wait_metric(addr, 'tapio_records_delivered_total{collector="kubeapi"}',
                    delivered + a.events)
        cpu = stat_cpu_us("/proc/%d/stat" % pid) - c0
        th1 = threads_cpu(pid)
        print("events=%d" % a.events)
        print("event_cpu_us_per_event=%.2f" % (cpu / a.events))
        for name in sorted(th1):
            d = th1[name] - th0.get(name, 0)
            if d:
                print("event_cpu_us_%s=%.2f" % (re.sub(r"[^A-Za-z0-9]", "_", name),
                                                d / a.events))
        print("rss_kb_after_events=%d" % status_kb(pid, "VmRSS"))

        # A burst: the same kind of events, written to the open watch in one go.
        delivered = metric(addr, 'tapio_records_delivered_total{collector="kubeapi"}')
        burst = []
        for i in range(a.events):
            p = dict(apps[i % len(apps)])
            p["metadata"] = dict(p["metadata"], resourceVersion=str(10000000 + i))
            burst.append(model.gojson({"type": "MODIFIED", "object": p}))
        th0 = threads_cpu(pid)
        c0 = stat_cpu_us("/proc/%d/stat" % pid)
        api.send_raw(b"\n".join(burst) + b"\n", match="/api/v1/pods")
        wait_metric(addr, 'tapio_records_delivered_total{collector="kubeapi"}',
                    delivered + a.events)
        cpu = stat_cpu_us("/proc/%d/stat" % pid) - c0
        th1 = threads_cpu(pid)
        print("burst_cpu_us_per_event=%.2f" % (cpu / a.events))
        for name in sorted(th1):
            d = th1[name] - th0.get(name, 0)
            if d:
                print("burst_cpu_us_%s=%.2f" % (re.sub(r"[^A-Za-z0-9]", "_", name),
                                                d / a.events))

        # Relists of the 110 pods.
        c0 = stat_cpu_us("/proc/%d/stat" % pid)
        for k in range(1, a.relists + 1):
            api.expire_watches(match="/api/v1/pods")
            wait_metric(addr, 'tapio_kubeapi_resyncs_total{source="pods",reason="expired"}', k)
            api.wait_watch(lambda w: w.resource == "pods", timeout=60)
        delivered_after = delivered + a.events + a.relists * (110 + 2)
        wait_metric(addr, 'tapio_records_delivered_total{collector="kubeapi"}', delivered_after)
        cpu = stat_cpu_us("/proc/%d/stat" % pid) - c0
        print("relists=%d" % a.relists)
        print("list_cpu_us_per_pod=%.2f" % (cpu / (a.relists * 110)))
        print("hwm_kb=%d" % status_kb(pid, "VmHWM"))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        api.stop()
        log.close()


if __name__ == "__main__":
    main()
