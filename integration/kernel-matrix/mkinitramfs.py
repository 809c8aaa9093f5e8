#!/usr/bin/python3
"""Writes a newc cpio archive for a kernel-matrix guest: programs with every shared library they
load, taken from a root directory (this machine's / for x86_64, the arm64 sysroot for arm64), plus
plain files. The kernel unpacks it into its initial root file system; the guest needs nothing else.

  mkinitramfs.py --root DIR --out FILE [--elf SRC[:DEST]]... [--file SRC:DEST[:MODE]]...
                 [--dir DEST]... [--link DEST:TARGET]...

--elf SRC is a path inside --root (or an absolute host path with :DEST); its interpreter and its
DT_NEEDED libraries are found the way ld.so would (RUNPATH, then the multiarch directories) in
--root and copied at their canonical paths, so the root's merged-/usr links are not needed.
Standard library only; ELF headers are read with `readelf`, which reads any architecture.
"""
import argparse
import os
import re
import stat
import subprocess
import sys

MULTIARCH = {"x86-64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu"}


def die(msg):
    sys.exit("mkinitramfs: " + msg)


def readelf(path, flag):
    p = subprocess.run(["readelf", flag, "-W", path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        die("readelf %s %s: %s" % (flag, path, p.stderr.strip()))
    return p.stdout


class Root:
    def __init__(self, root):
        self.root = os.path.realpath(root)
        self.files = {}  # path in the archive -> (host path, mode)
        self.dirs = set()
        self.links = {}  # path in the archive -> target

    def host(self, path):
        """A path inside the root, resolved as the guest would (links stay inside the root)."""
        parts = [p for p in path.split("/") if p]
        cur = ""
        for _ in range(64):
            if not parts:
                return self.root + cur if cur else self.root
            name = parts.pop(0)
            if name == "..":
                cur = cur.rsplit("/", 1)[0]
                continue
            nxt = cur + "/" + name
            full = self.root + nxt
            if os.path.islink(full):
                target = os.readlink(full)
                base = "" if target.startswith("/") else cur
                parts = [p for p in (base + "/" + target).split("/") if p] + parts
                cur = ""
            else:
                cur = nxt
        die("too many links resolving " + path)

    def canonical(self, path):
        return self.host(path)[len(self.root):] or "/"

    def add_dir(self, dest):
        while dest not in ("", "/"):
            self.dirs.add(dest)
            dest = os.path.dirname(dest)

    def add_file(self, src, dest, mode=None):
        if not os.path.isfile(src):
            die("no file " + src)
        self.files[dest] = (src, mode if mode is not None else stat.S_IMODE(os.stat(src).st_mode))
        self.add_dir(os.path.dirname(dest))

    def find_lib(self, name, machine, runpaths, origin):
        triplet = MULTIARCH.get(machine)
        dirs = [r.replace("$ORIGIN", origin).replace("${ORIGIN}", origin) for r in runpaths]
        if triplet:
            dirs += ["/lib/" + triplet, "/usr/lib/" + triplet]
        dirs += ["/lib64", "/usr/lib64", "/lib", "/usr/lib"]
        for d in dirs:
            if os.path.isfile(self.host(d + "/" + name)):
                return d + "/" + name
        die("library %s not found in %s (needed from %s)" % (name, self.root, origin))

    def add_elf(self, src, dest, seen):
        """src: host path; dest: path in the archive. Adds its interpreter and libraries."""
        self.add_file(src, dest)
        header = readelf(src, "-h")
        m = re.search(r"Machine:\s+(.*)", header)
        machine = {"Advanced Micro Devices X86-64": "x86-64", "AArch64": "aarch64"}.get(
            m.group(1).strip() if m else "", "")
        interp = re.search(r"Requesting program interpreter: ([^\]]+)\]", readelf(src, "-l"))
        dyn = readelf(src, "-d")
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn)
        runpaths = []
        for r in re.findall(r"\((?:RUNPATH|RPATH)\)\s+Library (?:runpath|rpath): \[([^\]]+)\]",
                            dyn):
            runpaths += r.split(":")
        if interp:
            path = interp.group(1)
            if path not in seen:
                seen.add(path)
                self.add_file(self.host(path), self.canonical(os.path.dirname(path)) + "/" +
                              os.path.basename(path))
                self.add_link_chain(path)
        for name in needed:
            path = self.find_lib(name, machine, runpaths, os.path.dirname(dest))
            if path in seen:
                continue
            seen.add(path)
            # Kept under the name ld.so asks for, in the directory's canonical place.
            self.add_elf(self.host(path),
                         self.canonical(os.path.dirname(path)) + "/" + name, seen)

    def add_link_chain(self, path):
        """The links on the way to `path` (/lib64 -> usr/lib64), so the guest finds it there."""
        parts = [p for p in path.split("/") if p]
        cur = ""
        for name in parts[:-1]:
            nxt = cur + "/" + name
            if os.path.islink(self.root + nxt):
                self.links[nxt] = os.readlink(self.root + nxt)
                cur = self.canonical(nxt)
            else:
                cur = nxt

    def write(self, out):
        entries = []
        for d in sorted(self.dirs):
            if d not in self.links:
                entries.append((d, stat.S_IFDIR | 0o755, b""))
        for path, target in sorted(self.links.items()):
            entries.append((path, stat.S_IFLNK | 0o777, target.encode()))
        for path, (src, mode) in sorted(self.files.items()):
            with open(src, "rb") as f:
                entries.append((path, stat.S_IFREG | mode, f.read()))
        with open(out + ".tmp", "wb") as f:
            for ino, (path, mode, data) in enumerate(entries, 1):
                write_entry(f, ino, path.lstrip("/"), mode, data)
            write_entry(f, 0, "TRAILER!!!", 0, b"")
        os.replace(out + ".tmp", out)


def write_entry(f, ino, name, mode, data):
    name_b = name.encode() + b"\0"
    hdr = "070701" + "".join("%08X" % v for v in (
        ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name_b), 0))
    f.write(hdr.encode() + name_b)
    f.write(b"\0" * ((4 - (110 + len(name_b)) % 4) % 4))
    f.write(data)
    f.write(b"\0" * ((4 - len(data) % 4) % 4))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--elf", action="append", default=[])
    ap.add_argument("--file", action="append", default=[])
    ap.add_argument("--dir", action="append", default=[])
    ap.add_argument("--link", action="append", default=[])
    a = ap.parse_args()
    r = Root(a.root)
    seen = set()
    for spec in a.elf:
        src, _, dest = spec.partition(":")
        if not dest:
            dest, src = r.canonical(src), r.host(src)
        r.add_elf(src, dest, seen)
    for spec in a.file:
        parts = spec.split(":")
        if len(parts) < 2:
            die("--file SRC:DEST[:MODE], not " + spec)
        r.add_file(parts[0], parts[1], int(parts[2], 8) if len(parts) > 2 else None)
    for d in a.dir:
        r.add_dir(d)
    for spec in a.link:
        dest, _, target = spec.partition(":")
        dest = "/" + dest.lstrip("/")
        r.links[dest] = target
        r.add_dir(os.path.dirname(dest))
    r.write(a.out)


if __name__ == "__main__":
    main()
