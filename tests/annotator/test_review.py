from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.engine import write_transaction
from db.models import Candidate, Rating, Review, ReviewTask
from db.queries.review import (
    claim_next_task,
    get_or_create_reviewer,
    now_utc,
    submit_ratings,
    submit_review,
)
from db.rubrics import RUBRIC_KEYS
from tests.factories import make_rating_queue, make_review_queue

ALL_FOURS = dict.fromkeys(RUBRIC_KEYS, 4)


def test_locks_steer_assignment_and_expire(session: Session) -> None:
    t1, t2, _ = make_review_queue(session, n=3, overlap=1)
    alice, bob = get_or_create_reviewer(session, "alice"), get_or_create_reviewer(session, "bob")
    at = now_utc()
    assert claim_next_task(session, alice, "adjudication", at=at).id == t1
    assert claim_next_task(session, alice, "adjudication", at=at).id == t1  # resumes her own lock
    assert claim_next_task(session, bob, "adjudication", at=at).id == t2    # t1 is locked by alice
    submit_review(session, t2, bob, "accept")
    carol = get_or_create_reviewer(session, "carol")
    assert claim_next_task(session, carol, "adjudication", at=at).id == 3    # t1 locked, t2 done
    later = at + timedelta(minutes=20)
    assert claim_next_task(session, bob, "adjudication", at=later).id == t1  # alice's lock expired


def test_verdict_rules_and_decision(session: Session) -> None:
    (task,) = make_review_queue(session, n=1, overlap=1)
    alice = get_or_create_reviewer(session, "alice")
    with pytest.raises(ValueError, match="reason is required to reject"):
        submit_review(session, task, alice, "reject")
    with pytest.raises(ValueError, match="verdict must be"):
        submit_review(session, task, alice, "maybe")
    submit_review(session, task, alice, "edit", "fix tone", [{"role": "seeker", "text": "hi"},
                                                             {"role": "recommender", "text": "Tail Film!"}])
    task_row = session.get_one(ReviewTask, task)
    assert task_row.status == "done"
    assert session.get_one(Candidate, task_row.candidate_id).status == "accepted"


def test_majority_and_tie_escalation(session: Session) -> None:
    (task,) = make_review_queue(session, n=1, overlap=2)
    a, b, c = (get_or_create_reviewer(session, n) for n in ("a", "b", "c"))
    submit_review(session, task, a, "accept")
    submit_review(session, task, b, "reject", "bland")
    row = session.get_one(ReviewTask, task)
    assert (row.status, row.overlap, row.required) == ("open", 2, 3)  # tie -> exactly one more reviewer
    submit_review(session, task, c, "reject", "off topic")
    assert row.status == "done" and session.get_one(Candidate, row.candidate_id).status == "rejected"


def test_changing_your_mind_updates_your_row_only(session: Session) -> None:
    (task,) = make_review_queue(session, n=1, overlap=3)
    a, b = get_or_create_reviewer(session, "a"), get_or_create_reviewer(session, "b")
    submit_review(session, task, a, "accept")
    submit_review(session, task, b, "accept")
    submit_review(session, task, a, "reject", "second thoughts")
    verdicts = dict(session.execute(select(Review.reviewer_id, Review.verdict)).all())
    assert verdicts == {a.id: "reject", b.id: "accept"}


def test_concurrent_reviewers_never_lose_a_verdict(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        (task,) = make_review_queue(s, n=1, overlap=8)
    names = [f"r{i}" for i in range(6)]
    with session_factory.begin() as s:
        for name in names:
            get_or_create_reviewer(s, name)
    barrier = threading.Barrier(len(names))
    errors: list[BaseException] = []

    def review(name: str) -> None:
        try:
            barrier.wait()
            with write_transaction(session_factory) as s:
                reviewer = get_or_create_reviewer(s, name)
                submit_review(s, task, reviewer, "accept" if name != "r0" else "reject", "because")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=review, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Review)) == len(names)


def test_ratings_upsert_and_finish_after_overlap(session: Session) -> None:
    t1, _ = make_rating_queue(session, n=2, overlap=2)
    a, b = get_or_create_reviewer(session, "a", "researcher"), get_or_create_reviewer(session, "b", "researcher")
    with pytest.raises(ValueError, match="missing rubric"):
        submit_ratings(session, t1, a, {"fluency": 3})
    with pytest.raises(ValueError, match="must be 1-5"):
        submit_ratings(session, t1, a, {**ALL_FOURS, "diversity": 7})
    submit_ratings(session, t1, a, ALL_FOURS)
    submit_ratings(session, t1, a, {**ALL_FOURS, "diversity": 2})  # update, not a second rater
    assert session.get_one(ReviewTask, t1).status == "open"
    submit_ratings(session, t1, b, ALL_FOURS)
    assert session.get_one(ReviewTask, t1).status == "done"
    assert session.scalar(select(func.count()).select_from(Rating)) == 2 * len(RUBRIC_KEYS)
    assert claim_next_task(session, a, "rating").id != t1


def test_late_verdict_after_decision_is_kept_and_counted(session: Session) -> None:
    (task,) = make_review_queue(session, n=1, overlap=1)
    a, b, c = (get_or_create_reviewer(session, n) for n in ("a", "b", "c"))
    submit_review(session, task, a, "accept")
    row = session.get_one(ReviewTask, task)
    assert row.status == "done" and session.get_one(Candidate, row.candidate_id).status == "accepted"
    submit_review(session, task, b, "reject", "not about the target")  # b's lock had expired; still stored
    assert (row.status, row.required) == ("open", 3)  # the late verdict made a 1-1 tie: reopened
    assert session.get_one(Candidate, row.candidate_id).status == "needs_review"
    submit_review(session, task, c, "reject", "bland")
    assert session.scalar(select(func.count()).select_from(Review)) == 3
    assert session.get_one(Candidate, row.candidate_id).status == "rejected"  # the majority of all verdicts
