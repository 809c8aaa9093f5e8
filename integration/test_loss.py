#!/usr/bin/python3
"""A loss caused on purpose: a 4 KiB ring buffer and a burst of execs while the producer is stopped.
The metric and the in-band LOSS records agree on how many records the kernel could not write, and the
counters add up."""
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import harness
from harness import Producer, Schema

KERNEL = Schema("kernel")


def get(producer, path, timeout=60):
    try:
        with urllib.request.urlopen("http://%s%s" % (producer.metrics, path), timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def kernel_counters(logs):
    """The kernel collector's counters from the producer's first stats line (at shutdown)."""
    line = next(l for l in logs.splitlines() if " kernel: received=" in l)
    return line, {k: int(v) for k, v in (kv.split("=") for kv in line.split() if "=" in kv)}


def reserve_failures(producer):
    _, text = get(producer, "/metrics")
    return sum(int(v) for v in re.findall(
        r'^tapio_ringbuf_reserve_failures_total\{collector="kernel",cpu="\d+"\} (\d+)$', text, re.M))


def reported(producer):
    """Sum of RING_BUFFER counts in the LOSS records of tapio.kernel, and their sequence numbers."""
    recs = [KERNEL.decode(m.value) for m in harness.consume_all(producer.bootstrap, "tapio.kernel")]
    loss = [r for r in recs if r and r["kind"] == "LOSS" and r["loss"]["stage"] == "RING_BUFFER"]
    return sum(r["loss"]["count"] for r in loss), loss, recs


def wait_all_threads_stopped(pid):
    """SIGSTOP is asynchronous: return once every thread of pid is in state T, so none drains."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        states = []
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                states.append(f.read().rsplit(")", 1)[1].split()[0])
        if all(s in ("T", "t") for s in states):
            return
        time.sleep(0.01)
    raise AssertionError("producer threads did not stop: %s" % states)


def test_tiny_ring_buffer_burst():
    # A broker of its own: the run is checked whole, after the producer stopped.
    broker = harness.MockBroker("tapio.kernel", "tapio.metadata")
    try:
        tiny_ring_buffer_burst(broker)
    finally:
        broker.stop()


def tiny_ring_buffer_burst(broker):
    producer = Producer("--collectors", "kernel", "--brokers", broker.bootstrap,
                        "--set", "ringbuf_kb=4", "--set", "stats_interval_s=0")
    try:
        # With the reader stopped nothing drains the ring: 300 execs and exits (600 records, each
        # well over 7 bytes) cannot all fit in 4 KiB, whatever the speed of the machine.
        producer.proc.send_signal(signal.SIGSTOP)
        try:
            wait_all_threads_stopped(producer.proc.pid)
            subprocess.run(["/bin/sh", "-c", "for i in $(seq 300); do /bin/true; done"], check=True)
        finally:
            producer.proc.send_signal(signal.SIGCONT)
        # Wait on the data: the reports catch up with the counter once the burst is over.
        deadline = time.monotonic() + 30
        while True:
            metric = reserve_failures(producer)
            total, loss, recs = reported(producer)
            if (metric > 0 and total == metric) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert metric > 0, "the burst overflowed nothing"
        assert total == metric, (total, metric)
        for r in loss:
            assert r["cgroup_id"] == 0 and r["pid"] == 0 and r["exec"] is None, r
            assert r["loss"]["since"] <= r["loss"]["until"], r
        # LOSS records take sequence numbers like any record: no gaps, no repeats. Partitions are
        # acknowledged independently, so wait until the snapshot has caught up to its highest seq.
        deadline = time.monotonic() + 30
        while True:
            seqs = sorted(r["seq"] for r in recs if r)
            if seqs == list(range(1, len(seqs) + 1)) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
            _, _, recs = reported(producer)
        assert seqs == list(range(1, len(seqs) + 1)), seqs[:20]
    finally:
        rc = producer.stop(signal.SIGTERM)
    logs = producer.logs()
    # The run lost records: the summary says so, by stage, and so does the exit status.
    assert rc == 1, logs
    assert re.search(r"\d+ record\(s\) were lost during this run \(ring_buffer=\d+", logs), logs
    assert "all records delivered" not in logs, logs
    line, n = kernel_counters(logs)
    assert n["reserve_failures"] >= metric, line
    assert n["produced"] == n["delivered"] + n["delivery_failed"], line
    assert n["received"] + n["loss_records"] == n["produced"] + n["spooled"] + n["rejected"] + \
        n["encode_failed"] + n["queue_full"] + n["produce_failed"], line
    # What a consumer sees of the whole run (tapio-tail --check): every record once, none
    # missing (ring-buffer losses never got a seq), and LOSS records counting at least what the
    # test saw, at most what the shutdown summary says.
    _, streams, _, _, err = harness.check(broker.bootstrap, "tapio.kernel")
    (s,) = [s for (_, node, _), s in streams.items() if node == producer.node]
    assert s["ok"] and s["missing"] == 0 and s["duplicates"] == 0 and s["first_seq"] == 1, s
    logged = int(re.search(r"were lost during this run \(ring_buffer=(\d+)", logs).group(1))
    assert total <= s["loss"]["RING_BUFFER"] <= logged, (total, s["loss"], logged)


def queue_full_drops(producer, timeout=60):
    _, text = get(producer, "/metrics", timeout)
    m = re.search(r'^tapio_records_dropped_total\{collector="kernel",stage="queue_full"\} (\d+)$', text, re.M)
    return int(m.group(1)) if m else 0


def test_outage_without_spool_drops_at_once():
    """No broker answers and there is no spool: once librdkafka's queue is full, each record is
    dropped and counted at once, and /healthz keeps answering. Waiting on Kafka for each record
    instead (100 ms each, as the producer once did) stalls the event loop: the burst's 350 drops
    would take at least 35 s to count, past the 20 s allowed here for what takes milliseconds."""
    producer = Producer("--collectors", "kernel", "--brokers", "127.0.0.1:1",
                        "--set", "kafka.queue.buffering.max.messages=50", "--set", "kafka.log_level=0",
                        "--set", "stats_interval_s=0", "--set", "flush_timeout_ms=1000")
    try:
        subprocess.run(["/bin/sh", "-c", "for i in $(seq 200); do /bin/true; done"], check=True)
        # Wait on the data: the burst's 400 records minus the 50 the queue holds.
        deadline = time.monotonic() + 20
        drops = 0
        while drops < 350:
            left = deadline - time.monotonic()
            assert left > 0, "drops counted after 20 s: %d of 350" % drops
            try:
                drops = queue_full_drops(producer, timeout=left)
            except OSError as e:  # the event loop did not answer in time
                raise AssertionError("event loop stalled: /metrics unanswered (%s)" % e)
            time.sleep(0.2)
        status, body = get(producer, "/healthz")
        assert (status, body) == (200, "ok\n"), (status, body)
    finally:
        rc = producer.stop(signal.SIGTERM)
    logs = producer.logs()
    assert rc == 1, logs  # records left undelivered
    line, n = kernel_counters(logs)
    # What the queue held is still there at shutdown: the log says so, counted.
    m = re.search(r"error (\d+) record\(s\) could not be delivered within 1000 ms", logs)
    assert n["delivered"] == 0 and m and int(m.group(1)) >= n["produced"] > 0, (line, logs[-500:])
    # LOSS reports the full queue could not take are not counted as lost records.
    assert n["received"] + n["loss_records"] == n["produced"] + n["queue_full"] + n["rejected"], line


def main():
    harness.require_root()
    return harness.run_tests([test_tiny_ring_buffer_burst, test_outage_without_spool_drops_at_once])


if __name__ == "__main__":
    sys.exit(main())
