#!/usr/bin/python3
"""A scripted stand-in for etcd's JSON gateway, for tests/test_etcd.c (stdlib only): it plays the
watch streams a real etcd sends only by chance (a connection cut between the fragments of one
revision, a revision sent again, a value that is not a watch response, another cluster), so the
collector's resume logic can be checked exactly. The real etcd: integration/test_etcd.py.

    etcd_script_server.py SCRIPT REQUESTS
        SCRIPT: a JSON file {"status": <the reply to POST /v3/maintenance/status>,
                             "watches": [[step, ...], ...]}; watch request n plays watches[n],
        then stays open. A step is {"send": <value>} (written as one line), {"raw": "<text>"},
        {"close": true} (the connection is cut, the chunked body left unfinished) or
        {"wait_ms": n}.
        REQUESTS: every watch request's body is appended to this file, one per line, before its
        answer starts.
        Listens on 127.0.0.1 (a free port), prints "port=N" on stdout, and serves until its stdin
        closes.
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    lock = threading.Lock()
    watches = 0

    def log_message(self, *args):
        pass

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/v3/maintenance/status":
            reply = json.dumps(SCRIPT["status"]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
            return
        if self.path != "/v3/watch":
            self.send_error(404)
            return
        with Handler.lock:
            n = Handler.watches
            Handler.watches += 1
            with open(REQUESTS, "ab") as f:
                f.write(body.replace(b"\n", b" ") + b"\n")
        steps = SCRIPT["watches"][n] if n < len(SCRIPT["watches"]) else []
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for step in steps:
                if "send" in step:
                    self.chunk(json.dumps(step["send"]).encode() + b"\n")
                elif "raw" in step:
                    self.chunk(step["raw"].encode())
                elif "wait_ms" in step:
                    time.sleep(step["wait_ms"] / 1000)
                elif step.get("close"):
                    self.close_connection = True
                    return
            while True:  # held open until the client goes
                time.sleep(0.2)
                self.chunk(b" ")
        except OSError:
            self.close_connection = True


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        SCRIPT = json.load(f)
    REQUESTS = sys.argv[2]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("port=%d" % server.server_address[1], flush=True)
    sys.stdin.read()
    server.shutdown()
