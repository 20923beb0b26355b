"""The tail-stage plot draws what the report holds: one line per notion of rare, from the first stage alone up the
slots, at the seeds' means; a star per seed at its validation-chosen option."""
from __future__ import annotations

from pathlib import Path

from matplotlib.collections import PathCollection

from charts.tail_stage import tail_stage_figure
from charts.writer import save


def test_lines_run_from_the_first_stage_up_the_slots_and_stars_sit_at_each_seeds_choice(tmp_path: Path) -> None:
    def figures(tail: float, recall: float) -> dict[str, dict[str, float]]:
        return {"tail_recall@10": {"mean": tail}, "recall@10": {"mean": recall},
                "valid_rare_recall@10": {"mean": tail + 0.1}, "valid_recall@10": {"mean": recall + 0.1}}

    summary = {"first stage alone": figures(0.01, 0.23), "2 slots, count <= 0": figures(0.09, 0.25),
               "1 slots, count <= 0": figures(0.07, 0.24), "1 slots, count <= 1": figures(0.03, 0.22),
               "validation's choice (per seed)": figures(0.5, 0.5)}
    chosen = {"42": {"tail_recall@10": 0.08, "recall@10": 0.26, "valid_rare_recall@10": 0.2, "valid_recall@10": 0.3}}
    fig = tail_stage_figure(summary, chosen, "t", targets=(0.067, 0.2))
    valid, test = fig.axes
    lines = [(list(line.get_xdata()), list(line.get_ydata())) for line in test.get_lines() if line.get_marker() == "o"]
    assert lines[0] == ([0.01, 0.07, 0.09], [0.23, 0.24, 0.25])   # rare = never trained on, slots 0, 1, 2
    assert lines[1] == ([0.01, 0.03], [0.23, 0.22])               # rare = trained on at most once
    stars = [tuple(xy) for c in test.collections if isinstance(c, PathCollection) for xy in c.get_offsets()]
    assert stars == [(0.08, 0.26)]
    valid_lines = [list(line.get_xdata()) for line in valid.get_lines() if line.get_marker() == "o"]
    assert valid_lines[0] == [0.11, 0.17, 0.19]
    assert save(fig, tmp_path / "tail.png").stat().st_size > 1000
