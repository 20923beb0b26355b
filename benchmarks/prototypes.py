"""Time prototype selection over a whole corpus (composite similarity + top-K support sets).

    DATABASE_URL=sqlite:///bench.db python benchmarks/prototypes.py [--dataset redial]

Embeddings are cached on disk after the first run, so the second run times the similarity alone.
Runs inside a transaction that is rolled back: the database is left as it was.
"""
from __future__ import annotations

import argparse
import time

from augment.prototypes import select_prototypes
from augment.similarity import SimilarityWeights
from db.engine import make_engine, make_session_factory
from db.settings import get_settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="redial")
    parser.add_argument("--splits", default="train")
    parser.add_argument("--support-k", type=int, default=5)
    args = parser.parse_args()
    factory = make_session_factory(make_engine(get_settings().database_url))
    with factory() as session:
        start = time.perf_counter()
        summary = select_prototypes(session, args.dataset, SimilarityWeights(), support_k=args.support_k,
                                    splits=args.splits.split(","))
        total = time.perf_counter() - start
        session.rollback()
    print(f"dataset={summary.dataset} dialogues={summary.dialogues} body+tail targets={summary.targets}")
    print(f"embedding: {summary.embed_seconds:.1f}s (cached after the first run)")
    print(f"composite similarity + top-{args.support_k}: {summary.similarity_seconds:.1f}s")
    print(f"total incl. DB reads/writes: {total:.1f}s")


if __name__ == "__main__":
    main()
