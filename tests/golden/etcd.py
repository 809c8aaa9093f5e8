#!/usr/bin/python3
"""Golden Avro bytes for tests/test_etcd.c, written by Debian's python3-avro (an implementation
independent of ours) from schemas/etcd.avsc. Run from the repository root with /usr/bin/python3;
paste the output."""
import datetime
import io

import avro.io
import avro.schema

SCHEMA = avro.schema.parse(open("schemas/etcd.avsc").read())
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

ENVELOPE = {
    "event_time": EPOCH + datetime.timedelta(microseconds=1764000000123456),
    "seq": 7, "run": 1764000000000000, "node": "node-a", "cgroup_id": 0, "pod_uid": None,
    "container_id": None, "loss": None,
    # The cluster and member of etcd_cluster_id / etcd_member_id in the test (hex, as etcd
    # writes them), at raft term 2.
    "cluster_id": "cdf818194e3a8c32", "member_id": "8e9e05c52164694d", "raft_term": 2,
}
NO_OBJECT = {"key": None, "key_truncated": False, "api_group": None, "resource": None,
             "namespace": None, "name": None, "created": False, "create_revision": None,
             "version": None, "lease": None, "value_size": None, "compacted": None}


def record(**fields):
    datum = dict(ENVELOPE, **NO_OBJECT)
    datum.update(fields)
    return datum


RECORDS = {
    # A pod created at revision 42 with an 11-byte value.
    "put_created": record(kind="PUT", revision=42, key="/registry/pods/default/web-0",
                          resource="pods", namespace="default", name="web-0", created=True,
                          create_revision=42, version=1, value_size=11),
    # A cluster-scoped object of an API group, written a third time, under a lease.
    "put_lease": record(kind="PUT", revision=57,
                        key="/registry/apiregistration.k8s.io/apiservices/v1.apps",
                        api_group="apiregistration.k8s.io", resource="apiservices",
                        name="v1.apps", create_revision=40, version=3,
                        lease=7587862072992519000, value_size=0),
    # A Service deleted (stored under services/specs).
    "delete": record(kind="DELETE", revision=60, key="/registry/services/specs/default/kubernetes",
                     resource="services", namespace="default", name="kubernetes"),
    # Revisions 5 to 8 compacted away; the watch resumed at 9.
    "compacted": record(kind="COMPACTED", revision=9,
                        compacted={"first_revision": 5, "last_revision": 8}),
}

for name, datum in RECORDS.items():
    buf = io.BytesIO()
    avro.io.DatumWriter(SCHEMA).write(datum, avro.io.BinaryEncoder(buf))
    data = buf.getvalue()
    print("static const uint8_t golden_%s[] = {" % name)
    for i in range(0, len(data), 12):
        print("\t" + " ".join("0x%02x," % b for b in data[i:i + 12]))
    print("};")
