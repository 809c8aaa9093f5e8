#!/usr/bin/python3
"""Collector `cni` on the real kernel: a network namespace made from a pod-like cgroup, a veth
pair with one end moved into it, set up and deleted, the namespace entered and deleted; the exact
sequence of records in tapio.cni, with namespace inodes, interface indexes, peers and the pod."""
import ctypes
import os
import re
import signal
import subprocess
import sys
import uuid

import harness
from harness import PodCgroup, Producer, Schema

CNI = Schema("cni")
IP = "/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else "/sbin/ip"
producer = None
HOST_NETNS = os.stat("/proc/self/ns/net").st_ino


def ip(*args):
    """Runs ip(8); returns (its pid, its output)."""
    proc = subprocess.Popen([IP, *args], stdout=subprocess.PIPE, text=True)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, (args, proc.returncode)
    return proc.pid, out


def ifindex(name, netns=None):
    """(index, pid of the ip that read it: with netns, it entered the namespace to do so)."""
    pid, out = ip(*(["-n", netns] if netns else []), "-o", "link", "show", "dev", name)
    return int(out.split(":", 1)[0]), pid


def own_cgroup_id():
    with open("/proc/self/cgroup") as f:
        path = [l.split(":", 2)[2].strip() for l in f if l.startswith("0::")][0]
    return os.stat(harness.cgroup2_root() + path).st_ino


def wait(predicate, want):
    found, _ = harness.wait_for(producer.bootstrap, "tapio.cni", CNI, predicate, want)
    assert len(found) == want, (want, [r for _, r in found])
    return sorted(found, key=lambda mr: mr[1]["seq"])


def link_named(kind, name, netns):
    return lambda r: (r["kind"] == kind and r["link"] is not None and r["link"]["ifname"] == name
                      and r["netns_inode"] == netns)


def test_netns_and_veth_lifecycle():
    pod = PodCgroup()
    name = "tapio-%s" % uuid.uuid4().hex[:10]
    tag = uuid.uuid4().hex[:8]
    host_if, pod_if = "th" + tag, "tp" + tag
    netns = None
    try:
        pid, status = pod.run([IP, "netns", "add", name])
        assert status == 0, status
        netns = os.stat("/run/netns/" + name).st_ino

        # Made by `ip` in the pod's cgroup: the pod owns the namespace.
        (msg, created), = wait(lambda r: r["kind"] == "NETNS_CREATED" and r["netns_inode"] == netns, 1)
        assert created["pid"] == pid and created["comm"] == "ip" and created["via"] == "UNSHARE", created
        assert created["prev_netns_inode"] == HOST_NETNS, created
        assert created["cgroup_id"] == pod.cgroup_id and created["pod_uid"] == pod.pod_uid, created
        assert msg.key == pod.pod_uid, msg.key

        ip("link", "add", host_if, "type", "veth", "peer", "name", pod_if)
        (host_idx, _), (pod_idx, _) = ifindex(host_if), ifindex(pod_if)
        (_, added), = wait(link_named("LINK_ADDED", host_if, HOST_NETNS), 1)
        assert added["link"]["ifindex"] == host_idx and added["link"]["link_kind"] == "veth", added
        assert added["link"]["peer_ifindex"] == pod_idx and added["link"]["peer_netns_inode"] is None
        assert not added["link"]["up"] and added["via"] == "RTNETLINK" and added["pid"] == 0, added
        # Host interfaces belong to no pod: keyed by node and the cgroup v2 root.
        assert added["pod_uid"] is None, added

        ip("link", "set", pod_if, "netns", name)
        (_, moved), = wait(link_named("LINK_REMOVED", pod_if, HOST_NETNS), 1)
        new_idx, reader = ifindex(pod_if, name)
        assert moved["link"]["moved_to_netns_inode"] == netns, moved
        assert moved["link"]["new_ifindex"] == new_idx and moved["link"]["ifindex"] == pod_idx, moved
        (msg, arrived), = wait(link_named("LINK_ADDED", pod_if, netns), 1)
        assert arrived["link"]["ifindex"] == new_idx and arrived["link"]["link_kind"] == "veth"
        assert arrived["link"]["peer_ifindex"] == host_idx, arrived
        assert arrived["link"]["peer_netns_inode"] == HOST_NETNS, arrived
        # Inside the pod's namespace: attributed to the pod through the namespace's creator.
        assert arrived["cgroup_id"] == pod.cgroup_id and arrived["pod_uid"] == pod.pod_uid, arrived
        assert msg.key == pod.pod_uid, msg.key

        setter, _ = ip("-n", name, "link", "set", pod_if, "up")  # ip enters the namespace
        entries = wait(lambda r: r["kind"] == "NETNS_ENTERED" and r["netns_inode"] == netns, 2)
        assert [r["pid"] for _, r in entries] == [reader, setter], entries
        for _, entered in entries:
            assert entered["via"] == "SETNS" and entered["prev_netns_inode"] == HOST_NETNS, entered
            assert entered["comm"] == "ip" and entered["ppid"] == os.getpid(), entered
            # Entered from the host's cgroup: the pod that made it still owns it.
            assert entered["pod_uid"] is None and entered["cgroup_id"] == own_cgroup_id(), entered
        (_, up), = wait(link_named("LINK_UP", pod_if, netns), 1)
        assert up["link"]["up"] and up["link"]["ifindex"] == new_idx, up

        ip("link", "del", host_if)  # takes its peer with it
        (_, gone), = wait(link_named("LINK_REMOVED", pod_if, netns), 1)
        assert gone["link"]["moved_to_netns_inode"] is None and gone["pod_uid"] == pod.pod_uid, gone
        wait(link_named("LINK_REMOVED", host_if, HOST_NETNS), 1)

        ip("netns", "del", name)
        name = None
        (msg, destroyed), = wait(lambda r: r["kind"] == "NETNS_DESTROYED" and r["netns_inode"] == netns, 1)
        assert destroyed["via"] == "CLEANUP" and destroyed["pid"] == 0, destroyed
        assert destroyed["cgroup_id"] == pod.cgroup_id and destroyed["pod_uid"] == pod.pod_uid, destroyed
        assert msg.key == pod.pod_uid, msg.key

        # The whole story, in the order the kernel told it.
        def ours(r):
            if r["seq"] > destroyed["seq"]:  # its inode may be another namespace's by now
                return False
            if r["link"] is not None:
                return r["link"]["ifname"] in (host_if, pod_if)
            return r["netns_inode"] == netns
        story = [(r["kind"], r["link"]["ifname"] if r["link"] else None,
                  r["netns_inode"] == netns) for _, r in wait(ours, 12)]
        assert story == [
            ("NETNS_CREATED", None, True),
            ("LINK_ADDED", pod_if, False),
            ("LINK_ADDED", host_if, False),
            ("LINK_REMOVED", pod_if, False),   # moved out of the host's namespace ...
            ("LINK_ADDED", pod_if, True),      # ... into the pod's
            ("NETNS_ENTERED", None, True),     # ip -n ... link show
            ("NETNS_ENTERED", None, True),     # ip -n ... link set up
            ("LINK_UP", pod_if, True),
            ("LINK_DOWN", pod_if, True),       # deleting a veth closes both ends first
            ("LINK_REMOVED", host_if, False),
            ("LINK_REMOVED", pod_if, True),
            ("NETNS_DESTROYED", None, True),
        ], story
    finally:
        subprocess.run([IP, "link", "del", host_if], capture_output=True)
        if name:
            subprocess.run([IP, "netns", "del", name], capture_output=True)
        pod.remove()


CLONE_NEWNET = 0x40000000


def test_clone_newnet():
    """A raw clone(CLONE_NEWNET): the child owns a new namespace from its first instruction."""
    libc = ctypes.CDLL(None, use_errno=True)
    r, w = os.pipe()
    pid = libc.syscall(56, CLONE_NEWNET | signal.SIGCHLD, 0, 0, 0, 0)  # x86_64 clone
    if pid == 0:
        os.write(w, os.readlink("/proc/self/ns/net").encode())
        os._exit(0)
    assert pid > 0, ctypes.get_errno()
    os.close(w)
    link = os.read(r, 64).decode()
    os.close(r)
    os.waitpid(pid, 0)
    inode = int(re.search(r"\[(\d+)\]", link).group(1))
    assert inode != HOST_NETNS
    # Namespace inodes are reused once a namespace is gone (the first test's may be this one).
    (msg, rec), = wait(lambda r: r["kind"] == "NETNS_CREATED" and r["netns_inode"] == inode
                       and r["pid"] == pid, 1)
    assert rec["via"] == "CLONE" and rec["pid"] == pid and rec["ppid"] == os.getpid(), rec
    assert rec["prev_netns_inode"] == HOST_NETNS, rec
    assert rec["cgroup_id"] == own_cgroup_id(), rec
    # Nothing entered or destroyed it yet... but it died with the child: the cleanup reports it.
    (_, gone), = wait(lambda r: r["kind"] == "NETNS_DESTROYED" and r["netns_inode"] == inode
                      and r["seq"] > rec["seq"], 1)
    assert gone["cgroup_id"] == rec["cgroup_id"], (gone, rec)


def test_shutdown():
    rc = producer.stop(signal.SIGTERM)
    logs = producer.logs()
    assert rc == 0, logs
    stats = [l for l in logs.splitlines() if "cni: received=" in l]
    assert stats and re.search(r"reserve_failures=0(\s|$)", stats[-1]), logs
    assert "rejected=0" in stats[-1] and "delivery_failed=0" in stats[-1], stats
    assert "did not match its stamp" not in logs, logs


def main():
    global producer
    harness.require_root()
    producer = Producer("--collectors", "cni")
    try:
        return harness.run_tests([
            test_netns_and_veth_lifecycle,
            test_clone_newnet,
            test_shutdown,
        ])
    finally:
        if producer.proc.poll() is None:
            producer.stop(signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
