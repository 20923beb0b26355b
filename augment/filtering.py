"""SBERT near-duplicate filter: a candidate too similar to its prototype (> threshold) is discarded."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

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


def filter_near_duplicates(session: Session, dataset: str, threshold: float = 0.85,
                           encoder_path: str | None = None, progress: bool = True,
                           limit: int | None = None) -> FilterSummary:
    """Each prototype text is encoded once (the embedding cache dedupes texts), each candidate once."""
    pending = list(session.scalars(candidates_in(dataset, "generated")
                                   .where(Candidate.similarity_to_prototype.is_(None)).limit(limit)))
    if not pending:
        return FilterSummary(0, 0, 0, threshold)
    dialogues = {d.conversation_id: d for d in list_dialogues(session, dataset)}
    proto_conv = dict(session.execute(select(Prototype.id, Prototype.conversation_id)).all())
    candidate_texts = [turns_text(c.turns) for c in pending]
    prototype_texts = ["\n".join(f"{t.role}: {t.text}" for t in dialogues[proto_conv[c.prototype_id]].turns)
                       for c in pending]
    a = encode_texts(candidate_texts, encoder_path, progress=progress, cache_dir=None)
    b = encode_texts(prototype_texts, encoder_path, progress=progress)
    similarity = np.einsum("nd,nd->n", a, b)
    duplicates = 0
    for candidate, sim in zip(pending, similarity):
        candidate.similarity_to_prototype = float(sim)
        if sim > threshold:
            candidate.status = "duplicate"
            duplicates += 1
    session.flush()
    return FilterSummary(len(pending), duplicates, len(pending) - duplicates, threshold)
