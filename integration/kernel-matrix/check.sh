#!/bin/sh
# The kernel matrix's checks, run as root in each guest (by /init) and natively on this machine's
# kernel (by run.sh): `tapio-producer --probe`, then the producer on its embedded broker and what
# must reach its topics, read back with tapio-tail:
#   exec   an exec in a pod-like cgroup: EXEC with the pod UID, then its EXIT
#   cri    the container's STARTED in tapio.cri, and OOM_KILLED for the one of the oom check
#   oom    a process over its cgroup's 32 MiB limit: OOM_KILL with the pod UID
#   dns    dnsmasq in a network namespace answers dig run in the pod: RESPONSE with the answer
#   netns  that namespace (NETNS_CREATED) and its veth pair (LINK_ADDED on both sides)
#   tcp    the producer's own connection to its broker: TCP_CONNECT
#   stop   SIGTERM: exit status 0, every record delivered
# Each prints "KM check NAME ok|FAIL|skip DETAIL"; a check whose records the probe said this
# kernel cannot give is skipped. POSIX sh: busybox ash in the guests, dash here.
#
# Environment: BIN (tapio-producer, tapio-tail), KM_WAIT_S (deadline of each wait, seconds).
BIN=${BIN:?BIN: directory of tapio-producer and tapio-tail}
KM_WAIT_S=${KM_WAIT_S:-120}
WORK=$(mktemp -d /tmp/km-check.XXXXXX)
TAG=km$$
POD_UID=4b6f1d0e-5a7c-4e21-9a3b-$(printf '%012d' $$)
CID=$(printf 'a%063d' $$)
OOM_CID=$(printf 'b%063d' $$)
NS=$TAG-dns
# iproute2's ip: busybox's ash (the guests' sh) runs its own applets before anything on PATH.
IP=/usr/bin/ip
[ -x "$IP" ] || IP=/sbin/ip
producer=
tail_pid=
dnsmasq_pid=
v1_memcg=

say() { echo "KM $*"; }
check() { say "check $*"; }

# True once some line of $1 matches every extended regex after it; false at the deadline.
wait_match() {
	f=$1
	shift
	n=0
	while :; do
		if [ -f "$f" ]; then
			out=$(cat "$f")
			for p in "$@"; do
				out=$(printf '%s\n' "$out" | grep -E -- "$p")
			done
			[ -n "$out" ] && { printf '%s\n' "$out" | head -n1 >"$WORK/match"; return 0; }
		fi
		n=$((n + 1))
		[ $n -gt $((KM_WAIT_S * 10)) ] && return 1
		sleep 0.1
	done
}

# The probe's verdict on a program: attached, missing or failed.
verdict() {
	sed -n "s/^  \([a-z]*\) *$1 .*/\1/p" "$WORK/probe.txt" | head -n1
}

# expect CHECK COLLECTOR PROGRAM: true when the probe says the records can come. Otherwise the
# check's line is printed at once: skip when the kernel lacks the program's hook (the collector
# runs without it), FAIL when the collector cannot run or the program was refused.
expect() {
	if ! grep -q "^$2 -> .*: runs" "$WORK/probe.txt"; then
		check "$1" FAIL "probe: collector $2 cannot run"
		return 1
	fi
	v=$(verdict "$3")
	case $v in
	attached) return 0 ;;
	missing) check "$1" skip "probe: $3 missing on this kernel" ;;
	*) check "$1" FAIL "probe: $3 ${v:-not reported}" ;;
	esac
	return 1
}

cleanup() {
	[ -n "$dnsmasq_pid" ] && kill "$dnsmasq_pid" 2>/dev/null
	[ -n "$tail_pid" ] && kill "$tail_pid" 2>/dev/null
	[ -n "$producer" ] && kill "$producer" 2>/dev/null
	"$IP" link del "${TAG}v0" 2>/dev/null
	"$IP" netns del "$NS" 2>/dev/null
	[ -n "$pod" ] && for d in "$pod/cri-containerd-$OOM_CID.scope" "$pod/cri-containerd-$CID.scope" \
		"$pod"; do rmdir "$d" 2>/dev/null; done
	[ -n "$v1_memcg" ] && rmdir "$v1_memcg" 2>/dev/null
}
trap cleanup EXIT

# 1. The probe, verbatim between markers.
echo "KM-PROBE-BEGIN"
"$BIN/tapio-producer" --probe >"$WORK/probe.txt" 2>"$WORK/probe.err"
rc=$?
cat "$WORK/probe.txt" "$WORK/probe.err"
echo "KM-PROBE-END"
say "probe exit $rc"

# 2. The producer on its embedded broker, and a reader of every topic from the start.
cg2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
[ -n "$cg2" ] || { check start FAIL "no cgroup v2 mount"; exit 1; }
t0=$(date +%s)
"$BIN/tapio-producer" --node-name "$TAG" --set metrics_listen=127.0.0.1:0 \
	--set stats_interval_s=0 --set flush_timeout_ms=10000 --set ringbuf_kb=1024 \
	>"$WORK/producer.out" 2>"$WORK/producer.err" &
producer=$!
n=0
while ! grep -q '^bootstrap\.servers=' "$WORK/producer.out"; do
	n=$((n + 1))
	if ! kill -0 "$producer" 2>/dev/null || [ $n -gt $((KM_WAIT_S * 10)) ]; then
		check start FAIL "no bootstrap.servers line (producer exited, or ${KM_WAIT_S} s passed)"
		sed 's/^/KM producer-log /' "$WORK/producer.err" | tail -n 30
		exit 1
	fi
	sleep 0.1
done
boot=$(sed -n 's/^bootstrap\.servers=//p' "$WORK/producer.out")
say "started in $(($(date +%s) - t0)) s, broker $boot"
grep -E ' (warn|error) ' "$WORK/producer.err" | sed 's/^/KM producer-log /'
"$BIN/tapio-tail" -b "$boot" --from-beginning tapio.kernel tapio.dns tapio.cni tapio.cri \
	>"$WORK/records.json" 2>"$WORK/tail.err" &
tail_pid=$!

# A kubelet-style pod cgroup with a containerd container in it.
pod=$cg2/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod$(echo "$POD_UID" |
	tr - _).slice
mkdir -p "$pod/cri-containerd-$CID.scope" "$pod/cri-containerd-$OOM_CID.scope"
# Runs "$@" in cgroup $1 (exec, so the process is the one that moved).
run_in() {
	cg=$1
	shift
	sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" "$@"
}

# 3. exec (and exit, and the cri collector's view of the same container).
marker=$TAG-exec-marker
run_in "$pod/cri-containerd-$CID.scope" /bin/echo "$marker" >/dev/null
if ! expect exec kernel handle_exec; then
	:
elif wait_match "$WORK/records.json" '"kind":"EXEC"' "\"$marker\"" "\"pod_uid\":\"$POD_UID\""; then
	pid=$(sed 's/.*"pid":\([0-9]*\).*/\1/' "$WORK/match")
	if wait_match "$WORK/records.json" '"kind":"EXIT"' "\"pid\":$pid,"; then
		check exec ok "EXEC and EXIT of pid $pid with pod_uid $POD_UID"
	else
		check exec FAIL "EXEC of pid $pid but no EXIT"
	fi
else
	check exec FAIL "no EXEC record with $marker and pod_uid $POD_UID"
fi

# 4. An OOM kill: dd's 64 MiB buffer in a container limited to 32 MiB, without swap.
oomcg=$pod/cri-containerd-$OOM_CID.scope
# The tracepoint, or where it passes no task, the kprobe standing in for it.
oomprog=handle_mark_victim
[ "$(verdict handle_mark_victim)" = attached ] || oomprog=handle_oom_kprobe
if expect oom kernel "$oomprog"; then
	if grep -qw memory "$cg2/cgroup.controllers"; then
		d=$cg2
		for part in kubepods.slice kubepods-besteffort.slice "${pod##*/}"; do
			echo +memory >"$d/cgroup.subtree_control"
			d=$d/$part
		done
		echo +memory >"$pod/cgroup.subtree_control"
		echo 33554432 >"$oomcg/memory.max"
		echo 0 >"$oomcg/memory.swap.max" 2>/dev/null
		run_in "$oomcg" dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null
	elif [ -d /sys/fs/cgroup/memory ]; then
		# Hybrid hosts: the memory controller is on v1.
		v1_memcg=/sys/fs/cgroup/memory/$TAG-oom
		mkdir -p "$v1_memcg"
		echo 33554432 >"$v1_memcg/memory.limit_in_bytes"
		echo 33554432 >"$v1_memcg/memory.memsw.limit_in_bytes" 2>/dev/null
		echo 0 >"$v1_memcg/memory.swappiness"
		sh -c 'echo $$ >"$0/cgroup.procs" && echo $$ >"$1/cgroup.procs" &&
			exec dd if=/dev/zero of=/dev/null bs=64M count=1' "$oomcg" "$v1_memcg" 2>/dev/null
	fi
	if wait_match "$WORK/records.json" '"kind":"OOM_KILL"' '"comm":"dd"' \
		"\"pod_uid\":\"$POD_UID\""; then
		check oom ok "OOM_KILL of dd ($oomprog), $(grep -o '"cgroup_oom":[a-z]*' "$WORK/match")"
	else
		check oom FAIL "no OOM_KILL record of dd in the pod"
	fi
fi

# The cri collector's view of both containers: the first started, the second OOM-killed.
if ! expect cri cri lc_exec; then
	:
elif ! wait_match "$WORK/records.json" '"topic":"tapio.cri"' '"kind":"STARTED"' "$CID"; then
	check cri FAIL "no STARTED record for container ${CID%"${CID#????????}"}..."
elif [ "$(verdict lc_oom)" != attached ] && [ "$(verdict lc_oom_kprobe)" != attached ]; then
	check cri ok "STARTED (OOM_KILLED not checked: probe says no lc_oom here)"
elif wait_match "$WORK/records.json" '"topic":"tapio.cri"' '"kind":"OOM_KILLED"' "$OOM_CID"; then
	check cri ok "STARTED for one container, OOM_KILLED for the other"
else
	check cri FAIL "STARTED, but no OOM_KILLED for container ${OOM_CID%"${OOM_CID#????????}"}..."
fi

# 5. A network namespace with a veth pair, dnsmasq in it, and dig asking from the pod.
"$IP" netns add "$NS"
"$IP" link add "${TAG}v0" type veth peer name "${TAG}v1"
"$IP" link set "${TAG}v1" netns "$NS"
"$IP" addr add 10.231.0.1/24 dev "${TAG}v0"
"$IP" link set "${TAG}v0" up
"$IP" -n "$NS" addr add 10.231.0.2/24 dev "${TAG}v1"
"$IP" -n "$NS" link set "${TAG}v1" up
"$IP" -n "$NS" link set lo up
ino=$(stat -L -c %i "/run/netns/$NS")
"$IP" netns exec "$NS" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
	--listen-address=10.231.0.2 --bind-interfaces --address=/km.test/10.231.0.99 \
	--user=root --group=root --pid-file="$WORK/dnsmasq.pid" 2>"$WORK/dnsmasq.err" &
dnsmasq_pid=$!
qname=$TAG.km.test
# dnsmasq answers once it has bound its socket: ask until it does (each try waits up to 1 s).
answer=
n=0
while [ "$answer" != 10.231.0.99 ] && [ $n -lt "$KM_WAIT_S" ]; do
	answer=$(run_in "$pod/cri-containerd-$CID.scope" dig @10.231.0.2 +tries=1 +time=1 +short \
		"$qname" A 2>&1)
	n=$((n + 1))
done
if ! expect dns dns dns_egress; then
	:
elif [ "$answer" != 10.231.0.99 ]; then
	check dns FAIL "dig got \"$answer\" from dnsmasq: $(cat "$WORK/dnsmasq.err")"
elif wait_match "$WORK/records.json" '"topic":"tapio.dns"' '"kind":"RESPONSE"' \
	"\"qname\":\"$qname\"" '10\.231\.0\.99' "\"pod_uid\":\"$POD_UID\""; then
	check dns ok "RESPONSE for $qname with 10.231.0.99"
else
	check dns FAIL "no RESPONSE record for $qname"
fi
if ! expect netns cni cni_enter_unshare; then
	:
elif ! wait_match "$WORK/records.json" '"kind":"NETNS_CREATED"' "\"netns_inode\":$ino,"; then
	check netns FAIL "no NETNS_CREATED for $NS (inode $ino)"
elif ! wait_match "$WORK/records.json" '"kind":"LINK_ADDED"' "\"ifname\":\"${TAG}v0\"" \
	'"link_kind":"veth"'; then
	check netns FAIL "NETNS_CREATED, but no LINK_ADDED for ${TAG}v0"
elif ! wait_match "$WORK/records.json" '"kind":"LINK_ADDED"' "\"netns_inode\":$ino," \
	"\"ifname\":\"${TAG}v1\""; then
	check netns FAIL "NETNS_CREATED and ${TAG}v0, but no LINK_ADDED for ${TAG}v1 in $NS"
else
	check netns ok "NETNS_CREATED (inode $ino), LINK_ADDED for both veth ends"
fi

# 6. The producer's own TCP connection to its broker.
port=${boot##*:}
if ! expect tcp kernel handle_tcp_state; then
	:
elif wait_match "$WORK/records.json" '"kind":"TCP_CONNECT"' "\"remote_port\":$port,"; then
	check tcp ok "TCP_CONNECT to the broker's port $port"
else
	check tcp FAIL "no TCP_CONNECT to port $port"
fi

# 7. A clean stop.
kill "$tail_pid" 2>/dev/null
tail_pid=
kill -TERM "$producer"
n=0
while kill -0 "$producer" 2>/dev/null && [ $n -lt $((KM_WAIT_S * 10)) ]; do
	sleep 0.1
	n=$((n + 1))
done
wait "$producer"
rc=$?
producer=
if [ $rc -eq 0 ] && grep -q "all records delivered" "$WORK/producer.err"; then
	check stop ok "exit 0, all records delivered"
else
	check stop FAIL "exit $rc"
	tail -n 20 "$WORK/producer.err" | sed 's/^/KM producer-log /'
fi
say "records $(wc -l <"$WORK/records.json")"
