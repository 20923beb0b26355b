"""Claiming and first sign-in on PostgreSQL, one step at a time: one session holds its transaction open (and with it
a row lock or an uncommitted insert) while another acts, so each path of the claim runs on purpose, not by luck of
timing. SQLite has no such paths: BEGIN IMMEDIATE lets one writer at a time in (tests/annotator/test_review.py)."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from db.engine import write_transaction
from db.models import Reviewer, ReviewTask, TaskLock
from db.queries.review import claim_next_task, get_or_create_reviewer, submit_review
from tests.factories import make_review_queue

SOON = 5.0  # seconds: far more than a claim takes when nothing blocks it


class InThread:
    """`work(session)` in its own write transaction on another thread; its result (or error) once it ends."""

    def __init__(self, factory: sessionmaker[Session], work: Callable[[Session], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(factory, work), daemon=True)
        self._thread.start()

    def _run(self, factory: sessionmaker[Session], work: Callable[[Session], Any]) -> None:
        try:
            with write_transaction(factory) as s:
                self.result = work(s)
        except BaseException as exc:  # noqa: BLE001
            self.error = exc

    def finished_within(self, seconds: float) -> bool:
        self._thread.join(seconds)
        return not self._thread.is_alive()

    def outcome(self) -> Any:
        assert self.finished_within(30), "still running"
        if self.error is not None:
            raise self.error
        return self.result


def wait_until_someone_waits_for_a_lock(factory: sessionmaker[Session], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    with factory() as s:
        while time.monotonic() < deadline:
            waiting = s.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                    "AND datname = current_database()"))
            s.rollback()  # a new snapshot of pg_stat_activity next time
            if waiting:
                return
            time.sleep(0.05)
    raise AssertionError("nobody started waiting for a lock")


def reviewer_ids(factory: sessionmaker[Session], *names: str) -> list[int]:
    with write_transaction(factory) as s:
        return [get_or_create_reviewer(s, name).id for name in names]


def claim_as(reviewer_id: int) -> Callable[[Session], int | None]:
    def work(s: Session) -> int | None:
        task = claim_next_task(s, s.get_one(Reviewer, reviewer_id), "adjudication")
        return None if task is None else task.id
    return work


def lock_holders(factory: sessionmaker[Session]) -> list[tuple[int, int]]:
    with factory() as s:
        return sorted(tuple(row) for row in s.execute(select(TaskLock.task_id, TaskLock.reviewer_id)))


def test_a_claimant_takes_the_next_task_instead_of_waiting_for_one_being_claimed(
        postgres_session_factory: sessionmaker[Session]) -> None:
    factory = postgres_session_factory
    with factory() as s:
        t1, t2 = make_review_queue(s, n=2, overlap=1)
    alice, bob = reviewer_ids(factory, "alice", "bob")
    with write_transaction(factory) as a:
        assert claim_as(alice)(a) == t1  # alice's claim is not committed yet: t1's row stays locked
        bobs = InThread(factory, claim_as(bob))
        assert bobs.finished_within(SOON), "bob waited for alice's claim although t2 was free"
        assert bobs.outcome() == t2
    assert lock_holders(factory) == [(t1, alice), (t2, bob)]


def test_when_every_free_task_is_being_claimed_a_claimant_waits_and_gets_a_slot_still_free(
        postgres_session_factory: sessionmaker[Session]) -> None:
    factory = postgres_session_factory
    with factory() as s:
        (t1,) = make_review_queue(s, n=1, overlap=2)
    alice, bob = reviewer_ids(factory, "alice", "bob")
    with write_transaction(factory) as a:
        assert claim_as(alice)(a) == t1
        bobs = InThread(factory, claim_as(bob))
        wait_until_someone_waits_for_a_lock(factory)
        assert not bobs.finished_within(0.2)
    assert bobs.outcome() == t1  # two slots: alice's claim left one for bob
    assert lock_holders(factory) == [(t1, alice), (t1, bob)]


def test_a_claimant_that_waited_gets_nothing_when_the_last_slot_was_taken_meanwhile(
        postgres_session_factory: sessionmaker[Session]) -> None:
    factory = postgres_session_factory
    with factory() as s:
        (t1,) = make_review_queue(s, n=1, overlap=1)
    alice, bob = reviewer_ids(factory, "alice", "bob")
    with write_transaction(factory) as a:
        assert claim_as(alice)(a) == t1
        bobs = InThread(factory, claim_as(bob))  # its scan still sees t1 free: alice's lock is uncommitted
        wait_until_someone_waits_for_a_lock(factory)
    assert bobs.outcome() is None  # the re-check under the row lock sees alice's lock: no slot left
    assert lock_holders(factory) == [(t1, alice)]


def test_a_claimed_task_carries_the_values_committed_before_the_claim_even_if_this_session_read_it_earlier(
        postgres_session_factory: sessionmaker[Session]) -> None:
    factory = postgres_session_factory
    with factory() as s:
        (t1,) = make_review_queue(s, n=1, overlap=2)
    alice, bob = reviewer_ids(factory, "alice", "bob")
    with write_transaction(factory) as b:
        seen = b.get_one(ReviewTask, t1)  # held: the session's identity map keeps it while someone does
        assert seen.verdicts == 0
        with write_transaction(factory) as a:
            submit_review(a, t1, a.get_one(Reviewer, alice), "accept")
        task = claim_next_task(b, b.get_one(Reviewer, bob), "adjudication")
        assert task is seen and (task.id, task.verdicts) == (t1, 1)


def test_two_first_sign_ins_under_one_name_end_as_one_reviewer(postgres_session_factory: sessionmaker[Session]) -> None:
    factory = postgres_session_factory
    reviewer_ids(factory, "yan")  # someone else exists, so a wrong fallback query would find somebody
    with write_transaction(factory) as a:
        zoe = get_or_create_reviewer(a, "zoe", "annotator")  # inserted, not committed
        second = InThread(factory, lambda s: get_or_create_reviewer(s, " zoe ", "researcher").id)
        wait_until_someone_waits_for_a_lock(factory)  # its insert waits on the unique name
    assert second.outcome() == zoe.id  # its insert failed on the name; it took the row the first one committed
    with factory() as s:
        assert [(r.name, r.role) for r in s.scalars(select(Reviewer).order_by(Reviewer.name))] == [
            ("yan", "annotator"), ("zoe", "annotator")]
