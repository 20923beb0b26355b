"""Prototype selection: for each body/tail movie, the most representative dialogue that mentions it,
plus its top-K support set by composite similarity. Stored in `prototypes` / `support_examples`."""
from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from augment.emotion import emotion_matrix
from augment.multilabel import movie_text
from augment.similarity import SimilarityWeights, top_k_neighbours
from db.engine import write_transaction
from db.locks import exclusive
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


def save_prototype(session: Session, movie: int, tier: str, dialogues: list[Dialogue], row: int, score: float,
                   weights: dict[str, object], neighbours: np.ndarray, scores: np.ndarray) -> None:
    prototype = Prototype(movie_id=movie, conversation_id=dialogues[row].conversation_id, tier=tier, score=score,
                          weights=weights)
    session.add(prototype)
    session.flush()
    session.add_all(SupportExample(prototype_id=prototype.id, conversation_id=dialogues[n].conversation_id,
                                   rank=rank, similarity=float(s))
                    for rank, (n, s) in enumerate(zip(neighbours[row], scores[row]), start=1))


@dataclass
class PrototypePlan:
    """Everything selection computes (the encoder's work), before a row is written."""

    dataset: str
    dialogues: list[Dialogue]
    tiers: dict[int, str]
    movie_to_rows: dict[int, list[int]]
    neighbours: np.ndarray
    scores: np.ndarray
    weights: dict[str, object]
    cold: dict[int, tuple[int, float]] = field(default_factory=dict)  # cold-start movie -> (row, similarity)
    embed_seconds: float = 0.0
    similarity_seconds: float = 0.0


def plan_prototypes(session: Session, dataset: str, weights: SimilarityWeights, *, support_k: int = 5,
                    splits: Sequence[str] = ("train",), encoder_path: str | None = None,
                    cold_start: bool = False, progress: bool = True) -> PrototypePlan:
    """Reads and encodes only. Cold start: a catalog movie no dialogue of `splits` mentions gets the dialogue closest
    to its own text (title, genres, plot): catalogue metadata only, never another split's dialogues."""
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
    plan = PrototypePlan(dataset, dialogues, tiers, dict(movie_to_rows), neighbours, scores, dict(weights.__dict__),
                         embed_seconds=round(t1 - t0, 2), similarity_seconds=round(t2 - t1, 2))
    if cold_start and dialogues:  # zero mentions in these splits: tail
        movies = [m for m in list_movies(session, dataset) if m.id not in tiers]
        if movies:
            similarity = encode_texts([movie_text(m) for m in movies], encoder_path, progress=False) @ emb.T
            plan.cold = {m.id: (int(row), float(similarity[i, row]))
                         for i, (m, row) in enumerate(zip(movies, similarity.argmax(axis=1)))}
    return plan


def save_prototypes(session: Session, plan: PrototypePlan) -> PrototypeSummary:
    """Writes the plan's prototypes for the movies that have none yet (read again here, inside the write)."""
    existing = set(session.scalars(select(Prototype.movie_id)))
    chosen = pick_prototypes({m: r for m, r in plan.movie_to_rows.items() if m not in existing}, plan.scores)
    for movie, row in chosen.items():
        save_prototype(session, movie, plan.tiers[movie], plan.dialogues, row,
                       float(plan.scores[row].mean()) if plan.scores.size else 0.0, plan.weights, plan.neighbours,
                       plan.scores)
    cold = {m: found for m, found in plan.cold.items() if m not in existing}
    for movie, (row, similarity) in cold.items():
        save_prototype(session, movie, "tail", plan.dialogues, row, similarity, {"cold_start": True}, plan.neighbours,
                       plan.scores)
    session.flush()
    return PrototypeSummary(plan.dataset, len(plan.dialogues), len(plan.movie_to_rows), len(chosen),
                            len(plan.movie_to_rows) - len(chosen), plan.embed_seconds, plan.similarity_seconds,
                            len(cold))


def select_prototypes(session: Session, dataset: str, weights: SimilarityWeights, *, support_k: int = 5,
                      splits: Sequence[str] = ("train",), encoder_path: str | None = None,
                      cold_start: bool = False, progress: bool = True) -> PrototypeSummary:
    """Plan and save in the caller's session (tests, one-process scripts)."""
    return save_prototypes(session, plan_prototypes(session, dataset, weights, support_k=support_k, splits=splits,
                                                    encoder_path=encoder_path, cold_start=cold_start,
                                                    progress=progress))


def select_prototypes_in_short_writes(session_factory: sessionmaker[Session], dataset: str,
                                      weights: SimilarityWeights, **options: Any) -> PrototypeSummary:
    """What the commands run: plan with no write transaction open (the encoder takes minutes on a full corpus), then
    save in one short write under the dataset's prototype lock, so two selections at once store each movie once and
    reviewers can write meanwhile (on SQLite a write transaction locks the whole database)."""
    with session_factory() as session:
        plan = plan_prototypes(session, dataset, weights, **options)
    url = session_factory.kw["bind"].url.render_as_string(hide_password=False)
    with exclusive(f"prototypes:{dataset}", url), write_transaction(session_factory) as session:
        return save_prototypes(session, plan)
