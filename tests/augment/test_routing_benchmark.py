"""benchmarks/routing.py runs the app's routing code on a small simulated panel and ends with the promised line."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_routing_benchmark_ends_with_the_labels_saved_line() -> None:
    result = subprocess.run([sys.executable, "benchmarks/routing.py", "--seeds", "2", "--candidates", "1500",
                             "--batch", "500"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("simulated panel: 1500 candidates x 2 seeds")
    assert any(line.startswith("votes: human labels:") for line in lines)
    assert re.fullmatch(r"labels saved at equal precision: -?\d+% \[-?\d+%, -?\d+%\]"
                        r"|labels saved at equal precision: none \(.*\)", lines[-1])
