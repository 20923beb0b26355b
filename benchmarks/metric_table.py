"""The paper's full metric set (LumiCRS Tables 4, 5 and 8) for stored runs, beside the paper's own figures.

    DATABASE_URL=sqlite:///bench.db python benchmarks/metric_table.py RUN [RUN ...] [--dataset redial]

Reads each run's stored test metrics (no training): R@1/10/50, NDCG@10/50, MRR@10/50, Tail-R@1/10/50,
Coverage@10/50, ILD@10/50 and PWP@10, standard protocol, every movie of the dataset ranked. A run evaluated before
ILD@50 existed shows n/a there: `lumicrs evaluate RUN` re-evaluates its checkpoint. Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import sys

from db.cli_support import cli_session_factory
from db.errors import NotFound
from db.queries.runs import get_run_or_raise, run_metrics

COLUMNS = {"R@1": "recall@1", "R@10": "recall@10", "R@50": "recall@50", "NDCG@10": "ndcg@10", "NDCG@50": "ndcg@50",
           "MRR@10": "mrr@10", "MRR@50": "mrr@50", "Tail-R@1": "tail_recall@1", "Tail-R@10": "tail_recall@10",
           "Tail-R@50": "tail_recall@50", "Cov@10": "coverage@10", "Cov@50": "coverage@50", "ILD@10": "ild@10",
           "ILD@50": "ild@50", "PWP@10": "pwp@10"}
PAPER = {"redial": [0.088, 0.286, 0.495, 0.173, 0.220, 0.139, 0.149, 0.024, 0.067, 0.114, 0.260, 0.370, 0.170,
                    0.200, 0.045],
         "inspired": [0.104, 0.274, 0.466, 0.179, 0.212, 0.150, 0.160, 0.022, 0.062, 0.105, 0.255, 0.367, 0.201,
                      0.209, None]}


def row(label: str, values: list[float | None]) -> str:
    return f"| {label} | " + " | ".join("n/a" if v is None else f"{v:.3f}" for v in values) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--dataset", choices=list(PAPER), default="redial")
    args = parser.parse_args()
    with cli_session_factory()() as session:
        try:  # every run looked up before the first line is printed: a wrong name leaves no half table
            found = {name: run_metrics(session, get_run_or_raise(session, name).id, "test").get("test", {})
                     for name in args.runs}
        except NotFound as exc:
            sys.exit(f"metric_table.py: {exc}")
    print("| run | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for name, metrics in found.items():
        print(row(name, [metrics.get(key) for key in COLUMNS.values()]))
    print(row(f"LumiCRS (paper, {args.dataset})", list(PAPER[args.dataset])))


if __name__ == "__main__":
    main()
