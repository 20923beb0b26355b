"""The writer's plots in docs/img/ from its committed reports (no model is run):

    python benchmarks/writer_plots.py

docs/img/writer-throughput.png from reports/writer-throughput.json (+ writer-throughput-200.json), and
docs/img/writer-checks.png from reports/writer-checks-{redial,inspired,cold-start}.json (benchmarks/writer_quality.py
--batched --no-checks: the naming rule alone), docs/img/writer-checks-reviewer-rule.png from
reports/writer-checks-<set>-reviewer-rule.json (the writer's tries accepted by the reviewer checks, the default now).
A missing report is named and skipped.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from charts.writer import checks_figure, save, throughput_figure  # noqa: E402

REPORTS = Path(__file__).resolve().parents[1] / "reports"
IMAGES = Path(__file__).resolve().parents[1] / "docs" / "img"
ARMS = (("one", "one at a time, llama.cpp"), ("llama-batched", "batched, llama.cpp (16)"),
        ("batched", "batched, transformers (32)"))
SETS = (("redial", "ReDial body/tail"), ("inspired", "INSPIRED body/tail"), ("cold-start", "ReDial cold-start"))


def load(name: str) -> dict | None:
    path = REPORTS / name
    if not path.exists():
        print(f"writer_plots: {path} missing, skipped", file=sys.stderr)
        return None
    return json.loads(path.read_text())


def checks_sets(suffix: str) -> dict[str, dict]:
    """Target set label -> its checks and naming share, from reports/writer-checks-<set><suffix>.json."""
    sets = {}
    for key, label in SETS:
        report = load(f"writer-checks-{key}{suffix}.json")
        if report:
            writer = report["writer"]
            sets[f"{label} ({writer['dialogues']})"] = {**writer["checks"], "names_target": writer["names_target"]}
    return sets


def main() -> None:
    forty, two_hundred = load("writer-throughput.json"), load("writer-throughput-200.json")
    arms = [(f"{label}, {forty['prototypes']} prototypes", forty[key]["dialogues_per_min"],
             forty[key]["names_target"]["rate"]) for key, label in ARMS if forty and key in forty]
    if two_hundred and "batched" in two_hundred:
        arms.append((f"batched, transformers (32), {two_hundred['prototypes']} prototypes",
                     two_hundred["batched"]["dialogues_per_min"], two_hundred["batched"]["names_target"]["rate"]))
    if arms:
        print(save(throughput_figure(arms), IMAGES / "writer-throughput.png"))
    sets = checks_sets("")
    if sets:
        print(save(checks_figure(sets), IMAGES / "writer-checks.png"))
    checked = checks_sets("-reviewer-rule")
    if checked:
        print(save(checks_figure(checked, "Writer dialogues, tries accepted by the reviewer checks (95% Wilson)"),
                   IMAGES / "writer-checks-reviewer-rule.png"))

if __name__ == "__main__":
    main()
