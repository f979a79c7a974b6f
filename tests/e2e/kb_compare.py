#!/usr/bin/env python3
"""Compare a kb.db with an expected knowledge base in .kb.json form.

usage: kb_compare.py [--ignore-ts] KB_DB EXPECTED_JSON [DIFFERENCES_JSON]
       kb_compare.py --dump KB_DB

EXPECTED_JSON has the shape {"entities": [{id, type, data, ts}],
"relationships": [{id, type, src, dst, data, ts}]}. Every row must match
in type, src, dst, data and ts. Data is compared as parsed JSON, so key
order does not matter. The ts of the NIL rows (ids of 32 zeros) is left
out, because it is the time the knowledge base was created. With
--ignore-ts no ts is compared, for captures recorded again at another
time.

DIFFERENCES_JSON lists the rows where kb.db is expected to differ, each
an object {"table", "id", "field", "expected", "reason"}:
  field "data.KEY", "type", "src", "dst" or "ts": kb.db has `expected`
      there instead of the value in EXPECTED_JSON;
  field "row": kb.db has the row `expected` (an object with the row's
      fields) that EXPECTED_JSON lacks, or, when `expected` is null, lacks
      the row that EXPECTED_JSON has.
A listed difference that EXPECTED_JSON already agrees with is an error, so
the list cannot go stale. Exit status 0 when kb.db matches, 1 otherwise;
mismatches are printed to stderr.

--dump prints KB_DB in the .kb.json form, rows sorted by id, for writing
the expected knowledge base of a new capture (check it by hand).
"""

import argparse
import json
import sqlite3
import sys

NIL = "0" * 32
COLUMNS = {
    "entities": ["id", "type", "data", "ts"],
    "relationships": ["id", "type", "src", "dst", "data", "ts"],
}


def read_kb(path):
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    tables = {}
    for table, keys in COLUMNS.items():
        rows = {}
        sql = "SELECT %s FROM %s" % (", ".join(keys), table)
        for values in db.execute(sql):
            row = dict(zip(keys, values))
            if row["data"] is not None:
                row["data"] = json.loads(row["data"])
            rows[row["id"]] = row
        tables[table] = rows
    db.close()
    return tables


def apply_differences(expected, differences):
    """Applies the listed differences to the expected rows in place and
    returns the problems found in the list itself."""
    problems = []
    for diff in differences:
        table, id_, field = diff["table"], diff["id"], diff["field"]
        rows = expected[table]
        where = "%s %s %s" % (table, id_, field)
        if field == "row":
            if diff["expected"] is None:
                if rows.pop(id_, None) is None:
                    problems.append("difference %s: the expected knowledge "
                                    "base has no such row" % where)
            elif id_ in rows:
                problems.append("difference %s: the expected knowledge base "
                                "already has this row" % where)
            else:
                rows[id_] = dict(diff["expected"], id=id_)
            continue
        row = rows.get(id_)
        if row is None:
            problems.append("difference %s: the expected knowledge base has "
                            "no such row" % where)
            continue
        if field.startswith("data."):
            container, key = row["data"], field[len("data."):]
        else:
            container, key = row, field
        if container.get(key) == diff["expected"]:
            problems.append("difference %s: the expected knowledge base "
                            "already has %r" % (where, diff["expected"]))
        container[key] = diff["expected"]
    return problems


def describe(want, got):
    """Returns the fields in which two versions of a row differ."""
    if want is None or got is None:
        return "expected %s, got %s" % (want, got)
    fields = []
    for key in sorted(set(want) | set(got)):
        w, g = want.get(key), got.get(key)
        if key == "data" and isinstance(w, dict) and isinstance(g, dict):
            fields += ["data.%s: expected %r, got %r" % (k, w.get(k), g.get(k))
                       for k in sorted(set(w) | set(g)) if w.get(k) != g.get(k)
                       or (k in w) != (k in g)]
        elif w != g:
            fields.append("%s: expected %r, got %r" % (key, w, g))
    return "; ".join(fields)


def dump(tables):
    """Prints the tables in the .kb.json form."""
    out = {t: [tables[t][id_] for id_ in sorted(tables[t])] for t in COLUMNS}
    json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
    print()


def main(argv):
    parser = argparse.ArgumentParser(
        usage=__doc__.split("\n\n")[1].replace("usage: ", "", 1))
    parser.add_argument("--ignore-ts", action="store_true")
    parser.add_argument("--dump", action="store_true")
    parser.add_argument("kb_db")
    parser.add_argument("expected_json", nargs="?")
    parser.add_argument("differences_json", nargs="?")
    args = parser.parse_args(argv[1:])
    actual = read_kb(args.kb_db)
    if args.dump:
        dump(actual)
        return 0
    if args.expected_json is None:
        parser.error("EXPECTED_JSON is required")
    with open(args.expected_json, encoding="utf-8") as f:
        golden = json.load(f)
    expected = {t: {r["id"]: r for r in golden[t]} for t in COLUMNS}
    differences = []
    if args.differences_json is not None:
        with open(args.differences_json, encoding="utf-8") as f:
            differences = json.load(f)

    problems = apply_differences(expected, differences)
    for table in COLUMNS:
        want, got = expected[table], actual[table]
        for id_ in sorted(set(want) | set(got)):
            w, g = want.get(id_), got.get(id_)
            if (w is not None and g is not None and
                    (id_ == NIL or args.ignore_ts)):
                w, g = dict(w, ts=None), dict(g, ts=None)
            if w != g:
                problems.append("%s %s: %s" % (table, id_, describe(w, g)))
        print("%s: %d rows, %d expected" % (table, len(got), len(want)))
    for diff in differences:
        print("expected difference: %s %s %s: %s" % (
            diff["table"], diff["id"], diff["field"], diff["reason"]))
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
