"""A stand-in for the kubelet's HTTPS API (port 10250) and its read-only port (10255), for the
kubelet collector's tests: GET /stats/summary (the Summary API, stats/v1alpha1) and GET /pods (a
v1 PodList of the node's pods), with the kubelet's authentication answers and the faults of a busy
or dying kubelet. It runs in a thread of the test process; test_standins.py proves it against
kubectl and python3-kubernetes.

Start and connect

    from standins.kubelet import Kubelet
    from standins import model
    k = Kubelet("node-a", pods=model.node_pods("node-a", 250)).start()
    k = Kubelet("node-a", pods=lambda: api.pods("node-a"))   # the pods of a KubeAPI stand-in
    k.url, k.ca_file                   # https://127.0.0.1:<port>, the CA that signed its cert
    k.add_token("tok", user="system:serviceaccount:tapio:tapio", allow=None)
    k.stop()
  Kubelet(node, pods=(), pki=None, read_only=False, self_signed=False, anonymous=False, port=0)
    pods: pod dicts as the API server holds them, or a callable returning them. The kubelet
          serves its own view: mirror pods of static pods carry the kubelet's uid (the config
          hash) and every pod gets the kubernetes.io/config.* annotations.
    read_only: plain HTTP without authentication (the deprecated 10255 port).
    self_signed: a certificate that is its own issuer (what kubelets serve by default);
          k.ca_file is then that certificate.
    anonymous: a request without a token is system:anonymous (403) instead of 401.

Auth, as the kubelet answers (text/plain bodies): no or unknown token -> 401 "Unauthorized";
  a token whose allow set lacks the subresource -> 403 "Forbidden (user=..., verb=get,
  resource=nodes, subresource=stats)". Subresources: /stats -> stats, /pods -> proxy,
  /metrics -> metrics, /healthz -> healthz. allow=None: everything.

Pods (mutations in place, as model.py's): k.set_pods(list), k.add_pod(p), k.remove_pod(ns, name),
  k.update_pod(ns, name, fn), k.restart_container(ns, name, c, **kw), k.oom_kill(...),
  k.crash_loop(...), k.image_pull_backoff(ns, name, c). (With pods=callable, mutate the source.)

Figures: every number is a deterministic function of the pod's and container's position and
  of the scrape number (k.scrapes, + 1 per /stats/summary served), cumulative counters growing
  with it. What was served is kept: k.served is a list of (path, parsed body) for every 200;
  k.summary() builds the next body without serving it. To set exact figures or leave fields
  out, give a hook: k.on_summary = fn(summary) (edit in place), e.g.
      k.on_summary = lambda s: omit(s, "pods.*.containers.*.memory.rssBytes", "node.rlimit")
  The kubelet itself leaves out what it does not have: availableBytes of a container without a
  memory limit, the network of a host-network pod, containers that are not running.

Faults (match: None, a path prefix, or a callable(httpbase.Request)):
    k.delay_next(n=1, seconds=5, where="headers", match=None)  # or where="body": half, then wait
    k.cut_next(n=1, at=0.5, match=None)    # `at` of the body, then the connection drops
    k.fail_next(n=1, code=503, text="...", match=None)
    k.away() / k.back()                     # connection refused for a while, same state after
    k.wait_request(pred, timeout), k.requests   # as for the API server stand-in
Bodies as the kubelet writes them: /stats/summary indented with one space (go-restful's
pretty-printing), /pods compact; Content-Length up to 2 KiB, chunked beyond (Go's net/http).
"""
import copy
import hashlib
import json
import threading

from . import model
from .httpbase import StandInServer
from .kubeapi import bearer_token
from .pki import PKI

MiB = 1 << 20
GiB = 1 << 30


def omit(summary, *paths):
    """Removes fields by dotted path; "*" walks every element of a list (or value of a dict)."""
    for path in paths:
        _omit(summary, path.split("."))
    return summary


def _omit(obj, parts):
    head, rest = parts[0], parts[1:]
    targets = []
    if head == "*":
        targets = obj if isinstance(obj, list) else list(obj.values()) if isinstance(obj, dict) else []
    elif isinstance(obj, dict) and head in obj:
        if not rest:
            del obj[head]
            return
        targets = [obj[head]]
    for t in targets:
        if rest:
            _omit(t, rest)


def gojson_indent(obj):
    """json.MarshalIndent(v, "", " ") as go-restful pretty-prints a response."""
    s = json.dumps(obj, ensure_ascii=False, indent=" ", separators=(",", ": "), allow_nan=False)
    s = (s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
         .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
    return s.encode()


def kubelet_view(pod):
    """The pod as the kubelet holds it: a mirror pod becomes its static pod (uid = config hash)."""
    p = copy.deepcopy(pod)
    ann = dict(p["metadata"].get("annotations") or {})
    mirror = ann.pop("kubernetes.io/config.mirror", None)
    if mirror:
        p["metadata"]["uid"] = mirror
    else:
        if "kubernetes.io/config.source" not in ann:
            ann["kubernetes.io/config.source"] = "api"
        ann.setdefault("kubernetes.io/config.seen", p["metadata"]["creationTimestamp"][:-1] + ".512306842Z")
    p["metadata"]["annotations"] = dict(sorted(ann.items()))
    return p


def _seed(*parts):
    return int(hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:8], 16)


class Kubelet(StandInServer):
    def __init__(self, node="node-a", pods=(), pki=None, read_only=False, self_signed=False,
                 anonymous=False, port=0):
        self.node = node
        self.pki = None
        self._own_pki = False
        ctx = None
        if not read_only:
            self.pki = pki or PKI()
            self._own_pki = pki is None
            if self_signed:
                cert, key = self.pki.self_signed("kubelet-" + node)
                self._ca_file = cert
            else:
                cert, key = self.pki.server_cert("kubelet-" + node)
                self._ca_file = self.pki.ca_file
            ctx = PKI.server_context(cert, key)
        super().__init__(ctx, port=port)
        self.read_only = read_only
        self.anonymous = anonymous
        self._pods = pods if callable(pods) else [copy.deepcopy(p) for p in pods]
        self.tokens = {}
        self.scrapes = 0
        self.served = []
        self.on_summary = None
        self.clock = model.now
        self.started = self.clock() - 7 * 86400

    @property
    def ca_file(self):
        return self._ca_file if self.pki else None

    def stop(self):
        super().stop()
        if self._own_pki:
            self.pki.cleanup()

    def add_token(self, token, user="system:serviceaccount:tapio:tapio", allow=None):
        with self.cond:
            self.tokens[token] = (user, None if allow is None else set(allow))

    def remove_token(self, token):
        with self.cond:
            self.tokens.pop(token, None)

    # Pods

    def pods(self):
        with self.cond:
            src = self._pods() if callable(self._pods) else self._pods
            return [kubelet_view(p) for p in src
                    if p["spec"].get("nodeName") == self.node]

    def set_pods(self, pods):
        with self.cond:
            self._pods = [copy.deepcopy(p) for p in pods]

    def add_pod(self, pod):
        with self.cond:
            self._pods.append(copy.deepcopy(pod))

    def _find(self, ns, name):
        for p in self._pods:
            if p["metadata"]["namespace"] == ns and p["metadata"]["name"] == name:
                return p
        raise KeyError("no pod %s/%s" % (ns, name))

    def remove_pod(self, ns, name):
        with self.cond:
            self._pods.remove(self._find(ns, name))

    def update_pod(self, ns, name, fn):
        with self.cond:
            p = self._find(ns, name)
            fn(p)
            return copy.deepcopy(p)

    def restart_container(self, ns, name, container, **kw):
        return self.update_pod(ns, name, lambda p: model.restart_container(p, container, **kw))

    def oom_kill(self, ns, name, container, **kw):
        return self.update_pod(ns, name, lambda p: model.oom_kill(p, container, **kw))

    def crash_loop(self, ns, name, container, **kw):
        return self.update_pod(ns, name, lambda p: model.crash_loop(p, container, **kw))

    def image_pull_backoff(self, ns, name, container, **kw):
        return self.update_pod(ns, name, lambda p: model.image_pull_backoff(p, container, **kw))

    # Faults

    def delay_next(self, n=1, seconds=5, where="headers", match=None):
        self.add_fault("delay", n, match, seconds=seconds, where=where)

    def cut_next(self, n=1, at=0.5, match=None):
        self.add_fault("cut", n, match, at=at)

    def fail_next(self, n=1, code=503, text="service unavailable", match=None):
        self.add_fault("fail", n, match, code=code, text=text)

    # The Summary API

    def summary(self, scrape=None, only_cpu_and_memory=False):
        """The body /stats/summary serves at scrape number `scrape` (default: the next one)."""
        k = self.scrapes + 1 if scrape is None else scrape
        t = int(self.clock())
        ts = model.rfc3339(t)
        node_cpu_ns = 0
        node_ws = 0
        pods_out = []
        for pi, pod in enumerate(self.pods()):
            phase = pod["status"].get("phase")
            if phase not in ("Running", "Pending") or not pod["status"].get("podIP"):
                continue
            ps = self._pod_stats(pod, pi, k, ts, only_cpu_and_memory)
            node_cpu_ns += ps["cpu"]["usageCoreNanoSeconds"]
            node_ws += ps["memory"]["workingSetBytes"]
            pods_out.append(ps)
        cap = 64 * GiB
        node_mem = {"time": ts, "availableBytes": cap - node_ws - 4 * GiB, "usageBytes": node_ws + 6 * GiB,
                    "workingSetBytes": node_ws + 4 * GiB, "rssBytes": node_ws + 3 * GiB,
                    "pageFaults": 90000000 + 1000 * k, "majorPageFaults": 1200 + k}
        node_cpu = {"time": ts, "usageNanoCores": 1500000000 + 1000 * len(pods_out),
                    "usageCoreNanoSeconds": 9 * 10**15 + node_cpu_ns + k * 15 * 10**9}

        def sysc(name, cpu_ns, ws):
            c = {"name": name, "startTime": model.rfc3339(self.started),
                 "cpu": {"time": ts, "usageNanoCores": cpu_ns // 1000, "usageCoreNanoSeconds": cpu_ns * 1000 + k * 10**8},
                 "memory": {"time": ts, "usageBytes": ws + 16 * MiB, "workingSetBytes": ws, "rssBytes": ws - 8 * MiB,
                            "pageFaults": 500000 + k, "majorPageFaults": 12}}
            return c
        pods_sys = sysc("pods", node_cpu_ns // 1000 + 1, node_ws + MiB)
        pods_sys["memory"] = {"time": ts, "availableBytes": cap - node_ws - 8 * GiB, **{
            k2: v for k2, v in pods_sys["memory"].items() if k2 != "time"}}
        node = {"nodeName": self.node,
                "systemContainers": [sysc("kubelet", 8 * 10**9, 96 * MiB), sysc("runtime", 5 * 10**9, 180 * MiB), pods_sys],
                "startTime": model.rfc3339(self.started), "cpu": node_cpu, "memory": node_mem}
        if not only_cpu_and_memory:
            node["network"] = {"time": ts, "name": "eth0", "rxBytes": 8 * 10**11 + k * 10**6, "rxErrors": 0,
                               "txBytes": 3 * 10**11 + k * 10**6, "txErrors": 0,
                               "interfaces": [{"name": "eth0", "rxBytes": 8 * 10**11 + k * 10**6, "rxErrors": 0,
                                               "txBytes": 3 * 10**11 + k * 10**6, "txErrors": 0},
                                              {"name": "cni0", "rxBytes": 5 * 10**10 + k * 1000, "rxErrors": 0,
                                               "txBytes": 6 * 10**10 + k * 1000, "txErrors": 0}]}
            node["fs"] = self._fs(ts, 200 * GiB, 61 * GiB, 13107200, 412345)
            node["runtime"] = {"imageFs": self._fs(ts, 200 * GiB, 18 * GiB, 13107200, 98765)}
            node["rlimit"] = {"time": ts, "maxpid": 4194304, "curproc": 1500 + len(pods_out) * 3}
        else:
            node["systemContainers"] = [{k2: v for k2, v in c.items() if k2 in ("name", "startTime", "cpu", "memory")}
                                        for c in node["systemContainers"]]
        summary = {"node": node, "pods": pods_out}
        if self.on_summary:
            summary = self.on_summary(summary) or summary
        return summary

    @staticmethod
    def _fs(ts, capacity, used, inodes, inodes_used):
        return {"time": ts, "availableBytes": capacity - used - capacity // 20, "capacityBytes": capacity,
                "usedBytes": used, "inodesFree": inodes - inodes_used, "inodes": inodes, "inodesUsed": inodes_used}

    def _pod_stats(self, pod, pi, k, ts, only_cpu_and_memory):
        m = pod["metadata"]
        s = _seed(m["uid"])
        containers = []
        specs = {c["name"]: c for c in pod["spec"]["containers"]}
        for ci, st in enumerate(pod["status"].get("containerStatuses", [])):
            running = st["state"].get("running")
            if not running:
                continue
            nano = 1000000 * (5 + (s + ci) % 400)
            core_ns = (s % 10**6) * 10**6 + (k + pi) * nano * 10
            ws = (32 + (s + 7 * ci) % 900) * MiB
            mem = {"time": ts}
            limit = specs.get(st["name"], {}).get("resources", {}).get("limits", {}).get("memory")
            if limit:
                mem["availableBytes"] = max(model.memory_bytes(limit) - ws, 0)
            mem.update({"usageBytes": ws + 5 * MiB, "workingSetBytes": ws, "rssBytes": ws - 3 * MiB,
                        "pageFaults": 10000 + s % 9999 + 10 * k, "majorPageFaults": (s >> 4) % 50})
            c = {"name": st["name"], "startTime": running["startedAt"],
                 "cpu": {"time": ts, "usageNanoCores": nano, "usageCoreNanoSeconds": core_ns},
                 "memory": mem}
            if not only_cpu_and_memory:
                used = (1 + (s + ci) % 300) * 4096 * 16
                c["rootfs"] = {**self._fs(ts, 200 * GiB, 61 * GiB, 13107200, 412345), "usedBytes": used,
                               "inodesUsed": 20 + ci}
                c["logs"] = {**self._fs(ts, 200 * GiB, 61 * GiB, 13107200, 412345), "usedBytes": 4096 * (1 + k),
                             "inodesUsed": 1}
            containers.append(c)
        cpu = {"time": ts, "usageNanoCores": sum(c["cpu"]["usageNanoCores"] for c in containers) + 100000,
               "usageCoreNanoSeconds": sum(c["cpu"]["usageCoreNanoSeconds"] for c in containers) + 10**9}
        ws = sum(c["memory"]["workingSetBytes"] for c in containers) + 512 * 1024
        mem = {"time": ts}
        limits = [c.get("resources", {}).get("limits", {}).get("memory") for c in pod["spec"]["containers"]]
        if limits and all(limits):
            mem["availableBytes"] = max(sum(model.memory_bytes(x) for x in limits) - ws, 0)
        mem.update({"usageBytes": ws + 6 * MiB, "workingSetBytes": ws, "rssBytes": max(ws - 4 * MiB, 0),
                    "pageFaults": 20000 + s % 5000 + 12 * k, "majorPageFaults": (s >> 8) % 60})
        out = {"podRef": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"]},
               "startTime": pod["status"].get("startTime"), "containers": containers, "cpu": cpu, "memory": mem}
        if only_cpu_and_memory:
            return out
        if not pod["spec"].get("hostNetwork"):
            rx, tx = (s % 10**9) + k * 1500 * (pi + 1), (s % 10**8) + k * 900 * (pi + 1)
            out["network"] = {"time": ts, "name": "eth0", "rxBytes": rx, "rxErrors": 0, "txBytes": tx, "txErrors": 0,
                              "interfaces": [{"name": "eth0", "rxBytes": rx, "rxErrors": 0, "txBytes": tx, "txErrors": 0}]}
        vols = []
        for v in pod["spec"].get("volumes", []):
            used = 4096 * (3 + _seed(m["uid"], v["name"]) % 1000)
            vs = {"time": ts, "availableBytes": 8 * GiB - used, "capacityBytes": 8 * GiB, "usedBytes": used,
                  "inodesFree": 2097152 - 9, "inodes": 2097152, "inodesUsed": 9, "name": v["name"]}
            if "persistentVolumeClaim" in v:
                vs["pvcRef"] = {"name": v["persistentVolumeClaim"]["claimName"], "namespace": m["namespace"]}
            vols.append(vs)
        if vols:
            out["volume"] = vols
        eph_used = sum(c["rootfs"]["usedBytes"] + c["logs"]["usedBytes"] for c in containers)
        out["ephemeral-storage"] = {**self._fs(ts, 200 * GiB, 61 * GiB, 13107200, 412345), "usedBytes": eph_used,
                                    "inodesUsed": sum(c["rootfs"]["inodesUsed"] + 1 for c in containers)}
        out["process_stats"] = {"process_count": 2 * len(containers)}
        return out

    # Serving

    def _authorize(self, h, req, subresource):
        if self.read_only:
            return True
        tok = bearer_token(req)
        user = None
        if tok is not None:
            found = self.tokens.get(tok)
            if found is None:
                h.send_body(401, b"Unauthorized", "text/plain; charset=utf-8")
                return False
            user, allow = found
        elif self.anonymous:
            user, allow = "system:anonymous", set()
        else:
            h.send_body(401, b"Unauthorized", "text/plain; charset=utf-8")
            return False
        req.user = user
        if allow is not None and subresource not in allow:
            msg = "Forbidden (user=%s, verb=get, resource=nodes, subresource=%s)" % (user, subresource)
            h.send_body(403, msg.encode(), "text/plain; charset=utf-8")
            return False
        return True

    def _wait(self, seconds):
        """Waits `seconds` unless the server goes away or stops first."""
        with self.cond:
            gen = self.generation
            self.cond.wait_for(lambda: self.generation != gen, timeout=seconds)
            return self.generation == gen

    def handle(self, h, req):
        path = req.path
        sub = {"/stats": "stats", "/pods": "proxy", "/metrics": "metrics", "/healthz": "healthz"}.get(
            "/" + path.strip("/").split("/")[0], "proxy")
        if not self._authorize(h, req, sub):
            return
        fail = self.take_fault("fail", req)
        if fail:
            h.send_body(fail["code"], fail["text"].encode(), "text/plain; charset=utf-8")
            return
        if req.method != "GET":
            h.send_body(405, b"405: Method Not Allowed", "text/plain; charset=utf-8")
            return
        if path == "/healthz":
            h.send_body(200, b"ok", "text/plain; charset=utf-8")
            return
        if path in ("/stats/summary", "/stats/summary/"):
            only = req.query.get("only_cpu_and_memory") == "true"
            with self.cond:
                self.scrapes += 1
                obj = self.summary(self.scrapes, only)
            body = gojson_indent(obj)
        elif path in ("/pods", "/pods/"):
            obj = {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": self.pods()}
            body = model.gojson(obj)
        else:
            h.send_body(404, b"404 page not found\n", "text/plain; charset=utf-8")
            return
        delay = self.take_fault("delay", req)
        cut = self.take_fault("cut", req)
        if delay and delay["where"] == "headers" and not self._wait(delay["seconds"]):
            h.abort()
        with self.cond:
            self.served.append((path, obj))
            self.cond.notify_all()
        chunked = len(body) > 2048
        end = int(len(body) * cut["at"]) if cut else len(body)
        if chunked:
            h.start_chunked(200, "application/json")
        else:
            h._status(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
        half = end // 2 if delay and delay["where"] == "body" else end
        for a, b in ((0, half), (half, end)):
            if a == half and delay and delay["where"] == "body" and not self._wait(delay["seconds"]):
                h.abort()
            for i in range(a, b, 32768):
                piece = body[i:min(i + 32768, b)]
                if chunked:
                    h.write_chunk(piece)
                else:
                    h.write_raw(piece)
        if cut:
            h.abort()
        if chunked:
            h.end_chunked()


def main():
    """Serves a node until interrupted: python3 -m standins.kubelet [node] [pods]."""
    import sys
    node = sys.argv[1] if len(sys.argv) > 1 else "node-a"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    k = Kubelet(node, model.node_pods(node, count)).start()
    k.add_token("standin-token")
    print("kubelet_url=%s\nkubelet_ca_file=%s\ntoken=standin-token" % (k.url, k.ca_file), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        k.stop()


if __name__ == "__main__":
    main()
