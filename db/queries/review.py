"""Human review: reviewers, expiring task locks, verdicts and ratings (one per item and reviewer).

Concurrency: every verdict is its own row, unique per (task, reviewer), written with an upsert, so two
reviewers never overwrite each other and a reviewer who changes their mind updates only their own row.
Locks only steer assignment (who gets which item next); they never cause a verdict to be dropped.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.errors import NotFound
from db.models import Candidate, Rating, Review, Reviewer, ReviewTask, TaskLock
from db.rubrics import RUBRIC_KEYS

ROLES = ("annotator", "researcher", "lead")
VERDICTS = ("accept", "reject", "edit")
LOCK_MINUTES = 15


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def get_or_create_reviewer(session: Session, name: str, role: str = "annotator") -> Reviewer:
    name = name.strip()
    if not name:
        raise ValueError("reviewer name must not be empty")
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    reviewer = session.scalar(select(Reviewer).where(Reviewer.name == name))
    if reviewer is None:
        try:
            with session.begin_nested():
                reviewer = Reviewer(name=name, role=role)
                session.add(reviewer)
        except IntegrityError:
            reviewer = session.scalar(select(Reviewer).where(Reviewer.name == name))
    assert reviewer is not None
    return reviewer


def get_reviewer_or_raise(session: Session, name: str) -> Reviewer:
    reviewer = session.scalar(select(Reviewer).where(Reviewer.name == name.strip()))
    if reviewer is None:
        raise NotFound(f"no reviewer {name!r}; add one with `lumicrs annotate add-reviewer {name} --role lead`")
    return reviewer


def _done_by(reviewer_id: int, kind: str) -> Any:
    if kind == "adjudication":
        return select(Review.task_id).where(Review.reviewer_id == reviewer_id)
    return (select(ReviewTask.id).join(Rating, Rating.response_id == ReviewTask.response_id)
            .join(Reviewer, Reviewer.name == Rating.rater).where(Reviewer.id == reviewer_id))


def _work_count(kind: str) -> Any:
    """Verdicts (or distinct human raters) already given for each task."""
    if kind == "adjudication":
        return select(func.count()).where(Review.task_id == ReviewTask.id).scalar_subquery()
    return (select(func.count(func.distinct(Rating.rater)))
            .where(Rating.response_id == ReviewTask.response_id, Rating.rater_kind == "human").scalar_subquery())


def claim_next_task(session: Session, reviewer: Reviewer, kind: str, *, at: datetime | None = None,
                    lock_minutes: int = LOCK_MINUTES, skip: tuple[int, ...] = ()) -> ReviewTask | None:
    """The reviewer's own unexpired lock first; else the oldest open task with a free slot (minus `skip`)."""
    at = at or now_utc()
    done = _done_by(reviewer.id, kind)
    if skip:
        done = done.union(select(ReviewTask.id).where(ReviewTask.id.in_(skip)))
    mine = session.scalar(select(ReviewTask).join(TaskLock, TaskLock.task_id == ReviewTask.id).where(
        TaskLock.reviewer_id == reviewer.id, TaskLock.expires_at > at, ReviewTask.kind == kind,
        ReviewTask.status == "open", ReviewTask.id.not_in(done)).order_by(ReviewTask.id))
    if mine is not None:
        return mine
    others_locks = (select(func.count()).where(TaskLock.task_id == ReviewTask.id, TaskLock.expires_at > at,
                                               TaskLock.reviewer_id != reviewer.id).scalar_subquery())
    task = session.scalar(select(ReviewTask).where(
        ReviewTask.kind == kind, ReviewTask.status == "open", ReviewTask.id.not_in(done),
        _work_count(kind) + others_locks < ReviewTask.overlap).order_by(ReviewTask.id))
    if task is not None:
        lock_task(session, task.id, reviewer.id, at + timedelta(minutes=lock_minutes))
    return task


def lock_task(session: Session, task_id: int, reviewer_id: int, expires_at: datetime) -> None:
    lock = session.scalar(select(TaskLock).where(TaskLock.task_id == task_id, TaskLock.reviewer_id == reviewer_id))
    if lock is None:
        session.add(TaskLock(task_id=task_id, reviewer_id=reviewer_id, expires_at=expires_at))
    else:
        lock.expires_at = expires_at
    session.flush()


def release_lock(session: Session, task_id: int, reviewer_id: int) -> None:
    lock = session.scalar(select(TaskLock).where(TaskLock.task_id == task_id, TaskLock.reviewer_id == reviewer_id))
    if lock is not None:
        session.delete(lock)


def get_task_or_raise(session: Session, task_id: int) -> ReviewTask:
    task = session.get(ReviewTask, task_id)
    if task is None:
        raise NotFound(f"no review task {task_id}")
    return task


def submit_review(session: Session, task_id: int, reviewer: Reviewer, verdict: str, reason: str = "",
                  edited_turns: list[dict[str, Any]] | None = None, source: str = "streamlit") -> Review:
    """Upsert this reviewer's verdict, then decide the candidate once `overlap` verdicts are in."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}")
    if verdict in ("reject", "edit") and not reason.strip():
        raise ValueError(f"a reason is required to {verdict}")
    if verdict == "edit" and not edited_turns:
        raise ValueError("an edit needs the edited dialogue")
    task = get_task_or_raise(session, task_id)
    if task.kind != "adjudication":
        raise ValueError(f"task {task_id} is a {task.kind} task, not an adjudication")
    values = {"verdict": verdict, "reason": reason.strip(), "edited_turns": edited_turns, "source": source}
    review = session.scalar(select(Review).where(Review.task_id == task_id, Review.reviewer_id == reviewer.id))
    if review is None:
        try:
            with session.begin_nested():
                review = Review(task_id=task_id, reviewer_id=reviewer.id, **values)
                session.add(review)
        except IntegrityError:  # the same reviewer submitted concurrently (two tabs): update that row
            review = session.scalar(select(Review).where(Review.task_id == task_id, Review.reviewer_id == reviewer.id))
    assert review is not None
    for key, value in values.items():
        setattr(review, key, value)
    release_lock(session, task_id, reviewer.id)
    session.flush()
    decide_task(session, task)
    return review


def decide_task(session: Session, task: ReviewTask) -> None:
    """Majority of accept+edit vs reject once `overlap` verdicts exist; a tie asks for one more reviewer."""
    verdicts = list(session.scalars(select(Review.verdict).where(Review.task_id == task.id)))
    if len(verdicts) < task.overlap or task.candidate_id is None:
        return
    accepts = sum(v in ("accept", "edit") for v in verdicts)
    rejects = len(verdicts) - accepts
    if accepts == rejects:
        task.overlap += 1
        return
    task.status = "done"
    candidate = session.get_one(Candidate, task.candidate_id)
    candidate.status = "accepted" if accepts > rejects else "rejected"
    session.flush()


def submit_ratings(session: Session, task_id: int, reviewer: Reviewer, scores: Mapping[str, int],
                   source: str = "streamlit") -> None:
    task = get_task_or_raise(session, task_id)
    if task.kind != "rating" or task.response_id is None:
        raise ValueError(f"task {task_id} is not a rating task")
    upsert_ratings(session, task.response_id, reviewer.name, "human", scores, source)
    release_lock(session, task_id, reviewer.id)
    raters = session.scalar(select(func.count(func.distinct(Rating.rater))).where(
        Rating.response_id == task.response_id, Rating.rater_kind == "human")) or 0
    if raters >= task.overlap:
        task.status = "done"
    session.flush()


def upsert_ratings(session: Session, response_id: int, rater: str, rater_kind: str, scores: Mapping[str, int],
                   source: str) -> None:
    missing = [k for k in RUBRIC_KEYS if k not in scores]
    if missing:
        raise ValueError(f"missing rubric score(s): {', '.join(missing)}")
    for rubric in RUBRIC_KEYS:
        score = int(scores[rubric])
        if not 1 <= score <= 5:
            raise ValueError(f"{rubric} must be 1-5, got {score}")
        row = session.scalar(select(Rating).where(Rating.response_id == response_id, Rating.rater == rater,
                                                  Rating.rubric == rubric))
        if row is None:
            session.add(Rating(response_id=response_id, rater=rater, rater_kind=rater_kind, rubric=rubric,
                               score=score, source=source))
        else:
            row.score, row.source = score, source
    session.flush()


def open_task_count(session: Session, kind: str) -> int:
    return session.scalar(select(func.count()).select_from(ReviewTask).where(
        ReviewTask.kind == kind, ReviewTask.status == "open")) or 0


def active_locks(session: Session, at: datetime | None = None) -> int:
    at = at or now_utc()
    return session.scalar(select(func.count()).select_from(TaskLock).where(TaskLock.expires_at > at)) or 0
