#!/usr/bin/python3
"""Golden Avro bytes for tests/test_cni.c, written by Debian's python3-avro (an implementation
independent of ours) from schemas/cni.avsc. Run from the repository root with /usr/bin/python3;
paste the output."""
import datetime
import io

import avro.io
import avro.schema

SCHEMA = avro.schema.parse(open("schemas/cni.avsc").read())
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

COMMON = {
    "event_time": EPOCH + datetime.timedelta(microseconds=1764000000123456),
    "seq": 7, "run": 1764000000000000, "node": "node-a", "cgroup_id": 12345,
    "pod_uid": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "container_id": None, "loss": None,
    "netns_inode": None, "prev_netns_inode": None, "pid": 0, "ppid": 0, "comm": "", "link": None,
}

RECORDS = {
    # ip netns add: unshare(CLONE_NEWNET) by ip in a pod's cgroup.
    "created": dict(COMMON, kind="NETNS_CREATED", netns_inode=4026532177,
                    prev_netns_inode=4026531833, via="UNSHARE", pid=4242, ppid=1, comm="ip"),
    # The cleanup work finished with it: no process, no previous namespace.
    "destroyed": dict(COMMON, kind="NETNS_DESTROYED", netns_inode=4026532177, via="CLEANUP"),
    # A veth end moved out of the host's namespace into the pod's.
    "moved": dict(COMMON, kind="LINK_REMOVED", pod_uid=None, netns_inode=4026531833,
                  via="RTNETLINK", link={
                      "ifindex": 41, "ifname": "veth1a2b", "link_kind": "veth", "up": False,
                      "address": "0a:13:97:e7:80:1f", "peer_ifindex": 42,
                      "peer_netns_inode": None, "moved_to_netns_inode": 4026532177,
                      "new_ifindex": 2}),
    # Its arrival, set up, its peer in the host's namespace; a namespace we could not resolve.
    "up": dict(COMMON, kind="LINK_UP", via="RTNETLINK", link={
        "ifindex": 2, "ifname": "eth0", "link_kind": None, "up": True, "address": None,
        "peer_ifindex": None, "peer_netns_inode": 4026531833, "moved_to_netns_inode": None,
        "new_ifindex": None}),
}

for name, datum in RECORDS.items():
    buf = io.BytesIO()
    avro.io.DatumWriter(SCHEMA).write(datum, avro.io.BinaryEncoder(buf))
    data = buf.getvalue()
    print("static const uint8_t golden_%s[] = {" % name)
    for i in range(0, len(data), 12):
        print("\t" + " ".join("0x%02x," % b for b in data[i:i + 12]))
    print("};")
