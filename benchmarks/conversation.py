"""The conversation module on ReDial or INSPIRED test, beside LumiCRS Table 6.

    DATABASE_URL=sqlite:///bench.db python benchmarks/conversation.py --dataset redial [--turns 200] [--steps 300]
        [--engine auto|llama.cpp|transformers] [--recommender RUN] [--reuse]

Protocol: a seeded sample of `--turns` recommender utterances of the test split (not a dialogue's first), the same
sample for every system; each system writes one response per turn given the utterances before it (the newest
`max_context_turns`) and a movie. Systems: the retrieval baseline (the training recommender turn with the most
similar last two turns, its titles replaced by the movie), the packaged base model without fine-tuning, and the
LoRA fine-tuned model, all with the movie our recommender ranks first (the shipped ACFL run, trained here if the
database lacks it, or --recommender), and the fine-tuned model with the oracle movie (the one the human named); the
language models generate greedily on llama.cpp when installed (--engine). References and responses are compared
twice: as our corpus has them (one reference utterance, titles in place of ReDial's @ids) and under UniCRS's
processing (trainer.unicrs_processing.unicrs_response_rows: consecutive messages of one sender merged into one reference
turn, one response per merged turn, titles masked as <movie> in both texts), the processing behind LumiCRS Table 6's
bleu@n and dist@n. dist@n grows as the sample shrinks: only a full-split figure is comparable.
Metrics: ours (corpus BLEU-2/3, ROUGE-2/L F1, Distinct-n as a ratio) and UniCRS's definitions (bleu@n: n-gram
precision times brevity penalty per response, averaged; dist@n: distinct n-grams per response), which is how the
paper's table reads. Intervals: 1,000 bootstrap resamples of test conversations. Nothing is chosen on test: the
training budget is fixed in the config. Writes reports/conversation-<dataset>.json.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from recommendation import ensure_dataset  # benchmarks/recommendation.py
from reporting import write_report
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.engine import make_engine, make_session_factory, write_transaction
from db.models import TrainingRun
from db.queries.responses import delete_responses, response_rows
from db.queries.runs import get_run_or_raise, run_metrics
from db.settings import get_settings
from trainer.config import ResponderConfig, load_config, read_config
from trainer.conversation_run import RETRIEVAL, answer_split, train_responder
from trainer.metrics import (
    bleu_from_statistics,
    bleu_statistics,
    generation_report,
    rouge_l,
    unicrs_bleu_row,
)
from trainer.run import run
from trainer.unicrs_processing import unicrs_response_rows

ROOT = Path(__file__).resolve().parents[1]
PAPER = {"redial": {"LumiCRS (paper)": {"unicrs_bleu@2": 0.058, "unicrs_dist@4": 1.710}},
         "inspired": {"LumiCRS (paper)": {"unicrs_bleu@2": 0.044}}}
SHOWN = ("bleu-2", "bleu-3", "rouge-2", "rouge-l", "distinct-2", "distinct-4", "unicrs_bleu@2", "unicrs_bleu@3",
         "unicrs_dist@2", "unicrs_dist@3", "unicrs_dist@4")
# no interval for the distinct-n metrics: a resample repeats responses, which a distinct count penalises, so the
# percentile interval would not even contain the estimate
WITH_INTERVAL = ("bleu-2", "rouge-l", "unicrs_bleu@2")


def finished(factory: sessionmaker[Session], name: str) -> bool:
    with factory() as session:
        return session.scalar(select(TrainingRun.status).where(TrainingRun.name == name)) == "finished"


def training_budget(factory: sessionmaker[Session], name: str) -> dict[str, object]:
    """What a responder run cost and reached, as stored with the run."""
    with factory() as session:
        run_row = get_run_or_raise(session, name)
        return {"device": run_row.device, **run_metrics(session, run_row.id, "train").get("train", {})}


def recommender_run(factory: sessionmaker[Session], dataset: str) -> str:
    cfg = load_config(ROOT / "configs" / f"{dataset}_acfl.yaml")
    if not finished(factory, cfg.name):
        run(cfg, factory)
    return cfg.name


def scores_with_intervals(rows: list[tuple[int, str, str]], n_boot: int, seed: int) -> dict[str, float]:
    """generation_report on the rows, with 95% intervals from resampling whole conversations. The resamples reuse
    per-row statistics (BLEU-2's clipped counts and lengths, ROUGE-L and bleu@2 per row), so a draw is a sum, not a
    re-scoring of every text: the same figures, in seconds instead of minutes."""
    report = generation_report([h for _, h, _ in rows], [r for _, _, r in rows])
    per_row = {"bleu-2": np.array([bleu_statistics(h, r, 2) for _, h, r in rows], dtype=float),
               "rouge-l": np.array([rouge_l(h, r) for _, h, r in rows]),
               "unicrs_bleu@2": np.array([unicrs_bleu_row(h, r, 2) for _, h, r in rows])}
    by_conv: dict[int, list[int]] = {}
    for i, (conv, _, _) in enumerate(rows):
        by_conv.setdefault(conv, []).append(i)
    groups = list(by_conv.values())
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {k: [] for k in WITH_INTERVAL}
    for _ in range(n_boot):
        picked = [i for g in rng.integers(0, len(groups), len(groups)) for i in groups[g]]
        draws["bleu-2"].append(bleu_from_statistics(per_row["bleu-2"][picked].sum(axis=0), 2))
        draws["rouge-l"].append(float(per_row["rouge-l"][picked].mean()))
        draws["unicrs_bleu@2"].append(float(per_row["unicrs_bleu@2"][picked].mean()))
    for k, values in draws.items():
        report[f"{k}_lo"], report[f"{k}_hi"] = (float(v) for v in np.percentile(values, [2.5, 97.5]))
    report["responses"], report["conversations"] = float(len(rows)), float(len(groups))
    return report


def cell(report: dict[str, float], key: str) -> str:
    if key not in report:
        return "-"
    if f"{key}_lo" in report:
        return f"{report[key]:.3f} [{report[f'{key}_lo']:.3f}, {report[f'{key}_hi']:.3f}]"
    return f"{report[key]:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=["redial", "inspired"], default="redial")
    parser.add_argument("--turns", type=int, default=200, help="test recommender turns answered by every system")
    parser.add_argument("--steps", type=int, help="override the config's fine-tuning steps")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--reuse", action="store_true", help="keep finished responder runs and written responses")
    parser.add_argument("--engine", choices=["auto", "llama.cpp", "transformers"], default="auto",
                        help="the fine-tuned and base models' generation engine (auto: llama.cpp when installed)")
    parser.add_argument("--recommender", help="a finished recommender run for the predicted item (default: the shipped "
                                              "ACFL config's run, trained when missing)")
    args = parser.parse_args()
    url = get_settings().database_url
    ensure_dataset(url, args.dataset)
    factory = make_session_factory(make_engine(url))
    recommender = args.recommender or recommender_run(factory, args.dataset)
    shipped = read_config(ROOT / "configs" / f"{args.dataset}_conversation.yaml", ResponderConfig)
    tuned = shipped.model_copy(update={"steps": args.steps}) if args.steps is not None else shipped
    base = tuned.model_copy(update={"name": f"{tuned.name}-base", "steps": 0})
    for cfg in (base, tuned):
        if not (args.reuse and finished(factory, cfg.name)):
            train_responder(cfg, factory)
    budget = {cfg.name: training_budget(factory, cfg.name) for cfg in (base, tuned)}
    systems = {"retrieval (predicted item)": (RETRIEVAL, "predicted"), "base model (predicted item)": (base.name, "predicted"),
               "fine-tuned (predicted item)": (tuned.name, "predicted"), "fine-tuned (oracle item)": (tuned.name, "oracle")}
    reports: dict[str, dict[str, float]] = {}
    unicrs: dict[str, dict[str, float]] = {}
    engines: dict[str, str] = {}
    for label, (run_name, item) in systems.items():
        system = f"bench:{run_name}:{item}"
        if not args.reuse:
            with write_transaction(factory) as session:
                delete_responses(session, system)
        started = time.perf_counter()
        summary = answer_split(factory, run_name, dataset=args.dataset, split="test", item=item,
                               recommender=recommender, limit=args.turns, seed=0, overlap=3, system=system,
                               engine=args.engine)
        seconds = time.perf_counter() - started
        engines[label] = summary.engine
        with factory() as session:
            rows = response_rows(session, system)
            unicrs_rows = unicrs_response_rows(session, system)
        reports[label] = {**scores_with_intervals(rows, args.bootstrap, seed=0), "seconds": seconds}
        unicrs[label] = scores_with_intervals(unicrs_rows, args.bootstrap, seed=0)
    for title, tables in ((f"{args.turns} recommender turns as our corpus has them", reports),
                          ("the same responses under UniCRS's processing (merged turns, titles as <movie>)", unicrs)):
        table = Table(title=f"{args.dataset} test, {title} (95% intervals over conversations)")
        for col in ("system", *SHOWN):
            table.add_column(col)
        for label, report in {**tables, **PAPER[args.dataset]}.items():
            table.add_row(label, *(cell(report, k) for k in SHOWN))
        Console().print(table)
    out = ROOT / "reports" / f"conversation-{args.dataset}.json"
    out.parent.mkdir(exist_ok=True)
    write_report(out, {"dataset": args.dataset, "turns": args.turns, "recommender": recommender, "engines": engines,
                       "training": budget, "systems": reports, "unicrs_processing": unicrs,
                       "paper": PAPER[args.dataset]})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
