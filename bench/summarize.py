#!/usr/bin/env python3
"""Summarise a Google Benchmark JSON file against a baseline benchmark of the same run:
prints a table (median ns/op, ratio to baseline) and writes a bar chart if matplotlib is there."""
import json, sys

path, baseline, plot = sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None
data = json.load(open(path))
med = {b["run_name"]: b["real_time"] for b in data["benchmarks"] if b.get("aggregate_name") == "median"}
if not med:  # run without repetitions
    med = {b["name"]: b["real_time"] for b in data["benchmarks"]}
base = med[baseline]
ctx = data["context"]
print(f"\n{ctx.get('host_name', '?')}: {ctx.get('num_cpus')} CPUs @ {ctx.get('mhz_per_cpu')} MHz, "
      f"{ctx.get('library_build_type')} benchmark library")
print(f"{'benchmark':<32} {'median ns/op':>12} {'x baseline':>10}")
for name, ns in med.items():
    print(f"{name:<32} {ns:>12.2f} {ns / base:>10.1f}")
if plot:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib missing: no plot)")
        sys.exit(0)
    names = list(med)
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(names) + 1.2))
    ax.barh(names, [med[n] for n in names], color=["#888" if n == baseline else "#3a7" for n in names])
    ax.invert_yaxis()
    ax.set_xlabel("median ns per operation (lower is better)")
    ax.set_title("Trapped MMIO accesses vs a plain array store (baseline, grey)")
    for i, n in enumerate(names):
        ax.text(med[n], i, f" {med[n]:.1f}", va="center")
    fig.tight_layout()
    fig.savefig(plot, dpi=100)
    print(f"plot: {plot}")
