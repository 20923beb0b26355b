"""The tail-aware second stage's trade-off from its report (benchmarks/tail_stage.py): for each notion of "rare"
(train count <= 0 or <= 1), R@10 against Tail-R@10 as the reserved slots grow from 0 to 5 (mean over training
seeds), on validation (rare-in-train rows) and on test (the paper's tail); validation's choice per seed marked."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

PANELS = (("valid_rare_recall@10", "valid_recall@10", "validation: rows whose movie training saw <= once"),
          ("tail_recall@10", "recall@10", "test: the paper's tail rows"))
OPTION = re.compile(r"(\d+) slots, count <= (\d+)")


def curves(summary: Mapping[str, Mapping[str, Any]], x: str, y: str) -> dict[int, list[tuple[int, float, float]]]:
    """max_count -> [(slots, x mean, y mean)] from 0 slots (the first stage alone) up."""
    first = summary["first stage alone"]
    out: dict[int, list[tuple[int, float, float]]] = {}
    for key, figures in summary.items():
        found = OPTION.fullmatch(key)
        if found and x in figures and y in figures:
            out.setdefault(int(found[2]), []).append((int(found[1]), figures[x]["mean"], figures[y]["mean"]))
    return {count: [(0, first[x]["mean"], first[y]["mean"]), *sorted(points)] for count, points in sorted(out.items())}


def tail_stage_figure(summary: Mapping[str, Mapping[str, Any]], chosen: Mapping[str, Mapping[str, Any]],
                      title: str, targets: tuple[float, float] | None = None) -> Figure:
    """`chosen`: each seed's validation-chosen option's figures (seed -> figures); `targets`: (tail, R@10) lines."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (x, y, label) in zip(axes, PANELS, strict=True):
        for count, points in curves(summary, x, y).items():
            ax.plot([p[1] for p in points], [p[2] for p in points], marker="o",
                    label=f"rare: trained on <= {count} time{'s' if count != 1 else ''}")
            for slots, px, py in points:
                ax.annotate(str(slots), (px, py), textcoords="offset points", xytext=(4, 4), fontsize=8)
        picked = [(float(f[x]), float(f[y])) for f in chosen.values() if f.get(x) is not None]
        ax.scatter([p[0] for p in picked], [p[1] for p in picked], marker="*", s=140, color="#d62728", zorder=4,
                   label="validation's choice (a seed)")
        if targets and x == "tail_recall@10":
            ax.axvline(targets[0], color="#999", linestyle="--", linewidth=1)
            ax.axhline(targets[1], color="#999", linestyle="--", linewidth=1)
        ax.set_xlabel("Tail-R@10" if x == "tail_recall@10" else "R@10 on rare-in-train rows")
        ax.set_ylabel("R@10")
        ax.set_title(label, fontsize=10)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
