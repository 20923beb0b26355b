"""The writer's plots draw what the reports hold: one bar per arm with its label, one group per target set."""
from __future__ import annotations

from pathlib import Path

from charts.writer import CHECKS, checks_figure, save, throughput_figure


def test_throughput_bars_carry_each_arms_rate_and_naming_share(tmp_path: Path) -> None:
    fig = throughput_figure([("one at a time", 8.5, 0.975), ("batched", 71.7, 0.95)])
    ax = fig.axes[0]
    assert [round(p.get_width(), 1) for p in ax.patches] == [8.5, 71.7]
    assert [t.get_text() for t in ax.texts] == [" 8.5/min, names 98%", " 71.7/min, names 95%"]
    assert save(fig, tmp_path / "t.png").stat().st_size > 1000


def test_checks_plot_one_group_per_set_with_intervals(tmp_path: Path) -> None:
    share = {"share": 0.25, "lo": 0.2, "hi": 0.3}
    fig = checks_figure({"ReDial": {key: share for key, _ in CHECKS}, "INSPIRED": {key: share for key, _ in CHECKS}})
    ax = fig.axes[0]
    assert len(ax.patches) == 2 * len(CHECKS) and {round(p.get_height(), 6) for p in ax.patches} == {25.0}
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["ReDial", "INSPIRED"]
    assert save(fig, tmp_path / "c.png").stat().st_size > 1000
