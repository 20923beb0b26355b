"""Read-only aggregates for the dashboard."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from db.models import Candidate, JudgeVote, Rating, Review, Reviewer, ReviewTask
from db.queries.candidates import HUMAN_VERDICT


def acceptance_by_tier(session: Session) -> list[tuple[str, str, int]]:
    """(tier, status, count) over all candidates."""
    rows = session.execute(select(Candidate.tier, Candidate.status, func.count())
                           .group_by(Candidate.tier, Candidate.status).order_by(Candidate.tier, Candidate.status))
    return [(tier, status, int(n)) for tier, status, n in rows]


def review_throughput(session: Session) -> list[tuple[str, str, int]]:
    """(day, reviewer, verdicts) for human verdicts."""
    day = func.date(Review.created_at)
    rows = session.execute(select(day, Reviewer.name, func.count()).join(Reviewer, Reviewer.id == Review.reviewer_id)
                           .group_by(day, Reviewer.name).order_by(day, Reviewer.name))
    return [(str(d), name, int(n)) for d, name, n in rows]


def all_ratings(session: Session) -> list[tuple[int, str, str, str, int]]:
    """Every score given; N/A marks (no score) are left out of agreement and correlation."""
    rows = session.execute(select(Rating.response_id, Rating.rater, Rating.rater_kind, Rating.rubric, Rating.score))
    return [(int(r), rater, kind, rubric, int(score)) for r, rater, kind, rubric, score in rows if score is not None]


def decision_counts(session: Session) -> list[tuple[str, int]]:
    """(how, tasks) for decided adjudication tasks: unanimous / majority / adjudicated after a tie."""
    rows = session.execute(select(ReviewTask.decision, func.count()).where(
        ReviewTask.kind == "adjudication", ReviewTask.status == "done").group_by(ReviewTask.decision))
    return [(str(how), int(n)) for how, n in rows]


def verdict_units(session: Session) -> list[list[str]]:
    """Per adjudication task with 2+ verdicts: its verdicts as approve/reject (edit counts as approve), approvals
    first (the order within a unit does not change agreement). Counted per task in the database."""
    rejects = func.sum(case((Review.verdict == "reject", 1), else_=0))
    rows = session.execute(select(func.count(), rejects).group_by(Review.task_id)
                           .having(func.count() >= 2).order_by(Review.task_id))
    return [["approve"] * (int(n) - int(r)) + ["reject"] * int(r) for n, r in rows]


def judge_verdict_pairs(session: Session) -> list[tuple[str, bool, bool]]:
    """(judge, passed, reviewers approved) for every valid vote on a candidate the reviewers decided. Counted in the
    database and repeated here: a table of hundreds of thousands of votes comes back as a few dozen rows."""
    rows = session.execute(select(JudgeVote.judge, JudgeVote.passed, Candidate.status, func.count())
                           .join(Candidate, Candidate.id == JudgeVote.candidate_id)
                           .where(JudgeVote.valid.is_(True), Candidate.status.in_(HUMAN_VERDICT))
                           .group_by(JudgeVote.judge, JudgeVote.passed, Candidate.status)
                           .order_by(JudgeVote.judge, JudgeVote.passed, Candidate.status))
    pairs: list[tuple[str, bool, bool]] = []
    for judge, passed, status, n in rows:
        pairs.extend([(judge, bool(passed), HUMAN_VERDICT[status])] * int(n))
    return pairs


@dataclass(frozen=True)
class DashboardData:
    acceptance: list[tuple[str, str, int]]
    throughput: list[tuple[str, str, int]]
    ratings: list[tuple[int, str, str, str, int]]
    decisions: list[tuple[str, int]]
    verdict_units: list[list[str]]
    judge_pairs: list[tuple[str, bool, bool]]


def dashboard_data(session: Session) -> DashboardData:
    """Everything the Dashboard shows about augmentation and review, in one read."""
    return DashboardData(acceptance_by_tier(session), review_throughput(session), all_ratings(session),
                         decision_counts(session), verdict_units(session), judge_verdict_pairs(session))
