"""The augmentation lift's figure from its report (benchmarks/augmentation_lift.py): per arm, each primary figure's
mean over training seeds as a bar, every seed as a dot, and the first seed's 95% bootstrap interval as a whisker.
Runs that chose a tail-aware second stage also carry the model's own ranking (`first_stage`): a hatched bar at its
mean beside the arm's bar."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

FIGURES = (("tail_recall@10", "Tail-R@10"), ("unseen_recall@10", "Unseen-R@10"), ("recall@10", "R@10"),
           ("novel_recall@10", "novel R@10"))


def seeds_of(runs: Mapping[str, Mapping[str, Any]], arm: str, part: str = "test") -> list[Mapping[str, Any]]:
    """The arm's runs' test reports (`part` "first_stage": the model's own ranking, where a run has it), in the order
    they were written (run keys: '<arm> | seed <n>')."""
    return [r[part] for key, r in runs.items() if key.split(" | ")[0] == arm and part in r]


def lift_figure(runs: Mapping[str, Mapping[str, Any]], arms: Sequence[tuple[str, str]], title: str) -> Figure:
    """arms: (report key, label); one panel per figure of FIGURES."""
    fig, axes = plt.subplots(1, len(FIGURES), figsize=(12, 3.6))
    staged = any("first_stage" in r for r in runs.values())
    for ax, (key, label) in zip(axes, FIGURES, strict=True):
        for x, (arm, _) in enumerate(arms):
            tests = [t for t in seeds_of(runs, arm) if t.get(key) is not None]
            if not tests:
                continue
            values = [float(t[key]) for t in tests]
            first = tests[0]
            low, high = first.get(f"{key}_lo"), first.get(f"{key}_hi")
            ax.bar(x, sum(values) / len(values), 0.6, color="#9ecae1",
                   label="with the second stage" if staged and x == 0 else None)
            own = [float(t[key]) for t in seeds_of(runs, arm, "first_stage") if t.get(key) is not None]
            if staged and own:
                ax.bar(x + 0.35, sum(own) / len(own), 0.2, color="white", edgecolor="#08519c", hatch="///",
                       label="the model's own ranking" if x == 0 else None)
            if low is not None and high is not None:
                ax.errorbar(x, values[0], yerr=[[values[0] - low], [high - values[0]]], fmt="none", ecolor="#555",
                            capsize=3)
            ax.scatter([x] * len(values), values, color="#08519c", s=12, zorder=3)
        ax.set_xticks(range(len(arms)), [a_label for _, a_label in arms], rotation=25, ha="right")
        ax.set_title(label)
    if staged:
        axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
