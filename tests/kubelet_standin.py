#!/usr/bin/python3
"""The stand-in kubelet (integration/standins/kubelet.py) for tests/test_kubelet.c, driven over
stdin/stdout: one command a line, one JSON answer a line. It serves until its stdin closes.

    kubelet_standin.py [--pods N] [--plain] [--self-signed] [--token TOKEN] [--allow R,R]

First line out: {"url": ..., "ca": ... (null for --plain), "pods": [{"uid", "namespace",
"name", "containers": {name: id}}]}. --allow: the token's rights (nodes/stats, nodes/proxy);
default all.

Commands (answers: {"ok": true, ...} or {"error": ...}). PATH@K names the K-th request to PATH
(from 1), so a fault meets exactly that request whenever it comes:
    arrived PATH N        until N requests to PATH have arrived (20 s at most): {"count"}
    wait PATH N           until N requests to PATH have ended (20 s at most): {"count"}
    count PATH            requests to PATH so far (ended or not)
    served PATH           the body last served with 200 on PATH
    overlaps              requests that arrived before the one before them had ended
    auth                  requests that carried an Authorization header
    tls_errors N          until N handshakes have failed (20 s at most)
    restart I CONTAINER   pod I's container exits 1 and is started again: {"id": the new id}
    oom I CONTAINER       pod I's container is OOM-killed and started again
    crash I CONTAINER     pod I's container exits 2 and waits in CrashLoopBackOff
    hold PATH N           requests to PATH after the N-th wait until the stand-in stops
    delay SECONDS PATH@K  that response waits SECONDS before its headers
    cut PATH@K            its body stops half way (the connection drops)
    fail CODE PATH@K      it gets CODE
    raw PATH@K TEXT       its 200 body is TEXT (the rest of the line)
    big PATH@K BYTES      its 200 body is a JSON array of BYTES bytes
    omit PATHS...         every later summary leaves these dotted paths out (standins omit())
    token TOKEN           TOKEN is accepted from now on
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from standins import model  # noqa: E402
from standins.kubelet import Kubelet, omit  # noqa: E402


def pods_of(k):
    out = []
    for p in k.pods():
        cs = {}
        for key in ("initContainerStatuses", "containerStatuses"):
            for s in p["status"].get(key, ()):
                cid = s.get("containerID")
                cs[s["name"]] = cid.split("://", 1)[1] if cid else None
        out.append({"uid": p["metadata"]["uid"], "namespace": p["metadata"]["namespace"],
                    "name": p["metadata"]["name"], "containers": cs})
    return out


def main():
    args = sys.argv[1:]
    npods, plain, self_signed, token, allow = 3, False, False, None, None
    while args:
        a = args.pop(0)
        if a == "--pods":
            npods = int(args.pop(0))
        elif a == "--plain":
            plain = True
        elif a == "--self-signed":
            self_signed = True
        elif a == "--token":
            token = args.pop(0)
        elif a == "--allow":
            allow = args.pop(0).split(",")
        else:
            sys.exit("unknown argument " + a)
    pods = model.node_pods("node-a", npods)
    k = Kubelet("node-a", pods=pods, read_only=plain, self_signed=self_signed).start()
    if token:
        k.add_token(token, allow=allow)
    omitted = []
    k.on_summary = lambda s: omit(s, *omitted)
    handle = k.handle

    def timed(h, req):  # when each request ended, for "overlaps"
        try:
            handle(h, req)
        finally:
            req.ended_at = time.monotonic()
    k.handle = timed
    out = sys.stdout
    out.write(json.dumps({"url": k.url, "ca": k.ca_file, "pods": pods_of(k)}) + "\n")
    out.flush()

    def of(path):
        return [r for r in k.requests if r.path == path]

    def nth(spec):
        path, _, n = spec.partition("@")
        return lambda r: r.path == path and of(path).index(r) + 1 == int(n)

    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        cmd, rest = words[0], words[1:]
        try:
            with k.cond:
                answer = {"ok": True}
            if cmd in ("arrived", "wait"):
                path, n = rest[0], int(rest[1])
                done = (lambda: len(of(path))) if cmd == "arrived" else \
                    (lambda: len([r for r in of(path) if r.ended]))
                k.wait(lambda: done() >= n, timeout=20, what="%d requests to %s" % (n, path))
                with k.cond:
                    answer["count"] = done()
            elif cmd == "tls_errors":
                k.wait(lambda: len(k.tls_errors) >= int(rest[0]), timeout=20,
                       what="%s failed handshakes" % rest[0])
            elif cmd == "count":
                with k.cond:
                    answer["count"] = len(of(rest[0]))
            elif cmd == "served":
                with k.cond:
                    answer["body"] = [b for p, b in k.served if p == rest[0]][-1]
            elif cmd == "overlaps":
                with k.cond:
                    reqs = sorted(k.requests, key=lambda r: r.arrived)
                    answer["overlaps"] = len([b for a, b in zip(reqs, reqs[1:])
                                              if b.arrived < getattr(a, "ended_at", 1e18)])
            elif cmd == "auth":
                with k.cond:
                    answer["count"] = len([r for r in k.requests
                                           if "authorization" in r.headers])
            elif cmd in ("restart", "oom", "crash"):
                meta = k.pods()[int(rest[0])]["metadata"]
                fn = {"restart": k.restart_container, "oom": k.oom_kill,
                      "crash": k.crash_loop}[cmd]
                p = fn(meta["namespace"], meta["name"], rest[1])
                answer["id"] = model.container_id(p, rest[1])
            elif cmd == "hold":
                path, n = rest[0], int(rest[1])
                k.delay_next(10 ** 9, 3600, match=lambda r: r.path == path and
                             of(path).index(r) + 1 > n)
            elif cmd == "delay":
                k.delay_next(1, float(rest[0]), match=nth(rest[1]))
            elif cmd == "cut":
                k.cut_next(1, match=nth(rest[0]))
            elif cmd == "fail":
                k.fail_next(1, int(rest[0]), match=nth(rest[1]))
            elif cmd == "raw":
                k.serve_raw(line.split(None, 2)[2].rstrip("\n").encode(), 1, match=nth(rest[0]))
            elif cmd == "big":
                size = int(rest[1])
                k.serve_raw(b"[" + b"0," * ((size - 2) // 2) + b"0]", 1, match=nth(rest[0]))
            elif cmd == "omit":
                omitted.extend(rest)
            elif cmd == "token":
                k.add_token(rest[0])
            else:
                answer = {"error": "unknown command " + cmd}
        except Exception as e:  # the test reads the reason
            answer = {"error": "%s: %s" % (type(e).__name__, e)}
        out.write(json.dumps(answer) + "\n")
        out.flush()
    k.stop()


if __name__ == "__main__":
    main()
