#!/usr/bin/env python3
"""Helpers of bench/run.sh (python3 standard library only).

  benchlib.py join ONLINE_LOG TARGET_LOG
      Joins two nginx access logs of the bench format (field 4: URI, last field: $msec) by
      URI and prints key=value lines: online (requests logged online), online_unique,
      reproduced (online URIs also logged on the target), ratio, and the latency of the copy,
      target $msec - online $msec, in ms: lat_p50_ms, lat_p99_ms, lat_max_ms.

  benchlib.py summary --csv FILE --machine M --commit C --date D SCENARIO:REPEATS:KV[,KV...] ...
      Reads the key=value files of every run of every scenario, prints the Markdown table
      (median and min..max of each figure) and appends one row per scenario to the CSV.
"""

import csv
import math
import os
import statistics
import sys


def read_log(path):
    """{uri: msec of its first log line}, number of lines."""
    first = {}
    n = 0
    with open(path, errors="replace") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 5:
                continue
            n += 1
            uri = parts[3]
            try:
                t = float(parts[-1])
            except ValueError:
                t = None
            if uri not in first:
                first[uri] = t
    return first, n


def percentile(sorted_vals, p):
    """Nearest-rank percentile of a sorted list."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, math.ceil(p / 100.0 * len(sorted_vals)) - 1))
    return sorted_vals[k]


def cmd_join(on_path, tg_path):
    on, n_on = read_log(on_path)
    tg, n_tg = read_log(tg_path)
    lat = []
    hit = 0
    for uri, t in on.items():
        if uri in tg:
            hit += 1
            if t is not None and tg[uri] is not None:
                lat.append((tg[uri] - t) * 1000.0)
    lat.sort()
    out = {
        "online": n_on,
        "online_unique": len(on),
        "target_lines": n_tg,
        "reproduced": hit,
        "ratio": "%.4f" % (hit / len(on)) if on else "0",
    }
    if lat:
        out["lat_p50_ms"] = "%.1f" % percentile(lat, 50)
        out["lat_p99_ms"] = "%.1f" % percentile(lat, 99)
        out["lat_max_ms"] = "%.1f" % lat[-1]
    for k, v in out.items():
        print("%s=%s" % (k, v))


# --- summary ---------------------------------------------------------------------------------

def read_kv(path):
    d = {}
    try:
        with open(path) as f:
            for line in f:
                k, sep, v = line.rstrip("\n").partition("=")
                if sep:
                    d[k] = v
    except OSError:
        pass
    return d


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


GROUPING = True    # thousands separators (the Markdown table; the CSV has plain numbers)


def fmt(v, digits):
    if digits == 0:
        return ("{:,}" if GROUPING else "{}").format(int(round(v)))
    return "%.*f" % (digits, v)


def figure(runs, key, digits):
    """'median (min..max)' over the runs that have the key; '-' when none."""
    return figure_vals([num(r.get(key)) for r in runs], digits)


def figure_vals(vals, digits):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    med = statistics.median(vals)
    if len(vals) == 1 or min(vals) == max(vals):
        return fmt(med, digits)
    return "%s (%s..%s)" % (fmt(med, digits), fmt(min(vals), digits), fmt(max(vals), digits))


def median_of(runs, key):
    vals = [num(r.get(key)) for r in runs]
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def notes_for(name, runs, repeats):
    notes = []
    if name == "offline":
        return ["not implemented yet (issue 4)"]
    ok = len(runs)
    if ok < repeats:
        notes.append("%d of %d runs failed" % (repeats - ok, repeats))
    if not runs:
        return notes
    if name in ("ka10", "ka100", "short"):
        load = median_of(runs, "load_rps")
        if load is not None:
            s = "load %s req/s" % fmt(load, 0)
            pct = [100.0 * num(r["load_rps"]) / num(r["ceiling"]) for r in runs
                   if num(r.get("load_rps")) is not None and num(r.get("ceiling"))]
            if pct:
                med = statistics.median(pct)
                if len(pct) > 1 and min(pct) != max(pct):
                    s += " = %.0f%% (%.0f..%.0f%%) of the run's ceiling" % (med, min(pct), max(pct))
                else:
                    s += " = %.0f%% of the run's ceiling" % med
            notes.append(s)
    if name == "bulk":
        eq = sum(1 for r in runs if r.get("sha_equal") == "yes")
        notes.append("sha256 equal %d/%d" % (eq, len(runs)))
        v = median_of(runs, "online_mbps")
        if v is not None:
            notes.append("online upload %.0f MB/s" % v)
        v = median_of(runs, "lag_ms")
        if v is not None:
            notes.append("target finished %.0f ms after online" % v)
        v = median_of(runs, "tc_cpu_s_per_gb")
        if v is not None:
            notes.append("tcpcopy %.2f CPU s/GB" % v)
        v = median_of(runs, "bulk_mb")
        if v is not None:
            notes.append("%.0f MB body, ratio = bytes" % v)
    if name == "idle":
        v = figure(runs, "bytes_per_session", 0)
        notes.append("tcpcopy %s B/session" % v)
        v = median_of(runs, "rss_delta_kb")
        s = median_of(runs, "sessions")
        if v is not None and s is not None:
            notes.append("RSS +%s KB for %s sessions" % (fmt(v, 0), fmt(s, 0)))
        v = median_of(runs, "ic_rss_delta_kb")
        if v is not None:
            notes.append("intercept RSS +%s KB" % fmt(v, 0))
    v = median_of(runs, "ic_cpu10k")
    if v is not None and name != "bulk":
        notes.append("intercept %.3f CPU s/10k" % v)
    bad = sum(1 for r in runs if r.get("stop_ok") == "no")
    if bad:
        notes.append("unclean stop in %d run(s)" % bad)
    return notes


COLUMNS = ["date", "commit", "machine", "scenario", "runs", "requests_online", "reproduced",
           "ratio", "tcpcopy_cpu_s_per_10k", "tcpcopy_peak_rss_kb", "intercept_peak_rss_kb",
           "latency_p50_ms", "latency_p99_ms", "mb_per_s", "ceiling", "notes"]

HEAD = ["scenario", "runs", "requests online", "reproduced", "ratio", "tcpcopy CPU s/10k req",
        "tcpcopy peak RSS KB", "intercept peak RSS KB", "latency p50 ms", "latency p99 ms",
        "MB/s copied", "ceiling (no tcpcopy)", "notes"]


def cmd_summary(argv):
    opts = {"--csv": None, "--machine": "", "--commit": "", "--date": ""}
    specs = []
    i = 0
    while i < len(argv):
        if argv[i] in opts:
            opts[argv[i]] = argv[i + 1]
            i += 2
        else:
            specs.append(argv[i])
            i += 1
    global GROUPING
    GROUPING = True
    rows = build_rows(specs)
    print("Machine: %s; commit %s; %s" % (opts["--machine"], opts["--commit"], opts["--date"]))
    print()
    print("| " + " | ".join(HEAD) + " |")
    print("|" + "|".join("---" for _ in HEAD) + "|")
    for row in rows:
        print("| " + " | ".join(c.replace("|", "/") for c in row) + " |")

    if opts["--csv"]:
        GROUPING = False
        rows = build_rows(specs)
        new = not os.path.exists(opts["--csv"]) or os.path.getsize(opts["--csv"]) == 0
        with open(opts["--csv"], "a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(COLUMNS)
            for row in rows:
                w.writerow([opts["--date"], opts["--commit"], opts["--machine"]] + row)


def build_rows(specs):
    rows = []
    for spec in specs:
        name, repeats, files = spec.split(":", 2)
        repeats = int(repeats)
        runs = [read_kv(f) for f in files.split(",") if f]
        runs = [r for r in runs if r.get("complete") == "yes"]
        if name == "offline":
            row = [name, "0"] + ["-"] * 10
        else:
            unit = runs[0].get("ceiling_unit", "") if runs else ""
            ceil = figure(runs, "ceiling", 1 if unit == "MB/s" else 0)
            row = [name, "%d/%d" % (len(runs), repeats),
                   figure(runs, "online", 0), figure(runs, "reproduced", 0),
                   figure(runs, "ratio", 4), figure(runs, "cpu10k", 3),
                   figure(runs, "tc_hwm_kb", 0), figure(runs, "ic_hwm_kb", 0),
                   figure(runs, "lat_p50_ms", 1), figure(runs, "lat_p99_ms", 1),
                   figure(runs, "mbps", 1), ceil + (" " + unit if ceil != "-" and unit else "")]
        row.append("; ".join(notes_for(name, runs, repeats)))
        rows.append(row)
    return rows


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "join":
        cmd_join(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 2 and sys.argv[1] == "summary":
        cmd_summary(sys.argv[2:])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
