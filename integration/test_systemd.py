#!/usr/bin/python3
"""Collector `systemd` on the real kernel: system.slice/<name>.service cgroups with main processes
that exit cleanly, fail, are killed, and are started again (in place and in a new cgroup); the
records found in tapio.systemd in order, with restart counts."""
import os
import re
import signal
import sys
import uuid

import harness
from harness import Producer, Schema

SYSTEMD = Schema("systemd")
producer = None
early = None
early_pid = None


class Unit:
    """A systemd-style service cgroup, system.slice/<name>.service."""

    def __init__(self, name=None):
        self.unit = name or "tapio-itest-%s.service" % uuid.uuid4().hex[:12]
        self.top = os.path.join(harness.cgroup2_root(), "system.slice")
        self.made_top = not os.path.isdir(self.top)
        self.path = os.path.join(self.top, self.unit)
        os.makedirs(self.path)
        self.cgroup_id = os.stat(self.path).st_ino

    def run(self, argv):
        pid = harness.spawn_in_cgroups([self.path], argv)
        _, status = os.waitpid(pid, 0)
        return pid, status

    def remove(self):
        os.rmdir(self.path)
        if self.made_top:
            try:
                os.rmdir(self.top)
            except OSError:
                pass


def unit_records(unit, want):
    found, _ = harness.wait_for(producer.bootstrap, "tapio.systemd", SYSTEMD,
                                lambda r: r["unit"] == unit, want)
    return sorted(found, key=lambda mr: mr[1]["seq"])


def kill_when_started(u, sig, records_before):
    """Starts a sleep in the unit, waits for its MAIN_STARTED, kills it with sig."""
    pid = harness.spawn_in_cgroups([u.path], ["/bin/sleep", "600"])
    got = unit_records(u.unit, records_before + 1)
    assert got[-1][1]["kind"] == "MAIN_STARTED" and got[-1][1]["pid"] == pid, got[-1]
    os.kill(pid, sig)
    os.waitpid(pid, 0)
    return pid


def test_unit_exits_fails_is_killed_and_restarts():
    u = Unit()
    ok, _ = u.run(["/bin/true"])
    bad, status = u.run(["/bin/sh", "-c", "exit 3"])
    assert os.WEXITSTATUS(status) == 3
    killed = kill_when_started(u, signal.SIGKILL, 7)
    termed = kill_when_started(u, signal.SIGTERM, 10)
    u.remove()
    got = unit_records(u.unit, 13)
    expect = [("STARTED", 0), ("MAIN_STARTED", 0), ("EXITED", 0),
              ("RESTARTED", 1), ("MAIN_STARTED", 1), ("FAILED", 1),
              ("RESTARTED", 2), ("MAIN_STARTED", 2), ("FAILED", 2),
              ("RESTARTED", 3), ("MAIN_STARTED", 3), ("EXITED", 3),
              ("STOPPED", 3)]
    assert [(r["kind"], r["restart_count"]) for _, r in got] == expect, got
    for msg, rec in got:
        assert msg.key == "itest-node/%d" % u.cgroup_id, msg.key
        assert rec["cgroup_id"] == u.cgroup_id and rec["pod_uid"] is None, rec
        assert rec["path"] == "/system.slice/" + u.unit, rec
    recs = [r for _, r in got]
    assert recs[1]["pid"] == ok and recs[1]["filename"] == "/bin/true" and recs[1]["main_process"]
    assert recs[2]["pid"] == ok and recs[2]["exit"]["exit_code"] == 0, recs[2]
    assert recs[5]["pid"] == bad and recs[5]["exit"]["exit_code"] == 3, recs[5]
    assert recs[8]["pid"] == killed and recs[8]["exit"]["signal"] == 9, recs[8]
    # SIGTERM is one of systemd's clean exit signals: EXITED, not FAILED.
    assert recs[11]["pid"] == termed and recs[11]["exit"]["signal"] == 15, recs[11]
    assert recs[3]["pid"] == 0 and recs[3]["exit"] is None, recs[3]


def test_unit_started_again_in_a_new_cgroup():
    first = Unit()
    first.run(["/bin/sh", "-c", "exit 1"])
    first.remove()
    assert [r["kind"] for _, r in unit_records(first.unit, 4)] == \
        ["STARTED", "MAIN_STARTED", "FAILED", "STOPPED"]
    again = Unit(first.unit)
    pid, _ = again.run(["/bin/true"])
    again.remove()
    got = unit_records(first.unit, 8)[4:]
    assert [(r["kind"], r["restart_count"]) for _, r in got] == \
        [("RESTARTED", 1), ("MAIN_STARTED", 1), ("EXITED", 1), ("STOPPED", 1)], got
    assert all(r["cgroup_id"] == again.cgroup_id for _, r in got), got
    assert got[1][1]["pid"] == pid, got


def test_unit_running_before_start():
    os.kill(early_pid, signal.SIGKILL)
    os.waitpid(early_pid, 0)
    (msg, rec), = unit_records(early.unit, 1)
    assert rec["kind"] == "FAILED" and rec["pid"] == early_pid, rec
    assert rec["exit"]["signal"] == 9 and rec["restart_count"] == 0, rec
    assert msg.key == "itest-node/%d" % early.cgroup_id, msg.key


def test_sub_cgroups_and_other_slices_are_not_units():
    u = Unit()
    sub = os.path.join(u.path, "payload")
    other = os.path.join(harness.cgroup2_root(), "tapio-itest-%s.service" % uuid.uuid4().hex[:8])
    os.mkdir(sub)
    os.mkdir(other)
    try:
        ids = {os.stat(sub).st_ino, os.stat(other).st_ino}
        for path in (sub, other):
            os.waitpid(harness.spawn_in_cgroups([path], ["/bin/true"]), 0)
    finally:
        os.rmdir(sub)
        os.rmdir(other)
        u.remove()
    (last,) = [r for _, r in unit_records(u.unit, 2) if r["kind"] == "STOPPED"]
    recs = harness.records_through(producer.bootstrap, "tapio.systemd", SYSTEMD, last["seq"])
    assert len(recs) == last["seq"], "missing records before seq %d" % last["seq"]
    assert not [r for r in recs if r["cgroup_id"] in ids], recs


def test_shutdown():
    rc = producer.stop(signal.SIGTERM)
    logs = producer.logs()
    assert rc == 0, logs
    stats = [l for l in logs.splitlines() if "systemd: received=" in l]
    assert stats and re.search(r"reserve_failures=0(\s|$)", stats[-1]), logs
    assert "rejected=0" in stats[-1] and "delivery_failed=0" in stats[-1], stats


def main():
    global producer, early, early_pid
    harness.require_root()
    early = Unit()
    early_pid = harness.spawn_in_cgroups([early.path], ["/bin/sleep", "600"])
    try:
        producer = Producer("--collectors", "systemd")
        try:
            if not harness.wait_for_log(producer, "systemd: watching"):
                raise RuntimeError("systemd never seeded: %s" % producer.logs())
            return harness.run_tests([
                test_unit_exits_fails_is_killed_and_restarts,
                test_unit_started_again_in_a_new_cgroup,
                test_unit_running_before_start,
                test_sub_cgroups_and_other_slices_are_not_units,
                test_shutdown,
            ])
        finally:
            if producer.proc.poll() is None:
                producer.stop(signal.SIGKILL)
    finally:
        try:
            os.kill(early_pid, signal.SIGKILL)
            os.waitpid(early_pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        early.remove()


if __name__ == "__main__":
    sys.exit(main())
