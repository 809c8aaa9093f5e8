"""A stand-in for the kubelet's HTTPS API (port 10250) and its read-only port (10255), for the
kubelet collector's tests: GET /stats/summary (the Summary API, stats/v1alpha1) and GET /pods (a
v1 PodList of the node's pods), with the kubelet's authentication answers and the faults of a busy
or dying kubelet. It runs in a thread of the test process; test_standins.py proves it against
kubectl and python3-kubernetes.

Start and connect

    from standins.kubelet import Kubelet
    from standins import model
    k = Kubelet("node-a", pods=model.node_pods("node-a", 250)).start()
    k = Kubelet("node-a", api=api).start()   # beside a KubeAPI stand-in: its pods, CA, tokens
    k.url, k.ca_file                   # https://127.0.0.1:<port>, the CA that signed its cert
    k.add_token("tok", user="system:serviceaccount:tapio:tapio", allow=None)
    k.stop()
  Kubelet(node, pods=(), pki=None, read_only=False, self_signed=False, anonymous=False, port=0,
          api=None)
    pods: pod dicts as the API server holds them, or a callable returning them. The kubelet
          serves its own view: mirror pods of static pods carry the kubelet's uid (the config
          hash) and every pod gets the kubernetes.io/config.* annotations.
    api:  a KubeAPI stand-in. Its tokens are the kubelet's (a real kubelet asks the API server
          to review a token): one service-account token, rotated with api.rotate_token(), works
          for both. Without pods, the kubelet serves api.pods(node); without pki, api's.
    read_only: plain HTTP without authentication (the deprecated 10255 port).
    self_signed: a certificate that is its own issuer (what kubelets serve by default);
          k.ca_file is then that certificate.
    anonymous: a request without a token is system:anonymous (403) instead of 401.

Auth, as the kubelet answers (text/plain bodies): no or unknown token -> 401 "Unauthorized";
  a token whose allow set lacks "nodes/<subresource>" -> 403 "Forbidden (user=..., verb=get,
  resource=nodes, subresource=stats)". Subresources: /stats -> stats, /metrics -> metrics,
  /logs -> log, everything else (/pods, /healthz) -> proxy. allow=None: everything;
  allow={"nodes/stats", "nodes/proxy"}: what the kubelet collector needs (RBAC on those).

Pods (mutations in place, as model.py's): k.set_pods(list), k.add_pod(p), k.remove_pod(ns, name),
  k.update_pod(ns, name, fn), k.restart_container(ns, name, c, **kw), k.oom_kill(...),
  k.crash_loop(...), k.image_pull_backoff(ns, name, c). (With pods=callable, mutate the source.)

Figures: every number is a deterministic function of the pod's and container's position and
  of the scrape number (k.scrapes, + 1 per /stats/summary served), cumulative counters growing
  with it. What was served is kept: k.served is a list of (path, body object) for every 200
  (None for a raw body); k.summary() builds the next body without serving it; k.clock (default
  time.time) gives the sample times. To set exact figures or leave fields out, give a hook:
  k.on_summary = fn(summary) (edit in place, or return a new one), e.g.
      k.on_summary = lambda s: omit(s, "pods.*.containers.*.memory.rssBytes", "node.rlimit")
  The kubelet itself leaves out what it does not have: availableBytes of a container without a
  memory limit, the network of a host-network pod, containers that are not running.

Faults (match: None, a path prefix, or a callable(httpbase.Request)):
    k.delay_next(n=1, seconds=5, where="headers", match=None)  # or where="body": half, then wait
    k.cut_next(n=1, at=0.5, match=None)    # `at` of the body, then the connection drops
    k.fail_next(n=1, code=503, text="...", match=None)
    k.serve_raw(body, n=1, match=None)     # these bytes as the next 200 body (hostile input)
    k.away() / k.back()                     # connection refused for a while, same state after
    k.wait_request(pred, timeout), k.requests   # as for the API server stand-in
Bodies as the kubelet writes them: /stats/summary pretty-printed by go-restful
(json.MarshalIndent(v, " ", " ")), /pods compact; Content-Length up to 2 KiB, chunked beyond
(Go's net/http).
"""
import copy
import hashlib
import threading

from . import model
from .httpbase import StandInServer
from .kubeapi import bearer_token
from .pki import PKI

MiB = 1 << 20
GiB = 1 << 30
# The kubelet's authorizer (pkg/kubelet/server/auth.go): the first path segment -> subresource
# of nodes; everything else (/pods, /healthz, ...) is proxy.
SUBRESOURCES = {"stats": "stats", "metrics": "metrics", "logs": "log"}


def omit(summary, *paths):
    """Removes fields by dotted path; "*" walks every element of a list (or value of a dict)."""
    for path in paths:
        _omit(summary, path.split("."))
    return summary


def _omit(obj, parts):
    head, rest = parts[0], parts[1:]
    targets = []
    if head == "*":
        if isinstance(obj, list):
            targets = obj
        elif isinstance(obj, dict):
            targets = list(obj.values())
    elif isinstance(obj, dict) and head in obj:
        if not rest:
            del obj[head]
            return
        targets = [obj[head]]
    for t in targets:
        if rest:
            _omit(t, rest)


def gojson_indent(obj):
    """json.MarshalIndent(v, " ", " ") as go-restful pretty-prints a response: one space of
    prefix on every line after the first, one more per level."""
    return model.gojson_pretty(obj, " ", " ")


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
        seen = p["metadata"]["creationTimestamp"][:-1] + ".512306842Z"
        ann.setdefault("kubernetes.io/config.seen", seen)
    p["metadata"]["annotations"] = dict(sorted(ann.items()))
    return p


def _seed(*parts):
    return int(hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:8], 16)


def _cpu(ts, nano_cores, core_ns):
    return {"time": ts, "usageNanoCores": nano_cores, "usageCoreNanoSeconds": core_ns}


def _memory(ts, working_set, available, faults, major_faults):
    """MemoryStats; availableBytes only where there is a limit to be below (None: left out)."""
    m = {"time": ts}
    if available is not None:
        m["availableBytes"] = available
    m.update({"usageBytes": working_set + 5 * MiB, "workingSetBytes": working_set,
              "rssBytes": max(working_set - 3 * MiB, 0), "pageFaults": faults,
              "majorPageFaults": major_faults})
    return m


def _fs(ts, capacity, used, inodes, inodes_used, available=None):
    """FsStats (5 % of a filesystem reserved unless `available` says otherwise)."""
    if available is None:
        available = capacity - used - capacity // 20
    return {"time": ts, "availableBytes": available, "capacityBytes": capacity, "usedBytes": used,
            "inodesFree": inodes - inodes_used, "inodes": inodes, "inodesUsed": inodes_used}


NODE_FS = (200 * GiB, 61 * GiB, 13107200, 412345)  # capacity, used, inodes, inodes used


def _share(ts, used, inodes_used):
    """A container's (or pod's) use of the node's filesystem: its own usedBytes and inodesUsed,
    the filesystem's capacity, availability and free inodes."""
    fs = _fs(ts, *NODE_FS)
    fs.update(usedBytes=used, inodesUsed=inodes_used)
    return fs


def _network(ts, interfaces):
    """NetworkStats: the default interface's figures inline, then every interface."""
    ifs = [{"name": n, "rxBytes": rx, "rxErrors": 0, "txBytes": tx, "txErrors": 0}
           for n, rx, tx in interfaces]
    return {"time": ts, **ifs[0], "interfaces": ifs}


class Kubelet(StandInServer):
    def __init__(self, node="node-a", pods=(), pki=None, read_only=False, self_signed=False,
                 anonymous=False, port=0, api=None):
        self.node = node
        self.api = api
        if api is not None:
            pki = pki or api.pki
            if not pods:
                def pods():
                    return api.pods(node)
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

    def _token(self, token):
        """(user, allow) of a token, from the API server's table when there is one."""
        if self.api is not None:
            with self.api.cond:
                found = self.api.tokens.get(token)
            if found is not None:
                return found
        with self.cond:
            return self.tokens.get(token)

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

    def serve_raw(self, body, n=1, match=None):
        self.add_fault("raw", n, match, body=bytes(body))

    # The Summary API

    def summary(self, scrape=None, only_cpu_and_memory=False):
        """The body /stats/summary serves at scrape number `scrape` (default: the next one)."""
        k = self.scrapes + 1 if scrape is None else scrape
        ts = model.rfc3339(int(self.clock()))
        pods = []
        for i, pod in enumerate(self.pods()):
            # Pods with a sandbox: not those finished or not yet given an IP.
            if pod["status"].get("phase") in ("Running", "Pending") and pod["status"].get("podIP"):
                pods.append(self._pod_stats(pod, i, k, ts, only_cpu_and_memory))
        pods_cpu_ns = sum(p["cpu"]["usageCoreNanoSeconds"] for p in pods)
        pods_ws = sum(p["memory"]["workingSetBytes"] for p in pods)
        capacity = 64 * GiB
        started = model.rfc3339(self.started)

        def system(name, core_ns, ws, available=None):
            return {"name": name, "startTime": started,
                    "cpu": _cpu(ts, core_ns // 10**6, core_ns + k * 10**8),
                    "memory": _memory(ts, ws, available, 500000 + k, 12)}
        node = {"nodeName": self.node,
                "systemContainers": [
                    system("kubelet", 8 * 10**12, 96 * MiB),
                    system("runtime", 5 * 10**12, 180 * MiB),
                    system("pods", pods_cpu_ns, pods_ws + MiB, capacity - pods_ws - 8 * GiB)],
                "startTime": started,
                "cpu": _cpu(ts, 1500000000 + 1000 * len(pods),
                            9 * 10**15 + pods_cpu_ns + k * 15 * 10**9),
                "memory": _memory(ts, pods_ws + 4 * GiB, capacity - pods_ws - 4 * GiB,
                                  90000000 + 1000 * k, 1200 + k)}
        if not only_cpu_and_memory:
            node["network"] = _network(ts, [
                ("eth0", 8 * 10**11 + k * 10**6, 3 * 10**11 + k * 10**6),
                ("cni0", 5 * 10**10 + k * 1000, 6 * 10**10 + k * 1000)])
            node["fs"] = _fs(ts, *NODE_FS)
            node["runtime"] = {"imageFs": _fs(ts, 200 * GiB, 18 * GiB, 13107200, 98765)}
            node["rlimit"] = {"time": ts, "maxpid": 4194304, "curproc": 1500 + len(pods) * 3}
        summary = {"node": node, "pods": pods}
        if self.on_summary:
            summary = self.on_summary(summary) or summary
        return summary

    def _pod_stats(self, pod, index, k, ts, only_cpu_and_memory):
        m = pod["metadata"]
        s = _seed(m["uid"])
        specs = {c["name"]: c for c in pod["spec"]["containers"]}
        containers = []
        for ci, st in enumerate(pod["status"].get("containerStatuses", [])):
            running = st["state"].get("running")
            if not running:
                continue  # no cgroup, no stats
            nano = 1000000 * (5 + (s + ci) % 400)
            ws = (32 + (s + 7 * ci) % 900) * MiB
            limit = specs[st["name"]].get("resources", {}).get("limits", {}).get("memory")
            available = max(model.memory_bytes(limit) - ws, 0) if limit else None
            c = {"name": st["name"], "startTime": running["startedAt"],
                 "cpu": _cpu(ts, nano, (s % 10**6) * 10**6 + (k + index) * nano * 10),
                 "memory": _memory(ts, ws, available, 10000 + s % 9999 + 10 * k, (s >> 4) % 50)}
            if not only_cpu_and_memory:
                c["rootfs"] = _share(ts, (1 + (s + ci) % 300) * 65536, 20 + ci)
                c["logs"] = _share(ts, 4096 * (1 + k), 1)
            containers.append(c)
        ws = sum(c["memory"]["workingSetBytes"] for c in containers) + 512 * 1024
        limits = [c.get("resources", {}).get("limits", {}).get("memory")
                  for c in pod["spec"]["containers"]]
        available = None
        if all(limits):  # a pod-level limit exists only when every container has one
            available = max(sum(model.memory_bytes(x) for x in limits) - ws, 0)
        out = {"podRef": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"]},
               "startTime": pod["status"].get("startTime"), "containers": containers,
               "cpu": _cpu(ts, sum(c["cpu"]["usageNanoCores"] for c in containers) + 100000,
                           sum(c["cpu"]["usageCoreNanoSeconds"] for c in containers) + 10**9),
               "memory": _memory(ts, ws, available, 20000 + s % 5000 + 12 * k, (s >> 8) % 60)}
        if only_cpu_and_memory:
            return out
        if not pod["spec"].get("hostNetwork"):  # the host's network is not the pod's
            out["network"] = _network(ts, [("eth0", s % 10**9 + k * 1500 * (index + 1),
                                            s % 10**8 + k * 900 * (index + 1))])
        volumes = []
        for v in pod["spec"].get("volumes", []):
            used = 4096 * (3 + _seed(m["uid"], v["name"]) % 1000)
            vs = {**_fs(ts, 8 * GiB, used, 2097152, 9, available=8 * GiB - used), "name": v["name"]}
            if "persistentVolumeClaim" in v:
                vs["pvcRef"] = {"name": v["persistentVolumeClaim"]["claimName"],
                                "namespace": m["namespace"]}
            volumes.append(vs)
        if volumes:
            out["volume"] = volumes
        out["ephemeral-storage"] = _share(
            ts, sum(c["rootfs"]["usedBytes"] + c["logs"]["usedBytes"] for c in containers),
            sum(c["rootfs"]["inodesUsed"] + 1 for c in containers))
        out["process_stats"] = {"process_count": 2 * len(containers)}
        return out

    # Serving

    def _authorize(self, h, req, subresource):
        if self.read_only:
            return True
        tok = bearer_token(req)
        user = None
        if tok is not None:
            found = self._token(tok)
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
        if allow is not None and "nodes/" + subresource not in allow:
            msg = "Forbidden (user=%s, verb=get, resource=nodes, subresource=%s)" % (
                user, subresource)
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
        sub = SUBRESOURCES.get(path.strip("/").split("/")[0], "proxy")
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
            body = model.gojson(obj) + b"\n"  # runtime.Encode: json.Encoder's newline
        else:
            h.send_body(404, b"404 page not found\n", "text/plain; charset=utf-8")
            return
        raw = self.take_fault("raw", req)
        if raw:
            body, obj = raw["body"], None
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
            h.start_body(200, "application/json", len(body))
        half = end // 2 if delay and delay["where"] == "body" else end
        for a, b in ((0, half), (half, end)):
            if a == half and delay and delay["where"] == "body":
                if not self._wait(delay["seconds"]):
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
    print("kubelet_url=%s\nkubelet_ca_file=%s\ntoken=standin-token" % (k.url, k.ca_file),
          flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        k.stop()


if __name__ == "__main__":
    main()
