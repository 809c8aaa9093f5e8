#!/usr/bin/python3
"""Schema compatibility held by tests: every current schema (schemas/<topic>.avsc) against every
released baseline (schemas/released/<version>/<topic>.avsc), for FULL compatibility: readers of
the baseline read data written with the current schema, and readers of the current schema read
data written with the baseline.

Judges, each independent of Tapio's C code:
  python3-avro  avro.compatibility (Debian's python3-avro), both directions;
  java          Avro's SchemaCompatibility (Debian's libavro-java, tests/compat/CompatCheck.java),
                both directions. Avro before 1.9 (Debian's is 1.8.2) ignores enum defaults, so
                for old readers reading new data it judges the old reader with the writer's new
                symbols added to each enum that has a default: what a 1.9+ reader does;
  data          a datum written with one schema is read with the other, by python3-avro and Java;
  contract      Tapio's own rules on top of Avro's: no field of a baseline record disappears
                (removed or renamed), and enum symbols keep their positions (new ones are
                appended: avro-c passes enum indexes through unresolved).
And what the README says of reader versions, verified: a datum carrying a symbol the old reader
lacks fails in python3-avro and in Java 1.8.2 when read with the old schema (neither applies the
reader's enum default), and reads with the writer's schema.

A current schema without a baseline (a topic new since that release) has nothing to check; a
baseline without a current schema (a topic removed) is a failure.

Usage: compat.py [--java-classes DIR --java-classpath CP] SCHEMA_DIR
Exit status 0 when everything holds, 1 otherwise (every problem printed), 2 on a usage error.
"""
import copy
import glob
import io
import json
import os
import re
import subprocess
import sys
import tempfile

import avro
import avro.compatibility
import avro.errors
import avro.io
import avro.schema

EPOCH_MICROS = "timestamp-micros"


def version_key(v):
    return [int(p) if p.isdigit() else p for p in re.split(r"[.+-]", v)]


def load(path):
    with open(path) as f:
        text = f.read()
    return json.loads(text), avro.schema.parse(text)


def named_types(node, ns="", out=None):
    """fullname -> JSON object of every named type (record, enum, fixed) defined in a schema's
    JSON, by the Avro specification's rules for names and namespaces."""
    out = {} if out is None else out
    if isinstance(node, list):
        for branch in node:
            named_types(branch, ns, out)
        return out
    if not isinstance(node, dict):
        return out
    t = node.get("type")
    if t in ("record", "error", "enum", "fixed"):
        name = node["name"]
        if "." in name:
            full, own_ns = name, name.rsplit(".", 1)[0]
        else:
            own_ns = node.get("namespace", ns) or ""
            full = own_ns + "." + name if own_ns else name
        out[full] = node
        for f in node.get("fields", []) if t != "enum" else []:
            named_types(f["type"], own_ns, out)
    elif t == "array":
        named_types(node["items"], ns, out)
    elif t == "map":
        named_types(node["values"], ns, out)
    elif isinstance(t, (dict, list)):
        named_types(t, ns, out)
    return out


def walk(schema, out=None):
    """fullname -> python3-avro schema of every named type reachable from `schema`."""
    out = {} if out is None else out
    t = schema.type
    if t in ("record", "error", "enum", "fixed"):
        if schema.fullname in out:
            return out
        out[schema.fullname] = schema
        for f in getattr(schema, "fields", []) if t != "enum" else []:
            walk(f.type, out)
    elif t == "union":
        for b in schema.schemas:
            walk(b, out)
    elif t == "array":
        walk(schema.items, out)
    elif t == "map":
        walk(schema.values, out)
    return out


def added_symbols(reader, writer):
    """{enum fullname: [symbols the writer has and the reader lacks]}."""
    r, w = walk(reader), walk(writer)
    return {n: [s for s in e.symbols if s not in r[n].symbols]
            for n, e in w.items() if e.type == "enum" and n in r and r[n].type == "enum"
            and any(s not in r[n].symbols for s in e.symbols)}


def with_enum_defaults_applied(reader_json, writer_json):
    """The reader's JSON with, in each enum that has a default, the writer's symbols it lacks
    appended: how a reader that honours enum defaults (Avro 1.9+) reads such a writer's data."""
    r = copy.deepcopy(reader_json)
    w = named_types(writer_json)
    for name, enum in named_types(r).items():
        if enum.get("type") == "enum" and "default" in enum and \
                w.get(name, {}).get("type") == "enum":
            enum["symbols"] += [s for s in w[name]["symbols"] if s not in enum["symbols"]]
    return r


def contract(old, new):
    """Tapio's rules beyond Avro's: fields are never removed or renamed, enum symbols never move."""
    problems = []
    o, n = walk(old), walk(new)
    for name, t in o.items():
        if name not in n:
            problems.append("type %s is gone" % name)
        elif t.type in ("record", "error"):
            gone = [f.name for f in t.fields if f.name not in n[name].fields_dict]
            if gone:
                problems.append("%s lost field(s) %s (removed or renamed)"
                                % (name, ", ".join(gone)))
        elif t.type == "enum" and list(n[name].symbols[:len(t.symbols)]) != list(t.symbols):
            problems.append("%s symbols %s no longer start with %s (symbols only get appended)"
                            % (name, list(n[name].symbols), list(t.symbols)))
    return problems


def python_verdict(reader, writer):
    r = avro.compatibility.ReaderWriterCompatibilityChecker().get_compatibility(reader, writer)
    if r.compatibility is avro.compatibility.SchemaCompatibilityType.compatible:
        return None
    return "; ".join(sorted("%s at %s" % (m, l) for m, l in zip(sorted(r.messages),
                                                                sorted(r.locations))))


def zero(schema, target=None, symbol=None):
    """A datum of `schema`: every value at its zero (first union branch, first symbol, 0, "",
    empty); with target, enum `target` (a fullname) set to `symbol`, union branches chosen to
    reach it."""
    t = schema.type
    if t in ("record", "error"):
        return {f.name: zero(f.type, target, symbol) for f in schema.fields}
    if t == "union":
        pick = schema.schemas[0]
        if target:
            pick = next((b for b in schema.schemas if target in walk(b)), pick)
        return zero(pick, target, symbol)
    if t == "enum":
        return symbol if schema.fullname == target else schema.symbols[0]
    if t == "array":
        reach = target and target in walk(schema.items)
        return [zero(schema.items, target, symbol)] if reach else []
    if t == "map":
        reach = target and target in walk(schema.values)
        return {"k": zero(schema.values, target, symbol)} if reach else {}
    if t == "fixed":
        return b"\0" * schema.size
    if getattr(schema, "logical_type", None) in (EPOCH_MICROS, "timestamp-millis"):
        import datetime
        return datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return {"null": None, "boolean": False, "int": 0, "long": 0, "float": 0.0, "double": 0.0,
            "string": "", "bytes": b""}[t]


def encode(schema, datum):
    buf = io.BytesIO()
    avro.io.DatumWriter(schema).write(datum, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def python_read(writer, reader, data):
    """None when python3-avro reads data (written with writer) as reader, else why not."""
    try:
        buf = io.BytesIO(data)
        avro.io.DatumReader(writer, reader).read(avro.io.BinaryDecoder(buf))
        return None if buf.tell() == len(data) else "bytes left after the datum"
    except Exception as e:  # any failure of the library is the verdict
        return "%s: %s" % (type(e).__name__, str(e).splitlines()[0])


class Java:
    """Batches tasks for CompatCheck: one JVM for the whole run."""

    def __init__(self, classes, classpath):
        self.cmd = ["java", "-cp", classes + ":" + classpath, "CompatCheck"]
        self.tasks, self.results, self.version = [], None, None

    def add(self, *task):
        self.tasks.append("\t".join(task))
        return len(self.tasks) - 1

    def run(self):
        out = subprocess.run(self.cmd, input="\n".join(self.tasks) + "\n", capture_output=True,
                             text=True, timeout=300)
        lines = out.stdout.splitlines()
        if out.returncode or len(lines) != len(self.tasks) + 1:
            raise RuntimeError("CompatCheck failed (%d): %s" % (out.returncode, out.stderr[-2000:]))
        self.version, self.results = lines[0], lines[1:]

    def result(self, i):
        return self.results[i]


class Pair:
    """One current schema against one baseline, and what each judge said."""

    def __init__(self, topic, release, old_path, new_path):
        self.topic, self.release = topic, release
        self.old_json, self.old = load(old_path)
        self.new_json, self.new = load(new_path)
        self.old_path, self.new_path = old_path, new_path
        self.added = added_symbols(self.old, self.new)
        self.problems = []   # (judge, text)
        self.notes = []

    def fail(self, judge, text):
        self.problems.append((judge, text))

    def plan(self, java, tmp):
        """The python3-avro, contract and data checks now; Java's tasks queued for later."""
        for direction, reader, writer in (("new readers read old data", self.new, self.old),
                                          ("old readers read new data", self.old, self.new)):
            why = python_verdict(reader, writer)
            if why:
                self.fail("python3-avro", "%s: %s" % (direction, why))
        for p in contract(self.old, self.new):
            self.fail("contract", p)
        base = os.path.join(tmp, "%s-%s" % (self.topic, self.release))
        applied = base + "-old-with-enum-defaults.avsc"
        with open(applied, "w") as f:
            json.dump(with_enum_defaults_applied(self.old_json, self.new_json), f)
        self.data = []  # (label, writer, reader, path, expect_ok)
        for label, w, r, wp, rp in (("old data, new reader", self.old, self.new, self.old_path,
                                     self.new_path),
                                    ("new data, old reader", self.new, self.old, self.new_path,
                                     self.old_path)):
            path = "%s-%s.bin" % (base, label.replace(" ", "-").replace(",", ""))
            try:
                data = encode(w, zero(w))
            except Exception as e:
                self.fail("data", "%s: cannot write a datum: %s" % (label, e))
                continue
            with open(path, "wb") as f:
                f.write(data)
            why = python_read(w, r, data)
            if why:
                self.fail("data", "%s: python3-avro: %s" % (label, why))
            self.data.append((label, wp, rp, path, True))
        # A symbol the old reader lacks: readers that ignore enum defaults fail; the writer's
        # schema reads it.
        self.symbol_checks = []
        for enum, symbols in sorted(self.added.items()):
            path = "%s-%s-%s.bin" % (base, enum, symbols[0])
            data = encode(self.new, zero(self.new, enum, symbols[0]))
            with open(path, "wb") as f:
                f.write(data)
            old_reader = python_read(self.new, self.old, data)
            if old_reader is None:
                self.fail("readers", "python3-avro %s read %s %s with the %s reader: it honours "
                          "enum defaults now; update README's Compatibility section"
                          % (avro.__version__, enum, symbols[0], self.release))
            if python_read(self.new, self.new, data):
                self.fail("readers", "python3-avro cannot read %s %s with the writer's schema"
                          % (enum, symbols[0]))
            self.symbol_checks.append((enum, symbols[0], path, old_reader))
        if java:
            self.java_compat = (java.add("compat", self.new_path, self.old_path),
                                java.add("compat", applied, self.new_path),
                                java.add("compat", self.old_path, self.new_path))
            self.java_reads = [(label, java.add("read", wp, rp, path))
                               for label, wp, rp, path, _ in self.data]
            self.java_symbols = [(enum, sym, java.add("read", self.new_path, self.old_path, path),
                                  java.add("read", self.new_path, self.new_path, path))
                                 for enum, sym, path, _ in self.symbol_checks]
        self.java = java

    def judge_java(self):
        if not self.java:
            return
        back, forward, raw = (self.java.result(i) for i in self.java_compat)
        if back != "COMPATIBLE":
            self.fail("java", "new readers read old data: %s" % back)
        if forward != "COMPATIBLE":
            self.fail("java", "old readers (enum defaults applied) read new data: %s" % forward)
        if raw != "COMPATIBLE" and not self.added:
            self.fail("java", "old readers read new data: %s, with no enum symbol added" % raw)
        for label, i in self.java_reads:
            if not self.java.result(i).startswith("OK"):
                self.fail("data", "%s: java: %s" % (label, self.java.result(i)))
        for enum, sym, old_i, new_i in self.java_symbols:
            old, new = self.java.result(old_i), self.java.result(new_i)
            if old.startswith("OK"):
                self.fail("readers", "Java %s read %s %s with the %s reader; update README's "
                          "Compatibility section" % (self.java.version, enum, sym, self.release))
            if not new.startswith("OK"):
                self.fail("readers", "Java cannot read %s %s with the writer's schema: %s"
                          % (enum, sym, new))
            self.notes.append("  %s %s: with the %s reader, Java %s: %s; python3-avro %s: %s"
                              % (enum, sym, self.release, self.java.version.split()[-1],
                                 old.split("\t", 1)[-1][:100],
                                 avro.__version__, next(o for e, s, _, o in self.symbol_checks
                                                        if (e, s) == (enum, sym))[:100]))


class Tree:
    """A schema tree's pairs: planned (Java's tasks queued), then judged once Java has run, so
    that one JVM serves any number of trees."""

    def __init__(self, schema_dir):
        self.schema_dir = schema_dir
        self.lines, self.problems, self.pairs = [], [], []

    def plan(self, java, tmp):
        d = self.schema_dir
        current = {os.path.basename(p)[:-5]: p for p in glob.glob(os.path.join(d, "*.avsc"))}
        releases = sorted((os.path.basename(r) for r in glob.glob(os.path.join(d, "released", "*"))
                           if os.path.isdir(r)), key=version_key)
        if not releases:
            self.problems.append(("tree", "no baseline in %s/released" % d))
        tmp = tempfile.mkdtemp(dir=tmp)
        for release in releases:
            base = {os.path.basename(p)[:-5]: p
                    for p in glob.glob(os.path.join(d, "released", release, "*.avsc"))}
            for topic in sorted(set(base) - set(current)):
                self.problems.append(("%s tree" % topic, "in release %s but no current schema: "
                                      "a topic was removed" % release))
            for topic in sorted(current):
                if topic not in base:
                    self.lines.append("%s: new since %s (no baseline): nothing to check"
                                      % (topic, release))
                    continue
                try:
                    pair = Pair(topic, release, base[topic], current[topic])
                    pair.plan(java, tmp)
                except Exception as e:  # a schema python3-avro cannot parse or write
                    self.problems.append(("%s schema" % topic, "%s against %s: %s: %s" % (
                        current[topic], release, type(e).__name__, e)))
                    continue
                self.pairs.append(pair)

    def finish(self, java):
        judges = "python3-avro %s%s, data, contract" % (
            avro.__version__, ", java (%s)" % java.version if java and java.version else "")
        lines, problems = ["compat: judges: %s" % judges] + self.lines, list(self.problems)
        for pair in self.pairs:
            pair.judge_java()
            verdict = "FULL" if not pair.problems else "NOT compatible"
            lines.append("%s: %s -> current: %s" % (pair.topic, pair.release, verdict))
            if pair.added:
                lines.append("  new enum symbols (readers must apply enum defaults, or read with "
                             "the writer's schema): " + "; ".join(
                                 "%s %s" % (e, ",".join(s)) for e, s in sorted(pair.added.items())))
            lines.extend(pair.notes)
            problems.extend(("%s %s" % (pair.topic, judge), text) for judge, text in pair.problems)
        return lines, problems


def check_trees(schema_dirs, java=None):
    """[(report lines, problems)] for each schema tree; `java` a Java instance or None."""
    with tempfile.TemporaryDirectory(prefix="tapio-compat-") as tmp:
        trees = [Tree(d) for d in schema_dirs]
        for tree in trees:
            tree.plan(java, tmp)
        if java and java.tasks:
            java.run()
        return [tree.finish(java) for tree in trees]


def check_tree(schema_dir, java=None):
    return check_trees([schema_dir], java)[0]


def main(argv):
    args, java = argv[1:], None
    if len(args) == 5 and args[0] == "--java-classes" and args[2] == "--java-classpath":
        java = Java(args[1], args[3])
        args = args[4:]
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: compat.py [--java-classes DIR --java-classpath CP] SCHEMA_DIR",
              file=sys.stderr)
        return 2
    lines, problems = check_tree(args[0], java)
    for line in lines:
        print(line)
    for judge, text in problems:
        print("FAILED %s: %s" % (judge, text))
    print("compat: %s" % ("ok" if not problems else "FAILED (%d problems)" % len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
