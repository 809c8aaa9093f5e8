#!/usr/bin/python3
"""Golden Avro bytes for tests/test_kernel.c, written by Debian's python3-avro (an implementation
independent of ours) from schemas/kernel.avsc. Run from the repository root; paste the output."""
import datetime
import io

import avro.io
import avro.schema

SCHEMA = avro.schema.parse(open("schemas/kernel.avsc").read())
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

COMMON = {
    "event_time": EPOCH + datetime.timedelta(microseconds=1764000000123456),
    "seq": 7, "node": "node-a", "cgroup_id": 12345,
    "pod_uid": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "container_id": "ab" * 32,
    "pid": 4242, "ppid": 1, "comm": "sh",
}
RECORDS = {
    "exec": dict(COMMON, kind="EXEC", exit=None, exec={
        "uid": 1000, "gid": 1000, "filename": "/bin/sh", "filename_truncated": False,
        "args": ["sh", "-c", "exit 37"], "args_truncated": False}),
    "exit": dict(COMMON, kind="EXIT", exec=None, pod_uid=None, container_id=None, exit={
        "exit_code": 0, "signal": 9, "core_dumped": True, "lifetime_ns": 1500000000}),
}

for name, datum in RECORDS.items():
    buf = io.BytesIO()
    avro.io.DatumWriter(SCHEMA).write(datum, avro.io.BinaryEncoder(buf))
    data = buf.getvalue()
    print("static const uint8_t golden_%s[] = {" % name)
    for i in range(0, len(data), 12):
        print("\t" + " ".join("0x%02x," % b for b in data[i:i + 12]))
    print("};")
