"""The tail-aware second stage's plot in docs/img/ from its committed report (nothing is trained):

    python benchmarks/tail_stage_plots.py [--dataset inspired] [--report inspired_acfl]

docs/img/tail-stage-<dataset>.png from reports/tail-stage-<dataset>.json (benchmarks/tail_stage.py): R@10 against
the tail's recall as the reserved slots grow (numbers beside the points), validation and test, each seed's
validation-chosen option as a star; on ReDial the issue's targets as dashed lines.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from charts.tail_stage import tail_stage_figure  # noqa: E402
from charts.writer import save  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["redial", "inspired"], default="redial")
    parser.add_argument("--report", default=None, help="another report's name (tail-stage-NAME.json; default: dataset)")
    args = parser.parse_args()
    name = args.report or args.dataset
    report = json.loads((ROOT / "reports" / f"tail-stage-{name}.json").read_text())
    chosen = {seed: {**s["options"][s["chosen"]]} for seed, s in report["seeds"].items()}
    title = (f"Tail-aware second stage, {args.dataset} ({report['config']}): mean of {len(chosen)} training seeds")
    targets = (0.067, 0.20) if args.dataset == "redial" else None
    print(save(tail_stage_figure(report["summary"], chosen, title, targets),
               ROOT / "docs" / "img" / f"tail-stage-{name}.png"))


if __name__ == "__main__":
    main()
