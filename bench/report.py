#!/usr/bin/env python3
"""Turns the raw results of bench/run.sh into Markdown tables and writes
them into BENCHMARKS.md between the two marker lines (or prints them).

Every figure is a median over the repetitions. A ratio is computed within
each repetition (the contenders take turns, so they share the machine's
state) and the median of those ratios is shown.

Usage: report.py RESULTS_DIR BENCHMARKS.md|-
"""

import csv
import os
import statistics
import sys

BEGIN = "<!-- bench/run.sh results: begin -->"
END = "<!-- bench/run.sh results: end -->"

CONTENDERS = ["direct", "mitmdump", "mitmdump-record", "strat-record",
              "strat-norecord"]

CASE_TITLES = {
    "https-page-c50": "HTTPS keep-alive, 60 KB page, concurrency 50",
    "https-page-c1": "HTTPS keep-alive, 60 KB page, concurrency 1",
    "http-page-c50": "HTTP keep-alive, 60 KB page, concurrency 50",
    "https-json-c50": "HTTPS keep-alive, 1 KB JSON, concurrency 50",
    "https-blob-c50": "HTTPS keep-alive, 1 MiB binary, concurrency 50",
    "tls-new-same-host": "new TLS connection per request, one hostname",
    "tls-new-fresh-host": "new TLS connection per request, a new hostname "
                          "each time",
    "idle-https-1000": "1000 idle keep-alive HTTPS connections",
    "idle-http-1000": "1000 idle keep-alive HTTP connections",
}


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, digits=1, suffix=""):
    if value is None:
        return "n/a"
    return ("%%.%df%%s" % digits) % (value, suffix)


def load_proxy(path):
    """Returns {case: {contender: {rep: row}}} with numeric fields."""
    data = {}
    if not os.path.exists(path):
        return data
    with open(path) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            for key in ("rps", "p50_ms", "p99_ms", "ok", "errors",
                        "cpu_ms_per_req", "hwm_kb", "rss_kb", "sent",
                        "recorded"):
                row[key] = number(row.get(key))
            data.setdefault(row["case"], {}).setdefault(
                row["contender"], {})[row["rep"]] = row
    return data


def ratio_median(case_data, contender, other, key, invert=False):
    """Median over repetitions of contender's key divided by other's."""
    ratios = []
    for rep, row in case_data.get(contender, {}).items():
        base = case_data.get(other, {}).get(rep)
        if base is None or row[key] is None or not base[key]:
            continue
        ratios.append(base[key] / row[key] if invert else row[key] / base[key])
    return median(ratios)


def stat(case_data, contender, key):
    return median([row[key] for row in case_data.get(contender, {}).values()])


def proxy_table(case, case_data):
    lines = ["### %s (`%s`)" % (CASE_TITLES.get(case, case), case), ""]
    if case.startswith("idle-"):
        lines += ["| contender | connections held | failed | RSS with "
                  "them idle | peak RSS |", "|---|---:|---:|---:|---:|"]
        for c in CONTENDERS:
            if c not in case_data:
                continue
            lines.append("| %s | %s | %s | %s | %s |" % (
                c, fmt(stat(case_data, c, "ok"), 0),
                fmt(stat(case_data, c, "errors"), 0),
                fmt(kb_to_mb(stat(case_data, c, "rss_kb")), 1, " MB"),
                fmt(kb_to_mb(stat(case_data, c, "hwm_kb")), 1, " MB")))
        return lines + [""]
    lines += ["| contender | req/s | vs direct | vs mitmdump | p50 | p99 | "
              "errors | proxy CPU per request | vs mitmdump | peak RSS | "
              "flows recorded |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in CONTENDERS:
        if c not in case_data:
            continue
        errors = sum(row["errors"] or 0 for row in case_data[c].values())
        recorded = median([row["recorded"] / row["sent"]
                           for row in case_data[c].values()
                           if row["recorded"] is not None and row["sent"]])
        lines.append("| %s | %s | %s | %s | %s | %s | %d | %s | %s | %s | %s "
                     "|" % (
            c, fmt(stat(case_data, c, "rps"), 0),
            fmt(ratio_median(case_data, c, "direct", "rps"), 2, "×"),
            fmt(ratio_median(case_data, c, "mitmdump", "rps"), 2, "×"),
            fmt(stat(case_data, c, "p50_ms"), 2, " ms"),
            fmt(stat(case_data, c, "p99_ms"), 2, " ms"),
            errors,
            fmt(stat(case_data, c, "cpu_ms_per_req"), 3, " ms"),
            fmt(ratio_median(case_data, c, "mitmdump", "cpu_ms_per_req"), 3,
                "×"),
            fmt(kb_to_mb(stat(case_data, c, "hwm_kb")), 1, " MB"),
            "" if recorded is None else fmt(recorded * 100, 1, "%")))
    return lines + [""]


def kb_to_mb(kb):
    return None if kb is None else kb / 1024.0


def load_pipeline(path):
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            for row in csv.DictReader(f, delimiter="\t"):
                row["seconds"] = number(row["seconds"])
                row["processing"] = number(row.get("processing"))
                rows.append(row)
    return rows


def pipeline_summary(rows):
    """Returns {input: {"flows": n, (impl, key): median seconds}} in input
    order, with key "seconds" (whole command) or "processing"."""
    out = {}
    for row in rows:
        entry = out.setdefault(row["input"], {"flows": row["flows"]})
        for key in ("seconds", "processing"):
            entry.setdefault((row["implementation"], key), []).append(
                row[key])
    for entry in out.values():
        for key, values in entry.items():
            if key != "flows":
                entry[key] = median(values)
    return out


def speedup(entry, key):
    ours = entry.get(("stratosphere", key))
    ref = entry.get(("python-reference", key))
    return ref / ours if ours and ref else None


def pipeline_table(summary):
    lines = ["| input | flows | `stratosphere extract` | Python reference "
             "| speed-up | processing only: stratosphere | Python | "
             "speed-up |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, entry in summary.items():
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            name, entry["flows"],
            fmt(entry.get(("stratosphere", "seconds")), 3, " s"),
            fmt(entry.get(("python-reference", "seconds")), 3, " s"),
            fmt(speedup(entry, "seconds"), 0, "×"),
            fmt(entry.get(("stratosphere", "processing")), 3, " s"),
            fmt(entry.get(("python-reference", "processing")), 3, " s"),
            fmt(speedup(entry, "processing"), 0, "×")))
    return lines + [""]


def check(label, value, limit, higher_is_better, shown):
    if value is None:
        verdict = "not measured"
    elif (value >= limit) if higher_is_better else (value <= limit):
        verdict = "met"
    else:
        verdict = "**not met**"
    return "| %s | %s | %s |" % (label, shown(value), verdict)


def targets(proxy, summary):
    page = proxy.get("https-page-c50", {})
    c1 = proxy.get("https-page-c1", {})
    fresh = proxy.get("tls-new-fresh-host", {})
    blob = proxy.get("https-blob-c50", {})
    idle_https = proxy.get("idle-https-1000", {})
    idle_http = proxy.get("idle-http-1000", {})
    synth = summary.get("synthetic", {})
    google = summary.get("search-google", {})

    def times(v):
        return fmt(v, 2, "×")

    lines = ["| target | measured (median) | |", "|---|---:|---|"]
    lines.append(check("HTTPS 60 KB c50, recording: ≥ 10× mitmdump's req/s",
                       ratio_median(page, "strat-record", "mitmdump", "rps"),
                       10, True, times))
    lines.append(check("HTTPS 60 KB c50, recording: ≥ 0.40× direct's req/s",
                       ratio_median(page, "strat-record", "direct", "rps"),
                       0.40, True, times))
    lines.append(check("c1 p50 latency, recording: ≤ 2.5× direct",
                       ratio_median(c1, "strat-record", "direct", "p50_ms"),
                       2.5, False, times))
    lines.append(check("c1 mean latency (1 / req/s), recording: ≤ 2.5× "
                       "direct",
                       ratio_median(c1, "strat-record", "direct", "rps",
                                    invert=True),
                       2.5, False, times))
    lines.append(check("new TLS host per request: ≥ 0.60× direct's rate",
                       ratio_median(fresh, "strat-record", "direct", "rps"),
                       0.60, True, times))
    lines.append(check("proxy CPU per request (HTTPS 60 KB c50): ≤ 0.1× "
                       "mitmdump's",
                       ratio_median(page, "strat-record", "mitmdump",
                                    "cpu_ms_per_req"),
                       0.1, False, lambda v: fmt(v, 3, "×")))
    lines.append(check("peak RSS, 1 MiB downloads at c50: ≤ 40 MB",
                       kb_to_mb(stat(blob, "strat-record", "hwm_kb")), 40,
                       False, lambda v: fmt(v, 1, " MB")))
    lines.append(check("RSS with 1000 idle keep-alive HTTPS connections: "
                       "≤ 25 MB",
                       kb_to_mb(stat(idle_https, "strat-record", "rss_kb")),
                       25, False, lambda v: fmt(v, 1, " MB")))
    lines.append(check("RSS with 1000 idle keep-alive HTTP connections: "
                       "≤ 25 MB",
                       kb_to_mb(stat(idle_http, "strat-record", "rss_kb")),
                       25, False, lambda v: fmt(v, 1, " MB")))
    lines.append(check("recording on vs off (HTTPS 60 KB c50): ≥ 0.85× "
                       "the req/s",
                       ratio_median(page, "strat-record", "strat-norecord",
                                    "rps"),
                       0.85, True, times))
    for label, entry in (("search-google.db", google),
                         ("synthetic probe.db", synth)):
        lines.append(check("pipeline, %s, whole command: ≥ 50× the Python "
                           "reference" % label, speedup(entry, "seconds"),
                           50, True, lambda v: fmt(v, 0, "×")))
        lines.append(check("pipeline, %s, processing only: ≥ 50× the "
                           "Python reference" % label,
                           speedup(entry, "processing"), 50, True,
                           lambda v: fmt(v, 0, "×")))
    lines.append(check("pipeline, synthetic probe.db of %s flows: < 2 s "
                       "(whole command)" % synth.get("flows", "20000"),
                       synth.get(("stratosphere", "seconds")), 2.0, False,
                       lambda v: fmt(v, 2, " s")))
    return lines + [""]


def render(results):
    meta = []
    with open(os.path.join(results, "meta.tsv")) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("\t")
            meta.append((key, value))
    proxy = load_proxy(os.path.join(results, "proxy.tsv"))
    summary = pipeline_summary(load_pipeline(
        os.path.join(results, "pipeline.tsv")))
    info = dict(meta)

    out = [BEGIN, "", "Produced by `%s` on %s." % (info.get("command"),
                                                   info.get("date")), ""]
    out += ["| | |", "|---|---|"]
    out += ["| %s | %s |" % (k, v) for k, v in meta
            if k not in ("command", "date")]
    out += ["", "### Targets", ""]
    out += targets(proxy, summary)
    for case in CASE_TITLES:
        if case in proxy:
            out += proxy_table(case, proxy[case])
    if summary:
        out += ["### Extractor pipeline", ""]
        out += pipeline_table(summary)
    out.append(END)
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    text = render(sys.argv[1])
    if sys.argv[2] == "-":
        sys.stdout.write(text)
        return
    path = sys.argv[2]
    old = open(path).read() if os.path.exists(path) else ""
    if BEGIN in old and END in old:
        head = old[:old.index(BEGIN)]
        tail = old[old.index(END) + len(END):].lstrip("\n")
        new = head + text + ("\n" + tail if tail else "")
    else:
        new = old + ("\n" if old else "") + text
    with open(path, "w") as f:
        f.write(new)


if __name__ == "__main__":
    main()
