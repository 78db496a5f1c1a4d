"""plot_latency.py's untrusted plot (bench-results/daemon-untrusted.json): per row, the p50 of each
step of reading one flip's plane (query, GetBuffer + map times the fetches per flip, memcpy),
stacked, with the row's p50 and p99 end to end; beside it the daemon's CPU per flip, the plane
copy's share hatched. The baseline (memcpy of one 1080p frame) in grey."""


from matplotlib.patches import Patch


def draw(plt, data, rows, subtitle):
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(14, 0.9 * len(rows) + 2.4), sharey=True)
    ys = list(range(len(rows)))
    left, handles = [0.0] * len(rows), [Patch(color="#999", label="baseline")]
    for key, label, colour in (("query", "QueryPlane", "#37a"), ("fetch", "GetBuffer + map", "#c73"),
                               ("read", "memcpy of the plane", "#3a7")):
        w = [r[key]["p50_us"] / 1e3 * (r.get("fetches_per_flip", 1) if key == "fetch" else 1) if r[key]["n"] else 0
             for r in rows]
        ax.barh(ys, w, left=left, color=[("#999" if r["kind"] == "baseline" else colour) for r in rows])
        handles.append(Patch(color=colour, label=label))
        left = [a + b for a, b in zip(left, w)]
    for y, r in zip(ys, rows):
        d = r["latency"]
        ax.plot([d["p99_us"] / 1e3], [y], "k|", markersize=14)
        ax.text(max(left[y], d["p99_us"] / 1e3), y, f"  p50 {d['p50_us'] / 1e3:.2f}, p99 {d['p99_us'] / 1e3:.2f} ms",
                va="center", fontsize=8)
    ax.set_xlim(0, 1.5 * max(r["latency"]["p99_us"] / 1e3 for r in rows))  # room for the labels
    ax.set_yticks(ys)
    ax.set_yticklabels([r["name"] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("per flip, ms: steps' p50 stacked (get+map weighted by fetches per flip), | = p99 end to end")
    ax.legend(handles=handles, fontsize=8, loc="upper right")
    cpu = [r.get("daemon_us_per_flip", 0) / 1e3 for r in rows]
    copy = [r.get("copy_us_per_copy", 0) * r.get("copies_per_flip", 0) / 1e3 for r in rows]
    bx.barh(ys, cpu, color="#888")
    bx.barh(ys, copy, color="none", edgecolor="#c33", hatch="//", label="plane copies (wall time per flip)")
    for y, c in zip(ys, cpu):
        bx.text(c, y, f"  {c:.2f} ms", va="center", fontsize=8)
    bx.set_xlabel("the daemon's CPU per flip, ms (its loop and vblank threads)")
    bx.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"{data.get('title', 'untrusted')}\n{subtitle}", fontsize=10)
    return fig
