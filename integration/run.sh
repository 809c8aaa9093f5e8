#!/usr/bin/env bash
# Root integration tier: real kernel, real BPF programs, real Kafka protocol (the producer's
# embedded broker), a real consumer (kcat, tapio-tail) and an independent decoder (python3-avro).
set -euo pipefail
cd "$(dirname "$0")"
if [ "$(id -u)" != 0 ]; then
	echo "integration tests load eBPF programs and create cgroups: run them as root" >&2
	exit 1
fi
status=0
for t in test_*.py; do
	echo "== integration/$t"
	# Debian's interpreter: python3-avro is installed for it, not for any other python3 on PATH.
	/usr/bin/python3 "$t" || status=1
done
exit $status
