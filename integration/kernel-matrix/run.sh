#!/usr/bin/env bash
# `make kernel-matrix` (root): boots each Debian kernel of kernels.conf under qemu (software
# emulation; no KVM needed) with an initramfs that holds the producer, tapio-tail, busybox and the
# tools the checks use, runs check.sh in it, and runs the same checks natively on this machine's
# kernel. Prints the tables of KERNELS.md and writes them to $BUILD/kernel-matrix/report.md.
#
# Environment:
#   KERNELS           rows to run, e.g. "x86:6.1 arm64:6.12 host" (default: every row)
#   KM_JOBS           guests booted at once (default 2)
#   KM_WAIT_S         deadline of each wait inside a guest, seconds (default 120)
#   KM_GUEST_TIMEOUT  bound on one guest, boot to power-off, seconds (default 1800)
#   KM_MEM            guest memory, MiB (default 2048)
#   TAPIO_CACHE       downloads (default .cache); BUILD (default build)
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
cd "$top"
# shellcheck source=apt.sh
. "$here/apt.sh"

BUILD=${BUILD:-build}
OUT=$BUILD/kernel-matrix
KERNELS=${KERNELS:-}
KM_JOBS=${KM_JOBS:-2}
KM_WAIT_S=${KM_WAIT_S:-120}
KM_GUEST_TIMEOUT=${KM_GUEST_TIMEOUT:-1800}
KM_MEM=${KM_MEM:-2048}
ARM64_SYSROOT=$BUILD/arm64/sysroot
# What the arm64 guest runs besides Tapio, from Debian 12 arm64 (the x86 guests take this
# machine's own binaries): the sysroot's libraries plus these.
ARM64_GUEST_PKGS="iproute2 dnsmasq-base bind9-dnsutils"
# The libraries the arm64 producer links against (the Makefile's ARM64_LIB_PKGS).
ARM64_LIB_PKGS=${ARM64_LIB_PKGS:-libbpf-dev libelf-dev zlib1g-dev librdkafka-dev libavro-dev \
libjansson-dev libcurl4-openssl-dev libssl-dev libc6-dev}
ROOT_LOCK=/tmp/tapio-root-tests.lock

log() { echo "kernel-matrix: $*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (the native run loads BPF programs)"
start_all=$(date +%s)
declare -A debarch_of=([x86]=amd64 [arm64]=arm64) qemu_of=([x86]=qemu-system-x86_64
	[arm64]=qemu-system-aarch64)

# The rows asked for.
rows=()
while read -r name arch suite pkg; do
	case $name in '' | '#'*) continue ;; esac
	id=$name-$arch
	[ "$name" = host ] && id=host
	if [ -n "$KERNELS" ]; then
		case " $KERNELS " in *" $arch:$name "* | *" $id "*) ;; *) continue ;; esac
	fi
	rows+=("$id $name $arch $suite $pkg")
done <"$here/kernels.conf"
[ ${#rows[@]} -gt 0 ] || die "no row of kernels.conf matches KERNELS=\"$KERNELS\""

mkdir -p "$OUT/results" "$TAPIO_CACHE/debs"
debs=$(cd "$TAPIO_CACHE/debs" && pwd)

# One private apt configuration for the kernels (and busybox): every suite of kernels.conf, so
# running some rows only does not change it (and throw its package lists away).
suites=$(awk '!/^#/ && NF == 4 && $3 != "-" { print $3 }' "$here/kernels.conf" | sort -u)
# shellcheck disable=SC2086
apt_private kernels "amd64 arm64" bookworm $suites
apt_update kernels

# suite package debarch -> "package version" (a metapackage resolves to its ABI package).
resolve() {
	local suite=$1 pkg=$2 debarch=$3 ver
	in_suite() {
		apt_run kernels apt-cache madison "$1:$debarch" |
			awk -F'|' -v s=" $suite/main " 'index($3, s) { gsub(/ /, "", $2); print $2; exit }'
	}
	ver=$(in_suite "$pkg")
	[ -n "$ver" ] || die "no $pkg:$debarch in $suite"
	case $pkg in
	linux-image-[0-9]* | [!l]* | l[!i]*) ;;
	linux-image-*)
		pkg=$(apt_run kernels apt-cache show "$pkg:$debarch=$ver" | sed -n 's/^Depends: //p' |
			tr ',' '\n' | sed -n 's/^ *\(linux-image-[0-9][^ :]*\).*/\1/p' | head -n1)
		[ -n "$pkg" ] || die "$2 $ver:$debarch depends on no linux-image package"
		ver=$(in_suite "$pkg")
		;;
	esac
	echo "$pkg $ver"
}

# Downloads (once) package=version:debarch into the cache; prints the .deb's path.
fetch() {
	local pkg=$1 ver=$2 debarch=$3 f
	f="$debs/${pkg}_${ver//:/%3a}_$debarch.deb"
	if [ ! -s "$f" ]; then
		log "downloading $pkg $ver ($debarch)"
		if ! (cd "$debs" && apt_run kernels apt-get -q -o APT::Status-Fd=-1 download \
			"$pkg:$debarch=$ver" >/dev/null 2>"$debs/.download.err"); then
			log "apt-get download $pkg:$debarch=$ver failed: $(tail -n1 "$debs/.download.err")"
			return 1
		fi
	fi
	[ -s "$f" ] || die "downloaded $pkg, but $f is not there"
	echo "$f"
}

# busybox-static of Debian 12 for an architecture; prints the binary's path.
busybox_for() {
	local debarch=${debarch_of[$1]} d="$OUT/busybox-$1" deb v
	if [ ! -x "$d/bin/busybox" ]; then
		v=$(resolve bookworm busybox-static "$debarch" | awk '{ print $2 }')
		deb=$(fetch busybox-static "$v" "$debarch")
		mkdir -p "$d"
		dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$d" ./bin/busybox
	fi
	echo "$d/bin/busybox"
}

# The part of the initramfs every kernel of an architecture shares.
userland() {
	local arch=$1 root bin bb etc="$OUT/etc" out="$OUT/userland-$1.cpio" extra=()
	mkdir -p "$etc"
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$etc/group"
	printf '127.0.0.1 localhost km-guest\n::1 localhost\n' >"$etc/hosts"
	printf 'nameserver 127.0.0.1\n' >"$etc/resolv.conf"
	bb=$(busybox_for "$arch")
	if [ "$arch" = x86 ]; then
		root=/
		bin=$BUILD
		extra=(--link lib64:usr/lib64)
	else
		root=$ARM64_SYSROOT
		bin=$BUILD/arm64
	fi
	for t in "$bin/tapio-producer" "$bin/tapio-tail"; do
		[ -x "$t" ] || die "$t is not built"
	done
	python3 "$here/mkinitramfs.py" --root "$root" --out "$out" \
		--elf "$bb:/usr/bin/busybox" --elf /usr/bin/ip --elf /usr/bin/dig --elf /usr/sbin/dnsmasq \
		--elf "$bin/tapio-producer:/tapio/tapio-producer" --elf "$bin/tapio-tail:/tapio/tapio-tail" \
		--file "$here/init:/init:755" --file "$here/check.sh:/check.sh:755" \
		--file "$etc/passwd:/etc/passwd:644" --file "$etc/group:/etc/group:644" \
		--file "$etc/hosts:/etc/hosts:644" --file "$etc/resolv.conf:/etc/resolv.conf:644" \
		--link bin:usr/bin --link sbin:usr/sbin --link lib:usr/lib --link var/run:../run \
		"${extra[@]}" --dir /proc --dir /sys --dir /dev --dir /tmp --dir /run --dir /root \
		--dir /var/lib/misc
	echo "$out"
}

# A kernel's image and the modules the checks need (veth), with what they depend on.
MODULES="veth"
prepare_kernel() {
	local id=$1 arch=$2 d="$OUT/kernels/$1" stage deb
	shift 2
	if [ ! -f "$d/.done" ] || [ "$1" -nt "$d/.done" ]; then
		rm -rf "$d"
		mkdir -p "$d/tree"
		for deb in "$@"; do
			dpkg-deb -x "$deb" "$d/tree"
		done
		touch "$d/.done"
	fi
	stage="$d/modules"
	rm -rf "$stage"
	mkdir -p "$stage"
	: >"$stage/order"
	add_module() {
		local m=$1 f dep
		grep -qx "$m" "$stage/order" && return 0
		f=$(find "$d/tree" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" | head -n1)
		if [ -z "$f" ]; then
			# Built in: nothing to load.
			grep -qE "/$m\.ko" "$(find "$d/tree" -name modules.builtin | head -n1)" 2>/dev/null &&
				return 0
			die "$id: no module $m in its package"
		fi
		for dep in $(modinfo -F depends "$f" | tr ',' ' '); do
			add_module "$dep"
		done
		case $f in
		*.xz) xz -dc "$f" >"$stage/$m.ko" ;;
		*.zst) zstd -qdc "$f" >"$stage/$m.ko" ;;
		*) cp "$f" "$stage/$m.ko" ;;
		esac
		echo "$m" >>"$stage/order"
	}
	for m in $MODULES; do add_module "$m"; done
	local args=(--root / --out "$d/modules.cpio" --file "$stage/order:/usr/lib/modules/order:644")
	for m in $(cat "$stage/order"); do args+=(--file "$stage/$m.ko:/usr/lib/modules/$m.ko:644"); done
	python3 "$here/mkinitramfs.py" "${args[@]}"
	# /boot/vmlinuz-<abi>, or /usr/lib/modules/<abi>/vmlinuz from 7.x on.
	local image
	image=$(find "$d/tree" -type f \( -path '*/boot/vmlinuz-*' -o -path '*/modules/*/vmlinuz' \) |
		head -n1)
	[ -n "$image" ] || die "$id: no kernel image (vmlinuz) in its packages"
	echo "$image"
}

boot() {
	local id=$1 arch=$2 kernel=$3 initrd=$4 res="$OUT/results/$1" rc t0 qemu args
	mkdir -p "$res"
	rm -f "$res/console.log"
	qemu=${qemu_of[$arch]}
	if [ "$arch" = x86 ]; then
		args=(-machine q35 -cpu max -append
			"console=ttyS0 rdinit=/init panic=-1 loglevel=1 km_wait=$KM_WAIT_S")
	else
		# pauth-impdef: QEMU's cheap pointer-authentication algorithm (the default one is slow).
		args=(-machine virt -cpu max,pauth-impdef=on -append
			"console=ttyAMA0 rdinit=/init panic=-1 loglevel=1 km_wait=$KM_WAIT_S")
	fi
	t0=$(date +%s)
	rc=0
	timeout --kill-after=10 "$KM_GUEST_TIMEOUT" nice -n 10 "$qemu" -accel tcg,thread=multi \
		-smp 2 -m "$KM_MEM" -nodefaults -no-reboot -display none \
		-serial "file:$res/console.log" -kernel "$kernel" -initrd "$initrd" "${args[@]}" \
		>"$res/qemu.log" 2>&1 &
	# run.sh's exit trap stops it (timeout passes SIGTERM on to qemu).
	echo $! >"$res/pid"
	wait $! || rc=$?
	rm -f "$res/pid"
	echo "$(($(date +%s) - t0))" >"$res/seconds"
	if [ $rc -eq 124 ]; then
		echo "KM timeout after $KM_GUEST_TIMEOUT s" >>"$res/console.log"
	fi
	log "$id: done in $(cat "$res/seconds") s (qemu exit $rc)"
}

# On any exit, stop the guests still running (their timeout processes).
stop_guests() {
	local f
	for f in "$OUT"/results/*/pid; do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	return 0
}
trap stop_guests EXIT
rm -f "$OUT"/results/*/pid

# First every download and initramfs, so a missing package stops the run before any boot.
declare -A userland_of=() kernel_of=() label_of=()
for r in "${rows[@]}"; do
	set -- $r
	id=$1 name=$2 arch=$3 suite=$4 pkg=$5
	res="$OUT/results/$id"
	mkdir -p "$res"
	rm -f "$res/console.log" "$res/seconds"
	[ "$name" = host ] && continue
	debarch=${debarch_of[$arch]}
	read -r abi ver < <(resolve "$suite" "$pkg" "$debarch")
	echo "$abi $ver" >"$res/package"
	label_of[$id]="$abi $ver"
	# From 7.x on, the image package only depends on linux-binary-<abi> (the image) and
	# linux-modules-<abi>: fetch those too.
	# The unsigned build is the same kernel without the secure-boot signature; take whichever
	# the archive serves.
	deb=
	cands=("$abi-unsigned" "$abi")
	# One already downloaded first.
	[ -s "$debs/${abi}_${ver//:/%3a}_$debarch.deb" ] && cands=("$abi" "$abi-unsigned")
	for cand in "${cands[@]}"; do
		[ -n "$(apt_run kernels apt-cache madison "$cand:$debarch" | grep -F " $ver ")" ] ||
			continue
		if deb=$(fetch "$cand" "$ver" "$debarch"); then
			abi=$cand
			break
		fi
	done
	[ -n "$deb" ] || die "$id: cannot download $abi ($ver, $debarch)"
	echo "$abi $ver" >"$res/package"
	label_of[$id]="$abi $ver"
	debs_of=("$deb")
	for part in $(apt_run kernels apt-cache show "$abi:$debarch=$ver" | sed -n 's/^Depends: //p' |
		tr ',' '\n' | sed -n 's/^ *\(linux-\(binary\|modules\)-[^ :]*\).*/\1/p'); do
		debs_of+=("$(fetch "$part" "$ver" "$debarch")")
	done
	kernel_of[$id]=$(prepare_kernel "$id" "$arch" "${debs_of[@]}")
	if [ -z "${userland_of[$arch]:-}" ]; then
		if [ "$arch" = arm64 ]; then
			# shellcheck disable=SC2086
			bash "$here/sysroot.sh" "$ARM64_SYSROOT" $ARM64_LIB_PKGS $ARM64_GUEST_PKGS
		fi
		userland_of[$arch]=$(userland "$arch")
	fi
	cat "${userland_of[$arch]}" "$OUT/kernels/$id/modules.cpio" >"$OUT/kernels/$id/initrd.cpio"
done

# Then the native row (it needs the root-test lock, the guests do not) and the guests,
# KM_JOBS at a time.
pids=()
for r in "${rows[@]}"; do
	set -- $r
	id=$1 name=$2 arch=$3
	res="$OUT/results/$id"
	if [ "$name" = host ]; then
		log "host: the checks on this machine's kernel ($(uname -r)), natively"
		# Timed once the lock is taken: waiting for other root tests is not the checks' time.
		{
			echo "KM guest $(uname -r) $(uname -m) $(nproc) cpus (native)"
			flock "$ROOT_LOCK" env BIN="$top/$BUILD" KM_WAIT_S=60 SECONDS_FILE="$res/seconds" \
				sh -c 't0=$(date +%s); sh "$0"; echo $(($(date +%s) - t0)) >"$SECONDS_FILE"' \
				"$here/check.sh" || true
			echo "KM done"
		} >"$res/console.log" 2>&1
		echo "this machine's kernel (not a Debian package)" >"$res/package"
		continue
	fi
	while [ "$(jobs -rp | wc -l)" -ge "$KM_JOBS" ]; do wait -n || true; done
	log "$id: booting ${label_of[$id]} under $(basename "${qemu_of[$arch]}") (TCG)"
	boot "$id" "$arch" "${kernel_of[$id]}" "$OUT/kernels/$id/initrd.cpio" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || true; done

total=$(($(date +%s) - start_all))
ids=$(for r in "${rows[@]}"; do set -- $r; echo "$1"; done)
status=0
# shellcheck disable=SC2086
python3 "$here/report.py" --results "$OUT/results" --seconds "$total" $ids >"$OUT/report.md" ||
	status=$?
cat "$OUT/report.md"
# A run of every row rewrites the tables of KERNELS.md (review the diff before committing it).
if [ -z "$KERNELS" ] && [ -f KERNELS.md ] && grep -q '^<!-- kernel-matrix:begin' KERNELS.md; then
	python3 - KERNELS.md "$OUT/report.md" <<'PY'
import sys
path, report = sys.argv[1], open(sys.argv[2]).read()
text = open(path).read()
begin = text.index("\n", text.index("<!-- kernel-matrix:begin")) + 1
end = text.index("<!-- kernel-matrix:end")
open(path, "w").write(text[:begin] + "\n" + report.strip() + "\n\n" + text[end:])
PY
	log "KERNELS.md: tables rewritten from this run"
fi
exit $status
