"""Route judged candidates: >= accept_min passes auto-accept, >= review_min human review, else discard."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Candidate, JudgeVote, ReviewTask
from db.queries.candidates import candidates_in


@dataclass(frozen=True)
class RouteSummary:
    routed: dict[str, int]
    waiting_for_votes: int


def route_for(passes: int, accept_min: int = 4, review_min: int = 2) -> str:
    if passes >= accept_min:
        return "auto_accepted"
    if passes >= review_min:
        return "needs_review"
    return "discarded"


def route_candidates(session: Session, dataset: str, n_judges: int, *, accept_min: int = 4, review_min: int = 2,
                     overlap: int = 1, limit: int | None = None) -> RouteSummary:
    candidates = list(session.scalars(candidates_in(dataset, "generated")
                                      .where(Candidate.similarity_to_prototype.is_not(None)).limit(limit)))
    tallies = dict(session.execute(
        select(JudgeVote.candidate_id, func.count()).group_by(JudgeVote.candidate_id)).all())
    passes = dict(session.execute(
        select(JudgeVote.candidate_id, func.count()).where(JudgeVote.passed.is_(True))
        .group_by(JudgeVote.candidate_id)).all())
    routed: Counter[str] = Counter()
    waiting = 0
    for candidate in candidates:
        if tallies.get(candidate.id, 0) < n_judges:
            waiting += 1
            continue
        candidate.pass_votes = int(passes.get(candidate.id, 0))
        candidate.status = route_for(candidate.pass_votes, accept_min, review_min)
        routed[candidate.status] += 1
        if candidate.status == "needs_review":
            session.add(ReviewTask(kind="adjudication", candidate_id=candidate.id, overlap=overlap))
    session.flush()
    return RouteSummary(dict(routed), waiting)
