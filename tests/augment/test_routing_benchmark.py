"""benchmarks/routing.py runs the app's routing code on small simulated panels and ends with the promised line; its
panels have the stated properties and its outcome figures are pinned by hand."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import routing as bench  # noqa: E402


def test_routing_benchmark_ends_with_the_labels_saved_line() -> None:
    result = subprocess.run([sys.executable, "benchmarks/routing.py", "--seeds", "2", "--tune-seeds", "1",
                             "--candidates", "1500", "--batch", "500", "--panels", "independent,all three"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("simulated panels: 1500 candidates x 2 reported seeds (1 tuning seeds)")
    assert any(line.startswith("[all three] votes: human labels:") and "good discarded" in line for line in lines)
    assert any(re.match(r"\[independent\] EM: (converged in all \d+ fits|stopped at its iteration cap)", line)
               for line in lines)
    assert any(line.startswith("[all three] reported seeds 1000-1001") for line in lines)  # never the tuning seeds
    assert re.fullmatch(r"labels saved at equal precision: (-?\d+% \[-?\d+%, -?\d+%\]|none \(.*\)) "
                        r"\(independent panel\)", lines[-1])


def test_an_unknown_panel_is_one_line_and_exit_2() -> None:
    result = subprocess.run([sys.executable, "benchmarks/routing.py", "--panels", "independent,hard"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--panels: unknown panel hard; choose from independent" in result.stderr


def test_the_panels_have_their_stated_properties() -> None:
    n = 20000
    votes, truth = bench.simulate(7, n, bench.PANELS["all three"])
    assert truth.mean() == pytest.approx(0.3, abs=0.01)
    cells = [v for row in votes for v in row.values()]
    assert sum(v is None for v in cells) / len(cells) == pytest.approx(0.1, abs=0.005)
    # misleading candidates: judge-1 (se .90, sp .85) passes a good one with .85 * .90 + .15 * .15 = .7875
    good = [row["judge-1"] for row, t in zip(votes, truth, strict=True) if t and row["judge-1"] is not None]
    assert np.mean(good) == pytest.approx(0.85 * 0.90 + 0.15 * 0.15, abs=0.015)
    plain, plain_truth = bench.simulate(7, n, bench.PANELS["independent"])
    errors = np.array([[row[j] != t for j in ("judge-1", "judge-2")]
                       for row, t in zip(plain, plain_truth, strict=True)])
    both = np.array([[row[j] != t for j in ("judge-1", "judge-2")] for row, t in zip(votes, truth, strict=True)
                     if None not in (row["judge-1"], row["judge-2"])])
    assert abs(np.corrcoef(errors.T)[0, 1]) < 0.05 < 0.3 < np.corrcoef(both.T)[0, 1]  # shared errors correlate


def test_outcome_counts_yield_and_good_discarded_by_hand() -> None:
    truth = np.array([True, True, True, True, False, False])
    routes = ["auto_accepted", "needs_review", "discarded", "discarded", "auto_accepted", "needs_review"]
    result = bench.outcome(routes, truth)
    # approved: 0 (auto), 1 (human, good), 4 (auto, bad); the bad one under review is rejected
    assert (result.labels, result.approved) == (2, 3)
    assert result.precision == pytest.approx(2 / 3)
    assert result.yield_ == pytest.approx(2 / 4) and result.good_discarded == pytest.approx(2 / 4)
    # a bad candidate discarded is no loss: good discarded counts the good ones only
    mixed = bench.outcome(["discarded", "discarded", "auto_accepted"], np.array([True, False, True]))
    assert mixed.good_discarded == pytest.approx(1 / 2) and mixed.yield_ == pytest.approx(1 / 2)
    assert bench.votes_arm([{"a": True, "b": None, "c": True, "d": True, "e": True}], np.array([True])).approved == 1
    assert bench.votes_arm([{"a": True, "b": None, "c": None, "d": True, "e": None}], np.array([True])).labels == 1
