#!/usr/bin/env python3
"""Summarise a Google Benchmark JSON file against a baseline benchmark of the same run.

usage: summarize.py RESULTS.json BASELINE [PLOT.png] [--title TEXT] [--goal RATIO]

Medians of the repetitions (the raw runs when there were none), of CPU time: the time the
benchmark thread ran, which is what Google Benchmark's bytes/s divide by too; wall-clock time
also counts time spent preempted, which on a small shared machine is mostly noise. When the benchmarks report
bytes/s the figure is throughput over the baseline's (higher is better, e.g. 0.7 = 70 % of
memcpy); otherwise time over the baseline's (lower is better). Times are converted to one unit
whatever unit each benchmark reported in. A coefficient of variation above 5 % is flagged: rerun.
"""
import argparse
import json
import sys

UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
NOISY_CV = 0.05

ap = argparse.ArgumentParser()
ap.add_argument("results")
ap.add_argument("baseline")
ap.add_argument("plot", nargs="?")
ap.add_argument("--title", default=None)
ap.add_argument("--goal", type=float, default=None, help="ratio to draw as a target line")
args = ap.parse_args()

try:
    data = json.load(open(args.results))
except (OSError, ValueError) as e:  # e.g. a filter matched nothing: the program wrote no JSON
    print(f"{args.results}: no results ({e})")
    sys.exit(0)
rows = {}  # display name -> dict(ns, bps, cv, label, order)
has_aggregates = any(b.get("run_type") == "aggregate" for b in data["benchmarks"])
for b in data["benchmarks"]:
    if b.get("error_occurred"):
        print(f"{b['name']}: error: {b.get('error_message', '?')}", file=sys.stderr)
        continue
    name = b.get("run_name", b["name"])
    row = rows.setdefault(name, {"order": (b.get("family_index", 0), b.get("per_family_instance_index", 0))})
    kind = b.get("aggregate_name") if has_aggregates else "median"
    if kind == "median":
        row["ns"] = b["cpu_time"] * UNIT_NS[b.get("time_unit", "ns")]
        row["bps"] = b.get("bytes_per_second")
        row["label"] = b.get("label", "")
    elif kind == "cv":
        row["cv"] = b["cpu_time"]
rows = {n: r for n, r in sorted(rows.items(), key=lambda kv: kv[1]["order"]) if "ns" in r}
if not rows:
    print(f"{args.results}: no results (filtered out?)")
    sys.exit(0)

ctx = data["context"]
print(f"\n{ctx.get('host_name', '?')}: {ctx.get('num_cpus')} CPUs @ {ctx.get('mhz_per_cpu')} MHz, "
      f"load {', '.join(f'{x:.1f}' for x in ctx.get('load_avg', []))}, "
      f"{ctx.get('library_build_type')} benchmark library")

base = rows.get(args.baseline)
if base is None:
    print(f"(baseline {args.baseline} not in this run: no ratios)")
throughput = base is not None and base.get("bps")
show = lambda n: f"{ratio[n]:>10.2f}" if n in ratio else f"{'-':>10}"
if throughput:
    ratio = {n: r["bps"] / base["bps"] for n, r in rows.items() if r.get("bps")}
    head = f"{'benchmark':<28} {'median GB/s':>11} {'x baseline':>10} {'cv':>6}"
    fmt_row = lambda n, r: f"{n:<28} {r['bps'] / 1e9:>11.2f} {show(n)}"
    print(f"bytes/s over {args.baseline}'s, higher is better")
else:
    ratio = {n: r["ns"] / base["ns"] for n, r in rows.items()} if base else {}
    unit, scale = ("us", 1e3) if min(r["ns"] for r in rows.values()) >= 1e3 else ("ns", 1.0)
    head = f"{'benchmark':<36} {'median ' + unit + '/op':>12} {'x baseline':>10} {'cv':>6}"
    fmt_row = lambda n, r: f"{n:<36} {r['ns'] / scale:>12.2f} {show(n)}"
    if base:
        print(f"time over {args.baseline}'s, lower is better")
print(head)
noisy = []
for n, r in rows.items():
    cv = r.get("cv")
    flag = " noisy" if cv is not None and cv > NOISY_CV else ""
    if flag:
        noisy.append(n)
    label = f"  {r['label']}" if r.get("label") else ""
    print(fmt_row(n, r) + (f" {cv * 100:>5.1f}%" if cv is not None else f" {'-':>6}") + flag + label)
if noisy:
    print(f"{len(noisy)} result(s) vary by more than {NOISY_CV:.0%} between repetitions: rerun on a quieter machine")

if args.plot and ratio:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib missing: no plot)")
        sys.exit(0)
    names = [n for n in rows if n in ratio]
    fig, ax = plt.subplots(figsize=(9, 0.4 * len(names) + 1.4))
    ax.barh(names, [ratio[n] for n in names], color=["#888" if n == args.baseline else "#3a7" for n in names])
    ax.invert_yaxis()
    ax.axvline(1.0, color="#444", linewidth=0.8)
    if args.goal:
        ax.axvline(args.goal, color="#c33", linestyle="--", linewidth=0.8, label=f"goal {args.goal:g}")
        ax.legend(loc="lower right")
    what = "throughput / baseline (higher is better)" if throughput else "time / baseline (lower is better)"
    ax.set_xlabel(f"median {what}; baseline {args.baseline} in grey")
    ax.set_title(args.title or args.results, fontsize=10)
    for i, n in enumerate(names):
        ax.text(ratio[n], i, f" {ratio[n]:.2f}", va="center")
    fig.tight_layout()
    fig.savefig(args.plot, dpi=100)
    print(f"plot: {args.plot}")
