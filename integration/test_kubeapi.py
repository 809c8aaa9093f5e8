#!/usr/bin/python3
"""The kubeapi collector: the real producer against the stand-in API server
(integration/standins/kubeapi.py: HTTPS with a test CA, bearer tokens, list and watch with field
selectors and resourceVersions, bookmarks, 410 both ways, outages), its records read by kcat and
decoded by python3-avro, compared with what the stand-in holds.

Every wait is on data (a record, a request, a log line) with a deadline; the one fixed duration is
the outage test's 30 s, the length of the outage it injects."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import harness
from harness import Producer, Schema
from standins import model
from standins.kubeapi import KubeAPI

KUBEAPI = Schema("kubeapi")
NODE = "node-a"
TOPIC = "tapio.kubeapi"


class Setup:
    """A stand-in API server with a service account, and producers pointed at it."""

    def __init__(self, **api_args):
        self.dir = tempfile.mkdtemp(prefix="tapio-kubeapi-")
        self.api = KubeAPI(**api_args).start()
        self.sa = self.api.serviceaccount(os.path.join(self.dir, "sa"))
        self.state_dir = os.path.join(self.dir, "state")
        self.producers = []

    def producer(self, *extra, checkpoints=False, url=True):
        args = ["--collectors", "kubeapi", "--set", "kubeapi_token_file=" + self.sa.token_file,
                "--set", "kubeapi_ca_file=" + self.sa.ca_file]
        if url:
            args += ["--set", "kubeapi_url=" + self.api.url]
        if checkpoints:
            args += ["--set", "state_dir=" + self.state_dir]
        p = Producer(*args, *extra, node=NODE)
        self.producers.append(p)
        return p

    def close(self):
        for p in self.producers:
            p.stop()
        self.api.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def records(p):
    """Every record of the topic so far, decoded, in seq order, with its Kafka key."""
    out = []
    for m in harness.consume_all(p.bootstrap, TOPIC):
        r = KUBEAPI.decode(m.value)
        r["_key"] = m.key
        r["_raw"] = m.value
        out.append(r)
    return sorted(out, key=lambda r: r["seq"])


def wait_records(p, predicate, what, deadline_s=60):
    """Polls the topic until predicate(records) holds, with no record missing before the last
    one seen (records of other partitions may be acknowledged later); returns the records."""
    deadline = time.monotonic() + deadline_s
    while True:
        recs = records(p)
        if [r["seq"] for r in recs] == list(range(1, len(recs) + 1)) and predicate(recs):
            return recs
        if time.monotonic() > deadline:
            raise AssertionError("no %s within %d s; records: %s\nlog:\n%s" % (
                what, deadline_s, [(r["seq"], r["kind"]) for r in recs], p.logs()[-3000:]))
        time.sleep(0.2)


def brackets(recs, source="PODS"):
    """The complete resync brackets of one source: (begin, snapshots, end) in order."""
    out, begin, snaps = [], None, []
    snap_kind = "POD_SNAPSHOT" if source == "PODS" else "EVENT_SNAPSHOT"
    for r in recs:
        if r["kind"] == "RESYNC_BEGIN" and r["resync"]["source"] == source:
            begin, snaps = r, []
        elif r["kind"] == snap_kind and begin is not None:
            snaps.append(r)
        elif r["kind"] == "RESYNC_END" and r["resync"]["source"] == source and begin:
            out.append((begin, snaps, r))
            begin = None
    return out


def n_brackets(n, source="PODS"):
    return lambda recs: len(brackets(recs, source)) >= n


def has(kind, rv):
    return lambda recs: any(r["kind"] == kind and r["pod"] and r["pod"]["resource_version"] == rv
                            for r in recs)


def node_pods(api):
    return {p["metadata"]["uid"]: p for p in api.pods(NODE)}


def assert_bracket_is(bracket, api, reason):
    """A bracket holds exactly the node's pods as the API server has them now."""
    begin, snaps, end = bracket
    want = node_pods(api)
    assert begin["resync"]["reason"] == reason, begin["resync"]
    assert end["resync"]["count"] == len(snaps) == len(want), (end["resync"], len(want))
    got = {r["pod"]["uid"]: r for r in snaps}
    assert set(got) == set(want), (sorted(got), sorted(want))
    for uid, r in got.items():
        assert r["pod"]["resource_version"] == want[uid]["metadata"]["resourceVersion"]
        assert r["_key"] == uid and r["pod_uid"] == uid
    assert begin["seq"] < min(r["seq"] for r in snaps) if snaps else True
    assert end["resync"]["resource_version"] == begin["resync"]["resource_version"]


def assert_pod_record(r, pod):
    """What a record says of a pod is what the API server's object says."""
    m, spec, st = pod["metadata"], pod["spec"], pod["status"]
    rp = r["pod"]
    assert rp["namespace"] == m["namespace"] and rp["name"] == m["name"]
    assert rp["uid"] == m["uid"] and r["pod_uid"] == m["uid"] and r["_key"] == m["uid"]
    assert rp["resource_version"] == m["resourceVersion"]
    assert rp["labels"] == m.get("labels", {})
    assert rp["annotations"] == {}  # none asked for
    owner = next((o for o in m.get("ownerReferences", ()) if o.get("controller")), None)
    assert rp["controller"] == (owner and {k: owner[k] for k in ("kind", "name", "uid")})
    assert rp["node_name"] == spec.get("nodeName") == NODE
    assert rp["phase"] == st.get("phase") and rp["qos_class"] == st.get("qosClass")
    assert rp["pod_ips"] == [i["ip"] for i in st.get("podIPs", ())]
    assert rp["host_ip"] == st.get("hostIP")
    assert rp["service_account"] == spec.get("serviceAccountName")
    assert rp["priority_class"] == spec.get("priorityClassName")
    assert harness.micros(rp["start_time"]) == int(model.parse_time(st["startTime"]) * 1e6)
    assert [c["type"] for c in rp["conditions"]] == [c["type"] for c in st.get("conditions", ())]
    specs = ([("INIT", c) for c in spec.get("initContainers", ())] +
             [("CONTAINER", c) for c in spec["containers"]])
    assert [(c["type"], c["name"]) for c in rp["containers"]] == [(t, c["name"]) for t, c in specs]
    for (kind, cs), rc in zip(specs, rp["containers"]):
        s = model.container_status(pod, cs["name"])
        assert rc["container_id"] == model.container_id(pod, cs["name"])
        assert rc["runtime"] == ("containerd" if s.get("containerID") else None)
        assert rc["image"] == cs["image"] and rc["image_id"] == (s.get("imageID") or None)
        assert rc["ready"] == s["ready"] and rc["restart_count"] == s["restartCount"]
        req = cs.get("resources", {}).get("requests", {})
        lim = cs.get("resources", {}).get("limits", {})
        for have, want in ((rc["requests"], req), (rc["limits"], lim)):
            assert have["cpu_millis"] == (model.cpu_millis(want["cpu"]) if "cpu" in want
                                          else None), (have, want)
            assert have["memory_bytes"] == (model.memory_bytes(want["memory"])
                                            if "memory" in want else None), (have, want)
    for secret in model.secret_values(pod):
        assert secret.encode() not in r["_raw"], "a secret reached the topic"


def test_pods_present_at_start():
    """Three pods of this node and two of another: one bracket of exactly this node's three."""
    s = Setup()
    try:
        pods = model.node_pods(NODE, 3) + model.node_pods("node-b", 2)
        for p in pods:
            s.api.create_pod(p)
        p = s.producer()
        recs = wait_records(p, n_brackets(1), "first bracket")
        (bracket,) = brackets(recs)
        assert_bracket_is(bracket, s.api, "START")
        for r in bracket[1]:
            assert_pod_record(r, s.api.get_pod(r["pod"]["namespace"], r["pod"]["name"]))
        # The list was served from the cache, the watch started from its resourceVersion.
        lst = s.api.wait_request(lambda q: q.path == "/api/v1/pods" and not q.watch)
        assert lst.query["resourceVersion"] == "0"
        assert lst.query["fieldSelector"] == "spec.nodeName=" + NODE
        w = s.api.wait_watch(lambda w: w.resource == "pods")
        assert w.req.query["resourceVersion"] == bracket[2]["resync"]["resource_version"]
        assert w.req.query["allowWatchBookmarks"] == "true"
        assert 300 <= int(w.req.query["timeoutSeconds"]) <= 600
        assert p.stop() == 0
    finally:
        s.close()


def test_pod_added_restarted_deleted_and_other_nodes():
    s = Setup()
    try:
        base = s.api.create_pod(model.make_pod("web-0", "shop", NODE))
        other = s.api.create_pod(model.make_pod("web-9", "shop", "node-b"))
        p = s.producer()
        wait_records(p, n_brackets(1), "first bracket")
        s.api.wait_watch(lambda w: w.resource == "pods")
        added = s.api.create_pod(model.make_pod("web-1", "shop", NODE))
        old_id = model.container_id(base, "app")
        restarted = s.api.restart_container("shop", "web-0", "app", exit_code=137,
                                            reason="OOMKilled")
        s.api.update_pod("shop", "web-9", lambda q: model.restart_container(q, "app"))
        s.api.create_pod(model.make_pod("web-8", "shop", "node-b"))
        s.api.delete_pod("shop", "web-1")
        gone = s.api.rv
        moved = s.api.move_pod("shop", "web-0", "node-b")
        recs = wait_records(p, has("POD_DELETED", moved["metadata"]["resourceVersion"]),
                            "the moved pod's DELETED")
        changes = [r for r in recs if r["kind"].startswith("POD_") and r["kind"] != "POD_SNAPSHOT"]
        kinds = [(r["kind"], r["pod"]["name"], r["pod"]["resource_version"]) for r in changes]
        assert kinds == [
            ("POD_ADDED", "web-1", added["metadata"]["resourceVersion"]),
            ("POD_MODIFIED", "web-0", restarted["metadata"]["resourceVersion"]),
            ("POD_MODIFIED", "web-1", str(gone - 1)),  # deletionTimestamp set
            ("POD_DELETED", "web-1", str(gone)),
            ("POD_DELETED", "web-0", moved["metadata"]["resourceVersion"]),
        ], kinds
        assert_pod_record(changes[0], added)
        # The restarted container: its count and how its previous instance ended.
        app = changes[1]["pod"]["containers"][0]
        assert app["restart_count"] == 1
        assert app["last_state"]["state"] == "TERMINATED"
        assert app["last_state"]["exit_code"] == 137
        assert app["last_state"]["reason"] == "OOMKilled"
        assert app["last_state"]["container_id"] == old_id
        assert app["container_id"] == model.container_id(restarted, "app") != old_id
        assert app["state"]["state"] == "RUNNING"
        assert changes[2]["pod"]["deletion_time"] is not None
        # Another node's pods never appear (the move away is a DELETED of this node's view).
        for r in recs:
            assert r["pod_uid"] != other["metadata"]["uid"]
            if r["pod"]:
                assert r["pod"]["name"] not in ("web-9", "web-8")
                assert r["pod"]["node_name"] == NODE
        assert p.stop() == 0
    finally:
        s.close()


def test_410_mid_stream_relists_exactly():
    """The watch ends with an ERROR 410 event: a relist no older than what was seen, published
    as a bracket that holds exactly the pods there are."""
    s = Setup(bookmark_interval=3600)  # no bookmark moves the last resourceVersion seen
    try:
        for pod in model.node_pods(NODE, 4):
            s.api.create_pod(pod)
        p = s.producer()
        wait_records(p, n_brackets(1), "first bracket")
        s.api.wait_watch(lambda w: w.resource == "pods")
        victim = s.api.pods(NODE)[0]["metadata"]
        s.api.delete_pod(victim["namespace"], victim["name"], graceful=False)
        s.api.create_pod(model.make_pod("late", "shop", NODE))
        s.api.create_pod(model.make_pod("late-b", "shop", "node-b"))
        last = s.api.restart_container("shop", "late", "app")["metadata"]["resourceVersion"]
        since = len(s.api.requests)
        s.api.expire_watches()
        recs = wait_records(p, n_brackets(2), "the bracket after 410")
        assert_bracket_is(brackets(recs)[1], s.api, "EXPIRED")
        relist = s.api.wait_request(lambda q: q.path == "/api/v1/pods" and not q.watch,
                                    since=since)
        assert relist.query["resourceVersion"] == last  # the last seen, never older
        assert p.stop() == 0
    finally:
        s.close()


def test_restart_resumes_without_duplicates():
    """A restart watches from the checkpoint: what came while it was down, nothing twice. Once
    the checkpoint is too old (history compacted; the 410 as an HTTP status this time), a
    bracket instead."""
    s = Setup()
    try:
        for pod in model.node_pods(NODE, 3):
            s.api.create_pod(pod)
        first = s.producer(checkpoints=True)
        wait_records(first, n_brackets(1), "first bracket")
        a = s.api.create_pod(model.make_pod("a", "shop", NODE))["metadata"]["resourceVersion"]
        recs1 = wait_records(first, has("POD_ADDED", a), "record A")
        assert first.stop() == 0
        b = s.api.create_pod(model.make_pod("b", "shop", NODE))["metadata"]["resourceVersion"]
        c = s.api.restart_container("shop", "a", "app")["metadata"]["resourceVersion"]

        since = len(s.api.requests)
        second = s.producer(checkpoints=True)
        recs2 = wait_records(second, has("POD_MODIFIED", c), "records B and C")
        assert [(r["kind"], r["pod"]["resource_version"]) for r in recs2] == [
            ("POD_ADDED", b), ("POD_MODIFIED", c)], [(r["kind"], r["seq"]) for r in recs2]
        seen = {(r["pod"]["uid"], r["pod"]["resource_version"]) for r in recs1 if r["pod"]}
        assert not seen & {(r["pod"]["uid"], r["pod"]["resource_version"]) for r in recs2}
        w = s.api.wait_request(lambda q: q.path == "/api/v1/pods" and q.watch, since=since)
        assert w.query["resourceVersion"] == a
        assert "resuming pods from checkpoint " + a in second.logs()
        assert second.stop() == 0

        d = s.api.create_pod(model.make_pod("d", "shop", NODE))["metadata"]["resourceVersion"]
        s.api.compact()
        s.api.gone_mode = "http"
        third = s.producer(checkpoints=True)
        recs3 = wait_records(third, n_brackets(1), "the bracket after a checkpoint too old")
        assert_bracket_is(brackets(recs3)[0], s.api, "EXPIRED")
        assert any(r["pod"]["resource_version"] == d for r in brackets(recs3)[0][1])
        assert third.stop() == 0
    finally:
        s.close()


def test_token_rotated_continues():
    """The kubelet rotates the token and the API server stops taking the old one: the next
    request is refused once, the new token read, and the watch goes on where it stood."""
    s = Setup()
    try:
        s.api.create_pod(model.make_pod("web-0", "shop", NODE))
        p = s.producer("--set", "kubeapi_events=off")
        wait_records(p, n_brackets(1), "first bracket")
        s.api.wait_watch(lambda w: w.resource == "pods")
        old = s.sa.token
        s.api.rotate_token(s.sa, revoke_old=True)
        since = len(s.api.requests)
        s.api.cut_next_event()  # the connection drops: a new request must authenticate
        cut = s.api.restart_container("shop", "web-0", "app")["metadata"]["resourceVersion"]
        after = s.api.restart_container("shop", "web-0", "app")["metadata"]["resourceVersion"]
        recs = wait_records(p, has("POD_MODIFIED", after), "the change after the rotation")
        assert has("POD_MODIFIED", cut)(recs)  # the one cut mid-object, again from the watch
        assert len(brackets(recs)) == 1  # no relist
        refused = s.api.wait_request(lambda q: q.status == 401, since=since)
        assert refused.headers["authorization"] == "Bearer " + old
        ok = s.api.wait_request(lambda q: q.watch and q.status == 200, since=since)
        assert ok.headers["authorization"] == "Bearer " + s.sa.token
        assert old not in p.logs() and s.sa.token not in p.logs()
        assert p.stop() == 0
    finally:
        s.close()


def metric(p, name):
    with urllib.request.urlopen("http://%s/metrics" % p.metrics, timeout=10) as resp:
        text = resp.read().decode()
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else None


def wait_metric(p, name, value, deadline_s=60):
    deadline = time.monotonic() + deadline_s
    while metric(p, name) != value:
        if time.monotonic() > deadline:
            raise AssertionError("%s never %s" % (name, value))
        time.sleep(0.2)


def test_api_server_away_30s():
    """The API server is away for 30 s while pods change: the collector is down (and says so),
    then resumes from where its watch stood, with every change and no relist."""
    s = Setup()
    try:
        for pod in model.node_pods(NODE, 3):
            s.api.create_pod(pod)
        p = s.producer()
        up = 'tapio_collector_up{collector="kubeapi"}'
        recs = wait_records(p, n_brackets(1), "first bracket")
        s.api.wait_watch(lambda w: w.resource == "pods")
        wait_metric(p, up, 1)
        s.api.away()
        away_at = time.monotonic()
        pods = [q for q in s.api.pods(NODE)
                if any(c["name"] == "app" for c in q["spec"]["containers"])]
        changes = [s.api.create_pod(model.make_pod("new", "shop", NODE)),
                   s.api.restart_container(pods[0]["metadata"]["namespace"],
                                           pods[0]["metadata"]["name"], "app"),
                   s.api.delete_pod(pods[1]["metadata"]["namespace"],
                                    pods[1]["metadata"]["name"], graceful=False)]
        wait_metric(p, up, 0)
        time.sleep(max(0.0, 30 - (time.monotonic() - away_at)))  # the outage's length
        s.api.back()
        last = changes[-1]["metadata"]["resourceVersion"]
        recs = wait_records(p, has("POD_DELETED", last), "the changes after the outage", 120)
        got = [(r["kind"], r["pod"]["resource_version"]) for r in recs
               if r["kind"] in ("POD_ADDED", "POD_MODIFIED", "POD_DELETED")]
        assert got == [("POD_ADDED", changes[0]["metadata"]["resourceVersion"]),
                       ("POD_MODIFIED", changes[1]["metadata"]["resourceVersion"]),
                       ("POD_DELETED", last)], got
        assert len(brackets(recs)) == 1
        wait_metric(p, up, 1)
        assert p.stop() == 0
    finally:
        s.close()


def test_events():
    """Events about this node only (node mode), a pod's beside its records (cluster mode),
    deletions by TTL never."""
    s = Setup()
    try:
        pod = s.api.create_pod(model.make_pod("web-0", "shop", NODE))
        s.api.create_event(model.node_event(NODE, "Starting", "Starting kubelet."))
        p = s.producer()
        wait_records(p, n_brackets(1, "EVENTS"), "the Events bracket")
        s.api.wait_watch(lambda w: w.resource == "events")
        mine = s.api.create_event(model.node_event(NODE, "NodeNotReady", "Node is not ready",
                                                   "Warning"))
        s.api.create_event(model.node_event("node-b", "NodeNotReady", "not this node"))
        s.api.create_event(model.pod_event(pod, "BackOff", "Back-off restarting", "Warning"))
        s.api.delete_event(mine["metadata"]["namespace"], mine["metadata"]["name"])
        mark = s.api.create_event(model.node_event(NODE, "Rebooted", "Node rebooted"))
        recs = wait_records(p, lambda rs: any(r["event"] and r["event"]["reason"] == "Rebooted"
                                              for r in rs), "the node's Events")
        (begin, snaps, end) = brackets(recs, "EVENTS")[0]
        assert [r["event"]["reason"] for r in snaps] == ["Starting"]
        events = [r for r in recs if r["kind"] == "EVENT"]
        assert [r["event"]["reason"] for r in events] == ["NodeNotReady", "Rebooted"]
        e = events[0]
        assert e["_key"] == NODE and e["pod_uid"] is None
        assert e["event"]["uid"] == mine["metadata"]["uid"]
        assert e["event"]["regarding"]["kind"] == "Node"
        assert e["event"]["note"] == "Node is not ready" and e["event"]["type"] == "Warning"
        assert events[1]["event"]["resource_version"] == mark["metadata"]["resourceVersion"]
        w = s.api.wait_watch(lambda w: w.resource == "events")
        assert w.req.query["fieldSelector"] == "regarding.kind=Node,regarding.name=" + NODE
        assert p.stop() == 0

        c = s.producer("--set", "kubeapi_events=cluster", "--set", "kubeapi_pods=off")
        recs = wait_records(c, n_brackets(1, "EVENTS"), "the cluster's Events")
        (begin, snaps, end) = brackets(recs, "EVENTS")[0]
        assert len(snaps) == len(s.api.events()) == 4
        backoff = next(r for r in snaps if r["event"]["reason"] == "BackOff")
        assert backoff["_key"] == backoff["pod_uid"] == pod["metadata"]["uid"]
        assert not any(r["pod"] for r in recs)  # no pods watched
        assert c.stop() == 0
    finally:
        s.close()


def test_hostile_stream_is_skipped_and_counted():
    s = Setup()
    try:
        s.api.create_pod(model.make_pod("web-0", "shop", NODE))
        p = s.producer("--set", "kubeapi_events=off")
        wait_records(p, n_brackets(1), "first bracket")
        s.api.wait_watch(lambda w: w.resource == "pods")
        s.api.send_raw(b'{"type":"ADDED","object":{"metadata":{"name":"x","namespace":"shop",'
                       b'"uid":"u-1","resourceVersion":"5"},"spec":{"containers":"many"}}}\n'
                       b'{"type": nonsense}\n')
        after = s.api.restart_container("shop", "web-0", "app")["metadata"]["resourceVersion"]
        recs = wait_records(p, has("POD_MODIFIED", after), "the change after hostile values")
        skipped = [r["skipped"] for r in recs if r["kind"] == "SKIPPED"]
        assert [(k["reason"], k["field"]) for k in skipped] == [
            ("WRONG_TYPE", "spec.containers"), ("INVALID_JSON", None)], skipped
        assert skipped[0]["uid"] == "u-1" and skipped[0]["watch_type"] == "ADDED"
        assert metric(p, 'tapio_kubeapi_skipped_total{source="pods",reason="wrong_type"}') == 1
        assert p.stop() == 0
    finally:
        s.close()


def test_in_cluster_environment():
    """KUBERNETES_SERVICE_HOST/PORT name the API server, as in a pod."""
    s = Setup()
    saved = dict(os.environ)
    try:
        s.api.create_pod(model.make_pod("web-0", "shop", NODE))
        os.environ.update(s.api.env())
        p = s.producer(url=False)
        recs = wait_records(p, n_brackets(1), "first bracket")
        assert len(brackets(recs)[0][1]) == 1
        assert p.stop() == 0
    finally:
        os.environ.clear()
        os.environ.update(saved)
        s.close()


def clean_env():
    return {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}


def test_not_in_a_cluster_is_skipped():
    """Not asked for by name, nowhere to connect: skipped with one info line."""
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(clean_env())
        p = Producer("--set", "log_level=info", node=NODE)
        lines = [l for l in p.logs().splitlines() if "kubeapi" in l]
        assert len(lines) == 1, lines
        assert "info  kubeapi: skipped: KUBERNETES_SERVICE_HOST is not set" in lines[0], lines
        assert "kubeapi_url is not set" in lines[0]
        assert p.stop() == 0
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_named_with_nothing_to_connect_to_exits_2():
    proc = subprocess.run([harness.PRODUCER, "--node-name", NODE, "--collectors", "kubeapi",
                           "--set", "metrics_listen="], env=clean_env(), capture_output=True,
                          timeout=60)
    err = proc.stderr.decode()
    assert proc.returncode == 2, (proc.returncode, err)
    assert "error kubeapi: KUBERNETES_SERVICE_HOST is not set" in err, err
    assert "kubeapi_url is not set" in err
    assert "kubeapi: asked for by name, but there is nothing to connect to" in err
    assert b"bootstrap.servers=" not in proc.stdout
    # A token file that is not there, named: the same.
    proc = subprocess.run([harness.PRODUCER, "--node-name", NODE, "--collectors", "kubeapi",
                           "--set", "metrics_listen=", "--set",
                           "kubeapi_url=https://127.0.0.1:1", "--set",
                           "kubeapi_token_file=/nonexistent/token"], env=clean_env(),
                          capture_output=True, timeout=60)
    err = proc.stderr.decode()
    assert proc.returncode == 2, (proc.returncode, err)
    assert "kubeapi_token_file /nonexistent/token: No such file or directory" in err, err


if __name__ == "__main__":
    harness.require_root()
    TESTS = [
        test_pods_present_at_start,
        test_pod_added_restarted_deleted_and_other_nodes,
        test_410_mid_stream_relists_exactly,
        test_restart_resumes_without_duplicates,
        test_token_rotated_continues,
        test_events,
        test_hostile_stream_is_skipped_and_counted,
        test_in_cluster_environment,
        test_not_in_a_cluster_is_skipped,
        test_named_with_nothing_to_connect_to_exits_2,
        test_api_server_away_30s,
    ]
    # Arguments: names of tests to run alone.
    sys.exit(harness.run_tests([t for t in TESTS if not sys.argv[1:] or t.__name__ in sys.argv]))
