"""Reviewers racing on the same tasks with real threads, on SQLite and PostgreSQL.

Invariant after every race: each task's status, requirement and verdict count, and its candidate's status,
equal db.decision.decide applied to all of the task's verdicts; no task with enough verdicts and a clear
majority is open; concurrent claims never hand out more slots than are free.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.decision import TaskStatus, decide
from db.engine import write_transaction
from db.models import Candidate, Review, Reviewer, ReviewTask, TaskLock
from db.queries.review import claim_next_task, decision_log, get_or_create_reviewer, now_utc, submit_review
from tests.factories import EDITED_TURNS, make_review_queue, race


def run_threads(n: int, work: Callable[[int], None]) -> None:
    """`work` on n threads at once (tests.factories.race); none of them may fail."""
    assert [o for o in race(n, work) if isinstance(o, BaseException)] == []


def make_reviewers(factory: sessionmaker[Session], n: int) -> list[int]:
    with write_transaction(factory) as s:
        return [get_or_create_reviewer(s, f"r{i}").id for i in range(n)]


def submit(factory: sessionmaker[Session], task_id: int, reviewer_id: int, verdict: str) -> None:
    with write_transaction(factory) as s:
        reviewer = s.get_one(Reviewer, reviewer_id)
        submit_review(s, task_id, reviewer, verdict, "why" if verdict != "accept" else "",
                      EDITED_TURNS if verdict == "edit" else None)


def assert_decisions_match_verdicts(factory: sessionmaker[Session]) -> None:
    with factory() as s:
        for task in s.scalars(select(ReviewTask)):
            verdicts = list(s.scalars(select(Review.verdict).where(Review.task_id == task.id)))
            expected = decide(verdicts, task.overlap)
            candidate = s.get_one(Candidate, task.candidate_id)
            got = (task.status, task.required, task.verdicts, candidate.status)
            assert got == (expected.task_status, expected.required, len(verdicts), expected.candidate_status), \
                (task.id, verdicts)
            if len(verdicts) >= task.overlap and expected.accepts != expected.rejects:
                assert task.status == TaskStatus.DONE
            log = decision_log(s, task.id)
            if log:
                assert log[-1].to_status == candidate.status and log[-1].to_task_status == task.status


@pytest.mark.parametrize("overlap", [1, 2, 3])
def test_racing_reviewers_end_on_the_majority_of_all_verdicts(session_factory: sessionmaker[Session],
                                                              overlap: int) -> None:
    with session_factory() as s:
        tasks = make_review_queue(s, n=6, overlap=overlap)
    reviewers = make_reviewers(session_factory, 8)

    def reviewer_work(i: int) -> None:
        rng = random.Random(1000 * overlap + i)
        mine: list[int] = []
        for _ in range(10):
            verdict = rng.choice(["accept", "accept", "edit", "reject", "reject"])
            roll = rng.random()
            if roll < 0.55:  # the normal path: claim, then decide
                at = now_utc() + (timedelta(minutes=20) if rng.random() < 0.2 else timedelta())  # steal expired locks
                with write_transaction(session_factory) as s:
                    task = claim_next_task(s, s.get_one(Reviewer, reviewers[i]), "adjudication", at=at)
                    task_id = task.id if task is not None else rng.choice(tasks)
            elif roll < 0.8:  # a stale tab / more claimants than overlap: a verdict on any task, decided or not
                task_id = rng.choice(tasks)
            elif mine:  # changing one's mind
                task_id = rng.choice(mine)
            else:
                continue
            submit(session_factory, task_id, reviewers[i], verdict)
            mine.append(task_id)

    run_threads(len(reviewers), reviewer_work)
    assert_decisions_match_verdicts(session_factory)
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Review)) > len(tasks)


def test_duplicate_submissions_by_one_reviewer_keep_one_row(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        (task,) = make_review_queue(s, n=1, overlap=2)
    (reviewer,) = make_reviewers(session_factory, 1)
    run_threads(8, lambda i: submit(session_factory, task, reviewer, ["accept", "reject"][i % 2]))
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Review)) == 1
    assert_decisions_match_verdicts(session_factory)


@pytest.mark.parametrize(("overlap", "n_tasks"), [(1, 12), (1, 5), (2, 3), (3, 2)])
def test_simultaneous_claims_never_exceed_free_slots(session_factory: sessionmaker[Session], overlap: int,
                                                     n_tasks: int) -> None:
    with session_factory() as s:
        make_review_queue(s, n=n_tasks, overlap=overlap)
    reviewers = make_reviewers(session_factory, 8)
    claimed: dict[int, int | None] = {}

    def claim(i: int) -> None:
        with write_transaction(session_factory) as s:
            task = claim_next_task(s, s.get_one(Reviewer, reviewers[i]), "adjudication")
            claimed[i] = task.id if task is not None else None

    run_threads(len(reviewers), claim)
    got = [t for t in claimed.values() if t is not None]
    assert len(got) == min(len(reviewers), n_tasks * overlap)  # every free slot is handed out, and no more
    with session_factory() as s:
        per_task = dict(s.execute(select(TaskLock.task_id, func.count()).group_by(TaskLock.task_id)).all())
    assert max(per_task.values()) <= overlap
    assert sum(per_task.values()) == len(got)
    if overlap == 1:
        assert len(set(got)) == len(got)


def test_researchers_rating_one_response_at_once_are_each_counted_once(session_factory: sessionmaker[Session]) -> None:
    """Six researchers (one of them twice, from two tabs) rate the same response at once: one row per rater and
    rubric, the task counts distinct human raters and is done exactly when they reach `required`."""
    from db.models import Rating
    from db.queries.review import submit_ratings
    from db.rubrics import RUBRIC_KEYS
    from tests.factories import make_rating_queue

    with session_factory() as s:
        (task_id,) = make_rating_queue(s, n=1, overlap=3)
    names = [f"r{i}" for i in range(6)] + ["r0"]
    with write_transaction(session_factory) as s:
        for name in set(names):
            get_or_create_reviewer(s, name, "researcher")

    def rate(i: int) -> None:
        with write_transaction(session_factory) as s:
            reviewer = get_or_create_reviewer(s, names[i], "researcher")
            submit_ratings(s, task_id, reviewer, dict.fromkeys(RUBRIC_KEYS, 1 + i % 5))

    run_threads(len(names), rate)
    with session_factory() as s:
        rows = s.execute(select(Rating.rater, Rating.rubric)).all()
        assert len(rows) == len(set(rows)) == 6 * len(RUBRIC_KEYS)
        task = s.get_one(ReviewTask, task_id)
        assert (task.verdicts, task.status) == (6, "done") and task.verdicts >= task.required
