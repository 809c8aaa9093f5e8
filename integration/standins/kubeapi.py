"""A stand-in for the Kubernetes API server (v1.27 behaviour), for the collectors' tests.

Debian has no API server. This one speaks the protocol a client meets, over HTTPS with a test CA
and bearer tokens: discovery, pods (core/v1) and Events (events.k8s.io/v1), list with field and
label selectors, resourceVersion semantics and pagination, chunked watches with bookmarks,
timeouts and 410 Gone, and the faults of a real cluster on demand. It runs in a thread of the
test process; the test drives it through the methods below. test_standins.py proves it against
kubectl, python3-kubernetes and curl.

Start and connect

    from standins.kubeapi import KubeAPI
    from standins import model
    api = KubeAPI().start()            # or: with KubeAPI() as api: ...   (own PKI in a temp dir)
    api.url                            # https://127.0.0.1:<port>
    api.ca_file                        # the CA a client trusts
    sa = api.serviceaccount("/tmp/x")  # a kubelet-style token/ca.crt/namespace dir, token accepted
    sa.token_file, sa.ca_file          # for kubeapi_token_file / kubeapi_ca_file
    api.env()                          # KUBERNETES_SERVICE_HOST=127.0.0.1, ..._PORT=<port>
    api.kubeconfig(path, token)        # a kubeconfig file for kubectl
    api.stop()
  KubeAPI(pki=None, version="v1.27.16", start_rv=1000, bookmark_interval=60, gone_mode="event",
          anonymous=False, default_watch_timeout=None, port=0) -- pki: a standins.pki.PKI to
          share (default: a new one, removed by stop()); port=0: any free port.

Tokens
    api.add_token(token, user="system:serviceaccount:tapio:tapio", allow=None)
        allow=None: every resource; a set such as {"pods"}: anything else is 403 Forbidden.
    api.remove_token(token)            # then 401 Unauthorized, with a Status body
    api.rotate_token(sa, revoke_old=True) -> new token: written into the service-account dir as
        the kubelet does (atomic ..data swap); with revoke_old the old token is 401 from then on.
    api.anonymous = True               # a request without a token is system:anonymous (403 on
                                       # resources, /version and /healthz allowed) instead of 401.
    Client certificates signed by the CA authenticate as their CN.

Objects (every change takes the next resourceVersion of one counter shared by all objects, as
etcd's revision is; an object's resourceVersion is that of its last change)
    api.create_pod(pod) -> stored copy  (model.make_pod builds one; uid kept, resourceVersion set)
    api.update_pod(ns, name, fn) -> stored copy   fn(pod) mutates a copy, e.g.
        api.update_pod("shop", "web-1", lambda p: model.restart_container(p, "app"))
    api.restart_container(ns, name, container, **kw), api.oom_kill(...), api.crash_loop(...)
    api.delete_pod(ns, name, graceful=True): MODIFIED with deletionTimestamp (and containers
        terminated), then DELETED; graceful=False: DELETED only. Returns the final object.
    api.move_pod(ns, name, node): spec.nodeName changes (node-filtered watchers see DELETED on
        the old node, ADDED on the new one, as the real filtered watch does)
    api.get_pod(ns, name), api.pods(node=None) -> copies
    api.create_event(ev), api.update_event(ns, name, fn), api.delete_event(ns, name), api.events()
    api.rv -> the current resourceVersion (int)

Watch semantics: resourceVersion unset or "0": a synthetic ADDED for every matching object,
  then changes; N: the changes after N (an ERROR event with a 410 Status when N is older than
  the history kept, with a 504 Status when it is ahead of the server). Changes are filtered per
  watch as the API server's cache does: an object that stops matching the field selector
  arrives as DELETED (its last matching content at the new resourceVersion), one that starts
  matching as ADDED. timeoutSeconds ends the stream (default: 1800 s times a random factor in
  [1, 2), as the API server's own limit). With
  allowWatchBookmarks: a BOOKMARK every bookmark_interval seconds and 2 s before the deadline,
  carrying the server's current resourceVersion (so it can be ahead of every event sent).

Bodies as the API server's serializer writes them: compact JSON and a newline (json.Encoder),
  pretty-printed (two spaces, no newline) for ?pretty=true or a curl, Wget or browser
  User-Agent; watch events one compact line each.

List semantics: resourceVersion unset: the current state; "0": the current state from the cache,
  limit ignored; N (NotOlderThan): current state if N is not ahead (else 504); Exact, or N with a
  limit: the state at N (410 when compacted away). limit/continue paginate in key order
  (namespace/name) over one snapshot; remainingItemCount without selectors.

Watches and requests (for the test's synchronisation: wait on data, not time)
    api.requests                       # every request (httpbase.Request: path, query, status, ...)
    api.wait_request(pred, timeout=20, since=0)
    api.wait_watch(pred=None, timeout=20) -> Watch: the first open watch (headers sent) matching
        pred(watch); watch.req.query holds the client's parameters, watch.resource, watch.sent
        (events written), watch.closed.
    api.open_watches(resource=None) -> list of open Watch
    api.bookmark(match=None)           # a BOOKMARK now on every open watch that asked for them

Faults
    api.throttle(n, retry_after=1, match=None, form="text")   # the next n requests: 429 with
        Retry-After. form="text": the body of the max-in-flight and Priority-and-Fairness
        filters (http.Error: text/plain "Too many requests, please try again later.\n");
        form="status": a Status (reason TooManyRequests, details.retryAfterSeconds), as when the
        watch cache is (re)initializing.
    api.fail_next(n, code=500, reason="InternalError", message=..., match=None, retry_after=None)
        # the next n requests: that Status (and Retry-After when given)
    api.split_events(*kinds, every=None)   # write each watch event as several chunks, cut
        inside: "key", "string", "escape" (between \\ and the escaped char), "unicode_escape"
        (inside \\u0026), "utf8" (inside a multi-byte character), "newline" (the line's \\n
        alone); every=N: N-byte chunks. split_events() turns it off. api.split_counts: cuts made.
    api.cut_next_event(n=1, at=0.5, match=None)  # the next n watch events: `at` of the line is
        written, then the connection is dropped (no last chunk): an unexpected EOF mid-object
    api.silence_open_watches(match=None)   # open watches send nothing more, never end
    api.silence_next_watches(n=1, match=None)  # the next n watches: 200, then nothing, ever
    api.away() / api.back()            # stop listening and reset every connection / listen again
                                       # on the same port, same objects and resourceVersions
    api.compact(rv=None)               # history up to rv (default: now) is gone: watching or an
                                       # Exact list or continue from before it is 410 Gone
    api.gone_mode = "event"            # how a too-old watch is refused: "event" (200, then an
                                       # ERROR event with a 410 Status: what the API server does)
                                       # or "http" (HTTP 410 with a Status body at the start,
                                       # which a client must survive too)
    api.expire_watches(match=None)     # open watches: queued events, then ERROR 410, then end
    api.send_raw(data, match=None)     # these bytes, as they are, on every open watch after its
                                       # queued events (hostile input: wrong types, bad JSON...)
    match (everywhere): None (any request), a path prefix, or a callable(httpbase.Request) -> bool.

What it does not do: writes (POST/PUT/PATCH/DELETE are 405), protobuf, Table output for kubectl's
human-readable printing (answered as plain JSON), HTTP/2 (TLS ALPN offers http/1.1 only; a real
API server offers h2 too), the WatchList feature (sendInitialEvents is refused as v1.27 does
without the feature gate).
"""
import base64
import binascii
import copy
import gzip
import json
import os
import random
import re
import select
import threading
import time
import uuid
from collections import deque

from . import model
from .httpbase import ConnectionGone, StandInServer
from .pki import PKI
from .serviceaccount import ServiceAccountDir

JSON = "application/json"


def status(code, reason, message, details=None):
    s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
         "message": message, "reason": reason}
    if details is not None:
        s["details"] = details
    s["code"] = code
    return s


class Fail(Exception):
    """An API error answered with a Status body."""

    def __init__(self, code, reason, message, details=None, headers=()):
        super().__init__(message)
        self.body = status(code, reason, message, details)
        self.code = code
        self.headers = list(headers)


def bearer_token(req):
    """The token of an "Authorization: Bearer <token>" header (scheme case-insensitive, as the
    API server's and the kubelet's authenticator read it), or None."""
    parts = req.headers.get("authorization", "").split(" ", 2)
    if len(parts) >= 2 and parts[0].lower() == "bearer" and parts[1]:
        return parts[1]
    return None


def bad_request(message):
    return Fail(400, "BadRequest", message)


def parse_error(value):
    return bad_request('strconv.ParseInt: parsing "%s": invalid syntax' % value)


def forbidden_option(field, detail):
    return Fail(422, "Invalid",
                'ListOptions.meta.k8s.io "" is invalid: %s: Forbidden: %s' % (field, detail),
                {"group": "meta.k8s.io", "kind": "ListOptions",
                 "causes": [{"reason": "FieldValueForbidden", "message": "Forbidden: " + detail,
                             "field": field}]})


def too_large(n, current):
    """storage.NewTooLargeResourceVersionError: a NewTimeoutError, message prefixed so."""
    return Fail(504, "Timeout", "Timeout: Too large resource version: %d, current: %d"
                % (n, current),
                {"causes": [{"reason": "ResourceVersionTooLarge",
                             "message": "Too large resource version"}],
                 "retryAfterSeconds": 1})


CONTINUE_TOO_OLD = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted between "
    "the time the first chunk was returned and now may show up in the list.")


def parse_bool(s):
    """strconv.ParseBool, as the API server reads query booleans."""
    if s in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if s in ("0", "f", "F", "FALSE", "false", "False", ""):
        return False
    raise bad_request('strconv.ParseBool: parsing "%s": invalid syntax' % s)


# Selectors

def _split_unescaped(s, sep):
    parts, cur, i = [], "", 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            cur += s[i:i + 2]
            i += 2
            continue
        if c == sep:
            parts.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    parts.append(cur)
    return parts


def _unescape_field_value(v, term):
    out, i = "", 0
    while i < len(v):
        if v[i] == "\\":
            if i + 1 >= len(v) or v[i + 1] not in "\\,=":
                raise bad_request("invalid field selector: invalid escape sequence in '%s'" % term)
            out += v[i + 1]
            i += 2
            continue
        if v[i] in ",=":
            raise bad_request("invalid field selector: unescaped %s in '%s'" % (v[i], term))
        out += v[i]
        i += 1
    return out


def parse_field_selector(s, allowed):
    """fields.ParseSelector + the resource's field label conversion: a list of (field, op,
    value); 400 for syntax and for a field the resource does not support."""
    reqs = []
    if not s:
        return reqs
    for term in _split_unescaped(s, ","):
        if not term:
            continue
        for op in ("!=", "==", "="):
            if op in term:
                field, value = term.split(op, 1)
                break
        else:
            raise bad_request("invalid selector: '%s'; can't understand '%s'" % (s, term))
        field = field.strip()
        if field not in allowed:
            raise bad_request("field label not supported: %s" % field)
        reqs.append((allowed[field], "!=" if op == "!=" else "=",
                     _unescape_field_value(value, term)))
    return reqs


_LABEL_REQ = re.compile(r"^\s*(!?)\s*([A-Za-z0-9][-A-Za-z0-9_./]*)\s*"
                        r"(?:(==|=|!=|>|<|\s+in\s+|\s+notin\s+)\s*(.*?))?\s*$")


def parse_label_selector(s):
    """labels.Parse: equality, set-based and existence requirements; a list of predicates."""
    preds = []
    if not s:
        return preds
    parts, depth, cur = [], 0, ""
    for c in s:
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        if c == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += c
    parts.append(cur)
    for p in parts:
        m = _LABEL_REQ.match(p)
        if not m:
            raise bad_request("unable to parse requirement: %s" % p)
        neg, key, op, val = m.groups()
        op = (op or "").strip()
        if neg:
            if op:
                raise bad_request("unable to parse requirement: %s" % p)
            preds.append(lambda l, k=key: k not in l)
        elif not op:
            preds.append(lambda l, k=key: k in l)
        elif op in ("=", "=="):
            preds.append(lambda l, k=key, v=val: l.get(k) == v)
        elif op == "!=":
            preds.append(lambda l, k=key, v=val: l.get(k) != v)
        elif op in ("in", "notin"):
            if not (val.startswith("(") and val.endswith(")")):
                raise bad_request("unable to parse requirement: %s" % p)
            vals = {v.strip() for v in val[1:-1].split(",")}
            if op == "in":
                preds.append(lambda l, k=key, vs=vals: l.get(k) in vs)
            else:
                preds.append(lambda l, k=key, vs=vals: l.get(k) not in vs)
        else:
            try:
                n = int(val)
            except ValueError:
                raise bad_request("unable to parse requirement: %s" % p) from None

            def cmp(l, k=key, n=n, gt=(op == ">")):
                try:
                    x = int(l[k])
                except (KeyError, ValueError):
                    return False
                return x > n if gt else x < n
            preds.append(cmp)
    return preds


# Resources

def _pod_fields(p):
    """pkg/registry/core/pod: PodToSelectableFields."""
    spec, st, m = p["spec"], p["status"], p["metadata"]
    ips = st.get("podIPs") or []
    return {"metadata.name": m["name"], "metadata.namespace": m["namespace"],
            "spec.nodeName": spec.get("nodeName", ""),
            "spec.restartPolicy": spec.get("restartPolicy", ""),
            "spec.schedulerName": spec.get("schedulerName", ""),
            "spec.serviceAccountName": spec.get("serviceAccountName", ""),
            "spec.hostNetwork": "true" if spec.get("hostNetwork") else "false",
            "status.phase": st.get("phase", ""), "status.podIP": ips[0]["ip"] if ips else "",
            "status.nominatedNodeName": st.get("nominatedNodeName", "")}


def _event_fields(e):
    """pkg/registry/core/event: the internal (core) field names of an Event."""
    r, m = e.get("regarding", {}), e["metadata"]
    src = e.get("deprecatedSource", {}).get("component") or e.get("reportingController", "")
    fields = {"metadata.name": m["name"], "metadata.namespace": m["namespace"],
              "reason": e.get("reason", ""), "reportingComponent": e.get("reportingController", ""),
              "source": src, "type": e.get("type", "")}
    for f in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"):
        fields["involvedObject." + f] = r.get(f, "")
    return fields


class Resource:
    def __init__(self, name, group, kind, fields, field_labels, short, hash_, bookmark):
        self.name, self.group, self.kind = name, group, kind
        self.api_version = (group + "/v1") if group else "v1"
        self.qualified = name + ("." + group if group else "")
        self.fields = fields
        self.field_labels = field_labels  # label a client sends -> internal field name
        self.short, self.hash = short, hash_
        self.bookmark_object = bookmark

    def discovery(self):
        return {"name": self.name, "singularName": self.kind.lower(), "namespaced": True,
                "kind": self.kind, "verbs": ["get", "list", "watch"], "shortNames": [self.short],
                "storageVersionHash": self.hash}


POD_LABELS = {k: k for k in (
    "metadata.name", "metadata.namespace", "spec.nodeName", "spec.restartPolicy",
    "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
    "status.podIP", "status.nominatedNodeName")}
POD_LABELS["spec.host"] = "spec.nodeName"
# pkg/apis/events/v1: AddFieldLabelConversionsForEvent
EVENT_LABELS = {"reason": "reason", "type": "type", "metadata.namespace": "metadata.namespace",
                "metadata.name": "metadata.name", "source": "source",
                "reportingController": "reportingComponent"}
EVENT_LABELS.update({"regarding." + f: "involvedObject." + f for f in (
    "kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")})


def _pod_bookmark(rv):
    """An empty Pod with only the resourceVersion, as Go marshals it."""
    return {"kind": "Pod", "apiVersion": "v1",
            "metadata": {"resourceVersion": rv, "creationTimestamp": None},
            "spec": {"containers": None}, "status": {}}


def _event_bookmark(rv):
    return {"kind": "Event", "apiVersion": "events.k8s.io/v1",
            "metadata": {"resourceVersion": rv, "creationTimestamp": None},
            "eventTime": None, "regarding": {}, "deprecatedSource": {},
            "deprecatedFirstTimestamp": None, "deprecatedLastTimestamp": None}


RESOURCES = {
    "pods": Resource("pods", "", "Pod", _pod_fields, POD_LABELS, "po", "xPOwRZ+Yhw8=",
                     _pod_bookmark),
    "events": Resource("events", "events.k8s.io", "Event", _event_fields, EVENT_LABELS, "ev",
                       "r2yiGXH7wu8=", _event_bookmark),
}

_ROUTE = re.compile(r"^/(?:api/v1|apis/(events\.k8s\.io)/v1)(?:/namespaces/([^/]+))?"
                    r"/(pods|events)(?:/([^/]+))?$")


class Change:
    __slots__ = ("rv", "resource", "key", "type", "obj", "prev")

    def __init__(self, rv, resource, key, type_, obj, prev):
        self.rv, self.resource, self.key = rv, resource, key
        self.type, self.obj, self.prev = type_, obj, prev


class Watch:
    """One open watch. resource, namespace, req (its httpbase.Request), sent (events written),
    closed (why it ended, or None)."""

    def __init__(self, res, ns, freqs, lpreds, bookmarks, req):
        self.res, self.namespace = res, ns
        self.resource = res.name
        self.freqs, self.lpreds, self.bookmarks, self.req = freqs, lpreds, bookmarks, req
        self.queue = deque()
        self.sent = 0
        self.closed = None
        self.silent = False
        self.bookmark_now = False
        self.established = False

    def matches(self, obj):
        if obj is None:
            return False
        if self.namespace and obj["metadata"].get("namespace") != self.namespace:
            return False
        if self.freqs:
            f = self.res.fields(obj)
            for field, op, value in self.freqs:
                if (f.get(field, "") == value) != (op == "="):
                    return False
        if self.lpreds:
            labels = obj["metadata"].get("labels") or {}
            if not all(p(labels) for p in self.lpreds):
                return False
        return True

    def offer(self, ch):
        """The event this watcher sees for a change (the cacher's filtered-watch rule)."""
        if ch.resource != self.resource:
            return
        cur, old = self.matches(ch.obj), self.matches(ch.prev)
        if ch.type == "DELETED":
            if old:
                self.queue.append(("DELETED", _with_rv(ch.prev, ch.rv)))
        elif cur and old:
            self.queue.append(("MODIFIED", ch.obj))
        elif cur:
            self.queue.append(("ADDED", ch.obj))
        elif old:
            # Left the selector: DELETED with the previous content at the new resourceVersion.
            self.queue.append(("DELETED", _with_rv(ch.prev, ch.rv)))


def _with_rv(obj, rv):
    o = copy.deepcopy(obj)
    o["metadata"]["resourceVersion"] = str(rv)
    return o


def _key(obj):
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def _key_order(key):
    return "%s/%s" % key


def _matching(watch_, match):
    if match is None:
        return True
    if callable(match):
        return match(watch_.req)
    return watch_.req.path.startswith(match)


class KubeAPI(StandInServer):
    def __init__(self, pki=None, version="v1.27.16", start_rv=1000, bookmark_interval=60,
                 gone_mode="event", anonymous=False, default_watch_timeout=None, port=0):
        self.pki = pki or PKI()
        self._own_pki = pki is None
        cert, key = self.pki.server_cert("kube-apiserver")
        super().__init__(PKI.server_context(cert, key, client_ca=self.pki.ca_file), port=port)
        self.version = version
        self.rv = start_rv
        self.compacted = start_rv
        self.objects = {name: {} for name in RESOURCES}
        self.log = []
        self.watches = []
        self.tokens = {}
        self.anonymous = anonymous
        self.bookmark_interval = bookmark_interval
        self.gone_mode = gone_mode
        self.default_watch_timeout = default_watch_timeout
        self.split_kinds = ()
        self.split_every = None
        self.split_counts = {}
        self._rng = random.Random(start_rv)

    @property
    def ca_file(self):
        return self.pki.ca_file

    def stop(self):
        super().stop()
        if self._own_pki:
            self.pki.cleanup()

    def env(self):
        return {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(self.port)}

    def kubeconfig(self, path, token, server=None):
        cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "standin",
               "clusters": [{"name": "standin", "cluster": {
                   "server": server or self.url, "certificate-authority": self.ca_file}}],
               "users": [{"name": "standin", "user": {"token": token}}],
               "contexts": [{"name": "standin",
                             "context": {"cluster": "standin", "user": "standin"}}]}
        with open(path, "w") as f:
            json.dump(cfg, f)
        return path

    # Tokens

    def add_token(self, token, user="system:serviceaccount:tapio:tapio", allow=None):
        with self.cond:
            self.tokens[token] = (user, None if allow is None else set(allow))

    def remove_token(self, token):
        with self.cond:
            self.tokens.pop(token, None)

    def new_token(self):
        return "eyJhbGciOiJSUzI1NiJ9.standin.%s" % uuid.UUID(int=self._rng.getrandbits(128)).hex

    def serviceaccount(self, path, namespace="tapio", user=None, allow=None):
        """A service-account directory (token, ca.crt, namespace) whose token is accepted."""
        token = self.new_token()
        self.add_token(token, user or "system:serviceaccount:%s:tapio" % namespace, allow)
        return ServiceAccountDir(path, token, self.ca_file, namespace)

    def rotate_token(self, sa, revoke_old=True):
        old = sa.token
        with self.cond:
            user, allow = self.tokens.get(old, ("system:serviceaccount:tapio:tapio", None))
        new = self.new_token()
        self.add_token(new, user, allow)
        sa.write_token(new)
        if revoke_old:
            self.remove_token(old)
        return new

    # Objects

    def _commit(self, resource, key, new):
        with self.cond:
            objs = self.objects[resource]
            prev = objs.get(key)
            if new is None and prev is None:
                raise KeyError("%s %s/%s not found" % (resource, *key))
            self.rv += 1
            if new is None:
                del objs[key]
                typ, stored = "DELETED", None
            else:
                stored = copy.deepcopy(new)
                stored["metadata"]["resourceVersion"] = str(self.rv)
                objs[key] = stored
                typ = "MODIFIED" if prev is not None else "ADDED"
            ch = Change(self.rv, resource, key, typ, stored, prev)
            self.log.append(ch)
            for w in self.watches:
                if w.closed is None:
                    w.offer(ch)
            self.cond.notify_all()
            return copy.deepcopy(stored if stored is not None else _with_rv(prev, self.rv))

    def create_pod(self, pod):
        if _key(pod) in self.objects["pods"]:
            raise KeyError("pod %s/%s exists" % _key(pod))
        return self._commit("pods", _key(pod), pod)

    def update_pod(self, ns, name, fn):
        with self.cond:
            p = copy.deepcopy(self.objects["pods"][(ns, name)])
            fn(p)
            return self._commit("pods", (ns, name), p)

    def restart_container(self, ns, name, container, **kw):
        return self.update_pod(ns, name, lambda p: model.restart_container(p, container, **kw))

    def oom_kill(self, ns, name, container, **kw):
        return self.update_pod(ns, name, lambda p: model.oom_kill(p, container, **kw))

    def crash_loop(self, ns, name, container, **kw):
        return self.update_pod(ns, name, lambda p: model.crash_loop(p, container, **kw))

    def move_pod(self, ns, name, node):
        def move(p):
            p["spec"]["nodeName"] = node
            p["status"]["hostIP"] = model.node_ip(node)
        return self.update_pod(ns, name, move)

    def delete_pod(self, ns, name, graceful=True, grace=30):
        if graceful:
            def deleting(p):
                model.mark_deleting(p, grace)
                for s in p["status"].get("containerStatuses", []):
                    if "running" in s["state"]:
                        model.terminate_container(p, s["name"], 0, "Completed")
            self.update_pod(ns, name, deleting)
        return self._commit("pods", (ns, name), None)

    def get_pod(self, ns, name):
        with self.cond:
            return copy.deepcopy(self.objects["pods"][(ns, name)])

    def pods(self, node=None):
        with self.cond:
            return [copy.deepcopy(p) for k, p in sorted(self.objects["pods"].items())
                    if node is None or p["spec"].get("nodeName") == node]

    def create_event(self, ev):
        return self._commit("events", _key(ev), ev)

    def update_event(self, ns, name, fn):
        with self.cond:
            e = copy.deepcopy(self.objects["events"][(ns, name)])
            fn(e)
            return self._commit("events", (ns, name), e)

    def delete_event(self, ns, name):
        return self._commit("events", (ns, name), None)

    def events(self):
        with self.cond:
            return [copy.deepcopy(e) for k, e in sorted(self.objects["events"].items())]

    def _state_at(self, resource, rv):
        """The resource's objects as they were at rv (rv >= compacted), by undoing later
        changes."""
        state = dict(self.objects[resource])
        for ch in reversed(self.log):
            if ch.rv <= rv:
                break
            if ch.resource != resource:
                continue
            if ch.prev is None:
                state.pop(ch.key, None)
            else:
                state[ch.key] = ch.prev
        return state

    # Watches

    def open_watches(self, resource=None):
        with self.cond:
            return [w for w in self.watches if w.closed is None and w.established
                    and (resource is None or w.resource == resource)]

    def wait_watch(self, pred=None, timeout=20):
        def find():
            return next((w for w in self.open_watches() if pred is None or pred(w)), None)
        return self.wait(find, timeout, "open watch")

    def bookmark(self, match=None):
        with self.cond:
            for w in self.open_watches():
                if w.bookmarks and _matching(w, match):
                    w.bookmark_now = True
            self.cond.notify_all()

    def expire_watches(self, match=None):
        with self.cond:
            for w in self.open_watches():
                if _matching(w, match):
                    rv = w.req.query.get("resourceVersion") or str(self.rv)
                    w.queue.append(("ERROR", self._too_old(rv)))
                    w.queue.append(("END", "expired"))
            self.cond.notify_all()

    def send_raw(self, data, match=None):
        with self.cond:
            for w in self.open_watches():
                if _matching(w, match):
                    w.queue.append(("RAW", bytes(data)))
            self.cond.notify_all()

    def silence_open_watches(self, match=None):
        with self.cond:
            for w in self.open_watches():
                if _matching(w, match):
                    w.silent = True
            self.cond.notify_all()

    def silence_next_watches(self, n=1, match=None):
        self.add_fault("silent", n, match)

    def compact(self, rv=None):
        with self.cond:
            self.compacted = max(self.compacted, self.rv if rv is None else rv)
            self.log = [c for c in self.log if c.rv > self.compacted]

    # Faults

    def throttle(self, n, retry_after=1, match=None, form="text"):
        if form == "text":
            self.add_fault("fail", n, match, code=429, retry_after=retry_after,
                           text="Too many requests, please try again later.\n")
        elif form == "status":
            self.fail_next(n, 429, "TooManyRequests", "storage is (re)initializing", match,
                           retry_after)
        else:
            raise ValueError("throttle form is text or status, not %r" % form)

    def fail_next(self, n, code=500, reason="InternalError",
                  message='an error on the server ("") has prevented the request from succeeding',
                  match=None, retry_after=None):
        self.add_fault("fail", n, match, code=code, reason=reason, message=message,
                       retry_after=retry_after, text=None)

    def split_events(self, *kinds, every=None):
        with self.cond:
            self.split_kinds = tuple(kinds)
            self.split_every = every

    def cut_next_event(self, n=1, at=0.5, match=None):
        self.add_fault("cut", n, match, at=at)

    # Serving

    def _too_old(self, rv):
        return status(410, "Expired", "too old resource version: %s (%d)" % (rv, self.compacted))

    def _authenticate(self, h, req):
        peer = h.peer_cn()
        if peer and peer[0]:
            return peer[0], None
        tok = bearer_token(req)
        if tok is not None:
            with self.cond:
                found = self.tokens.get(tok)
            if found is None:
                raise Fail(401, "Unauthorized", "Unauthorized")
            return found
        if self.anonymous:
            return "system:anonymous", set()
        raise Fail(401, "Unauthorized", "Unauthorized")

    @staticmethod
    def _headers(authenticated=True):
        h = [("Audit-Id", str(uuid.uuid4())), ("Cache-Control", "no-cache, private")]
        if authenticated:  # API Priority and Fairness classified it
            h += [("X-Kubernetes-Pf-Flowschema-Uid", "7f8a4e2c-standin-flowschema"),
                  ("X-Kubernetes-Pf-Prioritylevel-Uid", "1c0b9d3e-standin-prioritylevel")]
        return h

    @staticmethod
    def _encode(req, obj):
        """The API server's JSON serializer: json.Encoder (compact, a trailing newline), or
        MarshalIndent with two spaces for ?pretty=true and for curl, Wget and browsers."""
        pretty = req.query.get("pretty")
        if pretty is not None and pretty != "":
            pretty = pretty in ("1", "t", "T", "TRUE", "true", "True")
        else:
            ua = req.headers.get("user-agent", "")
            pretty = ua.startswith(("curl", "Wget", "Mozilla/5.0"))
        return model.gojson_pretty(obj) if pretty else model.gojson(obj) + b"\n"

    def _send(self, h, code, obj, headers=()):
        """As Go's server writes a handler's body: small ones with Content-Length, larger ones
        chunked; gzip from 128 KiB when the client accepts it (APIResponseCompression)."""
        body = self._encode(h.req, obj)
        hdrs = self._headers() + list(headers)
        if len(body) >= 128 * 1024 and "gzip" in h.req.headers.get("accept-encoding", ""):
            body = gzip.compress(body, 1)
            hdrs += [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")]
            h.req.content_encoding = "gzip"
        if len(body) <= 2048 or h.command == "HEAD":
            h.send_body(code, body, JSON, hdrs)
            return
        h.start_chunked(code, JSON, hdrs)
        for i in range(0, len(body), 32768):
            h.write_chunk(body[i:i + 32768])
        h.end_chunked()

    def handle(self, h, req):
        try:
            self._route(h, req)
        except Fail as f:
            h.send_body(f.code, self._encode(req, f.body), JSON,
                        self._headers(f.code != 401) + f.headers)

    def _route(self, h, req):
        path = req.path.rstrip("/") or "/"
        if path in ("/healthz", "/livez", "/readyz"):
            h.send_body(200, b"ok", "text/plain; charset=utf-8",
                        [("X-Content-Type-Options", "nosniff")])
            return
        user, allow = self._authenticate(h, req)
        req.user = user
        fault = self.take_fault("fail", req)
        if fault:
            after = fault["retry_after"]
            if fault["text"] is not None:
                h.send_body(fault["code"], fault["text"].encode(), "text/plain; charset=utf-8",
                            [("Retry-After", str(after)), ("X-Content-Type-Options", "nosniff")])
                return
            raise Fail(fault["code"], fault["reason"], fault["message"],
                       None if after is None else {"retryAfterSeconds": after},
                       [] if after is None else [("Retry-After", str(after))])
        if req.method not in ("GET", "HEAD"):
            raise Fail(405, "MethodNotAllowed",
                       "the server does not allow this method on the requested resource", {})
        if path == "/version":
            major, minor = self.version.lstrip("v").split(".")[:2]
            self._send(h, 200, {"major": major, "minor": minor, "gitVersion": self.version,
                                "gitCommit": "0" * 40, "gitTreeState": "clean",
                                "buildDate": "2024-07-17T01:44:26Z", "goVersion": "go1.22.5",
                                "compiler": "gc", "platform": "linux/amd64"})
            return
        if user == "system:anonymous":
            raise Fail(403, "Forbidden",
                       'forbidden: User "system:anonymous" cannot get path "%s"' % path, {})
        if self._discovery(h, path):
            return
        m = _ROUTE.match(path)
        if not m or (m.group(3) == "pods") != (m.group(1) is None):
            raise Fail(404, "NotFound", "the server could not find the requested resource", {})
        res = RESOURCES[m.group(3)]
        ns, name = m.group(2), m.group(4)
        watch = parse_bool(req.query.get("watch", ""))
        verb = "get" if name else ("watch" if watch else "list")
        if allow is not None and res.name not in allow:
            scope = 'in the namespace "%s"' % ns if ns else "at the cluster scope"
            # apierrors.NewForbidden: StatusDetails in field order name, group, kind.
            details = {"name": name} if name else {}
            details.update({"group": res.group} if res.group else {})
            details["kind"] = res.name
            raise Fail(403, "Forbidden",
                       '%s%s is forbidden: User "%s" cannot %s resource "%s" in API group "%s" %s'
                       % (res.qualified, ' "%s"' % name if name else "", user, verb, res.name,
                          res.group, scope), details)
        if name:
            with self.cond:
                obj = self.objects[res.name].get((ns, name))
            if obj is None:
                details = {"name": name, **({"group": res.group} if res.group else {}),
                           "kind": res.name}
                raise Fail(404, "NotFound", '%s "%s" not found' % (res.qualified, name), details)
            self._send(h, 200, {"kind": res.kind, "apiVersion": res.api_version, **obj})
            return
        freqs = parse_field_selector(req.query.get("fieldSelector", ""), res.field_labels)
        lpreds = parse_label_selector(req.query.get("labelSelector", ""))
        if watch:
            self._watch(h, req, res, ns, freqs, lpreds)
        else:
            self._list(h, req, res, ns, freqs, lpreds)

    def _discovery(self, h, path):
        events = {"groupVersion": "events.k8s.io/v1", "version": "v1"}
        group = {"name": "events.k8s.io", "versions": [events], "preferredVersion": events}
        if path == "/api":
            self._send(h, 200, {"kind": "APIVersions", "versions": ["v1"],
                                "serverAddressByClientCIDRs": [{
                                    "clientCIDR": "0.0.0.0/0",
                                    "serverAddress": "127.0.0.1:%d" % self.port}]})
        elif path == "/api/v1":
            self._send(h, 200, {"kind": "APIResourceList", "groupVersion": "v1",
                                "resources": [RESOURCES["pods"].discovery()]})
        elif path == "/apis":
            self._send(h, 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [group]})
        elif path == "/apis/events.k8s.io":
            self._send(h, 200, {"kind": "APIGroup", "apiVersion": "v1", **group})
        elif path == "/apis/events.k8s.io/v1":
            self._send(h, 200, {"kind": "APIResourceList", "apiVersion": "v1",
                                "groupVersion": "events.k8s.io/v1",
                                "resources": [RESOURCES["events"].discovery()]})
        else:
            return False
        return True

    def _list(self, h, req, res, ns, freqs, lpreds):
        q = req.query
        rv, match = q.get("resourceVersion", ""), q.get("resourceVersionMatch", "")
        cont = q.get("continue", "")
        try:
            limit = int(q.get("limit") or 0)
        except ValueError:
            raise parse_error(q.get("limit")) from None
        if match and not rv:
            raise forbidden_option("resourceVersionMatch", "resourceVersionMatch is forbidden "
                                   "unless resourceVersion is provided")
        if match and match not in ("NotOlderThan", "Exact"):
            raise Fail(422, "Invalid", 'ListOptions.meta.k8s.io "" is invalid: '
                       'resourceVersionMatch: Unsupported value: "%s"' % match)
        if cont and rv:
            raise forbidden_option("resourceVersion", "specifying resource version is not "
                                   "allowed when using continue")
        w = Watch(res, ns, freqs, lpreds, False, req)
        with self.cond:
            start = ""
            if cont:
                try:
                    tok = json.loads(base64.urlsafe_b64decode(cont + "=" * (-len(cont) % 4)))
                    at, start = int(tok["rv"]), tok["start"]
                except (ValueError, KeyError, TypeError, binascii.Error):
                    raise bad_request("continue key is not valid: incorrect encoded start "
                                      "resourceVersion (version meta.k8s.io/v1)") from None
                if at < self.compacted:
                    raise Fail(410, "Expired", CONTINUE_TOO_OLD)
                state = self._state_at(res.name, at)
            elif rv and rv != "0":
                try:
                    n = int(rv)
                except ValueError:
                    raise bad_request('invalid resource version "%s"' % rv) from None
                if n > self.rv:
                    raise too_large(n, self.rv)
                # Exact, or a legacy paginated list at a resourceVersion, reads that revision.
                if match == "Exact" or (not match and limit > 0):
                    if n < self.compacted:
                        raise Fail(410, "Expired",
                                   "The resourceVersion for the provided list is too old.")
                    at, state = n, self._state_at(res.name, n)
                else:
                    at, state = self.rv, dict(self.objects[res.name])
            else:
                at, state = self.rv, dict(self.objects[res.name])
                if rv == "0":
                    limit = 0  # served from the watch cache: no pagination
            items = [state[k] for k in sorted(state, key=_key_order)
                     if (not start or _key_order(k) > start) and w.matches(state[k])]
        meta = {"resourceVersion": str(at)}
        if limit and len(items) > limit:
            last = _key(items[limit - 1])
            token = {"v": "meta.k8s.io/v1", "rv": at, "start": _key_order(last) + "\x00"}
            raw = json.dumps(token, separators=(",", ":")).encode()
            meta["continue"] = base64.urlsafe_b64encode(raw).decode().rstrip("=")
            if not freqs and not lpreds:
                meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        self._send(h, 200, {"kind": res.kind + "List", "apiVersion": res.api_version,
                            "metadata": meta, "items": items})

    def _watch(self, h, req, res, ns, freqs, lpreds):
        q = req.query
        if q.get("resourceVersionMatch"):
            raise forbidden_option("resourceVersionMatch",
                                   "resourceVersionMatch is forbidden for watch")
        if q.get("sendInitialEvents"):
            raise forbidden_option("sendInitialEvents", "sendInitialEvents is forbidden for "
                                   "watch unless the WatchList feature gate is enabled")
        bookmarks = parse_bool(q.get("allowWatchBookmarks", ""))
        try:
            timeout = int(q["timeoutSeconds"]) if q.get("timeoutSeconds") else None
        except ValueError:
            raise parse_error(q["timeoutSeconds"]) from None
        if timeout is None:
            # The API server's own limit: minRequestTimeout (1800 s) times a factor in [1, 2).
            timeout = self.default_watch_timeout or int(1800 * (1 + self._rng.random()))
        rv = q.get("resourceVersion", "")
        w = Watch(res, ns, freqs, lpreds, bookmarks, req)
        silent = self.take_fault("silent", req) is not None
        with self.cond:
            if rv in ("", "0"):
                # Start at the current state: a synthetic ADDED for every object that matches.
                for k in sorted(self.objects[res.name], key=_key_order):
                    obj = self.objects[res.name][k]
                    if w.matches(obj):
                        w.queue.append(("ADDED", obj))
            else:
                try:
                    n = int(rv)
                except ValueError:
                    raise bad_request('invalid resource version "%s"' % rv) from None
                if n < self.compacted:
                    gone = self._too_old(rv)
                    if self.gone_mode == "http":
                        raise Fail(410, "Expired", gone["message"])
                    w.queue.append(("ERROR", gone))
                    w.queue.append(("END", "expired"))
                elif n > self.rv:
                    # Past parsing, the cacher reports errors in the stream, not as a status.
                    w.queue.append(("ERROR", too_large(n, self.rv).body))
                    w.queue.append(("END", "too large"))
                else:
                    for ch in self.log:
                        if ch.rv > n:
                            w.offer(ch)
            w.silent = silent
            self.watches.append(w)
            generation = self.generation
        req.watch = True
        try:
            h.start_chunked(200, JSON, self._headers())
            with self.cond:
                w.established = True
                self.cond.notify_all()
            self._stream(h, w, timeout, generation)
        except ConnectionGone:
            pass
        finally:
            with self.cond:
                if w.closed is None:
                    w.closed = "client"
                req.end_reason = w.closed
                self.watches.remove(w)
                self.cond.notify_all()

    def _next_item(self, h, w, generation, deadline, timers):
        """The next thing to write on a watch, waiting for it; None when the stream is over
        without a last chunk (server away, client gone)."""
        sock = h.connection
        with self.cond:
            while True:
                if self.generation != generation:
                    w.closed = "away" if self.up else "stopped"
                    return None
                t = time.monotonic()
                if not w.silent:
                    if w.queue:
                        return w.queue.popleft()
                    if w.bookmarks and (w.bookmark_now or min(timers) <= t):
                        if w.bookmark_now:
                            w.bookmark_now = False
                        elif timers[0] <= t:
                            timers[0] = t + (self.bookmark_interval or float("inf"))
                        else:
                            timers[1] = float("inf")
                        return "BOOKMARK", w.res.bookmark_object(str(self.rv))
                    if t >= deadline:
                        return "END", "timeout"
                self.cond.wait(0.2)
                # Has the client gone? Nothing is due from it on a watch: readable means EOF
                # or a TLS close_notify.
                if _readable(sock):
                    w.closed = "client"
                    return None

    def _stream(self, h, w, timeout, generation):
        begin = time.monotonic()
        deadline = begin + timeout
        # Bookmark timers: the periodic one, and the watch cache's 2 s before the deadline.
        timers = [begin + (self.bookmark_interval or float("inf")),
                  deadline - 2 if timeout >= 3 else float("inf")]
        while True:
            item = self._next_item(h, w, generation, deadline, timers)
            if item is None:
                h.close_connection = True
                return
            kind, obj = item
            if kind == "END":
                w.closed = obj
                h.end_chunked()
                return
            if kind == "RAW":
                h.write_chunk(obj)
                continue
            if kind not in ("ERROR", "BOOKMARK"):
                obj = {"kind": w.res.kind, "apiVersion": w.res.api_version, **obj}
            line = model.gojson({"type": kind, "object": obj}) + b"\n"
            cut = self.take_fault("cut", w.req) if kind != "BOOKMARK" else None
            if cut:
                h.write_chunk(line[:max(1, int(len(line) * cut["at"]))])
                w.closed = "cut"
                h.abort()
            for piece in self._pieces(line):
                h.write_chunk(piece)
            with self.cond:
                w.sent += 1
                self.cond.notify_all()

    _CUTS = {
        "key": (rb'"[A-Za-z]{3,}":', 2),             # inside an object key
        "string": (rb':"[^"\\]{3,}', 3),             # inside a string value
        "escape": (rb'\\["\\/bfnrt]', 1),            # between \ and the escaped character
        "unicode_escape": (rb'\\u[0-9a-fA-F]{4}', 3),  # inside \u0026
        "utf8": (rb'[\xc2-\xf4][\x80-\xbf]', 1),      # inside a multi-byte character
    }

    def _pieces(self, line):
        with self.cond:
            kinds, every = self.split_kinds, self.split_every
        if every:
            return [line[i:i + every] for i in range(0, len(line), every)]
        if not kinds:
            return [line]
        cuts = set()
        for kind in kinds:
            if kind == "newline":
                pos = len(line) - 1
            elif kind in self._CUTS:
                pattern, offset = self._CUTS[kind]
                m = re.search(pattern, line)
                pos = m.start() + offset if m else None
            else:
                raise ValueError("unknown split kind %r" % kind)
            if pos:
                cuts.add(pos)
                with self.cond:
                    self.split_counts[kind] = self.split_counts.get(kind, 0) + 1
        bounds = [0] + sorted(cuts) + [len(line)]
        return [line[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


def _readable(sock):
    try:
        if hasattr(sock, "pending") and sock.pending():
            return True
        r, _, _ = select.select([sock], [], [], 0)
        return bool(r)
    except (OSError, ValueError):
        return True


def main():
    """Serves a demo cluster until interrupted: python3 -m standins.kubeapi [node] [pods]."""
    import sys
    node = sys.argv[1] if len(sys.argv) > 1 else "node-a"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    api = KubeAPI().start()
    for p in model.node_pods(node, count):
        api.create_pod(p)
    sa = api.serviceaccount(os.path.join(api.pki.dir, "serviceaccount"))
    print("kubeapi_url=%s\nkubeapi_token_file=%s\nkubeapi_ca_file=%s"
          % (api.url, sa.token_file, sa.ca_file), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        api.stop()


if __name__ == "__main__":
    main()
