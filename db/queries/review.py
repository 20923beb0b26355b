"""Human review: reviewers, expiring task locks, verdicts and ratings (one per item and reviewer).

Every verdict is its own row, unique per (task, reviewer). Whoever writes a verdict, claims a task or retracts a
verdict first locks the task row (`lock_task_row`: SELECT ... FOR UPDATE on PostgreSQL; on SQLite the caller's
transaction is BEGIN IMMEDIATE, see `db.engine.write_transaction`), so per task these steps run one at a time
and each sees every verdict committed before it. The decision (`db.decision.decide`) is re-run inside the same
transaction on every verdict, late ones included; each change of decision is logged in `task_decisions`.
Locks only steer assignment; they never cause a verdict to be dropped.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Select, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.decision import TaskStatus, Verdict, decide
from db.engine import is_write_transaction
from db.errors import NotFound
from db.fields import text_field
from db.models import Candidate, Rating, Review, Reviewer, ReviewTask, TaskDecision, TaskLock
from db.rubrics import RUBRIC_KEYS

ROLES = ("annotator", "researcher", "lead")
TASK_ROLES = {"adjudication": ("annotator", "lead"), "rating": ("researcher", "lead")}  # who works each queue


def can_work(role: str, kind: str) -> bool:
    """Whether an account of `role` works the `kind` queue (the app claims a task only for those who can act)."""
    return role in TASK_ROLES.get(kind, ())
VERDICTS = tuple(v.value for v in Verdict)
MAX_REASON_CHARS = 2_000
MAX_TURN_CHARS = 5_000
CLAIM_SECONDS = 120  # a claim lasts two minutes unless the page that shows the task renews it (LUMICRS_CLAIM_SECONDS)
CLAIM_ATTEMPTS = 20


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def get_or_create_reviewer(session: Session, name: str, role: str = "annotator") -> Reviewer:
    name = text_field(name.strip() if isinstance(name, str) else name, "reviewer name",
                      column=Reviewer.__table__.c.name)
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


def link_email(session: Session, name: str, email: str, lead: Reviewer) -> Reviewer:
    """A lead links a reviewer to their Label Studio account (annotations by that email become theirs)."""
    if lead.role != "lead" or not lead.active:
        raise ValueError(f"{lead.name} is {'a ' + lead.role if lead.active else 'disabled'}; only active leads "
                         "link accounts")
    email = text_field(email.strip().lower() if isinstance(email, str) else email, "email",
                       column=Reviewer.__table__.c.email)
    if "@" not in email or " " in email:
        raise ValueError(f"not an email address: {email[:60]!r}")
    reviewer = get_reviewer_or_raise(session, name)
    other = session.scalar(select(Reviewer).where(Reviewer.email == email, Reviewer.id != reviewer.id))
    if other is not None:
        raise ValueError(f"{email} is already linked to {other.name}")
    try:
        with session.begin_nested():  # two leads linking one email at once: the second is told, in one line
            reviewer.email = email
            session.flush()
    except IntegrityError as exc:
        raise ValueError(f"{email} was linked to another account a moment ago") from exc
    return reviewer


def reviewers_by_email(session: Session) -> dict[str, Reviewer]:
    return {r.email: r for r in session.scalars(select(Reviewer).where(Reviewer.email.is_not(None))) if r.email}


def _require_writer(session: Session) -> None:
    if not is_write_transaction(session):
        raise RuntimeError("claiming or deciding on SQLite needs a BEGIN IMMEDIATE transaction: "
                           "use db.engine.write_transaction")


def lock_task_row(session: Session, task_id: int) -> ReviewTask:
    """The task row, locked until the end of the transaction, with fresh values."""
    _require_writer(session)
    stmt = select(ReviewTask).where(ReviewTask.id == task_id).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    task = session.scalar(stmt)
    if task is None:
        raise NotFound(f"no review task {task_id}")
    return task


# --- claiming ------------------------------------------------------------------------------


def _done_by(reviewer: Reviewer, kind: str) -> Any:
    """SQL condition: this reviewer already gave a verdict (or a human rating) on the task."""
    if kind == "adjudication":
        return exists().where(Review.task_id == ReviewTask.id, Review.reviewer_id == reviewer.id)
    return exists().where(Rating.response_id == ReviewTask.response_id, Rating.rater == reviewer.name,
                          Rating.rater_kind == "human")


def _others_locks(reviewer_id: int, at: datetime) -> Any:
    return (select(func.count()).where(TaskLock.task_id == ReviewTask.id, TaskLock.expires_at > at,
                                       TaskLock.reviewer_id != reviewer_id).scalar_subquery())


def _free_slot(reviewer_id: int, at: datetime) -> Any:
    return ReviewTask.verdicts + _others_locks(reviewer_id, at) < ReviewTask.required


def queue_order(kind: str, order: str) -> tuple[Any, ...]:
    """oldest: task id. contested (like Potato's adjudication queue): the closest judge split first (3/5 and 2/5
    pass votes before 4/5), then tasks whose reviewers disagreed (a tie happened), then the oldest. uncertain: the
    judge model's approve posterior closest to 0.5 first (the most a verdict can teach), candidates without a
    posterior last, then as contested."""
    if order == "oldest" or kind != "adjudication":
        return (ReviewTask.id,)
    closeness = (select(func.abs(2 * func.coalesce(Candidate.pass_votes, 0) - 5))
                 .where(Candidate.id == ReviewTask.candidate_id).scalar_subquery())
    contested = (closeness, ReviewTask.tied.desc(), ReviewTask.id)
    if order == "contested":
        return contested
    distance = (select(func.coalesce(func.abs(Candidate.approve_posterior - 0.5), 1.0))
                .where(Candidate.id == ReviewTask.candidate_id).scalar_subquery())
    return (distance, *contested)


def claim_next_task(session: Session, reviewer: Reviewer, kind: str, *, at: datetime | None = None,
                    claim_seconds: int = CLAIM_SECONDS, skip: tuple[int, ...] = (),
                    order: str = "oldest") -> ReviewTask | None:
    """The reviewer's own unexpired lock first; else the first open task in `order` with a free slot (minus `skip`).

    A free slot: verdicts + other reviewers' unexpired locks < required. Concurrent claimants get distinct tasks
    where slots allow (PostgreSQL: FOR UPDATE SKIP LOCKED, then a re-check under the row lock; SQLite: the
    BEGIN IMMEDIATE transaction serializes claims), and never more claimants than free slots.
    """
    _require_writer(session)
    at = at or now_utc()
    base = select(ReviewTask).where(ReviewTask.kind == kind, ReviewTask.status == TaskStatus.OPEN,
                                    ~_done_by(reviewer, kind))
    if skip:
        base = base.where(ReviewTask.id.not_in(skip))
    mine = session.scalar(base.join(TaskLock, TaskLock.task_id == ReviewTask.id)
                          .where(TaskLock.reviewer_id == reviewer.id, TaskLock.expires_at > at)
                          .order_by(ReviewTask.id).limit(1))
    if mine is not None:
        return mine
    free = base.where(_free_slot(reviewer.id, at)).order_by(*queue_order(kind, order)).limit(1)
    if session.get_bind().dialect.name != "postgresql":  # BEGIN IMMEDIATE: nobody else is claiming now
        task = session.scalar(free)
        if task is not None:
            set_lock(session, task.id, reviewer.id, at + timedelta(seconds=claim_seconds))
        return task
    return _claim_postgres(session, free, reviewer.id, at + timedelta(seconds=claim_seconds), at)


def _claim_postgres(session: Session, free: Select[Any], reviewer_id: int, expires_at: datetime,
                    at: datetime) -> ReviewTask | None:
    """Lock one candidate row (skipping rows other claimants hold, then waiting if that found none), re-check its
    free slot under the lock, and give the row lock back (savepoint rollback) when the slot is gone. Each attempt
    is a new statement, so a new snapshot: a task found full by the re-check is not free in the next scan."""
    for _ in range(CLAIM_ATTEMPTS):
        for skip_locked in (True, False):
            attempt = session.begin_nested()
            task: ReviewTask | None = session.scalar(free.with_for_update(skip_locked=skip_locked, of=ReviewTask)
                                                     .execution_options(populate_existing=True))
            if task is None:
                attempt.rollback()
                continue
            if _has_free_slot(session, task.id, reviewer_id, at):
                set_lock(session, task.id, reviewer_id, expires_at)
                attempt.commit()
                return task
            attempt.rollback()  # filled between the scan's snapshot and our row lock (another claimant's lock)
            break
        else:
            return None
    return None


def _has_free_slot(session: Session, task_id: int, reviewer_id: int, at: datetime) -> bool:
    """Re-read under the row lock (a new statement sees every commit made before the lock was granted)."""
    return bool(session.scalar(select(func.count()).select_from(ReviewTask)
                               .where(ReviewTask.id == task_id, ReviewTask.status == TaskStatus.OPEN,
                                      _free_slot(reviewer_id, at))))


def set_lock(session: Session, task_id: int, reviewer_id: int, expires_at: datetime) -> None:
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


def renew_claim(session: Session, task_id: int, reviewer_id: int, *, at: datetime | None = None,
                claim_seconds: int = CLAIM_SECONDS) -> bool:
    """The page showing a task renews its claim (a heartbeat); False when the claim had already expired (the task
    may have gone to someone else meanwhile; a verdict is still accepted)."""
    at = at or now_utc()
    lock = session.scalar(select(TaskLock).where(TaskLock.task_id == task_id, TaskLock.reviewer_id == reviewer_id))
    if lock is None or _aware(lock.expires_at) <= at:
        return False
    lock.expires_at = at + timedelta(seconds=claim_seconds)
    session.flush()
    return True


def release_claims(session: Session, reviewer_id: int) -> int:
    """Every claim the reviewer holds (signed out, demoted, disabled); how many were given back."""
    locks = list(session.scalars(select(TaskLock).where(TaskLock.reviewer_id == reviewer_id)))
    for lock in locks:
        session.delete(lock)
    session.flush()
    return len(locks)


def _aware(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes (stored in UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


# --- verdicts and the decision -------------------------------------------------------------


def check_verdict(verdict: str, reason: str, edited_turns: list[dict[str, Any]] | None) -> None:
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}")
    text_field(reason, "reason", max_len=MAX_REASON_CHARS, multiline=True, blank=True)
    if verdict in (Verdict.REJECT, Verdict.EDIT) and not reason.strip():
        raise ValueError(f"a reason is required to {verdict}")
    for number, turn in enumerate(edited_turns or [], start=1):
        if not isinstance(turn, dict) or turn.get("role") not in ("seeker", "recommender"):
            raise ValueError(f"edited turn {number} is not a seeker or recommender turn")
        text_field(turn.get("text"), f"edited turn {number}", max_len=MAX_TURN_CHARS, multiline=True)
    if verdict == Verdict.EDIT and not edited_turns:
        raise ValueError("an edit needs the edited dialogue")


def _adjudication_task(session: Session, task_id: int) -> ReviewTask:
    task = lock_task_row(session, task_id)
    if task.kind != "adjudication":
        raise ValueError(f"task {task_id} is a {task.kind} task, not an adjudication")
    return task


def submit_review(session: Session, task_id: int, reviewer: Reviewer, verdict: str, reason: str = "",
                  edited_turns: list[dict[str, Any]] | None = None, source: str = "streamlit") -> Review:
    """Upsert this reviewer's verdict and re-decide the task, in the caller's (write) transaction."""
    check_verdict(verdict, reason, edited_turns)
    task = _adjudication_task(session, task_id)
    values: dict[str, Any] = {"verdict": verdict, "reason": reason.strip(), "source": source}
    if edited_turns is not None:  # a changed verdict keeps the reviewer's earlier edited text (and its time)
        values["edited_turns"] = edited_turns
    review = session.scalar(select(Review).where(Review.task_id == task_id, Review.reviewer_id == reviewer.id))
    if review is None:
        review = Review(task_id=task_id, reviewer_id=reviewer.id, **values)
        session.add(review)
    else:
        for key, value in values.items():
            setattr(review, key, value)
    release_lock(session, task_id, reviewer.id)
    session.flush()
    redecide(session, task, reviewer.id, "verdict")
    return review


def verdict_of(session: Session, task_id: int, reviewer_id: int) -> str | None:
    """This reviewer's current verdict on the task (None: none yet)."""
    return session.scalar(select(Review.verdict).where(Review.task_id == task_id, Review.reviewer_id == reviewer_id))


def retract_review(session: Session, task_id: int, reviewer: Reviewer) -> bool:
    """Remove this reviewer's verdict (an annotation deleted elsewhere, an undo) and re-decide the task."""
    task = _adjudication_task(session, task_id)
    review = session.scalar(select(Review).where(Review.task_id == task_id, Review.reviewer_id == reviewer.id))
    if review is None:
        return False
    session.delete(review)
    session.flush()
    redecide(session, task, reviewer.id, "retract")
    return True


def redecide(session: Session, task: ReviewTask, reviewer_id: int | None, action: str) -> None:
    """Apply db.decision.decide to all verdicts of a locked task; log the change if anything moved."""
    verdicts = list(session.scalars(select(Review.verdict).where(Review.task_id == task.id)))
    decision = decide(verdicts, task.overlap, tied_before=task.tied)
    candidate = session.get_one(Candidate, task.candidate_id)  # an adjudication task always has one
    before = (candidate.status, task.status)
    task.verdicts, task.required = len(verdicts), decision.required
    task.tied = task.tied or decision.how == "tie"
    task.status, task.decision = decision.task_status.value, decision.how.value
    if decision.task_status != TaskStatus.DONE:
        task.decided_at = None
    elif before[1] != TaskStatus.DONE or task.decided_at is None:
        task.decided_at = now_utc()
    candidate.status = decision.candidate_status
    after = (candidate.status, task.status)
    if after != before:
        session.add(TaskDecision(task_id=task.id, reviewer_id=reviewer_id, action=action, from_status=before[0],
                                 to_status=after[0], from_task_status=before[1], to_task_status=after[1],
                                 accepts=decision.accepts, rejects=decision.rejects, how=decision.how.value))
    session.flush()


# --- ratings -------------------------------------------------------------------------------


def submit_ratings(session: Session, task_id: int, reviewer: Reviewer, scores: Mapping[str, int | None],
                   source: str = "streamlit") -> None:
    """This reviewer's scores on the task's response (None: N/A), new or changed; the task is recounted."""
    task = lock_task_row(session, task_id)
    if task.kind != "rating" or task.response_id is None:
        raise ValueError(f"task {task_id} is not a rating task")
    upsert_ratings(session, task.response_id, reviewer.name, "human", scores, source)
    release_lock(session, task_id, reviewer.id)
    recount_raters(session, task)


def retract_ratings(session: Session, task_id: int, reviewer: Reviewer, source: str) -> bool:
    """Remove this reviewer's human ratings from `source` and re-open the task if it lacks raters now."""
    task = lock_task_row(session, task_id)
    if task.kind != "rating" or task.response_id is None:
        raise ValueError(f"task {task_id} is not a rating task")
    rows = list(session.scalars(select(Rating).where(Rating.response_id == task.response_id, Rating.rater == reviewer.name,
                                                     Rating.rater_kind == "human", Rating.source == source)))
    for row in rows:
        session.delete(row)
    session.flush()
    recount_raters(session, task)
    return bool(rows)


def recount_raters(session: Session, task: ReviewTask) -> None:
    """A rating task is done once `required` distinct humans rated its response, open again below that."""
    task.verdicts = session.execute(select(func.count(func.distinct(Rating.rater))).where(
        Rating.response_id == task.response_id, Rating.rater_kind == "human")).scalar_one()
    if task.verdicts >= task.required:
        if task.status != TaskStatus.DONE:
            task.status, task.decided_at = TaskStatus.DONE.value, now_utc()
    else:
        task.status, task.decided_at = TaskStatus.OPEN.value, None
    session.flush()


def upsert_ratings(session: Session, response_id: int, rater: str, rater_kind: str,
                   scores: Mapping[str, int | None], source: str) -> None:
    """One row per rubric; a human's None is N/A (the rubric does not apply), stored as such and left out of
    agreement. An LLM judge gives every score."""
    missing = [k for k in RUBRIC_KEYS if k not in scores]
    if missing:
        raise ValueError(f"missing rubric score(s): {', '.join(missing)}")
    checked = {rubric: None if (value := scores[rubric]) is None else int(value) for rubric in RUBRIC_KEYS}
    for rubric, score in checked.items():  # every score checked before any row is written
        if score is None and rater_kind != "human":
            raise ValueError(f"{rubric}: only a human rater may mark a rubric N/A")
        if score is not None and not 1 <= score <= 5:
            raise ValueError(f"{rubric} must be 1-5, got {score}")
    if all(score is None for score in checked.values()):
        raise ValueError("every rubric is N/A: skip the response instead")
    for rubric, score in checked.items():
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
        ReviewTask.kind == kind, ReviewTask.status == TaskStatus.OPEN)) or 0


def active_locks(session: Session, at: datetime | None = None) -> int:
    at = at or now_utc()
    return session.scalar(select(func.count()).select_from(TaskLock).where(TaskLock.expires_at > at)) or 0


def decision_log(session: Session, task_id: int) -> list[TaskDecision]:
    return list(session.scalars(select(TaskDecision).where(TaskDecision.task_id == task_id).order_by(TaskDecision.id)))


# --- a reviewer's own work -----------------------------------------------------------------


def reviewer_progress(session: Session, reviewer: Reviewer, kind: str, *, at: datetime | None = None) -> dict[str, int]:
    """Verdicts (or rated responses) given today and in total, and open tasks this reviewer could still take (a task
    whose free slots other reviewers hold is not counted: it is not theirs to take now)."""
    at = at or now_utc()
    midnight = at.replace(hour=0, minute=0, second=0, microsecond=0)
    if kind == "adjudication":
        mine = select(Review.created_at).where(Review.reviewer_id == reviewer.id)
        total = session.scalar(select(func.count()).select_from(mine.subquery())) or 0
        today = session.scalar(select(func.count()).select_from(
            mine.where(Review.created_at >= midnight).subquery())) or 0
    else:
        rated = (select(Rating.response_id, func.min(Rating.created_at).label("at"))
                 .where(Rating.rater == reviewer.name, Rating.rater_kind == "human").group_by(Rating.response_id)
                 .subquery())
        total = session.scalar(select(func.count()).select_from(rated)) or 0
        today = session.scalar(select(func.count()).select_from(rated).where(rated.c.at >= midnight)) or 0
    left = session.scalar(select(func.count()).select_from(ReviewTask).where(  # not counting tasks others fill
        ReviewTask.kind == kind, ReviewTask.status == TaskStatus.OPEN, ~_done_by(reviewer, kind),
        _free_slot(reviewer.id, at))) or 0
    return {"today": int(today), "total": int(total), "left_for_you": int(left)}


def my_verdicts(session: Session, reviewer: Reviewer, limit: int = 200) -> list[tuple[Review, ReviewTask, Candidate]]:
    """This reviewer's verdicts, newest first, with their task and candidate."""
    rows = session.execute(select(Review, ReviewTask, Candidate).join(ReviewTask, ReviewTask.id == Review.task_id)
                           .join(Candidate, Candidate.id == ReviewTask.candidate_id)
                           .where(Review.reviewer_id == reviewer.id)
                           .order_by(Review.created_at.desc(), Review.id.desc()).limit(limit)).all()
    return [(r, t, c) for r, t, c in rows]


def undo_verdict(session: Session, task_id: int, reviewer: Reviewer, *, claim_seconds: int = CLAIM_SECONDS) -> bool:
    """Take back this reviewer's verdict on a task (re-deciding it) and hand the task back to them, locked."""
    if not retract_review(session, task_id, reviewer):
        return False
    set_lock(session, task_id, reviewer.id, now_utc() + timedelta(seconds=claim_seconds))
    return True


def my_ratings(session: Session, reviewer: Reviewer, limit: int = 200) -> list[tuple[ReviewTask, dict[str, int | None]]]:
    """This reviewer's human ratings, newest response first: (its rating task, rubric -> score or None for N/A)."""
    rows = session.execute(select(ReviewTask, Rating.rubric, Rating.score, Rating.created_at)
                           .join(Rating, Rating.response_id == ReviewTask.response_id)
                           .where(ReviewTask.kind == "rating", Rating.rater == reviewer.name,
                                  Rating.rater_kind == "human")
                           .order_by(Rating.created_at.desc(), ReviewTask.id.desc())).all()
    out: dict[int, tuple[ReviewTask, dict[str, int | None]]] = {}
    for task, rubric, score, _ in rows:
        out.setdefault(task.id, (task, {}))[1][rubric] = score
    return list(out.values())[:limit]
