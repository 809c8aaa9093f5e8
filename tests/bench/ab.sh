#!/bin/bash
# A/B of two tapio-producer builds at a steady rate, alternating A, B, A, B, ... so drifting load
# on a shared machine hits both alike. For judging a producer change with the real binary:
#
#   tests/bench/ab.sh BUILD_A BUILD_B [RATE] [SECONDS] [ROUNDS]
#
# BUILD_x is a build directory holding tapio-producer and bench/{pipebench,mockbroker}
# (`make bench`'s binaries, or `make all build/bench/pipebench build/bench/mockbroker`).
# Each run: a fresh producer on a mock broker, fed RATE exec records/s into its own kernel ring
# buffer (pipebench feed) for SECONDS; prints CPU % of one core, µs per event and RSS.
# FEED_A / FEED_B: extra pipebench feed options per side; the synthetic records are submitted by
# bench.bpf.c, so a side whose kernel.bpf.c batches wake-ups needs FEED_x="--wakeup threshold".
# ARGS_A / ARGS_B: extra producer flags per side (e.g. ARGS_B="--set record_headers=collector,node,
# schema_fingerprint,producer_version" to compare a build with headers against one without).
set -u -o pipefail
A=${1:?usage: ab.sh BUILD_A BUILD_B [RATE] [SECONDS] [ROUNDS]}
B=${2:?usage: ab.sh BUILD_A BUILD_B [RATE] [SECONDS] [ROUNDS]}
RATE=${3:-10000}
SECS=${4:-10}
ROUNDS=${5:-3}
HZ=$(getconf CLK_TCK)
TMP=$(mktemp -d)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
cpu_us() { awk -v hz="$HZ" '{sub(/^.*\) /, ""); printf "%d", ($12 + $13) * 1000000 / hz}' "/proc/$1/stat"; }

"$A/bench/mockbroker" tapio.kernel tapio.metadata tapio.dns >"$TMP/broker" 2>/dev/null &
PIDS+=($!)
for _ in $(seq 50); do grep -q bootstrap "$TMP/broker" && break; sleep 0.1; done
BROKERS=$(sed -n 's/^bootstrap.servers=//p' "$TMP/broker")

echo "| round | build | CPU % of one core | µs/event | RSS kB | fed | lost |"
echo "|---|---|---|---|---|---|---|"
for r in $(seq "$ROUNDS"); do
	for side in A B; do
		if [ "$side" = A ]; then dir=$A feed=${FEED_A:-} args=${ARGS_A:-}
		else dir=$B feed=${FEED_B:-} args=${ARGS_B:-}; fi
		# shellcheck disable=SC2086 # args are flags, split on purpose
		"$dir/tapio-producer" --brokers "$BROKERS" --node-name bench --set stats_interval_s=0 \
			--collectors kernel $args >"$TMP/out" 2>"$TMP/err" &
		p=$!
		PIDS+=("$p")
		for _ in $(seq 100); do grep -q bootstrap.servers "$TMP/out" && break; sleep 0.1; done
		sleep 1
		c0=$(cpu_us "$p")
		"$dir/bench/pipebench" feed --pid "$p" --rate "$RATE" --batch 1 --seconds "$SECS" $feed \
			>"$TMP/feed" 2>&1
		c1=$(cpu_us "$p")
		rss=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status")
		n=$(sed -n 's/^feed_emitted=//p' "$TMP/feed")
		lost=$(sed -n 's/^feed_lost_ring_full=//p' "$TMP/feed")
		s=$(sed -n 's/^feed_seconds=//p' "$TMP/feed")
		kill -TERM "$p"
		wait "$p" 2>/dev/null
		awk -v r="$r" -v side="$side" -v c="$((c1 - c0))" -v s="$s" -v n="$n" -v rss="$rss" -v lost="$lost" \
			'BEGIN { printf "| %s | %s | %.2f | %.2f | %s | %s | %s |\n", r, side, c / (s * 1e6) * 100, c / n, rss, n, lost }'
	done
done
