"""The HTTP(S) machinery shared by the stand-ins: a threaded HTTP/1.1 server on 127.0.0.1 that
runs in a thread of the test process, records every request, can go away (stop listening, reset
every open connection) and come back on the same port with the same state, and lets a test queue
faults that the next matching requests meet.

Nothing here knows Kubernetes; kubeapi.py and kubelet.py build on it.
"""
import http.server
import socket
import socketserver
import ssl
import threading
import time
import urllib.parse


class Request:
    """One request as served, appended to StandInServer.requests when it arrives.

    method, path, query (dict: name -> last value), raw_query, headers (dict, lower-case names),
    user (the authenticated name, or None), status (the HTTP status sent, None until sent),
    watch (True for a streaming watch), ended (False while the response is being written),
    end_reason (for watches: "timeout", "client", "cut", "away", "expired", "stopped"),
    content_encoding ("gzip" when the body was compressed)."""

    def __init__(self, method, path, raw_query, headers):
        self.method = method
        self.path = path
        self.raw_query = raw_query
        parsed = urllib.parse.parse_qs(raw_query, keep_blank_values=True)
        self.query = {k: v[-1] for k, v in parsed.items()}
        self.headers = headers
        self.user = None
        self.status = None
        self.watch = False
        self.ended = False
        self.end_reason = None
        self.content_encoding = None
        self.arrived = time.monotonic()

    def __repr__(self):
        return "<%s %s?%s -> %s%s>" % (self.method, self.path, self.raw_query, self.status,
                                        " watch" if self.watch else "")


class Fault:
    def __init__(self, kind, count, match, params):
        self.kind, self.remaining, self.match, self.params = kind, count, match, params

    def matches(self, req):
        if self.match is None:
            return True
        if callable(self.match):
            return self.match(req)
        return req.path.startswith(self.match)


class ConnectionGone(Exception):
    """The client went away, or the test cut the connection."""


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = ""
    sys_version = ""

    def setup(self):
        super().setup()
        self.standin = self.server.standin
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.settimeout(10)
            try:
                self.connection.do_handshake()
            except (ssl.SSLError, OSError) as e:
                self.standin.note_tls_error(e)
                raise ConnectionGone() from e
            self.connection.settimeout(None)

    def handle(self):
        try:
            super().handle()
        except (ConnectionGone, ConnectionError, ssl.SSLError, OSError):
            self.close_connection = True

    def version_string(self):
        return ""

    def _dispatch(self):
        url = urllib.parse.urlsplit(self.path)
        req = Request(self.command, url.path, url.query,
                      {k.lower(): v for k, v in self.headers.items()})
        self.req = req
        with self.standin.cond:
            self.standin.requests.append(req)
            self.standin.cond.notify_all()
        try:
            self.standin.handle(self, req)
        finally:
            with self.standin.cond:
                req.ended = True
                self.standin.cond.notify_all()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch

    def log_message(self, *args):
        pass

    def peer_cn(self):
        """The verified client certificate's CN and O values, or None."""
        if not isinstance(self.connection, ssl.SSLSocket):
            return None
        cert = self.connection.getpeercert()
        if not cert:
            return None
        cn, orgs = None, []
        for rdn in cert.get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    cn = v
                elif k == "organizationName":
                    orgs.append(v)
        return cn, orgs

    # Writing responses. Every write goes straight to the socket (wfile is unbuffered).

    def _status(self, code, reason=None):
        self.req.status = code
        self.send_response(code, reason)
        self.send_header("Date", self.date_time_string())

    def send_body(self, code, body, content_type, headers=()):
        """A whole response with Content-Length."""
        self._status(code)
        self.send_header("Content-Type", content_type)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def start_body(self, code, content_type, length, headers=()):
        """Headers of a response with Content-Length, its body to be written by the caller."""
        self._status(code)
        self.send_header("Content-Type", content_type)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def start_chunked(self, code, content_type, headers=()):
        self._status(code)
        self.send_header("Content-Type", content_type)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def write_chunk(self, data):
        if data:
            try:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            except (OSError, ssl.SSLError) as e:
                raise ConnectionGone() from e

    def end_chunked(self):
        try:
            self.wfile.write(b"0\r\n\r\n")
        except (OSError, ssl.SSLError) as e:
            raise ConnectionGone() from e

    def write_raw(self, data):
        try:
            self.wfile.write(data)
        except (OSError, ssl.SSLError) as e:
            raise ConnectionGone() from e

    def abort(self):
        """Drops the connection with no orderly end: no last chunk, no TLS close_notify; the
        client reads an unexpected EOF, as when a server or a proxy dies mid-response."""
        self.close_connection = True
        try:
            # SSLSocket.shutdown is the TCP shutdown: no close_notify goes out.
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise ConnectionGone()


class _Transport(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, standin, address, ssl_ctx):
        self.standin = standin
        self.ssl_ctx = ssl_ctx
        self.connections = set()
        self.conn_lock = threading.Lock()
        super().__init__(address, Handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.ssl_ctx is not None:
            # The handshake runs in the connection's own thread (Handler.setup): a client that
            # never completes it must not stop the server accepting others.
            sock = self.ssl_ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with self.conn_lock:
            self.connections.add(sock)
        return sock, addr

    def shutdown_request(self, request):
        with self.conn_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        pass  # a client that vanished mid-request is not the test's failure

    def reset_all(self):
        with self.conn_lock:
            conns = list(self.connections)
            self.connections.clear()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class StandInServer:
    """Base of the stand-ins. Subclasses implement handle(handler, request)."""

    def __init__(self, ssl_ctx=None, host="127.0.0.1", port=0):
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.requests = []
        self.tls_errors = []
        self.faults = []
        self._ssl_ctx = ssl_ctx
        self._host = host
        self._port = port
        self._transport = None
        self._thread = None
        self.up = False
        self.generation = 0  # bumped by every away() and stop(): open streams end when it changes

    # Life cycle

    def start(self):
        self._listen()
        return self

    def _listen(self):
        self._transport = _Transport(self, (self._host, self._port), self._ssl_ctx)
        self._port = self._transport.server_address[1]
        self._thread = threading.Thread(target=self._transport.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        with self.cond:
            self.up = True
            self.cond.notify_all()

    def _unlisten(self):
        with self.cond:
            self.up = False
            self.generation += 1
            self.cond.notify_all()
        t = self._transport
        if t is None:
            return
        t.shutdown()
        t.server_close()
        t.reset_all()
        self._transport = None

    def away(self):
        """Stops listening (connects are refused) and resets every open connection."""
        self._unlisten()

    def back(self):
        """Listens again on the same port; the state is what it was."""
        if not self.up:
            self._listen()

    def stop(self):
        self._unlisten()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self._port

    @property
    def scheme(self):
        return "https" if self._ssl_ctx is not None else "http"

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self._port)

    # Waiting on the stand-in's state (data, not time)

    def wait(self, predicate, timeout=20, what="condition"):
        """Waits until predicate() (called under the lock) is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                v = predicate()
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("stand-in: no %s within %ss" % (what, timeout))
                self.cond.wait(min(left, 0.5))

    def wait_request(self, predicate=lambda r: True, timeout=20, since=0):
        """The first request (index >= since) matching predicate, once it has arrived."""
        def find():
            for r in self.requests[since:]:
                if predicate(r):
                    return r
            return None
        return self.wait(find, timeout, "matching request")

    def note_tls_error(self, e):
        with self.cond:
            self.tls_errors.append(str(e))
            self.cond.notify_all()

    # Faults

    def add_fault(self, kind, count=1, match=None, **params):
        with self.cond:
            self.faults.append(Fault(kind, count, match, params))

    def take_fault(self, kind, req):
        """The parameters of the first pending fault of this kind matching req (consumed), or
        None."""
        with self.cond:
            for f in self.faults:
                if f.kind == kind and f.remaining > 0 and f.matches(req):
                    f.remaining -= 1
                    if f.remaining == 0:
                        self.faults.remove(f)
                    return f.params
        return None

    def clear_faults(self):
        with self.cond:
            self.faults.clear()

    def handle(self, handler, req):
        raise NotImplementedError
