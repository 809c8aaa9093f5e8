#!/usr/bin/python3
"""Golden Avro bytes for tests/test_lifecycle.c (collectors cri and systemd), written by Debian's
python3-avro (an implementation independent of ours) from schemas/cri.avsc and
schemas/systemd.avsc. Run from the repository root with /usr/bin/python3; paste the output."""
import datetime
import io

import avro.io
import avro.schema

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
ENVELOPE = {
    "event_time": EPOCH + datetime.timedelta(microseconds=1764000000123456),
    "seq": 7, "run": 1764000000000000, "node": "node-a", "cgroup_id": 12345, "loss": None,
}
POD = dict(ENVELOPE, pod_uid="0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", container_id="ab" * 32)
UNIT = dict(ENVELOPE, pod_uid=None, container_id=None)
CPATH = ("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e2d3c_4b5a_6978_8796_"
         "a5b4c3d2e1f0.slice/cri-containerd-" + "ab" * 32 + ".scope")
NO_PROCESS = {"pid": 0, "ppid": 0, "comm": "", "main_process": False, "filename": None,
              "truncated": False, "exit": None}


def record(base, **fields):
    """base, a record with no process, then the given fields."""
    datum = dict(base, **NO_PROCESS)
    datum.update(fields)
    return datum

CRI = {
    "cri_created": record(POD, kind="CREATED", runtime="containerd", qos="burstable",
                        path=CPATH),
    "cri_started": record(POD, kind="STARTED", runtime="containerd", qos="burstable",
                        path=CPATH, pid=4242, ppid=4200, comm="nginx", main_process=True,
                        filename="/usr/sbin/nginx"),
    # The main process, OOM-killed.
    "cri_exited": record(POD, kind="EXITED", runtime="containerd", qos="burstable",
                       path=CPATH, pid=4242, ppid=4200, comm="nginx", main_process=True,
                       exit={"exit_code": 0, "signal": 9, "core_dumped": False,
                             "oom_killed": True, "lifetime_ns": 1500000000}),
}
SYSTEMD = {
    "sd_restarted": record(UNIT, kind="RESTARTED", unit="kubelet.service",
                         path="/system.slice/kubelet.service", restart_count=3),
    "sd_failed": record(UNIT, kind="FAILED", unit="kubelet.service",
                      path="/system.slice/kubelet.service", restart_count=3, pid=777, ppid=1,
                      comm="kubelet", main_process=True,
                      exit={"exit_code": 255, "signal": 0, "core_dumped": False,
                            "oom_killed": False, "lifetime_ns": 42}),
}

for schema_file, records in (("schemas/cri.avsc", CRI), ("schemas/systemd.avsc", SYSTEMD)):
    schema = avro.schema.parse(open(schema_file).read())
    for name, datum in records.items():
        buf = io.BytesIO()
        avro.io.DatumWriter(schema).write(datum, avro.io.BinaryEncoder(buf))
        data = buf.getvalue()
        print("static const uint8_t golden_%s[] = {" % name)
        for i in range(0, len(data), 12):
            print("\t" + " ".join("0x%02x," % b for b in data[i:i + 12]))
        print("};")
