"""SBERT near-duplicate filter: a candidate too similar to its prototype (> threshold) is discarded."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.engine import write_transaction
from db.models import Candidate, Prototype
from db.queries.candidates import candidates_in
from db.queries.corpus import list_dialogues
from lm.embeddings import encode_texts


@dataclass(frozen=True)
class FilterSummary:
    checked: int
    duplicates: int
    kept: int
    threshold: float


def turns_text(turns: list[dict[str, str]]) -> str:
    return "\n".join(f"{t['role']}: {t['text']}" for t in turns)


PAPER_THRESHOLD = 0.85  # LumiCRS Sec. 4.3: similarity to the prototype above this is a near-duplicate


@dataclass(frozen=True)
class Pending:
    """Generated candidates not filtered yet, with their text and their prototype's."""

    ids: list[int]
    candidate_texts: list[str]
    prototype_texts: list[str]


def pending_pairs(session: Session, dataset: str, limit: int | None = None) -> Pending:
    pending = list(session.scalars(candidates_in(dataset, "generated")
                                   .where(Candidate.similarity_to_prototype.is_(None)).limit(limit)))
    if not pending:
        return Pending([], [], [])
    dialogues = {d.conversation_id: d for d in list_dialogues(session, dataset)}
    proto_conv = dict(session.execute(select(Prototype.id, Prototype.conversation_id)).all())
    return Pending([c.id for c in pending], [turns_text(c.turns) for c in pending],
                   ["\n".join(f"{t.role}: {t.text}" for t in dialogues[proto_conv[c.prototype_id]].turns)
                    for c in pending])


def similarities(pending: Pending, encoder_path: str | None = None, progress: bool = True) -> np.ndarray:
    """SBERT cosine of each candidate to its prototype (each prototype text encoded once: the embedding cache dedupes
    texts; each candidate once)."""
    a = encode_texts(pending.candidate_texts, encoder_path, progress=progress, cache_dir=None)
    b = encode_texts(pending.prototype_texts, encoder_path, progress=progress)
    return np.einsum("nd,nd->n", a, b)


def apply_similarities(session: Session, ids: list[int], similarity: np.ndarray, threshold: float) -> tuple[int, int]:
    """Store each similarity and discard the near-duplicates; a candidate another run filtered meanwhile is left as
    it is. Returns (checked, duplicates)."""
    checked = duplicates = 0
    for candidate_id, sim in zip(ids, similarity, strict=True):
        candidate = session.get_one(Candidate, candidate_id)
        if candidate.similarity_to_prototype is not None or candidate.status != "generated":
            continue
        candidate.similarity_to_prototype = float(sim)
        checked += 1
        if sim > threshold:
            candidate.status = "duplicate"
            duplicates += 1
    session.flush()
    return checked, duplicates


def filter_near_duplicates(session: Session, dataset: str, threshold: float = PAPER_THRESHOLD,
                           encoder_path: str | None = None, progress: bool = True,
                           limit: int | None = None) -> FilterSummary:
    """The filter inside one session (the caller's transaction)."""
    pending = pending_pairs(session, dataset, limit)
    if not pending.ids:
        return FilterSummary(0, 0, 0, threshold)
    checked, duplicates = apply_similarities(session, pending.ids, similarities(pending, encoder_path, progress),
                                             threshold)
    return FilterSummary(checked, duplicates, checked - duplicates, threshold)


def filter_in_short_writes(session_factory: sessionmaker[Session], dataset: str, threshold: float = PAPER_THRESHOLD,
                           encoder_path: str | None = None, progress: bool = True,
                           limit: int | None = None) -> FilterSummary:
    """What the commands run: read the pending candidates, encode them with no transaction open, then store the
    results in one short write transaction, so reviewers and other processes can write while the encoder runs
    (on SQLite a write transaction locks the whole database)."""
    with session_factory() as session:
        pending = pending_pairs(session, dataset, limit)
    if not pending.ids:
        return FilterSummary(0, 0, 0, threshold)
    similarity = similarities(pending, encoder_path, progress)
    with write_transaction(session_factory) as session:
        checked, duplicates = apply_similarities(session, pending.ids, similarity, threshold)
    return FilterSummary(checked, duplicates, checked - duplicates, threshold)
