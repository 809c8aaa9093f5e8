#!/usr/bin/python3
"""Local HTTP(S) server for tests/test_http.c (stdlib only).

    http_test_server.py certs DIR
        Makes a throwaway CA (ca.pem), a second unrelated CA (other-ca.pem), a server
        certificate for 127.0.0.1/localhost (server.pem, server.key) and a client certificate
        (client.pem, client.key), both signed by ca.pem, with the openssl command.

    http_test_server.py serve [--tls DIR] [--client-auth] [--token-file FILE]
        Listens on 127.0.0.1 (a free port), prints "port=N" on stdout, and serves until its
        stdin closes (the test holds the other end: if the test dies, the server goes too).

Routes (GET unless said):
    /json                   a JSON object with Content-Length
    /notjson                200 with a body that is not JSON
    /auth                   200 when "Authorization: Bearer <token>" matches --token-file
                            (read at each request), else 401
    /retry-after            429 with Retry-After: 7
    /unavailable            503 with Retry-After: 3
    /status/NNN             that status with a Kubernetes-style Status body
    /stream                 chunked: three watch events cut across chunk boundaries
    /stream-hostile         chunked: good, too large, not JSON, good, then cut mid-object
    /big                    chunked: 64 MiB, written until the client hangs up
    /big-length             Content-Length: 64 MiB, then the same bytes
    /silent                 chunked: one event, then nothing for 60 s
    POST /echo              {"method", "content_type", "body": the request body parsed}
    POST /echo-stream       chunked: the request body twice, back to back (as etcd's gateway)
"""
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WATCH_EVENTS = [
    {"type": "ADDED", "object": {"kind": "Pod", "metadata": {
        "name": "web-0", "namespace": "default", "resourceVersion": "101",
        "labels": {"app": "web", "quote": "a\"}{b"}}, "status": {"phase": "Pending"}}},
    {"type": "MODIFIED", "object": {"kind": "Pod", "metadata": {
        "name": "web-0", "namespace": "default", "resourceVersion": "102",
        "annotations": {"note": "caf\u00e9 \u2603 [\\]"}}, "status": {"phase": "Running"}}},
    {"type": "BOOKMARK", "object": {"kind": "Pod", "metadata": {"resourceVersion": "103"}}},
]


def make_certs(d):
    os.makedirs(d, exist_ok=True)

    def run(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for name, cn in (("ca", "tapio-test-ca"), ("other-ca", "tapio-other-ca")):
        run("req", "-x509", *ec, "-keyout", name + ".key", "-out", name + ".pem", "-days", "2",
            "-subj", "/CN=" + cn, "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    leaves = (("server", "localhost",
               "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"),
              ("client", "tapio-test-client", "extendedKeyUsage=clientAuth\n"))
    for name, cn, ext in leaves:
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write(ext)
        run("req", *ec, "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn)
        run("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext")


def cut(data, sizes):
    """data cut into pieces of the given sizes (cycled)."""
    out, i, k = [], 0, 0
    while i < len(data):
        out.append(data[i:i + sizes[k % len(sizes)]])
        i += sizes[k % len(sizes)]
        k += 1
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    token_file = None

    def log_message(self, fmt, *args):
        pass

    def send_json(self, status, obj, extra=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def status_body(self, code, message):
        return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
                "message": message}

    def start_chunked(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_chunked(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_GET(self):
        path = self.path
        if path == "/json":
            self.send_json(200, {"kind": "PodList", "items": [{"n": 1}, {"n": 2}],
                                 "metadata": {"resourceVersion": "100"}})
        elif path == "/notjson":
            body = b"<html>not json</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif path == "/auth":
            with open(self.token_file) as f:
                want = "Bearer " + f.read().strip()
            if self.headers.get("Authorization") == want:
                self.send_json(200, {"authenticated": True})
            else:
                self.send_json(401, self.status_body(401, "Unauthorized"))
        elif path == "/retry-after":
            self.send_json(429, self.status_body(429, "slow down"), [("Retry-After", "7")])
        elif path == "/unavailable":
            self.send_json(503, self.status_body(503, "unavailable"), [("Retry-After", "3")])
        elif path.startswith("/status/"):
            code = int(path[len("/status/"):])
            self.send_json(code, self.status_body(code, "status %d as asked" % code))
        elif path == "/stream":
            data = b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n"
                            for e in WATCH_EVENTS)
            self.start_chunked()
            # Cuts inside strings, escapes and between an object and its newline.
            for piece in cut(data, [7, 1, 13, 2, 31, 5]):
                self.chunk(piece)
                time.sleep(0.002)
            self.end_chunked()
        elif path == "/stream-hostile":
            self.start_chunked()
            self.chunk(b'{"n":1}\n')
            self.chunk(b'{"big":"' + b"x" * 4096 + b'"}\n')
            self.chunk(b'{"n":bad}\n')
            self.chunk(b'{"n":2}\n{"cut":')
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif path in ("/big", "/big-length"):
            piece = b"1," * 32768
            total = 64 << 20
            self.send_response(200)
            if path == "/big-length":
                self.send_header("Content-Length", str(total))
            else:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for _ in range(total // len(piece)):
                    if path == "/big":
                        self.chunk(b"[" + piece)
                    else:
                        self.wfile.write(b"[" + piece)
            except OSError:
                pass
            self.close_connection = True
        elif path == "/silent":
            self.start_chunked()
            self.chunk(json.dumps(WATCH_EVENTS[0]).encode() + b"\n")
            time.sleep(60)
        else:
            self.send_json(404, self.status_body(404, "no route " + path))

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if self.path == "/echo":
            self.send_json(200, {"method": "POST",
                                 "content_type": self.headers.get("Content-Type"),
                                 "body": json.loads(body)})
        elif self.path == "/echo-stream":
            self.start_chunked()
            self.chunk(body[:3])
            self.chunk(body[3:] + body[:1])
            self.chunk(body[1:])
            self.end_chunked()
        else:
            self.send_json(404, self.status_body(404, "no route"))


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # refused handshakes and clients that hang up are part of the tests


def serve(args):
    tls_dir, client_auth = None, False
    while args:
        a = args.pop(0)
        if a == "--tls":
            tls_dir = args.pop(0)
        elif a == "--client-auth":
            client_auth = True
        elif a == "--token-file":
            Handler.token_file = args.pop(0)
        else:
            sys.exit("unknown argument " + a)
    server = Server(("127.0.0.1", 0), Handler)
    if tls_dir:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(tls_dir, "server.pem"),
                            os.path.join(tls_dir, "server.key"))
        if client_auth:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(os.path.join(tls_dir, "ca.pem"))
        # The handshake happens in the handler's thread, so a refused one blocks nobody.
        server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("port=%d" % server.server_address[1], flush=True)
    sys.stdin.read()  # until the test closes our stdin or dies
    os._exit(0)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "certs":
        make_certs(sys.argv[2])
    elif len(sys.argv) >= 2 and sys.argv[1] == "serve":
        serve(sys.argv[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
