"""Time prototype selection over a whole corpus (composite similarity + top-K support sets).

    DATABASE_URL=sqlite:///bench.db python benchmarks/prototypes.py [--dataset redial] [--compare]

--compare: the paper's composite similarity (augment/similarity.py, formula "paper") against the earlier variant
("jaccard") on the same embeddings: time of each, the share of support-set members (S_m, top-K) and of prototypes that
differ, and the mean FinalScore of the chosen neighbours under each formula.

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


def compare(dataset: str, splits: list[str], k: int) -> None:
    import numpy as np

    from augment.emotion import emotion_matrix
    from augment.prototypes import dialogue_text, pick_prototypes
    from augment.similarity import top_k_neighbours
    from db.embeddings import encode_texts
    from db.queries.corpus import list_dialogues
    from db.queries.longtail import movie_tiers

    factory = make_session_factory(make_engine(get_settings().database_url))
    with factory() as session:
        dialogues = list_dialogues(session, dataset, splits)
        tiers = movie_tiers(session, dataset, splits=splits)
    texts = [dialogue_text(d) for d in dialogues]
    emb, emo = encode_texts(texts), emotion_matrix(texts)
    movie_sets = [{m for t in d.turns for m in t.movie_ids} for d in dialogues]
    rows: dict[int, list[int]] = {}
    for row, movies in enumerate(movie_sets):
        for movie in movies:
            if tiers.get(movie) in ("body", "tail"):
                rows.setdefault(movie, []).append(row)
    out = {}
    for formula in ("paper", "jaccard"):
        start = time.perf_counter()
        neighbours, scores = top_k_neighbours(emb, emo, movie_sets, SimilarityWeights(formula=formula), k)
        out[formula] = (neighbours, scores, pick_prototypes(rows, scores), time.perf_counter() - start)
    (pn, ps, pp, pt), (jn, js, jp, jt) = out["paper"], out["jaccard"]
    differ = np.mean([len(set(a) - set(b)) / max(len(a), 1) for a, b in zip(pn.tolist(), jn.tolist())])
    protos = np.mean([pp[m] != jp[m] for m in pp]) if pp else 0.0
    print(f"dataset={dataset} dialogues={len(dialogues)} body+tail targets={len(rows)} K={k}")
    print(f"paper formula: {pt:.1f}s, mean FinalScore of the chosen neighbours {ps.mean():.3f}")
    print(f"jaccard variant: {jt:.1f}s, mean FinalScore of the chosen neighbours {js.mean():.3f}")
    print(f"support-set members that differ: {100 * differ:.1f}% of S_m; prototypes that differ: {100 * protos:.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="redial")
    parser.add_argument("--splits", default="train")
    parser.add_argument("--support-k", type=int, default=5)
    parser.add_argument("--compare", action="store_true", help="paper formula vs the jaccard variant")
    args = parser.parse_args()
    if args.compare:
        compare(args.dataset, args.splits.split(","), args.support_k)
        return
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
