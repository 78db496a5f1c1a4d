#!/usr/bin/env python3
"""Plot a daemon_bench or directflip_bench result file (bench-results/daemon-{latency,query,cpu,vnc,
dispatch,vm,vm-drm,untrusted}.json, bench-results/directflip.json).

usage: plot_latency.py RESULTS.json PLOT.png

latency: for each row, the fraction of vblanks whose consumer woke later than x (log-log
         exceedance curve: the p99 is where a curve crosses 1 %), baselines dashed, the goal
         (p99 <= 100 us) as a red corner;
query:   p50 and p99 round trip per row, baselines in grey, the goal (p50 <= 10 us) as a line;
cpu:     CPU per configuration in % of one core, stacked: daemon (server loop thread), guests
         (the VMs rendering), viewers (the consumers), with the daemon goal (25 %) as a line and
         the flip rate each configuration achieved written beside it.
vnc:     bytes on the wire per second for each demo workload (default encodings and raw only)
         beside raw full frames at the guest's flip rate (log scale), with the flip -> pixels
         latency and the CPU per stream in the title.
dispatch: the fraction of vblanks emulated later than x after their deadline (the daemon's
         histogram: exact at each bucket bound) beside the bare timerfd under the same load, with
         skipped vblanks and the querying consumer's rate in the title.
vm:      µs per trapped access from inside a QEMU VM (read and write, QEMU and vgpud on one CPU
         and on any) beside the transport's floor, a bare socket round trip and in-process
         dispatch (log scale), with traps per frame and flip -> event in the title.
vm-drm:  our DRM driver in a QEMU VM: p50 and p99 of the atomic flip's legs (guest ioctl -> flip
         event, trap -> consumer event, event -> next flip) beside vgpu-guest's video flip ->
         event; VNC wire bytes per second for the console, a moving box and a /dev/fb0 band with damage hints
         offered and not; traps per atomic flip in the title.
directflip: left, the CDF of guest flip -> host page-flip event (on screen and delivered, the
         guest's vblank from the host's and from its own clock) beside the composed VNC path and a
         bare 60 Hz timerfd from a random phase (dashed); right, CPU per flip (p50 bar, p99 whisker)
         per feed path beside memcpy of one 1080p frame, with MB copied per flip on each bar.
untrusted: a 1080p plane read per flip by a trusted and an untrusted consumer, step by step, and
         the daemon's CPU per flip (plot_untrusted.py).
"""
import json
import sys

if len(sys.argv) != 3:
    sys.exit(__doc__)
src, out = sys.argv[1], sys.argv[2]
try:
    data = json.load(open(src))
except (OSError, ValueError) as e:
    print(f"{src}: no results ({e})")
    sys.exit(0)
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("(matplotlib missing: no plot)")
    sys.exit(0)

ctx = data.get("context", {})
subtitle = (f"{ctx.get('host_name', '?')}: {ctx.get('num_cpus', '?')} CPUs, load "
            f"{', '.join(f'{x:.1f}' for x in ctx.get('load_avg', []))} at the start")
if "other_processes_pct" in data:
    subtitle += f"; other processes used {data['other_processes_pct']:.0f} % of a core meanwhile"
    if data["other_processes_pct"] >= 10:
        subtitle += " (busy machine: rerun)"
kind = data.get("benchmark")
rows = data.get("rows", data.get("traps", []))
if not rows:
    print(f"{src}: no rows")
    sys.exit(0)


def exceedance(dist):
    """(x µs, fraction slower than x) from the stored quantiles."""
    pts = [(v, 1.0 - q) for q, v in dist["quantiles_us"] if q < 1.0]
    pts.append((dist["max_us"], 1.0 / max(dist["n"], 1)))  # the slowest one: 1 in n
    return [max(x, 0.1) for x, _ in pts], [y for _, y in pts]


if kind == "latency":
    fig, ax = plt.subplots(figsize=(10, 6))
    daemon_colors = plt.cm.viridis
    daemon_rows = [r for r in rows if r["kind"] == "daemon"]
    for i, r in enumerate(daemon_rows):
        x, y = exceedance(r["total"])
        c = daemon_colors(i / max(len(daemon_rows) - 1, 1) * 0.9)
        ax.step(x, y, where="post", color=c, linewidth=1.6,
                label=f"{r['name']}: p99 {r['total']['p99_us']:.0f} us")
    for r in rows:
        if r["kind"] == "daemon" or r["under"] != "idle":
            continue  # baselines beside each configuration are in the JSON and the table
        x, y = exceedance(r["total"])
        ax.step(x, y, where="post", color="#888" if r["kind"] == "baseline1" else "#444", linestyle="--",
                linewidth=1.2, label=f"baseline {r['name']} (idle): p99 {r['total']['p99_us']:.0f} us")
    goal = data.get("goal_p99_us", 100)
    ax.axhline(0.01, color="#c33", linewidth=0.6, linestyle=":")
    ax.axvline(goal, color="#c33", linewidth=0.8, linestyle="--", label=f"goal: p99 <= {goal:g} us")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1e-4 * 0.8, 1.05)
    lows = [r["total"]["quantiles_us"][0][1] for r in rows if r["total"]["n"]]
    if lows:
        ax.set_xlim(left=max(min(lows) / 1.5, 0.5))
    ax.set_xlabel("vblank deadline -> consumer thread woke and read its eventfd (us)")
    ax.set_ylabel("fraction of vblanks slower than x")
    placed = " (server loop, consumers and baseline threads on CPU 0)" if data.get("one_cpu") else ""
    ax.set_title(f"{data.get('title', 'latency')}{placed}\n{subtitle}", fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7, loc="lower left")
elif kind == "query":
    names = [r["name"] for r in rows]
    p50 = [r["round_trip"]["p50_us"] for r in rows]
    p99 = [r["round_trip"]["p99_us"] for r in rows]
    fig, ax = plt.subplots(figsize=(10, 0.55 * len(rows) + 1.8))
    ys = range(len(rows))
    base = ["baseline" in r["kind"] for r in rows]
    ax.barh([y - 0.2 for y in ys], p50, height=0.38, color=["#999" if b else "#3a7" for b in base])
    ax.barh([y + 0.2 for y in ys], p99, height=0.38, color=["#ccc" if b else "#9d9" for b in base])
    from matplotlib.patches import Patch
    handles = [Patch(color="#3a7", label="p50"), Patch(color="#9d9", label="p99"),
               Patch(color="#999", label="baseline p50"), Patch(color="#ccc", label="baseline p99")]
    for y, a, b in zip(ys, p50, p99):
        ax.text(a, y - 0.2, f" {a:.1f}", va="center", fontsize=8)
        ax.text(b, y + 0.2, f" {b:.1f}", va="center", fontsize=8)
    goal = data.get("goal_p50_us", 10)
    handles.append(ax.axvline(goal, color="#c33", linestyle="--", linewidth=0.8, label=f"goal: p50 <= {goal:g} us"))
    ax.set_yticks(list(ys))
    ax.set_yticklabels(names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("round trip (us); [1 CPU]: client and answering thread on one CPU (no idle-CPU wake-ups)")
    ax.set_title(f"{data.get('title', 'query')}\n{subtitle}", fontsize=10)
    ax.legend(handles=handles, fontsize=8, loc="lower right")
elif kind == "cpu":
    labels = [f"{r['vgpus']} {r['workload']}" for r in rows]
    parts = [("daemon_pct", "daemon (server loop thread)", "#c63"),
             ("guests_pct", "guests (VMs rendering + their traps)", "#69c"),
             ("viewers_pct", "viewers (consumers)", "#9c6"),
             ("other_pct", "other threads", "#bbb")]
    fig, ax = plt.subplots(figsize=(10, 0.6 * len(rows) + 1.8))
    left = [0.0] * len(rows)
    for key, label, color in parts:
        vals = [max(r[key], 0.0) for r in rows]
        ax.barh(labels, vals, left=left, color=color, label=label)
        left = [a + b for a, b in zip(left, vals)]
    for i, r in enumerate(rows):
        ax.text(left[i], i, f"  daemon {r['daemon_pct']:.1f} %, {r['frames_per_s']['median']:.0f} frames/s per vGPU (median)",
                va="center", fontsize=8)
    goal = data.get("goal_daemon_pct", 25)
    ax.axvline(goal, color="#c33", linestyle="--", linewidth=0.8, label=f"goal: daemon <= {goal:g} % at 64 vGPUs")
    cpus = ctx.get("num_cpus") or 0
    if cpus:
        ax.axvline(100 * cpus, color="#444", linewidth=0.8, label=f"{cpus} CPUs")
    ax.invert_yaxis()
    ax.set_xlim(0, max(max(left), 100 * cpus) * 1.45)
    ax.set_xlabel("CPU, % of one core")
    ax.set_title(f"{data.get('title', 'cpu')}\n{subtitle}", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
elif kind == "vnc":
    byte_rows = [r for r in rows if r["name"] == "bytes"]
    lat = next((r for r in rows if r["name"] == "flip_to_pixels"), None)
    cpu = next((r for r in rows if r["name"] == "cpu"), None)
    fig, ax = plt.subplots(figsize=(10, 0.7 * len(byte_rows) + 2.2))
    labels = [f"{r['workload']} ({r['encodings']}{', hints' if r.get('hints') == 'yes' else ''})" for r in byte_rows]
    ys = range(len(byte_rows))
    wire = [max(r["wire_kib_per_s"], 0.01) for r in byte_rows]
    raw = [max(r["raw_frames_kib_per_s"], 0.01) for r in byte_rows]
    ax.barh([y - 0.2 for y in ys], wire, height=0.38, color="#3a7", label="on the wire (damage only)")
    ax.barh([y + 0.2 for y in ys], raw, height=0.38, color="#ccc", label="a raw full frame per refresh event")
    for y, a, b in zip(ys, wire, raw):
        ax.text(a, y - 0.2, f" {a:,.0f} KiB/s", va="center", fontsize=8)
        ax.text(b, y + 0.2, f" {b:,.0f} KiB/s", va="center", fontsize=8)
    ax.set_yticks(list(ys))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlim(right=max(raw + wire) * 8)  # room for the labels
    ax.set_xlabel("KiB per second, one client, 1080p")
    head = "VNC stream"
    if lat:
        d = lat["latency"]
        head += (f": guest flip -> pixels p50 {d['p50_us'] / 1e3:.1f} ms, p99 {d['p99_us'] / 1e3:.1f} ms"
                 f" (goal p50 <= {lat['goal_p50_ms']:.1f} ms)")
    if cpu:
        head += f"; {cpu['stream_pct_per_stream']:.1f} % of a core per stream"
    ax.set_title(f"{head}\n{subtitle}", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
elif kind == "vm":
    bars = [(r["name"].strip(), r["read_us"], r["write_us"]) for r in rows]
    bars += [("baseline: socket round trip, 1 CPU", data["socket_round_trip_1cpu_us"], None),
             ("baseline: socket round trip, 2 CPUs", data["socket_round_trip_2cpu_us"], None),
             ("baseline: in-process dispatch", data["inprocess_us"], None)]
    fig, ax = plt.subplots(figsize=(10, 0.6 * len(bars) + 2.2))
    ys = range(len(bars))
    ax.barh([y - 0.2 for y in ys], [b[1] for b in bars], height=0.4, color="#3a7", label="read")
    ax.barh([y + 0.2 for y in ys], [b[2] or 0 for b in bars], height=0.4, color="#37a", label="write")
    for y, (_, r, w) in zip(ys, bars):
        ax.text(r, y - 0.2, f" {r:.2f}", va="center", fontsize=8)
        if w:
            ax.text(w, y + 0.2, f" {w:.2f}", va="center", fontsize=8)
    ax.set_yticks(list(ys))
    ax.set_yticklabels([b[0] for b in bars], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("us per 4-byte register access")
    frames = ", ".join(f"{f['workload']} {f['traps_per_frame']:.0f}" for f in data.get("traps_per_frame", []))
    flip = data.get("flip_to_event", {})
    ax.set_title(f"trapped accesses from a QEMU VM (x-pci-proxy-dev, TCG); traps per frame: {frames}\n"
                 f"guest flip -> consumer event: p50 {flip.get('p50_us', 0) / 1000:.1f} ms, "
                 f"p99 {flip.get('p99_us', 0) / 1000:.1f} ms\n{subtitle}", fontsize=10)
    ax.grid(True, axis="x", which="both", alpha=0.25)
    ax.legend(fontsize=8, loc="lower right")
elif kind == "vm-drm":
    legs = [("guest: ioctl -> flip event", data["ioctl_to_flip_event"]),
            ("host: PLANE_SURF trap -> consumer event", data["trap_to_event"]),
            ("host: consumer event -> next flip trap", data["event_to_next_flip"]),
            ("baseline: video sprite flip -> event", data["video_flip_to_event"])]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 4.8))
    ys = range(len(legs))
    ax.barh([y - 0.2 for y in ys], [d["p50_us"] / 1e3 for _, d in legs], height=0.4, color="#3a7", label="p50")
    ax.barh([y + 0.2 for y in ys], [d["p99_us"] / 1e3 for _, d in legs], height=0.4, color="#37a", label="p99")
    ax.set_yticks(list(ys))
    ax.set_yticklabels([n for n, _ in legs], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("ms")
    ax.legend(fontsize=8)
    ax.grid(True, axis="x", alpha=0.25)
    loads = sorted({r["load"] for r in rows})
    for i, offered in enumerate(["yes", "no"]):
        vals = [next((r["wire_kib_per_s"] for r in rows if r["load"] == ld and r["hints_offered"] == offered), 0) for ld in loads]
        bx.bar([x + (i - 0.5) * 0.4 for x in range(len(loads))], vals, width=0.4, color=["#3a7", "#a73"][i],
               label=f"damage hints {'offered' if offered == 'yes' else 'off (tile comparison)'}")
    bx.set_xticks(list(range(len(loads))))
    bx.set_xticklabels(loads)
    bx.set_ylabel("VNC wire KiB/s")
    bx.legend(fontsize=8)
    t = data["traps_per_flip"]
    fig.suptitle(f"vgpu_drm in a QEMU VM (TCG): traps per atomic flip {t['total']:.2f} (goal <= 2): flip's own "
                 f"{t['plane_surf'] + t['plane_surflive']:.2f}, vblank poll {t['frmcount']:.2f}, other {t['other']:.2f}\n{subtitle}",
                 fontsize=10)
elif kind == "dispatch":
    fig, ax = plt.subplots(figsize=(10, 6))
    for r in rows:
        x, y = exceedance(r["delay"])
        base = r["kind"] != "daemon"
        ax.step(x, y, where="post", color="#888" if base else "#3a7", linestyle="--" if base else "-",
                linewidth=1.2 if base else 1.6,
                label=(f"{'baseline ' if base else ''}{r['name']}: p50 {r['delay']['p50_us']:.0f} us, "
                       f"p99 {r['delay']['p99_us']:.0f} us, {r['skipped_vblanks']:.0f} skipped"))
    ax.axhline(0.01, color="#c33", linewidth=0.6, linestyle=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1e-4 * 0.8, 1.05)
    ax.set_xlabel("vblank deadline -> emulated (daemon) / thread woken (baseline) (us)")
    ax.set_ylabel("fraction of vblanks later than x")
    c = data.get("consumer", {})
    head = (f"{data.get('title', 'dispatch')}\n{data.get('vgpus', '?')} {data.get('workload', '')} guests; one consumer: "
            f"{c.get('queries_per_s', 0):,.0f} QueryPlane/s, round trip p99 {c.get('round_trip', {}).get('p99_us', 0):.0f} us")
    ax.set_title(f"{head}\n{subtitle}", fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8, loc="lower left")
elif kind in ("directflip", "directflip-kms"):  # -kms: on a KMS card (virtio-gpu in a VM)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(15, 7.5))
    colours = {"directflip": "#37a", "composed": "#c73", "baseline": "#888"}
    for r in (r for r in rows if "latency" in r):
        d = r["latency"]
        if not d["n"]:
            continue
        pts = [(v / 1e3, q) for q, v in d["quantiles_us"]] + [(d["max_us"] / 1e3, 1.0)]
        shown = "on screen" in r["name"]
        ax.step([x for x, _ in pts], [y for _, y in pts], where="post", color=colours.get(r["kind"], "#444"),
                linestyle="--" if r["kind"] == "baseline" else ("-" if shown or r["kind"] != "directflip" else ":"),
                linewidth=1.6 if "led clock" in r["name"] or r["kind"] != "directflip" else 1.0,
                label=f"{r['name']}: p50 {d['p50_us'] / 1e3:.1f}, p99 {d['p99_us'] / 1e3:.1f} ms")
    p99s = [r["latency"]["p99_us"] / 1e3 for r in rows if "latency" in r and r["latency"]["n"]]
    ax.set_xlim(0, 1.3 * max(p99s + [17]))  # the tails past the p99s run off the right edge
    ax.set_xlabel("guest flip (PLANE_SURF write) -> ... (ms)")
    ax.set_ylabel("fraction of flips")
    ax.set_title("guest flip -> host page flip, 60 Hz", fontsize=10)
    ax.grid(True, alpha=0.25)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    cpu = [r for r in rows if r["kind"] == "cpu"]
    frame = data.get("frame", {"label": "1080p", "bytes": 1920 * 1080 * 4})  # the host mode's frame
    names = [r["name"] for r in cpu] + [f"baseline: memcpy {frame['label']}"]
    p50 = [r["cpu"]["p50_us"] for r in cpu] + [data.get("memcpy_us", 0)]
    p99 = [r["cpu"]["p99_us"] for r in cpu] + [data.get("memcpy_us", 0)]
    mb = [r["bytes_per_flip"] / 1e6 for r in cpu] + [frame["bytes"] / 1e6]
    ys = range(len(names))
    bx.barh(ys, p50, xerr=[[0] * len(p50), [b - a for a, b in zip(p50, p99)]],
            color=["#37a"] * len(cpu) + ["#888"], capsize=3)
    for y, v, a, m in zip(ys, p99, p50, mb):
        bx.text(v, y, f"  {a:.0f} us, {m:.2f} MB", va="center", fontsize=8)
    bx.set_yticks(list(ys))
    bx.set_yticklabels(names, fontsize=8)
    bx.invert_yaxis()
    bx.set_xlabel("CPU per flip, us (bar p50, whisker p99; label: p50, MB copied per flip)")
    bx.set_title(f"the link's CPU per flip, {frame['label']} host mode", fontsize=10)
    bx.grid(True, axis="x", alpha=0.25)
    fig.suptitle(f"direct flip on {data.get('host', 'the VirtualMonitor (real clock)')}\n{subtitle}", fontsize=10)
elif kind == "untrusted":
    import plot_untrusted  # beside this file
    fig = plot_untrusted.draw(plt, data, rows, subtitle)
else:
    print(f"{src}: unknown benchmark kind {kind!r}")
    sys.exit(0)

fig.tight_layout()
fig.savefig(out, dpi=100)
print(f"plot: {out}")
