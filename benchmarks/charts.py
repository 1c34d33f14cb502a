#!/usr/bin/env python3
"""PNG charts from results.json: a bar chart per operation and the growth curves.

Usage: python charts.py results.json OUT_DIR   (needs matplotlib; run.py finds it)
"""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import report  # noqa: E402


def bar_charts(res, out):
    kinds = report.VALUE_KINDS
    made = []
    for op, title, unit in report.MATRIX_OPS:
        cols = []
        for c in res["columns"]:
            vals = [report.cell_time(res, c["id"], k, op) for k in kinds]
            if any(vals):
                cols.append((c, vals))
        if not cols:
            continue
        fig, ax = plt.subplots(figsize=(14, 6.5))
        width = 0.8 / len(cols)
        cmap = plt.get_cmap("tab20")
        for i, (c, vals) in enumerate(cols):
            xs = [j + (i - (len(cols) - 1) / 2) * width for j in range(len(kinds))]
            ys = [(1.0 / v) if v else 0 for v in vals]
            ax.bar(xs, ys, width, color=cmap(i % 20),
                   label=f"{c['label']} [{c.get('durability') or '?'}]")
        # the limit of each value kind, for the first column that has one per durability
        seen = set()
        for c, vals in cols:
            for j, k in enumerate(kinds):
                if not vals[j]:
                    continue
                lt, lab = report.limit_for(res, c, k, op)
                if lt and (j, lab) not in seen:
                    seen.add((j, lab))
                    ax.hlines(1.0 / lt, j - 0.45, j + 0.45, colors="black", linestyles="dashed",
                              linewidth=0.8)
                    ax.annotate(lab, (j + 0.45, 1.0 / lt), fontsize=6, ha="right", va="bottom")
        ax.set_yscale("log")
        ax.set_xticks(range(len(kinds)))
        ax.set_xticklabels([report.KIND_LABEL[k] for k in kinds])
        ax.set_ylabel(unit + " (log scale; median)")
        ax.set_title(f"{title}\n{res['machine'].get('cpu')} — {res['generated']}"
                     + (" — QUICK MODE" if res["config"]["mode"] == "quick" else ""), fontsize=9)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=4)
        fig.tight_layout()
        name = f"op_{op}.png"
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        made.append(name)
    return made


def growth_chart(res, out):
    g = res.get("growth") or {}
    if not g:
        return []
    panels = [("set_new", "set of new keys, per op"), ("get_hot", "hot get, per op"),
              ("overwrite", "overwrite, per op"), ("rss", "RSS per entry (bytes)")]
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for ax, (op, title) in zip(axes.flat, panels):
        for sid, series in g.items():
            xs, ys = [], []
            for s in sorted(series, key=int):
                d = series[s]
                if not d.get("ok"):
                    continue
                if op == "rss":
                    y = (d.get("info") or {}).get("rss_per_entry")
                else:
                    o = (d.get("ops") or {}).get(op)
                    y = o["per_op_s"] * 1e9 if o else None
                if y:
                    xs.append(int(s))
                    ys.append(y)
            if xs:
                ax.plot(xs, ys, marker="o", label=sid)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("entries")
        ax.set_ylabel("bytes" if op == "rss" else "ns per op")
        ax.set_title(title, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"growth sweep — {res['machine'].get('cpu')} — {res['generated']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "growth.png", dpi=110)
    plt.close(fig)
    return ["growth.png"]


def main():
    res = json.loads(Path(sys.argv[1]).read_text())
    out = Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("op_*.png"):
        old.unlink()
    made = bar_charts(res, out) + growth_chart(res, out)
    print("\n".join(made))


if __name__ == "__main__":
    main()
