"""Train on ReDial on this machine (CPU unless CUDA is present) and print metrics beside the paper's.

    DATABASE_URL=sqlite:///bench.db python benchmarks/train_redial.py [--epochs 20] [--quick]

Ingests ReDial from LUMICRS_DATA_DIR first if the database has none. Prints CE vs focal vs ACFL too.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from db.engine import make_engine, make_session_factory
from db.errors import NotFound
from db.ingest.service import ingest_corpus
from db.migrate import upgrade_database
from db.queries.longtail import get_dataset_or_raise
from db.settings import get_settings
from trainer.config import TrainConfig
from trainer.run import run

PAPER_R = {"Popularity": (0.011, 0.053, 0.183), "BERT": (0.027, 0.142, 0.307), "UniCRS": (0.065, 0.241, 0.423),
           "LumiCRS": (0.088, 0.286, 0.495)}
PAPER_TAIL_R10 = {"LumiCRS": 0.067}


def ensure_redial(url: str) -> None:
    upgrade_database(url)
    factory = make_session_factory(make_engine(url))
    try:
        with factory() as session:
            get_dataset_or_raise(session, "redial")
    except NotFound:
        with factory.begin() as session:
            ingest_corpus(session, "redial", get_settings().data_dir / "redial")


def configs(epochs: int) -> list[TrainConfig]:
    common = dict(dataset="redial", epochs=epochs, output_dir=Path("runs/bench"))
    plain = dict(text_prior=0.0, impute_cold_items=False)
    return [
        TrainConfig(name="bench-popularity", model="popularity", **common),
        TrainConfig(name="bench-ce", loss="ce", n_prototypes=0, **plain, **common),
        TrainConfig(name="bench-focal", loss="focal", n_prototypes=0, **plain, **common),
        TrainConfig(name="bench-acfl", loss="acfl", n_prototypes=0, **plain, **common),
        TrainConfig(name="bench-acfl-proto", loss="acfl", n_prototypes=50, **plain, **common),
        TrainConfig(name="bench-ce-proto-prior-cold", loss="ce", n_prototypes=50, text_prior=10.0, **common),
        TrainConfig(name="bench-focal-proto-prior-cold", loss="focal", n_prototypes=50, text_prior=10.0, **common),
        TrainConfig(name="bench-acfl-proto-prior-cold", loss="acfl", n_prototypes=50, text_prior=10.0, **common),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--only", nargs="*", help="run names to keep")
    args = parser.parse_args()
    url = get_settings().database_url
    ensure_redial(url)
    factory = make_session_factory(make_engine(url))
    table = Table(title=f"ReDial test (partial train split), {url}")
    for col in ("run", "device", "R@1", "R@10", "R@50", "NDCG@10", "MRR@10", "Tail-R@10", "Cov@10", "ILD@10", "secs"):
        table.add_column(col)
    for cfg in configs(args.epochs):
        if args.only and cfg.name not in args.only:
            continue
        start = time.time()
        result = run(cfg, factory, progress=False)
        m = result.metrics["test"]
        table.add_row(cfg.name, result.device, *(f"{m[k]:.3f}" for k in (
            "recall@1", "recall@10", "recall@50", "ndcg@10", "mrr@10", "tail_recall@10", "coverage@10", "ild@10")),
            f"{time.time() - start:.0f}")
        print(f"{cfg.name}: R@10 {m['recall@10']:.4f} tail-R@10 {m['tail_recall@10']:.4f}", flush=True)
    for name, (r1, r10, r50) in PAPER_R.items():
        tail = PAPER_TAIL_R10.get(name)
        table.add_row(f"paper: {name}", "-", f"{r1:.3f}", f"{r10:.3f}", f"{r50:.3f}", "", "",
                      f"{tail:.3f}" if tail else "", "", "", "")
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
