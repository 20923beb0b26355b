"""Prototype selection: for each body/tail movie, the most representative dialogue that mentions it,
plus its top-K support set by composite similarity. Stored in `prototypes` / `support_examples`."""
from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from augment.emotion import emotion_matrix
from augment.multilabel import movie_text
from augment.similarity import SimilarityWeights, top_k_neighbours
from db.models import Prototype, SupportExample
from db.queries.corpus import list_dialogues, list_movies
from db.queries.longtail import movie_tiers
from db.types import Dialogue
from lm.embeddings import encode_texts


@dataclass(frozen=True)
class PrototypeSummary:
    dataset: str
    dialogues: int
    targets: int
    created: int
    skipped_existing: int
    embed_seconds: float
    similarity_seconds: float
    cold_start: int = 0


def dialogue_text(dialogue: Dialogue) -> str:
    return "\n".join(f"{t.role}: {t.text}" for t in dialogue.turns)


def pick_prototypes(movie_to_rows: dict[int, list[int]], neighbour_scores: np.ndarray) -> dict[int, int]:
    """Movie -> row of its most representative dialogue (highest mean top-K similarity; ties: lowest row)."""
    representativeness = neighbour_scores.mean(axis=1) if neighbour_scores.size else np.zeros(0)
    return {movie: max(rows, key=lambda r: (float(representativeness[r]) if representativeness.size else 0.0, -r))
            for movie, rows in movie_to_rows.items()}


def add_cold_start_prototypes(session: Session, dataset: str, movie_ids: list[int], tiers: dict[int, str],
                              dialogues: list[Dialogue], emb: np.ndarray, neighbours: np.ndarray,
                              scores: np.ndarray, encoder_path: str | None) -> int:
    """Catalog movies with no dialogue in the chosen splits: the prototype is the dialogue closest to the
    movie's own text (title, genres, plot). Uses catalogue metadata only, never another split's dialogues."""
    if not movie_ids or not dialogues:
        return 0
    info = {m.id: m for m in list_movies(session, dataset)}
    movie_emb = encode_texts([movie_text(info[m]) for m in movie_ids], encoder_path, progress=False)
    similarity = movie_emb @ emb.T
    for i, (movie, row) in enumerate(zip(movie_ids, similarity.argmax(axis=1))):
        save_prototype(session, movie, tiers[movie], dialogues, int(row), float(similarity[i, row]),
                       {"cold_start": True}, neighbours, scores)
    return len(movie_ids)


def save_prototype(session: Session, movie: int, tier: str, dialogues: list[Dialogue], row: int, score: float,
                   weights: dict[str, object], neighbours: np.ndarray, scores: np.ndarray) -> None:
    prototype = Prototype(movie_id=movie, conversation_id=dialogues[row].conversation_id, tier=tier, score=score,
                          weights=weights)
    session.add(prototype)
    session.flush()
    session.add_all(SupportExample(prototype_id=prototype.id, conversation_id=dialogues[n].conversation_id,
                                   rank=rank, similarity=float(s))
                    for rank, (n, s) in enumerate(zip(neighbours[row], scores[row]), start=1))


def select_prototypes(session: Session, dataset: str, weights: SimilarityWeights, *, support_k: int = 5,
                      splits: Sequence[str] = ("train",), encoder_path: str | None = None,
                      cold_start: bool = False, progress: bool = True) -> PrototypeSummary:
    dialogues = list_dialogues(session, dataset, splits)
    tiers: dict[int, str] = dict(movie_tiers(session, dataset, splits=splits))  # counted on these splits only
    movie_to_rows: dict[int, list[int]] = defaultdict(list)
    movie_sets = []
    for row, dialogue in enumerate(dialogues):
        mentioned = {m for turn in dialogue.turns for m in turn.movie_ids}
        movie_sets.append(mentioned)
        for movie in mentioned:
            if tiers.get(movie) in ("body", "tail"):
                movie_to_rows[movie].append(row)
    t0 = time.perf_counter()
    emb = encode_texts([dialogue_text(d) for d in dialogues], encoder_path, progress=progress)
    t1 = time.perf_counter()
    neighbours, scores = top_k_neighbours(emb, emotion_matrix([dialogue_text(d) for d in dialogues]),
                                          movie_sets, weights, support_k)
    t2 = time.perf_counter()
    existing = set(session.scalars(select(Prototype.movie_id)))
    chosen = pick_prototypes({m: r for m, r in movie_to_rows.items() if m not in existing}, scores)
    for movie, row in chosen.items():
        save_prototype(session, movie, tiers[movie], dialogues, row, float(scores[row].mean()) if scores.size else 0.0,
                       dict(weights.__dict__), neighbours, scores)
    # cold start: catalog movies never mentioned in these splits (zero mentions: tail); no other split is looked at
    cold = [m.id for m in list_movies(session, dataset) if m.id not in tiers and m.id not in existing] if cold_start else []
    n_cold = add_cold_start_prototypes(session, dataset, cold, {**tiers, **dict.fromkeys(cold, "tail")}, dialogues,
                                       emb, neighbours, scores, encoder_path)
    session.flush()
    return PrototypeSummary(dataset, len(dialogues), len(movie_to_rows), len(chosen),
                            len(movie_to_rows) - len(chosen), round(t1 - t0, 2), round(t2 - t1, 2), n_cold)
