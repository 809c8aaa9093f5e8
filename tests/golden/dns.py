#!/usr/bin/python3
"""Golden Avro bytes for tests/test_dns.c, written by Debian's python3-avro (an implementation
independent of ours) from schemas/dns.avsc. Run from the repository root; paste the output."""
import datetime
import io

import avro.io
import avro.schema

SCHEMA = avro.schema.parse(open("schemas/dns.avsc").read())
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

ENVELOPE = {
    "event_time": EPOCH + datetime.timedelta(microseconds=1764000000123456),
    "seq": 7, "run": 1764000000000000, "node": "node-a", "cgroup_id": 12345,
    "pod_uid": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "container_id": "ab" * 32, "loss": None,
}
RECORDS = {
    # dig www.itest A against dnsmasq: a CNAME chain, seen by the client, one retry.
    "response": dict(ENVELOPE, kind="RESPONSE", role="CLIENT", protocol="UDP", ip_version=4,
                     client_addr="10.231.7.1", client_port=40002, server_addr="10.231.7.2",
                     server_port=53, dns_id=0xF18B, qname="www.itest", qtype=1, qtype_name="A",
                     retransmits=1, latency_ns=412859, response={
                         "rcode": 0, "rcode_name": "NOERROR", "authoritative": True,
                         "truncated": False, "answer_count": 3, "answers": [
                             {"name": "www.itest", "type": 5, "type_name": "CNAME", "ttl": 300, "data": "web.itest"},
                             {"name": "web.itest", "type": 5, "type_name": "CNAME", "ttl": 300, "data": "host.itest"},
                             {"name": "host.itest", "type": 1, "type_name": "A", "ttl": 300, "data": "10.1.2.3"},
                         ], "answers_truncated": False}),
    # A TCP/IPv6 query a server in the cgroup never answered.
    "timeout": dict(ENVELOPE, kind="TIMEOUT", role="SERVER", protocol="TCP", ip_version=6,
                    pod_uid=None, container_id=None,
                    client_addr="fd00:7a9::1", client_port=40003, server_addr="fd00:7a9::2",
                    server_port=53, dns_id=47092, qname="host.itest", qtype=28, qtype_name="AAAA",
                    retransmits=0, latency_ns=None, response=None),
}

for name, datum in RECORDS.items():
    buf = io.BytesIO()
    avro.io.DatumWriter(SCHEMA).write(datum, avro.io.BinaryEncoder(buf))
    data = buf.getvalue()
    print("static const uint8_t golden_%s[] = {" % name)
    for i in range(0, len(data), 12):
        print("\t" + " ".join("0x%02x," % b for b in data[i:i + 12]))
    print("};")
