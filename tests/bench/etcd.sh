#!/bin/bash
# The etcd collector's figures for BENCHMARKS.md: a burst of puts into a real etcd (Debian's
# etcd-server, on loopback, a temporary data dir) with tapio-producer watching it and publishing
# to a mock broker in a process of its own.
#
#   live:     the producer watches while etcdburst puts BENCH_ETCD_PUTS keys with
#             BENCH_ETCD_CONCURRENCY requests in flight: etcd's own write rate (puts
#             acknowledged per second: the ceiling), the rate the mutations were published at
#             (first put to the last delivery report), how long after etcd's last
#             acknowledgement the last record was delivered, and the producer's CPU per mutation.
#   catch-up: the producer stopped, the same burst made, the producer started: the rate it
#             publishes a backlog at (from its watch's creation to the last delivery report),
#             its CPU per mutation, and etcd's CPU per mutation to serve it (its gateway turns
#             every event into JSON, value included: on a small machine it sets the pace).
#
# Run alone (root: the producer loads its metadata collector's BPF programs):
#   make all build/bench/mockbroker build/bench/etcdburst && tests/bench/etcd.sh
# Prints key=value lines on stdout; tests/bench/run.sh puts them in its table. Knobs:
# BENCH_ETCD_PUTS (20000), BENCH_ETCD_CONCURRENCY (32), BENCH_ETCD_VALUE_BYTES (1024).
set -u -o pipefail

BUILD=${BUILD:-build}
BIN=$BUILD/bench
PUTS=${BENCH_ETCD_PUTS:-20000}
CONC=${BENCH_ETCD_CONCURRENCY:-32}
VALUE_BYTES=${BENCH_ETCD_VALUE_BYTES:-1024}
HZ=$(getconf CLK_TCK)
TMP=$(mktemp -d /tmp/tapio-bench-etcd-XXXXXX)
PIDS=()

log() { echo "bench etcd: $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }
kv() { sed -n "s/^$2=//p" "$1" | head -n 1; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
cpu_us() { awk -v hz="$HZ" '{sub(/^.*\) /, ""); printf "%d", ($12 + $13) * 1000000 / hz}' "/proc/$1/stat"; }
now_ms() { date +%s%3N; }
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT

for tool in etcd etcdctl; do
	command -v $tool >/dev/null || fail "$tool not installed (Debian: etcd-server etcd-client)"
done
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

"$BIN/mockbroker" tapio.etcd tapio.metadata >"$TMP/broker.out" 2>"$TMP/broker.err" &
PIDS+=($!)
for _ in $(seq 50); do BROKERS=$(kv "$TMP/broker.out" bootstrap.servers); [ -n "$BROKERS" ] && break; sleep 0.1; done
[ -n "$BROKERS" ] || fail "mockbroker did not start"

CPORT=$(free_port)
PPORT=$(free_port)
URL=http://127.0.0.1:$CPORT
etcd --name bench --data-dir "$TMP/etcd" --listen-client-urls "$URL" --advertise-client-urls "$URL" \
	--listen-peer-urls "http://127.0.0.1:$PPORT" --initial-advertise-peer-urls "http://127.0.0.1:$PPORT" \
	--initial-cluster "bench=http://127.0.0.1:$PPORT" >"$TMP/etcd.log" 2>&1 &
ETCD_PID=$!
PIDS+=("$ETCD_PID")
for _ in $(seq 100); do
	ETCDCTL_API=3 etcdctl --endpoints "$URL" endpoint health >/dev/null 2>&1 && break
	sleep 0.1
done
ETCDCTL_API=3 etcdctl --endpoints "$URL" endpoint health >/dev/null 2>&1 || fail "etcd did not start"

PROD=""
start_producer() { # LOG
	"$BUILD/tapio-producer" --brokers "$BROKERS" --node-name bench --collectors etcd \
		--set etcd_endpoints="$URL" --set state_dir="$TMP/state" --set stats_interval_s=0 \
		--set metrics_listen=127.0.0.1:0 >"$TMP/$1.out" 2>"$TMP/$1.err" &
	PROD=$!
	PIDS+=("$PROD")
	for _ in $(seq 100); do grep -q '^metrics=' "$TMP/$1.out" && break; sleep 0.1; done
	METRICS=$(kv "$TMP/$1.out" metrics)
	[ -n "$METRICS" ] || fail "tapio-producer did not start ($TMP/$1.err)"
}
delivered() {
	curl -s "http://$METRICS/metrics" |
		sed -n 's/^tapio_records_delivered_total{collector="etcd"} //p'
}
# Waits until N records were delivered (120 s at most); prints the time it saw them, in ms.
wait_delivered() {
	local i
	for i in $(seq 2400); do
		[ "$(delivered)" -ge "$1" ] 2>/dev/null && { now_ms; return 0; }
		sleep 0.05
	done
	fail "only $(delivered) of $1 records delivered"
}

log "live: $PUTS puts, $CONC in flight, $VALUE_BYTES-byte values"
start_producer live
for _ in $(seq 100); do grep -q 'etcd: watching' "$TMP/live.err" && break; sleep 0.1; done
# What starting up costs (the metadata collector's BPF programs, the first watch): taken off the
# catch-up run's CPU below, which starts with the backlog already waiting.
c_startup=$(cpu_us "$PROD")
base=$(delivered)
c0=$(cpu_us "$PROD")
t0=$(now_ms)
"$BIN/etcdburst" "$URL" "$PUTS" "$CONC" "$VALUE_BYTES" /registry/bench/live/ >"$TMP/burst-live.txt" ||
	fail "etcdburst (live)"
t1=$(wait_delivered $((base + PUTS)))
c1=$(cpu_us "$PROD")
for t in /proc/$PROD/task/*; do
	log "  live: CPU of thread $(cat $t/comm): $(awk '{sub(/^.*\) /, ""); print $12 + $13}' $t/stat) ticks"
done
W=$(kv "$TMP/burst-live.txt" seconds)
echo "etcd_puts=$PUTS"
echo "etcd_concurrency=$CONC"
echo "etcd_value_bytes=$VALUE_BYTES"
echo "etcd_write_rate_live=$(kv "$TMP/burst-live.txt" rate)"
echo "live_published_rate=$(calc %.0f "$PUTS / (($t1 - $t0) / 1000)")"
echo "live_lag_ms=$(calc %.0f "$t1 - $t0 - $W * 1000")"
echo "live_cpu_us_per_mutation=$(calc %.1f "($c1 - $c0) / $PUTS")"
kill -TERM "$PROD"
wait "$PROD" || fail "tapio-producer exited $? after the live burst"

log "catch-up: $PUTS puts while the producer is stopped, then started"
"$BIN/etcdburst" "$URL" "$PUTS" "$CONC" "$VALUE_BYTES" /registry/bench/backlog/ >"$TMP/burst-backlog.txt" ||
	fail "etcdburst (backlog)"
e0=$(cpu_us "$ETCD_PID")
start_producer catchup
for _ in $(seq 200); do grep -q 'etcd: watching' "$TMP/catchup.err" && break; sleep 0.05; done
# From the watch's creation, as the log stamps it (ms), to the last delivery report.
tw=$(date -d "$(sed -n 's/^\([^ ]*\) .*etcd: watching.*/\1/p' "$TMP/catchup.err" | head -n 1)" +%s%3N)
t1=$(wait_delivered "$PUTS")
c1=$(cpu_us "$PROD")
e1=$(cpu_us "$ETCD_PID")
echo "etcd_write_rate_backlog=$(kv "$TMP/burst-backlog.txt" rate)"
echo "catchup_published_rate=$(calc %.0f "$PUTS / (($t1 - $tw) / 1000)")"
echo "catchup_cpu_us_per_mutation=$(calc %.1f "($c1 - $c_startup) / $PUTS")"
# etcd's own work to serve the backlog through its JSON gateway (the same 2 vCPUs).
echo "catchup_etcd_cpu_us_per_mutation=$(calc %.1f "($e1 - $e0) / $PUTS")"
kill -TERM "$PROD"
wait "$PROD" || fail "tapio-producer exited $? after the catch-up"
