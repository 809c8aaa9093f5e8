#!/usr/bin/env bash
# Unpacks Debian arm64 packages, with everything they depend on, into a directory: the sysroot the
# arm64 producer is cross-built against (`make cross`), and the root the arm64 guest of
# `make kernel-matrix` takes its programs from.
#
#   integration/kernel-matrix/sysroot.sh DIR PACKAGE...
#
# The packages come from Debian 12 (SYSROOT_SUITES) through a private apt configuration
# (apt.sh): no `dpkg --add-architecture`, nothing installed on this machine, root not needed.
# Downloads are cached in $TAPIO_CACHE/apt/sysroot-<arch>; a second run with the same package
# set does nothing. Packages are unpacked, not installed: no maintainer scripts run.
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=apt.sh
. "$here/apt.sh"

SYSROOT_ARCH=${SYSROOT_ARCH:-arm64}
SYSROOT_SUITES=${SYSROOT_SUITES:-bookworm bookworm-updates bookworm-security}

[ $# -ge 2 ] || { echo "usage: $0 DIR PACKAGE..." >&2; exit 2; }
root=$1
shift
conf=sysroot-$SYSROOT_ARCH
mkdir -p "$root"
root=$(cd "$root" && pwd)

# shellcheck disable=SC2086
apt_private "$conf" "$SYSROOT_ARCH" $SYSROOT_SUITES

want="$root/.packages.want"
printf '%s\n' "$@" | sort -u >"$want"
if [ -f "$root/.packages.done" ] && cmp -s "$want" "$root/.packages.done"; then
	exit 0
fi
apt_update "$conf"

# The whole dependency closure, as apt would install it on an empty arm64 system.
plan=$(apt_run "$conf" apt-get -s -q install "$@" 2>&1) ||
	{ echo "$plan" >&2; echo "sysroot: cannot resolve $*" >&2; exit 1; }
mapfile -t pkgs < <(sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*/\1=\2/p' <<<"$plan")
[ ${#pkgs[@]} -gt 0 ] || { echo "$plan" >&2; echo "sysroot: nothing to install?" >&2; exit 1; }
echo "sysroot: ${#pkgs[@]} $SYSROOT_ARCH packages for $*" >&2
apt_run "$conf" apt-get -q -y -d -o APT::Status-Fd=-1 install "$@" >"$root/.download.log" 2>&1 ||
	{ cat "$root/.download.log" >&2; echo "sysroot: download failed" >&2; exit 1; }

archives="$(apt_dir "$conf")/cache/archives"
# Debian 12 is merged-/usr: /bin, /lib and /sbin are links into /usr, made before unpacking so
# that files packaged under /lib land in /usr/lib.
for d in bin lib sbin; do
	mkdir -p "$root/usr/$d"
	[ -e "$root/$d" ] || ln -s "usr/$d" "$root/$d"
done
for p in "${pkgs[@]}"; do
	name=${p%%=*} version=${p#*=}
	stamp="$root/.unpacked/${name}_${version//:/%3a}"
	[ -f "$stamp" ] && continue
	deb=$(ls "$archives/${name}_${version//:/%3a}_"*.deb 2>/dev/null | head -n1)
	[ -n "$deb" ] || { echo "sysroot: $name $version was not downloaded" >&2; exit 1; }
	dpkg-deb --fsys-tarfile "$deb" | tar -x --keep-directory-symlink -C "$root"
	mkdir -p "$root/.unpacked" && touch "$stamp"
done

# Absolute links (/usr/lib/<triplet>/libfoo.so -> /lib/<triplet>/libfoo.so.1) would point into
# this machine's root: make them relative to the sysroot.
while IFS= read -r -d '' link; do
	target=$(readlink "$link")
	case $target in
	/*) ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$root$target")" "$link" ;;
	esac
done < <(find "$root" -type l -print0)
mv "$want" "$root/.packages.done"
