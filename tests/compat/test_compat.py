#!/usr/bin/python3
"""compat.py must fail on real incompatibilities: each change below, made to a copy of the schema
tree, is rejected by the judges named (python3-avro, java, data, contract), for every topic that
has a baseline; the tree as it is passes; a new topic passes; a removed topic fails.

Usage: test_compat.py [--java-classes DIR --java-classpath CP] SCHEMA_DIR"""
import json
import os
import shutil
import sys
import tempfile

import compat


def top_field(schema, name):
    return next(f for f in schema["fields"] if f["name"] == name)


def rename_field(schema):
    # "node" has no default: neither side can fill it in for the other.
    top_field(schema, "node")["name"] = "node_name"


def retype_field(schema):
    top_field(schema, "seq")["type"] = "string"


def add_field_without_default(schema):
    schema["fields"].append({"name": "extra", "type": "long"})


def remove_symbol(schema):
    # Avro lets a reader with an enum default drop a symbol; Tapio's contract does not.
    top_field(schema, "kind")["type"]["symbols"].remove("LOSS")


def reorder_symbols(schema):
    symbols = top_field(schema, "kind")["type"]["symbols"]
    symbols[1], symbols[2] = symbols[2], symbols[1]


def remove_field_with_default(schema):
    # Avro-compatible both ways (defaults fill it in), but a field consumers rely on is gone.
    schema["fields"].remove(top_field(schema, "pod_uid"))


def drop_kind_default(schema):
    top_field(schema, "kind")["type"].pop("default")


def add_symbol_without_default(schema):
    # A new symbol in an enum whose readers have no default (the baseline's neither).
    drop_kind_default(schema)
    top_field(schema, "kind")["type"]["symbols"].append("NEW_KIND")


def bad_default(schema):
    top_field(schema, "run")["default"] = "zero"


# (name, change to each current schema, change to each baseline, judges that must say so)
MUTATIONS = [
    ("renamed field", rename_field, None, {"python3-avro", "java", "contract"}),
    ("retyped field", retype_field, None, {"python3-avro", "java", "data"}),
    ("field without default", add_field_without_default, None, {"python3-avro", "java", "data"}),
    ("enum symbol removed", remove_symbol, None, {"contract"}),
    ("enum symbols reordered", reorder_symbols, None, {"contract"}),
    ("field with default removed", remove_field_with_default, None, {"contract"}),
    ("symbol added, no enum default", add_symbol_without_default, drop_kind_default,
     {"python3-avro", "java"}),
    ("default of the wrong type", bad_default, None, {"data"}),
]


def copy_tree(schema_dir):
    tmp = tempfile.mkdtemp(prefix="tapio-compat-test-")
    shutil.copytree(schema_dir, os.path.join(tmp, "schemas"))
    return tmp, os.path.join(tmp, "schemas")


def edit(path, change):
    with open(path) as f:
        schema = json.load(f)
    change(schema)
    with open(path, "w") as f:
        json.dump(schema, f, indent=2)


def judges_of(problems):
    """{topic: set of judges} from check_tree's problems ("<topic> <judge>", text)."""
    out = {}
    for who, _ in problems:
        topic, _, judge = who.partition(" ")
        out.setdefault(topic, set()).add(judge)
    return out


def main(argv):
    args, java = argv[1:], None
    if len(args) == 5 and args[0] == "--java-classes" and args[2] == "--java-classpath":
        java, args = compat.Java(args[1], args[3]), args[4:]
    if len(args) != 1 or args[0].startswith("-"):
        print(__doc__.rsplit("\n\n", 1)[-1], file=sys.stderr)
        return 2
    schema_dir = args[0]
    releases = os.listdir(os.path.join(schema_dir, "released"))
    topics = sorted(p[:-5] for p in os.listdir(schema_dir) if p.endswith(".avsc") and any(
        os.path.exists(os.path.join(schema_dir, "released", r, p)) for r in releases))
    failures, tmps, trees = [], [], [schema_dir]

    def expect(cond, what):
        print("%s %s" % ("PASS" if cond else "FAIL", what), flush=True)
        if not cond:
            failures.append(what)

    try:
        # Every tree is judged in one batch: one JVM for all.
        for _, current, baseline, _ in MUTATIONS:
            tmp, tree = copy_tree(schema_dir)
            tmps.append(tmp)
            trees.append(tree)
            for topic in topics:
                edit(os.path.join(tree, topic + ".avsc"), current)
                for r in releases if baseline else []:
                    path = os.path.join(tree, "released", r, topic + ".avsc")
                    if os.path.exists(path):
                        edit(path, baseline)
        # A topic new since the last release has nothing to check; one removed fails.
        for _ in range(2):
            tmp, tree = copy_tree(schema_dir)
            tmps.append(tmp)
            trees.append(tree)
        with open(os.path.join(trees[-2], topics[0] + ".avsc")) as f:
            schema = json.load(f)
        schema["name"] = "BrandNew"
        with open(os.path.join(trees[-2], "brandnew.avsc"), "w") as f:
            json.dump(schema, f)
        os.remove(os.path.join(trees[-1], topics[0] + ".avsc"))

        results = compat.check_trees(trees, java)
        _, problems = results[0]
        expect(not problems, "the tree as it is: compatible %s" % (problems or ""))
        for (name, _, _, judges), (_, problems) in zip(MUTATIONS, results[1:]):
            judges = judges if java else judges - {"java"}
            found = judges_of(problems)
            for topic in topics:
                expect(judges <= found.get(topic, set()),
                       "%s in %s: rejected by %s (judges who did: %s)" % (
                           name, topic, ", ".join(sorted(judges)),
                           ", ".join(sorted(found.get(topic, [])))))
        lines, problems = results[-2]
        expect(not problems and any(l.startswith("brandnew: new since ") and "nothing to check"
                                    in l for l in lines), "a new topic: nothing to check")
        _, problems = results[-1]
        expect(any("a topic was removed" in text for _, text in problems), "a removed topic fails")
    finally:
        for tmp in tmps:
            shutil.rmtree(tmp)
    print("test_compat: %d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
