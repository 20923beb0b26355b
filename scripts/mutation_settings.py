"""Mutants mutmut cannot make: the settings classes' defaults (class attributes, which mutmut 3 leaves alone: it
mutates functions) and the CLI lines that hand those settings to the rules. Each mutant changes one default or one
argument in the working tree, runs the fast tests that read settings, and restores the file (also on Ctrl+C).

    .venv/bin/python scripts/mutation_settings.py [--tests tests/augment/test_settings_wiring.py ...]

Prints one line per mutant (killed / survived) and the score, and writes them to reports/mutation-settings.json
(with the commit and command). Not part of CI (about 20 s per mutant on 2 cores).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ["tests/augment/test_settings_wiring.py", "tests/augment/test_writer_engines.py", "tests/augment/test_units.py",
         "tests/trainer/test_two_stage.py", "tests/test_fidelity_table.py"]
A, D, C = "augment/settings.py", "db/settings.py", "augment/cli.py"
MUTANTS: list[tuple[str, str, str]] = [  # (file, text, replacement): one default or one wiring argument each
    (A, "accept_min_votes: int = 4", "accept_min_votes: int = 5"),
    (A, "review_min_votes: int = 2", "review_min_votes: int = 3"),
    (A, "judge_min_score: int = 3", "judge_min_score: int = 2"),
    (A, "duplicate_threshold: float = 0.85", "duplicate_threshold: float = 0.86"),
    (A, "review_overlap: int = 1", "review_overlap: int = 2"),
    (A, "temperature: float = 0.7 ", "temperature: float = 0.8 "),
    (A, "tail_dialogues: tuple[int, int] = (8, 10)", "tail_dialogues: tuple[int, int] = (8, 9)"),
    (A, "body_dialogues: tuple[int, int] = (4, 5)", "body_dialogues: tuple[int, int] = (3, 5)"),
    (A, "support_k: int = 5", "support_k: int = 6"),
    (A, "w_semantic: float = 0.4", "w_semantic: float = 0.5"),
    (A, "interaction_alpha: float = 1.0", "interaction_alpha: float = 2.0"),
    (A, '"judge-4", "judge-5"]', '"judge-4"]'),
    (A, 'route_policy: Literal["votes", "posterior"] = "votes"', 'route_policy: Literal["votes", "posterior"] = "posterior"'),
    (A, "writer_tries: int = Field(default=3", "writer_tries: int = Field(default=2"),
    (A, 'writer_engine: Literal["auto", "llama.cpp", "transformers"] = "auto"',
     'writer_engine: Literal["auto", "llama.cpp", "transformers"] = "transformers"'),
    (D, 'default=6, alias="LUMICRS_HEAD_MIN"', 'default=5, alias="LUMICRS_HEAD_MIN"'),
    (D, 'default=1, alias="LUMICRS_TAIL_MAX"', 'default=2, alias="LUMICRS_TAIL_MAX"'),
    (C, "accept_min=settings.accept_min_votes,", "accept_min=4,"),
    (C, "review_min=settings.review_min_votes, overlap=settings.review_overlap, limit",
     "review_min=2, overlap=settings.review_overlap, limit"),
    (C, "overlap=settings.review_overlap, limit=limit", "overlap=1, limit=limit"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", nargs="+", default=TESTS)
    args = parser.parse_args()
    killed = 0
    results: list[dict[str, str]] = []
    for number, (file, text, replacement) in enumerate(MUTANTS, 1):
        path = ROOT / file
        original = path.read_text()
        if original.count(text) != 1:
            sys.exit(f"{file}: {text!r} is not there exactly once (update scripts/mutation_settings.py)")
        try:
            path.write_text(original.replace(text, replacement))
            done = subprocess.run([sys.executable, "-m", "pytest", *args.tests, "-x", "-q", "-m", "not slow",
                                   "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True)
        finally:
            path.write_text(original)
        status = "survived" if done.returncode == 0 else "killed"
        killed += status == "killed"
        results.append({"file": file, "text": text, "replacement": replacement, "status": status})
        print(f"{number:2d} {status:8s} {file}: {text} -> {replacement}", flush=True)
    print(f"score: {killed}/{len(MUTANTS)} killed ({killed / len(MUTANTS):.1%})")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from reporting import write_report

    payload = {"tests": args.tests, "mutants": results, "killed": killed}
    print(f"wrote {write_report(ROOT / 'reports' / 'mutation-settings.json', payload)}")


if __name__ == "__main__":
    main()
