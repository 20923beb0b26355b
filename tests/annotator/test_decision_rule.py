"""The decision rule as a pure function, and its bookkeeping in the database (log, retractions, savepoints)."""
from __future__ import annotations

import itertools
from datetime import datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from db.decision import How, TaskStatus, decide
from db.models import Candidate, Reviewer, ReviewTask
from db.queries.review import decision_log, get_or_create_reviewer, retract_review, submit_review
from tests.factories import make_review_queue


@pytest.mark.parametrize("base", [1, 2, 3])
@pytest.mark.parametrize("n", range(0, 7))
def test_decide_matches_the_majority_of_every_verdict_mix(base: int, n: int) -> None:
    for votes in itertools.product(("accept", "edit", "reject"), repeat=n):
        accepts = sum(v != "reject" for v in votes)
        rejects = n - accepts
        d = decide(votes, base)
        assert (d.accepts, d.rejects) == (accepts, rejects)
        if n < base:
            assert (d.task_status, d.candidate_status, d.required) == (TaskStatus.OPEN, "needs_review", base)
        elif accepts == rejects:
            assert (d.task_status, d.candidate_status, d.required) == (TaskStatus.OPEN, "needs_review", n + 1)
        else:
            assert d.task_status == TaskStatus.DONE and d.required == n
            assert d.candidate_status == ("accepted" if accepts > rejects else "rejected")
            assert d.how == (How.UNANIMOUS if 0 in (accepts, rejects) else How.MAJORITY)


def test_decide_names_a_broken_tie_and_rejects_unknown_verdicts() -> None:
    assert decide(["accept", "reject", "reject"], 2, tied_before=True).how == How.ADJUDICATED
    assert decide(["reject", "reject", "reject"], 2, tied_before=True).how == How.UNANIMOUS
    with pytest.raises(ValueError):
        decide(["maybe"], 1)


def test_every_change_of_decision_is_logged(session: Session) -> None:
    (task,) = make_review_queue(session, n=1, overlap=1)
    a, b, c = (get_or_create_reviewer(session, n) for n in ("a", "b", "c"))
    submit_review(session, task, a, "accept")                       # needs_review -> accepted
    submit_review(session, task, b, "reject", "late, stale tab")    # accepted -> needs_review (tie)
    submit_review(session, task, c, "reject", "bland")              # needs_review -> rejected
    submit_review(session, task, c, "reject", "bland, really")      # no change: not logged
    log = [(e.action, e.reviewer_id, e.from_status, e.to_status, e.to_task_status, e.how)
           for e in decision_log(session, task)]
    assert log == [("verdict", a.id, "needs_review", "accepted", "done", "unanimous"),
                   ("verdict", b.id, "accepted", "needs_review", "open", "tie"),
                   ("verdict", c.id, "needs_review", "rejected", "done", "adjudicated")]
    assert all(e.at is not None for e in decision_log(session, task))


def test_retracting_a_verdict_redecides(session: Session) -> None:
    (task,) = make_review_queue(session, n=1, overlap=2)
    a, b, c = (get_or_create_reviewer(session, n) for n in ("a", "b", "c"))
    submit_review(session, task, a, "accept")
    submit_review(session, task, b, "accept")
    submit_review(session, task, c, "reject", "no")
    row = session.get_one(ReviewTask, task)
    assert session.get_one(Candidate, row.candidate_id).status == "accepted"
    assert retract_review(session, task, b) is True
    assert (row.status, row.required, row.verdicts) == ("open", 3, 2)  # 1-1: one more reviewer
    assert session.get_one(Candidate, row.candidate_id).status == "needs_review"
    assert retract_review(session, task, b) is False
    last = decision_log(session, task)[-1]
    assert (last.action, last.reviewer_id) == ("retract", b.id)  # the log says who took a verdict back


def test_rolled_back_outer_transaction_leaves_no_savepoint_rows(session_factory: sessionmaker[Session]) -> None:
    """get_or_create_reviewer writes inside begin_nested(); the outer rollback must remove it on both backends."""
    with session_factory() as s:
        (task,) = make_review_queue(s, n=1, overlap=1)
    with pytest.raises(RuntimeError, match="boom"):
        with session_factory.begin() as s:
            get_or_create_reviewer(s, "ghost")
            with s.begin_nested():
                s.add(Reviewer(name="ghost-2", role="annotator"))
            raise RuntimeError("boom")
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Reviewer)) == 0
        assert s.get_one(ReviewTask, task).status == "open"


def test_deciding_outside_a_write_transaction_is_refused_on_sqlite(session_factory: sessionmaker[Session],
                                                                    database_url: str) -> None:
    with session_factory() as s:
        (task,) = make_review_queue(s, n=1, overlap=1)
    with session_factory.begin() as s:
        reviewer = get_or_create_reviewer(s, "a")
        if database_url.startswith("sqlite"):
            with pytest.raises(RuntimeError) as error:
                submit_review(s, task, reviewer, "accept")
            assert str(error.value) == ("claiming or deciding on SQLite needs a BEGIN IMMEDIATE transaction: "
                                        "use db.engine.write_transaction")
        else:
            submit_review(s, task, reviewer, "accept")


def test_contested_queue_order_hands_out_the_closest_split_first(session: Session) -> None:
    from datetime import timedelta

    from db.queries.review import claim_next_task, now_utc

    tasks = make_review_queue(session, n=5, overlap=1)
    for task_id, passes in zip(tasks, (None, 4, 1, 3, 2)):  # None: a candidate no judge voted on
        session.get_one(Candidate, session.get_one(ReviewTask, task_id).candidate_id).pass_votes = passes
    session.get_one(ReviewTask, tasks[4]).tied = True  # reviewers disagreed on it before
    session.flush()
    at = now_utc()

    def claims(order: str | None, at: datetime, prefix: str) -> list[int]:
        ordered = {"order": order} if order else {}  # None: the default order
        taken = [claim_next_task(session, get_or_create_reviewer(session, f"{prefix}{i}"), "adjudication", at=at,
                                 **ordered) for i in range(len(tasks))]
        return [t.id for t in taken if t is not None]

    t1, t2, t3, t4, t5 = tasks  # |2 x passes - 5|: 5 (none counts as 0), 3, 3, 1, 1
    assert claims("contested", at, "c") == [t5, t4, t2, t3, t1]  # closest first; the disagreed one among equals
    assert claims("oldest", at, "o") == []  # every task holds a lock already (overlap 1)
    assert claims(None, at + timedelta(minutes=20), "o") == [t1, t2, t3, t4, t5]  # the default: oldest first


def test_uncertain_queue_order_hands_out_the_posterior_closest_to_one_half_first(session: Session) -> None:
    from db.queries.review import claim_next_task, now_utc

    tasks = make_review_queue(session, n=5, overlap=1)
    for task_id, posterior, passes in zip(tasks, (0.9, None, 0.45, 0.2, 0.6), (4, 3, 1, 2, 3)):
        candidate = session.get_one(Candidate, session.get_one(ReviewTask, task_id).candidate_id)
        candidate.approve_posterior, candidate.pass_votes = posterior, passes
    session.flush()
    at = now_utc()
    taken = [claim_next_task(session, get_or_create_reviewer(session, f"u{i}"), "adjudication", at=at,
                             order="uncertain") for i in range(len(tasks))]
    t1, t2, t3, t4, t5 = tasks  # |posterior - 0.5|: 0.4, none (last), 0.05, 0.3, 0.1
    assert [t.id for t in taken if t is not None] == [t3, t5, t4, t1, t2]


def decided_at(session: Session, task_id: int) -> datetime | None:
    """As stored (SQLite gives it back without a time zone)."""
    when = session.get_one(ReviewTask, task_id, populate_existing=True).decided_at
    return None if when is None else when.replace(tzinfo=None)


def test_a_task_remembers_a_tie_and_when_it_was_decided(session: Session) -> None:
    (task,) = make_review_queue(session, n=1, overlap=1)
    a, b, c, d = (get_or_create_reviewer(session, n) for n in ("a", "b", "c", "d"))
    row = session.get_one(ReviewTask, task)
    assert (row.tied, decided_at(session, task)) == (False, None)
    submit_review(session, task, a, "accept")
    decided = decided_at(session, task)
    assert (row.status, row.tied) == ("done", False) and decided is not None  # unanimous: no tie ever
    submit_review(session, task, b, "reject", "late")  # 1-1: reopened
    assert (row.status, row.tied, decided_at(session, task)) == ("open", True, None)
    submit_review(session, task, c, "accept")
    redecided = decided_at(session, task)
    assert (row.status, row.tied) == ("done", True) and redecided is not None and redecided >= decided
    submit_review(session, task, d, "accept")  # a late verdict that changes nothing keeps the time of the decision
    assert (row.status, row.tied, decided_at(session, task)) == ("done", True, redecided)


def test_a_task_decided_before_decision_times_were_kept_gets_one_with_its_next_verdict(session: Session) -> None:
    (task,) = make_review_queue(session, n=1, overlap=1)
    a, b = get_or_create_reviewer(session, "a"), get_or_create_reviewer(session, "b")
    submit_review(session, task, a, "accept")
    row = session.get_one(ReviewTask, task)
    row.decided_at = None  # as migration 0003 left tasks done before it
    session.flush()
    submit_review(session, task, b, "accept")
    assert row.status == "done" and decided_at(session, task) is not None


def test_the_log_stays_in_order_when_a_reviewer_is_removed(session: Session) -> None:
    """Deleting a reviewer rewrites their log rows (reviewer_id SET NULL): on PostgreSQL the new row versions go to
    the end of the table, so only an ORDER BY keeps the log in the order things happened, whatever plan PostgreSQL
    picks (a sequential scan is forced here; the small test table would otherwise be read through its index)."""
    (task,) = make_review_queue(session, n=1, overlap=1)
    a, b, c = (get_or_create_reviewer(session, n) for n in ("a", "b", "c"))
    submit_review(session, task, a, "accept")
    submit_review(session, task, b, "reject", "late")
    submit_review(session, task, c, "reject", "bland")
    session.commit()
    session.delete(a)
    session.commit()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL enable_indexscan = off"))
        session.execute(text("SET LOCAL enable_bitmapscan = off"))
    log = [(e.reviewer_id, e.to_status) for e in decision_log(session, task)]
    assert log == [(None, "accepted"), (b.id, "needs_review"), (c.id, "rejected")]
