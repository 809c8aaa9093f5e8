#!/usr/bin/python3
"""argv redaction (kernel_redact_args): a real exec with secrets on its command line. The record on
tapio.kernel carries [REDACTED] in their place, and neither the spool nor the topic ever holds the
secret; with the key emptied, argv is published as it is."""
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

import harness
from harness import Producer, Schema

KERNEL = Schema("kernel")
SECRETS = ("hunter2-" + uuid.uuid4().hex[:8], "s3cr3t-" + uuid.uuid4().hex[:8],
           "pw-" + uuid.uuid4().hex[:8])


def secret_argv(marker):
    return ["/bin/sh", "-c", "exit 0", marker, "--password=" + SECRETS[0],
            "AWS_SECRET_ACCESS_KEY=" + SECRETS[1], "https://user:%s@example.com/x" % SECRETS[2],
            "--color=auto"]


def spool_bytes(spool_dir):
    data = b""
    for path in glob.glob(os.path.join(spool_dir, "*.spool")):
        with open(path, "rb") as f:
            data += f.read()
    return data


def exec_record(producer, marker):
    found, msgs = harness.wait_for(producer.bootstrap, "tapio.kernel", KERNEL,
                                   lambda r: r["kind"] == "EXEC" and marker in r["exec"]["args"], 1)
    assert len(found) == 1, found
    return found[0][1], msgs


def test_redacted_before_the_spool_and_kafka():
    spool_dir = tempfile.mkdtemp(prefix="tapio-redact-")
    marker = "tapio-redact-" + uuid.uuid4().hex
    try:
        # No broker: the record goes to the spool, which must not hold the secrets either.
        first = Producer("--collectors", "kernel", "--brokers", "127.0.0.1:1",
                         "--set", "spool_dir=" + spool_dir, "--set", "spool_fsync=always")
        assert harness.wait_for_log(first, "spooling them to " + spool_dir), first.logs()
        subprocess.run(secret_argv(marker), check=True)
        deadline = time.monotonic() + 30
        while marker.encode() not in spool_bytes(spool_dir) and time.monotonic() < deadline:
            time.sleep(0.1)
        spooled = spool_bytes(spool_dir)
        assert marker.encode() in spooled, first.logs()
        for secret in SECRETS:
            assert secret.encode() not in spooled, secret
        assert first.stop() == 0, first.logs()

        # The spooled record, delivered; and one made while Kafka takes records.
        second = Producer("--collectors", "kernel", "--set", "spool_dir=" + spool_dir)
        try:
            live = marker + "-live"
            subprocess.run(secret_argv(live), check=True)
            for mark in (marker, live):
                rec, msgs = exec_record(second, mark)
                assert rec["exec"]["args"] == [
                    "/bin/sh", "-c", "exit 0", mark, "--password=[REDACTED]",
                    "AWS_SECRET_ACCESS_KEY=[REDACTED]", "https://user:[REDACTED]@example.com/x",
                    "--color=auto"], rec["exec"]["args"]
            for m in msgs:
                for secret in SECRETS:
                    assert secret.encode() not in (m.value or b""), secret
            # Counted on /metrics: the three values of the live exec.
            with urllib.request.urlopen("http://%s/metrics" % second.metrics, timeout=10) as r:
                body = r.read().decode()
            line = [l for l in body.splitlines()
                    if l.startswith("tapio_kernel_args_redacted_total ")]
            assert line and int(line[0].split()[1]) >= 3, line
        finally:
            assert second.stop() == 0, second.logs()
    finally:
        shutil.rmtree(spool_dir, ignore_errors=True)


def test_redaction_off():
    marker = "tapio-redact-off-" + uuid.uuid4().hex
    producer = Producer("--collectors", "kernel", "--set", "kernel_redact_args=")
    try:
        subprocess.run(secret_argv(marker), check=True)
        rec, _ = exec_record(producer, marker)
        assert rec["exec"]["args"] == secret_argv(marker), rec["exec"]["args"]
    finally:
        assert producer.stop() == 0, producer.logs()


def main():
    harness.require_root()
    return harness.run_tests([
        test_redacted_before_the_spool_and_kafka,
        test_redaction_off,
    ])


if __name__ == "__main__":
    sys.exit(main())
