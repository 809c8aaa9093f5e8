#!/usr/bin/python3
"""Golden Avro bytes for tests/test_kernel.c, written by Debian's python3-avro (an implementation
independent of ours) from schemas/kernel.avsc. Run from the repository root with /usr/bin/python3;
paste the output."""
import datetime
import io

import avro.io
import avro.schema

SCHEMA = avro.schema.parse(open("schemas/kernel.avsc").read())
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

COMMON = {
    "event_time": EPOCH + datetime.timedelta(microseconds=1764000000123456),
    "seq": 7, "run": 1764000000000000, "node": "node-a", "cgroup_id": 12345,
    "pod_uid": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "container_id": "ab" * 32,
    "pid": 4242, "ppid": 1, "comm": "sh", "loss": None,
}
MIB = 1 << 20


def record(**fields):
    """COMMON with every nested record null, then the given fields."""
    datum = dict(COMMON, exec=None, exit=None, oom=None, tcp=None)
    datum.update(fields)
    return datum


RECORDS = {
    # A loss report: 3 records rejected by the decoder in one interval; no kernel fields set.
    "loss": record(kind="LOSS", cgroup_id=0, pod_uid=None, container_id=None, pid=0, ppid=0, comm="",
                   seq=8, loss={"stage": "DECODE", "count": 3,
                                "since": EPOCH + datetime.timedelta(microseconds=1764000000000000),
                                "until": EPOCH + datetime.timedelta(microseconds=1764000000123456), "run": None}),
    "exec": record(kind="EXEC", exec={
        "uid": 1000, "gid": 1000, "filename": "/bin/sh", "filename_truncated": False,
        "args": ["sh", "-c", "exit 37"], "args_truncated": False}),
    "exit": record(kind="EXIT", pod_uid=None, container_id=None, exit={
        "exit_code": 0, "signal": 9, "core_dumped": True, "lifetime_ns": 1500000000}),
    # The victim of a cgroup OOM; its memcg usage at the limit.
    "oom": record(kind="OOM_KILL", comm="stress", oom={
        "cgroup_oom": True, "memcg_usage_bytes": 32 * MIB, "memcg_limit_bytes": 32 * MIB,
        "total_vm_bytes": 45862912, "rss_bytes": 33292288 + 5472256,
        "rss_anon_bytes": 33292288, "rss_file_bytes": 5472256, "rss_shmem_bytes": 0,
        "oom_score_adj": -998, "uid": 1000, "trigger_pid": 4243, "trigger_comm": "sh"}),
    # A global OOM in the root memcg: no usage, no limit.
    "oom_global": record(kind="OOM_KILL", pod_uid=None, container_id=None, oom={
        "cgroup_oom": False, "memcg_usage_bytes": None, "memcg_limit_bytes": None,
        "total_vm_bytes": 4096, "rss_bytes": 0, "rss_anon_bytes": 0, "rss_file_bytes": 0,
        "rss_shmem_bytes": 0, "oom_score_adj": 1000, "uid": 0, "trigger_pid": 1,
        "trigger_comm": "init"}),
    # The close of an outgoing IPv4 connection.
    "tcp_close": record(kind="TCP_CLOSE", comm="curl", tcp={
        "family": "IPV4", "local_addr": "10.1.2.3", "local_port": 40000,
        "remote_addr": "192.168.255.1", "remote_port": 443, "direction": "OUTBOUND",
        "old_state": "FIN_WAIT2", "duration_ns": 2500000000, "error": 0, "error_name": None,
        "bytes_sent": 1000, "bytes_acked": 1002, "bytes_received": 65537,
        "bytes_retrans": 0}),
    # A refused IPv6 connect, accepted-side fields unknown.
    "tcp_failed": record(kind="TCP_CONNECT_FAILED", ppid=0, comm="", pid=0, tcp={
        "family": "IPV6", "local_addr": "fd00::1", "local_port": 51000,
        "remote_addr": "::ffff:10.0.0.1", "remote_port": 8080, "direction": "OUTBOUND",
        "old_state": "SYN_SENT", "duration_ns": None, "error": 111, "error_name": "ECONNREFUSED",
        "bytes_sent": 0, "bytes_acked": 0, "bytes_received": 0, "bytes_retrans": 0}),
}

for name, datum in RECORDS.items():
    buf = io.BytesIO()
    avro.io.DatumWriter(SCHEMA).write(datum, avro.io.BinaryEncoder(buf))
    data = buf.getvalue()
    print("static const uint8_t golden_%s[] = {" % name)
    for i in range(0, len(data), 12):
        print("\t" + " ".join("0x%02x," % b for b in data[i:i + 12]))
    print("};")
