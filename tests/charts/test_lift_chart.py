"""The lift plot draws what the report holds: a bar per arm at its seeds' mean, a dot per seed."""
from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.collections import PathCollection

from charts.lift import FIGURES, lift_figure
from charts.writer import save


def test_one_bar_per_arm_at_the_seed_mean_and_one_dot_per_seed(tmp_path: Path) -> None:
    def report(value: float) -> dict[str, float]:
        return {key: value for key, _ in FIGURES} | {f"{key}_lo": value - 0.01 for key, _ in FIGURES} | \
            {f"{key}_hi": value + 0.01 for key, _ in FIGURES}

    runs = {"none | seed 42": {"test": report(0.10)}, "none | seed 1": {"test": report(0.20)},
            "local-writer | seed 42": {"test": report(0.30)}}
    fig = lift_figure(runs, [("none", "no augmentation"), ("local-writer", "writer")], "t")
    for ax in fig.axes:
        assert [round(p.get_height(), 6) for p in ax.patches] == [pytest.approx(0.15), pytest.approx(0.30)]
        dots = [tuple(xy) for c in ax.collections if isinstance(c, PathCollection) for xy in c.get_offsets()]
        assert sorted(round(y, 6) for _, y in dots) == [0.1, 0.2, 0.3]
        assert [t.get_text() for t in ax.get_xticklabels()] == ["no augmentation", "writer"]
    assert save(fig, tmp_path / "lift.png").stat().st_size > 1000


def test_runs_with_a_second_stage_get_a_hatched_bar_at_the_first_stage_mean() -> None:
    runs = {"none | seed 42": {"test": {key: 0.2 for key, _ in FIGURES}, "first_stage": {key: 0.1 for key, _ in FIGURES}},
            "none | seed 1": {"test": {key: 0.4 for key, _ in FIGURES}, "first_stage": {key: 0.3 for key, _ in FIGURES}},
            "local-writer | seed 42": {"test": {key: 0.5 for key, _ in FIGURES},
                                       "first_stage": {key: 0.5 for key, _ in FIGURES}}}
    fig = lift_figure(runs, [("none", "no augmentation"), ("local-writer", "writer")], "t")
    for ax in fig.axes:
        bars = [(round(p.get_x() + p.get_width() / 2, 6), round(p.get_height(), 6), bool(p.get_hatch()))
                for p in ax.patches]
        assert bars == [(0.0, 0.3, False), (0.35, 0.2, True), (1.0, 0.5, False), (1.35, 0.5, True)]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "with the second stage", "the model's own ranking"]
