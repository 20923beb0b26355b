"""The writer's figures from its benchmark reports: throughput per arm, and the reviewer checks per target set."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

CHECKS = (("names_target", "names the target"), ("request_agrees", "request fits genres/people"),
          ("request_contradicts", "request contradicts"), ("role_error", "role error"),
          ("repeats_a_turn", "repeats a turn"), ("self_contradiction", "self-contradiction"),
          ("wrong_year", "wrong year"))


def throughput_figure(arms: Sequence[tuple[str, float, float]]) -> Figure:
    """arms: (label, dialogues per minute, share naming the target)."""
    fig, ax = plt.subplots(figsize=(8, 3.2))
    labels = [label for label, _, _ in arms]
    bars = ax.barh(labels, [rate for _, rate, _ in arms], color="#1f77b4")
    for bar, (_, rate, named) in zip(bars, arms, strict=True):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {rate:.1f}/min, names {named:.0%}",
                va="center")
    ax.set(xlabel="dialogues per minute (2 CPU cores)", title="Dialogue writer throughput")
    ax.set_xlim(0, max(rate for _, rate, _ in arms) * 1.6)
    ax.invert_yaxis()
    fig.tight_layout()
    return fig


def checks_figure(sets: Mapping[str, Mapping[str, Any]],
                  title: str = "Writer dialogues: what a reviewer checks (95% Wilson)") -> Figure:
    """sets: target set -> {check: {"share", "lo", "hi"}}; grouped bars with 95% intervals."""
    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.8 / max(len(sets), 1)
    for k, (name, checks) in enumerate(sets.items()):
        xs = [i + (k - (len(sets) - 1) / 2) * width for i in range(len(CHECKS))]
        values = [checks[key]["share"] * 100 for key, _ in CHECKS]
        errors = [[(checks[key]["share"] - checks[key]["lo"]) * 100 for key, _ in CHECKS],
                  [(checks[key]["hi"] - checks[key]["share"]) * 100 for key, _ in CHECKS]]
        ax.bar(xs, values, width, yerr=errors, capsize=2, label=name)
    ax.set_xticks(range(len(CHECKS)), [label for _, label in CHECKS], rotation=20, ha="right")
    ax.set(ylabel="% of dialogues", ylim=(0, 100), title=title)
    ax.legend()
    fig.tight_layout()
    return fig


def save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
