"""Recommendation on ReDial or INSPIRED under both protocols, with 95% intervals, beside the papers' figures.

    DATABASE_URL=sqlite:///bench.db python benchmarks/recommendation.py --dataset redial [--epochs 20] [--only NAME]
    ... --seeds 42 1 2     the shipped config once per training seed, then the spread (mean, range) of its figures
    ... --reuse            read back finished runs of the same config (e.g. learning_curve.py's 100% runs)
    ... --config PATH      --seeds / --ablation around another config (e.g. configs/inspired_acfl_frozen.yaml)

Protocol (trainer/evaluation.py): one row per (recommender turn, mentioned movie) after merging consecutive
messages of one sender; every movie of the dataset's list is ranked (ReDial 6,924); standard = repeats kept,
novel = targets already in the context dropped and context movies removed from the ranking. Intervals: 1,000
bootstrap resamples of test conversations. Tail = the paper's definition (one mention in the whole corpus);
unseen = never mentioned in the training split. Validation: 10% of train conversations (ReDial) or the official
dev split (INSPIRED); nothing is chosen on test. Ingests the dataset from LUMICRS_DATA_DIR if missing.
Writes reports/recommendation-<dataset>.json.
"""
from __future__ import annotations

import argparse
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reporting import over_seeds, write_report
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from db.engine import make_engine, make_session_factory, write_transaction
from db.errors import NotFound
from db.ingest.service import ingest_corpus
from db.migrate import upgrade_database
from db.queries.longtail import get_dataset_or_raise
from db.settings import get_settings
from trainer.config import ACFL_AS_WRITTEN, TrainConfig, load_config, with_changes
from trainer.evaluation import Report
from trainer.run import finished_run_name, read_test_figures, run, stored_split_metrics

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PAPER = {"redial": {"Popularity": (0.011, 0.053, 0.183, None), "UniCRS": (0.065, 0.241, 0.423, None),
                    "DCRS": (0.076, 0.253, 0.439, None), "LumiCRS": (0.088, 0.286, 0.495, 0.067)},
         "inspired": {"LumiCRS": (0.104, 0.274, 0.466, 0.062)}}


def ensure_dataset(url: str, dataset: str) -> None:
    upgrade_database(url)
    factory = make_session_factory(make_engine(url))
    with factory() as session:
        try:
            get_dataset_or_raise(session, dataset)
            return
        except NotFound:
            pass
    with write_transaction(factory) as session:
        ingest_corpus(session, dataset, get_settings().data_dir / dataset)


def configs(dataset: str, epochs: int | None) -> list[TrainConfig]:
    shipped = shipped_config(dataset)
    popularity = load_config(CONFIGS / f"{dataset}_popularity.yaml")
    out = [popularity]
    if dataset == "redial":
        out.append(shipped.model_copy(update={"name": f"{dataset}-ce-prior", "loss": "ce"}))
    out.append(shipped)
    out.extend(load_config(variant) for variant in sorted(CONFIGS.glob(f"{dataset}_acfl_*.yaml")))  # frozen / fine-tuned
    return [c.model_copy(update={"epochs": epochs}) if epochs and c.model != "popularity" else c for c in out]


ABLATION: dict[str, dict[str, object]] = {  # LumiCRS Tables 7-8 in this project's terms; each row changes one switch
    "full model": {},
    "loss: CE": {"loss": "ce"},
    "w/o knowledge graph": {"kg": False},
    "w/o prototypes": {"n_prototypes": 0},
    "loss: paper ACFL as written": ACFL_AS_WRITTEN,
    "loss: rarity_focal (ours)": {"loss": "rarity_focal"},
    "loss: focal": {"loss": "focal"},
    "prototypes: random, frozen": {"prototype_init": "random", "freeze_prototypes": True},
    "prototypes: KMeans, frozen": {"freeze_prototypes": True},
    "w/o linked context entities": {"kg_link_entities": False},
    # configs/redial_acfl_finetune.yaml: MiniLM trained with the recommender after the head (README "Fine-tuned ...")
    "encoder: fine-tuned": {"finetune_encoder": True, "finetune_epochs": 1, "encoder_lr": 1e-4},
    # additions tried toward the targets (off in the shipped config unless validation chose them)
    "+ repeat gate": {"repeat_gate": True},
    "+ seeker targets": {"seeker_targets": True},
}


def shipped_config(dataset: str, path: Path | None = None) -> TrainConfig:
    return load_config(path or CONFIGS / f"{dataset}_acfl.yaml")


def ablation_configs(dataset: str, epochs: int | None, base: Path | None = None) -> list[TrainConfig]:
    full = shipped_config(dataset, base)
    out = []
    for label, change in ABLATION.items():
        changed = with_changes(full, change)
        if change and changed == full:
            continue  # the base already has it (the shipped ReDial config has seeker targets): nothing to train
        name = f"{full.name}-ablation-" + re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
        out.append(changed.model_copy(update={"name": name[:120], **({"epochs": epochs} if epochs else {})}))
        LABELS[out[-1].name] = label
    return out


LABELS: dict[str, str] = {}


def seed_configs(dataset: str, seeds: list[int], epochs: int | None, base: Path | None = None) -> list[TrainConfig]:
    """The shipped config (or `base`) once per training seed (the seed drives initialisation, batch order,
    prototypes' KMeans and the validation split's draw of the ReDial train conversations: the test split never
    changes)."""
    shipped = shipped_config(dataset, base)
    out = [shipped.model_copy(update={"seed": seed, "name": f"{shipped.name}-seed-{seed}"}) for seed in seeds]
    return [c.model_copy(update={"epochs": epochs}) for c in out] if epochs else out


SPREAD = ("recall@1", "recall@10", "recall@50", "tail_recall@10", "novel_recall@10", "coverage@10")


def seed_spread(reports: list[Report]) -> dict[str, dict[str, float]]:
    """Mean, min, max and sample standard deviation over the seeds of each headline figure."""
    out = {}
    for key in SPREAD:
        values = [float(m[key]) for m in reports if m.get(key) is not None]
        if values:
            out[key] = over_seeds(values, sd=True)
    return out


def stage_figures(factory: sessionmaker[Session], name: str, staged: Report) -> dict[str, Any]:
    """Which second stage validation chose for a finished run (`tail_stage_slots`: None or 0, none), the trained
    model's own test ranking beside it (`first_stage`: the test figures themselves when no slot was chosen), and the
    validation figures every choice was made on (`valid`: the hold-out's rows and the headline figures)."""
    valid = stored_split_metrics(factory, name, "valid")
    slots = valid.get("tail_stage_slots")
    first = read_test_figures(name, factory, first_stage=True) if slots else staged
    return {"tail_stage_slots": slots, "first_stage": headline(first), "valid": headline(valid, "rows")}


def headline(figures: Mapping[str, float | None], *also: str) -> Report:
    return {key: figures[key] for key in (*SPREAD, *also) if figures.get(key) is not None}


def spread_table(title: str, results: dict[str, tuple[Report, float | None]], spread: dict[str, dict[str, float]]) -> Table:
    table = Table(title=f"{title} over {len(results)} training seeds")
    for col in ("figure", "mean", "range", "sd", *results):
        table.add_column(col)
    for key, row in spread.items():
        table.add_row(key, f"{row['mean']:.3f}", f"{row['min']:.3f}-{row['max']:.3f}", f"{row['sd']:.3f}",
                      *(cell(m, key) for m, _ in results.values()))
    return table


def ablation_table(dataset: str, results: dict[str, tuple[Report, float | None]],
                   valid: Mapping[str, Report]) -> Table:
    table = Table(title=f"{dataset} ablation (test; each row trained with early stopping on validation)")
    for col in ("row", "valid R@10", "R@10", "Tail-R@10", "novel R@10", "Cov@10", "CPU s"):
        table.add_column(col)
    for name, (m, secs) in results.items():
        table.add_row(LABELS.get(name, name), cell(valid.get(name, {}), "recall@10"), cell(m, "recall@10", True),
                      cell(m, "tail_recall@10", True), cell(m, "novel_recall@10", True), cell(m, "coverage@10"),
                      cpu_cell(secs))
    return table


def cpu_cell(seconds: float | None) -> str:
    return "read back" if seconds is None else f"{seconds:.0f}"


def cell(report: Report, name: str, ci: bool = False) -> str:
    value = report.get(name)
    if value is None:
        return "n/a"
    if not ci:
        return f"{value:.3f}"
    return f"{value:.3f} [{report.get(name + '_lo') or 0:.3f}, {report.get(name + '_hi') or 0:.3f}]"


def table_for(dataset: str, results: dict[str, tuple[Report, float | None]]) -> Table:
    table = Table(title=f"{dataset} test: standard | novel protocol (95% bootstrap intervals)")
    for col in ("run", "R@1", "R@10", "R@50", "NDCG@10", "MRR@10", "Tail-R@10 (n)", "Unseen-R@10 (n)", "Cov@10",
                "novel R@10", "novel Tail-R@10", "secs"):
        table.add_column(col)
    for name, (m, secs) in results.items():
        table.add_row(name, cell(m, "recall@1"), cell(m, "recall@10", True), cell(m, "recall@50"), cell(m, "ndcg@10"),
                      cell(m, "mrr@10"), f"{cell(m, 'tail_recall@10', True)} ({m.get('rows_tail', 0):.0f})",
                      f"{cell(m, 'unseen_recall@10', True)} ({m.get('rows_unseen', 0):.0f})", cell(m, "coverage@10"),
                      cell(m, "novel_recall@10", True), cell(m, "novel_tail_recall@10", True), cpu_cell(secs))
    for name, (r1, r10, r50, tail) in PAPER.get(dataset, {}).items():
        table.add_row(f"paper: {name}", f"{r1:.3f}", f"{r10:.3f}", f"{r50:.3f}", "", "", f"{tail:.3f}" if tail else "",
                      "", "", "", "", "")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=["redial", "inspired"], default="redial")
    parser.add_argument("--epochs", type=int, default=None, help="override the configs' epochs")
    parser.add_argument("--only", nargs="*", help="run names to run")
    parser.add_argument("--ablation", action="store_true", help="the ablation rows (LumiCRS Tables 7-8) instead")
    parser.add_argument("--seeds", type=int, nargs="+", help="the shipped config once per training seed instead")
    parser.add_argument("--config", type=Path, default=None,
                        help="--seeds / --ablation around this config instead of configs/<dataset>_acfl.yaml")
    parser.add_argument("--reuse", action="store_true",
                        help="read back a finished run of the same config (any name) instead of training it again")
    args = parser.parse_args()
    url = get_settings().database_url
    ensure_dataset(url, args.dataset)
    factory = make_session_factory(make_engine(url))
    results: dict[str, tuple[Report, float | None]] = {}
    stages: dict[str, dict[str, Any]] = {}  # each run's second stage, first stage and validation figures
    kind = "seeds" if args.seeds else "ablation" if args.ablation else "recommendation"
    out = Path("reports") / f"{kind}-{args.config.stem if args.config else args.dataset}.json"
    out.parent.mkdir(exist_ok=True)
    chosen = (seed_configs(args.dataset, args.seeds, args.epochs, args.config) if args.seeds
              else ablation_configs(args.dataset, args.epochs, args.config) if args.ablation
              else configs(args.dataset, args.epochs))
    for cfg in chosen:
        if args.only and cfg.name not in args.only and LABELS.get(cfg.name) not in args.only:
            continue
        start = time.process_time()
        stored = finished_run_name(factory, cfg) if args.reuse else None
        m: Report = dict(stored_split_metrics(factory, stored, "test")) if stored is not None else {}
        if not m:  # not run yet, or finished without test figures: train it
            stored, m = None, run(cfg, factory, progress=False, force=True).metrics["test"]
        results[cfg.name] = (m, None if stored is not None else time.process_time() - start)  # CPU: not measured
        stages[cfg.name] = stage_figures(factory, stored or cfg.name, m)
        write_report(out, {name: {"label": LABELS.get(name, name), "test": m, "cpu_seconds": secs, **stages[name]}
                           for name, (m, secs) in results.items()})
        print(f"{cfg.name}{' (read back)' if stored is not None else ''}: rows {m['rows']:.0f}, "
              f"catalog {m['catalog_size']:.0f}, R@10 {cell(m, 'recall@10', True)}, "
              f"tail-R@10 {cell(m, 'tail_recall@10', True)}, novel R@10 {cell(m, 'novel_recall@10', True)}", flush=True)
    if args.seeds:
        spread = seed_spread([m for m, _ in results.values()])
        first_spread = seed_spread([stage["first_stage"] for stage in stages.values()])
        title = f"{args.dataset} test, {args.config or 'the shipped config'}"
        Console(width=220).print(spread_table(title, results, spread))
        if first_spread != spread:
            Console(width=220).print(spread_table(f"{title}, the first stage alone", {
                name: (stage["first_stage"], None) for name, stage in stages.items()}, first_spread))
        write_report(out, {"runs": {name: {"test": m, "cpu_seconds": secs, **stages[name]}
                                    for name, (m, secs) in results.items()},
                           "spread": spread, "spread_first_stage": first_spread,
                           "spread_valid": seed_spread([stage["valid"] for stage in stages.values()])})
    else:
        Console(width=220).print(ablation_table(args.dataset, results, {n: s["valid"] for n, s in stages.items()})
                                 if args.ablation else table_for(args.dataset, results))
    print(f"wrote {out}")


if __name__ == "__main__":
    from interrupt import run as run_script

    run_script(main)
