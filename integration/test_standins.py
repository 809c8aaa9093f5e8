#!/usr/bin/python3
"""The stand-ins for the API server and the kubelet (integration/standins/) are faithful: real,
independent clients -- Debian's kubectl (kubernetes-client), python3-kubernetes and curl -- see
exactly what the stand-ins serve, in the scenarios the collector tests use: field-selected lists
from the cache and paginated, watches split across chunks and cut mid-object, bookmarks, 410 Gone
both ways, 429 with Retry-After, token rotation, an API server away and back, a silent watch,
Events with their field selectors, and the kubelet's Summary API, /pods, auth answers and faults.

Every served pod and Event must deserialize into python3-kubernetes' models and serialize back to
the same JSON: a field with a wrong name or type would not survive the round trip. curl (libcurl,
the collectors' HTTP client) shows the raw bytes: chunking, gzip, HTTP/1.1, a cut stream.

KUBECTL=/path/to/kubectl[:/other/kubectl] runs the kubectl checks with those binaries (default:
the kubectl on PATH). Needs no root."""
import datetime
import http.client
import json
import os
import queue
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading

import urllib3

import kubernetes.client as kc
import kubernetes.client.models.events_v1_event as events_v1_event_model
import kubernetes.config.incluster_config as incluster
from kubernetes import watch
from kubernetes.client.rest import ApiException

import harness
from standins import model
from standins.kubeapi import KubeAPI
from standins.kubelet import Kubelet, gojson_indent, omit
from standins.pki import PKI

PKI_ = None
TMP = None
KUBECTLS = []
NODE_A = "spec.nodeName=node-a"


# python3-kubernetes

def py_client(api, token):
    cfg = kc.Configuration()
    cfg.host = api.url
    cfg.ssl_ca_cert = api.ca_file
    cfg.api_key = {"authorization": "Bearer " + token}
    return kc.ApiClient(cfg)


class _LenientConfiguration(kc.Configuration):
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.client_side_validation = False


# python3-kubernetes 22's EventsV1Event refuses a null eventTime, yet the API server serves null
# for every Event recorded through core/v1 (the kubelet's): the model's own check is switched off.
# (Its models build a fresh Configuration, so the client's setting does not reach them.)
events_v1_event_model.Configuration = _LenientConfiguration


def deserialize(client, body, klass):
    return client.deserialize(type("Response", (), {"data": body})(), klass)


def normalise(x):
    """JSON as python3-kubernetes serialises it back: no nulls, times as instants."""
    if isinstance(x, dict):
        return {k: normalise(v) for k, v in x.items() if v is not None}
    if isinstance(x, list):
        return [normalise(v) for v in x]
    if isinstance(x, datetime.datetime):
        return x.timestamp()
    if isinstance(x, str) and len(x) >= 20 and x[4:5] == "-" and x[10:11] == "T":
        try:
            return model.parse_time(x)
        except ValueError:
            return x
    return x


def first_difference(a, b, path=""):
    if type(a) is not type(b):
        return "%s: %r != %r" % (path, a, b)
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return "%s.%s only on the %s side" % (path, k, "served" if k in b else "client")
            d = first_difference(a[k], b[k], path + "." + k)
            if d:
                return d
    elif isinstance(a, list):
        if len(a) != len(b):
            return "%s: %d items != %d" % (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, "%s[%d]" % (path, i))
            if d:
                return d
    elif a != b:
        return "%s: %r != %r" % (path, a, b)
    return None


def assert_round_trip(client, model_obj, served):
    """The model object python3-kubernetes made of `served` serialises back to it."""
    back = without_type(normalise(client.sanitize_for_serialization(model_obj)))
    d = first_difference(back, without_type(normalise(served)))
    assert d is None, "python3-kubernetes does not read back what was served: %s" % d


def expect_api_error(call, status):
    """The ApiException a call raises; fails if it returns."""
    try:
        call()
    except ApiException as e:
        assert e.status == status, (e.status, e.reason, e.body)
        return e
    raise AssertionError("no %d" % status)


def status_body(code, reason, message, details=None):
    s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
         "message": message, "reason": reason}
    if details is not None:
        s["details"] = details
    s["code"] = code
    return s


# kubectl

class Kubectl:
    def __init__(self, binary, api, token=None, token_file=None):
        self.binary = binary
        self.home = tempfile.mkdtemp(dir=TMP)
        self.config = os.path.join(self.home, "kubeconfig")
        api.kubeconfig(self.config, token or "")
        if token_file:
            with open(self.config) as f:
                cfg = json.load(f)
            cfg["users"][0]["user"] = {"tokenFile": token_file}
            with open(self.config, "w") as f:
                json.dump(cfg, f)
        self.env = dict(os.environ, HOME=self.home, KUBECONFIG=self.config)

    def run(self, *args, check=True):
        r = subprocess.run([self.binary, *args], env=self.env, capture_output=True, text=True,
                           timeout=120)
        if check and r.returncode != 0:
            raise AssertionError("%s %s: exit %d: %s"
                                 % (self.binary, " ".join(args), r.returncode, r.stderr))
        return r

    def json(self, *args):
        return json.loads(self.run(*args, "-o", "json").stdout)

    def items(self, *args):
        return self.json("get", *args)["items"]

    def stream(self, *args):
        return JsonStream(subprocess.Popen([self.binary, *args], env=self.env,
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE))


class JsonStream:
    """The JSON documents a process prints, one after another, as they come."""

    def __init__(self, proc):
        self.proc = proc
        self.q = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buf = ""
        dec = json.JSONDecoder()
        while True:
            data = os.read(self.proc.stdout.fileno(), 65536)
            if not data:
                self.q.put(None)
                return
            buf += data.decode()
            while True:
                s = buf.lstrip()
                try:
                    obj, end = dec.raw_decode(s)
                except ValueError:
                    break
                self.q.put(obj)
                buf = s[end:]

    def next(self, timeout=30):
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("kubectl printed nothing within %ss" % timeout) from None

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        return self.proc.stderr.read().decode()


def without_type(obj):
    return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}


def printed(obj):
    """What kubectl prints of an object: kubectl from 1.21 on leaves managedFields out."""
    obj = without_type(obj)
    obj["metadata"] = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
    return obj


def unauthorized(stderr):
    # kubectl 1.20 prints the Status reason, later ones client-go's wording of a 401.
    return "Unauthorized" in stderr or "provide credentials" in stderr


# Scenes

def new_api(**kw):
    api = KubeAPI(pki=PKI_, **kw).start()
    api.add_token("tok")
    return api


def node_a_and_b(api, count_a=40, count_b=10):
    for p in model.node_pods("node-a", count_a) + model.node_pods("node-b", count_b):
        api.create_pod(p)
    api.create_pod(model.make_pod("pending-1", "shop", None))


def names(objs):
    return [o["metadata"]["name"] for o in objs]


def make_events(api):
    a, b = api.pods("node-a")[:2]
    am, bm = a["metadata"], b["metadata"]
    evs = [model.pod_event(a, "Pulled", 'Container image "%s" already present on machine'
                           % a["spec"]["containers"][0]["image"], container="app"),
           model.pod_event(a, "BackOff", "Back-off restarting failed container app in pod %s_%s(%s)"
                           % (am["name"], am["namespace"], am["uid"]), "Warning", container="app",
                           count=4),
           model.pod_event(b, "Scheduled", "Successfully assigned %s/%s to node-a"
                           % (bm["namespace"], bm["name"]), api="events",
                           reporting_controller="default-scheduler",
                           reporting_instance="default-scheduler-cp-1", action="Binding"),
           model.node_event("node-a", "NodeNotReady", "Node node-a status is now: NodeNotReady",
                            "Warning", reporting_controller="node-controller",
                            reporting_instance=""),
           model.node_event("node-b", "Starting", "Starting kubelet.")]
    return a, b, [api.create_event(e) for e in evs]


# kubectl against the API server stand-in

def test_kubectl_lists_exactly_the_node_pods():
    api = new_api()
    try:
        node_a_and_b(api)
        want = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in api.pods("node-a")}
        for binary in KUBECTLS:
            k = Kubectl(binary, api, "tok")
            got = k.items("pods", "-A", "--field-selector", NODE_A)
            assert len(got) == len(want) == 40, (len(got), len(want))
            for item in got:
                key = (item["metadata"]["namespace"], item["metadata"]["name"])
                assert printed(item) == printed(want[key]), "kubectl saw %s/%s differently" % key
                served = want[key]["metadata"]["managedFields"]
                assert item["metadata"].get("managedFields", served) == served
            # 40 pods are over 128 KiB: gzip, as client-go accepts it.
            lists = [r for r in api.requests if r.path == "/api/v1/pods"]
            assert lists[-1].content_encoding == "gzip", lists[-1].headers
            # Paginated: chunks of 7 with continue tokens, the same 51 pods in key order.
            since = len(api.requests)
            got = k.items("pods", "-A", "--chunk-size", "7")
            assert [printed(i) for i in got] == [printed(p) for p in api.pods()], "pages differ"
            pages = [r for r in api.requests[since:] if r.path == "/api/v1/pods"]
            assert len(pages) == 8 and all(r.query.get("limit") == "7" for r in pages), pages
            assert "continue" not in pages[0].query, pages
            assert all("continue" in r.query for r in pages[1:]), pages
            # The != form in a namespace: everything of "shop" not on node-a, unscheduled too.
            got = k.items("pods", "-n", "shop", "--field-selector", "spec.nodeName!=node-a")
            assert names(got) == names(p for p in api.pods() if p["metadata"]["namespace"] == "shop"
                                       and p["spec"].get("nodeName") != "node-a"), got
            assert "pending-1" in names(got)
            # A field the server does not index: 400 with the real server's message.
            r = k.run("get", "pods", "-A", "--field-selector", "spec.foo=x", check=False)
            assert r.returncode != 0 and "field label not supported: spec.foo" in r.stderr, r.stderr
    finally:
        api.stop()


def watch_scenario(api, stream, initial):
    """Drives pod changes while kubectl watches node-a; checks each printed event against the
    stand-in's object."""
    seen = [stream.next() for _ in range(initial)]
    assert all(e["type"] == "ADDED" for e in seen), seen
    assert sorted(names(e["object"] for e in seen)) == sorted(names(api.pods("node-a")))
    api.wait_watch(lambda w: w.resource == "pods")
    added = api.create_pod(model.make_pod("web-7d4b9c-x2x9z", "shop", "node-a"))
    restarted = api.restart_container("shop", "web-7d4b9c-x2x9z", "app", exit_code=3)
    moved = api.move_pod("shop", "web-7d4b9c-x2x9z", "node-b")
    victim = api.pods("node-a")[0]["metadata"]
    deleting = api.update_pod(victim["namespace"], victim["name"], model.mark_deleting)
    deleted = api.delete_pod(victim["namespace"], victim["name"], graceful=False)
    for want_type, want in (("ADDED", added), ("MODIFIED", restarted), ("DELETED", None),
                            ("MODIFIED", deleting), ("DELETED", deleted)):
        e = stream.next()
        assert e["type"] == want_type, (want_type, e["type"])
        if want is None:
            # Left the field selector: DELETED with the last content seen, at the new RV.
            assert e["object"]["spec"]["nodeName"] == "node-a", e["object"]["spec"]
            rv = e["object"]["metadata"]["resourceVersion"]
            assert rv == moved["metadata"]["resourceVersion"], rv
        else:
            assert printed(e["object"]) == printed(want), "kubectl printed another " + want_type
    s = restarted["status"]["containerStatuses"][0]
    assert s["restartCount"] == 1 and s["lastState"]["terminated"]["exitCode"] == 3, s


def test_kubectl_watch_events_split_across_chunks():
    every_kind = ("key", "string", "escape", "unicode_escape", "utf8", "newline")
    for binary in KUBECTLS:
        for split in (every_kind, 1, 7):
            api = new_api()
            try:
                for p in model.node_pods("node-a", 6) + model.node_pods("node-b", 3):
                    api.create_pod(p)
                if isinstance(split, int):
                    api.split_events(every=split)
                else:
                    api.split_events(*split)
                stream = Kubectl(binary, api, "tok").stream(
                    "get", "pods", "-A", "-w", "-o", "json", "--output-watch-events",
                    "--field-selector", NODE_A)
                try:
                    watch_scenario(api, stream, 6)
                finally:
                    stream.close()
                if not isinstance(split, int):
                    # Every kind of cut was made (events carry escapes and non-ASCII text).
                    counts = api.split_counts
                    assert set(counts) == set(split) and min(counts.values()) >= 5, counts
            finally:
                api.stop()


def test_kubectl_watch_cut_mid_object():
    for binary in KUBECTLS:
        api = new_api()
        try:
            for p in model.node_pods("node-a", 3):
                api.create_pod(p)
            stream = Kubectl(binary, api, "tok").stream(
                "get", "pods", "-A", "-w", "-o", "json", "--output-watch-events")
            try:
                for _ in range(3):
                    stream.next()
                w = api.wait_watch()
                before = api.create_pod(model.make_pod("before-cut", "shop", "node-a"))
                api.wait(lambda: w.sent == 1)
                api.cut_next_event()
                api.create_pod(model.make_pod("cut-in-half", "shop", "node-a"))
                e = stream.next()
                assert e["type"] == "ADDED" and printed(e["object"]) == printed(before), e
                # The cut object never appears: the stream ends at the unexpected EOF.
                assert stream.next() is None
            finally:
                stream.close()
            watch_req = api.wait_request(lambda r: r.watch and r.ended)
            assert watch_req.end_reason == "cut", watch_req.end_reason
        finally:
            api.stop()


def test_kubectl_retries_429_after_retry_after():
    api = new_api()
    try:
        node_a_and_b(api, 2, 1)
        for binary in KUBECTLS:
            since = len(api.requests)
            api.throttle(1, retry_after=1, match="/api/v1/pods")
            api.throttle(1, retry_after=1, match="/api/v1/pods", form="status")
            assert len(Kubectl(binary, api, "tok").items("pods", "-A")) == 4
            statuses = [r.status for r in api.requests[since:] if r.path == "/api/v1/pods"]
            # client-go honours Retry-After on a 429, plain text or Status, and retries.
            assert statuses == [429, 429, 200], statuses
    finally:
        api.stop()


def test_kubectl_events_and_their_field_selectors():
    api = new_api()
    try:
        node_a_and_b(api, 3, 1)
        a, b, evs = make_events(api)
        events = "events.v1.events.k8s.io"
        for binary in KUBECTLS:
            k = Kubectl(binary, api, "tok")
            got = k.items(events, "-A")
            assert [printed(i) for i in got] == [printed(e) for e in api.events()], "events differ"
            got = k.items(events, "-A", "--field-selector",
                          "regarding.kind=Pod,regarding.name=" + a["metadata"]["name"])
            assert sorted(i["reason"] for i in got) == ["BackOff", "Pulled"], got
            got = k.items(events, "-n", "default", "--field-selector",
                          "regarding.kind=Node,regarding.name=node-a,type=Warning")
            assert [printed(i) for i in got] == [printed(evs[3])], got
            got = k.items(events, "-A", "--field-selector", "reportingController=default-scheduler")
            assert [i["reason"] for i in got] == ["Scheduled"], got
            # events.k8s.io has no involvedObject: the real server refuses it.
            r = k.run("get", events, "-A", "--field-selector", "involvedObject.name=x", check=False)
            assert r.returncode != 0, r.stdout
            assert "field label not supported: involvedObject.name" in r.stderr, r.stderr
    finally:
        api.stop()


def test_kubectl_token_rotation():
    api = new_api()
    try:
        node_a_and_b(api, 2, 0)
        sa = api.serviceaccount(os.path.join(tempfile.mkdtemp(dir=TMP), "sa"))
        old = sa.token
        for binary in KUBECTLS:
            assert len(Kubectl(binary, api, old).items("pods", "-A")) == 3
        api.rotate_token(sa)
        for binary in KUBECTLS:
            r = Kubectl(binary, api, old).run("get", "pods", "-A", check=False)
            assert r.returncode != 0 and unauthorized(r.stderr), r.stderr
            # tokenFile reads the file through the ..data symlink: the new token.
            k = Kubectl(binary, api, token_file=sa.token_file)
            assert len(k.items("pods", "-A")) == 3
        assert any(r.status == 401 for r in api.requests), "no 401 seen"
    finally:
        api.stop()


# curl: libcurl, the HTTP client the collectors are written against

def curl(api, path, *extra, token="tok"):
    """curl's argv for a GET; prints the body, then a line with the HTTP version and status."""
    return ["curl", "-sS", "-N", "--cacert", api.ca_file, "-H", "Authorization: Bearer " + token,
            "-w", "\n%{http_version} %{response_code}", *extra, api.url + path]


def watch_line(type_, pod):
    event = {"type": type_, "object": {"kind": "Pod", "apiVersion": "v1", **pod}}
    return model.gojson(event) + b"\n"


def test_curl_sees_the_bytes_served():
    api = new_api()
    try:
        node_a_and_b(api, 40, 5)
        # A list over 128 KiB: gzip when asked for, over HTTP/1.1 (the only protocol offered).
        r = subprocess.run(curl(api, "/api/v1/pods?fieldSelector=%s&resourceVersion=0" % NODE_A,
                                "--compressed"), capture_output=True, timeout=60)
        body, trailer = r.stdout.rsplit(b"\n", 1)
        assert r.returncode == 0 and trailer == b"1.1 200", (r.returncode, trailer, r.stderr)
        assert api.requests[-1].content_encoding == "gzip"
        # For curl's User-Agent the API server pretty-prints.
        assert body.startswith(b'{\n  "kind": "PodList",\n  "apiVersion": "v1",'), body[:80]
        assert json.loads(body) == {"kind": "PodList", "apiVersion": "v1",
                                    "metadata": {"resourceVersion": str(api.rv)},
                                    "items": api.pods("node-a")}
        # A watch written one byte per chunk and ended by its timeout: curl's output is the
        # served lines, byte for byte, and ends cleanly at the last chunk.
        api.split_events(every=1)
        p = subprocess.Popen(curl(api, "/api/v1/pods?watch=1&timeoutSeconds=2&resourceVersion=%d"
                                  % api.rv), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        w = api.wait_watch()
        added = api.create_pod(model.make_pod("web-1", "shop", "node-a"))
        restarted = api.crash_loop("shop", "web-1", "app")
        hostile = b'{"type":"MODIFIED","object":[]}\n'  # what a collector must count and skip
        api.send_raw(hostile)
        out, err = p.communicate(timeout=60)
        want = b"".join(watch_line(t, o) for t, o in (("ADDED", added), ("MODIFIED", restarted)))
        want += hostile
        assert p.returncode == 0 and out == want + b"\n1.1 200", (p.returncode, err, out[-200:])
        assert w.closed == "timeout"
        # A stream cut mid-object: curl keeps the whole first line and half of the second, and
        # reports the transfer closed with data outstanding.
        api.split_events()
        p = subprocess.Popen(curl(api, "/api/v1/pods?watch=1&resourceVersion=%d" % api.rv),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        w = api.wait_watch()
        first = api.create_pod(model.make_pod("web-2", "shop", "node-a"))
        api.wait(lambda: w.sent == 1)
        api.cut_next_event(at=0.5)
        second = api.create_pod(model.make_pod("web-3", "shop", "node-a"))
        out, err = p.communicate(timeout=60)
        lines = [watch_line("ADDED", o) for o in (first, second)]
        assert p.returncode == 18, (p.returncode, err)  # CURLE_PARTIAL_FILE
        got = out.rsplit(b"\n", 1)[0]  # without curl's status line
        assert got == lines[0] + lines[1][:len(lines[1]) // 2], got[-200:]
    finally:
        api.stop()


# python3-kubernetes against the API server stand-in

def test_python_list_from_cache_deserialises_every_field():
    api = new_api()
    try:
        for p in model.node_pods("node-a", 250) + model.node_pods("node-b", 20):
            api.create_pod(p)
        client = py_client(api, "tok")
        v1 = kc.CoreV1Api(client)
        since = len(api.requests)
        got = v1.list_pod_for_all_namespaces(field_selector=NODE_A, resource_version="0",
                                             limit=100)
        query = api.requests[since].query
        assert query == {"fieldSelector": NODE_A, "resourceVersion": "0", "limit": "100"}, query
        # From the cache: limit is ignored, everything comes at once at the current RV.
        assert got.metadata.resource_version == str(api.rv) and got.metadata._continue is None
        served = api.pods("node-a")
        assert len(got.items) == len(served) == 250
        for pod, want in zip(got.items, served):
            assert isinstance(pod, kc.V1Pod)
            assert_round_trip(client, pod, want)
        # The typed model holds the states the collector maps.
        statuses = [s for p in got.items for s in p.status.container_statuses or []]
        reasons = {s.state.waiting.reason for s in statuses if s.state.waiting}
        assert {"CrashLoopBackOff", "ImagePullBackOff"} <= reasons, reasons
        oom = [s for s in statuses
               if s.last_state.terminated and s.last_state.terminated.reason == "OOMKilled"]
        assert oom and all(s.last_state.terminated.exit_code == 137 and s.restart_count == 1
                           for s in oom)
        # kubectl sees the same list.
        for binary in KUBECTLS:
            items = Kubectl(binary, api, "tok").items("pods", "-A", "--field-selector", NODE_A)
            assert [printed(i) for i in items] == [printed(p) for p in served]
    finally:
        api.stop()


def test_python_watch_with_bookmarks_and_timeout():
    api = new_api(bookmark_interval=3600)
    try:
        node_a_and_b(api, 5, 5)
        client = py_client(api, "tok")
        v1 = kc.CoreV1Api(client)
        listed = v1.list_pod_for_all_namespaces(field_selector=NODE_A, resource_version="0")
        out = {}

        def drive():
            try:
                w = api.wait_watch()
                out["query"] = dict(w.req.query)
                out["added"] = api.create_pod(model.make_pod("web-1", "shop", "node-a"))
                api.bookmark()
                api.wait(lambda: w.sent >= 2)
                out["bookmark_rv"] = str(api.rv)
                out["restarted"] = api.oom_kill("shop", "web-1", "app")
                out["other"] = api.create_pod(model.make_pod("elsewhere-1", "shop", "node-b"))
                out["arrived"] = api.move_pod("shop", "elsewhere-1", "node-a")
                out["left"] = api.move_pod("shop", "web-1", "node-b")
            except Exception as e:  # surfaces in the main thread's assertions
                out["error"] = e
        t = threading.Thread(target=drive)
        t.start()
        # With timeout_seconds the client makes one request; the server ends it at the timeout.
        events = list(watch.Watch().stream(
            v1.list_pod_for_all_namespaces, field_selector=NODE_A,
            resource_version=listed.metadata.resource_version, allow_watch_bookmarks=True,
            timeout_seconds=4, _request_timeout=60))
        t.join()
        assert "error" not in out, out.get("error")
        assert out["query"] == {"fieldSelector": NODE_A,
                                "resourceVersion": listed.metadata.resource_version,
                                "allowWatchBookmarks": "True", "timeoutSeconds": "4",
                                "watch": "True"}, out["query"]
        types = [e["type"] for e in events]
        # The last bookmark is the one the watch cache sends just before the deadline.
        assert types == ["ADDED", "BOOKMARK", "MODIFIED", "ADDED", "DELETED", "BOOKMARK"], types
        added, bm, modified, arrived, left, last_bm = events
        assert_round_trip(client, added["object"], out["added"])
        assert bm["raw_object"] == {
            "kind": "Pod", "apiVersion": "v1",
            "metadata": {"resourceVersion": out["bookmark_rv"], "creationTimestamp": None},
            "spec": {"containers": None}, "status": {}}, bm["raw_object"]
        assert_round_trip(client, modified["object"], out["restarted"])
        term = modified["object"].status.container_statuses[0].last_state.terminated
        assert term.reason == "OOMKilled" and term.exit_code == 137, term
        assert_round_trip(client, arrived["object"], out["arrived"])
        left_rv = out["left"]["metadata"]["resourceVersion"]
        assert left["object"].metadata.resource_version == left_rv
        assert left["object"].spec.node_name == "node-a"
        assert last_bm["raw_object"]["metadata"]["resourceVersion"] == str(api.rv)
        req = api.wait_request(lambda r: r.watch and r.ended)
        assert req.end_reason == "timeout", req.end_reason
    finally:
        api.stop()


def test_python_410_gone_both_ways():
    api = new_api()
    try:
        node_a_and_b(api, 3, 1)
        v1 = kc.CoreV1Api(py_client(api, "tok"))
        old = v1.list_pod_for_all_namespaces(resource_version="0").metadata.resource_version
        api.create_pod(model.make_pod("after-1", "shop", "node-a"))
        api.compact()
        too_old = "too old resource version: %s (%d)" % (old, api.rv)

        # The watch cache's way: 200, then an ERROR event carrying a 410 Status.
        def watch_old():
            for _ in watch.Watch().stream(v1.list_pod_for_all_namespaces, resource_version=old,
                                          timeout_seconds=30):
                raise AssertionError("an event from a compacted resourceVersion")
        e = expect_api_error(watch_old, 410)
        assert e.reason == "Expired: " + too_old, e.reason
        # Ahead of the server: an ERROR event too, with a 504 Status.
        def watch_future():
            for _ in watch.Watch().stream(v1.list_pod_for_all_namespaces,
                                          resource_version=str(api.rv + 100), timeout_seconds=30):
                raise AssertionError("an event from the future")
        e = expect_api_error(watch_future, 504)
        assert e.reason == "Timeout: Timeout: Too large resource version: %d, current: %d" % (
            api.rv + 100, api.rv), e.reason
        # As an HTTP status.
        api.gone_mode = "http"
        e = expect_api_error(lambda: v1.list_pod_for_all_namespaces(
            watch=True, resource_version=old, _preload_content=False), 410)
        assert json.loads(e.body) == status_body(410, "Expired", too_old), e.body

        # Mid-stream: queued events arrive, then the ERROR ends it.
        now = str(api.rv)
        got = []

        def drive():
            api.wait_watch()
            api.create_pod(model.make_pod("mid-1", "shop", "node-a"))
            api.expire_watches()
        t = threading.Thread(target=drive)
        t.start()

        def watch_now():
            for e in watch.Watch().stream(v1.list_pod_for_all_namespaces, resource_version=now,
                                          timeout_seconds=30):
                got.append(e["object"].metadata.name)
        expect_api_error(watch_now, 410)
        t.join()
        assert got == ["mid-1"], got

        # Lists that read a revision: Exact and continue.
        e = expect_api_error(lambda: v1.list_pod_for_all_namespaces(
            resource_version=old, resource_version_match="Exact"), 410)
        assert json.loads(e.body)["message"] == "The resourceVersion for the provided list is " \
                                                "too old.", e.body
        page = v1.list_pod_for_all_namespaces(limit=2)
        assert page.metadata._continue
        assert page.metadata.remaining_item_count == len(api.pods()) - 2
        # Sorts after the first page: a list of the current state would hold it.
        api.create_pod(model.make_pod("zzz-new", "zzz", "node-a"))
        rest = v1.list_pod_for_all_namespaces(limit=100, _continue=page.metadata._continue)
        # The continued list is the snapshot of the first page: the new pod is not in it.
        assert [p.metadata.name for p in page.items + rest.items] == \
            [n for n in names(api.pods()) if n != "zzz-new"]
        api.compact()
        e = expect_api_error(lambda: v1.list_pod_for_all_namespaces(
            limit=100, _continue=page.metadata._continue), 410)
        assert "continue parameter is too old" in json.loads(e.body)["message"], e.body
    finally:
        api.stop()


def test_python_in_cluster_config_and_token_rotation():
    api = new_api()
    try:
        node_a_and_b(api, 2, 0)
        sa = api.serviceaccount(os.path.join(tempfile.mkdtemp(dir=TMP), "sa"))
        assert os.path.islink(sa.token_file) and os.readlink(sa.token_file) == "..data/token"

        def in_cluster():
            cfg = kc.Configuration()
            incluster.InClusterConfigLoader(
                token_filename=sa.token_file, cert_filename=sa.ca_file, environ=api.env(),
                try_refresh_token=False).load_and_set(cfg)
            return kc.CoreV1Api(kc.ApiClient(cfg))
        before = in_cluster()
        assert len(before.list_pod_for_all_namespaces().items) == 3
        api.rotate_token(sa)
        e = expect_api_error(before.list_pod_for_all_namespaces, 401)
        assert json.loads(e.body) == status_body(401, "Unauthorized", "Unauthorized"), e.body
        assert len(in_cluster().list_pod_for_all_namespaces().items) == 3
        # A token without the right to list pods: 403 with the real server's wording.
        api.add_token("events-only", "system:serviceaccount:tapio:events", allow={"events"})
        v1 = kc.CoreV1Api(py_client(api, "events-only"))
        e = expect_api_error(lambda: v1.list_namespaced_pod("shop"), 403)
        assert json.loads(e.body) == status_body(
            403, "Forbidden", 'pods is forbidden: User "system:serviceaccount:tapio:events" '
            'cannot list resource "pods" in API group "" in the namespace "shop"',
            {"kind": "pods"}), e.body
    finally:
        api.stop()


def test_python_events_v1():
    api = new_api(bookmark_interval=3600)
    try:
        node_a_and_b(api, 3, 1)
        a, b, evs = make_events(api)
        client = py_client(api, "tok")
        ev1 = kc.EventsV1Api(client)
        got = ev1.list_event_for_all_namespaces(
            field_selector="regarding.uid=" + a["metadata"]["uid"])
        assert sorted(e.reason for e in got.items) == ["BackOff", "Pulled"]
        by_name = {e["metadata"]["name"]: e for e in evs}
        for e in got.items:
            assert_round_trip(client, e, by_name[e.metadata.name])
        got = ev1.list_namespaced_event("default",
                                        field_selector="regarding.kind=Node,regarding.name=node-a")
        assert [e.reason for e in got.items] == ["NodeNotReady"]
        assert got.items[0].event_time is None and got.items[0].deprecated_count == 1
        sched = ev1.list_event_for_all_namespaces(field_selector="reason=Scheduled").items[0]
        assert isinstance(sched.event_time, datetime.datetime)
        assert sched.event_time.microsecond == int(evs[2]["eventTime"][20:26]), sched.event_time
        rv = got.metadata.resource_version
        out = {}

        def drive():
            api.wait_watch()
            for key, ev in (("series", evs[2]), ("core", evs[1])):
                out[key] = api.update_event(ev["metadata"]["namespace"], ev["metadata"]["name"],
                                            model.bump_series)
            api.bookmark()
        t = threading.Thread(target=drive)
        t.start()
        seen = []
        for e in watch.Watch().stream(ev1.list_event_for_all_namespaces, resource_version=rv,
                                      allow_watch_bookmarks=True, timeout_seconds=30):
            seen.append(e)
            if e["type"] == "BOOKMARK":
                break
        t.join()
        assert [e["type"] for e in seen] == ["MODIFIED", "MODIFIED", "BOOKMARK"], seen
        assert seen[0]["object"].series.count == 2 and seen[1]["object"].deprecated_count == 5
        assert_round_trip(client, seen[0]["object"], out["series"])
        assert_round_trip(client, seen[1]["object"], out["core"])
        bookmark = seen[2]["raw_object"]
        assert (bookmark["kind"], bookmark["apiVersion"]) == ("Event", "events.k8s.io/v1")
    finally:
        api.stop()


def test_python_faults():
    api = new_api()
    try:
        node_a_and_b(api, 3, 1)
        v1 = kc.CoreV1Api(py_client(api, "tok"))
        # urllib3 (under python3-kubernetes) honours Retry-After on a 429 and retries.
        since = len(api.requests)
        api.throttle(1, retry_after=1)
        assert len(v1.list_pod_for_all_namespaces().items) == 5
        assert [r.status for r in api.requests[since:]] == [429, 200]
        # Without retries the client sees the 429 itself: the filters' plain text, or a Status.
        no_retry = py_client(api, "tok")
        no_retry.configuration.retries = False
        no_retry.rest_client = kc.rest.RESTClientObject(no_retry.configuration)
        api.throttle(1, retry_after=2)
        e = expect_api_error(kc.CoreV1Api(no_retry).list_pod_for_all_namespaces, 429)
        assert e.headers["Retry-After"] == "2", e.headers
        assert e.headers["Content-Type"] == "text/plain; charset=utf-8", e.headers
        assert e.body == "Too many requests, please try again later.\n", e.body
        api.throttle(1, retry_after=3, form="status")
        e = expect_api_error(kc.CoreV1Api(no_retry).list_pod_for_all_namespaces, 429)
        assert e.headers["Retry-After"] == "3", e.headers
        assert json.loads(e.body) == status_body(
            429, "TooManyRequests", "storage is (re)initializing", {"retryAfterSeconds": 3}), e.body
        e = expect_api_error(
            lambda: v1.list_pod_for_all_namespaces(field_selector="spec.foo=x"), 400)
        assert json.loads(e.body)["message"] == "field label not supported: spec.foo", e.body

        # Away: connections refused; back: the same state at the same port.
        rv, port, before = api.rv, api.port, names(api.pods())
        api.away()
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, "still listening"
        try:
            v1.list_pod_for_all_namespaces(_request_timeout=5)
            raise AssertionError("answered while away")
        except urllib3.exceptions.MaxRetryError as e:
            assert "Connection refused" in str(e.reason), e.reason
        api.back()
        got = v1.list_pod_for_all_namespaces()
        assert api.port == port and got.metadata.resource_version == str(rv)
        assert [p.metadata.name for p in got.items] == before

        # An open watch is reset by away().
        done = {}

        def watch_until_reset():
            try:
                for _ in watch.Watch().stream(v1.list_pod_for_all_namespaces,
                                              resource_version=str(rv), timeout_seconds=60,
                                              _request_timeout=60):
                    pass
                done["ended"] = "cleanly"
            except (urllib3.exceptions.HTTPError, ConnectionError, ssl.SSLError) as e:
                done["ended"] = type(e).__name__
        t = threading.Thread(target=watch_until_reset)
        t.start()
        api.wait_watch()
        api.away()
        t.join(30)
        assert done.get("ended") and done["ended"] != "cleanly", done
        api.back()

        # A silent watch: 200, then nothing, not even at its timeout; the client's read times out.
        api.silence_next_watches(1)
        since = len(api.requests)
        try:
            for _ in watch.Watch().stream(v1.list_pod_for_all_namespaces,
                                          resource_version=str(rv), timeout_seconds=1,
                                          _request_timeout=(5, 3)):
                raise AssertionError("an event on a silent watch")
            raise AssertionError("a silent watch ended")
        except urllib3.exceptions.ReadTimeoutError:
            pass
        w = api.wait_request(lambda r: r.watch and r.ended, since=since)
        assert w.status == 200 and w.end_reason == "client", (w.status, w.end_reason)
    finally:
        api.stop()


# The kubelet stand-in

def https_get(url, ca, token=None, timeout=30):
    scheme, _, hostport, path = url.split("/", 3)
    host, port = hostport.rsplit(":", 1)
    if scheme == "https:":
        conn = http.client.HTTPSConnection(host, int(port), timeout=timeout,
                                           context=ssl.create_default_context(cafile=ca))
    else:
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    conn.request("GET", "/" + path, headers={"Authorization": "Bearer " + token} if token else {})
    r = conn.getresponse()
    return r, r.read()


def test_kubelet_summary_and_pods():
    api = new_api()
    # Beside the API server stand-in: its CA, its pods, its tokens.
    kl = Kubelet("node-a", api=api).start()
    try:
        for p in model.node_pods("node-a", 250) + model.node_pods("node-b", 5):
            api.create_pod(p)
        api.add_token("pods-only", user="system:serviceaccount:tapio:tapio",
                      allow={"nodes/proxy"})
        summary = None
        for binary in KUBECTLS:
            k = Kubectl(binary, api, "tok")
            served_before = len(kl.served)
            raw = k.run("get", "--raw", "/stats/summary", "--server", kl.url).stdout
            summary = kl.served[served_before][1]
            assert json.loads(raw) == summary, "kubectl read a different summary"
            # go-restful pretty-prints: MarshalIndent(v, " ", " ").
            assert raw.startswith('{\n  "node": {\n   "nodeName": "node-a",'), raw[:60]
            assert raw.endswith('\n }'), raw[-20:]
            pods = json.loads(k.run("get", "--raw", "/pods", "--server", kl.url).stdout)
            assert pods["kind"] == "PodList" and len(pods["items"]) == 250
            r = Kubectl(binary, api, "wrong").run("get", "--raw", "/stats/summary",
                                                  "--server", kl.url, check=False)
            assert r.returncode != 0 and unauthorized(r.stderr), r.stderr
            r = Kubectl(binary, api, "pods-only").run("get", "--raw", "/stats/summary",
                                                      "--server", kl.url, check=False)
            assert r.returncode != 0, r.stdout
            assert ("Forbidden (user=system:serviceaccount:tapio:tapio, verb=get, "
                    "resource=nodes, subresource=stats)") in r.stderr, r.stderr
        # The summary covers the node's pods that have a sandbox (not the Succeeded Jobs), with
        # the kubelet's uid of the static pod (not the mirror's).
        live = [p for p in api.pods("node-a") if p["status"]["phase"] == "Running"]
        mirrors = [p["metadata"].get("annotations", {}).get("kubernetes.io/config.mirror")
                   for p in live]
        assert len([m for m in mirrors if m]) == 1, mirrors
        want = sorted(m or p["metadata"]["uid"] for p, m in zip(live, mirrors))
        assert sorted(p["podRef"]["uid"] for p in summary["pods"]) == want
        # Cumulative counters grow from scrape to scrape; the figures are those of the scrape.
        cpu = [kl.summary(n)["node"]["cpu"]["usageCoreNanoSeconds"] for n in (1, 2, 1)]
        assert cpu[0] < cpu[1] and cpu[0] == cpu[2], cpu
        # /pods deserialises into V1PodList; container ids join the summary's containers.
        client = py_client(api, "tok")
        r, body = https_get(kl.url + "/pods", kl.ca_file, "tok")
        assert r.status == 200
        podlist = deserialize(client, body, "V1PodList")
        for pod, want_pod in zip(podlist.items, json.loads(body)["items"]):
            assert_round_trip(client, pod, want_pod)
        by_uid = {p.metadata.uid: p for p in podlist.items}
        for ps in summary["pods"]:
            pod = by_uid[ps["podRef"]["uid"]]
            ids = {c.name: c.container_id for c in pod.status.container_statuses}
            for c in ps["containers"]:
                assert ids[c["name"]].startswith("containerd://")
                # No memory limit, no availableBytes; host-network pods have no network stats.
                spec = next(x for x in pod.spec.containers if x.name == c["name"])
                limits = spec.resources.limits
                assert ("availableBytes" in c["memory"]) == bool((limits or {}).get("memory"))
            assert ("network" in ps) == (not pod.spec.host_network)
        # One service-account token for both; rotated, the old one is refused by both.
        sa = api.serviceaccount(os.path.join(tempfile.mkdtemp(dir=TMP), "sa"),
                                allow={"pods", "events", "nodes/stats", "nodes/proxy"})
        old = sa.token
        assert https_get(kl.url + "/stats/summary", kl.ca_file, old)[0].status == 200
        api.rotate_token(sa)
        assert https_get(kl.url + "/stats/summary", kl.ca_file, old)[0].status == 401
        assert https_get(kl.url + "/pods", kl.ca_file, sa.token)[0].status == 200
    finally:
        kl.stop()
        api.stop()


def test_kubelet_states_and_faults():
    pods = model.node_pods("node-a", 6)
    kl = Kubelet("node-a", pods, pki=PKI_).start()
    ro = Kubelet("node-a", pods, read_only=True).start()
    selfsigned = Kubelet("node-a", pods, pki=PKI_, self_signed=True).start()
    try:
        kl.add_token("tok")
        ns, name = pods[0]["metadata"]["namespace"], pods[0]["metadata"]["name"]
        client = kc.ApiClient()

        def app_status():
            r, body = https_get(kl.url + "/pods", kl.ca_file, "tok")
            pl = deserialize(client, body, "V1PodList")
            return next(p for p in pl.items if p.metadata.name == name).status.container_statuses[0]
        kl.oom_kill(ns, name, "app")
        s = app_status()
        assert s.restart_count == 1 and s.state.running is not None and s.ready
        term = s.last_state.terminated
        assert (term.reason, term.exit_code) == ("OOMKilled", 137), term
        kl.crash_loop(ns, name, "app")
        s = app_status()
        assert s.state.waiting.reason == "CrashLoopBackOff" and s.restart_count == 2 and not s.ready
        kl.image_pull_backoff(ns, name, "app")
        s = app_status()
        assert s.state.waiting.reason == "ImagePullBackOff" and s.container_id is None
        assert s.image_id == ""

        # Fields left out per test stay out.
        kl.on_summary = lambda sm: omit(sm, "pods.*.containers.*.memory.rssBytes", "node.rlimit")
        r, body = https_get(kl.url + "/stats/summary", kl.ca_file, "tok")
        sm = json.loads(body)
        assert "rlimit" not in sm["node"] and sm["pods"][1]["containers"]
        assert all("rssBytes" not in c["memory"] and "workingSetBytes" in c["memory"]
                   for p in sm["pods"] for c in p["containers"])
        kl.on_summary = None
        # Raw bytes, for hostile-input tests: served as they are.
        hostile = b'{"node": {"nodeName": 7}, "pods": [[[[[[]]]]]]}'
        kl.serve_raw(hostile, match="/stats/summary")
        r, body = https_get(kl.url + "/stats/summary", kl.ca_file, "tok")
        assert (r.status, body) == (200, hostile) and kl.served[-1] == ("/stats/summary", None)

        # A body cut mid-JSON: the client sees the connection end before the body does.
        kl.cut_next(at=0.5, match="/stats/summary")
        try:
            https_get(kl.url + "/stats/summary", kl.ca_file, "tok")
            raise AssertionError("a whole body")
        except http.client.IncompleteRead as e:
            assert 0 < len(e.partial) < len(gojson_indent(kl.served[-1][1]))
        # Slower than the client's timeout: before the headers, and halfway through the body.
        for where in ("headers", "body"):
            kl.delay_next(seconds=30, where=where)
            try:
                https_get(kl.url + "/stats/summary", kl.ca_file, "tok", timeout=1)
                raise AssertionError("answered in time")
            except (socket.timeout, TimeoutError):
                pass
        # Away and back on the same port.
        kl.away()
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", kl.port)) != 0, "still listening"
        kl.back()
        r, body = https_get(kl.url + "/healthz", kl.ca_file, "tok")
        assert r.status == 200 and body == b"ok"
        # 401 is plain text, as the kubelet writes it.
        r, body = https_get(kl.url + "/pods", kl.ca_file)
        assert r.status == 401 and body == b"Unauthorized"
        assert r.getheader("Content-Type") == "text/plain; charset=utf-8"
        # The read-only port: plain HTTP, no token.
        assert ro.url.startswith("http://")
        r, body = https_get(ro.url + "/stats/summary", None)
        assert r.status == 200 and json.loads(body)["node"]["nodeName"] == "node-a"
        # A self-signed serving certificate fails against the cluster CA, verifies against itself.
        try:
            https_get(selfsigned.url + "/healthz", PKI_.ca_file)
            raise AssertionError("a self-signed certificate verified against the CA")
        except ssl.SSLCertVerificationError:
            pass
        selfsigned.add_token("tok")
        r, _ = https_get(selfsigned.url + "/healthz", selfsigned.ca_file, "tok")
        assert r.status == 200
        assert selfsigned.wait(lambda: selfsigned.tls_errors), "the failed handshake not recorded"
    finally:
        for k in (kl, ro, selfsigned):
            k.stop()


def kubectl_version(binary):
    r = subprocess.run([binary, "version", "--client", "-o", "json"], capture_output=True,
                       text=True)
    return json.loads(r.stdout)["clientVersion"]["gitVersion"] if r.returncode == 0 else "?"


def main():
    global PKI_, TMP, KUBECTLS
    KUBECTLS = [k for k in os.environ.get("KUBECTL", "").split(":") if k]
    KUBECTLS = KUBECTLS or [shutil.which("kubectl")]
    if not all(KUBECTLS):
        sys.exit("test_standins needs kubectl (Debian's kubernetes-client; make deps installs it)")
    for k in KUBECTLS:
        print("kubectl %s: %s" % (k, kubectl_version(k)), flush=True)
    TMP = tempfile.mkdtemp(prefix="tapio-standins-")
    os.makedirs(os.path.join(TMP, "pki"))
    PKI_ = PKI(os.path.join(TMP, "pki"))
    try:
        return harness.run_tests([
            test_kubectl_lists_exactly_the_node_pods,
            test_kubectl_watch_events_split_across_chunks,
            test_kubectl_watch_cut_mid_object,
            test_kubectl_retries_429_after_retry_after,
            test_kubectl_events_and_their_field_selectors,
            test_kubectl_token_rotation,
            test_curl_sees_the_bytes_served,
            test_python_list_from_cache_deserialises_every_field,
            test_python_watch_with_bookmarks_and_timeout,
            test_python_410_gone_both_ways,
            test_python_in_cluster_config_and_token_rotation,
            test_python_events_v1,
            test_python_faults,
            test_kubelet_summary_and_pods,
            test_kubelet_states_and_faults,
        ])
    finally:
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
