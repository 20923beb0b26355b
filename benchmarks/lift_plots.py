"""The augmentation lift's plot in docs/img/ from its committed report (nothing is trained):

    python benchmarks/lift_plots.py [--dataset inspired]

docs/img/lift-<dataset>.png from reports/augmentation_lift[-<dataset>].json (benchmarks/augmentation_lift.py): per
arm, Tail-R@10, Unseen-R@10, R@10 and novel R@10, the bar at the mean over training seeds, a dot per seed, the first
seed's 95% bootstrap interval as a whisker.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from charts.lift import lift_figure  # noqa: E402
from charts.writer import save  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LABELS = {"none": "no augmentation", "baseline-random": "+ random", "baseline-template": "+ template",
          "local-writer": "+ writer", "llm": "+ LLM"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["redial", "inspired"], default="redial")
    args = parser.parse_args()
    name = "augmentation_lift.json" if args.dataset == "redial" else f"augmentation_lift-{args.dataset}.json"
    report = json.loads((ROOT / "reports" / name).read_text())
    setup = report["setup"]
    arms = [(arm, LABELS.get(arm, arm)) for arm in LABELS if any(k.startswith(f"{arm} |") for k in report["runs"])]
    per_movie = setup["per_movie"]
    title = (f"Augmentation lift, {args.dataset}: {sum(setup['prototypes'].values())} movies "
             f"({setup['prototypes'].get('cold-start', 0)} cold-start), {per_movie} dialogues each; mean of seeds")
    print(save(lift_figure(report["runs"], arms, title), ROOT / "docs" / "img" / f"lift-{args.dataset}.png"))


if __name__ == "__main__":
    main()
