#!/usr/bin/python3
"""Signals a daemon receives (issue 15, item 3). During an outage, with records spooled, SIGHUP,
SIGUSR1, SIGUSR2, SIGPIPE and SIGXFSZ leave the producer running and lose nothing: a later
producer delivers every record of both markers. A second SIGTERM cuts the shutdown flush short."""
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import harness
from harness import Producer, Schema

KERNEL = Schema("kernel")


def spool_holds(spool_dir, marker):
    for path in glob.glob(os.path.join(spool_dir, "*.spool")):
        with open(path, "rb") as f:
            if marker.encode() in f.read():
                return True
    return False


def wait_spooled(spool_dir, marker):
    deadline = time.monotonic() + 30
    while not spool_holds(spool_dir, marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    return spool_holds(spool_dir, marker)


def test_signals_during_outage_lose_nothing():
    spool_dir = tempfile.mkdtemp(prefix="tapio-signals-")
    before, after = ("tapio-sig-" + uuid.uuid4().hex for _ in range(2))
    try:
        # Nothing listens on port 1: the broker is down from the start; records go to the spool.
        first = Producer("--collectors", "kernel", "--brokers", "127.0.0.1:1",
                         "--set", "spool_dir=" + spool_dir, "--set", "stats_interval_s=0")
        assert harness.wait_for_log(first, "spooling them to " + spool_dir), first.logs()
        subprocess.run(["/bin/sh", "-c", "exit 3", before], check=False)
        assert wait_spooled(spool_dir, before), first.logs()

        first.proc.send_signal(signal.SIGHUP)
        assert harness.wait_for_log(first, "SIGHUP from pid"), first.logs()
        first.proc.send_signal(signal.SIGUSR1)  # the counters, on demand (stats_interval_s=0)
        assert harness.wait_for_log(first, "kernel: received="), first.logs()
        first.proc.send_signal(signal.SIGUSR2)
        assert harness.wait_for_log(first, "SIGUSR2: log level debug"), first.logs()
        first.proc.send_signal(signal.SIGUSR2)
        assert harness.wait_for_log(first, "SIGUSR2: log level info"), first.logs()
        first.proc.send_signal(signal.SIGPIPE)
        first.proc.send_signal(signal.SIGXFSZ)
        # Still running and still working: a record made after every signal is spooled too.
        subprocess.run(["/bin/sh", "-c", "exit 4", after], check=False)
        assert wait_spooled(spool_dir, after), first.logs()
        assert first.proc.poll() is None, first.logs()
        assert first.stop() == 0, first.logs()
        assert "shutting down" in first.logs(), first.logs()

        second = Producer("--collectors", "kernel", "--set", "spool_dir=" + spool_dir)
        try:
            for marker, code in ((before, 3), (after, 4)):
                found, _ = harness.wait_for(
                    second.bootstrap, "tapio.kernel", KERNEL,
                    lambda r, m=marker: r["kind"] == "EXEC" and m in r["exec"]["args"], 1)
                assert len(found) == 1, (marker, found)
                found, _ = harness.wait_for(
                    second.bootstrap, "tapio.kernel", KERNEL,
                    lambda r, pid=found[0][1]["pid"]: r["kind"] == "EXIT" and r["pid"] == pid, 1)
                assert len(found) == 1 and found[0][1]["exit"]["exit_code"] == code, found
        finally:
            assert second.stop() == 0, second.logs()
    finally:
        shutil.rmtree(spool_dir, ignore_errors=True)


def test_second_sigterm_cuts_the_flush():
    """No spool, no broker, a minute's flush: the first SIGTERM starts it, the second ends it, and
    what was not delivered is counted and reported (exit status 1)."""
    producer = Producer("--collectors", "kernel", "--brokers", "127.0.0.1:1",
                        "--set", "flush_timeout_ms=60000")
    try:
        subprocess.run(["/bin/true"], check=True)  # something queued besides the snapshot
        producer.proc.send_signal(signal.SIGTERM)
        assert harness.wait_for_log(producer, "shutting down"), producer.logs()
        producer.proc.send_signal(signal.SIGTERM)
        # Waits on the exit, well inside the minute the flush would otherwise take.
        rc = producer.proc.wait(timeout=30)
    finally:
        if producer.proc.poll() is None:
            producer.proc.kill()
            producer.proc.wait()
        producer.log.close()
    logs = producer.logs()
    assert rc == 1, (rc, logs)
    assert "stop signal: not waiting for the" in logs, logs
    assert "could not be delivered" in logs, logs


def main():
    harness.require_root()
    return harness.run_tests([
        test_signals_during_outage_lose_nothing,
        test_second_sigterm_cuts_the_flush,
    ])


if __name__ == "__main__":
    sys.exit(main())
