#!/usr/bin/env bash
# Regenerates the committed CO-RE headers bpf/vmlinux/<arch>/vmlinux.h from Debian's own
# kernel packages, so the BPF build never depends on the build host's kernel.
#
#   bpf/vmlinux/gen-vmlinux.sh [x86] [arm64]        (default: both)
#
# For each architecture it downloads one linux-image package with `apt-get download`, takes
# /boot/vmlinuz-* out of it, unpacks the kernel image (x86 bzImage payload, arm64 Image,
# plain or gzip-compressed), cuts the raw .BTF blob out of it and has bpftool print it as C.
# Needs: apt-get/apt-cache (reaching the Debian archive), dpkg-deb, tar, python3, bpftool,
# and zstd/lz4 when the image is compressed that way (amd64 6.12 bzImages are zstd).
#
# apt runs on a private, throw-away state (its own package lists, cache and empty dpkg
# status under the work dir, both architectures enabled there only): the host's dpkg
# architectures, package lists and installed packages are left untouched, and root is not
# required. The archives searched are the host's own apt sources.
#
# Environment:
#   KERNEL_SERIES  Debian metapackage series: linux-image-$KERNEL_SERIES-<debarch>
#                  (default 6.12; set it empty for bookworm's default linux-image-<debarch>, 6.1)
#   KERNEL_ABI     pin an exact ABI instead of following the metapackage, e.g. 6.12.117+deb12
#                  or 6.1.0-56 (old ABIs leave the archive over time)
#   KERNEL_FLAVOUR flavour inside the package name: "" (default, generic), cloud- or rt-
#   BPFTOOL        bpftool to use (default: bpftool on PATH, else /usr/sbin/bpftool)
#   KEEP_WORKDIR   set to 1 to keep the download/extraction directory
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KERNEL_SERIES=${KERNEL_SERIES-6.12}
KERNEL_ABI=${KERNEL_ABI-}
KERNEL_FLAVOUR=${KERNEL_FLAVOUR-}
BPFTOOL=${BPFTOOL:-$(command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)}

die() { echo "gen-vmlinux: $*" >&2; exit 1; }
log() { echo "gen-vmlinux: $*" >&2; }

arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(x86 arm64)
for a in "${arches[@]}"; do
	case $a in x86 | arm64) ;; *) die "unknown arch '$a' (x86 or arm64)" ;; esac
done
for t in apt-get apt-cache dpkg-deb tar python3 "$BPFTOOL"; do
	command -v "$t" >/dev/null || die "missing tool: $t"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/gen-vmlinux.XXXXXX")
if [ "${KEEP_WORKDIR:-0}" = 1 ]; then
	log "work dir kept: $work"
else
	trap 'rm -rf "$work"' EXIT
fi

# Private apt state: both architectures, nothing installed, host sources.
mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial"
: >"$work/apt/status"
apt_opts=(
	-o "Dir::State=$work/apt" -o "Dir::State::Lists=$work/apt/lists"
	-o "Dir::State::status=$work/apt/status" -o "Dir::Cache=$work/apt/cache"
	-o "APT::Architecture=amd64" -o "APT::Architectures::=amd64" -o "APT::Architectures::=arm64"
	-o "Debug::NoLocking=1" -o "APT::Sandbox::User=$(id -un)"
)
log "reading the Debian package lists (amd64 + arm64, private state)"
apt-get "${apt_opts[@]}" -qq update >"$work/apt-update.log" 2>&1 ||
	{ cat "$work/apt-update.log" >&2; die "apt-get update failed"; }

# field PACKAGE:ARCH FIELD -> value of FIELD for the candidate version ("" if no such package)
field() {
	apt-cache "${apt_opts[@]}" show --no-all-versions "$1" 2>/dev/null |
		sed -n "s/^$2: //p" | head -n1
}

# Prints "package version" of the kernel image package to use for one Debian arch.
resolve() {
	local debarch=$1 abi_pkg meta
	if [ -n "$KERNEL_ABI" ]; then
		abi_pkg="linux-image-$KERNEL_ABI-$KERNEL_FLAVOUR$debarch"
	else
		meta="linux-image-${KERNEL_SERIES:+$KERNEL_SERIES-}$KERNEL_FLAVOUR$debarch"
		# The metapackage depends on exactly one ABI package: "linux-image-<abi>-<arch> (= v)".
		abi_pkg=$(field "$meta:$debarch" Depends | tr ',' '\n' |
			sed -n 's/^ *\(linux-image-[^ :]*\).*/\1/p' | head -n1)
		[ -n "$abi_pkg" ] || die "cannot resolve $meta:$debarch"
	fi
	# Prefer the unsigned image (the same kernel build without the secure-boot signature).
	local pkg
	for pkg in "$abi_pkg-unsigned" "$abi_pkg"; do
		local v
		v=$(field "$pkg:$debarch" Version)
		if [ -n "$v" ]; then
			echo "$pkg $v"
			return
		fi
	done
	die "no package $abi_pkg(-unsigned):$debarch in the archive"
}

declare -A debarch_of=([x86]=amd64 [arm64]=arm64)
summary=()
for arch in "${arches[@]}"; do
	debarch=${debarch_of[$arch]}
	read -r pkg version < <(resolve "$debarch") || die "$arch: no kernel package resolved"
	log "$arch: $pkg:$debarch $version"
	d="$work/$arch"
	mkdir -p "$d"
	(cd "$d" && apt-get "${apt_opts[@]}" -qq download "$pkg:$debarch") ||
		die "apt-get download $pkg:$debarch failed"
	deb=$(ls "$d"/*.deb)
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$d" --wildcards './boot/vmlinuz-*'
	vmlinuz=$(ls "$d"/boot/vmlinuz-*)

	python3 - "$vmlinuz" "$d/vmlinux.btf" <<'PY'
# Finds the kernel's raw .BTF blob inside a Debian vmlinuz and writes it out.
import bz2, gzip, lzma, shutil, struct, subprocess, sys, zlib

src, dst = sys.argv[1], sys.argv[2]
data = open(src, "rb").read()

def run(cmd, blob):
    if not shutil.which(cmd[0]):
        sys.exit(f"gen-vmlinux: '{cmd[0]}' is needed to decompress {src}")
    # Trailing bytes after the stream (bzImage appends the size) only cause a warning.
    p = subprocess.run(cmd, input=blob, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if not p.stdout:
        sys.exit(f"gen-vmlinux: {cmd[0]} failed: {p.stderr.decode(errors='replace')}")
    return p.stdout

def decompress(blob):
    """Decompresses a kernel payload by its magic; returns None if it is not compressed."""
    if blob[:2] == b"\x1f\x8b":
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(blob)
    if blob[:6] == b"\xfd7zXZ\x00":
        return lzma.LZMADecompressor(lzma.FORMAT_XZ).decompress(blob)
    if blob[:3] == b"\x5d\x00\x00":
        return lzma.LZMADecompressor(lzma.FORMAT_ALONE).decompress(blob)
    if blob[:3] == b"BZh":
        return bz2.BZ2Decompressor().decompress(blob)
    if blob[:4] == b"\x28\xb5\x2f\xfd":
        return run(["zstd", "-d", "-q", "-c"], blob)
    if blob[:4] == b"\x02\x21\x4c\x18":
        return run(["lz4", "-d", "-q", "-c"], blob)
    return None

def kernel_image(blob):
    if blob[0x202:0x206] == b"HdrS":  # x86 bzImage: compressed vmlinux after the setup code
        setup_sects = blob[0x1F1] or 4
        off, size = struct.unpack_from("<II", blob, 0x248)
        start = (setup_sects + 1) * 512 + off
        out = decompress(blob[start:start + size])
        if out is None:
            sys.exit(f"gen-vmlinux: unknown bzImage payload compression in {src}")
        return out
    if blob[:2] == b"MZ" and blob[4:8] == b"zimg":  # EFI zboot (arm64 CONFIG_EFI_ZBOOT)
        off, size = struct.unpack_from("<II", blob, 8)
        out = decompress(blob[off:off + size])
        if out is None:
            sys.exit(f"gen-vmlinux: unknown zboot payload compression in {src}")
        return out
    out = decompress(blob)  # e.g. Debian's gzip-compressed arm64 Image.gz
    return blob if out is None else out

img = kernel_image(data)

# struct btf_header { u16 magic; u8 version; u8 flags; u32 hdr_len;
#                     u32 type_off; u32 type_len; u32 str_off; u32 str_len; }
best = None
pos = img.find(b"\x9f\xeb\x01\x00")
while pos >= 0:
    if pos + 24 <= len(img):
        hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from("<5I", img, pos + 4)
        size = hdr_len + max(type_off + type_len, str_off + str_len)
        s = pos + hdr_len + str_off
        if (24 <= hdr_len <= 256 and type_len > 0 and str_len > 0
                and type_off + type_len <= str_off and pos + size <= len(img)
                and img[s] == 0 and img[s + str_len - 1] == 0
                and (best is None or size > best[1])):
            best = (pos, size)
    pos = img.find(b"\x9f\xeb\x01\x00", pos + 1)
if best is None:
    sys.exit(f"gen-vmlinux: no BTF found in {src} (kernel built without CONFIG_DEBUG_INFO_BTF?)")
pos, size = best
with open(dst, "wb") as f:
    f.write(img[pos:pos + size])
print(f"gen-vmlinux: BTF blob of {size} bytes at offset {pos:#x} of the "
      f"{len(img)}-byte kernel image", file=sys.stderr)
PY

	"$BPFTOOL" btf dump file "$d/vmlinux.btf" format c >"$d/vmlinux.h"
	for t in 'struct task_struct {' 'struct linux_binprm {' 'struct cgroup {' 'struct sock {' \
		'struct pt_regs {'; do
		grep -qF "$t" "$d/vmlinux.h" || die "$arch: '$t' missing from the dump"
	done
	mkdir -p "$here/$arch"
	mv "$d/vmlinux.h" "$here/$arch/vmlinux.h"
	log "$arch: wrote $here/$arch/vmlinux.h ($(wc -c <"$here/$arch/vmlinux.h") bytes)"
	summary+=("| \`$arch/vmlinux.h\` | \`$pkg:$debarch\` | \`$version\` | \`$(basename "$vmlinuz")\` |")
	rm -rf "$d"
done

# Rewrite the provenance table in README.md (rows of architectures not regenerated are kept).
bpftool_version="$("$BPFTOOL" version | awk 'NR == 1 { print $NF }') (libbpf $("$BPFTOOL" version | sed -n 's/^using libbpf //p'))"
readme="$here/README.md"
if [ -f "$readme" ] && grep -q '^<!-- gen-vmlinux:begin' "$readme"; then
	python3 - "$readme" "$bpftool_version" "${summary[@]}" <<'PY2'
import re, sys
path, tool, rows = sys.argv[1], sys.argv[2], sys.argv[3:]
text = open(path).read()
begin = text.index("<!-- gen-vmlinux:begin")
begin = text.index("\n", begin) + 1
end = text.index("<!-- gen-vmlinux:end")
old = {m.group(1): m.group(0) for m in re.finditer(r"^\| `(\w+)/vmlinux\.h` \|.*$", text[begin:end], re.M)}
for r in rows:
    old[re.match(r"\| `(\w+)/", r).group(1)] = r
table = ["| header | package | version | kernel image |", "| --- | --- | --- | --- |"]
table += [old[a] for a in ("x86", "arm64") if a in old]
block = "\n".join(table) + f"\n\nDumped with bpftool {tool}.\n"
open(path, "w").write(text[:begin] + block + text[end:])
PY2
fi
log "bpftool: $bpftool_version"
printf '%s\n' "${summary[@]}"
