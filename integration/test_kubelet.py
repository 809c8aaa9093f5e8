#!/usr/bin/python3
"""Collector `kubelet`: the real producer against the stand-in kubelet (integration/standins:
HTTPS with a test CA, a bearer token, realistic /stats/summary and /pods bodies), its records
read back by kcat and decoded by python3-avro. A 250-pod node's figures appear exactly in the
records; a restart gives exactly one CONTAINER_RESTARTED, an OOM kill a CONTAINER_TERMINATED with
OOMKilled, no change no state record; 401, 403, a cut body and a slow response each give
SCRAPE_FAILED; a slower-than-interval scrape is said in NODE_STATS; a restarted producer announces
nothing twice. Nothing secret (env values, annotations, the token) is in any record."""
import os
import shutil
import sys
import tempfile
import time
import urllib.request

import harness
from harness import Producer, Schema
from standins import model
from standins.kubelet import Kubelet, omit

KUBELET = Schema("kubelet")
TOKEN = "kubelet-itest-token-77c1"
TOPIC = "tapio.kubelet"
STATE_KINDS = ("POD_STATUS_SNAPSHOT", "POD_PHASE", "POD_READY", "POD_REMOVED",
               "CONTAINER_WAITING", "CONTAINER_RUNNING", "CONTAINER_TERMINATED",
               "CONTAINER_RESTARTED")


class Env:
    """A stand-in kubelet and a producer pointed at it (token file, CA, state_dir)."""

    def __init__(self, pods, interval=1, extra=(), kubelet=None, workdir=None):
        self.dir = workdir or tempfile.mkdtemp(prefix="tapio-kubelet-itest-")
        self.token_file = os.path.join(self.dir, "token")
        with open(self.token_file, "w") as f:
            f.write(TOKEN + "\n")
        self.k = kubelet or Kubelet("node-a", pods=pods).start()
        self.k.add_token(TOKEN, allow={"nodes/stats", "nodes/proxy"})
        self.args = ["--collectors", "kubelet",
                     "--set", "kubelet_url=" + self.k.url,
                     "--set", "kubelet_ca_file=" + self.k.ca_file,
                     "--set", "kubelet_token_file=" + self.token_file,
                     "--set", "kubelet_interval_s=%d" % interval,
                     "--set", "state_dir=" + os.path.join(self.dir, "state"), *extra]
        self.p = None

    def start(self):
        self.p = Producer(*self.args, node="node-a")
        return self

    def stop_producer(self):
        rc = self.p.stop()
        assert rc == 0, "producer exit %s: %s" % (rc, self.p.logs()[-3000:])

    def close(self):
        try:
            if self.p and self.p.proc.poll() is None:
                self.stop_producer()  # exit 0: clean shutdown, no ASan report
        finally:
            self.k.stop()
            shutil.rmtree(self.dir, ignore_errors=True)

    def records(self):
        """Every record so far, decoded, in seq order, with its Kafka key."""
        out = []
        for m in harness.consume_all(self.p.bootstrap, TOPIC):
            r = KUBELET.decode(m.value)
            assert TOKEN.encode() not in m.value and b"tapio-secret-" not in m.value, r
            assert b"last-applied-configuration" not in m.value, r
            r["_key"] = m.key
            out.append(r)
        return sorted(out, key=lambda r: r["seq"])

    def wait_scrapes(self, n, path="/stats/summary", timeout=60):
        """Until n requests to path have ended, then until their records are in the topic."""
        self.k.wait(lambda: len([r for r in self.k.requests if r.path == path and r.ended]) >= n,
                    timeout=timeout, what="%d requests to %s" % (n, path))

    def wait_records(self, pred, want, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            recs = self.records()
            if len([r for r in recs if pred(r)]) >= want or time.monotonic() > deadline:
                return recs
            time.sleep(0.2)


def by_kind(recs, kind, key=None):
    return [r for r in recs if r["kind"] == kind and (key is None or r["_key"] == key)]


def pod_stats_of_scrape(recs, j):
    """The POD_STATS of the j-th scrape (from 0): those before its NODE_STATS."""
    out, scrape = [], 0
    for r in recs:
        if r["kind"] == "NODE_STATS":
            if scrape == j:
                return out, r
            scrape += 1
            out = []
        elif r["kind"] == "POD_STATS":
            out.append(r)
    raise AssertionError("no scrape %d" % j)


def uint64(v):
    """What a record holds for a kubelet uint64: the stand-in's 250-pod node has more working
    set than memory, and writes a negative availableBytes no kubelet could (Go's uint64); the
    producer publishes such a number as null and counts it (out_of_range)."""
    return v if v >= 0 else None


def micros(s):
    return int(model.parse_time(s) * 1000000) if s else None


def test_250_pods_exact_figures():
    """A 250-pod node: every pod's snapshot once, then each scrape's figures exactly as served,
    optional fields the kubelet left out null (never 0), container ids as /pods has them."""
    pods = model.node_pods("node-a", 250)
    env = Env(pods, interval=2)
    # Left out by this kubelet: the rss of every container, the node's rlimit.
    env.k.on_summary = lambda s: omit(s, "pods.*.containers.*.memory.rssBytes", "node.rlimit")
    try:
        env.start()
        env.wait_scrapes(2)
        served = [b for p, b in env.k.served if p == "/stats/summary"]
        view = env.k.pods()
        recs = env.wait_records(lambda r: r["kind"] == "NODE_STATS", 2)
        snaps = by_kind(recs, "POD_STATUS_SNAPSHOT")
        assert sorted(r["_key"] for r in snaps) == sorted(p["metadata"]["uid"] for p in view)
        assert not any(r["pod_status"]["new_pod"] for r in snaps)
        ids = {(p["metadata"]["uid"], n): i for p in view
               for n, i in ((s["name"], (s.get("containerID") or "").split("://")[-1] or None)
                            for s in p["status"].get("containerStatuses", []))}
        for j in (0, 1):
            stats, node = pod_stats_of_scrape(recs, j)
            body = served[j]
            assert len(stats) == len(body["pods"]) > 200, (len(stats), len(body["pods"]))
            for r, p in zip(stats, body["pods"]):
                uid = p["podRef"]["uid"]
                assert r["_key"] == uid == r["pod_uid"] and r["container_id"] is None, r
                ps = r["pod_stats"]
                assert ps["cpu"]["usage_core_nano_seconds"] == p["cpu"]["usageCoreNanoSeconds"]
                assert ps["cpu"]["usage_nano_cores"] == p["cpu"]["usageNanoCores"]
                assert harness.micros(ps["cpu"]["time"]) == micros(p["cpu"]["time"])
                assert ps["memory"]["working_set_bytes"] == p["memory"]["workingSetBytes"]
                assert ps["memory"]["available_bytes"] == p["memory"].get("availableBytes")
                assert ps["process_count"] == p["process_stats"]["process_count"]
                if "network" in p:
                    assert ps["network"]["rx_bytes"] == p["network"]["rxBytes"], r
                else:
                    assert ps["network"] is None, r
                assert [v["name"] for v in ps["volumes"]] == [v["name"] for v in
                                                               p.get("volume", [])]
                for v, pv in zip(ps["volumes"], p.get("volume", [])):
                    assert v["fs"]["used_bytes"] == pv["usedBytes"]
                    assert v["pvc_name"] == pv.get("pvcRef", {}).get("name")
                assert len(ps["containers"]) == len(p["containers"])
                for c, pc in zip(ps["containers"], p["containers"]):
                    assert c["name"] == pc["name"]
                    assert c["container_id"] == ids[(uid, pc["name"])], (c, uid)
                    assert c["memory"]["rss_bytes"] is None, c  # left out: null, not 0
                    assert c["memory"]["working_set_bytes"] == pc["memory"]["workingSetBytes"]
                    assert c["rootfs"]["used_bytes"] == pc["rootfs"]["usedBytes"]
            n = node["node_stats"]
            assert node["_key"] == "node-a/node" and node["pod_uid"] is None
            assert n["cpu"]["usage_core_nano_seconds"] == \
                body["node"]["cpu"]["usageCoreNanoSeconds"]
            assert n["memory"]["available_bytes"] == \
                uint64(body["node"]["memory"]["availableBytes"])
            assert n["image_fs"]["used_bytes"] == body["node"]["runtime"]["imageFs"]["usedBytes"]
            assert n["max_pid"] is None and n["process_count"] is None, n  # no rlimit
            # (missed_intervals depends on how long a 250-pod scrape takes here: not checked)
            assert n["pods"] == len(body["pods"]) and n["duration_ms"] >= 0
            assert [s["name"] for s in n["system_containers"]] == ["kubelet", "runtime", "pods"]
        # Nothing changed between the polls: no state record but the snapshots.
        assert len([r for r in recs if r["kind"] in STATE_KINDS]) == len(view)
    finally:
        env.close()


def test_restart_oom_and_no_change():
    """A restart: exactly one CONTAINER_RESTARTED. An OOM kill: CONTAINER_TERMINATED with
    OOMKilled. Untouched pods: nothing."""
    pods = model.node_pods("node-a", 6)
    env = Env(pods)
    try:
        env.start()
        env.wait_scrapes(1, "/pods")
        view = env.k.pods()
        a, b = view[0]["metadata"], view[1]["metadata"]
        env.k.restart_container(a["namespace"], a["name"], "app")
        env.k.oom_kill(b["namespace"], b["name"], "app")
        done = len(env.k.requests)
        # Two more complete polls: the changes are in, and a poll after them had nothing new.
        env.wait_scrapes(3, "/pods")
        env.k.wait_request(lambda r: r.path == "/stats/summary", since=done)
        recs = env.wait_records(lambda r: r["kind"] == "CONTAINER_RESTARTED", 2)
        restarted = by_kind(recs, "CONTAINER_RESTARTED", a["uid"])
        assert len(restarted) == 1, restarted
        r = restarted[0]
        assert r["container"]["restart_count"] == 1 and r["container"]["state"] == "RUNNING"
        assert r["container_id"] == model.container_id(env.k.pods()[0], "app")
        oom = by_kind(recs, "CONTAINER_TERMINATED", b["uid"])
        assert len(oom) == 1, oom
        t = oom[0]["container"]["terminated"]
        assert t["reason"] == "OOMKilled" and t["exit_code"] == 137, t
        assert len(by_kind(recs, "CONTAINER_RESTARTED", b["uid"])) == 1
        others = [r for r in recs if r["kind"] in STATE_KINDS and r["kind"] !=
                  "POD_STATUS_SNAPSHOT" and r["_key"] not in (a["uid"], b["uid"])]
        assert others == [], others
    finally:
        env.close()


def test_failures_are_scrape_failed():
    """403 (no nodes/stats), 401 (a token the kubelet does not know), a body cut mid-JSON and a
    response slower than the timeout: each a SCRAPE_FAILED keyed <node>/node. A scrape slower
    than the interval delays the next (no overlap); the skipped ticks are in the next
    NODE_STATS. /metrics counts them."""
    pods = model.node_pods("node-a", 3)
    k = Kubelet("node-a", pods=pods).start()
    env = Env(pods, kubelet=k, extra=["--set", "kubelet_timeout_s=2"])
    k.remove_token(TOKEN)
    k.add_token(TOKEN, allow={"nodes/proxy"})  # /pods yes, /stats no: 403

    def answered(path, status):
        return lambda: [r for r in k.requests if r.path == path and r.status == status
                        and r.ended]

    try:
        env.start()
        k.wait(answered("/stats/summary", 403), what="a 403")
        k.remove_token(TOKEN)
        k.wait(answered("/stats/summary", 401), what="a 401")
        # Taken by the first /pods the token gets through again.
        k.cut_next(1, match=lambda r: r.path == "/pods")
        k.delay_next(1, 3, match=lambda r: r.path == "/stats/summary")  # > the timeout
        k.delay_next(1, 1.5, match=lambda r: r.path == "/pods")         # > the interval
        k.add_token(TOKEN, allow={"nodes/stats", "nodes/proxy"})
        recs = env.wait_records(lambda r: r["kind"] == "NODE_STATS" and
                                r["node_stats"]["missed_intervals"] >= 1, 1)
        failed = by_kind(recs, "SCRAPE_FAILED", "node-a/node")
        outcomes = [(f["scrape_failed"]["endpoint"], f["scrape_failed"]["outcome"],
                     f["scrape_failed"]["http_status"]) for f in failed]
        for want in (("/stats/summary", "HTTP_4XX", 403), ("/pods", "HTTP_4XX", 401),
                     ("/stats/summary", "HTTP_4XX", 401), ("/stats/summary", "TIMEOUT", None)):
            assert want in outcomes, (want, outcomes)
        assert any(e == "/pods" and o in ("TRANSPORT", "JSON") for e, o, _ in outcomes), outcomes
        assert all(f["pod_uid"] is None and f["scrape_failed"]["error"] for f in failed), failed
        timeout = [f for f in failed if f["scrape_failed"]["outcome"] == "TIMEOUT"][0]
        assert timeout["scrape_failed"]["duration_ms"] >= 1900, timeout
        with urllib.request.urlopen("http://%s/metrics" % env.p.metrics, timeout=10) as resp:
            metrics = resp.read().decode()
        assert 'tapio_kubelet_scrapes_total{endpoint="/stats/summary",result="timeout"} 1' \
            in metrics, metrics
        missed = [line for line in metrics.splitlines()
                  if line.startswith("tapio_kubelet_missed_intervals_total ")]
        assert missed and int(missed[0].split()[1]) >= 1, missed
        assert 'tapio_http_insecure_skip_verify{collector="kubelet"} 0' in metrics
    finally:
        env.close()


def test_restart_announces_nothing_twice():
    """Stopped and started again on the same state_dir, the producer publishes no snapshot again
    and no change it published before; a change made while it was away comes once."""
    pods = model.node_pods("node-a", 4)
    env = Env(pods)
    try:
        env.start()
        env.wait_scrapes(2)
        first = env.wait_records(lambda r: r["kind"] == "NODE_STATS", 2)
        assert len(by_kind(first, "POD_STATUS_SNAPSHOT")) == 4
        env.stop_producer()
        state = os.path.join(env.dir, "state", "kubelet.pods.checkpoint")
        assert os.path.exists(state), os.listdir(os.path.join(env.dir, "state"))
        meta = env.k.pods()[2]["metadata"]
        env.k.restart_container(meta["namespace"], meta["name"], "app")
        n = len([r for r in env.k.requests if r.path == "/stats/summary"])
        env.start()  # a new embedded broker: this run's records only
        assert "resuming pods from checkpoint" in env.p.logs() or harness.wait_for_log(
            env.p, "resuming pods from checkpoint")
        env.wait_scrapes(n + 2)
        recs = env.wait_records(lambda r: r["kind"] == "NODE_STATS", 2)
        assert by_kind(recs, "POD_STATUS_SNAPSHOT") == []
        changes = [r for r in recs if r["kind"] in STATE_KINDS]
        assert sorted(r["kind"] for r in changes) == ["CONTAINER_RESTARTED",
                                                      "CONTAINER_TERMINATED"], changes
        assert all(r["_key"] == meta["uid"] for r in changes)
    finally:
        env.close()


if __name__ == "__main__":
    harness.require_root()
    sys.exit(harness.run_tests([test_250_pods_exact_figures, test_restart_oom_and_no_change,
                                test_failures_are_scrape_failed,
                                test_restart_announces_nothing_twice]))
