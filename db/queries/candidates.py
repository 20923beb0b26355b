"""Candidate (augmented dialogue) queries shared by augment and annotator."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from db.models import Candidate, Dataset, JudgeVote, Movie
from db.types import Turn


def candidates_in(dataset: str, *statuses: str) -> Select[Candidate]:
    query = (select(Candidate).join(Movie, Movie.id == Candidate.movie_id)
             .join(Dataset, Dataset.id == Movie.dataset_id).where(Dataset.name == dataset))
    if statuses:
        query = query.where(Candidate.status.in_(statuses))
    return query.order_by(Candidate.id)


def status_counts(session: Session, dataset: str | None = None) -> dict[str, int]:
    query = select(Candidate.status, func.count()).group_by(Candidate.status)
    if dataset:
        query = (query.join(Movie, Movie.id == Candidate.movie_id).join(Dataset, Dataset.id == Movie.dataset_id)
                 .where(Dataset.name == dataset))
    return {status: int(n) for status, n in session.execute(query).all()}


def votes_for(session: Session, candidate_id: int) -> list[JudgeVote]:
    return list(session.scalars(select(JudgeVote).where(JudgeVote.candidate_id == candidate_id)
                                .order_by(JudgeVote.judge)))


HUMAN_VERDICT = {"accepted": True, "rejected": False}  # candidate status after review -> the reviewers' decision


@dataclass(frozen=True)
class JudgedCandidate:
    id: int
    status: str
    votes: dict[str, bool | None]  # judge -> passed (None: the judge's reply was invalid)
    verdict: bool | None  # the reviewers' decision (approve: accept or edit), None while nobody has decided


def judged_candidates(session: Session, dataset: str, judges: list[str] | None = None) -> list[JudgedCandidate]:
    """Every candidate of the dataset with at least one judge vote (from `judges` when given), in id order."""
    rows = session.execute(select(Candidate.id, Candidate.status, JudgeVote.judge, JudgeVote.valid, JudgeVote.passed)
                           .join(JudgeVote, JudgeVote.candidate_id == Candidate.id)
                           .join(Movie, Movie.id == Candidate.movie_id).join(Dataset, Dataset.id == Movie.dataset_id)
                           .where(Dataset.name == dataset)
                           .order_by(Candidate.id, JudgeVote.judge))
    votes: dict[int, dict[str, bool | None]] = {}
    status: dict[int, str] = {}
    for candidate_id, candidate_status, judge, valid, passed in rows:
        if judges is None or judge in judges:
            votes.setdefault(candidate_id, {})[judge] = bool(passed) if valid else None
            status[candidate_id] = candidate_status
    return [JudgedCandidate(i, status[i], v, HUMAN_VERDICT.get(status[i])) for i, v in votes.items()]


def names_title(text: str, title: str) -> bool:
    """The text names the movie: its title without the year, case-insensitive."""
    short = title.rsplit(" (", 1)[0].lower()
    return bool(short) and short in text.lower()


def tag_target_mentions(turns: list[Turn], movie_id: int, title: str) -> list[Turn]:
    """Mark the turns that name the target (title without its year) so the trainer sees the mention."""
    return [Turn(role=t.role, text=t.text, movie_ids=(movie_id,) if names_title(t.text, title) else ())
            for t in turns]
