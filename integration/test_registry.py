#!/usr/bin/python3
"""With a schema registry configured: each topic's schema registered under <topic>-value, values in
Confluent framing (00 + 4-byte big-endian id), decoded by python3-avro; a failing registry stops
start-up with a clear error. The registry here is a stand-in speaking the Confluent REST API's
register call (Debian has no Schema Registry package)."""
import http.server
import io
import json
import os
import struct
import subprocess
import sys
import threading

import avro.io

import harness
from harness import Producer, Schema

KERNEL = Schema("kernel")


class Registry(http.server.ThreadingHTTPServer):
    def __init__(self, status=200, error_code=50001, message="store unavailable"):
        self.subjects = {}
        self.status = status
        self.error = {"error_code": error_code, "message": message}
        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        parts = self.path.strip("/").split("/")
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.server.status != 200:
            self.reply(self.server.status, self.server.error)
        elif len(parts) == 3 and parts[0] == "subjects" and parts[2] == "versions":
            subjects = self.server.subjects
            subjects.setdefault(parts[1], (len(subjects) + 1, body["schema"]))
            self.reply(200, {"id": subjects[parts[1]][0]})
        else:
            self.reply(404, {"error_code": 404, "message": "not found"})

    def reply(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def decode_confluent(value, schema_id):
    assert value[0] == 0 and struct.unpack(">i", value[1:5])[0] == schema_id, value[:5]
    buf = io.BytesIO(value[5:])
    datum = avro.io.DatumReader(KERNEL.schema).read(avro.io.BinaryDecoder(buf))
    assert buf.tell() == len(value) - 5
    return datum


def test_confluent_framing():
    registry = Registry()
    producer = Producer("--collectors", "kernel", "--set", "schema_registry_url=" + registry.url)
    try:
        assert set(registry.subjects) == {"tapio.kernel-value", "tapio.metadata-value"}, registry.subjects
        kernel_id, registered = registry.subjects["tapio.kernel-value"]
        with open(os.path.join(harness.REPO, "schemas", "kernel.avsc")) as f:
            assert json.loads(registered) == json.load(f)
        pid = os.fork()
        if pid == 0:
            os.execv("/bin/true", ["true", "registry-marker"])
        os.waitpid(pid, 0)
        deadline = harness.time.monotonic() + 30
        mine = []
        while not mine and harness.time.monotonic() < deadline:
            records = [decode_confluent(m.value, kernel_id)
                       for m in harness.consume_all(producer.bootstrap, "tapio.kernel")]
            mine = [r for r in records if r["pid"] == pid and r["kind"] == "EXEC"]
        assert len(mine) == 1 and mine[0]["exec"]["args"] == ["true", "registry-marker"], mine
    finally:
        assert producer.stop() == 0, producer.logs()
        registry.shutdown()


def test_failing_registry_stops_start_up():
    registry = Registry(status=500)
    try:
        proc = subprocess.run([harness.PRODUCER, "--set", "schema_registry_url=" + registry.url],
                              capture_output=True, text=True, timeout=60)
    finally:
        registry.shutdown()
    assert proc.returncode == 1, proc
    assert registry.url in proc.stderr and "HTTP 500" in proc.stderr and "store unavailable" in proc.stderr, proc.stderr


def test_registry_refusing_the_schema_stops_start_up():
    """409, the answer to an incompatible schema: a failure of the run (exit 1), not of the
    configuration (exit 2), with the registry's own words."""
    message = "Schema being registered is incompatible with an earlier schema"
    registry = Registry(status=409, error_code=409, message=message)
    try:
        proc = subprocess.run([harness.PRODUCER, "--set", "schema_registry_url=" + registry.url],
                              capture_output=True, text=True, timeout=60)
    finally:
        registry.shutdown()
    assert proc.returncode == 1, proc
    assert registry.url in proc.stderr and "HTTP 409" in proc.stderr and message in proc.stderr, \
        proc.stderr


def test_bad_registry_url_is_a_config_error():
    proc = subprocess.run([harness.PRODUCER, "--set", "schema_registry_url=ftp://x"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "schema_registry_url" in proc.stderr, proc


def main():
    harness.require_root()
    return harness.run_tests([
        test_confluent_framing,
        test_failing_registry_stops_start_up,
        test_registry_refusing_the_schema_stops_start_up,
        test_bad_registry_url_is_a_config_error,
    ])


if __name__ == "__main__":
    sys.exit(main())
