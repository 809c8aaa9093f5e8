#!/usr/bin/python3
"""The tables of KERNELS.md from a kernel-matrix run: one row per kernel (checks), one row per BPF
program (the probe's verdict on each kernel), the reasons as footnotes.

  report.py --results DIR --seconds TOTAL ID...

Each DIR/ID holds console.log (the guest's serial console, or the native run's output), package
and seconds. Exits 1 when a check failed, a guest did not finish, or a collector cannot run.
"""
import argparse
import os
import re
import sys
import time

CHECKS = ["exec", "oom", "cri", "dns", "netns", "tcp", "stop"]
COLLECTOR = re.compile(r"^(\w+) -> (\S+): (runs|runs, without (.*)|cannot run \((.*)\))$")
PROGRAM = re.compile(r"^  (attached|missing|failed|spare) +(\S+) +(\S+) +(.*)$")
SOURCE = re.compile(r"^  (open|failed) +(rtnetlink.*?\)) +(\S+)$")
WHY = re.compile(r"^ {11}why: (.*)$")


def read(path, default=""):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return default


class Run:
    def __init__(self, d, rid):
        self.id = rid
        self.package = read(os.path.join(d, "package")).strip()
        secs = read(os.path.join(d, "seconds")).strip()
        self.seconds = int(secs) if secs.isdigit() else None
        text = read(os.path.join(d, "console.log")).replace("\r", "")
        lines = text.split("\n")
        self.kernel = self.machine = "?"
        self.checks = {}
        self.done = "KM done" in lines
        self.timeout = any(l.startswith("KM timeout") for l in lines)
        self.probe_exit = None
        self.started = None
        self.collectors = {}  # name -> (verdict text, missing kinds or blocker)
        self.programs = {}    # (collector, program) -> (verdict, section, why)
        in_probe = False
        collector = None
        last = None
        for line in lines:
            if line == "KM-PROBE-BEGIN":
                in_probe = True
                continue
            if line == "KM-PROBE-END":
                in_probe = False
                continue
            if in_probe:
                m = COLLECTOR.match(line)
                if m:
                    collector = m.group(1)
                    if m.group(3) == "runs":
                        self.collectors[collector] = ("runs", "")
                    elif m.group(4) is not None:
                        self.collectors[collector] = ("runs", m.group(4))
                    else:
                        self.collectors[collector] = ("cannot run", m.group(5))
                    continue
                m = PROGRAM.match(line)
                if m and collector:
                    last = (collector, m.group(2))
                    self.programs[last] = [m.group(1), m.group(3), ""]
                    continue
                m = SOURCE.match(line)
                if m and collector:
                    last = (collector, "(user space) rtnetlink")
                    self.programs[last] = ["attached" if m.group(1) == "open" else "failed",
                                           "NETLINK_LISTEN_ALL_NSID", ""]
                    continue
                m = WHY.match(line)
                if m and last:
                    self.programs[last][2] = m.group(1)
                continue
            parts = line.split(" ", 3)
            if line.startswith("KM guest "):
                self.kernel, self.machine = parts[2], parts[3].split(" ")[0]
            elif line.startswith("KM probe exit "):
                self.probe_exit = int(line.rsplit(" ", 1)[1])
            elif line.startswith("KM started in "):
                self.started = line.split(" ")[3]
            elif line.startswith("KM check ") and len(parts) >= 4:
                name, rest = parts[2], parts[3]
                status, _, detail = rest.partition(" ")
                self.checks[name] = (status, detail)

    def failed(self):
        return (not self.done or self.timeout or self.probe_exit != 0 or
                any(s == "FAIL" for s, _ in self.checks.values()) or
                any(v == "cannot run" for v, _ in self.collectors.values()))


def short_version(run):
    """5.10.262 from the package "linux-image-5.10.0-46-cloud-amd64 5.10.262-1", else the
    release as the kernel names itself (this machine's)."""
    parts = run.package.split()
    if len(parts) == 2 and parts[0].startswith("linux-image-"):
        return parts[1].split("-")[0].split("~")[0]
    return run.kernel.split("-")[0]


def arch_of(run):
    return {"x86_64": "x86_64", "aarch64": "arm64"}.get(run.machine, run.id.rsplit("-", 1)[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--seconds", type=int, required=True)
    ap.add_argument("ids", nargs="+")
    a = ap.parse_args()
    runs = [Run(os.path.join(a.results, i), i) for i in a.ids]
    out = []
    out.append("| kernel | arch | Debian package | collectors | not on this kernel | " +
               " | ".join(CHECKS) + " | time |")
    out.append("|---" * (6 + len(CHECKS)) + "|")
    for r in runs:
        if not r.collectors:
            probe = "no probe output" + (" (timeout)" if r.timeout else "")
        else:
            cannot = [c for c, (v, _) in r.collectors.items() if v == "cannot run"]
            probe = ("all %d run" % len(r.collectors) if not cannot else
                     "%s cannot run" % ", ".join(cannot))
        lacks = "; ".join("%s: %s" % (c, w) for c, (v, w) in r.collectors.items()
                          if v == "runs" and w) or "—"
        cells = []
        for c in CHECKS:
            s, _ = r.checks.get(c, ("—", ""))
            cells.append({"ok": "ok", "FAIL": "**FAIL**", "skip": "skip"}.get(s, s))
        t = "%d:%02d" % divmod(r.seconds, 60) if r.seconds is not None else "?"
        pkg = r.package.replace(" ", " ")
        out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            r.kernel, arch_of(r), pkg, probe, lacks, " | ".join(cells), t))
    out.append("")
    out.append("Run of %s: %d:%02d (min:s) in all; guests booted under qemu TCG (no KVM), "
               "2 at a time; times are per guest, boot to power-off." %
               (time.strftime("%Y-%m-%d"), *divmod(a.seconds, 60)))
    out.append("")

    # Per program: the probe's verdict on every kernel.
    keys = []
    for r in runs:
        for k in r.programs:
            if k not in keys:
                keys.append(k)
    notes = {}
    header = "| collector | program | hook | " + " | ".join(
        "%s %s" % (short_version(r), arch_of(r)) for r in runs) + " |"
    out.append(header)
    out.append("|---" * (3 + len(runs)) + "|")
    for k in keys:
        section = next((r.programs[k][1] for r in runs if k in r.programs), "?")
        cells = []
        for r in runs:
            v = r.programs.get(k)
            if not v:
                cells.append("—")
            elif v[0] == "attached":
                cells.append("attached")
            elif v[0] == "spare":
                cells.append("spare")
            else:
                n = notes.setdefault(v[2], len(notes) + 1)
                cells.append("%s [%d]" % ("**failed**" if v[0] == "failed" else "missing", n))
        out.append("| %s | %s | `%s` | %s |" % (k[0], k[1], section, " | ".join(cells)))
    out.append("")
    for why, n in sorted(notes.items(), key=lambda x: x[1]):
        out.append("[%d] %s" % (n, why))
    out.append("")
    # Detail of every check that did not pass.
    for r in runs:
        for c in CHECKS:
            s, d = r.checks.get(c, (None, ""))
            if s in ("FAIL", "skip"):
                out.append("- %s %s, %s: %s %s" % (r.kernel, arch_of(r), c, s, d))
        if not r.done:
            out.append("- %s: the run did not finish%s" % (
                r.id, " (timeout)" if r.timeout else ""))
    print("\n".join(out))
    return 1 if any(r.failed() for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
