#!/bin/bash
# make bench, archive part: tapio-archive against a plain `kcat -C` read of the same topic,
# tapio-replay against `kcat -P` of the same records, and archive bytes per record against the
# topic's. Run by tests/bench/run.sh (which puts the rows in its table), or alone:
#   BUILD=build bash tests/bench/archive.sh      (prints the rows; no root needed)
# Output: "key=value" lines in $OUT/archive.txt, the rows on stdout.
#
# Knobs: BENCH_ARCHIVE_COUNT (200000 records), BENCH_REPS (3 alternating runs of each).
set -u -o pipefail

BUILD=${BUILD:-build}
BIN=$BUILD/bench
OUT=${OUT:-$BIN/out}
N=${BENCH_ARCHIVE_COUNT:-200000}
REPS=${BENCH_REPS:-3}
VERSION=$(cat VERSION 2>/dev/null || echo 0.0.0)
R=$OUT/archive.txt
mkdir -p "$OUT"
: >"$R"
log() { echo "bench: $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }
kv() { sed -n "s/^$2=//p" "$1" | head -n 1; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
minmax() { tr ' ' '\n' | grep -v '^$' | sort -g | awk 'NR==1{lo=$1} {hi=$1} END {printf "%s-%s", lo, hi}'; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

BROKER_PID=""
trap '[ -n "$BROKER_PID" ] && kill "$BROKER_PID" 2>/dev/null; wait 2>/dev/null' EXIT
# Every topic exists before it is written, as bench.kcatp does for kcat: a topic made on first use
# costs the first writer a metadata round trip or two.
"$BIN/mockbroker" --partitions 4 bench.archive bench.empty bench.kcatp $(seq -f 'r%g.bench.archive' "$REPS") \
	>"$OUT/archive-broker.out" 2>"$OUT/archive-broker.err" &
BROKER_PID=$!
for _ in $(seq 50); do
	BROKERS=$(kv "$OUT/archive-broker.out" bootstrap.servers)
	[ -n "$BROKERS" ] && break
	sleep 0.1
done
[ -n "$BROKERS" ] || fail "mockbroker did not start"

# The records: the pipeline's own exec records (pipebench kcat-input), keyed as the producer
# keys host processes (<node>/<cgroup id>, 16 of them: every partition gets records), with all
# four headers `record_headers` can add (the archive keeps them: the heavier case).
"$BIN/pipebench" kcat-input --count "$N" --out "$OUT/archive-values.bin" >"$OUT/archive-input.txt" ||
	fail "kcat-input"
DELIM=$(kv "$OUT/archive-input.txt" kcat_delim)
FP=$(kv "$OUT/archive-input.txt" kcat_fingerprint)
python3 - "$OUT/archive-values.bin" "$OUT/archive-input.bin" "$DELIM" <<'EOF' || fail "keys"
import sys
delim = sys.argv[3].encode().decode("unicode_escape").encode("latin-1")
values = open(sys.argv[1], "rb").read().split(delim)[:-1]
with open(sys.argv[2], "wb") as out:
    for i, v in enumerate(values):
        out.write(b"bench/%d\x1c" % (1000 + i % 16) + v + delim)
EOF
KCAT_PROPS=(-X enable.idempotence=true -X acks=all -X compression.codec=lz4
	-X partitioner=murmur2_random -X linger.ms=50 -X client.id=kcat-bench)
HEADERS=(-H collector=kernel -H node=bench -H "schema_fingerprint=$FP" -H "producer_version=$VERSION")
# timed FILE COMMAND...: runs it; FILE gets "wall user sys" (seconds).
timed() {
	local f=$1
	shift
	/usr/bin/time -o "$f" -f '%e %U %S' "$@"
}
cpu_us() { awk -v n="$N" '{printf "%.3f", ($2 + $3) * 1e6 / n}' "$1"; }
kcatp_rps=() kcatp_cpu=()
kcat_p() { # TOPIC: the records with kcat -P
	timed "$OUT/archive-time" kcat -P -b "$BROKERS" -t "$1" "${KCAT_PROPS[@]}" -K $'\x1c' -D "$DELIM" \
		"${HEADERS[@]}" <"$OUT/archive-input.bin" 2>>"$OUT/archive-kcat.err" ||
		fail "kcat -P (see $OUT/archive-kcat.err)"
	kcatp_cpu+=("$(cpu_us "$OUT/archive-time")")
	kcatp_rps+=("$(awk -v n="$N" '{printf "%.0f", n / $1}' "$OUT/archive-time")")
}
kcat_p bench.archive
got=$(kcat -C -b "$BROKERS" -t bench.archive -o beginning -e -q -f '\n' | wc -l)
[ "$got" = "$N" ] || fail "bench.archive holds $got records, not $N (the mock broker keeps ~5 MB per partition)"
"$BIN/topicsize" "$BROKERS" bench.archive >>"$R" || fail "topicsize"

# Archive: each codec, REPS runs alternating with kcat -C. The archiver's rate runs from the first
# record it reads to the last stored, plus closing and committing the files (the group join
# before and --until-idle after are not counted). kcat -C is timed two ways: a plain run
# (records / its whole run, its start and its wait for the end of every partition included), and
# its streaming alone (fetch.wait.max.ms=10, so the end is seen at once, and the median run on an
# empty topic of as many partitions taken off).
declare -A arch_rps arch_bpr arch_cpu
kcatc_cpu=() kcat_s="" kcat_empty_s="" kcatplain_rps=()
for r in $(seq "$REPS"); do
	timed "$OUT/archive-time" kcat -C -b "$BROKERS" -t bench.archive -o beginning -e -q >/dev/null ||
		fail "kcat -C"
	kcatplain_rps+=("$(awk -v n="$N" '{printf "%.0f", n / $1}' "$OUT/archive-time")")
	kcatc_cpu+=("$(cpu_us "$OUT/archive-time")")
	timed "$OUT/archive-time" kcat -C -b "$BROKERS" -t bench.empty -o beginning -e -q \
		-X fetch.wait.max.ms=10 >/dev/null || fail "kcat -C (empty topic)"
	kcat_empty_s+=" $(cut -d' ' -f1 "$OUT/archive-time")"
	timed "$OUT/archive-time" kcat -C -b "$BROKERS" -t bench.archive -o beginning -e -q \
		-X fetch.wait.max.ms=10 >/dev/null || fail "kcat -C"
	kcat_s+=" $(cut -d' ' -f1 "$OUT/archive-time")"
	for codec in deflate deflate:6 null; do
		d=$OUT/archive-dir
		rm -rf "$d"
		timed "$OUT/archive-time" "$BUILD/tapio-archive" -b "$BROKERS" -d "$d" -g "bench-$r-$codec" \
			--codec "$codec" --until-idle 2 bench.archive >"$OUT/archive-run.txt" \
			2>"$OUT/archive-run.err" || fail "tapio-archive (see $OUT/archive-run.err)"
		arch_cpu[$codec]+=" $(cpu_us "$OUT/archive-time")"
		[ "$(sed -n 's/^archived \([0-9]*\) records.*/\1/p' "$OUT/archive-run.txt")" = "$N" ] ||
			fail "tapio-archive did not archive $N records ($OUT/archive-run.txt)"
		arch_rps[$codec]+=" $(sed -n 's/.* s (\([0-9]*\) records\/s).*/\1/p' "$OUT/archive-run.txt")"
		arch_bpr[$codec]+=" $(sed -n 's/^files .*(\([0-9.]*\) bytes\/record)/\1/p' "$OUT/archive-run.txt")"
		if [ "$codec" = deflate ] && [ "$r" = 1 ]; then cp -r "$d" "$OUT/archive-deflate"; fi
	done
	log "  archive round $r of $REPS done"
done
KCAT_EMPTY=$(echo "$kcat_empty_s" | median)
kcatc_rps=()
for t in $kcat_s; do
	kcatc_rps+=("$(calc %.0f "$N / ($t - $KCAT_EMPTY > 0.01 ? $t - $KCAT_EMPTY : 0.01)")")
done

# Replay (the deflate archive, as fast as possible) alternating with kcat -P of the same records;
# both records / the whole run.
replay_rps=() replay_cpu=()
for r in $(seq "$REPS"); do
	[ "$r" -gt 1 ] && kcat_p bench.kcatp
	timed "$OUT/archive-time" "$BUILD/tapio-replay" -b "$BROKERS" -d "$OUT/archive-deflate" \
		--topic-prefix "r$r." >"$OUT/replay-run.txt" 2>"$OUT/replay-run.err" ||
		fail "tapio-replay (see $OUT/replay-run.err)"
	[ "$(sed -n 's/^replayed \([0-9]*\) records.*/\1/p' "$OUT/replay-run.txt")" = "$N" ] ||
		fail "tapio-replay did not send $N records"
	replay_rps+=("$(awk -v n="$N" '{printf "%.0f", n / $1}' "$OUT/archive-time")")
	replay_cpu+=("$(cpu_us "$OUT/archive-time")")
done
rm -rf "$OUT/archive-dir" "$OUT/archive-deflate"

{
	echo "archive_records=$N"
	echo "kcat_c_plain_rps=$(echo "${kcatplain_rps[*]}" | median)"
	echo "kcat_c_plain_rps_range=$(echo "${kcatplain_rps[*]}" | minmax)"
	echo "kcat_c_rps=$(echo "${kcatc_rps[*]}" | median)"
	echo "kcat_c_rps_range=$(echo "${kcatc_rps[*]}" | minmax)"
	echo "kcat_c_cpu_us=$(echo "${kcatc_cpu[*]}" | median)"
	echo "kcat_c_empty_s=$KCAT_EMPTY"
	for codec in deflate deflate:6 null; do
		echo "archive_${codec/:/}_rps=$(echo "${arch_rps[$codec]}" | median)"
		echo "archive_${codec/:/}_rps_range=$(echo "${arch_rps[$codec]}" | minmax)"
		echo "archive_${codec/:/}_bpr=$(echo "${arch_bpr[$codec]}" | median)"
		echo "archive_${codec/:/}_cpu_us=$(echo "${arch_cpu[$codec]}" | median)"
	done
	echo "replay_rps=$(echo "${replay_rps[*]}" | median)"
	echo "replay_rps_range=$(echo "${replay_rps[*]}" | minmax)"
	echo "replay_cpu_us=$(echo "${replay_cpu[*]}" | median)"
	echo "kcat_p_cpu_us=$(echo "${kcatp_cpu[*]}" | median)"
	echo "kcat_p_rps=$(echo "${kcatp_rps[*]}" | median)"
	echo "kcat_p_rps_range=$(echo "${kcatp_rps[*]}" | minmax)"
} >>"$R"

# The rows, in run.sh's table format: | figure | unit | ours | peer | ratio |
TR=$(kv "$R" topic_records)
printf '| archive (%s exec records, 4 partitions; deflate level 3, the default) | records/s | %s [%s] | kcat -C, plain run: %s [%s]; streaming alone: %s [%s] | **%sx**; %sx |\n' \
	"$N" "$(kv "$R" archive_deflate_rps)" "$(kv "$R" archive_deflate_rps_range)" \
	"$(kv "$R" kcat_c_plain_rps)" "$(kv "$R" kcat_c_plain_rps_range)" \
	"$(kv "$R" kcat_c_rps)" "$(kv "$R" kcat_c_rps_range)" \
	"$(calc %.2f "$(kv "$R" archive_deflate_rps) / $(kv "$R" kcat_c_plain_rps)")" \
	"$(calc %.2f "$(kv "$R" archive_deflate_rps) / $(kv "$R" kcat_c_rps)")"
for codec in deflate:6 null; do
	printf '| archive, --codec %s | records/s | %s [%s] | kcat -C, plain: %s; streaming: %s | %sx; %sx |\n' "$codec" \
		"$(kv "$R" "archive_${codec/:/}_rps")" "$(kv "$R" "archive_${codec/:/}_rps_range")" \
		"$(kv "$R" kcat_c_plain_rps)" "$(kv "$R" kcat_c_rps)" \
		"$(calc %.2f "$(kv "$R" "archive_${codec/:/}_rps") / $(kv "$R" kcat_c_plain_rps)")" \
		"$(calc %.2f "$(kv "$R" "archive_${codec/:/}_rps") / $(kv "$R" kcat_c_rps)")"
done
printf '| replay (the deflate archive, --pace max) | records/s | %s [%s] | kcat -P: %s [%s] | **%sx** |\n' \
	"$(kv "$R" replay_rps)" "$(kv "$R" replay_rps_range)" "$(kv "$R" kcat_p_rps)" "$(kv "$R" kcat_p_rps_range)" \
	"$(calc %.2f "$(kv "$R" replay_rps) / $(kv "$R" kcat_p_rps)")"
printf '| archive and replay | CPU µs/record, all threads (whole run) | archive %s (deflate:6 %s, null %s); replay %s | kcat -C %s; kcat -P %s | %sx; %sx |\n' \
	"$(kv "$R" archive_deflate_cpu_us)" "$(kv "$R" archive_deflate6_cpu_us)" "$(kv "$R" archive_null_cpu_us)" \
	"$(kv "$R" replay_cpu_us)" "$(kv "$R" kcat_c_cpu_us)" "$(kv "$R" kcat_p_cpu_us)" \
	"$(calc %.2f "$(kv "$R" archive_deflate_cpu_us) / $(kv "$R" kcat_c_cpu_us)")" \
	"$(calc %.2f "$(kv "$R" replay_cpu_us) / $(kv "$R" kcat_p_cpu_us)")"
printf '| archive size | bytes/record | deflate %s, deflate:6 %s, null %s | topic: %s on the wire (lz4 batches), %s key + value + headers | %sx of the wire |\n' \
	"$(kv "$R" archive_deflate_bpr)" "$(kv "$R" archive_deflate6_bpr)" "$(kv "$R" archive_null_bpr)" \
	"$(calc %.1f "$(kv "$R" topic_wire_bytes) / $TR")" "$(calc %.1f "$(kv "$R" topic_record_bytes) / $TR")" \
	"$(calc %.2f "$(kv "$R" archive_deflate_bpr) / ($(kv "$R" topic_wire_bytes) / $TR)")"
